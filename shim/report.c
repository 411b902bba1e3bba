/*
 * report.c — the blocking report (not yet: a refusal of one line).
 */
#include "shim.h"
#include "ctl.h"

void shim_report_call(const char *name, int64_t since)
{
	(void)name, (void)since;
}

void ctl_report(struct gr_out *o, bool json)
{
	(void)json;
	gr_out_puts(o, "error: report is not available yet\n");
}
