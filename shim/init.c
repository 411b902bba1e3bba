/*
 * init.c — start-up: settings, the glibc self-check, the initial thread becoming the first task,
 * the scheduler; and the landing place for pthread_exit called by main.
 *
 * Start-up runs in this library's constructor, on the process's initial thread, before the
 * program's own constructors. Outcomes:
 *  - a bad GREENPOLL_* setting: one line on stderr, exit status 2;
 *  - the running glibc does not match what the runtime relies on: one line on stderr, and the
 *    program runs without greenpoll (every interposed call goes straight to libc);
 *  - otherwise the initial thread's code is task 1 from here on, running on carrier 0.
 * The only OS thread made here is the control channel's (ctl.c says why; GREENPOLL_CONTROL=off
 * makes none): the carriers start with the program's first pthread_create, so a process that
 * never makes a thread (a shell, a helper) pays only this, that thread and greenpoll's three
 * fds (made now, so that no wait ever needs an fd: runtime/netpoll.h).
 */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "fault.h"
#include "fdtable.h"
#include "fork.h"
#include "monitor.h"
#include "netpoll.h"
#include "sched.h"
#include "stack.h"
#include "throw.h"
#include "tls.h"

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
		      void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
		      void *stack_end);

static struct gr_task *initial_task;
static int (*program_main)(int, char **, char **);
static bool debug; /* GREENPOLL_DEBUG */

static int start_os_thread(void *(*fn)(void *), void *arg)
{
	pthread_t th;
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	/* it starts with every signal blocked: a carrier takes the mask of what it runs
	 * (runtime/sigstate.h), the monitor never takes one */
	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* glibc carves the static TLS out of the size asked for */
	pthread_attr_setstacksize(&attr, (256 << 10) + gr_tls_reserve());
	REAL(pthread_sigmask)(SIG_SETMASK, &all, &old);
	err = REAL(pthread_create)(&th, &attr, fn, arg);
	REAL(pthread_sigmask)(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!err)
		shim_setxid_take_over(); /* glibc has installed its SIGSETXID handler by now */
	return err;
}

/* every module's reset, the shim's included (runtime/fork.h's registry) */
/* a fork child's FS-base writes count from the fork (the parent's were copied with its memory) */
static bool forked;
static uint64_t fs_writes_before_fork;

static void after_fork_child(void)
{
	gr_after_fork_child();
	forked = true;
	fs_writes_before_fork = gr_sched_fs_writes();
}

/* GREENPOLL_DEBUG's exit line: what is still in use (the soak compares it with rest) */
static void say_at_exit(void)
{
	size_t stacks_mapped, stacks_pooled;

	gr_stack_counts(&stacks_mapped, &stacks_pooled);
	gr_say("at exit: %d tasks, %zu poll descriptors in use, %zu stack regions pooled",
	       gr_task_count(), gr_pd_in_use(), stacks_pooled);
}

static void last_task_exited(void)
{
	exit(0);
}

static void task_exiting(struct gr_task *t)
{
	shim_run_key_destructors();
	shim_timers_task_exiting(t);
	shim_signals_task_exiting(t);
}

__attribute__((constructor(101))) static void shim_start(void)
{
	struct shim_config cfg;
	char why[320];
	int preempt_signal;
	struct gr_sched_hooks sched_hooks = {.start_os_thread = start_os_thread};
	struct gr_task_hooks task_hooks = {
		.run = shim_run_task, .at_exit = task_exiting, .last_exited = last_task_exited};

	if (!shim_config_load(&cfg, why, sizeof why)) {
		gr_say("%s", why);
		_exit(2);
	}
	if (!gr_tls_init(why, sizeof why)) {
		gr_say("this glibc does not match what per-task TLS relies on (%s); running "
		       "without greenpoll, threads are plain OS threads",
		       why);
		return;
	}
	shim_faults_init(&cfg.faults, cfg.debug);
	gr_task_set_default_stack(cfg.stack);
	gr_stack_set_cache(cfg.stack_cache);
	gr_task_set_hooks(&task_hooks);
	initial_task = gr_task_adopt_initial(gr_tcb_self(), (int32_t)getpid());
	shim_task_init(initial_task, NULL);
	shim_code_ranges_init();
	shim_signal_init(initial_task, &sched_hooks);
	preempt_signal = cfg.preempt_ns && cfg.monitor ? shim_preempt_init() : 0;
	gr_monitor_configure(&(struct gr_monitor_config){
		.preempt_ns = cfg.preempt_ns,
		.deadlock_abort = cfg.deadlock_abort,
		.debug = cfg.debug,
		.off = !cfg.monitor,
		.preempt_signal = preempt_signal,
		.preempt_cookie = shim_preempt_cookie(),
		.dump = ctl_dump_to});
	if (cfg.fs_switch_syscall)
		gr_sched_use_syscall_switch();
	gr_sched_init(cfg.procs, cfg.max_carriers, initial_task, &sched_hooks);
	gr_netpoll_init();
	report_init(&cfg);
	ctl_init(&cfg, start_os_thread, preempt_signal);
	pthread_atfork(NULL, NULL, after_fork_child);
	debug = cfg.debug;
	if (cfg.debug && cfg.faults.on)
		gr_say("GREENPOLL_FAULTS: short_read:%d,short_write:%d,eintr:%d,"
		       "delay_wake:%lldus@%d,seed:%llu",
		       cfg.faults.short_read, cfg.faults.short_write, cfg.faults.eintr,
		       (long long)(cfg.faults.delay_ns / 1000), cfg.faults.delay_wake,
		       (unsigned long long)cfg.faults.seed);
	if (cfg.debug)
		atexit(say_at_exit);
	if (cfg.debug)
		gr_say("started: GREENPOLL_PROCS=%d GREENPOLL_STACK=%zu GREENPOLL_STACK_CACHE=%zu "
		       "GREENPOLL_MAX_CARRIERS=%d GREENPOLL_PREEMPT=%lldus GREENPOLL_MONITOR=%s, FS "
		       "switch by %s, stack guards %s",
		       cfg.procs, cfg.stack, cfg.stack_cache, cfg.max_carriers,
		       (long long)(cfg.preempt_ns / 1000),
		       cfg.monitor ? "on" : "off",
		       gr_ctx_switch == gr_ctx_switch_wrfs ? "wrfsbase" : "arch_prctl",
		       gr_stack_guards_packed() ? "in the stack's own mapping"
						: "mapped apart (vm.max_map_count bounds tasks)");
}

/* GREENPOLL_DEBUG's last line, as the process ends: how many times the FS base was written (a
 * system call each where the switch is by arch_prctl: what decides the speed there); a fork
 * child that wrote none says nothing (a server's children that _exit at once would fill
 * stderr) */
static void say_fs_writes(void)
{
	uint64_t n = gr_sched_fs_writes() - fs_writes_before_fork;

	if (debug && (n || !forked))
		gr_say("%llu FS-base writes by %s", (unsigned long long)n,
		       gr_ctx_switch == gr_ctx_switch_wrfs ? "wrfsbase" : "arch_prctl");
}

__attribute__((destructor)) static void shim_stop(void) { say_fs_writes(); }

/* _exit and _Exit end the process without destructors (a server's SIGTERM handler calls one):
 * the line first, then what they do, exit_group (raw: a handler may be the caller, and the
 * next definition would have to be looked up) */
GR_EXPORT void _exit(int status)
{
	SHIM_CALLED(_exit);
	say_fs_writes();
	for (;;)
		gr_sys1(SYS_exit_group, status);
}

GR_EXPORT void _Exit(int status)
{
	SHIM_CALLED(_Exit);
	_exit(status);
}

/*
 * main runs under a landing place of ours for pthread_exit's forced unwind (glibc's own, set
 * up by __libc_start_main, would end the initial OS thread, which is carrier 0): when main
 * calls pthread_exit, the initial task ends and the process lives on until the last task ends.
 */
static int main_under_shim(int argc, char **argv, char **envp)
{
	__pthread_unwind_buf_t landing;
	void **slot;
	void *glibc_landing;
	int result;

	if (gr_current_task() != initial_task || !initial_task)
		return program_main(argc, argv, envp);
	slot = gr_tcb_cleanup_slot();
	glibc_landing = *slot;
	if (SHIM_LANDING(landing) == 0) {
		*slot = &landing;
		result = program_main(argc, argv, envp);
		*slot = glibc_landing;
		return result;
	}
	gr_task_exit(shim_of(gr_current_task())->exit_value);
}

GR_EXPORT int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
				void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
				void *stack_end)
{
	SHIM_CALLED(__libc_start_main);
	program_main = main;
	return REAL(__libc_start_main)(main_under_shim, argc, argv, init, fini, rtld_fini,
				       stack_end);
}
