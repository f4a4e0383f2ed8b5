#!/usr/bin/env python3
"""blendexr.py FILE - what an OpenEXR file's header says, for tests/t-blender.sh:
"compression=ZIP R:half G:half B:half A:half" (its compression, then each
channel and its sample type; a multilayer file names ViewLayer.Combined.R ...).
Reads the header of a single-part scanline or tiled file; exit 1 when FILE is
no OpenEXR file."""
import struct
import sys

COMPRESSION = ["NONE", "RLE", "ZIPS", "ZIP", "PIZ", "PXR24", "B44", "B44A", "DWAA", "DWAB"]
TYPES = ["uint", "half", "float"]


def cstr(data, pos):
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def header(path):
    data = open(path, "rb").read(1 << 20)
    if data[:4] != b"\x76\x2f\x31\x01":
        raise SystemExit(f"{path}: not an OpenEXR file")
    pos, words = 8, []
    while data[pos] != 0:
        name, pos = cstr(data, pos)
        kind, pos = cstr(data, pos)
        (size,) = struct.unpack_from("<i", data, pos)
        value = data[pos + 4:pos + 4 + size]
        pos += 4 + size
        if name == "compression":
            words.insert(0, "compression=" + (COMPRESSION[value[0]] if value[0] < len(COMPRESSION) else "?"))
        elif kind == "chlist":
            p = 0
            while value[p] != 0:
                ch, p = cstr(value, p)
                (ptype,) = struct.unpack_from("<i", value, p)
                p += 16
                words.append(f"{ch}:{TYPES[ptype] if 0 <= ptype < 3 else '?'}")
    return " ".join(words)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(header(sys.argv[1]))
