/* upload.c — the one upload writer (core/upload.h). */
#include "core/upload.h"
#include "core/name.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/mpu.h"

#define DEFAULT_WINDOW ((size_t)32 << 20)

/* A piece that arrived ahead of `sent`, held until its gap is filled. */
struct seg {
    struct seg *next;
    uint64_t off;
    size_t len;
    unsigned char data[];
};

struct upload_writer {
    struct uw_config cfg;
    char *bucket, *key, *label;
    struct mpu *mpu;
    pthread_mutex_t wlock; /* one writer call at a time */
    pthread_mutex_t mu;    /* guards every field below */
    enum uw_state state;
    int result;
    uint64_t sent;         /* bytes handed to the uploader, in order */
    uint64_t far;          /* end of the furthest byte received */
    uint64_t hint;         /* size hint (extending truncate) */
    bool wrote;
    struct seg *held;      /* sorted by offset; writer side (wlock) */
    size_t held_bytes;
    char why[1024];        /* the failure, one line */
    void *journal;         /* entry, or NULL */
    void *claimed;         /* resume: the claimed entry until journal_note */
    bool journaled, settled;
};

static const unsigned char zeros[64 * 1024];

const char *uw_state_name(enum uw_state s)
{
    static const char *const names[] = {"OPEN", "COMPLETING", "DONE",
                                        "FAILED", "ABORTED"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

/* The one checked transition; w->mu held. */
static bool transition(struct upload_writer *w, enum uw_state to, int result)
{
    static const unsigned legal[] = {
        [UW_OPEN] = 1u << UW_COMPLETING | 1u << UW_FAILED | 1u << UW_ABORTED,
        [UW_COMPLETING] = 1u << UW_DONE | 1u << UW_FAILED,
        [UW_DONE] = 0,
        [UW_FAILED] = 0,
        [UW_ABORTED] = 0,
    };
    if (!(legal[w->state] & (1u << to))) {
        aws_log(w->cfg.lg, AWS_LOG_ERROR,
                "%s: illegal upload transition %s -> %s refused (bug)",
                w->label, uw_state_name(w->state), uw_state_name(to));
        return false;
    }
    w->state = to;
    if (to == UW_FAILED || to == UW_ABORTED)
        w->result = result < 0 ? result : -EIO;
    return true;
}

/* ---- the journal ------------------------------------------------------ */

static void journal_note(struct upload_writer *w);

/* The upload failed from the network and stays in S3 for a resume. */
static void kept(struct upload_writer *w, void *entry)
{
    const struct uw_journal_ops *o = w->cfg.journal;
    uint64_t stored = mpu_bytes_sent(w->mpu);
    pthread_mutex_lock(&w->mu);
    uint64_t size = w->hint > w->far ? w->hint : 0;
    snprintf(w->why, sizeof w->why, "kept for resume: %llu of %s%llu MiB "
             "stored; cp again to finish (%.600s)",
             (unsigned long long)(stored >> 20), size ? "" : "at least ",
             (unsigned long long)((size ? size : w->far) >> 20),
             w->why[0] ? w->why : "the network failed");
    pthread_mutex_unlock(&w->mu);
    aws_log(w->cfg.lg, AWS_LOG_WARN, "%s: %s", w->label, w->why);
    if (o && o->keep)
        o->keep(o->ctx, entry, stored, size);
}

/* The upload has ended for good (DONE, or aborted): settle its entry once.
 * Kept (abort_failed) when S3 did not confirm the abort. */
static void settle(struct upload_writer *w)
{
    const struct uw_journal_ops *o = w->cfg.journal;
    char id[256];
    journal_note(w); /* an upload created by the call that failed */
    pthread_mutex_lock(&w->mu);
    void *claimed = w->claimed; /* claimed, but never continued */
    w->claimed = NULL;
    pthread_mutex_unlock(&w->mu);
    if (claimed && o && o->keep)
        o->keep(o->ctx, claimed, 0, 0); /* still there for the next cp */
    pthread_mutex_lock(&w->mu);
    bool first = !w->settled;
    w->settled = true;
    void *entry = w->journal;
    w->journal = NULL;
    bool done = w->state == UW_DONE;
    pthread_mutex_unlock(&w->mu);
    if (!first)
        return;
    mpu_upload_id(w->mpu, id, sizeof id);
    if (!done && mpu_kept(w->mpu)) {
        kept(w, entry);
        return;
    }
    if (done || !id[0] || mpu_state(w->mpu) == MPU_ABORTED) {
        if (o && o->done && entry)
            o->done(o->ctx, entry);
        return;
    }
    aws_log(w->cfg.lg, AWS_LOG_WARN, "%s: abort of upload %s not confirmed; "
            "kept for the janitor", w->label, id);
    if (o && o->abort_failed)
        o->abort_failed(o->ctx, w->bucket, w->key, id, entry);
}

/* Once the multipart upload exists, write it down so that the next mount
 * aborts (or resumes) it if this daemon gets killed. A resumed upload
 * keeps the entry it claimed; a claimed one that was gone is dropped. */
static void journal_note(struct upload_writer *w)
{
    const struct uw_journal_ops *o = w->cfg.journal;
    struct mpu_resume_stats rs;
    char id[256];
    if (!o || __atomic_load_n(&w->journaled, __ATOMIC_ACQUIRE))
        return; /* the fast path of every write */
    mpu_upload_id(w->mpu, id, sizeof id);
    mpu_resume_stats(w->mpu, &rs);
    /* under mu: settle() (any thread) cannot miss the entry, nor add a
     * second one beside the writer's */
    pthread_mutex_lock(&w->mu);
    if (w->journaled || !id[0]) {
        pthread_mutex_unlock(&w->mu);
        return;
    }
    void *claimed = w->claimed;
    w->claimed = NULL;
    __atomic_store_n(&w->journaled, true, __ATOMIC_RELEASE);
    if (claimed && rs.resumed) {
        w->journal = claimed;
        claimed = NULL;
    } else if (!w->settled && o->add) {
        w->journal = o->add(o->ctx, w->bucket, w->key, id,
                            w->cfg.no_resume ? 0 : mpu_first_part_size(w->mpu),
                            w->label);
    }
    pthread_mutex_unlock(&w->mu);
    if (claimed && o->done)
        o->done(o->ctx, claimed); /* its upload was gone */
}

/* mpu_options.resume_claim: a kept upload of this key to continue. */
static int claim(void *ctx, char *upload_id, size_t n)
{
    struct upload_writer *w = ctx;
    const struct uw_journal_ops *o = w->cfg.journal;
    void *e = o && o->claim ? o->claim(o->ctx, w->bucket, w->key,
                                       mpu_first_part_size(w->mpu),
                                       upload_id, n)
                            : NULL;
    if (!e)
        return 0;
    pthread_mutex_lock(&w->mu);
    w->claimed = e;
    pthread_mutex_unlock(&w->mu);
    aws_log(w->cfg.lg, AWS_LOG_INFO, "%s: continuing the upload %s that an "
            "earlier copy left", w->label, upload_id);
    return 1;
}

/* ---- lifetime --------------------------------------------------------- */

struct upload_writer *uw_new(const struct uw_config *cfg, const char *bucket,
                             const char *key, const char *label)
{
    struct upload_writer *w = calloc(1, sizeof *w);
    struct mpu_options mo = {0};
    struct aws_error err;
    char lb[NAME_ESC_MAX];
    if (!w)
        return NULL;
    w->cfg = *cfg;
    if (!w->cfg.window)
        w->cfg.window = DEFAULT_WINDOW;
    w->bucket = strdup(bucket);
    w->key = strdup(key);
    /* printed in log lines: escaped once (core/name.h) */
    w->label = strdup(name_esc(label ? label : key, lb, sizeof lb));
    mo.part_size = cfg->part_size;
    mo.concurrency = cfg->concurrency;
    mo.shared = cfg->shared;
    mo.may_complete = cfg->may_complete;
    mo.may_complete_ctx = cfg->may_complete_ctx;
    if (cfg->journal && cfg->journal->keep && cfg->journal->claim &&
        !cfg->no_resume) {
        mo.keep_on_network_failure = true;
        mo.resume_claim = claim;
        mo.resume_ctx = w;
    }
    aws_error_clear(&err);
    if (w->bucket && w->key && w->label)
        w->mpu = mpu_new(cfg->client, bucket, key, &mo, &err);
    if (!w->mpu) {
        free(w->bucket);
        free(w->key);
        free(w->label);
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->wlock, NULL);
    pthread_mutex_init(&w->mu, NULL);
    w->state = UW_OPEN;
    return w;
}

void uw_free(struct upload_writer *w)
{
    if (!w)
        return;
    uw_abort(w, ECANCELED, NULL); /* no-op unless still OPEN */
    settle(w);
    mpu_free(w->mpu);
    while (w->held) {
        struct seg *s = w->held;
        w->held = s->next;
        free(s);
    }
    pthread_mutex_destroy(&w->wlock);
    pthread_mutex_destroy(&w->mu);
    free(w->bucket);
    free(w->key);
    free(w->label);
    free(w);
}

/* ---- failure ---------------------------------------------------------- */

int uw_fail(struct upload_writer *w, int err)
{
    pthread_mutex_lock(&w->mu);
    bool now = (w->state == UW_OPEN || w->state == UW_COMPLETING) &&
               transition(w, UW_FAILED, -err);
    int rc = w->result ? w->result : -err;
    pthread_mutex_unlock(&w->mu);
    if (now) {
        aws_log(w->cfg.lg, AWS_LOG_ERROR, "%s: upload failed: %s; "
                "nothing published", w->label, strerror(err));
        mpu_abort(w->mpu);
        settle(w);
    }
    return rc;
}

int uw_abort(struct upload_writer *w, int err, const char *why)
{
    pthread_mutex_lock(&w->mu);
    enum uw_state st = w->state;
    bool now = st == UW_OPEN && transition(w, UW_ABORTED, -err);
    uint64_t got = w->far;
    pthread_mutex_unlock(&w->mu);
    if (st == UW_COMPLETING || st == UW_DONE)
        return -EBUSY;
    if (!now)
        return 0;
    if (why)
        aws_log(w->cfg.lg, AWS_LOG_WARN, "%s: upload aborted after %llu "
                "bytes: %s", w->label, (unsigned long long)got, why);
    mpu_abort(w->mpu);
    settle(w);
    return 0;
}

/* The uploader's failure as this writer's -errno (ECANCELED once aborted
 * on request: the uploader then only says "aborted"). */
static int mpu_failed(struct upload_writer *w, const struct aws_error *e)
{
    pthread_mutex_lock(&w->mu);
    int aborted = w->state == UW_ABORTED ? w->result : 0;
    pthread_mutex_unlock(&w->mu);
    if (aborted)
        return aborted;
    char msg[400], kb[NAME_ESC_MAX];
    aws_error_format(e, msg, sizeof msg);
    name_esc(w->key, kb, sizeof kb);
    aws_log(w->cfg.lg, AWS_LOG_ERROR, "%s: upload to s3://%s/%s: %s",
            w->label, w->bucket, kb, msg);
    pthread_mutex_lock(&w->mu);
    if (!w->why[0])
        snprintf(w->why, sizeof w->why, "upload to s3://%s/%.400s failed: %s",
                 w->bucket, kb, msg);
    pthread_mutex_unlock(&w->mu);
    int en = aws_error_errno(e);
    return uw_fail(w, en > 0 ? en : EIO);
}

/* ---- bytes in order --------------------------------------------------- */

/* Hand n in-order bytes to the tee and the uploader. 0 or -errno. */
static int push(struct upload_writer *w, const void *p, size_t n)
{
    struct aws_error err;
    if (w->cfg.tee) {
        int rc = w->cfg.tee(w->cfg.tee_ctx, p, n);
        if (rc < 0)
            return uw_fail(w, -rc);
    }
    aws_error_clear(&err);
    if (mpu_write(w->mpu, p, n, &err) < 0)
        return mpu_failed(w, &err);
    journal_note(w);
    pthread_mutex_lock(&w->mu);
    w->sent += n;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static int push_zeros(struct upload_writer *w, uint64_t upto)
{
    while (w->sent < upto) {
        uint64_t gap = upto - w->sent;
        int rc = push(w, zeros, gap < sizeof zeros ? (size_t)gap
                                                   : sizeof zeros);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Send the held pieces that now follow `sent`. Gaps before held pieces
 * become holes (zeros) while more than the window is held, or for every
 * piece with `all` (the end). */
static int drain(struct upload_writer *w, bool all)
{
    while (w->held && (all || w->held->off <= w->sent ||
                       w->held_bytes > w->cfg.window)) {
        struct seg *s = w->held;
        int rc = push_zeros(w, s->off);
        if (rc == 0)
            rc = push(w, s->data, s->len);
        w->held = s->next;
        w->held_bytes -= s->len;
        free(s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A piece ahead of `sent`: hold it (sorted). -ESPIPE when it overlaps a
 * held piece (a rewrite). */
static int hold(struct upload_writer *w, const void *data, size_t n,
                uint64_t off)
{
    struct seg **pp = &w->held;
    while (*pp && (*pp)->off + (*pp)->len <= off)
        pp = &(*pp)->next;
    if (*pp && (*pp)->off < off + n)
        return -ESPIPE;
    struct seg *s = malloc(sizeof *s + n);
    if (!s)
        return -ENOMEM;
    s->off = off;
    s->len = n;
    memcpy(s->data, data, n);
    s->next = *pp;
    *pp = s;
    w->held_bytes += n;
    return 0;
}

static int state_errno(struct upload_writer *w)
{
    pthread_mutex_lock(&w->mu);
    int rc = w->state == UW_OPEN         ? 0
             : w->state == UW_COMPLETING ? -EBUSY
             : w->state == UW_DONE       ? -EPERM
                                         : w->result;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static int refuse_rewrite(struct upload_writer *w, uint64_t off)
{
    pthread_mutex_lock(&w->mu);
    if (!w->why[0])
        snprintf(w->why, sizeof w->why, "write at %llu after %llu bytes were "
                 "sent: S3 objects are written front to back; copy to "
                 "local disk first, then cp", (unsigned long long)off,
                 (unsigned long long)w->sent);
    pthread_mutex_unlock(&w->mu);
    aws_log(w->cfg.lg, AWS_LOG_ERROR,
            "%s: write at %llu, before the %llu bytes already sent: S3 "
            "objects are written front to back (reorder window %zu MiB). "
            "For this program, copy to local disk first, then cp the file "
            "here", w->label, (unsigned long long)off,
            (unsigned long long)w->sent, w->cfg.window >> 20);
    return uw_fail(w, ESPIPE);
}

static int write_locked(struct upload_writer *w, const void *data, size_t n,
                        uint64_t off)
{
    int rc = state_errno(w);
    if (rc < 0 || n == 0)
        return rc;
    if (off < w->sent)
        return refuse_rewrite(w, off);
    if (off == w->sent && !(w->held && w->held->off < off + n))
        rc = push(w, data, n);
    else if ((rc = hold(w, data, n, off)) == -ESPIPE)
        return refuse_rewrite(w, off);
    if (rc == 0)
        rc = drain(w, false);
    if (rc < 0)
        return rc < 0 && state_errno(w) == 0 ? uw_fail(w, -rc) : rc;
    pthread_mutex_lock(&w->mu);
    if (off + n > w->far)
        w->far = off + n;
    w->wrote = true;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

ssize_t uw_write(struct upload_writer *w, const void *data, size_t n,
                 uint64_t off)
{
    pthread_mutex_lock(&w->wlock);
    int rc = write_locked(w, data, n, off);
    pthread_mutex_unlock(&w->wlock);
    return rc < 0 ? rc : (ssize_t)n;
}

int uw_truncate(struct upload_writer *w, uint64_t size)
{
    pthread_mutex_lock(&w->wlock);
    int rc = state_errno(w);
    pthread_mutex_lock(&w->mu);
    bool shrink = rc == 0 && size < w->far;
    if (rc == 0 && !shrink)
        w->hint = size;
    pthread_mutex_unlock(&w->mu);
    if (shrink) {
        aws_log(w->cfg.lg, AWS_LOG_ERROR, "%s: truncate to %llu, below the "
                "bytes already written: S3 objects cannot shrink",
                w->label, (unsigned long long)size);
        rc = uw_fail(w, EPERM);
    }
    pthread_mutex_unlock(&w->wlock);
    return rc;
}

/* ---- the end ---------------------------------------------------------- */

/* A resumed copy says what it did not send again. */
static void log_resumed(struct upload_writer *w)
{
    struct mpu_resume_stats rs;
    mpu_resume_stats(w->mpu, &rs);
    if (rs.resumed)
        aws_log(w->cfg.lg, AWS_LOG_WARN, "%s: resumed: %u parts (%llu MiB) "
                "were already in S3 and not sent again, %u parts sent",
                w->label, rs.parts_skipped,
                (unsigned long long)(rs.bytes_skipped >> 20), rs.parts_sent);
}

static int complete_locked(struct upload_writer *w, char *etag)
{
    struct aws_error err;
    pthread_mutex_lock(&w->mu);
    bool go = w->state == UW_OPEN && transition(w, UW_COMPLETING, 0);
    uint64_t end = w->hint > w->far ? w->hint : w->far;
    pthread_mutex_unlock(&w->mu);
    if (!go)
        return state_errno(w) == -EPERM ? 0 : state_errno(w);
    int rc = drain(w, true);
    if (rc == 0)
        rc = push_zeros(w, end);
    if (rc == 0 && w->cfg.tee_end && (rc = w->cfg.tee_end(w->cfg.tee_ctx)) < 0)
        rc = uw_fail(w, -rc);
    if (rc < 0)
        return rc;
    aws_error_clear(&err);
    if (mpu_finish(w->mpu, etag, &err) < 0)
        return mpu_failed(w, &err);
    pthread_mutex_lock(&w->mu);
    transition(w, UW_DONE, 0);
    pthread_mutex_unlock(&w->mu);
    settle(w);
    log_resumed(w);
    return 0;
}

int uw_complete(struct upload_writer *w, char *etag_out)
{
    char etag[72] = "";
    pthread_mutex_lock(&w->wlock);
    int rc = complete_locked(w, etag);
    pthread_mutex_unlock(&w->wlock);
    if (rc == 0 && etag_out && etag[0])
        memcpy(etag_out, etag, sizeof etag);
    return rc;
}

/* ---- getters ---------------------------------------------------------- */

enum uw_state uw_state(struct upload_writer *w)
{
    pthread_mutex_lock(&w->mu);
    enum uw_state s = w->state;
    pthread_mutex_unlock(&w->mu);
    return s;
}

int uw_result(struct upload_writer *w)
{
    pthread_mutex_lock(&w->mu);
    int r = w->state == UW_FAILED || w->state == UW_ABORTED ? w->result : 0;
    pthread_mutex_unlock(&w->mu);
    return r;
}

uint64_t uw_size(struct upload_writer *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t s = w->hint > w->far ? w->hint : w->far;
    pthread_mutex_unlock(&w->mu);
    return s;
}

uint64_t uw_received(struct upload_writer *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t s = w->far;
    pthread_mutex_unlock(&w->mu);
    return s;
}

uint64_t uw_sent(struct upload_writer *w)
{
    return mpu_bytes_sent(w->mpu);
}

bool uw_wrote(struct upload_writer *w)
{
    pthread_mutex_lock(&w->mu);
    bool b = w->wrote;
    pthread_mutex_unlock(&w->mu);
    return b;
}

void uw_error_text(struct upload_writer *w, char *out, size_t n)
{
    pthread_mutex_lock(&w->mu);
    snprintf(out, n, "%s", w->why);
    pthread_mutex_unlock(&w->mu);
}

void uw_upload_id(struct upload_writer *w, char *out, size_t n)
{
    mpu_upload_id(w->mpu, out, n);
}

/* ---- killed writers --------------------------------------------------- */

int uw_stat_exit_signal(const char *stat)
{
    const char *p = stat ? strrchr(stat, ')') : NULL;
    if (!p)
        return -1;
    p++;
    /* Fields 3.. follow the command; exit_code is field 52. */
    for (int field = 3; field < 52; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        while (*p && *p != ' ')
            p++;
    }
    char *end;
    errno = 0;
    long code = strtol(p, &end, 10);
    if (end == p || errno || code < 0)
        return -1;
    return (int)(code & 0x7f);
}

bool uw_kept(struct upload_writer *w)
{
    return mpu_kept(w->mpu);
}

void uw_resume_counts(struct upload_writer *w, unsigned *skipped,
                      unsigned *sent, uint64_t *bytes_skipped)
{
    struct mpu_resume_stats rs;
    mpu_resume_stats(w->mpu, &rs);
    *skipped = rs.resumed ? rs.parts_skipped : 0;
    *sent = rs.resumed ? rs.parts_sent : 0;
    *bytes_skipped = rs.resumed ? rs.bytes_skipped : 0;
}
