# t-agent-config.sh - settings an admin gets wrong, and what the farm says:
# [agent] render_user on an agent that does not run as root (ignored with
# a warning; renders run as the agent's user instead of every frame
# failing), a job whose limit has no token (its status says so, and it
# renders once a token is added), and a host_timeout too short for the
# heartbeat (refused at start, with the reason).
. "$(dirname "$0")/lib.sh"

# ---- a farm run by an unprivileged user (nobody) -------------------------------------
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	new_spool
	printf 'render_user = root\n' >>"$SPOOL/conf/hotfarm.ini"
	chmod 755 "$T"
	chown -R nobody "$SPOOL"
	AS_NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups --"
	$AS_NOBODY env HOME=/nonexistent "$BIN/watcherd" --spool "$SPOOL" 2>>"$SPOOL.watcherd.log" &
	_pids="$_pids $!"
	check "watcherd runs as nobody" wait_for 10 test -f "$SPOOL/run/watcherd.pid"
	$AS_NOBODY env HOME=/nonexistent "$BIN/render-agent" --spool "$SPOOL" --name plain --slots 1 \
		2>>"$SPOOL.agent-plain.log" &
	_pids="$_pids $!"
	check "an agent runs as nobody" wait_for 15 _agent_ready plain
	check "it says render_user is ignored, and why" \
		grep -q 'level=warning prog=render-agent msg="\[agent\] render_user = root is ignored: the agent does not run as root' \
		"$SPOOL.agent-plain.log"
	povray_job "$T/asnobody" 1-2
	drop_dir asnobody "$T/asnobody"
	check "its job is rendered (not failed for want of root)" wait_for 60 job_done asnobody
	owner=$(stat -c %U "$SPOOL/jobs/asnobody/output/f_0001.png" 2>/dev/null)
	check "by the agent's own user ($owner)" [ "$owner" = nobody ]
	stop_pids
	_pids=""
else
	ok "# SKIP the unprivileged agent needs root to become nobody"
fi

# ---- a limit with no token ------------------------------------------------------------
new_spool lim
start_watcherd
start_agent l1 --slots 1
povray_job "$T/lic" 1-2
printf '[job]\nlimits = nuke\n' >>"$T/lic/job.ini"
drop_dir lic "$T/lic"
says_no_tokens() { grep -q "^reason = \"waiting: limit 'nuke' has no tokens (an admin adds one per license: touch limits/nuke/1)\"" "$SPOOL/jobs/lic/status.ini"; }
check "a job whose limit has no token says so in its status" wait_for 20 says_no_tokens
check "and hotfarm status shows it" sh -c "hotfarm status lic | grep -q \"limit 'nuke' has no tokens\""
check "it is not rendered meanwhile" [ -z "$(ls "$SPOOL/jobs/lic/output" 2>/dev/null)" ]
mkdir -p "$SPOOL/limits/nuke" && touch "$SPOOL/limits/nuke/1"
check "once a token is added it is rendered" wait_for 60 job_done lic
check "and the token is free again (the agent gives it back as the run ends)" wait_for 10 test -e "$SPOOL/limits/nuke/1"

# ---- a package's version, probed once per program, kept over a crash ------------------
# the probe counts its runs; an agent SIGKILLed and restarted (crash-only) finds the
# version it noted in hosts/HOST/versions, unless the program changed since
new_spool probe
printf '#!/bin/sh\necho run >>"%s/probe-runs"\necho "Probed 4.2"\n' "$T" >"$T/probe.sh"
chmod +x "$T/probe.sh"
printf '[package]\ndescription = "probed"\n[probe]\ncommand = %s\nversion_args = --version\nversion_regex = "Probed ([0-9.]+)"\n[render]\nargv = "{args}"\n' \
	"$T/probe.sh" >"$SPOOL/conf/packages/probed.ini"
runs() { [ -f "$T/probe-runs" ] && wc -l <"$T/probe-runs" || echo 0; }
start_agent pr --slots 1
check "the agent probes the package once ($(runs))" [ "$(runs)" -eq 1 ]
check "… and publishes its version" grep -q '^probed = "\?4\.2"\?$' "$SPOOL/hosts/pr/host.ini"
kill -KILL "$AGENT"
wait "$AGENT" 2>/dev/null
start_agent pr --slots 1
check "restarted after SIGKILL, it does not run the probe again ($(runs) runs)" [ "$(runs)" -eq 1 ]
check "… yet publishes the version" grep -q '^probed = "\?4\.2"\?$' "$SPOOL/hosts/pr/host.ini"
kill -KILL "$AGENT"
wait "$AGENT" 2>/dev/null
printf '#!/bin/sh\necho run >>"%s/probe-runs"\necho "Probed 5.0"\n' "$T" >"$T/probe.sh"
start_agent pr --slots 1
# (the record the killed agent left reads as ready at once: wait for the probe)
runs_are() { [ "$(runs)" -eq "$1" ]; }
check "once the program changed, the probe runs again ($(runs) runs)" wait_for 15 runs_are 2
new_version() { grep -q '^probed = "\?5\.0"\?$' "$SPOOL/hosts/pr/host.ini"; }
check "… and the new version is published" wait_for 15 new_version
kill -TERM "$AGENT"
wait "$AGENT" 2>/dev/null
# a clean stop leaves the record (what the host offered) and nothing it
# kept up: the versions note goes too, and the host reads as offline
check "a clean stop leaves only the record in hosts/pr ($(ls "$SPOOL/hosts/pr" | tr '\n' ' '))" \
	[ "$(ls -A "$SPOOL/hosts/pr")" = host.ini ]
check "… which hotfarm hosts shows offline" sh -c "hotfarm hosts | grep -q '^pr: offline'"

# ---- a package that stops reading after its job came in --------------------------------
# (an admin's edit gone wrong): the job's status says why it waits; mended, the job renders
PROBE_INTERVAL=1 new_spool pkg
start_watcherd
povray_job "$T/pk" 1-2
drop_dir pk "$T/pk"
check "a POV-Ray job is queued (no agent yet)" wait_for 30 in_state queue pk
cp "$SPOOL/conf/packages/povray.ini" "$T/povray.ini.good"
printf '[confine]\nnetwork = maybe\n' >>"$SPOOL/conf/packages/povray.ini"
start_agent pk1 --slots 1
says_broken() { grep -q "^reason = \"waiting: package 'povray' cannot be read (.*network is yes or no" "$SPOOL/jobs/pk/status.ini"; }
check "once its package no longer reads, the job's status says so" wait_for 20 says_broken
check "… and it is not rendered meanwhile" [ -z "$(ls "$SPOOL/jobs/pk/output" 2>/dev/null)" ]
cp "$T/povray.ini.good" "$SPOOL/conf/packages/povray.ini"
check "mended, the job is rendered with nothing restarted" wait_for 60 job_done pk

# ---- host_timeout shorter than two heartbeats ------------------------------------------
HOST_TIMEOUT=1 new_spool short
watcherd --spool "$SPOOL" >"$T/short.out" 2>&1
rc=$?
check "a host_timeout under two heartbeats is refused at start (exit $rc)" [ $rc -eq 111 ]
check "saying why" grep -q 'host_timeout (1 s) must be at least twice heartbeat (1 s)' "$T/short.out"
done_testing
