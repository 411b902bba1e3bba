/*
 * client.c — one question to a process's control channel (see client.h, shim/ctl_proto.h).
 *
 * Finding the channel: the process must exist (kill(pid, 0): ESRCH is "no process", and so is
 * a zombie; EPERM is "another user's"); then its socket is looked for in this user's channel directory (the one
 * ctl_proto.h names for our environment), then in /tmp/greenpoll-UID of the process's real uid
 * (its environment may not have had our XDG_RUNTIME_DIR; for root, UID is the other user's). A
 * directory that is not a directory owned by that user with no access for group and others is
 * refused, as the library refuses it. A socket that is missing or refuses connections (left by
 * a dead process whose pid was reused) means the process serves no channel.
 *
 * Bounded: the connect (a full listen backlog), the request and each read of the answer wait
 * at most the timeout without progress; a stuck process makes the command fail, never hang.
 * A big answer that keeps coming is read to its end.
 */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_proto.h"

#define REFUSAL "error: "

/* Formats why and returns status: the failure's two halves in one statement. */
__attribute__((format(printf, 4, 5)))
static int failure(int status, char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return status;
}

/* The real uid of process pid from /proc, or (uid_t)-1 when it cannot be read. */
static uid_t process_uid(pid_t pid)
{
	char path[64], line[256];
	unsigned long uid;
	uid_t found = (uid_t)-1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return found;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %lu", &uid) == 1) {
			found = (uid_t)uid;
			break;
		}
	fclose(f);
	return found;
}

bool gp_process_gone(pid_t pid)
{
	char path[64], line[512];
	FILE *f;
	bool zombie = false;

	if (kill(pid, 0) != 0)
		return errno == ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re"))) {
		/* "PID (COMM) STATE ...": COMM may hold anything, the state follows its last ')' */
		if (fgets(line, sizeof(line), f) && strrchr(line, ')'))
			zombie = strrchr(line, ')')[1] == ' ' && strrchr(line, ')')[2] == 'Z';
		fclose(f);
	}
	return zombie;
}

/* Whether dir is a directory owned by owner with no access for group or others. */
static bool private_dir(const char *dir, uid_t owner, char *why, size_t n)
{
	struct stat st;

	if (lstat(dir, &st) != 0)
		return false;
	if (!S_ISDIR(st.st_mode) || st.st_uid != owner || (st.st_mode & 077)) {
		failure(0, why, n,
			"%s is not a private directory of uid %u (owner %u, mode %03o): not using it",
			dir, (unsigned)owner, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
		return false;
	}
	return true;
}

/*
 * Connects to the socket at path, the connect bounded by timeout_ms; the socket, or -errno
 * (EAGAIN: the backlog stayed full).
 */
static int connect_bounded(const char *path, int timeout_ms)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a blocking AF_UNIX connect waits for room in the backlog at most SO_SNDTIMEO */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return fd;
	err = errno;
	close(fd);
	return -err;
}

/* A directory a channel may be in, and the user who must own it. */
struct place {
	char dir[PATH_MAX];
	uid_t owner;
};

/*
 * Where pid's channel may be, in the order to look: our channel directory, then
 * /tmp/greenpoll-UID of pid's user when that is another; returns how many.
 */
static int channel_places(pid_t pid, struct place places[2])
{
	uid_t theirs = process_uid(pid);
	int n = 0;

	if (gp_ctl_dir(places[0].dir, sizeof(places[0].dir), getuid()) >= 0)
		places[n++].owner = getuid();
	if (theirs != (uid_t)-1) {
		snprintf(places[n].dir, sizeof(places[n].dir), "/tmp/greenpoll-%u", (unsigned)theirs);
		places[n].owner = theirs;
		if (n == 0 || strcmp(places[0].dir, places[1].dir) != 0)
			n++;
	}
	return n;
}

/*
 * Opens pid's channel: the connected socket, or -status with the reason in why.
 */
static int open_channel(pid_t pid, int timeout_ms, char *why, size_t n)
{
	struct place places[2];
	char path[PATH_MAX];
	int nplaces, fd, len;

	why[0] = '\0';
	if (gp_process_gone(pid))
		return -failure(GP_EXIT_NO_PROCESS, why, n, "no process %d", (int)pid);
	if (kill(pid, 0) != 0)
		return -failure(GP_EXIT_OTHER_USER, why, n, "process %d belongs to another user",
				(int)pid);
	nplaces = channel_places(pid, places);
	for (int i = 0; i < nplaces; i++) {
		if (!private_dir(places[i].dir, places[i].owner, why, n))
			continue;
		len = snprintf(path, sizeof(path), "%s/%d.sock", places[i].dir, (int)pid);
		fd = len > 0 && (size_t)len < sizeof(path) ? connect_bounded(path, timeout_ms)
							   : -ENAMETOOLONG;
		if (fd >= 0)
			return fd;
		if (fd == -EACCES || fd == -EPERM)
			return -failure(GP_EXIT_OTHER_USER, why, n,
					"process %d belongs to another user (%s: %s)", (int)pid, path,
					strerror(-fd));
		if (fd == -EAGAIN)
			return -failure(GP_EXIT_NO_ANSWER, why, n,
					"process %d did not accept a connection within %d ms "
					"(its control channel is busy or stuck)", (int)pid, timeout_ms);
		if (fd != -ENOENT && fd != -ECONNREFUSED)
			return -failure(GP_EXIT_NOT_GREENPOLL, why, n, "cannot connect to %s: %s",
					path, strerror(-fd));
	}
	if (gp_process_gone(pid))
		return -failure(GP_EXIT_NO_PROCESS, why, n, "no process %d", (int)pid);
	if (why[0])
		return -GP_EXIT_NOT_GREENPOLL;
	return -failure(GP_EXIT_NOT_GREENPOLL, why, n,
			"process %d is not running under greenpoll (or its control channel is "
			"off: GREENPOLL_CONTROL)", (int)pid);
}

/* Waits until fd is ready for events, at most timeout_ms; false on a timeout. */
static bool wait_ready(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR); /* a signal handled is no reason to give up */
	return r > 0;
}

/* Reads everything fd sends until it closes into *answer; 0 or -errno (ETIMEDOUT). */
static int read_all(int fd, int timeout_ms, struct gp_answer *answer)
{
	size_t cap = 4096;
	ssize_t r;

	answer->text = malloc(cap);
	answer->len = 0;
	if (!answer->text)
		return -ENOMEM;
	for (;;) {
		if (answer->len + 1 == cap) {
			char *bigger = realloc(answer->text, cap * 2);
			if (!bigger)
				return -ENOMEM;
			answer->text = bigger;
			cap *= 2;
		}
		if (!wait_ready(fd, POLLIN, timeout_ms))
			return -ETIMEDOUT;
		r = read(fd, answer->text + answer->len, cap - 1 - answer->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		answer->len += (size_t)r;
	}
	answer->text[answer->len] = '\0';
	return 0;
}

int gp_ask(pid_t pid, const char *request, int timeout_ms, struct gp_answer *answer, char *why,
	   size_t n)
{
	char line[GP_CTL_REQUEST_MAX];
	ssize_t sent;
	int fd, len, err;

	answer->text = NULL;
	answer->len = 0;
	len = snprintf(line, sizeof(line), "%s\n", request);
	if (len < 0 || (size_t)len >= sizeof(line))
		return failure(GP_EXIT_USAGE, why, n, "request too long: %.40s...", request);
	fd = open_channel(pid, timeout_ms, why, n);
	if (fd < 0)
		return -fd;
	/* the request fits any socket buffer: SO_SNDTIMEO bounds it all the same */
	sent = send(fd, line, (size_t)len, MSG_NOSIGNAL);
	if (sent == len)
		err = read_all(fd, timeout_ms, answer);
	else
		err = sent < 0 && errno != EPIPE && errno != ECONNRESET ? -errno : 0;
	close(fd);
	if (err == -ETIMEDOUT || err == -EAGAIN)
		return failure(GP_EXIT_NO_ANSWER, why, n,
			       "process %d did not answer '%s' within %d ms", (int)pid, request,
			       timeout_ms);
	if (err)
		return failure(GP_EXIT_NO_ANSWER, why, n, "reading process %d's answer: %s",
			       (int)pid, strerror(-err));
	if (answer->len == 0)
		return failure(GP_EXIT_NO_ANSWER, why, n,
			       "process %d closed its control channel without answering", (int)pid);
	if (strncmp(answer->text, REFUSAL, strlen(REFUSAL)) == 0)
		return failure(GP_EXIT_REFUSED, why, n, "process %d: %.*s", (int)pid,
			       (int)strcspn(answer->text, "\n"), answer->text);
	return GP_EXIT_OK;
}

void gp_answer_free(struct gp_answer *answer)
{
	free(answer->text);
	answer->text = NULL;
	answer->len = 0;
}
