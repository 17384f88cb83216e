/* guest_part.c — partitions (MBR with logical partitions, GPT) and the
 * filesystem type of each, by superblock magic. See core/guest_int.h.
 * libblkid/libfdisk would do this but read only file descriptors; the
 * guest check reads through a callback (ranged GETs), so these few fixed
 * layouts are read here, every offset bounds-checked. */
#include <stdio.h>
#include <string.h>

#include "core/guest_int.h"
#include "ova/bytes.h"

#define SECTOR 512u
#define ESP_GUID "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

/* The filesystem at [off, off+len) by its magic. */
static void sniff(struct gvdisk *v, struct gpart *p)
{
    unsigned char b[4096];
    p->fs[0] = '\0';
    if (p->len < sizeof b || gvd_read(v, p->off, b, sizeof b) != 0)
        return;
    const char *fs = "";
    if (b[1080] == 0x53 && b[1081] == 0xef) {
        uint32_t compat = le32(b + 1024 + 92), incompat = le32(b + 1024 + 96);
        fs = incompat & (0x40 | 0x80 | 0x200) ? "ext4"
             : compat & 0x4                   ? "ext3"
                                              : "ext2";
    } else if (memcmp(b, "XFSB", 4) == 0) {
        fs = "xfs";
    } else if (memcmp(b + 3, "NTFS    ", 8) == 0) {
        fs = "ntfs";
    } else if (memcmp(b + 82, "FAT32   ", 8) == 0 ||
               memcmp(b + 54, "FAT1", 4) == 0) {
        fs = "vfat";
    } else if (memcmp(b + 4086, "SWAPSPACE2", 10) == 0) {
        fs = "swap";
    } else if (memcmp(b + 512, "LABELONE", 8) == 0) {
        fs = "lvm";
    } else if (memcmp(b, "LUKS\xba\xbe", 6) == 0) {
        fs = "luks";
    } else {
        unsigned char m[8];
        if (p->len > 0x10048 && gvd_read(v, p->off + 0x10040, m, 8) == 0 &&
            memcmp(m, "_BHRfS_M", 8) == 0)
            fs = "btrfs";
    }
    snprintf(p->fs, sizeof p->fs, "%s", fs);
}

static void guid_text(const unsigned char *g, char *out, size_t n)
{
    snprintf(out, n, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
             le32(g), (unsigned)(g[4] | g[5] << 8),
             (unsigned)(g[6] | g[7] << 8), g[8], g[9], g[10], g[11], g[12],
             g[13], g[14], g[15]);
}

static size_t gpt(struct gvdisk *v, struct gpart *p, size_t max)
{
    unsigned char h[SECTOR], e[128];
    if (gvd_read(v, SECTOR, h, sizeof h) != 0 || memcmp(h, "EFI PART", 8))
        return 0;
    uint64_t lba = le64(h + 72);
    uint32_t count = le32(h + 80), size = le32(h + 84);
    if (size < 128 || size > 4096 || count > 1024)
        return 0;
    size_t k = 0;
    for (uint32_t i = 0; i < count && k < max; i++) {
        if (gvd_read(v, lba * SECTOR + (uint64_t)i * size, e, sizeof e) != 0)
            break;
        uint64_t first = le64(e + 32), last = le64(e + 40);
        static const unsigned char zero[16];
        if (memcmp(e, zero, 16) == 0 || last < first)
            continue;
        struct gpart *q = &p[k++];
        memset(q, 0, sizeof *q);
        q->index = (int)i + 1;
        q->off = first * SECTOR;
        q->len = (last - first + 1) * SECTOR;
        guid_text(e, q->type, sizeof q->type);
        q->esp = strcmp(q->type, ESP_GUID) == 0;
    }
    return k;
}

static void mbr_entry(struct gpart *q, int index, const unsigned char *e,
                      uint64_t base)
{
    memset(q, 0, sizeof *q);
    q->index = index;
    q->off = (base + le32(e + 8)) * SECTOR;
    q->len = (uint64_t)le32(e + 12) * SECTOR;
    snprintf(q->type, sizeof q->type, "0x%02x", e[4]);
    q->esp = e[4] == 0xef;
}

static bool extended(unsigned t)
{
    return t == 0x05 || t == 0x0f || t == 0x85;
}

/* Logical partitions: the chain of extended boot records. */
static size_t logical(struct gvdisk *v, uint64_t ext, struct gpart *p,
                      size_t k, size_t max)
{
    unsigned char s[SECTOR];
    uint64_t at = ext;
    for (int n = 5; n < 5 + 64 && k < max; n++) {
        if (gvd_read(v, at * SECTOR, s, sizeof s) != 0 || s[510] != 0x55 ||
            s[511] != 0xaa)
            break;
        const unsigned char *e = s + 446;
        if (e[4] && le32(e + 12))
            mbr_entry(&p[k++], n, e, at);
        uint32_t next = le32(e + 16 + 8);
        if (!extended(e[16 + 4]) || next == 0)
            break;
        at = ext + next;
    }
    return k;
}

static size_t mbr(struct gvdisk *v, const unsigned char *s, struct gpart *p,
                  size_t max)
{
    size_t k = 0;
    for (int i = 0; i < 4 && k < max; i++) {
        const unsigned char *e = s + 446 + 16 * i;
        if (e[4] == 0 || le32(e + 12) == 0)
            continue;
        if (extended(e[4])) {
            k = logical(v, le32(e + 8), p, k, max);
            continue;
        }
        mbr_entry(&p[k++], i + 1, e, 0);
    }
    return k;
}

size_t gpart_scan(struct gvdisk *v, struct gpart *p, size_t max,
                  char *table, size_t tn)
{
    unsigned char s[SECTOR];
    size_t k = 0;
    snprintf(table, tn, "none");
    if (gvd_read(v, 0, s, sizeof s) != 0)
        return 0;
    bool sig = s[510] == 0x55 && s[511] == 0xaa;
    if (sig && s[446 + 4] == 0xee) {
        k = gpt(v, p, max);
        snprintf(table, tn, "gpt");
    } else if (sig && (s[446 + 4] || s[462 + 4] || s[478 + 4] ||
                       s[494 + 4])) {
        k = mbr(v, s, p, max);
        snprintf(table, tn, "mbr");
    }
    if (k == 0 && strcmp(table, "none") == 0) { /* a whole-disk fs */
        memset(p, 0, sizeof *p);
        p->len = v->vsize;
        sniff(v, p);
        return p->fs[0] ? 1 : 0;
    }
    for (size_t i = 0; i < k; i++) {
        if (p[i].off >= v->vsize)
            continue;
        if (p[i].len > v->vsize - p[i].off)
            p[i].len = v->vsize - p[i].off;
        sniff(v, &p[i]);
    }
    return k;
}
