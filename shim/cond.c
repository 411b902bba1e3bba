/*
 * cond.c — condition variables for tasks: a waiter parks on the condition variable's address.
 *
 * State inside pthread_cond_t, so PTHREAD_COND_INITIALIZER works and pthread_cond_init stays
 * glibc's (which records the clock and process-sharing in __wrefs):
 *   word 0 (low half of __wseq)  a sequence number, bumped by every signal and broadcast
 *   __wrefs bit 0                process-shared: glibc's implementation is used (a task's
 *                                wait made inside SHIM_BLOCKING_LONG, shim.h: the carrier's other
 *                                tasks run elsewhere meanwhile)
 *   __wrefs bit 1                the condattr clock is CLOCK_MONOTONIC (else CLOCK_REALTIME)
 * A waiter reads the sequence number, unlocks the mutex, and parks only if the number is
 * unchanged (checked under the wait queue's lock): a signal between the unlock and the park is
 * not lost. signal wakes the longest waiter, broadcast all. Waits may wake spuriously, as POSIX
 * allows. pthread_cond_wait and pthread_cond_timedwait are cancellation points: the mutex is
 * locked again before cancellation acts, so cleanup handlers run with it held.
 */
#include "shim.h"

#include <errno.h>
#include <stddef.h>

#include "sched.h"
#include "waitq.h"

#define WREFS_OFFSET 36
#define WREFS_PSHARED 1
#define WREFS_MONOTONIC 2

static _Atomic unsigned int *seq_of(pthread_cond_t *c) { return (_Atomic unsigned int *)c; }

static unsigned int wrefs(pthread_cond_t *c)
{
	return __atomic_load_n((unsigned int *)((char *)c + WREFS_OFFSET), __ATOMIC_RELAXED);
}

static bool green(pthread_cond_t *c)
{
	return gr_current_task() && !(wrefs(c) & WREFS_PSHARED);
}

static bool unchanged(const void *addr, void *arg)
{
	return atomic_load((_Atomic unsigned int *)addr) == *(unsigned int *)arg;
}

/* wait until signalled or the deadline; 0 or ETIMEDOUT (or the mutex's error) */
static int cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline)
{
	struct gr_task *self = gr_current_task();
	unsigned int seq = atomic_load(seq_of(c));
	int why, err;

	shim_before_wait(self);
	if ((err = pthread_mutex_unlock(m)))
		return err;
	why = gr_waitq_park(seq_of(c), unchanged, &seq, deadline, true, "cond");
	pthread_mutex_lock(m);
	if (why == GR_WAKE_INTERRUPT)
		shim_interrupted(self); /* a cancel acts here; a signal is a spurious wake-up */
	return why == GR_WAKE_TIMEOUT ? ETIMEDOUT : 0;
}

GR_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	SHIM_CALLED(pthread_cond_wait);
	if (!green(c))
		return SHIM_BLOCKING_LONG(REAL(pthread_cond_wait)(c, m));
	return cond_wait(c, m, GR_NEVER);
}

GR_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clock,
				     const struct timespec *abstime)
{
	SHIM_CALLED(pthread_cond_clockwait);
	if (!green(c))
		return SHIM_BLOCKING_LONG(REAL(pthread_cond_clockwait)(c, m, clock, abstime));
	if (!shim_valid_timespec(abstime) || (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC))
		return EINVAL;
	return cond_wait(c, m, shim_deadline(clock, abstime));
}

GR_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
				     const struct timespec *abstime)
{
	SHIM_CALLED(pthread_cond_timedwait);
	if (!green(c))
		return SHIM_BLOCKING_LONG(REAL(pthread_cond_timedwait)(c, m, abstime));
	return pthread_cond_clockwait(c, m,
				      (wrefs(c) & WREFS_MONOTONIC) ? CLOCK_MONOTONIC : CLOCK_REALTIME,
				      abstime);
}

GR_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	SHIM_CALLED(pthread_cond_signal);
	if (!green(c))
		return REAL(pthread_cond_signal)(c);
	atomic_fetch_add(seq_of(c), 1);
	gr_waitq_wake(seq_of(c), 1);
	return 0;
}

GR_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	SHIM_CALLED(pthread_cond_broadcast);
	if (!green(c))
		return REAL(pthread_cond_broadcast)(c);
	atomic_fetch_add(seq_of(c), 1);
	gr_waitq_wake(seq_of(c), -1);
	return 0;
}
