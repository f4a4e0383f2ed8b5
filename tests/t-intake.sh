# t-intake.sh - good jobs in every archive format get unpacked into
# jobs/NAME and queued in priority order, with samples-first tickets and a
# status.ini scripts can read.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd

# --- a careful writer: archive, then .ini, each renamed in
drop_job shot42
check "tar + ini: queued" wait_for 10 queued shot42
J=$SPOOL/jobs/shot42
check "the scene is unpacked into jobs/NAME/files" cmp -s "$J/files/scene.pov" "$T/src/shot42.d/scene.pov"
check "one ticket per frame" [ "$(count "$J/frames/todo")" -eq 4 ]
check "the folders an agent needs exist" [ -d "$J/frames/active" -a -d "$J/frames/done" -a -d "$J/frames/failed" -a -d "$J/output" -a -d "$J/previews" -a -d "$J/logs" ]
check "status.ini says queued" grep -q '^state = "queued"' "$J/status.ini"
# (its words reach the log through watcherd, after the rename: waited for)
check "hf-intake queued the job it took in itself (no hf-route of its own)" \
	wait_for 10 grep -q 'prog=hf-intake job=shot42 msg="shot42 queued"' "$SPOOL.watcherd.log"
# a job left in new/ (its hf-intake killed before routing it) is routed
# by an hf-route watcherd starts
stop_watcherd
drop_job stray
hf-intake --spool "$SPOOL" --landed stray.tar stray.ini >/dev/null 2>&1
mv "$SPOOL/queue/"*-stray "$SPOOL/new/"
start_watcherd
check "a job left in new/ is routed by hf-route" wait_for 10 queued stray
check "by hf-route" wait_for 10 grep -q 'prog=hf-route job=stray msg="stray queued"' "$SPOOL.watcherd.log"
check "status.ini has the counts" grep -q '^frames_total = 4' "$J/status.ini"
check "the inbox is empty again" inbox_empty
check "nothing is left in work/" [ "$(count "$SPOOL/work")" -eq 0 ]
check "the job.ini is normalised with defaults" grep -q '^package = "povray"' "$J/job.ini"

# --- every archive format libarchive reads, each carrying its own job.ini
mkdir -p "$T/fmt"
write_scene "$T/fmt/scene.pov"
printf '[job]\nframes = 1-3\n[render]\nscene = scene.pov\n' >"$T/fmt/job.ini"
for f in ustar pax gnutar tar.gz tar.bz2 tar.xz tar.zst zip 7z; do
	case $f in
	ustar | pax | gnutar) (cd "$T/fmt" && bsdtar --format "$f" -cf "$T/fmt-$f.tar" job.ini scene.pov); file=fmt-$f.tar ;;
	tar.gz) (cd "$T/fmt" && bsdtar -czf "$T/fmt-gz.tar.gz" job.ini scene.pov); file=fmt-gz.tar.gz ;;
	tar.bz2) (cd "$T/fmt" && bsdtar -cjf "$T/fmt-bz2.tar.bz2" job.ini scene.pov); file=fmt-bz2.tar.bz2 ;;
	tar.xz) (cd "$T/fmt" && bsdtar -cJf "$T/fmt-xz.tar.xz" job.ini scene.pov); file=fmt-xz.tar.xz ;;
	tar.zst) (cd "$T/fmt" && bsdtar --zstd -cf "$T/fmt-zst.tar.zst" job.ini scene.pov); file=fmt-zst.tar.zst ;;
	zip) (cd "$T/fmt" && bsdtar --format zip -cf "$T/fmt-zip.zip" job.ini scene.pov); file=fmt-zip.zip ;;
	7z) (cd "$T/fmt" && bsdtar --format 7zip -cf "$T/fmt-7z.7z" job.ini scene.pov); file=fmt-7z.7z ;;
	esac
	name=${file%%.*}
	mv "$T/$file" "$SPOOL/inbox/.$file" && mv "$SPOOL/inbox/.$file" "$SPOOL/inbox/$file"
	check "one archive with job.ini, format $f: queued" wait_for 10 queued "$name"
done

# --- a folder packed as a whole: job.ini inside its one top folder
mkdir -p "$T/packed/myshot/tex"
write_scene "$T/packed/myshot/scene.pov"
echo texture >"$T/packed/myshot/tex/wood.png"
printf '[job]\nframes = 1-2\n[render]\nscene = scene.pov\n' >"$T/packed/myshot/job.ini"
(cd "$T/packed" && tar -czf "$T/myshot.tgz" myshot)
mv "$T/myshot.tgz" "$SPOOL/inbox/myshot.tgz"
check "a packed folder with job.ini inside: queued" wait_for 10 queued myshot
check "its scene is found inside the folder" grep -q 'scene = "myshot/scene.pov"' "$SPOOL/jobs/myshot/job.ini"

# --- the same name twice: NAME, NAME-2
drop_job twin
wait_for 10 queued twin
drop_job twin
check "a taken name becomes NAME-2" wait_for 10 queued twin-2
check "both jobs exist" [ -d "$SPOOL/jobs/twin" -a -d "$SPOOL/jobs/twin-2" ]

# --- priority order is the queue's sort order
PRIORITY=900 drop_job low
PRIORITY=10 drop_job urgent
PRIORITY=500 drop_job normal
wait_for 10 queued low && wait_for 10 queued urgent && wait_for 10 queued normal
order=$(ls "$SPOOL/queue" | grep -E -- '-(low|urgent|normal)$' | sed 's/^[0-9]*-[0-9]*-//' | tr '\n' ' ')
check "the queue sorts by priority: urgent normal low ($order)" [ "$order" = "urgent normal low " ]
check "the entry name carries the priority" [ -e "$(ls -d "$SPOOL/queue/010-"*-urgent 2>/dev/null)" ]

# --- at one priority, first landed is first queued, though a big job's
# intake ends after that of a small one dropped right behind it
make_job "$T/src" bigfirst
make_job "$T/src" smallnext
head -c 100000000 /dev/zero >"$T/src/bigfirst.d/texture.bin"
tar -C "$T/src/bigfirst.d" -cf "$SPOOL/inbox/.bigfirst.tar" .
tar -C "$T/src/smallnext.d" -cf "$SPOOL/inbox/.smallnext.tar" .
mv "$SPOOL/inbox/.bigfirst.tar" "$SPOOL/inbox/bigfirst.tar" && mv "$T/src/bigfirst.ini" "$SPOOL/inbox/bigfirst.ini"
mv "$SPOOL/inbox/.smallnext.tar" "$SPOOL/inbox/smallnext.tar" && mv "$T/src/smallnext.ini" "$SPOOL/inbox/smallnext.ini"
wait_for 30 queued bigfirst && wait_for 10 queued smallnext
order=$(ls "$SPOOL/queue" | grep -E -- '-(bigfirst|smallnext)$' | sed 's/^[0-9]*-[0-9]*-//' | tr '\n' ' ')
check "the first dropped is queued first, whichever intake ended first ($order)" [ "$order" = "bigfirst smallnext " ]

# --- samples first: first, last, middle, quartiles, then the rest
FRAMES=1-240 drop_job long
wait_for 10 queued long
first5=$(ls "$SPOOL/jobs/long/frames/todo" | head -5 | sed 's/^[0-9]*-0*//' | tr '\n' ' ')
check "tickets are taken samples-first: 1 240 120 60 180 ($first5)" [ "$first5" = "1 240 120 60 180 " ]
check "240 frames, 240 tickets" [ "$(count "$SPOOL/jobs/long/frames/todo")" -eq 240 ]

# --- chunks and stepped frames
make_job "$T/src" chunky
sed -i 's/^frames = .*/frames = 1-100x2\nchunk = 10/' "$T/src/chunky.ini"
tar -C "$T/src/chunky.d" -cf "$SPOOL/inbox/chunky.tar" .
mv "$T/src/chunky.ini" "$SPOOL/inbox/chunky.ini"
check "chunked job queued" wait_for 10 queued chunky
check "50 frames, one ticket each (chunk is a run length now)" [ "$(count "$SPOOL/jobs/chunky/frames/todo")" -eq 50 ]
check "the chunk is kept in job.ini" grep -qx 'chunk = 10' "$SPOOL/jobs/chunky/job.ini"
t=$(ls "$SPOOL/jobs/chunky/frames/todo" | head -1)
check "a ticket lists its frame ($(cat "$SPOOL/jobs/chunky/frames/todo/$t"))" grep -qx 'frames = 1' "$SPOOL/jobs/chunky/frames/todo/$t"

# --- an unknown key is reported, not fatal
make_job "$T/src" typo
printf 'prioritty = 5\n' >>"$T/src/typo.ini"
tar -C "$T/src/typo.d" -cf "$SPOOL/inbox/typo.tar" .
mv "$T/src/typo.ini" "$SPOOL/inbox/typo.ini"
check "a job with an unknown key is queued" wait_for 10 queued typo
check "and its status says which key, where" grep -q "line 8: unknown key 'prioritty'" "$SPOOL/jobs/typo/status.ini"

# --- the archive's size and sha256 in the .ini
make_job "$T/src" hashed
tar -C "$T/src/hashed.d" -cf "$T/src/hashed.tar" .
printf '[archive]\nsize = %s\nsha256 = %s\n' "$(stat -c %s "$T/src/hashed.tar")" "$(sha256sum "$T/src/hashed.tar" | cut -d' ' -f1)" >>"$T/src/hashed.ini"
cp "$T/src/hashed.tar" "$SPOOL/inbox/hashed.tar"
mv "$T/src/hashed.ini" "$SPOOL/inbox/hashed.ini"
check "a job whose .ini carries size and sha256 is queued" wait_for 10 queued hashed

check "watcherd is still running" alive "$WATCHERD"
done_testing
