# t-billing.sh - billing that adds up: on two linked sites, a done, a failed, a cancelled (while rendering), a
# re-rendered and an outsourced job are each billed for every attempt that ran; hotfarm billing --by
# owner|job|pool|site totals equal the sum of the tickets' billing lines (summed here by Python); the submitted
# archive's size, the packages sent between the sites and the bytes on the wire are counted; a peer's garbage
# billing line breaks nothing. Real daemons, POV-Ray.
. "$(dirname "$0")/lib.sh"

ini() { sed -n "s/^$2 = //p" "$1" 2>/dev/null | sed 's/^"\(.*\)"$/\1/'; }

linked_pair a b
start_pair
start_agent a1 --slots 2
hotfarm pool a1 set gpu >/dev/null
check "a1 renders in pool gpu" wait_for 30 grep -q 'pools: gpu' "$SPOOL.agent-a1.log"

# drop_sized NAME DIR: drop DIR as NAME.tar the careful way, its size kept in $T/NAME.size
drop_sized() {
	tar -C "$2" -cf "$T/$1.tar" . && stat -c %s "$T/$1.tar" >"$T/$1.size" &&
		mv "$T/$1.tar" "$SPOOL/inbox/.$1.tar" && mv "$SPOOL/inbox/.$1.tar" "$SPOOL/inbox/$1.tar"
}
# cmd_job DIR FRAMES SCRIPT: a command job running SCRIPT (sh, args: frame, output) in its folder
cmd_job() {
	mkdir -p "$1"
	cp "$HF_ROOT/examples/orbit/scene.pov" "$1/scene.pov"
	printf '[job]\nframes = %s\nretries = 1\nowner = bob\n[render]\npackage = command\nscene = run.sh\nwidth = 64\nheight = 48\noutput = "c_####.png"\nargs = sh {files}/run.sh {frame} {output}\n' \
		"$2" >"$1/job.ini"
	printf 'cd "$(dirname "$0")" || exit 1\n%s\n' "$3" >"$1/run.sh"
}
POV='exec povray -D -V +Iscene.pov +O"$2" +W64 +H48 +FN +KFI1 +KFF3 +SF$1 +EF$1'

# 1. done
povray_job "$T/ok" 1-3
sed -i 's/^\[job\]$/[job]\nowner = ann/' "$T/ok/job.ini"
drop_sized ok "$T/ok"
check "a plain job is done" wait_for 90 job_done ok
check "its submitted_bytes is the archive's size ($(cat "$T/ok.size"))" \
	[ "$(ini "$SPOOL/jobs/ok/sizes.ini" submitted_bytes)" = "$(cat "$T/ok.size")" ]
check "and billing.ini says so too" [ "$(ini "$SPOOL/jobs/ok/billing.ini" submitted_bytes)" = "$(cat "$T/ok.size")" ]
check "its billing lines name the pool the host is in" grep -q ' pool=gpu$' "$SPOOL"/jobs/ok/frames/done/*

# 2. failed: frame 2 fails, twice (retries = 1); both attempts are billed
cmd_job "$T/bad" 1-3 "[ \"\$1\" = 2 ] && exit 1
$POV"
drop_sized bad "$T/bad"
check "a job whose frame 2 fails ends failed" wait_for 90 job_failed bad
check "its billing counts 4 attempts (frame 2 twice), 2 frames ($(ini "$SPOOL/jobs/bad/billing.ini" attempts))" \
	sh -c "[ '$(ini "$SPOOL/jobs/bad/billing.ini" attempts)' = 4 ] && [ '$(ini "$SPOOL/jobs/bad/billing.ini" frames)' = 2 ]"

# 3. cancelled while frame 2 renders, after frame 1 is done
SLOW=60.$(($$ % 10000))
cmd_job "$T/stop" 1-2 "[ \"\$1\" = 1 ] && $POV
exec sleep $SLOW"
drop_sized stop "$T/stop"
one_done_one_busy() { [ "$(ls "$SPOOL/jobs/stop/frames/done" 2>/dev/null | wc -l)" -eq 1 ] &&
	[ "$(ls "$SPOOL/jobs/stop/frames/active" 2>/dev/null | wc -l)" -eq 1 ]; }
check "frame 1 of the slow job is done and frame 2 renders" wait_for 90 one_done_one_busy
hotfarm cancel stop >/dev/null
check "the job is cancelled" wait_for 20 in_state cancelled stop
killed_billed() { [ "$(ini "$SPOOL/jobs/stop/billing.ini" attempts)" = 2 ] &&
	[ -z "$(ls "$SPOOL/jobs/stop/frames/active")" ]; }
check "once its render stopped, billing.ini bills both attempts, the killed one too" wait_for 20 killed_billed
check "the killed attempt ran and is billed as not published" \
	grep -q '^billing = frame=2 ok=0 ' "$SPOOL"/jobs/stop/frames/todo/*
check "the sleep is gone" wait_for 10 sh -c "! pgrep -x -f 'sleep $SLOW' >/dev/null"

# 4. re-rendered: the bills before the re-render still count
povray_job "$T/rr" 1-2
drop_sized rr "$T/rr"
check "a job to re-render is done" wait_for 90 job_done rr
hotfarm rerender rr 2 >/dev/null
check "re-rendered, it is done again with 3 attempts billed" \
	wait_for 90 sh -c "ls '$SPOOL/done' | grep -q -- '-rr\$' && grep -qx 'attempts = 3' '$SPOOL/jobs/rr/billing.ini'"

# 5. outsourced to b
povray_job "$T/far" 1-2
printf '[job]\nsite = b\nowner = cyd\n' >>"$T/far/job.ini"
drop_sized far "$T/far"
check "a job for site b is done there and comes back" wait_for 120 job_done far
BJ=$T/b/sites/a/jobs/far
check "at b its billing.ini is site a's, with the owner a reported (cyd)" \
	sh -c "[ '$(ini "$BJ/billing.ini" owner)' = site:a ] && [ '$(ini "$BJ/billing.ini" reported_owner)' = cyd ]"
check "at a it is billed to site b" [ "$(ini "$SPOOL/jobs/far/billing.ini" site)" = b ]
sent_a=$(ini "$SPOOL/jobs/far/sizes.ini" site_sent_bytes)
recv_b=$(ini "$BJ/sizes.ini" site_received_bytes)
check "the job's package: sent by a ($sent_a bytes) as received by b ($recv_b)" \
	sh -c "[ '${sent_a:-0}' -gt 0 ] && [ '$sent_a' = '$recv_b' ]"
check "its answers: received by a, sent by b (>0: $(ini "$SPOOL/jobs/far/sizes.ini" site_received_bytes), $(ini "$BJ/sizes.ini" site_sent_bytes))" \
	sh -c "[ '$(ini "$SPOOL/jobs/far/sizes.ini" site_received_bytes)' -gt 0 ] && [ '$(ini "$BJ/sizes.ini" site_sent_bytes)' -gt 0 ]"

# every grouping adds up to the attempts' lines, summed here independently
cat >"$T/sum.py" <<'PY'
import csv, glob, io, json, os, subprocess, sys
spool, site = sys.argv[1], sys.argv[2]
def lines(jobdir):
    out = []
    for t in glob.glob(jobdir + "/frames/*/*"):
        for l in open(t, errors="replace"):
            if l.startswith("billing = "):
                f = dict(kv.split("=", 1) for kv in l[10:].split() if "=" in kv)
                out.append(f)
    return out
jobs = {os.path.basename(d): d for d in glob.glob(spool + "/jobs/*")}
for d in glob.glob(spool + "/sites/*/jobs/*"):
    jobs[os.path.basename(d) + "@" + d.split("/")[-3]] = d
want = {"attempts": 0, "frames": 0, "cpu": 0.0, "wall": 0.0, "bytes": 0}
per = {}
for name, d in jobs.items():
    for f in lines(d):
        for k in (want, per.setdefault(name, {"attempts": 0})):
            k["attempts"] = k.get("attempts", 0) + 1
        want["frames"] += f["ok"] == "1"
        want["cpu"] += float(f["user"]) + float(f["sys"])
        want["wall"] += float(f["wall"])
        want["bytes"] += int(f["bytes"])
bad = []
for by in ("owner", "job", "pool", "site"):
    rows = list(csv.DictReader(io.StringIO(subprocess.run(
        ["hotfarm", "--spool", spool, "billing", "--by", by, "--csv"], capture_output=True, text=True, check=True).stdout)))
    total, groups = rows[-1], rows[:-1]
    assert total[by] == "(total)", total
    for key, w in (("attempts", want["attempts"]), ("frames", want["frames"]), ("output_bytes", want["bytes"])):
        if int(total[key]) != w or sum(int(g[key]) for g in groups) != w:
            bad.append(f"{by}: {key} {total[key]} != {w}")
    for key, w in (("cpu_seconds", want["cpu"]), ("wall_seconds", want["wall"])):
        if abs(float(total[key]) - w) > 0.01 or abs(sum(float(g[key]) for g in groups) - w) > 0.01:
            bad.append(f"{by}: {key} {total[key]} != {w:.3f}")
    for key in ("submitted_bytes", "site_sent_bytes", "site_received_bytes"):
        if sum(int(g[key]) for g in groups) != int(total[key]):
            bad.append(f"{by}: {key} groups != total")
    if by == "job":
        for g in groups:
            if int(g["attempts"]) != per.get(g["job"], {"attempts": 0})["attempts"]:
                bad.append(f"job {g['job']}: {g['attempts']} attempts, the lines say {per.get(g['job'])}")
    print(f"# --by {by}: " + "; ".join(f"{g[by]} {g['attempts']}" for g in groups) + f"; total {total['attempts']}")
print(f"# the lines: {want}")
if bad:
    print("\n".join("# " + b for b in bad))
sys.exit(1 if bad else 0)
PY
check "at a, --by owner, job, pool and site each total the attempts' lines (and their groups the total)" \
	python3 "$T/sum.py" "$T/a" a
check "and at b, where the outsourced job's attempts ran" python3 "$T/sum.py" "$T/b" b
hotfarm billing --by job --csv >"$T/job.csv"
byjob() { python3 -c "
import csv, sys; r = {x['job']: x for x in csv.DictReader(open('$T/job.csv'))}; x = r['$1']
sys.exit(0 if $2 else 1)"; }
check "the cancelled job is billed its 2 attempts, 1 frame" byjob stop "x['attempts'] == '2' and x['frames'] == '1'"
check "the outsourced job is billed at a, 2 frames, bytes both ways" \
	byjob far "x['attempts'] == '2' and int(x['site_sent_bytes']) > 0 and int(x['site_received_bytes']) > 0"
hotfarm billing --by site --csv >"$T/site.csv"
check "--by site: b rendered the outsourced job's 2 attempts ($(tr '\n' ' ' <"$T/site.csv"))" grep -q '^b,2,2,' "$T/site.csv"
hotfarm billing --by pool --csv >"$T/pool.csv"
check "--by pool: gpu holds a1's attempts, '-' b's ($(tr '\n' ' ' <"$T/pool.csv"))" \
	sh -c "grep -q '^gpu,' '$T/pool.csv' && grep -q '^-,2,2,' '$T/pool.csv'"
hotfarm --spool "$T/b" billing --by job --csv >"$T/bjob.csv"
check "at b the job is site a's, reported as cyd's ($(grep far "$T/bjob.csv"))" grep -q '^far@a,site:a,cyd,2,2,' "$T/bjob.csv"
hotfarm --spool "$T/b" billing --by owner --json >"$T/bown.json"
check "at b --by owner bills site:a" python3 -c "
import json; d = json.load(open('$T/bown.json')); assert [g['owner'] for g in d['groups']] == ['site:a'], d"
hotfarm billing --csv >"$T/plain.csv"
check "without --by: today's owner and job lines (ann's job, 3 frames)" grep -q '^ann,ok,3,' "$T/plain.csv"

# bytes on the wire: the counters move by what a sync says it moved
kill -TERM "$WA" "$WB" 2>/dev/null
wait "$WA" "$WB" 2>/dev/null
no_sync() { ! pgrep -f "hf-sync --spool $T/" >/dev/null; }
check "no sync runs any more" wait_for 20 no_sync
before=$(ini "$T/a/sites/b/traffic" sent_bytes)
before_in=$(ini "$T/a/sites/b/traffic" received_bytes)
bbefore=$(ini "$T/b/sites/a/traffic" received_bytes)
check "a counted bytes on the wire with b (sent $before, received $before_in)" sh -c "[ '${before:-0}' -gt 0 ] && [ '${before_in:-0}' -gt 0 ]"
hotfarm sync b >"$T/sync.out" 2>&1
out=$(sed -n 's/.* sent, \([0-9]*\) bytes on the wire out, \([0-9]*\) in.*/\1/p' "$T/sync.out")
in=$(sed -n 's/.* sent, \([0-9]*\) bytes on the wire out, \([0-9]*\) in.*/\2/p' "$T/sync.out")
diag "the sync: $(cat "$T/sync.out")"
check "a's counters grew by what the sync reported ($out out, $in in)" sh -c "[ '${out:-0}' -gt 0 ] &&
	[ \$(( $(ini "$T/a/sites/b/traffic" sent_bytes) - $before )) -eq $out ] &&
	[ \$(( $(ini "$T/a/sites/b/traffic" received_bytes) - $before_in )) -eq $in ]"
check "and b's, the serving side, by the same bytes the other way" \
	[ $(($(ini "$T/b/sites/a/traffic" received_bytes) - bbefore)) -eq "${out:-x}" ]

# a peer's garbage: its returned tickets (now in a's job) hold absurd figures and an escape
T1=$(ls "$SPOOL"/jobs/far/frames/done/* | head -1)
printf 'billing = frame=1 ok=1 host=ev\033[31mil.0 wall=nan user=1e999 sys=-5 rss_kb=zz bytes=-1 pool=x;y\nbilling = frame=9 ok=7\nbilling = junk\n' >>"$T1"
for by in owner job pool site; do
	hotfarm billing --by "$by" >"$T/g-$by.txt" 2>&1 || echo "exit $?" >>"$T/g-$by.txt"
done
check "hotfarm billing --by anything still answers, no escape byte reaches the terminal" python3 -c "
import glob; t = ''.join(open(f, errors='replace').read() for f in glob.glob('$T/g-*.txt'))
assert 'exit' not in t and '\\x1b' not in t, t"
hotfarm --json billing --by site >"$T/g.json"
check "the JSON still parses, its figures finite and capped" python3 -c "
import json, math; d = json.load(open('$T/g.json')); t = d['total']
assert math.isfinite(t['cpu_seconds']) and t['cpu_seconds'] < 1e9 and t['attempts'] >= 1, t"
done_testing
