# t-sites-rerender.sh - re-rendering where the data already is: frames of a
# job a linked site rendered are rendered again there from the copy it
# kept (only a small request travels); when that site no longer holds the
# job, it is sent again as a delta, for those frames only.
. "$(dirname "$0")/lib.sh"

status_of() { sed -n "s/^$2 = //p" "$T/$1/jobs/$3/status.ini" 2>/dev/null; }
inode() { stat -c %i "$1" 2>/dev/null; }

linked_pair a b
on b
start_watcherd
start_agent b1 --slots 2
on a
start_watcherd

povray_job "$T/remote" 1-4
printf '[job]\nsite = b\nowner = ann\nchunk = 1\n' >>"$T/remote/job.ini"
drop_dir remote "$T/remote"
check "a job asking for site b renders there and comes back done" wait_for 120 in_state done remote
O=$T/a/jobs/remote/output
BJ=$T/b/sites/a/jobs/remote
check "4 frames at a" [ "$(ls "$O" | grep -c '^f_000[1-4]\.png$')" -eq 4 ]
for f in 1 2 3 4; do eval "px$f=\$(pixels $O/f_000$f.png)"; eval "ino$f=\$(inode $O/f_000$f.png)"; done
desc_ino=$(inode "$BJ/job.ini")
jobs_in_b=$(grep -c 'received remote.job.tar' "$T/a.watcherd.log")
diag "b received the job $jobs_in_b time(s) so far"

# 1. b kept its copy: only a request travels; b renders frame 2 again
hotfarm rerender remote 2 >"$T/rr1.txt" 2>&1
check "hotfarm rerender of a job rendered at b says b renders it again ($(cat "$T/rr1.txt"))" \
	grep -q 'site b renders 1 frame ticket again' "$T/rr1.txt"
check "the job waits at a, outsourced, while b renders" sh -c "ls '$T/a/outsourced' '$T/a/done' | grep -q -- '-remote\$'"
asked() { grep -q 'received remote.rerender from a' "$T/a.watcherd.log"; }
check "a small request (remote.rerender) goes to b" wait_for 30 asked
rline=$(grep 'received remote.rerender from a' "$T/a.watcherd.log" | tail -1)
rwire=$(echo "$rline" | sed -n 's/.*(\([0-9]*\) bytes; \([0-9]*\) on the wire).*/\2/p')
check "only the request travels: $rwire bytes on the wire (the job's tar alone is bigger than 1 KB)" \
	[ -n "$rwire" ] && [ "$rwire" -lt 1024 ]
rerendered_b() { ls "$BJ/frames/done/" 2>/dev/null | grep -- '-0*2$' | sed "s|^|$BJ/frames/done/|" | xargs grep -qs '^rerender = .* site:a'; }
check "b re-renders frame 2 from the copy it kept (its ticket says so)" wait_for 60 rerendered_b
replaced2() { [ "$(inode "$O/f_0002.png")" != "$ino2" ] && in_state done remote; }
check "a has a new frame 2 and the job is done again" wait_for 120 replaced2
check "b did not take in the job again (its job.ini is the same file)" [ "$(inode "$BJ/job.ini")" = "$desc_ino" ]
check "the job itself was not sent again" [ "$(grep -c 'received remote.job.tar' "$T/a.watcherd.log")" = "$jobs_in_b" ]
check "frame 2 is pixel-identical to the first render" [ "$(pixels "$O/f_0002.png")" = "$px2" ]
check "all 4 frames are there and a counts 4 done" \
	sh -c "[ \$(ls '$O' | grep -c '^f_000[1-4]\.png\$') -eq 4 ] && [ '$(status_of a frames_done remote)' = 4 ]"
t2=$(ls "$T/a/jobs/remote/frames/done/" | grep -- '-0*2$')
check "a's ticket of frame 2 bills both renders (two billing lines)" \
	[ "$(grep -c '^billing = frame=2 ok=1' "$T/a/jobs/remote/frames/done/$t2")" = 2 ]
check "its markers are gone once the frames came back" \
	sh -c "[ ! -e '$T/a/jobs/remote/rerender.want' ] && [ ! -e '$T/a/jobs/remote/rerender.sent' ]"

# 2. b no longer holds the job (its retention cleared it; the sync basis,
# which keeps bytes for deltas, is still there): a sends it again, as a
# delta against the last version, for frame 3 only
for f in 1 4; do eval "ino$f=\$(inode $O/f_000$f.png)"; done
on b
rm -f "$T/b/done/"*-remote@a
rm -rf "$BJ"
on a
t3=$(ls "$T/a/jobs/remote/frames/done/" | grep -- '-0*3$')
hotfarm rerender remote 3 >"$T/rr2.txt" 2>&1
check "hotfarm rerender again ($(cat "$T/rr2.txt"))" grep -q 'site b renders 1 frame ticket again' "$T/rr2.txt"
resent() { [ "$(grep -c 'received remote.job.tar from a' "$T/a.watcherd.log")" -gt "$jobs_in_b" ]; }
check "b says it no longer holds it; the job is sent again" wait_for 60 resent
line=$(grep 'received remote.job.tar from a' "$T/a.watcherd.log" | tail -1)
size=$(echo "$line" | sed -n 's/.*(\([0-9]*\) bytes; \([0-9]*\) on the wire).*/\1/p')
wire=$(echo "$line" | sed -n 's/.*(\([0-9]*\) bytes; \([0-9]*\) on the wire).*/\2/p')
check "as a delta against the last version: $wire bytes on the wire for a $size-byte job" \
	[ -n "$wire" ] && [ "$wire" -lt $((size / 2)) ]
only3() { grep -q '^only = 3$' "$BJ/job.ini" 2>/dev/null && grep -q '^frames = "*1-4"*$' "$BJ/job.ini"; }
check "b takes it in for frame 3 only (the job's frames, which the clock follows, stay 1-4)" wait_for 60 only3
b_tickets() { ls "$BJ/frames/todo" "$BJ/frames/active" "$BJ/frames/done" "$BJ/frames/failed" 2>/dev/null | grep -- '-0' | sed 's/@.*//'; }
check "b made one ticket, named as at a ($(b_tickets))" [ "$(b_tickets)" = "$t3" ]
replaced3() { [ "$(inode "$O/f_0003.png")" != "$ino3" ] && in_state done remote; }
check "a has a new frame 3 and the job is done again" wait_for 120 replaced3
check "frame 3 is pixel-identical to the first render" [ "$(pixels "$O/f_0003.png")" = "$px3" ]
check "frames 1 and 4 were left alone at a (same files)" \
	sh -c "[ '$(inode "$O/f_0001.png")' = '$ino1' ] && [ '$(inode "$O/f_0004.png")' = '$ino4' ]"
check "a still counts 4 frames done, none failed" \
	sh -c "[ '$(status_of a frames_done remote)' = 4 ] && [ '$(status_of a frames_failed remote)' = 0 ]"
F=$T/a/jobs/remote/frames
check "a's tickets: 4 done, nothing left to render" \
	sh -c "[ \$(ls '$F/done' | wc -l) -eq 4 ] && [ \$(ls '$F/todo' | wc -l) -eq 0 ] && [ \$(ls '$F/failed' | wc -l) -eq 0 ]"

# 3. a peer may ask only about jobs it sent: a request for another site's
# job, or one naming another job, is refused; b stays up
mkdir -p "$T/b/sites/a/in"
printf '[rerender]\nsite = a\njob = other\nframes = 1\n' >"$T/b/sites/a/in/remote.rerender"
refused_req() { ls "$T/b/sites/a/rejected" 2>/dev/null | grep -q 'remote.rerender'; }
check "a re-render request naming another job is set aside" wait_for 30 refused_req
printf '[rerender]\nsite = a\njob = nosuch\nframes = 1-1000000000\n' >"$T/b/sites/a/in/nosuch.rerender"
told() { [ -e "$T/b/sites/a/out/nosuch.missing" ] || grep -q 'nosuch.*sent back whole' "$T/b.watcherd.log"; }
check "one for a job b never had is answered 'missing'" wait_for 30 told
missing_dropped() { grep -q 'nosuch, which this site did not send' "$T/a.watcherd.log"; }
check "and a, which never sent it, drops that answer" wait_for 30 missing_dropped
check "a's job is still done" in_state done remote

# metrics: bytes on the wire with b, as hf-sync counts them (sites/b/traffic)
metric() { awk -v k="hotfarm_site_bytes_total{site=\"b\",direction=\"$1\"}" '$1 == k { print $2 }' "$T/a/status/metrics.prom" 2>/dev/null; }
counted() { sed -n "s/^$1_bytes = //p" "$T/a/sites/b/traffic" 2>/dev/null; }
wire_ok() {
	m=$(metric "$1")
	c=$(counted "$1")
	[ -n "$m" ] && [ "$m" -gt 0 ] && [ "$m" -le "$c" ]
}
check "a's metrics.prom has the bytes sent to b ($(metric sent); sites/b/traffic: $(counted sent))" wait_for 10 wire_ok sent
check "and received from b ($(metric received); $(counted received))" wait_for 10 wire_ok received
done_testing
