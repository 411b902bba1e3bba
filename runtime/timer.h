/*
 * timer.h — a processor's timers: a binary min-heap of deadlines (CLOCK_MONOTONIC ns).
 *
 * A timer is embedded in whatever it wakes (a task's timed wait) and is armed (it fires at
 * `when`) or stopped. It owns at most one slot, in one heap: t->heap says which, t->idx where
 * (GR_TIMER_IDLE, NULL when in none). A slot holds its key inline, so sifting reads only the
 * heap's own array.
 *
 * Stopping is lazy, after Go's timers: gr_timer_del only marks the timer stopped and leaves its
 * slot where it is, and arming it again in the same heap reuses the slot, so a task that waits
 * with a timeout over and over (SO_RCVTIMEO on every read of a connection) costs the heap no
 * work per wait. A slot is dropped when it reaches the top stopped. Its key is never later than
 * its armed timer's deadline, but may be earlier (armed again for later): at the top it is
 * re-keyed and sifted down. So `next` is no later than the earliest armed deadline, and may be
 * earlier, which costs a look that finds nothing due.
 *
 * State per timer: idle (no slot) -add-> armed -del-> stopped (slot kept) -add-> armed (same
 * heap: slot reused; another heap: slot moved) ; armed -due-> firing (slot removed, t->heap
 * still names the heap while fire is called) -> idle ; stopped -reaches the top-> idle ;
 * any -gr_timer_detach-> idle.
 *
 * All heap changes, and every call of a timer's fire function, happen under the heap's lock,
 * and a firing timer names its heap until fire returns, so gr_timer_del never runs
 * concurrently with that timer firing: after it returns, the timer has either been stopped
 * unfired (true) or has fired, its fire over (false). (A stop that took a firing timer for
 * idle, t->heap cleared before fire ran, let a task woken by readiness as its deadline fired
 * start its next wait while the fire still ran, and read that wait's sequence number.) The
 * same holds for gr_timer_detach. fire(t, arg) is called with the lock held; it must not touch
 * any timer heap. A timer whose memory is about to be reused must be detached first (it may
 * still have a slot, or be firing).
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

struct gr_timer_slot {
	int64_t key; /* at most the timer's deadline while it is armed */
	struct gr_timer *t;
};

struct gr_timers {
	gr_lock_t lock;
	struct gr_timer_slot *heap; /* protected by lock */
	size_t n, cap;		    /* protected by lock */
	_Atomic int64_t next; /* the top slot's key, GR_NEVER if none; readable without lock */
};

struct gr_timer {
	int64_t when; /* deadline while armed; protected by the heap's lock */
	gr_timer_fire_fn *fire;
	struct gr_timers *heap; /* the heap holding its slot; protected by that heap's lock */
	size_t idx;
	bool armed; /* protected by the heap's lock */
};

void gr_timer_init(struct gr_timer *t, gr_timer_fire_fn *fire);

/* Arm t (not armed) in h with deadline when. */
void gr_timer_add(struct gr_timers *h, struct gr_timer *t, int64_t when);

/* Stop t. False if it was not armed (it fired, or was never added or already stopped). */
bool gr_timer_del(struct gr_timer *t);

/* Take t's slot out of its heap, armed or not: before t's memory is reused. */
void gr_timer_detach(struct gr_timer *t);

/* Fire, in deadline order, every timer of h due at or before now. Returns how many fired. */
int gr_timers_run(struct gr_timers *h, int64_t now, void *arg);

static inline int64_t gr_timers_next(struct gr_timers *h)
{
	return atomic_load_explicit(&h->next, memory_order_acquire);
}

void gr_timers_init(struct gr_timers *h);

#endif
