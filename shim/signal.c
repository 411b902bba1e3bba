/*
 * signal.c — a signal that reaches the process while no task is running on the carrier that
 * takes it (the carrier was idle, waiting for work): natively it would have interrupted some
 * thread blocked in a system call, which then returns EINTR. greenpoll gives that EINTR to the
 * process's initial thread if it is waiting (the usual shape: main blocks in accept, a SIGINT
 * or SIGTERM handler sets a flag, accept returns EINTR and main sees the flag), or restarts
 * its call if the handler has SA_RESTART, as the kernel would.
 *
 * For that, sigaction and signal install a wrapper around the program's handler; sigaction
 * reports the program's own handler back. SIG_DFL and SIG_IGN are installed as they are.
 * Per-task signal masks are not kept (a mask set in a task applies to its carrier).
 *
 * The preemption signal (SIGURG, see preempt.c) is reserved: its real disposition stays
 * greenpoll's handler; what the program sets for it is recorded, reported back, and acted on
 * by shim_signal_forward when a SIGURG is not greenpoll's.
 */
#include "shim.h"

#include <errno.h>
#include <signal.h>

#include "sched.h"

static struct sigaction handlers[NSIG];		 /* the program's, for wrapped signals */
static atomic_bool wrapped[NSIG];
static struct gr_task *_Atomic initial_task;
static int reserved_sig; /* set once at start-up, before any thread */

bool shim_signal_reserve(int sig)
{
	if (REAL(sigaction)(sig, NULL, &handlers[sig]))
		return false;
	atomic_store(&wrapped[sig], handlers[sig].sa_handler != SIG_DFL &&
					 handlers[sig].sa_handler != SIG_IGN);
	reserved_sig = sig;
	return true;
}

void shim_signal_init(struct gr_task *initial)
{
	atomic_store(&initial_task, initial);
}

static void wrapper(int sig, siginfo_t *info, void *uctx)
{
	struct sigaction *h = &handlers[sig];
	int saved = errno;
	struct gr_task *main_task = atomic_load(&initial_task);

	if (h->sa_flags & SA_SIGINFO)
		h->sa_sigaction(sig, info, uctx);
	else
		h->sa_handler(sig);
	if (!gr_current_task() && main_task) {
		atomic_store(&shim_of(main_task)->signal_restart, (h->sa_flags & SA_RESTART) != 0);
		atomic_store(&shim_of(main_task)->signal_ran, true);
		gr_interrupt_from_signal(main_task);
	}
	if (h->sa_flags & SA_RESETHAND)
		atomic_store(&wrapped[sig], false);
	errno = saved;
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
	struct sigaction prev, mine;
	bool was_wrapped;
	int r;

	if (reserved_sig && sig == reserved_sig)
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
