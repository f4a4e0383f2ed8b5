# t-billing-csv.sh - hotfarm billing --csv quotes its fields as RFC 4180
# says: an owner holding a comma or a quote stays one field, and a
# spreadsheet or Python's csv module reads back exactly what was billed.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent a --slots 2

# two quick command jobs: one owner plain, one with a comma and a quote
for j in plain odd; do
	mkdir -p "$T/$j"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/$j/in.png" 64 48
	printf '[job]\nframes = 1-2\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "b_####.png"\nargs = cp {files}/in.png {output}\n' >"$T/$j/job.ini"
done
sed -i 's/^\[job\]$/[job]\nowner = ann/' "$T/plain/job.ini"
sed -i "s/^\\[job\\]\$/[job]\\nowner = 'o\"neil, j'/" "$T/odd/job.ini"
drop_dir plain "$T/plain"
drop_dir odd "$T/odd"
check "both jobs are done" wait_for 60 sh -c 'in_state() { ls "$1/$2" 2>/dev/null | grep -q -- "-$3\$"; }; in_state "$0" done plain && in_state "$0" done odd' "$SPOOL"

hotfarm billing --csv >"$T/bill.csv"
sed 's/^/# /' "$T/bill.csv"
check "every row has the header's six fields, owners read back whole" python3 -c "
import csv, sys
rows = list(csv.reader(open('$T/bill.csv', newline='')))
assert rows[0] == ['owner', 'job', 'frames', 'cpu_hours', 'wall_hours', 'output_bytes'], rows[0]
assert all(len(r) == 6 for r in rows), rows
got = sorted((r[0], r[1], r[2]) for r in rows[1:])
want = sorted([('ann', 'plain', '2'), ('o\"neil, j', 'odd', '2'), ('ann', '(all)', '2'), ('o\"neil, j', '(all)', '2')])
assert got == want, got
"
check "a plain owner is not quoted" grep -q '^ann,plain,2,' "$T/bill.csv"
check "the odd one is, its quote doubled" grep -q '^"o""neil, j",odd,2,' "$T/bill.csv"
done_testing
