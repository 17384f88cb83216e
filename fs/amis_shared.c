/*
 * amis_shared.c — amis/shared/ (contract: amis_shared.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/ec2.h"
#include "fs/view.h"
#include "fs/amis_kms.h"
#include "fs/amis_shared.h"

#define SH_ID_MAX 32
#define SH_DIR_MAX 512

struct sh_copy {
    char id[SH_ID_MAX];
    char dir[SH_DIR_MAX];
    char region[64];
    char new_id[SH_ID_MAX];
    struct sh_copy *next;
};

struct amis_shared {
    pthread_mutex_t lock;
    struct aws_client *client;
    char *region;
    char *up;
    int (*region_known)(struct amifs *, const char *);
    struct ec2_image_list list; /* ExecutableBy=self (mine skipped) */
    double fetched;
    bool have;
    struct sh_copy *copies;
};

enum sh_node { S_ROOT, S_AMI, S_FILE, S_COPYTO, S_COPY, S_LINK };

struct sh_path {
    enum sh_node node;
    char id[SH_ID_MAX];
    char file[16];
    char dir[SH_DIR_MAX];
};

static const char *const sh_files[] = {"image.json", "state", "owner",
                                       "snapshots"};
#define N_SH_FILES (sizeof(sh_files) / sizeof(sh_files[0]))

static int sh_parse(const char *rel, struct sh_path *p)
{
    char tmp[SH_DIR_MAX * 2];
    char *c[4] = {0};
    int nc = 0;
    memset(p, 0, sizeof(*p));
    if (!*rel)
        return 0;
    if (strlen(rel) >= sizeof(tmp))
        return -ENAMETOOLONG;
    snprintf(tmp, sizeof(tmp), "%s", rel);
    for (char *s = tmp; s;) {
        char *slash = strchr(s, '/');
        if (nc == 4 || !*s)
            return -ENOENT;
        c[nc++] = s;
        if (slash)
            *slash = '\0';
        s = slash ? slash + 1 : NULL;
    }
    if (nc == 4 && strcmp(c[3], "ami") != 0)
        return -ENOENT;
    if (strncmp(c[0], "ami-", 4) != 0 || strlen(c[0]) >= SH_ID_MAX)
        return -ENOENT;
    snprintf(p->id, sizeof(p->id), "%s", c[0]);
    p->node = S_AMI;
    if (nc == 1)
        return 0;
    for (size_t i = 0; nc == 2 && i < N_SH_FILES; i++)
        if (strcmp(c[1], sh_files[i]) == 0) {
            p->node = S_FILE;
            snprintf(p->file, sizeof(p->file), "%s", c[1]);
            return 0;
        }
    if (strcmp(c[1], "copy-to") != 0)
        return -ENOENT;
    p->node = nc == 2 ? S_COPYTO : nc == 3 ? S_COPY : S_LINK;
    if (nc >= 3 && strlen(c[2]) >= sizeof(p->dir))
        return -ENAMETOOLONG;
    if (nc >= 3)
        snprintf(p->dir, sizeof(p->dir), "%s", c[2]);
    return 0;
}

/* Refresh the listing when older than cache_ttl (no lock held across the
 * call; the newest answer wins). */
static int sh_refresh(struct amis_shared *sh, struct amifs *fs)
{
    double ttl = fs->opts.cache_ttl > 0 ? fs->opts.cache_ttl : 0;
    struct ec2_image_list l = {0}, old;
    struct aws_error err;
    pthread_mutex_lock(&sh->lock);
    bool fresh = sh->have && view_now() - sh->fetched < ttl;
    pthread_mutex_unlock(&sh->lock);
    if (fresh)
        return 0;
    aws_error_clear(&err);
    if (ec2_describe_images_shared(sh->client, sh->region, &l, &err) != 0)
        return view_aws_fail(fs, "amis/shared", "DescribeImages", &err);
    pthread_mutex_lock(&sh->lock);
    old = sh->list;
    sh->list = l;
    sh->fetched = view_now();
    sh->have = true;
    pthread_mutex_unlock(&sh->lock);
    ec2_image_list_release(&old);
    return 0;
}

static bool is_mine(const struct amifs *fs, const struct ec2_image *im)
{
    return fs->account[0] && im->owner_id &&
           strcmp(im->owner_id, fs->account) == 0;
}

/* The image `id` of the listing (lock held), NULL when not shared. */
static const struct ec2_image *sh_find_locked(const struct amis_shared *sh,
                                              const struct amifs *fs,
                                              const char *id)
{
    for (size_t i = 0; i < sh->list.n; i++)
        if (sh->list.v[i].image_id && !is_mine(fs, &sh->list.v[i]) &&
            strcmp(sh->list.v[i].image_id, id) == 0)
            return &sh->list.v[i];
    return NULL;
}

static const struct sh_copy *copy_find_locked(const struct amis_shared *sh,
                                              const char *id, const char *dir)
{
    for (const struct sh_copy *r = sh->copies; r; r = r->next)
        if (strcmp(r->id, id) == 0 && strcmp(r->dir, dir) == 0)
            return r;
    return NULL;
}

/* Does the node exist (lock held)? */
static int exists_locked(const struct amis_shared *sh, const struct amifs *fs,
                         const struct sh_path *p)
{
    if (p->node == S_ROOT)
        return 0;
    if (!sh_find_locked(sh, fs, p->id))
        return -ENOENT;
    if (p->node == S_COPY || p->node == S_LINK)
        return copy_find_locked(sh, p->id, p->dir) ? 0 : -ENOENT;
    return 0;
}

static int render_locked(const struct amis_shared *sh, const struct amifs *fs,
                         const struct sh_path *p, struct buf *out)
{
    const struct ec2_image *im = sh_find_locked(sh, fs, p->id);
    int rc = 0;
    if (!im)
        return -ENOENT;
    if (strcmp(p->file, "image.json") == 0) {
        char *j = ec2_image_to_json(im);
        rc = !j || buf_appends(out, j) || buf_appendc(out, '\n') ? -ENOMEM
                                                                  : 0;
        free(j);
    } else if (strcmp(p->file, "state") == 0) {
        rc = buf_printf(out, "%s\n", im->state ? im->state : "unknown");
    } else if (strcmp(p->file, "owner") == 0) {
        rc = buf_printf(out, "%s\n", im->owner_id ? im->owner_id : "");
    } else {
        for (size_t i = 0; rc == 0 && i < im->ndevices; i++)
            if (im->devices[i].snapshot_id)
                rc = buf_printf(out, "%s\n", im->devices[i].snapshot_id);
    }
    return rc ? -ENOMEM : 0;
}

int amis_shared_render(struct amis_shared *sh, struct amifs *fs,
                       const char *rel, struct buf *out)
{
    struct sh_path p;
    int rc = sh_parse(rel, &p);
    if (rc == 0 && p.node != S_FILE)
        rc = -EISDIR;
    if (rc == 0)
        rc = sh_refresh(sh, fs);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&sh->lock);
    rc = render_locked(sh, fs, &p, out);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static int link_locked(const struct amis_shared *sh, const struct sh_path *p,
                       char *out, size_t n)
{
    const struct sh_copy *r = copy_find_locked(sh, p->id, p->dir);
    if (!r)
        return -ENOENT;
    snprintf(out, n, "%sregions/%s/amis/%s", sh->up, r->region, r->new_id);
    return 0;
}

int amis_shared_getattr(struct amis_shared *sh, struct amifs *fs,
                        const char *rel, struct stat *st)
{
    struct sh_path p;
    char target[1024];
    struct buf b;
    int rc = sh_parse(rel, &p);
    if (rc == 0)
        rc = sh_refresh(sh, fs);
    if (rc != 0)
        return rc;
    buf_init(&b, 0);
    pthread_mutex_lock(&sh->lock);
    rc = exists_locked(sh, fs, &p);
    if (rc == 0 && p.node == S_FILE)
        rc = render_locked(sh, fs, &p, &b);
    if (rc == 0 && p.node == S_LINK)
        rc = link_locked(sh, &p, target, sizeof(target));
    pthread_mutex_unlock(&sh->lock);
    if (rc == 0 && p.node == S_FILE)
        amifs_stat_file(fs, st, b.len, 0, false);
    else if (rc == 0 && p.node == S_LINK)
        amifs_stat_link(fs, st, strlen(target));
    else if (rc == 0)
        amifs_stat_dir(fs, st, 0);
    buf_release(&b);
    return rc;
}

static void readdir_locked(const struct amis_shared *sh,
                           const struct amifs *fs, const struct sh_path *p,
                           void *buf, fuse_fill_dir_t filler)
{
    for (size_t i = 0; p->node == S_ROOT && i < sh->list.n; i++)
        if (sh->list.v[i].image_id && !is_mine(fs, &sh->list.v[i]))
            filler(buf, sh->list.v[i].image_id, NULL, 0, 0);
    for (size_t i = 0; p->node == S_AMI && i < N_SH_FILES; i++)
        filler(buf, sh_files[i], NULL, 0, 0);
    if (p->node == S_AMI)
        filler(buf, "copy-to", NULL, 0, 0);
    for (const struct sh_copy *r = sh->copies; p->node == S_COPYTO && r;
         r = r->next)
        if (strcmp(r->id, p->id) == 0)
            filler(buf, r->dir, NULL, 0, 0);
    if (p->node == S_COPY)
        filler(buf, "ami", NULL, 0, 0);
}

int amis_shared_readdir(struct amis_shared *sh, struct amifs *fs,
                        const char *rel, void *buf, fuse_fill_dir_t filler)
{
    struct sh_path p;
    int rc = sh_parse(rel, &p);
    if (rc == 0 && (p.node == S_FILE || p.node == S_LINK))
        rc = -ENOTDIR;
    if (rc == 0)
        rc = sh_refresh(sh, fs);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&sh->lock);
    rc = exists_locked(sh, fs, &p);
    if (rc == 0) {
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        readdir_locked(sh, fs, &p, buf, filler);
    }
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

int amis_shared_readlink(struct amis_shared *sh, struct amifs *fs,
                         const char *rel, char *out, size_t n)
{
    struct sh_path p;
    int rc = sh_parse(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node != S_LINK)
        return -EINVAL;
    pthread_mutex_lock(&sh->lock);
    rc = link_locked(sh, &p, out, n);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static int copy_record(struct amis_shared *sh, const struct sh_path *p,
                       const char *region, const char *new_id)
{
    struct sh_copy *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    snprintf(r->id, sizeof(r->id), "%s", p->id);
    snprintf(r->dir, sizeof(r->dir), "%s", p->dir);
    snprintf(r->region, sizeof(r->region), "%s", region);
    snprintf(r->new_id, sizeof(r->new_id), "%s", new_id);
    pthread_mutex_lock(&sh->lock);
    r->next = sh->copies;
    sh->copies = r;
    pthread_mutex_unlock(&sh->lock);
    return 0;
}

int amis_shared_mkdir(struct amis_shared *sh, struct amifs *fs,
                      const char *rel)
{
    char name[256], what[SH_DIR_MAX + 64], new_id[SH_ID_MAX], region[64];
    struct sh_path p;
    int rc = sh_parse(rel, &p);
    if (rc != 0)
        return rc == -ENOENT ? -EROFS : rc;
    if (p.node != S_COPY)
        return p.node == S_LINK || p.node == S_FILE ? -EROFS : -EEXIST;
    if ((rc = sh_refresh(sh, fs)) != 0)
        return rc;
    pthread_mutex_lock(&sh->lock);
    const struct ec2_image *im = sh_find_locked(sh, fs, p.id);
    if (im)
        snprintf(name, sizeof(name), "%s", im->name ? im->name : p.id);
    rc = !im ? -ENOENT : copy_find_locked(sh, p.id, p.dir) ? -EEXIST : 0;
    pthread_mutex_unlock(&sh->lock);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "amis/shared/%s/copy-to/%s", p.id, p.dir);
    struct amis_copy c = {sh->client, sh->region, p.id, name, p.dir, what,
                          sh->region_known};
    rc = amis_copy_start(fs, &c, new_id, sizeof(new_id), region,
                         sizeof(region));
    return rc == 0 ? copy_record(sh, &p, region, new_id) : rc;
}

struct amis_shared *amis_shared_new(struct aws_client *c, const char *region,
                                    const char *up,
                                    int (*region_known)(struct amifs *,
                                                        const char *))
{
    struct amis_shared *sh = calloc(1, sizeof(*sh));
    if (!sh)
        return NULL;
    pthread_mutex_init(&sh->lock, NULL);
    sh->client = c;
    sh->region_known = region_known;
    sh->region = strdup(region);
    sh->up = strdup(up);
    if (!sh->region || !sh->up) {
        amis_shared_free(sh);
        return NULL;
    }
    return sh;
}

void amis_shared_free(struct amis_shared *sh)
{
    if (!sh)
        return;
    ec2_image_list_release(&sh->list);
    while (sh->copies) {
        struct sh_copy *r = sh->copies;
        sh->copies = r->next;
        free(r);
    }
    pthread_mutex_destroy(&sh->lock);
    free(sh->region);
    free(sh->up);
    free(sh);
}
