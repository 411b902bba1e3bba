/*
 * dump.c — the `dump` and `tasks` answers (not yet: a refusal of one line).
 */
#include "ctl.h"

void ctl_dump(struct gr_out *o, bool json)
{
	(void)json;
	gr_out_puts(o, "error: dump is not available yet\n");
}

void ctl_tasks(struct gr_out *o) { gr_out_puts(o, "error: tasks is not available yet\n"); }
