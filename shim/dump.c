/*
 * dump.c — the `dump` and `tasks` answers, and the dump the monitor's deadlock report prints.
 *
 * A dump is made in two steps: views of every live task are copied under the task list lock
 * (runtime/inspect.h: the array is allocated first, with room to spare, and allocated again
 * if the tasks outgrew it), then each task is described and unwound with no lock held, its
 * lines streamed to the reader through a small buffer (thousands of tasks are never one
 * string). What each task shows:
 *  - its id (the gettid() the program sees), its name (pthread_setname_np), its state:
 *    running on carrier N, in a bracketed call (the call's name: the carrier is blocked in the
 *    kernel), runnable, or parked;
 *  - a parked task's wait and how long it has lasted: a socket's fd, direction and peer
 *    (getpeername; a listening socket's own address, the wait being an accept), the object
 *    (mutex, condvar, rwlock, barrier, semaphore, futex) by address, a join's target thread,
 *    a deadline if the wait has one (a sleep's end);
 *  - a backtrace of a task that is not running, from its saved registers: each frame's
 *    function+offset (libunwind reads the symbol tables of the files, static functions
 *    included, so a program built without -rdynamic is named too), and the object file it is
 *    in with the address in that file, "(PATH+0xADDR)" (JSON: "module", "address"). No
 *    file:line here: libunwind does not read DWARF line tables, and reading them in the
 *    process would mean a DWARF reader in the library and its costs in every program; the
 *    `greenpoll` command reads them out of the process (cli/lines.c) from the object and
 *    address each frame names, and `addr2line -e PATH ADDR` does the same by hand (the
 *    deadlock report, GREENPOLL_DUMP_SIGNAL, the report written at exit). greenpoll's own
 *    innermost frames (the switch, the park) are left out. A running task is sampled on its
 *    carrier (runtime/inspect.h says when it cannot be: then it shows no backtrace, and why).
 * Symbol lookups read files: each address is looked up once per dump (names are cached by
 * address), so thousands of tasks parked at the same few places cost a few lookups.
 */
#define _GNU_SOURCE
#include "shim.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctl.h"
#include "fdtable.h"
#include "inspect.h"
#include "netpoll.h"
#include "stats.h"
#include "sys.h"

#define VIEW_SLACK 64	   /* views allocated beyond the tasks counted */
#define SYMBOL_CACHE 1024 /* addresses whose names a dump keeps (a power of two) */

struct symbol_cache {
	uintptr_t key[SYMBOL_CACHE]; /* pc * 2 + exact (pc - 1 is looked up unless exact) */
	struct gr_frame_name name[SYMBOL_CACHE];
};

void shim_unwind_ready(void)
{
	static atomic_int state; /* 0: not yet, 1: being made ready, 2: ready */
	int expect = 0;

	if (atomic_load_explicit(&state, memory_order_acquire) == 2)
		return;
	if (atomic_compare_exchange_strong(&state, &expect, 1)) {
		shim_hide_library_fds(gr_unwind_init);
		atomic_store_explicit(&state, 2, memory_order_release);
		return;
	}
	while (atomic_load_explicit(&state, memory_order_acquire) != 2) {
		if (gr_current_task())
			gr_yield(); /* the one making it ready may share this carrier */
		else
			REAL(sched_yield)();
	}
}

static const struct gr_frame_name *symbol(struct symbol_cache *c, uintptr_t pc, bool exact)
{
	uintptr_t key = pc * 2 + exact;
	size_t i = (size_t)((key >> 2) * 0x9e3779b97f4a7c15ull >> 54) & (SYMBOL_CACHE - 1);

	if (c->key[i] != key) {
		shim_unwind_ready();
		gr_symbolise(pc, exact, &c->name[i]);
		c->key[i] = key;
	}
	return &c->name[i];
}

void ctl_frame(struct gr_out *o, int i, const struct gr_frame_name *f, bool json)
{
	if (json) {
		gr_out_puts(o, i ? ", {\"function\": \"" : "{\"function\": \"");
		gr_out_json_str(o, f->func);
		if (f->module[0]) {
			gr_out_puts(o, "\", \"module\": \"");
			gr_out_json_str(o, f->module);
			gr_out_printf(o, "\", \"address\": \"0x%lx", (unsigned long)f->addr);
		}
		gr_out_puts(o, "\"}");
	} else if (f->module[0]) {
		gr_out_printf(o, "    #%d %s (%s+0x%lx)\n", i, f->func, f->module, (unsigned long)f->addr);
	} else {
		gr_out_printf(o, "    #%d %s\n", i, f->func);
	}
}

/* Views of every live task, in a new array (*n of them); NULL out of memory. */
static struct gr_task_view *all_views(int *n)
{
	int room = gr_task_count() + VIEW_SLACK;

	for (;;) {
		struct gr_task_view *v = malloc((size_t)room * sizeof *v);

		if (!v)
			return NULL;
		*n = gr_task_views(v, room);
		if (*n <= room)
			return v;
		free(v);
		room = *n + VIEW_SLACK;
	}
}

static const char *state_name(const struct gr_task_view *v)
{
	const struct shim_task *s = (const struct shim_task *)v->local;

	switch (v->state) {
	case GR_TASK_RUNNING: return s->blocking_depth ? "blocked" : "running";
	case GR_TASK_RUNNABLE: return "runnable";
	case GR_TASK_PARKED: return "parked";
	default: return "dead";
	}
}

/* a socket address as text ("127.0.0.1:80", "[::1]:80", a Unix path), into buf */
static void format_addr(const struct sockaddr_storage *a, socklen_t len, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN];

	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, n, "%s:%u", host, ntohs(in->sin_port));
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)a;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, n, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (a->ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)a;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path)
				      ? len - offsetof(struct sockaddr_un, sun_path)
				      : 0;

		snprintf(buf, n, "unix:%.*s", (int)plen, plen && un->sun_path[0] ? un->sun_path : "");
	} else {
		snprintf(buf, n, "family %d", a->ss_family);
	}
}

/* what a parked task waits on, described */
struct wait_desc {
	const char *call; /* "read", "write", "accept", "mutex"... */
	int fd;		  /* -1 if not an fd's */
	char peer[128];	  /* the peer, or a listener's own address; "" if none */
	int32_t join_tid; /* the joined thread, 0 if not a join */
};

/* the fd a parked task's wait is on (a read or write of a pd), or -1 */
static int wait_fd(const struct gr_task_view *v)
{
	/* pds are type-stable: the fd may be stale (closed meanwhile), never unmapped */
	if (v->what && (!strcmp(v->what, "read") || !strcmp(v->what, "write")) && v->on)
		return ((const struct gr_pd *)v->on)->fd;
	return -1;
}

/* what a parked task waits in, as the program called it: a read of a listener is an accept */
static const char *wait_call(const struct gr_task_view *v)
{
	int fd = wait_fd(v);

	if (fd >= 0 && !strcmp(v->what, "read") && fd_entry(fd) &&
	    atomic_load(&fd_entry(fd)->listening) == FD_LISTENING_YES)
		return "accept";
	return v->what ? v->what : "?";
}

static void describe_wait(const struct gr_task_view *v, const struct gr_task_view *all, int n,
			  struct wait_desc *d)
{
	*d = (struct wait_desc){.call = wait_call(v), .fd = wait_fd(v)};
	if (d->fd >= 0) {
		struct sockaddr_storage a;
		socklen_t len = sizeof a;

		if (!strcmp(d->call, "accept")) {
			if (gr_sys3(SYS_getsockname, d->fd, &a, &len) == 0)
				format_addr(&a, len, d->peer, sizeof d->peer);
		} else if (gr_sys3(SYS_getpeername, d->fd, &a, &len) == 0) {
			format_addr(&a, len, d->peer, sizeof d->peer);
		}
	} else if (v->what && !strcmp(v->what, "join")) {
		for (int i = 0; i < n; i++)
			if (all[i].t == v->on)
				d->join_tid = all[i].tid;
	}
}

/* The backtrace of the task of v into pcs[GR_INSPECT_FRAMES], the program's part (ctl.h);
 * *exact: pcs[0] is an instruction being run (a sampled running task). */
static int backtrace_of(const struct gr_task_view *v, uintptr_t *pcs, int *first, bool *exact)
{
	const struct shim_task *s = (const struct shim_task *)v->local;
	int n;

	/* no sample of a task in a bracketed call: the signal could end it with EINTR (a
	 * sigtimedwait, a semop with a timeout), which no SA_RESTART undoes */
	*first = 0;
	*exact = false;
	if (v->state == GR_TASK_RUNNING && s->blocking_depth)
		return 0;
	shim_unwind_ready();
	n = gr_view_backtrace(v, pcs, GR_INSPECT_FRAMES, exact);

	n = ctl_program_frames(pcs, n, !*exact, first);
	*exact = *exact && *first == 0;
	return n;
}

int ctl_program_frames(const uintptr_t *pcs, int n, bool keep_entry, int *first)
{
	*first = 0;
	while (*first < n && shim_pc_in_greenpoll(pcs[*first]) &&
	       (!keep_entry || (*first < n - 1 && shim_pc_in_greenpoll(pcs[*first + 1]))))
		(*first)++;
	for (int end = *first + 1; end < n; end++)
		if (shim_pc_in_greenpoll(pcs[end]))
			return end;
	return n;
}

static double secs(int64_t ns) { return (double)ns / 1e9; }

static void text_task(struct gr_out *o, const struct gr_task_view *v, const struct gr_task_view *all,
		      int n, int64_t now, struct symbol_cache *syms)
{
	const struct shim_task *s = (const struct shim_task *)v->local;
	uintptr_t pcs[GR_INSPECT_FRAMES];
	int frames, first;
	bool exact;

	gr_out_printf(o, "\nthread %d", (int)v->tid);
	if (s->name[0]) {
		gr_out_puts(o, " \"");
		gr_out_json_str(o, s->name);
		gr_out_puts(o, "\"");
	}
	if (v->state == GR_TASK_RUNNING && s->blocking_depth)
		gr_out_printf(o, " blocked in %s for %.3f s on carrier %d (a call greenpoll passes to "
			      "the kernel)\n", s->blocking_call ? s->blocking_call : "?",
			      secs(now - s->blocking_since), v->carrier);
	else if (v->state == GR_TASK_RUNNING)
		gr_out_printf(o, " running on carrier %d\n", v->carrier);
	else if (v->state == GR_TASK_RUNNABLE)
		gr_out_puts(o, " runnable\n");
	else if (v->state == GR_TASK_PARKED) {
		struct wait_desc d;

		describe_wait(v, all, n, &d);
		gr_out_printf(o, " parked for %.3f s in %s", v->stopped_at ? secs(now - v->stopped_at) : 0.0,
			      d.call);
		if (d.fd >= 0)
			gr_out_printf(o, " on fd %d%s%s", d.fd,
				      !d.peer[0]		  ? ""
				      : strcmp(d.call, "accept") ? ", peer "
								  : ", listening on ",
				      d.peer);
		else if (d.join_tid)
			gr_out_printf(o, " of thread %d", (int)d.join_tid);
		else if (v->on)
			gr_out_printf(o, " on %p", v->on);
		if (v->deadline != GR_NEVER)
			gr_out_printf(o, ", until %.3f s from now", secs(v->deadline - now));
		gr_out_puts(o, "\n");
	} else {
		gr_out_puts(o, " ending\n");
	}
	frames = backtrace_of(v, pcs, &first, &exact);
	for (int i = first; i < frames; i++)
		ctl_frame(o, i - first, symbol(syms, pcs[i], exact && i == first), false);
	if (!frames && v->state == GR_TASK_RUNNING && s->blocking_depth)
		gr_out_puts(o, "    (no backtrace: see the blocking report for its call sites)\n");
	else if (!frames && v->state == GR_TASK_RUNNING)
		gr_out_puts(o, "    (no backtrace: its carrier could not be sampled, being in a system "
			    "call or gone on to another thread)\n");
	else if (!frames)
		gr_out_puts(o, "    (no backtrace: it ran while being looked at)\n");
}

static void json_task(struct gr_out *o, const struct gr_task_view *v, const struct gr_task_view *all,
		      int n, int64_t now, struct symbol_cache *syms, bool leading)
{
	const struct shim_task *s = (const struct shim_task *)v->local;
	uintptr_t pcs[GR_INSPECT_FRAMES];
	int frames, first;
	bool exact;

	gr_out_printf(o, "%s\n{\"tid\": %d, \"name\": \"", leading ? "" : ",", (int)v->tid);
	gr_out_json_str(o, s->name);
	gr_out_printf(o, "\", \"state\": \"%s\", \"carrier\": %d, \"run_ns\": %lld", state_name(v),
		      v->carrier, (long long)v->run_ns);
	if (v->state == GR_TASK_RUNNING && s->blocking_depth) {
		gr_out_puts(o, ", \"call\": \"");
		gr_out_json_str(o, s->blocking_call);
		gr_out_printf(o, "\", \"call_ns\": %lld", (long long)(now - s->blocking_since));
	} else if (v->state == GR_TASK_PARKED) {
		struct wait_desc d;

		describe_wait(v, all, n, &d);
		gr_out_puts(o, ", \"wait\": {\"what\": \"");
		gr_out_json_str(o, d.call);
		gr_out_printf(o, "\", \"for_ns\": %lld", (long long)(v->stopped_at ? now - v->stopped_at : 0));
		if (d.fd >= 0) {
			gr_out_printf(o, ", \"fd\": %d, \"%s\": \"", d.fd,
				      strcmp(d.call, "accept") ? "peer" : "local");
			gr_out_json_str(o, d.peer);
			gr_out_puts(o, "\"");
		} else if (d.join_tid) {
			gr_out_printf(o, ", \"join_tid\": %d", (int)d.join_tid);
		} else if (v->on) {
			gr_out_printf(o, ", \"object\": \"%p\"", v->on);
		}
		if (v->deadline != GR_NEVER)
			gr_out_printf(o, ", \"deadline_in_ns\": %lld", (long long)(v->deadline - now));
		gr_out_puts(o, "}");
	}
	gr_out_puts(o, ", \"frames\": [");
	frames = backtrace_of(v, pcs, &first, &exact);
	for (int i = first; i < frames; i++)
		ctl_frame(o, i - first, symbol(syms, pcs[i], exact && i == first), true);
	gr_out_puts(o, "]}");
}

void ctl_dump(struct gr_out *o, bool json)
{
	struct symbol_cache *syms = calloc(1, sizeof *syms);
	int n = 0;
	struct gr_task_view *v = syms ? all_views(&n) : NULL;
	int64_t now = gr_nanotime();
	char cmd[64];

	if (!v) {
		gr_out_puts(o, "error: out of memory for a dump\n");
		free(syms);
		return;
	}
	ctl_command_name(cmd, sizeof cmd);
	if (json) {
		gr_out_printf(o, "{\"pid\": %d, \"command\": \"", (int)gr_sys0(SYS_getpid));
		gr_out_json_str(o, cmd);
		gr_out_printf(o, "\", \"tasks\": [");
	} else {
		gr_out_printf(o, "greenpoll dump of %d (%s): %d threads\n", (int)gr_sys0(SYS_getpid),
			      cmd, n);
	}
	for (int i = 0; i < n; i++) {
		if (json)
			json_task(o, &v[i], v, n, now, syms, i == 0);
		else
			text_task(o, &v[i], v, n, now, syms);
	}
	if (json)
		gr_out_puts(o, "\n]}\n");
	free(v);
	free(syms);
}

void ctl_tasks(struct gr_out *o)
{
	int n;
	struct gr_task_view *v = all_views(&n);
	int64_t now = gr_nanotime();

	if (!v) {
		gr_out_puts(o, "error: out of memory for the task list\n");
		return;
	}
	for (int i = 0; i < n; i++) {
		const struct shim_task *s = (const struct shim_task *)v[i].local;
		bool blocked = v[i].state == GR_TASK_RUNNING && s->blocking_depth;
		const char *what = blocked ? s->blocking_call
				   : v[i].state == GR_TASK_PARKED ? wait_call(&v[i])
								  : NULL;
		int64_t wait = blocked ? now - s->blocking_since
			       : v[i].state == GR_TASK_PARKED && v[i].stopped_at ? now - v[i].stopped_at
										 : 0;
		char name[sizeof s->name * 2 + 1];

		/* tabs and newlines in a name or a wait would break the line's fields */
		snprintf(name, sizeof name, "%s", s->name[0] ? s->name : "-");
		for (char *c = name; *c; c++)
			if (*c == '\t' || *c == '\n')
				*c = ' ';
		gr_out_printf(o, "%d\t%s\t%d\t%lld\t%lld\t%s\t%s\n", (int)v[i].tid, state_name(&v[i]),
			      v[i].carrier, (long long)v[i].run_ns, (long long)wait, what ? what : "-",
			      name);
	}
	free(v);
}

void ctl_dump_to(int fd)
{
	struct gr_out *o = malloc(sizeof *o);

	if (!o)
		return;
	gr_out_init(o, fd);
	ctl_dump(o, false);
	gr_out_flush(o);
	free(o);
}
