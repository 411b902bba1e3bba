/*
 * stats.h — the runtime's counters, read by the control channel's `stats` and `tasks`.
 *
 * Hot counters (a park, a switch, a poll) are per carrier: each carrier slot has a record of
 * its own (struct gr_stat_slot, a cache line apart from every other), written only by the OS
 * thread of the carrier in that slot, with a relaxed load and store (no locked instruction, no
 * line shared with another writer); a reader sums the slots (gr_stat_sum), so a sum is a
 * moment's view, never a torn value. A slot outlives its carrier (the slot's next carrier goes
 * on counting in it): nothing is lost when a spare ends. Rare events (handoffs, preemption
 * signals) are counted with atomic additions in one shared record.
 *
 * Parks are counted by what the task waited for, and calls passed to the kernel (the blocking
 * report's) by name: each slot keeps a small table of each (struct gr_stat_named) keyed by the
 * name's address (they are literals), claimed by the slot's writer; a reader merges them by
 * name: parks into classes (gr_stat_park_class), calls one by one (gr_stat_calls). A name that
 * finds no room in a slot's table is counted as unlisted ("other").
 *
 * Each interposed function's calls (shim/calls.h) are counted by a number the shim gives it,
 * in a fixed array of each slot (struct gr_stat_intercepted): made, waited green (counted by a
 * wait's gr_wait_prepare, once a call), passed to libc (by the shim, once a call). The runtime
 * knows no names for them; gr_stat_intercepted_sum adds the slots up.
 *
 * In a fork child every count starts again from 0 (the child's own).
 */
#ifndef GR_STATS_H
#define GR_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum gr_stat {
	/* per carrier */
	GR_STAT_TASKS_CREATED,
	GR_STAT_TASKS_EXITED,
	GR_STAT_WAKES_NORMAL,
	GR_STAT_WAKES_TIMEOUT,
	GR_STAT_WAKES_INTERRUPT,
	GR_STAT_SWITCHES,
	GR_STAT_POLLS,
	GR_STAT_POLL_EVENTS,
	GR_STAT_STEALS,
	GR_STAT_PREEMPT_YIELDS,
	GR_STAT_ACCEPTS,
	GR_STAT_BLOCKING_CALLS,
	GR_STAT_BUSY_NS,
	GR_STAT_PER_CARRIER,
	/* shared, atomic */
	GR_STAT_HANDOFFS_BRACKET = GR_STAT_PER_CARRIER, /* a bracketed call outlasted its grace */
	GR_STAT_HANDOFFS_STUCK,	  /* asleep in a call greenpoll does not see */
	GR_STAT_HANDOFFS_PREEMPT, /* computed past two time slices */
	GR_STAT_HANDOFFS_LONG,	  /* a call that waits by design, handed off at once */
	GR_STAT_PREEMPT_SIGNALS,
	GR_STAT_COUNT
};

/* the classes parks are shown in, in the order `stats` prints them */
enum gr_park_class {
	GR_PARK_NET_READ,
	GR_PARK_NET_WRITE,
	GR_PARK_FD_LOCK,
	GR_PARK_MUTEX,
	GR_PARK_COND,
	GR_PARK_RWLOCK,
	GR_PARK_BARRIER,
	GR_PARK_SEMAPHORE,
	GR_PARK_ONCE,
	GR_PARK_FUTEX,
	GR_PARK_SLEEP,
	GR_PARK_JOIN,
	GR_PARK_SIGNAL,
	GR_PARK_POLL,
	GR_PARK_OTHER,
	GR_PARK_CLASSES
};

#define GR_STAT_NAMES 24 /* names a slot's table keeps */

/* counts by name (see above); n of them slow (for calls) */
struct gr_stat_named {
	struct {
		const char *_Atomic name;
		_Atomic uint64_t n, slow;
	} e[GR_STAT_NAMES];
	_Atomic uint64_t unlisted, unlisted_slow;
};

#define GR_STAT_INTERCEPTED 256 /* interposed functions a slot counts (shim/calls.h) */

/* one interposed function's calls: made, of which waited green, of which passed to libc */
struct gr_stat_intercepted {
	_Atomic uint64_t n, green, passed;
};

struct gr_stat_slot {
	_Alignas(64) _Atomic uint64_t v[GR_STAT_PER_CARRIER];
	struct gr_stat_named parks, calls;
	struct gr_stat_intercepted intercepted[GR_STAT_INTERCEPTED];
	struct gr_stat_slot *next; /* every slot; const once listed */
};

/* A new slot (zeroed, listed for gr_stat_sum), or NULL out of memory. Never freed. */
struct gr_stat_slot *gr_stat_slot_new(void);

/* Add n to counter c of a slot; only the slot's writer calls it (no locked instruction). */
static inline void gr_stat_bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Add n to counter k of slot s; only s's writer calls it (NULL s: not counted). */
static inline void gr_stat_add(struct gr_stat_slot *s, enum gr_stat k, uint64_t n)
{
	if (s)
		gr_stat_bump(&s->v[k], n);
}

/* One park on `what` counted in slot s (s's writer only). */
void gr_stat_park(struct gr_stat_slot *s, const char *what);

/* One call `name` passed to the kernel (slow: it lasted the report's threshold or more)
 * counted in slot s (s's writer only). */
void gr_stat_call(struct gr_stat_slot *s, const char *name, bool slow);

/* The calls counted, merged by name over every slot, into out (at most max; names that do not
 * fit, and those no slot had room for, are added up under the name "other"): how many. */
struct gr_stat_call_sum {
	const char *name;
	uint64_t n, slow;
};
int gr_stat_calls(struct gr_stat_call_sum *out, int max);

/* the parts of an interposed function's call, each counted once a call */
enum { GR_STAT_CALL_GREEN = 1, GR_STAT_CALL_PASSED = 2 };

/* Part `part` of call `call` (an interposed function's number) counted in slot s, if *todo
 * says it was not yet (then it is cleared there); s's writer only (NULL s: not counted). */
static inline void gr_stat_call_part(struct gr_stat_slot *s, unsigned call, uint8_t *todo,
				     unsigned part)
{
	if (!(*todo & part))
		return;
	*todo &= (uint8_t)~part;
	if (s)
		gr_stat_bump(part == GR_STAT_CALL_GREEN ? &s->intercepted[call].green
							: &s->intercepted[call].passed, 1);
}

/* The calls of interposed functions 0..n-1 (n <= GR_STAT_INTERCEPTED), summed over every
 * slot, into out[0..n). */
struct gr_stat_intercepted_sum {
	uint64_t n, green, passed;
};
void gr_stat_intercepted_sum(struct gr_stat_intercepted_sum *out, int n);

/* Add n to a shared counter (k >= GR_STAT_PER_CARRIER). */
void gr_stat_add_shared(enum gr_stat k, uint64_t n);

struct gr_stat_sum {
	uint64_t v[GR_STAT_COUNT];
	uint64_t parks[GR_PARK_CLASSES];
};

/* The counters summed over every slot, parks by class. */
void gr_stat_sum(struct gr_stat_sum *out);

/* The class of a park on `what` (the names runtime/ and shim/ give gr_park). */
enum gr_park_class gr_stat_park_class(const char *what);

/* In a fork child (the after-fork registry, fork.h): every count back to 0. */
struct gr_task;
void gr_stat_after_fork_child(struct gr_task *self);

/* The name of stat k or park class c as `stats` prints it ([a-z0-9_.]+). */
const char *gr_stat_name(enum gr_stat k);
const char *gr_park_class_name(enum gr_park_class c);

#endif
