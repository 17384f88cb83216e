/*
 * janitor.c — retry AbortMultipartUpload until S3 confirms (contract in
 * core/janitor.h).
 */
#include "core/janitor.h"
#include "core/name.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/iam.h"
#include "aws/sts.h"
#include "aws/s3.h"

#define BACKOFF_FIRST 2 /* seconds */
#define BACKOFF_MAX 10

struct item {
    struct item *next;
    char *bucket, *key, *id;
    struct journal_entry *e;
    int delay;     /* seconds until the next try after a failure */
    time_t due;    /* CLOCK_MONOTONIC seconds */
};

struct janitor {
    struct aws_client *c;
    struct journal *jn;
    const struct aws_logger *lg;
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;
    struct item *queue;
    int pending;
    bool stop;
    pthread_t th;
};

static time_t now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void item_free(struct item *it)
{
    free(it->bucket);
    free(it->key);
    free(it->id);
    free(it);
}

static struct item *item_new(const char *bucket, const char *key,
                             const char *id, struct journal_entry *e)
{
    struct item *it = calloc(1, sizeof(*it));

    if (!it)
        return NULL;
    it->bucket = strdup(bucket);
    it->key = strdup(key);
    it->id = strdup(id);
    if (!it->bucket || !it->key || !it->id) {
        item_free(it);
        return NULL;
    }
    it->e = e;
    it->delay = BACKOFF_FIRST;
    it->due = now_mono();
    return it;
}

static void enqueue_locked(struct janitor *jt, struct item *it)
{
    it->next = jt->queue;
    jt->queue = it;
    jt->pending++;
}

/* One AbortMultipartUpload. On success the entry is deleted and the item
 * freed: true. On failure the item is left for later: false. */
static bool try_abort(struct janitor *jt, struct item *it)
{
    struct aws_error err;
    char msg[512], kb[NAME_ESC_MAX];

    aws_error_clear(&err);
    name_esc(it->key, kb, sizeof(kb));
    if (s3_mpu_abort(jt->c, it->bucket, it->key, it->id, &err) == 0) {
        aws_log(jt->lg, AWS_LOG_INFO, "s3://%s/%s: multipart upload %s "
                "aborted", it->bucket, kb, it->id);
        journal_done(jt->jn, it->e);
        item_free(it);
        return true;
    }
    aws_error_format(&err, msg, sizeof(msg));
    aws_log(jt->lg, AWS_LOG_WARN, "s3://%s/%s: could not abort multipart "
            "upload %s (%s); will retry%s", it->bucket, kb, it->id, msg,
            it->e ? " (kept in the upload journal)" : "");
    return false;
}

void janitor_add(struct janitor *jt, const char *bucket, const char *key,
                 const char *upload_id, struct journal_entry *e)
{
    struct item *it;
    char kb[NAME_ESC_MAX];

    if (!upload_id || !upload_id[0]) {
        journal_done(jt ? jt->jn : NULL, e);
        return;
    }
    it = jt ? item_new(bucket, key, upload_id, e) : NULL;
    if (!it) {
        journal_keep(NULL, e);
        aws_log(jt ? jt->lg : NULL, AWS_LOG_ERROR, "s3://%s/%s: multipart "
                "upload %s may be left behind (no janitor)%s", bucket,
                name_esc(key, kb, sizeof(kb)),
                upload_id, e ? "; it stays in the upload journal" : "");
        return;
    }
    pthread_mutex_lock(&jt->mu);
    enqueue_locked(jt, it);
    pthread_cond_signal(&jt->cv);
    pthread_mutex_unlock(&jt->mu);
}

/* Take the items that are due; the others stay queued. */
static struct item *take_due_locked(struct janitor *jt, time_t now)
{
    struct item *due = NULL, **pp = &jt->queue;

    while (*pp) {
        struct item *it = *pp;
        if (it->due <= now) {
            *pp = it->next;
            it->next = due;
            due = it;
            jt->pending--;
        } else {
            pp = &it->next;
        }
    }
    return due;
}

/* Try each of l once; requeue the failures with a longer delay. */
static void sweep(struct janitor *jt, struct item *l)
{
    while (l) {
        struct item *next = l->next;
        if (!try_abort(jt, l)) {
            l->due = now_mono() + l->delay;
            l->delay = l->delay * 2 > BACKOFF_MAX ? BACKOFF_MAX : l->delay * 2;
            pthread_mutex_lock(&jt->mu);
            enqueue_locked(jt, l);
            pthread_mutex_unlock(&jt->mu);
        }
        l = next;
    }
}

/* Wait until an item is due, one is added, or stop. */
static void wait_locked(struct janitor *jt)
{
    struct timespec until;
    time_t first = 0, now = now_mono();

    for (struct item *it = jt->queue; it; it = it->next)
        if (!first || it->due < first)
            first = it->due;
    if (!first) {
        pthread_cond_wait(&jt->cv, &jt->mu);
        return;
    }
    if (first <= now)
        return;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += first - now;
    pthread_cond_timedwait(&jt->cv, &jt->mu, &until);
}

/* ---- start: the account, then the journal's orphans ---------------------- */

static void learn_account(struct janitor *jt)
{
    struct sts_identity id = {0};
    struct aws_error err;

    aws_error_clear(&err);
    if (sts_get_caller_identity(jt->c, &id, &err) == 0 && id.account) {
        journal_set_account(jt->jn, id.account);
    } else {
        char msg[512];
        aws_error_format(&err, msg, sizeof(msg));
        aws_log(jt->lg, AWS_LOG_WARN, "cannot learn the account (%s): upload "
                "journal entries are matched on endpoint and region only",
                msg);
        journal_set_account(jt->jn, "");
    }
    sts_identity_release(&id);
}

static void on_orphan(void *ctx, const struct journal_record *r,
                      struct journal_entry *e)
{
    struct janitor *jt = ctx;
    struct item *it;
    char kb[NAME_ESC_MAX];

    if (journal_resumable(jt->jn, r)) {
        /* doc/design/resume.md: the same copy run again continues it;
         * aborted here once created + the resume time has passed. */
        aws_log(jt->lg, AWS_LOG_INFO, "s3://%s/%s: multipart upload %s of "
                "an amifs (pid %ld) kept for resume (%s); cp again to finish",
                r->bucket, name_esc(r->key, kb, sizeof(kb)), r->upload_id,
                r->pid, r->label[0] ? r->label : "no path recorded");
        journal_keep(jt->jn, e);
        return;
    }
    it = item_new(r->bucket, r->key, r->upload_id, e);
    if (!it) {
        journal_keep(jt->jn, e);
        return;
    }
    aws_log(jt->lg, AWS_LOG_INFO, "s3://%s/%s: aborting the multipart upload "
            "%s of an amifs (pid %ld) that did not end cleanly", r->bucket,
            name_esc(r->key, kb, sizeof(kb)), r->upload_id, r->pid);
    sweep(jt, it);
}

static void *janitor_main(void *arg)
{
    struct janitor *jt = arg;

    if (jt->jn) {
        learn_account(jt);
        journal_recover(jt->jn, on_orphan, jt);
    }
    pthread_mutex_lock(&jt->mu);
    while (!jt->stop) {
        struct item *due = take_due_locked(jt, now_mono());
        if (due) {
            pthread_mutex_unlock(&jt->mu);
            sweep(jt, due);
            pthread_mutex_lock(&jt->mu);
            continue;
        }
        wait_locked(jt);
    }
    pthread_mutex_unlock(&jt->mu);
    return NULL;
}

struct janitor *janitor_start(struct aws_client *c, struct journal *jn,
                              const struct aws_logger *lg)
{
    struct janitor *jt = calloc(1, sizeof(*jt));
    pthread_condattr_t ca;

    if (!jt) {
        aws_log(lg, AWS_LOG_ERROR, "out of memory: no upload janitor");
        return NULL;
    }
    jt->c = c;
    jt->jn = jn;
    jt->lg = lg;
    pthread_mutex_init(&jt->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&jt->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&jt->th, NULL, janitor_main, jt) != 0) {
        aws_log(lg, AWS_LOG_ERROR, "cannot start the upload janitor: %s",
                strerror(EAGAIN));
        pthread_cond_destroy(&jt->cv);
        pthread_mutex_destroy(&jt->mu);
        free(jt);
        return NULL;
    }
    return jt;
}

int janitor_pending(struct janitor *jt)
{
    int n;

    if (!jt)
        return 0;
    pthread_mutex_lock(&jt->mu);
    n = jt->pending;
    pthread_mutex_unlock(&jt->mu);
    return n;
}

void janitor_stop(struct janitor *jt)
{
    struct item *l, *next;
    char kb[NAME_ESC_MAX];

    if (!jt)
        return;
    pthread_mutex_lock(&jt->mu);
    jt->stop = true;
    pthread_cond_signal(&jt->cv);
    pthread_mutex_unlock(&jt->mu);
    pthread_join(jt->th, NULL);
    l = jt->queue; /* the thread is gone: no lock needed */
    jt->queue = NULL;
    for (; l; l = next) {
        struct aws_error err;
        next = l->next;
        aws_error_clear(&err);
        if (s3_mpu_abort(jt->c, l->bucket, l->key, l->id, &err) == 0) {
            journal_done(jt->jn, l->e);
        } else {
            aws_log(jt->lg, AWS_LOG_ERROR, "s3://%s/%s: could not abort "
                    "multipart upload %s; %s", l->bucket,
                    name_esc(l->key, kb, sizeof(kb)), l->id,
                    l->e ? "it stays in the upload journal: the next mount "
                           "of this endpoint retries it"
                         : "remove it with `aws s3api "
                           "abort-multipart-upload`");
            journal_keep(jt->jn, l->e);
        }
        item_free(l);
    }
    pthread_cond_destroy(&jt->cv);
    pthread_mutex_destroy(&jt->mu);
    free(jt);
}
