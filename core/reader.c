/*
 * reader.c — one object's reads: a stream of read-ahead ranges fetched by
 * the pool's workers and handed out in order, exact fetches for random
 * reads (contract in reader.h).
 *
 * The stream is a ring of slots, slots[first .. first+n) in offset order
 * and contiguous: [slot0.off, issued_end). A slot is QUEUED from submit
 * until its fetch ended (then DONE, with rc/err); only then does the
 * reading thread touch its bytes. Each ring position keeps its buffer
 * (reserved from the pool's budget) for the next range until the stream
 * is dropped.
 *
 * Locks: `read_lock` serializes reader_read() calls (held while a read
 * waits for its range or fetches on its own; that only ever blocks other
 * reads of the same open file). `lock` guards the slots' states and
 * `inflight`; a worker takes it only to mark its slot DONE. Order:
 * read_lock → lock → the pool's lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/reader.h"
#include "core/readpool.h"

#define DEFAULT_MIN_WINDOW ((size_t)1 << 20)
#define DEFAULT_RANGE ((size_t)8 << 20)
#define DEFAULT_RANGES 8
#define MAX_RANGES 64

struct chunk {
    char *data;
    uint64_t off;
    size_t len; /* valid bytes at data */
};

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_DONE };

struct slot {
    struct rp_job job; /* first: the pool hands it back to run_slot */
    struct reader *r;
    char *data;
    size_t cap; /* bytes of data, reserved from the pool */
    uint64_t off;
    size_t len;
    enum slot_state state; /* under r->lock */
    int rc;
    struct aws_error err;
};

struct reader {
    uint64_t size;
    size_t min_window, range, window, max_window;
    int ranges, nslots; /* nslots = ranges + 1: one being read */
    reader_fetch_fn fetch;
    void *ctx;
    struct read_pool *pool;
    bool own_pool;
    pthread_mutex_t read_lock;
    struct chunk cur; /* the last fetch made on the reading thread */
    uint64_t next_off; /* where a sequential read would continue */
    bool sequential;

    struct slot *slots;
    int first, n;
    uint64_t stream_start; /* where the stream began */
    uint64_t issued_end;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    int inflight;
    atomic_int cancel;

    struct reader_stats stats;
};

static void set_options(struct reader *r, const struct reader_options *opt)
{
    r->min_window =
        opt && opt->min_window ? opt->min_window : DEFAULT_MIN_WINDOW;
    r->range = opt && opt->range ? opt->range : DEFAULT_RANGE;
    r->ranges = opt && opt->ranges > 0 ? opt->ranges : DEFAULT_RANGES;
    if (r->ranges > MAX_RANGES)
        r->ranges = MAX_RANGES;
    if (r->range < r->min_window)
        r->range = r->min_window;
    r->nslots = r->ranges + 1;
    r->max_window = r->range * (size_t)r->ranges;
    r->window = r->min_window;
}

struct reader *reader_new(uint64_t size, const struct reader_options *opt,
                          reader_fetch_fn fetch, void *ctx)
{
    struct reader *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    set_options(r, opt);
    r->size = size;
    r->fetch = fetch;
    r->ctx = ctx;
    r->sequential = true; /* a first read at offset 0 starts a stream */
    r->slots = calloc((size_t)r->nslots, sizeof(*r->slots));
    r->pool = opt ? opt->pool : NULL;
    if (r->slots && !r->pool) {
        r->pool = read_pool_new(r->range * (size_t)r->nslots, r->ranges);
        r->own_pool = true;
    }
    if (!r->slots || !r->pool) {
        free(r->slots);
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->read_lock, NULL);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    atomic_init(&r->cancel, 0);
    return r;
}

static struct slot *slot_at(struct reader *r, int i)
{
    return &r->slots[(r->first + i) % r->nslots];
}

static size_t clamp_len(const struct reader *r, uint64_t off, size_t len)
{
    return off + len > r->size ? (size_t)(r->size - off) : len;
}

/* ---- the stream ---------------------------------------------------------- */

/* On a pool worker: fetch one range, then hand it over. */
static void run_slot(struct rp_job *job)
{
    struct slot *s = (struct slot *)job;
    struct reader *r = s->r;
    struct aws_error err;
    int rc;

    aws_error_clear(&err);
    rc = r->fetch(r->ctx, s->off, s->len, s->data, &r->cancel, &err);
    pthread_mutex_lock(&r->lock);
    s->rc = rc;
    s->err = err;
    s->state = SLOT_DONE;
    r->inflight--;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock); /* s and r may be gone from here on */
}

/* Positions outside the stream hold spare buffers. Swap the largest one
 * into s when it is bigger (want_fit: only one of at least len bytes), or
 * free the spares' buffers (want_fit false and nothing fits: their budget
 * goes back so that s may reserve its own). */
static void use_spare(struct reader *r, struct slot *s, size_t len,
                      bool want_fit)
{
    struct slot *best = NULL;

    for (int i = r->n + 1; i < r->nslots; i++) {
        struct slot *o = slot_at(r, i);
        if (o->data && o->cap >= len && (!best || o->cap < best->cap))
            best = o;
    }
    if (best) {
        struct slot tmp = *s;
        s->data = best->data;
        s->cap = best->cap;
        best->data = tmp.data;
        best->cap = tmp.cap;
        return;
    }
    for (int i = r->n + 1; i < r->nslots && !want_fit; i++) {
        struct slot *o = slot_at(r, i);
        free(o->data);
        rp_release(r->pool, o->cap);
        o->data = NULL;
        o->cap = 0;
    }
}

/* A buffer of at least len bytes at s, within the budget: its own, a
 * spare one, or a new one. */
static int slot_buffer(struct reader *r, struct slot *s, size_t len)
{
    char *data;

    if (s->cap >= len)
        return 0;
    use_spare(r, s, len, true);
    if (s->cap >= len)
        return 0;
    if (!rp_reserve(r->pool, len - s->cap)) {
        use_spare(r, s, len, false);
        if (!rp_reserve(r->pool, len - s->cap))
            return -1;
    }
    data = realloc(s->data, len);
    if (!data) {
        rp_release(r->pool, len - s->cap);
        return -1;
    }
    s->data = data;
    s->cap = len;
    return 0;
}

/* Queue the next range of len bytes. 0, or -1 (no budget, no worker). */
static int issue(struct reader *r, size_t len)
{
    struct slot *s = slot_at(r, r->n);

    if (slot_buffer(r, s, len) < 0)
        return -1;
    s->r = r;
    s->job.run = run_slot;
    s->off = r->issued_end;
    s->len = len;
    pthread_mutex_lock(&r->lock);
    s->state = SLOT_QUEUED;
    r->inflight++;
    if (r->inflight > r->stats.peak_inflight)
        r->stats.peak_inflight = r->inflight;
    pthread_mutex_unlock(&r->lock);
    if (rp_submit(r->pool, &s->job) < 0) {
        pthread_mutex_lock(&r->lock);
        s->state = SLOT_FREE;
        r->inflight--;
        pthread_mutex_unlock(&r->lock);
        return -1;
    }
    r->n++;
    r->issued_end += len;
    r->stats.fetches++;
    r->stats.bytes_fetched += len;
    return 0;
}

/* Keep the window ahead of pos in flight, cut in ranges of a quarter of
 * the window (at least min_window, at most range): several GETs run side
 * by side while the window is still small. */
static void top_up(struct reader *r, uint64_t pos)
{
    size_t len = r->window / 4;

    len = len < r->min_window ? r->min_window : len;
    len = len > r->range ? r->range : len;
    while (r->n < r->nslots && r->issued_end < r->size &&
           r->issued_end < pos + r->window) {
        if (issue(r, clamp_len(r, r->issued_end, len)) < 0)
            break;
    }
}

static void wait_slot(struct reader *r, struct slot *s)
{
    pthread_mutex_lock(&r->lock);
    while (s->state == SLOT_QUEUED)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

/* Drop the stream: take back queued fetches, stop and wait for running
 * ones, free every buffer (the budget goes back to the mount). */
static void drop_stream(struct reader *r)
{
    atomic_store(&r->cancel, 1);
    for (int i = 0; i < r->n; i++) {
        struct slot *s = slot_at(r, i);
        pthread_mutex_lock(&r->lock);
        if (s->state == SLOT_QUEUED && rp_unqueue(r->pool, &s->job)) {
            s->state = SLOT_FREE;
            r->inflight--;
        }
        pthread_mutex_unlock(&r->lock);
        wait_slot(r, s);
    }
    for (int i = 0; i < r->nslots; i++) {
        struct slot *s = &r->slots[i];
        free(s->data);
        rp_release(r->pool, s->cap);
        s->data = NULL;
        s->cap = 0;
        s->state = SLOT_FREE;
    }
    r->first = r->n = 0;
    r->window = r->min_window;
    atomic_store(&r->cancel, 0);
}

/* Ranges read completely (a little slack behind pos for reads that come
 * late) leave the stream; their ring positions (and buffers) serve the
 * next ranges. */
static void retire(struct reader *r, uint64_t pos)
{
    while (r->n > 0) {
        struct slot *s = slot_at(r, 0);
        bool done;

        pthread_mutex_lock(&r->lock);
        done = s->state == SLOT_DONE;
        pthread_mutex_unlock(&r->lock);
        if (!done || s->off + s->len + r->min_window > pos)
            return;
        s->state = SLOT_FREE;
        r->first = (r->first + 1) % r->nslots;
        r->n--;
    }
}

/* The window is twice what the stream has handed out so far (at least
 * min_window, at most ranges × range): what is fetched and never read is
 * at most twice what was read. */
static void grow_window(struct reader *r)
{
    uint64_t w = r->next_off > r->stream_start
                     ? 2 * (r->next_off - r->stream_start) : 0;

    w = w < r->min_window ? r->min_window : w;
    r->window = w > r->max_window ? r->max_window : (size_t)w;
}

/* The slot holding pos, or NULL. */
static struct slot *stream_slot(struct reader *r, uint64_t pos)
{
    for (int i = 0; i < r->n; i++) {
        struct slot *s = slot_at(r, i);
        if (pos >= s->off && pos < s->off + s->len)
            return s;
    }
    return NULL;
}

void reader_free(struct reader *r)
{
    if (!r)
        return;
    drop_stream(r);
    free(r->slots);
    free(r->cur.data);
    if (r->own_pool)
        read_pool_free(r->pool);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->read_lock);
    free(r);
}

/* ---- reads --------------------------------------------------------------- */

static bool covers(const struct chunk *c, uint64_t off)
{
    return c->data && off >= c->off && off < c->off + c->len;
}

/* Fetch [off, off+len) on this thread into cur. */
static int fetch_now(struct reader *r, uint64_t off, size_t len,
                     struct aws_error *err)
{
    char *data = realloc(r->cur.data, len ? len : 1);

    if (!data)
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    r->cur.data = data;
    r->cur.off = off;
    r->cur.len = 0;
    r->stats.fetches++;
    r->stats.bytes_fetched += len;
    if (r->fetch(r->ctx, off, len, data, NULL, err) < 0)
        return -1;
    r->cur.len = len;
    return 0;
}

/* Is a read at off part of the current stream? Reads may arrive slightly
 * out of order (several FUSE threads, kernel read-ahead), so a read within
 * min_window of where the stream is counts. */
static bool in_stream(struct reader *r, uint64_t off)
{
    uint64_t lo = r->next_off, hi = r->next_off;

    if (r->cur.data && r->cur.len) {
        lo = r->cur.off < lo ? r->cur.off : lo;
        hi = r->cur.off + r->cur.len > hi ? r->cur.off + r->cur.len : hi;
    }
    if (r->n > 0) {
        uint64_t s0 = slot_at(r, 0)->off;
        lo = s0 < lo ? s0 : lo;
        hi = r->issued_end > hi ? r->issued_end : hi;
    }
    lo = lo > r->min_window ? lo - r->min_window : 0;
    return off >= lo && off <= hi + r->min_window;
}

/* pos is in no slot and not in cur: fetch it, or (re)start the stream. */
static int load(struct reader *r, uint64_t pos, size_t want,
                struct aws_error *err)
{
    bool seq = in_stream(r, pos);

    if (seq && r->n > 0 && pos < slot_at(r, 0)->off) {
        uint64_t gap = slot_at(r, 0)->off - pos; /* a late read */
        return fetch_now(r, pos, want < gap ? want : (size_t)gap, err);
    }
    if (r->n > 0)
        drop_stream(r); /* a seek: what was fetched ahead is useless */
    r->sequential = seq;
    if (!seq)
        return fetch_now(r, pos, clamp_len(r, pos, want), err);
    r->stream_start = r->issued_end = pos;
    top_up(r, pos);
    if (r->n == 0) /* no budget or no worker: read on this thread */
        return fetch_now(r, pos, clamp_len(r, pos, r->min_window), err);
    return 0;
}

/* Copy from the stream's range that holds pos: the byte count, or -1
 * (that range failed: the stream is dropped, the next read starts over). */
static long from_stream(struct reader *r, struct slot *s, uint64_t pos,
                        char *dst, size_t want, struct aws_error *err)
{
    size_t k;

    wait_slot(r, s);
    if (s->rc < 0) {
        *err = s->err;
        drop_stream(r);
        return -1;
    }
    k = (size_t)(s->off + s->len - pos);
    k = k < want ? k : want;
    memcpy(dst, s->data + (pos - s->off), k);
    return (long)k;
}

static long read_some(struct reader *r, char *dst, size_t want, uint64_t pos,
                      struct aws_error *err)
{
    struct slot *s;
    size_t k;

    if (!covers(&r->cur, pos)) {
        s = stream_slot(r, pos);
        if (s)
            return from_stream(r, s, pos, dst, want, err);
        if (load(r, pos, want, err) < 0)
            return -1;
        s = stream_slot(r, pos);
        if (s)
            return from_stream(r, s, pos, dst, want, err);
    }
    k = (size_t)(r->cur.off + r->cur.len - pos);
    k = k < want ? k : want;
    memcpy(dst, r->cur.data + (pos - r->cur.off), k);
    return (long)k;
}

long reader_read(struct reader *r, char *dst, size_t n, uint64_t off,
                 struct aws_error *err)
{
    size_t done = 0;
    long k = 0;

    if (off >= r->size)
        return 0;
    n = clamp_len(r, off, n);
    pthread_mutex_lock(&r->read_lock);
    while (done < n && k >= 0) {
        k = read_some(r, dst + done, n - done, off + done, err);
        if (k > 0)
            done += (size_t)k;
    }
    if (done == n) {
        if (off + n > r->next_off || !r->sequential)
            r->next_off = off + n;
        if (r->sequential && r->n > 0) {
            grow_window(r);
            retire(r, r->next_off);
            top_up(r, r->next_off);
        }
    }
    pthread_mutex_unlock(&r->read_lock);
    return done == n ? (long)n : -1;
}

void reader_get_stats(struct reader *r, struct reader_stats *out)
{
    pthread_mutex_lock(&r->read_lock);
    pthread_mutex_lock(&r->lock);
    *out = r->stats;
    pthread_mutex_unlock(&r->lock);
    out->window = r->window;
    pthread_mutex_unlock(&r->read_lock);
}
