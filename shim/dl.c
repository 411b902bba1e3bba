/*
 * dl.c — dlopen: a module loaded after start-up that uses static (initial-exec) TLS gets its
 * TLS block initialised in every task's TCB; glibc does that only for threads it made itself.
 * TLS of ordinary (general-dynamic) modules is allocated per task on first use by glibc.
 */
#include "shim.h"

GR_EXPORT void *dlopen(const char *file, int mode)
{
	SHIM_CALLED(dlopen);
	void *h = REAL(dlopen)(file, mode);

	if (h && gr_current_task())
		gr_tls_after_dlopen(gr_task_each_tcb);
	return h;
}

GR_EXPORT void *dlmopen(Lmid_t lmid, const char *file, int mode)
{
	SHIM_CALLED(dlmopen);
	void *h = REAL(dlmopen)(lmid, file, mode);

	if (h && gr_current_task())
		gr_tls_after_dlopen(gr_task_each_tcb);
	return h;
}
