/*
 * common.h — helpers shared by the runtime benchmarks in scripts/bench/: a monotonic clock,
 * numeric fields of /proc files, and whether libgreenpoll.so is loaded in this process.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdbool.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds */
int64_t now_ns(void);

/* the number after "FIELD:" in a /proc file such as /proc/self/status or /proc/meminfo
 * (kB for sizes); exits with a message if the field is missing */
long proc_field(const char *path, const char *field);

/* whether libgreenpoll.so is mapped into this process, i.e. the run is under the shim */
bool greenpoll_loaded(void);

/* argv[i] as a positive count, or DEFAULT when absent; exits with a message when malformed */
long arg_count(int argc, char **argv, int i, long dflt);

#endif
