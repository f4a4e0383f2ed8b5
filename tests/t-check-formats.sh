#!/bin/sh
# tests/t-check-formats.sh - hf-check on every format it reads (PNG, JPEG, TIFF, OpenEXR, Radiance HDR) and on a
# frame's extra outputs: good frames pass with thumbnails in the right light; damaged, flat, bombs fail in words.
. "$(dirname "$0")/lib.sh"

PY=${PYTHON:-python3}

if [ ! -x "$BIN/hf-check" ]; then
	not_ok "bin/hf-check is built (make bin/hf-check)"
	done_testing
fi
build_hfimg

# The renders take most of the time: start them first, in the background. A lit scene in every format POV-Ray
# writes (+FT is Targa in POV-Ray 3.7: it writes no TIFF), twice to EXR; and a scene with nothing in it.
still_scenes "$T"
RENDERS=""
# render OUTPUT FORMAT SCENE: one after the other in the background, each
# tried twice (under load POV-Ray 3.7 can give up "waiting for worker
# thread startup"; that is not what this test is about)
render() {
	for _try in 1 2; do
		povray -D +I"$T/$3.pov" +O"$T/$1" +W64 +H48 +F"$2" >"$T/$1.log" 2>&1 && [ -s "$T/$1" ] && return
	done
}
{
	render pov.exr E scene
	render pov-again.exr E scene
	render pov.png N16 scene
	render pov.hdr H scene
	render pov.jpg J scene
	render pov.tga T scene
	render void.exr E void
} &
RENDERS=$!
_pids="$_pids $!"

# hfcheck and expect (hf-check and what it must say): tests/lib.sh
# ext KIND: the extension a test image of KIND is saved with; frame KIND: its path
ext() { case $1 in png*) echo png ;; jpeg*) echo jpg ;; tiff*) echo tif ;; hdr*) echo hdr ;; *) echo exr ;; esac; }
frame() { echo "$T/$1.$(ext "$1")"; }
# magic FILE: its first three bytes in hex
magic() { od -An -tx1 -N3 "$1" | tr -d ' \n'; }
# measure FILE: hfimg stat FILE into $MW x $MH and $MEANS (a mean for each band); $MFORMAT its samples
measure() {
	MW=0 MH=0 MEANS="" MFORMAT=""
	_stat=$("$HFIMG" stat "$1" 2>"$T/stat.err") || return 1
	MFORMAT=$("$HFIMG" pixels "$1" 2>>"$T/stat.err" | cut -d' ' -f3)
	# shellcheck disable=SC2086 # the words of the answer
	set -- $_stat
	MW=${1%x*} MH=${1#*x}
	shift 2
	MEANS="$*"
}
# within LOW HIGH: each colour band's mean in $MEANS (not alpha, the fourth) is from LOW to HIGH
within() {
	echo "$MEANS" | awk -v lo="$1" -v hi="$2" '{ n = NF > 3 ? 3 : NF
		for (i = 1; i <= n; i++) if ($i < lo || $i > hi) exit 1 }'
}
# colourful: the means are the linear gradient's through the sRGB curve: red and green (ramps from 0 to 1)
# from 150 to 200, blue (0.1) from 75 to 105. Channels read in the file's order (A, B, G, R) fail this.
colourful() {
	echo "$MEANS" | awk '{ exit !($1 > 150 && $1 < 200 && $2 > 150 && $2 < 200 && $3 > 75 && $3 < 105) }'
}
# grey: the colour bands' means are within 2 of each other, and not black
grey() {
	echo "$MEANS" | awk '{ n = NF > 3 ? 3 : NF; for (i = 2; i <= n; i++) if ($i - $1 > 2 || $1 - $i > 2) exit 1
		exit !($1 > 40) }'
}
# alike MEANS1 MEANS2: the colour bands' means are within 6 of each other
alike() {
	printf '%s\n%s\n' "$1" "$2" | awk 'NR == 1 { for (i = 1; i <= 3; i++) a[i] = $i; next }
		{ for (i = 1; i <= 3; i++) if ($i - a[i] > 6 || a[i] - $i > 6) exit 1 }'
}
# same_pixels FILE...: hfimg pixels finds the same decoded pixels in every FILE
same_pixels() {
	_first=$("$HFIMG" pixels "$1") || return 1
	shift
	for _f; do [ "$("$HFIMG" pixels "$_f")" = "$_first" ] || return 1; done
}
# fits W H MAXW MAXH: $MW x $MH is at most MAXW x MAXH and has the shape of W x H (to a pixel)
fits() {
	_dev=$((MW * $2 - MH * $1))
	[ "$MW" -ge 1 ] && [ "$MW" -le "$3" ] && [ "$MH" -ge 1 ] && [ "$MH" -le "$4" ] &&
		[ "${_dev#-}" -le $(($1 + $2)) ]
}
# previews DESC W H ARGS...: hf-check --thumb $T/th.png --view $T/vw.jpg ARGS passes and writes an 8-bit PNG
# thumbnail of at most 160x120 and a JPEG view at most 960 wide, both shaped like the W x H frame. Leaves the
# thumbnail's band means in $MEANS and the view's in $VIEW_MEANS.
previews() {
	_d=$1 _w=$2 _h=$3
	shift 3
	rm -f "$T/th.png" "$T/vw.jpg"
	hfcheck --thumb "$T/th.png" --view "$T/vw.jpg" "$@"
	if [ "$RC" -ne 0 ]; then
		not_ok "$_d (exit $RC: $(cat "$T/out" "$T/err"))"
		return 1
	fi
	if ! measure "$T/vw.jpg" || [ "$(magic "$T/vw.jpg")" != ffd8ff ] || ! fits "$_w" "$_h" 960 100000; then
		not_ok "$_d (the view: ${MW}x$MH $(magic "$T/vw.jpg" 2>&1) $(cat "$T/stat.err"))"
		return 1
	fi
	VIEW_MEANS=$MEANS
	if ! measure "$T/th.png" || [ "$(magic "$T/th.png")" != 89504e ] || [ "$MFORMAT" != uchar ] ||
		! fits "$_w" "$_h" 160 120; then
		not_ok "$_d (the thumbnail: ${MW}x$MH $MFORMAT $(magic "$T/th.png" 2>&1) $(cat "$T/stat.err"))"
		return 1
	fi
	ok "$_d (thumbnail ${MW}x$MH, means $MEANS)"
}

GOOD="png8 png16 png-gray16 png-rgba jpeg tiff8 tiff16 tiff-float hdr exr-half exr-float exr-half-rgba exr-tiled
exr-multilayer exr-rgbz exr-rgbaz exr-zonly"
# linear light, each holding the same gradient: red across, green down, a dim blue (0.1)
LINEAR="tiff-float hdr exr-half exr-float exr-half-rgba exr-tiled exr-multilayer exr-rgbz exr-rgbaz"
FLAT="jpeg-flat tiff-float-flat hdr-flat exr-flat exr-rgba-black"
for k in $GOOD $FLAT tiff-wrongsize exr-bomb; do
	"$HFIMG" make "$k" "$(frame "$k")" 64 48 || not_ok "hfimg makes $k"
done

# ---- good frames of every kind ------------------------------------------------------------------------------------

quiet=""
for k in $GOOD; do
	expect 0 "" "$k: a good frame passes silently" "$(frame "$k")" 64 48
	[ -s "$T/err" ] && quiet="$quiet $k: $(cat "$T/err")"
done
check "nothing on stderr for good frames${quiet:+ (but$quiet)}" test -z "$quiet"

for k in $GOOD; do
	previews "$k: --thumb and --view write a thumbnail and a view of the right size" 64 48 "$(frame "$k")" 64 48
	case " $LINEAR " in *" $k "*)
		check "… its thumbnail is neither black nor burnt out, and in the gradient's colours ($MEANS)" colourful ;;
	esac
done

# a large frame is scaled down to fit
for k in png8 exr-half; do
	"$HFIMG" make "$k" "$T/large.$(ext "$k")" 1280 720 || not_ok "hfimg makes a large $k"
	previews "a 1280x720 $k frame: thumbnail and view scaled down, shape kept" 1280 720 "$T/large.$(ext "$k")" 1280 720
	measure "$T/vw.jpg"
	check "… its view is not a stamp (${MW}x$MH)" test "$MW" -ge 320
done

# ---- linear light: the view transform -----------------------------------------------------------------------------

# 0.18 linear (mid grey) is about 118 in sRGB, in the thumbnail and in the view
for k in exr-flat hdr-flat tiff-float-flat; do
	previews "$k: --allow-blank passes a flat 0.18 grey frame with previews" 64 48 --allow-blank "$(frame "$k")" 64 48
	check "… its thumbnail is mid grey, about 118 ($MEANS)" within 110 126
	MEANS=$VIEW_MEANS
	check "… and so is its view ($MEANS)" within 110 126
done

# Blender's multilayer EXR: the Combined layer is the picture (red across, green down, blue dim), not the
# depth pass beside it (distances of 10 and more: white) nor nothing (black). hfimg reads it as it reads the
# same pixels in a plain RGBA file, and in one with a Z channel beside them.
check "hfimg pixels reads the same RGBA from a multilayer, an RGBA and an RGBAZ EXR" \
	same_pixels "$(frame exr-multilayer)" "$(frame exr-half-rgba)" "$(frame exr-rgbaz)"
previews "a Blender-style multilayer EXR passes with previews" 64 48 "$(frame exr-multilayer)" 64 48
check "… its thumbnail shows the Combined layer's colours ($MEANS)" colourful
previews "a Z-only EXR passes as grey with previews" 64 48 "$(frame exr-zonly)" 64 48
check "… its thumbnail is grey, not black ($MEANS)" grey

# ---- flat frames --------------------------------------------------------------------------------------------------

hint="allow_blank = yes"
expect 100 "single colour.*rgb 128 128 128.*$hint" "a flat grey JPEG is refused, naming its colour" \
	"$(frame jpeg-flat)" 64 48
expect 0 "" "… and passes with --allow-blank" --allow-blank "$(frame jpeg-flat)" 64 48
for k in exr-flat hdr-flat tiff-float-flat; do
	expect 100 "single colour.*$hint" "$k: a flat frame is refused as a single colour" "$(frame "$k")" 64 48
done
# an opaque black render with alpha, in half floats: black, not transparent (its A is 1, its R 0)
expect 100 "single colour.*rgb 0 0 0.*$hint" "an opaque black RGBA EXR is refused as black, not as transparent" \
	"$(frame exr-rgba-black)" 64 48

# ---- wrong sizes --------------------------------------------------------------------------------------------------

for k in $GOOD; do
	expect 100 "is 64x48, not the 64x50 the job asks for" "$k: a frame at the wrong size is refused with both sizes" \
		"$(frame "$k")" 64 50
done
expect 100 "is 65x48, not the 64x48 the job asks for" "a TIFF written one column wider is refused" \
	"$(frame tiff-wrongsize)" 64 48

# ---- damaged and incomplete ---------------------------------------------------------------------------------------

for k in png8 png16 jpeg tiff8 tiff16 tiff-float hdr exr-half exr-float exr-tiled exr-multilayer; do
	for part in 0.05 0.5 0.9; do
		cut="$T/cut-$k.$(ext "$k")"
		"$HFIMG" truncate "$(frame "$k")" "$cut" "$part"
		expect 100 "damaged or incomplete" "$k: a frame cut to $part of its bytes is damaged or incomplete" "$cut" 64 48
	done
done

# ---- files that are not frames ------------------------------------------------------------------------------------

notimage="not an image hotfarm reads \(PNG, JPEG, TIFF, OpenEXR or Radiance HDR\)"
"$HFIMG" make ppm "$T/frame.ppm" 64 48 && "$HFIMG" make vips "$T/frame.v" 64 48 || not_ok "hfimg makes ppm and vips"
expect 100 "$notimage" "a complete PPM (libvips reads it, hotfarm does not) is not an image hotfarm reads" \
	"$T/frame.ppm" 64 48
expect 100 "$notimage" "a libvips native .v image is not an image hotfarm reads" "$T/frame.v" 64 48
ln -s "$(frame exr-half)" "$T/link.exr"
expect 100 "symbolic link, not a file" "a symlink to a good EXR frame is refused" "$T/link.exr" 64 48

# ---- bombs: refused from the header, at once ----------------------------------------------------------------------

# bomb.py KIND SOURCE OUT SIDE: SOURCE (a good image; '-' for png) with a header claiming SIDE x SIDE
cat >"$T/bomb.py" <<-'PY'
import struct, sys, zlib
kind, src, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = bytearray(open(src, "rb").read()) if src != "-" else bytearray()
if kind == "png":
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", n, n, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
elif kind == "jpeg":  # the start-of-frame segment's height and width
    i = 2
    while data[i] == 0xff and data[i + 1] not in (0xc0, 0xc1, 0xc2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", n, n)
elif kind == "tiff":  # ImageWidth and ImageLength in the first directory
    e = "<" if data[:2] == b"II" else ">"
    ifd, = struct.unpack(e + "I", data[4:8])
    for k in range(struct.unpack(e + "H", data[ifd:ifd + 2])[0]):
        p = ifd + 2 + 12 * k
        tag, typ = struct.unpack(e + "HH", data[p:p + 4])
        if tag in (256, 257):
            data[p + 8:p + 12] = struct.pack(e + "HH", n, 0) if typ == 3 else struct.pack(e + "I", n)
elif kind == "hdr":
    data = data.replace(b"-Y 48 +X 64", b"-Y %d +X %d" % (n, n), 1)
open(out, "wb").write(data)
PY
"$PY" "$T/bomb.py" png - "$T/bomb.png" 60000 && "$PY" "$T/bomb.py" jpeg "$(frame jpeg)" "$T/bomb.jpg" 60000 &&
	"$PY" "$T/bomb.py" tiff "$(frame tiff8)" "$T/bomb.tif" 60000 &&
	"$PY" "$T/bomb.py" hdr "$(frame hdr)" "$T/bomb.hdr" 60000 &&
	"$PY" "$T/bomb.py" png - "$T/hollow.png" 16384 || not_ok "bomb.py makes the bombs"
# bomb DESC PATTERN ARGS...: refused with PATTERN within 10 s (a guard against a hang, not a speed test)
bomb() {
	_d=$1 _pat=$2
	shift 2
	_t0=$(date +%s%N)
	expect 100 "$_pat" "$_d" "$@"
	_ms=$((($(date +%s%N) - _t0) / 1000000))
	check "… within 10 s (${_ms} ms)" test "$_ms" -lt 10000
}
size60k="is 60000x60000, not the 64x48"
bomb "an EXR header claiming 60000x60000 is refused for its size" "$size60k" "$(frame exr-bomb)" 64 48
bomb "a PNG header claiming 60000x60000 is refused for its size" "$size60k" "$T/bomb.png" 64 48
bomb "a JPEG header claiming 60000x60000 is refused for its size" "$size60k" "$T/bomb.jpg" 64 48
bomb "a Radiance header claiming 60000x60000 is refused for its size" "$size60k" "$T/bomb.hdr" 64 48
# libtiff warns that the strip table no longer fits such a size: damaged is a fair answer too
bomb "a TIFF directory claiming 60000x60000 is refused" "$size60k|damaged or incomplete" "$T/bomb.tif" 64 48
bomb "a PNG claiming the 16384x16384 asked for, with no pixels, is damaged" "damaged or incomplete" \
	"$T/hollow.png" 16384 16384
bomb "a 60000x60000 extra output is refused for its size" "extra output .*bomb.*$size60k" \
	"$(frame exr-half)" 64 48 "$(frame exr-bomb)"

# ---- extra outputs (render passes) --------------------------------------------------------------------------------

mkdir "$T/p" "$T/q"
"$HFIMG" make exr-half "$T/p/frame.exr" 64 48 && "$HFIMG" make exr-zonly "$T/p/depth.exr" 64 48 &&
	"$HFIMG" make exr-float "$T/p/normal.exr" 64 48 && "$HFIMG" make exr-half "$T/q/normal.exr" 64 49 &&
	"$HFIMG" make exr-flat "$T/q/flat.exr" 64 48 && "$HFIMG" make png16 "$T/q/mask.png" 64 48 &&
	"$HFIMG" truncate "$T/p/depth.exr" "$T/q/depth.exr" 0.5 || not_ok "hfimg makes the passes"
P=$T/p
expect 0 "" "a frame whose depth and normal passes are good passes silently" "$P/frame.exr" 64 48 "$P/depth.exr" \
	"$P/normal.exr"
expect 0 "" "a flat pass is not checked for being one colour" "$P/frame.exr" 64 48 "$T/q/flat.exr"
expect 0 "" "a PNG pass beside an EXR frame passes" "$P/frame.exr" 64 48 "$T/q/mask.png" "$P/depth.exr"
expect 100 "extra output .*depth.*does not exist" "a missing depth pass is named" "$P/frame.exr" 64 48 \
	"$T/nothere/depth.exr" "$P/normal.exr"
expect 100 "extra output .*depth.*damaged or incomplete" "a truncated depth pass is named, damaged or incomplete" \
	"$P/frame.exr" 64 48 "$T/q/depth.exr" "$P/normal.exr"
ln -s "$P/depth.exr" "$T/q/link-depth.exr"
expect 100 "extra output .*depth.*symbolic link, not a file" "a depth pass that is a symlink is named" \
	"$P/frame.exr" 64 48 "$T/q/link-depth.exr" "$P/normal.exr"
expect 100 "extra output .*normal.*64x49.*64x48" "a normal pass of the wrong size is named with both sizes" \
	"$P/frame.exr" 64 48 "$P/depth.exr" "$T/q/normal.exr"
echo "not an image" >"$T/q/depth.txt"
expect 100 "extra output .*depth.*not an image hotfarm reads" "a depth pass that is text is named" \
	"$P/frame.exr" 64 48 "$T/q/depth.txt"
expect 100 "single colour" "a flat frame is still refused when its passes are good" \
	"$(frame exr-flat)" 64 48 "$P/depth.exr"

# ---- hostile variations: never a crash, a hang or a 111 -----------------------------------------------------------

# mutants.py OUT SOURCE...: OUT.0 .. OUT.49 from the SOURCEs in turn, with bytes flipped or changed (anywhere,
# in the first 400 bytes where an EXR keeps its header and offsets, in the last 200 where TIFF keeps its
# directory), cut short, or both; a fixed seed
cat >"$T/mutants.py" <<-'PY'
import random, sys
out, sources = sys.argv[1], sys.argv[2:]
rnd = random.Random(1804)
for i in range(50):
    data = bytearray(open(sources[i % len(sources)], "rb").read())
    how = i % 6
    if how <= 1:
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
    elif how == 2:
        for _ in range(rnd.randint(1, 3)):
            data[rnd.randrange(min(400, len(data)))] = rnd.randrange(256)
    elif how == 3:
        for _ in range(rnd.randint(1, 3)):
            data[len(data) - 1 - rnd.randrange(min(200, len(data)))] = rnd.randrange(256)
    elif how == 4:
        data = data[:rnd.randrange(1, len(data))]
    else:
        data[rnd.randrange(len(data))] ^= 0xff
        data = data[:rnd.randrange(1, len(data))]
    open("%s.%d" % (out, i), "wb").write(bytes(data))
PY
"$PY" "$T/mutants.py" "$T/mx" "$(frame exr-half)" "$(frame exr-tiled)" "$(frame exr-multilayer)" "$(frame exr-float)" &&
	"$PY" "$T/mutants.py" "$T/mt" "$(frame tiff8)" "$(frame tiff16)" "$(frame tiff-float)" ||
	not_ok "mutants.py makes the variations"
for set in mx:EXR mt:TIFF; do
	bad=""
	for f in "$T/${set%%:*}".*; do
		timeout 30 hf-check "$f" 64 48 >/dev/null 2>&1
		rc=$?
		[ "$rc" -eq 0 ] || [ "$rc" -eq 100 ] || bad="$bad ${f##*/}=$rc"
	done
	check "50 damaged variations of good ${set#*:} frames each end in 0 or 100${bad:+ (not:$bad)}" test -z "$bad"
done

# ---- real renders -------------------------------------------------------------------------------------------------

for p in $RENDERS; do wait "$p"; done
for f in pov.exr pov.png pov.hdr pov.jpg; do
	expect 0 "" "a POV-Ray render saved as ${f#pov.} passes at its size" "$T/$f" 64 48
done
expect 100 "$notimage" "POV-Ray's +FT output (Targa) is not an image hotfarm reads" "$T/pov.tga" 64 48
expect 100 "single colour" "an empty POV-Ray scene rendered to EXR is refused as one colour" "$T/void.exr" 64 48
previews "the EXR render passes with previews" 64 48 "$T/pov.exr" 64 48
EXR_MEANS=$MEANS
previews "the 16-bit PNG render passes with previews" 64 48 "$T/pov.png" 64 48
check "the linear EXR's thumbnail looks like the PNG's (means $EXR_MEANS and $MEANS)" alike "$EXR_MEANS" "$MEANS"
check "two EXR renders of one scene hold the same pixels (hfimg pixels)" same_pixels "$T/pov.exr" "$T/pov-again.exr"

done_testing
