/*
 * query.c — `greenpoll dump|stats|tasks|report PID [--json] [--timeout SECONDS]`: one request
 * on PID's control channel, its answer copied to stdout as it came. The request is the
 * subcommand's name, followed by " json" with --json (not for tasks, which is already one line
 * per task for tools). The frames of a dump or a report are given file:line where their
 * objects have line tables (lines.h). A failure, a refusal included, is one line on stderr and its own status
 * (cli.h), with nothing on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "lines.h"

/* Writes all of buf to fd; false on an error (errno says which). */
static bool write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return false;
		buf += w;
		len -= (size_t)w;
	}
	return true;
}

int gp_cmd_query(int argc, char **argv)
{
	const char *name = argv[0], *v;
	int timeout_ms = GP_ASK_TIMEOUT_MS, status;
	bool json = false;
	pid_t pid = 0;
	char request[32], why[512], *lined;
	struct gp_answer answer;
	size_t len;

	for (int i = 1; i < argc; i++) {
		if ((v = gp_option_value("--timeout", argc, argv, &i)))
			timeout_ms = gp_parse_seconds("--timeout", v, 0.001, 3600);
		else if (strcmp(argv[i], "--json") == 0 && strcmp(name, "tasks") != 0)
			json = true;
		else
			gp_pid_argument(name, argv[i], &pid);
	}
	if (!pid)
		gp_die_usage("%s needs the PID of a process running under greenpoll", name);

	snprintf(request, sizeof(request), "%s%s", name, json ? " json" : "");
	status = gp_ask(pid, request, timeout_ms, &answer, why, sizeof(why));
	if (status != GP_EXIT_OK)
		gp_die(status, "%s", why);
	if ((strcmp(name, "dump") == 0 || strcmp(name, "report") == 0) &&
	    (lined = gp_add_lines(answer.text, json, pid, &len))) {
		gp_answer_free(&answer);
		answer.text = lined;
		answer.len = len;
	}
	if (!write_all(STDOUT_FILENO, answer.text, answer.len))
		gp_die(GP_EXIT_OUTPUT, "writing the answer: %s", strerror(errno));
	gp_answer_free(&answer);
	return GP_EXIT_OK;
}
