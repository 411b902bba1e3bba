/*
 * test_waitq.c — address-keyed wait queues (runtime/waitq.h): waiters are woken in arrival
 * order, as many as asked; a waiter that leaves by deadline or interrupt is off the queue when
 * gr_waitq_park returns, and a wake that races its leaving goes to the next waiter, never into
 * the void.
 *
 * The runtime is booted for real (rt.h). Waiters are tasks; each test waits until every waiter
 * is parked (its record queued) before it wakes any, so arrival order is the spawn order.
 */
#define _GNU_SOURCE
#include "rt.h"
#include "waitq.h"

#define WAITERS 5
#define RACE_ROUNDS 2000

static _Atomic int word;	/* the address waited on; waiters wait while it is 0 */
static _Atomic int order[WAITERS]; /* order[k]: the waiter that returned k-th */
static _Atomic int returned;

static bool word_is_zero(const void *addr, void *arg)
{
	(void)arg;
	return atomic_load((_Atomic int *)addr) == 0;
}

struct waiter {
	int id;
	int64_t deadline;
	bool interruptible;
	uint32_t bits;
	int why; /* what gr_waitq_park returned */
	atomic_bool done;
	struct gr_task *task;
};

static void *wait_on_word(void *arg)
{
	struct waiter *w = arg;

	w->why = gr_waitq_park_bits(&word, w->bits, word_is_zero, NULL, w->deadline,
				    w->interruptible, "test");
	atomic_store(&order[atomic_fetch_add(&returned, 1)], w->id);
	atomic_store(&w->done, true);
	return NULL;
}

/* waiters w[0..n) started one by one, each parked (or gone, by its deadline) before the next
 * comes */
static void queue_up(struct waiter *w, int n)
{
	for (int i = 0; i < n; i++) {
		w[i].id = i;
		if (!w[i].deadline)
			w[i].deadline = gr_nanotime() + RT_PATIENCE;
		if (!w[i].bits)
			w[i].bits = ~0u;
		w[i].task = rt_spawn(wait_on_word, &w[i]);
		ck_assert(rt_until(rt_parked(w[i].task) || atomic_load(&w[i].done)));
	}
}

/* every waiter of w[0..n) ends, woken by a wake */
static void all_woken(struct waiter *w, int n)
{
	for (int i = 0; i < n; i++) {
		rt_join(w[i].task);
		ck_assert_msg(w[i].why == GR_WAKE_NORMAL, "waiter %d ended by %d, not a wake", i,
			      w[i].why);
	}
}

START_TEST(no_park_when_the_check_says_so)
{
	rt_boot(1);
	atomic_store(&word, 1);
	ck_assert_int_eq(gr_waitq_park(&word, word_is_zero, NULL, GR_NEVER, false, "test"), 0);
	ck_assert_int_eq(gr_waitq_wake(&word, -1), 0);
}
END_TEST

START_TEST(wake_one_at_a_time_is_fifo)
{
	struct waiter w[WAITERS] = {0};

	rt_boot(2);
	queue_up(w, WAITERS);
	for (int i = 0; i < WAITERS; i++) {
		ck_assert_int_eq(gr_waitq_wake(&word, 1), 1);
		ck_assert(rt_until(atomic_load(&returned) == i + 1));
		ck_assert_msg(atomic_load(&order[i]) == i, "wake %d woke waiter %d, not the oldest", i,
			      atomic_load(&order[i]));
	}
	ck_assert_int_eq(gr_waitq_wake(&word, 1), 0);
	all_woken(w, WAITERS);
}
END_TEST

START_TEST(wake_n_wakes_the_n_oldest)
{
	struct waiter w[WAITERS] = {0};

	rt_boot(2);
	queue_up(w, WAITERS);
	ck_assert_int_eq(gr_waitq_wake(&word, 2), 2);
	ck_assert(rt_until(atomic_load(&returned) == 2));
	usleep(20000);
	ck_assert_int_eq(atomic_load(&returned), 2);
	for (int i = 0; i < 2; i++)
		ck_assert(atomic_load(&order[0]) == i || atomic_load(&order[1]) == i);
	for (int i = 2; i < WAITERS; i++)
		ck_assert_msg(rt_parked(w[i].task), "waiter %d woken by a wake of two", i);
	ck_assert_int_eq(gr_waitq_wake(&word, -1), WAITERS - 2);
	all_woken(w, WAITERS);
}
END_TEST

START_TEST(wake_all_wakes_every_waiter_once)
{
	struct waiter w[WAITERS] = {0};

	rt_boot(2);
	queue_up(w, WAITERS);
	ck_assert_int_eq(gr_waitq_wake(&word, -1), WAITERS);
	ck_assert_int_eq(gr_waitq_wake(&word, -1), 0);
	all_woken(w, WAITERS);
}
END_TEST

START_TEST(wake_with_bits_wakes_only_matching_waiters)
{
	struct waiter w[3] = {{.bits = 1}, {.bits = 2}, {.bits = 3}};

	rt_boot(2);
	queue_up(w, 3);
	ck_assert_int_eq(gr_waitq_wake_bits(&word, 2, -1), 2);
	rt_join(w[1].task);
	rt_join(w[2].task);
	ck_assert_msg(rt_parked(w[0].task), "a wake for bit 2 woke a waiter for bit 1 only");
	ck_assert_int_eq(gr_waitq_wake_bits(&word, 1, -1), 1);
	rt_join(w[0].task);
}
END_TEST

START_TEST(waiter_that_times_out_leaves_the_queue)
{
	struct waiter w[2] = {{.deadline = gr_nanotime() + 20 * RT_MS}};

	rt_boot(2);
	queue_up(w, 2);
	rt_join(w[0].task);
	ck_assert_int_eq(w[0].why, GR_WAKE_TIMEOUT);
	/* the one wake goes to the waiter still there */
	ck_assert_int_eq(gr_waitq_wake(&word, 1), 1);
	rt_join(w[1].task);
	ck_assert_int_eq(w[1].why, GR_WAKE_NORMAL);
	ck_assert_int_eq(gr_waitq_wake(&word, -1), 0);
}
END_TEST

START_TEST(waiter_that_is_interrupted_leaves_the_queue)
{
	struct waiter w[2] = {{.interruptible = true}, {.interruptible = true}};

	rt_boot(2);
	queue_up(w, 2);
	gr_interrupt(w[0].task);
	rt_join(w[0].task);
	ck_assert_int_eq(w[0].why, GR_WAKE_INTERRUPT);
	ck_assert_int_eq(gr_waitq_wake(&word, 1), 1);
	rt_join(w[1].task);
	ck_assert_int_eq(w[1].why, GR_WAKE_NORMAL);
}
END_TEST

/*
 * Round after round: the first waiter's deadline comes at about the moment a wake of one is
 * made. Whichever wins, exactly one wait ends by the wake: the first waiter's, or, if its
 * deadline came first, the second's. The second is then woken (or found woken) and the round
 * checked.
 */
START_TEST(wake_racing_timeout_wakes_exactly_one)
{
	int to_first = 0, to_second = 0;

	rt_boot(2);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		int64_t deadline = gr_nanotime() + RT_MS;
		struct waiter w[2] = {{.deadline = deadline}};
		int64_t at;
		int woken;

		atomic_store(&returned, 0);
		queue_up(w, 2);
		/* from 20 us before the deadline to 100 us after (the timer fires late: its
		 * carrier has to wake from a sleep) */
		at = deadline + (i % 121 - 20) * 1000;
		while (gr_nanotime() < at)
			;
		woken = gr_waitq_wake(&word, 1);
		ck_assert_msg(woken == 1, "round %d: a wake of one woke %d", i, woken);
		rt_join(w[0].task);
		if (w[0].why == GR_WAKE_NORMAL) {
			to_first++;
			usleep(100);
			ck_assert_msg(rt_parked(w[1].task), "round %d: one wake ended two waits", i);
			ck_assert_int_eq(gr_waitq_wake(&word, 1), 1);
		} else {
			ck_assert_int_eq(w[0].why, GR_WAKE_TIMEOUT);
			to_second++;
		}
		rt_join(w[1].task);
		ck_assert_msg(w[1].why == GR_WAKE_NORMAL, "round %d: the second waiter got %d", i,
			      w[1].why);
		ck_assert_int_eq(gr_waitq_wake(&word, -1), 0);
	}
	printf("wake racing timeout: the wake went to the first waiter %d times, to the second %d\n",
	       to_first, to_second);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("waitq");
	TCase *tc = rt_tcase("wait queue", false), *races = rt_tcase("races", true);

	tcase_add_test(tc, no_park_when_the_check_says_so);
	tcase_add_test(tc, wake_one_at_a_time_is_fifo);
	tcase_add_test(tc, wake_n_wakes_the_n_oldest);
	tcase_add_test(tc, wake_all_wakes_every_waiter_once);
	tcase_add_test(tc, wake_with_bits_wakes_only_matching_waiters);
	tcase_add_test(tc, waiter_that_times_out_leaves_the_queue);
	tcase_add_test(tc, waiter_that_is_interrupted_leaves_the_queue);
	suite_add_tcase(s, tc);
	tcase_add_test(races, wake_racing_timeout_wakes_exactly_one);
	suite_add_tcase(s, races);
	return rt_run_suite(s);
}
