/*
 * bucket_verify.c — whole-file read verification (contract in
 * bucket_verify.h).
 */
#include "fs/bucket_verify.h"

#include <string.h>

#include "aws/crc.h"

void bv_init(struct bverify *v, uint64_t size)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_init(&v->lock, NULL);
    v->size = size;
    v->off = size == 0;
}

void bv_destroy(struct bverify *v)
{
    pthread_mutex_destroy(&v->lock);
}

/* Absorb pending pieces that now continue the prefix. */
static void absorb_locked(struct bverify *v)
{
    for (int i = 0; i < v->npending;) {
        struct bv_piece *p = &v->pending[i];
        if (p->off != v->pos) {
            i++;
            continue;
        }
        v->crc = aws_crc32c_combine(v->crc, p->crc, p->len);
        v->pos += p->len;
        *p = v->pending[--v->npending];
        i = 0;
    }
}

static void feed_locked(struct bverify *v, uint64_t off, const char *data,
                        size_t n)
{
    if (off + n <= v->pos)
        return; /* read again (page cache dropped it): already hashed */
    if (off < v->pos) {
        v->off = true; /* partly over the prefix: not a plain stream */
        return;
    }
    if (off == v->pos) {
        v->crc = aws_crc32c(v->crc, data, n);
        v->pos += n;
        absorb_locked(v);
        return;
    }
    for (int i = 0; i < v->npending; i++)
        if (v->pending[i].off == off)
            return; /* the same read twice */
    if (v->npending == BV_PENDING) {
        v->off = true;
        return;
    }
    v->pending[v->npending++] =
        (struct bv_piece){off, n, aws_crc32c(0, data, n)};
}

int bv_feed(struct bverify *v, uint64_t off, const char *data, size_t n)
{
    int done = 0;

    pthread_mutex_lock(&v->lock);
    if (!v->off && n)
        feed_locked(v, off, data, n);
    if (!v->off && !v->reported && v->pos >= v->size) {
        v->reported = true;
        done = v->pos == v->size;
    }
    pthread_mutex_unlock(&v->lock);
    return done;
}

bool bv_matches(struct bverify *v, const struct s3_checksum *ck)
{
    uint32_t want;
    bool ok;

    if (strcmp(ck->algorithm, "CRC32C") != 0 ||
        strcmp(ck->type, "COMPOSITE") == 0 ||
        aws_crc32c_parse_b64(ck->value, &want) < 0)
        return true; /* nothing we can compare */
    pthread_mutex_lock(&v->lock);
    ok = v->crc == want;
    if (!ok)
        v->bad = true;
    pthread_mutex_unlock(&v->lock);
    return ok;
}

bool bv_bad(struct bverify *v)
{
    pthread_mutex_lock(&v->lock);
    bool bad = v->bad;
    pthread_mutex_unlock(&v->lock);
    return bad;
}
