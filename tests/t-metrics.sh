# t-metrics.sh - status/metrics.prom, the farm's figures in the Prometheus
# text format: after a job is rendered and a drop is rejected, its series
# say so (jobs by state, frames, hosts, slots, rejections, queue wait), and
# Debian's prometheus-node-exporter, its textfile collector pointed at
# status/ and scraped on 127.0.0.1, serves them with no format error.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd
start_agent m --slots 2
povray_job "$T/met" 1-4
drop_dir met "$T/met"
check "a job is rendered" wait_for 60 job_done met
printf 'not an archive' >"$T/bad.tar" && mv "$T/bad.tar" "$SPOOL/inbox/bad.tar"
printf '[job]\nframes = 1\n[render]\nscene = x.pov\n' >"$SPOOL/inbox/bad.ini"
check "a bad drop is rejected" wait_for 30 rejected bad

M=$SPOOL/status/metrics.prom
val() { awk -v k="$1" '$1 == k { print $2 }' "$M" 2>/dev/null; }
says() { [ "$(val "$1")" = "$2" ]; }
check "metrics.prom counts the done job" wait_for 10 says 'hotfarm_jobs{state="done"}' 1
check "its four frames" wait_for 10 says hotfarm_frames_done_total 4
check "no failed frame" says hotfarm_frames_failed_total 0
check "one host up" says 'hotfarm_hosts{state="up"}' 1
check "its two slots idle" wait_for 10 says 'hotfarm_slots{host="m",state="idle"}' 2
check "the rejected drop" wait_for 10 says hotfarm_rejected 1
check "the job's queue wait in the histogram" says hotfarm_queue_wait_seconds_count 1
check "the rejection's reason says its kind (archive)" grep -q '^Kind of problem: archive$' "$SPOOL/rejected/bad/reason.txt"
ln -s /etc/passwd "$SPOOL/inbox/link.tar"
check "a symbolic link dropped is rejected too" wait_for 30 rejected link
check "rejections by kind: one archive" wait_for 10 says 'hotfarm_rejected_by_kind{kind="archive"}' 1
check "and one file (the link)" wait_for 10 says 'hotfarm_rejected_by_kind{kind="file"}' 1
check "and no other kind" says 'hotfarm_rejected_by_kind{kind="description"}' 0
# dispatch latency: the agent's histogram, written at its heartbeat
dcount() { val 'hotfarm_dispatch_seconds_count{host="m"}'; }
dispatched() { [ "${1:-$(dcount)}" -ge 1 ] 2>/dev/null; }
check "the dispatch latency histogram counts the job's renders ($(dcount))" wait_for 10 dispatched
check "its +Inf bucket is its count" sh -c "[ '$(val 'hotfarm_dispatch_seconds_bucket{host="m",le="+Inf"}')' = '$(dcount)' ]"
mean=$(awk '$1 == "hotfarm_dispatch_seconds_sum{host=\"m\"}" { s = $2 } $1 == "hotfarm_dispatch_seconds_count{host=\"m\"}" { c = $2 } END { if (c) printf "%.4f", s / c }' "$M")
diag "mean dispatch latency: $mean s"
check "a render began within seconds of work and slot meeting (mean $mean s)" \
	awk -v m="$mean" 'BEGIN { exit !(m != "" && m < 5) }'
check "every series has its TYPE line" sh -c "
	for s in \$(grep -v '^#' '$M' | sed 's/[{ ].*//; s/_bucket\$//; s/_sum\$//; s/_count\$//' | sort -u); do
		grep -q \"^# TYPE \$s \" '$M' || exit 1
	done"
check "no temporary file beside it" [ -z "$(ls -A "$SPOOL/status" | grep '\.tmp$')" ]

# node_exporter's textfile collector, as a monitoring host would run it
NE=/usr/bin/prometheus-node-exporter
if [ ! -x "$NE" ] && [ "$(id -u)" = 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus-node-exporter \
		</dev/null >"$T/apt.log" 2>&1 ||
		{ apt-get update -q </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends prometheus-node-exporter </dev/null; } >>"$T/apt.log" 2>&1
fi
check "prometheus-node-exporter is there" test -x "$NE" || done_testing
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$NE" --web.listen-address="127.0.0.1:$PORT" --collector.disable-defaults --collector.textfile \
	--collector.textfile.directory="$SPOOL/status" >"$T/ne.log" 2>&1 &
_pids="$_pids $!"
scrape() { python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$PORT/metrics', timeout=5).read().decode())" >"$T/scrape" 2>/dev/null; }
check "node_exporter serves on 127.0.0.1:$PORT" wait_for 15 scrape
scraped() { awk -v k="$1" '$1 == k { print $2 }' "$T/scrape"; }
check "with no textfile format error" [ "$(scraped node_textfile_scrape_error)" = 0 ] ||
	grep -i 'error' "$T/ne.log" | head -3 | sed 's/^/# /'
check "the hotfarm series as metrics.prom has them" sh -c "
	[ '$(scraped 'hotfarm_jobs{state="done"}')' = 1 ] && [ '$(scraped hotfarm_frames_done_total)' = 4 ] &&
	[ '$(scraped 'hotfarm_slots{host="m",state="idle"}')' = 2 ] &&
	[ '$(scraped 'hotfarm_rejected_by_kind{kind="file"}')' = 1 ] &&
	[ -n '$(scraped 'hotfarm_dispatch_seconds_count{host="m"}')' ]"

# housekeeping removes the job: the frame counter does not fall
hotfarm clean --older-than 0 >"$T/clean.out" 2>&1
check "hotfarm clean removes the done job ($(tail -1 "$T/clean.out"))" [ ! -e "$SPOOL/jobs/met" ]
check "metrics.prom counts no done job now" wait_for 10 says 'hotfarm_jobs{state="done"}' 0
check "but its four frames stay counted (a counter never falls)" says hotfarm_frames_done_total 4
stop_pids
done_testing
