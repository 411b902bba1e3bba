/*
 * runq.c — local run queues and the global queue (see runq.h).
 *
 * Memory order: the owner publishes a slot with a release store of tail; takers read tail with
 * acquire, read the slots, then claim them with a CAS on head (acq_rel). A slot is only
 * overwritten by the owner after head has moved past it, so a taker whose CAS succeeds read
 * values that were still current.
 */
#include "runq.h"

#include "sys.h"
#include "task.h"

bool gr_runq_put(struct gr_runq *q, struct gr_task *t)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (tl - h >= GR_RUNQ_SIZE)
		return false;
	atomic_store_explicit(&q->slot[tl % GR_RUNQ_SIZE], t, memory_order_relaxed);
	atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
	return true;
}

struct gr_task *gr_runq_get(struct gr_runq *q)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);

	if (q->owner_only) {
		struct gr_task *t;

		if (atomic_load_explicit(&q->tail, memory_order_relaxed) == h)
			return NULL;
		t = atomic_load_explicit(&q->slot[h % GR_RUNQ_SIZE], memory_order_relaxed);
		atomic_store_explicit(&q->head, h + 1, memory_order_relaxed);
		return t;
	}
	for (;;) {
		uint32_t tl = atomic_load_explicit(&q->tail, memory_order_acquire);
		struct gr_task *t;

		if (tl == h)
			return NULL;
		t = atomic_load_explicit(&q->slot[h % GR_RUNQ_SIZE], memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return t;
	}
}

uint32_t gr_runq_take_half(struct gr_runq *q, struct gr_task **out)
{
	uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t n = (tl - h) / 2;

	for (uint32_t i = 0; i < n; i++)
		out[i] = atomic_load_explicit(&q->slot[(h + i) % GR_RUNQ_SIZE],
					      memory_order_relaxed);
	if (q->owner_only)
		atomic_store_explicit(&q->head, h + n, memory_order_relaxed);
	else if (!atomic_compare_exchange_strong_explicit(&q->head, &h, h + n,
							  memory_order_acq_rel,
							  memory_order_acquire))
		return 0;
	return n;
}

#define NEXT_GRACE_NS 3000

/* victim's `next`, once it has stayed there NEXT_GRACE_NS, into dst's (empty) ring */
static uint32_t steal_next(struct gr_runq *dst, struct gr_runq *victim)
{
	struct gr_task *t = atomic_load_explicit(&victim->next, memory_order_acquire);
	int64_t until;
	uint32_t dt;

	if (!t)
		return 0;
	until = gr_nanotime() + NEXT_GRACE_NS;
	while (gr_nanotime() < until)
		gr_cpu_relax();
	if (!atomic_compare_exchange_strong_explicit(&victim->next, &t, NULL, memory_order_acq_rel,
						     memory_order_relaxed))
		return 0;
	dt = atomic_load_explicit(&dst->tail, memory_order_relaxed);
	atomic_store_explicit(&dst->slot[dt % GR_RUNQ_SIZE], t, memory_order_relaxed);
	atomic_store_explicit(&dst->tail, dt + 1, memory_order_release);
	return 1;
}

uint32_t gr_runq_steal(struct gr_runq *dst, struct gr_runq *victim)
{
	uint32_t dt = atomic_load_explicit(&dst->tail, memory_order_relaxed);
	uint32_t dh = atomic_load_explicit(&dst->head, memory_order_acquire);
	uint32_t room = GR_RUNQ_SIZE - (dt - dh);

	for (;;) {
		uint32_t h = atomic_load_explicit(&victim->head, memory_order_acquire);
		uint32_t tl = atomic_load_explicit(&victim->tail, memory_order_acquire);
		uint32_t n = tl - h;

		n -= n / 2;
		if (n > room)
			n = room;
		if (tl - h > GR_RUNQ_SIZE)
			continue; /* head and tail read at different times: read again */
		if (n == 0)
			return room ? steal_next(dst, victim) : 0;
		for (uint32_t i = 0; i < n; i++) {
			struct gr_task *t = atomic_load_explicit(
				&victim->slot[(h + i) % GR_RUNQ_SIZE], memory_order_relaxed);

			atomic_store_explicit(&dst->slot[(dt + i) % GR_RUNQ_SIZE], t,
					      memory_order_relaxed);
		}
		if (atomic_compare_exchange_strong_explicit(&victim->head, &h, h + n,
							    memory_order_acq_rel,
							    memory_order_acquire)) {
			atomic_store_explicit(&dst->tail, dt + n, memory_order_release);
			return n;
		}
	}
}

void gr_globq_put(struct gr_globq *g, struct gr_task **tasks, uint32_t n)
{
	if (!n)
		return;
	for (uint32_t i = 0; i + 1 < n; i++)
		tasks[i]->next = tasks[i + 1];
	tasks[n - 1]->next = NULL;
	gr_lock(&g->lock);
	if (g->tail)
		g->tail->next = tasks[0];
	else
		g->head = tasks[0];
	g->tail = tasks[n - 1];
	atomic_fetch_add_explicit(&g->len, n, memory_order_seq_cst);
	gr_unlock(&g->lock);
}

struct gr_task *gr_globq_get(struct gr_globq *g)
{
	struct gr_task *t;

	if (!atomic_load_explicit(&g->len, memory_order_acquire))
		return NULL;
	gr_lock(&g->lock);
	t = g->head;
	if (t) {
		g->head = t->next;
		if (!g->head)
			g->tail = NULL;
		atomic_fetch_sub_explicit(&g->len, 1, memory_order_relaxed);
	}
	gr_unlock(&g->lock);
	return t;
}

uint32_t gr_globq_get_batch(struct gr_globq *g, struct gr_task **out, uint32_t max)
{
	uint32_t n = 0;

	if (!atomic_load_explicit(&g->len, memory_order_acquire))
		return 0;
	gr_lock(&g->lock);
	while (n < max && g->head) {
		out[n++] = g->head;
		g->head = g->head->next;
	}
	if (!g->head)
		g->tail = NULL;
	atomic_fetch_sub_explicit(&g->len, n, memory_order_relaxed);
	gr_unlock(&g->lock);
	return n;
}
