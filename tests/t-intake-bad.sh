#!/bin/sh
# tests/t-intake-bad.sh - hostile and broken drops: archives that climb out
# with '..', absolute paths, links out of the job, devices, FIFOs, bombs,
# too many entries, damaged and non-archives, broken and hostile .ini files,
# orphans, odd names. Each must end in rejected/NAME/ with a reason that
# names the problem, the dropped files kept, nothing written outside the
# job, inbox/ empty, and the farm still taking good jobs afterwards.
#
# With watcherd (when bin/watcherd exists and starts, or WITH_WATCHERD=1)
# files are renamed into inbox/ and the test waits for the outcome; else
# (or WITH_WATCHERD= set empty) it runs bin/hf-intake --landed itself.
. "$(dirname "$0")/lib.sh"

PY=${PYTHON:-python3}
MK=$HF_ROOT/tests/mkarchive.py
A=$T/archives   # generated archives
EVIL=$T/evil-abs # where escaping entries aim
mkdir -p "$A" "$T/in" "$T/orig" || exit 1

# ---- spools and modes ------------------------------------------------------

# limits: small [intake] max_bytes and max_entries for the bombs
limits() {
	awk '{ print } /^\[intake\]/ { print "max_bytes = 10M"; print "max_entries = 50" }' \
		"$SPOOL/conf/hotfarm.ini" >"$T/conf.tmp" && mv "$T/conf.tmp" "$SPOOL/conf/hotfarm.ini"
}

new_spool main
limits
MAIN=$SPOOL

if [ -z "${WITH_WATCHERD+set}" ]; then
	WITH_WATCHERD=
	if [ -x "$BIN/watcherd" ]; then
		if start_watcherd; then
			WITH_WATCHERD=1
		else
			kill -TERM "$WATCHERD" 2>/dev/null
			diag "watcherd did not start: running hf-intake directly"
		fi
	fi
elif [ "$WITH_WATCHERD" ]; then
	start_watcherd || { not_ok "watcherd starts"; done_testing; }
fi
if [ "$WITH_WATCHERD" ]; then diag "mode: watcherd"; else diag "mode: direct hf-intake"; fi

# ---- the archives ------------------------------------------------------------

KINDS="good good+ini badini dotdot dotdot+ini dotdot-deep dotdot-mid dotdot-long pax-dotdot
absolute absolute+ini ctrlname symlink-out symlink-abs symlink-chain symlink-chain+ini
symlink-write symlink-ok hardlink-out hardlink-dotdot chardev blockdev fifo setuid many-entries
many-entries+ini bomb bomb-many truncated truncated+ini truncated-gz empty duplicate duplicate-empty
dir-then-file file-then-child symlink-through"
set --
for k in $KINDS; do set -- "$@" "$k=$A/$k.tar"; done
for k in zip-dotdot zip-absolute zip-symlink-out zip-good bomb-zip; do set -- "$@" "$k=$A/$k.zip"; done
"$PY" "$MK" --batch "$EVIL" "$@" notarchive="$A/notarchive.tar" || { not_ok "mkarchive.py runs"; done_testing; }

# ---- helpers -------------------------------------------------------------------

# std_ini FILE [LINE...]: a valid description, plus LINEs at the end of [job]
std_ini() {
	c_f=$1; shift
	{
		echo "[job]"
		echo "frames = 1-4"
		for c_l in "$@"; do echo "$c_l"; done
		echo "[render]"
		echo "scene = scene.pov"
		echo "width = 64"
		echo "height = 48"
	} >"$c_f"
}

# stage SRC NAME: SRC becomes $T/in/NAME, ready to drop (a copy is kept)
stage() { cp "$1" "$T/in/$2" && cp "$1" "$T/orig/$2"; }
# stage_ini NAME [LINE...]: a valid NAME.ini
stage_ini() { c_s=$1; shift; std_ini "$T/in/$c_s.ini" "$@" && cp "$T/in/$c_s.ini" "$T/orig/$c_s.ini"; }

# accepted NAME: jobs/NAME and its entry (new/, or queue/ once routed)
accepted() {
	[ -d "$SPOOL/jobs/$1" ] || return 1
	# one listing in the order entries move (new/ before queue/): an entry
	# routed meanwhile is seen in one of them (globs taken first and tested
	# after could miss it)
	ls "$SPOOL/new" "$SPOOL/queue" "$SPOOL/held" | grep -q -- "-$1\$"
}
outcome() { rejected "$1" || accepted "$1"; }

# take NAME FILE...: rename FILEs from $T/in into inbox/ (archive first,
# .ini last) and let intake judge them; NAME is the job's folder name as
# expected. Sets RC: 0 accepted, 100 rejected, or what else happened.
take() {
	c_name=$1; shift
	# watcherd is stopped while the files land, so that it judges them
	# together: a damaged archive alone is rejected at once, and the test
	# must not race watcherd for which it sees first
	[ "$WITH_WATCHERD" ] && kill -STOP "$WATCHERD"
	for c_f in "$@"; do mv "$T/in/$c_f" "$SPOOL/inbox/$c_f" || { kill -CONT "$WATCHERD" 2>/dev/null; return 1; }; done
	[ "$WITH_WATCHERD" ] && kill -CONT "$WATCHERD"
	if [ "$WITH_WATCHERD" ]; then
		# a damaged archive that lands with its .ini waits out the settle
		# time (it may still be arriving) and a rescan before it is
		# judged: slow under sanitizers on a busy machine
		if wait_for 60 outcome "$c_name"; then
			if accepted "$c_name"; then RC=0; else RC=100; fi
		else
			RC=timeout
		fi
	else
		hf-intake --spool "$SPOOL" --landed "$@" >"$T/out" 2>"$T/err"
		RC=$?
	fi
}

# The spool outside the folders a job may change, and anything aiming out.
outside() {
	find "$SPOOL" \( -path "$SPOOL/jobs" -o -path "$SPOOL/rejected" -o -path "$SPOOL/new" \
		-o -path "$SPOOL/queue" -o -path "$SPOOL/held" -o -path "$SPOOL/outsourced" \
		-o -path "$SPOOL/done" -o -path "$SPOOL/failed" -o -path "$SPOOL/cancelled" \
		-o -path "$SPOOL/status" -o -path "$SPOOL/run" -o -path "$SPOOL/hosts" \
		-o -path "$SPOOL/work/in.*" \) -prune -o -print | sort
	ls -l /etc/passwd 2>&1
}
# what an escaping entry or an injected command would have made
escaped() {
	find "$T" "$HF_ROOT" / -maxdepth 1 \( -name 'evil*' -o -name 'injected*' \) 2>/dev/null
	find "$T" \( -name 'evil*' -o -name 'injected*' \) 2>/dev/null
	[ -e /tmp/hotfarm-evil ] && echo /tmp/hotfarm-evil
}
snapshot() { outside >"$T/before"; }
nothing_outside() {
	outside >"$T/after"
	escaped | sort -u >"$T/escaped"
	cmp -s "$T/before" "$T/after" && [ ! -s "$T/escaped" ] && return 0
	diff "$T/before" "$T/after" | sed 's/^/#   /'
	sed 's/^/#   escaped: /' "$T/escaped"
	# so that the next case is judged on its own
	grep "^$T/" "$T/escaped" | while read -r c_e; do rm -rf "$c_e"; done
	return 1
}

# kept NAME FILE...: each dropped file is in rejected/NAME/, unchanged
kept() {
	c_r=$SPOOL/rejected/$1; shift
	for c_f in "$@"; do
		c_k=$c_f
		[ "$c_f" = reason.txt ] && c_k=dropped-reason.txt
		[ -e "$c_r/$c_k" ] || [ -L "$c_r/$c_k" ] || { diag "missing: rejected/.../$c_k"; return 1; }
		if [ -f "$T/orig/$c_f" ] && ! cmp -s "$T/orig/$c_f" "$c_r/$c_k"; then
			diag "changed: $c_k"
			return 1
		fi
	done
}

# says NAME WORD: the first line of rejected/NAME/reason.txt holds WORD
says() {
	reason "$1" | grep -q -F -- "$2" && return 0
	diag "reason was: $(reason "$1")"
	return 1
}

# the one-line outcome of the last intake, for a failing check
explain() { [ "$WITH_WATCHERD" ] || { diag "exit $RC: $(cat "$T/out" "$T/err" | tr '\n' ' ')"; }; }

GOOD=0
# good_after: a good job dropped next is still accepted
good_after() {
	GOOD=$((GOOD + 1))
	stage "$A/good.tar" "fine$GOOD.tar"
	stage_ini "fine$GOOD"
	take "fine$GOOD" "fine$GOOD.tar" "fine$GOOD.ini"
	if accepted "fine$GOOD"; then ok "after $1: a good job is still accepted"; else
		not_ok "after $1: a good job is still accepted"; explain; fi
}

# bad NAME WORD FILE...: the drop of FILEs (staged in $T/in) is rejected
# into rejected/NAME/ with WORD in its reason, and all the rest
bad() {
	c_n=$1 c_w=$2; shift 2
	snapshot
	take "$c_n" "$@"
	if [ "$RC" = 100 ]; then ok "$c_n: rejected"; else not_ok "$c_n: rejected (got $RC)"; explain; fi
	check "$c_n: the reason says '$c_w'" says "$c_n" "$c_w"
	check "$c_n: the dropped files are kept in rejected/$c_n/" kept "$c_n" "$@"
	check "$c_n: nothing made outside jobs/ and rejected/" nothing_outside
	check "$c_n: inbox/ is empty" inbox_empty
	check "$c_n: no job folder" [ ! -e "$SPOOL/jobs/$c_n" ]
	# what a failure left behind must not spoil the cases after it
	for c_f in "$@"; do rm -rf "$SPOOL/inbox/$c_f"; done
	good_after "$c_n"
}

# bad_archive NAME KIND WORD: KIND's archive dropped with a valid NAME.ini
bad_archive() {
	c_ext=tar
	[ -f "$A/$2.zip" ] && c_ext=zip
	stage "$A/$2.$c_ext" "$1.$c_ext"
	stage_ini "$1"
	bad "$1" "$3" "$1.$c_ext" "$1.ini"
}
# bad_lone NAME KIND WORD: KIND's archive dropped alone (its own job.ini)
bad_lone() {
	stage "$A/$2.tar" "$1.tar"
	bad "$1" "$3" "$1.tar"
}
# bad_ini NAME WORD [KIND]: the good (or KIND's) archive with the NAME.ini
# read from stdin
bad_ini() {
	stage "$A/${3:-good}.tar" "$1.tar"
	cat >"$T/in/$1.ini" && cp "$T/in/$1.ini" "$T/orig/$1.ini"
	bad "$1" "$2" "$1.tar" "$1.ini"
}

# good_job NAME FILE...: the drop is accepted into jobs/NAME
good_job() {
	c_n=$1; shift
	snapshot
	take "$c_n" "$@"
	if [ "$RC" = 0 ]; then ok "$c_n: accepted"; else not_ok "$c_n: accepted (got $RC)"; explain; fi
	check "$c_n: in jobs/$c_n with a new/ entry" accepted "$c_n"
	check "$c_n: nothing made outside jobs/" nothing_outside
	check "$c_n: inbox/ is empty" inbox_empty
}

# ---- archives that try to get out ---------------------------------------------

bad_archive dotdot dotdot "climbs out of the job with '..'"
bad_lone dotdot-lone dotdot+ini "'..'"
bad_archive dotdot-deep dotdot-deep "'..'"
bad_archive dotdot-mid dotdot-mid "'..'"
bad_archive dotdot-long dotdot-long "'..'"
bad_archive pax-dotdot pax-dotdot "'..'"
bad_archive absolute absolute "an absolute path"
bad_lone absolute-lone absolute+ini "an absolute path"
bad_archive ctrlname ctrlname "control characters"
bad_archive symlink-out symlink-out "points out of the job"
bad_archive symlink-abs symlink-abs "points out of the job"
bad_archive symlink-chain symlink-chain "points out of the job"
bad_lone symlink-chain-lone symlink-chain+ini "points out of the job"
bad_archive symlink-write symlink-write "points out of the job"
bad_archive hardlink-out hardlink-out "hard link"
bad_archive hardlink-dotdot hardlink-dotdot "hard link"
bad_archive zip-dotdot zip-dotdot "'..'"
bad_archive zip-absolute zip-absolute "an absolute path"
bad_archive zip-symlink-out zip-symlink-out "points out of the job"

# ---- things that are not files -------------------------------------------------

bad_archive chardev chardev "a device node"
bad_archive blockdev blockdev "a device node"
bad_archive fifo fifo "FIFO"

# ---- too much, broken, not an archive --------------------------------------------

bad_archive many-entries many-entries "more than 50 entries"
bad_lone many-entries-lone many-entries+ini "more than 50 entries"
bad_archive bomb bomb "unpacks to more than"
bad_archive bomb-many bomb-many "unpacks to more than"
bad_archive bomb-zip bomb-zip "unpacks to more than"
bad_archive truncated truncated "damaged or incomplete"
bad_lone truncated-lone truncated+ini "damaged or incomplete"
bad_archive truncated-gz truncated-gz "damaged or incomplete"
bad_archive notarchive notarchive "not an archive"
bad_archive empty empty "empty archive"
bad_archive duplicate duplicate "'scene.pov' twice"
bad_archive duplicate-empty duplicate-empty "'notes.txt' twice"
bad_archive dir-then-file dir-then-file "'thing' both as a folder and as a file"
bad_archive file-then-child file-then-child "'thing'"
bad_archive symlink-through symlink-through "symbolic link"
bad_lone badini badini "job.ini line 3"

# ---- descriptions ----------------------------------------------------------------

bad_ini ini-syntax "line 3" <<-'INI'
	[job]
	frames = 1-4
	this is not ini
	[render]
	scene = scene.pov
	INI
bad_ini ini-no-frames "frames is missing" <<-'INI'
	[job]
	priority = 10
	[render]
	scene = scene.pov
	INI
bad_ini ini-no-scene "scene is missing" <<-'INI'
	[job]
	frames = 1-4
	[render]
	width = 64
	INI
bad_ini ini-no-job "no [job] section" <<-'INI'
	[render]
	scene = scene.pov
	INI
bad_ini ini-empty "no [job] section" </dev/null
bad_ini ini-huge-frames "frame numbers go from 0 to" <<-'INI'
	[job]
	frames = 1-1000000000000
	[render]
	scene = scene.pov
	INI
bad_ini ini-many-frames "more than 100000 frames" <<-'INI'
	[job]
	frames = 1-9999999
	[render]
	scene = scene.pov
	INI
bad_ini ini-backwards "runs backwards" <<-'INI'
	[job]
	frames = 10-1
	[render]
	scene = scene.pov
	INI
bad_ini ini-frames-junk "is not a frame list" <<-'INI'
	[job]
	frames = 1-4; rm -rf /
	[render]
	scene = scene.pov
	INI
bad_ini ini-chunk0 "chunk must be a whole number from 1" <<-'INI'
	[job]
	frames = 1-4
	chunk = 0
	[render]
	scene = scene.pov
	INI
bad_ini ini-priority-neg "priority must be a whole number from 0 to 999" <<-'INI'
	[job]
	frames = 1-4
	priority = -1
	[render]
	scene = scene.pov
	INI
bad_ini ini-priority-big "priority must be" <<-'INI'
	[job]
	frames = 1-4
	priority = 1000
	[render]
	scene = scene.pov
	INI
bad_ini ini-width0 "width must be a whole number from 1" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = scene.pov
	width = 0
	INI
bad_ini ini-height-huge "height must be" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = scene.pov
	height = 99999999999999999999999
	INI
bad_ini ini-scene-missing "'missing.pov' is not in the archive" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = missing.pov
	INI
bad_ini ini-scene-dotdot "must be a path inside the archive" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = ../../../../etc/passwd
	INI
bad_ini ini-scene-abs "must be a path inside the archive" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = /etc/passwd
	INI
bad_ini ini-scene-dir "is not in the archive" symlink-ok <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = sub
	INI
bad_ini ini-package-unknown "package 'maya' is unknown" <<-'INI'
	[job]
	frames = 1-4
	[render]
	package = maya
	scene = scene.pov
	INI
bad_ini ini-package-path "is not a package name" <<-'INI'
	[job]
	frames = 1-4
	[render]
	package = ../../../etc/passwd
	scene = scene.pov
	INI
bad_ini ini-dup-key "is set twice" <<-'INI'
	[job]
	frames = 1-4
	frames = 1-8
	[render]
	scene = scene.pov
	INI
bad_ini ini-dup-section "'frames' in [job] is set twice (first on line 2)" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = scene.pov
	[job]
	frames = 1-8
	INI
bad_ini ini-output-dotdot "output" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = scene.pov
	output = ../../../evil_####.png
	INI
bad_ini ini-args-quote "unterminated" <<-'INI'
	[job]
	frames = 1-4
	[render]
	scene = scene.pov
	args = +A0.3 "unclosed
	INI
bad_ini ini-email "not one mail address" <<-'INI'
	[job]
	frames = 1-4
	email = a@example.com, b@example.com
	[render]
	scene = scene.pov
	INI
bad_ini ini-timeout "timeout must be" <<-'INI'
	[job]
	frames = 1-4
	timeout = forever
	[render]
	scene = scene.pov
	INI
printf '[job]\nframes = 1-4\n[render]\nscene = scene\001.pov\n' >"$T/ini"
bad_ini ini-control "line 4 holds a control character" <"$T/ini"
printf '[job]\nframes = 1-4\n[render]\nscene = scene.pov\0evil\n' >"$T/ini"
bad_ini ini-nul "NUL byte" <"$T/ini"
std_ini "$T/ini"
i=0
while [ $i -lt 3000 ]; do echo "# padding padding padding padding" >>"$T/ini"; i=$((i + 1)); done
bad_ini ini-huge "larger than 64 KiB" <"$T/ini"

# ---- what is dropped into inbox/ is not a plain file ---------------------------------

ln -s /etc/passwd "$T/in/inbox-symlink.tar"
bad inbox-symlink "is a symbolic link" inbox-symlink.tar
passwd_ok() { [ -f /etc/passwd ] && [ ! -L /etc/passwd ] && [ -L "$SPOOL/rejected/inbox-symlink/inbox-symlink.tar" ]; }
check "inbox-symlink: /etc/passwd is untouched, the link kept as a link" passwd_ok
stage "$A/good+ini.tar" inbox-hardlink.tar
ln "$T/in/inbox-hardlink.tar" "$T/hardlink-keep.tar"
bad inbox-hardlink "other hard links" inbox-hardlink.tar
mkdir "$T/in/inbox-folder" && cp "$A/good+ini.tar" "$T/in/inbox-folder/"
bad inbox-folder "is a folder" inbox-folder
mkfifo "$T/in/inbox-fifo.tar"
bad inbox-fifo "not a regular file" inbox-fifo.tar
# a user's file named reason.txt must not be overwritten by intake's
printf 'my own notes\n' >"$T/in/reason.txt" && cp "$T/in/reason.txt" "$T/orig/reason.txt"
bad reason "not an archive" reason.txt

# ---- accepted edge cases ----------------------------------------------------------------

stage "$A/setuid.tar" setuid.tar && stage_ini setuid
good_job setuid setuid.tar setuid.ini
both() { [ -f "$1" ] && [ -f "$2" ]; }
check "setuid: the files are unpacked" both "$SPOOL/jobs/setuid/files/tool" "$SPOOL/jobs/setuid/files/group-tool"
check "setuid: no setuid/setgid bit is left" [ -z "$(find "$SPOOL/jobs/setuid/files" -perm /6000)" ]
check "setuid: still executable" [ -x "$SPOOL/jobs/setuid/files/tool" ]
check "setuid: status.ini warns that the bit was removed" grep -q "setuid/setgid bit of 'tool'" "$SPOOL/jobs/setuid/status.ini"

stage "$A/symlink-ok.tar" symlink-ok.tar && stage_ini symlink-ok
good_job symlink-ok symlink-ok.tar symlink-ok.ini
links_kept() {
	[ "$(readlink "$SPOOL/jobs/symlink-ok/files/link.pov")" = scene.pov ] &&
		[ "$(readlink "$SPOOL/jobs/symlink-ok/files/sub/up.pov")" = ../scene.pov ] &&
		[ -f "$SPOOL/jobs/symlink-ok/files/sub/up.pov" ]
}
check "symlink-ok: the in-tree links are kept" links_kept

stage "$A/good+ini.tar" lone.tar
good_job lone lone.tar
stage "$A/zip-good.zip" zipjob.zip && stage_ini zipjob
good_job zipjob zipjob.zip zipjob.ini

# names: made safe for the folder, the original kept
n="Shot 42 – Müller's"
stage "$A/good.tar" "$n.tar" && stage_ini "$n"
good_job Shot_42_-_Muller_s "$n.tar" "$n.ini"
check "name: the original name is in job.ini" grep -q "original_name = .*Shot 42" "$SPOOL/jobs/Shot_42_-_Muller_s/job.ini"
n='say "hi" $(touch injected) `touch injected2`'
stage "$A/good.tar" "$n.tar" && stage_ini "$n"
good_job say_hi_touch_injected_touch_injected2 "$n.tar" "$n.ini"
n='new
line'
stage "$A/good.tar" "$n.tar" && stage_ini "$n"
good_job new_line "$n.tar" "$n.ini"
stage "$A/good.tar" "日本語.tar" && stage_ini "日本語"
good_job job "日本語.tar" "日本語.ini"
stage "$A/good.tar" named.tar && stage_ini named "name = ../../pwned"
good_job pwned named.tar named.ini
stage "$A/good.tar" twin.tar && stage_ini twin
good_job twin twin.tar twin.ini
stage "$A/good.tar" twin.tar && stage_ini twin
good_job twin-2 twin.tar twin.ini
stage "$A/good.tar" twinbad.tar && stage_ini twinbad "priority = 5000"
bad twinbad "priority must be" twinbad.tar twinbad.ini
stage "$A/good.tar" twinbad.tar && stage_ini twinbad "chunk = 0"
bad twinbad-2 "chunk must be" twinbad.tar twinbad.ini
check "twinbad: the first rejection is untouched" grep -q "priority = 5000" "$SPOOL/rejected/twinbad/twinbad.ini"

work_empty() { [ -z "$(work_left "$MAIN")" ]; }
wait_for 5 work_empty
check "intake left nothing in work/" work_empty
[ "$WITH_WATCHERD" ] && check "watcherd is still running" alive "$WATCHERD"

# ---- not complete yet: exit 101, nothing moved --------------------------------------------

# (direct, on a spool no watcherd looks at, with the default long grace)
GRACE=300 new_spool young
young() {
	c_n=$1; shift
	for c_f in "$@"; do mv "$T/in/$c_f" "$SPOOL/inbox/$c_f"; done
	hf-intake --spool "$SPOOL" ${LANDED:-} "$@" >"$T/out" 2>"$T/err"
	RC=$?
	if [ "$RC" = 101 ]; then ok "$c_n: not complete yet (exit 101)"; else not_ok "$c_n: not complete yet (exit 101, got $RC)"; explain; fi
	c_all=1
	for c_f in "$@"; do [ -f "$SPOOL/inbox/$c_f" ] || c_all=; done
	check "$c_n: still in inbox/" [ "$c_all" ]
	check "$c_n: nothing rejected or taken" \
		[ -z "$(find "$SPOOL/rejected" "$SPOOL/jobs" "$SPOOL/new" "$SPOOL/work" -mindepth 1)" ]
}
stage_ini orphan-ini
young orphan-ini orphan-ini.ini
stage "$A/good.tar" orphan-tar.tar
young orphan-tar orphan-tar.tar
# an archive without job.ini waits for its .ini even when it landed
stage "$A/good.tar" orphan-landed.tar
LANDED=--landed
young orphan-landed orphan-landed.tar
LANDED=
stage "$A/truncated+ini.tar" young-truncated.tar
young young-truncated young-truncated.tar
stage "$A/truncated.tar" young-truncated2.tar && stage_ini young-truncated2
young young-truncated2 young-truncated2.tar young-truncated2.ini
# the archive arrives after all: the pair is accepted
stage "$A/good.tar" orphan-ini.tar
mv "$T/in/orphan-ini.tar" "$SPOOL/inbox/"
hf-intake --spool "$SPOOL" --landed orphan-ini.tar orphan-ini.ini >"$T/out" 2>"$T/err"
RC=$?
if [ "$RC" = 0 ] && accepted orphan-ini; then ok "orphan-ini: accepted once its archive arrives"; else
	not_ok "orphan-ini: accepted once its archive arrives"; explain; fi

# ---- orphans after the grace: rejected ----------------------------------------------------

GRACE=1 new_spool grace
if [ "$WITH_WATCHERD" ]; then start_watcherd || not_ok "watcherd starts on the grace spool"; fi
# direct: ask again until intake decides, as watcherd would
asked() {
	hf-intake --spool "$SPOOL" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	[ "$RC" != 101 ]
}
late() {
	c_n=$1 c_w=$2; shift 2
	if [ "$WITH_WATCHERD" ]; then
		wait_for 10 rejected "$c_n"
	else
		wait_for 10 asked "$@"
	fi
	check "$c_n: rejected after the grace" rejected "$c_n"
	check "$c_n: the reason says '$c_w'" says "$c_n" "$c_w"
	check "$c_n: the dropped files are kept in rejected/$c_n/" kept "$c_n" "$@"
}
stage_ini lost-archive
stage "$A/good.tar" lost-ini.tar
stage "$A/truncated+ini.tar" stalled.tar
for f in lost-archive.ini lost-ini.tar stalled.tar; do mv "$T/in/$f" "$SPOOL/inbox/$f"; done
late lost-archive "its archive never did" lost-archive.ini
late lost-ini "holds no job.ini" lost-ini.tar
late stalled "damaged or incomplete" stalled.tar
check "grace: inbox/ is empty" inbox_empty
good_after "the orphans"

done_testing
