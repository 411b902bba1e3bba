/*
 * sys.c — the libc function the runtime reaches by pointer (sys.h): clock_gettime, which the
 * shim interposes for tasks' CPU-time clocks, so a call by name from this library would land
 * in the shim.
 *
 * The pointer starts at a function that looks libc's definition up (the next one after this
 * object: libc's, whether this code is the preloaded library or a unit test), stores it and
 * calls it; every later call goes straight to libc's (the vDSO's) code. The first call is made
 * at start-up (the first task adopted, before any lock is taken or carrier started).
 */
#define _GNU_SOURCE
#include "sys.h"

#include <dlfcn.h>

#include "throw.h"

static int first_clock_gettime(clockid_t clock, struct timespec *ts)
{
	void *real = dlsym(RTLD_NEXT, "clock_gettime");

	if (!real)
		gr_throw("runtime: libc's clock_gettime not found");
	__atomic_store_n(&gr_libc_clock_gettime, (int (*)(clockid_t, struct timespec *))real,
			 __ATOMIC_RELAXED);
	return gr_libc_clock_gettime(clock, ts);
}

int (*gr_libc_clock_gettime)(clockid_t clock, struct timespec *ts) = first_clock_gettime;
