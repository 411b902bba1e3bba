/*
 * tls.h — one glibc thread control block (TCB, glibc's struct pthread) plus static TLS per task.
 *
 * A task's TP (the FS base; glibc's THREAD_SELF; what pthread_self() returns) points at a
 * struct pthread that glibc's own code accepts as a thread: errno, __thread variables, keys,
 * stdio and recursive-mutex ownership, C++ exception state are then per task wherever the
 * task runs. The TCB is laid out as glibc's allocate_stack does: at the top of the task's
 * stack region, static TLS blocks just below it.
 *
 * Life of a TCB (docs/DESIGN.md, "Per-task TLS", says why each field is set):
 *
 *   gr_tcb_make ──► gr_tcb_started (on its own FS) ──► gr_tcb_exiting (on its own FS)
 *        ▲                                                        │
 *        └──────────── gr_tcb_renew (region reused) ◄─────────────┘──► gr_tcb_destroy
 *
 * gr_tcb_renew keeps libc's own TLS block (malloc's per-thread cache and arena) and resets
 * everything a new thread can observe, so thread-per-connection churn neither leaks the
 * per-thread malloc cache (glibc frees it only in an internal function) nor shows one task's
 * state to the next.
 *
 * The runtime keeps two words of its own in the TCB, tcbhead_t's unused_vgetcpu_cache[2]
 * (unused by glibc 2.36, checked zero at start-up): [0] holds the task that owns the TCB, so
 * the current task is one %fs-relative load, NULL on every thread that is not a task
 * (carriers' own code, threads the runtime did not make); [1] holds the carrier whose own
 * context runs on the TCB.
 */
#ifndef GR_TLS_H
#define GR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gr_task;

#define GR_TCB_TASK_SLOT 0x38
#define GR_TCB_CARRIER_SLOT 0x40

/* The %fs reads below are volatile: the FS base can change inside a function (a signal handler
 * that gives a carrier its own TCB back, sched.h's gr_sched_signal_enter), and a read the
 * compiler took for pure could be moved across that. */
static inline struct gr_task *gr_current_task(void)
{
	struct gr_task *t;
	__asm__ volatile("movq %%fs:" "0x38" ", %0" : "=r"(t));
	return t;
}
_Static_assert(GR_TCB_TASK_SLOT == 0x38, "gr_current_task's %fs offset");

/*
 * The carrier whose own context runs on this TCB (unused_vgetcpu_cache[1]); NULL in task TCBs
 * and on threads that are not carriers.
 */
struct gr_carrier;
static inline struct gr_carrier *gr_tcb_current_carrier(void)
{
	struct gr_carrier *c;
	__asm__ volatile("movq %%fs:" "0x40" ", %0" : "=r"(c));
	return c;
}
_Static_assert(GR_TCB_CARRIER_SLOT == 0x40, "gr_tcb_current_carrier's %fs offset");

/* Mark tcb as the TCB of carrier c's own context. */
void gr_tcb_set_carrier(void *tcb, struct gr_carrier *c);

/*
 * Clear the task and carrier slots of the calling OS thread's own glibc TCB: first thing on
 * any thread the runtime or the shim starts with the real pthread_create. glibc hands a new
 * thread a cached stack, TCB included, without clearing these slots, and in a fork child its
 * cache holds the parent's carrier threads, whose slots name carriers that no longer run.
 */
void gr_tcb_forget_runtime(void);

/*
 * Resolve glibc's private TLS functions, discover and check every layout assumption against the
 * running glibc. Called once on the initial thread before any task exists. On failure returns
 * false with a one-line reason in why.
 */
bool gr_tls_init(char *why, size_t whylen);

/* Bytes at the top of a stack region taken by static TLS and the TCB (a multiple of 64). */
size_t gr_tls_reserve(void);

/*
 * Make a TCB in the top gr_tls_reserve() bytes below region_top; returns its TP. stack_lo,
 * stack_size and guard describe the whole stack block for pthread_getattr_np and libc's alloca
 * limit; tid is the task's thread id (unique among tasks, never a live kernel tid).
 */
void *gr_tcb_make(void *region_top, void *stack_lo, size_t stack_size, size_t guard, int32_t tid,
		  struct gr_task *owner);

/*
 * Re-initialise, for a new task, the TCB gr_tcb_make made below the same region_top (the region
 * came back from the pool); returns its TP, or NULL when out of memory (the TCB is then unusable
 * and holds nothing outside the region).
 */
void *gr_tcb_renew(void *region_top, int32_t tid, struct gr_task *owner);

/*
 * Release what a TCB holds outside its region before the region goes away: dtv, dynamic TLS,
 * and malloc's per-thread cache with the chunks it holds (when gr_tcb_releasable).
 */
void gr_tcb_destroy(void *tcb);

/*
 * Whether gr_tcb_destroy frees malloc's per-thread cache: its place in libc's TLS block was
 * found and checked at start-up. Otherwise a destroyed TCB leaks the cache and its chunks
 * (kilobytes), and pooled regions are better kept than unmapped.
 */
bool gr_tcb_releasable(void);

/* On the task's own FS, first thing: what glibc's start_thread sets up per thread. */
void gr_tcb_started(void);

/* On the task's own FS, as it ends: C++ thread_local destructors (glibc runs them first). */
void gr_tcb_run_tls_dtors(void);

/* On the task's own FS, last thing: free libc's per-thread buffers. */
void gr_tcb_exiting(void);

/* Adopt an existing glibc thread's TCB (the process's initial thread) for a task. */
void gr_tcb_adopt(void *tcb, struct gr_task *owner);

/* The TP of the calling context. */
static inline void *gr_tcb_self(void)
{
	void *tp;
	__asm__ volatile("movq %%fs:0, %0" : "=r"(tp));
	return tp;
}

/*
 * glibc's list of the process's threads (which set*id signals, SIGSETXID, each by its tid to
 * change its credentials, and dlopen gives new static TLS): own, the TCB of an OS thread's own
 * context, takes the place of tcb, that OS thread's thread descriptor as glibc knew it (the
 * initial thread's, which the initial task adopted; the forking task's in a fork child), which
 * leaves the list as every task's TCB is out of it. Each OS thread is then on the list once,
 * by its own TCB and its own tid. Not concurrent with another change of the list.
 */
void gr_tcb_stand_in(void *own, void *tcb);

/* The task a TCB belongs to, or NULL. */
struct gr_task *gr_tcb_owner(const void *tcb);

/* glibc's thread id field of a TCB. */
int32_t gr_tcb_tid(const void *tcb);

/* The stack block recorded in a TCB (what pthread_getattr_np reports). */
void gr_tcb_stack(const void *tcb, void **lo, size_t *size, size_t *guard);

/*
 * glibc's cleanup_jmp_buf slot of the running TCB: pthread_exit's forced unwind ends by
 * longjmp-ing to the buffer it points at (glibc's start_thread sets it; so does task entry).
 */
void **gr_tcb_cleanup_slot(void);

/*
 * After a dlopen: initialise the static TLS block of every module that got one (initial-exec
 * TLS) in every TCB the runtime made. glibc does that only for threads it made itself.
 * each_tcb calls fn(tcb, arg) for every live or pooled TCB.
 */
void gr_tls_after_dlopen(void (*each_tcb)(void (*fn)(void *tcb, void *arg), void *arg));

#endif
