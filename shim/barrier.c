/*
 * barrier.c — barriers for tasks: the tasks that arrive early park on the barrier's address.
 *
 * State in glibc's fields of pthread_barrier_t (glibc's pthread_barrier_init fills count and
 * shared): word 0 arrivals in this round, word 1 the round number, word 2 count, word 3
 * process-shared (then glibc's implementation is used throughout, a task's wait made inside
 * SHIM_BLOCKING_LONG, shim.h, so the carrier's other tasks run elsewhere meanwhile). The last task
 * to arrive resets the arrivals, starts the next round, wakes the others and gets
 * PTHREAD_BARRIER_SERIAL_THREAD.
 */
#include "shim.h"

#include <errno.h>

#include "waitq.h"

struct gbarrier {
	_Atomic unsigned int arrived;
	_Atomic unsigned int round;
	unsigned int count;
	int shared;
};
_Static_assert(sizeof(struct gbarrier) <= sizeof(pthread_barrier_t), "barrier layout");

static bool same_round(const void *addr, void *arg)
{
	return atomic_load((_Atomic unsigned int *)addr) == *(unsigned int *)arg;
}

GR_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
	SHIM_CALLED(pthread_barrier_wait);
	struct gbarrier *g = (struct gbarrier *)b;
	unsigned int round;

	if (!gr_current_task() || g->shared)
		return SHIM_BLOCKING_LONG(REAL(pthread_barrier_wait)(b));
	round = atomic_load(&g->round);
	if (atomic_fetch_add(&g->arrived, 1) + 1 == g->count) {
		atomic_store(&g->arrived, 0);
		atomic_fetch_add(&g->round, 1);
		gr_waitq_wake(&g->round, -1);
		return PTHREAD_BARRIER_SERIAL_THREAD;
	}
	while (atomic_load(&g->round) == round)
		shim_park_through_signals(&g->round, same_round, &round, GR_NEVER, "barrier");
	return 0;
}

GR_EXPORT int pthread_barrier_destroy(pthread_barrier_t *b)
{
	SHIM_CALLED(pthread_barrier_destroy);
	struct gbarrier *g = (struct gbarrier *)b;

	if (!gr_current_task() || g->shared)
		return REAL(pthread_barrier_destroy)(b);
	return atomic_load(&g->arrived) ? EBUSY : 0;
}
