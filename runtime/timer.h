/*
 * timer.h — a processor's timers: a binary min-heap of deadlines (CLOCK_MONOTONIC ns).
 *
 * A timer is embedded in whatever it wakes (a task's sleep, later a pollDesc's deadlines) and
 * is in at most one heap at a time: t->heap says which, t->idx where (GR_TIMER_IDLE when in
 * none). All heap changes, and every call of a timer's fire function, happen under the heap's
 * lock, so gr_timer_del never runs concurrently with that timer firing: after it returns, the
 * timer is either removed unfired (true) or has already fired (false).
 *
 * fire(t, arg) is called with the lock held; it must not touch any timer heap.
 */
#ifndef GR_TIMER_H
#define GR_TIMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"

#define GR_TIMER_IDLE ((size_t)-1)
#define GR_NEVER INT64_MAX

struct gr_timer;
typedef void gr_timer_fire_fn(struct gr_timer *t, void *arg);

struct gr_timers {
	gr_lock_t lock;
	struct gr_timer **heap; /* protected by lock */
	size_t n, cap;		/* protected by lock */
	_Atomic int64_t next;	/* earliest deadline, GR_NEVER if none; readable without lock */
};

struct gr_timer {
	int64_t when;
	gr_timer_fire_fn *fire;
	struct gr_timers *heap; /* the heap it is in; protected by that heap's lock */
	size_t idx;
};

void gr_timer_init(struct gr_timer *t, gr_timer_fire_fn *fire);

/* Put t (not in any heap) into h with deadline when. */
void gr_timer_add(struct gr_timers *h, struct gr_timer *t, int64_t when);

/* Remove t from the heap it is in. False if it was in none (it fired, or was never added). */
bool gr_timer_del(struct gr_timer *t);

/* Fire, in deadline order, every timer of h due at or before now. Returns how many fired. */
int gr_timers_run(struct gr_timers *h, int64_t now, void *arg);

static inline int64_t gr_timers_next(struct gr_timers *h)
{
	return atomic_load_explicit(&h->next, memory_order_acquire);
}

void gr_timers_init(struct gr_timers *h);

#endif
