#!/usr/bin/env bash
# bench-monitor.sh — the monitor benchmarks of `make bench` (runtime/monitor.c, Go's sysmon),
# every variant side by side in one run. The server is scripts/bench/monitor/slow_echo.c, a
# plain thread-per-connection echo server (tests/fixtures/echo_server.c) that does something
# slow for each request the load generator (scripts/bench/net/loadgen.c --mark-pct) marked;
# 64-byte ping-pong, one message in flight per connection, every byte checked. The server is
# pinned to one CPU (taskset; under the shim GREENPOLL_PROCS=1, so one carrier runs every thread
# and spare carriers share that CPU), the load generator (one thread) to the other.
#   1. Blocking calls: 1,000 connections; 10% of requests (any connection's) make a 20 ms
#      nanosleep the server makes through libc's syscall(SYS_nanosleep, ...), which greenpoll
#      passes to the kernel inside its blocking bracket. Rows: native; greenpoll (monitor on, the
#      default); greenpoll with GREENPOLL_MONITOR=off; greenpoll with the same sleep made by the
#      raw `syscall` instruction, which greenpoll cannot see (monitor on); and the same server
#      with no sleeps (marks ignored: the baseline), native and under greenpoll. Latency of the
#      "plain" requests (the 90% that do not sleep) and of the marked ones, apart, and of all.
#      Target (the issue's): the plain p99 under greenpoll with the sleeps within 2x of the
#      baseline's.
#   2. Preemption: 100 connections, 1 of them "heavy": every request it sends computes 50 ms
#      of pure CPU (the thread's CPU clock), back to back, so one thread at a time computes;
#      the 99 others are plain echoes. Rows: native; greenpoll with GREENPOLL_PREEMPT=10ms
#      (the default) and =off; the baseline (no computation) natively and under greenpoll; and
#      greenpoll at the default with 5 heavy connections (5%: five threads computing at once).
#      The plain connections' latency: p99 of all their requests, and the worst and median over
#      connections of each one's own p99. Target: the plain p99 within ~2 time slices (20 ms)
#      with preemption on and one heavy connection.
# The machine is shared and noisy: the rows alternate within each round, every row runs in each
# of BENCH_MON_REPS rounds (3), and the median run (by plain p99) is kept; the notes list every
# run. A round that would end after the time budget (BENCH_MON_BUDGET, 160 s from the start) is
# not started. Prints the exact command, the tables, one line per ratio, and writes them to
# BUILD/bench-monitor.md. Every run is bounded by timeouts; a run that fails or hangs is
# reported with the reason and the others go on. Not a timed test: a missed target fails
# nothing. Exits 2 when a program is missing, else 0.
#   scripts/bench-monitor.sh [BUILD]     (default build; make bench-monitor builds what it needs)
# Environment (for quick runs): BENCH_MON_CONNS (1000: part 1), BENCH_MON_SPIN_CONNS (100),
# BENCH_MON_HEAVY (1) and BENCH_MON_HEAVY_MANY (5: part 2), BENCH_MON_WARMUP (1 s),
# BENCH_MON_DURATION (2 s), BENCH_MON_REPS (3), BENCH_MON_BUDGET (160 s).
set -euo pipefail

cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
build=${1:-build}
lib=$(readlink -f -- "$build")/libgreenpoll.so
md=$build/bench-monitor.md
conns=${BENCH_MON_CONNS:-1000}
spin_conns=${BENCH_MON_SPIN_CONNS:-100}
heavy=${BENCH_MON_HEAVY:-1}
heavy_many=${BENCH_MON_HEAVY_MANY:-5}
warmup=${BENCH_MON_WARMUP:-1}
duration=${BENCH_MON_DURATION:-2}
reps=${BENCH_MON_REPS:-3}
budget=${BENCH_MON_BUDGET:-160}
for v in "$conns" "$spin_conns" "$heavy" "$heavy_many" "$warmup" "$duration" "$reps" "$budget"; do
	if [[ ! $v =~ ^[0-9]+$ ]] || ((v == 0)); then
		printf 'bench-monitor.sh: BENCH_MON_* settings are positive whole numbers, not %s\n' \
			"$v" >&2
		exit 2
	fi
done
if ((heavy >= spin_conns || heavy_many >= spin_conns)); then
	printf 'bench-monitor.sh: BENCH_MON_HEAVY (%s) and BENCH_MON_HEAVY_MANY (%s) must be below BENCH_MON_SPIN_CONNS (%s)\n' \
		"$heavy" "$heavy_many" "$spin_conns" >&2
	exit 2
fi
block_pct=10 block_ms=20 spin_ms=50 slice_ms=10

server=$build/bench/monitor/slow_echo
loadgen=$build/bench/net/loadgen

# no preload and no runtime settings inherited from the caller; one locale for numbers and text
unset LD_PRELOAD "${!GREENPOLL_@}"
export LC_ALL=C.UTF-8

for p in "$server" "$loadgen"; do
	if [[ ! -x $p ]]; then
		printf 'bench-monitor.sh: %s missing; build it with make bench-monitor\n' "$p" >&2
		exit 2
	fi
done

# every connection is an fd in the server and in the load generator: the soft limit up to the
# hard one, at most 20000 (both programs raise theirs too)
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard > 20000)); then hard=20000; fi
if (($(ulimit -Sn) < hard)); then ulimit -Sn "$hard"; fi

tmp=$(mktemp -d)
srv_pid=''
# cleanup: ends only the processes this script started, by their ids
cleanup() {
	[[ -z $srv_pid ]] || kill -KILL "$srv_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf 'bench-monitor: %s\n' "$*" >&2; }

bench_cpus

notes=()
# fs_switch: how greenpoll switches the FS base here (its GREENPOLL_DEBUG=1 line)
fs_switch='unknown'
# monitor_off: the setting that turns the monitor off (GREENPOLL_MONITOR=off when this build
# has it, else GREENPOLL_PREEMPT=off, which leaves the hand-off of blocked calls on)
monitor_off=GREENPOLL_MONITOR=off
# shim_state: empty when the library loads into a plain program, else why the shim runs are
# skipped (check_shim)
check_shim
if [[ -z $shim_state ]]; then
	timeout -k 5 10 env LD_PRELOAD="$lib" GREENPOLL_DEBUG=1 /bin/true 2>"$tmp/err" || true
	fs_switch=$(sed -n 's/.*FS switch by \([^,]*\).*/\1/p' "$tmp/err" | head -n 1)
	fs_switch=${fs_switch:-unknown}
	rc=0
	timeout -k 5 10 env LD_PRELOAD="$lib" GREENPOLL_DEBUG=1 GREENPOLL_MONITOR=off /bin/true \
		2>"$tmp/err" || rc=$?
	if ((rc != 0)); then
		monitor_off=GREENPOLL_PREEMPT=off
		notes+=("GREENPOLL_MONITOR=off is rejected by this build (exit status $rc: $(head -n 1 "$tmp/err")): the \"monitor off\" row runs with GREENPOLL_PREEMPT=off instead, which still hands blocked calls' carriers on.")
	elif ! grep -q 'GREENPOLL_MONITOR=off' "$tmp/err"; then
		monitor_off=GREENPOLL_PREEMPT=off
		notes+=("This build does not know GREENPOLL_MONITOR (its GREENPOLL_DEBUG=1 line does not show it): the \"monitor off\" row runs with GREENPOLL_PREEMPT=off instead, which still hands blocked calls' carriers on.")
	fi
fi

# ---- the rows ----
# key: part (b: blocking calls, s: computation), then the variant. For each: the server's
# environment (native, or the shim's settings), its --on-mark action and --mark-ms, the load
# generator's connections and marking, and a label.
keys=(b.native0 b.native b.shim0 b.on b.off b.raw s.native0 s.native s.shim0 s.p10 s.off s.many)
declare -A senv=() action=() ms=() nconns=() marks=() label=()
shim_env="LD_PRELOAD=$lib GREENPOLL_PROCS=1"
for k in b.native0 b.native b.shim0 b.on b.off b.raw; do
	nconns[$k]=$conns
	marks[$k]="--mark-pct $block_pct"
	ms[$k]=$block_ms
	action[$k]=sleep-libc
done
for k in s.native0 s.native s.shim0 s.p10 s.off s.many; do
	nconns[$k]=$spin_conns
	marks[$k]="--mark-pct 100 --mark-conns $heavy"
	ms[$k]=$spin_ms
	action[$k]=spin
done
action[b.native0]=none action[b.shim0]=none action[s.native0]=none action[s.shim0]=none
action[b.raw]=sleep-raw
marks[s.many]="--mark-pct 100 --mark-conns $heavy_many"
senv[b.native0]='' senv[b.native]='' senv[s.native0]='' senv[s.native]=''
senv[b.shim0]=$shim_env senv[b.on]=$shim_env senv[b.raw]=$shim_env
senv[b.off]="$shim_env $monitor_off"
senv[s.shim0]=$shim_env senv[s.p10]=$shim_env senv[s.many]=$shim_env
senv[s.off]="$shim_env GREENPOLL_PREEMPT=off"
label[b.native0]='native, no sleeps (baseline)'
label[b.native]='native'
label[b.shim0]='greenpoll, no sleeps (baseline)'
label[b.on]='greenpoll, monitor on (default)'
if [[ $monitor_off == GREENPOLL_MONITOR=off ]]; then
	label[b.off]='greenpoll, GREENPOLL_MONITOR=off'
else
	label[b.off]='greenpoll, GREENPOLL_PREEMPT=off (no MONITOR=off)'
fi
label[b.raw]='greenpoll, monitor on, raw syscall sleep'
label[s.native0]='native, no computation (baseline)'
label[s.native]="native, $heavy heavy"
label[s.shim0]='greenpoll, no computation (baseline)'
label[s.p10]="greenpoll, $heavy heavy, GREENPOLL_PREEMPT=${slice_ms}ms (default)"
label[s.off]="greenpoll, $heavy heavy, GREENPOLL_PREEMPT=off"
label[s.many]="greenpoll, $heavy_many heavy, GREENPOLL_PREEMPT=${slice_ms}ms (default)"

# server_cmd KEY: sets cmd to KEY's server command line, pinned to the server CPU
server_cmd() {
	local -a e=()
	read -ra e <<<"${senv[$1]}"
	cmd=(taskset -c "$srv_cpu")
	((${#e[@]} == 0)) || cmd+=(env "${e[@]}")
	cmd+=("$server" --on-mark "${action[$1]}" --mark-ms "${ms[$1]}")
}

# loadgen_cmd KEY PORT PID: sets cmd to KEY's load generator command line
loadgen_cmd() {
	local -a m=()
	read -ra m <<<"${marks[$1]}"
	cmd=(taskset -c "$gen_cpu" "$loadgen" --port "$2" --conns "${nconns[$1]}" --msg 64
		--warmup "$warmup" --duration "$duration" --rate-limit none --timeout 15
		--server-pid "$3" "${m[@]}")
}

# res[KEY]: the output lines of KEY's successful runs; fail[KEY]: why its latest run failed;
# nfail[KEY]: how many failed; nrun[KEY]: how many were made
declare -A res=() fail=() nfail=() nrun=()

# failed KEY: records why a run of KEY failed, from $why
failed() {
	fail[$1]=$why
	nfail[$1]=$((${nfail[$1]-0} + 1))
	say "  failed: $why"
}

# run KEY: one run of KEY
run() {
	local key=$1 out rc=0 start limit=$((warmup + duration + 40)) gone='' cmd
	run_label=${label[$key]}
	say "${label[$key]}, ${nconns[$key]} connections"
	if [[ -n ${senv[$key]} && -n $shim_state ]]; then
		fail[$key]=$shim_state
		return
	fi
	if [[ ${fail[$key]-} == *hung* ]]; then
		nfail[$key]=$((${nfail[$key]} + 1))
		say "  skipped: an earlier run hung"
		return
	fi
	nrun[$key]=$((${nrun[$key]-0} + 1))
	if ! start_server "$key"; then
		failed "$key"
		return
	fi
	loadgen_cmd "$key" "$port" "$srv_pid"
	start=$SECONDS
	out=$(timeout -k 2 "$limit" "${cmd[@]}" 2>"$tmp/loadgen.err") || rc=$?
	alive "$srv_pid" || gone=1
	stop_server
	if ((rc == 0)); then
		res[$key]+=$out$'\n'
		say "  $(sed 's/ mem_avail_kib=[^ ]*//; s/ connect_s=[^ ]*//' <<<"$out")"
	else
		why="load generator $(exit_reason "$rc" "$limit" "$start")"
		[[ ! -s $tmp/loadgen.err ]] || why+=": $(stderr_of "$tmp/loadgen.err")"
		[[ -z $gone ]] || why+='; the server had died'
		why+=$(server_says)
		failed "$key"
	fi
	sleep 0.5 # let the closed connections' threads and sockets go
}

# part KEY: "1." or "2.", the part of KEY
part() { if [[ $1 == b.* ]]; then printf '1.'; else printf '2.'; fi; }

# the exact commands, the port and the server's pid filled in at each run
say "command: scripts/bench-monitor.sh $build  (make bench-monitor; also part of make bench)"
say "server on CPU $srv_cpu, load generator on CPU $gen_cpu; shim: ${shim_state:-$lib}; FS switch by $fs_switch"
commands=()
for k in "${keys[@]}"; do
	server_cmd "$k"
	c="${cmd[*]} --port-file PORTFILE"
	loadgen_cmd "$k" PORT SERVER_PID
	commands+=("$(part "$k") ${label[$k]}: $c & then ${cmd[*]}")
done
printf '%s\n' "${commands[@]}" | sed 's/^/bench-monitor:   /' >&2

started=$(date -u '+%Y-%m-%d %H:%M UTC')
# the source the library was built from: a commit, "-dirty" when the work tree differs from it
rev=$(git describe --always --dirty 2>/dev/null || echo unknown)
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
t0=$SECONDS
rounds=0
for ((rep = 1; rep <= reps; rep++)); do
	if ((rep > 1)); then
		per_round=$(((SECONDS - t0) / (rep - 1)))
		if ((SECONDS + per_round > budget)); then
			notes+=("Only $rounds of $reps rounds were made: another would have ended after the ${budget} s budget (BENCH_MON_BUDGET; a round took ~${per_round} s).")
			say "---- round $rep skipped: the time budget (${budget} s) would be exceeded"
			break
		fi
	fi
	say "---- round $rep of $reps"
	for k in "${keys[@]}"; do
		run "$k"
	done
	rounds=$rep
done

# ---- tables ----
# ms_of US: microseconds as milliseconds, 3 significant digits
ms_of() {
	[[ -n $1 ]] || return 0
	awk -v u="$1" 'BEGIN { m = u / 1000; printf (m >= 100 ? "%.0f" : m >= 10 ? "%.1f" : "%.2f"), m }'
}

# failcell KEY: why KEY has no figure, short
failcell() {
	local why=${fail[$1]:-no result}
	if ((${#why} <= 40)); then printf '%s' "$why"; else printf 'FAILED (see the notes)'; fi
}

# runs_note KEY: "(N of M runs failed)" when some did
runs_note() {
	[[ -z ${nfail[$1]-} ]] || printf ' (%s of %s runs failed)' "${nfail[$1]}" "$rounds"
}

declare -A line=()
for k in "${keys[@]}"; do
	line[$k]=$(pick "$k" plain_p99_us)
done
# m KEY FIELD: FIELD of KEY's median run
m() { field "${line[$1]-}" "$2"; }

base_of() { case $1 in b.native | b.native0) echo b.native0 ;; b.*) echo b.shim0 ;;
	s.native | s.native0) echo s.native0 ;; s.*) echo s.shim0 ;; esac; }

blk_rows=()
for k in b.native0 b.native b.shim0 b.on b.off b.raw; do
	if [[ -z ${line[$k]} ]]; then
		blk_rows+=("${label[$k]}"$'\t'"$(failcell "$k")"$'\t\t\t\t\t\t\t\t')
		continue
	fi
	b=$(base_of "$k")
	slow=$'—\t—'
	[[ ${action[$k]} == none ]] || slow="$(ms_of "$(m "$k" marked_p50_us)")"$'\t'"$(ms_of "$(m "$k" marked_p99_us)")"
	blk_rows+=("${label[$k]}$(runs_note "$k")"$'\t'"$(m "$k" rps)"$'\t'"$(ms_of "$(m "$k" plain_p50_us)")"$'\t'"$(ms_of "$(m "$k" plain_p99_us)")"$'\t'"$(ratio "$(m "$k" plain_p99_us)" "$(m "$b" plain_p99_us)")"$'\t'"$slow"$'\t'"$(ms_of "$(m "$k" p99_us)")"$'\t'"$(ratio "$(m "$k" p99_us)" "$(m "$b" p99_us)")"$'\t'"$(m "$k" server_threads)")
done
spin_rows=()
for k in s.native0 s.native s.shim0 s.p10 s.off s.many; do
	if [[ -z ${line[$k]} ]]; then
		spin_rows+=("${label[$k]}"$'\t'"$(failcell "$k")"$'\t\t\t\t\t\t\t')
		continue
	fi
	b=$(base_of "$k")
	slow=$'—\t—'
	[[ ${action[$k]} == none ]] || slow="$(m "$k" marked)"$'\t'"$(ms_of "$(m "$k" marked_p50_us)")"
	spin_rows+=("${label[$k]}$(runs_note "$k")"$'\t'"$(m "$k" rps)"$'\t'"$(ms_of "$(m "$k" plain_p50_us)")"$'\t'"$(ms_of "$(m "$k" plain_p99_us)")"$'\t'"$(ratio "$(m "$k" plain_p99_us)" "$(m "$b" plain_p99_us)")"$'\t'"$(ms_of "$(m "$k" plain_conn_p99_max_us)")"$'\t'"$(ms_of "$(m "$k" plain_conn_p99_med_us)")"$'\t'"$slow"$'\t'"$(m "$k" server_threads)")
done

# the ratios, one line each: NAME A B WANT TEST (an awk condition on a and b, or '')
summary=()
sum_line() {
	local name=$1 a=$2 b=$3 want=$4 test=$5 r met=''
	r=$(ratio "$a" "$b")
	if [[ -n $test && -n $a && -n $b ]]; then
		met=$(awk -v a="$a" -v b="$b" "BEGIN { print ($test) ? \" — target met\" : \" — target NOT met\" }")
	fi
	summary+=("$name: $(ms_of "$a") ms ÷ $(ms_of "$b") ms = $r${want:+ (target $want)}$met")
}
sum_line "1. plain p99, greenpoll with 20 ms libc syscall() sleeps ÷ without" \
	"$(m b.on plain_p99_us)" "$(m b.shim0 plain_p99_us)" '≤ 2×' 'a <= 2 * b'
sum_line "1. p99 of all requests (sleeping ones included), greenpoll with sleeps ÷ without" \
	"$(m b.on p99_us)" "$(m b.shim0 p99_us)" '' ''
sum_line "1. plain p99, greenpoll with sleeps, monitor on ÷ native with sleeps" \
	"$(m b.on plain_p99_us)" "$(m b.native plain_p99_us)" '' ''
sum_line "1. plain p99, native with sleeps ÷ native without" \
	"$(m b.native plain_p99_us)" "$(m b.native0 plain_p99_us)" '' ''
sum_line "1. plain p99, greenpoll with sleeps, ${label[b.off]#greenpoll, } ÷ monitor on" \
	"$(m b.off plain_p99_us)" "$(m b.on plain_p99_us)" '' ''
sum_line "1. plain p99, greenpoll with raw-syscall sleeps (unseen) ÷ libc syscall() sleeps" \
	"$(m b.raw plain_p99_us)" "$(m b.on plain_p99_us)" '' ''
sum_line "2. plain p99, greenpoll PREEMPT=${slice_ms}ms, $heavy heavy ÷ 2 time slices (${slice_ms}ms each)" \
	"$(m s.p10 plain_p99_us)" "$((2 * slice_ms * 1000))" '≤ 1×' 'a <= b'
sum_line "2. worst plain connection's p99, greenpoll PREEMPT=${slice_ms}ms, $heavy heavy ÷ 2 time slices" \
	"$(m s.p10 plain_conn_p99_max_us)" "$((2 * slice_ms * 1000))" '≤ 1× (~)' 'a <= b'
sum_line "2. plain p99, greenpoll PREEMPT=${slice_ms}ms ÷ greenpoll without computation" \
	"$(m s.p10 plain_p99_us)" "$(m s.shim0 plain_p99_us)" '' ''
sum_line "2. plain p99, greenpoll PREEMPT=off ÷ PREEMPT=${slice_ms}ms" \
	"$(m s.off plain_p99_us)" "$(m s.p10 plain_p99_us)" '' ''
sum_line "2. plain p99, greenpoll PREEMPT=${slice_ms}ms ÷ native" \
	"$(m s.p10 plain_p99_us)" "$(m s.native plain_p99_us)" '' ''
sum_line "2. plain p99, greenpoll PREEMPT=${slice_ms}ms, $heavy_many heavy ÷ $heavy heavy" \
	"$(m s.many plain_p99_us)" "$(m s.p10 plain_p99_us)" '' ''
sum_line "2. plain p99, greenpoll PREEMPT=${slice_ms}ms, $heavy_many heavy ÷ $((heavy_many + 1)) time slices" \
	"$(m s.many plain_p99_us)" "$(((heavy_many + 1) * slice_ms * 1000))" '' ''

blk_header=$'server\treq/s\tplain p50 ms\tplain p99 ms\t× baseline\tsleeping p50 ms\tsleeping p99 ms\tall p99 ms\t× baseline\tOS threads'
spin_header=$'server\treq/s\tplain p50 ms\tplain p99 ms\t× baseline\tworst conn p99 ms\tmedian conn p99 ms\tspins done\tspin p50 ms\tOS threads'

notes+=(
	"Figures are the median of $rounds rounds by plain p99 (every column from that run); the rows alternate within a round. × baseline: the same server (native or greenpoll) without the sleeps or computations, same run."
	"Server pinned to CPU $srv_cpu (taskset), under greenpoll with GREENPOLL_PROCS=1 (one processor; spare carriers, started by the monitor, share CPU $srv_cpu); the load generator, one epoll thread, pinned to CPU $gen_cpu. ${warmup} s warm-up, then ${duration} s measured; 64-byte ping-pong, one message in flight per connection, closed loop, every byte checked. Latency: from send to the last byte of the echo."
	"This machine has no user-space FSGSBASE: greenpoll switches the FS base by $fs_switch (a system call per switch, ~4 µs), which costs it throughput here against machines that have it."
	"1: $conns connections; ${block_pct}% of requests (chosen by a hash of connection and sequence number, the same in every run) sleep ${block_ms} ms in the server before the echo: syscall(SYS_nanosleep) through libc's syscall(), which greenpoll brackets as a blocking call, or (raw) the same call by the syscall instruction, which greenpoll cannot see. Plain: the other 90% of requests; sleeping: the marked ones (≥ ${block_ms} ms by construction, so the p99 of all requests is at least ${block_ms} ms whenever the sleeps are on, whatever the runtime does: the target compares the plain p99). Baselines send the same marks, which the server ignores. OS threads: the most seen in the server (once a second)."
	"2: $spin_conns connections, $heavy of them heavy ($heavy_many in the last row): every request of theirs computes ${spin_ms} ms of CPU (the thread's CPU clock) before the echo, the next one as soon as the echo is back; the others are plain. With one processor and round-robin time slices a plain request may wait for every computing thread's slice, so about (heavy + 1) slices is what to expect, and ~2 slices (the target) only with one heavy connection. Plain p99: over all the plain connections' requests; worst / median conn p99: of each plain connection's own p99 (nearest rank). spins done: heavy requests completed in the measured ${duration} s. The PREEMPT=${slice_ms}ms row leaves GREENPOLL_PREEMPT unset (the default). 1,000 connections are not used here: in a closed loop their queueing alone (about 1,000 ÷ req/s) already reaches the slice scale, hiding what preemption bounds."
	"Machine: $(nproc) CPUs, Linux $(uname -r), load average $load at start, $(cut -d ' ' -f 1-3 /proc/loadavg) at the end (the machine is shared)."
)
for k in "${keys[@]}"; do
	notes+=("$(part "$k") ${label[$k]}: plain p99 µs of each run: $(all_runs "$k" plain_p99_us); req/s: $(all_runs "$k" rps).")
done
for k in "${keys[@]}"; do
	[[ -z ${fail[$k]-} ]] || notes=("$(part "$k") ${label[$k]}: ${nfail[$k]-0} of $rounds runs failed; latest: ${fail[$k]}" "${notes[@]}")
done
notes+=("Commands (PORTFILE, PORT, SERVER_PID filled in at each run):" "${commands[@]}")

printf '\nCommand: scripts/bench-monitor.sh %s  (started %s; source %s; FS switch by %s)\n\n' "$build" "$started" "$rev" "$fs_switch"
printf '1. Blocking calls: %s connections, %s%% of requests sleep %s ms (GREENPOLL_PROCS=1, one CPU)\n' \
	"$conns" "$block_pct" "$block_ms"
aligned "$blk_header" "${blk_rows[@]}"
printf '2. Preemption: %s connections, %s heavy (%s in the last row; each request %s ms of CPU), GREENPOLL_PROCS=1, one CPU\n' \
	"$spin_conns" "$heavy" "$heavy_many" "$spin_ms"
aligned "$spin_header" "${spin_rows[@]}"
printf 'Ratios\n'
printf -- '- %s\n' "${summary[@]}"
printf '\n'
printf -- '- %s\n' "${notes[@]}"

{
	printf '## Monitor benchmarks\n\n'
	printf "\`scripts/bench-monitor.sh %s\` (\`make bench-monitor\`, part of \`make bench\`), %s, source %s; %s CPUs, Linux %s, load average %s at start, %s at the end; FS switch by %s.\n\n" \
		"$build" "$started" "$rev" "$(nproc)" "$(uname -r)" "$load" "$(cut -d ' ' -f 1-3 /proc/loadavg)" "$fs_switch"
	printf '### 1. Blocking calls: %s connections, %s%% of requests sleep %s ms\n\n' "$conns" "$block_pct" "$block_ms"
	markdown "$blk_header" '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|' "${blk_rows[@]}"
	printf '### 2. Preemption: %s connections, %s heavy (%s in the last row; %s ms of CPU per request)\n\n' "$spin_conns" "$heavy" "$heavy_many" "$spin_ms"
	markdown "$spin_header" '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|' "${spin_rows[@]}"
	printf '### Ratios\n\n'
	printf -- '- %s\n' "${summary[@]}"
	printf '\n### Notes\n\n'
	printf -- '- %s\n' "${notes[@]}"
} >"$md"
say "written to $md (took $((SECONDS)) s)"
