#!/usr/bin/env bash
# Integration tests of looking inside a running program (issue 12): the library's control
# channel, asked by BUILD_DIR/greenpoll, and the blocking report.
#  - obs_waits (threads parked in read, accept, a mutex, a condvar, a sleep, a read of stdin,
#    main in a join, and one computing): natively and under the shim, the same stdout; under
#    the shim, `greenpoll dump PID` names each thread's wait (fd, direction, peer or listening
#    address, the mutex's and condvar's addresses the fixture printed, the join's target) and
#    shows the fixture's function of each wait in that thread's backtrace, and the computing
#    thread's function in its sampled backtrace, with the file:line of the read, accept and
#    mutex lock (lines marked in the source, found with grep); `dump --json` is one balanced
#    JSON object naming every thread, its frames with "file" and "line"; `tasks` has a line
#    per thread; `stats` counts 8 live; a copy stripped of debug information (objcopy
#    --strip-debug) dumps its frames by function+offset and object, no file:line, no error; nor
#    does a copy replaced by another file (a rebuild) after it started;
#  - obs_accepts 20: its first open gives fd 3 (greenpoll holds no low number, not even
#    reserved by a waiting accept); `stats` says net.accepts 20, tasks.created 40, tasks.exited 40, after the
#    program closed every fd with a raw close_range; its fork child is dumped under its own
#    pid; both socket files are gone once they ended; run by a shell's exec (same pid), it is
#    dumped through the socket its image made in place of the shell's;
#  - obs_fork_compute: its fork child computes and never waits; `greenpoll dump CHILD` shows
#    it running, in child_computes (the child made its channel after some CPU time);
#  - obs_lost_channel closes greenpoll's listening socket by a raw close system call: the next
#    client is refused, the channel is made again with one line on stderr, the one after is
#    answered;
#  - obs_slow_call with GREENPOLL_REPORT: the report's first line is the verdict, and it names
#    flock and the fixture's wait_in_flock as a call site, with its object and address, which
#    addr2line maps to the flock's line; `greenpoll report` of the live process gives that
#    file:line (text and JSON); while its thread waits in flock (the
#    holder keeps the lock 5 s), the dump says "blocked in flock" and tasks "blocked ... flock";
#  - GREENPOLL_DUMP_SIGNAL=SIGQUIT (with the control channel, and with GREENPOLL_CONTROL=off):
#    kill -QUIT writes the dump of obs_waits on stderr, naming its waits, and the program ends
#    as natively; obs_dump_signal's own SIGQUIT handler runs natively and under greenpoll
#    without the setting, not with it (sigaction still reports it); without the setting,
#    SIGQUIT ends obs_waits with status 128+3 natively and under greenpoll; bad values (an
#    uncatchable, fault or preemption signal, no signal) are one line and status 2;
#  - obs_call_counts: the calls of accept, connect, read, write, pthread_mutex_lock (contended),
#    usleep and pread it counted itself are the counts `stats` (calls.NAME, text and JSON) and
#    the report's "calls intercepted" (text at exit, JSON from `report`) give; socket I/O was
#    never passed to libc, every usleep waited green, every pread of a file was passed; the
#    accept4 greenpoll's accept calls is not counted;
#  - the channel's access: directory 0700 and socket 0600 owned by the user; as root, the
#    command run as another user (setpriv, uid 65534) gets no dump, and a client of that uid
#    given CAP_DAC_OVERRIDE to reach the socket is closed unanswered (SO_PEERCRED); when not
#    root, the modes are what keeps others out, and they are checked; an unsafe directory
#    (group/other access) means no channel and one line on stderr; GREENPOLL_CONTROL=off
#    makes no socket; a bad GREENPOLL_CONTROL or GREENPOLL_REPORT_MIN is one line and status 2.
#
#   usage: tests/observe-integration.sh [BUILD_DIR]   (after `make all fixtures`)
#
# Prints "PASS: <case>" or "FAIL: <case>: <reason>" per check, then "observe-integration: N
# passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if set; exits non-zero if any
# failed.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

use_build "${1:-}"
gp=$build/greenpoll

tmp=$(mktemp -d)
bg_pid=''
cleanup() {
	exec 9>&- 2>/dev/null
	[ -z "$bg_pid" ] || kill -KILL "$bg_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# the channel's directory, as ctl_proto.h places it (the runs below get no XDG_RUNTIME_DIR)
ctl_dir=/tmp/greenpoll-$(id -ru)
unset XDG_RUNTIME_DIR

# start_bg NAME ENV... -- CMD ARG...: CMD in the background (under timeout) with stdin from
# the fifo $tmp/NAME.in (held open on fd 9 here), stdout/stderr to $tmp/NAME.out/.err;
# timeout's pid in bg_pid (the fixtures write their own pid in their info file)
start_bg() {
	local name=$1 env=()
	shift
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	rm -f "$tmp/$name.in"
	mkfifo "$tmp/$name.in"
	exec 9<>"$tmp/$name.in"
	timeout -k 5 60 env -u LD_PRELOAD "${env[@]}" "$@" <"$tmp/$name.in" >"$tmp/$name.out" \
		2>"$tmp/$name.err" &
	bg_pid=$!
}

# finish_bg: a line on its stdin, then its status in $status
finish_bg() {
	echo go >&9
	exec 9>&-
	wait "$bg_pid"
	status=$?
	bg_pid=''
}

# wait_for FILE WORD: until a line of FILE is WORD (10 s at most)
wait_for() {
	local i
	for i in $(seq 100); do
		grep -qx "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

info() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/info"; }

# start_ready NAME INFO KEY LABEL ENV... -- COMMAND...: COMMAND in the background (start_bg
# NAME) until its info file INFO says "end"; p is then the value of INFO's KEY line (a pid, or
# main's thread id). If it never says it: a failure under LABEL, the program let go, and false.
start_ready() {
	local name=$1 file=$2 key=$3 label=$4
	shift 4
	rm -f "$file"
	start_bg "$name" "$@"
	if ! wait_for "$file" end; then
		fail "$label" "no 'end' in its info file; stderr: $(head -c 200 "$tmp/$name.err")"
		finish_bg
		return 1
	fi
	p=$(awk -v k="$key" '$1 == k { print $2 }' "$file")
}

# marker_line FIXTURE WORD: the line of tests/fixtures/FIXTURE.c marked "/* line: WORD */"
marker_line() { grep -n "/\* line: $2 \*/" "$(dirname -- "${BASH_SOURCE[0]}")/fixtures/$1.c" | cut -d: -f1; }

# check_line LABEL TID FUNCTION FIXTURE WORD: in the text dump $tmp/dump, thread TID's frame of
# FUNCTION is at FIXTURE.c's line marked WORD
check_line() {
	local label="dump, file:line: $1" want
	want="$4.c:$(marker_line "$4" "$5")"
	if block_of "$2" "$tmp/dump" | grep -qE "^    #[0-9]+ $3(\.[a-z]+\.[0-9]+)?\+0x[0-9a-f]+ at /.*/$want\$"; then
		pass "$label ($want)"
	else
		fail "$label" "want $3 at .../$want: $(block_of "$2" "$tmp/dump" | tr '\n' '|' | head -c 300)"
	fi
}

# block_of TID FILE: the lines of thread TID's block in the text dump FILE
block_of() {
	awk -v t="thread $1" 'index($0, t) == 1 && (length($0) == length(t) ||
		substr($0, length(t) + 1, 1) == " ") { on = 1; print; next }
		/^thread / { on = 0 } on && NF' "$2"
}

# json_problem FILE: why FILE is not one balanced JSON object (nothing if it is): brackets and
# braces outside strings balance, never go negative, and the text starts with '{'
json_problem() {
	awk 'BEGIN { depth = 0; instr = 0; esc = 0; bad = "" }
	{
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (NR == 1 && i == 1 && c != "{") bad = "does not start with {"
			if (instr) {
				if (esc) esc = 0
				else if (c == "\\") esc = 1
				else if (c == "\"") instr = 0
				continue
			}
			if (c == "\"") instr = 1
			else if (c == "{" || c == "[") depth++
			else if (c == "}" || c == "]") { depth--; if (depth < 0) bad = "closes more than it opens" }
		}
	}
	END {
		if (bad == "" && instr) bad = "ends inside a string"
		if (bad == "" && depth != 0) bad = "leaves " depth " brackets open"
		print bad
	}' "$1"
}

# ---- obs_waits: every kind of wait, named, with backtraces ----

waits_native() {
	start_bg waits_native -- "$fixtures/obs_waits" "$tmp/info.native"
	if ! wait_for "$tmp/info.native" end; then
		fail "obs_waits (native)" "no 'end' in its info file"
		finish_bg
		return
	fi
	finish_bg
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/waits_native.out")" != "all waits ended" ]; then
		fail "obs_waits (native)" "status $status, stdout '$(head -c 200 "$tmp/waits_native.out")'"
	else
		pass "obs_waits (native)"
	fi
}

# check_wait LABEL TID WANT_LINE_PART FUNCTION: thread TID's block names the wait and shows
# FUNCTION in its backtrace
check_wait() {
	local label="dump: $1" block
	block=$(block_of "$2" "$tmp/dump")
	if [ -z "$block" ]; then
		fail "$label" "no 'thread $2' in the dump"
	elif ! head -n 1 <<<"$block" | grep -qF -- "$3"; then
		fail "$label" "want '$3' in '$(head -n 1 <<<"$block")'"
	elif ! grep -qE "^    #[0-9]+ $4(\.[a-z]+\.[0-9]+)?\+0x[0-9a-f]+( at .*| \(.*\))?$" <<<"$block"; then
		fail "$label" "no frame of $4 in its backtrace: $(tr '\n' '|' <<<"$block" | head -c 300)"
	else
		pass "$label"
	fi
}

waits_shim() {
	local p i ok=0
	start_ready waits "$tmp/info" main "obs_waits (shim)" LD_PRELOAD="$lib" GREENPOLL_PROCS=2 -- \
		"$fixtures/obs_waits" "$tmp/info" || return
	# the threads wrote their tids just before their waits: a dump shows them all parked soon,
	# and the spinner sampled in its loop (unless its carrier was caught in a system call)
	for i in $(seq 50); do
		"$gp" dump "$p" >"$tmp/dump" 2>"$tmp/dump.err" &&
			[ "$(grep -c '^thread [0-9]* .* parked for ' "$tmp/dump")" -eq 7 ] &&
			block_of "$(info spinner)" "$tmp/dump" | grep -q '^    #[0-9]* spin_in_loop+0x' &&
			{ ok=1; break; }
		sleep 0.1
	done
	if [ "$ok" -ne 1 ]; then
		fail "dump: 7 threads parked, 1 sampled" "$(head -c 400 "$tmp/dump") $(head -c 200 "$tmp/dump.err")"
	else
		pass "dump: 7 threads parked, 1 sampled"
	fi
	check_wait "the thread's name" "$(info reader)" "\"obs-reader\" parked for" wait_in_read
	check_wait "read on a socket, its peer" "$(info reader)" \
		"in read on fd " wait_in_read
	check_wait "read's peer address" "$(info reader)" ", peer $(info peer)" wait_in_read
	check_wait "accept, the listening address" "$(info acceptor)" \
		"in accept on fd " wait_in_accept
	check_wait "accept's listening address" "$(info acceptor)" \
		", listening on $(info listen)" wait_in_accept
	check_wait "mutex and its address" "$(info locker)" "in mutex on $(info mutex)" wait_on_mutex
	check_wait "condvar and its address" "$(info waiter)" "in cond on $(info cond)" wait_on_cond
	check_wait "sleep and its deadline" "$(info sleeper)" " in sleep, until " wait_in_sleep
	check_wait "read of stdin" "$(info releaser)" "in read on fd 0" wait_for_go
	check_wait "join and its target" "$(info main)" "in join of thread $(info reader)" wait_in_join
	check_wait "a running thread, sampled" "$(info spinner)" "\"obs-spinner\" " spin_in_loop
	check_line "read" "$(info reader)" wait_in_read obs_waits read
	check_line "accept" "$(info acceptor)" wait_in_accept obs_waits accept
	check_line "mutex" "$(info locker)" wait_on_mutex obs_waits mutex

	if ! "$gp" dump "$p" --json >"$tmp/dump.json" 2>"$tmp/dump.err"; then
		fail "dump --json" "status $?: $(head -c 200 "$tmp/dump.err")"
	else
		local why missing=''
		why=$(json_problem "$tmp/dump.json")
		for i in reader acceptor locker waiter sleeper releaser spinner main; do
			grep -q "\"tid\": $(info "$i")," "$tmp/dump.json" || missing+=" $i"
		done
		if [ -n "$why" ]; then
			fail "dump --json" "not one JSON object: $why"
		elif [ -n "$missing" ]; then
			fail "dump --json" "no \"tid\" of:$missing"
		elif ! grep -q '"wait": {"what": "accept", "for_ns": [0-9]*, "fd": [0-9]*, "local": "'"$(info listen)"'"}' "$tmp/dump.json" ||
			! grep -q '"frames": \[{"function": "[^"]*"[^}]*}, {"function": "wait_in_join+0x' "$tmp/dump.json"; then
			fail "dump --json" "no accept wait with its address, or no wait_in_join frame: $(head -c 300 "$tmp/dump.json")"
		elif ! grep -qE '\{"function": "wait_in_read\+0x[0-9a-f]+", "module": "/[^"]*/obs_waits", "address": "0x[0-9a-f]+", "file": "/[^"]*/obs_waits\.c", "line": '"$(marker_line obs_waits read)"'\}' "$tmp/dump.json"; then
			fail "dump --json" "no wait_in_read frame with its module, file and line $(marker_line obs_waits read): $(grep -o '{"function": "wait_in_read[^}]*}' "$tmp/dump.json")"
		else
			pass "dump --json (and file:line of a frame)"
		fi
	fi

	if ! "$gp" tasks "$p" >"$tmp/tasks" 2>"$tmp/tasks.err"; then
		fail "tasks" "status $?: $(head -c 200 "$tmp/tasks.err")"
	elif [ "$(awk -F'\t' 'NF == 7 && $2 == "parked"' "$tmp/tasks" | wc -l)" -ne 7 ] ||
		[ "$(wc -l <"$tmp/tasks")" -ne 8 ] ||
		! awk -F'\t' -v l="$(info locker)" -v a="$(info acceptor)" '
			$1 == l && $6 == "mutex" && $7 == "obs-locker" { f++ }
			$1 == a && $6 == "accept" && $7 == "obs-acceptor" { f++ }
			END { exit f != 2 }' "$tmp/tasks"; then
		fail "tasks" "want 8 lines, 7 parked of 7 fields, the locker's in mutex, the acceptor's in accept: $(head -c 300 "$tmp/tasks")"
	else
		pass "tasks"
	fi

	"$gp" stats "$p" >"$tmp/stats" 2>&1
	if ! grep -qx 'tasks.live 8' "$tmp/stats"; then
		fail "stats: tasks.live" "want 'tasks.live 8': $(grep tasks "$tmp/stats" | tr '\n' ' ')"
	else
		pass "stats: tasks.live"
	fi

	finish_bg
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/waits.out")" != "all waits ended" ]; then
		fail "obs_waits (shim)" "status $status, stdout '$(head -c 200 "$tmp/waits.out")', stderr: $(head -c 200 "$tmp/waits.err")"
	else
		pass "obs_waits (shim): the same stdout as natively"
	fi
	if [ -e "$ctl_dir/$p.sock" ]; then
		fail "socket file removed at exit" "$ctl_dir/$p.sock is still there"
	else
		pass "socket file removed at exit"
	fi
}

# start_waits NAME LABEL PROGRAM ENV...: PROGRAM (obs_waits or a copy) under the shim with ENV
# in the background (start_bg NAME, info file $tmp/info.NAME); its pid in p once its threads
# are about to wait; else a failure under LABEL, and false
start_waits() {
	local name=$1 label=$2 program=$3
	shift 3
	start_ready "$name" "$tmp/info.$name" main "$label" LD_PRELOAD="$lib" GREENPOLL_PROCS=2 "$@" -- \
		"$program" "$tmp/info.$name"
}

# parked_in DUMP: how many threads the text dump in file DUMP shows parked
parked_in() { grep -c '^thread [0-9]* .* parked for ' "$1"; }

# dump_parked FILE: `greenpoll dump $p` into FILE (its stderr in $tmp/dump.err) until it shows
# obs_waits' seven threads parked (5 s at most); false if it never does
dump_parked() {
	local i
	for i in $(seq 50); do
		"$gp" dump "$p" >"$1" 2>"$tmp/dump.err" && [ "$(parked_in "$1")" -eq 7 ] && return 0
		sleep 0.1
	done
	return 1
}

# a copy without debug information: the same frames by function+offset and object, no file:line
waits_stripped() {
	local p ok=0 label="dump of a program without debug information"
	objcopy --strip-debug "$fixtures/obs_waits" "$tmp/obs_waits"
	start_waits stripped "$label" "$tmp/obs_waits" || return
	dump_parked "$tmp/dump.stripped" && ok=1
	"$gp" dump "$p" --json >"$tmp/dump.stripped.json" 2>>"$tmp/dump.err"
	local st=$?
	finish_bg
	if [ "$ok" -ne 1 ] || [ "$st" -ne 0 ] || [ -s "$tmp/dump.err" ]; then
		fail "$label" "status $st, stderr '$(head -c 200 "$tmp/dump.err")': $(head -c 300 "$tmp/dump.stripped")"
	elif ! grep -qE "^    #[0-9]+ wait_in_read\+0x[0-9a-f]+ \($tmp/obs_waits\+0x[0-9a-f]+\)\$" "$tmp/dump.stripped" ||
		grep -q 'obs_waits\.c' "$tmp/dump.stripped"; then
		fail "$label" "want wait_in_read+0x.. ($tmp/obs_waits+0x..), no obs_waits.c: $(grep -m 3 'wait_in_\|obs_waits\.c' "$tmp/dump.stripped" | tr '\n' '|')"
	elif ! grep -qE '\{"function": "wait_in_read\+0x[0-9a-f]+", "module": "[^"]*", "address": "0x[0-9a-f]+"\}' "$tmp/dump.stripped.json" ||
		grep -q 'obs_waits\.c' "$tmp/dump.stripped.json"; then
		fail "$label (json)" "$(grep -o '{"function": "wait_in_read[^}]*}' "$tmp/dump.stripped.json")"
	else
		pass "$label: function+offset and object, no file:line, no error (text and json)"
	fi
}

# greenpoll preloaded by a relative path (LD_PRELOAD=build/libgreenpoll.so, a path the loader
# keeps as given, relative to a directory the process may leave): its own frames still get
# file:line, from the object mapped whose path ends so
waits_relative_preload() {
	local p ok=0 label="dump of a program that preloads greenpoll by a relative path"
	start_waits relative "$label" "$fixtures/obs_waits" \
		LD_PRELOAD="$(realpath --relative-to=. "$lib")" || return
	dump_parked "$tmp/dump.relative" && ok=1
	finish_bg
	if [ "$ok" -ne 1 ]; then
		fail "$label" "stderr '$(head -c 200 "$tmp/dump.err")': $(head -c 300 "$tmp/dump.relative")"
	elif ! grep -qE '^    #0 read\+0x[0-9a-f]+ at /.*/shim/io\.c:[0-9]+$' "$tmp/dump.relative"; then
		fail "$label" "no '#0 read+0x.. at /.../shim/io.c:N': $(grep -m 2 '#0 read' "$tmp/dump.relative" | tr '\n' '|')"
	else
		pass "$label: greenpoll's own frames with file:line"
	fi
}

# a program and a library whose files were replaced since it started (a rebuild): their frames
# get no file:line from the new files (lines for other addresses would be a silent wrong
# answer); the program's name the old file, "(deleted)"; the library's, its path (the loader's
# name for it), which now names another inode than the one mapped (libunwind, which reads
# symbols from the files, then names no function: addresses only)
waits_replaced() {
	local p ok=0 label="dump of a program whose file was replaced since it started"
	cp "$fixtures/obs_waits" "$tmp/obs_waits_old"
	cp "$lib" "$tmp/libgreenpoll_old.so"
	start_waits replaced "$label" "$tmp/obs_waits_old" LD_PRELOAD="$tmp/libgreenpoll_old.so" || return
	cp "$fixtures/obs_waits" "$tmp/obs_waits_new"
	mv "$tmp/obs_waits_new" "$tmp/obs_waits_old"
	cp "$lib" "$tmp/libgreenpoll_new.so"
	mv "$tmp/libgreenpoll_new.so" "$tmp/libgreenpoll_old.so"
	dump_parked "$tmp/dump.replaced" && ok=1
	finish_bg
	if [ "$ok" -ne 1 ] || [ -s "$tmp/dump.err" ]; then
		fail "$label" "stderr '$(head -c 200 "$tmp/dump.err")': $(head -c 300 "$tmp/dump.replaced")"
	elif ! grep -qE "^    #[0-9]+ [^ ]+ \($tmp/obs_waits_old \(deleted\)\+0x[0-9a-f]+\)\$" "$tmp/dump.replaced" ||
		! grep -qE "^    #[0-9]+ [^ ]+ \($tmp/libgreenpoll_old\.so\+0x[0-9a-f]+\)\$" "$tmp/dump.replaced" ||
		grep -q ' at ' "$tmp/dump.replaced"; then
		fail "$label" "want every frame with object and address, none with file:line: $(grep -m 4 ' #' "$tmp/dump.replaced" | tr '\n' '|')"
	else
		pass "$label (the program and the preloaded library): no file:line from the new files"
	fi
}

# ---- obs_accepts: exact counters; dumped after closing every fd; a fork child ----

accepts() {
	local p child want native_out
	run -- "$fixtures/obs_accepts" 20 "$tmp/info.native" <<<go
	native_out=$(cat "$tmp/out")
	start_ready accepts "$tmp/info2" pid "obs_accepts (shim)" LD_PRELOAD="$lib" GREENPOLL_PROCS=2 -- \
		"$fixtures/obs_accepts" 20 "$tmp/info2" || return
	child=$(awk '$1 == "child" { print $2 }' "$tmp/info2")
	"$gp" stats "$p" >"$tmp/stats" 2>&1
	want=$'tasks.live 1\ntasks.created 40\ntasks.exited 40\nnet.accepts 20'
	if [ "$(grep -E '^(tasks\.(live|created|exited)|net\.accepts) ' "$tmp/stats")" != "$want" ]; then
		fail "stats: 20 connections, 40 threads" "got: $(grep -E '^(tasks|net)' "$tmp/stats" | tr '\n' ' ')"
	else
		pass "stats: 20 connections -> net.accepts 20, tasks.created/exited 40"
	fi
	"$gp" stats "$p" --json >"$tmp/stats.json" 2>&1
	if [ -n "$(json_problem "$tmp/stats.json")" ] || ! grep -q '"net.accepts": 20[,}]' "$tmp/stats.json"; then
		fail "stats --json" "$(head -c 300 "$tmp/stats.json")"
	else
		pass "stats --json"
	fi
	if "$gp" dump "$p" >"$tmp/dump" 2>"$tmp/dump.err" &&
		block_of "$p" "$tmp/dump" | grep -q '^    #[0-9]* parent_waits+0x'; then
		pass "dump after close_range(3, ~0U) by raw system call"
	else
		fail "dump after close_range(3, ~0U) by raw system call" "$(head -c 300 "$tmp/dump") $(head -c 200 "$tmp/dump.err")"
	fi
	if [ -n "$child" ] && "$gp" dump "$child" >"$tmp/dump.child" 2>"$tmp/dump.err" &&
		head -n 1 "$tmp/dump.child" | grep -q "^greenpoll dump of $child (obs_accepts): 1 threads$" &&
		block_of "$child" "$tmp/dump.child" | grep -q '^    #[0-9]* child_waits+0x'; then
		pass "dump of a fork child under its own pid"
	else
		fail "dump of a fork child under its own pid" "child '$child': $(head -c 300 "$tmp/dump.child" 2>/dev/null) $(head -c 200 "$tmp/dump.err")"
	fi
	finish_bg
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/accepts.out")" != "$native_out" ] ||
		[ "$native_out" != $'served 20\nreleased' ]; then
		fail "obs_accepts (shim and native)" "status $status, stdout '$(head -c 100 "$tmp/accepts.out")', natively '$native_out'"
	else
		pass "obs_accepts (shim and native): the same stdout"
	fi
	sleep 0.2 # the child ends when it reads its parent's end of the pipe closed
	if [ -e "$ctl_dir/$p.sock" ]; then
		fail "the parent's socket file removed at exit" "$ctl_dir/$p.sock is still there"
	else
		pass "the parent's socket file removed at exit"
	fi
}

# ---- a fork child that computes, never waiting: seen once it has used some CPU time ----

fork_compute() {
	local child i ok=0 native_out label="dump of a fork child that computes and never waits"
	touch "$tmp/stop.native"
	run -- "$fixtures/obs_fork_compute" "$tmp/info.fc.native" "$tmp/stop.native"
	native_out=$(cat "$tmp/out")
	start_bg forkc -- LD_PRELOAD="$lib" "$fixtures/obs_fork_compute" "$tmp/info.fc" "$tmp/stop.fc"
	if ! wait_for "$tmp/info.fc" end; then
		fail "$label" "no 'end' in its info file; stderr: $(head -c 200 "$tmp/forkc.err")"
		touch "$tmp/stop.fc"
		finish_bg
		return
	fi
	child=$(awk '$1 == "child" { print $2 }' "$tmp/info.fc")
	for i in $(seq 50); do
		"$gp" dump "$child" >"$tmp/dump.fc" 2>"$tmp/dump.err" &&
			grep -q "^thread $child \"obs_fork_comput\" running on carrier [0-9]*" "$tmp/dump.fc" &&
			block_of "$child" "$tmp/dump.fc" | grep -q '^    #[0-9]* child_computes+0x' &&
			{ ok=1; break; }
		sleep 0.1
	done
	touch "$tmp/stop.fc"
	finish_bg
	if [ "$ok" -ne 1 ]; then
		fail "$label" "child '$child': $(head -c 300 "$tmp/dump.fc" 2>/dev/null) $(head -c 200 "$tmp/dump.err")"
	elif [ "$status" -ne 0 ] || [ "$(cat "$tmp/forkc.out")" != "$native_out" ] ||
		[ "$native_out" != "child computed, status 0" ]; then
		fail "obs_fork_compute (shim and native)" "status $status, stdout '$(head -c 100 "$tmp/forkc.out")', natively '$native_out'"
	else
		pass "$label: running, in child_computes; the same stdout as natively"
	fi
}

# ---- an exec'd image: same pid, a socket of its own ----

exec_image() {
	local p
	start_ready exec "$tmp/info5" pid "dump of an exec'd image" LD_PRELOAD="$lib" -- \
		sh -c 'exec "$0" 1 "$1"' "$fixtures/obs_accepts" "$tmp/info5" || return
	if "$gp" dump "$p" >"$tmp/dump" 2>"$tmp/dump.err" &&
		head -n 1 "$tmp/dump" | grep -q "^greenpoll dump of $p (obs_accepts): 1 threads$"; then
		pass "dump of an exec'd image (the shell's socket replaced by its own)"
	else
		fail "dump of an exec'd image" "$(head -c 300 "$tmp/dump") $(head -c 200 "$tmp/dump.err")"
	fi
	finish_bg
}

# ---- the channel's socket closed behind greenpoll's back ----

lost_channel() {
	local p label="the channel made again after a raw close of its socket"
	start_ready lost "$tmp/info6" pid "$label" LD_PRELOAD="$lib" -- \
		"$fixtures/obs_lost_channel" "$tmp/info6" || return
	# the first client after the loss shows it (a poll holds the lost socket): refused once
	"$gp" dump "$p" >/dev/null 2>&1
	if ! "$gp" dump "$p" >"$tmp/dump" 2>"$tmp/dump.err" ||
		! block_of "$p" "$tmp/dump" | grep -q '^    #[0-9]* wait_for_go+0x'; then
		fail "$label" "second dump: $(head -c 300 "$tmp/dump") $(head -c 200 "$tmp/dump.err")"
		finish_bg
		return
	fi
	finish_bg
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/lost.out")" != done ] ||
		[ "$(awk '$1 == "closed" { print $2 }' "$tmp/info6")" != 1 ] ||
		[ "$(grep -c '^greenpoll: ' "$tmp/lost.err")" -ne 1 ] ||
		! grep -q '^greenpoll: the control socket (fd [0-9]*) was closed behind greenpoll.s back .*made a new one' "$tmp/lost.err"; then
		fail "$label" "status $status, closed $(awk '$1 == "closed" { print $2 }' "$tmp/info6"), stderr: $(head -c 300 "$tmp/lost.err")"
	else
		pass "$label (one line on stderr)"
	fi
	run -- "$fixtures/obs_lost_channel" "$tmp/info7" <<<go
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/out")" != done ] ||
		[ "$(awk '$1 == "closed" { print $2 }' "$tmp/info7")" != 0 ]; then
		fail "obs_lost_channel (native)" "$(reason), closed $(awk '$1 == "closed" { print $2 }' "$tmp/info7")"
	else
		pass "obs_lost_channel (native): no socket to close"
	fi
}

# ---- the blocking report ----

slow_call() {
	local first p
	run -- "$fixtures/obs_slow_call" "$tmp/lock.native"
	local native_out=$(cat "$tmp/out")
	run -- LD_PRELOAD="$lib" GREENPOLL_PROCS=2 GREENPOLL_REPORT="$tmp/report" \
		"$fixtures/obs_slow_call" "$tmp/lock"
	first=$(head -n 1 "$tmp/report" 2>/dev/null)
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/out")" != "$native_out" ]; then
		fail "obs_slow_call (shim)" "$(reason), stdout '$(head -c 100 "$tmp/out")', natively '$native_out'"
	elif ! grep -qE '^greenpoll report for [0-9]+ obs_slow_call: [1-9][0-9]* call sites? blocked carriers for [0-9.]+% of the run \([0-9.]+ s of [0-9.]+ s carrier time\)$' <<<"$first"; then
		fail "report: the verdict first" "first line '$first'"
	elif ! awk '/^  flock: 1 call, / { f = 1; next } f && /^    #0 wait_in_flock\+0x/ { ok = 1 }
			/^$/ { f = 0 } END { exit !ok }' "$tmp/report"; then
		fail "report: flock's call site" "$(head -c 400 "$tmp/report")"
	elif ! grep -qE '^  flock 2 \(1 slow\)$' "$tmp/report"; then # the lock, the unlock
		fail "report: flock's count" "$(tail -n 5 "$tmp/report")"
	else
		pass "report: the verdict, then flock at wait_in_flock"
	fi
	# written in the process: the frame's object and address, which addr2line takes
	local frame module addr want
	want="obs_slow_call.c:$(marker_line obs_slow_call flock)"
	frame=$(grep -m 1 -E '^    #0 wait_in_flock\+0x[0-9a-f]+ \(/.*\+0x[0-9a-f]+\)$' "$tmp/report")
	module=$(sed -E 's/.* \((.*)\+0x[0-9a-f]+\)$/\1/' <<<"$frame")
	addr=$(sed -E 's/.*\+(0x[0-9a-f]+)\)$/\1/' <<<"$frame")
	if [ -z "$frame" ] || ! addr2line -e "$module" "$addr" | grep -q "/$want\$"; then
		fail "report file: the object and address of wait_in_flock, for addr2line" \
			"frame '$frame', addr2line: $(addr2line -e "$module" "$addr" 2>&1)"
	else
		pass "report file: the object and address of wait_in_flock, addr2line says $want"
	fi
	# asked of the live process: file:line, text and json
	start_ready slow "$tmp/info.slow" pid "report: file:line" LD_PRELOAD="$lib" GREENPOLL_PROCS=2 -- \
		"$fixtures/obs_slow_call" "$tmp/lock.live" 300 "$tmp/info.slow" || return
	"$gp" report "$p" >"$tmp/report.live" 2>&1
	"$gp" report "$p" --json >"$tmp/report.json" 2>&1
	finish_bg
	if ! awk '/^  flock: 1 call, / { f = 1; next } f && /^    #0 wait_in_flock\+0x[0-9a-f]+ at \/.*\/'"$want"'$/ { ok = 1 }
			/^$/ { f = 0 } END { exit !ok }' "$tmp/report.live"; then
		fail "report: flock's call site at $want" "$(head -c 400 "$tmp/report.live")"
	elif ! grep -qE '\{"function": "wait_in_flock\+0x[0-9a-f]+", "module": "[^"]*", "address": "0x[0-9a-f]+", "file": "/[^"]*/obs_slow_call\.c", "line": '"${want#*:}"'\}' "$tmp/report.json"; then
		fail "report --json: flock's call site at $want" "$(head -c 400 "$tmp/report.json")"
	else
		pass "report: flock's call site at $want (text and json)"
	fi
}

# the calls a fixture counted itself ("NAME N" lines, natively): the same counts in `stats`
# (calls.NAME N, and in its JSON) while it runs, and in the report's "calls intercepted" at exit
call_counts() {
	local p native_out name n line count green through problems=''
	run -- "$fixtures/obs_call_counts" "$tmp/info.counts.native" </dev/null
	native_out=$(cat "$tmp/out")
	if [ "$status" -ne 0 ] || [ "$(wc -l <<<"$native_out")" -ne 7 ]; then
		fail "obs_call_counts (native)" "$(reason), stdout '$(head -c 200 "$tmp/out")'"
		return
	fi
	# no call site is listed (no backtrace is taken, whose libunwind calls would be counted)
	start_ready counts "$tmp/info.counts" pid "obs_call_counts (shim)" LD_PRELOAD="$lib" \
		GREENPOLL_PROCS=2 GREENPOLL_REPORT="$tmp/counts.report" GREENPOLL_REPORT_MIN=60s -- \
		"$fixtures/obs_call_counts" "$tmp/info.counts" || return
	"$gp" stats "$p" >"$tmp/stats" 2>&1
	"$gp" stats "$p" --json >"$tmp/stats.json" 2>&1
	"$gp" report "$p" --json >"$tmp/report.json" 2>&1
	finish_bg
	while read -r name n; do
		grep -qx "calls\.$name $n" "$tmp/stats" || problems+=" stats:$name"
		grep -q "\"calls\.$name\": $n[,}]" "$tmp/stats.json" || problems+=" stats-json:$name"
		grep -q "{\"call\": \"$name\", \"count\": $n," "$tmp/report.json" || problems+=" report-json:$name"
		line=$(sed -n '/^calls intercepted (count, green, passed to the kernel), most first:$/,$p' \
			"$tmp/counts.report" | grep -E "^  $name [0-9]+ [0-9]+ [0-9]+$")
		read -r _ count green through <<<"$line"
		[ "${count:-}" = "$n" ] && [ "$green" -le "$n" ] && [ "$through" -le "$n" ] ||
			problems+=" report:$name"
		case $name in # what each call did under the shim
		read | write | connect | accept) [ "$through" -eq 0 ] || problems+=" $name-passed" ;;
		usleep) [ "$green" -eq "$n" ] || problems+=" usleep-green" ;;
		pread) [ "$through" -eq "$n" ] || problems+=" pread-passed" ;;
		esac
	done <<<"$native_out"
	# greenpoll's accept takes accept4's path: part of the program's accept, not a call of its
	! grep -q '^calls\.accept4 ' "$tmp/stats" || problems+=" accept4-counted"
	if [ "$status" -ne 0 ] || [ "$(cat "$tmp/counts.out")" != "$native_out" ]; then
		fail "obs_call_counts (shim and native)" "status $status, stdout '$(head -c 200 "$tmp/counts.out")'"
	elif [ -n "$(json_problem "$tmp/stats.json")$(json_problem "$tmp/report.json")" ]; then
		fail "calls intercepted: JSON" "$(head -c 300 "$tmp/stats.json") $(head -c 300 "$tmp/report.json")"
	elif [ -n "$problems" ]; then
		fail "calls intercepted: the fixture's own counts" "wrong:$problems; $(sed -n '/^calls intercepted/,$p' "$tmp/counts.report" | head -n 12 | tr '\n' ' ')"
	else
		pass "calls intercepted: the fixture's own counts in stats, stats --json, report, report --json"
	fi
}

# a thread blocked in a call greenpoll passes to the kernel: named, with the call, while it lasts
blocked_call() {
	local p i ok=0 label="dump: a thread blocked in flock"
	timeout -k 5 60 env LD_PRELOAD="$lib" "$fixtures/obs_slow_call" "$tmp/lock.blocked" 5000 \
		>"$tmp/blocked.out" 2>"$tmp/blocked.err" &
	bg_pid=$!
	for i in $(seq 100); do
		p=$(pgrep -n -x obs_slow_call -P "$bg_pid")
		[ -n "$p" ] && "$gp" dump "$p" >"$tmp/dump" 2>/dev/null &&
			grep -q '^thread [0-9]* "obs_slow_call" blocked in flock for [0-9.]* s on carrier [0-9]* ' "$tmp/dump" &&
			{ ok=1; break; }
		sleep 0.1
	done
	if [ "$ok" -eq 1 ] && "$gp" tasks "$p" | awk -F'\t' '$2 == "blocked" && $6 == "flock" { f = 1 } END { exit !f }'; then
		pass "$label (dump and tasks)"
	else
		fail "$label" "pid '$p': $(head -c 400 "$tmp/dump")"
	fi
	wait "$bg_pid"
	bg_pid=''
}

# ---- GREENPOLL_DUMP_SIGNAL ----

# last_dump FILE: the last dump in FILE (from its last "greenpoll dump of" line)
last_dump() { awk '/^greenpoll dump of / { n = 0; delete l } { l[n++] = $0 } END { for (i = 0; i < n; i++) print l[i] }' "$1"; }

# obs_waits with GREENPOLL_DUMP_SIGNAL=SIGQUIT (and the extra settings given): SIGQUIT writes
# the dump on stderr, naming the waits with their frames' objects; the program then ends as
# natively
dump_on_signal() {
	local p i ok=0 label="GREENPOLL_DUMP_SIGNAL=SIGQUIT${1:+ $1}"
	start_waits sig "$label" "$fixtures/obs_waits" GREENPOLL_DUMP_SIGNAL=SIGQUIT "$@" || return
	# the threads wrote their tids just before their waits: soon a dump shows them all parked
	for i in $(seq 50); do
		kill -QUIT "$p"
		sleep 0.1
		last_dump "$tmp/sig.err" >"$tmp/sig.dump"
		[ "$(parked_in "$tmp/sig.dump")" -eq 7 ] && { ok=1; break; }
	done
	finish_bg
	if [ "$ok" -ne 1 ]; then
		fail "$label" "no dump with 7 parked threads on stderr: $(head -c 400 "$tmp/sig.err")"
	elif ! head -n 1 "$tmp/sig.dump" | grep -qx "greenpoll dump of $p (obs_waits): 8 threads" ||
		! grep -q "in mutex on $(awk '$1 == "mutex" { print $2 }' "$tmp/info.sig")\$" "$tmp/sig.dump" ||
		! grep -qE "^    #[0-9]+ wait_in_read\+0x[0-9a-f]+ \(/.*/obs_waits\+0x[0-9a-f]+\)\$" "$tmp/sig.dump" ||
		! grep -qE "^    #[0-9]+ wait_in_accept\+0x[0-9a-f]+ \(/.*/obs_waits\+0x[0-9a-f]+\)\$" "$tmp/sig.dump"; then
		fail "$label" "the dump does not name the waits: $(head -c 600 "$tmp/sig.dump")"
	elif [ "$status" -ne 0 ] || [ "$(cat "$tmp/sig.out")" != "all waits ended" ]; then
		fail "$label" "then status $status, stdout '$(head -c 200 "$tmp/sig.out")'"
	else
		pass "$label: the dump on stderr, then the program ends as natively"
	fi
}

# obs_dump_signal: its own SIGQUIT handler runs natively and under greenpoll without the
# setting; with it, the signal is greenpoll's (a dump, the handler not run, sigaction still
# reports it); without the setting, a program with no handler dies of SIGQUIT as natively
dump_signal_handler() {
	local label mode want_runs p
	for mode in native shim setting; do
		local env=()
		case $mode in
		shim) env=(LD_PRELOAD="$lib") ;;
		setting) env=(LD_PRELOAD="$lib" GREENPOLL_DUMP_SIGNAL=QUIT) ;;
		esac
		label="obs_dump_signal, its own SIGQUIT handler ($mode)"
		start_ready dsig "$tmp/info.dsig" pid "$label" "${env[@]}" -- \
			"$fixtures/obs_dump_signal" "$tmp/info.dsig" || continue
		kill -QUIT "$p"
		for i in $(seq 50); do
			[ "$mode" != setting ] || grep -q '^    #[0-9]* wait_for_line+0x' "$tmp/dsig.err" && break
			sleep 0.1
		done
		sleep 0.2 # natively, the handler runs meanwhile (in main's read, restarted)
		finish_bg
		want_runs=1
		[ "$mode" != setting ] || want_runs=0
		if [ "$status" -ne 0 ] || [ "$(cat "$tmp/dsig.out")" != "$(printf 'sigaction: its handler\nhandler ran %d time(s)' "$want_runs")" ]; then
			fail "$label" "status $status, stdout '$(cat "$tmp/dsig.out")', stderr: $(head -c 200 "$tmp/dsig.err")"
		elif [ "$mode" = setting ] && { ! grep -q "^greenpoll dump of $p (obs_dump_signal): 1 threads\$" "$tmp/dsig.err" ||
			! grep -q '^    #[0-9]* wait_for_line+0x' "$tmp/dsig.err"; }; then
			fail "$label" "no dump naming wait_for_line on stderr: $(head -c 300 "$tmp/dsig.err")"
		elif [ "$mode" != setting ] && [ -s "$tmp/dsig.err" ]; then
			fail "$label" "stderr: $(head -c 300 "$tmp/dsig.err")"
		else
			pass "$label: ran $want_runs time(s)$([ "$mode" != setting ] || echo ', the dump instead'); sigaction reports it"
		fi
	done
	for mode in native shim; do
		local env=()
		[ "$mode" = native ] || env=(LD_PRELOAD="$lib")
		rm -f "$tmp/info.quit"
		start_bg quit -- "${env[@]}" "$fixtures/obs_waits" "$tmp/info.quit"
		wait_for "$tmp/info.quit" end
		kill -QUIT "$(awk '$1 == "main" { print $2 }' "$tmp/info.quit")"
		wait "$bg_pid" 2>/dev/null # not bash's "Quit" job report
		status=$?
		bg_pid=''
		exec 9>&-
		if [ "$status" -ne $((128 + 3)) ]; then
			fail "SIGQUIT without GREENPOLL_DUMP_SIGNAL ($mode)" "status $status, want $((128 + 3)); stderr: $(head -c 200 "$tmp/quit.err")"
		else
			pass "SIGQUIT without GREENPOLL_DUMP_SIGNAL ($mode): ends the program (status 128+3)"
		fi
	done
}

# ---- who may use the channel ----

access() {
	local p mode
	start_bg access -- LD_PRELOAD="$lib" "$fixtures/obs_accepts" 1 "$tmp/info3"
	wait_for "$tmp/info3" end
	p=$(awk '$1 == "pid" { print $2 }' "$tmp/info3")
	mode=$(stat -c '%a %u' "$ctl_dir")
	if [ "$mode" != "700 $(id -ru)" ]; then
		fail "channel directory 0700, ours" "$ctl_dir is '$mode'"
	else
		pass "channel directory 0700, ours"
	fi
	mode=$(stat -c '%a %u %F' "$ctl_dir/$p.sock" 2>&1)
	if [ "$mode" != "600 $(id -ru) socket" ]; then
		fail "socket 0600, ours" "$ctl_dir/$p.sock is '$mode'"
	else
		pass "socket 0600, ours"
	fi
	if [ "$(id -u)" -eq 0 ]; then
		# the command refuses another user's process itself; ctl_ask does not, and with
		# CAP_DAC_OVERRIDE it reaches the socket through the modes: SO_PEERCRED must refuse
		local as_other=(setpriv --reuid=65534 --regid=65534 --clear-groups)
		"${as_other[@]}" "$gp" dump "$p" >"$tmp/other.out" 2>"$tmp/other.err"
		local st=$?
		if [ "$st" -eq 0 ] || grep -q '^thread ' "$tmp/other.out"; then
			fail "another user: the command refuses" "status $st, stdout $(head -c 200 "$tmp/other.out")"
		else
			pass "another user: the command refuses (status $st: $(head -n 1 "$tmp/other.err"))"
		fi
		"$fixtures/ctl_ask" "$ctl_dir/$p.sock" stats >"$tmp/own.out" 2>&1
		"${as_other[@]}" --inh-caps=+dac_override --ambient-caps=+dac_override \
			"$fixtures/ctl_ask" "$ctl_dir/$p.sock" stats >"$tmp/other.out" 2>"$tmp/other.err"
		st=$?
		if ! grep -q '^tasks.live 1$' "$tmp/own.out"; then
			fail "another user: SO_PEERCRED refuses" "ctl_ask as root got no stats: $(head -c 200 "$tmp/own.out")"
		elif [ "$st" -ne 0 ] || [ -s "$tmp/other.out" ]; then
			fail "another user: SO_PEERCRED refuses" "as uid 65534 with CAP_DAC_OVERRIDE: status $st, answer '$(head -c 200 "$tmp/other.out")' $(head -c 200 "$tmp/other.err")"
		else
			pass "another user: SO_PEERCRED refuses (connected through the modes, closed unanswered)"
		fi
	fi
	finish_bg

	mkdir -p "$tmp/xdg/greenpoll"
	chmod 755 "$tmp/xdg/greenpoll"
	run -- LD_PRELOAD="$lib" XDG_RUNTIME_DIR="$tmp/xdg" "$fixtures/hello"
	if [ "$status" -ne 0 ] || [ "$(grep -c 'no control channel' "$tmp/err")" -ne 1 ] ||
		[ -n "$(ls -A "$tmp/xdg/greenpoll")" ]; then
		fail "an unsafe directory: no channel, one line" "$(reason); $(ls -A "$tmp/xdg/greenpoll" | head -3)"
	else
		pass "an unsafe directory: no channel, one line: $(head -n 1 "$tmp/err")"
	fi
	chmod 700 "$tmp/xdg/greenpoll"
	start_bg off -- LD_PRELOAD="$lib" XDG_RUNTIME_DIR="$tmp/xdg" GREENPOLL_CONTROL=off \
		"$fixtures/obs_accepts" 1 "$tmp/info4"
	wait_for "$tmp/info4" end
	if [ -n "$(ls -A "$tmp/xdg/greenpoll")" ]; then
		fail "GREENPOLL_CONTROL=off makes no socket" "$(ls -A "$tmp/xdg/greenpoll")"
	else
		pass "GREENPOLL_CONTROL=off makes no socket"
	fi
	finish_bg
	for setting in GREENPOLL_CONTROL=maybe GREENPOLL_REPORT_MIN=5 GREENPOLL_REPORT_MIN=1us \
		GREENPOLL_DUMP_SIGNAL=SIGKILL GREENPOLL_DUMP_SIGNAL=STOP GREENPOLL_DUMP_SIGNAL=11 \
		GREENPOLL_DUMP_SIGNAL=SIGURG GREENPOLL_DUMP_SIGNAL=SIGNOPE GREENPOLL_DUMP_SIGNAL=65; do
		run -- LD_PRELOAD="$lib" "$setting" "$fixtures/hello"
		if [ "$status" -ne 2 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] ||
			! grep -q "^greenpoll: ${setting%%=*}='" "$tmp/err"; then
			fail "bad $setting" "want one line and status 2, got $(reason)"
		else
			pass "bad $setting: one line, status 2"
		fi
	done
}

if [ ! -x "$gp" ] || [ ! -f "$lib" ] || [ ! -x "$fixtures/obs_waits" ]; then
	fail "observe-integration" "$gp, $lib or the obs_* fixtures not built (make all fixtures)"
else
	waits_native
	waits_shim
	waits_stripped
	waits_relative_preload
	waits_replaced
	accepts
	fork_compute
	exec_image
	lost_channel
	slow_call
	call_counts
	blocked_call
	dump_on_signal
	dump_on_signal GREENPOLL_CONTROL=off
	dump_signal_handler
	access
fi
report observe-integration
