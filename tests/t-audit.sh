# t-audit.sh - hotfarm audit reads the farm's record of every action
# (run/audit.log, lines as hotfarm(1) documents them): nothing on a new
# spool; then oldest first in aligned, escaped columns or JSON lines,
# filtered by job, user (name or uid) and date or age; malformed lines
# passed over and counted; a log it may not read, or a FIFO, said plainly.
. "$(dirname "$0")/lib.sh"

new_spool
LOG=$SPOOL/run/audit.log
hotfarm audit >"$T/out" 2>"$T/err"
check "a new spool: no log, exit 0" [ $? -eq 0 ]
check "and nothing printed" [ ! -s "$T/out" -a ! -s "$T/err" ]
hotfarm audit --json >"$T/out"
check "nor with --json" [ $? -eq 0 -a ! -s "$T/out" ]

# lines as audit_record writes them (unit.c checks that it does), two
# that are not, and the times they are filtered by
ago() { date -u -d "$1 ago" +%Y-%m-%dT%H:%M:%S.000Z; }
{
	printf 'time=2020-01-02T03:04:05.006Z uid=1001 user=alice action=submit job=shot1 result=done reason="48 frames"\n'
	printf 'garbage\n'
	printf 'time=%s uid=1002 user=bob action=cancel job=shot2 result=refused reason="not bob'\''s: shot2 is \\"alice\\"'\''s"\n' "$(ago '3 days')"
	printf 'time=%s uid=0 user=root action=hold job=shot1 result=done reason="line one\\x0aline two\\x1b[31m"\n' "$(ago '1 hour')"
	printf 'time=yesterday uid=1 user=x action=y job= result=z reason=""\n'
	printf 'time=%s uid=4242 user=#4242 action=drain job= result=done reason=""\n' "$(ago '10 minutes')"
} >"$LOG"
chmod 640 "$LOG"

hotfarm audit >"$T/out" 2>"$T/err"
check "the log is read (exit 0)" [ $? -eq 0 ]
sed 's/^/# /' "$T/out"
# actions AUDIT... of the rows (after the header) of hotfarm audit ARGS
actions() { _want=$1; shift; [ "$(hotfarm audit "$@" 2>/dev/null | awk 'NR > 1 { print $3 }' | tr '\n' ' ')" = "$_want" ]; }
check "a header and four rows, oldest first" [ "$(awk '{ print $3 }' "$T/out" | tr '\n' ' ')" = "ACTION submit cancel hold drain " ]
check "the two malformed lines are counted on stderr" grep -q '2 malformed lines of run/audit.log passed over' "$T/err"
check "the columns are aligned: each value starts under its header" python3 -c "
import sys
rows = open('$T/out').read().splitlines()
head = rows[0]
starts = [head.index(w) for w in ('USER', 'ACTION', 'JOB', 'RESULT', 'REASON')]
for r in rows[1:]:
    for s in starts:
        assert r[s - 1] == ' ' and r[s] != ' ', (r, s)
"
check "a newline and an escape in a reason are shown escaped, on one line" \
	grep -qF 'line one\x0aline two\x1b[31m' "$T/out"
check "no control character reaches the terminal" sh -c "! LC_ALL=C grep -q '[[:cntrl:]]' '$T/out'"
check "a line with no job shows -" sh -c "grep ' drain ' '$T/out' | awk '{ exit \$4 != \"-\" }'"

check "--job shot1: its two lines" actions "submit hold " --job shot1
check "--user bob" actions "cancel " --user bob
check "--user 1001: a uid matches too" actions "submit " --user 1001
check "--user 4242: a uid without a name" actions "drain " --user 4242
check "--user nobody-here: no line, no header" [ -z "$(hotfarm audit --user nobody-here 2>/dev/null)" ]
check "--since 2h" actions "hold drain " --since 2h
check "--since 30m" actions "drain " --since 30m
check "--since 2d" actions "hold drain " --since 2d
check "--since 4d" actions "cancel hold drain " --since 4d
check "--since 2021-01-01 (a date, as billing takes it)" actions "cancel hold drain " --since 2021-01-01
check "--since 2020-01-01" actions "submit cancel hold drain " --since 2020-01-01
check "filters combine" actions "hold " --job shot1 --since 1d --user 0
hotfarm audit --since yesterday >/dev/null 2>"$T/err"
check "--since yesterday is refused (exit 100)" [ $? -eq 100 ]
check "saying what it takes" grep -q 'a date like 2026-11-01 or an age like 2h' "$T/err"
hotfarm audit --job ../x >/dev/null 2>&1
check "--job ../x is refused (exit 100)" [ $? -eq 100 ]

hotfarm --json audit >"$T/json" 2>/dev/null
check "--json: one object a line, values unescaped" python3 -c "
import json
rows = [json.loads(l) for l in open('$T/json')]
assert [r['action'] for r in rows] == ['submit', 'cancel', 'hold', 'drain'], rows
a, b, h, d = rows
assert a['time'] == '2020-01-02T03:04:05.006Z' and a['time_us'] == 1577934245006000 and a['uid'] == 1001, a
assert b['reason'] == 'not bob\'s: shot2 is \"alice\"\'s' and b['result'] == 'refused', b
assert h['reason'] == 'line one\nline two\x1b[31m' and h['user'] == 'root' and h['job'] == 'shot1', h
assert d['job'] == '' and d['reason'] == '' and d['user'] == '#4242', d
"
check "--json filters too" [ "$(hotfarm audit --json --user bob 2>/dev/null | wc -l)" -eq 1 ]

# a log this user may not read: said plainly, exit 111
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups hotfarm --spool "$SPOOL" audit >/dev/null 2>"$T/err"
else
	chmod 000 "$LOG"
	hotfarm audit >/dev/null 2>"$T/err"
fi
check "a log it may not read: exit 111" [ $? -eq 111 ]
sed 's/^/# /' "$T/err"
check "saying who may read it" grep -qF "run/audit.log is readable by the farm's user and the admins group ([site] admins)" "$T/err"

# a FIFO in the log's place blocks nobody
rm -f "$LOG" && mkfifo "$LOG"
timeout 10 hotfarm audit >/dev/null 2>"$T/err"
check "a FIFO for a log: refused at once, exit 111 (not stuck)" [ $? -eq 111 ]
check "as not a regular file" grep -q 'not a regular file' "$T/err"
rm -f "$LOG" && printf 'time=2020-01-02T03:04:05Z uid=1 user=a action=b job= result=c reason=""\n' >"$T/elsewhere" &&
	ln -s "$T/elsewhere" "$LOG"
hotfarm audit >"$T/out" 2>"$T/err"
check "a symlink for a log is not followed" [ $? -eq 111 -a ! -s "$T/out" ]
done_testing
