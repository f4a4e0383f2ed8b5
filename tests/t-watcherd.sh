# t-watcherd.sh - watcherd runs in the foreground or as a daemon, logs with
# timestamps, stops cleanly on SIGTERM, and only one may hold a spool.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
check "watcherd starts and writes its pid file" alive "$WATCHERD"
check "it logs one line per event: key=value with a time, a level and the program" \
	grep -Eq '^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z level=info prog=watcherd msg="watching ' "$SPOOL.watcherd.log"

watcherd --spool "$SPOOL" >"$T/second.out" 2>&1
rc=$?
check "a second watcherd on the same spool exits non-zero ($rc)" [ $rc -ne 0 ]
check "and names the running one" grep -q "pid=$WATCHERD" "$T/second.out"
check "the first keeps running" alive "$WATCHERD"

drop_job first
check "a job goes through" wait_for 10 queued first
grep -q "inbox: first.ini landed" "$SPOOL.watcherd.log"
check "the log says what landed" [ $? -eq 0 ]

kill -TERM "$WATCHERD"
stopped() { ! alive "$WATCHERD"; }
check "SIGTERM stops it" wait_for 10 stopped
wait "$WATCHERD"
check "with exit code 0" [ $? -eq 0 ]
check "and removes its pid file" [ ! -f "$SPOOL/run/watcherd.pid" ]
check "it says it stopped" grep -q 'prog=watcherd msg="stopped"' "$SPOOL.watcherd.log"

# daemon mode
watcherd -d --spool "$SPOOL"
check "watcherd -d returns 0 once running" [ $? -eq 0 ]
DPID=$(cat "$SPOOL/run/watcherd.pid" 2>/dev/null)
_pids="$_pids $DPID"
check "its pid file names a live process" alive "$DPID"
watcherd -d --spool "$SPOOL" 2>"$T/second-d.out"
check "a second watcherd -d fails" [ $? -ne 0 ]
check "naming the running one" grep -q "pid=$DPID" "$T/second-d.out"
drop_job daemonjob
check "the daemon takes jobs in" wait_for 10 queued daemonjob
check "and logs to run/watcherd.log" grep -q "accepted daemonjob" "$SPOOL/run/watcherd.log"
kill -TERM "$DPID"
dstopped() { ! alive "$DPID"; }
check "SIGTERM stops the daemon" wait_for 10 dstopped

# another host holds the spool (a filesystem without shared locks): its
# fresh heartbeat keeps us out; a stale one does not
printf 'pid=4242 host=render-other since=2026-01-01T00:00:00Z\n' >"$SPOOL/run/watcherd.lock"
watcherd --spool "$SPOOL" >"$T/other.out" 2>&1
rc=$?
check "a fresh heartbeat from another host keeps watcherd out ($rc)" [ $rc -ne 0 ]
check "and the message names that host" grep -q "render-other" "$T/other.out"
touch -d '-10 minutes' "$SPOOL/run/watcherd.lock"
start_watcherd
check "a stale heartbeat does not" alive "$WATCHERD"
stop_watcherd

# --log FILE in the foreground: the messages go there, not to stderr
watcherd --spool "$SPOOL" --log "$T/fg.log" 2>"$T/fg.err" &
W=$!
check "--log FILE without -d: watcherd logs into FILE" wait_for 10 grep -q 'prog=watcherd msg="watching ' "$T/fg.log"
kill -TERM "$W"
wait "$W"
check "and nothing to stderr" [ ! -s "$T/fg.err" ]

# a typo in conf/hotfarm.ini is not silently ignored
cp "$SPOOL/conf/hotfarm.ini" "$T/conf.good"
printf 'heartbeet = 2\n[agnet]\nslots = 2\n' >>"$SPOOL/conf/hotfarm.ini"
watcherd --spool "$SPOOL" --log "$T/typo.log" &
W=$!
check "an unknown key in conf/hotfarm.ini is warned about, with the key it may mean" \
	wait_for 10 grep -q "level=warning prog=watcherd msg=\"conf/hotfarm.ini line [0-9]*: unknown key 'heartbeet' in \[agent\] is ignored (did you mean 'heartbeat'?)\"" "$T/typo.log"
check "and an unknown section" grep -q 'unknown section \[agnet\] is ignored' "$T/typo.log"
kill -TERM "$W"
wait "$W"
cp "$T/conf.good" "$SPOOL/conf/hotfarm.ini"

watcherd --spool "$T/nospool" >"$T/nospool.out" 2>&1
check "no spool: exit 111 with a message" [ $? -eq 111 -a -s "$T/nospool.out" ]
watcherd --bogus >/dev/null 2>&1
check "bad usage: exit 100" [ $? -eq 100 ]
done_testing
