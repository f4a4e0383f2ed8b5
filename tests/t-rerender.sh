# t-rerender.sh - hotfarm rerender NAME FRAMES: done frames of a done job
# render again; each old image stays in output/ until its replacement has
# passed the check and takes its place with one rename, which a reader
# polling output/ the whole time sees: the file always there, always a
# whole PNG, first the old file, then the new. Billing counts the new
# attempts. Real daemons, POV-Ray.
. "$(dirname "$0")/lib.sh"

ino() { stat -c %i "$SPOOL/jobs/rr/output/$1" 2>/dev/null; }

new_spool
start_watcherd
start_agent r --slots 2

povray_job "$T/rr" 1-4
sed -i 's/^\[job\]$/[job]\nchunk = 1/' "$T/rr/job.ini"
drop_dir rr "$T/rr"
check "the job is rendered" wait_for 60 job_done rr
for f in 1 2 3 4; do
	eval "old$f=\$(pixels \"\$SPOOL/jobs/rr/output/f_000$f.png\")"
	eval "ino$f=\$(ino f_000$f.png)"
done

# a reader polls frame 2 all along: each look opens it and decodes it whole
cat >"$T/reader.py" <<'PY'
import os, sys, time, zlib, struct
path, stop, out = sys.argv[1:]
looks = missing = broken = 0
seen = []
while not os.path.exists(stop):
    looks += 1
    try:
        with open(path, "rb") as f:
            ino = os.fstat(f.fileno()).st_ino
            data = f.read()
    except FileNotFoundError:
        missing += 1
        continue
    try:
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND"
        pos, idat = 8, b""
        while pos < len(data):
            n, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if kind == b"IDAT":
                idat += data[pos + 8:pos + 8 + n]
            pos += 12 + n
        zlib.decompress(idat)
        if not seen or seen[-1] != ino:
            seen.append(ino)
        if len(seen) == 1 and not os.path.exists(out + ".started"):
            open(out + ".started", "w").close()
    except Exception:
        broken += 1
    time.sleep(0.002)
open(out, "w").write(f"looks={looks} missing={missing} broken={broken} versions={len(seen)}\n")
PY
python3 "$T/reader.py" "$SPOOL/jobs/rr/output/f_0002.png" "$T/stop" "$T/reader.out" &
READER=$!
check "the reader has looked at frame 2 once" wait_for 20 test -e "$T/reader.out.started"
hotfarm rerender rr 2,4 >"$T/out" 2>&1
rc=$?
check "hotfarm rerender rr 2,4 answers ($rc: $(cat "$T/out"))" grep -q "2 frame tickets back to render" "$T/out"
check "the job is queued again" sh -c "ls '$SPOOL/queue' | grep -q -- '-rr\$' || ls '$SPOOL/done' | grep -q -- '-rr\$'"
check "and done again" wait_for 60 job_done rr
replaced() { [ "$(ino f_0002.png)" != "$ino2" ] && [ "$(ino f_0004.png)" != "$ino4" ]; }
check "frames 2 and 4 are new files in output/" wait_for 10 replaced
check "pixel-identical to the first render (the same scene)" sh -c "[ '$(pixels "$SPOOL/jobs/rr/output/f_0002.png")' = '$old2' ] &&
	[ -n '$old4' ] && [ '$(pixels "$SPOOL/jobs/rr/output/f_0004.png")' = '$old4' ]"
check "frames 1 and 3 are untouched" sh -c "[ '$(ino f_0001.png)' = '$ino1' ] && [ '$(ino f_0003.png)' = '$ino3' ] &&
	[ '$(pixels "$SPOOL/jobs/rr/output/f_0001.png")' = '$old1' ]"
touch "$T/stop"
wait "$READER"
check "the reader always found frame 2, always whole, the old file then the new ($(cat "$T/reader.out"))" \
	grep -Eq '^looks=[0-9]+ missing=0 broken=0 versions=2$' "$T/reader.out"
check "no temporary or staging file is left in output/" \
	[ -z "$(ls -A "$SPOOL/jobs/rr/output" | grep -v '^f_000[1-4]\.png$')" ]
check "billing counts the new attempts (attempts = 6)" grep -q '^attempts = 6$' "$SPOOL/jobs/rr/billing.ini"
check "the tickets are done, none counted as failed" sh -c "[ \$(ls '$SPOOL/jobs/rr/frames/done' | wc -l) -eq 4 ] &&
	! grep -q '^attempt' '$SPOOL'/jobs/rr/frames/done/*"
check "each re-rendered ticket notes who asked" sh -c "grep -l '^rerender = ' '$SPOOL'/jobs/rr/frames/done/* | wc -l | grep -qx 2"

# refusals, in words
hotfarm rerender rr 99 2>"$T/err"
check "rerender of frames the job has not done: 100 ($(cat "$T/err"))" [ $? -eq 100 ]
hotfarm rerender rr 1-x 2>"$T/err"
check "rerender with frames it cannot read: 100 ($(cat "$T/err"))" [ $? -eq 100 ]
hotfarm rerender nosuch 1 2>"$T/err"
check "rerender of no such job: 100 ($(cat "$T/err"))" [ $? -eq 100 ]

check "watcherd and the agent are still running" sh -c "kill -0 $WATCHERD && kill -0 $AGENT"
stop_pids
done_testing
