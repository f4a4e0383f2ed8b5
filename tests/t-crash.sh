# t-crash.sh - crash-only intake: SIGKILL watcherd (and with it every
# spooler it runs) again and again while 110 jobs are being taken in (10
# of them folders dropped into a preset's folder).
# Every job must end accepted or rejected exactly once, and no half-unpacked
# job may ever be visible in queue/.
. "$(dirname "$0")/lib.sh"

new_spool
# one intake at a time, so that the kills land in the middle of things
printf '[intake]\nprocesses = 1\n' >>"$SPOOL/conf/hotfarm.ini"
GOOD=90 BAD=10
mkdir -p "$T/drops"
i=0
while [ $i -lt $GOOD ]; do
	n=job$i
	make_job "$T/src" "$n"
	head -c 1000000 /dev/urandom >"$T/src/$n.d/texture.bin"
	tar -C "$T/src/$n.d" -cf "$T/drops/$n.tar" .
	mv "$T/src/$n.ini" "$T/drops/$n.ini"
	i=$((i + 1))
done
i=0
while [ $i -lt $BAD ]; do
	n=bad$i
	make_job "$T/src" "$n"
	sed -i 's/^frames = .*/frames = 0-1000000000000/' "$T/src/$n.ini"
	tar -C "$T/src/$n.d" -cf "$T/drops/$n.tar" .
	mv "$T/src/$n.ini" "$T/drops/$n.ini"
	i=$((i + 1))
done

# folders for a preset's hot folder, described by it (copied in, not unpacked)
PRE=10
printf '[job]\nframes = 1-4\n[render]\nwidth = 64\nheight = 48\n' >"$SPOOL/conf/presets/crash.ini"
i=0
while [ $i -lt $PRE ]; do
	mkdir -p "$T/folders/pre$i/maps"
	write_scene "$T/folders/pre$i/scene.pov"
	head -c 1000000 /dev/urandom >"$T/folders/pre$i/maps/texture.bin"
	i=$((i + 1))
done

# a watcher of queue/: every entry there must name a complete job
(
	while [ ! -e "$T/stop-monitor" ]; do
		for e in $(ls "$SPOOL/queue"); do
			j=${e#*-*-}
			if [ ! -f "$SPOOL/jobs/$j/job.ini" ] || [ ! -f "$SPOOL/jobs/$j/status.ini" ] ||
				[ "$(ls "$SPOOL/jobs/$j/frames/todo" 2>/dev/null | wc -l)" -ne 4 ]; then
				# the entry may have moved on meanwhile; only a present one counts
				[ -e "$SPOOL/queue/$e" ] && echo "$e" >>"$T/violations"
			fi
		done
	done
) &
MON=$!
_pids="$_pids $MON"

start_watcherd
# drop everything the careful way, archives first
for f in "$T"/drops/*.tar "$T"/drops/*.ini; do
	b=$(basename "$f")
	mv "$f" "$SPOOL/inbox/.$b" && mv "$SPOOL/inbox/.$b" "$SPOOL/inbox/$b"
done
for f in "$T"/folders/*; do
	b=$(basename "$f")
	cp -r "$f" "$SPOOL/inbox/crash/.$b" && mv "$SPOOL/inbox/crash/.$b" "$SPOOL/inbox/crash/$b"
done

settled() {
	inbox_empty && [ "$(count "$SPOOL/work")" -eq 0 ] && [ "$(count "$SPOOL/new")" -eq 0 ] &&
		[ "$(($(count "$SPOOL/queue") + $(count "$SPOOL/rejected")))" -eq $((GOOD + BAD + PRE)) ]
}
kills=0
while ! settled && [ $kills -lt 40 ]; do
	# let it work for a random 10-120 ms, then kill it without warning
	sleep "0.$(shuf -i 10-120 -n 1 | xargs printf '%03d')"
	kill -KILL "$WATCHERD" 2>/dev/null
	wait "$WATCHERD" 2>/dev/null
	kills=$((kills + 1))
	start_watcherd || break
done
diag "watcherd was killed $kills times"
check "everything settles after the last restart" wait_for 60 settled
touch "$T/stop-monitor"
wait "$MON" 2>/dev/null

check "no half-unpacked job was ever visible in queue/ ($(sort -u "$T/violations" 2>/dev/null | head -3 | tr '\n' ' '))" [ ! -s "$T/violations" ]
check "all $GOOD good jobs are queued" [ "$(ls "$SPOOL/queue" | grep -c -- '-job[0-9]*$')" -eq $GOOD ]
dups=$(ls "$SPOOL/jobs" | grep -- '-[0-9]*$' | head -3)
check "none was taken in twice (no NAME-2: $dups)" [ -z "$dups" ]
check "all $PRE folders dropped into a preset's folder are queued" [ "$(ls "$SPOOL/queue" | grep -c -- '-pre[0-9]*$')" -eq $PRE ]
check "exactly $((GOOD + PRE)) job folders" [ "$(count "$SPOOL/jobs")" -eq $((GOOD + PRE)) ]
check "all $BAD bad jobs are rejected" [ "$(count "$SPOOL/rejected")" -eq $BAD ]
lost=""
for i in $(seq 0 $((BAD - 1))); do
	[ -f "$SPOOL/rejected/bad$i/bad$i.tar" ] && [ -f "$SPOOL/rejected/bad$i/bad$i.ini" ] && grep -q frames "$SPOOL/rejected/bad$i/reason.txt" || lost="$lost bad$i"
done
check "each rejected job keeps what was dropped and says why ($lost)" [ -z "$lost" ]
check "no intake was left half way" [ -z "$(ls "$SPOOL"/jobs/*/intake.pending 2>/dev/null)" ]
bad=""
for i in $(seq 0 $((GOOD - 1))); do
	cmp -s "$SPOOL/jobs/job$i/files/texture.bin" "$T/src/job$i.d/texture.bin" || bad="$bad job$i"
done
for i in $(seq 0 $((PRE - 1))); do
	cmp -s "$SPOOL/jobs/pre$i/files/maps/texture.bin" "$T/folders/pre$i/maps/texture.bin" || bad="$bad pre$i"
done
check "every job's files arrived whole ($bad)" [ -z "$bad" ]
done_testing
