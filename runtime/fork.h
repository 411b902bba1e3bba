/*
 * fork.h — what of the runtime a fork child keeps.
 *
 * The child of fork has one OS thread: the carrier that ran the forking task, still running
 * it. Every other task and carrier is gone (as every other thread is gone from a forked
 * process), so the child's runtime drops them: empty run queues, timers and wait queues, one
 * live task, one carrier (the others start again with the child's first new task), locks that
 * a vanished carrier may have held released. Called in the child, on the forking task, before
 * fork returns to the program.
 */
#ifndef GR_FORK_H
#define GR_FORK_H

void gr_after_fork_child(void);

#endif
