/*
 * fault.h — faults injected on purpose (GREENPOLL_FAULTS), so a user can see how a program
 * copes with what POSIX allows but a quiet machine rarely shows. Off by default; then every
 * hook below is one branch on a flag written once at start-up.
 *
 * Each fault is one the program could meet natively, at a point where POSIX allows it:
 *  - a short count: a read, recv or recvfrom of a stream socket or a pipe returns fewer bytes
 *    than asked (as when less had arrived); a write, send or sendto of one returns after
 *    queuing only part (as when a signal handler interrupts it after some bytes), for a pipe
 *    only above PIPE_BUF (smaller pipe writes are atomic). Never on a datagram or seqpacket
 *    socket (a short read would cut a message), a regular file, a tty or an eventfd; never on
 *    MSG_WAITALL, the vector calls (readv, writev, recvmsg, sendmsg) or a count below 2;
 *  - EINTR, as if a handler installed without SA_RESTART interrupted a call while it waited:
 *    only when the call is about to wait (nothing transferred yet by this attempt; a write that
 *    queued some bytes returns their count), and only in calls that return EINTR natively when
 *    so interrupted: read, recv, recvfrom, recvmsg, write, send, sendto, sendmsg, and their
 *    vector forms, accept and accept4, connect (the connection goes on in the background, as
 *    natively: a later connect waits for it or says EISCONN), poll, ppoll, select, pselect,
 *    epoll_wait, epoll_pwait, epoll_pwait2, nanosleep and clock_nanosleep (halfway through the
 *    sleep, with the time left in *rem, so a program that sleeps again still finishes). Never
 *    close, sigwait, pthread or semaphore calls, or calls libc makes inside itself;
 *  - a delayed wake-up: a task woken from an I/O or poll wait sleeps on for the given time
 *    before it looks again, as when the machine is loaded.
 * Each chance is drawn from a PRNG per task (xorshift64*), seeded from the setting's seed and
 * the task's id: no shared state, and a run whose threads are made and call in the same order
 * draws the same faults. The faults injected are counted (relaxed atomic adds, only when one
 * is injected) and, under GREENPOLL_DEBUG=1, said at exit in one line:
 *   "greenpoll: faults injected: N short reads, N short writes, N EINTR, N delayed wake-ups"
 */
#ifndef GR_FAULT_H
#define GR_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "fdtable.h"

/* written once, before any task runs */
extern struct shim_faults shim_faults;

/* Take the setting; with debug, the counts are said at exit. */
void shim_faults_init(const struct shim_faults *f, bool debug);

size_t shim_fault_shorten(int fd, enum fd_kind k, size_t len, bool write);
bool shim_fault_roll_eintr(void);
void shim_fault_roll_delay(void);

/* The length a read (write false) or write of len bytes on fd, of kind k, asks the kernel for:
 * len, or fewer when a short count is injected. */
static inline size_t shim_fault_len(int fd, enum fd_kind k, size_t len, bool write)
{
	if (__builtin_expect(shim_faults.on, 0))
		return shim_fault_shorten(fd, k, len, write);
	return len;
}

/* Whether a call about to wait ends with EINTR instead. */
static inline bool shim_fault_eintr(void)
{
	return __builtin_expect(shim_faults.on, 0) && shim_fault_roll_eintr();
}

/* A task just woken from a wait: it may sleep on a little (a delayed wake-up). */
static inline void shim_fault_after_wake(void)
{
	if (__builtin_expect(shim_faults.on, 0))
		shim_fault_roll_delay();
}

#endif
