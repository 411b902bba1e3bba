#!/usr/bin/env bash
# bench-sync.sh — the synchronization benchmarks of issue 4, native and under libgreenpoll.so
# side by side in one run: mutex+condvar ping-pong between two threads (native pinned to one
# CPU vs GREENPOLL_PROCS=1; native unpinned vs GREENPOLL_PROCS=2 unpinned), a contended mutex
# counter (4 threads), and the acceptor + worker-pool server (tests/fixtures/pool_server, 64
# workers) under pool_client at 1,000 and 5,000 concurrent clients. The machine is shared and
# noisy, so each benchmark runs several times per side, the sides alternate, the median is
# kept. Prints one table (benchmark, native, shim, speed-up, target, met?) and writes it, with
# notes, as markdown to BUILD/bench-sync.md. Not a timed test: a missed target fails nothing.
# Every run is bounded by a timeout; a shim run that fails or hangs is reported in its cell,
# and when the library is missing or does not load, the native side still runs.
#   scripts/bench-sync.sh [BUILD]      (default build)
# Needs BUILD/bench/sync/pingpong and BUILD/bench/sync/counter (scripts/bench/sync/*.c, built
# like the other benchmarks: $(CC) -std=gnu11 -O2 -pthread X.c scripts/bench/common.c) and
# BUILD/fixtures/pool_server and BUILD/fixtures/pool_client (make fixtures).
#
# (Run with --pool-run SIDE CLIENTS REQUESTS, it is its own helper: one pool_server run,
# started and stopped here, printing pool_client's line plus the server's OS thread count.
# POOL_CLIENT_THREADS=N gives pool_client N epoll threads instead of 1, to see the servers
# when the client is not the bottleneck, e.g.
#   POOL_CLIENT_THREADS=2 scripts/bench-sync.sh --pool-run shim 5000 25000 build )
set -euo pipefail

self=$(readlink -f -- "${BASH_SOURCE[0]}")
cd "$(dirname -- "$self")/.."

# ---- helper mode: one worker-pool server run ----
if [[ ${1-} == --pool-run ]]; then
	side=$2 clients=$3 requests=$4 build=$5
	lib=$(readlink -f -- "$build")/libgreenpoll.so
	tmp=$(mktemp -d)
	server=''
	sampler=''
	trap '[[ -z $sampler ]] || kill "$sampler" 2>/dev/null; [[ -z $server ]] || kill -KILL "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
	gone() { # PID: ended (or a zombie)
		local s
		s=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || true
		[[ -z $s || $s == Z ]]
	}
	if [[ $side == shim ]]; then
		env LD_PRELOAD="$lib" "$build/fixtures/pool_server" --port-file "$tmp/port" \
			--workers 64 >/dev/null 2>"$tmp/err" &
	else
		"$build/fixtures/pool_server" --port-file "$tmp/port" --workers 64 \
			>/dev/null 2>"$tmp/err" &
	fi
	server=$!
	for ((i = 0; i < 100; i++)); do
		[[ ! -s $tmp/port ]] || break
		! gone "$server" || break
		sleep 0.1
	done
	if [[ ! -s $tmp/port ]]; then
		printf 'pool_server did not start: %s\n' "$(head -n 1 "$tmp/err")" >&2
		exit 1
	fi
	(
		while [[ -r /proc/$server/status ]]; do
			sed -n 's/^Threads:[[:space:]]*//p' "/proc/$server/status" 2>/dev/null || true
			sleep 0.1
		done
	) >"$tmp/threads" &
	sampler=$!
	rc=0
	out=$("$build/fixtures/pool_client" --port "$(cat "$tmp/port")" --clients "$clients" \
		--requests "$requests" --threads "${POOL_CLIENT_THREADS:-1}" --timeout 50 2>"$tmp/cerr") || rc=$?
	kill "$sampler" 2>/dev/null || true
	sampler=''
	sigterm=killed
	kill -TERM "$server" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		if gone "$server"; then
			sigterm=ok
			break
		fi
		sleep 0.1
	done
	kill -KILL "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=''
	if ((rc != 0)); then
		printf '%s\n' "$(head -n 1 "$tmp/cerr")${out:+ ($out)}" >&2
		exit "$rc"
	fi
	printf '%s server_threads=%s sigterm=%s\n' "$out" "$(sort -n "$tmp/threads" | tail -n 1)" \
		"$sigterm"
	exit 0
fi

build=${1:-build}
bin=$build/bench/sync
lib=$(readlink -f -- "$build")/libgreenpoll.so
md=$build/bench-sync.md
reps=3
limit=60       # seconds one run may take before it counts as hung
pool_limit=90  # a pool run: server start, up to 50 s of clients, server stop

# no preload and no runtime settings inherited from the caller; one locale for numbers and text
unset LD_PRELOAD "${!GREENPOLL_@}"
export LC_ALL=C.UTF-8

for p in "$bin/pingpong" "$bin/counter" "$build/fixtures/pool_server" \
	"$build/fixtures/pool_client"; do
	if [[ ! -x $p ]]; then
		printf 'bench-sync.sh: %s missing; build it (make fixtures, and the benchmarks)\n' \
			"$p" >&2
		exit 2
	fi
done

declare -A lines=() fail=() nfail=()
notes=()
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT

# shim_state: empty when the library loads into a plain program, else why the shim side is skipped
shim_state=''
if [[ ! -f $lib ]]; then
	shim_state='(library missing)'
elif ! maps=$(timeout -k 5 10 env LD_PRELOAD="$lib" /bin/cat /proc/self/maps 2>"$errfile") ||
	[[ $maps != *"$lib"* ]]; then
	shim_state='(library fails to load)'
	notes+=("LD_PRELOAD=$lib /bin/cat /proc/self/maps: $(head -n 1 "$errfile")")
fi

# attempt KEY SECONDS CMD...: runs CMD once with the time limit; appends its output line to
# lines[KEY], or counts a failure in nfail[KEY] and keeps the latest reason in fail[KEY]. Does
# nothing once KEY has hung or timed out (a broken shim costs one time limit, not three).
attempt() {
	local key=$1 lim=$2 out rc=0 why start=$SECONDS
	shift 2
	[[ ${fail[$key]-} != hung* && ${fail[$key]-} != *"timed out"* ]] || return 0
	out=$(timeout -k 5 "$lim" "$@" 2>"$errfile") || rc=$?
	if ((rc == 0)) && [[ $key == *.shim* && $out == *greenpoll=no* ]]; then
		why='ran without libgreenpoll.so mapped'
	elif ((rc == 0)); then
		lines[$key]+=$out$'\n'
		return 0
	elif ((SECONDS - start >= lim)); then
		why="hung (killed after $lim s)"
	elif ((rc > 128)); then
		why="killed by SIG$(kill -l $((rc - 128)))"
	else
		why="exit status $rc"
	fi
	[[ ! -s $errfile ]] || why+=": $(head -n 1 "$errfile")"
	fail[$key]=$why
	nfail[$key]=$((${nfail[$key]-0} + 1))
}

cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
procs=$(nproc)

# run_side NAME SIDE: one run of benchmark NAME on SIDE
run_side() {
	case $1.$2 in
	pingpong.native1) attempt "$1.$2" "$limit" taskset -c "$cpu" "$bin/pingpong" ;;
	pingpong.shim1) attempt "$1.$2" "$limit" env LD_PRELOAD="$lib" GREENPOLL_PROCS=1 "$bin/pingpong" ;;
	pingpong.native2) attempt "$1.$2" "$limit" "$bin/pingpong" ;;
	pingpong.shim2) attempt "$1.$2" "$limit" env LD_PRELOAD="$lib" GREENPOLL_PROCS=2 "$bin/pingpong" ;;
	counter.native) attempt "$1.$2" "$limit" "$bin/counter" 4 1000 ;;
	counter.shim) attempt "$1.$2" "$limit" env LD_PRELOAD="$lib" "$bin/counter" 4 1000 ;;
	pool1k.native | pool1k.shim)
		attempt "$1.$2" "$pool_limit" "$self" --pool-run "$2" 1000 20000 "$build" ;;
	pool5k.native | pool5k.shim)
		attempt "$1.$2" "$pool_limit" "$self" --pool-run "$2" 5000 25000 "$build" ;;
	esac
}

# measure NAME SIDE...: runs benchmark NAME on each SIDE, reps times, the sides alternating; the
# shim sides are skipped when the library is unusable
measure() {
	local name=$1 r side
	shift
	for ((r = 0; r < reps; r++)); do
		for side in "$@"; do
			[[ $side != shim* || -z $shim_state ]] || continue
			run_side "$name" "$side"
		done
	done
}

# values KEY FIELD: the FIELD values of KEY's runs, sorted, one line
values() {
	printf '%s' "${lines[$1]-}" | sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" | sort -g | paste -sd ' ' -
}

# median KEY FIELD: the median FIELD value of KEY's runs; empty when no run succeeded
median() {
	values "$1" "$2" | awk '{ if (NF) print $(int((NF + 1) / 2)) }'
}

# cell KEY VALUE: a table cell: the value (noting failed runs), or why there is none
cell() {
	local key=$1 value=$2
	if [[ $key == *.shim* && -n $shim_state ]]; then
		printf '%s' "$shim_state"
	elif [[ -z $value && -n ${fail[$key]-} ]]; then
		printf '%s (see notes)' "${fail[$key]%%:*}"
	elif [[ -z $value ]]; then
		printf 'no result'
	elif [[ -n ${nfail[$key]-} ]]; then
		printf '%s (%s of %s runs failed)' "$value" "${nfail[$key]}" "$reps"
	else
		printf '%s' "$value"
	fi
}

rows=()
# row NAME UNIT NATIVE_KEY:FIELD SHIM_KEY:FIELD KIND TARGET TEST [OTHER_KEY:FIELD]: one table
# row. KIND is "cost" (lower is better: speed-up = native ÷ shim) or "rate" (higher is better:
# speed-up = shim ÷ native). TEST is an awk condition on n (native), s (shim) and o (the
# median of OTHER_KEY:FIELD, if given) saying whether the target is met, or - for none.
row() {
	local name=$1 unit=$2 nkey=${3%:*} skey=${4%:*} kind=$5 target=$6 test=$7 other=${8-}
	local n s o='' ratio='—' met='—'
	n=$(median "$nkey" "${3#*:}")
	s=$(median "$skey" "${4#*:}")
	[[ -z $other ]] || o=$(median "${other%:*}" "${other#*:}")
	if [[ -n $n && -n $s ]]; then
		ratio=$(awk -v n="$n" -v s="$s" -v k="$kind" 'BEGIN {
			r = (k == "cost") ? (s > 0 ? n / s : -1) : (n > 0 ? s / n : -1)
			if (r < 0) print "—"; else printf "%.1f×", r }')
	fi
	if [[ -n $s && $test != - && ($test != *n* || -n $n) && ($test != *o* || -n $o) ]]; then
		met=$(awk -v n="${n:-0}" -v s="$s" -v o="${o:-0}" "BEGIN { print ($test) ? \"yes\" : \"NO\" }")
	fi
	rows+=("$name ($unit)"$'\t'"$(cell "$nkey" "$n")"$'\t'"$(cell "$skey" "$s")"$'\t'"$ratio"$'\t'"$target"$'\t'"$met")
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
printf 'bench-sync: %s runs per side; shim: %s\n' "$reps" "${shim_state:-$lib}" >&2
printf 'bench-sync: condvar ping-pong...\n' >&2
measure pingpong native1 shim1 native2 shim2
printf 'bench-sync: contended mutex counter...\n' >&2
measure counter native shim
printf 'bench-sync: worker-pool server, 1,000 clients...\n' >&2
measure pool1k native shim
printf 'bench-sync: worker-pool server, 5,000 clients...\n' >&2
measure pool5k native shim

row 'condvar ping-pong round trip, one CPU' µs pingpong.native1:rt_us pingpong.shim1:rt_us cost \
	'≥ 20× faster' 'n >= 20 * s'
row 'condvar ping-pong round trip, two CPUs' µs pingpong.native2:rt_us pingpong.shim2:rt_us cost \
	'≤ 2× one-carrier' 's <= 2 * o' pingpong.shim1:rt_us
row 'contended mutex, 4 threads' ns/increment counter.native:ns_per_inc counter.shim:ns_per_inc \
	cost '—' -
row 'worker-pool server, 1,000 clients' req/s pool1k.native:rps pool1k.shim:rps rate '—' -
row 'worker-pool server, 5,000 clients' req/s pool5k.native:rps pool5k.shim:rps rate \
	'≥ 2× native' 's >= 2 * n'

# field_note KEY FIELD: "v1 v2 v3" for a side's runs, or "—"
field_note() {
	local v
	v=$(values "$1" "$2")
	printf '%s' "${v:-—}"
}

# sigterm_note SIDE: how that side's pool servers ended, e.g. "ok 6×"
sigterm_note() {
	local v
	v=$(printf '%s' "${lines[pool1k.$1]-}${lines[pool5k.$1]-}" |
		sed -n 's/.*sigterm=\([a-z]*\).*/\1/p' | sort | uniq -c |
		awk '{ printf "%s%s %d×", (NR > 1 ? ", " : ""), $2, $1 }')
	printf '%s' "${v:-—}"
}

notes+=(
	"speed-up: how many times faster the shim is than native (native ÷ shim for times, shim ÷ native for rates)."
	"Median of $reps runs per side, sides alternating. All runs, native | shim: ping-pong one CPU $(field_note pingpong.native1 rt_us) | $(field_note pingpong.shim1 rt_us) µs; two CPUs $(field_note pingpong.native2 rt_us) | $(field_note pingpong.shim2 rt_us) µs; mutex $(field_note counter.native ns_per_inc) | $(field_note counter.shim ns_per_inc) ns; pool 1,000 $(field_note pool1k.native rps) | $(field_note pool1k.shim rps) req/s; pool 5,000 $(field_note pool5k.native rps) | $(field_note pool5k.shim rps) req/s."
	"Ping-pong: two threads hand a turn back and forth through one mutex and two condvars (scripts/bench/sync/pingpong.c); up to 200,000 round trips or 5 s. One CPU: native pinned to CPU $cpu (taskset), shim GREENPOLL_PROCS=1. Two CPUs: both unpinned on $procs CPUs, shim GREENPOLL_PROCS=2; its target is against the shim's one-carrier figure. Native unpinned is bimodal: a few µs while the kernel keeps both threads on one CPU, ~50 µs when each wakes the other across CPUs; read all runs, not just the median. OS threads: native $(field_note pingpong.native2 os_threads), shim $(field_note pingpong.shim2 os_threads)."
	"Contended mutex: 4 threads increment one counter under one default mutex for 1 s (scripts/bench/sync/counter.c); ns per increment over all threads. Shim at the default GREENPOLL_PROCS ($procs)."
	"Worker-pool server: tests/fixtures/pool_server (main thread accepts, 64 workers fed through a mutex+condvar queue, one HTTP/1.0 request per connection) against tests/fixtures/pool_client (one epoll thread keeping 1,000 or 5,000 connections open, 20,000 or 25,000 requests, every reply checked), both on this machine; the shim side preloads the server only, at the default GREENPOLL_PROCS. Server OS threads (max sampled): native $(field_note pool5k.native server_threads), shim $(field_note pool5k.shim server_threads). How the servers ended when sent SIGTERM (ok: exited within 3 s; killed: SIGKILL after 3 s): native $(sigterm_note native), shim $(sigterm_note shim)."
)
for key in "${!fail[@]}"; do
	notes+=("$key: ${nfail[$key]} failed run(s), latest: ${fail[$key]}")
done

header=$'benchmark\tnative\tshim\tspeed-up\ttarget\tmet?'
# the markdown first, so that a closed stdout (| head) still leaves it written
{
	printf '## Synchronization benchmarks\n\n'
	printf "\`scripts/bench-sync.sh\`, %s; %s CPUs, Linux %s, load average %s at start.\n\n" \
		"$started" "$procs" "$(uname -r)" "$load"
	printf '| %s |\n' "${header//$'\t'/ | }"
	printf '|---|---:|---:|---:|---|---|\n'
	for r in "${rows[@]}"; do
		r=${r//|/\\|}
		printf '| %s |\n' "${r//$'\t'/ | }"
	done
	printf '\n'
	printf -- '- %s\n' "${notes[@]}"
} >"$md"
# the table aligned for the terminal (${#c} counts characters: LC_ALL is a UTF-8 locale)
widths=(0 0 0 0 0 0)
for r in "$header" "${rows[@]}"; do
	IFS=$'\t' read -ra cells <<<"$r"
	for i in "${!cells[@]}"; do
		((${#cells[i]} <= widths[i])) || widths[i]=${#cells[i]}
	done
done
for r in "$header" "${rows[@]}"; do
	IFS=$'\t' read -ra cells <<<"$r"
	line=''
	for i in "${!cells[@]}"; do
		line+=${cells[i]}$(printf '%*s' $((widths[i] - ${#cells[i]} + 2)) '')
	done
	printf '%s\n' "${line%"${line##*[! ]}"}"
done
printf '\n'
printf -- '- %s\n' "${notes[@]}"

printf '\nwritten to %s\n' "$md" >&2
