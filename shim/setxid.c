/*
 * setxid.c — setuid, setgid, setgroups and the rest of the set*id family in a process with
 * threads: every OS thread's credentials change, as glibc makes them.
 *
 * Credentials are per OS thread in the kernel. glibc's set*id signals each thread on its list
 * of threads (SIGSETXID, by tid); each thread's handler makes the same system call and clears a
 * flag in its own thread descriptor (THREAD_SELF), and the caller waits until every flag is
 * clear. Under greenpoll each OS thread is on that list once, by the TCB of its own context
 * (runtime/tls.h: gr_tcb_stand_in); a carrier, though, may be running a task's TCB, or its own
 * context a borrowed one, when the signal comes: the handler would clear the flag of the wrong
 * descriptor and the caller would send the signal again forever. So greenpoll's handler
 * puts the OS thread's own TCB in place around glibc's (gr_sched_own_tcb_enter).
 *
 * glibc installs its handler when the process makes its first OS thread; greenpoll takes it
 * over then (shim_setxid_take_over, after each OS thread greenpoll starts; once). The kernel's
 * sigaction is used directly: glibc's refuses its internal signals. Its flags, mask and
 * restorer are kept.
 */
#include "shim.h"

#include <signal.h>
#include <ucontext.h>

#include "sched.h"
#include "sys.h"

#define SIGSETXID (__SIGRTMIN + 1)

/* the kernel's struct sigaction */
struct kernel_sigaction {
	void *handler;
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

static void (*glibc_handler)(int, siginfo_t *, void *);
static atomic_bool taken_over;

static void setxid_handler(int sig, siginfo_t *info, void *uctx)
{
	ucontext_t *uc = uctx;
	void *restore = gr_sched_own_tcb_enter((uintptr_t)uc->uc_mcontext.gregs[REG_RSP]);

	glibc_handler(sig, info, uctx);
	gr_sched_signal_leave(restore);
}

void shim_setxid_take_over(void)
{
	struct kernel_sigaction ka;

	if (atomic_load_explicit(&taken_over, memory_order_acquire) ||
	    gr_sys4(SYS_rt_sigaction, SIGSETXID, NULL, &ka, sizeof ka.mask) != 0 ||
	    !(ka.flags & SA_SIGINFO) || ka.handler == (void *)setxid_handler)
		return;
	glibc_handler = (void (*)(int, siginfo_t *, void *))ka.handler;
	ka.handler = (void *)setxid_handler;
	if (gr_sys4(SYS_rt_sigaction, SIGSETXID, &ka, NULL, sizeof ka.mask) == 0)
		atomic_store_explicit(&taken_over, true, memory_order_release);
}
