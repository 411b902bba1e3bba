/*
 * client.h — asking a process running under greenpoll one question on its control channel
 * (shim/ctl_proto.h) and getting its whole answer.
 */
#ifndef GP_CLIENT_H
#define GP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* How long a connect, the request, or each read of the answer may wait by default. */
#define GP_ASK_TIMEOUT_MS 10000

struct gp_answer {
	char *text;     /* malloc'ed, NUL-terminated; NULL when there was no answer */
	size_t len;     /* without the NUL */
};

/*
 * Sends request (one line, without its '\n') to process pid and reads its answer into
 * *answer, each step bounded by timeout_ms without progress. Returns GP_EXIT_OK, or the exit
 * status of the failure (enum gp_exit) with a one-line reason in why (size n, no
 * "greenpoll: " prefix). A refusal ("error: ...") is GP_EXIT_REFUSED and keeps its answer.
 */
int gp_ask(pid_t pid, const char *request, int timeout_ms, struct gp_answer *answer, char *why,
	   size_t n);

/* Whether process pid has ended: there is none, or only its zombie. */
bool gp_process_gone(pid_t pid);

/* Frees an answer's text (and leaves it empty). */
void gp_answer_free(struct gp_answer *answer);

#endif
