/*
 * sleep.c — sleeping and yielding park the task, not the carrier: sched_yield, sleep, usleep,
 * nanosleep, clock_nanosleep (relative and TIMER_ABSTIME).
 *
 * Semantics kept: never early (the deadline is CLOCK_MONOTONIC, a realtime deadline is
 * re-checked against the realtime clock on wake-up), EINVAL for a bad timespec, and EINTR with
 * the remaining time when another thread's pthread_kill reaches the task (its handler runs
 * first); these are cancellation points. A task's CPU-time clock is cpuclock.c's; other clocks
 * than MONOTONIC, REALTIME, BOOTTIME and TAI (the process's CPU-time clock, other threads') go
 * to libc, inside SHIM_BLOCKING_LONG (shim.h): the carrier's other tasks run elsewhere while it
 * sleeps.
 */
#include "shim.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "sched.h"
#include "sys.h"

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static bool sleepable_clock(clockid_t clock)
{
	return clock == CLOCK_MONOTONIC || clock == CLOCK_REALTIME || clock == CLOCK_BOOTTIME ||
	       clock == CLOCK_TAI;
}

/*
 * Sleep the task until `clock` reads `target` (absolute) or for `target` ns (relative).
 * Returns 0, or EINTR with *left set to the time that remained.
 */
static int task_sleep(struct gr_task *self, clockid_t clock, bool absolute, int64_t target,
		      int64_t *left)
{
	int64_t deadline, now_ns, fault_at = GR_NEVER;

	shim_before_wait(self);
	if (absolute) {
		struct timespec now;

		clock_gettime(clock, &now);
		deadline = gr_nanotime() + (target - ns_of(&now));
	} else {
		deadline = gr_nanotime() + target;
	}
	/* an injected EINTR (fault.h) comes halfway, so a program that sleeps on still ends */
	now_ns = gr_nanotime();
	if (deadline > now_ns && shim_fault_eintr())
		fault_at = now_ns + (deadline - now_ns) / 2;

	for (;;) {
		enum gr_wake_reason why;
		struct timespec now;

		gr_wait_prepare(true);
		why = gr_park(fault_at < deadline ? fault_at : deadline, "sleep", NULL);
		if (why == GR_WAKE_INTERRUPT || gr_nanotime() >= fault_at) {
			if (why == GR_WAKE_INTERRUPT)
				shim_interrupted(self);
			*left = deadline - gr_nanotime();
			if (*left < 0)
				*left = 0;
			return EINTR;
		}
		if (gr_nanotime() < deadline)
			continue; /* woken for nothing (see gr_wake): sleep on */
		if (!absolute || clock == CLOCK_MONOTONIC)
			return 0;
		clock_gettime(clock, &now);
		if (ns_of(&now) >= target)
			return 0;
		deadline = gr_nanotime() + (target - ns_of(&now)); /* the clock was set back */
	}
}

static struct timespec ts_of(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

GR_EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
			      struct timespec *rem)
{
	SHIM_CALLED(clock_nanosleep);
	struct gr_task *self = gr_current_task();
	int64_t left;
	int err;

	if (self && shim_task_cpuclock(clock))
		return shim_cpuclock_sleep(self, clock, flags, req, rem);
	if (!self || !sleepable_clock(clock))
		return SHIM_BLOCKING_LONG(REAL(clock_nanosleep)(clock, flags, req, rem));
	if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || (flags & ~TIMER_ABSTIME))
		return EINVAL;
	if (!(flags & TIMER_ABSTIME) && req->tv_sec < 0)
		return 0; /* a negative interval has already passed */
	err = task_sleep(self, clock, flags & TIMER_ABSTIME, ns_of(req), &left);
	if (err == EINTR && rem && !(flags & TIMER_ABSTIME))
		*rem = ts_of(left);
	return err;
}

GR_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	SHIM_CALLED(nanosleep);
	struct gr_task *self = gr_current_task();
	int err;

	if (!self)
		return REAL(nanosleep)(req, rem);
	if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0) {
		errno = EINVAL;
		return -1;
	}
	err = clock_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

GR_EXPORT int usleep(useconds_t usec)
{
	SHIM_CALLED(usleep);
	struct timespec ts = {.tv_sec = usec / 1000000, .tv_nsec = (long)(usec % 1000000) * 1000};

	if (!gr_current_task())
		return REAL(usleep)(usec);
	return nanosleep(&ts, NULL);
}

GR_EXPORT unsigned int sleep(unsigned int seconds)
{
	SHIM_CALLED(sleep);
	struct timespec ts = {.tv_sec = seconds}, rem = {0};

	if (!gr_current_task())
		return REAL(sleep)(seconds);
	if (nanosleep(&ts, &rem) == 0)
		return 0;
	return (unsigned)rem.tv_sec + (rem.tv_nsec > 0);
}

GR_EXPORT int sched_yield(void)
{
	SHIM_CALLED(sched_yield);
	if (!gr_current_task())
		return REAL(sched_yield)();
	gr_yield();
	return 0;
}
