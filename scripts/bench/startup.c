/*
 * startup.c — start-up cost of a process that never creates a thread.
 *
 * Runs /bin/true COUNT times (default 1,000) natively and COUNT times with LD_PRELOAD=LIB, each
 * by fork + execve + waitpid, timed with CLOCK_MONOTONIC. Native and preloaded batches of
 * BATCH runs alternate, after one warm-up batch of each, so that drift on a shared machine hits
 * both sides alike. Both sides get the caller's environment without LD_PRELOAD and GREENPOLL_*.
 * Without LIB only the native side runs.
 *
 * Usage: startup [LIB [COUNT]]
 * Prints: native_us=... [shim_us=... overhead_us=...] count=...
 */
#define _GNU_SOURCE /* asprintf */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define BATCH 50
#define PROGRAM "/bin/true"

extern char **environ;

/* run PROGRAM N times with environment ENV (SIDE names it); returns the total time in ns */
static int64_t run_batch(const char *side, char **env, long n)
{
	char *argv[] = {PROGRAM, NULL};
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("startup: fork");
			exit(1);
		}
		if (pid == 0) {
			execve(PROGRAM, argv, env);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "startup: %s %s failed (wait status %#x)\n", side, PROGRAM,
				status);
			exit(1);
		}
	}
	return now_ns() - t0;
}

int main(int argc, char **argv)
{
	const char *lib = argc > 1 ? argv[1] : NULL;
	long count = arg_count(argc, argv, 2, 1000), n = 0, envc = 0;
	char **native, **shim;
	int64_t t_native = 0, t_shim = 0;

	while (environ[n])
		n++;
	native = calloc(n + 1, sizeof *native);
	shim = calloc(n + 2, sizeof *shim);
	if (!native || !shim || (lib && asprintf(&shim[0], "LD_PRELOAD=%s", lib) < 0)) {
		perror("startup");
		return 1;
	}
	for (long i = 0; i < n; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "GREENPOLL_", 10)) {
			native[envc] = environ[i];
			shim[++envc] = environ[i];
		}
	}

	run_batch("native", native, BATCH);
	if (lib)
		run_batch("preloaded", shim, BATCH);
	for (long done = 0; done < count; done += BATCH) {
		long b = count - done < BATCH ? count - done : BATCH;

		t_native += run_batch("native", native, b);
		if (lib)
			t_shim += run_batch("preloaded", shim, b);
	}
	printf("native_us=%.1f", t_native / 1e3 / count);
	if (lib)
		printf(" shim_us=%.1f overhead_us=%.1f", t_shim / 1e3 / count,
		       (t_shim - t_native) / 1e3 / count);
	printf(" count=%ld\n", count);
	return 0;
}
