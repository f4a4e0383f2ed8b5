# tests/fuzz/fuzz.mk - libFuzzer targets for what a user or a peer hands
# the farm: job.ini (bin/fuzz_jobini), dropped archives (bin/fuzz_archive)
# and the site sync protocol's serving side (bin/fuzz_sync). Included by
# the Makefile. They need clang with its runtime (Debian: clang and
# libclang-rt-14-dev). make fuzz runs each for FUZZ_SECONDS (default 60)
# from a copy of its seeds in tests/fuzz/corpus/, so git's corpus stays
# as it is; a crash fails it and leaves the input in build/fuzz/crashes/.
# make check runs a short form of the same (tests/t-fuzz.sh).

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := jobini archive sync
FUZZ_BINS := $(FUZZ_TARGETS:%=bin/fuzz_%)
# clang does not know gcc's -Wno-format-truncation (and -Werror refuses
# an unknown option); no _FORTIFY_SOURCE: its inlines hide calls from ASan
FUZZ_CFLAGS := -std=c17 $(filter-out -Wno-format-truncation,$(WARN)) -O1 -g -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-DHOTFARM_CONFDIR='"$(CURDIR)/conf"'
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
FUZZ_LAYOUT_OBJ := $(LAYOUT_SRC:layout/%.c=build/fuzz/layout/%.o)

build/fuzz/%.o: %.c $(LAYOUT_HDR) tests/fuzz/fuzzspool.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

# the archive and sync harnesses include the spooler they drive
build/fuzz/tests/fuzz/fuzz_archive.o: spoolers/intake.c spoolers/intake.h spoolers/intakedrop.h spoolers/routing.h
build/fuzz/spoolers/intakeroute.o: spoolers/intakedrop.h
build/fuzz/tests/fuzz/fuzz_sync.o: spoolers/sync/sync.h
$(addprefix build/fuzz/spoolers/sync/,wire.o serve.o push.o manifest.o held.o): spoolers/sync/sync.h spoolers/sync/held.h

build/fuzz/liblayout.a: $(FUZZ_LAYOUT_OBJ)
	rm -f $@ && ar rcs $@ $^

bin/fuzz_jobini: build/fuzz/tests/fuzz/fuzz_jobini.o build/fuzz/liblayout.a
	@mkdir -p bin
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ -liniparser

bin/fuzz_archive: build/fuzz/tests/fuzz/fuzz_archive.o build/fuzz/spoolers/intakejob.o build/fuzz/spoolers/intakepreset.o \
		build/fuzz/spoolers/intakearchive.o build/fuzz/spoolers/intakeroute.o build/fuzz/spoolers/routing.o \
		build/fuzz/spoolers/intakestore.o \
		build/fuzz/layout/unpack.o \
		build/fuzz/liblayout.a
	@mkdir -p bin
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(ARCHIVE_LIBS) -liniparser

bin/fuzz_sync: build/fuzz/tests/fuzz/fuzz_sync.o $(addprefix build/fuzz/spoolers/sync/,wire.o serve.o push.o manifest.o held.o) \
		build/fuzz/liblayout.a
	@mkdir -p bin
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ -lrsync -larchive -lnettle -liniparser

# the same as make check's tests/t-fuzz.sh, longer; crashes are kept
fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_CRASHES=$(CURDIR)/build/fuzz/crashes sh tests/t-fuzz.sh

.PHONY: fuzz
