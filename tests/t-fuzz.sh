# t-fuzz.sh - the fuzzers (tests/fuzz/): what users and peers hand the farm
# (job.ini, dropped archives, the sync protocol) mutated by libFuzzer under
# ASan and UBSan. Each target runs FUZZ_SECONDS (8 here; make fuzz: 60) from
# a copy of its seeds and must not crash, leak or hang, at a sane rate; then
# every seed in git runs once more, so each bug a seed once reproduced
# stays fixed. A crashing input is kept in FUZZ_CRASHES.
. "$(dirname "$0")/lib.sh"

S=${FUZZ_SECONDS:-8}
CRASHES=${FUZZ_CRASHES:-$TMPBASE/hotfarm-fuzz-crashes}
TARGETS="jobini archive sync"
# runs a second, at least, for each target: far less means a target is
# stuck. Measured on 2 cores: jobini 2000-4500, archive 300-700, sync
# 1000-5000 when quiet; 350, 20 and 150 under a load of 11 (archive waits
# for the disk)
MIN_RATE=${FUZZ_MIN_RATE:-5}

cd "$HF_ROOT" || exit 1
if ! make --no-print-directory bin/fuzz_jobini bin/fuzz_archive bin/fuzz_sync >"$T/build.log" 2>&1; then
	not_ok "the fuzz targets build (they need clang and libclang-rt-14-dev)"
	tail -n 15 "$T/build.log" | sed 's/^/# /'
	done_testing
fi
ok "the fuzz targets build"

# keep_crash TARGET: save what libFuzzer wrote, show how to replay it, and
# replay it once with the target's own messages (the fuzzing run drops them)
keep_crash() {
	for a in "$T/art-$1"/*; do
		[ -f "$a" ] || continue
		mkdir -p "$CRASHES"
		cp "$a" "$CRASHES/$1-$(basename "$a")"
		diag "kept $CRASHES/$1-$(basename "$a"); replay: bin/fuzz_$1 $CRASHES/$1-$(basename "$a")"
		TMPDIR=$T bin/fuzz_$1 "$a" >>"$T/$1.log" 2>&1
	done
	# the messages and the report, with the stack frames in hotfarm's code
	grep -E '(layout|spoolers|tests/fuzz)/[a-z_]+\.c:[0-9]|^[^ #]' "$T/$1.log" |
		grep -vE '^(INFO|Running|Executed|Dictionary|MS:|artifact_prefix|Test unit|Base64|NOTE|stat::|0x|\*\*\*|bin/)' |
		head -n 25 | sed 's/^/# /'
}

for t in $TARGETS; do
	mkdir -p "$T/corpus-$t" "$T/art-$t"
	cp tests/fuzz/corpus/$t/* "$T/corpus-$t/"
	# the targets' own messages (intake's, the server's) are noise here:
	# -close_fd_mask=2 keeps libFuzzer's reports and drops them
	TMPDIR=$T bin/fuzz_$t -max_total_time="$S" -timeout=10 -max_len=16384 -dict=tests/fuzz/$t.dict \
		-close_fd_mask=2 -print_final_stats=1 -artifact_prefix="$T/art-$t/" "$T/corpus-$t" >"$T/$t.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$T/$t.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$T/$t.log")
	diag "fuzz_$t: ${runs:-no} runs in ${S} s (${rate:-?}/s), corpus $(ls "$T/corpus-$t" | wc -l) inputs"
	check "fuzz_$t runs ${S} s without a crash, leak or hang" [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || keep_crash "$t"
	check "fuzz_$t ran a sane number of inputs (${runs:-none}, at least $((S * MIN_RATE)))" \
		[ "${runs:-0}" -ge $((S * MIN_RATE)) ]
done

# every seed once more, as it is in git
for t in $TARGETS; do
	rm -rf "$T/art-$t" && mkdir -p "$T/art-$t"
	TMPDIR=$T bin/fuzz_$t -artifact_prefix="$T/art-$t/" tests/fuzz/corpus/$t/* >"$T/$t.log" 2>&1
	rc=$?
	check "every seed of fuzz_$t passes ($(ls tests/fuzz/corpus/$t | wc -l) replayed, bug-* among them)" [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || keep_crash "$t"
done
done_testing
