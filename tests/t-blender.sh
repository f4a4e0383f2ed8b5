# t-blender.sh - Blender (a dependency) end to end: PNG runs of frames, EXR and multilayer EXR, a File
# Output pass beside its frame, the scene's own format kept; each frame pixel-identical to Blender by hand.
#
# Tiny Cycles scenes made by Blender itself (tests/mkblend.py: 64x48, 4
# samples on the CPU, a fixed seed), every job on one spool at once, one
# agent with two slots; Blender by hand renders the same frames meanwhile,
# and frames are compared by their decoded pixels (hfimg pixels), not their
# bytes (an EXR header carries times). Also: denoising is off (Debian's
# build has no OpenImageDenoiser), the job's size wins over the scene's, a
# Python error fails the frame, and a missing pass fails it naming the file.
. "$(dirname "$0")/lib.sh"

if ! command -v blender >/dev/null 2>&1; then
	not_ok "Blender is installed: t-blender needs it (make deps installs Debian's blender)"
	done_testing
fi
build_hfimg
px() { "$HFIMG" pixels "$1" 2>/dev/null; }
exrhead() { python3 "$HF_ROOT/tests/blendexr.py" "$1" 2>/dev/null; }
# mean of the first band of IMAGE as libvips loads it (0-255 for an 8-bit preview)
mean1() { "$HFIMG" stat "$1" 2>/dev/null | awk '{ print int($3) }'; }

# three scenes of six frames at once: plain; with a File Output node writing
# the depth pass (depth_####.exr); saved to write full-float PIZ OpenEXR
mkdir -p "$T/scenes"
mk() {
	blender -b --factory-startup --python-exit-code 1 --python "$HF_ROOT/tests/mkblend.py" -- "$T/scenes/$1.blend" 6 64 48 "$@" \
		>"$T/scenes/$1.log" 2>&1 &
	eval "mk_$1=\$!"
}
mk scene
mk passes --passes
mk sceneexr --format OPEN_EXR
# shellcheck disable=SC2154 # set by eval in mk
wait "$mk_scene" "$mk_passes" "$mk_sceneexr"
made() { for _s in scene passes sceneexr; do [ -s "$T/scenes/$_s.blend" ] || { diag "$(tail -n 3 "$T/scenes/$_s.log")"; return 1; }; done; }
check "Blender makes the test scenes" made

new_spool
start_watcherd
start_agent bl --slots 2
# the agent reads the packages before it says it is there: Blender is one of
# them, or every job below would wait for ever (the agent only warns)
grep -q '^blender = "*[0-9]' "$SPOOL/hosts/bl/host.ini" ||
	diag "$(grep -h 'packages/blender' "$SPOOL.agent-bl.log")"
check "the agent renders with Blender (conf/packages/blender.ini loads)" grep -q '^blender = "*[0-9]' "$SPOOL/hosts/bl/host.ini" ||
	done_testing
# job NAME SCENE FRAMES CHUNK [LINE...]: drop a Blender job of SCENE.blend
# (64x48 unless a LINE of its [render] says otherwise), tried once
job() {
	mkdir -p "$T/jobs/$1"
	cp "$T/scenes/$2.blend" "$T/jobs/$1/scene.blend"
	_jn=$1
	printf '[job]\nframes = %s\nchunk = %s\nretries = 0\n[render]\npackage = blender\nscene = scene.blend\n' "$3" "$4" \
		>"$T/jobs/$_jn/job.ini"
	shift 4
	case "$*" in *width*) ;; *) printf 'width = 64\nheight = 48\n' >>"$T/jobs/$_jn/job.ini" ;; esac
	[ $# -eq 0 ] || printf '%s\n' "$@" >>"$T/jobs/$_jn/job.ini"
	drop_dir "$_jn" "$T/jobs/$_jn"
}
job anim scene 1-6 3 'output = "f_####.png"'
job half scene 3 1 "width = 32" "height = 24" 'output = "h_####.png"'
job err scene 1 1 'args = --python-expr "raise RuntimeError(7)"'
job exr scene 2-3 2 "format = exr"
job ml scene 4 1 "format = exr-multilayer" 'output = "m_####.exr"'
job passes passes 2-3 2 'output = "p_####.png"' "extra_outputs = depth_####.exr"
job missing passes 1 1 "extra_outputs = depth_####.exr, missing_####.exr"
job own sceneexr 3 1

# Blender by hand, meanwhile, with what conf/packages/blender.ini gives it
# (the job's size, denoising off, the format's -F, depth and codec)
mkdir -p "$T/hand"
cp "$T/scenes/passes.blend" "$T/hand/passes.blend"
NODN="import bpy; s = bpy.context.scene; s.cycles.use_denoising = False; s.render.resolution_percentage = 100"
EXR="import bpy; i = bpy.context.scene.render.image_settings; i.color_depth = '16'; i.exr_codec = 'ZIP'"
hand() {
	_hn=$1 _hs=$2; shift 2
	blender -b "$_hs" --python-exit-code 1 --python-expr "$NODN" -o "$T/hand/${_hn}_####" -x 1 "$@" >"$T/hand/$_hn.log" 2>&1
}
{
	hand f "$T/scenes/scene.blend" -F PNG -s 2 -e 5 -j 3 -a # frames 2 and 5
	hand h "$T/scenes/scene.blend" --python-expr "import bpy; s = bpy.context.scene; s.render.resolution_x = 32; s.render.resolution_y = 24" -F PNG -f 3
	hand m "$T/scenes/scene.blend" -F OPEN_EXR_MULTILAYER --python-expr "$EXR" -f 4
} &
hand1=$!
{
	hand e "$T/scenes/scene.blend" -F OPEN_EXR --python-expr "$EXR" -s 2 -e 3 -a
	# the File Output node writes where the scene says: //passes/ beside it
	hand p "$T/hand/passes.blend" -F PNG -s 2 -e 3 -a
	hand own "$T/scenes/sceneexr.blend" -f 3 # no -F: the scene's own format
} &
hand2=$!

# every job done or failed: globs, no processes, and a tenth of a second
# between looks, so that polling for a minute takes no CPU from Blender
ended() { for _e in "$SPOOL"/done/*-"$1" "$SPOOL"/failed/*-"$1"; do [ -e "$_e" ] && return 0; done; return 1; }
all_ended() { for _j in anim half err exr ml passes missing own; do ended "$_j" || { sleep 0.1; return 1; }; done; }
wait "$hand1" "$hand2"
if ! wait_for 150 all_ended; then
	diag "not every job ended within 150 s; the agent says:"
	tail -n 8 "$SPOOL.agent-bl.log" | sed 's/^/# /'
fi
# the by-hand frame and the farm's show the same pixels (and exist)
same() {
	_a=$(px "$1") _b=$(px "$2")
	[ -n "$_a" ] && [ "$_a" = "$_b" ] || { diag "${1#"$T/"}: $_a; ${2#"$SPOOL/"}: $_b"; return 1; }
}
# a preview of frame F of job J is in previews/ and not black: its thumbnail,
# its view and the job's contact sheet
previews_lit() {
	_p=$SPOOL/jobs/$1/previews
	for _f in "$_p/frame$(printf %07d "$2").png" "$_p/view$(printf %07d "$2").jpg" "$_p/contact.png"; do
		[ -s "$_f" ] && [ "$(mean1 "$_f")" -gt 20 ] || { diag "$_f: $(ls -l "$_f" 2>&1) $("$HFIMG" stat "$_f" 2>&1)"; return 1; }
	done
}
# the job's output/ holds exactly these files (names sorted, space-separated)
holds() { _h=$(ls -A "$SPOOL/jobs/$1/output" 2>/dev/null | sort | tr '\n' ' ') && [ "${_h% }" = "$2" ]; }

# PNG in runs of frames
J=$SPOOL/jobs/anim
check "the Blender job of six PNG frames is done" job_done anim
check "its frames were rendered in runs (-s/-e/-a)" sh -c "ls '$J/logs' | grep -q '^frame000[0-9]-000[0-9]\\.'"
check "its log shows denoising turned off" grep -q 'use_denoising = False' "$J"/logs/frame0001*
check "six frames, f_0001.png to f_0006.png" holds anim "f_0001.png f_0002.png f_0003.png f_0004.png f_0005.png f_0006.png"
bad=""
for f in 2 5; do same "$T/hand/f_000$f.png" "$J/output/f_000$f.png" || bad="$bad $f"; done
check "frames 2 and 5 are pixel-identical to Blender by hand (differ:$bad)" [ -z "$bad" ]

# the job's size wins over the scene's (64x48): what the check expects
check "a job asking 32x24 of a 64x48 scene is done" job_done half
b=$(px "$SPOOL/jobs/half/output/h_0003.png")
check "its frame is 32x24 ($b)" [ "${b%% *}" = 32x24 ]
check "and pixel-identical to Blender by hand at that size" same "$T/hand/h_0003.png" "$SPOOL/jobs/half/output/h_0003.png"

check "a Python error fails the frame" job_failed err
check "saying the renderer exited 1" grep -q 'exited with status 1' "$SPOOL/jobs/err/status.ini"

# format = exr, no output named: frame_####.exr, half float, ZIP
J=$SPOOL/jobs/exr
check "a job of format exr is done (its frames passed the check)" job_done exr
check "its frames are frame_0002.exr and frame_0003.exr" holds exr "frame_0002.exr frame_0003.exr"
h=$(exrhead "$J/output/frame_0002.exr")
check "they are half-float RGBA OpenEXR, ZIP-compressed ($h)" \
	[ "$h" = "compression=ZIP A:half B:half G:half R:half" ]
bad=""
for f in 2 3; do same "$T/hand/e_000$f.exr" "$J/output/frame_000$f.exr" || bad="$bad $f"; done
check "frames 2 and 3 are pixel-identical to Blender by hand with -F OPEN_EXR, half, ZIP (differ:$bad)" [ -z "$bad" ]
check "frame 2 has a thumbnail, a view and a contact sheet in previews/, not black" previews_lit exr 2

# format = exr-multilayer, output m_####.exr
J=$SPOOL/jobs/ml
check "a job of format exr-multilayer is done" job_done ml
h=$(exrhead "$J/output/m_0004.exr")
# channels named by layer and pass, none a plain R
multilayer() {
	case " $1 " in *" R:"*) return 1 ;; esac
	case " $1 " in *" ViewLayer.Combined.R:half "*) return 0 ;; *) return 1 ;; esac
}
check "its frame m_0004.exr is a multilayer EXR, half float ($h)" multilayer "$h"
check "pixel-identical to Blender by hand with -F OPEN_EXR_MULTILAYER" same "$T/hand/m_0004.exr" "$J/output/m_0004.exr"
check "it has a thumbnail, a view and a contact sheet in previews/, not black" previews_lit ml 4

# a File Output node's depth pass, published beside each frame
J=$SPOOL/jobs/passes
check "a job with extra_outputs = depth_####.exr is done" job_done passes
check "output/ holds each frame and its depth pass" holds passes "depth_0002.exr depth_0003.exr p_0002.png p_0003.png"
bad=""
for f in 2 3; do
	same "$T/hand/p_000$f.png" "$J/output/p_000$f.png" || bad="$bad frame$f"
	same "$T/hand/passes/depth_000$f.exr" "$J/output/depth_000$f.exr" || bad="$bad depth$f"
done
check "frames and depth passes are pixel-identical to Blender by hand (differ:$bad)" [ -z "$bad" ]
d2=$(px "$J/output/depth_0002.exr") d3=$(px "$J/output/depth_0003.exr")
check "each frame has its own depth pass (frames 2 and 3 differ)" [ -n "$d2" ] && [ "$d2" != "$d3" ]
check "a pass the scene does not write fails the frame" job_failed missing
check "naming it: extra output missing_0001.exr was not written" \
	grep -q 'extra output missing_0001\.exr was not written' "$SPOOL/jobs/missing/status.ini"
check "and publishes none of the frame's files" holds missing ""

# no format, no output: the scene's own (full-float PIZ OpenEXR) is kept
J=$SPOOL/jobs/own
check "a job naming no format of a scene saved to write OpenEXR is done" job_done own
check "its frame is frame_0003.exr, not a PNG" holds own "frame_0003.exr"
h=$(exrhead "$J/output/frame_0003.exr")
check "with the scene's settings: full float, PIZ ($h)" [ "$h" = "compression=PIZ A:float B:float G:float R:float" ]
check "pixel-identical to Blender by hand rendering the scene without -F" same "$T/hand/own_0003.exr" "$J/output/frame_0003.exr"
done_testing
