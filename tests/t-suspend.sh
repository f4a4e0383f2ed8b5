# t-suspend.sh - hotfarm suspend and resume beside hold and release: a
# suspend stops a job's running frames at once (four renders stop, their
# tickets go back to todo/ uncounted) and holds it; hold lets what runs
# finish; the status, the page and --json tell the two apart; resume
# renders every frame once. The command package, whose renders the test
# times: each sleeps until the test lets it go on.
. "$(dirname "$0")/lib.sh"

SLEEP=47.25 # a sleep no other test runs: its processes are this test's renders
now_ms() { echo $(($(date +%s%N) / 1000000)); }
procs() { pgrep -f -- "sleep $SLEEP" | wc -l; }
renders_are() { [ "$(procs)" -eq "$1" ]; }
gone() { # PID...: none of them runs (a zombie counts as gone)
	for _p; do
		_st=
		{ read -r _st </proc/"$_p"/stat; } 2>/dev/null || continue
		case $_st in *") Z "*) ;; *) return 1 ;; esac
	done
}
tickets() { count "$SPOOL/jobs/$1/frames/$2"; }
tickets_are() { [ "$(tickets "$1" "$2")" -eq "$3" ]; }
state_shown() { hotfarm status 2>/dev/null | awk -v j="$1" -F'\t' '$1 == j { print $2 }'; }

new_spool
start_watcherd
start_agent s --slots 4

# JOB DIR FRAMES: each frame sleeps until files/go exists (the test makes
# it), then renders with POV-Ray
slow_job() {
	mkdir -p "$T/$1"
	cp "$HF_ROOT/examples/orbit/scene.pov" "$T/$1/scene.pov"
	cat >"$T/$1/run.sh" <<-EOF
	#!/bin/sh
	[ -e go ] || sleep $SLEEP
	exec povray -D -V +Iscene.pov +O"\$2" +W64 +H48 +FN +KFI1 +KFF8 +SF\$1 +EF\$1
	EOF
	printf '[job]\nframes = %s\nchunk = 1\nretries = 0\n[render]\npackage = command\nscene = run.sh\n' "$2" >"$T/$1/job.ini"
	printf 'width = 64\nheight = 48\noutput = "f_####.png"\nargs = sh run.sh {frame} {output}\n' >>"$T/$1/job.ini"
	drop_dir "$1" "$T/$1"
}

# ---- suspend: four running frames stop and go back uncounted ---------------------------------------
slow_job sus 1-4
check "four frames of the job render" wait_for 30 renders_are 4
pids=$(pgrep -f -- "sleep $SLEEP")
t0=$(now_ms)
hotfarm suspend sus >"$T/out" 2>&1
rc=$?
wait_ms 5000 gone $pids
ms=$(($(now_ms) - t0))
check "hotfarm suspend answers ($rc: $(cat "$T/out"))" grep -q "suspended" "$T/out"
# (how fast is make bench's to say: a deadline here only catches a render left running)
check "its four renders stop (in ${ms} ms)" gone $pids
check "the entry is in held/" in_state held sus
check "its four tickets are back in todo/" wait_for 5 tickets_are sus todo 4
check "none is left in active/" tickets_are sus active 0
check "no attempt is counted on them" sh -c "! grep -q '^attempt' '$SPOOL'/jobs/sus/frames/todo/*"
stopped_events() { [ "$(grep '"event":"frame_stopped"' "$SPOOL/run/events.jsonl" | grep -c '"job":"sus"')" -eq 4 ]; }
check "the event stream says four frames of it were stopped" stopped_events
check "the work they did is billed, as publishing nothing (one ok=0 line each)" \
	[ "$(cat "$SPOOL"/jobs/sus/frames/todo/* | grep -c '^billing = frame=[0-9]* ok=0')" -eq 4 ]
check "nothing of it is in output/" [ "$(count "$SPOOL/jobs/sus/output")" -eq 0 ]
check "hotfarm status shows it suspended ($(state_shown sus))" [ "$(state_shown sus)" = suspended ]
hotfarm --json status >"$T/st.json"
check "and --json" python3 -c "
import json; j={x['name']:x for x in json.load(open('$T/st.json'))}
assert j['sus']['state']=='suspended', j['sus']"
check "its status says who suspended it and how to resume" \
	grep -q '^reason = .*suspended by .*hotfarm resume sus' "$SPOOL/jobs/sus/status.ini"
page_says() { grep -q "suspended" "$SPOOL/jobs/sus/index.html" 2>/dev/null; }
check "its page says suspended" wait_for 10 page_says
active_any() { [ "$(tickets sus active)" -gt 0 ]; }
check "no frame of it starts while it is suspended (2 s)" not_within 2 active_any

# ---- hold: what runs finishes --------------------------------------------------------------------------
slow_job hld 1-2
check "two frames of a second job render" wait_for 30 renders_are 2
hotfarm hold hld >/dev/null 2>&1
check "hotfarm hold puts it in held/" in_state held hld
check "and lets its two renders run" [ "$(procs)" -eq 2 ]
check "hotfarm status shows it held, not suspended ($(state_shown hld))" [ "$(state_shown hld)" = held ]
touch "$SPOOL/jobs/hld/files/go"
pkill -f -- "sleep $SLEEP" # the sleeps end early: the renders go on to POV-Ray
check "the held job's running frames finish and are published" wait_for 30 tickets_are hld done 2
check "no attempt is counted on them" sh -c "! grep -q '^attempt' '$SPOOL'/jobs/hld/frames/done/*"

# ---- resume: every frame rendered once ------------------------------------------------------------------
touch "$SPOOL/jobs/sus/files/go"
hotfarm resume sus >"$T/out" 2>&1
check "hotfarm resume answers ($(cat "$T/out"))" grep -q "resumed" "$T/out"
check "the resumed job is rendered" wait_for 60 job_done sus
check "its four frames are in output/" [ "$(ls "$SPOOL/jobs/sus/output" | grep -c '^f_000[1-4]\.png$')" -eq 4 ]
check "each published once: one ok=1 bill a frame, beside the suspended renders' bills" \
	[ "$(cat "$SPOOL"/jobs/sus/frames/done/* | grep -c '^billing = frame=[0-9]* ok=1')" -eq 4 ]
check "billing.ini bills all 8 attempts that ran" grep -q '^attempts = 8$' "$SPOOL/jobs/sus/billing.ini"
check "no attempt counted" sh -c "! grep -q '^attempt' '$SPOOL'/jobs/sus/frames/done/*"
hotfarm resume sus 2>"$T/err"
check "resume of a job that is not held: 100 ($(cat "$T/err"))" [ $? -eq 100 ]
hotfarm suspend sus 2>"$T/err"
check "suspend of a done job: 100 ($(cat "$T/err"))" [ $? -eq 100 ]
hotfarm release hld >/dev/null 2>&1
check "a released held job finishes" wait_for 60 job_done hld

check "watcherd and the agent are still running" sh -c "kill -0 $WATCHERD && kill -0 $AGENT"
stop_pids
done_testing
