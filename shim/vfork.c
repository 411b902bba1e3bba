/*
 * vfork.c — vfork is a fork under the shim, for every caller.
 *
 * A vfork child shares the parent's memory until it execs, and what it runs before the exec
 * is rarely only _exit or exec: Python's subprocess, for one, closes fds and dup2s in the
 * child. Through the shim each of those calls would change the parent's fd table, poll
 * descriptors and run queues, which the parent's other tasks are using at that moment (a
 * task blocked reading its own pipe saw EBADF). So a task's vfork is a fork: the child works
 * on a copy, and gets a runtime of its own (fork.h), as for any fork. POSIX allows it (vfork
 * was specified as a fork whose child may do no more than the parent can rely on), and only
 * the speed of a vfork is lost. The parent's task goes on as soon as the child exists, not
 * when it execs; a program may not rely on the order (the child could be scheduled first or
 * not, as after fork).
 *
 * Callers that are not tasks get a fork too: a wrapper cannot hand on to the real vfork,
 * whose child would return through the wrapper's frame and leave the parent a clobbered one.
 *
 * posix_spawn, system and popen are not affected: glibc's own child runs only glibc's
 * internal functions, which no preload sees (exec.c prepares the fds in the parent).
 */
#include "shim.h"

#include <unistd.h>

GR_EXPORT pid_t vfork(void)
{
	SHIM_CALLED(vfork);
	return fork();
}
