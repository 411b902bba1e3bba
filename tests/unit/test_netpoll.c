/*
 * test_netpoll.c — poll descriptors (runtime/netpoll.h): the rg/wg semaphores under park,
 * readiness, close and deadline, and the sequence number that keeps an event for a closed fd
 * from reaching the pd's next incarnation.
 *
 * The runtime is booted for real (rt.h), with the real epoll backend and real sockets. Two of
 * the runtime's calls are wrapped (-Wl,--wrap, tests/unit.mk), so that what happens, and when,
 * is decided by the test where a race would hit the moment only by luck:
 *  - the backend's poll: a test may hand the task that calls gr_netpoll an event of its choosing
 *    (a stale sequence number, one edge and no more); every other caller, and every other
 *    call, gets the real backend's events;
 *  - gr_wait_prepare: a test may have the pd closed, or made ready, at the moment a waiter has
 *    checked it and not yet published itself in rg, the narrowest window of each race.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "rt.h"

#define RACE_ROUNDS 5000
#define CLOSE_ROUNDS 2000

int __real_gr_netpoll_backend_poll(int64_t delay_ns, int max, struct gr_netpoll_events *room);

static struct {
	struct gr_task *to; /* the task whose next look gets it */
	struct gr_pd_ready ev;
} injected;

int __wrap_gr_netpoll_backend_poll(int64_t delay_ns, int max, struct gr_netpoll_events *room)
{
	if (injected.to && injected.to == gr_current_task()) {
		injected.to = NULL;
		room->ready[0] = injected.ev;
		return 1;
	}
	return __real_gr_netpoll_backend_poll(delay_ns, max, room);
}

static struct gr_netpoll_events room;

/* pd gets the event {seq, modes}, as if the poller had just reported it */
static void deliver(struct gr_pd *pd, uint32_t seq, int modes)
{
	injected.ev = (struct gr_pd_ready){.pd = pd, .seq = seq, .modes = modes};
	injected.to = gr_current_task();
	ck_assert_int_eq(gr_netpoll(0, 1, &room), 1);
}

static int64_t soon(int64_t ns) { return gr_nanotime() + ns; }

uint32_t __real_gr_wait_prepare(bool interruptible);

/* what the next gr_wait_prepare does to a pd first, on the waiting task */
static struct {
	struct gr_pd *pd;
	bool close; /* close it; else it becomes ready for reading */
} in_prepare;

uint32_t __wrap_gr_wait_prepare(bool interruptible)
{
	struct gr_pd *pd = in_prepare.pd;

	in_prepare.pd = NULL;
	if (pd && in_prepare.close)
		gr_pd_close(pd);
	else if (pd)
		deliver(pd, atomic_load(&pd->seq), GR_PD_R);
	return __real_gr_wait_prepare(interruptible);
}

static void socket_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* pd's fd is watched by the poller (as a first wait would make it), without waiting */
static void register_pd(struct gr_pd *pd)
{
	struct gr_pd_watch w = {.task = gr_current_task()};

	ck_assert_int_eq(gr_pd_watch(pd, &w), 0);
	gr_pd_unwatch(pd, &w);
}

static uintptr_t rg_of(struct gr_pd *pd) { return atomic_load(&pd->rg); }

/*
 * A pd for sv[0] of a new socket pair, watched by the poller, its first edge (writable, which
 * epoll reports for a new registration) already handled: from then on no edge comes unless
 * the test makes one (a late one would wake watchers the test has not woken).
 */
static struct gr_pd *watched_pair(int sv[2])
{
	struct gr_pd *pd;

	socket_pair(sv);
	pd = gr_pd_open(sv[0]);
	register_pd(pd);
	ck_assert_msg(rt_until((gr_netpoll(0, GR_NETPOLL_MAX_EVENTS, &room),
				atomic_load(&pd->wg) == GR_PD_READY)),
		      "the poller never reported the new socket writable");
	return pd;
}

/* the calling task waits for pd to be readable and returns at once, without parking */
static void wait_without_parking(struct gr_pd *pd)
{
	uint32_t waits = gr_current_task()->wait_seq;

	ck_assert_int_eq(gr_pd_wait(pd, GR_PD_R, GR_NEVER, false), 0);
	ck_assert_msg(gr_current_task()->wait_seq == waits,
		      "the wait parked although the fd was ready");
}

/* ---- readiness before the wait ---- */

START_TEST(readiness_before_park_is_consumed_without_parking)
{
	int sv[2];
	struct gr_pd *pd;

	rt_boot(1);
	pd = watched_pair(sv);
	deliver(pd, atomic_load(&pd->seq), GR_PD_R);
	ck_assert_uint_eq(rg_of(pd), GR_PD_READY);
	wait_without_parking(pd);
	ck_assert_uint_eq(rg_of(pd), GR_PD_NIL);
	/* consumed once: the next wait parks, here until its deadline */
	ck_assert_int_eq(gr_pd_wait(pd, GR_PD_R, soon(20 * RT_MS), false), -ETIMEDOUT);
	ck_assert_uint_eq(rg_of(pd), GR_PD_NIL);
	gr_pd_close(pd);
}
END_TEST

/* the same with a real edge: data written before the wait, reported by epoll */
START_TEST(real_edge_before_park_is_consumed_without_parking)
{
	int sv[2];
	struct gr_pd *pd;

	rt_boot(1);
	pd = watched_pair(sv);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_msg(rt_until((gr_netpoll(0, GR_NETPOLL_MAX_EVENTS, &room),
				rg_of(pd) == GR_PD_READY)),
		      "the poller never reported the data");
	wait_without_parking(pd);
	gr_pd_close(pd);
}
END_TEST

/* the edge comes after the waiter found rg empty, before it is in rg: it must not sleep */
START_TEST(readiness_before_waiter_is_visible_is_not_missed)
{
	int sv[2];
	struct gr_pd *pd;
	int64_t began;

	rt_boot(1);
	pd = watched_pair(sv);
	in_prepare.pd = pd;
	began = gr_nanotime();
	ck_assert_int_eq(gr_pd_wait(pd, GR_PD_R, soon(RT_PATIENCE), false), 0);
	ck_assert_msg(in_prepare.pd == NULL, "the wait never prepared to park");
	ck_assert_msg(gr_nanotime() - began < RT_PATIENCE / 2, "the waiter slept past the edge");
	ck_assert_uint_eq(rg_of(pd), GR_PD_NIL);
	gr_pd_close(pd);
}
END_TEST

/* ---- one edge, one wake ---- */

static struct {
	struct gr_pd *pd;
	_Atomic int returned;
} once;

static void *wait_twice(void *arg)
{
	int r[2];

	(void)arg;
	for (int i = 0; i < 2; i++) {
		r[i] = gr_pd_wait(once.pd, GR_PD_R, soon(RT_PATIENCE), false);
		atomic_fetch_add(&once.returned, 1);
	}
	return (void *)(uintptr_t)(r[0] == 0 && r[1] == 0);
}

START_TEST(one_event_wakes_one_wait)
{
	int sv[2];
	struct gr_task *t;

	rt_boot(1);
	once.pd = watched_pair(sv);
	t = rt_spawn(wait_twice, NULL);
	ck_assert(rt_until(rt_parked(t) && rg_of(once.pd) == (uintptr_t)t));
	deliver(once.pd, atomic_load(&once.pd->seq), GR_PD_R);
	ck_assert(rt_until(atomic_load(&once.returned) == 1 && rt_parked(t)));
	usleep(20000);
	ck_assert_msg(rt_parked(t) && atomic_load(&once.returned) == 1,
		      "one event ended two waits");
	deliver(once.pd, atomic_load(&once.pd->seq), GR_PD_R);
	ck_assert(rt_join(t));
	gr_pd_close(once.pd);
}
END_TEST

/* ---- readiness racing the park ---- */

static struct {
	struct gr_pd *pd;
	int fd, peer;
	_Atomic int consumed;
	int parks;
} ping;

static void *write_one_byte_a_round(void *arg)
{
	(void)arg;
	for (int i = 0; i < RACE_ROUNDS && !rt_broken(); i++) {
		while (atomic_load(&ping.consumed) != i)
			if (rt_broken())
				return NULL;
		if (!rt_check(write(ping.peer, "x", 1) == 1, "write: %s", strerror(errno)))
			break;
	}
	return NULL;
}

static void *read_every_byte(void *arg)
{
	char c;

	(void)arg;
	ck_assert_int_eq(gr_pd_lock(ping.pd, GR_PD_R, GR_NEVER, false), 0);
	while (atomic_load(&ping.consumed) < RACE_ROUNDS && !rt_broken()) {
		ssize_t n = recv(ping.fd, &c, 1, MSG_DONTWAIT);
		int r;

		if (n == 1) {
			atomic_fetch_add(&ping.consumed, 1);
			continue;
		}
		if (!rt_check(n < 0 && errno == EAGAIN, "recv: %zd, %s", n, strerror(errno)))
			break;
		ping.parks++;
		r = gr_pd_wait(ping.pd, GR_PD_R, soon(RT_PATIENCE), false);
		rt_check(r == 0, "byte %d: the wait for it ended with %d (readiness lost)",
			 atomic_load(&ping.consumed) + 1, r);
	}
	gr_pd_unlock(ping.pd, GR_PD_R);
	return NULL;
}

START_TEST(readiness_racing_park_is_never_lost)
{
	int sv[2];
	pthread_t writer;

	rt_boot(2);
	socket_pair(sv);
	ping.fd = sv[0];
	ping.peer = sv[1];
	ping.pd = gr_pd_open(sv[0]);
	writer = rt_os_thread(write_one_byte_a_round, NULL);
	rt_join(rt_spawn(read_every_byte, NULL));
	pthread_join(writer, NULL);
	rt_verdict();
	ck_assert_int_eq(atomic_load(&ping.consumed), RACE_ROUNDS);
	printf("readiness racing park: %d bytes, %d waits\n", RACE_ROUNDS, ping.parks);
	gr_pd_close(ping.pd);
}
END_TEST

/* ---- close ---- */

/* a blocked reader or writer as the shim runs one: a reference, the direction lock, waits
 * until the fd is ready or the wait fails; returns the failure */
struct blocked {
	struct gr_pd *pd;
	int fd, mode;
};

static void *block_until_failure(void *arg)
{
	struct blocked *b = arg;
	int r;

	if (!gr_pd_acquire(b->pd, b->fd))
		return (void *)(intptr_t)-EBADF; /* closed before it began */
	r = gr_pd_lock(b->pd, b->mode, soon(RT_PATIENCE), false);
	if (r >= 0) {
		while ((r = gr_pd_wait(b->pd, b->mode, soon(RT_PATIENCE), false)) == 0)
			;
		gr_pd_unlock(b->pd, b->mode);
	}
	gr_pd_release(b->pd);
	return (void *)(intptr_t)r;
}

/* fd's send buffer full: writing would wait */
static void fill(int fd)
{
	static char junk[4096];
	int small = 4096;

	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
	while (send(fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
}

/* ---- the direction lock ---- */

struct locker {
	struct gr_pd *pd;
	int64_t patience; /* ns it waits for the lock */
};

/* the read lock taken and let go: gr_pd_lock's result (-EDOM: timed out early) */
static void *lock_for_reading(void *arg)
{
	struct locker *l = arg;
	int64_t deadline = soon(l->patience);
	int r = gr_pd_lock(l->pd, GR_PD_R, deadline, false);

	if (r >= 0)
		gr_pd_unlock(l->pd, GR_PD_R);
	return (void *)(intptr_t)(r == -ETIMEDOUT && gr_nanotime() < deadline ? -EDOM : r);
}

/* taken at once when free; a second taker times out, or gets it (1) when it is let go */
START_TEST(direction_lock_times_out_and_hands_over)
{
	int sv[2];
	struct locker timed, patient;
	struct gr_task *t;

	rt_boot(2);
	timed = (struct locker){.pd = watched_pair(sv), .patience = 20 * RT_MS};
	patient = (struct locker){.pd = timed.pd, .patience = RT_PATIENCE};
	ck_assert_int_eq(gr_pd_lock(timed.pd, GR_PD_R, GR_NEVER, false), 0);
	ck_assert_int_eq((intptr_t)rt_join(rt_spawn(lock_for_reading, &timed)), -ETIMEDOUT);
	t = rt_spawn(lock_for_reading, &patient);
	ck_assert(rt_until(rt_parked(t)));
	gr_pd_unlock(timed.pd, GR_PD_R);
	ck_assert_int_eq((intptr_t)rt_join(t), 1);
	ck_assert_int_eq(gr_pd_lock(timed.pd, GR_PD_R, GR_NEVER, false), 0);
	gr_pd_unlock(timed.pd, GR_PD_R);
	gr_pd_close(timed.pd);
}
END_TEST

/* ---- watchers (the program's poll, select, epoll_wait) ---- */

/* one watch of pd, as the shim's poll makes it: a reference, then the watch, then the park */
static void *watch_once(void *arg)
{
	struct gr_pd *pd = arg;
	struct gr_pd_watch w = {.task = gr_current_task()};
	int fd = pd->fd;
	int why;

	if (!gr_pd_acquire(pd, fd))
		return (void *)(intptr_t)-EBADF;
	w.seq = gr_wait_prepare(false);
	if (gr_pd_watch(pd, &w))
		why = -EINVAL;
	else
		why = gr_park(soon(RT_PATIENCE), "poll", pd);
	gr_pd_unwatch(pd, &w);
	gr_pd_release(pd);
	return (void *)(intptr_t)why;
}

/* every watcher is woken by one edge, and by the close */
START_TEST(watchers_are_all_woken_by_an_edge_and_by_close)
{
	int sv[2];
	struct gr_pd *pd;
	struct gr_task *w[3];

	rt_boot(2);
	pd = watched_pair(sv);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++)
			w[i] = rt_spawn(watch_once, pd);
		for (int i = 0; i < 3; i++)
			ck_assert(rt_until(rt_parked(w[i])));
		if (round == 0)
			deliver(pd, atomic_load(&pd->seq), GR_PD_R);
		else
			gr_pd_close(pd);
		for (int i = 0; i < 3; i++)
			ck_assert_int_eq((intptr_t)rt_join(w[i]), GR_WAKE_NORMAL);
	}
}
END_TEST

/* a reader and a writer parked in rg and wg, a second reader queued for the read lock */
START_TEST(close_wakes_reader_and_writer_with_ebadf)
{
	int sv[2];
	struct gr_pd *pd;
	struct blocked r, w;
	struct gr_task *rt, *wt, *queued;

	rt_boot(2);
	socket_pair(sv);
	fill(sv[0]);
	pd = gr_pd_open(sv[0]);
	r = (struct blocked){.pd = pd, .fd = sv[0], .mode = GR_PD_R};
	w = (struct blocked){.pd = pd, .fd = sv[0], .mode = GR_PD_W};
	rt = rt_spawn(block_until_failure, &r);
	wt = rt_spawn(block_until_failure, &w);
	ck_assert(rt_until(rt_parked(rt) && rt_parked(wt) &&
			   atomic_load(&pd->rg) == (uintptr_t)rt &&
			   atomic_load(&pd->wg) == (uintptr_t)wt));
	queued = rt_spawn(block_until_failure, &r);
	ck_assert(rt_until(rt_parked(queued) && atomic_load(&pd->rlock) == 2));
	gr_pd_close(pd);
	ck_assert_int_eq((intptr_t)rt_join(rt), -EBADF);
	ck_assert_int_eq((intptr_t)rt_join(wt), -EBADF);
	ck_assert_int_eq((intptr_t)rt_join(queued), -EBADF);
	ck_assert_msg(!gr_pd_acquire(pd, sv[0]), "a closed pd still stands for its fd");
}
END_TEST

/* closed after the waiter looked at the pd, before it is in rg: it must not sleep */
START_TEST(close_before_waiter_is_visible_is_not_missed)
{
	int sv[2];
	struct blocked r;
	int64_t began;

	rt_boot(1);
	socket_pair(sv);
	r = (struct blocked){.pd = gr_pd_open(sv[0]), .fd = sv[0], .mode = GR_PD_R};
	register_pd(r.pd);
	in_prepare.pd = r.pd;
	in_prepare.close = true;
	began = gr_nanotime();
	ck_assert_int_eq((intptr_t)block_until_failure(&r), -EBADF);
	ck_assert_msg(in_prepare.pd == NULL, "the wait never prepared to park");
	ck_assert_msg(gr_nanotime() - began < RT_PATIENCE / 2, "the waiter slept on a closed fd");
}
END_TEST

/* close at every moment of a wait: before the reference, in the lock, before and after the
 * park; every wait ends with EBADF, none sleeps on */
START_TEST(close_racing_wait_always_wakes_with_ebadf)
{
	int sv[2];

	rt_boot(2);
	socket_pair(sv);
	for (int i = 0; i < CLOSE_ROUNDS; i++) {
		struct blocked r = {.pd = gr_pd_open(sv[0]), .fd = sv[0], .mode = GR_PD_R};
		struct gr_task *t = rt_spawn(block_until_failure, &r);
		int64_t at = soon(i % 100 * 1000);
		intptr_t result;

		while (gr_nanotime() < at)
			;
		gr_pd_close(r.pd);
		result = (intptr_t)rt_join(t);
		ck_assert_msg(result == -EBADF, "round %d: a wait on a closed fd ended with %d", i,
			      (int)result);
	}
}
END_TEST

/* ---- deadlines and interrupts ---- */

START_TEST(deadline_expiry_ends_the_wait_with_etimedout)
{
	int sv[2];
	struct gr_pd *pd;
	int64_t deadline;

	rt_boot(1);
	socket_pair(sv);
	pd = gr_pd_open(sv[0]);
	deadline = soon(30 * RT_MS);
	ck_assert_int_eq(gr_pd_wait(pd, GR_PD_R, deadline, false), -ETIMEDOUT);
	ck_assert(gr_nanotime() >= deadline);
	ck_assert_msg(rg_of(pd) == GR_PD_NIL, "a timed-out waiter left itself in rg");
	/* a readiness after it is kept for the next waiter, not sent to the one gone */
	deliver(pd, atomic_load(&pd->seq), GR_PD_R);
	ck_assert_uint_eq(rg_of(pd), GR_PD_READY);
	gr_pd_close(pd);
}
END_TEST

/* one wait for pd to be readable (interruptible); its result */
static void *wait_once(void *arg)
{
	struct gr_pd *pd = arg;

	return (void *)(intptr_t)gr_pd_wait(pd, GR_PD_R, soon(RT_PATIENCE), true);
}

START_TEST(interrupt_ends_an_interruptible_wait_with_eintr)
{
	int sv[2];
	struct gr_pd *pd;
	struct gr_task *t;

	rt_boot(2);
	socket_pair(sv);
	pd = gr_pd_open(sv[0]);
	t = rt_spawn(wait_once, pd);
	ck_assert(rt_until(rt_parked(t) && rg_of(pd) == (uintptr_t)t));
	gr_interrupt(t);
	ck_assert_int_eq((intptr_t)rt_join(t), -EINTR);
	ck_assert_uint_eq(rg_of(pd), GR_PD_NIL);
	gr_pd_close(pd);
}
END_TEST

/* ---- a pd reused for another fd ---- */

/*
 * A real event taken from epoll for fd A (in flight: the poller has it, nobody has handled it
 * yet), then A closed and its pd reused for fd B: the event names A's sequence number and
 * must neither set B's rg nor wake B's reader; B's own events still do.
 */
START_TEST(stale_sequence_event_is_dropped_after_reuse)
{
	int a[2], b[2], n;
	struct gr_pd *pd, *reused;
	struct gr_pd_ready stale = {0};
	struct gr_task *t;

	rt_boot(1);
	socket_pair(a);
	socket_pair(b);
	pd = gr_pd_open(a[0]);
	register_pd(pd);
	ck_assert_int_eq(write(a[1], "x", 1), 1);
	n = __real_gr_netpoll_backend_poll(0, GR_NETPOLL_MAX_EVENTS, &room);
	for (int i = 0; i < n; i++)
		if (room.ready[i].pd == pd && (room.ready[i].modes & GR_PD_R))
			stale = room.ready[i];
	ck_assert_msg(stale.pd, "epoll reported no read event for fd A");

	gr_pd_close(pd);
	reused = gr_pd_open(b[0]);
	ck_assert_ptr_eq(reused, pd); /* pds are type-stable and cached: the same record */
	ck_assert_uint_ne(atomic_load(&reused->seq), stale.seq);
	register_pd(reused);

	deliver(reused, stale.seq, stale.modes);
	ck_assert_msg(rg_of(reused) == GR_PD_NIL, "fd A's event made fd B ready");

	t = rt_spawn(wait_once, reused);
	ck_assert(rt_until(rt_parked(t) && rg_of(reused) == (uintptr_t)t));
	deliver(reused, stale.seq, stale.modes);
	ck_assert_msg(rt_parked(t), "fd A's event woke fd B's reader");
	deliver(reused, atomic_load(&reused->seq), GR_PD_R);
	ck_assert_int_eq((intptr_t)rt_join(t), 0);
	gr_pd_close(reused);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("netpoll");
	TCase *det = rt_tcase("pollDesc", false), *races = rt_tcase("races", true);

	tcase_add_test(det, readiness_before_park_is_consumed_without_parking);
	tcase_add_test(det, real_edge_before_park_is_consumed_without_parking);
	tcase_add_test(det, readiness_before_waiter_is_visible_is_not_missed);
	tcase_add_test(det, one_event_wakes_one_wait);
	tcase_add_test(det, close_wakes_reader_and_writer_with_ebadf);
	tcase_add_test(det, close_before_waiter_is_visible_is_not_missed);
	tcase_add_test(det, deadline_expiry_ends_the_wait_with_etimedout);
	tcase_add_test(det, interrupt_ends_an_interruptible_wait_with_eintr);
	tcase_add_test(det, stale_sequence_event_is_dropped_after_reuse);
	tcase_add_test(det, direction_lock_times_out_and_hands_over);
	tcase_add_test(det, watchers_are_all_woken_by_an_edge_and_by_close);
	suite_add_tcase(s, det);
	tcase_add_test(races, readiness_racing_park_is_never_lost);
	tcase_add_test(races, close_racing_wait_always_wakes_with_ebadf);
	suite_add_tcase(s, races);
	return rt_run_suite(s);
}
