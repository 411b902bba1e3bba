/*
 * sys.c — the libc functions the runtime reaches by pointer (sys.h), because the shim exports
 * their names and a call by name from this library would land in the shim's: clock_gettime
 * (tasks' CPU-time clocks), abort (per task), pthread_getattr_np (answered from the task); and
 * the kernel's state of one of the process's OS threads (gr_thread_state).
 *
 * The pointer is set when this object is loaded, to the next definition after this object
 * (libc's, whether this code is the preloaded library or a unit test); every call goes straight
 * to libc's (the vDSO's) code. A call made earlier, by another library's constructor, lands in
 * a function that does the same look-up first. Either way the look-up (dlsym, which takes the
 * loader's lock) is made on the initial thread at start-up, never under a gr_lock or in a
 * signal handler.
 */
#define _GNU_SOURCE
#include "sys.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "throw.h"

static void (*libc_abort)(void);
static int (*libc_pthread_getattr_np)(pthread_t thread, pthread_attr_t *attr);

static void resolve(void)
{
	void *real = dlsym(RTLD_NEXT, "clock_gettime");

	if (!real)
		gr_throw("runtime: libc's clock_gettime not found");
	__atomic_store_n(&gr_libc_clock_gettime, (int (*)(clockid_t, struct timespec *))real,
			 __ATOMIC_RELAXED);
}

static int first_clock_gettime(clockid_t clock, struct timespec *ts)
{
	resolve();
	return gr_libc_clock_gettime(clock, ts);
}

int (*gr_libc_clock_gettime)(clockid_t clock, struct timespec *ts) = first_clock_gettime;

__attribute__((constructor)) static void resolve_at_load(void)
{
	if (gr_libc_clock_gettime == first_clock_gettime)
		resolve();
	libc_abort = (void (*)(void))dlsym(RTLD_NEXT, "abort");
	libc_pthread_getattr_np =
		(int (*)(pthread_t, pthread_attr_t *))dlsym(RTLD_NEXT, "pthread_getattr_np");
}

/* with no libc abort found (it is always there), the status a SIGABRT death gives a shell */
_Noreturn void gr_libc_abort(void)
{
	if (libc_abort)
		libc_abort();
	gr_sys1(SYS_exit_group, 128 + 6);
	__builtin_unreachable();
}

/* called at start-up, maybe by a constructor that ran before resolve_at_load */
int gr_libc_pthread_getattr_np(pthread_t thread, pthread_attr_t *attr)
{
	if (!libc_pthread_getattr_np)
		libc_pthread_getattr_np = (int (*)(pthread_t, pthread_attr_t *))dlsym(
			RTLD_NEXT, "pthread_getattr_np");
	if (!libc_pthread_getattr_np)
		gr_throw("runtime: libc's pthread_getattr_np not found");
	return libc_pthread_getattr_np(thread, attr);
}

/* The kernel's state letter of OS thread tid ('R', 'S', 'D'...), or 0 if unknown. */
char gr_thread_state(int32_t tid)
{
	char path[64], buf[512], *paren;
	long fd, n;

	if (tid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	fd = gr_sys3(SYS_open, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	n = gr_sys3(SYS_read, fd, buf, sizeof buf - 1);
	gr_sys1(SYS_close, fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	paren = strrchr(buf, ')'); /* the name in parentheses may hold anything */
	return paren && paren[1] == ' ' ? paren[2] : 0;
}
