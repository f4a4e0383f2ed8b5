# t-access.sh - who may do what on a shared spool (issue 18): real users
# alice and bob (group artists) and wrangler (also in wranglers, the
# admins), each command run as them. Every attack the issue lists fails,
# artists steer their own jobs and not others', the wrangler steers all,
# the audit log names who did what, and the farm keeps working.
. "$(dirname "$0")/lib.sh"
. "$HF_ROOT/tests/users.sh"

if [ "$(id -u)" != 0 ]; then
	ok "# SKIP the test's users need root"
	done_testing
fi
check "the studio's users are there" test_users || done_testing

# ---- the layout: init --group passes the farm's own check; the old one fails ----
new_spool
check "hotfarm init --group artists lays the spool out" sh -c "hotfarm init --group artists '$SPOOL' >'$T/init.out'"
sed 's/^/# /' "$T/init.out"
check "inbox/, cancel/, requests/: the artists' group may write, sticky (3770)" sh -c "
	for d in inbox cancel requests; do [ \"\$(stat -c %a:%G '$SPOOL/'\$d)\" = 3770:artists ] || exit 1; done"
check "conf/ and the state folders: the farm's only (755)" sh -c "
	for d in conf conf/packages queue jobs held cancelled run answers; do [ \"\$(stat -c %a '$SPOOL/'\$d)\" = 755 ] || exit 1; done"
check "the laid-out spool passes the farm's check (hotfarm init: safe, exit 0)" sh -c "
	hotfarm init '$SPOOL' | grep -q 'safe to share'"
printf '[site]\nadmins = wranglers\n' >>"$SPOOL/conf/hotfarm.ini"

OLD=$T/old
hotfarm init "$OLD" >/dev/null
find "$OLD" -type d -exec chmod g+ws {} +   # the README's old install step
check "the old layout fails the check: hotfarm init names conf/ and exits 100" sh -c "
	hotfarm init '$OLD' >'$T/old.out'; [ \$? = 100 ] && grep -q '^unsafe: conf/ is writable by group' '$T/old.out'"
watcherd --spool "$OLD" 2>"$T/old.err"; rc=$?
check "watcherd refuses to start on it (exit 100)" [ "$rc" = 100 ]
check "... saying why and how to fix it" grep -q "is not safe to share: .*hotfarm init --repair $OLD.*--insecure" "$T/old.err"
render-agent --spool "$OLD" 2>"$T/old-agent.err"; rc=$?
check "render-agent refuses too (exit 100)" [ "$rc" = 100 ]
watcherd --spool "$OLD" --insecure 2>"$T/old-insecure.err" &
_pids="$_pids $!"
check "--insecure starts watcherd anyway, with a warning" wait_for 10 sh -c "
	[ -f '$OLD/run/watcherd.pid' ] && grep -q 'warning.*--insecure' '$T/old-insecure.err'"
kill "$!"; wait "$!" 2>/dev/null
check "hotfarm init --repair mends it" sh -c "hotfarm init --repair '$OLD' >/dev/null && hotfarm init '$OLD' | grep -q 'safe to share'"

start_watcherd
# no agent yet: the jobs wait in the queue while they are steered

# a quick command job in $T/NAME/ (job.ini + in.png), OWNER its claimed owner
job_src() {
	mkdir -p "$T/src/$1"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/src/$1/in.png" 64 48
	printf '[job]\nframes = 1-2\nretries = 0\nowner = %s\nemail = %s@studio.example\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "b_####.png"\nargs = cp {files}/in.png {output}\n' \
		"$2" "$2" >"$T/src/$1/job.ini"
	chmod -R a+rX "$T/src"
}
# as USER, drop job NAME (one archive holding job.ini, the careful way)
drop_as() {
	as "$1" sh -c "tar -C '$T/src/$2' -cf '$SPOOL/inbox/.$2.tar' . && mv '$SPOOL/inbox/.$2.tar' '$SPOOL/inbox/$2.tar'"
}
owner_of() { sed -n 's/^owner = "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$SPOOL/jobs/$1/status.ini"; }

job_src ashot alice
job_src bshot bob
job_src lie bob          # alice's job whose job.ini says it is bob's
check "alice drops a job" drop_as alice ashot
check "bob drops a job" drop_as bob bshot
check "alice drops a job claiming to be bob's" drop_as alice lie
check "all three are queued" wait_for 20 sh -c 'for j in ashot bshot lie; do ls "$0/queue" | grep -q -- "-$j\$" || exit 1; done' "$SPOOL"

# ---- attack: bill someone else ----------------------------------------------------------
check "alice's job is alice's" [ "$(owner_of ashot)" = alice ]
check "bob's job is bob's" [ "$(owner_of bshot)" = bob ]
check "the job claiming bob is alice's: owner is the file's user" [ "$(owner_of lie)" = alice ]
check "... bob stays only as a label, shown beside it" sh -c "
	grep -q '^owner_label = \"\\{0,1\\}bob' '$SPOOL/jobs/lie/status.ini' && hotfarm status lie | grep -q 'owner: *alice (label: bob)'"
check "job.ini records how: [owner] uid $(id -u alice), by = file" sh -c "
	grep -A4 '^\[owner\]' '$SPOOL/jobs/lie/job.ini' | grep -q '^uid = $(id -u alice)' &&
	grep -A4 '^\[owner\]' '$SPOOL/jobs/lie/job.ini' | grep -q '^by = file'"
mkdir -p "$T/sub" && python3 "$HF_ROOT/tests/mkpng.py" good "$T/sub/in.png" 64 48 && chmod -R a+rX "$T/sub"
as alice env USER=bob LOGNAME=bob hotfarm submit "$T/sub/in.png" --name subm --frames 1 --width 64 --height 48 \
	--package command --args 'cp {files}/in.png {output}' --output 'b_####.png' >/dev/null 2>"$T/submit.err"
check "hotfarm submit as alice with USER=bob: the job is alice's" wait_for 20 sh -c "
	[ -f '$SPOOL/jobs/subm/status.ini' ] && grep -q '^owner = \"\\{0,1\\}alice' '$SPOOL/jobs/subm/status.ini'"
# the same into a preset's hot folder: inbox/copies/ is a drop folder as inbox/ is
printf '[job]\nframes = 1\n[render]\npackage = command\nscene = in.png\nwidth = 64\nheight = 48\noutput = "p_####.png"\nargs = cp {files}/in.png {output}\n' \
	>"$SPOOL/conf/presets/copies.ini"
hotfarm init "$SPOOL" >/dev/null 2>&1
check "hotfarm init makes the preset's folder as inbox/ is ($(stat -c '%a %G' "$SPOOL/inbox/copies" 2>&1))" \
	[ "$(stat -c '%a %G' "$SPOOL/inbox/copies")" = "$(stat -c '%a %G' "$SPOOL/inbox")" ]
as alice hotfarm submit "$T/sub/in.png" --name presetsub --preset copies >"$T/presetsub.out" 2>"$T/presetsub.err"
check "alice submits into it with hotfarm submit --preset ($(cat "$T/presetsub.err"))" [ -s "$T/presetsub.out" ]
check "the job the preset describes is alice's" wait_for 20 sh -c "
	[ -f '$SPOOL/jobs/presetsub/status.ini' ] && grep -q '^owner = \"\\{0,1\\}alice' '$SPOOL/jobs/presetsub/status.ini'"
preset_attacks() {
	! as alice rmdir "$SPOOL/inbox/copies" 2>/dev/null && ! as alice mv "$SPOOL/inbox/copies" "$SPOOL/inbox/mine" 2>/dev/null
}
check "alice can neither remove nor rename the preset's folder (sticky inbox/)" preset_attacks

# ---- attack: run code as the farm ---------------------------------------------------------
sum_before=$(sha256sum <"$SPOOL/conf/hotfarm.ini")
as alice sh -c "printf '[notify]\ncommand = /tmp/evil\n' >'$SPOOL/conf/hotfarm.ini'" 2>/dev/null
check "alice cannot rewrite conf/hotfarm.ini" [ "$(sha256sum <"$SPOOL/conf/hotfarm.ini")" = "$sum_before" ]
conf_attacks() {
	! as alice sh -c "echo x >$T/home/alice/x.ini; mv $T/home/alice/x.ini $SPOOL/conf/hotfarm.ini" 2>/dev/null &&
	! as alice sh -c "echo x >$SPOOL/conf/packages/evil.ini" 2>/dev/null &&
	! as alice mv "$SPOOL/conf" "$SPOOL/conf.old" 2>/dev/null &&
	! as alice mkdir "$SPOOL/conf2" 2>/dev/null
}
check "... nor replace it by a rename, nor add a package, nor move conf/ away" conf_attacks

# ---- attack: move other artists' work ---------------------------------------------------------
bentry=$(ls "$SPOOL/queue" | grep -- '-bshot$')
move_attacks() {
	! as alice mv "$SPOOL/queue/$bentry" "$SPOOL/held/$bentry" 2>/dev/null &&
	! as alice mv "$SPOOL/queue/$bentry" "$SPOOL/queue/001-${bentry#*-}" 2>/dev/null &&
	! as alice rm -rf "$SPOOL/jobs/bshot" 2>/dev/null &&
	! as alice mv "$SPOOL/jobs/bshot" "$SPOOL/jobs/bshot.x" 2>/dev/null &&
	! as alice touch "$SPOOL/held/000-0000000000000000-bshot" 2>/dev/null
}
check "alice cannot hold, reprioritise or remove bob's job by renames" move_attacks
check "... it is still queued as it was" [ -f "$SPOOL/queue/$bentry" ]
# a file bob leaves in inbox/ under a temporary name (intake ignores those)
as bob sh -c "echo partial >'$SPOOL/inbox/.bob-upload.tar'"
inbox_attacks() {
	! as alice rm -f "$SPOOL/inbox/.bob-upload.tar" 2>/dev/null &&
	! as alice mv "$SPOOL/inbox/.bob-upload.tar" "$SPOOL/inbox/.mine" 2>/dev/null &&
	! as alice sh -c "echo x >'$SPOOL/inbox/.bob-upload.tar'" 2>/dev/null
}
check "inbox/ is sticky: alice can neither remove, rename nor overwrite bob's file" inbox_attacks
check "... bob's file is as he left it" [ "$(cat "$SPOOL/inbox/.bob-upload.tar")" = partial ]
rm -f "$SPOOL/inbox/.bob-upload.tar"

# ---- steering: artists their own, the wrangler all ------------------------------------------------
as alice hotfarm hold ashot >"$T/out" 2>&1; rc=$?
check "alice: hotfarm hold ashot is done (exit 0, 'ashot held')" [ "$rc" = 0 ] && grep -q 'ashot held' "$T/out"
check "... it is in held/" in_state held ashot
as alice hotfarm hold bshot >"$T/out" 2>&1; rc=$?
check "alice: hotfarm hold bshot is refused (exit 100)" [ "$rc" = 100 ]
check "... with the reason: bob's job, only bob or an admin" grep -q 'bshot belongs to bob; only bob or an admin (group wranglers) may change it, not alice' "$T/out"
check "... bshot is still queued" queued bshot
for a in "cancel bshot" "priority bshot 1" "retry bshot" "kill-frame bshot 1" "release bshot"; do
	# shellcheck disable=SC2086
	as alice hotfarm $a >"$T/out" 2>&1; rc=$?
	check "alice: hotfarm $a is refused" sh -c "[ $rc = 100 ] && grep -q 'belongs to bob' '$T/out'"
done
check "... and bshot is untouched: queued, same entry" [ -f "$SPOOL/queue/$bentry" ]
as alice hotfarm priority ashot 100 >"$T/out" 2>&1; rc=$?
check "alice changes her held job's priority" sh -c "[ $rc = 0 ] && ls '$SPOOL/held' | grep -q '^100-.*-ashot\$'"
as alice hotfarm release ashot >/dev/null 2>&1; rc=$?
check "alice releases her job" sh -c "[ $rc = 0 ] && ls '$SPOOL/queue' | grep -q '^100-.*-ashot\$'"
as alice hotfarm hold nosuchjob >"$T/out" 2>&1; rc=$?
check "a request for a job that does not exist is refused at once" sh -c "[ $rc = 100 ] && grep -q 'no job named nosuchjob' '$T/out'"
as wrangler hotfarm hold bshot >"$T/out" 2>&1; rc=$?
check "the wrangler holds bob's job" sh -c "[ $rc = 0 ] && ls '$SPOOL/held' | grep -q -- '-bshot\$'"
as wrangler hotfarm release bshot >/dev/null 2>&1; rc=$?
check "the wrangler releases it" sh -c "[ $rc = 0 ] && ls '$SPOOL/queue' | grep -q -- '-bshot\$'"
as wrangler hotfarm priority lie 200 >/dev/null 2>&1; rc=$?
check "the wrangler reprioritises alice's job" sh -c "[ $rc = 0 ] && ls '$SPOOL/queue' | grep -q '^200-.*-lie\$'"
check "requests/ is left empty" sh -c "[ -z \"\$(ls -A '$SPOOL/requests')\" ]"

# ---- attack: cancel a job before it exists; cancel/ under the same rule ---------------------------
as alice touch "$SPOOL/cancel/later"
check "alice's cancel/later (no such job yet) is refused at once: removed" wait_for 10 sh -c "[ ! -e '$SPOOL/cancel/later' ]"
job_src later bob
drop_as bob later
check "bob's later job arrives and is queued, not cancelled" wait_for 20 queued later
as alice touch "$SPOOL/cancel/later"
check "alice's cancel/later now that it is bob's: refused, removed" wait_for 10 sh -c "[ ! -e '$SPOOL/cancel/later' ]"
check "... later is still queued" queued later
as bob touch "$SPOOL/cancel/later"
check "bob's own cancel/later cancels it" wait_for 10 in_state cancelled later

# ---- hostile request files ---------------------------------------------------------------------
as alice sh -c "printf '[request]\naction = hold\njob = bshot\n' >'$T/home/alice/r.req'; ln -s '$T/home/alice/r.req' '$SPOOL/requests/link.req'"
as alice mkfifo "$SPOOL/requests/fifo.req"
as alice sh -c "printf 'garbage\0\1\2' >'$SPOOL/requests/junk.req'"
as alice sh -c "ln '$T/home/alice/r.req' '$SPOOL/requests/hard.req'" 2>/dev/null
check "a link, a FIFO, garbage and a hard link in requests/ are refused and removed" wait_for 10 sh -c "
	[ -z \"\$(ls -A '$SPOOL/requests')\" ]"
check "... watcherd is alive, bshot still queued" sh -c "kill -0 $WATCHERD && ls '$SPOOL/queue' | grep -q -- '-bshot\$'"
# a hard link in cancel/ to a file bob left writable would speak for bob
chmod 755 "$T/home/bob"
as bob sh -c "echo x >'$T/home/bob/open'; chmod 666 '$T/home/bob/open'"
as alice ln "$T/home/bob/open" "$SPOOL/cancel/bshot" 2>/dev/null
check "alice's hard link to bob's file in cancel/ is refused and removed" wait_for 10 sh -c "[ ! -e '$SPOOL/cancel/bshot' ]"
check "... bshot is still queued" queued bshot

# ---- the audit log ---------------------------------------------------------------------------------
check "run/audit.log: mode 0640, readable by the wranglers" sh -c "[ \"\$(stat -c %a:%G '$SPOOL/run/audit.log')\" = 640:wranglers ]"
as wrangler hotfarm audit >"$T/audit.out" 2>&1; rc=$?
sed 's/^/# /' "$T/audit.out"
check "the wrangler reads it (hotfarm audit)" [ "$rc" = 0 ]
check "it names alice's refused hold of bob's job" grep -Eq 'alice +hold +bshot +refused' "$T/audit.out"
check "... alice's own hold, done" grep -Eq 'alice +hold +ashot +done' "$T/audit.out"
check "... the wrangler's hold of bshot" grep -Eq 'wrangler +hold +bshot +done' "$T/audit.out"
check "... bob's cancel of later, and alice's refused one" sh -c "
	grep -Eq 'bob +cancel +later +done' '$T/audit.out' && grep -Eq 'alice +cancel +later +refused' '$T/audit.out'"
check "... the drops, with their owners" grep -Eq 'alice +drop +lie +accepted' "$T/audit.out"
as wrangler hotfarm audit --user bob >"$T/audit-bob.out" 2>&1
check "hotfarm audit --user bob shows only bob's" sh -c "[ -s '$T/audit-bob.out' ] && ! grep -Eq '^[^ ]+ +(alice|wrangler) ' '$T/audit-bob.out'"
as alice hotfarm audit >/dev/null 2>"$T/audit-alice.err"; rc=$?
check "alice may not read the audit log" sh -c "[ $rc = 111 ] && grep -q 'readable by' '$T/audit-alice.err'"

# ---- crash-only: a request made while watcherd is down is carried out when it is back ------------
kill -KILL "$WATCHERD"; wait "$WATCHERD" 2>/dev/null
as alice env HOTFARM_ANSWER_WAIT=200 hotfarm hold ashot >"$T/out" 2>&1; rc=$?
check "with watcherd killed, alice's hold gets no answer (exit 111, saying the request waits)" sh -c "
	[ $rc = 111 ] && grep -q 'no answer from watcherd' '$T/out' && [ -n \"\$(ls '$SPOOL/requests')\" ]"
start_watcherd
check "watcherd, restarted, carries it out (ashot held) and empties requests/" wait_for 10 sh -c "
	ls '$SPOOL/held' | grep -q -- '-ashot\$' && [ -z \"\$(ls -A '$SPOOL/requests')\" ]"
as alice hotfarm release ashot >/dev/null 2>&1

# ---- the farm keeps working for everyone ------------------------------------------------------------
start_agent a --slots 2
check "every job not cancelled is done" wait_for 60 sh -c 'for j in ashot bshot lie subm; do ls "$0/done" | grep -q -- "-$j\$" || exit 1; done' "$SPOOL"
hotfarm billing --csv >"$T/bill.csv"
check "billing is by the verified owner: alice has ashot, lie and subm; bob has bshot" sh -c "
	grep -q '^alice,ashot,' '$T/bill.csv' && grep -q '^alice,lie,' '$T/bill.csv' && grep -q '^alice,subm,' '$T/bill.csv' &&
	grep -q '^bob,bshot,' '$T/bill.csv' && ! grep -q '^bob,lie,' '$T/bill.csv'"
done_testing
