# t-sites-refuse.sh - an `auto` job refused by the site it was sent to is
# routed again, to another site: x links y and z; y's last summary (as x
# knows it) promises a POV-Ray host, but y has none when the job arrives,
# so y refuses it with its reason; x then sends it to z, which renders it.
. "$(dirname "$0")/lib.sh"

site x
site y
site z
link x y
link x z
link y x
link z x
SPOOL=$T/z
start_watcherd
start_agent z1 --slots 1
SPOOL=$T/x
start_watcherd
heard_z() { grep -q '^\[host z z1\]' "$T/x/sites/z/summary.ini" 2>/dev/null; }
check "x hears z's summary" wait_for 20 heard_z

# what y said a moment ago (y's daemon is down now): four free POV-Ray slots
cat >"$T/summary" <<EOF
[summary]
site = y
hosts = 1
slots = 4
busy = 0
queued_jobs = 0
frames_waiting = 0

[host y y1]
site = y
hops = 1
slots = 4
package.povray = 3.7.0.10
EOF
mv "$T/summary" "$T/x/sites/y/in/site.summary"
heard_y() { grep -q '^\[host y y1\]' "$T/x/sites/y/summary.ini" 2>/dev/null; }
check "x takes y's summary" wait_for 20 heard_y

povray_job "$T/job" 1-2
printf '[job]\nsite = auto\n' >>"$T/job/job.ini"
drop_dir hop "$T/job"
arrived_y() { [ -f "$T/y/sites/x/in/hop.job.tar" ]; }
check "x sends the auto job to y, the better offer" wait_for 30 arrived_y
check "and notes where it went" grep -q '^site = y' "$T/x/jobs/hop/outsourced.ini"

SPOOL=$T/y
start_watcherd
SPOOL=$T/x
refused_y() { grep -q 'site y refused it' "$T/x.watcherd.log"; }
check "y, with no host after all, refuses it; x hears why" wait_for 30 refused_y
check "x then routes it to z, and it comes back done" wait_for 120 in_state done hop
check "z rendered it" grep -q '^site = z' "$T/x/jobs/hop/outsourced.ini"
check "and x remembers that y refused it" grep -q '^refused = y' "$T/x/jobs/hop/outsourced.ini"
check "its frames are at x" [ "$(ls "$T/x/jobs/hop/output" | grep -c '^f_000[12]\.png$')" -eq 2 ]
check "y kept nothing of it queued" sh -c "! ls '$T/y/queue' '$T/y/new' | grep -q hop"
done_testing
