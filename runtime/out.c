/*
 * out.c — buffered text output to an fd (see out.h).
 */
#include "out.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sys.h"

void gr_out_init(struct gr_out *o, int fd)
{
	o->fd = fd;
	o->slot = NULL;
	o->failed = false;
	o->len = 0;
}

void gr_out_init_slot(struct gr_out *o, _Atomic int *slot)
{
	o->fd = -1;
	o->slot = slot;
	o->failed = false;
	o->len = 0;
}

bool gr_out_flush(struct gr_out *o)
{
	size_t done = 0;

	while (!o->failed && done < o->len) {
		long n = gr_os_write(o->slot ? atomic_load(o->slot) : o->fd, o->buf + done,
				     o->len - done);

		if (n == -EINTR)
			continue;
		if (n <= 0)
			o->failed = true;
		else
			done += (size_t)n;
	}
	o->len = 0;
	return !o->failed;
}

static void put(struct gr_out *o, const char *s, size_t n)
{
	while (n) {
		size_t room = sizeof o->buf - o->len, k = n < room ? n : room;

		memcpy(o->buf + o->len, s, k);
		o->len += k;
		s += k;
		n -= k;
		if (o->len == sizeof o->buf)
			gr_out_flush(o);
	}
}

void gr_out_puts(struct gr_out *o, const char *s) { put(o, s, strlen(s)); }

void gr_out_printf(struct gr_out *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* the escape of c, into e (at least 7 bytes); its length */
static size_t escape_char(unsigned char c, char *e)
{
	switch (c) {
	case '"': memcpy(e, "\\\"", 2); return 2;
	case '\\': memcpy(e, "\\\\", 2); return 2;
	case '\n': memcpy(e, "\\n", 2); return 2;
	case '\t': memcpy(e, "\\t", 2); return 2;
	case '\r': memcpy(e, "\\r", 2); return 2;
	default:
		if (c < 0x20 || c == 0x7f)
			return (size_t)snprintf(e, 7, "\\u%04x", c);
		e[0] = (char)c;
		return 1;
	}
}

size_t gr_json_escape(char *dst, size_t n, const char *s)
{
	size_t len = 0;

	if (!n)
		return 0;
	for (; s && *s; s++) {
		char e[8];
		size_t k = escape_char((unsigned char)*s, e);

		if (len + k >= n)
			break;
		memcpy(dst + len, e, k);
		len += k;
	}
	dst[len] = 0;
	return len;
}

void gr_out_json_str(struct gr_out *o, const char *s)
{
	for (; s && *s; s++) {
		char e[8];

		put(o, e, escape_char((unsigned char)*s, e));
	}
}
