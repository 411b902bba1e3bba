/*
 * ids.c — calls that name a thread by pthread_t or thread id: gettid, names, signals to a
 * thread, affinity, scheduling parameters, CPU-time clocks.
 *
 * glibc implements these with the kernel thread id stored in the TCB, which for a task is a
 * made-up id (no kernel thread has it, so glibc would answer ESRCH); with a carrier's id they
 * would act on the wrong thread. So for tasks each is answered here:
 *  - gettid: the task's own id, unique among live tasks and constant for its life (the
 *    initial task keeps the process id, as the main thread's tid is);
 *  - pthread_setname_np / getname_np: kept per task (new tasks inherit their creator's);
 *  - pthread_kill, pthread_sigqueue, tgkill and syscall(SYS_tgkill or SYS_tkill) with a
 *    task's id: the signal goes to the task (sigdeliver.c);
 *  - affinity (pthread_{set,get}affinity_np, sched_{set,get}affinity of a task's id): recorded
 *    and reported back, but tasks run on any carrier: pin the whole process instead (taskset);
 *  - scheduling (pthread_{set,get}schedparam, pthread_setschedprio): SCHED_OTHER, SCHED_BATCH
 *    and SCHED_IDLE are recorded and reported back; real-time policies give EPERM;
 *  - pthread_getcpuclockid: ENOENT (a task has no kernel CPU clock of its own).
 */
#include "shim.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "sched.h"

GR_EXPORT pid_t gettid(void)
{
	struct gr_task *self = gr_current_task();

	return self ? self->tid : REAL(gettid)();
}

/* ---- names ---- */

GR_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_setname_np)(th, name);
	if (strlen(name) >= sizeof shim_of(t)->name)
		return ERANGE;
	strcpy(shim_of(t)->name, name);
	return 0;
}

GR_EXPORT int pthread_getname_np(pthread_t th, char *buf, size_t len)
{
	struct gr_task *t = shim_task_of_thread(th);
	char name[16];

	if (!t)
		return REAL(pthread_getname_np)(th, buf, len);
	if (len < sizeof name)
		return ERANGE; /* as glibc: the buffer must hold any name */
	memcpy(name, shim_of(t)->name, sizeof name);
	name[sizeof name - 1] = 0;
	strcpy(buf, name);
	return 0;
}

/* ---- signals ---- */

/* the task a sched_* call names by id (0: the caller), or NULL for libc to handle */
static struct gr_task *task_of_id(pid_t id)
{
	struct gr_task *self = gr_current_task();

	if (!self)
		return NULL;
	if (id == 0 || id == self->tid)
		return self;
	return gr_task_by_tid(id);
}


GR_EXPORT int pthread_kill(pthread_t th, int sig)
{
	struct gr_task *t = shim_task_of_thread(th);

	if (!t || !gr_current_task())
		return REAL(pthread_kill)(th, sig);
	return shim_signal_task(t, sig, NULL);
}

long shim_thread_kill(pid_t tgid, pid_t tid, int sig)
{
	struct gr_task *t;
	int err;

	if (tgid && tgid != getpid())
		return -ENOSYS; /* another process's thread: the kernel's */
	if (tid <= 0)
		return -EINVAL;
	if (!(t = task_of_id(tid)))
		return -ENOSYS;
	err = shim_signal_task(t, sig, NULL);
	return err ? -err : 0;
}

GR_EXPORT int tgkill(pid_t tgid, pid_t tid, int sig)
{
	long r = gr_current_task() ? shim_thread_kill(tgid, tid, sig) : -ENOSYS;

	if (r == -ENOSYS)
		return REAL(tgkill)(tgid, tid, sig);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

GR_EXPORT int pthread_sigqueue(pthread_t th, int sig, const union sigval value)
{
	struct gr_task *t = shim_task_of_thread(th);
	siginfo_t info;

	if (!t || !gr_current_task())
		return REAL(pthread_sigqueue)(th, sig, value);
	memset(&info, 0, sizeof info);
	info.si_signo = sig;
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	info.si_value = value;
	return shim_signal_task(t, sig, &info);
}

/* ---- affinity ---- */

static void copy_set(cpu_set_t *dst, size_t dstsize, const cpu_set_t *src, size_t srcsize)
{
	memset(dst, 0, dstsize);
	memcpy(dst, src, dstsize < srcsize ? dstsize : srcsize);
}

static int set_affinity(struct gr_task *t, size_t size, const cpu_set_t *set)
{
	cpu_set_t allowed, wanted;
	struct shim_task *st = shim_of(t);

	copy_set(&wanted, sizeof wanted, set, size);
	if (REAL(sched_getaffinity)(0, sizeof allowed, &allowed) != 0)
		return errno;
	CPU_AND(&allowed, &allowed, &wanted);
	if (CPU_COUNT(&allowed) == 0)
		return EINVAL;
	st->affinity = wanted;
	st->has_affinity = true;
	return 0;
}

static int get_affinity(struct gr_task *t, size_t size, cpu_set_t *set)
{
	struct shim_task *st = shim_of(t);
	cpu_set_t all;

	if (st->has_affinity) {
		copy_set(set, size, &st->affinity, sizeof st->affinity);
		return 0;
	}
	if (REAL(sched_getaffinity)(0, sizeof all, &all) != 0)
		return errno;
	copy_set(set, size, &all, sizeof all);
	return 0;
}

GR_EXPORT int pthread_setaffinity_np(pthread_t th, size_t size, const cpu_set_t *set)
{
	struct gr_task *t = shim_task_of_thread(th);

	return t ? set_affinity(t, size, set) : REAL(pthread_setaffinity_np)(th, size, set);
}

GR_EXPORT int pthread_getaffinity_np(pthread_t th, size_t size, cpu_set_t *set)
{
	struct gr_task *t = shim_task_of_thread(th);

	return t ? get_affinity(t, size, set) : REAL(pthread_getaffinity_np)(th, size, set);
}

static int as_errno_result(int err)
{
	if (!err)
		return 0;
	errno = err;
	return -1;
}

GR_EXPORT int sched_setaffinity(pid_t id, size_t size, const cpu_set_t *set)
{
	struct gr_task *t = task_of_id(id);

	return t ? as_errno_result(set_affinity(t, size, set))
		 : REAL(sched_setaffinity)(id, size, set);
}

GR_EXPORT int sched_getaffinity(pid_t id, size_t size, cpu_set_t *set)
{
	struct gr_task *t = task_of_id(id);

	return t ? as_errno_result(get_affinity(t, size, set))
		 : REAL(sched_getaffinity)(id, size, set);
}

/* ---- scheduling parameters ---- */

GR_EXPORT int pthread_setschedparam(pthread_t th, int policy, const struct sched_param *param)
{
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_setschedparam)(th, policy, param);
	switch (policy) {
	case SCHED_OTHER:
	case SCHED_BATCH:
	case SCHED_IDLE:
		if (param->sched_priority != 0)
			return EINVAL;
		shim_of(t)->sched_policy = policy;
		shim_of(t)->sched_priority = 0;
		return 0;
	case SCHED_FIFO:
	case SCHED_RR:
		return EPERM;
	default:
		return EINVAL;
	}
}

GR_EXPORT int pthread_getschedparam(pthread_t th, int *policy, struct sched_param *param)
{
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_getschedparam)(th, policy, param);
	*policy = shim_of(t)->sched_policy;
	param->sched_priority = shim_of(t)->sched_priority;
	return 0;
}

GR_EXPORT int pthread_setschedprio(pthread_t th, int prio)
{
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_setschedprio)(th, prio);
	return prio == 0 ? 0 : EINVAL;
}

GR_EXPORT int pthread_getcpuclockid(pthread_t th, clockid_t *clock)
{
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_getcpuclockid)(th, clock);
	return ENOENT;
}
