/*
 * run.c — `greenpoll run [OPTIONS] -- CMD [ARG...]`: execs CMD with libgreenpoll.so first in
 * LD_PRELOAD and the GREENPOLL_* settings its options stand for.
 *
 * The library is found from this program's real location (/proc/self/exe, symlinks resolved):
 * installed as PREFIX/bin/greenpoll it is PREFIX/lib/libgreenpoll.so; anywhere else (the build
 * directory) it is libgreenpoll.so beside the program. Options are checked here as strictly as
 * the library checks its settings, so a mistake is one line and status 2 before CMD starts;
 * CMD itself is looked up first, so "not found" (127) and "not executable" (126) are greenpoll's
 * lines, as a shell's would be. After the exec the status is CMD's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAX_PROCS 1024
#define LIBRARY "libgreenpoll.so"

/* The absolute path of the library this program belongs to, into buf (size PATH_MAX). */
static void library_path(char *buf)
{
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (len < 0)
		gp_die(GP_EXIT_USAGE, "cannot find where greenpoll is (/proc/self/exe): %s",
		       strerror(errno));
	self[len] = '\0';
	char *dir = dirname(self);
	if (strcmp(basename(dir), "bin") == 0)
		snprintf(buf, PATH_MAX, "%s/lib/" LIBRARY, dirname(dir));
	else
		snprintf(buf, PATH_MAX, "%s/" LIBRARY, dir);
}

/* --procs: a whole number 1..1024, leading zeros allowed; returns it. */
static int parse_procs(const char *v)
{
	const char *significant = v + strspn(v, "0");

	if (!v[0] || v[strspn(v, "0123456789")])
		gp_die_usage("--procs wants a whole number 1..%d, got '%s'", MAX_PROCS, v);
	if (strlen(significant) > 4 || atoi(significant) < 1 || atoi(significant) > MAX_PROCS)
		gp_die_usage("--procs must be 1..%d, got '%s'", MAX_PROCS, v);
	return atoi(significant);
}

/* --stack: digits and an optional K, M or G (either case), not zero; into buf upper-cased. */
static void parse_stack(const char *v, char *buf, size_t n)
{
	size_t digits = strspn(v, "0123456789");

	if (!digits || (v[digits] && (!strchr("KMGkmg", v[digits]) || v[digits + 1])) ||
	    strlen(v) >= n)
		gp_die_usage("--stack wants a size like 64K, 8M, 1G or a byte count, got '%s'", v);
	if (strspn(v, "0") == digits)
		gp_die_usage("--stack must not be zero");
	for (size_t i = 0; v[i]; i++)
		buf[i] = v[i] >= 'a' && v[i] <= 'z' ? (char)(v[i] - 'a' + 'A') : v[i];
	buf[strlen(v)] = '\0';
}

/* --report: a file name, made absolute (the program may change its directory before exit). */
static char *parse_report(const char *v)
{
	char cwd[PATH_MAX];
	char *abs;

	if (!v[0])
		gp_die_usage("--report wants a file name");
	if (v[0] == '/')
		return strdup(v);
	if (!getcwd(cwd, sizeof(cwd)))
		gp_die(GP_EXIT_USAGE, "--report %s: cannot tell the current directory: %s", v,
		       strerror(errno));
	if (asprintf(&abs, "%s/%s", cwd, v) < 0)
		gp_die(GP_EXIT_USAGE, "out of memory");
	return abs;
}

/* Whether path is a regular file we may execute. */
static bool executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Whether cmd (no '/') is an executable file in one of PATH's directories ("" is "."). */
static bool in_path(const char *cmd)
{
	const char *dirs = getenv("PATH");
	char path[PATH_MAX];

	if (!dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	for (const char *d = dirs;; d += strcspn(d, ":") + 1) {
		int len = (int)strcspn(d, ":");
		int n = len ? snprintf(path, sizeof(path), "%.*s/%s", len, d, cmd)
			    : snprintf(path, sizeof(path), "./%s", cmd);
		if (n > 0 && (size_t)n < sizeof(path) && executable_file(path))
			return true;
		if (d[len] == '\0')
			return false;
	}
}

/* Exits 127 if cmd cannot be found, 126 if it is not an executable file. */
static void check_command(const char *cmd)
{
	if (strchr(cmd, '/') ? executable_file(cmd) : in_path(cmd))
		return;
	if (strchr(cmd, '/') && access(cmd, F_OK) == 0)
		gp_die(GP_EXIT_NOT_EXECUTABLE, "not an executable file: %s", cmd);
	gp_die(GP_EXIT_NOT_FOUND, "command not found: %s", cmd);
}

/* Sets name=value in the environment, or fails. */
static void set_env(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0)
		gp_die(GP_EXIT_USAGE, "cannot set %s: %s", name, strerror(errno));
}

noreturn void gp_cmd_run(int argc, char **argv)
{
	char stack[32] = "", lib[PATH_MAX], procs[8] = "";
	char *report = NULL, *preload;
	const char *v, *old;
	bool debug = false;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if ((v = gp_option_value("--procs", argc, argv, &i))) {
			snprintf(procs, sizeof(procs), "%d", parse_procs(v));
		} else if ((v = gp_option_value("--stack", argc, argv, &i))) {
			parse_stack(v, stack, sizeof(stack));
		} else if ((v = gp_option_value("--report", argc, argv, &i))) {
			free(report);
			report = parse_report(v);
		} else if (strcmp(argv[i], "--debug") == 0) {
			debug = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			gp_usage();
			exit(GP_EXIT_OK);
		} else if (argv[i][0] == '-') {
			gp_die_usage("unknown option '%s'", argv[i]);
		} else {
			gp_die_usage("missing '--' before the command '%s'", argv[i]);
		}
	}
	if (i == argc)
		gp_die_usage("missing '--' and the command to run");
	if (++i == argc)
		gp_die_usage("missing the command after '--'");

	library_path(lib);
	if (access(lib, F_OK) != 0)
		gp_die(GP_EXIT_USAGE,
		       "library %s not found (build it with make, or install it with make install)",
		       lib);
	check_command(argv[i]);

	old = getenv("LD_PRELOAD");
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "") < 0)
		gp_die(GP_EXIT_USAGE, "out of memory");
	set_env("LD_PRELOAD", preload);
	if (procs[0])
		set_env("GREENPOLL_PROCS", procs);
	if (stack[0])
		set_env("GREENPOLL_STACK", stack);
	if (debug)
		set_env("GREENPOLL_DEBUG", "1");
	if (report)
		set_env("GREENPOLL_REPORT", report);
	execvp(argv[i], argv + i);
	gp_die(errno == ENOENT ? GP_EXIT_NOT_FOUND : GP_EXIT_NOT_EXECUTABLE, "cannot run %s: %s",
	       argv[i], strerror(errno));
}
