/*
 * lines.c — file:line for the frames of a dump or a report, read out of the process.
 *
 * The library names each frame's object file and the address in it (shim/ctl.h, ctl_frame):
 * text lines "    #N FUNCTION (PATH+0xADDR)", JSON objects {"function": ..., "module":
 * "PATH", "address": "0xADDR"}. Here each such frame is looked up in its object's DWARF line
 * table with elfutils' libdw: the object is opened by its path as the process sees it (through
 * /proc/PID/root, so a process in a container is read from its own files; the path itself if
 * that cannot be read), its debug information found where it is, in the file or by build-id
 * or debuglink under /usr/lib/debug (dwfl_standard_find_debuginfo). Only if the file there is
 * the one the process has mapped: /proc/PID/maps names the object at that path with the same
 * device and inode, not "(deleted)". A program rebuilt since it started would otherwise get
 * the new file's lines for the old file's addresses: a silent wrong answer; it gets none. A
 * frame
 * found becomes "    #N FUNCTION at FILE:LINE" (the object part dropped: the line says more),
 * or gets "file" and "line" in JSON. A frame not found (no debug information, a stripped
 * file, a vDSO, an unreadable path) stays as it came, silently: the function+offset is
 * still right, and an operator asked for a dump, not a diagnosis of debug packages.
 *
 * Why here and not in the library: reading DWARF means a DWARF reader and its allocations in
 * every preloaded program, run by the control thread of a program that may be in trouble; the
 * command runs once, where the user asked, and the library depends on nothing new. The
 * outputs the library writes itself (the deadlock report, the dump on GREENPOLL_DUMP_SIGNAL,
 * the report written at exit) keep PATH+0xADDR for addr2line.
 *
 * Each object is opened once per answer (a dump of thousands of tasks names a few objects).
 */
#define _GNU_SOURCE
#include "lines.h"

#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define TEXT_FRAME "    #"
#define JSON_MODULE "\"module\": \""
#define JSON_ADDRESS "\", \"address\": \"0x"

/* the objects an answer names, each opened once (mod NULL: no line table to read) */
struct object {
	char *path;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	struct object *next;
};

/* an answer's lookups: the process it came from, the objects opened for it */
struct lookup {
	pid_t pid;
	struct object *objects;
};

/* a growing output text */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *b = realloc(t->buf, cap);

		if (!b) {
			t->failed = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = 0;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* whether a line of /proc/PID/maps matches: its object's path, device numbers and inode */
typedef bool maps_match_fn(const char *path, unsigned int dev_major, unsigned int dev_minor,
			   unsigned long inode, void *arg);

/* whether some line of process pid's maps matches */
static bool maps_find(pid_t pid, maps_match_fn *match, void *arg)
{
	char maps[64], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(maps, sizeof maps, "/proc/%d/maps", (int)pid);
	if (!(f = fopen(maps, "re")))
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		unsigned int dev_major, dev_minor;
		unsigned long inode;
		int at = 0;

		line[strcspn(line, "\n")] = 0;
		found = sscanf(line, "%*s %*s %*s %x:%x %lu %n", &dev_major, &dev_minor, &inode, &at) == 3 &&
			at > 0 && match(line + at, dev_major, dev_minor, inode, arg);
	}
	free(line);
	fclose(f);
	return found;
}

struct same_file {
	const char *path;
	const struct stat *st;
};

static bool is_same_file(const char *path, unsigned int dev_major, unsigned int dev_minor,
			 unsigned long inode, void *arg)
{
	const struct same_file *w = arg;

	return strcmp(path, w->path) == 0 && inode == (unsigned long)w->st->st_ino &&
	       dev_major == major(w->st->st_dev) && dev_minor == minor(w->st->st_dev);
}

/* whether process pid has file (its own path) mapped, as st (device and inode) */
static bool mapped(pid_t pid, const char *path, const struct stat *st)
{
	struct same_file w = {path, st};

	return maps_find(pid, is_same_file, &w);
}

struct ending {
	const char *tail; /* "/" and a relative path, "./" dropped */
	char *path;	  /* out: the mapped path that ends so */
	size_t n;
};

static bool ends_so(const char *path, unsigned int dev_major, unsigned int dev_minor,
		    unsigned long inode, void *arg)
{
	struct ending *e = arg;
	size_t len = strlen(path), tail = strlen(e->tail);

	(void)dev_major, (void)dev_minor, (void)inode;
	if (len <= tail || strcmp(path + len - tail, e->tail) != 0 || len >= e->n)
		return false;
	memcpy(e->path, path, len + 1);
	return true;
}

/* The absolute path of an object the process names by a relative one (a library preloaded as
 * LD_PRELOAD=build/libgreenpoll.so: relative to a directory the process may have left since),
 * from the object it has mapped whose path ends so; false if none. */
static bool mapped_absolute(pid_t pid, const char *rel, char *path, size_t n)
{
	char tail[4200];
	struct ending e = {tail, path, n};

	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	snprintf(tail, sizeof tail, "/%s", rel);
	return maps_find(pid, ends_so, &e);
}

static struct object *object_of(struct object **objects, pid_t pid, const char *path, size_t n)
{
	struct object *o;
	char file[4200], absolute[4096];
	struct stat st;

	for (o = *objects; o; o = o->next)
		if (strlen(o->path) == n && memcmp(o->path, path, n) == 0)
			return o;
	if (!(o = calloc(1, sizeof *o)) || !(o->path = strndup(path, n))) {
		free(o);
		return NULL;
	}
	if (o->path[0] == '/' || !mapped_absolute(pid, o->path, absolute, sizeof absolute))
		snprintf(absolute, sizeof absolute, "%s", o->path);
	snprintf(file, sizeof file, "/proc/%d/root%s", (int)pid, absolute);
	if (stat(file, &st) != 0)
		snprintf(file, sizeof file, "%s", absolute);
	/* at its link-time addresses (bias 0): the library gives addresses in the file */
	if (absolute[0] == '/' && stat(file, &st) == 0 && mapped(pid, absolute, &st) &&
	    (o->dwfl = dwfl_begin(&callbacks))) {
		o->mod = dwfl_report_elf(o->dwfl, absolute, file, -1, 0, true);
		dwfl_report_end(o->dwfl, NULL, NULL);
	}
	o->next = *objects;
	*objects = o;
	return o;
}

/* the source line of address addr of object path (n bytes): its file into buf (size bn; made
 * absolute with the compilation's directory), *line; NULL if unknown */
static const char *source_line(struct lookup *k, const char *path, size_t n, uint64_t addr,
			       int *line, char *buf, size_t bn)
{
	struct object *o = object_of(&k->objects, k->pid, path, n);
	Dwfl_Line *l;
	const char *file, *dir;

	*line = 0;
	if (!o || !o->mod || !(l = dwfl_module_getsrc(o->mod, addr)))
		return NULL;
	if (!(file = dwfl_lineinfo(l, NULL, line, NULL, NULL, NULL)) || *line <= 0)
		return NULL;
	dir = dwfl_line_comp_dir(l);
	if (file[0] != '/' && dir && dir[0])
		snprintf(buf, bn, "%s/%s", dir, file);
	else
		snprintf(buf, bn, "%s", file);
	return buf;
}

/* a text frame line (without its '\n'), resolved when it is one and can be */
static void text_line(struct text *t, struct lookup *k, const char *s, size_t n)
{
	const char *open = NULL, *plus;
	const char *file;
	uint64_t addr;
	char *end, tail[64], where[4096];
	int line;

	if (n > strlen(TEXT_FRAME) && memcmp(s, TEXT_FRAME, strlen(TEXT_FRAME)) == 0 && s[n - 1] == ')')
		for (const char *c = s; c + 1 < s + n; c++)
			if (c[0] == ' ' && c[1] == '(')
				open = c;
	plus = open ? memmem(open, (size_t)(s + n - open), "+0x", 3) : NULL;
	while (plus && memmem(plus + 1, (size_t)(s + n - plus - 1), "+0x", 3))
		plus = memmem(plus + 1, (size_t)(s + n - plus - 1), "+0x", 3);
	if (plus) {
		addr = strtoull(plus + 3, &end, 16);
		if (end == s + n - 1 &&
		    (file = source_line(k, open + 2, (size_t)(plus - open - 2), addr, &line,
					    where, sizeof where))) {
			put(t, s, (size_t)(open - s));
			put(t, " at ", 4);
			put(t, file, strlen(file));
			snprintf(tail, sizeof tail, ":%d", line);
			put(t, tail, strlen(tail));
			return;
		}
	}
	put(t, s, n);
}

/* a JSON string's text up to its closing quote, unescaped into buf (size n); its end (the
 * quote) or NULL when it does not fit or has escapes a path does not (\uXXXX) */
static const char *json_string(const char *s, char *buf, size_t n)
{
	size_t len = 0;

	for (; *s && *s != '"'; s++) {
		if (*s == '\\' && (s[1] == '"' || s[1] == '\\' || s[1] == '/'))
			s++;
		else if (*s == '\\')
			return NULL;
		if (len + 1 >= n)
			return NULL;
		buf[len++] = *s;
	}
	buf[len] = 0;
	return *s == '"' ? s : NULL;
}

static void put_json_str(struct text *t, const char *s)
{
	for (; *s; s++) {
		char esc[8];

		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = *s;
			put(t, esc, 2);
		} else if ((unsigned char)*s < 0x20) {
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)*s);
			put(t, esc, strlen(esc));
		} else {
			put(t, s, 1);
		}
	}
}

/* JSON text: each frame's object given "file" and "line" where they can be found */
static void json_text(struct text *t, struct lookup *k, const char *s)
{
	const char *m;

	while ((m = strstr(s, JSON_MODULE))) {
		char path[4096], *end, tail[32], where[4096];
		const char *q = json_string(m + strlen(JSON_MODULE), path, sizeof path), *file;
		uint64_t addr;
		int line;

		if (!q || strncmp(q, JSON_ADDRESS, strlen(JSON_ADDRESS)) != 0) {
			put(t, s, (size_t)(m + 1 - s));
			s = m + 1;
			continue;
		}
		addr = strtoull(q + strlen(JSON_ADDRESS), &end, 16);
		if (end[0] != '"' || end[1] != '}' ||
		    !(file = source_line(k, path, strlen(path), addr, &line, where, sizeof where))) {
			put(t, s, (size_t)(end - s));
			s = end;
			continue;
		}
		put(t, s, (size_t)(end + 1 - s));
		put(t, ", \"file\": \"", 11);
		put_json_str(t, file);
		snprintf(tail, sizeof tail, "\", \"line\": %d", line);
		put(t, tail, strlen(tail));
		s = end + 1;
	}
	put(t, s, strlen(s));
}

char *gp_add_lines(const char *answer, bool json, pid_t pid, size_t *len)
{
	struct text t = {0};
	struct lookup k = {.pid = pid};

	put(&t, "", 0);
	if (json) {
		json_text(&t, &k, answer);
	} else {
		for (const char *s = answer, *nl; *s; s = nl ? nl + 1 : s + strlen(s)) {
			nl = strchr(s, '\n');
			text_line(&t, &k, s, nl ? (size_t)(nl - s) : strlen(s));
			if (nl)
				put(&t, "\n", 1);
		}
	}
	while (k.objects) {
		struct object *o = k.objects;

		k.objects = o->next;
		if (o->dwfl)
			dwfl_end(o->dwfl);
		free(o->path);
		free(o);
	}
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
