/*
 * once.c — pthread_once for tasks: glibc's version waits in a futex, which would block a
 * carrier while the task running the init routine may need that carrier to finish.
 *
 * The state word is glibc's (so PTHREAD_ONCE_INIT and glibc's own fast path keep working):
 * 0 not run, IN_PROGRESS while a task runs the routine, DONE after. A task that finds it in
 * progress parks on the word's address until DONE or back to 0 (the routine was cancelled: the
 * next caller runs it, as POSIX requires).
 */
#include "shim.h"

#include "waitq.h"

#define ONCE_IN_PROGRESS 1
#define ONCE_DONE 2

static bool once_in_progress(const void *addr, void *arg)
{
	(void)arg;
	return __atomic_load_n((const int *)addr, __ATOMIC_ACQUIRE) == ONCE_IN_PROGRESS;
}

static void once_cancelled(void *arg)
{
	int *once = arg;

	__atomic_store_n(once, 0, __ATOMIC_RELEASE);
	gr_waitq_wake(once, -1);
}

/* init, run by the caller that took the once (a cancel of it gives the once back) */
static void run_init(int *state, void (*init)(void))
{
	pthread_cleanup_push(once_cancelled, state);
	init();
	pthread_cleanup_pop(0);
	__atomic_store_n(state, ONCE_DONE, __ATOMIC_RELEASE);
	gr_waitq_wake(state, -1);
}

GR_EXPORT int pthread_once(pthread_once_t *once, void (*init)(void))
{
	SHIM_CALLED(pthread_once);
	int *state = (int *)once;

	if (!gr_current_task())
		return REAL(pthread_once)(once, init);
	for (;;) {
		int seen = __atomic_load_n(state, __ATOMIC_ACQUIRE);

		if (seen == ONCE_DONE)
			return 0;
		if (seen == 0 && __atomic_compare_exchange_n(state, &seen, ONCE_IN_PROGRESS, false,
							     __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
			run_init(state, init);
			return 0;
		}
		shim_park_through_signals(state, once_in_progress, NULL, GR_NEVER, "pthread_once");
	}
}
