#!/usr/bin/env bash
# compat-http.sh — three HTTP servers nobody here wrote, natively and under greenpoll with one and
# two carriers: privoxy (a proxy, one thread per connection), tinyproxy 1.11 (a proxy, one thread
# per connection, run as the daemon it forks) and Apache httpd 2.4 (daemonized, mpm_worker:
# threads in child processes with a listener thread each; then once with mpm_prefork). The
# proxies fetch from tests/fixtures/http_server, run natively, over a directory of files of
# 1 byte to 8 MiB; Apache serves that directory itself. For each server and run:
#   parallel  12 curl clients at once, each fetching every file over one kept-alive connection
#   load      ab (1000 requests, 50 at a time), and for Apache wrk (40 connections, 3 s)
#   killed    clients killed mid-download, a request cut in half, a client that never reads
#             what it asked for; then 4 clients fetch every file again
#   signals   Apache: -k graceful (SIGUSR1) and -k graceful-stop (SIGWINCH) while 6 clients
#             download 8 MiB at 2 MiB/s, then -k start and -k stop (SIGTERM) the same way;
#             privoxy: SIGHUP (reopens its log) then SIGTERM while clients download;
#             tinyproxy: SIGUSR1 (reloads its config) and SIGHUP then SIGTERM, the same way
# Every body's sha256 is checked against its file; each scenario's transcript (status codes,
# sizes, connections used, which checks held, how the server exited) must be byte for byte the
# native run's. Every step is bounded by timeout; a stop must end the server within its bound.
# Prints one PASS or FAIL line per scenario and run and "compat-http: N passed, N failed"; exits
# non-zero on a failure.
#   scripts/compat-http.sh [BUILD]     (make compat: installs privoxy, tinyproxy, apache2 and
#                                       apache2-utils when missing)
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
# shellcheck source=scripts/compat-lib.sh
. scripts/compat-lib.sh "${1:-build}"
origin_server=$(readlink -f -- "${1:-build}")/fixtures/http_server
# every process a run starts writes its pid here; the trap ends those and their process groups
cleanup() {
	local f pid
	for f in "$tmp"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null)
		[ -n "$pid" ] || continue
		kill -9 -- "-$pid" "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

apache2=$(command -v apache2 || echo /usr/sbin/apache2)
privoxy=$(command -v privoxy || echo /usr/sbin/privoxy)
tinyproxy=$(command -v tinyproxy || echo /usr/bin/tinyproxy)
modules=/usr/lib/apache2/modules
for p in "$apache2" "$privoxy" "$tinyproxy" "$(command -v ab)" "$(command -v curl)" "$origin_server"; do
	if [ ! -x "$p" ]; then
		echo "compat-http: ${p:-ab or curl} missing (scripts/deps.sh compat; make fixtures)"
		exit 2
	fi
done

# the served directory: world-readable, as Apache's children run as nobody when we are root
chmod 755 "$tmp"
mkdir "$tmp/www" "$tmp/c"
sizes=(1 100 4096 65536 1048576 8388608)
sums=()
for s in "${sizes[@]}"; do
	head -c "$s" /dev/urandom >"$tmp/www/f$s"
	sums+=("$(sha256sum <"$tmp/www/f$s" | cut -d' ' -f1)")
done
chmod 644 "$tmp"/www/*
big=${#sizes[@]}
big=$((big - 1))

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

"$origin_server" --root "$tmp/www" --port-file "$tmp/origin.port" >/dev/null 2>&1 &
echo $! >"$tmp/origin.pid"
disown # the trap ends it: no "Killed" from bash then
for ((n = 0; n < 100; n++)); do
	[ -s "$tmp/origin.port" ] && break
	sleep 0.1
done
origin=http://127.0.0.1:$(cat "$tmp/origin.port")

# what a scenario's clients use: $base (URL prefix of the files) and $via (curl's proxy option)
base=''
via=()

# body_ok FILE I: whether FILE holds file I's bytes
body_ok() { [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "${sums[$2]}" ]; }

# fetch ID: one curl fetching every file in turn (one connection while the server keeps it
# alive); $tmp/c/ID gets a line per file: status code, size, new connections, body right or not
fetch() {
	local i args=() out=$tmp/c/$1
	for i in "${!sizes[@]}"; do
		args+=(-o "$out.$i" "$base/f${sizes[$i]}")
	done
	timeout 60 curl -s "${via[@]}" -w '%{http_code} %{size_download} %{num_connects}\n' \
		"${args[@]}" >"$out.w" 2>/dev/null
	echo "curl exit $?" >"$out"
	for i in "${!sizes[@]}"; do
		if body_ok "$out.$i" "$i"; then
			echo "$(sed -n "$((i + 1))p" "$out.w") body ok" >>"$out"
		else
			echo "$(sed -n "$((i + 1))p" "$out.w") body WRONG (file ${sizes[$i]})" >>"$out"
		fi
	done
}

# fetch_many N: N fetch clients at once; their lines in $transcript, a wrong one in $problem
fetch_many() {
	local n pids=()
	for ((n = 1; n <= $1; n++)); do
		fetch "$n" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for ((n = 1; n <= $1; n++)); do
		cat "$tmp/c/$n" >>"$transcript"
		if grep -q WRONG "$tmp/c/$n" || ! grep -q '^curl exit 0$' "$tmp/c/$n"; then
			problem="client $n: $(grep -v 'body ok' "$tmp/c/$n" | tr '\n' ' ')"
		fi
	done
}

# slow_start N: N clients download the 8 MiB file at 2 MiB/s (half a second in, the server is
# still writing); slow_end collects them: each is
# complete and right, or (when $1 is "may_cut") cut short by the server going away, never a
# complete download with wrong bytes
slow=()
slow_start() {
	local n
	slow=()
	for ((n = 1; n <= $1; n++)); do
		timeout 60 curl -s "${via[@]}" --limit-rate 2M -o "$tmp/c/slow.$n" "$base/f${sizes[$big]}" &
		slow+=($!)
	done
	sleep 0.5
}

slow_end() {
	local n status complete=0
	for n in "${!slow[@]}"; do
		wait "${slow[$n]}"
		status=$?
		if [ "$status" -eq 0 ] && body_ok "$tmp/c/slow.$((n + 1))" "$big"; then
			complete=$((complete + 1))
		elif [ "$status" -eq 0 ] || [ "${1-}" != may_cut ]; then
			problem="slow download $((n + 1)): curl exit $status, $(stat -c %s "$tmp/c/slow.$((n + 1))") bytes"
		fi
	done
	[ "${1-}" = may_cut ] || echo "$complete of ${#slow[@]} slow downloads complete and right" >>"$transcript"
}

# wait_serving: until a fetch of the 1-byte file succeeds (10 s)
wait_serving() {
	local n
	for ((n = 0; n < 100; n++)); do
		curl -s -f "${via[@]}" -o /dev/null --max-time 2 "$base/f1" && return 0
		sleep 0.1
	done
	problem="not serving within 10 s"
	return 1
}

# gone PID SECONDS: whether PID ends within SECONDS
gone() { timeout "$2" tail --pid="$1" -f /dev/null; }

# scenario NAME: starts a scenario's transcript; verdict says PASS or FAIL for it: a problem
# found, or a transcript that is not the native run's
scenario() {
	name=$1
	transcript=$tmp/$prog.$name.$mode
	problem=''
	began=$SECONDS
	: >"$transcript"
}

verdict() {
	if [ -n "$problem" ]; then
		echo "FAIL: $prog $label: $name: $problem"
		failed=$((failed + 1))
	elif [ "$mode" != native ] && ! cmp -s "$tmp/$prog.$name.native" "$transcript"; then
		echo "FAIL: $prog $label: $name: differs from the native run: $(diff "$tmp/$prog.$name.native" "$transcript" | grep '^[<>]' | head -2 | tr '\n' ' ')"
		failed=$((failed + 1))
	else
		echo "PASS: $prog $label: $name ($(wc -l <"$transcript") transcript lines as natively, $((SECONDS - began)) s)"
		passed=$((passed + 1))
	fi
}

# ab_summary ARGS...: ab's counts of complete, failed and non-2xx requests
ab_summary() {
	timeout 120 ab -q "$@" >"$tmp/ab.out" 2>&1
	echo "ab exit $? $(grep -E '^(Complete|Failed|Non-2xx)' "$tmp/ab.out" | tr -s ' ' | tr '\n' ' ')"
}

# the scenarios every server runs: parallel, load, killed
common_scenarios() {
	local n pids=() ab_target=("$base/f4096") line host
	scenario parallel
	fetch_many 12
	verdict

	scenario load
	[ ${#via[@]} -eq 0 ] || ab_target=(-X "${via[1]}" "$base/f4096")
	line=$(ab_summary -n 1000 -c 50 -k "${ab_target[@]}")
	echo "$line" >>"$transcript"
	grep -q '^ab exit 0 Complete requests: 1000 Failed requests: 0 $' <<<"$line" || problem=$line
	if [ ${#via[@]} -eq 0 ] && command -v wrk >/dev/null; then
		timeout 30 wrk -t2 -c40 -d3s --timeout 10s "$base/f65536" >"$tmp/wrk.out" 2>&1
		line="wrk exit $? $(grep -cE 'Socket errors|Non-2xx' "$tmp/wrk.out") error lines"
		echo "$line" >>"$transcript"
		[ "$line" = "wrk exit 0 0 error lines" ] || problem="$line: $(grep -E 'Socket errors|Non-2xx' "$tmp/wrk.out")"
	fi
	verdict

	scenario killed
	host=${via[1]:-${base#http://}}
	host=${host%%/*}
	# four clients killed (SIGKILL) a second into their download
	for ((n = 1; n <= 4; n++)); do
		(timeout -s KILL 1 curl -s "${via[@]}" --limit-rate 200K -o /dev/null "$base/f${sizes[$big]}"; exit 0) 2>/dev/null &
		pids+=($!)
	done
	# a request cut in half, and a client that asks for 8 MiB and closes without reading
	timeout 5 bash -c "exec 3<>/dev/tcp/${host/:/\/}; printf 'GET $base/f100 HTTP/1.1\r\nHo' >&3" 2>/dev/null
	timeout 5 bash -c "exec 3<>/dev/tcp/${host/:/\/}; printf 'GET $base/f${sizes[$big]} HTTP/1.1\r\nHost: x\r\n\r\n' >&3; sleep 0.2" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	fetch_many 4
	verdict
}

# ---- Apache httpd ----
# apache_conf MPM PORT: a minimal configuration of our own, all state under $tmp/apache
apache_conf() {
	mkdir -p "$tmp/apache"
	cat >"$tmp/apache/httpd.conf" <<-EOF
		ServerRoot $tmp/apache
		LoadModule mpm_$1_module $modules/mod_mpm_$1.so
		LoadModule authz_core_module $modules/mod_authz_core.so
		LoadModule mime_module $modules/mod_mime.so
		TypesConfig /etc/mime.types
		ServerName 127.0.0.1
		Listen 127.0.0.1:$2
		PidFile $tmp/apache.pid
		DefaultRuntimeDir $tmp/apache
		Mutex file:$tmp/apache
		ErrorLog $tmp/apache/error.log
		LogLevel notice
		DocumentRoot $tmp/www
		<Directory $tmp/www>
		    Require all granted
		</Directory>
		KeepAlive On
		MaxKeepAliveRequests 100
		GracefulShutdownTimeout 30
		<IfModule mpm_worker_module>
		    StartServers 2
		    ServerLimit 4
		    ThreadsPerChild 25
		    MaxRequestWorkers 100
		    MinSpareThreads 25
		    MaxSpareThreads 75
		</IfModule>
		<IfModule mpm_prefork_module>
		    StartServers 50
		    MinSpareServers 10
		    MaxSpareServers 60
		    MaxRequestWorkers 100
		</IfModule>
	EOF
	if ((EUID == 0)); then
		printf 'User nobody\nGroup nogroup\n' >>"$tmp/apache/httpd.conf"
	fi
}

# apachectl ARG...: apache2 with our configuration and the run's environment
apachectl() { timeout 30 env "${run_env[@]}" "$apache2" -f "$tmp/apache/httpd.conf" "$@" >>"$tmp/apache/ctl.out" 2>&1; }

# apache_start: -k start, then until it serves
apache_start() {
	rm -f "$tmp/apache.pid"
	if apachectl -k start; then
		wait_serving
	else
		problem="-k start failed: $(tail -n 1 "$tmp/apache/ctl.out")"
	fi
}

apache_run() {
	local mpm=$1 port master
	prog=apache-$mpm
	port=$(free_port)
	apache_conf "$mpm" "$port"
	base=http://127.0.0.1:$port
	via=()
	scenario start
	apache_start
	verdict
	[ -z "$problem" ] || return
	common_scenarios

	scenario signals
	master=$(cat "$tmp/apache.pid")
	slow_start 6
	apachectl -k graceful || problem="-k graceful failed"
	wait_serving && echo "serving after -k graceful" >>"$transcript"
	slow_end
	slow_start 6
	apachectl -k graceful-stop || problem="-k graceful-stop failed"
	if gone "$master" 40; then
		echo "ended within 40 s of -k graceful-stop" >>"$transcript"
	else
		problem="still running 40 s after -k graceful-stop"
	fi
	slow_end
	apache_start
	master=$(cat "$tmp/apache.pid")
	slow_start 6
	apachectl -k stop || problem="-k stop failed"
	if gone "$master" 15; then
		echo "ended within 15 s of -k stop" >>"$transcript"
	else
		problem="still running 15 s after -k stop"
	fi
	slow_end may_cut
	grep -E 'AH00(294|295|296|297|299)' "$tmp/apache/error.log" | sed 's/.*\] //' >>"$transcript"
	kill -9 -- "-$master" 2>/dev/null
	verdict
	rm -rf "$tmp/apache"
}

# ---- the proxies ----
# proxy_prepare NAME: $prog, a free $port and the directory $tmp/NAME for its configuration
proxy_prepare() {
	prog=$1
	port=$(free_port)
	mkdir -p "$tmp/$prog"
}

# proxy_start CMD...: the proxy at 127.0.0.1:$port, started by CMD (which daemonizes and writes
# $tmp/$prog.pid) with the run's environment, until it serves (the "start" scenario); then its
# $pid and the common scenarios. Fails if it did not start.
proxy_start() {
	base=$origin
	via=(-x "127.0.0.1:$port")
	scenario start
	rm -f "$tmp/$prog.pid"
	if timeout 10 env "${run_env[@]}" "$@" >"$tmp/$prog/out" 2>&1; then
		wait_serving
	else
		problem="did not start: $(tail -n 1 "$tmp/$prog/out")"
	fi
	verdict
	[ -z "$problem" ] || return 1
	pid=$(cat "$tmp/$prog.pid")
	common_scenarios
}

# proxy_stop: SIGTERM while 6 clients download; it must end within 10 s
proxy_stop() {
	slow_start 6
	kill -TERM "$pid"
	if gone "$pid" 10; then
		echo "ended within 10 s of SIGTERM" >>"$transcript"
	else
		problem="still running 10 s after SIGTERM"
		kill -9 -- "-$pid" "$pid" 2>/dev/null
	fi
	slow_end may_cut
	verdict
	rm -rf "${tmp:?}/$prog"
}

# ---- privoxy, daemonized: SIGHUP reopens the log file, SIGTERM ends it ----
privoxy_run() {
	proxy_prepare privoxy
	printf 'confdir %s\nlogdir %s\nlogfile log\nlisten-address 127.0.0.1:%s\ndebug 1\n' \
		"$tmp/privoxy" "$tmp/privoxy" "$port" >"$tmp/privoxy/config"
	proxy_start "$privoxy" --pidfile "$tmp/privoxy.pid" "$tmp/privoxy/config" || return

	scenario signals
	slow_start 6
	mv "$tmp/privoxy/log" "$tmp/privoxy/log.old"
	kill -HUP "$pid"
	wait_serving && echo "serving after SIGHUP" >>"$transcript"
	[ -s "$tmp/privoxy/log" ] || problem="no new log file after SIGHUP"
	slow_end
	proxy_stop
}

# ---- tinyproxy, daemonized: SIGUSR1 reloads its configuration, SIGHUP collects garbage ----
tinyproxy_run() {
	proxy_prepare tinyproxy
	printf 'Port %s\nListen 127.0.0.1\nTimeout 60\nMaxClients 200\nLogFile "%s"\nPidFile "%s"\nAllow 127.0.0.1\n' \
		"$port" "$tmp/tinyproxy/log" "$tmp/tinyproxy.pid" >"$tmp/tinyproxy/conf"
	proxy_start "$tinyproxy" -c "$tmp/tinyproxy/conf" || return

	scenario signals
	slow_start 6
	kill -USR1 "$pid"
	kill -HUP "$pid"
	wait_serving && echo "serving after SIGUSR1 and SIGHUP" >>"$transcript"
	echo "config read $(grep -c 'Reloading config file finished' "$tmp/tinyproxy/log") times" >>"$transcript"
	# natively too, a reload sometimes cuts a download in flight short (seen: curl exit 18)
	slow_end may_cut
	proxy_stop
}

# run LABEL ENV...: every server with ENV
run() {
	label=$1
	shift
	run_env=("$@")
	mode=${label// /_}
	privoxy_run
	tinyproxy_run
	apache_run worker
	apache_run prefork
}

three_runs http
