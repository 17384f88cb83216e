/*
 * amis.h — the amis/ view of one region, shared by fs/amis.c (the folder
 * amis/ of the mounted region) and fs/regions.c (regions/REGION/amis/).
 *
 * A view answers for the paths below its own root (`rel` is "" for the
 * view's directory itself, otherwise "ami-…/tags/KEY" etc., no leading
 * slash), with the same conventions as struct folder_ops: 0 or a byte count
 * on success, a negative errno on failure.
 *
 * Layout of a view:
 *   by-name/NAME          symlink to ../ami-… ('/' in NAME shown as %2F)
 *   ami-…/image.json      the DescribeImages item as JSON (read-only)
 *   ami-…/state           "available", "pending", "failed: reason" …
 *   ami-…/snapshots       snapshot ids, one a line
 *   ami-…/launch-permissions  account ids (and "all"), one a line; writing
 *                         shares/unshares the AMI and its snapshots on close
 *   ami-…/tags/KEY        the tag's value; write to set (on close), rm to
 *                         delete ('/' in KEY shown as %2F, '%' as %25)
 *   ami-…/copy-to/REGION/ mkdir starts CopyImage into REGION; holds the
 *                         symlink `ami` to the copy under regions/REGION/amis
 *   rmdir ami-…           deregisters the AMI, deletes the snapshots no other
 *                         AMI uses (rm -r works: unlinking the generated
 *                         files and rmdir of tags/ and copy-to/ are accepted
 *                         and change nothing; unlinking tags/KEY deletes it)
 *
 * DescribeImages answers are cached for the mount's cache_ttl; no lock is
 * held across an HTTP call. A view is thread-safe.
 */
#ifndef AMIFS_FS_AMIS_H
#define AMIFS_FS_AMIS_H

#include "fs/fs.h"

struct amis_view;

/* region: the view's region (copied); NULL means the client's region.
 * depth: how many directories lie between the mount root and the view's
 * root (1 for amis/, 3 for regions/R/amis/), to build symlinks that point
 * across the tree. NULL when out of memory. */
struct amis_view *amis_view_new(struct amifs *fs, const char *region,
                                int depth);
void amis_view_free(struct amis_view *v);
/* The view's region (never NULL). */
const char *amis_view_region(const struct amis_view *v);

int amis_view_getattr(struct amis_view *v, struct amifs *fs, const char *rel,
                      struct stat *st, struct fuse_file_info *fi);
int amis_view_readdir(struct amis_view *v, struct amifs *fs, const char *rel,
                      void *buf, fuse_fill_dir_t filler);
int amis_view_readlink(struct amis_view *v, struct amifs *fs,
                       const char *rel, char *out, size_t n);
int amis_view_open(struct amis_view *v, struct amifs *fs, const char *rel,
                   struct fuse_file_info *fi);
int amis_view_create(struct amis_view *v, struct amifs *fs, const char *rel,
                     mode_t mode, struct fuse_file_info *fi);
int amis_view_read(struct amis_view *v, struct amifs *fs, const char *rel,
                   char *buf, size_t n, off_t off, struct fuse_file_info *fi);
int amis_view_write(struct amis_view *v, struct amifs *fs, const char *rel,
                    const char *buf, size_t n, off_t off,
                    struct fuse_file_info *fi);
int amis_view_flush(struct amis_view *v, struct amifs *fs, const char *rel,
                    struct fuse_file_info *fi);
int amis_view_release(struct amis_view *v, struct amifs *fs, const char *rel,
                      struct fuse_file_info *fi);
int amis_view_truncate(struct amis_view *v, struct amifs *fs, const char *rel,
                       off_t size, struct fuse_file_info *fi);
int amis_view_unlink(struct amis_view *v, struct amifs *fs, const char *rel);
/* Only tags/K -> tags/K2 of the same AMI (the value moves); else -EPERM. */
int amis_view_rename(struct amis_view *v, struct amifs *fs, const char *from,
                     const char *to, unsigned int flags);
int amis_view_mkdir(struct amis_view *v, struct amifs *fs, const char *rel,
                    mode_t mode);
int amis_view_rmdir(struct amis_view *v, struct amifs *fs, const char *rel);

/* fs/regions.c: whether `name` is a region of the account (DescribeRegions,
 * cached). 1 yes, 0 no, or -errno when it cannot be told (then callers may
 * accept a well-formed name). */
int regions_known(struct amifs *fs, const char *name);
/* Whether `name` is shaped like a region name ("eu-west-1"). */
bool regions_name_ok(const char *name);

#endif
