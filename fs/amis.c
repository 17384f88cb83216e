/*
 * amis.c — amis/: the AMIs the account owns, as directories (see amis.h for
 * the layout and the rules of rm -r).
 *
 * One DescribeImages answer ("snap") is shared read-only by every handler
 * through a reference count, so a handler can use it with the view's lock
 * released; a new answer replaces it when it is older than cache_ttl or after
 * a change we made. Only one thread refreshes at a time; the others wait on
 * a condition variable (not on the lock) and then use its answer.
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
#include "fs/amis.h"
#include "fs/amis_kms.h"
#include "fs/amis_retire.h"
#include "fs/amis_shared.h"
#include "fs/amis_text.h"
#include "fs/amis_store.h"
#include "fs/exports.h"

#define AMIS_ID_MAX 32
#define AMIS_ARG_MAX 512
#define STR_(x) #x
#define STR(x) STR_(x)

enum node {
    N_ROOT, N_BYNAME, N_BYNAME_LINK, N_AMI, N_JSON, N_STATE, N_SNAPS,
    N_PERMS, N_TAGS, N_TAG, N_COPYTO, N_COPY, N_COPY_LINK,
    N_DEPR, N_DISABLED, /* deprecation, disabled (fs/amis_retire.h) */
    N_SHARED, /* shared/…: fs/amis_shared.c's, arg the path below it */
    N_EXPORTTO, N_EXPORT, N_EXPORT_LINK, /* export-to/FORMAT/task */
    N_STORE, N_STORE_FILE,               /* store/{status,progress} */
};

struct amis_path {
    enum node node;
    char id[AMIS_ID_MAX];   /* ami-…, "" above the AMI level */
    char arg[AMIS_ARG_MAX]; /* decoded NAME, tag KEY or copy REGION */
};

/* One DescribeImages answer. Immutable once published; freed when the
 * last reference goes. */
struct amis_snap {
    unsigned refs;
    double fetched;
    struct ec2_image_list list;
};

/* launch-permissions text of an AMI, cached like the listing (it needs its
 * own DescribeImageAttribute call, and getattr wants its size). */
struct perm_entry {
    char id[AMIS_ID_MAX];
    char *text;
    char *advice;  /* comment lines of the last refused share, or NULL */
    double fetched;
    struct perm_entry *next;
};

/* tags/KEY created and not yet released: shown although AWS has no such
 * tag yet, so the getattr that follows create() finds it. */
struct pending_tag {
    char id[AMIS_ID_MAX];
    char key[AMIS_ARG_MAX];
    unsigned refs;
    struct pending_tag *next;
};

/* A copy started in this mount: copy-to/DIR of image `id`, DIR being
 * "REGION" or "REGION@KEY" (KEY name-encoded); in the view's `exports`
 * list, an export: export-to/FORMAT (region = the format, new_id = the
 * export task id, fs/exports.h). */
struct copy_rec {
    char id[AMIS_ID_MAX];
    char dir[AMIS_ARG_MAX];
    char region[64];
    char new_id[AMIS_ID_MAX];
    struct copy_rec *next;
};

struct amis_view {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *region;
    struct aws_client *client;
    int (*region_known)(struct amifs *fs, const char *name);
    char *root_up; /* from copy-to/REGION/ up to the mount root */
    struct amis_snap *snap;
    bool refreshing;
    bool stale;
    struct perm_entry *perms;
    struct pending_tag *pending;
    struct copy_rec *copies;
    struct amis_shared *shared; /* amis/shared/ */
    struct copy_rec *exports;
};

/* An open file of the view. A writable one buffers the whole file and
 * applies it once (see amis_flush); nothing reaches AWS before. */
struct amis_fh {
    struct amis_path p;
    struct buf data;   /* the file's bytes, bounded by its kind's limit */
    bool writable;
    bool append;       /* O_APPEND: every write goes to the end */
    bool dirty;        /* written or truncated since open / the last apply */
    bool wrote;        /* a write since then: the opener's close applies */
    long opener;       /* process that opened it for writing (0: unknown) */
    int result;        /* outcome of the last apply, for later flushes */
    int refused;       /* -errno of a refused write or truncate: poisoned */
    /* launch-permissions while appending: bytes [0, checked) are checked
     * complete lines holding nids entries; unchecked after a write into
     * the middle (then only the close checks) */
    size_t checked;
    size_t nids;
    bool unchecked;
};

static const struct {
    const char *name;
    enum node node;
} ami_files[] = {
    {"image.json", N_JSON},
    {"state", N_STATE},
    {"snapshots", N_SNAPS},
    {"launch-permissions", N_PERMS},
    {"deprecation", N_DEPR},
    {"disabled", N_DISABLED},
};
#define N_AMI_FILES (sizeof(ami_files) / sizeof(ami_files[0]))

/* ---- small helpers ------------------------------------------------------ */

/* "2024-05-01T12:00:00.000Z" → time_t; 0 when unparseable. */
static time_t parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

/* The key (tag key, AMI name) of the file name c[0..len) in a listing:
 * core/name.h's tag encoding, so a file created under a name is listed
 * under the same name. -ENOENT for a name no key is listed as. */
static int tag_name_decode(const char *c, size_t len, char *out, size_t n)
{
    char name[AMIS_ARG_MAX * 3 + 1];
    int rc;

    if (len >= sizeof(name))
        return -ENAMETOOLONG;
    memcpy(name, c, len);
    name[len] = '\0';
    rc = name_tag_decode(name, out, n);
    return rc == -EINVAL ? -ENOENT : rc < 0 ? rc : 0;
}

/* ---- paths -------------------------------------------------------------- */

static int parse_ami_sub(const char *const *c, const size_t *l, int nc,
                         struct amis_path *p);

/* Split rel into at most 4 components (not NUL-terminated: pointer and
 * length). Returns the count, -ENOENT when deeper than any node. */
static int split(const char *rel, const char *comp[4], size_t len[4])
{
    int nc = 0;
    const char *s = rel;
    if (!*s)
        return 0;
    for (;;) {
        const char *slash = strchr(s, '/');
        if (nc == 4)
            return -ENOENT;
        comp[nc] = s;
        len[nc] = slash ? (size_t)(slash - s) : strlen(s);
        nc++;
        if (!slash)
            return nc;
        s = slash + 1;
    }
}

static bool comp_is(const char *c, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(c, s, len) == 0;
}

static int parse_path(const char *rel, struct amis_path *p)
{
    const char *c[4];
    size_t l[4];

    memset(p, 0, sizeof(*p));
    if (strncmp(rel, "shared", 6) == 0 && (!rel[6] || rel[6] == '/')) {
        p->node = N_SHARED;
        if (strlen(rel) > sizeof(p->arg) + 6)
            return -ENAMETOOLONG;
        snprintf(p->arg, sizeof(p->arg), "%s", rel[6] ? rel + 7 : "");
        return 0;
    }
    int nc = split(rel, c, l);
    if (nc <= 0) {
        p->node = N_ROOT;
        return nc;
    }
    if (comp_is(c[0], l[0], "by-name")) {
        if (nc > 2)
            return -ENOENT;
        p->node = nc == 1 ? N_BYNAME : N_BYNAME_LINK;
        return nc == 1 ? 0 : tag_name_decode(c[1], l[1], p->arg, sizeof(p->arg));
    }
    if (l[0] < 5 || l[0] >= sizeof(p->id) || strncmp(c[0], "ami-", 4) != 0)
        return -ENOENT;
    memcpy(p->id, c[0], l[0]);
    p->id[l[0]] = '\0';
    p->node = N_AMI;
    return nc == 1 ? 0 : parse_ami_sub(c + 1, l + 1, nc - 1, p);
}

/* The 1 to 3 components below ami-…/. */
static int parse_ami_sub(const char *const *c, const size_t *l, int nc,
                         struct amis_path *p)
{
    for (size_t i = 0; nc == 1 && i < N_AMI_FILES; i++)
        if (comp_is(c[0], l[0], ami_files[i].name)) {
            p->node = ami_files[i].node;
            return 0;
        }
    if (comp_is(c[0], l[0], "tags") && nc <= 2) {
        p->node = nc == 1 ? N_TAGS : N_TAG;
        return nc == 1 ? 0 : tag_name_decode(c[1], l[1], p->arg, sizeof(p->arg));
    }
    if (comp_is(c[0], l[0], "store") && nc <= 2) {
        p->node = nc == 1 ? N_STORE : N_STORE_FILE;
        if (nc == 2 && !amis_store_file(c[1], l[1]))
            return -ENOENT;
        if (nc == 2)
            snprintf(p->arg, sizeof p->arg, "%.*s", (int)l[1], c[1]);
        return 0;
    }
    if (comp_is(c[0], l[0], "export-to")) {
        p->node = nc == 1 ? N_EXPORTTO : nc == 2 ? N_EXPORT : N_EXPORT_LINK;
        if (nc > 1 && !comp_is(c[1], l[1], "vmdk") &&
            !comp_is(c[1], l[1], "vhd") && !comp_is(c[1], l[1], "raw"))
            return -ENOENT;
        if (nc == 3 && !comp_is(c[2], l[2], "task"))
            return -ENOENT;
    } else if (comp_is(c[0], l[0], "copy-to")) {
        p->node = nc == 1 ? N_COPYTO : nc == 2 ? N_COPY : N_COPY_LINK;
    } else {
        return -ENOENT;
    }
    if (nc == 1)
        return 0;
    if (l[1] == 0 || l[1] >= sizeof(p->arg) ||
        (nc == 3 && p->node == N_COPY_LINK && !comp_is(c[2], l[2], "ami")))
        return -ENOENT;
    memcpy(p->arg, c[1], l[1]);
    p->arg[l[1]] = '\0';
    return 0;
}

static bool node_is_dir(enum node n)
{
    return n == N_ROOT || n == N_BYNAME || n == N_AMI || n == N_TAGS ||
           n == N_COPYTO || n == N_COPY || n == N_EXPORTTO || n == N_EXPORT ||
           n == N_STORE;
}

/* ---- the listing cache -------------------------------------------------- */

static void snap_put_locked(struct amis_snap *s)
{
    if (s && --s->refs == 0) {
        ec2_image_list_release(&s->list);
        free(s);
    }
}

static void snap_put(struct amis_view *v, struct amis_snap *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&v->lock);
    snap_put_locked(s);
    pthread_mutex_unlock(&v->lock);
}

static bool snap_fresh(const struct amis_view *v, const struct amifs *fs)
{
    double ttl = fs->opts.cache_ttl > 0 ? fs->opts.cache_ttl : 0;
    return v->snap && !v->stale && view_now() - v->snap->fetched < ttl;
}

/* DescribeImages without any lock held; the new snap has one reference. */
static struct amis_snap *snap_fetch(struct amis_view *v, struct amifs *fs,
                                    int *rc)
{
    struct aws_error err;
    struct amis_snap *s = calloc(1, sizeof(*s));
    if (!s) {
        *rc = -ENOMEM;
        return NULL;
    }
    aws_error_clear(&err);
    if (ec2_describe_images(v->client, v->region, NULL, 0, &s->list,
                            &err) != 0) {
        free(s);
        *rc = view_aws_fail(fs, "amis", "DescribeImages", &err);
        return NULL;
    }
    s->refs = 1;
    s->fetched = view_now();
    return s;
}

/* The current listing (a reference the caller puts back), refreshed when
 * older than cache_ttl. NULL with *rc set on failure. */
static struct amis_snap *snap_get(struct amis_view *v, struct amifs *fs,
                                  int *rc)
{
    pthread_mutex_lock(&v->lock);
    while (!snap_fresh(v, fs) && v->refreshing)
        pthread_cond_wait(&v->cond, &v->lock);
    if (v->snap && (snap_fresh(v, fs) || v->refreshing)) {
        struct amis_snap *s = v->snap;
        s->refs++;
        pthread_mutex_unlock(&v->lock);
        return s;
    }
    v->refreshing = true;
    v->stale = false;
    pthread_mutex_unlock(&v->lock);

    struct amis_snap *s = snap_fetch(v, fs, rc);

    pthread_mutex_lock(&v->lock);
    v->refreshing = false;
    if (s) {
        snap_put_locked(v->snap);
        v->snap = s;
        s->refs++;
    }
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
    return s;
}

static void snap_invalidate(struct amis_view *v)
{
    pthread_mutex_lock(&v->lock);
    v->stale = true;
    pthread_mutex_unlock(&v->lock);
}

static const struct ec2_image *find_image(const struct amis_snap *s,
                                          const char *id)
{
    for (size_t i = 0; i < s->list.n; i++)
        if (s->list.v[i].image_id && strcmp(s->list.v[i].image_id, id) == 0)
            return &s->list.v[i];
    return NULL;
}

/* The name by-name/ lists an AMI under: its Name tag (amifs sets it to the
 * imported file's name; the console shows it), else its AMI name (an
 * imported AMI's is "import-ami-…"). */
static const char *byname_of(const struct ec2_image *im)
{
    const char *tag = ec2_tags_get(&im->tags, "Name");
    return tag && *tag ? tag : im->name;
}

/* The newest AMI listed under `name` (a file imported twice has two). */
static const struct ec2_image *find_by_name(const struct amis_snap *s,
                                            const char *name)
{
    const struct ec2_image *best = NULL;
    for (size_t i = 0; i < s->list.n; i++) {
        const struct ec2_image *im = &s->list.v[i];
        const char *nm = byname_of(im);
        if (!nm || strcmp(nm, name) != 0)
            continue;
        if (!best || strcmp(im->creation_date ? im->creation_date : "",
                            best->creation_date ? best->creation_date
                                                : "") > 0)
            best = im;
    }
    return best;
}

/* by-name/: each name once. */
static void readdir_byname(const struct amis_snap *s, void *buf,
                           fuse_fill_dir_t filler)
{
    for (size_t i = 0; i < s->list.n; i++) {
        const char *nm = byname_of(&s->list.v[i]);
        bool seen = false;
        for (size_t k = 0; nm && k < i && !seen; k++) {
            const char *o = byname_of(&s->list.v[k]);
            seen = o && strcmp(o, nm) == 0;
        }
        if (nm && !seen)
            view_fill_name(buf, filler, nm);
    }
}

/* ---- the generated files ------------------------------------------------ */

/* image.json: the DescribeImages item as the AWS CLI prints it. */
static int render_json(const struct ec2_image *im, struct buf *out)
{
    char *text = ec2_image_to_json(im);
    if (!text)
        return im->raw_xml ? -ENOMEM : -EIO;
    int rc = buf_appends(out, text) ? -ENOMEM : 0;
    if (rc == 0 && (out->len == 0 || out->data[out->len - 1] != '\n'))
        rc = buf_appendc(out, '\n') ? -ENOMEM : 0;
    free(text);
    return rc;
}

/* "available", or "failed: Client.InvalidSnapshot…" when AWS gave a reason. */
static int render_state(const struct ec2_image *im, struct buf *out)
{
    const char *reason = im->state_reason;
    int rc = buf_printf(out, "%s%s%s\n", im->state ? im->state : "unknown",
                        reason && *reason ? ": " : "",
                        reason && *reason ? reason : "");
    return rc ? -ENOMEM : 0;
}

static int render_snaps(const struct ec2_image *im, struct buf *out)
{
    for (size_t i = 0; i < im->ndevices; i++)
        if (im->devices[i].snapshot_id &&
            buf_printf(out, "%s\n", im->devices[i].snapshot_id))
            return -ENOMEM;
    return 0;
}

static int render_tag(const struct ec2_image *im, const char *key,
                      struct buf *out)
{
    const char *val = ec2_tags_get(&im->tags, key);
    if (!val)
        return -ENOENT;
    return buf_printf(out, "%s\n", val) ? -ENOMEM : 0;
}

/* Comment lines for an encrypted AMI: which key the other account needs. */
static int perms_comments(const struct ec2_image *im, struct buf *out)
{
    bool default_key = false;
    for (size_t i = 0; i < im->ndevices; i++) {
        const struct ec2_block_device *d = &im->devices[i];
        if (!d->encrypted)
            continue;
        if (!d->kms_key_id) {
            default_key = true;
            continue;
        }
        if (strstr(buf_cstr(out), d->kms_key_id))
            continue;
        if (buf_printf(out,
                       "# encrypted with KMS key %s: each account listed "
                       "here also needs kms:Decrypt, kms:DescribeKey, "
                       "kms:CreateGrant, kms:ReEncrypt* and "
                       "kms:GenerateDataKey* on it (key policy or grant)\n",
                       d->kms_key_id))
            return -ENOMEM;
    }
    if (default_key &&
        buf_appends(out, "# encrypted with the default EBS key (aws/ebs), "
                         "which cannot be shared: copy the AMI with a "
                         "customer managed key first\n"))
        return -ENOMEM;
    return 0;
}

static int perms_fetch(struct amifs *fs, struct amis_view *v,
                       const struct ec2_image *im, char **text)
{
    struct ec2_id_list ids = {0};
    struct aws_error err;
    struct buf b;
    int rc = 0;

    aws_error_clear(&err);
    if (ec2_describe_launch_permissions(v->client, v->region, im->image_id,
                                        &ids, &err) != 0)
        return view_aws_fail(fs, "amis", "DescribeImageAttribute", &err);
    buf_init(&b, 0);
    rc = perms_comments(im, &b);
    for (size_t i = 0; rc == 0 && i < ids.n; i++)
        if (buf_printf(&b, "%s\n", ids.v[i]))
            rc = -ENOMEM;
    ec2_id_list_release(&ids);
    *text = rc == 0 ? buf_detach(&b) : NULL;
    buf_release(&b);
    return rc == 0 && !*text ? -ENOMEM : rc;
}

static struct perm_entry *perm_find_locked(struct amis_view *v,
                                           const char *id)
{
    for (struct perm_entry *e = v->perms; e; e = e->next)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static void perm_store(struct amis_view *v, const char *id, char *text)
{
    pthread_mutex_lock(&v->lock);
    struct perm_entry *e = perm_find_locked(v, id);
    if (!e && (e = calloc(1, sizeof(*e))) != NULL) {
        snprintf(e->id, sizeof(e->id), "%s", id);
        e->next = v->perms;
        v->perms = e;
    }
    if (e) {
        free(e->text);
        e->text = text;
        e->fetched = view_now();
    } else {
        free(text);
    }
    pthread_mutex_unlock(&v->lock);
}

static void perm_invalidate(struct amis_view *v, const char *id)
{
    pthread_mutex_lock(&v->lock);
    struct perm_entry *e = perm_find_locked(v, id);
    if (e)
        e->fetched = -1e9;
    pthread_mutex_unlock(&v->lock);
}

/* The comment lines of a refused share (advice, owned from here on; NULL
 * clears them): shown at the top of launch-permissions until a write
 * applies without refusal. */
static void perm_advice(struct amis_view *v, const char *id, char *advice)
{
    pthread_mutex_lock(&v->lock);
    struct perm_entry *e = perm_find_locked(v, id);
    if (!e && advice && (e = calloc(1, sizeof(*e))) != NULL) {
        snprintf(e->id, sizeof(e->id), "%s", id);
        e->fetched = -1e9;
        e->next = v->perms;
        v->perms = e;
    }
    if (e) {
        free(e->advice);
        e->advice = advice;
    } else {
        free(advice);
    }
    pthread_mutex_unlock(&v->lock);
}

static int render_perms(struct amis_view *v, struct amifs *fs,
                        const struct ec2_image *im, struct buf *out)
{
    double ttl = fs->opts.cache_ttl > 0 ? fs->opts.cache_ttl : 0;
    char *text = NULL;
    int rc;

    pthread_mutex_lock(&v->lock);
    struct perm_entry *e = perm_find_locked(v, im->image_id);
    if (e && e->advice && buf_appends(out, e->advice))
        rc = -ENOMEM;
    else if (e && e->text && view_now() - e->fetched < ttl)
        rc = buf_appends(out, e->text) ? -ENOMEM : 1;
    else
        rc = 0;
    pthread_mutex_unlock(&v->lock);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    rc = perms_fetch(fs, v, im, &text);
    if (rc != 0)
        return rc;
    rc = buf_appends(out, text) ? -ENOMEM : 0;
    perm_store(v, im->image_id, text);
    return rc;
}

static bool pending_has_locked(const struct amis_view *v, const char *id,
                               const char *key)
{
    for (const struct pending_tag *t = v->pending; t; t = t->next)
        if (strcmp(t->id, id) == 0 && strcmp(t->key, key) == 0)
            return true;
    return false;
}

static bool pending_has(struct amis_view *v, const char *id, const char *key)
{
    pthread_mutex_lock(&v->lock);
    bool r = pending_has_locked(v, id, key);
    pthread_mutex_unlock(&v->lock);
    return r;
}

/* The text of a generated or tag file. 0, -ENOENT, or the AWS errno. */
static int render(struct amis_view *v, struct amifs *fs,
                  const struct amis_path *p, struct buf *out)
{
    int rc = 0;
    struct amis_snap *s = snap_get(v, fs, &rc);
    if (!s)
        return rc;
    const struct ec2_image *im = find_image(s, p->id);
    if (!im)
        rc = -ENOENT;
    else if (p->node == N_JSON)
        rc = render_json(im, out);
    else if (p->node == N_STATE)
        rc = render_state(im, out);
    else if (p->node == N_SNAPS)
        rc = render_snaps(im, out);
    else if (p->node == N_PERMS)
        rc = render_perms(v, fs, im, out);
    else if (p->node == N_TAG)
        rc = render_tag(im, p->arg, out);
    else if (p->node == N_DEPR)
        rc = im->deprecation_time &&
                     buf_printf(out, "%s\n", im->deprecation_time)
                 ? -ENOMEM : 0;
    else if (p->node == N_DISABLED)
        rc = buf_appends(out, im->state && strcmp(im->state, "disabled") == 0
                                  ? "true\n" : "false\n") ? -ENOMEM : 0;
    else if (p->node == N_STORE_FILE)
        rc = amis_store_render(fs, v->client, v->region, p->id, p->arg, out);
    else
        rc = -EISDIR;
    snap_put(v, s);
    if (rc == -ENOENT && p->node == N_TAG && pending_has(v, p->id, p->arg))
        rc = 0;
    return rc;
}

/* ---- getattr / readdir / readlink --------------------------------------- */

static const struct copy_rec *rec_find_locked(const struct copy_rec *list,
                                              const char *id,
                                              const char *region)
{
    for (const struct copy_rec *r = list; r; r = r->next)
        if (strcmp(r->id, id) == 0 && strcmp(r->region, region) == 0)
            return r;
    return NULL;
}

static const struct copy_rec *copy_find_locked(const struct amis_view *v,
                                               const char *id,
                                               const char *dir)
{
    for (const struct copy_rec *r = v->copies; r; r = r->next)
        if (strcmp(r->id, id) == 0 && strcmp(r->dir, dir) == 0)
            return r;
    return NULL;
}

/* The symlink target of by-name/NAME or copy-to/REGION/ami. */
static int link_target(struct amis_view *v, struct amifs *fs,
                       const struct amis_path *p, char *out, size_t n)
{
    int rc = 0;
    if (p->node == N_EXPORT_LINK) {
        /* the exports/ folder of the same region: top-level for amis/
         * (root_up is depth+3 "../"), regions/R/exports otherwise */
        bool top = strlen(v->root_up) == 4 * 3;
        pthread_mutex_lock(&v->lock);
        const struct copy_rec *r = rec_find_locked(v->exports, p->id, p->arg);
        if (!r)
            rc = -ENOENT;
        else if (top)
            snprintf(out, n, "%sexports/%s", v->root_up, r->new_id);
        else
            snprintf(out, n, "%sregions/%s/exports/%s", v->root_up,
                     v->region, r->new_id);
        pthread_mutex_unlock(&v->lock);
        return rc;
    }
    if (p->node == N_COPY_LINK) {
        pthread_mutex_lock(&v->lock);
        const struct copy_rec *r = copy_find_locked(v, p->id, p->arg);
        if (!r || !r->new_id[0])
            rc = -ENOENT;
        else
            snprintf(out, n, "%sregions/%s/amis/%s", v->root_up, r->region,
                     r->new_id);
        pthread_mutex_unlock(&v->lock);
        return rc;
    }
    struct amis_snap *s = snap_get(v, fs, &rc);
    if (!s)
        return rc;
    const struct ec2_image *im = find_by_name(s, p->arg);
    if (im)
        snprintf(out, n, "../%s", im->image_id);
    snap_put(v, s);
    return im ? 0 : -ENOENT;
}

static int getattr_file(struct amis_view *v, struct amifs *fs,
                        const struct amis_path *p, struct stat *st,
                        struct fuse_file_info *fi, time_t mtime)
{
    bool writable = p->node == N_TAG || p->node == N_PERMS ||
                    p->node == N_DEPR || p->node == N_DISABLED;
    struct amis_fh *fh = fi ? (struct amis_fh *)(uintptr_t)fi->fh : NULL;
    if (fh && fh->p.node == p->node && strcmp(fh->p.id, p->id) == 0) {
        amifs_stat_file(fs, st, fh->data.len, mtime, writable);
        return 0;
    }
    struct buf b;
    buf_init(&b, 0);
    int rc = render(v, fs, p, &b);
    if (rc == 0)
        amifs_stat_file(fs, st, b.len, mtime, writable);
    buf_release(&b);
    return rc;
}

/* Does the directory or link node exist? 0 or -ENOENT / AWS errno. */
static int node_exists(struct amis_view *v, struct amifs *fs,
                       const struct amis_path *p, time_t *mtime)
{
    int rc = 0;
    if (p->node == N_ROOT || p->node == N_BYNAME)
        return 0;
    struct amis_snap *s = snap_get(v, fs, &rc);
    if (!s)
        return rc;
    const struct ec2_image *im =
        p->node == N_BYNAME_LINK ? find_by_name(s, p->arg)
                                 : find_image(s, p->id);
    if (im)
        *mtime = parse_iso(im->creation_date);
    snap_put(v, s);
    if (!im)
        return -ENOENT;
    if (p->node == N_STORE) {
        struct buf b;
        buf_init(&b, 0);
        rc = amis_store_render(fs, v->client, v->region, p->id, "status",
                               &b);
        buf_release(&b);
    }
    if (p->node == N_EXPORT || p->node == N_EXPORT_LINK) {
        pthread_mutex_lock(&v->lock);
        rc = rec_find_locked(v->exports, p->id, p->arg) ? 0 : -ENOENT;
        pthread_mutex_unlock(&v->lock);
    }
    if (p->node == N_COPY || p->node == N_COPY_LINK) {
        pthread_mutex_lock(&v->lock);
        const struct copy_rec *r = copy_find_locked(v, p->id, p->arg);
        rc = r && (p->node == N_COPY || r->new_id[0]) ? 0 : -ENOENT;
        pthread_mutex_unlock(&v->lock);
    }
    return rc;
}

static int amis_getattr(void *self, struct amifs *fs, const char *rel,
                      struct stat *st, struct fuse_file_info *fi)
{
    struct amis_view *v = self;
    struct amis_path p;
    time_t mtime = 0;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node == N_SHARED)
        return amis_shared_getattr(v->shared, fs, p.arg, st);
    if (node_is_dir(p.node) || p.node == N_BYNAME_LINK ||
        p.node == N_COPY_LINK || p.node == N_EXPORT_LINK) {
        rc = node_exists(v, fs, &p, &mtime);
        if (rc != 0)
            return rc;
        if (node_is_dir(p.node)) {
            amifs_stat_dir(fs, st, mtime);
            return 0;
        }
        char target[1024];
        rc = link_target(v, fs, &p, target, sizeof(target));
        if (rc == 0)
            amifs_stat_link(fs, st, strlen(target));
        return rc;
    }
    return getattr_file(v, fs, &p, st, fi, mtime);
}

static int amis_readlink(void *self, struct amifs *fs,
                       const char *rel, char *out, size_t n)
{
    struct amis_view *v = self;
    struct amis_path p;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node == N_SHARED)
        return amis_shared_readlink(v->shared, fs, p.arg, out, n);
    if (p.node != N_BYNAME_LINK && p.node != N_COPY_LINK &&
        p.node != N_EXPORT_LINK)
        return -EINVAL;
    return link_target(v, fs, &p, out, n);
}

static void readdir_tags(struct amis_view *v, const struct ec2_image *im,
                         void *buf, fuse_fill_dir_t filler)
{
    for (size_t i = 0; i < im->tags.n; i++)
        view_fill_name(buf, filler, im->tags.v[i].key);
    pthread_mutex_lock(&v->lock);
    for (const struct pending_tag *t = v->pending; t; t = t->next)
        if (strcmp(t->id, im->image_id) == 0 &&
            !ec2_tags_get(&im->tags, t->key))
            view_fill_name(buf, filler, t->key);
    pthread_mutex_unlock(&v->lock);
}

static void readdir_copies(struct amis_view *v, const struct copy_rec *list,
                           const char *id, void *buf, fuse_fill_dir_t filler)
{
    pthread_mutex_lock(&v->lock);
    for (const struct copy_rec *r = list; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            filler(buf, r->dir, NULL, 0, 0);
    pthread_mutex_unlock(&v->lock);
}

static int readdir_node(struct amis_view *v, const struct amis_snap *s,
                        const struct amis_path *p, void *buf,
                        fuse_fill_dir_t filler)
{
    const struct ec2_image *im = p->id[0] ? find_image(s, p->id) : NULL;
    if (p->id[0] && !im)
        return -ENOENT;
    for (size_t i = 0; p->node == N_ROOT && i < s->list.n; i++)
        filler(buf, s->list.v[i].image_id, NULL, 0, 0);
    if (p->node == N_ROOT) {
        filler(buf, "by-name", NULL, 0, 0);
        filler(buf, "shared", NULL, 0, 0);
    }
    if (p->node == N_BYNAME)
        readdir_byname(s, buf, filler);
    for (size_t i = 0; p->node == N_AMI && i < N_AMI_FILES; i++)
        filler(buf, ami_files[i].name, NULL, 0, 0);
    if (p->node == N_AMI) {
        filler(buf, "tags", NULL, 0, 0);
        filler(buf, "copy-to", NULL, 0, 0);
        filler(buf, "export-to", NULL, 0, 0);
        struct amis_path st = *p;
        time_t mtime;
        st.node = N_STORE;
        if (node_exists(v, amifs_get(), &st, &mtime) == 0)
            filler(buf, "store", NULL, 0, 0);
    }
    if (p->node == N_STORE) {
        filler(buf, "status", NULL, 0, 0);
        filler(buf, "progress", NULL, 0, 0);
    }
    if (p->node == N_TAGS)
        readdir_tags(v, im, buf, filler);
    if (p->node == N_COPYTO)
        readdir_copies(v, v->copies, p->id, buf, filler);
    if (p->node == N_EXPORTTO)
        readdir_copies(v, v->exports, p->id, buf, filler);
    if (p->node == N_COPY)
        filler(buf, "ami", NULL, 0, 0);
    if (p->node == N_EXPORT)
        filler(buf, "task", NULL, 0, 0);
    return 0;
}

static int amis_readdir(void *self, struct amifs *fs, const char *rel,
                      void *buf, fuse_fill_dir_t filler)
{
    struct amis_view *v = self;
    struct amis_path p;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node == N_SHARED)
        return amis_shared_readdir(v->shared, fs, p.arg, buf, filler);
    if (!node_is_dir(p.node))
        return -ENOTDIR;
    struct amis_snap *s = snap_get(v, fs, &rc);
    if (!s)
        return rc;
    filler(buf, ".", NULL, 0, 0);
    filler(buf, "..", NULL, 0, 0);
    rc = readdir_node(v, s, &p, buf, filler);
    snap_put(v, s);
    return rc;
}

/* ---- applying writes ---------------------------------------------------- */

/* A refusal: logged with its reason, and the errno for the caller. */
static int refuse(struct amifs *fs, const struct amis_path *p, int rc,
                  const char *why)
{
    char path[600];
    snprintf(path, sizeof path, "amis/%s/%s%s", p->id,
             p->node == N_TAG ? "tags/" : "launch-permissions",
             p->node == N_TAG ? p->arg : "");
    return amifs_refuse(fs, NULL, path, "write", -rc, "%s", why);
}

static void refuse_account(struct amifs *fs, const struct amis_path *p,
                           const char *bad)
{
    char why[AMIS_PERMS_ENTRY_MAX + 160];
    snprintf(why, sizeof why, "'%s' is not an account id (12 digits) or "
             "'all' or an AWS Organizations organization or OU ARN; "
             "nothing was changed", bad);
    refuse(fs, p, -EINVAL, why);
}

static int check_tag_key(struct amifs *fs, const char *key)
{
    const char *why = "";
    int rc = amis_tag_key_check(key, &why);
    if (rc != 0)
        amifs_refuse(fs, "amis/ID/tags", key, "create", -rc,
                     "the tag key is refused: %s", why);
    return rc;
}

/* The whole tag file, checked again; the value into *value, *vlen. */
static int tag_value(struct amifs *fs, const struct amis_fh *fh,
                     const char **value, size_t *vlen)
{
    const char *why = "";
    int rc = amis_tag_value_check(fh->data.data ? fh->data.data : "",
                                  fh->data.len, false, vlen, &why);
    if (rc != 0)
        return refuse(fs, &fh->p, rc, why);
    *value = fh->data.data ? fh->data.data : "";
    return 0;
}

static int apply_tag(struct amis_view *v, struct amifs *fs, struct amis_fh *fh)
{
    const char *value = "";
    size_t vlen = 0;
    struct aws_error err;
    int rc = tag_value(fs, fh, &value, &vlen);
    if (rc != 0)
        return rc;
    char *val = strndup(value, vlen);
    if (!val)
        return -ENOMEM;
    struct ec2_tag t = {fh->p.arg, val};
    struct ec2_tags tags = {&t, 1};
    const char *res[1] = {fh->p.id};
    aws_error_clear(&err);
    rc = ec2_create_tags(v->client, v->region, res, 1, &tags, &err) != 0
             ? view_aws_fail(fs, "amis", "CreateTags", &err)
             : 0;
    free(val);
    if (rc != 0)
        return rc;
    char kb[NAME_ESC_MAX];
    amifs_log(fs, AWS_LOG_INFO, "amis: %s: tag '%s' set", fh->p.id,
              name_esc(fh->p.arg, kb, sizeof(kb)));
    snap_invalidate(v);
    return 0;
}

/* The whole launch-permissions file: sorted, repeat-free entries. */
static int perms_parse(struct amifs *fs, const struct amis_fh *fh,
                       struct ec2_id_list *want)
{
    char bad[AMIS_PERMS_ENTRY_MAX + 1] = "";
    size_t count = 0;
    const struct buf *b = &fh->data;
    if (b->len && memchr(b->data, '\0', b->len))
        return refuse(fs, &fh->p, -EINVAL,
                      "it holds a NUL byte (binary data, or a write past "
                      "the end of the file)");
    int rc = amis_perms_scan(b->data, b->len, want, &count, bad, sizeof bad);
    if (rc == -EINVAL)
        refuse_account(fs, &fh->p, bad);
    if (rc == -EFBIG)
        refuse(fs, &fh->p, rc, "more than " STR(AMIS_PERMS_IDS_MAX)
                               " entries");
    if (rc == 0)
        amis_perms_sort(want);
    return rc;
}

/* `l` in calls of at most AMIS_PERMS_BATCH entries: add (adding) or remove
 * on the AMI (snap NULL) or on snapshot `snap`. */
static int perms_batches(struct amis_view *v, struct amifs *fs,
                         const char *id, const char *snap,
                         const struct ec2_id_list *l, bool adding)
{
    struct aws_error err;
    for (size_t i = 0; i < l->n; i += AMIS_PERMS_BATCH) {
        size_t k = l->n - i < AMIS_PERMS_BATCH ? l->n - i : AMIS_PERMS_BATCH;
        struct ec2_id_list part = {l->v + i, k};
        const struct ec2_id_list *add = adding ? &part : NULL;
        const struct ec2_id_list *rem = adding ? NULL : &part;
        aws_error_clear(&err);
        if (!snap && ec2_modify_launch_permissions(v->client, v->region, id,
                                                   add, rem, &err) != 0)
            return view_aws_fail(fs, "amis", "ModifyImageAttribute", &err);
        if (snap && ec2_modify_snapshot_create_volume_permissions(
                        v->client, v->region, snap, add, rem, &err) != 0)
            return view_aws_fail(fs, "amis", "ModifySnapshotAttribute", &err);
    }
    return 0;
}

/* createVolumePermission on every snapshot of the AMI: every wanted user is
 * added (a no-op for those already there, and it repairs an earlier partial
 * failure), the removed ones removed. */
static int share_snapshots(struct amis_view *v, struct amifs *fs,
                           const char *image_id, const struct ec2_id_list *want,
                           const struct ec2_id_list *removed)
{
    struct ec2_id_list add = {0}, rem = {0}, none = {0};
    struct ec2_image_list imgs = {0};
    struct aws_error err;
    const char *ids[1] = {image_id};
    int rc = amis_perms_diff(want, &none, true, &add);
    if (rc == 0)
        rc = amis_perms_diff(removed, &none, true, &rem);
    aws_error_clear(&err);
    if (rc == 0 && (add.n || rem.n) &&
        ec2_describe_images(v->client, v->region, ids, 1, &imgs, &err) != 0)
        rc = view_aws_fail(fs, "amis", "DescribeImages", &err);
    for (size_t i = 0; rc == 0 && imgs.n && i < imgs.v[0].ndevices; i++) {
        const char *snap = imgs.v[0].devices[i].snapshot_id;
        if (snap)
            rc = perms_batches(v, fs, image_id, snap, &add, true);
        if (snap && rc == 0)
            rc = perms_batches(v, fs, image_id, snap, &rem, false);
    }
    if (imgs.n || imgs.v)
        ec2_image_list_release(&imgs);
    free(add.v); /* borrowed strings */
    free(rem.v);
    return rc;
}

/* Before anything is shared: the KMS key of the snapshots lets the added
 * accounts launch (fs/amis_kms.h); its advice is shown in the file. */
static int check_kms(struct amis_view *v, struct amifs *fs, const char *id,
                     const struct ec2_id_list *add)
{
    char what[128], *advice = NULL;
    snprintf(what, sizeof(what), "amis/%s/launch-permissions", id);
    int rc = amis_kms_share_check(fs, v->client, v->region, id, add,
                                  fs->opts.share_kms_grants != 0, what,
                                  &advice);
    perm_advice(v, id, advice);
    return rc;
}

/* The difference between the file and AWS's list, applied in batches. */
static int apply_perms(struct amis_view *v, struct amifs *fs,
                       struct amis_fh *fh)
{
    struct ec2_id_list want = {0}, have = {0}, add = {0}, rem = {0};
    struct aws_error err;
    int rc = perms_parse(fs, fh, &want);

    aws_error_clear(&err);
    if (rc == 0 && ec2_describe_launch_permissions(v->client, v->region,
                                                   fh->p.id, &have, &err))
        rc = view_aws_fail(fs, "amis", "DescribeImageAttribute", &err);
    if (rc == 0) {
        amis_perms_sort(&have);
        rc = amis_perms_diff(&want, &have, false, &add);
    }
    if (rc == 0)
        rc = amis_perms_diff(&have, &want, false, &rem);
    if (rc == 0)
        rc = check_kms(v, fs, fh->p.id, &add);
    if (rc == 0)
        rc = perms_batches(v, fs, fh->p.id, NULL, &add, true);
    if (rc == 0)
        rc = perms_batches(v, fs, fh->p.id, NULL, &rem, false);
    if (rc == 0)
        rc = share_snapshots(v, fs, fh->p.id, &want, &rem);
    if (rc == 0)
        amifs_log(fs, AWS_LOG_INFO,
                  "amis: %s: launch permissions: %zu added, %zu removed",
                  fh->p.id, add.n, rem.n);
    perm_invalidate(v, fh->p.id);
    free(add.v); /* borrowed strings */
    free(rem.v);
    ec2_id_list_release(&have);
    ec2_id_list_release(&want);
    return rc;
}

static int apply_retire(struct amis_view *v, struct amifs *fs,
                        struct amis_fh *fh)
{
    char what[128];
    snprintf(what, sizeof(what), "amis/%s/%s", fh->p.id,
             fh->p.node == N_DEPR ? "deprecation" : "disabled");
    int rc = amis_retire_apply(fs, v->client, v->region, fh->p.id,
                               fh->p.node == N_DISABLED, fh->data.data,
                               fh->data.len, what);
    snap_invalidate(v);
    return rc;
}

static int apply(struct amis_view *v, struct amifs *fs, struct amis_fh *fh)
{
    int rc = fh->p.node == N_TAG ? apply_tag(v, fs, fh)
             : fh->p.node == N_DEPR || fh->p.node == N_DISABLED
                 ? apply_retire(v, fs, fh)
                 : apply_perms(v, fs, fh);
    fh->dirty = false;
    fh->wrote = false;
    fh->result = rc;
    return rc;
}

/* ---- open files --------------------------------------------------------- */

static void pending_add(struct amis_view *v, const struct amis_path *p)
{
    pthread_mutex_lock(&v->lock);
    struct pending_tag *t;
    for (t = v->pending; t; t = t->next)
        if (strcmp(t->id, p->id) == 0 && strcmp(t->key, p->arg) == 0)
            break;
    if (!t && (t = calloc(1, sizeof(*t))) != NULL) {
        memcpy(t->id, p->id, sizeof(t->id));
        memcpy(t->key, p->arg, sizeof(t->key));
        t->next = v->pending;
        v->pending = t;
    }
    if (t)
        t->refs++;
    pthread_mutex_unlock(&v->lock);
}

static void pending_drop(struct amis_view *v, const struct amis_path *p)
{
    pthread_mutex_lock(&v->lock);
    for (struct pending_tag **pp = &v->pending; *pp; pp = &(*pp)->next) {
        struct pending_tag *t = *pp;
        if (strcmp(t->id, p->id) != 0 || strcmp(t->key, p->arg) != 0)
            continue;
        if (--t->refs == 0) {
            *pp = t->next;
            free(t);
        }
        break;
    }
    pthread_mutex_unlock(&v->lock);
}

/* A handle; a writable one remembers its opener (the process whose close
 * applies it) and whether it was opened for appending. */
static struct amis_fh *fh_new(const struct amis_path *p, int flags)
{
    struct amis_fh *fh = calloc(1, sizeof(*fh));
    if (!fh)
        return NULL;
    fh->p = *p;
    fh->writable = (flags & O_ACCMODE) != O_RDONLY;
    fh->append = (flags & O_APPEND) != 0;
    if (fh->writable)
        fh->opener = amifs_caller_process();
    buf_init(&fh->data, p->node == N_TAG   ? AMIS_TAG_FILE_MAX
                        : p->node == N_PERMS ? AMIS_PERMS_FILE_MAX
                        : p->node == N_DEPR || p->node == N_DISABLED ? 64
                                             : 0);
    return fh;
}

static void fh_free(struct amis_fh *fh)
{
    buf_release(&fh->data);
    free(fh);
}

/* A file of amis/shared/: read-only, its bytes rendered at open. */
static int open_shared(struct amis_view *v, struct amifs *fs,
                       const struct amis_path *p, struct fuse_file_info *fi)
{
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    struct amis_fh *fh = fh_new(p, O_RDONLY);
    if (!fh)
        return -ENOMEM;
    int rc = amis_shared_render(v->shared, fs, p->arg, &fh->data);
    if (rc != 0) {
        fh_free(fh);
        return rc;
    }
    fi->fh = (uint64_t)(uintptr_t)fh;
    fi->direct_io = 1;
    return 0;
}

static int amis_open(void *self, struct amifs *fs, const char *rel,
                   struct fuse_file_info *fi)
{
    struct amis_view *v = self;
    struct amis_path p;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node == N_SHARED)
        return open_shared(v, fs, &p, fi);
    if (node_is_dir(p.node) || p.node == N_BYNAME_LINK ||
        p.node == N_COPY_LINK)
        return -EISDIR;
    bool wr = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (wr && p.node != N_TAG && p.node != N_PERMS && p.node != N_DEPR &&
        p.node != N_DISABLED)
        return -EACCES;
    struct amis_fh *fh = fh_new(&p, fi->flags);
    if (!fh)
        return -ENOMEM;
    if (wr && (fi->flags & O_TRUNC))
        fh->dirty = true; /* `: > tags/K` sets "", `> launch-permissions`
                             unshares: the truncation is the change */
    else
        rc = render(v, fs, &p, &fh->data);
    if (rc != 0) {
        fh_free(fh);
        return rc;
    }
    if (p.node == N_TAG)
        pending_add(v, &p); /* keeps the file visible until release */
    fi->fh = (uint64_t)(uintptr_t)fh;
    fi->direct_io = 1;
    return 0;
}

/* tags/KEY may be created while the AMI holds fewer than 50 tags. */
static int tag_room(struct amis_view *v, struct amifs *fs,
                    const struct amis_path *p)
{
    int rc = 0;
    struct amis_snap *s = snap_get(v, fs, &rc);
    if (!s)
        return rc;
    const struct ec2_image *im = find_image(s, p->id);
    if (!im)
        rc = -ENOENT;
    else if (im->tags.n >= AMIS_TAGS_MAX && !ec2_tags_get(&im->tags, p->arg))
        rc = refuse(fs, p, -EDQUOT, "an AMI holds at most 50 tags");
    snap_put(v, s);
    return rc;
}

static int amis_create(void *self, struct amifs *fs, const char *rel,
                     mode_t mode, struct fuse_file_info *fi)
{
    struct amis_view *v = self;
    struct amis_path p;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node == N_SHARED)
        return -EROFS;
    if (p.node != N_TAG)
        return p.node == N_PERMS ? -EEXIST : -EACCES;
    if ((rc = check_tag_key(fs, p.arg)) != 0)
        return rc;
    if ((rc = tag_room(v, fs, &p)) != 0)
        return rc;
    struct amis_fh *fh = fh_new(&p, fi->flags | O_WRONLY);
    if (!fh)
        return -ENOMEM;
    fh->dirty = true; /* `touch tags/K` creates the tag with value "" */
    pending_add(v, &p);
    fi->fh = (uint64_t)(uintptr_t)fh;
    fi->direct_io = 1;
    return 0;
}

static int amis_read(void *self, struct amifs *fs, const char *rel,
                   char *buf, size_t n, off_t off, struct fuse_file_info *fi)
{
    struct amis_fh *fh = (struct amis_fh *)(uintptr_t)fi->fh;
    if (!fh)
        return -EBADF;
    if (off < 0 || (size_t)off >= fh->data.len)
        return 0;
    size_t left = fh->data.len - (size_t)off;
    if (n > left)
        n = left;
    memcpy(buf, fh->data.data + off, n);
    return (int)n;
}

/* Complete lines appended to launch-permissions since the last check: a bad
 * id fails the write() that brought it, which every writer reports (`echo
 * bogus > launch-permissions` from a shell, whose close() errors go
 * unseen). Each byte is checked once while the writer appends; after a
 * write into the middle, only the close parses (once, the whole file). */
static int perms_check_lines(struct amifs *fs, struct amis_fh *fh)
{
    const struct buf *b = &fh->data;
    if (fh->unchecked || b->len <= fh->checked)
        return 0;
    const char *from = b->data + fh->checked;
    const char *nl = memrchr(from, '\n', b->len - fh->checked);
    if (!nl)
        return 0;
    size_t n = (size_t)(nl + 1 - from);
    char bad[AMIS_PERMS_ENTRY_MAX + 1] = "";
    int rc = amis_perms_scan(from, n, NULL, &fh->nids, bad, sizeof bad);
    if (rc == -EINVAL)
        refuse_account(fs, &fh->p, bad);
    if (rc == -EFBIG)
        refuse(fs, &fh->p, rc,
               "more than " STR(AMIS_PERMS_IDS_MAX) " entries");
    fh->checked += n;
    return rc;
}

/* The bytes just written into fh (at off, n of them) make a file we accept
 * so far? 0 or the refusal (logged). */
static int check_written(struct amifs *fs, struct amis_fh *fh, size_t off,
                         size_t n)
{
    const char *why = "";
    int rc;
    if (fh->p.node == N_TAG) {
        rc = amis_tag_value_check(fh->data.data, fh->data.len, true, NULL,
                                  &why);
        return rc ? refuse(fs, &fh->p, rc, why) : 0;
    }
    if (memchr(fh->data.data + off, '\0', n))
        return refuse(fs, &fh->p, -EINVAL,
                      "it holds a NUL byte (binary data)");
    if (fh->p.node == N_DEPR || fh->p.node == N_DISABLED)
        return 0; /* checked whole at the close */
    if (off < fh->checked)
        fh->unchecked = true; /* rewritten in the middle: the close parses */
    return perms_check_lines(fs, fh);
}

/* A refusal poisons the handle: every later write, truncate and close
 * fails with it, and nothing is applied. */
static int poison(struct amis_fh *fh, int rc)
{
    fh->refused = rc;
    fh->dirty = false;
    return rc;
}

static int amis_write(void *self, struct amifs *fs, const char *rel,
                    const char *buf, size_t n, off_t off,
                    struct fuse_file_info *fi)
{
    struct amis_fh *fh = (struct amis_fh *)(uintptr_t)fi->fh;
    if (!fh || !fh->writable)
        return -EBADF;
    if (fh->refused)
        return fh->refused;
    if (fh->append)
        off = (off_t)fh->data.len;
    if (off < 0 || n > INT32_MAX)
        return poison(fh, -EINVAL);
    if ((size_t)off > fh->data.len)
        return poison(fh, refuse(fs, &fh->p, -EINVAL,
                                 "a write past the end of the file would "
                                 "leave NUL bytes"));
    size_t over = fh->data.len - (size_t)off < n ? fh->data.len - (size_t)off
                                                 : n;
    if (n > over && buf_append(&fh->data, buf + over, n - over) != 0)
        return poison(fh, refuse(fs, &fh->p,
                                 fh->p.node == N_TAG ? -EINVAL : -EFBIG,
                                 fh->p.node == N_TAG
                                     ? "a tag value is at most 256 "
                                       "characters"
                                     : "the file is larger than "
                                       STR(AMIS_PERMS_FILE_MAX) " bytes"));
    memcpy(fh->data.data + off, buf, over);
    fh->dirty = true;
    fh->wrote = true;
    int rc = check_written(fs, fh, (size_t)off, n);
    return rc ? poison(fh, rc) : (int)n;
}

/* Shorten the buffer to len (never longer: that would write NUL bytes). */
static int fh_shrink(struct amifs *fs, struct amis_fh *fh, size_t len)
{
    struct buf *b = &fh->data;
    if (len > b->len)
        return refuse(fs, &fh->p, -EINVAL,
                      "truncating to a larger size would write NUL bytes");
    if (b->data) {
        b->len = len;
        b->data[len] = '\0';
    }
    if (fh->checked > len) { /* back to the last complete line */
        const char *nl = len ? memrchr(b->data, '\n', len) : NULL;
        fh->checked = nl ? (size_t)(nl + 1 - b->data) : 0;
        fh->unchecked = true; /* its id count is no longer known */
    }
    return 0;
}

static int amis_truncate(void *self, struct amifs *fs, const char *rel,
                       off_t size, struct fuse_file_info *fi)
{
    struct amis_view *v = self;
    struct amis_fh *fh = fi ? (struct amis_fh *)(uintptr_t)fi->fh : NULL;
    struct amis_path p;
    int rc = parse_path(rel, &p);
    if (rc != 0 && !fh)
        return rc;
    if (fh) {
        if (fh->refused)
            return fh->refused;
        if (size < 0)
            return poison(fh, -EINVAL);
        rc = fh_shrink(fs, fh, (size_t)size);
        if (rc != 0)
            return poison(fh, rc);
        fh->dirty = true;
        return 0;
    }
    if (p.node == N_SHARED)
        return -EROFS;
    if (p.node != N_TAG && p.node != N_PERMS && p.node != N_DEPR &&
        p.node != N_DISABLED)
        return node_is_dir(p.node) ? -EISDIR : -EACCES;
    if (size < 0)
        return -EINVAL;
    /* truncate(2) by path: apply the shortened content now. */
    struct amis_fh *tmp = fh_new(&p, O_WRONLY);
    if (!tmp)
        return -ENOMEM;
    rc = render(v, fs, &p, &tmp->data);
    if (rc == 0)
        rc = fh_shrink(fs, tmp, (size_t)size);
    if (rc == 0)
        rc = apply(v, fs, tmp);
    fh_free(tmp);
    return rc;
}

/* Only the opener's close after a write applies: a shell's dup flush
 * (`echo x > F` closes its first descriptor before writing) and the exit
 * of a child that inherited the descriptor apply nothing. A change without
 * a write (O_TRUNC alone, `touch tags/K`) is applied by release. */
static int amis_flush(void *self, struct amifs *fs, const char *rel,
                    struct fuse_file_info *fi)
{
    struct amis_view *v = self;
    struct amis_fh *fh = (struct amis_fh *)(uintptr_t)fi->fh;
    if (!fh)
        return 0;
    if (fh->refused)
        return fh->refused;
    if (fh->writable && fh->dirty && fh->wrote &&
        (!fh->opener || amifs_caller_process() == fh->opener))
        return apply(v, fs, fh);
    return fh->result;
}

static int amis_release(void *self, struct amifs *fs, const char *rel,
                      struct fuse_file_info *fi)
{
    struct amis_view *v = self;
    struct amis_fh *fh = (struct amis_fh *)(uintptr_t)fi->fh;
    if (!fh)
        return 0;
    if (fh->writable && fh->dirty && !fh->refused)
        (void)apply(v, fs, fh); /* logged; see flush */
    if (fh->p.node == N_TAG)
        pending_drop(v, &fh->p);
    fh_free(fh);
    fi->fh = 0;
    return 0;
}

/* ---- unlink, mkdir (copy-to), rmdir (deregister) ------------------------ */

static int unlink_tag(struct amis_view *v, struct amifs *fs,
                      const struct amis_path *p)
{
    struct buf b;
    struct aws_error err;
    buf_init(&b, 0);
    int rc = render(v, fs, p, &b);
    buf_release(&b);
    if (rc != 0)
        return rc;
    struct ec2_tag t = {(char *)p->arg, NULL};
    struct ec2_tags tags = {&t, 1};
    const char *res[1] = {p->id};
    aws_error_clear(&err);
    if (ec2_delete_tags(v->client, v->region, res, 1, &tags, &err) != 0)
        return view_aws_fail(fs, "amis", "DeleteTags", &err);
    char kb[NAME_ESC_MAX];
    amifs_log(fs, AWS_LOG_INFO, "amis: %s: tag '%s' deleted", p->id,
              name_esc(p->arg, kb, sizeof(kb)));
    snap_invalidate(v);
    return 0;
}

static int amis_unlink(void *self, struct amifs *fs, const char *rel)
{
    struct amis_view *v = self;
    struct amis_path p;
    time_t mtime;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node == N_SHARED)
        return -EROFS;
    if (node_is_dir(p.node))
        return -EISDIR;
    if (p.node == N_TAG)
        return unlink_tag(v, fs, &p);
    if (p.node == N_BYNAME_LINK)
        return -EPERM;
    /* The generated files are views of the AMI: removing them changes
     * nothing, and succeeds so that `rm -r amis/ami-…` reaches rmdir. */
    return node_exists(v, fs, &p, &mtime);
}

/* rename within one AMI's tags/: editors and `sed -i` write a temporary
 * file and rename it onto the tag (vim also renames the tag to a backup
 * first). The value moves: CreateTags under the new key, then DeleteTags
 * of the old one. */
static int amis_rename(void *self, struct amifs *fs, const char *from,
                     const char *to, unsigned int flags)
{
    struct amis_view *v = self;
    struct amis_path a, b;
    int rc = parse_path(from, &a);
    if (rc == 0)
        rc = parse_path(to, &b);
    if (rc != 0)
        return rc;
    if (a.node != N_TAG || b.node != N_TAG || strcmp(a.id, b.id) != 0)
        return -EPERM; /* nothing else in amis/ has a name to change */
    if (flags & RENAME_EXCHANGE)
        return -EINVAL;
    if ((rc = check_tag_key(fs, b.arg)) != 0)
        return rc;
    if (strcmp(a.arg, b.arg) == 0)
        return 0;
    struct amis_fh *fh = fh_new(&b, O_WRONLY);
    if (!fh)
        return -ENOMEM;
    if ((flags & RENAME_NOREPLACE) && render(v, fs, &b, &fh->data) == 0)
        rc = -EEXIST;
    buf_reset(&fh->data);
    if (rc == 0)
        rc = render(v, fs, &a, &fh->data);
    if (rc == 0)
        rc = apply(v, fs, fh);
    fh_free(fh);
    return rc == 0 ? unlink_tag(v, fs, &a) : rc;
}

static int copy_record(struct amis_view *v, const char *id, const char *dir,
                       const char *region, const char *new_id)
{
    pthread_mutex_lock(&v->lock);
    struct copy_rec *r = (struct copy_rec *)copy_find_locked(v, id, dir);
    if (!r && (r = calloc(1, sizeof(*r))) != NULL) {
        snprintf(r->id, sizeof(r->id), "%s", id);
        snprintf(r->dir, sizeof(r->dir), "%s", dir);
        snprintf(r->region, sizeof(r->region), "%s", region);
        r->next = v->copies;
        v->copies = r;
    }
    if (r)
        snprintf(r->new_id, sizeof(r->new_id), "%s", new_id);
    pthread_mutex_unlock(&v->lock);
    return r ? 0 : -ENOMEM;
}

static int start_copy(struct amis_view *v, struct amifs *fs,
                      const struct amis_path *p)
{
    char name[256], new_id[AMIS_ID_MAX], region[64], what[AMIS_ARG_MAX + 64];
    int rc = 0;
    struct amis_snap *s = snap_get(v, fs, &rc);
    if (!s)
        return rc;
    const struct ec2_image *im = find_image(s, p->id);
    if (im)
        snprintf(name, sizeof(name), "%s", im->name ? im->name : p->id);
    snap_put(v, s);
    if (!im)
        return -ENOENT;
    snprintf(what, sizeof(what), "amis/%s/copy-to/%s", p->id, p->arg);
    struct amis_copy c = {v->client, v->region, p->id, name, p->arg, what,
                          v->region_known};
    rc = amis_copy_start(fs, &c, new_id, sizeof(new_id), region,
                         sizeof(region));
    return rc == 0 ? copy_record(v, p->id, p->arg, region, new_id) : rc;
}

/* mkdir export-to/FORMAT: ExportImage (fs/exports.h); the directory then
 * holds `task`, a symlink to the export's exports/ID. A second mkdir of
 * an existing one is EEXIST (AWS runs one export of an AMI at a time). */
static int start_export(struct amis_view *v, struct amifs *fs,
                        const struct amis_path *p, const char *rel)
{
    char task[AMIS_ID_MAX];
    time_t mtime;
    struct amis_path ami = *p;
    ami.node = N_AMI;
    int rc = node_exists(v, fs, &ami, &mtime);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&v->lock);
    bool have = rec_find_locked(v->exports, p->id, p->arg) != NULL;
    pthread_mutex_unlock(&v->lock);
    if (have)
        return -EEXIST;
    rc = exports_start(fs, v->client, v->region, p->id, p->arg, rel, task,
                       sizeof task);
    if (rc != 0)
        return rc;
    struct copy_rec *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    snprintf(r->id, sizeof r->id, "%s", p->id);
    snprintf(r->region, sizeof r->region, "%.7s", p->arg);
    snprintf(r->dir, sizeof r->dir, "%.7s", p->arg); /* the listed name */
    snprintf(r->new_id, sizeof r->new_id, "%s", task);
    pthread_mutex_lock(&v->lock);
    r->next = v->exports;
    v->exports = r;
    pthread_mutex_unlock(&v->lock);
    return 0;
}

static int amis_mkdir(void *self, struct amifs *fs, const char *rel,
                    mode_t mode)
{
    struct amis_view *v = self;
    struct amis_path p;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc == -ENOENT ? -EPERM : rc;
    if (p.node == N_SHARED)
        return p.arg[0] ? amis_shared_mkdir(v->shared, fs, p.arg) : -EEXIST;
    if (p.node == N_COPY)
        return start_copy(v, fs, &p);
    if (p.node == N_EXPORT)
        return start_export(v, fs, &p, rel);
    if (p.node == N_EXPORTTO)
        return -EEXIST;
    if (p.node == N_STORE) {
        time_t mtime;
        struct amis_path ami = p;
        ami.node = N_AMI;
        rc = node_exists(v, fs, &ami, &mtime);
        if (rc == 0 && node_exists(v, fs, &p, &mtime) == 0)
            rc = -EEXIST;
        return rc ? rc : amis_store_start(fs, v->client, v->region, p.id,
                                          rel);
    }
    if (p.node == N_TAG || p.node == N_COPY_LINK || p.node == N_TAGS ||
        p.node == N_COPYTO || p.node == N_AMI || p.node == N_BYNAME)
        return p.node == N_AMI || p.node == N_TAGS || p.node == N_COPYTO ||
                       p.node == N_BYNAME
                   ? -EEXIST
                   : -EPERM;
    return -EPERM;
}

/* Does any image other than `self` use snapshot `snap`? Its id into
 * `other` (n bytes) when so. */
static bool snapshot_used_elsewhere(const struct ec2_image_list *l,
                                    const char *self, const char *snap,
                                    char *other, size_t n)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].image_id, self) == 0)
            continue;
        for (size_t j = 0; j < l->v[i].ndevices; j++)
            if (l->v[i].devices[j].snapshot_id &&
                strcmp(l->v[i].devices[j].snapshot_id, snap) == 0) {
                snprintf(other, n, "%s", l->v[i].image_id);
                return true;
            }
    }
    return false;
}

/* After DeregisterImage: delete the snapshots only this AMI used. */
static int delete_snapshots(struct amis_view *v, struct amifs *fs,
                            const struct ec2_image_list *l,
                            const struct ec2_image *im)
{
    int rc = 0;
    for (size_t i = 0; i < im->ndevices; i++) {
        const char *snap = im->devices[i].snapshot_id;
        char other[AMIS_ID_MAX];
        struct aws_error err;
        if (!snap)
            continue;
        if (snapshot_used_elsewhere(l, im->image_id, snap, other,
                                    sizeof(other))) {
            amifs_log(fs, AWS_LOG_INFO,
                      "amis: %s: snapshot %s kept: %s still uses it",
                      im->image_id, snap, other);
            continue;
        }
        aws_error_clear(&err);
        if (ec2_delete_snapshot(v->client, v->region, snap, &err) != 0) {
            rc = view_aws_fail(fs, "amis", "DeleteSnapshot", &err);
            continue;
        }
        amifs_log(fs, AWS_LOG_INFO, "amis: %s: snapshot %s deleted",
                  im->image_id, snap);
    }
    return rc;
}

/* rmdir ami-…: deregister, then delete the snapshots no other AMI uses.
 * Works on a fresh listing, not the cache, to judge "no other AMI". */
static int remove_image(struct amis_view *v, struct amifs *fs, const char *id)
{
    struct ec2_image_list l = {0};
    struct aws_error err;
    int rc = 0;

    aws_error_clear(&err);
    if (ec2_describe_images(v->client, v->region, NULL, 0, &l, &err) != 0)
        return view_aws_fail(fs, "amis", "DescribeImages", &err);
    const struct ec2_image *im = NULL;
    for (size_t i = 0; i < l.n && !im; i++)
        if (strcmp(l.v[i].image_id, id) == 0)
            im = &l.v[i];
    if (!im)
        rc = -ENOENT;
    else if (ec2_deregister_image(v->client, v->region, id, &err) != 0)
        rc = view_aws_fail(fs, "amis", "DeregisterImage", &err);
    else {
        amifs_log(fs, AWS_LOG_INFO, "amis: %s deregistered", id);
        rc = delete_snapshots(v, fs, &l, im);
    }
    ec2_image_list_release(&l);
    snap_invalidate(v);
    return rc;
}

static int amis_rmdir(void *self, struct amifs *fs, const char *rel)
{
    struct amis_view *v = self;
    struct amis_path p;
    time_t mtime;
    int rc = parse_path(rel, &p);
    if (rc != 0)
        return rc;
    if (p.node == N_SHARED)
        return -EROFS;
    if (!node_is_dir(p.node))
        return -ENOTDIR;
    if (p.node == N_ROOT || p.node == N_BYNAME)
        return -EPERM;
    if (p.node == N_AMI)
        return remove_image(v, fs, p.id);
    /* tags/, copy-to/ and copy-to/REGION/: rm -r passes through them on
     * its way to the AMI; they are views, nothing to remove. */
    return node_exists(v, fs, &p, &mtime);
}

/* ---- the view's life ---------------------------------------------------- */

static void amis_free(void *self)
{
    struct amis_view *v = self;
    if (!v)
        return;
    snap_put_locked(v->snap);
    while (v->perms) {
        struct perm_entry *e = v->perms;
        v->perms = e->next;
        free(e->text);
        free(e->advice);
        free(e);
    }
    while (v->pending) {
        struct pending_tag *t = v->pending;
        v->pending = t->next;
        free(t);
    }
    while (v->copies) {
        struct copy_rec *r = v->copies;
        v->copies = r->next;
        free(r);
    }
    amis_shared_free(v->shared);
    while (v->exports) {
        struct copy_rec *r = v->exports;
        v->exports = r->next;
        free(r);
    }
    pthread_cond_destroy(&v->cond);
    pthread_mutex_destroy(&v->lock);
    free(v->region);
    free(v->root_up);
    free(v);
}

/* The view of region r: its name, client and depth are all it keeps. */
static void *amis_new(struct amifs *fs, const struct view_region *r, int *rc)
{
    struct amis_view *v = calloc(1, sizeof(*v));
    *rc = -ENOMEM;
    if (!v)
        return NULL;
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cond, NULL);
    v->client = r->client;
    v->region_known = r->region_known;
    v->region = strdup(r->name);
    v->root_up = calloc((size_t)(r->depth + 3) * 3 + 1, 1);
    if (!v->region || !v->root_up) {
        amis_free(v);
        return NULL;
    }
    for (int i = 0; i < r->depth + 3; i++)
        memcpy(v->root_up + i * 3, "../", 3);
    char up[256];
    snprintf(up, sizeof(up), "../%s", v->root_up);
    v->shared = amis_shared_new(r->client, r->name, up, r->region_known);
    if (!v->shared) {
        amis_free(v);
        return NULL;
    }
    *rc = 0;
    return v;
}

const struct view_ops amis_view_ops = {
    .name = "amis",
    .new = amis_new,
    .free = amis_free,
    .getattr = amis_getattr,
    .readdir = amis_readdir,
    .readlink = amis_readlink,
    .open = amis_open,
    .create = amis_create,
    .read = amis_read,
    .write = amis_write,
    .flush = amis_flush,
    .release = amis_release,
    .truncate = amis_truncate,
    .unlink = amis_unlink,
    .rename = amis_rename,
    .mkdir = amis_mkdir,
    .rmdir = amis_rmdir,
};
