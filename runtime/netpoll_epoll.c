/*
 * netpoll_epoll.c — the netpoll backend for Linux: one epoll instance, edge-triggered, and an
 * eventfd to break a waiting epoll_wait (see the contract in netpoll.h).
 *
 * epoll_event.data carries the pd pointer in its low 48 bits and the low 16 bits of the pd's
 * sequence number in the top 16 (user-space addresses on x86_64 fit in 47 bits); netpoll.c
 * drops an event whose sequence number is not the pd's current one.
 *
 * The runtime's own fds (the epoll fd and the eventfd) are made at start-up, not the first time
 * a task waits: a blocking read must never fail with EMFILE because the fd table filled up
 * before the first wait (a program that never waits pays two fds). They are hidden fds
 * (hiddenfd.h): close-on-exec, placed high, and kept from the program's close, close_range,
 * dup2 and dup3, through libc's syscall() too.
 *
 * A raw close system call (which no preload sees) can still close one: the next epoll_wait or
 * epoll_ctl that fails asks gr_netpoll_backend_renew, which checks the set still watches the
 * eventfd and otherwise makes new fds (netpoll.c then watches every registered fd again). The
 * number lost is never closed by us: it may be the program's by then. A lost eventfd alone is
 * noticed by the next break, whose write fails: it makes a new one in the same set
 * (renew_break). All calls are raw system calls: epoll_wait and friends are names the shim
 * interposes for the program's own use.
 */
#include "netpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "hiddenfd.h"
#include "sys.h"
#include "throw.h"

#define MAX_EVENTS GR_NETPOLL_MAX_EVENTS
_Static_assert(sizeof(((struct gr_netpoll_events *)0)->raw) >=
		       MAX_EVENTS * sizeof(struct epoll_event),
	       "gr_netpoll_events holds a look's epoll events");
_Static_assert(_Alignof(struct gr_netpoll_events) >= _Alignof(struct epoll_event),
	       "gr_netpoll_events is aligned for epoll events");
#define TAG_SHIFT 48

static _Atomic int epfd = -1, breakfd = -1;
static _Atomic unsigned generation; /* fds made or moved since start-up; written after epfd */
static atomic_bool break_pending;

static uint64_t tag(struct gr_pd *pd, uint32_t seq)
{
	return (uint64_t)(uintptr_t)pd | ((uint64_t)(seq & 0xffff) << TAG_SHIFT);
}

static long watch_break(int ep, int b)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};

	return gr_sys4(SYS_epoll_ctl, ep, EPOLL_CTL_ADD, b, &ev);
}

/* whether fd is still an eventfd (the one we made, as far as can be told) */
static bool is_eventfd(int fd)
{
	char path[32], target[32];
	long len;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	len = gr_sys4(SYS_readlinkat, AT_FDCWD, path, target, sizeof target);
	return len == 20 && memcmp(target, "anon_inode:[eventfd]", 20) == 0;
}

/*
 * A new epoll set watching the break eventfd; with keep_break, the eventfd in use if it still
 * is one (a poll stuck in the lost set is then woken through it), else a new one. 0 or -errno.
 */
static int make_fds(bool keep_break)
{
	long ep = gr_sys1(SYS_epoll_create1, EPOLL_CLOEXEC), b = atomic_load(&breakfd), r;

	if (ep < 0)
		return (int)ep;
	ep = gr_hiddenfd_place_high((int)ep);
	if (!keep_break || !is_eventfd((int)b) || watch_break((int)ep, (int)b) < 0) {
		b = gr_sys2(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (b < 0) {
			gr_sys1(SYS_close, ep);
			return (int)b;
		}
		b = gr_hiddenfd_place_high((int)b);
		if ((r = watch_break((int)ep, (int)b)) < 0) {
			gr_sys1(SYS_close, ep);
			gr_sys1(SYS_close, b);
			return (int)r;
		}
	}
	atomic_store(&breakfd, (int)b);
	atomic_store(&epfd, (int)ep);
	atomic_fetch_add(&generation, 1);
	return 0;
}

int gr_netpoll_backend_init(void)
{
	gr_hiddenfd_register(&epfd);
	gr_hiddenfd_register(&breakfd);
	if (epfd >= 0) /* a fork child: the parent's epoll set is shared; make our own */
		gr_sys1(SYS_close, epfd);
	if (breakfd >= 0)
		gr_sys1(SYS_close, breakfd);
	epfd = breakfd = -1;
	/* a fork child may have copied a break its parent had not yet taken: the new eventfd is
	 * empty, and a set flag would make every break here skip the write */
	atomic_store(&break_pending, false);
	return make_fds(false);
}

/* A move of either fd (hiddenfd.h) counts too: a call that read the old number and fails on it
 * (it may be the program's by then) sees a new generation, so it tries again with the new
 * number instead of taking the poller for lost (netpoll.c, renewed_since). */
unsigned gr_netpoll_backend_generation(void)
{
	return atomic_load(&generation) + gr_hiddenfd_moves();
}

int gr_netpoll_backend_renew(void)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
	int lost = atomic_load(&epfd), err;
	uint64_t one = 1;

	if (gr_sys4(SYS_epoll_ctl, lost, EPOLL_CTL_MOD, atomic_load(&breakfd), &ev) == 0)
		return 0; /* the set still watches the eventfd: nothing was lost */
	if ((err = make_fds(true)))
		return err;
	/* a poll still waiting in the lost set (it lives while a wait holds it) looks again */
	atomic_store(&break_pending, true);
	gr_sys3(SYS_write, atomic_load(&breakfd), &one, sizeof one);
	return 1;
}

int gr_netpoll_backend_open(int fd, struct gr_pd *pd, uint32_t seq)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET,
		.data.u64 = tag(pd, seq),
	};

	return (int)gr_sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, fd, &ev);
}

int gr_netpoll_backend_close(int fd)
{
	struct epoll_event ev = {0};

	return (int)gr_sys4(SYS_epoll_ctl, epfd, EPOLL_CTL_DEL, fd, &ev);
}

int gr_netpoll_fds(int fds[2])
{
	int n = 0, e = atomic_load(&epfd), b = atomic_load(&breakfd);

	if (e >= 0)
		fds[n++] = e;
	if (b >= 0)
		fds[n++] = b;
	return n;
}

/*
 * The eventfd lost (its write failed with EBADF): a new one, made readable before the epoll
 * set watches it, so a poll waiting there returns at once (the set's own registration of the
 * lost one went with it). Lock-free: a break's callers hold runtime locks. Of two breaks that
 * find it lost at once, the second's eventfd is closed again and the first's written.
 */
static void renew_break(int lost)
{
	long b = gr_sys2(SYS_eventfd2, 1, EFD_CLOEXEC | EFD_NONBLOCK);
	int expect = lost;
	uint64_t one = 1;

	if (b < 0)
		return; /* the poll wakes at the next event, and its failure renews */
	b = gr_hiddenfd_place_high((int)b);
	if (watch_break(atomic_load(&epfd), (int)b) < 0) {
		gr_sys1(SYS_close, b); /* the epoll fd is lost too: the next poll fails */
		return;
	}
	if (!atomic_compare_exchange_strong(&breakfd, &expect, (int)b)) {
		gr_sys4(SYS_epoll_ctl, atomic_load(&epfd), EPOLL_CTL_DEL, b, &(struct epoll_event){0});
		gr_sys1(SYS_close, b);
		gr_sys3(SYS_write, expect, &one, sizeof one);
		return;
	}
	gr_say("the poller's eventfd (fd %d) was closed behind greenpoll's back (a raw close "
	       "system call?); made a new one (fd %d)", lost, (int)b);
}

void gr_netpoll_backend_break(void)
{
	uint64_t one = 1;
	int b;

	if (!atomic_exchange(&break_pending, true) &&
	    gr_sys3(SYS_write, b = atomic_load(&breakfd), &one, sizeof one) == -EBADF)
		renew_break(b);
}

/*
 * epoll_pwait2 takes the delay to the nanosecond, as nanosleep and timed waits do natively (a
 * 50 µs sleep must not take a millisecond); epoll_pwait, for kernels before 5.11, rounds a
 * delay up to whole milliseconds.
 */
static long wait_events(struct epoll_event *events, int max, int64_t delay_ns)
{
	static atomic_bool no_pwait2;
	int timeout_ms;

	if (delay_ns > 0 && !atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
		struct timespec ts = {.tv_sec = delay_ns / 1000000000,
				      .tv_nsec = delay_ns % 1000000000};
		long n = gr_sys6(SYS_epoll_pwait2, epfd, (long)events, max, (long)&ts, 0, 8);

		if (n != -ENOSYS)
			return n;
		atomic_store(&no_pwait2, true);
	}
	if (delay_ns < 0)
		timeout_ms = -1;
	else if (delay_ns == 0)
		timeout_ms = 0;
	else if (delay_ns < (int64_t)1000000 * 1000000)
		timeout_ms = (int)((delay_ns + 999999) / 1000000);
	else
		timeout_ms = 1000000000;
	return gr_sys6(SYS_epoll_pwait, epfd, (long)events, max, timeout_ms, 0, 8);
}

int gr_netpoll_backend_poll(int64_t delay_ns, int max, struct gr_netpoll_events *room)
{
	struct epoll_event *events = (struct epoll_event *)room->raw;
	int ready = 0;
	long n;

	if (max > MAX_EVENTS)
		max = MAX_EVENTS;
	n = wait_events(events, max, delay_ns);
	if (n < 0)
		return n == -EINTR ? 0 : (int)n;
	for (long i = 0; i < n; i++) {
		uint32_t e = events[i].events;
		uint64_t data = events[i].data.u64;
		int modes = 0;

		if (data == 0) {
			/* the break eventfd: it is for the poll that waits. A look without
			 * waiting leaves it there (it is level-triggered), or the waiting poll
			 * would sleep on; the flag is cleared before the read, so a break that
			 * comes meanwhile writes again */
			uint64_t count;

			if (delay_ns == 0)
				continue;
			atomic_store(&break_pending, false);
			gr_sys3(SYS_read, breakfd, &count, sizeof count);
			continue;
		}
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR))
			modes |= GR_PD_R;
		if (e & (EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			modes |= GR_PD_MARK;
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			modes |= GR_PD_W;
		room->ready[ready++] = (struct gr_pd_ready){
			.pd = (struct gr_pd *)(uintptr_t)(data & (((uint64_t)1 << TAG_SHIFT) - 1)),
			.seq = (uint32_t)(data >> TAG_SHIFT),
			.modes = modes,
		};
	}
	return ready;
}
