/*
 * futex.c — syscall(SYS_futex, ...) made by the program or its libraries (hand-written locks,
 * libstdc++'s atomic waits), and the rest of libc's syscall(). SYS_gettid answers the calling
 * task's id, as gettid() does (ids.c; Python's threading.get_native_id() asks this way).
 * SYS_futex: on a process-private futex, FUTEX_WAIT and FUTEX_WAKE (and their BITSET forms)
 * park and wake tasks on the futex word's address; the value check happens under the wait
 * queue's lock, as the kernel does it under its hash bucket lock, so a wake between the
 * caller's check and its park is not lost. Results are the kernel's: 0 / EAGAIN (value
 * changed) / ETIMEDOUT / EINTR (a signal sent to the task) for a wait, the number woken for a
 * wake. A wait on a shared futex is the kernel's (its waker may be another process), made on
 * an OS thread of its own while the task waits (offload.c); other operations and every other
 * system call go to the kernel unchanged, inside SHIM_BLOCKING (shim.h), since any may wait
 * (io_uring_enter, a read, another futex operation): the carrier's other tasks run elsewhere
 * meanwhile. Only those that return twice (fork, vfork, clone, clone3) are not bracketed.
 * SYS_close, SYS_close_range, SYS_dup2 and SYS_dup3 take close's, close_range's, dup2's and
 * dup3's paths (fd.c), which keep greenpoll's own fds from the program.
 * (glibc's own locks make their futex calls inline, not through syscall().)
 */
#include "shim.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"
#include "waitq.h"

static bool holds(const void *addr, void *arg)
{
	return __atomic_load_n((const uint32_t *)addr, __ATOMIC_SEQ_CST) == *(uint32_t *)arg;
}

/* a green futex operation; -errno or the result */
static long green_futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts,
			uint32_t bitset)
{
	struct gr_task *self = gr_current_task();
	int cmd = op & FUTEX_CMD_MASK;
	int64_t deadline = GR_NEVER;
	int why;

	if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET) {
		if (cmd == FUTEX_WAKE_BITSET && !bitset)
			return -EINVAL;
		return gr_waitq_wake_bits(addr, cmd == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : bitset,
					  val > INT32_MAX ? -1 : (int)val);
	}
	if (cmd == FUTEX_WAIT_BITSET && !bitset)
		return -EINVAL;
	if (ts) {
		if (!shim_valid_timespec(ts) || ts->tv_sec < 0)
			return -EINVAL;
		if (cmd == FUTEX_WAIT) /* relative, CLOCK_MONOTONIC */
			deadline = gr_nanotime() + (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
		else
			deadline = shim_deadline((op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME
									      : CLOCK_MONOTONIC,
						 ts);
	}
	if (!holds(addr, &val))
		return -EAGAIN;
	why = gr_waitq_park_bits(addr, cmd == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : bitset, holds,
				 &val, deadline, true, "futex");
	switch (why) {
	case 0:
		return -EAGAIN;
	case GR_WAKE_TIMEOUT:
		return -ETIMEDOUT;
	case GR_WAKE_INTERRUPT:
		shim_interrupted(self);
		return -EINTR;
	default:
		return 0;
	}
}

static long shared_futex_wait(void *arg)
{
	long *a = arg;

	return REAL(syscall)(SYS_futex, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/*
 * A child made by a raw fork or clone gets none of the runtime's fork handling (fork.c):
 * leaving the bracket there would ask for a processor that, as the copied state says, a
 * carrier that does not exist in the child may have taken. These are made as they are.
 */
static bool returns_twice(long number)
{
	return number == SYS_clone || number == SYS_clone3 || number == SYS_fork ||
	       number == SYS_vfork;
}

/* system calls that wait for something by design: the processor goes to a spare at once */
static bool waits_by_design(long number)
{
	switch (number) {
	case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_pause: case SYS_rt_sigsuspend:
	case SYS_rt_sigtimedwait: case SYS_wait4: case SYS_waitid: case SYS_select:
	case SYS_pselect6: case SYS_poll: case SYS_ppoll: case SYS_epoll_wait:
	case SYS_epoll_pwait: case SYS_epoll_pwait2: case SYS_io_uring_enter: case SYS_msgrcv:
	case SYS_semop: case SYS_semtimedop: case SYS_flock: case SYS_accept: case SYS_accept4:
		return true;
	default:
		return false;
	}
}

GR_EXPORT long syscall(long number, ...)
{
	SHIM_CALLED(syscall);
	va_list ap;
	long a[6], result;

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_gettid && gr_current_task())
		return gr_current_task()->tid;
	if (number == SYS_futex && gr_current_task() && (a[1] & FUTEX_PRIVATE_FLAG)) {
		int cmd = (int)a[1] & FUTEX_CMD_MASK;

		if (cmd == FUTEX_WAIT || cmd == FUTEX_WAKE || cmd == FUTEX_WAIT_BITSET ||
		    cmd == FUTEX_WAKE_BITSET) {
			long r = green_futex((uint32_t *)a[0], (int)a[1], (uint32_t)a[2],
					     (const struct timespec *)a[3], (uint32_t)a[5]);

			if (r < 0) {
				errno = (int)-r;
				return -1;
			}
			return r;
		}
	}
	if (number == SYS_futex && gr_current_task()) {
		int cmd = (int)a[1] & FUTEX_CMD_MASK;

		/* a shared futex's waker may be another process: only the kernel can wait */
		if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET)
			return shim_offload(shared_futex_wait, a, "shared futex");
	}
	if ((number == SYS_tgkill || number == SYS_tkill) && gr_current_task()) {
		long r = shim_thread_kill(number == SYS_tgkill ? (pid_t)a[0] : 0,
					  (pid_t)(number == SYS_tgkill ? a[1] : a[0]),
					  (int)(number == SYS_tgkill ? a[2] : a[1]));

		if (r != -ENOSYS) {
			if (r < 0) {
				errno = (int)-r;
				return -1;
			}
			return r;
		}
	}
	if (shim_fd_syscall(number, a, &result))
		return result;
	if (returns_twice(number))
		return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (waits_by_design(number))
		return SHIM_BLOCKING_LONG(REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]));
	return SHIM_BLOCKING(REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]));
}
