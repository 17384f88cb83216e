/*
 * bucket_keys.c — the keys under buckets/, below the folder operations
 * (fs/buckets.c) and the open files (fs/bucket_io.c): names to keys
 * (bpath_parse), what a key is as far as S3 and the cache know, and the
 * mount's own changes of keys recorded in the cache. Contract:
 * fs/bucket_keys.h.
 *
 * Every S3 call happens without any lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/name.h"
#include "fs/buckets_int.h"

/* ---- names to keys -------------------------------------------------- */

bool bk_is_dots(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* Can a key remainder that holds "/" or is "." / ".." be listed as one
 * file? Only when its first component cannot be a directory name. */
static bool flat_ok(const char *raw, size_t n)
{
    const char *slash = memchr(raw, '/', n);
    size_t first = slash ? (size_t)(slash - raw) : n;

    return first == 0 || bk_is_dots(raw, first);
}

/* Decode one name of rel (c[0..n)) and append it to p->key. */
static int key_name(struct bpath *p, size_t *at, const char *c, size_t n,
                    bool last)
{
    char name[256], dec[sizeof p->key];
    int flags, len;
    bool odd;

    if (n == 0 || n >= sizeof name)
        return -ENOENT;
    memcpy(name, c, n);
    name[n] = '\0';
    len = name_decode(name, dec, sizeof dec, &flags);
    if (len < 0)
        return len == -ENAMETOOLONG ? len : -ENOENT;
    odd = memchr(dec, '/', (size_t)len) || bk_is_dots(dec, (size_t)len);
    if ((odd || flags) && !last)
        return -ENOENT; /* an escaped name is never a directory */
    if ((odd && !flat_ok(dec, (size_t)len)) || (odd && flags))
        return -ENOENT; /* the key is listed under another name */
    if (*at + (*at ? 1u : 0u) + (size_t)len >= sizeof p->key)
        return -ENAMETOOLONG;
    if (*at)
        p->key[(*at)++] = '/';
    memcpy(p->key + *at, dec, (size_t)len);
    *at += (size_t)len;
    p->key[*at] = '\0';
    p->object_only = odd || flags;
    p->shadowed = flags & NAME_SHADOWED;
    return 0;
}

int bpath_parse(const char *rel, struct bpath *p)
{
    const char *slash = strchr(rel, '/');
    size_t len = slash ? (size_t)(slash - rel) : strlen(rel), at = 0;

    if (len == 0 || len >= sizeof(p->bucket))
        return -ENOENT;
    memcpy(p->bucket, rel, len);
    p->bucket[len] = '\0';
    p->key[0] = '\0';
    p->object_only = p->shadowed = false;
    for (const char *c = slash ? slash + 1 : NULL; c && *c;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        int rc = key_name(p, &at, c, n, !end || !end[1]);
        if (rc < 0)
            return rc;
        c = end ? end + 1 : NULL;
    }
    return 0;
}

int bk_fail(struct amifs *fs, const char *what, const char *rel,
            const struct aws_error *err)
{
    char msg[768];
    int e = aws_error_errno(err);

    char esc[NAME_ESC_MAX];

    aws_error_format(err, msg, sizeof(msg));
    amifs_log(fs, e == ENOENT ? AWS_LOG_DEBUG : AWS_LOG_WARN,
              "buckets/%s: %s failed: %s", name_esc(rel, esc, sizeof esc),
              what, msg);
    return -(e > 0 ? e : EIO);
}

void bk_attr_set(struct cache_attr *a, enum cache_kind kind, uint64_t size,
                 time_t mtime, const char *etag)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->size = size;
    a->mtime = mtime;
    if (etag)
        snprintf(a->etag, sizeof(a->etag), "%s", etag);
}

/* Our own file rel, as S3 now holds it, and each parent as a directory:
 * the warm listings above it show it at once (cache_change). */
static void note_file_at(struct amifs *fs, const char *rel, uint64_t size,
                         time_t mtime, const char *etag)
{
    struct cache_attr a;
    char *dir = strdup(rel), *slash;

    bk_attr_set(&a, CACHE_FILE, size, mtime, etag);
    cache_change(bk_of(fs)->cache, rel, &a);
    if (!dir)
        return;
    bk_attr_set(&a, CACHE_DIR, 0, 0, NULL);
    while ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        cache_change(bk_of(fs)->cache, dir, &a);
    }
    free(dir);
}

void bk_note_file(struct amifs *fs, const char *rel, uint64_t size,
                  const char *etag)
{
    note_file_at(fs, rel, size, time(NULL), etag);
}

/* ---- lookups ------------------------------------------------------ */

/* List the buckets into the cache; marks "" as listed. */
int bk_load_buckets(struct amifs *fs, struct s3_bucket_list *out)
{
    struct aws_error err;
    struct cache_attr a;

    aws_error_clear(&err);
    if (s3_list_buckets(fs->client, out, &err) < 0)
        return bk_fail(fs, "ListBuckets", "", &err);
    for (size_t i = 0; i < out->n; i++) {
        bk_attr_set(&a, CACHE_DIR, 0, out->v[i].created, NULL);
        cache_put(bk_of(fs)->cache, out->v[i].name, &a);
    }
    cache_put_listed(bk_of(fs)->cache, "");
    return 0;
}

static int lookup_bucket(struct amifs *fs, const char *rel,
                         struct cache_attr *a)
{
    struct s3_bucket_list l = {0};
    int rc = bk_load_buckets(fs, &l);

    bk_attr_set(a, CACHE_ABSENT, 0, 0, NULL);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        if (strcmp(l.v[i].name, rel) == 0)
            bk_attr_set(a, CACHE_DIR, 0, l.v[i].created, NULL);
    s3_bucket_list_release(&l);
    if (rc < 0)
        return rc;
    return a->kind == CACHE_ABSENT ? -ENOENT : 0;
}

/* Is there anything under KEY/ ? 1 yes, 0 no, -errno. */
static int prefix_exists(struct amifs *fs, const struct bpath *p,
                         const char *rel)
{
    struct s3_listing l = {0};
    struct aws_error err;
    char *prefix;
    int rc;

    if (asprintf(&prefix, "%s/", p->key) < 0)
        return -ENOMEM;
    aws_error_clear(&err);
    rc = s3_list_objects(fs->client, p->bucket, prefix, "/", 1, &l, &err);
    free(prefix);
    if (rc < 0)
        return bk_fail(fs, "ListObjectsV2", rel, &err);
    rc = l.nobjects + l.nprefixes > 0;
    s3_listing_release(&l);
    return rc;
}

/* Look for the key as a prefix (a directory wins over an object of the
 * same name: that object is listed as "NAME%"), else HEAD it. Caches the
 * answer. */
int bk_lookup_key(struct amifs *fs, const struct bpath *p, const char *rel,
                  struct cache_attr *a)
{
    struct s3_head h;
    struct aws_error err;
    int dir = 0;

    if (!p->object_only || p->shadowed) {
        dir = prefix_exists(fs, p, rel);
        if (dir < 0)
            return dir;
    }
    bk_attr_set(a, CACHE_ABSENT, 0, 0, NULL);
    if (dir && !p->shadowed) {
        bk_attr_set(a, CACHE_DIR, 0, 0, NULL);
    } else if (dir || !p->shadowed) { /* "NAME%" only beside NAME/ */
        aws_error_clear(&err);
        if (s3_head_object(fs->client, p->bucket, p->key, &h, &err) == 0)
            bk_attr_set(a, CACHE_FILE, h.size, h.mtime, h.etag);
        else if (aws_error_errno(&err) != ENOENT)
            return bk_fail(fs, "HeadObject", rel, &err);
    }
    cache_put(bk_of(fs)->cache, rel, a);
    return a->kind == CACHE_ABSENT ? -ENOENT : 0;
}

int bk_lookup_stored(struct amifs *fs, const struct bpath *p,
                     const char *rel, struct cache_attr *a)
{
    if (cache_get(bk_of(fs)->cache, rel, a))
        return a->kind == CACHE_ABSENT ? -ENOENT : 0;
    if (!p->key[0])
        return lookup_bucket(fs, rel, a);
    return bk_lookup_key(fs, p, rel, a);
}

/* ---- our own changes ----------------------------------------------- */

/* Our own unlink, rmdir or rename source: gone from the warm listing. */
void bk_note_absent(struct amifs *fs, const char *rel)
{
    struct cache_attr a;
    bk_attr_set(&a, CACHE_ABSENT, 0, 0, NULL);
    cache_change(bk_of(fs)->cache, rel, &a);
}

int bk_move_object(struct amifs *fs, const char *from_rel, const char *to_rel,
                   uint64_t size)
{
    struct bpath from, to;
    struct aws_error err;
    struct s3_head h, t;

    if (bpath_parse(from_rel, &from) < 0 || bpath_parse(to_rel, &to) < 0)
        return -EINVAL;
    /* The size and ETag of now (not of a cached lookup): the copy of a big
     * object goes part by part, each part checked against this ETag. */
    aws_error_clear(&err);
    if (s3_head_object(fs->client, from.bucket, from.key, &h, &err) < 0)
        return bk_fail(fs, "HeadObject", from_rel, &err);
    (void)size;
    if (s3_copy_any_limit(fs->client, from.bucket, from.key, h.size, h.etag,
                          bk_of(fs)->copy_limit, to.bucket, to.key,
                          &err) < 0) {
        cache_forget(bk_of(fs)->cache, to_rel);
        return bk_fail(fs, "CopyObject", from_rel, &err);
    }
    /* The copy's own ETag and time (reads check the ETag), so the warm
     * listing shows what a new listing would. */
    aws_error_clear(&err);
    if (s3_head_object(fs->client, to.bucket, to.key, &t, &err) == 0)
        note_file_at(fs, to_rel, t.size, t.mtime, t.etag);
    else
        cache_forget(bk_of(fs)->cache, to_rel); /* unknown: ask next time */
    aws_error_clear(&err);
    if (s3_delete_object(fs->client, from.bucket, from.key, &err) < 0) {
        cache_forget(bk_of(fs)->cache, from_rel);
        return bk_fail(fs, "DeleteObject", from_rel, &err);
    }
    bk_note_absent(fs, from_rel);
    return 0;
}
