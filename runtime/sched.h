/*
 * sched.h — the M:N scheduler: carriers (OS threads, Go's M) run tasks from processors
 * (run queue + timers, Go's P).
 *
 * Carriers and processors: there are GREENPOLL_PROCS processors and at least as many carriers.
 * A carrier needs a processor to run tasks from queues. A carrier whose task is inside a call
 * that blocks in the kernel (bracketed by gr_blocking_enter/exit, or one nobody sees, which the
 * monitor notices) or that computes for longer than a time slice can lose its processor: the
 * monitor hands it to a spare carrier, so the processor's other tasks keep running. The carrier
 * that lost it goes on running its task without a processor (its wake-ups go to the global
 * queue) until the task parks, yields or exits; then it becomes a spare itself. Spares are
 * started on demand, at most GREENPOLL_MAX_CARRIERS carriers in all, and end after SPARE_LINGER
 * without a processor (the initial OS thread never ends: it waits as a spare).
 *
 * A processor's status word (gr_proc.status) holds its owner carrier's id and a state:
 *
 *   SCHED ──(owner switches to a task's code)──► TASK ──(gr_blocking_enter)──► BLOCKING
 *     ▲                                           │ ▲                            │
 *     └────(owner enters scheduling code: CAS)────┘ └─────(gr_blocking_exit: CAS)┘
 *   TASK or BLOCKING ──(monitor: CAS, owner := a spare)──► SCHED (the spare's)
 *
 * Only the owner touches a processor's run queue as owner, and only in SCHED; a CAS that fails
 * on the way back from task code means the processor was handed off meanwhile (the owner id in
 * the word changed): the carrier forgets it. No system call on any of these paths.
 *
 * A carrier's state (gr_carrier.state; RUNNING, LOOKING and SPARE-with-processor transitions
 * by the owner, the others under the idle or spare lock):
 *
 *   RUNNING ──(out of work)──► LOOKING ──(nothing found, no busy carrier)──► SLEEPING or POLLING
 *      ▲                          │  ▲                                          │ (idle list)
 *      └──────(found work)────────┘  └── SPINNING ◄──(wakep takes it off the list)┘
 *   RUNNING without a processor ──(its task switches away)──► SPARE ──(handed one)──► LOOKING
 *                                                               └──(SPARE_LINGER)──► gone
 *
 * Switching: a task that stops running (park, yield, exit) picks the next runnable task itself
 * and switches straight to it; only when there is none (or its carrier has no processor) does
 * it switch to its carrier's own context (which runs on the task's TCB: no FS-base write, see
 * sched.c), which makes one full look for work (stealing half of
 * another processor's queue, the global queue, due timers anywhere, the poller), then, while
 * another carrier is running tasks (sched.nbusy: only a running task can make work appear in a
 * queue), spins briefly glancing at the queues without system calls, looking fully again when
 * work shows up, and then sleeps until woken or until the earliest timer, to the nanosecond.
 * With one carrier, or all idle, it sleeps at once: an idle program uses no CPU between
 * requests. Whatever the stopping task asked for (requeue, mark parked, reap) is done by the
 * context switched to, in finish_switch, once the stopped task's registers are saved: before
 * that no other carrier may run it.
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
 * Timers: every look for a task first fires its processor's due timers (one clock reading,
 * only when the heap holds any, reused for the switch), and a task whose sleep or timed wait
 * ended goes to `next`: it runs as soon as the task switching away has, not behind the ring.
 * So a thread that sleeps briefly and must run on time (a ticker, a watchdog) keeps its pace
 * among hundreds of busy ones, as the kernel's scheduler favours a thread that slept (Go puts a
 * goroutine its timer readies in runnext). Bounded like any `next`: every GLOBQ_EVERY switches
 * the ring goes first, so tasks that sleep for nothing cannot keep the others out. Checked only
 * every GLOBQ_EVERY switches before, a 0.5 ms sleep took 25 ms among 200 busy connections.
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
 * carriers in sched_yield loops (an idle process must use no CPU); taking the processor of a
 * carrier in a bracketed call at once (a futex wake-up per call; most calls return quickly).
 */
#ifndef GR_SCHED_H
#define GR_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"
#include "netpoll.h"
#include "park.h"
#include "runq.h"
#include "sigstate.h"
#include "stats.h"
#include "task.h"
#include "timer.h"

enum gr_proc_state { GR_P_SCHED, GR_P_TASK, GR_P_BLOCKING };
#define GR_PSTATUS(owner_id, state) (((uint32_t)(owner_id) << 2) | (uint32_t)(state))
#define GR_PSTATUS_OWNER(word) ((int)((word) >> 2))
#define GR_PSTATUS_STATE(word) ((enum gr_proc_state)((word)&3))

struct gr_proc {
	int id;
	_Atomic uint32_t status;   /* see above */
	_Atomic uint32_t schedtick; /* advanced by its owner at every switch and bracketed call */
	struct gr_runq runq;
	struct gr_timers timers;
};

enum gr_switch_action { GR_SWITCH_NONE, GR_SWITCH_YIELD, GR_SWITCH_PARK, GR_SWITCH_EXIT };

enum gr_carrier_state {
	GR_C_RUNNING,  /* running tasks (counted in sched.nbusy), with or without a processor */
	GR_C_LOOKING,  /* out of work, looking for some */
	GR_C_SPINNING, /* looking, counted in sched.nspinning (wakep woke it for new work) */
	GR_C_SLEEPING, /* in the idle list, asleep on its futex */
	GR_C_POLLING,  /* in the idle list, asleep in the poller */
	GR_C_WOKEN,    /* taken off the idle list by wakep; becomes SPINNING when it runs */
	GR_C_SPARE,    /* no processor: in the spare list, waiting to be handed one */
};

struct gr_carrier {
	struct gr_ctx ctx;	  /* the carrier's own context (its idle loop); ctx.fs is NULL */
	struct gr_proc *p;	  /* its processor, NULL if none; owner only */
	struct gr_task *current; /* running task or NULL; owner only */
	uint64_t fs_writes;	  /* FS-base writes on its OS thread; owner (and its handlers) */
	void *own_fs;		  /* the TCB of its own context (carrier_own_tls) */
	void *_Atomic borrowed;	  /* the task TCB its own context runs on, NULL if its own or a
				   * task runs; written by the owner, read by whoever unmaps one */
	atomic_bool drop_borrowed; /* that TCB's task ended: take its own back (the monitor) */
	uintptr_t own_lo, own_hi; /* its own context's stack: code there is scheduling code */
	int id;
	_Atomic int32_t os_tid;
	_Atomic uint8_t state; /* enum gr_carrier_state */
	bool in_sched;	       /* in scheduling code, holding its processor in SCHED; owner only */
	bool readying_polled;  /* in netpoll_into: readied tasks go to the ring's tail; owner only */
	bool poller_seen_empty; /* since it last ran a task or slept (poll_ready); owner only */
	int64_t looked_ns; /* the clock as its last look for a task read it, 0 if it did not
			    * (run_timers; switch_to reuses it); owner only */
	uint64_t rand;

	/* what the task that switched away last asked for; owner only */
	struct gr_task *prev;
	enum gr_switch_action prev_action;

	_Atomic uint32_t wake_word;	      /* futex: 1 when woken (idle or spare) */
	struct gr_proc *_Atomic handed;	      /* a processor handed to this spare */
	struct gr_carrier *idle_next;	      /* idle or spare list link; under that list's lock */

	/* scratch for scheduling code, which runs on the stack of whichever task is switching
	 * away: its frames stay small (every byte below them is a page that task keeps) */
	struct gr_task *overflow[GR_RUNQ_SIZE / 2 + 1]; /* runq_put */
	struct gr_task *globq_batch[GR_RUNQ_SIZE / 2];	 /* globq_take */
	struct gr_netpoll_events events;		 /* netpoll_into */

	/* the kernel's signal state of this OS thread (sigstate.h); owner only */
	uint64_t kmask;
	bool kmask_known, kalt_known;
	struct gr_altstack kalt;
	struct gr_task *_Atomic sig_for[GR_NSIG]; /* signals sent here for a task (sigstate.h) */

	struct gr_stat_slot *stats; /* its slot's counters (stats.h); const while it runs */
};

struct gr_sched_hooks {
	/* start an OS thread running fn(arg) (a carrier, the monitor); 0 or a positive errno */
	int (*start_os_thread)(void *(*fn)(void *), void *arg);
	/* in a task that was interrupted while runnable or running, back from a yield: deliver
	 * what it was interrupted for (signals) */
	void (*interrupted)(struct gr_task *t);
	/* from a carrier's scheduling code, after gr_sched_route_signals: route the signals that
	 * reached carriers which could not deliver them */
	void (*route_signals)(void);
};

/* Before gr_sched_init: switch the FS base with arch_prctl even where wrfsbase is allowed (a
 * diagnostic: the path of machines without user-space FSGSBASE, tested on any machine). */
void gr_sched_use_syscall_switch(void);

/*
 * Set up nprocs processors and carriers (at most max_carriers carriers in all, spares
 * included), the calling OS thread (the process's initial thread, running `initial`) being
 * carrier 0. The other carriers start with the first gr_sched_ready of a new task.
 */
void gr_sched_init(int nprocs, int max_carriers, struct gr_task *initial,
		   const struct gr_sched_hooks *hooks);

/* The carrier the caller runs on, or NULL outside the runtime's threads. */
struct gr_carrier *gr_here(void);

/* Whether sp is in a carrier's own stack (its own context's: scheduling code). */
bool gr_sched_on_carrier_stack(uintptr_t sp);

/* The counters of the carrier the caller runs on (stats.h), or NULL. */
static inline struct gr_stat_slot *gr_stat_here(void)
{
	struct gr_carrier *c = gr_here();

	return c ? c->stats : NULL;
}

/* FS-base writes made so far by every carrier (the context switch, a carrier taking back its
 * own TCB, signal handlers that must run on it). */
uint64_t gr_sched_fs_writes(void);

/*
 * First and last thing of every signal handler greenpoll installs (async-signal-safe): a
 * handler that interrupted a carrier's scheduling code while it runs on a task's TCB (see
 * sched.c) must not touch that TCB (the task may be running on another carrier): enter gives
 * the carrier its own TCB for the handler's duration and returns the one to restore (NULL:
 * nothing to do), leave restores it. interrupted_sp is the stack pointer the signal
 * interrupted (the ucontext's). Between the two, gr_current_task() and gr_here() are right.
 */
void *gr_sched_signal_enter(uintptr_t interrupted_sp);
void gr_sched_signal_leave(void *fs);

/*
 * For a handler of glibc's that acts on the OS thread's own thread descriptor (SIGSETXID's,
 * which set*id sends each thread glibc knows, by its tid, and which clears a flag of
 * THREAD_SELF's): the carrier's own TCB, the one on glibc's list by that tid (tls.h:
 * gr_tcb_stand_in), whatever the signal interrupted; leave with gr_sched_signal_leave.
 */
void *gr_sched_own_tcb_enter(uintptr_t interrupted_sp);

/* Whether a carrier's own context runs on tcb, the TCB of a task that ended: the memory it is
 * in must stay mapped meanwhile. */
bool gr_sched_tcb_borrowed(const void *tcb);

/* For the monitor, before it trims the stack pool: idle carriers whose own context runs on the
 * TCB of a task that has ended are woken to take their own TCB back; how many were asked. */
int gr_sched_drop_dead_borrowed(void);

/* Make t runnable (from any context). */
void gr_sched_ready(struct gr_task *t);

/* Start the carriers and the monitor if not done yet (the first task other than the initial
 * one is coming). */
void gr_sched_start_carriers(void);

/* The calling task gives up its carrier if another task is waiting to run. */
void gr_yield(void);

/* The same after a time slice (the preemption signal's handler): due timers, ready fds and
 * the global queue are looked at first. */
void gr_yield_preempted(void);

/*
 * Bracket a call that may block in the kernel and that the runtime cannot turn into a park
 * (Go's entersyscall/exitsyscall): between the two, the calling task's carrier may lose its
 * processor to another carrier, so the processor's other tasks keep running. Costs no system
 * call; the processor is taken only if the call outlasts a short threshold. No-ops outside a
 * task. Neither touches errno. Nothing between the two may park or yield.
 */
void gr_blocking_enter(void);
void gr_blocking_exit(void);

/*
 * The same for a call that waits for something by design (a signal, a lock another process
 * holds, a sleep: Go's entersyscallblock): the processor goes to a spare carrier at once if it
 * has other work or fds to poll, without waiting for the monitor. Costs a futex wake-up then.
 */
void gr_blocking_enter_long(void);

/*
 * From a signal handler (async-signal-safe): call hooks.route_signals soon, from a carrier's
 * scheduling code (the handler may have interrupted that very code, so it cannot touch the
 * scheduler itself): the idle carriers are woken to look.
 */
void gr_sched_route_signals(void);

/* t is ending: no carrier's signal marks (sigstate.h) name it any more (its record may be
 * unmapped once it is gone). */
void gr_sched_unmark_signals(struct gr_task *t);

/* Wake every idle carrier to look again (the idle signal mask changed: sigstate.h).
 * Async-signal-safe. */
void gr_sched_kick_idle(void);

/* For park.c: arm the calling task's wait timer; switch away from the calling task, parking. */
void gr_sched_add_timer(struct gr_timer *timer, int64_t deadline);
void gr_sched_switch_park(struct gr_task *t);

/* The task's last switch (from gr_task_exit). */
_Noreturn void gr_sched_exit_switch(struct gr_task *t);

/* First thing a new task does (task_entry): finish its carrier's switch, enter task code. */
void gr_sched_task_started(struct gr_task *t);

int gr_sched_nprocs(void);

/* ---- for the monitor (monitor.c) ---- */

/* What the monitor reads of processor i. */
struct gr_proc_sample {
	uint32_t status, schedtick;
	int32_t owner_tid; /* the owner carrier's OS thread id */
	bool has_work;	    /* runnable tasks, due timers, or global work nobody idle can take */
	bool nobody_polls;  /* fds are watched and no carrier is idle to poll them */
};
void gr_sched_sample(int i, int64_t now, struct gr_proc_sample *s);

/* Hand processor i, whose status word is still `seen`, to a spare carrier: 1 if done, 0 if the
 * word changed meanwhile, -1 if no spare could be had (GREENPOLL_MAX_CARRIERS reached). */
int gr_sched_retake(int i, uint32_t seen);
int gr_sched_max_carriers(void);

/* Carriers running tasks; carriers alive (OS threads). */
int gr_sched_busy(void);
int gr_sched_carriers_alive(void);

/* The OS thread of the owner of processor i, whose status word is still `seen` (TASK): where
 * to send the preemption signal; 0 if none. */
int32_t gr_sched_preempt_target(int i, uint32_t seen);

/* All quiet: no carrier runs a task, nothing runnable, no timer armed. */
bool gr_sched_quiescent(void);

/* ---- for stats and dumps ---- */

/* Carriers alive by what they do now. */
struct gr_carrier_census {
	int alive, running, looking, resting, spare; /* resting: asleep on its futex or in the poller */
	int blocked; /* processors whose task is in a bracketed call (gr_blocking_enter) */
};
void gr_sched_census(struct gr_carrier_census *out);

#endif
