/*
 * mpu.h — the streaming multipart uploader, an explicit state machine.
 *
 *   IDLE ──first full part──► UPLOADING ──mpu_finish──► COMPLETING ─► DONE
 *     │                          │  any part fails for good
 *     │ mpu_finish (small)       ▼
 *     └──► single PutObject   FAILED ──► (upload aborted) ABORTED
 *
 * Bytes come in through mpu_write() and are copied into part buffers from a
 * fixed pool (`pool_parts` buffers); a full part is queued for the upload
 * workers (`concurrency` threads, each request on its own pooled connection).
 * When every buffer is full or in flight, mpu_write() waits: memory is bounded
 * by pool_parts × the current part size, whatever the object's size.
 *
 * Part sizes come from mpu_part_size(): `part_size` for the first parts,
 * growing with the part number so that 10,000 parts reach the configured
 * maximum object size (S3: all parts but the last ≥ 5 MiB, ≤ 5 GiB).
 * Each part carries Content-MD5 and is retried (the client retries transient
 * errors; the uploader retries a part `part_attempts` times in all).
 *
 * A file that never fills its first part is sent with one PutObject at
 * mpu_finish(). The multipart upload is created when the first part is full,
 * so the upload starts while the writer is still writing.
 *
 * Failure: once a part fails for good, the uploader is FAILED; every later
 * mpu_write()/mpu_finish() returns -1 with that first error, and the
 * multipart upload is aborted (no upload is left behind). mpu_abort() does the
 * same on request (rm of an upload in flight, unmount).
 *
 * Thread safety: one writer thread calls mpu_write/mpu_finish; any thread may
 * call the mpu_*_bytes/mpu_state/mpu_error getters and mpu_abort().
 */
#ifndef AMIFS_AWS_MPU_H
#define AMIFS_AWS_MPU_H

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

struct mpu_options {
    size_t part_size;          /* first part size; default 8 MiB, min 5 MiB */
    int concurrency;           /* parallel part uploads; default 4 */
    int pool_parts;            /* part buffers; default concurrency + 1 */
    int part_attempts;         /* tries per part; default 5 */
    uint64_t max_object_size;  /* default 5 TiB */
};

/* Pure: size of part `part_no` (1-based) for first size `first` and maximum
 * object size `max_object`, such that the sum over 10,000 parts ≥ max_object.
 * Exposed for tests. */
size_t mpu_part_size(unsigned part_no, size_t first, uint64_t max_object);

struct mpu;

/* No network traffic yet. opt may be NULL for defaults. */
struct mpu *mpu_new(struct aws_client *c, const char *bucket, const char *key,
                    const struct mpu_options *opt, struct aws_error *err);
/* Append bytes (copied). Blocks while the pool is full. -1 after failure. */
int mpu_write(struct mpu *m, const void *data, size_t n,
              struct aws_error *err);
/* Send what is left and complete. 0: S3 holds the object; its ETag (quotes
 * stripped) in etag_out (72 bytes, may be NULL). -1: failed and aborted. */
int mpu_finish(struct mpu *m, char *etag_out, struct aws_error *err);
/* Stop: cancel queued parts, wait for those in flight, AbortMultipartUpload.
 * Safe in any state; after DONE it does nothing. */
void mpu_abort(struct mpu *m);
/* Waits for workers, frees. Aborts first if not DONE/ABORTED. */
void mpu_free(struct mpu *m);

enum mpu_state mpu_state(const struct mpu *m);
uint64_t mpu_bytes_written(const struct mpu *m); /* accepted by mpu_write */
uint64_t mpu_bytes_sent(const struct mpu *m);    /* acknowledged by S3 */
/* Copy of the first error (kind AWS_OK while none). */
void mpu_error(const struct mpu *m, struct aws_error *out);
/* The multipart upload id ("" before creation / for single PUTs). */
void mpu_upload_id(const struct mpu *m, char *out, size_t n);

#endif
