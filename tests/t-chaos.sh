# t-chaos.sh - nothing is lost and nothing is rendered twice, whatever
# crashes: a command job of many one-frame tickets and a POV-Ray animation,
# watcherd and three render agents, and a random one of them SIGKILLed
# every 0.2-2 s and restarted at once. At the end both jobs are done, every
# frame is in output/ once and whole, and every ticket is in frames/done
# once. Short form (make check): 400 tickets, 12 POV-Ray frames, 15 s of
# kills; CHAOS=full (make stress): 2,000 tickets, 48 frames, 60 s.
. "$(dirname "$0")/lib.sh"

if [ "${CHAOS:-}" = full ]; then
	NCMD=2000 NPOV=48 SECONDS_OF_KILLS=60
else
	NCMD=${CHAOS_TICKETS:-400} NPOV=${CHAOS_POV:-12} SECONDS_OF_KILLS=${CHAOS_SECONDS:-15}
fi

HOST_TIMEOUT=3 new_spool
# the command job: frame F copies files/in/FFFF.png (distinct pictures made
# here) to its output, so each output can be compared with what it must be
mkdir -p "$T/cmd/in"
python3 - "$HF_ROOT/tests" "$T/cmd/in" "$NCMD" <<-'PY'
import sys
sys.path.insert(0, sys.argv[1])
from mkpng import png
out, n = sys.argv[2], int(sys.argv[3])
for f in range(1, n + 1):
    rows = [bytes(v for x in range(64) for v in ((x * 4 + f) % 256, (y * 5 + f // 256) % 256, f % 251))
            for y in range(48)]
    with open(f"{out}/{f:04d}.png", "wb") as o:
        o.write(png(64, 48, 8, 2, rows))
PY
# each takes a tenth of a second, so that the kills land in the middle
printf '#!/bin/sh\nsleep 0.1\nexec cp "$1" "$2"\n' >"$T/cmd/copy.sh"
printf '[job]\nframes = 1-%s\nretries = 2\n[render]\npackage = command\nscene = copy.sh\nwidth = 64\nheight = 48\noutput = "f_####.png"\nargs = "sh {files}/copy.sh {files}/in/{frame4}.png {output}"\n' \
	"$NCMD" >"$T/cmd/job.ini"
povray_job "$T/pov" "1-$NPOV" 192 144

start_watcherd
for a in a b c; do start_agent "$a" --slots 2 && eval "AGENT_$a=\$AGENT"; done
drop_dir cmd "$T/cmd"
drop_dir pov "$T/pov"

# the kills: a random daemon every 0.2-2 s, restarted at once
end=$(($(date +%s) + SECONDS_OF_KILLS))
kills=0 kw=0 ka=0 failed_restart=""
while [ "$(date +%s)" -lt "$end" ]; do
	sleep "$(shuf -i 200-2000 -n 1 | awk '{ printf "%.3f", $1 / 1000 }')"
	victim=$(shuf -e watcherd a b c -n 1)
	if [ "$victim" = watcherd ]; then
		kill -KILL "$WATCHERD" 2>/dev/null
		wait "$WATCHERD" 2>/dev/null
		start_watcherd || failed_restart="$failed_restart watcherd"
		kw=$((kw + 1))
	else
		eval "p=\$AGENT_$victim"
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		start_agent "$victim" --slots 2 || failed_restart="$failed_restart $victim"
		eval "AGENT_$victim=\$AGENT"
		ka=$((ka + 1))
	fi
	kills=$((kills + 1))
done
for j in cmd pov; do job_done $j && diag "$j was done before the kills ended"; done
diag "survived $kills kills ($kw of watcherd, $ka of agents) in $SECONDS_OF_KILLS s"
check "every daemon came back after each kill ($failed_restart)" [ -z "$failed_restart" ]
check "the command job ($NCMD tickets) is done" wait_for 240 job_done cmd
check "the POV-Ray job ($NPOV frames) is done" wait_for 240 job_done pov

# every frame once and whole
O=$SPOOL/jobs/cmd/output
n=$(ls "$O" | grep -c '^f_[0-9]*\.png$')
check "$NCMD frames of the command job in output/ ($n)" [ "$n" -eq "$NCMD" ]
bad=""
for f in $(seq 1 "$NCMD"); do
	f4=$(printf %04d "$f")
	cmp -s "$O/f_$f4.png" "$T/cmd/in/$f4.png" || bad="$bad $f"
done
check "each is exactly the picture of its frame (differ:$(echo $bad | cut -c1-80))" [ -z "$bad" ]
check "nothing else in its output/, not even hidden ($(ls -A "$O" | grep -v '^f_' | head -3 | tr '\n' ' '))" \
	[ -z "$(ls -A "$O" | grep -v '^f_[0-9]*\.png$')" ]

P=$SPOOL/jobs/pov/output
n=$(ls "$P" | grep -c '^f_[0-9]*\.png$')
check "$NPOV frames of the POV-Ray job in output/ ($n)" [ "$n" -eq "$NPOV" ]
mkdir -p "$T/hand"
bad=""
for f in $(seq 1 "$NPOV"); do
	f4=$(printf %04d "$f")
	# the reference, rendered by hand (again, once, if a busy machine
	# lost it: it is the yardstick, not what is tested; why is shown)
	for try in 1 2; do
		ls "$T/hand/h$f4"*.png >/dev/null 2>&1 && break
		(cd "$T/pov" && povray -D -V +Iscene.pov +O"$T/hand/h$f4.png" +W192 +H144 +FN +KFI1 +KFF"$NPOV" +SF"$f" \
			+EF"$f") >"$T/hand/h$f4.log" 2>&1 || diag "povray by hand, frame $f, try $try: exit $? ($(tail -n 2 "$T/hand/h$f4.log" | tr '\n' ' '))"
	done
	farm=$(python3 "$HF_ROOT/tests/pngpixels.py" "$P/f_$f4.png" 2>/dev/null | cut -d' ' -f1-2)
	hand=$(python3 "$HF_ROOT/tests/pngpixels.py" "$T/hand/h$f4"*.png | cut -d' ' -f1-2)
	[ -n "$farm" ] && [ "$farm" = "$hand" ] || bad="$bad $f"
done
check "each POV-Ray frame is whole and pixel-identical to povray by hand (differ:$bad)" [ -z "$bad" ]
check "nothing else in its output/ ($(ls -A "$P" | grep -v '^f_' | head -3 | tr '\n' ' '))" \
	[ -z "$(ls -A "$P" | grep -v '^f_[0-9]*\.png$')" ]

# every ticket once, in done/
for j in cmd pov; do
	eval "want=\$N$(echo $j | tr a-z A-Z)"
	F=$SPOOL/jobs/$j/frames
	d=$(ls "$F/done" | wc -l)
	u=$(ls "$F/todo" "$F/active" "$F/failed" "$F/done" | grep -v '^$\|:$' | sed 's/@.*//' | sort | uniq -d | wc -l)
	left=$(($(ls "$F/todo" | wc -l) + $(ls "$F/active" | wc -l) + $(ls "$F/failed" | wc -l)))
	check "$j: all $want tickets in frames/done ($d), none elsewhere ($left), none twice ($u)" \
		[ "$d" -eq "$want" -a "$left" -eq 0 -a "$u" -eq 0 ]
	# what the kills cost: frames published more than once (a kill between
	# publishing and moving the ticket) and renders cut short
	twice=$(cat "$F"/done/* | sed -n 's/^billing = frame=\([0-9]*\) ok=1 .*/\1/p' | sort | uniq -d | wc -l)
	again=$(($(ls "$SPOOL/jobs/$j/logs" | grep -c '^frame') - $(ls "$F/done" | wc -l)))
	diag "$j: $twice frames published twice, $again renders cut short by a kill and done again"
	frames=$NCMD; [ $j = pov ] && frames=$NPOV
	says_done() { grep -Eq '^state = "?done' "$SPOOL/jobs/$1/status.ini" && grep -q "^frames_done = $2\$" "$SPOOL/jobs/$1/status.ini"; }
	check "$j: the job's status says done with $frames frames" says_done "$j" "$frames"
done
check "nothing was rejected" [ "$(count "$SPOOL/rejected")" -eq 0 ]
check "watcherd is up at the end" alive "$WATCHERD"
done_testing
