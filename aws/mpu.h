/*
 * mpu.h — the streaming multipart uploader, an explicit state machine, and
 * the mount-wide pool (memory budget + upload workers) its uploads share.
 *
 *   IDLE ──first full part──► UPLOADING ──mpu_finish──► COMPLETING ─► DONE
 *     │                          │  any part fails for good
 *     │ mpu_finish (small)       ▼
 *     └──► single PutObject   FAILED ──► (upload aborted) ABORTED
 *
 * Bytes come in through mpu_write() and are copied into the part being
 * filled; a full part is queued for the workers of the upload's pool
 * (struct mpu_shared). The pool owns two things every upload of a mount
 * shares:
 *
 *  - A memory budget in bytes. A part that is held in memory reserves its
 *    whole size from the budget before its first byte is copied (the writer
 *    waits while the budget is spent) and gives it back when S3 has
 *    acknowledged it. So the bytes of part buffers held at once, summed
 *    over every upload of the mount, never exceed the budget, and as parts
 *    grow fewer of them are in flight.
 *  - A part larger than a quarter of the budget (mpu_part_in_memory() says
 *    which) is not held in memory at all: it is staged in an unlinked
 *    temporary file in the pool's spill directory, its CRC32C
 *    computed as the bytes arrive, and sent from that file. At most
 *    `spill_parts` such parts exist per mount (disk ≤ spill_parts × the
 *    largest part: 3 × 4 GiB near 5 TiB with 8 MiB first parts). A part cannot
 *    be streamed straight from the writer: S3 needs its length before its
 *    first byte, and the last part's length is only known at close.
 *  - A fixed set of worker threads (created on demand, at most `workers`),
 *    each sending one part at a time on the client's pooled connections.
 *
 * Integrity (doc/design/perf.md): the upload is created with CRC32C /
 * FULL_OBJECT; each part carries its CRC32C (x-amz-checksum-crc32c,
 * computed once by the worker or as a spilled part is written), with
 * UNSIGNED-PAYLOAD over https or to a loopback endpoint (else the client
 * signs the payload's SHA-256 as before); Complete carries the object's
 * CRC32C combined from the parts', so S3 refuses to publish bytes that are
 * not the ones written. A single PutObject carries its CRC32C the same way.
 * Parts are retried
 * (`part_attempts` tries; the body is read again from memory or the file).
 * A part that fails for good fails the whole upload (FAILED, then aborted).
 *
 * Part sizes come from mpu_part_size(): `part_size` for the first parts,
 * growing with the part number so that 10,000 parts reach the configured
 * maximum object size (S3: all parts but the last ≥ 5 MiB, ≤ 5 GiB).
 *
 * A file that never fills its first part is sent with one PutObject at
 * mpu_finish(). The multipart upload is created when the first part is full,
 * so the upload starts while the writer is still writing. A Complete whose
 * answer was lost and whose retry gets NoSuchUpload counts as done when a
 * HEAD of the key shows the multipart ETag our parts make (s3.h).
 *
 * Failure: once a part fails for good, the uploader is FAILED; every later
 * mpu_write()/mpu_finish() returns -1 with that first error, and the
 * multipart upload is aborted (no upload is left behind). mpu_abort() does the
 * same on request (rm of an upload in flight, unmount): it wakes a writer
 * waiting for budget, drops the upload's queued parts and stops the parts
 * being sent (the body callback gives up), then sends AbortMultipartUpload.
 *
 * Waiting: a writer only ever waits for budget while it holds no part
 * buffer, and parts in the queue are complete, so the workers always make
 * progress and every reservation is eventually granted. A process that
 * writes many files from one thread, interleaved, each holding a partly
 * filled part, can still spend the whole budget on parts it fills later;
 * with the default budget that needs more than 8 such files open at once.
 *
 * Thread safety: one writer thread per upload calls mpu_write/mpu_finish;
 * any thread may call the getters and mpu_abort(). The pool is thread-safe;
 * it must outlive every upload that uses it.
 */
#ifndef AMIFS_AWS_MPU_H
#define AMIFS_AWS_MPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"

enum mpu_state {
    MPU_IDLE,       /* nothing sent yet */
    MPU_UPLOADING,  /* multipart upload created, parts going up */
    MPU_COMPLETING, /* finishing: last parts + Complete (or the single PUT) */
    MPU_DONE,       /* S3 holds the complete object */
    MPU_FAILED,     /* an error happened; abort under way, or the
                       AbortMultipartUpload itself failed after retries
                       (then an upload may be left behind) */
    MPU_ABORTED,    /* aborted (on failure or request); nothing left behind */
};

/* ---- the shared pool ---------------------------------------------------- */

struct mpu_shared;

/* A pool with `budget_bytes` of part memory (at least 20 MiB so that 5 MiB
 * parts can be held, four at a time) and at most `workers` upload threads
 * (< 1: 10; at most 64).
 *
 * `budget_bytes` 0 is the automatic budget: it starts at 64 MiB and
 * `workers` threads and grows, by a quarter more parts in flight at a time,
 * while writers wait for budget and each step raised the acknowledged
 * throughput (measured over half-second windows, the first discarded) by
 * more than 10 %, up to
 * 160 MiB and 24 workers; the first step that gains less ends the growth,
 * and the pool starts again from 64 MiB once no upload is attached. On a
 * long, rate-limited path (a WAN) this opens the connections the path
 * needs; on a fast local one, where the CPU is the limit, it stays near
 * the start (doc/design/perf.md). Whether a part is held in memory is
 * judged against the starting budget. Part files go to `spill_dir` (NULL:
 * $TMPDIR, else /var/tmp). No thread is started before the first part.
 * NULL when out of memory. */
struct mpu_shared *mpu_shared_new(size_t budget_bytes, int workers,
                                  const char *spill_dir);
/* Stops and joins the workers. Every upload using the pool must have been
 * freed first. NULL is ignored. */
void mpu_shared_free(struct mpu_shared *sh);

struct mpu_shared_stats {
    size_t budget;      /* bytes */
    size_t used;        /* bytes reserved by part buffers now, parked
                           buffers included (they hold their budget) */
    size_t parked;      /* of which full-size buffers of acknowledged
                           parts kept mapped for the next part; unmapped
                           when a reservation needs their budget and when
                           the pool's last upload is freed */
    unsigned long reused; /* parts that got a parked buffer (no new
                             mapping, no page zeroed) */
    size_t peak;        /* highest `used` so far */
    int spill_parts;    /* parts staged in files now */
    int spill_peak;
    int overflow_spills; /* memory parts staged in files because the budget
                            was spent on half-filled parts and nothing was
                            being sent for MPU_STUCK_SECONDS (one thread
                            writing many files in turn; never a deadlock) */
    int threads;        /* worker threads started */
    size_t budget_cap;  /* the automatic budget's bound (else = budget) */
    int grow_steps;     /* times the automatic budget grew */
};
void mpu_shared_stats(struct mpu_shared *sh, struct mpu_shared_stats *out);

/* Pure: whether a part of `part_size` bytes is held in memory under a
 * budget of `budget` bytes (else it is staged in a file). Exposed for the
 * arithmetic tests: a part in memory is ≤ budget / 4. */
bool mpu_part_in_memory(size_t part_size, size_t budget);

/* ---- one upload --------------------------------------------------------- */

struct mpu_options {
    size_t part_size;          /* first part size; default 8 MiB, min 5 MiB */
    int concurrency;           /* private pool's workers; default 4 */
    int pool_parts;            /* parts of this upload held at once (filling
                                  + queued + sending); default workers + 1 */
    int part_attempts;         /* tries per part; default 5 */
    uint64_t max_object_size;  /* default 5 TiB */
    /* The mount's pool. NULL: the upload makes a private pool (budget
     * `memory_budget`, default pool_parts × part_size; `concurrency`
     * workers), freed with it: for examples/ and tests. */
    struct mpu_shared *shared;
    size_t memory_budget;
    /* Asked in the writer's thread (the one in mpu_finish) once every part
     * is sent, right before CompleteMultipartUpload or the single PUT:
     * nonzero means "the caller is gone" (a writer killed while its
     * close() waited, doc/design/upload.md): nothing is completed, the
     * upload fails with AWS_ERR_ABORTED and is aborted. NULL: always go. */
    int (*may_complete)(void *ctx);
    void *may_complete_ctx;
    /* Resume (doc/design/resume.md).
     * keep_on_network_failure: when the upload fails for good from the
     * network (a part or Complete whose every try met a dropped
     * connection, a timeout, a 5xx or throttling), its multipart upload is
     * KEPT in S3 instead of aborted: state FAILED, mpu_kept() true. A
     * failure of any other kind, and mpu_abort() before such a failure
     * (a killed writer, rm, unmount), still abort.
     * resume_claim: asked in the writer's thread when the first part is
     * full, before CreateMultipartUpload: 1 with the id of a kept upload of
     * this bucket/key and part size in upload_id (n bytes) to continue it,
     * 0 to create a new one. The uploader then lists its parts and, as
     * each part is full, skips the UploadPart when S3 already holds that
     * part number with the same size, CRC32C (ChecksumCRC32C) and, when
     * its ETag is a plain MD5, the same MD5; any other part is sent (and
     * replaces S3's). Complete lists only this copy's parts, so parts of
     * the old upload beyond the new end are dropped by S3, and carries the
     * object's CRC32C as always: the result is byte for byte the new
     * bytes. When the claimed upload is gone (NoSuchUpload) a new one is
     * created. */
    bool keep_on_network_failure;
    int (*resume_claim)(void *ctx, char *upload_id, size_t n);
    void *resume_ctx;
};

/* What a resume did (mpu_resume_stats). */
struct mpu_resume_stats {
    bool claimed;          /* resume_claim gave an upload id */
    bool resumed;          /* ... and it was continued (ListParts answered) */
    unsigned parts_listed; /* parts S3 held when it was claimed */
    unsigned parts_skipped;/* UploadParts not sent: S3 held the same bytes */
    uint64_t bytes_skipped;
    unsigned parts_sent;   /* UploadParts sent by this copy */
};

/* Pure: size of part `part_no` (1-based) for first size `first` and maximum
 * object size `max_object`, such that the sum over 10,000 parts ≥ max_object.
 * Exposed for tests. */
size_t mpu_part_size(unsigned part_no, size_t first, uint64_t max_object);

struct mpu;

/* No network traffic yet. opt may be NULL for defaults. */
struct mpu *mpu_new(struct aws_client *c, const char *bucket, const char *key,
                    const struct mpu_options *opt, struct aws_error *err);
/* Append bytes (copied). Blocks while the budget is spent or the upload's
 * pool_parts are all busy. -1 after failure. */
int mpu_write(struct mpu *m, const void *data, size_t n,
              struct aws_error *err);
/* Send what is left and complete. 0: S3 holds the object; its ETag (quotes
 * stripped) in etag_out (72 bytes, may be NULL). -1: failed and aborted. */
int mpu_finish(struct mpu *m, char *etag_out, struct aws_error *err);
/* Stop: cancel queued parts, stop those in flight, AbortMultipartUpload.
 * Safe in any state and from any thread; after DONE it does nothing. */
void mpu_abort(struct mpu *m);
/* Waits for the upload's parts, frees. Aborts first if not DONE/ABORTED. */
void mpu_free(struct mpu *m);

enum mpu_state mpu_state(const struct mpu *m);
uint64_t mpu_bytes_written(const struct mpu *m); /* accepted by mpu_write */
uint64_t mpu_bytes_sent(const struct mpu *m);    /* acknowledged by S3 */
/* Copy of the first error (kind AWS_OK while none). */
void mpu_error(const struct mpu *m, struct aws_error *out);
/* The multipart upload id ("" before creation / for single PUTs). */
void mpu_upload_id(const struct mpu *m, char *out, size_t n);
/* The object's full CRC32C, as S3 verified it: 0 once DONE, else -1. */
int mpu_crc32c(const struct mpu *m, uint32_t *out);
/* The upload failed from the network and was kept in S3 for a resume
 * (mpu_options.keep_on_network_failure): nothing was aborted. */
bool mpu_kept(const struct mpu *m);
/* The first part size in use (the options' part_size after defaults):
 * with the maximum object size, it fixes every part's size. */
size_t mpu_first_part_size(const struct mpu *m);
void mpu_resume_stats(const struct mpu *m, struct mpu_resume_stats *out);

#endif
