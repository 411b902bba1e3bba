/*
 * fork.c — the runtime in a fork child (see fork.h).
 */
#include "fork.h"

#include "tls.h"

/* the registry's entries, from every object linked in (the linker makes these two symbols
 * for a section whose name is a C identifier; weak: a program may link none; hidden: this
 * library's own, not another's with the same section) */
extern const struct gr_fork_hook __start_gr_fork_hooks[] __attribute__((weak, visibility("hidden")));
extern const struct gr_fork_hook __stop_gr_fork_hooks[] __attribute__((weak, visibility("hidden")));

void gr_after_fork_child(void)
{
	struct gr_task *self = gr_current_task();
	int done = 0; /* every entry with order <= done has run */

	if (!self)
		return;
	/* in order, without allocating: a dozen entries, so a scan per order */
	for (;;) {
		int next = 0;

		for (const struct gr_fork_hook *h = __start_gr_fork_hooks; h < __stop_gr_fork_hooks; h++)
			if (h->order > done && (!next || h->order < next))
				next = h->order;
		if (!next)
			return;
		for (const struct gr_fork_hook *h = __start_gr_fork_hooks; h < __stop_gr_fork_hooks; h++)
			if (h->order == next)
				h->child(self);
		done = next;
	}
}
