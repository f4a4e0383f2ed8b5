#!/usr/bin/env python3
"""tests/mkarchive.py KIND OUT [TARGET] - write a hostile or edge-case job
archive for the intake tests (stdlib only).

Every archive holds a valid scene.pov, then the hostile part. KIND+ini
(e.g. dotdot+ini) also puts a valid job.ini at the top, first, so the archive
dropped alone is a whole job; without it the archive is meant to be dropped
with its NAME.ini, the way hotfarm submit does. TARGET is the outside path an escaping entry aims at
(default /tmp/hotfarm-evil); the test checks it never appears.

  mkarchive.py --list     prints the kinds
  mkarchive.py --batch TARGET KIND=OUT...   writes several in one run
"""
import io
import os
import sys
import tarfile
import time
import zipfile

SCENE = b"""camera { location <0, 2, -6> look_at <0, 0.5, 0> }
light_source { <10, 20, -10> color rgb 1 }
plane { y, 0 pigment { checker color rgb 1 color rgb 0.2 } }
sphere { <2 * sin(clock * 2 * pi), 0.8, 0>, 0.8 pigment { color rgb <1, 0.3, 0.2> } }
"""
JOB_INI = b"""[job]
frames = 1-4
[render]
scene = scene.pov
width = 64
height = 48
"""
BAD_JOB_INI = b"""[job]
frames = 1-4
this line is not ini
[render]
scene = scene.pov
"""
MIB = 1 << 20


class Zeros(io.RawIOBase):
    """n bytes of zeros, read in pieces (no 64 MiB buffer)."""

    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self.left)
        b[:k] = bytes(k)
        self.left -= k
        return k


class NoSeek(io.RawIOBase):
    """A write-only, unseekable file: makes zipfile use data descriptors,
    so the local headers do not say how big an entry is."""

    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def write(self, b):
        return self.f.write(b)


def info(name, kind=tarfile.REGTYPE, size=0, mode=0o644, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = size
    ti.mode = mode
    ti.mtime = int(time.time()) - 60
    ti.uname = ti.gname = "artist"
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def add(tf, name, data, mode=0o644):
    tf.addfile(info(name, size=len(data), mode=mode), io.BytesIO(data))


def base(tf, ini=True, ini_text=JOB_INI):
    if ini:
        add(tf, "job.ini", ini_text)
    add(tf, "scene.pov", SCENE)


WITH_INI = False  # KIND+ini


def make_tar(out, entries, mode="w", ini=None, ini_text=JOB_INI, fmt=tarfile.GNU_FORMAT, **openkw):
    ini = WITH_INI if ini is None else ini
    with tarfile.open(out, mode, format=fmt, **openkw) as tf:
        base(tf, ini, ini_text)
        for e in entries:
            if isinstance(e, tuple):  # (TarInfo, data or fileobj)
                ti, data = e
                tf.addfile(ti, io.BytesIO(data) if isinstance(data, bytes) else data)
            else:
                tf.addfile(e)


def make_zip(out, entries, stream=False):
    """entries: (ZipInfo or name, data)"""
    ini = WITH_INI
    f = open(out, "wb")
    target = NoSeek(f) if stream else f
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        if ini:
            zf.writestr(zip_file("job.ini"), JOB_INI)
        zf.writestr(zip_file("scene.pov"), SCENE)
        for zi, data in entries:
            if isinstance(zi, str):
                zi = zip_file(zi)
            if callable(data):
                with zf.open(zi, "w") as w:
                    data(w)
            else:
                zf.writestr(zi, data)
    f.close()


def zip_file(name):
    zi = zipfile.ZipInfo(name, time.localtime(time.time() - 60)[:6])
    zi.create_system = 3
    zi.external_attr = 0o100644 << 16
    zi.compress_type = zipfile.ZIP_DEFLATED
    return zi


def zip_symlink(name, target):
    zi = zipfile.ZipInfo(name, time.localtime(time.time() - 60)[:6])
    zi.create_system = 3  # unix: external_attr carries st_mode
    zi.external_attr = (0o120777 << 16)
    return zi, target.encode()


def zeros_writer(n):
    def w(f):
        chunk = bytes(MIB)
        left = n
        while left:
            k = min(left, len(chunk))
            f.write(chunk[:k])
            left -= k
    return w


def build(kind, out, target):
    global WITH_INI
    WITH_INI = kind.endswith("+ini")
    kind = kind[:-4] if WITH_INI else kind
    rel = target.lstrip("/")
    deep = "../" * 24 + rel
    if kind == "good":
        make_tar(out, [])
    elif kind == "badini":  # job.ini inside with a syntax error on line 3
        make_tar(out, [], ini=True, ini_text=BAD_JOB_INI)
    elif kind == "dotdot":
        make_tar(out, [(info("../evil-dotdot", size=5), b"evil\n")])
    elif kind == "dotdot-deep":  # climbs to / and back down to TARGET
        make_tar(out, [(info(deep, size=5), b"evil\n")])
    elif kind == "dotdot-mid":
        make_tar(out, [(info("sub/", tarfile.DIRTYPE, mode=0o755)),
                       (info("sub/../../evil-mid", size=5), b"evil\n")])
    elif kind == "dotdot-long":  # GNU long name header
        make_tar(out, [(info("a" * 150 + "/../../../../evil-long", size=5), b"evil\n")])
    elif kind == "pax-dotdot":  # innocent ustar name, hostile pax path
        ti = info("innocent.txt", size=5, pax_headers={"path": "../evil-pax"})
        make_tar(out, [(ti, b"evil\n")], fmt=tarfile.PAX_FORMAT)
    elif kind == "absolute":
        make_tar(out, [(info(target, size=5), b"evil\n")])
    elif kind == "ctrlname":
        make_tar(out, [(info("bad\nname.txt", size=5), b"evil\n")])
    elif kind == "symlink-out":
        make_tar(out, [info("passwd", tarfile.SYMTYPE, linkname="../../etc/passwd", mode=0o777)])
    elif kind == "symlink-abs":
        make_tar(out, [info("passwd", tarfile.SYMTYPE, linkname="/etc/passwd", mode=0o777)])
    elif kind == "symlink-chain":  # each link alone looks harmless
        make_tar(out, [info("sub/", tarfile.DIRTYPE, mode=0o755),
                       info("sub/up", tarfile.SYMTYPE, linkname="..", mode=0o777),
                       info("sub/x", tarfile.SYMTYPE, linkname="up/..", mode=0o777),
                       (info("sub/x/evil-chain", size=5), b"evil\n")])
    elif kind == "symlink-write":  # a link to the outside, then a file through it
        make_tar(out, [info("out", tarfile.SYMTYPE, linkname=os.path.dirname(target), mode=0o777),
                       (info("out/" + os.path.basename(target), size=5), b"evil\n")])
    elif kind == "symlink-ok":  # in-tree relative links: accepted
        make_tar(out, [info("sub/", tarfile.DIRTYPE, mode=0o755),
                       info("link.pov", tarfile.SYMTYPE, linkname="scene.pov", mode=0o777),
                       info("sub/up.pov", tarfile.SYMTYPE, linkname="../scene.pov", mode=0o777),
                       info("sub/self", tarfile.SYMTYPE, linkname="../sub", mode=0o777)])
    elif kind == "hardlink-out":
        make_tar(out, [info("passwd", tarfile.LNKTYPE, linkname="/etc/passwd")])
    elif kind == "hardlink-dotdot":
        make_tar(out, [info("x", tarfile.LNKTYPE, linkname="../x")])
    elif kind == "chardev":
        make_tar(out, [info("null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)])
    elif kind == "blockdev":
        make_tar(out, [info("disk", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0)])
    elif kind == "fifo":
        make_tar(out, [info("pipe", tarfile.FIFOTYPE, mode=0o644)])
    elif kind == "setuid":  # accepted, the bit stripped
        make_tar(out, [(info("tool", size=10, mode=0o4755), b"#!/bin/sh\n"),
                       (info("group-tool", size=10, mode=0o2755), b"#!/bin/sh\n")])
    elif kind == "many-entries":  # 200 entries, for a small max_entries
        make_tar(out, [(info("f%03d" % i, size=1), b"x") for i in range(200)])
    elif kind == "bomb":  # 64 MiB of zeros, tar.gz of about 64 KiB
        make_tar(out, [(info("zeros.bin", size=64 * MIB), Zeros(64 * MIB))], mode="w:gz",
                 compresslevel=6)
    elif kind == "bomb-many":  # 40 files of 1 MiB: only the sum is too big
        make_tar(out, [(info("z%02d.bin" % i, size=MIB), Zeros(MIB)) for i in range(40)],
                 mode="w:gz", compresslevel=6)
    elif kind == "bomb-zip":  # deflate with data descriptors: size unknown until read
        make_zip(out, [("zeros.bin", zeros_writer(64 * MIB))], stream=True)
    elif kind == "truncated":  # a valid tar cut in the middle of a file's data
        buf = io.BytesIO()
        make_tar(None, [(info("texture.bin", size=256 * 1024), os.urandom(256 * 1024))],
                 fileobj=buf)
        data = buf.getvalue()
        with open(out, "wb") as f:
            f.write(data[: len(data) // 2])
    elif kind == "truncated-gz":
        buf = io.BytesIO()
        make_tar(None, [(info("texture.bin", size=256 * 1024), os.urandom(256 * 1024))],
                 mode="w:gz", fileobj=buf)
        data = buf.getvalue()
        with open(out, "wb") as f:
            f.write(data[: len(data) // 2])
    elif kind == "notarchive":
        with open(out, "wb") as f:
            f.write(b"Dear render farm,\nplease render my shot.\nThis is not an archive.\n" * 20)
    elif kind == "empty":  # a tar with no entries at all (+ini makes no difference)
        with tarfile.open(out, "w", format=tarfile.GNU_FORMAT):
            pass
    elif kind == "duplicate":  # scene.pov twice
        make_tar(out, [(info("scene.pov", size=len(SCENE)), SCENE)])
    elif kind == "duplicate-empty":  # an empty file, then the same name again, empty
        make_tar(out, [(info("notes.txt", size=0), b""), (info("notes.txt", size=0), b"")])
    elif kind == "file-then-child":  # a file, then an entry below it as if a folder
        make_tar(out, [(info("thing", size=5), b"file\n"), (info("thing/x", size=5), b"evil\n")])
    elif kind == "symlink-through":  # an in-tree link to a folder, then a file through it
        make_tar(out, [info("sub/", tarfile.DIRTYPE, mode=0o755),
                       info("l", tarfile.SYMTYPE, linkname="sub", mode=0o777),
                       (info("l/x", size=5), b"evil\n")])
    elif kind == "dir-then-file":  # the same name as a folder, then as a file
        make_tar(out, [info("thing/", tarfile.DIRTYPE, mode=0o755),
                       (info("thing", size=5), b"evil\n")])
    elif kind == "zip-dotdot":
        make_zip(out, [("../evil-zip", b"evil\n")])
    elif kind == "zip-absolute":
        make_zip(out, [(zip_file(target), b"evil\n")])
    elif kind == "zip-symlink-out":
        make_zip(out, [zip_symlink("passwd", "/etc/passwd")])
    elif kind == "zip-good":
        make_zip(out, [])
    else:
        sys.exit("mkarchive.py: unknown kind '%s' (see --list)" % kind)


KINDS = """good badini dotdot dotdot-deep dotdot-mid dotdot-long pax-dotdot absolute
ctrlname symlink-out symlink-abs symlink-chain symlink-write symlink-ok hardlink-out
hardlink-dotdot chardev blockdev fifo setuid many-entries bomb bomb-many bomb-zip truncated
truncated-gz notarchive empty duplicate duplicate-empty dir-then-file
file-then-child symlink-through zip-dotdot zip-absolute zip-symlink-out
zip-good""".split()


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        print("\n".join(KINDS))
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "--batch":
        target = sys.argv[2]
        if not target.startswith("/"):
            sys.exit("mkarchive.py: TARGET must be an absolute path")
        for arg in sys.argv[3:]:
            kind, eq, out = arg.partition("=")
            if not eq or not out:
                sys.exit("mkarchive.py: --batch wants KIND=OUT, not '%s'" % arg)
            build(kind, out, target)
        return
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: mkarchive.py KIND OUT [TARGET] | mkarchive.py --batch TARGET KIND=OUT... | mkarchive.py --list")
    kind, out = sys.argv[1], sys.argv[2]
    target = sys.argv[3] if len(sys.argv) == 4 else "/tmp/hotfarm-evil"
    if not target.startswith("/"):
        sys.exit("mkarchive.py: TARGET must be an absolute path")
    build(kind, out, target)


if __name__ == "__main__":
    main()
