# t-agent-resume.sh - a ticket whose holder died is not rendered again for
# what it had already published: frames its notes show published keep
# their output and are skipped, and a ticket published whole goes straight
# to done. (Its holder was SIGKILLed between publishing a frame and moving
# the ticket on; t-chaos hits this by chance, this test by construction.)
# The tickets are of three frames, as spools of before one ticket per frame
# hold them.
. "$(dirname "$0")/lib.sh"

new_spool
mkdir -p "$T/job/in"
python3 - "$HF_ROOT/tests" "$T/job/in" <<-'PY'
import sys
sys.path.insert(0, sys.argv[1])
from mkpng import png
for f in range(1, 7):
    rows = [bytes(v for x in range(64) for v in ((x * 4 + f) % 256, y * 5, 40 * f)) for y in range(48)]
    open(f"{sys.argv[2]}/{f:04d}.png", "wb").write(png(64, 48, 8, 2, rows))
PY
python3 "$HF_ROOT/tests/mkpng.py" good "$T/marker.png"
printf '[job]\nframes = 1-6\n[render]\npackage = command\nscene = in/0001.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = "cp {files}/in/{frame4}.png {output}"\n' >"$T/job/job.ini"
start_watcherd
drop_dir resume "$T/job"
check "the job is queued" wait_for 10 queued resume
J=$SPOOL/jobs/resume
check "one ticket per frame" [ "$(count "$J/frames/todo")" -eq 6 ]
# as a killed agent 'gone' of an older farm would leave them: two tickets
# of three frames, the first with frame 1 published, the second with all
rm -f "$J"/frames/todo/*
a=000000-0000001-0000003 b=000001-0000004-0000006
printf 'frames = 1 2 3\n' >"$J/frames/active/$a@gone.0"
printf 'frames = 4 5 6\n' >"$J/frames/active/$b@gone.1"
for f in 1 4 5 6; do
	t=$a.0; [ $f -gt 3 ] && t=$b.1
	echo "billing = frame=$f ok=1 host=gone.${t##*.} wall=0.100 user=0 sys=0 rss_kb=0 bytes=1" >>"$J/frames/active/${t%.*}@gone.${t##*.}"
	cp "$T/marker.png" "$J/output/f_000$f.png"
done
start_agent gone
check "the job is done" wait_for 30 job_done resume
check "the whole-published ticket went to done without a render" \
	[ -z "$(ls "$J/logs" | grep -E '^frame000[456]')" -a -f "$J/frames/done/$b" ]
check "frame 1 was not rendered again (its output is what was published)" \
	cmp -s "$J/output/f_0001.png" "$T/marker.png"
check "no log of frame 1: the agent skipped it" [ -z "$(ls "$J/logs" | grep '^frame0001')" ]
rendered23() { cmp -s "$J/output/f_0002.png" "$T/job/in/0002.png" && cmp -s "$J/output/f_0003.png" "$T/job/in/0003.png"; }
check "frames 2 and 3 were rendered" rendered23
check "both tickets in frames/done, nothing left" [ "$(count "$J/frames/done")" -eq 2 -a \
	"$(($(count "$J/frames/todo") + $(count "$J/frames/active")))" -eq 0 ]
check "the agent says it returned its claims" grep -q "returned 2 claims" "$SPOOL.agent-gone.log"
check "the status counts six frames done" grep -q '^frames_done = 6$' "$J/status.ini"
done_testing
