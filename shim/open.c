/*
 * open.c — open, open64, openat, openat64, creat, creat64 and the fortified __open_2 family.
 *
 * An open goes to libc as it is, inside SHIM_BLOCKING (shim.h): an open on a slow or network
 * file system, of a device whose open waits, or of a FIFO whose other end is not open yet
 * (which may be opened by another task of this process) blocks the carrier, whose processor
 * the monitor hands to another carrier after a short grace, so the other tasks run on. A file
 * open costs the system call it costs natively, nothing more.
 *
 * With GREENPOLL_MONITOR=off nothing would hand the processor over, and a FIFO whose other end
 * another task of this process opens would never be opened: then an open that could wait for a
 * FIFO (O_RDONLY or O_WRONLY, without O_NONBLOCK or O_PATH) first stats the path, and a FIFO's
 * open is offloaded to an OS thread of its own, so that the task waits, not the carrier.
 *
 * The new fd's entry in the fd table is reset (its number may have been closed behind the
 * shim's back; fd_made with its kind unknown): its kind is learnt from the program's fstat
 * (stat.c) or at its first blocking call.
 */
#include "shim.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "fdtable.h"
#include "monitor.h"
#include "sys.h"

struct open_args {
	int dirfd;
	const char *path;
	int flags;
	mode_t mode;
};

static long open_fifo(void *arg)
{
	struct open_args *a = arg;

	return REAL(openat)(a->dirfd, a->path, a->flags, a->mode);
}

/* whether this open would wait for a FIFO's other end with no monitor to hand the carrier's
 * processor over meanwhile */
static bool fifo_without_monitor(int dirfd, const char *path, int flags)
{
	struct stat st;
	int acc = flags & O_ACCMODE;

	if (gr_monitor_hands_off() || !gr_current_task() || (flags & (O_NONBLOCK | O_PATH)) ||
	    acc == O_RDWR || !path)
		return false;
	return gr_sys4(SYS_newfstatat, dirfd, path, &st, 0) == 0 && S_ISFIFO(st.st_mode);
}

static int open_green(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_args a = {dirfd, path, flags, mode};
	int fd;

	if (fifo_without_monitor(dirfd, path, flags))
		fd = (int)shim_offload(open_fifo, &a, "open FIFO");
	else
		fd = SHIM_BLOCKING_AS("open", REAL(openat)(dirfd, path, flags, mode));
	if (fd >= 0)
		fd_made(fd, FD_UNKNOWN, FD_SHORT_UNKNOWN);
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

GR_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	SHIM_CALLED(openat);
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_green(dirfd, path, flags, mode);
}

GR_EXPORT int open(const char *path, int flags, ...)
{
	SHIM_CALLED(open);
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_green(AT_FDCWD, path, flags, mode);
}

GR_EXPORT int open64(const char *path, int flags, ...)
{
	SHIM_CALLED(open64);
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_green(AT_FDCWD, path, flags, mode);
}

GR_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	SHIM_CALLED(openat64);
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	return open_green(dirfd, path, flags, mode);
}

/* open with O_CREAT | O_WRONLY | O_TRUNC (libc's creat opens internally, unseen) */
GR_EXPORT int creat(const char *path, mode_t mode)
{
	SHIM_CALLED(creat);
	return open_green(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

GR_EXPORT int creat64(const char *path, mode_t mode)
{
	SHIM_CALLED(creat64);
	return open_green(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* _FORTIFY_SOURCE's versions (no mode: O_CREAT is not allowed with them) */
GR_EXPORT int __open_2(const char *path, int flags)
{
	SHIM_CALLED(__open_2);
	return open_green(AT_FDCWD, path, flags, 0);
}

GR_EXPORT int __open64_2(const char *path, int flags)
{
	SHIM_CALLED(__open64_2);
	return open_green(AT_FDCWD, path, flags, 0);
}

GR_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	SHIM_CALLED(__openat_2);
	return open_green(dirfd, path, flags, 0);
}

GR_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	SHIM_CALLED(__openat64_2);
	return open_green(dirfd, path, flags, 0);
}
