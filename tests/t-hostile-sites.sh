# t-hostile-sites.sh - a hostile render at a linked site: site a sends a
# command job to site b, where it tries to steal b's files through the
# result that goes back (links put in place of previews/ and its files
# while hf-send packs), to steer the result to another of a's jobs (an
# edited [route]) and to write beside b's other jobs. Nothing of b's
# travels, a's other job is untouched, and the job comes back done.
. "$(dirname "$0")/lib.sh"

on() { SPOOL=$T/$1; export HOTFARM_SPOOL=$SPOOL; }
site a
site b
link a b
link b a
echo "b's private key" >"$T/b-secret"
on b
start_watcherd
start_agent b1 --slots 1
on a
start_watcherd
start_agent a1 --slots 1

# a's own job, which the hostile one would like its result applied to
povray_job "$T/victim" 1-2
drop_dir victim "$T/victim"
check "a's own job renders at a (done)" wait_for 60 job_done victim
sum() { (cd "$T/a/jobs/victim" && find output -type f | sort | xargs sha256sum); }
before=$(sum)

mkdir -p "$T/thief"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/thief/in.png" 64 48
cat >"$T/thief/steal.sh" <<'EOF'
J=$(cd .. && pwd)
try() { _w=$1; shift; if ("$@") 2>/dev/null; then echo "ESCAPED $_w"; else echo "blocked $_w"; fi; }
prev_link() { mv ../previews ../previews.old && ln -s "$1" ../previews; }
prev_file() { ln -sf "$1" ../previews/frame0000001.png; }
route() { sed -i 's/^job = .*/job = victim/' ../job.ini; }
beside() { echo x >"$J/../stolen"; }
log_link() { ln -sf "$1" ../logs/frame0002.try1.b1.0.log; }
try "previews/ made a link to b's files" prev_link "$(dirname "$1")"
try "a thumbnail made a link to b's key" prev_file "$1"
try "a log made a link to b's key" log_link "$1"
try "its [route] pointed at a's other job" route
try "a file written beside b's other jobs" beside
cp "$J/files/in.png" "$2"
EOF
printf '[job]\nframes = 1\nretries = 0\nsite = b\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = sh {files}/steal.sh %s {output}\n' \
	"$T/b-secret" >"$T/thief/job.ini"
drop_dir thief "$T/thief"
check "the job goes to b" wait_for 30 in_state outsourced thief
check "and comes back to a done" wait_for 120 in_state done thief
LOG=$(ls "$T/a/jobs/thief/logs/site-b/"frame0001.try1.* 2>/dev/null | head -1)
grep '^ESCAPED \|^blocked ' "$LOG" | sed 's/^/# /'
check "at b, all its attempts were stopped" sh -c "[ \"\$(grep -c '^blocked ' '$LOG')\" -eq 5 ] && ! grep -q '^ESCAPED ' '$LOG'"
check "nothing of b's key travelled to a" sh -c "! grep -rqs \"b's private key\" '$T/a'"
check "and nothing of b's is linked into a" [ -z "$(find "$T/a" -type l)" ]
check "a's other job is untouched (its output as it was)" [ "$(sum)" = "$before" ]
check "and still done" in_state done victim
check "b's other folders hold nothing it wrote" [ -z "$(find "$T/b" -name stolen)" ]
check "the result is the job's own frame" [ "$(ls "$T/a/jobs/thief/output")" = f_0001.png ]
done_testing
