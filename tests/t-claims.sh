# t-claims.sh - many agents on one job: the claim walk spreads them out
# (a lost claim leaps ahead) yet every ticket is taken once, the samples
# first and the rest in order in the large, also with agents SIGKILLed.
. "$(dirname "$0")/lib.sh"

AGENTS=24
FRAMES=12000
new_spool
rm -f "$SPOOL/conf/packages/"*.ini # no renderer start-up probes
printf '[package]\nbuiltin = null\ndescription = "claims only"\n' >"$SPOOL/conf/packages/null.ini"
start_watcherd
mkdir -p "$T/job"
echo x >"$T/job/s"
printf '[job]\nframes = 1-%s\n[render]\npackage = null\nscene = s\n' "$FRAMES" >"$T/job/job.ini"
drop_dir many "$T/job"
check "the job of $FRAMES tickets is queued" wait_for 60 in_state queue many
hotfarm hold many >/dev/null
TODO=$SPOOL/jobs/many/frames/todo
tickets=$(ls "$TODO" | wc -l)
ls "$TODO" | sort >"$T/order" # the samples-first order every agent lists
victims=""
for a in $(seq 1 $AGENTS); do
	start_agent "a$a" --slots 1 || break
	[ "$a" -le 3 ] && victims="$victims $AGENT"
done
check "$AGENTS agents of one slot are up" [ "$(ls "$SPOOL/hosts" | wc -l)" -eq $AGENTS ]
hotfarm release many >/dev/null
check "the job is done" wait_for 120 job_done many
DONE=$SPOOL/jobs/many/frames/done
left() { ls "$SPOOL/jobs/$1/frames/todo" "$SPOOL/jobs/$1/frames/active" "$SPOOL/jobs/$1/frames/failed" | grep -v ':$' | grep -c .; }
all_done() { [ "$(ls "$SPOOL/jobs/$1/frames/done" | wc -l)" -eq "$tickets" ] && [ "$(left "$1")" -eq 0 ]; }
check "every ticket is in done/ ($(ls "$DONE" | wc -l) of $tickets), none anywhere else ($(left many))" all_done many
check "each is the one it was" sh -c "ls '$DONE' | sort | cmp -s - '$T/order'"

# The order they were taken in: a null ticket is done the moment it is
# claimed, so done/'s change times give it. The samples come first, and
# in the large the listing's order holds: the first tenth of it was done
# well before the last tenth.
(cd "$DONE" && stat -c '%.9Z %n' -- *) | sort -n | cut -d' ' -f2 >"$T/taken"
# both: NAME LISTED-AT TAKEN-AT
awk 'NR == FNR { at[$1] = FNR; next } { print $1, at[$1], FNR }' "$T/order" "$T/taken" >"$T/both"
# (a ticket counts as taken when its agent finished it, a moment after its
# claim: an agent the scheduler put aside between the two, on a busy
# machine, finishes its sample late by a thousand tickets or more; one the
# walk passed over would be taken only at the end, from a new listing)
samples=$(awk '$2 <= 9 { if ($3 > m) m = $3 } END { print m + 0 }' "$T/both")
check "the 9 sample frames were taken in the first half (the last as number $samples of $tickets)" \
	[ "$samples" -le $((tickets / 2)) ]
firsts=$(awk -v n="$tickets" '$2 <= n / 10 { s += $3; c++ } END { printf "%d", s / c }' "$T/both")
lasts=$(awk -v n="$tickets" '$2 > n * 9 / 10 { s += $3; c++ } END { printf "%d", s / c }' "$T/both")
check "the listing's first tenth was taken early (on average as number $firsts)" [ "$firsts" -lt $((tickets * 4 / 10)) ]
check "its last tenth late (on average as number $lasts)" [ "$lasts" -gt $((tickets * 6 / 10)) ]

# three agents SIGKILLed while a second job is under way: what they held
# goes back when their heartbeat is late, and the others take it
drop_dir more "$T/job"
check "a second job is queued" wait_for 60 in_state queue more
under_way() { [ "$(ls "$SPOOL/jobs/more/frames/done" | wc -l)" -gt $((tickets / 4)) ]; }
check "and under way" wait_for 60 under_way
kill -KILL $victims
gone() { for p in $victims; do ! alive "$p" || return 1; done; }
check "three agents are killed midway" wait_for 10 gone
check "the second job is done" wait_for 120 job_done more
n=$(ls "$SPOOL/jobs/more/frames/done" | wc -l)
check "every ticket of it is in done/ ($n of $tickets), none anywhere else ($(left more))" all_done more
check "$AGENTS - 3 agents are still up" [ "$(pgrep -c -f "render-agent --spool $SPOOL ")" -eq $((AGENTS - 3)) ]
done_testing
