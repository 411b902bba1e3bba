/*
 * stats.c — per-carrier counters and their sums (see stats.h).
 */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "fork.h"

static struct gr_stat_slot *_Atomic slots; /* every slot, newest first */
static _Atomic uint64_t shared[GR_STAT_COUNT - GR_STAT_PER_CARRIER];

static const char *const stat_names[GR_STAT_COUNT] = {
	[GR_STAT_TASKS_CREATED] = "tasks.created",
	[GR_STAT_TASKS_EXITED] = "tasks.exited",
	[GR_STAT_WAKES_NORMAL] = "wakes.normal",
	[GR_STAT_WAKES_TIMEOUT] = "wakes.timeout",
	[GR_STAT_WAKES_INTERRUPT] = "wakes.interrupt",
	[GR_STAT_SWITCHES] = "sched.switches",
	[GR_STAT_POLLS] = "netpoll.polls",
	[GR_STAT_POLL_EVENTS] = "netpoll.events",
	[GR_STAT_STEALS] = "sched.steals",
	[GR_STAT_PREEMPT_YIELDS] = "preempt.yields",
	[GR_STAT_ACCEPTS] = "net.accepts",
	[GR_STAT_BLOCKING_CALLS] = "blocking.calls",
	[GR_STAT_BUSY_NS] = "carriers.busy_ns",
	[GR_STAT_HANDOFFS_BRACKET] = "handoffs.bracket",
	[GR_STAT_HANDOFFS_STUCK] = "handoffs.stuck",
	[GR_STAT_HANDOFFS_PREEMPT] = "handoffs.preempt",
	[GR_STAT_HANDOFFS_LONG] = "handoffs.long",
	[GR_STAT_PREEMPT_SIGNALS] = "preempt.signals",
};

static const char *const class_names[GR_PARK_CLASSES] = {
	[GR_PARK_NET_READ] = "net_read",   [GR_PARK_NET_WRITE] = "net_write",
	[GR_PARK_FD_LOCK] = "fd_lock",	   [GR_PARK_MUTEX] = "mutex",
	[GR_PARK_COND] = "cond",	   [GR_PARK_RWLOCK] = "rwlock",
	[GR_PARK_BARRIER] = "barrier",	   [GR_PARK_SEMAPHORE] = "semaphore",
	[GR_PARK_ONCE] = "once",	   [GR_PARK_FUTEX] = "futex",
	[GR_PARK_SLEEP] = "sleep",	   [GR_PARK_JOIN] = "join",
	[GR_PARK_SIGNAL] = "signal",	   [GR_PARK_POLL] = "poll",
	[GR_PARK_OTHER] = "other",
};

/* the `what` names given to gr_park, by class */
static const struct {
	const char *what;
	enum gr_park_class class;
} whats[] = {
	{"read", GR_PARK_NET_READ},	   {"write", GR_PARK_NET_WRITE},
	{"fd lock", GR_PARK_FD_LOCK},	   {"mutex", GR_PARK_MUTEX},
	{"cond", GR_PARK_COND},		   {"rwlock read", GR_PARK_RWLOCK},
	{"rwlock write", GR_PARK_RWLOCK},  {"barrier", GR_PARK_BARRIER},
	{"semaphore", GR_PARK_SEMAPHORE}, {"pthread_once", GR_PARK_ONCE},
	{"futex", GR_PARK_FUTEX},	   {"sleep", GR_PARK_SLEEP},
	{"join", GR_PARK_JOIN},		   {"signal", GR_PARK_SIGNAL},
	{"poll", GR_PARK_POLL},
};

const char *gr_stat_name(enum gr_stat k) { return stat_names[k]; }
const char *gr_park_class_name(enum gr_park_class c) { return class_names[c]; }

enum gr_park_class gr_stat_park_class(const char *what)
{
	for (size_t i = 0; what && i < sizeof whats / sizeof whats[0]; i++)
		if (strcmp(what, whats[i].what) == 0)
			return whats[i].class;
	return GR_PARK_OTHER;
}

struct gr_stat_slot *gr_stat_slot_new(void)
{
	struct gr_stat_slot *s = aligned_alloc(64, sizeof *s);

	if (!s)
		return NULL;
	memset(s, 0, sizeof *s);
	s->next = atomic_load(&slots);
	while (!atomic_compare_exchange_weak(&slots, &s->next, s))
		;
	return s;
}

static void named_add(struct gr_stat_named *t, const char *name, bool slow)
{
	for (int i = 0; i < GR_STAT_NAMES; i++) {
		const char *w = atomic_load_explicit(&t->e[i].name, memory_order_relaxed);

		if (!w) /* the writer claims it: the counts are 0, so a reader may see it either way */
			atomic_store_explicit(&t->e[i].name, w = name, memory_order_release);
		if (w == name) {
			gr_stat_bump(&t->e[i].n, 1);
			if (slow)
				gr_stat_bump(&t->e[i].slow, 1);
			return;
		}
	}
	gr_stat_bump(&t->unlisted, 1);
	if (slow)
		gr_stat_bump(&t->unlisted_slow, 1);
}

void gr_stat_park(struct gr_stat_slot *s, const char *what)
{
	if (s)
		named_add(&s->parks, what, false);
}

void gr_stat_call(struct gr_stat_slot *s, const char *name, bool slow)
{
	if (s)
		named_add(&s->calls, name, slow);
}

/* n, slow of a call `name` added to out[0..*k) (max entries; the last keeps "other") */
static void merge_call(struct gr_stat_call_sum *out, int *k, int max, const char *name,
		       uint64_t n, uint64_t slow)
{
	int i;

	for (i = 0; i < *k && strcmp(out[i].name, name) != 0; i++)
		;
	if (i == *k && *k >= max - 1) { /* the last entry is kept for "other" */
		name = "other";
		for (i = 0; i < *k && strcmp(out[i].name, name) != 0; i++)
			;
	}
	if (i == *k)
		out[(*k)++] = (struct gr_stat_call_sum){.name = name};
	out[i].n += n;
	out[i].slow += slow;
}

int gr_stat_calls(struct gr_stat_call_sum *out, int max)
{
	int k = 0;

	if (max < 1)
		return 0;
	for (struct gr_stat_slot *s = atomic_load(&slots); s; s = s->next) {
		for (int i = 0; i < GR_STAT_NAMES; i++) {
			const char *w = atomic_load_explicit(&s->calls.e[i].name, memory_order_acquire);

			if (w)
				merge_call(out, &k, max, w,
					   atomic_load_explicit(&s->calls.e[i].n, memory_order_relaxed),
					   atomic_load_explicit(&s->calls.e[i].slow, memory_order_relaxed));
		}
		if (atomic_load_explicit(&s->calls.unlisted, memory_order_relaxed))
			merge_call(out, &k, max, "other",
				   atomic_load_explicit(&s->calls.unlisted, memory_order_relaxed),
				   atomic_load_explicit(&s->calls.unlisted_slow, memory_order_relaxed));
	}
	return k;
}

void gr_stat_intercepted_sum(struct gr_stat_intercepted_sum *out, int n)
{
	memset(out, 0, (size_t)n * sizeof *out);
	for (struct gr_stat_slot *s = atomic_load(&slots); s; s = s->next)
		for (int i = 0; i < n; i++) {
			const struct gr_stat_intercepted *c = &s->intercepted[i];

			out[i].n += atomic_load_explicit(&c->n, memory_order_relaxed);
			out[i].green += atomic_load_explicit(&c->green, memory_order_relaxed);
			out[i].passed += atomic_load_explicit(&c->passed, memory_order_relaxed);
		}
}

void gr_stat_add_shared(enum gr_stat k, uint64_t n)
{
	atomic_fetch_add_explicit(&shared[k - GR_STAT_PER_CARRIER], n, memory_order_relaxed);
}

void gr_stat_sum(struct gr_stat_sum *out)
{
	memset(out, 0, sizeof *out);
	for (struct gr_stat_slot *s = atomic_load(&slots); s; s = s->next) {
		for (int k = 0; k < GR_STAT_PER_CARRIER; k++)
			out->v[k] += atomic_load_explicit(&s->v[k], memory_order_relaxed);
		for (int i = 0; i < GR_STAT_NAMES; i++) {
			const char *w = atomic_load_explicit(&s->parks.e[i].name, memory_order_acquire);

			if (w)
				out->parks[gr_stat_park_class(w)] +=
					atomic_load_explicit(&s->parks.e[i].n, memory_order_relaxed);
		}
		out->parks[GR_PARK_OTHER] += atomic_load_explicit(&s->parks.unlisted, memory_order_relaxed);
	}
	for (int k = GR_STAT_PER_CARRIER; k < GR_STAT_COUNT; k++)
		out->v[k] = atomic_load_explicit(&shared[k - GR_STAT_PER_CARRIER], memory_order_relaxed);
}

void gr_stat_after_fork_child(struct gr_task *self)
{
	(void)self;
	for (struct gr_stat_slot *s = atomic_load(&slots); s; s = s->next) {
		struct gr_stat_slot *next = s->next;

		memset(s, 0, sizeof *s);
		s->next = next;
	}
	for (int k = 0; k < GR_STAT_COUNT - GR_STAT_PER_CARRIER; k++)
		atomic_store(&shared[k], 0);
}
GR_AFTER_FORK(GR_FORK_SCHED, gr_stat_after_fork_child);
