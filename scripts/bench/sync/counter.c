/*
 * counter.c — a contended mutex: THREADS threads increment one counter, each increment under
 * the same default pthread mutex, for a fixed time.
 *
 * The clock starts when all threads are running (a barrier) and stops when they have all
 * seen the time is up; the figure is that time divided by the increments done (ns per increment, all threads
 * together: lower is better). The counter is checked against the sum of the threads' own
 * counts. Run natively and under the shim at the default GREENPOLL_PROCS.
 *
 * Usage: counter [THREADS [MILLISECONDS]]   (default 4 threads, 1000 ms)
 * Prints: ns_per_inc=... increments=... threads=... os_threads=... greenpoll=yes|no
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"

#define CLOCK_EVERY 1024 /* increments between clock checks */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start;
static long counter;
static atomic_int stop;
static int nthreads;
static int64_t t_start, duration_ns;
static long os_threads;

static void *incrementer(void *arg)
{
	long *mine = arg, n = 0;

	/* a barrier, not a spin: a spinning thread would keep a green scheduler's carrier */
	if (pthread_barrier_wait(&start) == PTHREAD_BARRIER_SERIAL_THREAD) {
		os_threads = proc_field("/proc/self/status", "Threads");
		t_start = now_ns();
	}
	pthread_barrier_wait(&start);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
		if (++n % CLOCK_EVERY == 0 && now_ns() - t_start > duration_ns)
			atomic_store(&stop, 1);
	}
	*mine = n;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t *t;
	long *counts, sum = 0;
	int64_t elapsed;

	nthreads = (int)arg_count(argc, argv, 1, 4);
	duration_ns = arg_count(argc, argv, 2, 1000) * 1000000;
	t = calloc((size_t)nthreads, sizeof *t);
	counts = calloc((size_t)nthreads, sizeof *counts);
	if (!t || !counts) {
		fprintf(stderr, "counter: out of memory\n");
		return 1;
	}
	pthread_barrier_init(&start, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		int err = pthread_create(&t[i], NULL, incrementer, &counts[i]);

		if (err) {
			fprintf(stderr, "counter: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	elapsed = now_ns() - t_start;
	for (int i = 0; i < nthreads; i++)
		sum += counts[i];
	if (sum != counter || sum == 0) {
		fprintf(stderr, "counter: counter %ld, threads counted %ld\n", counter, sum);
		return 1;
	}
	printf("ns_per_inc=%.1f increments=%ld threads=%d os_threads=%ld greenpoll=%s\n",
	       (double)elapsed / sum, sum, nthreads, os_threads, greenpoll_loaded() ? "yes" : "no");
	return 0;
}
