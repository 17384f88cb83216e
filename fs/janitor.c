/*
 * janitor.c — no multipart upload left behind.
 *
 * When an upload fails, aws/mpu aborts its multipart upload, but if the
 * endpoint is unreachable that abort fails too and the parts would stay
 * billed in S3. Every failed upload's id is therefore handed to this
 * janitor, which repeats AbortMultipartUpload every few seconds until S3
 * confirms (NoSuchUpload counts as done). The thread holds no lock while it
 * talks to S3.
 *
 * A daemon that is killed (SIGKILL, OOM, power loss) aborts nothing, and
 * S3 cannot tell us which uploads are ours (ListMultipartUploads returns no
 * metadata). So each multipart upload in flight is also written down in a
 * journal directory ($XDG_STATE_HOME or ~/.local/state, then amifs/uploads):
 * one small file per upload, named after the daemon's pid, removed when the
 * upload ends. When the janitor thread starts, it aborts the uploads whose
 * daemon no longer runs, by their exact upload id, so a live mount's
 * uploads (also another mount of the same bucket) are never touched.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ---- the upload journal ------------------------------------------------ */

#define JOURNAL_MAGIC "amifs-upload 1\n"
#define JOURNAL_MAX 8192 /* bucket + id + key (S3 keys are ≤ 1024 bytes) */

/* mkdir -p for the journal, private to the user (0700). */
static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* $XDG_STATE_HOME/amifs/uploads or $HOME/.local/state/amifs/uploads,
 * created; NULL when neither is set or it cannot be made. */
static char *journal_dir(void)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char path[4096];
    int n;

    if (xdg && xdg[0] == '/')
        n = snprintf(path, sizeof(path), "%s/amifs/uploads", xdg);
    else if (home && home[0] == '/')
        n = snprintf(path, sizeof(path), "%s/.local/state/amifs/uploads",
                     home);
    else
        return NULL;
    if (n < 0 || (size_t)n >= sizeof(path) || mkdirs(path) < 0)
        return NULL;
    return strdup(path);
}

char *bk_journal_add(struct amifs *fs, const char *bucket, const char *key,
                     const char *upload_id)
{
    struct bk *b = bk_of(fs);
    char path[4200];
    int fd, n;

    if (!b->jdir || !upload_id[0])
        return NULL;
    n = snprintf(path, sizeof(path), "%s/%ld.XXXXXX", b->jdir,
                 (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(path) || (fd = mkstemp(path)) < 0)
        return NULL;
    n = dprintf(fd, JOURNAL_MAGIC "%s\n%s\n%s", bucket, upload_id, key);
    if (close(fd) < 0 || n < 0) {
        unlink(path);
        return NULL;
    }
    return strdup(path);
}

void bk_journal_remove(char *entry)
{
    if (!entry)
        return;
    unlink(entry);
    free(entry);
}

/* Does pid name a running amifs? Unsure (no /proc) counts as yes, so a
 * live mount's uploads are never aborted; a reused pid is not amifs. */
static bool amifs_alive(long pid)
{
    char path[64], comm[32] = "";
    FILE *f;

    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    f = fopen(path, "r");
    if (!f)
        return true;
    if (!fgets(comm, sizeof(comm), f))
        comm[0] = '\0';
    fclose(f);
    return strncmp(comm, "amifs", 5) == 0;
}

/* Read entry `path` into buf (NUL-terminated) and split it in place:
 * bucket, upload id, key. 0, or -1 when it is not a journal entry. */
static int journal_read(const char *path, char *buf, size_t n,
                        char **bucket, char **id, char **key)
{
    size_t magic = strlen(JOURNAL_MAGIC);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t len;
    char *nl;

    if (fd < 0)
        return -1;
    len = read(fd, buf, n - 1);
    close(fd);
    if (len < (ssize_t)magic || memcmp(buf, JOURNAL_MAGIC, magic) != 0)
        return -1;
    buf[len] = '\0';
    *bucket = buf + magic;
    if (!(nl = strchr(*bucket, '\n')))
        return -1;
    *nl = '\0';
    *id = nl + 1;
    if (!(nl = strchr(*id, '\n')))
        return -1;
    *nl = '\0';
    *key = nl + 1;
    return **bucket && **id && **key ? 0 : -1;
}

/* Abort the upload of one dead daemon's entry; remove the entry once S3
 * confirms (or when it is garbage). A failure keeps it for the next mount. */
static void journal_recover(struct amifs *fs, const char *path)
{
    char buf[JOURNAL_MAX], *bucket, *id, *key;
    struct aws_error err;

    if (journal_read(path, buf, sizeof(buf), &bucket, &id, &key) < 0) {
        unlink(path);
        return;
    }
    aws_error_clear(&err);
    if (s3_mpu_abort(fs->client, bucket, key, id, &err) == 0) {
        amifs_log(fs, AWS_LOG_INFO,
                  "s3://%s/%s: aborted the multipart upload of an amifs "
                  "that did not end cleanly", bucket, key);
        unlink(path);
        return;
    }
    amifs_log(fs, AWS_LOG_WARN,
              "s3://%s/%s: could not abort the multipart upload %s left by "
              "an earlier amifs (%s); will retry at the next mount",
              bucket, key, id, err.message);
}

/* Entry names are PID.XXXXXX. Ours: only entries older than this mount
 * (a previous daemon that had our pid). */
static bool journal_orphan(struct amifs *fs, int dfd, const char *name)
{
    char *end;
    long pid = strtol(name, &end, 10);
    struct stat st;

    if (end == name || *end != '.' || pid <= 0)
        return false;
    if (pid != (long)getpid())
        return !amifs_alive(pid);
    return fstatat(dfd, name, &st, 0) == 0 && st.st_mtime < fs->mount_time;
}

static void journal_sweep(struct amifs *fs)
{
    struct bk *b = bk_of(fs);
    DIR *d;
    struct dirent *e;
    char path[4400];

    if (!b->jdir || !(d = opendir(b->jdir)))
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !journal_orphan(fs, dirfd(d), e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", b->jdir, e->d_name);
        journal_recover(fs, path);
    }
    closedir(d);
}

/* ---- the thread ---------------------------------------------------------- */

static void *janitor_main(void *arg)
{
    struct amifs *fs = arg;
    struct bk *b = bk_of(fs);
    struct timespec until;

    journal_sweep(fs); /* here, so that a slow S3 never delays the mount */
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

/* core/upload.h's journal ops, wired to the functions above. */
static void *jops_add(void *ctx, const char *bucket, const char *key,
                      const char *upload_id)
{
    return bk_journal_add(ctx, bucket, key, upload_id);
}

static void jops_done(void *ctx, void *entry)
{
    (void)ctx;
    bk_journal_remove(entry);
}

/* The abort failed: the janitor retries; the entry file stays (only its
 * name is freed), so a killed daemon's next mount aborts it too. */
static void jops_abort_failed(void *ctx, const char *bucket, const char *key,
                              const char *upload_id, void *entry)
{
    bk_janitor_add(ctx, bucket, key, upload_id);
    free(entry);
}

int bk_janitor_start(struct amifs *fs)
{
    bk_of(fs)->jops = (struct uw_journal_ops){
        .ctx = fs, .add = jops_add, .done = jops_done,
        .abort_failed = jops_abort_failed};
    struct bk *b = bk_of(fs);

    pthread_mutex_init(&b->jlock, NULL);
    pthread_cond_init(&b->jcond, NULL);
    b->jdir = journal_dir();
    if (!b->jdir)
        amifs_log(fs, AWS_LOG_WARN,
                  "no state directory (HOME/XDG_STATE_HOME): uploads of a "
                  "killed daemon will not be aborted by the next mount");
    if (pthread_create(&b->janitor, NULL, janitor_main, fs) != 0) {
        pthread_cond_destroy(&b->jcond);
        pthread_mutex_destroy(&b->jlock);
        free(b->jdir);
        b->jdir = NULL;
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
    free(b->jdir);
    b->jdir = NULL;
}
