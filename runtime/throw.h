/*
 * throw.h — the runtime's messages: one line on stderr, prefixed "greenpoll: ".
 *
 * gr_say formats into a stack buffer and writes it with one raw write(2): no allocation, no
 * stdio lock, safe on any stack and with any TLS installed. gr_throw is for broken invariants:
 * it says what broke and aborts, never returning an invented value.
 */
#ifndef GR_THROW_H
#define GR_THROW_H

void gr_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void gr_throw(const char *what);

#endif
