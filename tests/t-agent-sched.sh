# t-agent-sched.sh - how agents choose work: queue order by priority, fair
# share among jobs of one priority, and a host record that follows what is
# installed while the agent runs.
. "$(dirname "$0")/lib.sh"

PROBE_INTERVAL=1 new_spool
start_watcherd

# priority: with one slot, every frame of the urgent job before any of the other
mkdir -p "$T/low" "$T/high"
povray_job "$T/low" 1-3
sed -i 's/^\[job\]$/[job]\npriority = 900/' "$T/low/job.ini"
povray_job "$T/high" 1-3
sed -i 's/^\[job\]$/[job]\npriority = 10/' "$T/high/job.ini"
drop_dir low "$T/low"
wait_for 10 queued low
drop_dir high "$T/high"
wait_for 10 queued high
start_agent solo --slots 1
SOLO=$AGENT
check "both jobs get rendered" wait_for 60 sh -c "ls '$SPOOL/done' | grep -q -- -low\$ && ls '$SPOOL/done' | grep -q -- -high\$"
last_high=$(find "$SPOOL/jobs/high/logs" -type f -printf '%T@\n' | sort -n | tail -1)
first_low=$(find "$SPOOL/jobs/low/logs" -type f -printf '%T@\n' | sort -n | head -1)
check "the urgent job's frames all ran before the other's ($last_high < $first_low)" \
	awk -v a="$last_high" -v b="$first_low" 'BEGIN { exit !(a < b) }'

# a package installed while the agent runs shows in its record
printf '[package]\nversion = 7\n[render]\nargv = true\n' >"$SPOOL/conf/packages/extra.ini"
has_extra() { grep -q '^extra = "7"' "$SPOOL/hosts/solo/host.ini"; }
check "a package installed meanwhile appears in host.ini" wait_for 10 has_extra
kill -TERM "$SOLO"
wait "$SOLO" 2>/dev/null
stop_watcherd

# fair share: two jobs of one priority share two slots from the start
FAIR_SHARE=yes new_spool fair
start_watcherd
mkdir -p "$T/fa" "$T/fb"
povray_job "$T/fa" 1-6 320 240
povray_job "$T/fb" 1-6 320 240
drop_dir fa "$T/fa"
wait_for 10 queued fa
drop_dir fb "$T/fb"
wait_for 10 queued fb
start_agent pair --slots 2
# slots, not tickets: a slot may hold a run of several frames
slots_on() { ls "$SPOOL/jobs/$1/frames/active" | sed 's/.*@//' | sort -u | wc -l; }
two_running() { [ "$(($(slots_on fa) + $(slots_on fb)))" -ge 2 ]; }
wait_for 20 two_running
na=$(slots_on fa)
nb=$(slots_on fb)
check "fair share: the first two slots go one to each job ($na and $nb)" [ "$na" -eq 1 -a "$nb" -eq 1 ]
check "both finish" wait_for 90 sh -c "ls '$SPOOL/done' | grep -q -- -fa\$ && ls '$SPOOL/done' | grep -q -- -fb\$"
done_testing
