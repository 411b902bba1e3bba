/*
 * test_sigstate.c — the idle signal mask (runtime/sigstate.h): every signal every live task
 * blocks, kept from per-signal counts as tasks are born, end and change their masks.
 *
 * The tasks are bare records (no stacks, never run): gr_sig_task_born, gr_sig_task_gone and
 * gr_sig_after_fork_child touch only their sigmask and altstack. gr_sig_init reads the calling
 * thread's real mask, which each test sets first. The scheduler is not started, so the idle
 * carriers a change would wake are none.
 */
#define _GNU_SOURCE
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sigstate.h"
#include "task.h"

#define BIT(sig) GR_SIGBIT(sig)

static struct gr_task initial, a, b, c;

/* the calling thread's mask becomes `mask` (bit sig-1), then the initial task is made from it */
static void start_with(uint64_t mask)
{
	sigset_t set;

	sigemptyset(&set);
	for (int sig = 1; sig <= 64; sig++)
		if (mask & BIT(sig))
			sigaddset(&set, sig);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &set, NULL), 0);
	memset(&initial, 0, sizeof initial);
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(&c, 0, sizeof c);
	gr_sig_init(&initial);
}

START_TEST(initial_mask_is_the_threads)
{
	start_with(BIT(SIGUSR1) | BIT(SIGTERM));
	ck_assert_uint_eq(initial.sigmask, BIT(SIGUSR1) | BIT(SIGTERM));
	ck_assert(initial.altstack.flags & SS_DISABLE);
	/* one task: the idle carriers block exactly what it blocks */
	ck_assert_uint_eq(gr_sig_idle_mask(), BIT(SIGUSR1) | BIT(SIGTERM));
}
END_TEST

START_TEST(new_task_takes_its_creators_mask)
{
	start_with(BIT(SIGHUP));
	a.altstack = (struct gr_altstack){.sp = &a, .size = 4096};
	gr_sig_task_born(&a, &initial);
	ck_assert_uint_eq(a.sigmask, BIT(SIGHUP));
	ck_assert(a.altstack.flags & SS_DISABLE); /* no alternate stack of its own yet */
	ck_assert_uint_eq(gr_sig_idle_mask(), BIT(SIGHUP));
	gr_sig_task_gone(&a);
}
END_TEST

START_TEST(idle_mask_is_what_every_task_blocks)
{
	start_with(BIT(SIGUSR1) | BIT(SIGUSR2));
	b.sigmask = BIT(SIGUSR1) | BIT(SIGINT);
	gr_sig_task_born(&a, &b); /* a blocks SIGUSR1 and SIGINT */
	ck_assert_uint_eq(gr_sig_idle_mask(), BIT(SIGUSR1));
	c.sigmask = 0;
	gr_sig_task_born(&b, &c); /* b blocks nothing: no signal is blocked by all */
	ck_assert_uint_eq(gr_sig_idle_mask(), 0);
	gr_sig_task_gone(&b); /* back to the intersection of initial and a */
	ck_assert_uint_eq(gr_sig_idle_mask(), BIT(SIGUSR1));
	gr_sig_task_gone(&initial); /* only a is left */
	ck_assert_uint_eq(gr_sig_idle_mask(), BIT(SIGUSR1) | BIT(SIGINT));
	gr_sig_task_gone(&a);
}
END_TEST

START_TEST(kill_and_stop_are_never_blocked)
{
	start_with(0);
	b.sigmask = ~0ULL;
	gr_sig_task_born(&a, &b);
	gr_sig_task_gone(&initial);
	ck_assert_uint_eq(gr_sig_idle_mask() & GR_SIG_UNBLOCKABLE, 0);
	ck_assert_uint_eq(gr_sig_idle_mask() | GR_SIG_UNBLOCKABLE, ~0ULL);
	gr_sig_task_gone(&a);
}
END_TEST

START_TEST(fork_child_counts_only_the_forking_task)
{
	start_with(0);
	b.sigmask = BIT(SIGTERM);
	gr_sig_task_born(&a, &b);
	ck_assert_uint_eq(gr_sig_idle_mask(), 0);
	gr_sig_after_fork_child(&a); /* the initial task is gone in the child */
	ck_assert_uint_eq(gr_sig_idle_mask(), BIT(SIGTERM));
}
END_TEST

static Suite *sigstate_suite(void)
{
	Suite *s = suite_create("sigstate");
	TCase *tc = tcase_create("idle mask");

	tcase_add_test(tc, initial_mask_is_the_threads);
	tcase_add_test(tc, new_task_takes_its_creators_mask);
	tcase_add_test(tc, idle_mask_is_what_every_task_blocks);
	tcase_add_test(tc, kill_and_stop_are_never_blocked);
	tcase_add_test(tc, fork_child_counts_only_the_forking_task);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sigstate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
