/*
 * fdtable.c — the shim's fd table (see fdtable.h).
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fdtable.h"
#include "fork.h"
#include "sys.h"

#define CHUNK_FDS 1024
#define MAX_FDS (1 << 20) /* the kernel's default fs.nr_open */

static struct fd_entry *_Atomic chunks[MAX_FDS / CHUNK_FDS];

struct fd_entry *fd_entry(int fd)
{
	struct fd_entry *c;

	if (fd < 0 || fd >= MAX_FDS)
		return NULL;
	c = atomic_load_explicit(&chunks[fd / CHUNK_FDS], memory_order_acquire);
	if (!c) {
		struct fd_entry *fresh = aligned_alloc(_Alignof(struct fd_entry),
						       CHUNK_FDS * sizeof *fresh), *none = NULL;

		if (!fresh)
			return NULL;
		memset(fresh, 0, CHUNK_FDS * sizeof *fresh);
		if (atomic_compare_exchange_strong(&chunks[fd / CHUNK_FDS], &none, fresh))
			c = fresh;
		else {
			free(fresh);
			c = none;
		}
	}
	return &c[fd % CHUNK_FDS];
}

/* the kind of a file of this type; FD_UNKNOWN for a socket (its type says which) */
static enum fd_kind kind_of_mode(mode_t mode)
{
	if (S_ISFIFO(mode))
		return FD_PIPE;
	if (S_ISCHR(mode) || (mode & S_IFMT) == 0) /* devices; eventfd and kin */
		return FD_POLL;
	return S_ISSOCK(mode) ? FD_UNKNOWN : FD_OTHER;
}

static enum fd_kind classify(int fd)
{
	struct stat st;
	enum fd_kind k;
	int type;
	socklen_t len = sizeof type;

	if (gr_sys2(SYS_fstat, fd, &st) < 0)
		return FD_UNKNOWN;
	if ((k = kind_of_mode(st.st_mode)) != FD_UNKNOWN)
		return k;
	if (gr_sys6(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, (long)&type, (long)&len, 0) < 0)
		return FD_OTHER;
	return type == SOCK_DGRAM || type == SOCK_RAW ? FD_DGRAM : FD_STREAM;
}

/* e's kind, classified now if not known */
static enum fd_kind kind_of(struct fd_entry *e, int fd)
{
	enum fd_kind k = atomic_load_explicit(&e->kind, memory_order_relaxed);

	if (k == FD_UNKNOWN) {
		k = classify(fd);
		if (k != FD_UNKNOWN)
			atomic_store_explicit(&e->kind, k, memory_order_relaxed);
	}
	return k;
}

/* whether a short read of the stream socket fd empties it (found once, then cached in e) */
static bool short_read_empties(struct fd_entry *e, int fd)
{
	unsigned char s = atomic_load_explicit(&e->short_reads, memory_order_relaxed);
	int proto;
	socklen_t len = sizeof proto;

	if (s == FD_SHORT_UNKNOWN) {
		s = gr_sys6(SYS_getsockopt, fd, SOL_SOCKET, SO_PROTOCOL, (long)&proto, (long)&len,
			    0) == 0 && proto == IPPROTO_TCP
			    ? FD_SHORT_EMPTIED
			    : FD_SHORT_MAYBE;
		atomic_store_explicit(&e->short_reads, s, memory_order_relaxed);
	}
	return s == FD_SHORT_EMPTIED;
}

struct fd_view fd_view(int fd)
{
	struct fd_view v = {.fd = fd, .kind = FD_OTHER, .e = fd_entry(fd)};

	if (!v.e)
		return v;
	v.kind = kind_of(v.e, fd);
	v.short_read_empties = v.kind == FD_STREAM && short_read_empties(v.e, fd);
	v.pd_hint = atomic_load_explicit(&v.e->pd, memory_order_acquire);
	return v;
}

void fd_set_kind(struct fd_view *v, enum fd_kind kind)
{
	v->kind = kind;
	atomic_store_explicit(&v->e->kind, kind, memory_order_relaxed);
}

struct gr_pd *fd_pd(const struct fd_view *v)
{
	struct fd_entry *e = v->e;
	struct gr_pd *pd, *fresh, *none = NULL;

	if (!e)
		return NULL;
	for (;;) {
		pd = atomic_load_explicit(&e->pd, memory_order_acquire);
		if (pd) {
			if (gr_pd_acquire(pd, v->fd))
				return pd;
			/* closed meanwhile (and maybe reused): look again */
			atomic_compare_exchange_strong(&e->pd, &pd, NULL);
			continue;
		}
		fresh = gr_pd_open(v->fd);
		if (!fresh)
			return NULL;
		none = NULL;
		if (atomic_compare_exchange_strong(&e->pd, &none, fresh)) {
			if (gr_pd_acquire(fresh, v->fd))
				return fresh;
			continue; /* fd_forget closed it already */
		}
		gr_pd_close(fresh); /* another call installed one first */
	}
}

/* e's fd is being closed or replaced: wake its waiters, forget it */
static void forget(struct fd_entry *e)
{
	struct gr_pd *pd = atomic_exchange(&e->pd, NULL);

	if (pd)
		gr_pd_close(pd);
	atomic_store(&e->kind, FD_UNKNOWN);
	atomic_store(&e->mode_gen, 0);
	atomic_store(&e->short_reads, FD_SHORT_UNKNOWN);
	atomic_store(&e->listening, FD_LISTENING_UNKNOWN);
	atomic_store(&e->connecting, false);
}

void fd_made(int fd, enum fd_kind kind, enum fd_short_reads s)
{
	struct fd_entry *e = fd_entry(fd);

	if (!e)
		return;
	forget(e);
	atomic_store(&e->kind, kind);
	atomic_store(&e->short_reads, s);
}

void fd_set_short_reads(int fd, enum fd_short_reads s)
{
	struct fd_entry *e = fd_entry(fd);

	if (e)
		atomic_store(&e->short_reads, s);
}

bool fd_listening(const struct fd_view *v)
{
	struct fd_entry *e = v->e;
	unsigned char l = atomic_load_explicit(&e->listening, memory_order_relaxed);
	int on = 0;
	socklen_t len = sizeof on;

	if (l == FD_LISTENING_UNKNOWN) {
		l = gr_sys6(SYS_getsockopt, v->fd, SOL_SOCKET, SO_ACCEPTCONN, (long)&on,
			    (long)&len, 0) == 0 && on
			    ? FD_LISTENING_YES
			    : FD_LISTENING_NO;
		atomic_store_explicit(&e->listening, l, memory_order_relaxed);
	}
	return l == FD_LISTENING_YES;
}

void fd_set_listening(int fd)
{
	struct fd_entry *e = fd_entry(fd);

	if (e)
		atomic_store(&e->listening, FD_LISTENING_YES);
}

void fd_set_connecting(const struct fd_view *v, bool on)
{
	atomic_store(&v->e->connecting, on);
}

/* every socket with a connect in progress blocking again; forget: and no longer marked */
static void connects_blocking(bool forget)
{
	for (unsigned int c = 0; c < MAX_FDS / CHUNK_FDS; c++) {
		struct fd_entry *chunk = atomic_load(&chunks[c]);

		for (unsigned int i = 0; chunk && i < CHUNK_FDS; i++) {
			int fd = (int)(c * CHUNK_FDS + i);
			long fl;

			if (!atomic_load_explicit(&chunk[i].connecting, memory_order_relaxed))
				continue;
			fl = gr_sys2(SYS_fcntl, fd, F_GETFL);
			if (fl >= 0 && (fl & O_NONBLOCK))
				gr_sys3(SYS_fcntl, fd, F_SETFL, fl & ~O_NONBLOCK);
			if (forget)
				atomic_store(&chunk[i].connecting, false);
		}
	}
}

void fd_before_exec(void)
{
	connects_blocking(false);
}

/* fork.h: as before an exec, at once, and the marks are forgotten: the child has none of the
 * connecting threads, and a mark kept would later clear a mode the parent's program set */
static void fdtable_after_fork_child(struct gr_task *self)
{
	(void)self;
	connects_blocking(true);
}
GR_AFTER_FORK(GR_FORK_SHIM, fdtable_after_fork_child);

void fd_forget(int fd)
{
	struct fd_entry *e = fd_entry(fd);

	if (e)
		forget(e);
}

void fd_learn_mode(int fd, mode_t mode)
{
	struct fd_entry *e = fd_entry(fd);
	unsigned char unknown = FD_UNKNOWN, k = kind_of_mode(mode);

	if (e && k != FD_UNKNOWN && atomic_load_explicit(&e->kind, memory_order_relaxed) == FD_UNKNOWN)
		atomic_compare_exchange_strong(&e->kind, &unknown, k);
}

void fd_forget_range(unsigned int first, unsigned int last)
{
	for (unsigned int c = first / CHUNK_FDS; c < MAX_FDS / CHUNK_FDS && c <= last / CHUNK_FDS; c++) {
		if (!atomic_load(&chunks[c]))
			continue;
		for (unsigned int fd = c * CHUNK_FDS; fd < (c + 1) * CHUNK_FDS; fd++)
			if (fd >= first && fd <= last)
				fd_forget((int)fd);
	}
}

void fd_dup(int oldfd, int newfd)
{
	struct fd_entry *o = fd_entry(oldfd), *n = fd_entry(newfd);

	if (!o || !n)
		return;
	atomic_store(&n->mode_gen, 0);
	atomic_store(&n->kind, atomic_load(&o->kind));
	atomic_store(&n->short_reads, atomic_load(&o->short_reads));
	atomic_store(&n->listening, atomic_load(&o->listening));
}

static _Atomic unsigned int mode_gen = 1;

void fd_mode_changed(void)
{
	atomic_fetch_add(&mode_gen, 1);
}

static int64_t timeout_ns(int fd, int opt)
{
	struct timeval tv;
	socklen_t len = sizeof tv;

	if (gr_sys6(SYS_getsockopt, fd, SOL_SOCKET, opt, (long)&tv, (long)&len, 0) != 0)
		return 0;
	return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

/* the view's entry (NULL: none), its cached mode read now if stale */
static struct fd_entry *mode_of(const struct fd_view *v)
{
	struct fd_entry *e = v->e;
	unsigned int gen = atomic_load(&mode_gen);
	bool sock = v->kind == FD_STREAM || v->kind == FD_DGRAM;
	long fl;

	if (!e || atomic_load_explicit(&e->mode_gen, memory_order_acquire) == gen)
		return e;
	fl = gr_sys2(SYS_fcntl, v->fd, F_GETFL);
	e->nonblock = fl >= 0 && (fl & O_NONBLOCK);
	e->rcvtimeo = sock ? timeout_ns(v->fd, SO_RCVTIMEO) : 0;
	e->sndtimeo = sock ? timeout_ns(v->fd, SO_SNDTIMEO) : 0;
	atomic_store_explicit(&e->mode_gen, gen, memory_order_release);
	return e;
}

bool fd_prog_nonblock(const struct fd_view *v)
{
	struct fd_entry *e = mode_of(v);

	return e && e->nonblock;
}

int64_t fd_timeout(const struct fd_view *v, int mode)
{
	struct fd_entry *e = mode_of(v);

	return !e ? 0 : mode == GR_PD_R ? e->rcvtimeo : e->sndtimeo;
}
