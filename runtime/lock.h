/*
 * lock.h — the runtime's spinlock.
 *
 * The rule: a critical section under a gr_lock is a handful of loads and stores (queue links,
 * a heap sift, a state change), and nothing under one parks a task. So spinning is cheaper
 * than a futex round trip; after a bounded spin the waiter yields its OS thread (raw
 * sched_yield: the carrier holding the lock may have been descheduled).
 *
 * What else may happen under one, and only here (docs/DESIGN.md invariant 10):
 *  - Readying a task (gr_wake, gr_sched_ready) — under a wait queue's bucket lock
 *    (waitq.c), a timer heap's lock (timer.c: a task's deadline fires) and a pd's lock
 *    (netpoll.c: waking the program's poll/select/epoll watchers). Readying may wake one idle
 *    carrier: a FUTEX_WAKE or a write to the poller's eventfd, system calls that never block.
 *    Holding the lock keeps the waiter's record where the waker found it until it is woken.
 *  - epoll_ctl under a pd's lock (netpoll.c: registering or unregistering its fd), so a pd
 *    being closed is never registered after it was taken out. It never blocks.
 *  - Renewing a lost poller under renew_lock (netpoll.c): system calls and a line on stderr, on
 *    an error path only; its whole point is that one carrier at a time does it.
 *  - Starting the first carriers and the monitor under start_lock (sched.c): thread creation,
 *    once per process (and once in a fork child); the others wait for it to finish anyway.
 *  - Recording a module loaded late with static TLS under modules_lock (tls.c, after a
 *    dlopen): a realloc, dl_iterate_phdr (the loader's lock) and the walk of the live tasks'
 *    TCBs (the task list lock, taken inside it: modules_lock is always the outer one); once
 *    per such module.
 *  - Reading a task's CPU clock under the task list lock (task.c): clock_gettime, through the
 *    vDSO.
 *  - Growing a full timer heap under its lock (timer.c, gr_timer_add): a realloc, as its size
 *    doubles.
 * Nothing else: an allocation that a new chunk needs (netpoll.c's pd cache) is made with the
 * lock released.
 *
 * Who holds one, for signal handlers: a task counts the runtime locks its own code holds
 * (gr_task.locks_held, task.h: gr_task_holds_locks), one more from just before it takes a lock
 * to just after it lets it go. A program's signal handler may call back into greenpoll (write
 * to a self-pipe, clock_gettime, kill: async-signal-safe, so allowed anywhere natively), and
 * one run while its task holds a lock could want the same lock on the same OS thread and spin
 * forever, or find the structure half updated. Looking at the interrupted instruction pointer
 * is not enough: under a lock greenpoll calls out of its own code (libc's clock_gettime and
 * the vDSO reading a task's CPU clock under the task list lock, realloc growing a timer heap,
 * memcmp and memcpy under a sites lock). So shim/signal.c keeps a signal that comes while the
 * count is not zero, as it does one that comes in greenpoll's own code, and it runs as the
 * call returns. Only the task's own code counts (gr_lock_note, task.c): a carrier's own
 * context runs on the TCB of a task that may already run on another carrier (sched.c), so it
 * is told apart by its stack, and neither it nor a thread that runs no task counts anything.
 * The count is written by the one OS thread that runs the task and read by its handlers:
 * plain loads and stores, no atomic read-modify-write. Measured (20M uncontended pairs, this
 * machine): a gr_lock and gr_unlock pair went from 6.5 to 8.3 ns in a task, to 9.8 ns in the
 * initial task (its stack is the process's: the carriers' stacks are looked through), and to
 * 8.0 ns on a thread that runs no task (the two calls of gr_lock_note).
 */
#ifndef GR_LOCK_H
#define GR_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>

#include "sys.h"

typedef struct {
	atomic_int held;
} gr_lock_t;

#define GR_LOCK_INIT {0}

/* the calling task's count of locks held, by delta, if the caller is that task's own code (see
 * above; task.c) */
void gr_lock_note(int delta);

static inline bool lock_try_once(gr_lock_t *l)
{
	return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
	       !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}

static inline bool gr_trylock(gr_lock_t *l)
{
	gr_lock_note(1);
	if (lock_try_once(l))
		return true;
	gr_lock_note(-1);
	return false;
}

static inline void gr_lock(gr_lock_t *l)
{
	gr_lock_note(1); /* before the lock is taken: a handler never sees it held and not counted */
	for (int spins = 0; !lock_try_once(l); spins++) {
		if (spins < 100)
			gr_cpu_relax();
		else
			gr_os_yield();
	}
}

static inline void gr_unlock(gr_lock_t *l)
{
	atomic_store_explicit(&l->held, 0, memory_order_release);
	gr_lock_note(-1);
}

#endif
