# t-agent-faults.sh - how render agents handle failure: retries, hosts
# blocked after failing too often, per-frame timeouts, hung renders, blank
# images, cancel (by command and by a file in cancel/), license tokens, an
# agent killed with SIGKILL (seen by watcherd, and restarted under the same
# name) and watcherd killed with SIGKILL while frames render; two spools
# whose agents have one name leave each other's renders alone.
#
# Each case has its own spool and daemons and runs in a background
# subshell, so their waits overlap (about 16 s in all when everything
# passes). FAULTS="cancel restart" runs only those cases.
. "$(dirname "$0")/lib.sh"

# Our renders sleep for these odd lengths, so pgrep finds only ours.
U=$(($$ % 10000))
SLEEP_TIMEOUT=30.1$U
SLEEP_HANG=60.2$U
SLEEP_CANCEL=30.3$U
SLEEP_ORPHAN=4.4$U
SLEEP_TWIN=60.5$U

# ---- helpers ---------------------------------------------------------------

now_ms() { echo $(($(date +%s%N) / 1000000)); }
not() { ! "$@"; }
# kill_left PGID: kill what a SIGKILLed agent left running, if that group
# is still ours (its PID may since have gone to a render of another case)
kill_left() { [ -n "$1" ] && pkill -KILL -g "$1" -f -- "$SPOOL/" 2>/dev/null; true; }
# show_agent NAME JOB: after a failed check, what agent NAME logged and
# where JOB's tickets are, as TAP comments
show_agent() {
	for _d in todo active done; do diag "$2 frames/$_d: $(echo $(ls "$SPOOL/jobs/$2/frames/$_d" 2>/dev/null))"; done
	tail -n 15 "$SPOOL.agent-$1.log" | sed 's/^/# agent: /'
	return 1
}
# procs PATTERN: how many processes have PATTERN in their command line
procs() { pgrep -f -- "$1" | wc -l; }
no_procs() { [ "$(procs "$1")" -eq 0 ]; }
nprocs_is() { [ "$(procs "$2")" -eq "$1" ]; }
# jfiles JOB SUBDIR: how many files jobs/JOB/SUBDIR holds (dot files aside)
jfiles() { count "$SPOOL/jobs/$1/$2"; }
jfiles_is() { [ "$(jfiles "$1" "$2")" -eq "$3" ]; }
jfiles_ge() { [ "$(jfiles "$1" "$2")" -ge "$3" ]; }
# active_on JOB HOST: a ticket of JOB is claimed by a slot of HOST
active_on() { ls "$SPOOL/jobs/$1/frames/active" 2>/dev/null | grep -q "@$2\.[0-9]*\$"; }
# reason JOB: the job's status.ini reason
job_reason() { sed -n 's/^reason *= *//p' "$SPOOL/jobs/$1/status.ini" 2>/dev/null; }
reason_has() { job_reason "$1" | grep -q -- "$2"; }
outputs() { ls "$SPOOL/jobs/$1/output" 2>/dev/null | grep -c '\.png$'; }
has_output() { [ -f "$SPOOL/jobs/$1/output/$2" ]; }
has_outputs() { _j=$1; shift; for _o; do has_output "$_j" "$_o" || return 1; done; }
# gone PID...: none of these processes runs (a zombie counts as gone);
# builtins only, so that polling it is quick even on a busy machine
gone() {
	for _p; do
		_st=
		{ read -r _st </proc/"$_p"/stat; } 2>/dev/null || continue
		case $_st in *") Z "*) ;; *) return 1 ;; esac
	done
}
# stop_time PID...: after a cancel, wait (at most 5 s) until these are gone
# and print how many ms that took
stop_time() {
	_t0=$(now_ms)
	wait_ms 5000 gone "$@"
	echo $(($(now_ms) - _t0))
}
# stopped_within MS LIMIT: the cancelled renders are gone, within LIMIT ms
stopped_within() { [ "$1" -le "$2" ] && no_procs "sleep $SLEEP_CANCEL"; }
# slot_busy HOST N: hosts/HOST/slot.N says busy; slot_pid HOST N: its pid
# (the render's process group)
slot_busy() { grep -q '^state = busy' "$SPOOL/hosts/$1/slot.$2" 2>/dev/null; }
slot_pid() { sed -n 's/^pid = //p' "$SPOOL/hosts/$1/slot.$2" 2>/dev/null; }
slots_idle() {
	for _s in "$SPOOL/hosts/$1"/slot.*; do
		grep -q '^state = idle' "$_s" || return 1
	done
}

# cmd_job DIR FRAMES ARGS: a command-package job in DIR (the scene is
# DIR/run.sh, written by render_script or by hand; DIR/scene.pov is the
# orbit example). Env: RETRIES, and JOB_X (more lines for [job]).
cmd_job() {
	mkdir -p "$1"
	[ -f "$1/run.sh" ] || printf '#!/bin/sh\nexit 0\n' >"$1/run.sh"
	cp "$HF_ROOT/examples/orbit/scene.pov" "$1/scene.pov"
	{
		printf '[job]\nframes = %s\nretries = %s\n' "$2" "${RETRIES:-2}"
		[ -n "${JOB_X:-}" ] && printf '%s\n' "$JOB_X"
		printf '[render]\npackage = command\nscene = run.sh\nwidth = 64\nheight = 48\noutput = "f_####.png"\n'
		printf 'args = %s\n' "$3"
	} >"$1/job.ini"
}
RUN_ARGS='sh {files}/run.sh {frame} {output}'
# render_script DIR [PRESLEEP [TIMES]]: DIR/run.sh renders frame $1 into
# $2 with POV-Ray, after sleeping PRESLEEP seconds; the file TIMES (in the
# job's folder: renders are confined to it) gets a line "start F NS" and one
# "end F NS" per render.
render_script() {
	mkdir -p "$1"
	cat >"$1/run.sh" <<-EOF
	#!/bin/sh
	f=\$1 out=\$2
	times='${3:-}'
	[ -n "\$times" ] && echo "start \$f \$(date +%s%N)" >>"\$times"
	[ '${2:-0}' != 0 ] && sleep '${2:-0}'
	povray -D -V +Iscene.pov +O"\$out" +W64 +H48 +FN +KFI1 +KFF8 +SF\$f +EF\$f
	rc=\$?
	[ -n "\$times" ] && echo "end \$f \$(date +%s%N)" >>"\$times"
	exit \$rc
	EOF
}

# ---- the cases --------------------------------------------------------------
# Each case has its own spool and daemons and runs in a background subshell
# (so the waits overlap); its TAP lines are renumbered into ours at the end.

# A: retries, timeout, hang and blank frames; one agent with four slots
case_basic() {
	FAIL_LIMIT=100 HANG_TIMEOUT=2 new_spool A
	start_watcherd
	start_agent a --slots 4
	RETRIES=1 cmd_job "$T/retry" 1-2 false
	drop_dir retry "$T/retry"
	RETRIES=0 JOB_X='timeout = 1' cmd_job "$T/tmo" 1 "sleep $SLEEP_TIMEOUT"
	drop_dir tmo "$T/tmo"
	RETRIES=0 cmd_job "$T/hang" 1 "sleep $SLEEP_HANG"
	drop_dir hang "$T/hang"
	for b in blank blankok; do
		RETRIES=0 povray_job "$T/$b" 1
		printf 'camera { location <0, 0, -5> look_at <0, 0, 0> }\nbackground { color rgb 0 }\n' >"$T/$b/scene.pov"
	done
	echo 'allow_blank = yes' >>"$T/blankok/job.ini"
	drop_dir blank "$T/blank"
	drop_dir blankok "$T/blankok"

	# 1. retries
	check "retries: a job whose frames exit 1 ends in failed/" wait_for 20 job_failed retry
	check "retries: both tickets are in frames/failed/" jfiles_is retry frames/failed 2
	check "retries: each frame was tried twice (4 logs: $(jfiles retry logs))" jfiles_is retry logs 4
	check "retries: no ticket is left in todo/ or active/" \
		[ "$(($(jfiles retry frames/todo) + $(jfiles retry frames/active)))" -eq 0 ]
	check "retries: each ticket notes attempts 1 and 2" \
		[ "$(cat "$SPOOL"/jobs/retry/frames/failed/* | grep -c '^attempt = [12] a\.[0-9]')" -eq 4 ]
	check "retries: status.ini says the renderer exited with status 1 ($(job_reason retry))" \
		reason_has retry "exited with status 1"
	check "retries: billing.ini is written" [ -f "$SPOOL/jobs/retry/billing.ini" ]

	# 3. timeout
	check "timeout: a frame over its timeout fails the job within seconds" wait_for 6 job_failed tmo
	check "timeout: status.ini says it timed out ($(job_reason tmo))" reason_has tmo "timed out"
	check "timeout: the render (sleep $SLEEP_TIMEOUT) was killed" wait_for 2 no_procs "sleep $SLEEP_TIMEOUT"

	# 4. hang
	check "hang: a render with no output and no CPU for hang_timeout fails" wait_for 10 job_failed hang
	check "hang: status.ini says it hung ($(job_reason hang))" reason_has hang "hung"
	check "hang: the render (sleep $SLEEP_HANG) was killed" wait_for 2 no_procs "sleep $SLEEP_HANG"

	# 5. blank frames
	check "blank: an all-black frame fails" wait_for 20 job_failed blank
	check "blank: status.ini says it is a single colour ($(job_reason blank))" reason_has blank "single colour"
	check "blank: nothing is published in output/" [ "$(outputs blank)" -eq 0 ]
	check "blank: with allow_blank = yes the same frame is done" wait_for 20 job_done blankok
	check "blank: and its image is in output/" has_output blankok f_0001.png
}

# 2. blocked: fail_limit 2, one slot, a job whose every frame fails
case_blocked() {
	FAIL_LIMIT=2 new_spool B
	start_watcherd
	start_agent b --slots 1
	RETRIES=5 cmd_job "$T/blk" 1-3 false
	drop_dir blk "$T/blk"
	check "blocked: after fail_limit failures in a row jobs/blk/blocked/b appears" \
		wait_for 10 test -f "$SPOOL/jobs/blk/blocked/b"
	check "blocked: the job stays queued" queued blk
	check "blocked: status.ini says every host failed too many frames" \
		wait_for 5 reason_has blk "every host that could render it failed too many"
	n=$(jfiles blk logs)
	check "blocked: the host took no more frames after the marker ($n logs, fail_limit 2)" [ "$n" -eq 2 ]
	check "blocked: nothing is left in active/" jfiles_is blk frames/active 0
	rm -f "$SPOOL/jobs/blk/blocked/b"
	check "blocked: without the marker the host tries again" wait_for 10 jfiles_ge blk logs $((n + 1))
	check "blocked: and is blocked again after fail_limit more failures" \
		wait_for 10 test -f "$SPOOL/jobs/blk/blocked/b"
	check "blocked: the job is still queued" queued blk
}

# 6. cancel, by command and by a file in cancel/. Tickets are not claimed
# in frame order (samples come early: 1, 6, 3, 2 ...), so the script makes
# the first two renders that start fast (noting their frames in can.fast)
# and has every later one sleep first.
case_cancel() {
	new_spool C
	# its renders share a file the test reads: unconfined (a confined
	# render writes only its own folder in work/)
	echo "confine = no" >>"$SPOOL/conf/hotfarm.ini"
	start_watcherd
	start_agent c --slots 2
	mkdir -p "$T/can"
	cat >"$T/can/run.sh" <<-EOF
	#!/bin/sh
	if mkdir "$SPOOL/jobs/can/can.lock1" 2>/dev/null || mkdir "$SPOOL/jobs/can/can.lock2" 2>/dev/null; then
		echo "\$1" >>"$SPOOL/jobs/can/can.fast"
	else
		sleep $SLEEP_CANCEL
	fi
	exec povray -D -V +Iscene.pov +O"\$2" +W64 +H48 +FN +KFI1 +KFF8 +SF\$1 +EF\$1
	EOF
	cmd_job "$T/can" 1-6 "$RUN_ARGS"
	drop_dir can "$T/can"
	fast_done() {
		[ "$( { wc -l <"$SPOOL/jobs/can/can.fast"; } 2>/dev/null)" = 2 ] || return 1
		for f in $(cat "$SPOOL/jobs/can/can.fast"); do has_output can "$(printf 'f_%04d.png' "$f")" || return 1; done
	}
	can_ready() { fast_done && nprocs_is 2 "sleep $SLEEP_CANCEL"; }
	check "cancel: two frames are rendered and two more are running" wait_for 20 can_ready ||
		show_agent c can
	pids=$(pgrep -f "sleep $SLEEP_CANCEL")
	hotfarm cancel can >/dev/null
	ms=$(stop_time $pids)
	# (how fast is make bench's to say: a deadline here only catches a render left running)
	check "cancel: every render of the job is stopped (${ms} ms)" stopped_within "$ms" 5000
	check "cancel: the entry is in cancelled/" in_state cancelled can
	check "cancel: the frames done ($(echo $(cat "$SPOOL/jobs/can/can.fast" 2>/dev/null))) stay in output/" fast_done
	check "cancel: no other image is in output/" [ "$(outputs can)" -eq 2 ]
	check "cancel: the running tickets go back to todo/ (4 there)" wait_for 2 jfiles_is can frames/todo 4
	check "cancel: none is left in active/" jfiles_is can frames/active 0
	check "cancel: the done tickets stay done" jfiles_is can frames/done 2
	check "cancel: the slots say idle" wait_for 2 slots_idle c

	# the second job's renders ignore SIGTERM: only the SIGKILL after
	# the grace (800 ms) stops them
	mkdir -p "$T/can2"
	printf '#!/bin/sh\ntrap "" TERM\nsleep %s\n' "$SLEEP_CANCEL" >"$T/can2/run.sh"
	cmd_job "$T/can2" 1-2 "$RUN_ARGS"
	drop_dir can2 "$T/can2"
	check "cancel file: both frames of a second job are running" wait_for 20 nprocs_is 2 "sleep $SLEEP_CANCEL"
	pids=$(pgrep -f "sleep $SLEEP_CANCEL")
	touch "$T/can2.cancel" && mv "$T/can2.cancel" "$SPOOL/cancel/can2"
	ms=$(stop_time $pids)
	check "cancel file: a file in cancel/ stops renders that ignore SIGTERM, by the SIGKILL after the grace (${ms} ms)" \
		stopped_within "$ms" 5000
	check "cancel file: the entry is in cancelled/" in_state cancelled can2
	check "cancel file: its tickets are back in todo/" wait_for 2 jfiles_is can2 frames/todo 2
	check "cancel file: and not counted as failed attempts" not grep -q '^attempt' "$SPOOL"/jobs/can2/frames/todo/*
	check "cancel file: the request is removed from cancel/" wait_for 5 not test -e "$SPOOL/cancel/can2"
	check "cancel file: the slots say idle" wait_for 2 slots_idle c
}

# 7. one license token, two agents with two slots each
case_tokens() {
	new_spool D
	# its renders share a file the test reads: unconfined (a confined
	# render writes only its own folder in work/)
	echo "confine = no" >>"$SPOOL/conf/hotfarm.ini"
	mkdir -p "$SPOOL/limits/lic"
	touch "$SPOOL/limits/lic/t1"
	start_watcherd
	start_agent d1 --slots 2
	start_agent d2 --slots 2
	render_script "$T/tok" 0 "$SPOOL/jobs/tok/tok.times"
	RETRIES=0 JOB_X='limits = lic' cmd_job "$T/tok" 1-4 "$RUN_ARGS"
	drop_dir tok "$T/tok"
	check "tokens: a job needing the single lic token finishes" wait_for 40 job_done tok
	starts=$(grep -c '^start' "$SPOOL/jobs/tok/tok.times" 2>/dev/null)
	check "tokens: all 4 frames rendered once each ($starts starts)" [ "$starts" -eq 4 ]
	most=$(awk '$1 == "start" { n++; if (n > m) m = n } $1 == "end" { n-- } END { print m + 0 }' "$SPOOL/jobs/tok/tok.times" 2>/dev/null)
	check "tokens: never two renders at once (at most $most)" [ "$most" -eq 1 ]
	check "tokens: the token is free again (limits/lic/t1)" wait_for 2 test -f "$SPOOL/limits/lic/t1"
	check "tokens: nobody holds it" [ "$(ls "$SPOOL/limits/lic" | grep -c @)" -eq 0 ]
}

# 8. an agent killed with SIGKILL, seen by watcherd
case_crash() {
	HOST_TIMEOUT=3 new_spool E
	start_watcherd
	start_agent e1 --slots 1
	E1=$AGENT
	start_agent e2 --slots 1
	render_script "$T/crash" 1
	cmd_job "$T/crash" 1-6 "$RUN_ARGS"
	drop_dir crash "$T/crash"
	e1_busy() { active_on crash e1 && slot_busy e1 0; }
	check "agent crash: e1 renders a frame" wait_for 20 e1_busy
	left=$(slot_pid e1 0)
	kill -KILL "$E1"
	wait "$E1" 2>/dev/null
	check "agent crash: watcherd marks e1 lost (hosts/e1/lost)" wait_for 10 test -f "$SPOOL/hosts/e1/lost"
	check "agent crash: the job still completes" wait_for 40 job_done crash
	check "agent crash: output/ holds exactly 6 images" [ "$(outputs crash)" -eq 6 ]
	good=0
	for f in 1 2 3 4 5 6; do
		hf-check "$SPOOL/jobs/crash/output/f_000$f.png" 64 48 >/dev/null 2>&1 && good=$((good + 1))
	done
	check "agent crash: each frame f_0001..f_0006 passes hf-check ($good)" [ "$good" -eq 6 ]
	check "agent crash: no ticket is left in active/" jfiles_is crash frames/active 0
	check "agent crash: all 6 tickets are done" jfiles_is crash frames/done 6
	kill_left "$left" # what e1 left running
}

# 9. watcherd killed with SIGKILL while frames render
case_watcherd() {
	new_spool F
	start_watcherd
	start_agent f --slots 2
	render_script "$T/wk" 1
	cmd_job "$T/wk" 1-4 "$RUN_ARGS"
	drop_dir wk "$T/wk"
	check "watcherd crash: frames are rendering" wait_for 20 jfiles_ge wk frames/active 1
	kill -KILL "$WATCHERD"
	wait "$WATCHERD" 2>/dev/null
	check "watcherd crash: the agents finish the job without it" wait_for 30 job_done wk
	check "watcherd crash: all 4 images are in output/" [ "$(outputs wk)" -eq 4 ]
	check "watcherd crash: billing.ini is written" [ -f "$SPOOL/jobs/wk/billing.ini" ]
	check "watcherd crash: status.ini says all 4 frames were rendered ($(job_reason wk))" \
		reason_has wk "all 4 frames rendered"
}

# 10. an agent killed and restarted under its name before watcherd notices
# (host_timeout is 60 s, so only the new agent can give the claims back).
# The first render to start sleeps $SLEEP_ORPHAN, every other one 1 s, so
# a render the killed agent left behind would outlive its own frame's
# re-render and land in the slot's folder while a later frame renders.
case_restart() {
	HOST_TIMEOUT=60 new_spool G
	# its renders share a file the test reads: unconfined (a confined
	# render writes only its own folder in work/)
	echo "confine = no" >>"$SPOOL/conf/hotfarm.ini"
	start_watcherd
	start_agent g --slots 1
	G1=$AGENT
	mkdir -p "$T/rs"
	cat >"$T/rs/run.sh" <<-EOF
	#!/bin/sh
	if mkdir "$SPOOL/jobs/rs/rs.first" 2>/dev/null; then sleep $SLEEP_ORPHAN; else sleep 1; fi
	exec povray -D -V +Iscene.pov +O"\$2" +W64 +H48 +FN +KFI1 +KFF8 +SF\$1 +EF\$1
	EOF
	cmd_job "$T/rs" 1-6 "$RUN_ARGS"
	drop_dir rs "$T/rs"
	check "restart: g renders a frame" wait_for 20 active_on rs g
	orphan_ready() { nprocs_is 1 "sleep $SLEEP_ORPHAN" && slot_busy g 0; }
	check "restart: its first render is running (slot.0 says busy)" wait_for 5 orphan_ready
	left=$(slot_pid g 0)
	kill -KILL "$G1"
	wait "$G1" 2>/dev/null
	start_agent g --slots 1
	check "restart: the new g starts" alive "$AGENT"
	check "restart: it returns the old claims at once" \
		wait_for 3 grep -q "returned [1-9][0-9]* claims left from an earlier run of g" "$SPOOL.agent-g.log"
	check "restart: the killed agent's render does not outlive the restart" \
		wait_for 1 no_procs "sleep $SLEEP_ORPHAN"
	check "restart: the job completes" wait_for 90 job_done rs
	check "restart: watcherd never marked g lost" [ ! -e "$SPOOL/hosts/g/lost" ]
	check "restart: output/ holds exactly 6 images" [ "$(outputs rs)" -eq 6 ]
	check "restart: no ticket is left in active/" jfiles_is rs frames/active 0
	check "restart: no frame failed because of the old render ($(cat "$SPOOL"/jobs/rs/frames/done/* |
		sed -n 's/^attempt = //p' | tr '\n' ' '))" \
		not grep -q '^attempt' "$SPOOL"/jobs/rs/frames/done/*
	same=0
	for f in 1 2 3 4 5 6; do
		(cd "$T/rs" && povray -D -V +Iscene.pov +O"$T/rs-ref.png" +W64 +H48 +FN +KFI1 +KFF8 +SF$f +EF$f) >/dev/null 2>&1
		[ "$(pixels "$T/rs-ref$f.png")" = "$(pixels "$SPOOL/jobs/rs/output/f_000$f.png")" ] && same=$((same + 1))
	done
	check "restart: each output is its own frame (same as a reference render: $same of 6)" [ "$same" -eq 6 ]
	kill_left "$left" # what the killed g left running
}

# 11. two spools on one host, each with an agent named tw (two farms, or
# two tests side by side): the second one's start, which kills what an
# earlier agent of its name left and clears its cgroups, must leave the
# first one's render alone.
case_twins() {
	new_spool tw1
	start_watcherd
	start_agent tw --slots 1
	mkdir -p "$T/tw"
	printf '#!/bin/sh\n[ "$1" = 1 ] && sleep %s\nexec povray -D -V +Iscene.pov +O"$2" +W64 +H48 +FN +KFI1 +KFF8 +SF$1 +EF$1\n' \
		"$SLEEP_TWIN" >"$T/tw/run.sh"
	cmd_job "$T/tw" 1-2 "$RUN_ARGS"
	drop_dir tw "$T/tw"
	check "twins: tw on the first spool is in frame 1's render" wait_for 20 nprocs_is 1 "sleep $SLEEP_TWIN"
	new_spool tw2
	start_agent tw --slots 1
	check "twins: tw starts on the second spool" alive "$AGENT"
	check "twins: ... and the first spool's render still runs" nprocs_is 1 "sleep $SLEEP_TWIN"
	pkill -f "sleep $SLEEP_TWIN" # the render goes on to POV-Ray
	SPOOL=$T/tw1
	check "twins: the first spool's job completes" wait_for 30 job_done tw
	check "twins: with no frame failed or retried" not grep -q '^attempt' "$SPOOL"/jobs/tw/frames/done/*
	check "twins: both images are in output/" [ "$(outputs tw)" -eq 2 ]
}

# ---- run them side by side -------------------------------------------------

# in a case's subshell: stop its daemons (not lib.sh's _cleanup, which
# would remove $T)
_case_cleanup() { stop_pids; }
CASES=${FAULTS:-"basic blocked cancel tokens crash watcherd restart twins"}
for c in $CASES; do
	(
		_pids=""
		trap _case_cleanup EXIT
		trap 'exit 143' TERM INT
		"case_$c"
		echo "# case $c ended"
	) >"$T/case-$c.tap" 2>&1 &
	_pids="$_pids $!"
done
for p in $_pids; do wait "$p"; done
for c in $CASES; do
	grep -q "^# case $c ended" "$T/case-$c.tap" || not_ok "case $c ran to its end"
	while IFS= read -r line; do
		case $line in
		"ok "*) ok "${line#ok * - }" ;;
		"not ok "*) not_ok "${line#not ok * - }" ;;
		"# case "*) ;;
		*) echo "# $c: $line" ;;
		esac
	done <"$T/case-$c.tap"
done

done_testing
