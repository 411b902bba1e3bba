/*
 * test_out.c — gr_out (runtime/out.h): JSON string escaping, output longer than the buffer
 * arriving whole and in order, a failed write dropping the rest; and runtime/stats.h: the park
 * classes (each `what` name the runtime and shim give gr_park in its class), slots summed,
 * calls merged by name across slots.
 */
#define _GNU_SOURCE
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "out.h"
#include "stats.h"

START_TEST(test_json_escape_specials)
{
	char buf[64];

	ck_assert_uint_eq(gr_json_escape(buf, sizeof buf, "a\"b\\c\nd\te\x01\x7f"), 25);
	ck_assert_str_eq(buf, "a\\\"b\\\\c\\nd\\te\\u0001\\u007f");
	ck_assert_uint_eq(gr_json_escape(buf, sizeof buf, NULL), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(gr_json_escape(buf, sizeof buf, "caf\xc3\xa9"), 5); /* UTF-8 as is */
}
END_TEST

START_TEST(test_json_escape_cut_at_a_whole_escape)
{
	char buf[6];

	/* "ab\"c": a, b fit, then \" needs 2 more (5 with the terminator): it fits; c does not */
	ck_assert_uint_eq(gr_json_escape(buf, sizeof buf, "ab\"cd"), 5);
	ck_assert_str_eq(buf, "ab\\\"c");
	ck_assert_uint_eq(gr_json_escape(buf, 4, "ab\"c"), 2); /* never half an escape */
	ck_assert_str_eq(buf, "ab");
}
END_TEST

/* what a pipe received, whole */
static char *drain(int fd, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	ck_assert_ptr_nonnull(buf);
	while ((r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	*len = n;
	return buf;
}

START_TEST(test_out_longer_than_buffer_in_order)
{
	struct gr_out *o = malloc(sizeof *o);
	int p[2];
	size_t len, at = 0;
	char *got, line[32];

	ck_assert_int_eq(pipe(p), 0);
	gr_out_init(o, p[1]);
	for (int i = 0; i < 3000; i++) /* ~30 KB through a 4 KiB buffer (the pipe holds 64 KiB) */
		gr_out_printf(o, "line %d\n", i);
	gr_out_json_str(o, "q\"");
	ck_assert(gr_out_flush(o));
	close(p[1]);
	got = drain(p[0], &len);
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(line, sizeof line, "line %d\n", i);

		ck_assert_int_le(at + (size_t)n, len);
		ck_assert_int_eq(memcmp(got + at, line, (size_t)n), 0);
		at += (size_t)n;
	}
	ck_assert_uint_eq(len - at, 3);
	ck_assert_int_eq(memcmp(got + at, "q\\\"", 3), 0);
	free(got);
	free(o);
	close(p[0]);
}
END_TEST

START_TEST(test_out_failed_write_drops_the_rest)
{
	struct gr_out *o = malloc(sizeof *o);
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	gr_out_init(o, p[1]);
	gr_out_puts(o, "nobody reads this\n");
	ck_assert(!gr_out_flush(o));
	ck_assert(o->failed);
	for (int i = 0; i < 2000; i++) /* buffered, flushed, dropped: no write is retried */
		gr_out_printf(o, "more %d\n", i);
	ck_assert(!gr_out_flush(o));
	free(o);
	close(p[1]);
}
END_TEST

START_TEST(test_park_classes)
{
	static const struct {
		const char *what;
		enum gr_park_class class;
		const char *name;
	} cases[] = {
		{"read", GR_PARK_NET_READ, "net_read"},	   {"write", GR_PARK_NET_WRITE, "net_write"},
		{"fd lock", GR_PARK_FD_LOCK, "fd_lock"},   {"mutex", GR_PARK_MUTEX, "mutex"},
		{"cond", GR_PARK_COND, "cond"},		   {"rwlock read", GR_PARK_RWLOCK, "rwlock"},
		{"rwlock write", GR_PARK_RWLOCK, "rwlock"}, {"barrier", GR_PARK_BARRIER, "barrier"},
		{"semaphore", GR_PARK_SEMAPHORE, "semaphore"}, {"pthread_once", GR_PARK_ONCE, "once"},
		{"futex", GR_PARK_FUTEX, "futex"},	   {"sleep", GR_PARK_SLEEP, "sleep"},
		{"join", GR_PARK_JOIN, "join"},		   {"signal", GR_PARK_SIGNAL, "signal"},
		{"poll", GR_PARK_POLL, "poll"},		   {"shared futex", GR_PARK_OTHER, "other"},
		{NULL, GR_PARK_OTHER, "other"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(gr_stat_park_class(cases[i].what), cases[i].class);
		ck_assert_str_eq(gr_park_class_name(gr_stat_park_class(cases[i].what)), cases[i].name);
	}
}
END_TEST

START_TEST(test_stat_slots_summed_and_parks_by_class)
{
	struct gr_stat_slot *a = gr_stat_slot_new(), *b = gr_stat_slot_new();
	static const char mutex_here[] = "mutex", mutex_there[] = "mutex"; /* two addresses */
	static char reads[GR_STAT_NAMES + 5][sizeof "read"]; /* as many more */
	struct gr_stat_sum sum;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	gr_stat_add(a, GR_STAT_ACCEPTS, 3);
	gr_stat_add(b, GR_STAT_ACCEPTS, 4);
	gr_stat_add_shared(GR_STAT_HANDOFFS_STUCK, 2);
	gr_stat_park(a, mutex_here);
	gr_stat_park(a, mutex_there);
	gr_stat_park(b, mutex_here);
	for (int i = 0; i < GR_STAT_NAMES + 5; i++) { /* more names than a slot keeps */
		memcpy(reads[i], "read", sizeof "read");
		gr_stat_park(a, reads[i]);
	}
	gr_stat_sum(&sum);
	ck_assert_uint_eq(sum.v[GR_STAT_ACCEPTS], 7);
	ck_assert_uint_eq(sum.v[GR_STAT_HANDOFFS_STUCK], 2);
	ck_assert_uint_eq(sum.parks[GR_PARK_MUTEX], 3);
	/* slot a had room for GR_STAT_NAMES - 2 more names: the rest count as other */
	ck_assert_uint_eq(sum.parks[GR_PARK_NET_READ], GR_STAT_NAMES - 2);
	ck_assert_uint_eq(sum.parks[GR_PARK_OTHER], 7);
	gr_stat_after_fork_child(NULL);
	gr_stat_sum(&sum);
	ck_assert_uint_eq(sum.v[GR_STAT_ACCEPTS], 0);
	ck_assert_uint_eq(sum.parks[GR_PARK_MUTEX], 0);
}
END_TEST

START_TEST(test_stat_calls_merged_by_name)
{
	struct gr_stat_slot *a = gr_stat_slot_new(), *b = gr_stat_slot_new();
	static const char flock_a[] = "flock", flock_b[] = "flock", fsync_name[] = "fsync";
	struct gr_stat_call_sum out[4];
	char names[GR_STAT_NAMES + 3][16];
	uint64_t flock_n = 0, flock_slow = 0, fsync_n = 0, other_n = 0;
	int n;

	gr_stat_after_fork_child(NULL); /* from 0 */
	gr_stat_call(a, flock_a, true);
	gr_stat_call(a, flock_a, false);
	gr_stat_call(b, flock_b, true); /* another address, the same name */
	gr_stat_call(b, fsync_name, false);
	for (int i = 0; i < GR_STAT_NAMES + 3; i++) { /* more names than slot a keeps */
		snprintf(names[i], sizeof names[i], "call%d", i);
		gr_stat_call(a, names[i], i == 0);
	}
	n = gr_stat_calls(out, 4); /* room for 3 names and "other" */
	ck_assert_int_eq(n, 4);
	for (int i = 0; i < n; i++) {
		if (!strcmp(out[i].name, "flock"))
			flock_n = out[i].n, flock_slow = out[i].slow;
		else if (!strcmp(out[i].name, "fsync"))
			fsync_n = out[i].n;
		else if (!strcmp(out[i].name, "other"))
			other_n = out[i].n;
	}
	ck_assert_uint_eq(flock_n, 3);
	ck_assert_uint_eq(flock_slow, 2);
	ck_assert_uint_eq(fsync_n, 1);
	/* slot a held flock and 23 names of its own (call0 listed by name, the others in other),
	 * and counted 4 unlisted: every call is counted once somewhere */
	{
		uint64_t total = 0;

		for (int i = 0; i < n; i++)
			total += out[i].n;
		ck_assert_uint_eq(total, 4 + GR_STAT_NAMES + 3);
		ck_assert_uint_ge(other_n, GR_STAT_NAMES + 3 - 1);
	}
}
END_TEST

static Suite *out_suite(void)
{
	Suite *s = suite_create("out");
	TCase *tc = tcase_create("out");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_json_escape_specials);
	tcase_add_test(tc, test_json_escape_cut_at_a_whole_escape);
	tcase_add_test(tc, test_out_longer_than_buffer_in_order);
	tcase_add_test(tc, test_out_failed_write_drops_the_rest);
	tcase_add_test(tc, test_park_classes);
	tcase_add_test(tc, test_stat_slots_summed_and_parks_by_class);
	tcase_add_test(tc, test_stat_calls_merged_by_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(out_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
