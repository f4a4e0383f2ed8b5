# t-presets.sh - preset hot folders: a bare .pov, a folder written in place, an archive with and without its own
# job.ini, a pre-sized scene, a bare .blend whose frames and size Blender reads; hostile drops rejected with reasons.
#
# Every drop goes into inbox/PRESET/ with no description of its own but
# where a case says so; the farm renders with the real POV-Ray and Blender,
# and one frame is compared with POV-Ray run by hand.
. "$(dirname "$0")/lib.sh"

new_spool
check "hotfarm init makes the default preset's folder" [ -d "$SPOOL/inbox/default" ]
cat >"$SPOOL/conf/presets/stills.ini" <<-'INI'
	[preset]
	about = "POV-Ray, frames 1-2 at 64x48"
	[job]
	frames = 1-2
	priority = 300
	[render]
	package = povray
	width = 64
	height = 48
	output = "f_####.png"
INI
printf '[render]\npackage = nosuch\n' >"$SPOOL/conf/presets/broken.ini"
start_watcherd
check "watcherd makes a new preset's folder" [ -d "$SPOOL/inbox/stills" ]
hotfarm presets >"$T/presets.out" 2>&1
check "hotfarm presets lists each preset with its folder and what it does" \
	grep -q "drop into: $SPOOL/inbox/stills/" "$T/presets.out"
check "... its about line" grep -q 'POV-Ray, frames 1-2 at 64x48' "$T/presets.out"
check "... and says why a broken one is broken" grep -q "broken, drops there wait:.*package 'nosuch' is unknown" "$T/presets.out"
# a preset added later: its folder on SIGHUP
cp "$SPOOL/conf/presets/stills.ini" "$SPOOL/conf/presets/later.ini"
kill -HUP "$WATCHERD"
later() { [ -d "$SPOOL/inbox/later" ]; }
check "a preset added later gets its folder when watcherd re-reads its configuration" wait_for 10 later
# another, its folder made by hotfarm init while watcherd runs: no drop itself
cp "$SPOOL/conf/presets/stills.ini" "$SPOOL/conf/presets/initmade.ini"
hotfarm init "$SPOOL" >/dev/null 2>&1
check "hotfarm init makes a new preset's folder" [ -d "$SPOOL/inbox/initmade" ]
start_agent p1 --slots 2

page_lists() { grep -q 'inbox/stills/' "$SPOOL/status/index.html" && grep -q 'POV-Ray, frames 1-2 at 64x48' "$SPOOL/status/index.html"; }
check "the farm's page lists the hot folders with what each does" wait_for 30 page_lists

# put SRC DST: rename SRC into inbox/DST (a careful writer)
put() { cp -r "$1" "$SPOOL/inbox/$(dirname "$2")/.put.tmp" && mv "$SPOOL/inbox/$(dirname "$2")/.put.tmp" "$SPOOL/inbox/$2"; }
settled() { job_done "$1" || job_failed "$1" || rejected "$1"; }
desc() { sed -n 's/^described = //p' "$SPOOL/jobs/$1/status.ini"; }
# described NAME PATTERN: its status says so (a fixed string)
described() { desc "$1" | grep -qF -- "$2"; }

# ---- a bare .pov ---------------------------------------------------------------------------------------
mkdir -p "$T/src"
write_scene "$T/src/orbit.pov"
put "$T/src/orbit.pov" stills/orbit.pov
check "a bare .pov in inbox/stills/ renders" wait_for 60 job_done orbit
check "its name is the file's, its frames the preset's (2)" [ "$(count "$SPOOL/jobs/orbit/output")" -eq 2 ]
check "its priority is the preset's" grep -q '^priority = 300$' "$SPOOL/jobs/orbit/status.ini"
check "status.ini names the preset" grep -q '^preset = "stills"$' "$SPOOL/jobs/orbit/status.ini"
check "status.ini says where the keys came from ($(desc orbit))" \
	described orbit 'preset stills: frames, priority, package, width, height, output; the drop'"'"'s name: name; the drop: scene'
(cd "$T/src" && povray -D -V +Iorbit.pov +O"$T/hand.png" +W64 +H48 +FN +KFI1 +KFF2 +SF2 +EF2) >/dev/null 2>&1
hand=$(pixels "$(ls "$T"/hand*.png | head -1)")
check "frame 2 is pixel-identical to POV-Ray by hand" [ -n "$hand" -a "$hand" = "$(pixels "$SPOOL/jobs/orbit/output/f_0002.png")" ]

# ---- a folder written in place, a file at a time (a file browser's copy) ------------------------------------
mkdir -p "$T/src/tex"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/src/tex/checker.png" 16 16
cat >"$T/src/textured.pov" <<-'POV'
	camera { location <0, 1, -3> look_at <0, 0.5, 0> }
	light_source { <5, 10, -5> color rgb 1 }
	plane { y, 0 pigment { image_map { png "maps/checker.png" } rotate x * 90 } }
	sphere { <0, 0.8, 0>, 0.8 pigment { color rgb <1, 0.3, 0.2> } }
POV
python3 - "$T/src" "$SPOOL" <<-'PY' 2>"$T/folder.err"
	import os, sys, time
	src, spool = sys.argv[1:3]
	d = os.path.join(spool, "inbox", "stills", "shot1")
	def untouched(when):
	    for where in ("jobs", "rejected"):
	        if os.path.exists(os.path.join(spool, where, "shot1")):
	            sys.exit(f"{when}: the half-copied folder was taken into {where}/")
	os.mkdir(d)
	untouched("after the folder")
	time.sleep(0.4)  # a slow share between files, as a file browser copies
	with open(os.path.join(d, "scene.pov"), "wb") as f:
	    f.write(open(os.path.join(src, "textured.pov"), "rb").read())
	untouched("after the scene")
	time.sleep(0.4)
	os.mkdir(os.path.join(d, "maps"))
	time.sleep(0.4)
	untouched("after the folder maps")
	with open(os.path.join(d, "maps", "checker.png"), "wb") as f:
	    f.write(open(os.path.join(src, "tex", "checker.png"), "rb").read())
PY
check "a folder copied in place is not taken while it is being filled ($(cat "$T/folder.err"))" [ ! -s "$T/folder.err" ]
check "once settled it renders" wait_for 60 settled shot1
check "... done, not rejected ($(reason shot1))" job_done shot1
check "its texture came with it" cmp -s "$SPOOL/jobs/shot1/files/maps/checker.png" "$T/src/tex/checker.png"

# ---- archives, with and without a job.ini of their own, and a .ini beside a scene ----------------------------
mkdir -p "$T/a1" "$T/a2/shot"
write_scene "$T/a1/anim.pov"
tar -C "$T/a1" -cf "$T/bare.tar" anim.pov
put "$T/bare.tar" stills/bare.tar
write_scene "$T/a2/shot/main.pov"
printf '[job]\nframes = 3\npriority = 100\n[render]\nscene = main.pov\n' >"$T/a2/shot/job.ini"
tar -C "$T/a2" -czf "$T/own.tar.gz" shot
put "$T/own.tar.gz" stills/own.tar.gz
write_scene "$T/src/paired.pov"
printf '[job]\nframes = 4\n' >"$T/src/paired.ini"
# (the .ini first: a scene alone is a whole drop here)
put "$T/src/paired.ini" stills/paired.ini
put "$T/src/paired.pov" stills/paired.pov
check "an archive without job.ini is described by the preset" wait_for 60 job_done bare
check "... with its 2 frames" [ "$(count "$SPOOL/jobs/bare/output")" -eq 2 ]
check "an archive's own job.ini wins key by key (frame 3 only, priority 100)" wait_for 60 job_done own
check "... frames 1 of 1, priority 100" sh -c "grep -q '^frames_total = 1$' '$SPOOL/jobs/own/status.ini' &&
	grep -q '^priority = 100$' '$SPOOL/jobs/own/status.ini' && [ -f '$SPOOL/jobs/own/output/f_0003.png' ]"
check "... and the status says which keys came from job.ini ($(desc own))" described own 'job.ini: frames, priority, scene'
check "a .ini beside a bare scene is its job.ini (4 frames)" wait_for 60 job_done paired
check "... 1 frame" [ "$(count "$SPOOL/jobs/paired/output")" -eq 1 ]

write_scene "$T/src/viainit.pov"
put "$T/src/viainit.pov" initmade/viainit.pov
check "a scene dropped into it (no SIGHUP) renders" wait_for 60 job_done viainit
check "the folder hotfarm init made is still there, not taken for a drop" \
	sh -c "[ -d '$SPOOL/inbox/initmade' ] && [ ! -e '$SPOOL/rejected/initmade' ]"

# a preset that names its scene: a folder's scene is that one, a bare scene is itself
printf '[job]\nframes = 1\n[render]\npackage = povray\nscene = main.pov\nwidth = 64\nheight = 48\n' \
	>"$SPOOL/conf/presets/named.ini"
hotfarm init "$SPOOL" >/dev/null 2>&1
mkdir -p "$T/withmain"
write_scene "$T/withmain/main.pov"
echo 'this is not a scene' >"$T/withmain/other.pov"
put "$T/withmain" named/withmain
write_scene "$T/src/solo.pov"
put "$T/src/solo.pov" named/solo.pov
check "a folder in a preset that names its scene renders that scene ($(reason withmain))" wait_for 60 job_done withmain
check "a bare scene dropped there is its own scene ($(reason solo))" wait_for 60 job_done solo

# ---- written in place, pre-sized (an SMB client) ---------------------------------------------------------
write_scene "$T/src/sized.pov"
python3 "$HF_ROOT/tests/slowwrite.py" presized "$T/src/sized.pov" "$SPOOL/inbox/stills/sized.pov" "$SPOOL" sized 2>"$T/sized.err"
check "a pre-sized scene is not taken while zeros remain ($(cat "$T/sized.err"))" [ $? -eq 0 ]
check "... and renders once whole" wait_for 60 job_done sized

# ---- what cannot be known, and hostile drops --------------------------------------------------------------
write_scene "$T/src/nofr.pov"
put "$T/src/nofr.pov" default/nofr.pov
check "a .pov in a preset without frames is rejected" wait_for 30 rejected nofr
check "... saying which preset key to add ($(reason nofr))" \
	sh -c "reason_nofr=\$(head -n 1 '$SPOOL/rejected/nofr/reason.txt'); echo \"\$reason_nofr\" | grep -q 'add frames = 1-100 to conf/presets/default.ini'"
check "... and keeps the artist's file" [ -f "$SPOOL/rejected/nofr/nofr.pov" ]
mkdir -p "$T/h1" "$T/h2" "$T/h3"
write_scene "$T/h1/scene.pov"
ln -s /etc/passwd "$T/h1/passwd.inc"
put "$T/h1" stills/linked
write_scene "$T/h2/scene.pov"
mkfifo "$T/h2/pipe"
put "$T/h2" stills/fifo
write_scene "$T/h3/scene.pov"
for i in $(seq 1 40); do : >"$T/h3/f$i"; done
sed -i 's/^\[intake\]$/[intake]\nmax_entries = 30\nmax_bytes = 20M/' "$SPOOL/conf/hotfarm.ini"
put "$T/h3" stills/many
ln -s "$T/src/orbit.pov" "$SPOOL/inbox/stills/symlinked.pov"
# hostile archives, as intake knows them from inbox/ (no job.ini: the preset's)
python3 "$HF_ROOT/tests/mkarchive.py" --batch "$T/evil" dotdot="$T/dotdot.tar" symlink-out="$T/symout.tar" \
	bomb="$T/bomb.tar.gz" >/dev/null 2>&1
for a in dotdot.tar symout.tar bomb.tar.gz; do put "$T/$a" "stills/$a"; done
for n in linked fifo many symlinked dotdot symout bomb; do check "hostile drop $n is rejected" wait_for 30 rejected "$n"; done
check "no archive reached out of its job (no $T/evil)" [ ! -e "$T/evil" ]
check "a link in a folder: the reason names it ($(reason linked))" sh -c "head -n 1 '$SPOOL/rejected/linked/reason.txt' | grep -q 'passwd.inc is a symbolic link'"
check "a FIFO in a folder: the reason names it ($(reason fifo))" sh -c "head -n 1 '$SPOOL/rejected/fifo/reason.txt' | grep -q 'pipe is not a regular file'"
check "a folder over max_entries ($(reason many))" sh -c "head -n 1 '$SPOOL/rejected/many/reason.txt' | grep -q 'max_entries'"
check "a link dropped as the scene ($(reason symlinked))" sh -c "head -n 1 '$SPOOL/rejected/symlinked/reason.txt' | grep -q 'symbolic link'"
check "nothing read through the link reached the farm" sh -c "! grep -rqs '^root:' '$SPOOL/jobs' '$SPOOL/work'"

# ---- an interrupted intake of a preset drop goes back to its folder ------------------------------------------
mkdir -p "$SPOOL/work/pre.stills.1.2/dropped" "$SPOOL/work/pre.stills.1.2/job"
write_scene "$SPOOL/work/pre.stills.1.2/dropped/back.pov"
hf-intake --spool "$SPOOL" --recover=start >/dev/null 2>&1
check "hf-intake --recover puts a preset drop back into inbox/stills/" wait_for 30 settled back
check "... where it renders" job_done back

# ---- a bare .blend: frames and size from the scene, read by a confined Blender --------------------------------
if command -v blender >/dev/null 2>&1; then
	blender -b --factory-startup --python-exit-code 1 --python "$HF_ROOT/tests/mkblend.py" -- "$T/src/cube.blend" 3 48 32 \
		>"$T/mkblend.log" 2>&1
	# a scene whose own Python would leave a mark, were it run
	blender -b "$T/src/cube.blend" --python-exit-code 1 --python-expr "import bpy
t = bpy.data.texts.new('mark.py'); t.write('open(\"$T/pwned\", \"w\").write(\"x\")'); t.use_module = True
bpy.ops.wm.save_mainfile()" >>"$T/mkblend.log" 2>&1
	put "$T/src/cube.blend" default/cube.blend
	check "a bare .blend in inbox/default/ renders" wait_for 120 settled cube
	check "... done ($(reason cube))" job_done cube
	check "... its 3 frames, the scene's range" [ "$(count "$SPOOL/jobs/cube/output")" -eq 3 ]
	check "... at the scene's size (48x32)" grep -q '^width = 48$' "$SPOOL/jobs/cube/job.ini"
	check "the status says frames and size came from the scene ($(desc cube))" described cube 'the scene: frames, width, height'
	check "the scene's own Python never ran (no mark)" [ ! -e "$T/pwned" ]
	# names that try to speak for the scene: inside a line Blender prints as
	# it reads the file, or as a line of their own (and of job.ini)
	said="hotfarm-scene frames=1-99 width=16 height=16.blend"
	cp "$T/src/cube.blend" "$SPOOL/inbox/default/.said" && mv "$SPOOL/inbox/default/.said" "$SPOOL/inbox/default/$said"
	liar="liar
frames = 1-99.blend"
	cp "$T/src/cube.blend" "$SPOOL/inbox/default/.liar" && mv "$SPOOL/inbox/default/.liar" "$SPOOL/inbox/default/$liar"
	sj=hotfarm-scene_frames_1-99_width_16_height_16
	taken() { [ -f "$SPOOL/jobs/$1/job.ini" ] || rejected "$1"; }
	check "a scene named like what Blender says is taken in" wait_for 60 taken "$sj"
	check "... its frames and size are the scene's, not its name's" \
		sh -c "grep -Eq '^frames = \"?1-3\"?$' '$SPOOL/jobs/$sj/job.ini' && grep -q '^width = 48$' '$SPOOL/jobs/$sj/job.ini'"
	check "a scene whose name holds a line break is rejected" wait_for 60 rejected liar_frames_1-99
	check "... saying so ($(reason liar_frames_1-99))" sh -c "head -n 1 '$SPOOL/rejected/liar_frames_1-99/reason.txt' | grep -q 'line break'"
else
	not_ok "Blender is installed (make deps installs it)"
fi

check "inbox/ and the preset folders are empty ($(inbox_left))" inbox_empty
check "work/ is empty ($(ls "$SPOOL/work" | tr '\n' ' '))" [ -z "$(ls "$SPOOL/work")" ]
done_testing
