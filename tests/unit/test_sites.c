/*
 * test_sites.c — gr_sites (the blocking report's call sites, runtime/sites.h): calls from the
 * same site add up, different sites or call names stay apart, the largest total comes first,
 * a full table counts the rest as dropped (count and time), frames beyond GR_SITE_FRAMES do
 * not tell sites apart, and concurrent adds lose nothing.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdlib.h>

#include "sites.h"

static struct gr_sites *new_sites(void)
{
	struct gr_sites *s = calloc(1, sizeof *s);

	ck_assert_ptr_nonnull(s);
	gr_sites_reset(s);
	return s;
}

static struct gr_site out[GR_SITES_MAX];

START_TEST(test_sites_same_site_adds_up)
{
	struct gr_sites *s = new_sites();
	static const char flock_name[] = "flock";
	uintptr_t site[] = {0x1000, 0x2000, 0x3000};
	uint64_t dropped;
	int64_t dropped_ns;

	gr_sites_add(s, flock_name, site, 3, 300);
	gr_sites_add(s, flock_name, site, 3, 500);
	gr_sites_add(s, flock_name, site, 3, 100);
	ck_assert_int_eq(gr_sites_sorted(s, out, &dropped, &dropped_ns), 1);
	ck_assert_ptr_eq(out[0].call, flock_name);
	ck_assert_uint_eq(out[0].count, 3);
	ck_assert_int_eq(out[0].total_ns, 900);
	ck_assert_int_eq(out[0].worst_ns, 500);
	ck_assert_int_eq(out[0].nframes, 3);
	ck_assert_uint_eq(out[0].pcs[2], 0x3000);
	ck_assert_uint_eq(dropped, 0);
	free(s);
}
END_TEST

START_TEST(test_sites_apart_and_sorted_by_total)
{
	struct gr_sites *s = new_sites();
	static const char a[] = "flock", b[] = "fsync";
	uintptr_t one[] = {0x10, 0x20}, other[] = {0x10, 0x30};
	uint64_t dropped;
	int64_t dropped_ns;

	gr_sites_add(s, a, one, 2, 10);
	gr_sites_add(s, a, other, 2, 50);  /* another site: its own entry */
	gr_sites_add(s, b, one, 2, 30);	   /* another call from the same frames: its own */
	gr_sites_add(s, a, one, 1, 5);	   /* a shorter backtrace: another site */
	ck_assert_int_eq(gr_sites_sorted(s, out, &dropped, &dropped_ns), 4);
	ck_assert_int_eq(out[0].total_ns, 50);
	ck_assert_uint_eq(out[0].pcs[1], 0x30);
	ck_assert_int_eq(out[1].total_ns, 30);
	ck_assert_ptr_eq(out[1].call, b);
	ck_assert_int_eq(out[2].total_ns, 10);
	ck_assert_int_eq(out[3].total_ns, 5);
	ck_assert_int_eq(out[3].nframes, 1);
	free(s);
}
END_TEST

START_TEST(test_sites_full_table_counts_dropped)
{
	struct gr_sites *s = new_sites();
	uint64_t dropped;
	int64_t dropped_ns;

	for (uintptr_t i = 0; i < GR_SITES_MAX + 10; i++)
		gr_sites_add(s, "read", &i, 1, 7);
	gr_sites_add(s, "read", &(uintptr_t){3}, 1, 7); /* a listed site still adds up */
	ck_assert_int_eq(gr_sites_sorted(s, out, &dropped, &dropped_ns), GR_SITES_MAX);
	ck_assert_uint_eq(dropped, 10);
	ck_assert_int_eq(dropped_ns, 70);
	for (int i = 0; i < GR_SITES_MAX; i++)
		ck_assert_uint_eq(out[i].count, out[i].pcs[0] == 3 ? 2 : 1);
	free(s);
}
END_TEST

START_TEST(test_sites_frames_beyond_the_cap_ignored)
{
	struct gr_sites *s = new_sites();
	uintptr_t deep1[GR_SITE_FRAMES + 2], deep2[GR_SITE_FRAMES + 2];
	uint64_t dropped;
	int64_t dropped_ns;

	for (int i = 0; i < GR_SITE_FRAMES + 2; i++)
		deep1[i] = deep2[i] = (uintptr_t)(0x100 + i);
	deep2[GR_SITE_FRAMES + 1] = 0xdead; /* differs only past the cap */
	gr_sites_add(s, "pread", deep1, GR_SITE_FRAMES + 2, 1);
	gr_sites_add(s, "pread", deep2, GR_SITE_FRAMES + 2, 1);
	ck_assert_int_eq(gr_sites_sorted(s, out, &dropped, &dropped_ns), 1);
	ck_assert_int_eq(out[0].nframes, GR_SITE_FRAMES);
	ck_assert_uint_eq(out[0].count, 2);
	free(s);
}
END_TEST

#define ADDERS 4
#define ADDS 20000

static void *adder(void *arg)
{
	struct gr_sites *s = arg;

	for (uintptr_t i = 0; i < ADDS; i++)
		gr_sites_add(s, "semop", &(uintptr_t){i % 5}, 1, 1);
	return NULL;
}

START_TEST(test_sites_concurrent_adds_lose_nothing)
{
	struct gr_sites *s = new_sites();
	pthread_t th[ADDERS];
	uint64_t dropped, count = 0;
	int64_t dropped_ns, total = 0;
	int n;

	for (int i = 0; i < ADDERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, adder, s), 0);
	for (int i = 0; i < ADDERS; i++)
		pthread_join(th[i], NULL);
	n = gr_sites_sorted(s, out, &dropped, &dropped_ns);
	ck_assert_int_eq(n, 5);
	for (int i = 0; i < n; i++) {
		count += out[i].count;
		total += out[i].total_ns;
	}
	ck_assert_uint_eq(count, ADDERS * ADDS);
	ck_assert_int_eq(total, ADDERS * ADDS);
	free(s);
}
END_TEST

static Suite *sites_suite(void)
{
	Suite *s = suite_create("sites");
	TCase *tc = tcase_create("aggregation");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sites_same_site_adds_up);
	tcase_add_test(tc, test_sites_apart_and_sorted_by_total);
	tcase_add_test(tc, test_sites_full_table_counts_dropped);
	tcase_add_test(tc, test_sites_frames_beyond_the_cap_ignored);
	tcase_add_test(tc, test_sites_concurrent_adds_lose_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sites_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
