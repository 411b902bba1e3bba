/*
 * fork.h — what of the runtime a fork child keeps.
 *
 * The child of fork has one OS thread: the carrier that ran the forking task, still running
 * it. Every other task and carrier is gone (as every other thread is gone from a forked
 * process), so the child's runtime drops them: empty run queues, timers and wait queues, one
 * live task, one carrier (the others start again with the child's first new task), locks that
 * a vanished carrier may have held released. Called in the child, on the forking task, before
 * fork returns to the program.
 *
 * What holds after it: no record of the runtime through which a waker finds a task to ready
 * names a task of the parent other than the forking one. The run queues, the global queue,
 * the timer heaps, the address wait queues, every pollDesc's parked readers and writers
 * (rg/wg), direction locks and watcher list (the program's poll, select, epoll_wait), the
 * processor handed over and the spare asked for are all emptied. The parent's other tasks
 * still have their records, stacks and saved contexts in the child's copy of memory, valid
 * and never reused (their stacks are not in the pool): a waker that found one there would
 * resume a thread of the parent in the child, running the parent's code on a copy of its
 * state (issue: a Python Pool worker ran another pool's handler thread, which had been
 * waiting in poll on fds the worker inherited, closed or saw become ready). What the program
 * keeps can still name one (a futex word or condition variable copied with waiters on it, a
 * pthread_t of the parent given to pthread_cancel): waking it wakes nobody, as natively, since
 * gr_wake refuses a task of an earlier process (task.h, gr_task_of_this_process).
 */
#ifndef GR_FORK_H
#define GR_FORK_H

struct gr_task;

/*
 * The after-fork registry. Every module that keeps state a fork child must reset — each of its
 * locks above all: a gr_lock that a vanished carrier held at the fork would stay held in the
 * child forever — joins it, in its own file, with
 *
 *   GR_AFTER_FORK(GR_FORK_..., fn);   where   static void fn(struct gr_task *self);
 *
 * gr_after_fork_child runs every joined fn in the child, on the forking task (self), in the
 * order below (a module's reset may rely on those before it), before fork returns to the
 * program; with no task calling fork (greenpoll not running), none. The entries sit in a
 * section of their own, so a module joins without this file knowing it, and a unit test that
 * links only some modules gets only theirs.
 */
enum gr_fork_order {
	GR_FORK_TLS = 10,     /* tls.c: the module list */
	GR_FORK_STACK = 20,   /* stack.c: the pool */
	GR_FORK_WAITQ = 30,   /* waitq.c: the address wait queues */
	GR_FORK_SCHED = 40,   /* sched.c: queues, timers, carriers, monitor */
	GR_FORK_NETPOLL = 50, /* netpoll.c: a new poller, pds without the parent's waiters */
	GR_FORK_TASK = 60,    /* task.c: the task list, the forking task's id and epoch */
	GR_FORK_SIG = 70,     /* sigstate.c: the idle mask counts */
	GR_FORK_SHIM = 80,    /* shim/: signals pending, fd table, streams */
};

struct gr_fork_hook {
	int order; /* enum gr_fork_order */
	void (*child)(struct gr_task *self);
};

#define GR_AFTER_FORK(order, fn)                                                              \
	static const struct gr_fork_hook gr_fork_hook_##fn                                     \
		__attribute__((used, section("gr_fork_hooks"), aligned(sizeof(void *)))) = {   \
			(order), (fn)}

/* In the child of fork, on the forking task: run the registry. */
void gr_after_fork_child(void);

#endif
