/*
 * test_sched.c — the scheduler's policy (runtime/sched.h), on the real runtime (rt.h).
 *
 * A task whose sleep ends runs as soon as the task running at that moment switches away, not
 * behind every runnable task: BUSY tasks on one processor compute a while and yield, over and
 * over, while a sleeper sleeps ROUNDS times; the busy runs that end after the sleeper's
 * deadline and before it runs again are counted. Counted in runs, not in time, the test does
 * not depend on how loaded the machine is: 1 (the run under way when the deadline came), or 2
 * when that switch is one of those where the ring goes first (GLOBQ_EVERY); before timers were
 * looked at on every switch it was up to 61.
 */
#define _GNU_SOURCE
#include "rt.h"

#define BUSY 50
#define ROUNDS 40
#define BUSY_RUN_NS 100000
#define SLEEP_NS 1000000
#define MAX_LATE_RUNS 2

static atomic_bool stop;
static _Atomic int64_t deadline = GR_NEVER;
static _Atomic int late_runs;

static void *busy(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int64_t until = gr_nanotime() + BUSY_RUN_NS;

		while (gr_nanotime() < until)
			;
		if (gr_nanotime() >= atomic_load(&deadline))
			atomic_fetch_add(&late_runs, 1);
		gr_yield();
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	int worst = 0;

	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		int64_t when = gr_nanotime() + SLEEP_NS;

		atomic_store(&late_runs, 0);
		atomic_store(&deadline, when);
		gr_wait_prepare(false);
		if (!rt_check(gr_park(when, "sleep", NULL) == GR_WAKE_TIMEOUT, "woken for nothing"))
			break;
		if (!rt_check(gr_nanotime() >= when, "woken before its deadline"))
			break;
		if (atomic_load(&late_runs) > worst)
			worst = atomic_load(&late_runs);
	}
	atomic_store(&deadline, GR_NEVER);
	rt_check(worst <= MAX_LATE_RUNS, "a sleeper ran %d busy runs after its deadline (at most %d)",
		 worst, MAX_LATE_RUNS);
	return NULL;
}

START_TEST(sleeper_runs_next_after_its_deadline)
{
	struct gr_task *busy_tasks[BUSY], *s;

	rt_boot(1);
	for (int i = 0; i < BUSY; i++)
		busy_tasks[i] = rt_spawn(busy, NULL);
	s = rt_spawn(sleeper, NULL);
	rt_join(s);
	atomic_store(&stop, true);
	for (int i = 0; i < BUSY; i++)
		rt_join(busy_tasks[i]);
	rt_verdict();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = rt_tcase("timers", false);

	tcase_add_test(tc, sleeper_runs_next_after_its_deadline);
	suite_add_tcase(s, tc);
	return rt_run_suite(s);
}
