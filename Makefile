# hotfarm - a render farm in which everything is a directory.
# make: build bin/; make check: every test; make stress: the long forms;
# make bench: the figures (SCALE=1: also a studio's scale on one spool);
# make deps: install the Debian packages (as root); make install, uninstall.

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
	librsync-dev nettle-dev libvips-dev libopenexr-dev ffmpeg libarchive-tools zstd python3 povray chromium rsync \
	openssh-server openssh-client clang libclang-rt-14-dev sshfs fuse3 iproute2 man-db systemd \
	libseccomp-dev samba smbclient blender desktop-file-utils shared-mime-info

LAYOUT_SRC := layout/util.c layout/files.c layout/ini.c layout/spool.c layout/conf.c layout/status.c layout/ticket.c layout/job.c layout/drop.c layout/site.c layout/limit.c layout/jobdesc.c layout/watch.c layout/host.c \
	layout/package.c layout/siteload.c layout/audit.c layout/access.c layout/perms.c layout/steer.c layout/request.c layout/frameout.c \
	layout/preset.c layout/jobsched.c layout/env.c layout/rules.c layout/quota.c layout/billing.c layout/siterender.c layout/events.c layout/retain.c layout/retire.c layout/store.c
LAYOUT_HDR := $(wildcard layout/*.h)
LAYOUT_OBJ := $(LAYOUT_SRC:layout/%.c=$(OBJ)/layout/%.o)

PROGRAMS := $(addprefix $(BIN)/,hotfarm watcherd hf-intake hf-route render-agent hf-check hf-status hf-notify \
	hf-collect hf-send hf-sync hf-request hf-confine hf-movie libhfwrap.so)
SITE_OBJ := $(OBJ)/layout/sitepack.o

all: $(PROGRAMS)

$(OBJ)/%.o: %.c $(LAYOUT_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OBJ)/liblayout.a: $(LAYOUT_OBJ)
	rm -f $@ && ar rcs $@ $^

# libarchive is linked statically: the shared one drags in libxml2, ICU and
# libstdc++ for formats a job never uses, and an intake runs once per job
# (3.7 ms of loading against 1.3 ms). Its own libraries stay shared.
ARCHIVE_LIBS := -Wl,-Bstatic -larchive -Wl,-Bdynamic -lnettle -l:libacl.so.1 -llzma -l:libzstd.so.1 \
	-l:liblz4.so.1 -lbz2 -lz
# layout/unpack.o (untrusted archives) goes only into the programs that
# unpack: it needs libarchive, which liblayout.a's other users do without
$(BIN)/hf-intake: $(OBJ)/spoolers/intake.o $(OBJ)/spoolers/intakejob.o $(OBJ)/spoolers/intakepreset.o \
		$(OBJ)/spoolers/intakearchive.o $(OBJ)/spoolers/intakeroute.o $(OBJ)/spoolers/routing.o \
		$(OBJ)/spoolers/intakestore.o $(OBJ)/layout/unpack.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(ARCHIVE_LIBS) -liniparser
$(OBJ)/spoolers/intake.o $(OBJ)/spoolers/intakejob.o $(OBJ)/spoolers/intakepreset.o \
	$(OBJ)/spoolers/intakearchive.o $(OBJ)/spoolers/intakeroute.o $(OBJ)/spoolers/intakestore.o: spoolers/intake.h \
	spoolers/intakedrop.h
$(OBJ)/spoolers/intake.o $(OBJ)/spoolers/route.o $(OBJ)/spoolers/routing.o: spoolers/routing.h

$(BIN)/hf-route: $(OBJ)/spoolers/route.o $(OBJ)/spoolers/routing.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser

# the site spoolers write tars too: libarchive's writers need the shared one
$(BIN)/hf-collect: $(OBJ)/spoolers/collect.o $(OBJ)/layout/unpack.o $(SITE_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -larchive -liniparser

$(BIN)/hf-send: $(OBJ)/spoolers/send.o $(SITE_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -larchive -liniparser

# the CLI (spoolers/cli/); its sync is hf-sync's, which it runs
CLI_OBJ := $(addprefix $(OBJ)/spoolers/cli/,main.o show.o hosts.o steer.o submit.o audit.o presets.o pools.o billing.o events.o clean.o)
$(CLI_OBJ): spoolers/cli/cli.h
$(BIN)/hotfarm: $(CLI_OBJ) $(SITE_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -larchive -liniparser

# the site link's stage: push sites/PEER/out/, or --serve a peer
# hf-sync is a folder: the wire, the two sides, and a job package's members
SYNC_OBJ := $(addprefix $(OBJ)/spoolers/sync/,wire.o serve.o push.o manifest.o held.o)
$(SYNC_OBJ) $(OBJ)/spoolers/sync/main.o: spoolers/sync/sync.h spoolers/sync/held.h
$(BIN)/hf-sync: $(OBJ)/spoolers/sync/main.o $(SYNC_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lrsync -larchive -lnettle -liniparser

$(BIN)/hf-request: $(OBJ)/spoolers/request.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser

# render-agent is a folder: one file per concern around agent.h
AGENT_OBJ := $(addprefix $(OBJ)/spoolers/agent/,main.o jobs.o slots.o claim.o ticket.o spawn.o contain.o area.o runlog.o errors.o \
	render.o frame.o learn.o host.o probe.o checker.o nimby.o)
# what holds a render: its sandbox and its cgroup (wrapper/)
CONTAIN_OBJ := $(addprefix $(OBJ)/wrapper/,sandbox.o cgroup.o cgtree.o cgfile.o)
$(AGENT_OBJ): spoolers/agent/agent.h wrapper/sandbox.h wrapper/cgroup.h
$(CONTAIN_OBJ): wrapper/sandbox.h wrapper/cgroup.h wrapper/cgfile.h
$(BIN)/render-agent: $(AGENT_OBJ) $(CONTAIN_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -linotifytools -liniparser -lseccomp -lpthread

$(BIN)/hf-notify: $(OBJ)/spoolers/notify.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser -lnettle

$(BIN)/hf-status: $(OBJ)/spoolers/statuspage.o $(OBJ)/spoolers/metrics.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser

# the frame checker decodes with libvips (PNG, JPEG, TIFF, Radiance) and
# OpenEXR's C library (every EXR, multilayer too); the spool's names come
# with spool.o, which needs the .ini reader
CHECK_OBJ := $(addprefix $(OBJ)/spoolers/check/,main.o image.o exr.o preview.o serve.o)
IMAGE_CFLAGS := $(shell pkg-config --cflags vips OpenEXR 2>/dev/null)
IMAGE_LIBS := $(shell pkg-config --libs vips OpenEXR 2>/dev/null)
$(CHECK_OBJ): ALL_CFLAGS += $(IMAGE_CFLAGS)
$(CHECK_OBJ): spoolers/check/check.h spoolers/check/serve.h
$(BIN)/hf-check: $(CHECK_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(IMAGE_LIBS) -liniparser

# the preview movie: ffmpeg, run as a process of its own, gets the views on a pipe
$(BIN)/hf-movie: $(OBJ)/spoolers/movie.o $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -liniparser

# the confinement launcher stands alone: it runs before every render;
# wrapper/sandbox.c is the confinement itself (seccomp's filter made by libseccomp)
$(OBJ)/wrapper/confine.o $(OBJ)/wrapper/sandbox.o: wrapper/sandbox.h
$(BIN)/hf-confine: $(OBJ)/wrapper/confine.o $(OBJ)/wrapper/sandbox.o
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lseccomp

# the I/O wrapper hf-confine preloads: it defines open() and friends itself,
# so it is built without _FORTIFY_SOURCE (which turns them into inlines)
$(BIN)/libhfwrap.so: wrapper/preload.c
	@mkdir -p $(BIN)
	$(CC) -std=c17 $(WARN) -fstack-protector-strong -fPIC -shared -O2 -g -U_FORTIFY_SOURCE -fvisibility=hidden \
		-o $@ $< -ldl

WATCHERD_OBJ := $(addprefix $(OBJ)/watcherd/,watcherd.o children.o inbox.o entries.o sites.o farm.o counts.o movie.o)
$(WATCHERD_OBJ): watcherd/watcherd.h watcherd/farm.h
$(BIN)/watcherd: $(WATCHERD_OBJ) $(OBJ)/liblayout.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -linotifytools -liniparser -lpthread

# Unit tests, plain and under AddressSanitizer + UndefinedBehaviorSanitizer.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
bin/unit: tests/unit.c tests/unit-spool.c tests/unit-events.c tests/unit-store.c tests/unit.h $(LAYOUT_SRC) $(LAYOUT_HDR)
	@mkdir -p bin
	$(CC) -std=c17 $(WARN) -O1 -g -o $@ tests/unit.c tests/unit-spool.c tests/unit-events.c tests/unit-store.c $(LAYOUT_SRC) -liniparser -linotifytools -lpthread
bin/unit-san: tests/unit.c tests/unit-spool.c tests/unit-events.c tests/unit-store.c tests/unit.h $(LAYOUT_SRC) $(LAYOUT_HDR)
	@mkdir -p bin
	$(CC) -std=c17 $(WARN) -O1 -g $(SAN) -o $@ tests/unit.c tests/unit-spool.c tests/unit-events.c tests/unit-store.c $(LAYOUT_SRC) -liniparser -linotifytools -lpthread

# Every program once more under AddressSanitizer + UndefinedBehaviorSanitizer,
# in bin-san/ where each finds the others, for tests/t-sanitized.sh. The
# I/O wrapper stays plain: it is preloaded into programs built without.
san:
	@$(MAKE) --no-print-directory OBJ=build-san BIN=bin-san LIBEXECDIR=$(CURDIR)/bin-san \
		CFLAGS='-O1 -g $(SAN)' LDFLAGS='$(SAN)' all

# check and demo install what is missing first (as root; else they say what)
check: need-deps
	@$(MAKE) --no-print-directory all bin/unit bin/unit-san
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

# make install [PREFIX=/usr/local] [DESTDIR=]: hotfarm in bin/, the two
# daemons in sbin/, the stage programs and the I/O wrapper in lib/hotfarm/,
# the default configuration in share/hotfarm/conf/ (and /etc/hotfarm/,
# which the programs then read, when PREFIX is /usr; files an admin has
# edited there are kept), the man pages and the systemd units. The programs
# know where they were installed: they are built once more for PREFIX, in
# build-install/ and bin-install/ (I_OBJ, I_BUILT).
I_BIN := $(PREFIX)/bin
I_SBIN := $(PREFIX)/sbin
I_LIBEXEC := $(PREFIX)/lib/hotfarm
I_SHARE := $(PREFIX)/share/hotfarm/conf
I_ETC := $(if $(filter /usr,$(PREFIX)),/etc/hotfarm)
I_CONF := $(or $(I_ETC),$(I_SHARE))
I_MAN := $(PREFIX)/share/man
I_UNITS := $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
HELPERS := hf-intake hf-route hf-check hf-status hf-notify hf-collect hf-send hf-sync hf-request hf-confine \
	hf-movie libhfwrap.so
MAN_PAGES := spoolers/hotfarm.1 watcherd/watcherd.8 spoolers/render-agent.8 conf/hotfarm.ini.5 conf/job.ini.5
UNITS := conf/systemd/watcherd@.service conf/systemd/render-agent@.service
CONF_FILES := hotfarm.ini $(patsubst conf/%,%,$(wildcard conf/packages/*.ini) $(wildcard conf/presets/*.ini))
# "Send to hotfarm" in file managers, and the type of a .pov they then offer it for
I_APPS := $(PREFIX)/share/applications
I_MIME := $(PREFIX)/share/mime

I_OBJ ?= build-install
I_BUILT ?= bin-install

install: need-deps
	@# built anew when the paths the programs know change (a reinstall to the same place reuses them)
	@want="$(I_LIBEXEC) $(I_CONF)"; if [ "$$(cat $(I_OBJ)/.paths 2>/dev/null)" != "$$want" ]; then \
		rm -rf $(I_OBJ) $(I_BUILT) && mkdir -p $(I_OBJ) && echo "$$want" >$(I_OBJ)/.paths; fi
	@$(MAKE) --no-print-directory OBJ=$(I_OBJ) BIN=$(I_BUILT) LIBEXECDIR=$(I_LIBEXEC) CONFDIR=$(I_CONF) all
	install -d $(DESTDIR)$(I_BIN) $(DESTDIR)$(I_SBIN) $(DESTDIR)$(I_LIBEXEC) $(DESTDIR)$(I_SHARE)/packages \
		$(DESTDIR)$(I_SHARE)/presets $(DESTDIR)$(I_APPS) $(DESTDIR)$(I_MIME)/packages \
		$(DESTDIR)$(I_MAN)/man1 $(DESTDIR)$(I_MAN)/man5 $(DESTDIR)$(I_MAN)/man8 $(DESTDIR)$(I_UNITS)
	install -m 755 $(I_BUILT)/hotfarm $(DESTDIR)$(I_BIN)/
	install -m 755 $(I_BUILT)/watcherd $(I_BUILT)/render-agent $(DESTDIR)$(I_SBIN)/
	install -m 755 $(addprefix $(I_BUILT)/,$(HELPERS)) $(DESTDIR)$(I_LIBEXEC)/
	for f in $(CONF_FILES); do install -m 644 conf/$$f $(DESTDIR)$(I_SHARE)/$$f || exit 1; done
	@if [ -n "$(I_ETC)" ]; then \
		install -d $(DESTDIR)$(I_ETC)/packages $(DESTDIR)$(I_ETC)/presets; \
		for f in $(CONF_FILES); do \
			if [ -e $(DESTDIR)$(I_ETC)/$$f ] && ! cmp -s conf/$$f $(DESTDIR)$(I_ETC)/$$f; then \
				echo "kept $(I_ETC)/$$f (edited); the new default is $(I_SHARE)/$$f"; \
			else install -m 644 conf/$$f $(DESTDIR)$(I_ETC)/$$f || exit 1; fi; \
		done; \
	fi
	install -m 644 spoolers/hotfarm.1 $(DESTDIR)$(I_MAN)/man1/
	install -m 644 conf/hotfarm.ini.5 conf/job.ini.5 $(DESTDIR)$(I_MAN)/man5/
	install -m 644 watcherd/watcherd.8 spoolers/render-agent.8 $(DESTDIR)$(I_MAN)/man8/
	sed 's|@BINDIR@|$(I_BIN)|g' clients/desktop/hotfarm-submit.desktop >$(DESTDIR)$(I_APPS)/hotfarm-submit.desktop
	install -m 644 clients/desktop/hotfarm-mime.xml $(DESTDIR)$(I_MIME)/packages/hotfarm.xml
	@if [ -z "$(DESTDIR)" ]; then \
		update-mime-database $(I_MIME) >/dev/null 2>&1 || true; \
		update-desktop-database $(I_APPS) >/dev/null 2>&1 || true; \
	fi
	install -d $(DESTDIR)$(PREFIX)/share/hotfarm/blender
	python3 clients/blender/mkzip.py $(DESTDIR)$(PREFIX)/share/hotfarm/blender/hotfarm_submit.zip
	for u in $(UNITS); do \
		sed 's|@SBINDIR@|$(I_SBIN)|g' $$u >$(DESTDIR)$(I_UNITS)/$$(basename $$u) || exit 1; \
		chmod 644 $(DESTDIR)$(I_UNITS)/$$(basename $$u); \
	done

# make uninstall [PREFIX=] [DESTDIR=]: removes what make install put there;
# in /etc/hotfarm only the files nobody edited
uninstall:
	rm -f $(DESTDIR)$(I_BIN)/hotfarm $(DESTDIR)$(I_SBIN)/watcherd $(DESTDIR)$(I_SBIN)/render-agent
	rm -f $(addprefix $(DESTDIR)$(I_LIBEXEC)/,$(HELPERS))
	rm -f $(addprefix $(DESTDIR)$(I_SHARE)/,$(CONF_FILES))
	rm -f $(DESTDIR)$(I_MAN)/man1/hotfarm.1 $(DESTDIR)$(I_MAN)/man5/hotfarm.ini.5 $(DESTDIR)$(I_MAN)/man5/job.ini.5 \
		$(DESTDIR)$(I_MAN)/man8/watcherd.8 $(DESTDIR)$(I_MAN)/man8/render-agent.8
	rm -f $(DESTDIR)$(I_UNITS)/watcherd@.service $(DESTDIR)$(I_UNITS)/render-agent@.service
	rm -f $(DESTDIR)$(I_APPS)/hotfarm-submit.desktop $(DESTDIR)$(I_MIME)/packages/hotfarm.xml
	@# the caches made at install: made again, or gone with the last file they were made from
	@if [ -z "$(DESTDIR)" ]; then \
		if [ -z "$$(ls -A $(I_MIME)/packages 2>/dev/null)" ]; then rm -rf $(I_MIME); \
		else update-mime-database $(I_MIME) >/dev/null 2>&1 || true; fi; \
		if ls $(I_APPS)/*.desktop >/dev/null 2>&1; then update-desktop-database $(I_APPS) >/dev/null 2>&1 || true; \
		else rm -f $(I_APPS)/mimeinfo.cache; rmdir $(I_APPS) 2>/dev/null || true; fi; \
	fi
	-rmdir $(DESTDIR)$(I_MIME)/packages $(DESTDIR)$(I_MIME) $(DESTDIR)$(I_APPS) 2>/dev/null
	rm -f $(DESTDIR)$(PREFIX)/share/hotfarm/blender/hotfarm_submit.zip
	-rmdir $(DESTDIR)$(PREFIX)/share/hotfarm/blender 2>/dev/null
	-rmdir $(DESTDIR)$(I_LIBEXEC) $(DESTDIR)$(I_SHARE)/packages $(DESTDIR)$(I_SHARE)/presets $(DESTDIR)$(I_SHARE) \
		$(DESTDIR)$(PREFIX)/share/hotfarm 2>/dev/null
	@if [ -n "$(I_ETC)" ]; then \
		for f in $(CONF_FILES); do \
			if cmp -s conf/$$f $(DESTDIR)$(I_ETC)/$$f; then rm -f $(DESTDIR)$(I_ETC)/$$f; \
			elif [ -e $(DESTDIR)$(I_ETC)/$$f ]; then echo "kept $(I_ETC)/$$f (edited)"; fi; \
		done; \
		rmdir $(DESTDIR)$(I_ETC)/packages $(DESTDIR)$(I_ETC)/presets $(DESTDIR)$(I_ETC) 2>/dev/null || true; \
	fi

clean:
	rm -rf build bin build-san bin-san build-install bin-install

.PHONY: all san check stress bench demo deps need-deps install uninstall clean

# the fuzzers: make fuzz (FUZZ_SECONDS per target), and tests/t-fuzz.sh in make check
include tests/fuzz/fuzz.mk
