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

/* The first snapshot task of a forced route that did not finish (no
 * mark): a remount resumes it. Completed or not: its snapshot alone is
 * not the outcome, the AMI is. */
bool snaproute_forced_lead(const struct ec2_import_task *t)
{
    const char *disk = status_tag(&t->tags, SNAPROUTE_TAG_DISK);
    return t->import_task_id &&
           strncmp(t->import_task_id, "import-snap-", 12) == 0 &&
           streq(status_tag(&t->tags, SNAPROUTE_TAG_ROUTE), "snapshot") &&
           disk && strncmp(disk, "1/", 2) == 0 &&
           !status_tag(&t->tags, SNAPROUTE_TAG_AMI) &&
           !streq(t->status, "deleting") && !streq(t->status, "deleted");
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
    bool snap = t->import_task_id &&
                strncmp(t->import_task_id, "import-snap-", 12) == 0;
    if ((failed(t) || snap) && ami && strncmp(ami, "ami-", 4) == 0) {
        char id[64];
        snprintf(id, sizeof id, "%s", ami);
        int rc = keep_first(t);
        if (rc == 0)
            rc = set(&t->status, "completed");
        if (rc == 0)
            rc = set(&t->image_id, id);
        return rc;
    }
    if (!snaproute_wants(t) && !snaproute_forced_lead(t))
        return 0;
    char line[1024];
    bool forced = !failed(t);
    if (forced)
        snprintf(line, sizeof line, "snapshot-route resuming");
    else
        snprintf(line, sizeof line, "snapshot-route (ImportImage: %s)",
                 bare(t->status_message));
    int rc = forced ? 0 : keep_first(t);
    if (rc == 0 && import_tag_set(&t->tags, TASKCACHE_TAG_REROUTE, "1") != 0)
        rc = -ENOMEM;
    if (rc == 0)
        rc = set(&t->status, "active");
    if (rc == 0)
        rc = set(&t->status_message, line);
    if (rc == 0)
        rc = set(&t->progress, forced ? "10" : "40");
    return rc;
}

/* ---- import-snapshot tasks in the cache --------------------------------- */

static void drop_tag(struct ec2_tags *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (streq(t->v[i].key, key)) {
            free(t->v[i].key);
            free(t->v[i].value);
            memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof *t->v);
            t->n--;
            return;
        }
}

/* Whether a snapshot task is the one a route shows under (a forced route's
 * first disk); the other disks of a route are listed under their own ids
 * but do not take the file's name (tasks/NAME stays the route's). */
static bool route_lead(const struct ec2_tags *tags)
{
    const char *disk = status_tag(tags, SNAPROUTE_TAG_DISK);
    const char *route = status_tag(tags, SNAPROUTE_TAG_ROUTE);
    return !disk || (streq(route, "snapshot") && strncmp(disk, "1/", 2) == 0);
}

int taskcache_from_snapshot_task(struct ec2_import_snapshot_task *s,
                                 struct ec2_import_task *out)
{
    memset(out, 0, sizeof *out);
    out->snapshots = calloc(1, sizeof *out->snapshots);
    if (!out->snapshots)
        return -ENOMEM;
    int rc = set(&out->status, s->detail.status);
    if (rc == 0)
        rc = set(&out->status_message, s->detail.status_message);
    if (rc == 0)
        rc = set(&out->progress, s->detail.progress);
    out->import_task_id = s->import_task_id;
    out->description = s->description;
    out->encrypted = s->encrypted;
    out->snapshots[0] = s->detail;
    out->nsnapshots = 1;
    out->tags = s->tags;
    memset(s, 0, sizeof *s); /* moved */
    if (!route_lead(&out->tags))
        drop_tag(&out->tags, STATUS_TAG_NAME);
    return rc;
}
