/*
 * common.c — helpers shared by the runtime benchmarks; see common.h.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long proc_field(const char *path, const char *field)
{
	char line[256];
	size_t len = strlen(field);
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			fclose(f);
			return strtol(line + len + 1, NULL, 10);
		}
	}
	fprintf(stderr, "%s: no field %s\n", path, field);
	exit(1);
}

bool greenpoll_loaded(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f) {
		perror("/proc/self/maps");
		exit(1);
	}
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, "/libgreenpoll.so") != NULL;
	fclose(f);
	return found;
}

long arg_count(int argc, char **argv, int i, long dflt)
{
	char *end;
	long n;

	if (i >= argc)
		return dflt;
	n = strtol(argv[i], &end, 10);
	if (*argv[i] == '\0' || *end != '\0' || n <= 0) {
		fprintf(stderr, "%s: not a positive count: %s\n", argv[0], argv[i]);
		exit(2);
	}
	return n;
}
