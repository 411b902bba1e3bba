/*
 * waitq.c — address-keyed wait queues (see waitq.h).
 *
 * 512 buckets hashed by address, each a lock and a FIFO of waiter records, doubly linked: a
 * waiter that leaves by deadline or interrupt unlinks itself in constant time (thousands of
 * tasks may wait on one address with timeouts, as on Python's GIL condvar). Lock order: bucket
 * lock, then whatever gr_wake takes (run queue, idle lock).
 */
#include "waitq.h"

#include "fork.h"
#include "lock.h"
#include "sched.h"
#include "tls.h"

#define NBUCKETS 512

struct waiter {
	struct gr_task *task;
	uint32_t seq;
	uint32_t bits; /* which wake-ups it takes (futex bitsets); all for the others */
	const void *addr;
	struct waiter *next, *prev;
	bool queued; /* protected by the bucket lock */
};

struct bucket {
	gr_lock_t lock;
	struct waiter *head, *tail;
};

static struct bucket buckets[NBUCKETS];

static struct bucket *bucket_of(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	return &buckets[((a >> 3) ^ (a >> 12)) % NBUCKETS];
}

static void unlink_waiter(struct bucket *b, struct waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		b->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		b->tail = w->prev;
	/* the last touch of the record: its owner may return as soon as it sees this */
	__atomic_store_n(&w->queued, false, __ATOMIC_RELEASE);
}

int gr_waitq_park_bits(const void *addr, uint32_t bits, gr_waitq_check_fn *check, void *arg,
		       int64_t deadline, bool interruptible, const char *what)
{
	struct bucket *b = bucket_of(addr);
	struct waiter w = {.task = gr_current_task(), .addr = addr, .bits = bits};
	enum gr_wake_reason why;

	gr_lock(&b->lock);
	if (!check(addr, arg)) {
		gr_unlock(&b->lock);
		return 0;
	}
	w.seq = gr_wait_prepare(interruptible);
	w.queued = true;
	w.prev = b->tail;
	if (b->tail)
		b->tail->next = &w;
	else
		b->head = &w;
	b->tail = &w;
	gr_unlock(&b->lock);

	why = gr_park(deadline, what, addr);
	/*
	 * A timeout, an interrupt, or a wake-up meant for an earlier wait (see gr_wake) leaves the
	 * record queued: take it off before it goes with this frame. A waker reads the record only
	 * before it marks it unqueued.
	 */
	if (__atomic_load_n(&w.queued, __ATOMIC_ACQUIRE)) {
		gr_lock(&b->lock);
		if (w.queued)
			unlink_waiter(b, &w);
		gr_unlock(&b->lock);
	}
	return why;
}

int gr_waitq_park(const void *addr, gr_waitq_check_fn *check, void *arg, int64_t deadline,
		  bool interruptible, const char *what)
{
	return gr_waitq_park_bits(addr, ~0u, check, arg, deadline, interruptible, what);
}

int gr_waitq_wake_bits(const void *addr, uint32_t bits, int n)
{
	struct bucket *b = bucket_of(addr);
	struct waiter *w, *next;
	int woken = 0;

	gr_lock(&b->lock);
	for (w = b->head; w && (n < 0 || woken < n); w = next) {
		next = w->next;
		struct gr_task *t;
		uint32_t seq;

		if (w->addr != addr || !(w->bits & bits))
			continue;
		t = w->task;
		seq = w->seq;
		unlink_waiter(b, w);
		if (gr_wake(t, seq, GR_WAKE_NORMAL))
			woken++;
	}
	gr_unlock(&b->lock);
	return woken;
}

/* fork.h: the waiters were other threads, which are gone */
static void waitq_after_fork_child(struct gr_task *self)
{
	(void)self;
	for (int i = 0; i < NBUCKETS; i++)
		buckets[i] = (struct bucket){.lock = GR_LOCK_INIT};
}
GR_AFTER_FORK(GR_FORK_WAITQ, waitq_after_fork_child);

int gr_waitq_wake(const void *addr, int n)
{
	return gr_waitq_wake_bits(addr, ~0u, n);
}
