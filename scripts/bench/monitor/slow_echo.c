/*
 * slow_echo — the server of the monitor benchmark (scripts/bench-monitor.sh): the plain,
 * blocking, thread-per-connection echo server of tests/fixtures/echo_server.c, except that a
 * request the load generator marked (scripts/bench/net/loadgen.c --mark-pct: bytes 12..15 of
 * the message are "SLOW") first does something slow, chosen by --on-mark, for --mark-ms
 * milliseconds:
 *
 *   none        nothing (the default: a plain echo server)
 *   sleep-libc  syscall(SYS_nanosleep, ...) through libc's syscall(): a call greenpoll passes to
 *               the kernel inside its blocking bracket (the monitor hands the carrier's
 *               processor on at once)
 *   sleep-raw   nanosleep made with the raw `syscall` instruction: a call greenpoll cannot see
 *               (the monitor notices the carrier asleep in the kernel)
 *   spin        pure computation until the thread has used that much CPU time (its CPU clock
 *               read between rounds of arithmetic): greenpoll sees no call at all, only a
 *               time slice (GREENPOLL_PREEMPT) lets the other threads run
 *
 * Usage: slow_echo [--port N] [--port-file PATH] [--backlog N]
 *                  [--on-mark none|sleep-libc|sleep-raw|spin] [--mark-ms MS]
 *
 * Everything else as echo_server: binds 127.0.0.1:N (0: ephemeral), backlog 4096, the port
 * written to PATH through a temporary name and rename(), "listening on PORT" on stdout, one
 * detached thread per connection looping read() -> (the slow thing) -> write of every byte
 * read, soft RLIMIT_NOFILE raised to the hard limit, SIGPIPE ignored, SIGTERM exits 0 at once.
 * A read is one request: the load generator keeps one 64-byte message in flight per
 * connection, which loopback delivers whole (a message split across reads is only echoed,
 * never made slow).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

enum action { ON_NONE, ON_SLEEP_LIBC, ON_SLEEP_RAW, ON_SPIN };

static enum action on_mark = ON_NONE;
static long mark_ms = 20;

/* a system call made with the instruction itself: no libc function, nothing to interpose */
static inline long raw_syscall2(long nr, long a, long b)
{
	long ret;
#if defined(__x86_64__)
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
	ret = x0;
#else
#error "raw_syscall2: no inline system call for this architecture"
#endif
	return ret;
}

static int64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void slow_thing(void)
{
	struct timespec ts = {.tv_sec = mark_ms / 1000, .tv_nsec = mark_ms % 1000 * 1000000}, rem;

	switch (on_mark) {
	case ON_NONE:
		break;
	case ON_SLEEP_LIBC:
		while (syscall(SYS_nanosleep, &ts, &rem) != 0 && errno == EINTR)
			ts = rem;
		break;
	case ON_SLEEP_RAW:
		while (raw_syscall2(SYS_nanosleep, (long)&ts, (long)&rem) == -EINTR)
			ts = rem;
		break;
	case ON_SPIN: {
		/* the CPU clock is read through libc (vDSO or a system call inside libc: greenpoll
		 * sees neither) about every 20 µs of arithmetic */
		int64_t end = clock_ns(CLOCK_THREAD_CPUTIME_ID) + mark_ms * 1000000;
		volatile uint64_t x = 1;

		do
			for (int i = 0; i < 20000; i++)
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < end);
		break;
	}
	}
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char buf[16384];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (on_mark != ON_NONE && n >= 16 && memcmp(buf + 12, "SLOW", 4) == 0)
			slow_thing();
		if (write_all(fd, buf, (size_t)n) != 0)
			break;
	}
	close(fd);
	return NULL;
}

/* SIGTERM: exit 0 at once, whatever each thread is in */
static void on_sigterm(int sig)
{
	(void)sig;
	_exit(0);
}

static void usage(void)
{
	fprintf(stderr, "usage: slow_echo [--port N] [--port-file PATH] [--backlog N]\n"
			"                 [--on-mark none|sleep-libc|sleep-raw|spin] [--mark-ms MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long port = 0, backlog = 4096;
	const char *port_file = NULL;
	struct sigaction sa = {.sa_handler = on_sigterm};

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--port") == 0)
			port = parse_num("--port", argv[++i], 0, 65535);
		else if (strcmp(argv[i], "--port-file") == 0)
			port_file = argv[++i];
		else if (strcmp(argv[i], "--backlog") == 0)
			backlog = parse_num("--backlog", argv[++i], 1, 1 << 20);
		else if (strcmp(argv[i], "--mark-ms") == 0)
			mark_ms = parse_num("--mark-ms", argv[++i], 0, 60000);
		else if (strcmp(argv[i], "--on-mark") == 0) {
			const char *v = argv[++i];

			if (strcmp(v, "none") == 0)
				on_mark = ON_NONE;
			else if (strcmp(v, "sleep-libc") == 0)
				on_mark = ON_SLEEP_LIBC;
			else if (strcmp(v, "sleep-raw") == 0)
				on_mark = ON_SLEEP_RAW;
			else if (strcmp(v, "spin") == 0)
				on_mark = ON_SPIN;
			else
				usage();
		} else
			usage();
	}

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	return serve_connections(server_listen(port, backlog, port_file), serve);
}

