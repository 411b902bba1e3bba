/*
 * throw.c — stderr messages and fatal errors (see throw.h).
 */
#include "throw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sys.h"

void gr_say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof line, "greenpoll: ");

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	gr_os_write(2, line, (unsigned long)n);
}

_Noreturn void gr_throw(const char *what)
{
	gr_say("fatal: %s", what);
	gr_libc_abort();
}
