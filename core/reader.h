/*
 * reader.h — streaming reads of one S3 object with adaptive read-ahead.
 *
 * A reader serves read(off, n) calls on an object of known size through a
 * fetch callback (in buckets/ a ranged GET). Sequential reads are served from
 * a window fetched in one request; each further window is twice as large
 * (min_window → max_window) and is fetched *ahead* by a helper thread while
 * the reader consumes the current one. A read far from the stream is random:
 * it fetches exactly the bytes asked for and resets the window. Memory is at
 * most two windows (current + ahead), whatever the object's size.
 *
 * reader_read() fills the whole request unless it reaches the end of the
 * object (FUSE treats a short read as end of file). Calls on one reader are
 * serialized internally; different readers are independent. The fetch
 * callback runs without any reader lock held, on the calling thread or the
 * helper thread; it must return exactly `len` bytes or fail, and should stop
 * early when *cancel (NULL for reads the caller waits on) becomes non-zero.
 */
#ifndef AMIFS_CORE_READER_H
#define AMIFS_CORE_READER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/err.h"

/* Fetch bytes [off, off+len) into dst. 0, or -1 with err filled. */
typedef int (*reader_fetch_fn)(void *ctx, uint64_t off, size_t len, char *dst,
                               const atomic_int *cancel, struct aws_error *err);

struct reader_options {
    size_t min_window; /* first sequential window; default 1 MiB */
    size_t max_window; /* largest window; default 32 MiB */
};

struct reader_stats {
    uint64_t fetches;       /* fetch calls started */
    uint64_t bytes_fetched; /* bytes asked of fetch */
    size_t window;          /* current window */
};

struct reader;

/* opt may be NULL. NULL when out of memory. `ctx` must outlive the reader. */
struct reader *reader_new(uint64_t size, const struct reader_options *opt,
                          reader_fetch_fn fetch, void *ctx);
/* Waits for a fetch in progress (asking it to stop), then frees. */
void reader_free(struct reader *r);

/* Read up to n bytes at off: the byte count (0 at or past the end), or -1
 * with err filled. After an error the next read tries again. */
long reader_read(struct reader *r, char *dst, size_t n, uint64_t off,
                 struct aws_error *err);

void reader_get_stats(struct reader *r, struct reader_stats *out);

#endif
