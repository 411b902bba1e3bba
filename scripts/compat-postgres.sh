#!/usr/bin/env bash
# compat-postgres.sh — PostgreSQL 15 (a postmaster that forks a backend per connection and
# auxiliary processes waiting on latches, signals between them, shared memory and process-shared
# semaphores) natively and under greenpoll with one and two carriers. Each run: initdb under the
# run's environment, the server on a Unix socket in a temporary directory and on 127.0.0.1, then
# these scenarios, each one PASS or FAIL line:
#   queries     psql queries over the Unix socket and TCP, output byte for byte as natively
#   copy        16 clients at once each COPY 4 MiB out over TCP, every sha256 as natively
#   pgbench     pgbench -i -s 2, then -c 16 -j 2 -t 200 with a fixed seed; sums and md5 of the
#               tables afterwards as natively
#   pgbench-shim  the same transactions with pgbench itself under the run's environment (threads)
#   cancel      statement_timeout, pg_cancel_backend and psql's own cancel (SIGINT) end a
#               pg_sleep(30) within 5 s with the error natively given
#   terminate   pg_terminate_backend ends a session within 5 s as natively
#   client-kill a client killed (-9) while its backend sends a large result, and one killed in a
#               pg_sleep watched by client_connection_check_interval: both backends gone within
#               10 s, the server answering
#   locks       a deadlock between two sessions (one ends with "deadlock detected"), lock_timeout,
#               and pg_cancel_backend of a session waiting for a lock, as natively
#   parallel    a parallel query (two background workers the postmaster forks) as natively
#   reload      pg_ctl reload (SIGHUP): a session in pg_sleep and a new one see the new work_mem
#   stop-smart, stop-fast, stop-immediate  pg_ctl stop -m MODE within 15, 10 and 5 s (smart with
#               a session that ends on its own after 2 s, fast with one in pg_sleep(60) and one
#               whose client is stopped (SIGSTOP) while its backend sends a large result); after
#               immediate the server restarts (crash recovery) and the tables are as before
# PostgreSQL refuses to run as root: as root, the server, initdb and pg_ctl run as the user
# `postgres` (which must be able to read the library); the clients run as the invoking user.
# Prints "compat-postgres: N passed, N failed"; exits non-zero on a failure.
#   scripts/compat-postgres.sh [BUILD]     (make compat: installs postgresql-15 when missing)
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
# shellcheck source=tests/lib.sh
. tests/lib.sh
# shellcheck source=scripts/compat-lib.sh
. scripts/compat-lib.sh "${1:-build}"
bin=/usr/lib/postgresql/15/bin
data=$tmp/data
unset "${!PG@}"
trap 'kill_server; rm -rf "$tmp"' EXIT

for p in initdb postgres pg_ctl pgbench psql pg_isready; do
	if [ ! -x "$bin/$p" ]; then
		echo "compat-postgres: $bin/$p missing (scripts/deps.sh compat)"
		exit 2
	fi
done
as=()
if ((EUID == 0)); then
	as=(runuser -u postgres --)
	chown postgres "$tmp"
	if [ -f "$lib" ] && ! runuser -u postgres -- test -r "$lib"; then
		echo "compat-postgres: the user postgres cannot read $lib (give it read access)"
		exit 2
	fi
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PGHOST=$tmp PGPORT=$port PGUSER=postgres PGDATABASE=postgres
psql=("$bin/psql" -X -q)
mode_env=()

# postmaster: the running server's pid, empty if none
postmaster() { head -n 1 "$data/postmaster.pid" 2>/dev/null; }

# kill_server: kills (-9) a server left running and the processes it forked
kill_server() {
	local pid children
	pid=$(postmaster)
	[ -n "$pid" ] || return 0
	mapfile -t children < <(pgrep -P "$pid")
	kill -KILL "$pid" "${children[@]}" 2>/dev/null
	rm -f "$data/postmaster.pid"
}

# start_server: starts the server under the run's environment; fails if it is not accepting
# connections within 30 s
start_server() {
	"${as[@]}" env "${mode_env[@]}" "$bin/postgres" -D "$data" -k "$tmp" -p "$port" \
		-c listen_addresses=127.0.0.1 >>"$tmp/server.log" 2>&1 &
	timeout 30 bash -c "until '$bin/pg_isready' -q; do sleep 0.2; done"
}

# ctl ARG...: pg_ctl on the data directory, run natively, bounded by 40 s
ctl() { timeout 40 "${as[@]}" "$bin/pg_ctl" -D "$data" -s "$@" >>"$tmp/ctl.log" 2>&1; }

# q ARG...: psql, bounded by 60 s (a client the script signals runs as "${psql[@]}", without
# timeout between them)
q() { timeout 60 "${psql[@]}" "$@"; }

# session_gone PATTERN SECONDS: whether no backend runs a query matching PATTERN within SECONDS
session_gone() {
	local n
	for ((n = 0; n < $2 * 10; n++)); do
		[ "$(q -Atc "select count(*) from pg_stat_activity where query like '$1'
			and pid <> pg_backend_pid()")" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# when_running PATTERN: waits (up to 10 s) until a backend runs a query matching PATTERN
when_running() {
	local n
	for ((n = 0; n < 100; n++)); do
		[ "$(q -Atc "select count(*) from pg_stat_activity where query like '$1'
			and state = 'active' and pid <> pg_backend_pid()")" = 1 ] && return 0
		sleep 0.1
	done
}

# verdict SCENARIO WHY: PASS if WHY is empty and SCENARIO's output ($tmp/SCENARIO) is what the
# native run gave (the native run's is kept), FAIL otherwise
verdict() {
	local scenario=$1 why=$2 native=$tmp/native.$1
	if [ -z "$why" ] && [ "$label" = native ]; then
		cp "$tmp/$scenario" "$native"
	elif [ -z "$why" ] && [ ! -f "$native" ]; then
		why="the native run failed: nothing to compare with"
	elif [ -z "$why" ] && ! cmp -s "$native" "$tmp/$scenario"; then
		why="output differs from the native run's: $(diff "$native" "$tmp/$scenario" |
			grep '^[<>]' | head -n 3 | tr '\n' ' ')"
	fi
	if [ -n "$why" ]; then
		fail "$label: $scenario" "$why"
	else
		pass "$label: $scenario"
	fi
}

# elapsed SINCE: seconds (with tenths) since SINCE ($EPOCHREALTIME)
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# over BOUND SECONDS: whether SECONDS exceed BOUND
over() { awk -v b="$1" -v s="$2" 'BEGIN { exit !(s > b) }'; }

scenario_queries() {
	local sql="select count(*) > 0 from pg_class; select datname from pg_database order by 1;
		create table t (k int primary key, v text);
		insert into t select g, md5(g::text) from generate_series(1, 20000) g;
		select count(*), sum(k), md5(string_agg(v, ',' order by k)) from t;
		select k, v from t where k % 4001 = 0 order by k;
		select sum(length(repeat(v, 100))) from t;"
	{
		q -c "$sql" 2>&1
		q -h 127.0.0.1 -c "select k, v from t where k % 5003 = 0 order by k" 2>&1
	} >"$tmp/queries"
	verdict queries ""
}

scenario_copy() {
	local n pids=() why=""
	for ((n = 1; n <= 16; n++)); do
		q -h 127.0.0.1 -c "copy (select g, md5((g * $n)::text), repeat('x', 64)
			from generate_series(1, 40000) g) to stdout" 2>&1 | sha256sum >"$tmp/copy.$n" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do
		wait "$n" || why="a client failed"
	done
	cat "$tmp"/copy.{1..16} >"$tmp/copy"
	verdict copy "$why"
}

# tables: the sums and md5 of pgbench's tables
tables() {
	q -c "select sum(abalance), md5(string_agg(aid || ':' || abalance, ',' order by aid))
			from pgbench_accounts;
		select sum(bbalance), md5(string_agg(bid || ':' || bbalance, ',' order by bid))
			from pgbench_branches;
		select sum(tbalance), md5(string_agg(tid || ':' || tbalance, ',' order by tid))
			from pgbench_tellers;
		select count(*), sum(delta), md5(string_agg(concat_ws(':', tid, bid, aid, delta), ','
			order by tid, bid, aid, delta)) from pgbench_history;" 2>&1
}

# pgbench_round SCENARIO ENV...: pgbench -c 16 -j 2 -t 200 with ENV, then the tables
pgbench_round() {
	local scenario=$1 why=""
	shift
	timeout 120 env "$@" "$bin/pgbench" -c 16 -j 2 -t 200 --random-seed=7 >"$tmp/pgbench.out" 2>&1 ||
		why="pgbench failed: $(tail -n 1 "$tmp/pgbench.out")"
	grep -q '^number of transactions actually processed: 3200/3200$' "$tmp/pgbench.out" ||
		why="${why:-not every transaction was processed: $(grep processed "$tmp/pgbench.out")}"
	tables >"$tmp/$scenario"
	verdict "$scenario" "$why"
}

scenario_pgbench() {
	if ! timeout 120 "$bin/pgbench" -i -s 2 -q >"$tmp/pgbench.out" 2>&1; then
		fail "$label: pgbench" "pgbench -i failed: $(tail -n 1 "$tmp/pgbench.out")"
		return
	fi
	pgbench_round pgbench
	pgbench_round pgbench-shim "${mode_env[@]}"
}

# cancelled HOW: runs pg_sleep(30) in a session that HOW (statement_timeout, backend or
# sigint) cancels; prints its output and how long it took, if over 5 s
cancelled() {
	local start client t
	start=$EPOCHREALTIME
	case $1 in
	statement_timeout) q -c "set statement_timeout = 300" -c "select pg_sleep(30)" 2>&1 ;;
	*)
		"${psql[@]}" -c "select pg_sleep(30) -- $1" >"$tmp/cancel.client" 2>&1 &
		client=$!
		when_running "select pg_sleep(30) -- $1"
		if [ "$1" = backend ]; then
			q -Atc "select pg_cancel_backend(pid) from pg_stat_activity
				where query like 'select pg_sleep(30) -- backend'" 2>&1
		else
			kill -INT "$client"
		fi
		wait "$client"
		cat "$tmp/cancel.client"
		;;
	esac
	t=$(elapsed "$start")
	if over 5 "$t"; then echo "$1: the cancel took $t s"; fi
}

scenario_cancel() {
	{
		cancelled statement_timeout
		cancelled backend
		cancelled sigint
	} >"$tmp/cancel"
	verdict cancel ""
}

scenario_terminate() {
	local client start why=""
	start=$EPOCHREALTIME
	q -c "select pg_sleep(30) -- terminate" >"$tmp/terminate.client" 2>&1 &
	client=$!
	when_running 'select pg_sleep(30) -- terminate'
	q -Atc "select pg_terminate_backend(pid) from pg_stat_activity
		where query like 'select pg_sleep(30) -- terminate'" >"$tmp/terminate" 2>&1
	wait "$client"
	echo "status $?" >>"$tmp/terminate.client"
	cat "$tmp/terminate.client" >>"$tmp/terminate"
	session_gone 'select pg_sleep(30) -- terminate' 5 || why="the backend is still there"
	over 5 "$(elapsed "$start")" && why="${why:-}${why:+; }it took $(elapsed "$start") s"
	verdict terminate "$why"
}

scenario_client_kill() {
	local client why=""
	"${psql[@]}" -h 127.0.0.1 -c "copy (select g, repeat('y', 1000) from generate_series(1, 3000000) g)
		to stdout" >/dev/null 2>&1 &
	client=$!
	when_running 'copy (select g, repeat(%'
	sleep 0.5
	kill -KILL "$client"
	wait "$client" 2>/dev/null
	session_gone 'copy (select g, repeat(%' 10 || why="the backend sending to a killed client is still there"
	"${psql[@]}" -c "set client_connection_check_interval = 200" -c "select pg_sleep(60) -- check" \
		>/dev/null 2>&1 &
	client=$!
	when_running 'select pg_sleep(60) -- check'
	kill -KILL "$client"
	wait "$client" 2>/dev/null
	session_gone 'select pg_sleep(60) -- check' 10 ||
		why="${why:-}${why:+; }the backend whose client was killed in pg_sleep is still there"
	q -c "select count(*) from t" >"$tmp/client-kill" 2>&1
	verdict client-kill "$why"
}

scenario_locks() {
	q -c "create table locked (k int primary key, v int); insert into locked values (1, 0), (2, 0)"
	local pids=() k
	{
		for k in 1 2; do
			q -c "begin" -c "update locked set v = $k where k = $k" -c "select pg_sleep(0.5)" \
				-c "update locked set v = $k where k = $((3 - k))" -c "commit" 2>&1 | grep '^ERROR' &
			pids+=($!)
		done
		wait "${pids[@]}"
		q -c "begin" -c "lock table locked" -c "select pg_sleep(3) -- holder" >/dev/null 2>&1 &
		pids=($!)
		when_running 'select pg_sleep(3) -- holder'
		q -c "set lock_timeout = 300" -c "select * from locked" 2>&1
		q -c "select * from locked -- waiter" >"$tmp/locks.client" 2>&1 &
		pids+=($!)
		when_running 'select * from locked -- waiter'
		q -Atc "select pg_cancel_backend(pid) from pg_stat_activity
			where query like 'select * from locked -- waiter'" 2>&1
		wait "${pids[@]}"
		cat "$tmp/locks.client"
		q -c "select count(*) from locked where v > 0" 2>&1
	} >"$tmp/locks"
	verdict locks ""
}

scenario_parallel() {
	local settings=(-c "set max_parallel_workers_per_gather = 2" -c "set parallel_setup_cost = 0"
		-c "set parallel_tuple_cost = 0" -c "set min_parallel_table_scan_size = 0")
	{
		q "${settings[@]}" -c "explain (analyze, costs off, timing off, summary off)
			select count(*) from pgbench_accounts where aid % 7 = 0" 2>&1 | grep Workers
		q "${settings[@]}" -c "select count(*), sum(abalance), md5(string_agg(aid::text, ','
			order by aid)) from pgbench_accounts where aid % 7 = 0" 2>&1
	} >"$tmp/parallel"
	verdict parallel ""
}

scenario_reload() {
	local client why=""
	q -c "alter system set work_mem = '4MB'" -c "select pg_reload_conf()" >/dev/null 2>&1
	sleep 0.5
	q -Atc "show work_mem" -c "select pg_sleep(2) -- reload" -c "show work_mem" >"$tmp/reload" 2>&1 &
	client=$!
	when_running 'select pg_sleep(2) -- reload'
	q -c "alter system set work_mem = '7MB'" >/dev/null 2>&1 || why="alter system failed"
	ctl reload || why="pg_ctl reload failed"
	wait "$client"
	sleep 0.5
	q -Atc "show work_mem" >>"$tmp/reload" 2>&1
	verdict reload "$why"
}

# stop MODE BOUND SCENARIO [CLIENT...]: pg_ctl stop -m MODE, which must end within BOUND
# seconds; the sessions' clients (pids) are waited for and their output, in
# $tmp/SCENARIO.client, goes with the verdict
stop() {
	local start t why=""
	start=$EPOCHREALTIME
	ctl stop -m "$1" -t 30 || why="pg_ctl stop -m $1 failed: $(tail -n 1 "$tmp/ctl.log")"
	t=$(elapsed "$start")
	over "$2" "$t" && why="${why:-}${why:+; }pg_ctl stop -m $1 took $t s (bound $2 s)"
	if [ -n "$(postmaster)" ]; then
		why="${why:-}${why:+; }the server is still running"
		kill_server
	fi
	(($# < 4)) || wait "${@:4}"
	cat "$tmp/$3.client" >"$tmp/$3" 2>/dev/null
	verdict "$3" "$why"
}

scenario_stops() {
	local stalled
	q -c "select pg_sleep(2) -- smart" -c "select 'smart done'" >"$tmp/stop-smart.client" 2>&1 &
	when_running 'select pg_sleep(2) -- smart'
	stop smart 15 stop-smart $!
	if ! start_server; then
		fail "$label: stop-fast" "the server did not start again within 30 s"
		return
	fi
	"${psql[@]}" -h 127.0.0.1 -c "copy (select g, repeat('z', 1000) from generate_series(1, 3000000) g)
		to stdout" >/dev/null 2>&1 &
	stalled=$!
	when_running 'copy (select g, repeat(%'
	kill -STOP "$stalled"
	q -c "select pg_sleep(60) -- fast" >"$tmp/stop-fast.client" 2>&1 &
	when_running 'select pg_sleep(60) -- fast'
	stop fast 10 stop-fast $!
	kill -KILL "$stalled"
	wait "$stalled" 2>/dev/null
	if ! start_server; then
		fail "$label: stop-immediate" "the server did not start again within 30 s"
		return
	fi
	tables >"$tmp/before-immediate"
	stop immediate 5 stop-immediate
	if ! start_server; then
		fail "$label: recovery" "the server did not start again within 30 s"
		return
	fi
	tables >"$tmp/recovery"
	if cmp -s "$tmp/before-immediate" "$tmp/recovery"; then
		pass "$label: recovery"
	else
		fail "$label: recovery" "the tables differ after crash recovery"
	fi
	ctl stop -m fast -t 30 || fail "$label: final stop" "pg_ctl stop -m fast failed"
}

# run_under LABEL ENV...: initdb and a server with ENV, every scenario
run_under() {
	label=$1
	shift
	mode_env=("$@")
	rm -rf "$data"
	if ! timeout 60 "${as[@]}" env "$@" "$bin/initdb" -D "$data" -A trust -U postgres \
		--no-sync >"$tmp/initdb.log" 2>&1; then
		fail "$label: initdb" "$(tail -n 1 "$tmp/initdb.log")"
		return
	fi
	if ! start_server; then
		fail "$label: server" "not accepting connections within 30 s: $(tail -n 1 "$tmp/server.log")"
		kill_server
		return
	fi
	scenario_queries
	scenario_copy
	scenario_pgbench
	scenario_cancel
	scenario_terminate
	scenario_client_kill
	scenario_locks
	scenario_parallel
	scenario_reload
	scenario_stops
	kill_server
}

three_runs postgres run_under
