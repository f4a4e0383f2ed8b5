# t-events.sh - the event stream (run/events.jsonl, hotfarm events): a real
# farm renders a job, rejects a hostile drop, cancels a job, loses a host,
# finds one site link up and one down; every kind of event is there with
# its fields, numbered uniquely and in order across several rotations; a
# --follow reader started first sees every line; --job and --since filter.
. "$(dirname "$0")/lib.sh"

RUN=$T/b
hotfarm init "$RUN" >/dev/null
printf '[site]\nname = b\nfsync = no\n[site testsite]\ntransport = unused\n' >"$RUN/conf/hotfarm.ini"
new_spool
sed -i 's/^name = testsite$/name = testsite\nsummary = 1/' "$SPOOL/conf/hotfarm.ini"
cat >>"$SPOOL/conf/hotfarm.ini" <<INI
[site b]
transport = $BIN/hotfarm --spool $RUN sync --serve --peer testsite
[site c]
transport = /bin/false
[events]
max_bytes = 1K
keep = 1000
INI
R=$SPOOL/run

hotfarm events >"$T/out" 2>"$T/err"
check "a new spool: no events yet, exit 0, nothing said" [ $? -eq 0 -a ! -s "$T/out" -a ! -s "$T/err" ]

# the follower starts before anything happens
hotfarm events --follow >"$T/follow" 2>"$T/follow.err" &
FOLLOW=$!
_pids="$_pids $FOLLOW"

start_watcherd
start_agent h1
povray_job "$T/shot" 1-8
drop_dir shot "$T/shot"
check "a job renders" wait_for 120 job_done shot

# a hostile drop: its name has a quote, a backslash, a newline and a byte
# that is no UTF-8; its job.ini is wrong in a way that is quoted back
mkdir -p "$T/bad"
printf '[job]\nframes = 1-"4\\\n[render]\nscene = x.pov\n' >"$T/bad/job.ini"
BADNAME=$(printf 'b"a\\d\n\377x')
tar -C "$T/bad" -cf "$T/bad.tar" job.ini
mv "$T/bad.tar" "$SPOOL/inbox/.bad.tmp" && mv "$SPOOL/inbox/.bad.tmp" "$SPOOL/inbox/$BADNAME.tar"
check "the hostile drop is rejected" wait_for 60 sh -c "[ \$(ls '$SPOOL/rejected' | wc -l) -ge 1 ]"

# a job cancelled while it waits (held first: no frame of it runs)
povray_job "$T/long" 1-50
drop_dir long "$T/long"
wait_for 60 sh -c "ls '$SPOOL/queue' '$SPOOL/held' 2>/dev/null | grep -q -- '-long\$'"
hotfarm hold long >/dev/null 2>&1
hotfarm cancel long >/dev/null
check "a job is cancelled" wait_for 30 in_state cancelled long

# a host lost: its agent killed, its heartbeat stops; then it comes back
kill -KILL "$AGENT" && wait "$AGENT" 2>/dev/null
check "the killed agent's host is found lost" wait_for 30 grep -q '"event":"host_lost"' "$R"/events*.jsonl
start_agent h1
check "the links are found up (b) and down (c)" wait_for 60 sh -c \
	"grep -q '\"event\":\"link_up\"' '$R'/events*.jsonl && grep -q '\"event\":\"link_down\"' '$R'/events*.jsonl"
# one more event after the last rotation we wait for, so the follower has a tail to read
check "the log rotated several times" wait_for 60 sh -c "[ \$(ls '$R' | grep -c '^events\.[0-9]*\.jsonl\$') -ge 3 ]"
diag "rotated files: $(ls "$R" | grep -c '^events\.[0-9]*\.jsonl$')"

stop_watcherd
kill -TERM "$AGENT" && wait "$AGENT" 2>/dev/null
# every file, oldest first: the stream as a whole
all() { for f in $(ls "$R" | sed -n 's/^events\.\([0-9]*\)\.jsonl$/\1/p' | sort -rn); do cat "$R/events.$f.jsonl"; done; cat "$R/events.jsonl"; }
all >"$T/all"
diag "$(wc -l <"$T/all") events"

check "every line is one JSON object, seq unique and increasing, time and event in each" python3 - "$T/all" <<'PY'
import json, sys
last = 0
for raw in open(sys.argv[1], 'rb').read().split(b'\n')[:-1]:
    e = json.loads(raw.decode('utf-8'))
    assert isinstance(e['seq'], int) and e['seq'] > last, (last, e)
    last = e['seq']
    assert e['time'].endswith('Z') and len(e['time']) == 27 and e['event'], e
PY

check "each kind of event is there, with its fields" python3 - "$T/all" "$BADNAME" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]
bad = sys.argv[2].encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')
kinds = {e['event'] for e in ev}
want = {'arrived', 'accepted', 'rejected', 'queued', 'started', 'frame_done', 'state', 'host_up', 'host_lost',
        'link_up', 'link_down'}
assert want <= kinds, want - kinds
of = lambda k, job=None: [e for e in ev if e['event'] == k and (job is None or e.get('job') == job)]
assert of('arrived', 'shot') and of('accepted', 'shot') and of('queued', 'shot') and of('started', 'shot'), 'shot'
done = of('frame_done', 'shot')
assert sorted(e['frame'] for e in done) == list(range(1, 9)), done
for e in done:
    assert e['host'].startswith('h1.') and e['attempt'] >= 1 and e['seconds'] >= 0, e
states = [(e['from'], e['state']) for e in of('state', 'shot')]
assert ('new', 'queued') in states and states[-1][1] == 'done', states
assert of('state', 'long')[-1]['state'] == 'cancelled', of('state', 'long')
assert [e for e in of('arrived') if e['job'] == bad + '.tar' or e['job'] == bad], ('hostile name', bad, of('arrived'))
rej = of('rejected')
assert len(rej) == 1 and rej[0]['reason'], rej
assert [e for e in of('host_lost') if e['host'] == 'h1'] and len(of('host_up')) >= 2, 'hosts'
assert [e for e in of('link_up') if e['site'] == 'b'] and [e for e in of('link_down') if e['site'] == 'c'], 'links'
PY
diag "the hostile lines: $(grep -a -e '"rejected"' -e '"arrived"' "$T/all" | grep -av shot | grep -av long | head -c 600)"

hotfarm events >"$T/out" 2>"$T/err"
check "hotfarm events prints the whole stream, rotated files first" cmp -s "$T/out" "$T/all"
check "and says nothing else" [ ! -s "$T/err" ]
hotfarm events --job shot >"$T/out"
grep -a '"job":"shot"' "$T/all" >"$T/want"
check "--job shot: its lines only" cmp -s "$T/out" "$T/want"
check "--job shot: all its frames" [ "$(grep -c '"event":"frame_done"' "$T/out")" -eq 8 ]
MID=$(sed -n "$(($(wc -l <"$T/all") / 2))p" "$T/all" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
hotfarm events --since "$MID" >"$T/out"
awk -v m="$MID" -F'[:,]' '$2 > m' "$T/all" >"$T/want"
check "--since $MID: the lines numbered above it" cmp -s "$T/out" "$T/want"
hotfarm events --since nine >/dev/null 2>"$T/err"
RC=$?
check "--since takes a number: else exit 100, saying so" [ $RC -eq 100 -a -n "$(grep "event's number" "$T/err")" ]
hotfarm events --job '../x' >/dev/null 2>&1
check "--job takes a job name: else exit 100" [ $? -eq 100 ]

check "the follower, started first, saw every line, across every rotation" wait_for 30 cmp -s "$T/follow" "$T/all"
[ -s "$T/follow.err" ] && diag "follower said: $(head -c 300 "$T/follow.err")"
kill "$FOLLOW"

# a follower started now prints what is there, then what comes
hotfarm events --follow --since "$MID" --job long >"$T/follow2" &
F2=$!
_pids="$_pids $F2"
grep -a '"job":"long"' "$T/want" >"$T/want2"
check "a follower with --since and --job prints the matching lines" wait_for 30 cmp -s "$T/follow2" "$T/want2"
kill "$F2"

chmod 000 "$R/events.jsonl"
if [ "$(id -u)" -ne 0 ]; then
	hotfarm events >/dev/null 2>"$T/err"
	RC=$?
	check "a stream it may not read: exit 111, said plainly" [ $RC -eq 111 -a -n "$(grep 'admins group' "$T/err")" ]
fi
chmod 640 "$R/events.jsonl"
done_testing
