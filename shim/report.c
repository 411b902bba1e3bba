/*
 * report.c — the blocking report: which calls greenpoll passed to the kernel held a carrier,
 * and from where. The answer to "is this program a good fit, and which of its calls stand in
 * the way?".
 *
 * Every bracketed call (SHIM_BLOCKING, shim.h) ends in shim_report_call with its name and
 * start time. Each is counted by name in its carrier's counters (runtime/stats.h: no line
 * shared between carriers). A call that lasted GREENPOLL_REPORT_MIN or more is also added to
 * its call site (runtime/sites.h): the caller's frames, from libunwind on the task's own
 * stack, greenpoll's frames left out. Only then: a fast call costs two clock reads and a count.
 *
 * The report: first line the verdict, "greenpoll report for PID CMD: N call sites blocked
 * carriers for X% of the run (A s of B s carrier time)", where the carrier time is the run's
 * length times GREENPOLL_PROCS (the processors that could have run tasks) and A the time of
 * the calls at or over the threshold; then the sites, largest total first, each with its call's
 * name, count, total and worst time and its frames; then every call's count; then "calls
 * intercepted": every interposed function the program called, with its counts (calls.h),
 * taken before the report's own work on a task adds to them. Text, or one JSON object
 * (`report json`). Written to GREENPOLL_REPORT at exit (exit from any thread, or the
 * last thread ending: a destructor), by the process that started with it (a fork child's calls
 * are its own and its report would overwrite the parent's: it writes none; an exec'd image
 * reads the setting again and writes its own), and given on the control channel's `report`.
 * A process that ends by _exit or a signal writes none.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "fork.h"
#include "inspect.h"
#include "sites.h"
#include "stats.h"
#include "sys.h"
#include "throw.h"

#define CALL_NAMES 64 /* more than the bracketed calls there are */
#define HERE_FRAMES 24

static struct {
	int64_t min_ns;
	const char *file;
	pid_t pid; /* the process that writes the file at exit, 0: none */
	struct gr_sites sites;
} rep = {.min_ns = 1000000, .sites = {.lock = GR_LOCK_INIT}};

void report_init(const struct shim_config *cfg)
{
	rep.min_ns = cfg->report_min_ns;
	rep.file = cfg->report;
	rep.pid = cfg->report ? (pid_t)gr_sys0(SYS_getpid) : 0;
}

/* fork.h: an empty report, not written at exit (the parent's file is the parent's) */
static void report_after_fork_child(struct gr_task *self)
{
	(void)self;
	rep.pid = 0; /* the counts by name start again with the runtime's (stats.c resets them in a fork child) */
	gr_sites_reset(&rep.sites);
}
GR_AFTER_FORK(GR_FORK_SHIM, report_after_fork_child);

void shim_report_call(const char *name, int64_t since)
{
	int64_t ns = gr_nanotime() - since;

	gr_stat_call(gr_stat_here(), name, ns >= rep.min_ns);
	if (ns >= rep.min_ns) {
		struct gr_task *t = gr_current_task();
		uintptr_t pcs[HERE_FRAMES];
		int first, n;

		shim_of(t)->uncounted = true; /* libunwind's calls (calls.h) */
		shim_unwind_ready();
		n = ctl_program_frames(pcs, gr_backtrace_here(pcs, HERE_FRAMES), false, &first);
		shim_of(t)->uncounted = false;
		gr_sites_add(&rep.sites, name, pcs + first, n - first, ns);
	}
}

static double secs(int64_t ns) { return (double)ns / 1e9; }

/* every interposed function the program called, most calls first: calls[0..n) (calls.h) */
static void report_intercepted(struct gr_out *o, bool json, const struct shim_call_count *calls,
			       int n)
{
	gr_out_puts(o, json ? "\"intercepted\": [" :
			      "\ncalls intercepted (count, green, passed to the kernel), most first:\n");
	for (int k = 0; k < n; k++)
		gr_out_printf(o, json ? "%s{\"call\": \"%s\", \"count\": %llu, \"green\": %llu, "
					"\"passed\": %llu}"
				      : "%s  %s %llu %llu %llu\n",
			      json && k ? ", " : "", calls[k].name,
			      (unsigned long long)calls[k].sum.n,
			      (unsigned long long)calls[k].sum.green,
			      (unsigned long long)calls[k].sum.passed);
	gr_out_puts(o, json ? "]" : "");
}

void ctl_report(struct gr_out *o, bool json)
{
	struct gr_site *sites = malloc(GR_SITES_MAX * sizeof *sites);
	struct gr_stat_call_sum calls[CALL_NAMES];
	int ncalls = gr_stat_calls(calls, CALL_NAMES);
	/* counted before the report's own work (symbols: files read) on a task adds to them */
	struct shim_call_count intercepted[SHIM_CALLS];
	int nintercepted = shim_calls_sorted(intercepted);
	int64_t run = gr_nanotime() - ctl_started_at(), carrier = run * gr_sched_nprocs(), blocked = 0;
	int64_t dropped_ns;
	uint64_t dropped;
	int n;
	char cmd[64];
	struct gr_frame_name sym;

	if (!sites) {
		gr_out_puts(o, "error: out of memory for the report\n");
		return;
	}
	n = gr_sites_sorted(&rep.sites, sites, &dropped, &dropped_ns);
	blocked = dropped_ns;
	for (int i = 0; i < n; i++)
		blocked += sites[i].total_ns;
	ctl_command_name(cmd, sizeof cmd);
	if (json) {
		gr_out_printf(o, "{\"pid\": %d, \"command\": \"", (int)gr_sys0(SYS_getpid));
		gr_out_json_str(o, cmd);
		gr_out_printf(o, "\", \"min_ns\": %lld, \"run_ns\": %lld, \"carrier_ns\": %lld, "
			      "\"blocked_ns\": %lld, \"unlisted_slow_calls\": %llu, \"sites\": [",
			      (long long)rep.min_ns, (long long)run, (long long)carrier,
			      (long long)blocked, (unsigned long long)dropped);
	} else {
		gr_out_printf(o, "greenpoll report for %d %s: %d call site%s blocked carriers for "
			      "%.1f%% of the run (%.3f s of %.3f s carrier time)\n",
			      (int)gr_sys0(SYS_getpid), cmd, n, n == 1 ? "" : "s",
			      carrier > 0 ? 100.0 * (double)blocked / (double)carrier : 0.0,
			      secs(blocked), secs(carrier));
		gr_out_printf(o, "calls passed to the kernel that held a carrier %.3f ms or more "
			      "(GREENPOLL_REPORT_MIN), by call site, largest total first:\n",
			      (double)rep.min_ns / 1e6);
		if (dropped)
			gr_out_printf(o, "  (and %llu calls, %.3f s, from sites beyond the %d listed)\n",
				      (unsigned long long)dropped, secs(dropped_ns), GR_SITES_MAX);
	}
	for (int i = 0; i < n; i++) {
		const struct gr_site *s = &sites[i];

		if (json) {
			gr_out_printf(o, "%s{\"call\": \"", i ? ", " : "");
			gr_out_json_str(o, s->call);
			gr_out_printf(o, "\", \"count\": %llu, \"total_ns\": %lld, \"worst_ns\": %lld, "
				      "\"frames\": [", (unsigned long long)s->count,
				      (long long)s->total_ns, (long long)s->worst_ns);
		} else {
			gr_out_printf(o, "\n  %s: %llu call%s, %.3f s in all, %.3f s at worst\n", s->call,
				      (unsigned long long)s->count, s->count == 1 ? "" : "s",
				      secs(s->total_ns), secs(s->worst_ns));
		}
		for (int f = 0; f < s->nframes; f++) {
			gr_symbolise(s->pcs[f], false, &sym);
			ctl_frame(o, f, &sym, json);
		}
		if (json)
			gr_out_puts(o, "]}");
	}
	gr_out_puts(o, json ? "], \"calls\": {" : "\ncalls passed to the kernel (count, of which slow):\n");
	for (int k = 0; k < ncalls; k++) {
		if (json) {
			gr_out_printf(o, "%s\"", k ? ", " : "");
			gr_out_json_str(o, calls[k].name);
			gr_out_printf(o, "\": {\"count\": %llu, \"slow\": %llu}",
				      (unsigned long long)calls[k].n, (unsigned long long)calls[k].slow);
		} else {
			gr_out_printf(o, "  %s %llu (%llu slow)\n", calls[k].name,
				      (unsigned long long)calls[k].n, (unsigned long long)calls[k].slow);
		}
	}
	gr_out_puts(o, json ? "}, " : "");
	report_intercepted(o, json, intercepted, nintercepted);
	gr_out_puts(o, json ? "}\n" : "");
	free(sites);
}

__attribute__((destructor)) static void report_at_exit(void)
{
	struct gr_out *o;
	long fd;

	if (!rep.pid || rep.pid != (pid_t)gr_sys0(SYS_getpid))
		return;
	rep.pid = 0; /* once */
	fd = gr_sys4(SYS_openat, AT_FDCWD, rep.file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(o = malloc(sizeof *o))) {
		gr_say("cannot write the blocking report to %s (GREENPOLL_REPORT): %s", rep.file,
		       strerror(fd < 0 ? (int)-fd : ENOMEM));
		if (fd >= 0)
			gr_sys1(SYS_close, fd);
		return;
	}
	gr_out_init(o, (int)fd);
	ctl_report(o, false);
	if (!gr_out_flush(o))
		gr_say("cannot write the blocking report to %s (GREENPOLL_REPORT)", rep.file);
	free(o);
	gr_sys1(SYS_close, fd);
}
