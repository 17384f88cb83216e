/* late.c — checking a manifest that came after the members it lists, by
 * reading those members back (contract: ova_validator_verify_late in
 * ova.h; why: doc/design/perf.md, "imports/: only the digest the
 * manifest asks for").
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

#define LATE_CHUNK (8u << 20)

struct late_run {
    ova_read_fn read;
    ova_progress_fn progress;
    void *ctx;
    unsigned char *buf;
    uint64_t done, total;
};

/* Hash one member's bytes into md. 0, or a negative errno. */
static int hash_member(struct ova_validator *v, struct late_run *r,
                       const struct ova_late *l, EVP_MD_CTX *md)
{
    for (uint64_t off = 0; off < l->size;) {
        if (ova_cancelled(v))
            return -ECANCELED;
        size_t n = l->size - off < LATE_CHUNK ? (size_t)(l->size - off)
                                              : LATE_CHUNK;
        int rc = r->read(r->ctx, l->offset + off, r->buf, n);
        if (rc < 0)
            return rc;
        if (!EVP_DigestUpdate(md, r->buf, n))
            return -ENOMEM;
        off += n;
        r->done += n;
        if (r->progress)
            r->progress(r->ctx, r->done, r->total);
    }
    return 0;
}

/* Check one late line. 0 matched, -1 refused, or a negative errno. */
static int check_one(struct ova_validator *v, struct late_run *r,
                     const struct ova_late *l)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    int rc = md && EVP_DigestInit_ex(md, manifest_md(l->alg), NULL)
                 ? hash_member(v, r, l, md)
                 : -ENOMEM;
    if (rc == 0 && !EVP_DigestFinal_ex(md, dig, &dlen))
        rc = -ENOMEM;
    EVP_MD_CTX_free(md);
    if (rc != 0)
        return rc;
    if (dlen != l->dlen || memcmp(dig, l->digest, dlen) != 0) {
        struct ova_verdict vd;
        verdict_set(&vd, "manifest-mismatch", "the %s of member '%s' does "
                    "not match the manifest (checked by reading the member "
                    "back: the manifest comes after it)",
                    manifest_alg_name(l->alg), l->name);
        ova_refuse(v, &vd);
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
    struct late_run r = {read, progress, ctx, NULL, 0,
                         v->facts.manifest_read_back};
    struct ova_late l;
    int rc = 0;
    for (size_t i = 0; rc == 0 && ova_archive_late(v, i, &l); i++) {
        if (*l.matched)
            continue; /* an earlier call got this far */
        if (!r.buf && !(r.buf = malloc(LATE_CHUNK)))
            rc = -ENOMEM;
        else
            rc = check_one(v, &r, &l);
    }
    free(r.buf);
    if (rc == 0) {
        pthread_mutex_lock(&v->mu);
        v->facts.manifest_verified = true;
        pthread_mutex_unlock(&v->mu);
    }
    return rc;
}
