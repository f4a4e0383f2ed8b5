# t-confine.sh - hf-confine: a hostile render package (tests/escape.c, built
# dynamically and statically, and tests/escape.sh) tries 40 ways out of its
# job folder: other jobs, another site's jobs, writes outside, links,
# /proc, raw syscalls, handles, exec, TCP, signals, abstract sockets. Run
# unconfined (the control) they get out; under hf-confine every one is
# stopped, and the output names the layer that stopped it. POV-Ray renders
# the same pixels confined as not.
. "$(dirname "$0")/lib.sh"

S=$T/spool
mkdir -p "$S/jobs/mine/files" "$S/jobs/other" "$S/sites/c/jobs/x" "$T/outside"
echo "the other job's secret" >"$S/jobs/other/secret.txt"
echo "another site's secret" >"$S/sites/c/jobs/x/secret.txt"
printf '#!/bin/sh\nexit 0\n' >"$S/jobs/other/tool.sh"
chmod +x "$S/jobs/other/tool.sh"
cc -O1 -o "$T/escape" "$HF_ROOT/tests/escape.c" && cc -O1 -static -o "$T/escape-static" "$HF_ROOT/tests/escape.c" 2>"$T/cc.log"
check "the hostile programs build (dynamic and static)" [ -x "$T/escape" -a -x "$T/escape-static" ]
check "the static one is static (no program interpreter)" sh -c "! readelf -l '$T/escape-static' | grep -q 'program interpreter'"

# listeners for the network attempts, so that unconfined they succeed
cat >"$T/listen.py" <<'PY'
import socket, sys, os
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(64)
u = socket.socket(socket.AF_UNIX); u.bind("\0hotfarm-escape-" + sys.argv[1]); u.listen(64)
open(sys.argv[2], "w").write(str(t.getsockname()[1]))
while True:
    import select
    for s in select.select([t, u], [], [])[0]:
        s.accept()[0].close()
PY
python3 "$T/listen.py" $$ "$T/port" &
_pids="$_pids $!"
wait_for 10 test -s "$T/port"
export ESCAPE_PORT=$(cat "$T/port") ESCAPE_ABSTRACT=hotfarm-escape-$$ ESCAPE_PID=$$
OTHER=$S/jobs/other/secret.txt SITE=$S/sites/c/jobs/x/secret.txt

run() { # OUT PROGRAM...: in the job folder
	_r=$1; shift
	(cd "$S/jobs/mine" && "$@") >"$_r.out" 2>"$_r.err"
}
# the control: unconfined, the attempts are real and get out
run "$T/free" "$T/escape" "$OTHER" "$T/outside" "$SITE"
free=$(grep -c '^ok ' "$T/free.out")
check "unconfined, the hostile program gets out $free ways (the attempts are real)" [ "$free" -ge 20 ]
# put back what the control changed
echo "the other job's secret" >"$S/jobs/other/secret.txt"
rm -rf "$T/outside"/* "$S/jobs/mine"
mkdir -p "$S/jobs/mine/files"

confined() { # OUT PROGRAM ARGS...
	_o=$1; shift
	run "$_o" hf-confine --root "$S/jobs/mine" --ro "$T/escape" --ro "$T/escape-static" --ro "$HF_ROOT/tests/escape.sh" -- "$@"
}
layer() { # ERRFILE NAME: the layer that stopped attempt NAME (the wrapper logs
	# its denials right after the attempt's marker; what it let through, or
	# never saw, the kernel stopped)
	if awk -v a="attempt $2" '$0 == a { on = 1; next } /^attempt / { on = 0 } on && /^hf-wrap: denied/ { f = 1 } END { exit !f }' "$1"; then
		echo "the I/O wrapper"
	else
		echo "Landlock (kernel)"
	fi
}
for kind in escape escape-static; do
	confined "$T/$kind" "$T/$kind" "$OTHER" "$T/outside" "$SITE"
	check "$kind: its own folder still works" grep -q '^control-ok' "$T/$kind.out"
	n=$(grep -c '^blocked ' "$T/$kind.out")
	check "$kind: all $n attempts stopped" sh -c "[ $n -ge 25 ] && ! grep -q '^ok ' '$T/$kind.out'"
	grep '^ok \|^blocked ' "$T/$kind.out" | while read -r verdict name rest; do
		echo "# $kind ${name%:}: ${verdict} (${rest}) by $(layer "$T/$kind.err" "${name%:}")"
	done
done
wrapper_stopped=$(grep '^ok \|^blocked ' "$T/escape.out" | while read -r v name rest; do layer "$T/escape.err" "${name%:}"; done | grep -c wrapper)
check "the wrapper stopped $wrapper_stopped attempts of the dynamic program itself" [ "$wrapper_stopped" -ge 15 ]
static_wrapped=$(grep -c '^hf-wrap: denied' "$T/escape-static.err")
check "the static program bypasses the wrapper ($static_wrapped denials logged): Landlock alone stopped it" [ "$static_wrapped" -eq 0 ]
check "the other job's file is untouched" [ "$(cat "$OTHER")" = "the other job's secret" ]
check "nothing was written outside" [ -z "$(ls -A "$T/outside")" ]
check "hf-confine says in the log what it allowed" grep -q 'hf-confine: Landlock ABI [0-9][^:]*: read-write' "$T/escape.err"

confined "$T/script" sh "$HF_ROOT/tests/escape.sh" "$OTHER" "$T/outside"
n=$(grep -c '^blocked ' "$T/script.out")
check "the shell script: all $n attempts stopped" sh -c "[ $n -ge 10 ] && ! grep -q '^ok ' '$T/script.out'"
grep '^ok \|^blocked ' "$T/script.out" | while read -r verdict name; do echo "# script $name: $verdict"; done
total=$(($(grep -c '^blocked ' "$T/escape.out") + $(grep -c '^blocked ' "$T/escape-static.out") + n))
check "$total ways out tried under confinement, none worked" [ "$total" -ge 25 ]

# POV-Ray confined renders the same pixels
cp "$HF_ROOT/examples/orbit/scene.pov" "$S/jobs/mine/files/"
(cd "$S/jobs/mine/files" && povray -D -V +Iscene.pov +O"$T/free.png" +W96 +H72 +FN +KFI1 +KFF8 +SF3 +EF3) >/dev/null 2>&1
(cd "$S/jobs/mine/files" && hf-confine --root "$S/jobs/mine" --ro /etc/povray --ro /usr/share/povray-3.7 -- \
	povray -D -V +Iscene.pov +O"$S/jobs/mine/conf.png" +W96 +H72 +FN +KFI1 +KFF8 +SF3 +EF3) >"$T/pov.log" 2>&1
a=$(python3 "$HF_ROOT/tests/pngpixels.py" "$T/"free*.png 2>/dev/null | cut -d' ' -f1,2)
b=$(python3 "$HF_ROOT/tests/pngpixels.py" "$S/jobs/mine/"conf*.png 2>/dev/null | cut -d' ' -f1,2)
check "POV-Ray under hf-confine renders pixel-identical to unconfined" [ -n "$a" -a "$a" = "$b" ]
(cd "$S/jobs/mine/files" && hf-confine --root "$S/jobs/mine" -- povray -D -V +Iscene.pov +O"$T/denied.png" +W8 +H8) >/dev/null 2>&1
check "and cannot write its image outside the job folder" [ ! -e "$T/denied.png" ]
# through the farm: the render agent runs every render confined. A job
# whose "renderer" is the hostile script tries to read another job's file.
new_spool farm
start_watcherd
start_agent h1 --slots 1
povray_job "$T/victim" 1
echo "the victim's secret" >"$T/victim/secret.txt"
drop_dir victim "$T/victim"
check "a victim job renders" wait_for 60 job_done victim
mkdir -p "$T/hostile"
cp "$HF_ROOT/tests/escape.sh" "$T/hostile/"
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = command\nscene = escape.sh\nargs = sh {files}/escape.sh %s %s\n' \
	"$SPOOL/jobs/victim/files/secret.txt" "$T/outside" >"$T/hostile/job.ini"
drop_dir hostile "$T/hostile"
check "the hostile job runs (and fails: it made no image)" wait_for 60 job_failed hostile
LOG=$(ls "$SPOOL/jobs/hostile/logs/"frame0001.try1.* 2>/dev/null | head -1)
check "its frame log says how it was confined" grep -q '^hf-confine: Landlock ABI [0-9][^:]*: read-write .*/jobs/hostile' "$LOG"
n=$(grep -c '^blocked ' "$LOG")
check "under the agent, all $n of its attempts were stopped" sh -c "[ $n -ge 10 ] && ! grep -q '^ok ' '$LOG'"
check "the victim's file is untouched" [ "$(cat "$SPOOL/jobs/victim/files/secret.txt")" = "the victim's secret" ]
check "and its frame too" [ -s "$SPOOL/jobs/victim/output/f_0001.png" ]

# path mapping: the scene names its texture by the studio's absolute path;
# the job shipped it under that path, and the render finds the copy
mkdir -p "$T/studio/studio/textures"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/studio/studio/textures/wood.png" 32 32
cat >"$T/studio/scene.pov" <<'POV'
camera { location <0, 0, -3> look_at <0, 0, 0> }
light_source { <5, 5, -5> color rgb 1 }
plane { z, 0 pigment { image_map { png "/studio/textures/wood.png" } scale 2 translate <-1, -1, 0> } finish { ambient 1 } }
POV
printf '[job]\nframes = 1\nretries = 0\n[render]\nscene = scene.pov\nwidth = 64\nheight = 48\noutput = "f_####.png"\n' >"$T/studio/job.ini"
drop_dir studio "$T/studio"
check "a scene reading /studio/textures/wood.png renders confined" wait_for 60 job_done studio
SLOG=$(ls "$SPOOL/jobs/studio/logs/"frame0001.try1.* 2>/dev/null | head -1)
check "the frame log names the mapping" grep -q '^hf-wrap: mapped /studio/textures/wood.png -> files/studio/textures/wood.png' "$SLOG"
mkdir -p "$T/studio-hand"
cp "$T/studio/studio/textures/wood.png" "$T/studio-hand/wood.png"
sed 's|"/studio/textures/wood.png"|"wood.png"|' "$T/studio/scene.pov" >"$T/studio-hand/scene.pov"
(cd "$T/studio-hand" && povray -D -V +Iscene.pov +O"$T/studio-hand/hand.png" +W64 +H48) >/dev/null 2>&1
a=$(python3 "$HF_ROOT/tests/pngpixels.py" "$T/studio-hand/hand.png" 2>/dev/null | cut -d' ' -f1,2)
b=$(python3 "$HF_ROOT/tests/pngpixels.py" "$SPOOL/jobs/studio/output/f_0001.png" 2>/dev/null | cut -d' ' -f1,2)
check "and its frame is pixel-identical to povray by hand with the texture beside the scene" [ -n "$a" -a "$a" = "$b" ]

# a kernel without Landlock: it still runs, the wrapper alone holding what
# goes through libc, and the log says so
(cd "$S/jobs/mine" && HOTFARM_NO_LANDLOCK=1 hf-confine --root "$S/jobs/mine" -- cat "$OTHER") >"$T/noll.out" 2>"$T/noll.err"
check "without Landlock the log says the wrapper alone confines it" grep -q 'no Landlock.*I/O wrapper alone' "$T/noll.err"
check "and the wrapper still stops a read of another job" sh -c "grep -q 'hf-wrap: denied reading $OTHER' '$T/noll.err' && [ ! -s '$T/noll.out' ]"
# limits and another user
(cd "$S/jobs/mine" && hf-confine --root "$S/jobs/mine" --fsize 1000 -- sh -c 'head -c 5000 /dev/zero >big; echo $?') >"$T/fs.out" 2>/dev/null
check "--fsize holds a render to its file size ($(stat -c %s "$S/jobs/mine/big" 2>/dev/null) bytes written)" [ "$(stat -c %s "$S/jobs/mine/big" 2>/dev/null)" -le 1000 ]
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 777 "$S/jobs/mine"
	u=$(cd "$S/jobs/mine" && hf-confine --root "$S/jobs/mine" --user nobody -- id -u 2>/dev/null)
	check "as root, --user runs it as that user (uid $u)" [ "$u" = "$(id -u nobody)" ]
fi

hf-confine --root relative -- true 2>"$T/bad.err"
check "a relative --root is refused (exit 111)" [ $? -eq 111 ]
done_testing
