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

/* The fd's kind, classified now if not known. */
enum fd_kind fd_kind(int fd);

/* Record the kind of a newly made fd (socket, accept, pipe...). */
void fd_set_kind(int fd, enum fd_kind kind);

/* The fd's poll descriptor with a reference for the caller (release with gr_pd_release). */
struct gr_pd *fd_pd(int fd);

/* The fd's poll descriptor if it has one, without a reference (pds are type-stable): for
 * hints that a stale pd cannot make wrong (gr_pd_read_known_empty). */
struct gr_pd *fd_pd_peek(int fd);

/* Whether a short read of the stream socket fd empties it (found once, then cached). */
bool fd_short_read_empties(int fd);

/* What short reads mean on fd, when known without asking (a new socket, an accepted one; the
 * program set a TCP upper-layer protocol such as TLS: FD_SHORT_MAYBE). */
void fd_set_short_reads(int fd, enum fd_short_reads s);

/* Whether the stream socket fd is listening (asked once with SO_ACCEPTCONN, unless known). */
bool fd_listening(int fd);

/* listen succeeded on fd. */
void fd_set_listening(int fd);

/* A blocking connect on fd made it non-blocking (on) or is over and gave its mode back. */
void fd_set_connecting(int fd, bool on);

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

/*
 * fd was just opened by path (open, openat...): its entry is reset (the number may have been
 * closed behind the shim's back), and its kind recorded if `mode` (the path's stat, made
 * before the open; 0 if none was) says a regular file or a directory, which saves the fstat
 * of its first call. The path may have been replaced between the stat and the open: a FIFO
 * or device taken for a regular file then has its calls passed to libc inside a bracket,
 * which blocks as the call should (only its carrier is held); nothing else is recorded
 * from the stat, so no other mistake is possible.
 */
void fd_opened(int fd, mode_t mode);

/* newfd is a dup of oldfd: same kind, short reads and listening. */
void fd_dup(int oldfd, int newfd);

/* Whether the program has fd in non-blocking mode (as it set it). */
bool fd_prog_nonblock(int fd);

/* The socket's SO_RCVTIMEO (mode GR_PD_R) or SO_SNDTIMEO (GR_PD_W) in ns, 0 for none. */
int64_t fd_timeout(int fd, int mode);

/*
 * The program may have changed some fd's O_NONBLOCK or socket timeouts (fcntl F_SETFL, FIONBIO,
 * setsockopt through the shim): every fd's cached mode is read again at its next use. (A
 * change through a dup or another process is seen too: the cache is dropped for all fds.)
 */
void fd_mode_changed(void);

#endif
