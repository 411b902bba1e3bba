/*
 * sigwait.c — waiting for a signal: sigwait, sigwaitinfo, sigtimedwait, sigsuspend, pause.
 * Each parks the task; none holds a carrier.
 *
 * sigwait and its kin take a signal of their set pending on the task or on the process: kept by
 * greenpoll (sigdeliver.c), or in the kernel (a signal every task blocks stays pending on the
 * process there: runtime/sigstate.h), taken with a zero-timeout sigtimedwait. Waiting, the task
 * watches a signalfd of its set through the netpoll (the poller's epoll sees it readable when a
 * signal of the set is pending on the process), and publishes its set (shim_task.sigwait_set) so
 * that a pthread_kill of one of them interrupts it. The signalfd is the wait's own and is closed
 * after it; if none can be made (no fd left), the wait is libc's, in a bracket, as a blocking
 * call (the carrier's processor goes to a spare meanwhile).
 *
 * sigsuspend and pause set the task's mask to the one given (pause: the current one), then park
 * until a signal is delivered to the task (pending on it or routed to it), run the handler with
 * that mask, and put the old mask back: -1 with EINTR, as POSIX says.
 *
 * All are cancellation points (a pthread_cancel interrupts the wait).
 */
#include "shim.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "sigstate.h"
#include "sys.h"

struct sig_look {
	struct gr_task *self;
	uint64_t set;
	siginfo_t *info;
};

/* shim_look_fn: a signal of the set taken (its number), or 0 */
static int look(void *arg)
{
	struct sig_look *w = arg;
	struct timespec zero = {0, 0};
	sigset_t ks;
	int sig;

	if ((sig = shim_signal_take(w->self, w->set, w->info)))
		return sig;
	shim_mask_sigset(&ks, w->set);
	sig = REAL(sigtimedwait)(&ks, w->info, &zero);
	return sig > 0 ? sig : 0;
}

/* a signal of set: its number with *info, or -1 with errno (EAGAIN: deadline, EINTR) */
static int wait_signal(const sigset_t *set, siginfo_t *info, int64_t deadline, bool restart)
{
	struct gr_task *self = gr_current_task();
	struct sig_look w = {.self = self, .set = shim_sigset_mask(set) & ~GR_SIG_UNBLOCKABLE, .info = info};
	siginfo_t scratch;
	int sfd, r;

	if (!info)
		w.info = &scratch;
	sfd = (int)gr_sys4(SYS_signalfd4, -1, set, 8, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		struct timespec rel, *timeout = NULL;

		if (deadline != GR_NEVER) {
			int64_t left = deadline - gr_nanotime();

			left = left < 0 ? 0 : left;
			rel = (struct timespec){left / 1000000000, left % 1000000000};
			timeout = &rel;
		}
		return SHIM_BLOCKING_LONG_AS("sigtimedwait", REAL(sigtimedwait)(set, info, timeout));
	}
	atomic_store(&shim_of(self)->sigwait_set, w.set);
	do {
		r = shim_wait_any(&sfd, 1, look, &w, deadline);
		if (r == -EINTR && (r = look(&w)) == 0)
			r = -EINTR; /* a handler ran for a signal outside the set */
	} while (r == -EINTR && restart);
	atomic_store(&shim_of(self)->sigwait_set, 0);
	close(sfd);
	if (r > 0)
		return r;
	errno = r == 0 ? EAGAIN : -r;
	return -1;
}

GR_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	SHIM_CALLED(sigwait);
	int r;

	if (!gr_current_task())
		return REAL(sigwait)(set, sig);
	if ((r = wait_signal(set, NULL, GR_NEVER, true)) < 0)
		return errno;
	*sig = r;
	return 0;
}

GR_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	SHIM_CALLED(sigwaitinfo);
	if (!gr_current_task())
		return REAL(sigwaitinfo)(set, info);
	return wait_signal(set, info, GR_NEVER, false);
}

GR_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
	SHIM_CALLED(sigtimedwait);
	if (!gr_current_task())
		return REAL(sigtimedwait)(set, info, timeout);
	if (!timeout)
		return wait_signal(set, info, GR_NEVER, false);
	if (!shim_valid_timespec(timeout) || timeout->tv_sec < 0) {
		errno = EINVAL;
		return -1;
	}
	return wait_signal(set, info, gr_nanotime() + timeout->tv_sec * 1000000000LL + timeout->tv_nsec,
			   false);
}

/* sigsuspend's wait, with the task's mask `mask` meanwhile */
static int suspend(struct gr_task *self, uint64_t mask)
{
	uint64_t old = self->sigmask;

	gr_sig_set_mask(mask);
	for (;;) {
		bool ready;

		atomic_store(&self->interrupted, false);
		gr_wait_prepare(true);
		ready = shim_signals_deliverable(self);
		if (!ready) {
			gr_park(GR_NEVER, "signal", NULL);
			ready = shim_signals_deliverable(self);
		}
		if (ready) {
			atomic_store(&self->interrupted, false);
			shim_deliver_signals(self);
			break;
		}
		shim_cancel_point(self);
	}
	gr_sig_set_mask(old);
	errno = EINTR;
	return -1;
}

GR_EXPORT int sigsuspend(const sigset_t *mask)
{
	SHIM_CALLED(sigsuspend);
	struct gr_task *self = gr_current_task();

	if (!self)
		return REAL(sigsuspend)(mask);
	return suspend(self, shim_sigset_mask(mask));
}

GR_EXPORT int pause(void)
{
	SHIM_CALLED(pause);
	struct gr_task *self = gr_current_task();

	if (!self)
		return REAL(pause)();
	return suspend(self, self->sigmask);
}
