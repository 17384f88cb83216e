/*
 * importjob.h — one file dropped into imports/: the streaming upload to the
 * staging bucket, the validation tee, and the ImportImage call.
 *
 * No FUSE here (fs/imports.c maps FUSE calls onto these functions).
 *
 * Life of a job (phase as in core/status.h):
 *
 *   WRITING ──close, final name──► FINISHING ──ImportImage ok──► STARTED
 *      │  └─close, temp name──► STAGED ──rename to a final name──┘   ▲
 *      │                  quota full (ResourceCountLimitExceeded) │
 *      │                  FINISHING ──► QUEUED ──a mount started it┘
 *      │  refused / upload or ImportImage failed ──► FAILED
 *      └─ importjob_cancel (rm) ──► CANCELLED
 *
 * Bytes: importjob_write() hands them to the job's upload writer
 * (core/upload.h, the same writer as buckets/: reorder window, size hint,
 * poison, journal), which passes them in order to the validator
 * (ova/ova.h) and to the multipart uploader. Nothing is buffered whole, in
 * memory or on disk. Any refused write or truncate fails the job for good.
 *
 * Which validator: a final name (.ova .vmdk .vhd .vhdx .raw .img) fixes the
 * kind at once. A temporary name (rsync's .NAME.XXXXXX, .part, GIO's
 * .goutputstream-…) gets the kind its first 512 bytes suggest (a tar → OVA,
 * "KDMV" → VMDK, "vhdxfile" → VHDX, "conectix" → VHD, else RAW) — only
 * those 512 bytes are held back. When the final name, known at the rename,
 * asks for another kind than the one validated, the staged object is read
 * back from S3 through a fresh validator of the right kind before the import
 * starts (buffer-free; costs one download in that rare case only).
 *
 * A refusal fails that write() (or the close) with EINVAL, aborts the
 * multipart upload, calls no ImportImage, and leaves the phase FAILED with
 * detail "invalid OVA: <validator's sentence>".
 *
 * Route (core/snaproute.h): route=image calls ImportImage only;
 * route=snapshot carves (OVA) and calls ImportSnapshot per disk at once,
 * the job's task being the first import-snapshot task, and RegisterImage
 * follows on the runner's thread; route=auto (the default) calls
 * ImportImage with the tags amifs:route=auto and amifs:snapplan, so that a
 * failure for an OS, kernel or boot-loader cause continues by the snapshot
 * route under the same task id — except when a parameter only
 * RegisterImage takes is given (BootMode uefi-preferred, Architecture
 * arm64, TpmSupport, ImdsSupport, EnaSupport, RootDeviceName): then auto
 * goes by the snapshot route at once, and route=image refuses at close.
 *
 * Import parameters, weakest first: the mount options (struct
 * import_config), the sidecar NAME.json (imports.c hands its text to
 * importjob_set_sidecar), then user.amifs.* xattrs set on the file
 * (importjob_setxattr), then facts from the validator fill what is still
 * unset (UEFI firmware → BootMode uefi, OS type → Platform). Tags on the task:
 * Name=<file name>, amifs:name=<file name>, amifs:started=<epoch seconds>,
 * plus the given ones; the Description records the name too. ClientToken is
 * derived from bucket, key and ETag (a retried ImportImage starts nothing
 * twice).
 *
 * Threads: one writer at a time calls write/truncate/close/rename; any
 * thread may call importjob_info(), importjob_cancel(), the getters. No lock
 * is held across a network call. Jobs are reference-counted: importjob_new
 * returns one reference; importjob_ref/unref.
 */
#ifndef AMIFS_CORE_IMPORTJOB_H
#define AMIFS_CORE_IMPORTJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aws/client.h"
#include "aws/ec2.h"
#include "core/params.h"
#include "core/status.h"
#include "core/taskcache.h"
#include "core/upload.h"

struct mpu_shared;
struct importqueue;
struct ova_facts;
struct snaproute;

/* Mount-wide settings; strings borrowed (they live as long as the mount).
 * Any string may be NULL (unset). */
struct journal_entry; /* core/journal.h */

struct import_config {
    struct aws_client *client;
    const char *bucket;       /* staging bucket name (never NULL in a job) */
    const char *prefix;       /* key prefix without trailing '/', or "" */
    const char *role;
    const char *kms_key;
    const char *boot_mode;
    const char *license_type;
    const char *platform;
    const char *architecture;
    size_t part_size;
    int concurrency;
    struct mpu_shared *uploads; /* the mount's upload pool (aws/mpu.h);
                                   NULL: a private one per upload */
    struct taskcache *tasks;  /* gets ImportImage's answer; may be NULL */
    /* route=auto|image|snapshot (NULL: auto) and the mount's runner of
     * snapshot routes (core/snaproute.h; NULL: route=image only). */
    const char *route;
    struct snaproute *routes;
    /* -o no_guest_check: skip the guest check before ImportImage
     * (core/importguest.h); route=auto then learns only from ImportImage's
     * failure. */
    bool no_guest_check;
    const struct aws_logger *lg;
    /* Upload journal (core/upload.h's ops; fs/ wires them to its journal
     * and janitor), so that the next mount aborts the staging upload of a
     * daemon that was killed. May be NULL. */
    const struct uw_journal_ops *journal;
    /* The shared import queue (core/importqueue.h): when ImportImage
     * answers ResourceCountLimitExceeded the request is queued there and
     * close() succeeds (phase QUEUED). NULL: the close fails instead. */
    struct importqueue *queue;
    /* "eu-west-1,us-west-2": copy every completed AMI there (mount option
     * copy_to_regions=; a file's CopyToRegions replaces it). May be NULL. */
    const char *copy_regions;
    /* The closing caller is gone (core/upload.h uw_config.may_complete);
     * may be NULL. */
    int (*may_complete)(void *ctx);
    void *may_complete_ctx;
};

/* True for names ending in .ova .vmdk .vhd .vhdx .raw .img. */
bool importjob_final_name(const char *name);

/* The final name a temporary name will be renamed to, when the writer's
 * pattern says it (doc/CONTRACT.md "Saying why, continued"): rsync's
 * ".NAME.XXXXXX" (6 letters/digits) and the ".part" of browsers and KIO
 * ("NAME.part"), NAME being a final name. Copied into out (n bytes);
 * false for any other name (gio's ".goutputstream-XXXXXX" does not say
 * it), or when it does not fit. */
bool importjob_temp_target(const char *tmp, char *out, size_t n);

struct importjob;

/* A job for `name` (copied). Nothing is sent yet. NULL when out of memory. */
struct importjob *importjob_new(const struct import_config *cfg,
                                const char *name);
void importjob_ref(struct importjob *j);
/* Drops one reference; the last one aborts an unfinished upload and frees. */
void importjob_unref(struct importjob *j);

/* n, or -errno (EINVAL refused, ESPIPE out of order, ECANCELED removed,
 * else the upload's errno). After a failure every call fails the same. */
ssize_t importjob_write(struct importjob *j, const void *buf, size_t n,
                        off_t off);
/* Extend with zeros to `size`; the current size is fine; shrinking fails
 * with EINVAL (only possible before any byte: size 0). */
int importjob_truncate(struct importjob *j, off_t size);
/* Parameters from the sidecar (borrowed for the call, copied). Allowed until
 * ImportImage is called; later -EBUSY. */
int importjob_set_sidecar(struct importjob *j, const char *json, size_t n);
int importjob_setxattr(struct importjob *j, const char *name,
                       const char *value, size_t n);
/* Copy of an xattr value into out (n bytes; n 0 asks for the size). Size,
 * or -ENODATA / -ERANGE. */
int importjob_getxattr(struct importjob *j, const char *name, char *out,
                       size_t n);

/* The end of the bytes: finish validating, complete the upload and, for a
 * final name, call ImportImage. 0 only when S3 holds the object and (final
 * name) ImportImage returned a task id or, the quota being full, the
 * request is durably queued (cfg->queue); else -errno with the reason in
 * the status. The first call does the work; later calls return its result. */
int importjob_close(struct importjob *j);
/* The shared queue's verdicts on a QUEUED job (fs/imports.c forwards the
 * importqueue callbacks): started as task t (phase STARTED, t goes into the
 * task cache), or refused for good (phase FAILED, detail "ImportImage
 * refused: <why>"). 0, or -EINVAL when the job is not QUEUED. */
int importjob_dequeued(struct importjob *j, const struct ec2_import_task *t);
int importjob_queue_failed(struct importjob *j, const char *why);

/* The file is renamed to `newname`. A staged temp onto a final name starts
 * the import (0 or -errno as close); a job still being written only changes
 * its name (the import starts at its close). -EBUSY once ImportImage was
 * called. */
int importjob_rename(struct importjob *j, const char *newname);
/* rm: abort an upload in flight (or delete a staged, never-imported object;
 * or take a QUEUED import out of the shared queue and delete its object).
 * 0, or -EBUSY once ImportImage was called (for a queued one: while a
 * mount holds its claim). */
int importjob_cancel(struct importjob *j);

/* Abort on request before the import: the writer was killed by a signal,
 * or the daemon is stopping. The phase becomes CANCELLED with detail
 * "<why> after N bytes; upload aborted, no import". 0, or -EBUSY once the
 * upload is completing or ImportImage was called. */
int importjob_abort(struct importjob *j, const char *why);
/* Refuse the file on the caller's behalf (fs/ saw a write it cannot
 * stream): the phase becomes FAILED with `why` as detail, the upload is
 * aborted, nothing is imported. Returns -err. */
int importjob_refuse(struct importjob *j, int err, const char *why);

/* Import an object where it lies (a symlink into imports/ pointing under
 * buckets/, doc/design/exports.md): no upload; the object is read back
 * through the validator of the job's name's kind (one streaming GET,
 * If-Match the ETag HEAD saw) and refused as a copy would be — then the
 * job is FAILED with the same detail and the object is left alone (never
 * deleted, also not by importjob_cancel). Accepted, ImportImage is called
 * on bucket/key with the same parameters, tags and ClientToken rule as a
 * copy. link: the symlink's text (for readlink). Only on a fresh job
 * (nothing written: else -EBUSY). Blocks; 0 or -errno like close. */
int importjob_adopt(struct importjob *j, const char *bucket, const char *key,
                    const char *link);
/* A symlink onto a stored-AMI object (`ami-….bin`, CreateStoreImageTask;
 * doc/design/exports.md): CreateRestoreImageTask of bucket/key, the new AMI
 * named after the job's name. No upload, no validator, no ImportImage. The
 * job stays STARTED as the link's record (no import task id); refused,
 * it is FAILED with AWS's message and -errno is returned (a duplicate
 * name: -EEXIST). Only on a fresh job (else -EBUSY). Blocks. */
int importjob_restore(struct importjob *j, const char *bucket,
                      const char *key, const char *link);
/* For a restore job, the state tasks/NAME shows, as a made-up import task
 * in *out (release with ec2_import_task_release): "active" with
 * "restoring ami-NEW" while DescribeImages says pending (asked at most once
 * a second, from the caller's thread), "completed" with image_id once
 * available, "deleted" with the reason when it failed. -ENOENT for every
 * other job. */
int importjob_restore_task(struct importjob *j, struct ec2_import_task *out);
/* Whether importjob_restore made an AMI for j (rm of its link then only
 * drops the record: importjob_cancel does nothing to it). */
bool importjob_is_restore(struct importjob *j);
/* The symlink text of an adopted job into out: 0, or -EINVAL when the job
 * is a copied file. */
int importjob_link(struct importjob *j, char *out, size_t n);

/* Read the staged object (once complete): bytes read, or -errno (EBUSY
 * while still being written). */
ssize_t importjob_read(struct importjob *j, char *buf, size_t n, off_t off);

/* Snapshot for rendering; strings point into `hold`, which the caller
 * releases with importjob_info_release. */
struct importjob_info {
    struct upload_info u;
    char *hold[6];
    time_t mtime;
};
void importjob_info(struct importjob *j, struct importjob_info *out);
void importjob_info_release(struct importjob_info *i);

enum upload_phase importjob_phase(struct importjob *j);
/* The guest check's report (doc/design/guest-check.md), once it ran
 * before ImportImage: text ("verdict: …" lines) or JSON, malloc'd; NULL
 * when it did not run (or out of memory). importjob_guest_line: its one
 * line ("refused: …", "warnings: …", "not checked: …", "ok"); 0 or
 * -ENOENT. */
char *importjob_guest(struct importjob *j, bool json);
int importjob_guest_line(struct importjob *j, char *out, size_t n);
/* Open handles that may write: add `delta` (+1 at open, -1 at release)
 * and return the new count. imports.c uses it to tell the last close of a
 * file that never received a byte from a close of one of several fds. */
int importjob_writers(struct importjob *j, int delta);
/* When the file was created in imports/ (its task's start time for
 * tasks/; doc/CONTRACT.md "Saying why, continued"). */
time_t importjob_started(struct importjob *j);
/* Bytes so far (the file's size: data received, or the size hint). */
uint64_t importjob_size(struct importjob *j);
/* Whether any data byte was written (a size hint alone is not data). */
bool importjob_wrote(struct importjob *j);
/* Task id once STARTED, copied into out; 0 or -ENOENT. */
int importjob_task_id(struct importjob *j, char *out, size_t n);
/* The staged object (bucket, key); valid for the job's lifetime. */
const char *importjob_key(const struct importjob *j);
const char *importjob_bucket(const struct importjob *j);
/* The current name, copied into out. */
void importjob_name(struct importjob *j, char *out, size_t n);

/* The file's own KeepStaged (sidecar or user.amifs.keep_staged): -1 when
 * not given (the mount's keep_staged decides), 0 or 1. */
int importjob_keep_staged(struct importjob *j);
/* The regions the completed AMI is copied to ("R1,R2", malloc'd: the
 * file's CopyToRegions, else the mount's), or NULL for none. */
char *importjob_copy_regions(struct importjob *j);

/* ---- folder imports (core/importset.h drives these) ----
 * A folder import set is one lead job named after the folder (tasks/NAME)
 * and one member job per disk file. A member stages only: its close
 * completes the upload (validated as its name's kind) and leaves it
 * STAGED; `tap` sees its bytes in order (the manifest digests). The lead
 * is never written: importjob_waiting sets what its status says until the
 * set is complete, then importjob_start_set calls ImportImage once with one
 * DiskContainer per disk, in order (queued like any import when the quota
 * is full), or importjob_set_failed records why the set was refused. */
struct importjob_disk {
    const char *key;    /* the member's staged object (cfg->bucket) */
    const char *etag;
    const char *format; /* "VMDK", "VHD", "VHDX", "RAW" */
};
/* importjob_new with a given staged key (copied). */
struct importjob *importjob_new_at(const struct import_config *cfg,
                                   const char *name, const char *key);
/* Make j a member (before its first byte). */
void importjob_member(struct importjob *j,
                      void (*tap)(void *ctx, const void *p, size_t n),
                      void *ctx);
/* The ETag of the completed upload ("" before). */
const char *importjob_etag(const struct importjob *j);
/* The lead's phase and status detail while the set waits. */
void importjob_waiting(struct importjob *j, enum upload_phase ph,
                       const char *detail);
/* Refuse the set on its lead (phase FAILED, detail why); returns -err. */
int importjob_set_failed(struct importjob *j, int err, const char *why);
/* ImportImage for the set (facts: the OVF's, for BootMode/Platform; note:
 * appended to the default Description, may be NULL). 0 started or
 * durably queued, else -errno (the lead FAILED). Blocks. */
int importjob_start_set(struct importjob *j, const struct importjob_disk *d,
                        size_t n, const struct ova_facts *facts,
                        const char *note);
/* Delete the job's staged object(s) (a set lead: every disk's). */
void importjob_delete_staged(struct importjob *j);

/* Pure helpers, exposed for unit tests. */
int importjob_sniff(const unsigned char *head, size_t n); /* an ova_kind */

#endif
