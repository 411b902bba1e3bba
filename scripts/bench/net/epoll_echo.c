/*
 * epoll_echo — the best case of the echo benchmark: a hand-written single-threaded epoll echo
 * server in C. Same command line and conventions as tests/fixtures/echo_server.c.
 *
 * Usage: epoll_echo [--port N] [--port-file PATH] [--backlog N]
 *
 * Binds 127.0.0.1:N (0: ephemeral), listens (backlog default 4096), writes the port to PATH via
 * a temporary name and rename(), prints "listening on PORT". Epoll, every socket
 * non-blocking: a readable connection gets one read() into a shared buffer and one write() of
 * what was read; only when the write is partial are the unsent bytes copied into a
 * per-connection buffer, EPOLLOUT requested and reading paused until they are gone, so an idle
 * connection costs one pointer here. Edge-triggered (EPOLLET): a read that fills less than the
 * buffer has emptied the socket, so one read per event is enough and level-triggered's second
 * poll of each ready socket is saved. The listener accepts until EAGAIN; EMFILE/ENFILE print one
 * line on stderr and pause accepting for 10 ms. Soft RLIMIT_NOFILE raised to the hard limit,
 * SIGPIPE ignored, SIGTERM exits 0.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

#define MAX_EVENTS 512

struct pending {
	size_t len, off;
	char data[];
};

static volatile sig_atomic_t stopping;
static struct pending **pend; /* by fd: unsent bytes, or NULL */
static int epfd;

static void on_sigterm(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: epoll_echo [--port N] [--port-file PATH] [--backlog N]\n");
	exit(2);
}

static void ctl(int op, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events | EPOLLET, .data.fd = fd};

	if (epoll_ctl(epfd, op, fd, &ev) != 0 && op != EPOLL_CTL_DEL) {
		fprintf(stderr, "epoll_echo: epoll_ctl: %s\n", strerror(errno));
		exit(1);
	}
}

static void drop(int fd)
{
	free(pend[fd]);
	pend[fd] = NULL;
	close(fd);
}

/* writes what is pending on FD; false when the connection is gone */
static int flush_pending(int fd)
{
	struct pending *p = pend[fd];

	while (p->off < p->len) {
		ssize_t n = write(fd, p->data + p->off, p->len - p->off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			drop(fd);
			return 0;
		}
		p->off += (size_t)n;
	}
	free(p);
	pend[fd] = NULL;
	ctl(EPOLL_CTL_MOD, fd, EPOLLIN);
	return 1;
}

/* reads and echoes what a readable connection holds, until a read comes back short (which
 * leaves the socket empty: the next byte is a new edge) or a write does */
static void echo(int fd)
{
	static char buf[65536];
	ssize_t n, w;

again:
	do
		n = read(fd, buf, sizeof buf);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		drop(fd);
		return;
	}
	for (w = 0; w < n;) {
		ssize_t k = write(fd, buf + w, (size_t)(n - w));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			break;
		if (k < 0) {
			drop(fd);
			return;
		}
		w += k;
	}
	if (w < n) {
		struct pending *p = malloc(sizeof *p + (size_t)(n - w));

		if (!p) {
			drop(fd);
			return;
		}
		p->len = (size_t)(n - w);
		p->off = 0;
		memcpy(p->data, buf + w, p->len);
		pend[fd] = p;
		ctl(EPOLL_CTL_MOD, fd, EPOLLOUT); /* stop reading until it is sent */
		return;
	}
	if (n == (ssize_t)sizeof buf)
		goto again;
}

int main(int argc, char **argv)
{
	long port = 0, backlog = 4096;
	const char *port_file = NULL;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t addrlen = sizeof addr;
	struct epoll_event evs[MAX_EVENTS];
	struct sigaction sa = {.sa_handler = on_sigterm};
	struct rlimit rl;
	struct timespec pause_until = {0};
	int one = 1, lfd, fd_shortage = 0;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--port") == 0)
			port = parse_num("--port", argv[++i], 0, 65535);
		else if (strcmp(argv[i], "--port-file") == 0)
			port_file = argv[++i];
		else if (strcmp(argv[i], "--backlog") == 0)
			backlog = parse_num("--backlog", argv[++i], 1, 1 << 20);
		else
			usage();
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	pend = calloc(rl.rlim_cur, sizeof *pend);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);

	epfd = epoll_create1(EPOLL_CLOEXEC);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!pend || epfd < 0 || lfd < 0) {
		perror("epoll_echo: start");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	addr.sin_port = htons((unsigned short)port);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, (int)backlog) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &addrlen) != 0) {
		perror("epoll_echo: bind/listen");
		return 1;
	}
	port = ntohs(addr.sin_port);
	if (port_file)
		write_port_file(port_file, (int)port);
	printf("listening on %ld\n", port);
	fflush(stdout);
	ctl(EPOLL_CTL_ADD, lfd, EPOLLIN);

	while (!stopping) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, pause_until.tv_sec ? 10 : -1);

		if (n < 0 && errno != EINTR) {
			perror("epoll_echo: epoll_wait");
			return 1;
		}
		if (pause_until.tv_sec) {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec > pause_until.tv_sec ||
			    (now.tv_sec == pause_until.tv_sec && now.tv_nsec >= pause_until.tv_nsec)) {
				pause_until.tv_sec = 0;
				ctl(EPOLL_CTL_MOD, lfd, EPOLLIN);
			}
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd != lfd) {
				if (pend[fd])
					flush_pending(fd);
				else
					echo(fd);
				continue;
			}
			for (;;) {
				int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (c >= 0) {
					fd_shortage = 0;
					ctl(EPOLL_CTL_ADD, c, EPOLLIN);
					continue;
				}
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				    errno == ENOMEM) {
					if (!fd_shortage)
						fprintf(stderr, "epoll_echo: accept: %s (pausing 10 ms)\n",
							strerror(errno));
					fd_shortage = 1;
					/* stop watching the listener for 10 ms */
					ctl(EPOLL_CTL_MOD, lfd, 0);
					clock_gettime(CLOCK_MONOTONIC, &pause_until);
					pause_until.tv_nsec += 10000000;
					if (pause_until.tv_nsec >= 1000000000) {
						pause_until.tv_sec++;
						pause_until.tv_nsec -= 1000000000;
					}
				} else if (errno != EAGAIN) {
					perror("epoll_echo: accept");
					return 1;
				}
				break;
			}
		}
	}
	return 0;
}
