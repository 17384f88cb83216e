/*
 * bucket_io.c — open files of buckets/.
 *
 * Reading: a reader (core/reader.h) per open file, fetching ranged GETs with
 * If-Match on the ETag seen at open, so a file replaced meanwhile fails
 * instead of mixing two versions.
 *
 * Writing a new file (create, or open with O_TRUNC) streams a multipart
 * upload (aws/mpu.h) while the writer writes. The rules, from doc/ARCHITECTURE.md "Close semantics"
 * and the client traces in doc/CONTRACT.md "Real clients":
 *  - the first flush after data *by the process that opened the file*
 *    completes the upload and returns its result to that close(); flushes
 *    with nothing written (a shell's dup) complete nothing, nor do flushes
 *    of other processes (a child that inherited the fd and exits:
 *    `{ echo a; date; echo b; } > f`); later flushes return the same
 *    result;
 *  - release completes what no flush completed (empty files, `touch`,
 *    clients that never flush), logging the outcome;
 *  - a forward gap (sparse copy) or an extending ftruncate writes zeros; a
 *    write before the end of what was written fails with ESPIPE (S3 objects
 *    are written front to back);
 *  - after a failure every write/flush returns the same errno; writes after
 *    a successful completion fail with EPERM, except a write right at the
 *    end of an object smaller than one part (a shell's builtins between
 *    dup/close of the fd): the upload resumes with the stored bytes;
 *  - opening an existing object for writing without O_TRUNC succeeds (touch,
 *    which only wants utimens) but its first write fails with EPERM; with
 *    O_APPEND the open itself fails with EPERM; ftruncate(fd, 0) on such a
 *    handle starts a replacement upload.
 *
 * Locks: b->lock guards the registry (list + refs), up->wlock serializes the
 * calls of one upload's writer (it may wait on the network, but only that
 * writer waits). getattr reads mpu_bytes_written(), which is thread-safe.
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

enum up_state { UP_WRITING, UP_DONE, UP_FAILED };

struct upload {
    struct upload *next; /* registry, under b->lock */
    int refs;            /* under b->lock: the handle + temporary users */
    char *rel;           /* under b->lock: the name the tree shows (a
                            rename while writing changes it) */
    char *obj_rel;       /* where the bytes go; fixed */
    struct bpath p;      /* of obj_rel (key points into it) */
    struct mpu *mpu;
    time_t started;
    pthread_mutex_t wlock;
    uint64_t written;  /* under wlock */
    bool wrote;        /* under wlock: data accepted since open */
    bool empty_stored; /* under wlock: an empty object is in S3 */
    atomic_int state;  /* enum up_state */
    int result;        /* 0 or -errno once not WRITING (under wlock) */
    atomic_bool cancelled;
    struct amifs *fs;  /* the mount (its journal and janitor) */
    struct journal_entry *journal; /* under wlock: entry in the upload
                                      journal (core/journal.h), or NULL */
    bool journaled;    /* under wlock: the upload id was seen (and noted) */
    bool janitored;    /* a failed abort was handed to the janitor */
    char etag[72];     /* under wlock: of the object once stored */
};

struct bfile {
    struct amifs *fs;
    char *rel;
    struct bpath p;    /* key points into rel */
    struct upload *up; /* writing: the upload (NULL until one starts) */
    bool writable;     /* opened for writing */
    long opener;       /* writing: the process that opened it, or 0 */
    struct reader *rd; /* reading */
    char etag[72];     /* reading: If-Match */
};

static const char zeros[64 * 1024];

static struct bfile *handle_of(const struct fuse_file_info *fi)
{
    return fi ? (struct bfile *)(uintptr_t)fi->fh : NULL;
}

/* ---- the registry ------------------------------------------------------- */

/* Being written, and not removed meanwhile. */
static bool live(const struct upload *u)
{
    return atomic_load(&u->state) == UP_WRITING && !atomic_load(&u->cancelled);
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
        a->size = mpu_bytes_written(u->mpu);
        a->mtime = u->started;
    } else if ((u = find_under(b, rel)) != NULL) {
        memset(a, 0, sizeof(*a));
        a->kind = CACHE_DIR;
        a->mtime = u->started;
    }
    pthread_mutex_unlock(&b->lock);
    return u != NULL;
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

static void janitor_take(struct amifs *fs, struct upload *u);

static void upload_free(struct upload *u)
{
    mpu_abort(u->mpu); /* unless DONE (then a no-op) */
    janitor_take(u->fs, u); /* the abort failed: keep the entry, retry */
    journal_done(u->fs->journal, u->journal); /* complete, or aborted */
    mpu_free(u->mpu);
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

static void unregister(struct bk *b, struct upload *u)
{
    pthread_mutex_lock(&b->lock);
    for (struct upload **pp = &b->uploads; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            break;
        }
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
    atomic_store(&u->cancelled, true);
    mpu_abort(u->mpu); /* the writer's next mpu call fails */
    upload_put(b, u);
    return 1;
}

/* After mpu_abort: when the AbortMultipartUpload failed (mpu FAILED), hand
 * the upload and its journal entry to the janitor, which retries until S3
 * confirms; the entry is kept until then (and across a remount). */
static void janitor_take(struct amifs *fs, struct upload *u)
{
    char id[256];

    if (u->janitored || mpu_state(u->mpu) != MPU_FAILED)
        return;
    mpu_upload_id(u->mpu, id, sizeof(id));
    if (!id[0])
        return;
    u->janitored = true;
    janitor_add(fs->janitor, u->p.bucket, u->p.key, id, u->journal);
    u->journal = NULL;
}

void bk_uploads_destroy(struct amifs *fs)
{
    struct bk *b = bk_of(fs);
    struct upload *u, *next;

    /* Handles still open at unmount (lazy unmount): their release will
     * never come. Abort what is left; nothing may stay half-uploaded. */
    pthread_mutex_lock(&b->lock);
    u = b->uploads;
    b->uploads = NULL;
    pthread_mutex_unlock(&b->lock);
    for (; u; u = next) {
        next = u->next;
        mpu_abort(u->mpu);
        janitor_take(fs, u);
        upload_free(u);
    }
}

/* ---- starting uploads --------------------------------------------------- */

static int upload_new(struct amifs *fs, const char *rel, struct upload **out)
{
    struct mpu_options mo = {0};
    struct aws_error err;
    struct upload *u = calloc(1, sizeof(*u));

    if (!u || !(u->rel = strdup(rel)) || !(u->obj_rel = strdup(rel))) {
        if (u)
            free(u->rel);
        free(u);
        return -ENOMEM;
    }
    bpath_parse(u->obj_rel, &u->p);
    mo.part_size = fs->opts.part_size;
    mo.concurrency = fs->opts.upload_concurrency;
    mo.shared = fs->uploads;
    aws_error_clear(&err);
    u->mpu = mpu_new(fs->client, u->p.bucket, u->p.key, &mo, &err);
    if (!u->mpu) {
        free(u->rel);
        free(u->obj_rel);
        free(u);
        return bk_fail(fs, "starting upload", rel, &err);
    }
    pthread_mutex_init(&u->wlock, NULL);
    atomic_init(&u->state, UP_WRITING);
    atomic_init(&u->cancelled, false);
    u->started = time(NULL);
    u->fs = fs;
    u->refs = 1;
    *out = u;
    return 0;
}

/* Give h a fresh upload for its path, registered so the tree shows it. */
static int start_upload(struct amifs *fs, struct bfile *h)
{
    struct bk *b = bk_of(fs);
    struct upload *u;
    int rc = upload_new(fs, h->rel, &u);

    if (rc < 0)
        return rc;
    pthread_mutex_lock(&b->lock);
    if (find_writing(b, h->rel)) {
        rc = -EBUSY; /* someone else is writing this file right now */
    } else {
        u->next = b->uploads;
        b->uploads = u;
    }
    pthread_mutex_unlock(&b->lock);
    if (rc < 0) {
        upload_free(u);
        return rc;
    }
    h->up = u;
    return 0;
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

static int open_read(struct amifs *fs, struct bfile *h)
{
    struct cache_attr a;
    int rc;

    if (bk_upload_attr(bk_of(fs), h->rel, &a)) {
        if (a.size > 0)
            return -EBUSY; /* still being written: not readable yet */
        h->rd = reader_new(0, NULL, fetch, h); /* empty so far */
        return h->rd ? 0 : -ENOMEM;
    }
    rc = bk_lookup(fs, h->rel, &a);
    if (rc < 0)
        return rc;
    if (a.kind == CACHE_DIR)
        return -EISDIR;
    memcpy(h->etag, a.etag, sizeof(h->etag));
    h->rd = reader_new(a.size, NULL, fetch, h);
    return h->rd ? 0 : -ENOMEM;
}

int bk_read(struct amifs *fs, const char *rel, char *buf, size_t n, off_t off,
            struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    struct aws_error err;
    long got;

    if (!h || !h->rd)
        return -EBADF;
    aws_error_clear(&err);
    got = reader_read(h->rd, buf, n, (uint64_t)off, &err);
    if (got < 0)
        return bk_fail(fs, "GetObject", rel, &err);
    return (int)got;
}

/* ---- writing ------------------------------------------------------------ */

static int fail_upload(struct amifs *fs, struct upload *u, const char *what,
                       const struct aws_error *err)
{
    u->result = bk_fail(fs, what, u->obj_rel, err);
    if (atomic_load(&u->cancelled))
        u->result = -ECANCELED;
    atomic_store(&u->state, UP_FAILED);
    mpu_abort(u->mpu); /* normally done already; then a no-op */
    janitor_take(fs, u);
    amifs_log(fs, AWS_LOG_ERROR, "buckets/%s: upload failed: %s",
              name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX), strerror(-u->result));
    return u->result;
}

static int append(struct amifs *fs, struct upload *u, const void *data,
                  size_t n)
{
    struct aws_error err;

    aws_error_clear(&err);
    if (mpu_write(u->mpu, data, n, &err) < 0)
        return fail_upload(fs, u, "UploadPart", &err);
    if (!u->journaled) {
        /* The multipart upload exists once the first part is full: write
         * it down so that the next mount aborts it if we get killed. */
        char id[256];
        mpu_upload_id(u->mpu, id, sizeof(id));
        if (id[0]) {
            u->journal = journal_add(fs->journal, u->p.bucket, u->p.key,
                                     id);
            u->journaled = true;
        }
    }
    u->written += n;
    u->wrote = true;
    return 0;
}

static int append_zeros(struct amifs *fs, struct upload *u, uint64_t n)
{
    while (n > 0) {
        size_t k = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;
        int rc = append(fs, u, zeros, k);
        if (rc < 0)
            return rc;
        n -= k;
    }
    return 0;
}

/* Why a finished upload takes no more bytes. */
static int closed_result(const struct upload *u)
{
    return u->result < 0 ? u->result : -EPERM;
}

static char *current_name(struct bk *b, struct upload *u);

static int refeed(void *ctx, const char *data, size_t n)
{
    struct aws_error err;

    aws_error_clear(&err);
    return mpu_write(ctx, data, n, &err) < 0 ? -1 : 0;
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
    struct mpu_options mo = {0};
    struct aws_error err;
    char *name = current_name(bk_of(fs), u);
    bool same = name && strcmp(name, u->obj_rel) == 0;

    free(name);
    if (atomic_load(&u->state) != UP_DONE || off != u->written || !same ||
        u->written >= fs->opts.part_size || atomic_load(&u->cancelled))
        return closed_result(u);
    mo.part_size = fs->opts.part_size;
    mo.concurrency = fs->opts.upload_concurrency;
    mo.shared = fs->uploads;
    aws_error_clear(&err);
    struct mpu *m = mpu_new(fs->client, u->p.bucket, u->p.key, &mo, &err);
    if (!m)
        return closed_result(u);
    if (u->written > 0 &&
        s3_get_object(fs->client, u->p.bucket, u->p.key, 0, u->written,
                      u->etag[0] ? u->etag : NULL, refeed, m, &err) < 0) {
        mpu_free(m);
        return closed_result(u);
    }
    mpu_free(u->mpu);
    u->mpu = m;
    u->result = 0;
    atomic_store(&u->state, UP_WRITING);
    amifs_log(fs, AWS_LOG_DEBUG, "buckets/%s: written again after close; "
              "resumed at %llu bytes", name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX),
              (unsigned long long)u->written);
    return 0;
}

static int write_locked(struct amifs *fs, struct upload *u, const char *buf,
                        size_t n, uint64_t off)
{
    int rc;

    if (atomic_load(&u->cancelled) && atomic_load(&u->state) == UP_WRITING) {
        u->result = -ECANCELED;
        atomic_store(&u->state, UP_FAILED);
    }
    if (atomic_load(&u->state) != UP_WRITING) {
        int rc = resume_locked(fs, u, off);
        if (rc < 0)
            return rc;
    }
    if (off < u->written) {
        amifs_log(fs, AWS_LOG_WARN,
                  "buckets/%s: write at %llu before the "
                  "end (%llu): S3 objects are written front to back",
                  name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX), (unsigned long long)off,
                  (unsigned long long)u->written);
        return -ESPIPE;
    }
    rc = append_zeros(fs, u, off - u->written);
    if (rc == 0)
        rc = append(fs, u, buf, n);
    return rc < 0 ? rc : (int)n;
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
    rc = write_locked(fs, h->up, buf, n, (uint64_t)off);
    pthread_mutex_unlock(&h->up->wlock);
    return rc;
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

/* Renamed while written (GIO's replace: write a temporary, rename it onto
 * the target, then close): now that the object is complete, move it. */
static int move_to_name(struct amifs *fs, struct upload *u)
{
    char *name = current_name(bk_of(fs), u);
    struct aws_error err;
    int rc;

    if (!name)
        return -ENOMEM;
    rc = strcmp(name, u->obj_rel) == 0
             ? 0
             : bk_move_object(fs, u->obj_rel, name, u->written);
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

/* Complete the upload; the outcome becomes final. */
static int finish_locked(struct amifs *fs, struct upload *u)
{
    struct aws_error err;
    char etag[72] = "";
    int rc;

    if (atomic_load(&u->state) != UP_WRITING)
        return u->result;
    aws_error_clear(&err);
    if (atomic_load(&u->cancelled)) {
        aws_error_set(&err, AWS_ERR_ABORTED, "removed while written");
        return fail_upload(fs, u, "completing upload", &err);
    }
    /* Nothing written after the empty object was stored: it is complete. */
    if ((u->wrote || !u->empty_stored) && mpu_finish(u->mpu, etag, &err) < 0)
        return fail_upload(fs, u, "completing upload", &err);
    if (u->wrote || !u->empty_stored)
        bk_note_file(fs, u->obj_rel, u->written, etag);
    memcpy(u->etag, etag, sizeof(u->etag));
    rc = move_to_name(fs, u);
    u->result = rc;
    atomic_store(&u->state, rc < 0 ? UP_FAILED : UP_DONE);
    if (rc == 0)
        amifs_log(fs, AWS_LOG_INFO, "buckets/%s: stored, %llu bytes",
                  name_esc(u->obj_rel, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX), (unsigned long long)u->written);
    return rc;
}

/* A flush before any data (a shell's dup, `touch`, cp of an empty file):
 * the file exists and is empty, so S3 gets an empty object now — close()
 * then reports the truth even when no data ever follows. Data written later
 * replaces it at the completing flush. */
static int store_empty(struct amifs *fs, struct upload *u)
{
    struct aws_error err;
    char etag[72] = "";

    if (u->empty_stored)
        return 0;
    aws_error_clear(&err);
    if (s3_put_object(fs->client, u->p.bucket, u->p.key, "", 0, etag, &err) < 0)
        return bk_fail(fs, "PutObject", u->obj_rel, &err);
    u->empty_stored = true;
    bk_note_file(fs, u->obj_rel, 0, etag);
    return 0;
}

int bk_flush(struct amifs *fs, const char *rel, struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    struct upload *u = h ? h->up : NULL;
    int rc = 0;

    if (!u)
        return 0;
    pthread_mutex_lock(&u->wlock);
    if (atomic_load(&u->state) != UP_WRITING)
        rc = u->result;
    else if (u->wrote && h->opener && amifs_caller_process() != h->opener)
        rc = 0; /* a child closing its inherited fd: the writer goes on */
    else if (u->wrote)
        rc = finish_locked(fs, u);
    else if (!atomic_load(&u->cancelled))
        rc = store_empty(fs, u);
    pthread_mutex_unlock(&u->wlock);
    return rc;
}

int bk_release(struct amifs *fs, const char *rel, struct fuse_file_info *fi)
{
    struct bfile *h = handle_of(fi);
    struct upload *u = h ? h->up : NULL;

    if (!h)
        return 0;
    if (u) {
        pthread_mutex_lock(&u->wlock);
        finish_locked(fs, u); /* release cannot report: it is logged */
        pthread_mutex_unlock(&u->wlock);
        unregister(bk_of(fs), u);
        upload_put(bk_of(fs), u);
    }
    handle_free(h);
    return 0;
}

/* ---- open / create / truncate ------------------------------------------- */

/* Open for writing: O_TRUNC (or a new/empty object) starts an upload that
 * replaces the object at close; otherwise see the header comment. */
static int open_write(struct amifs *fs, struct bfile *h, int flags)
{
    struct cache_attr a;
    int rc;

    h->writable = true;
    h->opener = amifs_caller_process();
    if (flags & O_TRUNC)
        return start_upload(fs, h);
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
    rc = start_upload(fs, h);
    if (rc < 0) {
        handle_free(h);
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    return 0;
}

static int truncate_upload(struct amifs *fs, struct upload *u, uint64_t size)
{
    int rc = 0;

    pthread_mutex_lock(&u->wlock);
    if (atomic_load(&u->state) != UP_WRITING)
        rc = size == u->written && u->result == 0 ? 0 : closed_result(u);
    else if (size > u->written)
        rc = append_zeros(fs, u, size - u->written);
    else if (size < u->written)
        rc = -EPERM; /* bytes already on their way to S3 */
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
