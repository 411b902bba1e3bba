#!/usr/bin/env bash
# Integration tests of green synchronization and the program's own multiplexing (issue 4):
# runs each sync_* and mux_* fixture in BUILD_DIR/fixtures natively and under the shim
# (LD_PRELOAD=BUILD_DIR/libgreenpoll.so GREENPOLL_PROCS=2, with --max-os-threads 7), each run
# under `timeout 60` (the fixtures' own watchdog ends them after 30 s), plus shim runs with
# GREENPOLL_PROCS=1 of the fixtures that need waits to park tasks; then the acceptor +
# worker-pool server (pool_server, 64 workers, started here, port via --port-file) against
# pool_client with 5,000 concurrent clients, natively and shimmed; the shimmed server's OS
# thread count (Threads: in /proc/PID/status, sampled every 50 ms during the load) must stay
# at most GREENPOLL_PROCS+5; and (a line of its own) the server must exit 0 on SIGTERM.
#
#   usage: tests/sync-integration.sh [BUILD_DIR [CASE...]]
#          (from the repo root, after `make fixtures`; CASEs, if given, limit the runs to those
#          fixtures, "pool" naming the pool_server runs)
#
# Prints one line per run, "PASS: <case> (<mode>)" or "FAIL: <case> (<mode>): <reason>", then
# "sync-integration: N passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if it is
# set. Exits non-zero if any run failed. A missing library makes every shim run fail.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

use_build "${1:-}"
[ "$#" -eq 0 ] || shift
only=" $* "

# Under the shim the process may have GREENPOLL_PROCS carriers plus this many other OS
# threads (the main thread's own, the monitor, the control channel's, spare carriers handed a P).
EXTRA_OS_THREADS=5
POOL_CLIENTS=5000
POOL_WORKERS=64

tmp=$(mktemp -d)
server_pid=''
sampler_pid=''
cleanup() {
	[ -z "$sampler_pid" ] || kill "$sampler_pid" 2>/dev/null
	[ -z "$server_pid" ] || kill -KILL "$server_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT




# lib.sh's hooks: shim runs get --max-os-threads and --under-shim; case-specific checks of a
# finished run's output print a reason (or, on success, a note for the PASS line) and fail if
# wrong.
fixture_shim_args() { printf -- '--max-os-threads\n%s\n--under-shim\n' $(($2 + EXTRA_OS_THREADS)); }
fixture_check() {
	local case=$1 mode=$2 what line
	case $case in
	sync_robust | sync_pi_mutex)
		what=${case#sync_}
		what=${what%_mutex}
		line=$(cat "$tmp/out")
		if [ "$mode" = native ] && [ "$line" != "$what: works" ]; then
			echo "stdout is '$(head -c 200 "$tmp/out")', want '$what: works' natively"
			return 1
		fi
		if ! grep -Eqx "$what: (works|refused by pthread_(mutexattr_set(robust|protocol)|mutex_init): .+)" \
			"$tmp/out" || [ "$(wc -l <"$tmp/out")" -ne 1 ]; then
			echo "stdout is '$(head -c 200 "$tmp/out")', want one '$what: ...' line"
			return 1
		fi
		[ "$mode" = native ] || echo "[$line]"
		return 0 ;;
	esac
}

# selected CASE: whether the command line asked for CASE (or named no cases at all)
selected() {
	[ "$only" = "  " ] || [[ $only == *" $1 "* ]]
}

# run_case CASE MODE: MODE is "native" or the GREENPOLL_PROCS value for a shim run.
run_case() {
	selected "$1" || return 0
	run_fixture "$1" "$2" "$1"
}

# exited PID: true once process PID has ended (gone, or a zombie waiting for `wait`).
exited() {
	local state
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -z "$state" ] || [ "$state" = Z ]
}

# stop_server: SIGTERM, then up to 5 s for it to end (SIGKILL after that); sets
# server_status to its exit status, or "hung" if SIGTERM did not end it.
stop_server() {
	local i
	server_status=hung
	kill -TERM "$server_pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		exited "$server_pid" && break
		sleep 0.1
	done
	if exited "$server_pid"; then
		wait "$server_pid" 2>/dev/null
		server_status=$?
	else
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	server_pid=''
}

# run_pool MODE: pool_server (native, or shimmed with GREENPOLL_PROCS=MODE) against
# pool_client with POOL_CLIENTS concurrent clients.
run_pool() {
	local mode=$1 label port='' i max_threads why='' last
	selected pool || return 0
	if [ "$mode" = native ]; then
		label="pool_server $POOL_CLIENTS clients (native)"
	else
		label="pool_server $POOL_CLIENTS clients (shim)"
	fi
	for i in pool_server pool_client; do
		if [ ! -x "$fixtures/$i" ]; then
			fail "$label" "$fixtures/$i not built (make fixtures)"
			return
		fi
	done
	if [ "$mode" != native ] && [ ! -f "$lib" ]; then
		fail "$label" "$lib does not exist"
		return
	fi
	rm -f "$tmp/port" "$tmp/threads"
	if [ "$mode" = native ]; then
		env "$fixtures/pool_server" --port-file "$tmp/port" --workers "$POOL_WORKERS" \
			>"$tmp/srv.out" 2>"$tmp/srv.err" &
	else
		env LD_PRELOAD="$lib" GREENPOLL_PROCS="$mode" "$fixtures/pool_server" \
			--port-file "$tmp/port" --workers "$POOL_WORKERS" \
			>"$tmp/srv.out" 2>"$tmp/srv.err" &
	fi
	server_pid=$! # env execs the server: this is its pid
	for ((i = 0; i < 100; i++)); do
		[ -s "$tmp/port" ] && break
		exited "$server_pid" && break
		sleep 0.1
	done
	[ -s "$tmp/port" ] && port=$(cat "$tmp/port")
	if [ -z "$port" ]; then
		last=$(grep -v '^[[:space:]]*$' "$tmp/srv.err" | tail -n 1)
		if exited "$server_pid"; then
			wait "$server_pid" 2>/dev/null
			why="the server ended (status $?) before writing its port file"
			server_pid=''
		else
			stop_server
			why="no port file within 10 s"
		fi
		fail "$label" "$why${last:+; server stderr: $last}"
		return
	fi

	# sample the server's OS thread count while the clients run
	(
		while [ -r "/proc/$server_pid/status" ]; do
			sed -n 's/^Threads:[[:space:]]*//p' "/proc/$server_pid/status" 2>/dev/null
			sleep 0.05
		done
	) >"$tmp/threads" 2>/dev/null &
	sampler_pid=$!
	run -- "$fixtures/pool_client" --port "$port" --clients "$POOL_CLIENTS" --timeout 50
	kill "$sampler_pid" 2>/dev/null
	wait "$sampler_pid" 2>/dev/null
	sampler_pid=''
	max_threads=$(sort -n "$tmp/threads" | tail -n 1)
	exited "$server_pid" && why="the server ended during the run"
	stop_server

	last=$(grep -v '^[[:space:]]*$' "$tmp/srv.err" | tail -n 1)
	if [ "$status" -ne 0 ]; then
		why="client: $(reason); $(head -n 1 "$tmp/out")${why:+; $why}"
	elif ! grep -q "^ok=1 replies=$POOL_CLIENTS " "$tmp/out"; then
		why="client stdout is '$(head -c 200 "$tmp/out")'${why:+; $why}"
	elif [ -n "$why" ]; then
		:
	elif [ -z "$max_threads" ]; then
		why="no OS thread count sampled from /proc/PID/status"
	elif [ "$mode" != native ] && [ "$max_threads" -gt $((mode + EXTRA_OS_THREADS)) ]; then
		why="the server had $max_threads OS threads, more than GREENPOLL_PROCS+$EXTRA_OS_THREADS = $((mode + EXTRA_OS_THREADS))"
	fi
	if [ -n "$why" ]; then
		fail "$label" "$why${last:+; server stderr: $last}"
	else
		pass "$label [$(cut -d ' ' -f 2-4 "$tmp/out"), max server OS threads $max_threads]"
	fi

	label="pool_server exits 0 on SIGTERM (${label##*(}"
	if [ "$server_status" = hung ]; then
		fail "$label" "still running 5 s after SIGTERM (killed)${last:+; server stderr: $last}"
	elif [ "$server_status" != 0 ]; then
		fail "$label" "exit status $server_status after SIGTERM${last:+; server stderr: $last}"
	else
		pass "$label"
	fi
}

for case in sync_prodcons sync_many_waiters sync_cond_broadcast sync_mutex_errors \
	    sync_mutex_contention sync_static_init sync_rwlock sync_barrier sync_sem \
	    sync_timed sync_timed_crowd sync_futex sync_robust sync_pi_mutex \
	    mux_select_server mux_poll_client mux_epoll_server mux_pollable_fds \
	    mux_pipes_fifo mux_timeouts timeouts_punctual; do
	run_case "$case" native
	run_case "$case" 2
done

# A signal pending while blocked by the thread's mask, then let in by ppoll/pselect/
# epoll_pwait's mask, needs per-task signal masks: native only until greenpoll keeps them
# (the signals issue); under greenpoll today a mask set by a task applies to its carrier.
run_case mux_sigmask_eintr native

# One carrier: any wait that blocks the carrier instead of parking the task stops everything.
for case in sync_many_waiters sync_prodcons mux_select_server mux_pipes_fifo \
	    mux_pollable_fds sync_futex sync_sem sync_timed sync_timed_crowd timeouts_punctual; do
	run_case "$case" 1
done

run_pool native
run_pool 2

report sync-integration
