/*
 * top.c — `greenpoll top PID [--interval SECONDS] [--once | -n COUNT]`: PID's figures,
 * refreshed.
 *
 * Each refresh is a sample: the answers to `stats`, `tasks` and `report` and the monotonic
 * time they were taken. A frame compares two samples: every counter with its value and its
 * change per second (first the groups an operator looks at first: tasks, carriers, parks,
 * wakes, netpoll, scheduler, handoffs, preemption, FS-base writes; then the others, each in
 * the order the process gives them), the ten busiest tasks by run time gained per second (100% is one CPU)
 * with their state and what they wait on, and the first lines of the blocking report. So the
 * first frame comes one interval after the start.
 *
 * Two ways to show frames:
 *   screen  stdout is a terminal and no count was given: each frame replaces the last (ANSI
 *           clear and home), cut to the terminal's size; the terminal is put in non-canonical
 *           mode without echo so `q` quits at once, and restored on every way out (q, the
 *           process ending, an error, SIGINT, SIGTERM, SIGHUP); after a stop (^Z) and a
 *           continue the mode is set again.
 *   plain   --once, -n COUNT, or stdout not a terminal: frames one after the other as plain
 *           text, a blank line between them; COUNT frames, or until the process ends.
 * Either way, the process ending ends the command (status 0) with the line "process PID
 * exited"; any other failure to ask it is its one line and status, as for `dump`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"

#define BUSIEST 10          /* tasks shown, at most */
#define BUSIEST_MIN 3       /* tasks shown on a screen too small for all */
#define REPORT_LINES 5      /* lines of the blocking report shown, at most */
#define COUNTERS_MIN 6      /* counters a screen shows before it shows more tasks */
#define FRAME_TITLES 9      /* lines of a frame that are not counters, tasks or report */
#define COMMAND_MAX 60      /* characters of the command line shown */

struct counter {
	char name[64];
	long long value;
};

struct task_row {
	long long tid, carrier, run_ns, wait_ns;
	char state[24], what[96], name[32];
	double cpu;             /* percent of one CPU over the last interval */
};

struct sample {
	double at;              /* seconds, CLOCK_MONOTONIC */
	struct counter *counters;
	int ncounters;
	struct task_row *tasks;
	int ntasks;
	char *report;           /* the whole answer */
};

/*
 * The counters shown first, by the start of their names, in this order (the library's names
 * are GROUP.NAME: tasks.live, carriers.alive, sched.steals...).
 */
static const char *const first_counters[] = {
	"tasks", "carriers", "parks", "wakes", "netpoll", "sched", "handoffs", "preempt", "fs",
};

/* The counters the header shows. */
#define LIVE_TASKS "tasks.live"
#define LIVE_CARRIERS "carriers.alive"

/* How many rows of each section a frame shows (-1: all). */
struct layout {
	int counters, tasks, report;
};

static struct termios saved_termios, raw_termios;
static bool termios_saved;

static void restore_terminal(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
}

static void on_fatal_signal(int sig)
{
	restore_terminal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Back from a stop (^Z, fg): the shell gave the terminal its own modes meanwhile. */
static void on_continue(int sig)
{
	(void)sig;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw_termios);
}

/* Puts the terminal on stdin in non-canonical mode without echo, restored at exit. */
static void raw_terminal(void)
{
	if (tcgetattr(STDIN_FILENO, &saved_termios) != 0)
		return; /* stdin is no terminal: q cannot be read, signals still end top */
	termios_saved = true;
	atexit(restore_terminal);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	signal(SIGCONT, on_continue);
	raw_termios = saved_termios;
	raw_termios.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw_termios.c_cc[VMIN] = 0;
	raw_termios.c_cc[VTIME] = 0;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw_termios);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort orders: tasks by tid; pointers to tasks by CPU, the busiest first, then by tid. */
static int by_tid(const void *a, const void *b)
{
	const struct task_row *x = a, *y = b;

	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int by_cpu(const void *a, const void *b)
{
	const struct task_row *x = *(const struct task_row *const *)a;
	const struct task_row *y = *(const struct task_row *const *)b;

	if (x->cpu != y->cpu)
		return x->cpu < y->cpu ? 1 : -1;
	return by_tid(x, y);
}

/* The "NAME VALUE" lines of a stats answer. */
static void parse_stats(char *text, struct sample *s)
{
	int cap = 0;
	char name[64];
	long long value;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "%63s %lld", name, &value) != 2)
			continue;
		if (s->ncounters == cap) {
			cap = cap ? cap * 2 : 64;
			s->counters = realloc(s->counters, (size_t)cap * sizeof(*s->counters));
			if (!s->counters)
				gp_die(GP_EXIT_OUTPUT, "out of memory");
		}
		struct counter *c = &s->counters[s->ncounters++];
		snprintf(c->name, sizeof(c->name), "%s", name);
		c->value = value;
	}
}

/* The tab-separated lines of a tasks answer: TID STATE CARRIER RUN_NS WAIT_NS WHAT NAME. */
static void parse_tasks(char *text, struct sample *s)
{
	int cap = 0;
	char *line, *rest = text;

	while ((line = strsep(&rest, "\n"))) {
		char *f[7];
		int n = 0;
		while (n < 7 && (f[n] = strsep(&line, "\t")))
			n++;
		if (n < 7)
			continue;
		if (s->ntasks == cap) {
			cap = cap ? cap * 2 : 64;
			s->tasks = realloc(s->tasks, (size_t)cap * sizeof(*s->tasks));
			if (!s->tasks)
				gp_die(GP_EXIT_OUTPUT, "out of memory");
		}
		struct task_row *t = &s->tasks[s->ntasks++];
		t->tid = atoll(f[0]);
		t->carrier = atoll(f[2]);
		t->run_ns = atoll(f[3]);
		t->wait_ns = atoll(f[4]);
		snprintf(t->state, sizeof(t->state), "%s", f[1]);
		snprintf(t->what, sizeof(t->what), "%s", f[5]);
		snprintf(t->name, sizeof(t->name), "%s", f[6]);
		t->cpu = 0;
	}
	if (s->ntasks)
		qsort(s->tasks, (size_t)s->ntasks, sizeof(*s->tasks), by_tid);
}

static void free_sample(struct sample *s)
{
	free(s->counters);
	free(s->tasks);
	free(s->report);
	*s = (struct sample){0};
}

/*
 * Takes a sample of pid; GP_EXIT_OK, or the failure's status with its line in why (the
 * process ending is GP_EXIT_NO_PROCESS).
 */
static int take_sample(pid_t pid, struct sample *s, char *why, size_t n)
{
	static const char *const requests[] = {"stats", "tasks", "report"};
	struct gp_answer answers[3];
	int status = GP_EXIT_OK, i;

	*s = (struct sample){.at = now()};
	for (i = 0; i < 3 && status == GP_EXIT_OK; i++)
		status = gp_ask(pid, requests[i], GP_ASK_TIMEOUT_MS, &answers[i], why, n);
	if (status != GP_EXIT_OK) {
		while (i-- > 0)
			gp_answer_free(&answers[i]);
		return status;
	}
	parse_stats(answers[0].text, s);
	parse_tasks(answers[1].text, s);
	s->report = answers[2].text;
	gp_answer_free(&answers[0]);
	gp_answer_free(&answers[1]);
	return GP_EXIT_OK;
}

/* Where a counter goes: its place in first_counters, or after them all. */
static int counter_rank(const char *name)
{
	int n = (int)(sizeof(first_counters) / sizeof(first_counters[0]));

	for (int i = 0; i < n; i++)
		if (strncmp(name, first_counters[i], strlen(first_counters[i])) == 0)
			return i;
	return n;
}

/* The value of counter name in s, or -1 when s has none (counters are never negative). */
static long long counter_value(const struct sample *s, const char *name)
{
	for (int i = 0; i < s->ncounters; i++)
		if (strcmp(s->counters[i].name, name) == 0)
			return s->counters[i].value;
	return -1;
}

/*
 * Fills each task's cpu from its run time gained since prev (a new task: all of it); both
 * samples' tasks are sorted by tid, so a program with 10,000 threads costs no more than a sort.
 */
static void task_rates(const struct sample *prev, struct sample *cur)
{
	double dt = cur->at - prev->at;

	for (int i = 0; i < cur->ntasks; i++) {
		struct task_row *t = &cur->tasks[i];
		const struct task_row *was =
			prev->ntasks ? bsearch(t, prev->tasks, (size_t)prev->ntasks,
					       sizeof(*prev->tasks), by_tid)
				     : NULL;
		long long before = was ? was->run_ns : 0;
		t->cpu = t->run_ns > before ? (double)(t->run_ns - before) / (dt * 1e7) : 0;
	}
}

/* The command line of pid from /proc, arguments separated by spaces, cut to COMMAND_MAX. */
static void command_line(pid_t pid, char *buf, size_t n)
{
	char path[64];
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf[0] = '\0';
	if ((f = fopen(path, "re"))) {
		len = fread(buf, 1, n - 1, f);
		fclose(f);
	}
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0' || buf[i] == '\n')
			buf[i] = ' ';
	if (len > COMMAND_MAX)
		strcpy(buf + COMMAND_MAX - 3, "...");
}

/*
 * The counters' section, at most max rows of them (max < 0: all). A counter of nanoseconds
 * (NAME_ns) changes by a share of one CPU or of the wall clock: its rate is shown in percent.
 */
static void show_counters(FILE *out, const struct sample *prev, const struct sample *cur,
			  int max)
{
	int last = (int)(sizeof(first_counters) / sizeof(first_counters[0]));
	double dt = cur->at - prev->at;
	int shown = 0;

	fprintf(out, "%-28s %14s %12s\n", "COUNTER", "VALUE", "PER SECOND");
	for (int rank = 0; rank <= last; rank++)
		for (int i = 0; i < cur->ncounters && (max < 0 || shown < max); i++) {
			const struct counter *c = &cur->counters[i];
			if (counter_rank(c->name) != rank)
				continue;
			long long before = counter_value(prev, c->name);
			size_t len = strlen(c->name);
			bool ns = len > 3 && strcmp(c->name + len - 3, "_ns") == 0;
			double rate = (double)(c->value - before) / dt;
			if (before < 0)
				fprintf(out, "%-28s %14lld %12s\n", c->name, c->value, "-");
			else if (ns)
				fprintf(out, "%-28s %14lld %11.1f%%\n", c->name, c->value, rate / 1e7);
			else
				fprintf(out, "%-28s %14lld %12.1f\n", c->name, c->value, rate);
			shown++;
		}
}

/* The busiest tasks' section, max rows (cur's cpu filled by task_rates). */
static void show_tasks(FILE *out, const struct sample *cur, int max)
{
	const struct task_row **busiest = malloc((size_t)cur->ntasks * sizeof(*busiest) + 1);

	if (!busiest)
		gp_die(GP_EXIT_OUTPUT, "out of memory");
	for (int i = 0; i < cur->ntasks; i++)
		busiest[i] = &cur->tasks[i];
	qsort(busiest, (size_t)cur->ntasks, sizeof(*busiest), by_cpu);
	fprintf(out, "BUSIEST TASKS\n%8s %-16s %6s %-10s %7s  %s\n", "TID", "NAME", "%CPU", "STATE",
		"CARRIER", "WAITS ON");
	for (int i = 0; i < cur->ntasks && i < max; i++) {
		const struct task_row *t = busiest[i];
		char carrier[24] = "-", waits[128] = "-";
		if (t->carrier >= 0)
			snprintf(carrier, sizeof(carrier), "%lld", t->carrier);
		if (strcmp(t->what, "-") != 0)
			snprintf(waits, sizeof(waits), "%s (%.1f s)", t->what, (double)t->wait_ns / 1e9);
		fprintf(out, "%8lld %-16s %6.1f %-10s %7s  %s\n", t->tid,
			strcmp(t->name, "-") ? t->name : "", t->cpu, t->state, carrier, waits);
	}
	free(busiest);
}

/* The first max lines of the blocking report. */
static void show_report(FILE *out, const struct sample *cur, int max)
{
	const char *p = cur->report;

	fputs("CALLS THAT BLOCK CARRIERS (greenpoll report)\n", out);
	for (int i = 0; i < max && *p; i++) {
		size_t len = strcspn(p, "\n");
		fprintf(out, "%.*s\n", (int)len, p);
		p += len + (p[len] == '\n');
	}
}

/*
 * Writes to stdout at most rows lines of text (rows < 0: all), each cut to cols characters
 * (UTF-8 continuation bytes are not characters).
 */
static void write_cut(const char *text, int rows, int cols)
{
	for (int row = 0; *text && (rows < 0 || row < rows); row++) {
		size_t len = strcspn(text, "\n"), keep = 0;
		for (int chars = 0; keep < len; keep++) {
			if (((unsigned char)text[keep] & 0xc0) != 0x80 && chars++ == cols)
				break;
		}
		fwrite(text, 1, keep, stdout);
		fputc('\n', stdout);
		text += len + (text[len] == '\n');
	}
}

/* Lines in text, at most max. */
static int count_lines(const char *text, int max)
{
	int n = 0;

	for (; *text && n < max; n++)
		text += strcspn(text, "\n") + (text[strcspn(text, "\n")] == '\n');
	return n;
}

/*
 * The rows of each section: plain frames show every counter; a screen of rows lines (the
 * last left empty) gives the report and the busiest tasks theirs, then the counters the rest,
 * taking rows from the tasks (down to BUSIEST_MIN) when fewer than COUNTERS_MIN are left.
 */
static struct layout plan(const struct sample *cur, bool screen, int rows)
{
	struct layout l = {
		.counters = -1,
		.tasks = cur->ntasks < BUSIEST ? cur->ntasks : BUSIEST,
		.report = count_lines(cur->report, REPORT_LINES),
	};

	if (!screen)
		return l;
	l.counters = rows - 1 - FRAME_TITLES - l.tasks - l.report;
	while (l.counters < COUNTERS_MIN && l.tasks > BUSIEST_MIN) {
		l.tasks--;
		l.counters++;
	}
	if (l.counters < 0)
		l.counters = 0;
	return l;
}

/*
 * One frame from prev and cur: on the screen (cut to the terminal's size, replacing the last
 * frame) or as plain text.
 */
static void show_frame(pid_t pid, const struct sample *prev, struct sample *cur, double interval,
		       bool screen)
{
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	char cmd[COMMAND_MAX + 1], carriers_text[24] = "-", *text = NULL;
	size_t size = 0;
	long long live = counter_value(cur, LIVE_TASKS), carriers = counter_value(cur, LIVE_CARRIERS);
	FILE *out = open_memstream(&text, &size);

	if (!out)
		gp_die(GP_EXIT_OUTPUT, "out of memory");
	if (screen && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && (!ws.ws_row || !ws.ws_col))
		ws = (struct winsize){.ws_row = 24, .ws_col = 80}; /* a terminal that has no size */
	struct layout rows = plan(cur, screen, ws.ws_row);
	task_rates(prev, cur);
	command_line(pid, cmd, sizeof(cmd));
	if (carriers >= 0)
		snprintf(carriers_text, sizeof(carriers_text), "%lld", carriers);
	fprintf(out, "pid %d: %s\ntasks %lld  carriers %s  every %.1f s%s\n\n", (int)pid, cmd,
		live >= 0 ? live : cur->ntasks, carriers_text, interval, screen ? "  (q quits)" : "");
	show_counters(out, prev, cur, rows.counters);
	fputc('\n', out);
	show_tasks(out, cur, rows.tasks);
	fputc('\n', out);
	show_report(out, cur, rows.report);
	fclose(out);
	if (screen) {
		fputs("\033[H\033[2J", stdout);
		write_cut(text, ws.ws_row - 1, ws.ws_col);
	} else {
		fputs(text, stdout);
	}
	fflush(stdout);
	free(text);
}

/*
 * Waits until deadline (seconds, CLOCK_MONOTONIC); on the screen, reads keys meanwhile.
 * Returns false when `q` was pressed.
 */
static bool wait_until(double deadline, bool keys)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	char key;

	for (double left; (left = deadline - now()) > 0;) {
		int ms = (int)(left * 1000) + 1;
		if (!keys) {
			poll(NULL, 0, ms);
			continue;
		}
		if (poll(&p, 1, ms) > 0) {
			if (read(STDIN_FILENO, &key, 1) == 1 && (key == 'q' || key == 'Q'))
				return false;
			if (p.revents & (POLLHUP | POLLERR))
				keys = false; /* the terminal went away: only the deadline is left */
		}
	}
	return true;
}

int gp_cmd_top(int argc, char **argv)
{
	int interval_ms = 1000, count = -1, status;
	struct sample prev, cur;
	char why[512];
	pid_t pid = 0;
	const char *v;

	for (int i = 1; i < argc; i++) {
		if ((v = gp_option_value("--interval", argc, argv, &i))) {
			interval_ms = gp_parse_seconds("--interval", v, 0.1, 3600);
		} else if ((v = gp_option_value("-n", argc, argv, &i))) {
			char *end;
			long n = strtol(v, &end, 10);
			if (v[0] < '0' || v[0] > '9' || *end || n < 1 || n > 1000000)
				gp_die_usage("-n wants a count of frames 1..1000000, got '%s'", v);
			count = (int)n;
		} else if (strcmp(argv[i], "--once") == 0) {
			count = 1;
		} else {
			gp_pid_argument("top", argv[i], &pid);
		}
	}
	if (!pid)
		gp_die_usage("top needs the PID of a process running under greenpoll");

	bool screen = count < 0 && isatty(STDOUT_FILENO);
	double interval = interval_ms / 1000.0;

	status = take_sample(pid, &prev, why, sizeof(why));
	if (status != GP_EXIT_OK)
		gp_die(status, "%s", why);
	if (screen) {
		raw_terminal();
		printf("\033[H\033[2Jgreenpoll top: pid %d, first figures in %.1f s; q quits\n",
		       (int)pid, interval);
		fflush(stdout);
	}
	for (int frame = 0; count < 0 || frame < count; frame++) {
		if (!wait_until(prev.at + interval, screen && termios_saved))
			break;
		status = take_sample(pid, &cur, why, sizeof(why));
		if (status != GP_EXIT_OK && gp_process_gone(pid)) {
			printf("%sprocess %d exited\n", frame > 0 && !screen ? "\n" : "", (int)pid);
			status = GP_EXIT_OK;
			break;
		}
		if (status != GP_EXIT_OK) {
			restore_terminal();
			gp_die(status, "%s", why);
		}
		if (frame > 0 && !screen)
			putchar('\n');
		show_frame(pid, &prev, &cur, interval, screen);
		free_sample(&prev);
		prev = cur;
	}
	free_sample(&prev);
	return status;
}
