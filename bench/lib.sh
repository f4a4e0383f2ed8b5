# bench/lib.sh - what bench/run and bench/scale.sh share: spools with
# watcherd and agents started from bin/, waits on the spool, the table's rows.
# Sourced with ROOT (the tree) and W (the run's scratch folder) set.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# farm_spool DIR: a spool with watcherd running on it; sets FS, FW
farm_spool() { # DIR [CONF-LINES]
	FS=$1
	"$ROOT/bin/hotfarm" init "$FS" >/dev/null
	printf '[site]\nname = bench\n[intake]\nmax_frames = 1000000\n[agent]\nheartbeat = %s\n%b\n' "${HEARTBEAT:-1}" "${2:-}" >"$FS/conf/hotfarm.ini"
	"$ROOT/bin/watcherd" --spool "$FS" 2>"$FS.watcherd.log" &
	FW=$!
	echo $FW >"$W/w-$(basename "$FS").pid"
	while [ ! -f "$FS/run/watcherd.pid" ]; do sleep 0.01; done
}
agent() { # SPOOL NAME [SLOTS]: without SLOTS, the agent's default (auto); $AGENT_ENV: its environment's additions
	env ${AGENT_ENV:-} "$ROOT/bin/render-agent" --spool "$1" --name "$2" ${3:+--slots "$3"} 2>>"$1.agent-$2.log" &
	echo $! >>"$W/agents.pid"
	while [ ! -f "$1/hosts/$2/host.ini" ]; do sleep 0.01; done
	# a farm's agents have been up for a while when a job comes: let this
	# one time its renderers' start-up first (at most 10 s)
	want=0
	[ -f "$1/conf/packages/povray.ini" ] && want=1
	[ -f "$1/conf/packages/blender.ini" ] && command -v blender >/dev/null 2>&1 && want=$((want + 1))
	i=0
	while [ "$(grep -c 'takes [0-9.]* s to start' "$1.agent-$2.log")" -lt $want ] && [ $i -lt 1000 ]; do
		sleep 0.01
		i=$((i + 1))
	done
}
# bare_spool DIR [CONF-LINES]: the same without the renderers' packages
# (for figures that need none: its agents start at once)
bare_spool() {
	farm_spool "$@"
	rm -f "$FS/conf/packages/"*.ini
}
stop_all() {
	for p in $(cat "$W/agents.pid" 2>/dev/null) $(cat "$W"/w-*.pid 2>/dev/null); do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "$W/agents.pid" "$W"/w-*.pid
}
# wait_state SPOOL STATE NAME: until the job NAME is in STATE. It looks
# 20 times a second with no process but sleep (a tighter loop of ls and
# grep took a tenth of the CPUs from the farm it measured); when the job
# got there is entered_ns's to say.
wait_state() {
	while :; do
		for e in "$1/$2"/*-"$3"; do [ -e "$e" ] && return 0; done
		sleep 0.05
	done
}
# stamp_ns: now, by the clock file times are set from; entered_ns SPOOL
# STATE: when something last entered or left STATE (a job got there)
stamp_ns() { touch "$W/.stamp" && stat -c %.9Y "$W/.stamp" | tr -d .; }
entered_ns() { stat -c %.9Y "$1/$2" | tr -d .; }
# drop_job SPOOL NAME DIR: DIR holds job.ini
drop_job() {
	tar -C "$3" -cf "$W/$2.tar" . && mv "$W/$2.tar" "$1/inbox/.$2.tar" && mv "$1/inbox/.$2.tar" "$1/inbox/$2.tar"
}


median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
rate() { awk -v u="$1" 'BEGIN { printf "%.1f", 1e6 / u }'; }
sec() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1000 }'; }
row() { printf '%-66s %10s %10s %7s %9s\n' "$1" "$2" "$3" "$4" "$5"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && a != "-" && b > 0) printf "%.2f", a / b; else print "-" }'; }
rowv() { row "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"; }
fig() { # LABEL RUN KEY BASELINE GOAL
	rowv "$1" "$(get "$2" "$3")" "$4" "$5"
}
group() { echo; echo "$1"; }
