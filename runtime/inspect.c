/*
 * inspect.c — task views and backtraces of tasks that are not running (see inspect.h).
 */
#define _GNU_SOURCE
#include "inspect.h"

#include <dlfcn.h>
#include <link.h>
#include <libunwind.h>
#include <signal.h>
#include <ucontext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "lock.h"
#include "sched.h"
#include "sys.h"
#include "tls.h"

#define PAGE 4096
#define SAVED_FRAME 64 /* switch.S's frame: MXCSR/x87 CW, r15, r14, r13, r12, rbx, rbp, return */

struct views_fill {
	struct gr_task_view *out;
	int max, n;
	int64_t now;
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
	if (atomic_load(&t->run_since)) /* running: its current stretch too (cputime.h) */
		v->run_ns += f->now - atomic_load(&t->run_since);
	v->stopped_at = atomic_load(&t->run_since) ? 0 : atomic_load(&t->stopped_at);
	v->adopted = t->adopted;
	v->os_tid = v->carrier >= 0 ? atomic_load(&t->carrier->os_tid) : 0;
	v->deadline = v->what && t->wait_timer.armed ? t->wait_timer.when : GR_NEVER;
	memcpy(v->local, t->local, sizeof v->local);
}

int gr_task_views(struct gr_task_view *out, int max)
{
	struct views_fill f = {.out = out, .max = max, .now = gr_nanotime()};

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

/* what libunwind's accessors are given: the copy of the stack and the registers */
struct snapshot {
	uintptr_t lo;	    /* the sp when copied: the copy begins there */
	size_t len;	    /* bytes copied */
	uint64_t regs[UNW_X86_64_RIP + 1]; /* by libunwind's numbers; the caller-saved ones 0
					      * for a parked task (dead across its switch) */
	unsigned char *mem; /* [GR_INSPECT_STACK] */
};

/* s's registers from the frame a switch saved at sp (switch.S): r15, r14, r13, r12, rbx, rbp,
 * then the return address, above the MXCSR/x87 word; sp after the switch returns */
static void regs_of_saved_frame(struct snapshot *s)
{
	uint64_t f[8];

	memcpy(f, s->mem, sizeof f);
	memset(s->regs, 0, sizeof s->regs);
	s->regs[UNW_X86_64_R15] = f[1];
	s->regs[UNW_X86_64_R14] = f[2];
	s->regs[UNW_X86_64_R13] = f[3];
	s->regs[UNW_X86_64_R12] = f[4];
	s->regs[UNW_X86_64_RBX] = f[5];
	s->regs[UNW_X86_64_RBP] = f[6];
	s->regs[UNW_X86_64_RIP] = f[7];
	s->regs[UNW_X86_64_RSP] = s->lo + SAVED_FRAME;
}

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
	*val = reg >= 0 && reg <= UNW_X86_64_RIP ? s->regs[reg] : 0;
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

/* the frames from the cursor's on, into pcs (at most max): how many */
static int walk(unw_cursor_t *cursor, uintptr_t *pcs, int max)
{
	int n = 0;

	do {
		unw_word_t ip;

		if (unw_get_reg(cursor, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		pcs[n++] = (uintptr_t)ip;
	} while (n < max && unw_step(cursor) > 0);
	return n;
}

/* unwind the snapshot s into pcs (at most max): how many */
static int unwind(struct snapshot *s, unw_addr_space_t as, uintptr_t *pcs, int max)
{
	unw_cursor_t cursor;

	return unw_init_remote(&cursor, as, s) < 0 ? 0 : walk(&cursor, pcs, max);
}

/* a parked or runnable task: copy, unwind, and check it did not run meanwhile */
static int unwind_saved(const struct gr_task_view *v, struct snapshot *s, unw_addr_space_t as,
			uintptr_t *pcs, int max)
{
	for (int try = 0; try < GR_INSPECT_TRIES; try++) {
		int n = 0;

		if (!unchanged(v))
			return 0; /* it ran since it was viewed: its view is stale, not just the copy */
		s->lo = (uintptr_t)v->sp;
		s->len = read_mem(s->mem, s->lo, GR_INSPECT_STACK);
		if (s->len >= SAVED_FRAME) {
			regs_of_saved_frame(s);
			n = unwind(s, as, pcs, max);
		}
		if (unchanged(v))
			return n;
	}
	return 0;
}

/* the sample asked of a running task's carrier (one at a time, under lock) */
static struct {
	gr_lock_t lock;
	int sig;
	void *cookie;
	_Atomic uint32_t phase; /* futex: IDLE, ASKED, TAKING (the handler writes), TAKEN */
	struct gr_task *task;
	struct snapshot *snap;
	bool ok;
} sample = {.lock = GR_LOCK_INIT};

enum { SAMPLE_IDLE, SAMPLE_ASKED, SAMPLE_TAKING, SAMPLE_TAKEN };

void gr_inspect_sampler(int sig, void *cookie)
{
	sample.sig = sig;
	sample.cookie = cookie;
}

void gr_sample_take(const void *uctx)
{
	static const int8_t from_greg[UNW_X86_64_RIP + 1] = {
		[UNW_X86_64_RAX] = REG_RAX, [UNW_X86_64_RDX] = REG_RDX, [UNW_X86_64_RCX] = REG_RCX,
		[UNW_X86_64_RBX] = REG_RBX, [UNW_X86_64_RSI] = REG_RSI, [UNW_X86_64_RDI] = REG_RDI,
		[UNW_X86_64_RBP] = REG_RBP, [UNW_X86_64_RSP] = REG_RSP, [UNW_X86_64_R8] = REG_R8,
		[UNW_X86_64_R9] = REG_R9,   [UNW_X86_64_R10] = REG_R10, [UNW_X86_64_R11] = REG_R11,
		[UNW_X86_64_R12] = REG_R12, [UNW_X86_64_R13] = REG_R13, [UNW_X86_64_R14] = REG_R14,
		[UNW_X86_64_R15] = REG_R15, [UNW_X86_64_RIP] = REG_RIP,
	};
	const greg_t *g = ((const ucontext_t *)uctx)->uc_mcontext.gregs;
	uint32_t asked = SAMPLE_ASKED;
	struct snapshot *s;

	if (!atomic_compare_exchange_strong(&sample.phase, &asked, SAMPLE_TAKING))
		return; /* late: the asker gave up (or a signal of an earlier ask) */
	s = sample.snap;
	sample.ok = gr_current_task() == sample.task;
	if (sample.ok) {
		for (int r = 0; r <= UNW_X86_64_RIP; r++)
			s->regs[r] = (uint64_t)g[from_greg[r]];
		s->lo = (uintptr_t)g[REG_RSP];
		s->len = read_mem(s->mem, s->lo, GR_INSPECT_STACK);
	}
	atomic_store(&sample.phase, SAMPLE_TAKEN);
	gr_futex_wake((uint32_t *)&sample.phase, 1);
}

/* a running task: sampled on its carrier by signal (see inspect.h) */
static int unwind_running(const struct gr_task_view *v, struct snapshot *s, unw_addr_space_t as,
			  uintptr_t *pcs, int max)
{
	siginfo_t info = {.si_signo = sample.sig, .si_code = SI_QUEUE};
	int64_t deadline = gr_nanotime() + GR_SAMPLE_WAIT_NS, left;
	uint32_t asked = SAMPLE_ASKED;
	bool taken;

	if (!sample.sig || gr_thread_state(v->os_tid) != 'R')
		return 0;
	gr_lock(&sample.lock);
	sample.task = v->t;
	sample.snap = s;
	sample.ok = false;
	atomic_store(&sample.phase, SAMPLE_ASKED);
	info.si_pid = (pid_t)gr_sys0(SYS_getpid);
	info.si_uid = (uid_t)gr_sys0(SYS_getuid);
	info.si_value.sival_ptr = sample.cookie;
	if (gr_sys4(SYS_rt_tgsigqueueinfo, info.si_pid, v->os_tid, sample.sig, &info) == 0) {
		uint32_t now;

		while ((now = atomic_load(&sample.phase)) != SAMPLE_TAKEN &&
		       (left = deadline - gr_nanotime()) > 0) {
			struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};

			gr_futex_wait((uint32_t *)&sample.phase, now, &ts);
		}
	}
	/* a handler that has not begun by now finds IDLE and leaves; one under way (TAKING) is
	 * waited for: it writes into s */
	taken = !atomic_compare_exchange_strong(&sample.phase, &asked, SAMPLE_IDLE);
	while (taken && atomic_load(&sample.phase) != SAMPLE_TAKEN)
		gr_cpu_relax();
	atomic_store(&sample.phase, SAMPLE_IDLE);
	taken = taken && sample.ok;
	gr_unlock(&sample.lock);
	return taken && s->len > 0 ? unwind(s, as, pcs, max) : 0;
}

int gr_view_backtrace(const struct gr_task_view *v, uintptr_t *pcs, int max, bool *exact)
{
	unw_addr_space_t as = snapshot_space();
	struct snapshot s = {.mem = malloc(GR_INSPECT_STACK)};
	int n = 0;

	*exact = v->state == GR_TASK_RUNNING;
	if (as && s.mem && v->state == GR_TASK_RUNNING)
		n = unwind_running(v, &s, as, pcs, max);
	else if (as && s.mem && v->state != GR_TASK_DEAD)
		n = unwind_saved(v, &s, as, pcs, max);
	free(s.mem);
	return n;
}

void gr_unwind_init(void)
{
	unw_context_t uc;
	unw_cursor_t cursor;

	if (unw_getcontext(&uc) == 0)
		unw_init_local(&cursor, &uc);
}

/* Step by step, not unw_backtrace: that one keeps a 256 KiB cache per thread, which every task
 * with a slow call would get (and touch) for the rest of its life. */
int gr_backtrace_here(uintptr_t *pcs, int max)
{
	unw_context_t uc;
	unw_cursor_t cursor;

	if (unw_getcontext(&uc) < 0 || unw_init_local(&cursor, &uc) < 0)
		return 0;
	return walk(&cursor, pcs, max);
}

/* the path of the object of link map lm (the main program's has no name in its map) */
static void module_path(const struct link_map *lm, char *buf, size_t n)
{
	long len;

	if (lm->l_name[0]) {
		snprintf(buf, n, "%s", lm->l_name);
		return;
	}
	len = gr_sys3(SYS_readlink, "/proc/self/exe", buf, n - 1);
	buf[len > 0 ? len : 0] = 0;
}

void gr_symbolise(uintptr_t pc, bool exact, struct gr_frame_name *f)
{
	unw_accessors_t *local = unw_get_accessors(unw_local_addr_space);
	uintptr_t look = exact ? pc : pc - 1;
	unw_word_t off = 0;
	struct link_map *lm = NULL;
	Dl_info info;

	f->module[0] = 0;
	f->addr = look;
	if (dladdr1((void *)look, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm) {
		module_path(lm, f->module, sizeof f->module);
		f->addr = look - lm->l_addr;
	}
	if (local->get_proc_name &&
	    local->get_proc_name(unw_local_addr_space, look, f->func, sizeof f->func, &off, NULL) == 0) {
		size_t len = strlen(f->func);

		snprintf(f->func + len, sizeof f->func - len, "+0x%lx", (unsigned long)(off + (pc - look)));
		return;
	}
	snprintf(f->func, sizeof f->func, "0x%lx", (unsigned long)pc);
}
