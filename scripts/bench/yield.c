/*
 * yield.c — round trip of sched_yield() between two threads.
 *
 * Threads 0 and 1 share a counter. Each loops: if the counter's parity says it is its turn, it
 * advances the counter; then it calls sched_yield(). One round trip is two advances: thread 0
 * yielded to thread 1 and thread 1 yielded back. Only advances are counted, so a yield that
 * returns without the other thread having run (threads on separate CPUs, a scheduler that does
 * not switch) makes nothing look faster; the fraction of yields that found the turn alternated
 * is printed alongside. Run natively with both threads pinned to one CPU (taskset -c 0), under
 * the shim with GREENPOLL_PROCS=1.
 *
 * Usage: yield [ROUNDS]   (default 1,000,000; gives up after 10 s)
 * Prints: yield_rt_ns=... alternation=... rounds=... complete=yes|no os_threads=... greenpoll=yes|no
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define DEADLINE_NS (10 * 1000000000LL)
#define CLOCK_EVERY 1024 /* loop iterations between deadline checks */

static long rounds;
static atomic_long counter;
static atomic_int ready;
static atomic_bool stop;
static int64_t t_start;
static long yields[2];
static long os_threads;

static void *player(void *arg)
{
	int me = (int)(intptr_t)arg;
	long end = 2 * rounds, n = 0;
	int64_t deadline = now_ns() + DEADLINE_NS;

	atomic_fetch_add(&ready, 1);
	while (atomic_load(&ready) < 2 && !atomic_load(&stop)) {
		sched_yield();
		if (now_ns() > deadline)
			atomic_store(&stop, 1);
	}
	if (me == 0) {
		os_threads = proc_field("/proc/self/status", "Threads");
		t_start = now_ns();
	}
	for (;;) {
		long c = atomic_load_explicit(&counter, memory_order_acquire);

		if (c >= end || atomic_load_explicit(&stop, memory_order_relaxed))
			break;
		if ((c & 1) == me)
			atomic_store_explicit(&counter, c + 1, memory_order_release);
		sched_yield();
		if (++n % CLOCK_EVERY == 0 && now_ns() > deadline)
			atomic_store(&stop, 1);
	}
	yields[me] = n;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[2];
	int64_t elapsed;
	long done;
	int err;

	rounds = arg_count(argc, argv, 1, 1000000);
	for (int i = 0; i < 2; i++) {
		err = pthread_create(&t[i], NULL, player, (void *)(intptr_t)i);
		if (err) {
			fprintf(stderr, "yield: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	elapsed = now_ns() - t_start;
	done = atomic_load(&counter) / 2;
	if (done == 0) {
		fprintf(stderr, "yield: no round trip within %lld s\n", DEADLINE_NS / 1000000000);
		return 1;
	}
	printf("yield_rt_ns=%.1f alternation=%.3f rounds=%ld complete=%s os_threads=%ld greenpoll=%s\n",
	       (double)elapsed / done, 2.0 * done / (yields[0] + yields[1]), done,
	       done == rounds ? "yes" : "no", os_threads, greenpoll_loaded() ? "yes" : "no");
	return 0;
}
