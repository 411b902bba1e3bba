/*
 * rt.h — the real runtime booted in a unit test's process, for the tests of the protocols that
 * need tasks and carriers (the wake token, poll descriptors, wait queues).
 *
 * What shim/init.c does at start-up, less what only the shim needs: per-task TLS, the calling
 * thread adopted as the initial task, the scheduler with nprocs processors, the poller. The
 * monitor stays off (nothing here blocks a carrier, and a test must not be preempted or
 * reported as deadlocked at a moment it does not choose). The task hooks are left empty: a task
 * runs its start function and ends with its result, and the process ends when Check's code,
 * running as the initial task, returns from the test.
 *
 * The runtime cannot be booted twice in one process: every test that calls rt_boot runs in a
 * process of its own (Check's fork mode, which rt_run_suite insists on).
 *
 * Helpers that wait (rt_until) do so by yielding the calling task, bounded by a deadline, so a
 * protocol that loses a wake-up fails the test with a message instead of hanging it. Tasks and
 * OS threads other than the initial task do not call Check (its failure path ends the process
 * from whatever stack it is on): they note the first broken invariant with rt_check, and the
 * test asserts rt_verdict() once they are done.
 *
 * pthread_getattr_np of the calling task answers with the task's stack, as the shim's does
 * (shim/thread.c): glibc's finds no thread with a task's tid (ESRCH), and AddressSanitizer (the
 * make asan build of these tests) asks it about the current thread whenever a task calls a
 * function that does not return.
 */
#ifndef TEST_RT_H
#define TEST_RT_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before the first #include (rt.h uses pthread_attr_setsigmask_np)"
#endif
#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "monitor.h"
#include "park.h"
#include "sched.h"
#include "task.h"
#include "tls.h"

#define RT_MS 1000000LL
#define RT_PATIENCE (5000 * RT_MS) /* how long a helper waits for something that must happen */

static atomic_bool rt_failed;
static char rt_failure[256];

/* Note the first broken invariant (printf-style); later ones are dropped. */
static inline __attribute__((format(printf, 1, 2))) void rt_note(const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange(&rt_failed, true))
		return;
	va_start(ap, fmt);
	vsnprintf(rt_failure, sizeof rt_failure, fmt, ap);
	va_end(ap);
}

/* cond, else noted (as rt_note) and false: `if (!rt_check(...)) break;` ends a stress loop */
#define rt_check(cond, ...) ((cond) || (rt_note(__VA_ARGS__), false))

/* Whether any invariant was noted broken (read by tasks to stop early). */
static inline bool rt_broken(void) { return atomic_load(&rt_failed); }

/* In the initial task, once the others are done: fails the test with the first note. */
#define rt_verdict() ck_assert_msg(!rt_broken(), "%s", rt_failure)

/* carriers start with every signal blocked, as the shim's do */
static int rt_start_os_thread(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	sigset_t all;
	pthread_t th;
	int err;

	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setsigmask_np(&attr, &all);
	err = pthread_create(&th, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}

/* The runtime, with the calling thread as its initial task (returned). */
static inline struct gr_task *rt_boot(int nprocs)
{
	static const struct gr_sched_hooks hooks = {.start_os_thread = rt_start_os_thread};
	char why[256];
	struct gr_task *initial;

	ck_assert_msg(gr_tls_init(why, sizeof why), "per-task TLS: %s", why);
	gr_task_set_default_stack(256 << 10);
	initial = gr_task_adopt_initial(gr_tcb_self(), (int32_t)getpid());
	gr_monitor_configure(&(struct gr_monitor_config){.off = true});
	gr_sched_init(nprocs, nprocs + 2, initial, &hooks);
	gr_netpoll_init();
	return initial;
}

int pthread_getattr_np(pthread_t th, pthread_attr_t *attr)
{
	static int (*libc_getattr)(pthread_t, pthread_attr_t *);
	struct gr_task *t = gr_current_task();
	void *lo;
	size_t size, guard;
	int err;

	if (!libc_getattr)
		libc_getattr = (int (*)(pthread_t, pthread_attr_t *))dlsym(RTLD_NEXT,
									"pthread_getattr_np");
	if (!t || t->adopted || th != pthread_self())
		return libc_getattr(th, attr);
	if ((err = pthread_attr_init(attr)))
		return err;
	gr_tcb_stack(t->tcb, &lo, &size, &guard);
	pthread_attr_setstack(attr, (char *)lo + guard, size - guard);
	pthread_attr_setguardsize(attr, guard);
	return 0;
}

/* A task running fn(arg), started. */
static inline struct gr_task *rt_spawn(void *(*fn)(void *), void *arg)
{
	struct gr_task *t;

	ck_assert_int_eq(gr_task_create(&(struct gr_task_attr){0}, fn, arg, &t), 0);
	gr_task_start(t);
	return t;
}

/* A plain OS thread running fn(arg): a waker from outside the runtime, truly in parallel. */
static inline pthread_t rt_os_thread(void *(*fn)(void *), void *arg)
{
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, fn, arg), 0);
	return th;
}

/* t's result, once it has ended. */
static inline void *rt_join(struct gr_task *t)
{
	void *result;

	ck_assert_int_eq(gr_task_join(t, &result, GR_NEVER, false), 0);
	return result;
}

/* Yield the calling task until cond() holds, at most RT_PATIENCE; false if it never did. */
#define rt_until(cond)                                                                     \
	({                                                                                 \
		int64_t rt_give_up_ = gr_nanotime() + RT_PATIENCE;                         \
		bool rt_held_;                                                             \
		while (!(rt_held_ = (cond)) && gr_nanotime() < rt_give_up_)                \
			gr_yield();                                                        \
		rt_held_;                                                                  \
	})

/* t has parked (its context saved, its token PARKED): a waker must now ready it. */
static inline bool rt_parked(struct gr_task *t)
{
	return atomic_load(&t->state) == GR_TASK_PARKED;
}

/*
 * A test case of the suite: tests bounded by RT_PATIENCE get 30 s (a lost wake-up then fails
 * with its own message, not Check's timeout); races, a fixed number of rounds that take a few
 * seconds, get 120 s (much more than that on a loaded machine).
 */
static inline TCase *rt_tcase(const char *name, bool races)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, races ? 120 : 30);
	return tc;
}

/* Run suite in fork mode (one process per test: rt_boot once each); the exit status. */
static inline int rt_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
