/*
 * lines.h — file:line added to the frames of a dump or report answer (lines.c).
 */
#ifndef GP_LINES_H
#define GP_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * answer (NUL-terminated; JSON if json, else text) of process pid, with file:line given to
 * every frame whose object (the one pid has mapped) has a line table for it, in a new
 * malloc'ed text (*len bytes); NULL out of memory.
 */
char *gp_add_lines(const char *answer, bool json, pid_t pid, size_t *len);

#endif
