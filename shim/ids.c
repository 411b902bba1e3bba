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
 *  - scheduling (pthread_{set,get}schedparam, pthread_setschedprio, sched_{set,get}scheduler
 *    and sched_{set,get}param of a task's id or 0, the attributes a thread is created with,
 *    pthread_getattr_np's report): policy and priority are recorded and reported back, never
 *    enforced (every task runs on any carrier, in turn). The kernel's answers are kept: EINVAL
 *    for a policy it does not take or a priority out of its range, EPERM for a real-time
 *    policy unless the process may have it natively (CAP_SYS_NICE, or RLIMIT_RTPRIO, checked
 *    as sched_setscheduler checks them), ESRCH for a thread that has exited. A new task
 *    inherits its creator's unless created with PTHREAD_EXPLICIT_SCHED; the initial task starts
 *    with the process's;
 *  - CPU-time clocks: cpuclock.c.
 */
#include "shim.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "sched.h"
#include "sys.h"

GR_EXPORT pid_t gettid(void)
{
	SHIM_CALLED(gettid);
	struct gr_task *self = gr_current_task();

	return self ? self->tid : REAL(gettid)();
}

/* ---- names ---- */

GR_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	SHIM_CALLED(pthread_setname_np);
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
	SHIM_CALLED(pthread_getname_np);
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
	SHIM_CALLED(pthread_kill);
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
	SHIM_CALLED(tgkill);
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
	SHIM_CALLED(pthread_sigqueue);
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
	SHIM_CALLED(pthread_setaffinity_np);
	struct gr_task *t = shim_task_of_thread(th);

	return t ? set_affinity(t, size, set) : REAL(pthread_setaffinity_np)(th, size, set);
}

GR_EXPORT int pthread_getaffinity_np(pthread_t th, size_t size, cpu_set_t *set)
{
	SHIM_CALLED(pthread_getaffinity_np);
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
	SHIM_CALLED(sched_setaffinity);
	struct gr_task *t = task_of_id(id);

	return t ? as_errno_result(set_affinity(t, size, set))
		 : REAL(sched_setaffinity)(id, size, set);
}

GR_EXPORT int sched_getaffinity(pid_t id, size_t size, cpu_set_t *set)
{
	SHIM_CALLED(sched_getaffinity);
	struct gr_task *t = task_of_id(id);

	return t ? as_errno_result(get_affinity(t, size, set))
		 : REAL(sched_getaffinity)(id, size, set);
}

/* ---- scheduling parameters ---- */

/* CAP_SYS_NICE in the calling OS thread's effective set (capabilities are per OS thread: all
 * of a process's have the same unless the program changed one thread's alone) */
static bool may_raise_priority(void)
{
	struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (gr_sys2(SYS_capget, &head, data) != 0)
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_NICE)].effective & CAP_TO_MASK(CAP_SYS_NICE);
}

static bool realtime(int policy) { return policy == SCHED_FIFO || policy == SCHED_RR; }

/*
 * 0 if the kernel would let a thread at (from_policy, from_prio) of this process take
 * (policy, prio), with sched_setscheduler's answers in its order otherwise: EINVAL for a
 * policy it does not take or a priority out of sched_get_priority_min/max's range, EPERM for a
 * real-time policy without CAP_SYS_NICE or room under RLIMIT_RTPRIO.
 */
static int sched_check(int from_policy, int from_prio, int policy, int prio)
{
	struct rlimit rt;

	switch (policy) {
	case SCHED_OTHER: case SCHED_BATCH: case SCHED_IDLE: case SCHED_FIFO: case SCHED_RR:
		break;
	default:
		return EINVAL;
	}
	if (prio < sched_get_priority_min(policy) || prio > sched_get_priority_max(policy))
		return EINVAL;
	if (!realtime(policy) || may_raise_priority())
		return 0;
	if (getrlimit(RLIMIT_RTPRIO, &rt) != 0)
		rt.rlim_cur = 0;
	if (policy != from_policy && rt.rlim_cur == 0)
		return EPERM;
	if (prio > (realtime(from_policy) ? from_prio : 0) && (rlim_t)prio > rt.rlim_cur)
		return EPERM;
	return 0;
}

static int set_sched(struct gr_task *t, int policy, int prio)
{
	struct shim_task *st = shim_of(t);
	int err;

	if (atomic_load(&t->state) == GR_TASK_DEAD)
		return ESRCH;
	if ((err = sched_check(st->sched.policy, st->sched.priority, policy, prio)))
		return err;
	st->sched.policy = policy;
	st->sched.priority = prio;
	return 0;
}

void shim_sched_init(struct gr_task *t, struct gr_task *creator)
{
	struct shim_sched *s = &shim_of(t)->sched;
	struct sched_param param;
	int policy;

	if (creator) {
		*s = (struct shim_sched){.policy = shim_of(creator)->sched.policy,
					 .priority = shim_of(creator)->sched.priority};
		return;
	}
	/* the process's initial thread: what it was started with (chrt, say) */
	policy = REAL(sched_getscheduler)(0);
	if (policy >= 0 && REAL(sched_getparam)(0, &param) == 0) {
		s->policy = policy & ~SCHED_RESET_ON_FORK;
		s->priority = param.sched_priority;
	}
}

/*
 * glibc takes a policy or priority the attribute never had set from the creator. Whether one
 * was set is private to glibc; what the public getters show is read instead: a real-time
 * policy with priority 0 (never valid, so never set) takes the creator's priority, as glibc
 * does; an attribute with neither set reads SCHED_OTHER, 0 and gets that, where glibc gives the
 * creator's (the same unless the creator is real-time).
 */
int shim_sched_of_attr(struct gr_task *creator, const pthread_attr_t *attr, struct shim_sched *s)
{
	const struct shim_sched *from = &shim_of(creator)->sched;
	struct sched_param param;
	int inherit = PTHREAD_INHERIT_SCHED, policy, err;

	*s = (struct shim_sched){.policy = from->policy, .priority = from->priority};
	if (attr)
		pthread_attr_getinheritsched(attr, &inherit);
	if (inherit == PTHREAD_INHERIT_SCHED)
		return 0;
	pthread_attr_getschedpolicy(attr, &policy);
	pthread_attr_getschedparam(attr, &param);
	if (realtime(policy) && param.sched_priority == 0)
		param.sched_priority = from->priority;
	if ((err = sched_check(from->policy, from->priority, policy, param.sched_priority)))
		return err;
	*s = (struct shim_sched){
		.policy = policy, .priority = param.sched_priority, .explicit_sched = true};
	return 0;
}

/* SCHED_BATCH and SCHED_IDLE show as SCHED_OTHER: pthread_attr_setschedpolicy refuses them */
void shim_sched_report(struct gr_task *t, pthread_attr_t *attr)
{
	const struct shim_sched *s = &shim_of(t)->sched;
	struct sched_param param = {.sched_priority = s->priority};

	pthread_attr_setschedpolicy(attr, s->policy);
	pthread_attr_setschedparam(attr, &param);
	pthread_attr_setinheritsched(attr, s->explicit_sched ? PTHREAD_EXPLICIT_SCHED
							    : PTHREAD_INHERIT_SCHED);
}

GR_EXPORT int pthread_setschedparam(pthread_t th, int policy, const struct sched_param *param)
{
	SHIM_CALLED(pthread_setschedparam);
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_setschedparam)(th, policy, param);
	return set_sched(t, policy, param->sched_priority);
}

GR_EXPORT int pthread_getschedparam(pthread_t th, int *policy, struct sched_param *param)
{
	SHIM_CALLED(pthread_getschedparam);
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_getschedparam)(th, policy, param);
	if (atomic_load(&t->state) == GR_TASK_DEAD)
		return ESRCH;
	*policy = shim_of(t)->sched.policy;
	param->sched_priority = shim_of(t)->sched.priority;
	return 0;
}

GR_EXPORT int pthread_setschedprio(pthread_t th, int prio)
{
	SHIM_CALLED(pthread_setschedprio);
	struct gr_task *t = shim_task_of_thread(th);

	if (!t)
		return REAL(pthread_setschedprio)(th, prio);
	return set_sched(t, shim_of(t)->sched.policy, prio);
}

GR_EXPORT int sched_setscheduler(pid_t id, int policy, const struct sched_param *param)
{
	SHIM_CALLED(sched_setscheduler);
	struct gr_task *t = task_of_id(id);
	int err;

	if (!t)
		return REAL(sched_setscheduler)(id, policy, param);
	if (!param)
		return as_errno_result(EINVAL);
	/* SCHED_RESET_ON_FORK is accepted and not kept: a forked child's task is a new thread */
	err = set_sched(t, policy & ~SCHED_RESET_ON_FORK, param->sched_priority);
	return as_errno_result(err);
}

GR_EXPORT int sched_getscheduler(pid_t id)
{
	SHIM_CALLED(sched_getscheduler);
	struct gr_task *t = task_of_id(id);

	return t ? shim_of(t)->sched.policy : REAL(sched_getscheduler)(id);
}

GR_EXPORT int sched_setparam(pid_t id, const struct sched_param *param)
{
	SHIM_CALLED(sched_setparam);
	struct gr_task *t = task_of_id(id);

	if (!t)
		return REAL(sched_setparam)(id, param);
	if (!param)
		return as_errno_result(EINVAL);
	return as_errno_result(set_sched(t, shim_of(t)->sched.policy, param->sched_priority));
}

GR_EXPORT int sched_getparam(pid_t id, struct sched_param *param)
{
	SHIM_CALLED(sched_getparam);
	struct gr_task *t = task_of_id(id);

	if (!t)
		return REAL(sched_getparam)(id, param);
	if (!param)
		return as_errno_result(EINVAL);
	param->sched_priority = shim_of(t)->sched.priority;
	return 0;
}
