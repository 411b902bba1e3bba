/*
 * lock.h — the runtime's spinlock.
 *
 * Critical sections under a gr_lock are a handful of loads and stores (queue links, a heap
 * sift, a state change); nothing under one parks, allocates or makes a system call, so
 * spinning is cheaper than a futex round trip. After a bounded spin the waiter yields its OS
 * thread (raw sched_yield: the carrier holding the lock may have been descheduled).
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

static inline bool gr_trylock(gr_lock_t *l)
{
	return !atomic_load_explicit(&l->held, memory_order_relaxed) &&
	       !atomic_exchange_explicit(&l->held, 1, memory_order_acquire);
}

static inline void gr_lock(gr_lock_t *l)
{
	for (int spins = 0; !gr_trylock(l); spins++) {
		if (spins < 100)
			gr_cpu_relax();
		else
			gr_os_yield();
	}
}

static inline void gr_unlock(gr_lock_t *l)
{
	atomic_store_explicit(&l->held, 0, memory_order_release);
}

#endif
