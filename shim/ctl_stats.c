/*
 * ctl_stats.c — the `stats` answer: the runtime's counters (runtime/stats.h) and gauges, one
 * "NAME VALUE" line each in a fixed order, or one JSON object with the same names.
 *
 * carriers.busy_ns over (process.uptime_ns times carriers.procs) is the carriers'
 * utilisation: the share of the processors' time spent running tasks' code.
 */
#include "shim.h"

#include <stdio.h>

#include "ctl.h"
#include "netpoll.h"
#include "stack.h"
#include "stats.h"
#include "sys.h"

struct stat_writer {
	struct gr_out *o;
	bool json, first;
};

static void put(struct stat_writer *w, const char *name, uint64_t v)
{
	if (w->json)
		gr_out_printf(w->o, "%s\"%s\": %llu", w->first ? "{" : ", ", name,
			      (unsigned long long)v);
	else
		gr_out_printf(w->o, "%s %llu\n", name, (unsigned long long)v);
	w->first = false;
}

static void put_stat(struct stat_writer *w, const struct gr_stat_sum *s, enum gr_stat k)
{
	put(w, gr_stat_name(k), s->v[k]);
}

/* calls.NAME: each interposed function the program called, most calls first (calls.h) */
static void put_intercepted(struct stat_writer *w)
{
	struct shim_call_count calls[SHIM_CALLS];
	int n = shim_calls_sorted(calls);
	char name[48];

	for (int k = 0; k < n; k++) {
		snprintf(name, sizeof name, "calls.%s", calls[k].name);
		put(w, name, calls[k].sum.n);
	}
}

void ctl_stats(struct gr_out *o, bool json)
{
	struct stat_writer w = {.o = o, .json = json, .first = true};
	struct gr_stat_sum s;
	struct gr_carrier_census c;
	size_t mapped, pooled;
	char name[40];

	gr_stat_sum(&s);
	gr_sched_census(&c);
	gr_stack_counts(&mapped, &pooled);
	put(&w, "process.uptime_ns", (uint64_t)(gr_nanotime() - ctl_started_at()));
	put(&w, "tasks.live", (uint64_t)gr_task_count());
	put_stat(&w, &s, GR_STAT_TASKS_CREATED);
	put_stat(&w, &s, GR_STAT_TASKS_EXITED);
	for (int k = 0; k < GR_PARK_CLASSES; k++) {
		snprintf(name, sizeof name, "parks.%s", gr_park_class_name(k));
		put(&w, name, s.parks[k]);
	}
	put_stat(&w, &s, GR_STAT_WAKES_NORMAL);
	put_stat(&w, &s, GR_STAT_WAKES_TIMEOUT);
	put_stat(&w, &s, GR_STAT_WAKES_INTERRUPT);
	put_stat(&w, &s, GR_STAT_SWITCHES);
	put_stat(&w, &s, GR_STAT_STEALS);
	put(&w, "sched.fs_writes", gr_sched_fs_writes());
	put_stat(&w, &s, GR_STAT_POLLS);
	put_stat(&w, &s, GR_STAT_POLL_EVENTS);
	put_stat(&w, &s, GR_STAT_HANDOFFS_BRACKET);
	put_stat(&w, &s, GR_STAT_HANDOFFS_STUCK);
	put_stat(&w, &s, GR_STAT_HANDOFFS_PREEMPT);
	put_stat(&w, &s, GR_STAT_HANDOFFS_LONG);
	put_stat(&w, &s, GR_STAT_PREEMPT_SIGNALS);
	put_stat(&w, &s, GR_STAT_PREEMPT_YIELDS);
	put(&w, "carriers.procs", (uint64_t)gr_sched_nprocs());
	put(&w, "carriers.alive", (uint64_t)c.alive);
	put(&w, "carriers.running", (uint64_t)c.running);
	put(&w, "carriers.looking", (uint64_t)c.looking);
	put(&w, "carriers.resting", (uint64_t)c.resting);
	put(&w, "carriers.spare", (uint64_t)c.spare);
	put(&w, "carriers.blocked", (uint64_t)c.blocked);
	put_stat(&w, &s, GR_STAT_BUSY_NS);
	put(&w, "pollds.in_use", (uint64_t)gr_pd_in_use());
	put(&w, "stacks.in_use", (uint64_t)(mapped - pooled));
	put(&w, "stacks.cached", (uint64_t)pooled);
	put_stat(&w, &s, GR_STAT_ACCEPTS);
	put_stat(&w, &s, GR_STAT_BLOCKING_CALLS);
	put_intercepted(&w);
	if (json)
		gr_out_puts(o, w.first ? "{}\n" : "}\n");
}
