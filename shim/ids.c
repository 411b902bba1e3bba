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
 *  - pthread_kill: to itself, the real signal; to another task in a kernel signal wait
 *    (sigwait.c), the real signal to the OS thread it waits on; to any other task, the signal
 *    is delivered when that task next enters the shim (at once if it is waiting: its wait ends
 *    with EINTR after the handler runs). pthread_sigqueue to another task: ENOSYS;
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

bool shim_deliver_signals(struct gr_task *t)
{
	unsigned long pending;
	bool restart = true;

	if (!atomic_load_explicit(&shim_of(t)->pending_signals, memory_order_relaxed))
		return true;
	pending = atomic_exchange(&shim_of(t)->pending_signals, 0);

	for (int sig = 1; pending; sig++, pending >>= 1) {
		struct sigaction sa;

		if (!(pending & 1))
			continue;
		if (sigaction(sig, NULL, &sa) != 0 || !(sa.sa_flags & SA_RESTART))
			restart = false;
		REAL(pthread_kill)(pthread_self(), sig);
	}
	return restart;
}

GR_EXPORT int pthread_kill(pthread_t th, int sig)
{
	struct gr_task *t = shim_task_of_thread(th);
	struct gr_task *self = gr_current_task();
	int32_t os_tid;

	if (!t || t == self || !self)
		return REAL(pthread_kill)(th, sig);
	if (sig < 0 || sig >= NSIG)
		return EINVAL;
	if (atomic_load(&t->state) == GR_TASK_DEAD)
		return ESRCH;
	if (sig == 0)
		return 0;
	if ((os_tid = atomic_load(&shim_of(t)->sigwait_os_tid)))
		return syscall(SYS_tgkill, getpid(), os_tid, sig) ? errno : 0;
	atomic_fetch_or(&shim_of(t)->pending_signals, 1UL << (sig - 1));
	gr_interrupt(t);
	return 0;
}

GR_EXPORT int pthread_sigqueue(pthread_t th, int sig, const union sigval value)
{
	struct gr_task *t = shim_task_of_thread(th);

	if (!t || t == gr_current_task())
		return REAL(pthread_sigqueue)(th, sig, value);
	return ENOSYS;
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

