/*
 * fd.c — fds coming and going: socket, socketpair, pipe, pipe2, close, dup, dup2, dup3,
 * fclose, pclose; and the file status flags the program sees: fcntl, ioctl(FIONBIO).
 *
 * greenpoll's own fds (the poller's epoll fd and eventfd, the control channel's: hiddenfd.h)
 * are not the program's: closing one
 * gives EBADF as for an fd that is not open, close_range and closefrom skip them, dup2/dup3 onto
 * one first moves greenpoll's out of the way, and dup of one is refused with EBADF (a daemon
 * closing every fd, or redirecting onto low numbers, keeps a working greenpoll). libc's
 * syscall() with SYS_close, SYS_close_range, SYS_dup2 or SYS_dup3 takes the same paths
 * (shim_fd_syscall).
 *
 * Every call that makes an fd number refer to something new resets the shim's entry for it
 * (an fd closed behind the shim's back leaves a stale one). close, dup2 and dup3 over an open
 * fd, fclose and pclose first wake the tasks parked on it, with EBADF, and stop watching it:
 * before the number can be reused.
 *
 * O_NONBLOCK: the shim sets it on an open file description only while a blocking connect is
 * in progress (socket.c); listeners keep the program's mode (socket.c says why). So F_GETFL,
 * F_SETFL and FIONBIO go to the kernel; a change of mode drops the fd table's cached modes
 * (fd_mode_changed). Every other fcntl command passes through untouched; those that wait for
 * a record lock (F_SETLKW, F_SETLKW64, F_OFD_SETLKW) inside SHIM_BLOCKING (shim.h), so the
 * carrier's other tasks run elsewhere meanwhile.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <limits.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtable.h"
#include "hiddenfd.h"
#include "sys.h"

static enum fd_kind kind_of_socket_type(int type)
{
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	return type == SOCK_DGRAM || type == SOCK_RAW ? FD_DGRAM : FD_STREAM;
}

GR_EXPORT int socket(int domain, int type, int protocol)
{
	SHIM_CALLED(socket);
	int fd = REAL(socket)(domain, type, protocol);

	if (fd >= 0) {
		bool tcp = (domain == AF_INET || domain == AF_INET6) &&
			   (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
			   (protocol == 0 || protocol == IPPROTO_TCP);

		fd_made(fd, kind_of_socket_type(type), tcp ? FD_SHORT_EMPTIED : FD_SHORT_MAYBE);
	}
	return fd;
}

GR_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	SHIM_CALLED(socketpair);
	int r = REAL(socketpair)(domain, type, protocol, sv);

	if (r == 0) {
		for (int i = 0; i < 2; i++) /* never TCP */
			fd_made(sv[i], kind_of_socket_type(type), FD_SHORT_MAYBE);
	}
	return r;
}

/* the OS thread whose pipes are now a library's that greenpoll uses; 0: none */
static _Atomic long hiding_tid;

void shim_hide_library_fds(void (*init)(void))
{
	atomic_store(&hiding_tid, gr_sys0(SYS_gettid));
	init();
	atomic_store(&hiding_tid, 0);
}

static bool hiding(void)
{
	long tid = atomic_load_explicit(&hiding_tid, memory_order_relaxed);

	return tid && tid == gr_sys0(SYS_gettid);
}

GR_EXPORT int pipe2(int fds[2], int flags)
{
	SHIM_CALLED(pipe2);
	int r = REAL(pipe2)(fds, flags);

	if (r == 0 && hiding()) {
		/* the library keeps the numbers in fds, which the registry updates if they move
		 * (an _Atomic int is an int here) */
		for (int i = 0; i < 2; i++) {
			fds[i] = gr_hiddenfd_place_high(fds[i]);
			gr_hiddenfd_register((_Atomic int *)&fds[i]);
		}
	} else if (r == 0) {
		fd_made(fds[0], FD_PIPE, FD_SHORT_UNKNOWN);
		fd_made(fds[1], FD_PIPE, FD_SHORT_UNKNOWN);
	}
	return r;
}

GR_EXPORT int pipe(int fds[2])
{
	SHIM_CALLED(pipe);
	return pipe2(fds, 0);
}

GR_EXPORT int close(int fd)
{
	SHIM_CALLED(close);
	if (gr_hiddenfd_owns(fd)) {
		errno = EBADF; /* not the program's: to it, no such fd is open */
		return -1;
	}
	fd_forget(fd);
	return REAL(close)(fd);
}

/* close_range and closefrom: every fd in the range but greenpoll's own */
static int close_span(unsigned int first, unsigned int last, int flags)
{
	if (first > last)
		return 0;
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		fd_forget_range(first, last);
	return REAL(close_range)(first, last, flags);
}

GR_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	SHIM_CALLED(close_range);
	int own[GR_HIDDENFD_MAX], n = gr_hiddenfd_list(own);

	for (int i = 0; i < n; i++) {
		unsigned int fd = (unsigned int)own[i];

		if (fd < first || fd > last)
			continue;
		if (fd > first && close_span(first, fd - 1, flags) != 0)
			return -1;
		if (fd == last)
			return 0;
		first = fd + 1;
	}
	return close_span(first, last, flags);
}

GR_EXPORT void closefrom(int lowfd)
{
	SHIM_CALLED(closefrom);
	close_range(lowfd < 0 ? 0 : (unsigned int)lowfd, ~0u, 0);
}

bool shim_fd_syscall(long number, const long a[6], long *result)
{
	switch (number) {
	case SYS_close:
		*result = close((int)a[0]);
		return true;
	case SYS_close_range:
		*result = close_range((unsigned int)a[0], (unsigned int)a[1], (int)a[2]);
		return true;
	case SYS_dup2:
		*result = dup2((int)a[0], (int)a[1]);
		return true;
	case SYS_dup3:
		*result = dup3((int)a[0], (int)a[1], (int)a[2]);
		return true;
	default:
		return false;
	}
}

/* newfd is about to be replaced by the program: if greenpoll uses that number, move out */
static int make_room(int newfd)
{
	int err = gr_hiddenfd_owns(newfd) ? gr_hiddenfd_move(newfd) : 0;

	if (err) {
		errno = -err;
		return -1;
	}
	fd_forget(newfd);
	return 0;
}

GR_EXPORT int dup(int oldfd)
{
	SHIM_CALLED(dup);
	int fd = REAL(dup)(gr_hiddenfd_owns(oldfd) ? -1 : oldfd);

	if (fd >= 0) {
		fd_forget(fd);
		fd_dup(oldfd, fd);
	}
	return fd;
}

GR_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	SHIM_CALLED(dup3);
	int r;

	if (oldfd == newfd || gr_hiddenfd_owns(oldfd))
		return REAL(dup3)(gr_hiddenfd_owns(oldfd) ? -1 : oldfd, newfd, flags);
	if (make_room(newfd))
		return -1;
	r = REAL(dup3)(oldfd, newfd, flags);
	if (r >= 0)
		fd_dup(oldfd, newfd);
	return r;
}

GR_EXPORT int dup2(int oldfd, int newfd)
{
	SHIM_CALLED(dup2);
	int r;

	if (oldfd == newfd || gr_hiddenfd_owns(oldfd))
		return REAL(dup2)(gr_hiddenfd_owns(oldfd) ? -1 : oldfd, newfd);
	if (make_room(newfd))
		return -1;
	r = REAL(dup2)(oldfd, newfd);
	if (r >= 0)
		fd_dup(oldfd, newfd);
	return r;
}

GR_EXPORT int fclose(FILE *f)
{
	SHIM_CALLED(fclose);
	int fd = fileno(f);

	if (fd >= 0)
		fd_forget(fd);
	return REAL(fclose)(f);
}

GR_EXPORT int pclose(FILE *f)
{
	SHIM_CALLED(pclose);
	int fd = fileno(f);

	if (fd >= 0)
		fd_forget(fd);
	return REAL(pclose)(f);
}

_Static_assert(F_SETLKW64 == F_SETLKW, "one command waits for a record lock on x86-64");

static int fcntl_arg(int fd, int cmd, void *arg)
{
	int r;

	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		r = REAL(fcntl)(fd, cmd, arg);
		if (r >= 0) {
			fd_forget(r);
			fd_dup(fd, r);
		}
		return r;
	case F_SETFL:
		r = REAL(fcntl)(fd, cmd, arg);
		fd_mode_changed();
		return r;
	case F_SETLKW: /* also F_SETLKW64 */
	case F_OFD_SETLKW:
		/* waits for another holder of the lock: only the kernel can */
		return SHIM_BLOCKING_AS("fcntl", REAL(fcntl)(fd, cmd, arg));
	default:
		return REAL(fcntl)(fd, cmd, arg);
	}
}

GR_EXPORT int fcntl(int fd, int cmd, ...)
{
	SHIM_CALLED(fcntl);
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_arg(fd, cmd, arg);
}

/* what <fcntl.h> calls under _FILE_OFFSET_BITS=64 */
GR_EXPORT int fcntl64(int fd, int cmd, ...)
{
	SHIM_CALLED(fcntl64);
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_arg(fd, cmd, arg);
}

GR_EXPORT int ioctl(int fd, unsigned long request, ...)
{
	SHIM_CALLED(ioctl);
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == FIONBIO) {
		int r = REAL(ioctl)(fd, request, arg);

		fd_mode_changed();
		return r;
	}
	return REAL(ioctl)(fd, request, arg);
}
