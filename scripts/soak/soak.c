/*
 * soak — a plain blocking pthread program that churns for a while and then checks that it got
 * every byte right and that nothing it used is still held (scripts/soak.sh runs it under
 * greenpoll; it knows nothing of greenpoll).
 *
 * Usage: soak SECONDS
 *
 * While it runs, all at once:
 *  - a thread-per-connection TCP server on 127.0.0.1 (one thread accepts, one thread per
 *    connection, made and ended with the connection), and CLIENTS client threads, each opening
 *    connection after connection until the time is up. Each connection is one of: an upload (a
 *    16-byte header, then a random number of random bytes, then a half-close; the server
 *    answers with the count and checksum it received, then closes), a download (the header
 *    asks for a random number of bytes from a seed; the server sends them and closes; the
 *    client checks count and checksum at EOF), or a reset (the header and part of an upload,
 *    then a close with SO_LINGER 0: the server must see ECONNRESET or EOF, never hang). Sizes
 *    are log-uniform up to MAX_BYTES, so most are small and a few large;
 *  - a signal storm: SIGUSR1 (SA_RESTART) and SIGUSR2 (without it) sent to the client threads
 *    in turn and to the process, every STORM_US; every call handles EINTR;
 *  - a fork every FORK_MS: the child checks a socketpair round trip and _exits; the parent
 *    waits for it (status 0);
 *  - a thread churner: batches of short-lived threads, half joined, half detached, each
 *    touching some stack and heap.
 * Then everything stops, every thread ends, and after IDLE_S idle it looks at itself again.
 *
 * Prints its figures, one "name: value" a line, and exits 1 with "FAIL: ..." lines on stderr
 * for: a byte count or checksum that differs; a lost connection (a connect or an exchange that
 * failed other than by a reset the client made, or server and clients disagreeing on how many
 * connections there were); a fork child that failed; fds (/proc/self/fd), the program's own
 * threads, or OS threads (/proc/self/status Threads, given up to SETTLE_S to settle) not back to
 * their values at rest before the churn; VmRSS at the end of the run more than RSS_GROWTH_PCT
 * percent plus RSS_SLACK_KB above its value at a quarter of the run (after warm-up).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS 200
#define MAX_BYTES (1u << 20)
#define STORM_US 500
#define FORK_MS 100
#define CHURN_BATCH 16
#define IDLE_S 2
#define SETTLE_S 10
#define RSS_GROWTH_PCT 20
#define RSS_SLACK_KB 4096
#define HEADER_MAGIC 0x534f414bu /* "SOAK" */

enum mode { UPLOAD, DOWNLOAD, RESET };

struct header {
	uint32_t magic, mode;
	uint32_t size, seed;
};

static struct sockaddr_in server_addr;
static int lfd;
static atomic_bool stopping, listener_stop;
static pthread_t client_threads[CLIENTS];

static struct {
	_Atomic unsigned long connects, uploads, downloads, resets, bytes, mismatches, lost;
	_Atomic unsigned long accepted, served, resets_seen, server_errors;
	_Atomic unsigned long signals_sent, sigusr1, sigusr2;
	_Atomic unsigned long forks, fork_failures;
	_Atomic unsigned long threads_made;
	_Atomic long live_threads; /* the program's threads now running, main excepted */
} st;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool failed;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failed = true;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t next_random(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* a log-uniform size: 0 .. MAX_BYTES, most of them small */
static uint32_t random_size(uint32_t *s)
{
	uint32_t bits = next_random(s) % 21;

	return bits ? next_random(s) % (1u << bits) : 0;
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FNV_START 0xcbf29ce484222325ull

/* ---- I/O that handles short counts and EINTR ---- */

static bool write_all(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

/* up to n bytes; 0 at EOF, -1 with errno on error */
static ssize_t read_some(int fd, void *buf, size_t n)
{
	ssize_t r;

	while ((r = read(fd, buf, n)) < 0 && errno == EINTR)
		;
	return r;
}

static bool read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read_some(fd, (char *)buf + done, n - done);

		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

/* the next k bytes of the stream seeded s */
static void generate(uint32_t *s, unsigned char *buf, size_t k)
{
	for (size_t i = 0; i < k; i++)
		buf[i] = (unsigned char)next_random(s);
}

/* the checksum of the first n bytes of the stream seeded s */
static uint64_t generated_sum(uint32_t s, uint32_t n)
{
	unsigned char buf[16384];
	uint64_t sum = FNV_START;

	while (n) {
		uint32_t k = n < sizeof buf ? n : (uint32_t)sizeof buf;

		generate(&s, buf, k);
		sum = fnv(sum, buf, k);
		n -= k;
	}
	return sum;
}

/* send the first n bytes of the stream seeded s */
static bool send_generated(int fd, uint32_t s, uint32_t n)
{
	unsigned char buf[16384];

	while (n) {
		uint32_t k = n < sizeof buf ? n : (uint32_t)sizeof buf;

		generate(&s, buf, k);
		if (!write_all(fd, buf, k))
			return false;
		n -= k;
	}
	return true;
}

/* read to EOF: count and checksum; false on an error (errno set) */
static bool take_all(int fd, uint64_t *count, uint64_t *sum)
{
	unsigned char buf[16384];
	ssize_t r;

	*count = 0;
	*sum = FNV_START;
	while ((r = read_some(fd, buf, sizeof buf)) > 0) {
		*count += (uint64_t)r;
		*sum = fnv(*sum, buf, (size_t)r);
	}
	return r == 0;
}

/* ---- threads, counted ---- */

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void *counted(void *arg)
{
	struct start s = *(struct start *)arg;
	void *r;

	free(arg);
	r = s.fn(s.arg);
	atomic_fetch_sub(&st.live_threads, 1);
	return r;
}

static bool thread(pthread_t *t, bool detached, void *(*fn)(void *), void *arg)
{
	struct start *s = malloc(sizeof *s);
	pthread_t th;
	int err;

	if (!s)
		return false;
	*s = (struct start){fn, arg};
	atomic_fetch_add(&st.live_threads, 1);
	atomic_fetch_add(&st.threads_made, 1);
	if ((err = pthread_create(&th, NULL, counted, s))) {
		atomic_fetch_sub(&st.live_threads, 1);
		free(s);
		fail("pthread_create: %s", strerror(err));
		return false;
	}
	if (detached)
		pthread_detach(th);
	if (t)
		*t = th;
	return true;
}

/* ---- the server ---- */

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct header h;
	uint64_t count, sum, reply[2];

	if (!read_full(fd, &h, sizeof h) || h.magic != HEADER_MAGIC) {
		/* a reset before the header is whole is the client's doing */
		if (errno != ECONNRESET)
			atomic_fetch_add(&st.server_errors, 1);
		else
			atomic_fetch_add(&st.resets_seen, 1);
		close(fd);
		return NULL;
	}
	switch (h.mode) {
	case UPLOAD:
	case RESET:
		if (!take_all(fd, &count, &sum)) {
			atomic_fetch_add(errno == ECONNRESET ? &st.resets_seen
							      : &st.server_errors,
					 1);
			break;
		}
		reply[0] = count;
		reply[1] = sum;
		if (!write_all(fd, reply, sizeof reply) && h.mode != RESET)
			atomic_fetch_add(&st.server_errors, 1);
		atomic_fetch_add(&st.served, 1);
		break;
	case DOWNLOAD:
		if (send_generated(fd, h.seed, h.size))
			atomic_fetch_add(&st.served, 1);
		else
			atomic_fetch_add(&st.server_errors, 1);
		break;
	}
	close(fd);
	return NULL;
}

static void *listener(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (atomic_load(&listener_stop)) {
			if (c >= 0)
				close(c);
			return NULL;
		}
		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				fail("accept: %s", strerror(errno));
			continue;
		}
		atomic_fetch_add(&st.accepted, 1);
		if (!thread(NULL, true, serve, (void *)(intptr_t)c))
			close(c);
	}
}

/* ---- the clients ---- */

static int connect_server(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;
	socklen_t len = sizeof err;
	struct pollfd p;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) == 0)
		return fd;
	if (errno == EINTR) {
		/* the connection goes on: wait for its outcome */
		p = (struct pollfd){.fd = fd, .events = POLLOUT};
		while (poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && !err)
			return fd;
		errno = err;
	}
	close(fd);
	return -1;
}

static void one_connection(uint32_t *rnd)
{
	uint32_t pick = next_random(rnd) % 20;
	struct header h = {HEADER_MAGIC, pick < 9 ? UPLOAD : pick < 18 ? DOWNLOAD : RESET,
			   random_size(rnd), next_random(rnd)};
	uint64_t count, sum, reply[2];
	int fd = connect_server();

	if (fd < 0) {
		atomic_fetch_add(&st.lost, 1);
		fail("connect: %s", strerror(errno));
		return;
	}
	atomic_fetch_add(&st.connects, 1);
	if (!write_all(fd, &h, sizeof h))
		goto lost;
	switch (h.mode) {
	case UPLOAD:
		if (!send_generated(fd, h.seed, h.size) || shutdown(fd, SHUT_WR) ||
		    !read_full(fd, reply, sizeof reply))
			goto lost;
		if (reply[0] != h.size || reply[1] != generated_sum(h.seed, h.size))
			atomic_fetch_add(&st.mismatches, 1);
		atomic_fetch_add(&st.uploads, 1);
		atomic_fetch_add(&st.bytes, h.size);
		break;
	case DOWNLOAD:
		if (shutdown(fd, SHUT_WR) || !take_all(fd, &count, &sum))
			goto lost;
		if (count != h.size || sum != generated_sum(h.seed, h.size))
			atomic_fetch_add(&st.mismatches, 1);
		atomic_fetch_add(&st.downloads, 1);
		atomic_fetch_add(&st.bytes, h.size);
		break;
	case RESET: {
		struct linger lg = {1, 0};

		send_generated(fd, h.seed, h.size / 2);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		atomic_fetch_add(&st.resets, 1);
		break;
	}
	}
	close(fd);
	return;
lost:
	atomic_fetch_add(&st.lost, 1);
	fail("connection (mode %u, %u bytes): %s", h.mode, h.size, strerror(errno));
	close(fd);
}

static void *client(void *arg)
{
	uint32_t rnd = (uint32_t)(uintptr_t)arg * 2654435761u | 1;

	while (!atomic_load(&stopping))
		one_connection(&rnd);
	return NULL;
}

/* ---- signals, forks, thread churn ---- */

static void on_signal(int sig)
{
	atomic_fetch_add(sig == SIGUSR1 ? &st.sigusr1 : &st.sigusr2, 1);
}

static void *storm(void *arg)
{
	struct timespec pause = {0, STORM_US * 1000L};
	unsigned long i = 0;

	(void)arg;
	while (!atomic_load(&stopping)) {
		int sig = i & 1 ? SIGUSR2 : SIGUSR1;

		if (i % 16 == 0)
			kill(getpid(), sig);
		else
			pthread_kill(client_threads[i % CLIENTS], sig);
		atomic_fetch_add(&st.signals_sent, 1);
		i++;
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static int child_round_trip(void)
{
	int sv[2];
	char buf[4];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || !write_all(sv[0], "ping", 4) ||
	    !read_full(sv[1], buf, 4) || memcmp(buf, "ping", 4) != 0)
		return 1;
	return 0;
}

static void *forker(void *arg)
{
	struct timespec pause = {0, FORK_MS * 1000000L};

	(void)arg;
	while (!atomic_load(&stopping)) {
		int status;
		pid_t pid = fork();

		if (pid == 0)
			_exit(child_round_trip());
		if (pid < 0) {
			fail("fork: %s", strerror(errno));
			atomic_fetch_add(&st.fork_failures, 1);
		} else {
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			atomic_fetch_add(WIFEXITED(status) && WEXITSTATUS(status) == 0
						 ? &st.forks
						 : &st.fork_failures,
					 1);
		}
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	volatile char stack[16384];
	size_t n = 64 + (uintptr_t)arg % 65536;
	char *heap = malloc(n);
	struct timespec pause = {0, (long)((uintptr_t)arg % 1000) * 1000L};

	memset((char *)stack, 1, sizeof stack);
	if (heap)
		memset(heap, 2, n);
	free(heap);
	nanosleep(&pause, NULL);
	return NULL;
}

static void *churner(void *arg)
{
	uint32_t rnd = 12345;

	(void)arg;
	while (!atomic_load(&stopping)) {
		pthread_t joined[CHURN_BATCH / 2];
		int n = 0;

		for (int i = 0; i < CHURN_BATCH; i++) {
			void *a = (void *)(uintptr_t)next_random(&rnd);

			if (i % 2 == 0 && thread(&joined[n], false, short_lived, a))
				n++;
			else if (i % 2)
				thread(NULL, true, short_lived, a);
		}
		for (int i = 0; i < n; i++)
			pthread_join(joined[i], NULL);
	}
	return NULL;
}

/* ---- looking at itself ---- */

/* the fds open below HIDDEN_FROM: greenpoll keeps its own just below 1024 (some made when first
 * needed, libunwind's pipe at the first slow call), which are not the program's */
#define HIDDEN_FROM 1000

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' && atoi(e->d_name) < HIDDEN_FROM;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static long status_field(const char *name)
{
	char line[256];
	long v = -1;
	size_t len = strlen(name);
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, name, len) == 0 && line[len] == ':')
			v = atol(line + len + 1);
	fclose(f);
	return v;
}

struct rest {
	long fds, os_threads, threads;
};

static struct rest at_rest(void)
{
	return (struct rest){open_fds(), status_field("Threads"), atomic_load(&st.live_threads)};
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	double seconds, start, quarter_at;
	pthread_t storm_th, fork_th, churn_th, listen_th;
	struct sigaction sa = {.sa_handler = on_signal};
	socklen_t alen = sizeof server_addr;
	struct rest before, after;
	long rss_quarter = -1, rss_end, settle;
	int wake;

	if (argc != 2 || (seconds = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: soak SECONDS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	server_addr = (struct sockaddr_in){.sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&server_addr, sizeof server_addr) ||
	    listen(lfd, 4096) || getsockname(lfd, (struct sockaddr *)&server_addr, &alen)) {
		perror("soak: listener");
		return 1;
	}
	if (!thread(&listen_th, false, listener, NULL))
		return 1;
	sleep_s(IDLE_S);
	before = at_rest();

	start = now_s();
	quarter_at = start + seconds / 4;
	for (uintptr_t i = 0; i < CLIENTS; i++)
		thread(&client_threads[i], false, client, (void *)(i + 1));
	thread(&storm_th, false, storm, NULL);
	thread(&fork_th, false, forker, NULL);
	thread(&churn_th, false, churner, NULL);
	while (now_s() < start + seconds) {
		sleep_s(0.1);
		if (rss_quarter < 0 && now_s() >= quarter_at)
			rss_quarter = status_field("VmRSS");
	}
	rss_end = status_field("VmRSS");
	atomic_store(&stopping, true);
	pthread_join(storm_th, NULL); /* first: it signals the clients by their pthread_t */
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(client_threads[i], NULL);
	pthread_join(fork_th, NULL);
	pthread_join(churn_th, NULL);

	/* detached threads (connections being served, the churner's) end by themselves */
	for (settle = 0; settle < SETTLE_S * 10 && atomic_load(&st.live_threads) > before.threads;
	     settle++)
		sleep_s(0.1);
	sleep_s(IDLE_S);
	after = at_rest();
	for (settle = 0; settle < SETTLE_S * 10 && after.os_threads > before.os_threads; settle++) {
		sleep_s(0.1);
		after = at_rest();
	}

	printf("duration_s: %.1f\n", seconds);
	printf("connections: %lu (%lu uploads, %lu downloads, %lu resets)\n",
	       atomic_load(&st.connects), atomic_load(&st.uploads), atomic_load(&st.downloads),
	       atomic_load(&st.resets));
	printf("bytes_checked: %lu\n", atomic_load(&st.bytes));
	printf("mismatches: %lu\n", atomic_load(&st.mismatches));
	printf("lost_connections: %lu\n", atomic_load(&st.lost));
	printf("server: %lu accepted, %lu served, %lu resets seen, %lu errors\n",
	       atomic_load(&st.accepted), atomic_load(&st.served), atomic_load(&st.resets_seen),
	       atomic_load(&st.server_errors));
	printf("signals: %lu sent, %lu SIGUSR1 and %lu SIGUSR2 handled\n",
	       atomic_load(&st.signals_sent), atomic_load(&st.sigusr1), atomic_load(&st.sigusr2));
	printf("forks: %lu ok, %lu failed\n", atomic_load(&st.forks),
	       atomic_load(&st.fork_failures));
	printf("threads_made: %lu\n", atomic_load(&st.threads_made));
	printf("fds: %ld at rest before, %ld after\n", before.fds, after.fds);
	printf("threads: %ld at rest before, %ld after\n", before.threads, after.threads);
	printf("os_threads: %ld at rest before, %ld after\n", before.os_threads, after.os_threads);
	printf("vmrss_kb: %ld at 25%%, %ld at 100%%, %ld after\n", rss_quarter, rss_end,
	       status_field("VmRSS"));

	if (atomic_load(&st.mismatches))
		fail("%lu connections had a byte count or checksum that differs",
		     atomic_load(&st.mismatches));
	if (atomic_load(&st.lost) || atomic_load(&st.server_errors))
		fail("%lu connections lost by the clients, %lu errors on the server's side",
		     atomic_load(&st.lost), atomic_load(&st.server_errors));
	if (atomic_load(&st.accepted) != atomic_load(&st.connects))
		fail("the server accepted %lu connections, the clients made %lu",
		     atomic_load(&st.accepted), atomic_load(&st.connects));
	if (atomic_load(&st.fork_failures))
		fail("%lu fork children failed", atomic_load(&st.fork_failures));
	if (after.fds != before.fds)
		fail("%ld fds open at rest after the run, %ld before", after.fds, before.fds);
	if (after.threads != before.threads)
		fail("%ld of the program's threads alive at rest after the run, %ld before",
		     after.threads, before.threads);
	if (after.os_threads > before.os_threads)
		fail("%ld OS threads at rest after the run (%d s to settle), %ld before",
		     after.os_threads, SETTLE_S, before.os_threads);
	if (rss_end > rss_quarter + rss_quarter * RSS_GROWTH_PCT / 100 + RSS_SLACK_KB)
		fail("VmRSS grew from %ld kB at 25%% of the run to %ld kB at its end (more than "
		     "%d%% + %d kB)",
		     rss_quarter, rss_end, RSS_GROWTH_PCT, RSS_SLACK_KB);

	/* the listener ends: one more connection wakes its accept */
	atomic_store(&listener_stop, true);
	wake = connect_server();
	pthread_join(listen_th, NULL);
	if (wake >= 0)
		close(wake);
	close(lfd);
	sleep_s(IDLE_S); /* idle: greenpoll's monitor trims its stack pool */
	return failed;
}
