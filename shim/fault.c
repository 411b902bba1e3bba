/*
 * fault.c — GREENPOLL_FAULTS: the draws, the counts and the exit line (see fault.h).
 *
 * A task's PRNG state lives in its shim_task (zero until its first draw, then seeded). The
 * counts are process-wide and touched only when a fault is injected.
 */
#include "shim.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fault.h"
#include "fork.h"
#include "park.h"
#include "sys.h"
#include "throw.h"

struct shim_faults shim_faults;

static struct {
	_Atomic unsigned long short_reads, short_writes, eintrs, delays;
} injected;

static void say_counts(void)
{
	gr_say("faults injected: %lu short reads, %lu short writes, %lu EINTR, %lu delayed "
	       "wake-ups",
	       atomic_load(&injected.short_reads), atomic_load(&injected.short_writes),
	       atomic_load(&injected.eintrs), atomic_load(&injected.delays));
}

void shim_faults_init(const struct shim_faults *f, bool debug)
{
	shim_faults = *f;
	if (f->on && debug)
		atexit(say_counts);
}

/* fork.h: a fork child counts its own faults */
static void faults_after_fork_child(struct gr_task *self)
{
	(void)self;
	atomic_store(&injected.short_reads, 0);
	atomic_store(&injected.short_writes, 0);
	atomic_store(&injected.eintrs, 0);
	atomic_store(&injected.delays, 0);
}
GR_AFTER_FORK(GR_FORK_SHIM, faults_after_fork_child);

/* the calling task's next random number (xorshift64*, seeded by splitmix64 of seed and id) */
static uint64_t next_random(void)
{
	struct gr_task *t = gr_current_task();
	uint64_t x;

	if (!t)
		return 0;
	x = shim_of(t)->fault_rng;
	if (!x) {
		x = shim_faults.seed + t->id * 0x9e3779b97f4a7c15ull;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
		x |= !x;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	shim_of(t)->fault_rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* true with a chance of pct percent */
static bool chance(unsigned char pct)
{
	return pct && (pct >= 100 || next_random() % 100 < pct);
}

/* a socket of fd whose reads and writes may be cut anywhere (SOCK_STREAM, not seqpacket) */
static bool byte_stream(int fd, enum fd_kind k)
{
	int type = 0;
	socklen_t len = sizeof type;

	if (k == FD_PIPE)
		return true;
	return k == FD_STREAM &&
	       gr_sys6(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, (long)&type, (long)&len, 0) == 0 &&
	       type == SOCK_STREAM;
}

size_t shim_fault_shorten(int fd, enum fd_kind k, size_t len, bool write)
{
	size_t least = write && k == FD_PIPE ? PIPE_BUF + 1 : 2;

	if (len < least || !chance(write ? shim_faults.short_write : shim_faults.short_read) ||
	    !byte_stream(fd, k))
		return len;
	atomic_fetch_add_explicit(write ? &injected.short_writes : &injected.short_reads, 1,
				  memory_order_relaxed);
	/* 1..len-1 bytes; a pipe write above PIPE_BUF, as the kernel could leave it */
	return least - 1 + (size_t)(next_random() % (len - least + 1));
}

bool shim_fault_roll_eintr(void)
{
	if (!chance(shim_faults.eintr))
		return false;
	atomic_fetch_add_explicit(&injected.eintrs, 1, memory_order_relaxed);
	return true;
}

void shim_fault_roll_delay(void)
{
	int64_t until;

	if (!gr_current_task() || !chance(shim_faults.delay_wake))
		return;
	atomic_fetch_add_explicit(&injected.delays, 1, memory_order_relaxed);
	until = gr_nanotime() + shim_faults.delay_ns;
	/* not interruptible: a signal sent meanwhile stays pending for the wait that follows */
	while (gr_nanotime() < until) {
		gr_wait_prepare(false);
		gr_park(until, "delayed wake-up (GREENPOLL_FAULTS)", NULL);
	}
}
