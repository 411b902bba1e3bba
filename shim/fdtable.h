/*
 * fdtable.h — what the shim knows about each of the program's fds.
 *
 * Indexed by fd number, in chunks allocated on first use up to the kernel's fd ceiling (no
 * fixed size that silently skips high fds). An entry says what kind of file the fd is (found
 * with fstat once, or known at creation), its poll descriptor once a blocking call had to
 * wait on it, and whether a socket is listening (accept waits differently on one: socket.c).
 * The shim changes an fd's file status flags only while a blocking connect is in progress
 * (socket.c), and gives the socket its mode back before an exec (fd_before_exec): otherwise
 * the mode F_GETFL shows, to the program and to any image it execs, is the program's.
 *
 * The program's blocking mode and socket timeouts are needed only when a call would block; they
 * are cached per entry and read again (F_GETFL, getsockopt) after any call of the program that
 * could change them.
 *
 * A call that may wait on an fd (read, write, recv, send, accept, connect, poll...) looks the fd
 * up once, when it begins: fd_view gives it the entry, the fd's kind and, for a stream socket,
 * what a short read means, with the poll descriptor as a hint. Everything else the call asks
 * (the program's mode and timeouts, the poll descriptor to wait on, whether it listens) goes
 * through that view, read when the call needs it, never by looking the number up again. The
 * view stays the fd number's: if the program closes or replaces the fd while the call waits,
 * the close wakes the wait with EBADF (netpoll.h) and a later fd_pd through the view finds
 * the number's new poll descriptor, as a call made then would. Calls that make, replace or
 * configure fds (socket, close, dup2, fcntl, setsockopt...) name the fd by number.
 *
 * Entries are reset when the program closes or replaces the fd through an interposed call
 * (close, dup2, dup3, fclose, pclose). An fd closed behind the shim's back and reused would
 * keep a stale kind; calls notice (ENOTSOCK, ESPIPE, EOPNOTSUPP) and classify it again.
 */
#ifndef GR_FDTABLE_H
#define GR_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "netpoll.h"

enum fd_kind {
	FD_UNKNOWN = 0,
	FD_STREAM,   /* stream or seqpacket socket */
	FD_DGRAM,    /* datagram socket */
	FD_PIPE,     /* pipe or FIFO */
	FD_POLL,     /* looked at (poll) before each call: ttys and other character devices,
		      * eventfd, timerfd, signalfd, and FIFOs that refuse RWF_NOWAIT */
	FD_OTHER,    /* anything else: calls go straight to libc */
};

/* 64 bytes, aligned: an entry is one cache line (with thousands of fds each is a miss) */
struct fd_entry {
	_Alignas(64) _Atomic unsigned char kind; /* enum fd_kind */
	_Atomic unsigned char short_reads;	  /* enum fd_short_reads */
	_Atomic unsigned char listening;	  /* enum fd_listening */
	atomic_bool connecting;		  /* a blocking connect is in progress (O_NONBLOCK) */
	/* the program's mode, cached: valid while mode_gen is the table's generation */
	bool nonblock;
	_Atomic unsigned int mode_gen;
	int64_t rcvtimeo, sndtimeo; /* SO_RCVTIMEO, SO_SNDTIMEO in ns; 0: none */
	struct gr_pd *_Atomic pd; /* NULL until a blocking call waited */
};

/* what a read that comes back short says about a stream socket */
enum fd_short_reads {
	FD_SHORT_UNKNOWN = 0,
	FD_SHORT_EMPTIED, /* TCP: it took all there was */
	FD_SHORT_MAYBE,	  /* anything else (Unix stream sockets stop at a change of sender,
			   * kernel TLS at a record): more may be queued */
};

/* whether a stream socket is listening */
enum fd_listening {
	FD_LISTENING_UNKNOWN = 0,
	FD_LISTENING_YES, /* listen succeeded on it, or SO_ACCEPTCONN said so */
	FD_LISTENING_NO,
};

/* The entry for fd, or NULL if fd is out of range (or the table cannot grow). */
struct fd_entry *fd_entry(int fd);

/* One call's view of an fd (see the top). */
struct fd_view {
	int fd;
	enum fd_kind kind;	 /* when the call began (classified then if not known) */
	bool short_read_empties; /* a stream socket a short read empties (TCP; asked once) */
	struct gr_pd *pd_hint;	 /* the fd's poll descriptor then, without a reference (pds
				  * are type-stable): for hints a stale pd cannot make wrong
				  * (gr_pd_read_known_empty) */
	struct fd_entry *e;	 /* NULL if fd is out of range (kind FD_OTHER): fd_pd then says
				  * NULL, fd_prog_nonblock false, fd_timeout 0; the others take
				  * the view of a managed fd (fd_managed) */
};

/* The view of fd for a call beginning now. */
struct fd_view fd_view(int fd);

/* Whether the shim makes calls on the view's fd green: sockets, pipes, FIFOs, ttys, eventfd... */
static inline bool fd_managed(const struct fd_view *v)
{
	return v->kind == FD_STREAM || v->kind == FD_DGRAM || v->kind == FD_PIPE ||
	       v->kind == FD_POLL;
}

/* Whether the view's fd is a socket. */
static inline bool fd_is_socket(const struct fd_view *v)
{
	return v->kind == FD_STREAM || v->kind == FD_DGRAM;
}

/* The call found the fd to be of another kind than the view says (a FIFO that refuses
 * RWF_NOWAIT is FD_POLL): the view and the entry say so from now on. */
void fd_set_kind(struct fd_view *v, enum fd_kind kind);

/* The fd's poll descriptor with a reference for the caller (release with gr_pd_release). */
struct gr_pd *fd_pd(const struct fd_view *v);

/* Whether the program has the fd in non-blocking mode (as it set it). */
bool fd_prog_nonblock(const struct fd_view *v);

/* The socket's SO_RCVTIMEO (mode GR_PD_R) or SO_SNDTIMEO (GR_PD_W) in ns, 0 for none. */
int64_t fd_timeout(const struct fd_view *v, int mode);

/* Whether the stream socket is listening (asked once with SO_ACCEPTCONN, unless known). */
bool fd_listening(const struct fd_view *v);

/* A blocking connect made the socket non-blocking (on) or is over and gave its mode back. */
void fd_set_connecting(const struct fd_view *v, bool on);

/* fd was just made (socket, accept, pipe, a FIFO opened...): forget what the number was, note
 * its kind, and for a stream socket what short reads mean when known without asking (a new
 * socket, an accepted one); FD_SHORT_UNKNOWN to ask at its first read. */
void fd_made(int fd, enum fd_kind kind, enum fd_short_reads s);

/* The program's fstat of fd said `mode`: an fd whose kind is not known yet takes it from
 * there (not a socket's: its type says which), which saves the fstat of its first blocking
 * call. */
void fd_learn_mode(int fd, mode_t mode);

/* The program set a TCP upper-layer protocol such as TLS on fd: short reads mean
 * FD_SHORT_MAYBE. */
void fd_set_short_reads(int fd, enum fd_short_reads s);

/* listen succeeded on fd. */
void fd_set_listening(int fd);

/*
 * An exec is about to hand the fds to a new image (in this process, or in a child glibc
 * spawns): every socket with a connect in progress gets its blocking mode back. Its connect
 * goes on (the task waits for writability, which needs no O_NONBLOCK).
 */
void fd_before_exec(void);

/* The program is closing fd (or it is being replaced): wake its waiters, forget it. */
void fd_forget(int fd);

/* The same for every fd in [first, last] the table knows of. */
void fd_forget_range(unsigned int first, unsigned int last);

/* newfd is a dup of oldfd: same kind, short reads and listening. */
void fd_dup(int oldfd, int newfd);

/*
 * The program may have changed some fd's O_NONBLOCK or socket timeouts (fcntl F_SETFL, FIONBIO,
 * setsockopt through the shim): every fd's cached mode is read again at its next use. (A
 * change through a dup or another process is seen too: the cache is dropped for all fds.)
 */
void fd_mode_changed(void);

#endif
