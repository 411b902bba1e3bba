/*
 * sites.c — call sites of slow calls, aggregated (see sites.h).
 */
#include "sites.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool same_site(const struct gr_site *e, const char *call, const uintptr_t *pcs, int n)
{
	return e->call == call && e->nframes == n && memcmp(e->pcs, pcs, (size_t)n * sizeof *pcs) == 0;
}

void gr_sites_add(struct gr_sites *s, const char *call, const uintptr_t *pcs, int n, int64_t ns)
{
	struct gr_site *e = NULL;

	if (n > GR_SITE_FRAMES)
		n = GR_SITE_FRAMES;
	gr_lock(&s->lock);
	for (int i = 0; i < s->n && !e; i++)
		if (same_site(&s->site[i], call, pcs, n))
			e = &s->site[i];
	if (!e && s->n < GR_SITES_MAX) {
		e = &s->site[s->n++];
		*e = (struct gr_site){.call = call, .nframes = n};
		memcpy(e->pcs, pcs, (size_t)n * sizeof *pcs);
	}
	if (e) {
		e->count++;
		e->total_ns += ns;
		if (ns > e->worst_ns)
			e->worst_ns = ns;
	} else {
		s->dropped++;
		s->dropped_ns += ns;
	}
	gr_unlock(&s->lock);
}

static int by_total(const void *a, const void *b)
{
	const struct gr_site *x = a, *y = b;

	return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

int gr_sites_sorted(struct gr_sites *s, struct gr_site *out, uint64_t *dropped, int64_t *dropped_ns)
{
	int n;

	gr_lock(&s->lock);
	n = s->n;
	memcpy(out, s->site, (size_t)n * sizeof *out);
	*dropped = s->dropped;
	*dropped_ns = s->dropped_ns;
	gr_unlock(&s->lock);
	qsort(out, (size_t)n, sizeof *out, by_total);
	return n;
}

void gr_sites_reset(struct gr_sites *s)
{
	s->lock = (gr_lock_t)GR_LOCK_INIT;
	s->n = 0;
	s->dropped = 0;
	s->dropped_ns = 0;
}
