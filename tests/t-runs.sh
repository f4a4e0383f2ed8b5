# t-runs.sh - runs of frames in one renderer process: each frame is
# published, and its ticket done, as soon as its image is complete (the
# renderer began the next one), not when the run ends; a run that dies
# part way counts the failure against the frame it was at and returns the
# other unfinished tickets uncounted; a cancel stops a run at once and keeps
# what was published. The renderer is a script under the test's control:
# it renders frame F when files/go/F appears, and dies there if files/die/F
# is there and it is the run that began at frame 1 (a render cannot change
# its files/, so the retry knows it is one by where it begins).
. "$(dirname "$0")/lib.sh"

new_spool
cat >"$SPOOL/conf/packages/steps.ini" <<-'INI'
	[package]
	description = "a renderer the test steps through"
	version = 1
	[render]
	argv = "sh {files}/steps.sh {outdir} {frame} {frame}"
	[range]
	argv = "sh {files}/steps.sh {outdir} {run_first} {run_last}"
	file = "img{frame}"
INI
make_steps() { # DIR FRAMES CHUNK
	mkdir -p "$1/in" "$1/go" "$1/die"
	python3 - "$HF_ROOT/tests" "$1/in" <<-'PY'
	import sys
	sys.path.insert(0, sys.argv[1])
	from mkpng import png
	for f in range(1, 7):
	    rows = [bytes(v for x in range(64) for v in ((x * 4 + f) % 256, y * 5, 40 * f)) for y in range(48)]
	    open(f"{sys.argv[2]}/{f:04d}.png", "wb").write(png(64, 48, 8, 2, rows))
	PY
	cat >"$1/steps.sh" <<-'SH'
	out=$1 f=$2 first=$2
	while [ "$f" -le "$3" ]; do
		n=0
		while [ ! -e "go/$f" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n + 1)); done
		if [ -e "die/$f" ] && [ "$first" = 1 ]; then echo "dying at frame $f"; exit 3; fi
		cp "in/$(printf %04d "$f").png" "$out/img$f.png"
		f=$((f + 1))
	done
	SH
	printf '[job]\nframes = %s\nchunk = %s\n[render]\npackage = steps\nscene = steps.sh\nwidth = 64\nheight = 48\noutput = "f_####.png"\n' \
		"$2" "$3" >"$1/job.ini"
}
go() { for f; do touch "$J/files/go/$f"; done; }
published() { for f; do [ -f "$J/output/f_000$f.png" ] || return 1; done; }
ticket_of() { ls "$J/frames/$1" | grep -- "-000000$2" | head -1; }

start_watcherd
make_steps "$T/run" 1-6 6
drop_dir run "$T/run"
check "the job is queued" wait_for 10 queued run
J=$SPOOL/jobs/run
check "six tickets, one per frame" [ "$(count "$J/frames/todo")" -eq 6 ]
start_agent solo --slots 1
all_claimed() { [ "$(count "$J/frames/active")" -eq 6 ]; }
check "one slot claims all six as a run (chunk = 6)" wait_for 10 all_claimed
check "by one renderer process" wait_for 10 sh -c "ls '$J/logs' | grep -qx 'frame0001-0006.try1.solo.0.log'"

go 1 2
check "frame 1 is published while the run goes on" wait_for 10 published 1
check "and its ticket is in done/" [ -n "$(ticket_of done 1)" ]
check "frame 2, whose image may still be written, is not published yet" [ ! -f "$J/output/f_0002.png" ]
check "the renderer still runs (waiting for frame 3)" [ "$(count "$J/frames/active")" -eq 5 ]

touch "$J/files/die/3"
go 3
check "the run dies at frame 3" wait_for 10 grep -q 'dying at frame 3' "$J/logs/frame0001-0006.try1.solo.0.log"
go 4 5 6
check "the job is done after all" wait_for 30 job_done run
same=""
for f in 1 2 3 4 5 6; do cmp -s "$J/output/f_000$f.png" "$T/run/in/000$f.png" || same="$same $f"; done
check "every frame's output is its own image (differ:$same)" [ -z "$same" ]
t3=$(ticket_of done 3) t2=$(ticket_of done 2) t4=$(ticket_of done 4)
check "frame 3's ticket has its failure counted" [ "$(grep -c '^attempt = ' "$J/frames/done/$t3")" -eq 1 ]
check "with the reason the renderer exited" grep -q 'exited with status 3' "$J/frames/done/$t3"
check "frames 2 and 4, cut off with it, went back uncounted" \
	[ "$(cat "$J/frames/done/$t2" "$J/frames/done/$t4" | grep -c '^attempt = ')" -eq 0 ]
check "frame 1 was rendered once" [ "$(grep -c 'ok=1' "$J/frames/done/$(ticket_of done 1)")" -eq 1 ]
ok1=$(cat "$J"/frames/done/* | grep -c '^billing = .*ok=1')
check "each frame billed ok once ($ok1)" [ "$ok1" -eq 6 ]
check "the run's frames have their own wall time" grep -q '^billing = frame=1 ok=1 .*wall=[0-9]' "$J/frames/done/$(ticket_of done 1)"

# a cancel stops a run at once; what was published stays
make_steps "$T/stop" 1-4 4
drop_dir stop "$T/stop"
check "a second job is queued" wait_for 10 queued stop
J=$SPOOL/jobs/stop
go 1 2
check "its frame 1 is published from a run of four" wait_for 20 published 1
hotfarm cancel stop >/dev/null
check "cancelled" wait_for 10 in_state cancelled stop
settled() { [ "$(count "$J/frames/active")" -eq 0 ]; }
check "the run stopped and its tickets left active/" wait_for 10 settled
back24() { published 1 && [ "$(count "$J/frames/todo")" -eq 3 ] && [ "$(count "$J/frames/failed")" -eq 0 ]; }
check "frame 1 stays published, frames 2-4 are back in todo/, none failed" back24
check "the slot is idle again" wait_for 10 grep -q '^state = idle' "$SPOOL/hosts/solo/slot.0"
done_testing
