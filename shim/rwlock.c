/*
 * rwlock.c — read-write locks for tasks: a blocked reader or writer parks on the lock's address.
 *
 * State inside pthread_rwlock_t (PTHREAD_RWLOCK_INITIALIZER works; pthread_rwlock_init stays
 * glibc's, which records the preference in __flags and process-sharing in __shared):
 *   word 0 (__readers)     0 free, n > 0 held by n readers, -1 held by a writer
 *   word 1 (__writers)     writers waiting (for the writer-preferring kinds)
 *   __cur_writer           the writing task's thread id (rdlock or wrlock by it: EDEADLK)
 * glibc's default kind prefers readers: a reader gets in while readers hold the lock even if a
 * writer waits; the PREFER_WRITER kinds make new readers wait behind a waiting writer. Each
 * unlock that frees the lock wakes every waiter, and they race for it. Process-shared rwlocks
 * keep glibc's implementation; a task's rdlock or wrlock (plain, timed, clock) of one is made
 * inside SHIM_BLOCKING (shim.h), so the carrier's other tasks run elsewhere while it waits.
 */
#include "shim.h"

#include <errno.h>
#include <limits.h>

#include "sched.h"
#include "waitq.h"

struct grw {
	_Atomic int state;
	_Atomic unsigned int writers_waiting;
	unsigned int pad[4];
	_Atomic int cur_writer;
	int shared;
	signed char elision;
	unsigned char pad1[7];
	unsigned long pad2;
	unsigned int flags;
};
_Static_assert(sizeof(struct grw) <= sizeof(pthread_rwlock_t), "rwlock layout");
_Static_assert(__builtin_offsetof(struct grw, cur_writer) == 24, "rwlock __cur_writer");
_Static_assert(__builtin_offsetof(struct grw, flags) == 48, "rwlock __flags");

static struct grw *grw(pthread_rwlock_t *l) { return (struct grw *)l; }

static bool green(pthread_rwlock_t *l)
{
	return gr_current_task() && !grw(l)->shared;
}

static bool prefers_writers(struct grw *g)
{
	return g->flags != PTHREAD_RWLOCK_PREFER_READER_NP;
}

struct blocked {
	bool writer;
};

/* under the queue lock: true while the lock still keeps this caller out */
static bool keeps_out(const void *addr, void *arg)
{
	struct grw *g = (struct grw *)addr;
	int s = atomic_load(&g->state);

	if (((struct blocked *)arg)->writer)
		return s != 0;
	return s < 0 || (prefers_writers(g) && atomic_load(&g->writers_waiting));
}

static bool try_read(struct grw *g)
{
	int s = atomic_load(&g->state);

	while (s >= 0 && s < INT_MAX && !(prefers_writers(g) && atomic_load(&g->writers_waiting)))
		if (atomic_compare_exchange_weak(&g->state, &s, s + 1))
			return true;
	return false;
}

static bool try_write(struct grw *g)
{
	int expect = 0;

	return atomic_compare_exchange_strong(&g->state, &expect, -1);
}

/* a writer waiting for the lock is cancelled (asynchronously): it waits no more */
static void writer_cancelled(void *arg)
{
	struct grw *g = arg;

	if (g && atomic_fetch_sub(&g->writers_waiting, 1) == 1)
		gr_waitq_wake(g, -1);
}

/* wait until the lock is taken (0) or the deadline passes (ETIMEDOUT) */
static int wait_acquire(struct grw *g, bool writer, struct blocked *b, int64_t deadline)
{
	for (;;) {
		if (writer ? try_write(g) : try_read(g))
			return 0;
		if (shim_park_through_signals(g, keeps_out, b, deadline,
					      writer ? "rwlock write" : "rwlock read") ==
		    GR_WAKE_TIMEOUT)
			return (writer ? try_write(g) : try_read(g)) ? 0 : ETIMEDOUT;
	}
}

static int acquire(pthread_rwlock_t *l, bool writer, bool try, int64_t deadline)
{
	struct grw *g = grw(l);
	int self = gr_current_task()->tid;
	struct blocked b = {writer};
	int err = 0;

	if (atomic_load(&g->cur_writer) == self && atomic_load(&g->state) < 0)
		return try ? EBUSY : EDEADLK;
	if (!writer && atomic_load(&g->state) == INT_MAX)
		return EAGAIN;
	if (writer ? try_write(g) : try_read(g))
		goto got;
	if (try)
		return EBUSY;
	if (writer)
		atomic_fetch_add(&g->writers_waiting, 1);
	pthread_cleanup_push(writer_cancelled, writer ? g : NULL);
	err = wait_acquire(g, writer, &b, deadline);
	pthread_cleanup_pop(0);
	if (writer && atomic_fetch_sub(&g->writers_waiting, 1) == 1 && err)
		gr_waitq_wake(g, -1); /* readers held back for us may go */
	if (err)
		return err;
got:
	if (writer)
		atomic_store(&g->cur_writer, self);
	return 0;
}

static int timed(pthread_rwlock_t *l, bool writer, clockid_t clock, const struct timespec *abs)
{
	if (!shim_valid_timespec(abs) || (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC))
		return EINVAL;
	return acquire(l, writer, false, shim_deadline(clock, abs));
}

GR_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	SHIM_CALLED(pthread_rwlock_rdlock);
	if (green(l))
		return acquire(l, false, false, GR_NEVER);
	return SHIM_BLOCKING(REAL(pthread_rwlock_rdlock)(l));
}

GR_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	SHIM_CALLED(pthread_rwlock_wrlock);
	if (green(l))
		return acquire(l, true, false, GR_NEVER);
	return SHIM_BLOCKING(REAL(pthread_rwlock_wrlock)(l));
}

GR_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	SHIM_CALLED(pthread_rwlock_tryrdlock);
	return green(l) ? acquire(l, false, true, GR_NEVER) : REAL(pthread_rwlock_tryrdlock)(l);
}

GR_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	SHIM_CALLED(pthread_rwlock_trywrlock);
	return green(l) ? acquire(l, true, true, GR_NEVER) : REAL(pthread_rwlock_trywrlock)(l);
}

GR_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t clock,
					 const struct timespec *abs)
{
	SHIM_CALLED(pthread_rwlock_clockrdlock);
	if (green(l))
		return timed(l, false, clock, abs);
	return SHIM_BLOCKING(REAL(pthread_rwlock_clockrdlock)(l, clock, abs));
}

GR_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t clock,
					 const struct timespec *abs)
{
	SHIM_CALLED(pthread_rwlock_clockwrlock);
	if (green(l))
		return timed(l, true, clock, abs);
	return SHIM_BLOCKING(REAL(pthread_rwlock_clockwrlock)(l, clock, abs));
}

GR_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abs)
{
	SHIM_CALLED(pthread_rwlock_timedrdlock);
	if (green(l))
		return timed(l, false, CLOCK_REALTIME, abs);
	return SHIM_BLOCKING(REAL(pthread_rwlock_timedrdlock)(l, abs));
}

GR_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abs)
{
	SHIM_CALLED(pthread_rwlock_timedwrlock);
	if (green(l))
		return timed(l, true, CLOCK_REALTIME, abs);
	return SHIM_BLOCKING(REAL(pthread_rwlock_timedwrlock)(l, abs));
}

GR_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	SHIM_CALLED(pthread_rwlock_unlock);
	struct grw *g = grw(l);
	int s;

	if (!green(l))
		return REAL(pthread_rwlock_unlock)(l);
	s = atomic_load(&g->state);
	if (s == 0)
		return EPERM;
	if (s < 0) {
		atomic_store(&g->cur_writer, 0);
		atomic_store(&g->state, 0);
	} else if (atomic_fetch_sub(&g->state, 1) != 1) {
		return 0; /* other readers still hold it */
	}
	gr_waitq_wake(g, -1);
	return 0;
}
