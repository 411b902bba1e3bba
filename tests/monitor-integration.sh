#!/usr/bin/env bash
# Integration tests of the monitor (issue 10): a call greenpoll cannot see, or a thread that
# computes, must not stall the program's other threads; a deadlock is reported. Each fixture
# runs natively and under the shim with GREENPOLL_PROCS=1 and 2, each run under a time limit.
#
#   usage: tests/monitor-integration.sh [BUILD_DIR]     (from the repo root, after `make fixtures`)
#
# Prints one line per run, "PASS: <case> (<mode>)" or "FAIL: <case> (<mode>): <reason>", then
# "monitor-integration: N passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if set.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
fixtures=$build/fixtures
lib=$build/libgreenpoll.so

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run_case CASE MODE [ARG...]: MODE is "native" or the GREENPOLL_PROCS value for a shim run;
# shim runs get --under-shim before the ARGs.
run_case() {
	local case=$1 mode=$2 label
	shift 2
	if [ "$mode" = native ]; then
		label="$case${*:+ $*} (native)"
	else
		label="$case${*:+ $*} (shim GREENPOLL_PROCS=$mode)"
	fi
	if [ ! -x "$fixtures/$case" ]; then
		fail "$label" "$fixtures/$case not built (make fixtures)"
		return
	fi
	if [ "$mode" = native ]; then
		run -- "$fixtures/$case" "$@"
	elif [ ! -f "$lib" ]; then
		fail "$label" "$lib does not exist"
		return
	else
		run LD_PRELOAD="$lib" GREENPOLL_PROCS="$mode" -- "$fixtures/$case" --under-shim "$@"
	fi
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	else
		pass "$label"
	fi
}

# ---- cases ----

report monitor-integration
