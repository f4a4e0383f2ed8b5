# t-render.sh - the heart of the farm: two render agents render one POV-Ray
# animation together; every frame is in output/ exactly once and shows the
# same pixels as povray run by hand on that frame.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent a1 --slots 1
A1=$AGENT
start_agent a2 --slots 1
check "agent a1 wrote its host record" [ -f "$SPOOL/hosts/a1/host.ini" ]
H=$SPOOL/hosts/a1/host.ini
for k in machine os os_version cpus cpu_model cpu_mhz ram_mb swap_mb gpu slots; do
	grep -q "^$k = " "$H" || missing="${missing:-} $k"
done
check "the host record has what a farm matches on (missing:${missing:-})" [ -z "${missing:-}" ]
check "it found POV-Ray and its version" grep -q '^povray = "3\.7' "$H"
check "it has a slot file per slot, idle" grep -q 'state = idle' "$SPOOL/hosts/a1/slot.0"
check "and a heartbeat" [ -f "$SPOOL/hosts/a1/heartbeat" ]

povray_job "$T/anim" 1-8
# runs of 2: eight small frames would be one process on one agent
# (fastest), and this test wants both agents at work
sed -i 's/^\[job\]$/[job]\nchunk = 2/' "$T/anim/job.ini"
drop_dir anim "$T/anim"
check "an 8-frame animation is rendered to the end" wait_for 90 job_done anim
O=$SPOOL/jobs/anim/output
n=$(ls "$O" | grep -c '^f_[0-9]*\.png$')
check "8 frames in output/ ($n)" [ "$n" -eq 8 ]
check "nothing else in output/ ($(ls -A "$O" | grep -v '^f_' | tr '\n' ' '))" [ -z "$(ls -A "$O" | grep -v '^f_')" ]

# the same frames by hand
mkdir -p "$T/hand"
for f in 1 2 3 4 5 6 7 8; do
	(cd "$T/anim" && povray -D -V +Iscene.pov +O"$T/hand/h$f.png" +W64 +H48 +FN +KFI1 +KFF8 +SF$f +EF$f) >/dev/null 2>&1
done
bad=""
for f in 1 2 3 4 5 6 7 8; do
	farm=$(python3 "$HF_ROOT/tests/pngpixels.py" "$O/f_000$f.png" | cut -d' ' -f1-2)
	hand=$(python3 "$HF_ROOT/tests/pngpixels.py" "$T/hand/"h$f*.png | cut -d' ' -f1-2)
	[ -n "$farm" ] && [ "$farm" = "$hand" ] || bad="$bad $f"
done
check "every frame is pixel-identical to povray by hand (differ:$bad)" [ -z "$bad" ]
a=$(python3 "$HF_ROOT/tests/pngpixels.py" "$O/f_0001.png" | cut -d' ' -f2)
b=$(python3 "$HF_ROOT/tests/pngpixels.py" "$O/f_0004.png" | cut -d' ' -f2)
check "and the frames differ from each other (it is an animation)" [ "$a" != "$b" ]

check "both agents rendered frames" grep -q '^hosts = a1,a2$\|^hosts = a2,a1$' "$SPOOL/jobs/anim/billing.ini"
check "billing counts 8 frames" grep -q '^frames = 8$' "$SPOOL/jobs/anim/billing.ini"
check "billing has CPU time and peak memory" grep -Eq '^cpu_user_seconds = [0-9.]+$' "$SPOOL/jobs/anim/billing.ini"
# one log per renderer process: a run of frames has one
logs=$(ls "$SPOOL/jobs/anim/logs" | wc -l)
check "one log per renderer process, fewer than frames ($logs for 8)" [ "$logs" -ge 1 -a "$logs" -lt 8 ]
check "each log says what ran" sh -c "for l in '$SPOOL/jobs/anim/logs/'*; do grep -q '^# hotfarm: argv: \[povray\]' \"\$l\" || exit 1; done"
# (its attempt number is not the point: under load, a host that misses
# host_timeout is taken for lost, and a frame it had claimed but not yet
# started goes back to todo/ and is rendered as attempt 2)
check "frame 1's log names its run" grep -Eq '^# hotfarm: job anim frames? 1(-[0-9]+)? attempt [0-9]+ on a[12]\.0 ' "$SPOOL/jobs/anim/logs/frame0001"*.log
check "every ticket is in done/" [ "$(ls "$SPOOL/jobs/anim/frames/done" | wc -l)" -eq 8 -a -z "$(ls "$SPOOL/jobs/anim/frames/active")" ]
check "status.ini says done" grep -q '^state = "done"' "$SPOOL/jobs/anim/status.ini"
check "with all frames counted" grep -q '^frames_done = 8$' "$SPOOL/jobs/anim/status.ini"
check "hotfarm status shows it done" sh -c "hotfarm status | grep -q '^anim	done	500	8/8'"
check "the slots are idle again" grep -q 'state = idle' "$SPOOL/hosts/a2/slot.0"
# the logs: one key=value line per event, with the job and the frame
frame_lines=$(cat "$SPOOL".agent-a1.log "$SPOOL".agent-a2.log |
	grep -Ec '^time=[0-9T:.-]+Z level=info prog=render-agent job=anim frame=[1-8] msg="anim frame [1-8] rendered on a[12]\.0 in [0-9.]+ s')
check "the agents log each frame rendered, with job= and frame= ($frame_lines of 8)" [ "$frame_lines" -eq 8 ]
check "watcherd's log has the job's intake with job=" \
	grep -q '^time=[^ ]* level=info prog=hf-intake job=anim msg="accepted anim: 8 frames' "$SPOOL.watcherd.log"
check "and its end (from the agent that rendered its last frame, or watcherd)" \
	sh -c "cat '$SPOOL'.*.log | grep -q 'prog=[a-z-]* job=anim msg=\"anim finished'"

# a job no host can serve says why
mkdir -p "$T/picky"
povray_job "$T/picky" 1-2
printf '[requires]\nversion = 9.*\n' >>"$T/picky/job.ini"
drop_dir picky "$T/picky"
why() { grep -q "waiting: no host has package povray 9\.\*" "$SPOOL/jobs/picky/status.ini" 2>/dev/null; }
check "a job no host matches says why in status.ini" wait_for 10 why
check "and in hotfarm status" sh -c "hotfarm status | grep -q 'picky.*waiting: no host has package povray 9'"
mkdir -p "$T/big"
povray_job "$T/big" 1-2
printf '[requires]\nmin_ram_mb = 99999999\n' >>"$T/big/job.ini"
drop_dir big "$T/big"
whybig() { grep -q "waiting: no host has ram_mb >= 99999999" "$SPOOL/jobs/big/status.ini" 2>/dev/null; }
check "a minimum no host meets says which" wait_for 10 whybig

# a clean stop removes the host's heartbeat, lock and slots; its record
# stays (what it offered), and it reads as offline
kill -TERM "$A1"
gone() { [ "$(ls -A "$SPOOL/hosts/a1" 2>/dev/null)" = host.ini ]; }
check "a stopped agent leaves only its record in hosts/a1 ($(ls -A "$SPOOL/hosts/a1" | tr '\n' ' '))" wait_for 10 gone
check "which hotfarm hosts shows offline" sh -c "hotfarm hosts | grep -q '^a1: offline'"
check "watcherd is still running" alive "$WATCHERD"
done_testing
