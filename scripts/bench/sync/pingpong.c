/*
 * pingpong.c — round trip of a mutex + condvar hand-off between two threads.
 *
 * Threads 0 and 1 share one mutex, a "turn" variable and one condvar each. A thread waits on
 * its own condvar until the turn is its, passes the turn to the other and signals the other's
 * condvar. One round trip is two hand-offs: 0 to 1 and back. The clock starts once both
 * threads are running; the run ends after ROUNDS round trips or after 5 s, whichever comes
 * first (complete=no then; the figure is over the round trips done). Run natively pinned to
 * one CPU (taskset -c N) and unpinned, under the shim with GREENPOLL_PROCS=1 and 2.
 *
 * Usage: pingpong [ROUNDS]   (default 200,000)
 * Prints: rt_us=... rounds=... complete=yes|no os_threads=... greenpoll=yes|no
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../common.h"

#define DEADLINE_NS (5 * 1000000000LL)
#define CLOCK_EVERY 256 /* hand-offs between deadline checks */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static int turn, ready, stop;
static long handoffs, limit;
static int64_t t_start, t_end;
static long os_threads;

static void *player(void *arg)
{
	int me = (int)(intptr_t)arg;

	pthread_mutex_lock(&lock);
	if (++ready == 2) {
		os_threads = proc_field("/proc/self/status", "Threads");
		t_start = now_ns();
		pthread_cond_broadcast(&start_cv);
	}
	while (ready < 2)
		pthread_cond_wait(&start_cv, &lock);
	for (;;) {
		while (turn != me && !stop)
			pthread_cond_wait(&cv[me], &lock);
		if (stop)
			break;
		turn = !me;
		handoffs++;
		if (handoffs >= limit ||
		    (handoffs % CLOCK_EVERY == 0 && now_ns() - t_start > DEADLINE_NS)) {
			stop = 1;
			t_end = now_ns();
		}
		pthread_cond_signal(&cv[!me]);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[2];
	long rounds;

	limit = 2 * arg_count(argc, argv, 1, 200000);
	for (int i = 0; i < 2; i++) {
		int err = pthread_create(&t[i], NULL, player, (void *)(intptr_t)i);

		if (err) {
			fprintf(stderr, "pingpong: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	rounds = handoffs / 2;
	if (rounds == 0) {
		fprintf(stderr, "pingpong: no round trip\n");
		return 1;
	}
	printf("rt_us=%.3f rounds=%ld complete=%s os_threads=%ld greenpoll=%s\n",
	       (double)(t_end - t_start) / 1e3 / rounds, rounds,
	       handoffs >= limit ? "yes" : "no", os_threads, greenpoll_loaded() ? "yes" : "no");
	return 0;
}
