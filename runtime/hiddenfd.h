/*
 * hiddenfd.h — greenpoll's own fds (the poller's epoll fd and eventfd, the control channel's
 * socket and the connection it is answering, libunwind's pipe: see shim_hide_library_fds),
 * which are not the program's.
 *
 * Each lives in a slot its owner registers once (gr_hiddenfd_register: an atomic int holding
 * the fd, or -1 while it has none); the shim asks here whether an fd the program names is one
 * of them (close gives EBADF, close_range skips it, dup2 onto it first moves it away). Every
 * hidden fd is made close-on-exec and placed high (gr_hiddenfd_place_high): just below
 * min(soft RLIMIT_NOFILE, HIGH_TOP), so the program's numbers, allocated lowest first, stay
 * dense as natively (a daemon that reopens 0..2, a test that expects its first socket at 3),
 * and a close loop over the program's own range misses them. Not at the soft limit itself when
 * that is large: the kernel's fd array grows to the highest number in use, and a limit of
 * 1,048,576 would cost 8 MiB of kernel memory in every preloaded process.
 *
 * Slots are registered at start-up, before any other thread exists; the fds in them change
 * at any time (a renewal, a move, a connection): readers load each slot once.
 */
#ifndef GR_HIDDENFD_H
#define GR_HIDDENFD_H

#include <stdatomic.h>
#include <stdbool.h>

#define GR_HIDDENFD_MAX 6

/* Keep slot's fd (-1: none) hidden from the program from now on. */
void gr_hiddenfd_register(_Atomic int *slot);

/* Whether fd is one of greenpoll's. */
bool gr_hiddenfd_owns(int fd);

/* greenpoll's fds now open, ascending, into fds[GR_HIDDENFD_MAX]; how many. */
int gr_hiddenfd_list(int fds[GR_HIDDENFD_MAX]);

/* Move greenpoll's fd to another number (so the program can dup2 onto this one); 0 or -errno. */
int gr_hiddenfd_move(int fd);

/* How many moves there have been; counted before each move closes the old number, so a call
 * that read a slot's old fd and then failed on it sees the count changed. */
unsigned gr_hiddenfd_moves(void);

/* fd (just made, close-on-exec) moved high (see above); the number it now has. */
int gr_hiddenfd_place_high(int fd);

#endif
