# t-confine.sh - hf-confine: a hostile render package (tests/escape.c, built
# dynamically and statically, and tests/escape.sh) tries 44 ways out of its
# job folder: other jobs, another site's jobs, writes outside, links,
# /proc, raw syscalls, handles, exec, TCP, UDP, signals, abstract and
# path-named Unix sockets, io_uring, a user namespace, ptrace. Run
# unconfined (the control) they get out; under hf-confine every one is
# stopped, and the output names the layer that stopped it; --network lets
# UDP and TCP out again. The agent's way (tests/sandboxtest.c: the sandbox
# built in the parent, entered in a vfork child) stops the same and leaves
# the parent free. POV-Ray renders the same pixels confined as not.
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

# listeners for the network attempts, so that unconfined they succeed; each
# writes who reached it (the tag the attempt sends) to $T/heard, so that an
# attempt that reports "blocked" but got through is caught
cat >"$T/listen.py" <<'PY'
import os, select, socket, sys
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(64)
a = socket.socket(socket.AF_UNIX); a.bind("\0hotfarm-escape-" + sys.argv[1]); a.listen(64)
p = socket.socket(socket.AF_UNIX); p.bind(sys.argv[3]); p.listen(64)
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); d.bind(("127.0.0.1", 0))
kind = {t: "tcp", a: "abstract", p: "unix", d: "udp"}
heard = open(sys.argv[4], "a", buffering=1)
open(sys.argv[2] + ".new", "w").write("%d %d\n" % (t.getsockname()[1], d.getsockname()[1]))
os.rename(sys.argv[2] + ".new", sys.argv[2])
while True:
    for s in select.select(list(kind), [], [])[0]:
        if s is d:
            data = d.recv(512)
        else:
            c = s.accept()[0]
            c.settimeout(2)
            try:
                data = c.recv(512)
            except OSError:
                data = b""
            c.close()
        heard.write("%s %s\n" % (kind[s], data.decode(errors="replace")))
PY
: >"$T/heard"
python3 "$T/listen.py" $$ "$T/port" "$T/listen.sock" "$T/heard" &
_pids="$_pids $!"
wait_for 10 test -s "$T/port"
export ESCAPE_PORT=$(cut -d' ' -f1 "$T/port") ESCAPE_UDP_PORT=$(cut -d' ' -f2 "$T/port") \
	ESCAPE_ABSTRACT=hotfarm-escape-$$ ESCAPE_UNIX=$T/listen.sock ESCAPE_PID=$$
OTHER=$S/jobs/other/secret.txt SITE=$S/sites/c/jobs/x/secret.txt

run() { # OUT PROGRAM...: in the job folder
	_r=$1; shift
	(cd "$S/jobs/mine" && "$@") >"$_r.out" 2>"$_r.err"
}
# the control: unconfined, the attempts are real and get out
ESCAPE_TAG=free run "$T/free" "$T/escape" "$OTHER" "$T/outside" "$SITE"
free=$(grep -c '^ok ' "$T/free.out")
check "unconfined, the hostile program gets out $free ways (the attempts are real)" [ "$free" -ge 25 ]
for a in udp-send unix-path-connect io-uring-setup unshare-user ptrace-attach; do
	check "unconfined, $a gets out" grep -q "^ok $a\$" "$T/free.out"
done
check "and the listener heard its UDP datagram and its path-named Unix socket" \
	wait_for 10 sh -c "grep -q '^udp free\$' '$T/heard' && grep -q '^unix free\$' '$T/heard'"
# put back what the control changed
echo "the other job's secret" >"$S/jobs/other/secret.txt"
rm -rf "$T/outside"/* "$S/jobs/mine"
mkdir -p "$S/jobs/mine/files"

confined() { # OUT PROGRAM ARGS...
	_o=$1; shift
	run "$_o" hf-confine --root "$S/jobs/mine" --ro "$T/escape" --ro "$T/escape-static" --ro "$HF_ROOT/tests/escape.sh" -- "$@"
}
layer() { # ERRFILE NAME WHY: the layer that stopped attempt NAME (the wrapper
	# logs its denials right after the attempt's marker; what it let through,
	# or never saw, the kernel stopped: the calls the seccomp filter refuses
	# at system call entry, before any Landlock check, were stopped by it)
	if awk -v a="attempt $2" '$0 == a { on = 1; next } /^attempt / { on = 0 } on && /^hf-wrap: denied/ { f = 1 } END { exit !f }' "$1"; then
		echo "the I/O wrapper"
	else
		case $3 in
		socket:* | io_uring_setup:* | unshare:* | ptrace:*) echo "seccomp (kernel)" ;;
		*) echo "Landlock (kernel)" ;;
		esac
	fi
}
layers() { # KIND: each attempt of $T/KIND.out, its verdict and layer
	grep '^ok \|^blocked ' "$T/$1.out" | while read -r verdict name rest; do
		if [ "$verdict" = ok ]; then
			echo "# $1 $name: ok (got out)"
		else
			echo "# $1 ${name%:}: ${verdict} (${rest}) by $(layer "$T/$1.err" "${name%:}" "$rest")"
		fi
	done
}
for kind in escape escape-static; do
	ESCAPE_TAG=$kind confined "$T/$kind" "$T/$kind" "$OTHER" "$T/outside" "$SITE"
	check "$kind: its own folder still works" grep -q '^control-ok' "$T/$kind.out"
	n=$(grep -c '^blocked ' "$T/$kind.out")
	check "$kind: all $n attempts stopped" sh -c "[ $n -ge 32 ] && ! grep -q '^ok ' '$T/$kind.out'"
	layers $kind
done
wrapper_stopped=$(layers escape | grep -c 'by the I/O wrapper$')
check "the wrapper stopped $wrapper_stopped attempts of the dynamic program itself" [ "$wrapper_stopped" -ge 15 ]
static_wrapped=$(grep -c '^hf-wrap: denied' "$T/escape-static.err")
check "the static program bypasses the wrapper ($static_wrapped denials logged): the kernel alone stopped it" [ "$static_wrapped" -eq 0 ]
check "the other job's file is untouched" [ "$(cat "$OTHER")" = "the other job's secret" ]
check "nothing was written outside" [ -z "$(ls -A "$T/outside")" ]
check "hf-confine says in the log what it allowed" grep -q 'hf-confine: Landlock ABI [0-9][^:]*: read-write' "$T/escape.err"

confined "$T/script" sh "$HF_ROOT/tests/escape.sh" "$OTHER" "$T/outside"
n=$(grep -c '^blocked ' "$T/script.out")
check "the shell script: all $n attempts stopped" sh -c "[ $n -ge 10 ] && ! grep -q '^ok ' '$T/script.out'"
grep '^ok \|^blocked ' "$T/script.out" | while read -r verdict name; do echo "# script $name: $verdict"; done
total=$(($(grep -c '^blocked ' "$T/escape.out") + $(grep -c '^blocked ' "$T/escape-static.out") + n))
check "$total ways out tried under confinement, none worked" [ "$total" -ge 76 ]

# the agent's way: the sandbox built in its own process, entered in a vfork
# child just before exec (tests/sandboxtest.c, linked with wrapper/sandbox.c)
cc -std=c17 -Wall -Wextra -Werror -O1 -I"$HF_ROOT/wrapper" -o "$T/sandboxtest" "$HF_ROOT/tests/sandboxtest.c" \
	"$HF_ROOT/wrapper/sandbox.c" -lseccomp -lpthread 2>"$T/cc-sandbox.log"
check "the agent-side driver builds (tests/sandboxtest.c with wrapper/sandbox.c)" [ -x "$T/sandboxtest" ]
mkdir -p "$T/parent-side"
for kind in escape escape-static; do
	ESCAPE_TAG=vfork run "$T/vfork-$kind" "$T/sandboxtest" escape "$S/jobs/mine" "$BIN/libhfwrap.so" \
		"$T/parent-side/wrote" "$T/escape" "$T/escape-static" -- "$T/$kind" "$OTHER" "$T/outside" "$SITE"
	grep '^blocked ' "$T/$kind.out" | cut -d: -f1 >"$T/want"
	grep '^blocked ' "$T/vfork-$kind.out" | cut -d: -f1 >"$T/got"
	check "vfork + sandbox_enter, $kind: the same $(wc -l <"$T/got") attempts stopped, none got out" \
		sh -c "cmp -s '$T/want' '$T/got' && ! grep -q '^ok ' '$T/vfork-$kind.out'"
	layers vfork-$kind | grep 'udp-send\|unix-path\|io-uring\|unshare\|ptrace'
done
check "the frame log line is hf-confine's" grep -q '^hf-confine: Landlock ABI [0-9][^:]*: read-write' "$T/vfork-escape.err"
check "the parent, after its child ran confined, still writes outside the root" \
	sh -c "grep -q '^parent wrote-outside yes' '$T/vfork-escape.out' && [ -s '$T/parent-side/wrote' ]"
check "and so does its other thread" grep -q '^parent thread-wrote-outside yes' "$T/vfork-escape.out"
check "the parent can still open a socket, has no no_new_privs and no seccomp filter" \
	sh -c "grep -q '^parent socket yes' '$T/vfork-escape.out' && grep -q '^parent no-new-privs 0 seccomp 0' '$T/vfork-escape.out'"
check "the other job's file is still untouched, nothing was written outside" \
	sh -c "[ \"\$(cat '$OTHER')\" = \"the other job's secret\" ] && [ -z \"\$(ls -A '$T/outside')\" ]"
"$T/sandboxtest" x32 "$S/jobs/mine" >"$T/x32.out" 2>&1
check "an x32 system call is killed ($(cat "$T/x32.out"))" grep -q '^x32 killed by SIGSYS' "$T/x32.out"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 777 "$S/jobs/mine"
	"$T/sandboxtest" user "$S/jobs/mine" nobody >"$T/user.out" 2>&1
	check "a vfork child becomes nobody ($(head -1 "$T/user.out")); the parent and its thread stay root" \
		sh -c "[ \"\$(head -1 '$T/user.out')\" = $(id -u nobody) ] && grep -q '^parent uid 0 thread 0 child-exit 0' '$T/user.out'"
fi
diag "$("$T/sandboxtest" bench "$S/jobs/mine" "$BIN/libhfwrap.so" "$BIN/hf-confine" 200)"
# (seconds after the confined runs: what got through would have been heard)
check "the listener heard nothing from a confined run" sh -c "! grep -v ' free\$' '$T/heard'"

# --network lets UDP and TCP out; the rest stays shut
ESCAPE_TAG=network run "$T/net" hf-confine --network --root "$S/jobs/mine" --ro "$T/escape-static" -- \
	"$T/escape-static" "$OTHER" "$T/outside" "$SITE"
check "with --network, a UDP datagram to 127.0.0.1 goes out" grep -q '^ok udp-send' "$T/net.out"
check "  and the listener got it" wait_for 10 grep -q '^udp network$' "$T/heard"
check "with --network, a TCP connection to 127.0.0.1 is made" grep -q '^ok tcp-connect' "$T/net.out"
check "  and the listener got it" wait_for 10 grep -q '^tcp network$' "$T/heard"
check "with --network, only the sockets got out ($(echo $(grep '^ok ' "$T/net.out" | cut -d' ' -f2)))" \
	sh -c "! grep '^ok ' '$T/net.out' | grep -qv '^ok \(udp-send\|tcp-connect\|unix-path-connect\)\$'"
check "  and the log says network allowed" grep -q '^hf-confine: Landlock.*; network allowed' "$T/net.err"
check "with --network, abstract sockets and signals out are still stopped (Landlock's scopes)" \
	sh -c "grep -q '^blocked abstract-unix-socket: connect:' '$T/net.out' && grep -q '^blocked signal-outside' '$T/net.out'"
layers net | grep 'tcp-connect\|signal\|socket\|udp-send\|unix-path'

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
