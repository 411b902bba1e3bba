/*
 * task.h — a green task (Go's G): one thread of the program.
 *
 * States (field `state`), and who moves them:
 *
 *   RUNNABLE ──(a carrier switches to it)──► RUNNING ──(gr_park: after its context is saved)──► PARKED
 *      ▲                                        │  │                                            │
 *      └──────────(gr_yield, gr_ready)──────────┘  └──(gr_task_exit)──► DEAD      gr_wake ──────┘
 *
 * A task is in at most one run queue; only a RUNNING task runs code on its stack.
 *
 * Waiting (gr_park) uses a wake token so that a wake-up racing with the task going to sleep is
 * never lost and never delivered twice (the same protocol as Go's pdWait): the token holds a
 * sequence number (one per wait) and a phase,
 *
 *   ARMED  — set by the task before it parks; a waker that comes now moves it to DONE and
 *            leaves the readying to the parking side;
 *   PARKED — set by the carrier once the task's context is saved (CAS ARMED→PARKED); a waker
 *            that CASes PARKED→DONE readies the task;
 *   DONE   — woken, with the reason (normal, timeout, interrupt). Every later waker of the same
 *            sequence number fails its CAS and does nothing.
 *
 * Memory: a task made by gr_task_create lives in the top of its own stack region (see stack.h):
 * [pool node][struct gr_task][TCB + static TLS][stack ...][guard]. The region, and with it the
 * task record and its TCB, is reused for a later task; a task record is therefore never
 * unmapped while the region is pooled, but is only the same task while its id is unchanged,
 * until the idle program's pool is trimmed (gr_task_trim_pool): then regions beyond the cache
 * bound are unmapped, and a pthread_t of a thread joined or detached long ago may name
 * unmapped memory, as glibc's does once its stack cache frees the stack.
 */
#ifndef GR_TASK_H
#define GR_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "lock.h"
#include "sigstate.h"
#include "timer.h"

enum gr_task_state { GR_TASK_RUNNABLE, GR_TASK_RUNNING, GR_TASK_PARKED, GR_TASK_DEAD };

enum gr_wake_reason { GR_WAKE_NORMAL = 1, GR_WAKE_TIMEOUT = 2, GR_WAKE_INTERRUPT = 3 };

/* bytes the shim keeps per task (its POSIX view of the thread), opaque to the runtime */
#define GR_TASK_LOCAL_BYTES 256

struct gr_carrier;

struct gr_task {
	/* the first 64 bytes are what a park, a wake and a switch touch (one cache line: with
	 * thousands of tasks each of these is a miss) */
	struct gr_ctx ctx;	   /* saved context; valid while not RUNNING */
	struct gr_carrier *carrier; /* carrier running it; written by that carrier before the switch */
	_Atomic uint64_t wait_token; /* see the wake token protocol above */
	_Atomic uint8_t state;	   /* enum gr_task_state */
	bool wait_interruptible;   /* for the current wait; written by the task before ARMED */
	_Atomic bool interrupted;  /* an interrupt (cancel/signal) is pending */
	uint32_t wait_seq;	   /* written by the task only */
	void *tcb;		   /* its glibc TCB: what pthread_self() returns */
	const char *wait_what;	   /* what it waits for (task dumps); written by the task */
	const void *wait_on;	   /* the object it waits on, if any */

	struct gr_task *next;	    /* global queue link */
	uint32_t wait_timer_seq;    /* wait_seq the armed timer belongs to */
	uint32_t epoch;		    /* the process it is a thread of (gr_task_epoch); const, but
				     * for the forking task in a fork child */
	struct gr_timer wait_timer; /* deadline of the current wait */

	/* the interposed function the task was last called in (its number, shim/calls.h) and the
	 * parts of that call not counted yet (GR_STAT_CALL_GREEN, _PASSED: stats.h); written by the
	 * task */
	uint16_t call;
	uint8_t call_todo;

	uint64_t id;		/* unique for the process's life */
	int32_t tid;		/* gettid() of the task: unique among live tasks, < 2^28 (task.c) */
	void *(*start)(void *); /* const after create */
	void *arg;		/* const after create */
	void *result;		/* written by the task before it exits */

	/* join/detach: protected by join_lock */
	gr_lock_t join_lock;
	bool detached, exited;
	bool joined; /* a join collected it: its id now names no thread (until the record is reused) */
	struct gr_task *joiner;
	uint32_t joiner_seq;

	/* its stack region; const while the task lives */
	void *region_top;
	size_t stack_size, guard;
	bool user_stack; /* the program's memory (pthread_attr_setstack): never pooled or unmapped */
	bool adopted;	 /* the initial thread: stack and TCB are glibc's */
	_Atomic int locks_held; /* runtime locks its own code holds (lock.h); written by it only,
				 * read by its signal handlers: relaxed loads and stores */

	struct gr_task *all_next, *all_prev; /* every live task; protected by the task list lock */

	/* its kernel signal state, which carriers apply when it resumes (sigstate.h); written by
	 * the task itself */
	uint64_t sigmask;
	struct gr_altstack altstack;

	/* the time it ran (cputime.h): written only by the carrier running it */
	_Atomic uint32_t run_seq;   /* odd while the two below are being written */
	_Atomic int64_t run_ns;	    /* ns it ran before the current stretch */
	_Atomic int64_t run_since;  /* CLOCK_MONOTONIC ns the current stretch began; 0: none */
	_Atomic int64_t stopped_at; /* CLOCK_MONOTONIC ns the last stretch ended (dumps) */

	_Alignas(16) unsigned char local[GR_TASK_LOCAL_BYTES];
};

_Static_assert(offsetof(struct gr_task, wait_on) + sizeof(const void *) <= 64,
	       "a task's hot fields fit its first cache line");

/* Whether sp is in t's own stack; false for the initial task (its stack is the process's). */
static inline bool gr_task_on_stack(const struct gr_task *t, uintptr_t sp)
{
	return !t->adopted && sp - ((uintptr_t)t->region_top - t->stack_size) < t->stack_size;
}

/* Whether t's own code holds a runtime lock (lock.h): a signal handler that interrupted it must
 * not run the program's handler there. Async-signal-safe. */
static inline bool gr_task_holds_locks(const struct gr_task *t)
{
	return atomic_load_explicit(&t->locks_held, memory_order_relaxed) != 0;
}

struct gr_task_attr {
	size_t stack_size; /* usable bytes, TLS included; 0: the default */
	size_t guard;	   /* bytes, rounded up to pages */
	void *stack_addr;  /* program-supplied stack (lowest address), or NULL */
	bool detached;
};

/*
 * Make a task that will run start(arg). Returns 0 with *out set, or a positive errno value
 * (EAGAIN: no memory or mappings for a stack; EINVAL: a stack too small for TLS). The task
 * runs once gr_task_start is called.
 */
int gr_task_create(const struct gr_task_attr *attr, void *(*start)(void *), void *arg,
		   struct gr_task **out);
void gr_task_start(struct gr_task *t);

/* The calling task ends with result; never returns. The process exits when no task is left. */
_Noreturn void gr_task_exit(void *result);

/*
 * Wait for t to end; *result gets its result. 0, or ESRCH (already joined), EINVAL (detached or
 * already being joined), EDEADLK (joining itself), ETIMEDOUT (deadline passed; CLOCK_MONOTONIC
 * ns, GR_NEVER for none), EINTR (interrupted, when interruptible).
 */
int gr_task_join(struct gr_task *t, void **result, int64_t deadline, bool interruptible);

/* 0 if t has ended and was joined now, EBUSY if it is still running or was already joined
 * (glibc's answer: its thread id is no longer 0), EINVAL if detached or being joined. */
int gr_task_tryjoin(struct gr_task *t, void **result);

/* 0, or EINVAL if t was already detached (or is being joined), ESRCH if already joined. */
int gr_task_detach(struct gr_task *t);

/* Call fn(tcb, arg) for the TCB of every task the runtime made, live or pooled. */
void gr_task_each_tcb(void (*fn)(void *tcb, void *arg), void *arg);

/* Call fn(t, arg) for every live task, under the task list lock (fn must not take it, park,
 * allocate or make a system call). */
void gr_task_each(void (*fn)(struct gr_task *t, void *arg), void *arg);

/* The live task whose tid is tid, or NULL. */
struct gr_task *gr_task_by_tid(int32_t tid);

/* The time the live task whose tid is tid has run (cputime.h) in *ns; false if there is none.
 * Read under the task list lock: the record cannot be reaped and unmapped meanwhile. */
bool gr_task_cputime_of_tid(int32_t tid, int64_t *ns);

/* A thread id no task has (for TCBs that are not tasks', such as a carrier's own). */
int32_t gr_task_fresh_tid(void);

/* Number of live tasks. */
int gr_task_count(void);

/*
 * Which process a task is a thread of. gr_task_epoch is 0 in a process that was not forked
 * under the runtime and one more than the parent's in a fork child (task.c's after-fork reset);
 * a task takes the epoch of the process that makes it, and the forking task the child's. A
 * task of another epoch is a thread of a parent: gone in this process, its record, stack and
 * saved context a copy in memory (fork.h). It must never run here; gr_wake refuses it.
 * Written only in a fork child before it has a second carrier.
 */
extern uint32_t gr_task_epoch;

static inline bool gr_task_of_this_process(const struct gr_task *t)
{
	return t->epoch == gr_task_epoch;
}

/* Make the calling context (the process's initial thread) the first task. */
struct gr_task *gr_task_adopt_initial(void *tcb, int32_t tid);

/* Called by the scheduler on the next context after a task's last switch. */
void gr_task_reap(struct gr_task *t);

/* Hooks the shim gives the runtime. */
struct gr_task_hooks {
	void *(*run)(struct gr_task *t);    /* runs t->start(t->arg) on the new task; returns its result */
	void (*at_exit)(struct gr_task *t); /* on the exiting task, before its TLS goes */
	void (*last_exited)(void);	    /* the last task ended: end the process */
};
void gr_task_set_hooks(const struct gr_task_hooks *h);

/*
 * The program is idle: pooled regions beyond the cache bound go back to the kernel, records and
 * TCBs with them, and the kept ones lose their stack pages (stack.h). No lock may be held.
 */
void gr_task_trim_pool(void);

/* Default stack size for tasks (set from configuration at start-up). */
void gr_task_set_default_stack(size_t bytes);
size_t gr_task_default_stack(void);

#endif
