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
held_lines() { grep -o 'slots\{0,1\} stay (renders use [0-9]*% .*so [0-9]* would fit, but the CPUs were only [0-9]*% idle' "$LOG"; }
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

# --slots N fixes it
start_agent fixed --slots 3
check "--slots 3: the record says 3" [ "$(host_slots fixed)" = 3 ]
check "and three slot files" [ "$(ls "$SPOOL/hosts/fixed" | grep -c '^slot\.')" -eq 3 ]
check "and it says it does not size them" sh -c "! grep -q 'auto' '$SPOOL.agent-fixed.log'"
done_testing
