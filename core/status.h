/*
 * status.h — what tasks/ID/{status,status.json,progress,source} say.
 *
 * Pure rendering: no FUSE, no network, no locks. The caller (fs/tasks.c)
 * takes a consistent snapshot of a task — the local upload's state
 * (struct upload_info, from core/importjob.c) and/or the task as
 * DescribeImportImageTasks last returned it (struct ec2_import_task, from
 * core/taskcache.c) — and hands both here. Either may be NULL, not both.
 *
 * The status line starts with a stable word (enum status_word, doc/CONTRACT.md):
 *   uploading  the file is being written into imports/ (or was closed under
 *              a temporary name and waits for its rename)
 *   validating the last bytes arrived: the validator's verdict, the upload's
 *              completion and the ImportImage call are under way
 *   active     ImportImage answered; AWS works (detail: its phase, N%)
 *   completed  detail: the AMI id
 *   failed     detail: exactly why (our validator, the upload, ImportImage's
 *              error, or AWS's StatusMessage without "CLIENT_ERROR : ")
 *   cancelled  rm of the upload in flight, or the task was cancelled
 *   queued     the object is stored but the account's import-task quota
 *              is full: the import waits in the shared queue
 *              (core/importqueue.h); detail "3 of 7 (20 import tasks
 *              active)"
 * When both are given, the AWS task wins once the upload phase is STARTED.
 */
#ifndef AMIFS_CORE_STATUS_H
#define AMIFS_CORE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "aws/buf.h"
#include "aws/ec2.h"

enum status_word {
    STATUS_UPLOADING,
    STATUS_VALIDATING,
    STATUS_ACTIVE,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_CANCELLED,
    STATUS_QUEUED,
};

/* "uploading", "validating", … */
const char *status_word_name(enum status_word w);

/* Local phase of a file dropped into imports/. */
enum upload_phase {
    UPLOAD_WRITING,    /* bytes arriving */
    UPLOAD_STAGED,     /* temp name closed: object complete, no import yet */
    UPLOAD_FINISHING,  /* verdict + CompleteMultipartUpload + ImportImage */
    UPLOAD_STARTED,    /* ImportImage returned task_id */
    UPLOAD_FAILED,     /* detail says why */
    UPLOAD_CANCELLED,  /* removed while in flight */
    UPLOAD_QUEUED,     /* stored; ImportImage waits for a quota slot */
};

/* A snapshot of one upload. Strings are borrowed for the call; any may be
 * NULL except name. */
struct upload_info {
    enum upload_phase phase;
    const char *name;     /* file name as dropped into imports/ */
    const char *bucket;   /* staging bucket */
    const char *key;      /* staged object key */
    const char *kind;     /* "OVA", "VMDK"… (NULL: not known yet) */
    const char *detail;   /* failure text, or the step under way */
    const char *task_id;  /* once STARTED */
    uint64_t received;    /* bytes written into the file */
    uint64_t sent;        /* bytes S3 acknowledged */
    double rate;          /* bytes/s received, recent average */
};

/* Which word describes the pair. `cancelled` says we cancelled the task
 * ourselves (AWS may not word its message so we can tell). */
enum status_word status_word_of(const struct upload_info *u,
                                const struct ec2_import_task *t,
                                bool cancelled);

/* True when the word is completed, failed or cancelled. */
bool status_word_ended(enum status_word w);

/* The status line, newline-terminated, appended to out. 0 or -errno. */
int status_line(const struct upload_info *u, const struct ec2_import_task *t,
                bool cancelled, struct buf *out);

/* 0–100: AWS's Progress while active, 100 once ended (the status says how),
 * 0 while uploading. */
int status_progress(const struct upload_info *u,
                    const struct ec2_import_task *t, bool cancelled);

/* The failure text for tasks/ID/diagnosis ("" when not failed/cancelled);
 * points into u or t (valid while they are). "CLIENT_ERROR : " removed. */
const char *status_failure(const struct upload_info *u,
                           const struct ec2_import_task *t, bool cancelled);

/* status.json: every field of the task (AWS CLI names: ImportTaskId,
 * Status, StatusMessage, Progress, SnapshotDetails[], Tags[]…) plus
 * "AmifsStatus" (the word), "AmifsStatusLine" and, when u is given,
 * "Upload": {Phase, Name, Bucket, Key, Kind, BytesReceived, BytesSent,
 * RateBytesPerSecond, Detail}. Pretty-printed, newline-terminated. */
int status_json(const struct upload_info *u, const struct ec2_import_task *t,
                bool cancelled, struct buf *out);

/* tasks/ID/source: "s3://bucket/key\nNAME\n" (either line omitted when not
 * known: the task's first snapshot detail gives the bucket/key, the tag
 * amifs:name the name). */
int status_source(const struct upload_info *u,
                  const struct ec2_import_task *t, struct buf *out);

/* The value of tag `key` in `tags` (NULL when absent). Pure, so the fs/
 * code that only reads tags does not need aws/ec2.c. */
const char *status_tag(const struct ec2_tags *tags, const char *key);

/* Human size, "1.2 GiB", "512 B". */
void status_human_bytes(uint64_t n, char *out, unsigned len);

/* The tag key amifs puts on its tasks with the dropped file's name. */
#define STATUS_TAG_NAME "amifs:name"
/* Seconds since the epoch when the import was started (orders re-imports
 * of the same name). */
#define STATUS_TAG_TIME "amifs:started"
/* "true" on an import whose source object amifs did not stage (a symlink
 * into imports/, doc/design/exports.md) or that the user asked to keep
 * (KeepStaged): no cleanup, and no snapshot route, ever deletes it. */
#define STATUS_TAG_KEEP_SOURCE "amifs:keep-source"
/* Put on the task (value: the AMI id) once its AMI and snapshots carry the
 * task's tags, so no later mount tags them again: a tag the user removed
 * from the AMI stays removed, and a mount does not re-tag every import the
 * account ever made. */
#define STATUS_TAG_TAGGED "amifs:ami-tagged"
/* Put on an ended task by `rm -r tasks/X` (value: when): every mount leaves
 * it out of tasks/ (core/taskcache.h taskcache_hide). */
#define STATUS_TAG_HIDDEN "amifs:hidden"
/* "eu-west-1,us-west-2": the regions the completed AMI is copied to
 * (CopyToRegions, core/regioncopy.h). On the task, so that any mount that
 * sees it complete makes the copies (the same ones: ClientToken). */
#define STATUS_TAG_COPY_TO "amifs:copy-to"

#endif
