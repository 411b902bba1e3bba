/*
 * calls.c — the names of the interposed functions and their counts summed (see calls.h).
 */
#include "shim.h"

#include <stdlib.h>

#include "calls.h"

static const char *const call_names[SHIM_CALLS] = {
#define SHIM_CALL(name) [SHIM_CALL_##name] = #name,
#include "shim_calls.h"
#undef SHIM_CALL
};

static int most_first(const void *a, const void *b)
{
	const struct shim_call_count *x = a, *y = b;

	if (x->sum.n != y->sum.n)
		return x->sum.n < y->sum.n ? 1 : -1;
	return strcmp(x->name, y->name);
}

int shim_calls_sorted(struct shim_call_count *out)
{
	struct gr_stat_intercepted_sum sums[SHIM_CALLS];
	int n = 0;

	gr_stat_intercepted_sum(sums, SHIM_CALLS);
	for (int i = 0; i < SHIM_CALLS; i++)
		if (sums[i].n)
			out[n++] = (struct shim_call_count){call_names[i], sums[i]};
	qsort(out, (size_t)n, sizeof *out, most_first);
	return n;
}
