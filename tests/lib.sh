# shellcheck shell=bash
# lib.sh — what the integration runners share (sourced): counting results, running a program
# under a time limit, saying why a run failed, and the summary line. The runner sets $tmp (a
# scratch directory) before using run.
# shellcheck disable=SC2154 # $tmp is the runner's

passed=0
failed=0
run_limit=60

pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1: $2"; failed=$((failed + 1)); }

# run [--limit SECONDS] ENV_ASSIGNMENT... -- CMD ARG...: runs CMD under timeout (never shimmed
# itself: LD_PRELOAD comes only from the assignments) with the given environment; stdout and
# stderr go to $tmp/out and $tmp/err, the status to $status. (The outer 2>/dev/null only
# silences bash's own "Aborted"-style job reports.)
run() {
	local env=()
	run_limit=60
	if [ "$1" = --limit ]; then
		run_limit=$2
		shift 2
	fi
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	{ timeout -k 5 "$run_limit" env -u LD_PRELOAD "${env[@]}" "$@" >"$tmp/out" 2>"$tmp/err"; } 2>/dev/null
	status=$?
}

# reason: why a run whose status is not 0 failed: exit status or signal, and the last line of
# its stderr; reason_in FILE takes the last line from FILE.
reason() { reason_in "$tmp/err"; }

reason_in() {
	local why last file=$1
	if [ "$status" -eq 124 ]; then
		why="timed out after $run_limit s"
	elif [ "$status" -eq 137 ] && grep -q '^FAIL: watchdog' "$file"; then
		why="killed by its watchdog process (SIGKILL)"
	elif [ "$status" -eq 137 ]; then
		why="killed by SIGKILL (a hang past timeout's grace, or the OOM killer)"
	elif [ "$status" -gt 128 ]; then
		why="killed by SIG$(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
	else
		why="exit status $status"
	fi
	last=$(grep -v '^[[:space:]]*$' "$file" | tail -n 1)
	echo "$why${last:+; stderr: $last}"
}

# ASAN_OPTIONS / TSAN_OPTIONS for the unit tests built with a sanitizer: by default the
# sanitizer gives every thread an alternate signal stack of its own, which test_sigstate would
# take for the thread's.
ASAN_UNIT_OPTIONS=use_sigaltstack=0
TSAN_UNIT_OPTIONS=use_sigaltstack=0

# run_units DIR: runs every Check unit test binary DIR/unit/test_* (with the caller's
# environment) under a time limit, printing its output; each check counts as a pass or a
# failure (Check's summary "100%: Checks: 7, Failures: 0, Errors: 0"), and a binary that gives
# no summary, or exits non-zero with none failed, counts as one failure. No binaries is one.
run_units() {
	local dir=$1 t out st summary checks bad units=("$1"/unit/test_*)
	if [ ! -e "${units[0]}" ]; then
		fail "unit tests" "no unit test binaries in $dir/unit"
		return
	fi
	for t in "${units[@]}"; do
		out=$(timeout -k 5 300 "$t" 2>&1)
		st=$?
		printf '%s\n' "$out"
		summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: [0-9]+' | tail -n 1)
		if [ -z "$summary" ]; then
			fail "$t" "no Check summary (exit status $st)"
			continue
		fi
		checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$summary")
		bad=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/' <<<"$summary")
		bad=$((bad))
		passed=$((passed + checks - bad))
		failed=$((failed + bad))
		if [ "$st" -ne 0 ] && [ "$bad" -eq 0 ]; then
			fail "$t" "exit status $st"
		fi
	done
}

# report NAME: the summary line; appends "passed=N failed=N" to $GP_RESULTS if it is set;
# returns non-zero if anything failed.
report() {
	echo "$1: $passed passed, $failed failed"
	if [ -n "${GP_RESULTS:-}" ]; then
		echo "passed=$passed failed=$failed" >>"$GP_RESULTS"
	fi
	[ "$failed" -eq 0 ]
}
