/*
 * buckets.c — buckets/: S3 as a tree. BUCKET/ is a bucket, KEY components
 * split on "/" are prefixes (directories) and objects (files).
 *
 * Every key is shown, under exactly one name (rules in core/name.h, for
 * users in doc/design/names.md):
 *  - a prefix and an object of the same name: the directory keeps the
 *    name, the object is listed beside it as "NAME%";
 *  - a key with an empty, "." or ".." component ("h//x", "h/./x", "/x",
 *    "h/.") is listed, in the directory of its last usable prefix, as one
 *    file whose name is the rest of the key encoded ("%2Fx", ".%2Fx",
 *    "%2E");
 *  - the "dir/" marker object is the directory itself.
 * Names are decoded in bpath_parse (fs/bucket_keys.h: names to keys,
 * lookups and our own changes live there, below this file and
 * fs/bucket_io.c), so every operation works on the key a listed name
 * stands for. New names are checked at create, mkdir and
 * rename: not UTF-8 -> EILSEQ, a control character or a name no key is
 * listed as -> EINVAL, each with a log line.
 *
 * Every S3 call happens without any lock held. What we learn goes into the
 * cache (core/cache.h) so `ls -l` costs one listing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/listing.h"
#include "core/listorder.h"
#include "core/name.h"
#include "fs/buckets_int.h"

static const char etag_xattr[] = "user.amifs.etag";
static const char checksum_xattr[] = "user.amifs.checksum";

/* May a new object (or, with dir, a directory) be called rel? 0 or a
 * negative errno, with a log line saying why. */
static int creatable(struct amifs *fs, const char *rel, const char *what,
                     bool dir)
{
    const char *why = NULL;
    char e[NAME_ESC_MAX];
    struct bpath p;
    int rc = name_check(rel, &why);

    if (rc == 0 && (rc = bpath_parse(rel, &p)) < 0) {
        why = rc == -ENAMETOOLONG ? "the S3 key would be over 1024 bytes"
                                  : "no key is listed under this name (a "
                                    "literal % before 2F, 25, 2E or at the "
                                    "end is written %25)";
        rc = rc == -ENAMETOOLONG ? rc : -EINVAL;
    } else if (rc == 0 && p.key[0] && (p.shadowed || (dir && p.object_only))) {
        why = p.shadowed ? "a name ending in a single % is the object a "
                           "directory of the same name hides; write %25 "
                           "for a literal %"
                         : "an escaped name cannot be a directory";
        rc = -EINVAL;
    }
    if (rc < 0)
        amifs_log(fs, AWS_LOG_ERROR, "buckets/%s: %s refused: %s",
                  name_esc(rel, e, sizeof e), what, why);
    return rc;
}

/* ---- lookups ------------------------------------------------------------ */

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

/* A listing is taken once per open directory at offset 0 (core/listing.h)
 * and handed over by offset, with each entry's attributes, so `ls -l` gets
 * them with the names (READDIRPLUS) instead of one lookup per name. */
struct dirfill {
    struct amifs *fs;
    const char *dir; /* rel of the directory */
    const char *bucket;
    struct listing *out;        /* what this open directory hands over */
    int err;                    /* -ENOMEM once an entry could not be added */
    const struct s3_listing *l; /* NULL for a warm listing */
    size_t plen;                /* length of the listed prefix */
    struct buf names;           /* what was shown, kept for warm listings */
    bool names_short;           /* out of memory: keep no names */
};

static void add(struct dirfill *d, const char *name, const struct cache_attr *a)
{
    if (listing_add(d->out, name, a) < 0)
        d->err = -ENOMEM;
}

/* Cache what the listing says about the key remainder raw[0..len), shown
 * under its encoded name, and list that name. */
static void emit(struct dirfill *d, const char *raw, size_t len, int flags,
                 const struct cache_attr *a)
{
    char name[256], e[NAME_ESC_MAX], k[NAME_ESC_MAX];
    char *path;

    if (len == 0) /* the directory's own marker object */
        return;
    if (name_encode(raw, len, flags, name, sizeof name) < 0) {
        amifs_log(d->fs, AWS_LOG_WARN,
                  "buckets/%s: a key ending in %s has no name of at most "
                  "255 bytes: not listed",
                  name_esc(d->dir, e, sizeof e),
                  name_esc_n(raw, len, k, sizeof k));
        return;
    }
    if (asprintf(&path, "%s/%s", d->dir, name) < 0)
        return;
    cache_put(bk_of(d->fs)->cache, path, a);
    free(path);
    if (buf_append(&d->names, a->kind == CACHE_DIR ? "d" : "f", 1) < 0 ||
        buf_append(&d->names, name, strlen(name) + 1) < 0)
        d->names_short = true;
    add(d, name, a);
}

static bool listed_as_prefix(const struct dirfill *d, const char *name,
                             size_t len)
{
    for (size_t i = 0; i < d->l->nprefixes; i++) {
        const char *p = d->l->prefixes[i] + d->plen;
        if (strncmp(p, name, len) == 0 && p[len] == '/' && p[len + 1] == 0)
            return true;
    }
    return false;
}

/* An upload in flight: its size still grows, so the kernel must ask
 * (bk_getattr answers from the upload); listed once, listing or not. */
static void emit_upload(void *ctx, const char *name)
{
    struct dirfill *d = ctx;
    char raw[1025];
    int flags;
    int len = name_decode(name, raw, sizeof raw, &flags);

    if (len <= 0)
        return;
    if (listing_has(d->out, name)) {
        listing_unknown(d->out, name);
        return;
    }
    if (d->l) {
        for (size_t i = 0; i < d->l->nobjects; i++)
            if (strcmp(d->l->objects[i].key + d->plen, raw) == 0)
                return;
        if (!flags && listed_as_prefix(d, raw, (size_t)len))
            return;
    }
    add(d, name, NULL);
}

/* A prefix whose name cannot be a directory ("h//", "h/./", "/"): every
 * key under it is listed here as one file, its remainder encoded. */
static void fill_flat(struct dirfill *d, const char *prefix)
{
    struct s3_listing l = {0};
    struct aws_error err;
    struct cache_attr a;

    aws_error_clear(&err);
    if (s3_list_objects(d->fs->client, d->bucket, prefix, NULL, 0, &l,
                        &err) < 0) {
        bk_fail(d->fs, "ListObjectsV2", d->dir, &err);
        return;
    }
    for (size_t i = 0; i < l.nobjects; i++) {
        const struct s3_object *o = &l.objects[i];
        bk_attr_set(&a, CACHE_FILE, o->size, o->mtime, o->etag);
        emit(d, o->key + d->plen, strlen(o->key + d->plen), 0, &a);
    }
    s3_listing_release(&l);
}

static void fill_listing(struct dirfill *d)
{
    const struct s3_listing *l = d->l;
    struct cache_attr a;

    for (size_t i = 0; i < l->nprefixes; i++) {
        const char *name = l->prefixes[i] + d->plen;
        size_t len = strlen(name) ? strlen(name) - 1 : 0;
        bk_attr_set(&a, CACHE_DIR, 0, 0, NULL);
        if (len == 0 || bk_is_dots(name, len))
            fill_flat(d, l->prefixes[i]);
        else
            emit(d, name, len, 0, &a);
    }
    for (size_t i = 0; i < l->nobjects; i++) {
        const struct s3_object *o = &l->objects[i];
        const char *name = o->key + d->plen;
        size_t len = strlen(name);
        bk_attr_set(&a, CACHE_FILE, o->size, o->mtime, o->etag);
        bool shadowed = !bk_is_dots(name, len) && listed_as_prefix(d, name, len);
        emit(d, name, len, shadowed ? NAME_SHADOWED : 0, &a);
    }
    bk_uploads_in(bk_of(d->fs), d->dir, emit_upload, d);
}

/* One kept name of a warm listing, with what the cache knows of it. */
static int warm_add(void *ctx, const char *name, const struct cache_attr *a)
{
    struct dirfill *d = ctx;

    if (a && a->kind == CACHE_ABSENT)
        return 0;
    return listing_add(d->out, name, a);
}

/* Within cache_ttl, the names of the last complete listing (the mount's
 * own changes update them at once: core/cache.h) with the attributes the
 * cache holds for them, plus uploads in flight. */
static int fill_warm(struct dirfill *d)
{
    int rc = cache_get_listing(bk_of(d->fs)->cache, d->dir, warm_add, d);

    if (rc == 1)
        bk_uploads_in(bk_of(d->fs), d->dir, emit_upload, d);
    return rc;
}

static int list_buckets(struct amifs *fs, struct dirfill *d)
{
    struct s3_bucket_list l = {0};
    struct cache_attr a;
    int rc = bk_load_buckets(fs, &l);

    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        bk_attr_set(&a, CACHE_DIR, 0, l.v[i].created, NULL);
        add(d, l.v[i].name, &a);
    }
    s3_bucket_list_release(&l);
    return rc < 0 ? rc : d->err;
}

/* One ListObjectsV2 pass (all pages) of the directory, cached. */
static int list_cold(struct amifs *fs, const struct bpath *p,
                     struct dirfill *d)
{
    struct s3_listing l = {0};
    struct aws_error err;
    char *prefix;
    double t0;
    int rc;

    if (asprintf(&prefix, "%s%s", p->key, p->key[0] ? "/" : "") < 0)
        return -ENOMEM;
    d->bucket = p->bucket;
    d->plen = strlen(prefix);
    d->l = &l;
    aws_error_clear(&err);
    t0 = cache_now(bk_of(fs)->cache);
    rc = s3_list_objects(fs->client, p->bucket, prefix, "/", 0, &l, &err);
    free(prefix);
    if (rc < 0)
        return bk_fail(fs, "ListObjectsV2", d->dir, &err);
    buf_init(&d->names, (size_t)1 << 30);
    fill_listing(d);
    if (d->names_short)
        cache_put_listed(bk_of(fs)->cache, d->dir);
    else
        cache_put_names(bk_of(fs)->cache, d->dir,
                        d->names.data ? d->names.data : "", d->names.len, t0);
    buf_release(&d->names);
    s3_listing_release(&l);
    return d->err;
}

/* The entries of directory `rel` into `out`: warm from the cache within
 * cache_ttl, else listed from S3. */
static int bk_list(struct amifs *fs, const char *rel, struct listing *out)
{
    struct dirfill d = {.fs = fs, .dir = rel, .out = out};
    struct bpath p;
    int rc;

    if (rel[0] == '\0')
        return list_buckets(fs, &d);
    if (bpath_parse(rel, &p) < 0)
        return -ENOENT;
    if (p.object_only)
        return -ENOTDIR;
    rc = fill_warm(&d);
    if (rc != 0)
        return rc < 0 ? rc : d.err;
    return list_cold(fs, &p, &d);
}

/* Hand over the entries from `off` on ("." and ".." are 0 and 1) until
 * the reply is full; with attributes, the kernel needs no lookup. */
static void fill_from(struct amifs *fs, const struct listing *l, void *buf,
                      fuse_fill_dir_t filler, off_t off, bool plus)
{
    size_t n = listing_count(l) + 2;

    for (size_t i = (size_t)off; i < n; i++) {
        struct stat st, *stp = NULL;
        struct cache_attr a;
        bool known = false;
        const char *name = i < 2 ? (i ? ".." : ".")
                                 : listing_at(l, i - 2, &a, &known);

        if (known) {
            memset(&st, 0, sizeof(st));
            if (a.kind == CACHE_DIR)
                amifs_stat_dir(fs, &st, a.mtime);
            else
                amifs_stat_file(fs, &st, a.size, a.mtime, true);
            stp = &st;
        }
        if (filler(buf, name, stp, (off_t)(i + 1),
                   stp && plus ? FUSE_FILL_DIR_PLUS : 0))
            break;
    }
}

static int bk_readdir_at(struct amifs *fs, const char *rel,
                         struct amifs_dir *dir, void *buf,
                         fuse_fill_dir_t filler, off_t off,
                         enum fuse_readdir_flags flags)
{
    if (off < 0)
        return -EINVAL;
    if (off == 0 || !dir->listing) { /* opendir, or rewinddir */
        struct listing *l = listing_new();
        int rc = l ? bk_list(fs, rel, l) : -ENOMEM;
        if (rc < 0) {
            listing_free(l);
            return rc;
        }
        listing_free(dir->listing);
        dir->listing = l;
    }
    fill_from(fs, dir->listing, buf, filler, off,
              (flags & FUSE_READDIR_PLUS) != 0);
    return 0;
}

/* ---- changes ------------------------------------------------------------ */

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
    bk_note_absent(fs, rel);
    return 0;
}

static int bk_mkdir(struct amifs *fs, const char *rel, mode_t mode)
{
    struct bpath p;
    struct aws_error err;
    struct cache_attr a;
    char *marker;
    int rc;

    rc = creatable(fs, rel, "mkdir", true);
    if (rc < 0)
        return rc;
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
    bk_attr_set(&a, CACHE_DIR, 0, time(NULL), NULL);
    cache_change(bk_of(fs)->cache, rel, &a);
    return 0;
}

/* An object NAME that the prefix NAME/ shadowed (listed as "NAME%") is
 * listed as NAME once the prefix is gone: the kept names cannot say so,
 * so the next listing asks S3. */
static void unshadow(struct amifs *fs, const char *rel)
{
    struct cache_attr a;
    char *shadow;

    if (asprintf(&shadow, "%s%%", rel) < 0)
        return;
    if (cache_get(bk_of(fs)->cache, shadow, &a) && a.kind == CACHE_FILE)
        cache_forget(bk_of(fs)->cache, shadow);
    free(shadow);
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
        bk_note_absent(fs, rel);
    if (rc == 0)
        unshadow(fs, rel);
    return rc;
}

/* mv within a bucket. Directories and other buckets answer EXDEV, so mv(1)
 * falls back to copying and deleting file by file. */
static int bk_rename(struct amifs *fs, const char *from, const char *to,
                     unsigned int flags)
{
    struct bpath a, b;
    struct cache_attr src, dst;
    int rc;

    if (bpath_parse(from, &a) < 0)
        return -ENOENT;
    rc = bk_lookup(fs, to, &dst);
    if (rc == -ENOENT) {
        int c = creatable(fs, to, "rename", false);
        if (c < 0)
            return c;
    }
    if (bpath_parse(to, &b) < 0)
        return -ENOENT;
    if (!a.key[0] || !b.key[0])
        return -EPERM;
    if (flags & RENAME_EXCHANGE)
        return -EINVAL;
    if (strcmp(a.bucket, b.bucket) != 0)
        return -EXDEV;
    if (rc == 0 && (flags & RENAME_NOREPLACE))
        return -EEXIST;
    if (rc == 0 && dst.kind == CACHE_DIR)
        return -EISDIR;
    rc = bk_upload_rename(bk_of(fs), from, to);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        bk_note_absent(fs, from);
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

/* user.amifs.ami: the AMI a stored-AMI object holds (CreateStoreImageTask
 * names it ami-….bin at the bucket's top; doc/design/exports.md). Its
 * length, with the id copied into out (n bytes, when it fits), or 0. */
static const char ami_xattr[] = "user.amifs.ami";

size_t stored_ami(const char *rel, char *out, size_t n)
{
    const char *key = strchr(rel, '/');
    size_t len = key ? strlen(++key) : 0;
    if (len < 9 || strchr(key, '/') || strncmp(key, "ami-", 4) != 0 ||
        strcmp(key + len - 4, ".bin") != 0)
        return 0;
    for (size_t i = 4; i < len - 4; i++)
        if (!strchr("0123456789abcdef", key[i]))
            return 0;
    if (out && n >= len - 4)
        memcpy(out, key, len - 4);
    return len - 4;
}

static int xattr_out(const char *s, char *value, size_t n)
{
    size_t len = strlen(s);

    if (n == 0)
        return (int)len;
    if (n < len)
        return -ERANGE;
    memcpy(value, s, len);
    return (int)len;
}

/* user.amifs.checksum: "ALGORITHM:value" as S3 keeps it for the object
 * (HEAD with x-amz-checksum-mode), e.g. "CRC32C:4waSgw=="; ENODATA when it
 * has none. Asked of S3 each time: it is read rarely, and it must be the
 * checksum of the object as it is now. */
static int checksum_getxattr(struct amifs *fs, const char *rel, char *value,
                             size_t n)
{
    struct s3_checksum ck;
    struct aws_error err;
    struct bpath p;
    char out[128];

    if (bpath_parse(rel, &p) < 0 || !p.key[0])
        return -ENODATA;
    aws_error_clear(&err);
    if (s3_head_checksum(fs->client, p.bucket, p.key, NULL, &ck, &err) < 0)
        return bk_fail(fs, "HeadObject", rel, &err);
    if (!ck.algorithm[0])
        return -ENODATA;
    snprintf(out, sizeof out, "%s:%s", ck.algorithm, ck.value);
    return xattr_out(out, value, n);
}

static int bk_getxattr(struct amifs *fs, const char *rel, const char *name,
                       char *value, size_t n)
{
    struct cache_attr a;
    struct bpath p;
    size_t len;
    int rc;

    if (strcmp(name, ami_xattr) == 0) {
        len = stored_ami(rel, NULL, 0);
        if (len == 0 || (rc = bk_lookup(fs, rel, &a)) < 0 ||
            a.kind != CACHE_FILE)
            return len == 0 ? -ENODATA : rc < 0 ? rc : -ENODATA;
        if (n && n < len)
            return -ERANGE;
        return (int)stored_ami(rel, value, n);
    }
    if (strcmp(name, etag_xattr) != 0 && strcmp(name, checksum_xattr) != 0)
        return -ENODATA;
    rc = bk_lookup(fs, rel, &a);
    if (rc < 0)
        return rc;
    if (a.kind != CACHE_FILE || bk_upload_busy(bk_of(fs), rel, false))
        return -ENODATA;
    if (strcmp(name, checksum_xattr) == 0)
        return checksum_getxattr(fs, rel, value, n);
    if (!a.etag[0] && bpath_parse(rel, &p) == 0) {
        rc = bk_lookup_key(fs, &p, rel, &a);
        if (rc < 0)
            return rc;
    }
    return xattr_out(a.etag, value, n);
}

static int bk_listxattr(struct amifs *fs, const char *rel, char *list, size_t n)
{
    struct cache_attr a;
    int rc = bk_lookup(fs, rel, &a);

    if (rc < 0)
        return rc;
    if (a.kind != CACHE_FILE)
        return 0;
    size_t total = sizeof(etag_xattr) + sizeof(checksum_xattr) +
                   (stored_ami(rel, NULL, 0) ? sizeof(ami_xattr) : 0);
    if (n == 0)
        return (int)total;
    if (n < total)
        return -ERANGE;
    memcpy(list, etag_xattr, sizeof(etag_xattr));
    memcpy(list + sizeof(etag_xattr), checksum_xattr, sizeof(checksum_xattr));
    if (total > sizeof(etag_xattr) + sizeof(checksum_xattr))
        memcpy(list + sizeof(etag_xattr) + sizeof(checksum_xattr), ami_xattr,
               sizeof(ami_xattr));
    return (int)total;
}

/* create: bucket_io.c makes the object, once the name is one we can list
 * back (see creatable). */
static int bk_create_checked(struct amifs *fs, const char *rel, mode_t mode,
                             struct fuse_file_info *fi)
{
    int rc = creatable(fs, rel, "create", false);

    return rc < 0 ? rc : bk_create(fs, rel, mode, fi);
}

/* ---- lifetime ----------------------------------------------------------- */

static int bk_init(struct amifs *fs)
{
    struct bk *b = calloc(1, sizeof(*b));

    if (!b)
        return -ENOMEM;
    b->cache = cache_new(fs->opts.cache_ttl, NULL);
    if (b->cache)
        cache_set_order(b->cache, listorder_cmp);
    b->reads = read_pool_new(fs->opts.read_memory,
                             fs->opts.read_concurrency);
    if (!b->cache || !b->reads) {
        cache_free(b->cache);
        read_pool_free(b->reads);
        free(b);
        return -ENOMEM;
    }
    pthread_mutex_init(&b->lock, NULL);
    const char *lim = getenv("AMIFS_TEST_COPY_LIMIT");
    if (lim && *lim)
        b->copy_limit = strtoull(lim, NULL, 10);
    fs->buckets = b;
    return 0;
}

static void bk_destroy(struct amifs *fs)
{
    struct bk *b = fs->buckets;

    if (!b)
        return;
    bk_uploads_destroy(fs); /* failed aborts go to fs->janitor */
    read_pool_free(b->reads); /* after every open file's reader */
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
    .readdir_at = bk_readdir_at,
    .open = bk_open,
    .create = bk_create_checked,
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
