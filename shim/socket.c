/*
 * socket.c — the socket calls that wait for a peer: listen, accept, accept4, connect; and the
 * copies between fds: sendfile, splice.
 *
 * accept has no per-call non-blocking form (accept4's SOCK_NONBLOCK is for the new socket),
 * and O_NONBLOCK on the listener's open file description would be seen by everything that
 * shares it (docs/DESIGN.md, "Non-blocking per call"; invariant 8): a child exec'd with the
 * listener, shimmed or not, would find it non-blocking and its blocking accept failing with
 * EAGAIN, and restoring the mode for the child would take it from this process too (one
 * description, one flag). So the shim never changes a listener's mode, and makes a blocking
 * accept green without it: under the fd's read lock (gr_pd_lock: no two tasks of the process
 * race for one connection), the task looks (poll, no wait) whether a connection is queued; if
 * one is, accept4 takes it at once; if none is, the task parks on the pd until the listener's
 * next readiness edge and looks again. gr_pd_forget_ready before each look drops a readiness
 * the look itself covers, so that one costs no second look. The price is the look: one
 * system call more per accept than an accept4 on a non-blocking listener (which said EAGAIN
 * where the look says "none"): 2 instead of 1 with a connection queued, 3 instead of 2 for an
 * accept that waits. (Accepting right after the wake-up, without the second look, is not
 * sound: an edge can reach the pd after a look that already saw its connection, the poller
 * harvesting it late, and the accept4 would then wait in the kernel.)
 *
 * Only another process accepting on the same listener can take a connection between the look
 * and the accept4; the accept4 then waits in the kernel for the next one, as it would
 * natively, inside SHIM_BLOCKING (shim.h), so the monitor hands the carrier's other tasks to
 * a spare. With nothing queued for ACCEPT_ASK_ROOM_NS, the task asks whether the process has
 * an fd number left: a blocking accept natively fails with EMFILE before it waits, the kernel
 * taking the number first (asked after a while, not before every park: a table that is full
 * gives the same answer then, and the call could natively have been that late).
 *
 * Rejected: O_NONBLOCK on the listener, cleared before an exec as exec.c does for a connect
 * (the description is this process's too: its accepts would wait in the kernel from then on
 * unless they looked first, which is this design with the flag besides; a shimmed child would
 * set it again for the next image; a process that received the listener over a Unix socket
 * sees the flag, and no exec of ours is there to clear it); accept on an OS thread of its
 * own (a thread switch per accept); io_uring's accept with IORING_ACCEPT_DONTWAIT (one call,
 * but Linux 6.10 or later, a ring per carrier to hide from the program, often forbidden by
 * seccomp, and this design still needed as the fallback). A listener the program made
 * non-blocking itself, and an accept on a socket that is not listening (an error at once), get
 * one accept4, bracketed too since another process may change the description's mode.
 *
 * A blocking connect has no per-call non-blocking form either: the socket is non-blocking
 * while the connection is in progress (the task parks until it is writable; SO_ERROR is then
 * the result, SO_SNDTIMEO the time limit: EINPROGRESS when it passes, as the kernel answers)
 * and blocking again when connect returns. An exec meanwhile (exec.c) gives it its blocking
 * mode back first, the fd table marking it (fd_before_exec); the wait for writability needs
 * no O_NONBLOCK. If that lands between the F_SETFL and the connect call, the connect waits in
 * the kernel, which the monitor sees as any call it cannot (invariant 5); one not bracketed,
 * since a loopback connect does the whole handshake in the call and would often outlast the
 * bracket's grace.
 *
 * sendfile to a blocking socket or pipe is done as reads of the source and blocking writes of
 * the shim (no per-call non-blocking sendfile exists either); the result, the offset and the
 * source's file position are what sendfile gives. splice waits on whichever side is not ready.
 * Unix-domain connects go to libc (they complete at once unless the listener's backlog is
 * full). What goes to libc here (those connects, a sendfile or splice the shim does not make
 * green, sendfile's reads of its source file) is made inside SHIM_BLOCKING (shim.h), so while
 * it blocks the carrier's other tasks run elsewhere.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "fault.h"
#include "fdtable.h"
#include "io.h"
#include "sys.h"

#define SENDFILE_CHUNK (64 * 1024)
#define ACCEPT_ASK_ROOM_NS 1000000 /* nothing queued this long: ask fd_table_full */

GR_EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	SHIM_CALLED(setsockopt);
	int r = REAL(setsockopt)(fd, level, opt, val, len);

	if (r == 0 && level == SOL_SOCKET &&
	    (opt == SO_RCVTIMEO_OLD || opt == SO_SNDTIMEO_OLD || opt == SO_RCVTIMEO_NEW ||
	     opt == SO_SNDTIMEO_NEW))
		fd_mode_changed();
	if (r == 0 && level == IPPROTO_TCP && opt == TCP_ULP)
		fd_set_short_reads(fd, FD_SHORT_MAYBE);
	return r;
}

GR_EXPORT int listen(int fd, int backlog)
{
	SHIM_CALLED(listen);
	int r = REAL(listen)(fd, backlog);

	if (r == 0)
		fd_set_listening(fd);
	return r;
}

struct accept_args {
	struct sockaddr *addr;
	socklen_t *len;
	int flags;
};

static bool ready_now(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};

	return gr_sys3(SYS_poll, &p, 1, 0) > 0 && p.revents;
}

/* accept4 as the description's mode has it; it waits in the kernel only if that mode is
 * blocking and the queue is empty, hence the bracket */
static ssize_t accept_now(int fd, struct accept_args *a)
{
	return SHIM_BLOCKING_AS("accept", gr_sys4(SYS_accept4, fd, a->addr, a->len, a->flags));
}

/*
 * Whether the process has no fd number left (RLIMIT_NOFILE). An openat that cannot succeed
 * (dirfd -1) says so without opening anything: the kernel takes a number for the new file
 * (EMFILE) before it looks at dirfd (EBADF).
 */
static bool fd_table_full(void)
{
	return gr_sys4(SYS_openat, -1, ".", O_RDONLY | O_CLOEXEC, 0) == -EMFILE;
}

/*
 * A blocking accept on a listener, holding pd's read lock (see the top): 0 with *result set
 * (a connection, or accept4's error), or the wait's -errno.
 */
static int accept_locked(int fd, struct gr_pd *pd, struct accept_args *a, int64_t deadline,
			 ssize_t *result)
{
	int64_t ask_room_at = 0; /* 0: not waited yet; GR_NEVER: asked */

	for (;;) {
		int64_t until = deadline;
		int err;

		gr_pd_forget_ready(pd, GR_PD_R);
		if (ready_now(fd, POLLIN)) {
			ssize_t r = accept_now(fd, a);

			if (r != -EAGAIN) { /* (EAGAIN: another process made it non-blocking) */
				*result = r;
				return 0;
			}
		}
		if (!ask_room_at) {
			ask_room_at = gr_nanotime() + ACCEPT_ASK_ROOM_NS;
		} else if (ask_room_at != GR_NEVER && gr_nanotime() >= ask_room_at) {
			ask_room_at = GR_NEVER;
			if (fd_table_full()) {
				*result = -EMFILE;
				return 0;
			}
		}
		if (ask_room_at < until)
			until = ask_room_at;
		if (shim_fault_eintr()) {
			*result = -EINTR;
			return 0;
		}
		err = gr_pd_wait(pd, GR_PD_R, until, true);
		if (err && !(err == -ETIMEDOUT && until < deadline))
			return err;
		if (!err)
			shim_fault_after_wake();
	}
}

/* a blocking accept on a listener: accept_locked, with SO_RCVTIMEO, signals and restarts */
static ssize_t accept_wait(const struct fd_view *v, struct accept_args *a)
{
	struct gr_task *self = gr_current_task();
	int64_t timeout = fd_timeout(v, GR_PD_R);
	int64_t deadline = timeout ? gr_nanotime() + timeout : GR_NEVER;
	struct gr_pd *pd = fd_pd(v);
	ssize_t r = 0;
	int err;

	if (!pd)
		return -ENOMEM;
	do {
		err = gr_pd_lock(pd, GR_PD_R, deadline, true);
		if (err >= 0) {
			err = accept_locked(v->fd, pd, a, deadline, &r);
			gr_pd_unlock(pd, GR_PD_R);
		}
		/* a signal's handler runs; the call restarts only under SA_RESTART without a
		 * timeout, as the kernel does */
	} while (err == -EINTR && shim_interrupted(self) && !timeout);
	gr_pd_release(pd);
	if (err)
		return err == -ETIMEDOUT ? -EAGAIN : err;
	return r;
}

GR_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	SHIM_CALLED(accept4);
	struct accept_args a = {addr, len, flags};
	struct fd_view v;
	ssize_t r;

	if (!gr_current_task() || (v = fd_view(fd)).kind != FD_STREAM)
		return REAL(accept4)(fd, addr, len, flags);
	/* non-blocking (the program's own O_NONBLOCK), or not a listener (an error at once) */
	if (fd_prog_nonblock(&v) || !fd_listening(&v))
		r = accept_now(fd, &a);
	else
		r = accept_wait(&v, &a);
	if (r >= 0) {
		gr_stat_add(gr_stat_here(), GR_STAT_ACCEPTS, 1);
		/* same protocol as the listener: asked once for all its connections */
		fd_made((int)r, FD_STREAM,
			v.short_read_empties ? FD_SHORT_EMPTIED : FD_SHORT_MAYBE);
	}
	return (int)shim_result(r);
}

GR_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	SHIM_CALLED(accept);
	if (!gr_current_task())
		return REAL(accept)(fd, addr, len);
	return accept4(fd, addr, len, 0);
}

/* the outcome of a connect in progress: 0, -errno, or -EAGAIN while it is still going */
static ssize_t attempt_connected(struct fd_view *v, void *arg)
{
	int fd = v->fd, soerr = 0;
	socklen_t len = sizeof soerr;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	(void)arg;

	if (gr_sys6(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, (long)&soerr, (long)&len, 0) == 0 &&
	    soerr)
		return -soerr;
	if (gr_sys3(SYS_getpeername, fd, &peer, &plen) == 0)
		return 0;
	return -EAGAIN;
}

GR_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	SHIM_CALLED(connect);
	struct shim_io io = {.mode = GR_PD_W, .known_blocking = true};
	struct fd_view v;
	long fl;
	ssize_t r;

	if (!gr_current_task() || (v = fd_view(fd)).kind != FD_STREAM ||
	    addr->sa_family == AF_UNIX || fd_prog_nonblock(&v))
		return SHIM_BLOCKING(REAL(connect)(fd, addr, len));
	fl = gr_sys2(SYS_fcntl, fd, F_GETFL);
	if (fl < 0)
		return SHIM_BLOCKING(REAL(connect)(fd, addr, len));
	/* SO_SNDTIMEO now, from the call's start as the kernel counts it: read later, with the
	 * shim's O_NONBLOCK set, the fd table would take that mode for the program's if any
	 * cached mode had gone stale meanwhile (fd_mode_changed), and a blocking read after the
	 * connect would then say EAGAIN */
	shim_io_deadline(&v, &io);
	fd_set_connecting(&v, true);
	gr_sys3(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
	r = gr_sys3(SYS_connect, fd, addr, len);
	if (r == -EINPROGRESS || r == -EALREADY) {
		/* a blocking connect waits for the outcome, also when repeated while one is in
		 * progress; when SO_SNDTIMEO passes first it gives what the kernel gives */
		ssize_t pending = r;

		r = shim_io(&v, &io, attempt_connected, NULL);
		if (r == -EAGAIN)
			r = pending;
	}
	gr_sys3(SYS_fcntl, fd, F_SETFL, fl);
	fd_set_connecting(&v, false);
	return (int)shim_result(r);
}

/* ---- sendfile ---- */

GR_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
	SHIM_CALLED(sendfile);
	struct fd_view v = fd_view(out);
	char *buf;
	size_t total = 0;
	ssize_t err = 0;

	if (!gr_current_task() || !fd_managed(&v) || v.kind == FD_DGRAM || fd_prog_nonblock(&v))
		return SHIM_BLOCKING(REAL(sendfile)(out, in, offset, count));
	if (!(buf = malloc(SENDFILE_CHUNK)))
		return SHIM_BLOCKING(REAL(sendfile)(out, in, offset, count));
	while (total < count) {
		size_t n = count - total < SENDFILE_CHUNK ? count - total : SENDFILE_CHUNK;
		ssize_t got = offset ? pread(in, buf, n, *offset + (off_t)total)
				     : SHIM_BLOCKING(REAL(read)(in, buf, n));
		ssize_t put;

		if (got <= 0) {
			err = got < 0 ? -errno : 0;
			break;
		}
		put = write(out, buf, (size_t)got);
		if (put < got) {
			/* what was read but not sent goes back to the source */
			size_t sent = put > 0 ? (size_t)put : 0;

			if (!offset)
				lseek(in, -(off_t)((size_t)got - sent), SEEK_CUR);
			total += sent;
			err = put < 0 ? -errno : 0;
			break;
		}
		total += (size_t)got;
	}
	free(buf);
	if (offset)
		*offset += (off_t)total;
	return total ? (ssize_t)total : shim_result(err);
}

/* ---- splice ---- */

struct splice_args {
	struct fd_view in, out;
	loff_t *off_in, *off_out;
	size_t len;
	unsigned int flags;
	ssize_t result;
};

/*
 * SPLICE_F_NONBLOCK keeps splice from waiting on a pipe, not on a blocking socket: splice only
 * when a socket side is ready (readable; writable, and then at most what its send buffer has
 * room for). 1 when done (result in s->result), 0 not yet, -errno.
 */
static int splice_look(void *arg)
{
	struct splice_args *s = arg;
	size_t len = s->len;
	ssize_t r;

	if (fd_is_socket(&s->in) && !ready_now(s->in.fd, POLLIN))
		return 0;
	if (fd_is_socket(&s->out)) {
		int sndbuf = 0, queued = 0;
		socklen_t sl = sizeof sndbuf;

		if (!ready_now(s->out.fd, POLLOUT))
			return 0;
		if (gr_sys6(SYS_getsockopt, s->out.fd, SOL_SOCKET, SO_SNDBUF, (long)&sndbuf,
			    (long)&sl, 0) == 0 &&
		    gr_sys3(SYS_ioctl, s->out.fd, SIOCOUTQ, &queued) == 0 && sndbuf > 2 * queued) {
			size_t room = (size_t)(sndbuf / 2 - queued);

			if (len > room)
				len = room > 4096 ? room : 4096;
		}
	}
	r = gr_sys6(SYS_splice, s->in.fd, (long)s->off_in, s->out.fd, (long)s->off_out,
		    (long)len, s->flags | SPLICE_F_NONBLOCK);
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return (int)r;
	s->result = r;
	return 1;
}

GR_EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len,
			 unsigned int flags)
{
	SHIM_CALLED(splice);
	struct splice_args s = {fd_view(in), fd_view(out), off_in, off_out, len, flags, 0};
	int fds[2] = {in, out}, r;

	if (!gr_current_task() || (!fd_managed(&s.in) && !fd_managed(&s.out)) ||
	    (flags & SPLICE_F_NONBLOCK) || fd_prog_nonblock(&s.in) || fd_prog_nonblock(&s.out))
		return SHIM_BLOCKING(REAL(splice)(in, off_in, out, off_out, len, flags));
	r = shim_wait_any(fds, 2, splice_look, &s, GR_NEVER);
	return r > 0 ? s.result : shim_result(r);
}
