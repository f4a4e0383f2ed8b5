# t-status-page.sh - the status page as a person sees it: status/index.html
# and jobs/NAME/index.html opened straight from the spool in headless
# Chromium (no server), with the queue, the hosts and their slots, progress,
# why a job waits, samples and failures; and the contact sheet.
. "$(dirname "$0")/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROMIUM" ]; then
	not_ok "chromium is installed (make deps installs it)"
	done_testing
fi
SHOTS=${HF_TEST_LOG:-/tmp/hotfarm-test-logs}
mkdir -p "$SHOTS"
browse() { # URL-FILE -> DOM on stdout
	timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$T/chromium" --dump-dom "file://$1" 2>/dev/null
}
shot() { # URL-FILE PNG
	timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$T/chromium" --window-size=1200,900 --screenshot="$2" "file://$1" >/dev/null 2>&1
}
text() { sed -e 's/<[^>]*>/ /g' -e 's/&lt;/</g; s/&gt;/>/g; s/&amp;/\&/g' | tr -s ' \n' ' '; }

new_spool
start_watcherd
start_agent h1 --slots 2

mkdir -p "$T/picky"
povray_job "$T/picky" 1-2
printf '[requires]\nversion = 9.*\n' >>"$T/picky/job.ini"
drop_dir picky "$T/picky"
povray_job "$T/anim" 1-8 320 240
printf 'owner = "ann <b>"\n' >"$T/owner" && sed -i 's/^\[job\]$/[job]\nowner = "ann <b>"/' "$T/anim/job.ini"
drop_dir anim "$T/anim"
rendering() { grep -q '^state = "rendering"' "$SPOOL/jobs/anim/status.ini" 2>/dev/null; }
wait_for 30 rendering
# a snapshot of the page at a moment it shows everything (it is rewritten
# every second: a frame may just be ending when it is)
page() {
	cp "$SPOOL/status/index.html" "$SPOOL/status/snapshot.html" 2>/dev/null &&
		grep -q 'rendering' "$SPOOL/status/snapshot.html" && grep -q 'waiting: no host' "$SPOOL/status/snapshot.html" &&
		grep -q 'busy, anim frame' "$SPOOL/status/snapshot.html"
}
check "watcherd writes status/index.html while the farm works" wait_for 30 page
browse "$SPOOL/status/snapshot.html" >"$T/farm.html"
t=$(text <"$T/farm.html")
check "the page opens from the share and shows the site" sh -c "echo '$t' | grep -q 'hotfarm: testsite'"
check "the queue shows the job rendering" sh -c "echo '$t' | grep -q 'anim rendering 500'"
check "its owner, escaped, not markup" grep -q 'ann &lt;b&gt;' "$T/farm.html"
check "a progress bar per job" grep -q 'class="bar"' "$T/farm.html"
check "why a waiting job waits" sh -c "echo '$t' | grep -q 'picky .* waiting: no host has package povray 9'"
check "the host and its busy slots" sh -c "echo '$t' | grep -q 'h1 up' && echo '$t' | grep -Eq 'slot [0-9]: busy, anim frame'"
check "links are relative (works on a share)" sh -c "grep -q 'href=\"../jobs/anim/index.html\"' '$T/farm.html' && ! grep -q 'href=\"/' '$T/farm.html'"
check "it refreshes itself" grep -q 'http-equiv="refresh"' "$T/farm.html"
shot "$SPOOL/status/index.html" "$SHOTS/status-page.png"
check "a screenshot of it is saved ($SHOTS/status-page.png)" sh -c "python3 '$HF_ROOT/tests/pngpixels.py' '$SHOTS/status-page.png' | grep -q '^1200x900 '"

check "the job renders to the end" wait_for 90 job_done anim
jobpage() { grep -q 'all 8 frames rendered' "$SPOOL/jobs/anim/index.html" 2>/dev/null; }
check "its page is brought up to date" wait_for 15 jobpage
browse "$SPOOL/jobs/anim/index.html" >"$T/job.html"
tj=$(text <"$T/job.html")
check "the job page says done and why" sh -c "echo '$tj' | grep -q 'state done why all 8 frames rendered'"
n=$(grep -o '<img src="previews/frame[0-9]*\.png"' "$T/job.html" | wc -l)
check "it shows a sample of each frame ($n)" [ "$n" -eq 8 ]
shot "$SPOOL/jobs/anim/index.html" "$SHOTS/job-page.png"
check "a screenshot of the job page is saved" sh -c "python3 '$HF_ROOT/tests/pngpixels.py' '$SHOTS/job-page.png' | grep -q '^1200x900 '"
size=$(python3 "$HF_ROOT/tests/pngpixels.py" "$SPOOL/jobs/anim/previews/contact.png" | cut -d' ' -f1)
check "the contact sheet decodes and has one cell per frame: 8 x 1 cells of 164x124 ($size)" [ "$size" = 1312x124 ]
thumb=$(python3 "$HF_ROOT/tests/pngpixels.py" "$SPOOL/jobs/anim/previews/frame0000001.png" | cut -d' ' -f1)
check "each sample is a 160x120 thumbnail ($thumb)" [ "$thumb" = 160x120 ]

# a failure shows with a link to its log
mkdir -p "$T/bad"
printf '[job]\nframes = 1\nretries = 0\n[render]\npackage = command\nscene = s\nargs = false\n' >"$T/bad/job.ini"
echo x >"$T/bad/s"
drop_dir bad "$T/bad"
check "a failing job fails" wait_for 30 job_failed bad
badpage() { grep -q 'exited with status 1' "$SPOOL/jobs/bad/index.html" 2>/dev/null; }
check "its page lists the failure" wait_for 15 badpage
browse "$SPOOL/jobs/bad/index.html" >"$T/bad.html"
log=$(grep -o 'href="logs/frame[^"]*"' "$T/bad.html" | head -1 | sed 's/href="//; s/"$//')
check "with a link to a log that exists ($log)" [ -n "$log" -a -f "$SPOOL/jobs/bad/$log" ]
check "failures/ names the ticket that failed (the page reads those alone)" [ "$(ls "$SPOOL/jobs/bad/failures" | wc -l)" -eq 1 ]
# a job from before failures/ existed: every ticket is read instead
rm -r "$SPOOL/jobs/bad/failures" "$SPOOL/jobs/bad/index.html" # (rebuilt at the next rescan)
check "a job without failures/ still lists its failure" wait_for 15 badpage

# the pages tell the truth at the end: a job that ends the moment before
# watcherd is stopped (as make demo does) is shown done, not rendering
povray_job "$T/last" 1-2
drop_dir last "$T/last"
check "one more job is done" wait_for 60 job_done last
kill -TERM "$WATCHERD"
wait "$WATCHERD"
browse "$SPOOL/jobs/last/index.html" >"$T/last.html"
check "watcherd, stopped right after, left the job's page saying done" sh -c "text() { sed -e 's/<[^>]*>/ /g' | tr -s ' \n' ' '; }; text <'$T/last.html' | grep -q 'state done why all 2 frames rendered'"
browse "$SPOOL/status/index.html" >"$T/last-farm.html"
check "and the farm's page lists it done" grep -q 'index.html">last</a></td><td class="state-done">done' "$T/last-farm.html"

# frames remain but the pace says no time: "finishing", never "0m00s"
# (the agent stopped too: it would finish a queued job with no tickets)
kill -TERM "$AGENT"
wait "$AGENT"
e=$(ls "$SPOOL/done" | grep -- '-last$')
mv "$SPOOL/done/$e" "$SPOOL/queue/$e"
now=$(($(date +%s%N) / 1000))
sed -i -e 's/^state = .*/state = "rendering"/' -e 's/^frames_total = .*/frames_total = 1001/' \
	-e 's/^frames_done = .*/frames_done = 1000/' -e "s/^started_us = .*/started_us = $((now - 1000000))/" \
	-e 's/^finished_us = .*/finished_us = 0/' "$SPOOL/jobs/last/status.ini"
hf-status --spool "$SPOOL"
browse "$SPOOL/jobs/last/index.html" >"$T/finishing.html"
check "the job page's ETA says finishing" sh -c "sed -e 's/<[^>]*>/ /g' '$T/finishing.html' | tr -s ' \n' ' ' | grep -q 'ETA finishing'"
check "so does the farm's page" sh -c "grep -A1 'index.html\">last<' '$SPOOL/status/index.html' | grep -q 'finishing'"
check "and hotfarm status" sh -c "hotfarm status last | grep -q 'eta: *finishing'"
done_testing
