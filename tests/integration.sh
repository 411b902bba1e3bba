#!/usr/bin/env bash
# Integration tests of the runtime core: runs each fixture in BUILD_DIR/fixtures natively and
# under the shim (LD_PRELOAD=BUILD_DIR/libgreenpoll.so GREENPOLL_PROCS=2), each run under
# `timeout 60`, plus extra shim runs with GREENPOLL_PROCS=1 and 4 and the configuration checks.
#
#   usage: tests/integration.sh [BUILD_DIR]     (from the repo root, after `make fixtures`)
#
# Prints one line per run, "PASS: <case> (<mode>)" or "FAIL: <case> (<mode>): <reason>", then
# "integration: N passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if it is set.
# Exits non-zero if any run failed. A missing library makes every shim run fail.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

use_build "${1:-}"

# Under the shim the process may have GREENPOLL_PROCS carriers plus this many other OS
# threads (the main thread's own, the monitor, the control channel's, spare carriers handed a P).
EXTRA_OS_THREADS=5

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT




# Whether the shim's stack guards live inside the stacks' own mappings (guard regions, Linux
# 6.13): then live threads are not bounded by vm.max_map_count.
guards_packed() {
	LD_PRELOAD="$lib" GREENPOLL_DEBUG=1 "$fixtures/hello" 2>&1 >/dev/null |
		grep -q "stack guards in the stack's own mapping"
}

# Case-specific checks of a finished run's output (lib.sh's hook); prints a reason and fails if
# wrong.
fixture_check() {
	local case=$1 mode=$2 lines created
	case $case in
	many_live_threads)
		created=$(sed -n 's/^created=\([0-9]*\)$/\1/p' "$tmp/out")
		if [ -z "$created" ]; then
			echo "no 'created=N' line on stdout"
		elif [ "$mode" = native ]; then
			return 0 # the machine's thread limits decide
		elif guards_packed && [ "$created" -ne 40000 ]; then
			echo "$created threads made, want all 40000 (stack guards cost no mapping)"
		elif [ "$created" -lt 25000 ]; then
			echo "$created threads made, want at least 25000"
		else
			return 0
		fi
		return 1 ;;
	thread_identity | exec_fds | outside_task)
		# what they print depends on the machine (privileges, the fds the runner left
		# open): the shim's must match native
		[ "$mode" = native ] || same_stdout_as_native "$case" ;;
	tls_park_wake | fs_park_resume | fs_pingpong | trim_while_borrowed | tls_big_static)
		case $case in
		tls_park_wake) lines="pairs=24 rounds=1500 ok" ;;
		tls_big_static) lines="threads=8 ok" ;;
		trim_while_borrowed) lines="rounds=4 ok" ;;
		fs_park_resume) lines="sleeps=1000 reads=1000 ok" ;;
		fs_pingpong) lines="round_trips=1000 ok" ;;
		esac
		[ "$(cat "$tmp/out")" = "$lines" ] && return 0
		echo "stdout is '$(head -c 200 "$tmp/out")', want '$lines'"
		return 1 ;;
	main_pthread_exit)
		lines=$(grep -c '^thread [0-9]* done$' "$tmp/out")
		if [ "$(head -n 1 "$tmp/out")" != "main: pthread_exit" ]; then
			echo "stdout does not start with 'main: pthread_exit'"
		elif [ "$(grep '^thread [0-9]* done$' "$tmp/out" | sort -u | wc -l)" -ne 20 ] ||
		     [ "$lines" -ne 20 ]; then
			echo "stdout has $lines 'thread N done' lines, want 20 distinct"
		elif [ "$(tail -n 1 "$tmp/out")" != "main_pthread_exit: ok" ]; then
			echo "stdout does not end with 'main_pthread_exit: ok'"
		else
			return 0
		fi
		return 1 ;;
	esac
}

# Flags a fixture gets under the shim with the given number of carriers (lib.sh's hook).
fixture_shim_args() {
	local case=$1 procs=$2
	case $case in
	tls_identity)
		[ "$procs" -ge 2 ] && printf -- '--expect-migration\n'
		printf -- '--max-os-threads\n%s\n' $((procs + EXTRA_OS_THREADS)) ;;
	create_join_10k | thread_count | many_live_threads)
		printf -- '--max-os-threads\n%s\n' $((procs + EXTRA_OS_THREADS)) ;;
	idle_cpu | idle_light_load | mem_returns | ticker_among_busy)
		printf -- '--under-shim\n' ;;
	esac
}

# run_case CASE MODE: MODE is "native" or the GREENPOLL_PROCS value for a shim run.
run_case() { run_fixture "$1" "$2" "$1"; }

# bad_config SETTING: the shimmed hello must refuse to start, with exit status 2 and a
# "greenpoll: " line on stderr naming the variable.
bad_config() {
	local setting=$1 var=${1%%=*} label="bad_config (shim $1)"
	if [ ! -f "$lib" ]; then
		fail "$label" "$lib does not exist"
		return
	fi
	run LD_PRELOAD="$lib" "$setting" -- "$fixtures/hello"
	if [ "$status" -ne 2 ]; then
		fail "$label" "want exit status 2 for a bad value, got $(reason)"
	elif ! grep -q "^greenpoll: .*$var" "$tmp/err"; then
		fail "$label" "no stderr line starting 'greenpoll: ' naming $var"
	else
		pass "$label"
	fi
}

# good_config SETTING: the shimmed hello must run normally.
good_config() {
	local setting=$1 label="good_config (shim $1)"
	if [ ! -f "$lib" ]; then
		fail "$label" "$lib does not exist"
		return
	fi
	run LD_PRELOAD="$lib" "$setting" -- "$fixtures/hello"
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	elif [ "$(cat "$tmp/out")" != hello ]; then
		fail "$label" "stdout is not 'hello'"
	else
		pass "$label"
	fi
}

for case in create_join_10k tls_identity cxx_exception_tls stdio_many dlopen_tls \
	    key_destructors detached main_pthread_exit cpu_parallel thread_count pthread_misc \
	    fork_threads fork_offload fork_from_many vfork_threads waitpid_parks cancel_signal idle_cpu \
	    idle_light_load fifo_open_alone close_all_fds many_live_threads thread_identity \
	    mem_returns exec_fds timer_after_handoff tls_park_wake fs_park_resume fs_pingpong \
	    trim_while_borrowed outside_task ticker_among_busy tls_big_static fd_reused_behind_back fstat_then_io slow_call_memory slow_call_fds setxid_threads; do
	run_case "$case" native
	run_case "$case" 2
done

# Other carrier counts. cpu_parallel cannot be parallel on one carrier.
for case in tls_identity create_join_10k fifo_open_alone idle_light_load vfork_threads \
	    waitpid_parks fork_offload fork_from_many thread_identity timer_after_handoff \
	    tls_park_wake outside_task ticker_among_busy tls_big_static fd_reused_behind_back fstat_then_io slow_call_memory slow_call_fds setxid_threads; do
	run_case "$case" 1
done
for case in tls_identity create_join_10k cpu_parallel; do
	run_case "$case" 4
done

if [ ! -x "$fixtures/hello" ]; then
	fail "bad_config" "$fixtures/hello not built (make fixtures)"
else
	for setting in GREENPOLL_PROCS=abc GREENPOLL_PROCS=0 GREENPOLL_PROCS=100000 \
		       GREENPOLL_PROCS=-1 GREENPOLL_STACK=abc GREENPOLL_STACK=1 \
		       GREENPOLL_STACK=10X GREENPOLL_DEBUG=maybe GREENPOLL_MAX_CARRIERS=1 \
		       GREENPOLL_MAX_CARRIERS=x GREENPOLL_PREEMPT=5 GREENPOLL_PREEMPT=10m \
		       GREENPOLL_PREEMPT=50us GREENPOLL_DEADLOCK=maybe GREENPOLL_MONITOR=1 \
		       GREENPOLL_STACK_CACHE=-1 GREENPOLL_STACK_CACHE=many \
		       GREENPOLL_STACK_CACHE=100001 GREENPOLL_FS_SWITCH=wrfsbase \
		       GREENPOLL_FAULTS=short_read:101 GREENPOLL_FAULTS=short_read \
		       GREENPOLL_FAULTS=eintr:5,bogus:1 GREENPOLL_FAULTS=delay_wake:2ms \
		       GREENPOLL_FAULTS=delay_wake:11s@5 GREENPOLL_FAULTS=seed:-1; do
		bad_config "$setting"
	done
	for setting in GREENPOLL_PROCS=1 GREENPOLL_STACK=256K GREENPOLL_STACK=4M \
		       GREENPOLL_DEBUG=1 GREENPOLL_MAX_CARRIERS=64 GREENPOLL_PREEMPT=off \
		       GREENPOLL_PREEMPT=2ms GREENPOLL_DEADLOCK=abort GREENPOLL_MONITOR=off \
		       GREENPOLL_STACK_CACHE=0 GREENPOLL_STACK_CACHE=64 GREENPOLL_FS_SWITCH=auto \
		       GREENPOLL_FS_SWITCH=syscall GREENPOLL_FAULTS=short_read:0 \
		       GREENPOLL_FAULTS=short_read:10,short_write:10,eintr:5,delay_wake:2ms@5,seed:42; do
		good_config "$setting"
	done
	# the forced system-call switch is the one taken
	run LD_PRELOAD="$lib" GREENPOLL_DEBUG=1 GREENPOLL_FS_SWITCH=syscall -- "$fixtures/hello"
	if [ "$status" -ne 0 ]; then
		fail "fs_switch_syscall (shim)" "$(reason)"
	elif ! grep -q "FS switch by arch_prctl" "$tmp/err"; then
		fail "fs_switch_syscall (shim)" "GREENPOLL_DEBUG=1 does not say 'FS switch by arch_prctl'"
	else
		pass "fs_switch_syscall (shim)"
	fi
fi

# Without the monitor, on one carrier: a FIFO's kind, learnt from the program's fstat, must be
# a FIFO's (taken for a file's, its blocking read would hold the only carrier for good), and a
# FIFO opened for reading while another thread opens it for writing is opened by a thread of its
# own (no monitor would hand the carrier's processor over).
run --limit 20 LD_PRELOAD="$lib" GREENPOLL_PROCS=1 GREENPOLL_MONITOR=off -- "$fixtures/fstat_then_io"
if [ "$status" -ne 0 ] || [ "$(cat "$tmp/out")" != ok ]; then
	fail "fstat_then_io (shim GREENPOLL_PROCS=1 GREENPOLL_MONITOR=off)" "$(reason)"
else
	pass "fstat_then_io (shim GREENPOLL_PROCS=1 GREENPOLL_MONITOR=off)"
fi

# FS-base writes (a system call each without FSGSBASE), as GREENPOLL_DEBUG=1's exit line counts
# them (the process's own: the last line; a fork child's _exit says its own first, counted
# from the fork, and nothing if it made none), on one carrier: none for a task that parks and is resumed by the same carrier (2,000
# waits; each cost two before), one per message for a ping-pong between two tasks (2,000
# messages). Counts of a run whose switches do not depend on timing; the slack of 10 covers a
# preemption signal the monitor may send a carrier of a loaded machine.
fs_writes_at_most() { # case, most writes allowed
	local case=$1 most=$2 label="fs_writes $1 (shim GREENPOLL_PROCS=1)" n children
	run LD_PRELOAD="$lib" GREENPOLL_PROCS=1 GREENPOLL_DEBUG=1 -- "$fixtures/$case"
	n=$(sed -n 's/^greenpoll: \([0-9]*\) FS-base writes by .*/\1/p' "$tmp/err" | tail -n 1)
	children=$(sed -n 's/^greenpoll: \([0-9]*\) FS-base writes by .*/\1/p' "$tmp/err" | sed '$d')
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	elif [ -z "$n" ]; then
		fail "$label" "no 'greenpoll: N FS-base writes' line on stderr"
	elif grep -qx 0 <<<"$children"; then
		fail "$label" "a fork child that made no FS-base write said so"
	elif [ "$n" -gt "$most" ]; then
		fail "$label" "$n FS-base writes, want at most $most"
	else
		pass "$label ($n writes)"
	fi
}
fs_writes_at_most fs_park_resume 10
fs_writes_at_most fs_pingpong 2010

report integration
