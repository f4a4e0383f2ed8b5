# t-sites-crash.sh - crash-only across sites: while a job for site b is
# sent, rendered and answered, both sites' watcherd (and with them the
# collect, send and sync spoolers they run) are SIGKILLed again and again
# and restarted. The job still ends done at a exactly once, with every
# frame once and whole, and nothing was rejected on the way.
. "$(dirname "$0")/lib.sh"

export RESCAN_MS=300
site a
site b
link a b
link b a
SPOOL=$T/b
start_watcherd
WB=$WATCHERD
start_agent b1 --slots 2
SPOOL=$T/a
start_watcherd
WA=$WATCHERD

povray_job "$T/job" 1-12 160 120
printf '[job]\nsite = b\n' >>"$T/job/job.ini"
SPOOL=$T/a
drop_dir crashy "$T/job"

restart() { # SITE: start its watcherd again, quietly
	watcherd --spool "$T/$1" 2>>"$T/$1.watcherd.log" &
	eval "W$(echo "$1" | tr ab AB)=$!"
	_pids="$_pids $!"
}
kills=0
end=$(($(date +%s) + 150))
while ! ls "$T/a/done" 2>/dev/null | grep -q -- '-crashy$' && [ "$(date +%s)" -lt "$end" ]; do
	sleep "0.$(shuf -i 1-5 -n 1)"
	if [ $((kills % 2)) -eq 0 ]; then kill -KILL "$WA" 2>/dev/null; wait "$WA" 2>/dev/null; restart a
	else kill -KILL "$WB" 2>/dev/null; wait "$WB" 2>/dev/null; restart b; fi
	kills=$((kills + 1))
done
diag "watcherd killed $kills times"
check "the job ends done at a despite $kills kills" wait_for 60 in_state done crashy
check "its entry is in done/ only" [ "$(ls "$T/a"/new "$T/a"/queue "$T/a"/outsourced "$T/a"/failed "$T/a"/done | grep -c -- '-crashy$')" -eq 1 ]
O=$T/a/jobs/crashy/output
check "12 frames, each once ($(ls "$O" | tr '\n' ' '))" [ "$(ls "$O" | grep -c '^f_00[01][0-9]\.png$')" -eq 12 -a "$(ls -A "$O" | wc -l)" -eq 12 ]
bad=""
for f in "$O"/*.png; do python3 "$HF_ROOT/tests/pngpixels.py" "$f" >/dev/null 2>&1 || bad="$bad $(basename "$f")"; done
check "every frame decodes whole (bad:$bad)" [ -z "$bad" ]
check "b rendered it once: one entry for it" [ "$(ls "$T/b/done" | grep -c -- '-crashy@a$')" -eq 1 ]
check "nothing was rejected on either side" [ -z "$(ls "$T/a/sites/b/rejected" "$T/b/sites/a/rejected" "$T/b/rejected" 2>/dev/null | grep -v ':$\|^$')" ]
done_testing
