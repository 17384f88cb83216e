/*
 * bucket_io.c — open files of buckets/.
 *
 * Reading: a reader (core/reader.h) per open file, fetching ranged GETs with
 * If-Match on the ETag seen at open, so a file replaced meanwhile fails
 * (412: ESTALE) instead of mixing two versions. A sequential reader keeps
 * up to read_concurrency ranges in flight on the mount's read pool
 * (bk->reads, core/readpool.h); whole-file reads are verified in the order
 * the bytes are handed out (fs/bucket_verify.h).
 *
 * Writing a new file (create, or open with O_TRUNC) feeds an upload writer
 * (core/upload.h: reorder window, size hint, poison, journal) while the
 * writer writes. Close semantics (doc/design/upload.md):
 *  - only a clean, deliberate close publishes: the first flush after data
 *    *by the process that opened the file* completes the upload and returns
 *    its result to that close(); flushes of other processes (a child that
 *    inherited the fd: `{ echo a; date; echo b; } > f`) complete nothing;
 *    later flushes return the same result;
 *  - a flush from an opener that is being killed by a signal (read from
 *    /proc: the dying task's exit_code) aborts the upload: nothing is
 *    published; a plain exit() without close() still publishes;
 *  - a flush with nothing written changes nothing while the closing
 *    process still holds another fd of the file (a shell's dup); the
 *    deliberate close of an open with nothing written stores an empty
 *    object (replacing an existing one only then: replacement is atomic);
 *  - a file created with a size hint (ftruncate) and no data is, at close,
 *    a local placeholder for PARK_SECONDS: a reopen for writing continues
 *    it (qemu-img's create → truncate → close → reopen); nobody reopens it:
 *    it is dropped, nothing is stored; so is a file an O_RDWR open
 *    created (no O_TRUNC) and closed empty (qemu-img's VMDK create);
 *  - an O_RDWR writer whose header announces in-place rewrites
 *    (core/streamcheck.h: qemu's streamOptimized VMDK) is refused at that
 *    write, with the two-step alternative in .amifs/errors;
 *  - release completes what no flush completed, logging the outcome; when
 *    the daemon is stopping (destroy) it aborts instead;
 *  - writes after a successful completion fail with EPERM, except a write
 *    right at the end of an object smaller than one part (a shell's
 *    builtins between dup/close of the fd): the upload resumes with the
 *    stored bytes;
 *  - opening an existing object for writing without O_TRUNC succeeds (touch,
 *    which only wants utimens) but its first write fails with EPERM; with
 *    O_APPEND the open itself fails with EPERM; ftruncate(fd, 0) on such a
 *    handle starts a replacement upload.
 *
 * Locks: b->lock guards the registry (list + refs + placeholder fields +
 * which writer an upload has), up->wlock serializes the calls of one
 * upload's writers (it may wait on the network, but only that file's
 * writers wait). getattr reads uw_size(), which is thread-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/name.h"
#include "fs/buckets_int.h"
#include "core/janitor.h"
#include "core/journal.h"
#include "core/reader.h"
#include "fs/bucket_verify.h"
#include "core/streamcheck.h"

#define PARK_SECONDS 30

struct upload {
    struct upload *next; /* registry, under b->lock */
    int refs;            /* under b->lock: the handle + temporary users */
    char *rel;           /* under b->lock: the name the tree shows (a
                            rename while writing changes it) */
    char *obj_rel;       /* where the bytes go; fixed */
    struct bpath p;      /* of obj_rel (key points into it) */
    struct upload_writer *w; /* swapped (resume) under wlock + b->lock */
    time_t started;
    pthread_mutex_t wlock;
    atomic_bool finished; /* completion ran; `result` is final */
    int result;           /* under wlock: 0 or -errno once finished */
    char etag[72];        /* under wlock: of the object once stored */
    time_t parked_until;  /* under b->lock: a placeholder (closed with a
                             size hint, no data) until then; 0: not */
    int handles;          /* under b->lock: open handles writing it */
    bool nonzero;         /* under wlock: a non-zero byte was written */
    bool told_kept;       /* under wlock: .amifs/errors has "kept for
                             resume" (doc/design/resume.md) */
};

struct bfile {
    struct amifs *fs;
    char *rel;
    struct bpath p;    /* key points into rel */
    struct upload *up; /* writing: the upload (NULL until one starts) */
    bool writable;     /* opened for writing */
    long opener;       /* writing: the process that opened it, or 0 */
    bool rdwr;         /* opened O_RDWR (a tool preparing a disk) */
    bool fresh_rdwr;   /* created by an O_RDWR open without O_TRUNC or
                          O_APPEND (qemu-img's create step) */
    struct streamcheck sc; /* rdwr: a header that says "not streamable" */
    struct reader *rd; /* reading */
    char etag[72];     /* reading: If-Match */
    bool verify;       /* reading an object: check whole-file reads */
    struct bverify bv;
};

static struct bfile *handle_of(const struct fuse_file_info *fi)
{
    return fi ? (struct bfile *)(uintptr_t)fi->fh : NULL;
}

/* ---- the registry ------------------------------------------------------- */

/* A closed placeholder whose grace period ran out: gone from the tree. */
static bool expired(const struct upload *u)
{
    return u->parked_until && time(NULL) > u->parked_until;
}

/* Being written (or completing), and not removed meanwhile. */
static bool live(const struct upload *u)
{
    enum uw_state st = uw_state(u->w);
    return !atomic_load(&u->finished) && !expired(u) &&
           (st == UW_OPEN || st == UW_COMPLETING);
}

static struct upload *find_writing(struct bk *b, const char *rel)
{
    for (struct upload *u = b->uploads; u; u = u->next)
        if (strcmp(u->rel, rel) == 0 && live(u))
            return u;
    return NULL;
}

/* A live upload somewhere below the directory `dir`, or NULL. Such a
 * directory exists (its objects are on their way), so its lookups need not
 * wait on the server while a big upload keeps it busy. */
static struct upload *find_under(struct bk *b, const char *dir)
{
    size_t len = strlen(dir);

    for (struct upload *u = b->uploads; u; u = u->next)
        if (strncmp(u->rel, dir, len) == 0 && u->rel[len] == '/' && live(u))
            return u;
    return NULL;
}

/* The live upload of rel with a reference taken (drop it with upload_put),
 * or NULL; takes b->lock itself. */
static struct upload *ref_writing(struct bk *b, const char *rel)
{
    pthread_mutex_lock(&b->lock);
    struct upload *u = find_writing(b, rel);
    if (u)
        u->refs++;
    pthread_mutex_unlock(&b->lock);
    return u;
}

int bk_upload_attr(struct bk *b, const char *rel, struct cache_attr *a)
{
    struct upload *u;

    pthread_mutex_lock(&b->lock);
    u = find_writing(b, rel);
    if (u) {
        memset(a, 0, sizeof(*a));
        a->kind = CACHE_FILE;
        a->size = uw_size(u->w);
        a->mtime = u->started;
    } else if ((u = find_under(b, rel)) != NULL) {
        memset(a, 0, sizeof(*a));
        a->kind = CACHE_DIR;
        a->mtime = u->started;
    }
    pthread_mutex_unlock(&b->lock);
    return u != NULL;
}

int bk_lookup(struct amifs *fs, const char *rel, struct cache_attr *a)
{
    struct bpath p;

    if (rel[0] == '\0') {
        bk_attr_set(a, CACHE_DIR, 0, fs->mount_time, NULL);
        return 0;
    }
    if (bpath_parse(rel, &p) < 0)
        return -ENOENT;
    if (bk_upload_attr(bk_of(fs), rel, a)) /* in flight, or holds one */
        return 0;
    return bk_lookup_stored(fs, &p, rel, a);
}

void bk_uploads_in(struct bk *b, const char *dir,
                   void (*fn)(void *ctx, const char *name), void *ctx)
{
    size_t len = strlen(dir);

    pthread_mutex_lock(&b->lock);
    for (struct upload *u = b->uploads; u; u = u->next) {
        const char *name = u->rel + len + 1;
        if (strncmp(u->rel, dir, len) == 0 && u->rel[len] == '/' &&
            !strchr(name, '/') && live(u))
            fn(ctx, name);
    }
    pthread_mutex_unlock(&b->lock);
}

int bk_upload_busy(struct bk *b, const char *rel, bool below)
{
    size_t len = strlen(rel);
    int busy = 0;

    pthread_mutex_lock(&b->lock);
    for (struct upload *u = b->uploads; u && !busy; u = u->next) {
        if (!live(u))
            continue;
        busy = below ? strncmp(u->rel, rel, len) == 0 && u->rel[len] == '/'
                     : strcmp(u->rel, rel) == 0;
    }
    pthread_mutex_unlock(&b->lock);
    return busy;
}

static void upload_free(struct upload *u)
{
    uw_free(u->w); /* aborts unless DONE; settles the journal entry */
    pthread_mutex_destroy(&u->wlock);
    free(u->rel);
    free(u->obj_rel);
    free(u);
}

static void upload_put(struct bk *b, struct upload *u)
{
    bool last;

    pthread_mutex_lock(&b->lock);
    last = --u->refs == 0;
    pthread_mutex_unlock(&b->lock);
    if (last)
        upload_free(u);
}

static void unregister_locked(struct bk *b, struct upload *u)
{
    for (struct upload **pp = &b->uploads; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            break;
        }
}

static void unregister(struct bk *b, struct upload *u)
{
    pthread_mutex_lock(&b->lock);
    unregister_locked(b, u);
    pthread_mutex_unlock(&b->lock);
}

int bk_upload_rename(struct bk *b, const char *from, const char *to)
{
    struct upload *u;
    char *copy = strdup(to);
    int rc = 0;

    if (!copy)
        return -ENOMEM;
    pthread_mutex_lock(&b->lock);
    u = find_writing(b, from);
    if (!u)
        rc = 0;
    else if (find_writing(b, to))
        rc = -EBUSY;
    else {
        free(u->rel);
        u->rel = copy;
        copy = NULL;
        rc = 1;
    }
    pthread_mutex_unlock(&b->lock);
    free(copy);
    return rc;
}

int bk_upload_cancel(struct bk *b, const char *rel)
{
    struct upload *u = ref_writing(b, rel);
    if (!u)
        return 0;
    /* A close that is completing wins: rm then answers EBUSY. */
    int rc = uw_abort(u->w, ECANCELED, "removed (rm) while written");
    upload_put(b, u);
    return rc < 0 ? rc : 1;
}

void bk_uploads_destroy(struct amifs *fs)
{
    struct bk *b = bk_of(fs);
    struct upload *u, *next;

    /* Handles still open at unmount (lazy unmount), and placeholders:
     * their release will never come. Abort what is left: a daemon told to
     * stop never completes an upload. */
    pthread_mutex_lock(&b->lock);
    u = b->uploads;
    b->uploads = NULL;
    pthread_mutex_unlock(&b->lock);
    for (; u; u = next) {
        next = u->next;
        uw_abort(u->w, ECANCELED, "the daemon is stopping");
        upload_free(u);
    }
}

/* ---- starting uploads --------------------------------------------------- */

static struct upload_writer *writer_new(struct amifs *fs, const char *bucket,
                                        const char *key, const char *rel)
{
    struct uw_config c = {0};
    char label[1200];

    c.client = fs->client;
    c.lg = &fs->logger;
    c.part_size = fs->opts.part_size;
    c.concurrency = fs->opts.upload_concurrency;
    c.journal = &fs->jops;
    c.shared = fs->uploads;
    c.may_complete = amifs_caller_gone;
    c.may_complete_ctx = fs;
    snprintf(label, sizeof(label), "buckets/%s", rel);
    return uw_new(&c, bucket, key, label);
}

static int upload_new(struct amifs *fs, const char *rel, struct upload **out)
{
    struct upload *u = calloc(1, sizeof(*u));

    if (!u || !(u->rel = strdup(rel)) || !(u->obj_rel = strdup(rel))) {
        if (u)
            free(u->rel);
        free(u);
        return -ENOMEM;
    }
    bpath_parse(u->obj_rel, &u->p);
    u->w = writer_new(fs, u->p.bucket, u->p.key, rel);
    if (!u->w) {
        free(u->rel);
        free(u->obj_rel);
        free(u);
        return -ENOMEM;
    }
    pthread_mutex_init(&u->wlock, NULL);
    atomic_init(&u->finished, false);
    u->started = time(NULL);
    u->refs = 1;
    u->handles = 1;
    *out = u;
    return 0;
}

/* A placeholder at rel (live or expired), unregistered; the caller owns
 * the registry's reference. NULL when none. b->lock held. */
static struct upload *take_parked_locked(struct bk *b, const char *rel)
{
    for (struct upload *u = b->uploads; u; u = u->next)
        if (u->parked_until && !u->handles && strcmp(u->rel, rel) == 0) {
            unregister_locked(b, u);
            return u;
        }
    return NULL;
}

/* Give h a fresh upload for its path, registered so the tree shows it
 * (replacing a placeholder left there). */
static int start_upload(struct amifs *fs, struct bfile *h)
{
    struct bk *b = bk_of(fs);
    struct upload *u, *old = NULL;
    int rc = upload_new(fs, h->rel, &u);

    if (rc < 0)
        return rc;
    pthread_mutex_lock(&b->lock);
    old = take_parked_locked(b, h->rel);
    if (find_writing(b, h->rel)) {
        rc = -EBUSY; /* someone else is writing this file right now */
    } else {
        u->next = b->uploads;
        b->uploads = u;
    }
    pthread_mutex_unlock(&b->lock);
    if (old)
        upload_put(b, old);
    if (rc < 0) {
        upload_free(u);
        return rc;
    }
    h->up = u;
    return 0;
}

/* A reopen for writing of a placeholder continues it: h takes over the
 * registry's reference. 1 when attached, 0 when there is none. */
static int attach_parked(struct amifs *fs, struct bfile *h)
{
    struct bk *b = bk_of(fs);
    struct upload *u = NULL;

    pthread_mutex_lock(&b->lock);
    for (struct upload *x = b->uploads; x && !u; x = x->next)
        if (x->parked_until && strcmp(x->rel, h->rel) == 0 && live(x))
            u = x;
    if (u) {
        u->parked_until = 0;
        if (u->handles++ > 0)
            u->refs++; /* else h takes over the registry's reference */
    }
    pthread_mutex_unlock(&b->lock);
    h->up = u;
    return u != NULL;
}

static int handle_new(struct amifs *fs, const char *rel, struct bfile **out)
{
    struct bfile *h = calloc(1, sizeof(*h));

    if (!h || !(h->rel = strdup(rel))) {
        free(h);
        return -ENOMEM;
    }
    h->fs = fs;
    if (bpath_parse(h->rel, &h->p) < 0 || !h->p.key[0]) {
        free(h->rel);
        free(h);
        return -EPERM; /* no files at the bucket level */
    }
    *out = h;
    return 0;
}

static void handle_free(struct bfile *h)
{
    reader_free(h->rd);
    if (h->verify)
        bv_destroy(&h->bv);
    free(h->rel);
    free(h);
}

/* ---- reading ------------------------------------------------------------ */

struct sinkbuf {
    char *dst;
    size_t len, got;
    const atomic_int *cancel;
};

static int sink(void *ctx, const char *data, size_t n)
{
    struct sinkbuf *s = ctx;

    if ((s->cancel && atomic_load(s->cancel)) || n > s->len - s->got)
        return -1;
    memcpy(s->dst + s->got, data, n);
    s->got += n;
    return 0;
}

static int fetch(void *ctx, uint64_t off, size_t len, char *dst,
                 const atomic_int *cancel, struct aws_error *err)
{
    struct bfile *h = ctx;
    struct sinkbuf s = {dst, len, 0, cancel};

    if (s3_get_object(h->fs->client, h->p.bucket, h->p.key, off, len,
                      h->etag[0] ? h->etag : NULL, sink, &s, err) < 0)
        return -1;
    if (s.got != len)
        return aws_error_set(err, AWS_ERR_IO, "short read: %zu of %zu bytes",
                             s.got, len);
    return 0;
}

/* A placeholder holds only zeros. */
static int fetch_zeros(void *ctx, uint64_t off, size_t len, char *dst,
                       const atomic_int *cancel, struct aws_error *err)
{
    memset(dst, 0, len);
    return 0;
}

static struct reader *reader_for(struct amifs *fs, uint64_t size,
                                 reader_fetch_fn fn, struct bfile *h)
{
    struct reader_options o = {0};

    o.ranges = fs->opts.read_concurrency;
    o.pool = bk_of(fs)->reads;
    return reader_new(size, &o, fn, h);
}

static bool parked(struct bk *b, const char *rel)
{
    bool found = false;

    pthread_mutex_lock(&b->lock);
    for (struct upload *u = b->uploads; u && !found; u = u->next)
        found = u->parked_until && strcmp(u->rel, rel) == 0 && live(u);
    pthread_mutex_unlock(&b->lock);
    return found;
}

static int open_read(struct amifs *fs, struct bfile *h)
{
    struct cache_attr a;
    int rc;

    if (bk_upload_attr(bk_of(fs), h->rel, &a)) {
        if (a.size > 0 && parked(bk_of(fs), h->rel)) {
            h->rd = reader_for(fs, a.size, fetch_zeros, h);
            return h->rd ? 0 : -ENOMEM;
        }
        if (a.size > 0)
            return -EBUSY; /* still being written: not readable yet */
        h->rd = reader_for(fs, 0, fetch, h); /* empty so far */
        return h->rd ? 0 : -ENOMEM;
    }
    rc = bk_lookup(fs, h->rel, &a);
    if (rc < 0)
        return rc;
    if (a.kind == CACHE_DIR)
        return -EISDIR;
    memcpy(h->etag, a.etag, sizeof(h->etag));
    h->rd = reader_for(fs, a.size, fetch, h);
    if (h->rd && h->etag[0]) {
        bv_init(&h->bv, a.size);
        h->verify = true;
    }
    return h->rd ? 0 : -ENOMEM;
}

/* The whole object was read in order: compare what came with the
 * checksum S3 keeps for it (bucket_verify.h). */
static int verify_whole(struct amifs *fs, struct bfile *h, const char *rel)
{
    struct s3_checksum ck;
    struct aws_error err;

    aws_error_clear(&err);
    if (s3_head_checksum(fs->client, h->p.bucket, h->p.key, h->etag, &ck,
                         &err) < 0)
        return bk_fail(fs, "HeadObject", rel, &err);
    if (bv_matches(&h->bv, &ck))
        return 0;
    aws_error_set(&err, AWS_ERR_INTEGRITY,
                  "the bytes read do not match the object's %s %s",
                  ck.algorithm, ck.value);
    return bk_fail(fs, "GetObject", rel, &err);
}

int bk_read(struct amifs *fs, const char *rel, char *buf, size_t n, off_t off,
            struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    struct aws_error err;
    long got;

    if (!h || !h->rd)
        return -EBADF;
    if (h->verify && bv_bad(&h->bv))
        return -EIO;
    aws_error_clear(&err);
    got = reader_read(h->rd, buf, n, (uint64_t)off, &err);
    if (got < 0 && aws_error_errno(&err) == ESTALE)
        return bk_fail(fs, "GetObject (the object was replaced since it "
                           "was opened: ESTALE, reopen to read the new one)",
                       rel, &err);
    if (got < 0)
        return bk_fail(fs, "GetObject", rel, &err);
    if (h->verify && bv_feed(&h->bv, (uint64_t)off, buf, (size_t)got) == 1) {
        int rc = verify_whole(fs, h, rel);
        if (rc < 0)
            return rc;
    }
    return (int)got;
}

/* ---- writing ------------------------------------------------------------ */

/* Why a finished upload takes no more bytes. */
static int closed_result(const struct upload *u)
{
    return u->result < 0 ? u->result : -EPERM;
}

/* The name the upload has now (a copy; NULL when out of memory). */
static char *current_name(struct bk *b, struct upload *u)
{
    char *name;

    pthread_mutex_lock(&b->lock);
    name = strdup(u->rel);
    pthread_mutex_unlock(&b->lock);
    return name;
}

struct refeed {
    struct upload_writer *w;
    uint64_t off;
};

static int refeed(void *ctx, const char *data, size_t n)
{
    struct refeed *r = ctx;

    if (uw_write(r->w, data, n, r->off) < 0)
        return -1;
    r->off += n;
    return 0;
}

/* A write right at the end of an object this open file just stored: a
 * shell closed a dup of the fd between two builtins (`exec 3>f; echo a >&3;
 * echo b >&3`, `{ echo a; echo b >&2; } > f 2>&1`), and that flush came
 * from the process that opened it. For an object below one part (what
 * such scripts write), start over: a new upload that begins with the
 * stored bytes, read back; the next flush stores the longer object. 0, or
 * the errno a finished upload answers. */
static int resume_locked(struct amifs *fs, struct upload *u, uint64_t off)
{
    struct aws_error err;
    char *name = current_name(bk_of(fs), u);
    bool same = name && strcmp(name, u->obj_rel) == 0;
    uint64_t size = uw_size(u->w);

    free(name);
    if (u->result < 0 || uw_state(u->w) != UW_DONE || off != size ||
        !same || size >= fs->opts.part_size)
        return closed_result(u);
    struct upload_writer *w = writer_new(fs, u->p.bucket, u->p.key,
                                         u->obj_rel);
    struct refeed r = {w, 0};
    aws_error_clear(&err);
    if (!w || (size > 0 &&
               s3_get_object(fs->client, u->p.bucket, u->p.key, 0, size,
                             u->etag[0] ? u->etag : NULL, refeed, &r,
                             &err) < 0)) {
        uw_free(w);
        return closed_result(u);
    }
    pthread_mutex_lock(&bk_of(fs)->lock);
    struct upload_writer *old = u->w;
    u->w = w;
    atomic_store(&u->finished, false);
    pthread_mutex_unlock(&bk_of(fs)->lock);
    uw_free(old);
    u->result = 0;
    amifs_log(fs, AWS_LOG_DEBUG, "buckets/%s: written again after close; "
              "resumed at %llu bytes",
              name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX),
              (unsigned long long)size);
    return 0;
}

static int write_locked(struct amifs *fs, struct upload *u, const char *buf,
                        size_t n, uint64_t off)
{
    if (atomic_load(&u->finished)) {
        int rc = resume_locked(fs, u, off);
        if (rc < 0)
            return rc;
    }
    ssize_t rc = uw_write(u->w, buf, n, off);
    for (size_t i = 0; rc >= 0 && !u->nonzero && i < n; i++)
        u->nonzero = buf[i] != 0;
    return rc < 0 ? (int)rc : (int)n;
}

/* A write or close that failed from the network: the upload was kept
 * for a resume; say so once in .amifs/errors. wlock held. */
static int tell_kept(struct amifs *fs, struct upload *u, const char *op,
                     int rc)
{
    char why[1024];
    if (rc >= 0 || u->told_kept || !uw_kept(u->w))
        return rc;
    u->told_kept = true;
    uw_error_text(u->w, why, sizeof(why));
    return amifs_refuse(fs, "buckets", u->obj_rel, op, -rc, "%s", why);
}

int bk_write(struct amifs *fs, const char *rel, const char *buf, size_t n,
             off_t off, struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    int rc;

    if (!h || !h->writable)
        return -EBADF;
    if (!h->up)
        return -EPERM; /* an existing object opened without O_TRUNC */
    pthread_mutex_lock(&h->up->wlock);
    char why[512];
    if (h->rdwr && streamcheck_feed(&h->sc, buf, n, (uint64_t)off, why,
                                    sizeof(why)) == 1) {
        rc = uw_fail(h->up->w, ESPIPE); /* poison: nothing is published */
        amifs_refuse(fs, "buckets", rel, "write", ESPIPE, "%s", why);
    } else {
        rc = tell_kept(fs, h->up, "write",
                       write_locked(fs, h->up, buf, n, (uint64_t)off));
    }
    pthread_mutex_unlock(&h->up->wlock);
    return rc;
}

/* Renamed while written (GIO's replace: write a temporary, rename it onto
 * the target, then close): now that the object is complete, move it. */
static int move_to_name(struct amifs *fs, struct upload *u, uint64_t size)
{
    char *name = current_name(bk_of(fs), u);
    struct aws_error err;
    int rc;

    if (!name)
        return -ENOMEM;
    rc = strcmp(name, u->obj_rel) == 0
             ? 0
             : bk_move_object(fs, u->obj_rel, name, size);
    if (rc < 0) { /* leave nothing under the temporary name */
        aws_error_clear(&err);
        s3_delete_object(fs->client, u->p.bucket, u->p.key, &err);
        cache_forget(bk_of(fs)->cache, u->obj_rel);
        amifs_log(fs, AWS_LOG_ERROR,
                  "buckets/%s: renamed while written, "
                  "but moving it to %s failed",
                  name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX),
                  name_esc(name, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX));
    }
    free(name);
    return rc;
}

/* Complete the upload (or take its failure); the outcome becomes final. */
static int finish_locked(struct amifs *fs, struct upload *u)
{
    char etag[72] = "";
    uint64_t size = uw_size(u->w);
    int rc;

    if (atomic_load(&u->finished))
        return u->result;
    rc = tell_kept(fs, u, "close", uw_complete(u->w, etag));
    if (rc == 0) {
        bk_note_file(fs, u->obj_rel, size, etag);
        memcpy(u->etag, etag, sizeof(u->etag));
        rc = move_to_name(fs, u, size);
    }
    u->result = rc;
    atomic_store(&u->finished, true);
    if (rc == 0)
        amifs_log(fs, AWS_LOG_INFO, "buckets/%s: stored, %llu bytes",
                  name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX),
                  (unsigned long long)size);
    return rc;
}

/* The flush of an opener that is being killed: it will never see a
 * close() result, so nothing it wrote is published. */
static int abort_killed(struct amifs *fs, struct upload *u, int sig)
{
    char why[96];

    snprintf(why, sizeof(why), "the writer was killed by signal %d", sig);
    int rc = uw_abort(u->w, ECANCELED, why);
    if (rc == 0 && !atomic_load(&u->finished)) {
        u->result = uw_result(u->w);
        atomic_store(&u->finished, true);
    }
    (void)fs;
    return u->result < 0 ? u->result : -ECANCELED;
}

/* Keep u as a placeholder for PARK_SECONDS: what it holds is only zeros
 * up to its size, so it restarts as a fresh writer with that size as its
 * hint (a reopen may then write anywhere). 0 or -errno. */
static int park_locked(struct amifs *fs, struct upload *u)
{
    struct bk *b = bk_of(fs);
    uint64_t size = uw_size(u->w);
    struct upload_writer *w = u->w;

    if (uw_wrote(u->w)) {
        w = writer_new(fs, u->p.bucket, u->p.key, u->obj_rel);
        if (!w || uw_truncate(w, size) < 0) {
            uw_free(w);
            return -ENOMEM;
        }
    }
    pthread_mutex_lock(&b->lock);
    struct upload_writer *old = u->w;
    u->w = w;
    u->parked_until = time(NULL) + PARK_SECONDS;
    pthread_mutex_unlock(&b->lock);
    if (old != w)
        uw_free(old);
    amifs_log(fs, AWS_LOG_INFO, "buckets/%s: closed with a size (%llu) and "
              "no data; kept %d s for a reopen (then dropped, nothing "
              "stored)",
              name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX),
              (unsigned long long)size, PARK_SECONDS);
    return 0;
}

/* The deliberate close of a file with nothing in it but a size (and, for
 * an O_RDWR open, zeros): a placeholder (qemu-img creates, sizes, closes,
 * then reopens). */
static bool parkable(struct bfile *h, struct upload *u)
{
    if (h->fresh_rdwr && uw_size(u->w) == 0 && !uw_wrote(u->w))
        return true; /* created, then closed empty: the create step */
    return uw_size(u->w) > 0 && !u->nonzero &&
           (!uw_wrote(u->w) || h->rdwr);
}

/* A flush with nothing written: a deliberate close (the caller holds no
 * other fd of the file) stores what the file is — an empty object, also
 * over an existing one — or parks a size-only file; a dup's flush changes
 * nothing. */
static int flush_nothing(struct amifs *fs, struct bfile *h, struct upload *u)
{
    char path[1100];

    if (h->opener && amifs_caller_process() != h->opener)
        return 0;
    snprintf(path, sizeof(path), "buckets/%s", h->rel);
    if (amifs_caller_holds(fs, path))
        return 0;
    if (parkable(h, u))
        return park_locked(fs, u);
    return finish_locked(fs, u);
}

int bk_flush(struct amifs *fs, const char *rel, struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    struct upload *u = h ? h->up : NULL;
    bool opener;
    int rc = 0, sig;

    if (!u)
        return 0;
    opener = !h->opener || amifs_caller_process() == h->opener;
    pthread_mutex_lock(&u->wlock);
    if (opener && !atomic_load(&u->finished) &&
        (sig = amifs_caller_exit_signal()) > 0)
        rc = abort_killed(fs, u, sig);
    else if (atomic_load(&u->finished))
        rc = u->result;
    else if (uw_state(u->w) != UW_OPEN)
        rc = finish_locked(fs, u); /* takes the failure */
    else if (uw_wrote(u->w) && !opener)
        rc = 0; /* a child closing its inherited fd: the writer goes on */
    else if (uw_wrote(u->w) && !parkable(h, u))
        rc = finish_locked(fs, u);
    else
        rc = flush_nothing(fs, h, u);
    pthread_mutex_unlock(&u->wlock);
    return rc;
}

/* One handle fewer; the number left. */
static int drop_handle(struct bk *b, struct upload *u)
{
    pthread_mutex_lock(&b->lock);
    int left = --u->handles;
    bool parked = u->parked_until != 0;
    pthread_mutex_unlock(&b->lock);
    return left > 0 ? left : parked ? -1 : 0;
}

int bk_release(struct amifs *fs, const char *rel, struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    struct upload *u = h ? h->up : NULL;

    if (!h)
        return 0;
    int left = u ? drop_handle(bk_of(fs), u) : 0;
    if (u && left > 0) { /* another handle goes on writing it */
        upload_put(bk_of(fs), u);
    } else if (u && left < 0 && !atomic_load(&fs->stopping)) {
        /* a placeholder: the registry keeps h's reference */
    } else if (u) {
        pthread_mutex_lock(&u->wlock);
        if (atomic_load(&fs->stopping))
            uw_abort(u->w, ECANCELED, "the daemon is stopping");
        else if (parkable(h, u) && !uw_wrote(u->w))
            left = park_locked(fs, u) == 0 ? -1 : 0;
        if (left == 0)
            finish_locked(fs, u); /* release cannot report: it is logged */
        pthread_mutex_unlock(&u->wlock);
        if (left == 0) {
            unregister(bk_of(fs), u);
            upload_put(bk_of(fs), u);
        }
    }
    handle_free(h);
    return 0;
}

/* ---- open / create / truncate ------------------------------------------- */

/* Open for writing: O_TRUNC (or a new/empty object) starts an upload that
 * replaces the object at close; a placeholder is continued; otherwise see
 * the header comment. */
static int open_write(struct amifs *fs, struct bfile *h, int flags)
{
    struct cache_attr a;
    int rc;

    h->writable = true;
    h->opener = amifs_caller_process();
    h->rdwr = (flags & O_ACCMODE) == O_RDWR;
    if (flags & O_TRUNC)
        return start_upload(fs, h);
    if (attach_parked(fs, h))
        return 0;
    rc = bk_lookup(fs, h->rel, &a);
    if (rc == -ENOENT || (rc == 0 && a.kind == CACHE_FILE && a.size == 0 &&
                          !bk_upload_busy(bk_of(fs), h->rel, false)))
        return start_upload(fs, h);
    if (rc < 0)
        return rc;
    if (a.kind == CACHE_DIR)
        return -EISDIR;
    if (flags & O_APPEND)
        return -EPERM; /* S3 cannot append to an object */
    return bk_upload_busy(bk_of(fs), h->rel, false) ? -EBUSY : 0;
}

int bk_open(struct amifs *fs, const char *rel, struct fuse_file_info *fi)
{
    struct bfile *h;
    int rc = handle_new(fs, rel, &h);

    if (rc < 0)
        return rc == -EPERM ? -EISDIR : rc;
    if ((fi->flags & O_ACCMODE) == O_RDONLY)
        rc = open_read(fs, h);
    else
        rc = open_write(fs, h, fi->flags);
    if (rc < 0) {
        handle_free(h);
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = fs_write_only(fi);
    return 0;
}

int bk_create(struct amifs *fs, const char *rel, mode_t mode,
              struct fuse_file_info *fi)
{
    struct bfile *h;
    int rc = handle_new(fs, rel, &h);

    if (rc < 0)
        return rc;
    h->writable = true;
    h->opener = amifs_caller_process();
    h->rdwr = (fi->flags & O_ACCMODE) == O_RDWR;
    h->fresh_rdwr = h->rdwr && !(fi->flags & (O_TRUNC | O_APPEND));
    rc = start_upload(fs, h);
    if (rc < 0) {
        handle_free(h);
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = fs_write_only(fi);
    return 0;
}

static int truncate_upload(struct amifs *fs, struct upload *u, uint64_t size)
{
    int rc;

    (void)fs;
    pthread_mutex_lock(&u->wlock);
    if (atomic_load(&u->finished))
        rc = size == uw_size(u->w) && u->result == 0 ? 0 : closed_result(u);
    else
        rc = uw_truncate(u->w, size);
    pthread_mutex_unlock(&u->wlock);
    return rc;
}

/* truncate(2) of a closed object: only to its size or to 0 (an empty
 * object replaces it). */
static int truncate_object(struct amifs *fs, const char *rel, uint64_t size)
{
    struct cache_attr a;
    struct bpath p;
    struct aws_error err;
    int rc = bk_lookup(fs, rel, &a);

    if (rc < 0)
        return rc;
    if (a.kind == CACHE_DIR)
        return -EISDIR;
    if (size == a.size)
        return 0;
    if (size != 0 || bpath_parse(rel, &p) < 0)
        return -EPERM;
    aws_error_clear(&err);
    if (s3_put_object(fs->client, p.bucket, p.key, "", 0, a.etag, &err) < 0)
        return bk_fail(fs, "PutObject", rel, &err);
    bk_note_file(fs, rel, 0, a.etag);
    return 0;
}

int bk_truncate(struct amifs *fs, const char *rel, off_t size,
                struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    struct bk *b = bk_of(fs);
    struct upload *u;
    int rc;

    if (h && h->up)
        return truncate_upload(fs, h->up, (uint64_t)size);
    if (h && h->writable && size == 0) {
        rc = start_upload(fs, h); /* ftruncate(fd, 0): replace it */
        return rc < 0 ? rc : 0;
    }
    u = ref_writing(b, rel);
    if (!u)
        return truncate_object(fs, rel, (uint64_t)size);
    rc = truncate_upload(fs, u, (uint64_t)size);
    upload_put(b, u);
    return rc;
}
