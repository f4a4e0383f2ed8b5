# t-cli-farm.sh - the hotfarm commands an artist and an admin use on a live
# farm: submit, watch, jobs, hosts, slots, log, retry, kill-frame, drain,
# billing, and jobs that wait for others.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent h1 --slots 2

# submit a scene file: packed, dropped, named, rendered
name=$(hotfarm submit "$HF_ROOT/examples/orbit/scene.pov" --frames 1-4 --width 64 --height 48 --owner ann | head -n 1)
check "submit prints the job's name ($name)" [ "$name" = scene ]
check "the submitted job is rendered" wait_for 60 job_done scene
check "its frames are in output/" [ "$(ls "$SPOOL/jobs/scene/output" | grep -c png)" -eq 4 ]
check "owner ann is recorded" grep -q '^owner = "ann"' "$SPOOL/jobs/scene/job.ini"
check "nothing of the submission is left in inbox/" inbox_empty

# submit a folder, with a name and a dependency on a job that waits
hotfarm hold scene >/dev/null 2>&1 # done: refused, harmless
name2=$(hotfarm submit "$HF_ROOT/examples/orbit" --frames 1-2 --width 64 --height 48 --name after-ok --after scene | head -n 1)
check "a folder is submitted under the given name" [ "$name2" = after-ok ]
check "a job after a done job renders" wait_for 60 job_done after-ok
# a job after one still to render waits for it, then renders (the agent
# looks again when the other leaves queue/, not at its next rescan)
hotfarm submit "$HF_ROOT/examples/orbit" --frames 1-3 --width 64 --height 48 --name before --at +4s >/dev/null
hotfarm submit "$HF_ROOT/examples/orbit" --frames 1-2 --width 64 --height 48 --name behind --after before >/dev/null
check "a job after one not yet rendered renders once it is done" wait_for 60 job_done behind
us() { sed -n "s/^$2 = //p" "$SPOOL/jobs/$1/status.ini"; }
check "… and started after it was done ($(us before finished_us) < $(us behind started_us))" \
	[ "$(us before finished_us)" -lt "$(us behind started_us)" ]
hotfarm submit "$HF_ROOT/examples/orbit" --frames 1 --name nope 2>"$T/err" >/dev/null
check "a folder with one .pov file needs no --scene" [ -e "$SPOOL/inbox/nope.tar" -o -d "$SPOOL/jobs/nope" ]
hotfarm submit "$T/nothing-here" --frames 1 2>"$T/err"
check "submit of a missing path: 100" [ $? -eq 100 ]
hotfarm submit "$HF_ROOT/examples/orbit/scene.pov" --frames 0-1000000000000 2>"$T/err"
check "submit checks the description before dropping (100)" [ $? -eq 100 ]
check "and says what is wrong" grep -q "frames" "$T/err"
name3=$(hotfarm submit "$HF_ROOT/examples/orbit/scene.pov" --frames 1-2 --width 64 --height 48 | head -n 1)
check "a second submission of the same name gets NAME-2 ($name3)" [ "$name3" = scene-2 ]

# watch follows a job to its end, exit 0 when done
hotfarm watch "$name3" >"$T/watch" 2>&1
check "watch exits 0 when the job is done" [ $? -eq 0 ]
check "and printed its progress" grep -q "done" "$T/watch"
# a job dropped as one .tgz that carries its job.ini: watch waits for it too
mkdir -p "$T/tgz"
cp "$HF_ROOT/examples/orbit/scene.pov" "$T/tgz/"
printf '[job]\nframes = 1\n[render]\nscene = scene.pov\nwidth = 64\nheight = 48\n' >"$T/tgz/job.ini"
tar -C "$T/tgz" -czf "$T/viatgz.tgz" scene.pov job.ini
mv "$T/viatgz.tgz" "$SPOOL/inbox/viatgz.tgz"
hotfarm watch viatgz >"$T/watch2" 2>&1
check "watch of a job just dropped as NAME.tgz follows it to done (exit $?)" grep -q "^viatgz done" "$T/watch2"

# views
hotfarm jobs --json >"$T/jobs.json"
check "jobs --json lists every job with owner and state" python3 -c "
import json; j={x['name']:x for x in json.load(open('$T/jobs.json'))}
assert j['scene']['state']=='done' and j['scene']['owner']=='ann' and j['scene']['frames_done']==4, j"
hotfarm hosts --json >"$T/hosts.json"
check "hosts --json has the record, state and packages" python3 -c "
import json; h=json.load(open('$T/hosts.json'))[0]
assert h['name']=='h1' and h['state']=='up' and h['slots']==2 and 'povray' in h['packages'] and int(h['cpus'])>0, h"
hotfarm hosts >"$T/hosts.txt"
check "hosts shows OS, CPUs, RAM and packages" sh -c "grep -q 'os:' '$T/hosts.txt' && grep -q 'cpus:' '$T/hosts.txt' && grep -q 'ram:' '$T/hosts.txt' && grep -q 'povray 3.7' '$T/hosts.txt'"
hotfarm log scene 2 >"$T/log"
check "log NAME FRAME prints the frame's log (alone or in a run)" grep -Eq '^# hotfarm: job scene (frame 2|frames [0-9]+-[0-9]+) attempt 1' "$T/log"
hotfarm log scene 99 2>/dev/null
check "log of a frame never rendered: 100" [ $? -eq 100 ]

# slots while something renders; kill-frame
mkdir -p "$T/slow"
cat >"$T/slow/job.ini" <<'INI'
[job]
frames = 1
retries = 0
[render]
package = command
scene = run.sh
args = sh {files}/run.sh
INI
# an odd length, so that pgrep finds only ours (other tests may run beside)
SLOW=30.$(($$ % 10000))
printf 'sleep %s\n' "$SLOW" >"$T/slow/run.sh"
drop_dir slow "$T/slow"
busy() { hotfarm slots --json | python3 -c "import json,sys; sys.exit(0 if any(s['state']=='busy' and s['job']=='slow' for s in json.load(sys.stdin)) else 1)"; }
check "slots --json shows the busy slot and its job" wait_for 20 busy
hotfarm kill-frame slow 1 >/dev/null
check "kill-frame stops it: the frame fails" wait_for 10 job_failed slow
check "with a reason a person understands" grep -q "stopped by a user" "$SPOOL/jobs/slow/status.ini"
check "and the sleep is gone" wait_for 5 sh -c "! pgrep -x -f 'sleep $SLOW' >/dev/null"

# retry: a job that fails until a flag exists
mkdir -p "$T/flaky"
cat >"$T/flaky/job.ini" <<INI
[job]
frames = 1-2
retries = 0
[render]
package = command
scene = run.sh
width = 64
height = 48
args = sh {files}/run.sh {frame} {output}
INI
# (renders are confined to their job folder: the scene and the flag are in it)
cp "$HF_ROOT/examples/orbit/scene.pov" "$T/flaky/scene.pov"
cat >"$T/flaky/run.sh" <<'SH'
cd "$(dirname "$0")" && [ -e flag ] || exit 1
povray -D -V +Iscene.pov +O"$2" +W64 +H48 +FN +KFI1 +KFF2 +SF$1 +EF$1
SH
drop_dir flaky "$T/flaky"
check "a failing job ends in failed/" wait_for 30 job_failed flaky
touch "$SPOOL/jobs/flaky/files/flag"
hotfarm retry flaky >"$T/retry"
check "retry puts the failed frames back" grep -q "2 failed tickets back" "$T/retry"
check "and the job renders to the end" wait_for 60 job_done flaky

# drain: nothing new is taken; undrain: it is
hotfarm drain h1 >/dev/null
draining() { hotfarm hosts --json | grep -q '"state":"draining"'; }
check "a drained host shows as draining" wait_for 5 draining
povray_job "$T/later" 1-2
drop_dir later "$T/later"
wait_for 10 queued later
sleep_until=$(($(date +%s) + 3))
while [ "$(date +%s)" -lt $sleep_until ] && [ -z "$(ls "$SPOOL/jobs/later/frames/active" "$SPOOL/jobs/later/frames/done" 2>/dev/null)" ]; do sleep 0.1; done
check "a draining host takes no new frames (3 s)" [ -z "$(ls "$SPOOL/jobs/later/frames/done")" -a -z "$(ls "$SPOOL/jobs/later/frames/active")" ]
hotfarm undrain h1 >/dev/null
check "undrain: it renders again" wait_for 60 job_done later

# a job after one that failed fails too, saying why
mkdir -p "$T/dep"
povray_job "$T/dep" 1-2
sed -i 's/^\[job\]$/[job]\nafter = slow/' "$T/dep/job.ini"
drop_dir dep "$T/dep"
check "a job after a failed one fails" wait_for 20 job_failed dep
# its status.ini follows the move to failed/ a moment later
check "saying which one it waited for" wait_for 10 grep -q "slow, which it waits for, failed" "$SPOOL/jobs/dep/status.ini"

# billing
hotfarm billing --csv >"$T/bill.csv"
check "billing --csv has a row per job and per owner" sh -c "grep -q '^ann,scene,4,' '$T/bill.csv' && grep -q '^ann,(all),4,' '$T/bill.csv'"
hotfarm billing --owner ann --json >"$T/bill.json"
check "billing --owner keeps that owner's jobs" python3 -c "
import json; b=json.load(open('$T/bill.json')); assert [j['job'] for j in b['jobs']]==['scene'] and b['owners'][0]['frames']==4, b"
hotfarm billing --since 2999-01-01 --csv >"$T/bill2.csv"
check "billing --since drops older jobs" [ "$(wc -l <"$T/bill2.csv")" -eq 1 ]
hotfarm billing --since yesterday 2>/dev/null
check "a bad date: 100" [ $? -eq 100 ]
for c in submit watch jobs hosts slots log retry kill-frame drain undrain billing; do
	hotfarm "$c" --help | grep -q "usage: hotfarm $c"
	check "hotfarm $c --help" [ $? -eq 0 ]
done
done_testing
