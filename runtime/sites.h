/*
 * sites.h — call sites aggregated for the blocking report: each slow call is added with the
 * name of the call and the return addresses of its caller's frames (its site); calls with the
 * same name and site add up into one entry (count, total and worst time).
 *
 * A fixed table (GR_SITES_MAX entries, no allocation: an add happens on a task, after a slow
 * call); a call whose site finds no room is counted in `dropped` (count and time), so the
 * totals stay right when the sites do not all fit. Adds take the table's lock: only calls
 * that were slow anyway get here.
 */
#ifndef GR_SITES_H
#define GR_SITES_H

#include <stdint.h>

#include "lock.h"

#define GR_SITE_FRAMES 6
#define GR_SITES_MAX 256

struct gr_site {
	const char *call;
	int nframes;
	uintptr_t pcs[GR_SITE_FRAMES];
	uint64_t count;
	int64_t total_ns, worst_ns;
};

struct gr_sites {
	gr_lock_t lock;
	int n;			  /* protected by lock, as everything below */
	uint64_t dropped;	  /* calls whose site found no room */
	int64_t dropped_ns;
	struct gr_site site[GR_SITES_MAX];
};

/* One call of `call` that took ns, from the site pcs[0..n) (n capped at GR_SITE_FRAMES). */
void gr_sites_add(struct gr_sites *s, const char *call, const uintptr_t *pcs, int n, int64_t ns);

/* A copy of the sites into out (room for GR_SITES_MAX), largest total first; how many. The
 * dropped calls into *dropped, *dropped_ns. */
int gr_sites_sorted(struct gr_sites *s, struct gr_site *out, uint64_t *dropped, int64_t *dropped_ns);

/* In a fork child: empty (the lock may have been held by a thread that is gone). */
void gr_sites_reset(struct gr_sites *s);

#endif
