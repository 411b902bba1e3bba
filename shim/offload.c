/*
 * offload.c — a call that may block for long and has no non-blocking form runs on an OS thread
 * of its own while the calling task parks; its result and errno come back to the task.
 *
 * Used where waiting is the point and greenpoll cannot wait on the task's behalf: opening a
 * FIFO (the open waits for the other end), a process-shared futex or semaphore (the waker may
 * be another process). The thread is a plain OS thread, not a task (every interposed call it
 * makes goes straight to libc), made per call and gone after it: these calls are rare, and a
 * thread costs a few tens of microseconds. If no thread can be made, the call blocks the
 * carrier instead, inside SHIM_BLOCKING (shim.h) so the carrier's other tasks run elsewhere
 * meanwhile: fn must therefore make only calls that cannot park (libc's, through REAL).
 *
 * Signals: the thread starts with the task's mask (its carrier's, inherited), and while it runs
 * the task's shim_task.offload_os_tid names it, so that a signal sent to the task goes to that
 * thread (sigdeliver.c): the call is interrupted as the kernel interrupts it (EINTR, or a restart
 * under SA_RESTART), and the handler runs there, the task's stand-in for the call. The task's
 * wait is interruptible for that: a signal kept for the task while it was still in greenpoll's
 * code on its way into the wait (which no kick sends anywhere) ends the wait, is sent to the
 * thread, and the wait goes on; one that stays pending, the call being over, runs as the
 * call returns.
 */
#include "shim.h"

#include <errno.h>

#include "sys.h"

#include "monitor.h"
#include "tls.h"
#include "waitq.h"

#define OFFLOAD_STACK (64 * 1024)

struct offload {
	struct gr_task *task; /* the task it runs for */
	long (*fn)(void *arg);
	void *arg;
	long result;
	int err;
	_Atomic unsigned int done;
};

static bool not_done(const void *addr, void *arg)
{
	(void)arg;
	return !atomic_load((_Atomic unsigned int *)addr);
}

static void *offload_thread(void *p)
{
	struct offload *o = p;
	_Atomic unsigned int *done = &o->done;

	gr_tcb_forget_runtime(); /* not a task, not a carrier, whatever TCB glibc reused */
	atomic_store(&shim_of(o->task)->offload_os_tid, (int32_t)gr_os_tid());
	shim_signals_to_offload(o->task);
	o->result = o->fn(o->arg);
	o->err = errno;
	atomic_store(&shim_of(o->task)->offload_os_tid, 0);
	atomic_store(done, 1);
	/* o may be gone now (the task saw done); its address is only a key here */
	gr_waitq_wake(done, 1);
	return NULL;
}

long shim_offload(long (*fn)(void *arg), void *arg, const char *what)
{
	struct offload o = {.task = gr_current_task(), .fn = fn, .arg = arg};
	pthread_attr_t attr;
	pthread_t th;
	int err;

	if (!gr_current_task())
		return fn(arg);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, OFFLOAD_STACK + gr_tls_reserve()); /* TLS comes out of it */
	err = REAL(pthread_create)(&th, &attr, offload_thread, &o);
	pthread_attr_destroy(&attr);
	if (err)
		return SHIM_BLOCKING_AS(what, fn(arg));
	gr_monitor_external_begin(); /* no deadlock while it runs: it may wake this task */
	while (!atomic_load(&o.done)) {
		if (gr_waitq_park(&o.done, not_done, NULL, GR_NEVER, true, what) != GR_WAKE_INTERRUPT)
			continue;
		atomic_store(&o.task->interrupted, false);
		shim_signals_to_offload(o.task);
	}
	gr_monitor_external_end();
	/* what stayed (the call ended first) runs as the call returns (calls.h) */
	if (shim_signals_deliverable(o.task))
		atomic_store(&o.task->interrupted, true);
	errno = o.err;
	return o.result;
}
