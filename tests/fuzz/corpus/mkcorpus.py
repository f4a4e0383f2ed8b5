#!/usr/bin/env python3
"""tests/fuzz/corpus/mkcorpus.py - write the fuzzers' seed inputs (stdlib only).

Each seed is something a real user or peer sends, valid, so that the
fuzzers start from the paths that matter and mutate from there:

  jobini/   job.ini files using every section and key the parser knows
  archive/  small jobs as tar, tar.gz, tar.bz2, tar.xz and zip, with and
            without their own job.ini, with folders and inside links
  sync/     whole sync sessions as the serving side reads them from a
            peer ('a'): hello, offers with their deltas, acknowledged
            repeats, new versions sent as copies of the basis, quit

The files are kept in git; run this again (from anywhere) after changing
it. The seeds named bug-* once broke something (the comment beside each
says what); t-fuzz.sh replays every seed, so each stays fixed.
"""
import bz2
import gzip
import hashlib
import io
import lzma
import os
import struct
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXED_TIME = 1700000000  # reproducible archives


def write(target, name, data):
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    with open(os.path.join(HERE, target, name), "wb") as f:
        f.write(data)


# ---- job.ini --------------------------------------------------------------

JOBINI = {
    "minimal.ini": b"[job]\nframes = 1\n[render]\nscene = scene.pov\n",
    "typical.ini": b"""# shot 42, the orbit
[job]
frames = 1-240
priority = 200
[render]
scene = scene.pov
width = 640
height = 480
output = "shot_####.png"
""",
    "every-key.ini": b"""[job]
name = Shot 42 \xe2\x80\x93 final
priority = 0010
frames = 1-100x3, 200, 301-305
chunk = 4
retries = 3
timeout = 30m
owner = ana
email = ana@studio.example
site = auto
limits = nuke, arnold
after = shot41, shot40
[render]
package = povray
scene = ./scenes/main.pov
width = 1920
height = 1080
output = frames/shot_####.png
args = +A0.3 "+L/my lib" 'x y'
allow_blank = yes
[requires]
version = 3.7.*
os = Linux
os_version = 6.*
gpu = *
min_ram_mb = 4096
min_cpus = 8
[archive]
size = 12K
sha256 = 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
[route]
hops = paris, london
""",
    "windows.ini": b"\xef\xbb\xbf[Job]\r\nFrames = 1-4\r\nPriority = 500 ; default\r\n\r\n[Render]\r\n"
                   b"Scene = scene.pov\r\nOutput = img.png\r\nallow_blank = no\r\n",
    "blender.ini": b"""[job]
frames = 1,5,9-12
site = local
[render]
package = blender
scene = shot.blend
output = "out/f#####.exr"
args = --engine CYCLES
[requires]
version = 3.4.*
""",
    "typos.ini": b"""[job]
frames = 7
prioritty = 3
[render]
scene = a.pov
[extra]
note = "a; b # c"
""",
}
# Found through fuzz_jobini's read-back check (hand-made inputs: the fuzzer
# did not make lines this long in minutes): a line that fits as the user wrote
# it outgrew the line limit as intake writes job.ini back (quotes, ", "
# between names, the #### added to output); intake accepted the job and
# route failed it, unable to read it.
JOBINI["bug-long-scene.ini"] = b"[job]\nframes = 1\n[render]\nscene=" + b"abc/" * 248 + b"ab\n"
JOBINI["bug-long-after.ini"] = (b"[job]\nframes = 1\nafter=" + b",".join(b"j%d" % i for i in range(220))
                                + b"\n[render]\nscene = a.pov\n")
JOBINI["bug-long-output.ini"] = b"[job]\nframes = 1\n[render]\nscene = a.pov\noutput=" + b"abc/" * 247 + b"a.png\n"
# Found by fuzz_jobini: an output name of 251-255 characters without ####
# passed, then outgrew the 255 a name may have once _#### was added to it.
JOBINI["bug-output-name.ini"] = b"[job]\nframes = 1\n[render]\nscene = a.pov\noutput = out/" + b"n" * 253 + b"\n"

# ---- archives -------------------------------------------------------------

SCENE = b"""camera { location <0, 2, -6> look_at <0, 0.5, 0> }
light_source { <10, 20, -10> color rgb 1 }
sphere { <2 * sin(clock * 2 * pi), 0.8, 0>, 0.8 pigment { color rgb <1, 0.3, 0.2> } }
"""
INC = b"#declare Red = rgb <1, 0.3, 0.2>;\n"
JOB = b"[job]\nframes = 1-4\n[render]\nscene = scene.pov\nwidth = 64\nheight = 48\n"
SUBJOB = b"[job]\nframes = 1-2\n[render]\nscene = shot.pov\n"


def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    """entries: (name, kind, data-or-target); kind f, d, l (symlink), h (hard link)"""
    out = io.BytesIO()
    # no padding to a 10 KiB record: the seeds stay small
    saved, tarfile.RECORDSIZE = tarfile.RECORDSIZE, tarfile.BLOCKSIZE
    try:
        with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
            for name, kind, data in entries:
                i = tarfile.TarInfo(name)
                i.mtime = FIXED_TIME
                i.uname = i.gname = "artist"
                if kind == "f":
                    i.size, i.mode = len(data), 0o644
                    t.addfile(i, io.BytesIO(data))
                    continue
                if kind == "d":
                    i.type, i.mode = tarfile.DIRTYPE, 0o755
                elif kind == "l":
                    i.type, i.linkname = tarfile.SYMTYPE, data
                else:
                    i.type, i.linkname = tarfile.LNKTYPE, data
                t.addfile(i)
    finally:
        tarfile.RECORDSIZE = saved
    return out.getvalue()


def zip_bytes(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, kind, data in entries:
            zi = zipfile.ZipInfo(name + ("/" if kind == "d" else ""), (2023, 11, 14, 22, 13, 20))
            zi.external_attr = (0o40755 if kind == "d" else 0o100644) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, b"" if kind == "d" else data)
    return out.getvalue()


WHOLE_JOB = [("job.ini", "f", JOB), ("scene.pov", "f", SCENE), ("inc", "d", None),
             ("inc/colors.inc", "f", INC), ("inc/red.inc", "l", "colors.inc"),
             ("textures", "d", None), ("textures/wood.inc", "h", "inc/colors.inc"),
             ("textures/up.inc", "l", "../inc/colors.inc")]
IN_FOLDER = [("shot/", "d", None), ("shot/job.ini", "f", SUBJOB), ("shot/shot.pov", "f", SCENE),
             ("shot/maps/", "d", None), ("shot/maps/a.inc", "f", INC)]
WITHOUT_INI = [("./", "d", None), ("./scene.pov", "f", SCENE), ("./lib/", "d", None),
               ("./lib/x.inc", "f", INC)]


def archives():
    write("archive", "job.tar", tar_bytes(WHOLE_JOB))
    # compressed here, not by tarfile: gzip would stamp today's time
    write("archive", "job-in-folder.tar.gz", gzip.compress(tar_bytes(IN_FOLDER), mtime=0))
    write("archive", "job-pax.tar.bz2", bz2.compress(tar_bytes(WHOLE_JOB[:4], tarfile.PAX_FORMAT)))
    write("archive", "job.tar.xz", lzma.compress(tar_bytes(WITHOUT_INI), format=lzma.FORMAT_XZ))
    write("archive", "without-ini.tar", tar_bytes(WITHOUT_INI))
    write("archive", "job.zip", zip_bytes([e for e in WHOLE_JOB if e[1] in "fd"]))
    write("archive", "job-in-folder.zip", zip_bytes(IN_FOLDER))
    # Found by reading, kept by fuzz_archive's check that the job.ini intake
    # writes reads back: job.ini in a folder, its scene a long path; with the
    # folder in front the scene no longer fit a line, and route and the
    # agents could not read the job intake had accepted.
    top, scene = "d" * 200, "/".join(["s" * 250, "s" * 250, "s" * 250, "s" * 47])
    write("archive", "bug-long-scene.tar.gz", gzip.compress(tar_bytes([
        (top + "/job.ini", "f", b"[job]\nframes = 1\n[render]\nscene = " + scene.encode() + b"\n"),
        (top + "/" + scene, "f", SCENE)]), mtime=0))


# ---- sync sessions ----------------------------------------------------------
# A frame: 4-byte big-endian length, a type byte, the data. A librsync delta:
# magic "rs\x026", commands, END (0). LITERAL_1..64 are the bytes 1..64
# followed by the data; COPY_N4_N4 (0x4f) is a 4-byte offset into the basis
# and a 4-byte length.

def frame(t, data=b""):
    return struct.pack(">I", len(data)) + t + data


def literal(data):
    out = b""
    for i in range(0, len(data), 64):
        part = data[i:i + 64]
        out += bytes([len(part)]) + part
    return out


def copy(offset, length):
    return b"\x4f" + struct.pack(">II", offset, length)


def delta(*commands):
    return b"rs\x026" + b"".join(commands) + b"\x00"


def offer(name, content, dl, split=0):
    """the offer of NAME (its CONTENT) and its delta DL, in frames of SPLIT bytes"""
    s = frame(b"O", b"%s %d %s" % (name, len(content), hashlib.sha256(content).hexdigest().encode()))
    step = split or max(1, len(dl))
    for i in range(0, len(dl), step):
        s += frame(b"D", dl[i:i + step])
    return s + frame(b"d")


HELLO = frame(b"H", b"hotfarm-sync/1 a")
QUIT = frame(b"Q")


def sessions():
    job = tar_bytes(WHOLE_JOB[:2])
    v1 = bytes(range(32, 127)) * 3
    v2 = v1[:100] + b"changed here" + v1[100:]
    write("sync", "one-file", HELLO + offer(b"shot.job.tar", job, delta(literal(job))) + QUIT)
    write("sync", "two-files", HELLO + offer(b"a.result.tar", v1, delta(literal(v1)), 100)
          + offer(b"site.summary", b"[load]\nwaiting = 0\n", delta(literal(b"[load]\nwaiting = 0\n"))) + QUIT)
    # sent twice (the acknowledgement was lost): the second offer gets no
    # signature, the peer ends its delta at once
    write("sync", "repeat", HELLO + offer(b"shot.job.tar", v1, delta(literal(v1))) + offer(b"shot.job.tar", v1, b"")
          + QUIT)
    # a new version: copies out of the basis the first one left
    write("sync", "new-version", HELLO + offer(b"shot.job.tar", v1, delta(literal(v1)))
          + offer(b"shot.job.tar", v2, delta(copy(0, 100), literal(b"changed here"), copy(100, len(v1) - 100)))
          + QUIT)
    # a job sent again under a new name: its basis is the earlier version
    write("sync", "family", HELLO + offer(b"shot.job.tar", v1, delta(literal(v1)))
          + offer(b"shot-2.job.tar", v2, delta(copy(0, 100), literal(b"changed here"), copy(100, len(v1) - 100)))
          + QUIT)
    write("sync", "empty-file", HELLO + offer(b"empty.progress.tar", b"", delta()) + QUIT)
    write("sync", "hello-only", HELLO + QUIT)
    # Found by fuzz_sync: every way a transfer fails left the server's
    # folders and files open (the fuzzer ran out of descriptors).
    write("sync", "bug-fd-cut-delta", HELLO + offer(b"shot.job.tar", v1, delta(literal(v1)))[:-40])
    write("sync", "bug-fd-bad-delta", HELLO + offer(b"shot.job.tar", v1, b"not a delta") + QUIT)
    write("sync", "bug-fd-damaged", HELLO + offer(b"shot.job.tar", v1, delta(literal(v2))) + QUIT)
    # Found by reading, kept by fuzz_sync's file size limit: copy commands
    # may repeat the basis without end, and the server wrote all they made
    # before it compared the size (here 6 KiB of basis, 4.7 MiB written).
    basis = bytes(range(256)) * 24
    write("sync", "bug-delta-bomb", HELLO + offer(b"big.job.tar", basis, delta(literal(basis)))
          + offer(b"big.job.tar", basis[::-1], delta(*[copy(0, len(basis))] * 800)) + QUIT)


# Version 2: each offer carries a manifest of members (OFFSET SIZE SHA256
# KEY), and the server answers which it holds. fuzz_sync's spool holds one
# content in its store (HELD, below); a member the peer sent once is held
# for its next offer, whose delta then leaves those bytes out.
HELLO2 = frame(b"H", b"hotfarm-sync/2 a")
HELD = bytes(range(256)) * 32  # the store's copy fuzz_sync makes at start


def offer2(name, content, members, dl):
    """a version 2 offer: MEMBERS are (offset, size, key) of CONTENT"""
    s = frame(b"O", b"%s %d %s" % (name, len(content), hashlib.sha256(content).hexdigest().encode()))
    lines = b"".join(b"%d %d %s %s\n" % (o, n, hashlib.sha256(content[o:o + n]).hexdigest().encode(), k)
                     for o, n, k in members)
    if lines:
        s += frame(b"M", lines)
    return s + frame(b"m") + frame(b"D", dl) + frame(b"d")


def sessions2():
    first = b"h" * 512 + HELD + b"t" * 512
    second = b"H" * 512 + HELD + b"T" * 512
    member = [(512, len(HELD), b"tex%2Fheld.bin")]
    write("sync", "v2-members", HELLO2 + offer2(b"shot.job.tar", first, member, delta(literal(first)))
          + offer2(b"take.job.tar", second, member, delta(literal(second[:512] + second[-512:]))) + QUIT)
    # the same member, but the rest not what the offer's SHA-256 says
    write("sync", "v2-lie", HELLO2 + offer2(b"shot.job.tar", first, member, delta(literal(first)))
          + offer2(b"take.job.tar", second, member, delta(literal(first[:512] + second[-512:]))) + QUIT)
    write("sync", "v2-similar", HELLO2 + offer2(b"shot.job.tar", first, member, delta(literal(first)))
          + offer2(b"take.job.tar", first[:600] + b"x" + first[601:], [(512, len(HELD), b"tex%2Fheld.bin")],
                   delta(literal(first[:512]), copy(0, 88), literal(b"x"), copy(89, len(HELD) - 89),
                         literal(first[-512:]))) + QUIT)
    write("sync", "v2-bad-manifest", HELLO2 + offer2(b"shot.job.tar", first, [(512, 4096, b"a"), (600, 4096, b"b")],
                                                     delta(literal(first))) + QUIT)


def main():
    for name, text in JOBINI.items():
        write("jobini", name, text)
    archives()
    sessions()
    sessions2()


if __name__ == "__main__":
    main()
