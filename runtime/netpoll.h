/*
 * netpoll.h — poll descriptors: tasks parked until an fd is ready (after Go's netpoll.go).
 *
 * One struct gr_pd per open incarnation of an fd the shim manages. Its rg and wg fields are
 * each a binary semaphore for one direction (read, write) and hold
 *
 *   GR_PD_NIL    nothing happened, nobody waits
 *   GR_PD_READY  the fd became ready (an edge from epoll) and nobody has consumed that yet
 *   a task       that task is parked (or about to park) waiting for readiness
 *
 * Transitions (all by compare-and-swap, so a readiness that races with a task going to sleep
 * is neither lost nor delivered twice):
 *   waiter (gr_pd_wait):    READY→NIL (consume, no park) or NIL→task (then park); after the
 *                           park, task→NIL or READY→NIL (consume)
 *   waiter (gr_pd_forget_ready): READY→NIL (drop an edge it is about to look past)
 *   netpoller (an event):   NIL→READY, or task→READY and wake the task
 *   close (gr_pd_close):    task→NIL and wake the task, which sees the pd closing
 * Only one task may wait per direction at a time: callers serialise waiters with
 * gr_pd_lock/gr_pd_unlock (as Go's fdMutex serialises reads and writes on one fd), so several
 * tasks blocked on one fd in one direction (32 threads in accept on one listener) take turns
 * and none is lost.
 *
 * Emptied reads (a hint that saves the read that would only say EAGAIN): for an fd whose reads
 * empty it whenever they come back short (TCP: a short read took all there was), the caller
 * brackets each read with gr_pd_read_begin / gr_pd_read_emptied, and gr_pd_read_known_empty
 * then says whether the last read emptied the fd and none began since. Data that arrived after
 * that read came with an edge of its own, which sets READY or wakes the waiter, so a task that
 * goes straight to gr_pd_wait on the hint never sleeps past data. Except where the stream has a
 * mark that a read stops short of and that no later edge announces: out-of-band data (a TCP
 * read stops at the urgent mark), the end of the stream or an error (a short read can take
 * the last bytes and the FIN; every later read returns at once). An event carrying such a mark
 * (GR_PD_MARK: priority data, peer hang-up, error) turns the hint off for the pd's life; it is
 * noted before the event wakes anyone, and an event not yet seen sets READY when it is.
 *
 * Lifetime: a pd is reference-counted: one reference for the fd table that names it, one per
 * operation in flight. gr_pd_close (the program closes the fd) marks it closing, takes it out
 * of epoll and wakes its waiters with EBADF before the fd number can be reused; it goes back to
 * the cache when the last operation leaves. pds are type-stable (allocated in chunks, never
 * freed), and each incarnation has a new sequence number, carried in epoll's event data: an
 * event for a closed (and maybe reused) fd names an old sequence number and is dropped.
 *
 * The poller is made at start-up (gr_netpoll_init), so that no wait ever needs a new fd. Its
 * fds closed behind the shim's back (a raw system call) are noticed by the next backend call
 * that fails, said on stderr, and made anew, every registered fd watched again; any other
 * backend error but EINTR is fatal (gr_throw): carriers must not spin on a broken poller.
 *
 * Backend contract (netpoll_epoll.c; the only file that knows epoll):
 *   gr_netpoll_backend_init()              make the poller (in a fork child, in place of the
 *                                          parent's); 0 or -errno
 *   gr_netpoll_backend_generation()        how many times the poller's fds were made or
 *                                          moved (gr_netpoll_move_fd)
 *   gr_netpoll_backend_renew()             a call failed: if the poller's fds were lost,
 *                                          make new ones (1; the caller registers every fd
 *                                          again), else 0; or -errno
 *   gr_netpoll_backend_open(fd, pd, seq)   watch fd for read and write readiness, edge-
 *                                          triggered, once for its life; 0 or -errno
 *   gr_netpoll_backend_close(fd)           stop watching fd (before it is closed)
 *   gr_netpoll_backend_poll(delay_ns, max, room)
 *                                          wait up to delay_ns (< 0: no limit; 0: just look)
 *                                          for at most max (≥ 1) events (it may take fewer);
 *                                          room->ready[0..n) gets one {pd, seq, GR_PD_R|
 *                                          GR_PD_W|GR_PD_MARK} per fd, in the order the fds
 *                                          became ready; returns n or -errno
 *   gr_netpoll_backend_break()             make a poll that is waiting return now
 */
#ifndef GR_NETPOLL_H
#define GR_NETPOLL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"

/* the bits of a pd's sequence number a backend must carry in its events */
#define GR_PD_TAG_MASK 0xffffu

#define GR_PD_NIL ((uintptr_t)0)
#define GR_PD_READY ((uintptr_t)1)

enum { GR_PD_R = 1, GR_PD_W = 2, GR_PD_MARK = 4 /* events only: see gr_pd_read_known_empty */ };

/* a task watching a pd for any readiness (poll, select, epoll_wait of the program) */
struct gr_pd_watch {
	struct gr_task *task;
	uint32_t seq; /* the task's wait it ends */
	struct gr_pd_watch *next, *prev;
};

/* cache-line aligned: what an event, a read and a wait touch is in the first line */
struct gr_pd {
	_Alignas(64) gr_lock_t lock;
	int fd;		       /* protected by lock; const while open */
	_Atomic uint32_t seq;  /* incarnation; written under lock, read anywhere */
	int refs;	       /* protected by lock */
	_Atomic uint32_t reads; /* reads begun (gr_pd_read_begin) */
	bool closing;	       /* protected by lock; read without it as a hint */
	bool registered;       /* protected by lock */
	atomic_bool marked;    /* a read may stop short of a mark in the stream (GR_PD_MARK) */
	_Atomic uintptr_t rg, wg;
	_Atomic int rlock, wlock;     /* direction locks: 0 free, 1 held, 2 held with waiters */
	_Atomic uint64_t emptied;     /* stamp of the last read that emptied the fd */
	struct gr_pd_watch *watchers; /* protected by lock */

	struct gr_pd *free_next; /* protected by the cache lock */
};
_Static_assert(offsetof(struct gr_pd, watchers) + sizeof(void *) <= 64,
	       "everything but the cache link fits a pd's first line");

/* A pd for a newly opened fd, holding one reference (the fd table's); NULL if out of memory. */
struct gr_pd *gr_pd_open(int fd);

/* Take a reference for an operation on fd; false if pd no longer stands for fd. */
bool gr_pd_acquire(struct gr_pd *pd, int fd);

/* Drop a reference. */
void gr_pd_release(struct gr_pd *pd);

/* The program is closing pd's fd: stop watching it, wake its waiters, drop the table's ref. */
void gr_pd_close(struct gr_pd *pd);

/*
 * Serialise blocking operations in one direction (mode GR_PD_R or GR_PD_W). 0 if taken at
 * once, 1 if after another task had it (which may have used up a readiness: try the operation
 * before waiting), or -ETIMEDOUT (deadline, CLOCK_MONOTONIC ns, GR_NEVER for none), -EINTR
 * (interruptible and interrupted), -EBADF (closed meanwhile).
 */
int gr_pd_lock(struct gr_pd *pd, int mode, int64_t deadline, bool interruptible);
void gr_pd_unlock(struct gr_pd *pd, int mode);

/*
 * Park the calling task until pd is ready for mode (the caller just got EAGAIN and holds the
 * direction lock). 0: try the operation again; -ETIMEDOUT, -EINTR, -EBADF as above; or a
 * -errno from registering the fd with the poller (EPERM: the fd cannot be polled); the
 * poller out of memory or of watches is fatal.
 */
int gr_pd_wait(struct gr_pd *pd, int mode, int64_t deadline, bool interruptible);

/*
 * Forget a readiness that nobody consumed (READY→NIL), just before the caller looks at the fd
 * itself (the look covers it), so that a gr_pd_wait after a look that found nothing parks
 * instead of returning at once for it. Not a promise that a later readiness is new: the
 * poller can deliver an edge late, after a look that already saw what it announced, so the
 * caller looks again after every wait. The caller holds the direction lock.
 */
void gr_pd_forget_ready(struct gr_pd *pd, int mode);

/*
 * The emptied-read hint (see above). gr_pd_read_begin returns the read's stamp; pass it to
 * gr_pd_read_emptied if the read came back short. pd need not be referenced (a stale pd's
 * stamps never match).
 */
uint64_t gr_pd_read_begin(struct gr_pd *pd);
void gr_pd_read_emptied(struct gr_pd *pd, uint64_t stamp);
bool gr_pd_read_known_empty(struct gr_pd *pd);

/*
 * The program's own multiplexing (poll, select, epoll_wait): any number of tasks may watch a
 * pd at once, each woken (gr_wake(task, seq)) by every readiness edge of the fd and by its
 * close; they then look at the fd themselves. w->task and w->seq are set by the caller
 * (gr_wait_prepare). gr_pd_watch returns 0 or a -errno from registering the fd (EPERM: the fd
 * cannot be polled, such as a regular file, which is always ready anyway).
 */
int gr_pd_watch(struct gr_pd *pd, struct gr_pd_watch *w);
void gr_pd_unwatch(struct gr_pd *pd, struct gr_pd_watch *w);

/*
 * Room for the events of one look (the backend's own format), kept by the caller: a look runs
 * on whatever stack the carrier is on, often a parking task's, which must stay shallow (every
 * byte below its frames is a page it touches for good).
 */
#define GR_NETPOLL_MAX_EVENTS 128
struct gr_netpoll_events {
	_Alignas(8) unsigned char raw[GR_NETPOLL_MAX_EVENTS * 12]; /* the backend's own format */
	struct gr_pd_ready {
		struct gr_pd *pd;
		uint32_t seq;
		int modes;
	} ready[GR_NETPOLL_MAX_EVENTS];
};

/* Scheduler side. */
void gr_netpoll_init(void);   /* at start-up; a poller that cannot be made is fatal */
bool gr_netpoll_active(void); /* some fd has been registered */
/*
 * Look for at most max events for up to delay_ns (see the backend's poll); readies the tasks
 * they wake (gr_wake). Events not taken stay with the backend for the next look.
 */
int gr_netpoll(int64_t delay_ns, int max, struct gr_netpoll_events *room);
void gr_netpoll_break(void);

/* the backend (netpoll_epoll.c) */
int gr_netpoll_backend_init(void);
unsigned gr_netpoll_backend_generation(void);
int gr_netpoll_backend_renew(void);
int gr_netpoll_backend_open(int fd, struct gr_pd *pd, uint32_t seq);
int gr_netpoll_backend_close(int fd);
int gr_netpoll_backend_poll(int64_t delay_ns, int max, struct gr_netpoll_events *room);
void gr_netpoll_backend_break(void);

/* pds in use now: an open fd's, or one an operation still holds (stats, the exit figures) */
size_t gr_pd_in_use(void);

/* The poller's fds now open (epoll, eventfd: hidden fds, hiddenfd.h), into fds; how many. */
int gr_netpoll_fds(int fds[2]);

#endif
