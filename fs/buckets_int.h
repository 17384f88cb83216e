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
#include "core/upload.h"
#include "fs/fs.h"

struct upload;       /* bucket_io.c */
struct stale_upload; /* janitor.c */

/* Module state (fs->buckets). */
struct bk {
    struct cache *cache;
    pthread_mutex_t lock;   /* guards `uploads` and each upload's `next` */
    struct upload *uploads; /* registered uploads in flight */

    /* The janitor (fs/janitor.c): multipart uploads of failed writes are
     * aborted again in the background until S3 confirms, so an endpoint
     * that was down while we aborted leaves no upload behind. */
    pthread_mutex_t jlock; /* guards the fields below */
    pthread_cond_t jcond;
    struct stale_upload *stale;
    bool jstop;
    bool jrunning;
    pthread_t janitor;
    /* The upload journal (fs/janitor.c): a directory of one file per
     * multipart upload in flight, so that the next mount aborts the uploads
     * of a daemon that was killed. NULL: no journal (no usable state dir).
     * Set before the janitor thread starts, then read-only. */
    char *jdir;
    /* The journal as core/upload.h reaches it (ctx: the mount); set by
     * bk_janitor_start. */
    struct uw_journal_ops jops;
};

/* A parsed rel path. `key` points into the rel string ("" for the bucket
 * itself). */
struct bpath {
    char bucket[64];
    const char *key;
};

/* 0, or -ENOENT when rel names no possible bucket/key. */
int bpath_parse(const char *rel, struct bpath *p);

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

/* ---- the janitor (janitor.c) ---- */

/* Start/stop the janitor thread. Stopping makes one last attempt for each
 * upload still pending and logs the ones that remain (bucket, key, id). */
int bk_janitor_start(struct amifs *fs);
void bk_janitor_stop(struct amifs *fs);
/* Upload journal. bk_journal_add records a multipart upload in flight and
 * returns its entry (malloc'd path; NULL when there is no journal or the
 * entry could not be written: the journal is best effort).
 * bk_journal_remove deletes and frees an entry (NULL: no-op); call it once
 * the upload is complete or aborted. At start, the janitor thread aborts the
 * uploads recorded by amifs processes that no longer run. */
char *bk_journal_add(struct amifs *fs, const char *bucket, const char *key,
                     const char *upload_id);
void bk_journal_remove(char *entry);
/* Make sure this multipart upload gets aborted (no-op for id ""). */
/* (b->jops wires core/upload.h's journal ops to these: add → journal_add,
 * done → journal_remove, abort_failed → janitor_add, keeping the entry
 * file so that the next mount aborts the upload again.) */
void bk_janitor_add(struct amifs *fs, const char *bucket, const char *key,
                    const char *upload_id);

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
