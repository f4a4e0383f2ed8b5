# tests/lib.sh - the little a shell test needs: TAP output, temporary
# spools, daemons that are always stopped, and waiting with deadlines.
# Source it first thing: . "$(dirname "$0")/lib.sh"
set -u
HF_ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${HF_BIN:-$HF_ROOT/bin}
export PATH="$BIN:$PATH"
TMPBASE=${HF_TMP:-/tmp}
# never go on without a folder of its own: $T/... would be /...
mkdir -p "$TMPBASE" && T=$(mktemp -d "$TMPBASE/hotfarm-test.XXXXXX") && [ -d "$T" ] ||
	{ echo "not ok 1 - cannot make a temporary folder in $TMPBASE"; exit 1; }
# the tests' Python helpers run on the system's python3: a version
# manager's shim in PATH (pyenv's) costs 0.3 s of shell scripts a start
if [ -x /usr/bin/python3 ] && [ "$(command -v python3)" != /usr/bin/python3 ]; then
	mkdir -p "$T/.python" && ln -s /usr/bin/python3 "$T/.python/python3" && PATH="$T/.python:$PATH"
fi
_n=0
_fails=0
_pids=""

# stop_pids: SIGTERM every process this test started, give each a moment,
# then make sure with SIGKILL
stop_pids() {
	for p in $_pids; do kill -TERM "$p" 2>/dev/null; done
	for p in $_pids; do
		_i=0
		while kill -0 "$p" 2>/dev/null && [ $_i -lt 200 ]; do sleep 0.01; _i=$((_i + 1)); done
		kill -KILL "$p" 2>/dev/null
	done
}
# at_exit COMMAND: run COMMAND (a string, for eval) when the test ends,
# after its processes are stopped and before its files go (unmounts)
_at_exit=""
at_exit() { _at_exit="$_at_exit
$1"; }
_cleanup() {
	stop_pids
	eval "$_at_exit"
	if [ "${KEEP:-}" ]; then echo "# kept $T" >&2; else rm -rf "$T"; fi
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _fails=$((_fails + 1)); echo "not ok $_n - $*"; }
# check DESC COMMAND...: passes when COMMAND succeeds
check() { _d=$1; shift; if "$@"; then ok "$_d"; else not_ok "$_d"; return 1; fi; }
diag() { echo "# $*"; }
done_testing() { echo "1..$_n"; [ "$_fails" -eq 0 ]; exit $?; }

# wait_for SECONDS COMMAND...: poll COMMAND until it succeeds or the
# deadline passes (returns 1 then). Polling, not sleeping for an answer:
# at once, then after 5, 10, 20, 40 ms and every 50 ms, so that a test
# waiting leaves the processors to the daemons it waits for.
# wait_ms MS COMMAND...: the same with a deadline in milliseconds.
# wait_brief SECONDS COMMAND...: like wait_for, every 5 ms, for a state
# that lasts only moments (a daemon between two of its children).
# _wait MS BACKOFF COMMAND...: both; BACKOFF yes or no.
_wait() {
	_wend=$(($(date +%s%N) / 1000000 + $1)) _wback=$2; shift 2
	_nap=0.005
	while ! "$@"; do
		[ "$(($(date +%s%N) / 1000000))" -ge "$_wend" ] && return 1
		sleep $_nap
		[ "$_wback" = yes ] || continue
		case $_nap in 0.005) _nap=0.01 ;; 0.01) _nap=0.02 ;; 0.02) _nap=0.04 ;; *) _nap=0.05 ;; esac
	done
	return 0
}
wait_ms() { _wms=$1; shift; _wait "$_wms" yes "$@"; }
wait_for() { _wsec=$1; shift; _wait $((_wsec * 1000)) yes "$@"; }
wait_brief() { _wsec=$1; shift; _wait $((_wsec * 1000)) no "$@"; }
# not_within SECONDS COMMAND...: COMMAND does not succeed before the
# deadline (polled like wait_for): for what must not happen
not_within() { ! wait_for "$@"; }

# new_spool [NAME]: a fresh spool with test-friendly settings; sets $SPOOL
new_spool() {
	SPOOL=$T/${1:-spool}
	hotfarm init "$SPOOL" >/dev/null || { echo "hotfarm init failed" >&2; exit 1; }
	cat >"$SPOOL/conf/hotfarm.ini" <<-INI
	[site]
	name = testsite
	fsync = no
	[intake]
	orphan_grace = ${GRACE:-300}
	settle = 1
	[watcherd]
	rescan_ms = ${RESCAN_MS:-500}
	[agent]
	heartbeat = 1
	host_timeout = ${HOST_TIMEOUT:-4}
	hang_timeout = ${HANG_TIMEOUT:-300}
	fail_limit = ${FAIL_LIMIT:-3}
	fair_share = ${FAIR_SHARE:-no}
	probe_interval = ${PROBE_INTERVAL:-30}
	INI
	export HOTFARM_SPOOL=$SPOOL
}

# site NAME: a fresh spool for linked site NAME (its summary every second);
# sets $SPOOL. link X Y: site X pushes to site Y through a local transport
# (Y's hotfarm sync --serve), and Y accepts X as a peer.
site() {
	new_spool "$1"
	sed -i "s/^name = testsite\$/name = $1\\nsummary = 1/" "$SPOOL/conf/hotfarm.ini"
}
link() {
	printf '[site %s]\ntransport = %s --spool %s sync --serve --peer %s\n' "$2" "$BIN/hotfarm" "$T/$2" "$1" \
		>>"$T/$1/conf/hotfarm.ini"
}
# linked_pair X Y: sites X and Y, linked both ways; on NAME: work on site
# NAME's spool (hotfarm and the helpers above use it)
linked_pair() { site "$1"; site "$2"; link "$1" "$2"; link "$2" "$1"; }
# start_pair: after linked_pair a b, site b's watcherd and its agent b1 of
# 2 slots, then site a's watcherd; sets WA and WB, and works on site a
start_pair() {
	on b
	start_watcherd
	WB=$WATCHERD
	start_agent b1 --slots 2
	on a
	start_watcherd
	WA=$WATCHERD
}
on() { SPOOL=$T/$1; export HOTFARM_SPOOL=$SPOOL; }

# start_watcherd [ARGS...]: run watcherd on $SPOOL in the background and
# wait until it is ready (its pid file names it); sets $WATCHERD
start_watcherd() {
	watcherd --spool "$SPOOL" "$@" 2>>"$SPOOL.watcherd.log" &
	WATCHERD=$!
	_pids="$_pids $WATCHERD"
	wait_for 10 _ready "$WATCHERD" || { echo "# watcherd did not start:" >&2; tail -5 "$SPOOL.watcherd.log" >&2; return 1; }
}
_ready() { [ -f "$SPOOL/run/watcherd.pid" ] && [ "$(cat "$SPOOL/run/watcherd.pid" 2>/dev/null)" = "$1" ]; }
stop_watcherd() {
	kill -TERM "$WATCHERD" 2>/dev/null
	wait "$WATCHERD" 2>/dev/null
}
alive() { kill -0 "$1" 2>/dev/null; }

# start_agent NAME [ARGS...]: a render agent named NAME on $SPOOL, in the
# background; waits until its host record is written. Sets $AGENT (its pid).
start_agent() {
	_an=$1; shift
	render-agent --spool "$SPOOL" --name "$_an" "$@" 2>>"$SPOOL.agent-$_an.log" &
	AGENT=$!
	_pids="$_pids $AGENT"
	wait_for 15 _agent_ready "$_an" || { echo "# agent $_an did not start:" >&2; tail -5 "$SPOOL.agent-$_an.log" >&2; return 1; }
}
# unit_exec NAME SPOOL: the ExecStart line of conf/systemd/NAME@.service for
# the instance SPOOL (%f), with the programs in $BIN: a test starts the
# daemons the way systemd would
unit_exec() {
	sed -n 's|^ExecStart=||p' "$HF_ROOT/conf/systemd/$1@.service" | sed "s|@SBINDIR@|$BIN|; s|%f|$2|g"
}
_agent_ready() { [ -f "$SPOOL/hosts/$1/host.ini" ] && [ -f "$SPOOL/hosts/$1/heartbeat" ]; }
job_done() { in_state done "$1"; }
job_failed() { in_state failed "$1"; }
# drop_dir NAME DIR: pack DIR (holding job.ini) and drop it the careful way
drop_dir() {
	tar -C "$2" -cf "$T/$1.tar" . && mv "$T/$1.tar" "$SPOOL/inbox/.$1.tar" && mv "$SPOOL/inbox/.$1.tar" "$SPOOL/inbox/$1.tar"
}
# povray_job DIR FRAMES [W H]: DIR/scene.pov (the orbit example) + DIR/job.ini
povray_job() {
	mkdir -p "$1"
	cp "$HF_ROOT/examples/orbit/scene.pov" "$1/scene.pov"
	printf '[job]\nframes = %s\nretries = %s\n[render]\nscene = scene.pov\nwidth = %s\nheight = %s\noutput = "f_####.png"\n' \
		"$2" "${RETRIES:-2}" "${3:-64}" "${4:-48}" >"$1/job.ini"
}

# still_scenes DIR: DIR/scene.pov, a lit still (a sphere on a checkered
# floor), and DIR/void.pov, a camera with nothing to see (renders black).
still_scenes() {
	cat >"$1/scene.pov" <<-'POV'
	camera { location <0, 1, -4> look_at <0, 0.5, 0> }
	light_source { <5, 10, -5> color rgb 1 }
	plane { y, 0 pigment { checker color rgb 1 color rgb 0.2 } }
	sphere { <0, 0.8, 0>, 0.8 pigment { color rgb <1, 0.3, 0.2> } }
	POV
	echo 'camera { location <0, 1, -4> look_at <0, 0.5, 0> }' >"$1/void.pov"
}

# A small POV-Ray animation scene.
write_scene() {
	cat >"$1" <<-'POV'
	camera { location <0, 2, -6> look_at <0, 0.5, 0> }
	light_source { <10, 20, -10> color rgb 1 }
	plane { y, 0 pigment { checker color rgb 1 color rgb 0.2 } }
	sphere { <2 * sin(clock * 2 * pi), 0.8, 0>, 0.8 pigment { color rgb <1, 0.3, 0.2> } }
	POV
}

# make_job DIR NAME [KEY=VALUE...]: a job folder DIR/NAME.d with a scene and
# DIR/NAME.ini describing it (frames 1-4 unless given).
make_job() {
	_dir=$1 _name=$2; shift 2
	mkdir -p "$_dir/$_name.d"
	write_scene "$_dir/$_name.d/scene.pov"
	{
		echo "[job]"
		echo "frames = ${FRAMES:-1-4}"
		echo "priority = ${PRIORITY:-500}"
		echo "[render]"
		echo "scene = scene.pov"
		echo "width = 64"
		echo "height = 48"
	} >"$_dir/$_name.ini"
}

# drop_job NAME: the careful way (archive first, .ini last, each renamed
# into inbox/). Extra env: PRIORITY, FRAMES.
drop_job() {
	make_job "$T/src" "$1"
	tar -C "$T/src/$1.d" -cf "$T/src/$1.tar" .
	mv "$T/src/$1.tar" "$SPOOL/inbox/.$1.tar.tmp" && mv "$SPOOL/inbox/.$1.tar.tmp" "$SPOOL/inbox/$1.tar"
	mv "$T/src/$1.ini" "$SPOOL/inbox/.$1.ini.tmp" && mv "$SPOOL/inbox/.$1.ini.tmp" "$SPOOL/inbox/$1.ini"
}

queued() { ls "$SPOOL/queue" 2>/dev/null | grep -q -- "-$1\$"; }
# in_state DIR NAME: the job's entry is in DIR (queue, held, cancelled...)
in_state() { ls "$SPOOL/$1" 2>/dev/null | grep -q -- "-$2\$"; }
rejected() { [ -f "$SPOOL/rejected/$1/reason.txt" ]; }
reason() { head -n 1 "$SPOOL/rejected/$1/reason.txt" 2>/dev/null; }
# inbox_empty: nothing dropped is left in inbox/ or in a preset's folder
inbox_left() {
	for _f in "$SPOOL/inbox"/* "$SPOOL/inbox"/.[!.]*; do
		[ -e "$_f" ] || [ -L "$_f" ] || continue
		_b=${_f##*/}
		if [ -d "$_f" ] && [ ! -L "$_f" ] && [ -f "$SPOOL/conf/presets/$_b.ini" ]; then
			ls -A "$_f" | sed "s|^|$_b/|"
		else
			echo "$_b"
		fi
	done | tr '\n' ' '
}
inbox_empty() { [ -z "$(inbox_left)" ]; }
# work_left SPOOL: what is left in SPOOL/work/ (intake's and the site
# spoolers' leftovers; the housekeeping's trash goes once it is empty)
work_left() { ls -A "$1/work" 2>/dev/null; }
count() { ls "$1" 2>/dev/null | wc -l; }
# pixels PNG: its size and a hash of its pixels (POV-Ray writes a time into it)
pixels() { python3 "$HF_ROOT/tests/pngpixels.py" "$1" 2>/dev/null | cut -d' ' -f1,2; }

# build_hfimg: build tests/hfimg.c (test images for hf-check) once, into $T/hfimg; sets $HFIMG
build_hfimg() {
	HFIMG=$T/hfimg
	[ -x "$HFIMG" ] && return 0
	# shellcheck disable=SC2046 # the flags are words
	cc -O1 -o "$HFIMG" "$HF_ROOT/tests/hfimg.c" $(pkg-config --cflags --libs vips OpenEXR) >"$T/hfimg.log" 2>&1 ||
		{ not_ok "tests/hfimg.c builds (libvips and OpenEXR dev files): $(head -c 600 "$T/hfimg.log")"; done_testing; }
}

# hfcheck ARGS...: run hf-check, keeping its exit code in RC and its stdout
# and stderr in $T/out and $T/err (a hang ends as exit 124)
hfcheck() {
	timeout 60 hf-check "$@" >"$T/out" 2>"$T/err"
	RC=$?
}
# expect CODE PATTERN DESC ARGS...: hf-check ARGS exits CODE, its stdout one
# line matching PATTERN (extended regex; empty: stdout empty)
expect() {
	_code=$1 _pat=$2 _desc=$3; shift 3
	hfcheck "$@"
	if [ "$RC" -ne "$_code" ]; then
		not_ok "$_desc (exit $RC, not $_code: $(cat "$T/out" "$T/err"))"
	elif [ -z "$_pat" ] && [ -s "$T/out" ]; then
		not_ok "$_desc (printed: $(cat "$T/out"))"
	elif [ "$_pat" ] && { [ "$(wc -l <"$T/out")" -ne 1 ] || ! grep -Eq -- "$_pat" "$T/out"; }; then
		not_ok "$_desc (said: $(cat "$T/out") / $(cat "$T/err"))"
	else
		ok "$_desc"
	fi
}
