/*
 * blocking.c — calls that only the kernel can wait in and that greenpoll has no green form for,
 * passed to libc whole inside SHIM_BLOCKING (shim.h), so while one blocks its carrier's other
 * tasks run elsewhere:
 *  - positioned reads and writes, which a pipe or socket refuses (ESPIPE), so they always reach a
 *    file or device: pread, pwrite, preadv, pwritev and their 64 forms; preadv2 and pwritev2
 *    (also on a pipe or socket, with offset -1: made by the kernel, not green);
 *  - flushing to disk: fsync, fdatasync, sync_file_range, syncfs;
 *  - file locks that wait for another holder: flock without LOCK_NB, lockf with F_LOCK (fcntl's
 *    F_SETLKW and F_OFD_SETLKW are in fd.c); the other forms return at once and go straight
 *    to libc;
 *  - System V message queues and semaphores: msgrcv, msgsnd, semop, semtimedop;
 *  - system(), which waits for its shell.
 * msgrcv and system() wait by design: SHIM_BLOCKING_LONG hands the carrier's processor to a
 * spare at once; the others usually return at once and are left to the monitor.
 * Results, errno and everything the call writes are libc's. None of these calls reaches an
 * interposed function inside libc (its own calls are internal), so nothing in the bracket parks.
 */
#include "shim.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdtable.h"

/* ---- positioned reads and writes ---- */

GR_EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	SHIM_CALLED(pread);
	return SHIM_BLOCKING(REAL(pread)(fd, buf, len, off));
}

GR_EXPORT ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	SHIM_CALLED(pread64);
	return SHIM_BLOCKING(REAL(pread64)(fd, buf, len, off));
}

GR_EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	SHIM_CALLED(pwrite);
	return SHIM_BLOCKING(REAL(pwrite)(fd, buf, len, off));
}

GR_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	SHIM_CALLED(pwrite64);
	return SHIM_BLOCKING(REAL(pwrite64)(fd, buf, len, off));
}

GR_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	SHIM_CALLED(preadv);
	return SHIM_BLOCKING(REAL(preadv)(fd, iov, cnt, off));
}

GR_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	SHIM_CALLED(preadv64);
	return SHIM_BLOCKING(REAL(preadv64)(fd, iov, cnt, off));
}

GR_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	SHIM_CALLED(pwritev);
	return SHIM_BLOCKING(REAL(pwritev)(fd, iov, cnt, off));
}

GR_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	SHIM_CALLED(pwritev64);
	return SHIM_BLOCKING(REAL(pwritev64)(fd, iov, cnt, off));
}

GR_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	SHIM_CALLED(preadv2);
	return SHIM_BLOCKING(REAL(preadv2)(fd, iov, cnt, off, flags));
}

GR_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	SHIM_CALLED(preadv64v2);
	return SHIM_BLOCKING(REAL(preadv64v2)(fd, iov, cnt, off, flags));
}

GR_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	SHIM_CALLED(pwritev2);
	return SHIM_BLOCKING(REAL(pwritev2)(fd, iov, cnt, off, flags));
}

GR_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	SHIM_CALLED(pwritev64v2);
	return SHIM_BLOCKING(REAL(pwritev64v2)(fd, iov, cnt, off, flags));
}

/* ---- flushing to disk ---- */

GR_EXPORT int fsync(int fd)
{
	SHIM_CALLED(fsync);
	return SHIM_BLOCKING(REAL(fsync)(fd));
}

GR_EXPORT int fdatasync(int fd)
{
	SHIM_CALLED(fdatasync);
	return SHIM_BLOCKING(REAL(fdatasync)(fd));
}

GR_EXPORT int sync_file_range(int fd, off64_t off, off64_t len, unsigned int flags)
{
	SHIM_CALLED(sync_file_range);
	return SHIM_BLOCKING(REAL(sync_file_range)(fd, off, len, flags));
}

GR_EXPORT int syncfs(int fd)
{
	SHIM_CALLED(syncfs);
	return SHIM_BLOCKING(REAL(syncfs)(fd));
}

/* ---- file locks ---- */

GR_EXPORT int flock(int fd, int op)
{
	SHIM_CALLED(flock);
	if (op & LOCK_NB)
		return REAL(flock)(fd, op);
	return SHIM_BLOCKING(REAL(flock)(fd, op));
}

GR_EXPORT int lockf(int fd, int cmd, off_t len)
{
	SHIM_CALLED(lockf);
	if (cmd != F_LOCK)
		return REAL(lockf)(fd, cmd, len);
	return SHIM_BLOCKING(REAL(lockf)(fd, cmd, len));
}

GR_EXPORT int lockf64(int fd, int cmd, off64_t len)
{
	SHIM_CALLED(lockf64);
	if (cmd != F_LOCK)
		return REAL(lockf64)(fd, cmd, len);
	return SHIM_BLOCKING(REAL(lockf64)(fd, cmd, len));
}

/* ---- System V IPC ---- */

GR_EXPORT ssize_t msgrcv(int id, void *msg, size_t size, long type, int flags)
{
	SHIM_CALLED(msgrcv);
	return SHIM_BLOCKING_LONG(REAL(msgrcv)(id, msg, size, type, flags));
}

GR_EXPORT int msgsnd(int id, const void *msg, size_t size, int flags)
{
	SHIM_CALLED(msgsnd);
	return SHIM_BLOCKING(REAL(msgsnd)(id, msg, size, flags));
}

GR_EXPORT int semop(int id, struct sembuf *ops, size_t n)
{
	SHIM_CALLED(semop);
	return SHIM_BLOCKING(REAL(semop)(id, ops, n));
}

GR_EXPORT int semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *timeout)
{
	SHIM_CALLED(semtimedop);
	return SHIM_BLOCKING(REAL(semtimedop)(id, ops, n, timeout));
}

/* ---- a shell command ---- */

GR_EXPORT int system(const char *command)
{
	SHIM_CALLED(system);
	fd_before_exec(); /* the shell gets the program's fds (exec.c) */
	return SHIM_BLOCKING_LONG(REAL(system)(command));
}
