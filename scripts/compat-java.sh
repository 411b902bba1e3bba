#!/usr/bin/env bash
# compat-java.sh — the OpenJDK 17 JVM running a classic blocking Java server
# (scripts/compat/java/LegacyServer.java: a ServerSocket accept loop on 127.0.0.1, one platform
# Thread per connection) natively and under greenpoll with one and two carriers. Each run:
#   1. 1,000 connections open at once, each a SHA-256 and an echo of its own 16 KiB, checked by
#      the client; kept open while jcmd Thread.print and jstack attach (a UNIX socket after a
#      SIGQUIT) and must list every connection thread, a SIGQUIT thread dump goes to stdout,
#      4 connections allocate 64 MiB each and one calls System.gc() (safepoints under load);
#      then all 1,000 do it again on the same connections
#   2. 100 pairs of connections meeting in synchronized/wait/notify hand-offs
#   3. Thread.sleep, a thread in Thread.sleep and one in Object.wait interrupted, a read with
#      setSoTimeout timing out, child processes (ProcessBuilder: the JDK's jspawnhelper) fed and
#      read by threads, 4 connections at once computing, overflowing their stacks
#      (StackOverflowError, caught) and spawning, a Socket closed from another thread while its
#      reader is blocked in read (SocketException promptly)
#   4. 20 clients closing mid-request and 20 killed (SIGKILL) mid-request; the server goes on
#   5. SIGHUP reloads the settings (a sun.misc.Signal handler), SIGTERM stops it: the shutdown
#      hook runs and the exit status is 143
#   6. a second server: 300 connections blocked mid-request, SIGINT must stop it (status 130,
#      hook run) within 20 s
# Everything the clients print, the server's own lines and stderr (connection numbers left
# out), exit statuses and what the attach tools found must be byte for byte the native run's.
# Prints one PASS or FAIL line per run and "compat-java: N passed, N failed"; exits non-zero on
# a failure. Every step is bounded by timeout.
#   scripts/compat-java.sh [BUILD]      (make compat: installs openjdk-17-jdk-headless if missing)
#   KEEP_TMP=1 scripts/compat-java.sh   keeps the scratch directory (each run's output is there)
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
# shellcheck source=scripts/compat-lib.sh
. scripts/compat-lib.sh "${1:-build}"
conns=1000
bytes=16384
keep=${KEEP_TMP:-}
[ -z "$keep" ] || echo "compat-java: scratch directory $tmp (kept)"
clients=()
trap '[ -n "$server" ] && kill -9 "$server" 2>/dev/null; kill_clients; [ -n "$keep" ] || rm -rf "$tmp"' EXIT
ulimit -n 8192 || exit 2

for tool in java javac jcmd jstack; do
	if ! command -v "$tool" >/dev/null; then
		echo "compat-java: $tool missing (scripts/deps.sh compat)"
		exit 2
	fi
done
if ! timeout 120 javac -nowarn -XDignore.symbol.file -d "$tmp/classes" scripts/compat/java/*.java \
	2>"$tmp/javac.err"; then
	echo "compat-java: javac failed: $(head -c 300 "$tmp/javac.err")"
	exit 2
fi

client() { timeout 120 java -cp "$tmp/classes" LoadClient "$@"; }

# a client that hangs (partial ... hang), in the background, in $clients; kill_clients kills
# each (the java under its timeout, then the timeout) and waits for them
hang_client() {
	rm -f "$tmp/hang.out"
	timeout 120 java -cp "$tmp/classes" LoadClient partial "$port" 100000 "$1" hang >"$tmp/hang.out" &
	clients+=($!)
	wait_for test -s "$tmp/hang.out" && sleep 1
	cat "$tmp/hang.out"
}
kill_clients() {
	local pid
	for pid in "${clients[@]}"; do
		pkill -KILL -P "$pid"
		kill -KILL "$pid"
		wait "$pid"
	done 2>/dev/null
	clients=()
}

# start ENV...: a fresh server with ENV; its pid in $server, its port in $port (empty: it never
# said it listened within 30 s)
start() {
	rm -f "$tmp/port" "$tmp/hold" "$tmp/hold.ready"
	echo v1 >"$tmp/settings"
	# (a background job of a script starts with SIGINT and SIGQUIT ignored, as may the script
	# itself, and the JVM keeps an ignored SIGINT ignored)
	env --default-signal=INT,QUIT "$@" java -cp "$tmp/classes" LegacyServer "$tmp/port" \
		"$tmp/settings" >"$tmp/server.out" 2>"$tmp/server.err" &
	server=$!
	port=''
	for ((n = 0; n < 300; n++)); do
		[ -s "$tmp/port" ] && port=$(cat "$tmp/port") && return
		sleep 0.1
	done
}

# stop SIGNAL: sends it, waits at most 20 s for the server to end; prints its exit status
# (or that it hung, then kills it)
stop() {
	kill -"$1" "$server" 2>/dev/null
	if ! timeout 20 tail --pid="$server" -f /dev/null; then
		kill -KILL "$server" 2>/dev/null
		wait "$server" 2>/dev/null
		echo "SIG$1: still running after 20 s"
	else
		wait "$server" 2>/dev/null
		echo "SIG$1: exit status $?"
	fi
	server=''
}

# wait_for TEST...: at most 60 s for the command TEST (test -e FILE, say) to succeed
wait_for() {
	for ((n = 0; n < 600; n++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# threads_listed TOOL...: whether what TOOL prints names every held connection thread
threads_listed() {
	local listed
	listed=$(timeout 30 "$@" 2>&1 | grep -c '^"conn-')
	[ "$listed" -ge "$conns" ] && echo "$1: every connection thread listed" ||
		echo "$1: $listed connection threads listed (status ${PIPESTATUS[0]})"
}

# scenarios: what one server run gives, on stdout
scenarios() {
	local n held
	echo "== $conns connections, held while the JVM is inspected"
	client load "$port" "$conns" "$bytes" "$tmp/hold" >"$tmp/load.out" 2>&1 &
	held=$!
	clients=("$held")
	if wait_for test -e "$tmp/hold.ready"; then
		threads=$(awk '/^Threads:/ {print $2}' "/proc/$server/status" 2>/dev/null)
		client cmd "$port" COUNT
		threads_listed jcmd "$server" Thread.print
		threads_listed jstack "$server"
		kill -QUIT "$server"
		for ((n = 1; n <= 4; n++)); do
			client cmd "$port" "ALLOC 64" >"$tmp/alloc.$n" 2>&1 &
			clients+=($!)
		done
		client cmd "$port" GC
		wait "${clients[@]:1}"
		cat "$tmp"/alloc.*
	else
		echo "the $conns connections never all had their answers"
	fi
	touch "$tmp/hold"
	wait "$held"
	echo "client status $?"
	clients=()
	cat "$tmp/load.out"
	sleep 0.5
	grep -c '^Full thread dump' "$tmp/server.out" | sed 's/^/SIGQUIT thread dumps on stdout: /'
	echo "== hand-offs, sleep, interrupts, a read timeout, child processes, a socket closed under its reader"
	client pairs "$port" 100
	client cmd "$port" "SLEEP 100" INTERRUPT "TIMEOUT 300" "ALLOC 16" GC "EXEC 100000"
	for ((n = 1; n <= 4; n++)); do
		client cmd "$port" "EXEC 5000" "SPIN 300000" "DEEP 3" "EXEC 5" >"$tmp/exec.$n" 2>&1 &
		clients+=($!)
	done
	wait "${clients[@]}"
	clients=()
	cat "$tmp"/exec.*
	client cmd "$port" "HOLD x" >"$tmp/hold.out" &
	clients=($!)
	client cmd "$port" "KILL x"
	wait "${clients[@]}"
	clients=()
	cat "$tmp/hold.out"
	echo "== clients closing and killed mid-request"
	client partial "$port" 100000 20 close
	hang_client 20
	kill_clients
	client cmd "$port" "SETTLE 1"
	echo "== SIGHUP, SIGTERM"
	echo v2 >"$tmp/settings"
	kill -HUP "$server"
	sleep 0.5
	client cmd "$port" COUNT
	stop TERM
	grep -v '^Full thread dump' "$tmp/server.out" | grep -E '^(reload|shutdown hook)'
	sed -E 's/conn-[0-9]+/conn-N/' "$tmp/server.err" | sort | uniq -c
}

# fast_stop ENV...: a second server, SIGINT while 300 connections are mid-request
fast_stop() {
	echo "== SIGINT with 300 connections mid-request"
	start "$@"
	if [ -z "$port" ]; then
		stop KILL >/dev/null
		echo "the second server never listened"
		return
	fi
	hang_client 300
	stop INT
	kill_clients
	grep -E '^shutdown hook' "$tmp/server.out"
}

# run LABEL ENV...: both servers with ENV; the result in $tmp/LABEL
run() {
	local label=$1 t0 secs
	shift
	t0=$(date +%s)
	threads=
	start "$@"
	if [ -z "$port" ]; then
		stop KILL >/dev/null
		echo "FAIL: $label: the server never listened: $(tail -n 1 "$tmp/server.err")"
		failed=$((failed + 1))
		return
	fi
	{
		scenarios
		fast_stop "$@"
	} >"$tmp/$label" 2>&1
	secs=$(($(date +%s) - t0))
	if [ "$label" = native ]; then
		if grep -q 'WRONG\|error\|still running\|never\|listed (status' "$tmp/native"; then
			echo "FAIL: native: $(grep -m 1 'WRONG\|error\|still running\|never\|listed (status' "$tmp/native")"
			failed=$((failed + 1))
		else
			echo "PASS: native (server OS threads with $conns connections: ${threads:-?}; ${secs} s)"
			passed=$((passed + 1))
		fi
	elif ! cmp -s "$tmp/native" "$tmp/$label"; then
		echo "FAIL: $label: differs from the native run: $(diff "$tmp/native" "$tmp/$label" |
			grep '^[<>]' | head -n 4 | tr '\n' ' ')"
		failed=$((failed + 1))
	else
		echo "PASS: $label (every byte and step as natively; server OS threads with $conns connections: ${threads:-?}; ${secs} s)"
		passed=$((passed + 1))
	fi
}

three_runs java
