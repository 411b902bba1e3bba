/*
 * ctl.h — the control channel (ctl.c) and the answers it gives: stats (ctl_stats.c), dump and
 * tasks (dump.c), the blocking report (report.c). Each answer writer streams into a gr_out and
 * may be called from any thread that is not a task (the control thread, the monitor, exit).
 */
#ifndef GR_CTL_H
#define GR_CTL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "out.h"

/* At start-up, on the initial task: the channel for this process (unless off), served by an
 * OS thread of its own started with start_os_thread. timer_signal: the preemption signal, whose
 * handler is greenpoll's, for a fork child's timer (0: none; ctl.c). */
void ctl_init(const struct shim_config *cfg, int (*start_os_thread)(void *(*)(void *), void *),
	      int timer_signal);

/* A fork child's channel timer (ctl.c): the value its signal carries; and its signal came, in
 * code where the task may call anything (may_start: the channel is made now) or not (the timer
 * is armed again a little later). */
void *ctl_child_timer_cookie(void);
void ctl_child_timer_fired(bool may_start);

/* GREENPOLL_DUMP_SIGNAL (dumpsig.c). At start-up: take signal sig for dumps; false if it
 * cannot be. On the control thread: the mask its waits let the signal in with (false: no
 * dump signal), and whether a dump was asked for since the last look. */
bool ctl_dump_signal_init(int sig);
bool ctl_dump_signal_wait_mask(sigset_t *mask);
bool ctl_dump_signal_asked(void);

/* CLOCK_MONOTONIC ns at start-up (the run's length, for stats and the report). */
int64_t ctl_started_at(void);

/* The process's command name (/proc/self/comm) into buf (size n). */
void ctl_command_name(char *buf, size_t n);

/* The blocking report's settings (report.c), at start-up (a fork child starts an empty report
 * that is not written at exit: the parent's file is the parent's). */
void report_init(const struct shim_config *cfg);

void ctl_stats(struct gr_out *o, bool json);
void ctl_dump(struct gr_out *o, bool json);
void ctl_tasks(struct gr_out *o);

/*
 * The program's part of the backtrace pcs[0..n): from *first (greenpoll's innermost frames
 * left out; with keep_entry, but for the one the program called: read, the mutex lock) to
 * the returned end: the next frame in greenpoll (a task's start, main's caller) and the ones
 * past it (libc's start of the process) left out.
 */
int ctl_program_frames(const uintptr_t *pcs, int n, bool keep_entry, int *first);

/* Frame i of a backtrace, its names f: a text line "    #i FUNCTION (PATH+0xADDR)", or a
 * JSON object {"function", "module", "address"} (with a ", " before it but for the first);
 * the module part only where the frame is in an object file. `greenpoll` finds these to add
 * file:line (cli/lines.c): their form is its to read. */
struct gr_frame_name;
void ctl_frame(struct gr_out *o, int i, const struct gr_frame_name *f, bool json);

/* The text dump written to fd (the deadlock report's). */
void ctl_dump_to(int fd);
void ctl_report(struct gr_out *o, bool json);

#endif
