#!/bin/sh
# tests/t-check.sh - hf-check, which a render agent runs on every frame
# before publishing it: good frames of every PNG flavour pass silently;
# blank, wrong-sized, damaged, truncated, hostile and unreadable files fail
# with exit 100 and one sentence naming the problem (the other formats:
# t-check-formats.sh); a real POV-Ray render passes at its size.
. "$(dirname "$0")/lib.sh"

PY=${PYTHON:-python3}
MK=$HF_ROOT/tests/mkpng.py

if [ ! -x "$BIN/hf-check" ]; then
	not_ok "bin/hf-check is built (make bin/hf-check)"
	done_testing
fi

# The renders take most of this test's time: start them first, in the
# background. A lit scene, and one with nothing in it (renders black).
still_scenes "$T"
povray -D +I"$T/scene.pov" +O"$T/scene.png" +W64 +H48 +FN >"$T/scene.log" 2>&1 &
RENDER1=$!
povray -D +I"$T/void.pov" +O"$T/void.png" +W64 +H48 +FN >"$T/void.log" 2>&1 &
RENDER2=$!
_pids="$_pids $RENDER1 $RENDER2"

# hfcheck and expect (hf-check and what it must say): tests/lib.sh

for k in good blank blank-white wrong-size truncated badcrc notpng empty huge-header gray16 palette \
	rgba transparent interlaced; do
	"$PY" "$MK" "$k" "$T/$k.png" 64 48 || not_ok "mkpng.py makes $k"
done

# ---- frames that pass --------------------------------------------------------

expect 0 "" "a good 8-bit RGB frame passes silently" "$T/good.png" 64 48
expect 0 "" "a dark 16-bit grayscale gradient passes (not flattened to black)" "$T/gray16.png" 64 48
expect 0 "" "an indexed-colour frame passes" "$T/palette.png" 64 48
expect 0 "" "an RGBA frame passes" "$T/rgba.png" 64 48
expect 0 "" "an interlaced frame passes" "$T/interlaced.png" 64 48
expect 0 "" "--allow-blank accepts a black frame" --allow-blank "$T/blank.png" 64 48
expect 0 "" "--allow-blank accepts a transparent frame" --allow-blank "$T/transparent.png" 64 48
check "nothing on stderr for a good PNG" test ! -s "$T/err"

# ---- frames that fail ----------------------------------------------------------

hint="allow_blank = yes"
expect 100 "single colour.*rgb 0 0 0.*$hint" "a black frame is refused, naming its colour" "$T/blank.png" 64 48
expect 100 "single colour.*rgb 255 255 255" "a white frame is refused" "$T/blank-white.png" 64 48
expect 100 "fully transparent.*$hint" "a fully transparent frame is refused" "$T/transparent.png" 64 48
expect 100 "is 64x49, not the 64x48" "a frame of the wrong size is refused with both sizes" "$T/wrong-size.png" 64 48
expect 100 "is 64x48, not the 48x64" "width and height are not swapped" "$T/good.png" 48 64
expect 100 "incomplete \(PNG: not enough data\)" "a frame cut in its image data is refused" "$T/truncated.png" 64 48
expect 100 "damaged.*\(PNG: IDAT: CRC error\)" "a frame with a flipped byte is refused" "$T/badcrc.png" 64 48
expect 100 "not an image hotfarm reads" "text is not an image hotfarm reads" "$T/notpng.png" 64 48
expect 100 "is empty" "an empty file is refused" "$T/empty.png" 64 48
expect 100 "is 100000x100000, not the 64x48" "an IHDR claiming 100000x100000 is refused before any row" \
	"$T/huge-header.png" 64 48
head -c 8 "$T/good.png" >"$T/sigonly.png"
expect 100 "incomplete" "a PNG signature alone is incomplete" "$T/sigonly.png" 64 48

# ---- files that are not frames ---------------------------------------------------

ln -s "$T/good.png" "$T/link.png"
expect 100 "symbolic link" "a symlink to a good frame is refused" "$T/link.png" 64 48
expect 100 "does not exist" "a missing file is refused" "$T/nothing.png" 64 48
mkdir "$T/dir.png"
expect 100 "not a regular file" "a directory is refused" "$T/dir.png" 64 48
mkfifo "$T/fifo.png"
expect 100 "not a regular file" "a FIFO is refused at once, not read" "$T/fifo.png" 64 48

# ---- other formats: decoded, or not an image hotfarm reads --------------------------------

notimage="not an image hotfarm reads \(PNG, JPEG, TIFF, OpenEXR or Radiance HDR\)"
printf '\377\330\377\340\0\020JFIF\0' >"$T/frame.jpg"
expect 100 "damaged or incomplete" "a bare JFIF header is a damaged or incomplete JPEG" "$T/frame.jpg" 64 48
printf 'v/1\001\002\0\0\0' >"$T/frame.exr"
expect 100 "damaged or incomplete" "an OpenEXR file cut after its version is damaged or incomplete" "$T/frame.exr" 64 48
printf 'P6\n64 48\n255\n' >"$T/frame.ppm"
expect 100 "$notimage" "a PPM is not an image hotfarm reads" "$T/frame.ppm" 64 48
printf '\0\0\002\0\0\0\0\0\0\0\0\0\100\0\060\0\030\0' >"$T/frame.tga"
expect 100 "$notimage" "a .tga file is not an image hotfarm reads" "$T/frame.tga" 64 48
: >"$T/empty.jpg"
expect 100 "is empty" "an empty JPEG is still refused" "$T/empty.jpg" 64 48
cp "$T/notpng.png" "$T/text.jpg"
expect 100 "$notimage" "text named .jpg is not taken for a JPEG" "$T/text.jpg" 64 48

# ---- usage ------------------------------------------------------------------------

expect 100 "" "no size is a usage error" "$T/good.png"
check "… with the usage on stderr" grep -q "usage: hf-check" "$T/err"
expect 100 "" "a size of 0 is a usage error" "$T/good.png" 0 48
expect 100 "" "a size over 16384 is a usage error" "$T/good.png" 64 16385
expect 100 "" "an unknown option is a usage error" --blank "$T/good.png" 64 48

# ---- hostile variations: never a crash, only 0 or 100 -----------------------------

"$PY" "$MK" mutants "$T/m" 40 30 || not_ok "mkpng.py makes mutants"
bad=""
for f in "$T"/m.*; do
	hf-check "$f" 40 30 >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 100 ] || bad="$bad ${f##*/}=$rc"
done
check "200 damaged variations of good frames each end in 0 or 100${bad:+ (not:$bad)}" test -z "$bad"

# ---- a real render -------------------------------------------------------------------

wait "$RENDER1"
check "POV-Ray renders the scene" test -s "$T/scene.png"
expect 0 "" "a POV-Ray render passes at its size" "$T/scene.png" 64 48
expect 100 "is 64x48, not the 64x50" "… and fails at another" "$T/scene.png" 64 50
wait "$RENDER2"
expect 100 "single colour.*rgb 0 0 0" "an empty POV-Ray scene renders black and is refused" "$T/void.png" 64 48

done_testing
