# t-rescan.sh - what inotify cannot see is found by the rescan: files that
# arrived while watcherd was down, a spool watched without inotify (as on
# NFS, where other hosts' writes make no events), and intakes that were
# interrupted half way (recovered from the tree alone).
. "$(dirname "$0")/lib.sh"

new_spool
# dropped while no watcherd runs
drop_job whiledown
printf 'x\n' >"$SPOOL/cancel/nosuchjob-yet"
start_watcherd
check "a job dropped while watcherd was down is taken in at start" wait_for 10 queued whiledown
stop_watcherd

# no inotify at all: the periodic rescan alone
printf '[watcherd]\nrescan_ms = 300\ninotify = no\n[site]\nfsync = no\n' >"$SPOOL/conf/hotfarm.ini"
start_watcherd
check "without inotify watcherd says so" grep -q "no inotify" "$SPOOL.watcherd.log"
drop_job polled
check "without inotify the rescan takes the job in" wait_for 10 queued polled
# written in place, as another host on a network mount would
make_job "$T/src" remote
tar -C "$T/src/remote.d" -cf "$SPOOL/inbox/remote.tar" .
cp "$T/src/remote.ini" "$SPOOL/inbox/remote.ini"
check "files written in place are taken in by the rescan" wait_for 10 queued remote
stop_watcherd

# an intake killed after claiming the dropped files but before its commit:
# the claimed files are put back into inbox/ and taken in again
mkdir -p "$SPOOL/work/in.999.1/job/files" "$SPOOL/work/in.999.1/dropped"
make_job "$T/src" interrupted
tar -C "$T/src/interrupted.d" -cf "$SPOOL/work/in.999.1/dropped/interrupted.tar" .
mv "$T/src/interrupted.ini" "$SPOOL/work/in.999.1/dropped/interrupted.ini"
touch "$SPOOL/work/in.999.1/lock"
# and an intake killed between its two commits: job in jobs/, no entry
drop_job halfway
start_watcherd
wait_for 10 queued halfway
stop_watcherd
e=$(ls "$SPOOL/queue" | grep -- '-halfway$')
cp -a "$SPOOL/jobs/halfway" "$SPOOL/jobs/halfdone"
rm -f "$SPOOL/jobs/halfdone/intake.pending"
printf '%s\n' "$(echo "$e" | cut -d- -f1-2)" >"$SPOOL/jobs/halfdone/intake.pending"

start_watcherd
check "a claimed drop from an interrupted intake goes back and through" wait_for 10 queued interrupted
check "its work folder is cleaned up" [ ! -e "$SPOOL/work/in.999.1" ]
check "a job committed but not entered is entered at start" wait_for 10 queued halfdone
check "and its pending marker is gone" [ ! -e "$SPOOL/jobs/halfdone/intake.pending" ]
n=$(ls "$SPOOL/queue" | grep -c -- '-halfdone$')
check "exactly one entry for it ($n)" [ "$n" -eq 1 ]
grep -q "recovered" "$SPOOL.watcherd.log"
check "the log says what was recovered" [ $? -eq 0 ]

# the counts the farm pass keeps between passes (run/farm.counts) follow
# every change of a job's tickets, also two within one second; a job left
# alone is not counted again
J=$SPOOL/jobs/polled
done_is() { grep -qx "frames_done = $1" "$J/status.ini"; }
check "the farm pass keeps its counts in run/farm.counts" wait_for 10 grep -q '^polled 4 0 0 0 ' "$SPOOL/run/farm.counts"
finish_one() { # a ticket from todo/ to done/, as an agent that finished it
	_t=$(ls "$J/frames/todo" | head -n 1)
	mv "$J/frames/todo/$_t" "$J/frames/done/$_t"
}
finish_one
check "a finished ticket shows in status.ini" wait_for 10 done_is 1
finish_one
finish_one
check "and two more right after it" wait_for 10 done_is 3
counted() { grep '^polled ' "$SPOOL/run/farm.counts" | cut -d' ' -f6; }
# (true once its count's time has not moved for 2 s, 6 rescans)
last="" since=0
quiet() {
	_v=$(counted) _now=$(date +%s%N)
	if [ "$_v" != "$last" ]; then last=$_v since=$_now; return 1; fi
	[ $((_now - since)) -ge 2000000000 ]
}
check "a job whose tickets stay as they are is not counted again" wait_for 15 quiet
check "and its counts stay right (3 done)" done_is 3
done_testing
