/*
 * cli.h — what the parts of the `greenpoll` command share: its exit statuses, its two ways of
 * failing (bad usage, a failure with its own status), and the subcommands.
 *
 * Every failure is one line on stderr starting "greenpoll: ", and a status of its own, so a
 * script can tell them apart (greenpoll --help and greenpoll(1) list them). `run` exits with
 * its command's status once it has exec'ed it; the statuses below are those of greenpoll itself.
 */
#ifndef GP_CLI_H
#define GP_CLI_H

#include <stdnoreturn.h>
#include <sys/types.h>

enum gp_exit {
	GP_EXIT_OK = 0,
	GP_EXIT_OUTPUT = 1,         /* writing our own output failed */
	GP_EXIT_USAGE = 2,          /* bad usage, or run's library missing */
	GP_EXIT_NO_PROCESS = 3,     /* no process with that pid */
	GP_EXIT_NOT_GREENPOLL = 4,  /* the process has no control channel we may use */
	GP_EXIT_OTHER_USER = 5,     /* the process belongs to another user */
	GP_EXIT_REFUSED = 6,        /* the process answered "error: ..." */
	GP_EXIT_NO_ANSWER = 7,      /* no answer within the timeout, or a broken one */
	GP_EXIT_NOT_EXECUTABLE = 126,
	GP_EXIT_NOT_FOUND = 127,
};

/* "greenpoll: MESSAGE; see greenpoll --help" on stderr, then exit status 2. */
noreturn void gp_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "greenpoll: MESSAGE" on stderr, then exit with status. */
noreturn void gp_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The help text on stdout. */
void gp_usage(void);

/*
 * A pid given on the command line: a decimal number 1..INT_MAX, else bad usage (the message
 * names what).
 */
pid_t gp_parse_pid(const char *s);

/*
 * Seconds given to an option (what names it in messages): a decimal number with an optional
 * fraction, at least min and at most max, in milliseconds; else bad usage.
 */
int gp_parse_seconds(const char *what, const char *s, double min, double max);

/*
 * An option's value at argv[*i]: "--name=VALUE" gives VALUE, "--name VALUE" takes the next
 * argument (and advances *i); NULL if argv[*i] is neither form of name. A missing value is bad
 * usage.
 */
const char *gp_option_value(const char *name, int argc, char **argv, int *i);

/*
 * An argument no option of a subcommand taking one PID claimed: --help prints the help and
 * exits; else it must be the PID (into *pid, 0 until given), given once.
 */
void gp_pid_argument(const char *cmd, const char *arg, pid_t *pid);

/* The subcommands: each gets its own arguments (argv[0] is the subcommand's name). */
noreturn void gp_cmd_run(int argc, char **argv);
int gp_cmd_query(int argc, char **argv);
int gp_cmd_top(int argc, char **argv);

#endif
