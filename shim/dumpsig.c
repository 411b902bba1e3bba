/*
 * dumpsig.c — GREENPOLL_DUMP_SIGNAL: the task dump written to stderr when the process gets
 * that signal (as the JVM's thread dump on SIGQUIT), and the program goes on.
 *
 * The dump is not made in the handler: it allocates, reads files, takes the task list's lock
 * and unwinds, none of which is async-signal-safe, and the handler may have interrupted a
 * carrier holding that very lock. The handler only notes the request (an atomic flag) and
 * wakes the control thread (ctl.c), which writes the dump (ctl_dump_to) on its own OS thread,
 * as it answers `greenpoll dump`: the program's tasks run meanwhile.
 *
 * The wake-up is the signal itself, no fd: the control thread keeps the signal blocked except
 * while it waits (ppoll with a mask that lets it in, ctl_dump_signal_wait_mask), so a signal
 * that comes to that thread ends its wait with EINTR, and one that comes to another thread
 * (the kernel picks any thread that does not block it: mostly a carrier running a task) is
 * sent on to it with tgkill. A request noted before the thread waits is seen by its check of
 * the flag before waiting (the flag is set before the tgkill; the check is made with the
 * signal blocked, so the tgkill that follows it is taken in the ppoll). Rejected: an eventfd
 * or pipe the handler writes to, a hidden fd more that a raw close could take from greenpoll
 * and the program's next fd reuse (the handler would then write into the program's file).
 *
 * The signal is greenpoll's (shim_signal_reserve): what the program sets for it with
 * sigaction or signal is recorded and reported back, never run. A program that blocks it in
 * every thread does not hold it back: the control thread takes it. With GREENPOLL_CONTROL=off
 * the control thread still runs, without a socket, to serve this (ctl.c). A fork child's
 * control thread starts when one of its tasks first waits (ctl.c): a signal before that is
 * noted and dumped then.
 */
#define _GNU_SOURCE
#include "shim.h"

#include "ctl.h"
#include "fork.h"
#include "sys.h"

static struct {
	int sig;		/* 0: off */
	atomic_bool asked;	/* a dump is wanted */
	_Atomic int32_t thread; /* the control thread's OS thread id, 0 until it waits */
} dumpsig;

static void on_dump_signal(int sig)
{
	int32_t to = atomic_load(&dumpsig.thread);

	/* raw system calls only: no errno, no TLS (a carrier's FS base may be any task's) */
	atomic_store(&dumpsig.asked, true);
	if (to && to != (int32_t)gr_sys0(SYS_gettid))
		gr_sys3(SYS_tgkill, gr_sys0(SYS_getpid), to, sig);
}

bool ctl_dump_signal_init(int sig)
{
	struct sigaction act = {.sa_handler = on_dump_signal, .sa_flags = SA_RESTART};

	sigemptyset(&act.sa_mask);
	if (!sig || !shim_signal_reserve(sig) || REAL(sigaction)(sig, &act, NULL))
		return false;
	dumpsig.sig = sig;
	return true;
}

bool ctl_dump_signal_wait_mask(sigset_t *mask)
{
	if (!dumpsig.sig)
		return false;
	atomic_store(&dumpsig.thread, (int32_t)gr_sys0(SYS_gettid));
	sigfillset(mask);
	sigdelset(mask, dumpsig.sig);
	return true;
}

bool ctl_dump_signal_asked(void)
{
	return dumpsig.sig && atomic_exchange(&dumpsig.asked, false);
}

/* fork.h: the parent's control thread is not the child's */
static void dumpsig_after_fork_child(struct gr_task *self)
{
	(void)self;
	atomic_store(&dumpsig.thread, 0);
}
GR_AFTER_FORK(GR_FORK_SHIM, dumpsig_after_fork_child);
