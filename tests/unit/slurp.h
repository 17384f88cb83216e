/* slurp.h - read a whole fixture file, for unit tests that link aws/.
 *
 * test_slurp() returns the file's bytes as a malloc'd string the caller
 * frees (NUL-terminated by buf_detach(); "" for an empty file), or NULL
 * when the file cannot be opened or memory runs out. *len (when len is not
 * NULL) gets the byte count.
 * Reading stops early if the buffer refuses more (BUF_DEFAULT_MAX).
 */
#ifndef AMIFS_TESTS_UNIT_SLURP_H
#define AMIFS_TESTS_UNIT_SLURP_H

#include <stdio.h>

#include "aws/buf.h"

static inline char *test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[4096];
    size_t n;

    if (!f)
        return NULL;
    buf_init(&b, 0);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n))
            break;
    fclose(f);
    if (len)
        *len = b.len;
    return buf_detach(&b);
}

#endif
