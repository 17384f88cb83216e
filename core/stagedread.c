/* stagedread.c — ranged GETs of a staged object. See core/stagedread.h. */
#include "core/stagedread.h"

#include <errno.h>
#include <stdio.h>

#include "aws/s3.h"

int staged_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct staged_src *r = ctx;
    size_t got = 0;
    struct aws_error err;
    aws_error_clear(&err);
    if (s3_get_range_into(r->c, r->bucket, r->key, r->base + off, len,
                          r->etag && *r->etag ? r->etag : NULL, buf, &got,
                          &err) != 0) {
        if (!r->why[0]) {
            char msg[400];
            aws_error_format(&err, msg, sizeof msg);
            snprintf(r->why, r->whylen, "reading s3://%s/%s failed: %s",
                     r->bucket, r->key, msg);
        }
        int e = aws_error_errno(&err);
        return -(e ? e : EIO);
    }
    if (got != len) {
        if (!r->why[0])
            snprintf(r->why, r->whylen, "reading s3://%s/%s: short read",
                     r->bucket, r->key);
        return -EIO;
    }
    return 0;
}

struct verify_ctx {
    struct staged_src *src;
    ova_progress_fn progress;
    void *pctx;
};

static int verify_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    return staged_read(((struct verify_ctx *)ctx)->src, off, buf, len);
}

static void verify_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct verify_ctx *x = ctx;
    if (x->progress)
        x->progress(x->pctx, done, total);
}

int staged_verify_manifest(struct staged_src *src, struct ova_validator *v,
                           ova_progress_fn progress, void *pctx)
{
    struct verify_ctx x = {src, progress, pctx};
    return ova_validator_verify_late(v, verify_read, verify_progress, &x);
}

long staged_digest(struct staged_src *src, uint64_t size, int alg,
                   unsigned char out[64])
{
    return ova_digest_read(staged_read, src, 0, size, alg, out);
}
