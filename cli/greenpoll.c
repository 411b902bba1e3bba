/*
 * greenpoll.c — the `greenpoll` command: picks the subcommand, and holds what the subcommands
 * share (the help text, failing with one line, parsing pids, seconds and option values).
 *
 *   greenpoll run ...              run.c     a program under greenpoll
 *   greenpoll dump|stats|tasks|report PID   query.c   one question to a running one
 *   greenpoll top PID              top.c     its figures, refreshed
 *
 * Parsing is strict: every mistake is bad usage (one line, status 2) before anything is done.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION "0.1.0"

void gp_usage(void)
{
	fputs("Usage: greenpoll run [--procs N] [--stack SIZE] [--debug] [--report FILE] -- CMD [ARG...]\n"
	      "       greenpoll dump PID [--json] [--timeout SECONDS]\n"
	      "       greenpoll stats PID [--json] [--timeout SECONDS]\n"
	      "       greenpoll tasks PID [--timeout SECONDS]\n"
	      "       greenpoll report PID [--json] [--timeout SECONDS]\n"
	      "       greenpoll top PID [--interval SECONDS] [--once | -n COUNT]\n"
	      "       greenpoll --help\n"
	      "       greenpoll --version\n"
	      "\n"
	      "run: runs CMD with libgreenpoll.so preloaded: every pthread of CMD becomes a green\n"
	      "task, scheduled on N carrier OS threads.\n"
	      "\n"
	      "Options for run:\n"
	      "  --procs N      number of carrier threads, a whole number 1..1024\n"
	      "                 (sets GREENPOLL_PROCS; default: the number of online CPUs)\n"
	      "  --stack SIZE   stack size of each task: a byte count or a number followed by\n"
	      "                 K, M or G, e.g. 64K, 8M (sets GREENPOLL_STACK; default: what\n"
	      "                 glibc would give a new thread)\n"
	      "  --debug        runtime diagnostics on stderr (sets GREENPOLL_DEBUG=1)\n"
	      "  --report FILE  write the blocking report to FILE when CMD exits (sets\n"
	      "                 GREENPOLL_REPORT; a relative FILE is taken from the current\n"
	      "                 directory)\n"
	      "  --             ends the options; CMD and its arguments follow\n"
	      "\n"
	      "Both --procs N and --procs=N are accepted (likewise every option with a value).\n"
	      "\n"
	      "dump, stats, tasks, report: ask process PID, running under greenpoll, over its\n"
	      "control channel, and print the answer: every task with its state, wait and\n"
	      "backtrace (dump); the runtime's counters (stats); one line per task (tasks); the\n"
	      "calls that blocked carriers (report). --json gives one JSON object instead of text.\n"
	      "Connecting, and each read of the answer, wait at most --timeout SECONDS (default 10).\n"
	      "\n"
	      "top: shows PID's counters per second, its busiest tasks and the calls that block\n"
	      "carriers, refreshed every --interval SECONDS (default 1); q quits, and so does PID\n"
	      "ending. --once or -n COUNT prints 1 or COUNT frames as plain text and ends (plain\n"
	      "text is also what top prints when stdout is not a terminal).\n"
	      "\n"
	      "Exit status: run: that of CMD; 2 for bad usage or a missing library; 127 if CMD\n"
	      "is not found, 126 if it is not an executable file.\n"
	      "Others: 0 done; 1 writing the output failed; 2 bad usage; 3 no process PID;\n"
	      "4 PID is not running under greenpoll (or its control channel is off:\n"
	      "GREENPOLL_CONTROL); 5 PID belongs to another user; 6 PID refused the request;\n"
	      "7 PID did not answer in time.\n"
	      "\n"
	      "Every option and GREENPOLL_* setting: man greenpoll (greenpoll(1)).\n",
	      stdout);
}

noreturn void gp_die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("greenpoll: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; see greenpoll --help\n", stderr);
	exit(GP_EXIT_USAGE);
}

noreturn void gp_die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("greenpoll: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

pid_t gp_parse_pid(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end || errno || v < 1 || v > INT_MAX)
		gp_die_usage("PID must be a process id (a whole number from 1), got '%s'", s);
	return (pid_t)v;
}

int gp_parse_seconds(const char *what, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (s[0] < '0' || s[0] > '9' || *end || errno || !(v >= min && v <= max))
		gp_die_usage("%s wants seconds from %g to %g, got '%s'", what, min, max, s);
	return (int)(v * 1000 + 0.5);
}

const char *gp_option_value(const char *name, int argc, char **argv, int *i)
{
	size_t len = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, len) != 0)
		return NULL;
	if (arg[len] == '=')
		return arg + len + 1;
	if (arg[len] != '\0')
		return NULL;
	if (*i + 1 >= argc || strcmp(argv[*i + 1], "--") == 0)
		gp_die_usage("%s needs a value", name);
	return argv[++*i];
}

void gp_pid_argument(const char *cmd, const char *arg, pid_t *pid)
{
	if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
		gp_usage();
		exit(GP_EXIT_OK);
	}
	if (arg[0] == '-')
		gp_die_usage("unknown option '%s' for %s", arg, cmd);
	if (*pid)
		gp_die_usage("%s takes one PID, got '%s' too", cmd, arg);
	*pid = gp_parse_pid(arg);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		gp_usage();
		return GP_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		puts("greenpoll " VERSION);
		return GP_EXIT_OK;
	}
	if (strcmp(cmd, "run") == 0)
		gp_cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "dump") == 0 || strcmp(cmd, "stats") == 0 ||
	    strcmp(cmd, "tasks") == 0 || strcmp(cmd, "report") == 0)
		return gp_cmd_query(argc - 1, argv + 1);
	if (strcmp(cmd, "top") == 0)
		return gp_cmd_top(argc - 1, argv + 1);
	if (cmd[0] == '\0')
		gp_die_usage("missing command 'run', 'dump', 'stats', 'tasks', 'report' or 'top'");
	if (cmd[0] == '-')
		gp_die_usage("unknown option '%s'", cmd);
	gp_die_usage("unknown command '%s'", cmd);
}
