/*
 * listorder.c — where a name stands in a listing of buckets/ (listorder.h).
 */
#include <string.h>

#include "core/listorder.h"
#include "core/name.h"

/* A listed name is at most 255 bytes; decoding never makes it longer. */
#define KEY_MAX 258

/* The key remainder `name` stands for: *raw (name itself when it holds
 * no escape, else decoded into buf, KEY_MAX bytes), its length. */
static size_t sort_key(const char *name, char *buf, const char **raw)
{
    int flags, len;

    *raw = name;
    if (!strchr(name, '%'))
        return strlen(name); /* the common case: nothing to decode */
    len = name_decode(name, buf, KEY_MAX, &flags);
    if (len < 0)
        return strlen(name); /* never for a listed name: its own bytes */
    *raw = buf;
    return (size_t)len;
}

/* Byte i of s[0..n) followed by "/" when slash; -1 past the end. */
static int byte_at(const char *s, size_t n, bool slash, size_t i)
{
    if (i < n)
        return (unsigned char)s[i];
    return slash && i == n ? '/' : -1;
}

int listorder_cmp(const char *a, enum cache_kind ka, const char *b,
                  enum cache_kind kb)
{
    char ba[KEY_MAX], bb[KEY_MAX];
    const char *ra, *rb;
    size_t na = sort_key(a, ba, &ra), nb = sort_key(b, bb, &rb);
    bool da = ka == CACHE_DIR, db = kb == CACHE_DIR;
    bool pa = da || memchr(ra, '/', na), pb = db || memchr(rb, '/', nb);
    size_t n = na < nb ? na : nb;
    int r = memcmp(ra, rb, n); /* unsigned bytes: UTF-8 code point order */

    if (pa != pb)
        return pa ? -1 : 1; /* the common prefixes come first */
    for (size_t i = n; r == 0; i++) {
        int ca = byte_at(ra, na, da, i), cb = byte_at(rb, nb, db, i);
        if (ca != cb || ca < 0)
            return ca - cb;
    }
    return r;
}
