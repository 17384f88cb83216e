/*
 * bucket_keys.h — the keys under buckets/: the floor below the folder
 * operations (fs/buckets.c) and the open files (fs/bucket_io.c), which
 * both use it; it uses neither of them (only core/, aws/ and the module
 * state `struct bk` of fs/buckets_int.h, which includes this header).
 *
 * What it owns:
 *  - Names to keys. A path under buckets/ ("BUCKET/NAME/NAME...", no
 *    leading slash: `rel`) stands for one bucket and one S3 key; odd keys
 *    ("h//x", "h/./x", an object shadowed by a prefix of its name) are
 *    listed under escaped names (core/name.h, doc/design/names.md), and
 *    bpath_parse decodes them back, so every operation works on the key a
 *    listed name stands for.
 *  - What a key is, as far as the cache (core/cache.h) and S3 know:
 *    bk_lookup_stored asks the cache, then S3 (ListBuckets; a one-key
 *    listing of KEY/ and a HEAD), and caches the answer. Uploads in
 *    flight are not its business: bk_lookup (fs/bucket_io.c, which keeps
 *    them) asks them first and then this.
 *  - The mount's own changes of keys, recorded at once with
 *    cache_change() so that lookups and warm listings show them
 *    (bk_note_file, bk_note_absent), and the server-side move that a
 *    rename is (bk_move_object).
 *  - The one log line and errno of a failed AWS call (bk_fail).
 *
 * Threads: any FUSE thread. No lock of this module is held across an S3
 * call; the cache has its own lock. Errors are negative errno values, as
 * aws/err.c maps them.
 */
#ifndef AMIFS_FS_BUCKET_KEYS_H
#define AMIFS_FS_BUCKET_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "aws/err.h"
#include "aws/s3.h"
#include "core/cache.h"

struct amifs;

/* A parsed rel path: the bucket and the S3 key the names after it stand
 * for ("" for the bucket itself), decoded by the rules of core/name.h (a
 * listing shows odd keys under escaped names; see fs/buckets.c). The key
 * is a copy, so a struct bpath may be copied. */
struct bpath {
    char bucket[64];
    char key[1025];    /* S3 keys are at most 1024 bytes */
    bool object_only;  /* the name can only be an object, never a prefix:
                          the shadow form "NAME%", or a key whose last name
                          holds "/" or is "." or ".." */
    bool shadowed;     /* the "NAME%" form */
};

/* 0, or -ENOENT when rel names no possible bucket/key (a name that is not
 * canonical, a key over 1024 bytes, an escaped name used as a directory). */
int bpath_parse(const char *rel, struct bpath *p);
/* Is s[0..n) "." or ".."? (Such a key component is never a directory.) */
bool bk_is_dots(const char *s, size_t n);

/* Log an AWS failure of `what` on rel and return its -errno. */
int bk_fail(struct amifs *fs, const char *what, const char *rel,
            const struct aws_error *err);
/* Fill *a (etag may be NULL: unknown). */
void bk_attr_set(struct cache_attr *a, enum cache_kind kind, uint64_t size,
                 time_t mtime, const char *etag);

/* List the buckets into *out and the cache (the bucket list "" marked
 * listed). 0 or -errno. */
int bk_load_buckets(struct amifs *fs, struct s3_bucket_list *out);
/* What the key of p is, from S3 (a prefix wins over an object of the same
 * name, which is "NAME%"), cached. 0 with *a (FILE or DIR), -ENOENT, or
 * -errno. */
int bk_lookup_key(struct amifs *fs, const struct bpath *p, const char *rel,
                  struct cache_attr *a);
/* The same, from the cache while it knows (absence included), for a
 * bucket (p->key "") or a key. */
int bk_lookup_stored(struct amifs *fs, const struct bpath *p,
                     const char *rel, struct cache_attr *a);

/* Record a file we just wrote/copied: rel as FILE and each parent prefix
 * as DIR, so it is visible at once (in warm listings too). */
void bk_note_file(struct amifs *fs, const char *rel, uint64_t size,
                  const char *etag);
/* Record our own unlink, rmdir or rename source: rel is gone. */
void bk_note_absent(struct amifs *fs, const char *rel);
/* Server-side copy of from to to (same bucket), then delete from; the
 * cache follows. 0 or -errno. */
int bk_move_object(struct amifs *fs, const char *from_rel, const char *to_rel,
                   uint64_t size);

#endif
