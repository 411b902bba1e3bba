/*
 * out.h — a buffered writer of text to an fd (a control connection, a report file, stderr),
 * for output too long for one gr_say line: the dump of thousands of tasks streams through a
 * small buffer instead of being built whole.
 *
 * Raw write(2) only (sys.h): usable from the control thread, the monitor and a task alike,
 * with no stdio lock and no allocation. A write that fails (the reader went away) marks the
 * writer failed; later output is dropped, so a caller streaming a long answer need not check
 * every line.
 */
#ifndef GR_OUT_H
#define GR_OUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define GR_OUT_BUF 4096

struct gr_out {
	int fd;
	_Atomic int *slot; /* if set, the fd is read from here at every write (a hidden fd) */
	bool failed;
	size_t len;
	char buf[GR_OUT_BUF];
};

void gr_out_init(struct gr_out *o, int fd);
void gr_out_init_slot(struct gr_out *o, _Atomic int *slot);
void gr_out_printf(struct gr_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gr_out_puts(struct gr_out *o, const char *s);

/* s as the inside of a JSON string (quotes, backslashes and control characters escaped;
 * NULL as the empty string) */
void gr_out_json_str(struct gr_out *o, const char *s);

/* Write out what is buffered; false if any write failed. */
bool gr_out_flush(struct gr_out *o);

/* The JSON escape of s into dst (size n, always terminated; cut at a whole escape if it does
 * not fit); the length written. */
size_t gr_json_escape(char *dst, size_t n, const char *s);

#endif
