# t-quota.sh - owners' quotas across every agent of the spool: three agents
# race for the frames of two artists' jobs; alice ([quota] slots = 2) never
# has more than 2 renders at once and bob ([quota bob] slots = 3) never more
# than 3, though 9 slots are free; each uses its quota to the full; a job
# held back says so in words; every frame is rendered once. A job that
# names a quota's folder as a limit is refused. The owners are the users
# who dropped the jobs (not what job.ini claims).
. "$(dirname "$0")/lib.sh"
. "$HF_ROOT/tests/users.sh"

if [ "$(id -u)" != 0 ]; then
	ok "# SKIP the test's users need root"
	done_testing
fi
check "the studio's users are there" test_users || done_testing

new_spool
hotfarm init --group artists "$SPOOL" >/dev/null
printf '[quota]\nslots = 2\n[quota bob]\nslots = 3\n[quota pool:gpu]\nslots = 1\n' >>"$SPOOL/conf/hotfarm.ini"
hotfarm pool qc add gpu >/dev/null # qc is in pool gpu, where an owner may have 1 render at once
start_watcherd
start_agent qa --slots 3
start_agent qb --slots 3
start_agent qc --slots 3

# JOB OWNER FRAMES: a command job whose frames take a second and a half
job_src() {
	mkdir -p "$T/src/$1"
	python3 "$HF_ROOT/tests/mkpng.py" good "$T/src/$1/in.png" 64 48
	printf '[job]\nframes = %s\nchunk = 1\nretries = 0\nowner = somebody-else\n[render]\npackage = command\n' "$3" \
		>"$T/src/$1/job.ini"
	printf 'scene = in.png\nwidth = 64\nheight = 48\noutput = "q_####.png"\n' >>"$T/src/$1/job.ini"
	printf 'args = sh -c "sleep 1.5 && cp {files}/in.png {output}"\n' >>"$T/src/$1/job.ini"
	chmod -R a+rX "$T/src"
}
drop_as() { # USER JOB
	as "$1" sh -c "tar -C '$T/src/$2' -cf '$SPOOL/inbox/.$2.tar' . && mv '$SPOOL/inbox/.$2.tar' '$SPOOL/inbox/$2.tar'"
}
job_src a1 alice 1-6
job_src a2 alice 1-4
job_src b1 bob 1-8
drop_as alice a1
drop_as alice a2
drop_as bob b1

# sample the renders of each owner (tickets in active/) until every job is done
maxa=0 maxb=0 maxg=0
active() { cat "$@" 2>/dev/null | wc -l; }
sample() {
	_a=$(ls "$SPOOL/jobs/a1/frames/active" "$SPOOL/jobs/a2/frames/active" 2>/dev/null | grep -c '@')
	_b=$(ls "$SPOOL/jobs/b1/frames/active" 2>/dev/null | grep -c '@')
	[ "$_a" -gt "$maxa" ] && maxa=$_a
	[ "$_b" -gt "$maxb" ] && maxb=$_b
	_g=$(ls "$SPOOL/jobs/b1/frames/active" 2>/dev/null | grep -c '@qc\.')
	[ "$_g" -gt "$maxg" ] && maxg=$_g
	# whichever of alice's jobs intake queued second waits (each intake
	# stamps its job's place when it has built it; two can run at once)
	for _j in a1 a2; do
		[ -z "$said" ] && grep -q '^reason = .*alice already uses 2 of 2 slots' "$SPOOL/jobs/$_j/status.ini" 2>/dev/null &&
			said=$(sed -n 's/^reason = //p' "$SPOOL/jobs/$_j/status.ini")
	done
	return 0
}
said=""
all_done() { sample; job_done a1 && job_done a2 && job_done b1; }
check "the three jobs are rendered" wait_for 180 all_done
check "the owners are the users who dropped them" sh -c "grep -q '^owner = \"\\?alice' '$SPOOL/jobs/a1/status.ini' &&
	grep -q '^owner = \"\\?bob' '$SPOOL/jobs/b1/status.ini'"
check "alice never had more than 2 renders at once (at most $maxa)" [ "$maxa" -le 2 ]
check "and used her quota to the full ($maxa)" [ "$maxa" -eq 2 ]
check "bob never had more than 3 at once (at most $maxb)" [ "$maxb" -le 3 ]
check "and used his to the full ($maxb)" [ "$maxb" -eq 3 ]
check "alice's job that waited said why ($said)" [ -n "$said" ]
check "bob never had more than 1 render at once on the host in pool gpu (at most $maxg)" [ "$maxg" -le 1 ]
billed() { cat "$SPOOL"/jobs/"$1"/frames/done/* | grep -c '^billing = frame=[0-9]* ok=1'; }
check "every frame was rendered once (6, 4, 8: $(billed a1), $(billed a2), $(billed b1))" \
	sh -c "[ $(billed a1) -eq 6 ] && [ $(billed a2) -eq 4 ] && [ $(billed b1) -eq 8 ]"
# (a slot gives its tokens back just after its last ticket is done)
tokens_free() {
	[ -z "$(ls "$SPOOL/limits/quota.u.alice" "$SPOOL/limits/quota.u.bob" | grep '@')" ] &&
		[ "$(ls "$SPOOL/limits/quota.u.alice" | wc -l)" -eq 2 ] && [ "$(ls "$SPOOL/limits/quota.u.bob" | wc -l)" -eq 3 ]
}
check "the quotas' tokens are all free again" wait_for 10 tokens_free

# a job may not take a quota's tokens as its own limit
job_src steal alice 1
sed -i 's/^\[job\]$/[job]\nlimits = quota.u.bob/' "$T/src/steal/job.ini"
drop_as alice steal
check "a job naming a quota's folder as a limit is rejected" wait_for 20 rejected steal
check "saying why ($(reason steal))" sh -c "head -1 '$SPOOL/rejected/steal/reason.txt' | grep -q 'quota'"

check "watcherd and the agents are still running" sh -c "kill -0 $WATCHERD"
stop_pids
done_testing
