# t-blender.sh - Blender end to end, when Blender is installed (skipped,
# saying so, when it is not; CI does not install it). A small Cycles
# animation made by Blender itself renders through the farm in runs of
# frames (-s/-e/-a), each frame pixel-identical to Blender run by hand;
# denoising is off (Debian's build has no OpenImageDenoiser); a Python
# error in the job's arguments fails the frame (--python-exit-code); the
# job's width and height are the frames' size, whatever the scene says.
. "$(dirname "$0")/lib.sh"

if ! command -v blender >/dev/null 2>&1; then
	ok "# SKIP Blender is not installed (apt-get install blender to run this test)"
	done_testing
fi
mkdir -p "$T/bl"
blender -b --factory-startup --python-exit-code 1 --python "$HF_ROOT/tests/mkblend.py" -- "$T/bl/scene.blend" 6 64 48 \
	>"$T/make.log" 2>&1
check "Blender makes the test scene" [ -s "$T/bl/scene.blend" ]

new_spool
start_watcherd
start_agent bl
printf '[job]\nframes = 1-6\nchunk = 3\n[render]\npackage = blender\nscene = scene.blend\nwidth = 64\nheight = 48\noutput = "f_####.png"\n' >"$T/bl/job.ini"
drop_dir anim "$T/bl"
check "the Blender job is done" wait_for 300 job_done anim
J=$SPOOL/jobs/anim
check "its frames were rendered in runs (-s/-e/-a)" sh -c "ls '$J/logs' | grep -q '^frame000[0-9]-000[0-9]\\.'"
check "its log shows denoising turned off" grep -q 'use_denoising = False' "$J"/logs/frame0001*
n=$(ls "$J/output" | grep -c '\.png$')
check "six frames ($n)" [ "$n" -eq 6 ]
bad=""
for f in 2 5; do
	blender -b "$T/bl/scene.blend" --python-expr "import bpy; bpy.context.scene.cycles.use_denoising = False" \
		-o "$T/hand_####" -F PNG -x 1 -f "$f" >"$T/hand$f.log" 2>&1
	a=$(python3 "$HF_ROOT/tests/pngpixels.py" "$T/hand_000$f.png" 2>/dev/null | cut -d' ' -f1,2)
	b=$(python3 "$HF_ROOT/tests/pngpixels.py" "$J/output/f_000$f.png" 2>/dev/null | cut -d' ' -f1,2)
	[ -n "$a" ] && [ "$a" = "$b" ] || bad="$bad $f"
done
check "frames 2 and 5 are pixel-identical to Blender by hand (differ:$bad)" [ -z "$bad" ]

# the job's size wins over the scene's (64x48): what the check expects
mkdir -p "$T/half"
cp "$T/bl/scene.blend" "$T/half/"
printf '[job]\nframes = 3\n[render]\npackage = blender\nscene = scene.blend\nwidth = 32\nheight = 24\noutput = "h_####.png"\n' >"$T/half/job.ini"
drop_dir half "$T/half"
check "a job asking 32x24 of a 64x48 scene is done" wait_for 120 job_done half
blender -b "$T/bl/scene.blend" --python-expr "import bpy; s = bpy.context.scene; s.cycles.use_denoising = False; s.render.resolution_x = 32; s.render.resolution_y = 24; s.render.resolution_percentage = 100" \
	-o "$T/half_####" -F PNG -x 1 -f 3 >"$T/half.log" 2>&1
a=$(python3 "$HF_ROOT/tests/pngpixels.py" "$T/half_0003.png" 2>/dev/null | cut -d' ' -f1,2)
b=$(python3 "$HF_ROOT/tests/pngpixels.py" "$SPOOL/jobs/half/output/h_0003.png" 2>/dev/null | cut -d' ' -f1,2)
check "its frame is 32x24 and pixel-identical to Blender by hand at that size ($b)" [ -n "$a" -a "$a" = "$b" -a "${b%% *}" = 32x24 ]

mkdir -p "$T/err"
cp "$T/bl/scene.blend" "$T/err/"
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = blender\nscene = scene.blend\nwidth = 64\nheight = 48\nargs = --python-expr "raise RuntimeError(7)"\n' >"$T/err/job.ini"
drop_dir err "$T/err"
check "a Python error fails the frame" wait_for 120 job_failed err
check "saying the renderer exited 1" grep -q 'exited with status 1' "$SPOOL/jobs/err/status.ini"
done_testing
