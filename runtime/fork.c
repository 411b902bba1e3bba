/*
 * fork.c — the runtime in a fork child (see fork.h).
 */
#include "fork.h"

#include "netpoll.h"
#include "sched.h"
#include "sigstate.h"
#include "stack.h"
#include "task.h"
#include "tls.h"
#include "waitq.h"

void gr_after_fork_child(void)
{
	struct gr_task *self = gr_current_task();

	if (!self)
		return;
	gr_stack_after_fork_child();
	gr_waitq_after_fork_child();
	gr_sched_after_fork_child();
	gr_netpoll_after_fork_child();
	gr_task_after_fork_child(self);
	gr_sig_after_fork_child(self);
}
