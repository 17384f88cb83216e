/*
 * snapshots.c — snapshots/ (contract: snapshots.h; design:
 * doc/design/lifecycle.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "aws/ec2.h"
#include "core/name.h"
#include "fs/view.h"
#include "fs/snapshots.h"

#define SN_ID_MAX 32
#define SN_ARG_MAX 512
#define VMIE_PREFIX "Created by AWS-VMImport service"

enum sn_node { N_ROOT, N_SNAP, N_FILE, N_TAGS, N_TAG, N_REGDIR, N_REG,
               N_REGLINK, N_ORPHANS, N_ORPHAN, N_DRYRUN };

struct sn_path {
    enum sn_node node;
    char id[SN_ID_MAX];
    char arg[SN_ARG_MAX]; /* file, tag key or NAME (decoded) */
    char enc[SN_ARG_MAX]; /* NAME as written */
};

struct sn_reg {
    char id[SN_ID_MAX];
    char name[SN_ARG_MAX];
    char image_id[SN_ID_MAX];
    struct sn_reg *next;
};

struct sn_view {
    pthread_mutex_t lock;
    struct aws_client *client;
    char *region;
    struct ec2_snapshot_list snaps;
    struct ec2_image_list images;
    double fetched;
    bool have;
    struct sn_reg *regs;
};

static const char *const sn_files[] = {"info.json", "state", "size", "amis"};
#define N_SN_FILES (sizeof(sn_files) / sizeof(sn_files[0]))

/* ---- paths --------------------------------------------------------------- */

static int parse_sub(char *const *c, int nc, struct sn_path *p)
{
    for (size_t i = 0; nc == 1 && i < N_SN_FILES; i++)
        if (strcmp(c[0], sn_files[i]) == 0) {
            p->node = N_FILE;
            snprintf(p->arg, sizeof(p->arg), "%s", c[0]);
            return 0;
        }
    if (strcmp(c[0], "tags") == 0 && nc <= 2) {
        p->node = nc == 1 ? N_TAGS : N_TAG;
        if (nc == 2 && name_tag_decode(c[1], p->arg, sizeof(p->arg)) < 0)
            return -ENOENT;
        return 0;
    }
    if (strcmp(c[0], "register") != 0 || (nc == 3 && strcmp(c[2], "ami")))
        return -ENOENT;
    p->node = nc == 1 ? N_REGDIR : nc == 2 ? N_REG : N_REGLINK;
    if (nc >= 2) {
        snprintf(p->enc, sizeof(p->enc), "%s", c[1]);
        if (name_tag_decode(c[1], p->arg, sizeof(p->arg)) < 0)
            return -ENOENT;
    }
    return 0;
}

static int sn_parse(const char *rel, struct sn_path *p)
{
    char tmp[SN_ARG_MAX * 2];
    char *c[5];
    memset(p, 0, sizeof(*p));
    if (strlen(rel) >= sizeof(tmp))
        return -ENAMETOOLONG;
    snprintf(tmp, sizeof(tmp), "%s", rel);
    int nc = view_split(tmp, c, 5);
    if (nc <= 0)
        return nc;
    if (strcmp(c[0], "orphans") == 0) {
        if (nc > 2)
            return -ENOENT;
        p->node = nc == 1 ? N_ORPHANS
                  : strcmp(c[1], "dry-run") == 0 ? N_DRYRUN : N_ORPHAN;
        if (nc == 2 && p->node == N_ORPHAN &&
            (strncmp(c[1], "snap-", 5) || strlen(c[1]) >= SN_ID_MAX))
            return -ENOENT;
        if (p->node == N_ORPHAN)
            snprintf(p->id, sizeof(p->id), "%s", c[1]);
        return 0;
    }
    if (strncmp(c[0], "snap-", 5) != 0 || strlen(c[0]) >= SN_ID_MAX ||
        nc > 4)
        return -ENOENT;
    snprintf(p->id, sizeof(p->id), "%s", c[0]);
    p->node = N_SNAP;
    return nc == 1 ? 0 : parse_sub(c + 1, nc - 1, p);
}

/* ---- the listing --------------------------------------------------------- */

static int refresh(struct sn_view *v, struct amifs *fs, bool force)
{
    double ttl = fs->opts.cache_ttl > 0 ? fs->opts.cache_ttl : 0;
    struct ec2_snapshot_list s = {0}, olds;
    struct ec2_image_list im = {0}, oldi;
    struct aws_error err;
    pthread_mutex_lock(&v->lock);
    bool fresh = !force && v->have && view_now() - v->fetched < ttl;
    pthread_mutex_unlock(&v->lock);
    if (fresh)
        return 0;
    aws_error_clear(&err);
    if (ec2_describe_snapshots(v->client, v->region, NULL, 0, &s, &err))
        return view_aws_fail(fs, "snapshots", "DescribeSnapshots", &err);
    if (ec2_describe_images(v->client, v->region, NULL, 0, &im, &err)) {
        ec2_snapshot_list_release(&s);
        return view_aws_fail(fs, "snapshots", "DescribeImages", &err);
    }
    pthread_mutex_lock(&v->lock);
    olds = v->snaps;
    oldi = v->images;
    v->snaps = s;
    v->images = im;
    v->fetched = view_now();
    v->have = true;
    pthread_mutex_unlock(&v->lock);
    ec2_snapshot_list_release(&olds);
    ec2_image_list_release(&oldi);
    return 0;
}

static const struct ec2_snapshot *find_locked(const struct sn_view *v,
                                              const char *id)
{
    for (size_t i = 0; i < v->snaps.n; i++)
        if (v->snaps.v[i].snapshot_id &&
            strcmp(v->snaps.v[i].snapshot_id, id) == 0)
            return &v->snaps.v[i];
    return NULL;
}

static bool image_uses(const struct ec2_image *im, const char *snap)
{
    for (size_t j = 0; j < im->ndevices; j++)
        if (im->devices[j].snapshot_id &&
            strcmp(im->devices[j].snapshot_id, snap) == 0)
            return true;
    return false;
}

static bool used_locked(const struct sn_view *v, const char *snap)
{
    for (size_t i = 0; i < v->images.n; i++)
        if (image_uses(&v->images.v[i], snap))
            return true;
    return false;
}

static bool orphan_locked(const struct sn_view *v,
                          const struct ec2_snapshot *s)
{
    return s->description &&
           strncmp(s->description, VMIE_PREFIX, strlen(VMIE_PREFIX)) == 0 &&
           !used_locked(v, s->snapshot_id);
}

static const struct sn_reg *reg_find_locked(const struct sn_view *v,
                                            const struct sn_path *p)
{
    for (const struct sn_reg *r = v->regs; r; r = r->next)
        if (strcmp(r->id, p->id) == 0 && strcmp(r->name, p->enc) == 0)
            return r;
    return NULL;
}

/* ---- files ---------------------------------------------------------------- */

static int render_json(const struct ec2_snapshot *s, struct buf *out)
{
    cJSON *j = cJSON_CreateObject(), *tags = cJSON_AddArrayToObject(j, "Tags");
    bool ok = j && tags &&
              cJSON_AddStringToObject(j, "SnapshotId", s->snapshot_id) &&
              cJSON_AddStringToObject(j, "State", s->state ? s->state : "") &&
              cJSON_AddStringToObject(j, "Description",
                                      s->description ? s->description : "") &&
              cJSON_AddNumberToObject(j, "VolumeSize", s->volume_size) &&
              cJSON_AddBoolToObject(j, "Encrypted", s->encrypted);
    if (ok && s->kms_key_id)
        ok = cJSON_AddStringToObject(j, "KmsKeyId", s->kms_key_id) != NULL;
    for (size_t i = 0; ok && i < s->tags.n; i++) {
        cJSON *t = cJSON_CreateObject();
        ok = t && cJSON_AddItemToArray(tags, t) &&
             cJSON_AddStringToObject(t, "Key", s->tags.v[i].key) &&
             cJSON_AddStringToObject(t, "Value", s->tags.v[i].value
                                                     ? s->tags.v[i].value
                                                     : "");
    }
    char *text = ok ? cJSON_Print(j) : NULL;
    int rc = !text || buf_appends(out, text) || buf_appendc(out, '\n');
    free(text);
    cJSON_Delete(j);
    return rc ? -ENOMEM : 0;
}

static int render_file_locked(const struct sn_view *v,
                              const struct ec2_snapshot *s, const char *f,
                              struct buf *out)
{
    int rc = 0;
    if (strcmp(f, "info.json") == 0)
        return render_json(s, out);
    if (strcmp(f, "state") == 0)
        rc = buf_printf(out, "%s\n", s->state ? s->state : "unknown");
    else if (strcmp(f, "size") == 0)
        rc = buf_printf(out, "%d\n", s->volume_size);
    else
        for (size_t i = 0; rc == 0 && i < v->images.n; i++)
            if (image_uses(&v->images.v[i], s->snapshot_id))
                rc = buf_printf(out, "%s\n", v->images.v[i].image_id);
    return rc ? -ENOMEM : 0;
}

static int render_dryrun_locked(const struct sn_view *v, struct buf *out)
{
    long total = 0, n = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < v->snaps.n; i++) {
        const struct ec2_snapshot *s = &v->snaps.v[i];
        if (!orphan_locked(v, s))
            continue;
        total += s->volume_size;
        n++;
        rc = buf_printf(out, "%s %d GiB %s\n", s->snapshot_id,
                        s->volume_size, s->description);
    }
    if (rc == 0)
        rc = buf_printf(out, "total: %ld snapshot(s), %ld GiB would be "
                        "freed by rm orphans/snap-*\n", n, total);
    return rc ? -ENOMEM : 0;
}

/* Exists (lock held); for files the bytes into out (may be NULL). */
static int lookup_locked(const struct sn_view *v, const struct sn_path *p,
                         struct buf *out)
{
    if (p->node == N_ROOT || p->node == N_ORPHANS)
        return 0;
    if (p->node == N_DRYRUN)
        return out ? render_dryrun_locked(v, out) : 0;
    const struct ec2_snapshot *s = find_locked(v, p->id);
    if (!s || (p->node == N_ORPHAN && !orphan_locked(v, s)))
        return -ENOENT;
    if (p->node == N_ORPHAN)
        return out && buf_printf(out, "%s %d GiB %s\n", s->snapshot_id,
                                 s->volume_size, s->description) ? -ENOMEM
                                                                 : 0;
    if (p->node == N_FILE)
        return out ? render_file_locked(v, s, p->arg, out) : 0;
    if (p->node == N_TAG) {
        const char *val = ec2_tags_get(&s->tags, p->arg);
        if (!val)
            return -ENOENT;
        return out && buf_printf(out, "%s\n", val) ? -ENOMEM : 0;
    }
    if (p->node == N_REG || p->node == N_REGLINK)
        return reg_find_locked(v, p) ? 0 : -ENOENT;
    return 0;
}

static bool is_file(enum sn_node n)
{
    return n == N_FILE || n == N_TAG || n == N_ORPHAN || n == N_DRYRUN;
}

static int sn_getattr(void *self, struct amifs *fs, const char *rel,
                      struct stat *st, struct fuse_file_info *fi)
{
    struct sn_view *v = self;
    struct sn_path p;
    struct buf b;
    char target[256] = "";
    int rc = sn_parse(rel, &p);
    if (rc == 0)
        rc = refresh(v, fs, false);
    if (rc != 0)
        return rc;
    buf_init(&b, 0);
    pthread_mutex_lock(&v->lock);
    rc = lookup_locked(v, &p, &b);
    const struct sn_reg *r = p.node == N_REGLINK ? reg_find_locked(v, &p)
                                                  : NULL;
    if (r)
        snprintf(target, sizeof(target), "../../../../amis/%s", r->image_id);
    pthread_mutex_unlock(&v->lock);
    if (rc == 0 && is_file(p.node))
        amifs_stat_file(fs, st, b.len, 0, p.node == N_ORPHAN);
    else if (rc == 0 && p.node == N_REGLINK)
        amifs_stat_link(fs, st, strlen(target));
    else if (rc == 0)
        amifs_stat_dir(fs, st, 0);
    buf_release(&b);
    return rc;
}

static void readdir_locked(const struct sn_view *v, const struct sn_path *p,
                           void *buf, fuse_fill_dir_t filler)
{
    const struct ec2_snapshot *s = p->id[0] ? find_locked(v, p->id) : NULL;
    for (size_t i = 0; p->node == N_ROOT && i < v->snaps.n; i++)
        filler(buf, v->snaps.v[i].snapshot_id, NULL, 0, 0);
    if (p->node == N_ROOT)
        filler(buf, "orphans", NULL, 0, 0);
    for (size_t i = 0; p->node == N_ORPHANS && i < v->snaps.n; i++)
        if (orphan_locked(v, &v->snaps.v[i]))
            filler(buf, v->snaps.v[i].snapshot_id, NULL, 0, 0);
    if (p->node == N_ORPHANS)
        filler(buf, "dry-run", NULL, 0, 0);
    for (size_t i = 0; p->node == N_SNAP && i < N_SN_FILES; i++)
        filler(buf, sn_files[i], NULL, 0, 0);
    if (p->node == N_SNAP) {
        filler(buf, "tags", NULL, 0, 0);
        filler(buf, "register", NULL, 0, 0);
    }
    for (size_t i = 0; s && p->node == N_TAGS && i < s->tags.n; i++)
        view_fill_name(buf, filler, s->tags.v[i].key);
    for (const struct sn_reg *r = v->regs; p->node == N_REGDIR && r;
         r = r->next)
        if (strcmp(r->id, p->id) == 0)
            filler(buf, r->name, NULL, 0, 0);
    if (p->node == N_REG)
        filler(buf, "ami", NULL, 0, 0);
}

static int sn_readdir(void *self, struct amifs *fs, const char *rel,
                      void *buf, fuse_fill_dir_t filler)
{
    struct sn_view *v = self;
    struct sn_path p;
    int rc = sn_parse(rel, &p);
    if (rc == 0 && (is_file(p.node) || p.node == N_REGLINK))
        rc = -ENOTDIR;
    if (rc == 0)
        rc = refresh(v, fs, false);
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

static int sn_readlink(void *self, struct amifs *fs, const char *rel,
                       char *out, size_t n)
{
    struct sn_view *v = self;
    struct sn_path p;
    int rc = sn_parse(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node != N_REGLINK)
        return -EINVAL;
    pthread_mutex_lock(&v->lock);
    const struct sn_reg *r = reg_find_locked(v, &p);
    if (r)
        snprintf(out, n, "../../../../amis/%s", r->image_id);
    pthread_mutex_unlock(&v->lock);
    return r ? 0 : -ENOENT;
}

static int sn_open(void *self, struct amifs *fs, const char *rel,
                   struct fuse_file_info *fi)
{
    struct sn_view *v = self;
    struct sn_path p;
    int rc = sn_parse(rel, &p);
    if (rc != 0)
        return rc;
    if (!is_file(p.node))
        return p.node == N_REGLINK ? -ENOENT : -EISDIR;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    if ((rc = refresh(v, fs, false)) != 0)
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

/* ---- rm orphans/snap-…, mkdir register/NAME ------------------------------ */

static int sn_unlink(void *self, struct amifs *fs, const char *rel)
{
    struct sn_view *v = self;
    struct sn_path p;
    struct aws_error err;
    int rc = sn_parse(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node != N_ORPHAN)
        return is_file(p.node) ? -EROFS : -EISDIR;
    if ((rc = refresh(v, fs, true)) != 0) /* judge on a fresh listing */
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = lookup_locked(v, &p, NULL);
    pthread_mutex_unlock(&v->lock);
    if (rc != 0)
        return rc;
    aws_error_clear(&err);
    if (ec2_delete_snapshot(v->client, v->region, p.id, &err) != 0)
        return view_aws_fail(fs, "snapshots", "DeleteSnapshot", &err);
    amifs_log(fs, AWS_LOG_INFO, "snapshots: orphan %s deleted", p.id);
    refresh(v, fs, true);
    return 0;
}

static int reg_record(struct sn_view *v, const struct sn_path *p,
                      const char *image_id)
{
    struct sn_reg *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    snprintf(r->id, sizeof(r->id), "%s", p->id);
    snprintf(r->name, sizeof(r->name), "%s", p->enc);
    snprintf(r->image_id, sizeof(r->image_id), "%s", image_id);
    pthread_mutex_lock(&v->lock);
    r->next = v->regs;
    v->regs = r;
    pthread_mutex_unlock(&v->lock);
    return 0;
}

static int do_register(struct sn_view *v, struct amifs *fs,
                       const struct sn_path *p, const char *what)
{
    char image_id[SN_ID_MAX], line[512];
    struct aws_error err;
    const char *arch = fs->opts.architecture && *fs->opts.architecture
                           ? fs->opts.architecture : "x86_64";
    const char *boot = fs->opts.boot_mode && *fs->opts.boot_mode
                           ? fs->opts.boot_mode : NULL;
    struct ec2_register_disk disk = {"/dev/sda1", p->id, true};
    struct ec2_register_params rp = {0};
    rp.name = p->arg;
    rp.architecture = arch;
    rp.boot_mode = boot;
    rp.root_device_name = disk.device_name;
    rp.ena_support = true;
    rp.disks = &disk;
    rp.ndisks = 1;
    aws_error_clear(&err);
    if (ec2_register_image(v->client, v->region, &rp, image_id,
                           sizeof(image_id), &err) != 0) {
        int e = aws_error_errno(&err);
        aws_error_format(&err, line, sizeof(line));
        if (strcmp(err.code, "InvalidAMIName.Duplicate") == 0)
            e = EEXIST;
        return amifs_refuse(fs, NULL, what, "mkdir", e > 0 ? e : EIO,
                            "RegisterImage failed: %s", line);
    }
    amifs_log(fs, AWS_LOG_INFO, "snapshots: %s registered as %s", p->id,
              image_id);
    refresh(v, fs, true);
    return reg_record(v, p, image_id);
}

static int sn_mkdir(void *self, struct amifs *fs, const char *rel,
                    mode_t mode)
{
    struct sn_view *v = self;
    struct sn_path p;
    char what[SN_ARG_MAX + 64];
    int rc = sn_parse(rel, &p);
    if (rc != 0)
        return rc == -ENOENT ? -EROFS : rc;
    if (p.node != N_REG)
        return is_file(p.node) || p.node == N_REGLINK ? -EROFS : -EEXIST;
    if ((rc = refresh(v, fs, false)) != 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    rc = !find_locked(v, p.id) ? -ENOENT
                               : reg_find_locked(v, &p) ? -EEXIST : 0;
    pthread_mutex_unlock(&v->lock);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "snapshots/%s/register/%s", p.id, p.enc);
    if (!view_ami_name_ok(p.arg))
        return amifs_refuse(fs, NULL, what, "mkdir", EINVAL,
                            "an AMI name is 3 to 128 letters, digits and "
                            "( ) [ ] . / ' @ _ - (write '/' as %%2F)");
    return do_register(v, fs, &p, what);
}

static int sn_rmdir(void *self, struct amifs *fs, const char *rel)
{
    return -EROFS;
}

/* ---- the view's life ----------------------------------------------------- */

static void sn_free(void *self)
{
    struct sn_view *v = self;
    if (!v)
        return;
    ec2_snapshot_list_release(&v->snaps);
    ec2_image_list_release(&v->images);
    while (v->regs) {
        struct sn_reg *r = v->regs;
        v->regs = r->next;
        free(r);
    }
    pthread_mutex_destroy(&v->lock);
    free(v->region);
    free(v);
}

static void *sn_new(struct amifs *fs, const struct view_region *r, int *rc)
{
    struct sn_view *v = calloc(1, sizeof(*v));
    *rc = -ENOMEM;
    if (!v)
        return NULL;
    pthread_mutex_init(&v->lock, NULL);
    v->client = r->client;
    v->region = strdup(r->name);
    if (!v->region) {
        sn_free(v);
        return NULL;
    }
    *rc = 0;
    return v;
}

const struct view_ops snapshots_view_ops = {
    .name = "snapshots",
    .new = sn_new,
    .free = sn_free,
    .getattr = sn_getattr,
    .readdir = sn_readdir,
    .readlink = sn_readlink,
    .open = sn_open,
    .read = view_text_read,
    .release = view_text_release,
    .unlink = sn_unlink,
    .mkdir = sn_mkdir,
    .rmdir = sn_rmdir,
};
