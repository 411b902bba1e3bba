/*
 * hiddenfd.c — the registry of greenpoll's own fds (see hiddenfd.h). Raw system calls only:
 * close, dup and fcntl are names the shim interposes.
 */
#define _GNU_SOURCE
#include "hiddenfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>

#include "sys.h"
#include "throw.h"

#define HIGH_TOP 1024 /* hidden fds go just below min(this, soft RLIMIT_NOFILE) */

static _Atomic int *slots[GR_HIDDENFD_MAX];
static _Atomic int nslots;
static _Atomic unsigned moves;

void gr_hiddenfd_register(_Atomic int *slot)
{
	int n = atomic_load(&nslots);

	for (int i = 0; i < n; i++)
		if (slots[i] == slot)
			return;
	if (n == GR_HIDDENFD_MAX)
		gr_throw("runtime: more hidden fd slots than GR_HIDDENFD_MAX");
	slots[n] = slot;
	atomic_store(&nslots, n + 1);
}

static _Atomic int *slot_of(int fd)
{
	int n = atomic_load(&nslots);

	for (int i = 0; fd >= 0 && i < n; i++)
		if (atomic_load(slots[i]) == fd)
			return slots[i];
	return NULL;
}

bool gr_hiddenfd_owns(int fd) { return slot_of(fd) != NULL; }

int gr_hiddenfd_list(int fds[GR_HIDDENFD_MAX])
{
	int n = atomic_load(&nslots), k = 0;

	for (int i = 0; i < n; i++) {
		int fd = atomic_load(slots[i]), j = k++;

		if (fd < 0) {
			k--;
			continue;
		}
		for (; j > 0 && fds[j - 1] > fd; j--)
			fds[j] = fds[j - 1];
		fds[j] = fd;
	}
	return k;
}

unsigned gr_hiddenfd_moves(void) { return atomic_load(&moves); }

int gr_hiddenfd_move(int fd)
{
	_Atomic int *slot = slot_of(fd);
	int expect = fd;
	long moved;

	if (!slot)
		return 0;
	moved = gr_sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd + 1);
	if (moved < 0) /* at the top already: any free number will do */
		moved = gr_sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
	if (moved < 0)
		return (int)moved;
	/* a user of the old number (a poll in progress, a write to a connection) holds its own
	 * reference to the file while its call lasts: closing the number is safe; if the owner
	 * replaced the fd meanwhile, the copy is not needed */
	if (!atomic_compare_exchange_strong(slot, &expect, (int)moved)) {
		gr_sys1(SYS_close, moved);
		return 0;
	}
	atomic_fetch_add(&moves, 1); /* before the old number goes (gr_hiddenfd_moves) */
	gr_sys1(SYS_close, fd);
	return 0;
}

int gr_hiddenfd_place_high(int fd)
{
	struct rlimit rl;
	long top = HIGH_TOP, moved;

	if (gr_sys2(SYS_getrlimit, RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top)
		top = (long)rl.rlim_cur;
	if (fd >= top - GR_HIDDENFD_MAX)
		return fd;
	moved = gr_sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, top - GR_HIDDENFD_MAX);
	if (moved < 0) /* every number up there taken: it stays where it is */
		return fd;
	gr_sys1(SYS_close, fd);
	return (int)moved;
}
