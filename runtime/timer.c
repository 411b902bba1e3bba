/*
 * timer.c — per-processor timer heaps (see timer.h for the states and the lazy stop).
 */
#include "timer.h"

#include <stdlib.h>

#include "throw.h"

void gr_timers_init(struct gr_timers *h)
{
	h->heap = NULL;
	h->n = h->cap = 0;
	atomic_store(&h->next, GR_NEVER);
	h->lock = (gr_lock_t)GR_LOCK_INIT;
}

void gr_timer_init(struct gr_timer *t, gr_timer_fire_fn *fire)
{
	t->when = 0;
	t->fire = fire;
	t->heap = NULL;
	t->idx = GR_TIMER_IDLE;
	t->armed = false;
}

static void place(struct gr_timers *h, size_t i, struct gr_timer_slot s)
{
	h->heap[i] = s;
	s.t->idx = i;
}

static void sift_up(struct gr_timers *h, size_t i)
{
	struct gr_timer_slot s = h->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->heap[parent].key <= s.key)
			break;
		place(h, i, h->heap[parent]);
		i = parent;
	}
	place(h, i, s);
}

static void sift_down(struct gr_timers *h, size_t i)
{
	struct gr_timer_slot s = h->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->heap[c + 1].key < h->heap[c].key)
			c++;
		if (s.key <= h->heap[c].key)
			break;
		place(h, i, h->heap[c]);
		i = c;
	}
	place(h, i, s);
}

static void publish_next(struct gr_timers *h)
{
	atomic_store_explicit(&h->next, h->n ? h->heap[0].key : GR_NEVER, memory_order_release);
}

/* take slot i out of h; its timer still names h until the caller lets it go; lock held */
static struct gr_timer *take_slot(struct gr_timers *h, size_t i)
{
	struct gr_timer *t = h->heap[i].t;

	h->n--;
	if (i != h->n) {
		place(h, i, h->heap[h->n]);
		sift_down(h, i);
		sift_up(h, i);
	}
	t->idx = GR_TIMER_IDLE;
	t->armed = false;
	return t;
}

/* t, out of its heap's slots, is idle: stops and detaches from here on return at once */
static void let_go(struct gr_timer *t) { __atomic_store_n(&t->heap, NULL, __ATOMIC_RELEASE); }

/* remove slot i; its timer is idle afterwards; lock held */
static void remove_at(struct gr_timers *h, size_t i) { let_go(take_slot(h, i)); }

void gr_timer_add(struct gr_timers *h, struct gr_timer *t, int64_t when)
{
	struct gr_timers *old = __atomic_load_n(&t->heap, __ATOMIC_ACQUIRE);

	/* only this caller gives t a slot: once out of another heap, it stays out */
	if (old && old != h)
		gr_timer_detach(t);
	gr_lock(&h->lock);
	t->when = when;
	t->armed = true;
	if (t->heap == h) {
		/* its stopped slot: a later deadline leaves the key early (re-keyed at the top) */
		if (when < h->heap[t->idx].key) {
			h->heap[t->idx].key = when;
			sift_up(h, t->idx);
			publish_next(h);
		}
		gr_unlock(&h->lock);
		return;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct gr_timer_slot *heap = realloc(h->heap, cap * sizeof *heap);

		if (!heap)
			gr_throw("runtime: out of memory growing a timer heap");
		h->heap = heap;
		h->cap = cap;
	}
	__atomic_store_n(&t->heap, h, __ATOMIC_RELEASE);
	place(h, h->n++, (struct gr_timer_slot){.key = when, .t = t});
	sift_up(h, h->n - 1);
	publish_next(h);
	gr_unlock(&h->lock);
}

bool gr_timer_del(struct gr_timer *t)
{
	for (;;) {
		struct gr_timers *h = __atomic_load_n(&t->heap, __ATOMIC_ACQUIRE);

		if (!h)
			return false;
		gr_lock(&h->lock);
		if (t->heap == h) {
			bool was_armed = t->armed;

			t->armed = false;
			gr_unlock(&h->lock);
			return was_armed;
		}
		gr_unlock(&h->lock);
	}
}

void gr_timer_detach(struct gr_timer *t)
{
	for (;;) {
		struct gr_timers *h = __atomic_load_n(&t->heap, __ATOMIC_ACQUIRE);

		if (!h)
			return;
		gr_lock(&h->lock);
		if (t->heap == h) {
			remove_at(h, t->idx);
			publish_next(h);
			gr_unlock(&h->lock);
			return;
		}
		gr_unlock(&h->lock);
	}
}

int gr_timers_run(struct gr_timers *h, int64_t now, void *arg)
{
	int fired = 0;

	if (gr_timers_next(h) > now)
		return 0;
	gr_lock(&h->lock);
	while (h->n && h->heap[0].key <= now) {
		struct gr_timer *t = h->heap[0].t;

		if (!t->armed) {
			remove_at(h, 0); /* stopped: its slot goes */
		} else if (h->heap[0].key != t->when) {
			/* armed again for later: into place by its deadline (which may be due too,
			 * but not before timers due earlier) */
			h->heap[0].key = t->when;
			sift_down(h, 0);
		} else {
			/* t names h until its fire is over, so a stop or a detach meanwhile
			 * waits for this lock (timer.h) */
			take_slot(h, 0);
			t->fire(t, arg);
			let_go(t);
			fired++;
		}
	}
	publish_next(h);
	gr_unlock(&h->lock);
	return fired;
}
