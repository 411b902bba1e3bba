/*
 * sys.h — raw system calls for the runtime.
 *
 * Invariants:
 *  - Nothing here touches errno: each call returns the kernel's result, a negative errno value
 *    on failure. Runtime code runs on tasks' stacks with the task's TLS installed, so a libc
 *    wrapper that set errno would clobber the program's errno behind its back.
 *  - Nothing here goes through an interposed libc name (sched_yield, nanosleep, gettid,
 *    clock_gettime are interposed by shim/), so the runtime can never re-enter the shim.
 *  - The libc functions the runtime needs whose names the shim exports (clock_gettime, abort,
 *    pthread_getattr_np) are reached through pointers to libc's own definitions (sys.c): a
 *    call by name from this library would land in the shim's.
 *
 * The runtime's other libc calls (malloc and friends, snprintf, dl_iterate_phdr) are ones the
 * shim does not export; they touch errno only when they fail, and the runtime then reports the
 * failure itself (an errno value returned, or a fatal error).
 */
#ifndef GR_SYS_H
#define GR_SYS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

static inline long gr_sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define gr_sys0(n) gr_sys6((n), 0, 0, 0, 0, 0, 0)
#define gr_sys1(n, a) gr_sys6((n), (long)(a), 0, 0, 0, 0, 0)
#define gr_sys2(n, a, b) gr_sys6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define gr_sys3(n, a, b, c) gr_sys6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define gr_sys4(n, a, b, c, d) gr_sys6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* futex on a private (process-local) word */
#define GR_FUTEX_WAIT_PRIVATE 128 /* FUTEX_WAIT | FUTEX_PRIVATE_FLAG */
#define GR_FUTEX_WAKE_PRIVATE 129 /* FUTEX_WAKE | FUTEX_PRIVATE_FLAG */

static inline long gr_futex_wait(uint32_t *word, uint32_t expect, const struct timespec *rel)
{
	return gr_sys4(SYS_futex, word, GR_FUTEX_WAIT_PRIVATE, expect, rel);
}

static inline long gr_futex_wake(uint32_t *word, int n)
{
	return gr_sys3(SYS_futex, word, GR_FUTEX_WAKE_PRIVATE, n);
}

static inline long gr_os_yield(void) { return gr_sys0(SYS_sched_yield); }
static inline long gr_os_tid(void) { return gr_sys0(SYS_gettid); }

static inline long gr_os_write(int fd, const void *buf, unsigned long n)
{
	return gr_sys3(SYS_write, fd, buf, n);
}

static inline void gr_cpu_relax(void) { __builtin_ia32_pause(); }

/* mmap of anonymous private memory: the address, or NULL with *err set to the errno value */
static inline void *gr_os_mmap_anon(size_t len, int prot, int flags, int *err)
{
	long r = gr_sys6(SYS_mmap, 0, (long)len, prot, flags, -1, 0);

	if (r < 0 && r > -4096) {
		*err = (int)-r;
		return NULL;
	}
	return (void *)r;
}

/* munmap, madvise, mprotect: 0 or a negative errno value */
static inline long gr_os_munmap(void *addr, size_t len) { return gr_sys2(SYS_munmap, addr, len); }
static inline long gr_os_madvise(void *addr, size_t len, int advice)
{
	return gr_sys3(SYS_madvise, addr, len, advice);
}
static inline long gr_os_mprotect(void *addr, size_t len, int prot)
{
	return gr_sys3(SYS_mprotect, addr, len, prot);
}

/* The kernel's state letter of OS thread tid of this process ('R', 'S', 'D'...: the third
 * field of /proc/self/task/TID/stat), or 0 if unknown (sys.c). */
char gr_thread_state(int32_t tid);

/* libc's clock_gettime (shim/cpuclock.c interposes the name; sys.c) */
extern int (*gr_libc_clock_gettime)(clockid_t clock, struct timespec *ts);

/* libc's abort and pthread_getattr_np (the shim interposes both names; sys.c) */
_Noreturn void gr_libc_abort(void);
int gr_libc_pthread_getattr_np(pthread_t thread, pthread_attr_t *attr);

/* CLOCK_MONOTONIC in nanoseconds (vDSO; libc's clock_gettime leaves errno alone on success,
 * which is the only outcome for CLOCK_MONOTONIC) */
static inline int64_t gr_nanotime(void)
{
	struct timespec ts;
	gr_libc_clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
