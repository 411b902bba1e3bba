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
#  - Fault injection (fault_*): a fixture that handles short counts and EINTR correctly runs
#    natively and under GREENPOLL_FAULTS with the same output; one that assumes whole reads and
#    writes must fail under them; GREENPOLL_DEBUG's exit line must count the faults injected.
#
# The native runs take about 25 s in all on this machine (2 cores).
#
# Prints one line per run, "PASS: <case> (<mode>)" or "FAIL: <case> (<mode>): <reason>", then
# "net-integration: N passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if it is
# set. Exits non-zero if any run failed. A missing library makes every shim run fail.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

use_build "${1:-}"

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


# lib.sh's hooks. A run labelled just "(shim)" has $PROCS carriers. Seconds a run may take
# before it counts as hung: native runs take 0.1 to 5 s each.
shim_procs=$PROCS
fixture_limit() {
	case $1 in
	net_blocking_io | net_bulk | net_churn | net_echo_threads) echo 90 ;;
	echo_server_10k) echo 120 ;;
	*) echo 45 ;;
	esac
}
fixture_shim_args() { printf -- '--max-os-threads\n%s\n' $(($2 + EXTRA_OS_THREADS)); }

# fixture_check CASE MODE: its stderr has as many "greenpoll: " lines as it must: a raw close
# of the poller's epoll fd is said once; nothing else here says anything.
fixture_check() {
	local said want
	case $1 in
	net_lost_poller) [ "$2" = native ] && want=0 || want=1 ;;
	net_close_range_syscall | net_full_table_read) want=0 ;;
	*) return 0 ;;
	esac
	said=$(grep -c '^greenpoll: ' "$tmp/err")
	if [ "$said" -ne "$want" ]; then
		echo "stderr has $said 'greenpoll: ' lines, want $want:" \
			"$(grep '^greenpoll: ' "$tmp/err" | head -n 3)"
		return 1
	fi
}

# ---- self-contained fixtures ----

# run_case CASE MODE: MODE is "native" or the GREENPOLL_PROCS value for a shim run.
run_case() { run_fixture "$1" "$2" "$1"; }

# ---- fault injection (GREENPOLL_FAULTS) ----

# fault_case CASE FAULTS STATUS COUNTS [STDOUT]: CASE runs natively (status 0), then under the
# shim with GREENPOLL_FAULTS=FAULTS and GREENPOLL_DEBUG=1: its exit status must be STATUS, its
# stdout the native one (or, if given, STDOUT's lines, '|'-separated), and its stderr must say
# "greenpoll: faults injected: COUNTS" (COUNTS an extended regular expression): the faults
# happened, as many as said.
fault_case() {
	local case=$1 faults=$2 want_status=$3 counts=$4 want_out=${5:-} label
	label="$case (shim GREENPOLL_FAULTS=$faults)"
	run --limit 60 -- "$fixtures/$case"
	if [ "$status" -ne 0 ]; then
		fail "$case (native)" "$(reason)"
		return
	fi
	[ -n "$want_out" ] || want_out=$(cat "$tmp/out")
	run --limit 60 LD_PRELOAD="$lib" GREENPOLL_PROCS="$PROCS" GREENPOLL_DEBUG=1 \
		GREENPOLL_FAULTS="$faults" -- "$fixtures/$case"
	if [ "$status" -ne "$want_status" ]; then
		fail "$label" "want exit status $want_status, got $(reason)"
	elif [ "$(cat "$tmp/out")" != "$(tr '|' '\n' <<<"$want_out")" ]; then
		fail "$label" "stdout '$(tr '\n' '|' <"$tmp/out")', want '$want_out'"
	elif ! grep -Eqx "greenpoll: faults injected: $counts" "$tmp/err"; then
		fail "$label" "stderr has '$(grep 'faults injected' "$tmp/err")', want 'faults injected: $counts'"
	else
		pass "$label"
	fi
}

# ---- separate servers ----

# whether process $1 exists and is not a zombie
alive() {
	local st
	st=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# start_server MODE SERVER ARG...: (MODE as for run_case) starts it in the background with
# --port-file $tmp/port; sets server_pid. Output goes to $tmp/srv.out and $tmp/srv.err.
start_server() {
	local mode=$1 env=()
	shift
	[ "$mode" = native ] || env=(LD_PRELOAD="$lib" GREENPOLL_PROCS="$mode")
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

# server_case CASE MODE: runs the client of CASE against its server started in MODE (as for
# run_case).
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
	if [ "$mode" != native ] && [ ! -f "$lib" ]; then
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
	run --limit "$(fixture_limit "$case")" -- "$client" --port-file "$tmp/port" \
		--server-pid "$server_pid" "${cargs[@]}"
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
	elif [ "$mode" != native ] && [ "$threads" -gt "$MAX_OS_THREADS" ]; then
		fail "$label" "the shimmed server had $threads OS threads with its connections open, more than GREENPOLL_PROCS+$EXTRA_OS_THREADS = $MAX_OS_THREADS"
	else
		pass "$label"
	fi
}

fixture_cases="net_flags net_blocking_io net_timeouts net_errors net_close_blocked net_stdio
	       net_pipes net_echo_threads net_prethreaded net_udp net_unix_dgram net_idle_timeout
	       net_bulk net_sendfile net_peer_reset net_churn net_emfile net_short_reads
	       net_busy_yielders net_exec_listener net_exec_connecting net_close_range_syscall
	       net_full_table_read net_lost_poller net_fortified"
# cases also run under the shim with the other number of carriers (1 if NET_PROCS is not 1)
both_procs_cases="net_exec_listener net_exec_connecting net_close_range_syscall
		  net_full_table_read net_lost_poller"
server_cases="echo_server_10k http_keepalive"
fault_cases="fault_correct_io fault_naive_io"
selected=${NET_CASES:-$fixture_cases $server_cases $fault_cases}
for case in $selected; do
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $fixture_cases) " in *" $case "*) continue ;; esac
	case " $server_cases " in *" $case "*) continue ;; esac
	case " $fault_cases " in *" $case "*) continue ;; esac
	fail "$case" "no such case (NET_CASES)"
done

for case in $fixture_cases; do
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $selected) " in *" $case "*) ;; *) continue ;; esac
	run_case "$case" native
	run_case "$case" "$PROCS"
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $both_procs_cases) " in
	*" $case "*) run_case "$case" "$([ "$PROCS" = 1 ] && echo 2 || echo 1)" ;;
	esac
done

for case in $server_cases; do
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $selected) " in *" $case "*) ;; *) continue ;; esac
	server_case "$case" native
	server_case "$case" "$PROCS"
done

for case in $fault_cases; do
	# shellcheck disable=SC2086,SC2116 # split into one line of names on purpose
	case " $(echo $selected) " in *" $case "*) ;; *) continue ;; esac
	case $case in
	fault_correct_io)
		fault_case "$case" short_read:30,short_write:30,eintr:30,delay_wake:1ms@30,seed:42 0 \
			'[1-9][0-9]* short reads, [1-9][0-9]* short writes, [1-9][0-9]* EINTR, [0-9]* delayed wake-ups'
		fault_case "$case" delay_wake:1ms@100 0 \
			'0 short reads, 0 short writes, 0 EINTR, [1-9][0-9]* delayed wake-ups'
		;;
	fault_naive_io)
		fault_case "$case" short_read:100,short_write:100,eintr:100 1 \
			'20 short reads, 10 short writes, 1 EINTR, 0 delayed wake-ups' \
			'socket reads: 0 of 10 whole|pipe reads: 0 of 10 whole|socket writes: 0 of 10 whole|poll: Interrupted system call'
		;;
	esac
done

report net-integration
