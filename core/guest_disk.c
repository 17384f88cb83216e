/* guest_disk.c — the guest check's lower layers: the cached reader (gsrc)
 * and the virtual disk (gvdisk) over raw, VMDK sparse extents and VHD
 * files. See core/guest_int.h. Formats: VMware "Virtual Disk Format 1.1"
 * (sparse extent header, grain directory/tables, streamOptimized markers
 * and footer); Microsoft "VHD Image Format Specification" (footer,
 * dynamic disk header, block allocation table). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/guest_int.h"
#include "ova/bytes.h"

/* ---- the cached reader -------------------------------------------------- */

void gsrc_init(struct gsrc *s, const struct guest_disk *d, uint64_t *bytes,
               uint64_t budget)
{
    memset(s, 0, sizeof *s);
    s->d = *d;
    s->bytes = bytes;
    s->budget = budget;
    for (size_t i = 0; i < GSRC_BLOCKS; i++)
        s->blk[i].no = UINT64_MAX;
}

void gsrc_fini(struct gsrc *s)
{
    for (size_t i = 0; i < GSRC_BLOCKS; i++)
        free(s->blk[i].data);
    memset(s->blk, 0, sizeof s->blk);
}

/* The cache slot holding block no, filled from the reader if needed. */
static struct gblk *block(struct gsrc *s, uint64_t no)
{
    struct gblk *victim = &s->blk[0];
    for (size_t i = 0; i < GSRC_BLOCKS; i++) {
        struct gblk *b = &s->blk[i];
        if (b->no == no) {
            b->stamp = ++s->tick;
            return b;
        }
        if (b->no == UINT64_MAX || b->stamp < victim->stamp)
            victim = b;
    }
    uint64_t off = no * GSRC_BLOCK;
    if (off >= s->d.size) {
        s->err = s->err ? s->err : -EIO;
        return NULL;
    }
    size_t len = s->d.size - off < GSRC_BLOCK ? (size_t)(s->d.size - off)
                                                : GSRC_BLOCK;
    if (*s->bytes + len > s->budget) {
        s->err = -EFBIG;
        return NULL;
    }
    if (!victim->data && !(victim->data = malloc(GSRC_BLOCK))) {
        s->err = -ENOMEM;
        return NULL;
    }
    victim->no = UINT64_MAX;
    int rc = s->d.read(s->d.ctx, off, victim->data, len);
    *s->bytes += len;
    if (rc != 0) {
        s->err = rc < 0 ? rc : -EIO;
        return NULL;
    }
    victim->no = no;
    victim->len = len;
    victim->stamp = ++s->tick;
    return victim;
}

int gsrc_read(struct gsrc *s, uint64_t off, void *buf, size_t len)
{
    unsigned char *out = buf;
    if (s->err)
        return s->err;
    if (off > s->d.size || len > s->d.size - off)
        return -EIO;
    while (len > 0) {
        struct gblk *b = block(s, off / GSRC_BLOCK);
        if (!b)
            return s->err;
        size_t at = (size_t)(off % GSRC_BLOCK);
        size_t take = b->len - at < len ? b->len - at : len;
        memcpy(out, b->data + at, take);
        out += take;
        off += take;
        len -= take;
    }
    return 0;
}

/* ---- VMDK sparse extents ------------------------------------------------ */

#define VMDK_MAGIC 0x564d444bu  /* "KDMV" */
#define VMDK_GD_AT_END UINT64_MAX
#define VMDK_COMPRESSED (1u << 16)

/* The header's fields: from the footer for a streamOptimized file whose
 * header says the directory is at the end. */
static int vmdk_header(struct gvdisk *v, unsigned char h[512], char *why,
                       size_t n)
{
    if (le64(h + 56) == VMDK_GD_AT_END) {
        if (v->src->d.size < 1536 ||
            gsrc_read(v->src, v->src->d.size - 1024, h, 512) != 0 ||
            le32(h) != VMDK_MAGIC) {
            snprintf(why, n, "VMDK footer unreadable");
            return -1;
        }
    }
    uint64_t cap = le64(h + 12) * 512, gs = le64(h + 20);
    v->gtes = le32(h + 44);
    v->gd_sector = le64(h + 56);
    v->compressed = (le32(h + 8) & VMDK_COMPRESSED) != 0;
    if (gs < 8 || gs > 2048 || (gs & (gs - 1)) || v->gtes == 0 ||
        v->gtes > 4096 || cap == 0 || cap > (64ULL << 40)) {
        snprintf(why, n, "VMDK header not understood");
        return -1;
    }
    unsigned alg = (unsigned)(h[77] | h[78] << 8);
    if (v->compressed && alg != 1) {
        snprintf(why, n, "VMDK compression %u not understood", alg);
        return -1;
    }
    v->grain = gs * 512;
    v->vsize = cap;
    uint64_t per = v->grain * v->gtes;
    v->ngd = (size_t)((cap + per - 1) / per);
    if (v->ngd > (2u << 20)) { /* 8 TiB of 64 KiB grains needs 256 Ki */
        snprintf(why, n, "VMDK grain directory too large");
        return -1;
    }
    return 0;
}

static int vmdk_open(struct gvdisk *v, unsigned char h[512], char *why,
                     size_t n)
{
    if (vmdk_header(v, h, why, n) != 0)
        return -1;
    v->kind = GVD_VMDK;
    snprintf(v->format, sizeof v->format, "VMDK %s",
             v->compressed ? "streamOptimized" : "monolithicSparse");
    v->gd = calloc(v->ngd, sizeof *v->gd);
    v->gt = calloc(v->ngd, sizeof *v->gt);
    v->gbuf = malloc(v->grain);
    v->zbuf = malloc(v->grain + 1024);
    v->gbuf_no = UINT64_MAX;
    if (!v->gd || !v->gt || !v->gbuf || !v->zbuf) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    unsigned char *raw = malloc(v->ngd * 4);
    int rc = raw ? gsrc_read(v->src, v->gd_sector * 512, raw, v->ngd * 4)
                 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < v->ngd; i++)
        v->gd[i] = le32(raw + 4 * i);
    free(raw);
    if (rc != 0) {
        snprintf(why, n, "VMDK grain directory unreadable (%s)",
                 strerror(-rc));
        return -1;
    }
    return 0;
}

/* Grain table entry for grain g: 0 (sparse), 1 (zero) or a sector. */
static int vmdk_gte(struct gvdisk *v, uint64_t g, uint32_t *out)
{
    size_t t = (size_t)(g / v->gtes);
    *out = 0;
    if (t >= v->ngd || v->gd[t] == 0)
        return 0;
    if (!v->gt[t]) {
        unsigned char *raw = malloc((size_t)v->gtes * 4);
        uint32_t *tab = malloc((size_t)v->gtes * 4);
        int rc = raw && tab ? gsrc_read(v->src, (uint64_t)v->gd[t] * 512,
                                        raw, (size_t)v->gtes * 4)
                            : -ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < v->gtes; i++)
            tab[i] = le32(raw + 4 * i);
        free(raw);
        if (rc != 0) {
            free(tab);
            return rc;
        }
        v->gt[t] = tab;
    }
    *out = v->gt[t][g % v->gtes];
    return 0;
}

/* Fill v->gbuf with grain g. */
static int vmdk_grain(struct gvdisk *v, uint64_t g)
{
    if (v->gbuf_no == g)
        return 0;
    uint32_t sec;
    int rc = vmdk_gte(v, g, &sec);
    if (rc != 0)
        return rc;
    v->gbuf_no = UINT64_MAX;
    if (sec <= 1) {
        memset(v->gbuf, 0, v->grain);
    } else if (!v->compressed) {
        if ((rc = gsrc_read(v->src, (uint64_t)sec * 512, v->gbuf, v->grain)))
            return rc;
    } else {
        unsigned char m[12];
        if ((rc = gsrc_read(v->src, (uint64_t)sec * 512, m, sizeof m)))
            return rc;
        uint32_t clen = le32(m + 8);
        if (clen == 0 || clen > v->grain + 1024)
            return -EIO;
        if ((rc = gsrc_read(v->src, (uint64_t)sec * 512 + 12, v->zbuf, clen)))
            return rc;
        uLongf out = (uLongf)v->grain;
        int z = uncompress(v->gbuf, &out, v->zbuf, clen);
        if (z != Z_OK && z != Z_BUF_ERROR)
            return -EIO;
        if (out < v->grain)
            memset(v->gbuf + out, 0, v->grain - out);
    }
    v->gbuf_no = g;
    return 0;
}

/* ---- VHD ----------------------------------------------------------------- */

static int vhd_open(struct gvdisk *v, const unsigned char f[512], char *why,
                    size_t n)
{
    uint32_t type = be32(f + 60);
    v->vsize = be64(f + 48);
    if (type == 2) {
        v->kind = GVD_VHD_FIXED;
        snprintf(v->format, sizeof v->format, "VHD fixed");
        if (v->vsize > v->src->d.size - 512)
            v->vsize = v->src->d.size - 512;
        return 0;
    }
    if (type != 3) {
        snprintf(why, n, "VHD disk type %u (differencing or unknown)", type);
        return -1;
    }
    unsigned char h[1024];
    if (gsrc_read(v->src, be64(f + 16), h, sizeof h) != 0 ||
        memcmp(h, "cxsparse", 8) != 0) {
        snprintf(why, n, "VHD dynamic header unreadable");
        return -1;
    }
    v->kind = GVD_VHD_DYNAMIC;
    snprintf(v->format, sizeof v->format, "VHD dynamic");
    v->nbat = be32(h + 28);
    v->block = be32(h + 32);
    if (v->block < 512 || v->block > (256u << 20) || v->nbat == 0 ||
        v->nbat > (4u << 20)) {
        snprintf(why, n, "VHD dynamic header not understood");
        return -1;
    }
    v->bitmap = ((v->block / 512 / 8) + 511) & ~511u;
    unsigned char *raw = malloc(v->nbat * 4);
    v->bat = malloc(v->nbat * 4);
    int rc = raw && v->bat ? gsrc_read(v->src, be64(h + 16), raw, v->nbat * 4)
                           : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < v->nbat; i++)
        v->bat[i] = be32(raw + 4 * i);
    free(raw);
    if (rc != 0) {
        snprintf(why, n, "VHD block allocation table unreadable");
        return -1;
    }
    return 0;
}

/* ---- the virtual disk ---------------------------------------------------- */

int gvd_open(struct gvdisk *v, struct gsrc *s, char *why, size_t n)
{
    unsigned char h[512], f[512];
    memset(v, 0, sizeof *v);
    v->src = s;
    if (s->d.size < 512 || gsrc_read(s, 0, h, sizeof h) != 0) {
        snprintf(why, n, "the disk could not be read (%s)",
                 s->err == -EFBIG ? "read budget spent"
                                  : strerror(s->err ? -s->err : EIO));
        return -1;
    }
    if (le32(h) == VMDK_MAGIC)
        return vmdk_open(v, h, why, n);
    if (memcmp(h, "# Disk DescriptorFile", 21) == 0) {
        snprintf(why, n, "a VMDK descriptor without its extent");
        return -1;
    }
    if (memcmp(h, "vhdxfile", 8) == 0 || memcmp(h, "QFI\xfb", 4) == 0) {
        snprintf(why, n, "%s disks are not read by the guest check",
                 h[0] == 'v' ? "VHDX" : "qcow2");
        return -1;
    }
    if (gsrc_read(s, s->d.size - 512, f, sizeof f) == 0 &&
        memcmp(f, "conectix", 8) == 0)
        return vhd_open(v, f, why, n);
    if (s->err) {
        snprintf(why, n, "the disk could not be read (%s)",
                 strerror(-s->err));
        return -1;
    }
    v->kind = GVD_RAW;
    v->vsize = s->d.size;
    snprintf(v->format, sizeof v->format, "raw");
    return 0;
}

/* Up to the end of the unit (grain/block) holding off. */
static int piece(struct gvdisk *v, uint64_t off, unsigned char *out,
                 size_t len)
{
    if (v->kind == GVD_RAW || v->kind == GVD_VHD_FIXED)
        return gsrc_read(v->src, off, out, len);
    if (v->kind == GVD_VMDK) {
        int rc = vmdk_grain(v, off / v->grain);
        if (rc == 0)
            memcpy(out, v->gbuf + off % v->grain, len);
        return rc;
    }
    uint64_t b = off / v->block;
    uint32_t sec = b < v->nbat ? v->bat[b] : 0xffffffffu;
    if (sec == 0xffffffffu) {
        memset(out, 0, len);
        return 0;
    }
    return gsrc_read(v->src, (uint64_t)sec * 512 + v->bitmap + off % v->block,
                     out, len);
}

int gvd_read(struct gvdisk *v, uint64_t off, void *buf, size_t len)
{
    unsigned char *out = buf;
    uint64_t unit = v->kind == GVD_VMDK ? v->grain
                    : v->kind == GVD_VHD_DYNAMIC ? v->block
                                                  : GSRC_BLOCK;
    while (len > 0) {
        if (off >= v->vsize) {
            memset(out, 0, len);
            return 0;
        }
        uint64_t room = unit - off % unit;
        if (room > v->vsize - off)
            room = v->vsize - off;
        size_t take = room < len ? (size_t)room : len;
        int rc = piece(v, off, out, take);
        if (rc != 0)
            return rc;
        out += take;
        off += take;
        len -= take;
    }
    return 0;
}

void gvd_close(struct gvdisk *v)
{
    for (size_t i = 0; v->gt && i < v->ngd; i++)
        free(v->gt[i]);
    free(v->gt);
    free(v->gd);
    free(v->gbuf);
    free(v->zbuf);
    free(v->bat);
    memset(v, 0, sizeof *v);
}
