/* disk.c — is this stream the disk its name says? Header/trailer checks on
 * the first 64 KiB and last 4 KiB of a stream, no other state. */
#include <stdio.h>
#include <string.h>

#include "ova/internal.h"
#include "ova/bytes.h"

void sniff_reset(struct sniff *s)
{
    s->head_len = 0;
    s->tail_pos = 0;
    s->total = 0;
}

void sniff_push(struct sniff *s, const unsigned char *p, size_t n)
{
    if (s->head_len < SNIFF_HEAD) {
        size_t k = SNIFF_HEAD - s->head_len;
        if (k > n)
            k = n;
        memcpy(s->head + s->head_len, p, k);
        s->head_len += k;
    }
    s->total += n;
    if (n > SNIFF_TAIL) {          /* only the last SNIFF_TAIL matter */
        p += n - SNIFF_TAIL;
        n = SNIFF_TAIL;
    }
    while (n > 0) {
        size_t k = SNIFF_TAIL - s->tail_pos;
        if (k > n)
            k = n;
        memcpy(s->tail + s->tail_pos, p, k);
        s->tail_pos = (s->tail_pos + k) % SNIFF_TAIL;
        p += k;
        n -= k;
    }
}

void sniff_last(const struct sniff *s, unsigned char *out, size_t n)
{
    size_t start = (s->tail_pos + SNIFF_TAIL - n) % SNIFF_TAIL;
    for (size_t i = 0; i < n; i++)
        out[i] = s->tail[(start + i) % SNIFF_TAIL];
}

/* What a wrong-format file most likely is, for the refusal sentence. */
static const char *guess_format(const unsigned char *h, size_t n)
{
    if (n >= 4 && memcmp(h, "QFI\xfb", 4) == 0)
        return "a qcow2 image";
    if (n >= 4 && memcmp(h, "KDMV", 4) == 0)
        return "a VMDK";
    if (n >= 8 && memcmp(h, "conectix", 8) == 0)
        return "a VHD";
    if (n >= 8 && memcmp(h, "vhdxfile", 8) == 0)
        return "a VHDX";
    if (n >= 21 && memcmp(h, "# Disk DescriptorFile", 21) == 0)
        return "a VMDK descriptor without its data (flat/split VMDK)";
    if (n >= 262 && memcmp(h + 257, "ustar", 5) == 0)
        return "a tar archive (an OVA?)";
    if (n >= 4 && memcmp(h, "\x7f" "ELF", 4) == 0)
        return "an executable";
    return "unrecognised data";
}

static void set_fmt(struct ova_disk_facts *df, const char *fmt,
                    const char *sub)
{
    ova_strlcpy(df->format, fmt, sizeof df->format);
    ova_strlcpy(df->subformat, sub, sizeof df->subformat);
}

/* ---- VMDK -------------------------------------------------------------- */

#define VMDK_FLAG_COMPRESSED (1u << 16)
#define VMDK_FLAG_MARKERS (1u << 17)
#define VMDK_GD_AT_END 0xffffffffffffffffULL

/* createType="X" from the embedded descriptor text into out ("" none). */
static void vmdk_create_type(const unsigned char *d, size_t n, char *out,
                             size_t outsz)
{
    out[0] = '\0';
    size_t i = 0;
    while (i < n && d[i]) {
        size_t e = i;
        while (e < n && d[e] && d[e] != '\n')
            e++;
        const char *key = "createType";
        size_t kl = strlen(key);
        if (e - i > kl && memcmp(d + i, key, kl) == 0) {
            size_t a = i + kl;
            while (a < e && (d[a] == ' ' || d[a] == '=' || d[a] == '"'))
                a++;
            size_t b = a;
            while (b < e && d[b] != '"' && d[b] != '\r' && d[b] != ' ')
                b++;
            size_t len = b - a < outsz - 1 ? b - a : outsz - 1;
            memcpy(out, d + a, len);
            out[len] = '\0';
            return;
        }
        i = e + 1;
    }
}

bool vmdk_desc_span(uint64_t doff, uint64_t dsz, size_t held, size_t *start,
                    size_t *len)
{
    const uint64_t max = SNIFF_HEAD / 512;
    *start = *len = 0;
    if (doff == 0 || dsz == 0 || doff >= max)
        return false;
    if (dsz > max - doff)       /* (doff + dsz) * 512 cannot overflow now */
        dsz = max - doff;
    uint64_t a = doff * 512, b = (doff + dsz) * 512;
    if (b > held)
        b = held;
    if (a >= b)
        return false;
    *start = (size_t)a;
    *len = (size_t)(b - a);
    return true;
}

static enum disk_step vmdk_head(const struct sniff *s, bool at_end,
                                struct ova_disk_facts *df,
                                struct ova_verdict *vd, const char *label)
{
    const unsigned char *h = s->head;
    if (s->head_len < 512)
        goto short_or_more;
    if (memcmp(h, "KDMV", 4) != 0) {
        verdict_set(vd, "bad-format", "%s is %s, not a VMDK (no KDMV "
                    "sparse header)", label, guess_format(h, s->head_len));
        return DISK_BAD;
    }
    uint32_t version = le32(h + 4), flags = le32(h + 8);
    uint64_t cap = le64(h + 12), doff = le64(h + 28), dsz = le64(h + 36);
    uint16_t comp = (uint16_t)(h[77] | h[78] << 8);
    char ctype[32] = "";
    size_t dstart, dlen;
    if (vmdk_desc_span(doff, dsz, SNIFF_HEAD, &dstart, &dlen)) {
        if (s->head_len < dstart + dlen && !at_end)
            return DISK_MORE;
        if (vmdk_desc_span(doff, dsz, s->head_len, &dstart, &dlen))
            vmdk_create_type(h + dstart, dlen, ctype, sizeof ctype);
    }
    set_fmt(df, "VMDK", ctype[0] ? ctype : "unknown");
    df->capacity = cap * 512;
    bool stream = (flags & VMDK_FLAG_COMPRESSED) && comp == 1 &&
                  (!ctype[0] || strcmp(ctype, "streamOptimized") == 0);
    if (!stream) {
        verdict_set(vd, "not-stream-optimized", "%s is %s (version %u, "
                    "%scompressed grains), not streamOptimized; VM Import "
                    "would fail with 'Unsupported VMDK File Format'", label,
                    ctype[0] ? ctype : "a sparse VMDK", version,
                    (flags & VMDK_FLAG_COMPRESSED) ? "" : "no ");
        return DISK_BAD;
    }
    if (cap > OVA_MAX_CAPACITY / 512) {
        verdict_set(vd, "too-large", "%s has a capacity of %llu bytes; "
                    "ImportImage takes disks under 8 TiB", label,
                    (unsigned long long)cap * 512);
        return DISK_BAD;
    }
    return DISK_OK;
short_or_more:
    if (!at_end)
        return DISK_MORE;
    verdict_set(vd, s->total ? "truncated" : "empty", "%s is only %llu "
                "bytes, too short for a VMDK header", label,
                (unsigned long long)s->total);
    return DISK_BAD;
}

/* A VMware stream-optimized VMDK whose header says "grain directory at
 * end" ends with footer marker, footer (a second header holding the real
 * gdOffset) and an end-of-stream marker; without them it cannot be read.
 * qemu-img writes the directory near the start instead (gdOffset set) and
 * no footer, which VM Import accepts: nothing to check at the end then. */
static enum disk_step vmdk_end(const struct sniff *s,
                               struct ova_disk_facts *df,
                               struct ova_verdict *vd, const char *label)
{
    unsigned char t[1536];
    static const unsigned char zero[512];
    df->file_size = s->total;
    if (s->total % 512 != 0)
        goto truncated;          /* a stream is whole sectors */
    if (le64(s->head + 56) != VMDK_GD_AT_END) {
        /* the metadata (overHead sectors) comes first; less is cut short.
         * qemu-img ends its streams with the end-of-stream marker (a zero
         * sector) too: a cut inside the grains ends with grain data. */
        if (le64(s->head + 64) > s->total / 512 || s->total < 1024)
            goto truncated;
        sniff_last(s, t, 512);
        if (memcmp(t, zero, 512) != 0)
            goto truncated;
        return DISK_OK;
    }
    if (s->total < 1536 + 512)
        goto truncated;
    sniff_last(s, t, sizeof t);
    if (memcmp(t + 1024, zero, 512) != 0 || memcmp(t + 512, "KDMV", 4) != 0)
        goto truncated;
    return DISK_OK;
truncated:
    verdict_set(vd, "truncated", "%s stream does not end with its footer "
                "and end-of-stream marker: the file is truncated or "
                "damaged (VM Import: 'Uncompressed data has invalid "
                "length')", label);
    return DISK_BAD;
}

/* ---- VHD --------------------------------------------------------------- */

int vhd_footer_valid(const unsigned char f[512])
{
    if (memcmp(f, "conectix", 8) != 0)
        return 0;
    uint32_t sum = 0;
    for (size_t i = 0; i < 512; i++)
        if (i < 64 || i >= 68)
            sum += f[i];
    return (uint32_t)~sum == be32(f + 64);
}

static const char *vhd_type(uint32_t t)
{
    switch (t) {
    case 2: return "fixed";
    case 3: return "dynamic";
    case 4: return "differencing";
    default: return "unknown";
    }
}

static enum disk_step vhd_head(const struct sniff *s, bool at_end,
                               struct ova_disk_facts *df,
                               struct ova_verdict *vd, const char *label)
{
    const unsigned char *h = s->head;
    if (s->head_len < 512 && !at_end)
        return DISK_MORE;
    set_fmt(df, "VHD", "");
    if (s->head_len >= 512 && memcmp(h, "conectix", 8) == 0) {
        if (!vhd_footer_valid(h)) {
            verdict_set(vd, "bad-footer", "%s footer copy at the start has "
                        "a bad checksum", label);
            return DISK_BAD;
        }
        if (be32(h + 60) == 4) {
            verdict_set(vd, "differencing", "%s is a differencing disk; "
                        "VM Import needs a fixed or dynamic VHD", label);
            return DISK_BAD;
        }
        return DISK_OK;
    }
    /* no copy at the start: a fixed VHD, unless it is another format */
    const char *g = guess_format(h, s->head_len);
    if (strcmp(g, "unrecognised data") != 0) {
        verdict_set(vd, "bad-format", "%s is %s, not a VHD", label, g);
        return DISK_BAD;
    }
    return DISK_OK;
}

static enum disk_step vhd_end(const struct sniff *s,
                              struct ova_disk_facts *df,
                              struct ova_verdict *vd, const char *label)
{
    unsigned char f[512];
    df->file_size = s->total;
    if (s->total < 512) {
        verdict_set(vd, "bad-format", "%s is too short to hold a VHD "
                    "footer", label);
        return DISK_BAD;
    }
    sniff_last(s, f, 512);
    bool copy_ok = s->head_len >= 512 && vhd_footer_valid(s->head);
    if (copy_ok && memcmp(f, "conectix", 8) != 0) {
        verdict_set(vd, "truncated", "%s ends before its footer (the copy "
                    "at the start is there, the one at the end is not): "
                    "the file is truncated", label);
        return DISK_BAD;
    }
    if (!vhd_footer_valid(f)) {
        verdict_set(vd, "bad-footer", "%s has no valid footer in its last "
                    "512 bytes (%s); VM Import would fail with 'Footers "
                    "not identical'", label,
                    memcmp(f, "conectix", 8) ? "no 'conectix' cookie"
                                             : "bad checksum");
        return DISK_BAD;
    }
    uint32_t type = be32(f + 60);
    bool copy = s->head_len >= 512 && memcmp(s->head, "conectix", 8) == 0;
    if (copy && memcmp(s->head, f, 512) != 0) {
        verdict_set(vd, "bad-footer", "%s footer differs from its copy at "
                    "the start ('Footers not identical')", label);
        return DISK_BAD;
    }
    if (type != 2 && type != 3) {
        verdict_set(vd, type == 4 ? "differencing" : "bad-format",
                    "%s is a %s VHD (type %u); VM Import needs fixed or "
                    "dynamic", label, vhd_type(type), type);
        return DISK_BAD;
    }
    set_fmt(df, "VHD", vhd_type(type));
    df->capacity = be64(f + 48);
    if (df->capacity >= OVA_MAX_CAPACITY) {
        verdict_set(vd, "too-large", "%s has a capacity of %llu bytes; "
                    "ImportImage takes disks under 8 TiB", label,
                    (unsigned long long)df->capacity);
        return DISK_BAD;
    }
    return DISK_OK;
}

/* ---- VHDX -------------------------------------------------------------- */

static enum disk_step vhdx_head(const struct sniff *s, bool at_end,
                                struct ova_disk_facts *df,
                                struct ova_verdict *vd, const char *label)
{
    if (s->head_len < 8 && !at_end)
        return DISK_MORE;
    set_fmt(df, "VHDX", "");
    if (s->head_len < 8 || memcmp(s->head, "vhdxfile", 8) != 0) {
        verdict_set(vd, "bad-format", "%s is %s, not a VHDX (no 'vhdxfile' "
                    "signature)", label, guess_format(s->head, s->head_len));
        return DISK_BAD;
    }
    return DISK_OK;
}

/* ---- RAW --------------------------------------------------------------- */

static const unsigned char esp_guid[16] = {
    0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11,
    0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b};

/* Does the GPT (header at 512) list an EFI system partition within the
 * bytes we hold? */
static bool gpt_has_esp(const struct sniff *s)
{
    const unsigned char *g = s->head + 512;
    uint64_t lba = le64(g + 72);
    uint32_t count = le32(g + 80), esz = le32(g + 84);
    if (esz < 128 || lba > SNIFF_HEAD / 512)
        return false;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t off = lba * 512 + i * esz;
        if (off + 16 > s->head_len)
            break;
        if (memcmp(s->head + off, esp_guid, 16) == 0)
            return true;
    }
    return false;
}

static bool mbr_has_partition(const unsigned char *h)
{
    if (h[510] != 0x55 || h[511] != 0xaa)
        return false;
    for (int i = 0; i < 4; i++) {
        const unsigned char *e = h + 446 + 16 * i;
        if (e[4] != 0 && le32(e + 12) != 0)
            return true;
    }
    return false;
}

static enum disk_step raw_head(const struct sniff *s, bool at_end,
                               struct ova_disk_facts *df, char *fw,
                               size_t fwsz, struct ova_verdict *vd,
                               const char *label)
{
    const unsigned char *h = s->head;
    if (s->head_len < 1024 && !at_end)
        return DISK_MORE;
    bool gpt = s->head_len >= 1024 && memcmp(h + 512, "EFI PART", 8) == 0;
    bool mbr = s->head_len >= 512 && mbr_has_partition(h);
    if (!gpt && !mbr) {
        const char *g = guess_format(h, s->head_len);
        if (strcmp(g, "unrecognised data") != 0)
            verdict_set(vd, "bad-format", "%s is %s, not a raw disk", label,
                        g);
        else
            verdict_set(vd, "no-partition-table", "%s has no MBR or GPT "
                        "partition table; VM Import would fail with 'No "
                        "valid partitions'", label);
        return DISK_BAD;
    }
    /* the GPT entries follow the header; wait for them (16 KiB + 1 KiB) */
    if (gpt && s->head_len < 1024 + 16384 && !at_end)
        return DISK_MORE;
    set_fmt(df, "RAW", gpt ? "gpt" : "mbr");
    ova_strlcpy(fw, gpt && gpt_has_esp(s) ? "efi" : "bios", fwsz);
    return DISK_OK;
}

static enum disk_step raw_end(const struct sniff *s,
                              struct ova_disk_facts *df,
                              struct ova_verdict *vd, const char *label)
{
    df->file_size = s->total;
    df->capacity = s->total;
    if (s->total % 512 != 0) {
        verdict_set(vd, "bad-size", "%s is %llu bytes, not a whole number "
                    "of 512-byte sectors", label,
                    (unsigned long long)s->total);
        return DISK_BAD;
    }
    if (s->total >= OVA_MAX_CAPACITY) {
        verdict_set(vd, "too-large", "%s is %llu bytes; ImportImage takes "
                    "disks under 8 TiB", label, (unsigned long long)s->total);
        return DISK_BAD;
    }
    return DISK_OK;
}

enum disk_step disk_check_head(enum ova_kind kind, const struct sniff *s,
                               bool at_end, struct ova_disk_facts *df,
                               char *firmware, size_t fwsz,
                               struct ova_verdict *vd, const char *label)
{
    if (at_end && s->total == 0) {
        verdict_set(vd, "empty", "%s is empty", label);
        return DISK_BAD;
    }
    switch (kind) {
    case OVA_KIND_VMDK: return vmdk_head(s, at_end, df, vd, label);
    case OVA_KIND_VHD: return vhd_head(s, at_end, df, vd, label);
    case OVA_KIND_VHDX: return vhdx_head(s, at_end, df, vd, label);
    case OVA_KIND_RAW:
        return raw_head(s, at_end, df, firmware, fwsz, vd, label);
    default: break;
    }
    verdict_set(vd, "bad-format", "%s is not a disk kind", label);
    return DISK_BAD;
}

enum disk_step disk_check_end(enum ova_kind kind, const struct sniff *s,
                              struct ova_disk_facts *df,
                              struct ova_verdict *vd, const char *label)
{
    switch (kind) {
    case OVA_KIND_VMDK: return vmdk_end(s, df, vd, label);
    case OVA_KIND_VHD: return vhd_end(s, df, vd, label);
    case OVA_KIND_VHDX:
        df->file_size = s->total;
        return DISK_OK;
    case OVA_KIND_RAW: return raw_end(s, df, vd, label);
    default: break;
    }
    verdict_set(vd, "bad-format", "%s is not a disk kind", label);
    return DISK_BAD;
}
