/*
 * amis_store.h — amis/ami-…/store/: CreateStoreImageTask as a directory
 * (doc/design/exports.md).
 *
 * `mkdir amis/ami-…/store` stores the AMI in the mount's staging bucket
 * (AWS names the object ami-….bin, at the bucket's top: the call has no
 * prefix). The directory exists while AWS reports a store task of the AMI
 * (DescribeStoreImageTasks keeps them 31 days) and holds
 *   status    "active: storing, 40%", "completed: s3://B/ami-….bin",
 *             "failed: reason"
 *   progress  0..100
 * rmdir of it changes nothing (rm -r passes through, as for copy-to/).
 *
 * Stateless: every call asks AWS (no cache, no lock). fs/amis.c calls
 * these from its handlers; errors are -errno (AWS errors logged, refusals
 * of mkdir in .amifs/errors with the fix).
 */
#ifndef AMIFS_FS_AMIS_STORE_H
#define AMIFS_FS_AMIS_STORE_H

#include "aws/buf.h"
#include "fs/fs.h"

int amis_store_start(struct amifs *fs, struct aws_client *c,
                     const char *region, const char *ami, const char *rel);

/* file "status" or "progress" into out; -ENOENT when AWS knows no store
 * task of the AMI (or file is neither). */
int amis_store_render(struct amifs *fs, struct aws_client *c,
                      const char *region, const char *ami, const char *file,
                      struct buf *out);

/* Whether file names one of store/'s files. */
bool amis_store_file(const char *file, size_t len);

#endif
