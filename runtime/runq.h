/*
 * runq.h — a processor's local run queue (after Go's runqput/runqget/runqsteal).
 *
 * A fixed ring of GR_RUNQ_SIZE task pointers. Only the owning processor puts (it alone stores
 * tail); anyone takes from the head with a compare-and-swap: the owner popping, or an idle
 * carrier stealing half the queue in one CAS. A task is in at most one queue at a time.
 *
 * Beside the ring, one `next` slot: the task most recently made ready by the owner, run before
 * the ring (a task woken by the running one usually shares its data, and a ping-pong between
 * two tasks then stays on one carrier; a task whose timer the owner fired has slept long
 * enough). Thieves take it only when the ring is empty and it has
 * stayed put for a few microseconds, so it is not pulled to another CPU just before its own
 * processor would have run it.
 *
 * With one processor there is no thief: a queue marked owner_only is used by its owner alone,
 * which then takes without atomic read-modify-write instructions (each costs tens of cycles,
 * and a hand-off between two tasks makes several).
 *
 * The global queue (gr_globq) is an intrusive FIFO under a lock, for overflow and for tasks
 * made ready where no processor is at hand; its length is readable without the lock.
 */
#ifndef GR_RUNQ_H
#define GR_RUNQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lock.h"

#define GR_RUNQ_SIZE 256

struct gr_task;

struct gr_runq {
	_Atomic uint32_t head; /* next slot to take; CAS by any taker */
	_Atomic uint32_t tail; /* next slot to fill; stored by the owner only */
	struct gr_task *_Atomic next; /* set by the owner; taken by exchange (owner) or CAS (thief) */
	bool owner_only; /* no thief can exist (one processor); set before any use */
	struct gr_task *_Atomic slot[GR_RUNQ_SIZE];
};

/* Owner only: t becomes `next`; returns the task it displaced (for the ring), or NULL. */
static inline struct gr_task *gr_runq_put_next(struct gr_runq *q, struct gr_task *t)
{
	struct gr_task *old;

	if (!q->owner_only)
		return atomic_exchange_explicit(&q->next, t, memory_order_acq_rel);
	old = atomic_load_explicit(&q->next, memory_order_relaxed);
	atomic_store_explicit(&q->next, t, memory_order_relaxed);
	return old;
}

/* Owner only: take `next`, NULL if empty. */
static inline struct gr_task *gr_runq_get_next(struct gr_runq *q)
{
	struct gr_task *t = atomic_load_explicit(&q->next, memory_order_relaxed);

	if (!t)
		return NULL;
	if (!q->owner_only)
		return atomic_exchange_explicit(&q->next, NULL, memory_order_acq_rel);
	atomic_store_explicit(&q->next, NULL, memory_order_relaxed);
	return t;
}

/* Owner only. False when the queue is full. */
bool gr_runq_put(struct gr_runq *q, struct gr_task *t);

/* Any thread (the owner only, if owner_only). NULL when empty. */
struct gr_task *gr_runq_get(struct gr_runq *q);

/*
 * Owner only: the task gr_runq_get would return now, or NULL, without taking it. Another
 * carrier may steal it meanwhile, so it is a hint: only to prefetch, never to dereference.
 */
static inline struct gr_task *gr_runq_peek(struct gr_runq *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);

	if (atomic_load_explicit(&q->tail, memory_order_relaxed) == h)
		return NULL;
	return atomic_load_explicit(&q->slot[h % GR_RUNQ_SIZE], memory_order_relaxed);
}

/*
 * Owner only, on a full queue: take half of it (oldest first) into out[] for the global queue.
 * Returns how many were taken (0 if a concurrent taker won; the caller retries the put).
 */
uint32_t gr_runq_take_half(struct gr_runq *q, struct gr_task **out);

/*
 * Any thread: move half of victim's ring into dst (whose owner must be the caller); if the ring
 * is empty, victim's `next` after it has waited a few microseconds. Returns how many moved.
 */
uint32_t gr_runq_steal(struct gr_runq *dst, struct gr_runq *victim);

/* tasks in the ring and `next` (a snapshot) */
static inline uint32_t gr_runq_len(struct gr_runq *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);

	return t - h + (atomic_load_explicit(&q->next, memory_order_relaxed) != NULL);
}

struct gr_globq {
	gr_lock_t lock;
	struct gr_task *head, *tail; /* protected by lock; linked through gr_task.next */
	_Atomic uint32_t len;
};

void gr_globq_put(struct gr_globq *g, struct gr_task **tasks, uint32_t n);
struct gr_task *gr_globq_get(struct gr_globq *g);

/* Take up to max tasks, oldest first, into out[]; returns how many. */
uint32_t gr_globq_get_batch(struct gr_globq *g, struct gr_task **out, uint32_t max);

#endif
