/*
 * taskcache.h — the one DescribeImportImageTasks poller every reader shares
 * (with DescribeImportSnapshotTasks in the mounted region: import-snap-…
 * tasks are listed beside the import-ami-… ones).
 *
 * A taskcache holds the import-image tasks of one region as AWS last
 * described them (deep copies it owns). A poller thread refreshes the whole
 * list once per `interval` seconds, every `active_interval` seconds while a
 * task it knows is active, and at once after taskcache_kick(). Readers only
 * take the cache's mutex, which is never held across a network call: a read
 * never waits on AWS (except taskcache_wait_first(), bounded, for a fresh
 * mount's first listing).
 *
 * The network is reached only through `struct taskcache_ops`, so the logic
 * is unit-tested without a network; taskcache_ops_for_client() gives the
 * real ones (aws/ec2.h).
 *
 * What the poller does besides refreshing, without holding the lock:
 *  - When a task carrying the tag amifs:name is seen `completed` with an
 *    image id, it copies the task's tags (but not reserved `aws:` keys) onto
 *    the AMI and each snapshot with one CreateTags, once per mount (retried
 *    on the next refresh if it failed). The state lives in AWS, so a remount
 *    finishes the job; CreateTags is idempotent.
 *  - When a task it has seen active in this mount ends (completed, deleting,
 *    deleted), it calls ops->ended once for it.
 *
 * A refresh that fails keeps the previous list (logged once per failure
 * streak). Tasks that disappear from AWS's answer (older than 7 days) leave
 * the cache, except those put less than a minute ago (AWS listings may lag
 * behind ImportImage).
 *
 * Aliases: the tag amifs:name names a task after its dropped file; when
 * several tasks carry the same name the one with the greatest amifs:started
 * tag wins (then the later one in AWS's answer).
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef AMIFS_CORE_TASKCACHE_H
#define AMIFS_CORE_TASKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws/client.h"
#include "aws/ec2.h"

struct taskcache_ops {
    /* Every import-image task of the region (all states). */
    int (*describe)(void *ctx, struct ec2_import_task_list *out,
                    struct aws_error *err);
    /* Frees what describe returned. */
    void (*release)(void *ctx, struct ec2_import_task_list *l);
    int (*create_tags)(void *ctx, const char *const *resources, size_t n,
                       const struct ec2_tags *tags, struct aws_error *err);
    int (*cancel)(void *ctx, const char *task_id, struct aws_error *err);
    /* May be NULL. Called from the poller thread, no lock held; `t` is
     * valid for the call only. */
    void (*ended)(void *ctx, const struct ec2_import_task *t);
    void *ctx;
    /* May be NULL: see taskcache_overlay below. Same rules as ended. */
    void (*reroute)(void *ctx, const struct ec2_import_task *t);
};

/* The real ops over a client and a region (NULL: the client's). The caller
 * owns `cc` (it becomes the ops' ctx) and keeps it alive as long as the
 * cache; `ended` may be NULL. */
struct taskcache_client {
    struct aws_client *c;
    const char *region;
    void (*ended)(void *ctx, const struct ec2_import_task *t);
    void *ended_ctx;
    /* NULL: no rerouting (regions/R/tasks/); ctx is ended_ctx. */
    void (*reroute)(void *ctx, const struct ec2_import_task *t);
};
struct taskcache_ops taskcache_ops_for_client(struct taskcache_client *cc);

struct taskcache;

/* No thread yet; nothing is fetched. `lg` may be NULL. Returns NULL when out
 * of memory. The ops are copied; ops->ctx must outlive the cache. */
struct taskcache *taskcache_new(const struct taskcache_ops *ops,
                                double interval, double active_interval,
                                const struct aws_logger *lg);
/* Start the poller thread (first refresh at once). 0 or -errno. */
int taskcache_start(struct taskcache *tc);
/* Stop the poller (waking any waiters) and free everything. NULL is ok. */
void taskcache_free(struct taskcache *tc);

/* One refresh in the calling thread (the poller calls this; tests too).
 * 0, or -errno of the failed describe. */
int taskcache_refresh(struct taskcache *tc);
/* Ask the poller for a refresh now. */
void taskcache_kick(struct taskcache *tc);
/* Wait (at most timeout_ms) until a first refresh has been tried (it may
 * have failed: then the cache is empty and stays usable). Returns true when
 * one has. */
bool taskcache_wait_first(struct taskcache *tc, int timeout_ms);

/* The snapshot route (core/snaproute.h) shows through the cache:
 *  - taskcache_overlay() puts a route's own view of a task (the ImportImage
 *    task it continues, or the first import-snapshot task of a forced
 *    route); later refreshes keep that view instead of AWS's, until the
 *    mount ends. taskcache_put() never replaces an overlay.
 *  - Every task AWS lists goes through taskcache_reroute_view() first: an
 *    ImportImage task tagged amifs:snapshot-route=AMI (a route finished it)
 *    shows as completed with that AMI; one that failed for an OS, kernel or
 *    boot-loader cause with amifs:route=auto shows as active
 *    "snapshot-route (ImportImage: …)" 40% and gets the tag below, and
 *    ops->reroute (when set) is called for it once per mount, without the
 *    lock, so the route starts (or resumes after a remount).
 * Both keep ImportImage's failure in the tag amifs:importimage-failure
 * (tasks/ID/diagnosis shows it). */
#define TASKCACHE_TAG_REROUTE "amifs:reroute"
int taskcache_overlay(struct taskcache *tc, const struct ec2_import_task *t);
/* Rewrite t in place as described above. 0 or -ENOMEM. Pure. */
int taskcache_reroute_view(struct ec2_import_task *t);
/* An import-snapshot task (DescribeImportSnapshotTasks) in the cache's
 * shape: id, status, message and progress from its detail, which becomes
 * snapshots[0]; the tags. The strings of *s are moved (s is left empty).
 * A route's other disks lose amifs:name (tasks/NAME stays the route's
 * task). 0 or -ENOMEM (out is then still releasable). Pure. */
int taskcache_from_snapshot_task(struct ec2_import_snapshot_task *s,
                                 struct ec2_import_task *out);

/* Insert or replace one task (ImportImage's answer), deep-copied. */
int taskcache_put(struct taskcache *tc, const struct ec2_import_task *t);
/* CancelImportTask through the ops, then remember we cancelled it and kick
 * the poller. 0 or -errno (ENOENT unknown, EBUSY already ended, else the
 * AWS error's errno); `err` gets the AWS error. */
int taskcache_cancel(struct taskcache *tc, const char *task_id,
                     struct aws_error *err);

/* Call fn(arg, task, cancelled) under the lock for task `id`; fn must be
 * quick and must not call back into the cache. 0 or -ENOENT. */
int taskcache_with(struct taskcache *tc, const char *id,
                   void (*fn)(void *arg, const struct ec2_import_task *t,
                              bool cancelled),
                   void *arg);
/* Whether task `id` has ended (completed/deleting/deleted). false when
 * unknown. */
bool taskcache_ended(struct taskcache *tc, const char *id);

/* The task id the alias `name` points at, copied into out (n bytes).
 * 0 or -ENOENT. */
int taskcache_alias(struct taskcache *tc, const char *name, char *out,
                    size_t n);

/* A snapshot of the names to list: ids[] and (alias name, id) pairs. */
struct taskcache_names {
    char **ids;
    size_t nids;
    char **alias_names;
    char **alias_ids;
    size_t naliases;
};
int taskcache_names(struct taskcache *tc, struct taskcache_names *out);
void taskcache_names_release(struct taskcache_names *n);

/* Hide an ended task from every listing (doc/CONTRACT.md "Saying why,
 * continued": `rm -r tasks/X` of an ended task). The mark lives in AWS, as
 * the tag amifs:hidden on the task (CreateTags), so every mount of the
 * account hides it until AWS forgets the task (7 days). 0, -ENOENT
 * (unknown), -EBUSY (still active: cancel it first) or the AWS error's
 * -errno (`err` gets it). Hidden tasks are left out of taskcache_names and
 * taskcache_alias; taskcache_with still finds them. */
int taskcache_hide(struct taskcache *tc, const char *task_id,
                   struct aws_error *err);
bool taskcache_hidden(struct taskcache *tc, const char *id);
/* The task's amifs:started tag (seconds since the epoch), 0 when it has
 * none (a task amifs did not start) or is unknown. */
long long taskcache_started(struct taskcache *tc, const char *id);

/* A second drop of a name: whether a completed, not hidden task of the
 * same amifs:name (that of task `self` when it is known, else `name`)
 * other than `self` started before it; its AMI id into ami (n bytes).
 * 1 found, 0 not. */
int taskcache_previous(struct taskcache *tc, const char *name,
                       const char *self, char *ami, size_t n);

/* Changes counter: bumped by every refresh and put. */
uint64_t taskcache_generation(struct taskcache *tc);
/* Sleep until the generation differs from *gen or timeout_ms passed or the
 * cache is stopping; *gen gets the current generation. Returns false when
 * the cache is stopping. */
bool taskcache_wait_change(struct taskcache *tc, uint64_t *gen,
                           int timeout_ms);

/* Deep copy / free of a task struct (the cache's own allocation scheme:
 * every string malloc'd). dup returns 0 or -ENOMEM (dst then empty). */
int taskcache_task_dup(struct ec2_import_task *dst,
                       const struct ec2_import_task *src);
void taskcache_task_free(struct ec2_import_task *t);

#endif
