/*
 * time.c — turning the deadlines programs give (absolute times on their clock, poll-style
 * milliseconds) into the runtime's CLOCK_MONOTONIC nanoseconds.
 *
 * An absolute CLOCK_REALTIME deadline is converted once, at the call; waits that must not end
 * early against a clock that may be set (sleeps, joins) check that clock again on waking.
 */
#include "shim.h"

#include "sys.h"
#include "timer.h"

int64_t shim_deadline(clockid_t clock, const struct timespec *abstime)
{
	struct timespec now;
	int64_t rel;

	if (clock == CLOCK_MONOTONIC)
		return (int64_t)abstime->tv_sec * 1000000000 + abstime->tv_nsec;
	clock_gettime(clock, &now);
	rel = (int64_t)(abstime->tv_sec - now.tv_sec) * 1000000000 + (abstime->tv_nsec - now.tv_nsec);
	return gr_nanotime() + (rel > 0 ? rel : 0);
}

int64_t shim_deadline_ms(int ms)
{
	return ms < 0 ? GR_NEVER : gr_nanotime() + (int64_t)ms * 1000000;
}
