/*
 * io.c — reading and writing managed fds: read, write, readv, writev, recv, recvfrom,
 * recvmsg, recvmmsg, send, sendto, sendmsg, sendmmsg; and shim_io (io.h), which makes any
 * call blocking-without-blocking.
 *
 * Each attempt is non-blocking by itself, whatever mode the fd is in (docs/DESIGN.md, "Non-blocking
 * per call"): sockets get MSG_DONTWAIT (a read on a socket is a recv), pipes and FIFOs
 * preadv2/pwritev2 with RWF_NOWAIT; ttys, eventfd, timerfd, signalfd (and FIFOs that refuse
 * RWF_NOWAIT) a look before the call. Regular files and other fds go to libc, as does a call
 * the shim does not make green (recvmmsg with a timeout, a count out of range): such a call is
 * made inside SHIM_BLOCKING (shim.h), so while it blocks (a disk read) the carrier's other
 * tasks can run elsewhere.
 *
 * Blocking semantics kept on top (each as the kernel does for a blocking fd):
 *  - a write/send/writev/sendmsg on a stream socket or pipe returns when every byte is queued,
 *    or with the count queued so far if an error, timeout or signal comes after some bytes;
 *    a datagram goes whole or not at all;
 *  - MSG_WAITALL on a stream socket waits for every byte (or EOF, error, signal, timeout);
 *  - recvmmsg waits for the first message; sendmmsg sends them all.
 */
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fault.h"
#include "fdtable.h"
#include "io.h"
#include "sys.h"

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

/* ---- the wait loop ---- */

void shim_io_deadline(const struct fd_view *v, struct shim_io *io)
{
	int64_t t = fd_timeout(v, io->mode);

	io->deadline = t ? gr_nanotime() + t : GR_NEVER;
	io->has_timeout = t != 0;
	io->deadline_set = true;
}

static bool may_wait(const struct fd_view *v, const struct shim_io *io)
{
	return !io->nonblock && (io->known_blocking || !fd_prog_nonblock(v));
}

/* one attempt; for a read that can empty the socket, noted in pd's hint (pd may be NULL) */
static ssize_t attempt_once(struct fd_view *v, struct shim_io *io, shim_attempt_fn *attempt,
			    void *arg, struct gr_pd *pd)
{
	uint64_t stamp;
	ssize_t r;

	if (!io->empties_below || !pd)
		return attempt(v, arg);
	stamp = gr_pd_read_begin(pd);
	r = attempt(v, arg);
	if (r > 0 && (size_t)r < io->empties_below)
		gr_pd_read_emptied(pd, stamp);
	return r;
}

static ssize_t io_loop(struct gr_task *self, struct fd_view *v, struct shim_io *io,
		       shim_attempt_fn *attempt, void *arg)
{
	struct gr_pd *peek = io->empties_below ? v->pd_hint : NULL;
	/* known empty: wait first (only a blocking call may; the wait re-checks everything) */
	bool wait_first = peek && gr_pd_read_known_empty(peek) && may_wait(v, io);

	for (;;) {
		ssize_t r = wait_first ? -EAGAIN : attempt_once(v, io, attempt, arg, peek);
		struct gr_pd *pd;
		int err;

		if (!wait_first && (r != -EAGAIN || !may_wait(v, io)))
			return r;
		wait_first = false;
		if (shim_fault_eintr())
			return -EINTR;
		if (!(pd = fd_pd(v)))
			return -ENOMEM;
		if (!io->deadline_set)
			shim_io_deadline(v, io);
		/* interruptible: a signal ends the wait (a cancel acts only if enabled) */
		err = gr_pd_lock(pd, io->mode, io->deadline, true);
		if (err >= 0) {
			/* readiness since the attempt above is in the pd, unless a task that had
			 * the lock before us used it up */
			r = err ? attempt_once(v, io, attempt, arg, pd) : -EAGAIN;
			err = 0;
			while (r == -EAGAIN &&
			       !(err = gr_pd_wait(pd, io->mode, io->deadline, true))) {
				shim_fault_after_wake();
				r = attempt_once(v, io, attempt, arg, pd);
			}
			gr_pd_unlock(pd, io->mode);
		}
		gr_pd_release(pd);
		if (!err)
			return r;
		if (err == -ETIMEDOUT)
			return -EAGAIN;
		if (err != -EINTR)
			return err;
		if (!shim_interrupted(self) || io->has_timeout)
			return -EINTR;
	}
}

ssize_t shim_io(struct fd_view *v, struct shim_io *io, shim_attempt_fn *attempt, void *arg)
{
	struct gr_task *self = gr_current_task();
	ssize_t r = io_loop(self, v, io, attempt, arg);

	/* a signal the call raised (SIGPIPE) came while the task was in greenpoll's code, which
	 * kept it: its handler runs before the call returns, as natively */
	if (atomic_load_explicit(&shim_of(self)->pending_signals, memory_order_relaxed))
		shim_deliver_signals(self);
	return r;
}

/* ---- attempts ---- */

struct xfer {
	void *buf;
	size_t len;
	int flags;
	struct sockaddr *addr; /* recvfrom */
	socklen_t *alen;       /* recvfrom */
	struct msghdr *msg;    /* the others */
};

static ssize_t attempt_recvfrom(struct fd_view *v, void *arg)
{
	struct xfer *x = arg;

	return gr_sys6(SYS_recvfrom, v->fd, (long)x->buf, (long)x->len, x->flags | MSG_DONTWAIT,
		       (long)x->addr, (long)x->alen);
}

static ssize_t attempt_recvmsg(struct fd_view *v, void *arg)
{
	struct xfer *x = arg;

	return gr_sys3(SYS_recvmsg, v->fd, x->msg, x->flags | MSG_DONTWAIT);
}

static ssize_t attempt_sendto(struct fd_view *v, void *arg)
{
	struct xfer *x = arg;

	return gr_sys6(SYS_sendto, v->fd, (long)x->buf, (long)x->len, x->flags | MSG_DONTWAIT, 0,
		       0);
}

static ssize_t attempt_sendmsg(struct fd_view *v, void *arg)
{
	struct xfer *x = arg;

	return gr_sys3(SYS_sendmsg, v->fd, x->msg, x->flags | MSG_DONTWAIT);
}

/*
 * fds that take no per-call non-blocking flag (FIFOs opened by path may refuse RWF_NOWAIT;
 * ttys, eventfd, timerfd, signalfd): look first (poll with no wait), then make the call only
 * when it cannot block: a read when there is something (or EOF), a write of at most PIPE_BUF
 * bytes when there is room (a pipe with a free slot takes that much without waiting).
 */
static bool ready_now(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};

	return gr_sys3(SYS_poll, &p, 1, 0) > 0 && p.revents;
}

static ssize_t attempt_read_when_ready(int fd, struct msghdr *m)
{
	if (!ready_now(fd, POLLIN))
		return -EAGAIN;
	return gr_sys3(SYS_readv, fd, m->msg_iov, m->msg_iovlen);
}

static ssize_t attempt_write_when_ready(int fd, struct msghdr *m)
{
	struct iovec iov[8];
	size_t n = 0, total = 0;

	if (!ready_now(fd, POLLOUT))
		return -EAGAIN;
	for (size_t i = 0; i < m->msg_iovlen && n < 8 && total < PIPE_BUF; i++) {
		iov[n] = m->msg_iov[i];
		if (iov[n].iov_len > PIPE_BUF - total)
			iov[n].iov_len = PIPE_BUF - total;
		total += iov[n++].iov_len;
	}
	return gr_sys3(SYS_writev, fd, iov, n);
}

static ssize_t attempt_preadv(struct fd_view *v, void *arg)
{
	struct xfer *x = arg;
	ssize_t r;

	if (v->kind == FD_POLL)
		return attempt_read_when_ready(v->fd, x->msg);
	r = gr_sys6(SYS_preadv2, v->fd, (long)x->msg->msg_iov, (long)x->msg->msg_iovlen, -1, -1,
		    RWF_NOWAIT);
	if (r != -EOPNOTSUPP)
		return r;
	fd_set_kind(v, FD_POLL);
	return attempt_read_when_ready(v->fd, x->msg);
}

static ssize_t attempt_pwritev(struct fd_view *v, void *arg)
{
	struct xfer *x = arg;
	ssize_t r;

	if (v->kind == FD_POLL)
		return attempt_write_when_ready(v->fd, x->msg);
	r = gr_sys6(SYS_pwritev2, v->fd, (long)x->msg->msg_iov, (long)x->msg->msg_iovlen, -1, -1,
		    RWF_NOWAIT);
	if (r != -EOPNOTSUPP)
		return r;
	fd_set_kind(v, FD_POLL);
	return attempt_write_when_ready(v->fd, x->msg);
}

/* ---- an iovec array that can be advanced past partial transfers ---- */

struct iov_cursor {
	struct iovec *iov;
	int cnt;
	struct iovec *owned; /* a copy, made at the first partial transfer */
};

/* consume n bytes; false if the copy could not be made */
static bool iov_advance(struct iov_cursor *c, size_t n)
{
	if (!c->owned) {
		c->owned = malloc((size_t)c->cnt * sizeof *c->owned);
		if (!c->owned)
			return false;
		memcpy(c->owned, c->iov, (size_t)c->cnt * sizeof *c->owned);
		c->iov = c->owned;
	}
	while (c->cnt && n >= c->iov->iov_len) {
		n -= c->iov->iov_len;
		c->iov++;
		c->cnt--;
	}
	if (c->cnt) {
		c->iov->iov_base = (char *)c->iov->iov_base + n;
		c->iov->iov_len -= n;
	}
	return true;
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/*
 * Move every byte of msg's iovecs (a write, or a MSG_WAITALL read): repeat the attempt on what
 * is left. Returns the bytes moved, or -errno if none were. Ancillary data and the address go
 * with the first attempt only, and what the kernel reports back of them is written to msg.
 */
static ssize_t transfer_all(struct fd_view *v, struct shim_io *io, shim_attempt_fn *attempt,
			    struct xfer *x, bool stop_at_eof)
{
	struct msghdr *msg = x->msg, m = *msg;
	struct iov_cursor c = {.iov = m.msg_iov, .cnt = (int)m.msg_iovlen};
	size_t want = iov_total(m.msg_iov, (int)m.msg_iovlen), done = 0;
	ssize_t r = 0;

	x->msg = &m;
	while (done < want) {
		m.msg_iov = c.iov;
		m.msg_iovlen = (size_t)c.cnt;
		r = shim_io(v, io, attempt, x);
		if (r < 0 || (r == 0 && stop_at_eof))
			break;
		if (!done) {
			msg->msg_namelen = m.msg_namelen;
			msg->msg_controllen = m.msg_controllen;
			m.msg_name = NULL;
			m.msg_namelen = 0;
			m.msg_control = NULL;
			m.msg_controllen = 0;
		}
		msg->msg_flags = m.msg_flags;
		done += (size_t)r;
		if (done < want && !iov_advance(&c, (size_t)r)) {
			r = -ENOMEM;
			break;
		}
	}
	free(c.owned);
	return done ? (ssize_t)done : r;
}

/*
 * A write or send of one buffer on a stream socket (the common case, without the msghdr of
 * transfer_all): every byte, or the count queued before an error, as the kernel does.
 */
static ssize_t stream_send_all(struct fd_view *v, const void *buf, size_t len, int flags)
{
	struct xfer x = {.flags = flags};
	struct shim_io io = {.mode = GR_PD_W, .nonblock = flags & MSG_DONTWAIT};
	size_t done = 0;
	ssize_t r;

	do {
		x.buf = (char *)buf + done;
		x.len = len - done;
		r = shim_io(v, &io, attempt_sendto, &x);
		if (r < 0 || io.nonblock)
			break;
		done += (size_t)r;
	} while (done < len);
	return done ? (ssize_t)done : r;
}

/* ---- which calls are managed ---- */

/* whether the shim makes this call green; if so, *v is the call's view of fd */
static bool managed(int fd, struct fd_view *v)
{
	if (!gr_current_task())
		return false;
	*v = fd_view(fd);
	return fd_managed(v);
}

/* a vector read or write of a managed fd */
static ssize_t rw_vec(struct fd_view *v, const struct iovec *iov, int cnt, bool write, int flags,
		      struct msghdr *msg_in)
{
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
	struct xfer x = {.flags = flags & ~MSG_WAITALL, .msg = msg_in ? msg_in : &m};
	struct shim_io io = {.mode = write ? GR_PD_W : GR_PD_R, .nonblock = flags & MSG_DONTWAIT};
	shim_attempt_fn *attempt;

	if (fd_is_socket(v))
		attempt = write ? attempt_sendmsg : attempt_recvmsg;
	else
		attempt = write ? attempt_pwritev : attempt_preadv;
	if (v->kind != FD_DGRAM && (write || (flags & MSG_WAITALL)) && !io.nonblock)
		return transfer_all(v, &io, attempt, &x, !write);
	return shim_io(v, &io, attempt, &x);
}

/* ---- read side ---- */

GR_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	SHIM_CALLED(read);
	struct fd_view v;
	struct iovec iov = {buf, len};

	if (!managed(fd, &v))
		return SHIM_BLOCKING(REAL(read)(fd, buf, len));
	iov.iov_len = len = shim_fault_len(fd, v.kind, len, false);
	if (fd_is_socket(&v)) {
		struct xfer x = {.buf = buf, .len = len};
		struct shim_io io = {.mode = GR_PD_R};

		if (v.short_read_empties)
			io.empties_below = len;
		return shim_result(shim_io(&v, &io, attempt_recvfrom, &x));
	}
	return shim_result(rw_vec(&v, &iov, 1, false, 0, NULL));
}

GR_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	SHIM_CALLED(readv);
	struct fd_view v;

	if (!managed(fd, &v) || cnt < 0 || cnt > IOV_MAX)
		return SHIM_BLOCKING(REAL(readv)(fd, iov, cnt));
	return shim_result(rw_vec(&v, iov, cnt, false, 0, NULL));
}

GR_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			   socklen_t *alen)
{
	SHIM_CALLED(recvfrom);
	struct fd_view v;
	struct xfer x = {.buf = buf, .len = len, .flags = flags, .addr = addr, .alen = alen};
	struct shim_io io = {.mode = GR_PD_R, .nonblock = flags & MSG_DONTWAIT};

	if (!managed(fd, &v) || !fd_is_socket(&v))
		return SHIM_BLOCKING(REAL(recvfrom)(fd, buf, len, flags, addr, alen));
	if ((flags & MSG_WAITALL) && v.kind == FD_STREAM && !io.nonblock) {
		struct iovec iov = {buf, len};

		return shim_result(rw_vec(&v, &iov, 1, false, flags, NULL));
	}
	x.len = len = shim_fault_len(fd, v.kind, len, false);
	if (v.short_read_empties && !(flags & ~MSG_NOSIGNAL))
		io.empties_below = len;
	return shim_result(shim_io(&v, &io, attempt_recvfrom, &x));
}

GR_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	SHIM_CALLED(recv);
	return recvfrom(fd, buf, len, flags, NULL, NULL);
}

/* _FORTIFY_SOURCE's checked forms, which the headers call instead when the buffer's size is
 * known: a length beyond the buffer goes to libc's, which says so and aborts */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);

GR_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	SHIM_CALLED(__read_chk);
	if (len > buflen)
		return REAL(__read_chk)(fd, buf, len, buflen);
	return read(fd, buf, len);
}

GR_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	SHIM_CALLED(__recv_chk);
	if (len > buflen)
		return REAL(__recv_chk)(fd, buf, len, buflen, flags);
	return recvfrom(fd, buf, len, flags, NULL, NULL);
}

GR_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
				 struct sockaddr *addr, socklen_t *alen)
{
	SHIM_CALLED(__recvfrom_chk);
	if (len > buflen)
		return REAL(__recvfrom_chk)(fd, buf, len, buflen, flags, addr, alen);
	return recvfrom(fd, buf, len, flags, addr, alen);
}

/* fds that arrived in msg (SCM_RIGHTS) are new here, whatever their numbers were before (one
 * closed behind the shim's back may still be remembered as something else) */
static void note_received_fds(const struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
			fd_made(fd, FD_UNKNOWN, FD_SHORT_UNKNOWN);
		}
	}
}

GR_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	SHIM_CALLED(recvmsg);
	struct fd_view v;
	ssize_t r;

	if (!managed(fd, &v) || !fd_is_socket(&v))
		r = SHIM_BLOCKING(REAL(recvmsg)(fd, msg, flags));
	else
		r = shim_result(rw_vec(&v, msg->msg_iov, (int)msg->msg_iovlen, false, flags, msg));
	if (r >= 0 && msg->msg_controllen)
		note_received_fds(msg);
	return r;
}

struct mmsg {
	struct mmsghdr *vec;
	unsigned int n;
	int flags;
};

static ssize_t attempt_recvmmsg(struct fd_view *v, void *arg)
{
	struct mmsg *m = arg;

	return gr_sys6(SYS_recvmmsg, v->fd, (long)m->vec, m->n, m->flags | MSG_DONTWAIT, 0, 0);
}

static ssize_t attempt_sendmmsg(struct fd_view *v, void *arg)
{
	struct mmsg *m = arg;

	return gr_sys4(SYS_sendmmsg, v->fd, m->vec, m->n, m->flags | MSG_DONTWAIT);
}

GR_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags,
		       struct timespec *timeout)
{
	SHIM_CALLED(recvmmsg);
	struct fd_view v;
	struct mmsg m = {vec, n, flags};
	struct shim_io io = {.mode = GR_PD_R, .nonblock = flags & MSG_DONTWAIT};
	int r;

	/* with a timeout, or MSG_WAITFORONE semantics beyond the first message: libc */
	if (!managed(fd, &v) || !fd_is_socket(&v) || timeout)
		r = SHIM_BLOCKING(REAL(recvmmsg)(fd, vec, n, flags, timeout));
	else
		r = (int)shim_result(shim_io(&v, &io, attempt_recvmmsg, &m));
	for (int i = 0; i < r; i++)
		if (vec[i].msg_hdr.msg_controllen)
			note_received_fds(&vec[i].msg_hdr);
	return r;
}

/* ---- write side ---- */

GR_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	SHIM_CALLED(write);
	struct fd_view v;
	struct iovec iov = {(void *)buf, len};

	if (!managed(fd, &v))
		return SHIM_BLOCKING(REAL(write)(fd, buf, len));
	iov.iov_len = len = shim_fault_len(fd, v.kind, len, true);
	if (v.kind == FD_STREAM)
		return shim_result(stream_send_all(&v, buf, len, 0));
	return shim_result(rw_vec(&v, &iov, 1, true, 0, NULL));
}

GR_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	SHIM_CALLED(writev);
	struct fd_view v;

	if (!managed(fd, &v) || cnt < 0 || cnt > IOV_MAX)
		return SHIM_BLOCKING(REAL(writev)(fd, iov, cnt));
	return shim_result(rw_vec(&v, iov, cnt, true, 0, NULL));
}

GR_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *addr, socklen_t alen)
{
	SHIM_CALLED(sendto);
	struct fd_view v;
	struct iovec iov = {(void *)buf, len};
	struct msghdr m = {.msg_name = (void *)addr, .msg_namelen = alen, .msg_iov = &iov,
			   .msg_iovlen = 1};

	if (!managed(fd, &v) || !fd_is_socket(&v))
		return SHIM_BLOCKING(REAL(sendto)(fd, buf, len, flags, addr, alen));
	if (v.kind == FD_STREAM && !addr) {
		len = shim_fault_len(fd, v.kind, len, true);
		return shim_result(stream_send_all(&v, buf, len, flags));
	}
	return shim_result(rw_vec(&v, &iov, 1, true, flags, &m));
}

GR_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	SHIM_CALLED(send);
	return sendto(fd, buf, len, flags, NULL, 0);
}

GR_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	SHIM_CALLED(sendmsg);
	struct fd_view v;

	if (!managed(fd, &v) || !fd_is_socket(&v))
		return SHIM_BLOCKING(REAL(sendmsg)(fd, msg, flags));
	return shim_result(rw_vec(&v, msg->msg_iov, (int)msg->msg_iovlen, true, flags,
				  (struct msghdr *)msg));
}

GR_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	SHIM_CALLED(sendmmsg);
	struct fd_view v;
	unsigned int sent = 0;
	struct shim_io io = {.mode = GR_PD_W, .nonblock = flags & MSG_DONTWAIT};

	if (!managed(fd, &v) || !fd_is_socket(&v))
		return SHIM_BLOCKING(REAL(sendmmsg)(fd, vec, n, flags));
	if (v.kind == FD_STREAM && !io.nonblock) {
		/* a blocking stream socket sends each message whole, one after the other */
		for (; sent < n; sent++) {
			struct msghdr *h = &vec[sent].msg_hdr;
			ssize_t r = rw_vec(&v, h->msg_iov, (int)h->msg_iovlen, true, flags, h);

			if (r < 0)
				return sent ? (int)sent : (int)shim_result(r);
			vec[sent].msg_len = (unsigned int)r;
		}
		return (int)sent;
	}
	while (sent < n) {
		struct mmsg m = {vec + sent, n - sent, flags};
		ssize_t r = shim_io(&v, &io, attempt_sendmmsg, &m);

		if (r < 0)
			return sent ? (int)sent : (int)shim_result(r);
		sent += (unsigned int)r;
		if (io.nonblock)
			break;
	}
	return (int)sent;
}
