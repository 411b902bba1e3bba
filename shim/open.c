/*
 * open.c — opening a FIFO: a blocking open of a FIFO for reading or writing waits until the
 * other end is opened, which may be by another task of this process; it is offloaded so the
 * task waits, not the carrier. Every other open goes to libc as it is (the check is one stat of
 * the path, made only for the opens that could wait: O_RDONLY or O_WRONLY, without
 * O_NONBLOCK, O_PATH or O_CREAT of a new file), inside SHIM_BLOCKING (shim.h): an open on a
 * slow or network file system, or of a device whose open waits, blocks the carrier, whose
 * other tasks then run elsewhere. open, open64, openat, openat64, creat, creat64 and the
 * fortified __open_2 family all come here. The new fd's entry in the fd table is reset (its
 * number may have been closed behind the shim's back), and a regular file's or directory's
 * kind taken from that stat (fd_opened), so its first read or write makes no fstat.
 */
#include "shim.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "fdtable.h"
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

/* The path's file type (st_mode & S_IFMT), looked up only for an open that could wait for a
 * FIFO's other end; 0 when not looked up or not found. */
static mode_t type_if_may_wait(int dirfd, const char *path, int flags)
{
	struct stat st;
	int acc = flags & O_ACCMODE;

	if (!gr_current_task() || (flags & (O_NONBLOCK | O_PATH)) || acc == O_RDWR || !path)
		return 0;
	return gr_sys4(SYS_newfstatat, dirfd, path, &st, 0) == 0 ? st.st_mode & S_IFMT : 0;
}

static int open_green(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_args a = {dirfd, path, flags, mode};
	mode_t type = type_if_may_wait(dirfd, path, flags);
	int fd;

	if (S_ISFIFO(type)) {
		fd = (int)shim_offload(open_fifo, &a, "open FIFO");
		type = 0; /* classified at its first call, from the fd itself */
	} else
		fd = SHIM_BLOCKING_AS("open", REAL(openat)(dirfd, path, flags, mode));
	if (fd >= 0)
		fd_opened(fd, type);
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
