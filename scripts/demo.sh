#!/usr/bin/env bash
# demo.sh — the demo (make demo): the same plain thread-per-connection echo server
# (tests/fixtures/echo_server.c) run natively and then under greenpoll (GREENPOLL_PROCS = online
# CPUs), each loaded by the bundled load generator (scripts/bench/net/loadgen.c) with CONNS
# connections doing 64-byte ping-pong for about 5 s, every byte checked. Prints one side-by-side
# table: the server's OS threads and VmRSS (the most seen while loaded, /proc/PID/status), the
# MemAvailable drop from before the server started (kernel memory and the load generator's side
# of the connections included), requests/s, p99 latency and errors. Nothing is pinned: server and
# load generator share the CPUs. Exits 1 when the load generator reports any error or a run
# fails (the reason is printed), 2 when a program is missing. Takes well under a minute.
#   scripts/demo.sh [BUILD_DIR] [CONNS]     (default build 5000; make demo builds them)
set -euo pipefail
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."
build=${1:-build}
conns=${2:-5000}
lib=$(readlink -f -- "$build")/libgreenpoll.so
server=$build/fixtures/echo_server
loadgen=$build/bench/net/loadgen
procs=$(nproc)

unset LD_PRELOAD "${!GREENPOLL_@}"
export LC_ALL=C.UTF-8

if [[ ! $conns =~ ^[1-9][0-9]*$ ]]; then
	printf 'usage: scripts/demo.sh [BUILD_DIR] [CONNS]\n' >&2
	exit 2
fi
for p in "$server" "$loadgen"; do
	if [[ ! -x $p ]]; then
		printf 'demo: %s missing; build it with make demo\n' "$p" >&2
		exit 2
	fi
done

tmp=$(mktemp -d)
srv_pid=''
# cleanup: ends only the server this script started, by its id
# shellcheck disable=SC2317 # reached through the EXIT trap
cleanup() {
	[[ -z $srv_pid ]] || kill -KILL "$srv_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# alive PID: whether process PID exists and is not a zombie
alive() {
	local state
	state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

# firstlines FILE: its first non-empty lines (at most 3) joined with " | "
firstlines() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | head -n 3 | sed ':a;N;s/\n/ | /;ta' || true; }

# field LINE NAME: the value of NAME=value in LINE
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }

status=0
rows=()
reasons=()

# run LABEL COMMAND...: starts the server, loads it, adds a table row (or a failure and its reason)
run() {
	local label=$1 out='' rc=0 avail0 i why='' line
	shift
	printf 'demo: %s: %s connections...\n' "$label" "$conns" >&2
	sleep 1.1 # the kernel folds per-CPU counters into MemAvailable once a second
	avail0=$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)
	rm -f "$tmp/port"
	"$@" --port-file "$tmp/port" >/dev/null 2>"$tmp/server.err" &
	srv_pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ ! -s $tmp/port ]] || break
		alive "$srv_pid" || break
		sleep 0.1
	done
	if [[ ! -s $tmp/port ]]; then
		why='the server did not start'
	else
		out=$(timeout -k 2 60 "$loadgen" --port "$(<"$tmp/port")" --conns "$conns" --msg 64 \
			--warmup 1 --duration 4 --timeout 5 --server-pid "$srv_pid" 2>"$tmp/loadgen.err") ||
			rc=$?
		if ((rc == 124 || rc == 137)); then
			why='the load generator hung (killed after 60 s)'
		elif ((rc != 0)) && [[ $(field "$out" errors) == '' ]]; then
			why="the load generator failed (exit status $rc)"
		fi
		[[ ! -s $tmp/loadgen.err ]] || why+="${why:+; }load generator: $(firstlines "$tmp/loadgen.err")"
	fi
	kill -TERM "$srv_pid" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		alive "$srv_pid" || break
		sleep 0.1
	done
	kill -KILL "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=''
	[[ ! -s $tmp/server.err ]] || why+="${why:+; }server: $(firstlines "$tmp/server.err")"

	if [[ $(field "${out-}" requests) =~ ^[1-9] ]]; then
		line=$(awk -v t="$(field "$out" server_threads)" -v r="$(field "$out" server_rss_kib)" \
			-v a0="$avail0" -v a1="$(field "$out" mem_avail_kib)" -v rps="$(field "$out" rps)" \
			-v p99="$(field "$out" p99_us)" -v e="$(field "$out" errors)" -v l="$label" \
			'BEGIN { printf "%-28s %10s %12.1f %14.1f %12.0f %10.2f %7s", l, t, r / 1024,
				(a1 > 0 ? (a0 - a1) / 1024 : 0), rps, p99 / 1000, e }')
		rows+=("$line")
	else
		rows+=("$(printf '%-28s %s' "$label" "FAILED: nothing measured${out:+ (errors=$(field "$out" errors))}")")
	fi
	if ((rc != 0)) || [[ ! $(field "${out-}" requests) =~ ^[1-9] ]]; then
		status=1
		reasons+=("$label: ${why:-load generator exit status $rc}")
	fi
}

printf 'greenpoll network demo: a thread-per-connection echo server, %s connections of 64-byte ping-pong\n' \
	"$conns"
printf '(1 s warm-up, 4 s measured; every echoed byte checked; %s CPUs shared by server and load generator)\n\n' \
	"$procs"
run native "$server"
if [[ -f $lib ]]; then
	run "greenpoll (procs=$procs)" env LD_PRELOAD="$lib" GREENPOLL_PROCS="$procs" "$server"
else
	status=1
	rows+=("$(printf '%-28s %s' "greenpoll (procs=$procs)" 'FAILED: no result')")
	reasons+=("greenpoll (procs=$procs): $lib missing (make all)")
fi

printf '%-28s %10s %12s %14s %12s %10s %7s\n' run "OS threads" "VmRSS MiB" "MemAvail MiB" \
	"requests/s" "p99 ms" errors
printf '%s\n' "${rows[@]}"
if ((${#reasons[@]})); then
	printf '\n'
	printf 'why: %s\n' "${reasons[@]}"
fi
printf '\nOS threads and VmRSS: the most seen while loaded; MemAvail: the MemAvailable drop from before the server started.\n'
exit "$status"
