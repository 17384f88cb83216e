/*
 * stagedread.h — reading a staged object back with ranged GETs: the guest
 * check's disk reader (core/importguest.h), the check of a manifest that
 * comes at the end of an OVA (ova.h, ova_validator_verify_late) and of a
 * folder's disks copied before its manifest (core/importset.c;
 * doc/design/perf.md).
 *
 * A staged_src names the object (bucket, key) as amifs completed it, its
 * ETag (each GET carries If-Match: a replaced object fails with 412
 * instead of mixing two versions) and a base offset (a member of an OVA
 * lies contiguous inside the tar). staged_read() is the reader both users
 * need: fill buf with len bytes at base+off, or fail. The first failure's
 * sentence ("reading s3://B/K failed: <why>") is written into src->why
 * (whylen bytes, kept when several readers share one buffer), so the
 * caller can say what went wrong without logging anything secret.
 *
 * Threads: a staged_src is used by one thread at a time; nothing else is
 * shared. Memory: none beyond the caller's buffers.
 */
#ifndef AMIFS_CORE_STAGEDREAD_H
#define AMIFS_CORE_STAGEDREAD_H

#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"
#include "ova/ova.h"

struct staged_src {
    struct aws_client *c;
    const char *bucket, *key;
    const char *etag;   /* "" or NULL: no If-Match */
    uint64_t base;
    char *why;          /* the first failure's sentence; "" until then */
    size_t whylen;
};

/* ctx is a struct staged_src. 0, or a negative errno (-EIO for a short
 * answer); the sentence goes to src->why. Same shape as ova_read_fn and
 * the guest check's reader. */
int staged_read(void *ctx, uint64_t off, void *buf, size_t len);

/* The manifest at the end of an OVA staged as src (base 0): reads the
 * members it lists back and checks them (ova_validator_verify_late, whose
 * return values it passes on: 0 verified, -1 refused with the verdict in
 * v, else a negative errno with the sentence in src->why). progress (may
 * be NULL) gets pctx, the bytes read so far and the total. */
int staged_verify_manifest(struct staged_src *src, struct ova_validator *v,
                           ova_progress_fn progress, void *pctx);

/* The digest in `alg` (one OVFDIR_SHA*, ova/ovfdir.h) of `size` bytes of
 * src from its base, read in 8 MiB ranged GETs into one buffer. out: 64
 * bytes. Returns the digest's length, or a negative errno (the sentence
 * in src->why). */
long staged_digest(struct staged_src *src, uint64_t size, int alg,
                   unsigned char out[64]);

#endif
