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
#include <unistd.h>

#define MAX_PROCS 1024
#define MIN_STACK ((size_t)16 << 10)
#define MAX_STACK ((size_t)1 << 30)

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
	cfg->debug = false;

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
	if ((v = setting("GREENPOLL_DEBUG"))) {
		if ((v[0] != '0' && v[0] != '1') || v[1]) {
			snprintf(why, whylen,
				 "GREENPOLL_DEBUG='%.40s' is not valid: give 0 or 1, or unset it", v);
			return false;
		}
		cfg->debug = v[0] == '1';
	}
	return true;
}
