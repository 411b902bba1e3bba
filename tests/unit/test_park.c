/*
 * test_park.c — the wake token (runtime/park.h, task.h): a wait is ended exactly once, by the
 * first of wake, deadline and interrupt, whenever each comes relative to the task going to
 * sleep, and a wake for another wait (an older sequence number) ends nothing.
 *
 * The runtime is booted for real (rt.h). Races are between a task and plain OS threads (truly
 * parallel, on the machine's other CPU), repeated a fixed number of times; every iteration
 * checks the invariant, whichever way the race went.
 */
#define _GNU_SOURCE
#include "rt.h"

#define WAKERS 3
#define WAKER_ROUNDS 3000
#define TIMEOUT_ROUNDS 3000
#define INTERRUPT_ROUNDS 50000

static int64_t soon(int64_t ns) { return gr_nanotime() + ns; }

/*
 * A race: *task runs task_fn, n OS threads run thread_fn, until the task is done; then *stop
 * (if any) tells the threads to end, and the test fails with the first invariant they broke.
 */
static void race(struct gr_task **task, void *(*task_fn)(void *), int n,
		 void *(*thread_fn)(void *), atomic_bool *stop)
{
	pthread_t threads[n];

	*task = rt_spawn(task_fn, NULL);
	for (int i = 0; i < n; i++)
		threads[i] = rt_os_thread(thread_fn, NULL);
	rt_join(*task);
	if (stop)
		atomic_store(stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	rt_verdict();
}

/* ---- deterministic cases, on the initial task alone ---- */

START_TEST(wake_before_park_returns_at_once_with_its_reason)
{
	struct gr_task *self = rt_boot(1);
	static const enum gr_wake_reason reasons[] = {GR_WAKE_NORMAL, GR_WAKE_TIMEOUT,
						      GR_WAKE_INTERRUPT};

	for (unsigned i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
		uint32_t seq = gr_wait_prepare(false);
		int64_t deadline = soon(RT_PATIENCE);

		ck_assert(gr_wake(self, seq, reasons[i]));
		ck_assert_msg(!gr_wake(self, seq, GR_WAKE_NORMAL), "a second wake of one wait won");
		ck_assert_int_eq(gr_park(deadline, "test", NULL), reasons[i]);
		ck_assert_msg(gr_nanotime() < deadline, "gr_park slept although woken before");
	}
}
END_TEST

START_TEST(stale_sequence_wake_is_dropped)
{
	struct gr_task *self = rt_boot(1);
	uint32_t old = gr_wait_prepare(false), seq;

	ck_assert(gr_wake(self, old, GR_WAKE_NORMAL));
	ck_assert_int_eq(gr_park(GR_NEVER, "test", NULL), GR_WAKE_NORMAL);

	seq = gr_wait_prepare(false);
	ck_assert_uint_ne(seq, old);
	ck_assert_msg(!gr_wake(self, old, GR_WAKE_TIMEOUT), "the previous wait's wake ended this one");
	ck_assert_msg(!gr_wake(self, seq + 1, GR_WAKE_TIMEOUT), "a later wait's wake ended this one");
	/* the wait is still open: the right number ends it, with its reason */
	ck_assert(gr_wake(self, seq, GR_WAKE_INTERRUPT));
	ck_assert_int_eq(gr_park(GR_NEVER, "test", NULL), GR_WAKE_INTERRUPT);
}
END_TEST

/* a task parked for real: a stale wake leaves it parked, the right one readies it */
static _Atomic uint32_t parked_seq;

static void *park_once(void *arg)
{
	uint32_t seq = gr_wait_prepare(false);

	(void)arg;
	atomic_store(&parked_seq, seq);
	return (void *)(uintptr_t)gr_park(soon(RT_PATIENCE), "test", NULL);
}

START_TEST(stale_sequence_wake_leaves_a_parked_task_parked)
{
	struct gr_task *t;
	uint32_t seq;

	rt_boot(2);
	t = rt_spawn(park_once, NULL);
	ck_assert(rt_until(rt_parked(t)));
	seq = atomic_load(&parked_seq);
	ck_assert(!gr_wake(t, seq - 1, GR_WAKE_NORMAL));
	ck_assert(!gr_wake(t, seq + 1, GR_WAKE_NORMAL));
	usleep(20000);
	ck_assert_msg(rt_parked(t), "a stale wake readied the task");
	ck_assert(gr_wake(t, seq, GR_WAKE_NORMAL));
	ck_assert_int_eq((uintptr_t)rt_join(t), GR_WAKE_NORMAL);
}
END_TEST

START_TEST(non_interruptible_wait_ignores_interrupts)
{
	struct gr_task *self = rt_boot(1);
	int64_t deadline;

	gr_wait_prepare(false);
	gr_interrupt(self);
	deadline = soon(20 * RT_MS);
	ck_assert_int_eq(gr_park(deadline, "test", NULL), GR_WAKE_TIMEOUT);
	ck_assert(gr_nanotime() >= deadline);
	/* the interrupt stays pending for the next interruptible wait, which ends at once */
	gr_wait_prepare(true);
	ck_assert_int_eq(gr_park(soon(RT_PATIENCE), "test", NULL), GR_WAKE_INTERRUPT);
}
END_TEST

/* the same with the task parked when the interrupt comes */
static void *park_uninterruptibly(void *arg)
{
	int64_t deadline = soon(50 * RT_MS);
	enum gr_wake_reason why;

	(void)arg;
	gr_wait_prepare(false);
	why = gr_park(deadline, "test", NULL);
	return (void *)(uintptr_t)(why == GR_WAKE_TIMEOUT && gr_nanotime() >= deadline);
}

START_TEST(non_interruptible_parked_task_ignores_interrupts)
{
	struct gr_task *t;

	rt_boot(2);
	t = rt_spawn(park_uninterruptibly, NULL);
	ck_assert(rt_until(rt_parked(t)));
	gr_interrupt(t);
	ck_assert_msg(rt_join(t), "the interrupt ended a non-interruptible wait");
}
END_TEST

/* a signal handler interrupting the task on its own carrier, as greenpoll's keeps a signal */
static void interrupt_self_handler(int sig)
{
	(void)sig;
	gr_interrupt_self();
}

START_TEST(interrupt_self_in_a_handler_ends_the_armed_wait)
{
	struct gr_task *self = rt_boot(1);
	struct sigaction sa = {.sa_handler = interrupt_self_handler}, old;
	int64_t deadline;
	uint32_t seq;

	ck_assert_int_eq(sigaction(SIGUSR2, &sa, &old), 0);
	/* armed, not yet parked: the handler's interrupt ends the wait, and no wake is left */
	seq = gr_wait_prepare(true);
	raise(SIGUSR2);
	deadline = soon(RT_PATIENCE);
	ck_assert_int_eq(gr_park(deadline, "test", NULL), GR_WAKE_INTERRUPT);
	ck_assert_msg(gr_nanotime() < deadline, "the armed wait slept through the interrupt");
	ck_assert_msg(!gr_wake(self, seq, GR_WAKE_NORMAL), "the ended wait could be woken again");
	atomic_store(&self->interrupted, false);
	/* a non-interruptible wait goes on; the interrupt stays for the next interruptible one */
	gr_wait_prepare(false);
	raise(SIGUSR2);
	deadline = soon(20 * RT_MS);
	ck_assert_int_eq(gr_park(deadline, "test", NULL), GR_WAKE_TIMEOUT);
	ck_assert(atomic_load(&self->interrupted));
	gr_wait_prepare(true);
	ck_assert_int_eq(gr_park(soon(RT_PATIENCE), "test", NULL), GR_WAKE_INTERRUPT);
	sigaction(SIGUSR2, &old, NULL);
}
END_TEST

/* ---- races ---- */

/* one waiting task, WAKERS OS threads waking each of its waits at once */
static struct {
	struct gr_task *waiter;
	_Atomic uint32_t seq; /* the wait to wake; 0: none yet */
	_Atomic int tries, wins;
	atomic_bool stop;
} many;

static void *wake_each_wait(void *arg)
{
	uint32_t done = 0;

	(void)arg;
	while (!atomic_load(&many.stop)) {
		uint32_t seq = atomic_load(&many.seq);

		if (seq == done) {
			sched_yield();
			continue;
		}
		if (gr_wake(many.waiter, seq, GR_WAKE_NORMAL))
			atomic_fetch_add(&many.wins, 1);
		done = seq;
		atomic_fetch_add(&many.tries, 1);
	}
	return NULL;
}

static void *wait_to_be_woken(void *arg)
{
	(void)arg;
	for (int i = 0; i < WAKER_ROUNDS && !rt_broken(); i++) {
		enum gr_wake_reason why;

		atomic_store(&many.tries, 0);
		atomic_store(&many.wins, 0);
		atomic_store(&many.seq, gr_wait_prepare(false));
		why = gr_park(soon(RT_PATIENCE), "test", NULL);
		if (!rt_check(why == GR_WAKE_NORMAL, "round %d: woken by %d, not by a waker", i, why) ||
		    !rt_check(rt_until(atomic_load(&many.tries) == WAKERS),
			      "round %d: the wakers never all tried", i))
			break;
		rt_check(atomic_load(&many.wins) == 1, "round %d: %d of %d wakers won one wait", i,
			 atomic_load(&many.wins), WAKERS);
	}
	return NULL;
}

START_TEST(exactly_one_of_many_wakers_wins)
{
	rt_boot(2);
	race(&many.waiter, wait_to_be_woken, WAKERS, wake_each_wait, &many.stop);
}
END_TEST

/* a wait with a deadline, and an OS thread waking it around that deadline */
static struct {
	struct gr_task *waiter;
	_Atomic uint32_t seq;
	_Atomic int64_t deadline;
	_Atomic int outcome; /* 0: not yet; 1: the waker won; 2: it lost */
	atomic_bool stop;
	int won, lost;
} timed;

static void *wake_near_deadline(void *arg)
{
	uint32_t done = 0;
	int round = 0;

	(void)arg;
	while (!atomic_load(&timed.stop)) {
		uint32_t seq = atomic_load(&timed.seq);
		int64_t at;

		if (seq == done) {
			sched_yield();
			continue;
		}
		/* from 20 us before the deadline to 100 us after, round by round (the timer
		 * fires late: its carrier has to wake from a sleep) */
		at = atomic_load(&timed.deadline) + (round++ % 121 - 20) * 1000;
		while (gr_nanotime() < at)
			;
		atomic_store(&timed.outcome, gr_wake(timed.waiter, seq, GR_WAKE_NORMAL) ? 1 : 2);
		done = seq;
	}
	return NULL;
}

static void *wait_with_deadline(void *arg)
{
	(void)arg;
	for (int i = 0; i < TIMEOUT_ROUNDS && !rt_broken(); i++) {
		enum gr_wake_reason why;
		int64_t deadline = soon(30000);
		int outcome;

		atomic_store(&timed.outcome, 0);
		atomic_store(&timed.deadline, deadline);
		atomic_store(&timed.seq, gr_wait_prepare(false));
		why = gr_park(deadline, "test", NULL);
		if (why == GR_WAKE_TIMEOUT &&
		    !rt_check(gr_nanotime() >= deadline, "round %d: timed out before the deadline", i))
			break;
		if (!rt_check(rt_until(atomic_load(&timed.outcome) != 0),
			      "round %d: the waker never tried", i))
			break;
		outcome = atomic_load(&timed.outcome);
		/* exactly one reason: the waker's if it won, the deadline's if it lost */
		rt_check(outcome == 1 ? why == GR_WAKE_NORMAL : why == GR_WAKE_TIMEOUT,
			 "round %d: the waker %s, yet the wait ended by %d", i,
			 outcome == 1 ? "won" : "lost", why);
		if (outcome == 1)
			timed.won++;
		else
			timed.lost++;
	}
	return NULL;
}

START_TEST(timeout_racing_wake_ends_the_wait_once)
{
	rt_boot(1);
	race(&timed.waiter, wait_with_deadline, 1, wake_near_deadline, &timed.stop);
	printf("timeout racing wake: the waker won %d rounds, the deadline %d\n", timed.won,
	       timed.lost);
}
END_TEST

/*
 * gr_wait_prepare arms the token, then looks for a pending interrupt; gr_interrupt sets the
 * interrupt, then looks at the token. Unless both stores are sequentially consistent, each
 * side's load may pass its own store (x86 store buffering) and both miss the other: the wait
 * would sleep to its deadline. The two sides start each round together, one of them a little
 * later by a varying number of pauses, so the window is crossed at every offset.
 */
static struct {
	struct gr_task *waiter;
	_Atomic int ready, go, done; /* round numbers */
	int ended_early;
} intr;

static void spin(int pauses)
{
	for (int i = 0; i < pauses; i++)
		gr_cpu_relax();
}

/* until *round is i: spinning, but giving the CPU away now and then (on a loaded machine the
 * other side may be waiting for it); false if the test is already failing */
static bool await_round(_Atomic int *round, int i)
{
	for (unsigned n = 1; atomic_load(round) != i; n++) {
		if (n % 1024 == 0 && rt_broken())
			return false;
		if (n % 1024 == 0)
			sched_yield();
	}
	return true;
}

static void *interrupt_each_round(void *arg)
{
	(void)arg;
	for (int i = 1; i <= INTERRUPT_ROUNDS; i++) {
		if (!await_round(&intr.ready, i))
			return NULL;
		atomic_store(&intr.go, i);
		spin(i % 8);
		gr_interrupt(intr.waiter);
		atomic_store(&intr.done, i);
	}
	return NULL;
}

static void *wait_to_be_interrupted(void *arg)
{
	struct gr_task *self = gr_current_task();

	(void)arg;
	for (int i = 1; i <= INTERRUPT_ROUNDS; i++) {
		enum gr_wake_reason why;
		uint64_t tok;

		atomic_store(&self->interrupted, false);
		atomic_store(&intr.ready, i);
		await_round(&intr.go, i);
		spin(i / 8 % 8);
		gr_wait_prepare(true);
		tok = atomic_load(&self->wait_token);
		intr.ended_early += (tok & 3) != 1; /* ended before the park: no switch */
		why = gr_park(soon(1000 * RT_MS), "test", NULL);
		if (!rt_check(why == GR_WAKE_INTERRUPT,
			      "round %d: an interrupt racing gr_wait_prepare was lost (woken by %d)",
			      i, why))
			break;
		await_round(&intr.done, i);
	}
	return NULL;
}

START_TEST(interrupt_racing_prepare_is_never_lost)
{
	rt_boot(1);
	race(&intr.waiter, wait_to_be_interrupted, 1, interrupt_each_round, NULL);
	printf("interrupt racing prepare: %d of %d waits ended before their park\n",
	       intr.ended_early, INTERRUPT_ROUNDS);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("park");
	TCase *alone = rt_tcase("wake token", false), *races = rt_tcase("races", true);

	tcase_add_test(alone, wake_before_park_returns_at_once_with_its_reason);
	tcase_add_test(alone, stale_sequence_wake_is_dropped);
	tcase_add_test(alone, stale_sequence_wake_leaves_a_parked_task_parked);
	tcase_add_test(alone, non_interruptible_wait_ignores_interrupts);
	tcase_add_test(alone, non_interruptible_parked_task_ignores_interrupts);
	tcase_add_test(alone, interrupt_self_in_a_handler_ends_the_armed_wait);
	suite_add_tcase(s, alone);
	tcase_add_test(races, exactly_one_of_many_wakers_wins);
	tcase_add_test(races, timeout_racing_wake_ends_the_wait_once);
	tcase_add_test(races, interrupt_racing_prepare_is_never_lost);
	suite_add_tcase(s, races);
	return rt_run_suite(s);
}
