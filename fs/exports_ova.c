/*
 * exports_ova.c — exports/ID/NAME.ova (see exports_ova.h).
 */
#include "fs/exports_ova.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/ec2.h"
#include "aws/s3.h"
#include "core/ovagen.h"
#include "fs/view.h"
#include "ova/ova.h"

#define PROBE_BYTES (64u << 10)
#define NAME_MAX_LEN 200

struct xova {
    atomic_uint refs;
    char name[NAME_MAX_LEN + 8];
    char bucket[256];
    char key[1024];
    char etag[72];
    struct ovagen g;
};

struct xova_reader {
    struct xova *o;
    pthread_mutex_t lock;
    struct buf win;     /* disk bytes [win_off, win_off + win.len) */
    uint64_t win_off;
};

/* A file name from the AMI's name: letters, digits, '.', '-', '_' kept,
 * anything else '_'; the AMI id when there is no name. */
static void safe_name(const char *name, const char *fallback, char *out,
                      size_t n)
{
    const char *s = name && *name ? name : fallback;
    size_t i = 0;
    for (; s[i] && i + 1 < n && i < NAME_MAX_LEN; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
    if (out[0] == '.')
        out[0] = '_';
}

static int sink_buf(void *ctx, const char *data, size_t n)
{
    return buf_append(ctx, data, n) == 0 ? 0 : -1;
}

/* The VMDK's capacity as the validator reads its header; 0 unknown. */
static uint64_t probe_capacity(struct aws_client *c, const struct xova *o)
{
    struct buf head;
    struct aws_error err;
    uint64_t cap = 0;
    buf_init(&head, 0);
    aws_error_clear(&err);
    if (s3_get_object(c, o->bucket, o->key, 0, PROBE_BYTES, o->etag,
                      sink_buf, &head, &err) == 0) {
        struct ova_validator *v = ova_validator_new(OVA_KIND_VMDK);
        if (v) {
            ova_validator_feed(v, head.data, head.len);
            ova_validator_sync(v);
            const struct ova_facts *f = ova_validator_facts(v);
            cap = f->ndisks ? f->disks[0].capacity : 0;
            ova_validator_free(v);
        }
    }
    buf_release(&head);
    return cap;
}

struct ami_facts {
    char name[NAME_MAX_LEN + 1];
    bool efi, windows;
    uint64_t gib;
};

static void ami_facts(struct aws_client *c, const char *region,
                      const char *ami, struct ami_facts *out)
{
    struct ec2_image_list l;
    struct aws_error err;
    memset(out, 0, sizeof *out);
    safe_name(NULL, ami ? ami : "vm", out->name, sizeof out->name);
    aws_error_clear(&err);
    if (!ami || ec2_describe_images(c, region, &ami, 1, &l, &err) != 0)
        return; /* deregistered since: the id, bios, Linux */
    if (l.n > 0) {
        const struct ec2_image *im = &l.v[0];
        safe_name(im->name, ami, out->name, sizeof out->name);
        out->efi = im->boot_mode && strcmp(im->boot_mode, "uefi") == 0;
        out->windows = im->platform && strcmp(im->platform, "windows") == 0;
        out->gib = im->ndevices ? (uint64_t)im->devices[0].volume_size : 0;
    }
    ec2_image_list_release(&l);
}

static int layout(struct aws_client *c, struct xova *o,
                  const struct ami_facts *af, uint64_t size)
{
    char href[NAME_MAX_LEN + 16], ovf[NAME_MAX_LEN + 8];
    snprintf(href, sizeof href, "%s-disk1.vmdk", af->name);
    snprintf(ovf, sizeof ovf, "%s.ovf", af->name);
    uint64_t cap = probe_capacity(c, o);
    struct ovagen_vm vm = {af->name, href, size,
                           cap ? cap : af->gib << 30, af->efi, af->windows};
    return ovagen_build(&vm, ovf, &o->g);
}

int xova_build(struct amifs *fs, struct aws_client *c, const char *region,
               const struct ec2_export_task *t, struct xova **out)
{
    *out = NULL;
    if (!t->status || strcmp(t->status, "completed") != 0 || !t->format ||
        strcmp(t->format, "VMDK") != 0 || !t->bucket)
        return -ENOENT;
    struct xova *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    atomic_init(&o->refs, 1);
    snprintf(o->bucket, sizeof o->bucket, "%s", t->bucket);
    if (ec2_export_key(t, o->key, sizeof o->key) != 0) {
        free(o);
        return -ENAMETOOLONG;
    }
    struct s3_head h;
    struct aws_error err;
    aws_error_clear(&err);
    if (s3_head_object(c, o->bucket, o->key, &h, &err) != 0) {
        free(o);
        return view_aws_fail(fs, "exports", "HeadObject of the export", &err);
    }
    snprintf(o->etag, sizeof o->etag, "%s", h.etag);
    struct ami_facts af;
    ami_facts(c, region, t->image_id, &af);
    snprintf(o->name, sizeof o->name, "%s.ova", af.name);
    int rc = layout(c, o, &af, h.size);
    if (rc != 0) {
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

void xova_ref(struct xova *o)
{
    atomic_fetch_add(&o->refs, 1);
}

void xova_unref(struct xova *o)
{
    if (o && atomic_fetch_sub(&o->refs, 1) == 1) {
        ovagen_release(&o->g);
        free(o);
    }
}

const char *xova_name(const struct xova *o)
{
    return o->name;
}

uint64_t xova_size(const struct xova *o)
{
    return o->g.total;
}

struct xova_reader *xova_reader_new(struct xova *o)
{
    struct xova_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    xova_ref(o);
    r->o = o;
    pthread_mutex_init(&r->lock, NULL);
    buf_init(&r->win, 0);
    return r;
}

void xova_reader_free(struct xova_reader *r)
{
    if (!r)
        return;
    buf_release(&r->win);
    pthread_mutex_destroy(&r->lock);
    xova_unref(r->o);
    free(r);
}

/* Disk bytes [d, d+n) into dst through the window (caller holds lock). */
static int disk_bytes(struct amifs *fs, struct aws_client *c,
                      struct xova_reader *r, uint64_t d, char *dst, size_t n)
{
    const struct xova *o = r->o;
    while (n > 0) {
        if (d < r->win_off || d >= r->win_off + r->win.len) {
            uint64_t len = o->g.disk_size - d < XOVA_WINDOW
                               ? o->g.disk_size - d : XOVA_WINDOW;
            struct aws_error err;
            aws_error_clear(&err);
            buf_reset(&r->win);
            r->win_off = d;
            if (s3_get_object(c, o->bucket, o->key, d, len, o->etag,
                              sink_buf, &r->win, &err) != 0) {
                buf_reset(&r->win);
                return view_aws_fail(fs, "exports",
                                     "GetObject of the export", &err);
            }
            if (r->win.len == 0)
                return -EIO;
        }
        size_t at = (size_t)(d - r->win_off);
        size_t k = r->win.len - at < n ? r->win.len - at : n;
        memcpy(dst, r->win.data + at, k);
        dst += k;
        d += k;
        n -= k;
    }
    return 0;
}

int xova_read(struct amifs *fs, struct aws_client *c, struct xova_reader *r,
              char *buf, size_t n, off_t off)
{
    const struct ovagen *g = &r->o->g;
    if (off < 0 || (uint64_t)off >= g->total)
        return 0;
    uint64_t o = (uint64_t)off;
    if (n > g->total - o)
        n = (size_t)(g->total - o);
    ovagen_copy_generated(g, o, buf, n);
    uint64_t ds = g->disk_off, de = g->disk_off + g->disk_size;
    uint64_t a = o > ds ? o : ds, b = o + n < de ? o + n : de;
    int rc = 0;
    if (a < b) {
        pthread_mutex_lock(&r->lock);
        rc = disk_bytes(fs, c, r, a - ds, buf + (a - o), (size_t)(b - a));
        pthread_mutex_unlock(&r->lock);
    }
    return rc != 0 ? rc : (int)n;
}
