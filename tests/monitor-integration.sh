#!/usr/bin/env bash
# Integration tests of the monitor (issue 10): a call greenpoll cannot see, or a thread that
# computes, must not stall the program's other threads; a deadlock is reported. Each fixture
# runs natively and under the shim with GREENPOLL_PROCS=1 and 2, each run under a time limit.
#
#   usage: tests/monitor-integration.sh [BUILD_DIR]     (from the repo root, after `make fixtures`)
#
# Prints one line per run, "PASS: <case> (<mode>)" or "FAIL: <case> (<mode>): <reason>", then
# "monitor-integration: N passed, N failed"; appends "passed=N failed=N" to $GP_RESULTS if set.
set -u

# shellcheck source=tests/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

use_build "${1:-}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every shim run's label names its GREENPOLL_PROCS, and the run gets --under-shim (lib.sh's
# hooks); mon_no_false_deadlock has 20 s, and its stderr must never say "deadlock".
shim_procs=
fixture_shim_args() { echo --under-shim; }
fixture_limit() {
	case $1 in
	mon_no_false_deadlock) echo 20 ;;
	*) echo 60 ;;
	esac
}
fixture_check() {
	if [ "$1" = mon_no_false_deadlock ] && grep -q deadlock "$tmp/err"; then
		echo "a false deadlock report on stderr: $(grep -m 1 deadlock "$tmp/err")"
		return 1
	fi
}

# run_case CASE MODE [ARG...]: MODE is "native" or the GREENPOLL_PROCS value for a shim run.
run_case() {
	local case=$1 mode=$2
	shift 2
	run_fixture "$case${*:+ $*}" "$mode" "$case" "$@"
}

# ---- cases ----

# stall_ticker STALLER...: while the stallers run (each ~1.5 s, several at once), a ticker
# thread sleeping 5 ms at a time must never wait 50 ms or more between wake-ups beyond what the
# machine's load adds (three times the worst gap of the same ticker in a process nothing
# stalls; checked under the shim only), and afterwards the OS thread count must come back to
# its value before them.
# Stallers: raw-read (the raw `syscall` instruction, unseen by the shim, on a pipe a child
# writes late), flock-process (a lock a child holds), flock-thread (a lock another thread of
# the process holds: without a monitor it hangs forever on one carrier), spin (computation, no
# calls). The fixture's watchdog makes a hang a FAIL after 15 s. ~1.6 s a run when all pass.
for stallers in raw-read flock-process flock-thread spin "spin spin" "raw-read flock-thread" \
		"flock-process spin"; do
	for mode in native 1 2; do
		# shellcheck disable=SC2086 # one argument per staller
		run_case stall_ticker "$mode" $stallers
	done
done

# ---- case: at GREENPOLL_MAX_CARRIERS the processor waits for its blocked carrier ----
# One carrier allowed in all: a thread blocked in a raw read keeps the ticker waiting (no
# --under-shim: the gap is what the cap means), the program still ends normally, and
# GREENPOLL_DEBUG=1 says once that the cap was reached.
cap_case() {
	local label="stall_ticker raw-read (shim GREENPOLL_PROCS=1 GREENPOLL_MAX_CARRIERS=1)" n
	if [ ! -f "$lib" ] || [ ! -x "$fixtures/stall_ticker" ]; then
		fail "$label" "library or fixture not built"
		return
	fi
	run --limit 30 LD_PRELOAD="$lib" GREENPOLL_PROCS=1 GREENPOLL_MAX_CARRIERS=1 \
		GREENPOLL_DEBUG=1 -- "$fixtures/stall_ticker" raw-read
	n=$(grep -c 'GREENPOLL_MAX_CARRIERS) are in use' "$tmp/err")
	if [ "$status" -ne 0 ]; then
		fail "$label" "$(reason)"
	elif [ "$n" -ne 1 ]; then
		fail "$label" "the cap was said $n times on stderr, want once"
	else
		pass "$label"
	fi
}
cap_case

# ---- cases: preemption by SIGURG, unnoticed by a program that uses SIGURG itself ----
for mode in native 1 2; do
	run_case preempt_sigurg "$mode"
done

# ---- cases: blocked servers and deadlocks ----
# A thread-per-connection echo server keeps serving while one thread sits in sigwaitinfo and
# one in io_uring_enter (with 2 carriers both are stuck: only the monitor's handoff helps).
run_case mon_blocked_server native
run_case mon_blocked_server 2

# mon_deadlock really deadlocks: natively it hangs until the limit; under the shim the
# monitor reports it once (this line, then the task dump: a block per thread) and the process
# keeps waiting,
# or with GREENPOLL_DEADLOCK=abort dies by SIGABRT.
deadlock_line='greenpoll: all threads are asleep waiting on each other (deadlock)'

# deadlock_report_problem: why $tmp/err is not one deadlock report (nothing if it is): the
# line exactly once, followed by the dump: a "thread N parked for ..." line for each of the 3
# threads (main, A, B), each in mutex or join, with a backtrace under it.
deadlock_report_problem() {
	local count after
	count=$(grep -cxF -- "$deadlock_line" "$tmp/err")
	if [ "$count" -eq 0 ]; then
		echo "no '$deadlock_line' line on stderr"
	elif [ "$count" -ne 1 ]; then
		echo "the deadlock line is on stderr $count times, want once"
	else
		after=$(awk -v l="$deadlock_line" 'seen && /^thread [0-9]+ .*parked for .* in (mutex|join) / { n++ }
			seen && /^    #0 / { frames++ } $0 == l { seen = 1 }
			END { print n + 0, frames + 0 }' "$tmp/err")
		if [ "$after" != "3 3" ]; then
			echo "threads parked in mutex or join, and backtraces, after the deadlock line: $after, want 3 3"
		fi
	fi
}

deadlock_native() {
	local label="mon_deadlock (native)"
	if [ ! -x "$fixtures/mon_deadlock" ]; then
		fail "$label" "$fixtures/mon_deadlock not built (make fixtures)"
		return
	fi
	run --limit 3 -- "$fixtures/mon_deadlock"
	if [ "$status" -ne 124 ]; then
		fail "$label" "want the 3 s timeout (status 124: it really deadlocks), got $(reason)"
	else
		pass "$label"
	fi
}

# deadlock_shim PROCS: reported once, and the process keeps waiting until the 4 s limit.
deadlock_shim() {
	local label="mon_deadlock (shim GREENPOLL_PROCS=$1)" why
	if [ ! -x "$fixtures/mon_deadlock" ] || [ ! -f "$lib" ]; then
		fail "$label" "$fixtures/mon_deadlock or $lib missing"
		return
	fi
	run --limit 4 LD_PRELOAD="$lib" GREENPOLL_PROCS="$1" -- "$fixtures/mon_deadlock" --under-shim
	if [ "$status" -ne 124 ]; then
		fail "$label" "want the process still waiting at the 4 s limit (status 124), got $(reason)"
	elif why=$(deadlock_report_problem) && [ -n "$why" ]; then
		fail "$label" "$why"
	elif ! grep -qx 'SIGALRM handled while deadlocked' "$tmp/out"; then
		fail "$label" "the SIGALRM that came after the report did not run the program's handler"
	else
		pass "$label"
	fi
}

# deadlock_abort: GREENPOLL_DEADLOCK=abort: the report, then death by SIGABRT (status 134).
deadlock_abort() {
	local label="mon_deadlock (shim GREENPOLL_PROCS=2 GREENPOLL_DEADLOCK=abort)" why core
	if [ ! -x "$fixtures/mon_deadlock" ] || [ ! -f "$lib" ]; then
		fail "$label" "$fixtures/mon_deadlock or $lib missing"
		return
	fi
	core=$(ulimit -c)
	ulimit -c 0 # no core file from the abort
	run --limit 4 LD_PRELOAD="$lib" GREENPOLL_PROCS=2 GREENPOLL_DEADLOCK=abort -- \
		"$fixtures/mon_deadlock" --under-shim
	ulimit -c "$core"
	if [ "$status" -ne 134 ]; then
		fail "$label" "want death by SIGABRT (status 134) within 4 s, got $(reason)"
	elif ! grep -qxF -- "$deadlock_line" "$tmp/err"; then
		fail "$label" "no '$deadlock_line' line on stderr"
	else
		pass "$label"
	fi
}

deadlock_native
deadlock_shim 1
deadlock_shim 2
deadlock_abort
# mon_no_false_deadlock passes and stderr never says "deadlock"
for mode in native 1 2; do
	run_case mon_no_false_deadlock "$mode"
done

# An idle program (4 threads in 2 s timed condvar waits) uses < 20 ms of CPU under the shim.
for mode in native 1 2; do
	run_case mon_idle "$mode"
done

report monitor-integration
