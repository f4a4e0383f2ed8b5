# t-sync-members.sh - a shot that shares its textures with one sent before
# crosses to the linked site without them: only the files the peer does not
# hold travel, a changed one as a delta against what the peer last had at
# its path. The frames rendered there match POV-Ray by hand, the shared
# textures are one inode in b's store, a peer cannot get a file of b's own
# by naming its hash, a manifest that lies is refused, and cut links leave
# nothing partial.
. "$(dirname "$0")/lib.sh"

linked_pair a b
start_pair

# a scene that shows two of its twelve textures, and a 600 KB cache file
mkdir -p "$T/shot/tex"
python3 - "$T/shot" <<'PY'
import os, struct, sys, zlib
def png(path, seed):
    w = h = 64
    raw = b"".join(b"\0" + os.urandom(w * 3) for _ in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
for i in range(1, 13):
    png("%s/tex/t%02d.png" % (sys.argv[1], i), i)
open(sys.argv[1] + "/tex/cache.bin", "wb").write(os.urandom(600000))
PY
cat >"$T/shot/scene.pov" <<'POV'
camera { location <0, 1.2, -3.5> look_at <0, 0.5, 0> }
light_source { <4, 8, -6> color rgb 1 }
plane { y, 0 pigment { image_map { png "tex/t01.png" } rotate x*90 scale 2 } }
sphere { <0, 0.8, 0>, 0.8 pigment { image_map { png "tex/t02.png" map_type 1 } } }
POV
printf '[job]\nframes = 1-2\nsite = b\n[render]\nscene = scene.pov\nwidth = 64\nheight = 48\noutput = "f_####.png"\n' \
	>"$T/shot/job.ini"
drop_dir shot "$T/shot"
check "the first shot renders at b and comes back done" wait_for 120 in_state done shot

# the next shot, under another name: the same textures, the cache file
# changed in 20 KB, the sphere's texture another one
cp -r "$T/shot" "$T/take"
python3 -c "
d = bytearray(open('$T/take/tex/cache.bin', 'rb').read()); d[300000:320000] = bytes(20000)
open('$T/take/tex/cache.bin', 'wb').write(d)"
sed -i 's|tex/t02.png|tex/t03.png|' "$T/take/scene.pov"
drop_dir take "$T/take"
check "the next shot, under another name, renders at b and comes back done" wait_for 120 in_state done take
# (hf-sync --serve at b is a's transport: what it says is in a's log)
line=$(grep 'received take.job.tar from a' "$T/a.watcherd.log" | tail -1)
size=$(echo "$line" | sed -n 's/.*(\([0-9]*\) bytes; \([0-9]*\) on the wire).*/\1/p')
wire=$(echo "$line" | sed -n 's/.*(\([0-9]*\) bytes; \([0-9]*\) on the wire).*/\2/p')
check "its package ($size bytes) crossed in under 100 KB ($wire on the wire)" \
	[ -n "$wire" ] && [ "$size" -gt 700000 ] && [ "$wire" -lt 100000 ]
check "b held its 12 textures, and had the cache file's last version as the basis ($(grep 'take.job.tar from a:' "$T/a.watcherd.log" | tail -1 | sed 's/.*: //'))" \
	grep -q 'take.job.tar from a: 12 of its 13 members held here, 1 similar files as the basis' "$T/a.watcherd.log"
mkdir -p "$T/hand"
bad=""
for f in 1 2; do
	(cd "$T/take" && povray -D -V +Iscene.pov +O"$T/hand/r$f.png" +W64 +H48 +FN +KFI1 +KFF2 +SF$f +EF$f) >/dev/null 2>&1
	h=$(pixels "$T/hand/"r$f*.png)
	[ -n "$h" ] && [ "$(pixels "$T/a/jobs/take/output/f_000$f.png")" = "$h" ] || bad="$bad $f"
done
check "its frames are pixel-identical to povray by hand (differ:$bad)" [ -z "$bad" ]
J=$T/b/sites/a/jobs
check "at b, the two shots' textures are one inode in b's store" \
	[ "$(stat -c %i "$J/shot/files/tex/t07.png")" = "$(stat -c %i "$J/take/files/tex/t07.png")" ]
check "and each shot has its own cache file, byte for byte as sent" \
	sh -c "cmp -s '$J/take/files/tex/cache.bin' '$T/take/tex/cache.bin' && cmp -s '$J/shot/files/tex/cache.bin' '$T/shot/tex/cache.bin'"

# a hostile peer: its manifest names the hash of a file of b's own artists
# (in b's store) and of a texture a sent; b holds only what a sent. From
# here on hf-sync is run by hand: no watcherd takes in what arrives.
WATCHERD=$WA
stop_watcherd
on b
WATCHERD=$WB
mkdir -p "$T/own"
head -c 65536 /dev/urandom >"$T/own/secret.bin"
printf '[job]\nframes = 1\n[render]\nscene = scene.pov\n' >"$T/own/job.ini"
cp "$T/shot/scene.pov" "$T/own/" && cp -r "$T/shot/tex" "$T/own/"
drop_dir own "$T/own"
check "b's own job holding secret.bin is taken in" wait_for 60 sh -c "ls '$T/b/store'/*/* | grep -q \$(sha256sum '$T/own/secret.bin' | cut -c1-16)"
stop_watcherd
cat >"$T/peer.py" <<'PY'
import hashlib, struct, subprocess, sys
def frame(t, d=b""): return struct.pack(">I", len(d)) + t + d
def read(p):
    head = p.stdout.read(5)
    n = struct.unpack(">I", head[:4])[0]
    return head[4:5], p.stdout.read(n)
mode, secret, tex = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
cmd = sys.argv[4:]
body = b"x" * 512 + secret + b"y" * 512 + tex + b"z" * 1024
members = [(512, len(secret), b"own%2Fsecret.bin"), (1024 + len(secret), len(tex), b"tex%2Ft05.png")]
# the lie: the whole file's SHA-256 is of other bytes where the held texture is
at = 1024 + len(secret) + 100
claim = body if mode == "probe" else body[:at] + bytes([body[at] ^ 1]) + body[at + 1:]
man = b"".join(b"%d %d %s %s\n" % (o, n, hashlib.sha256(body[o:o + n]).hexdigest().encode(), k) for o, n, k in members)
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
p.stdin.write(frame(b"H", b"hotfarm-sync/2 a") + frame(b"O", b"evil.job.tar %d %s" % (len(claim), hashlib.sha256(claim).hexdigest().encode()))
              + frame(b"M", man) + frame(b"m"))
p.stdin.flush()
t, d = read(p)       # hello
t, have = read(p)    # which members b holds
print(have.decode())
if mode == "lie":
    while read(p)[0] != b"s":
        pass
    rest = body[:512 + len(secret) + 512]
    lit = b"".join(bytes([0x43]) + struct.pack(">I", len(c)) + c for c in [rest, b"z" * 1024])
    p.stdin.write(frame(b"D", b"rs\x026" + lit + b"\x00") + frame(b"d"))
    p.stdin.flush()
    t, d = read(p)
    print(t.decode(), d.decode())
p.stdin.close()
p.wait()
PY
python3 "$T/peer.py" probe "$T/own/secret.bin" "$T/shot/tex/t05.png" "$BIN/hotfarm" --spool "$T/b" sync --serve --peer a \
	>"$T/probe.out" 2>"$T/probe.err"
check "b holds the texture a sent it, not its own artist's file a names by hash ($(head -1 "$T/probe.out"))" \
	[ "$(head -1 "$T/probe.out")" = "-h" ]
python3 "$T/peer.py" lie "$T/own/secret.bin" "$T/shot/tex/t05.png" "$BIN/hotfarm" --spool "$T/b" sync --serve --peer a \
	>"$T/lie.out" 2>"$T/lie.err"
check "a package whose held member is not what its SHA-256 says is refused ($(tail -1 "$T/lie.out"))" \
	sh -c "tail -1 '$T/lie.out' | grep -q '^N.*damaged'"
check "and nothing of it is in b's in/" [ ! -e "$T/b/sites/a/in/evil.job.tar" ]

# cut links in the middle of a transfer by members: nothing partial, then whole
on a
python3 - "$T/b/sites/a/.basis/take.job.tar" "$T/again.job.tar" <<'PY'
import sys, tarfile, io
# the take shot as a's site packs jobs (a tar of its files), one more member
src = tarfile.open(sys.argv[1])
out = tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT)
for m in src.getmembers():
    out.addfile(m, src.extractfile(m) if m.isfile() else None)
extra = b"new " * 5000
ti = tarfile.TarInfo("tex/extra.bin"); ti.size = len(extra); out.addfile(ti, io.BytesIO(extra))
out.close()
PY
OUT=$T/a/sites/b/out
IN=$T/b/sites/a/in
sed -i '/^transport = /d' "$T/a/conf/hotfarm.ini"
cp "$T/again.job.tar" "$OUT/again.job.tar"
cuts=0
partial=""
while [ $cuts -lt 8 ]; do
	printf 'transport = python3 %s %s %s --spool %s sync --serve --peer a\n' "$HF_ROOT/tests/syncproxy.py" \
		"$(shuf -i 300-40000 -n 1)" "$BIN/hotfarm" "$T/b" >"$T/transport"
	sed -i '/^transport = /d' "$T/a/conf/hotfarm.ini"
	cat "$T/transport" >>"$T/a/conf/hotfarm.ini"
	hotfarm --spool "$T/a" sync >/dev/null 2>&1
	cuts=$((cuts + 1))
	partial=$(ls "$IN" | grep -v '^again\.job\.tar$' | head -1)
	[ -n "$partial" ] && break
	[ -e "$IN/again.job.tar" ] && ! cmp -s "$IN/again.job.tar" "$T/again.job.tar" && partial=again && break
done
check "8 cut links leave nothing partial in b's in/ ($partial)" [ -z "$partial" ]
sed -i '/^transport = /d' "$T/a/conf/hotfarm.ini"
printf 'transport = %s --spool %s sync --serve --peer a\n' "$BIN/hotfarm" "$T/b" >>"$T/a/conf/hotfarm.ini"
hotfarm --spool "$T/a" sync >"$T/again.out" 2>&1
check "then it arrives whole ($(cat "$T/again.out"))" cmp -s "$IN/again.job.tar" "$T/again.job.tar"
check "nothing half-received is left" [ -z "$(ls -A "$T/b/sites/a/.incoming")" ]
done_testing
