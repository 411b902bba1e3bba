/*
 * monitor.c — the monitor thread (Go's sysmon; see monitor.h).
 *
 * It looks at every processor now and then: every MAX_DELAY_NS at first; the delay halves
 * (down to 20 µs) after a look that handed a processor off, and doubles again after
 * QUIET_LOOKS looks that did not (up to MAX_DELAY_NS),
 * and the monitor sleeps on a futex once every carrier has been idle for DEEP_SLEEP_AFTER_NS,
 * until gr_monitor_kick. A processor is "stuck" while its status word and scheduling tick stay
 * the same: its carrier is inside one task's code. A stuck processor that has work (runnable
 * tasks, due timers, global work nobody idle can take, or fds with no idle carrier left to poll
 * them) is handed to a spare carrier (gr_sched_retake) when:
 *
 *   - its task is in a bracketed call (BLOCKING) older than BLOCKING_GRACE_NS (or, with no
 *     work, older than IDLE_GRACE_NS, as Go's retake);
 *   - its task has made no call into greenpoll for UNSEEN_GRACE_NS and the carrier's OS thread
 *     sleeps in the kernel ('S' or 'D' in /proc/self/task/TID/stat, read only then, and at most
 *     every RECHECK_NS): a call greenpoll cannot see (a raw system call, a lock inside libc);
 *   - its task has computed for a time slice (GREENPOLL_PREEMPT) of CPU time (the carrier's
 *     thread CPU clock, read only on suspicion; wall time would count a carrier the kernel
 *     keeps waiting as a hog): first the carrier's OS thread gets the preemption signal, every
 *     PREEMPT_RETRY_NS, whose handler (shim/preempt.c) makes the task yield if the interrupted
 *     code may switch; if the task is still there a time slice later (it stays in libc, say),
 *     the processor is handed off: the carrier goes on running the task as an OS thread of its
 *     own, and the kernel shares the CPUs between them. (Go marks such a goroutine to yield at
 *     its next call into the runtime instead; a C task may make none for long.)
 *
 * A task first seen running its own code does not bring the next look forward (most looks see
 * one: waking every 0.2 ms for them cost a busy server 3-4% of its throughput); one already
 * seen there, or one in a bracketed call, does.
 *
 * Memory: once every carrier has been idle for DEEP_SLEEP_AFTER_NS, before its deep sleep, the
 * monitor trims the stack pool (gr_task_trim_pool; GREENPOLL_STACK_CACHE): a busy program
 * never pays for it, and one that went idle after a churn of threads gives their memory back.
 *
 * Deadlock: when no carrier runs a task, nothing is runnable, no timer is armed, no offloaded
 * call is under way and every task is parked on something only another task can release
 * (a mutex, condvar, rwlock, barrier, once, semaphore, private futex or join: the `what` names
 * that runtime/ and shim/ pass to gr_park for those waits), twice DEADLOCK_CONFIRM_NS apart,
 * the monitor prints the report once (its line, then the task dump with backtraces: the
 * shim's, gr_monitor_config.dump) (again only after the program made progress), then the
 * process waits on, as it would natively, or aborts (GREENPOLL_DEADLOCK=abort).
 *
 * The monitor is a plain OS thread: it runs no task, touches no task's TLS, and every libc
 * call it makes goes straight to libc (shim.h's rule for threads that are not tasks).
 */
#define _GNU_SOURCE
#include "monitor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "sys.h"
#include "task.h"
#include "throw.h"
#include "tls.h"

#define MIN_DELAY_NS 20000
#define MAX_DELAY_NS 5000000
#define QUIET_LOOKS 50 /* looks without action before the delay doubles at every look */
#define BLOCKING_GRACE_NS 20000	   /* a bracketed call this old loses its processor */
#define UNSEEN_GRACE_NS 200000	   /* no progress this long: is the carrier asleep? */
#define RECHECK_NS 200000	   /* and again at most this often in one episode */
#define IDLE_GRACE_NS 10000000  /* a bracketed call this old loses its processor anyway */
#define DEEP_SLEEP_AFTER_NS 500000000 /* every carrier idle this long: sleep until kicked */
#define DROP_BORROWED_WAIT_NS 2000000 /* for woken carriers to leave an ended task's TCB */
#define DEADLOCK_CONFIRM_NS 100000000
#define PREEMPT_RETRY_NS 1000000 /* between preemption signals to one busy task */
#define REPORT_TASKS 64 /* tasks listed in a deadlock report */
#define MONITOR_TIMER_SLACK_NS 1000

struct proc_view {
	uint32_t status, tick;
	int64_t since; /* when this status and tick were first seen */
	int64_t signalled; /* when the preemption signal was last sent in this episode, or 0 */
	int64_t cpu0;	   /* the owner thread's CPU time when the episode began, or 0 */
	int64_t checked;   /* when its thread's state was last read, or 0 */
};

static struct {
	struct gr_monitor_config cfg;
	atomic_bool started;
	_Atomic uint32_t asleep; /* futex: 1 while sleeping until kicked */
	_Atomic int external;	 /* offloaded calls under way */
	struct proc_view *views;
	bool cap_said;
	uint64_t reported; /* the last deadlock reported (deadlock_sign), 0: none */
} mon = {.cfg = {.preempt_ns = GR_PREEMPT_DEFAULT_NS}};

void gr_monitor_configure(const struct gr_monitor_config *cfg) { mon.cfg = *cfg; }

bool gr_monitor_hands_off(void) { return !mon.cfg.off; }
void gr_monitor_external_begin(void) { atomic_fetch_add(&mon.external, 1); }
void gr_monitor_external_end(void) { atomic_fetch_sub(&mon.external, 1); }

void gr_monitor_kick(void)
{
	if (atomic_load_explicit(&mon.asleep, memory_order_relaxed) && atomic_exchange(&mon.asleep, 0))
		gr_futex_wake((uint32_t *)&mon.asleep, 1);
}

/* CPU time of OS thread tid of this process in ns (its kernel CPU clock), or -1 */
static int64_t thread_cpu_ns(int32_t tid)
{
	/* the clock id of a thread's CPU clock: the kernel's MAKE_THREAD_CPUCLOCK(tid, SCHED) */
	clockid_t id = (clockid_t)((~(uint32_t)tid << 3) | 4 | 2);
	struct timespec ts;

	if (tid <= 0 || gr_sys2(SYS_clock_gettime, id, &ts))
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* hand processor i off (gr_sched_retake), counting it under cause (a GR_STAT_HANDOFFS_*) */
static bool retake(int i, uint32_t seen, enum gr_stat cause)
{
	int r = gr_sched_retake(i, seen);

	if (r > 0)
		gr_stat_add_shared(cause, 1);
	if (r < 0 && !mon.cap_said) {
		mon.cap_said = true;
		if (mon.cfg.debug)
			gr_say("all %d carriers (GREENPOLL_MAX_CARRIERS) are in use: a thread blocked "
			       "in a call keeps its processor's other threads waiting",
			       gr_sched_max_carriers());
	}
	return r > 0;
}

/* Ask processor i's carrier, by signal, to make its task yield: queued with the cookie as its
 * value, so that the handler knows it from any the program sends, however they interleave
 * (one that comes late only makes whatever task runs then yield). */
static void preempt(int i, uint32_t seen)
{
	siginfo_t info = {.si_signo = mon.cfg.preempt_signal, .si_code = SI_QUEUE};
	int32_t tid;

	if (!mon.cfg.preempt_signal || !(tid = gr_sched_preempt_target(i, seen)))
		return;
	info.si_pid = (pid_t)gr_sys0(SYS_getpid);
	info.si_uid = (uid_t)gr_sys0(SYS_getuid);
	info.si_value.sival_ptr = mon.cfg.preempt_cookie;
	if (gr_sys4(SYS_rt_tgsigqueueinfo, info.si_pid, tid, mon.cfg.preempt_signal, &info) == 0)
		gr_stat_add_shared(GR_STAT_PREEMPT_SIGNALS, 1);
}

/* One look at every processor; true if one was handed off. *next_look: when to look again
 * at the latest for a stuck processor's grace to be checked on time. */
static bool look(int64_t now, int64_t *next_look)
{
	bool acted = false;

	for (int i = 0; i < gr_sched_nprocs(); i++) {
		struct proc_view *v = &mon.views[i];
		struct gr_proc_sample s;
		int64_t age, grace;
		bool want;
		char k;

		gr_sched_sample(i, now, &s);
		if (s.status != v->status || s.schedtick != v->tick)
			*v = (struct proc_view){.status = s.status, .tick = s.schedtick, .since = now};
		if (GR_PSTATUS_STATE(s.status) == GR_P_SCHED)
			continue;
		age = now - v->since;
		want = s.has_work || s.nobody_polls;
		if (GR_PSTATUS_STATE(s.status) == GR_P_BLOCKING) {
			grace = BLOCKING_GRACE_NS;
			if (age >= grace && (want || age >= IDLE_GRACE_NS)) {
				acted |= retake(i, s.status, GR_STAT_HANDOFFS_BRACKET);
				continue;
			}
		} else {
			grace = UNSEEN_GRACE_NS;
			if (age >= grace && want) {
				int64_t slice = mon.cfg.preempt_ns, cpu, ran, wait;

				if (v->checked && now - v->checked < RECHECK_NS) {
					if (v->checked + RECHECK_NS < *next_look)
						*next_look = v->checked + RECHECK_NS;
					continue;
				}
				v->checked = now;
				k = gr_thread_state(s.owner_tid);
				if (k == 'S' || k == 'D') {
					acted |= retake(i, s.status, GR_STAT_HANDOFFS_STUCK);
					continue;
				}
				if (!slice || (cpu = thread_cpu_ns(s.owner_tid)) < 0)
					continue;
				/* CPU time, not wall time: a carrier the kernel keeps waiting (other
				 * processes on the CPUs) is no hog, and another carrier would wait too */
				if (!v->cpu0)
					v->cpu0 = cpu - age; /* as if it ran since first seen */
				ran = cpu - v->cpu0;
				if (ran >= 2 * slice) {
					acted |= retake(i, s.status, GR_STAT_HANDOFFS_PREEMPT);
					continue;
				}
				/* again every PREEMPT_RETRY_NS: the handler does nothing where the
				 * code may not switch (in libc, say) */
				if (ran >= slice && now - v->signalled >= PREEMPT_RETRY_NS) {
					v->signalled = now;
					preempt(i, s.status);
				}
				wait = ran < slice ? slice - ran : PREEMPT_RETRY_NS;
				if (now + wait < *next_look)
					*next_look = now + wait;
				continue;
			}
		}
		/* a task running its own code is seen at most looks: only one seen there already
		 * (or in a bracketed call) brings the next look forward to the end of its grace */
		if ((v->since < now || GR_PSTATUS_STATE(s.status) == GR_P_BLOCKING) &&
		    v->since + grace > now && v->since + grace < *next_look)
			*next_look = v->since + grace;
	}
	return acted;
}

static bool peer_only(const char *what)
{
	static const char *const names[] = {"mutex", "cond", "rwlock read", "rwlock write",
					    "barrier", "pthread_once", "semaphore", "futex",
					    "join"};

	if (!what)
		return false;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(what, names[i]) == 0)
			return true;
	return false;
}

struct deadlock_scan {
	bool all_peer;
	int n, total;
	struct {
		int32_t tid;
		const char *what;
		const void *on;
	} tasks[REPORT_TASKS];
};

static void scan_task(struct gr_task *t, void *arg)
{
	struct deadlock_scan *d = arg;
	const char *what = t->wait_what;

	if (atomic_load(&t->state) != GR_TASK_PARKED || !peer_only(what))
		d->all_peer = false;
	if (d->n < REPORT_TASKS) {
		d->tasks[d->n].tid = t->tid;
		d->tasks[d->n].what = what;
		d->tasks[d->n].on = t->wait_on;
		d->n++;
	}
	d->total++;
}

static bool deadlocked(struct deadlock_scan *d)
{
	if (!gr_sched_quiescent() || atomic_load(&mon.external))
		return false;
	*d = (struct deadlock_scan){.all_peer = true};
	gr_task_each(scan_task, d);
	return d->all_peer && d->total > 0 && gr_sched_quiescent() && !atomic_load(&mon.external);
}

/* what identifies a deadlock: who waits where (a handler that ran in one of its threads and
 * left it waiting where it was does not make it a new one); never 0 */
static uint64_t deadlock_sign(const struct deadlock_scan *d)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)d->total;

	for (int i = 0; i < d->n; i++) {
		h = (h ^ (uint64_t)(uint32_t)d->tasks[i].tid) * 1099511628211ULL;
		h = (h ^ (uint64_t)(uintptr_t)d->tasks[i].on) * 1099511628211ULL;
	}
	return h ? h : 1;
}

static void report(const struct deadlock_scan *d)
{
	gr_say("all threads are asleep waiting on each other (deadlock)");
	if (mon.cfg.dump)
		mon.cfg.dump(2);
	for (int i = 0; !mon.cfg.dump && i < d->n; i++)
		gr_say("  thread %d waits in %s on %p", (int)d->tasks[i].tid,
		       d->tasks[i].what ? d->tasks[i].what : "?", d->tasks[i].on);
	if (!mon.cfg.dump && d->total > d->n)
		gr_say("  ... and %d more threads", d->total - d->n);
	if (mon.cfg.deadlock_abort) {
		gr_say("aborting (GREENPOLL_DEADLOCK=abort)");
		gr_libc_abort();
	}
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	gr_sys2(SYS_nanosleep, &ts, NULL);
}

/* Every carrier is idle: check for a deadlock, give the stack pool's excess back to the kernel
 * (this is when it costs a busy program nothing), then sleep until a carrier has work again. */
static void idle_wait(void)
{
	struct deadlock_scan *d = malloc(sizeof *d);

	if (d && deadlocked(d) && deadlock_sign(d) != mon.reported) {
		sleep_ns(DEADLOCK_CONFIRM_NS);
		if (deadlocked(d) && deadlock_sign(d) != mon.reported) {
			mon.reported = deadlock_sign(d);
			report(d);
		}
	}
	free(d);
	/* a carrier asleep on the TCB of an ended task keeps that task's region from the kernel:
	 * it is woken to take its own TCB back first */
	if (gr_sched_drop_dead_borrowed())
		sleep_ns(DROP_BORROWED_WAIT_NS);
	gr_task_trim_pool();
	atomic_store(&mon.asleep, 1);
	atomic_thread_fence(memory_order_seq_cst); /* pairs with become_busy's count and kick */
	if (!gr_sched_busy())
		gr_futex_wait((uint32_t *)&mon.asleep, 1, NULL);
	atomic_store(&mon.asleep, 0);
}

static void *monitor_thread(void *arg)
{
	int64_t delay = MAX_DELAY_NS, idle_since = 0; /* short only after handing off */
	int quiet = 0;

	(void)arg;
	gr_tcb_forget_runtime();
	/* its short sleeps as asked, not rounded up by the default 50 us of timer slack */
	gr_sys2(SYS_prctl, PR_SET_TIMERSLACK, MONITOR_TIMER_SLACK_NS);
	for (;;) {
		int64_t now = gr_nanotime(), next_look = now + delay;

		if (look(now, &next_look)) {
			delay = delay / 2 > MIN_DELAY_NS ? delay / 2 : MIN_DELAY_NS;
			quiet = 0;
		} else if (++quiet > QUIET_LOOKS && delay < MAX_DELAY_NS) {
			delay = delay * 2 < MAX_DELAY_NS ? delay * 2 : MAX_DELAY_NS;
		}
		if (gr_sched_busy()) {
			idle_since = 0;
		} else if (!idle_since) {
			idle_since = now;
		} else if (now - idle_since >= DEEP_SLEEP_AFTER_NS) {
			idle_wait();
			idle_since = 0;
			delay = MAX_DELAY_NS;
			continue;
		}
		sleep_ns(next_look - now);
	}
	return NULL;
}

void gr_monitor_start(int (*start_os_thread)(void *(*fn)(void *), void *arg))
{
	if (mon.cfg.off || atomic_exchange(&mon.started, true))
		return;
	if (!mon.views)
		mon.views = calloc((size_t)gr_sched_nprocs(), sizeof *mon.views);
	if (!mon.views || start_os_thread(monitor_thread, NULL)) {
		gr_say("cannot start the monitor thread: a thread blocked in a call greenpoll does "
		       "not see can stall others; raise the thread limit");
		return;
	}
}

void gr_monitor_after_fork_child(void)
{
	atomic_store(&mon.started, false);
	atomic_store(&mon.asleep, 0);
	atomic_store(&mon.external, 0);
	mon.reported = 0;
	if (mon.views)
		memset(mon.views, 0, (size_t)gr_sched_nprocs() * sizeof *mon.views);
}
