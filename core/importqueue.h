/*
 * importqueue.h — imports waiting for a free slot of the account's
 * concurrent import-task quota, shared by every mount through S3.
 * Design: doc/design/fleet.md; user view: doc/CONTRACT.md "Fleet".
 *
 * When ImportImage answers ResourceCountLimitExceeded, the job
 * (core/importjob.c) hands its complete ImportImage request to
 * importqueue_put(): one JSON object per entry, written with a conditional
 * PUT (If-None-Match: *) under PREFIX/amifs-queue/ in the staging bucket,
 * named "<enqueue time>-<ClientToken>.json" so that a listing is the queue
 * in FIFO order. Once that PUT answered, the import is durably queued and
 * the copy succeeds.
 *
 * Every mount that stages into the same bucket/prefix runs one worker
 * thread (importqueue_start) that, every `interval` seconds or when kicked
 * (an idle mount — empty queue, nothing of its own queued — every 6
 * intervals, at most 60 s):
 *   1. lists the entries (FIFO) and counts the active import tasks;
 *   2. for the oldest entries, claims one by rewriting it with If-Match
 *      (its ETag from the listing) and a claim {by, until = now + lease}; a
 *      412 means another mount was faster: it skips the entry;
 *   3. calls ImportImage with the entry's own ClientToken — whoever calls
 *      it, however often, AWS starts one task per token;
 *   4. started: deletes the entry (If-Match its claim's ETag); quota still
 *      full: removes its claim and stops this round; refused for another
 *      reason: records the error in the entry (the owner's mount fails
 *      its job with it and deletes the entry).
 * A mount that dies holding a claim loses it when `until` passes; another
 * mount then claims the entry and calls ImportImage with the same token.
 * Nothing coordinates but S3's conditional writes: every mount is a peer.
 *
 * The mount that queued an entry "watches" its staged key: each round the
 * worker looks for an import task whose disk is that key (started by any
 * mount) and reports it through `started`, or the entry's error through
 * `failed`. Callbacks run on the worker thread, without the queue's lock.
 *
 * Threads: every function is thread-safe. No lock is held across a
 * network call. Errors: -errno (aws/err.c's table), `err` says why.
 */
#ifndef AMIFS_CORE_IMPORTQUEUE_H
#define AMIFS_CORE_IMPORTQUEUE_H

#include <stddef.h>

#include "aws/client.h"
#include "aws/ec2.h"
#include "aws/err.h"
#include "aws/log.h"

/* Default lease of a claim, in seconds: far longer than one ImportImage
 * call with its retries, short enough that a dead mount's claim is picked
 * up within minutes. The mount option queue_lease= changes it. */
#define IMPORTQUEUE_LEASE_DEFAULT 120.0
/* The folder of the entries under the staging prefix. */
#define IMPORTQUEUE_DIR "amifs-queue"

struct importqueue_config {
    struct aws_client *client;
    const char *bucket;   /* staging bucket; borrowed for the queue's life */
    const char *prefix;   /* staging prefix without '/', or "" */
    double lease;         /* seconds; <= 0: IMPORTQUEUE_LEASE_DEFAULT */
    double interval;      /* seconds between rounds; <= 0: 10 */
    const struct aws_logger *lg;
    /* A watched import started: t is the task (borrowed for the call). */
    void (*started)(void *ctx, const char *staged_key,
                    const struct ec2_import_task *t);
    /* A watched import was refused for good: why is ImportImage's error. */
    void (*failed)(void *ctx, const char *staged_key, const char *why);
    void *ctx;
};

struct importqueue;

/* No thread yet. NULL when out of memory. The config is copied. */
struct importqueue *importqueue_new(const struct importqueue_config *cfg);
/* Start the worker (first round at once). 0 or -errno. */
int importqueue_start(struct importqueue *q);
/* Stop the worker and free. Entries stay in S3 for any other mount (or
 * this one's next run). NULL is fine. */
void importqueue_free(struct importqueue *q);
/* Ask for a round now (a task ended: a slot may be free). */
void importqueue_kick(struct importqueue *q);

/* Queue the import p (its disks' first key is the staged key it is
 * watched under; p->client_token is required). `name` is the file name
 * shown in the entry. 0 once S3 stored the entry (or already held it),
 * else -errno with err set. */
int importqueue_put(struct importqueue *q, const struct ec2_import_params *p,
                    const char *name, struct aws_error *err);

/* Where a watched import stands, as of the last round: its 1-based
 * position in the queue (0: not seen yet), the entries in the queue, and
 * the account's active import tasks. 0, or -ENOENT when not watched. */
struct importqueue_pos {
    size_t position, total, active;
};
int importqueue_position(struct importqueue *q, const char *staged_key,
                         struct importqueue_pos *out);
/* rm of a queued file: delete its entry (If-Match the ETag just read) and
 * stop watching. 0; -EBUSY when the entry is claimed (ImportImage may be
 * under way), gone or changed (it may have started); -ENOENT when not
 * watched. */
int importqueue_remove(struct importqueue *q, const char *staged_key);
/* Stop watching (the job is gone); the entry itself stays queued. */
void importqueue_unwatch(struct importqueue *q, const char *staged_key);

/* Pure helpers, exposed for unit tests: the entry's JSON for p, and back.
 * importqueue_decode fills p with pointers into *root (free it with
 * cJSON_Delete) and tags into *tags (ec2_tags_release). 0 or -EINVAL. */
char *importqueue_encode(const struct ec2_import_params *p, const char *name,
                         const char *claim_by, double claim_until);
struct cJSON;
int importqueue_decode(const char *json, size_t n, struct cJSON **root,
                       struct ec2_import_params *p,
                       struct ec2_disk_container *disks, size_t maxdisks,
                       struct ec2_tags *tags);

#endif
