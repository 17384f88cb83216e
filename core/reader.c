/*
 * reader.c — read-ahead for one object: a current window, at most one window
 * being fetched ahead by a helper thread, and a window size that doubles
 * while reads stay sequential.
 *
 * Locks: `read_lock` serializes reader_read() calls (it is held across the
 * fetch a read itself makes — that only ever blocks other reads of the same
 * open file). `lock` guards the ahead window's state and is never held
 * across a fetch.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/reader.h"

#define DEFAULT_MIN_WINDOW ((size_t)1 << 20)
#define DEFAULT_MAX_WINDOW ((size_t)32 << 20)

struct chunk {
    char *data;
    uint64_t off;
    size_t len; /* valid bytes at data */
};

enum ahead_state { AHEAD_IDLE, AHEAD_RUNNING, AHEAD_DONE };

struct reader {
    uint64_t size;
    size_t min_window, max_window, window;
    reader_fetch_fn fetch;
    void *ctx;
    pthread_mutex_t read_lock;
    struct chunk cur;
    uint64_t next_off; /* where a sequential read would continue */
    bool sequential;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum ahead_state state;
    pthread_t thread;
    bool joinable;
    struct chunk ahead;
    int ahead_rc;
    struct aws_error ahead_err;
    atomic_int cancel;

    struct reader_stats stats;
};

struct reader *reader_new(uint64_t size, const struct reader_options *opt,
                          reader_fetch_fn fetch, void *ctx)
{
    struct reader *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->size = size;
    r->min_window =
        opt && opt->min_window ? opt->min_window : DEFAULT_MIN_WINDOW;
    r->max_window =
        opt && opt->max_window ? opt->max_window : DEFAULT_MAX_WINDOW;
    if (r->max_window < r->min_window)
        r->max_window = r->min_window;
    r->window = r->min_window;
    r->fetch = fetch;
    r->ctx = ctx;
    r->sequential = true; /* a first read at offset 0 starts a stream */
    pthread_mutex_init(&r->read_lock, NULL);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    atomic_init(&r->cancel, 0);
    return r;
}

/* Whether an ahead window exists (running or done). Only the reading
 * thread moves the state to or from IDLE; the lock orders the helper's
 * RUNNING → DONE. */
static bool have_ahead(struct reader *r)
{
    bool busy;
    pthread_mutex_lock(&r->lock);
    busy = r->state != AHEAD_IDLE;
    pthread_mutex_unlock(&r->lock);
    return busy;
}

/* Wait for the helper thread (if any) and take its chunk back. */
static void join_ahead(struct reader *r)
{
    if (r->joinable) {
        pthread_join(r->thread, NULL);
        r->joinable = false;
    }
}

void reader_free(struct reader *r)
{
    if (!r)
        return;
    atomic_store(&r->cancel, 1);
    join_ahead(r);
    free(r->cur.data);
    free(r->ahead.data);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->read_lock);
    free(r);
}

static bool covers(const struct chunk *c, uint64_t off)
{
    return c->data && off >= c->off && off < c->off + c->len;
}

static void *ahead_main(void *arg)
{
    struct reader *r = arg;
    struct aws_error err;
    int rc;

    aws_error_clear(&err);
    rc = r->fetch(r->ctx, r->ahead.off, r->ahead.len, r->ahead.data, &r->cancel,
                  &err);
    pthread_mutex_lock(&r->lock);
    r->ahead_rc = rc;
    r->ahead_err = err;
    r->state = AHEAD_DONE;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Start fetching [off, off+len) ahead. Silently does nothing on failure: a
 * later read then fetches synchronously. */
static void start_ahead(struct reader *r, uint64_t off, size_t len)
{
    char *data;

    join_ahead(r);
    data = realloc(r->ahead.data, len);
    if (!data)
        return;
    r->ahead.data = data;
    r->ahead.off = off;
    r->ahead.len = len;
    pthread_mutex_lock(&r->lock);
    r->state = AHEAD_RUNNING;
    pthread_mutex_unlock(&r->lock);
    atomic_store(&r->cancel, 0);
    r->stats.fetches++;
    r->stats.bytes_fetched += len;
    if (pthread_create(&r->thread, NULL, ahead_main, r) != 0) {
        pthread_mutex_lock(&r->lock);
        r->state = AHEAD_IDLE;
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->joinable = true;
}

/* Drop the ahead window (a random read left the stream). */
static void drop_ahead(struct reader *r)
{
    if (!have_ahead(r))
        return;
    atomic_store(&r->cancel, 1);
    join_ahead(r);
    r->state = AHEAD_IDLE; /* helper joined: no other thread left */
}

/* The ahead window covers off: wait for it and make it current. 0, or -1
 * with err (the window is dropped so the next read retries). */
static int take_ahead(struct reader *r, struct aws_error *err)
{
    struct chunk tmp;

    pthread_mutex_lock(&r->lock);
    while (r->state == AHEAD_RUNNING)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
    join_ahead(r);
    r->state = AHEAD_IDLE;
    if (r->ahead_rc < 0) {
        *err = r->ahead_err;
        return -1;
    }
    tmp = r->cur;
    r->cur = r->ahead;
    r->ahead = tmp;
    return 0;
}

static size_t clamp_len(const struct reader *r, uint64_t off, size_t len)
{
    return off + len > r->size ? (size_t)(r->size - off) : len;
}

/* Fetch [off, off+len) on this thread into the current window. */
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
static bool in_stream(const struct reader *r, uint64_t off)
{
    uint64_t lo = r->next_off, hi = r->next_off;

    if (r->cur.data && r->cur.len) {
        lo = r->cur.off < lo ? r->cur.off : lo;
        hi = r->cur.off + r->cur.len > hi ? r->cur.off + r->cur.len : hi;
    }
    lo = lo > r->min_window ? lo - r->min_window : 0;
    return off >= lo && off <= hi + r->min_window;
}

static void grow_window(struct reader *r)
{
    r->window = r->window * 2 > r->max_window ? r->max_window : r->window * 2;
}

/* Bring the byte at off into the current window. */
static int load(struct reader *r, uint64_t off, size_t want,
                struct aws_error *err)
{
    if (covers(&r->ahead, off) && have_ahead(r))
        return take_ahead(r, err);
    r->sequential = in_stream(r, off);
    drop_ahead(r);
    if (!r->sequential) {
        r->window = r->min_window;
        return fetch_now(r, off, clamp_len(r, off, want), err);
    }
    if (fetch_now(r, off, clamp_len(r, off, r->window), err) < 0)
        return -1;
    grow_window(r);
    return 0;
}

/* While streaming, keep the next window on its way once half of the
 * current one has been read. */
static void maybe_read_ahead(struct reader *r, uint64_t pos)
{
    uint64_t end = r->cur.off + r->cur.len;

    if (!r->sequential || have_ahead(r) || end >= r->size ||
        pos < r->cur.off + r->cur.len / 2)
        return;
    start_ahead(r, end, clamp_len(r, end, r->window));
    grow_window(r);
}

long reader_read(struct reader *r, char *dst, size_t n, uint64_t off,
                 struct aws_error *err)
{
    size_t done = 0;
    long rc;

    if (off >= r->size)
        return 0;
    n = clamp_len(r, off, n);
    pthread_mutex_lock(&r->read_lock);
    while (done < n) {
        uint64_t pos = off + done;
        size_t k;

        if (!covers(&r->cur, pos) && load(r, pos, n - done, err) < 0)
            break;
        k = (size_t)(r->cur.off + r->cur.len - pos);
        if (k > n - done)
            k = n - done;
        memcpy(dst + done, r->cur.data + (pos - r->cur.off), k);
        done += k;
    }
    if (done == n) {
        r->next_off = off + n;
        maybe_read_ahead(r, off + n);
    }
    rc = done == n ? (long)n : -1;
    pthread_mutex_unlock(&r->read_lock);
    return rc;
}

void reader_get_stats(struct reader *r, struct reader_stats *out)
{
    pthread_mutex_lock(&r->read_lock);
    *out = r->stats;
    out->window = r->window;
    pthread_mutex_unlock(&r->read_lock);
}
