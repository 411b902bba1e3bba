/*
 * create.c — cost of pthread_create + pthread_join of a trivial thread, one after the other.
 *
 * After a warm-up, main creates a thread that returns at once and joins it, COUNT times, and
 * prints the time per create+join. It also reports how many OS threads the process has while
 * a created thread runs (2 natively; carriers plus runtime threads under the shim).
 *
 * Usage: create [COUNT]   (default 100,000)
 * Prints: create_join_us=... count=... os_threads=... greenpoll=yes|no
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define WARMUP 1000

static void *trivial(void *arg)
{
	return arg;
}

static void *count_os_threads(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)proc_field("/proc/self/status", "Threads");
}

/* create a thread running FN and join it; returns what FN returned */
static void *create_join(void *(*fn)(void *))
{
	pthread_t t;
	void *ret;
	int err = pthread_create(&t, NULL, fn, NULL);

	if (!err)
		err = pthread_join(t, &ret);
	if (err) {
		fprintf(stderr, "create: %s\n", strerror(err));
		exit(1);
	}
	return ret;
}

int main(int argc, char **argv)
{
	long count = arg_count(argc, argv, 1, 100000), os_threads;
	int64_t t0, elapsed;

	for (int i = 0; i < WARMUP; i++)
		create_join(trivial);
	os_threads = (intptr_t)create_join(count_os_threads);
	t0 = now_ns();
	for (long i = 0; i < count; i++)
		create_join(trivial);
	elapsed = now_ns() - t0;
	printf("create_join_us=%.3f count=%ld os_threads=%ld greenpoll=%s\n", elapsed / 1e3 / count,
	       count, os_threads, greenpoll_loaded() ? "yes" : "no");
	return 0;
}
