#!/usr/bin/env python3
"""tests/mkpng.py - good, broken and hostile PNG files for tests/t-check.sh.

mkpng.py KIND OUT [W H]      (W H default to 64 48)

good         an 8-bit RGB gradient
blank        all black           blank-white   all white
wrong-size   a good image one row taller than asked
truncated    a good image cut in the middle of its IDAT data
badcrc       a good image with one byte of IDAT data flipped
notpng       a line of text      empty         no bytes at all
huge-header  an IHDR (with a correct CRC) claiming 100000x100000
gray16       16-bit grayscale gradient of low values (dark, but not flat)
palette      4-bit indexed colour gradient
rgba         8-bit RGBA gradient with varying alpha
transparent  every pixel alpha 0, colours differing under it (blank)
interlaced   Adam7 interlaced RGB gradient
mutants      OUT.0 ... OUT.199: good images of several kinds with random
             bytes changed, cut or repeated, CRCs fixed up for two in three,
             image data changed under valid zlib for one in three (fixed seed)
Standard library only.
"""
import random
import struct
import sys
import zlib


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(w, h, depth, colour, rows, extra=b"", interlace=0):
    """ROWS: a list of h byte strings of raw (unfiltered) pixels, or for an
    interlaced image a function (x, y) -> bytes of one pixel."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace)
    if interlace:
        raw = adam7(w, h, rows)
    else:
        raw = b"".join(b"\0" + r for r in rows)
    return (SIGNATURE + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def adam7(w, h, pixel):
    out = []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                           (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        xs = range(x0, w, dx)
        if not xs:
            continue
        for y in range(y0, h, dy):
            out.append(b"\0" + b"".join(pixel(x, y) for x in xs))
    return b"".join(out)


def gradient(x, y, w, h):
    return bytes(((x * 255) // max(w - 1, 1), (y * 255) // max(h - 1, 1), 128))


def rgb(w, h, pixel):
    return png(w, h, 8, 2, [b"".join(pixel(x, y) for x in range(w)) for y in range(h)])


def idat_span(data):
    """(start, end) of the first IDAT chunk's data."""
    pos = 8
    while pos < len(data):
        length, = struct.unpack(">I", data[pos:pos + 4])
        if data[pos + 4:pos + 8] == b"IDAT":
            return pos + 8, pos + 8 + length
        pos += 12 + length
    raise SystemExit("no IDAT")


def make(kind, w, h):
    if kind == "good":
        return rgb(w, h, lambda x, y: gradient(x, y, w, h))
    if kind == "blank":
        return rgb(w, h, lambda x, y: b"\0\0\0")
    if kind == "blank-white":
        return rgb(w, h, lambda x, y: b"\xff\xff\xff")
    if kind == "wrong-size":
        return rgb(w, h + 1, lambda x, y: gradient(x, y, w, h + 1))
    if kind == "truncated":
        data = make("good", w, h)
        start, end = idat_span(data)
        return data[:(start + end) // 2]
    if kind == "badcrc":
        data = bytearray(make("good", w, h))
        start, end = idat_span(data)
        data[(start + end) // 2] ^= 0x10
        return bytes(data)
    if kind == "notpng":
        return b"this is not an image, it is a line of text\n"
    if kind == "empty":
        return b""
    if kind == "huge-header":
        return (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    if kind == "gray16":
        # values 0..(w-1) of 65535: a dark ramp that stripping to 8 bits
        # would flatten into black
        return png(w, h, 16, 0, [b"".join(struct.pack(">H", x + y) for x in range(w))
                                 for y in range(h)])
    if kind == "palette":
        plte = b"".join(bytes((i * 17, 255 - i * 17, 60)) for i in range(16))
        rows = []
        for y in range(h):
            idx = [(x * 16 // w + y) % 16 for x in range(w)] + [0]
            rows.append(bytes(idx[i] << 4 | idx[i + 1] for i in range(0, w, 2)))
        return png(w, h, 4, 3, rows, extra=chunk(b"PLTE", plte))
    if kind == "rgba":
        return png(w, h, 8, 6, [b"".join(gradient(x, y, w, h) + bytes(((x * 7 + y) % 256,))
                                        for x in range(w)) for y in range(h)])
    if kind == "transparent":
        return png(w, h, 8, 6, [b"".join(gradient(x, y, w, h) + b"\0" for x in range(w))
                                for y in range(h)])
    if kind == "interlaced":
        return png(w, h, 8, 2, lambda x, y: gradient(x, y, w, h), interlace=1)
    raise SystemExit("mkpng.py: unknown kind " + kind)


def recrc(data):
    """Give every whole chunk a correct CRC again, so a change reaches the
    decoder instead of stopping at the CRC check."""
    pos = 8
    while pos + 12 <= len(data):
        length, = struct.unpack(">I", data[pos:pos + 4])
        end = pos + 8 + length
        if end + 4 > len(data):
            break
        data[end:end + 4] = struct.pack(">I", zlib.crc32(bytes(data[pos + 4:end])) & 0xffffffff)
        pos = end + 4
    return data


def mutate_pixels(data, rnd):
    """Change the decompressed image data (filter bytes, pixels, length)
    and compress it again: valid zlib, hostile contents."""
    start, end = idat_span(data)
    raw = bytearray(zlib.decompress(bytes(data[start:end])))
    for _ in range(rnd.randint(1, 8)):
        raw[rnd.randrange(len(raw))] = rnd.randrange(256)
    if rnd.random() < 0.3:
        raw = raw[:rnd.randrange(len(raw))] if rnd.random() < 0.5 else raw + raw[:100]
    body = zlib.compress(bytes(raw))
    return bytearray(data[:start - 8] + struct.pack(">I", len(body)) + b"IDAT" + body + b"\0\0\0\0" +
                     data[end + 4:])


def mutants(out, w, h):
    rnd = random.Random(7)
    seeds = [make(k, w, h) for k in ("good", "gray16", "palette", "rgba", "interlaced")]
    for i in range(200):
        data = bytearray(rnd.choice(seeds))
        how = i % 3
        if how == 2:
            data = mutate_pixels(data, rnd)
        else:
            for _ in range(rnd.randint(1, 4)):
                # the header (bit depth, colour type, interlace ...) half the time
                pos = rnd.randrange(16, 33) if rnd.random() < 0.5 else rnd.randrange(8, len(data))
                r = rnd.random()
                if r < 0.7:
                    data[pos] = rnd.randrange(256)
                elif r < 0.85:
                    del data[pos:]
                else:
                    data[pos:pos] = data[pos:pos + rnd.randint(1, 64)]
                if len(data) < 33:
                    break
        if how != 0:
            recrc(data)
        with open("%s.%d" % (out, i), "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) not in (3, 5):
        raise SystemExit("usage: mkpng.py KIND OUT [W H]")
    kind, out = sys.argv[1], sys.argv[2]
    w, h = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) == 5 else (64, 48)
    if kind == "mutants":
        mutants(out, w, h)
        return
    data = make(kind, w, h)
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
