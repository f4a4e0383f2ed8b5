#!/bin/sh
# t-store.sh - jobs that share files hold them once: two shots with the same
# include and textures share one read-only copy of each (store/), render as
# if each had its own, and a hostile render cannot change what the other
# shot reads; the copies go when the last job holding them is cleaned.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent h1 --slots 2

# SHOT: the orbit scene, including a shared 20 KiB file, plus 3 textures of
# 1 MB each that every shot carries, and a file of its own
mkdir -p "$T/tex"
for t in wood stone sky; do head -c 1000000 /dev/urandom >"$T/tex/$t.bin"; done
{
	echo '#declare Ball = <1, 0.3, 0.2>;'
	i=0
	while [ $i -lt 400 ]; do echo "// a comment line to make the include $i of 400 lines long"; i=$((i + 1)); done
} >"$T/tex/shared.inc"
shot() {
	povray_job "$T/$1" 1-2
	sed -i 's/^camera/#include "shared.inc"\ncamera/; s/rgb <1, 0.3, 0.2>/rgb Ball/' "$T/$1/scene.pov"
	mkdir -p "$T/$1/maps"
	cp "$T/tex/shared.inc" "$T/$1/"
	cp "$T/tex/"*.bin "$T/$1/maps/"
	head -c 8192 /dev/urandom >"$T/$1/own.bin"
}
shot one
shot two
drop_dir one "$T/one"
check "the first shot is queued" wait_for 20 queued one
drop_dir two "$T/two"
check "the second shot is queued" wait_for 20 queued two
ino() { stat -c %i "$SPOOL/jobs/$1/files/$2"; }
links() { stat -c %h "$SPOOL/jobs/$1/files/$2"; }
same=0
for f in shared.inc maps/wood.bin maps/stone.bin maps/sky.bin; do
	[ "$(ino one "$f")" = "$(ino two "$f")" ] && [ "$(links two "$f")" -eq 3 ] && same=$((same + 1))
done
check "the include and the 3 textures are one file for both shots, and the store's ($same of 4)" [ "$same" -eq 4 ]
check "each shot's own file is its own" [ "$(ino one own.bin)" != "$(ino two own.bin)" ]
check "the shared files are read-only" [ "$(stat -c %a "$SPOOL/jobs/two/files/maps/wood.bin")" = 444 ]
shared=$(sed -n 's/^shared_bytes = //p' "$SPOOL/jobs/two/sizes.ini")
check "the second shot's sizes.ini says what it shares ($shared bytes)" [ "$shared" -gt 3000000 ]
check "the first one shares nothing: it came first" grep -qx 'shared_bytes = 0' "$SPOOL/jobs/one/sizes.ini"
check "the intake said so in the log" grep -q 'job=two .*4 of its files (3.0 MB) were here already' "$SPOOL.watcherd.log"
use=$(du -sk "$SPOOL/jobs" | cut -f1)
check "both shots take the disk of one set of textures ($use KiB)" [ "$use" -lt 4500 ]

check "both shots are rendered" wait_for 90 sh -c "ls '$SPOOL/done' | grep -q -- -one && ls '$SPOOL/done' | grep -q -- -two"
good=0
for f in 1 2; do
	(cd "$T/one" && povray -D -V +Iscene.pov +O"$T/ref.png" +W64 +H48 +FN +KFI1 +KFF2 +SF$f +EF$f) >/dev/null 2>&1
	[ -n "$(pixels "$T/ref$f.png")" ] && [ "$(pixels "$T/ref$f.png")" = "$(pixels "$SPOOL/jobs/two/output/f_000$f.png")" ] &&
		good=$((good + 1))
done
check "the frames read the shared include as their own ($good of 2 match a render by hand)" [ "$good" -eq 2 ]

# a hostile render of a third shot tries to change the shared texture
mkdir -p "$T/evil/maps"
cp "$T/tex/"*.bin "$T/evil/maps/"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/evil/in.png" 64 48
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "e_####.png"\n' \
	>"$T/evil/job.ini"
printf 'args = sh -c "chmod u+w {files}/maps/wood.bin; echo poison >{files}/maps/wood.bin; echo poison >>{files}/maps/sky.bin; cp {files}/in.png {output}"\n' \
	>>"$T/evil/job.ini"
drop_dir evil "$T/evil"
check "the hostile shot ran" wait_for 60 sh -c "ls '$SPOOL/done' '$SPOOL/failed' | grep -q -- -evil"
check "it shared the textures too" [ "$(ino evil maps/wood.bin)" = "$(ino one maps/wood.bin)" ]
check "and could not change them: the other shots' textures are as sent" \
	sh -c "cmp -s '$T/tex/wood.bin' '$SPOOL/jobs/one/files/maps/wood.bin' && cmp -s '$T/tex/sky.bin' '$SPOOL/jobs/two/files/maps/sky.bin'"
# (Landlock does not stop a chmod: the store stops trusting that copy)

# [intake] dedupe = no: a shot keeps copies of its own
echo "[intake]
dedupe = no" >>"$SPOOL/conf/hotfarm.ini"
shot alone
hotfarm hold --all >/dev/null 2>&1
drop_dir alone "$T/alone"
check "with dedupe = no a shot is queued" wait_for 20 sh -c "ls '$SPOOL/queue' '$SPOOL/held' 2>/dev/null | grep -q -- -alone"
check "and keeps a copy of its own" [ "$(links alone maps/wood.bin)" -eq 1 ]
sed -i '/^dedupe = no/d' "$SPOOL/conf/hotfarm.ini"

# the store keeps what a job still holds, and lets go of the rest
stop_pids
_pids=""
start_watcherd
shot last
drop_dir last "$T/last"
check "a shot that stays queued (no agent now)" wait_for 20 queued last
hotfarm clean --older-than 0 >"$T/clean.out" 2>&1
check "clean removes the ended shots ($(grep '^total' "$T/clean.out"))" \
	sh -c "! ls '$SPOOL/jobs' | grep -qx -e one -e two -e evil"
check "a copy whose mode a render changed is shared no more: the next shot's is the store's now" \
	sh -c "[ \$(stat -c %a '$SPOOL/jobs/last/files/maps/wood.bin') = 444 ] && [ \$(stat -c %h '$SPOOL/jobs/last/files/maps/wood.bin') -eq 2 ]"
check "the textures the queued shot holds stay, whole" sh -c "[ \$(stat -c %h '$SPOOL/jobs/last/files/maps/sky.bin') -eq 2 ] &&
	cmp -s '$T/tex/wood.bin' '$SPOOL/jobs/last/files/maps/wood.bin' && cmp -s '$T/tex/sky.bin' '$SPOOL/jobs/last/files/maps/sky.bin'"
# gone: the shots' own files and the evil shot's image, and the chmodded copy
check "clean said what the store let go and kept ($(grep '^store' "$T/clean.out"))" \
	grep -q '^store: 3 contents no job holds removed, [0-9]* bytes .*; 5 kept' "$T/clean.out"
hotfarm cancel last >/dev/null
wait_for 20 in_state cancelled last
hotfarm clean --older-than 0 >"$T/clean2.out" 2>&1
left=$(find "$SPOOL/store" -type f | wc -l)
check "once no job holds them, the store is empty ($left left; $(grep '^store' "$T/clean2.out"))" [ "$left" -eq 0 ]
check "watcherd is still running" alive "$WATCHERD"
done_testing
