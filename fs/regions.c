/*
 * regions.c — regions/REGION/amis/: the amis/ view of any region of the
 * account, so that a copy started with `mkdir amis/ami-…/copy-to/REGION`
 * can be followed without remounting.
 *
 * regions/ lists DescribeRegions' answer (cached for an hour: regions change
 * rarely). A REGION directory holds `amis/` and `tasks/`, one view each per
 * region, created on first use and kept for the mount's life.
 *
 * regions/REGION/tasks/ is a read-only view of that region's import-image
 * tasks (DescribeImportImageTasks with that region), served from a
 * core/taskcache.c poller of its own, started the first time the folder is
 * used (the mounted region reuses the tasks/ poller instead of asking AWS
 * twice):
 *   tasks/ID/       status, status.json, progress, source, and diagnosis
 *                   (failed/cancelled) or ami -> ../../amis/AMI (completed)
 *   tasks/NAME -> ID  the amifs:name tag, as in tasks/
 * Nothing there can be removed or written (cancel from the mounted region's
 * tasks/, or mount that region); there is no `wait` file.
 *
 * AWS has no task for a CopyImage: a copy started with
 * `mkdir amis/ami-…/copy-to/REGION` is followed as the new AMI itself,
 * regions/REGION/amis/ami-…/state going pending → available (or failed).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/ec2.h"
#include "fs/amis.h"
#include "core/diagnosis.h"
#include "fs/imports.h"
#include "core/status.h"
#include "core/taskcache.h"

#define REGIONS_TTL 3600.0

struct region_view {
    char name[64];
    struct amis_view *amis;
    /* regions/REGION/tasks: NULL until first used. `own` is the poller this
     * view started (NULL when it borrows the tasks/ one); tcc is its ops'
     * context and so lives as long as it. */
    struct taskcache *tc;
    struct taskcache *own;
    struct taskcache_client tcc;
    struct region_view *next;
};

struct regions_state {
    pthread_mutex_t lock;
    char **names;          /* DescribeRegions' answer, or NULL */
    size_t n;
    double fetched;
    struct region_view *views;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool regions_name_ok(const char *name)
{
    /* two letters, then dash-separated words, the last one a number:
     * us-east-1, ap-southeast-2, us-gov-west-1, eu-central-2 */
    size_t n = strlen(name);
    if (n < 4 || n > 32 || name[2] != '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return name[n - 1] >= '0' && name[n - 1] <= '9' && name[0] != '-' &&
           !strstr(name, "--");
}

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Refresh the region list when stale; never holds the lock over HTTP.
 * 0 or -errno (the old list, if any, stays). */
static int regions_refresh(struct amifs *fs, struct regions_state *st)
{
    struct ec2_id_list l = {0};
    struct aws_error err;

    pthread_mutex_lock(&st->lock);
    bool fresh = st->names && now_mono() - st->fetched < REGIONS_TTL;
    pthread_mutex_unlock(&st->lock);
    if (fresh)
        return 0;
    aws_error_clear(&err);
    if (ec2_describe_regions(fs->client, &l, &err) != 0) {
        char line[768];
        aws_error_format(&err, line, sizeof(line));
        amifs_log(fs, AWS_LOG_WARN, "regions: DescribeRegions: %s", line);
        int e = aws_error_errno(&err);
        return e > 0 ? -e : -EIO;
    }
    char **names = calloc(l.n + 1, sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; names && i < l.n; i++)
        if ((names[n] = strdup(l.v[i])) != NULL)
            n++;
    ec2_id_list_release(&l);
    if (!names)
        return -ENOMEM;
    pthread_mutex_lock(&st->lock);
    names_free(st->names, st->n);
    st->names = names;
    st->n = n;
    st->fetched = now_mono();
    pthread_mutex_unlock(&st->lock);
    return 0;
}

int regions_known(struct amifs *fs, const char *name)
{
    struct regions_state *st = fs->regions;
    if (!st)
        return -ENOSYS;
    int rc = regions_refresh(fs, st);
    pthread_mutex_lock(&st->lock);
    int found = 0;
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->names[i], name) == 0)
            found = 1;
    bool have = st->names != NULL;
    pthread_mutex_unlock(&st->lock);
    return found ? 1 : have ? 0 : rc;
}

/* The view of a region, created (with its amis view) on first use; NULL
 * when out of memory. */
static struct region_view *region_find(struct amifs *fs, const char *name,
                                       size_t len)
{
    struct regions_state *st = fs->regions;
    struct region_view *r;
    pthread_mutex_lock(&st->lock);
    for (r = st->views; r; r = r->next)
        if (strlen(r->name) == len && memcmp(r->name, name, len) == 0)
            break;
    if (!r && len < sizeof(r->name) && (r = calloc(1, sizeof(*r)))) {
        memcpy(r->name, name, len);
        r->amis = amis_view_new(fs, r->name, 3);
        if (r->amis) {
            r->next = st->views;
            st->views = r;
        } else {
            free(r);
            r = NULL;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* The mounted region's tasks/ poller, when imports/ runs one. */
static struct taskcache *mounted_cache(struct amifs *fs, const char *region)
{
    struct fsimport *imp = fs->imports;
    if (!imp || !imp->tc || !fs->client)
        return NULL;
    return strcmp(aws_client_region(fs->client), region) == 0 ? imp->tc
                                                               : NULL;
}

/* Start r's own poller. Called with the lock held: creating the cache and
 * its thread makes no network call (the first refresh runs in the thread). */
static struct taskcache *start_cache(struct amifs *fs, struct region_view *r)
{
    double iv = fs->opts.poll_interval > 0 ? fs->opts.poll_interval : 10.0;
    r->tcc = (struct taskcache_client){fs->client, r->name, NULL, NULL};
    struct taskcache_ops ops = taskcache_ops_for_client(&r->tcc);
    struct taskcache *tc =
        taskcache_new(&ops, iv, iv < 2.0 ? iv : 2.0, &fs->logger);
    if (tc && taskcache_start(tc) != 0) {
        taskcache_free(tc);
        tc = NULL;
    }
    return tc;
}

/* The task cache behind regions/REGION/tasks, started on first use. */
static struct taskcache *region_tasks(struct amifs *fs, struct region_view *r)
{
    struct regions_state *st = fs->regions;
    pthread_mutex_lock(&st->lock);
    if (!r->tc) {
        r->tc = mounted_cache(fs, r->name);
        if (!r->tc)
            r->tc = r->own = start_cache(fs, r);
    }
    struct taskcache *tc = r->tc;
    pthread_mutex_unlock(&st->lock);
    return tc;
}

/* Where a path below regions/ goes. */
struct rroute {
    enum { R_TOP, R_REGION, R_AMIS, R_TASKS } kind;
    char region[64];
    const char *rest;          /* below REGION/amis/ or REGION/tasks/ */
    struct amis_view *view;    /* R_AMIS */
    struct taskcache *tc;      /* R_TASKS */
};

static int region_ok(struct amifs *fs, const char *name)
{
    if (!regions_name_ok(name))
        return -ENOENT;
    int k = regions_known(fs, name);
    return k == 0 ? -ENOENT : 0; /* unknown list: accept a good name */
}

/* REGION/SUB/…: which of the region's folders SUB names. */
static int route_sub(struct amifs *fs, const char *sub, size_t len,
                     struct rroute *r)
{
    size_t sl = strcspn(sub, "/");
    bool amis = sl == 4 && memcmp(sub, "amis", 4) == 0;
    bool tasks = sl == 5 && memcmp(sub, "tasks", 5) == 0;
    if (!amis && !tasks)
        return -ENOENT;
    r->rest = sub[sl] ? sub + sl + 1 : "";
    struct region_view *v = region_find(fs, r->region, len);
    if (!v)
        return -ENOMEM;
    if (amis) {
        r->kind = R_AMIS;
        r->view = v->amis;
        return 0;
    }
    r->kind = R_TASKS;
    r->tc = region_tasks(fs, v);
    return r->tc ? 0 : -EIO;
}

static int rroute(struct amifs *fs, const char *rel, struct rroute *r)
{
    memset(r, 0, sizeof(*r));
    r->rest = "";
    if (!*rel)
        return 0;
    size_t len = strcspn(rel, "/");
    if (len >= sizeof(r->region))
        return -ENOENT;
    memcpy(r->region, rel, len);
    int rc = region_ok(fs, r->region);
    if (rc != 0)
        return rc;
    r->kind = R_REGION;
    if (!rel[len])
        return 0;
    return route_sub(fs, rel + len + 1, len, r);
}

/* ---- regions/REGION/tasks ------------------------------------------------ */

#define FIRST_LIST_WAIT_MS 3000

enum rtfile { RT_STATUS, RT_JSON, RT_PROGRESS, RT_SOURCE, RT_DIAG, RT_AMI,
              RT_NONE };
static const char *const RT_FILES[] = {"status", "status.json", "progress",
                                       "source", "diagnosis",   "ami"};

static enum rtfile rt_file_of(const char *name)
{
    for (int i = 0; i < RT_NONE; i++)
        if (strcmp(name, RT_FILES[i]) == 0)
            return (enum rtfile)i;
    return RT_NONE;
}

static void rt_has(void *arg, const struct ec2_import_task *t, bool c)
{
    (void)t;
    (void)c;
    *(bool *)arg = true;
}

/* What NAME (the first component below tasks/) is: a task directory (*link
 * false, id = NAME) or an alias (*link true, id = its task). 0 or -ENOENT. */
static int rt_resolve(struct taskcache *tc, const char *name, char *id,
                      size_t n, bool *link)
{
    bool known = false;
    *link = false;
    for (int pass = 0; pass < 2; pass++) {
        if (strncmp(name, "import-", 7) == 0 &&
            strlen(name) < n &&
            taskcache_with(tc, name, rt_has, &known) == 0) {
            memcpy(id, name, strlen(name) + 1);
            return 0;
        }
        if (taskcache_alias(tc, name, id, n) == 0) {
            *link = true;
            return 0;
        }
        /* a fresh view: names come from the first listing (bounded wait,
         * at once once it has happened) */
        if (pass == 0 && !taskcache_wait_first(tc, FIRST_LIST_WAIT_MS))
            break;
    }
    return -ENOENT;
}

struct rt_render {
    enum rtfile f;
    struct buf *out;
    int rc;
};

/* Render one file of a task (under the cache's lock: quick, no calls back). */
static void rt_render_cb(void *arg, const struct ec2_import_task *t, bool c)
{
    struct rt_render *v = arg;
    enum status_word w = status_word_of(NULL, t, c);
    switch (v->f) {
    case RT_STATUS:
        v->rc = status_line(NULL, t, c, v->out);
        break;
    case RT_JSON:
        v->rc = status_json(NULL, t, c, v->out);
        break;
    case RT_PROGRESS:
        v->rc = buf_printf(v->out, "%d\n", status_progress(NULL, t, c));
        break;
    case RT_SOURCE:
        v->rc = status_source(NULL, t, v->out);
        break;
    case RT_DIAG:
        v->rc = w == STATUS_FAILED || w == STATUS_CANCELLED
                    ? diagnosis_render(status_failure(NULL, t, c), v->out)
                    : -ENOENT;
        break;
    case RT_AMI:
        v->rc = w == STATUS_COMPLETED && t->image_id
                    ? buf_printf(v->out, "../../amis/%s", t->image_id)
                    : -ENOENT;
        break;
    default:
        v->rc = -ENOENT;
    }
}

/* File f of task id into out. 0 or -errno (-ENOENT: no such file now). */
static int rt_render(struct taskcache *tc, const char *id, enum rtfile f,
                     struct buf *out)
{
    struct rt_render v = {f, out, -ENOENT};
    if (f == RT_NONE || taskcache_with(tc, id, rt_render_cb, &v) != 0)
        return -ENOENT;
    return v.rc;
}

/* Split "NAME[/FILE]" of rest; -ENOENT for deeper paths. */
static int rt_split(const char *rest, char *name, size_t n, const char **file)
{
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    if (len == 0 || len >= n || (slash && strchr(slash + 1, '/')))
        return -ENOENT;
    memcpy(name, rest, len);
    name[len] = '\0';
    *file = slash ? slash + 1 : NULL;
    return 0;
}

/* A path below tasks/ resolved: the task id, whether NAME is an alias, and
 * the file (NULL for the NAME entry itself). */
struct rt_node {
    char id[128];
    bool link;
    const char *file;
};

static int rt_node(struct taskcache *tc, const char *rest, struct rt_node *n)
{
    char name[256];
    if (rt_split(rest, name, sizeof name, &n->file) != 0)
        return -ENOENT;
    int rc = rt_resolve(tc, name, n->id, sizeof n->id, &n->link);
    if (rc == 0 && n->link && n->file)
        rc = -ENOTDIR; /* the kernel follows the link; never asked */
    return rc;
}

static int rt_getattr(struct amifs *fs, struct taskcache *tc,
                      const char *rest, struct stat *st)
{
    if (!*rest) {
        amifs_stat_dir(fs, st, fs->mount_time);
        return 0;
    }
    struct rt_node n;
    int rc = rt_node(tc, rest, &n);
    if (rc != 0)
        return rc;
    if (!n.file) {
        if (n.link)
            amifs_stat_link(fs, st, strlen(n.id));
        else
            amifs_stat_dir(fs, st, 0);
        return 0;
    }
    enum rtfile f = rt_file_of(n.file);
    struct buf b;
    buf_init(&b, 0);
    rc = rt_render(tc, n.id, f, &b);
    if (rc == 0 && f == RT_AMI)
        amifs_stat_link(fs, st, b.len);
    else if (rc == 0)
        amifs_stat_file(fs, st, b.len, 0, false);
    buf_release(&b);
    return rc;
}

static int rt_list_root(struct taskcache *tc, void *buf,
                        fuse_fill_dir_t filler)
{
    taskcache_wait_first(tc, FIRST_LIST_WAIT_MS);
    struct taskcache_names tn;
    int rc = taskcache_names(tc, &tn);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < tn.nids; i++)
        filler(buf, tn.ids[i], NULL, 0, 0);
    for (size_t i = 0; i < tn.naliases; i++)
        filler(buf, tn.alias_names[i], NULL, 0, 0);
    taskcache_names_release(&tn);
    return 0;
}

static int rt_readdir(struct taskcache *tc, const char *rest, void *buf,
                      fuse_fill_dir_t filler)
{
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    if (!*rest)
        return rt_list_root(tc, buf, filler);
    struct rt_node n;
    int rc = rt_node(tc, rest, &n);
    if (rc != 0)
        return rc;
    if (n.file || n.link)
        return -ENOTDIR;
    struct buf b;
    buf_init(&b, 0);
    for (int f = 0; f < RT_NONE; f++) {
        buf_reset(&b);
        if (rt_render(tc, n.id, (enum rtfile)f, &b) == 0)
            filler(buf, RT_FILES[f], NULL, 0, 0);
    }
    buf_release(&b);
    return 0;
}

static int rt_readlink(struct taskcache *tc, const char *rest, char *out,
                       size_t size)
{
    struct rt_node n;
    int rc = rt_node(tc, rest, &n);
    if (rc != 0)
        return rc;
    struct buf b;
    buf_init(&b, 0);
    if (!n.file && n.link)
        rc = buf_appends(&b, n.id);
    else if (n.file && rt_file_of(n.file) == RT_AMI)
        rc = rt_render(tc, n.id, RT_AMI, &b);
    else
        rc = -EINVAL;
    if (rc == 0 && size > 0)
        snprintf(out, size, "%s", buf_cstr(&b));
    buf_release(&b);
    return rc;
}

/* An open tasks file: the text rendered at open, a consistent snapshot for
 * the reader (direct_io, so every open sees fresh text). */
static int rt_open(struct taskcache *tc, const char *rest,
                   struct fuse_file_info *fi)
{
    struct rt_node n;
    int rc = rt_node(tc, rest, &n);
    if (rc != 0)
        return rc;
    if (!n.file)
        return -EISDIR;
    enum rtfile f = rt_file_of(n.file);
    if (f == RT_NONE || f == RT_AMI)
        return -ENOENT;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EACCES;
    struct buf *b = malloc(sizeof *b);
    if (!b)
        return -ENOMEM;
    buf_init(b, 0);
    rc = rt_render(tc, n.id, f, b);
    if (rc != 0) {
        buf_release(b);
        free(b);
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)b;
    fi->direct_io = 1;
    return 0;
}

static int rt_read(char *out, size_t n, off_t off, struct fuse_file_info *fi)
{
    const struct buf *b = (const struct buf *)(uintptr_t)fi->fh;
    if (off < 0 || (size_t)off >= b->len)
        return 0;
    size_t got = b->len - (size_t)off < n ? b->len - (size_t)off : n;
    memcpy(out, b->data + off, got);
    return (int)got;
}

static int rt_release(struct fuse_file_info *fi)
{
    struct buf *b = (struct buf *)(uintptr_t)fi->fh;
    if (b) {
        buf_release(b);
        free(b);
    }
    fi->fh = 0;
    return 0;
}

/* Paths that are not below an amis view: R_TASKS changes are refused. */
#define ROUTE_AMIS(fs, rel, r, nonamis)                                       \
    struct rroute r;                                                         \
    int rc_ = rroute(fs, rel, &r);                                           \
    if (rc_ != 0)                                                            \
        return rc_;                                                          \
    if (r.kind == R_TASKS)                                                   \
        return -EACCES;                                                      \
    if (r.kind != R_AMIS)                                                    \
        return nonamis;

static int regions_getattr(struct amifs *fs, const char *rel,
                           struct stat *st, struct fuse_file_info *fi)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind == R_TASKS)
        return rt_getattr(fs, r.tc, r.rest, st);
    if (r.kind != R_AMIS) {
        amifs_stat_dir(fs, st, 0);
        return 0;
    }
    return amis_view_getattr(r.view, fs, r.rest, st, fi);
}

static int readdir_top(struct amifs *fs, void *buf, fuse_fill_dir_t filler)
{
    struct regions_state *st = fs->regions;
    int rc = regions_refresh(fs, st);
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->n; i++)
        filler(buf, st->names[i], NULL, 0, 0);
    if (!st->names) /* DescribeRegions failed: at least the used ones */
        for (struct region_view *v = st->views; v; v = v->next)
            filler(buf, v->name, NULL, 0, 0);
    bool have = st->names || st->views;
    pthread_mutex_unlock(&st->lock);
    return have ? 0 : rc;
}

static int regions_readdir(struct amifs *fs, const char *rel, void *buf,
                           fuse_fill_dir_t filler)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind == R_TOP)
        return readdir_top(fs, buf, filler);
    if (r.kind == R_REGION) {
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        filler(buf, "amis", NULL, 0, 0);
        filler(buf, "tasks", NULL, 0, 0);
        return 0;
    }
    if (r.kind == R_TASKS)
        return rt_readdir(r.tc, r.rest, buf, filler);
    return amis_view_readdir(r.view, fs, r.rest, buf, filler);
}

static int regions_readlink(struct amifs *fs, const char *rel, char *out,
                            size_t n)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind == R_TASKS)
        return rt_readlink(r.tc, r.rest, out, n);
    if (r.kind != R_AMIS)
        return -EINVAL;
    return amis_view_readlink(r.view, fs, r.rest, out, n);
}

static int regions_open(struct amifs *fs, const char *rel,
                        struct fuse_file_info *fi)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind == R_TASKS)
        return rt_open(r.tc, r.rest, fi);
    if (r.kind != R_AMIS)
        return -EISDIR;
    return amis_view_open(r.view, fs, r.rest, fi);
}

static int regions_create(struct amifs *fs, const char *rel, mode_t mode,
                          struct fuse_file_info *fi)
{
    ROUTE_AMIS(fs, rel, r, -EACCES);
    return amis_view_create(r.view, fs, r.rest, mode, fi);
}

static int regions_read(struct amifs *fs, const char *rel, char *buf,
                        size_t n, off_t off, struct fuse_file_info *fi)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind == R_TASKS)
        return rt_read(buf, n, off, fi);
    if (r.kind != R_AMIS)
        return -EISDIR;
    return amis_view_read(r.view, fs, r.rest, buf, n, off, fi);
}

static int regions_write(struct amifs *fs, const char *rel, const char *buf,
                         size_t n, off_t off, struct fuse_file_info *fi)
{
    ROUTE_AMIS(fs, rel, r, -EISDIR);
    return amis_view_write(r.view, fs, r.rest, buf, n, off, fi);
}

static int regions_flush(struct amifs *fs, const char *rel,
                         struct fuse_file_info *fi)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind == R_TASKS)
        return 0;
    if (r.kind != R_AMIS)
        return 0;
    return amis_view_flush(r.view, fs, r.rest, fi);
}

static int regions_release(struct amifs *fs, const char *rel,
                           struct fuse_file_info *fi)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind == R_TASKS)
        return rt_release(fi);
    if (r.kind != R_AMIS)
        return 0;
    return amis_view_release(r.view, fs, r.rest, fi);
}

static int regions_truncate(struct amifs *fs, const char *rel, off_t size,
                            struct fuse_file_info *fi)
{
    ROUTE_AMIS(fs, rel, r, -EISDIR);
    return amis_view_truncate(r.view, fs, r.rest, size, fi);
}

static int regions_unlink(struct amifs *fs, const char *rel)
{
    ROUTE_AMIS(fs, rel, r, -EISDIR);
    return amis_view_unlink(r.view, fs, r.rest);
}

static int regions_mkdir(struct amifs *fs, const char *rel, mode_t mode)
{
    ROUTE_AMIS(fs, rel, r, -EEXIST);
    return amis_view_mkdir(r.view, fs, r.rest, mode);
}

static int regions_rmdir(struct amifs *fs, const char *rel)
{
    ROUTE_AMIS(fs, rel, r, -EPERM);
    return amis_view_rmdir(r.view, fs, r.rest);
}

static int regions_init(struct amifs *fs)
{
    struct regions_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    pthread_mutex_init(&st->lock, NULL);
    fs->regions = st;
    return 0;
}

static void regions_destroy(struct amifs *fs)
{
    struct regions_state *st = fs->regions;
    if (!st)
        return;
    while (st->views) {
        struct region_view *r = st->views;
        st->views = r->next;
        taskcache_free(r->own); /* before tcc, its ctx, goes */
        amis_view_free(r->amis);
        free(r);
    }
    names_free(st->names, st->n);
    pthread_mutex_destroy(&st->lock);
    free(st);
    fs->regions = NULL;
}

const struct folder_ops regions_folder = {
    .name = "regions",
    .init = regions_init,
    .destroy = regions_destroy,
    .getattr = regions_getattr,
    .readdir = regions_readdir,
    .readlink = regions_readlink,
    .open = regions_open,
    .create = regions_create,
    .read = regions_read,
    .write = regions_write,
    .flush = regions_flush,
    .release = regions_release,
    .truncate = regions_truncate,
    .unlink = regions_unlink,
    .mkdir = regions_mkdir,
    .rmdir = regions_rmdir,
};
