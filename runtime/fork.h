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

void gr_after_fork_child(void);

#endif
