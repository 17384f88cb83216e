/*
 * regions.c — regions/REGION/amis/: the amis/ view of any region of the
 * account, so that a copy started with `mkdir amis/ami-…/copy-to/REGION`
 * can be followed without remounting.
 *
 * regions/ lists DescribeRegions' answer (cached for an hour: regions change
 * rarely). A REGION directory holds `amis/`, one amis view per region,
 * created on first use and kept for the mount's life. (Tasks of other
 * regions are not shown yet: the tasks module serves the mounted region.)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/ec2.h"
#include "fs/amis.h"

#define REGIONS_TTL 3600.0

struct region_view {
    char name[64];
    struct amis_view *amis;
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

/* The amis view of a region, created on first use. */
static struct amis_view *region_view(struct amifs *fs, const char *name,
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
    return r ? r->amis : NULL;
}

/* Where a path below regions/ goes. */
struct rroute {
    enum { R_TOP, R_REGION, R_AMIS } kind;
    char region[64];
    const char *rest;          /* below REGION/amis/ ("" for amis itself) */
    struct amis_view *view;    /* R_AMIS */
};

static int region_ok(struct amifs *fs, const char *name)
{
    if (!regions_name_ok(name))
        return -ENOENT;
    int k = regions_known(fs, name);
    return k == 0 ? -ENOENT : 0; /* unknown list: accept a good name */
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
    const char *sub = rel + len + 1;
    size_t sl = strcspn(sub, "/");
    if (sl != 4 || memcmp(sub, "amis", 4) != 0)
        return -ENOENT;
    r->kind = R_AMIS;
    r->rest = sub[sl] ? sub + sl + 1 : "";
    r->view = region_view(fs, r->region, len);
    return r->view ? 0 : -ENOMEM;
}

#define ROUTE_AMIS(fs, rel, r, nonamis)                                       \
    struct rroute r;                                                         \
    int rc_ = rroute(fs, rel, &r);                                           \
    if (rc_ != 0)                                                            \
        return rc_;                                                          \
    if (r.kind != R_AMIS)                                                    \
        return nonamis;

static int regions_getattr(struct amifs *fs, const char *rel,
                           struct stat *st, struct fuse_file_info *fi)
{
    struct rroute r;
    int rc = rroute(fs, rel, &r);
    if (rc != 0)
        return rc;
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
        return 0;
    }
    return amis_view_readdir(r.view, fs, r.rest, buf, filler);
}

static int regions_readlink(struct amifs *fs, const char *rel, char *out,
                            size_t n)
{
    ROUTE_AMIS(fs, rel, r, -EINVAL);
    return amis_view_readlink(r.view, fs, r.rest, out, n);
}

static int regions_open(struct amifs *fs, const char *rel,
                        struct fuse_file_info *fi)
{
    ROUTE_AMIS(fs, rel, r, -EISDIR);
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
    ROUTE_AMIS(fs, rel, r, -EISDIR);
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
    ROUTE_AMIS(fs, rel, r, 0);
    return amis_view_flush(r.view, fs, r.rest, fi);
}

static int regions_release(struct amifs *fs, const char *rel,
                           struct fuse_file_info *fi)
{
    ROUTE_AMIS(fs, rel, r, 0);
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
