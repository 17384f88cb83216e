/*
 * upload.h — the one upload writer: bytes written to a file become one S3
 * object, or nothing. Used by buckets/ (fs/bucket_io.c) and by imports/
 * (core/importjob.c); no FUSE here. doc/design/upload.md tells the story.
 *
 * States (enum uw_state) and the only legal transitions:
 *
 *   OPEN ──uw_complete──► COMPLETING ──Complete ok──► DONE
 *    │                        │
 *    │ a refused write,       │ a part, Complete, or the tee's verdict
 *    │ truncate or tee        │ failed
 *    ▼                        ▼
 *   FAILED ◄──────────────────┘           (FAILED, ABORTED, DONE are final)
 *    ▲
 *   OPEN ──uw_abort (killed writer, rm, daemon stop, freed unfinished)──►
 *   ABORTED
 *
 * Every state change goes through one checked function; a change not drawn
 * above is a bug: it is logged (error level, "illegal upload transition")
 * and refused, the state stays as it was.
 *
 * Bytes. uw_write() takes bytes at any offset at or after the end of what
 * was already handed to the multipart uploader (`sent`): a write right at
 * the end goes on at once; a write further on is held in the reorder
 * window (out-of-order O_DIRECT pieces, several writer threads) until the
 * bytes before it arrive. The window is bounded in bytes (uw_config.window,
 * default 32 MiB): when held bytes exceed it, the oldest gap is taken to be
 * a hole and filled with zeros, so memory stays bounded. A write before
 * `sent` (a rewrite, or a piece that arrived after its gap was given up)
 * fails with ESPIPE and the log names the two-step alternative (copy to
 * local disk first, then cp). At uw_complete() the gaps still open are
 * holes (zeros) and the object is padded with zeros to the size hint.
 *
 * Size hint. uw_truncate() to a size at or beyond the bytes received sets
 * the object's final size (an extending ftruncate before the data is a
 * hint, not zeros written); below the bytes received it fails with EPERM.
 *
 * Poison. Once a write, truncate, part upload or the tee fails, the writer
 * is FAILED: its multipart upload is aborted at once and every later call
 * (write, truncate, complete) returns that same -errno. Nothing is ever
 * published after a refusal.
 *
 * Journal. When the multipart upload gets its id, the writer records it
 * through uw_journal_ops.add. The entry is dropped (ops.done) only when the
 * object is complete or S3 confirmed the abort; when the abort itself
 * failed, ops.abort_failed gets the entry, which must be KEPT (the janitor
 * retries, and the next mount aborts what the journal still lists).
 * With ops.keep and ops.claim (resume, doc/design/resume.md): a writer
 * that fails from the network (every retry of a part or of Complete) keeps
 * its multipart upload and its entry (ops.keep), and a later writer of the
 * same bucket/key and part size continues it (ops.claim at its first full
 * part), sending only the parts S3 does not already hold. An abort on
 * request (uw_abort: a killed writer, rm, unmount) and any other failure
 * (a refusal, the validator) still abort.
 *
 * Threads. One writer at a time: uw_write, uw_truncate and uw_complete
 * serialize on the writer's own lock (they may wait on the network while
 * holding it; only this file's writers wait). uw_abort, uw_fail and the
 * getters may be called from any thread at any time; they never wait on
 * the writer lock. uw_abort of a COMPLETING writer is refused with -EBUSY
 * (the close that is completing wins; rm then reports EBUSY). The tee and
 * tee_end callbacks run in the writer's thread with the writer lock held;
 * they may call uw_fail on their own writer (not uw_write).
 *
 * Errors are -errno: ESPIPE (out of window / rewrite), EPERM (shrinking
 * truncate), ECANCELED (aborted), EBUSY (abort during completing), else the
 * errno of the AWS failure (aws/err.c's table) or of the tee.
 */
#ifndef AMIFS_CORE_UPLOAD_H
#define AMIFS_CORE_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aws/client.h"
#include "aws/log.h"

enum uw_state {
    UW_OPEN,       /* taking bytes; nothing published yet */
    UW_COMPLETING, /* uw_complete: last bytes, tee verdict, Complete */
    UW_DONE,       /* S3 holds the whole object (final) */
    UW_FAILED,     /* poisoned: a refusal or failure; aborted (final) */
    UW_ABORTED,    /* aborted on request; nothing published (final) */
};

/* The upload journal, reached through this one struct (fs/ wires it to its
 * journal and janitor). Any member may be NULL. `add` returns an entry
 * (NULL: not recorded; the journal is best effort). */
struct uw_journal_ops {
    void *ctx;
    /* part_size: the upload's first part size, label: the writer's label
     * (both recorded so that the same copy run again can resume it) */
    void *(*add)(void *ctx, const char *bucket, const char *key,
                 const char *upload_id, size_t part_size, const char *label);
    /* the upload completed, or its abort was confirmed: forget entry */
    void (*done)(void *ctx, void *entry);
    /* AbortMultipartUpload failed: entry must be KEPT; retry later */
    void (*abort_failed)(void *ctx, const char *bucket, const char *key,
                         const char *upload_id, void *entry);
    /* Resume (doc/design/resume.md); both NULL: failed uploads are
     * always aborted. keep: the upload failed from the network and stays
     * in S3 for a resume (stored of size bytes; size 0 unknown): mark the
     * entry kept (entry may be NULL). claim: a kept upload of this
     * bucket/key and part size to continue: its entry (the writer's from
     * now on), id in upload_id (n bytes); NULL: none. */
    void (*keep)(void *ctx, void *entry, uint64_t stored, uint64_t size);
    void *(*claim)(void *ctx, const char *bucket, const char *key,
                   size_t part_size, char *upload_id, size_t n);
    /* The key of a resumable upload in bucket whose writer had this label
     * (imports/NAME: staged keys are made fresh per copy, so imports/
     * finds its key by name before its writer starts): 0, or -1. */
    int (*find_label)(void *ctx, const char *bucket, const char *label,
                      char *key, size_t n);
};

struct uw_config {
    struct aws_client *client;
    const struct aws_logger *lg;  /* may be NULL */
    size_t part_size;             /* 0: mpu default */
    int concurrency;              /* 0: mpu default */
    size_t window;                /* reorder window bytes; 0: 32 MiB */
    const struct uw_journal_ops *journal; /* borrowed; may be NULL */
    struct mpu_shared *shared;    /* the mount's memory budget and worker
                                     pool (aws/mpu.h); NULL: a private one */
    /* In-order bytes, before they go to S3 (the imports/ validator); 0 or
     * -errno (the writer then fails with it). May be NULL. */
    int (*tee)(void *ctx, const void *data, size_t n);
    /* All bytes are in (uw_complete, before Complete): the verdict. */
    int (*tee_end)(void *ctx);
    void *tee_ctx;
    /* Asked in uw_complete's thread once every part is sent, right before
     * the upload is completed (aws/mpu.h mpu_options.may_complete):
     * nonzero = the closing caller is gone (killed while its close()
     * waited), so the upload fails with ECANCELED and is aborted instead.
     * May be NULL. */
    int (*may_complete)(void *ctx);
    void *may_complete_ctx;
    /* Never resumable (a folder import's disk, core/importset.h: the set
     * is discarded after a crash, so its parts would be garbage): a failed
     * upload is aborted and the journal records it with part size 0, so
     * the next mount's janitor aborts what a dead daemon left. */
    bool no_resume;
};

struct upload_writer;

/* A writer for s3://bucket/key; `label` names it in log lines (e.g.
 * "buckets/B/k"). Strings are copied, cfg is copied (journal borrowed).
 * Nothing is sent yet. NULL when out of memory. */
struct upload_writer *uw_new(const struct uw_config *cfg, const char *bucket,
                             const char *key, const char *label);
/* An unfinished writer is aborted first (uw_abort, ECANCELED). */
void uw_free(struct upload_writer *w);

/* n, or -errno (see above). */
ssize_t uw_write(struct upload_writer *w, const void *data, size_t n,
                 uint64_t off);
/* Size hint (see above). 0 or -errno. */
int uw_truncate(struct upload_writer *w, uint64_t size);
/* The deliberate end: holes, padding, tee verdict, Complete. 0 when S3
 * holds the object (etag_out, 72 bytes, may be NULL), else -errno. Later
 * calls return the same result. */
int uw_complete(struct upload_writer *w, char *etag_out);
/* Abort on request: OPEN → ABORTED with result -err. 0 (also when already
 * FAILED/ABORTED), -EBUSY while COMPLETING or once DONE. `why` is logged. */
int uw_abort(struct upload_writer *w, int err, const char *why);
/* Poison: OPEN/COMPLETING → FAILED with -err, upload aborted. Returns
 * -err (the first error when already failed). */
int uw_fail(struct upload_writer *w, int err);

enum uw_state uw_state(struct upload_writer *w);
const char *uw_state_name(enum uw_state s);
/* 0 while OPEN/COMPLETING or once DONE; the failure's -errno otherwise. */
int uw_result(struct upload_writer *w);
/* The file's size: furthest byte received, or the size hint if larger. */
uint64_t uw_size(struct upload_writer *w);
/* Bytes received by uw_write (not counting hint padding). */
uint64_t uw_received(struct upload_writer *w);
/* Bytes S3 acknowledged. */
uint64_t uw_sent(struct upload_writer *w);
/* Whether any byte was written (uw_write accepted data). */
bool uw_wrote(struct upload_writer *w);
/* Why the writer failed, one line ("" while none): the AWS error, or the
 * refusal that poisoned it. */
void uw_error_text(struct upload_writer *w, char *out, size_t n);
/* The multipart upload id ("" before / for a single PUT). */
void uw_upload_id(struct upload_writer *w, char *out, size_t n);
/* Resume (doc/design/resume.md). Whether the writer failed from the
 * network and its upload was kept in S3 (uw_error_text then says "kept for
 * resume: X of Y MiB stored; cp again to finish"). */
bool uw_kept(struct upload_writer *w);
/* A resumed upload: parts S3 already held (not sent again) and parts sent;
 * 0 when the writer did not resume. The writer logs them at completion. */
void uw_resume_counts(struct upload_writer *w, unsigned *skipped,
                      unsigned *sent, uint64_t *bytes_skipped);

/* Pure, exposed for tests: the signal that killed the task whose
 * /proc/<tid>/stat text is `stat` (field 52, exit_code, waitpid-style, is
 * set before a dying task's files are closed). >0 the signal number, 0
 * alive or a plain exit(), -1 unparseable. */
int uw_stat_exit_signal(const char *stat);

#endif
