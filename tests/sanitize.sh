#!/usr/bin/env bash
# sanitize.sh — the tests that run with a sanitizer (make asan, make tsan): the Check unit tests
# built with it, and, for AddressSanitizer, a subset of the fixtures run under the instrumented
# library (libasan preloaded first, as ASan requires of a program not built with it).
#
#   usage: tests/sanitize.sh address SAN_DIR FIXTURES_DIR    (after make asan-build fixtures)
#          tests/sanitize.sh thread SAN_DIR                  (after make tsan-build)
#
# Each fixture runs once under the shim (GREENPOLL_PROCS=2) and passes if it exits 0 with no
# sanitizer report on stderr. Leak detection is off for the fixtures: they are programs that
# end with memory held (LeakSanitizer reports the fixtures' own strdup'ed strings), not
# greenpoll's code; the unit tests keep it on. The subset: self-checking fixtures that cover
# thread life and TLS, cancellation and C++ exceptions (unwinding through greenpoll's frames),
# fork, sockets, pipes, the program's own poll/select/epoll, synchronization, signals and
# memory return; fixtures that assert the native thread count or time budgets are left out.
# ASan needs no fiber annotations (__sanitizer_start_switch_fiber) for them: with its defaults
# (no fake stacks) it looks at a stack only where a function does not return (longjmp, a C++
# throw), and then asks pthread_getattr_np, which the shim answers with the task's own stack.
# Seen on 2026-12-04: no report with longjmp out of a handler on an alternate stack
# (sig_altstack_overflow), C++ exceptions across parks (cxx_exception_tls), a 1 MiB static TLS
# (tls_big_static); annotations would add nothing these runs miss.
# Ends with "sanitize (SANITIZER): N passed, N failed"; exits non-zero if anything failed.
#
# ThreadSanitizer runs the unit tests only. Tried on 2026-12-04 with gcc 12's libtsan2,
# preloaded first ($(gcc -print-file-name=libtsan.so), then build/tsan/libgreenpoll.so), on
# tests/fixtures/hello, detached, tls_identity, net_blocking_io, sync_prodcons; each step
# below is what was seen once the one before it was out of the way:
#  1. SIGSEGV in __tsan_func_entry during TSan's own initialization: __tsan::Initialize
#     (called by the module constructor of libgreenpoll.so) calls pthread_key_create, which
#     binds to greenpoll's interposed export, itself instrumented, before TSan has any thread
#     state. Building shim/ without -fsanitize=thread gets past it.
#  2. SIGSEGV in memset under _dl_allocate_tls_init: libtsan's static TLS is 768 KB (its
#     ThreadState), larger than a carrier's own stack was (a bug of greenpoll's, fixed:
#     tls_big_static); hello then prints and sometimes exits 0.
#  3. SIGSEGV in __tsan_func_entry on greenpoll's own OS threads (the control channel's
#     ctl_thread → gr_tcb_forget_runtime; carriers and the monitor alike): they are made with
#     libc's pthread_create, found behind TSan's interceptor, so TSan never set up their
#     thread state. Every fixture tried, hello included most runs, dies so.
#  4. What would remain: TSan keeps each thread's state (shadow stack, vector clock) in static
#     TLS, which under greenpoll is per task (each task has its own TCB): a program thread made
#     through TSan's pthread_create interceptor gets its own state on its task, so tasks would
#     not need __tsan_switch_to_fiber; but a carrier's own context runs on a borrowed task TCB
#     (runtime/sched.c) while that task may run on another carrier, so instrumented scheduling
#     code would write one ThreadState from two OS threads at once. Running runtime/ without
#     instrumentation, or giving carriers TSan fibers of their own (__tsan_create_fiber and
#     __tsan_switch_to_fiber around every switch into and out of a carrier's own context),
#     with TSan-made OS threads for carriers, is the work left; not done.
set -u
cd "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." || exit 2
# shellcheck source=tests/lib.sh
. tests/lib.sh

sanitizer=${1:?usage: tests/sanitize.sh address|thread SAN_DIR [FIXTURES_DIR]}
dir=${2:?usage: tests/sanitize.sh address|thread SAN_DIR [FIXTURES_DIR]}
fixtures=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

case $sanitizer in
address) ASAN_OPTIONS=$ASAN_UNIT_OPTIONS run_units "$dir" ;;
thread) TSAN_OPTIONS=$TSAN_UNIT_OPTIONS run_units "$dir" ;;
*)
	echo "usage: tests/sanitize.sh address|thread SAN_DIR [FIXTURES_DIR]" >&2
	exit 2
	;;
esac

asan_fixtures="hello detached key_destructors main_pthread_exit tls_identity
	       dlopen_tls cxx_exception_tls cancel_signal fork_threads fork_from_many
	       net_blocking_io net_bulk net_pipes net_peer_reset net_close_blocked
	       net_timeouts net_udp mux_poll_client mux_select_server mux_epoll_server
	       sync_prodcons sync_cond_broadcast sync_rwlock sync_sem sync_futex
	       sig_thread_directed sig_timers sig_wait_interrupted mem_returns fault_correct_io
	       tls_big_static tls_park_wake sig_altstack_overflow sig_suspend_pause sync_robust
	       timer_after_handoff"
if [ "$sanitizer" = address ]; then
	libasan=$(gcc -print-file-name=libasan.so)
	for case in $asan_fixtures; do
		label="$case (shim built with ASan)"
		if [ ! -x "$fixtures/$case" ]; then
			fail "$label" "$fixtures/$case not built (make fixtures)"
			continue
		fi
		run --limit 120 LD_PRELOAD="$libasan:$dir/libgreenpoll.so" GREENPOLL_PROCS=2 \
			ASAN_OPTIONS="$ASAN_UNIT_OPTIONS:detect_leaks=0" -- "$fixtures/$case"
		report_line=$(grep -m 1 -E 'ERROR: AddressSanitizer|WARNING: ASan' "$tmp/err")
		if [ -n "$report_line" ]; then
			fail "$label" "$report_line"
		elif [ "$status" -ne 0 ]; then
			fail "$label" "$(reason)"
		else
			pass "$label"
		fi
	done
fi

report "sanitize ($sanitizer)"
