/*
 * buckets.c — buckets/: S3 as a tree. BUCKET/ is a bucket, KEY components
 * split on "/" are prefixes (directories) and objects (files). A prefix and
 * an object of the same name show as the directory (as mountpoint-s3 does);
 * keys that cannot be names ("a//b", "a/./b", a "dir/" marker object) are
 * not shown.
 *
 * Every S3 call happens without any lock held. What we learn goes into the
 * cache (core/cache.h) so `ls -l` costs one listing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/buckets_int.h"

static const char etag_xattr[] = "user.amifs.etag";

int bpath_parse(const char *rel, struct bpath *p)
{
    const char *slash = strchr(rel, '/');
    size_t len = slash ? (size_t)(slash - rel) : strlen(rel);

    if (len == 0 || len >= sizeof(p->bucket))
        return -ENOENT;
    memcpy(p->bucket, rel, len);
    p->bucket[len] = '\0';
    p->key = slash ? slash + 1 : "";
    return 0;
}

int bk_fail(struct amifs *fs, const char *what, const char *rel,
            const struct aws_error *err)
{
    char msg[768];
    int e = aws_error_errno(err);

    aws_error_format(err, msg, sizeof(msg));
    amifs_log(fs, e == ENOENT ? AWS_LOG_DEBUG : AWS_LOG_WARN,
              "buckets/%s: %s failed: %s", rel, what, msg);
    return -(e > 0 ? e : EIO);
}

static void attr_set(struct cache_attr *a, enum cache_kind kind, uint64_t size,
                     time_t mtime, const char *etag)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->size = size;
    a->mtime = mtime;
    if (etag)
        snprintf(a->etag, sizeof(a->etag), "%s", etag);
}

void bk_note_file(struct amifs *fs, const char *rel, uint64_t size,
                  const char *etag)
{
    struct cache_attr a;
    char *dir = strdup(rel), *slash;

    attr_set(&a, CACHE_FILE, size, time(NULL), etag);
    cache_put(bk_of(fs)->cache, rel, &a);
    if (!dir)
        return;
    attr_set(&a, CACHE_DIR, 0, 0, NULL);
    while ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        cache_put(bk_of(fs)->cache, dir, &a);
    }
    free(dir);
}

/* ---- lookups ------------------------------------------------------------ */

/* List the buckets into the cache; marks "" as listed. */
static int load_buckets(struct amifs *fs, struct s3_bucket_list *out)
{
    struct aws_error err;
    struct cache_attr a;

    aws_error_clear(&err);
    if (s3_list_buckets(fs->client, out, &err) < 0)
        return bk_fail(fs, "ListBuckets", "", &err);
    for (size_t i = 0; i < out->n; i++) {
        attr_set(&a, CACHE_DIR, 0, out->v[i].created, NULL);
        cache_put(bk_of(fs)->cache, out->v[i].name, &a);
    }
    cache_put_listed(bk_of(fs)->cache, "");
    return 0;
}

static int lookup_bucket(struct amifs *fs, const char *rel,
                         struct cache_attr *a)
{
    struct s3_bucket_list l = {0};
    int rc = load_buckets(fs, &l);

    attr_set(a, CACHE_ABSENT, 0, 0, NULL);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        if (strcmp(l.v[i].name, rel) == 0)
            attr_set(a, CACHE_DIR, 0, l.v[i].created, NULL);
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

/* HEAD the key, else look for it as a prefix. Caches the answer. */
static int lookup_key(struct amifs *fs, const struct bpath *p, const char *rel,
                      struct cache_attr *a)
{
    struct s3_head h;
    struct aws_error err;
    int rc;

    aws_error_clear(&err);
    if (s3_head_object(fs->client, p->bucket, p->key, &h, &err) == 0) {
        attr_set(a, CACHE_FILE, h.size, h.mtime, h.etag);
        cache_put(bk_of(fs)->cache, rel, a);
        return 0;
    }
    if (aws_error_errno(&err) != ENOENT)
        return bk_fail(fs, "HeadObject", rel, &err);
    rc = prefix_exists(fs, p, rel);
    if (rc < 0)
        return rc;
    attr_set(a, rc ? CACHE_DIR : CACHE_ABSENT, 0, 0, NULL);
    cache_put(bk_of(fs)->cache, rel, a);
    return rc ? 0 : -ENOENT;
}

int bk_lookup(struct amifs *fs, const char *rel, struct cache_attr *a)
{
    struct bpath p;

    if (rel[0] == '\0') {
        attr_set(a, CACHE_DIR, 0, fs->mount_time, NULL);
        return 0;
    }
    if (bpath_parse(rel, &p) < 0)
        return -ENOENT;
    if (bk_upload_attr(bk_of(fs), rel, a)) /* in flight, or holds one */
        return 0;
    if (cache_get(bk_of(fs)->cache, rel, a))
        return a->kind == CACHE_ABSENT ? -ENOENT : 0;
    if (!p.key[0])
        return lookup_bucket(fs, rel, a);
    return lookup_key(fs, &p, rel, a);
}

static int bk_getattr(struct amifs *fs, const char *rel, struct stat *st,
                      struct fuse_file_info *fi)
{
    struct cache_attr a;
    int rc = bk_lookup(fs, rel, &a);

    if (rc < 0)
        return rc;
    if (a.kind == CACHE_DIR)
        amifs_stat_dir(fs, st, a.mtime);
    else
        amifs_stat_file(fs, st, a.size, a.mtime, true);
    return 0;
}

/* ---- readdir ------------------------------------------------------------ */

static bool usable_name(const char *name, size_t len)
{
    if (len == 0 || memchr(name, '/', len))
        return false;
    return !(len == 1 && name[0] == '.') &&
           !(len == 2 && name[0] == '.' && name[1] == '.');
}

struct dirfill {
    struct amifs *fs;
    const char *dir; /* rel of the directory */
    void *buf;
    fuse_fill_dir_t filler;
    const struct s3_listing *l;
    size_t plen; /* length of the listed prefix */
};

/* Cache what the listing says about dir/name and hand the name to FUSE. */
static void emit(struct dirfill *d, const char *name, size_t len,
                 const struct cache_attr *a)
{
    char *path;

    if (!usable_name(name, len) ||
        asprintf(&path, "%s/%.*s", d->dir, (int)len, name) < 0)
        return;
    cache_put(bk_of(d->fs)->cache, path, a);
    free(path);
    path = strndup(name, len);
    if (path)
        d->filler(d->buf, path, NULL, 0, 0);
    free(path);
}

static bool listed_as_prefix(const struct dirfill *d, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < d->l->nprefixes; i++) {
        const char *p = d->l->prefixes[i] + d->plen;
        if (strncmp(p, name, len) == 0 && p[len] == '/' && p[len + 1] == 0)
            return true;
    }
    return false;
}

/* An upload in flight that no listing shows yet. */
static void emit_upload(void *ctx, const char *name)
{
    struct dirfill *d = ctx;

    for (size_t i = 0; i < d->l->nobjects; i++)
        if (strcmp(d->l->objects[i].key + d->plen, name) == 0)
            return;
    if (!listed_as_prefix(d, name))
        d->filler(d->buf, name, NULL, 0, 0);
}

static void fill_listing(struct dirfill *d)
{
    const struct s3_listing *l = d->l;
    struct cache_attr a;

    for (size_t i = 0; i < l->nprefixes; i++) {
        const char *name = l->prefixes[i] + d->plen;
        attr_set(&a, CACHE_DIR, 0, 0, NULL);
        emit(d, name, strlen(name) ? strlen(name) - 1 : 0, &a);
    }
    for (size_t i = 0; i < l->nobjects; i++) {
        const struct s3_object *o = &l->objects[i];
        const char *name = o->key + d->plen;
        if (listed_as_prefix(d, name))
            continue;
        attr_set(&a, CACHE_FILE, o->size, o->mtime, o->etag);
        emit(d, name, strlen(name), &a);
    }
    bk_uploads_in(bk_of(d->fs), d->dir, emit_upload, d);
    cache_put_listed(bk_of(d->fs)->cache, d->dir);
}

static int readdir_buckets(struct amifs *fs, void *buf, fuse_fill_dir_t filler)
{
    struct s3_bucket_list l = {0};
    int rc = load_buckets(fs, &l);

    for (size_t i = 0; rc == 0 && i < l.n; i++)
        filler(buf, l.v[i].name, NULL, 0, 0);
    s3_bucket_list_release(&l);
    return rc;
}

static int bk_readdir(struct amifs *fs, const char *rel, void *buf,
                      fuse_fill_dir_t filler)
{
    struct s3_listing l = {0};
    struct aws_error err;
    struct bpath p;
    struct dirfill d = {fs, rel, buf, filler, &l, 0};
    char *prefix;
    int rc;

    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    if (rel[0] == '\0')
        return readdir_buckets(fs, buf, filler);
    if (bpath_parse(rel, &p) < 0)
        return -ENOENT;
    if (asprintf(&prefix, "%s%s", p.key, p.key[0] ? "/" : "") < 0)
        return -ENOMEM;
    d.plen = strlen(prefix);
    aws_error_clear(&err);
    rc = s3_list_objects(fs->client, p.bucket, prefix, "/", 0, &l, &err);
    free(prefix);
    if (rc < 0)
        return bk_fail(fs, "ListObjectsV2", rel, &err);
    fill_listing(&d);
    s3_listing_release(&l);
    return 0;
}

/* ---- changes ------------------------------------------------------------ */

static void note_absent(struct amifs *fs, const char *rel)
{
    struct cache_attr a;
    attr_set(&a, CACHE_ABSENT, 0, 0, NULL);
    cache_put(bk_of(fs)->cache, rel, &a);
}

static int bk_unlink(struct amifs *fs, const char *rel)
{
    struct bpath p;
    struct aws_error err;
    struct cache_attr a;
    int cancelled, rc;

    if (bpath_parse(rel, &p) < 0)
        return -ENOENT;
    if (!p.key[0])
        return -EISDIR;
    cancelled = bk_upload_cancel(bk_of(fs), rel);
    if (cancelled < 0)
        return cancelled; /* its close is completing: that close wins */
    rc = bk_lookup(fs, rel, &a);
    if (rc < 0 && !cancelled)
        return rc;
    if (rc == 0 && a.kind == CACHE_DIR)
        return -EISDIR;
    aws_error_clear(&err);
    if (s3_delete_object(fs->client, p.bucket, p.key, &err) < 0) {
        cache_forget(bk_of(fs)->cache, rel);
        return bk_fail(fs, "DeleteObject", rel, &err);
    }
    note_absent(fs, rel);
    return 0;
}

static int bk_mkdir(struct amifs *fs, const char *rel, mode_t mode)
{
    struct bpath p;
    struct aws_error err;
    struct cache_attr a;
    char *marker;
    int rc;

    if (bpath_parse(rel, &p) < 0)
        return -EINVAL;
    aws_error_clear(&err);
    if (!p.key[0]) {
        if (s3_create_bucket(fs->client, p.bucket,
                             aws_client_region(fs->client), &err) < 0)
            return bk_fail(fs, "CreateBucket", rel, &err);
    } else {
        if (asprintf(&marker, "%s/", p.key) < 0)
            return -ENOMEM;
        rc = s3_put_object(fs->client, p.bucket, marker, "", 0, NULL, &err);
        free(marker);
        if (rc < 0)
            return bk_fail(fs, "PutObject", rel, &err);
    }
    cache_forget(bk_of(fs)->cache, rel);
    attr_set(&a, CACHE_DIR, 0, time(NULL), NULL);
    cache_put(bk_of(fs)->cache, rel, &a);
    return 0;
}

/* rmdir: only an empty prefix (nothing under it but its own marker). */
static int bk_rmdir(struct amifs *fs, const char *rel)
{
    struct bpath p;
    struct s3_listing l = {0};
    struct aws_error err;
    char *prefix;
    int rc;

    if (bpath_parse(rel, &p) < 0)
        return -ENOENT;
    if (!p.key[0])
        return -EPERM; /* deleting buckets is not offered */
    if (bk_upload_busy(bk_of(fs), rel, true))
        return -ENOTEMPTY;
    if (asprintf(&prefix, "%s/", p.key) < 0)
        return -ENOMEM;
    aws_error_clear(&err);
    rc = s3_list_objects(fs->client, p.bucket, prefix, NULL, 2, &l, &err);
    if (rc < 0) {
        free(prefix);
        return bk_fail(fs, "ListObjectsV2", rel, &err);
    }
    for (size_t i = 0; i < l.nobjects && rc == 0; i++)
        if (strcmp(l.objects[i].key, prefix) != 0)
            rc = -ENOTEMPTY;
    s3_listing_release(&l);
    if (rc == 0 && s3_delete_object(fs->client, p.bucket, prefix, &err) < 0)
        rc = bk_fail(fs, "DeleteObject", rel, &err);
    free(prefix);
    if (rc == 0)
        note_absent(fs, rel);
    return rc;
}

int bk_move_object(struct amifs *fs, const char *from_rel, const char *to_rel,
                   uint64_t size)
{
    struct bpath from, to;
    struct aws_error err;

    if (bpath_parse(from_rel, &from) < 0 || bpath_parse(to_rel, &to) < 0)
        return -EINVAL;
    aws_error_clear(&err);
    if (s3_copy_any(fs->client, from.bucket, from.key, size, to.bucket, to.key,
                    &err) < 0) {
        cache_forget(bk_of(fs)->cache, to_rel);
        return bk_fail(fs, "CopyObject", from_rel, &err);
    }
    bk_note_file(fs, to_rel, size, NULL);
    cache_forget(bk_of(fs)->cache, to_rel); /* ETag unknown: HEAD next */
    if (s3_delete_object(fs->client, from.bucket, from.key, &err) < 0) {
        cache_forget(bk_of(fs)->cache, from_rel);
        return bk_fail(fs, "DeleteObject", from_rel, &err);
    }
    note_absent(fs, from_rel);
    return 0;
}

/* mv within a bucket. Directories and other buckets answer EXDEV, so mv(1)
 * falls back to copying and deleting file by file. */
static int bk_rename(struct amifs *fs, const char *from, const char *to,
                     unsigned int flags)
{
    struct bpath a, b;
    struct cache_attr src, dst;
    int rc;

    if (bpath_parse(from, &a) < 0 || bpath_parse(to, &b) < 0)
        return -ENOENT;
    if (!a.key[0] || !b.key[0])
        return -EPERM;
    if (flags & RENAME_EXCHANGE)
        return -EINVAL;
    if (strcmp(a.bucket, b.bucket) != 0)
        return -EXDEV;
    rc = bk_lookup(fs, to, &dst);
    if (rc == 0 && (flags & RENAME_NOREPLACE))
        return -EEXIST;
    if (rc == 0 && dst.kind == CACHE_DIR)
        return -EISDIR;
    rc = bk_upload_rename(bk_of(fs), from, to);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        note_absent(fs, from);
        return 0; /* the object moves when its upload completes */
    }
    rc = bk_lookup(fs, from, &src);
    if (rc < 0)
        return rc;
    if (src.kind == CACHE_DIR)
        return -EXDEV;
    if (bk_upload_busy(bk_of(fs), to, false))
        return -EBUSY;
    if (strcmp(from, to) == 0)
        return 0;
    return bk_move_object(fs, from, to, src.size);
}

/* ---- xattrs ------------------------------------------------------------- */

static int bk_getxattr(struct amifs *fs, const char *rel, const char *name,
                       char *value, size_t n)
{
    struct cache_attr a;
    struct bpath p;
    size_t len;
    int rc;

    if (strcmp(name, etag_xattr) != 0)
        return -ENODATA;
    rc = bk_lookup(fs, rel, &a);
    if (rc < 0)
        return rc;
    if (a.kind != CACHE_FILE || bk_upload_busy(bk_of(fs), rel, false))
        return -ENODATA;
    if (!a.etag[0] && bpath_parse(rel, &p) == 0) {
        cache_forget(bk_of(fs)->cache, rel);
        rc = lookup_key(fs, &p, rel, &a);
        if (rc < 0)
            return rc;
    }
    len = strlen(a.etag);
    if (n == 0)
        return (int)len;
    if (n < len)
        return -ERANGE;
    memcpy(value, a.etag, len);
    return (int)len;
}

static int bk_listxattr(struct amifs *fs, const char *rel, char *list, size_t n)
{
    struct cache_attr a;
    int rc = bk_lookup(fs, rel, &a);

    if (rc < 0)
        return rc;
    if (a.kind != CACHE_FILE)
        return 0;
    if (n == 0)
        return sizeof(etag_xattr);
    if (n < sizeof(etag_xattr))
        return -ERANGE;
    memcpy(list, etag_xattr, sizeof(etag_xattr));
    return sizeof(etag_xattr);
}

/* ---- lifetime ----------------------------------------------------------- */

static int bk_init(struct amifs *fs)
{
    struct bk *b = calloc(1, sizeof(*b));

    if (!b)
        return -ENOMEM;
    b->cache = cache_new(fs->opts.cache_ttl, NULL);
    if (!b->cache) {
        free(b);
        return -ENOMEM;
    }
    pthread_mutex_init(&b->lock, NULL);
    fs->buckets = b;
    if (bk_janitor_start(fs) < 0) {
        cache_free(b->cache);
        pthread_mutex_destroy(&b->lock);
        free(b);
        fs->buckets = NULL;
        return -EAGAIN;
    }
    return 0;
}

static void bk_destroy(struct amifs *fs)
{
    struct bk *b = fs->buckets;

    if (!b)
        return;
    bk_uploads_destroy(fs);
    bk_janitor_stop(fs);
    cache_free(b->cache);
    pthread_mutex_destroy(&b->lock);
    free(b);
    fs->buckets = NULL;
}

const struct folder_ops buckets_folder = {
    .name = "buckets",
    .init = bk_init,
    .destroy = bk_destroy,
    .getattr = bk_getattr,
    .readdir = bk_readdir,
    .open = bk_open,
    .create = bk_create,
    .read = bk_read,
    .write = bk_write,
    .flush = bk_flush,
    .release = bk_release,
    .truncate = bk_truncate,
    .unlink = bk_unlink,
    .mkdir = bk_mkdir,
    .rmdir = bk_rmdir,
    .rename = bk_rename,
    .getxattr = bk_getxattr,
    .listxattr = bk_listxattr,
};
