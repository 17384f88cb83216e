/*
 * importguest.h — the guest check (core/guest.h) of a staged object, read
 * with ranged GETs, before imports/ calls ImportImage
 * (doc/design/guest-check.md).
 *
 * Each disk is a byte range of the staged object (an OVA's members lie
 * contiguous in the tar: the validator's facts give offset and length; a
 * single disk is the whole object). Reads go through the guest check's
 * block cache (256 KiB blocks), each one ranged GET with If-Match on the
 * staged ETag, so a replaced object cannot mix two disks. The check reads
 * what it needs — typically well under a few MiB — and never more than
 * IMPORTGUEST_BUDGET.
 *
 * Failure never blocks an import: when a GET fails (network, 412, a fault)
 * the report says "not checked: reading s3://B/K failed: <why>" and the
 * caller goes on by its normal route.
 *
 * Threads: runs on the caller's thread (the importing close()); nothing is
 * shared. Errors: NULL only when out of memory.
 */
#ifndef AMIFS_CORE_IMPORTGUEST_H
#define AMIFS_CORE_IMPORTGUEST_H

#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"
#include "core/guest.h"

#define IMPORTGUEST_BUDGET (64ULL << 20)

struct importguest_disk {
    uint64_t offset;
    uint64_t length;   /* bytes of the disk inside the object */
    const char *name;  /* for the report */
};

struct guest_report *importguest_check(struct aws_client *c,
                                       const char *bucket, const char *key,
                                       const char *etag,
                                       const struct importguest_disk *d,
                                       size_t n);

#endif
