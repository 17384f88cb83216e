/*
 * bucket_verify.h — end-to-end check of whole-file reads in buckets/
 * against the object's full CRC32C (design: doc/design/perf.md).
 *
 * One `struct bverify` per open file handle. Every read that the reader
 * served is fed in (bv_feed) with its offset; bytes that continue the
 * hashed prefix extend a running CRC32C, reads that arrive a little out of
 * order (FUSE serves several reads of one file at once) wait in a small
 * table and are combined when the prefix reaches them (aws_crc32c_combine:
 * no byte is kept). A read that leaves a hole the table cannot bridge, or
 * overlaps the prefix partly, turns checking off for this handle: random
 * access is not verified (nothing was promised for it).
 *
 * When the prefix reaches the object's size, bv_feed returns 1 exactly
 * once; the caller then asks S3 for the object's checksum (one HEAD with
 * x-amz-checksum-mode, If-Match the ETag the handle reads) and
 * bv_matches() compares. Only FULL_OBJECT CRC32C values (what amifs writes,
 * and what a single PUT with a CRC32C carries) can be compared; objects
 * with another or no checksum pass unchecked. A mismatch fails that last
 * read with EIO (the bytes before it were already handed over, as with
 * every streaming check; `cp` and `cat` then fail and say so).
 *
 * Threads: every function takes the struct's own lock; FUSE may call
 * bv_feed from several threads for one handle. No allocation.
 */
#ifndef AMIFS_FS_BUCKET_VERIFY_H
#define AMIFS_FS_BUCKET_VERIFY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/s3.h"

#define BV_PENDING 16

struct bv_piece {
    uint64_t off, len;
    uint32_t crc;
};

struct bverify {
    pthread_mutex_t lock;
    uint64_t size;    /* the object's */
    uint64_t pos;     /* bytes [0, pos) are hashed into crc */
    uint32_t crc;
    bool off;         /* not a whole-file sequential read: no check */
    bool reported;    /* bv_feed already returned 1 */
    bool bad;         /* a mismatch was found: every later read fails */
    struct bv_piece pending[BV_PENDING];
    int npending;
};

void bv_init(struct bverify *v, uint64_t size);
void bv_destroy(struct bverify *v);

/* Feed n bytes read at off. 1: the whole object is now hashed (once),
 * 0 otherwise. */
int bv_feed(struct bverify *v, uint64_t off, const char *data, size_t n);

/* true unless `ck` is a FULL_OBJECT CRC32C different from what was read;
 * false also marks the handle bad. */
bool bv_matches(struct bverify *v, const struct s3_checksum *ck);

/* A mismatch was found on this handle: its reads fail with EIO from now on
 * (the kernel retries a failed read-ahead page with a plain read, which
 * must not hand over the bytes now known to be wrong). */
bool bv_bad(struct bverify *v);

#endif
