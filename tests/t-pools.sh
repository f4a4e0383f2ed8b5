# t-pools.sh - where and when a job renders: pools (an admin's labels for
# hosts, a job's [job] pool with wildcards), a drain and pools that outlive
# an agent's restart, offline host records and hotfarm forget, and start
# times ([job] not_before, hotfarm submit --at). Two real agents, POV-Ray.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent lit --slots 1
AGENT_LIT=$AGENT
start_agent fxh --slots 1
AGENT_FX=$AGENT

# ---- pools ---------------------------------------------------------------------------------------
hotfarm pool lit add lighting >"$T/pool.out" 2>&1
check "hotfarm pool lit add lighting ($(cat "$T/pool.out"))" grep -qx 'lit: lighting' "$T/pool.out"
hotfarm pool fxh add fx-heavy comp >/dev/null 2>&1
hotfarm pool fxh remove comp >/dev/null 2>&1
check "pools are added and removed ($(hotfarm pool fxh))" [ "$(hotfarm pool fxh)" = "fxh: fx-heavy" ]
hotfarm pool lit add 'bad/name' 2>"$T/err"
check "a pool name with a slash is refused (100: $(cat "$T/err"))" [ $? -eq 100 ]
hotfarm pool --json >"$T/pools.json"
check "pool --json lists each host's pools" python3 -c "
import json; p={x['host']:x['pools'] for x in json.load(open('$T/pools.json'))}
assert p=={'lit':['lighting'],'fxh':['fx-heavy']}, p"

# a job's pool: one name, a wildcard, a list
pool_job() { # NAME POOL
	povray_job "$T/$1" 1-4
	sed -i "s/^\[job\]\$/[job]\\nchunk = 1\\npool = $2/" "$T/$1/job.ini"
	drop_dir "$1" "$T/$1"
}
billed_on() { # JOB HOST: every frame billed on HOST, none elsewhere
	cat "$SPOOL/jobs/$1/frames/done/"* >"$T/$1.tickets" 2>/dev/null &&
		[ "$(grep -c "^billing = frame=[0-9]* ok=1 host=$2\\." "$T/$1.tickets")" -eq 4 ] &&
		[ "$(grep -c '^billing = ' "$T/$1.tickets")" -eq 4 ]
}
pool_job forlit lighting
pool_job forfx 'fx*'
pool_job either '"nothere, light*"'
check "a job for pool lighting is rendered" wait_for 60 job_done forlit
check "by the host in pool lighting alone" billed_on forlit lit
check "a job for pool fx* is rendered" wait_for 60 job_done forfx
check "by the host in pool fx-heavy alone" billed_on forfx fxh
check "a job naming two pools (nothere, light*) renders in the one that exists" wait_for 60 job_done either
check "on lit" billed_on either lit

pool_job nowhere render-nodes
why() { sed -n 's/^reason = //p' "$SPOOL/jobs/$1/status.ini" 2>/dev/null | tr -d '"'; }
says() { why "$1" | grep -qF -- "$2"; }
check "a job whose pool has no host says so ($(why nowhere))" wait_for 20 says nowhere "waiting: no host in pool render-nodes"
hotfarm status nowhere >"$T/st.out" 2>&1
check "hotfarm status shows it" grep -q "no host in pool render-nodes" "$T/st.out"
check "and nothing of it was rendered" [ "$(count "$SPOOL/jobs/nowhere/frames/done")" -eq 0 ]
# the admin puts a host into the pool: the job goes on
hotfarm pool fxh add render-nodes >/dev/null 2>&1
check "once a host is in its pool, the waiting job is rendered" wait_for 60 job_done nowhere
check "there" billed_on nowhere fxh

mkdir -p "$T/badpool"
povray_job "$T/badpool" 1
sed -i 's/^\[job\]$/[job]\npool = "a;b"/' "$T/badpool/job.ini"
drop_dir badpool "$T/badpool"
check "a job.ini with a bad pool is rejected" wait_for 20 rejected badpool
check "naming the key ($(reason badpool))" sh -c "head -1 '$SPOOL/rejected/badpool/reason.txt' | grep -q 'pool must list'"

# ---- pools and a drain outlive a restart ------------------------------------------------------
hotfarm drain fxh >/dev/null 2>&1
kill -TERM "$AGENT_LIT" "$AGENT_FX"
wait "$AGENT_LIT" "$AGENT_FX"
hotfarm hosts >"$T/hosts.out" 2>&1
check "hotfarm hosts lists the stopped hosts as offline" \
	sh -c "grep -q '^lit: offline' '$T/hosts.out' && grep -q '^fxh: offline' '$T/hosts.out'"
check "with their pools" grep -q 'pools: *fx-heavy render-nodes' "$T/hosts.out"
check "no heartbeat, lock or slot file is left" \
	sh -c "! ls '$SPOOL/hosts/lit' '$SPOOL/hosts/fxh' | grep -Eq '^(heartbeat|agent.lock|slot\\.)'"
pool_job whilestopped lighting
check "a job for a pool whose host is stopped waits" wait_for 20 says whilestopped "waiting: no render host is running"
start_agent lit --slots 1
AGENT_LIT=$AGENT
start_agent fxh --slots 1
AGENT_FX=$AGENT
check "after a restart, lit is still in pool lighting" [ "$(hotfarm pool lit)" = "lit: lighting" ]
check "and renders the job that waited for it" wait_for 60 job_done whilestopped
check "on lit" billed_on whilestopped lit
hotfarm hosts >"$T/hosts.out" 2>&1
check "after a restart, fxh is still draining ($(grep '^fxh' "$T/hosts.out"))" grep -q '^fxh: draining' "$T/hosts.out"
pool_job drained fx-heavy
check "a job for the drained host's pool waits, saying why ($(why drained))" wait_for 20 says drained "waiting: every host that could render it is draining (fxh"
check "and is not rendered" [ "$(count "$SPOOL/jobs/drained/frames/done")" -eq 0 ]
hotfarm undrain fxh >/dev/null 2>&1
check "undrained, fxh renders it" wait_for 60 job_done drained
check "there" billed_on drained fxh

# ---- forgetting a host --------------------------------------------------------------------------
hotfarm forget lit 2>"$T/err"
check "hotfarm forget refuses a running host (100: $(cat "$T/err"))" [ $? -eq 100 ]
kill -TERM "$AGENT_LIT"
wait "$AGENT_LIT"
hotfarm forget lit >"$T/forget.out" 2>&1
check "and removes a stopped one's record ($(cat "$T/forget.out"))" [ ! -e "$SPOOL/hosts/lit" ]
# pools may be given before a host's agent first runs
hotfarm pool newbox add lighting >/dev/null 2>&1
check "a host's pools can be set before its agent first runs" [ "$(hotfarm pool newbox)" = "newbox: lighting" ]
printf 'lighting\n../../etc\nfx;rm -rf\n' >"$SPOOL/hosts/newbox/pools"
check "a pools file with lines that are no pool names reads as its good lines" \
	[ "$(hotfarm pool newbox)" = "newbox: lighting" ]

# ---- start times --------------------------------------------------------------------------------
start=$(($(date +%s) + 8))
povray_job "$T/later" 1-2
sed -i "s/^\\[job\\]\$/[job]\\nnot_before = $(date -d "@$start" +%Y-%m-%dT%H:%M:%S)/" "$T/later/job.ini"
drop_dir later "$T/later"
state_of() { sed -n 's/^state = //p' "$SPOOL/jobs/$1/status.ini" 2>/dev/null | tr -d '"'; }
check "a job with not_before (local time) waits, saying until when ($(why later))" \
	wait_for 20 says later "waiting: starts at $(date -d "@$start" '+%Y-%m-%d %H:%M')"
check "its state is waiting" [ "$(state_of later)" = waiting ]
check "it renders once its time has come" wait_for 60 job_done later
first=$(stat -c %Y "$SPOOL/jobs/later/output/"*.png | sort -n | head -1)
check "and no frame of it before ($first >= $start)" [ "${first:-0}" -ge "$start" ]
grep -q "^not_before = $(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)\$" "$SPOOL/jobs/later/job.ini"
check "job.ini holds not_before in UTC" [ $? -eq 0 ]

# hotfarm submit --at: UTC with Z, and +DURATION
name=$(hotfarm submit "$HF_ROOT/examples/orbit/scene.pov" --frames 1 --width 64 --height 48 --name atjob \
	--at "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%MZ)" | head -n 1)
check "submit --at (UTC) names the job ($name)" [ "$name" = atjob ]
check "and it waits an hour" wait_for 20 says atjob "waiting: starts at"
hotfarm submit "$HF_ROOT/examples/orbit/scene.pov" --frames 1 --width 64 --height 48 --name soon --at +2s >/dev/null
check "submit --at +2s renders two seconds on" wait_for 60 job_done soon
check "the job an hour away is still waiting" [ "$(state_of atjob)" = waiting ]
check "with no frame rendered" [ "$(count "$SPOOL/jobs/atjob/frames/done")" -eq 0 ]
hotfarm submit "$HF_ROOT/examples/orbit/scene.pov" --frames 1 --at tomorrow 2>"$T/err" >/dev/null
check "submit --at with no time it reads: 100, saying how ($(cat "$T/err"))" grep -q "2026-12-07T02:00" "$T/err"
povray_job "$T/badtime" 1
sed -i 's/^\[job\]$/[job]\nnot_before = next tuesday/' "$T/badtime/job.ini"
drop_dir badtime "$T/badtime"
check "a job.ini with a bad not_before is rejected" wait_for 20 rejected badtime
check "saying how to write it ($(reason badtime))" sh -c "head -1 '$SPOOL/rejected/badtime/reason.txt' | grep -q 'not_before must be a time like'"

check "watcherd and the agent are still running" alive "$WATCHERD"
stop_pids
done_testing
