/*
 * janitor.h — no multipart upload left behind.
 *
 * When an upload fails or is cancelled, aws/mpu aborts its multipart upload;
 * when the endpoint is unreachable or the credentials have expired, that
 * abort fails too and the parts would stay billed in S3. Such uploads are
 * handed to the janitor, a thread per mount (hanging off struct amifs,
 * started at mount, stopped at unmount after the folder modules), which
 * repeats AbortMultipartUpload with backoff (2 s, doubling, at most 10 s
 * apart) until S3 confirms. NoSuchUpload counts as confirmed: the upload is
 * gone. The thread holds no lock while it talks to S3.
 *
 * The journal (core/journal.h) keeps the uploads the janitor could not
 * abort: an item handed over with its journal entry keeps that entry until
 * the abort is confirmed (then journal_done deletes it). At janitor_stop,
 * one last try is made; what is still not aborted stays journaled (the
 * entry file stays, journal_keep) and is logged, so the next mount of the
 * same origin retries it.
 *
 * At start, the thread first learns the account (STS GetCallerIdentity,
 * once, when the journal does not know it yet; a failure records "" and
 * origins then match on endpoint and region only), then walks the journal
 * (journal_recover): each orphan of a dead daemon of this origin is aborted
 * once, and kept in the retry queue when that fails. A slow S3 therefore
 * never delays the mount.
 *
 * Ownership: janitor_add takes the entry `e` (may be NULL: the upload is
 * retried in memory only). The client, journal and logger are borrowed and
 * must outlive the janitor. Any thread may call janitor_add; janitor_start
 * and janitor_stop are called once each, by the mount's owner.
 */
#ifndef AMIFS_CORE_JANITOR_H
#define AMIFS_CORE_JANITOR_H

#include "aws/client.h"
#include "core/journal.h"

struct janitor;

/* Start the thread. jn may be NULL (no journal: nothing is recovered or
 * kept). NULL when the thread cannot be started (logged); janitor_add on a
 * NULL janitor keeps the entry for the next mount. */
struct janitor *janitor_start(struct aws_client *c, struct journal *jn,
                              const struct aws_logger *lg);
/* Make sure this multipart upload gets aborted. Takes e. upload_id "" or
 * NULL: nothing to abort (e is deleted). */
void janitor_add(struct janitor *jt, const char *bucket, const char *key,
                 const char *upload_id, struct journal_entry *e);
/* Stop the thread, try each pending upload once more; what is still not
 * aborted stays journaled and is logged (bucket, key, id). NULL: no-op. */
void janitor_stop(struct janitor *jt);
/* Uploads waiting for a confirmed abort (tests). */
int janitor_pending(struct janitor *jt);

#endif
