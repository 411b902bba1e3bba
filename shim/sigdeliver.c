/*
 * sigdeliver.c — which task a signal goes to, and when its handler runs there.
 *
 * POSIX gives each thread a signal mask and a set of pending signals; a signal sent to a thread
 * (pthread_kill, tgkill, raise, pthread_sigqueue) is handled by that thread once it does not
 * block it, and one sent to the process (kill, alarm, a terminal) by one thread that does not
 * block it. The kernel does this for OS threads; greenpoll does it for tasks, on top of it:
 *
 *  - A carrier's kernel mask is its task's (runtime/sigstate.h), so a signal the kernel gives a
 *    carrier that runs a task goes to a task that accepts it: its handler runs right there, in
 *    that task, on its stack (or its alternate stack), as natively; but one another process
 *    sent (kill, sigqueue) goes to the initial thread when that accepts it, as Linux aims it
 *    at the thread group leader (shim_signal_aimed_at). Idle carriers block what
 *    every task blocks, so a signal no task accepts stays pending on the process in the kernel.
 *  - A signal that reaches a carrier where it cannot run now (the carrier is idle, or its task
 *    blocks it, or the task is inside greenpoll's own code or holds one of the runtime's locks
 *    while greenpoll's code calls out to libc, where a handler that calls back into greenpoll
 *    could meet a lock its task holds: shim/signal.c) is kept, with its siginfo, as pending:
 *    on that task if it was meant for it, else on the process, and routed from a carrier's
 *    scheduling code (route_signals, the runtime's hook) to a task that accepts it: the initial
 *    thread first when several could take it (as Linux prefers the main thread), else the
 *    first found. A signal no task accepts stays pending on the process here until a task
 *    unblocks it or waits for it.
 *  - Pending on a task, a signal reaches it as follows (kick): a parked task is interrupted
 *    (an interruptible wait ends; the waiting code then delivers it and returns EINTR or
 *    restarts, by SA_RESTART); a task running on a carrier, or blocked there in a kernel call
 *    (a bracket), is sent the real signal on that carrier's OS thread, marked for it, so the
 *    kernel interrupts the call exactly as natively (EINTR or restart by SA_RESTART); a
 *    runnable task delivers it when it next runs (the runtime's `interrupted` hook); a task
 *    whose call runs on an OS thread of its own (offload.c) has the signal sent there.
 *  - Delivery to the calling task (deliver_pending, shim_deliver_signals) sends each pending
 *    signal it does not block to its own OS thread with its siginfo (rt_tgsigqueueinfo), marked
 *    as being delivered: the kernel runs the handler before the system call returns, or applies
 *    the default action (terminate, stop, core) exactly as it would.
 *
 * Pending state: a bitmask per task (shim_task.pending_signals) and one for the process
 * (proc_pending); each pending signal's siginfo sits in a small table keyed by (task, signal).
 * Standard signals do not queue, natively either; a real-time signal sent again while one of
 * the same number is pending here is merged with it (natively it would queue): README says so.
 * Everything here that a handler calls is async-signal-safe (atomics, system calls).
 *
 * exec keeps the pending signals of the thread that calls it, and the process's: just before
 * it, what greenpoll holds pending for the calling task (that the task blocks: the others run
 * first) is handed to the kernel, on the calling task's OS thread, whose mask is the task's and
 * blocks them, and what it holds for the process (or routed to the task from the process) to
 * the process; an exec that fails takes them back. At start-up, the signals an exec left
 * pending on the initial OS thread become the initial task's.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fork.h"
#include "sched.h"
#include "sigstate.h"
#include "sys.h"
#include "waitq.h"

#define INFO_SLOTS 128
#define INFO_BUSY (1ULL << 63) /* a slot being written */
#define ROUTE_BATCH 64

/* the siginfo of a pending signal, keyed by (task id << 7 | sig); task id 0: the process */
static struct {
	_Atomic uint64_t key;
	siginfo_t info;
} infos[INFO_SLOTS];

static _Atomic uint64_t proc_pending; /* pending on the process, no task took them yet */
static struct gr_task *_Atomic initial_task;

static uint64_t info_key(const struct gr_task *t, int sig)
{
	return ((t ? t->id : 0) << 7) | (uint64_t)sig;
}

/* keep *info under key; the slot it took, or -1 if the table is full (the signal is then
 * delivered with a siginfo made up as for tgkill from this process) */
static int info_put(uint64_t key, const siginfo_t *info)
{
	for (int i = 0; i < INFO_SLOTS; i++) {
		uint64_t free_slot = 0;

		if (atomic_load_explicit(&infos[i].key, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&infos[i].key, &free_slot, INFO_BUSY))
			continue;
		infos[i].info = *info;
		atomic_store(&infos[i].key, key);
		return i;
	}
	return -1;
}

/* forget the siginfo in slot (from info_put or info_move; -1: none) */
static void info_drop(int slot)
{
	if (slot >= 0)
		atomic_store(&infos[slot].key, 0);
}

/* take the siginfo kept under key into *out; false if none (made up then) */
static bool info_take(uint64_t key, siginfo_t *out)
{
	for (int i = 0; i < INFO_SLOTS; i++) {
		if (atomic_load_explicit(&infos[i].key, memory_order_relaxed) != key)
			continue;
		*out = infos[i].info;
		atomic_store(&infos[i].key, 0);
		return true;
	}
	return false;
}

/* re-key the siginfo kept under `from` (a process-pending signal given to a task); the slot,
 * or -1 if there was none */
static int info_move(uint64_t from, uint64_t to)
{
	for (int i = 0; i < INFO_SLOTS; i++) {
		uint64_t expect = from;

		if (atomic_compare_exchange_strong(&infos[i].key, &expect, to))
			return i;
	}
	return -1;
}

/* whether the signal's action is to discard it (SIG_IGN, or SIG_DFL of a signal whose default
 * is to ignore it): then it is never made pending unless blocked, as the kernel does */
static bool discarded(int sig)
{
	struct sigaction sa;

	if (sigaction(sig, NULL, &sa) != 0)
		return false;
	if (sa.sa_handler == SIG_IGN)
		return true;
	return sa.sa_handler == SIG_DFL &&
	       (sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT);
}

/* whether t takes sig now: it does not block it, or it waits for it in a sigwait */
static bool accepts(struct gr_task *t, int sig)
{
	return !atomic_load(&shim_of(t)->exiting) &&
	       (!(t->sigmask & GR_SIGBIT(sig)) || (atomic_load(&shim_of(t)->sigwait_set) & GR_SIGBIT(sig)));
}

/*
 * Set sig's bit in *set, with *info kept under key (NULL: made up at delivery); false if the
 * bit was set already (the signal merges with the one pending). The siginfo is kept before the
 * bit is set: whoever sees the bit (the task itself, looking at any wait or mask change, or a
 * router) finds its siginfo there.
 */
static bool pend_in(_Atomic uint64_t *set, uint64_t key, int sig, const siginfo_t *info)
{
	uint64_t bit = GR_SIGBIT(sig);
	int slot;

	if (atomic_load(set) & bit)
		return false;
	slot = info ? info_put(key, info) : -1;
	if (!(atomic_fetch_or(set, bit) & bit))
		return true;
	info_drop(slot); /* made pending by another sender meanwhile */
	return false;
}

/* make sig pending on t with *info (NULL: made up at delivery); false if it already was */
static bool pend(struct gr_task *t, int sig, const siginfo_t *info)
{
	return pend_in(&shim_of(t)->pending_signals, info_key(t, sig), sig, info);
}

/* take sig off t's pending set into *info; false if it was not pending */
static bool unpend(struct gr_task *t, int sig, siginfo_t *info, bool *have_info)
{
	uint64_t bit = GR_SIGBIT(sig);

	if (!(atomic_fetch_and(&shim_of(t)->pending_signals, ~bit) & bit))
		return false;
	atomic_fetch_and(&shim_of(t)->from_process, ~bit);
	*have_info = info_take(info_key(t, sig), info);
	return true;
}

/* sig, pending on t for the process, goes back to the process for another task (t is
 * exiting); nothing if t took it meanwhile */
static void give_back(struct gr_task *t, int sig)
{
	struct shim_task *st = shim_of(t);
	uint64_t bit = GR_SIGBIT(sig);
	int slot;

	if (!(atomic_fetch_and(&st->pending_signals, ~bit) & bit))
		return;
	atomic_fetch_and(&st->from_process, ~bit);
	slot = info_move(info_key(t, sig), info_key(NULL, sig));
	if (atomic_fetch_or(&proc_pending, bit) & bit)
		info_drop(slot); /* merged with one pending there */
	gr_sched_route_signals();
}

/*
 * sig, just made pending on t, was sent to the process: if t is exiting (it takes no more
 * signals), it goes back. t sets `exiting` and then gives back what is marked; this marks and
 * then looks at `exiting`: one of the two sees the other's write (both are sequentially
 * consistent), and give_back's claim of the pending bit makes it happen once.
 */
static void pend_from_process(struct gr_task *t, int sig)
{
	atomic_fetch_or(&shim_of(t)->from_process, GR_SIGBIT(sig));
	if (atomic_load(&shim_of(t)->exiting))
		give_back(t, sig);
}

void shim_signals_task_exiting(struct gr_task *t)
{
	struct shim_task *st = shim_of(t);
	uint64_t back;

	shim_deliver_signals(t);
	atomic_store(&st->exiting, true);
	back = atomic_load(&st->from_process);
	for (int sig = 1; back; sig++, back >>= 1)
		if (back & 1)
			give_back(t, sig);
}

/* sig, pending on t, goes to the OS thread of t's offloaded call if one runs it now: true if
 * it was sent there (or someone else took it meanwhile) */
static bool to_offload(struct gr_task *t, int sig)
{
	siginfo_t info;
	bool have_info;
	int32_t offload = atomic_load(&shim_of(t)->offload_os_tid);

	if (!offload)
		return false;
	if (!unpend(t, sig, &info, &have_info))
		return true;
	if (gr_sig_send_to_os_thread(offload, sig, have_info ? &info : NULL) == 0)
		return true;
	pend(t, sig, have_info ? &info : NULL); /* the call is over */
	return false;
}

/* sig is pending on t, which accepts it: make t see it (see the header). Not from a handler. */
static void kick(struct gr_task *t, int sig)
{
	siginfo_t info;
	bool have_info;
	uint8_t state = atomic_load(&t->state);

	if (to_offload(t, sig))
		return;
	if (state == GR_TASK_RUNNING && !(atomic_load(&shim_of(t)->sigwait_set) & GR_SIGBIT(sig)) &&
	    unpend(t, sig, &info, &have_info)) {
		if (gr_sig_send_to_running(t, sig, have_info ? &info : NULL))
			return;
		pend(t, sig, have_info ? &info : NULL); /* it stopped running meanwhile */
	}
	gr_interrupt(t);
}

void shim_signals_to_offload(struct gr_task *t)
{
	uint64_t ready = atomic_load(&shim_of(t)->pending_signals) & ~t->sigmask;

	for (int sig = 1; ready; sig++, ready >>= 1)
		if (ready & 1)
			to_offload(t, sig);
}

struct route_pick {
	int sig;
	struct gr_task *found;
	uint64_t found_id;
	struct {
		struct gr_task *t;
		uint64_t id;
	} kick[ROUTE_BATCH];
	int nkick;
};

static void pick_accepting(struct gr_task *t, void *arg)
{
	struct route_pick *rp = arg;

	if (!rp->found && accepts(t, rp->sig)) {
		rp->found = t;
		rp->found_id = t->id;
	}
}

static void pick_kickable(struct gr_task *t, void *arg)
{
	struct route_pick *rp = arg;
	uint64_t pending = atomic_load_explicit(&shim_of(t)->pending_signals, memory_order_relaxed);

	if (rp->nkick < ROUTE_BATCH && (pending & ~t->sigmask)) {
		rp->kick[rp->nkick].t = t;
		rp->kick[rp->nkick].id = t->id;
		rp->nkick++;
	}
}

/* the task that should take a process-directed sig: the initial one first */
static struct gr_task *accepting_task(int sig, uint64_t *id)
{
	struct gr_task *main_task = atomic_load(&initial_task);
	struct route_pick rp = {.sig = sig};

	if (main_task && atomic_load(&main_task->state) != GR_TASK_DEAD && accepts(main_task, sig)) {
		*id = main_task->id;
		return main_task;
	}
	gr_task_each(pick_accepting, &rp);
	*id = rp.found_id;
	return rp.found;
}

/* a task found under the task list lock is still that task (records are reused, not freed) */
static bool still(struct gr_task *t, uint64_t id)
{
	return t->id == id && atomic_load(&t->state) != GR_TASK_DEAD;
}

/* hooks.route_signals: from a carrier's scheduling code */
static void route_signals(void)
{
	uint64_t pending = atomic_load(&proc_pending);
	struct route_pick rp = {0};

	for (int sig = 1; pending; sig++, pending >>= 1) {
		uint64_t bit = GR_SIGBIT(sig), id;
		struct gr_task *t;
		int slot;

		if (!(pending & 1) || !(t = accepting_task(sig, &id)) || !still(t, id))
			continue;
		if (!(atomic_fetch_and(&proc_pending, ~bit) & bit))
			continue;
		/* its siginfo first, as pend_in does; dropped if it merges with t's pending one */
		slot = info_move(info_key(NULL, sig), info_key(t, sig));
		if (atomic_fetch_or(&shim_of(t)->pending_signals, bit) & bit)
			info_drop(slot);
		pend_from_process(t, sig);
	}
	/* every task with a signal to take: signals marked for a task that had moved on, and
	 * the ones just routed */
	gr_task_each(pick_kickable, &rp);
	for (int i = 0; i < rp.nkick; i++) {
		struct gr_task *t = rp.kick[i].t;
		uint64_t ready = atomic_load(&shim_of(t)->pending_signals) & ~t->sigmask;

		if (!still(t, rp.kick[i].id) || !ready)
			continue;
		kick(t, __builtin_ctzll(ready) + 1);
	}
}

/* ---- from the signal handler ---- */

/*
 * The task a signal the kernel gave a carrier running self is for instead of self, or NULL:
 * one another process sent to this process (kill, sigqueue) goes to the initial thread when it
 * takes it, as Linux aims such a signal at the thread group leader. (A thread-per-connection
 * server's main thread, waiting in accept or poll, is then interrupted and sees the flag the
 * handler set; run in a busy connection thread, the handler would leave it waiting.)
 * Async-signal-safe.
 */
struct gr_task *shim_signal_aimed_at(int sig, const siginfo_t *info, struct gr_task *self)
{
	struct gr_task *main_task = atomic_load(&initial_task);

	if ((info->si_code != SI_USER && info->si_code != SI_QUEUE) || info->si_pid == getpid() ||
	    !main_task || main_task == self || atomic_load(&main_task->state) == GR_TASK_DEAD ||
	    !accepts(main_task, sig))
		return NULL;
	return main_task;
}

/*
 * A signal the kernel gave this carrier that cannot run its handler here and now (see the
 * header): keep it pending, on the task it was sent to, on the calling task if it was sent to
 * the process and the task accepts it (it runs as the task's call returns, or as the handler
 * of greenpoll's it interrupted returns to the program's code (signal.c), or ends the wait the
 * task was arming; if the task exits first, it goes back to the process:
 * shim_signals_task_exiting), or on the process, and have a carrier route it.
 * Async-signal-safe.
 */
void shim_signal_keep(int sig, const siginfo_t *info, struct gr_task *marked_for, bool self_accepts)
{
	struct gr_task *self = gr_current_task();

	if (marked_for) {
		pend(marked_for, sig, info);
		if (marked_for == self) {
			gr_interrupt_self(); /* delivered as its call returns, or ends its wait */
			return;
		}
	} else if (self_accepts) {
		pend(self, sig, info);
		pend_from_process(self, sig);
		gr_interrupt_self();
		return;
	} else {
		pend_in(&proc_pending, info_key(NULL, sig), sig, info);
	}
	gr_sched_route_signals();
}

/* ---- sending ---- */

int shim_signal_task(struct gr_task *t, int sig, const siginfo_t *info)
{
	struct gr_task *self = gr_current_task();

	if (sig < 0 || sig > GR_NSIG)
		return EINVAL;
	if (sig == 0 || atomic_load(&t->state) == GR_TASK_DEAD)
		return 0; /* glibc's pthread_kill sends nothing to a thread that has exited */
	if (sig == SIGKILL || sig == SIGSTOP) /* they act on the whole process at once */
		return gr_sys3(SYS_tgkill, getpid(), gr_os_tid(), sig) ? errno : 0;
	if (discarded(sig) && !(t->sigmask & GR_SIGBIT(sig)))
		return 0;
	if (!pend(t, sig, info))
		return 0; /* merged with the one pending */
	if (!accepts(t, sig))
		return 0; /* stays pending until it unblocks it */
	if (t == self)
		shim_deliver_signals(self);
	else
		kick(t, sig);
	return 0;
}

/* ---- delivering to the calling task ---- */

/* take sig, pending on t or else on the process, into *info; false if neither has it now */
static bool take_pending(struct gr_task *t, int sig, siginfo_t *info, bool *have_info)
{
	uint64_t bit = GR_SIGBIT(sig);

	if (unpend(t, sig, info, have_info))
		return true;
	if (!(atomic_fetch_and(&proc_pending, ~bit) & bit))
		return false;
	*have_info = info_take(info_key(NULL, sig), info);
	return true;
}

bool shim_deliver_signals(struct gr_task *t)
{
	struct shim_task *st = shim_of(t);
	bool restart = true;

	/* greenpoll's code holds a runtime lock and called an export of its own (from a handler
	 * of greenpoll's that interrupted it): not here, as the outermost call returns */
	if (gr_task_holds_locks(t)) {
		gr_interrupt_self();
		return restart;
	}
	for (;;) {
		uint64_t ready = (atomic_load(&st->pending_signals) | atomic_load(&proc_pending)) &
				 ~t->sigmask;
		int sig;
		siginfo_t info;
		bool have_info;
		struct sigaction sa;

		if (!ready)
			return restart;
		sig = __builtin_ctzll(ready) + 1;
		if (!take_pending(t, sig, &info, &have_info))
			continue;
		if (sigaction(sig, NULL, &sa) != 0 || !(sa.sa_flags & SA_RESTART))
			restart = false;
		st->delivering = sig;
		gr_sig_send_to_self(sig, have_info ? &info : NULL);
		st->delivering = 0;
	}
}

void shim_signals_after_handler(struct gr_task *t, uint64_t inside)
{
	uint64_t held;

	/* t's mask is stored, then its pending signals looked at; a sender makes a signal
	 * pending, then looks at the mask (accepts): one of the two sees the other's write */
	atomic_thread_fence(memory_order_seq_cst);
	held = (atomic_load(&shim_of(t)->pending_signals) | atomic_load(&proc_pending)) & inside &
	       ~t->sigmask;
	for (int sig = 1; held; sig++, held >>= 1) {
		siginfo_t info;
		bool have_info;

		if ((held & 1) && take_pending(t, sig, &info, &have_info))
			gr_sig_send_to_self(sig, have_info ? &info : NULL);
	}
}

int shim_park_through_signals(const void *addr, gr_waitq_check_fn *check, void *arg,
			      int64_t deadline, const char *what)
{
	struct gr_task *self = gr_current_task();
	int why = gr_waitq_park(addr, check, arg, deadline, true, what);

	if (why != GR_WAKE_INTERRUPT)
		return why;
	atomic_store(&self->interrupted, false);
	shim_deliver_signals(self);
	if (shim_of(self)->cancel_async)
		shim_cancel_point(self);
	return GR_WAKE_NORMAL;
}

void shim_run_kept_signals(struct gr_task *t)
{
	int saved = errno;

	if (atomic_load(&shim_of(t)->exiting))
		return;
	atomic_store(&t->interrupted, false);
	shim_deliver_signals(t);
	errno = saved;
}

bool shim_signals_deliverable(struct gr_task *t)
{
	return (atomic_load(&shim_of(t)->pending_signals) | atomic_load(&proc_pending)) & ~t->sigmask;
}

uint64_t shim_signals_pending(struct gr_task *t)
{
	return (atomic_load(&shim_of(t)->pending_signals) | atomic_load(&proc_pending)) & t->sigmask;
}

/*
 * Take one signal of `set` pending on t or on the process, for a sigwait: its number, with
 * *info; 0 if none.
 */
int shim_signal_take(struct gr_task *t, uint64_t set, siginfo_t *info)
{
	for (;;) {
		uint64_t ready = (atomic_load(&shim_of(t)->pending_signals) | atomic_load(&proc_pending)) & set;
		bool have_info;
		int sig;

		if (!ready)
			return 0;
		sig = __builtin_ctzll(ready) + 1;
		if (!take_pending(t, sig, info, &have_info))
			continue;
		if (!have_info) {
			memset(info, 0, sizeof *info);
			info->si_code = SI_TKILL;
			info->si_pid = getpid();
			info->si_uid = getuid();
		}
		info->si_signo = sig;
		return sig;
	}
}

/* ---- exec ---- */

/* sig, with *info if have_info, sent by the kernel to this OS thread (to_thread) or to the
 * process: -errno or 0. The process's with its siginfo as sigqueue from this process. */
static long send_to_kernel(int sig, const siginfo_t *info, bool have_info, bool to_thread)
{
	siginfo_t si;

	if (to_thread)
		return gr_sig_send_to_os_thread((int32_t)gr_os_tid(), sig, have_info ? info : NULL);
	if (!have_info)
		return gr_sys2(SYS_kill, getpid(), sig);
	si = *info;
	si.si_signo = sig;
	return gr_sys3(SYS_rt_sigqueueinfo, getpid(), sig, &si);
}

struct shim_exec_signals shim_signals_before_exec(struct gr_task *self)
{
	struct shim_task *st = shim_of(self);
	struct shim_exec_signals moved = {0, 0};
	uint64_t held;

	shim_deliver_signals(self);
	held = atomic_load(&st->pending_signals) & self->sigmask;
	for (int sig = 1; held; sig++, held >>= 1) {
		uint64_t bit = GR_SIGBIT(sig);
		bool for_process = atomic_load(&st->from_process) & bit, have_info;
		siginfo_t info;

		if (!(held & 1) || !unpend(self, sig, &info, &have_info))
			continue;
		if (send_to_kernel(sig, &info, have_info, !for_process) == 0)
			*(for_process ? &moved.process : &moved.thread) |= bit;
	}
	held = atomic_load(&proc_pending) & self->sigmask;
	for (int sig = 1; held; sig++, held >>= 1) {
		uint64_t bit = GR_SIGBIT(sig);
		bool have_info;
		siginfo_t info;

		if (!(held & 1) || !(atomic_fetch_and(&proc_pending, ~bit) & bit))
			continue;
		have_info = info_take(info_key(NULL, sig), &info);
		if (send_to_kernel(sig, &info, have_info, false) == 0)
			moved.process |= bit;
	}
	return moved;
}

/* take sig back from the kernel's pending signals of this OS thread (then the process's): true
 * with its siginfo if one was there */
static bool take_from_kernel(int sig, siginfo_t *info)
{
	uint64_t set = GR_SIGBIT(sig);
	struct timespec now = {0, 0};

	return gr_sys4(SYS_rt_sigtimedwait, &set, info, &now, sizeof set) == sig;
}

void shim_signals_exec_failed(struct gr_task *self, struct shim_exec_signals moved)
{
	siginfo_t info;

	for (int sig = 1; moved.thread; sig++, moved.thread >>= 1)
		if ((moved.thread & 1) && take_from_kernel(sig, &info))
			pend(self, sig, &info);
	for (int sig = 1; moved.process; sig++, moved.process >>= 1)
		if ((moved.process & 1) && take_from_kernel(sig, &info))
			pend_in(&proc_pending, info_key(NULL, sig), sig, &info);
}

/*
 * An exec gave this process the signals pending on the OS thread that called it, in the
 * kernel: those of the initial task's OS thread become the initial task's, as the signals
 * sent to a thread are kept by greenpoll (its OS thread is a carrier that other tasks will
 * run on). Costs one system call when nothing is pending.
 */
static void take_inherited(struct gr_task *initial)
{
	uint64_t pending = 0, mine = 0;
	char buf[2048], *at;
	long fd, n;
	siginfo_t info;

	if (gr_sys2(SYS_rt_sigpending, &pending, sizeof pending) != 0 || !pending)
		return;
	fd = gr_sys3(SYS_open, "/proc/thread-self/status", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return;
	n = gr_sys3(SYS_read, fd, buf, sizeof buf - 1);
	gr_sys1(SYS_close, fd);
	buf[n > 0 ? n : 0] = 0;
	if (!(at = strstr(buf, "\nSigPnd:")))
		return;
	mine = strtoull(at + 8, NULL, 16) & pending;
	for (int sig = 1; mine; sig++, mine >>= 1)
		if ((mine & 1) && take_from_kernel(sig, &info))
			pend(initial, sig, &info);
}

void shim_signal_init(struct gr_task *initial, struct gr_sched_hooks *hooks)
{
	take_inherited(initial);
	atomic_store(&initial_task, initial);
	hooks->route_signals = route_signals;
	hooks->interrupted = shim_run_kept_signals; /* back from a yield */
}

/* fork.h: the forking task is the only one; nothing is pending on it or the process */
static void signal_after_fork_child(struct gr_task *self)
{
	atomic_store(&initial_task, self);
	atomic_store(&proc_pending, 0);
	for (int i = 0; i < INFO_SLOTS; i++)
		atomic_store(&infos[i].key, 0);
	atomic_store(&shim_of(self)->pending_signals, 0);
}
GR_AFTER_FORK(GR_FORK_SHIM, signal_after_fork_child);
