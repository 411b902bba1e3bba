#!/usr/bin/env bash
# Integration tests of the greenpoll command (BUILD_DIR/greenpoll): `run` (the launcher: its
# options, the library it preloads, its statuses), the control-channel subcommands (dump,
# stats, tasks, report) against BUILD_DIR/fixtures/ctl_fake_server, a process serving canned
# answers on its own pid's socket (so they need no library), and their failures: each one line
# on stderr with its own exit status.
#
#   usage: tests/cli-integration.sh [BUILD_DIR]     (from the repo root, after `make all fixtures`)
#
# Prints one line per case, "PASS: <case>" or "FAIL: <case>: <reason>", then
# "cli-integration: N passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if it is
# set. Exits non-zero if any case failed. Channel directories live under a scratch
# XDG_RUNTIME_DIR, except in the case that tests the /tmp/greenpoll-UID fallback.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

use_build "${1:-}"
fake=$fixtures/ctl_fake_server

tmp=$(mktemp -d)
fake_pid=
trap 'stop_fake; rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/xdg
mkdir -m 0700 "$XDG_RUNTIME_DIR"

# The launcher: runs the command shimmed with its options; bad usage is one line and status 2.
launcher=$build/greenpoll
launcher_ok() { # label, expected stdout, args...
	local label="launcher ($1)" want=$2
	shift 2
	run -- "$launcher" "$@"
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	elif [ "$(cat "$tmp/out")" != "$want" ]; then
		fail "$label" "stdout is '$(head -c 200 "$tmp/out")', want '$want'"
	else
		pass "$label"
	fi
}
launcher_bad() { # label, args...
	local label="launcher rejects $1"
	shift
	run -- "$launcher" "$@"
	if [ "$status" -ne 2 ]; then
		fail "$label" "want exit status 2, got $(reason)"
	elif [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q '^greenpoll: ' "$tmp/err"; then
		fail "$label" "want one stderr line starting 'greenpoll: ', got: $(head -c 200 "$tmp/err")"
	else
		pass "$label"
	fi
}

# expect_failure LABEL STATUS STDERR_LINE: the last run exited with STATUS, printed nothing on
# stdout and exactly STDERR_LINE on stderr (a pattern for grep -x when it starts with '^').
expect_failure() {
	local label=$1 want_status=$2 want=$3
	if [ "$status" -ne "$want_status" ]; then
		fail "$label" "want exit status $want_status, got $(reason)"
	elif [ -s "$tmp/out" ]; then
		fail "$label" "stdout is not empty: $(head -c 200 "$tmp/out")"
	elif [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
		fail "$label" "want one line on stderr, got: $(head -c 300 "$tmp/err")"
	elif [[ $want == ^* ]] && ! grep -qx -- "${want#^}" "$tmp/err"; then
		fail "$label" "stderr is '$(cat "$tmp/err")', want it to match '${want#^}'"
	elif [[ $want != ^* ]] && [ "$(cat "$tmp/err")" != "$want" ]; then
		fail "$label" "stderr is '$(cat "$tmp/err")', want '$want'"
	else
		pass "$label"
	fi
}

# expect_output LABEL WANT: the last run succeeded with exactly WANT on stdout (plus a final
# newline) and nothing on stderr.
expect_output() {
	local label=$1 want=$2
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	elif [ "$(cat "$tmp/out")" != "$want" ] || [ "$(tail -c 1 "$tmp/out" | od -An -c | tr -d ' ')" != '\n' ]; then
		fail "$label" "stdout differs: $(diff <(printf '%s\n' "$want") "$tmp/out" | grep '^[<>]' | head -n 4 | tr '\n' ' ')"
	elif [ -s "$tmp/err" ]; then
		fail "$label" "stderr is not empty: $(head -c 200 "$tmp/err")"
	else
		pass "$label"
	fi
}

# start_fake MODE [ENV_ASSIGNMENT...]: starts the fake server in MODE (with those variables) and
# waits until it listens; its pid goes to $fake_pid (empty if it did not start).
start_fake() {
	local mode=$1 i
	shift
	env "$@" "$fake" "$mode" >"$tmp/fake.out" 2>"$tmp/fake.err" &
	fake_pid=$!
	for ((i = 0; i < 200; i++)); do
		grep -q "^ready $fake_pid\$" "$tmp/fake.out" && return
		sleep 0.05
	done
	echo "(ctl_fake_server $mode did not start: $(head -c 200 "$tmp/fake.err"))"
	stop_fake
}

stop_fake() {
	[ -n "$fake_pid" ] || return 0
	kill "$fake_pid" 2>/dev/null
	wait "$fake_pid" 2>/dev/null
	fake_pid=
}

# wait_for FILE PATTERN COUNT: waits until FILE has COUNT lines matching PATTERN, at most 15 s
# (the runs it watches have their own limits); false if they never come.
wait_for() {
	local i n
	for ((i = 0; i < 300; i++)); do
		n=$(grep -a -c -- "$2" "$1" 2>/dev/null)
		[ "${n:-0}" -ge "$3" ] && return 0
		sleep 0.05
	done
	return 1
}

# A pid no process has: beyond the kernel's pid_max.
no_pid=$(($(cat /proc/sys/kernel/pid_max) + 1))

if [ ! -x "$launcher" ]; then
	fail "launcher" "$launcher not built (make)"
else
	launcher_ok "--version" "greenpoll 0.1.0" --version
	launcher_ok "run --procs 1 --stack 64K" hello run --procs 1 --stack 64K -- "$fixtures/hello"
	# the library goes into the child's LD_PRELOAD, ahead of what was there
	# shellcheck disable=SC2016 # the child's shell expands it
	run LD_PRELOAD=/nonexistent.so -- "$launcher" run -- sh -c 'echo "$LD_PRELOAD"'
	if [ "$(cat "$tmp/out")" != "$lib:/nonexistent.so" ]; then
		fail "launcher (LD_PRELOAD)" "child's LD_PRELOAD is '$(cat "$tmp/out")'"
	else
		pass "launcher (LD_PRELOAD)"
	fi
	launcher_ok "--debug" hello run --debug -- "$fixtures/hello"
	if ! grep -q '^greenpoll: started: GREENPOLL_PROCS=' "$tmp/err"; then
		fail "launcher (--debug)" "no 'greenpoll: started' line on stderr"
	fi
	launcher_bad "--procs abc" run --procs abc -- "$fixtures/hello"
	launcher_bad "--procs 0" run --procs 0 -- "$fixtures/hello"
	launcher_bad "--stack 12Q" run --stack 12Q -- "$fixtures/hello"
	launcher_bad "an unknown option" run --fast -- "$fixtures/hello"
	launcher_bad "a missing --" run "$fixtures/hello"
	launcher_bad "a missing command" run --

	# the values the options set, as the command sees them, --name=VALUE forms included
	# shellcheck disable=SC2016 # the child's shell expands them
	show='echo "$GREENPOLL_PROCS $GREENPOLL_STACK $GREENPOLL_DEBUG $GREENPOLL_REPORT"'
	launcher_ok "--procs=0004 --stack=64k --report=FILE" "4 64K  $PWD/r.txt" \
		run --procs=0004 --stack=64k --report=r.txt -- sh -c "$show"
	launcher_ok "--report /abs --debug" "  1 /abs/r.txt" run --report /abs/r.txt --debug -- sh -c "$show"
	launcher_bad "--procs 1025" run --procs 1025 -- "$fixtures/hello"
	launcher_bad "--stack 0K" run --stack 0K -- "$fixtures/hello"
	launcher_bad "an empty --report" run --report= -- "$fixtures/hello"
	launcher_bad "--report without a value" run --report -- "$fixtures/hello"
	launcher_bad "no command at all" ""
	launcher_bad "an unknown command" frobnicate 1
	run -- "$launcher" run -- "$tmp/no-such-program"
	expect_failure "launcher (a missing command: 127)" 127 \
		"greenpoll: command not found: $tmp/no-such-program"
	run -- "$launcher" run -- no-such-program-in-path
	expect_failure "launcher (a command not in PATH: 127)" 127 \
		"greenpoll: command not found: no-such-program-in-path"
	run -- "$launcher" run -- /etc/passwd
	expect_failure "launcher (not executable: 126)" 126 "greenpoll: not an executable file: /etc/passwd"
	run -- "$launcher" run -- sh -c 'exit 42'
	if [ "$status" -ne 42 ]; then
		fail "launcher (the command's status)" "want 42, got $(reason)"
	else
		pass "launcher (the command's status)"
	fi
fi

# The control-channel subcommands against the fake server.
if [ ! -x "$fake" ]; then
	fail "subcommands" "$fake not built (make fixtures)"
else
	start_fake serve
	pid=$fake_pid
	run -- "$launcher" dump "$pid"
	expect_output "dump (copied whole)" "$(printf '%s\n' \
		'task 101 "worker" parked: read fd 5 (socket 127.0.0.1:5000) for 1.5 s' \
		'  #0 reader+0x12 (fake.c:10)' \
		'task 102 "acceptor" parked: accept fd 3 for 2.0 s' \
		'  #0 acceptor+0x20 (fake.c:20)')"
	run -- "$launcher" dump "$pid" --json
	expect_output "dump --json" '{"tasks": [{"tid": 101}, {"tid": 102}]}'
	run -- "$launcher" stats "$pid"
	expect_output "stats" "$(printf '%s\n' 'tasks.live 3' 'tasks.created 3' 'tasks.exited 0' \
		'parks.net_read 0' 'wakes.normal 0' 'netpoll.polls 0' 'carriers.alive 2' 'carriers.busy_ns 0')"
	run -- "$launcher" stats --json "$pid"
	expect_output "stats --json (options before the pid)" \
		'{"tasks.live": 3, "tasks.created": 13, "tasks.exited": 10, "parks.net_read": 500, "wakes.normal": 500, "netpoll.polls": 200, "carriers.alive": 2, "carriers.busy_ns": 50000000}'
	run -- "$launcher" tasks "$pid"
	expect_output "tasks" "$(printf '%s\t' 101 parked -1 300000000 1500000000 'read fd 5'; echo worker
		printf '%s\t' 102 running 0 100000000 0 -; echo acceptor
		printf '%s\t' 103 runnable -1 0 0 - ; echo -)"
	run -- "$launcher" report "$pid"
	if [ "$status" -ne 0 ] || [ "$(head -n 1 "$tmp/out")" != "2 call sites blocked carriers for 12.5% of the run" ] ||
		[ "$(wc -l <"$tmp/out")" -ne 3 ]; then
		fail "report" "status $status, stdout: $(head -c 200 "$tmp/out")"
	else
		pass "report"
	fi
	run -- "$launcher" report "$pid" --json --timeout 2
	expect_output "report --json --timeout 2" '{"sites": 2}'
	run -- "$launcher" tasks "$pid" --json
	expect_failure "tasks rejects --json" 2 \
		"greenpoll: unknown option '--json' for tasks; see greenpoll --help"
	run -- "$launcher" dump "$pid" "$pid"
	expect_failure "dump rejects two pids" 2 "greenpoll: dump takes one PID, got '$pid' too; see greenpoll --help"
	run -- "$launcher" dump "$pid" --timeout 0
	expect_failure "dump rejects --timeout 0" 2 \
		"greenpoll: --timeout wants seconds from 0.001 to 3600, got '0'; see greenpoll --help"
	run -- "$launcher" dump 12abc
	expect_failure "dump rejects a pid that is not a number" 2 \
		"greenpoll: PID must be a process id (a whole number from 1), got '12abc'; see greenpoll --help"

	# a directory with access for others is not trusted: the command looks no further there
	chmod 0755 "$XDG_RUNTIME_DIR/greenpoll"
	run -- "$launcher" stats "$pid"
	expect_failure "stats refuses a channel directory open to others" 4 \
		"greenpoll: $XDG_RUNTIME_DIR/greenpoll is not a private directory of uid $(id -u) (owner $(id -u), mode 755): not using it"
	chmod 0700 "$XDG_RUNTIME_DIR/greenpoll"
	stop_fake

	# a process whose environment had no XDG_RUNTIME_DIR: found in /tmp/greenpoll-UID
	start_fake serve -u XDG_RUNTIME_DIR
	run -- "$launcher" dump --json "$fake_pid"
	expect_output "dump finds /tmp/greenpoll-UID" '{"tasks": [{"tid": 101}, {"tid": 102}]}'
	stop_fake

	run -- "$launcher" dump "$pid"
	expect_failure "dump of a process that ended" 3 "greenpoll: no process $pid"
	run -- "$launcher" stats "$no_pid"
	expect_failure "stats of no process" 3 "greenpoll: no process $no_pid"
	sleep 30 &
	sleeper=$!
	run -- "$launcher" dump "$sleeper"
	expect_failure "dump of a process not under greenpoll" 4 \
		"greenpoll: process $sleeper is not running under greenpoll (or its control channel is off: GREENPOLL_CONTROL)"
	kill "$sleeper"
	wait "$sleeper" 2>/dev/null
	if [ "$(id -u)" -eq 0 ]; then
		run -- setpriv --reuid=65534 --regid=65534 --clear-groups "$launcher" dump 1
	else
		run -- "$launcher" dump 1
	fi
	expect_failure "dump of another user's process" 5 "greenpoll: process 1 belongs to another user"

	start_fake refuse
	run -- "$launcher" report "$fake_pid"
	expect_failure "report refused" 6 "greenpoll: process $fake_pid: error: busy"
	stop_fake

	run -- "$launcher" top "$no_pid" --once
	expect_failure "top of no process" 3 "greenpoll: no process $no_pid"
	run -- "$launcher" top 1 -n 0
	expect_failure "top rejects -n 0" 2 \
		"greenpoll: -n wants a count of frames 1..1000000, got '0'; see greenpoll --help"

	start_fake mute
	run --limit 5 -- "$launcher" stats "$fake_pid" --timeout 0.5
	expect_failure "stats of a process that does not answer (bounded)" 7 \
		"greenpoll: process $fake_pid did not answer 'stats' within 500 ms"
	stop_fake
fi

# top_frames_ok LABEL FILE FRAMES: FILE holds FRAMES frames of `top` on the fake server: each
# with the header's figures, tasks.live as the first counter, tasks.created gaining 10 per
# request (a positive rate no greater than 10 per 0.2 s), carriers.busy_ns's rate in percent,
# and the tasks by CPU: 101 (0.3 s per refresh), 102 (0.1 s), 103.
top_frames_ok() {
	local label=$1 file=$2 frames=$3 got
	got=$(grep -c '^BUSIEST TASKS' "$file")
	if [ "$got" -ne "$frames" ]; then
		fail "$label" "$got frames, want $frames: $(head -c 300 "$file")"
	elif [ "$(grep -c '^tasks 3  carriers 2  every 0\.2 s' "$file")" -ne "$frames" ]; then
		fail "$label" "no header 'tasks 3  carriers 2  every 0.2 s' in each frame"
	elif [ "$(grep -A1 '^COUNTER' "$file" | grep -c '^tasks\.live  *3  *0\.0$')" -ne "$frames" ]; then
		fail "$label" "tasks.live 3 (0.0 per second) is not the first counter of each frame"
	elif ! awk '$1 == "tasks.created" { if (!($3 > 0 && $3 <= 50)) bad = 1; n++ }
		END { exit bad || n == 0 }' "$file"; then
		fail "$label" "tasks.created's rate is not in (0, 50]: $(grep '^tasks\.created' "$file" | tr '\n' ' ')"
	elif [ "$(grep -c '^carriers\.busy_ns  *[0-9]*  *[0-9.]*%$' "$file")" -ne "$frames" ]; then
		fail "$label" "carriers.busy_ns's rate is not in percent: $(grep '^carriers\.busy_ns' "$file" | head -n 1)"
	elif [ "$(grep -A4 '^BUSIEST' "$file" | awk '/^ +[0-9]+ /{printf "%s,", $1}')" != \
		"$(for ((i = 0; i < frames; i++)); do printf '101,102,103,'; done)" ]; then
		fail "$label" "busiest tasks not in the order 101, 102, 103: $(grep -A4 '^BUSIEST' "$file" | head -n 5 | tr '\n' ' ')"
	elif ! grep -q '^ *101 worker .* parked .*read fd 5 (1\.5 s)' "$file"; then
		fail "$label" "task 101 does not show as the worker parked in 'read fd 5 (1.5 s)'"
	elif ! grep -A1 '^CALLS THAT BLOCK CARRIERS' "$file" | grep -q '^2 call sites blocked carriers for 12.5% of the run'; then
		fail "$label" "the report's first line is not under CALLS THAT BLOCK CARRIERS"
	else
		return 0
	fi
	return 1
}

# terminal_restored LABEL FILE: the `stty -a` in FILE (run after top in the same terminal) shows
# canonical mode and echo back on.
terminal_restored() {
	if ! grep -q ' icanon' "$2" || ! grep -q ' echo ' "$2" || grep -q -- '-icanon\| -echo ' "$2"; then
		fail "$1" "the terminal is not restored: $(grep -o -- ' -\?icanon\| -\?echo ' "$2" | tr '\n' ' ')"
		return 1
	fi
}

# top: plain frames when asked for a count (and stdout is not a terminal), then in a
# pseudo-terminal (script(1)): the screen mode, q, SIGTERM, the process ending.
if [ -x "$fake" ] && [ -x "$launcher" ]; then
	start_fake serve
	run --limit 10 -- "$launcher" top "$fake_pid" -n 2 --interval 0.2
	if [ "$status" -ne 0 ]; then
		fail "top -n 2 (plain)" "$(reason)"
	elif grep -q $'\033' "$tmp/out"; then
		fail "top -n 2 (plain)" "escape codes in plain frames"
	elif top_frames_ok "top -n 2 (plain)" "$tmp/out" 2; then
		pass "top -n 2 (plain)"
	fi
	run --limit 10 -- "$launcher" top "$fake_pid" --once --interval 0.2
	if [ "$status" -ne 0 ]; then
		fail "top --once" "$(reason)"
	elif top_frames_ok "top --once" "$tmp/out" 1; then
		pass "top --once"
	fi

	# q quits at once (pressed once 2 frames are on the screen); the terminal is as it was.
	# (Each run in a terminal starts with no $tmp/out, so what waits for its output cannot
	# see the last run's.)
	rm -f "$tmp/out"
	{ wait_for "$tmp/out" '^BUSIEST TASKS' 2; printf q; } |
		run --limit 20 -- script -qfec "$launcher top $fake_pid --interval 0.2; echo status=\$?; stty -a" /dev/null
	if [ "$status" -ne 0 ] || ! grep -q '^status=0' "$tmp/out"; then
		fail "top in a terminal, q" "$(reason), $(grep -a -o 'status=[0-9]*' "$tmp/out")"
	elif ! grep -q $'\033\[H\033\[2J' "$tmp/out"; then
		fail "top in a terminal, q" "no clear-screen escape in its output"
	elif [ "$(grep -c '^BUSIEST TASKS' "$tmp/out")" -lt 2 ]; then
		fail "top in a terminal, q" "fewer than 2 frames before q"
	elif terminal_restored "top in a terminal, q" "$tmp/out"; then
		tr -d '\r' <"$tmp/out" | sed 's/\x1b\[H\x1b\[2J//' >"$tmp/screen"
		top_frames_ok "top in a terminal, q" "$tmp/screen" "$(grep -c '^BUSIEST TASKS' "$tmp/out")" &&
			pass "top in a terminal, q"
	fi

	# a small terminal: every frame fits it (rows less one, columns), counters included
	rm -f "$tmp/out"
	{ wait_for "$tmp/out" 'BUSIEST TASKS' 3; printf q; } |
		run --limit 20 -- script -qfec "stty rows 20 cols 50; $launcher top $fake_pid --interval 0.2" /dev/null
	tr -d '\r' <"$tmp/out" | awk 'BEGIN { RS = "\033\\[H\033\\[2J" }
		NR > 2 { n = split($0, lines, "\n"); if ($0 ~ /\n$/) n--
			for (i = 1; i <= n; i++) if (length(lines[i]) > 50) wide++
			if (n > 19) long++
			if ($0 ~ /\ntasks\.live  *3/ && $0 ~ /\nBUSIEST TASKS/) good++ }
		END { printf "%d %d %d\n", NR - 2, long + wide, good }' >"$tmp/small"
	read -r frames bad good <"$tmp/small"
	if [ "$status" -ne 0 ] || [ "$frames" -lt 2 ]; then
		fail "top in a 20x50 terminal" "$(reason), $frames frames"
	elif [ "$bad" -ne 0 ] || [ "$good" -ne "$frames" ]; then
		fail "top in a 20x50 terminal" "$bad lines too wide or frames too long, $good of $frames frames with counters and tasks"
	else
		pass "top in a 20x50 terminal"
	fi

	# stopped and continued (the shell's modes meanwhile), top's mode is back; SIGTERM: the
	# terminal is restored, the status says the signal. In the terminal, a script: top in the
	# background (reading the terminal), stopped once it set its mode, the terminal made sane,
	# top continued.
	cat >"$tmp/stop_continue.sh" <<'EOF'
"$1" top "$2" --interval 0.2 </dev/tty &
top=$!
in_top_mode() {
	i=0
	until stty -a | grep -q -- ' -icanon'; do
		i=$((i + 1))
		[ "$i" -lt 200 ] || return 1
		sleep 0.05
	done
}
in_top_mode || echo "top never set its mode"
kill -STOP "$top"
stty sane
kill -CONT "$top"
in_top_mode && echo continued
kill "$top"
wait "$top"
echo "status=$?"
stty -a
EOF
	run --limit 30 -- script -qfec "sh $tmp/stop_continue.sh $launcher $fake_pid" /dev/null
	tr -d '\r' <"$tmp/out" | sed -n '/^status=/,$p' >"$tmp/ended"
	if ! grep -q '^continued' "$tmp/out"; then
		fail "top in a terminal, stopped and continued" "not in its mode again within 10 s: $(tr -d '\r' <"$tmp/out" | grep -a 'never' ; reason)"
	else
		pass "top in a terminal, stopped and continued"
	fi
	if ! grep -q '^status=143' "$tmp/out"; then
		fail "top in a terminal, SIGTERM" "want status 143, got: $(grep -a -o 'status=[0-9]*' "$tmp/out"; reason)"
	elif terminal_restored "top in a terminal, SIGTERM" "$tmp/ended"; then
		pass "top in a terminal, SIGTERM"
	fi

	# the process ending (after top's first frame) ends top, with a last line saying so
	rm -f "$tmp/out"
	(wait_for "$tmp/out" '^BUSIEST TASKS' 1; kill "$fake_pid") &
	killer=$!
	run --limit 20 -- script -qfec "$launcher top $fake_pid --interval 0.2; echo status=\$?; stty -a" /dev/null
	wait "$killer"
	if [ "$(tr -d '\r' <"$tmp/out" | sed '/^status=/,$d' | tail -n 1)" != "process $fake_pid exited" ] ||
		! grep -q '^status=0' "$tmp/out"; then
		fail "top in a terminal, the process ends" "no last line 'process $fake_pid exited' and status 0: $(tr -d '\r' <"$tmp/out" | grep -a 'exited\|status=' | tr '\n' ' ')"
	elif terminal_restored "top in a terminal, the process ends" "$tmp/out"; then
		pass "top in a terminal, the process ends"
	fi
	stop_fake

	# plain frames until the process ends
	start_fake serve
	rm -f "$tmp/out"
	(wait_for "$tmp/out" '^BUSIEST TASKS' 2; kill "$fake_pid") &
	killer=$!
	run --limit 20 -- "$launcher" top "$fake_pid" --interval 0.2
	wait "$killer"
	if [ "$status" -ne 0 ] || [ "$(tail -n 1 "$tmp/out")" != "process $fake_pid exited" ]; then
		fail "top (plain) until the process ends" "status $status, last line '$(tail -n 1 "$tmp/out")'"
	else
		pass "top (plain) until the process ends"
	fi
	stop_fake
fi

# make install and uninstall, staged under DESTDIR: the installed command finds the installed
# library by itself; uninstall leaves no file behind.
root=$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/..
stage=$tmp/stage
installed="$stage/usr/bin/greenpoll:755 $stage/usr/lib/libgreenpoll.so:755 $stage/usr/share/man/man1/greenpoll.1:644"
run --limit 120 -- make -s -C "$root" install DESTDIR="$stage" PREFIX=/usr B="$build"
if [ "$status" -ne 0 ]; then
	fail "make install" "$(reason)"
else
	missing=
	for f in $installed; do
		[ "$(stat -c %a "${f%:*}" 2>/dev/null)" = "${f##*:}" ] || missing+=" ${f%:*} (mode ${f##*:})"
	done
	if [ -n "$missing" ]; then
		fail "make install" "not installed:$missing"
	else
		pass "make install"
	fi
	# shellcheck disable=SC2016 # the child's shell expands it
	run -- "$stage/usr/bin/greenpoll" run -- sh -c 'echo "$LD_PRELOAD"'
	expect_output "installed greenpoll preloads the installed library" "$stage/usr/lib/libgreenpoll.so"
	run -- "$stage/usr/bin/greenpoll" run --procs 1 -- "$fixtures/hello"
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/out")" != hello ]; then
		fail "installed greenpoll runs hello" "$(reason), stdout '$(head -c 100 "$tmp/out")'"
	else
		pass "installed greenpoll runs hello"
	fi
fi
run --limit 60 -- make -s -C "$root" uninstall DESTDIR="$stage" PREFIX=/usr B="$build"
if [ "$status" -ne 0 ]; then
	fail "make uninstall" "$(reason)"
elif [ -n "$(find "$stage" ! -type d 2>/dev/null)" ]; then
	fail "make uninstall" "left behind: $(find "$stage" ! -type d | tr '\n' ' ')"
else
	pass "make uninstall"
fi

# a symbolic link to the command (on the PATH, say) finds the library beside the real one
mkdir "$tmp/bin"
ln -s "$launcher" "$tmp/bin/greenpoll"
# shellcheck disable=SC2016 # the child's shell expands it
run -- "$tmp/bin/greenpoll" run -- sh -c 'echo "$LD_PRELOAD"'
expect_output "greenpoll through a symbolic link" "$lib"

# The man page: renders without a warning, and names every setting the library reads (shim/
# config.c), every one README's table lists, and every option of greenpoll --help.
man_page=$root/cli/greenpoll.1
if ! command -v groff >/dev/null; then
	fail "man page" "groff is missing (scripts/deps.sh installs groff-base)"
elif warnings=$(groff -man -Tutf8 -ww -z "$man_page" 2>&1) && [ -z "$warnings" ]; then
	pass "man page renders without warnings"
else
	fail "man page renders without warnings" "$(head -n 3 <<<"$warnings" | tr '\n' ' ')"
fi
# shellcheck disable=SC2016 # README's backquotes, not an expansion
settings=$( (grep -o 'setting("GREENPOLL_[A-Z_]*")' "$root/shim/config.c" | grep -o 'GREENPOLL_[A-Z_]*'
	grep -o '^| `GREENPOLL_[A-Z_]*`' "$root/README.md" | grep -o 'GREENPOLL_[A-Z_]*') | sort -u)
run -- "$launcher" --help
options=$(grep -o -- ' --\?[a-z][a-z-]*' "$tmp/out" | sort -u)
missing=
for name in $settings; do
	grep -q "^\.B $name\$" "$man_page" || missing+=" $name"
done
for opt in $options; do
	grep -qF -- "${opt//-/\\-}" "$man_page" || missing+=" $opt"
done
if [ -z "$settings" ] || [ -z "$options" ]; then
	fail "man page names every setting and option" "found no settings or no options to look for"
elif [ -n "$missing" ]; then
	fail "man page names every setting and option" "missing:$missing"
else
	pass "man page names every setting and option ($(wc -w <<<"$settings") settings, $(wc -w <<<"$options") options)"
fi

report cli-integration
