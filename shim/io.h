/*
 * io.h — the one way the shim makes a blocking call on a managed fd without blocking the
 * carrier.
 *
 * attempt(v, arg) makes the call on the fd of view v (fdtable.h) without waiting (MSG_DONTWAIT,
 * RWF_NOWAIT, an fd the shim made non-blocking) and returns its result or -errno. shim_io runs
 * it; while it says -EAGAIN and the program would have waited, it parks the task on the fd's
 * poll descriptor for `mode` and tries again: the program sees a blocking call. Through the
 * view it asks for the program's mode at each -EAGAIN that could end the call, for the
 * timeout at the first wait, and for the poll descriptor when it must wait (a restart after
 * a signal takes it again: the handler may have closed or replaced the fd). What it keeps:
 *  - a program that made the fd non-blocking gets EAGAIN at once, as before;
 *  - SO_RCVTIMEO / SO_SNDTIMEO (read at the first wait, or before by shim_io_deadline) end
 *    the wait with EAGAIN;
 *  - a signal sent to the task (pthread_kill) runs its handler and ends the call with EINTR,
 *    or restarts it if the handler has SA_RESTART and no timeout is set, as the kernel does;
 *  - a cancel ends the task (these calls are cancellation points);
 *  - the fd closed meanwhile gives EBADF.
 * Several tasks blocked on one fd in one direction wait their turn (gr_pd_lock).
 * A plain read of a TCP socket that came back short emptied it: the next blocking read goes
 * straight to the wait (whose edge-or-READY protocol never sleeps past data) instead of making
 * a call that would only say EAGAIN, as a hand-written edge-triggered epoll loop does.
 */
#ifndef GR_IO_H
#define GR_IO_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdtable.h"
#include "netpoll.h"

typedef ssize_t shim_attempt_fn(struct fd_view *v, void *arg);

struct shim_io {
	int mode;		  /* GR_PD_R or GR_PD_W */
	bool nonblock;		  /* this call must not wait (MSG_DONTWAIT, O_NONBLOCK) */
	bool known_blocking;	  /* the caller knows the program's mode is blocking */
	bool deadline_set;	  /* deadline read from the socket's timeout (at the first wait) */
	int64_t deadline;	  /* GR_NEVER, or when the socket's timeout ends the call */
	bool has_timeout;	  /* a socket timeout applies (signals then never restart) */
	size_t empties_below;	  /* a TCP read of this many bytes: fewer emptied the socket,
				   * so the next read may wait first (gr_pd_read_known_empty) */
};

/* Run attempt as a blocking call on v's fd; returns its result or -errno. */
ssize_t shim_io(struct fd_view *v, struct shim_io *io, shim_attempt_fn *attempt, void *arg);

/* Take the call's deadline from the socket's timeout now, not at its first wait (connect:
 * before the shim makes the socket non-blocking, so the view reads the program's mode). */
void shim_io_deadline(const struct fd_view *v, struct shim_io *io);

/* Set errno from a -errno result; -1 for errors, the result otherwise. */
static inline ssize_t shim_result(ssize_t r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#endif
