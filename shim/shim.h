/*
 * shim.h — what every interposed family shares: exporting, reaching the real libc function,
 * and the POSIX view of a task the shim keeps in the task's local bytes.
 *
 * Rule for every interposed function: if the caller is not a task (gr_current_task() is NULL:
 * before start-up, after a failed self-check, in a carrier's own code, on a thread the runtime
 * did not make), go straight to the real function, unchanged.
 *
 * A call passed to libc that may block in the kernel (greenpoll has no green form for it) is
 * made inside SHIM_BLOCKING, so the task's carrier may lose its processor meanwhile and the
 * other tasks keep running (invariant 5). Outside a task the bracket is a no-op, so such a
 * wrapper needs no separate path for that case.
 */
#ifndef GR_SHIM_H
#define GR_SHIM_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "sched.h"
#include "task.h"
#include "tls.h"
#include "waitq.h"

#define GR_EXPORT __attribute__((visibility("default")))

/*
 * The next definition of a libc function, looked up the first time it is needed (an
 * interposed function can be called by another library's constructor before ours ran). The
 * calling task's call is noted as passed to libc (calls.h).
 */
#define REAL(name)                                                                              \
	({                                                                                      \
		static __typeof__(name) *real_##name;                                           \
		if (!real_##name)                                                               \
			real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name);              \
		shim_note_passed();                                                             \
		real_##name;                                                                    \
	})

/*
 * The value of `call`, a call into libc that may block in the kernel, made between
 * gr_blocking_enter and gr_blocking_exit, with the errno `call` left. `call` must not park or
 * yield the task: never an interposed function that may take a green path, only REAL(...) or
 * a function that calls nothing but REAL(...).
 */
#define SHIM_BLOCKING(call) SHIM_BRACKET(gr_blocking_enter, __func__, call)

/* The same, named for dumps and the report by `name` rather than the calling function's. */
#define SHIM_BLOCKING_AS(name, call) SHIM_BRACKET(gr_blocking_enter, name, call)

/* The same for a call that waits by design (a signal, a lock, a sleep): its carrier's
 * processor goes to a spare at once (gr_blocking_enter_long). */
#define SHIM_BLOCKING_LONG(call) SHIM_BRACKET(gr_blocking_enter_long, __func__, call)
#define SHIM_BLOCKING_LONG_AS(name, call) SHIM_BRACKET(gr_blocking_enter_long, name, call)

#define SHIM_BRACKET(enter, name, call)                                                         \
	({                                                                                      \
		shim_blocking_begin(enter, name);                                               \
		__typeof__(call) shim_blocking_result_ = (call);                                \
		int shim_blocking_errno_ = errno;                                               \
		shim_blocking_end();                                                            \
		errno = shim_blocking_errno_;                                                   \
		shim_blocking_result_;                                                          \
	})

/* a task's scheduling attributes, recorded and reported, never enforced (ids.c) */
struct shim_sched {
	short policy, priority; /* SCHED_*, 0..99 */
	bool explicit_sched; /* created with PTHREAD_EXPLICIT_SCHED (pthread_getattr_np says so) */
};

/* the POSIX state of one task (lives in gr_task.local) */
struct shim_task {
	void *exit_value;	   /* pthread_exit's argument, read after the unwind lands */
	atomic_bool cancel_pending; /* pthread_cancel was called */
	bool cancel_disabled;	   /* PTHREAD_CANCEL_DISABLE */
	bool cancel_async;	   /* PTHREAD_CANCEL_ASYNCHRONOUS (acted on like deferred) */
	_Atomic uint64_t pending_signals; /* pending on the task, bit sig-1 (sigdeliver.c) */
	_Atomic uint64_t from_process;	  /* of those, the ones sent to the process (sigdeliver.c) */
	atomic_bool exiting;		  /* takes no more signals: its program code is over */
	_Atomic uint64_t sigwait_set;	  /* the signals it waits for in a sigwait (sigwait.c) */
	volatile int delivering;	  /* the signal it is sending itself to run (sigdeliver.c) */
	_Atomic int32_t offload_os_tid;	  /* the OS thread running its offloaded call (offload.c) */
	char name[16];			       /* pthread_setname_np */
	bool has_affinity;
	cpu_set_t affinity; /* pthread_setaffinity_np / sched_setaffinity, recorded */
	struct shim_sched sched; /* pthread_setschedparam, sched_setscheduler, creation */
	volatile unsigned char blocking_depth; /* brackets open (shim_blocking_begin) */
	uint64_t fault_rng; /* GREENPOLL_FAULTS' PRNG state, 0 until the first draw (fault.c) */
	const char *blocking_call; /* the outermost open bracket's call (dumps, the report) */
	int64_t blocking_since;	   /* CLOCK_MONOTONIC ns it began */
	bool uncounted; /* greenpoll's own work calls other libraries: not the program's calls */
};
_Static_assert(sizeof(struct shim_task) <= GR_TASK_LOCAL_BYTES, "shim_task fits gr_task.local");

static inline struct shim_task *shim_of(struct gr_task *t)
{
	return (struct shim_task *)t->local;
}

/* REAL's note that the calling task's call goes to libc (calls.h) */
static inline void shim_note_passed(void)
{
	struct gr_task *t = gr_current_task();

	if (t && t->carrier) /* none yet: the initial task at start-up */
		gr_stat_call_part(t->carrier->stats, t->call, &t->call_todo, GR_STAT_CALL_PASSED);
}

/* run the handlers of the signals pending on the task (and on the process) that it does not
 * block; true if all of them have SA_RESTART */
bool shim_deliver_signals(struct gr_task *t);

/* The calling task t is ending, its program code over (key destructors run): the signals
 * pending on it run now, and from here on it takes none, as glibc's exiting thread blocks
 * them all; one sent to the process goes to another task (sigdeliver.c). */
void shim_signals_task_exiting(struct gr_task *t);

/* A bracketed call `name` that began at `since` ended (report.c): counted, and listed by call
 * site if it lasted GREENPOLL_REPORT_MIN or more. */
void shim_report_call(const char *name, int64_t since);

/*
 * SHIM_BLOCKING's two halves. The outermost bracket records the call's name and start (a clock
 * read at each end, ~25 ns each by the vDSO: these calls are system calls anyway), which
 * dumps show and the blocking report (report.c) counts. A bracket opened inside another (a signal handler's blocking
 * call while its task is in a bracketed one) is part of the outer one: only the outermost
 * enters and leaves the runtime's blocking state (entering it twice would lose the
 * processor). The depth goes up before the enter and down after the exit, so a handler that
 * comes in between sees the bracket open.
 */
static inline void shim_blocking_begin(void (*enter)(void), const char *name)
{
	struct gr_task *t = gr_current_task();

	if (!t)
		return;
	/* a signal kept for the task a moment ago (it came while the task was in greenpoll's
	 * code) runs before the call, as it would have natively; one sent from now on reaches
	 * the call in the kernel (sigdeliver.c) */
	if (!shim_of(t)->blocking_depth &&
	    (atomic_load_explicit(&shim_of(t)->pending_signals, memory_order_relaxed) & ~t->sigmask))
		shim_deliver_signals(t);
	if (shim_of(t)->blocking_depth++ == 0) {
		shim_of(t)->blocking_call = name;
		shim_of(t)->blocking_since = gr_nanotime();
		enter();
	}
}

static inline void shim_blocking_end(void)
{
	struct gr_task *t = gr_current_task();

	if (!t)
		return;
	if (shim_of(t)->blocking_depth == 1) {
		gr_blocking_exit();
		shim_report_call(shim_of(t)->blocking_call, shim_of(t)->blocking_since);
	}
	shim_of(t)->blocking_depth--;
}

/* signals 1..64 of a sigset_t as a mask (bit sig-1: runtime/sigstate.h's form), and back */
static inline uint64_t shim_sigset_mask(const sigset_t *set)
{
	uint64_t mask;

	memcpy(&mask, set, sizeof mask);
	return mask;
}

static inline void shim_mask_sigset(sigset_t *set, uint64_t mask)
{
	sigemptyset(set);
	memcpy(set, &mask, sizeof mask);
}

/* a timespec whose tv_nsec is in range */
static inline bool shim_valid_timespec(const struct timespec *ts)
{
	return ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

/* the CLOCK_MONOTONIC deadline (ns, the runtime's time) when `clock` will read *abstime */
int64_t shim_deadline(clockid_t clock, const struct timespec *abstime);

/* the deadline `ms` milliseconds from now (poll-style: < 0 is GR_NEVER) */
int64_t shim_deadline_ms(int ms);

/*
 * Wait until look(arg) returns non-zero (its result: > 0 done, < 0 -errno), looking again after
 * any readiness edge of any of the n fds; 0 when the deadline passes, -EINTR when a signal is
 * sent to the task (and a cancel acts). The wait of the program's own poll and select.
 */
typedef int shim_look_fn(void *arg);
int shim_wait_any(const int *fds, int n, shim_look_fn *look, void *arg, int64_t deadline);

/*
 * libc's syscall() with a number that closes or replaces fds (close, close_range, dup2, dup3):
 * true, with *result as syscall() returns it, after taking that function's own path (fd.c).
 */
bool shim_fd_syscall(long number, const long a[6], long *result);

/*
 * Run fn(arg) on an OS thread of its own while the calling task parks (offload.c); returns its
 * result with errno as fn left it.
 */
long shim_offload(long (*fn)(void *arg), void *arg, const char *what);

/* signal delivery (sigdeliver.c): the initial task, which process-directed signals go to
 * first, and the runtime hooks that route and deliver them */
void shim_signal_init(struct gr_task *initial, struct gr_sched_hooks *hooks);

/* Send sig to task t with *info (NULL: as tgkill from this process): 0 or an errno value. */
int shim_signal_task(struct gr_task *t, int sig, const siginfo_t *info);

/* tgkill(tgid, tid, sig) aimed at a task (tgid 0: tkill): 0 or -errno; -ENOSYS if tid is not
 * a task of this process (the kernel's then). */
long shim_thread_kill(pid_t tgid, pid_t tid, int sig);

/* The task a POSIX timer (its kernel id) is aimed at, or NULL (sigtimer.c); and t, ending, is
 * aimed at by none from now on. */
struct gr_task *shim_timer_target(int timerid);
void shim_timers_task_exiting(struct gr_task *t);

/*
 * Run init, a library's first use: the pipes the calling thread makes meanwhile become
 * greenpoll's hidden fds (hiddenfd.h), in the library's own variables (fd.c).
 */
void shim_hide_library_fds(void (*init)(void));

/*
 * libunwind made ready, once, before greenpoll's first unwinding (a dump, a slow call's site):
 * the first time it unwinds it makes a pipe (to test addresses) and keeps it for good, which
 * would otherwise be two fds the program sees, can close, and could be given back for its own
 * files. Made when first needed, not at start-up, where it would cost every process ~250 µs.
 */
void shim_unwind_ready(void);

/* The signals pending on t that it accepts go to the OS thread of its offloaded call, if
 * offload_os_tid names one; else they stay pending on t. Called by that thread once it has
 * stored its tid (a signal made pending before then found no thread to send it to: each side
 * writes, then looks at the other's write), and by t when its offload wait is interrupted (a
 * signal kept for t while t was still in greenpoll's code on its way into the wait). */
void shim_signals_to_offload(struct gr_task *t);

/*
 * exec (exec.c): the signals greenpoll holds pending for the calling task and for the process
 * are handed to the kernel, which an exec keeps (pending on the OS thread, whose mask is the
 * task's, and on the process); the bits of those moved. An exec that failed takes them back.
 */
struct shim_exec_signals {
	uint64_t thread, process;
};
struct shim_exec_signals shim_signals_before_exec(struct gr_task *self);
void shim_signals_exec_failed(struct gr_task *self, struct shim_exec_signals moved);

/* The calling task t is interrupted and about to leave greenpoll's code (an interposed call of
 * the program's own returning, calls.h; its start routine about to run; back from a yield, as
 * the runtime's `interrupted` hook; a signal handler of greenpoll's that interrupted the
 * program's code returning to it, signal.c): the signals kept
 * pending on t while it was in greenpoll's code run their handlers now. errno is kept. */
void shim_run_kept_signals(struct gr_task *t);

/* From a handler of greenpoll's in task t about to return, t's mask back to what the return
 * restores, the kernel's still `inside` (the handler's): the signals pending on t or on the
 * process that `inside` blocks and t's mask does not (sent while the handler ran, which
 * blocked them) go to t's own OS thread, marked for t, where the kernel holds them until the
 * handler returns and then runs them, as it does a thread's own pending signals. */
void shim_signals_after_handler(struct gr_task *t, uint64_t inside);

/* glibc's SIGSETXID handler (set*id's broadcast to every OS thread) runs on the OS thread's
 * own TCB from now on (setxid.c); called after each OS thread greenpoll starts. */
void shim_setxid_take_over(void);

/* From the signal handler: keep sig pending on marked_for, the task it was sent to; or, sent
 * to the process, on the calling task if it accepts it now (`self_accepts`), else on the
 * process. */
void shim_signal_keep(int sig, const siginfo_t *info, struct gr_task *marked_for, bool self_accepts);
/* where a signal sent by another process to this one goes rather than to self, the task the
 * carrier runs: the initial task if it takes it, else NULL (sigdeliver.c). Async-signal-safe. */
struct gr_task *shim_signal_aimed_at(int sig, const siginfo_t *info, struct gr_task *self);

/* The signals pending on t or on the process that t blocks (sigpending's, without the
 * kernel's). */
uint64_t shim_signals_pending(struct gr_task *t);

/* Whether a signal pending on t or on the process is one t does not block. */
bool shim_signals_deliverable(struct gr_task *t);

/* Take a signal of `set` pending on t or on the process: its number and *info, or 0. */
int shim_signal_take(struct gr_task *t, uint64_t set, siginfo_t *info);

/* Note where greenpoll's code and the libraries preemption must not interrupt are (preempt.c,
 * at start-up). */
void shim_code_ranges_init(void);

/* whether pc is in greenpoll's own code (preempt.c) */
bool shim_pc_in_greenpoll(uintptr_t pc);

/* Keep sig's real disposition greenpoll's (the preemption signal, GREENPOLL_DUMP_SIGNAL's):
 * the program's sigaction and signal for it are recorded and reported back only. False if it
 * cannot be. */
bool shim_signal_reserve(int sig);

/* A reserved signal that was not greenpoll's: what the program asked for (its handler, or
 * nothing for SIG_IGN and SIG_DFL, whose action for SIGURG is to ignore it). */
void shim_signal_forward(int sig, siginfo_t *info, void *uctx);

/* Install the preemption signal's handler; the signal, or 0 if preemption by signal is off. */
int shim_preempt_init(void);
void *shim_preempt_cookie(void); /* the value the monitor queues the signal with */

/* whether clock is a task's CPU-time clock the calling task should answer (cpuclock.c) */
bool shim_task_cpuclock(clockid_t clock);

/* clock_nanosleep on such a clock (cpuclock.c): 0 or a positive errno, as clock_nanosleep */
int shim_cpuclock_sleep(struct gr_task *self, clockid_t clock, int flags,
			const struct timespec *req, struct timespec *rem);

/* scheduling attributes (ids.c): a task's first ones, from its creator (NULL for the initial
 * task: the process's own); those a thread created by creator with attr starts with, in *s:
 * 0, or pthread_create's error (EINVAL, EPERM as the kernel would give); into attr, t's */
void shim_sched_init(struct gr_task *t, struct gr_task *creator);
int shim_sched_of_attr(struct gr_task *creator, const pthread_attr_t *attr, struct shim_sched *s);
void shim_sched_report(struct gr_task *t, pthread_attr_t *attr);

/* the task a pthread_t names, or NULL if it is not a task's */
struct gr_task *shim_task_of_thread(pthread_t th);

/* at a cancellation point: act on a pending cancel (never returns if it does) */
void shim_cancel_point(struct gr_task *t);

/* before a wait at a cancellation point: pending signals and cancel are acted on first */
void shim_before_wait(struct gr_task *t);

/*
 * A wait ended with GR_WAKE_INTERRUPT: run pending signal handlers and act on a cancel. True
 * if the call may be restarted (every handler that ran has SA_RESTART).
 */
bool shim_interrupted(struct gr_task *t);

/*
 * gr_waitq_park for a wait that signals do not end (a lock, a barrier, pthread_once): a signal
 * sent to the task runs its handler and the caller, which looks again and parks again, goes
 * on waiting; an asynchronous cancel acts. Never returns GR_WAKE_INTERRUPT.
 */
int shim_park_through_signals(const void *addr, gr_waitq_check_fn *check, void *arg,
			      int64_t deadline, const char *what);

/* whether the task's waits at cancellation points should be interruptible */
bool shim_cancellable(struct gr_task *t);


/* key destructors of the exiting task (thread exit hook) */
void shim_run_key_destructors(void);

/* set up per-task state for a new task created by `parent` (NULL for the initial one) */
void shim_task_init(struct gr_task *t, struct gr_task *parent);

/*
 * A landing place for pthread_exit's forced unwind in the calling function's frame (glibc's
 * own unwinder longjmps to the buffer the TCB's cleanup_jmp_buf points at, as start_thread
 * sets up for glibc's threads): 0 when set up, non-zero when the unwind has landed. The
 * caller then points the TCB at it (gr_tcb_cleanup_slot).
 */
#define SHIM_LANDING(buf) \
	(memset(&(buf), 0, sizeof(buf)), __sigsetjmp_cancel((buf).__cancel_jmp_buf, 0))

/* run t's start routine with a landing place for pthread_exit's unwind */
void *shim_run_task(struct gr_task *t);

#include "calls.h"

#endif
