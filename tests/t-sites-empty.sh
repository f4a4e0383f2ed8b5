# t-sites-empty.sh - a site that is briefly empty refuses nothing: a job
# sent to site b before b's render agent has started waits at b, saying so
# at both ends, and renders once the agent starts (5 s later); a host that
# stopped keeps its record, so a job it could render waits for it too. A
# site refuses only what no host of it ever offered.
. "$(dirname "$0")/lib.sh"

why() { sed -n 's/^reason = //p' "$T/$1/jobs/$2/status.ini" 2>/dev/null | tr -d '"'; }
says() { why "$1" "$2" | grep -qF -- "$3"; }

linked_pair a b
on b
start_watcherd
on a
start_watcherd
has_summary() { [ -f "$T/$1/sites/$2/summary.ini" ]; }
check "site a hears site b's summary (no host there yet)" wait_for 20 has_summary a b

# 1. a job for b before any agent of b ever ran
povray_job "$T/early" 1-2
printf '[job]\nsite = b\n' >>"$T/early/job.ini"
drop_dir early "$T/early"
sent=$(date +%s)
at_b() { ls "$T/b/queue" 2>/dev/null | grep -q -- '-early@a$'; }
check "b queues the job although no render host has registered there" wait_for 30 at_b
b_says() { hotfarm --spool "$T/b" status early@a 2>&1 | grep -q "no render host"; }
check "b says why it waits (hotfarm status at b: $(hotfarm --spool "$T/b" status early@a 2>&1 | grep -m1 'render host'))" \
	wait_for 20 b_says
check "a hears it, and says so too ($(why a early))" wait_for 30 says a early "at site b"
check "in words: no render host ($(why a early))" wait_for 30 says a early "no render host"
check "a does not take it for refused" sh -c "! grep -q 'refused' '$T/a.watcherd.log' && ls '$T/a/outsourced' | grep -q -- '-early\$'"
five() { [ "$(date +%s)" -ge $((sent + 5)) ]; }
wait_for 30 five
on b
start_agent b1 --slots 1
on a
check "once b's agent runs (5 s after the job was sent), the job comes back done" wait_for 120 in_state done early
check "with its frames" [ "$(ls "$T/a/jobs/early/output" | grep -c '^f_000[12]\.png$')" -eq 2 ]

# 2. b's host stops cleanly: its record stays, and a job it could render
# waits for it rather than being refused
on b
kill -TERM "$AGENT"
wait "$AGENT"
on a
check "the stopped host's record stays at b, offline" sh -c "hotfarm --spool '$T/b' hosts | grep -q '^b1: offline'"
povray_job "$T/later" 1-2
printf '[job]\nsite = b\n' >>"$T/later/job.ini"
drop_dir later "$T/later"
at_b2() { ls "$T/b/queue" 2>/dev/null | grep -q -- '-later@a$'; }
check "a job b's stopped host could render is queued at b" wait_for 30 at_b2
check "and a hears why it waits ($(why a later))" wait_for 30 says a later "no render host is running"

# 3. what no host of b ever offered is refused, with the reason
povray_job "$T/nope" 1
printf '[job]\nsite = b\n[requires]\nos = plan9\n' >>"$T/nope/job.ini"
drop_dir nope "$T/nope"
check "a job needing what no host of b ever offered is refused by b" wait_for 60 in_state failed nope
check "saying what is missing ($(sed -n 's/^reason = //p' "$T/a/jobs/nope/status.ini"))" \
	grep -q "^reason = .*site b.*os = plan9" "$T/a/jobs/nope/status.ini"

on b
start_agent b1 --slots 1
on a
check "the waiting job renders once b's host is back" wait_for 120 in_state done later
stop_pids
done_testing
