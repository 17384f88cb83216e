/*
 * view.h — folder kinds: one module per kind of folder, serving every
 * place where that folder appears, each place with its own region.
 *
 * amis/ and regions/REGION/amis/ are one kind (fs/amis.c), tasks/ and
 * regions/REGION/tasks/ another (fs/tasks.c). A kind fills a `struct
 * view_ops`: `new` makes a view (the kind's `self`) for one region from a
 * `struct view_region`, and every handler takes that self as its first
 * argument, then the mount and the path below the view's root ("" for the
 * root itself, no leading slash), with the conventions of struct
 * folder_ops (0 or a byte count, or a negative errno). A kind keeps no
 * state outside its selves.
 *
 * Who makes the views:
 *   - fs/fs.c makes one view of the mounted region for each top-level
 *     folder whose table entry names a kind (view_region_mounted() says
 *     what that region is), at FUSE init, after the folder modules before
 *     it in the table have started, and frees it at destroy, before them;
 *   - fs/regions.c makes a view per kind per region, on first use, and
 *     frees them at its destroy.
 * A view never reaches for another view or for another folder's state: what
 * it may use is in its view_region (copied or borrowed at `new`; borrowed
 * pointers outlive the view by the order above).
 *
 * Handlers may be NULL: fs/fs.c then answers as for a folder_ops without
 * the handler, fs/regions.c with EACCES (regions/ is a read-only window
 * except where a kind says otherwise). Open files: fi->fh is the kind's
 * own, as with folder_ops. Views are thread-safe; no lock is held across
 * an HTTP call.
 */
#ifndef AMIFS_FS_VIEW_H
#define AMIFS_FS_VIEW_H

#include "fs/fs.h"

struct fsimport;
struct taskcache;

/* The region a view serves. */
struct view_region {
    const char *name;          /* "eu-west-1"; never NULL (copied) */
    struct aws_client *client; /* the mount's client; requests name `name` */
    int depth;                 /* directories from the mount root to the
                                  view's root: 1 for amis/, 3 for
                                  regions/R/amis/ (for symlinks across) */
    /* The region's import tasks (borrowed; NULL when none is running). */
    struct taskcache *tasks;
    /* imports/' registry of this mount's uploads (borrowed), only for the
     * views of the mounted region's top-level folders: a view with it
     * acts (cancels, waits, shows uploads); without it, it only shows. */
    struct fsimport *registry;
    /* Whether `name` is a region of the account: 1 yes, 0 no (or not
     * shaped like a region name), -errno when it cannot be told. */
    int (*region_known)(struct amifs *fs, const char *name);
};

struct view_ops {
    const char *name; /* the folder's name: "amis" */
    /* The view reads its region's import tasks: regions/ starts a poller
     * for a region that has none before calling new. */
    bool needs_tasks;
    /* A view for region r; NULL with *rc set (-ENOMEM, -EIO). */
    void *(*new)(struct amifs *fs, const struct view_region *r, int *rc);
    void (*free)(void *self);

    int (*getattr)(void *self, struct amifs *fs, const char *rel,
                   struct stat *st, struct fuse_file_info *fi);
    int (*readdir)(void *self, struct amifs *fs, const char *rel, void *buf,
                   fuse_fill_dir_t filler);
    int (*readlink)(void *self, struct amifs *fs, const char *rel, char *out,
                    size_t n);
    int (*open)(void *self, struct amifs *fs, const char *rel,
                struct fuse_file_info *fi);
    int (*create)(void *self, struct amifs *fs, const char *rel, mode_t mode,
                  struct fuse_file_info *fi);
    int (*read)(void *self, struct amifs *fs, const char *rel, char *buf,
                size_t n, off_t off, struct fuse_file_info *fi);
    int (*write)(void *self, struct amifs *fs, const char *rel,
                 const char *buf, size_t n, off_t off,
                 struct fuse_file_info *fi);
    int (*flush)(void *self, struct amifs *fs, const char *rel,
                 struct fuse_file_info *fi);
    int (*release)(void *self, struct amifs *fs, const char *rel,
                   struct fuse_file_info *fi);
    int (*truncate)(void *self, struct amifs *fs, const char *rel,
                    off_t size, struct fuse_file_info *fi);
    int (*unlink)(void *self, struct amifs *fs, const char *rel);
    int (*rename)(void *self, struct amifs *fs, const char *from,
                  const char *to, unsigned int flags);
    int (*mkdir)(void *self, struct amifs *fs, const char *rel, mode_t mode);
    int (*rmdir)(void *self, struct amifs *fs, const char *rel);
};

/* The mounted region as a view_region (depth 1): the client's region, the
 * task cache and registry of imports/ when imports/ runs (else NULL), and
 * regions_known. Strings and pointers borrowed from fs. */
void view_region_mounted(struct amifs *fs, struct view_region *out);

/* fs/regions.c: whether `name` is a region of the account (DescribeRegions,
 * cached; a name not shaped like a region is no region). 1 yes, 0 no, or
 * -errno when it cannot be told (then callers may accept the name). */
int regions_known(struct amifs *fs, const char *name);

/* Read-only text files whose whole text is made at open(): a kind that
 * serves such files renders into a fresh buffer and hands it over.
 *   view_text_new()     a buffer to render into (NULL: out of memory).
 *   view_text_open()    takes b (also on error: freed) and makes it the
 *                       open file's handle (direct_io: the size need not be
 *                       known at getattr); 0 always.
 *   view_text_drop()    frees a buffer view_text_new gave that is not
 *                       handed over.
 *   view_text_read()    serves read(2) from the handle's text (-EBADF when
 *                       the handle has none).
 *   view_text_release() frees it.
 * The handle belongs to the open file: no locks, one owner. */
struct buf *view_text_new(void);
void view_text_drop(struct buf *b);
int view_text_open(struct fuse_file_info *fi, struct buf *b);
int view_text_read(void *self, struct amifs *fs, const char *rel, char *buf,
                   size_t n, off_t off, struct fuse_file_info *fi);
int view_text_release(void *self, struct amifs *fs, const char *rel,
                      struct fuse_file_info *fi);

/* Small helpers the folder kinds share.
 *   view_now()   monotonic seconds (cache ages; never the wall clock).
 *   view_split() splits the path `tmp` in place at '/' into at most max
 *                components c[]; their count, or -ENOENT for an empty
 *                component or more than max. "" gives 0. */
double view_now(void);
int view_split(char *tmp, char **c, int max);

/* More helpers, each once for every kind that needs it.
 *   view_aws_fail()  logs a failed AWS call as "FOLDER: WHAT: message"
 *                    (error level, the message as aws_error_format gives
 *                    it: no secrets) and returns its -errno (aws/err.c's
 *                    table; -EIO when it has none).
 *   view_ami_name_ok() whether s is an AMI name as EC2 takes it: 3–128 of
 *                    letters, digits and ()[] ./'@_- (checked before a
 *                    CreateImage/RegisterImage is sent).
 *   view_fill_name() lists s (a tag value or key, decoded) under its
 *                    encoded name (core/name.h); nothing when s is empty
 *                    or its encoding is over 1536 bytes.
 *   view_text_slice() copies the bytes of b from off (at most n) to out:
 *                    their count, 0 at or past the end. */
int view_aws_fail(struct amifs *fs, const char *folder, const char *what,
                  const struct aws_error *err);
bool view_ami_name_ok(const char *s);
void view_fill_name(void *buf, fuse_fill_dir_t filler, const char *s);
int view_text_slice(const struct buf *b, char *out, size_t n, off_t off);

#endif
