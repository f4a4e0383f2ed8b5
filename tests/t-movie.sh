# t-movie.sh - the preview movie (previews/preview.mp4, H.264 at the job's fps, at most 960 wide) while a job renders,
# at its end and on its page; by hand: links skipped, one build at a time, no ffmpeg: no movie and one line why.
. "$(dirname "$0")/lib.sh"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
	not_ok "ffmpeg and ffprobe are installed (make deps installs them)"
	done_testing
fi
# what ffprobe says of a movie's video: codec_name, width, height, r_frame_rate, nb_read_frames
probe() { # FIELD MOVIE
	ffprobe -v error -select_streams v:0 -count_frames -show_entries \
		stream=codec_name,width,height,r_frame_rate,nb_read_frames -of default=nw=1 "$2" 2>/dev/null |
		sed -n "s/^$1=//p"
}
# N views of W x H in DIR, as hf-check writes them (viewNNNNNNN.jpg from 1)
make_views() { # DIR N WxH
	mkdir -p "$1" &&
		ffmpeg -v error -f lavfi -i "testsrc=size=$3:rate=24" -frames:v "$2" -q:v 4 -start_number 1 "$1/view%07d.jpg"
}
frames_are() { [ "$(probe nb_read_frames "$2")" = "$1" ]; }

# ---- hf-movie by hand, on views made here -------------------------------------------------------
H=$T/hand
P=$H/jobs/a/previews
make_views "$P" 20 320x240
# (a bug: renders cannot write previews/)
ln -s /etc/passwd "$P/view0000099.jpg"
hf-movie --at "$H" --fps 12 jobs/a/previews 2>"$T/a.err"
rc=$?
check "hf-movie makes previews/preview.mp4 from 20 views ($rc)" [ "$rc" -eq 0 -a -s "$P/preview.mp4" ]
check "H.264 ($(probe codec_name "$P/preview.mp4"))" [ "$(probe codec_name "$P/preview.mp4")" = h264 ]
check "at the fps asked ($(probe r_frame_rate "$P/preview.mp4"))" [ "$(probe r_frame_rate "$P/preview.mp4")" = 12/1 ]
check "a frame per view, the link named like one skipped ($(probe nb_read_frames "$P/preview.mp4"))" \
	frames_are 20 "$P/preview.mp4"
check "and said so" grep -q 'view0000099.jpg skipped: not a plain file' "$T/a.err"
check "no temporary is left" [ -z "$(ls -A "$P" | grep -v -e '^view' -e '^preview.mp4$' -e '^\.movie\.lock$')" ]

make_views "$H/jobs/b/previews" 3 1920x1080
hf-movie --at "$H" jobs/b/previews 2>/dev/null
w=$(probe width "$H/jobs/b/previews/preview.mp4") h=$(probe height "$H/jobs/b/previews/preview.mp4")
check "views wider than 960 px are scaled to 960 ($w x $h)" [ "$w" = 960 -a "$h" = 540 ]
check "at 24 fps when neither --fps nor a job says ($(probe r_frame_rate "$H/jobs/b/previews/preview.mp4"))" \
	[ "$(probe r_frame_rate "$H/jobs/b/previews/preview.mp4")" = 24/1 ]
make_views "$H/jobs/c/previews" 3 333x251
hf-movie --at "$H" jobs/c/previews 2>/dev/null
w=$(probe width "$H/jobs/c/previews/preview.mp4") h=$(probe height "$H/jobs/c/previews/preview.mp4")
check "odd sizes become even for H.264 ($w x $h)" [ "$w" = 332 -a "$h" = 250 ]

# one build per folder at a time: an ffmpeg that waits for a go holds the first
P=$H/jobs/d/previews
make_views "$P" 5 320x240
printf '#!/bin/sh\nwhile [ ! -e "%s" ]; do sleep 0.01; done\nexec ffmpeg "$@"\n' "$T/go" >"$T/slow-ffmpeg"
chmod +x "$T/slow-ffmpeg"
hf-movie --at "$H" --ffmpeg "$T/slow-ffmpeg" jobs/d/previews 2>"$T/first.err" &
first=$!
_pids="$_pids $first"
locked() { ! flock -n "$P/.movie.lock" true; }
check "a build holds previews/.movie.lock" wait_for 10 locked
start=$(date +%s%N)
hf-movie --at "$H" jobs/d/previews 2>"$T/second.err"
rc=$? ms=$((($(date +%s%N) - start) / 1000000))
check "a second hf-movie on the same folder meanwhile exits 0 at once ($rc, $ms ms), quietly" \
	[ "$rc" -eq 0 -a "$ms" -lt 2000 -a ! -s "$T/second.err" ]
check "and made nothing" [ ! -e "$P/preview.mp4" ]
touch "$T/go"
wait "$first"
rc=$?
check "the first one builds the movie ($rc)" sh -c "[ $rc -eq 0 ] && [ \"\$(ffprobe -v error -count_frames \
	-show_entries stream=nb_read_frames -of csv=p=0 '$P/preview.mp4')\" = 5 ]"

# no ffmpeg: no movie, one line why, nothing fails; a failing ffmpeg leaves nothing behind
P=$H/jobs/e/previews
make_views "$P" 3 160x120
hf-movie --at "$H" --ffmpeg /nonexistent jobs/e/previews 2>"$T/none.err"
rc=$?
check "without ffmpeg hf-movie exits 0 ($rc), with no movie" [ "$rc" -eq 0 -a ! -e "$P/preview.mp4" ]
check "it says why in one line" sh -c "[ \$(wc -l <'$T/none.err') -eq 1 ] &&
	grep -q 'no preview movie: ffmpeg is not installed on this host (apt-get install ffmpeg)' '$T/none.err'"
HOTFARM_FFMPEG=/nonexistent hf-movie --at "$H" jobs/e/previews 2>"$T/none2.err"
rc=$?
check "HOTFARM_FFMPEG names the ffmpeg too ($rc)" sh -c "[ $rc -eq 0 ] && grep -q 'not installed' '$T/none2.err'"
hf-movie --at "$H" --ffmpeg false jobs/e/previews 2>"$T/false.err"
rc=$?
check "an ffmpeg that fails: exit 111 ($rc), the reason said" sh -c "[ $rc -eq 111 ] && grep -q 'ffmpeg exited 1' '$T/false.err'"
check "and no movie nor temporary left ($(ls -A "$P" | grep -v '^view' | tr '\n' ' '))" \
	[ -z "$(ls -A "$P" | grep -v -e '^view' -e '^\.movie\.lock$')" ]
hf-movie --at "$H" jobs/../../etc 2>/dev/null
check "a folder outside the spool is refused (100)" [ $? -eq 100 ]
ln -s "$H/jobs/a" "$H/jobs/link"
hf-movie --at "$H" jobs/link/previews 2>/dev/null
check "a folder through a link is not opened (111)" [ $? -eq 111 ]

# ---- the farm: watcherd runs hf-movie while a job renders, and at its end ------------------------
new_spool
printf '[previews]\nmovie_interval = 1\n' >>"$SPOOL/conf/hotfarm.ini"
start_watcherd
start_agent h1 --slots 2
povray_job "$T/anim" 1-30 160 120
sed -i 's/^\[job\]$/[job]\nfps = 12/' "$T/anim/job.ini"
drop_dir anim "$T/anim"
M=$SPOOL/jobs/anim/previews/preview.mp4
early=""
movie_or_done() {
	if [ -s "$M" ]; then in_state done anim || early=yes; return 0; fi
	job_done anim
}
wait_for 120 movie_or_done
check "the 30-frame job is done" wait_for 120 job_done anim
rendered=$(ls "$SPOOL/jobs/anim/output" | grep -c '^f_[0-9]*\.png$')
views=$(ls "$SPOOL/jobs/anim/previews" | grep -c '^view[0-9]*\.jpg$')
if [ "$views" -eq 0 ]; then
	diag "the farm writes no views yet (the agent does not ask hf-check for --view): its movie is not checked"
	ok "the movie while it renders # SKIP no views"
	ok "the movie at its end # SKIP no views"
	ok "the job page shows it # SKIP no views"
	ok "a 1920x1080 job's movie is 960 wide # SKIP no views"
else
	if [ "$early" ]; then
		ok "preview.mp4 appears while the job renders"
	else
		ok "preview.mp4 while the job renders # SKIP the job ended before it was seen"
	fi
	check "at its end the movie has every frame rendered ($rendered)" wait_for 30 frames_are "$rendered" "$M"
	w=$(probe width "$M")
	check "H.264 at the job's 12 fps, at most 960 wide and even ($(probe codec_name "$M") $(probe r_frame_rate "$M") $w)" \
		[ "$(probe codec_name "$M")" = h264 -a "$(probe r_frame_rate "$M")" = 12/1 -a "$w" -le 960 -a $((w % 2)) -eq 0 ]
	video() { grep -q '<video src="previews/preview.mp4" controls muted loop playsinline>' "$SPOOL/jobs/anim/index.html"; }
	check "the job page shows it in a <video>" wait_for 15 video
	mkdir -p "$T/big"
	write_scene "$T/big/scene.pov"
	printf '[job]\nframes = 1-3\n[render]\nscene = scene.pov\nwidth = 1920\nheight = 1080\noutput = "f_####.png"\n' \
		>"$T/big/job.ini"
	drop_dir big "$T/big"
	check "a job of 1920x1080 frames is done" wait_for 120 job_done big
	B=$SPOOL/jobs/big/previews/preview.mp4
	check "its movie has its 3 frames" wait_for 30 frames_are 3 "$B"
	check "960 wide ($(probe width "$B")x$(probe height "$B"))" [ "$(probe width "$B")" = 960 ]
fi

# the job's own fps, and the page, with a movie made by hand from views of the job's frames
P=$SPOOL/jobs/anim/previews
if [ "$views" -eq 0 ]; then
	for f in $(ls "$SPOOL/jobs/anim/output"); do
		n=$(echo "$f" | tr -cd 0-9 | sed 's/^0*//')
		ffmpeg -v error -y -i "$SPOOL/jobs/anim/output/$f" -q:v 4 -f mjpeg "$P/.v" &&
			mv "$P/.v" "$P/view$(printf %07d "$n").jpg"
	done
fi
rm -f "$M"
hf-movie --at "$SPOOL" jobs/anim/previews 2>/dev/null
check "hf-movie takes the fps from the job's job.ini ($(probe r_frame_rate "$M"))" [ "$(probe r_frame_rate "$M")" = 12/1 ]
hf-status --spool "$SPOOL"
check "an ended job's page is written again once its movie is there, with a <video>" \
	grep -q '<video src="previews/preview.mp4" controls muted loop playsinline>' "$SPOOL/jobs/anim/index.html"
check "next to the contact sheet" grep -q '</video><a href="previews/contact.png"><img src="previews/contact.png"' \
	"$SPOOL/jobs/anim/index.html"
check "and no longer reloads itself (which would restart the movie)" \
	sh -c "! grep -q 'http-equiv=\"refresh\"' '$SPOOL/jobs/anim/index.html'"

# ---- a host without ffmpeg: jobs are done, without a movie, and the log says why ------------------
stop_watcherd
export HOTFARM_FFMPEG=/nonexistent
start_watcherd
unset HOTFARM_FFMPEG
povray_job "$T/plain" 1-4
drop_dir plain "$T/plain"
check "without ffmpeg a job is still done" wait_for 60 job_done plain
check "with no preview.mp4" [ ! -e "$SPOOL/jobs/plain/previews/preview.mp4" ]
said() { grep -q 'no preview movie: ffmpeg is not installed on this host (apt-get install ffmpeg)' "$SPOOL.watcherd.log"; }
check "watcherd's log says why" wait_for 10 said
n=$(grep -c 'no preview movie: ffmpeg is not installed' "$SPOOL.watcherd.log")
check "once ($n)" [ "$n" -eq 1 ]
check "watcherd is still running" alive "$WATCHERD"
done_testing
