/*
 * regioncopy.h — copies of completed AMIs to other regions (CopyToRegions,
 * doc/design/fleet.md "One drop, AMIs in several regions").
 *
 * One copier per mount, with one worker thread. fs/imports.c hands it a
 * completed import (regioncopy_add: the AMI, its region, the target
 * regions, the tags); the worker then, every `interval` seconds:
 *   - for a region not started yet: CopyImage sent to that region, with a
 *     ClientToken derived from (source AMI, region) so that a retry or a
 *     second mount asking for the same copy gets the same image, then
 *     CreateTags on the copy in that region (the import's tags plus
 *     amifs:copied-from = "REGION/ami-…");
 *   - for a started copy not yet available: DescribeImages in its region.
 * A refused CopyImage or CreateTags is recorded as the region's state
 * ("failed: <AWS error>") and not retried; a network error is retried at
 * the next round.
 *
 * regioncopy_render writes tasks/NAME/copies: one line per region,
 * "REGION STATE [AMI]" with STATE one of waiting (the import has not
 * completed), copying, pending, available, failed: … — from memory, no
 * network.
 *
 * Threads: every function is thread-safe; no lock is held across a
 * network call. The copier owns copies of every string it is given.
 */
#ifndef AMIFS_CORE_REGIONCOPY_H
#define AMIFS_CORE_REGIONCOPY_H

#include "aws/buf.h"
#include "aws/client.h"
#include "aws/ec2.h"
#include "aws/log.h"

struct regioncopy;

/* No thread yet; NULL when out of memory. `c` and `lg` are borrowed. */
struct regioncopy *regioncopy_new(struct aws_client *c, double interval,
                                  const struct aws_logger *lg);
int regioncopy_start(struct regioncopy *rc);
/* Stop the worker and free. Copies already sent go on in AWS. */
void regioncopy_free(struct regioncopy *rc);

/* Copy `ami` (in src_region, NULL: the client's) to every region of the
 * comma-separated `regions` (the source region itself is skipped). `key`
 * identifies the import (its staged key) for regioncopy_render. A second
 * call for the same key adds nothing. 0 or -ENOMEM. */
int regioncopy_add(struct regioncopy *rc, const char *key, const char *ami,
                   const char *src_region, const char *regions,
                   const struct ec2_tags *tags);

/* The `copies` text of import `key`; `regions` (comma-separated) lists
 * the regions asked for, shown "waiting" until regioncopy_add. 0 or
 * -errno. */
int regioncopy_render(struct regioncopy *rc, const char *key,
                      const char *regions, struct buf *out);

/* Pure helper (unit tests): the CopyImage ClientToken, 64 hex chars. */
void regioncopy_token(const char *ami, const char *region, char out[65]);

#endif
