# t-hostile.sh - a hostile render against the real farm: a command job
# (tests/hostile.sh) attacks through its own job folder while another
# artist's POV-Ray job renders. Every attempt is stopped, the farm keeps
# serving the other job, and nothing outside the render's own folder is
# written: no FIFO, no link, no edited control file, no token.
. "$(dirname "$0")/lib.sh"

new_spool
echo "log_max = 1M" >>"$SPOOL/conf/hotfarm.ini"
mkdir -p "$SPOOL/limits/lic"
touch "$SPOOL/limits/lic/t1"
start_watcherd
start_agent a --slots 2

# the other artist's job: its frames by hand, to compare
povray_job "$T/victim" 1-4
drop_dir victim "$T/victim"
wait_for 20 queued victim
snap() { (cd "$SPOOL" && find limits conf -exec ls -ld --time-style=+%s.%N {} + | sort) >"$1"; }
snap "$T/before"

mkdir -p "$T/hostile"
cp "$HF_ROOT/tests/hostile.sh" "$T/hostile/"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/hostile/in.png" 64 48
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "h_####.png"\nargs = sh {files}/hostile.sh %s victim {output}\n' \
	"$SPOOL" >"$T/hostile/job.ini"
drop_dir hostile "$T/hostile"
in_state_any() { in_state done "$1" || in_state failed "$1"; }
check "the hostile job ends" wait_for 60 in_state_any hostile
check "the hostile job renders its own frame (done)" wait_for 30 job_done hostile
LOG=$(ls "$SPOOL/jobs/hostile/logs/"frame0001.try1.* 2>/dev/null | head -1)
n=$(grep -c '^blocked ' "$LOG")
grep '^ESCAPED \|^blocked ' "$LOG" | sed 's/^/# /'
check "all $n of its attempts were stopped" sh -c "[ $n -ge 17 ] && ! grep -q '^ESCAPED ' '$LOG'"

check "the other job is done" wait_for 90 job_done victim
check "with its 4 frames" [ "$(ls "$SPOOL/jobs/victim/output" | grep -c '^f_.*\.png$')" -eq 4 ]
check "and its 4 tickets done" [ "$(ls "$SPOOL/jobs/victim/frames/done" | wc -l)" -eq 4 ]
check "no FIFO anywhere in the spool" [ -z "$(find "$SPOOL" -type p)" ]
check "no link anywhere in the spool" [ -z "$(find "$SPOOL" -type l)" ]
check "the job's description is the farm's (no mail address added)" sh -c "! grep -q evil '$SPOOL/jobs/hostile/job.ini'"
check "its status is the farm's" grep -q '^state = "done"$' "$SPOOL/jobs/hostile/status.ini"
check "its ticket is billed (the farm's billing line)" grep -q '^billing = ' "$SPOOL/jobs/hostile/frames/done/"*
check "its folders are the farm's (logs/, frames/, previews/ are folders)" \
	sh -c "[ -d '$SPOOL/jobs/hostile/logs' ] && [ -d '$SPOOL/jobs/hostile/frames/done' ] && [ -d '$SPOOL/jobs/hostile/previews' ] && [ ! -e '$SPOOL/jobs/hostile/logs.old' ]"
check "its output holds only its frame" [ "$(ls "$SPOOL/jobs/hostile/output")" = h_0001.png ]
check "no page was edited" sh -c "! grep -rq --include=index.html 'alert(1)' '$SPOOL/jobs' '$SPOOL/status'"
snap "$T/after"
check "limits/ and conf/ are untouched" cmp -s "$T/before" "$T/after"
# (the agent lets a slot's folder go once it sees the job over: a moment
# after the job's entry reached done/)
work_gone() { [ -z "$(ls -A "$SPOOL/jobs/hostile/work" 2>/dev/null)" ]; }
check "its render folder is gone" wait_for 10 work_gone

# a log flood: 40 MB of output, then its image
mkdir -p "$T/flood"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/flood/in.png" 64 48
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = sh -c "head -c 40000000 /dev/zero | tr \\\\0 x; cp {files}/in.png {output}"\n' >"$T/flood/job.ini"
drop_dir flood "$T/flood"
check "a job flooding its log renders (done)" wait_for 60 job_done flood
FLOG=$(ls "$SPOOL/jobs/flood/logs/"frame0001.try1.* 2>/dev/null | head -1)
size=$(stat -c %s "$FLOG" 2>/dev/null || echo 0)
check "its log stops at log_max (1M): $size bytes" [ "$size" -gt 1000000 -a "$size" -lt 1100000 ]
check "and says the rest was dropped" grep -q '^# hotfarm: the log reached \[agent\] log_max' "$FLOG"
# a render that outlives its frame: a setsid daemon burning CPU, a double
# fork, an env -i sleeper, one holding a lock in its own folder; the frame
# ends once the daemon has burnt a second of CPU. All of it goes with the
# attempt, and its CPU is billed.
mkdir -p "$T/daemon"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/daemon/in.png" 64 48
cat >"$T/daemon/run.sh" <<'EOF'
M=hf-daemon-$1
# each names itself by its $0 (in its command line), and says its pid
# (the daemon says when it has used a second of CPU: a render sees no
# other process's /proc)
setsid sh -c 'echo "pid $$"; i=0; while :; do i=$((i + 1)); [ $((i % 20000)) = 0 ] || continue
	times >"$TMPDIR/times"; read a b <"$TMPDIR/times"; u=${a#*m}
	{ [ "${a%%m*}" != 0 ] || [ "${u%%.*}" -ge 1 ]; } && : >"$TMPDIR/burnt"; done' $M-burn </dev/null &
(sh -c 'echo "pid $$"; sleep 300; :' $M-fork &) </dev/null
env -i sh -c 'echo "pid $$"; sleep 300; :' $M-env </dev/null &
(flock "$TMPDIR/held" sh -c 'echo "pid $$"; sleep 300; :' $M-lock &) </dev/null
# the frame ends once the daemon has burnt a second of CPU
while [ ! -e "$TMPDIR/burnt" ]; do sleep 0.1; done
cp "$2/in.png" "$3"
EOF
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = sh {files}/run.sh %s {files} {output}\n' $$ >"$T/daemon/job.ini"
drop_dir daemon "$T/daemon"
started() { [ "$(pgrep -f "hf-daemon-$$-" | wc -l)" -ge 4 ]; }
check "a render starts a setsid daemon, a double fork, an env -i and a lock holder" wait_for 30 started
check "its job is done" wait_for 60 job_done daemon
DLOG=$(ls "$SPOOL/jobs/daemon/logs/"frame0001.try1.* 2>/dev/null | head -1)
dpids=$(sed -n 's/^pid \([0-9]*\)$/\1/p' "$DLOG")
gone() {
	pgrep -f "hf-daemon-$$-" >/dev/null && return 1
	for p in $dpids; do [ -d /proc/$p ] && [ "$(cut -d' ' -f3 /proc/$p/stat)" != Z ] && return 1; done
	return 0
}
check "nothing it started survives the frame ($(echo $dpids | wc -w) pids it said)" wait_for 3 gone
pgrep -af "hf-daemon-$$-" | sed 's/^/# left: /'
cpu=$(sed -n 's/^billing = .* user=\([0-9.]*\) sys=\([0-9.]*\) .*/\1 \2/p' "$SPOOL/jobs/daemon/frames/done/"* | awk '{ print $1 + $2 }')
check "its bill holds the second of CPU its daemon used ($cpu s)" awk -v c="$cpu" 'BEGIN { exit !(c >= 0.95) }'

# the network: a render sends a UDP datagram and connects to a path-named
# Unix socket (a local daemon's); a listener records what reaches it. Off
# by default; a package with [confine] network = yes gets it.
cat >"$T/listen.py" <<'EOF'
import os, select, socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); x.bind(sys.argv[1]); x.listen(8)
os.chmod(sys.argv[1], 0o777)
open(sys.argv[2] + ".port", "w").write(str(u.getsockname()[1]))
while True:
    for s in select.select([u, x], [], [])[0]:
        with open(sys.argv[2], "a") as f:
            f.write(("udp\n" if s is u else "unix\n"))
        if s is u:
            s.recvfrom(100)
        else:
            s.accept()[0].close()
EOF
python3 "$T/listen.py" "$T/daemon.sock" "$T/heard" &
_pids="$_pids $!"
wait_for 10 test -s "$T/heard.port"
net_job() { # NAME PACKAGE
	mkdir -p "$T/$1"
	cp "$HF_ROOT/tests/netprobe.py" "$T/$1/"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/$1/in.png" 64 48
	printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = %s\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = sh -c "/usr/bin/python3 {files}/netprobe.py %s %s; cp {files}/in.png {output}"\n' \
		"$2" "$(cat "$T/heard.port")" "$T/daemon.sock" >"$T/$1/job.ini"
	drop_dir "$1" "$T/$1"
}
net_job offline command
check "a render trying the network ends (done)" wait_for 60 job_done offline
NLOG=$(ls "$SPOOL/jobs/offline/logs/"frame0001.try1.* 2>/dev/null | head -1)
grep '^ESCAPED \|^blocked ' "$NLOG" | sed 's/^/# /'
check "it says both attempts were refused" [ "$(grep -c '^blocked ' "$NLOG")" -eq 2 ]
check "and the listener heard nothing" [ ! -s "$T/heard" ]
sed 's/^\[render\]$/[confine]\nnetwork = yes\n[render]/' "$HF_ROOT/conf/packages/command.ini" >"$SPOOL/conf/packages/netcommand.ini"
kill -HUP "$AGENT"
wait_for 10 grep -q 'netcommand' "$SPOOL/hosts/a/host.ini"
net_job online netcommand
check "with [confine] network = yes, the render ends (done)" wait_for 60 job_done online
check "and its datagram and connection arrive" wait_for 5 sh -c "grep -q udp '$T/heard' && grep -q unix '$T/heard'"

# processes: render_pids holds a fork bomb
echo "render_pids = 16" >>"$SPOOL/conf/hotfarm.ini"
kill -HUP "$AGENT"
wait_for 10 grep -q 're-read conf' "$SPOOL.agent-a.log"
mkdir -p "$T/bomb"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/bomb/in.png" 64 48
cat >"$T/bomb/bomb.py" <<'EOF'
import os, shutil, sys, time
n = 0
for i in range(100):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    except OSError:
        pass
print("started", n, flush=True)
shutil.copy(sys.argv[1], sys.argv[2])
EOF
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = /usr/bin/python3 {files}/bomb.py {files}/in.png {output}\n' >"$T/bomb/job.ini"
drop_dir bomb "$T/bomb"
check "a render starting 100 processes ends (done)" wait_for 60 job_done bomb
BLOG=$(ls "$SPOOL/jobs/bomb/logs/"frame0001.try1.* 2>/dev/null | head -1)
started=$(sed -n 's/^started \([0-9]*\)$/\1/p' "$BLOG")
check "render_pids = 16 held it (it started ${started:-?})" [ -n "$started" ] && [ "$started" -lt 16 ]

# render_user: as root, renders run as an unprivileged user who owns its
# render folder and nothing of the farm's
if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
	echo "# render_user: not checked (the test needs root and the user nobody)"
	done_testing
fi
kill -TERM "$AGENT"
wait "$AGENT" 2>/dev/null
stop_watcherd
chmod 755 "$T" # the render user reads the job's files
new_spool ru
echo "render_user = nobody" >>"$SPOOL/conf/hotfarm.ini"
start_watcherd
start_agent r --slots 2
povray_job "$T/rupov" 1-3
drop_dir rupov "$T/rupov"
sed -i "s|^args = .*|args = sh {files}/hostile.sh $SPOOL rupov {output}|" "$T/hostile/job.ini"
drop_dir hostile "$T/hostile"
check "render_user = nobody: POV-Ray renders (done)" wait_for 60 job_done rupov
for f in 1 2 3; do
	# (POV-Ray puts the frame number before the extension)
	(cd "$T/rupov" && povray -D -V +Iscene.pov +O"$T/rupov-$f-.png" +W64 +H48 +FN +KFI1 +KFF3 +SF$f +EF$f) >/dev/null 2>&1
done
same=0
px() { python3 "$HF_ROOT/tests/pngpixels.py" "$1" | cut -d' ' -f1-2; }
for f in 1 2 3; do
	[ "$(px "$T/rupov-$f-$f.png")" = "$(px "$SPOOL/jobs/rupov/output/$(printf 'f_%04d.png' $f)")" ] && same=$((same + 1))
done
check "its frames are pixel-identical to POV-Ray by hand ($same of 3)" [ "$same" -eq 3 ]
check "the hostile job ends (done)" wait_for 60 job_done hostile
RLOG=$(ls "$SPOOL/jobs/hostile/logs/"frame0001.try1.* 2>/dev/null | head -1)
check "it ran as nobody (uid $(id -u nobody))" grep -qx "uid $(id -u nobody)" "$RLOG"
check "and every attempt was stopped" sh -c "grep -q '^blocked ' '$RLOG' && ! grep -q '^ESCAPED ' '$RLOG'"
check "the frames in output/ are the farm's (root's), not nobody's" [ -z "$(find "$SPOOL/jobs/rupov/output" "$SPOOL/jobs/hostile/output" ! -user root)" ]
check "nothing in the spool belongs to nobody once the jobs ended" [ -z "$(find "$SPOOL" -user nobody)" ]
done_testing
