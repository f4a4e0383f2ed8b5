# t-sites-refuse.sh - an `auto` job refused by the site it was sent to is
# routed again, to another site: x links y and z; y's last summary (as x
# knows it) promises a POV-Ray host, but y has none when the job arrives,
# so y refuses it with its reason; x then sends it to z, which renders it.
# While y is down, answers "from y" that climb out (.., absolute paths,
# links out, devices) are refused by x as intake refuses a dropped archive,
# and write nothing outside.
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

# hostile answers for hop, as a broken or hostile y could send them: each
# holds a result.ini saying done, then one entry intake would refuse too
printf 'kept\n' >"$T/secret"
python3 - "$T/hostile" "$T/escaped" "$T/secret" <<'PY'
import io, sys, tarfile
out, target, secret = sys.argv[1:]
up = "../" * 30  # from anywhere beneath the spool up to /
def entry(name, kind=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mode = kind, len(data), 0o644
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, io.BytesIO(data) if data else None
kinds = {
    "dotdot": [entry(up + target.lstrip("/"), data=b"x")],
    "absolute": [entry(target, data=b"x")],
    "symlink": [entry("output/out", tarfile.SYMTYPE, linkname=up + target.lstrip("/").rsplit("/", 1)[0]),
                entry("output/out/escaped", data=b"x")],
    "hardlink": [entry("output/f_0001.png", tarfile.LNKTYPE, linkname=up + secret.lstrip("/"))],
    "device": [entry("output/f_0001.png", tarfile.CHRTYPE, devmajor=1, devminor=3)],
}
for kind, rest in kinds.items():
    with tarfile.open(f"{out}.{kind}.tar", "w", format=tarfile.GNU_FORMAT) as tf:
        for ti, f in [entry("result.ini", data=b"[result]\njob = hop\nstate = done\n")] + rest:
            tf.addfile(ti, f)
PY
n=0
for kind in dotdot absolute symlink hardlink device; do
	n=$((n + 1))
	mv "$T/hostile.$kind.tar" "$T/x/sites/y/in/hop.result.tar"
	refused() { [ "$(count "$T/x/sites/y/rejected")" -eq "$n" ] && [ ! -e "$T/x/sites/y/in/hop.result.tar" ]; }
	check "x refuses a result from y with a $kind entry" wait_for 30 refused
done
# with intake's own reasons (intake's words for a dropped archive)
said() { grep 'site y sent hop.result.tar, which is refused' "$T/x.watcherd.log" | grep -q "$1"; }
check "'..': it climbs out (as intake says)" said "climbs out of the job with '\.\.'"
check "an absolute path (as intake says)" said "an absolute path"
check "a symbolic link out (as intake says)" said "a symbolic link 'output/out' to .*which points out of the job"
check "a hard link out (as intake says)" said "a hard link 'output/f_0001.png' to .*which is not a file inside the job"
check "a device node (as intake says)" said "'output/f_0001.png', a device node"
check "nothing was written outside (no $T/escaped)" [ ! -e "$T/escaped" ]
check "nothing was linked to an outside file" [ "$(stat -c %h "$T/secret")" -eq 1 ]
check "the job is still out at y, with no frames" sh -c "ls '$T/x/outsourced' | grep -q -- '-hop\$' && [ -z \"\$(ls -A '$T/x/jobs/hop/output')\" ]"
check "and nothing is left in x's work/" [ -z "$(work_left "$T/x")" ]

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
