/*
 * reader.h — streaming reads of one S3 object with parallel read-ahead.
 *
 * A reader serves read(off, n) calls on an object of known size through a
 * fetch callback (in buckets/ a ranged GET with If-Match). Design:
 * doc/design/perf.md, "Reads".
 *
 *  - Sequential reads (each continuing near where the last one ended; the
 *    first read at offset 0 counts) form a stream. A stream keeps up to
 *    `ranges` fetches of at most `range` bytes each in flight ahead of the
 *    reader, run by the workers of a read pool (core/readpool.h), and
 *    hands their bytes out in order. How far ahead it reaches (the window)
 *    is twice what the stream has handed out so far, at least
 *    `min_window`, at most ranges × range, fetched in ranges of a quarter
 *    of it (≥ min_window, ≤ range): a program that reads a header
 *    and stops costs at most two min_window fetches, bytes fetched and
 *    never read are at most twice those read (plus one range), and `cp`
 *    of a big file has every range in flight after its first
 *    ranges × range / 2 bytes.
 *  - A read far from the stream is random: the stream's fetches are
 *    cancelled (queued ones taken back, running ones told to stop and
 *    waited for), their buffers freed, and exactly the bytes asked for
 *    are fetched on the calling thread. A read a little behind the stream
 *    (FUSE delivers reads of one file slightly out of order) is fetched
 *    alone without disturbing the stream.
 *  - Memory: every read-ahead buffer is reserved from the pool's budget
 *    before it is allocated and given back when freed; a stream that gets
 *    no budget (other files hold it) reads min_window at a time on the
 *    calling thread. Outside the budget a reader holds only the bytes of
 *    its last own fetch (≤ max(request, min_window)).
 *
 * reader_read() fills the whole request unless it reaches the end of the
 * object (FUSE treats a short read as end of file). Calls on one reader are
 * serialized internally; different readers are independent. The fetch
 * callback runs without any reader lock held, on the calling thread or a
 * pool worker; it must return exactly `len` bytes or fail, and should stop
 * early when *cancel (NULL for reads the caller waits on) becomes non-zero.
 * A fetch that fails fails the read that needs its bytes (err as the
 * callback filled it: a changed object's 412 stays what it is) and drops
 * the stream; the next read starts again.
 */
#ifndef AMIFS_CORE_READER_H
#define AMIFS_CORE_READER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/err.h"

struct read_pool;

/* Fetch bytes [off, off+len) into dst. 0, or -1 with err filled. */
typedef int (*reader_fetch_fn)(void *ctx, uint64_t off, size_t len, char *dst,
                               const atomic_int *cancel, struct aws_error *err);

struct reader_options {
    size_t min_window; /* first window, and the slack of "sequential";
                          default 1 MiB */
    size_t range;      /* largest single fetch ahead; default 8 MiB */
    int ranges;        /* fetches in flight at most; default 8, max 64 */
    /* The mount's pool (budget + workers). NULL: the reader makes a
     * private one (budget (ranges + 1) × range, `ranges` workers). */
    struct read_pool *pool;
};

struct reader_stats {
    uint64_t fetches;       /* fetch calls started */
    uint64_t bytes_fetched; /* bytes asked of fetch */
    size_t window;          /* current read-ahead window */
    int peak_inflight;      /* most read-ahead fetches in flight at once */
};

struct reader;

/* opt may be NULL. NULL when out of memory. `ctx` must outlive the reader. */
struct reader *reader_new(uint64_t size, const struct reader_options *opt,
                          reader_fetch_fn fetch, void *ctx);
/* Cancels the read-ahead, waits for fetches in progress (asking them to
 * stop), then frees: no fetch of this reader runs after it returns. */
void reader_free(struct reader *r);

/* Read up to n bytes at off: the byte count (0 at or past the end), or -1
 * with err filled. After an error the next read tries again. */
long reader_read(struct reader *r, char *dst, size_t n, uint64_t off,
                 struct aws_error *err);

void reader_get_stats(struct reader *r, struct reader_stats *out);

#endif
