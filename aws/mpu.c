/*
 * mpu.c — the streaming multipart uploader (contract in mpu.h).
 *
 * Shared state lives under one mutex. The writer owns the slot it is filling
 * (`cur`) and copies into it without the lock; a full slot is queued for the
 * workers, which take the lock only to pop a slot and to record its result,
 * never across HTTP. Two condition variables: `work` wakes workers (a part
 * queued, or stop), `done` wakes whoever waits for a slot to come free or for
 * the in-flight count to drop (writer, mpu_finish, mpu_abort).
 */
#include "aws/mpu.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/s3.h"

#define MIB ((uint64_t)1 << 20)
#define MPU_MIN_PART (5 * MIB)
#define MPU_MAX_PART ((uint64_t)5 << 30)
#define MPU_MAX_PARTS 10000u
#define MPU_FIRST_GROWTH ((size_t)64 << 10)

/* ---- part sizes (pure) -------------------------------------------------- */

/* Sum of 10,000 part sizes when the size doubles every `block` parts
 * (capped at 5 GiB). Decreases as `block` grows. */
static uint64_t total_for_block(uint64_t first, unsigned block)
{
    uint64_t sum = 0, s = first;
    unsigned n = 0;
    while (n < MPU_MAX_PARTS) {
        unsigned k = MPU_MAX_PARTS - n < block ? MPU_MAX_PARTS - n : block;
        if (s >= MPU_MAX_PART)
            return sum + MPU_MAX_PART * (MPU_MAX_PARTS - n);
        sum += s * k;
        n += k;
        s = s * 2 > MPU_MAX_PART ? MPU_MAX_PART : s * 2;
    }
    return sum;
}

size_t mpu_part_size(unsigned part_no, size_t first, uint64_t max_object)
{
    uint64_t f = first < MPU_MIN_PART ? MPU_MIN_PART : first;
    if (f > MPU_MAX_PART)
        f = MPU_MAX_PART;
    if (part_no < 1)
        part_no = 1;
    if (f * MPU_MAX_PARTS >= max_object)
        return (size_t)f;
    if (total_for_block(f, 1) < max_object) {
        /* Near 10,000 × 5 GiB (48.8 TiB) even doubling every part falls
         * short: keep the first size for as many parts as the slack allows,
         * then jump to 5 GiB. */
        uint64_t slack = MPU_MAX_PART * MPU_MAX_PARTS > max_object
                             ? MPU_MAX_PART * MPU_MAX_PARTS - max_object
                             : 0;
        uint64_t keep = slack / (MPU_MAX_PART - f);
        return (size_t)(part_no <= (keep ? keep : 1) ? f : MPU_MAX_PART);
    }
    /* The longest doubling period that still reaches max_object keeps parts
     * (and so the memory of the buffer pool) as small as possible. */
    unsigned lo = 1, hi = MPU_MAX_PARTS;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo + 1) / 2;
        if (total_for_block(f, mid) >= max_object)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint64_t s = f;
    for (unsigned level = (part_no - 1) / lo; level && s < MPU_MAX_PART;
         level--)
        s = s * 2 > MPU_MAX_PART ? MPU_MAX_PART : s * 2;
    return (size_t)s;
}

/* ---- state -------------------------------------------------------------- */

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_SENDING };

struct slot {
    char *data;
    size_t cap;
    size_t len;
    size_t want; /* this part's size */
    unsigned part_no;
    enum slot_state st;
};

struct mpu {
    struct aws_client *c;
    char *bucket;
    char *key;
    struct mpu_options opt;

    pthread_mutex_t lock;
    pthread_cond_t work;
    pthread_cond_t done;
    /* under lock */
    enum mpu_state state;
    struct aws_error err; /* the first error */
    char upload_id[1024];
    char etag[72];
    bool creating;        /* writer is creating the upload (HTTP) */
    bool cancel;          /* skip queued parts, no new work */
    bool stop;            /* workers exit once the queue is empty */
    bool remote_done;     /* upload aborted (or nothing to abort) */
    struct slot *slots;
    int *queue;           /* ring of slot indices */
    int qhead, qlen;
    int inflight;
    struct s3_part *parts; /* index part_no - 1 */
    size_t parts_cap;
    unsigned nparts;
    uint64_t sent;
    /* writer only */
    pthread_t *threads;
    int nthreads;
    int cur;              /* slot being filled, -1 none */
    unsigned next_part;
    uint64_t written;     /* also read by getters: atomics */
};

static void opts_default(struct mpu_options *o, const struct mpu_options *in)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (!o->part_size)
        o->part_size = 8 * MIB;
    if (o->part_size < MPU_MIN_PART)
        o->part_size = MPU_MIN_PART;
    if (o->part_size > MPU_MAX_PART)
        o->part_size = MPU_MAX_PART;
    if (o->concurrency < 1)
        o->concurrency = 4;
    if (o->concurrency > 64)
        o->concurrency = 64;
    if (o->pool_parts < 1)
        o->pool_parts = o->concurrency + 1;
    if (o->pool_parts < 2)
        o->pool_parts = 2; /* one to fill while one goes up */
    if (o->part_attempts < 1)
        o->part_attempts = 5;
    if (!o->max_object_size)
        o->max_object_size = (uint64_t)5 << 40;
}

/* Record the first error; the uploader is FAILED from now on. */
static void fail_locked(struct mpu *m, const struct aws_error *e)
{
    if (m->state == MPU_FAILED || m->state == MPU_ABORTED)
        return;
    m->err = *e;
    m->state = MPU_FAILED;
    m->cancel = true;
    pthread_cond_broadcast(&m->work);
    pthread_cond_broadcast(&m->done);
}

static void fail(struct mpu *m, const struct aws_error *e)
{
    pthread_mutex_lock(&m->lock);
    fail_locked(m, e);
    pthread_mutex_unlock(&m->lock);
}

/* -1 with the first error when the uploader can no longer take data. */
static int check_failed_locked(struct mpu *m, struct aws_error *err)
{
    if (m->state != MPU_FAILED && m->state != MPU_ABORTED && !m->cancel)
        return 0;
    if (m->err.kind == AWS_OK)
        aws_error_set(&m->err, AWS_ERR_ABORTED, "upload aborted");
    *err = m->err;
    return -1;
}

struct mpu *mpu_new(struct aws_client *c, const char *bucket, const char *key,
                    const struct mpu_options *opt, struct aws_error *err)
{
    struct mpu *m = calloc(1, sizeof *m);
    if (!m) {
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    opts_default(&m->opt, opt);
    m->c = c;
    m->bucket = strdup(bucket);
    m->key = strdup(key);
    m->slots = calloc((size_t)m->opt.pool_parts, sizeof *m->slots);
    m->queue = calloc((size_t)m->opt.pool_parts, sizeof *m->queue);
    m->threads = calloc((size_t)m->opt.concurrency, sizeof *m->threads);
    m->cur = -1;
    m->next_part = 1;
    m->state = MPU_IDLE;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->work, NULL);
    pthread_cond_init(&m->done, NULL);
    if (!m->bucket || !m->key || !m->slots || !m->queue || !m->threads) {
        mpu_free(m);
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return m;
}

/* ---- workers ------------------------------------------------------------ */

static bool part_error_retryable(const struct aws_error *e)
{
    bool throttling;
    switch (e->kind) {
    case AWS_ERR_NETWORK:
    case AWS_ERR_TIMEOUT:
    case AWS_ERR_INTEGRITY:
    case AWS_ERR_PARSE:
        return true;
    case AWS_ERR_SERVICE:
        return aws_error_retryable(e, &throttling) || e->http_status >= 500 ||
               strcmp(e->code, "BadDigest") == 0 ||
               strcmp(e->code, "XAmzContentSHA256Mismatch") == 0;
    default:
        return false;
    }
}

static bool cancelled(struct mpu *m)
{
    pthread_mutex_lock(&m->lock);
    bool c = m->cancel;
    pthread_mutex_unlock(&m->lock);
    return c;
}

/* One part, `part_attempts` tries. Digests are computed once: the bytes do
 * not change between tries. */
static int send_part(struct mpu *m, const struct slot *s, char *etag,
                     struct aws_error *err)
{
    struct s3_digests d;
    s3_digests_compute(s->data, s->len, &d);
    for (int attempt = 1;; attempt++) {
        if (s3_mpu_upload_part_digests(m->c, m->bucket, m->key, m->upload_id,
                                       (int)s->part_no, s->data, s->len, &d,
                                       etag, err) == 0)
            return 0;
        if (attempt >= m->opt.part_attempts || !part_error_retryable(err) ||
            cancelled(m))
            return -1;
        aws_log(aws_client_logger(m->c), AWS_LOG_WARN,
                "s3://%s/%s part %u: attempt %d failed (%s), retrying",
                m->bucket, m->key, s->part_no, attempt, err->code);
        struct timespec ts = {0, 100000000L * attempt};
        nanosleep(&ts, NULL);
    }
}

static void part_done_locked(struct mpu *m, struct slot *s, int rc,
                             const char *etag, const struct aws_error *e)
{
    m->inflight--;
    if (rc == 0) {
        struct s3_part *p = &m->parts[s->part_no - 1];
        p->number = (int)s->part_no;
        p->size = s->len;
        memcpy(p->etag, etag, sizeof p->etag);
        m->sent += s->len;
    } else {
        fail_locked(m, e);
    }
    s->st = SLOT_FREE;
    s->len = 0;
    pthread_cond_broadcast(&m->done);
}

static void *worker(void *arg)
{
    struct mpu *m = arg;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        while (m->qlen == 0 && !m->stop)
            pthread_cond_wait(&m->work, &m->lock);
        if (m->qlen == 0)
            break;
        struct slot *s = &m->slots[m->queue[m->qhead]];
        m->qhead = (m->qhead + 1) % m->opt.pool_parts;
        m->qlen--;
        if (m->cancel) {
            s->st = SLOT_FREE;
            s->len = 0;
            pthread_cond_broadcast(&m->done);
            continue;
        }
        s->st = SLOT_SENDING;
        m->inflight++;
        pthread_mutex_unlock(&m->lock);
        char etag[72] = "";
        struct aws_error e;
        aws_error_clear(&e);
        int rc = send_part(m, s, etag, &e);
        pthread_mutex_lock(&m->lock);
        part_done_locked(m, s, rc, etag, &e);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ---- writer side -------------------------------------------------------- */

/* Create the multipart upload (first full part) and start the workers. */
static int start_upload(struct mpu *m, struct aws_error *err)
{
    char id[sizeof m->upload_id];
    pthread_mutex_lock(&m->lock);
    m->creating = true;
    pthread_mutex_unlock(&m->lock);
    int rc = s3_mpu_create(m->c, m->bucket, m->key, id, sizeof id, err);
    pthread_mutex_lock(&m->lock);
    m->creating = false;
    if (rc == 0) {
        memcpy(m->upload_id, id, sizeof id);
        m->state = MPU_UPLOADING;
    } else {
        fail_locked(m, err);
    }
    rc = check_failed_locked(m, err); /* also catches an abort meanwhile */
    pthread_cond_broadcast(&m->done);
    pthread_mutex_unlock(&m->lock);
    for (int i = 0; rc == 0 && i < m->opt.concurrency; i++) {
        if (pthread_create(&m->threads[i], NULL, worker, m) != 0)
            break;
        m->nthreads++;
    }
    if (rc == 0 && m->nthreads == 0) {
        aws_error_set(err, AWS_ERR_NOMEM, "cannot start upload threads");
        fail(m, err);
        rc = -1;
    }
    return rc;
}

/* Queue the writer's slot for upload. */
static int dispatch(struct mpu *m, struct aws_error *err)
{
    pthread_mutex_lock(&m->lock);
    bool idle = m->state == MPU_IDLE;
    pthread_mutex_unlock(&m->lock);
    if (idle && start_upload(m, err) < 0)
        return -1;
    struct slot *s = &m->slots[m->cur];
    pthread_mutex_lock(&m->lock);
    int rc = check_failed_locked(m, err);
    if (rc == 0) {
        s->st = SLOT_QUEUED;
        m->queue[(m->qhead + m->qlen) % m->opt.pool_parts] = m->cur;
        m->qlen++;
        if (s->part_no > m->nparts)
            m->nparts = s->part_no;
        pthread_cond_signal(&m->work);
        m->cur = -1;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int grow_parts_locked(struct mpu *m, unsigned part_no)
{
    if (part_no <= m->parts_cap)
        return 0;
    size_t cap = m->parts_cap ? m->parts_cap * 2 : 64;
    if (cap > MPU_MAX_PARTS)
        cap = MPU_MAX_PARTS;
    struct s3_part *p = realloc(m->parts, cap * sizeof *p);
    if (!p)
        return -1;
    memset(p + m->parts_cap, 0, (cap - m->parts_cap) * sizeof *p);
    m->parts = p;
    m->parts_cap = cap;
    return 0;
}

/* Wait for a free slot and make it the writer's, for the next part. */
static int acquire(struct mpu *m, struct aws_error *err)
{
    struct aws_error e;
    if (m->next_part > MPU_MAX_PARTS) {
        aws_error_set(&e, AWS_ERR_TOO_LARGE, "more than 10000 parts");
        fail(m, &e);
    }
    pthread_mutex_lock(&m->lock);
    int idx = -1, rc;
    while ((rc = check_failed_locked(m, err)) == 0) {
        for (int i = 0; i < m->opt.pool_parts && idx < 0; i++)
            if (m->slots[i].st == SLOT_FREE)
                idx = i;
        if (idx >= 0)
            break;
        pthread_cond_wait(&m->done, &m->lock);
    }
    if (rc == 0 && grow_parts_locked(m, m->next_part) < 0) {
        aws_error_set(&e, AWS_ERR_NOMEM, "out of memory");
        fail_locked(m, &e);
        rc = check_failed_locked(m, err);
    }
    if (rc == 0)
        m->slots[idx].st = SLOT_FILLING;
    pthread_mutex_unlock(&m->lock);
    if (rc < 0)
        return -1;
    struct slot *s = &m->slots[idx];
    s->part_no = m->next_part++;
    s->want = mpu_part_size(s->part_no, m->opt.part_size,
                            m->opt.max_object_size);
    s->len = 0;
    m->cur = idx;
    return 0;
}

/* Room for `need` bytes in the writer's slot. The first part grows with
 * the data, so a small file costs little memory; later parts get their
 * whole size at once. */
static int reserve(struct mpu *m, struct slot *s, size_t need,
                   struct aws_error *err)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->want;
    if (s->part_no == 1) {
        cap = s->cap * 2 > need ? s->cap * 2 : need;
        if (cap < MPU_FIRST_GROWTH)
            cap = MPU_FIRST_GROWTH;
        if (cap > s->want)
            cap = s->want;
    }
    char *p = s->part_no == 1 ? realloc(s->data, cap) : malloc(cap);
    if (!p) {
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory for a part buffer");
        fail(m, err);
        return -1;
    }
    if (s->part_no != 1)
        free(s->data);
    s->data = p;
    s->cap = cap;
    return 0;
}

static int writer_fail(struct mpu *m, struct aws_error *err)
{
    mpu_abort(m);
    pthread_mutex_lock(&m->lock);
    check_failed_locked(m, err);
    pthread_mutex_unlock(&m->lock);
    return -1;
}

static int too_large(struct mpu *m, uint64_t n, struct aws_error *err)
{
    struct aws_error e;
    if (m->written + n <= m->opt.max_object_size)
        return 0;
    aws_error_set(&e, AWS_ERR_TOO_LARGE,
                  "object larger than the maximum of %llu bytes",
                  (unsigned long long)m->opt.max_object_size);
    fail(m, &e);
    return writer_fail(m, err);
}

int mpu_write(struct mpu *m, const void *data, size_t n,
              struct aws_error *err)
{
    const char *p = data;
    pthread_mutex_lock(&m->lock);
    bool failed = check_failed_locked(m, err) < 0;
    bool late = m->state != MPU_IDLE && m->state != MPU_UPLOADING;
    pthread_mutex_unlock(&m->lock);
    if (failed)
        return writer_fail(m, err);
    if (late)
        return aws_error_set(err, AWS_ERR_INVALID, "write after finish");
    if (too_large(m, n, err) < 0)
        return -1;
    while (n) {
        if (m->cur >= 0 && m->slots[m->cur].len == m->slots[m->cur].want &&
            dispatch(m, err) < 0)
            return writer_fail(m, err);
        if (m->cur < 0 && acquire(m, err) < 0)
            return writer_fail(m, err);
        struct slot *s = &m->slots[m->cur];
        size_t k = s->want - s->len < n ? s->want - s->len : n;
        if (reserve(m, s, s->len + k, err) < 0)
            return writer_fail(m, err);
        memcpy(s->data + s->len, p, k);
        s->len += k;
        p += k;
        n -= k;
        __atomic_add_fetch(&m->written, k, __ATOMIC_RELAXED);
    }
    return 0;
}

/* Nothing was big enough for a multipart upload: one PutObject. */
static int finish_single(struct mpu *m, struct aws_error *err)
{
    const struct slot *s = m->cur >= 0 ? &m->slots[m->cur] : NULL;
    char etag[72] = "";
    pthread_mutex_lock(&m->lock);
    m->state = MPU_COMPLETING;
    pthread_mutex_unlock(&m->lock);
    int rc = s3_put_object(m->c, m->bucket, m->key,
                           s && s->data ? s->data : "",
                           s ? s->len : 0, etag, err);
    pthread_mutex_lock(&m->lock);
    if (rc == 0) {
        m->state = MPU_DONE;
        m->sent = s ? s->len : 0;
        memcpy(m->etag, etag, sizeof etag);
    } else {
        fail_locked(m, err);
        m->state = MPU_ABORTED; /* nothing was created, nothing to abort */
        m->remote_done = true;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static void join_workers(struct mpu *m)
{
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->work);
    pthread_mutex_unlock(&m->lock);
    for (int i = 0; i < m->nthreads; i++)
        pthread_join(m->threads[i], NULL);
    m->nthreads = 0;
}

static int finish_multipart(struct mpu *m, struct aws_error *err)
{
    char etag[72] = "";
    if (m->cur >= 0 && dispatch(m, err) < 0)
        return writer_fail(m, err);
    pthread_mutex_lock(&m->lock);
    if (m->state == MPU_UPLOADING)
        m->state = MPU_COMPLETING;
    while ((m->qlen || m->inflight) && !m->cancel)
        pthread_cond_wait(&m->done, &m->lock);
    int rc = check_failed_locked(m, err);
    pthread_mutex_unlock(&m->lock);
    join_workers(m);
    if (rc < 0)
        return writer_fail(m, err);
    if (s3_mpu_complete(m->c, m->bucket, m->key, m->upload_id, m->parts,
                        m->nparts, etag, err) < 0) {
        fail(m, err);
        return writer_fail(m, err);
    }
    pthread_mutex_lock(&m->lock);
    m->state = MPU_DONE;
    memcpy(m->etag, etag, sizeof etag);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

int mpu_finish(struct mpu *m, char *etag_out, struct aws_error *err)
{
    pthread_mutex_lock(&m->lock);
    enum mpu_state st = m->state;
    int rc = st == MPU_DONE ? 0 : check_failed_locked(m, err);
    pthread_mutex_unlock(&m->lock);
    if (rc < 0)
        return writer_fail(m, err);
    if (st == MPU_IDLE)
        rc = finish_single(m, err);
    else if (st != MPU_DONE)
        rc = finish_multipart(m, err);
    if (rc == 0 && etag_out)
        memcpy(etag_out, m->etag, sizeof m->etag);
    return rc;
}

/* ---- abort, free, getters ----------------------------------------------- */

static void drain_queue_locked(struct mpu *m)
{
    while (m->qlen) {
        struct slot *s = &m->slots[m->queue[m->qhead]];
        s->st = SLOT_FREE;
        s->len = 0;
        m->qhead = (m->qhead + 1) % m->opt.pool_parts;
        m->qlen--;
    }
    pthread_cond_broadcast(&m->done);
}

/* AbortMultipartUpload, a few times: a failure here leaves an upload
 * behind, the one outcome the contract rules out. */
static bool remote_abort(struct mpu *m, const char *id)
{
    struct aws_error e;
    for (int attempt = 1; attempt <= 3; attempt++) {
        if (s3_mpu_abort(m->c, m->bucket, m->key, id, &e) == 0)
            return true;
        char line[256];
        aws_error_format(&e, line, sizeof line);
        aws_log(aws_client_logger(m->c), AWS_LOG_ERROR,
                "s3://%s/%s: abort of upload failed (attempt %d): %s",
                m->bucket, m->key, attempt, line);
    }
    return false;
}

void mpu_abort(struct mpu *m)
{
    char id[sizeof m->upload_id];
    struct aws_error e;
    pthread_mutex_lock(&m->lock);
    if (m->state == MPU_DONE || m->state == MPU_ABORTED ||
        (m->state == MPU_FAILED && m->remote_done && !m->inflight &&
         !m->creating)) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    aws_error_set(&e, AWS_ERR_ABORTED, "upload aborted");
    fail_locked(m, &e); /* keeps an earlier, real error */
    drain_queue_locked(m);
    while (m->inflight || m->creating)
        pthread_cond_wait(&m->done, &m->lock);
    bool mine = !m->remote_done;
    m->remote_done = true;
    memcpy(id, m->upload_id, sizeof id);
    pthread_mutex_unlock(&m->lock);
    bool gone = !(mine && id[0]) || remote_abort(m, id);
    pthread_mutex_lock(&m->lock);
    /* FAILED when AbortMultipartUpload itself failed: an upload may be
     * left, and the caller may want to record it for a later attempt. */
    m->state = gone ? MPU_ABORTED : MPU_FAILED;
    pthread_cond_broadcast(&m->done);
    pthread_mutex_unlock(&m->lock);
}

void mpu_free(struct mpu *m)
{
    if (!m)
        return;
    if (m->slots && m->queue && m->threads)
        mpu_abort(m);
    join_workers(m);
    for (int i = 0; m->slots && i < m->opt.pool_parts; i++)
        free(m->slots[i].data);
    free(m->slots);
    free(m->queue);
    free(m->threads);
    free(m->parts);
    free(m->bucket);
    free(m->key);
    pthread_cond_destroy(&m->work);
    pthread_cond_destroy(&m->done);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

enum mpu_state mpu_state(const struct mpu *m)
{
    struct mpu *mm = (struct mpu *)m; /* the lock is not part of the value */
    pthread_mutex_lock(&mm->lock);
    enum mpu_state s = m->state;
    pthread_mutex_unlock(&mm->lock);
    return s;
}

uint64_t mpu_bytes_written(const struct mpu *m)
{
    return __atomic_load_n(&m->written, __ATOMIC_RELAXED);
}

uint64_t mpu_bytes_sent(const struct mpu *m)
{
    struct mpu *mm = (struct mpu *)m;
    pthread_mutex_lock(&mm->lock);
    uint64_t s = m->sent;
    pthread_mutex_unlock(&mm->lock);
    return s;
}

void mpu_error(const struct mpu *m, struct aws_error *out)
{
    struct mpu *mm = (struct mpu *)m;
    pthread_mutex_lock(&mm->lock);
    *out = m->err;
    pthread_mutex_unlock(&mm->lock);
}

void mpu_upload_id(const struct mpu *m, char *out, size_t n)
{
    struct mpu *mm = (struct mpu *)m;
    if (!n)
        return;
    pthread_mutex_lock(&mm->lock);
    size_t l = strlen(m->upload_id);
    if (l >= n)
        l = n - 1;
    memcpy(out, m->upload_id, l);
    out[l] = '\0';
    pthread_mutex_unlock(&mm->lock);
}
