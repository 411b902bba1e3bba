/*
 * config.c — GREENPOLL_* settings (see config.h).
 */
#define _GNU_SOURCE
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack.h"

#define MAX_PROCS 1024
#define MIN_STACK ((size_t)16 << 10)
#define MAX_STACK ((size_t)1 << 30)
#define MAX_STACK_CACHE 100000
#define DEFAULT_MAX_CARRIERS 1024
#define MAX_CARRIERS 100000
#define MIN_PREEMPT_NS 100000LL
#define MAX_PREEMPT_NS 60000000000LL
#define DEFAULT_PREEMPT_NS 10000000LL
#define MIN_FAULT_DELAY_NS 1000LL
#define MAX_FAULT_DELAY_NS 10000000000LL
#define DEFAULT_FAULT_SEED 1
#define MIN_REPORT_MIN_NS 10000LL
#define MAX_REPORT_MIN_NS 60000000000LL
#define DEFAULT_REPORT_MIN_NS 1000000LL

static const char *setting(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static bool parse_count(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long n = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		n = n * 10 + (unsigned long)(*s - '0');
		if (n > max)
			return false;
	}
	*out = n;
	return true;
}

bool shim_parse_size(const char *s, size_t *out)
{
	uint64_t n = 0;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > ((uint64_t)1 << 40))
			return false;
	}
	switch (*s) {
	case 'k': case 'K': shift = 10; s++; break;
	case 'm': case 'M': shift = 20; s++; break;
	case 'g': case 'G': shift = 30; s++; break;
	default: break;
	}
	if (*s)
		return false;
	*out = (size_t)(n << shift);
	return true;
}

/* A duration: digits with a us, ms or s suffix, in nanoseconds. */
static bool parse_duration(const char *s, int64_t *out);

/* A whole number from 0 to 2^64-1. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t n = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return true;
}

/* One item of GREENPOLL_FAULTS (NUL-terminated, modified in place): false if not valid. */
static bool parse_fault(char *item, struct shim_faults *f)
{
	char *value = strchr(item, ':'), *at;
	unsigned long pct;

	if (!value)
		return false;
	*value++ = 0;
	if (strcmp(item, "seed") == 0)
		return parse_u64(value, &f->seed);
	if (strcmp(item, "delay_wake") == 0) {
		if (!(at = strchr(value, '@')))
			return false;
		*at = 0;
		if (!parse_duration(value, &f->delay_ns) || f->delay_ns < MIN_FAULT_DELAY_NS ||
		    f->delay_ns > MAX_FAULT_DELAY_NS || !parse_count(at + 1, 100, &pct))
			return false;
		f->delay_wake = (unsigned char)pct;
		return true;
	}
	if (!parse_count(value, 100, &pct))
		return false;
	if (strcmp(item, "short_read") == 0)
		f->short_read = (unsigned char)pct;
	else if (strcmp(item, "short_write") == 0)
		f->short_write = (unsigned char)pct;
	else if (strcmp(item, "eintr") == 0)
		f->eintr = (unsigned char)pct;
	else
		return false;
	return true;
}

static bool parse_faults(const char *v, struct shim_faults *f)
{
	char list[256], *item, *save;

	if (strlen(v) >= sizeof list)
		return false;
	strcpy(list, v);
	for (item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save))
		if (!parse_fault(item, f))
			return false;
	f->on = f->short_read || f->short_write || f->eintr || f->delay_wake;
	return true;
}

static bool parse_duration(const char *s, int64_t *out)
{
	unsigned long n;
	char digits[24];
	size_t len = 0;
	int64_t unit;

	while (s[len] >= '0' && s[len] <= '9')
		len++;
	if (!len || len >= sizeof digits)
		return false;
	memcpy(digits, s, len);
	digits[len] = 0;
	if (!parse_count(digits, 1000000000ul, &n))
		return false;
	if (strcmp(s + len, "us") == 0)
		unit = 1000;
	else if (strcmp(s + len, "ms") == 0)
		unit = 1000000;
	else if (strcmp(s + len, "s") == 0)
		unit = 1000000000;
	else
		return false;
	*out = (int64_t)n * unit;
	return true;
}

/*
 * GREENPOLL_DUMP_SIGNAL's value: a signal's name (with or without SIG) or number, into *sig;
 * NULL if it is one greenpoll may take, else why not (*sig 0 if it names no signal).
 */
static const char *parse_dump_signal(const char *v, int *sig)
{
	const char *name = strncmp(v, "SIG", 3) == 0 ? v + 3 : v;
	unsigned long n;

	*sig = 0;
	if (parse_count(v, _NSIG - 1, &n) && n > 0)
		*sig = (int)n;
	for (int s = 1; s < _NSIG && !*sig; s++)
		if (sigabbrev_np(s) && strcmp(sigabbrev_np(s), name) == 0)
			*sig = s;
	if (!*sig)
		return "it names no signal";
	if (*sig == SIGKILL || *sig == SIGSTOP)
		return "that signal cannot be caught";
	if (*sig == SIGSEGV || *sig == SIGBUS || *sig == SIGILL || *sig == SIGFPE)
		return "that signal reports a fault of the program";
	if (*sig == GR_PREEMPT_SIGNAL)
		return "greenpoll preempts with that signal";
	if (*sig > SIGSYS && *sig < SIGRTMIN)
		return "glibc keeps that signal for itself";
	return NULL;
}

static int default_procs(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set) < MAX_PROCS ? CPU_COUNT(&set) : MAX_PROCS;
	return 1;
}

/* what glibc gives a thread created without a stack size */
static size_t default_stack(void)
{
	pthread_attr_t attr;
	size_t size = (size_t)8 << 20;

	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_getstacksize(&attr, &size);
		pthread_attr_destroy(&attr);
	}
	return size;
}

bool shim_config_load(struct shim_config *cfg, char *why, size_t whylen)
{
	const char *v;
	unsigned long n;

	cfg->procs = default_procs();
	cfg->stack = default_stack();
	cfg->stack_cache = GR_STACK_CACHE_DEFAULT;
	cfg->debug = false;
	cfg->preempt_ns = DEFAULT_PREEMPT_NS;
	cfg->deadlock_abort = false;
	cfg->monitor = true;
	cfg->fs_switch_syscall = false;
	cfg->faults = (struct shim_faults){.seed = DEFAULT_FAULT_SEED};
	cfg->control = true;
	cfg->report = NULL;
	cfg->report_min_ns = DEFAULT_REPORT_MIN_NS;
	cfg->dump_signal = 0;

	if ((v = setting("GREENPOLL_PROCS"))) {
		if (!parse_count(v, MAX_PROCS, &n) || n < 1) {
			snprintf(why, whylen,
				 "GREENPOLL_PROCS='%.40s' is not valid: give the number of carrier "
				 "threads, a whole number from 1 to %d, or unset it",
				 v, MAX_PROCS);
			return false;
		}
		cfg->procs = (int)n;
	}
	if ((v = setting("GREENPOLL_STACK"))) {
		size_t size;

		if (!shim_parse_size(v, &size) || size < MIN_STACK || size > MAX_STACK) {
			snprintf(why, whylen,
				 "GREENPOLL_STACK='%.40s' is not valid: give the default task stack "
				 "size from 16K to 1G (bytes, or with a K, M or G suffix), or unset it",
				 v);
			return false;
		}
		cfg->stack = size;
	}
	if ((v = setting("GREENPOLL_STACK_CACHE"))) {
		if (!parse_count(v, MAX_STACK_CACHE, &n)) {
			snprintf(why, whylen,
				 "GREENPOLL_STACK_CACHE='%.40s' is not valid: give the number of thread "
				 "stacks kept for reuse when idle, a whole number from 0 to %d, or unset "
				 "it",
				 v, MAX_STACK_CACHE);
			return false;
		}
		cfg->stack_cache = n;
	}
	if ((v = setting("GREENPOLL_DEBUG"))) {
		if ((v[0] != '0' && v[0] != '1') || v[1]) {
			snprintf(why, whylen,
				 "GREENPOLL_DEBUG='%.40s' is not valid: give 0 or 1, or unset it", v);
			return false;
		}
		cfg->debug = v[0] == '1';
	}
	cfg->max_carriers = cfg->procs > DEFAULT_MAX_CARRIERS ? cfg->procs : DEFAULT_MAX_CARRIERS;
	if ((v = setting("GREENPOLL_MAX_CARRIERS"))) {
		if (!parse_count(v, MAX_CARRIERS, &n) || n < (unsigned long)cfg->procs) {
			snprintf(why, whylen,
				 "GREENPOLL_MAX_CARRIERS='%.40s' is not valid: give the most carrier "
				 "threads, spares for blocked calls included, a whole number from "
				 "GREENPOLL_PROCS (%d) to %d, or unset it",
				 v, cfg->procs, MAX_CARRIERS);
			return false;
		}
		cfg->max_carriers = (int)n;
	}
	if ((v = setting("GREENPOLL_PREEMPT"))) {
		int64_t ns;

		if (strcmp(v, "off") == 0) {
			cfg->preempt_ns = 0;
		} else if (parse_duration(v, &ns) && ns >= MIN_PREEMPT_NS && ns <= MAX_PREEMPT_NS) {
			cfg->preempt_ns = ns;
		} else {
			snprintf(why, whylen,
				 "GREENPOLL_PREEMPT='%.40s' is not valid: give off, or a time slice "
				 "from 100us to 60s with a unit (us, ms or s, e.g. 10ms), or unset it",
				 v);
			return false;
		}
	}
	if ((v = setting("GREENPOLL_DEADLOCK"))) {
		if (strcmp(v, "wait") != 0 && strcmp(v, "abort") != 0) {
			snprintf(why, whylen,
				 "GREENPOLL_DEADLOCK='%.40s' is not valid: give wait or abort, or unset "
				 "it",
				 v);
			return false;
		}
		cfg->deadlock_abort = strcmp(v, "abort") == 0;
	}
	if ((v = setting("GREENPOLL_MONITOR"))) {
		if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
			snprintf(why, whylen,
				 "GREENPOLL_MONITOR='%.40s' is not valid: give on or off, or unset it",
				 v);
			return false;
		}
		cfg->monitor = strcmp(v, "on") == 0;
	}
	if ((v = setting("GREENPOLL_FS_SWITCH"))) {
		if (strcmp(v, "auto") != 0 && strcmp(v, "syscall") != 0) {
			snprintf(why, whylen,
				 "GREENPOLL_FS_SWITCH='%.40s' is not valid: give auto or syscall, or unset "
				 "it",
				 v);
			return false;
		}
		cfg->fs_switch_syscall = strcmp(v, "syscall") == 0;
	}
	if ((v = setting("GREENPOLL_FAULTS")) && !parse_faults(v, &cfg->faults)) {
		snprintf(why, whylen,
			 "GREENPOLL_FAULTS='%.60s' is not valid: give a comma-separated list of "
			 "short_read:P, short_write:P, eintr:P, delay_wake:TIME@P (P a percentage "
			 "0..100, TIME 1us..10s with us, ms or s) and seed:N, or unset it",
			 v);
		return false;
	}
	if ((v = setting("GREENPOLL_CONTROL"))) {
		if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
			snprintf(why, whylen,
				 "GREENPOLL_CONTROL='%.40s' is not valid: give on or off, or unset it", v);
			return false;
		}
		cfg->control = strcmp(v, "on") == 0;
	}
	if ((v = setting("GREENPOLL_REPORT"))) {
		if (strlen(v) >= 4096) {
			snprintf(why, whylen,
				 "GREENPOLL_REPORT='%.40s...' is not valid: give a file name shorter "
				 "than 4096 bytes, or unset it",
				 v);
			return false;
		}
		cfg->report = v;
	}
	if ((v = setting("GREENPOLL_REPORT_MIN"))) {
		int64_t ns;

		if (!parse_duration(v, &ns) || ns < MIN_REPORT_MIN_NS || ns > MAX_REPORT_MIN_NS) {
			snprintf(why, whylen,
				 "GREENPOLL_REPORT_MIN='%.40s' is not valid: give the shortest blocking "
				 "call the report lists, from 10us to 60s with a unit (us, ms or s, e.g. "
				 "1ms), or unset it",
				 v);
			return false;
		}
		cfg->report_min_ns = ns;
	}
	if ((v = setting("GREENPOLL_DUMP_SIGNAL"))) {
		const char *bad = parse_dump_signal(v, &cfg->dump_signal);

		if (bad) {
			snprintf(why, whylen,
				 "GREENPOLL_DUMP_SIGNAL='%.40s' is not valid (%s): give the signal for a "
				 "task dump on stderr, e.g. SIGQUIT, QUIT or 3 (not KILL, STOP, SEGV, "
				 "BUS, ILL, FPE, URG), or unset it",
				 v, bad);
			return false;
		}
	}
	return true;
}
