# t-sync.sh - the site link: hotfarm sync pushes sites/PEER/out/ to a
# linked site as librsync deltas over a byte stream (here a local command;
# ssh in production). Files arrive whole and once, out/ is emptied only
# after the peer acknowledged, a cut link is retried without partial or
# double files, and a hostile peer is refused.
. "$(dirname "$0")/lib.sh"

new_spool b
B=$SPOOL
new_spool a
A=$SPOOL
sed -i 's/^name = testsite$/name = a/' "$A/conf/hotfarm.ini"
sed -i 's/^name = testsite$/name = b/' "$B/conf/hotfarm.ini"
printf '[site b]\ntransport = %s --spool %s sync --serve --peer a\n' "$BIN/hotfarm" "$B" >>"$A/conf/hotfarm.ini"
printf '[site a]\ntransport = %s --spool %s sync --serve --peer b\n' "$BIN/hotfarm" "$A" >>"$B/conf/hotfarm.ini"
OUT=$A/sites/b/out
IN=$B/sites/a/in
mkdir -p "$OUT"

head -c 3000000 /dev/urandom >"$T/job1.tar"
cp "$T/job1.tar" "$OUT/job1.tar"
hotfarm --spool "$A" sync >"$T/first" 2>&1
check "sync exits 0" [ $? -eq 0 ]
check "the file arrives whole in the peer's sites/a/in/" cmp -s "$T/job1.tar" "$IN/job1.tar"
check "and leaves out/ once acknowledged" [ ! -e "$OUT/job1.tar" ]
bytes=$(sed -n 's/.* sent, \([0-9]*\) bytes on the wire out.*/\1/p' "$T/first")
check "a first send costs about the file's size ($bytes for 3000000)" [ "$bytes" -le 3060000 ]

# a small change goes as a small delta against what the peer holds
python3 -c "
d=bytearray(open('$T/job1.tar','rb').read()); d[2000000:2000200]=b'y'*200; open('$T/job1b.tar','wb').write(d)"
rm "$IN/job1.tar" # taken in by the peer meanwhile
cp "$T/job1b.tar" "$OUT/job1.tar"
hotfarm --spool "$A" sync >"$T/second" 2>&1
bytes=$(sed -n 's/.* sent, \([0-9]*\) bytes on the wire out.*/\1/p' "$T/second")
check "a 200-byte change costs a small delta ($bytes bytes)" [ "$bytes" -lt 50000 ]
check "and arrives byte-identical" cmp -s "$T/job1b.tar" "$IN/job1.tar"

# offered again (an acknowledgement lost): acknowledged, not delivered twice
rm "$IN/job1.tar"
cp "$T/job1b.tar" "$OUT/job1.tar"
hotfarm --spool "$A" sync >/dev/null 2>&1
check "a file the peer already has is not delivered twice" [ ! -e "$IN/job1.tar" -a ! -e "$OUT/job1.tar" ]

# the best basis when the name is new: an earlier version of the same job
# (shot-2.job.tar after shot.job.tar), or a file with the same content
head -c 2000000 /dev/urandom >"$T/shot.tar"
cp "$T/shot.tar" "$OUT/shot.job.tar"
hotfarm --spool "$A" sync >/dev/null 2>&1
python3 -c "
d=bytearray(open('$T/shot.tar','rb').read()); d[100:300]=b'z'*200; open('$T/shot2.tar','wb').write(d)"
cp "$T/shot2.tar" "$OUT/shot-2.job.tar"
hotfarm --spool "$A" sync >"$T/v2" 2>&1
bytes=$(sed -n 's/.* sent, \([0-9]*\) bytes on the wire out.*/\1/p' "$T/v2")
check "a re-submitted job (new name) goes as a delta against its earlier version ($bytes bytes)" [ "$bytes" -lt 50000 ]
check "and arrives byte-identical" cmp -s "$T/shot2.tar" "$IN/shot-2.job.tar"
cp "$T/shot2.tar" "$OUT/other.job.tar"
hotfarm --spool "$A" sync >"$T/same" 2>&1
bytes=$(sed -n 's/.* sent, \([0-9]*\) bytes on the wire out.*/\1/p' "$T/same")
check "a job with content the peer holds under another name costs next to nothing ($bytes bytes)" [ "$bytes" -lt 50000 ]
check "and is delivered under its own name" cmp -s "$T/shot2.tar" "$IN/other.job.tar"
rm -f "$IN/shot.job.tar" "$IN/shot-2.job.tar" "$IN/other.job.tar"

# the link cut mid-transfer 20 times, then whole: every file once, whole
i=0
while [ $i -lt 5 ]; do
	head -c $((400000 + i * 100000)) /dev/urandom >"$T/f$i.tar"
	cp "$T/f$i.tar" "$OUT/f$i.tar"
	i=$((i + 1))
done
sed -i '/^transport = /d' "$A/conf/hotfarm.ini"
cuts=0
while [ $cuts -lt 20 ]; do
	limit=$(shuf -i 2000-1500000 -n 1)
	printf 'transport = python3 %s %s %s --spool %s sync --serve --peer a\n' "$HF_ROOT/tests/syncproxy.py" "$limit" "$BIN/hotfarm" "$B" >"$T/transport"
	sed -i '/^transport = /d' "$A/conf/hotfarm.ini"
	cat "$T/transport" >>"$A/conf/hotfarm.ini"
	hotfarm --spool "$A" sync >/dev/null 2>&1
	cuts=$((cuts + 1))
	partial=$(ls "$IN" | grep -v '^f[0-4]\.tar$' | head -1)
	[ -n "$partial" ] && break
done
check "20 cut links leave nothing partial in in/ ($partial)" [ -z "$partial" ]
sed -i '/^transport = /d' "$A/conf/hotfarm.ini"
printf 'transport = %s --spool %s sync --serve --peer a\n' "$BIN/hotfarm" "$B" >>"$A/conf/hotfarm.ini"
hotfarm --spool "$A" sync >/dev/null 2>&1
bad=""
i=0
while [ $i -lt 5 ]; do
	cmp -s "$T/f$i.tar" "$IN/f$i.tar" || bad="$bad f$i"
	i=$((i + 1))
done
check "then every file arrives once, byte-identical (bad:$bad)" [ -z "$bad" ]
check "out/ is empty" [ -z "$(ls "$OUT")" ]
check "nothing half-received is left" [ -z "$(ls -A "$B/sites/a/.incoming")" ]

# a hostile peer: bad names and sizes are refused, nothing written outside
cat >"$T/hostile.py" <<'PY'
import struct, subprocess, sys
def frame(t, data=b""): return struct.pack(">I", len(data)) + t + data
for offer in [b"../escape 10 " + b"0" * 64, b"a/b 10 " + b"0" * 64, b".hidden 10 " + b"0" * 64,
              b"ok 99999999999999999999 " + b"0" * 64, b"ok 10 nothex"]:
    p = subprocess.run(sys.argv[1:], input=frame(b"H", b"hotfarm-sync/1 a") + frame(b"O", offer),
                       capture_output=True)
    out = p.stdout
    assert b"N" in out[5:] or p.returncode != 0, (offer, out)
p = subprocess.run(sys.argv[1:], input=frame(b"H", b"hotfarm-sync/1 mallory"), capture_output=True)
assert p.returncode != 0 and b"mallory" in p.stderr, p
p = subprocess.run(sys.argv[1:], input=struct.pack(">I", 1 << 30) + b"H", capture_output=True)
assert p.returncode != 0, p
PY
python3 "$T/hostile.py" "$BIN/hotfarm" --spool "$B" sync --serve --peer a 2>"$T/hostile.err"
check "a peer offering hostile names and sizes, another site's name or a huge frame is refused" [ $? -eq 0 ]
"$BIN/hotfarm" --spool "$B" sync --serve --peer mallory </dev/null >/dev/null 2>"$T/unlinked.err"
check "serving a site that is not linked is refused ($(cat "$T/unlinked.err"))" grep -q 'not linked' "$T/unlinked.err"
check "nothing was written outside sites/a/in" [ ! -e "$B/sites/escape" -a ! -e "$B/sites/a/escape" -a -z "$(ls "$B/sites/a/in" | grep -v '^f[0-4]\.tar$')" ]

# watcherd pushes what appears in out/ by itself, and keeps trying a link
# that is down, with pauses
start_watcherd
head -c 200000 /dev/urandom >"$T/auto.tar"
cp "$T/auto.tar" "$OUT/.auto.tar.tmp" && mv "$OUT/.auto.tar.tmp" "$OUT/auto.tar"
arrived() { cmp -s "$T/auto.tar" "$IN/auto.tar"; }
check "watcherd syncs a file put into out/" wait_for 20 arrived
check "and out/ empties" wait_for 10 sh -c "[ -z \"\$(ls '$OUT')\" ]"
sed -i 's|^transport = .*|transport = false|' "$A/conf/hotfarm.ini"
cp "$T/auto.tar" "$OUT/later.tar"
retried() { [ "$(grep -c 'sync to b failed' "$SPOOL.watcherd.log")" -ge 2 ]; }
check "a link that is down is tried again, with a pause" wait_for 20 retried
check "and the file waits in out/" [ -f "$OUT/later.tar" ]
check "watcherd keeps running" alive "$WATCHERD"
done_testing
