# t-cli.sh - hotfarm status, hold, release, priority and cancel: each change
# is a rename of the job's entry, and status.ini follows it.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
PRIORITY=500 drop_job alpha
PRIORITY=600 drop_job beta
FRAMES=1-10 drop_job gamma
wait_for 10 queued alpha && wait_for 10 queued beta && wait_for 10 queued gamma

out=$(hotfarm status)
check "status lists every job" sh -c "echo '$out' | grep -q alpha && echo '$out' | grep -q beta && echo '$out' | grep -q gamma"
check "status shows state and progress (not a terminal: tab separated)" sh -c "hotfarm status | grep -q '^gamma	queued	500	0/10	'"
hotfarm status --json >"$T/status.json"
check "status --json is JSON a script can read" python3 -c "
import json,sys; j=json.load(open('$T/status.json')); n={x['name']:x for x in j}
assert n['gamma']['frames_total']==10 and n['alpha']['state']=='queued', n"
hotfarm status gamma >"$T/one"
check "status NAME shows one job in detail" grep -q "frames: .* 0/10 done" "$T/one"

hotfarm hold alpha >/dev/null
check "hold moves the entry to held/" in_state held alpha
check "and out of queue/" sh -c "! ls '$SPOOL/queue' | grep -q -- '-alpha\$'"
check "status.ini follows: held, with the reason" grep -q '^state = "held"' "$SPOOL/jobs/alpha/status.ini"
check "hotfarm status says held" sh -c "hotfarm status | grep -q '^alpha	held'"
hotfarm release alpha >/dev/null
check "release puts it back in queue/" queued alpha
check "status.ini follows: queued" grep -q '^state = "queued"' "$SPOOL/jobs/alpha/status.ini"

hotfarm priority beta 5 >/dev/null
check "priority renames the entry" [ -e "$(ls -d "$SPOOL/queue/005-"*-beta 2>/dev/null)" ]
first=$(ls "$SPOOL/queue" | head -1 | sed 's/^[0-9]*-[0-9]*-//')
check "and beta now runs first ($first)" [ "$first" = beta ]
check "status.ini has the new priority" grep -q '^priority = 5$' "$SPOOL/jobs/beta/status.ini"
hotfarm priority beta 1000 2>/dev/null
check "a priority over 999 is refused with 100" [ $? -eq 100 ]

hotfarm cancel gamma >/dev/null
check "cancel moves the entry to cancelled/" in_state cancelled gamma
check "status.ini says cancelled" grep -q '^state = "cancelled"' "$SPOOL/jobs/gamma/status.ini"
hotfarm hold gamma 2>/dev/null
check "a cancelled job cannot be held (100)" [ $? -eq 100 ]

# cancel by dropping a file into cancel/
echo please >"$SPOOL/cancel/beta"
cancelled() { in_state cancelled "$1"; }
check "a file named after a job in cancel/ cancels it" wait_for 10 cancelled beta
gone() { [ ! -e "$SPOOL/cancel/$1" ]; }
check "and the request is removed" wait_for 10 gone beta
echo please >"$SPOOL/cancel/alpha.txt"
check "an extension on the request is fine" wait_for 10 cancelled alpha
# a request for a job that is not there yet is refused at once, not kept
# for a job of that name someone may drop later
echo please >"$SPOOL/cancel/delta"
check "a request that came before its job is refused at once: removed" wait_for 10 gone delta
drop_job delta
taken() { queued "$1" || in_state done "$1"; }
check "the job that arrives later is queued, not cancelled" wait_for 20 taken delta
check "the refusal is in the audit log" grep -q 'action=cancel job=delta result=refused reason="no job named delta' "$SPOOL/run/audit.log"

hotfarm status nosuch 2>/dev/null
check "status of an unknown job: 100" [ $? -eq 100 ]
hotfarm hold 'bad/name' 2>/dev/null
check "a malformed name: 100" [ $? -eq 100 ]
hotfarm frobnicate 2>/dev/null
check "an unknown command: 100" [ $? -eq 100 ]
for c in init status hold release priority cancel; do
	hotfarm "$c" --help | grep -q "usage: hotfarm $c"
	check "hotfarm $c --help" [ $? -eq 0 ]
done
hotfarm --spool "$T/none" status 2>/dev/null
check "a missing spool: 111" [ $? -eq 111 ]
done_testing
