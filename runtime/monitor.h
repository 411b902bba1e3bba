/*
 * monitor.h — one background OS thread (Go's sysmon), invisible to the program, that keeps a
 * call greenpoll cannot see, or a task that computes, from stalling the program's other tasks,
 * and reports a deadlock.
 */
#ifndef GR_MONITOR_H
#define GR_MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#define GR_PREEMPT_DEFAULT_NS 10000000 /* the time slice: 10 ms */

struct gr_monitor_config {
	int64_t preempt_ns;  /* time slice; 0: a computing task keeps its processor */
	bool deadlock_abort; /* abort() after the deadlock report */
	bool debug;	     /* GREENPOLL_DEBUG: say once when the carrier cap is reached */
	bool off;	     /* GREENPOLL_MONITOR=off: no monitor thread (a diagnostic) */
	int preempt_signal;  /* sent to a carrier whose task should yield (its handler decides
			      * whether the interrupted code may switch: gr_yield), 0: none */
	void *preempt_cookie; /* the signal's si_value (SI_QUEUE): how the handler tells it from
			       * the same signal sent by the program */
	void (*dump)(int fd); /* write the task dump (with backtraces) to fd; NULL: a line per task */
};

void gr_monitor_configure(const struct gr_monitor_config *cfg);

/* Whether a monitor runs (it may not have started yet): a carrier blocked in a bracketed call
 * then loses its processor after a short grace, so its other tasks run elsewhere. */
bool gr_monitor_hands_off(void);

/* Start the monitor thread, once (from gr_sched_start_carriers). */
void gr_monitor_start(int (*start_os_thread)(void *(*fn)(void *), void *arg));

/* A carrier started running tasks: wake the monitor if it sleeps soundly (all were idle). */
void gr_monitor_kick(void);

/* A wait that something other than a task ends (an offloaded call's thread) began or ended:
 * while one is under way there is no deadlock. */
void gr_monitor_external_begin(void);
void gr_monitor_external_end(void);

/* In a fork child: no monitor thread; the next gr_monitor_start starts one. */
void gr_monitor_after_fork_child(void);

#endif
