#!/usr/bin/env bash
# compat-mariadb.sh — MariaDB (mariadbd, one thread per connection, a signal thread in sigwait,
# InnoDB's I/O threads in io_uring_enter or in the kernel) natively and under greenpoll with one
# and two carriers: a fresh data directory, the server on a Unix socket and 127.0.0.1, then
# 8 clients at once each create a table, insert 200 rows and read them back; every client's
# output must be byte for byte what the same queries give natively. Each server run is bounded
# (a query that does not answer within 30 s fails the run). Prints one PASS or FAIL line per run
# and "compat-mariadb: N passed, N failed"; exits non-zero on a failure.
#   scripts/compat-mariadb.sh [BUILD]      (make compat: installs mariadb-server when missing)
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
# shellcheck source=scripts/compat-lib.sh
. scripts/compat-lib.sh "${1:-build}"
clients=8
rows=200
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; rm -rf "$tmp"' EXIT

mariadbd=$(command -v mariadbd || echo /usr/sbin/mariadbd)
if [ ! -x "$mariadbd" ] || ! command -v mariadb-install-db >/dev/null || ! command -v mariadb >/dev/null; then
	echo "compat-mariadb: mariadbd, mariadb-install-db or mariadb missing (scripts/deps.sh compat)"
	exit 2
fi

# client N: its queries; the output goes to $tmp/out.N
client() {
	local n=$1
	local sql="create database if not exists c$n; use c$n; drop table if exists kv;"
	sql+=" create table kv (k int primary key, v varchar(64)) engine=innodb;"
	for ((i = 1; i <= rows; i++)); do
		sql+=" insert into kv values ($i, concat('row-', $i * $n));"
	done
	sql+=" select count(*), sum(k), md5(group_concat(v order by k)) from kv;"
	sql+=" select k, v from kv where k % 37 = 0 order by k;"
	timeout 30 mariadb --no-defaults -S "$tmp/sock" -u root -e "$sql" >"$tmp/out.$n" 2>&1
}

# run LABEL ENV...: a fresh server with ENV, the clients, the outputs kept as $tmp/LABEL.*
run() {
	local label=$1 ok=1 n pids=() status
	shift
	rm -rf "$tmp/data" "$tmp/sock" "$tmp/err.log"
	mkdir -p "$tmp/data"
	mariadb-install-db --no-defaults --datadir="$tmp/data" --user="$(id -un)" \
		--auth-root-authentication-method=normal >"$tmp/install.log" 2>&1 || {
		echo "FAIL: $label: mariadb-install-db failed"
		failed=$((failed + 1))
		return
	}
	env "$@" "$mariadbd" --no-defaults --datadir="$tmp/data" --socket="$tmp/sock" \
		--port=0 --bind-address=127.0.0.1 --user="$(id -un)" --skip-grant-tables \
		--log-error="$tmp/err.log" --pid-file="$tmp/pid" 2>"$tmp/server.err" &
	server=$!
	for ((n = 0; n < 300; n++)); do
		[ -S "$tmp/sock" ] && break
		sleep 0.1
	done
	for ((n = 1; n <= clients; n++)); do
		client "$n" &
		pids+=($!)
	done
	for n in "${!pids[@]}"; do
		wait "${pids[$n]}" || ok=0
	done
	threads=$(awk '/^Threads:/ {print $2}' "/proc/$server/status" 2>/dev/null)
	kill -TERM "$server" 2>/dev/null
	if ! timeout 30 tail --pid="$server" -f /dev/null; then
		kill -KILL "$server" 2>/dev/null
	fi
	wait "$server" 2>/dev/null
	status=$?
	server=''
	for ((n = 1; n <= clients; n++)); do
		cp "$tmp/out.$n" "$tmp/$label.$n"
	done
	if ! grep -q "^$rows	" "$tmp/out.1"; then
		echo "FAIL: $label: client 1 did not read its $rows rows back: $(head -c 200 "$tmp/out.1")"
		failed=$((failed + 1))
	elif [ "$ok" -ne 1 ]; then
		echo "FAIL: $label: a client failed or timed out: $(head -c 200 "$tmp/out.1")"
		failed=$((failed + 1))
	elif [ "$status" -ne 0 ]; then
		echo "FAIL: $label: the server exited with status $status on SIGTERM (137: it ignored it for 30 s)"
		failed=$((failed + 1))
	elif [ "$label" != native ] && ! for ((n = 1; n <= clients; n++)); do
		cmp -s "$tmp/native.$n" "$tmp/$label.$n" || exit 1
	done; then
		echo "FAIL: $label: a client's output differs from the native run's"
		failed=$((failed + 1))
	else
		echo "PASS: $label ($clients clients x $rows rows, every byte as natively; server OS threads: ${threads:-?})"
		passed=$((passed + 1))
	fi
}

three_runs mariadb
