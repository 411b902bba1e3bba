/*
 * report.c — the blocking report (not yet: a refusal of one line).
 */
#include "ctl.h"

void ctl_report(struct gr_out *o, bool json)
{
	(void)json;
	gr_out_puts(o, "error: report is not available yet\n");
}
