/*
 * inspect.c — task views and backtraces of tasks that are not running (see inspect.h).
 */
#define _GNU_SOURCE
#include "inspect.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "lock.h"
#include "sched.h"
#include "sys.h"

#define PAGE 4096
#define SAVED_FRAME 64 /* switch.S's frame: MXCSR/x87 CW, r15, r14, r13, r12, rbx, rbp, return */

struct views_fill {
	struct gr_task_view *out;
	int max, n;
};

static void fill_view(struct gr_task *t, void *arg)
{
	struct views_fill *f = arg;
	struct gr_task_view *v;

	if (f->n++ >= f->max)
		return;
	v = &f->out[f->n - 1];
	v->t = t;
	v->id = t->id;
	v->tid = t->tid;
	v->state = atomic_load(&t->state);
	v->carrier = v->state == GR_TASK_RUNNING && t->carrier ? t->carrier->id : -1;
	v->what = t->wait_what;
	v->on = t->wait_on;
	v->token = atomic_load(&t->wait_token);
	v->run_seq = atomic_load(&t->run_seq);
	v->sp = t->ctx.sp;
	v->run_ns = atomic_load(&t->run_ns);
	v->stopped_at = atomic_load(&t->run_since) ? 0 : atomic_load(&t->stopped_at);
	v->adopted = t->adopted;
	v->deadline = v->what && t->wait_timer.armed ? t->wait_timer.when : GR_NEVER;
	memcpy(v->local, t->local, sizeof v->local);
}

int gr_task_views(struct gr_task_view *out, int max)
{
	struct views_fill f = {.out = out, .max = max};

	gr_task_each(fill_view, &f);
	return f.n;
}

/* len bytes at addr of this process into dst, page by page as far as mapped; bytes read */
static size_t read_mem(void *dst, uintptr_t addr, size_t len)
{
	struct iovec local = {.iov_base = dst, .iov_len = len}, remote[GR_INSPECT_STACK / PAGE + 1];
	int n = 0;
	long got;

	for (uintptr_t a = addr; a < addr + len && n < (int)(sizeof remote / sizeof remote[0]); n++) {
		uintptr_t end = (a | (PAGE - 1)) + 1;

		if (end > addr + len)
			end = addr + len;
		remote[n] = (struct iovec){.iov_base = (void *)a, .iov_len = end - a};
		a = end;
	}
	got = gr_sys6(SYS_process_vm_readv, gr_sys0(SYS_getpid), (long)&local, 1, (long)remote, n, 0);
	return got > 0 ? (size_t)got : 0;
}

/* what libunwind's accessors are given: the copy of the stack and the saved registers */
struct snapshot {
	uintptr_t lo;	    /* the saved sp: the copy begins there */
	size_t len;	    /* bytes copied */
	uint64_t regs[8];   /* the saved frame */
	unsigned char *mem; /* [GR_INSPECT_STACK] */
};

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	struct snapshot *s = arg;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (addr >= s->lo && addr + sizeof *val <= s->lo + s->len) {
		memcpy(val, s->mem + (addr - s->lo), sizeof *val);
		return 0;
	}
	return read_mem(val, addr, sizeof *val) == sizeof *val ? 0 : -UNW_EINVAL;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	struct snapshot *s = arg;

	(void)as;
	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_R15: *val = s->regs[1]; break;
	case UNW_X86_64_R14: *val = s->regs[2]; break;
	case UNW_X86_64_R13: *val = s->regs[3]; break;
	case UNW_X86_64_R12: *val = s->regs[4]; break;
	case UNW_X86_64_RBX: *val = s->regs[5]; break;
	case UNW_X86_64_RBP: *val = s->regs[6]; break;
	case UNW_X86_64_RIP: *val = s->regs[7]; break;
	case UNW_X86_64_RSP: *val = s->lo + SAVED_FRAME; break;
	default: *val = 0; break; /* caller-saved: dead across the switch */
	}
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	(void)as, (void)reg, (void)val, (void)write, (void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as, (void)c, (void)arg;
	return -UNW_EINVAL;
}

static unw_addr_space_t snapshot_space(void)
{
	static unw_addr_space_t space;
	static gr_lock_t lock = GR_LOCK_INIT;

	gr_lock(&lock);
	if (!space) {
		unw_accessors_t acc = *unw_get_accessors(unw_local_addr_space);

		/* the local space's lookups of unwind tables and names (this process's objects),
		 * with memory and registers from the snapshot */
		acc.access_mem = access_mem;
		acc.access_reg = access_reg;
		acc.access_fpreg = access_fpreg;
		acc.resume = resume;
		space = unw_create_addr_space(&acc, 0);
		if (space)
			unw_set_caching_policy(space, UNW_CACHE_GLOBAL);
	}
	gr_unlock(&lock);
	return space;
}

/* whether the record still shows the task as v saw it (read without faulting) */
static bool unchanged(const struct gr_task_view *v)
{
	struct gr_task now;

	if (read_mem(&now, (uintptr_t)v->t, offsetof(struct gr_task, run_ns)) !=
	    offsetof(struct gr_task, run_ns))
		return false;
	return now.id == v->id && now.wait_token == v->token && now.run_seq == v->run_seq &&
	       now.ctx.sp == v->sp && now.state != GR_TASK_RUNNING && now.state != GR_TASK_DEAD;
}

static int unwind_once(const struct gr_task_view *v, struct snapshot *s, unw_addr_space_t as,
		       uintptr_t *pcs, int max)
{
	unw_cursor_t cursor;
	int n = 0;

	s->lo = (uintptr_t)v->sp;
	s->len = read_mem(s->mem, s->lo, GR_INSPECT_STACK);
	if (s->len < SAVED_FRAME)
		return 0;
	memcpy(s->regs, s->mem, sizeof s->regs);
	if (unw_init_remote(&cursor, as, s) < 0)
		return 0;
	do {
		unw_word_t ip;

		if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		pcs[n++] = (uintptr_t)ip;
	} while (n < max && unw_step(&cursor) > 0);
	return n;
}

int gr_view_backtrace(const struct gr_task_view *v, uintptr_t *pcs, int max)
{
	unw_addr_space_t as = snapshot_space();
	struct snapshot s = {.mem = malloc(GR_INSPECT_STACK)};
	int n = 0;

	if (v->state == GR_TASK_RUNNING || v->state == GR_TASK_DEAD || !as || !s.mem) {
		free(s.mem);
		return 0;
	}
	for (int try = 0; try < GR_INSPECT_TRIES; try++) {
		if (!unchanged(v))
			break; /* it ran since it was viewed: its view is stale, not just the copy */
		n = unwind_once(v, &s, as, pcs, max);
		if (unchanged(v))
			break;
		n = 0;
	}
	free(s.mem);
	return n;
}

int gr_backtrace_here(uintptr_t *pcs, int max)
{
	return unw_backtrace((void **)pcs, max);
}

void gr_symbolise(uintptr_t pc, bool exact, char *buf, size_t n)
{
	unw_accessors_t *local = unw_get_accessors(unw_local_addr_space);
	uintptr_t look = exact ? pc : pc - 1;
	unw_word_t off = 0;
	Dl_info info;

	if (local->get_proc_name &&
	    local->get_proc_name(unw_local_addr_space, look, buf, n, &off, NULL) == 0) {
		size_t len = strlen(buf);

		snprintf(buf + len, n - len, "+0x%lx", (unsigned long)(off + (pc - look)));
		return;
	}
	if (dladdr((void *)look, &info) && info.dli_fname) {
		const char *base = strrchr(info.dli_fname, '/');

		snprintf(buf, n, "%s+0x%lx", base ? base + 1 : info.dli_fname,
			 (unsigned long)(pc - (uintptr_t)info.dli_fbase));
		return;
	}
	snprintf(buf, n, "0x%lx", (unsigned long)pc);
}
