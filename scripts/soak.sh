#!/usr/bin/env bash
# soak.sh — `make soak`: scripts/soak/soak (a plain thread-per-connection program: thousands of
# connections churning with random sizes, half-closes and resets, checksummed; a signal storm
# with handlers; forks; threads made and ended) runs under greenpoll with GREENPOLL_PROCS=2 for
# SOAK_S seconds (default 60), then checks itself (see its header: bytes, lost connections,
# fds, threads, OS threads, RSS after warm-up). This script adds what only greenpoll can say,
# from GREENPOLL_DEBUG=1's exit line: the tasks still alive (1: main), the poll descriptors
# still in use (0: every socket was closed) and the stack regions still pooled once idle (at
# most GREENPOLL_STACK_CACHE, default 1). Prints the figures; exits non-zero on any failure.
# Not a timed test: part of the benchmark side (scripts/bench.mk), not of `make test`.
#   usage: SOAK_S=60 scripts/soak.sh [BUILD_DIR]     (after `make all build/soak/soak`)
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
build=${1:-build}
seconds=${SOAK_S:-60}
cache=${GREENPOLL_STACK_CACHE:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $seconds in '' | *[!0-9]*)
	echo "soak: SOAK_S='$seconds' is not a whole number of seconds" >&2
	exit 2
	;;
esac
for f in "$build/libgreenpoll.so" "$build/soak/soak"; do
	[ -e "$f" ] || { echo "soak: $f not built (make soak builds it)" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)"

echo "soak: $seconds s under greenpoll (GREENPOLL_PROCS=2)"
timeout -k 5 $((seconds + 120)) env LD_PRELOAD="$build/libgreenpoll.so" GREENPOLL_PROCS=2 \
	GREENPOLL_DEBUG=1 "$build/soak/soak" "$seconds" >"$tmp/out" 2>"$tmp/err"
status=$?
cat "$tmp/out"
grep -v '^greenpoll: started:' "$tmp/err"

ok=true
if [ "$status" -ne 0 ]; then
	echo "FAIL: soak exited with status $status$([ "$status" -eq 124 ] && echo ' (timed out)')"
	ok=false
fi
line=$(grep '^greenpoll: at exit: ' "$tmp/err" | tail -n 1)
if [[ $line =~ ^greenpoll:\ at\ exit:\ ([0-9]+)\ tasks,\ ([0-9]+)\ poll\ descriptors\ in\ use,\ ([0-9]+)\ stack\ regions\ pooled$ ]]; then
	tasks=${BASH_REMATCH[1]} pds=${BASH_REMATCH[2]} pooled=${BASH_REMATCH[3]}
	[ "$tasks" -eq 1 ] || { echo "FAIL: $tasks tasks alive at exit, want 1 (main)"; ok=false; }
	[ "$pds" -eq 0 ] || { echo "FAIL: $pds poll descriptors in use at exit, want 0"; ok=false; }
	[ "$pooled" -le "$cache" ] ||
		{ echo "FAIL: $pooled stack regions pooled at exit, want at most $cache"; ok=false; }
else
	echo "FAIL: no 'greenpoll: at exit: ...' line on stderr (GREENPOLL_DEBUG=1)"
	ok=false
fi
if $ok; then
	echo "soak: PASS"
else
	echo "soak: FAILED"
	exit 1
fi
