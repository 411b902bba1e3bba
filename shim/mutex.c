/*
 * mutex.c — pthread mutexes and spin locks for tasks: a contended lock parks the task on the
 * mutex's address (runtime wait queue), never the carrier.
 *
 * All state lives inside pthread_mutex_t, in glibc's own fields, so statically initialised
 * mutexes (PTHREAD_MUTEX_INITIALIZER and the _NP variants) and pthread_mutex_init (glibc's,
 * which records type and flags in __kind) both work:
 *   __lock   0 free, 1 locked, 2 locked and a task may be waiting (Drepper's three states)
 *   __owner  the owner's thread id (gettid) for error-checking and recursive mutexes
 *   __count  recursion depth of a recursive mutex
 *   __kind   type (normal, recursive, errorcheck, adaptive) and flags, as glibc set them
 * Types behave as POSIX and glibc say: relock of an error-checking mutex is EDEADLK, unlock by
 * a non-owner EPERM, a recursive mutex counts, trylock of a held mutex EBUSY, timed locks
 * ETIMEDOUT. An adaptive mutex spins briefly before parking.
 *
 * Process-shared mutexes keep glibc's implementation (another process's threads wait on them
 * too); a task's lock, timedlock or clocklock of one is made inside SHIM_BLOCKING (shim.h), so
 * the carrier's other tasks run elsewhere while it waits. Robust mutexes are refused at pthread_mutex_init with ENOTSUP: a task that ends while
 * holding one is not tracked. Priority-inheritance and priority-protect mutexes lock as plain
 * mutexes of their type: tasks have no priorities to inherit.
 *
 * Spin locks spin, as glibc's do, but yield the carrier between rounds, so a task spinning on a
 * lock whose holder waits on the same carrier lets the holder run.
 */
#include "shim.h"

#include <errno.h>
#include <limits.h>

#include "sched.h"
#include "waitq.h"

#define KIND_TYPE_MASK 3
#define KIND_ROBUST 16
#define KIND_PSHARED 128
#define ADAPTIVE_SPINS 100
#define SPIN_ROUNDS 64

struct gmutex {
	_Atomic int lock;
	unsigned int count;
	_Atomic int owner;
	unsigned int nusers;
	int kind;
};
_Static_assert(sizeof(struct gmutex) <= sizeof(pthread_mutex_t), "mutex layout");

static struct gmutex *gm(pthread_mutex_t *m) { return (struct gmutex *)m; }

static bool green(pthread_mutex_t *m)
{
	return gr_current_task() && !(gm(m)->kind & KIND_PSHARED);
}

static bool still_locked(const void *addr, void *arg)
{
	(void)arg;
	return atomic_load((_Atomic int *)addr) == 2;
}

/* the lock word, taken by the caller; 0, ETIMEDOUT */
static int lock_word(struct gmutex *g, int64_t deadline)
{
	int expect = 0;

	if (atomic_compare_exchange_strong(&g->lock, &expect, 1))
		return 0;
	if ((g->kind & KIND_TYPE_MASK) == PTHREAD_MUTEX_ADAPTIVE_NP) {
		for (int i = 0; i < ADAPTIVE_SPINS; i++) {
			expect = 0;
			if (atomic_load(&g->lock) == 0 &&
			    atomic_compare_exchange_strong(&g->lock, &expect, 1))
				return 0;
			__builtin_ia32_pause();
		}
	}
	while (atomic_exchange(&g->lock, 2) != 0) {
		if (shim_park_through_signals(&g->lock, still_locked, NULL, deadline, "mutex") ==
		    GR_WAKE_TIMEOUT && atomic_load(&g->lock) != 0)
			return ETIMEDOUT;
	}
	return 0;
}

/* shared by lock, trylock, timedlock: the type's checks, then the word */
static int mutex_acquire(pthread_mutex_t *m, bool try, int64_t deadline)
{
	struct gmutex *g = gm(m);
	int type = g->kind & KIND_TYPE_MASK;
	int self = gr_current_task()->tid;
	int err;

	if (type == PTHREAD_MUTEX_RECURSIVE && atomic_load(&g->owner) == self) {
		if (g->count == UINT_MAX)
			return EAGAIN;
		g->count++;
		return 0;
	}
	if (type == PTHREAD_MUTEX_ERRORCHECK && atomic_load(&g->owner) == self)
		return try ? EBUSY : EDEADLK;
	if (try) {
		int expect = 0;

		if (!atomic_compare_exchange_strong(&g->lock, &expect, 1))
			return EBUSY;
	} else if ((err = lock_word(g, deadline))) {
		return err;
	}
	/* owner is compared only with the caller's own id: no ordering needed */
	atomic_store_explicit(&g->owner, self, memory_order_relaxed);
	g->count = 1;
	g->nusers++;
	return 0;
}

GR_EXPORT int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
	SHIM_CALLED(pthread_mutex_init);
	int err = REAL(pthread_mutex_init)(m, attr);

	if (!err && gr_current_task() && (gm(m)->kind & KIND_ROBUST)) {
		REAL(pthread_mutex_destroy)(m);
		return ENOTSUP;
	}
	return err;
}

GR_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	SHIM_CALLED(pthread_mutex_lock);
	if (!green(m))
		return SHIM_BLOCKING(REAL(pthread_mutex_lock)(m));
	return mutex_acquire(m, false, GR_NEVER);
}

GR_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	SHIM_CALLED(pthread_mutex_trylock);
	if (!green(m))
		return REAL(pthread_mutex_trylock)(m);
	return mutex_acquire(m, true, GR_NEVER);
}

GR_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clock,
				      const struct timespec *abstime)
{
	SHIM_CALLED(pthread_mutex_clocklock);
	if (!green(m))
		return SHIM_BLOCKING(REAL(pthread_mutex_clocklock)(m, clock, abstime));
	if (!shim_valid_timespec(abstime) || (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC))
		return EINVAL;
	return mutex_acquire(m, false, shim_deadline(clock, abstime));
}

GR_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	SHIM_CALLED(pthread_mutex_timedlock);
	if (!green(m))
		return SHIM_BLOCKING(REAL(pthread_mutex_timedlock)(m, abstime));
	return pthread_mutex_clocklock(m, CLOCK_REALTIME, abstime);
}

GR_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	SHIM_CALLED(pthread_mutex_unlock);
	struct gmutex *g = gm(m);
	int type;

	if (!green(m))
		return REAL(pthread_mutex_unlock)(m);
	type = g->kind & KIND_TYPE_MASK;
	if (type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK) {
		if (atomic_load(&g->owner) != gr_current_task()->tid || !atomic_load(&g->lock))
			return EPERM;
		if (type == PTHREAD_MUTEX_RECURSIVE && --g->count > 0)
			return 0;
	}
	atomic_store_explicit(&g->owner, 0, memory_order_relaxed);
	g->nusers--;
	if (atomic_exchange(&g->lock, 0) == 2)
		gr_waitq_wake(&g->lock, 1);
	return 0;
}

/* ---- spin locks ---- */

GR_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	SHIM_CALLED(pthread_spin_lock);
	if (!gr_current_task())
		return REAL(pthread_spin_lock)(l);
	for (;;) {
		for (int i = 0; i < SPIN_ROUNDS; i++) {
			if (pthread_spin_trylock(l) == 0)
				return 0;
			__builtin_ia32_pause();
		}
		gr_yield();
	}
}
