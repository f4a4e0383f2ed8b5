# t-sites.sh - linked sites end to end: spools on one machine linked by a
# local transport (hotfarm sync --serve of the other spool). A job asking
# for site b renders there and its frames come back pixel-identical to
# povray by hand; `auto` goes where a host can render it; a site that
# cannot serve a job refuses it with a reason; a cancel reaches the remote
# renders; three sites forward a job over two hops and refuse a loop.
. "$(dirname "$0")/lib.sh"

status_of() { sed -n "s/^$2 = //p" "$T/$1/jobs/$3/status.ini" 2>/dev/null; }

linked_pair a b
# a's artists get mail (a stand-in for sendmail -t keeps each message)
mkdir -p "$T/mail"
printf '#!/bin/sh\ncat >"%s/mail/msg.$(date +%%s%%N).$$"\n' "$T" >"$T/capture"
chmod +x "$T/capture"
printf '[notify]\ncommand = %s\n' "$T/capture" >>"$T/a/conf/hotfarm.ini"
start_pair
has_summary() { [ -f "$T/$1/sites/$2/summary.ini" ]; }
check "site a hears site b's summary (its hosts and load)" wait_for 20 has_summary a b
lists_b1() { grep -q '^\[host b b1\]' "$T/a/sites/b/summary.ini" && grep -q '^package.povray = ' "$T/a/sites/b/summary.ini"; }
check "the summary lists b's host with POV-Ray" wait_for 20 lists_b1
hotfarm --spool "$T/a" sites >"$T/sites.txt"
check "hotfarm sites shows b, heard lately, with its host ($(sed -n 2p "$T/sites.txt"))" grep -q '^b  *[0-9]*s ago  *1  *2 ' "$T/sites.txt"
check "and as JSON" sh -c "hotfarm --spool '$T/a' --json sites | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[0][\"site\"] == \"b\" and d[0][\"slots\"] == 2'"

# 1. site = B (site names are case-blind): rendered at b, frames back at a
povray_job "$T/remote" 1-4
printf '[job]\nsite = B\nemail = artist@example.com\nowner = ann\n' >>"$T/remote/job.ini"
drop_dir remote "$T/remote"
check "a job asking for site B (linked as b) is outsourced" wait_for 20 in_state outsourced remote
check "it renders at b and comes back done" wait_for 120 in_state done remote
O=$T/a/jobs/remote/output
check "at b, hotfarm log takes the peer's job by its name there (remote@a)" \
	sh -c "hotfarm --spool '$T/b' log remote@a 1 2>&1 | grep -q '^# hotfarm: job remote@a frame'"
check "4 frames in a's output/ ($(ls "$O" 2>/dev/null | tr '\n' ' '))" [ "$(ls "$O" | grep -c '^f_000[1-4]\.png$')" -eq 4 ]
mkdir -p "$T/hand"
bad=""
for f in 1 2 3 4; do
	(cd "$T/remote" && povray -D -V +Iscene.pov +O"$T/hand/r$f.png" +W64 +H48 +FN +KFI1 +KFF4 +SF$f +EF$f) >/dev/null 2>&1
	h=$(pixels "$T/hand/"r$f*.png)
	[ -n "$h" ] && [ "$(pixels "$O/f_000$f.png")" = "$h" ] || bad="$bad $f"
done
check "every frame is pixel-identical to povray by hand (differ:$bad)" [ -z "$bad" ]
check "b kept the job beneath sites/a/, not beside its own jobs" sh -c "[ -d '$T/b/sites/a/jobs/remote' ] && [ ! -e '$T/b/jobs/remote' ]"
check "b's entry names the sender (remote@a)" sh -c "ls '$T/b/done' | grep -q -- '-remote@a\$'"
check "at b the job is site a's, with the owner a reports beside it: site:a (ann)" \
	sh -c "hotfarm --spool '$T/b' status remote@a | grep -q 'owner: *site:a (ann)'"
check "at a it is ann's (its submitter, the farm's user, names her)" \
	sh -c "hotfarm --spool '$T/a' status remote | grep -q 'owner: *ann\$'"
where() { status_of a reason remote | grep -q 'at site b'; }
check "a's status says where it was rendered ($(status_of a reason remote))" where
check "a's status counts 4 frames done" [ "$(status_of a frames_done remote)" = 4 ]
check "a's billing names b's host" grep -q '^hosts = b1$' "$T/a/jobs/remote/billing.ini"
mailed() { grep -q '^=== final ' "$T/a/jobs/remote/notifications.log" 2>/dev/null; }
check "the artist at a is mailed when it comes back" wait_for 20 mailed
check "the mail says it was rendered at site b" sh -c "grep -l 'Subject: .hotfarm. remote done' '$T'/mail/* | xargs grep -q 'at site b'"
check "b's render logs came along" [ -n "$(ls "$T/a/jobs/remote/logs/site-b" 2>/dev/null)" ]
hot_empty() { [ -z "$(ls "$T/a/sites/b/in" "$T/b/sites/a/in" "$T/a/sites/b/out" "$T/b/sites/a/out" | grep -v 'summary\|^$\|:$')" ]; }
check "nothing is left in the hot folders" wait_for 10 hot_empty

# 2. auto: a has no render host; b has one, so it goes there
on a
povray_job "$T/auto1" 1-2
printf '[job]\nsite = auto\n' >>"$T/auto1/job.ini"
drop_dir auto1 "$T/auto1"
check "an auto job with no local host goes to the site that has one" wait_for 120 in_state done auto1
check "and was rendered at b" grep -q "^site = b" "$T/a/jobs/auto1/outsourced.ini"

# 2b. auto with a host here: a job that fits stays; one that would wait
# longer than [site] auto_wait (5 s here) behind a long queue goes to b
sed -i 's/^summary = 1$/summary = 1\nauto_wait = 5s/' "$T/a/conf/hotfarm.ini"
on a
start_agent a1 --slots 1
A1=$AGENT
povray_job "$T/near" 1-2
printf '[job]\nsite = auto\n' >>"$T/near/job.ini"
drop_dir near "$T/near"
check "an auto job that fits here renders here" wait_for 60 in_state done near
check "and was not sent anywhere" [ ! -e "$T/a/jobs/near/outsourced.ini" ]
povray_job "$T/big" 1-300 320 240
drop_dir big "$T/big"
busy_a() { grep -q 'state = busy' "$T/a/hosts/a1/slot.0"; }
check "a long local job keeps a's one slot busy" wait_for 30 busy_a
povray_job "$T/busy" 1-2
printf '[job]\nsite = auto\n' >>"$T/busy/job.ini"
drop_dir busy "$T/busy"
check "an auto job that would wait too long here goes to b and is done there" wait_for 60 in_state done busy
check "b rendered it" grep -q '^site = b' "$T/a/jobs/busy/outsourced.ini"
hotfarm cancel big >/dev/null
kill -TERM "$A1"; wait "$A1" 2>/dev/null

# 3. a site that cannot serve a job refuses it; a hears why
povray_job "$T/nope" 1-2
printf '[job]\nsite = b\n[requires]\nos = plan9\n' >>"$T/nope/job.ini"
drop_dir nope "$T/nope"
check "a job b cannot render ends failed at a" wait_for 60 in_state failed nope
why_nope() { status_of a reason nope | grep -q 'site b refused it.*os = plan9'; }
check "with b's reason ($(status_of a reason nope))" why_nope

# 4. cancel at a reaches b and stops the renders there; progress flows back
povray_job "$T/long" 1-400 320 240
printf '[job]\nsite = b\n' >>"$T/long/job.ini"
drop_dir long "$T/long"
progress() { status_of a reason long | grep -q 'at site b: [1-9][0-9]* of 400 frames done'; }
check "progress from b shows at a while it renders" wait_for 120 progress
check "samples came back early" wait_for 30 sh -c "ls '$T/a/jobs/long/previews' | grep -q png"
on a
hotfarm cancel long >/dev/null
check "the cancel reaches b" wait_for 30 sh -c "ls '$T/b/cancelled' | grep -q -- '-long@a\$'"
idle() { ! grep -q 'state = busy' "$T/b/hosts/b1/slot.0" "$T/b/hosts/b1/slot.1"; }
check "and b's renders of it stop" wait_for 30 idle
check "a keeps it cancelled" in_state cancelled long

# 5. three sites: a reaches c through b; c renders; a loop is refused
site c
link c b
link b c
on c
start_watcherd
start_agent c1 --slots 1
stop_pids_b() { kill -TERM "$WB"; wait "$WB" 2>/dev/null; }
# b learns of c (its config changed): restart b's daemon without its agent
kill -TERM "$WB"; wait "$WB" 2>/dev/null
pkill -TERM -f "render-agent --spool $T/b " ; while pgrep -f "render-agent --spool $T/b " >/dev/null; do sleep 0.05; done
on b
start_watcherd
reaches_c() { grep -q '^\[host c c1\]' "$T/a/sites/b/summary.ini" 2>/dev/null; }
check "a learns through b's summary that it reaches c's host" wait_for 30 reaches_c
on a
povray_job "$T/far" 1-2
printf '[job]\nsite = c\n' >>"$T/far/job.ini"
drop_dir far "$T/far"
check "a job for site c, which a does not link to, goes through b and comes back done" wait_for 120 in_state done far
check "c rendered it beneath sites/b/" [ -d "$T/c/sites/b/jobs/far_a" ]
check "b forwarded it (its copy was outsourced to c and is done)" sh -c "ls '$T/b/done' | grep -q -- '-far@a\$'"
check "its frames are at a" [ "$(ls "$T/a/jobs/far/output" | grep -c '^f_000[12]\.png$')" -eq 2 ]

# a loop: b sends c a job whose route says it passed c already
mkdir -p "$T/loop"
cp "$T/far/scene.pov" "$T/loop/"
printf '[job]\nframes = 1\n[render]\nscene = scene.pov\n[route]\nhops = c, a\n' >"$T/loop/job.ini"
tar -C "$T/loop" -cf "$T/loopy.job.tar" .
mv "$T/loopy.job.tar" "$T/c/sites/b/in/loopy.job.tar"
refused_loop() { grep -q 'loop' "$T/b/sites/c/in/loopy.refused" 2>/dev/null || grep -qs 'loop' "$T/b/sites/c/out/loopy.refused"; }
seen_loop() { grep -q 'loopy.*loop\|loop.*loopy' "$T/c.watcherd.log" || ls "$T/c/sites/b/rejected" 2>/dev/null | grep -q loopy; }
check "c refuses a job that has passed through it already" wait_for 30 seen_loop
check "and nothing of it is queued at c" sh -c "! ls '$T/c/queue' '$T/c/new' | grep -q loopy"

# a peer's hostile files in in/ are set aside, never taken
printf 'x' >"$T/c/sites/b/in/evil.bin"
printf '[refused]\nsite = b\njob = nosuch\nreason = x\n' >"$T/c/sites/b/in/nosuch.refused"
check "an unknown kind of file is moved to rejected/" wait_for 30 sh -c "ls '$T/c/sites/b/rejected' | grep -q evil.bin"
check "an answer about a job c never sent is dropped and logged" wait_for 30 grep -q 'nosuch, which this site did not send' "$T/c.watcherd.log"
check "every daemon is still up" sh -c "kill -0 $WA && kill -0 $WATCHERD"

# retain_days: b clears what a sent once its result went back that long ago
sed -i 's/^summary = 1$/summary = 1\nretain_days = 0/' "$T/b/conf/hotfarm.ini"
cleared() { [ ! -e "$T/b/sites/a/jobs/remote" ] && [ ! -e "$T/b/sites/a/.basis/remote.job.tar" ]; }
check "b removes a's finished jobs and their bases after retain_days" wait_for 30 cleared
check "and their entries" sh -c "! ls '$T/b/done' | grep -q -- '-remote@a\$'"
done_testing
