/*
 * test_fork.c — the after-fork registry (runtime/fork.h): gr_after_fork_child runs every entry
 * joined with GR_AFTER_FORK, each once, in ascending order (entries of one order in any order
 * among themselves), with the forking task; and none when no task calls it.
 *
 * This test links fork.o alone from the runtime (nothing else of it is referenced), so the
 * registry holds exactly the entries below. The calling thread is made "a task" by writing a
 * task pointer into the TCB word gr_current_task reads (tls.h), and cleared again after.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>

#include "fork.h"
#include "tls.h"

#define MAX_CALLS 16

static struct gr_task *const fake_task = (struct gr_task *)(uintptr_t)0x1000;
static int calls[MAX_CALLS], ncalls;
static struct gr_task *seen[MAX_CALLS];

static void record(int order, struct gr_task *self)
{
	if (ncalls < MAX_CALLS) {
		calls[ncalls] = order;
		seen[ncalls] = self;
	}
	ncalls++;
}

/* joined in an order that is not the running order */
static void late(struct gr_task *self) { record(GR_FORK_SHIM, self); }
static void early(struct gr_task *self) { record(GR_FORK_TLS, self); }
static void middle(struct gr_task *self) { record(GR_FORK_SCHED, self); }
static void early_too(struct gr_task *self) { record(GR_FORK_TLS, self); }
GR_AFTER_FORK(GR_FORK_SHIM, late);
GR_AFTER_FORK(GR_FORK_TLS, early);
GR_AFTER_FORK(GR_FORK_SCHED, middle);
GR_AFTER_FORK(GR_FORK_TLS, early_too);

static void set_current_task(struct gr_task *t)
{
	__asm__ volatile("movq %0, %%fs:0x38" : : "r"(t) : "memory");
	ck_assert_ptr_eq(gr_current_task(), t);
}

START_TEST(runs_each_once_in_order)
{
	ncalls = 0;
	set_current_task(fake_task);
	gr_after_fork_child();
	set_current_task(NULL);
	ck_assert_int_eq(ncalls, 4);
	ck_assert_int_eq(calls[0], GR_FORK_TLS);
	ck_assert_int_eq(calls[1], GR_FORK_TLS);
	ck_assert_int_eq(calls[2], GR_FORK_SCHED);
	ck_assert_int_eq(calls[3], GR_FORK_SHIM);
	for (int i = 0; i < 4; i++)
		ck_assert_ptr_eq(seen[i], fake_task);
}
END_TEST

START_TEST(none_without_a_task)
{
	ncalls = 0;
	ck_assert_ptr_null(gr_current_task());
	gr_after_fork_child();
	ck_assert_int_eq(ncalls, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("registry");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, runs_each_once_in_order);
	tcase_add_test(tc, none_without_a_task);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
