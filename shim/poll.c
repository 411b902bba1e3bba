/*
 * poll.c — the program's own multiplexing: poll, ppoll, select, pselect, epoll_wait,
 * epoll_pwait, epoll_pwait2 park the task until one of its fds is ready, the timeout passes or
 * a signal comes; epoll_create and epoll_ctl are libc's (an epoll fd is itself pollable).
 *
 * Each wait is libc's own call with a zero timeout, repeated: results (revents, fd_sets,
 * events) are exactly libc's. Between looks the task watches every fd's poll descriptor
 * (netpoll.h): any readiness edge or close of any of them wakes it to look again. Watching
 * starts before the second look, so readiness that came before the watch is seen by the look
 * and readiness after it wakes the task. A timeout is never early; a signal sent to the task
 * ends the wait with EINTR (these calls are never restarted, as on Linux) and they are
 * cancellation points. The signal mask argument of ppoll, pselect and epoll_pwait applies to
 * the task for the whole call, as the kernel applies it to the thread (a signal pending on the
 * task that it unblocks is delivered and ends the call with EINTR), and to each look (libc's
 * call with the mask and a zero timeout, for signals pending in the kernel).
 */
#include "shim.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "fault.h"
#include "fdtable.h"
#include "sched.h"
#include "sys.h"

#define SMALL 16

struct watching {
	int n;
	struct gr_pd *pd[SMALL];
	struct gr_pd_watch w[SMALL];
	struct gr_pd **pds;
	struct gr_pd_watch *ws;
};

static bool watching_init(struct watching *wa, int max)
{
	wa->n = 0;
	if (max <= SMALL) {
		wa->pds = wa->pd;
		wa->ws = wa->w;
		return true;
	}
	wa->pds = malloc((size_t)max * sizeof *wa->pds);
	wa->ws = malloc((size_t)max * sizeof *wa->ws);
	return wa->pds && wa->ws;
}

static void watching_free(struct watching *wa)
{
	if (wa->pds != wa->pd) {
		free(wa->pds);
		free(wa->ws);
	}
}

static void watch(struct watching *wa, int fd, struct gr_task *self, uint32_t seq)
{
	struct fd_view v = fd_view(fd);
	struct gr_pd *pd = fd_pd(&v);

	if (!pd)
		return;
	wa->ws[wa->n] = (struct gr_pd_watch){.task = self, .seq = seq};
	if (gr_pd_watch(pd, &wa->ws[wa->n])) {
		gr_pd_release(pd);
		return;
	}
	wa->pds[wa->n++] = pd;
}

static void unwatch_all(struct watching *wa)
{
	for (int i = 0; i < wa->n; i++) {
		gr_pd_unwatch(wa->pds[i], &wa->ws[i]);
		gr_pd_release(wa->pds[i]);
	}
	wa->n = 0;
}

typedef void watch_fn(struct watching *wa, void *arg, struct gr_task *self, uint32_t seq);

static int wait_looking(shim_look_fn *look, watch_fn *add_watches, void *arg, int max_fds,
			int64_t deadline, bool program);

/*
 * The wait, with the task's signal mask `mask` meanwhile if not NULL (ppoll, pselect,
 * epoll_pwait): a signal pending on the task that it unblocks is delivered first, and the call
 * ends with EINTR, as the kernel's would. program: the wait of the program's own call (poll,
 * select, epoll), not one the shim makes for another call (shim_wait_any).
 */
static int wait_for(shim_look_fn *look, watch_fn *add_watches, void *arg, int max_fds,
		    int64_t deadline, const sigset_t *mask, bool program)
{
	struct gr_task *self = gr_current_task();
	uint64_t old = self->sigmask;
	int r;

	if (!mask)
		return wait_looking(look, add_watches, arg, max_fds, deadline, program);
	gr_sig_set_mask(shim_sigset_mask(mask));
	if (shim_signals_deliverable(self)) {
		shim_deliver_signals(self);
		r = -EINTR;
	} else {
		r = wait_looking(look, add_watches, arg, max_fds, deadline, program);
	}
	gr_sig_set_mask(old);
	return r;
}

/* program: the wait of the program's own call, which an injected EINTR may end (fault.h) */
static int wait_looking(shim_look_fn *look, watch_fn *add_watches, void *arg, int max_fds,
			int64_t deadline, bool program)
{
	struct gr_task *self = gr_current_task();
	struct watching wa;
	int r;

	shim_before_wait(self);
	r = look(arg);
	if (r != 0 || deadline <= gr_nanotime())
		return r;
	if (program && shim_fault_eintr())
		return -EINTR;
	if (!watching_init(&wa, max_fds)) {
		watching_free(&wa);
		return -ENOMEM;
	}
	for (;;) {
		uint32_t seq = gr_wait_prepare(true); /* signals end it; so does a cancel */
		enum gr_wake_reason why;

		add_watches(&wa, arg, self, seq);
		r = look(arg);
		if (r != 0) {
			unwatch_all(&wa);
			break;
		}
		why = gr_park(deadline, "poll", NULL);
		unwatch_all(&wa);
		if (why == GR_WAKE_INTERRUPT) {
			shim_interrupted(self);
			r = -EINTR;
			break;
		}
		if (why == GR_WAKE_NORMAL)
			shim_fault_after_wake();
		r = look(arg);
		if (r != 0 || why == GR_WAKE_TIMEOUT || deadline <= gr_nanotime())
			break;
	}
	watching_free(&wa);
	return r;
}

struct fd_list {
	const int *fds;
	int n;
};

static void list_watch(struct watching *wa, void *arg, struct gr_task *self, uint32_t seq)
{
	struct fd_list *l = arg;

	for (int i = 0; i < l->n; i++)
		watch(wa, l->fds[i], self, seq);
}

struct any_args {
	struct fd_list fds;
	shim_look_fn *look;
	void *arg;
};

static int any_look(void *arg)
{
	struct any_args *a = arg;

	return a->look(a->arg);
}

static void any_watch(struct watching *wa, void *arg, struct gr_task *self, uint32_t seq)
{
	list_watch(wa, &((struct any_args *)arg)->fds, self, seq);
}

int shim_wait_any(const int *fds, int n, shim_look_fn *look, void *arg, int64_t deadline)
{
	struct any_args a = {{fds, n}, look, arg};

	return wait_for(any_look, any_watch, &a, n, deadline, NULL, false);
}

/* ---- poll ---- */

struct poll_args {
	struct pollfd *fds;
	nfds_t n;
	const sigset_t *mask; /* ppoll's, or NULL */
};

static int poll_look(void *arg)
{
	struct poll_args *p = arg;
	struct timespec zero = {0, 0};
	int r = p->mask ? REAL(ppoll)(p->fds, p->n, &zero, p->mask) : REAL(poll)(p->fds, p->n, 0);

	return r < 0 ? -errno : r;
}

static void poll_watch(struct watching *wa, void *arg, struct gr_task *self, uint32_t seq)
{
	struct poll_args *p = arg;

	for (nfds_t i = 0; i < p->n; i++)
		if (p->fds[i].fd >= 0)
			watch(wa, p->fds[i].fd, self, seq);
}

static int green_poll(struct pollfd *fds, nfds_t n, const sigset_t *mask, int64_t deadline)
{
	struct poll_args p = {fds, n, mask};
	int errsave = errno, r = wait_for(poll_look, poll_watch, &p, (int)n, deadline, mask, true);

	if (r < 0) {
		errno = -r;
		return -1;
	}
	errno = errsave;
	return r;
}

GR_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	SHIM_CALLED(poll);
	if (!gr_current_task() || timeout == 0 || n > (nfds_t)INT32_MAX)
		return REAL(poll)(fds, n, timeout);
	return green_poll(fds, n, NULL, shim_deadline_ms(timeout));
}

static int64_t deadline_rel(const struct timespec *ts)
{
	if (!ts)
		return GR_NEVER;
	return gr_nanotime() + (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

GR_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	SHIM_CALLED(ppoll);
	if (!gr_current_task() || (ts && !ts->tv_sec && !ts->tv_nsec) || n > (nfds_t)INT32_MAX)
		return REAL(ppoll)(fds, n, ts, mask);
	if (ts && (!shim_valid_timespec(ts) || ts->tv_sec < 0)) {
		errno = EINVAL;
		return -1;
	}
	return green_poll(fds, n, mask, deadline_rel(ts));
}

/* _FORTIFY_SOURCE's checked forms, which the headers call instead when the array's size is
 * known: more fds than the array holds go to libc's, which says so and aborts */
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
		size_t fdslen);

GR_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	SHIM_CALLED(__poll_chk);
	if (fdslen / sizeof *fds < n)
		return REAL(__poll_chk)(fds, n, timeout, fdslen);
	return poll(fds, n, timeout);
}

GR_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
			  const sigset_t *mask, size_t fdslen)
{
	SHIM_CALLED(__ppoll_chk);
	if (fdslen / sizeof *fds < n)
		return REAL(__ppoll_chk)(fds, n, ts, mask, fdslen);
	return ppoll(fds, n, ts, mask);
}

/* ---- select ---- */

struct select_args {
	int nfds;
	fd_set *sets[3], saved[3];
	const sigset_t *mask; /* pselect's, or NULL */
};

static int select_look(void *arg)
{
	struct select_args *s = arg;
	struct timeval zero = {0, 0};
	struct timespec zero_ts = {0, 0};
	int r;

	for (int i = 0; i < 3; i++)
		if (s->sets[i])
			*s->sets[i] = s->saved[i];
	r = s->mask ? REAL(pselect)(s->nfds, s->sets[0], s->sets[1], s->sets[2], &zero_ts, s->mask)
		    : REAL(select)(s->nfds, s->sets[0], s->sets[1], s->sets[2], &zero);
	return r < 0 ? -errno : r;
}

static void select_watch(struct watching *wa, void *arg, struct gr_task *self, uint32_t seq)
{
	struct select_args *s = arg;

	for (int fd = 0; fd < s->nfds; fd++)
		for (int i = 0; i < 3; i++)
			if (s->sets[i] && FD_ISSET(fd, &s->saved[i])) {
				watch(wa, fd, self, seq);
				break;
			}
}

static int green_select(int nfds, fd_set *r, fd_set *w, fd_set *e, const sigset_t *mask,
			int64_t deadline)
{
	struct select_args s = {.nfds = nfds, .sets = {r, w, e}, .mask = mask};
	int errsave = errno, res;

	for (int i = 0; i < 3; i++)
		if (s.sets[i])
			s.saved[i] = *s.sets[i];
	res = wait_for(select_look, select_watch, &s, nfds, deadline, mask, true);
	if (res < 0) {
		errno = -res;
		return -1;
	}
	errno = errsave;
	return res;
}

GR_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	SHIM_CALLED(select);
	int64_t deadline;
	int res;

	if (!gr_current_task() || nfds < 0 || nfds > FD_SETSIZE || (tv && !tv->tv_sec && !tv->tv_usec))
		return REAL(select)(nfds, r, w, e, tv);
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)) {
		errno = EINVAL;
		return -1;
	}
	deadline = tv ? gr_nanotime() + (int64_t)tv->tv_sec * 1000000000 + tv->tv_usec * 1000
		      : GR_NEVER;
	res = green_select(nfds, r, w, e, NULL, deadline);
	if (tv) { /* Linux reports the time not slept */
		int64_t left = deadline - gr_nanotime();

		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000000000;
		tv->tv_usec = (left % 1000000000) / 1000;
	}
	return res;
}

GR_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
		      const sigset_t *mask)
{
	SHIM_CALLED(pselect);
	if (!gr_current_task() || nfds < 0 || nfds > FD_SETSIZE || (ts && !ts->tv_sec && !ts->tv_nsec))
		return REAL(pselect)(nfds, r, w, e, ts, mask);
	if (ts && (!shim_valid_timespec(ts) || ts->tv_sec < 0)) {
		errno = EINVAL;
		return -1;
	}
	return green_select(nfds, r, w, e, mask, deadline_rel(ts));
}

/* ---- epoll_wait ---- */

struct epoll_args {
	int epfd;
	struct epoll_event *events;
	int max;
	const sigset_t *mask; /* epoll_pwait's, or NULL */
};

static int epoll_look(void *arg)
{
	struct epoll_args *a = arg;
	int r = a->mask ? REAL(epoll_pwait)(a->epfd, a->events, a->max, 0, a->mask)
			: REAL(epoll_wait)(a->epfd, a->events, a->max, 0);

	return r < 0 ? -errno : r;
}

static void epoll_watch(struct watching *wa, void *arg, struct gr_task *self, uint32_t seq)
{
	watch(wa, ((struct epoll_args *)arg)->epfd, self, seq);
}

static int green_epoll(int epfd, struct epoll_event *events, int max, const sigset_t *mask,
		       int64_t deadline)
{
	struct epoll_args a = {epfd, events, max, mask};
	int errsave = errno, r = wait_for(epoll_look, epoll_watch, &a, 1, deadline, a.mask, true);

	if (r < 0) {
		errno = -r;
		return -1;
	}
	errno = errsave;
	return r;
}

GR_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	SHIM_CALLED(epoll_wait);
	if (!gr_current_task() || timeout == 0 || max <= 0)
		return REAL(epoll_wait)(epfd, events, max, timeout);
	return green_epoll(epfd, events, max, NULL, shim_deadline_ms(timeout));
}

GR_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
			  const sigset_t *mask)
{
	SHIM_CALLED(epoll_pwait);
	if (!gr_current_task() || timeout == 0 || max <= 0)
		return REAL(epoll_pwait)(epfd, events, max, timeout, mask);
	return green_epoll(epfd, events, max, mask, shim_deadline_ms(timeout));
}

GR_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int max,
			   const struct timespec *ts, const sigset_t *mask)
{
	SHIM_CALLED(epoll_pwait2);
	if (!gr_current_task() || (ts && !ts->tv_sec && !ts->tv_nsec) || max <= 0)
		return REAL(epoll_pwait2)(epfd, events, max, ts, mask);
	if (ts && (!shim_valid_timespec(ts) || ts->tv_sec < 0)) {
		errno = EINVAL;
		return -1;
	}
	return green_epoll(epfd, events, max, mask, deadline_rel(ts));
}
