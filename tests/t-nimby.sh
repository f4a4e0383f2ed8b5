# t-nimby.sh - a render agent on an artist's desktop (render-agent --nimby):
# while the user types, it takes no frame; once they have been idle for
# [agent] nimby_idle it renders; when they come back it stops its renders
# within a second and gives the frames back to todo/ without counting an
# attempt; once they leave again the job ends with every frame published
# once. `hotfarm hosts` (and --json) says what the user is doing.
#
# The "terminal" is a file the test owns, named by [agent] nimby_devices:
# its atime is the user's last keystroke (touch -a sets it).
. "$(dirname "$0")/lib.sh"

# our renders sleep this odd length, so that pgrep finds only ours
SLEEP=3.7$(($$ % 10000))
now_ms() { echo $(($(date +%s%N) / 1000000)); }
not() { ! "$@"; }

new_spool
TTY=$T/tty
: >"$TTY"
cat >>"$SPOOL/conf/hotfarm.ini" <<INI
nimby_idle = 2
nimby_devices = $T/no-such-device* $TTY
INI

# the user: at the keyboard (a keystroke every 0.3 s, in the background),
# or gone (their last keystroke a minute ago)
TYPIST=
typing() {
	touch -a "$TTY"
	(while :; do touch -a "$TTY"; sleep 0.3; done) &
	TYPIST=$!
	_pids="$_pids $TYPIST"
}
stop_typing() { [ -z "$TYPIST" ] || { kill "$TYPIST"; wait "$TYPIST" 2>/dev/null; TYPIST=; }; }
leave() { stop_typing; touch -a -d "@$(($(date +%s) - 60))" "$TTY"; }

# a job of 4 frames; each render sleeps, then copies a finished image
mkdir -p "$T/job"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/job/good.png" 64 48
printf 'sleep %s\ncp "$(dirname "$0")/good.png" "$2"\n' "$SLEEP" >"$T/job/run.sh"
cat >"$T/job/job.ini" <<'INI'
[job]
frames = 1-4
retries = 1
[render]
package = command
scene = run.sh
width = 64
height = 48
output = "f_####.png"
args = sh {files}/run.sh {frame} {output}
INI

J=$SPOOL/jobs/desk/frames
taken() { ls "$J/active" 2>/dev/null | grep -q '@ws\.'; }
renders() { pgrep -f -- "sleep $SLEEP" | wc -l; }
renders_are() { [ "$(renders)" -eq "$1" ]; }
# the host gave everything back: no ticket of it in active/, no render of it
given_back() { ! taken && renders_are 0; }
todo_is() { [ "$(count "$J/todo")" -eq "$1" ]; }
hosts_say() { hotfarm hosts 2>/dev/null | grep -q -- "^ws: up, nimby: $1"; }
logged() { grep -q -- "$1" "$SPOOL.agent-ws.log"; }
show() {
	for _d in todo active done; do diag "frames/$_d: $(echo $(ls "$J/$_d" 2>/dev/null))"; done
	diag "hosts: $(hotfarm hosts 2>&1 | head -1)"
	tail -n 12 "$SPOOL.agent-ws.log" | sed 's/^/# agent: /'
	return 1
}

typing
start_watcherd
start_agent ws --nimby --slots 2
check "hosts says the desktop's user is active" wait_for 5 hosts_say "user active" || show
check "the agent says it waits for the user to be idle" logged "nimby: the user is active"

drop_dir desk "$T/job"
check "the job is queued with 4 frames in todo/" wait_for 20 sh -c "ls '$SPOOL/queue' | grep -q -- '-desk\$' && [ \$(ls '$J/todo' | wc -l) -eq 4 ]"
# 4 s: twice nimby_idle, while the user types
check "while the user types, no frame is taken (4 s)" not wait_ms 4000 taken || show
check "... and nothing renders" renders_are 0

leave
check "once the user is idle for nimby_idle, two frames render" wait_for 10 renders_are 2 || show
check "hosts says idle and rendering" wait_for 5 hosts_say "idle 1 min, rendering" || show
hotfarm hosts --json >"$T/hosts.json"
check "hosts --json says it too" python3 -c "
import json, sys
h = json.load(open(sys.argv[1]))[0]
assert h['nimby'].startswith('idle 1 min'), h['nimby']" "$T/hosts.json"

# the user comes back: the renders stop within a second
t0=$(now_ms)
typing
wait_ms 5000 given_back
ms=$(($(now_ms) - t0))
diag "the renders stopped ${ms} ms after the keystroke"
# (how fast is make bench's to say: the deadline here only catches renders
# left running; the agent looks every 250 ms and stops them at once)
check "the user is back: the renders stop and their tickets leave active/ (${ms} ms)" given_back || show
check "the frames are back in todo/ (4)" wait_for 2 todo_is 4 || show
check "... with no attempt counted" not grep -q '^attempt' "$J"/todo/*
check "... and none was published" [ "$(count "$SPOOL/jobs/desk/output")" -eq 0 ]
check "the agent says why it gave them back" logged "nimby: the user is back ($TTY used 0 s ago): stopping 2 renders"
check "hosts says the user is active again" wait_for 5 hosts_say "user active" || show
check "while they type, nothing is taken again (3 s)" not wait_ms 3000 taken || show

leave
check "once they leave again, the job is done" wait_for 60 job_done desk || show
check "every frame is in output/, once" [ "$(ls "$SPOOL/jobs/desk/output" | tr '\n' ' ')" = "f_0001.png f_0002.png f_0003.png f_0004.png " ]
check "its 4 tickets are done, none failed" sh -c "[ \$(ls '$J/done' | wc -l) -eq 4 ] && [ \$(ls '$J/failed' | wc -l) -eq 0 ]"
check "no done ticket counts a failed attempt" not grep -q '^attempt' "$J"/done/*
check "hosts says idle, nothing to render" wait_for 5 hosts_say "idle 1 min, nothing to render" || show

# SIGTERM: the agent's folder goes, nimby marker with it
kill -TERM "$AGENT"
check "a stopped agent leaves no nimby marker" wait_for 10 not test -e "$SPOOL/hosts/ws/nimby"

done_testing
