#!/usr/bin/env bash
# bench-net.sh — the network benchmarks of `make bench`, every server side by side in one run:
#   shim    tests/fixtures/echo_server (thread per connection) under libgreenpoll.so,
#           GREENPOLL_PROCS=1
#   native  the same binary without the shim
#   epoll   scripts/bench/net/epoll_echo.c, a hand-written single-threaded epoll server (best case)
#   go      scripts/bench/net/echo.go, goroutine per connection, GOMAXPROCS=1
# Each server is pinned to CPU 0 and the load generator (scripts/bench/net/loadgen.c, one thread)
# to CPU 1. Three measurements:
#   1. echo ping-pong, 64-byte messages, at 100, 1,000 and 10,000 connections: requests/s, p50
#      and p99 latency, the server's CPU seconds during the measurement, ratios to epoll, and for
#      the shimmed server its FS-base writes per request (GREENPOLL_DEBUG=1's last line, the
#      count over the server's whole run, over every echo the load generator got: a system call
#      each where the FS switch is by arch_prctl, which the output's first line names);
#   2. idle memory per connection at 10,000 connections: the MemAvailable drop from before the
#      server starts to all connections open and idle (one echo each), over 10,000 — kernel
#      memory included, and the load generator's side of the connections too (the same for every
#      server); the shimmed server also at GREENPOLL_STACK=64K;
#   3. HTTP: wrk -t1 -c100 against tests/fixtures/http_server serving a 1 KiB file, native and
#      shimmed (GREENPOLL_PROCS=1), after one request whose bytes are checked: requests/s,
#      latency and the server's CPU µs per request.
# The machine is shared and noisy: every run is repeated (3 times by default, the servers
# alternating) and the median run is kept; the notes list every run.
# Writes the tables to BUILD/bench-net.md and the throughput plot to BUILD/bench-net.png
# (gnuplot; throughput vs connections, one line per server). Every run is bounded by timeouts; a
# run that fails or hangs is reported with the reason (the load generator's and the server's
# stderr) and the others go on. Not a timed test: a missed target fails nothing. Exits 2 when a
# program is missing, else 0.
#   scripts/bench-net.sh [BUILD]     (default build; make bench-net builds what it needs)
# Environment (for quick runs): BENCH_NET_CONNS (default "100 1000 10000"), BENCH_NET_WARMUP
# (2 s), BENCH_NET_DURATION (3 s: echo and wrk), BENCH_NET_IDLE_CONNS (10000), BENCH_NET_REPS (3);
# BENCH_NET_BASELINE=PATH adds to the echo runs the shimmed server under another build of
# libgreenpoll.so (say main's, to compare a change side by side: "baseline" rows, × baseline in
# the notes), and to the HTTP runs.
set -euo pipefail

cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
build=${1:-build}
lib=$(readlink -f -- "$build")/libgreenpoll.so
md=$build/bench-net.md
png=$build/bench-net.png
read -ra conns_list <<<"${BENCH_NET_CONNS:-100 1000 10000}"
warmup=${BENCH_NET_WARMUP:-2}
duration=${BENCH_NET_DURATION:-3}
idle_conns=${BENCH_NET_IDLE_CONNS:-10000}
reps=${BENCH_NET_REPS:-3}
for v in "${conns_list[@]}" "$warmup" "$duration" "$idle_conns" "$reps"; do
	if [[ ! $v =~ ^[0-9]+$ ]]; then
		printf 'bench-net.sh: BENCH_NET_* settings are whole numbers, not %s\n' "$v" >&2
		exit 2
	fi
done

echo_server=$build/fixtures/echo_server
http_server=$build/fixtures/http_server
loadgen=$build/bench/net/loadgen
epoll_echo=$build/bench/net/epoll_echo
echo_go=$build/bench/echo-go

# no preload and no runtime settings inherited from the caller; one locale for numbers and text
unset LD_PRELOAD "${!GREENPOLL_@}" GOMAXPROCS
export LC_ALL=C.UTF-8

for p in "$echo_server" "$http_server" "$loadgen" "$epoll_echo" "$echo_go"; do
	if [[ ! -x $p ]]; then
		printf 'bench-net.sh: %s missing; build it with make bench-net\n' "$p" >&2
		exit 2
	fi
done
have_wrk=1
command -v wrk >/dev/null || have_wrk=''

tmp=$(mktemp -d)
srv_pid=''
gen_pid=''
# cleanup: ends only the processes this script started, by their ids
cleanup() {
	local p
	for p in $srv_pid $gen_pid; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_cpus

notes=()
# shim_state: empty when the library loads into a plain program, else why the shim runs are
# skipped (check_shim)
check_shim

say() { printf 'bench-net: %s\n' "$*" >&2; }

# meminfo FIELD / status PID FIELD: a number (kB for sizes) from /proc
meminfo() { awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo; }
status() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }

# cpu_ticks PID: the process's user + system CPU time in clock ticks (after its name's ")")
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }

# server_cmd KEY: sets cmd to the command line of server KEY, pinned to the server CPU
server_cmd() {
	local pin=(taskset -c "$srv_cpu") shim=(env LD_PRELOAD="$lib" GREENPOLL_PROCS=1)
	case $1 in
	shim) cmd=("${pin[@]}" "${shim[@]}" GREENPOLL_DEBUG=1 "$echo_server") ;;
	shim64k) cmd=("${pin[@]}" "${shim[@]}" GREENPOLL_STACK=64K "$echo_server") ;;
	baseline) cmd=("${pin[@]}" env LD_PRELOAD="$baseline" GREENPOLL_PROCS=1 GREENPOLL_DEBUG=1 \
		"$echo_server") ;;
	native) cmd=("${pin[@]}" "$echo_server") ;;
	epoll) cmd=("${pin[@]}" "$epoll_echo") ;;
	go) cmd=("${pin[@]}" env GOMAXPROCS=1 "$echo_go") ;;
	http-native) cmd=("${pin[@]}" "$http_server" --root "$tmp/www") ;;
	http-shim) cmd=("${pin[@]}" "${shim[@]}" "$http_server" --root "$tmp/www") ;;
	http-baseline) cmd=("${pin[@]}" env LD_PRELOAD="$baseline" GREENPOLL_PROCS=1 "$http_server" \
		--root "$tmp/www") ;;
	*) return 1 ;;
	esac
}

# res[KEY]: the output lines of KEY's successful runs; fail[KEY]: why its latest run failed;
# nfail[KEY]: how many failed; what[KEY]: what it is, for the notes
declare -A res=() fail=() nfail=() what=()
failed_keys=() # in the order they first failed
declare -A label=([shim]='echo_server + greenpoll' [shim64k]='echo_server + greenpoll, 64 KiB stacks'
	[native]='echo_server (native threads)' [epoll]='epoll_echo (hand-written epoll)'
	[go]='echo-go (goroutines)' [http-native]='http_server (native threads)'
	[http-shim]='http_server + greenpoll')

# failed KEY WHAT: records why a run of KEY (described as WHAT) failed, from $why
failed() {
	fail[$1]=$why
	[[ -n ${nfail[$1]-} ]] || failed_keys+=("$1")
	nfail[$1]=$((${nfail[$1]-0} + 1))
	what[$1]=$2
	say "  failed: $why"
}

# skip KEY: true (and says so) when KEY's runs are not to be made: the shim is unusable, or an
# earlier run of KEY hung
skip() {
	if [[ $1 == *shim* && -n $shim_state ]]; then
		fail[$1]=$shim_state
		return 0
	fi
	[[ ${fail[$1]-} == *hung* ]] || return 1
	nfail[$1]=$((${nfail[$1]} + 1))
	say "  skipped: an earlier run hung"
	return 0
}

# run_echo N KEY: the echo ping-pong with N connections against server KEY
run_echo() {
	local n=$1 key=$2 out rc=0 start limit=$((warmup + duration + 60)) gone='' fs
	run_label="echo $key at $n connections"
	say "echo ping-pong, $n connections: $key"
	! skip "$n.$key" || return 0
	if ! start_server "$key"; then
		failed "$n.$key" "echo, $n connections, ${label[$key]}"
		return
	fi
	start=$SECONDS
	out=$(timeout -k 2 "$limit" taskset -c "$gen_cpu" "$loadgen" --port "$port" --conns "$n" \
		--msg 64 --warmup "$warmup" --duration "$duration" --rate-limit none --timeout 5 \
		--server-pid "$srv_pid" 2>"$tmp/loadgen.err") || rc=$?
	alive "$srv_pid" || gone=1
	stop_server
	if ((rc == 0)); then
		fs=$(sed -n 's/^greenpoll: \([0-9]*\) FS-base writes by .*/\1/p' "$tmp/server.err")
		[[ -z $fs ]] || out+=" fs_writes=$fs"
		res[$n.$key]+=$out$'\n'
		say "  $out"
	else
		why="load generator $(exit_reason "$rc" "$limit" "$start")"
		[[ ! -s $tmp/loadgen.err ]] || why+=": $(stderr_of "$tmp/loadgen.err")"
		[[ -z $gone ]] || why+='; the server had died'
		why+=$(server_says)
		failed "$n.$key" "echo, $n connections, ${label[$key]}"
	fi
	sleep 0.5 # let the closed connections' threads, sockets and timers go
}

# run_idle KEY: idle memory per connection with idle_conns connections against server KEY
run_idle() {
	local key=$1 avail0 avail1 rss threads rc=0 ready='' limit=90 start out
	run_label="idle $key"
	say "idle memory, $idle_conns connections: $key"
	! skip "idle.$key" || return 0
	sleep 1.1 # the kernel folds per-CPU counters into MemAvailable once a second
	avail0=$(meminfo MemAvailable)
	if ! start_server "$key"; then
		failed "idle.$key" "idle memory, ${label[$key]}"
		return
	fi
	start=$SECONDS
	: >"$tmp/idle.out" # empty before the load generator starts: no "ready" from the last run
	taskset -c "$gen_cpu" "$loadgen" --port "$port" --conns "$idle_conns" --idle \
		--duration "$limit" --timeout 10 >"$tmp/idle.out" 2>"$tmp/loadgen.err" &
	gen_pid=$!
	while ((SECONDS - start < limit)) && alive "$gen_pid"; do
		if grep -q '^ready' "$tmp/idle.out"; then
			ready=1
			break
		fi
		sleep 0.1
	done
	if [[ -n $ready ]]; then
		sleep 1.1
		avail1=$(meminfo MemAvailable)
		rss=$(status "$srv_pid" VmRSS)
		threads=$(status "$srv_pid" Threads)
	fi
	kill -TERM "$gen_pid" 2>/dev/null || true
	wait "$gen_pid" || rc=$?
	gen_pid=''
	stop_server
	if [[ -n $ready ]] && ((rc == 0)); then
		out="avail_kib=$((avail0 - avail1)) rss_kib=${rss:-0} threads=${threads:-0}"
		out+=" per_conn_kib=$(awk -v d=$((avail0 - avail1)) -v n="$idle_conns" \
			'BEGIN { printf "%.1f", d / n }')"
		res[idle.$key]+=$out$'\n'
		say "  $out"
	else
		if [[ -z $ready ]]; then
			why="connections not all open ($(exit_reason "$rc" "$limit" "$start"))"
		else
			why="load generator $(exit_reason "$rc" "$limit" "$start") while idle"
		fi
		[[ ! -s $tmp/loadgen.err ]] || why+=": $(stderr_of "$tmp/loadgen.err")"
		why+=$(server_says)
		failed "idle.$key" "idle memory, ${label[$key]}"
	fi
	sleep 2 # let the sockets and stacks be freed before the next baseline
}

# to_us VALUE: a wrk latency (e.g. 512.00us, 1.23ms, 2.00s) in microseconds
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		printf "%.1f", u == "s" ? n * 1e6 : u == "ms" ? n * 1e3 : n }'
}

# run_http KEY: one checked GET, then wrk, against the HTTP server KEY (http-native, http-shim)
run_http() {
	local key=$1 out rc=0 start limit=$((duration + 30)) got rps p50 p99 errs cpu0 cpu1 reqs
	run_label=$key
	say "http, wrk -t1 -c100 -d${duration}s: $key"
	! skip "$key" || return 0
	if [[ -z $have_wrk ]]; then
		fail[$key]='(wrk missing: scripts/deps.sh bench)'
		return
	fi
	if ! start_server "$key"; then
		failed "$key" "HTTP, ${label[$key]}"
		return
	fi
	# one request by hand: the status line and every byte of the body
	# shellcheck disable=SC2016 # $1 is expanded by the inner shell
	got=$(timeout -k 1 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf "GET /1k.txt HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" >&3 &&
		cat <&3' _ "$port" | tr -d '\r' | sed -n '1p;/^$/,$p' | sed '2d') || rc=$?
	if ((rc != 0)) || [[ $got != "HTTP/1.1 200 OK"$'\n'"$(<"$tmp/www/1k.txt")" ]]; then
		why="the checked GET /1k.txt failed ($(exit_reason "$rc" 5 "$SECONDS"))$(server_says)"
		stop_server
		failed "$key" "HTTP, ${label[$key]}"
		return
	fi
	start=$SECONDS
	cpu0=$(cpu_ticks "$srv_pid")
	out=$(timeout -k 2 "$limit" taskset -c "$gen_cpu" wrk -t1 -c100 -d"${duration}s" --latency \
		"http://127.0.0.1:$port/1k.txt" 2>"$tmp/wrk.err") || rc=$?
	cpu1=$(cpu_ticks "$srv_pid")
	stop_server
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	errs=$(awk '/Socket errors:/ { gsub(/,/, ""); e += $4 + $6 + $8 + $10 }
		/Non-2xx/ { e += $NF } END { print e + 0 }' <<<"$out")
	if ((rc != 0)) || [[ -z $rps || -z $p50 || -z $p99 ]]; then
		why="wrk $(exit_reason "$rc" "$limit" "$start")"
		[[ ! -s $tmp/wrk.err ]] || why+=": $(stderr_of "$tmp/wrk.err")"
		why+=$(server_says)
		failed "$key" "HTTP, ${label[$key]}"
		return
	fi
	reqs=$(awk '/ requests in / { print $1 }' <<<"$out")
	out="rps=${rps%.*} p50_us=$(to_us "$p50") p99_us=$(to_us "$p99") errors=$errs"
	out+=" cpu_us_per_req=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.2f", (n > 0 ? (b - a) / hz * 1e6 / n : 0) }')"
	res[$key]+=$out$'\n'
	say "  $out"
	sleep 1
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
# the FS switch the shim takes here: wrfsbase, or arch_prctl (a system call per FS-base write)
fs_switch=$(env LD_PRELOAD="$lib" GREENPOLL_DEBUG=1 /bin/true 2>&1 |
	sed -n 's/.*FS switch by \([a-z_]*\).*/\1/p')
fs_switch=${fs_switch:-unknown}
say "FS switch: $fs_switch; servers on CPU $srv_cpu, load generator on CPU $gen_cpu; shim: ${shim_state:-$lib}"
servers=(shim native epoll go)
baseline=${BENCH_NET_BASELINE:+$(readlink -f -- "$BENCH_NET_BASELINE")}
http_servers=(http-native http-shim)
if [[ -n $baseline ]]; then
	servers=(shim baseline native epoll go)
	http_servers=(http-native http-shim http-baseline)
	label[baseline]="echo_server + baseline greenpoll ($baseline)"
	label[http-baseline]="http_server + baseline greenpoll ($baseline)"
	say "baseline: $baseline"
fi
idle_servers=(shim shim64k native epoll go)
mkdir -p "$tmp/www"
# 1 KiB of text: 16 lines of 63 characters and a newline
for ((i = 0; i < 16; i++)); do
	printf '%063d\n' "$i"
done >"$tmp/www/1k.txt"
for ((rep = 1; rep <= reps; rep++)); do
	say "---- echo ping-pong, round $rep of $reps"
	for n in "${conns_list[@]}"; do
		for key in "${servers[@]}"; do
			run_echo "$n" "$key"
		done
	done
done
for ((rep = 1; rep <= reps; rep++)); do
	say "---- idle memory, round $rep of $reps"
	for key in "${idle_servers[@]}"; do
		run_idle "$key"
	done
done
for ((rep = 1; rep <= reps; rep++)); do
	say "---- HTTP, round $rep of $reps"
	for key in "${http_servers[@]}"; do
		run_http "$key"
	done
done

# ---- tables ----
# cell KEY VALUE: the value (noting failed runs), or why there is none (a long reason is in
# the notes)
cell() {
	local why=${fail[$1]:-no result}
	if [[ -n $2 && -n ${nfail[$1]-} ]]; then
		printf '%s (%s of %s runs failed)' "$2" "${nfail[$1]}" "$reps"
	elif [[ -n $2 ]]; then
		printf '%s' "$2"
	elif ((${#why} <= 40)); then
		printf '%s' "$why"
	else
		printf 'FAILED (why: see the notes)'
	fi
}

echo_rows=()
for n in "${conns_list[@]}"; do
	epoll_rps=$(field "$(pick "$n.epoll" rps)" rps)
	for key in "${servers[@]}"; do
		line=$(pick "$n.$key" rps)
		rps=$(field "$line" rps)
		cpu=$(field "$line" server_cpu_s)
		if [[ -z $line ]]; then
			echo_rows+=("$n"$'\t'"${label[$key]}"$'\t'"$(cell "$n.$key" '')"$'\t\t\t\t\t\t\t')
			continue
		fi
		fs=$(awk -v w="$(field "$line" fs_writes)" -v e="$(field "$line" echoes)" \
			'BEGIN { if (w != "" && e > 0) printf "%.2f", w / e; else print "—" }')
		secs=$(field "$line" duration_s)
		per_req=$(awk -v c="$cpu" -v r="$rps" -v d="$secs" \
			'BEGIN { if (r > 0 && d > 0 && c >= 0) printf "%.2f", c * 1e6 / (r * d); else print "—" }')
		busy=$(awk -v c="$cpu" -v d="$secs" 'BEGIN { if (d > 0 && c >= 0) printf "%.0f%%", 100 * c / d }')
		echo_rows+=("$n"$'\t'"${label[$key]}"$'\t'"$(cell "$n.$key" "$rps")"$'\t'"$(ratio "$rps" "$epoll_rps")"$'\t'"$(field "$line" p50_us)"$'\t'"$(field "$line" p99_us)"$'\t'"$cpu ($busy)"$'\t'"$per_req"$'\t'"$fs"$'\t'"$(field "$line" server_threads)")
	done
done

idle_rows=()
native_idle=$(field "$(pick idle.native per_conn_kib)" per_conn_kib)
for key in "${idle_servers[@]}"; do
	line=$(pick "idle.$key" per_conn_kib)
	if [[ -z $line ]]; then
		idle_rows+=("${label[$key]}"$'\t'"$(cell "idle.$key" '')"$'\t\t\t\t')
		continue
	fi
	kib=$(field "$line" per_conn_kib)
	idle_rows+=("${label[$key]}"$'\t'"$(cell "idle.$key" "$kib")"$'\t'"$(ratio "$kib" "$native_idle")"$'\t'"$(awk -v r="$(field "$line" rss_kib)" -v n="$idle_conns" 'BEGIN { printf "%.1f", r / n }')"$'\t'"$(field "$line" threads)")
done

http_rows=()
native_http=$(field "$(pick http-native rps)" rps)
for key in "${http_servers[@]}"; do
	line=$(pick "$key" rps)
	if [[ -z $line ]]; then
		http_rows+=("${label[$key]}"$'\t'"$(cell "$key" '')"$'\t\t\t\t\t')
		continue
	fi
	rps=$(field "$line" rps)
	http_rows+=("${label[$key]}"$'\t'"$(cell "$key" "$rps")"$'\t'"$(ratio "$rps" "$native_http")"$'\t'"$(field "$line" p50_us)"$'\t'"$(field "$line" p99_us)"$'\t'"$(field "$line" cpu_us_per_req)"$'\t'"$(field "$line" errors)")
done

# target rows: what issue 3 asks of the shimmed server; TEST is an awk condition on a and b
target_rows=()
target() {
	local name=$1 a=$2 b=$3 want=$4 test=$5 r met='—'
	r=$(ratio "$a" "$b")
	if [[ -n $a && -n $b ]]; then
		met=$(awk -v a="$a" -v b="$b" "BEGIN { print ($test) ? \"yes\" : \"NO\" }")
	fi
	target_rows+=("$name"$'\t'"$r"$'\t'"$want"$'\t'"$met")
}
# median KEY FIELD: FIELD of KEY's median run
median() { field "$(pick "$1" "$2")" "$2"; }
big=${conns_list[${#conns_list[@]} - 1]}
small=${conns_list[0]}
target "req/s at $big connections, shim ÷ epoll" "$(median "$big.shim" rps)" \
	"$(median "$big.epoll" rps)" '≥ 0.9×' 'a >= 0.9 * b'
target "req/s at $big connections, shim ÷ Go" "$(median "$big.shim" rps)" \
	"$(median "$big.go" rps)" '≥ 1.2×' 'a >= 1.2 * b'
target "req/s at $big connections, shim ÷ native threads" "$(median "$big.shim" rps)" \
	"$(median "$big.native" rps)" '≥ 2×' 'a >= 2 * b'
target "req/s at $small connections, shim ÷ epoll" "$(median "$small.shim" rps)" \
	"$(median "$small.epoll" rps)" '≥ 0.9×' 'a >= 0.9 * b'
target "idle KiB/connection, shim ÷ native threads" "$(median idle.shim per_conn_kib)" \
	"$native_idle" '≤ 0.25×' 'a <= 0.25 * b'
target "idle KiB/connection, shim at 64 KiB stacks ÷ Go" "$(median idle.shim64k per_conn_kib)" \
	"$(median idle.go per_conn_kib)" '≤ 1×' 'a <= b'

echo_header=$'connections\tserver\treq/s\t× epoll\tp50 µs\tp99 µs\tserver CPU s (busy)\tCPU µs/req\tFS writes/req\tOS threads'
idle_header=$'server\tKiB/connection\t× native\tserver VmRSS KiB/connection\tOS threads'
http_header=$'server\treq/s\t× native\tp50 µs\tp99 µs\tCPU µs/req\terrors'
target_header=$'target\tmeasured\twanted\tmet?'

notes+=(
	"Each figure is the median of $reps runs (the servers alternating; for echo, the run with the median req/s, all its columns from that run). × epoll / × native: ratio of the medians."
	"Echo: 64-byte ping-pong, each connection one message in flight; ${warmup} s warm-up, then ${duration} s measured. Servers pinned to CPU $srv_cpu (taskset), the load generator to CPU $gen_cpu; shim runs with GREENPOLL_PROCS=1, Go with GOMAXPROCS=1. Latency: send to the last byte of the echo, every byte checked. Server CPU: utime + stime from /proc/PID/stat across the measurement (10 ms ticks), busy = CPU s ÷ measured s: a server below ~95% was waiting, for the load generator (which does about the same kernel work per request, so it can set the pace) or for its CPU (which other processes of this shared machine use too); CPU µs/req = server CPU ÷ requests compares the servers' cost whatever set the pace; FS writes/req (the shimmed server, with GREENPOLL_DEBUG=1): greenpoll's count of FS-base writes over the server's whole run (its GREENPOLL_DEBUG line at exit) ÷ every echo the load generator got (each connection's first and the warm-up's included), a system call each with the FS switch by arch_prctl; OS threads: the most seen (/proc/PID/status, once a second)."
	"Idle memory: MemAvailable (/proc/meminfo) before the server starts minus with $idle_conns connections open and idle (one echo each), over $idle_conns. It includes kernel memory (socket buffers, kernel stacks, page tables) and the load generator's side of the connections (its sockets: the same for every server), and anything else the machine did meanwhile."
	"HTTP: wrk -t1 -c100 -d${duration}s --latency (keep-alive) fetching a 1 KiB file, server pinned to CPU $srv_cpu, wrk to CPU $gen_cpu, after one GET whose bytes were checked. errors = wrk's socket errors plus non-2xx responses."
)

plot_note=''
# the plot: requests/s against connections, one line per server
{
	printf 'connections'
	for key in "${servers[@]}"; do printf ' "%s"' "${label[$key]}"; done
	printf '\n'
	for n in "${conns_list[@]}"; do
		printf '%s' "$n"
		for key in "${servers[@]}"; do
			v=$(median "$n.$key" rps)
			printf ' %s' "${v:-?}"
		done
		printf '\n'
	done
} >"$tmp/plot.dat"
if command -v gnuplot >/dev/null; then
	if ! gnuplot 2>"$tmp/gnuplot.err" <<-EOF; then
		set terminal pngcairo size 960,600 noenhanced font ',11'
		set output '$png'
		set datafile missing '?'
		set title 'Echo ping-pong, 64-byte messages, server on one CPU'
		set logscale x
		set xrange [${conns_list[0]} * 0.7:$big * 1.4]
		set xtics ($(IFS=,; printf '%s' "${conns_list[*]}"))
		set xlabel 'concurrent connections'
		set ylabel 'requests/s'
		set yrange [0:*]
		set format y '%.0s%c'
		set grid
		set key below
		plot for [i=2:$((${#servers[@]} + 1))] '$tmp/plot.dat' using 1:i with linespoints lw 2 pt 7 title columnhead(i)
	EOF
		plot_note="gnuplot failed: $(stderr_of "$tmp/gnuplot.err")"
	fi
else
	plot_note='gnuplot missing: no plot (scripts/deps.sh bench installs it)'
fi
[[ -z $plot_note ]] || notes+=("$plot_note")
# every run's figure
for n in "${conns_list[@]}"; do
	v="Echo at $n connections, req/s of each run:"
	for key in "${servers[@]}"; do
		v+=" ${label[$key]} $(all_runs "$n.$key" rps);"
	done
	notes+=("${v%;}.")
done
v='Idle KiB/connection of each run:'
for key in "${idle_servers[@]}"; do
	v+=" ${label[$key]} $(all_runs "idle.$key" per_conn_kib);"
done
notes+=("${v%;}." "HTTP req/s of each run: ${label[http-native]} $(all_runs http-native rps); ${label[http-shim]} $(all_runs http-shim rps).")
if [[ -n $baseline ]]; then
	v='Echo req/s, greenpoll ÷ baseline (medians):'
	for n in "${conns_list[@]}"; do
		v+=" at $n connections $(ratio "$(median "$n.shim" rps)" "$(median "$n.baseline" rps)");"
	done
	notes+=("${v%;}." "HTTP req/s of each run, ${label[http-baseline]}: $(all_runs http-baseline rps); greenpoll ÷ baseline (medians) $(ratio "$(median http-shim rps)" "$(median http-baseline rps)").")
fi
# failed runs first, each with the latest reason
fail_notes=()
for k in "${failed_keys[@]}"; do
	fail_notes+=("${what[$k]}: ${nfail[$k]} of $reps runs failed; latest: ${fail[$k]}")
done
notes=("${fail_notes[@]}" "${notes[@]}")

printf '\nFS switch: %s\n\nEcho ping-pong (64 bytes)\n' "$fs_switch"
aligned "$echo_header" "${echo_rows[@]}"
printf 'Idle memory at %s connections\n' "$idle_conns"
aligned "$idle_header" "${idle_rows[@]}"
printf 'HTTP (wrk -t1 -c100, 1 KiB file)\n'
aligned "$http_header" "${http_rows[@]}"
printf 'Targets (issue 3)\n'
aligned "$target_header" "${target_rows[@]}"
printf -- '- %s\n' "${notes[@]}"

{
	printf '## Network benchmarks\n\n'
	printf "\`make bench\` (scripts/bench-net.sh), %s; %s CPUs, Linux %s, load average %s at start, %s at the end.\n\n" \
		"$started" "$(nproc)" "$(uname -r)" "$load" "$(cut -d ' ' -f 1-3 /proc/loadavg)"
	printf 'FS switch of the shimmed servers: %s (GREENPOLL_DEBUG=1 says which).\n\n' "$fs_switch"
	printf '### Echo ping-pong, 64-byte messages\n\n'
	markdown "$echo_header" '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|' "${echo_rows[@]}"
	[[ ! -f $png || -n $plot_note ]] || printf '![requests/s vs connections](bench-net.png)\n\n'
	printf '### Idle memory per connection at %s connections\n\n' "$idle_conns"
	markdown "$idle_header" '|---|---:|---:|---:|---:|' "${idle_rows[@]}"
	printf '### HTTP: wrk -t1 -c100, 1 KiB file\n\n'
	markdown "$http_header" '|---|---:|---:|---:|---:|---:|---:|' "${http_rows[@]}"
	printf '### Targets (issue 3)\n\n'
	markdown "$target_header" '|---|---:|---|---|' "${target_rows[@]}"
	printf -- '- %s\n' "${notes[@]}"
} >"$md"
say "written to $md${plot_note:+ (no plot)}${plot_note:- and $png}"
