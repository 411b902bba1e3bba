/*
 * signal.c — signal dispositions: sigaction and signal.
 *
 * For a signal the program handles, greenpoll installs its own wrapper around the program's
 * handler (sigaction reports the program's own back; SIG_DFL and SIG_IGN are installed as they
 * are). The wrapper decides where the handler runs (sigdeliver.c): right here, in the task the
 * carrier runs, when that task is the one the signal is for, accepts it now and was interrupted
 * in its own code, neither in greenpoll's code nor holding one of the runtime's locks (in libc
 * or the vDSO, called from greenpoll's code under it: runtime/lock.h); else the signal is kept
 * pending and routed to a task that takes it (the interrupted task itself, as its call returns,
 * when it was in greenpoll). Around the program's handler the task's
 * recorded mask follows the kernel's (the handler's mask inside, the restored one after), at no
 * system call (runtime/sigstate.h).
 *
 * A wrapper about to return to the program's code (what the signal interrupted is not
 * greenpoll's) first runs what was kept for its task while it ran, with the handler's mask as
 * the task's: a signal that interrupted the wrapper itself, in greenpoll's code, was kept. The
 * kernel does that whenever two signals are pending as a thread returns to user space (it
 * starts both handlers in one go, the second one's frame interrupting the first handler before
 * its first instruction): without this, the second would wait for the task's next call into
 * greenpoll, which a thread computing, or blocked in a kernel call that restarts, never makes.
 * And a signal sent to the task while the handler ran, which the handler's mask blocked, is
 * pending on the task here, not in the kernel: as the wrapper returns, what the restored mask
 * lets through is handed to the kernel on its own OS thread, which runs it right after the
 * return, as it runs a thread's own pending signal once its handler is over.
 *
 * Reserved signals keep greenpoll's handler as their real disposition; what the program sets
 * for them is recorded and reported back only. The preemption signal (SIGURG, see preempt.c):
 * the program's disposition is acted on by shim_signal_forward when a SIGURG is not
 * greenpoll's. GREENPOLL_DUMP_SIGNAL's (dumpsig.c): the signal is greenpoll's alone, the
 * program's handler for it never runs.
 */
#include "shim.h"

#include <errno.h>
#include <signal.h>
#include <ucontext.h>

#include "sched.h"

static struct sigaction handlers[NSIG];		 /* the program's, for wrapped signals */
static atomic_bool wrapped[NSIG];
static uint64_t reserved; /* GR_SIGBIT of each; set at start-up, before any thread */

bool shim_signal_reserve(int sig)
{
	if (REAL(sigaction)(sig, NULL, &handlers[sig]))
		return false;
	atomic_store(&wrapped[sig], handlers[sig].sa_handler != SIG_DFL &&
					 handlers[sig].sa_handler != SIG_IGN);
	reserved |= GR_SIGBIT(sig);
	return true;
}

/* the task's mask while sig's handler runs (the kernel's, inside this wrapper) */
static uint64_t handler_mask(struct gr_task *self, int sig)
{
	struct sigaction *h = &handlers[sig];
	uint64_t mask = self->sigmask | shim_sigset_mask(&h->sa_mask);

	return h->sa_flags & SA_NODEFER ? mask : mask | GR_SIGBIT(sig);
}

/* the program's handler for sig, in task self, with the task's mask the handler's meanwhile */
static void run_in_task(struct gr_task *self, int sig, siginfo_t *info, ucontext_t *uc)
{
	struct sigaction *h = &handlers[sig];

	gr_sig_note_mask(handler_mask(self, sig));
	if (h->sa_flags & SA_SIGINFO)
		h->sa_sigaction(sig, info, uc);
	else
		h->sa_handler(sig);
}

static void wrapper(int sig, siginfo_t *info, void *uctx)
{
	struct sigaction *h = &handlers[sig];
	ucontext_t *uc = uctx;
	void *borrowed = gr_sched_signal_enter((uintptr_t)uc->uc_mcontext.gregs[REG_RSP]);
	int saved = errno;
	struct gr_task *self = gr_current_task();
	struct gr_task *mark = gr_sig_take_mark(sig);
	bool blocked = self && ((self->sigmask & GR_SIGBIT(sig)) || atomic_load(&shim_of(self)->exiting));
	/* the program's own code, not greenpoll's, nor libc's called by greenpoll under a lock */
	bool in_program = !shim_pc_in_greenpoll((uintptr_t)uc->uc_mcontext.gregs[REG_RIP]) &&
			  !(self && gr_task_holds_locks(self));
	bool noted = false; /* the task's mask is the handler's */

	if (!mark && info->si_code == SI_TIMER)
		mark = shim_timer_target(info->si_timerid); /* a timer aimed at a thread */
	else if (!mark && self)
		mark = shim_signal_aimed_at(sig, info, self); /* another process's, for main */
	if (!self && !gr_here()) {
		/* not greenpoll's thread (greenpoll is off, or not started yet) */
		if (h->sa_flags & SA_SIGINFO)
			h->sa_sigaction(sig, info, uctx);
		else
			h->sa_handler(sig);
	} else if (mark && mark != self) {
		shim_signal_keep(sig, info, mark, false); /* sent to a task that has moved on */
	} else if (self && ((mark && shim_of(self)->delivering == sig) || (!blocked && in_program))) {
		run_in_task(self, sig, info, uc);
		noted = true;
	} else {
		shim_signal_keep(sig, info, mark, self && !blocked);
	}
	/* back to the program's code next: what was kept for the task meanwhile runs first */
	if (self && in_program && atomic_load(&self->interrupted)) {
		gr_sig_note_mask(handler_mask(self, sig));
		shim_run_kept_signals(self);
		noted = true;
	}
	if (noted) {
		uint64_t inside = self->sigmask;

		gr_sig_note_mask(shim_sigset_mask(&uc->uc_sigmask)); /* what sigreturn restores */
		shim_signals_after_handler(self, inside);
	}
	if (h->sa_flags & SA_RESETHAND)
		atomic_store(&wrapped[sig], false);
	errno = saved;
	gr_sched_signal_leave(borrowed);
}

void shim_signal_forward(int sig, siginfo_t *info, void *uctx)
{
	if (atomic_load(&wrapped[sig]))
		wrapper(sig, info, uctx);
}

/* sigaction of the reserved signal: the program's disposition, recorded only */
static int reserved_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction prev = handlers[sig];

	if (act) {
		handlers[sig] = *act;
		atomic_store(&wrapped[sig], act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN);
	}
	if (old)
		*old = prev;
	return 0;
}

GR_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	SHIM_CALLED(sigaction);
	struct sigaction prev, mine;
	bool was_wrapped;
	int r;

	if (sig > 0 && sig < NSIG && (reserved & GR_SIGBIT(sig)))
		return reserved_sigaction(sig, act, old);
	if (sig <= 0 || sig >= NSIG || !act)
		goto plain;
	if (act->sa_handler == SIG_DFL || act->sa_handler == SIG_IGN) {
		was_wrapped = atomic_exchange(&wrapped[sig], false);
		prev = handlers[sig];
		r = REAL(sigaction)(sig, act, old);
		if (r == 0 && old && was_wrapped)
			*old = prev;
		return r;
	}
	mine = *act;
	mine.sa_sigaction = wrapper;
	mine.sa_flags |= SA_SIGINFO;
	prev = handlers[sig];
	was_wrapped = atomic_load(&wrapped[sig]);
	handlers[sig] = *act;
	r = REAL(sigaction)(sig, &mine, old);
	if (r != 0) {
		handlers[sig] = prev;
		return r;
	}
	atomic_store(&wrapped[sig], true);
	if (old && was_wrapped)
		*old = prev;
	return 0;
plain:
	r = REAL(sigaction)(sig, act, old);
	if (r == 0 && old && sig > 0 && sig < NSIG && atomic_load(&wrapped[sig]))
		*old = handlers[sig];
	return r;
}

GR_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	SHIM_CALLED(signal);
	/* glibc's signal(): BSD semantics, the handler stays installed and calls restart */
	struct sigaction act = {.sa_handler = handler, .sa_flags = SA_RESTART}, old;

	if (sig <= 0 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	if (sigaction(sig, &act, &old) != 0)
		return SIG_ERR;
	return old.sa_handler;
}
