#!/usr/bin/env bash
# run-all.sh — every test: the Check unit tests (BUILD_DIR/unit/test_*), then the integration
# runs: the runtime core (tests/integration.sh), sockets (tests/net-integration.sh),
# synchronization and multiplexing (tests/sync-integration.sh), the monitor
# (tests/monitor-integration.sh), signals (tests/signal-integration.sh), the greenpoll command
# (tests/cli-integration.sh), looking inside running programs (tests/observe-integration.sh);
# where the task switch uses wrfsbase, the core, socket and signal runners once more with the
# system-call switch forced. Ends with one line "N passed, N failed" (unit checks plus integration runs) and exits
# non-zero if anything failed or a test binary crashed. Tests that need many fds raise the soft
# limit themselves.
# With ASAN_DIR, the unit tests built with AddressSanitizer there (make asan-build) run too,
# and count in the totals.
#   usage: tests/run-all.sh [BUILD_DIR [ASAN_DIR]]     (after `make all fixtures unit`)
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
# shellcheck source=tests/lib.sh
. tests/lib.sh
build=${1:-build}
asan=${2:-}
results=$(mktemp)
trap 'rm -f "$results"' EXIT

run_units "$build"
if [ -n "$asan" ]; then
	echo "== the unit tests again, built with AddressSanitizer ($asan)"
	ASAN_OPTIONS=$ASAN_UNIT_OPTIONS run_units "$asan"
fi

# run_runner NAME [SETTING]: tests/NAME.sh, with SETTING (VAR=value) in its environment if
# given; it appends "passed=N failed=N" to $GP_RESULTS, which go to the totals
run_runner() {
	local runner=$1 setting=${2:-} p f
	: >"$results"
	[ -z "$setting" ] || echo "== tests/$runner.sh again with $setting"
	env ${setting:+"$setting"} GP_RESULTS="$results" "tests/$runner.sh" "$build"
	if read -r p f < <(sed -E 's/passed=([0-9]+) failed=([0-9]+)/\1 \2/' "$results" | tail -n 1) &&
		[ -n "${p:-}" ]; then
		passed=$((passed + p))
		failed=$((failed + f))
	else
		echo "FAIL: tests/$runner.sh${setting:+ ($setting)} reported no result"
		failed=$((failed + 1))
	fi
}

for runner in integration net-integration sync-integration monitor-integration \
	signal-integration cli-integration observe-integration; do
	run_runner "$runner"
done

# On a machine whose task switch writes the FS base with wrfsbase, the runners that exercise
# TLS, fork, signals and sockets run again with the system-call switch forced (every shimmed
# run inherits GREENPOLL_FS_SWITCH=syscall), the path of machines without user-space FSGSBASE;
# on one without it, that path is the one every run above took.
switch=$(LD_PRELOAD="$build/libgreenpoll.so" GREENPOLL_DEBUG=1 "$build/fixtures/hello" 2>&1 >/dev/null |
	grep -o 'FS switch by [a-z_]*')
if [ "$switch" = "FS switch by wrfsbase" ]; then
	for runner in integration net-integration signal-integration; do
		run_runner "$runner" GREENPOLL_FS_SWITCH=syscall
	done
else
	echo "${switch:-GREENPOLL_DEBUG=1 named no FS switch} here: every shimmed run above took the system-call switch"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
