#!/usr/bin/env bash
# run-all.sh — every test: the Check unit tests (BUILD_DIR/unit/test_*), then the integration
# runs: the runtime core (tests/integration.sh), sockets (tests/net-integration.sh),
# synchronization and multiplexing (tests/sync-integration.sh), the monitor
# (tests/monitor-integration.sh), signals (tests/signal-integration.sh: its SHIM_PENDING runs
# print PENDING and count neither way until issue 11 lands). Ends with one line
# "N passed, N failed" (unit checks plus integration runs) and exits non-zero if anything
# failed or a test binary crashed. Tests that need many fds raise the soft limit themselves.
#   usage: tests/run-all.sh [BUILD_DIR]     (after `make all fixtures unit`)
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
build=${1:-build}
passed=0
failed=0
results=$(mktemp)
trap 'rm -f "$results"' EXIT

units=("$build"/unit/test_*)
if [ ! -e "${units[0]}" ]; then
	echo "FAIL: no unit test binaries in $build/unit"
	failed=$((failed + 1))
	units=()
fi
for t in "${units[@]}"; do
	out=$(timeout -k 5 300 "$t" 2>&1)
	status=$?
	printf '%s\n' "$out"
	# Check's summary: "100%: Checks: 7, Failures: 0, Errors: 0"
	summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: [0-9]+' | tail -n 1)
	if [ -z "$summary" ]; then
		echo "FAIL: $(basename "$t"): no Check summary (exit status $status)"
		failed=$((failed + 1))
		continue
	fi
	checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$summary")
	bad=$(sed -E 's/.*Failures: ([0-9]+), Errors: ([0-9]+).*/\1+\2/' <<<"$summary")
	bad=$((bad))
	passed=$((passed + checks - bad))
	failed=$((failed + bad))
	if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
		echo "FAIL: $(basename "$t"): exit status $status"
		failed=$((failed + 1))
	fi
done

# the integration runners: each appends "passed=N failed=N" to $GP_RESULTS
for runner in integration net-integration sync-integration monitor-integration \
	signal-integration; do
	: >"$results"
	GP_RESULTS=$results "tests/$runner.sh" "$build"
	if read -r p f < <(sed -E 's/passed=([0-9]+) failed=([0-9]+)/\1 \2/' "$results" | tail -n 1) &&
		[ -n "${p:-}" ]; then
		passed=$((passed + p))
		failed=$((failed + f))
	else
		echo "FAIL: tests/$runner.sh reported no result"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
