/*
 * calls.h — each interposed function's calls counted (the blocking report's "calls
 * intercepted", `stats`' calls.NAME): how many the program made, how many of those waited
 * green (the task parked, on a pollDesc or a wait queue) and how many were passed to libc's own
 * function (REAL, shim.h), or both (a call greenpoll makes green in part).
 *
 * Every GR_EXPORT function begins with SHIM_CALLED(its own name): the build makes the list of
 * names from those definitions (scripts/shim-calls.sh, which fails the build if one does not),
 * so each function has a number known at compile time. SHIM_CALLED counts the call in its
 * carrier's own counters (runtime/stats.h: a relaxed load, add and store on a line no other
 * carrier writes) and notes the function's number in the task (gr_task.call) with both parts
 * still to count: the first wait the call prepares (gr_wait_prepare) counts it green, the first
 * REAL it makes counts it passed. About fifteen instructions a call, no function call, nothing
 * shared, and at the return one load of the task's `interrupted` (measured: about 1 ns a call;
 * README).
 *
 * Counted: calls a task (a thread of the program) makes from code that is not greenpoll's:
 * a call greenpoll makes through one of its own exports (accept calling accept4, sleep calling
 * nanosleep, execl calling execv) is part of the outer call, as in libc. Calls outside a task
 * (before start-up, on an OS thread greenpoll did not make) go to libc uncounted, and so do
 * those libraries make for greenpoll on a task (libunwind's, for the report's backtrace: the
 * task's `uncounted` meanwhile). A call that
 * does not return (exit, an exec that succeeds) is counted all the same. A wait or a REAL
 * of greenpoll's own outside any interposed function (rare: a task's exit) would count as a part
 * of the task's last call, and a signal handler's call made inside another call takes over the
 * parts of the rest of that one.
 */
#ifndef GR_SHIM_CALLS_H
#define GR_SHIM_CALLS_H

#include "stats.h"

enum shim_call_id {
#define SHIM_CALL(name) SHIM_CALL_##name,
#include "shim_calls.h"
#undef SHIM_CALL
	SHIM_CALLS
};
_Static_assert(SHIM_CALLS <= GR_STAT_INTERCEPTED, "every interposed function has counters");

/* greenpoll's own code and data: the library's image up to the end of its text */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char __etext[] __attribute__((visibility("hidden")));

/*
 * First thing in the interposed function `name`: the call is counted (see above), and as it
 * returns, a signal that came for the task while it was in greenpoll's code (which kept it:
 * sigdeliver.c) runs its handler, as natively it would have run during the call.
 */
#define SHIM_CALLED(name)                                                                       \
	struct shim_call shim_call_ __attribute__((cleanup(shim_call_end))) =                   \
		shim_call_begin(SHIM_CALL_##name, __builtin_return_address(0))

/* a call in progress: its task if the call is the program's own (not one greenpoll makes
 * through its exports, nor a library's for greenpoll) */
struct shim_call {
	struct gr_task *outer;
};

static inline struct shim_call shim_call_begin(enum shim_call_id id, const void *from)
{
	struct gr_task *t = gr_current_task();
	struct gr_stat_slot *s;

	if (!t || ((const char *)from >= __ehdr_start && (const char *)from < __etext) ||
	    shim_of(t)->uncounted)
		return (struct shim_call){NULL};
	if (t->carrier && (s = t->carrier->stats)) {
		gr_stat_bump(&s->intercepted[id].n, 1);
		t->call = (uint16_t)id;
		t->call_todo = GR_STAT_CALL_GREEN | GR_STAT_CALL_PASSED;
	}
	return (struct shim_call){t};
}

static inline void shim_call_end(struct shim_call *c)
{
	if (c->outer && atomic_load_explicit(&c->outer->interrupted, memory_order_relaxed))
		shim_run_kept_signals(c->outer);
}

/* The functions called so far, most calls first (their order of names for equal counts), those
 * never called left out, into out (room for SHIM_CALLS): how many. */
struct shim_call_count {
	const char *name;
	struct gr_stat_intercepted_sum sum;
};
int shim_calls_sorted(struct shim_call_count *out);

#endif
