/* taskcache_route.c — how the task cache shows an ImportImage task that
 * the snapshot route continues (core/snaproute.h, core/taskcache.h:
 * taskcache_reroute_view). Pure: no I/O, no locks. */
#include "core/snaproute.h"
#include "core/params.h"
#include "core/status.h"
#include "core/taskcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool failed(const struct ec2_import_task *t)
{
    return streq(t->status, "deleting") || streq(t->status, "deleted");
}

bool snaproute_os_cause(const char *msg)
{
    static const char *const CAUSES[] = {
        "Unknown OS", "Missing OS", "Unsupported OS", "unsupported operating",
        "kernel", "GRUB", "bootloader", "boot loader", "BLS", "initrd",
        "initramfs", "Unsupported Windows", "not supported for import",
        "architecture",
    };
    if (!msg || strcasestr(msg, "cancel"))
        return false;
    for (size_t i = 0; i < sizeof CAUSES / sizeof CAUSES[0]; i++)
        if (strcasestr(msg, CAUSES[i]))
            return true;
    return false;
}

bool snaproute_wants(const struct ec2_import_task *t)
{
    return failed(t) && streq(status_tag(&t->tags, SNAPROUTE_TAG_ROUTE),
                              "auto") &&
           !status_tag(&t->tags, SNAPROUTE_TAG_AMI) &&
           snaproute_os_cause(t->status_message);
}

/* AWS's "CLIENT_ERROR : " prefix off (as core/status.c shows it). */
static const char *bare(const char *msg)
{
    const char *sep = msg ? strstr(msg, "_ERROR : ") : NULL;
    return !msg ? "" : sep && sep - msg <= 16 ? sep + 9 : msg;
}

static int set(char **f, const char *v)
{
    char *d = v ? strdup(v) : NULL;
    if (v && !d)
        return -ENOMEM;
    free(*f);
    *f = d;
    return 0;
}

static int keep_first(struct ec2_import_task *t)
{
    if (status_tag(&t->tags, SNAPROUTE_TAG_FIRST))
        return 0;
    return import_tag_set(&t->tags, SNAPROUTE_TAG_FIRST,
                          bare(t->status_message)) == 0 ? 0 : -ENOMEM;
}

int taskcache_reroute_view(struct ec2_import_task *t)
{
    const char *ami = status_tag(&t->tags, SNAPROUTE_TAG_AMI);
    if (failed(t) && ami && strncmp(ami, "ami-", 4) == 0) {
        char id[64];
        snprintf(id, sizeof id, "%s", ami);
        int rc = keep_first(t);
        if (rc == 0)
            rc = set(&t->status, "completed");
        if (rc == 0)
            rc = set(&t->image_id, id);
        return rc;
    }
    if (!snaproute_wants(t))
        return 0;
    char line[1024];
    snprintf(line, sizeof line, "snapshot-route (ImportImage: %s)",
             bare(t->status_message));
    int rc = keep_first(t);
    if (rc == 0 && import_tag_set(&t->tags, TASKCACHE_TAG_REROUTE, "1") != 0)
        rc = -ENOMEM;
    if (rc == 0)
        rc = set(&t->status, "active");
    if (rc == 0)
        rc = set(&t->status_message, line);
    if (rc == 0)
        rc = set(&t->progress, "40");
    return rc;
}
