/*
 * tls.c — per-task glibc TCB and static TLS (see tls.h for the life cycle).
 *
 * Every glibc-private detail the runtime relies on lives in this file, and gr_tls_init checks
 * each one against the running glibc before any task exists:
 *  - ld.so's _dl_allocate_tls / _dl_deallocate_tls / _dl_get_tls_static_info (GLIBC_PRIVATE);
 *  - libc's __ctype_init, __call_tls_dtors and the TLS variables __resp, __libc_dlerror_result;
 *  - struct pthread field offsets: from glibc's own _thread_db_* descriptors where glibc
 *    publishes them (tid, specific, sizeof), found by experiment where it does not
 *    (cleanup_jmp_buf), and 2.36 constants verified on the running process otherwise
 *    (robust_head, specific_1stblock, stackblock, strerror/strsignal buffers);
 *  - malloc's per-thread cache in libc's TLS block (its layout, glibc 2.32+), found and checked
 *    by experiment; without it gr_tcb_destroy leaks the cache, and the stack pool keeps regions.
 * Offsets are for TLS_TCB_AT_TP (x86_64): the TCB is at TP, static TLS blocks below it.
 */
#define _GNU_SOURCE
#include "tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <locale.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "fork.h"
#include "lock.h"
#include "sys.h"

#define AT(p, off, T) (*(T *)((char *)(p) + (off)))

/* tcbhead_t (x86_64 sysdeps/x86_64/nptl/tls.h), stable since 2.x */
#define OFF_HEADER_TCB 0x00
#define OFF_HEADER_SELF 0x10
#define OFF_MULTIPLE_THREADS 0x18
#define OFF_STACK_GUARD 0x28
#define OFF_POINTER_GUARD 0x30
#define OFF_FEATURE_1 0x48
/* struct pthread, glibc 2.36, verified at start-up */
#define OFF_ROBUST_HEAD 736
#define OFF_SPECIFIC_1STBLOCK 784
#define OFF_STACKBLOCK 1680
#define OFF_STACKBLOCK_SIZE 1688
#define OFF_GUARDSIZE 1696
#define OFF_REPORTED_GUARDSIZE 1704
#define OFF_RES 1720 /* struct __res_state res, 40 bytes after stackblock */
#define OFF_STRSIGNAL_BUF 2304
#define OFF_STRERROR_BUF 2312
#define KEY_1STLEVEL 32 /* PTHREAD_KEY_1STLEVEL_SIZE: specific[] entries */

#define RSEQ_CPU_ID_REGISTRATION_FAILED (-2)
#define RSEQ_FLAG_UNREGISTER 1
#define RSEQ_SIG 0x53053053
#define FORCED_DYNAMIC_TLS_OFFSET (-1)

static void *(*dl_allocate_tls)(void *mem);
static void (*dl_deallocate_tls)(void *tcb, bool dealloc_tcb);
static void (*dl_get_tls_static_info)(size_t *size, size_t *align);
static void (*ctype_init)(void);
static void (*call_tls_dtors)(void);

static size_t static_size, static_align, sizeof_pthread, reserve;
static unsigned off_tid, off_specific, off_list, off_cleanup_jmp_buf, off_lm_tls_offset,
	off_lm_tls_modid;
static long off_resp, off_dlerror_result, off_rseq;
static unsigned rseq_size;
static uintptr_t guard_stack, guard_pointer, robust_futex_offset;
static unsigned feature_1;

/* libc's own TLS block (malloc's tcache and arena live there): kept across gr_tcb_renew */
static long libc_block_off;
static size_t libc_block_size;

/*
 * malloc's per-thread cache (glibc 2.30+: struct tcache_perthread_struct, TCACHE_BINS bins of
 * uint16_t counts then entry heads; an entry's next pointer is mangled with its own address
 * >> 12, "safe-linking", 2.32+), found by experiment in libc's block: tcache_tp_off bytes below
 * TP, 0 when not found (then gr_tcb_destroy cannot free it and gr_tcb_releasable is false).
 */
#define TCACHE_BINS 64
#define TCACHE_CHUNK 0x290 /* its malloc chunk size: 64 counts and 64 heads, plus the header */
struct tcache {
	uint16_t counts[TCACHE_BINS];
	void *entries[TCACHE_BINS];
};
static long tcache_tp_off;

/* static TLS modules whose blocks every runtime-made TCB has initialised */
struct static_module {
	const void *map;
	size_t modid;
	long offset;
};
static struct static_module *known_modules;
static size_t n_known_modules, cap_known_modules;
static gr_lock_t modules_lock = GR_LOCK_INIT;

static void scan_modules(void (*each_tcb)(void (*fn)(void *tcb, void *arg), void *arg));

static void *private_sym(const char *name)
{
	return dlvsym(RTLD_DEFAULT, name, "GLIBC_PRIVATE");
}

/* glibc's thread_db descriptor: uint32_t {bits, count, offset} */
static bool descriptor_offset(const char *name, unsigned *off)
{
	const uint32_t *d = private_sym(name);

	if (!d)
		return false;
	*off = d[2];
	return true;
}

static bool fail(char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "%s", what);
	return false;
}

/* glibc sets cleanup_jmp_buf in __pthread_register_cancel; find which word it wrote */
static bool find_cleanup_jmp_buf(void)
{
	void (*reg)(__pthread_unwind_buf_t *) = dlsym(RTLD_DEFAULT, "__pthread_register_cancel");
	void (*unreg)(__pthread_unwind_buf_t *) = dlsym(RTLD_DEFAULT, "__pthread_unregister_cancel");
	__pthread_unwind_buf_t buf;
	char *tp = gr_tcb_self();
	int found = 0;

	if (!reg || !unreg)
		return false;
	memset(&buf, 0, sizeof buf);
	reg(&buf);
	for (unsigned off = 0; off + sizeof(void *) <= sizeof_pthread; off += sizeof(void *)) {
		if (AT(tp, off, void *) == (void *)&buf) {
			off_cleanup_jmp_buf = off;
			found++;
		}
	}
	unreg(&buf);
	return found == 1;
}

struct libc_block_search {
	const char *errno_addr;
	long off;
	size_t size;
};

static int find_libc_block_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct libc_block_search *s = arg;
	(void)size;

	if (!info->dlpi_tls_modid || !info->dlpi_tls_data)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const char *lo = info->dlpi_tls_data;

		if (ph->p_type == PT_TLS && s->errno_addr >= lo && s->errno_addr < lo + ph->p_memsz) {
			s->off = (char *)gr_tcb_self() - lo;
			s->size = ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

/*
 * A TCB made as for a task, with the stack block fields at our offsets and the caller's real
 * tid, handed to glibc's own pthread_getattr_np: it must report that stack back.
 */
static bool stackblock_layout_ok(void)
{
	static char fake_stack[1 << 16];
	char *tp = calloc(1, sizeof_pthread);
	pthread_attr_t attr;
	void *addr = NULL;
	size_t size = 0, guard = 0;
	bool ok;

	if (!tp)
		return false;
	AT(tp, OFF_HEADER_TCB, void *) = tp;
	AT(tp, OFF_HEADER_SELF, void *) = tp;
	AT(tp, off_tid, int32_t) = (int32_t)gr_os_tid();
	AT(tp, OFF_STACKBLOCK, void *) = fake_stack;
	AT(tp, OFF_STACKBLOCK_SIZE, size_t) = sizeof fake_stack;
	AT(tp, OFF_GUARDSIZE, size_t) = 4096;
	AT(tp, OFF_REPORTED_GUARDSIZE, size_t) = 8192;
	ok = gr_libc_pthread_getattr_np((pthread_t)tp, &attr) == 0;
	if (ok) {
		pthread_attr_getstack(&attr, &addr, &size);
		pthread_attr_getguardsize(&attr, &guard);
		pthread_attr_destroy(&attr);
		ok = (char *)addr + size == fake_stack + sizeof fake_stack &&
		     size == sizeof fake_stack - 4096 && guard == 8192;
	}
	free(tp);
	return ok;
}

/* read n bytes at addr without faulting on a bad address */
static bool peek(const void *addr, void *buf, size_t n)
{
	struct iovec local = {buf, n}, remote = {(void *)addr, n};

	return gr_sys6(SYS_process_vm_readv, gr_sys0(SYS_getpid), (long)&local, 1, (long)&remote,
		       1, 0) == (long)n;
}

static void *reveal(void **next)
{
	return (void *)(((uintptr_t)next >> 12) ^ (uintptr_t)*next);
}

/*
 * Find this thread's tcache pointer in libc's TLS block: two chunks of one size freed in turn
 * head their bin in that order (safe-linked), and the cache itself is a chunk of TCACHE_CHUNK
 * bytes. Tried on the first bins in turn: one may be full (its chunks then bypass the cache).
 */
static bool find_tcache_by_bin(int bin)
{
	char *tp = gr_tcb_self(), *blk = tp - libc_block_off;
	void *a = malloc(24 + 16 * (size_t)bin), *b = malloc(24 + 16 * (size_t)bin);
	uintptr_t first = (uintptr_t)a, second = (uintptr_t)b; /* their addresses, once freed */
	int found = 0;
	long off = 0;

	free(a);
	free(b);
	if (!first || !second)
		return false;
	for (size_t i = 0; i + sizeof(void *) <= libc_block_size; i += sizeof(void *)) {
		char *tc = AT(blk, i, char *);
		struct tcache copy;
		size_t chunk;

		if (!tc || (uintptr_t)tc & 15 || !peek(tc - sizeof chunk, &chunk, sizeof chunk) ||
		    (chunk & ~(size_t)7) != TCACHE_CHUNK || !peek(tc, &copy, sizeof copy))
			continue;
		if ((uintptr_t)copy.entries[bin] == second && copy.counts[bin] >= 2 &&
		    (uintptr_t)reveal(copy.entries[bin]) == first) {
			off = libc_block_off - (long)i;
			found++;
		}
	}
	if (found != 1)
		return false;
	tcache_tp_off = off;
	return true;
}

static void find_tcache(void)
{
	for (int bin = 0; bin < 8 && !find_tcache_by_bin(bin); bin++)
		;
}

bool gr_tcb_releasable(void) { return tcache_tp_off != 0; }

/* what glibc's tcache_thread_shutdown does when a thread exits: its cached chunks and the
 * cache itself go back to their arenas */
static void free_tcache(char *tp)
{
	struct tcache **slot = (struct tcache **)(tp - tcache_tp_off), *tc = *slot;

	if (!tc)
		return;
	*slot = NULL;
	for (int i = 0; i < TCACHE_BINS; i++) {
		void **e;

		while ((e = tc->entries[i])) {
			tc->entries[i] = reveal(e);
			e[1] = NULL; /* the entry's key: no longer a cached chunk */
			free(e);
		}
	}
	free(tc);
}

/* the kernel's cpu number in the rseq area agrees with getcpu (retried: we may migrate) */
static bool rseq_layout_ok(char *tp)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		unsigned cpu = 0;

		if (gr_sys3(SYS_getcpu, &cpu, NULL, NULL) == 0 &&
		    AT(tp, off_rseq + 4, int32_t) == (int32_t)cpu)
			return true;
	}
	return false;
}

static bool layout_ok(char *why, size_t whylen)
{
	char *tp = gr_tcb_self();
	const char *s;

	if (AT(tp, OFF_HEADER_TCB, char *) != tp || AT(tp, OFF_HEADER_SELF, char *) != tp)
		return fail(why, whylen, "tcbhead_t tcb/self");
	if (AT(tp, GR_TCB_TASK_SLOT, void *) != NULL || AT(tp, GR_TCB_CARRIER_SLOT, void *) != NULL)
		return fail(why, whylen, "tcbhead_t unused_vgetcpu_cache is in use");
	if (AT(tp, off_tid, int32_t) != (int32_t)gr_os_tid())
		return fail(why, whylen, "struct pthread tid");
	if (AT(tp, OFF_ROBUST_HEAD, char *) != tp + OFF_ROBUST_HEAD)
		return fail(why, whylen, "struct pthread robust_head");
	if (AT(tp, off_specific, char *) != tp + OFF_SPECIFIC_1STBLOCK)
		return fail(why, whylen, "struct pthread specific_1stblock");
	s = strerror(0x7ffe1234);
	if (AT(tp, OFF_STRERROR_BUF, const char *) != s)
		return fail(why, whylen, "struct pthread tls_state.strerror_l_buf");
	s = strsignal(SIGRTMAX + 7);
	if (AT(tp, OFF_STRSIGNAL_BUF, const char *) != s)
		return fail(why, whylen, "struct pthread tls_state.strsignal_buf");
	if (rseq_size && !rseq_layout_ok(tp))
		return fail(why, whylen, "rseq area");
	if (!stackblock_layout_ok())
		return fail(why, whylen, "struct pthread stackblock");
	if (!find_cleanup_jmp_buf())
		return fail(why, whylen, "struct pthread cleanup_jmp_buf");
	return true;
}

bool gr_tls_init(char *why, size_t whylen)
{
	const long *rseq_off_sym = dlvsym(RTLD_DEFAULT, "__rseq_offset", "GLIBC_2.35");
	const unsigned *rseq_size_sym = dlvsym(RTLD_DEFAULT, "__rseq_size", "GLIBC_2.35");
	const uint32_t *sizeof_sym = private_sym("_thread_db_sizeof_pthread");
	char *resp = private_sym("__resp");
	char *dlerror_result = private_sym("__libc_dlerror_result");
	char *tp = gr_tcb_self();
	struct libc_block_search libc_block = {.errno_addr = (const char *)&errno};

	dl_allocate_tls = private_sym("_dl_allocate_tls");
	dl_deallocate_tls = private_sym("_dl_deallocate_tls");
	dl_get_tls_static_info = private_sym("_dl_get_tls_static_info");
	ctype_init = private_sym("__ctype_init");
	call_tls_dtors = private_sym("__call_tls_dtors");
	if (!dl_allocate_tls || !dl_deallocate_tls || !dl_get_tls_static_info || !ctype_init ||
	    !call_tls_dtors || !resp || !dlerror_result || !rseq_off_sym || !rseq_size_sym ||
	    !sizeof_sym)
		return fail(why, whylen, "a GLIBC_PRIVATE symbol is missing");
	if (!descriptor_offset("_thread_db_pthread_tid", &off_tid) ||
	    !descriptor_offset("_thread_db_pthread_specific", &off_specific) ||
	    !descriptor_offset("_thread_db_pthread_list", &off_list) ||
	    !descriptor_offset("_thread_db_link_map_l_tls_offset", &off_lm_tls_offset) ||
	    !descriptor_offset("_thread_db_link_map_l_tls_modid", &off_lm_tls_modid))
		return fail(why, whylen, "a _thread_db descriptor is missing");
	sizeof_pthread = *sizeof_sym;
	off_resp = resp - tp;
	off_dlerror_result = dlerror_result - tp;
	off_rseq = *rseq_off_sym;
	rseq_size = *rseq_size_sym;
	dl_get_tls_static_info(&static_size, &static_align);
	if (sizeof_pthread < OFF_STRERROR_BUF + 8 || static_size < sizeof_pthread || !static_align)
		return fail(why, whylen, "struct pthread size");
	reserve = (static_size + static_align + 63) & ~(size_t)63;
	if (!dl_iterate_phdr(find_libc_block_cb, &libc_block))
		return fail(why, whylen, "libc's TLS block");
	libc_block_off = libc_block.off;
	libc_block_size = libc_block.size;
	if (!layout_ok(why, whylen))
		return false;
	guard_stack = AT(tp, OFF_STACK_GUARD, uintptr_t);
	guard_pointer = AT(tp, OFF_POINTER_GUARD, uintptr_t);
	feature_1 = AT(tp, OFF_FEATURE_1, unsigned);
	robust_futex_offset = AT(tp, OFF_ROBUST_HEAD + 8, uintptr_t);
	scan_modules(NULL);
	find_tcache();
	return true;
}

size_t gr_tls_reserve(void) { return reserve; }

/* glibc's list node of a thread (its stack lists): linked to itself, in no list */
static void unlist(char *tp)
{
	void **node = (void **)(tp + off_list);

	node[0] = node;
	node[1] = node;
}

static void set_fields(char *tp, int32_t tid, struct gr_task *owner, void *stack_lo,
		       size_t stack_size, size_t guard)
{
	void **robust = (void **)(tp + OFF_ROBUST_HEAD);

	/* pthread_getattr_np, and libc's alloca limit (a quarter of stackblock_size) */
	AT(tp, OFF_STACKBLOCK, void *) = stack_lo;
	AT(tp, OFF_STACKBLOCK_SIZE, size_t) = stack_size;
	AT(tp, OFF_GUARDSIZE, size_t) = guard;
	AT(tp, OFF_REPORTED_GUARDSIZE, size_t) = guard;

	AT(tp, OFF_HEADER_TCB, void *) = tp;
	AT(tp, OFF_HEADER_SELF, void *) = tp;
	/* malloc tests %fs:0x18 (SINGLE_THREAD_P): 0 would run fastbin code non-atomically */
	AT(tp, OFF_MULTIPLE_THREADS, int) = 1;
	/* identical in every thread: canaries and mangled pointers cross switches */
	AT(tp, OFF_STACK_GUARD, uintptr_t) = guard_stack;
	AT(tp, OFF_POINTER_GUARD, uintptr_t) = guard_pointer;
	AT(tp, OFF_FEATURE_1, unsigned) = feature_1;
	AT(tp, GR_TCB_TASK_SLOT, struct gr_task *) = owner;
	/* mutex and rtld-lock ownership compare this: unique per task */
	AT(tp, off_tid, int32_t) = tid;
	robust[0] = robust;
	robust[1] = (void *)robust_futex_offset;
	robust[2] = NULL;
	AT(tp, off_specific, void *) = tp + OFF_SPECIFIC_1STBLOCK;
	/* fork's child takes the forking thread off a glibc list: it must be a valid node */
	unlist(tp);
	/* no rseq area is registered for a task: sched_getcpu falls back to the vDSO */
	if (rseq_size)
		AT(tp, off_rseq + 4, int32_t) = RSEQ_CPU_ID_REGISTRATION_FAILED;
}

static char *tp_below(void *region_top)
{
	return (char *)(((uintptr_t)region_top - sizeof_pthread) & ~(uintptr_t)(static_align - 1));
}

void *gr_tcb_make(void *region_top, void *stack_lo, size_t stack_size, size_t guard, int32_t tid,
		  struct gr_task *owner)
{
	char *tp = tp_below(region_top);

	memset(tp, 0, sizeof_pthread);
	if (!dl_allocate_tls(tp))
		return NULL;
	set_fields(tp, tid, owner, stack_lo, stack_size, guard);
	return tp;
}

void *gr_tcb_renew(void *region_top, int32_t tid, struct gr_task *owner)
{
	char *tp = tp_below(region_top);
	char libc_block[libc_block_size];
	void *stack_lo = AT(tp, OFF_STACKBLOCK, void *);
	size_t stack_size = AT(tp, OFF_STACKBLOCK_SIZE, size_t);
	size_t guard = AT(tp, OFF_GUARDSIZE, size_t);

	memcpy(libc_block, tp - libc_block_off, libc_block_size);
	dl_deallocate_tls(tp, false);
	memset(tp, 0, sizeof_pthread);
	if (!dl_allocate_tls(tp))
		return NULL; /* out of memory for a dtv: the region goes back to the kernel */
	memcpy(tp - libc_block_off, libc_block, libc_block_size);
	set_fields(tp, tid, owner, stack_lo, stack_size, guard);
	return tp;
}

void gr_tcb_destroy(void *tcb)
{
	if (tcache_tp_off)
		free_tcache(tcb);
	dl_deallocate_tls(tcb, false);
}

void gr_tcb_adopt(void *tcb, struct gr_task *owner)
{
	char *tp = tcb;

	AT(tp, GR_TCB_TASK_SLOT, struct gr_task *) = owner;
	/*
	 * The kernel keeps this thread's rseq area (inside this TCB) up to date for the OS thread,
	 * but the task will run on other OS threads: unregister it so sched_getcpu asks the vDSO.
	 */
	if (rseq_size && gr_sys4(SYS_rseq, tp + off_rseq, rseq_size, RSEQ_FLAG_UNREGISTER,
				 RSEQ_SIG) == 0)
		AT(tp, off_rseq + 4, int32_t) = RSEQ_CPU_ID_REGISTRATION_FAILED;
}

void gr_tcb_started(void)
{
	char *tp = gr_tcb_self();

	/* what start_thread does, plus resets for state a renewed TCB kept in libc's block */
	AT(tp, off_resp, void *) = tp + OFF_RES;
	AT(tp, off_dlerror_result, void *) = NULL;
	uselocale(LC_GLOBAL_LOCALE);
	ctype_init();
	h_errno = 0;
	errno = 0;
}

void gr_tcb_run_tls_dtors(void) { call_tls_dtors(); }

void gr_tcb_exiting(void)
{
	char *tp = gr_tcb_self();
	void **specific = (void **)(tp + off_specific);

	free(AT(tp, OFF_STRERROR_BUF, void *));
	AT(tp, OFF_STRERROR_BUF, void *) = NULL;
	free(AT(tp, OFF_STRSIGNAL_BUF, void *));
	AT(tp, OFF_STRSIGNAL_BUF, void *) = NULL;
	for (int i = 1; i < KEY_1STLEVEL; i++) {
		free(specific[i]);
		specific[i] = NULL;
	}
}

void gr_tcb_stand_in(void *own, void *tcb)
{
	void **node = (void **)((char *)tcb + off_list), **mine = (void **)((char *)own + off_list);
	void **next = node[0], **prev = node[1];

	mine[0] = next;
	mine[1] = prev;
	next[1] = mine;
	prev[0] = mine;
	unlist(tcb);
}
void gr_tcb_set_carrier(void *tcb, struct gr_carrier *c)
{
	AT(tcb, GR_TCB_CARRIER_SLOT, struct gr_carrier *) = c;
}

void gr_tcb_forget_runtime(void)
{
	char *tp = gr_tcb_self();

	AT(tp, GR_TCB_TASK_SLOT, struct gr_task *) = NULL;
	AT(tp, GR_TCB_CARRIER_SLOT, struct gr_carrier *) = NULL;
}

struct gr_task *gr_tcb_owner(const void *tcb)
{
	return AT(tcb, GR_TCB_TASK_SLOT, struct gr_task *);
}

int32_t gr_tcb_tid(const void *tcb) { return AT(tcb, off_tid, int32_t); }

void gr_tcb_stack(const void *tcb, void **lo, size_t *size, size_t *guard)
{
	*lo = AT(tcb, OFF_STACKBLOCK, void *);
	*size = AT(tcb, OFF_STACKBLOCK_SIZE, size_t);
	*guard = AT(tcb, OFF_REPORTED_GUARDSIZE, size_t);
}

void **gr_tcb_cleanup_slot(void)
{
	return (void **)((char *)gr_tcb_self() + off_cleanup_jmp_buf);
}

/* ---- static TLS of modules dlopen'ed after start ---- */

struct tls_image {
	size_t modid;
	const void *image;
	size_t filesz, memsz;
};

static int find_image_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct tls_image *img = arg;
	(void)size;

	if (info->dlpi_tls_modid != img->modid)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_TLS) {
			img->image = (const char *)info->dlpi_addr + ph->p_vaddr;
			img->filesz = ph->p_filesz;
			img->memsz = ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

struct block_init {
	long offset;
	struct tls_image img;
};

static void init_block(void *tcb, void *arg)
{
	struct block_init *b = arg;
	char *dest = (char *)tcb - b->offset;

	memcpy(dest, b->img.image, b->img.filesz);
	memset(dest + b->img.filesz, 0, b->img.memsz - b->img.filesz);
}

static bool module_known(const void *map, size_t modid, long offset)
{
	for (size_t i = 0; i < n_known_modules; i++) {
		const struct static_module *m = &known_modules[i];

		if (m->map == map && m->modid == modid && m->offset == offset)
			return true;
	}
	return false;
}

static bool remember_module(const void *map, size_t modid, long offset)
{
	if (n_known_modules == cap_known_modules) {
		size_t cap = cap_known_modules ? 2 * cap_known_modules : 16;
		struct static_module *m = realloc(known_modules, cap * sizeof *m);

		if (!m)
			return false;
		known_modules = m;
		cap_known_modules = cap;
	}
	known_modules[n_known_modules++] = (struct static_module){map, modid, offset};
	return true;
}

/* the initial modules' blocks are set up by _dl_allocate_tls for every TCB: record them */
static void scan_modules(void (*each_tcb)(void (*fn)(void *tcb, void *arg), void *arg))
{
	for (struct link_map *map = _r_debug.r_map; map; map = map->l_next) {
		size_t modid = AT(map, off_lm_tls_modid, size_t);
		long offset = AT(map, off_lm_tls_offset, long);
		struct block_init b = {.offset = offset, .img = {.modid = modid}};

		if (!modid || offset <= 0 || offset == FORCED_DYNAMIC_TLS_OFFSET ||
		    module_known(map, modid, offset))
			continue;
		if (!remember_module(map, modid, offset))
			continue;
		if (each_tcb && dl_iterate_phdr(find_image_cb, &b.img))
			each_tcb(init_block, &b);
	}
}

void gr_tls_after_dlopen(void (*each_tcb)(void (*fn)(void *tcb, void *arg), void *arg))
{
	gr_lock(&modules_lock);
	scan_modules(each_tcb);
	gr_unlock(&modules_lock);
}

/* fork.h: a dlopen in another thread may have held the module lock */
static void tls_after_fork_child(struct gr_task *self)
{
	(void)self;
	modules_lock = (gr_lock_t)GR_LOCK_INIT;
}
GR_AFTER_FORK(GR_FORK_TLS, tls_after_fork_child);
