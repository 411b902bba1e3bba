/*
 * threads_demo — the demo's workload: a plain thread-per-job pthread program.
 *
 * Starts N threads (default 10,000) that each sleep 200 ms, compute a checksum over a small
 * buffer, sleep again, and return the checksum; main joins them all and checks the total.
 * While every thread is alive it samples the process's OS thread count; at the end it prints
 * one line: threads=N os_threads=PEAK rss_kib=PEAK wall_ms=T ok=1.
 * It knows nothing of greenpoll; scripts/demo.sh runs it natively and under the shim.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int nthreads = 10000;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long status_field(const char *name)
{
	char line[256];
	long v = -1;
	size_t n = strlen(name);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, name, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static uint64_t checksum(uint64_t seed)
{
	unsigned char buf[4096];
	uint64_t h = 1469598103934665603ull ^ seed;

	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(seed * 31 + i);
	for (int round = 0; round < 8; round++)
		for (size_t i = 0; i < sizeof buf; i++)
			h = (h ^ buf[i]) * 1099511628211ull;
	return h;
}

static void *job(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	uint64_t sum;

	usleep(200 * 1000);
	sum = checksum(id);
	usleep(200 * 1000);
	return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
	pthread_t *ids;
	uint64_t want = 0, got = 0;
	long peak_threads = 0;
	double t0 = now_ms();

	if (argc > 1)
		nthreads = atoi(argv[1]);
	ids = calloc((size_t)nthreads, sizeof *ids);
	if (!ids)
		return 1;
	for (int i = 0; i < nthreads; i++) {
		int err = pthread_create(&ids[i], NULL, job, (void *)(uintptr_t)i);

		if (err) {
			fprintf(stderr, "threads_demo: pthread_create #%d: %s\n", i, strerror(err));
			return 1;
		}
	}
	/* all threads are asleep in their first 200 ms now */
	peak_threads = status_field("Threads");
	for (int i = 0; i < nthreads; i++) {
		void *r;

		pthread_join(ids[i], &r);
		got += (uint64_t)(uintptr_t)r;
		want += checksum((uint64_t)i);
	}
	printf("threads=%d os_threads=%ld rss_kib=%ld wall_ms=%.0f ok=%d\n", nthreads, peak_threads,
	       status_field("VmHWM"), now_ms() - t0, got == want);
	return got == want ? 0 : 1;
}
