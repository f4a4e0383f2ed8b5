#!/bin/sh
# t-formats.sh - [render] format and extra_outputs through the real farm: POV-Ray writes EXR, HDR, JPEG and 16-bit
# PNG as asked, each frame pixel-identical to POV-Ray by hand and previewed; a format the package cannot write, an
# output name that disagrees and a pass outside the frame's folder are rejected at intake; a frame's extra outputs
# are published beside it, and a missing, linked, damaged or wrong-sized pass fails the frame naming the file.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent a

# pov_job NAME FORMAT-LINES...: a 2-frame POV-Ray job (64x48) of the test scene
pov_job() {
	_jn=$1; shift
	mkdir -p "$T/$_jn"
	write_scene "$T/$_jn/scene.pov"
	{
		printf '[job]\nframes = 1-2\nretries = 1\n[render]\nscene = scene.pov\nwidth = 64\nheight = 48\n'
		for l in "$@"; do echo "$l"; done
	} >"$T/$_jn/job.ini"
	drop_dir "$_jn" "$T/$_jn"
}
pov_job exr "format = exr"
pov_job hdr "format = hdr"
pov_job jpg "format = jpeg" 'output = "shot_####.jpg"'
pov_job p16 "format = png16"
pov_job implied 'output = "im_####.exr"'
pov_job plain
pov_job tiff "format = tiff"
pov_job bogus "format = webp"
pov_job clash "format = exr" 'output = "c_####.png"'
pov_job outside "extra_outputs = ../x_####.exr"

check "format = tiff with POV-Ray is rejected" wait_for 30 rejected tiff
check "… saying POV-Ray cannot write it and what it can ($(reason tiff))" \
	sh -c "grep -q 'package povray cannot write format tiff; it writes png, png16, jpeg, exr, hdr' '$SPOOL/rejected/tiff/reason.txt'"
check "an unknown format is rejected, listing the formats" wait_for 30 rejected bogus
check "… ($(reason bogus))" grep -q "format is png, png16, jpeg, tiff, exr, exr-multilayer or hdr, not 'webp'" \
	"$SPOOL/rejected/bogus/reason.txt"
check "an output name that disagrees with the format is rejected" wait_for 30 rejected clash
check "… ($(reason clash))" grep -q "output 'c_####.png' does not end in .exr, the extension of format exr" \
	"$SPOOL/rejected/clash/reason.txt"
check "an extra output outside the frame's folder is rejected" wait_for 30 rejected outside
check "… ($(reason outside))" grep -q "extra output '../x_####.exr' is not a file name in the frame's folder" \
	"$SPOOL/rejected/outside/reason.txt"

# by_hand NAME FLAG EXT: frame 2 of the scene rendered by hand, as the farm does
by_hand() {
	write_scene "$T/hand.pov"
	povray -D -V +I"$T/hand.pov" +O"$T/hand_$1$3" +W64 +H48 "$2" +KFI1 +KFF2 +SF2 +EF2 >/dev/null 2>&1
	# POV-Ray puts the frame's number before the extension
	mv "$T/hand_$1"*"$3" "$T/hand_$1$3" 2>/dev/null
}
build_hfimg
# sheet_last JOBDIR: previews/contact.png is no older than any thumbnail
# (the agent's last word on it comes before the job is done)
sheet_last() {
	_c=$(stat -c %.9Y "$1/previews/contact.png" | tr -d .)
	for _t in "$1"/previews/frame*.png; do
		[ "$(stat -c %.9Y "$_t" | tr -d .)" -le "$_c" ] || return 1
	done
}
# pixels FILE: WIDTHxHEIGHT, bands, format and a digest of the decoded pixels
pixels() { "$HFIMG" pixels "$1"; }
for spec in "exr +FE .exr frame_0002.exr" "hdr +FH .hdr frame_0002.hdr" "jpg +FJ .jpg shot_0002.jpg" \
	"p16 +FN16 .png frame_0002.png" "implied +FE .exr im_0002.exr"; do
	set -- $spec
	check "job $1 is done" wait_for 120 job_done "$1"
	J=$SPOOL/jobs/$1
	check "… its frame 2 is output/$4" test -f "$J/output/$4"
	by_hand "$1" "$2" "$3"
	a=$(pixels "$T/hand_$1$3") b=$(pixels "$J/output/$4")
	check "… pixel-identical to POV-Ray $2 by hand ($b)" [ -n "$a" -a "$a" = "$b" ]
	check "… previewed: a thumbnail, a view and the contact sheet" \
		test -s "$J/previews/frame0000002.png" -a -s "$J/previews/view0000002.jpg" -a -s "$J/previews/contact.png"
	check "… its contact sheet was made after its last thumbnail, before it was done" sheet_last "$J"
done
check "a job naming neither format nor output is done" wait_for 120 job_done plain
check "… its frames are POV-Ray's PNGs under the default name" \
	sh -c "[ \"\$(ls '$SPOOL/jobs/plain/output' | tr '\n' ' ')\" = 'frame_0001.png frame_0002.png ' ]"
check "the 16-bit PNG is 16 bits a channel" sh -c "vipsheader -f format '$SPOOL/jobs/p16/output/frame_0002.png' | grep -q USHORT"
# a linear frame's thumbnail looks like the PNG's: not black, not burnt out
m_exr=$(vips avg "$SPOOL/jobs/exr/previews/frame0000002.png" 2>/dev/null | cut -d. -f1)
m_png=$(vips avg "$SPOOL/jobs/p16/previews/frame0000002.png" 2>/dev/null | cut -d. -f1)
check "the EXR frame's thumbnail is as bright as the PNG's (mean $m_exr vs $m_png)" \
	[ -n "$m_exr" -a -n "$m_png" ] && [ $((m_exr - m_png)) -le 3 ] && [ $((m_png - m_exr)) -le 3 ]

# ---- extra outputs: a command that writes the frame and its passes ---------------------------------------------
write_scene "$T/pass.pov"
povray -D -V +I"$T/pass.pov" +O"$T/beauty.png" +W64 +H48 +FN >/dev/null 2>&1
povray -D -V +I"$T/pass.pov" +O"$T/depth.exr" +W64 +H48 +FE >/dev/null 2>&1
povray -D -V +I"$T/pass.pov" +O"$T/small.exr" +W32 +H24 +FE >/dev/null 2>&1
# pass_job NAME HOW EXTRA: frames 1-2; run.sh writes frame.png and, by HOW, its passes
pass_job() {
	mkdir -p "$T/$1"
	cp "$T/beauty.png" "$T/depth.exr" "$T/small.exr" "$T/$1/"
	cat >"$T/$1/run.sh" <<-'EOF'
	f=$(printf %04d "$1") out=$2 files=$(dirname "$0")
	cp "$files/beauty.png" "$out/frame.png"
	case $3 in
	good) cp "$files/depth.exr" "$out/depth_$f.exr"; cp "$files/depth.exr" "$out/normal_$f.exr" ;;
	missing) cp "$files/depth.exr" "$out/depth_$f.exr" ;;
	link) ln -s /etc/passwd "$out/depth_$f.exr"; cp "$files/depth.exr" "$out/normal_$f.exr" ;;
	cut) head -c 700 "$files/depth.exr" >"$out/depth_$f.exr"; cp "$files/depth.exr" "$out/normal_$f.exr" ;;
	small) cp "$files/small.exr" "$out/depth_$f.exr"; cp "$files/depth.exr" "$out/normal_$f.exr" ;;
	esac
	EOF
	printf '[job]\nframes = 1-2\nretries = 0\n[render]\npackage = command\nscene = run.sh\nwidth = 64\nheight = 48\noutput = "f_####.png"\nextra_outputs = depth_####.exr, normal_####.exr\nargs = sh {files}/run.sh {frame} {outdir} %s\n' \
		"$2" >"$T/$1/job.ini"
	drop_dir "$1" "$T/$1"
}
for how in good missing link cut small; do pass_job "pass-$how" "$how"; done
check "a job with two extra outputs is done" wait_for 120 job_done pass-good
O=$SPOOL/jobs/pass-good/output
check "… each frame's passes are published beside it" \
	test -f "$O/f_0001.png" -a -f "$O/depth_0001.exr" -a -f "$O/normal_0001.exr" -a -f "$O/f_0002.png" -a -f "$O/depth_0002.exr"
check "… byte for byte what the renderer wrote" cmp -s "$O/depth_0002.exr" "$T/depth.exr"
check "… and nothing staged is left in output/" sh -c "! ls -A '$O' | grep -q '^\\.'"
fails() { # NAME PATTERN: the job failed and its status gives the reason
	wait_for 120 job_failed "$1" && grep -q -- "$2" "$SPOOL/jobs/$1/status.ini"
}
check "a pass never written fails the frame naming it" fails pass-missing "extra output normal_0001.exr was not written"
check "a pass that is a symlink fails the frame" fails pass-link "extra output depth_0001.exr is not a plain file (a link?)"
check "a truncated pass fails the frame" fails pass-cut "extra output depth_0001.exr is damaged or incomplete"
check "a pass of the wrong size fails the frame" fails pass-small "extra output depth_0001.exr is 32x24, not the 64x48"
for j in missing link cut small; do
	O=$SPOOL/jobs/pass-$j/output
	n=$(ls -A "$O" 2>/dev/null | wc -l)
	check "… pass-$j published nothing, left nothing staged ($n files)" [ "$n" -eq 0 ]
done
# ---- hotfarm submit --format ----------------------------------------------------------------------------------------
mkdir -p "$T/sub"
write_scene "$T/sub/shot.pov"
sub=$(hotfarm --spool "$SPOOL" submit "$T/sub/shot.pov" --frames 1-2 --width 64 --height 48 --format hdr --fps 12 2>"$T/sub.err" | head -n 1)
check "hotfarm submit --format hdr submits a job ($sub)" [ "$sub" = shot ]
check "… rendered as Radiance HDR frames" wait_for 120 sh -c "ls '$SPOOL/jobs/shot/output' 2>/dev/null | grep -qx 'frame_0002.hdr'"
check "… its job.ini says format = hdr and fps = 12" sh -c "grep -Eqx 'format = \"?hdr\"?' '$SPOOL/jobs/shot/job.ini' && grep -qx 'fps = 12' '$SPOOL/jobs/shot/job.ini'"
hotfarm --spool "$SPOOL" submit "$T/sub/shot.pov" --frames 1 --format webp >/dev/null 2>"$T/sub.err"
check "hotfarm submit --format webp is refused before anything is dropped ($(cat "$T/sub.err"))" grep -q "format is png, png16" "$T/sub.err"

# ---- a job's checks share a warm worker: good and refused frames in turn ---------------------------------------
# frames 2 and 5 render an empty scene (black: refused as one colour, which ends the worker that checked it); every
# other frame must still pass and be its own frame, whichever worker (warm or new) checked it
mkdir -p "$T/mixed" "$T/mixed-hand"
cp "$HF_ROOT/examples/orbit/scene.pov" "$T/mixed/scene.pov"
: >"$T/mixed/void.pov"
printf '#!/bin/sh\ncase $1 in 2 | 5) s=void.pov ;; *) s=scene.pov ;; esac\nexec povray -D -V +I$s +O"$2" +W64 +H48 +FN +KFI1 +KFF6 +SF$1 +EF$1\n' \
	>"$T/mixed/run.sh"
printf '[job]\nframes = 1-6\nretries = 0\n[render]\npackage = command\nscene = run.sh\nargs = sh {files}/run.sh {frame} {output}\nwidth = 64\nheight = 48\noutput = "m_####.png"\n' \
	>"$T/mixed/job.ini"
drop_dir mixed "$T/mixed"
check "a job of good and blank frames ends" wait_for 90 in_state failed mixed
check "… its two blank frames failed, as one colour" \
	sh -c "[ \$(ls '$SPOOL/jobs/mixed/frames/failed' | wc -l) -eq 2 ] && [ \$(cat '$SPOOL'/jobs/mixed/frames/failed/* | grep -c 'single colour') -eq 2 ]"
same=0
for f in 1 3 4 6; do
	(cd "$T/mixed" && povray -D -V +Iscene.pov +O"$T/mixed-hand/h.png" +W64 +H48 +FN +KFI1 +KFF6 +SF$f +EF$f) >/dev/null 2>&1
	[ -f "$SPOOL/jobs/mixed/output/m_000$f.png" ] &&
		[ "$(pixels "$T/mixed-hand/h$f.png")" = "$(pixels "$SPOOL/jobs/mixed/output/m_000$f.png")" ] && same=$((same + 1))
	[ -f "$SPOOL/jobs/mixed/previews/$(printf 'frame%07d.png' $f)" ] && same=$((same + 10))
done
check "… and the four others are published, each its own frame, each with its thumbnail ($same: 44)" [ "$same" -eq 44 ]

# ---- crash-only: the checker's server SIGKILLed while frames are checked ---------------------------------------
# the agent checks through one hf-check --serve; killed, its checks in flight go back and a new one serves
# (our agent's child: another test's agent may run beside)
A_PID=$AGENT
server_pid() { pgrep -P "$A_PID" -f "^$BIN/hf-check --serve" | head -n 1; }
check "the agent checks frames through hf-check --serve" wait_for 10 sh -c "[ -n \"\$(pgrep -P $A_PID -f '^$BIN/hf-check --serve')\" ]"
first=$(server_pid)
mkdir -p "$T/kill"
write_scene "$T/kill/scene.pov"
printf '[job]\nframes = 1-16\nchunk = 1\n[render]\nscene = scene.pov\nwidth = 64\nheight = 48\n' >"$T/kill/job.ini"
drop_dir kill "$T/kill"
some_done() { [ "$(ls "$SPOOL/jobs/kill/output" 2>/dev/null | wc -l)" -ge 3 ]; }
wait_for 60 some_done
kill -KILL "$first" 2>/dev/null
check "a job whose checker's server was SIGKILLed mid-job is done" wait_for 120 job_done kill
n=$(ls "$SPOOL/jobs/kill/output" | grep -c '^frame_00[0-9][0-9]\.png$')
check "… with all 16 frames ($n)" [ "$n" -eq 16 ]
mkdir -p "$T/after"
write_scene "$T/after/scene.pov"
printf '[job]\nframes = 1-2\n[render]\nscene = scene.pov\nwidth = 64\nheight = 48\n' >"$T/after/job.ini"
drop_dir after "$T/after"
check "a job after it is done" wait_for 60 job_done after
second=$(server_pid)
check "… checked by a new server ($first, then $second)" [ -n "$second" ] && [ "$second" != "$first" ]
done_testing
