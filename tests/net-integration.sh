#!/usr/bin/env bash
# Integration tests of the socket surface (issue 3).
#
#   usage: tests/net-integration.sh [BUILD_DIR]     (from the repo root, after `make fixtures`)
#   NET_CASES="net_udp echo_server_10k" tests/net-integration.sh    runs only those cases
#   NET_PROCS=1 tests/net-integration.sh     shim runs with that GREENPOLL_PROCS (default 2);
#                                            the cases in both_procs_cases run with the other
#                                            count too (1, or 2 when NET_PROCS=1)
#
# Two kinds of case:
#  - Self-contained fixtures (BUILD_DIR/fixtures/net_*): plain blocking programs that run
#    their own servers and clients in one process and check themselves. Each runs natively,
#    then under the shim (LD_PRELOAD=BUILD_DIR/libgreenpoll.so GREENPOLL_PROCS=2, with
#    --max-os-threads GREENPOLL_PROCS+5), each run under `timeout` with a per-case limit.
#  - Separate servers (echo_server, http_server): the server is started natively or under
#    the shim, with its soft fd limit at the hard limit; once its --port-file appears, a
#    native client fixture runs against it (net_echo_client_many: 10,000 connections open at
#    once, every byte checked; net_http_client: HTTP/1.1 keep-alive, pipelining, 8
#    connections, 404, HTTP/1.0), sampling the server's OS thread count while its
#    connections are open; then the server gets SIGTERM and must exit with status 0, having
#    printed "listening on PORT" (PORT as in its port file). The thread count must be at
#    least the number of connections natively (thread per connection), at most
#    GREENPOLL_PROCS+5 under the shim.
#
# The native runs take about 25 s in all on this machine (2 cores).
#
# Prints one line per run, "PASS: <case> (<mode>)" or "FAIL: <case> (<mode>): <reason>", then
# "net-integration: N passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if it is
# set. Exits non-zero if any run failed. A missing library makes every shim run fail.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
fixtures=$build/fixtures
lib=$build/libgreenpoll.so

PROCS=${NET_PROCS:-2}
# Under the shim the process may have GREENPOLL_PROCS carriers plus this many other OS
# threads (the main thread's own, the monitor, the control channel's, spare carriers handed a P).
EXTRA_OS_THREADS=5
MAX_OS_THREADS=$((PROCS + EXTRA_OS_THREADS))
ECHO_CONNS=10000
HTTP_CONNS=8 # concurrent connections net_http_client holds while sampling

tmp=$(mktemp -d)
server_pid=
why=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT


# Seconds a run may take before it counts as hung. Native runs take 0.1 to 5 s each.
limit_of() {
	case $1 in
	net_blocking_io | net_bulk | net_churn | net_echo_threads) echo 90 ;;
	echo_server_10k) echo 120 ;;
	*) echo 45 ;;
	esac
}



label_of() {
	case $2 in
	native) echo "$1 (native)" ;;
	shim) echo "$1 (shim)" ;;
	*) echo "$1 (shim, GREENPOLL_PROCS=${2#shim})" ;;
	esac
}

# ---- self-contained fixtures ----

# run_case CASE MODE: MODE is "native", "shim" (GREENPOLL_PROCS=$PROCS) or "shimN"
# (GREENPOLL_PROCS=N).
run_case() {
	local case=$1 mode=$2 label procs=$PROCS
	label=$(label_of "$case" "$mode")
	case $mode in shim?*) procs=${mode#shim} ;; esac
	if [ ! -x "$fixtures/$case" ]; then
		fail "$label" "$fixtures/$case not built (make fixtures)"
		return
	fi
	if [ "$mode" = native ]; then
		run --limit "$(limit_of "$case")" -- "$fixtures/$case"
	elif [ ! -f "$lib" ]; then
		fail "$label" "$lib does not exist"
		return
	else
		run --limit "$(limit_of "$case")" LD_PRELOAD="$lib" GREENPOLL_PROCS="$procs" -- \
			"$fixtures/$case" --max-os-threads "$((procs + EXTRA_OS_THREADS))"
	fi
	local said want
	said=$(grep -c '^greenpoll: ' "$tmp/err")
	want=$(greenpoll_lines_of "$case" "$mode")
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	elif [ -n "$want" ] && [ "$said" -ne "$want" ]; then
		fail "$label" "stderr has $said 'greenpoll: ' lines, want $want: $(grep '^greenpoll: ' "$tmp/err" | head -n 3)"
	else
		pass "$label"
	fi
}

# greenpoll_lines_of CASE MODE: how many "greenpoll: " lines its stderr must have (empty: not
# checked). A raw close of the poller's epoll fd is said once; nothing else here says anything.
greenpoll_lines_of() {
	case $1 in
	net_lost_poller) [ "$2" = native ] && echo 0 || echo 1 ;;
	net_close_range_syscall | net_full_table_read) echo 0 ;;
	esac
}

# ---- separate servers ----

# whether process $1 exists and is not a zombie
alive() {
	local st
	st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# start_server MODE SERVER ARG...: starts it in the background with --port-file $tmp/port;
# sets server_pid. Output goes to $tmp/srv.out and $tmp/srv.err.
start_server() {
	local mode=$1 env=()
	shift
	[ "$mode" = shim ] && env=(LD_PRELOAD="$lib" GREENPOLL_PROCS="$PROCS")
	rm -f "$tmp/port"
	(
		ulimit -Sn "$(ulimit -Hn)"
		exec env -u LD_PRELOAD "${env[@]}" "$@" --port-file "$tmp/port"
	) >"$tmp/srv.out" 2>"$tmp/srv.err" </dev/null &
	server_pid=$!
}

# wait_port: 0 once $tmp/port holds a port (within 15 s); else sets $why and returns 1.
# (These run in this shell, not in $(...): only this shell can reap the server.)
wait_port() {
	local i
	for ((i = 0; i < 150; i++)); do
		if [ -s "$tmp/port" ] && grep -qE '^[0-9]+$' "$tmp/port"; then
			return 0
		fi
		if ! alive "$server_pid"; then
			wait "$server_pid" 2>/dev/null
			status=$?
			server_pid=
			why="the server ended before writing its port file: $(reason_in "$tmp/srv.err")"
			return 1
		fi
		sleep 0.1
	done
	why="no port file from the server within 15 s"
	return 1
}

# stop_server: SIGTERM, then up to 10 s to exit. Returns 0 if the server was still running
# and exited with status 0; else sets $why and returns 1. Reaps it either way.
stop_server() {
	local i was_alive=1
	if ! alive "$server_pid"; then
		was_alive=0
	else
		kill -TERM "$server_pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			alive "$server_pid" || break
			sleep 0.1
		done
		if alive "$server_pid"; then
			kill -KILL "$server_pid" 2>/dev/null
			wait "$server_pid" 2>/dev/null
			server_pid=
			why="the server did not exit within 10 s of SIGTERM (killed)"
			return 1
		fi
	fi
	wait "$server_pid" 2>/dev/null
	status=$?
	server_pid=
	if [ "$was_alive" = 0 ]; then
		why="the server ended before it was stopped: $(reason_in "$tmp/srv.err")"
		return 1
	fi
	if [ "$status" -ne 0 ]; then
		why="the server did not exit cleanly on SIGTERM: $(reason_in "$tmp/srv.err")"
		return 1
	fi
	return 0
}

# server_case CASE MODE: runs the client of CASE against its server started in MODE.
server_case() {
	local case=$1 mode=$2 label server client min threads cstatus
	local sargs=() cargs=()
	label=$(label_of "$case" "$mode")
	case $case in
	echo_server_10k)
		server=$fixtures/echo_server
		client=$fixtures/net_echo_client_many
		cargs=(--conns "$ECHO_CONNS")
		min=$ECHO_CONNS ;;
	http_keepalive)
		server=$fixtures/http_server
		client=$fixtures/net_http_client
		sargs=(--root "$tmp/www")
		cargs=(--root "$tmp/www")
		min=$((HTTP_CONNS + 1)) ;;
	esac
	for bin in "$server" "$client"; do
		if [ ! -x "$bin" ]; then
			fail "$label" "$bin not built (make fixtures)"
			return
		fi
	done
	if [ "$mode" = shim ] && [ ! -f "$lib" ]; then
		fail "$label" "$lib does not exist"
		return
	fi
	if [ "$case" = http_keepalive ] && [ ! -f "$tmp/www/big.bin" ]; then
		mkdir -p "$tmp/www"
		if ! "$client" --setup "$tmp/www" 2>"$tmp/err"; then
			fail "$label" "net_http_client --setup failed: $(tail -n 1 "$tmp/err")"
			return
		fi
	fi

	start_server "$mode" "$server" "${sargs[@]}"
	if ! wait_port; then
		local first=$why
		[ -n "$server_pid" ] && stop_server
		fail "$label" "$first"
		return
	fi
	run --limit "$(limit_of "$case")" -- "$client" --port-file "$tmp/port" --server-pid "$server_pid" \
		"${cargs[@]}"
	cstatus=$status
	if [ "$cstatus" -ne 0 ]; then
		local first
		first="client: $(reason)"
		stop_server || first="$first; and $why"
		fail "$label" "$first"
		return
	fi
	if ! stop_server; then
		fail "$label" "$why"
		return
	fi
	threads=$(sed -n 's/^server threads: \([0-9]*\)$/\1/p' "$tmp/out" | tail -n 1)
	if ! grep -qx "listening on $(head -n 1 "$tmp/port")" "$tmp/srv.out"; then
		fail "$label" "the server's stdout has no line 'listening on $(head -n 1 "$tmp/port")'"
	elif [ -z "$threads" ]; then
		fail "$label" "the client printed no 'server threads: N' line"
	elif [ "$mode" = native ] && [ "$threads" -lt "$min" ]; then
		fail "$label" "the native server had $threads OS threads with its connections open, want at least $min (thread per connection)"
	elif [ "$mode" = shim ] && [ "$threads" -gt "$MAX_OS_THREADS" ]; then
		fail "$label" "the shimmed server had $threads OS threads with its connections open, more than GREENPOLL_PROCS+$EXTRA_OS_THREADS = $MAX_OS_THREADS"
	else
		pass "$label"
	fi
}

fixture_cases="net_flags net_blocking_io net_timeouts net_errors net_close_blocked net_stdio
	       net_pipes net_echo_threads net_prethreaded net_udp net_unix_dgram net_idle_timeout
	       net_bulk net_sendfile net_peer_reset net_churn net_emfile net_short_reads
	       net_busy_yielders net_exec_listener net_exec_connecting net_close_range_syscall
	       net_full_table_read net_lost_poller"
# cases also run under the shim with the other number of carriers (1 if NET_PROCS is not 1)
both_procs_cases="net_exec_listener net_exec_connecting net_close_range_syscall
		  net_full_table_read net_lost_poller"
server_cases="echo_server_10k http_keepalive"
selected=${NET_CASES:-$fixture_cases $server_cases}
for case in $selected; do
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $fixture_cases) " in *" $case "*) continue ;; esac
	case " $server_cases " in *" $case "*) continue ;; esac
	fail "$case" "no such case (NET_CASES)"
done

for case in $fixture_cases; do
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $selected) " in *" $case "*) ;; *) continue ;; esac
	run_case "$case" native
	run_case "$case" shim
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $both_procs_cases) " in
	*" $case "*) run_case "$case" "shim$([ "$PROCS" = 1 ] && echo 2 || echo 1)" ;;
	esac
done

for case in $server_cases; do
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $selected) " in *" $case "*) ;; *) continue ;; esac
	server_case "$case" native
	server_case "$case" shim
done

report net-integration
