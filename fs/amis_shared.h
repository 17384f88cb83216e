/*
 * amis_shared.h — amis/shared/: the AMIs other accounts let this account
 * launch (DescribeImages ExecutableBy=self, owned by another account), in
 * the view's region. fs/amis.c owns one per view and hands it every path
 * below "shared" (rel is "" for shared/ itself, else "ami-…/state" …).
 *
 * Layout (read-only; every change but mkdir copy-to/DIR is EROFS):
 *   shared/ami-…/image.json   the DescribeImages item as JSON
 *   shared/ami-…/state        "available", "pending", …
 *   shared/ami-…/owner        the owning account id
 *   shared/ami-…/snapshots    snapshot ids (the owner's), one a line
 *   shared/ami-…/copy-to/DIR/ mkdir copies the AMI into this account:
 *                             DIR is REGION or REGION@KEY as in amis/
 *                             (fs/amis_kms.h amis_copy_start), so the copy
 *                             can be under this account's own key; holds
 *                             the symlink `ami` to the copy under
 *                             regions/REGION/amis/
 *
 * The listing is cached for the mount's cache_ttl; one lock guards the
 * cache and the copies started here, never held across an HTTP call.
 * Thread-safe.
 */
#ifndef AMIFS_FS_AMIS_SHARED_H
#define AMIFS_FS_AMIS_SHARED_H

#include <sys/stat.h>

#include "aws/buf.h"
#include "fs/fs.h"

struct amis_shared;

/* For the view of `region` (copied) with the client (borrowed); up is
 * the path from shared/ami-…/copy-to/DIR/ back to the mount root
 * ("../../…/"). region_known as in fs/view.h (may be NULL). NULL when out
 * of memory. */
struct amis_shared *amis_shared_new(struct aws_client *c, const char *region,
                                    const char *up,
                                    int (*region_known)(struct amifs *,
                                                        const char *));
void amis_shared_free(struct amis_shared *sh);

/* The handlers below take rel relative to shared/ and answer like the
 * folder_ops they stand for: 0 or a negative errno. Each may refresh the
 * listing first (one DescribeImages, outside the lock); -ENOENT for an
 * image no other account shares with this one (any more), the AWS errno
 * when the listing cannot be read. */

/* Directories (shared/, ami-…/, copy-to/, copy-to/DIR/), the read-only
 * files (their size is the rendered text's), and the symlink ami. */
int amis_shared_getattr(struct amis_shared *sh, struct amifs *fs,
                        const char *rel, struct stat *st);
/* The entries of a directory (with "." and ".."); -ENOTDIR for a file. */
int amis_shared_readdir(struct amis_shared *sh, struct amifs *fs,
                        const char *rel, void *buf, fuse_fill_dir_t filler);
/* copy-to/DIR/ami: the relative target regions/REGION/amis/ami-… of a copy
 * started by this mount; -EINVAL for any other node. */
int amis_shared_readlink(struct amis_shared *sh, struct amifs *fs,
                         const char *rel, char *out, size_t n);
/* The bytes of a file (for open): 0, -ENOENT, -EISDIR or the AWS errno. */
int amis_shared_render(struct amis_shared *sh, struct amifs *fs,
                       const char *rel, struct buf *out);
/* Only copy-to/DIR is a directory one makes: it starts the copy
 * (amis_copy_start: the key resolved, CopyImage, the snapshots checked)
 * and returns when CopyImage has answered; -EEXIST when this mount has
 * started that copy already, -EROFS for any other name. */
int amis_shared_mkdir(struct amis_shared *sh, struct amifs *fs,
                      const char *rel);

#endif
