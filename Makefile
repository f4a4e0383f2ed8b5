# hotfarm - a render farm in which everything is a directory.
# make: build bin/; make check: every test; make stress: the long forms;
# make bench: the figures;
# make deps: install the Debian packages (as root).

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
CONFDIR ?= $(CURDIR)/conf
LIBEXECDIR ?= $(CURDIR)/bin

WARN := -Wall -Wextra -Werror -Wno-format-truncation -Wshadow -Wstrict-prototypes -Wmissing-prototypes
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c17 $(WARN) $(HARDEN) $(CFLAGS) \
	-DHOTFARM_CONFDIR='"$(CONFDIR)"' -DHOTFARM_LIBEXECDIR='"$(LIBEXECDIR)"'
LDFLAGS ?=
# where objects and programs go (make san builds a second set elsewhere)
OBJ ?= build
BIN ?= bin
ALL_LDFLAGS := -pie -Wl,-z,relro,-z,now $(LDFLAGS)

DEB_PACKAGES := build-essential pkg-config libinotifytools0-dev libarchive-dev libiniparser-dev \
	librsync-dev nettle-dev libpng-dev libarchive-tools zstd python3 povray chromium rsync \
	openssh-server openssh-client clang libclang-rt-14-dev sshfs fuse3 iproute2

LAYOUT_SRC := layout/util.c layout/ini.c layout/layout.c layout/jobdesc.c layout/watch.c layout/host.c \
	layout/package.c
LAYOUT_HDR := $(wildcard layout/*.h)
LAYOUT_OBJ := $(LAYOUT_SRC:layout/%.c=$(OBJ)/layout/%.o)

PROGRAMS := $(addprefix $(BIN)/,hotfarm watcherd hf-intake hf-route render-agent hf-check hf-status hf-notify \
	hf-collect hf-send hf-confine libhfwrap.so)
SITE_OBJ := $(OBJ)/spoolers/sitepack.o $(OBJ)/spoolers/siteload.o

all: $(PROGRAMS)

$(OBJ)/%.o: %.c $(LAYOUT_HDR) spoolers/site.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OBJ)/liblayout.a: $(LAYOUT_OBJ)
	ar rcs $@ $^

# libarchive is linked statically: the shared one drags in libxml2, ICU and
# libstdc++ for formats a job never uses, and an intake runs once per job
# (3.7 ms of loading against 1.3 ms). Its own libraries stay shared.
ARCHIVE_LIBS := -Wl,-Bstatic -larchive -Wl,-Bdynamic -lnettle -l:libacl.so.1 -llzma -l:libzstd.so.1 \
	-l:liblz4.so.1 -lbz2 -lz
$(BIN)/hf-intake: $(OBJ)/spoolers/intake.o $(OBJ)/spoolers/siteload.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ARCHIVE_LIBS) -liniparser

$(BIN)/hf-route: $(OBJ)/spoolers/route.o $(OBJ)/spoolers/siteload.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser

# the site spoolers write tars too: libarchive's writers need the shared one
$(BIN)/hf-collect: $(OBJ)/spoolers/collect.o $(SITE_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -larchive -liniparser

$(BIN)/hf-send: $(OBJ)/spoolers/send.o $(SITE_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -larchive -liniparser

$(BIN)/hotfarm: $(OBJ)/spoolers/hotfarm.o $(OBJ)/spoolers/submit.o $(OBJ)/spoolers/views.o $(OBJ)/spoolers/sync.o \
		$(SITE_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -larchive -lrsync -lnettle -liniparser

$(BIN)/render-agent: $(OBJ)/spoolers/agent.o $(OBJ)/spoolers/probe.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -linotifytools -liniparser -lpthread

$(BIN)/hf-notify: $(OBJ)/spoolers/notify.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser -lnettle

$(BIN)/hf-status: $(OBJ)/spoolers/statuspage.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser

$(BIN)/hf-check: $(OBJ)/spoolers/check.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpng

# the confinement launcher stands alone: it runs before every render
$(BIN)/hf-confine: $(OBJ)/wrapper/confine.o
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

# the I/O wrapper hf-confine preloads: it defines open() and friends itself,
# so it is built without _FORTIFY_SOURCE (which turns them into inlines)
$(BIN)/libhfwrap.so: wrapper/preload.c
	@mkdir -p $(BIN)
	$(CC) -std=c17 $(WARN) -fstack-protector-strong -fPIC -shared -O2 -g -U_FORTIFY_SOURCE -fvisibility=hidden \
		-o $@ $< -ldl

$(BIN)/watcherd: $(OBJ)/watcherd/watcherd.o $(OBJ)/watcherd/farm.o $(OBJ)/spoolers/siteload.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -linotifytools -liniparser -lpthread

# Unit tests, plain and under AddressSanitizer + UndefinedBehaviorSanitizer.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
bin/unit: tests/unit.c $(LAYOUT_SRC) $(LAYOUT_HDR)
	@mkdir -p bin
	$(CC) -std=c17 $(WARN) -O1 -g -o $@ tests/unit.c $(LAYOUT_SRC) -liniparser -linotifytools -lpthread
bin/unit-san: tests/unit.c $(LAYOUT_SRC) $(LAYOUT_HDR)
	@mkdir -p bin
	$(CC) -std=c17 $(WARN) -O1 -g $(SAN) -o $@ tests/unit.c $(LAYOUT_SRC) -liniparser -linotifytools -lpthread

# Every program once more under AddressSanitizer + UndefinedBehaviorSanitizer,
# in bin-san/ where each finds the others, for tests/t-sanitized.sh. The
# I/O wrapper stays plain: it is preloaded into programs built without.
san:
	@$(MAKE) --no-print-directory OBJ=build-san BIN=bin-san LIBEXECDIR=$(CURDIR)/bin-san \
		CFLAGS='-O1 -g $(SAN)' LDFLAGS='$(SAN)' all

# check and demo install what is missing first (as root; else they say what)
check: need-deps
	@$(MAKE) --no-print-directory all bin/unit bin/unit-san san
	@tests/run

# the long forms of the tests that have one (make check runs the short ones)
stress: need-deps all
	LEAK_JOBS=10000 sh tests/t-leaks.sh
	CHAOS=full sh tests/t-chaos.sh
	OVERFLOW=full sh tests/t-overflow.sh
	STRESS=1 sh tests/t-sshfs.sh
	@$(MAKE) --no-print-directory fuzz

bench: need-deps
	@$(MAKE) --no-print-directory all
	@bench/run

demo: need-deps
	@$(MAKE) --no-print-directory all
	@tests/demo

need-deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then echo "missing Debian packages:" $$missing; $(MAKE) --no-print-directory deps; fi

deps:
	@if [ "$$(id -u)" = 0 ]; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEB_PACKAGES) </dev/null || \
		{ apt-get update -q </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEB_PACKAGES) </dev/null; }; \
	else \
		echo "run as root: apt-get install -y $(DEB_PACKAGES)"; \
	fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hotfarm/conf/packages
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	cp -R conf/. $(DESTDIR)$(PREFIX)/share/hotfarm/conf/

clean:
	rm -rf build bin build-san bin-san

.PHONY: all san check stress bench demo deps need-deps install clean

# the fuzzers: make fuzz (FUZZ_SECONDS per target), and tests/t-fuzz.sh in make check
include tests/fuzz/fuzz.mk
