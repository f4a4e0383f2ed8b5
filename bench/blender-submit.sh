#!/bin/sh
# bench/blender-submit.sh [SPOOL [SHOT.blend]] - how long the Blender add-on's Submit takes (save a
# copy, pack it with every file it uses in a background Blender, archive it into SPOOL's inbox)
# against saving the same file by hand (save_as_mainfile(copy=True)), both measured in one Blender
# session in this run; the median of RUNS (3) each. Prints one line:
#   blender submit: 2.06 s (saving the file by hand: 0.004 s)
# Without SHOT: the test's shot (tests/addon_scene.py: a texture by an absolute path outside its
# folder, a linked library). Without SPOOL: a folder with an inbox/ in a temporary folder (no farm
# needs to run: the archives pile up there and go with it); a running farm's SPOOL renders them.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
W=$(mktemp -d "${BENCH_TMP:-/tmp}/hotfarm-bench-submit.XXXXXX") || exit 111
trap 'rm -rf "$W"' EXIT
command -v blender >/dev/null 2>&1 || { echo "blender submit: - (blender is not installed)"; exit 0; }

SPOOL=${1:-$W/spool}
SHOT=${2:-$W/artist/shot.blend}
mkdir -p "$W/spool/inbox" "$W/scripts/addons" "$W/tmp"
if [ $# -lt 2 ]; then
	blender -b --factory-startup --python-exit-code 1 --python "$ROOT/tests/addon_scene.py" -- "$W" \
		>"$W/scene.log" 2>&1 || { echo "blender submit: - (making the scene failed)"; tail -n 3 "$W/scene.log" >&2; exit 111; }
fi
cp -r "$ROOT/clients/blender/hotfarm_submit" "$W/scripts/addons/" # a copy: its byte code goes there

cat >"$W/bench.py" <<'PY'
import statistics, sys, time
import addon_utils, bpy
spool, runs, copy = sys.argv[sys.argv.index("--") + 1:]
addon_utils.enable("hotfarm_submit", default_set=True)
from hotfarm_submit import watch
bpy.context.preferences.addons["hotfarm_submit"].preferences.spool = spool

def timed(act):
    t = time.monotonic()
    act()
    return time.monotonic() - t

def submit():
    bpy.ops.hotfarm.submit()
    if watch.STATE.is_error:
        raise SystemExit("submit failed: " + watch.STATE.message)

sub = [timed(submit) for _ in range(int(runs))]
hand = [timed(lambda: bpy.ops.wm.save_as_mainfile(filepath=copy, copy=True)) for _ in range(int(runs))]
print("RESULT blender submit: %.2f s (saving the file by hand: %.3f s)"
      % (statistics.median(sub), statistics.median(hand)))
PY
TMPDIR=$W/tmp BLENDER_USER_SCRIPTS=$W/scripts blender -b --factory-startup --python-exit-code 1 "$SHOT" \
	--python "$W/bench.py" -- "$SPOOL" "$RUNS" "$W/tmp/by-hand.blend" >"$W/bench.log" 2>&1
line=$(sed -n 's/^RESULT //p' "$W/bench.log")
if [ -z "$line" ]; then
	echo "blender submit: - (the Blender session failed)"
	grep -v '^Fra:' "$W/bench.log" | tail -n 5 >&2
	exit 111
fi
echo "$line"
