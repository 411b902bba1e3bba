/*
 * test_hiddenfd.c — gr_hiddenfd (runtime/hiddenfd.h): registered slots are owned whatever fd
 * they hold now, the list is ascending and skips empty slots, a move takes the fd to another
 * number (the slot follows, the old number is closed), placing high puts an fd just below the
 * soft limit's top; a slot registered twice counts once.
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hiddenfd.h"

static _Atomic int a = -1, b = -1, c = -1;

static void setup(void)
{
	gr_hiddenfd_register(&a);
	gr_hiddenfd_register(&b);
	gr_hiddenfd_register(&c);
	gr_hiddenfd_register(&a); /* again: no second slot */
}

START_TEST(test_hiddenfd_owns_and_lists_ascending)
{
	int fds[GR_HIDDENFD_MAX], p[2];

	ck_assert_int_eq(gr_hiddenfd_list(fds), 0);
	ck_assert_int_eq(pipe(p), 0);
	atomic_store(&a, p[1]);
	atomic_store(&c, p[0]);
	ck_assert(gr_hiddenfd_owns(p[0]));
	ck_assert(gr_hiddenfd_owns(p[1]));
	ck_assert(!gr_hiddenfd_owns(-1));
	ck_assert(!gr_hiddenfd_owns(0));
	ck_assert_int_eq(gr_hiddenfd_list(fds), 2);
	ck_assert_int_eq(fds[0], p[0] < p[1] ? p[0] : p[1]);
	ck_assert_int_eq(fds[1], p[0] < p[1] ? p[1] : p[0]);
	atomic_store(&a, -1); /* the fd it held is the program's again */
	ck_assert(!gr_hiddenfd_owns(p[1]));
	ck_assert_int_eq(gr_hiddenfd_list(fds), 1);
	close(p[0]);
	close(p[1]);
	atomic_store(&c, -1);
}
END_TEST

START_TEST(test_hiddenfd_move_follows_and_closes_old)
{
	int p[2], old, moved;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	atomic_store(&b, p[0]);
	old = p[0];
	ck_assert_int_eq(gr_hiddenfd_move(old), 0);
	moved = atomic_load(&b);
	ck_assert_int_ne(moved, old);
	ck_assert_int_eq(fcntl(old, F_GETFD), -1); /* closed */
	ck_assert_int_eq(fcntl(moved, F_GETFD), FD_CLOEXEC);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	{
		char ch;
		ck_assert_int_eq(read(moved, &ch, 1), 1); /* the same pipe */
	}
	ck_assert_int_eq(gr_hiddenfd_move(p[1]), 0); /* not hidden: nothing done */
	ck_assert_int_eq(fcntl(p[1], F_GETFD), FD_CLOEXEC);
	close(moved);
	close(p[1]);
	atomic_store(&b, -1);
}
END_TEST

START_TEST(test_hiddenfd_place_high_below_the_top)
{
	struct rlimit rl;
	long top;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), high;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	top = rl.rlim_cur < 1024 ? (long)rl.rlim_cur : 1024;
	high = gr_hiddenfd_place_high(fd);
	ck_assert_int_ge(high, top - GR_HIDDENFD_MAX);
	ck_assert_int_lt(high, top);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* the low number is free again */
	ck_assert_int_eq(fcntl(high, F_GETFD), FD_CLOEXEC);
	close(high);
}
END_TEST

static Suite *hiddenfd_suite(void)
{
	Suite *s = suite_create("hiddenfd");
	TCase *tc = tcase_create("registry");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_hiddenfd_owns_and_lists_ascending);
	tcase_add_test(tc, test_hiddenfd_move_follows_and_closes_old);
	tcase_add_test(tc, test_hiddenfd_place_high_below_the_top);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hiddenfd_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
