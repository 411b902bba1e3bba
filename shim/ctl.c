/*
 * ctl.c — the control channel: a Unix stream socket (ctl_proto.h says where, and the requests)
 * that the `greenpoll` command connects to for a dump, stats, the task list or the report.
 *
 * When: the socket is made at start-up and served at once by an OS thread of its own. A dump
 * is most wanted when the program is stuck: the channel must answer whatever the program's
 * tasks and carriers are doing (all parked, one computing without end, a carrier blocked in a
 * call), so it depends on no carrier polling and on no thread of the program. That costs every
 * preloaded process one OS thread (a 256 KiB stack, reserved lazily, asleep in poll) and one
 * fd; GREENPOLL_CONTROL=off saves both. The same thread writes the dumps GREENPOLL_DUMP_SIGNAL
 * asks for (dumpsig.c): with that setting it runs even with GREENPOLL_CONTROL=off, with no
 * socket, waiting for the signal alone. Not the monitor's thread: the monitor sleeps
 * for microseconds between looks and must never wait on a slow client; a dump of thousands of
 * tasks takes milliseconds.
 *
 * Who: the directory must be ours (the real uid) with no access for group or others, the
 * socket is 0600, and every connection's peer is checked with SO_PEERCRED (our real or
 * effective uid, or root): anyone else is closed unanswered. A directory that fails the check
 * (another user's, or open to others) means no channel, and one line on stderr, always (it may
 * be someone else's doing, and the user would not know why `greenpoll dump` finds nothing),
 * once per process tree (a fork child remembers it was said).
 *
 * Lifetime: the socket file is DIR/PID.sock, removed at exit by the process that made it (not
 * by a fork child that did not). A file left by a process that died (or by the image before
 * an exec, which has the same pid) is replaced. Files of processes that ended without exit
 * (_exit, a signal: fork children often do) are swept after a request is answered (by any
 * process's channel): a PID.sock whose process no longer exists (kill(PID, 0): ESRCH) is
 * removed. (A new process given that pid and binding its socket between the check and the
 * removal would lose its file: pids are reused only after pid_max others, and the window is
 * microseconds.) Not when the thread starts: reading the directory takes an fd, the lowest
 * free number, and at start-up the program may be placing its own fds (a daemon's dup2 onto
 * that very number fails with EBUSY while the kernel is allocating it). The fds the channel
 * takes for a moment (a connection before it is moved high, the directory, /proc reads of a
 * dump) are taken only when someone uses the channel.
 *
 * A fork child closes its copy of the parent's listening socket at once (the same open file:
 * it must not take the parent's connections) and makes its own, for its own pid, with a thread
 * of its own, never in fork itself: most children exec or exit first, and making a channel (a
 * socket, a bind, a thread) would add about a millisecond to every fork here. It makes it when
 * one of its tasks first parks (gr_park_first_hook), or once it has used CHILD_CPU_NS of CPU
 * time, whichever comes first: a child that computes without waiting is seen too. Nothing else
 * runs in the child to notice the time (its monitor starts with its second carrier), so fork
 * arms a timer of the kernel on the CPU clock of the child's one thread (two system calls,
 * 13 us on the machine where a fork round trip takes 3 ms; exec and exit end it) whose signal
 * is greenpoll's preemption signal, with
 * a value of its own (child_timer_cookie): its handler (shim/preempt.c) makes the channel there
 * if the task was interrupted in the program's own code, where a task may switch, so may call
 * anything; elsewhere (in libc, in greenpoll) the timer is armed again for CHILD_RETRY_NS. A CPU
 * clock, not the wall clock: a child waiting in the kernel (a call greenpoll passes through)
 * uses none, so the signal never interrupts a wait, where a call that is not restarted by
 * SA_RESTART (semop, a poll of other fds) would see EINTR. Such a child (waiting, never
 * parking), and any child when preemption is off (GREENPOLL_PREEMPT=off, GREENPOLL_MONITOR=off:
 * no handler), is seen only from its first park.
 *
 * The fds: the listening socket and the connection being answered are hidden fds
 * (hiddenfd.h): placed high, close-on-exec, kept from the program's close, close_range, dup2.
 * Writes to the connection read its slot each time (gr_out_init_slot), so one moved by a dup2
 * meanwhile is followed. A listening socket lost anyway (a raw close system call) makes the
 * next poll say POLLNVAL, or the number now names something else (the program's), while the
 * slot still holds that number (a socket moved out of the way of the program's dup2 has a new
 * number in the slot: the thread polls that one): the channel is made again, once per loss. A poll already waiting holds its own reference to the file and
 * goes on waiting on the closed socket: the loss is seen when the next client connects, whose
 * connection goes with the lost socket (it is refused: the command says the connection was
 * reset); the one after is answered. The thread waits in poll, never in accept, which would hold
 * the lowest free fd number reserved while it waits (the program's next open would skip it,
 * and a dup2 onto it fail with EBUSY); the listening socket is non-blocking, so an accept
 * after a connection went away returns at once.
 *
 * All system calls here are raw (sys.h): close, accept and the rest are names the shim
 * interposes, and these are greenpoll's fds, not the program's. The thread is not a task, so
 * the libc calls the answers make go straight to libc.
 */
#define _GNU_SOURCE
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "fork.h"
#include "hiddenfd.h"
#include "park.h"
#include "sys.h"
#include "throw.h"
#include "tls.h"

#define REQUEST_TIMEOUT_S 2 /* a client that sends no request line in this long is dropped */
#define ANSWER_TIMEOUT_S 10 /* nor may one that stops reading the answer hold the channel */
#define REMAKES_MAX 8	    /* channels made again after a loss, at most */

#define CHILD_CPU_NS 100000000LL /* a fork child makes its channel after this CPU time */
#define CHILD_RETRY_NS 10000000LL /* or this much later, if the time came in libc or greenpoll */

static char child_timer_cookie; /* the fork child's timer's signal value */

static struct {
	bool on;
	bool dump_signal; /* GREENPOLL_DUMP_SIGNAL is served (dumpsig.c) */
	int timer_signal; /* the preemption signal, for a fork child's timer (0: none) */
	int child_timer;  /* a fork child's timer (kernel id), -1: none */
	atomic_bool child_pending; /* a fork child that has not made its channel yet */
	bool said; /* the channel's failure was told (inherited by fork children) */
	int (*start_os_thread)(void *(*)(void *), void *);
	_Atomic int listen_fd, conn_fd; /* hidden fd slots (-1: none) */
	pid_t pid;			/* the process the socket file is for, 0: none */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int remakes;
	int64_t started_at;
} ctl = {.listen_fd = -1, .conn_fd = -1, .child_timer = -1};

int64_t ctl_started_at(void) { return ctl.started_at; }

/* the process's command name (/proc/self/comm) into buf */
void ctl_command_name(char *buf, size_t n)
{
	long fd = gr_sys3(SYS_open, "/proc/self/comm", O_RDONLY | O_CLOEXEC, 0), len = 0;

	if (fd >= 0) {
		len = gr_sys3(SYS_read, fd, buf, n - 1);
		gr_sys1(SYS_close, fd);
	}
	if (len <= 0) {
		snprintf(buf, n, "?");
		return;
	}
	buf[len] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

__attribute__((format(printf, 1, 2))) static void say_once(const char *fmt, ...)
{
	char line[300];
	va_list ap;

	if (ctl.said)
		return;
	ctl.said = true;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	gr_say("%s; no control channel (greenpoll dump, stats and top cannot see this process; "
	       "GREENPOLL_CONTROL=off silences this)", line);
}

/* the channel's directory, made if missing; false (said why) if it is missing or unsafe */
static bool safe_dir(const char *dir)
{
	struct stat st;
	uid_t uid = (uid_t)gr_sys0(SYS_getuid);
	int err;

	gr_sys2(SYS_mkdir, dir, 0700);
	if ((err = (int)gr_sys4(SYS_newfstatat, AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW))) {
		say_once("cannot make the directory %s (%s)", dir, strerror(-err));
		return false;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 077)) {
		say_once("%s is not a directory of this user's with no access for group or others", dir);
		return false;
	}
	return true;
}

/* A listening socket at ctl.path for this process (a stale file replaced); the fd or -errno. */
static int make_socket(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	long fd = gr_sys3(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return (int)fd;
	memcpy(addr.sun_path, ctl.path, strlen(ctl.path) + 1);
	gr_sys1(SYS_unlink, ctl.path); /* one left by a process that died, or before an exec */
	if ((err = gr_sys3(SYS_bind, fd, &addr, sizeof addr)) ||
	    (err = gr_sys2(SYS_chmod, ctl.path, 0600)) || (err = gr_sys2(SYS_listen, fd, 64))) {
		gr_sys1(SYS_close, fd);
		return (int)err;
	}
	return gr_hiddenfd_place_high((int)fd);
}

/* the channel of this process, its file named; false if none could be made (said why) */
static bool open_channel(void)
{
	char dir[sizeof ctl.path];
	int fd;
	pid_t pid = (pid_t)gr_sys0(SYS_getpid);

	if (gp_ctl_dir(dir, sizeof dir, (uid_t)gr_sys0(SYS_getuid)) < 0 ||
	    gp_ctl_socket_path(ctl.path, sizeof ctl.path, (uid_t)gr_sys0(SYS_getuid), pid) < 0) {
		say_once("the control socket's path (in XDG_RUNTIME_DIR) is too long for a Unix "
			 "socket");
		return false;
	}
	if (!safe_dir(dir))
		return false;
	if ((fd = make_socket()) < 0) {
		say_once("cannot listen on %s (%s)", ctl.path, strerror(-fd));
		return false;
	}
	ctl.pid = pid;
	atomic_store(&ctl.listen_fd, fd);
	return true;
}

/* whether the peer of connection fd may use the channel */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (gr_sys6(SYS_getsockopt, fd, SOL_SOCKET, SO_PEERCRED, (long)&cred, (long)&len, 0) != 0)
		return false;
	return cred.uid == 0 || cred.uid == (uid_t)gr_sys0(SYS_getuid) ||
	       cred.uid == (uid_t)gr_sys0(SYS_geteuid);
}

/* the request line of connection fd into req (without its '\n'); false if none came; the
 * connection's timeouts set (a client that stops reading the answer fails its writes) */
static bool read_request(int fd, char req[GP_CTL_REQUEST_MAX + 1])
{
	struct timeval tv = {.tv_sec = REQUEST_TIMEOUT_S}, answer = {.tv_sec = ANSWER_TIMEOUT_S};
	size_t len = 0;

	gr_sys6(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, (long)&tv, sizeof tv, 0);
	gr_sys6(SYS_setsockopt, fd, SOL_SOCKET, SO_SNDTIMEO, (long)&answer, sizeof answer, 0);
	while (len < GP_CTL_REQUEST_MAX) {
		long n = gr_sys3(SYS_read, fd, req + len, GP_CTL_REQUEST_MAX - len);
		char *nl;

		if (n == -EINTR)
			continue;
		if (n <= 0)
			return false;
		len += (size_t)n;
		if ((nl = memchr(req, '\n', len))) {
			*nl = 0;
			return true;
		}
	}
	return false;
}

static void answer(struct gr_out *o, const char *req)
{
	if (strcmp(req, "stats") == 0 || strcmp(req, "stats json") == 0)
		ctl_stats(o, req[5] != 0);
	else if (strcmp(req, "dump") == 0 || strcmp(req, "dump json") == 0)
		ctl_dump(o, req[4] != 0);
	else if (strcmp(req, "tasks") == 0)
		ctl_tasks(o);
	else if (strcmp(req, "report") == 0 || strcmp(req, "report json") == 0)
		ctl_report(o, req[6] != 0);
	else
		gr_out_printf(o, "error: unknown request '%.64s' (dump, dump json, stats, stats json, "
			      "tasks, report, report json)\n", req);
}

/* remove the socket files in the channel's directory of processes that no longer exist */
static void sweep(void)
{
	char dir[sizeof ctl.path], *slash, *end;
	struct dirent *e;
	DIR *d;

	memcpy(dir, ctl.path, sizeof dir);
	if (!(slash = strrchr(dir, '/')))
		return;
	*slash = 0;
	if (!(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		long pid = strtol(e->d_name, &end, 10);
		char stale[sizeof ctl.path + 16];

		if (pid <= 0 || strcmp(end, ".sock") != 0 || gr_sys2(SYS_kill, pid, 0) != -ESRCH)
			continue;
		if (snprintf(stale, sizeof stale, "%s/%s", dir, e->d_name) < (int)sizeof stale)
			gr_sys1(SYS_unlink, stale);
	}
	closedir(d);
}

static void serve(int fd)
{
	char req[GP_CTL_REQUEST_MAX + 1];
	struct gr_out *o;

	atomic_store(&ctl.conn_fd, gr_hiddenfd_place_high(fd));
	if (peer_allowed(atomic_load(&ctl.conn_fd)) && read_request(atomic_load(&ctl.conn_fd), req) &&
	    (o = malloc(sizeof *o))) {
		gr_out_init_slot(o, &ctl.conn_fd);
		answer(o, req);
		gr_out_flush(o);
		free(o);
	}
	fd = atomic_exchange(&ctl.conn_fd, -1);
	gr_sys1(SYS_close, fd);
	sweep();
}

/* whether lfd is still our listening socket (bound to ctl.path), not a number the program
 * reused after ours was closed behind our back */
static bool still_ours(int lfd)
{
	struct sockaddr_un addr;
	socklen_t len = sizeof addr;

	return gr_sys3(SYS_getsockname, lfd, &addr, &len) == 0 && addr.sun_family == AF_UNIX &&
	       len > offsetof(struct sockaddr_un, sun_path) &&
	       strncmp(addr.sun_path, ctl.path, sizeof addr.sun_path) == 0;
}

/* A connection came to listening socket lfd, or the socket was lost: served, or made again
 * (the slot left -1 once the channel is given up: lost too often, or not made again). */
static void serve_listener(int lfd, short revents)
{
	long fd;

	if (!(revents & POLLNVAL) && still_ours(lfd)) {
		fd = gr_sys4(SYS_accept4, lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			serve((int)fd);
		else if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS)
			gr_sys2(SYS_nanosleep, &(struct timespec){.tv_nsec = 10000000}, NULL);
		return; /* EAGAIN (the connection went away), ECONNABORTED: again */
	}
	if (atomic_load(&ctl.listen_fd) != lfd)
		return; /* moved out of the way of a dup2 (gr_hiddenfd_move): not lost */
	/* lost behind our back (a raw close; the number may be the program's now: never closed
	 * by us) */
	if (++ctl.remakes > REMAKES_MAX || !open_channel()) {
		atomic_store(&ctl.listen_fd, -1);
		return;
	}
	gr_say("the control socket (fd %d) was closed behind greenpoll's back (a raw close "
	       "system call?); made a new one (fd %d)", lfd, atomic_load(&ctl.listen_fd));
}

/* The channel's thread: connections to the listening socket, if there is one, and the dumps
 * GREENPOLL_DUMP_SIGNAL asks for (dumpsig.c), if it is set; it ends when neither is left. */
static void *ctl_thread(void *arg)
{
	sigset_t wait_mask;
	bool dump_signal;

	(void)arg;
	gr_tcb_forget_runtime();
	dump_signal = ctl_dump_signal_wait_mask(&wait_mask);
	for (;;) {
		int lfd = atomic_load(&ctl.listen_fd);
		struct pollfd p = {.fd = lfd, .events = POLLIN};

		if (ctl_dump_signal_asked())
			ctl_dump_to(STDERR_FILENO);
		if (lfd < 0 && !dump_signal)
			return NULL;
		/* wait in poll, not in accept: a blocked accept holds the lowest free fd number
		 * reserved (the kernel takes it before waiting), which the program would miss; the
		 * dump signal let in only here (a negative fd is not polled) */
		if (gr_sys6(SYS_ppoll, (long)&p, 1, 0, dump_signal ? (long)&wait_mask : 0, _NSIG / 8,
			    0) <= 0)
			continue; /* EINTR: the dump signal, maybe */
		if (lfd >= 0 && p.revents)
			serve_listener(lfd, p.revents);
	}
	return NULL;
}

static void start(void)
{
	int err;

	if (ctl.on && !open_channel() && !ctl.dump_signal)
		return;
	if ((err = ctl.start_os_thread(ctl_thread, NULL))) {
		if (atomic_load(&ctl.listen_fd) >= 0) {
			gr_sys1(SYS_close, atomic_exchange(&ctl.listen_fd, -1));
			gr_sys1(SYS_unlink, ctl.path);
			ctl.pid = 0;
		}
		say_once("cannot start its thread (%s)", strerror(err));
	}
}

void ctl_init(const struct shim_config *cfg, int (*start_os_thread)(void *(*)(void *), void *),
	      int timer_signal)
{
	ctl.started_at = gr_nanotime();
	ctl.on = cfg->control;
	ctl.timer_signal = timer_signal;
	ctl.start_os_thread = start_os_thread;
	gr_hiddenfd_register(&ctl.listen_fd);
	gr_hiddenfd_register(&ctl.conn_fd);
	if (cfg->dump_signal && !(ctl.dump_signal = ctl_dump_signal_init(cfg->dump_signal)))
		gr_say("cannot take signal %d (GREENPOLL_DUMP_SIGNAL): no dump on it",
		       cfg->dump_signal);
	if (ctl.on || ctl.dump_signal)
		start();
}

/* the fork child's timer to fire after ns more of its thread's CPU time */
static void child_timer_arm(int64_t ns)
{
	struct itimerspec when = {.it_value = {ns / 1000000000, ns % 1000000000}};

	gr_sys4(SYS_timer_settime, ctl.child_timer, 0, &when, NULL);
}

/* a fork child's first park, or its timer's signal where anything may be called: its channel,
 * once */
static void child_start(void)
{
	if (!atomic_exchange(&ctl.child_pending, false))
		return;
	if (ctl.child_timer >= 0)
		gr_sys1(SYS_timer_delete, ctl.child_timer);
	ctl.child_timer = -1;
	start();
}

void *ctl_child_timer_cookie(void) { return &child_timer_cookie; }

void ctl_child_timer_fired(bool may_start)
{
	if (may_start)
		child_start();
	else if (atomic_load(&ctl.child_pending))
		child_timer_arm(CHILD_RETRY_NS);
}

/* fork.h: the parent's channel closed; the child's own made at its first park or after
 * CHILD_CPU_NS of CPU time (see the header) */
static void ctl_after_fork_child(struct gr_task *self)
{
	struct sigevent ev = {.sigev_notify = SIGEV_THREAD_ID,
			      .sigev_signo = ctl.timer_signal,
			      .sigev_value.sival_ptr = &child_timer_cookie};
	int fd, id;

	(void)self;
	gr_park_first_hook(NULL); /* a child of a child that had not made its channel yet */
	ctl.started_at = gr_nanotime();
	ctl.pid = 0; /* the parent's file is the parent's to remove */
	ctl.remakes = 0;
	ctl.child_timer = -1; /* the parent's, if any, is not the child's (timers are not inherited) */
	if ((fd = atomic_exchange(&ctl.listen_fd, -1)) >= 0)
		gr_sys1(SYS_close, fd);
	if ((fd = atomic_exchange(&ctl.conn_fd, -1)) >= 0)
		gr_sys1(SYS_close, fd);
	atomic_store(&ctl.child_pending, ctl.on || ctl.dump_signal);
	if (!ctl.on && !ctl.dump_signal)
		return;
	gr_park_first_hook(child_start);
	ev._sigev_un._tid = (pid_t)gr_sys0(SYS_gettid); /* sigev_notify_thread_id */
	if (ctl.timer_signal && gr_sys3(SYS_timer_create, CLOCK_THREAD_CPUTIME_ID, &ev, &id) == 0) {
		ctl.child_timer = id;
		child_timer_arm(CHILD_CPU_NS);
	}
}
GR_AFTER_FORK(GR_FORK_SHIM, ctl_after_fork_child);

__attribute__((destructor)) static void ctl_remove(void)
{
	if (ctl.pid && ctl.pid == (pid_t)gr_sys0(SYS_getpid))
		gr_sys1(SYS_unlink, ctl.path);
}
