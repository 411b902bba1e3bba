#!/usr/bin/env bash
# demo.sh — the demo: the same thread-per-job program (tests/demo/threads_demo.c, 10,000
# threads that sleep and compute) run natively and under greenpoll, side by side: OS threads,
# peak memory, wall time. Usage: scripts/demo.sh [BUILD_DIR] [THREADS]
set -euo pipefail
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."
build=${1:-build}
n=${2:-10000}
prog=$build/demo/threads_demo
lib=$PWD/$build/libgreenpoll.so

run() { # label, command...
	local label=$1 out
	shift
	if ! out=$("$@" "$n"); then
		printf 'demo: %s run failed\n' "$label" >&2
		exit 1
	fi
	# threads=N os_threads=P rss_kib=R wall_ms=W ok=1
	eval "local $out"
	# shellcheck disable=SC2154 # set by eval from the program's output
	printf '%-22s %10s %12s %14s %10s\n' "$label" "$os_threads" "$rss_kib" "$wall_ms" "$ok"
}

printf 'greenpoll demo: %s threads, each sleeps 200 ms, computes a checksum, sleeps again\n\n' "$n"
printf '%-22s %10s %12s %14s %10s\n' run "OS threads" "peak RSS KiB" "wall time ms" "result ok"
run native "$prog"
run "greenpoll (procs=$(nproc))" env LD_PRELOAD="$lib" "$prog"
