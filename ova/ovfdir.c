/* ovfdir.c — an exported OVF folder's descriptor, manifest and digests
 * (ova/ovfdir.h). */
#include "ova/ovfdir.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ova/internal.h"

static void say(char *why, size_t wn, char *code, size_t cn,
                const struct ova_verdict *vd)
{
    snprintf(why, wn, "%s", vd->reason);
    snprintf(code, cn, "%s", vd->code);
}

/* The file a CD-ROM/floppy item's HostResource points at, or NULL. */
static const char *device_file(const struct ovf_desc *o,
                               const struct ovf_device *d)
{
    const char *h = d->host;
    if (strncmp(h, "ovf:/file/", 10) == 0) {
        const struct ovf_file *f = ovf_file_by_id(o, h + 10);
        return f ? f->href : NULL;
    }
    return NULL;
}

/* The URL's format word contradicts a disk kind VM Import reads. */
static bool foreign_url(const char *url)
{
    static const char *const bad[] = {"qcow", "vdi", "parallels", "hdd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strcasestr(url, bad[i]))
            return true;
    return false;
}

static int take_disk(const struct ovf_desc *o, const struct ovf_disk *k,
                     struct ovfdir_desc *out, struct ova_verdict *vd)
{
    const struct ovf_file *f = ovf_file_by_id(o, k->file_ref);
    if (!f) /* ovf_desc_check ran: cannot happen */
        return 0;
    if (strchr(f->href, '/')) {
        verdict_set(vd, "unsafe-path", "the OVF's disk file '%s' lies in a "
                    "subfolder; a folder import takes the files beside the "
                    ".ovf only", f->href);
        return -1;
    }
    enum ova_kind kind = ova_kind_from_name(f->href);
    if (kind == OVA_KIND_NONE || kind == OVA_KIND_OVA || foreign_url(k->format)) {
        verdict_set(vd, "bad-format", "the OVF's disk '%s' is the file '%s' "
                    "(format %s), which VM Import does not read; convert it "
                    "with `qemu-img convert -O vmdk -o "
                    "subformat=streamOptimized` and name it .vmdk in the OVF",
                    k->id, f->href, k->format[0] ? k->format : "unknown");
        return -1;
    }
    struct ovfdir_disk *d = &out->disks[out->ndisks++];
    ova_strlcpy(d->href, f->href, sizeof d->href);
    ova_strlcpy(d->format, ova_kind_format(kind), sizeof d->format);
    d->capacity = k->capacity;
    return 0;
}

static void take_facts(const struct ovf_desc *o, struct ovfdir_desc *out)
{
    struct ova_facts *f = &out->facts;
    f->kind = OVA_KIND_OVA;
    f->os_id = o->os_id;
    ova_strlcpy(f->os_type, o->os_type, sizeof f->os_type);
    ova_strlcpy(f->os_description, o->os_desc, sizeof f->os_description);
    ova_strlcpy(f->firmware, o->firmware[0] ? o->firmware : "bios",
                sizeof f->firmware);
    for (size_t i = 0; i < o->ndevs && out->nmedia < OVFDIR_MAX_MEDIA; i++) {
        const char *file = device_file(o, &o->devs[i]);
        if (file)
            ova_strlcpy(out->media[out->nmedia++], file, 256);
    }
}

static int walk(const struct ovf_desc *o, struct ovfdir_desc *out,
                struct ova_verdict *vd)
{
    if (ovf_desc_check(o, vd) < 0)
        return -1;
    for (size_t i = 0; i < o->ndisks; i++)
        if (o->disks[i].file_ref[0] && take_disk(o, &o->disks[i], out, vd))
            return -1;
    take_facts(o, out);
    return 0;
}

int ovfdir_parse(const void *text, size_t n, struct ovfdir_desc *out,
                 char *why, size_t wn, char *code, size_t cn)
{
    memset(out, 0, sizeof *out);
    struct ova_verdict vd;
    memset(&vd, 0, sizeof vd);
    struct ovf_desc *o = calloc(1, sizeof *o);
    struct ovf_parser *p = o ? ovf_parser_new(o) : NULL;
    int rc = -1;
    if (!p)
        verdict_set(&vd, "internal", "out of memory");
    else if (n > OVA_MAX_OVF_SIZE)
        verdict_set(&vd, "ovf-too-large", "the OVF descriptor is %zu bytes; "
                    "at most %u are read", n, OVA_MAX_OVF_SIZE);
    else if (ovf_parser_feed(p, text, n, true, &vd) == 0)
        rc = walk(o, out, &vd);
    if (rc != 0)
        say(why, wn, code, cn, &vd);
    ovf_parser_free(p);
    free(o);
    return rc;
}

int ovfdir_disk_index(const struct ovfdir_desc *d, const char *href)
{
    for (size_t i = 0; i < d->ndisks; i++)
        if (strcmp(d->disks[i].href, href) == 0)
            return (int)i;
    return -1;
}

bool ovfdir_is_media(const struct ovfdir_desc *d, const char *href)
{
    for (size_t i = 0; i < d->nmedia; i++)
        if (strcmp(d->media[i], href) == 0)
            return true;
    return false;
}

/* ---- manifest ---------------------------------------------------------- */

struct ovfdir_mf {
    struct manifest m;
};

struct ovfdir_mf *ovfdir_mf_parse(const void *text, size_t n, char *why,
                                  size_t wn)
{
    struct ovfdir_mf *m = calloc(1, sizeof *m);
    struct ova_verdict vd;
    memset(&vd, 0, sizeof vd);
    if (!m) {
        snprintf(why, wn, "out of memory");
        return NULL;
    }
    if (n > MF_MAX_SIZE) {
        snprintf(why, wn, "the manifest is %zu bytes; at most %u are read",
                 n, MF_MAX_SIZE);
        free(m);
        return NULL;
    }
    if (manifest_parse(&m->m, text, n, &vd) < 0) {
        snprintf(why, wn, "%s", vd.reason);
        free(m);
        return NULL;
    }
    return m;
}

void ovfdir_mf_free(struct ovfdir_mf *m)
{
    free(m);
}

int ovfdir_mf_alg(const struct ovfdir_mf *m, const char *name)
{
    for (size_t i = 0; i < m->m.n; i++)
        if (strcmp(m->m.e[i].name, name) == 0)
            return m->m.e[i].alg;
    return 0;
}

int ovfdir_mf_algs(const struct ovfdir_mf *m)
{
    return m->m.algs;
}

int ovfdir_mf_check(const struct ovfdir_mf *m, const char *name, int alg,
                    const unsigned char *digest, size_t len)
{
    for (size_t i = 0; i < m->m.n; i++) {
        const struct mf_entry *e = &m->m.e[i];
        if (strcmp(e->name, name) != 0 || e->alg != alg)
            continue;
        return e->dlen == len && memcmp(e->digest, digest, len) == 0;
    }
    return -1;
}

const char *ovfdir_alg_name(int alg)
{
    return manifest_alg_name(alg);
}

/* ---- digests ----------------------------------------------------------- */

#define NALG 3
static const int ALGS[NALG] = {OVFDIR_SHA1, OVFDIR_SHA256, OVFDIR_SHA512};
_Static_assert((int)OVFDIR_SHA1 == (int)MF_SHA1 &&
                   (int)OVFDIR_SHA256 == (int)MF_SHA256 &&
                   (int)OVFDIR_SHA512 == (int)MF_SHA512,
               "manifest_md() takes the OVFDIR_SHA* values");

struct ovfdir_hash {
    int algs;
    EVP_MD_CTX *ctx[NALG];
};

struct ovfdir_hash *ovfdir_hash_new(int algs)
{
    struct ovfdir_hash *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->algs = algs;
    for (int i = 0; i < NALG; i++) {
        if (!(algs & ALGS[i]))
            continue;
        h->ctx[i] = EVP_MD_CTX_new();
        if (!h->ctx[i] || EVP_DigestInit_ex(h->ctx[i], manifest_md(ALGS[i]), NULL) != 1) {
            ovfdir_hash_free(h);
            return NULL;
        }
    }
    return h;
}

void ovfdir_hash_update(struct ovfdir_hash *h, const void *p, size_t n)
{
    for (int i = 0; i < NALG; i++)
        if (h->ctx[i])
            EVP_DigestUpdate(h->ctx[i], p, n);
}

size_t ovfdir_hash_final(struct ovfdir_hash *h, int alg, unsigned char *out)
{
    for (int i = 0; i < NALG; i++) {
        if (ALGS[i] != alg || !h->ctx[i])
            continue;
        unsigned len = 0;
        if (EVP_DigestFinal_ex(h->ctx[i], out, &len) != 1)
            len = 0;
        EVP_MD_CTX_free(h->ctx[i]);
        h->ctx[i] = NULL;
        return len;
    }
    return 0;
}

int ovfdir_hash_algs(const struct ovfdir_hash *h)
{
    return h->algs;
}

void ovfdir_hash_free(struct ovfdir_hash *h)
{
    if (!h)
        return;
    for (int i = 0; i < NALG; i++)
        EVP_MD_CTX_free(h->ctx[i]);
    free(h);
}
