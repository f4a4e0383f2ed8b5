# t-slots.sh - slots = auto: an agent sizes its concurrency to the renders.
# POV-Ray leaves the CPU idle most of a small frame's time, so the agent
# runs more renders than CPUs; a renderer that keeps a CPU busy gets a slot
# per CPU and no more; --slots N fixes the number. Read from what the agent
# says and what its host record and slot files show.
. "$(dirname "$0")/lib.sh"

CPUS=$(nproc)
host_slots() { sed -n 's/^slots = "\{0,1\}\([0-9]*\)"\{0,1\}$/\1/p' "$SPOOL/hosts/$1/host.ini"; }
busy_slots() { grep -l '^state = busy' "$SPOOL/hosts/$1"/slot.* 2>/dev/null | wc -l; }

# POV-Ray: renders that wait more than they compute
new_spool
start_watcherd
mkdir -p "$T/pov"
cp "$HF_ROOT/bench/spin.pov" "$T/pov/"
printf '[job]\nframes = 1-40\n[render]\nscene = spin.pov\nwidth = 160\nheight = 120\noutput = "f_####.png"\n' >"$T/pov/job.ini"
start_agent auto
check "the agent starts with a slot per CPU ($(host_slots auto) for $CPUS)" [ "$(host_slots auto)" = "$CPUS" ]
drop_dir pov "$T/pov"
# The rule, proved from what the agent logged, not from an idle machine:
# it grows past the CPUs only while a quarter of their time is idle, and
# says so with its figures when it holds back (CI machines are busy).
LOG=$SPOOL.agent-auto.log
most=0
grown() {
	b=$(busy_slots auto)
	[ "$b" -gt "$most" ] && most=$b
	[ "$(host_slots auto)" -gt "$CPUS" ]
}
held() { grep -q 'slots\{0,1\} stay (renders use [0-9]*% of a CPU over their time, so [0-9]* would fit' "$LOG"; }
decided() { grown || held; }
check "POV-Ray renders: the agent decides on more slots than CPUs" wait_for 60 decided
# every size it took or held back, with the idle share it saw then
grew_lines() { grep -o 'msg="[0-9]* slots\{0,1\} now (renders use [0-9]*% .*the CPUs were [0-9]*% idle' "$LOG"; }
held_lines() { grep -o 'slots\{0,1\} stay (renders use [0-9]*% .*so [0-9]* would fit, .*but the CPUs were only [0-9]*% idle' "$LOG"; }
fits=$( { grew_lines | sed 's/^msg="\([0-9]*\) slot.*/\1/'; held_lines | sed 's/.*so \([0-9]*\) would fit.*/\1/'; } |
	awk '$1 > m { m = $1 } END { print m + 0 }')
check "POV-Ray renders leave the CPU idle: more slots than CPUs would fit ($fits for $CPUS)" [ "$fits" -gt "$CPUS" ]
check "the agent says why" grep -q 'slots\{0,1\} \(now\|stay\) (renders use [0-9]*% of a CPU' "$LOG"
grew_idle=$(grew_lines | sed 's/.*the CPUs were \([0-9]*\)% idle$/\1/' | awk '$1 < 25 { print }' | wc -l)
check "it grows only while a quarter of the CPU time is idle" [ "$grew_idle" -eq 0 ]
held_idle=$(held_lines | sed 's/.*only \([0-9]*\)% idle$/\1/' | awk '$1 >= 25 { print }' | wc -l)
check "and holds back only when less is ($(held_lines | wc -l) held back)" [ "$held_idle" -eq 0 ]
more() { b=$(busy_slots auto); [ "$b" -gt "$most" ] && most=$b; [ "$most" -gt "$CPUS" ]; }
if grown; then
	check "grown, it runs more renders than CPUs at once" wait_for 60 more
else
	echo "# the CPUs were busy: the agent held back ($(held_lines | tail -n 1))"
fi
check "the job is done" wait_for 120 job_done pov
n=$(ls "$SPOOL/jobs/pov/output" | grep -c '\.png$')
check "all 40 frames are there ($n)" [ "$n" -eq 40 ]
kill -TERM "$AGENT"
wait "$AGENT" 2>/dev/null
stop_watcherd

# a renderer that keeps its CPU busy: no more slots than CPUs
new_spool busy
start_watcherd
mkdir -p "$T/burnjob"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/burnjob/in.png"
# about 0.3 s of CPU per frame, then the image
printf '[job]\nframes = 1-12\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = sh -c "i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; cp {files}/in.png {output}"\n' >"$T/burnjob/job.ini"
start_agent burn
drop_dir busy "$T/burnjob"
check "CPU-bound renders are done" wait_for 120 job_done busy
most=$(grep -o 'msg="[0-9]* slots\{0,1\} now' "$SPOOL.agent-burn.log" | sed 's/^msg="//' | awk '$1 > m { m = $1 } END { print m + 0 }')
check "with never more slots than CPUs (at most $most)" [ "$most" -le "$CPUS" ]
check "and the host record still says $CPUS" [ "$(host_slots burn)" -le "$CPUS" ]
kill -TERM "$AGENT"
wait "$AGENT" 2>/dev/null

# renders that need memory more than CPU, from an agent under a memory
# limit (as systemd's MemoryMax= or a container sets one): the slots grow
# no further than the limit holds, and no render runs out of memory
# mem_group BYTES: a memory cgroup with that limit below ours (v1's memory
# controller where it is there, else a delegated v2 group); its folder
mem_group() {
	_v1=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/self/cgroup)
	_m=$(findmnt -rn -t cgroup -o TARGET | grep '/memory$' | head -n 1)
	if [ -n "$_v1" ] && [ -n "$_m" ]; then
		_g=$_m${_v1%/}/hftest-$$
		mkdir "$_g" && echo "$1" >"$_g/memory.limit_in_bytes" && echo "$_g"
		return
	fi
	_m=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
	[ -n "$_m" ] && [ "$(sed -n 's/^0:://p' /proc/self/cgroup)" = / ] && command -v setfattr >/dev/null || return 1
	_g=$_m/hftest-$$
	echo +memory >"$_m/cgroup.subtree_control" && mkdir "$_g" && echo "$1" >"$_g/memory.max" &&
		setfattr -n trusted.delegate -v 1 "$_g" && echo "$_g"
}
# renders of 64 MB that sleep: CPUs/renders' share would fit many more
# slots than the limit holds (MAXS: 80 MB each, with Python and cache)
MAXS=$((CPUS + 3))
if MEMG=$(mem_group $((MAXS * 80 * 1024 * 1024))); then
	at_exit "rmdir '$MEMG'/hotfarm-* '$MEMG' 2>/dev/null"
	new_spool memory
	# no renderer start-up probes: they would hold the sizing back
	rm -f "$SPOOL/conf/packages/povray.ini" "$SPOOL/conf/packages/blender.ini"
	start_watcherd
	mkdir -p "$T/memjob"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/memjob/in.png"
	printf '[job]\nframes = 1-24\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = python3 -c "import shutil, sys, time; b = bytes([1]) * (64 << 20); time.sleep(3); shutil.copy(sys.argv[1], sys.argv[2])" {files}/in.png {output}\n' >"$T/memjob/job.ini"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$MEMG" render-agent --spool "$SPOOL" --name mem \
		2>>"$SPOOL.agent-mem.log" &
	AGENT=$!
	_pids="$_pids $AGENT"
	check "an agent starts under a limit of $((MAXS * 80)) MB" wait_for 15 _agent_ready mem
	drop_dir memory "$T/memjob"
	most=0
	busiest() { b=$(busy_slots mem); [ "$b" -gt "$most" ] && most=$b; job_done memory || job_failed memory; }
	check "the renders that hold 64 MB each end" wait_for 180 busiest
	check "all 24 frames are done: none ran out of memory" job_done memory
	LOG=$SPOOL.agent-mem.log
	# every size it took or held back for want of idle CPU
	sizes=$( { grep -o 'msg="[0-9]* slots\{0,1\} now (renders use [0-9]*% of a CPU over their time, up to [0-9]* MB each, [0-9]* MB free' "$LOG" |
		sed 's/^msg="\([0-9]*\) .*/\1/'; grep -o 'so [0-9]* would fit' "$LOG" | sed 's/so \([0-9]*\) .*/\1/'; } |
		sort -n | tr '\n' ' ')
	check "the agent sized its slots as renders were measured (sizes: $sizes)" [ -n "$sizes" ]
	check "it says how much memory its limit leaves the renders" grep -q "[0-9]* MB free for them" "$LOG"
	within() { for z in $sizes; do [ "$z" -le "$MAXS" ] || return 1; done; [ "$most" -le "$MAXS" ]; }
	check "never more slots than the limit holds ($MAXS; $most busy at once at most)" within
	kill -TERM "$AGENT"
	wait "$AGENT" 2>/dev/null
	stop_watcherd
	rmdir "$MEMG"/hotfarm-* "$MEMG" 2>/dev/null
	check "the test's cgroup is gone" [ ! -d "$MEMG" ]
else
	ok "# SKIP no memory cgroup to put an agent under"
fi

# The first job starts wide: before any frame of it is measured, the slots
# are sized by what the renderer's start-up probe used of a CPU. A probe
# that waits (idler) opens more slots than CPUs at the first claim; one
# that keeps a CPU busy (burner, rendering the same) never more than CPUs.
new_spool seeded
start_watcherd
cat >"$SPOOL/conf/packages/idler.ini" <<'INI'
[package]
description = "waits more than it computes"
version = 1
[probe]
command = sh
version_args = -c "echo 1.0"
startup = -c "sleep 0.4"
[render]
argv = sh -c "sleep 0.4; cp {files}/in.png {output}"
INI
sed -e 's/waits more than it computes/computes all the time/' \
	-e 's/sleep 0.4/i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done/' \
	"$SPOOL/conf/packages/idler.ini" >"$SPOOL/conf/packages/burner.ini"
rm -f "$SPOOL/conf/packages/povray.ini" "$SPOOL/conf/packages/blender.ini"
mkdir -p "$T/idle" "$T/burn"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/idle/in.png"
cp "$T/idle/in.png" "$T/burn/in.png"
for k in idle burn; do
	pkg=idler
	[ $k = burn ] && pkg=burner
	printf '[job]\nframes = 1-16\n[render]\npackage = %s\nscene = in.png\nwidth = 64\nheight = 48\noutput = "f_####.png"\n' \
		"$pkg" >"$T/$k/job.ini"
done
start_agent seeded
LOG=$SPOOL.agent-seeded.log
probed() { grep -q 'idler takes [0-9.]* s to start' "$LOG" && grep -q 'burner takes [0-9.]* s to start' "$LOG"; }
check "the agent times both renderers' start-up, and what they use of a CPU" wait_for 30 probed
diag "$(grep -o '[a-z]* takes [0-9.]* s to start ([0-9]*% of a CPU)' "$LOG" | tr '\n' ' ')"
drop_dir idle "$T/idle"
check "the idler's frames are done" wait_for 60 job_done idle
# the first sizing the agent logged, and where its first frame came
first_size=$(grep -n 'slots\{0,1\} \(now\|stay\) (renders use' "$LOG" | head -1)
first_frame=$(grep -n 'rendered on' "$LOG" | head -1 | cut -d: -f1)
fit=$(echo "$first_size" | sed -n 's/.*msg="\([0-9]*\) slots\{0,1\} now.*/\1/p; s/.*so \([0-9]*\) would fit.*/\1/p')
check "before its first frame was measured, the agent sized its slots by the probe ($(echo "$first_size" | cut -c1-160))" \
	[ -n "$first_size" ] && [ "${first_size%%:*}" -lt "${first_frame:-0}" ] && [ "${fit:-0}" -gt "$CPUS" ]
kill -TERM "$AGENT"
wait "$AGENT" 2>/dev/null
start_agent seeded2
LOG=$SPOOL.agent-seeded2.log
check "a second agent times the burner's start-up too" wait_for 30 probed
drop_dir burn "$T/burn"
check "the burner's frames are done" wait_for 120 job_done burn
most=$(grep -o 'msg="[0-9]* slots\{0,1\} now' "$LOG" | sed 's/^msg="//' | awk '$1 > m { m = $1 } END { print m + 0 }')
check "a renderer whose start-up keeps a CPU busy: never more slots than CPUs (at most $most)" [ "$most" -le "$CPUS" ]
kill -TERM "$AGENT"
wait "$AGENT" 2>/dev/null

# --slots N fixes it
start_agent fixed --slots 3
check "--slots 3: the record says 3" [ "$(host_slots fixed)" = 3 ]
check "and three slot files" [ "$(ls "$SPOOL/hosts/fixed" | grep -c '^slot\.')" -eq 3 ]
check "and it says it does not size them" sh -c "! grep -q 'auto' '$SPOOL.agent-fixed.log'"
done_testing
