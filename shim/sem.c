/*
 * sem.c — unnamed process-private semaphores for tasks: sem_wait parks on the semaphore.
 *
 * State in glibc's fields of sem_t (sem_init stays glibc's): the low 32 bits of the first word
 * are the value, the high 32 bits the number of waiters; `private` is 0 for a process-private
 * semaphore and FUTEX_PRIVATE_FLAG's value for a shared one (glibc's naming is the reverse of
 * what the flag means). Process-shared ones (sem_init with pshared, sem_open) keep glibc's
 * implementation; a task's wait on one is made on an OS thread of its own (offload.c), since
 * the poster may be another process. sem_wait and sem_timedwait are cancellation points and end with EINTR when a
 * signal handler without SA_RESTART runs (with SA_RESTART the wait goes on, as Linux's futex
 * wait inside glibc's sem_wait does).
 */
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <semaphore.h>

#include "waitq.h"

#define SEM_SHARED 128

struct gsem {
	_Atomic unsigned int value;
	_Atomic unsigned int waiters;
	int private;
};
_Static_assert(sizeof(struct gsem) <= sizeof(sem_t), "sem layout");

static struct gsem *gs(sem_t *s) { return (struct gsem *)s; }

static bool green(sem_t *s)
{
	return gr_current_task() && gs(s)->private != SEM_SHARED;
}

static bool empty(const void *addr, void *arg)
{
	(void)arg;
	return atomic_load((_Atomic unsigned int *)addr) == 0;
}

static bool take(struct gsem *g)
{
	unsigned int v = atomic_load(&g->value);

	while (v > 0)
		if (atomic_compare_exchange_weak(&g->value, &v, v - 1))
			return true;
	return false;
}

/* 0, or -1 with errno ETIMEDOUT / EINTR */
static int sem_take(sem_t *s, int64_t deadline)
{
	struct gr_task *self = gr_current_task();
	struct gsem *g = gs(s);
	int why = 0;

	shim_before_wait(self);
	if (take(g))
		return 0;
	atomic_fetch_add(&g->waiters, 1);
	while (!take(g)) {
		why = gr_waitq_park(&g->value, empty, NULL, deadline, true, "semaphore");
		if (why == GR_WAKE_TIMEOUT)
			break;
		/* the handler runs now; the kernel restarts the futex wait for SA_RESTART */
		if (why == GR_WAKE_INTERRUPT && !shim_interrupted(self))
			break;
		why = 0;
	}
	atomic_fetch_sub(&g->waiters, 1);
	if (why == GR_WAKE_TIMEOUT && !take(g)) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (why == GR_WAKE_INTERRUPT) {
		errno = EINTR;
		return -1;
	}
	return 0;
}

/* a process-shared semaphore's poster may be another process: only glibc can wait on it */
struct shared_wait {
	sem_t *s;
	clockid_t clock;
	const struct timespec *abs;
};

static long shared_wait(void *arg)
{
	struct shared_wait *w = arg;

	return w->abs ? REAL(sem_clockwait)(w->s, w->clock, w->abs) : REAL(sem_wait)(w->s);
}

static int shared_take(sem_t *s, clockid_t clock, const struct timespec *abs)
{
	struct shared_wait w = {s, clock, abs};

	if (!gr_current_task())
		return (int)shared_wait(&w);
	return (int)shim_offload(shared_wait, &w, "shared semaphore");
}

GR_EXPORT int sem_wait(sem_t *s)
{
	SHIM_CALLED(sem_wait);
	return green(s) ? sem_take(s, GR_NEVER) : shared_take(s, CLOCK_REALTIME, NULL);
}

GR_EXPORT int sem_clockwait(sem_t *s, clockid_t clock, const struct timespec *abs)
{
	SHIM_CALLED(sem_clockwait);
	if (!green(s))
		return shared_take(s, clock, abs);
	if (!shim_valid_timespec(abs) || (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)) {
		errno = EINVAL;
		return -1;
	}
	return sem_take(s, shim_deadline(clock, abs));
}

GR_EXPORT int sem_timedwait(sem_t *s, const struct timespec *abs)
{
	SHIM_CALLED(sem_timedwait);
	return green(s) ? sem_clockwait(s, CLOCK_REALTIME, abs) : shared_take(s, CLOCK_REALTIME, abs);
}

GR_EXPORT int sem_trywait(sem_t *s)
{
	SHIM_CALLED(sem_trywait);
	if (!green(s))
		return REAL(sem_trywait)(s);
	if (take(gs(s)))
		return 0;
	errno = EAGAIN;
	return -1;
}

GR_EXPORT int sem_post(sem_t *s)
{
	SHIM_CALLED(sem_post);
	struct gsem *g = gs(s);
	unsigned int v;

	if (!green(s))
		return REAL(sem_post)(s);
	v = atomic_load(&g->value);
	do {
		if (v == SEM_VALUE_MAX) {
			errno = EOVERFLOW;
			return -1;
		}
	} while (!atomic_compare_exchange_weak(&g->value, &v, v + 1));
	if (atomic_load(&g->waiters))
		gr_waitq_wake(&g->value, 1);
	return 0;
}
