/*
 * waitq.h — tasks waiting on an address (the green counterpart of a futex).
 *
 * A task parks on an address after checking, under the address's bucket lock, that it still
 * has to wait (the check a futex does by comparing the word); a waker on the same address takes
 * waiters off in arrival order. Together with the wake token (task.h) this gives: a wake-up
 * between the check and the park is not lost, and each waiter is woken once, by the first of
 * wake, deadline or interrupt; a waiter that leaves by deadline or interrupt is off the queue
 * before gr_waitq_park returns.
 *
 * The waiter record lives on the waiting task's stack for the duration of the call.
 */
#ifndef GR_WAITQ_H
#define GR_WAITQ_H

#include <stdbool.h>
#include <stdint.h>

#include "task.h"

/* called under the bucket lock: true if the task must still wait */
typedef bool gr_waitq_check_fn(const void *addr, void *arg);

/*
 * Park the calling task on addr if check(addr, arg) says so. Returns 0 if it did not park,
 * else the wake reason.
 */
int gr_waitq_park(const void *addr, gr_waitq_check_fn *check, void *arg, int64_t deadline,
		  bool interruptible, const char *what);

/* Wake up to n tasks parked on addr (n < 0: all). Returns how many were woken. */
int gr_waitq_wake(const void *addr, int n);

/* The same, for waiters that take only some wake-ups (futex bitsets): a wake with bits wakes
 * a waiter parked with bits that share one. */
int gr_waitq_park_bits(const void *addr, uint32_t bits, gr_waitq_check_fn *check, void *arg,
		       int64_t deadline, bool interruptible, const char *what);
int gr_waitq_wake_bits(const void *addr, uint32_t bits, int n);

#endif
