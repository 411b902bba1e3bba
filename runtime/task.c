/*
 * task.c — task life cycle: create, run, exit, join, detach, reap (see task.h).
 *
 * A task's end has two halves. On its own stack and TCB (gr_task_exit): C++ thread_local
 * destructors, the shim's at_exit hook (pthread key destructors), libc's per-thread buffers,
 * the live count (the last task ends the process, as when a process's last thread exits).
 * Then, on the next context once it is off its stack (gr_task_reap): it becomes DEAD, and its
 * joiner is woken or, if detached, its region goes back to the pool. A joined task's region
 * goes back when the join returns, its record marked joined: until the region is reused (or
 * unmapped by gr_task_trim_pool), a later join or detach of its pthread_t answers ESRCH, a
 * tryjoin EBUSY, as glibc's do.
 *
 * Locking: join_lock protects a task's join fields; the task list lock protects the list of
 * live tasks. Neither is held while taking the other.
 */
#define _GNU_SOURCE
#include "task.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>

#include "cputime.h"
#include "fork.h"
#include "sched.h"
#include "stack.h"
#include "sys.h"
#include "throw.h"
#include "tls.h"

#define TASK_BYTES ((sizeof(struct gr_task) + 63) & ~(size_t)63)
/* Task ids lie in [PID_MAX_LIMIT, 2^28): no kernel thread has one (pids stay below
 * PID_MAX_LIMIT), they fit FUTEX_TID_MASK, and a thread CPU clock id made from one the way glibc
 * makes them (~tid << 3 in a 32-bit clockid_t) still carries the whole id (shim/cpuclock.c) */
#define FAKE_TID_BASE 0x400000
#define FAKE_TID_SPAN (0x10000000 - FAKE_TID_BASE)
#define MIN_USABLE_STACK (8 * 1024)

static size_t default_stack = 8 << 20;
static struct gr_task_hooks hooks;
static _Atomic uint64_t next_id = 1;
static _Atomic int live_tasks;
uint32_t gr_task_epoch;
static gr_lock_t list_lock = GR_LOCK_INIT;
static struct gr_task *all_tasks; /* protected by list_lock */
static struct gr_task initial_task;

void gr_task_set_hooks(const struct gr_task_hooks *h) { hooks = *h; }
void gr_task_set_default_stack(size_t bytes) { default_stack = bytes; }
size_t gr_task_default_stack(void) { return default_stack; }
int gr_task_count(void) { return atomic_load(&live_tasks); }

void gr_lock_note(int delta)
{
	struct gr_task *t = gr_current_task();
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);

	/* off its own stack: an alternate signal stack or the initial thread's stack are its own
	 * code's too, a carrier's own stack is scheduling code on a borrowed TCB (lock.h) */
	if (!t || (!gr_task_on_stack(t, sp) && gr_sched_on_carrier_stack(sp)))
		return;
	atomic_store_explicit(&t->locks_held,
			      atomic_load_explicit(&t->locks_held, memory_order_relaxed) + delta,
			      memory_order_relaxed);
}

static void list_add(struct gr_task *t)
{
	gr_lock(&list_lock);
	t->all_prev = NULL;
	t->all_next = all_tasks;
	if (all_tasks)
		all_tasks->all_prev = t;
	all_tasks = t;
	gr_unlock(&list_lock);
}

static void list_del(struct gr_task *t)
{
	gr_lock(&list_lock);
	if (t->all_prev)
		t->all_prev->all_next = t->all_next;
	else
		all_tasks = t->all_next;
	if (t->all_next)
		t->all_next->all_prev = t->all_prev;
	gr_unlock(&list_lock);
}

void gr_task_each_tcb(void (*fn)(void *tcb, void *arg), void *arg)
{
	gr_lock(&list_lock);
	for (struct gr_task *t = all_tasks; t; t = t->all_next)
		fn(t->tcb, arg);
	gr_unlock(&list_lock);
}

void gr_task_each(void (*fn)(struct gr_task *t, void *arg), void *arg)
{
	gr_lock(&list_lock);
	for (struct gr_task *t = all_tasks; t; t = t->all_next)
		fn(t, arg);
	gr_unlock(&list_lock);
}

struct gr_task *gr_task_by_tid(int32_t tid)
{
	struct gr_task *found = NULL;

	gr_lock(&list_lock);
	for (struct gr_task *t = all_tasks; t && !found; t = t->all_next)
		if (t->tid == tid && atomic_load(&t->state) != GR_TASK_DEAD)
			found = t;
	gr_unlock(&list_lock);
	return found;
}

bool gr_task_cputime_of_tid(int32_t tid, int64_t *ns)
{
	bool found = false;

	gr_lock(&list_lock);
	for (struct gr_task *t = all_tasks; t && !found; t = t->all_next)
		if (t->tid == tid && atomic_load(&t->state) != GR_TASK_DEAD) {
			*ns = gr_cputime_read(t);
			found = true;
		}
	gr_unlock(&list_lock);
	return found;
}

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* bytes at the top of a region that the task record and its TCB take */
static size_t region_keep(void) { return GR_STACK_NODE_BYTES + TASK_BYTES + gr_tls_reserve(); }

/* the region's memory goes back (pool, or the kernel); the task record goes with it */
static void release(struct gr_task *t)
{
	if (t->adopted)
		return;
	if (t->user_stack) {
		gr_tcb_destroy(t->tcb);
		return;
	}
	/* no pool class for it: unmapped, unless a carrier's own context still runs on its TCB
	 * (sched.c), which would fault: then it stays mapped, never reused (rare: all classes
	 * taken by other stack sizes) */
	if (!gr_stack_put(t->region_top, t->stack_size, t->guard, region_keep()) &&
	    !gr_sched_tcb_borrowed(t->tcb)) {
		gr_tcb_destroy(t->tcb);
		gr_stack_unmap(t->region_top, t->stack_size, t->guard);
	}
}

/* a pooled region goes back to the kernel: first what its TCB holds outside it (dtv, dynamic
 * TLS, malloc cache); not while a carrier's own context still runs on that TCB (sched.c) */
static bool forget_region(void *top)
{
	struct gr_task *t = (struct gr_task *)((char *)top - GR_STACK_NODE_BYTES - TASK_BYTES);

	if (gr_sched_tcb_borrowed(t->tcb))
		return false;
	gr_tcb_destroy(t->tcb);
	return true;
}

void gr_task_trim_pool(void)
{
	/* the freed malloc caches leave the per-thread arenas mostly free: give their pages back */
	if (gr_stack_trim(gr_tcb_releasable() ? forget_region : NULL))
		malloc_trim(0);
}

static _Noreturn void task_entry(void *arg)
{
	struct gr_task *t = arg;

	gr_sched_task_started(t);
	gr_tcb_started();
	gr_task_exit(hooks.run ? hooks.run(t) : t->start(t->arg));
}

int gr_task_create(const struct gr_task_attr *attr, void *(*start)(void *), void *arg,
		   struct gr_task **out)
{
	size_t page = gr_page_size();
	size_t size = attr->stack_size ? round_up(attr->stack_size, page) : default_stack;
	size_t guard = round_up(attr->guard, page);
	bool reused = false;
	char *top;
	struct gr_task *t;
	uint64_t id = atomic_fetch_add(&next_id, 1);
	int32_t tid = (int32_t)(FAKE_TID_BASE + id % FAKE_TID_SPAN);
	void *tcb;
	int err = 0;

	if (attr->stack_addr) {
		size = attr->stack_size;
		guard = 0;
	}
	if (size < region_keep() + MIN_USABLE_STACK)
		return EINVAL; /* static TLS would not leave a usable stack */
	if (attr->stack_addr) {
		top = (char *)(((uintptr_t)attr->stack_addr + size) & ~(uintptr_t)63);
	} else {
		top = gr_stack_get(size, guard, &reused, &err);
		if (!top)
			return err;
	}

	t = (struct gr_task *)(top - GR_STACK_NODE_BYTES - TASK_BYTES);
	memset(t, 0, sizeof *t);
	if (reused)
		tcb = gr_tcb_renew(t, tid, t);
	else if (attr->stack_addr)
		tcb = gr_tcb_make(t, attr->stack_addr, size, 0, tid, t);
	else
		tcb = gr_tcb_make(t, top - size - guard, size + guard, guard, tid, t);
	if (!tcb) {
		if (!attr->stack_addr)
			gr_stack_unmap(top, size, guard);
		return EAGAIN;
	}
	t->tcb = tcb;
	t->epoch = gr_task_epoch;
	t->id = id;
	t->tid = tid;
	t->start = start;
	t->arg = arg;
	t->detached = attr->detached;
	t->region_top = top;
	t->stack_size = size;
	t->guard = guard;
	t->user_stack = attr->stack_addr != NULL;
	gr_ctx_make(&t->ctx, (char *)t - gr_tls_reserve(), tcb, task_entry, t);
	gr_stat_add(gr_stat_here(), GR_STAT_TASKS_CREATED, 1);
	*out = t;
	return 0;
}

void gr_task_start(struct gr_task *t)
{
	gr_sig_task_born(t, gr_current_task());
	list_add(t);
	atomic_fetch_add(&live_tasks, 1);
	gr_sched_start_carriers();
	gr_sched_ready(t);
}

struct gr_task *gr_task_adopt_initial(void *tcb, int32_t tid)
{
	struct gr_task *t = &initial_task;
	struct timespec ran = {0};

	/* its CPU clock goes on from what its OS thread has used so far */
	gr_sys2(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &ran);
	gr_cputime_set(t, (int64_t)ran.tv_sec * 1000000000 + ran.tv_nsec, gr_nanotime());
	t->tcb = tcb;
	t->epoch = gr_task_epoch;
	t->ctx.fs = tcb;
	t->id = atomic_fetch_add(&next_id, 1);
	t->tid = tid;
	t->adopted = true;
	gr_tcb_adopt(tcb, t);
	gr_sig_init(t);
	list_add(t);
	atomic_fetch_add(&live_tasks, 1);
	return t;
}

_Noreturn void gr_task_exit(void *result)
{
	struct gr_task *t = gr_current_task();

	t->result = result;
	gr_tcb_run_tls_dtors();
	if (hooks.at_exit)
		hooks.at_exit(t);
	gr_tcb_exiting();
	gr_sig_task_gone(t);
	gr_stat_add(t->carrier->stats, GR_STAT_TASKS_EXITED, 1);
	if (atomic_fetch_sub(&live_tasks, 1) == 1 && hooks.last_exited)
		hooks.last_exited();
	gr_sched_exit_switch(t);
}

void gr_task_reap(struct gr_task *t)
{
	struct gr_task *joiner;
	uint32_t seq;
	bool detached;

	list_del(t);
	gr_lock(&t->join_lock);
	atomic_store(&t->state, GR_TASK_DEAD);
	t->exited = true;
	joiner = t->joiner;
	seq = t->joiner_seq;
	detached = t->detached;
	gr_unlock(&t->join_lock);
	if (detached)
		release(t);
	else if (joiner)
		gr_wake(joiner, seq, GR_WAKE_NORMAL);
}

int gr_task_join(struct gr_task *t, void **result, int64_t deadline, bool interruptible)
{
	struct gr_task *self = gr_current_task();
	enum gr_wake_reason why = GR_WAKE_NORMAL;

	if (t == self)
		return EDEADLK;
	gr_lock(&t->join_lock);
	if (t->joined) {
		gr_unlock(&t->join_lock);
		return ESRCH;
	}
	if (t->detached || (t->joiner && t->joiner != self)) {
		gr_unlock(&t->join_lock);
		return EINVAL;
	}
	if (__atomic_load_n(&self->joiner, __ATOMIC_RELAXED) == t) {
		gr_unlock(&t->join_lock);
		return EDEADLK; /* t is joining us */
	}
	while (!t->exited) {
		t->joiner_seq = gr_wait_prepare(interruptible);
		t->joiner = self;
		gr_unlock(&t->join_lock);
		why = gr_park(deadline, "join", t);
		gr_lock(&t->join_lock);
		if (!t->exited && why != GR_WAKE_NORMAL) {
			t->joiner = NULL;
			gr_unlock(&t->join_lock);
			return why == GR_WAKE_TIMEOUT ? ETIMEDOUT : EINTR;
		}
	}
	t->joined = true;
	gr_unlock(&t->join_lock);
	if (result)
		*result = t->result;
	release(t);
	return 0;
}

int gr_task_tryjoin(struct gr_task *t, void **result)
{
	gr_lock(&t->join_lock);
	if (!t->exited || t->joined) {
		gr_unlock(&t->join_lock);
		return EBUSY;
	}
	if (t->detached || t->joiner) {
		gr_unlock(&t->join_lock);
		return EINVAL;
	}
	t->joined = true;
	gr_unlock(&t->join_lock);
	if (result)
		*result = t->result;
	release(t);
	return 0;
}

int gr_task_detach(struct gr_task *t)
{
	bool exited;

	gr_lock(&t->join_lock);
	if (t->joined) {
		gr_unlock(&t->join_lock);
		return ESRCH;
	}
	if (t->detached || t->joiner) {
		gr_unlock(&t->join_lock);
		return EINVAL;
	}
	t->detached = true;
	exited = t->exited;
	gr_unlock(&t->join_lock);
	if (exited)
		release(t);
	return 0;
}

/* fork.h: the forking task is the only one left */
static void task_after_fork_child(struct gr_task *self)
{
	list_lock = (gr_lock_t)GR_LOCK_INIT;
	all_tasks = NULL;
	/* every other task is the parent's from now on: no waker may run it here */
	self->epoch = ++gr_task_epoch;
	self->join_lock = (gr_lock_t)GR_LOCK_INIT;
	self->joiner = NULL;
	list_add(self);
	atomic_store(&live_tasks, 1);
	/* as a forked process's only thread, it has the kernel's id: gettid() == getpid() */
	self->tid = (int32_t)gr_os_tid();
	gr_cputime_set(self, 0, gr_nanotime()); /* and a new thread's CPU clock */
}
GR_AFTER_FORK(GR_FORK_TASK, task_after_fork_child);

int32_t gr_task_fresh_tid(void)
{
	return (int32_t)(FAKE_TID_BASE + atomic_fetch_add(&next_id, 1) % FAKE_TID_SPAN);
}
