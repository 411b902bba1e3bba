/*
 * sched.c — carriers, processors, switching, parking and idling (see sched.h, task.h).
 *
 * Lock order: a timer heap lock, then the idle lock (a timer firing readies a task, which may
 * wake a carrier). The global queue lock is a leaf.
 *
 * Which stack: gr_yield, gr_park and gr_sched_exit_switch run on the calling task's stack up
 * to the context switch; carrier_loop runs on the carrier's own stack with the carrier's TCB.
 * Neither may touch errno (see sys.h).
 */
#define _GNU_SOURCE
#include "sched.h"

#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "netpoll.h"
#include "stack.h"
#include "sys.h"
#include "throw.h"
#include "tls.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

#define SPIN_NS 50000 /* an idle carrier watches the queues this long before it sleeps while
			* another carrier runs tasks: waking it again costs the waker a futex call
			* and the CPU ~30 us */
#define GLANCE_NS 2000 /* between two glances at the queues of a spinning carrier */
#define GLOBQ_EVERY 61 /* ticks between looks at the global queue while the local one is busy */
#define NETPOLL_MIN_EVENTS 16 /* a look at the poller takes up to this many even on a full ring */
#define NETPOLL_LOW_RING 32		 /* a busy carrier looks at the poller below this... */
#define NETPOLL_EVERY (GLOBQ_EVERY * 8) /* ...and at least every this many ticks */
#define CARRIER_STACK (256 * 1024) /* a carrier's own context: the idle loop */
/* cache lines above a parked task's saved stack pointer that its resumption reads back: the
 * switch's registers and the frames of the park path (a blocking read is about 700 bytes) */
#define RESUME_STACK_LINES 11

gr_ctx_switch_fn *gr_ctx_switch;

static struct {
	int nprocs;
	struct gr_proc *procs;
	struct gr_carrier *carriers;
	struct gr_globq globq;
	gr_lock_t idle_lock;
	struct gr_carrier *idle_head; /* protected by idle_lock */
	_Atomic int nidle, nspinning;
	_Atomic int nbusy; /* carriers running tasks, not looking for work */
	atomic_bool polling;	  /* an idle carrier waits in the poller */
	_Atomic int64_t poll_until; /* until when it waits (GR_NEVER: no limit) */
	struct gr_task *_Atomic signal_target; /* gr_interrupt_from_signal's, not yet done */
	atomic_bool started;
	gr_lock_t start_lock;
	struct gr_sched_hooks hooks;
} sched;

/* ---- wake tokens ---- */

enum { PHASE_ARMED = 1, PHASE_PARKED = 2, PHASE_DONE = 3 };
#define TOKEN(seq, why, phase) (((uint64_t)(seq) << 8) | ((uint64_t)(why) << 2) | (phase))
#define TOKEN_SEQ(tok) ((uint32_t)((tok) >> 8))
#define TOKEN_WHY(tok) ((enum gr_wake_reason)(((tok) >> 2) & 0x3f))
#define TOKEN_PHASE(tok) ((int)((tok)&3))

struct gr_carrier *gr_here(void)
{
	struct gr_task *t = gr_current_task();

	return t ? t->carrier : gr_tcb_current_carrier();
}

int gr_sched_nprocs(void) { return sched.nprocs; }

/* ---- making tasks runnable ---- */

static bool work_visible(void)
{
	if (atomic_load(&sched.globq.len) || atomic_load(&sched.signal_target))
		return true;
	for (int i = 0; i < sched.nprocs; i++)
		if (gr_runq_len(&sched.procs[i].runq))
			return true;
	return false;
}

static void wakep(void)
{
	struct gr_carrier *c;
	int zero = 0;

	atomic_thread_fence(memory_order_seq_cst); /* pairs with carrier_sleep's publication */
	if (atomic_load(&sched.nspinning) || !atomic_load(&sched.nidle))
		return;
	if (!atomic_compare_exchange_strong(&sched.nspinning, &zero, 1))
		return; /* someone else is waking a spinner */
	gr_lock(&sched.idle_lock);
	c = sched.idle_head;
	if (c) {
		sched.idle_head = c->idle_next;
		c->idle = false;
		atomic_fetch_sub(&sched.nidle, 1);
	}
	gr_unlock(&sched.idle_lock);
	if (!c) {
		atomic_fetch_sub(&sched.nspinning, 1);
		return;
	}
	/* c counts as spinning from now on (it learns so in unidle) */
	atomic_store(&c->wake_word, 1);
	if (c->polling)
		gr_netpoll_break();
	else
		gr_futex_wake((uint32_t *)&c->wake_word, 1);
}

/* t onto c's ring; when it is full, half of it and t go to the global queue */
static void runq_put(struct gr_carrier *c, struct gr_task *t)
{
	while (!gr_runq_put(&c->p->runq, t)) {
		uint32_t n = gr_runq_take_half(&c->p->runq, c->overflow);

		if (n) {
			c->overflow[n++] = t;
			gr_globq_put(&sched.globq, c->overflow, n);
			return;
		}
	}
}

void gr_sched_ready(struct gr_task *t)
{
	struct gr_carrier *c = gr_here();

	atomic_store_explicit(&t->state, GR_TASK_RUNNABLE, memory_order_relaxed);
	if (c && c->readying_polled) {
		runq_put(c, t);
		return; /* netpoll_into wakes a carrier once for the whole batch */
	}
	if (c) {
		struct gr_task *displaced = gr_runq_put_next(&c->p->runq, t);

		if (displaced)
			runq_put(c, displaced);
		if (sched.nprocs == 1)
			return; /* the only carrier is this one, awake */
	} else {
		/* from a thread that is no carrier (an offloaded call): every carrier may sleep */
		gr_globq_put(&sched.globq, &t, 1);
	}
	wakep();
}

/* ---- finding work ---- */

static uint32_t next_rand(struct gr_carrier *c)
{
	c->rand ^= c->rand << 13;
	c->rand ^= c->rand >> 7;
	c->rand ^= c->rand << 17;
	return (uint32_t)c->rand;
}

/*
 * Ready the tasks whose fds became ready, waiting up to delay_ns (see gr_netpoll): at the tail
 * of c's ring, as many events as it has room for, but at least NETPOLL_MIN_EVENTS (a ring kept
 * full by tasks that yield must not shut the fds out: the overflow goes to the global queue,
 * oldest first). The number of events taken.
 */
static int netpoll_into(struct gr_carrier *c, int64_t delay_ns)
{
	int room = GR_RUNQ_SIZE - (int)gr_runq_len(&c->p->runq), n;

	if (!gr_netpoll_active())
		return 0;
	if (room < NETPOLL_MIN_EVENTS)
		room = NETPOLL_MIN_EVENTS;
	c->readying_polled = true;
	n = gr_netpoll(delay_ns, room, &c->events);
	c->readying_polled = false;
	/* one task this carrier is about to run needs no help (after Go's findrunnable, which
	 * runs one polled goroutine itself and starts Ps for the rest) */
	if (n > 0 && sched.nprocs > 1 && gr_runq_len(&c->p->runq) > 1)
		wakep();
	return n;
}

/* tasks whose fds became ready, without waiting; true if any were readied */
static bool poll_ready(struct gr_carrier *c)
{
	return netpoll_into(c, 0) > 0;
}

static bool run_timers(struct gr_proc *p)
{
	int64_t next = gr_timers_next(&p->timers);

	return next != GR_NEVER && gr_timers_run(&p->timers, gr_nanotime(), NULL) > 0;
}

/*
 * A fair share of the global queue (after Go's globrunqget): one task to run, the rest of the
 * batch onto p's run queue, so tasks that overflowed there are not left behind while p keeps
 * getting new work of its own.
 */
static struct gr_task *globq_take(struct gr_carrier *c)
{
	struct gr_task **batch = c->globq_batch;
	uint32_t max = atomic_load(&sched.globq.len) / (uint32_t)sched.nprocs + 1, n;

	if (max > GR_RUNQ_SIZE / 2)
		max = GR_RUNQ_SIZE / 2;
	n = gr_globq_get_batch(&sched.globq, batch, max);
	for (uint32_t i = 1; i < n; i++)
		runq_put(c, batch[i]);
	return n ? batch[0] : NULL;
}

static struct gr_task *find_runnable(struct gr_carrier *c, bool steal)
{
	struct gr_proc *p = c->p;
	struct gr_task *t;

	if (atomic_load_explicit(&sched.signal_target, memory_order_relaxed) &&
	    (t = atomic_exchange(&sched.signal_target, NULL)))
		gr_interrupt(t);

	/* now and then the global queue, timers and the ring go first: `next` alone could keep
	 * two tasks that wake each other running forever */
	if (++p->schedtick % GLOBQ_EVERY == 0) {
		run_timers(p);
		/* the poller when the ring runs low (bigger batches, fewer looks), and at least
		 * every NETPOLL_EVERY ticks however long the ring stays */
		if (gr_runq_len(&p->runq) < NETPOLL_LOW_RING || p->schedtick % NETPOLL_EVERY == 0)
			poll_ready(c);
		if ((t = globq_take(c)) || (t = gr_runq_get(&p->runq)))
			return t;
	}
	if ((t = gr_runq_get_next(&p->runq)) || (t = gr_runq_get(&p->runq)))
		return t;
	if ((t = globq_take(c)))
		return t;
	if (run_timers(p) && ((t = gr_runq_get_next(&p->runq)) || (t = gr_runq_get(&p->runq))))
		return t;
	if (!atomic_load(&sched.polling) && poll_ready(c) &&
	    ((t = gr_runq_get_next(&p->runq)) || (t = gr_runq_get(&p->runq))))
		return t;
	if (!steal)
		return NULL;
	for (int i = 0, start = (int)(next_rand(c) % (uint32_t)sched.nprocs); i < sched.nprocs; i++) {
		struct gr_proc *v = &sched.procs[(start + i) % sched.nprocs];

		if (v == p)
			continue;
		run_timers(v); /* its carrier may be busy: fire its due timers here */
		if ((t = gr_runq_get_next(&p->runq)) || (t = gr_runq_get(&p->runq)))
			return t;
		if (gr_runq_steal(&p->runq, &v->runq) && (t = gr_runq_get(&p->runq)))
			return t;
	}
	return NULL;
}

static int64_t earliest_timer(void)
{
	int64_t next = GR_NEVER;

	for (int i = 0; i < sched.nprocs; i++) {
		int64_t n = gr_timers_next(&sched.procs[i].timers);

		if (n < next)
			next = n;
	}
	return next;
}

/* ---- idling ---- */

static void stop_spinning(struct gr_carrier *c, bool found_work)
{
	if (!c->spinning)
		return;
	c->spinning = false;
	/* the last spinner found work: there may be more, let another carrier look */
	if (atomic_fetch_sub(&sched.nspinning, 1) == 1 && found_work)
		wakep();
}

static void unidle(struct gr_carrier *c)
{
	gr_lock(&sched.idle_lock);
	c->polling = false;
	if (c->idle) {
		struct gr_carrier **pp = &sched.idle_head;

		while (*pp != c)
			pp = &(*pp)->idle_next;
		*pp = c->idle_next;
		c->idle = false;
		atomic_fetch_sub(&sched.nidle, 1);
	} else {
		c->spinning = true; /* wakep took it off the list and counted it spinning */
	}
	gr_unlock(&sched.idle_lock);
}

/*
 * Sleep until woken or the earliest timer: in the poller if no other carrier is waiting there
 * (fd readiness wakes it), else on the carrier's futex.
 */
static void carrier_sleep(struct gr_carrier *c)
{
	bool poller = gr_netpoll_active() && !atomic_exchange(&sched.polling, true);
	int64_t next, now;

	atomic_store(&c->wake_word, 0);
	gr_lock(&sched.idle_lock);
	c->idle = true;
	c->polling = poller;
	c->idle_next = sched.idle_head;
	sched.idle_head = c;
	atomic_fetch_add(&sched.nidle, 1);
	gr_unlock(&sched.idle_lock);
	atomic_thread_fence(memory_order_seq_cst); /* pairs with wakep's fence */

	next = earliest_timer();
	now = gr_nanotime();
	if (!work_visible() && next > now && !atomic_load(&c->wake_word)) {
		if (poller) {
			atomic_store(&sched.poll_until, next);
			netpoll_into(c, next == GR_NEVER ? -1 : next - now);
			atomic_store(&sched.poll_until, GR_NEVER);
		} else if (next == GR_NEVER) {
			gr_futex_wait((uint32_t *)&c->wake_word, 0, NULL);
		} else {
			struct timespec rel = {.tv_sec = (next - now) / 1000000000,
					       .tv_nsec = (next - now) % 1000000000};

			gr_futex_wait((uint32_t *)&c->wake_word, 0, &rel);
		}
	}
	if (poller)
		atomic_store(&sched.polling, false);
	unidle(c);
}

/*
 * Spin a while (SPIN_NS) before sleeping, as Go's spinning Ms do, but only while another
 * carrier runs tasks: only a running task makes work appear in a queue (the poller and the
 * timers wake a sleeping carrier themselves), so with every carrier idle, or with one carrier,
 * spinning would only burn a CPU an idle program should leave alone. A full look (run queues,
 * timers, the poller, stealing) first and again whenever work shows up in some queue, cheap
 * glances at the queues in between (no system calls: an idle carrier shares the CPUs with the
 * program's other processes).
 */
static struct gr_task *find_work_or_sleep(struct gr_carrier *c)
{
	if (c->busy) {
		c->busy = false;
		atomic_fetch_sub(&sched.nbusy, 1);
	}
	for (;;) {
		int64_t until = gr_nanotime() + SPIN_NS, now;

		for (int round = 0;; round++) {
			if (round == 0 || work_visible()) {
				struct gr_task *t = find_runnable(c, true);

				if (t) {
					stop_spinning(c, true);
					c->busy = true;
					atomic_fetch_add(&sched.nbusy, 1);
					return t;
				}
			}
			if (!atomic_load(&sched.nbusy))
				break; /* no running task can make work appear */
			/* not too often: every glance pulls the busy carriers' queue lines over */
			now = gr_nanotime();
			if (now >= until)
				break;
			while (gr_nanotime() < now + GLANCE_NS)
				gr_cpu_relax();
		}
		stop_spinning(c, false);
		carrier_sleep(c);
	}
}

/* ---- switching ---- */

static void switch_to(struct gr_carrier *c, struct gr_ctx *from, struct gr_task *next)
{
	struct gr_task *after = gr_runq_peek(&c->p->runq);

	/* the task after this one: its record's hot line (cold when there are thousands of
	 * tasks) is on its way while this one runs */
	if (after)
		__builtin_prefetch(after, 1);
	next->carrier = c;
	c->current = next;
	atomic_store_explicit(&next->state, GR_TASK_RUNNING, memory_order_relaxed);
	gr_ctx_switch(from, &next->ctx);
}

static void carrier_loop(void *arg)
{
	struct gr_carrier *c = arg;

	for (;;) {
		gr_sched_finish_switch(c);
		c->current = NULL;
		switch_to(c, &c->ctx, find_work_or_sleep(c));
	}
}

/* the calling task t stops running; what for is in c->prev_action */
static void switch_away(struct gr_task *t, struct gr_carrier *c)
{
	struct gr_task *next = find_runnable(c, false);

	c->prev = t;
	if (next) {
		switch_to(c, &t->ctx, next);
	} else {
		c->current = NULL;
		gr_ctx_switch(&t->ctx, &c->ctx);
	}
	gr_sched_finish_switch(t->carrier);
}

void gr_sched_finish_switch(struct gr_carrier *c)
{
	struct gr_task *prev = c->prev;
	uint64_t armed;

	if (!prev)
		return;
	c->prev = NULL;
	switch (c->prev_action) {
	case GR_SWITCH_YIELD:
		atomic_store_explicit(&prev->state, GR_TASK_RUNNABLE, memory_order_relaxed);
		runq_put(c, prev);
		break;
	case GR_SWITCH_PARK:
		atomic_store_explicit(&prev->state, GR_TASK_PARKED, memory_order_relaxed);
		armed = TOKEN(prev->wait_seq, 0, PHASE_ARMED);
		if (!atomic_compare_exchange_strong(&prev->wait_token, &armed,
						    TOKEN(prev->wait_seq, 0, PHASE_PARKED)))
			gr_sched_ready(prev); /* woken before it was off its stack */
		break;
	case GR_SWITCH_EXIT:
		gr_task_reap(prev);
		break;
	case GR_SWITCH_NONE:
		break;
	}
}

void gr_yield(void)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c = t->carrier;
	struct gr_task *next = find_runnable(c, false);

	if (!next)
		return;
	c->prev = t;
	c->prev_action = GR_SWITCH_YIELD;
	switch_to(c, &t->ctx, next);
	gr_sched_finish_switch(t->carrier);
}

/* ---- waiting ---- */

static void wait_timer_fired(struct gr_timer *timer, void *arg)
{
	struct gr_task *t = (struct gr_task *)((char *)timer - offsetof(struct gr_task, wait_timer));
	(void)arg;

	gr_wake(t, t->wait_timer_seq, GR_WAKE_TIMEOUT);
}

uint32_t gr_wait_prepare(bool interruptible)
{
	struct gr_task *t = gr_current_task();
	uint32_t seq = ++t->wait_seq;

	t->wait_interruptible = interruptible;
	/* release: published (in a queue, a pollDesc) only after this, by a release of its own */
	atomic_store_explicit(&t->wait_token, TOKEN(seq, 0, PHASE_ARMED), memory_order_release);
	if (interruptible && atomic_load(&t->interrupted))
		gr_wake(t, seq, GR_WAKE_INTERRUPT);
	return seq;
}

enum gr_wake_reason gr_park(int64_t deadline, const char *what, const void *on)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c = t->carrier;
	uint64_t tok;

	t->wait_what = what;
	t->wait_on = on;
	if (deadline != GR_NEVER) {
		if (!t->wait_timer.fire)
			gr_timer_init(&t->wait_timer, wait_timer_fired);
		t->wait_timer_seq = t->wait_seq;
		gr_timer_add(&c->p->timers, &t->wait_timer, deadline);
		/* a carrier waiting in the poller sleeps past this deadline: it must look again
		 * (this carrier may be busy when the deadline comes) */
		if (atomic_load(&sched.polling) && deadline < atomic_load(&sched.poll_until))
			gr_netpoll_break();
	}
	tok = atomic_load(&t->wait_token);
	if (TOKEN_PHASE(tok) == PHASE_ARMED) {
		c->prev_action = GR_SWITCH_PARK;
		switch_away(t, c);
		tok = atomic_load(&t->wait_token);
	}
	if (deadline != GR_NEVER && TOKEN_WHY(tok) != GR_WAKE_TIMEOUT)
		gr_timer_del(&t->wait_timer);
	t->wait_what = NULL;
	t->wait_on = NULL;
	return TOKEN_WHY(tok);
}

/*
 * What a parked task touches first when it runs again: the top of its saved stack (the
 * registers the switch pops, the frames it returns through) and its TCB's first line (stack
 * guard, current task). With thousands of tasks these are cold; fetching them now, while the
 * tasks ahead of it run, hides the misses. t is parked, so its record is valid and its saved
 * stack pointer final.
 */
static void prefetch_resume(struct gr_task *t)
{
	const char *sp = t->ctx.sp;

	for (int line = 0; line < RESUME_STACK_LINES; line++)
		__builtin_prefetch(sp + 64 * line, 0);
	__builtin_prefetch(t->tcb, 0);
}

bool gr_wake(struct gr_task *t, uint32_t seq, enum gr_wake_reason why)
{
	uint64_t tok = atomic_load(&t->wait_token);

	for (;;) {
		if (TOKEN_SEQ(tok) != seq || TOKEN_PHASE(tok) == PHASE_DONE)
			return false;
		if (atomic_compare_exchange_weak(&t->wait_token, &tok, TOKEN(seq, why, PHASE_DONE))) {
			if (TOKEN_PHASE(tok) == PHASE_PARKED) {
				prefetch_resume(t);
				gr_sched_ready(t);
			}
			return true;
		}
	}
}

void gr_interrupt(struct gr_task *t)
{
	uint64_t tok;

	atomic_store(&t->interrupted, true);
	tok = atomic_load(&t->wait_token);
	if (TOKEN_PHASE(tok) != PHASE_DONE && t->wait_interruptible)
		gr_wake(t, TOKEN_SEQ(tok), GR_WAKE_INTERRUPT);
}

void gr_interrupt_from_signal(struct gr_task *t)
{
	atomic_store(&sched.signal_target, t);
}

_Noreturn void gr_sched_exit_switch(struct gr_task *t)
{
	struct gr_carrier *c;

	/* its last timed wait may have left a stopped slot, and the record is about to go */
	if (t->wait_timer.fire)
		gr_timer_detach(&t->wait_timer);
	c = t->carrier;

	c->prev_action = GR_SWITCH_EXIT;
	switch_away(t, c);
	gr_throw("runtime: an exited task was resumed");
}

/* ---- blocking calls ---- */

void gr_blocking_enter(void) {}
void gr_blocking_exit(void) {}

/* ---- carriers ---- */

static void *carrier_thread(void *arg)
{
	struct gr_carrier *c = arg;

	gr_tcb_forget_runtime();
	gr_tcb_set_carrier(gr_tcb_self(), c);
	c->ctx.fs = gr_tcb_self();
	c->os_tid = (int32_t)gr_os_tid();
	carrier_loop(c);
	return NULL;
}

/*
 * Give carrier c an idle-loop context of its own (stack and TCB) on the calling OS thread,
 * which keeps running its current task meanwhile: for the initial thread, whose TCB belongs to
 * the initial task, and in a fork child, whose carrier's old stack glibc may hand to a new
 * thread (the child's glibc counts that carrier's thread as gone).
 */
static void make_own_context(struct gr_carrier *c)
{
	size_t guard = gr_page_size();
	bool reused;
	int err;
	void *top = gr_stack_get(CARRIER_STACK, guard, &reused, &err), *tcb;

	if (!top)
		gr_throw("runtime: cannot map a carrier's stack");
	tcb = gr_tcb_make((char *)top - GR_STACK_NODE_BYTES, (char *)top - CARRIER_STACK - guard,
			  CARRIER_STACK + guard, guard, gr_task_fresh_tid(), NULL);
	if (!tcb)
		gr_throw("runtime: cannot make a carrier's TCB");
	gr_tcb_set_carrier(tcb, c);
	gr_ctx_make(&c->ctx, (char *)top - GR_STACK_NODE_BYTES - gr_tls_reserve(), tcb,
		    carrier_loop, c);
}

void gr_sched_start_carriers(void)
{
	if (atomic_load_explicit(&sched.started, memory_order_acquire))
		return;
	gr_lock(&sched.start_lock);
	if (!atomic_load(&sched.started)) {
		for (int i = 0; i < sched.nprocs; i++) {
			struct gr_carrier *c = &sched.carriers[i];
			int err;

			if (c->alive)
				continue;
			err = sched.hooks.start_os_thread(carrier_thread, c);
			if (err) {
				/* its processor's tasks are still run, by the others stealing them */
				gr_say("cannot start carrier thread %d (error %d); lower GREENPOLL_PROCS "
				       "or raise the thread limit",
				       i, err);
				continue;
			}
			c->alive = true;
		}
		atomic_store_explicit(&sched.started, true, memory_order_release);
	}
	gr_unlock(&sched.start_lock);
}

void gr_sched_after_fork_child(void)
{
	struct gr_carrier *here = gr_here();

	for (int i = 0; i < sched.nprocs; i++) {
		struct gr_proc *p = &sched.procs[i];
		struct gr_carrier *c = &sched.carriers[i];

		atomic_store(&p->runq.head, 0);
		atomic_store(&p->runq.tail, 0);
		atomic_store(&p->runq.next, NULL);
		free(p->timers.heap);
		gr_timers_init(&p->timers);
		c->alive = c == here;
		c->idle = false;
		c->polling = false;
		c->spinning = false;
		c->busy = c == here;
		c->idle_next = NULL;
	}
	here->os_tid = (int32_t)gr_os_tid();
	make_own_context(here);
	/* the heaps are new: the forking task's timer has no slot in them */
	if (here->current && here->current->wait_timer.fire)
		gr_timer_init(&here->current->wait_timer, wait_timer_fired);
	sched.globq = (struct gr_globq){.lock = GR_LOCK_INIT};
	sched.idle_lock = (gr_lock_t)GR_LOCK_INIT;
	sched.start_lock = (gr_lock_t)GR_LOCK_INIT;
	sched.idle_head = NULL;
	atomic_store(&sched.nidle, 0);
	atomic_store(&sched.nspinning, 0);
	atomic_store(&sched.nbusy, 1);
	atomic_store(&sched.polling, false);
	atomic_store(&sched.started, false);
}

void gr_sched_init(int nprocs, struct gr_task *initial, const struct gr_sched_hooks *hooks)
{
	struct gr_carrier *c0;

	gr_ctx_switch = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) ? gr_ctx_switch_wrfs
								: gr_ctx_switch_prctl;
	sched.hooks = *hooks;
	sched.nprocs = nprocs;
	atomic_store(&sched.poll_until, GR_NEVER);
	sched.procs = calloc((size_t)nprocs, sizeof *sched.procs);
	sched.carriers = calloc((size_t)nprocs, sizeof *sched.carriers);
	if (!sched.procs || !sched.carriers)
		gr_throw("runtime: out of memory at start-up");
	for (int i = 0; i < nprocs; i++) {
		sched.procs[i].id = i;
		sched.procs[i].runq.owner_only = nprocs == 1; /* nobody to steal from it */
		gr_timers_init(&sched.procs[i].timers);
		sched.carriers[i].id = i;
		sched.carriers[i].p = &sched.procs[i];
		sched.carriers[i].rand = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
	}

	/* the initial OS thread is carrier 0, now running `initial` on glibc's own TCB */
	c0 = &sched.carriers[0];
	make_own_context(c0);
	c0->os_tid = (int32_t)gr_os_tid();
	c0->alive = true;
	c0->busy = true;
	atomic_store(&sched.nbusy, 1);
	c0->current = initial;
	initial->carrier = c0;
	atomic_store(&initial->state, GR_TASK_RUNNING);
}
