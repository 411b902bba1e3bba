/*
 * stack.h — stack regions for tasks: mmap'd, reserved lazily, a guard page below, pooled.
 *
 * A region is [guard][usable ... top). Only touched pages cost memory (MAP_NORESERVE; the kernel
 * backs pages on first touch). The guard is a guard region (MADV_GUARD_INSTALL, Linux 6.13):
 * the region stays one kernel mapping, which the kernel merges with the regions mapped next to
 * it, so live tasks are not bounded by vm.max_map_count and cost no mapping of their own. On an
 * older kernel the guard is a PROT_NONE mapping of its own (mprotect): two mappings a region,
 * and vm.max_map_count bounds live tasks at about half its value.
 *
 * The pool keeps released regions by size class (usable size, guard) for reuse, most recently
 * released resident region first (cache-warm), trimmed regions last. Beyond GR_STACK_RESIDENT
 * pooled regions per class, a released region's pages below its top `keep` bytes are returned
 * to the kernel, so the pool holds address space, not memory; the top `keep` bytes (the task
 * record and its TCB) stay, which is what makes reuse cheap and the per-thread malloc cache
 * reusable.
 *
 * Regions pooled beyond a bound go back to the kernel once the program is idle
 * (gr_stack_trim, called by the monitor before its deep sleep; GREENPOLL_STACK_CACHE): each is
 * unmapped whole (stack, guard, task record, TCB), after its owner has released what the TCB
 * holds outside the region. The regions kept within the bound are trimmed too, so an idle
 * pool holds the bound's address space and its kept tops, nothing else. MADV_DONTNEED, not
 * MADV_FREE: MADV_FREE leaves the pages counted in RSS until the kernel is short of memory.
 *
 * A pooled region keeps a struct gr_stack_node in its top GR_STACK_NODE_BYTES; the node is
 * written on release, so a region in use may keep anything there.
 */
#ifndef GR_STACK_H
#define GR_STACK_H

#include <stdbool.h>
#include <stddef.h>

#define GR_STACK_RESIDENT 256
#define GR_STACK_CLASSES 16

struct gr_stack_node {
	struct gr_stack_node *next;
	size_t keep;  /* its top bytes the owner keeps (gr_stack_put's keep) */
	bool trimmed; /* its pages below the kept top were returned to the kernel */
};

/* Size of the top bytes of a region the pool may use for its node. */
#define GR_STACK_NODE_BYTES 64

/*
 * A region with usable bytes [top - size, top) above a guard of `guard` bytes (both multiples of
 * the page size); *reused tells whether it came from the pool (its old contents are there).
 * Returns its top, or NULL with *err = EAGAIN (no memory or no mapping left, what
 * pthread_create reports for either).
 */
void *gr_stack_get(size_t size, size_t guard, bool *reused, int *err);

/*
 * Give a region back. Returns false when the pool cannot take it (no class slot left): the
 * caller then releases what the region holds and calls gr_stack_unmap.
 */
bool gr_stack_put(void *top, size_t size, size_t guard, size_t keep);

void gr_stack_unmap(void *top, size_t size, size_t guard);

/* The most regions, all classes together, gr_stack_trim keeps pooled (GREENPOLL_STACK_CACHE). */
#define GR_STACK_CACHE_DEFAULT 1
void gr_stack_set_cache(size_t regions);

/*
 * Called when the program is idle: keep at most the cache bound's regions pooled, their pages
 * below the kept top returned to the kernel; unmap the others, calling forget(top) on each
 * first (with no lock held) to release what the region's owner holds outside it, or to refuse
 * (false: the region stays pooled, as one of the kept, whatever the bound). With forget
 * NULL (the owner cannot release it all), every region is kept and trimmed. Takes the
 * pool lock only to move list heads: regions being trimmed are out of the pool meanwhile, and
 * a task created then gets a fresh region. Returns the number of regions unmapped.
 */
size_t gr_stack_trim(bool (*forget)(void *top));

/* Pool contents, for tests and stats: regions pooled in a class, and how many are resident. */
void gr_stack_pool_count(size_t size, size_t guard, size_t *pooled, size_t *resident);

/* Regions mapped now (tasks', carriers', pooled) and pooled, all classes (stats). */
void gr_stack_counts(size_t *mapped, size_t *pooled);

size_t gr_page_size(void);

/* Whether guards are guard regions (one mapping a region) rather than mappings of their own. */
bool gr_stack_guards_packed(void);

#endif
