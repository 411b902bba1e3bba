/*
 * netpoll.c — poll descriptors and the scheduler's view of the poller (see netpoll.h).
 *
 * Lock order: the renew lock, then pd->lock, then the cache lock; a pd's lock is never held
 * while parking.
 */
#include "netpoll.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fork.h"
#include "sched.h"
#include "throw.h"
#include "tls.h"
#include "waitq.h"

#define CHUNK 256

struct chunk {
	struct chunk *next;
	struct gr_pd pd[CHUNK];
};

static gr_lock_t cache_lock = GR_LOCK_INIT;
static struct gr_pd *free_pds;	/* protected by cache_lock */
static size_t pds_in_use;	/* protected by cache_lock */
static struct chunk *chunks;	/* protected by cache_lock; never freed */
static _Atomic uint32_t next_seq = 1;
static atomic_bool active;
static gr_lock_t renew_lock = GR_LOCK_INIT; /* one renewal of the poller at a time */

bool gr_netpoll_active(void) { return atomic_load_explicit(&active, memory_order_relaxed); }

/* a broken poller: one line naming the call and the error, then abort */
static _Noreturn void poller_failed(const char *call, int err)
{
	char what[160];

	snprintf(what, sizeof what, "runtime: the poller's %s failed: %s (errno %d)", call,
		 strerror(err), err);
	gr_throw(what);
}

void gr_netpoll_init(void)
{
	int err = gr_netpoll_backend_init();

	if (err)
		poller_failed("creation at start-up", -err);
}

struct gr_pd *gr_pd_open(int fd)
{
	struct gr_pd *pd;

	gr_lock(&cache_lock);
	while (!free_pds) {
		/* a new chunk, allocated with the lock released (lock.h) */
		struct chunk *c;

		gr_unlock(&cache_lock);
		if (!(c = aligned_alloc(_Alignof(struct chunk), sizeof *c)))
			return NULL;
		memset(c, 0, sizeof *c);
		gr_lock(&cache_lock);
		c->next = chunks;
		chunks = c;
		for (int i = CHUNK - 1; i >= 0; i--) {
			c->pd[i].free_next = free_pds;
			free_pds = &c->pd[i];
		}
	}
	pd = free_pds;
	free_pds = pd->free_next;
	pds_in_use++;
	gr_unlock(&cache_lock);

	gr_lock(&pd->lock);
	pd->fd = fd;
	atomic_store(&pd->seq, atomic_fetch_add(&next_seq, 1));
	pd->refs = 1;
	pd->watchers = NULL;
	pd->closing = false;
	pd->registered = false;
	atomic_store(&pd->rg, GR_PD_NIL);
	atomic_store(&pd->wg, GR_PD_NIL);
	atomic_store(&pd->rlock, 0);
	atomic_store(&pd->wlock, 0);
	atomic_store(&pd->marked, false);
	gr_unlock(&pd->lock);
	return pd;
}

bool gr_pd_acquire(struct gr_pd *pd, int fd)
{
	bool ok;

	gr_lock(&pd->lock);
	ok = pd->refs > 0 && !pd->closing && pd->fd == fd;
	if (ok)
		pd->refs++;
	gr_unlock(&pd->lock);
	return ok;
}

void gr_pd_release(struct gr_pd *pd)
{
	bool last;

	gr_lock(&pd->lock);
	last = --pd->refs == 0;
	if (last) {
		pd->fd = -1;
		atomic_fetch_add(&pd->seq, 1); /* events still in flight name the old one */
	}
	gr_unlock(&pd->lock);
	if (last) {
		gr_lock(&cache_lock);
		pd->free_next = free_pds;
		free_pds = pd;
		pds_in_use--;
		gr_unlock(&cache_lock);
	}
}

size_t gr_pd_in_use(void)
{
	size_t n;

	gr_lock(&cache_lock);
	n = pds_in_use;
	gr_unlock(&cache_lock);
	return n;
}

/*
 * The fd is ready (ioready) or closing (!ioready): take the task waiting in *gp, if any, off
 * the semaphore and wake it; with ioready and nobody waiting, leave READY for the next waiter.
 */
static void unblock(_Atomic uintptr_t *gp, bool ioready)
{
	uintptr_t old = atomic_load(gp);

	for (;;) {
		if (old == GR_PD_READY || (old == GR_PD_NIL && !ioready))
			return;
		if (atomic_compare_exchange_weak(gp, &old, ioready ? GR_PD_READY : GR_PD_NIL))
			break;
	}
	if (old != GR_PD_NIL) {
		struct gr_task *t = (struct gr_task *)old;

		gr_wake(t, __atomic_load_n(&t->wait_seq, __ATOMIC_ACQUIRE), GR_WAKE_NORMAL);
	}
}

/* pd->lock held */
static void wake_watchers(struct gr_pd *pd)
{
	for (struct gr_pd_watch *w = pd->watchers; w; w = w->next)
		gr_wake(w->task, w->seq, GR_WAKE_NORMAL);
}

void gr_pd_close(struct gr_pd *pd)
{
	gr_lock(&pd->lock);
	pd->closing = true;
	atomic_fetch_add(&pd->seq, 1);
	if (pd->registered) {
		gr_netpoll_backend_close(pd->fd);
		pd->registered = false;
	}
	wake_watchers(pd);
	gr_unlock(&pd->lock);
	unblock(&pd->rg, false);
	unblock(&pd->wg, false);
	gr_waitq_wake(&pd->rlock, -1);
	gr_waitq_wake(&pd->wlock, -1);
	gr_pd_release(pd);
}

static bool is_closing(struct gr_pd *pd)
{
	return __atomic_load_n(&pd->closing, __ATOMIC_ACQUIRE);
}

/* ---- direction locks: 0 free, 1 held, 2 held and someone may wait ---- */

static bool lock_busy(const void *addr, void *arg)
{
	struct gr_pd *pd = arg;

	return atomic_load((_Atomic int *)addr) == 2 && !is_closing(pd);
}

int gr_pd_lock(struct gr_pd *pd, int mode, int64_t deadline, bool interruptible)
{
	_Atomic int *l = mode == GR_PD_R ? &pd->rlock : &pd->wlock;
	int expect = 0;

	if (atomic_compare_exchange_strong(l, &expect, 1))
		return 0;
	if (atomic_exchange(l, 2) == 0)
		return 0;
	do {
		int why;

		if (is_closing(pd))
			return -EBADF;
		why = gr_waitq_park(l, lock_busy, pd, deadline, interruptible, "fd lock");
		if (why == GR_WAKE_TIMEOUT)
			return -ETIMEDOUT;
		if (why == GR_WAKE_INTERRUPT)
			return -EINTR;
	} while (atomic_exchange(l, 2) != 0);
	if (is_closing(pd)) {
		gr_pd_unlock(pd, mode);
		return -EBADF;
	}
	return 1;
}

void gr_pd_unlock(struct gr_pd *pd, int mode)
{
	_Atomic int *l = mode == GR_PD_R ? &pd->rlock : &pd->wlock;

	if (atomic_exchange(l, 0) == 2)
		gr_waitq_wake(l, 1);
}

/* ---- a poller lost and made anew ---- */

/* every open pd that was registered, registered with the new poller (renew lock held) */
static int register_again(void)
{
	struct chunk *first;
	int n = 0;

	gr_lock(&cache_lock);
	first = chunks;
	gr_unlock(&cache_lock);
	for (struct chunk *c = first; c; c = c->next) {
		for (int i = 0; i < CHUNK; i++) {
			struct gr_pd *pd = &c->pd[i];
			int err = 0;

			gr_lock(&pd->lock);
			if (pd->refs > 0 && pd->registered && !pd->closing) {
				err = gr_netpoll_backend_open(pd->fd, pd, atomic_load(&pd->seq));
				if (err == -EEXIST) /* registered meanwhile, with the new poller */
					err = 0;
				pd->registered = !err;
				n += !err;
			}
			gr_unlock(&pd->lock);
		}
	}
	return n;
}

/*
 * A backend call that began when the poller's generation was gen failed: true if the poller
 * has been made anew since (by this call, after finding its fds lost, or by another): try
 * again. Its registration in the new set reports each fd's present readiness, so no task
 * sleeps past what the lost set would have said.
 */
static bool renewed_since(unsigned gen)
{
	bool renewed = true;

	gr_lock(&renew_lock);
	if (gr_netpoll_backend_generation() == gen) {
		int r = gr_netpoll_backend_renew();

		if (r < 0)
			poller_failed("renewal", -r);
		if (r > 0) {
			int fds[2], n = gr_netpoll_fds(fds), watched = register_again();

			gr_say("the poller's epoll fd or eventfd was closed behind greenpoll's back "
			       "(a raw close system call?); made a new poller (epoll fd %d, eventfd "
			       "%d) and watch the %d open fds again",
			       fds[0], n > 1 ? fds[1] : -1, watched);
		}
		renewed = r > 0;
	}
	gr_unlock(&renew_lock);
	return renewed;
}

/* ---- waiting for readiness ---- */

static int ensure_registered(struct gr_pd *pd)
{
	unsigned gen;
	int err;

	do {
		gen = gr_netpoll_backend_generation();
		gr_lock(&pd->lock);
		if (pd->closing)
			err = -EBADF;
		else if (pd->registered)
			err = 0;
		else if (!(err = gr_netpoll_backend_open(pd->fd, pd, atomic_load(&pd->seq))))
			pd->registered = true;
		gr_unlock(&pd->lock);
		/* EBADF, EINVAL: the program's fd, or the poller's own lost */
	} while ((err == -EBADF || err == -EINVAL) && !is_closing(pd) && renewed_since(gen));
	/* the poller cannot watch the fd for want of kernel memory: no error of the program's
	 * call stands for that (read(2) never fails with ENOSPC) */
	if (err == -ENOSPC)
		poller_failed("epoll_ctl (at the limit of sysctl fs.epoll.max_user_watches)", ENOSPC);
	if (err == -ENOMEM)
		poller_failed("epoll_ctl", ENOMEM);
	if (!err)
		atomic_store_explicit(&active, true, memory_order_relaxed);
	return err;
}

int gr_pd_wait(struct gr_pd *pd, int mode, int64_t deadline, bool interruptible)
{
	_Atomic uintptr_t *gp = mode == GR_PD_R ? &pd->rg : &pd->wg;
	uintptr_t self = (uintptr_t)gr_current_task(), old;
	enum gr_wake_reason why;
	int err;

	if (!pd->registered && (err = ensure_registered(pd)))
		return err;
	for (;;) {
		old = GR_PD_READY;
		if (atomic_load_explicit(gp, memory_order_relaxed) == GR_PD_READY &&
		    atomic_compare_exchange_strong(gp, &old, GR_PD_NIL))
			return 0;
		gr_wait_prepare(interruptible);
		old = GR_PD_NIL;
		if (atomic_compare_exchange_strong(gp, &old, self))
			break;
		if (old != GR_PD_READY)
			gr_throw("runtime: two tasks wait on one poll descriptor direction");
	}
	/* closed before we were visible to gr_pd_close: do not sleep */
	if (is_closing(pd)) {
		old = self;
		atomic_compare_exchange_strong(gp, &old, GR_PD_NIL);
		return -EBADF;
	}
	why = gr_park(deadline, mode == GR_PD_R ? "read" : "write", pd);
	old = atomic_exchange(gp, GR_PD_NIL);
	if (is_closing(pd))
		return -EBADF;
	if (old == GR_PD_READY)
		return 0;
	if (why == GR_WAKE_TIMEOUT)
		return -ETIMEDOUT;
	if (why == GR_WAKE_INTERRUPT)
		return -EINTR;
	return 0;
}

void gr_pd_forget_ready(struct gr_pd *pd, int mode)
{
	_Atomic uintptr_t *gp = mode == GR_PD_R ? &pd->rg : &pd->wg;
	uintptr_t old = GR_PD_READY;

	if (atomic_load_explicit(gp, memory_order_relaxed) == GR_PD_READY)
		atomic_compare_exchange_strong(gp, &old, GR_PD_NIL);
}

/* ---- emptied reads ---- */

/* a read's stamp: the pd's incarnation and the count of reads begun with it */
static uint64_t stamp_of(uint32_t seq, uint32_t reads) { return (uint64_t)seq << 32 | reads; }

uint64_t gr_pd_read_begin(struct gr_pd *pd)
{
	uint32_t seq = atomic_load(&pd->seq);

	return stamp_of(seq, atomic_fetch_add(&pd->reads, 1) + 1);
}

void gr_pd_read_emptied(struct gr_pd *pd, uint64_t stamp)
{
	/* only if no read began since: that one may have found (and left) new data */
	if (stamp_of(atomic_load(&pd->seq), atomic_load(&pd->reads)) == stamp)
		atomic_store(&pd->emptied, stamp);
}

bool gr_pd_read_known_empty(struct gr_pd *pd)
{
	uint64_t now = stamp_of(atomic_load(&pd->seq), atomic_load(&pd->reads));

	return atomic_load(&pd->emptied) == now && !atomic_load(&pd->marked);
}

/* ---- the poller ---- */

static void event(struct gr_pd *pd, uint32_t seq, int modes)
{
	if ((atomic_load(&pd->seq) & GR_PD_TAG_MASK) != (seq & GR_PD_TAG_MASK))
		return; /* an event for an fd closed since */
	if (modes & GR_PD_MARK)
		atomic_store(&pd->marked, true); /* before the waiter runs: it reads the hint */
	if (modes & GR_PD_R)
		unblock(&pd->rg, true);
	if (modes & GR_PD_W)
		unblock(&pd->wg, true);
	if (__atomic_load_n(&pd->watchers, __ATOMIC_ACQUIRE)) {
		gr_lock(&pd->lock);
		wake_watchers(pd);
		gr_unlock(&pd->lock);
	}
}

int gr_pd_watch(struct gr_pd *pd, struct gr_pd_watch *w)
{
	int err = pd->registered ? 0 : ensure_registered(pd);

	if (err)
		return err;
	gr_lock(&pd->lock);
	w->prev = NULL;
	w->next = pd->watchers;
	if (w->next)
		w->next->prev = w;
	__atomic_store_n(&pd->watchers, w, __ATOMIC_RELEASE);
	gr_unlock(&pd->lock);
	return 0;
}

void gr_pd_unwatch(struct gr_pd *pd, struct gr_pd_watch *w)
{
	gr_lock(&pd->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		__atomic_store_n(&pd->watchers, w->next, __ATOMIC_RELEASE);
	if (w->next)
		w->next->prev = w->prev;
	gr_unlock(&pd->lock);
}

/* the task parked on pd, if any, is about to be woken: start fetching its record */
static void prefetch_waiters(struct gr_pd *pd)
{
	uintptr_t r = atomic_load_explicit(&pd->rg, memory_order_relaxed);
	uintptr_t w = atomic_load_explicit(&pd->wg, memory_order_relaxed);

	if (r > GR_PD_READY)
		__builtin_prefetch((void *)r, 1);
	if (w > GR_PD_READY)
		__builtin_prefetch((void *)w, 1);
}

/*
 * With thousands of fds every pd and every parked task is a cache miss: all the batch's pds
 * are fetched first, and the waiters of the pd NETPOLL_AHEAD events on while the current one
 * is handled. Only prefetches: pds are type-stable, and a stale rg names a task record that
 * is never dereferenced here.
 */
#define NETPOLL_AHEAD 4

int gr_netpoll(int64_t delay_ns, int max, struct gr_netpoll_events *room)
{
	int n;

	if (!gr_netpoll_active())
		return 0;
	for (;;) {
		unsigned gen = gr_netpoll_backend_generation();

		n = gr_netpoll_backend_poll(delay_ns, max, room);
		if (n >= 0)
			break;
		if ((n != -EBADF && n != -EINVAL) || !renewed_since(gen))
			poller_failed("epoll_wait", -n);
	}
	for (int i = 0; i < n; i++)
		__builtin_prefetch(room->ready[i].pd, 1);
	for (int i = 0; i < n; i++) {
		if (i + NETPOLL_AHEAD < n)
			prefetch_waiters(room->ready[i + NETPOLL_AHEAD].pd);
		event(room->ready[i].pd, room->ready[i].seq, room->ready[i].modes);
	}
	return n;
}

void gr_netpoll_break(void)
{
	if (gr_netpoll_active())
		gr_netpoll_backend_break();
}

/* fork.h: a poller of the child's own (the parent's epoll set is shared) */
static void netpoll_after_fork_child(struct gr_task *self)
{
	int err;

	(void)self;

	renew_lock = (gr_lock_t)GR_LOCK_INIT;
	cache_lock = (gr_lock_t)GR_LOCK_INIT;
	err = gr_netpoll_backend_init();
	if (err)
		poller_failed("creation in a fork child", -err);
	for (struct chunk *c = chunks; c; c = c->next) {
		for (int i = 0; i < CHUNK; i++) {
			struct gr_pd *pd = &c->pd[i];

			pd->lock = (gr_lock_t)GR_LOCK_INIT;
			/* its waiters and watchers were other threads (fork.h): a readiness
			 * event or a close in the child must find none of them */
			atomic_store(&pd->rg, GR_PD_NIL);
			atomic_store(&pd->wg, GR_PD_NIL);
			atomic_store(&pd->rlock, 0);
			atomic_store(&pd->wlock, 0);
			pd->watchers = NULL;
			if (pd->refs > 0 && pd->registered && !pd->closing &&
			    gr_netpoll_backend_open(pd->fd, pd, atomic_load(&pd->seq)))
				pd->registered = false;
		}
	}
}
GR_AFTER_FORK(GR_FORK_NETPOLL, netpoll_after_fork_child);
