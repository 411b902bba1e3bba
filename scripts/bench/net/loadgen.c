/*
 * loadgen — a single-threaded epoll load generator for the echo benchmarks (scripts/bench-net.sh,
 * scripts/demo-net.sh).
 *
 * Usage: loadgen --port P --conns N [--msg BYTES] [--duration S] [--warmup S]
 *                [--rate-limit none] [--batch K] [--timeout S] [--server-pid PID] [--idle]
 *                [--mark-pct P [--mark-conns K]]
 *
 * Opens N TCP connections to 127.0.0.1:P (raising its soft RLIMIT_NOFILE to the hard limit
 * first), at most K (default 200) at a time still connecting or waiting for their first echo, so
 * the server's accept backlog is never overrun; a connect refused (or EAGAIN) is retried after
 * 10 ms. Every connection proves the server serves it with one echo, then waits for the others.
 * With all N established, each connection plays ping-pong: send a message of BYTES (default 64),
 * wait for the whole echo, check every byte, repeat. Each message is distinct: the connection id
 * and sequence number, then bytes from a generator seeded with both. After the warm-up (default
 * 2 s) it measures for the duration (default 5 s): requests completed per second, and the
 * latency from send to the last byte of the reply (a log-linear histogram, < 1% error).
 * Edge-triggered epoll: level-triggered costs a second poll of every ready socket, which here,
 * with the load generator and the server each on one CPU, is throughput the server never sees.
 *
 * With --server-pid it also reads, at the start and the end of the measurement, the server's
 * CPU time (utime + stime in /proc/PID/stat) and samples once a second its OS threads and VmRSS
 * (/proc/PID/status, the maximum is reported) and MemAvailable (/proc/meminfo, the minimum).
 *
 * Prints one line:
 *   rps=R p50_us=X p99_us=Y errors=E conns=N max_us=M requests=Q duration_s=D connect_s=C
 *   echoes=A
 *   [server_cpu_s=S server_threads=T server_rss_kib=K mem_avail_kib=A]
 * (echoes: every echo received, each connection's first and the warm-up's included: what a
 * count the server keeps over its whole run is divided by, as bench-net.sh does with
 * greenpoll's FS-base writes)
 * and exits 0, or 1 when any error happened: a byte that differs from what was sent, extra
 * bytes, a connection reset or closed, a connect that failed for good, or no progress for the
 * timeout (default 5 s: no connection established or echoed during the connect phase, or one
 * request unanswered that long while measuring; the run then stops). The first error of each
 * kind is described on stderr. SIGTERM or SIGINT before the end stops the run early: exit 1,
 * with the signal and its sender on stderr. Exit status 2: bad usage.
 *
 * --mark-pct P (for scripts/bench-monitor.sh; BYTES at least 16): P percent of the measured
 * run's requests (warm-up included, never the first echo) are marked "slow" for the server:
 * bytes 12..15 of the message are "SLOW"; in every other message byte 12 is 0, so no message is
 * marked by chance. Which ones is a hash of the connection id and sequence number (the same in
 * every run). With --mark-conns K only K connections (every N/K-th id, the "heavy" ones) send
 * marked requests, the others are "plain" connections; without it every connection may. The
 * line then also has, split by kind (latencies in µs; "plain" is the unmarked requests of plain
 * connections, or of every connection when all may send marked ones):
 *   heavy_conns=K marked=M marked_p50_us= marked_p99_us= plain=Q plain_p50_us= plain_p99_us=
 *   plain_max_us= plain_conn_p99_max_us= plain_conn_p99_med_us=
 * where plain_conn_p99_* are the worst and the median, over connections, of each connection's
 * own p99 of its plain requests (nearest rank).
 *
 * --idle: connect and echo once as above, print "ready conns=N connect_s=C", then hold the
 * connections open and silent for the duration (or until SIGTERM), failing if the server closes
 * one or sends anything; prints "idle conns=N errors=E" at the end. Used to measure idle memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 65536
#define RETRY_NS 10000000L /* delay before retrying a refused connect */
#define SAMPLE_NS 1000000000L
#define MAX_EVENTS 1024

enum state {
	CS_NEW,        /* not started */
	CS_RETRY,      /* connect refused, in the retry queue */
	CS_CONNECTING, /* connect in progress */
	CS_FIRST,      /* first echo outstanding */
	CS_READY,      /* established, waiting for the measurement to start */
	CS_BUSY,       /* a request outstanding */
	CS_DEAD,       /* failed and closed */
};

struct conn {
	int fd;
	uint8_t state;
	bool want_out;  /* EPOLLOUT registered: the message is partly sent */
	uint32_t sent;  /* bytes of the current message sent */
	uint32_t got;   /* bytes of its echo received */
	uint64_t seq;   /* sequence number of the current message */
	int64_t t_sent; /* when its first byte was sent */
};

/* options */
static int port = -1, nconns = -1, batch = 200, server_pid;
static uint32_t msg = 64;
static double duration = 5, warmup = 2, timeout_s = 5;
static bool idle_mode;

static struct conn *conns;
static int epfd;
static struct sockaddr_in target;
static long errors, established;
static bool reported[8];
static volatile sig_atomic_t stopping, stop_signal, stop_sender;

/* the retry queue: connection ids in order of their retry time (a ring of nconns slots) */
static int *retry_ring;
static int64_t *retry_at;
static int retry_head, retry_len;

/* latency histogram in nanoseconds: exact below 128, then 64 buckets per power of two */
#define HIST_BUCKETS 4096
struct hist {
	uint64_t b[HIST_BUCKETS];
	uint64_t n;
	int64_t max;
};
static struct hist h_all, h_plain, h_marked;

/* --mark-pct: the share of requests marked (in millionths), the heavy connections' stride and
 * count; every plain request's latency by connection, for the per-connection p99 */
static double mark_pct = -1;
static long mark_ppm, mark_conns = -1, heavy_stride = 1;
struct sample {
	uint32_t id;
	uint32_t lat_us;
};
static struct sample *samples;
static size_t nsamples, samples_cap;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_stop(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	stop_signal = sig;
	stop_sender = si ? si->si_pid : 0;
	stopping = 1;
}

/* says on stderr which signal stopped the run early, and who sent it */
static void report_stop(const char *phase)
{
	char path[64], cmd[256] = "";
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)stop_sender);
	f = fopen(path, "r");
	if (f) {
		size_t n = fread(cmd, 1, sizeof cmd - 1, f);

		for (size_t i = 0; i < n; i++)
			cmd[i] = cmd[i] ? cmd[i] : ' ';
		cmd[n] = '\0';
		fclose(f);
	}
	fprintf(stderr, "loadgen: stopped during the %s by %s from pid %d%s%s\n", phase,
		strsignal(stop_signal), (int)stop_sender, *cmd ? ": " : "", cmd);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --port P --conns N [--msg BYTES] [--duration S] [--warmup S]\n"
		"               [--rate-limit none] [--batch K] [--timeout S] [--server-pid PID] "
		"[--idle]\n");
	exit(2);
}

static double parse_num(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *s == '\0' || *end != '\0' || !(v >= min && v <= max)) {
		fprintf(stderr, "loadgen: bad %s: %s\n", opt, s);
		exit(2);
	}
	return v;
}

static int hist_index(int64_t v)
{
	int msb, shift;

	if (v < 128)
		return v < 0 ? 0 : (int)v;
	msb = 63 - __builtin_clzll((unsigned long long)v);
	shift = msb - 6;
	return 128 + (shift - 1) * 64 + (int)((v >> shift) - 64);
}

/* the middle of bucket I, in nanoseconds */
static double hist_value(int i)
{
	int shift;

	if (i < 128)
		return i;
	shift = (i - 128) / 64 + 1;
	return (double)((int64_t)((i - 128) % 64 + 64) << shift) + (double)((int64_t)1 << shift) / 2;
}

static void hist_add(struct hist *h, int64_t v)
{
	int i = hist_index(v);

	h->b[i < HIST_BUCKETS ? i : HIST_BUCKETS - 1]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

/* the latency at quantile Q of H, in microseconds */
static double hist_quantile(const struct hist *h, double q)
{
	uint64_t rank = (uint64_t)(q * (double)h->n), seen = 0;

	if (h->n == 0)
		return 0;
	if (rank >= h->n)
		rank = h->n - 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > rank)
			return hist_value(i) / 1000;
	}
	return (double)h->max / 1000;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* whether connection ID is one of the --mark-conns heavy ones (all of them without it) */
static bool heavy(uint32_t id)
{
	return (long)id % heavy_stride == 0 && (long)id / heavy_stride < mark_conns;
}

/* whether message SEQ of connection ID is marked slow (--mark-pct); seq 0 is the first echo */
static bool marked(uint32_t id, uint64_t seq)
{
	uint64_t x = ((uint64_t)id << 32) ^ seq ^ 0x6d61726b6d61726bULL;

	return mark_ppm > 0 && seq > 0 && heavy(id) && (long)(splitmix64(&x) % 1000000) < mark_ppm;
}

/* the content of message SEQ of connection ID: id (4 bytes), seq (8), then generated bytes;
 * with --mark-pct, byte 12 on is "SLOW" for a marked message, byte 12 is 0 in the others */
static void make_msg(uint32_t id, uint64_t seq, unsigned char *buf)
{
	uint64_t x = ((uint64_t)id << 40) ^ (seq * 0x2545f4914f6cdd1dULL) ^ msg;
	uint32_t off = 0;

	if (msg >= 12) {
		memcpy(buf, &id, 4);
		memcpy(buf + 4, &seq, 8);
		off = 12;
	}
	while (off < msg) {
		uint64_t r = splitmix64(&x);
		uint32_t n = msg - off < 8 ? msg - off : 8;

		memcpy(buf + off, &r, n);
		off += n;
	}
	if (mark_pct >= 0) {
		if (marked(id, seq))
			memcpy(buf + 12, "SLOW", 4);
		else
			buf[12] = 0;
	}
}

/* records one measured request's latency, by kind with --mark-pct */
static void record(uint32_t id, uint64_t seq, int64_t lat)
{
	hist_add(&h_all, lat);
	if (mark_pct < 0)
		return;
	if (marked(id, seq)) {
		hist_add(&h_marked, lat);
		return;
	}
	if (heavy(id) && mark_conns < nconns)
		return; /* an unmarked request of a heavy connection: neither kind */
	hist_add(&h_plain, lat);
	if (nsamples == samples_cap) {
		samples_cap = samples_cap ? 2 * samples_cap : 65536;
		samples = realloc(samples, samples_cap * sizeof *samples);
		if (!samples) {
			fprintf(stderr, "loadgen: out of memory for latency samples\n");
			exit(1);
		}
	}
	samples[nsamples].id = id;
	samples[nsamples].lat_us = lat / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(lat / 1000);
	nsamples++;
}

static int sample_cmp(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->lat_us < y->lat_us ? -1 : x->lat_us > y->lat_us;
}

static int double_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* the worst and the median over connections of each connection's p99 of its plain requests */
static void conn_p99(double *worst, double *median)
{
	double *p99 = malloc(((size_t)nconns + 1) * sizeof *p99);
	size_t k = 0;

	*worst = *median = 0;
	if (!p99 || nsamples == 0) {
		free(p99);
		return;
	}
	qsort(samples, nsamples, sizeof *samples, sample_cmp);
	for (size_t i = 0; i < nsamples;) {
		size_t j = i, n, rank;

		while (j < nsamples && samples[j].id == samples[i].id)
			j++;
		n = j - i;
		rank = (size_t)(0.99 * (double)n + 0.999999); /* nearest rank: ceil(0.99 n) */
		p99[k++] = samples[i + (rank ? rank - 1 : 0)].lat_us;
		i = j;
	}
	qsort(p99, k, sizeof *p99, double_cmp);
	*worst = p99[k - 1];
	*median = p99[(k - 1) / 2];
	free(p99);
}

/* counts an error; describes the first of each KIND on stderr */
__attribute__((format(printf, 2, 3))) static void fail(int kind, const char *fmt, ...)
{
	va_list ap;

	errors++;
	if (reported[kind])
		return;
	reported[kind] = true;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

enum { E_CONNECT, E_RESET, E_MISMATCH, E_EXTRA, E_TIMEOUT, E_IDLE, E_SYS };

static void kill_conn(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CS_DEAD;
}

static void set_events(struct conn *c, uint32_t id, uint32_t events, int op)
{
	struct epoll_event ev = {.events = events | EPOLLET, .data.u32 = id};

	if (epoll_ctl(epfd, op, c->fd, &ev) != 0) {
		fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(errno));
		exit(1);
	}
}

static void retry_later(uint32_t id, int64_t now)
{
	int slot = (retry_head + retry_len) % nconns;

	retry_ring[slot] = (int)id;
	retry_at[slot] = now + RETRY_NS;
	retry_len++;
	conns[id].state = CS_RETRY;
}

/* starts connecting connection ID: CS_CONNECTING, CS_RETRY, or CS_DEAD when it failed */
static void start_connect(uint32_t id, int64_t now)
{
	struct conn *c = &conns[id];
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fail(E_SYS, "socket: %s", strerror(errno));
		c->state = CS_DEAD;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->state = CS_CONNECTING;
	if (connect(fd, (struct sockaddr *)&target, sizeof target) != 0 && errno != EINPROGRESS) {
		if (errno == ECONNREFUSED || errno == EAGAIN) {
			close(fd);
			c->fd = -1;
			retry_later(id, now);
			return;
		}
		fail(E_CONNECT, "connect (connection %u): %s", id, strerror(errno));
		kill_conn(c);
		return;
	}
	set_events(c, id, EPOLLOUT, EPOLL_CTL_ADD);
}

/* sends (the rest of) the current message of connection ID */
static void send_msg(uint32_t id, int64_t now)
{
	struct conn *c = &conns[id];
	unsigned char buf[MSG_MAX];

	if (c->sent == 0) {
		c->got = 0;
		c->t_sent = now;
	}
	make_msg(id, c->seq, buf);
	while (c->sent < msg) {
		ssize_t n = send(c->fd, buf + c->sent, msg - c->sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->want_out)
					set_events(c, id, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
				c->want_out = true;
				return;
			}
			fail(E_RESET, "send (connection %u): %s", id, strerror(errno));
			kill_conn(c);
			return;
		}
		c->sent += (uint32_t)n;
	}
	if (c->want_out)
		set_events(c, id, EPOLLIN, EPOLL_CTL_MOD);
	c->want_out = false;
}

/* reads what the server sent on connection ID; true when the current message's echo is whole */
static bool receive(uint32_t id)
{
	struct conn *c = &conns[id];
	unsigned char buf[MSG_MAX + 1], want[MSG_MAX];

	ssize_t n;

	/* one recv per readiness event, into a buffer larger than any message: a short read leaves
	 * the socket empty, so the next byte to arrive is a new edge (EPOLLET) and draining to
	 * EAGAIN would only cost a second call; bytes beyond the echo are seen as extra */
	do
		n = recv(c->fd, buf, sizeof buf, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return false;
	if (n <= 0) {
		if (n == 0)
			fail(E_RESET, "connection %u closed by the server", id);
		else
			fail(E_RESET, "recv (connection %u): %s", id, strerror(errno));
		kill_conn(c);
		return false;
	}
	if (c->state != CS_FIRST && c->state != CS_BUSY) {
		fail(c->state == CS_READY && idle_mode ? E_IDLE : E_EXTRA,
		     "connection %u: %zd bytes nobody asked for", id, n);
		kill_conn(c);
		return false;
	}
	if ((uint32_t)n > msg - c->got) {
		fail(E_EXTRA, "connection %u: %zd bytes received, %u expected", id, n, msg - c->got);
		kill_conn(c);
		return false;
	}
	make_msg(id, c->seq, want);
	if (memcmp(buf, want + c->got, (size_t)n) != 0) {
		fail(E_MISMATCH, "connection %u message %llu: echo differs from what was sent", id,
		     (unsigned long long)c->seq);
		kill_conn(c);
		return false;
	}
	c->got += (uint32_t)n;
	if (c->got < msg)
		return false;
	c->sent = 0;
	c->seq++;
	return true;
}

/* a completed connect: its status, then the first message */
static void connected(uint32_t id, int64_t now)
{
	struct conn *c = &conns[id];
	int err = 0;
	socklen_t len = sizeof err;

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err == ECONNREFUSED || err == EAGAIN) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		retry_later(id, now);
		return;
	}
	if (err) {
		fail(E_CONNECT, "connect (connection %u): %s", id, strerror(err));
		kill_conn(c);
		return;
	}
	c->state = CS_FIRST;
	set_events(c, id, EPOLLIN, EPOLL_CTL_MOD);
	send_msg(id, now);
}

static long read_status_field(const char *path, const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* utime + stime of process PID in clock ticks, or -1 */
static long long proc_cpu_ticks(int pid)
{
	char path[64], buf[4096], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* after the comm: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	 * cmajflt utime(14) stime(15) */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (long long)(ut + st);
}

struct samples {
	long threads, rss_kib, avail_kib;
};

static void sample(struct samples *s)
{
	char path[64];
	long v;

	snprintf(path, sizeof path, "/proc/%d/status", server_pid);
	v = read_status_field(path, "Threads");
	if (v > s->threads)
		s->threads = v;
	v = read_status_field(path, "VmRSS");
	if (v > s->rss_kib)
		s->rss_kib = v;
	v = read_status_field("/proc/meminfo", "MemAvailable");
	if (v >= 0 && (s->avail_kib < 0 || v < s->avail_kib))
		s->avail_kib = v;
}

/* the connect phase: every connection connected and echoed once, or failed; false on a stall */
static bool connect_all(void)
{
	struct epoll_event evs[MAX_EVENTS];
	int next = 0, inflight = 0;
	long done = 0; /* established or dead */
	int64_t last_progress = now_ns();

	while (done < nconns && !stopping) {
		int64_t now = now_ns();
		int n, wait_ms = 100;

		while (retry_len > 0 && retry_at[retry_head] <= now) {
			int id = retry_ring[retry_head];

			retry_head = (retry_head + 1) % nconns;
			retry_len--;
			start_connect((uint32_t)id, now);
			if (conns[id].state == CS_DEAD) {
				inflight--;
				done++;
			}
		}
		while (inflight < batch && next < nconns) {
			start_connect((uint32_t)next, now);
			if (conns[next].state == CS_DEAD)
				done++;
			else
				inflight++;
			next++;
		}
		if (retry_len > 0) {
			int64_t ms = (retry_at[retry_head] - now) / 1000000 + 1;

			wait_ms = ms < wait_ms ? (int)ms : wait_ms;
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, wait_ms);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "loadgen: epoll_wait: %s\n", strerror(errno));
			exit(1);
		}
		now = now_ns();
		for (int i = 0; i < n; i++) {
			uint32_t id = evs[i].data.u32;
			struct conn *c = &conns[id];
			int before = c->state;

			if (before == CS_CONNECTING)
				connected(id, now);
			else if (before == CS_FIRST && (evs[i].events & EPOLLOUT) && c->want_out)
				send_msg(id, now);
			if (c->state == CS_FIRST && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
			    receive(id)) {
				c->state = CS_READY;
				established++;
			} else if (before == CS_READY) {
				receive(id); /* the server closed it or sent something: an error */
			}
			if (c->state != before && (c->state == CS_FIRST || c->state == CS_READY))
				last_progress = now;
			if ((before == CS_CONNECTING || before == CS_FIRST) &&
			    (c->state == CS_READY || c->state == CS_DEAD)) {
				inflight--;
				done++;
			}
		}
		if (now - last_progress > (int64_t)(timeout_s * 1e9)) {
			long connecting = 0, first = 0;

			for (int i = 0; i < next; i++) {
				connecting += conns[i].state == CS_CONNECTING || conns[i].state == CS_RETRY;
				first += conns[i].state == CS_FIRST;
			}
			fail(E_TIMEOUT,
			     "connect phase stalled: nothing for %.0f s; %ld of %d established, %ld "
			     "waiting for their first echo, %ld still connecting, %d not started",
			     timeout_s, established, nconns, first, connecting, nconns - next);
			return false;
		}
	}
	return !stopping;
}

/* idle mode: hold every connection silent for the duration */
static void hold_idle(double connect_s)
{
	struct epoll_event evs[MAX_EVENTS];
	int64_t end = now_ns() + (int64_t)(duration * 1e9);

	printf("ready conns=%ld connect_s=%.2f\n", established, connect_s);
	fflush(stdout);
	while (!stopping && now_ns() < end) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, 100);

		for (int i = 0; i < n; i++) {
			uint32_t id = evs[i].data.u32;

			if (conns[id].state == CS_READY)
				receive(id);
		}
	}
	printf("idle conns=%ld errors=%ld\n", established, errors);
}

int main(int argc, char **argv)
{
	struct epoll_event evs[MAX_EVENTS];
	struct rlimit rl;
	struct sigaction sa = {.sa_sigaction = on_stop, .sa_flags = SA_SIGINFO};
	struct samples smp = {.threads = -1, .rss_kib = -1, .avail_kib = -1};
	int64_t t0, t_run, t_measure, t_end, t_stop, next_sample, next_check;
	long long cpu0 = -1, cpu1 = -1;
	uint64_t completed = 0, echoes = 0; /* measured; all, first echoes and warm-up included */
	double connect_s;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--idle") == 0) {
			idle_mode = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(a, "--port") == 0)
			port = (int)parse_num(a, argv[++i], 1, 65535);
		else if (strcmp(a, "--conns") == 0)
			nconns = (int)parse_num(a, argv[++i], 1, 1 << 24);
		else if (strcmp(a, "--msg") == 0)
			msg = (uint32_t)parse_num(a, argv[++i], 1, MSG_MAX);
		else if (strcmp(a, "--duration") == 0)
			duration = parse_num(a, argv[++i], 0.1, 86400);
		else if (strcmp(a, "--warmup") == 0)
			warmup = parse_num(a, argv[++i], 0, 86400);
		else if (strcmp(a, "--timeout") == 0)
			timeout_s = parse_num(a, argv[++i], 0.1, 86400);
		else if (strcmp(a, "--batch") == 0)
			batch = (int)parse_num(a, argv[++i], 1, 1 << 20);
		else if (strcmp(a, "--server-pid") == 0)
			server_pid = (int)parse_num(a, argv[++i], 1, 1 << 30);
		else if (strcmp(a, "--mark-pct") == 0)
			mark_pct = parse_num(a, argv[++i], 0, 100);
		else if (strcmp(a, "--mark-conns") == 0)
			mark_conns = (long)parse_num(a, argv[++i], 1, 1 << 24);
		else if (strcmp(a, "--rate-limit") == 0) {
			if (strcmp(argv[++i], "none") != 0) {
				fprintf(stderr, "loadgen: only --rate-limit none is supported\n");
				exit(2);
			}
		} else
			usage();
	}
	if (port < 0 || nconns < 0)
		usage();
	if (mark_conns >= 0 && mark_pct < 0) {
		fprintf(stderr, "loadgen: --mark-conns needs --mark-pct\n");
		exit(2);
	}
	if (mark_pct >= 0) {
		if (msg < 16) {
			fprintf(stderr, "loadgen: --mark-pct needs messages of at least 16 bytes\n");
			exit(2);
		}
		if (mark_conns < 0 || mark_conns > nconns)
			mark_conns = nconns;
		heavy_stride = nconns / mark_conns;
		mark_ppm = (long)(mark_pct * 10000 + 0.5);
	}

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)nconns + 16 > rl.rlim_cur) {
		fprintf(stderr, "loadgen: %d connections need more fds than RLIMIT_NOFILE (%llu)\n",
			nconns, (unsigned long long)rl.rlim_cur);
		exit(2);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	conns = calloc((size_t)nconns, sizeof *conns);
	retry_ring = calloc((size_t)nconns, sizeof *retry_ring);
	retry_at = calloc((size_t)nconns, sizeof *retry_at);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || !retry_ring || !retry_at || epfd < 0) {
		fprintf(stderr, "loadgen: out of memory or fds\n");
		exit(1);
	}
	for (int i = 0; i < nconns; i++)
		conns[i].fd = -1;
	target.sin_family = AF_INET;
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	target.sin_port = htons((unsigned short)port);

	t0 = now_ns();
	if (!connect_all() || idle_mode) {
		connect_s = (double)(now_ns() - t0) / 1e9;
		if (stopping)
			report_stop("connect phase");
		if (idle_mode && !stopping && errors == 0) {
			hold_idle(connect_s); /* ends at the duration or at SIGTERM: both normal */
			return errors ? 1 : 0;
		}
		printf("rps=0 p50_us=0 p99_us=0 errors=%ld conns=%ld max_us=0 requests=0 "
		       "duration_s=0 connect_s=%.2f\n",
		       errors, established, connect_s);
		return 1;
	}

	/* the run: every established connection sends its first measured message at once */
	t_run = now_ns();
	connect_s = (double)(t_run - t0) / 1e9;
	for (uint32_t id = 0; id < (uint32_t)nconns; id++)
		if (conns[id].state == CS_READY) {
			conns[id].state = CS_BUSY;
			echoes++;
			send_msg(id, t_run);
		}
	t_measure = t_run + (int64_t)(warmup * 1e9);
	t_end = t_measure + (int64_t)(duration * 1e9);
	next_sample = t_measure;
	next_check = t_run + SAMPLE_NS;
	t_stop = t_end;
	for (;;) {
		int64_t now = now_ns();
		int n;

		if (now >= next_sample && server_pid) {
			if (cpu0 < 0)
				cpu0 = proc_cpu_ticks(server_pid);
			sample(&smp);
			next_sample += SAMPLE_NS;
		}
		if (now >= next_check) {
			for (int i = 0; i < nconns; i++)
				if (conns[i].state == CS_BUSY &&
				    now - conns[i].t_sent > (int64_t)(timeout_s * 1e9)) {
					fail(E_TIMEOUT, "connection %d: no echo for %.0f s", i, timeout_s);
					kill_conn(&conns[i]);
				}
			next_check += SAMPLE_NS;
			if (reported[E_TIMEOUT]) {
				t_stop = now;
				break;
			}
		}
		if (now >= t_end || stopping) {
			t_stop = now;
			break;
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, 50);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "loadgen: epoll_wait: %s\n", strerror(errno));
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			uint32_t id = evs[i].data.u32;
			struct conn *c = &conns[id];

			if (c->state != CS_BUSY)
				continue;
			if ((evs[i].events & EPOLLOUT) && c->want_out)
				send_msg(id, now_ns());
			if (c->state == CS_BUSY && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
			    receive(id)) {
				int64_t t = now_ns();

				echoes++;
				if (t >= t_measure && t <= t_end) {
					record(id, c->seq - 1, t - c->t_sent);
					completed++;
				}
				send_msg(id, t);
			}
		}
	}
	if (server_pid) {
		sample(&smp);
		cpu1 = proc_cpu_ticks(server_pid);
	}
	if (stopping)
		report_stop("measurement");

	{
		double window = (double)((t_stop < t_end ? t_stop : t_end) - t_measure) / 1e9;
		long live = 0;

		for (int i = 0; i < nconns; i++)
			live += conns[i].state == CS_BUSY;
		if (window <= 0)
			window = 1e-9;
		printf("rps=%.0f p50_us=%.1f p99_us=%.1f errors=%ld conns=%ld max_us=%.1f "
		       "requests=%llu duration_s=%.2f connect_s=%.2f echoes=%llu",
		       (double)completed / window, hist_quantile(&h_all, 0.50),
		       hist_quantile(&h_all, 0.99), errors, live, (double)h_all.max / 1000,
		       (unsigned long long)completed, window, connect_s, (unsigned long long)echoes);
		if (server_pid)
			printf(" server_cpu_s=%.2f server_threads=%ld server_rss_kib=%ld "
			       "mem_avail_kib=%ld",
			       cpu0 >= 0 && cpu1 >= 0 ? (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK)
						      : -1.0,
			       smp.threads, smp.rss_kib, smp.avail_kib);
		if (mark_pct >= 0) {
			double worst, median;

			conn_p99(&worst, &median);
			printf(" heavy_conns=%ld marked=%llu marked_p50_us=%.1f marked_p99_us=%.1f "
			       "plain=%llu plain_p50_us=%.1f plain_p99_us=%.1f plain_max_us=%.1f "
			       "plain_conn_p99_max_us=%.0f plain_conn_p99_med_us=%.0f",
			       mark_conns, (unsigned long long)h_marked.n,
			       hist_quantile(&h_marked, 0.50), hist_quantile(&h_marked, 0.99),
			       (unsigned long long)h_plain.n, hist_quantile(&h_plain, 0.50),
			       hist_quantile(&h_plain, 0.99), (double)h_plain.max / 1000, worst,
			       median);
		}
		printf("\n");
	}
	return errors || stopping ? 1 : 0;
}
