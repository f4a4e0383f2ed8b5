# t-blender-addon.sh - the Blender add-on (clients/blender) as an artist uses it, in a real background
# Blender: installed from its zip, it submits a shot whose texture is outside its folder (by an
# absolute path), with an image sequence (which Blender cannot pack) and a floor linked from another
# .blend; the farm renders it after those files are moved away, pixel-identical to Blender by hand
# on the original, and the artist's file is
# untouched. Each mistake an artist can make is one plain sentence (unsaved file, missing texture,
# no spool, not a spool, full disk, bad frames); the panel shows the job's state; cancel works.
#
# One Blender session (tests/addon_drive.py) does every case, writing what the panel says into
# $T/said; the scenes come from tests/addon_scene.py.
. "$(dirname "$0")/lib.sh"

if ! command -v blender >/dev/null 2>&1; then
	not_ok "Blender is installed: t-blender-addon needs it (make deps installs Debian's blender)"
	done_testing
fi
build_hfimg
px() { "$HFIMG" pixels "$1" 2>/dev/null; }
# said CASE: what the panel said in that case
said() { sed -n "s/^$1	//p" "$T/said" 2>/dev/null; }
# says CASE TEXT...: the panel's words in CASE hold each TEXT
says() {
	_c=$1; shift
	_s=$(said "$_c")
	for _w in "$@"; do
		case $_s in *"$_w"*) ;; *) diag "$_c said: ${_s:-nothing}"; return 1 ;; esac
	done
}

blender -b --factory-startup --python-exit-code 1 --python "$HF_ROOT/tests/addon_scene.py" -- "$T" >"$T/scene.log" 2>&1
made() { [ -s "$T/artist/shot.blend" ] && [ -s "$T/artist/rusty.blend" ] && [ -s "$T/lib/lib.blend" ]; }
check "Blender makes the shot, its library and textures" made || { diag "$(tail -n 5 "$T/scene.log")"; done_testing; }
# the artist's files: contents, times, and what their folders hold
artist_files() {
	(cd "$T" && sha256sum artist/shot.blend lib/lib.blend lib/libtex.png textures/wood.png textures/seq/* &&
		stat -c '%n %Y %s' artist/shot.blend lib/lib.blend textures/wood.png && ls -A artist lib textures)
}
artist_files >"$T/files.before"

new_spool
start_watcherd # no agent yet: the job must not render before its originals are gone
mkdir -p "$T/notspool" "$T/tmp"
python3 "$HF_ROOT/clients/blender/mkzip.py" "$T/hotfarm_submit.zip"
FULL=-
if [ "$(id -u)" = 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=300k,mode=755 hotfarm-test-addon "$T/full"; then
	at_exit 'umount -l "$T/full"'
	mkdir "$T/full/inbox"
	FULL=$T/full
else
	diag "the full disk is left out: mounting a small tmpfs needs root"
fi

# Blender by hand on the original file, meanwhile, with what conf/packages/blender.ini gives it
SETUP="import bpy; s = bpy.context.scene; s.cycles.use_denoising = False; s.render.resolution_x = 64; s.render.resolution_y = 48; s.render.resolution_percentage = 100"
DEPTH8="import bpy; bpy.context.scene.render.image_settings.color_depth = '8'"
blender -b "$T/artist/shot.blend" --python-exit-code 1 --python-expr "$SETUP" -o "$T/hand/f_####" \
	-F PNG --python-expr "$DEPTH8" -x 1 -s 1 -e 3 -a >"$T/hand.log" 2>&1 &
hand=$!

# the artist, in one Blender session (temporary files in $T/tmp, the add-on installed under $T/scripts)
start=$(date +%s)
TMPDIR=$T/tmp BLENDER_USER_SCRIPTS=$T/scripts blender -b --factory-startup --python-exit-code 1 \
	--python "$HF_ROOT/tests/addon_drive.py" -- "$T/said" "$T/hotfarm_submit.zip" "$SPOOL" \
	"$T/artist/shot.blend" "$T/artist/rusty.blend" "$T/nowhere" "$T/notspool" "$FULL" >"$T/drive.log" 2>&1 &
drive=$!
_pids="$_pids $drive"
submitted() { [ -e "$T/said.submitted" ] || ! alive "$drive"; }
wait_for 60 submitted
check "the session gets through its submissions within 60 s" test -e "$T/said.submitted" ||
	diag "$(grep -v '^Fra:' "$T/drive.log" | tail -n 8)"
wait "$hand"
check "Blender by hand renders the original shot" [ -s "$T/hand/f_0003.png" ] || diag "$(tail -n 3 "$T/hand.log")"
# what the farm renders must come from the job alone: the originals go away until the end
mv "$T/textures" "$T/textures.away" && mv "$T/lib" "$T/lib.away"
start_agent bl --slots 2
wait "$drive"
rc=$?
mv "$T/textures.away" "$T/textures" && mv "$T/lib.away" "$T/lib"
check "the Blender session ends well (exit $rc, $(($(date +%s) - start)) s)" [ "$rc" -eq 0 ] ||
	diag "$(grep -v '^Fra:' "$T/drive.log" | tail -n 12)"
check "the add-on installs from its zip and is enabled" says installed yes

# the artist's mistakes, each one sentence in plain words
check "an unsaved file: save it first" says unsaved "Save the file first" "never been saved"
check "a missing texture: named, with the path Blender looked for" \
	says missing "texture image 'rust' is missing" "Blender looked for $T/textures/rust.png"
check "no spool folder: is the share mounted" says nomount "$T/nowhere is not there" "mounted"
check "a folder that is no spool: it has no inbox folder" says noinbox "$T/notspool has no inbox folder"
if [ "$FULL" != - ]; then
	check "a full disk: the farm's disk is full" says diskfull "disk is full" "$FULL/inbox"
	check "and nothing is left in its inbox" [ -z "$(ls -A "$FULL/inbox")" ]
fi
check "frames it cannot read" says badframes "Frames '1-x' are not understood"
check "requires it cannot read" says badrequires "Requires 'blender 3.4' is not understood"
check "no message is a Python traceback" sh -c "! grep -q -i -e traceback -e 'File \"' '$T/said'"
A=$(said job_a) B=$(said job_b)
# dropped: every job, refusal and inbox file made of the shots
dropped() { for _d in "$SPOOL"/jobs/* "$SPOOL"/rejected/* "$SPOOL"/inbox/*; do case ${_d##*/} in shot-* | rusty*) echo "${_d##*/}" ;; esac; done; }
check "none of them dropped anything: the spool holds jobs A and B alone ($A $B)" [ "$(dropped | wc -l)" -eq 2 ]

# the job
check "the shot is submitted: $(said submitted)" says submitted "Submitted job shot-"
check "the open file did not change in the session (name, unsaved state, image and library paths)" \
	says unchanged yes
files_unchanged() { artist_files | cmp -s - "$T/files.before"; }
check "nor on disk: the shot, its library and textures, and no new file beside them" files_unchanged
J=$SPOOL/jobs/$A
# job_has KEY VALUE...: the job's (normalised) job.ini sets each KEY to its VALUE
job_has() {
	while [ $# -ge 2 ]; do
		grep -Eq "^$1 = \"?$2\"?\$" "$J/job.ini" || { diag "job.ini: $(grep "^$1 " "$J/job.ini")"; return 1; }
		shift 2
	done
}
check "its job.ini: the size the scene renders (128x96 at 50%), the scene's frames, priority, format" \
	job_has width 64 height 48 frames 1-3 priority 100 format png package blender
check "the farm renders it" job_done "$A" || diag "$(grep -h reason "$J/status.ini")"
check "the panel shows it done, every frame: $(said a_end)" says a_end "Job $A: done" "3 of 3 frames done (100%)"
check "and offers its contact sheet and its page" test -f "$(said a_contact)" -a -f "$(said a_page)"
bad=""
for f in 1 2 3; do
	a=$(px "$T/hand/f_000$f.png") b=$(px "$J/output/frame_000$f.png")
	if [ -z "$a" ] || [ "$a" != "$b" ]; then bad="$bad $f" && diag "frame $f: by hand $a, farm $b"; fi
done
check "its frames are pixel-identical to Blender by hand on the original: texture, sequence, linked floor (differ:$bad)" \
	[ -z "$bad" ]

# cancel
check "job B (asking for Blender 0.0) waits in the queue: $(said b_before_cancel)" says b_before_cancel "Job $B: queued"
check "Cancel: the panel says it asked" says cancel_said "Asked the farm to cancel job $B"
check "and shows the job cancelled: $(said b_after_cancel)" says b_after_cancel "Job $B: cancelled"
check "the farm moved it to cancelled/" in_state cancelled "$B"
check "the session ended with the file still unchanged" says session_end unchanged
leftovers() { for _l in "$T"/tmp/hotfarm-*; do [ -e "$_l" ] && echo "$_l"; done; }
check "no temporary files are left (the copies, the staging folders)" [ -z "$(leftovers)" ]
done_testing
