/* guest_initrd.c — are the ENA and NVMe drivers in the guest's initramfs?
 * The initramfs is read with libarchive (cpio, through its gzip, xz, zstd,
 * lz4, bzip2 filters), streamed from the ext filesystem; an early
 * uncompressed cpio (microcode) followed by the compressed one is read
 * segment by segment. A driver is there when the archive holds
 * ena.ko[.xz|.zst|.gz] (nvme.ko…), or when modules.builtin names it
 * (built into the kernel). See core/guest_int.h. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest_int.h"

#define CHUNK (64u << 10)
#define SEGMENTS 4

struct src {
    struct gextfile *f;
    unsigned char buf[CHUNK];
    uint64_t skip;    /* bytes to drop before the segment */
};

static la_ssize_t src_read(struct archive *a, void *arg, const void **out)
{
    struct src *s = arg;
    (void)a;
    while (s->skip > 0) {
        size_t want = s->skip < CHUNK ? (size_t)s->skip : CHUNK;
        long got = gext_fread(s->f, s->buf, want);
        if (got <= 0)
            return got < 0 ? -1 : 0;
        s->skip -= (uint64_t)got;
    }
    long got = gext_fread(s->f, s->buf, CHUNK);
    *out = s->buf;
    return got;
}

/* Whether a module path's base name is NAME.ko with an optional
 * compression suffix. */
static bool module_named(const char *path, const char *name)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(name);
    if (strncmp(b, name, n) != 0 || strncmp(b + n, ".ko", 3) != 0)
        return false;
    const char *rest = b + n + 3;
    return !*rest || !strcmp(rest, ".xz") || !strcmp(rest, ".zst") ||
           !strcmp(rest, ".gz");
}

/* modules.builtin text: "kernel/drivers/nvme/host/nvme.ko" lines. */
static void builtin_text(char *text, struct gfacts *f)
{
    for (char *l = text; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (module_named(l, "ena"))
            f->ena = 1;
        if (module_named(l, "nvme"))
            f->nvme = 1;
        l = nl ? nl + 1 : NULL;
    }
}

void gfacts_builtin(struct gext *e, const char *path, struct gfacts *f)
{
    char *text = gext_slurp(e, path, 1u << 20, NULL);
    if (text)
        builtin_text(text, f);
    free(text);
}

static void read_builtin(struct archive *a, struct gfacts *f)
{
    char *text = malloc(1u << 20);
    la_ssize_t got, have = 0;
    while (text && (got = archive_read_data(a, text + have,
                                            (1u << 20) - 1 - (size_t)have)) > 0)
        have += got;
    if (text) {
        text[have] = '\0';
        builtin_text(text, f);
    }
    free(text);
}

/* One archive of the initramfs from offset `at`. Returns the offset of
 * the next segment (an uncompressed cpio followed by more), or 0. */
static uint64_t segment(struct gext *e, const char *path, uint64_t at,
                        struct gfacts *f, int *entries, bool *broken)
{
    struct src *s = calloc(1, sizeof *s);
    struct archive *a = archive_read_new();
    uint64_t next = 0;
    if (!s || !a || !(s->f = gext_fopen(e, path)))
        goto out;
    s->skip = at;
    archive_read_support_filter_all(a);
    archive_read_support_format_cpio(a);
    if (archive_read_open(a, s, NULL, src_read, NULL) != ARCHIVE_OK)
        goto out;
    struct archive_entry *ent;
    int r;
    while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(ent);
        (*entries)++;
        if (p && module_named(p, "ena"))
            f->ena = 1;
        if (p && module_named(p, "nvme"))
            f->nvme = 1;
        if (p && strstr(p, "modules.builtin") &&
            !strstr(p, "modules.builtin."))
            read_builtin(a, f);
        if (f->ena == 1 && f->nvme == 1)
            goto out;
    }
    if (r != ARCHIVE_EOF)
        *broken = true;
    if (r == ARCHIVE_EOF && archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE)
        next = at + (uint64_t)archive_filter_bytes(a, 0);
out:
    if (a)
        archive_read_free(a);
    if (s)
        gext_fclose(s->f);
    free(s);
    return next;
}

/* The offset of the first non-zero byte at or after `at` (the padding
 * between segments), or 0 at the end. */
static uint64_t past_zeros(struct gext *e, const char *path, uint64_t at)
{
    struct gextfile *f = gext_fopen(e, path);
    unsigned char *b = malloc(CHUNK);
    uint64_t pos = 0, found = 0;
    long got = 1;
    while (f && b && got > 0 && !found) {
        got = gext_fread(f, b, CHUNK);
        for (long i = 0; i < got && !found; i++)
            if (pos + (uint64_t)i >= at && b[i])
                found = pos + (uint64_t)i;
        pos += got > 0 ? (uint64_t)got : 0;
    }
    free(b);
    gext_fclose(f);
    return found;
}

void gfacts_initrd(struct gext *e, const char *path, struct gfacts *f)
{
    int entries = 0;
    uint64_t at = 0;
    bool broken = false;
    snprintf(f->initramfs, sizeof f->initramfs, "%s", path);
    for (int i = 0; i < SEGMENTS; i++) {
        uint64_t next = segment(e, path, at, f, &entries, &broken);
        if (next == 0 || (f->ena == 1 && f->nvme == 1))
            break;
        if ((at = past_zeros(e, path, next)) == 0)
            break;
    }
    if (entries == 0) {
        snprintf(f->initramfs_note, sizeof f->initramfs_note,
                 "%s is not a cpio archive amifs can read", path);
        return;
    }
    if (broken && (f->ena != 1 || f->nvme != 1)) {
        snprintf(f->initramfs_note, sizeof f->initramfs_note,
                 "%s could not be read to its end", path);
        return;
    }
    if (f->ena != 1)
        f->ena = 0;
    if (f->nvme != 1)
        f->nvme = 0;
}
