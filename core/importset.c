/* importset.c — a folder dropped into imports/ becomes one import
 * (core/importset.h, doc/design/ovf-folders.md). */
#include "core/importset.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/buf.h"
#include "aws/s3.h"
#include "core/name.h"
#include "core/stagedread.h"
#include "ova/ovfdir.h"

#define PARAMS_NAME "amifs.json"
#define TEXT_MAX (4u << 20)
#define ALL_ALGS (OVFDIR_SHA1 | OVFDIR_SHA256 | OVFDIR_SHA512)

enum mkind { MK_OVF, MK_MF, MK_DISK, MK_EXTRA, MK_PARAMS };

struct importset_file {
    char *name;
    enum mkind kind;
    struct importjob *job;       /* MK_DISK */
    struct buf text;             /* MK_OVF, MK_MF, MK_PARAMS */
    struct ovfdir_hash *hash;    /* everything but MK_MF, MK_PARAMS */
    unsigned char dg[3][64];     /* by OVFDIR_SHA1/256/512 index */
    size_t dlen[3];
    uint64_t size;
    bool open, closed;
    bool orphan;                 /* rm'd while open: its handle frees it */
    int result;
    char *err;                   /* why it was refused, once closed */
    time_t mtime;
};

enum set_state { SET_OPEN, SET_STARTING, SET_DONE, SET_FAILED };

struct importset {
    struct importset_env env;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *name, *dir;            /* dir: the staged objects' key prefix */
    struct importjob *lead;
    struct importset_file **f;
    size_t n;
    struct ovfdir_desc *desc;    /* parsed OVF, once closed */
    struct ovfdir_mf *mf;        /* parsed manifest, once closed */
    char **order;                /* amifs.json Disks (no OVF) */
    size_t norder;
    char *params;                /* amifs.json without Disks */
    enum set_state state;
    time_t changed;
    bool stop, worker;
    pthread_t th;
    char marker[4096];           /* "" none */
};

static int alg_index(int alg)
{
    return alg == OVFDIR_SHA1 ? 0 : alg == OVFDIR_SHA256 ? 1 : 2;
}

static bool ends(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static void set_detail(struct importset *s, enum upload_phase ph,
                       const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_detail(struct importset *s, enum upload_phase ph,
                       const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    importjob_waiting(s->lead, ph, msg);
}

/* ---- the crash marker ---------------------------------------------------- */

static int marker_dir(const struct importset_env *env, char *out, size_t n)
{
    if (env->state_dir) {
        snprintf(out, n, "%s", env->state_dir);
    } else {
        const char *x = getenv("XDG_STATE_HOME"), *h = getenv("HOME");
        if (x && *x)
            snprintf(out, n, "%s/amifs/sets", x);
        else if (h && *h)
            snprintf(out, n, "%s/.local/state/amifs/sets", h);
        else
            return -ENOENT;
    }
    char part[4096];
    for (char *p = out + 1; *p; p++) /* mkdir -p, 0700 */
        if (*p == '/') {
            snprintf(part, sizeof part, "%.*s", (int)(p - out), out);
            mkdir(part, 0700);
        }
    mkdir(out, 0700);
    struct stat st;
    if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 022))
        return -EPERM;
    return 0;
}

/* Lock held. Rewrite the marker with the set's staged objects. */
static void marker_write(struct importset *s)
{
    if (!s->marker[0] || !s->env.cfg->bucket)
        return;
    cJSON *o = cJSON_CreateObject(), *keys = cJSON_AddArrayToObject(o, "keys");
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "dir", s->dir);
    /* ImportImage is being called: the objects may be a task's now */
    cJSON_AddBoolToObject(o, "starting", s->state == SET_STARTING);
    cJSON_AddStringToObject(o, "bucket", s->env.cfg->bucket);
    cJSON_AddStringToObject(o, "prefix",
                            s->env.cfg->prefix ? s->env.cfg->prefix : "");
    for (size_t i = 0; i < s->n; i++)
        if (s->f[i]->job)
            cJSON_AddItemToArray(keys, cJSON_CreateString(
                                           importjob_key(s->f[i]->job)));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->marker);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, text, strlen(text));
        close(fd);
        if (w == (ssize_t)strlen(text))
            rename(tmp, s->marker);
        else
            unlink(tmp);
    }
    free(text);
}

static void marker_open(struct importset *s)
{
    char dir[3000];
    if (marker_dir(&s->env, dir, sizeof dir) != 0)
        return;
    unsigned rnd = 0;
    FILE *u = fopen("/dev/urandom", "rb");
    if (u) {
        if (fread(&rnd, sizeof rnd, 1, u) != 1)
            rnd = (unsigned)time(NULL);
        fclose(u);
    }
    snprintf(s->marker, sizeof s->marker, "%s/%ld.%08x.json", dir,
             (long)getpid(), rnd);
    marker_write(s);
}

/* Lock held. The set started or was refused: no marker any more. */
static void marker_drop(struct importset *s)
{
    if (s->marker[0])
        unlink(s->marker);
    s->marker[0] = '\0';
}

/* One marker of a dead daemon: delete its staged objects, report. */
static void reap_one(const struct importset_env *env, const char *path,
                     const char *text)
{
    cJSON *o = cJSON_Parse(text);
    const cJSON *pid = cJSON_GetObjectItem(o, "pid");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(o, "name"));
    const char *bucket =
        cJSON_GetStringValue(cJSON_GetObjectItem(o, "bucket"));
    const char *prefix =
        cJSON_GetStringValue(cJSON_GetObjectItem(o, "prefix"));
    const char *mine = env->cfg->prefix ? env->cfg->prefix : "";
    bool dead = cJSON_IsNumber(pid) && pid->valueint > 0 &&
                kill((pid_t)pid->valueint, 0) != 0 && errno == ESRCH;
    if (!o || !dead || !name || !bucket || !env->cfg->bucket || !prefix ||
        strcmp(bucket, env->cfg->bucket) != 0 || strcmp(prefix, mine) != 0) {
        cJSON_Delete(o);
        return;
    }
    char why[1024];
    if (cJSON_IsTrue(cJSON_GetObjectItem(o, "starting"))) {
        const char *dir = cJSON_GetStringValue(cJSON_GetObjectItem(o, "dir"));
        snprintf(why, sizeof why, "the daemon stopped while ImportImage was "
                 "being called for this folder; its staged disks are kept "
                 "(a task may read them): when no task named %s shows in "
                 "tasks/, delete s3://%s/%s/ by hand", name, bucket,
                 dir ? dir : "?");
        if (env->fail)
            env->fail(env->ctx, name, why);
        unlink(path);
        cJSON_Delete(o);
        return;
    }
    size_t n = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, cJSON_GetObjectItem(o, "keys"))
    {
        struct aws_error err;
        aws_error_clear(&err);
        if (cJSON_IsString(k) &&
            s3_delete_object(env->cfg->client, bucket, k->valuestring,
                             &err) == 0)
            n++;
    }
    snprintf(why, sizeof why, "the daemon stopped while the folder was being "
             "copied; no import was started, its %zu staged disk object(s) "
             "were deleted (an upload in flight is aborted from the upload "
             "journal); copy the folder again", n);
    if (env->fail)
        env->fail(env->ctx, name, why);
    unlink(path);
    cJSON_Delete(o);
}

void importset_reap(const struct importset_env *env)
{
    char dir[4096];
    if (marker_dir(env, dir, sizeof dir) != 0)
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (!ends(e->d_name, ".json") || e->d_name[0] == '.')
            continue;
        char path[8300], text[65536];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
        struct stat st;
        if (fd < 0)
            continue;
        ssize_t got = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                              st.st_uid == geteuid()
                          ? read(fd, text, sizeof text - 1)
                          : -1;
        close(fd);
        if (got <= 0)
            continue;
        text[got] = '\0';
        reap_one(env, path, text);
    }
    if (d)
        closedir(d);
}

static void ensure_worker(struct importset *s);

/* ---- lifetime ------------------------------------------------------------ */

static void file_free(struct importset_file *f)
{
    if (!f)
        return;
    importjob_unref(f->job);
    buf_release(&f->text);
    ovfdir_hash_free(f->hash);
    free(f->err);
    free(f->name);
    free(f);
}

struct importset *importset_new(const struct importset_env *env,
                                const char *name, struct importjob **lead)
{
    struct importset *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->env = *env;
    if (s->env.settle <= 0)
        s->env.settle = 2.0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->name = strdup(name);
    s->lead = importjob_new(env->cfg, name);
    /* the lead's key is "PREFIX/STAMP-RND/NAME": the members go below it */
    s->dir = s->lead ? strdup(importjob_key(s->lead)) : NULL;
    s->changed = time(NULL);
    if (!s->name || !s->lead || !s->dir) {
        importset_free(s);
        return NULL;
    }
    set_detail(s, UPLOAD_STAGED, "empty folder; waiting for its files (an "
               ".ovf with its disks, or disks and an " PARAMS_NAME
               " listing \"Disks\")");
    pthread_mutex_lock(&s->mu);
    marker_open(s);
    ensure_worker(s);
    pthread_mutex_unlock(&s->mu);
    importjob_ref(s->lead);
    *lead = s->lead;
    return s;
}

/* Abort uploads in flight, delete staged objects (no lock held: network;
 * called once the set is no longer OPEN, so s->f no longer changes). */
static void drop_members(struct importset *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->f[i]->job)
            importjob_cancel(s->f[i]->job);
}

void importset_free(struct importset *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    bool joined = s->worker;
    pthread_mutex_unlock(&s->mu);
    if (joined)
        pthread_join(s->th, NULL);
    /* unmount: an upload in flight is aborted (as for a single file); what
     * is staged stays with its marker only if the set never ended — a
     * clean unmount deletes it, so nothing is left half-done */
    if (s->state == SET_OPEN) {
        drop_members(s);
        marker_drop(s);
    }
    for (size_t i = 0; i < s->n; i++)
        file_free(s->f[i]);
    free(s->f);
    for (size_t i = 0; i < s->norder; i++)
        free(s->order[i]);
    free(s->order);
    free(s->params);
    free(s->desc);
    ovfdir_mf_free(s->mf);
    importjob_unref(s->lead);
    free(s->name);
    free(s->dir);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- members --------------------------------------------------------------- */

static struct importset_file *find(struct importset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->f[i]->name, name) == 0)
            return s->f[i];
    return NULL;
}

static enum mkind kind_of(const char *name)
{
    if (strcmp(name, PARAMS_NAME) == 0)
        return MK_PARAMS;
    if (ends(name, ".ovf"))
        return MK_OVF;
    if (ends(name, ".mf"))
        return MK_MF;
    enum ova_kind k = ova_kind_from_name(name);
    return k != OVA_KIND_NONE && k != OVA_KIND_OVA ? MK_DISK : MK_EXTRA;
}

/* Lock held. Algorithms to compute for a new file: the manifest's when it
 * is known (only those it names). Before it, none for a disk (one the
 * manifest then lists is read back from its staged object before the
 * import, readback_one) and the three it may name for the rest (small,
 * and an extra file is not stored, so it could not be read back). */
static int algs_for(struct importset *s, const struct importset_file *f)
{
    if (!s->mf)
        return f->kind == MK_DISK ? 0 : ALL_ALGS;
    return ovfdir_mf_alg(s->mf, f->name);
}

static void tap(void *ctx, const void *p, size_t n)
{
    struct importset_file *f = ctx;
    if (f->hash)
        ovfdir_hash_update(f->hash, p, n);
}

static int new_member(struct importset *s, struct importset_file *f)
{
    enum mkind k = f->kind;
    if (k != MK_MF && k != MK_PARAMS) {
        int algs = algs_for(s, f);
        if (algs && !(f->hash = ovfdir_hash_new(algs)))
            return -ENOMEM;
    }
    buf_init(&f->text, TEXT_MAX);
    if (k != MK_DISK)
        return 0;
    char label[2048], key[4096];
    snprintf(label, sizeof label, "%s/%s", s->name, f->name);
    snprintf(key, sizeof key, "%s/%s", s->dir, f->name);
    f->job = importjob_new_at(s->env.cfg, label, key);
    if (!f->job)
        return -ENOMEM;
    importjob_member(f->job, tap, f);
    return 0;
}

static int refuse_name(const char *file, char *why, size_t wn)
{
    if (strchr(file, '/')) {
        snprintf(why, wn, "a folder import takes the files beside the .ovf "
                 "only; a subfolder is not read (move its files up)");
        return -EPERM;
    }
    if (ends(file, ".ova")) {
        snprintf(why, wn, "an OVA inside a folder is not read; copy it to "
                 "imports/ itself");
        return -EINVAL;
    }
    static const char *const foreign[] = {".qcow2", ".qcow", ".vdi",
                                          ".xz", ".gz", ".zip"};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        if (ends(file, foreign[i])) {
            snprintf(why, wn, "%s is not a disk format VM Import reads; "
                     "convert it with `qemu-img convert -O vmdk -o "
                     "subformat=streamOptimized` and copy the .vmdk",
                     foreign[i] + 1);
            return -EINVAL;
        }
    return 0;
}

int importset_create(struct importset *s, const char *file,
                     struct importset_file **out, char *why, size_t wn)
{
    int rc = refuse_name(file, why, wn);
    if (rc != 0)
        return rc;
    struct importset_file *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(file))) {
        free(f);
        return -ENOMEM;
    }
    f->kind = kind_of(file);
    f->open = true;
    f->mtime = time(NULL);
    pthread_mutex_lock(&s->mu);
    if (s->state != SET_OPEN) {
        snprintf(why, wn, "the folder's import has %s; no file can be added",
                 s->state == SET_FAILED ? "failed" : "started");
        rc = -EBUSY;
    } else if (find(s, file)) {
        snprintf(why, wn, "%s is already in the folder", file);
        rc = -EEXIST;
    } else
        rc = new_member(s, f);
    struct importset_file **nv =
        rc == 0 ? realloc(s->f, (s->n + 1) * sizeof *nv) : NULL;
    if (rc == 0 && !nv)
        rc = -ENOMEM;
    if (rc == 0) {
        s->f = nv;
        s->f[s->n++] = f;
        s->changed = time(NULL);
        marker_write(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) {
        file_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

ssize_t importset_write(struct importset *s, struct importset_file *f,
                        const void *buf, size_t n, off_t off)
{
    (void)s;
    if (f->closed)
        return -EBADF;
    if (f->job) {
        ssize_t rc = importjob_write(f->job, buf, n, off);
        if (rc > 0 && (uint64_t)off + (uint64_t)rc > f->size)
            f->size = (uint64_t)off + (uint64_t)rc;
        f->mtime = time(NULL);
        return rc;
    }
    if (off < 0 || (uint64_t)off != f->size)
        return -ESPIPE; /* descriptor, manifest, extras: in order */
    if (f->kind != MK_EXTRA && buf_append(&f->text, buf, n) != 0)
        return -EFBIG;
    if (f->hash)
        ovfdir_hash_update(f->hash, buf, n);
    f->size += n;
    f->mtime = time(NULL);
    return (ssize_t)n;
}

int importset_truncate(struct importset *s, struct importset_file *f,
                       off_t size)
{
    (void)s;
    if (f->job) {
        int rc = importjob_truncate(f->job, size);
        if (rc == 0 && (uint64_t)size > f->size)
            f->size = (uint64_t)size;
        return rc;
    }
    return size >= 0 && (uint64_t)size == f->size ? 0 : -ESPIPE;
}

/* ---- closing a member -------------------------------------------------------- */

static void finish_hash(struct importset_file *f)
{
    if (!f->hash)
        return;
    static const int algs[3] = {OVFDIR_SHA1, OVFDIR_SHA256, OVFDIR_SHA512};
    for (int i = 0; i < 3; i++)
        if (ovfdir_hash_algs(f->hash) & algs[i])
            f->dlen[i] = ovfdir_hash_final(f->hash, algs[i], f->dg[i]);
}

/* amifs.json: "Disks" kept apart, the rest checked as a sidecar. */
static int take_params(struct importset *s, struct importset_file *f,
                       char *why, size_t wn)
{
    cJSON *o = cJSON_ParseWithLength(f->text.data ? f->text.data : "",
                                     f->text.len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        snprintf(why, wn, PARAMS_NAME " is not a JSON object");
        return -EINVAL;
    }
    cJSON *d = cJSON_DetachItemFromObjectCaseSensitive(o, "Disks");
    size_t n = (size_t)cJSON_GetArraySize(d);
    char **order = n ? calloc(n, sizeof *order) : NULL;
    int rc = d && !cJSON_IsArray(d) ? -EINVAL : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *v = cJSON_GetStringValue(cJSON_GetArrayItem(d, (int)i));
        if (!v || kind_of(v) != MK_DISK || strchr(v, '/'))
            rc = -EINVAL;
        else if (!order || !(order[i] = strdup(v)))
            rc = -ENOMEM;
    }
    if (rc == -EINVAL)
        snprintf(why, wn, PARAMS_NAME ": \"Disks\" must be a list of disk "
                 "file names of this folder (.vmdk .vhd .vhdx .raw .img), "
                 "in volume order");
    char *rest = rc == 0 ? cJSON_PrintUnformatted(o) : NULL;
    if (rc == 0 && rest &&
        (rc = import_params_check(rest, strlen(rest), why, wn)) > 0)
        rc = 0;
    if (rc == 0 && rest) {
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->norder; i++)
            free(s->order[i]);
        free(s->order);
        s->order = order;
        s->norder = n;
        free(s->params);
        s->params = rest;
        pthread_mutex_unlock(&s->mu);
        order = NULL;
        rest = NULL;
    }
    for (size_t i = 0; order && i < n; i++)
        free(order[i]);
    free(order);
    free(rest);
    cJSON_Delete(d);
    cJSON_Delete(o);
    return rc < 0 ? rc : 0;
}

/* The member's own verdict at close: 0, or -errno with why. */
static int close_member(struct importset *s, struct importset_file *f,
                        char *why, size_t wn)
{
    char code[32];
    int rc = 0;
    if (f->job) {
        rc = importjob_close(f->job);
        if (rc != 0) {
            struct importjob_info in;
            importjob_info(f->job, &in);
            snprintf(why, wn, "%s: %s", f->name,
                     in.u.detail ? in.u.detail : strerror(-rc));
            importjob_info_release(&in);
        }
    } else if (f->kind == MK_OVF) {
        struct ovfdir_desc *d = malloc(sizeof *d);
        char r[600];
        rc = !d ? -ENOMEM
             : ovfdir_parse(f->text.data ? f->text.data : "", f->text.len, d,
                            r, sizeof r, code, sizeof code) == 0
                 ? 0
                 : -EINVAL;
        if (rc == -EINVAL)
            snprintf(why, wn, "%s: %s (%s)", f->name, r, code);
        pthread_mutex_lock(&s->mu);
        if (rc == 0 && !s->desc) {
            s->desc = d;
            d = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        free(d);
    } else if (f->kind == MK_MF) {
        char r[600];
        struct ovfdir_mf *m = ovfdir_mf_parse(
            f->text.data ? f->text.data : "", f->text.len, r, sizeof r);
        if (!m) {
            snprintf(why, wn, "%s: %s (bad-manifest)", f->name, r);
            rc = -EINVAL;
        }
        pthread_mutex_lock(&s->mu);
        if (m && !s->mf) {
            s->mf = m;
            m = NULL;
        }
        pthread_mutex_unlock(&s->mu);
        ovfdir_mf_free(m);
    } else if (f->kind == MK_PARAMS)
        rc = take_params(s, f, why, wn);
    finish_hash(f);
    return rc;
}

static void fail_set(struct importset *s, const char *why);
static void step(struct importset *s);

int importset_close(struct importset *s, struct importset_file *f)
{
    pthread_mutex_lock(&s->mu);
    bool done = f->closed;
    int res = f->result;
    pthread_mutex_unlock(&s->mu);
    if (done)
        return res;
    char why[1200] = "";
    int rc = close_member(s, f, why, sizeof why);
    pthread_mutex_lock(&s->mu);
    f->closed = true;
    f->open = false;
    f->result = rc;
    if (rc != 0 && !f->err)
        f->err = strdup(why);
    s->changed = time(NULL);
    marker_write(s);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0 && rc != -ECANCELED)
        fail_set(s, why);
    else
        step(s);
    return rc;
}

/* ---- is the set complete? ------------------------------------------------ */

enum verdict { EV_WAIT, EV_READY, EV_FAIL };

struct plan {
    struct importjob_disk d[OVA_MAX_DISKS];
    struct importjob *jobs[OVA_MAX_DISKS];
    size_t n;
    char note[600];
};

/* Lock held. A second OVF, or a member refused at its close. */
static enum verdict refused_member(struct importset *s, char *out, size_t n)
{
    const char *ovf = NULL;
    for (size_t i = 0; i < s->n; i++) {
        struct importset_file *f = s->f[i];
        if (f->err) {
            snprintf(out, n, "%s", f->err);
            return EV_FAIL;
        }
        if (f->kind == MK_OVF && ovf) {
            snprintf(out, n, "two OVF descriptors in one folder (%s, %s): "
                     "one folder is one VM; copy each VM into a folder of "
                     "its own", ovf, f->name);
            return EV_FAIL;
        }
        if (f->kind == MK_OVF)
            ovf = f->name;
    }
    return EV_WAIT;
}

/* Lock held. Every present, closed file the manifest lists matches it. */
static enum verdict check_manifest(struct importset *s, char *out, size_t n)
{
    for (size_t i = 0; s->mf && i < s->n; i++) {
        struct importset_file *f = s->f[i];
        int alg = ovfdir_mf_alg(s->mf, f->name);
        if (!alg || !f->closed || f->kind == MK_MF)
            continue;
        int k = alg_index(alg);
        if (!f->dlen[k] && f->kind == MK_DISK)
            continue; /* read back before the start (readback_one) */
        if (!f->dlen[k]) {
            snprintf(out, n, "%s was copied before the manifest, which "
                     "asks for %s, a digest amifs had not computed; copy the "
                     ".mf first or leave it out", f->name,
                     ovfdir_alg_name(alg));
            return EV_FAIL;
        }
        if (ovfdir_mf_check(s->mf, f->name, alg, f->dg[k], f->dlen[k]) == 0) {
            snprintf(out, n, "%s does not match its %s digest in the "
                     "manifest: the copy is damaged or the manifest is "
                     "stale (bad-manifest)", f->name, ovfdir_alg_name(alg));
            return EV_FAIL;
        }
    }
    return EV_WAIT;
}

/* Lock held. The disks in order, or why we still wait (out). */
static bool disk_list(struct importset *s, const char **names, size_t *nn,
                      const char **formats, char *out, size_t n)
{
    *nn = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->f[i]->kind == MK_OVF && !s->f[i]->closed) {
            snprintf(out, n, "receiving %s", s->f[i]->name);
            return false;
        }
    if (s->desc) {
        for (size_t i = 0; i < s->desc->ndisks; i++) {
            names[i] = s->desc->disks[i].href;
            formats[i] = s->desc->disks[i].format;
        }
        *nn = s->desc->ndisks;
        return true;
    }
    for (size_t i = 0; i < s->norder && i < OVA_MAX_DISKS; i++) {
        names[i] = s->order[i];
        formats[i] = ova_kind_format(ova_kind_from_name(s->order[i]));
    }
    *nn = s->norder;
    if (*nn)
        return true;
    size_t disks = 0;
    for (size_t i = 0; i < s->n; i++)
        disks += s->f[i]->kind == MK_DISK;
    snprintf(out, n, "waiting for an .ovf descriptor, or an " PARAMS_NAME
             " listing \"Disks\" in order (%zu disk file%s present)", disks,
             disks == 1 ? "" : "s");
    return false;
}

/* Lock held. What is not imported, for the Description and the log. */
static void make_note(struct importset *s, struct plan *p)
{
    struct buf b;
    buf_init(&b, sizeof p->note - 1);
    for (size_t i = 0; i < s->n; i++) {
        struct importset_file *f = s->f[i];
        bool disk = false;
        for (size_t k = 0; k < p->n; k++)
            disk = disk || p->jobs[k] == f->job;
        if (disk || f->kind == MK_OVF || f->kind == MK_MF ||
            f->kind == MK_PARAMS)
            continue;
        bool media = s->desc && ovfdir_is_media(s->desc, f->name);
        buf_printf(&b, "%s%s%s", b.len ? ", " : "not imported: ", f->name,
                   media ? " (CD-ROM/floppy)" : "");
    }
    snprintf(p->note, sizeof p->note, "%s", b.data ? b.data : "");
    buf_release(&b);
}

/* Lock held. */
static enum verdict evaluate(struct importset *s, struct plan *p, char *out,
                             size_t n)
{
    if (refused_member(s, out, n) == EV_FAIL ||
        check_manifest(s, out, n) == EV_FAIL)
        return EV_FAIL;
    const char *names[OVA_MAX_DISKS], *formats[OVA_MAX_DISKS];
    size_t nn;
    if (!disk_list(s, names, &nn, formats, out, n))
        return EV_WAIT;
    const char *missing = NULL;
    size_t have = 0;
    p->n = 0;
    for (size_t i = 0; i < nn; i++) {
        struct importset_file *f = find(s, names[i]);
        bool ok = f && f->job && f->closed &&
                  importjob_phase(f->job) == UPLOAD_STAGED;
        if (!ok && !missing)
            missing = names[i];
        if (!ok)
            continue;
        have++;
        p->jobs[p->n] = f->job;
        p->d[p->n].key = importjob_key(f->job);
        p->d[p->n].etag = importjob_etag(f->job);
        p->d[p->n++].format = formats[i];
    }
    if (missing) {
        struct importset_file *f = find(s, missing);
        snprintf(out, n, "%s %s (%zu of %zu disk%s present)",
                 f ? "receiving" : "waiting for", missing, have, nn,
                 nn == 1 ? "" : "s");
        return EV_WAIT;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!s->f[i]->closed) {
            snprintf(out, n, "all %zu disk%s present; receiving %s", nn,
                     nn == 1 ? "" : "s", s->f[i]->name);
            return EV_WAIT;
        }
    make_note(s, p);
    return EV_READY;
}

/* ---- disks copied before the manifest ------------------------------------- */

/* A disk the manifest lists whose digest was not computed as it streamed
 * (it came before the .mf): it is read back from its staged object. */
struct readback {
    char name[256], key[1024], etag[72];
    struct importjob *job;
    uint64_t size;
    int alg;
};

/* Lock held. The first such disk into *rb (its job referenced). */
static bool next_readback(struct importset *s, struct readback *rb)
{
    for (size_t i = 0; s->mf && i < s->n; i++) {
        struct importset_file *f = s->f[i];
        int alg = ovfdir_mf_alg(s->mf, f->name);
        if (!alg || f->kind != MK_DISK || !f->closed || !f->job ||
            f->dlen[alg_index(alg)])
            continue;
        snprintf(rb->name, sizeof rb->name, "%s", f->name);
        snprintf(rb->key, sizeof rb->key, "%s", importjob_key(f->job));
        snprintf(rb->etag, sizeof rb->etag, "%s", importjob_etag(f->job));
        rb->job = f->job;
        importjob_ref(f->job);
        rb->size = f->size;
        rb->alg = alg;
        return true;
    }
    return false;
}

/* Read one disk back and keep its digest on the file (if it is still the
 * same file). Lock not held. 0, or -1 with why (a mismatch or a read that
 * failed: the set is refused either way, nothing is imported unchecked). */
static int readback_one(struct importset *s, struct readback *rb, char *why,
                        size_t wn)
{
    unsigned char dg[64];
    char rwhy[600] = "";
    struct staged_src src = {s->env.cfg->client, s->env.cfg->bucket,
                             rb->key, rb->etag, 0, rwhy, sizeof rwhy};
    set_detail(s, UPLOAD_STAGED, "verifying the manifest: reading %s back "
               "(%llu MiB; it was copied before the .mf)", rb->name,
               (unsigned long long)(rb->size >> 20));
    long len = staged_digest(&src, rb->size, rb->alg, dg);
    pthread_mutex_lock(&s->mu);
    struct importset_file *f = find(s, rb->name);
    int ok = len > 0 && s->mf ? ovfdir_mf_check(s->mf, rb->name, rb->alg, dg,
                                                (size_t)len)
                              : -1;
    if (ok == 1 && f && f->job == rb->job) {
        int k = alg_index(rb->alg);
        memcpy(f->dg[k], dg, (size_t)len);
        f->dlen[k] = (size_t)len;
    }
    pthread_mutex_unlock(&s->mu);
    if (len < 0)
        snprintf(why, wn, "%s could not be read back to check it against "
                 "the manifest: %s; copy the folder again", rb->name,
                 rwhy[0] ? rwhy : strerror((int)-len));
    else if (ok == 0)
        snprintf(why, wn, "%s does not match its %s digest in the manifest "
                 "(read back from its staged object): the copy is damaged "
                 "or the manifest is stale (bad-manifest)", rb->name,
                 ovfdir_alg_name(rb->alg));
    return len < 0 || ok == 0 ? -1 : 0;
}

/* ---- starting, failing ------------------------------------------------------ */

static void fail_set(struct importset *s, const char *why)
{
    pthread_mutex_lock(&s->mu);
    bool mine = s->state == SET_OPEN;
    if (mine) {
        s->state = SET_FAILED;
        marker_drop(s);
    }
    size_t n = s->n;
    struct importjob **jobs = calloc(n ? n : 1, sizeof *jobs);
    for (size_t i = 0; mine && jobs && i < n; i++)
        if ((jobs[i] = s->f[i]->job) != NULL)
            importjob_ref(jobs[i]);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!mine) {
        free(jobs);
        return;
    }
    for (size_t i = 0; jobs && i < n; i++)
        if (jobs[i]) { /* nothing half-done: no staged object stays */
            importjob_cancel(jobs[i]);
            importjob_unref(jobs[i]);
        }
    free(jobs);
    char msg[1400];
    snprintf(msg, sizeof msg, "the folder is refused, nothing was imported "
             "and its staged objects were deleted: %s", why);
    importjob_set_failed(s->lead, EINVAL, msg);
    if (s->env.fail)
        s->env.fail(s->env.ctx, s->name, msg);
}

/* The set is complete and quiet: one ImportImage for every disk. */
static void start(struct importset *s, struct plan *p)
{
    char *params = s->params ? strdup(s->params) : NULL;
    for (size_t i = 0; i < p->n; i++)
        importjob_ref(p->jobs[i]);
    struct ova_facts facts;
    memset(&facts, 0, sizeof facts);
    facts.os_id = -1;
    if (s->desc)
        facts = s->desc->facts;
    pthread_mutex_unlock(&s->mu);
    int rc = params ? importjob_set_sidecar(s->lead, params, strlen(params))
                    : 0;
    free(params);
    if (rc == 0)
        rc = importjob_start_set(s->lead, p->d, p->n, &facts,
                                 p->note[0] ? p->note : NULL);
    else
        importjob_set_failed(s->lead, -rc, "the folder's " PARAMS_NAME
                             " was refused");
    pthread_mutex_lock(&s->mu);
    s->state = rc == 0 ? SET_DONE : SET_FAILED;
    marker_drop(s);
    pthread_mutex_unlock(&s->mu);
    if (rc != 0) { /* ImportImage refused: the staged disks go too */
        struct importjob_info in;
        importjob_info(s->lead, &in);
        for (size_t i = 0; i < p->n; i++)
            importjob_cancel(p->jobs[i]);
        if (s->env.fail && rc != -ECANCELED)
            s->env.fail(s->env.ctx, s->name,
                        in.u.detail ? in.u.detail : "ImportImage failed");
        importjob_info_release(&in);
    }
    for (size_t i = 0; i < p->n; i++)
        importjob_unref(p->jobs[i]);
}

/* Look at the set: update the lead's status, fail it, or (quiet for the
 * settle time, and `may_start`) start it. */
static void look(struct importset *s, bool may_start)
{
    char why[1200];
    struct plan *p = calloc(1, sizeof *p);
    if (!p)
        return;
    pthread_mutex_lock(&s->mu);
    enum verdict v = s->state == SET_OPEN ? evaluate(s, p, why, sizeof why)
                                          : EV_WAIT;
    bool open = s->state == SET_OPEN;
    double quiet = difftime(time(NULL), s->changed);
    struct readback rb;
    bool ready = open && v == EV_READY && may_start &&
                 quiet >= s->env.settle;
    if (ready && next_readback(s, &rb)) {
        /* one disk per look, the set still open (a crash now reaps it) */
        pthread_mutex_unlock(&s->mu);
        int rc = readback_one(s, &rb, why, sizeof why);
        importjob_unref(rb.job);
        if (rc < 0)
            fail_set(s, why);
    } else if (ready) {
        s->state = SET_STARTING;
        marker_write(s);
        start(s, p); /* returns with the lock released */
    } else {
        pthread_mutex_unlock(&s->mu);
        if (open && v == EV_FAIL)
            fail_set(s, why);
        else if (open && v == EV_READY)
            set_detail(s, UPLOAD_STAGED, "complete (%zu disk%s); starting "
                       "ImportImage once the folder has been quiet for %.0f "
                       "s", p->n, p->n == 1 ? "" : "s", s->env.settle);
        else if (open)
            set_detail(s, UPLOAD_STAGED, "%s", why);
    }
    free(p);
}

static void step(struct importset *s)
{
    look(s, false);
}

static void *worker(void *arg)
{
    struct importset *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop && s->state == SET_OPEN) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stop || s->state != SET_OPEN)
            break;
        pthread_mutex_unlock(&s->mu);
        if (importjob_phase(s->lead) == UPLOAD_CANCELLED)
            importset_cancel(s); /* rm -r tasks/NAME */
        else
            look(s, true);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Lock held. */
static void ensure_worker(struct importset *s)
{
    if (!s->worker && !s->stop &&
        pthread_create(&s->th, NULL, worker, s) == 0)
        s->worker = true;
}

/* ---- rm, rmdir, listing ------------------------------------------------------ */

int importset_unlink(struct importset *s, const char *file)
{
    pthread_mutex_lock(&s->mu);
    struct importset_file *f = find(s, file);
    int rc = !f ? -ENOENT : s->state == SET_OPEN ? 0 : -EBUSY;
    struct importjob *j = rc == 0 && f->job ? f->job : NULL;
    if (j)
        importjob_ref(j);
    if (rc == 0) {
        for (size_t i = 0; i < s->n; i++)
            if (s->f[i] == f)
                s->f[i] = s->f[--s->n];
        if (f->kind == MK_OVF) {
            free(s->desc);
            s->desc = NULL;
        } else if (f->kind == MK_MF) {
            ovfdir_mf_free(s->mf);
            s->mf = NULL;
        }
        s->changed = time(NULL);
        marker_write(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (j) {
        importjob_cancel(j);
        importjob_unref(j);
    }
    if (rc == 0 && !f->open)
        file_free(f);
    else if (rc == 0) { /* its handle's importset_release frees it */
        pthread_mutex_lock(&s->mu);
        f->orphan = true;
        f->closed = true;
        f->result = -ECANCELED;
        pthread_mutex_unlock(&s->mu);
    }
    if (rc == 0)
        step(s);
    return rc;
}

int importset_cancel(struct importset *s)
{
    pthread_mutex_lock(&s->mu);
    int rc = s->state == SET_OPEN || s->state == SET_FAILED ? 0 : -EBUSY;
    bool open = s->state == SET_OPEN;
    if (open) {
        s->state = SET_FAILED;
        marker_drop(s);
    }
    pthread_mutex_unlock(&s->mu);
    if (!open)
        return rc;
    drop_members(s); /* jobs are only freed by importset_free */
    importjob_waiting(s->lead, UPLOAD_CANCELLED, "the folder was removed "
                      "before its import started; uploads aborted, staged "
                      "objects deleted");
    return 0;
}

void importset_release(struct importset *s, struct importset_file *f)
{
    pthread_mutex_lock(&s->mu);
    bool orphan = f->orphan;
    f->open = false;
    pthread_mutex_unlock(&s->mu);
    if (orphan)
        file_free(f);
}

bool importset_started(struct importset *s)
{
    pthread_mutex_lock(&s->mu);
    bool r = s->state == SET_STARTING || s->state == SET_DONE;
    pthread_mutex_unlock(&s->mu);
    return r;
}

int importset_names(struct importset *s, char ***names, size_t *n)
{
    pthread_mutex_lock(&s->mu);
    char **v = calloc(s->n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < s->n; i++)
        if ((v[k] = strdup(s->f[i]->name)) != NULL)
            k++;
    pthread_mutex_unlock(&s->mu);
    *names = v;
    *n = k;
    return v ? 0 : -ENOMEM;
}

int importset_stat(struct importset *s, const char *file, uint64_t *size,
                   bool *open, time_t *mtime)
{
    pthread_mutex_lock(&s->mu);
    struct importset_file *f = find(s, file);
    if (f) {
        *size = f->size;
        *open = f->open;
        *mtime = f->mtime;
    }
    pthread_mutex_unlock(&s->mu);
    return f ? 0 : -ENOENT;
}
