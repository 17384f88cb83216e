/* late.c — checking a manifest that came after the members it lists, by
 * reading those members back (contract: ova_validator_verify_late in
 * ova.h; why: doc/design/perf.md, "imports/: only the digest the
 * manifest asks for"), and the one "digest of a range read through a
 * reader" both that check and core/stagedread.c use (ova_digest_read).
 *
 * archive.c marks such manifest lines late and records where each
 * member's bytes lie in the stream (ova_archive_late); here each one is
 * read through the caller's reader in 8 MiB pieces, hashed once in the
 * line's algorithm and compared. Runs on the caller's thread after the
 * OVA thread has exited, so the archive state is read without its lock;
 * the facts and the verdict are written under v->mu as everywhere. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ova/internal.h"

#define DIGEST_CHUNK (8u << 20)

long ova_digest_read(ova_read_fn read, void *ctx, uint64_t off,
                     uint64_t size, int alg, unsigned char out[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(DIGEST_CHUNK);
    long rc = md && buf && EVP_DigestInit_ex(md, manifest_md(alg), NULL)
                  ? 0
                  : -ENOMEM;
    for (uint64_t at = 0; rc == 0 && at < size;) {
        size_t n = size - at < DIGEST_CHUNK ? (size_t)(size - at)
                                            : DIGEST_CHUNK;
        rc = read(ctx, off + at, buf, n);
        if (rc == 0 && !EVP_DigestUpdate(md, buf, n))
            rc = -ENOMEM;
        at += n;
    }
    unsigned len = 0;
    if (rc == 0)
        rc = EVP_DigestFinal_ex(md, out, &len) ? (long)len : -ENOMEM;
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

/* The caller's reader, with the cancel flag and the progress around it. */
struct late_run {
    struct ova_validator *v;
    ova_read_fn read;
    ova_progress_fn progress;
    void *ctx;
    uint64_t done, total;
};

static int late_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct late_run *r = ctx;
    if (ova_cancelled(r->v))
        return -ECANCELED;
    int rc = r->read(r->ctx, off, buf, len);
    if (rc == 0) {
        r->done += len;
        if (r->progress)
            r->progress(r->ctx, r->done, r->total);
    }
    return rc;
}

/* Check one late line. 0 matched, -1 refused, or a negative errno. */
static int check_one(struct late_run *r, const struct ova_late *l)
{
    unsigned char dig[64];
    long len = ova_digest_read(late_read, r, l->offset, l->size, l->alg,
                               dig);
    if (len < 0)
        return (int)len;
    if ((size_t)len != l->dlen || memcmp(dig, l->digest, l->dlen) != 0) {
        struct ova_verdict vd;
        verdict_set(&vd, "manifest-mismatch", "the %s of member '%s' does "
                    "not match the manifest (checked by reading the member "
                    "back: the manifest comes after it)",
                    manifest_alg_name(l->alg), l->name);
        ova_refuse(r->v, &vd);
        return -1;
    }
    *l->matched = true;
    return 0;
}

int ova_validator_verify_late(struct ova_validator *v, ova_read_fn read,
                              ova_progress_fn progress, void *ctx)
{
    if (ova_validator_code(v)[0])
        return -1;
    if (!v->finished || !read)
        return -EINVAL;
    struct late_run r = {v, read, progress, ctx, 0,
                         v->facts.manifest_read_back};
    struct ova_late l;
    int rc = 0;
    for (size_t i = 0; rc == 0 && ova_archive_late(v, i, &l); i++)
        if (!*l.matched) /* else an earlier call got this far */
            rc = check_one(&r, &l);
    if (rc == 0) {
        pthread_mutex_lock(&v->mu);
        v->facts.manifest_verified = true;
        pthread_mutex_unlock(&v->mu);
    }
    return rc;
}
