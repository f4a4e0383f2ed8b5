# t-overflow.sh - more files at once than inotify can queue: the queue
# overflows, watcherd says so and rescans, and every job is taken in.
# Short form: 2,000 files (1,000 jobs, each an archive and its .ini) into a
# queue of 256 events; OVERFLOW=full (make stress): 50,000 files into the
# kernel's default queue. watcherd is stopped (SIGSTOP) while they land, so
# the queue overflows for certain; its periodic rescan is an hour away, so
# only the overflow's rescan can find them.
. "$(dirname "$0")/lib.sh"

if [ "${OVERFLOW:-}" = full ]; then FILES=50000 QUEUE=; else FILES=${OVERFLOW_FILES:-2000} QUEUE=256; fi
JOBS=$((FILES / 2))
RESCAN_MS=3600000 new_spool
# the drops: made on the same disk, then moved into inbox/ all at once
mkdir -p "$T/tpl" "$SPOOL/stage"
printf 'x\n' >"$T/tpl/scene.pov"
tar -C "$T/tpl" -cf "$T/tpl.tar" .
python3 - "$SPOOL/stage" "$T/tpl.tar" "$JOBS" <<-'PY'
import shutil, sys
stage, tpl, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(tpl, "rb").read()
for i in range(n):
    open(f"{stage}/j{i}.tar", "wb").write(data)
    open(f"{stage}/j{i}.ini", "w").write(f"[job]\nframes = 1\n[render]\nscene = scene.pov\n")
PY
if [ -n "$QUEUE" ]; then
	# an inotify instance takes its queue length when it is made
	old=$(cat /proc/sys/fs/inotify/max_queued_events)
	at_exit "echo $old >/proc/sys/fs/inotify/max_queued_events"
	echo "$QUEUE" >/proc/sys/fs/inotify/max_queued_events
	start_watcherd
	echo "$old" >/proc/sys/fs/inotify/max_queued_events
else
	start_watcherd
fi
QLEN=${QUEUE:-$(cat /proc/sys/fs/inotify/max_queued_events)}
kill -STOP "$WATCHERD"
t0=$(date +%s%N)
find "$SPOOL/stage" -name '*.tar' -exec mv -t "$SPOOL/inbox" {} +
find "$SPOOL/stage" -name '*.ini' -exec mv -t "$SPOOL/inbox" {} +
kill -CONT "$WATCHERD"
diag "$FILES files moved into inbox/ with watcherd stopped (inotify queue: $QLEN events)"
check "watcherd notices the overflow" wait_for 30 grep -q "inotify queue overflowed; rescanning" "$SPOOL.watcherd.log"
all_queued() { [ "$(ls "$SPOOL/queue" | wc -l)" -ge "$JOBS" ]; }
check "every one of the $JOBS jobs is taken in and queued" wait_for $((60 + JOBS / 20)) all_queued
diag "$JOBS jobs taken in $((($(date +%s%N) - t0) / 1000000)) ms after the drop"
check "inbox/ is empty" inbox_empty
check "nothing was rejected ($(ls "$SPOOL/rejected" | head -3 | tr '\n' ' '))" [ "$(count "$SPOOL/rejected")" -eq 0 ]
dups=$(ls "$SPOOL/queue" | sed 's/^[0-9]*-[0-9]*-//' | sort | uniq -d | head -3)
check "none twice ($dups)" [ -z "$dups" -a "$(count "$SPOOL/jobs")" -eq "$JOBS" ]
check "watcherd is up" alive "$WATCHERD"
done_testing
