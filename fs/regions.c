/*
 * regions.c — regions/: a directory of the account's regions, each
 * REGION directory holding one view of every folder kind (fs/view.h):
 * regions/REGION/amis/ (fs/amis.c) and regions/REGION/tasks/ (fs/tasks.c),
 * so that a copy started with `mkdir amis/ami-…/copy-to/REGION` or an
 * import in another region can be followed without remounting. This file
 * knows no kind's layout: it makes the views and hands each subtree to its
 * kind; a kind's missing handler answers EACCES here.
 *
 * regions/ lists DescribeRegions' answer (cached for an hour: regions change
 * rarely). A region's views are made on first use (depth 3, no registry:
 * tasks/ there is read-only and has no `wait`) and kept for the mount's
 * life. A kind that needs_tasks gets the region's task poller: the mounted
 * region borrows imports/' (no second poller asking AWS the same), any
 * other region gets a core/taskcache.c poller of its own, started the first
 * time the folder is used.
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
#include "core/taskcache.h"
#include "fs/view.h"
#include "fs/amis.h"
#include "fs/instances.h"
#include "fs/snapshots.h"
#include "fs/tasks.h"
#include "fs/exports.h"

#define REGIONS_TTL 3600.0

/* The kinds a REGION directory holds, in listing order. */
static const struct view_ops *const kinds[] = {&amis_view_ops,
                                               &tasks_view_ops,
                                               &instances_view_ops,
                                               &snapshots_view_ops,
                                               &exports_view_ops};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct region_view {
    char name[64];
    void *views[NKINDS]; /* each kind's view, NULL until first used */
    /* The region's task poller, for kinds that need_tasks: NULL until
     * first used. `own` is the poller this region started (NULL when it
     * borrows imports/' one); tcc is its ops' context and so lives as long
     * as it. */
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

static bool regions_name_ok(const char *name)
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
    bool fresh = st->names && view_now() - st->fetched < REGIONS_TTL;
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
    st->fetched = view_now();
    pthread_mutex_unlock(&st->lock);
    return 0;
}

int regions_known(struct amifs *fs, const char *name)
{
    struct regions_state *st = fs->regions;
    if (!regions_name_ok(name))
        return 0;
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

/* The region's directory entry, created on first use; NULL when out of
 * memory. Its views are made later, by region_view_of(). */
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
        r->next = st->views;
        st->views = r;
    }
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* Start r's own poller. Called with the lock held: creating the cache and
 * its thread makes no network call (the first refresh runs in the thread). */
static struct taskcache *start_cache(struct amifs *fs, struct region_view *r)
{
    double iv = fs->opts.poll_interval > 0 ? fs->opts.poll_interval : 10.0;
    r->tcc = (struct taskcache_client){fs->client, r->name, NULL, NULL,
                                       NULL};
    struct taskcache_ops ops = taskcache_ops_for_client(&r->tcc);
    struct taskcache *tc =
        taskcache_new(&ops, iv, iv < 2.0 ? iv : 2.0, &fs->logger);
    if (tc && taskcache_start(tc) != 0) {
        taskcache_free(tc);
        tc = NULL;
    }
    return tc;
}

/* The region's task poller (lock held): the mounted region's when r is
 * that region and imports/ runs one, else r's own, started now. */
static struct taskcache *region_tasks_locked(struct amifs *fs,
                                             struct region_view *r)
{
    if (!r->tc) {
        struct view_region m;
        view_region_mounted(fs, &m);
        if (m.tasks && strcmp(m.name, r->name) == 0)
            r->tc = m.tasks;
        else
            r->tc = r->own = start_cache(fs, r);
    }
    return r->tc;
}

/* r's view of kind k, made on first use. NULL with *rc set on failure. */
static void *region_view_of(struct amifs *fs, struct region_view *r,
                            size_t k, int *rc)
{
    struct regions_state *st = fs->regions;
    *rc = 0;
    pthread_mutex_lock(&st->lock);
    if (!r->views[k]) {
        struct view_region vr = {
            .name = r->name, .client = fs->client, .depth = 3,
            .region_known = regions_known};
        if (kinds[k]->needs_tasks)
            vr.tasks = region_tasks_locked(fs, r);
        r->views[k] = kinds[k]->new(fs, &vr, rc);
    }
    void *v = r->views[k];
    pthread_mutex_unlock(&st->lock);
    return v;
}

/* Where a path below regions/ goes. */
struct rroute {
    enum { R_TOP, R_REGION, R_VIEW } kind;
    char region[64];
    const char *rest;           /* below REGION/KIND/ */
    const struct view_ops *ops; /* R_VIEW: the kind */
    void *self;                 /* R_VIEW: the region's view of it */
};

/* A known region, or a well-formed name while the list is unknown. */
static int region_ok(struct amifs *fs, const char *name)
{
    return regions_known(fs, name) == 0 ? -ENOENT : 0;
}

/* REGION/SUB/…: which kind SUB names, and the region's view of it. */
static int route_sub(struct amifs *fs, const char *sub, size_t len,
                     struct rroute *r)
{
    size_t sl = strcspn(sub, "/");
    size_t k = 0;
    while (k < NKINDS && !(strlen(kinds[k]->name) == sl &&
                           memcmp(sub, kinds[k]->name, sl) == 0))
        k++;
    if (k == NKINDS)
        return -ENOENT;
    r->rest = sub[sl] ? sub + sl + 1 : "";
    struct region_view *v = region_find(fs, r->region, len);
    if (!v)
        return -ENOMEM;
    int rc;
    r->kind = R_VIEW;
    r->ops = kinds[k];
    r->self = region_view_of(fs, v, k, &rc);
    return r->self ? 0 : rc < 0 ? rc : -EIO;
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

/* Route rel; above any view answer `above`; in a view call the kind's
 * handler, or answer `missing` when it has none. */
#define REGIONS_CALL(rel, above, missing, op, ...)                             \
    struct rroute r;                                                           \
    int rc_ = rroute(fs, (rel), &r);                                           \
    if (rc_ != 0)                                                              \
        return rc_;                                                            \
    if (r.kind != R_VIEW)                                                      \
        return (above);                                                        \
    if (!r.ops->op)                                                            \
        return (missing);                                                      \
    return r.ops->op(r.self, fs, r.rest, __VA_ARGS__)

static int regions_getattr(struct amifs *fs, const char *rel,
                           struct stat *st, struct fuse_file_info *fi)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind != R_VIEW) {
        amifs_stat_dir(fs, st, 0);
        return 0;
    }
    return r.ops->getattr(r.self, fs, r.rest, st, fi);
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
        for (size_t k = 0; k < NKINDS; k++)
            filler(buf, kinds[k]->name, NULL, 0, 0);
        return 0;
    }
    return r.ops->readdir(r.self, fs, r.rest, buf, filler);
}

static int regions_readlink(struct amifs *fs, const char *rel, char *out,
                            size_t n)
{
    REGIONS_CALL(rel, -EINVAL, -EINVAL, readlink, out, n);
}

static int regions_open(struct amifs *fs, const char *rel,
                        struct fuse_file_info *fi)
{
    REGIONS_CALL(rel, -EISDIR, -EACCES, open, fi);
}

static int regions_create(struct amifs *fs, const char *rel, mode_t mode,
                          struct fuse_file_info *fi)
{
    REGIONS_CALL(rel, -EACCES, -EACCES, create, mode, fi);
}

static int regions_read(struct amifs *fs, const char *rel, char *buf,
                        size_t n, off_t off, struct fuse_file_info *fi)
{
    REGIONS_CALL(rel, -EISDIR, -EBADF, read, buf, n, off, fi);
}

static int regions_write(struct amifs *fs, const char *rel, const char *buf,
                         size_t n, off_t off, struct fuse_file_info *fi)
{
    REGIONS_CALL(rel, -EISDIR, -EACCES, write, buf, n, off, fi);
}

static int regions_flush(struct amifs *fs, const char *rel,
                         struct fuse_file_info *fi)
{
    REGIONS_CALL(rel, 0, 0, flush, fi);
}

static int regions_release(struct amifs *fs, const char *rel,
                           struct fuse_file_info *fi)
{
    REGIONS_CALL(rel, 0, 0, release, fi);
}

static int regions_truncate(struct amifs *fs, const char *rel, off_t size,
                            struct fuse_file_info *fi)
{
    REGIONS_CALL(rel, -EISDIR, -EACCES, truncate, size, fi);
}

static int regions_unlink(struct amifs *fs, const char *rel)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind != R_VIEW)
        return -EISDIR;
    return r.ops->unlink ? r.ops->unlink(r.self, fs, r.rest) : -EACCES;
}

static int regions_mkdir(struct amifs *fs, const char *rel, mode_t mode)
{
    REGIONS_CALL(rel, -EEXIST, -EACCES, mkdir, mode);
}

static int regions_rmdir(struct amifs *fs, const char *rel)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
    if (r.kind != R_VIEW)
        return -EPERM;
    return r.ops->rmdir ? r.ops->rmdir(r.self, fs, r.rest) : -EACCES;
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
        for (size_t k = 0; k < NKINDS; k++) /* before the poller they use */
            if (r->views[k])
                kinds[k]->free(r->views[k]);
        taskcache_free(r->own); /* before tcc, its ctx, goes */
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
