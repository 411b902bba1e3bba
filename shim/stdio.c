/*
 * stdio.c — libc's own I/O on the program's sockets and pipes, made green.
 *
 * libc's stdio and dprintf read and write through internal calls that no preload sees, so on a
 * blocking socket they would block a carrier. For a managed fd (socket, pipe, FIFO):
 *  - fdopen returns a stream whose reads and writes are the shim's (fopencookie), so fgets,
 *    getline, fprintf, fflush... park the task instead; fileno answers the fd, fclose closes
 *    it, fseek/ftell fail with ESPIPE as on a socket;
 *  - dprintf/vdprintf, and their _FORTIFY_SOURCE forms __dprintf_chk/__vdprintf_chk (which
 *    the headers call instead when a program is built with -D_FORTIFY_SOURCE=2, as Debian
 *    builds its packages), format into memory and write the result with the shim's write; on
 *    any other fd (a file) they are libc's, inside SHIM_BLOCKING (shim.h), so the carrier's
 *    other tasks run elsewhere while the write blocks.
 * Streams libc made itself (stdin, stdout and stderr on an inetd-style socket) keep libc's I/O.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fdtable.h"
#include "fork.h"
#include "lock.h"

/* glibc's checked forms (_FORTIFY_SOURCE), which its headers declare only for such builds */
int __vasprintf_chk(char **text, int flag, const char *fmt, va_list ap);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
int __dprintf_chk(int fd, int flag, const char *fmt, ...);

/* streams made here, for fileno */
struct green_stream {
	FILE *f;
	int fd;
	struct green_stream *next;
};

static gr_lock_t streams_lock = GR_LOCK_INIT;
static struct green_stream *streams; /* protected by streams_lock */

/* fork.h: another thread may have held the lock; the streams themselves are the child's too */
static void stdio_after_fork_child(struct gr_task *self)
{
	(void)self;
	streams_lock = (gr_lock_t)GR_LOCK_INIT;
}
GR_AFTER_FORK(GR_FORK_SHIM, stdio_after_fork_child);

static bool managed_fd(int fd)
{
	struct fd_view v = fd_view(fd);

	return fd_managed(&v);
}

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
	return read(((struct green_stream *)c)->fd, buf, n);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
	return write(((struct green_stream *)c)->fd, buf, n);
}

static int cookie_close(void *c)
{
	struct green_stream *s = c, **pp;
	int fd = s->fd;

	gr_lock(&streams_lock);
	for (pp = &streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	gr_unlock(&streams_lock);
	free(s);
	return close(fd);
}

/* the access mode a stream mode asks for: as fdopen checks it against the fd */
static bool mode_fits(int fd, const char *mode)
{
	int fl = REAL(fcntl)(fd, F_GETFL), acc;
	bool wants_read = mode[0] == 'r' || strchr(mode, '+');
	bool wants_write = mode[0] != 'r' || strchr(mode, '+');

	if (fl < 0)
		return false;
	acc = fl & O_ACCMODE;
	return (!wants_read || acc != O_WRONLY) && (!wants_write || acc != O_RDONLY);
}

GR_EXPORT FILE *fdopen(int fd, const char *mode)
{
	SHIM_CALLED(fdopen);
	cookie_io_functions_t io = {
		.read = cookie_read, .write = cookie_write, .seek = NULL, .close = cookie_close};
	struct green_stream *s;

	if (!gr_current_task() || !managed_fd(fd) || !mode || !strchr("rwa", mode[0]))
		return REAL(fdopen)(fd, mode);
	if (!mode_fits(fd, mode)) {
		errno = REAL(fcntl)(fd, F_GETFL) < 0 ? EBADF : EINVAL;
		return NULL;
	}
	if (!(s = malloc(sizeof *s)))
		return NULL;
	s->fd = fd;
	s->f = fopencookie(s, mode, io);
	if (!s->f) {
		free(s);
		return NULL;
	}
	gr_lock(&streams_lock);
	s->next = streams;
	streams = s;
	gr_unlock(&streams_lock);
	return s->f;
}

static int green_fileno(FILE *f)
{
	int fd = -1;

	gr_lock(&streams_lock);
	for (struct green_stream *s = streams; s; s = s->next)
		if (s->f == f) {
			fd = s->fd;
			break;
		}
	gr_unlock(&streams_lock);
	return fd;
}

GR_EXPORT int fileno(FILE *f)
{
	SHIM_CALLED(fileno);
	int fd = __atomic_load_n(&streams, __ATOMIC_ACQUIRE) ? green_fileno(f) : -1;

	return fd >= 0 ? fd : REAL(fileno)(f);
}

GR_EXPORT int fileno_unlocked(FILE *f)
{
	SHIM_CALLED(fileno_unlocked);
	int fd = __atomic_load_n(&streams, __ATOMIC_ACQUIRE) ? green_fileno(f) : -1;

	return fd >= 0 ? fd : REAL(fileno_unlocked)(f);
}

/*
 * vdprintf, and with flag > 0 _FORTIFY_SOURCE's checked form (a %n in a writable format
 * aborts): glibc's __vdprintf_chk and __vasprintf_chk with flag 0 are vdprintf and vasprintf.
 * name: the function the program called, for dumps and the report.
 */
static int vdprintf_checked(const char *name, int fd, int flag, const char *fmt, va_list ap)
{
	char *text;
	int n;
	ssize_t put;

	if (!gr_current_task() || !managed_fd(fd))
		return SHIM_BLOCKING_AS(name, REAL(__vdprintf_chk)(fd, flag, fmt, ap));
	n = __vasprintf_chk(&text, flag, fmt, ap);
	if (n < 0)
		return -1;
	put = write(fd, text, (size_t)n);
	free(text);
	return put < 0 ? -1 : (int)put;
}

GR_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	SHIM_CALLED(vdprintf);
	return vdprintf_checked("vdprintf", fd, 0, fmt, ap);
}

GR_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	SHIM_CALLED(dprintf);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vdprintf_checked("dprintf", fd, 0, fmt, ap);
	va_end(ap);
	return n;
}

GR_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	SHIM_CALLED(__vdprintf_chk);
	return vdprintf_checked("__vdprintf_chk", fd, flag, fmt, ap);
}

GR_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	SHIM_CALLED(__dprintf_chk);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vdprintf_checked("__dprintf_chk", fd, flag, fmt, ap);
	va_end(ap);
	return n;
}
