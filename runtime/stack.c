/*
 * stack.c — stack regions and their pool (see stack.h).
 *
 * Locking: one pool lock covers every class; it is held for a few pointer moves, never across
 * mmap/munmap/madvise. Those are raw system calls (sys.h): a failure must not change the
 * program's errno.
 *
 * Under AddressSanitizer (make asan) a region is unpoisoned whole when handed out: a task that
 * ended inside instrumented frames (a cancel's unwind through the shim) left their redzones
 * poisoned, and ASan cleans only stacks it knows of (the Makefile says why there are no fiber
 * annotations). Other builds compile nothing for it.
 */
#define _GNU_SOURCE
#include "stack.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fork.h"
#include "lock.h"

#ifdef GR_SANITIZE_address
#include <sanitizer/asan_interface.h>
#define REGION_HANDED_OUT(lo, size) ASAN_UNPOISON_MEMORY_REGION(lo, size)
#else
#define REGION_HANDED_OUT(lo, size) ((void)0)
#endif

struct stack_class {
	size_t size, guard;
	struct gr_stack_node *free, *free_tail; /* resident regions first, trimmed ones after */
	size_t pooled, resident;
};

static struct stack_class classes[GR_STACK_CLASSES];
static gr_lock_t pool_lock = GR_LOCK_INIT;
static size_t cache_regions = GR_STACK_CACHE_DEFAULT; /* set once at start-up */
static _Atomic size_t mapped; /* regions mapped now */

void gr_stack_set_cache(size_t regions) { cache_regions = regions; }

size_t gr_page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* 1: guard regions work here, -1: they do not (kernel before 6.13), 0: not tried yet */
static _Atomic int guard_regions;

/* [lo, lo + guard) faults on any access from now on */
static bool install_guard(char *lo, size_t guard)
{
	if (atomic_load_explicit(&guard_regions, memory_order_relaxed) >= 0) {
		long r = gr_os_madvise(lo, guard, MADV_GUARD_INSTALL);

		if (r == 0) {
			atomic_store_explicit(&guard_regions, 1, memory_order_relaxed);
			return true;
		}
		if (r != -EINVAL)
			return false;
		atomic_store_explicit(&guard_regions, -1, memory_order_relaxed);
	}
	return gr_os_mprotect(lo, guard, PROT_NONE) == 0;
}

bool gr_stack_guards_packed(void)
{
	if (!atomic_load(&guard_regions)) {
		bool reused;
		int err;
		void *top = gr_stack_get(gr_page_size(), gr_page_size(), &reused, &err);

		if (top)
			gr_stack_unmap(top, gr_page_size(), gr_page_size());
	}
	return atomic_load(&guard_regions) > 0;
}

static struct stack_class *find_class(size_t size, size_t guard, bool create)
{
	for (int i = 0; i < GR_STACK_CLASSES; i++) {
		struct stack_class *c = &classes[i];

		if (c->size == size && c->guard == guard)
			return c;
		if (!c->size && create) {
			c->size = size;
			c->guard = guard;
			return c;
		}
	}
	return NULL;
}

static struct gr_stack_node *node_of(void *top)
{
	return (struct gr_stack_node *)((char *)top - GR_STACK_NODE_BYTES);
}

static void *top_of(struct gr_stack_node *n)
{
	return (char *)n + GR_STACK_NODE_BYTES;
}

void *gr_stack_get(size_t size, size_t guard, bool *reused, int *err)
{
	struct stack_class *c;
	char *lo;

	gr_lock(&pool_lock);
	c = find_class(size, guard, false);
	if (c && c->free) {
		struct gr_stack_node *n = c->free;

		c->free = n->next;
		if (!c->free)
			c->free_tail = NULL;
		if (!n->trimmed)
			c->resident--;
		c->pooled--;
		gr_unlock(&pool_lock);
		*reused = true;
		REGION_HANDED_OUT((char *)top_of(n) - size, size);
		return top_of(n);
	}
	gr_unlock(&pool_lock);

	lo = gr_os_mmap_anon(size + guard, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, err);
	if (!lo) {
		if (*err == ENOMEM)
			*err = EAGAIN;
		return NULL;
	}
	if (guard && !install_guard(lo, guard)) {
		/* the map count limit: the guard would split the mapping in two */
		*err = EAGAIN;
		gr_os_munmap(lo, size + guard);
		return NULL;
	}
	atomic_fetch_add_explicit(&mapped, 1, memory_order_relaxed);
	*reused = false;
	REGION_HANDED_OUT(lo + guard, size);
	return lo + guard + size;
}

/* return a pooled region's pages below its kept top to the kernel */
static void trim_region(void *top, size_t size, size_t keep)
{
	size_t page = gr_page_size();
	char *lo = (char *)top - size;
	char *keep_lo = (char *)(((uintptr_t)top - keep) & ~(uintptr_t)(page - 1));

	gr_os_madvise(lo, (size_t)(keep_lo - lo), MADV_DONTNEED);
}

/* pooled regions beyond the resident limit keep only their top `keep` bytes */
bool gr_stack_put(void *top, size_t size, size_t guard, size_t keep)
{
	struct gr_stack_node *n = node_of(top);
	struct stack_class *c;
	bool trim;

	gr_lock(&pool_lock);
	c = find_class(size, guard, true);
	if (!c) {
		gr_unlock(&pool_lock);
		return false;
	}
	trim = c->resident >= GR_STACK_RESIDENT && size > keep;
	if (!trim)
		c->resident++;
	c->pooled++;
	gr_unlock(&pool_lock);

	if (trim)
		trim_region(top, size, keep);

	gr_lock(&pool_lock);
	n->keep = keep;
	n->trimmed = trim;
	if (trim) {
		n->next = NULL;
		if (c->free_tail)
			c->free_tail->next = n;
		else
			c->free = n;
		c->free_tail = n;
	} else {
		n->next = c->free;
		c->free = n;
		if (!c->free_tail)
			c->free_tail = n;
	}
	gr_unlock(&pool_lock);
	return true;
}

void gr_stack_unmap(void *top, size_t size, size_t guard)
{
	atomic_fetch_sub_explicit(&mapped, 1, memory_order_relaxed);
	gr_os_munmap((char *)top - size - guard, size + guard);
}

size_t gr_stack_trim(bool (*forget)(void *top))
{
	size_t budget = forget ? cache_regions : SIZE_MAX, unmapped = 0;

	for (int i = 0; i < GR_STACK_CLASSES; i++) {
		struct stack_class *c = &classes[i];
		struct gr_stack_node *n, *next, *kept = NULL, *kept_tail = NULL;
		size_t nkept = 0;

		gr_lock(&pool_lock);
		n = c->free;
		c->free = c->free_tail = NULL;
		c->pooled = c->resident = 0;
		gr_unlock(&pool_lock);
		for (; n; n = next) {
			next = n->next;
			if (nkept >= budget && forget(top_of(n))) {
				gr_stack_unmap(top_of(n), c->size, c->guard);
				unmapped++;
			} else {
				if (!n->trimmed)
					trim_region(top_of(n), c->size, n->keep);
				n->trimmed = true;
				n->next = NULL;
				if (kept_tail)
					kept_tail->next = n;
				else
					kept = n;
				kept_tail = n;
				nkept++;
			}
		}
		budget -= nkept;
		if (!kept)
			continue;
		/* trimmed regions go after whatever was released meanwhile */
		gr_lock(&pool_lock);
		if (c->free_tail)
			c->free_tail->next = kept;
		else
			c->free = kept;
		c->free_tail = kept_tail;
		c->pooled += nkept;
		gr_unlock(&pool_lock);
	}
	return unmapped;
}

void gr_stack_pool_count(size_t size, size_t guard, size_t *pooled, size_t *resident)
{
	struct stack_class *c;

	gr_lock(&pool_lock);
	c = find_class(size, guard, false);
	*pooled = c ? c->pooled : 0;
	*resident = c ? c->resident : 0;
	gr_unlock(&pool_lock);
}

/* fork.h: the pool lock may have been held by a thread that is gone */
static void stack_after_fork_child(struct gr_task *self)
{
	(void)self;
	pool_lock = (gr_lock_t)GR_LOCK_INIT;
}
GR_AFTER_FORK(GR_FORK_STACK, stack_after_fork_child);

void gr_stack_counts(size_t *mapped_now, size_t *pooled)
{
	*pooled = 0;
	gr_lock(&pool_lock);
	for (int i = 0; i < GR_STACK_CLASSES; i++)
		*pooled += classes[i].pooled;
	gr_unlock(&pool_lock);
	*mapped_now = atomic_load_explicit(&mapped, memory_order_relaxed);
}
