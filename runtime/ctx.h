/*
 * ctx.h — a saved green context: stack pointer and FS base (the TCB it runs with).
 *
 * Invariant: a context that is not running has its callee-saved registers, MXCSR and x87
 * control word saved on its own stack at ctx->sp, in the frame layout described in
 * arch/x86_64/switch.S. ctx->fs never changes after the context is made; NULL means the
 * context runs on whatever FS base the context that switches to it leaves (a carrier's own
 * context: sched.c says what that code may and may not touch).
 */
#ifndef GR_CTX_H
#define GR_CTX_H

#include <stddef.h>
#include <stdint.h>

struct gr_ctx {
	void *sp;
	void *fs;
};

/* offsets switch.S relies on */
#define GR_CTX_SP 0
#define GR_CTX_FS 8
_Static_assert(offsetof(struct gr_ctx, sp) == GR_CTX_SP, "switch.S: gr_ctx.sp");
_Static_assert(offsetof(struct gr_ctx, fs) == GR_CTX_FS, "switch.S: gr_ctx.fs");

/* switch from `from` to `to`; each FS-base write (only where to->fs is set and not the one
 * installed) adds one to *fs_writes */
typedef void gr_ctx_switch_fn(struct gr_ctx *from, struct gr_ctx *to, uint64_t *fs_writes);
gr_ctx_switch_fn gr_ctx_switch_wrfs, gr_ctx_switch_prctl;
void gr_ctx_trampoline(void);

/* install fs as the FS base of the calling OS thread, adding one to *fs_writes */
typedef void gr_fs_write_fn(void *fs, uint64_t *fs_writes);
gr_fs_write_fn gr_fs_write_wrfs, gr_fs_write_prctl;

/* the switch in use and its FS write: wrfsbase when the CPU and kernel allow it (set once at
 * start-up) */
extern gr_ctx_switch_fn *gr_ctx_switch;
extern gr_fs_write_fn *gr_fs_write;

/*
 * Make a context that, when first switched to, calls entry(arg) on the stack whose highest
 * usable address is stack_top, with FS base fs. The new context starts with the floating-point
 * control state of the caller, as POSIX requires of a new thread.
 */
static inline void gr_ctx_make(struct gr_ctx *c, void *stack_top, void *fs, void (*entry)(void *),
			       void *arg)
{
	uint64_t *sp = (uint64_t *)(((uintptr_t)stack_top & ~(uintptr_t)15) - 8 * sizeof(uint64_t));
	uint32_t mxcsr;
	uint16_t fpucw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fpucw));
	sp[0] = mxcsr | ((uint64_t)fpucw << 32);
	sp[1] = 0;			/* r15 */
	sp[2] = 0;			/* r14 */
	sp[3] = (uint64_t)entry;	/* r13 */
	sp[4] = (uint64_t)arg;		/* r12 */
	sp[5] = 0;			/* rbx */
	sp[6] = 0;			/* rbp: end of the frame-pointer chain */
	sp[7] = (uint64_t)gr_ctx_trampoline;
	c->sp = sp;
	c->fs = fs;
}

#endif
