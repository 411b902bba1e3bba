/*
 * test_stack.c — stack regions and their pool: gr_stack_get/put/unmap, gr_stack_pool_count,
 * gr_stack_trim.
 *
 * The pool is process-global; Check's fork mode gives every test a fresh one, and each test
 * still uses size classes of its own.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stack.h"

static size_t PG;

static void setup(void) { PG = gr_page_size(); }

static void *get_new(size_t size, size_t guard)
{
	bool reused = true;
	int err = 0;
	void *top = gr_stack_get(size, guard, &reused, &err);

	ck_assert_msg(top != NULL, "gr_stack_get(%zu, %zu): err %d", size, guard, err);
	ck_assert_msg(!reused, "a fresh region was reported reused");
	ck_assert_uint_eq((uintptr_t)top % PG, 0);
	return top;
}

static void *get_any(size_t size, size_t guard, bool *reused)
{
	int err = 0;
	void *top = gr_stack_get(size, guard, reused, &err);

	ck_assert_msg(top != NULL, "gr_stack_get(%zu, %zu): err %d", size, guard, err);
	return top;
}

static void pool_is(size_t size, size_t guard, size_t pooled, size_t resident)
{
	size_t p = 12345, r = 12345;

	gr_stack_pool_count(size, guard, &p, &r);
	ck_assert_msg(p == pooled && r == resident,
		      "class (%zu, %zu): pooled %zu resident %zu, want %zu and %zu", size, guard, p,
		      r, pooled, resident);
}

/* pages of [lo, lo + len) resident, by mincore */
static size_t resident_pages(void *lo, size_t len)
{
	size_t n = len / PG, count = 0;
	unsigned char *vec = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(vec);
	ck_assert_msg(mincore(lo, len, vec) == 0, "mincore: %s", strerror(errno));
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/* run fn(arg) in a child; return its wait status */
static int in_child(void (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* the default action, and no core file for the expected fault */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		fn(arg);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void touch(void *p) { *(volatile char *)p = 1; }

START_TEST(test_stack_get_region_writable)
{
	const size_t sizes[] = {PG, 4 * PG, 64 * PG};
	const size_t guards[] = {PG, 2 * PG, PG};

	for (int k = 0; k < 3; k++) {
		size_t size = sizes[k], guard = guards[k];
		unsigned char *top = get_new(size, guard), *lo = top - size;

		memset(lo, 0xa5, size);
		for (size_t i = 0; i < size; i += 97)
			ck_assert_uint_eq(lo[i], 0xa5);
		ck_assert_uint_eq(top[-1], 0xa5);
		ck_assert_uint_eq(lo[0], 0xa5);
		ck_assert_uint_eq(resident_pages(lo, size), size / PG);
		gr_stack_unmap(top, size, guard);
	}
}
END_TEST

START_TEST(test_stack_guard_page_faults)
{
	const size_t size = 8 * PG;

	for (size_t guard = PG; guard <= 3 * PG; guard += 2 * PG) {
		char *top = get_new(size, guard), *lo = top - size;
		int st;

		/* the lowest usable byte is fine */
		st = in_child(touch, lo);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "touching the lowest usable byte: status %#x", st);
		/* the byte just below it is in the guard */
		st = in_child(touch, lo - 1);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
			      "touching the guard page just below (guard %zu): status %#x", guard,
			      st);
		/* and so is the lowest guard byte */
		st = in_child(touch, lo - guard);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
			      "touching the lowest guard byte (guard %zu): status %#x", guard, st);
		gr_stack_unmap(top, size, guard);
	}
}
END_TEST

/* the mappings that overlap any of the n regions (tops[i] - size - guard .. tops[i]): only
 * those, so that what a sanitizer maps for itself at each mmap (TSan) does not count */
static int mappings_over(char *const *tops, int n, size_t size, size_t guard)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int count = 0;

	ck_assert_msg(f != NULL, "cannot open /proc/self/maps");
	while (fgets(line, sizeof line, f)) {
		unsigned long start, end;

		if (sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		for (int i = 0; i < n; i++) {
			if (start < (uintptr_t)tops[i] && end > (uintptr_t)tops[i] - size - guard) {
				count++;
				break;
			}
		}
	}
	fclose(f);
	return count;
}

/* with guard regions, regions mapped one after another share mappings; else two apiece */
START_TEST(test_stack_guards_cost_no_mapping)
{
	enum { REGIONS = 64 };
	const size_t size = 16 * PG, guard = PG;
	char *tops[REGIONS];
	int added;
	bool packed = gr_stack_guards_packed();

	for (int i = 0; i < REGIONS; i++) {
		tops[i] = get_new(size, guard);
		tops[i][-1] = 1; /* a touched region merges too */
	}
	added = mappings_over(tops, REGIONS, size, guard);
	if (packed)
		ck_assert_msg(added < REGIONS / 4, "%d regions with guard regions added %d mappings",
			      REGIONS, added);
	else
		ck_assert_msg(added >= REGIONS && added <= 2 * REGIONS + 2,
			      "%d regions with PROT_NONE guards added %d mappings", REGIONS, added);
	for (int i = 0; i < REGIONS; i++) {
		int st = in_child(touch, tops[i] - size - 1);

		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
			      "region %d: touching its guard: status %#x", i, st);
	}
	for (int i = 0; i < REGIONS; i++)
		gr_stack_unmap(tops[i], size, guard);
	ck_assert_int_eq(mappings_over(tops, REGIONS, size, guard), 0);
}
END_TEST

START_TEST(test_stack_put_get_reuses_lifo)
{
	const size_t size = 16 * PG, guard = PG, keep = 2 * PG;
	char *a = get_new(size, guard), *b = get_new(size, guard), *c = get_new(size, guard);
	bool reused;

	ck_assert_ptr_ne(a, b);
	memset(a - size, 'a', size);
	memset(b - size, 'b', size);
	memset(c - size, 'c', size);
	pool_is(size, guard, 0, 0);
	ck_assert(gr_stack_put(a, size, guard, keep));
	pool_is(size, guard, 1, 1);
	ck_assert(gr_stack_put(b, size, guard, keep));
	pool_is(size, guard, 2, 2);

	/* last in, first out, with its old contents (below the pool's node) */
	ck_assert_ptr_eq(get_any(size, guard, &reused), b);
	ck_assert(reused);
	pool_is(size, guard, 1, 1);
	ck_assert_int_eq(b[-(long)size], 'b');
	ck_assert_int_eq(b[-GR_STACK_NODE_BYTES - 1], 'b');

	ck_assert(gr_stack_put(c, size, guard, keep));
	ck_assert(gr_stack_put(b, size, guard, keep));
	pool_is(size, guard, 3, 3);
	ck_assert_ptr_eq(get_any(size, guard, &reused), b);
	ck_assert(reused);
	ck_assert_ptr_eq(get_any(size, guard, &reused), c);
	ck_assert(reused);
	ck_assert_int_eq(c[-(long)size], 'c');
	ck_assert_ptr_eq(get_any(size, guard, &reused), a);
	ck_assert(reused);
	ck_assert_int_eq(a[-(long)size], 'a');
	ck_assert_int_eq(a[-GR_STACK_NODE_BYTES - 1], 'a');
	pool_is(size, guard, 0, 0);

	/* pool empty: a new region */
	char *d = get_new(size, guard);
	ck_assert(d != a && d != b && d != c);

	/* a reused region still has its guard */
	int st = in_child(touch, a - size - 1);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "guard of a reused region");

	gr_stack_unmap(a, size, guard);
	gr_stack_unmap(b, size, guard);
	gr_stack_unmap(c, size, guard);
	gr_stack_unmap(d, size, guard);
}
END_TEST

START_TEST(test_stack_classes_do_not_mix)
{
	const size_t s1 = 8 * PG, s2 = 12 * PG, g1 = PG, g2 = 2 * PG;
	char *a = get_new(s1, g1), *b = get_new(s2, g1), *c = get_new(s1, g2);
	bool reused;

	ck_assert(gr_stack_put(a, s1, g1, PG));
	pool_is(s1, g1, 1, 1);
	pool_is(s2, g1, 0, 0);
	pool_is(s1, g2, 0, 0);

	/* same guard, other size; same size, other guard: not a */
	char *x = get_any(s2, g1, &reused);
	ck_assert(!reused);
	ck_assert_ptr_ne(x, a);
	char *y = get_any(s1, g2, &reused);
	ck_assert(!reused);
	ck_assert_ptr_ne(y, a);
	pool_is(s1, g1, 1, 1);

	ck_assert(gr_stack_put(b, s2, g1, PG));
	ck_assert(gr_stack_put(c, s1, g2, PG));
	pool_is(s1, g1, 1, 1);
	pool_is(s2, g1, 1, 1);
	pool_is(s1, g2, 1, 1);

	ck_assert_ptr_eq(get_any(s1, g2, &reused), c);
	ck_assert(reused);
	ck_assert_ptr_eq(get_any(s2, g1, &reused), b);
	ck_assert(reused);
	ck_assert_ptr_eq(get_any(s1, g1, &reused), a);
	ck_assert(reused);
	pool_is(s1, g1, 0, 0);
	pool_is(s2, g1, 0, 0);
	pool_is(s1, g2, 0, 0);

	gr_stack_unmap(a, s1, g1);
	gr_stack_unmap(b, s2, g1);
	gr_stack_unmap(c, s1, g2);
	gr_stack_unmap(x, s2, g1);
	gr_stack_unmap(y, s1, g2);
}
END_TEST

/* fill [top - keep, top - GR_STACK_NODE_BYTES) with a pattern derived from top */
static unsigned char pat(void *top, size_t off) { return (unsigned char)(((uintptr_t)top >> 12) + off * 7); }

static void fill_kept(char *top, size_t keep)
{
	for (size_t off = GR_STACK_NODE_BYTES; off < keep; off++)
		top[-(long)off - 1] = (char)pat(top, off);
}

static bool kept_intact(char *top, size_t keep)
{
	for (size_t off = GR_STACK_NODE_BYTES; off < keep; off++)
		if ((unsigned char)top[-(long)off - 1] != pat(top, off))
			return false;
	return true;
}

static void check_trim(size_t keep, size_t keep_pages)
{
	const size_t size = 32 * PG, guard = PG;
	const size_t n = GR_STACK_RESIDENT + 3;
	char **tops = calloc(n, sizeof *tops);
	bool reused;

	ck_assert_ptr_nonnull(tops);
	for (size_t i = 0; i < n; i++) {
		tops[i] = get_new(size, guard);
		memset(tops[i] - size, 0x5a, size); /* every page resident */
		fill_kept(tops[i], keep);
	}
	/* up to GR_STACK_RESIDENT: pooled whole */
	for (size_t i = 0; i < GR_STACK_RESIDENT; i++) {
		ck_assert(gr_stack_put(tops[i], size, guard, keep));
		pool_is(size, guard, i + 1, i + 1);
	}
	for (size_t i = 0; i < GR_STACK_RESIDENT; i += 51)
		ck_assert_uint_eq(resident_pages(tops[i] - size, size), size / PG);

	/* beyond it: only the top `keep` bytes (whole pages) stay */
	for (size_t i = GR_STACK_RESIDENT; i < n; i++) {
		char *top = tops[i], *lo = top - size;

		ck_assert(gr_stack_put(top, size, guard, keep));
		pool_is(size, guard, i + 1, GR_STACK_RESIDENT);
		ck_assert_msg(resident_pages(lo, size - keep_pages * PG) == 0,
			      "region %zu: %zu of %zu pages below the kept top still resident", i,
			      resident_pages(lo, size - keep_pages * PG), size / PG - keep_pages);
		ck_assert_uint_eq(resident_pages(top - keep_pages * PG, keep_pages * PG), keep_pages);
		ck_assert_msg(kept_intact(top, keep), "region %zu: kept top bytes changed", i);
	}

	/* the resident ones come back first, most recently released first, untouched */
	for (size_t i = GR_STACK_RESIDENT; i-- > 0;) {
		char *top = get_any(size, guard, &reused);

		ck_assert(reused);
		ck_assert_ptr_eq(top, tops[i]);
		pool_is(size, guard, i + (n - GR_STACK_RESIDENT), i);
		ck_assert_int_eq((unsigned char)top[-(long)size], 0x5a);
	}
	/* then the trimmed ones, in the order released, top intact and the rest zero */
	for (size_t i = GR_STACK_RESIDENT; i < n; i++) {
		char *top = get_any(size, guard, &reused);

		ck_assert(reused);
		ck_assert_ptr_eq(top, tops[i]);
		pool_is(size, guard, n - i - 1, 0);
		ck_assert(kept_intact(top, keep));
		ck_assert_int_eq(top[-(long)size], 0);
	}
	pool_is(size, guard, 0, 0);
	for (size_t i = 0; i < n; i++)
		gr_stack_unmap(tops[i], size, guard);
	free(tops);
}

START_TEST(test_stack_trim_beyond_resident)
{
	check_trim(4 * PG, 4);
}
END_TEST

/* a `keep` that is not whole pages: the page holding its lowest byte stays */
START_TEST(test_stack_trim_keep_unaligned)
{
	check_trim(PG + 100, 2);
}
END_TEST

START_TEST(test_stack_pool_count)
{
	const size_t size = 4 * PG, guard = PG;
	char *r[5];
	bool reused;

	/* a class never seen */
	pool_is(size, guard, 0, 0);
	pool_is(7 * PG, 3 * PG, 0, 0);
	for (int i = 0; i < 5; i++)
		r[i] = get_new(size, guard);
	pool_is(size, guard, 0, 0);
	for (int i = 0; i < 5; i++) {
		ck_assert(gr_stack_put(r[i], size, guard, PG));
		pool_is(size, guard, (size_t)i + 1, (size_t)i + 1);
	}
	for (int i = 4; i >= 0; i--) {
		ck_assert_ptr_eq(get_any(size, guard, &reused), r[i]);
		pool_is(size, guard, (size_t)i, (size_t)i);
	}
	/* other classes are not counted here */
	char *o = get_new(size, 2 * PG);
	ck_assert(gr_stack_put(o, size, 2 * PG, PG));
	pool_is(size, guard, 0, 0);
	pool_is(size, 2 * PG, 1, 1);
	for (int i = 0; i < 5; i++)
		gr_stack_unmap(r[i], size, guard);
}
END_TEST

START_TEST(test_stack_unmap)
{
	const size_t size = 8 * PG, guard = PG;
	char *top = get_new(size, guard);
	unsigned char vec[9];

	memset(top - size, 1, size);
	gr_stack_unmap(top, size, guard);
	/* nothing of the region, guard included, is mapped any more */
	for (size_t off = 0; off < size + guard; off += PG) {
		errno = 0;
		ck_assert_int_eq(mincore(top - size - guard + off, PG, vec), -1);
		ck_assert_int_eq(errno, ENOMEM);
	}
	int st = in_child(touch, top - PG);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}
END_TEST

START_TEST(test_stack_get_fails_cleanly)
{
	bool reused = false;
	int err = 0;
	/* far more address space than a process has */
	size_t huge = ((size_t)1 << 62);

	ck_assert_ptr_null(gr_stack_get(huge, PG, &reused, &err));
	ck_assert_msg(err == ENOMEM || err == EAGAIN, "err %d", err);
}
END_TEST

/* GR_STACK_CLASSES classes at most: a put in one more is refused */
START_TEST(test_stack_put_refused_without_class_slot)
{
	char *r[GR_STACK_CLASSES + 1];
	bool reused;

	for (int i = 0; i <= GR_STACK_CLASSES; i++)
		r[i] = get_new((size_t)(i + 1) * PG, PG);
	for (int i = 0; i < GR_STACK_CLASSES; i++)
		ck_assert(gr_stack_put(r[i], (size_t)(i + 1) * PG, PG, PG));
	ck_assert(!gr_stack_put(r[GR_STACK_CLASSES], (size_t)(GR_STACK_CLASSES + 1) * PG, PG, PG));
	pool_is((size_t)(GR_STACK_CLASSES + 1) * PG, PG, 0, 0);
	/* the existing classes still work */
	ck_assert_ptr_eq(get_any(3 * PG, PG, &reused), r[2]);
	ck_assert(reused);
	for (int i = 0; i <= GR_STACK_CLASSES; i++)
		gr_stack_unmap(r[i], (size_t)(i + 1) * PG, PG);
}
END_TEST

static void *forgotten[8];
static int n_forgotten;

static bool forget(void *top)
{
	ck_assert_int_lt(n_forgotten, 8);
	/* still mapped when its owner is told */
	ck_assert_int_eq(((volatile char *)top)[-1], 'k');
	forgotten[n_forgotten++] = top;
	return true;
}

/* an owner that still uses its regions (a carrier running on a TCB in one) */
static bool refuse(void *top)
{
	ck_assert_int_eq(((volatile char *)top)[-1], 'k');
	return false;
}

static bool unmapped(void *top, size_t size, size_t guard)
{
	unsigned char vec[1];

	for (size_t off = 0; off < size + guard; off += PG)
		if (mincore((char *)top - size - guard + off, PG, vec) == 0 || errno != ENOMEM)
			return false;
	return true;
}

/* regions beyond the cache bound are unmapped, the owner told first; kept ones lose their
 * pages below the kept top but keep the top and stay reusable */
START_TEST(test_stack_trim_unmaps_beyond_cache)
{
	const size_t size = 16 * PG, guard = PG, keep = 2 * PG;
	char *r[4];
	bool reused;

	for (int i = 0; i < 4; i++) {
		r[i] = get_new(size, guard);
		memset(r[i] - size, 'k', size);
	}
	for (int i = 0; i < 4; i++)
		ck_assert(gr_stack_put(r[i], size, guard, keep));
	pool_is(size, guard, 4, 4);
	gr_stack_set_cache(1);
	ck_assert_uint_eq(gr_stack_trim(forget), 3);
	pool_is(size, guard, 1, 0);
	/* the most recently released is kept */
	ck_assert_int_eq(n_forgotten, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_eq(forgotten[i], r[2 - i]);
		ck_assert(unmapped(r[2 - i], size, guard));
	}
	ck_assert_uint_eq(resident_pages(r[3] - size, size - keep), 0);
	ck_assert_uint_eq(resident_pages(r[3] - keep, keep), keep / PG);
	ck_assert_int_eq(r[3][-GR_STACK_NODE_BYTES - 1], 'k');
	/* trimming again changes nothing */
	ck_assert_uint_eq(gr_stack_trim(forget), 0);
	pool_is(size, guard, 1, 0);
	ck_assert_ptr_eq(get_any(size, guard, &reused), r[3]);
	ck_assert(reused);
	gr_stack_unmap(r[3], size, guard);
}
END_TEST

/* with no way to release what regions' owners hold, every region is kept, trimmed */
START_TEST(test_stack_trim_without_forget_keeps_all)
{
	const size_t size = 16 * PG, guard = PG, keep = PG;
	char *r[3];

	for (int i = 0; i < 3; i++) {
		r[i] = get_new(size, guard);
		memset(r[i] - size, 'k', size);
	}
	for (int i = 0; i < 3; i++)
		ck_assert(gr_stack_put(r[i], size, guard, keep));
	gr_stack_set_cache(0);
	ck_assert_uint_eq(gr_stack_trim(NULL), 0);
	pool_is(size, guard, 3, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(resident_pages(r[i] - size, size - keep), 0);
		gr_stack_unmap(r[i], size, guard);
	}
}
END_TEST

/* a region whose owner refuses to let it go stays pooled and usable, beyond the bound */
START_TEST(test_stack_trim_keeps_refused)
{
	const size_t size = 16 * PG, guard = PG, keep = PG;
	char *r[2];
	bool reused;

	for (int i = 0; i < 2; i++) {
		r[i] = get_new(size, guard);
		memset(r[i] - size, 'k', size);
	}
	for (int i = 0; i < 2; i++)
		ck_assert(gr_stack_put(r[i], size, guard, keep));
	gr_stack_set_cache(0);
	ck_assert_uint_eq(gr_stack_trim(refuse), 0);
	pool_is(size, guard, 2, 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(r[i][-1], 'k');
		ck_assert_ptr_nonnull(get_any(size, guard, &reused));
		ck_assert(reused);
	}
	for (int i = 0; i < 2; i++)
		gr_stack_unmap(r[i], size, guard);
}
END_TEST

/* the bound counts regions of every class together */
START_TEST(test_stack_trim_cache_spans_classes)
{
	char *a = get_new(4 * PG, PG), *b = get_new(8 * PG, PG), *c = get_new(8 * PG, PG);

	memset(a - PG, 'k', PG);
	memset(b - PG, 'k', PG);
	memset(c - PG, 'k', PG);
	ck_assert(gr_stack_put(a, 4 * PG, PG, PG));
	ck_assert(gr_stack_put(b, 8 * PG, PG, PG));
	ck_assert(gr_stack_put(c, 8 * PG, PG, PG));
	gr_stack_set_cache(2);
	ck_assert_uint_eq(gr_stack_trim(forget), 1);
	pool_is(4 * PG, PG, 1, 0);
	pool_is(8 * PG, PG, 1, 0);
	gr_stack_unmap(a, 4 * PG, PG);
	gr_stack_unmap(c, 8 * PG, PG);
}
END_TEST

static Suite *stack_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc = tcase_create("pool");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_stack_get_region_writable);
	tcase_add_test(tc, test_stack_guard_page_faults);
	tcase_add_test(tc, test_stack_guards_cost_no_mapping);
	tcase_add_test(tc, test_stack_put_get_reuses_lifo);
	tcase_add_test(tc, test_stack_classes_do_not_mix);
	tcase_add_test(tc, test_stack_trim_beyond_resident);
	tcase_add_test(tc, test_stack_trim_keep_unaligned);
	tcase_add_test(tc, test_stack_pool_count);
	tcase_add_test(tc, test_stack_unmap);
	tcase_add_test(tc, test_stack_get_fails_cleanly);
	tcase_add_test(tc, test_stack_trim_unmaps_beyond_cache);
	tcase_add_test(tc, test_stack_trim_without_forget_keeps_all);
	tcase_add_test(tc, test_stack_trim_keeps_refused);
	tcase_add_test(tc, test_stack_trim_cache_spans_classes);
	/* uses up every class slot of the (per-test, forked) pool */
	if (!getenv("CK_FORK") || strcmp(getenv("CK_FORK"), "no") != 0)
		tcase_add_test(tc, test_stack_put_refused_without_class_slot);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stack_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
