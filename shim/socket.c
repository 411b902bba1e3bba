/*
 * socket.c — the socket calls that wait for a peer: listen, accept, accept4, connect; and the
 * copies between fds: sendfile, splice.
 *
 * accept has no per-call non-blocking form, so the shim puts a listening socket's open file
 * description in O_NONBLOCK (at listen, or at the first accept of a listener it inherited) and
 * keeps the mode the program set for it to see (fd.c). A blocking connect has none either: the
 * socket is non-blocking while the connection is in progress (the task parks until it is
 * writable; SO_ERROR is then the result, SO_SNDTIMEO the time limit: EINPROGRESS when it
 * passes, as the kernel answers) and blocking again when connect returns.
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

#include "fdtable.h"
#include "io.h"
#include "sys.h"

#define SENDFILE_CHUNK (64 * 1024)

/* Make fd's open file description non-blocking for accept, remembering the program's mode. */
static void make_listener(int fd)
{
	struct fd_entry *e = fd_entry(fd);
	struct listener *l, *none = NULL;
	long fl;

	if (!e || atomic_load(&e->listener))
		return;
	fl = gr_sys2(SYS_fcntl, fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		return; /* the program made it non-blocking itself */
	if (!(l = calloc(1, sizeof *l)))
		return;
	atomic_store(&l->refs, 1);
	if (!atomic_compare_exchange_strong(&e->listener, &none, l)) {
		free(l);
		return;
	}
	gr_sys3(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
}

GR_EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
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
	int r = REAL(listen)(fd, backlog);

	if (r == 0 && gr_current_task())
		make_listener(fd);
	return r;
}

struct accept_args {
	struct sockaddr *addr;
	socklen_t *len;
	int flags;
};

static ssize_t attempt_accept(int fd, void *arg)
{
	struct accept_args *a = arg;

	return gr_sys4(SYS_accept4, fd, a->addr, a->len, a->flags);
}

GR_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct accept_args a = {addr, len, flags};
	struct shim_io io = {.mode = GR_PD_R};
	ssize_t r;

	if (!gr_current_task() || fd_kind(fd) != FD_STREAM)
		return REAL(accept4)(fd, addr, len, flags);
	make_listener(fd);
	r = shim_io(fd, &io, attempt_accept, &a);
	if (r >= 0) {
		fd_forget((int)r);
		fd_set_kind((int)r, FD_STREAM);
		/* same protocol as the listener: asked once for all its connections */
		fd_set_short_reads((int)r, fd_short_read_empties(fd) ? FD_SHORT_EMPTIED
								    : FD_SHORT_MAYBE);
	}
	return (int)shim_result(r);
}

GR_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (!gr_current_task())
		return REAL(accept)(fd, addr, len);
	return accept4(fd, addr, len, 0);
}

/* the outcome of a connect in progress: 0, -errno, or -EAGAIN while it is still going */
static ssize_t attempt_connected(int fd, void *arg)
{
	int soerr = 0;
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
	struct shim_io io = {.mode = GR_PD_W};
	long fl;
	ssize_t r;

	if (!gr_current_task() || fd_kind(fd) != FD_STREAM || addr->sa_family == AF_UNIX ||
	    fd_prog_nonblock(fd))
		return SHIM_BLOCKING(REAL(connect)(fd, addr, len));
	fl = gr_sys2(SYS_fcntl, fd, F_GETFL);
	if (fl < 0)
		return SHIM_BLOCKING(REAL(connect)(fd, addr, len));
	gr_sys3(SYS_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
	r = gr_sys3(SYS_connect, fd, addr, len);
	if (r == -EINPROGRESS || r == -EALREADY) {
		/* a blocking connect waits for the outcome, also when repeated while one is in
		 * progress; when SO_SNDTIMEO passes first it gives what the kernel gives */
		ssize_t pending = r;

		io.known_blocking = true;
		r = shim_io(fd, &io, attempt_connected, NULL);
		if (r == -EAGAIN)
			r = pending;
	}
	gr_sys3(SYS_fcntl, fd, F_SETFL, fl);
	return (int)shim_result(r);
}

/* ---- sendfile ---- */

GR_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
	enum fd_kind k = fd_kind(out);
	char *buf;
	size_t total = 0;
	ssize_t err = 0;

	if (!gr_current_task() || (k != FD_STREAM && k != FD_PIPE && k != FD_POLL) ||
	    fd_prog_nonblock(out))
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
	int in, out;
	loff_t *off_in, *off_out;
	size_t len;
	unsigned int flags;
	ssize_t result;
};

static bool is_managed(int fd)
{
	enum fd_kind k = fd_kind(fd);

	return k == FD_STREAM || k == FD_DGRAM || k == FD_PIPE || k == FD_POLL;
}

static bool is_socket(int fd)
{
	enum fd_kind k = fd_kind(fd);

	return k == FD_STREAM || k == FD_DGRAM;
}

static bool ready_now(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};

	return gr_sys3(SYS_poll, &p, 1, 0) > 0 && p.revents;
}

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

	if (is_socket(s->in) && !ready_now(s->in, POLLIN))
		return 0;
	if (is_socket(s->out)) {
		int sndbuf = 0, queued = 0;
		socklen_t sl = sizeof sndbuf;

		if (!ready_now(s->out, POLLOUT))
			return 0;
		if (gr_sys6(SYS_getsockopt, s->out, SOL_SOCKET, SO_SNDBUF, (long)&sndbuf, (long)&sl,
			    0) == 0 &&
		    gr_sys3(SYS_ioctl, s->out, SIOCOUTQ, &queued) == 0 && sndbuf > 2 * queued) {
			size_t room = (size_t)(sndbuf / 2 - queued);

			if (len > room)
				len = room > 4096 ? room : 4096;
		}
	}
	r = gr_sys6(SYS_splice, s->in, (long)s->off_in, s->out, (long)s->off_out, (long)len,
		    s->flags | SPLICE_F_NONBLOCK);
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
	struct splice_args s = {in, out, off_in, off_out, len, flags, 0};
	int fds[2] = {in, out}, r;

	if (!gr_current_task() || (!is_managed(in) && !is_managed(out)) ||
	    (flags & SPLICE_F_NONBLOCK) || fd_prog_nonblock(in) || fd_prog_nonblock(out))
		return SHIM_BLOCKING(REAL(splice)(in, off_in, out, off_out, len, flags));
	r = shim_wait_any(fds, 2, splice_look, &s, GR_NEVER);
	return r > 0 ? s.result : shim_result(r);
}
