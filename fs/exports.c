/*
 * exports.c — exports/: ExportImage tasks as directories (see exports.h).
 *
 * The view holds one DescribeExportImageTasks answer under its lock; a
 * handler copies the one task it needs (task_dup) and renders from the
 * copy with the lock released. `wait` re-asks AWS every poll tick until
 * the task has ended, checking fuse_interrupted() so Ctrl-C works.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/ec2_export.h"
#include "core/diagnosis.h"
#include "fs/view.h"
#include "fs/exports.h"
#include "fs/exports_ova.h"

#define WAIT_TICK_MS 500
#define CANCEL_WORD "cancel"

struct xview {
    pthread_mutex_t lock;
    char *region;
    struct aws_client *client;
    int depth;
    bool acts;                        /* the mounted region's exports/ */
    struct ec2_export_task_list list; /* last answer */
    double fetched;                   /* monotonic seconds, 0: never */
    struct ova_ent *ovas;             /* built NAME.ova layouts */
};

/* The OVA of a completed VMDK export, built at first use (immutable). */
struct ova_ent {
    char id[64];
    struct xova *o;
    struct ova_ent *next;
};

enum xfile { X_STATUS, X_PROGRESS, X_WAIT, X_SOURCE, X_DIAG, X_FILE,
             X_NONE };
static const char *const XFILES[] = {"status", "progress", "wait",
                                     "source", "diagnosis", "file"};

enum xword { W_ACTIVE, W_COMPLETED, W_FAILED, W_CANCELLED };
static const char *const XWORDS[] = {"active", "completed", "failed",
                                     "cancelled"};

/* ---- the listing -------------------------------------------------------- */

static int refresh(struct xview *v, struct amifs *fs, bool force)
{
    pthread_mutex_lock(&v->lock);
    bool fresh = v->fetched > 0 &&
                 view_now() - v->fetched < fs->opts.cache_ttl;
    pthread_mutex_unlock(&v->lock);
    if (fresh && !force)
        return 0;
    struct ec2_export_task_list l;
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_describe_export_image_tasks(v->client, v->region, NULL, 0, &l,
                                        &err) != 0)
        return view_aws_fail(fs, "exports", "DescribeExportImageTasks",
                             &err);
    pthread_mutex_lock(&v->lock);
    ec2_export_task_list_release(&v->list);
    v->list = l;
    v->fetched = view_now();
    pthread_mutex_unlock(&v->lock);
    return 0;
}

static char *sdup(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = false;
    return d;
}

static void task_free(struct ec2_export_task *t)
{
    ec2_export_task_release(t);
}

/* Copy of task `id` into *out (free with task_free). 0 or -ENOENT. */
static int task_find(struct xview *v, struct amifs *fs, const char *id,
                     struct ec2_export_task *out, bool force)
{
    int rc = refresh(v, fs, force);
    if (rc != 0)
        return rc;
    bool ok = true;
    rc = -ENOENT;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&v->lock);
    for (size_t i = 0; i < v->list.n && rc != 0; i++) {
        const struct ec2_export_task *t = &v->list.v[i];
        if (strcmp(t->task_id, id) != 0)
            continue;
        *out = (struct ec2_export_task){
            sdup(t->task_id, &ok), sdup(t->image_id, &ok),
            sdup(t->format, &ok), sdup(t->bucket, &ok), sdup(t->prefix, &ok),
            sdup(t->status, &ok), sdup(t->status_message, &ok), t->progress};
        rc = 0;
    }
    pthread_mutex_unlock(&v->lock);
    if (rc == 0 && !ok) {
        task_free(out);
        return -ENOMEM;
    }
    return rc;
}

/* task_find from the cached answer; an export-… id it lacks is asked
 * again at once (an export started by mkdir a moment ago is not in a
 * listing cached before it; only names shaped like ids get here). */
static int task_get(struct xview *v, struct amifs *fs, const char *id,
                    struct ec2_export_task *out)
{
    int rc = task_find(v, fs, id, out, false);
    return rc == -ENOENT ? task_find(v, fs, id, out, true) : rc;
}

/* ---- rendering ---------------------------------------------------------- */

static enum xword word_of(const struct ec2_export_task *t)
{
    const char *s = t->status ? t->status : "";
    if (strcmp(s, "completed") == 0)
        return W_COMPLETED;
    if (strcmp(s, "deleting") != 0 && strcmp(s, "deleted") != 0)
        return W_ACTIVE;
    const char *m = t->status_message ? t->status_message : "";
    return strcasestr(m, CANCEL_WORD) ? W_CANCELLED : W_FAILED;
}

static int render_status(const struct ec2_export_task *t, struct buf *out)
{
    enum xword w = word_of(t);
    char key[1024];
    switch (w) {
    case W_ACTIVE:
        return buf_printf(out, "active: %s, %d%%\n",
                          t->status_message ? t->status_message : "pending",
                          t->progress < 0 ? 0 : t->progress);
    case W_COMPLETED:
        if (ec2_export_key(t, key, sizeof key) != 0)
            return -ENAMETOOLONG;
        return buf_printf(out, "completed: s3://%s/%s\n",
                          t->bucket ? t->bucket : "", key);
    default:
        return buf_printf(out, "%s: %s\n", XWORDS[w],
                          t->status_message ? t->status_message
                                            : "no reason given");
    }
}

static int render_source(const struct ec2_export_task *t, struct buf *out)
{
    char key[1024];
    if (ec2_export_key(t, key, sizeof key) != 0)
        return -ENAMETOOLONG;
    return buf_printf(out, "image: %s\nformat: %s\nobject: s3://%s/%s\n",
                      t->image_id ? t->image_id : "?",
                      t->format ? t->format : "?",
                      t->bucket ? t->bucket : "?", key);
}

/* buckets/B/KEY as seen from exports/ID/ of a view at `depth`. */
static int render_link(const struct xview *v, const struct ec2_export_task *t,
                       struct buf *out)
{
    char key[1024];
    if (word_of(t) != W_COMPLETED || !t->bucket ||
        ec2_export_key(t, key, sizeof key) != 0)
        return -ENOENT;
    for (int i = 0; i < v->depth + 1; i++)
        if (buf_appends(out, "../") != 0)
            return -ENOMEM;
    return buf_printf(out, "buckets/%s/%s", t->bucket, key);
}

static int render(const struct xview *v, const struct ec2_export_task *t,
                  enum xfile f, struct buf *out)
{
    enum xword w = word_of(t);
    switch (f) {
    case X_STATUS:
    case X_WAIT:
        return render_status(t, out);
    case X_PROGRESS:
        return buf_printf(out, "%d\n", w == W_COMPLETED ? 100
                                       : w != W_ACTIVE || t->progress < 0
                                           ? 0 : t->progress);
    case X_SOURCE:
        return render_source(t, out);
    case X_DIAG:
        if (w != W_FAILED && w != W_CANCELLED)
            return -ENOENT;
        return diagnosis_render(t->status_message, out);
    case X_FILE:
        return render_link(v, t, out);
    default:
        return -ENOENT;
    }
}

/* ---- paths -------------------------------------------------------------- */

static enum xfile file_of(const struct xview *v, const char *name)
{
    for (int i = 0; i < X_NONE; i++)
        if (strcmp(name, XFILES[i]) == 0)
            return i == X_WAIT && !v->acts ? X_NONE : (enum xfile)i;
    return X_NONE;
}

/* rel = "ID" or "ID/FILE": the id into id (n bytes), *file NULL or FILE. */
static int split(const char *rel, char *id, size_t n, const char **file)
{
    const char *slash = strchr(rel, '/');
    size_t len = slash ? (size_t)(slash - rel) : strlen(rel);
    if (len == 0 || len >= n || strncmp(rel, "export-", 7) != 0 ||
        (slash && strchr(slash + 1, '/')))
        return -ENOENT;
    memcpy(id, rel, len);
    id[len] = '\0';
    *file = slash ? slash + 1 : NULL;
    return 0;
}

/* Render FILE of task ID into out; *word the task's word. */
static int view_file(struct xview *v, struct amifs *fs, const char *id,
                     enum xfile f, struct buf *out, enum xword *word)
{
    struct ec2_export_task t;
    int rc = task_get(v, fs, id, &t);
    if (rc != 0)
        return rc;
    rc = render(v, &t, f, out);
    if (word)
        *word = word_of(&t);
    task_free(&t);
    return rc;
}

/* ---- NAME.ova ----------------------------------------------------------- */

/* The OVA of export id (a reference: xova_unref it), built on first use.
 * -ENOENT when the export is not a completed VMDK export. */
static int ova_get(struct xview *v, struct amifs *fs, const char *id,
                   struct xova **out)
{
    *out = NULL;
    pthread_mutex_lock(&v->lock);
    for (struct ova_ent *e = v->ovas; e && !*out; e = e->next)
        if (strcmp(e->id, id) == 0) {
            xova_ref(e->o);
            *out = e->o;
        }
    pthread_mutex_unlock(&v->lock);
    if (*out)
        return 0;
    struct ec2_export_task t;
    struct xova *o = NULL;
    int rc = task_get(v, fs, id, &t);
    if (rc != 0)
        return rc;
    rc = xova_build(fs, v->client, v->region, &t, &o);
    task_free(&t);
    struct ova_ent *e = rc == 0 ? calloc(1, sizeof *e) : NULL;
    if (rc == 0 && !e) {
        xova_unref(o);
        return -ENOMEM;
    }
    if (rc != 0)
        return rc;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->o = o;
    xova_ref(o);
    pthread_mutex_lock(&v->lock);
    e->next = v->ovas;
    v->ovas = e;
    pthread_mutex_unlock(&v->lock);
    *out = o;
    return 0;
}

/* Is `file` the export's NAME.ova? Its OVA into *out (a reference). */
static int ova_named(struct xview *v, struct amifs *fs, const char *id,
                     const char *file, struct xova **out)
{
    size_t n = strlen(file);
    *out = NULL;
    if (n < 5 || strcmp(file + n - 4, ".ova") != 0)
        return -ENOENT;
    int rc = ova_get(v, fs, id, out);
    if (rc == 0 && strcmp(xova_name(*out), file) != 0) {
        xova_unref(*out);
        *out = NULL;
        rc = -ENOENT;
    }
    return rc;
}

/* ---- view_ops ----------------------------------------------------------- */

static int file_attr(struct xview *v, struct amifs *fs, const char *id,
                     enum xfile f, struct stat *st)
{
    struct buf b;
    enum xword w = W_ACTIVE;
    buf_init(&b, 0);
    int rc = view_file(v, fs, id, f == X_WAIT ? X_STATUS : f, &b, &w);
    if (rc == 0 && f == X_FILE)
        amifs_stat_link(fs, st, b.len);
    else if (rc == 0)
        amifs_stat_file(fs, st, f == X_WAIT && w == W_ACTIVE ? 0 : b.len, 0,
                        false);
    buf_release(&b);
    return rc;
}

static int x_getattr(void *self, struct amifs *fs, const char *rel,
                     struct stat *st, struct fuse_file_info *fi)
{
    struct xview *v = self;
    char id[128];
    const char *file;
    (void)fi;
    if (!*rel) {
        amifs_stat_dir(fs, st, fs->mount_time);
        return 0;
    }
    if (split(rel, id, sizeof id, &file) != 0)
        return -ENOENT;
    if (file) {
        enum xfile f = file_of(v, file);
        struct xova *o;
        if (f != X_NONE)
            return file_attr(v, fs, id, f, st);
        int rc = ova_named(v, fs, id, file, &o);
        if (rc == 0) {
            amifs_stat_file(fs, st, xova_size(o), 0, false);
            xova_unref(o);
        }
        return rc;
    }
    struct ec2_export_task t;
    int rc = task_get(v, fs, id, &t);
    if (rc == 0) {
        amifs_stat_dir(fs, st, fs->mount_time);
        task_free(&t);
    }
    return rc;
}

static int x_readlink(void *self, struct amifs *fs, const char *rel,
                      char *out, size_t n)
{
    struct xview *v = self;
    char id[128];
    const char *file;
    if (split(rel, id, sizeof id, &file) != 0 || !file)
        return -ENOENT;
    if (file_of(v, file) != X_FILE)
        return -EINVAL;
    struct buf b;
    buf_init(&b, 0);
    int rc = view_file(v, fs, id, X_FILE, &b, NULL);
    if (rc == 0 && n > 0)
        snprintf(out, n, "%s", buf_cstr(&b));
    buf_release(&b);
    return rc;
}

static int x_readdir(void *self, struct amifs *fs, const char *rel,
                     void *buf, fuse_fill_dir_t filler)
{
    struct xview *v = self;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    if (!*rel) {
        int rc = refresh(v, fs, false);
        if (rc != 0)
            return rc;
        pthread_mutex_lock(&v->lock);
        for (size_t i = 0; i < v->list.n; i++)
            filler(buf, v->list.v[i].task_id, NULL, 0, 0);
        pthread_mutex_unlock(&v->lock);
        return 0;
    }
    char id[128];
    const char *file;
    struct stat st;
    if (split(rel, id, sizeof id, &file) != 0 || file)
        return -ENOENT;
    for (int f = 0; f < X_NONE; f++)
        if (file_of(v, XFILES[f]) != X_NONE &&
            file_attr(v, fs, id, (enum xfile)f, &st) == 0)
            filler(buf, XFILES[f], NULL, 0, 0);
    struct xova *o;
    if (ova_get(v, fs, id, &o) == 0) {
        filler(buf, xova_name(o), NULL, 0, 0);
        xova_unref(o);
    }
    return 0;
}

/* An open file: the text rendered at the first read. */
struct xhandle {
    char id[128];
    enum xfile f;
    bool filled;
    struct buf text;
    struct xova_reader *ova; /* NAME.ova, else NULL */
};

static int open_ova(struct xview *v, struct amifs *fs, const char *id,
                    const char *file, struct fuse_file_info *fi)
{
    struct xova *o;
    int rc = ova_named(v, fs, id, file, &o);
    if (rc != 0)
        return rc;
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        xova_unref(o);
        return -EACCES;
    }
    struct xhandle *h = calloc(1, sizeof *h);
    if (h)
        h->ova = xova_reader_new(o);
    xova_unref(o);
    if (!h || !h->ova) {
        free(h);
        return -ENOMEM;
    }
    buf_init(&h->text, 0);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->keep_cache = 1; /* the bytes never change (If-Match the ETag) */
    return 0;
}

static int x_open(void *self, struct amifs *fs, const char *rel,
                  struct fuse_file_info *fi)
{
    struct xview *v = self;
    char id[128];
    const char *file;
    if (split(rel, id, sizeof id, &file) != 0 || !file)
        return -ENOENT;
    enum xfile f = file_of(v, file);
    if (f == X_NONE)
        return open_ova(v, fs, id, file, fi);
    if (f == X_FILE)
        return -ENOENT;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    struct ec2_export_task t;
    int rc = task_get(v, fs, id, &t);
    if (rc != 0)
        return rc;
    task_free(&t);
    struct xhandle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    snprintf(h->id, sizeof h->id, "%s", id);
    h->f = f;
    buf_init(&h->text, 0);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    return 0;
}

static int fill(struct xview *v, struct amifs *fs, struct xhandle *h)
{
    bool force = false;
    for (;;) {
        if (force) {
            int rc = refresh(v, fs, true);
            if (rc != 0)
                return rc;
        }
        enum xword w = W_ACTIVE;
        buf_reset(&h->text);
        int rc = view_file(v, fs, h->id, h->f, &h->text, &w);
        if (rc != 0 || h->f != X_WAIT || w != W_ACTIVE)
            return rc;
        for (int i = 0; i < 4; i++) {
            if (fuse_interrupted() || amifs_unmounting())
                return -EINTR;
            usleep(WAIT_TICK_MS * 1000 / 4);
        }
        force = true;
    }
}

static int x_read(void *self, struct amifs *fs, const char *rel, char *buf,
                  size_t n, off_t off, struct fuse_file_info *fi)
{
    struct xhandle *h = (struct xhandle *)(uintptr_t)fi->fh;
    (void)rel;
    if (h->ova)
        return xova_read(fs, ((struct xview *)self)->client, h->ova, buf, n,
                         off);
    if (!h->filled) {
        int rc = fill(self, fs, h);
        if (rc != 0)
            return rc;
        h->filled = true;
    }
    return view_text_slice(&h->text, buf, n, off);
}

static int x_release(void *self, struct amifs *fs, const char *rel,
                     struct fuse_file_info *fi)
{
    struct xhandle *h = (struct xhandle *)(uintptr_t)fi->fh;
    (void)self, (void)fs, (void)rel;
    xova_reader_free(h->ova);
    buf_release(&h->text);
    free(h);
    return 0;
}

static int x_rmdir(void *self, struct amifs *fs, const char *rel)
{
    struct xview *v = self;
    char id[128];
    const char *file;
    if (!v->acts)
        return -EACCES;
    if (split(rel, id, sizeof id, &file) != 0 || file)
        return -ENOENT;
    struct ec2_export_task t;
    int rc = task_get(v, fs, id, &t);
    if (rc != 0)
        return rc;
    enum xword w = word_of(&t);
    task_free(&t);
    if (w != W_ACTIVE)
        return amifs_refuse(fs, "exports", rel, "rmdir", EPERM,
                            "the export has ended (%s): ended exports are "
                            "history and stay listed until AWS forgets "
                            "them; rm the object under buckets/ instead",
                            XWORDS[w]);
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_cancel_export_task(v->client, v->region, id, &err) != 0) {
        char line[768];
        aws_error_format(&err, line, sizeof line);
        int e = aws_error_errno(&err);
        return amifs_refuse(fs, "exports", rel, "rmdir", e > 0 ? e : EIO,
                            "CancelExportTask: %s", line);
    }
    amifs_log(fs, AWS_LOG_INFO, "exports: %s cancelled", id);
    return refresh(v, fs, true);
}

static int x_unlink(void *self, struct amifs *fs, const char *rel)
{
    struct xview *v = self;
    char id[128];
    const char *file;
    if (!v->acts)
        return -EACCES;
    if (split(rel, id, sizeof id, &file) != 0)
        return -ENOENT;
    if (!file)
        return -EISDIR;
    struct stat st;
    enum xfile f = file_of(v, file);
    if (f != X_NONE)
        return file_attr(v, fs, id, f, &st);
    struct xova *o;
    int rc = ova_named(v, fs, id, file, &o); /* NAME.ova: rm -r passes */
    xova_unref(o);
    return rc;
}

static void x_free(void *self)
{
    struct xview *v = self;
    if (!v)
        return;
    ec2_export_task_list_release(&v->list);
    while (v->ovas) {
        struct ova_ent *e = v->ovas;
        v->ovas = e->next;
        xova_unref(e->o);
        free(e);
    }
    pthread_mutex_destroy(&v->lock);
    free(v->region);
    free(v);
}

static void *x_new(struct amifs *fs, const struct view_region *r, int *rc)
{
    struct xview *v = calloc(1, sizeof *v);
    (void)fs;
    *rc = -ENOMEM;
    if (!v)
        return NULL;
    pthread_mutex_init(&v->lock, NULL);
    v->region = strdup(r->name);
    if (!v->region) {
        x_free(v);
        return NULL;
    }
    v->client = r->client;
    v->depth = r->depth;
    v->acts = r->depth == 1; /* regions/R/exports/ only shows */
    *rc = 0;
    return v;
}

const struct view_ops exports_view_ops = {
    .name = "exports",
    .new = x_new,
    .free = x_free,
    .getattr = x_getattr,
    .readdir = x_readdir,
    .readlink = x_readlink,
    .open = x_open,
    .read = x_read,
    .release = x_release,
    .rmdir = x_rmdir,
    .unlink = x_unlink,
};

/* ---- ExportImage (mkdir amis/ami-…/export-to/FORMAT) -------------------- */

static const char *fix_for(const struct aws_error *err, const char *bucket)
{
    static const char *const role_fix =
        "the vmimport role may not write the export: run `amifs setup "
        "--yes` (it adds s3:PutObject and s3:GetBucketAcl on the staging "
        "bucket), or see `amifs doctor`";
    (void)bucket;
    if (strcmp(err->code, "NotExportable") == 0)
        return "AWS exports only AMIs that VM Import created (an AMI made by "
               "imports/ is one); AMIs built from an instance or from the "
               "Marketplace cannot be exported";
    if (strstr(err->message, "service role"))
        return role_fix;
    if (strstr(err->message, "bucket ownership"))
        return "the staging bucket is missing or not yours: check -o "
               "bucket=, or run `amifs doctor`";
    if (strcmp(err->code, "IncorrectState") == 0)
        return "AWS runs one export of an AMI at a time: wait for the one "
               "in exports/ (cat exports/ID/wait) or rm -r it";
    return "see `amifs doctor`";
}

int exports_start(struct amifs *fs, struct aws_client *client,
                  const char *region, const char *ami, const char *format,
                  const char *rel, char *out, size_t n)
{
    const char *opt = fs->opts.bucket;
    if (!opt || !*opt)
        return amifs_refuse(fs, "amis", rel, "mkdir", EROFS,
                            "exports go to the staging bucket and this mount "
                            "has none: mount with -o bucket=NAME");
    char bucket[256], prefix[512], fmt[8], token[128];
    const char *slash = strchr(opt, '/');
    size_t blen = slash ? (size_t)(slash - opt) : strlen(opt);
    const char *pre = slash ? slash + 1 : "";
    size_t plen = strlen(pre);
    while (plen && pre[plen - 1] == '/')
        plen--;
    snprintf(bucket, sizeof bucket, "%.*s", (int)blen, opt);
    snprintf(prefix, sizeof prefix, "%.*s%s%s", (int)plen, pre,
             plen ? "/" : "", EXPORTS_PREFIX);
    for (size_t i = 0; i < sizeof fmt; i++)
        fmt[i] = (char)(format[i] >= 'a' && format[i] <= 'z'
                            ? format[i] - 32 : format[i]);
    fmt[sizeof fmt - 1] = '\0';
    snprintf(token, sizeof token, "amifs-export-%.40s-%s-%lld", ami, format,
             (long long)time(NULL));
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_export_image(client, region, ami, fmt, bucket, prefix,
                         fs->opts.role, token, out, n, &err) != 0) {
        char line[768];
        aws_error_format(&err, line, sizeof line);
        int e = aws_error_errno(&err);
        return amifs_refuse(fs, "amis", rel, "mkdir", e > 0 ? e : EIO,
                            "ExportImage: %s; %s", line,
                            fix_for(&err, bucket));
    }
    amifs_log(fs, AWS_LOG_INFO, "amis: %s: export as %s started: %s", ami,
              fmt, out);
    return 0;
}
