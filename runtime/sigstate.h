/*
 * sigstate.h — a task's kernel signal state (signal mask, alternate signal stack), carried
 * from carrier to carrier.
 *
 * The kernel keeps a signal mask and an alternate signal stack per OS thread, and a task moves
 * between OS threads. So each task keeps its own (gr_task.sigmask, gr_task.altstack) and a
 * carrier makes the kernel's match the task it runs, when the task resumes on it, with a system
 * call only where they differ: a program whose threads all share one mask and have no alternate
 * stack (nearly all) never pays one.
 *
 * Invariants:
 *  - While a task runs task code, its carrier's kernel mask is the task's mask (bit sig-1 set:
 *    blocked; SIGKILL and SIGSTOP never). Inside a signal handler the task's mask is the
 *    handler's (the shim notes it on entry and notes the one sigreturn restores on the way out,
 *    with gr_sig_note_mask, which costs no system call).
 *  - An idle carrier (sleeping, polling, spare) blocks the idle mask: every signal that every
 *    live task blocks. A signal no thread accepts therefore stays pending on the process in the
 *    kernel, where a sigwait takes it, as natively; one that some task accepts reaches a carrier
 *    that takes it, running a task or idle, whose handler delivers it or routes it to that task.
 *    An idle carrier has no alternate stack installed (a task's stack must never be used by two
 *    OS threads at once).
 *  - The idle mask is kept from per-signal counts of the live tasks that block each signal,
 *    under sig_lock (no system call under it). When it changes, idle carriers are woken to
 *    apply it (gr_sched_kick_idle): a carrier asleep with an older one may hold a signal back a
 *    moment, or take one every task now blocks (the shim routes it to the process's pending
 *    set; one whose action is the default then acts as if a thread accepted it).
 *  - The carrier's record of what the kernel has (kmask, kalt) is written only by its owner.
 *
 * A signal greenpoll sends to a carrier on behalf of a task (a thread-directed signal for a
 * task running there, or one a task sends itself) is marked in the carrier's sig_for slot: the
 * handler that takes it there knows which task it is for (gr_sig_take_mark), and passes it on if
 * that task is no longer the one running. A task's marks are cleared when it ends
 * (gr_sig_task_gone), since its record may be unmapped afterwards.
 */
#ifndef GR_SIGSTATE_H
#define GR_SIGSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>

struct gr_task;
struct gr_carrier;

#define GR_NSIG 64 /* signals 1..64 */
#define GR_SIGBIT(sig) (1ULL << ((sig) - 1))
#define GR_SIG_UNBLOCKABLE (GR_SIGBIT(9) | GR_SIGBIT(19)) /* SIGKILL, SIGSTOP */

/* an alternate signal stack as sigaltstack(2) takes it (flags: 0, SS_DISABLE, SS_AUTODISARM) */
struct gr_altstack {
	void *sp;
	size_t size;
	int flags;
};

/* At start-up, on the initial task: its mask and alternate stack are the OS thread's. */
void gr_sig_init(struct gr_task *initial);

/* t, a new task, takes its creator's mask (no alternate stack) and counts as live. */
void gr_sig_task_born(struct gr_task *t, const struct gr_task *creator);

/* t, ending on its own stack, stops counting. */
void gr_sig_task_gone(struct gr_task *t);

/* The calling task's mask becomes `mask`, in the kernel too. */
void gr_sig_set_mask(uint64_t mask);

/* The calling task's mask is `mask` in the kernel already (a handler's entry or exit): note it. */
void gr_sig_note_mask(uint64_t mask);

/* The calling task's alternate stack becomes *alt; 0 or a negative errno (the kernel's). */
int gr_sig_set_altstack(const struct gr_altstack *alt);

/* Every signal every live task blocks. */
uint64_t gr_sig_idle_mask(void);

/* The kernel state of carrier c (the caller's) made t's, which resumes on it. */
void gr_sig_resume(struct gr_carrier *c, struct gr_task *t);

/* The kernel state of carrier c (the caller's) made an idle carrier's. */
void gr_sig_idle(struct gr_carrier *c);

/*
 * Send sig, with *info (rt_tgsigqueueinfo; see gr_sig_send_to_os_thread in sigstate.c for the one
 * field that may change), to the OS thread of the carrier that runs t, marked for t; false if t is not running
 * on a carrier (nothing sent). info may be NULL (SI_TKILL from this process, as tgkill).
 * Async-signal-safe.
 */
bool gr_sig_send_to_running(struct gr_task *t, int sig, const siginfo_t *info);

/* Send sig with *info (as above) to OS thread tid of this process, unmarked: 0 or -errno. */
long gr_sig_send_to_os_thread(int32_t tid, int sig, const siginfo_t *info);

/* The same to the calling task's own carrier: delivered before this returns if unblocked. */
void gr_sig_send_to_self(int sig, const siginfo_t *info);

/* In a handler: the task the signal that reached this carrier was marked for, clearing the
 * mark; NULL if it was not marked (sent to the process, or by the kernel). */
struct gr_task *gr_sig_take_mark(int sig);

/* In the fork child, on the forking task: it is the only live task. */
void gr_sig_after_fork_child(struct gr_task *self);

#endif
