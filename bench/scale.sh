#!/bin/sh
# bench/scale.sh - make bench SCALE=1: one spool at a studio's scale (1,000
# agents, a million tickets, 10,000 queued jobs), each figure beside its goal.
# Agents are real render-agents of 1 slot; most render the built-in null package.
set -u
cd "$(dirname "$0")/.." || exit 111
ROOT=$(pwd)
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
n() { if [ -n "$QUICK" ]; then echo "$2"; else echo "$1"; fi; }
AGENTS=${SCALE_AGENTS:-$(n 1000 200)}
AGENT_TICKETS=${SCALE_AGENT_TICKETS:-$(n 100000 20000)}
TICKETS=${SCALE_TICKETS:-$(n "1000 10000 100000 1000000" "1000 10000 100000")}
QUEUED=${SCALE_QUEUED:-$(n 10000 2000)}
TOPS=${SCALE_TOPS:-$(n 20 5)}
PHASES=${SCALE_PHASES:-agents tickets queued} # which parts run (one at a time, to look into one)
phase() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
BENCH_T0=$(date +%s)
section() { echo "# scale: $1 ($(($(date +%s) - BENCH_T0)) s in)" >&2; }
W=$(mktemp -d "${BENCH_TMP:-/tmp}/hotfarm-scale.XXXXXX")
M=$(mktemp -d "${BENCH_SHM:-/dev/shm}/hotfarm-scale.XXXXXX")
# a simulated farm runs its agents on one machine: each needs an inotify
# instance of its own (a real host has its own limit)
INOTIFY=/proc/sys/fs/inotify/max_user_instances
old_inotify=$(cat $INOTIFY)
[ "$old_inotify" -lt $((AGENTS * 2 + 256)) ] && echo $((AGENTS * 2 + 256)) >$INOTIFY
trap 'for p in $(cat "$W"/*.pid 2>/dev/null); do kill "$p" 2>/dev/null; done; wait 2>/dev/null
	echo "$old_inotify" >$INOTIFY; rm -rf "$W" "$M"' EXIT
. bench/lib.sh
for prog in dispatch drop stamp; do
	cc -std=c17 -O2 -Wall -Wextra -Werror -o "$W/$prog" "bench/$prog.c" || exit 111
done

null_package() { printf '[package]\nbuiltin = null\ndescription = "benchmarking only"\n' >"$FS/conf/packages/null.ini"; }
null_job() { # NAME FRAMES [MORE-JOB-LINES]: a job of the null package in $W/NAME
	mkdir -p "$W/$1"
	printf '[job]\nframes = %s\n%b\n[render]\npackage = null\nscene = s\n' "$2" "${3:-}" >"$W/$1/job.ini"
	echo x >"$W/$1/s"
}
# many_agents SPOOL PREFIX N: N agents of 1 slot, all started at once;
# sets REG_MS, the ms until every one had registered (hosts/NAME/host.ini)
many_agents() {
	t0=$(now_ms)
	for a in $(seq 1 "$3"); do
		"$ROOT/bin/render-agent" --spool "$1" --name "$2$a" --slots 1 >/dev/null 2>>"$W/agents.log" &
		echo $! >>"$W/agents.pid"
	done
	while [ "$(ls "$1"/hosts/*/host.ini 2>/dev/null | wc -l)" -lt "$3" ]; do sleep 0.05; done
	REG_MS=$(($(now_ms) - t0))
}
# cpu_ticks PID: its CPU time and its children's it waited for (watcherd's
# farm pass, hf-status, hf-intake... are its children), in clock ticks
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
# dispatched SPOOL: the tickets each host's agent took, as its heartbeat
# wrote them (hosts/HOST/dispatch: count first)
dispatched() { awk 'FNR == 2 { print $1 }' "$1"/hosts/*/dispatch 2>/dev/null; }
# fairness FILE TOTAL N: "min max worst" of the counts in FILE against TOTAL/N
fairness() {
	awk -v n="$3" -v total="$2" '{ c[NR] = $1 } END {
		mean = total / n; min = -1; max = 0
		for (a = 1; a <= n; a++) { v = (a in c) ? c[a] : 0; if (min < 0 || v < min) min = v; if (v > max) max = v }
		worst = (min > 0) ? ((max / mean > mean / min) ? max / mean : mean / min) : "inf"
		printf "%d %d %s", min, max, (worst == "inf") ? "inf" : sprintf("%.2f", worst) }' "$1"
}
median_of() { # COMMAND...: the median ms of 5 runs
	for i in 1 2 3 4 5; do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		echo $((($(date +%s%N) - t0) / 1000))
	done | sort -n | awk 'NR == 3 { printf "%.1f", $1 / 1000 }'
}

# ---- N agents on one spool: registration, heartbeats, claims, fairness -------------
agents_run() { # KIND DIR: results into $W/agents-KIND
	HEARTBEAT=2 bare_spool "$2/agents-$1"
	null_package
	null_job many "1-$AGENT_TICKETS"
	drop_job "$FS" many "$W/many"
	wait_state "$FS" queue many
	"$ROOT/bin/hotfarm" --spool "$FS" hold many >/dev/null
	many_agents "$FS" a "$AGENTS"
	# watcherd while every agent heartbeats (every 2 s) and nothing runs
	c0=$(cpu_ticks "$FW") t0=$(now_ms)
	sleep 10
	c1=$(cpu_ticks "$FW") t1=$(now_ms)
	hb_cpu=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v ms=$((t1 - t0)) 'BEGIN { printf "%.1f", 100 * c / hz / (ms / 1000) }')
	page_ms=$(median_of "$ROOT/bin/hf-status" --spool "$FS")
	t0=$(stamp_ns)
	"$ROOT/bin/hotfarm" --spool "$FS" release many >/dev/null
	wait_state "$FS" done many
	t1=$(entered_ns "$FS" done)
	rate=$(awk -v n="$AGENT_TICKETS" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
	# each agent's count, once its next heartbeat has written it
	i=0
	while [ "$(dispatched "$FS" | awk '{ s += $1 } END { print s + 0 }')" -lt "$AGENT_TICKETS" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	dispatched "$FS" >"$W/shares-$1"
	echo "$REG_MS $hb_cpu $rate $page_ms $(fairness "$W/shares-$1" "$AGENT_TICKETS" "$AGENTS")" >"$W/result-agents-$1"
	stop_all
	rm -rf "$FS"
}
if phase agents; then
	section "$AGENTS agents, tmpfs"
	agents_run tmpfs "$M"
	section "$AGENTS agents, local disk"
	agents_run disk "$W"
fi

# ---- one job of N tickets: intake, status, claims by 2 agents, watcherd's memory ----
phase tickets || TICKETS=
for t in $TICKETS; do
	section "$t tickets"
	bare_spool "$M/tickets-$t" '[site]\nfsync = no'
	null_package
	null_job "t$t" "1-$t"
	tar -C "$W/t$t" -cf "$W/t$t.tar" .
	mv "$W/t$t.tar" "$FS/inbox/.t$t.tar"
	t0=$(stamp_ns)
	mv "$FS/inbox/.t$t.tar" "$FS/inbox/t$t.tar"
	wait_state "$FS" queue "t$t"
	t1=$(entered_ns "$FS" queue)
	intake_ms=$(((t1 - t0) / 1000000))
	"$ROOT/bin/hotfarm" --spool "$FS" hold "t$t" >/dev/null
	status_ms=$(median_of "$ROOT/bin/hotfarm" --spool "$FS" status)
	agent "$FS" c1 1
	agent "$FS" c2 1
	t0=$(stamp_ns) c0=$(cpu_ticks "$FW")
	"$ROOT/bin/hotfarm" --spool "$FS" release "t$t" >/dev/null
	wait_state "$FS" done "t$t"
	t1=$(entered_ns "$FS" done) c1=$(cpu_ticks "$FW")
	rate=$(awk -v n="$t" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
	wcpu=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", 100 * c / hz / (ns / 1e9) }')
	echo "$t $intake_ms $status_ms $rate $(kb "$FW" VmHWM) $wcpu" >>"$W/tickets"
	stop_all
	rm -rf "$FS"
done

# ---- QUEUED jobs waiting in the queue, AGENTS agents: their memory, and how
# soon a new top-priority job's frame starts (bench/dispatch.c, bench/stamp)
if phase queued; then
	section "$QUEUED queued jobs, $AGENTS agents"
	HEARTBEAT=2 bare_spool "$M/queued" '[site]\nfsync = no'
	null_package
	printf '[package]\nproduces = nothing\nversion = 1\n[render]\nargv = "{files}/stamp"\n' >"$FS/conf/packages/stamp.ini"
	null_job gate 1
	drop_job "$FS" gate "$W/gate"
	wait_state "$FS" queue gate
	"$ROOT/bin/hotfarm" --spool "$FS" hold gate >/dev/null
	mkdir -p "$W/waiting"
	echo x >"$W/waiting/s"
	tar -C "$W/waiting" -cf "$W/waiting.tar" s
	printf '[job]\nframes = 1\nafter = gate\n[render]\npackage = null\nscene = s\n' >"$W/waiting.ini"
	"$W/drop" "$FS" "$M/queued-stage" "$W/waiting.tar" "$W/waiting.ini" "$QUEUED"
	i=0
	while [ "$(ls "$FS/queue" | wc -l)" -lt "$QUEUED" ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i + 1)); done
	# the agent's own share first: one agent with the queue to itself
	mkdir -p "$W/stampjob"
	cp "$W/stamp" "$W/stampjob/stamp"
	tar -C "$W/stampjob" -cf "$W/stamp.tar" stamp
	printf '[job]\nframes = 1\npriority = 0\n[render]\npackage = stamp\nscene = stamp\n' >"$W/stamp.ini"
	agent "$FS" alone 1
	"$W/dispatch" "$FS" "$M/alone-stage" "$W/stamp.tar" "$W/stamp.ini" "$TOPS" one >"$W/result-top-one"
	kill "$(cat "$W/agents.pid")" && wait "$(cat "$W/agents.pid")" 2>/dev/null
	rm -f "$W/agents.pid"
	"$ROOT/bin/hotfarm" --spool "$FS" forget alone >/dev/null
	many_agents "$FS" q "$AGENTS"
	# until the agents have looked through the queue: none uses CPU any more
	# (their heartbeats and rescans go on: settled is all of them under a
	# tenth of a CPU over a heartbeat's 2 s, read in one awk)
	agents_cpu() { sed 's|.*|/proc/&/stat|' "$W/agents.pid" | xargs awk '{ s += $14 + $15 } END { print s }'; }
	i=0 last=$(agents_cpu) settle0=$(now_ms)
	while [ $i -lt 300 ]; do
		sleep 2
		now=$(agents_cpu)
		[ $((now - last)) -lt 20 ] && break
		last=$now i=$((i + 1))
	done
	settled_ms=$(($(now_ms) - settle0 + REG_MS))
	[ $i -ge 300 ] && settled_ms="" # not settled in 10 minutes: the row says "-"
	for p in $(cat "$W/agents.pid"); do kb "$p" VmRSS; done | sort -n >"$W/agent-rss"
	# watcherd meanwhile: the hosts' heartbeats and the queue's jobs, each rescan
	c0=$(cpu_ticks "$FW") t0=$(now_ms)
	sleep 10
	c1=$(cpu_ticks "$FW") t1=$(now_ms)
	queued_w_cpu=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v ms=$((t1 - t0)) 'BEGIN { printf "%.1f", 100 * c / hz / (ms / 1000) }')
	queued_page_ms=$(median_of "$ROOT/bin/hf-status" --spool "$FS")
	"$W/dispatch" "$FS" "$M/top-stage" "$W/stamp.tar" "$W/stamp.ini" "$TOPS" top >"$W/result-top"
	queued_w_rss=$(kb "$FW" VmRSS)
	stop_all
fi

# ---- the table ------------------------------------------------------------------
group() { echo; echo "$1"; }
echo
echo "hotfarm scale bench on $(uname -n), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
row "figure" "hotfarm" "baseline" "ratio" "goal"
touch "$W/tickets"
two_rate=$(awk -v t="$AGENT_TICKETS" '$1 == t { print $4 }' "$W/tickets")
for kind in tmpfs disk; do
	[ -f "$W/result-agents-$kind" ] || continue
	set -- $(cat "$W/result-agents-$kind")
	group "$AGENTS agents of 1 slot on one spool ($kind), the null package"
	row "registration: all $AGENTS started at once -> every host.ini, s" "$(sec "$1")" "-" "-" "-"
	row "watcherd + children: CPU while all heartbeat (2 s), % of a CPU" "$2" "-" "-" "-"
	rowv "claims per second on one job of $AGENT_TICKETS tickets (vs 2 agents, tmpfs)" "$3" "$two_rate" "-"
	row "status page build (hf-status), ms, median of 5" "$4" "-" "-" "-"
	row "fairness: worse of largest/mean, mean/smallest (tickets $5..$6)" "$7" "-" "-" "<= 2"
done
[ -s "$W/tickets" ] && group "one job of N tickets (tmpfs, fsync off), 2 agents of 1 slot"
first_rate=$(head -n 1 "$W/tickets" | cut -d' ' -f4)
while read -r t intake status rate hwm wcpu; do
	row "$t tickets: intake s" "$(sec "$intake")" "-" "-" "$([ "$t" = 1000000 ] && echo '<= 60 s' || echo -)"
	row "$t tickets: hotfarm status, ms (median of 5)" "$status" "-" "-" "<= 100 ms"
	rowv "$t tickets: claims per second (vs $(head -n 1 "$W/tickets" | cut -d' ' -f1) tickets)" "$rate" "$first_rate" ">= 0.67"
	row "$t tickets: watcherd's peak resident size, MB" "$(mb "$hwm")" "-" "-" "<= 64 MB"
	row "$t tickets: watcherd + children while it renders, % of a CPU" "$wcpu" "-" "-" "-"
done <"$W/tickets"
phase queued || exit 0
group "$QUEUED jobs waiting in the queue, $AGENTS agents of 1 slot (tmpfs)"
row "agents started -> all looked through the queue (under a tenth of a CPU), s" "$([ -n "$settled_ms" ] && sec "$settled_ms" || echo -)" "-" "-" "-"
row "agent resident size, MB: median (largest $(mb "$(tail -n 1 "$W/agent-rss")"))" \
	"$(mb "$(awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' "$W/agent-rss")")" "-" "-" "<= 8 MB"
row "watcherd's resident size, MB" "$(mb "$queued_w_rss")" "-" "-" "-"
row "watcherd + children: CPU while they wait, % of a CPU" "$queued_w_cpu" "-" "-" "-"
row "status page build (hf-status), ms, median of 5" "$queued_page_ms" "-" "-" "-"
rowv "a new top-priority job: its frame starts, p50 ms ($TOPS jobs; vs 1 agent alone)" \
	"$(awk '$1 == "dispatch_p50_ms" { print $2 }' "$W/result-top")" "$(awk '$1 == "dispatch_p50_ms" { print $2 }' "$W/result-top-one")" "<= 20 ms"
row "  p99 ms" "$(awk '$1 == "dispatch_p99_ms" { print $2 }' "$W/result-top")" "-" "-" "-"
