/*
 * buckets_int.h — shared between fs/buckets.c (the namespace: lookups,
 * listings, mkdir/rmdir/unlink/rename, xattrs) and fs/bucket_io.c (open
 * files: ranged-GET reads and streaming multipart writes).
 *
 * Paths: `rel` is what the dispatcher hands the module, "BUCKET" or
 * "BUCKET/KEY..." (never a leading slash). The cache is keyed by rel.
 *
 * Uploads in flight (files open for writing) are registered by rel in
 * `struct bk`, so getattr/readdir show them with their size so far while
 * the writer is still writing. The registry lock is held only for list work.
 */
#ifndef AMIFS_FS_BUCKETS_INT_H
#define AMIFS_FS_BUCKETS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "aws/mpu.h"
#include "aws/s3.h"
#include "core/cache.h"
#include "core/readpool.h"
#include "core/upload.h"
#include "fs/fs.h"

struct upload;       /* bucket_io.c */

/* Module state (fs->buckets). */
struct bk {
    struct cache *cache;
    pthread_mutex_t lock;   /* guards `uploads` and each upload's `next` */
    struct upload *uploads; /* registered uploads in flight */
    /* Largest object a rename copies with one CopyObject; above it the
     * copy is multipart (UploadPartCopy). 0 = S3's 5 GiB. Tests lower it
     * with the environment variable AMIFS_TEST_COPY_LIMIT (bytes; read
     * once at mount; doc/TESTING.md), not a user setting. */
    uint64_t copy_limit;
    /* Read-ahead of every open file (core/readpool.h): budget
     * read_memory, read_concurrency workers; fs/bucket_io.c uses it. */
    struct read_pool *reads;
};

/* A parsed rel path: the bucket and the S3 key the names after it stand
 * for ("" for the bucket itself), decoded by the rules of core/name.h (a
 * listing shows odd keys under escaped names; see fs/buckets.c). The key
 * is a copy, so a struct bpath may be copied. */
struct bpath {
    char bucket[64];
    char key[1025];    /* S3 keys are at most 1024 bytes */
    bool object_only;  /* the name can only be an object, never a prefix:
                          the shadow form "NAME%", or a key whose last name
                          holds "/" or is "." or ".." */
    bool shadowed;     /* the "NAME%" form */
};

/* 0, or -ENOENT when rel names no possible bucket/key (a name that is not
 * canonical, a key over 1024 bytes, an escaped name used as a directory). */
int bpath_parse(const char *rel, struct bpath *p);

/* Whether rel ("BUCKET/KEY") names a stored-AMI object as
 * CreateStoreImageTask writes it (`ami-HEX.bin` at the bucket's top): the
 * AMI id's length (0: not one), copied into out when it fits (not
 * terminated). Names only: no request (doc/design/exports.md). */
size_t stored_ami(const char *rel, char *out, size_t n);

static inline struct bk *bk_of(struct amifs *fs)
{
    return fs->buckets;
}

/* What rel is: from uploads in flight, the cache, or S3 (HEAD, then a
 * one-key listing for a prefix). 0 with *a filled (kind FILE or DIR), or
 * -errno (-ENOENT when absent). */
int bk_lookup(struct amifs *fs, const char *rel, struct cache_attr *a);

/* Record a file we just wrote/copied: rel as FILE and each parent prefix
 * as DIR, so it is visible at once. */
void bk_note_file(struct amifs *fs, const char *rel, uint64_t size,
                  const char *etag);

/* Server-side copy of from to to (same bucket), then delete from; the
 * cache follows. 0 or -errno. */
int bk_move_object(struct amifs *fs, const char *from_rel, const char *to_rel,
                   uint64_t size);

/* Log an AWS failure of `what` on rel and return its -errno. */
int bk_fail(struct amifs *fs, const char *what, const char *rel,
            const struct aws_error *err);

/* ---- uploads (bucket_io.c) ---- */

/* Size so far of the upload in flight at rel: 1 with *a filled (FILE); a
 * directory with an upload in flight below it: 1 with *a a DIR (it exists
 * without asking the server); 0 otherwise. */
int bk_upload_attr(struct bk *b, const char *rel, struct cache_attr *a);
/* Call fn for each upload whose rel is directly inside dir. */
void bk_uploads_in(struct bk *b, const char *dir,
                   void (*fn)(void *ctx, const char *name), void *ctx);
/* An upload in flight at or below rel ("p" matches "p/x"): 1, else 0. */
int bk_upload_busy(struct bk *b, const char *rel, bool below);
/* rename of an upload in flight: from now on the tree shows it as `to`,
 * and completing it moves the object there. 1 renamed, 0 no upload in
 * flight at from, -EBUSY when `to` is being written too. */
int bk_upload_rename(struct bk *b, const char *from, const char *to);
/* rm of an upload in flight: abort it (its writer's next call fails with
 * ECANCELED). 1 when one was aborted, 0 when none was in flight, -EBUSY
 * when its close is completing right now (that close wins). */
int bk_upload_cancel(struct bk *b, const char *rel);
/* Unmount: abort and free every upload still registered. */
void bk_uploads_destroy(struct amifs *fs);

int bk_open(struct amifs *fs, const char *rel, struct fuse_file_info *fi);
int bk_create(struct amifs *fs, const char *rel, mode_t mode,
              struct fuse_file_info *fi);
int bk_read(struct amifs *fs, const char *rel, char *buf, size_t n, off_t off,
            struct fuse_file_info *fi);
int bk_write(struct amifs *fs, const char *rel, const char *buf, size_t n,
             off_t off, struct fuse_file_info *fi);
int bk_flush(struct amifs *fs, const char *rel, struct fuse_file_info *fi);
int bk_release(struct amifs *fs, const char *rel, struct fuse_file_info *fi);
int bk_truncate(struct amifs *fs, const char *rel, off_t size,
                struct fuse_file_info *fi);

#endif
