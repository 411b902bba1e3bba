/*
 * test_lock.c — who counts the runtime's locks (runtime/lock.h): a task counts the locks its own
 * code holds, and its signal handlers see the count (gr_task_holds_locks: shim/signal.c keeps a
 * signal that comes while it is not zero); a carrier's scheduling code running on that task's
 * TCB after it parked, and a thread that runs no task, count nothing.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>

#include "rt.h"

#define ROUNDS 20000

static gr_lock_t one = GR_LOCK_INIT, two = GR_LOCK_INIT;

/* nested locks, a trylock that fails and one that succeeds, all undone: what t's count says */
static void *count_in_turn(void *arg)
{
	struct gr_task *t = gr_current_task();

	(void)arg;
	rt_check(!gr_task_holds_locks(t), "a task holds locks before it took one");
	gr_lock(&one);
	rt_check(gr_task_holds_locks(t), "a task holding a lock is not counted holding it");
	gr_lock(&two);
	gr_unlock(&two);
	rt_check(gr_task_holds_locks(t), "a nested unlock ended the outer lock's count");
	rt_check(!gr_trylock(&one), "a trylock of a held lock succeeded");
	gr_unlock(&one);
	rt_check(!gr_task_holds_locks(t), "a failed trylock left a count behind");
	rt_check(gr_trylock(&one), "a trylock of a free lock failed");
	rt_check(gr_task_holds_locks(t), "a successful trylock is not counted");
	gr_unlock(&one);
	rt_check(!gr_task_holds_locks(t), "a task holds locks after it let them all go");
	return NULL;
}

START_TEST(a_tasks_own_code_counts_what_it_holds)
{
	rt_boot(1);
	count_in_turn(NULL); /* the initial task: its stack is the process's */
	rt_join(rt_spawn(count_in_turn, NULL));
	rt_verdict();
}
END_TEST

static atomic_int seen_in_handler = -1;

static void note_count(int sig)
{
	(void)sig;
	atomic_store(&seen_in_handler, gr_task_holds_locks(gr_current_task()));
}

/* a signal sent to its own OS thread, handled before the system call returns */
static void signal_self(void)
{
	ck_assert_int_eq(syscall(SYS_tgkill, getpid(), gr_os_tid(), SIGUSR1), 0);
}

START_TEST(a_handler_sees_the_interrupted_tasks_count)
{
	struct sigaction sa = {.sa_handler = note_count};

	rt_boot(1);
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	gr_lock(&one);
	signal_self();
	gr_unlock(&one);
	ck_assert_int_eq(atomic_load(&seen_in_handler), 1);
	signal_self();
	ck_assert_int_eq(atomic_load(&seen_in_handler), 0);
}
END_TEST

static atomic_bool parker_done;
static atomic_int counted_while_parked, samples;

/* parks ROUNDS times for 20 us: each time its carrier's own context runs on its TCB meanwhile,
 * taking the idle, run queue and timer heap locks */
static void *park_often(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		gr_wait_prepare(false);
		gr_park(gr_nanotime() + 20000, "test", NULL);
	}
	atomic_store(&parker_done, true);
	return NULL;
}

/* a plain OS thread: the parker's count, looked at only while it stays parked in one wait */
static void *watch_parked(void *arg)
{
	struct gr_task *t = arg;

	gr_lock(&two); /* no task here: nothing to count, and nothing breaks */
	gr_unlock(&two);
	while (!atomic_load(&parker_done)) {
		uint32_t seq = __atomic_load_n(&t->wait_seq, __ATOMIC_ACQUIRE);
		bool parked = rt_parked(t), held = gr_task_holds_locks(t);

		if (!parked || !rt_parked(t) || __atomic_load_n(&t->wait_seq, __ATOMIC_ACQUIRE) != seq)
			continue;
		atomic_fetch_add(&samples, 1);
		if (held)
			atomic_fetch_add(&counted_while_parked, 1);
	}
	return NULL;
}

START_TEST(scheduling_code_on_a_parked_tasks_tcb_counts_nothing)
{
	struct gr_task *parker;
	pthread_t watcher;

	rt_boot(1);
	parker = rt_spawn(park_often, NULL);
	watcher = rt_os_thread(watch_parked, parker);
	rt_join(parker);
	ck_assert_int_eq(pthread_join(watcher, NULL), 0);
	ck_assert_msg(atomic_load(&samples) > 0, "the parker was never seen parked");
	ck_assert_msg(atomic_load(&counted_while_parked) == 0,
		      "%d of %d looks found a parked task counted holding a lock",
		      atomic_load(&counted_while_parked), atomic_load(&samples));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lock");
	TCase *alone = rt_tcase("count", false), *races = rt_tcase("races", true);

	tcase_add_test(alone, a_tasks_own_code_counts_what_it_holds);
	tcase_add_test(alone, a_handler_sees_the_interrupted_tasks_count);
	suite_add_tcase(s, alone);
	tcase_add_test(races, scheduling_code_on_a_parked_tasks_tcb_counts_nothing);
	suite_add_tcase(s, races);
	return rt_run_suite(s);
}
