/*
 * sigmask.c — a thread's signal mask, pending set and alternate signal stack, per task:
 * pthread_sigmask, sigprocmask, sigpending, sigaltstack, raise, and the longjmps that restore a
 * saved mask.
 *
 * A task's mask lives in its record (runtime/sigstate.h); its carrier's kernel mask is the
 * same while it runs, so the kernel acts on it as on a thread's: a process-directed signal goes
 * to a carrier whose task accepts it, and one pending on the process is delivered as soon as a
 * task unblocks it. Signals kept pending by greenpoll (on the task or the process, see
 * sigdeliver.c) that a task unblocks are delivered before pthread_sigmask returns, as POSIX
 * asks for at least one of them.
 *
 * glibc's own internal mask changes (inside raise, abort, posix_spawn, siglongjmp) are system
 * calls greenpoll does not see: siglongjmp and longjmp are interposed to note the mask they
 * restore, abort to note the SIGABRT it unblocks; raise is answered here (the signal is the
 * calling task's); the others return the mask to what it was before they return.
 *
 * Outside a task every call here is libc's.
 */
#include "shim.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>

#include "sigstate.h"

/* glibc never lets a program block its own cancellation and set*id signals (32, 33) */
#define LIBC_RESERVED (GR_SIGBIT(32) | GR_SIGBIT(33))

static int task_sigmask(struct gr_task *self, int how, const sigset_t *set, sigset_t *old)
{
	uint64_t cur = self->sigmask, next, want;

	if (set) {
		want = shim_sigset_mask(set) & ~LIBC_RESERVED;
		switch (how) {
		case SIG_BLOCK:
			next = cur | want;
			break;
		case SIG_UNBLOCK:
			next = cur & ~want;
			break;
		case SIG_SETMASK:
			next = want;
			break;
		default:
			return EINVAL;
		}
	}
	if (old)
		shim_mask_sigset(old, cur);
	if (!set)
		return 0;
	gr_sig_set_mask(next);
	if (cur & ~next)
		shim_deliver_signals(self);
	return 0;
}

GR_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	SHIM_CALLED(pthread_sigmask);
	struct gr_task *self = gr_current_task();

	if (!self)
		return REAL(pthread_sigmask)(how, set, old);
	return task_sigmask(self, how, set, old);
}

GR_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	SHIM_CALLED(sigprocmask);
	struct gr_task *self = gr_current_task();
	int err;

	if (!self)
		return REAL(sigprocmask)(how, set, old);
	if ((err = task_sigmask(self, how, set, old))) {
		errno = err;
		return -1;
	}
	return 0;
}

GR_EXPORT int sigpending(sigset_t *set)
{
	SHIM_CALLED(sigpending);
	struct gr_task *self = gr_current_task();
	int r;

	if (!self)
		return REAL(sigpending)(set);
	/* the kernel's: what is pending on the process (and this OS thread) that the task blocks */
	if ((r = REAL(sigpending)(set)) != 0)
		return r;
	shim_mask_sigset(set, (shim_sigset_mask(set) & self->sigmask) | shim_signals_pending(self));
	return 0;
}

GR_EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
	SHIM_CALLED(sigaltstack);
	struct gr_task *self = gr_current_task();
	struct gr_altstack alt;
	int r;

	if (!self || !ss)
		return REAL(sigaltstack)(ss, old); /* the carrier's is the task's while it runs */
	if (old && REAL(sigaltstack)(NULL, old) != 0)
		return -1;
	alt = (struct gr_altstack){ss->ss_sp, ss->ss_size, ss->ss_flags};
	if ((r = gr_sig_set_altstack(&alt)) < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

GR_EXPORT int raise(int sig)
{
	SHIM_CALLED(raise);
	struct gr_task *self = gr_current_task();
	int err;

	if (!self)
		return REAL(raise)(sig);
	if ((err = shim_signal_task(self, sig, NULL))) {
		errno = err;
		return -1;
	}
	return 0;
}

GR_EXPORT _Noreturn void abort(void)
{
	SHIM_CALLED(abort);
	/* glibc's abort unblocks SIGABRT with its own system call, then raises it: the task's
	 * mask is told first, so the handler runs in this task as it would natively */
	if (gr_current_task())
		gr_sig_note_mask(gr_current_task()->sigmask & ~GR_SIGBIT(SIGABRT));
	REAL(abort)();
	__builtin_unreachable();
}

/* ---- longjmps that restore a mask ---- */

static void note_jump_mask(struct __jmp_buf_tag *env)
{
	if (gr_current_task() && env->__mask_was_saved)
		gr_sig_note_mask(shim_sigset_mask(&env->__saved_mask) & ~LIBC_RESERVED);
}

GR_EXPORT _Noreturn void siglongjmp(sigjmp_buf env, int val)
{
	SHIM_CALLED(siglongjmp);
	note_jump_mask(env);
	REAL(siglongjmp)(env, val);
	__builtin_unreachable();
}

GR_EXPORT _Noreturn void longjmp(jmp_buf env, int val)
{
	SHIM_CALLED(longjmp);
	note_jump_mask(env);
	REAL(longjmp)(env, val);
	__builtin_unreachable();
}

void __longjmp_chk(struct __jmp_buf_tag *env, int val);

GR_EXPORT _Noreturn void __longjmp_chk(struct __jmp_buf_tag *env, int val)
{
	SHIM_CALLED(__longjmp_chk);
	note_jump_mask(env);
	REAL(__longjmp_chk)(env, val);
	__builtin_unreachable();
}
