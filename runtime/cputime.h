/*
 * cputime.h — the time each task ran: the CPU-time clock of a task (its thread CPU clock for
 * the program, shim/cpuclock.c).
 *
 * What it counts: the CLOCK_MONOTONIC time from the moment a carrier switches to the task to
 * the moment it switches away (park, yield, preemption, exit), less the time the task spends
 * in a call that waits by design (gr_blocking_enter_long: a sleep, a signal wait, waitpid made
 * as a system call). How that differs from the kernel's thread CPU clock: the kernel counts
 * the time the OS thread actually held a CPU, user and system; this counts the time the task
 * held its carrier, so
 *  - a carrier the kernel keeps waiting behind other processes (a loaded machine) still counts
 *    for its task: this clock can run ahead of the kernel's;
 *  - a call bracketed by gr_blocking_enter (file I/O, a system call greenpoll has no green form
 *    for) counts whole, its waits in the kernel included;
 *  - the initial task starts from its OS thread's CPU time when greenpoll took it over; every
 *    other task from 0.
 * No system call is added: a stretch begins and ends with a vDSO clock read, one per switch
 * (~30 ns on this machine's kvm-clock, against ~4 us for the FS-base system call a switch makes
 * without FSGSBASE; with FSGSBASE, a switch's ~14 ns about triples).
 *
 * Concurrency: only the carrier running a task writes its fields (run_seq, run_ns, run_since in
 * task.h), as a sequence lock; any thread may read them (gr_cputime_read), and retries while a
 * write is under way, so a reader never counts a stretch twice or sees it half-added.
 */
#ifndef GR_CPUTIME_H
#define GR_CPUTIME_H

#include <stdatomic.h>
#include <stdint.h>

#include "sys.h"
#include "task.h"

static inline void gr_cputime_set(struct gr_task *t, int64_t ns, int64_t since)
{
	uint32_t seq = atomic_load_explicit(&t->run_seq, memory_order_relaxed);

	atomic_store_explicit(&t->run_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&t->run_ns, ns, memory_order_relaxed);
	atomic_store_explicit(&t->run_since, since, memory_order_relaxed);
	atomic_store_explicit(&t->run_seq, seq + 2, memory_order_release);
}

/* t (running on the caller's carrier) begins a stretch at now, unless one is under way */
static inline void gr_cputime_start(struct gr_task *t, int64_t now)
{
	if (!atomic_load_explicit(&t->run_since, memory_order_relaxed))
		gr_cputime_set(t, atomic_load_explicit(&t->run_ns, memory_order_relaxed), now);
}

/* t's current stretch, if any, ends at now; its length (0 if none) */
static inline int64_t gr_cputime_stop(struct gr_task *t, int64_t now)
{
	int64_t since = atomic_load_explicit(&t->run_since, memory_order_relaxed);
	int64_t ran = atomic_load_explicit(&t->run_ns, memory_order_relaxed);

	if (!since)
		return 0;
	gr_cputime_set(t, ran + (now - since), 0);
	atomic_store_explicit(&t->stopped_at, now, memory_order_relaxed);
	return now - since;
}

/* the ns t has run so far; from any thread (t's record must stay mapped meanwhile) */
static inline int64_t gr_cputime_read(struct gr_task *t)
{
	for (;;) {
		uint32_t seq = atomic_load_explicit(&t->run_seq, memory_order_acquire);
		int64_t ns = atomic_load_explicit(&t->run_ns, memory_order_relaxed);
		int64_t since = atomic_load_explicit(&t->run_since, memory_order_relaxed);

		atomic_thread_fence(memory_order_acquire);
		if (seq & 1 || atomic_load_explicit(&t->run_seq, memory_order_relaxed) != seq) {
			gr_cpu_relax();
			continue;
		}
		return since ? ns + (gr_nanotime() - since) : ns;
	}
}

#endif
