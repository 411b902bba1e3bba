/*
 * test_timer.c — gr_timers: a processor's heap of deadlines.
 *
 * The tests drive gr_timers_run with chosen `now` values (no clock), record what fires through
 * the run's arg, and check the heap's invariants directly (struct gr_timers is public).
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timer.h"

/*
 * In Check's fork mode every passing ck_assert records its location with a write to the
 * parent; REQ checks only report failures, for the hot loops.
 */
#define REQ(expr)                                                                              \
	do {                                                                                   \
		if (!(expr))                                                                   \
			ck_abort_msg("Assertion '%s' failed", #expr);                           \
	} while (0)
#define REQ_MSG(expr, ...)                                                                     \
	do {                                                                                   \
		if (!(expr))                                                                   \
			ck_abort_msg(__VA_ARGS__);                                             \
	} while (0)

struct rec {
	struct gr_timer t;
	int id;
};

struct firelog {
	struct rec **fired;
	size_t n, cap;
};

#define REC(tp) ((struct rec *)((char *)(tp) - offsetof(struct rec, t)))

static void on_fire(struct gr_timer *t, void *arg)
{
	struct firelog *log = arg;

	/* it is out of its heap's slots before it fires, and names the heap until the fire is
	 * over (a stop meanwhile waits for it) */
	REQ(t->heap != NULL);
	REQ(t->idx == GR_TIMER_IDLE);
	REQ(!t->armed);
	if (log->n == log->cap) {
		log->cap = log->cap ? 2 * log->cap : 64;
		log->fired = realloc(log->fired, log->cap * sizeof *log->fired);
		REQ(log->fired != NULL);
	}
	log->fired[log->n++] = REC(t);
}

static void log_reset(struct firelog *log) { log->n = 0; }

static void log_free(struct firelog *log)
{
	free(log->fired);
	memset(log, 0, sizeof *log);
}

/* min-heap order of the keys, back-pointers, keys no later than armed deadlines, `next` */
static void check_heap(struct gr_timers *h)
{
	for (size_t i = 0; i < h->n; i++) {
		struct gr_timer *t = h->heap[i].t;

		REQ(t->heap == h);
		REQ(t->idx == i);
		REQ_MSG(!t->armed || h->heap[i].key <= t->when,
			"slot %zu: key %lld after its armed deadline %lld", i,
			(long long)h->heap[i].key, (long long)t->when);
		if (i)
			REQ_MSG(h->heap[(i - 1) / 2].key <= h->heap[i].key,
				"heap order broken at %zu: parent %lld > child %lld", i,
				(long long)h->heap[(i - 1) / 2].key, (long long)h->heap[i].key);
	}
	REQ(gr_timers_next(h) == (h->n ? h->heap[0].key : GR_NEVER));
}

static void heap_free(struct gr_timers *h) { free(h->heap); }

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void shuffle(int *a, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd() % (uint64_t)(i + 1)), x = a[i];

		a[i] = a[j];
		a[j] = x;
	}
}

START_TEST(test_timer_fire_in_deadline_order)
{
	enum { N = 500 };
	struct gr_timers h;
	struct rec *r = calloc(N, sizeof *r);
	int order[N];
	struct firelog log = {0};

	gr_timers_init(&h);
	for (int i = 0; i < N; i++)
		order[i] = i;
	shuffle(order, N);
	for (int k = 0; k < N; k++) {
		int i = order[k];

		r[i].id = i;
		gr_timer_init(&r[i].t, on_fire);
		gr_timer_add(&h, &r[i].t, 1000 + 10 * (int64_t)i);
		ck_assert_ptr_eq(r[i].t.heap, &h);
		check_heap(&h);
	}
	ck_assert_int_eq(gr_timers_run(&h, GR_NEVER - 1, &log), N);
	ck_assert_uint_eq(log.n, N);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(log.fired[i]->id, i);
	ck_assert_uint_eq(h.n, 0);
	ck_assert_int_eq(gr_timers_next(&h), GR_NEVER);
	ck_assert_int_eq(gr_timers_run(&h, GR_NEVER - 1, &log), 0);
	log_free(&log);
	heap_free(&h);
	free(r);
}
END_TEST

START_TEST(test_timer_only_due_fire)
{
	struct gr_timers h;
	struct rec r[6];
	const int64_t when[6] = {50, 10, 40, 20, 30, 60};
	struct firelog log = {0};

	gr_timers_init(&h);
	for (int i = 0; i < 6; i++) {
		r[i].id = i;
		gr_timer_init(&r[i].t, on_fire);
		gr_timer_add(&h, &r[i].t, when[i]);
	}
	ck_assert_int_eq(gr_timers_run(&h, 9, &log), 0);
	ck_assert_uint_eq(log.n, 0);
	/* due at or before now: 10 and 20 (20 == now) */
	ck_assert_int_eq(gr_timers_run(&h, 20, &log), 2);
	ck_assert_uint_eq(log.n, 2);
	ck_assert_int_eq(log.fired[0]->id, 1);
	ck_assert_int_eq(log.fired[1]->id, 3);
	ck_assert_uint_eq(h.n, 4);
	ck_assert_int_eq(gr_timers_next(&h), 30);
	check_heap(&h);
	/* the same now again: nothing more */
	ck_assert_int_eq(gr_timers_run(&h, 20, &log), 0);
	log_reset(&log);
	ck_assert_int_eq(gr_timers_run(&h, 49, &log), 2);
	ck_assert_int_eq(log.fired[0]->id, 4);
	ck_assert_int_eq(log.fired[1]->id, 2);
	ck_assert_int_eq(gr_timers_next(&h), 50);
	log_reset(&log);
	ck_assert_int_eq(gr_timers_run(&h, 1000, &log), 2);
	ck_assert_int_eq(log.fired[0]->id, 0);
	ck_assert_int_eq(log.fired[1]->id, 5);
	ck_assert_int_eq(gr_timers_next(&h), GR_NEVER);
	/* negative and equal deadlines */
	log_reset(&log);
	gr_timer_add(&h, &r[0].t, -5);
	gr_timer_add(&h, &r[1].t, -5);
	gr_timer_add(&h, &r[2].t, -6);
	ck_assert_int_eq(gr_timers_next(&h), -6);
	ck_assert_int_eq(gr_timers_run(&h, -6, &log), 1);
	ck_assert_int_eq(log.fired[0]->id, 2);
	ck_assert_int_eq(gr_timers_run(&h, -5, &log), 2);
	ck_assert_uint_eq(log.n, 3);
	ck_assert_int_eq(gr_timers_next(&h), GR_NEVER);
	log_free(&log);
	heap_free(&h);
}
END_TEST

START_TEST(test_timer_next_tracks_earliest)
{
	struct gr_timers h;
	struct rec r[4];
	struct firelog log = {0};

	gr_timers_init(&h);
	ck_assert_int_eq(gr_timers_next(&h), GR_NEVER);
	for (int i = 0; i < 4; i++) {
		r[i].id = i;
		gr_timer_init(&r[i].t, on_fire);
	}
	gr_timer_add(&h, &r[0].t, 300);
	ck_assert_int_eq(gr_timers_next(&h), 300);
	gr_timer_add(&h, &r[1].t, 400);
	ck_assert_int_eq(gr_timers_next(&h), 300);
	gr_timer_add(&h, &r[2].t, 100);
	ck_assert_int_eq(gr_timers_next(&h), 100);
	gr_timer_add(&h, &r[3].t, 200);
	ck_assert_int_eq(gr_timers_next(&h), 100);
	/* stopping leaves the slots: `next` may be early, never late */
	ck_assert(gr_timer_del(&r[2].t)); /* the earliest */
	ck_assert_int_eq(gr_timers_next(&h), 100);
	ck_assert(gr_timer_del(&r[1].t)); /* not the earliest */
	ck_assert_int_eq(gr_timers_next(&h), 100);
	ck_assert_uint_eq(h.n, 4);
	/* a look at 150 fires nothing and drops the stopped top slot */
	ck_assert_int_eq(gr_timers_run(&h, 150, &log), 0);
	ck_assert_int_eq(gr_timers_next(&h), 200);
	ck_assert_uint_eq(h.n, 3);
	ck_assert_int_eq(gr_timers_run(&h, 250, &log), 1);
	ck_assert_int_eq(gr_timers_next(&h), 300);
	ck_assert(gr_timer_del(&r[0].t));
	ck_assert_int_eq(gr_timers_run(&h, 1000, &log), 0);
	ck_assert_int_eq(gr_timers_next(&h), GR_NEVER);
	ck_assert_uint_eq(h.n, 0);
	check_heap(&h);
	log_free(&log);
	heap_free(&h);
}
END_TEST

START_TEST(test_timer_del)
{
	struct gr_timers h;
	struct rec a = {.id = 1}, b = {.id = 2}, c = {.id = 3}, never = {.id = 4};
	struct firelog log = {0};

	gr_timers_init(&h);
	gr_timer_init(&a.t, on_fire);
	gr_timer_init(&b.t, on_fire);
	gr_timer_init(&c.t, on_fire);
	gr_timer_init(&never.t, on_fire);

	/* never added */
	ck_assert(!gr_timer_del(&never.t));

	gr_timer_add(&h, &a.t, 10);
	gr_timer_add(&h, &b.t, 20);
	gr_timer_add(&h, &c.t, 30);
	/* an armed timer: stopped (its slot stays until it reaches the top), never fires */
	ck_assert(gr_timer_del(&b.t));
	ck_assert_ptr_eq(b.t.heap, &h);
	ck_assert(!b.t.armed);
	ck_assert(!gr_timer_del(&b.t)); /* twice */
	check_heap(&h);
	ck_assert_int_eq(gr_timers_run(&h, 100, &log), 2);
	ck_assert_uint_eq(log.n, 2);
	ck_assert_ptr_eq(log.fired[0], &a);
	ck_assert_ptr_eq(log.fired[1], &c);
	ck_assert_ptr_null(b.t.heap);
	ck_assert_uint_eq(b.t.idx, GR_TIMER_IDLE);
	ck_assert_uint_eq(h.n, 0);
	/* fired */
	ck_assert(!gr_timer_del(&a.t));
	ck_assert(!gr_timer_del(&c.t));

	/* re-added after del: fires at its new deadline */
	log_reset(&log);
	gr_timer_add(&h, &b.t, 150);
	ck_assert_ptr_eq(b.t.heap, &h);
	ck_assert_int_eq(gr_timers_next(&h), 150);
	ck_assert_int_eq(gr_timers_run(&h, 149, &log), 0);
	ck_assert_int_eq(gr_timers_run(&h, 150, &log), 1);
	ck_assert_ptr_eq(log.fired[0], &b);
	ck_assert(!gr_timer_del(&b.t));

	/* re-added after firing, deleted, re-added again */
	log_reset(&log);
	gr_timer_add(&h, &a.t, 500);
	ck_assert(gr_timer_del(&a.t));
	gr_timer_add(&h, &a.t, 400);
	ck_assert_int_eq(gr_timers_next(&h), 400);
	ck_assert_int_eq(gr_timers_run(&h, 1000, &log), 1);
	ck_assert_ptr_eq(log.fired[0], &a);

	/* a timer moved to another heap: del finds the right one */
	struct gr_timers h2;
	gr_timers_init(&h2);
	gr_timer_add(&h2, &c.t, 5);
	gr_timer_add(&h, &never.t, 5);
	ck_assert_int_eq(gr_timers_next(&h2), 5);
	ck_assert(gr_timer_del(&c.t));
	ck_assert_int_eq(gr_timers_next(&h), 5);
	ck_assert_uint_eq(h.n, 1);
	/* its stopped slot in h2 moves with it when it is armed in h */
	gr_timer_add(&h, &c.t, 7);
	ck_assert_ptr_eq(c.t.heap, &h);
	ck_assert_uint_eq(h2.n, 0);
	ck_assert_int_eq(gr_timers_next(&h2), GR_NEVER);
	ck_assert_uint_eq(h.n, 2);
	check_heap(&h);
	ck_assert(gr_timer_del(&never.t));
	ck_assert(gr_timer_del(&c.t));
	log_free(&log);
	heap_free(&h);
	heap_free(&h2);
}
END_TEST

/* ---- randomized against a reference model ---- */

enum { ARMED, IDLE, FIRED };

struct model {
	int64_t when;
	int state;
};

static int cmp_rec_when(const void *pa, const void *pb, void *arg)
{
	const struct model *m = arg;
	int a = (*(struct rec *const *)pa)->id, b = (*(struct rec *const *)pb)->id;

	if (m[a].when != m[b].when)
		return m[a].when < m[b].when ? -1 : 1;
	return (a > b) - (a < b);
}

START_TEST(test_timer_random_10k_against_model)
{
	enum { N = 10000 };
	struct gr_timers h;
	struct rec *r = calloc(N, sizeof *r);
	struct model *m = calloc(N, sizeof *m);
	struct rec **expect = calloc(N, sizeof *expect);
	struct firelog log = {0};
	int64_t now = 0;
	size_t total_fired = 0, total_deleted = 0;

	rng_state = 0x9e3779b97f4a7c15ull;
	gr_timers_init(&h);
	for (int i = 0; i < N; i++) {
		r[i].id = i;
		gr_timer_init(&r[i].t, on_fire);
		m[i].state = IDLE;
	}
	/* all armed, with many equal deadlines */
	for (int i = 0; i < N; i++) {
		m[i].when = (int64_t)(rnd() % 50000);
		m[i].state = ARMED;
		gr_timer_add(&h, &r[i].t, m[i].when);
	}
	check_heap(&h);

	for (int step = 0; step < 400; step++) {
		/* random deletions (armed or not) */
		int ndel = (int)(rnd() % 40);
		for (int k = 0; k < ndel; k++) {
			int i = (int)(rnd() % N);
			bool want = m[i].state == ARMED;

			REQ_MSG(gr_timer_del(&r[i].t) == want, "del of timer %d (state %d)",
				      i, m[i].state);
			if (want) {
				m[i].state = IDLE;
				total_deleted++;
			}
		}
		/* random (re-)adds of timers in no heap, some already due */
		int nadd = (int)(rnd() % 30);
		for (int k = 0; k < nadd; k++) {
			int i = (int)(rnd() % N);

			if (m[i].state == ARMED)
				continue;
			m[i].when = now - 100 + (int64_t)(rnd() % 20000);
			m[i].state = ARMED;
			gr_timer_add(&h, &r[i].t, m[i].when);
		}
		check_heap(&h);

		/* the model's earliest */
		int64_t min = GR_NEVER;
		size_t armed = 0;
		for (int i = 0; i < N; i++)
			if (m[i].state == ARMED) {
				armed++;
				if (m[i].when < min)
					min = m[i].when;
			}
		REQ(h.n >= armed); /* and stopped slots not yet at the top */
		REQ(gr_timers_next(&h) <= min);

		/* advance and run: exactly the due ones, in deadline order */
		now += (int64_t)(rnd() % 300);
		size_t ne = 0;
		for (int i = 0; i < N; i++)
			if (m[i].state == ARMED && m[i].when <= now)
				expect[ne++] = &r[i];
		qsort_r(expect, ne, sizeof *expect, cmp_rec_when, m);

		log_reset(&log);
		int fired = gr_timers_run(&h, now, &log);
		REQ((fired) == ((int)ne));
		REQ((log.n) == (ne));
		for (size_t k = 0; k < ne; k++) {
			struct rec *f = log.fired[k];

			REQ_MSG(m[f->id].state == ARMED && m[f->id].when <= now,
				      "timer %d fired (state %d, when %lld, now %lld)", f->id,
				      m[f->id].state, (long long)m[f->id].when, (long long)now);
			if (k)
				REQ((m[log.fired[k - 1]->id].when) <= (m[f->id].when));
			m[f->id].state = FIRED;
		}
		/* same multiset as the sorted model (ties in any order) */
		qsort_r(log.fired, log.n, sizeof *log.fired, cmp_rec_when, m);
		for (size_t k = 0; k < ne; k++)
			REQ((log.fired[k]) == (expect[k]));
		total_fired += ne;
		REQ(gr_timers_next(&h) > now);
		check_heap(&h);
	}
	/* the rest, all at once */
	size_t ne = 0;
	for (int i = 0; i < N; i++)
		if (m[i].state == ARMED)
			expect[ne++] = &r[i];
	qsort_r(expect, ne, sizeof *expect, cmp_rec_when, m);
	log_reset(&log);
	REQ((gr_timers_run(&h, GR_NEVER - 1, &log)) == ((int)ne));
	for (size_t k = 1; k < ne; k++)
		REQ((m[log.fired[k - 1]->id].when) <= (m[log.fired[k]->id].when));
	qsort_r(log.fired, log.n, sizeof *log.fired, cmp_rec_when, m);
	for (size_t k = 0; k < ne; k++)
		REQ((log.fired[k]) == (expect[k]));
	REQ((h.n) == (0));
	REQ((gr_timers_next(&h)) == (GR_NEVER));
	/* it did exercise both paths */
	ck_assert_uint_gt(total_fired, 1000);
	ck_assert_uint_gt(total_deleted, 1000);
	log_free(&log);
	heap_free(&h);
	free(expect);
	free(m);
	free(r);
}
END_TEST

/* fire everything left and check it comes in nondecreasing deadline order */
static void drain_in_order(struct gr_timers *h, size_t want)
{
	struct firelog log = {0};

	REQ(gr_timers_run(h, GR_NEVER - 1, &log) == (int)want);
	for (size_t k = 1; k < log.n; k++)
		REQ_MSG(log.fired[k - 1]->t.when <= log.fired[k]->t.when,
			      "fired out of order at %zu: %lld then %lld", k,
			      (long long)log.fired[k - 1]->t.when, (long long)log.fired[k]->t.when);
	log_free(&log);
}

START_TEST(test_timer_detach_middle_keeps_heap_order)
{
	struct gr_timers h;

	/*
	 * A case where the last element, moved into the deleted slot, is smaller than that slot's
	 * parent (it must sift up, not down): heap [1, 100, 2, 101, 102, 3, 4]; delete 101 at
	 * index 3; 4 moves there under 100.
	 */
	{
		const int64_t w[7] = {1, 100, 2, 101, 102, 3, 4};
		struct rec r[7];

		gr_timers_init(&h);
		for (int i = 0; i < 7; i++) {
			r[i].id = i;
			gr_timer_init(&r[i].t, on_fire);
			gr_timer_add(&h, &r[i].t, w[i]);
		}
		for (int i = 0; i < 7; i++)
			ck_assert_int_eq(h.heap[i].key, w[i]); /* the layout the case needs */
		ck_assert_uint_eq(r[3].t.idx, 3);
		gr_timer_detach(&r[3].t);
		ck_assert_ptr_null(r[3].t.heap);
		check_heap(&h);
		drain_in_order(&h, 6);
		heap_free(&h);
	}

	/* and the one that must sift down: delete 100 at index 1 of [1, 100, 2, 101, 102, 3, 400] */
	{
		const int64_t w[7] = {1, 100, 2, 101, 102, 3, 400};
		struct rec r[7];

		gr_timers_init(&h);
		for (int i = 0; i < 7; i++) {
			r[i].id = i;
			gr_timer_init(&r[i].t, on_fire);
			gr_timer_add(&h, &r[i].t, w[i]);
		}
		gr_timer_detach(&r[1].t);
		check_heap(&h);
		drain_in_order(&h, 6);
		heap_free(&h);
	}

	/* random heaps, one deletion at each position in turn, and several in a row */
	rng_state = 0x1234567887654321ull;
	for (int trial = 0; trial < 300; trial++) {
		size_t n = 1 + rnd() % 200;
		struct rec *r = calloc(n, sizeof *r);

		for (size_t pos = 0; pos < n; pos += 1 + n / 16) {
			gr_timers_init(&h);
			for (size_t i = 0; i < n; i++) {
				r[i].id = (int)i;
				gr_timer_init(&r[i].t, on_fire);
				gr_timer_add(&h, &r[i].t, (int64_t)(rnd() % 1000));
			}
			struct gr_timer *victim = h.heap[pos].t;
			gr_timer_detach(victim);
			REQ(victim->heap == NULL);
			REQ(!gr_timer_del(victim));
			check_heap(&h);
			size_t left = n - 1;
			/* a few more deletions from the middle */
			for (int k = 0; k < 3 && h.n > 2; k++) {
				gr_timer_detach(h.heap[h.n / 2].t);
				left--;
				check_heap(&h);
			}
			drain_in_order(&h, left);
			REQ((h.n) == (0));
			REQ(!gr_timer_del(victim));
			heap_free(&h);
		}
		free(r);
	}
}
END_TEST

/* a timer stopped and armed again in the same heap keeps its slot: no heap work per wait */
START_TEST(test_timer_rearm_reuses_slot)
{
	struct gr_timers h;
	struct rec a = {.id = 1}, other = {.id = 2};
	struct firelog log = {0};

	gr_timers_init(&h);
	gr_timer_init(&a.t, on_fire);
	gr_timer_init(&other.t, on_fire);
	gr_timer_add(&h, &other.t, 300);

	/* later: the slot keeps its early key, re-keyed when it reaches the top */
	gr_timer_add(&h, &a.t, 100);
	for (int64_t when = 200; when <= 1000; when += 100) {
		ck_assert(gr_timer_del(&a.t));
		gr_timer_add(&h, &a.t, when);
		ck_assert_uint_eq(h.n, 2);
		ck_assert_int_eq(h.heap[a.t.idx].key, 100);
		check_heap(&h);
	}
	ck_assert_int_eq(gr_timers_next(&h), 100);
	ck_assert_int_eq(gr_timers_run(&h, 100, &log), 0);
	ck_assert_int_eq(h.heap[a.t.idx].key, 1000);
	ck_assert_int_eq(gr_timers_next(&h), 300);
	check_heap(&h);
	ck_assert_int_eq(gr_timers_run(&h, 999, &log), 1); /* only the other one */
	ck_assert_ptr_eq(log.fired[0], &other);
	ck_assert_int_eq(gr_timers_run(&h, 1000, &log), 1);
	ck_assert_ptr_eq(log.fired[1], &a);
	ck_assert_uint_eq(h.n, 0);

	/* earlier: the key moves up at once */
	gr_timer_add(&h, &other.t, 500);
	gr_timer_add(&h, &a.t, 1000);
	ck_assert(gr_timer_del(&a.t));
	gr_timer_add(&h, &a.t, 200);
	ck_assert_uint_eq(h.n, 2);
	ck_assert_int_eq(gr_timers_next(&h), 200);
	check_heap(&h);
	log_reset(&log);
	ck_assert_int_eq(gr_timers_run(&h, 200, &log), 1);
	ck_assert_ptr_eq(log.fired[0], &a);
	ck_assert(gr_timer_del(&other.t));
	log_free(&log);
	heap_free(&h);
}
END_TEST

/* detach takes the slot out whatever the state: armed, stopped, or none */
START_TEST(test_timer_detach)
{
	struct gr_timers h;
	struct rec a = {.id = 1}, b = {.id = 2}, idle = {.id = 3};
	struct firelog log = {0};

	gr_timers_init(&h);
	gr_timer_init(&a.t, on_fire);
	gr_timer_init(&b.t, on_fire);
	gr_timer_init(&idle.t, on_fire);
	gr_timer_add(&h, &a.t, 10);
	gr_timer_add(&h, &b.t, 20);
	ck_assert(gr_timer_del(&b.t));

	gr_timer_detach(&a.t); /* armed */
	ck_assert_ptr_null(a.t.heap);
	ck_assert(!a.t.armed);
	ck_assert(!gr_timer_del(&a.t));
	gr_timer_detach(&b.t); /* stopped */
	ck_assert_ptr_null(b.t.heap);
	gr_timer_detach(&idle.t); /* no slot */
	ck_assert_ptr_null(idle.t.heap);
	ck_assert_uint_eq(h.n, 0);
	ck_assert_int_eq(gr_timers_next(&h), GR_NEVER);
	ck_assert_int_eq(gr_timers_run(&h, 1000, &log), 0);
	log_free(&log);
	heap_free(&h);
}
END_TEST

/* ---- stopping a timer while another thread fires it ---- */

struct slow_fire {
	struct gr_timer t;
	atomic_int firing, fired;
};

/* the fire of a carrier preempted in it: slow enough that a stop that does not wait shows */
static void on_slow_fire(struct gr_timer *t, void *arg)
{
	struct slow_fire *f = (struct slow_fire *)((char *)t - offsetof(struct slow_fire, t));

	(void)arg;
	atomic_store(&f->firing, 1);
	nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
	atomic_store(&f->fired, 1);
}

static void *run_due(void *h)
{
	gr_timers_run(h, 100, NULL);
	return NULL;
}

/*
 * gr_timer_del and gr_timer_detach of a timer that another thread is firing return only once
 * its fire is over: a task woken by readiness as its deadline fires goes on to its next wait,
 * whose sequence number a fire still running would read and end with a timeout (and a task
 * that exits reuses its record). Before they waited, both returned at once (timer.h's promise
 * broken: "has already fired").
 */
START_TEST(test_timer_stop_waits_for_its_fire)
{
	for (int detach = 0; detach < 2; detach++) {
		struct gr_timers h;
		struct slow_fire f = {0};
		pthread_t runner;

		gr_timers_init(&h);
		gr_timer_init(&f.t, on_slow_fire);
		gr_timer_add(&h, &f.t, 10);
		ck_assert_int_eq(pthread_create(&runner, NULL, run_due, &h), 0);
		while (!atomic_load(&f.firing))
			sched_yield();
		if (detach)
			gr_timer_detach(&f.t);
		else
			ck_assert(!gr_timer_del(&f.t));
		ck_assert_msg(atomic_load(&f.fired), "gr_timer_%s returned while its timer fired",
			      detach ? "detach" : "del");
		ck_assert_ptr_null(f.t.heap);
		ck_assert_int_eq(pthread_join(runner, NULL), 0);
		heap_free(&h);
	}
}
END_TEST

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("heap");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_timer_fire_in_deadline_order);
	tcase_add_test(tc, test_timer_only_due_fire);
	tcase_add_test(tc, test_timer_next_tracks_earliest);
	tcase_add_test(tc, test_timer_del);
	tcase_add_test(tc, test_timer_random_10k_against_model);
	tcase_add_test(tc, test_timer_detach_middle_keeps_heap_order);
	tcase_add_test(tc, test_timer_rearm_reuses_slot);
	tcase_add_test(tc, test_timer_detach);
	tcase_add_test(tc, test_timer_stop_waits_for_its_fire);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(timer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
