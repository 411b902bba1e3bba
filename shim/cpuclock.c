/*
 * cpuclock.c — the CPU-time clock of a task: pthread_getcpuclockid, and clock_gettime,
 * clock_getres and clock_nanosleep (sleep.c) on a task's clock or on CLOCK_THREAD_CPUTIME_ID.
 *
 * Natively these are the kernel's per-thread CPU clocks, which for a task would be its
 * carrier's (a new thread would start at whatever its carrier had used). A task's clock is the
 * runtime's count of the time it ran (runtime/cputime.h, which says how it differs from the
 * kernel's count). Its id is the one glibc would make from the task's thread id,
 * MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) = (~tid << 3) | 6: the program's own arithmetic on
 * it (the kernel's CPUCLOCK_PID, CPUCLOCK_PERTHREAD) finds the task's gettid(). Task ids lie
 * between PID_MAX_LIMIT and 2^28 (runtime/task.c), so such an id names no kernel thread and
 * carries the whole id; the initial task's id is the process id, as the main thread's is.
 *
 * Decoded here, from a task (outside a task every call goes to libc): CLOCK_THREAD_CPUTIME_ID,
 * and a per-thread CPU clock id (any of the kernel's three kinds: PROF, VIRT and SCHED all
 * answer the task's run time) whose thread id is 0 (the caller) or a live task's. Any other
 * clock id goes to libc unchanged: CLOCK_PROCESS_CPUTIME_ID and clock_getcpuclockid's process
 * clocks are the kernel's, and the clock of a thread that has exited gives EINVAL as natively
 * (its id names no kernel thread). pthread_getcpuclockid of a task that has exited: ESRCH, as
 * glibc answers.
 *
 * clock_gettime answers from the task's count; clock_getres gives the kernel's resolution for
 * a thread clock of that kind (asked about the calling OS thread's own). clock_nanosleep on
 * the caller's own clock is EINVAL, as natively; on another task's clock the caller sleeps
 * (green) until that task's count reaches the time asked, in steps of the time still missing
 * (a task's count cannot grow faster than the monotonic clock), so it never ends early;
 * EINVAL if the task is gone when it looks.
 */
#include "shim.h"

#include <errno.h>
#include <time.h>

#include "cputime.h"
#include "sys.h"
#include "task.h"

/* the kernel's encoding of a CPU clock id (include/linux/posix-timers.h) */
#define CPUCLOCK_PERTHREAD_MASK 4
#define CPUCLOCK_CLOCK_MASK 3
#define CPUCLOCK_MAX 3
#define CPUCLOCK_SCHED 2
#define THREAD_CPUCLOCK(tid, kind) \
	((clockid_t)((~(unsigned)(tid) << 3) | CPUCLOCK_PERTHREAD_MASK | (kind)))
#define CPUCLOCK_TID(clock) ((pid_t) ~((clock) >> 3))

/* a thread CPU clock id a task should answer: its thread id (0: the caller's) in *tid */
static bool task_clock(clockid_t clock, pid_t *tid)
{
	if (clock == CLOCK_THREAD_CPUTIME_ID) {
		*tid = 0;
		return true;
	}
	if (clock >= 0 || !(clock & CPUCLOCK_PERTHREAD_MASK) ||
	    (clock & CPUCLOCK_CLOCK_MASK) >= CPUCLOCK_MAX)
		return false;
	*tid = CPUCLOCK_TID(clock);
	return true;
}

static struct timespec ts_of(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

/* the run time of the task whose id is tid (0: self); false if no live task has that id */
static bool task_run_time(struct gr_task *self, pid_t tid, int64_t *ns)
{
	if (tid == 0 || tid == self->tid) {
		*ns = gr_cputime_read(self);
		return true;
	}
	return gr_task_cputime_of_tid(tid, ns);
}

GR_EXPORT int clock_gettime(clockid_t clock, struct timespec *ts)
{
	SHIM_CALLED(clock_gettime);
	struct gr_task *self;
	int64_t ns;
	pid_t tid;

	if (clock >= 0 && clock != CLOCK_THREAD_CPUTIME_ID)
		return gr_libc_clock_gettime(clock, ts); /* the common case: one test */
	if (!(self = gr_current_task()) || !task_clock(clock, &tid) ||
	    !task_run_time(self, tid, &ns))
		return gr_libc_clock_gettime(clock, ts);
	*ts = ts_of(ns);
	return 0;
}

GR_EXPORT int clock_getres(clockid_t clock, struct timespec *res)
{
	SHIM_CALLED(clock_getres);
	struct gr_task *self = gr_current_task();
	int64_t ns;
	pid_t tid;

	if (!self || !task_clock(clock, &tid) || !task_run_time(self, tid, &ns))
		return REAL(clock_getres)(clock, res);
	/* the calling OS thread's clock of the same kind */
	return REAL(clock_getres)(clock == CLOCK_THREAD_CPUTIME_ID
					  ? clock
					  : THREAD_CPUCLOCK(0, clock & CPUCLOCK_CLOCK_MASK),
				  res);
}

bool shim_task_cpuclock(clockid_t clock)
{
	pid_t tid;
	int64_t ns;
	struct gr_task *self = gr_current_task();

	return self && task_clock(clock, &tid) && task_run_time(self, tid, &ns);
}

int shim_cpuclock_sleep(struct gr_task *self, clockid_t clock, int flags,
			const struct timespec *req, struct timespec *rem)
{
	pid_t tid = 0;
	int64_t now, target;

	task_clock(clock, &tid);
	if (tid == 0 || tid == self->tid || !shim_valid_timespec(req) || (flags & ~TIMER_ABSTIME))
		return EINVAL;
	if (!gr_task_cputime_of_tid(tid, &now))
		return EINVAL;
	target = (int64_t)req->tv_sec * 1000000000 + req->tv_nsec;
	if (!(flags & TIMER_ABSTIME)) {
		if (req->tv_sec < 0)
			return 0;
		target += now;
	}
	while (now < target) {
		struct timespec step = ts_of(target - now), left;
		int err = clock_nanosleep(CLOCK_MONOTONIC, 0, &step, &left);

		if (err == EINTR) {
			if (rem && !(flags & TIMER_ABSTIME)) {
				gr_task_cputime_of_tid(tid, &now);
				*rem = ts_of(target > now ? target - now : 0);
			}
			return EINTR;
		}
		if (!gr_task_cputime_of_tid(tid, &now))
			return EINVAL;
	}
	return 0;
}

GR_EXPORT int pthread_getcpuclockid(pthread_t th, clockid_t *clock)
{
	SHIM_CALLED(pthread_getcpuclockid);
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_getcpuclockid)(th, clock);
	if (atomic_load(&t->state) == GR_TASK_DEAD)
		return ESRCH;
	*clock = THREAD_CPUCLOCK(t->tid, CPUCLOCK_SCHED);
	return 0;
}
