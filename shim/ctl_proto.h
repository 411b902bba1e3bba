/*
 * ctl_proto.h — the control channel between a process running under greenpoll and the
 * `greenpoll` command (dump, stats, top, report). Included by the library and by the command;
 * it needs only libc.
 *
 * Where: a Unix stream socket DIR/PID.sock, where DIR is
 *   $XDG_RUNTIME_DIR/greenpoll  when XDG_RUNTIME_DIR is set to an absolute path, else
 *   /tmp/greenpoll-UID          (UID: the real user id).
 * DIR is made with mode 0700 and must be a directory owned by the user with no access for
 * group or others, else the library opens no channel (and says why once on stderr) and the
 * command refuses it. The socket has mode 0600; the server also checks the peer's uid with
 * SO_PEERCRED (the process's own uid, or root) and closes a connection from anyone else
 * unanswered. A process's socket is removed when it exits; one left by a process that died is
 * replaced by the next process with that pid. The command looks in its own DIR first, then in
 * /tmp/greenpoll-UID (the program's environment may not have had XDG_RUNTIME_DIR).
 *
 * Exchange: the client connects and writes one request line (at most GP_CTL_REQUEST_MAX bytes
 * with its '\n'); the server writes the answer and closes. An answer whose first line starts
 * with "error: " is a refusal of one line (an unknown request, say).
 *
 * Requests:
 *   dump          every task, with state, wait and backtrace: text for people
 *   dump json     the same as one JSON object
 *   stats         counters, one per line: "NAME VALUE\n", VALUE a decimal integer, NAME
 *                 [a-z0-9_.]+, in a fixed order
 *   stats json    the same as one JSON object {"NAME": VALUE, ...}
 *   tasks         one line per live task, tab-separated:
 *                 TID STATE CARRIER RUN_NS WAIT_NS WHAT NAME
 *                 (CARRIER -1 when on none; WAIT_NS 0 when not waiting; WHAT "-" when not
 *                 waiting; NAME "-" when it has none, its tabs and newlines made spaces) —
 *                 what `greenpoll top` refreshes
 *   report        the blocking report as it stands now: text
 *   report json   the same as one JSON object
 */
#ifndef GP_CTL_PROTO_H
#define GP_CTL_PROTO_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#define GP_CTL_REQUEST_MAX 256

/*
 * The channel directory of the user with real uid uid into buf (size n); returns its length,
 * or -1 if it does not fit.
 */
static inline int gp_ctl_dir(char *buf, size_t n, uid_t uid)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	int len = run && run[0] == '/' ? snprintf(buf, n, "%s/greenpoll", run)
				       : snprintf(buf, n, "/tmp/greenpoll-%u", (unsigned)uid);

	return len < 0 || (size_t)len >= n ? -1 : len;
}

/* The socket path of process pid into buf (size n); its length, or -1 if it does not fit. */
static inline int gp_ctl_socket_path(char *buf, size_t n, uid_t uid, pid_t pid)
{
	int len = gp_ctl_dir(buf, n, uid);

	if (len < 0)
		return -1;
	int more = snprintf(buf + len, n - (size_t)len, "/%d.sock", (int)pid);
	return more < 0 || (size_t)(len + more) >= n ? -1 : len + more;
}

#endif
