# t-errors.sh - a package's [errors] rules, matched against what a failed
# render printed: a POV-Ray scene with a syntax error fails once (rule
# fail), not once per retry; a render that says "out of memory" (rule
# retry) is counted and tried again on the other host; one that finds no
# licence (rule licence) goes back to todo/ uncounted and is not tried
# again before its wait, which grows and outlives the agents (SIGKILLed and
# restarted meanwhile); once the licence is there, the frame is done.
. "$(dirname "$0")/lib.sh"

new_spool
# a package of shell scripts with rules (the job's args are the command,
# as with the command package); exit 0 is success
cat >"$SPOOL/conf/packages/scripted.ini" <<'EOF'
[package]
description = "a script that says why it fails (t-errors)"
version = 1
produces = nothing

[render]
argv = "{args}"

[errors]
retry = "out of memory"
licence = "licen[cs]e .* unavailable" "no licence server"
licence_wait = 2
EOF
start_watcherd
start_agent a --slots 1
start_agent b --slots 1

# tickets JOB STATE: the text of JOB's tickets in frames/STATE
tickets() { cat "$SPOOL/jobs/$1/frames/$2"/* 2>/dev/null; }
# lines JOB STATE KEY: how many KEY lines its tickets hold
lines() { tickets "$1" "$2" | grep -c "^$3 = "; }
lines_is() { [ "$(lines "$1" "$2" "$3")" -eq "$4" ]; }
lines_ge() { [ "$(lines "$1" "$2" "$3")" -ge "$4" ]; }
jcount() { count "$SPOOL/jobs/$1/$2"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
agent_logs() { cat "$SPOOL".agent-*.log; }
# lic: the text of job lic's one ticket, in todo/ or active/ (read once)
lic() {
	for _f in "$SPOOL"/jobs/lic/frames/todo/* "$SPOOL"/jobs/lic/frames/active/*; do
		[ -f "$_f" ] && cat "$_f" 2>/dev/null && return 0
	done
	return 1
}
lic_lines() { lic | grep -c "^$1 = "; }
lic_ge() { [ "$(lic_lines "$1")" -ge "$2" ]; }
# script_job DIR FRAMES SCRIPT: a job of package scripted running SCRIPT
script_job() {
	mkdir -p "$1"
	printf '%s\n' "$3" >"$1/run.sh"
	printf '[job]\nframes = %s\nretries = %s\n[render]\npackage = scripted\nscene = run.sh\n' "$2" "${RETRIES:-2}" >"$1/job.ini"
	printf 'width = 64\nheight = 48\noutput = "f_####.png"\nargs = "sh {files}/run.sh {frame}"\n' >>"$1/job.ini"
}

# 1. rule fail: POV-Ray's "Parse Error:" fails each frame on its first try
RETRIES=2 povray_job "$T/pe" 1-3
printf 'camera { location <0, 0, -5> look_at 0 }\nsphere { 0, 1 pigment { color rgb 1 }\nbox { 0 1 }\n' >"$T/pe/scene.pov"
drop_dir pe "$T/pe"
check "fail: a scene with a syntax error ends in failed/" wait_for 60 job_failed pe
check "fail: its 3 tickets are in frames/failed/ ($(jcount pe frames/failed))" [ "$(jcount pe frames/failed)" -eq 3 ]
check "fail: each was tried once, with 2 retries left ($(lines pe failed attempt) attempts)" lines_is pe failed attempt 3
check "fail: each attempt names the rule ($(tickets pe failed | grep -m1 '^attempt'))" \
	[ "$(tickets pe failed | grep -c '^attempt = 1 .*(rule fail: "Parse\[\[:space:\]\]+Error:")')" -eq 3 ]
said() { agent_logs | grep -q -- "$1"; }
check "fail: the agent said so" said 'pe frame 1 failed (rule fail: .*Parse\[\[:space:\]\]+Error:.*; attempt 1, not retried)'
hotfarm log pe 1 >"$T/pe.log" 2>&1
check "fail: hotfarm log shows POV-Ray's words" grep -q "No matching } in 'sphere'" "$T/pe.log"
check "fail: and the rule that matched them" grep -q '^# hotfarm: .*matched \[errors\] fail "Parse\[\[:space:\]\]+Error:"' "$T/pe.log"
check "fail: no host was blocked for a scene's error" [ "$(jcount pe blocked)" -eq 0 ]

# 1b. Blender's rule fail: a .blend cut short fails once
if command -v blender >/dev/null; then
	mkdir -p "$T/cut"
	blender -b --factory-startup --python-exit-code 1 --python "$HF_ROOT/tests/mkblend.py" -- "$T/whole.blend" 2 64 48 \
		>"$T/mkblend.log" 2>&1
	head -c 200000 "$T/whole.blend" >"$T/cut/scene.blend"
	printf '[job]\nframes = 1-2\nretries = 2\n[render]\npackage = blender\nscene = scene.blend\nwidth = 64\nheight = 48\n' \
		>"$T/cut/job.ini"
	drop_dir cut "$T/cut"
	check "blender: a .blend cut short ends in failed/" wait_for 90 job_failed cut
	check "blender: each frame was tried once ($(lines cut failed attempt) attempts)" lines_is cut failed attempt 2
	check "blender: for Blender's own words ($(tickets cut failed | grep -m1 '^attempt'))" \
		[ "$(tickets cut failed | grep -c '(rule fail: "^Error: Failed to read blend file")')" -eq 2 ]
else
	ok "# SKIP blender is not installed (make deps)"
fi

# 2. rule retry: counted, and the next try is on the other host
RETRIES=1 script_job "$T/oom" 1 'echo "render: out of memory allocating 4096 MB"; exit 1'
drop_dir oom "$T/oom"
check "retry: a frame out of memory twice ends in failed/ (retries = 1)" wait_for 30 job_failed oom
check "retry: both attempts are counted, each naming the rule" \
	[ "$(tickets oom failed | grep -c '^attempt = [12] .*(rule retry: "out of memory")')" -eq 2 ]
hosts=$(tickets oom failed | sed -n 's/^attempt = [0-9]* \([ab]\)\.[0-9]* .*/\1/p' | sort -u | tr -d '\n')
check "retry: the second try was on the other host (hosts: $hosts)" [ "$hosts" = ab ]

# 3. rule licence: back to todo/ uncounted, retried after a growing wait
script_job "$T/lic" 1 'if [ -f ok ]; then echo licensed; exit 0; fi
echo "error: license for renderer unavailable (23 of 23 in use)"; exit 1'
drop_dir lic "$T/lic"
check "licence: the frame found no licence and went back to todo/" wait_for 30 lic_ge licence 1
t1=$(now_ms)
check "licence: not counted as an attempt ($(lic_lines attempt))" [ "$(lic_lines attempt)" -eq 0 ]
note_ok() { lic | grep -q '^licence = [0-9]* [ab]\.0 (rule licence: "licen\[cs\]e \.\* unavailable")'; }
check "licence: the note names the rule ($(lic | grep '^licence'))" wait_for 5 note_ok
# agents killed and started again remember the wait: it is on the ticket
for p in $_pids; do
	case $(cat /proc/"$p"/cmdline 2>/dev/null | tr '\0' ' ') in *render-agent*) kill -KILL "$p" ;; esac
done
start_agent a --slots 1
start_agent b --slots 1
check "licence: tried again, after agents restarted" wait_for 20 lic_ge licence 2
t2=$(now_ms)
check "licence: not before its 2 s wait ($((t2 - t1)) ms)" [ $((t2 - t1)) -ge 1900 ]
check "licence: still not counted ($(lic_lines attempt))" [ "$(lic_lines attempt)" -eq 0 ]
: >"$SPOOL/jobs/lic/files/ok"
check "licence: once there is one, the frame is done" wait_for 30 job_done lic
t3=$(now_ms)
check "licence: the second wait was longer, 4 s ($((t3 - t2)) ms)" [ $((t3 - t2)) -ge 3900 ]
check "licence: its ticket has no attempt and two licence notes" \
	sh -c "[ \$(grep -c '^attempt = ' '$SPOOL'/jobs/lic/frames/done/*) -eq 0 ] && [ \$(grep -c '^licence = ' '$SPOOL'/jobs/lic/frames/done/*) -eq 2 ]"

# 4. a bad pattern: the package does not load, and says where
printf '[package]\nversion = 1\n[render]\nargv = true\n[errors]\nfail = "ok" "Parse (Error"\n' >"$SPOOL/conf/packages/badre.ini"
printf '[job]\nframes = 1\n[render]\npackage = badre\nscene = run.sh\n' >"$T/badre.ini"
mkdir -p "$T/badre" && echo 'exit 0' >"$T/badre/run.sh" && cp "$T/badre.ini" "$T/badre/job.ini"
drop_dir badre "$T/badre"
badre_said() {
	cat "$SPOOL/rejected/badre/reason.txt" "$SPOOL"/jobs/badre/status.ini "$SPOOL.watcherd.log" \
		"$SPOOL".agent-*.log 2>/dev/null | grep -m1 'badre.ini line 6: \[errors\] fail: .Parse (Error. is not a regular expression'
}
wait_for 20 badre_said >/dev/null
check "a bad regex is refused naming the file and key ($(badre_said))" badre_said

done_testing
