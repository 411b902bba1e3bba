/*
 * config.h — greenpoll's settings, read from the environment once at start-up.
 *
 *   GREENPOLL_PROCS  carriers (OS threads running tasks): 1..1024; default the CPUs this
 *                    process may run on
 *   GREENPOLL_STACK  default task stack: bytes, or with a K, M or G suffix; 16K..1G; default
 *                    what glibc gives a new thread (RLIMIT_STACK, 8M here)
 *   GREENPOLL_STACK_CACHE  stack regions (with their TCBs) kept for reuse once the program
 *                    has been idle for half a second; the others go back to the kernel:
 *                    0..100000; default GR_STACK_CACHE_DEFAULT (1)
 *   GREENPOLL_DEBUG  0 or 1: say on stderr what greenpoll started with, and at exit what is
 *                    still in use (tasks, poll descriptors, pooled stack regions)
 *   GREENPOLL_MAX_CARRIERS  carriers in all, spares for blocked calls included:
 *                    GREENPOLL_PROCS..100000; default 1024 (or GREENPOLL_PROCS if more)
 *   GREENPOLL_PREEMPT  time slice of a computing thread before its processor goes to another
 *                    carrier: off, or a duration with us, ms or s, 100us..60s; default 10ms
 *   GREENPOLL_DEADLOCK  wait or abort: what follows the deadlock report; default wait
 *   GREENPOLL_MONITOR  on or off: off (a diagnostic) starts no monitor thread; default on
 *   GREENPOLL_FS_SWITCH  auto or syscall: how a task switch installs the task's TLS; syscall (a
 *                    diagnostic) always uses arch_prctl, the path of machines without user-space
 *                    FSGSBASE; default auto (wrfsbase where the CPU and kernel allow it)
 *   GREENPOLL_FAULTS  faults injected to test a program's I/O handling (fault.h): a comma-
 *                    separated list of short_read:P, short_write:P, eintr:P, delay_wake:TIME@P
 *                    (P a percentage 0..100, TIME 1us..10s with us, ms or s) and seed:N
 *                    (0..2^64-1, default 1); default none
 *   GREENPOLL_CONTROL  on or off: the control channel (a Unix socket the `greenpoll` command
 *                    asks for dumps, stats and the report: ctl_proto.h); default on
 *   GREENPOLL_REPORT  a file the blocking report is written to when the process exits; default
 *                    none
 *   GREENPOLL_REPORT_MIN  the shortest bracketed call the report lists by call site: a duration
 *                    with us, ms or s, 10us..60s; default 1ms
 *   GREENPOLL_DUMP_SIGNAL  a signal on which the task dump is written to stderr (dumpsig.c): a
 *                    name with or without SIG (SIGQUIT, QUIT) or a number 1..64; not one
 *                    that cannot be caught or that reports a fault (SIGKILL, SIGSTOP, SIGSEGV,
 *                    SIGBUS, SIGILL, SIGFPE), nor glibc's own (32, 33), nor the preemption
 *                    signal (GR_PREEMPT_SIGNAL); default none
 *
 * An empty value counts as unset. A bad value is an error: one line on stderr naming the
 * variable and what it must be, and the process exits with status 2 before main.
 */
#ifndef GR_CONFIG_H
#define GR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>

/* the signal greenpoll preempts with and samples running tasks with (preempt.c) */
#define GR_PREEMPT_SIGNAL SIGURG

/* GREENPOLL_FAULTS: percentages (0: never), the delay of a delayed wake-up, the PRNG's seed */
struct shim_faults {
	bool on; /* any percentage above 0 */
	unsigned char short_read, short_write, eintr, delay_wake;
	int64_t delay_ns;
	uint64_t seed;
};

struct shim_config {
	int procs;
	size_t stack;
	size_t stack_cache; /* regions */
	bool debug;
	int max_carriers;
	int64_t preempt_ns; /* 0: off */
	bool deadlock_abort;
	bool monitor;
	bool fs_switch_syscall;
	struct shim_faults faults;
	bool control;
	const char *report; /* the environment's string, or NULL */
	int64_t report_min_ns;
	int dump_signal; /* 0: none */
};

/* Fill cfg; false with a one-line message in why if a setting is bad. */
bool shim_config_load(struct shim_config *cfg, char *why, size_t whylen);

/* Parse a size: digits with an optional K, M or G suffix (binary units). */
bool shim_parse_size(const char *s, size_t *out);

#endif
