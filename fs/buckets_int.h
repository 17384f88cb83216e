/*
 * buckets_int.h — shared between fs/buckets.c (the namespace: listings,
 * mkdir/rmdir/unlink/rename, xattrs), fs/bucket_io.c (open files:
 * ranged-GET reads and streaming multipart writes; the uploads in flight)
 * and fs/bucket_keys.c (names to keys, lookups, our own changes in the
 * cache: fs/bucket_keys.h, which this header includes). Each of them
 * uses only what is below it: buckets.c -> bucket_io.c -> bucket_keys.c.
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
#include "fs/bucket_keys.h"
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

/* Whether rel ("BUCKET/KEY") names a stored-AMI object as
 * CreateStoreImageTask writes it (`ami-HEX.bin` at the bucket's top): the
 * AMI id's length (0: not one), copied into out when it fits (not
 * terminated). Names only: no request (doc/design/exports.md). */
size_t stored_ami(const char *rel, char *out, size_t n);

static inline struct bk *bk_of(struct amifs *fs)
{
    return fs->buckets;
}

/* ---- uploads (bucket_io.c) ---- */

/* What rel is: from uploads in flight, then the cache or S3
 * (bk_lookup_stored, fs/bucket_keys.h). 0 with *a filled (kind FILE or
 * DIR), or -errno (-ENOENT when absent). */
int bk_lookup(struct amifs *fs, const char *rel, struct cache_attr *a);

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
