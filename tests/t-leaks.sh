# t-leaks.sh - watcherd runs for months: over a stream of jobs its open
# descriptors must not grow and its memory must level off. Short form:
# 1,200 jobs in batches of 300 (LEAK_JOBS for more, as make stress does);
# after each batch, once every job is queued, count watcherd's descriptors
# and resident memory.
. "$(dirname "$0")/lib.sh"

N=${LEAK_JOBS:-1200}
B=$((N / 4))
new_spool
start_watcherd
mkdir -p "$T/tpl"
printf 'x\n' >"$T/tpl/scene.pov"
printf '[job]\nframes = 1\n[render]\nscene = scene.pov\n' >"$T/tpl/job.ini"
tar -C "$T/tpl" -cf "$T/tpl.tar" .
fds() { ls "/proc/$WATCHERD/fd" | wc -l; }
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$WATCHERD/status"; }
queued_n() { [ "$(ls "$SPOOL/queue" | wc -l)" -ge "$1" ]; }
fd0=$(fds)
i=0
for batch in 1 2 3 4; do
	end=$((batch * B))
	while [ $i -lt $end ]; do
		i=$((i + 1))
		cp "$T/tpl.tar" "$SPOOL/inbox/.j$i.tar" && mv "$SPOOL/inbox/.j$i.tar" "$SPOOL/inbox/j$i.tar"
	done
	wait_for 120 queued_n "$end" || break
	# let the status page and the last spawned children finish
	wait_brief 10 sh -c "[ \$(ls /proc/$WATCHERD/task | wc -l) -ge 1 ] && [ -z \"\$(pgrep -P $WATCHERD)\" ]"
	eval "fd$batch=\$(fds) rss$batch=\$(rss)"
	diag "after $end jobs: $(fds) descriptors, $(rss) kB resident"
done
check "all $N jobs were taken in and queued" queued_n "$N"
check "watcherd's descriptors do not grow ($fd0 at start, $fd1 $fd2 $fd3 $fd4 after each $B jobs)" \
	[ "$fd4" -le $((fd1 + 2)) -a "$fd4" -le $((fd0 + 4)) ]
growth=$((rss4 - rss2))
check "its memory levels off (${rss2} kB after $((2 * B)) jobs, ${rss4} kB after $N: +$growth kB)" [ "$growth" -le 1024 ]
check "watcherd is still up" alive "$WATCHERD"
done_testing
