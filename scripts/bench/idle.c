/*
 * idle.c — memory held by idle threads at the default stack size.
 *
 * Main creates COUNT threads (default 10,000) with default attributes; each blocks in a 60 s
 * nanosleep. Once all are asleep, main measures the increase of its VmRSS (/proc/self/status)
 * and the drop of MemAvailable (/proc/meminfo: includes kernel memory for the threads, such as
 * kernel stacks and page tables, but also whatever else the machine does meanwhile), both per
 * thread, then exit(0)s without waiting for them.
 *
 * Usage: idle [COUNT]
 * Prints: rss_kib=... avail_kib=... count=... os_threads=... greenpoll=yes|no
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

/* the kernel folds per-CPU memory counters into MemAvailable once a second (vm.stat_interval) */
#define SETTLE_NS 1100000000L

static atomic_long asleep;

static void *sleeper(void *arg)
{
	struct timespec ts = {.tv_sec = 60};

	atomic_fetch_add(&asleep, 1);
	nanosleep(&ts, NULL);
	return arg;
}

static void pause_ns(long ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	long count = arg_count(argc, argv, 1, 10000);
	long rss0, avail0, rss1, avail1;

	pause_ns(SETTLE_NS);
	rss0 = proc_field("/proc/self/status", "VmRSS");
	avail0 = proc_field("/proc/meminfo", "MemAvailable");
	for (long i = 0; i < count; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, sleeper, NULL);

		if (err) {
			fprintf(stderr, "idle: pthread_create #%ld: %s\n", i + 1, strerror(err));
			exit(1);
		}
	}
	while (atomic_load(&asleep) < count)
		pause_ns(1000000);
	pause_ns(SETTLE_NS);
	rss1 = proc_field("/proc/self/status", "VmRSS");
	avail1 = proc_field("/proc/meminfo", "MemAvailable");
	printf("rss_kib=%.2f avail_kib=%.2f count=%ld os_threads=%ld greenpoll=%s\n",
	       (double)(rss1 - rss0) / count, (double)(avail0 - avail1) / count, count,
	       proc_field("/proc/self/status", "Threads"), greenpoll_loaded() ? "yes" : "no");
	fflush(stdout);
	exit(0);
}
