#!/bin/sh
# t-clean.sh - housekeeping: ended jobs and rejected/ entries go after
# [retain] days (watcherd by itself) or by hotfarm clean, into the archive
# when one is set; a job waited for stays; a killed clean leaves every job
# whole and listed, or gone, and the next one finishes.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent h1 --slots 2

# a done job, a failed one (its scene does not parse), a
# cancelled one, a rejected drop, and the done job another waits for
for j in good base old; do
	povray_job "$T/$j" 1-2
	drop_dir "$j" "$T/$j"
done
RETRIES=0 povray_job "$T/bad" 1
echo 'sphere { <0, 0, 0>, 1 pigment { nosuchthing } }' >"$T/bad/scene.pov"
drop_dir bad "$T/bad"
printf 'this is no archive\n' >"$T/junk.tar"
mv "$T/junk.tar" "$SPOOL/inbox/junk.tar"
printf '[job]\nframes = 1\n[render]\nscene = scene.pov\n' >"$SPOOL/inbox/junk.ini"
check "the jobs are done" wait_for 90 sh -c "ls '$SPOOL/done' | grep -q -- -good && ls '$SPOOL/done' | grep -q -- -base && ls '$SPOOL/done' | grep -q -- -old"
check "the job whose scene does not parse failed" wait_for 60 job_failed bad
check "the bad drop is rejected" wait_for 20 rejected junk
# no agent from here: what is dropped now stays queued
stop_pids
_pids=""
start_watcherd
povray_job "$T/can" 1-100
drop_dir can "$T/can"
check "a job to cancel is queued" wait_for 20 queued can
hotfarm cancel can >/dev/null
check "and cancelled" wait_for 20 in_state cancelled can
povray_job "$T/waiter" 1
sed -i 's/^\[job\]$/[job]\nafter = base/' "$T/waiter/job.ini"
drop_dir waiter "$T/waiter"
check "a job waiting for base is queued" wait_for 20 queued waiter
# a finished job kept aside, to make many of later
cp -a "$SPOOL/jobs/good" "$T/template"

# ---- watcherd by itself: [retain] days --------------------------------------
gone() { ! ls "$SPOOL/done" "$SPOOL/failed" "$SPOOL/cancelled" | grep -q -- "-$1\$" && [ ! -e "$SPOOL/jobs/$1" ]; }
printf '[retain]\ndays = 1\n' >>"$SPOOL/conf/hotfarm.ini"
touch -d '3 days ago' "$SPOOL/jobs/old/status.ini"
kill -HUP "$WATCHERD"
check "watcherd removes a job that ended 3 days ago ([retain] days = 1)" wait_for 30 gone old
check "and logs it" wait_for 10 grep -q "jobs/old (ended .*) removed" "$SPOOL.watcherd.log"
check "jobs that ended today stay" in_state done good

# ---- hotfarm clean --dry-run ---------------------------------------------------
hotfarm clean --dry-run --older-than 0 >"$T/dry" 2>&1
check "--dry-run exits 0" [ $? -eq 0 ]
sed 's/^/# /' "$T/dry"
for w in jobs/good jobs/bad jobs/can rejected/junk; do
	check "--dry-run lists $w with its bytes" grep -Eq "^would remove $w \(.*\): [0-9]+ bytes" "$T/dry"
done
check "--dry-run keeps base: waiter waits for it" sh -c "! grep -q 'jobs/base ' '$T/dry'"
check "--dry-run leaves the queued job alone" sh -c "! grep -q 'jobs/waiter ' '$T/dry'"
check "--dry-run says the total" grep -Eq '^total: 4 would go, [0-9]+ bytes' "$T/dry"
check "--dry-run removes nothing" sh -c "[ -d '$SPOOL/jobs/good' ] && [ -d '$SPOOL/jobs/bad' ] && [ -d '$SPOOL/jobs/can' ] && [ -d '$SPOOL/rejected/junk' ]"
hotfarm clean --older-than soon >/dev/null 2>"$T/err"
check "a bad --older-than is refused (100), saying why" sh -c "[ $? -eq 100 ] && grep -q 'takes an age' '$T/err'"

# ---- hotfarm clean -------------------------------------------------------------
total=$(sed -n 's/^total: 4 would go, \([0-9]*\) bytes.*/\1/p' "$T/dry")
hotfarm clean --older-than 0 >"$T/clean" 2>&1
check "clean exits 0" [ $? -eq 0 ]
check "clean says what it removed" sh -c "grep -q '^removed jobs/good (done' '$T/clean' && grep -q '^removed rejected/junk (rejected' '$T/clean'"
got=$(sed -n 's/^total: 4 removed, \([0-9]*\) bytes.*/\1/p' "$T/clean")
sum=$(sed -n 's/^removed .*): \([0-9]*\) bytes.*/\1/p' "$T/clean" | awk '{ s += $1 } END { print s + 0 }')
check "its total ($got bytes) is the sum of its lines ($sum)" [ -n "$got" ] && [ "$got" = "$sum" ]
# (the pages hf-status rewrites meanwhile may change a job's size a little)
check "and about the dry run's ($total bytes)" awk -v a="$got" -v b="$total" 'BEGIN { exit !(b > 0 && a > 0.9 * b && a < 1.1 * b) }'
for j in good bad can; do check "$j is gone" gone "$j"; done
check "rejected/junk is gone" [ ! -e "$SPOOL/rejected/junk" ]
check "base, which waiter waits for, is kept" sh -c "[ -f '$SPOOL/jobs/base/status.ini' ] && ls '$SPOOL/done' | grep -q -- -base"
check "the queued waiter is kept" queued waiter
check "nothing is left in the trash" [ -z "$(ls "$SPOOL/work/trash" 2>/dev/null)" ]
check "the audit log records each removal" sh -c "[ \$(hotfarm audit | grep -c ' clean ') -eq 4 ]"
hotfarm cancel waiter >/dev/null
check "once waiter ended, base goes too" sh -c "hotfarm clean --older-than 0 >'$T/clean2' && grep -q '^removed jobs/base (done' '$T/clean2'"
check "base is gone" gone base

# ---- the archive ---------------------------------------------------------------------
# jobs made by copying the finished one: folder and entry, as intake leaves them
clone() { # NAME...
	python3 - "$T/template" "$SPOOL" "$@" <<-'PY'
	import shutil, sys, time
	tmpl, spool = sys.argv[1], sys.argv[2]
	for n in sys.argv[3:]:
	    shutil.copytree(tmpl, f"{spool}/jobs/{n}", symlinks=True)
	    open(f"{spool}/done/500-{time.time_ns() // 1000:016d}-{n}", "w").close()
	PY
}
clone arc1
printf 'archive = %s\n' "$T/noarchive" >>"$SPOOL/conf/hotfarm.ini"
hotfarm clean --older-than 0 >/dev/null 2>"$T/noarc"
check "an archive folder that is missing: clean fails (111), saying so" sh -c "[ $? -eq 111 ] && grep -q 'archive' '$T/noarc'"
check "and the job stays listed, whole" sh -c "ls '$SPOOL/done' | grep -q -- '-arc1\$' && [ -f '$SPOOL/jobs/arc1/status.ini' ]"
mkdir -p "$T/archive"
sed -i "s|^archive = .*|archive = $T/archive|" "$SPOOL/conf/hotfarm.ini"
hotfarm clean --older-than 0 >"$T/arc" 2>&1
check "clean moves the job into the archive" grep -q "^archived jobs/arc1 (done.* -> $T/archive/jobs/arc1\$" "$T/arc"
check "the archived job is whole" sh -c "[ -f '$T/archive/jobs/arc1/job.ini' ] && [ \$(ls '$T/archive/jobs/arc1/output' | wc -l) -eq 2 ]"
check "with a file saying how it ended" grep -q '^state = done' "$T/archive/jobs/arc1/ended.ini"
check "and it is gone from the spool" gone arc1
shm=/dev/shm/cl-archive.$$
if mkdir -p "$shm" 2>/dev/null && [ "$(stat -c %d "$shm")" != "$(stat -c %d "$SPOOL")" ]; then
	at_exit "rm -rf '$shm'"
	sed -i "s|^archive = .*|archive = $shm|" "$SPOOL/conf/hotfarm.ini"
	clone arc2
	ln -s /etc/passwd "$SPOOL/jobs/arc2/files/link"
	hotfarm clean --older-than 0 >"$T/arc2" 2>&1
	check "an archive on another filesystem gets a copy" sh -c "[ -f '$shm/jobs/arc2/status.ini' ] && [ \$(ls '$shm/jobs/arc2/output' | wc -l) -eq 2 ]"
	check "without the job's links" [ ! -e "$shm/jobs/arc2/files/link" ] && [ ! -L "$shm/jobs/arc2/files/link" ]
	check "and no half copy left" [ -z "$(ls -A "$shm/jobs" | grep '^\.')" ]
	check "the job is gone from the spool" gone arc2
else
	diag "no second filesystem at /dev/shm: the copy into the archive is not tried"
fi
sed -i '/^archive = /d' "$SPOOL/conf/hotfarm.ini"

# ---- a clean killed midway ----------------------------------------------------------
N=1000
clone $(seq -f 'c%g' 0 $((N - 1)))
files=$(find "$T/template" | wc -l)
hotfarm clean --older-than 0 >/dev/null 2>&1 &
cpid=$!
fewer() { [ "$(ls "$SPOOL/done" | wc -l)" -lt $((N - 20)) ]; }
wait_brief 60 fewer
kill -KILL $cpid 2>/dev/null
wait $cpid 2>/dev/null
left=$(ls "$SPOOL/done" | wc -l)
diag "killed with $left of $N entries left"
check "the kill came midway" [ "$left" -gt 0 ]
ls "$SPOOL/done" | sed 's/^[0-9]*-[0-9]*-//' | sort >"$T/listed"
ls "$SPOOL/jobs" | grep '^c[0-9]' | sort >"$T/folders"
find "$SPOOL/jobs" -mindepth 1 | sed "s|^$SPOOL/jobs/||; s|/.*||" | sort | uniq -c >"$T/counts"
broken=$(awk -v f="$files" 'NR == FNR { c[$2] = $1; next } c[$1] != f' "$T/counts" "$T/listed" | wc -l)
check "every job still listed is whole ($broken broken)" [ "$broken" -eq 0 ]
shown=0
for d in $(comm -13 "$T/listed" "$T/folders"); do
	hotfarm status "$d" >/dev/null 2>&1 && shown=$((shown + 1))
done
diag "$(comm -13 "$T/listed" "$T/folders" | wc -l) folders out of done/, mid-removal"
check "a job out of done/ is not shown by hotfarm status ($shown shown)" [ "$shown" -eq 0 ]
hotfarm clean --older-than 0 >/dev/null 2>&1
check "the next clean finishes: no job left" [ -z "$(ls "$SPOOL/jobs" | grep '^c[0-9]')" ]
check "no entry left" [ "$(ls "$SPOOL/done" | wc -l)" -eq 0 ]
trash_empty() { [ -z "$(ls "$SPOOL/work/trash" 2>/dev/null)" ]; }
check "no trash left" wait_for 20 trash_empty || diag "trash: $(ls -l "$SPOOL/work/trash" 2>&1 | tr '\n' ' '); processes: $(pgrep -af 'clean' | tr '\n' ' ')"
done_testing
