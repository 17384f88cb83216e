/*
 * buf.h — a growable, capped byte buffer (after git's strbuf and curl's dynbuf).
 *
 * A `struct buf` owns its memory. `data` is either NULL (nothing appended yet)
 * or points to `len` bytes followed by a NUL byte that is not counted, so
 * buf_cstr() is always a valid C string. Every append fails with -E2BIG rather
 * than grow past `max` bytes, so hostile input cannot make memory grow without
 * bound; -ENOMEM when allocation fails. A failed append leaves the buffer as it
 * was. Lifetime: buf_init() → appends → buf_release() (which zeroes the bytes
 * first, so secrets can live in a buf).
 */
#ifndef AMIFS_AWS_BUF_H
#define AMIFS_AWS_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_DEFAULT_MAX ((size_t)64 << 20) /* 64 MiB */

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

/* Start empty; `max` 0 means BUF_DEFAULT_MAX. Never fails. */
void buf_init(struct buf *b, size_t max);
/* Wipe and free the bytes; the buffer is empty and reusable (same max). */
void buf_release(struct buf *b);
/* Forget the contents but keep the allocation (bytes wiped). */
void buf_reset(struct buf *b);

int buf_append(struct buf *b, const void *p, size_t n);
int buf_appends(struct buf *b, const char *s);
int buf_appendc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The contents as a C string; "" when empty. Valid until the next change. */
const char *buf_cstr(const struct buf *b);
/* Hand the allocation to the caller (a malloc'd, NUL-terminated string, never
 * NULL unless out of memory); the buffer is left empty. */
char *buf_detach(struct buf *b);

#endif
