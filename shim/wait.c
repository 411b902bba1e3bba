/*
 * wait.c — waiting for child processes: waitpid, wait, wait4, waitid.
 *
 * There is nothing to poll: a wait that may block runs on an OS thread of its own
 * (shim_offload) while the task parks, so a thread reaping its children does not stop the
 * other tasks of its carrier (a multiprocessing pool joining a worker whose exit needed a
 * task queued behind the wait hung). A wait with WNOHANG returns at once and goes straight to
 * libc, as does every call made outside a task. Results, status and errno are libc's.
 */
#include "shim.h"

#include <sys/resource.h>
#include <sys/wait.h>

struct child_wait {
	idtype_t idtype;
	id_t id;
	pid_t pid;
	int *status;
	int options;
	struct rusage *usage;
	siginfo_t *info;
};

static long do_wait4(void *arg)
{
	struct child_wait *w = arg;

	return REAL(wait4)(w->pid, w->status, w->options, w->usage);
}

static long do_waitid(void *arg)
{
	struct child_wait *w = arg;

	return REAL(waitid)(w->idtype, w->id, w->info, w->options);
}

GR_EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
{
	SHIM_CALLED(wait4);
	struct child_wait w = {.pid = pid, .status = status, .options = options, .usage = usage};

	if (!gr_current_task() || (options & WNOHANG))
		return (pid_t)do_wait4(&w);
	return (pid_t)shim_offload(do_wait4, &w, "wait for a child process");
}

GR_EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	SHIM_CALLED(waitpid);
	return wait4(pid, status, options, NULL);
}

GR_EXPORT pid_t wait(int *status)
{
	SHIM_CALLED(wait);
	return wait4(-1, status, 0, NULL);
}

GR_EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
	SHIM_CALLED(waitid);
	struct child_wait w = {.idtype = idtype, .id = id, .info = info, .options = options};

	if (!gr_current_task() || (options & WNOHANG))
		return (int)do_waitid(&w);
	return (int)shim_offload(do_waitid, &w, "wait for a child process");
}
