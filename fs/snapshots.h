/*
 * snapshots.h — the snapshots kind of folder (fs/view.h): the account's
 * EBS snapshots of one region. One module serves snapshots/ (the mounted
 * region) and regions/REGION/snapshots/.
 *
 * Layout:
 *   snap-…/info.json     SnapshotId, State, Description, VolumeSize,
 *                        Encrypted, KmsKeyId, Tags (as the CLI names them)
 *   snap-…/state         pending, completed, error
 *   snap-…/size          the volume size in GiB
 *   snap-…/amis          the AMIs (of this account and region) that use it
 *   snap-…/tags/KEY      the tag's value (read-only here)
 *   snap-…/register/NAME/  mkdir: RegisterImage with the snapshot as root
 *                        volume (hvm, /dev/sda1, ENA on; architecture and
 *                        boot mode from the mount's architecture= and
 *                        boot_mode= options, else x86_64 and EC2's
 *                        default); holds the symlink `ami` to amis/
 *   orphans/snap-…       a snapshot VM Import made ("Created by
 *                        AWS-VMImport service…") that no AMI uses any
 *                        more: reading shows its size; rm deletes it
 *                        (DeleteSnapshot, after checking again that no
 *                        AMI uses it)
 *   orphans/dry-run      what `rm orphans/snap-*` would free: one line per
 *                        orphan and the total GiB
 * Everything else is read-only (EROFS). NAME is an AMI name (3–128 of
 * letters, digits and ()[] ./'@_-, '/' written %2F), else EINVAL with no
 * call; a name in use is EEXIST.
 *
 * DescribeSnapshots and DescribeImages answers are cached together for
 * cache_ttl; one lock guards the cache, never held across an HTTP call.
 */
#ifndef AMIFS_FS_SNAPSHOTS_H
#define AMIFS_FS_SNAPSHOTS_H

#include "fs/view.h"

extern const struct view_ops snapshots_view_ops;

#endif
