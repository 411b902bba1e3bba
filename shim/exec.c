/*
 * exec.c — the calls that hand the program's fds to a new image: execve, execv, execvp,
 * execvpe, execl, execlp, execle, fexecve, execveat; posix_spawn, posix_spawnp, popen (and
 * system, in blocking.c).
 *
 * The image must see each fd in the mode the program set (invariant 8). The shim leaves every
 * fd's mode alone (listeners included: socket.c) but for a socket whose blocking connect is in
 * progress, which is non-blocking until the connect returns: fd_before_exec gives those their
 * blocking mode back first (a fork child did so already, at the fork: fdtable.h). What can
 * still slip through: a connect another thread begins at the very moment of the exec, and in
 * a fork child, one its parent begins after the fork on a socket they share.
 *
 * glibc's exec functions with an argument list, and those that search PATH, call the system
 * call themselves, out of the preload's sight: each is wrapped here, not only execve. The
 * children posix_spawn, system and popen start run only glibc's own code up to their exec, so
 * the parent gives the modes back before starting them. The parent's carrier waits until that child has
 * exec'd (glibc's clone shares the parent's memory until then), inside SHIM_BLOCKING (shim.h).
 *
 * An exec keeps the calling thread's pending signals and the process's (POSIX): the exec
 * functions hand those greenpoll holds to the kernel first, and take them back if the exec
 * fails (sigdeliver.c).
 */
#include "shim.h"

#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "fdtable.h"

/* what every exec does first: fds get their modes back, and the signals pending on the calling
 * task or the process are handed to the kernel, which keeps them across the exec */
static struct shim_exec_signals before_exec(void)
{
	struct gr_task *self = gr_current_task();

	fd_before_exec();
	return self ? shim_signals_before_exec(self) : (struct shim_exec_signals){0, 0};
}

/* the exec returned r (it failed): the signals handed to the kernel are greenpoll's again */
static int exec_failed(struct shim_exec_signals moved, int r)
{
	struct gr_task *self = gr_current_task();
	int e = errno;

	if (self && (moved.thread | moved.process))
		shim_signals_exec_failed(self, moved);
	errno = e;
	return r;
}

GR_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	SHIM_CALLED(execve);
	struct shim_exec_signals moved = before_exec();

	return exec_failed(moved, REAL(execve)(path, argv, envp));
}

GR_EXPORT int execv(const char *path, char *const argv[])
{
	SHIM_CALLED(execv);
	struct shim_exec_signals moved = before_exec();

	return exec_failed(moved, REAL(execv)(path, argv));
}

GR_EXPORT int execvp(const char *file, char *const argv[])
{
	SHIM_CALLED(execvp);
	struct shim_exec_signals moved = before_exec();

	return exec_failed(moved, REAL(execvp)(file, argv));
}

GR_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	SHIM_CALLED(execvpe);
	struct shim_exec_signals moved = before_exec();

	return exec_failed(moved, REAL(execvpe)(file, argv, envp));
}

GR_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	SHIM_CALLED(fexecve);
	struct shim_exec_signals moved = before_exec();

	return exec_failed(moved, REAL(fexecve)(fd, argv, envp));
}

GR_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		       int flags)
{
	SHIM_CALLED(execveat);
	struct shim_exec_signals moved = before_exec();

	return exec_failed(moved, REAL(execveat)(dirfd, path, argv, envp, flags));
}

/*
 * execl, execlp and execle take the arguments as a list ending with NULL (the first one may
 * be that NULL): args_after counts those after the first, argv_from_list copies the list into
 * argv (args_after + 2 slots) and leaves ap past the list's NULL.
 */
static size_t args_after(const char *first, va_list ap)
{
	size_t n = 0;

	if (first)
		while (va_arg(ap, char *))
			n++;
	return n;
}

static void argv_from_list(char **argv, size_t after, const char *first, va_list ap)
{
	argv[0] = (char *)first;
	for (size_t i = 1; i <= after; i++)
		argv[i] = va_arg(ap, char *);
	argv[after + 1] = NULL;
	if (first)
		(void)va_arg(ap, char *); /* the list's NULL */
}

/*
 * In a function whose last named parameter is `arg`: declares argv, the list's arguments as
 * execv takes them, and leaves ap_ open just past the list's NULL (the caller va_ends it).
 */
#define ARGV_FROM_LIST(argv, arg)                                                               \
	va_list ap_;                                                                            \
	va_start(ap_, arg);                                                                     \
	size_t after_ = args_after(arg, ap_);                                                   \
	va_end(ap_);                                                                            \
	char *argv[after_ + 2];                                                                 \
	va_start(ap_, arg);                                                                     \
	argv_from_list(argv, after_, arg, ap_)

GR_EXPORT int execl(const char *path, const char *arg, ...)
{
	SHIM_CALLED(execl);
	ARGV_FROM_LIST(argv, arg);
	va_end(ap_);
	return execv(path, argv);
}

GR_EXPORT int execlp(const char *file, const char *arg, ...)
{
	SHIM_CALLED(execlp);
	ARGV_FROM_LIST(argv, arg);
	va_end(ap_);
	return execvp(file, argv);
}

GR_EXPORT int execle(const char *path, const char *arg, ...)
{
	SHIM_CALLED(execle);
	char **envp;

	ARGV_FROM_LIST(argv, arg);
	envp = va_arg(ap_, char **);
	va_end(ap_);
	return execve(path, argv, envp);
}

GR_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *acts,
			  const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SHIM_CALLED(posix_spawn);
	fd_before_exec();
	return SHIM_BLOCKING(REAL(posix_spawn)(pid, path, acts, attr, argv, envp));
}

GR_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *acts,
			   const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	SHIM_CALLED(posix_spawnp);
	fd_before_exec();
	return SHIM_BLOCKING(REAL(posix_spawnp)(pid, file, acts, attr, argv, envp));
}

GR_EXPORT FILE *popen(const char *command, const char *type)
{
	SHIM_CALLED(popen);
	fd_before_exec();
	return SHIM_BLOCKING(REAL(popen)(command, type));
}
