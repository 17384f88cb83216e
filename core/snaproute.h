/*
 * snaproute.h — the snapshot route: ImportSnapshot per disk, then one
 * RegisterImage (doc/design/snapshot-route.md, doc/CONTRACT.md "The
 * snapshot route").
 *
 * Why: ImportImage refuses guests it cannot "update" (kernels it does not
 * know, BLS boot entries, unknown releases, arm64, uefi-preferred), often
 * after half an hour. ImportSnapshot copies blocks and looks at nothing;
 * RegisterImage then makes the AMI from the snapshots, with what
 * ImportImage cannot take (boot mode uefi-preferred, arm64, ENA, TPM v2.0,
 * IMDSv2, the root device name).
 *
 * A plan (struct snapplan) says everything the route needs: the staged
 * object, each disk's byte range inside it (an OVA's members lie
 * contiguous in the tar: the validator's facts give offset and length;
 * a single disk is the whole object), and what RegisterImage gets. A plan
 * travels as one tag value (amifs:snapplan, ≤ 256 characters) on the
 * ImportImage task (route=auto) and on the import-snapshot tasks, so a
 * later mount can pick up a route a killed daemon left half-way: every
 * step is idempotent — the carved objects are copied again, ImportSnapshot
 * carries a client token derived from the staged object, RegisterImage
 * uses a name derived from the staged key (a second call fails with
 * InvalidAMIName.Duplicate and the existing AMI is taken).
 *
 * The runner (struct snaproute) runs routes on threads of its own, one per
 * route, and shows each as a task in the mount's task cache
 * (core/taskcache.h: taskcache_overlay), under the ImportImage task's id
 * for a fallback, or under the first import-snapshot task's id for a
 * forced route:
 *   active snapshot-route (ImportImage: <first failure>) N%
 *   completed ami-…
 *   failed snapshot route: <why> (ImportImage: <first failure>)
 * Progress: carving 0–10, snapshots 10–85 (ImportSnapshot's own progress,
 * averaged over disks), RegisterImage and tags 85–100; a fallback starts
 * at 40 (ImportImage got that far).
 *
 * Errors: routes report in their task (and the log); the functions below
 * return 0 or -errno for the caller's own mistakes (bad plan text, out of
 * memory). Threads: every function is thread-safe. snaproute_free() stops
 * the threads between AWS calls (a call in flight completes) and joins
 * them; what AWS holds then is what the next mount resumes.
 */
#ifndef AMIFS_CORE_SNAPROUTE_H
#define AMIFS_CORE_SNAPROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"
#include "aws/ec2.h"
#include "aws/log.h"
#include "core/taskcache.h"

#define SNAPROUTE_MAX_DISKS 21
/* Tags amifs puts on tasks of the route. */
#define SNAPROUTE_TAG_ROUTE "amifs:route"      /* "auto" or "snapshot" */
#define SNAPROUTE_TAG_PLAN "amifs:snapplan"    /* snapplan_format() */
#define SNAPROUTE_TAG_AMI "amifs:snapshot-route" /* the AMI, once done */
#define SNAPROUTE_TAG_DISK "amifs:disk"        /* "1/2" on snapshot tasks */
/* On the overlay of a fallback: ImportImage's own failure, for diagnosis. */
#define SNAPROUTE_TAG_FIRST "amifs:importimage-failure"

struct snapdisk {
    char format[8];      /* ImportSnapshot format: VMDK VHD VHDX RAW */
    uint64_t offset;     /* inside the staged object */
    uint64_t length;     /* 0: the whole object (a single disk) */
};

/* What a route needs; plain data (fixed buffers), copied freely. */
struct snapplan {
    struct snapdisk disks[SNAPROUTE_MAX_DISKS];
    size_t ndisks;
    char boot_mode[16];      /* "" unset; legacy-bios uefi uefi-preferred */
    char architecture[16];   /* "" → x86_64 */
    char root_device[32];    /* "" → /dev/sda1 */
    char tpm[8], imds[8];    /* "v2.0" or "" */
    bool ena;
};

/* The plan as one tag value: "d=VMDK@0+0,…;b=uefi;a=arm64;r=/dev/xvda;
 * t=v2.0;i=v2.0;e=1". 0, or -E2BIG when it does not fit in 256
 * characters (then the route still runs, but a later mount cannot resume
 * it). snapplan_parse: 0 or -EINVAL. */
int snapplan_format(const struct snapplan *p, char *out, size_t n);
int snapplan_parse(struct snapplan *p, const char *text);

/* Whether an ImportImage failure message names an OS, kernel or
 * boot-loader cause (the ones the snapshot route avoids). Pure. */
bool snaproute_os_cause(const char *msg);
/* Whether task t is an ImportImage that failed for such a cause, asked
 * for route=auto (tag amifs:route=auto) and was not yet rerouted (no
 * amifs:snapshot-route tag). Pure. */
bool snaproute_wants(const struct ec2_import_task *t);
/* Whether t is the first import-snapshot task of a forced route
 * (amifs:route=snapshot, amifs:disk=1/N) that has no mark yet and did not
 * fail: a remount resumes the route under it. Pure. */
bool snaproute_forced_lead(const struct ec2_import_task *t);

struct snaproute_config {
    struct aws_client *client;
    const struct aws_logger *lg;
    struct taskcache *tasks;     /* where routes show; required */
    const char *role;            /* vmimport role (NULL: default) */
    bool cleanup;                /* delete staged/carved objects on success */
    double poll_seconds;         /* DescribeImportSnapshotTasks interval */
};

struct snaproute;
struct snaproute *snaproute_new(const struct snaproute_config *cfg);
/* Stop: no new route starts, running ones stop at their next step and are
 * joined. The task cache must outlive this call (routes show in it);
 * snaproute_free (which stops first) may come after the cache is gone. */
void snaproute_stop(struct snaproute *r);
void snaproute_free(struct snaproute *r);

/* One route to run. Strings borrowed for the call. */
struct snaproute_req {
    const char *bucket, *key, *etag;  /* the staged object */
    const char *name;                 /* the dropped file's name */
    const char *description;
    const struct ec2_tags *tags;      /* Name, given ones, amifs:name… */
    const struct snapplan *plan;
    /* A fallback: the ImportImage task it continues and its failure. */
    const char *lead_id;
    const char *first_failure;
    /* Why a route of route=auto skipped ImportImage ("guest check: …",
     * doc/design/guest-check.md); shown as "snapshot-route (<reason>)".
     * NULL for a forced route. */
    const char *reason;
};

/* Forced route (route=snapshot): carve and start every ImportSnapshot now
 * (errors reach the caller, as ImportImage's would), then wait and
 * register on a thread. lead_out gets the first import-snapshot task id
 * (the route's task in tasks/). 0 or -errno with why. */
int snaproute_start(struct snaproute *r, const struct snaproute_req *q,
                    char *lead_out, size_t lead_n, char *why, size_t whylen);
/* A fallback (or a resumed route): everything on a thread; the route
 * shows under q->lead_id at once. 0, -EALREADY when a route for that id
 * runs, or -errno. */
int snaproute_continue(struct snaproute *r, const struct snaproute_req *q);
/* Resume from a task alone (plan, source and tags from its tags and
 * snapshot details), e.g. after a remount: what the task cache's reroute
 * hook calls. 0, -EALREADY, or -EINVAL when the task has no usable plan
 * (then the route's task says so: it ends as failed, never half-done). */
int snaproute_resume(struct snaproute *r, const struct ec2_import_task *t);

/* Pure pieces for unit tests. The AMI name for a staged key (unique per
 * staged object, only the characters AMI names allow, ≤ 128). */
void snaproute_ami_name(const char *key, char *out, size_t n);
/* Device name of disk i: root device for 0, then /dev/sdb, /dev/sdc… */
void snaproute_device(const struct snapplan *p, size_t i, char *out,
                      size_t n);

#endif
