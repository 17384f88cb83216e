/*
 * listorder.c — where a name stands in a listing of buckets/ (listorder.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/listorder.h"
#include "core/name.h"

/* A listed name is at most 255 bytes; decoding never makes it longer, and
 * a directory adds its "/". */
#define KEY_MAX 258

/* The key remainder `name` stands for, into raw (KEY_MAX bytes); true
 * when it is listed among the common prefixes. */
static bool sort_key(const char *name, enum cache_kind kind, char *raw)
{
    int flags, len = name_decode(name, raw, KEY_MAX - 1, &flags);

    if (len < 0) {
        snprintf(raw, KEY_MAX - 1, "%s", name);
        len = (int)strlen(raw);
    }
    if (kind == CACHE_DIR) {
        raw[len] = '/';
        raw[len + 1] = '\0';
    }
    return kind == CACHE_DIR || strchr(raw, '/') != NULL;
}

int listorder_cmp(const char *a, enum cache_kind ka, const char *b,
                  enum cache_kind kb)
{
    char ra[KEY_MAX], rb[KEY_MAX];
    bool pa = sort_key(a, ka, ra), pb = sort_key(b, kb, rb);

    if (pa != pb)
        return pa ? -1 : 1;
    return strcmp(ra, rb); /* as unsigned bytes: UTF-8 code point order */
}
