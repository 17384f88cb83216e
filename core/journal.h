/*
 * journal.h — the upload journal: one small file per multipart upload in
 * flight, so that the next mount aborts the uploads of a daemon that was
 * killed (SIGKILL, OOM, power loss) or could not reach S3 when it tried.
 * S3 cannot tell which uploads are ours (ListMultipartUploads returns no
 * metadata), so without this they would stay billed forever.
 *
 * One journal per mount (struct amifs), opened at mount, closed at unmount
 * after the janitor (core/janitor.h) has stopped. buckets/ and imports/
 * both record their multipart uploads here.
 *
 * The directory is not trusted. root may run amifs with HOME inside another
 * user's home, and that user may plant symlinks, FIFOs or files there. So:
 *  - The directory is $XDG_STATE_HOME/amifs/uploads, else
 *    $HOME/.local/state/amifs/uploads (or the `dir` given to journal_open).
 *    The base ($XDG_STATE_HOME, $HOME) is taken as the environment names it;
 *    every component below it is opened with O_NOFOLLOW|O_DIRECTORY relative
 *    to its parent (created with mode 0700 when absent), so no symlink is
 *    ever followed there. The final directory must be owned by the daemon's
 *    effective uid and not writable by group or others; otherwise the
 *    journal is refused, the reason is logged, and the mount runs without a
 *    journal (it says so in the log).
 *  - Every entry operation is relative to the directory's fd (openat,
 *    unlinkat, fstatat with AT_SYMLINK_NOFOLLOW). Only names of our pattern
 *    ("PID.XXXXXX.json") are read, and only when the entry is a regular
 *    file owned by us, of sane size; it is opened with
 *    O_NONBLOCK|O_NOFOLLOW and checked with fstat before any read, so a
 *    FIFO or a device never blocks the daemon. Anything else is skipped,
 *    with the reason logged once per entry per mount, and never deleted.
 *
 * Format (doc/design/journal.md): JSON, parsed with cJSON, e.g.
 *   {"amifs_upload":1,"endpoint":"https://s3.eu-west-1.amazonaws.com",
 *    "region":"eu-west-1","account":"123456789012","bucket":"b",
 *    "key":"k","upload_id":"...","pid":4242}
 * Written to a ".PID.XXXXXX.tmp" name first and renamed into place, so an
 * entry is either whole or absent.
 *
 * Origin: each entry records the endpoint, region and account of the mount
 * that wrote it. Only a mount of the same origin may abort the upload
 * (accounts are compared only when both are known: "" matches any); the
 * other entries stay untouched until such a mount comes.
 *
 * Threads: after journal_open the journal is safe to use from any thread
 * (journal_set_account takes an internal lock). An entry handle belongs to
 * one owner at a time: whoever holds it must end it with exactly one of
 * journal_done or journal_keep (or hand it to janitor_add).
 */
#ifndef AMIFS_CORE_JOURNAL_H
#define AMIFS_CORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws/log.h"

/* Where uploads go. Strings are copied by journal_open. account NULL: not
 * known yet (the janitor asks STS and calls journal_set_account). */
struct journal_origin {
    const char *endpoint; /* the S3 endpoint URL in use */
    const char *region;
    const char *account;  /* "" when it could not be learnt */
};

struct journal;
struct journal_entry; /* a handle on one entry file */

/* Open (creating as needed) the journal directory, with the trust rules
 * above. dir NULL: $XDG_STATE_HOME or ~/.local/state, then amifs/uploads.
 * NULL when there is no usable directory: the reason is logged on lg (may
 * be NULL) with a warning that this mount has no journal. */
struct journal *journal_open(const char *dir, const struct journal_origin *o,
                             const struct aws_logger *lg);
/* Frees the journal; entry files stay. NULL: no-op. Every entry handle
 * must have been ended before. */
void journal_close(struct journal *jn);
/* Record the account (STS GetCallerIdentity) once it is known; entries
 * written from now on carry it. */
void journal_set_account(struct journal *jn, const char *account);

/* Record a multipart upload in flight. NULL: not recorded (no journal,
 * empty id, or the write failed: logged; the upload goes on regardless). */
struct journal_entry *journal_add(struct journal *jn, const char *bucket,
                                  const char *key, const char *upload_id);
/* The upload completed, or its abort was confirmed (NoSuchUpload counts):
 * delete the entry and free the handle. NULL e: no-op. */
void journal_done(struct journal *jn, struct journal_entry *e);
/* The abort failed: the file stays for a later mount; free the handle.
 * NULL e: no-op. */
void journal_keep(struct journal *jn, struct journal_entry *e);

/* A parsed entry (all strings malloc'd, never NULL once parsed). */
struct journal_record {
    char *endpoint, *region, *account;
    char *bucket, *key, *upload_id;
    long pid;
    /* Resume fields (all optional; 0 / "" / false when absent): */
    char *label;          /* the file's path in the mount ("" unknown) */
    unsigned long long part_size; /* first part size; 0: not resumable */
    long long created;    /* when the multipart upload was created */
    bool kept;            /* kept for resume by a failed copy */
    unsigned long long stored, size; /* bytes S3 held / the file's size
                                        when it was kept (size 0: unknown) */
};
/* Parse an entry's text (n bytes, not NUL-terminated). 0 with *r filled,
 * or -1 with *why set to a static reason (r then holds nothing). Pure; the
 * fuzz target (tests/fuzz/fuzz_journal.c) drives it. */
int journal_parse(const char *text, size_t n, struct journal_record *r,
                  const char **why);
void journal_record_release(struct journal_record *r);
/* Does r's origin match the journal's? */
int journal_origin_matches(struct journal *jn, const struct journal_record *r);

/* Called by journal_recover for each orphan: an entry of ours, whole, of
 * a daemon that no longer runs (or of an earlier daemon with our pid),
 * whose origin matches this mount. fn takes e (journal_done, journal_keep
 * or janitor_add); r is valid only during the call. */
typedef void (*journal_orphan_fn)(void *ctx, const struct journal_record *r,
                                  struct journal_entry *e);
/* Walk the directory once; skipped entries are logged with the reason.
 * Entries of other origins stay untouched (logged at info). Also removes
 * our own leftover ".PID.XXXXXX.tmp" files of dead daemons. Returns the
 * number of orphans handed to fn. */
int journal_recover(struct journal *jn, journal_orphan_fn fn, void *ctx);

/* ---- resume (doc/design/resume.md) ----------------------------------------
 *
 * A copy that dies from the network (every retry failed) keeps its multipart
 * upload instead of aborting it, and a daemon killed with -9 leaves its
 * entries behind; both can be continued by running the same copy again.
 * "The same copy" is the same origin, bucket, key and first part size (so
 * the same part schedule): the entry records the part size (and the file's
 * label for messages), the creation time, and `kept` once a failed copy
 * gave it up. Parts are NOT journaled: ListParts is the one truth of what S3
 * holds (a journaled part that S3 lost, or the reverse, cannot mislead).
 *
 * An entry is resumable while created + ttl is in the future (ttl: one day
 * less than the staging bucket's lifecycle rule, `amifs setup`'s 7 days, so
 * S3 never aborts an upload a copy is continuing). After that the janitor
 * aborts it (journal_resumable() false in its orphan walk). A claim needs
 * one more hour of margin, so a claim and the janitor's abort never race.
 */
#define JOURNAL_RESUME_TTL_DEFAULT (6L * 24 * 3600)

struct journal_resume {
    unsigned long long part_size; /* 0: not resumable (journal_add) */
    const char *label;            /* may be NULL */
};
/* journal_add, recording what a resume needs (rs NULL: as journal_add). */
struct journal_entry *journal_add_resumable(struct journal *jn,
                                            const char *bucket,
                                            const char *key,
                                            const char *upload_id,
                                            const struct journal_resume *rs);
/* Seconds a kept upload stays resumable (0: none is: every failed or
 * orphaned upload is aborted, the behaviour before resume). */
void journal_set_resume_ttl(struct journal *jn, long seconds);
long journal_resume_ttl(struct journal *jn);
/* Is r an upload the janitor must leave for a resume (part size known and
 * created + ttl still ahead)? */
bool journal_resumable(struct journal *jn, const struct journal_record *r);
/* The copy failed from the network and its upload stays in S3: rewrite the
 * entry with kept=true and the byte counts (stored of size; size 0 when
 * unknown), then free the handle (as journal_keep). A failed rewrite
 * leaves the entry as it was (still resumable after this daemon dies). */
void journal_mark_kept(struct journal *jn, struct journal_entry *e,
                       unsigned long long stored, unsigned long long size);
/* Take over a resumable upload of this origin, bucket, key and part size
 * that a failed copy kept or a dead daemon left: the entry is rewritten as
 * this daemon's (kept=false, same upload id and creation time), its id
 * copied to upload_id (n bytes). NULL when there is none. Two claimers of
 * one entry: exactly one wins (the old name is unlinked once). */
struct journal_entry *journal_claim(struct journal *jn, const char *bucket,
                                    const char *key,
                                    unsigned long long part_size,
                                    char *upload_id, size_t n);
/* The key of a resumable upload in `bucket` whose label is `label` (e.g.
 * imports/NAME, whose staged keys are made fresh per copy), copied to
 * key (n bytes): 0, or -1 when there is none. Nothing is claimed. */
int journal_find_label(struct journal *jn, const char *bucket,
                       const char *label, char *key, size_t n);

#endif
