/*
 * switch.S — x86_64 context switch between green contexts (tasks and carriers' own contexts).
 *
 *   void gr_ctx_switch_wrfs(struct gr_ctx *from, struct gr_ctx *to, uint64_t *fs_writes);
 *   void gr_ctx_switch_prctl(struct gr_ctx *from, struct gr_ctx *to, uint64_t *fs_writes);
 *   void gr_fs_write_wrfs(void *fs, uint64_t *fs_writes);
 *   void gr_fs_write_prctl(void *fs, uint64_t *fs_writes);
 *
 * A switch saves the callee-saved registers (rbx, rbp, r12-r15), MXCSR and the x87 control word
 * on the current stack, stores the stack pointer in from->sp, installs to->fs as the FS base
 * (the per-task TCB: glibc's THREAD_SELF, errno, every __thread variable) unless to->fs is NULL
 * (a carrier's own context: it runs on whatever FS base it finds) or already the one installed
 * (read as %fs:0, which every TCB points at itself), loads to->sp and returns into the other
 * context. Each FS-base write adds one to *fs_writes (one instruction: a signal handler on the
 * same OS thread that counts too cannot lose an increment). The _wrfs variants write the FS base
 * with the wrfsbase instruction (needs HWCAP2_FSGSBASE, ~3 ns); the _prctl variants use
 * arch_prctl(ARCH_SET_FS) (~80 ns on bare metal, ~4 us in some hypervisor guests) for kernels
 * or CPUs without it. gr_fs_write_* installs fs unconditionally (the caller knows it differs).
 *
 * Saved frame, lowest address first (ctx.h builds the same frame for a new context):
 *   [0] MXCSR (low 4 bytes), x87 CW (next 2)   [1] r15  [2] r14  [3] r13  [4] r12
 *   [5] rbx  [6] rbp  [7] return address
 * The offsets of sp and fs in struct gr_ctx are asserted in ctx.h (GR_CTX_SP, GR_CTX_FS).
 *
 * A signal that arrives between the FS write and the stack load runs its handler on the old
 * stack with the new TCB; both belong to live contexts, so that is harmless.
 */
#define GR_CTX_SP 0
#define GR_CTX_FS 8

.macro SAVE_CONTEXT
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	subq $8, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, GR_CTX_SP(%rdi)
.endm

.macro RESTORE_CONTEXT
	ldmxcsr (%rsp)
	fldcw 4(%rsp)
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
.endm

	.text
	.globl gr_ctx_switch_wrfs
	.hidden gr_ctx_switch_wrfs
	.type gr_ctx_switch_wrfs,@function
gr_ctx_switch_wrfs:
	SAVE_CONTEXT
	movq GR_CTX_FS(%rsi), %rax
	testq %rax, %rax
	jz 1f
	cmpq %fs:0, %rax
	je 1f
	incq (%rdx)
	wrfsbase %rax
1:	movq GR_CTX_SP(%rsi), %rsp
	RESTORE_CONTEXT
	.size gr_ctx_switch_wrfs, .-gr_ctx_switch_wrfs

	.globl gr_ctx_switch_prctl
	.hidden gr_ctx_switch_prctl
	.type gr_ctx_switch_prctl,@function
gr_ctx_switch_prctl:
	SAVE_CONTEXT
	movq %rsi, %r12
	movq GR_CTX_FS(%rsi), %rsi
	testq %rsi, %rsi
	jz 1f
	cmpq %fs:0, %rsi
	je 1f
	incq (%rdx)
	movl $158, %eax			/* SYS_arch_prctl */
	movl $0x1002, %edi		/* ARCH_SET_FS */
	syscall
1:	movq GR_CTX_SP(%r12), %rsp
	RESTORE_CONTEXT
	.size gr_ctx_switch_prctl, .-gr_ctx_switch_prctl

	.globl gr_fs_write_wrfs
	.hidden gr_fs_write_wrfs
	.type gr_fs_write_wrfs,@function
gr_fs_write_wrfs:
	incq (%rsi)
	wrfsbase %rdi
	ret
	.size gr_fs_write_wrfs, .-gr_fs_write_wrfs

	.globl gr_fs_write_prctl
	.hidden gr_fs_write_prctl
	.type gr_fs_write_prctl,@function
gr_fs_write_prctl:
	incq (%rsi)
	movq %rdi, %rsi
	movl $158, %eax			/* SYS_arch_prctl */
	movl $0x1002, %edi		/* ARCH_SET_FS */
	syscall
	ret
	.size gr_fs_write_prctl, .-gr_fs_write_prctl

/*
 * First code of a new context: r13 = entry function, r12 = its argument. The entry function
 * never returns. rip is marked undefined so unwinders (libgcc's forced unwind for
 * pthread_exit, libunwind for task dumps) stop here.
 */
	.globl gr_ctx_trampoline
	.hidden gr_ctx_trampoline
	.type gr_ctx_trampoline,@function
gr_ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq %r12, %rdi
	callq *%r13
	ud2
	.cfi_endproc
	.size gr_ctx_trampoline, .-gr_ctx_trampoline

	.section .note.GNU-stack,"",@progbits
