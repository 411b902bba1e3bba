/*
 * park.c — the wake token protocol (see park.h and task.h).
 *
 * Runs on the calling task's stack with its TLS; never touches errno (see sys.h).
 */
#include "park.h"

#include <stddef.h>

#include "sched.h"
#include "tls.h"

enum { PHASE_ARMED = 1, PHASE_PARKED = 2, PHASE_DONE = 3 };
#define TOKEN(seq, why, phase) (((uint64_t)(seq) << 8) | ((uint64_t)(why) << 2) | (phase))
#define TOKEN_SEQ(tok) ((uint32_t)((tok) >> 8))
#define TOKEN_WHY(tok) ((enum gr_wake_reason)(((tok) >> 2) & 0x3f))
#define TOKEN_PHASE(tok) ((int)((tok)&3))

/* cache lines above a parked task's saved stack pointer that its resumption reads back: the
 * switch's registers and the frames of the park path (a blocking read is about 700 bytes) */
#define RESUME_STACK_LINES 11

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

	gr_stat_call_part(t->carrier->stats, t->call, &t->call_todo, GR_STAT_CALL_GREEN);

	t->wait_interruptible = interruptible;
	/* published (in a queue, a pollDesc) only after this, by a release of its own. Sequentially
	 * consistent, as gr_interrupt's store of interrupted and load of the token are: of the two
	 * sides (arm, then look for an interrupt; interrupt, then look at the token) at least one
	 * sees the other's store, so an interrupt racing the arming is never missed by both. A
	 * release store here could be passed by the load below (x86 store buffering). */
	atomic_store(&t->wait_token, TOKEN(seq, 0, PHASE_ARMED));
	if (interruptible && atomic_load(&t->interrupted))
		gr_wake(t, seq, GR_WAKE_INTERRUPT);
	return seq;
}

static void (*_Atomic first_park_hook)(void);

void gr_park_first_hook(void (*fn)(void)) { atomic_store(&first_park_hook, fn); }

enum gr_wake_reason gr_park(int64_t deadline, const char *what, const void *on)
{
	struct gr_task *t = gr_current_task();
	void (*hook)(void);
	uint64_t tok;

	if (__builtin_expect(atomic_load_explicit(&first_park_hook, memory_order_relaxed) != NULL, 0) &&
	    (hook = atomic_exchange(&first_park_hook, NULL)))
		hook();

	t->wait_what = what;
	t->wait_on = on;
	if (deadline != GR_NEVER) {
		if (!t->wait_timer.fire)
			gr_timer_init(&t->wait_timer, wait_timer_fired);
		t->wait_timer_seq = t->wait_seq;
		gr_sched_add_timer(&t->wait_timer, deadline);
	}
	tok = atomic_load(&t->wait_token);
	if (TOKEN_PHASE(tok) == PHASE_ARMED) {
		gr_stat_park(t->carrier->stats, what);
		gr_sched_switch_park(t);
		tok = atomic_load(&t->wait_token);
	}
	if (TOKEN_WHY(tok))
		gr_stat_add(t->carrier->stats,
			    GR_STAT_WAKES_NORMAL + (TOKEN_WHY(tok) - GR_WAKE_NORMAL), 1);
	if (deadline != GR_NEVER && TOKEN_WHY(tok) != GR_WAKE_TIMEOUT)
		gr_timer_del(&t->wait_timer);
	t->wait_what = NULL;
	t->wait_on = NULL;
	return TOKEN_WHY(tok);
}

bool gr_park_commit(struct gr_task *t)
{
	uint64_t armed = TOKEN(t->wait_seq, 0, PHASE_ARMED);

	return atomic_compare_exchange_strong(&t->wait_token, &armed,
					      TOKEN(t->wait_seq, 0, PHASE_PARKED));
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
		/* a thread of the parent in a fork child: natively there is no such thread to
		 * wake (what could still name it, the program's copied memory, see fork.h) */
		if (!gr_task_of_this_process(t))
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

void gr_interrupt_self(void)
{
	struct gr_task *t = gr_current_task();
	uint64_t tok;

	atomic_store(&t->interrupted, true);
	tok = atomic_load(&t->wait_token);
	if (TOKEN_PHASE(tok) == PHASE_ARMED && t->wait_interruptible)
		atomic_compare_exchange_strong(&t->wait_token, &tok,
					       TOKEN(TOKEN_SEQ(tok), GR_WAKE_INTERRUPT, PHASE_DONE));
}

void gr_park_timer_detach(struct gr_task *t)
{
	if (t->wait_timer.fire)
		gr_timer_detach(&t->wait_timer);
}

void gr_park_timer_reset(struct gr_task *t)
{
	if (t->wait_timer.fire)
		gr_timer_init(&t->wait_timer, wait_timer_fired);
}
