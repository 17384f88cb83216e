/*
 * janitor.c — no multipart upload left behind.
 *
 * When an upload fails, aws/mpu aborts its multipart upload, but if the
 * endpoint is unreachable that abort fails too and the parts would stay
 * billed in S3. Every failed upload's id is therefore handed to this
 * janitor, which repeats AbortMultipartUpload every few seconds until S3
 * confirms (NoSuchUpload counts as done). The thread holds no lock while it
 * talks to S3.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/buckets_int.h"

#define RETRY_SECONDS 2

struct stale_upload {
    struct stale_upload *next;
    char *bucket, *key, *id;
};

static void stale_free(struct stale_upload *s)
{
    free(s->bucket);
    free(s->key);
    free(s->id);
    free(s);
}

void bk_janitor_add(struct amifs *fs, const char *bucket, const char *key,
                    const char *upload_id)
{
    struct bk *b = bk_of(fs);
    struct stale_upload *s;

    if (!upload_id || !upload_id[0])
        return;
    s = calloc(1, sizeof(*s));
    if (!s || !(s->bucket = strdup(bucket)) || !(s->key = strdup(key)) ||
        !(s->id = strdup(upload_id))) {
        if (s)
            stale_free(s);
        amifs_log(fs, AWS_LOG_ERROR,
                  "s3://%s/%s: out of memory: upload %s "
                  "may be left behind",
                  bucket, key, upload_id);
        return;
    }
    pthread_mutex_lock(&b->jlock);
    s->next = b->stale;
    b->stale = s;
    pthread_cond_signal(&b->jcond);
    pthread_mutex_unlock(&b->jlock);
}

/* Try each once; return those that are still there. */
static struct stale_upload *sweep(struct amifs *fs, struct stale_upload *l)
{
    struct stale_upload *keep = NULL, *next;
    struct aws_error err;

    for (; l; l = next) {
        next = l->next;
        aws_error_clear(&err);
        if (s3_mpu_abort(fs->client, l->bucket, l->key, l->id, &err) == 0) {
            amifs_log(fs, AWS_LOG_INFO,
                      "s3://%s/%s: multipart upload "
                      "aborted",
                      l->bucket, l->key);
            stale_free(l);
            continue;
        }
        l->next = keep;
        keep = l;
    }
    return keep;
}

static void requeue(struct bk *b, struct stale_upload *l)
{
    while (l) {
        struct stale_upload *next = l->next;
        l->next = b->stale;
        b->stale = l;
        l = next;
    }
}

static void *janitor_main(void *arg)
{
    struct amifs *fs = arg;
    struct bk *b = bk_of(fs);
    struct timespec until;

    pthread_mutex_lock(&b->jlock);
    while (!b->jstop) {
        struct stale_upload *l = b->stale;
        b->stale = NULL;
        pthread_mutex_unlock(&b->jlock);
        l = sweep(fs, l);
        pthread_mutex_lock(&b->jlock);
        requeue(b, l);
        if (b->jstop)
            break;
        if (!b->stale) {
            pthread_cond_wait(&b->jcond, &b->jlock);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += RETRY_SECONDS;
        pthread_cond_timedwait(&b->jcond, &b->jlock, &until);
    }
    pthread_mutex_unlock(&b->jlock);
    return NULL;
}

int bk_janitor_start(struct amifs *fs)
{
    struct bk *b = bk_of(fs);

    pthread_mutex_init(&b->jlock, NULL);
    pthread_cond_init(&b->jcond, NULL);
    if (pthread_create(&b->janitor, NULL, janitor_main, fs) != 0) {
        pthread_cond_destroy(&b->jcond);
        pthread_mutex_destroy(&b->jlock);
        return -EAGAIN;
    }
    b->jrunning = true;
    return 0;
}

void bk_janitor_stop(struct amifs *fs)
{
    struct bk *b = bk_of(fs);
    struct stale_upload *l;

    if (!b->jrunning)
        return;
    pthread_mutex_lock(&b->jlock);
    b->jstop = true;
    pthread_cond_signal(&b->jcond);
    pthread_mutex_unlock(&b->jlock);
    pthread_join(b->janitor, NULL);
    b->jrunning = false;
    l = sweep(fs, b->stale); /* a last try at unmount */
    b->stale = NULL;
    while (l) {
        struct stale_upload *next = l->next;
        amifs_log(fs, AWS_LOG_ERROR,
                  "s3://%s/%s: could not abort multipart "
                  "upload %s; remove it with `aws s3api "
                  "abort-multipart-upload`",
                  l->bucket, l->key, l->id);
        stale_free(l);
        l = next;
    }
    pthread_cond_destroy(&b->jcond);
    pthread_mutex_destroy(&b->jlock);
}
