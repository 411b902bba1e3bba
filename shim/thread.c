/*
 * thread.c — the pthread life cycle for tasks: create, join (all variants), detach, exit,
 * cancel, getattr_np. A thread's scheduling attributes (given at creation, reported by
 * getattr_np) are recorded by ids.c.
 *
 * A pthread_t of a task is its TCB (glibc's pthread_self() returns THREAD_SELF), so
 * pthread_self and pthread_equal need no interposing; the task behind a pthread_t is found
 * through the TCB (tls.h). A task joining a thread that is not a task (one started before
 * greenpoll, or by a thread that is not a task) waits in libc's join, inside SHIM_BLOCKING_LONG
 * (shim.h): the carrier's other tasks run elsewhere meanwhile.
 *
 * Cancellation: deferred cancellation is acted on at the cancellation points the shim
 * implements (join, the sleeps, pthread_testcancel; more as the shim grows). Asynchronous
 * cancellation type is accepted and acted on the same way (at the next cancellation point).
 * Cancellation points inside libc that the shim does not see (read on a regular file, say) do
 * not act on it.
 */
#include "shim.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sched.h"
#include "stack.h"
#include "sys.h"

struct gr_task *shim_task_of_thread(pthread_t th)
{
	if (!th)
		return NULL;
	return gr_tcb_owner((void *)th);
}

void shim_task_init(struct gr_task *t, struct gr_task *parent)
{
	struct shim_task *st = shim_of(t);

	memset(st, 0, sizeof *st);
	shim_sched_init(t, parent);
	if (parent) {
		memcpy(st->name, shim_of(parent)->name, sizeof st->name);
	} else {
		FILE *f = fopen("/proc/self/comm", "re");

		if (f) {
			if (fgets(st->name, sizeof st->name, f))
				st->name[strcspn(st->name, "\n")] = 0;
			fclose(f);
		}
	}
}

void *shim_run_task(struct gr_task *t)
{
	__pthread_unwind_buf_t landing;

	if (SHIM_LANDING(landing) == 0) {
		*gr_tcb_cleanup_slot() = &landing;
		/* a signal sent to the thread as it started, in greenpoll's code, runs first */
		if (atomic_load_explicit(&t->interrupted, memory_order_relaxed))
			shim_run_kept_signals(t);
		return t->start(t->arg);
	}
	return shim_of(gr_current_task())->exit_value;
}

/* ---- create ---- */

static void task_attr(const pthread_attr_t *attr, struct gr_task_attr *ta)
{
	pthread_attr_t fresh;
	size_t glibc_default = 0;
	int detach = PTHREAD_CREATE_JOINABLE;
	void *stack_lo = NULL;
	size_t stack_size = 0;

	memset(ta, 0, sizeof *ta);
	ta->guard = gr_page_size();
	if (!attr)
		return;
	pthread_attr_init(&fresh);
	pthread_attr_getstacksize(&fresh, &glibc_default);
	pthread_attr_destroy(&fresh);
	pthread_attr_getdetachstate(attr, &detach);
	pthread_attr_getstacksize(attr, &ta->stack_size);
	pthread_attr_getguardsize(attr, &ta->guard);
	ta->detached = detach == PTHREAD_CREATE_DETACHED;
	/* getstack reports lo = top - size, where top is NULL unless pthread_attr_setstack ran */
	pthread_attr_getstack(attr, &stack_lo, &stack_size);
	if ((uintptr_t)stack_lo + stack_size != 0)
		ta->stack_addr = stack_lo;
	else if (ta->stack_size == glibc_default)
		ta->stack_size = 0; /* not asked for: the configured default */
}

GR_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*start)(void *),
			     void *arg)
{
	SHIM_CALLED(pthread_create);
	struct gr_task *self = gr_current_task();
	struct gr_task_attr ta;
	struct shim_sched sched;
	struct gr_task *t;
	int err;

	if (!self)
		return REAL(pthread_create)(th, attr, start, arg);
	if ((err = shim_sched_of_attr(self, attr, &sched)))
		return err;
	task_attr(attr, &ta);
	err = gr_task_create(&ta, start, arg, &t);
	if (err)
		return err;
	shim_task_init(t, self);
	shim_of(t)->sched = sched;
	*th = (pthread_t)t->tcb;
	gr_task_start(t);
	return 0;
}

/* ---- join ---- */

/* join t with an optional absolute deadline on clock */
static int join_task(struct gr_task *self, struct gr_task *t, void **ret, clockid_t clock,
		     const struct timespec *abstime)
{
	int64_t deadline = GR_NEVER;

	if (abstime) {
		if (!shim_valid_timespec(abstime))
			return EINVAL;
		deadline = shim_deadline(clock, abstime);
	}
	for (;;) {
		int err;

		shim_before_wait(self);
		err = gr_task_join(t, ret, deadline, true);
		if (err != EINTR)
			return err;
		shim_interrupted(self);
		if (abstime && clock != CLOCK_MONOTONIC) {
			/* the clock may have been set meanwhile: measure again */
			deadline = shim_deadline(clock, abstime);
		}
	}
}

GR_EXPORT int pthread_join(pthread_t th, void **ret)
{
	SHIM_CALLED(pthread_join);
	struct gr_task *self = gr_current_task();
	struct gr_task *t = shim_task_of_thread(th);

	if (!self || !t)
		return SHIM_BLOCKING_LONG(REAL(pthread_join)(th, ret));
	return join_task(self, t, ret, CLOCK_MONOTONIC, NULL);
}

GR_EXPORT int pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abstime)
{
	SHIM_CALLED(pthread_timedjoin_np);
	struct gr_task *self = gr_current_task();
	struct gr_task *t = shim_task_of_thread(th);

	if (!self || !t)
		return SHIM_BLOCKING_LONG(REAL(pthread_timedjoin_np)(th, ret, abstime));
	return join_task(self, t, ret, CLOCK_REALTIME, abstime);
}

GR_EXPORT int pthread_clockjoin_np(pthread_t th, void **ret, clockid_t clock,
				   const struct timespec *abstime)
{
	SHIM_CALLED(pthread_clockjoin_np);
	struct gr_task *self = gr_current_task();
	struct gr_task *t = shim_task_of_thread(th);

	if (!self || !t)
		return SHIM_BLOCKING_LONG(REAL(pthread_clockjoin_np)(th, ret, clock, abstime));
	if (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME)
		return EINVAL;
	return join_task(self, t, ret, clock, abstime);
}

GR_EXPORT int pthread_tryjoin_np(pthread_t th, void **ret)
{
	SHIM_CALLED(pthread_tryjoin_np);
	struct gr_task *self = gr_current_task();
	struct gr_task *t = shim_task_of_thread(th);

	if (!self || !t)
		return REAL(pthread_tryjoin_np)(th, ret);
	if (t == self)
		return EDEADLK;
	return gr_task_tryjoin(t, ret);
}

GR_EXPORT int pthread_detach(pthread_t th)
{
	SHIM_CALLED(pthread_detach);
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_detach)(th);
	return gr_task_detach(t);
}

/* ---- exit and cancel ---- */

GR_EXPORT void pthread_exit(void *value)
{
	SHIM_CALLED(pthread_exit);
	struct gr_task *self = gr_current_task();

	if (self)
		shim_of(self)->exit_value = value;
	/* glibc's forced unwind runs cleanup handlers and C++ destructors, then lands in
	 * shim_run_task (or main_under_shim) */
	REAL(pthread_exit)(value);
	__builtin_unreachable();
}

bool shim_cancellable(struct gr_task *t)
{
	return !shim_of(t)->cancel_disabled;
}

void shim_cancel_point(struct gr_task *t)
{
	struct shim_task *st = shim_of(t);

	if (atomic_load(&st->cancel_pending) && !st->cancel_disabled) {
		st->cancel_disabled = true; /* as glibc: no second cancellation while unwinding */
		pthread_exit(PTHREAD_CANCELED);
	}
}

void shim_before_wait(struct gr_task *t)
{
	if (atomic_load_explicit(&t->interrupted, memory_order_relaxed))
		atomic_store(&t->interrupted, false);
	shim_deliver_signals(t);
	shim_cancel_point(t);
}

bool shim_interrupted(struct gr_task *t)
{
	bool restart;

	atomic_store(&t->interrupted, false);
	restart = shim_deliver_signals(t);
	shim_cancel_point(t);
	return restart;
}

GR_EXPORT int pthread_cancel(pthread_t th)
{
	SHIM_CALLED(pthread_cancel);
	struct gr_task *t = shim_task_of_thread(th);

	if (!t || !gr_current_task())
		return REAL(pthread_cancel)(th);
	if (atomic_load(&t->state) == GR_TASK_DEAD)
		return 0;
	atomic_store(&shim_of(t)->cancel_pending, true);
	if (!shim_of(t)->cancel_disabled)
		gr_interrupt(t);
	return 0;
}

GR_EXPORT int pthread_setcancelstate(int state, int *old)
{
	SHIM_CALLED(pthread_setcancelstate);
	struct gr_task *self = gr_current_task();
	struct shim_task *st;

	if (!self)
		return REAL(pthread_setcancelstate)(state, old);
	if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE)
		return EINVAL;
	st = shim_of(self);
	if (old)
		*old = st->cancel_disabled ? PTHREAD_CANCEL_DISABLE : PTHREAD_CANCEL_ENABLE;
	st->cancel_disabled = state == PTHREAD_CANCEL_DISABLE;
	return 0;
}

GR_EXPORT int pthread_setcanceltype(int type, int *old)
{
	SHIM_CALLED(pthread_setcanceltype);
	struct gr_task *self = gr_current_task();
	struct shim_task *st;

	if (!self)
		return REAL(pthread_setcanceltype)(type, old);
	if (type != PTHREAD_CANCEL_DEFERRED && type != PTHREAD_CANCEL_ASYNCHRONOUS)
		return EINVAL;
	st = shim_of(self);
	if (old)
		*old = st->cancel_async ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
	st->cancel_async = type == PTHREAD_CANCEL_ASYNCHRONOUS;
	return 0;
}

GR_EXPORT void pthread_testcancel(void)
{
	SHIM_CALLED(pthread_testcancel);
	struct gr_task *self = gr_current_task();

	if (!self) {
		REAL(pthread_testcancel)();
		return;
	}
	shim_cancel_point(self);
}

/* ---- attributes of a running task ---- */

GR_EXPORT int pthread_getattr_np(pthread_t th, pthread_attr_t *attr)
{
	SHIM_CALLED(pthread_getattr_np);
	struct gr_task *t = shim_task_of_thread(th);
	void *lo;
	size_t size, guard;
	int err;

	if (t && t->adopted) {
		if (!(err = REAL(pthread_getattr_np)(th, attr)))
			shim_sched_report(t, attr);
		return err;
	}
	if (!t)
		return REAL(pthread_getattr_np)(th, attr);
	if ((err = pthread_attr_init(attr)))
		return err;
	shim_sched_report(t, attr);
	gr_tcb_stack(t->tcb, &lo, &size, &guard);
	pthread_attr_setstack(attr, (char *)lo + guard, size - guard);
	pthread_attr_setguardsize(attr, guard);
	gr_lock(&t->join_lock);
	if (t->detached)
		pthread_attr_setdetachstate(attr, PTHREAD_CREATE_DETACHED);
	gr_unlock(&t->join_lock);
	return 0;
}
