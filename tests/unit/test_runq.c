/*
 * test_runq.c — gr_runq (a processor's local run queue) and gr_globq (the global queue).
 *
 * The queues only store task pointers (gr_globq also links them through gr_task.next), so the
 * tasks here are fake records in an array. Runs as a plain pthread program, not under the shim.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "runq.h"
#include "task.h"

#define NT 1024
static struct gr_task tasks[NT];

static struct gr_runq *new_runq(void)
{
	struct gr_runq *q = calloc(1, sizeof *q);

	ck_assert_ptr_nonnull(q);
	return q;
}

/*
 * A queue whose head and tail start at `start` (to cross the ring and the uint32 wrap). Tests
 * that use it run twice (Check loop tests): _i = 0 a shared queue, _i = 1 an owner_only one,
 * which must behave the same for its owner.
 */
static int owner_only_mode;

/* every test starts with shared queues (steal tests need them) */
static void shared_mode(void) { owner_only_mode = 0; }

static struct gr_runq *new_runq_at(uint32_t start)
{
	struct gr_runq *q = new_runq();

	q->owner_only = owner_only_mode;
	atomic_store(&q->head, start);
	atomic_store(&q->tail, start);
	return q;
}

static const uint32_t starts[] = {0, 100, GR_RUNQ_SIZE - 1, UINT32_MAX - 5, UINT32_MAX - 300};
#define NSTARTS (sizeof starts / sizeof starts[0])

START_TEST(test_runq_put_get_fifo)
{
	owner_only_mode = _i;
	for (size_t s = 0; s < NSTARTS; s++) {
		struct gr_runq *q = new_runq_at(starts[s]);

		ck_assert_ptr_null(gr_runq_get(q));
		ck_assert_uint_eq(gr_runq_len(q), 0);
		/* several rounds, so the ring wraps around */
		for (int round = 0; round < 5; round++) {
			for (int i = 0; i < 200; i++) {
				ck_assert(gr_runq_put(q, &tasks[i]));
				ck_assert_uint_eq(gr_runq_len(q), (uint32_t)i + 1);
			}
			for (int i = 0; i < 200; i++) {
				ck_assert_ptr_eq(gr_runq_get(q), &tasks[i]);
				ck_assert_uint_eq(gr_runq_len(q), 199 - (uint32_t)i);
			}
			ck_assert_ptr_null(gr_runq_get(q));
		}
		/* interleaved put/get keeps FIFO (the length wanders within capacity) */
		int next_put = 0, next_get = 0;
		unsigned seed = 1;
		for (int i = 0; i < 5000; i++) {
			uint32_t len = (uint32_t)(next_put - next_get);

			seed = seed * 1103515245 + 12345;
			ck_assert_uint_eq(gr_runq_len(q), len);
			if (len == 0 || (len < GR_RUNQ_SIZE && (seed >> 16) % 5 < 3)) {
				ck_assert(gr_runq_put(q, &tasks[next_put % NT]));
				next_put++;
			} else {
				ck_assert_ptr_eq(gr_runq_get(q), &tasks[next_get % NT]);
				next_get++;
			}
		}
		while (next_get < next_put) {
			ck_assert_ptr_eq(gr_runq_get(q), &tasks[next_get % NT]);
			next_get++;
		}
		ck_assert_ptr_null(gr_runq_get(q));
		free(q);
	}
}
END_TEST

/* `next`: put displaces the one before, get takes it once; the ring is not touched */
START_TEST(test_runq_next_slot)
{
	struct gr_runq *q;

	owner_only_mode = _i;
	q = new_runq_at(0);
	ck_assert_ptr_null(gr_runq_get_next(q));
	ck_assert_ptr_null(gr_runq_put_next(q, &tasks[1]));
	ck_assert_uint_eq(gr_runq_len(q), 1);
	ck_assert_ptr_eq(gr_runq_put_next(q, &tasks[2]), &tasks[1]);
	ck_assert_ptr_null(gr_runq_get(q));
	ck_assert_ptr_eq(gr_runq_get_next(q), &tasks[2]);
	ck_assert_ptr_null(gr_runq_get_next(q));
	ck_assert_uint_eq(gr_runq_len(q), 0);
	free(q);
}
END_TEST

START_TEST(test_runq_put_fails_when_full)
{
	for (size_t s = 0; s < NSTARTS; s++) {
		struct gr_runq *q = new_runq_at(starts[s]);

		for (int i = 0; i < GR_RUNQ_SIZE; i++)
			ck_assert_msg(gr_runq_put(q, &tasks[i]), "put %d of %d failed", i,
				      GR_RUNQ_SIZE);
		ck_assert_uint_eq(gr_runq_len(q), GR_RUNQ_SIZE);
		ck_assert(!gr_runq_put(q, &tasks[GR_RUNQ_SIZE]));
		ck_assert(!gr_runq_put(q, &tasks[GR_RUNQ_SIZE]));
		ck_assert_uint_eq(gr_runq_len(q), GR_RUNQ_SIZE);
		/* the failed puts overwrote nothing */
		ck_assert_ptr_eq(gr_runq_get(q), &tasks[0]);
		ck_assert(gr_runq_put(q, &tasks[GR_RUNQ_SIZE]));
		ck_assert(!gr_runq_put(q, &tasks[GR_RUNQ_SIZE + 1]));
		for (int i = 1; i <= GR_RUNQ_SIZE; i++)
			ck_assert_ptr_eq(gr_runq_get(q), &tasks[i]);
		ck_assert_ptr_null(gr_runq_get(q));
		free(q);
	}
}
END_TEST

START_TEST(test_runq_take_half_takes_oldest)
{
	struct gr_task *out[GR_RUNQ_SIZE];

	owner_only_mode = _i;
	for (size_t s = 0; s < NSTARTS; s++) {
		struct gr_runq *q = new_runq_at(starts[s]);

		/* the documented use: a full queue */
		for (int i = 0; i < GR_RUNQ_SIZE; i++)
			ck_assert(gr_runq_put(q, &tasks[i]));
		ck_assert_uint_eq(gr_runq_take_half(q, out), GR_RUNQ_SIZE / 2);
		for (int i = 0; i < GR_RUNQ_SIZE / 2; i++)
			ck_assert_ptr_eq(out[i], &tasks[i]);
		ck_assert_uint_eq(gr_runq_len(q), GR_RUNQ_SIZE / 2);
		for (int i = GR_RUNQ_SIZE / 2; i < GR_RUNQ_SIZE; i++)
			ck_assert_ptr_eq(gr_runq_get(q), &tasks[i]);
		ck_assert_ptr_null(gr_runq_get(q));

		/* and any length: floor(n/2), oldest first */
		for (uint32_t n = 0; n <= GR_RUNQ_SIZE; n++) {
			for (uint32_t i = 0; i < n; i++)
				ck_assert(gr_runq_put(q, &tasks[i]));
			ck_assert_uint_eq(gr_runq_take_half(q, out), n / 2);
			for (uint32_t i = 0; i < n / 2; i++)
				ck_assert_ptr_eq(out[i], &tasks[i]);
			for (uint32_t i = n / 2; i < n; i++)
				ck_assert_ptr_eq(gr_runq_get(q), &tasks[i]);
			ck_assert_ptr_null(gr_runq_get(q));
		}
		free(q);
	}
}
END_TEST

START_TEST(test_runq_steal_half_in_order)
{
	for (size_t s = 0; s < NSTARTS; s++) {
		for (uint32_t n = 1; n <= GR_RUNQ_SIZE; n++) {
			struct gr_runq *victim = new_runq_at(starts[s]);
			struct gr_runq *dst = new_runq_at(starts[(s + 1) % NSTARTS]);
			uint32_t want = n - n / 2; /* half, rounded up */

			for (uint32_t i = 0; i < n; i++)
				ck_assert(gr_runq_put(victim, &tasks[i]));
			ck_assert_uint_eq(gr_runq_steal(dst, victim), want);
			ck_assert_uint_eq(gr_runq_len(dst), want);
			ck_assert_uint_eq(gr_runq_len(victim), n - want);
			for (uint32_t i = 0; i < want; i++)
				ck_assert_ptr_eq(gr_runq_get(dst), &tasks[i]);
			ck_assert_ptr_null(gr_runq_get(dst));
			for (uint32_t i = want; i < n; i++)
				ck_assert_ptr_eq(gr_runq_get(victim), &tasks[i]);
			ck_assert_ptr_null(gr_runq_get(victim));
			free(victim);
			free(dst);
		}
	}
}
END_TEST

START_TEST(test_runq_steal_from_empty)
{
	struct gr_runq *victim = new_runq_at(7), *dst = new_runq_at(3);

	ck_assert_uint_eq(gr_runq_steal(dst, victim), 0);
	ck_assert_uint_eq(gr_runq_len(dst), 0);
	ck_assert_uint_eq(gr_runq_len(victim), 0);
	ck_assert_ptr_null(gr_runq_get(dst));
	/* emptied by gets: still nothing to steal */
	ck_assert(gr_runq_put(victim, &tasks[0]));
	ck_assert_ptr_eq(gr_runq_get(victim), &tasks[0]);
	ck_assert_uint_eq(gr_runq_steal(dst, victim), 0);
	ck_assert_ptr_null(gr_runq_get(dst));
	/* one task: it is stolen (half rounded up) */
	ck_assert(gr_runq_put(victim, &tasks[1]));
	ck_assert_uint_eq(gr_runq_steal(dst, victim), 1);
	ck_assert_ptr_null(gr_runq_get(victim));
	ck_assert_ptr_eq(gr_runq_get(dst), &tasks[1]);
	free(victim);
	free(dst);
}
END_TEST

/* dst keeps what it had, the stolen tasks go behind it, and dst never overflows */
START_TEST(test_runq_steal_into_nonempty_dst)
{
	struct gr_runq *victim = new_runq_at(0), *dst = new_runq_at(UINT32_MAX - 2);

	for (int i = 0; i < 10; i++)
		ck_assert(gr_runq_put(victim, &tasks[i]));
	for (int i = 0; i < 4; i++)
		ck_assert(gr_runq_put(dst, &tasks[100 + i]));
	ck_assert_uint_eq(gr_runq_steal(dst, victim), 5);
	for (int i = 0; i < 4; i++)
		ck_assert_ptr_eq(gr_runq_get(dst), &tasks[100 + i]);
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_eq(gr_runq_get(dst), &tasks[i]);
	ck_assert_ptr_null(gr_runq_get(dst));

	/* dst nearly full: at most its free room moves */
	for (int i = 0; i < GR_RUNQ_SIZE - 2; i++)
		ck_assert(gr_runq_put(dst, &tasks[200 + i]));
	uint32_t moved = gr_runq_steal(dst, victim); /* victim has tasks 5..9 */
	ck_assert_uint_eq(moved, 2);
	ck_assert_uint_le(gr_runq_len(dst), GR_RUNQ_SIZE);
	ck_assert_uint_eq(gr_runq_len(victim) + moved, 5);
	for (int i = 0; i < GR_RUNQ_SIZE - 2; i++)
		ck_assert_ptr_eq(gr_runq_get(dst), &tasks[200 + i]);
	for (uint32_t i = 0; i < moved; i++)
		ck_assert_ptr_eq(gr_runq_get(dst), &tasks[5 + i]);
	ck_assert_ptr_null(gr_runq_get(dst));
	for (uint32_t i = moved; i < 5; i++)
		ck_assert_ptr_eq(gr_runq_get(victim), &tasks[5 + i]);
	free(victim);
	free(dst);
}
END_TEST

START_TEST(test_globq_fifo_and_len)
{
	struct gr_globq g = {.lock = GR_LOCK_INIT};
	struct gr_task *batch[8];

	ck_assert_uint_eq(atomic_load(&g.len), 0);
	ck_assert_ptr_null(gr_globq_get(&g));
	gr_globq_put(&g, batch, 0); /* nothing */
	ck_assert_uint_eq(atomic_load(&g.len), 0);
	ck_assert_ptr_null(gr_globq_get(&g));

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3; i++)
			batch[i] = &tasks[i];
		gr_globq_put(&g, batch, 3);
		ck_assert_uint_eq(atomic_load(&g.len), 3);
		batch[0] = &tasks[3];
		gr_globq_put(&g, batch, 1);
		for (int i = 0; i < 5; i++)
			batch[i] = &tasks[4 + i];
		gr_globq_put(&g, batch, 5);
		ck_assert_uint_eq(atomic_load(&g.len), 9);
		for (int i = 0; i < 9; i++) {
			ck_assert_ptr_eq(gr_globq_get(&g), &tasks[i]);
			ck_assert_uint_eq(atomic_load(&g.len), 8 - (uint32_t)i);
		}
		ck_assert_ptr_null(gr_globq_get(&g));
		ck_assert_ptr_null(g.head);
		ck_assert_ptr_null(g.tail);
		/* a put after draining, then a get in between puts */
		batch[0] = &tasks[20];
		gr_globq_put(&g, batch, 1);
		ck_assert_ptr_eq(gr_globq_get(&g), &tasks[20]);
		ck_assert_ptr_null(gr_globq_get(&g));
		ck_assert_uint_eq(atomic_load(&g.len), 0);
	}
}
END_TEST

/* ---- concurrency: one owner putting/getting, two stealers ---- */

#define CN 1000000u
#define NSTEAL 2
#define CONC_LIMIT_NS (20LL * 1000000000) /* well inside the TCase timeout */

static struct conc {
	struct gr_task *tasks; /* CN fake records */
	_Atomic uint32_t *count;
	struct gr_runq q;	      /* the owner's queue */
	struct gr_runq sq[NSTEAL]; /* each stealer's own queue */
	struct gr_globq g;
	_Atomic uint32_t taken;
	_Atomic int bad;	/* a foreign pointer or a task taken twice */
	_Atomic int timed_out;
	_Atomic uint64_t take_halves, steals, stolen;
	int64_t deadline;
} *C;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void take(struct gr_task *t)
{
	size_t i = (size_t)(t - C->tasks);

	if (t < C->tasks || i >= CN) {
		atomic_store(&C->bad, 1);
		return;
	}
	if (atomic_fetch_add(&C->count[i], 1) != 0)
		atomic_store(&C->bad, 1);
	atomic_fetch_add(&C->taken, 1);
}

static bool out_of_time(void)
{
	if (atomic_load_explicit(&C->timed_out, memory_order_relaxed))
		return true;
	if (now_ns() > C->deadline) {
		atomic_store(&C->timed_out, 1);
		return true;
	}
	return false;
}

static void *owner_main(void *arg)
{
	struct gr_task *half[GR_RUNQ_SIZE];
	struct gr_task *t;
	unsigned seed = 12345;

	(void)arg;
	for (uint32_t i = 0; i < CN; i++) {
		while (!gr_runq_put(&C->q, &C->tasks[i])) {
			uint32_t n = gr_runq_take_half(&C->q, half);

			if (n) {
				gr_globq_put(&C->g, half, n);
				atomic_fetch_add(&C->take_halves, 1);
			}
		}
		seed = seed * 1103515245 + 12345;
		switch ((seed >> 16) % 8) {
		case 0:
			if ((t = gr_runq_get(&C->q)))
				take(t);
			break;
		case 1:
			if ((t = gr_globq_get(&C->g)))
				take(t);
			break;
		}
		if ((i & 0xffff) == 0 && out_of_time())
			return NULL;
	}
	while (atomic_load(&C->taken) < CN && !out_of_time()) {
		if ((t = gr_runq_get(&C->q)) || (t = gr_globq_get(&C->g)))
			take(t);
		else
			sched_yield();
	}
	return NULL;
}

static void *stealer_main(void *arg)
{
	int k = (int)(intptr_t)arg;
	struct gr_runq *mine = &C->sq[k];
	struct gr_task *t;
	uint64_t iter = 0;

	while (atomic_load(&C->taken) < CN) {
		/* mostly from the owner, sometimes from the other stealer's queue */
		struct gr_runq *victim = (iter % 5 == 4) ? &C->sq[(k + 1) % NSTEAL] : &C->q;
		uint32_t n = gr_runq_steal(mine, victim);
		bool got = n != 0;

		if (n) {
			atomic_fetch_add(&C->steals, 1);
			atomic_fetch_add(&C->stolen, n);
		}
		/* take some, leaving the rest exposed to the other stealer for a while */
		for (int j = 0; j < 3 && (t = gr_runq_get(mine)); j++)
			take(t);
		if (iter % 2 == 0 && (t = gr_globq_get(&C->g))) {
			take(t);
			got = true;
		}
		if (!got && gr_runq_len(mine) == 0)
			sched_yield();
		iter++;
		if ((iter & 0x3ff) == 0 && out_of_time())
			break;
	}
	while ((t = gr_runq_get(mine)))
		take(t);
	return NULL;
}

START_TEST(test_runq_concurrent_steal_exactly_once)
{
	size_t bytes = (size_t)CN * sizeof(struct gr_task);
	pthread_t owner, stealer[NSTEAL];
	int64_t t0 = now_ns();

	C = calloc(1, sizeof *C);
	ck_assert_ptr_nonnull(C);
	/* the records are never touched but for gr_task.next on the global queue: map lazily */
	C->tasks = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(C->tasks, MAP_FAILED);
	C->count = calloc(CN, sizeof *C->count);
	ck_assert_ptr_nonnull(C->count);
	C->g.lock = (gr_lock_t)GR_LOCK_INIT;
	C->deadline = t0 + CONC_LIMIT_NS;

	for (int k = 0; k < NSTEAL; k++)
		ck_assert_int_eq(pthread_create(&stealer[k], NULL, stealer_main, (void *)(intptr_t)k),
				 0);
	ck_assert_int_eq(pthread_create(&owner, NULL, owner_main, NULL), 0);
	pthread_join(owner, NULL);
	for (int k = 0; k < NSTEAL; k++)
		pthread_join(stealer[k], NULL);

	uint32_t lost = 0, dup = 0, first_lost = UINT32_MAX, first_dup = UINT32_MAX;
	for (uint32_t i = 0; i < CN; i++) {
		uint32_t c = atomic_load(&C->count[i]);

		if (c == 0 && lost++ == 0)
			first_lost = i;
		if (c > 1 && dup++ == 0)
			first_dup = i;
	}
	ck_assert_msg(!atomic_load(&C->timed_out),
		      "not done within %lld s: %u taken of %u (lost %u, first %u; %llu steals moved "
		      "%llu, %llu take_halves)",
		      CONC_LIMIT_NS / 1000000000, atomic_load(&C->taken), CN, lost, first_lost,
		      (unsigned long long)atomic_load(&C->steals),
		      (unsigned long long)atomic_load(&C->stolen),
		      (unsigned long long)atomic_load(&C->take_halves));
	ck_assert_msg(dup == 0, "%u tasks taken more than once (first: %u)", dup, first_dup);
	ck_assert_msg(lost == 0, "%u tasks lost (first: %u)", lost, first_lost);
	ck_assert_msg(!atomic_load(&C->bad), "a taken pointer was no task, or taken twice");
	ck_assert_uint_eq(atomic_load(&C->taken), CN);
	ck_assert_uint_eq(gr_runq_len(&C->q), 0);
	for (int k = 0; k < NSTEAL; k++)
		ck_assert_uint_eq(gr_runq_len(&C->sq[k]), 0);
	ck_assert_uint_eq(atomic_load(&C->g.len), 0);
	munmap(C->tasks, bytes);
	free(C->count);
	free(C);
}
END_TEST

static Suite *runq_suite(void)
{
	Suite *s = suite_create("runq");
	TCase *tc = tcase_create("single");
	TCase *tcc = tcase_create("concurrent");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, shared_mode, NULL);
	tcase_add_checked_fixture(tcc, shared_mode, NULL);
	tcase_add_loop_test(tc, test_runq_put_get_fifo, 0, 2);
	tcase_add_loop_test(tc, test_runq_next_slot, 0, 2);
	tcase_add_test(tc, test_runq_put_fails_when_full);
	tcase_add_loop_test(tc, test_runq_take_half_takes_oldest, 0, 2);
	tcase_add_test(tc, test_runq_steal_half_in_order);
	tcase_add_test(tc, test_runq_steal_from_empty);
	tcase_add_test(tc, test_runq_steal_into_nonempty_dst);
	tcase_add_test(tc, test_globq_fifo_and_len);
	suite_add_tcase(s, tc);

	tcase_set_timeout(tcc, 30);
	tcase_add_test(tcc, test_runq_concurrent_steal_exactly_once);
	suite_add_tcase(s, tcc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(runq_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
