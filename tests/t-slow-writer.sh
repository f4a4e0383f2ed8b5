# t-slow-writer.sh - files written in place slowly (a file browser, an SMB
# client that pre-sizes, an upload that breaks off and resumes) are taken
# only once complete, and never rejected while they may still be arriving.
. "$(dirname "$0")/lib.sh"

new_spool
start_watcherd

# a job with a 3 MB texture
for mode in stream presized resumed; do
	n=slow$mode
	make_job "$T/src" "$n"
	head -c 3000000 /dev/urandom >"$T/src/$n.d/texture.bin"
	# plain tar, scene first: a cut at the right place still reads as a
	# valid (shorter) archive, so only the readiness check protects it
	tar -C "$T/src/$n.d" -cf "$T/src/$n.tar" scene.pov texture.bin
	mv "$T/src/$n.ini" "$SPOOL/inbox/$n.ini"   # the description is already there
	python3 "$HF_ROOT/tests/slowwrite.py" "$mode" "$T/src/$n.tar" "$SPOOL/inbox/$n.tar" "$SPOOL" "$n" 2>"$T/$n.err"
	check "$mode: not taken or rejected while being written $(cat "$T/$n.err")" [ $? -eq 0 ]
	check "$mode: taken once complete" wait_for 15 queued "$n"
	check "$mode: the texture arrived whole" cmp -s "$SPOOL/jobs/$n/files/texture.bin" "$T/src/$n.d/texture.bin"
done
check "nothing was rejected" [ "$(count "$SPOOL/rejected")" -eq 0 ]
done_testing
