/*
 * instances.c — instances/ (contract: instances.h; design:
 * doc/design/lifecycle.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/ec2.h"
#include "core/name.h"
#include "fs/view.h"
#include "fs/instances.h"

#define IN_ID_MAX 32
#define IN_ARG_MAX 512

enum in_node { I_ROOT, I_INST, I_FILE, I_TAGS, I_TAG, I_IMGDIR, I_IMG,
               I_LINK };

struct in_path {
    enum in_node node;
    char id[IN_ID_MAX];
    char arg[IN_ARG_MAX]; /* file name, tag key or image NAME (decoded) */
    char enc[IN_ARG_MAX]; /* NAME as written */
    bool noreboot;
};

struct in_image {
    char id[IN_ID_MAX];
    char name[IN_ARG_MAX];  /* as written (encoded) */
    bool noreboot;
    char image_id[IN_ID_MAX];
    struct in_image *next;
};

struct in_view {
    pthread_mutex_t lock;
    struct aws_client *client;
    char *region;
    char *amis_up;  /* from …/image/NAME/ to the view's amis/ */
    struct ec2_instance_list list;
    double fetched;
    bool have;
    struct in_image *images;
};

static const char *const in_files[] = {"info.json", "state", "name", "type",
                                       "volumes"};
#define N_IN_FILES (sizeof(in_files) / sizeof(in_files[0]))

/* ---- paths --------------------------------------------------------------- */

static int parse_sub(char *const *c, int nc, struct in_path *p)
{
    for (size_t i = 0; nc == 1 && i < N_IN_FILES; i++)
        if (strcmp(c[0], in_files[i]) == 0) {
            p->node = I_FILE;
            snprintf(p->arg, sizeof(p->arg), "%s", c[0]);
            return 0;
        }
    if (strcmp(c[0], "tags") == 0 && nc <= 2) {
        p->node = nc == 1 ? I_TAGS : I_TAG;
        if (nc == 2 && name_tag_decode(c[1], p->arg, sizeof(p->arg)) < 0)
            return -ENOENT;
        return 0;
    }
    p->noreboot = strcmp(c[0], "image-noreboot") == 0;
    if (!p->noreboot && strcmp(c[0], "image") != 0)
        return -ENOENT;
    p->node = nc == 1 ? I_IMGDIR : nc == 2 ? I_IMG : I_LINK;
    if (nc == 3 && strcmp(c[2], "ami") != 0)
        return -ENOENT;
    if (nc >= 2) {
        snprintf(p->enc, sizeof(p->enc), "%s", c[1]);
        if (name_tag_decode(c[1], p->arg, sizeof(p->arg)) < 0)
            return -ENOENT;
    }
    return 0;
}

static int in_parse(const char *rel, struct in_path *p)
{
    char tmp[IN_ARG_MAX * 2];
    char *c[5];
    memset(p, 0, sizeof(*p));
    if (strlen(rel) >= sizeof(tmp))
        return -ENAMETOOLONG;
    snprintf(tmp, sizeof(tmp), "%s", rel);
    int nc = view_split(tmp, c, 5);
    if (nc <= 0)
        return nc;
    if (strncmp(c[0], "i-", 2) != 0 || strlen(c[0]) >= IN_ID_MAX)
        return -ENOENT;
    snprintf(p->id, sizeof(p->id), "%s", c[0]);
    p->node = I_INST;
    if (nc > 4)
        return -ENOENT;
    return nc == 1 ? 0 : parse_sub(c + 1, nc - 1, p);
}

/* ---- the listing --------------------------------------------------------- */

static int refresh(struct in_view *v, struct amifs *fs)
{
    double ttl = fs->opts.cache_ttl > 0 ? fs->opts.cache_ttl : 0;
    struct ec2_instance_list l = {0}, old;
    struct aws_error err;
    pthread_mutex_lock(&v->lock);
    bool fresh = v->have && view_now() - v->fetched < ttl;
    pthread_mutex_unlock(&v->lock);
    if (fresh)
        return 0;
    aws_error_clear(&err);
    if (ec2_describe_instances(v->client, v->region, &l, &err) != 0)
        return view_aws_fail(fs, "instances", "DescribeInstances", &err);
    pthread_mutex_lock(&v->lock);
    old = v->list;
    v->list = l;
    v->fetched = view_now();
    v->have = true;
    pthread_mutex_unlock(&v->lock);
    ec2_instance_list_release(&old);
    return 0;
}

static void invalidate(struct in_view *v)
{
    pthread_mutex_lock(&v->lock);
    v->fetched = -1e9;
    pthread_mutex_unlock(&v->lock);
}

static const struct ec2_instance *find_locked(const struct in_view *v,
                                              const char *id)
{
    for (size_t i = 0; i < v->list.n; i++)
        if (v->list.v[i].instance_id &&
            strcmp(v->list.v[i].instance_id, id) == 0)
            return &v->list.v[i];
    return NULL;
}

static const struct in_image *image_find_locked(const struct in_view *v,
                                                const struct in_path *p)
{
    for (const struct in_image *r = v->images; r; r = r->next)
        if (strcmp(r->id, p->id) == 0 && strcmp(r->name, p->enc) == 0 &&
            r->noreboot == p->noreboot)
            return r;
    return NULL;
}

/* ---- files ---------------------------------------------------------------- */

static int render_file(const struct ec2_instance *in, const char *f,
                       struct buf *out)
{
    int rc = 0;
    if (strcmp(f, "info.json") == 0) {
        char *j = in->raw_xml ? ec2_xml_to_json(in->raw_xml,
                                                strlen(in->raw_xml))
                              : NULL;
        rc = !j || buf_appends(out, j) || buf_appendc(out, '\n');
        free(j);
    } else if (strcmp(f, "state") == 0) {
        rc = buf_printf(out, "%s\n", in->state ? in->state : "unknown");
    } else if (strcmp(f, "name") == 0) {
        rc = buf_printf(out, "%s\n", in->name ? in->name : "");
    } else if (strcmp(f, "type") == 0) {
        rc = buf_printf(out, "%s\n", in->type ? in->type : "");
    } else {
        for (size_t i = 0; rc == 0 && i < in->volumes.n; i++)
            rc = buf_printf(out, "%s\n", in->volumes.v[i]);
    }
    return rc ? -ENOMEM : 0;
}

/* Exists (lock held); for files and tags the bytes into out (may be
 * NULL). */
static int lookup_locked(const struct in_view *v, const struct in_path *p,
                         struct buf *out)
{
    if (p->node == I_ROOT)
        return 0;
    const struct ec2_instance *in = find_locked(v, p->id);
    if (!in)
        return -ENOENT;
    if (p->node == I_FILE)
        return out ? render_file(in, p->arg, out) : 0;
    if (p->node == I_TAG) {
        const char *val = ec2_tags_get(&in->tags, p->arg);
        if (!val)
            return -ENOENT;
        return out && buf_printf(out, "%s\n", val) ? -ENOMEM : 0;
    }
    if (p->node == I_IMG || p->node == I_LINK)
        return image_find_locked(v, p) ? 0 : -ENOENT;
    return 0;
}

static int in_getattr(void *self, struct amifs *fs, const char *rel,
                      struct stat *st, struct fuse_file_info *fi)
{
    struct in_view *v = self;
    struct in_path p;
    struct buf b;
    char target[1024] = "";
    int rc = in_parse(rel, &p);
    if (rc == 0)
        rc = refresh(v, fs);
    if (rc != 0)
        return rc;
    buf_init(&b, 0);
    pthread_mutex_lock(&v->lock);
    rc = lookup_locked(v, &p, &b);
    const struct in_image *r = p.node == I_LINK ? image_find_locked(v, &p)
                                                 : NULL;
    if (r)
        snprintf(target, sizeof(target), "%s%s", v->amis_up, r->image_id);
    pthread_mutex_unlock(&v->lock);
    if (rc == 0 && (p.node == I_FILE || p.node == I_TAG))
        amifs_stat_file(fs, st, b.len, 0, false);
    else if (rc == 0 && p.node == I_LINK)
        amifs_stat_link(fs, st, strlen(target));
    else if (rc == 0)
        amifs_stat_dir(fs, st, 0);
    buf_release(&b);
    return rc;
}

static void readdir_locked(const struct in_view *v, const struct in_path *p,
                           void *buf, fuse_fill_dir_t filler)
{
    const struct ec2_instance *in = p->id[0] ? find_locked(v, p->id) : NULL;
    for (size_t i = 0; p->node == I_ROOT && i < v->list.n; i++)
        filler(buf, v->list.v[i].instance_id, NULL, 0, 0);
    for (size_t i = 0; p->node == I_INST && i < N_IN_FILES; i++)
        filler(buf, in_files[i], NULL, 0, 0);
    if (p->node == I_INST) {
        filler(buf, "tags", NULL, 0, 0);
        filler(buf, "image", NULL, 0, 0);
        filler(buf, "image-noreboot", NULL, 0, 0);
    }
    for (size_t i = 0; in && p->node == I_TAGS && i < in->tags.n; i++)
        view_fill_name(buf, filler, in->tags.v[i].key);
    for (const struct in_image *r = v->images; p->node == I_IMGDIR && r;
         r = r->next)
        if (strcmp(r->id, p->id) == 0 && r->noreboot == p->noreboot)
            filler(buf, r->name, NULL, 0, 0);
    if (p->node == I_IMG)
        filler(buf, "ami", NULL, 0, 0);
}

static int in_readdir(void *self, struct amifs *fs, const char *rel,
                      void *buf, fuse_fill_dir_t filler)
{
    struct in_view *v = self;
    struct in_path p;
    int rc = in_parse(rel, &p);
    if (rc == 0 && (p.node == I_FILE || p.node == I_TAG ||
                    p.node == I_LINK))
        rc = -ENOTDIR;
    if (rc == 0)
        rc = refresh(v, fs);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = lookup_locked(v, &p, NULL);
    if (rc == 0) {
        filler(buf, ".", NULL, 0, 0);
        filler(buf, "..", NULL, 0, 0);
        readdir_locked(v, &p, buf, filler);
    }
    pthread_mutex_unlock(&v->lock);
    return rc;
}

static int in_readlink(void *self, struct amifs *fs, const char *rel,
                       char *out, size_t n)
{
    struct in_view *v = self;
    struct in_path p;
    int rc = in_parse(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node != I_LINK)
        return -EINVAL;
    pthread_mutex_lock(&v->lock);
    const struct in_image *r = image_find_locked(v, &p);
    if (r)
        snprintf(out, n, "%s%s", v->amis_up, r->image_id);
    pthread_mutex_unlock(&v->lock);
    return r ? 0 : -ENOENT;
}

static int in_open(void *self, struct amifs *fs, const char *rel,
                   struct fuse_file_info *fi)
{
    struct in_view *v = self;
    struct in_path p;
    int rc = in_parse(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node != I_FILE && p.node != I_TAG)
        return p.node == I_LINK ? -ENOENT : -EISDIR;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    if ((rc = refresh(v, fs)) != 0)
        return rc;
    struct buf *b = view_text_new();
    if (!b)
        return -ENOMEM;
    pthread_mutex_lock(&v->lock);
    rc = lookup_locked(v, &p, b);
    pthread_mutex_unlock(&v->lock);
    if (rc != 0) {
        view_text_drop(b);
        return rc;
    }
    return view_text_open(fi, b);
}

/* ---- mkdir image/NAME ---------------------------------------------------- */

static int image_record(struct in_view *v, const struct in_path *p,
                        const char *image_id)
{
    struct in_image *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    snprintf(r->id, sizeof(r->id), "%s", p->id);
    snprintf(r->name, sizeof(r->name), "%s", p->enc);
    snprintf(r->image_id, sizeof(r->image_id), "%s", image_id);
    r->noreboot = p->noreboot;
    pthread_mutex_lock(&v->lock);
    r->next = v->images;
    v->images = r;
    pthread_mutex_unlock(&v->lock);
    return 0;
}

static int create_image(struct in_view *v, struct amifs *fs,
                        const struct in_path *p, const char *what)
{
    char image_id[IN_ID_MAX];
    struct ec2_tags tags = {0};
    struct aws_error err;
    int rc = 0;
    if (ec2_tags_add(&tags, "Name", p->arg) ||
        ec2_tags_add(&tags, "amifs:source-instance", p->id) ||
        ec2_tags_add(&tags, "amifs:reboot", p->noreboot ? "false" : "true"))
        rc = -ENOMEM;
    aws_error_clear(&err);
    if (rc == 0 && ec2_create_image(v->client, v->region, p->id, p->arg,
                                    p->noreboot, &tags, image_id,
                                    sizeof(image_id), &err) != 0) {
        char line[512];
        int e = aws_error_errno(&err);
        aws_error_format(&err, line, sizeof(line));
        if (strcmp(err.code, "InvalidAMIName.Duplicate") == 0)
            e = EEXIST;
        rc = amifs_refuse(fs, NULL, what, "mkdir", e > 0 ? e : EIO,
                          "CreateImage failed: %s", line);
    }
    ec2_tags_release(&tags);
    if (rc != 0)
        return rc;
    amifs_log(fs, AWS_LOG_INFO, "instances: %s: CreateImage (%s): %s",
              p->id, p->noreboot ? "no reboot" : "reboot", image_id);
    invalidate(v);
    return image_record(v, p, image_id);
}

static int in_mkdir(void *self, struct amifs *fs, const char *rel,
                    mode_t mode)
{
    struct in_view *v = self;
    struct in_path p;
    char what[IN_ARG_MAX + 64];
    int rc = in_parse(rel, &p);
    if (rc != 0)
        return rc == -ENOENT ? -EPERM : rc;
    if (p.node != I_IMG)
        return p.node == I_LINK || p.node == I_FILE || p.node == I_TAG
                   ? -EPERM : -EEXIST;
    if ((rc = refresh(v, fs)) != 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = !find_locked(v, p.id) ? -ENOENT
                               : image_find_locked(v, &p) ? -EEXIST : 0;
    pthread_mutex_unlock(&v->lock);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "instances/%s/%s/%s", p.id,
             p.noreboot ? "image-noreboot" : "image", p.enc);
    if (!view_ami_name_ok(p.arg))
        return amifs_refuse(fs, NULL, what, "mkdir", EINVAL,
                            "an AMI name is 3 to 128 letters, digits and "
                            "( ) [ ] . / ' @ _ - (write '/' as %%2F)");
    return create_image(v, fs, &p, what);
}

static int in_rmdir(void *self, struct amifs *fs, const char *rel)
{
    return -EPERM; /* images are removed under amis/ (rm -r amis/ami-…) */
}

/* ---- the view's life ----------------------------------------------------- */

static void in_free(void *self)
{
    struct in_view *v = self;
    if (!v)
        return;
    ec2_instance_list_release(&v->list);
    while (v->images) {
        struct in_image *r = v->images;
        v->images = r->next;
        free(r);
    }
    pthread_mutex_destroy(&v->lock);
    free(v->region);
    free(v->amis_up);
    free(v);
}

static void *in_new(struct amifs *fs, const struct view_region *r, int *rc)
{
    struct in_view *v = calloc(1, sizeof(*v));
    *rc = -ENOMEM;
    if (!v)
        return NULL;
    pthread_mutex_init(&v->lock, NULL);
    v->client = r->client;
    v->region = strdup(r->name);
    /* …/image/NAME/ up to the folder holding instances/, then its amis/
     * (the mount root's, or regions/REGION/amis) */
    v->amis_up = strdup("../../../../amis/");
    if (!v->region || !v->amis_up) {
        in_free(v);
        return NULL;
    }
    *rc = 0;
    return v;
}

const struct view_ops instances_view_ops = {
    .name = "instances",
    .new = in_new,
    .free = in_free,
    .getattr = in_getattr,
    .readdir = in_readdir,
    .readlink = in_readlink,
    .open = in_open,
    .read = view_text_read,
    .release = view_text_release,
    .mkdir = in_mkdir,
    .rmdir = in_rmdir,
};
