/*
 * amis.h — the amis kind of folder (fs/view.h): the AMIs of one region.
 * One module, fs/amis.c, serves amis/ (the mounted region, made by
 * fs/fs.c) and regions/REGION/amis/ (made by fs/regions.c); each is a view
 * whose self holds its region's name, the client and its own caches. A
 * view uses nothing but its view_region: region_known to check a copy-to
 * target, depth to point copy-to/REGION/ami across the tree.
 *
 * A view answers for the paths below its own root (`rel` is "" for the
 * view's directory itself, otherwise "ami-…/tags/KEY" etc., no leading
 * slash).
 *
 * Layout of a view:
 *   by-name/NAME          symlink to ../ami-… ('/' in NAME shown as %2F)
 *   ami-…/image.json      the DescribeImages item as JSON (read-only)
 *   ami-…/state           "available", "pending", "failed: reason" …
 *   ami-…/snapshots       snapshot ids, one a line
 *   ami-…/launch-permissions  account ids (and "all"), one a line; writing
 *                         shares/unshares the AMI and its snapshots on close
 *                         (at most 1,000 entries, 64 KiB: EFBIG)
 *   ami-…/tags/KEY        the tag's value; write to set (on close), rm to
 *                         delete ('/' in KEY shown as %2F, '%' as %25)
 *   ami-…/copy-to/REGION/ mkdir starts CopyImage into REGION; holds the
 *                         symlink `ami` to the copy under regions/REGION/amis
 *   rmdir ami-…           deregisters the AMI, deletes the snapshots no other
 *                         AMI uses (rm -r works: unlinking the generated
 *                         files and rmdir of tags/ and copy-to/ are accepted
 *                         and change nothing; unlinking tags/KEY deletes it)
 *
 * Writing (tags/KEY, launch-permissions): the bytes are buffered and
 * checked as they arrive (fs/amis_text.h: text only, AWS's limits); a
 * refused write poisons the open file — every later write and the close
 * fail with its errno and nothing is applied. The file is applied once,
 * whole, by its opener's close after a write (a shell's dup flush, or a
 * child that inherited the descriptor, applies nothing); a change without
 * a write (O_TRUNC alone, `touch tags/K`) is applied at release.
 * launch-permissions is applied as the difference with AWS's list, in
 * ModifyImageAttribute calls of at most 100 entries.
 *
 * DescribeImages answers are cached for the mount's cache_ttl; no lock is
 * held across an HTTP call. A view is thread-safe.
 */
#ifndef AMIFS_FS_AMIS_H
#define AMIFS_FS_AMIS_H

#include "fs/view.h"

/* The kind (its handlers take a view made by amis_view_ops.new). */
extern const struct view_ops amis_view_ops;

#endif
