/* importguest.c — the guest check over ranged GETs of the staged object.
 * See core/importguest.h. */
#include "core/importguest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/stagedread.h"

struct guest_report *importguest_check(struct aws_client *c,
                                       const char *bucket, const char *key,
                                       const char *etag,
                                       const struct importguest_disk *d,
                                       size_t n)
{
    struct staged_src rd[GUEST_MAX_DISKS];
    struct guest_disk gd[GUEST_MAX_DISKS];
    char why[600] = "";
    if (n > GUEST_MAX_DISKS)
        n = GUEST_MAX_DISKS;
    for (size_t i = 0; i < n; i++) {
        rd[i] = (struct staged_src){c, bucket, key, etag, d[i].offset, why,
                                    sizeof why};
        gd[i] = (struct guest_disk){staged_read, &rd[i], d[i].length,
                                    d[i].name};
    }
    struct guest_report *r = guest_check(gd, n, IMPORTGUEST_BUDGET);
    if (r && why[0] && guest_report_verdict(r) == GUEST_NOT_CHECKED) {
        guest_report_free(r);
        r = guest_report_unread(why);
    }
    return r;
}
