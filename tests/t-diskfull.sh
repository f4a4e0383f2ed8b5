# t-diskfull.sh - a spool on a small, full disk (a 32 MB tmpfs): a job
# that does not fit is rejected with "not enough space" and nothing of it
# is left behind; renders that fail for want of space go back to be done
# later, never counted as failures, never marked done, no half-written
# frame shows; watcherd lives through it; once space is freed the job
# completes with whole frames.
. "$(dirname "$0")/lib.sh"

# the spool is the tmpfs; the daemons' logs stay beside it, on the big disk
mkdir -p "$T/spool"
mount -t tmpfs -o size=32m,mode=755 hotfarm-test "$T/spool" || { echo "1..0 # SKIP cannot mount a tmpfs"; exit 0; }
at_exit 'umount -l "$T/spool"'
free_kb() { df -k --output=avail "$T/spool" | tail -1 | tr -d ' '; }
new_spool
printf '[agent]\nmin_free = 16K\n' >>"$SPOOL/conf/hotfarm.ini"
start_watcherd

# 1. a job that does not fit: 40 MB of zeros, 40 KB packed
mkdir -p "$T/big"
head -c 40000000 /dev/zero >"$T/big/zeros.bin"
printf 'x\n' >"$T/big/scene.pov"
printf '[job]\nframes = 1\n[render]\nscene = scene.pov\n' >"$T/big/job.ini"
tar -C "$T/big" -czf "$T/big.tar.gz" .
before=$(free_kb)
cp "$T/big.tar.gz" "$SPOOL/inbox/.big.tar.gz" && mv "$SPOOL/inbox/.big.tar.gz" "$SPOOL/inbox/big.tar.gz"
check "a job that does not fit is rejected" wait_for 30 rejected big
check "with the reason 'not enough space' ($(reason big))" sh -c "head -1 '$SPOOL/rejected/big/reason.txt' | grep -q 'not enough space'"
check "what was dropped is kept beside the reason" cmp -s "$SPOOL/rejected/big/big.tar.gz" "$T/big.tar.gz"
check "nothing of its unpacking is left in work/" wait_for 10 sh -c "[ -z \"\$(ls -A '$SPOOL/work')\" ]"
after=$(free_kb)
check "the space it took while unpacking is free again ($before KB before, $after KB after)" \
	[ "$after" -ge $((before - 512)) ]
check "no job folder was made for it" [ ! -e "$SPOOL/jobs/big" ]

# 2. renders on a full disk: a 640x480 frame needs some 6 MB while it renders (POV-Ray keeps its state in a file beside the image); leave 256 KB (the farm's own logs, events and counts grow meanwhile; [agent] min_free stops the agent at 16 KiB)
RETRIES=0 povray_job "$T/pov" 1-2 640 480
drop_dir pov "$T/pov"
check "a small job is taken in" wait_for 20 queued pov
fallocate -l $(( ($(free_kb) - 256) * 1024 )) "$SPOOL/filler"
diag "free on the spool's disk: $(free_kb) KB"
start_agent a --slots 1
nospace() { cat "$SPOOL"/jobs/pov/frames/todo/* "$SPOOL"/jobs/pov/frames/active/* 2>/dev/null | grep -c '^nospace = '; }
tried() { [ "$(nospace)" -ge "$1" ]; }
check "renders fail for want of space and go back, again and again" wait_for 60 tried 3
check "the agent says the disk is full" grep -q "less than \[agent\] min_free" "$SPOOL.agent-a.log"
check "no ticket was marked done" [ "$(count "$SPOOL/jobs/pov/frames/done")" -eq 0 ]
check "no ticket failed (retries = 0, yet nothing counted)" [ "$(count "$SPOOL/jobs/pov/frames/failed")" -eq 0 ]
check "the job is neither done nor failed" sh -c "! ls '$SPOOL/done' '$SPOOL/failed' | grep -q -- -pov\$"
check "no frame is visible in output/ (half-written ones stay hidden)" [ -z "$(ls "$SPOOL/jobs/pov/output")" ]
check "watcherd lives through the full disk" alive "$WATCHERD"

# space again: the job completes
rm -f "$SPOOL/filler"
check "once space is freed the job completes" wait_for 60 job_done pov
O=$SPOOL/jobs/pov/output
bad=""
for f in 1 2; do
	(cd "$T/pov" && povray -D -V +Iscene.pov +O"$T/hand$f.png" +W640 +H480 +FN +KFI1 +KFF2 +SF$f +EF$f) >/dev/null 2>&1
	farm=$(python3 "$HF_ROOT/tests/pngpixels.py" "$O/f_000$f.png" 2>/dev/null | cut -d' ' -f1-2)
	hand=$(python3 "$HF_ROOT/tests/pngpixels.py" "$T"/hand$f*.png | cut -d' ' -f1-2)
	[ -n "$farm" ] && [ "$farm" = "$hand" ] || bad="$bad $f"
done
check "both frames whole and pixel-identical to povray by hand (differ:$bad)" [ -z "$bad" ]
check "each ticket's attempts were not counted (attempt lines: $(cat "$SPOOL"/jobs/pov/frames/done/* | grep -c '^attempt = '))" \
	[ "$(cat "$SPOOL"/jobs/pov/frames/done/* | grep -c '^attempt = ')" -eq 0 ]
check "the agent says when it takes frames again" grep -q "free again: taking frames" "$SPOOL.agent-a.log"
check "watcherd is still up" alive "$WATCHERD"
done_testing
