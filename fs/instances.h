/*
 * instances.h — the instances kind of folder (fs/view.h): the EC2
 * instances of one region, and images made from them. One module serves
 * instances/ (the mounted region) and regions/REGION/instances/.
 *
 * Layout of a view (read-only but for the two mkdirs):
 *   i-…/info.json        the DescribeInstances item as JSON
 *   i-…/state            pending, running, stopping, stopped, …
 *   i-…/name             the Name tag ("" when none)
 *   i-…/type             the instance type
 *   i-…/volumes          EBS volume ids, one a line
 *   i-…/tags/KEY         the tag's value ('/' in KEY as %2F)
 *   i-…/image/NAME/      mkdir: CreateImage with reboot — EC2 shuts the
 *                        OS down for the snapshot, so the file systems are
 *                        consistent; the instance restarts
 *   i-…/image-noreboot/NAME/  mkdir: CreateImage with NoReboot — the disks
 *                        are snapshotted while the instance runs: crash-
 *                        consistent, like pulling the power cord
 *   …/NAME/ami           symlink to the new AMI under amis/ (pending,
 *                        then available)
 * The AMI and its snapshots are tagged Name=NAME,
 * amifs:source-instance=i-…, amifs:reboot=true|false. NAME is an AMI
 * name (3–128 characters of letters, digits and ()[] ./-'@_, '/' written
 * %2F): others are EINVAL before any call. A name already used is EEXIST
 * (EC2's InvalidAMIName.Duplicate), so a repeated mkdir never makes a
 * second image.
 *
 * DescribeInstances answers are cached for cache_ttl; one lock guards the
 * cache and the images started here, never held across an HTTP call.
 */
#ifndef AMIFS_FS_INSTANCES_H
#define AMIFS_FS_INSTANCES_H

#include "fs/view.h"

extern const struct view_ops instances_view_ops;

#endif
