# t-sanitized.sh - end-to-end runs under AddressSanitizer and UBSan: some of
# the farm's own tests (intake of good and hostile drops, renders, the CLI,
# cancels and faults, linked sites) with every daemon and spooler taken from
# bin-san/ (make san). Any report of a memory error, a leak or undefined
# behaviour fails it, and the first lines of each are shown. Leaks are
# looked for in the intake and render runs (every daemon and the spoolers
# of both); in the others LeakSanitizer, which stops each process at its
# exit for tens of milliseconds, would double the time (linked sites start
# several spoolers a second).
. "$(dirname "$0")/lib.sh"

SAN=$HF_ROOT/bin-san
# built here (tests/run runs this test beside the others, at a lower
# priority: the build too), or brought up to date
make -s -C "$HF_ROOT" san >"$T/make-san.log" 2>&1
check "the sanitized programs are built (make san)" [ -x "$SAN/watcherd" -a -x "$SAN/render-agent" ] ||
	tail -5 "$T/make-san.log" | sed 's/^/# /'
mkdir -p "$T/reports" "$T/runs"
export HF_BIN="$SAN" HF_TMP="$T/runs"
export UBSAN_OPTIONS="log_path=$T/reports/ubsan:print_stacktrace=1"
LEAKS=${SAN_LEAKS:-t-intake t-intake-bad t-render}
for t in ${SAN_TESTS:-t-intake t-intake-bad t-render t-cli-farm t-notify t-sites}; do
	case " $LEAKS " in *" $t "*) leaks=1 said=", leaks too" ;; *) leaks=0 said="" ;; esac
	# a sanitizer aborts the daemon it finds a fault in: the test would
	# then wait out every deadline, so it gets eight minutes at most (the
	# sanitized t-sites takes about four on an idle machine)
	t0=$(date +%s)
	ASAN_OPTIONS="log_path=$T/reports/asan:detect_leaks=$leaks:abort_on_error=0" \
		timeout 480 sh "$HF_ROOT/tests/$t.sh" >"$T/$t.log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$T/$t.log") f=$(grep -c '^not ok ' "$T/$t.log")
	check "$t passes with every program sanitized$said ($p passed, $f failed, $(($(date +%s) - t0)) s)" \
		[ "$rc" -eq 0 -a "$f" -eq 0 ]
	[ "$f" -eq 0 ] || grep '^not ok' "$T/$t.log" | head -5 | sed 's/^/# /'
done
n=$(ls "$T/reports" | wc -l)
check "no sanitizer report ($n)" [ "$n" -eq 0 ]
for r in $(ls "$T/reports" | head -5); do
	grep -m1 -E 'ERROR|runtime error|SUMMARY' "$T/reports/$r" | sed "s|^|# $r: |"
	grep -m6 -E '^    #[0-9]' "$T/reports/$r" | sed 's/^/#   /'
done
done_testing
