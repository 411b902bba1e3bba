/*
 * sigtimer.c — POSIX timers whose signal is meant for one thread (SIGEV_THREAD_ID).
 *
 * The kernel sends such a timer's signal to the OS thread whose id the program gives, and a
 * task's id names no OS thread (the kernel would refuse it with EINVAL). So a timer aimed at a
 * task is made as a process timer (SIGEV_SIGNAL), and its kernel timer id is noted with the
 * task (up to MAX_TIMERS at once; beyond, EAGAIN, as when the kernel runs out of timers). Its
 * signal, wherever the kernel delivers it, carries that id (si_timerid, code SI_TIMER), and the
 * handler there takes it as meant for that task (shim_timer_target): it runs in the task, or is
 * kept pending on it (sigdeliver.c). The siginfo is the kernel's (SI_TIMER, the value, the
 * overrun). A timer aimed at any other thread, or at a thread that does not exist, is libc's.
 * When its task ends, the timer is noted as aimed at nobody (the task's record may be unmapped
 * later): its signal then goes to the process.
 *
 * A signal whose action is the default one acts on the whole process, whichever thread takes
 * it, so nothing is lost there. If every thread blocks the signal, it stays pending on the
 * process in the kernel, where any thread's sigwait may take it, not only the task's.
 */
#include "shim.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

#define MAX_TIMERS 256

static struct {
	_Atomic int timerid; /* the kernel's timer id + 1; 0: free */
	struct gr_task *_Atomic task; /* NULL once it has ended (its record may be unmapped) */
} timers[MAX_TIMERS];
static _Atomic int ntimers; /* slots in use */

/* a free slot, claimed (its timerid set to -1 meanwhile), or -1 */
static int slot_claim(void)
{
	for (int i = 0; i < MAX_TIMERS; i++) {
		int free_slot = 0;

		if (atomic_compare_exchange_strong(&timers[i].timerid, &free_slot, -1)) {
			atomic_fetch_add(&ntimers, 1);
			return i;
		}
	}
	return -1;
}

struct gr_task *shim_timer_target(int timerid)
{
	for (int i = 0; i < MAX_TIMERS; i++)
		if (atomic_load(&timers[i].timerid) == timerid + 1)
			return atomic_load(&timers[i].task);
	return NULL;
}

void shim_timers_task_exiting(struct gr_task *t)
{
	if (!atomic_load(&ntimers))
		return;
	for (int i = 0; i < MAX_TIMERS; i++) {
		struct gr_task *expect = t;

		atomic_compare_exchange_strong(&timers[i].task, &expect, NULL);
	}
}

GR_EXPORT int timer_create(clockid_t clock, struct sigevent *sev, timer_t *timer)
{
	SHIM_CALLED(timer_create);
	struct gr_task *t;
	struct sigevent process;
	int slot;

	if (!gr_current_task() || !sev || sev->sigev_notify != SIGEV_THREAD_ID ||
	    !(t = gr_task_by_tid(sev->_sigev_un._tid)))
		return REAL(timer_create)(clock, sev, timer);
	if ((slot = slot_claim()) < 0) {
		errno = EAGAIN;
		return -1;
	}
	process = *sev;
	process.sigev_notify = SIGEV_SIGNAL;
	if (REAL(timer_create)(clock, &process, timer) != 0) {
		atomic_fetch_sub(&ntimers, 1);
		atomic_store(&timers[slot].timerid, 0);
		return -1;
	}
	atomic_store(&timers[slot].task, t);
	atomic_store(&timers[slot].timerid, (int)(intptr_t)*timer + 1);
	return 0;
}

GR_EXPORT int timer_delete(timer_t timer)
{
	SHIM_CALLED(timer_delete);
	int id = (int)(intptr_t)timer + 1;

	for (int i = 0; i < MAX_TIMERS; i++) {
		int expect = id;

		if (atomic_compare_exchange_strong(&timers[i].timerid, &expect, 0)) {
			atomic_fetch_sub(&ntimers, 1);
			break;
		}
	}
	return REAL(timer_delete)(timer);
}
