/* importguest.c — the guest check over ranged GETs of the staged object.
 * See core/importguest.h. */
#include "core/importguest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aws/s3.h"

struct ranged {
    struct aws_client *c;
    const char *bucket, *key, *etag;
    uint64_t base;
    char *why;          /* the first failure, shared by the disks */
    size_t whylen;
};

static int ranged_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct ranged *r = ctx;
    size_t got = 0;
    struct aws_error err;
    aws_error_clear(&err);
    if (s3_get_range_into(r->c, r->bucket, r->key, r->base + off, len,
                          r->etag && *r->etag ? r->etag : NULL, buf, &got,
                          &err) != 0) {
        if (!r->why[0]) {
            char msg[400];
            aws_error_format(&err, msg, sizeof msg);
            snprintf(r->why, r->whylen, "reading s3://%s/%s failed: %s",
                     r->bucket, r->key, msg);
        }
        int e = aws_error_errno(&err);
        return -(e ? e : EIO);
    }
    if (got != len) {
        if (!r->why[0])
            snprintf(r->why, r->whylen, "reading s3://%s/%s: short read",
                     r->bucket, r->key);
        return -EIO;
    }
    return 0;
}

struct guest_report *importguest_check(struct aws_client *c,
                                       const char *bucket, const char *key,
                                       const char *etag,
                                       const struct importguest_disk *d,
                                       size_t n)
{
    struct ranged rd[GUEST_MAX_DISKS];
    struct guest_disk gd[GUEST_MAX_DISKS];
    char why[600] = "";
    if (n > GUEST_MAX_DISKS)
        n = GUEST_MAX_DISKS;
    for (size_t i = 0; i < n; i++) {
        rd[i] = (struct ranged){c, bucket, key, etag, d[i].offset, why,
                                sizeof why};
        gd[i] = (struct guest_disk){ranged_read, &rd[i], d[i].length,
                                    d[i].name};
    }
    struct guest_report *r = guest_check(gd, n, IMPORTGUEST_BUDGET);
    if (r && why[0] && guest_report_verdict(r) == GUEST_NOT_CHECKED) {
        guest_report_free(r);
        r = guest_report_unread(why);
    }
    return r;
}
