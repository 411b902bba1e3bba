/*
 * sigstate.c — a task's kernel signal state carried from carrier to carrier (see sigstate.h).
 */
#define _GNU_SOURCE
#include "sigstate.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "fork.h"
#include "lock.h"
#include "sched.h"
#include "sys.h"
#include "task.h"
#include "tls.h"

#define KERNEL_SIGSET_BYTES 8

static struct {
	gr_lock_t lock;
	int nlive;		   /* live tasks counted */
	int nblocking[GR_NSIG];	   /* of which, blocking signal i+1 */
	_Atomic uint64_t idle_mask; /* signals every counted task blocks */
	int32_t pid;
} sigs = {.lock = GR_LOCK_INIT};

static long kernel_set_mask(uint64_t mask)
{
	return gr_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, KERNEL_SIGSET_BYTES);
}

static long kernel_set_altstack(const struct gr_altstack *alt)
{
	stack_t ss = {.ss_sp = alt->sp, .ss_size = alt->size, .ss_flags = alt->flags};

	return gr_sys2(SYS_sigaltstack, &ss, NULL);
}

static bool same_altstack(const struct gr_altstack *a, const struct gr_altstack *b)
{
	if ((a->flags & SS_DISABLE) && (b->flags & SS_DISABLE))
		return true;
	return a->sp == b->sp && a->size == b->size && a->flags == b->flags;
}

/* under sigs.lock: the idle mask from the counts; true if it changed */
static bool recompute_idle_mask(void)
{
	uint64_t mask = 0;

	for (int i = 0; i < GR_NSIG; i++)
		if (sigs.nblocking[i] == sigs.nlive)
			mask |= 1ULL << i;
	mask &= ~GR_SIG_UNBLOCKABLE;
	return atomic_exchange(&sigs.idle_mask, mask) != mask;
}

/* under sigs.lock: count `mask` as one more (delta 1) or one fewer (-1) task's */
static void count_mask(uint64_t mask, int delta)
{
	for (int i = 0; mask; i++, mask >>= 1)
		if (mask & 1)
			sigs.nblocking[i] += delta;
}

/* the idle mask changed: idle carriers must take the new one */
static void idle_mask_changed(bool changed)
{
	if (changed)
		gr_sched_kick_idle();
}

void gr_sig_init(struct gr_task *initial)
{
	uint64_t mask = 0;
	stack_t ss;

	sigs.pid = (int32_t)gr_sys0(SYS_getpid);
	gr_sys4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, KERNEL_SIGSET_BYTES);
	initial->sigmask = mask & ~GR_SIG_UNBLOCKABLE;
	initial->altstack.flags = SS_DISABLE;
	if (gr_sys2(SYS_sigaltstack, NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE))
		initial->altstack = (struct gr_altstack){ss.ss_sp, ss.ss_size, ss.ss_flags & ~SS_ONSTACK};
	gr_lock(&sigs.lock);
	sigs.nlive = 1;
	count_mask(initial->sigmask, 1);
	recompute_idle_mask();
	gr_unlock(&sigs.lock);
}

void gr_sig_task_born(struct gr_task *t, const struct gr_task *creator)
{
	bool changed;

	t->sigmask = creator ? creator->sigmask : atomic_load(&sigs.idle_mask);
	t->altstack = (struct gr_altstack){.flags = SS_DISABLE};
	gr_lock(&sigs.lock);
	sigs.nlive++;
	count_mask(t->sigmask, 1);
	changed = recompute_idle_mask();
	gr_unlock(&sigs.lock);
	idle_mask_changed(changed);
}

void gr_sig_task_gone(struct gr_task *t)
{
	bool changed;

	gr_sched_unmark_signals(t);
	gr_lock(&sigs.lock);
	sigs.nlive--;
	count_mask(t->sigmask, -1);
	changed = sigs.nlive > 0 && recompute_idle_mask();
	gr_unlock(&sigs.lock);
	idle_mask_changed(changed);
}

/* the calling task's mask is `mask` from now on, counted; the kernel's is the caller's job */
static void replace_mask(struct gr_task *t, uint64_t mask)
{
	bool changed;

	mask &= ~GR_SIG_UNBLOCKABLE;
	if (mask == t->sigmask)
		return;
	gr_lock(&sigs.lock);
	count_mask(t->sigmask, -1);
	count_mask(mask, 1);
	t->sigmask = mask;
	changed = recompute_idle_mask();
	gr_unlock(&sigs.lock);
	idle_mask_changed(changed);
}

void gr_sig_set_mask(uint64_t mask)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c = t->carrier;

	replace_mask(t, mask);
	/* the kernel's first: a signal it delivers at once then finds the task's mask current */
	if (!c->kmask_known || c->kmask != t->sigmask) {
		kernel_set_mask(t->sigmask);
		c->kmask = t->sigmask;
		c->kmask_known = true;
	}
}

void gr_sig_note_mask(uint64_t mask)
{
	struct gr_task *t = gr_current_task();

	replace_mask(t, mask);
	t->carrier->kmask = t->sigmask;
	t->carrier->kmask_known = true;
}

int gr_sig_set_altstack(const struct gr_altstack *alt)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c = t->carrier;
	long r = kernel_set_altstack(alt);

	if (r < 0)
		return (int)r;
	t->altstack = *alt;
	c->kalt = *alt;
	c->kalt_known = true;
	return 0;
}

uint64_t gr_sig_idle_mask(void) { return atomic_load(&sigs.idle_mask); }

static void apply(struct gr_carrier *c, uint64_t mask, const struct gr_altstack *alt)
{
	if (!c->kmask_known || c->kmask != mask) {
		kernel_set_mask(mask);
		c->kmask = mask;
		c->kmask_known = true;
	}
	if (!c->kalt_known || !same_altstack(&c->kalt, alt)) {
		kernel_set_altstack(alt);
		c->kalt = *alt;
		c->kalt_known = true;
	}
}

void gr_sig_resume(struct gr_carrier *c, struct gr_task *t) { apply(c, t->sigmask, &t->altstack); }

void gr_sig_idle(struct gr_carrier *c)
{
	static const struct gr_altstack none = {.flags = SS_DISABLE};

	apply(c, atomic_load(&sigs.idle_mask), &none);
}

/*
 * The kernel lets a thread queue a siginfo whose code is the kernel's own (SI_USER, SI_KERNEL,
 * SI_TKILL, a SIGCHLD code, ...) only to itself; to another thread such a siginfo goes as
 * SI_QUEUE, every other field kept. Without one, tgkill: SI_TKILL from this
 * process.
 */
long gr_sig_send_to_os_thread(int32_t tid, int sig, const siginfo_t *info)
{
	siginfo_t si;

	if (!info)
		return gr_sys3(SYS_tgkill, sigs.pid, tid, sig);
	si = *info;
	si.si_signo = sig;
	if ((si.si_code >= 0 || si.si_code == SI_TKILL) && gr_os_tid() != tid)
		si.si_code = SI_QUEUE;
	return gr_sys4(SYS_rt_tgsigqueueinfo, sigs.pid, tid, sig, &si);
}

/* sig to carrier c's OS thread, marked for for_task */
static long send(struct gr_carrier *c, struct gr_task *for_task, int sig, const siginfo_t *info)
{
	int32_t tid = atomic_load(&c->os_tid);

	if (!tid)
		return -1;
	atomic_store(&c->sig_for[sig - 1], for_task);
	return gr_sig_send_to_os_thread(tid, sig, info);
}

bool gr_sig_send_to_running(struct gr_task *t, int sig, const siginfo_t *info)
{
	struct gr_carrier *c = t->carrier;

	if (atomic_load(&t->state) != GR_TASK_RUNNING || !c || c->current != t)
		return false;
	return send(c, t, sig, info) == 0;
}

void gr_sig_send_to_self(int sig, const siginfo_t *info)
{
	struct gr_task *t = gr_current_task();

	send(t->carrier, t, sig, info);
}

struct gr_task *gr_sig_take_mark(int sig)
{
	struct gr_carrier *c = gr_here();

	if (!c || sig < 1 || sig > GR_NSIG)
		return NULL;
	return atomic_exchange(&c->sig_for[sig - 1], NULL);
}

void gr_sig_after_fork_child(struct gr_task *self)
{
	sigs.lock = (gr_lock_t)GR_LOCK_INIT;
	sigs.pid = (int32_t)gr_sys0(SYS_getpid);
	memset(sigs.nblocking, 0, sizeof sigs.nblocking);
	sigs.nlive = 1;
	count_mask(self->sigmask, 1);
	recompute_idle_mask();
}
GR_AFTER_FORK(GR_FORK_SIG, gr_sig_after_fork_child);
