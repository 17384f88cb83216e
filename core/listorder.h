/*
 * listorder.h — the order in which buckets/ lists the names of a directory.
 *
 * A listing of buckets/BUCKET/DIR/ is one ListObjectsV2 pass with the
 * delimiter "/" (fs/buckets.c fill_listing): first every common prefix
 * (a directory, shown under its name; a prefix that cannot be a directory
 * name, such as "DIR//" or "DIR/./", in its place as the files under it,
 * their key remainders encoded, core/name.h), then every object right
 * under DIR/ (a file; one that a prefix of the same name shadows is
 * "NAME%"). S3 returns each part in the binary order of the UTF-8 keys,
 * and a prefix sorts with its trailing "/": "a-b/" < "a.d/" < "a/" < "a0/"
 * ('-' 0x2D, '.' 0x2E, '/' 0x2F, '0' 0x30), while the plain names would
 * sort "a" first.
 *
 * The warm listing of a directory (core/cache.h) is the names of the last
 * such listing; the mount's own create, mkdir and rename target insert a
 * name into it, and listorder_cmp() says where, so the warm listing is in
 * the order a new listing would have. It decodes each name (name_decode)
 * to the key remainder it stands for.
 *
 * A pure function of its arguments: no locks, no allocation, any thread
 * (the cache calls it with its lock held).
 */
#ifndef AMIFS_CORE_LISTORDER_H
#define AMIFS_CORE_LISTORDER_H

#include "core/cache.h"

/* < 0, 0 or > 0 as name a (kind ka) comes before, with or after name b
 * (kind kb) in a listing: a directory (CACHE_DIR) or a file whose key
 * remainder holds "/" is among the prefixes (before every other file),
 * sorted by its remainder (a directory's with "/" appended); every other
 * file after them, by its remainder ("NAME%" by NAME). A name that does
 * not decode (never one a listing shows) sorts by its own bytes. Matches
 * cache_order_fn. */
int listorder_cmp(const char *a, enum cache_kind ka, const char *b,
                  enum cache_kind kb);

#endif
