# t-area.sh - a slot's render folder and cgroup serve its next renderer of
# the same job (making them per process costs more than a short frame):
# each renderer still finds its folder empty but for out/ and tmp/, and
# each frame is billed only the CPU its own processes used.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent a --slots 1

# frame 1 burns a second of CPU; every frame says what its folder held
# when it began, then leaves something in it and in its TMPDIR
mkdir -p "$T/area"
python3 "$HF_ROOT/tests/mkpng.py" good "$T/area/in.png" 64 48
cat >"$T/area/run.sh" <<'EOF'
echo "root $(cd "$HOTFARM_JOB_ROOT" && pwd -P)"
echo "holds [$(ls -A "$HOTFARM_JOB_ROOT" | tr '\n' ' ')]"
echo "tmp holds [$(ls -A "$TMPDIR" | tr '\n' ' ')]"
if [ "$1" = 1 ]; then
	while :; do
		times >"$TMPDIR/times"; read a b <"$TMPDIR/times"; u=${a#*m}
		{ [ "${a%%m*}" != 0 ] || [ "${u%%.*}" -ge 1 ]; } && break
	done
fi
echo left >"$HOTFARM_JOB_ROOT/left-by-$1"
echo left >"$TMPDIR/left-by-$1"
cp "$(dirname "$0")/in.png" "$2"
EOF
printf '[job]\nframes = 1-4\nretries = 0\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "a_####.png"\nargs = sh {files}/run.sh {frame} {output}\n' >"$T/area/job.ini"
drop_dir area "$T/area"
check "the job is done" wait_for 60 job_done area
LOGS="$SPOOL/jobs/area/logs"
for f in 1 2 3 4; do
	L=$(ls "$LOGS"/frame000$f.try1.* 2>/dev/null | head -1)
	grep '^root \|holds ' "$L" | sed "s/^/# frame $f: /"
	check "frame $f found its folder holding only out/ and tmp/" grep -q '^holds \[out tmp \]$' "$L"
	check "frame $f found its TMPDIR empty" grep -q '^tmp holds \[\]$' "$L"
done
if grep -q 'renders each run in a cgroup of their own' "$SPOOL.agent-a.log"; then
	n=$(cat "$LOGS"/frame000*.try1.* | grep '^root ' | sort -u | wc -l)
	check "one folder served the slot's four renderers ($n)" [ "$n" -eq 1 ]
else
	diag "no cgroup here: every renderer has a folder of its own"
fi
cpu() { sed -n 's/^billing = .* user=\([0-9.]*\) sys=\([0-9.]*\) .*/\1 \2/p' "$SPOOL/jobs/area/frames/done/"*"-000000$1" | awk '{ print $1 + $2 }'; }
c1=$(cpu 1) c2=$(cpu 2) c4=$(cpu 4)
diag "billed CPU: frame 1 $c1 s, frame 2 $c2 s, frame 4 $c4 s"
check "frame 1 is billed its second of CPU" awk -v c="$c1" 'BEGIN { exit !(c >= 0.9) }'
check "frame 2 is billed only its own CPU" awk -v c="$c2" 'BEGIN { exit !(c < 0.5) }'
check "frame 4 is billed only its own CPU" awk -v c="$c4" 'BEGIN { exit !(c < 0.5) }'
check "the folder is gone once the job is over" wait_for 10 sh -c "[ -z \"\$(ls -A '$SPOOL/jobs/area/work' 2>/dev/null)\" ]"
done_testing
