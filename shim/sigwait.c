/*
 * sigwait.c — waiting for a signal: sigwait, sigwaitinfo, sigtimedwait, sigsuspend, pause.
 *
 * Only the kernel can wait for a signal sent to the process, so each is libc's call, made inside
 * SHIM_BLOCKING (shim.h): while a task waits there, its carrier's other tasks run elsewhere.
 * Results, errno, the siginfo and the timeout are libc's. Signal masks are per carrier (see
 * signal.c), so the signals a task waits for or unblocks here are its carrier's; a signal
 * pthread_kill sends to a task in one of these waits stays pending for the task until its next
 * green wait, as the kernel never sees it.
 */
#include "shim.h"

#include <signal.h>
#include <unistd.h>

GR_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	return SHIM_BLOCKING(REAL(sigwait)(set, sig));
}

GR_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	return SHIM_BLOCKING(REAL(sigwaitinfo)(set, info));
}

GR_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
	return SHIM_BLOCKING(REAL(sigtimedwait)(set, info, timeout));
}

GR_EXPORT int sigsuspend(const sigset_t *mask)
{
	return SHIM_BLOCKING(REAL(sigsuspend)(mask));
}

GR_EXPORT int pause(void)
{
	return SHIM_BLOCKING(REAL(pause)());
}
