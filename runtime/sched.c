/*
 * sched.c — carriers, processors, switching, handing processors off, idling (see sched.h).
 *
 * Lock order: a timer heap lock, then the idle lock (a timer firing readies a task, which may
 * wake a carrier). The global queue lock, the spare lock and the start lock are leaves.
 * Nothing under the spare lock allocates or makes a system call (a carrier's record and OS
 * thread are made outside it, in a slot reserved under it); the start lock is still held
 * across the first carriers' thread creation (lock.h's rule, issue 13).
 *
 * Which stack: gr_yield, gr_sched_switch_park and gr_sched_exit_switch run on the calling
 * task's stack up to the context switch; carrier_loop runs on the carrier's own stack. Neither
 * may touch errno (see sys.h). The retake and spare functions also run on the monitor's OS
 * thread.
 *
 * Which TCB (the FS base): writing it is a system call where user space has no FSGSBASE
 * (~4 us in some hypervisor guests), so it is written only when it must change. A task runs on
 * its own TCB; a carrier's own context (c->ctx.fs is NULL) runs on whatever TCB the task that
 * switched to it left: a task that parks and is the next one to run again costs no write, nor
 * does the carrier's trip through the poller or its sleep; task A, carrier, task B costs one.
 *
 * Invariant (the borrowed TCB): once A is committed PARKED (finish_switch, gr_park_commit) or
 * requeued, another carrier may run A, on A's TCB, while this carrier still runs its own
 * context on that TCB. So from A's switch away to the next switch to a task, a carrier's own
 * context touches no TLS at all, and what it calls was checked for that:
 *  - no errno: only raw system calls (sys.h: futex, epoll_pwait2/epoll_pwait, eventfd reads
 *    and writes, rt_sigprocmask and sigaltstack in gr_sig_idle, sched_yield in gr_lock,
 *    rt_tgsigqueueinfo/tgkill when signals are routed); clock_gettime is libc's but the vDSO's,
 *    and never fails for CLOCK_MONOTONIC;
 *  - no malloc or free (per-thread tcache), no stdio, no pthread_* and no libc lock (they use
 *    THREAD_SELF): the run queues, timer heaps, poller, idle and spare lists use gr_lock and
 *    atomics only. Two rare paths call libc's formatting: renewing a poller whose fds the
 *    program closed (snprintf of a /proc path: it reads the borrowed TCB's locale pointer,
 *    writes nothing there), and a failing poller (strerror, then abort);
 *  - the stack protector: greenpoll is built without it; glibc's own functions reached here
 *    (clock_gettime, memcpy/memset) read the canary at %fs:0x28 of the borrowed TCB, which
 *    holds the same value as every TCB (tls.c copies it), and compare it on the same TCB;
 *  - who is current: not gr_current_task() (the borrowed TCB names A) but c and c->current
 *    (NULL); gr_here(), which readying a task uses, tells the carrier by the stack pointer
 *    (carrier_at: a carrier's own stack is its own context's, whatever TCB it runs on);
 *  - signals: every handler greenpoll installs begins with gr_sched_signal_enter, which sees
 *    by the interrupted stack pointer that the carrier's own context was interrupted and gives
 *    it its own TCB until gr_sched_signal_leave (two writes, only for such a signal); the
 *    handlers then see no current task, keep the signal pending and have it routed;
 *  - the carrier takes its own TCB back (carrier_own_tls, one write, never per request) before
 *    what needs TLS: reaping an exited task (its TCB may be unmapped or renewed) and its OS
 *    thread ending (glibc's thread exit). A carrier's own stack bounds are cleared when its
 *    thread ends (glibc may hand the stack to a new thread);
 *  - the borrowed TCB stays mapped: A may end on another carrier and its region be unmapped
 *    (the idle trim, task.c) while this carrier sleeps on A's TCB, and the next %fs read would
 *    fault. So the carrier publishes it (c->borrowed, before A can run elsewhere; cleared by
 *    the next task resumed there, or carrier_own_tls) and nothing unmaps a borrowed TCB
 *    (gr_sched_tcb_borrowed); before the idle trim the monitor wakes carriers asleep on an
 *    ended task's TCB to take their own back (gr_sched_drop_dead_borrowed), so the region
 *    can go. A task whose stack is the program's own memory (which the program may free
 *    after the join) is never borrowed: its carrier takes its own TCB.
 * Left as it was: the kernel's alternate signal stack is A's until the carrier idles or runs
 * another task (gr_sig_idle, gr_sig_resume), as before this rule.
 */
#define _GNU_SOURCE
#include "sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "cputime.h"
#include "fork.h"
#include "monitor.h"
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
#define SPARE_LINGER_NS 1000000000 /* a spare carrier ends after this long without a processor */
#define NO_OWNER 0x3fffffff	   /* a processor no carrier has yet (start-up, fork child) */

gr_ctx_switch_fn *gr_ctx_switch;
gr_fs_write_fn *gr_fs_write;

static struct {
	int nprocs, max_carriers;
	struct gr_proc *procs;
	struct gr_carrier **carriers; /* [max_carriers]; made on first use, never freed */
	struct gr_stat_slot **stat_slots; /* [max_carriers]: each slot's counters, made with it */
	bool *alive;		      /* [max_carriers]: an OS thread runs it; under spare_lock */
	bool *may_end;		      /* [max_carriers]: its OS thread is ours to end */
	int nslots;		      /* slot ids handed out so far; under spare_lock */
	_Atomic int ncarriers;	      /* records allocated: carriers[0 .. ncarriers) */
	_Atomic int nalive;
	struct gr_globq globq;
	gr_lock_t idle_lock;
	struct gr_carrier *idle_head; /* protected by idle_lock */
	gr_lock_t spare_lock;
	struct gr_carrier *spare_head; /* protected by spare_lock */
	struct gr_carrier *_Atomic swap_to; /* a spare that must not end, asking for a processor */
	_Atomic int nidle, nspinning;
	_Atomic int nbusy; /* carriers running tasks, not looking for work */
	atomic_bool polling;	  /* an idle carrier waits in the poller */
	_Atomic int64_t poll_until; /* until when it waits (GR_NEVER: no limit) */
	atomic_bool route_signals; /* gr_sched_route_signals was called, not yet done */
	atomic_bool started;
	bool syscall_switch; /* gr_sched_use_syscall_switch was called */
	gr_lock_t start_lock;
	struct gr_sched_hooks hooks;
	_Atomic uint64_t fs_writes_gone; /* by carrier records since reused or threads since ended */
} sched;

static bool on_own_stack(const struct gr_carrier *c, uintptr_t sp)
{
	return sp - c->own_lo < c->own_hi - c->own_lo;
}

/* the carrier whose own context has sp in its stack, or NULL */
static struct gr_carrier *carrier_owning(uintptr_t sp)
{
	int n = atomic_load_explicit(&sched.ncarriers, memory_order_acquire);

	for (int i = 0; i < n; i++) {
		struct gr_carrier *c = sched.carriers[i];

		if (c && on_own_stack(c, sp))
			return c;
	}
	return NULL;
}

/* the carrier of the calling OS thread, whose code runs at stack address sp (see the header:
 * the task slot of the FS base names a task that may run elsewhere) */
static struct gr_carrier *carrier_at(uintptr_t sp)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c;

	if (!t)
		return gr_tcb_current_carrier();
	if (gr_task_on_stack(t, sp))
		return t->carrier; /* t's own code, or scheduling code on its stack */
	c = t->carrier;
	if (c && on_own_stack(c, sp))
		return c; /* c's own context on t's TCB */
	c = carrier_owning(sp); /* the same, t having moved on to another carrier meanwhile */
	return c ? c : t->carrier; /* t's code on an alternate signal stack; the initial task */
}

struct gr_carrier *gr_here(void) { return carrier_at((uintptr_t)__builtin_frame_address(0)); }

bool gr_sched_on_carrier_stack(uintptr_t sp) { return carrier_owning(sp) != NULL; }

/* the carrier's own context takes its own TCB back: before anything that uses TLS (see the
 * header) */
static void carrier_own_tls(struct gr_carrier *c)
{
	if (gr_tcb_self() != c->own_fs)
		gr_fs_write(c->own_fs, &c->fs_writes);
	atomic_store_explicit(&c->borrowed, NULL, memory_order_release);
	atomic_store_explicit(&c->drop_borrowed, false, memory_order_relaxed);
}

int gr_sched_drop_dead_borrowed(void)
{
	int n = atomic_load_explicit(&sched.ncarriers, memory_order_acquire), asked = 0;

	for (int i = 0; i < n; i++) {
		struct gr_carrier *c = sched.carriers[i];
		void *tcb = c ? atomic_load(&c->borrowed) : NULL;
		struct gr_task *owner = tcb ? gr_tcb_owner(tcb) : NULL;

		if (!owner || atomic_load(&owner->state) != GR_TASK_DEAD)
			continue;
		atomic_store(&c->drop_borrowed, true);
		asked++;
	}
	if (asked)
		gr_sched_kick_idle();
	return asked;
}

bool gr_sched_tcb_borrowed(const void *tcb)
{
	int n = atomic_load_explicit(&sched.ncarriers, memory_order_acquire);

	for (int i = 0; i < n; i++)
		if (sched.carriers[i] && atomic_load(&sched.carriers[i]->borrowed) == tcb)
			return true;
	return false;
}

uint64_t gr_sched_fs_writes(void)
{
	int n = atomic_load_explicit(&sched.ncarriers, memory_order_acquire);
	uint64_t sum = atomic_load(&sched.fs_writes_gone);

	for (int i = 0; i < n; i++)
		if (sched.carriers[i])
			sum += __atomic_load_n(&sched.carriers[i]->fs_writes, __ATOMIC_RELAXED);
	return sum;
}

void *gr_sched_signal_enter(uintptr_t interrupted_sp)
{
	struct gr_carrier *c;
	void *fs;

	if (!gr_current_task() || !(c = carrier_at(interrupted_sp)) ||
	    !on_own_stack(c, interrupted_sp))
		return NULL;
	fs = gr_tcb_self();
	gr_fs_write(c->own_fs, &c->fs_writes);
	return fs;
}

void *gr_sched_own_tcb_enter(uintptr_t interrupted_sp)
{
	struct gr_carrier *c;
	void *fs = gr_tcb_self();

	if (!gr_current_task() || !(c = carrier_at(interrupted_sp)) || fs == c->own_fs)
		return NULL;
	gr_fs_write(c->own_fs, &c->fs_writes);
	return fs;
}

void gr_sched_signal_leave(void *fs)
{
	struct gr_carrier *c;

	if (fs && (c = gr_tcb_current_carrier()))
		gr_fs_write(fs, &c->fs_writes);
}

int gr_sched_nprocs(void) { return sched.nprocs; }
int gr_sched_busy(void) { return atomic_load(&sched.nbusy); }
int gr_sched_carriers_alive(void) { return atomic_load(&sched.nalive); }

static void set_state(struct gr_carrier *c, enum gr_carrier_state s)
{
	atomic_store_explicit(&c->state, (uint8_t)s, memory_order_relaxed);
}

static enum gr_carrier_state state_of(struct gr_carrier *c)
{
	return (enum gr_carrier_state)atomic_load_explicit(&c->state, memory_order_relaxed);
}

/* ---- holding a processor (see the status word in sched.h) ---- */

/* c leaves scheduling code for a task's code: the monitor may take its processor from now on */
static void proc_leave(struct gr_carrier *c)
{
	c->in_sched = false;
	if (c->p)
		atomic_store_explicit(&c->p->status, GR_PSTATUS(c->id, GR_P_TASK),
				      memory_order_release);
}

/* c comes back from a task's code in state `from`; false if its processor was handed off
 * meanwhile (or it had none): it runs on without one */
static bool proc_take_back(struct gr_carrier *c, enum gr_proc_state from, enum gr_proc_state to)
{
	uint32_t expect;

	if (!c->p)
		return false;
	expect = GR_PSTATUS(c->id, from);
	if (atomic_compare_exchange_strong(&c->p->status, &expect, GR_PSTATUS(c->id, to)))
		return true;
	c->p = NULL;
	return false;
}

/* from a task's code, or from inside a bracketed call (a signal handler that wakes a task or
 * parks while its task waits in one: the bracket is then over, gr_blocking_exit sees TASK) */
static bool proc_enter(struct gr_carrier *c)
{
	uint32_t expect;

	if (!c->p)
		return c->in_sched = false;
	expect = GR_PSTATUS(c->id, GR_P_BLOCKING);
	if (atomic_load_explicit(&c->p->status, memory_order_relaxed) == expect &&
	    atomic_compare_exchange_strong(&c->p->status, &expect, GR_PSTATUS(c->id, GR_P_SCHED)))
		return c->in_sched = true;
	return c->in_sched = proc_take_back(c, GR_P_TASK, GR_P_SCHED);
}

static void tick(struct gr_proc *p)
{
	atomic_store_explicit(&p->schedtick, atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- making tasks runnable ---- */

static bool work_visible(void)
{
	if (atomic_load(&sched.globq.len) || atomic_load(&sched.route_signals))
		return true;
	for (int i = 0; i < sched.nprocs; i++)
		if (gr_runq_len(&sched.procs[i].runq))
			return true;
	return false;
}

static void wakep(void)
{
	struct gr_carrier *c;
	bool in_poller = false;
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
		in_poller = state_of(c) == GR_C_POLLING;
		set_state(c, GR_C_WOKEN);
		atomic_fetch_sub(&sched.nidle, 1);
	}
	gr_unlock(&sched.idle_lock);
	if (!c) {
		atomic_fetch_sub(&sched.nspinning, 1);
		return;
	}
	/* c counts as spinning from now on (it learns so in unidle) */
	atomic_store(&c->wake_word, 1);
	if (in_poller)
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

/* t to the global queue, from a thread with no processor (an offloaded call's, a carrier
 * whose processor was handed off) */
static void ready_global(struct gr_task *t)
{
	gr_globq_put(&sched.globq, &t, 1);
	wakep();
}

void gr_sched_ready(struct gr_task *t)
{
	struct gr_carrier *c = gr_here();
	bool from_task;

	atomic_store_explicit(&t->state, GR_TASK_RUNNABLE, memory_order_relaxed);
	if (!c || !c->p) {
		ready_global(t);
		return;
	}
	if (c->readying_polled) {
		runq_put(c, t);
		return; /* netpoll_into wakes a carrier once for the whole batch */
	}
	/* from a task's code (a mutex handed over...), not from scheduling code */
	from_task = !c->in_sched;
	if (from_task && !proc_enter(c)) {
		ready_global(t);
		return;
	}
	struct gr_task *displaced = gr_runq_put_next(&c->p->runq, t);

	if (displaced)
		runq_put(c, displaced);
	if (from_task)
		proc_leave(c);
	if (sched.nprocs == 1)
		return; /* the only processor is this carrier's, awake */
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
	gr_stat_add(c->stats, GR_STAT_POLLS, 1);
	if (n > 0)
		gr_stat_add(c->stats, GR_STAT_POLL_EVENTS, (uint64_t)n);
	/* one task this carrier is about to run needs no help (after Go's findrunnable, which
	 * runs one polled goroutine itself and starts Ps for the rest) */
	if (n > 0 && sched.nprocs > 1 && gr_runq_len(&c->p->runq) > 1)
		wakep();
	return n;
}

/* tasks whose fds became ready, without waiting; true if any were readied. A look that found
 * none is not made again before c runs a task or waits in the poller (c->poller_seen_empty):
 * a task that parks with nothing runnable looks, then its carrier's own context would look
 * again at once, a system call per request for nothing */
static bool poll_ready(struct gr_carrier *c)
{
	if (c->poller_seen_empty)
		return false;
	c->poller_seen_empty = netpoll_into(c, 0) == 0;
	return !c->poller_seen_empty;
}

/*
 * p's due timers fired; the clock reading it took, 0 if none (an empty heap needs no reading).
 * A carrier fires its own processor's at every look for a task (after Go's checkTimers at the
 * top of findRunnable): a task whose sleep or timed wait ended goes to `next` and runs as soon
 * as the task switching away has (see the header of sched.h); switch_to reuses the reading
 * (c->looked_ns) instead of reading the clock again.
 */
static int64_t run_timers(struct gr_proc *p)
{
	int64_t next = gr_timers_next(&p->timers), now;

	if (next == GR_NEVER)
		return 0;
	now = gr_nanotime();
	if (next <= now)
		gr_timers_run(&p->timers, now, NULL);
	return now;
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

/*
 * Whether c, finding nothing to run, would wait in the poller at once: no carrier waits there
 * and no other runs tasks (so c does not spin first: find_work_or_sleep). That wait looks at
 * the ready fds anyway (it returns at once if some are), so a look without waiting just before
 * it would be a system call per park for nothing, as with one connection served at a time.
 */
static bool polls_next_if_idle(struct gr_carrier *c)
{
	return !atomic_load(&sched.polling) &&
	       atomic_load(&sched.nbusy) == (state_of(c) == GR_C_RUNNING ? 1 : 0);
}

/* a task for c to run, or NULL; `steal` from other processors too; `idles_if_none`: c's
 * carrier goes idle if none is found (not a yield, which goes back to its task) */
static struct gr_task *find_runnable(struct gr_carrier *c, bool steal, bool idles_if_none)
{
	struct gr_proc *p = c->p;
	struct gr_task *t;

	if (atomic_load_explicit(&sched.route_signals, memory_order_relaxed) &&
	    atomic_exchange(&sched.route_signals, false) && sched.hooks.route_signals)
		sched.hooks.route_signals();

	tick(p);
	c->looked_ns = run_timers(p);
	/* now and then the global queue and the ring go first: `next` alone could keep two tasks
	 * that wake each other (or a task that sleeps for nothing) running forever */
	if (atomic_load_explicit(&p->schedtick, memory_order_relaxed) % GLOBQ_EVERY == 0) {
		/* the poller when the ring runs low (bigger batches, fewer looks), and at least
		 * every NETPOLL_EVERY ticks however long the ring stays */
		if (gr_runq_len(&p->runq) < NETPOLL_LOW_RING ||
		    atomic_load_explicit(&p->schedtick, memory_order_relaxed) % NETPOLL_EVERY == 0)
			poll_ready(c);
		if ((t = globq_take(c)) || (t = gr_runq_get(&p->runq)))
			return t;
	}
	if ((t = gr_runq_get_next(&p->runq)) || (t = gr_runq_get(&p->runq)))
		return t;
	c->looked_ns = 0; /* what follows may take a while (the poller, stealing): read again */
	if ((t = globq_take(c)))
		return t;
	if (!atomic_load(&sched.polling) && !(idles_if_none && polls_next_if_idle(c)) && poll_ready(c) &&
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
		if (gr_runq_steal(&p->runq, &v->runq) && (t = gr_runq_get(&p->runq))) {
			gr_stat_add(c->stats, GR_STAT_STEALS, 1);
			return t;
		}
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
	if (state_of(c) != GR_C_SPINNING)
		return;
	set_state(c, GR_C_LOOKING);
	/* the last spinner found work: there may be more, let another carrier look */
	if (atomic_fetch_sub(&sched.nspinning, 1) == 1 && found_work)
		wakep();
}

static void unidle(struct gr_carrier *c)
{
	gr_lock(&sched.idle_lock);
	if (state_of(c) == GR_C_WOKEN) {
		set_state(c, GR_C_SPINNING); /* wakep took it off the list and counted it spinning */
	} else {
		struct gr_carrier **pp = &sched.idle_head;

		while (*pp != c)
			pp = &(*pp)->idle_next;
		*pp = c->idle_next;
		set_state(c, GR_C_LOOKING);
		atomic_fetch_sub(&sched.nidle, 1);
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
	set_state(c, poller ? GR_C_POLLING : GR_C_SLEEPING);
	c->idle_next = sched.idle_head;
	sched.idle_head = c;
	atomic_fetch_add(&sched.nidle, 1);
	gr_unlock(&sched.idle_lock);
	atomic_thread_fence(memory_order_seq_cst); /* pairs with wakep's fence */

	next = earliest_timer();
	now = gr_nanotime();
	if (atomic_load(&c->drop_borrowed))
		carrier_own_tls(c);
	if (!work_visible() && next > now && !atomic_load(&c->wake_word)) {
		gr_sig_idle(c);
		c->poller_seen_empty = false;
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
	if (atomic_load(&c->drop_borrowed))
		carrier_own_tls(c);
	unidle(c);
}

static void become_busy(struct gr_carrier *c)
{
	set_state(c, GR_C_RUNNING);
	atomic_fetch_add(&sched.nbusy, 1);
	gr_monitor_kick(); /* it may sleep soundly while every carrier is idle */
}

static void stop_being_busy(struct gr_carrier *c, enum gr_carrier_state next)
{
	if (state_of(c) == GR_C_RUNNING)
		atomic_fetch_sub(&sched.nbusy, 1);
	set_state(c, next);
}

static bool swap_out(struct gr_carrier *c);

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
	if (state_of(c) == GR_C_RUNNING)
		stop_being_busy(c, GR_C_LOOKING);
	for (;;) {
		int64_t until = gr_nanotime() + SPIN_NS, now;

		for (int round = 0;; round++) {
			if (round == 0 || work_visible()) {
				struct gr_task *t = find_runnable(c, true, true);

				if (t) {
					stop_spinning(c, true);
					become_busy(c);
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
		if (swap_out(c))
			return NULL;
	}
}

/* ---- spare carriers ---- */

/* c, on its own TCB, leaves the carrier slot it has (under spare_lock): its OS thread ends
 * next, and its record may be reused at once */
static void carrier_end(struct gr_carrier *c)
{
	c->own_lo = c->own_hi = 0; /* glibc may give its stack to another thread */
	sched.alive[c->id] = false;
	atomic_fetch_sub(&sched.nalive, 1);
}

/*
 * c has no processor: wait in the spare list to be handed one (true), or, if its OS thread is
 * ours to end, give up after SPARE_LINGER_NS (false: the thread ends). A carrier the monitor
 * started for a processor (already SPARE, not listed) only waits for it.
 */
static bool spare_wait(struct gr_carrier *c)
{
	struct timespec linger = {.tv_sec = SPARE_LINGER_NS / 1000000000,
				  .tv_nsec = SPARE_LINGER_NS % 1000000000};

	if (state_of(c) != GR_C_SPARE) {
		stop_being_busy(c, GR_C_SPARE);
		gr_lock(&sched.spare_lock);
		atomic_store(&c->wake_word, 0);
		c->idle_next = sched.spare_head;
		sched.spare_head = c;
		gr_unlock(&sched.spare_lock);
	}
	for (;;) {
		struct gr_proc *p = atomic_exchange(&c->handed, NULL);

		if (p) {
			c->p = p;
			set_state(c, GR_C_LOOKING);
			return true;
		}
		gr_sig_idle(c);
		if (atomic_load(&c->drop_borrowed))
			carrier_own_tls(c);
		if (gr_futex_wait((uint32_t *)&c->wake_word, 0, &linger) != -ETIMEDOUT)
			continue;
		if (!sched.may_end[c->id]) {
			/* the initial OS thread cannot end: an idle carrier that can ends instead,
			 * handing it its processor (swap_out) */
			atomic_store(&sched.swap_to, c);
			wakep();
			continue;
		}
		carrier_own_tls(c);
		gr_lock(&sched.spare_lock);
		for (struct gr_carrier **pp = &sched.spare_head; *pp; pp = &(*pp)->idle_next) {
			if (*pp == c) {
				*pp = c->idle_next;
				carrier_end(c);
				gr_unlock(&sched.spare_lock);
				return false;
			}
		}
		gr_unlock(&sched.spare_lock); /* the monitor has it: a processor is coming */
	}
}

static void carrier_loop(void *arg);

static void *carrier_thread(void *arg)
{
	struct gr_carrier *c = arg;
	void *lo;
	size_t size, guard;

	gr_tcb_forget_runtime();
	gr_tcb_set_carrier(gr_tcb_self(), c);
	gr_tcb_stack(gr_tcb_self(), &lo, &size, &guard);
	c->own_fs = gr_tcb_self();
	c->own_lo = (uintptr_t)lo;
	c->own_hi = (uintptr_t)lo + size;
	atomic_store(&c->os_tid, (int32_t)gr_os_tid());
	carrier_loop(c); /* returns on the carrier's own TCB (carrier_end) */
	return NULL;
}

/* Reserve a carrier slot id for a new carrier (under spare_lock): a dead slot or a new one;
 * -1 at GREENPOLL_MAX_CARRIERS. */
static int slot_reserve(void)
{
	int id;

	for (id = 0; id < sched.nslots; id++)
		if (!sched.alive[id])
			break;
	if (id == sched.max_carriers)
		return -1;
	if (id == sched.nslots)
		sched.nslots++;
	sched.alive[id] = true;
	sched.may_end[id] = true;
	atomic_fetch_add(&sched.nalive, 1);
	return id;
}

static void slot_release(int id)
{
	gr_lock(&sched.spare_lock);
	sched.alive[id] = false;
	atomic_fetch_sub(&sched.nalive, 1);
	gr_unlock(&sched.spare_lock);
}

/*
 * A new carrier with processor p (or none), in a reserved slot, its record allocated on first
 * use outside any lock; no OS thread yet. NULL at the cap or out of memory.
 */
static struct gr_carrier *carrier_new(struct gr_proc *p)
{
	struct gr_carrier *c;
	int id, seen;

	gr_lock(&sched.spare_lock);
	id = slot_reserve();
	gr_unlock(&sched.spare_lock);
	if (id < 0)
		return NULL;
	if (!sched.carriers[id]) {
		c = aligned_alloc(64, (sizeof *c + 63) & ~(size_t)63);
		sched.stat_slots[id] = c ? gr_stat_slot_new() : NULL;
		if (!sched.stat_slots[id]) {
			free(c);
			slot_release(id);
			return NULL;
		}
		memset(c, 0, sizeof *c);
		sched.carriers[id] = c;
		/* the monitor reads records below this bound (it only indexes ids it found in a
		 * status word, which are set up before they get there) */
		seen = atomic_load(&sched.ncarriers);
		while (seen <= id && !atomic_compare_exchange_weak(&sched.ncarriers, &seen, id + 1))
			;
	}
	c = sched.carriers[id];
	atomic_fetch_add(&sched.fs_writes_gone, c->fs_writes);
	memset(c, 0, sizeof *c);
	c->id = id;
	c->stats = sched.stat_slots[id];
	c->p = p;
	c->rand = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
	set_state(c, p ? GR_C_LOOKING : GR_C_SPARE);
	return c;
}

/* Start an OS thread for new carrier c (no lock held: thread creation maps memory); false,
 * with the slot given back, if none could be started. */
static bool carrier_start(struct gr_carrier *c)
{
	int err = sched.hooks.start_os_thread(carrier_thread, c);

	if (!err)
		return true;
	slot_release(c->id);
	gr_say("cannot start a carrier thread (error %d); lower GREENPOLL_PROCS or "
	       "GREENPOLL_MAX_CARRIERS, or raise the thread limit",
	       err);
	return false;
}

/* A spare carrier, taken out of the spare list or started now; NULL at the cap. */
static struct gr_carrier *spare_get(void)
{
	struct gr_carrier *c;

	gr_lock(&sched.spare_lock);
	c = sched.spare_head;
	if (c)
		sched.spare_head = c->idle_next;
	gr_unlock(&sched.spare_lock);
	if (!c && (c = carrier_new(NULL)) && !carrier_start(c))
		c = NULL;
	return c;
}

static void spare_hand(struct gr_carrier *c, struct gr_proc *p);

/*
 * Idle carrier c, whose OS thread may end, hands its processor to the spare that must not end
 * (sched.swap_to) and ends in its place; false if there is none (or the monitor is handing it
 * a processor already). So the carrier count comes back to its resting value whichever OS
 * threads were the ones that blocked.
 */
static bool swap_out(struct gr_carrier *c)
{
	struct gr_carrier *w = atomic_load(&sched.swap_to), **pp;
	struct gr_proc *p = c->p;

	if (!w || !sched.may_end[c->id] || !atomic_compare_exchange_strong(&sched.swap_to, &w, NULL))
		return false;
	carrier_own_tls(c);
	gr_lock(&sched.spare_lock);
	for (pp = &sched.spare_head; *pp && *pp != w; pp = &(*pp)->idle_next)
		;
	if (!*pp) {
		gr_unlock(&sched.spare_lock);
		return false;
	}
	*pp = w->idle_next;
	stop_spinning(c, false);
	set_state(c, GR_C_SPARE);
	c->p = NULL;
	atomic_store(&p->status, GR_PSTATUS(w->id, GR_P_SCHED));
	carrier_end(c);
	gr_unlock(&sched.spare_lock);
	spare_hand(w, p);
	return true;
}

static void spare_hand(struct gr_carrier *c, struct gr_proc *p)
{
	if (p) {
		atomic_store(&c->handed, p);
		atomic_store(&c->wake_word, 1);
		gr_futex_wake((uint32_t *)&c->wake_word, 1);
		return;
	}
	gr_lock(&sched.spare_lock); /* not needed after all: back to the list */
	c->idle_next = sched.spare_head;
	sched.spare_head = c;
	gr_unlock(&sched.spare_lock);
}

/* ---- switching ---- */

/* c switches from task prev (NULL: from its own context) to next */
static void switch_to(struct gr_carrier *c, struct gr_task *prev, struct gr_task *next)
{
	struct gr_task *after = gr_runq_peek(&c->p->runq);
	int64_t now = c->looked_ns ? c->looked_ns : gr_nanotime();

	if (prev)
		gr_stat_add(c->stats, GR_STAT_BUSY_NS, (uint64_t)gr_cputime_stop(prev, now));
	gr_cputime_start(next, now);
	gr_stat_add(c->stats, GR_STAT_SWITCHES, 1);

	/* the task after this one: its record's hot line (cold when there are thousands of
	 * tasks) is on its way while this one runs */
	if (after)
		__builtin_prefetch(after, 1);
	next->carrier = c;
	c->current = next;
	c->poller_seen_empty = false;
	atomic_store_explicit(&next->state, GR_TASK_RUNNING, memory_order_relaxed);
	gr_ctx_switch(prev ? &prev->ctx : &c->ctx, &next->ctx, &c->fs_writes);
}

static void finish_switch(struct gr_carrier *c)
{
	struct gr_task *prev = c->prev;

	if (!prev)
		return;
	c->prev = NULL;
	switch (c->prev_action) {
	case GR_SWITCH_YIELD:
		atomic_store_explicit(&prev->state, GR_TASK_RUNNABLE, memory_order_relaxed);
		if (c->p)
			runq_put(c, prev);
		else
			ready_global(prev);
		break;
	case GR_SWITCH_PARK:
		atomic_store_explicit(&prev->state, GR_TASK_PARKED, memory_order_relaxed);
		if (!gr_park_commit(prev))
			gr_sched_ready(prev); /* woken before it was off its stack */
		break;
	case GR_SWITCH_EXIT:
		/* its TCB may be unmapped or given to a new task: not this carrier's FS base */
		if (!c->current)
			carrier_own_tls(c);
		gr_task_reap(prev);
		break;
	case GR_SWITCH_NONE:
		break;
	}
}

static void carrier_loop(void *arg)
{
	struct gr_carrier *c = arg;
	struct gr_task *next;

	for (;;) {
		finish_switch(c);
		c->current = NULL;
		if (!c->p && !spare_wait(c))
			return; /* lingered out: the OS thread ends */
		c->in_sched = true;
		if (!(next = find_work_or_sleep(c)))
			return; /* swapped out: the OS thread ends */
		switch_to(c, NULL, next);
	}
}

/* back in task t's code after a switch: finish the switch, give the processor to task code */
static void task_resumed(struct gr_task *t)
{
	struct gr_carrier *c = t->carrier;

	if (atomic_load_explicit(&c->borrowed, memory_order_relaxed))
		atomic_store_explicit(&c->borrowed, NULL, memory_order_release);
	finish_switch(c);
	gr_sig_resume(c, t);
	proc_leave(c);
}

void gr_sched_task_started(struct gr_task *t) { task_resumed(t); }

/* the calling task t stops running; what for is in c->prev_action; c holds its processor in
 * SCHED, or has none (then t's carrier becomes a spare) */
static void switch_away(struct gr_task *t, struct gr_carrier *c)
{
	struct gr_task *next = c->p ? find_runnable(c, false, true) : NULL;

	c->prev = t;
	if (next) {
		switch_to(c, t, next);
	} else {
		gr_stat_add(c->stats, GR_STAT_BUSY_NS, (uint64_t)gr_cputime_stop(t, gr_nanotime()));
		c->current = NULL;
		/* t's TCB stays the FS base (see the header), published before t can be requeued
		 * or marked parked; not a TCB in the program's own memory, which it may free */
		if (t->user_stack)
			gr_fs_write(c->own_fs, &c->fs_writes);
		else
			atomic_store(&c->borrowed, t->tcb);
		gr_ctx_switch(&t->ctx, &c->ctx, &c->fs_writes);
	}
	task_resumed(t);
}

static void yield(bool preempted)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c = t->carrier;
	struct gr_task *next;

	c->prev_action = GR_SWITCH_YIELD;
	if (!proc_enter(c)) {
		switch_away(t, c); /* to the global queue; this carrier becomes a spare */
		return;
	}
	if (preempted) {
		/* a time slice has passed: ready fds and the global queue are owed a look
		 * (find_runnable looks there only every GLOBQ_EVERY switches) */
		poll_ready(c);
		if ((next = globq_take(c)))
			runq_put(c, next);
	}
	next = find_runnable(c, false, false);
	if (!next) {
		proc_leave(c);
		return;
	}
	c->prev = t;
	switch_to(c, t, next);
	task_resumed(t);
	if (atomic_load_explicit(&t->interrupted, memory_order_relaxed) && sched.hooks.interrupted)
		sched.hooks.interrupted(t);
}

void gr_yield(void) { yield(false); }
void gr_yield_preempted(void)
{
	gr_stat_add(gr_stat_here(), GR_STAT_PREEMPT_YIELDS, 1);
	yield(true);
}

void gr_sched_switch_park(struct gr_task *t)
{
	struct gr_carrier *c = t->carrier;

	proc_enter(c);
	c->prev_action = GR_SWITCH_PARK;
	switch_away(t, c);
}

void gr_sched_add_timer(struct gr_timer *timer, int64_t deadline)
{
	struct gr_carrier *c = gr_current_task()->carrier;
	struct gr_proc *p = c->p ? c->p : &sched.procs[0]; /* any heap will do: each has a lock */

	gr_timer_add(&p->timers, timer, deadline);
	/* a carrier waiting in the poller sleeps past this deadline: it must look again (this
	 * carrier may be busy when the deadline comes) */
	if (atomic_load(&sched.polling) && deadline < atomic_load(&sched.poll_until))
		gr_netpoll_break();
	/* without a processor (it went to a spare meanwhile) this carrier will not look at the
	 * heap before it sleeps, and the carrier that holds procs[0] may be asleep on its futex
	 * with no deadline: wake an idle one to look (wakep pairs with carrier_sleep) */
	if (!c->p)
		wakep();
}

void gr_sched_route_signals(void)
{
	struct gr_carrier *here = gr_here();

	atomic_store(&sched.route_signals, true);
	/* a carrier asleep on its futex would go back to sleep after the handler (SA_RESTART):
	 * this one finds its word set, the others are woken */
	if (here && state_of(here) == GR_C_SLEEPING)
		atomic_store(&here->wake_word, 1);
	gr_sched_kick_idle();
}

void gr_sched_unmark_signals(struct gr_task *t)
{
	int n = atomic_load(&sched.ncarriers);

	for (int i = 0; i < n; i++) {
		struct gr_carrier *c = sched.carriers[i];

		for (int sig = 0; c && sig < GR_NSIG; sig++) {
			struct gr_task *expect = t;

			if (atomic_load_explicit(&c->sig_for[sig], memory_order_relaxed) == t)
				atomic_compare_exchange_strong(&c->sig_for[sig], &expect, NULL);
		}
	}
}

void gr_sched_kick_idle(void)
{
	int n = atomic_load(&sched.ncarriers);

	for (int i = 0; i < n; i++) {
		struct gr_carrier *c = sched.carriers[i];

		/* a spurious wake-up: each looks again and sleeps with the new mask */
		if (c && (state_of(c) == GR_C_SLEEPING || state_of(c) == GR_C_SPARE))
			gr_futex_wake((uint32_t *)&c->wake_word, 1);
	}
	if (atomic_load(&sched.polling))
		gr_netpoll_break();
}

_Noreturn void gr_sched_exit_switch(struct gr_task *t)
{
	struct gr_carrier *c;

	/* its last timed wait may have left a stopped slot, and the record is about to go */
	gr_park_timer_detach(t);
	c = t->carrier;
	proc_enter(c);
	c->prev_action = GR_SWITCH_EXIT;
	switch_away(t, c);
	gr_throw("runtime: an exited task was resumed");
}

/* ---- blocking calls ---- */

/* the calling task's carrier, if it holds its processor, which it now holds in BLOCKING */
static struct gr_carrier *blocking_begin(void)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c;

	if (!t)
		return NULL;
	gr_stat_add(t->carrier->stats, GR_STAT_BLOCKING_CALLS, 1);
	if (!(c = t->carrier)->p)
		return NULL;
	tick(c->p);
	return proc_take_back(c, GR_P_TASK, GR_P_BLOCKING) ? c : NULL;
}

void gr_blocking_enter(void) { blocking_begin(); }

void gr_blocking_enter_long(void)
{
	struct gr_carrier *c = blocking_begin();
	struct gr_proc *p;

	/* waiting is not running (cputime.h) */
	gr_stat_add(gr_stat_here(), GR_STAT_BUSY_NS,
		    (uint64_t)gr_cputime_stop(gr_current_task(), gr_nanotime()));
	if (!c)
		return;
	p = c->p;
	/* nothing else for it to do, and no fd to poll: the monitor hands it off if work comes */
	if (!gr_runq_len(&p->runq) && gr_timers_next(&p->timers) == GR_NEVER &&
	    !gr_netpoll_active())
		return;
	if (gr_sched_retake(p->id, GR_PSTATUS(c->id, GR_P_BLOCKING)) > 0) {
		gr_stat_add_shared(GR_STAT_HANDOFFS_LONG, 1);
		c->p = NULL;
	}
}

void gr_blocking_exit(void)
{
	struct gr_task *t = gr_current_task();
	struct gr_carrier *c;
	uint32_t expect;

	if (!t)
		return;
	if (!atomic_load_explicit(&t->run_since, memory_order_relaxed))
		gr_cputime_start(t, gr_nanotime()); /* after gr_blocking_enter_long */
	if (!(c = t->carrier)->p)
		return;
	expect = GR_PSTATUS(c->id, GR_P_BLOCKING);
	if (atomic_compare_exchange_strong(&c->p->status, &expect, GR_PSTATUS(c->id, GR_P_TASK)))
		return;
	/* already TASK and this carrier's: the bracket ended inside (a park in a signal handler,
	 * perhaps resuming the task on this carrier); anything else: handed off meanwhile */
	if (expect != GR_PSTATUS(c->id, GR_P_TASK))
		c->p = NULL;
}

/* ---- for the monitor ---- */

void gr_sched_sample(int i, int64_t now, struct gr_proc_sample *s)
{
	struct gr_proc *p = &sched.procs[i];
	int owner;

	s->status = atomic_load(&p->status);
	s->schedtick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
	owner = GR_PSTATUS_OWNER(s->status);
	s->owner_tid = owner < atomic_load_explicit(&sched.ncarriers, memory_order_acquire)
			       ? atomic_load(&sched.carriers[owner]->os_tid)
			       : 0;
	s->has_work = gr_runq_len(&p->runq) || gr_timers_next(&p->timers) <= now ||
		      (atomic_load(&sched.globq.len) && !atomic_load(&sched.nidle));
	s->nobody_polls = gr_netpoll_active() && !atomic_load(&sched.nidle);
}

int gr_sched_retake(int i, uint32_t seen)
{
	struct gr_proc *p = &sched.procs[i];
	struct gr_carrier *s = spare_get();

	if (!s)
		return -1;
	if (!atomic_compare_exchange_strong(&p->status, &seen, GR_PSTATUS(s->id, GR_P_SCHED))) {
		spare_hand(s, NULL);
		return 0;
	}
	spare_hand(s, p);
	return 1;
}

int gr_sched_max_carriers(void) { return sched.max_carriers; }

int32_t gr_sched_preempt_target(int i, uint32_t seen)
{
	int owner = GR_PSTATUS_OWNER(seen);

	if (GR_PSTATUS_STATE(seen) != GR_P_TASK ||
	    owner >= atomic_load_explicit(&sched.ncarriers, memory_order_acquire) ||
	    atomic_load(&sched.procs[i].status) != seen)
		return 0;
	return atomic_load(&sched.carriers[owner]->os_tid);
}

bool gr_sched_quiescent(void)
{
	return !atomic_load(&sched.nbusy) && !work_visible() && earliest_timer() == GR_NEVER;
}

/* ---- carriers ---- */

/*
 * Give carrier c an idle-loop context of its own (stack and TCB) on the calling OS thread,
 * which keeps running its current task meanwhile: for the initial thread, whose TCB belongs to
 * the initial task, and in a fork child, whose carrier's old stack glibc may hand to a new
 * thread (the child's glibc counts that carrier's thread as gone).
 */
/* c, the calling OS thread's carrier, gets an own context of greenpoll's making, whose TCB
 * stands in glibc's thread list for `glibc_knew`, the thread descriptor glibc knew this OS
 * thread by, which a task has (tls.h: gr_tcb_stand_in) */
static void make_own_context(struct gr_carrier *c, void *glibc_knew)
{
	/* the static TLS below the TCB comes on top of the stack: it can be larger (a program's
	 * big __thread arrays; ThreadSanitizer's runtime alone takes 768 KB) */
	size_t guard = gr_page_size(), size = CARRIER_STACK + gr_tls_reserve();
	bool reused;
	int err;
	void *top = gr_stack_get(size, guard, &reused, &err), *tcb;

	if (!top)
		gr_throw("runtime: cannot map a carrier's stack");
	tcb = gr_tcb_make((char *)top - GR_STACK_NODE_BYTES, (char *)top - size - guard,
			  size + guard, guard, (int32_t)gr_os_tid(), NULL);
	if (!tcb)
		gr_throw("runtime: cannot make a carrier's TCB");
	gr_tcb_set_carrier(tcb, c);
	gr_tcb_stand_in(tcb, glibc_knew);
	c->own_fs = tcb;
	c->own_lo = (uintptr_t)top - size;
	c->own_hi = (uintptr_t)top;
	gr_ctx_make(&c->ctx, (char *)top - GR_STACK_NODE_BYTES - gr_tls_reserve(), NULL,
		    carrier_loop, c);
}

void gr_sched_start_carriers(void)
{
	if (atomic_load_explicit(&sched.started, memory_order_acquire))
		return;
	gr_lock(&sched.start_lock);
	if (!atomic_load(&sched.started)) {
		for (int i = 0; i < sched.nprocs; i++) {
			struct gr_proc *p = &sched.procs[i];
			struct gr_carrier *c;

			if (GR_PSTATUS_OWNER(atomic_load(&p->status)) != NO_OWNER)
				continue;
			/* if none can start, its processor's tasks are still run, by the others
			 * stealing them */
			c = carrier_new(p);
			if (!c)
				break;
			atomic_store(&p->status, GR_PSTATUS(c->id, GR_P_SCHED));
			if (!carrier_start(c)) {
				atomic_store(&p->status, GR_PSTATUS(NO_OWNER, GR_P_SCHED));
				break;
			}
		}
		gr_monitor_start(sched.hooks.start_os_thread);
		atomic_store_explicit(&sched.started, true, memory_order_release);
	}
	gr_unlock(&sched.start_lock);
}

/* fork.h: only the calling task and its carrier remain; other carriers restart later */
static void sched_after_fork_child(struct gr_task *self)
{
	struct gr_carrier *here = gr_here();

	if (!here->p)
		here->p = &sched.procs[0];
	for (int i = 0; i < sched.nprocs; i++) {
		struct gr_proc *p = &sched.procs[i];

		atomic_store(&p->runq.head, 0);
		atomic_store(&p->runq.tail, 0);
		atomic_store(&p->runq.next, NULL);
		free(p->timers.heap);
		gr_timers_init(&p->timers);
		atomic_store(&p->status, p == here->p ? GR_PSTATUS(here->id, GR_P_TASK)
						     : GR_PSTATUS(NO_OWNER, GR_P_SCHED));
	}
	for (int id = 0; id < sched.nslots; id++) {
		sched.alive[id] = id == here->id;
		/* the other carriers' threads are gone: glibc may give their stacks to new ones */
		if (id != here->id && sched.carriers[id])
			sched.carriers[id]->own_lo = sched.carriers[id]->own_hi = 0;
	}
	sched.may_end[here->id] = false;
	atomic_store(&sched.nalive, 1);
	atomic_store(&here->os_tid, (int32_t)gr_os_tid());
	atomic_store(&here->handed, NULL);
	set_state(here, GR_C_RUNNING);
	make_own_context(here, self->tcb);
	/* the heaps are new: the forking task's timer has no slot in them */
	if (here->current)
		gr_park_timer_reset(here->current);
	sched.globq = (struct gr_globq){.lock = GR_LOCK_INIT};
	sched.idle_lock = (gr_lock_t)GR_LOCK_INIT;
	sched.spare_lock = (gr_lock_t)GR_LOCK_INIT;
	sched.start_lock = (gr_lock_t)GR_LOCK_INIT;
	sched.idle_head = NULL;
	sched.spare_head = NULL;
	atomic_store(&sched.swap_to, NULL);
	atomic_store(&sched.nidle, 0);
	atomic_store(&sched.nspinning, 0);
	atomic_store(&sched.nbusy, 1);
	atomic_store(&sched.polling, false);
	atomic_store(&sched.started, false);
	gr_monitor_after_fork_child();
}
GR_AFTER_FORK(GR_FORK_SCHED, sched_after_fork_child);

void gr_sched_use_syscall_switch(void) { sched.syscall_switch = true; }

void gr_sched_init(int nprocs, int max_carriers, struct gr_task *initial,
		   const struct gr_sched_hooks *hooks)
{
	struct gr_carrier *c0;

	if ((getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) && !sched.syscall_switch) {
		gr_ctx_switch = gr_ctx_switch_wrfs;
		gr_fs_write = gr_fs_write_wrfs;
	} else {
		gr_ctx_switch = gr_ctx_switch_prctl;
		gr_fs_write = gr_fs_write_prctl;
	}
	sched.hooks = *hooks;
	sched.nprocs = nprocs;
	sched.max_carriers = max_carriers < nprocs ? nprocs : max_carriers;
	atomic_store(&sched.poll_until, GR_NEVER);
	sched.procs = calloc((size_t)nprocs, sizeof *sched.procs);
	sched.carriers = calloc((size_t)sched.max_carriers, sizeof *sched.carriers);
	sched.alive = calloc((size_t)sched.max_carriers, sizeof *sched.alive);
	sched.may_end = calloc((size_t)sched.max_carriers, sizeof *sched.may_end);
	sched.stat_slots = calloc((size_t)sched.max_carriers, sizeof *sched.stat_slots);
	if (!sched.procs || !sched.carriers || !sched.alive || !sched.may_end || !sched.stat_slots)
		gr_throw("runtime: out of memory at start-up");
	for (int i = 0; i < nprocs; i++) {
		sched.procs[i].id = i;
		sched.procs[i].runq.owner_only = nprocs == 1; /* nobody to steal from it */
		gr_timers_init(&sched.procs[i].timers);
		atomic_store(&sched.procs[i].status, GR_PSTATUS(NO_OWNER, GR_P_SCHED));
	}

	/* the initial OS thread is carrier 0, now running `initial` on glibc's own TCB */
	c0 = carrier_new(&sched.procs[0]);
	if (!c0)
		gr_throw("runtime: out of memory at start-up");
	sched.may_end[0] = false; /* the process's initial thread */
	make_own_context(c0, initial->tcb);
	atomic_store(&c0->os_tid, (int32_t)gr_os_tid());
	set_state(c0, GR_C_RUNNING);
	atomic_store(&sched.nbusy, 1);
	atomic_store(&sched.procs[0].status, GR_PSTATUS(0, GR_P_TASK));
	c0->current = initial;
	initial->carrier = c0;
	atomic_store(&initial->state, GR_TASK_RUNNING);
}

void gr_sched_census(struct gr_carrier_census *out)
{
	int n = atomic_load_explicit(&sched.ncarriers, memory_order_acquire);

	*out = (struct gr_carrier_census){.alive = atomic_load(&sched.nalive)};
	for (int i = 0; i < n; i++) {
		struct gr_carrier *c = sched.carriers[i];

		if (!c || !sched.alive[i]) /* a moment's view: alive is read without its lock */
			continue;
		switch ((enum gr_carrier_state)state_of(c)) {
		case GR_C_RUNNING: out->running++; break;
		case GR_C_LOOKING: case GR_C_SPINNING: case GR_C_WOKEN: out->looking++; break;
		case GR_C_SLEEPING: case GR_C_POLLING: out->resting++; break;
		case GR_C_SPARE: out->spare++; break;
		}
	}
	for (int i = 0; i < sched.nprocs; i++)
		if (GR_PSTATUS_STATE(atomic_load(&sched.procs[i].status)) == GR_P_BLOCKING)
			out->blocked++;
}
