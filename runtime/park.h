/*
 * park.h — a task waits and is woken: the wake token protocol (after Go's pdWait/gopark).
 *
 * A wait goes: gr_wait_prepare (token ARMED with a new sequence number) → the task publishes
 * itself, with that number, where a waker will find it (a wait queue, a pollDesc, a join) →
 * gr_park (switch away). The token, in gr_task.wait_token, holds the sequence number, the wake
 * reason and a phase:
 *
 *   ARMED ──(carrier, after the task's context is saved: gr_park_commit CAS)──► PARKED
 *     │                                                                          │
 *     └──(waker CAS: the task has not switched away yet;            (waker CAS: it readies
 *         it sees DONE and does not park, or is readied by               the task)
 *         the carrier that fails gr_park_commit)──► DONE ◄───────────────────────┘
 *
 * Exactly one waker per sequence number moves the token to DONE (with its reason: normal,
 * timeout, interrupt); every later one fails its CAS and does nothing. So a wake-up racing the
 * task going to sleep is never lost and never delivered twice.
 */
#ifndef GR_PARK_H
#define GR_PARK_H

#include <stdbool.h>
#include <stdint.h>

#include "task.h"

/*
 * The calling task starts a wait; returns its sequence number. If interruptible and an
 * interrupt is pending, the wait is already over (gr_park returns GR_WAKE_INTERRUPT at once).
 */
uint32_t gr_wait_prepare(bool interruptible);

/*
 * The calling task waits until gr_wake(t, seq, ...), the deadline (CLOCK_MONOTONIC ns,
 * GR_NEVER for none) or, if interruptible, gr_interrupt(t), whichever comes first, even if it
 * came before gr_park. what/on say what it waits for (task dumps, the deadlock report).
 */
enum gr_wake_reason gr_park(int64_t deadline, const char *what, const void *on);

/*
 * Wake t from the wait with sequence number seq. True if this call woke it. A waker that
 * cannot know the sequence number for sure may pass t's current one: the wait it ends may then
 * be a later one, so every wait treats GR_WAKE_NORMAL as "look again", never as proof.
 */
bool gr_wake(struct gr_task *t, uint32_t seq, enum gr_wake_reason why);

/*
 * fn runs once, on the first task that parks after this call, at the start of its gr_park
 * (no runtime lock held; fn must not park): work a process may never need, such as a fork
 * child's control channel, which a child that execs or exits at once never waits for. Costs
 * every park one relaxed load.
 */
void gr_park_first_hook(void (*fn)(void));

/* Interrupt t: its current interruptible wait, if any, ends with GR_WAKE_INTERRUPT. */
void gr_interrupt(struct gr_task *t);

/*
 * gr_interrupt of the calling task, from a signal handler that interrupted it on its own
 * carrier (in greenpoll's code, between gr_wait_prepare and the switch of its gr_park, say):
 * it is running, so a wait it armed is not yet committed, and ending it wakes nobody (its
 * gr_park returns GR_WAKE_INTERRUPT without switching away). Async-signal-safe: atomics only.
 */
void gr_interrupt_self(void);

/*
 * For the scheduler, once t's context is saved after gr_park switched away: ARMED → PARKED.
 * False if t was woken meanwhile: then the caller readies it.
 */
bool gr_park_commit(struct gr_task *t);

/* t's wait timer: forget any heap slot (the task is exiting, or the heaps are new after fork) */
void gr_park_timer_detach(struct gr_task *t);
void gr_park_timer_reset(struct gr_task *t);

#endif
