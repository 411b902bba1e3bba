/*
 * sigwait.c — waiting for a signal: sigwait, sigwaitinfo, sigtimedwait, sigsuspend, pause.
 *
 * Only the kernel can wait for a signal sent to the process, so each is libc's call, made inside
 * SHIM_BLOCKING_LONG (shim.h): while a task waits there, its carrier's other tasks run elsewhere.
 * Results, errno, the siginfo and the timeout are libc's. Signal masks are per carrier (see
 * signal.c), so the signals a task waits for or unblocks here are its carrier's. While a task
 * waits, shim_task.sigwait_os_tid names the OS thread it waits on, so that pthread_kill sends
 * it the real signal there (ids.c): a dedicated signal thread that the program ends with
 * pthread_kill (MariaDB's) wakes as it does natively. The task does not leave that OS thread
 * between the call's return and the field's reset (nothing in between switches), so a signal
 * sent meanwhile still reaches the task.
 */
#include "shim.h"

#include "sys.h"

#include <signal.h>
#include <unistd.h>

/* The value of `call`, a kernel signal wait, made with the task's wait OS thread published. */
#define SIGNAL_WAIT(call)                                                                       \
	({                                                                                      \
		struct gr_task *self_ = gr_current_task();                                      \
		if (self_)                                                                      \
			atomic_store(&shim_of(self_)->sigwait_os_tid, (int32_t)gr_os_tid());    \
		__typeof__(call) signal_wait_result_ = SHIM_BLOCKING_LONG(call);                \
		if (self_)                                                                      \
			atomic_store(&shim_of(self_)->sigwait_os_tid, 0);                       \
		signal_wait_result_;                                                            \
	})

GR_EXPORT int sigwait(const sigset_t *set, int *sig)
{
	return SIGNAL_WAIT(REAL(sigwait)(set, sig));
}

GR_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	return SIGNAL_WAIT(REAL(sigwaitinfo)(set, info));
}

GR_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *timeout)
{
	return SIGNAL_WAIT(REAL(sigtimedwait)(set, info, timeout));
}

GR_EXPORT int sigsuspend(const sigset_t *mask)
{
	return SIGNAL_WAIT(REAL(sigsuspend)(mask));
}

GR_EXPORT int pause(void)
{
	return SIGNAL_WAIT(REAL(pause)());
}
