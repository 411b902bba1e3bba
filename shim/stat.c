/*
 * stat.c — fstat, fstat64 and, for programs built against a glibc before 2.33, __fxstat and
 * __fxstat64: passed to libc untouched. The answer also tells the fd table the kind of an fd it
 * does not know yet (fd_learn_mode): a program that opens a file and fstats it before reading
 * (a file server, to learn the size) spares greenpoll the fstat its first read would make.
 * Nothing is learnt from a failed call; a socket's kind needs its type, asked at its first
 * blocking call as before.
 */
#include "shim.h"

#include <sys/stat.h>

#include "fdtable.h"

/* glibc's compatibility entry points (no longer declared by its headers) */
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);

/* r, the answer of an fstat of fd into *mode's struct (read only once the call returned) */
static int learnt(int fd, int r, const mode_t *mode)
{
	if (r == 0)
		fd_learn_mode(fd, *mode);
	return r;
}

GR_EXPORT int fstat(int fd, struct stat *st)
{
	SHIM_CALLED(fstat);
	int r = REAL(fstat)(fd, st);

	return learnt(fd, r, &st->st_mode);
}

GR_EXPORT int fstat64(int fd, struct stat64 *st)
{
	SHIM_CALLED(fstat64);
	int r = REAL(fstat64)(fd, st);

	return learnt(fd, r, &st->st_mode);
}

GR_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	SHIM_CALLED(__fxstat);
	int r = REAL(__fxstat)(ver, fd, st);

	return learnt(fd, r, &st->st_mode);
}

GR_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	SHIM_CALLED(__fxstat64);
	int r = REAL(__fxstat64)(ver, fd, st);

	return learnt(fd, r, &st->st_mode);
}
