/*
 * sched.h — the M:N scheduler: carriers (OS threads, Go's M) run tasks from processors
 * (run queue + timers, Go's P).
 *
 * A carrier needs a processor to run tasks. Today each carrier keeps the processor it started
 * with; the two are separate objects so that a carrier stuck in a call the runtime cannot see
 * can hand its processor to a spare carrier (the monitor, later).
 *
 * Switching: a task that stops running (park, yield, exit) picks the next runnable task itself
 * and switches straight to it; only when there is none does it switch to its carrier's own
 * context, which makes one full look for work (stealing half of another processor's queue, the
 * global queue, due timers anywhere, the poller), then, while another carrier is running tasks
 * (sched.nbusy: only a running task can make work appear in a queue), spins briefly glancing at
 * the queues without system calls, looking fully again when work shows up, and then sleeps
 * until woken or until the earliest timer, to the nanosecond. With one carrier, or all idle, it
 * sleeps at once: an idle program uses no CPU between requests. Whatever the stopping task asked
 * for (requeue, mark parked, reap) is done by the context switched to, in
 * gr_sched_finish_switch, once the stopped task's registers are saved: before that no other
 * carrier may run it.
 *
 * Network readiness: a carrier with nothing else to do looks at the poller without waiting
 * (and a busy one does when its ring runs low, checked every GLOBQ_EVERY switches, and at
 * least every NETPOLL_EVERY switches, so tasks whose fd became ready are not starved behind
 * runnable ones, and looks come in batches); of the idle carriers, one waits in the poller (until the
 * earliest timer), the others on their futex. Waking the idle carrier that waits in the poller
 * means breaking its wait (gr_netpoll_break). Tasks the poller readies join the tail of the
 * looking carrier's ring in the order their fds became ready, and a look takes no more events
 * than the ring has room for (the rest stay queued in the kernel; at least a few, even on a
 * full ring): first ready, first served, with nothing pushed to the global queue where it
 * would wait behind newer work. (Readied any other way, a task goes to `next`: it is the one
 * the waker just handed work to.)
 *
 * Thousands of tasks: each switch would miss the caches on the next task's record, TCB and
 * saved frames. A woken task's saved frames and TCB line are prefetched when it is readied,
 * and the record of the task after the one switched to when switching.
 *
 * Waking idle carriers (after Go's wakep): making a task runnable wakes one idle carrier only
 * if no carrier is already spinning, and a woken carrier counts as spinning until it finds work
 * or sleeps again; readied tasks go on the readier's own processor, and a look at the poller
 * that readies only the task its carrier is about to run wakes nobody. So a ping-pong between two
 * tasks stays on one carrier instead of paying an OS thread wake-up (~60 µs here) per message.
 *
 * Rejected: one global queue (a lock on every switch); waking an idle carrier per ready task
 * (each costs a futex wake-up and a cross-CPU migration of a cache-hot task); blocking idle
 * carriers in sched_yield loops (an idle process must use no CPU).
 */
#ifndef GR_SCHED_H
#define GR_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"
#include "netpoll.h"
#include "runq.h"
#include "task.h"
#include "timer.h"

struct gr_proc {
	int id;
	struct gr_runq runq;
	struct gr_timers timers;
	uint32_t schedtick; /* owner only */
};

enum gr_switch_action { GR_SWITCH_NONE, GR_SWITCH_YIELD, GR_SWITCH_PARK, GR_SWITCH_EXIT };

struct gr_carrier {
	struct gr_ctx ctx;	  /* the carrier's own context: its idle loop */
	struct gr_proc *p;	  /* owner only */
	struct gr_task *current; /* running task or NULL; owner only */
	int id;
	int32_t os_tid;
	bool alive; /* an OS thread runs it; protected by the start lock */
	uint64_t rand;

	/* what the task that switched away last asked for; owner only */
	struct gr_task *prev;
	enum gr_switch_action prev_action;

	/* idle sleeping */
	_Atomic uint32_t wake_word;  /* futex: 1 when woken */
	bool spinning;		     /* counted in sched.nspinning; owner only */
	bool busy;		     /* running tasks, counted in sched.nbusy; owner only */
	struct gr_carrier *idle_next; /* protected by the idle lock */
	bool idle;		     /* in the idle list; protected by the idle lock */
	bool polling;		     /* idle in the poller, not on the futex; protected by the idle lock */
	bool readying_polled;	     /* in netpoll_into: readied tasks go to the ring's tail; owner only */

	/* scratch for scheduling code, which runs on the stack of whichever task is switching
	 * away: its frames stay small (every byte below them is a page that task keeps) */
	struct gr_task *overflow[GR_RUNQ_SIZE / 2 + 1]; /* runq_put */
	struct gr_task *globq_batch[GR_RUNQ_SIZE / 2];	 /* globq_take */
	struct gr_netpoll_events events;		 /* netpoll_into */
};

struct gr_sched_hooks {
	/* start an OS thread running fn(arg) (a carrier); 0 or a positive errno value */
	int (*start_os_thread)(void *(*fn)(void *), void *arg);
};

/*
 * Set up nprocs processors and carriers, the calling OS thread (the process's initial thread,
 * running `initial`) being carrier 0. The other carriers start with the first gr_sched_ready of
 * a new task.
 */
void gr_sched_init(int nprocs, struct gr_task *initial, const struct gr_sched_hooks *hooks);

/* The carrier the caller runs on, or NULL outside the runtime's threads. */
struct gr_carrier *gr_here(void);

/* Make t runnable (from any context). */
void gr_sched_ready(struct gr_task *t);

/* Start the carriers if not done yet (the first task other than the initial one is coming). */
void gr_sched_start_carriers(void);

/* The calling task gives up its carrier if another task is waiting to run. */
void gr_yield(void);

/*
 * The calling task waits. gr_wait_prepare starts a wait and returns its sequence number; the
 * task then publishes itself (with that number) where a waker will find it, and calls gr_park,
 * which returns when gr_wake(t, seq, ...) is called, the deadline (CLOCK_MONOTONIC ns,
 * GR_NEVER for none) passes, or, if interruptible, gr_interrupt(t) is called; whichever comes
 * first, exactly once, even if it came before gr_park. Returns the reason.
 */
uint32_t gr_wait_prepare(bool interruptible);
enum gr_wake_reason gr_park(int64_t deadline, const char *what, const void *on);

/*
 * Wake t from the wait with sequence number seq. True if this call woke it. A waker that
 * cannot know the sequence number for sure may pass t's current one: the wait it ends may then
 * be a later one, so every wait treats GR_WAKE_NORMAL as "look again", never as proof.
 */
bool gr_wake(struct gr_task *t, uint32_t seq, enum gr_wake_reason why);

/* Interrupt t: its current interruptible wait, if any, ends with GR_WAKE_INTERRUPT. */
void gr_interrupt(struct gr_task *t);

/*
 * From a signal handler (async-signal-safe): interrupt t soon, from a carrier's scheduling code
 * (the handler may have interrupted that very code, so it cannot touch the scheduler itself).
 * The signal also ends the carrier's idle wait, which then does it.
 */
void gr_interrupt_from_signal(struct gr_task *t);

/*
 * Bracket a call that may block in the kernel and that the runtime cannot turn into a park
 * (Go's entersyscall/exitsyscall): between the two, the calling task's carrier may lose its
 * processor to another carrier, so the processor's other tasks keep running. Costs no system
 * call; the processor is taken only if the call outlasts a short threshold. No-ops outside a
 * task. Neither touches errno. Nothing between the two may park or yield.
 */
void gr_blocking_enter(void);
void gr_blocking_exit(void);

/* The task's last switch (from gr_task_exit). */
_Noreturn void gr_sched_exit_switch(struct gr_task *t);

/* Called by every context right after it is switched to. */
void gr_sched_finish_switch(struct gr_carrier *c);

int gr_sched_nprocs(void);

/* In a fork child: only the calling task and its carrier remain; other carriers restart later. */
void gr_sched_after_fork_child(void);

#endif
