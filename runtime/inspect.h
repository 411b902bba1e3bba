/*
 * inspect.h — looking at live tasks from another thread (the control thread, the monitor):
 * copies of their state, and backtraces of the ones not running.
 *
 * A view (struct gr_task_view) is copied from each task record under the task list lock, with
 * nothing else done under it (no unwinding, no I/O, no allocation: gr_task_views fills an
 * array the caller allocated beforehand), so looking costs the program's tasks one short
 * hold of that lock per dump.
 *
 * Unwinding a task that is not running (gr_view_backtrace): its registers are in the frame
 * its last switch saved on its stack (ctx.h, arch/x86_64/switch.S: MXCSR and x87 control word,
 * r15, r14, r13, r12, rbx, rbp, the return address; the stack pointer after the switch
 * returns is ctx.sp + 64). Another carrier may resume it at any moment, so its stack is never
 * read in place: the top of it (GR_INSPECT_STACK bytes from the saved sp, page by page, as far
 * as it is mapped) is copied with process_vm_readv, which fails instead of faulting on memory
 * unmapped meanwhile (a task that ended and whose region was trimmed), and libunwind unwinds
 * the copy through an address space of its own whose memory reads come from the copy, or,
 * outside it, from process_vm_readv again (code, unwind tables). Then the task record is read
 * again, the same way: if the task's id, wait token, run sequence (which moves at every
 * switch) or saved sp changed, the copy may be torn, and the whole is tried again, up to
 * GR_INSPECT_TRIES times; after that the view says so instead of showing a backtrace.
 * Rejected: a per-task "being inspected" flag the scheduler would test before switching into
 * a task: a branch and a shared cache line on every switch, and a task held back from running
 * while a slow dump looks at it. The copy costs the scheduler nothing.
 *
 * A running task has no saved registers: it is sampled on its carrier (gr_inspect_sampler: a
 * signal the shim's handler passes to gr_sample_take, which copies the interrupted registers
 * and the top of the stack the same way, on the task's own OS thread, so the copy is
 * consistent by construction), then unwound like the others. Only a carrier the kernel reports
 * running ('R') is signalled: one asleep in a system call could see it return EINTR (a sleep,
 * a wait with a timeout are never restarted). A task in a call greenpoll passes to the kernel,
 * or in one it does not see, therefore shows no backtrace; nor does one that left its carrier
 * before the signal came (the handler checks it is still the one running), or one whose
 * carrier did not answer within GR_SAMPLE_WAIT_NS.
 */
#ifndef GR_INSPECT_H
#define GR_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

#define GR_INSPECT_STACK (16 << 10)
#define GR_INSPECT_TRIES 3
#define GR_INSPECT_FRAMES 32
#define GR_SAMPLE_WAIT_NS 50000000

struct gr_task_view {
	struct gr_task *t; /* the record (only read through process_vm_readv after the copy) */
	uint64_t id;
	int32_t tid;
	uint8_t state;	 /* enum gr_task_state */
	int carrier;	 /* the carrier running it, -1 if none */
	const char *what; /* what it waits for, or NULL */
	const void *on;
	uint64_t token;
	uint32_t run_seq;
	void *sp;
	int64_t run_ns;	    /* the time it ran (cputime.h), to the view's moment */
	int64_t stopped_at; /* CLOCK_MONOTONIC ns its last stretch ended (0: running) */
	int64_t deadline;   /* of its wait, GR_NEVER if none */
	bool adopted;
	int32_t os_tid;	    /* its carrier's OS thread, while running */
	unsigned char local[GR_TASK_LOCAL_BYTES]; /* the shim's state of it */
};

/* Views of up to max live tasks into out; the number of live tasks (more than max: missed). */
int gr_task_views(struct gr_task_view *out, int max);

/*
 * The backtrace of the task of view v, innermost first, into pcs (at most max): how many; 0 if
 * none could be had (see above). *exact says whether pcs[0] is the address of an instruction
 * being run (a sampled task) rather than one a call returns to (every other entry).
 */
int gr_view_backtrace(const struct gr_task_view *v, uintptr_t *pcs, int max, bool *exact);

/* Running tasks are sampled with signal sig queued with value cookie (0: never sampled). */
void gr_inspect_sampler(int sig, void *cookie);

/* From that signal's handler, with its ucontext: take the sample asked for, if any.
 * Async-signal-safe. */
void gr_sample_take(const void *uctx);

/* The return addresses of the caller's own frames, innermost first, into pcs (at most max):
 * how many (libunwind, local: the calling task's stack as it is). */
int gr_backtrace_here(uintptr_t *pcs, int max);

/* libunwind made ready (at start-up): the first use makes the pipe it tests addresses with. */
void gr_unwind_init(void);

/* A frame's names: what a reader needs in-process (the function) and out of it (the object
 * and the address in it, which a line-table reader such as `greenpoll dump` or addr2line maps
 * to a file and line). */
#define GR_FRAME_FUNC 128
#define GR_FRAME_MODULE 256
struct gr_frame_name {
	char func[GR_FRAME_FUNC];     /* "name+0x1f", or the address ("0x7f...") with no symbol */
	char module[GR_FRAME_MODULE]; /* the object file's path, "" if pc is in none */
	uintptr_t addr;		      /* the address in that file (its link-time address) */
};

/*
 * The names of the frame at pc into *f. pc is taken as a return address unless exact: then
 * func's offset is the return address's and addr is the call's (pc - 1), the instruction
 * whose line is wanted.
 */
void gr_symbolise(uintptr_t pc, bool exact, struct gr_frame_name *f);

#endif
