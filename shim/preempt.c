/*
 * preempt.c — the preemption signal: the monitor sends SIGURG to a carrier whose task has
 * computed for a time slice (GREENPOLL_PREEMPT) while other tasks wait for its processor; the
 * handler makes the task yield, right there, if the interrupted code may switch:
 *
 *   - its instruction pointer is in the program's own code (the executable, its libraries),
 *     not in libc, the dynamic loader, libgcc_s, libstdc++ or greenpoll itself (their internal
 *     locks and per-thread state are not made for a switch in the middle; address ranges from
 *     dl_iterate_phdr at start-up, so libraries of that kind loaded later count as the
 *     program's: a lock one holds then is waited for on a carrier, which the monitor hands off);
 *   - the task holds none of the runtime's locks (runtime/lock.h): greenpoll's code calls the
 *     vDSO (a clock) under one, and a task switched out there left the next task on its
 *     carrier spinning on that lock for ever;
 *   - it runs on the task's own stack, not on an alternate signal stack (which belongs to the
 *     carrier's OS thread, not to the task).
 *
 * Otherwise the handler does nothing, and the monitor hands the processor off a time slice
 * later. A task resumed after a preemption may be on another carrier: the handler returns with
 * that carrier's signal mask, not the one saved when the signal came.
 *
 * Why SIGURG (as Go): its default action is to ignore it, libc never uses it, and programs
 * rarely do (out-of-band TCP data with F_SETOWN). The program still owns it: sigaction and
 * signal record its disposition and report it back, the real one stays greenpoll's, and a
 * SIGURG the monitor did not send goes to the program's handler (or is ignored, as by default).
 * The monitor's are queued (rt_tgsigqueueinfo, SI_QUEUE from this process) with the address of
 * preempt_cookie as their value: nothing else sends that. A SIGURG of the program's pending on
 * the same thread at the same moment as one of the monitor's merges with it (standard signals
 * do not queue): the first delivered decides which handler runs. A system call that the signal interrupts
 * restarts (SA_RESTART), except the ones the kernel never restarts (a sleep, a wait with a
 * timeout): those return EINTR, as they would for any signal; the monitor sends the signal only
 * to a carrier the kernel reports running, not waiting in a call.
 *
 * The same signal, queued with sample_cookie's address, asks the carrier for a sample of the
 * task it runs (a dump of a running task: runtime/inspect.h), which the handler takes wherever
 * the task is (it only copies registers and stack) and which never makes it yield. And a fork
 * child's timer sends it (SI_TIMER, with ctl.c's cookie) when it is time for the child's
 * control channel: made right there if the interrupted code may switch (ctl.c).
 */
#include "shim.h"

#include "ctl.h"

#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "config.h"
#include "inspect.h"
#include "sched.h"
#include "sys.h"

#define PREEMPT_SIGNAL GR_PREEMPT_SIGNAL
#define MAX_RANGES 64

static struct {
	uintptr_t lo, hi;
} unsafe[MAX_RANGES];
static int nunsafe;
static struct {
	uintptr_t lo, hi;
} own[8]; /* greenpoll's own code, among the unsafe ranges */
static int nown;
static const char preempt_cookie; /* its address is the monitor's signals' value */
static const char sample_cookie;  /* its address is a dump's signals' value */

static bool unsafe_object(const char *name, uintptr_t base, uintptr_t own_base)
{
	static const char *const prefixes[] = {"libc.so", "ld-linux", "libgcc_s", "libstdc++",
					       "libpthread", "libdl.so", "librt.so"};
	const char *slash = strrchr(name, '/'), *file = slash ? slash + 1 : name;

	if (base == own_base)
		return true;
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(file, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static int note_object(struct dl_phdr_info *info, size_t size, void *own_base)
{
	(void)size;
	if (!info->dlpi_name || !*info->dlpi_name ||
	    !unsafe_object(info->dlpi_name, info->dlpi_addr, (uintptr_t)own_base))
		return 0;
	for (int i = 0; i < info->dlpi_phnum && nunsafe < MAX_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		unsafe[nunsafe].lo = info->dlpi_addr + ph->p_vaddr;
		unsafe[nunsafe].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		if (info->dlpi_addr == (uintptr_t)own_base && nown < 8) {
			own[nown].lo = unsafe[nunsafe].lo;
			own[nown].hi = unsafe[nunsafe].hi;
			nown++;
		}
		nunsafe++;
	}
	return 0;
}

static bool may_switch(const ucontext_t *uc)
{
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	stack_t alt;

	if (gr_task_holds_locks(gr_current_task()))
		return false;
	for (int i = 0; i < nunsafe; i++)
		if (pc >= unsafe[i].lo && pc < unsafe[i].hi)
			return false;
	if (gr_sys2(SYS_sigaltstack, NULL, &alt) == 0 && (alt.ss_flags & SS_ONSTACK))
		return false;
	return true;
}

static void on_preempt_signal(int sig, siginfo_t *info, void *uctx)
{
	ucontext_t *uc = uctx;
	void *borrowed = gr_sched_signal_enter((uintptr_t)uc->uc_mcontext.gregs[REG_RSP]);
	int saved = errno;

	bool ours = info->si_code == SI_QUEUE && info->si_pid == getpid();

	if (ours && info->si_value.sival_ptr == &sample_cookie) {
		gr_sample_take(uctx);
	} else if (info->si_code == SI_TIMER && info->si_value.sival_ptr == ctl_child_timer_cookie()) {
		ctl_child_timer_fired(gr_current_task() && may_switch(uc));
	} else if (!ours || info->si_value.sival_ptr != &preempt_cookie) {
		shim_signal_forward(sig, info, uctx);
	} else if (gr_current_task() && may_switch(uc)) {
		gr_yield_preempted();
		gr_sys4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &uc->uc_sigmask, _NSIG / 8);
	}
	errno = saved;
	gr_sched_signal_leave(borrowed);
}

bool shim_pc_in_greenpoll(uintptr_t pc)
{
	for (int i = 0; i < nown; i++)
		if (pc >= own[i].lo && pc < own[i].hi)
			return true;
	return false;
}

void *shim_preempt_cookie(void) { return (void *)&preempt_cookie; }

void shim_code_ranges_init(void)
{
	Dl_info self;

	if (dladdr((void *)on_preempt_signal, &self))
		dl_iterate_phdr(note_object, self.dli_fbase);
}

int shim_preempt_init(void)
{
	struct sigaction act = {.sa_sigaction = on_preempt_signal,
				.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER};

	if (!nunsafe)
		return 0;
	sigemptyset(&act.sa_mask);
	if (!shim_signal_reserve(PREEMPT_SIGNAL) || REAL(sigaction)(PREEMPT_SIGNAL, &act, NULL))
		return 0;
	gr_inspect_sampler(PREEMPT_SIGNAL, (void *)&sample_cookie);
	return PREEMPT_SIGNAL;
}
