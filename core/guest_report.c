/* guest_report.c — the guest check's report: accessors, JSON (cJSON),
 * text, and `amifs inspect --guest FILE` (an OVA's disk members found by
 * seeking through the tar with libarchive). See core/guest.h. */
#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/guest_int.h"

enum guest_verdict guest_report_verdict(const struct guest_report *r)
{
    return r->verdict;
}

const char *guest_verdict_word(enum guest_verdict v)
{
    static const char *const w[] = {"ok", "warnings", "refused",
                                    "not-checked"};
    return (unsigned)v < 4 ? w[v] : "not-checked";
}

const char *guest_report_reason(const struct guest_report *r)
{
    return r->reason;
}

const char *guest_report_arch(const struct guest_report *r)
{
    return r->f.arch;
}

const char *guest_report_warnings(const struct guest_report *r)
{
    return r->warnings;
}

uint64_t guest_report_bytes(const struct guest_report *r)
{
    return r->bytes;
}

void guest_report_line(const struct guest_report *r, char *out, size_t n)
{
    switch (r->verdict) {
    case GUEST_REFUSED:
        snprintf(out, n, "refused: %s", r->reason);
        break;
    case GUEST_NOT_CHECKED:
        snprintf(out, n, "not checked: %s", r->reason);
        break;
    case GUEST_WARNINGS:
        snprintf(out, n, "warnings: %s", r->warnings);
        break;
    default:
        snprintf(out, n, "ok");
    }
}

/* ---- JSON ----------------------------------------------------------------- */

static cJSON *str_or_null(const char *s)
{
    return s && *s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *tri(int v)
{
    return v < 0 ? cJSON_CreateNull() : cJSON_CreateBool(v > 0);
}

static cJSON *strings(const char (*v)[64], size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *part_json(const struct gpart *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", p->index);
    cJSON_AddNumberToObject(o, "offset", (double)p->off);
    cJSON_AddNumberToObject(o, "size", (double)p->len);
    cJSON_AddStringToObject(o, "type", p->type);
    cJSON_AddItemToObject(o, "filesystem", str_or_null(p->fs));
    cJSON_AddBoolToObject(o, "esp", p->esp);
    cJSON_AddItemToObject(o, "role", str_or_null(p->role));
    cJSON_AddBoolToObject(o, "checked", p->read);
    cJSON_AddItemToObject(o, "note", str_or_null(p->note));
    return o;
}

static cJSON *disks_json(const struct guest_report *r)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t d = 0; a && d < r->ndisks; d++) {
        const struct gdiskrep *k = &r->disks[d];
        cJSON *o = cJSON_CreateObject(), *parts = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "name", k->name);
        cJSON_AddItemToObject(o, "format", str_or_null(k->format));
        cJSON_AddNumberToObject(o, "virtual_size", (double)k->vsize);
        cJSON_AddItemToObject(o, "partition_table", str_or_null(k->table));
        cJSON_AddItemToObject(o, "note", str_or_null(k->note));
        for (size_t i = 0; i < k->nparts; i++)
            cJSON_AddItemToArray(parts, part_json(&k->parts[i]));
        cJSON_AddItemToObject(o, "partitions", parts);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *facts_json(const struct guest_report *r, cJSON *o)
{
    const struct gfacts *f = &r->f;
    cJSON *os = cJSON_AddObjectToObject(o, "os");
    cJSON_AddItemToObject(os, "id", str_or_null(f->os_id));
    cJSON_AddItemToObject(os, "version_id", str_or_null(f->version_id));
    cJSON_AddItemToObject(os, "pretty_name", str_or_null(f->pretty));
    cJSON_AddItemToObject(o, "architecture", str_or_null(f->arch));
    cJSON_AddItemToObject(o, "kernels", strings(f->kernels, f->nkernels));
    cJSON_AddItemToObject(o, "newest_kernel", str_or_null(f->newest));
    cJSON_AddItemToObject(o, "lib_modules", strings(f->modules,
                                                    f->nmodules));
    cJSON *g = cJSON_AddObjectToObject(o, "grub");
    cJSON_AddItemToObject(g, "kind", str_or_null(f->grub));
    cJSON_AddItemToObject(g, "default", str_or_null(f->grub_default));
    cJSON_AddBoolToObject(g, "bls", f->bls);
    cJSON_AddNumberToObject(g, "bls_entries", (double)f->nbls);
    cJSON_AddItemToObject(o, "fstab_device_names",
                          strings(f->fstab_dev, f->nfstab_dev));
    cJSON *i = cJSON_AddObjectToObject(o, "initramfs");
    cJSON_AddItemToObject(i, "path", str_or_null(f->initramfs));
    cJSON_AddItemToObject(i, "ena", tri(f->ena));
    cJSON_AddItemToObject(i, "nvme", tri(f->nvme));
    cJSON_AddItemToObject(i, "note", str_or_null(f->initramfs_note));
    cJSON *n = cJSON_AddObjectToObject(o, "static_network");
    cJSON_AddBoolToObject(n, "found", f->static_net);
    cJSON_AddItemToObject(n, "file", str_or_null(f->static_net_file));
    cJSON_AddBoolToObject(o, "cloud_init", f->cloud_init);
    return o;
}

static cJSON *report_json(const struct guest_report *r)
{
    cJSON *o = cJSON_CreateObject(), *w = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "verdict", guest_verdict_word(r->verdict));
    cJSON_AddItemToObject(o, "reason", str_or_null(r->reason));
    cJSON_AddItemToObject(o, "message", str_or_null(r->message));
    for (size_t i = 0; i < r->nwarn; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "code", r->warn_code[i]);
        cJSON_AddStringToObject(x, "text", r->warn[i]);
        cJSON_AddItemToArray(w, x);
    }
    cJSON_AddItemToObject(o, "warnings", w);
    cJSON_AddNumberToObject(o, "bytes_read", (double)r->bytes);
    cJSON_AddItemToObject(o, "boot_mode", str_or_null(r->boot_mode));
    cJSON_AddItemToObject(o, "root", str_or_null(r->root));
    cJSON_AddItemToObject(o, "boot", str_or_null(r->boot));
    cJSON_AddItemToObject(o, "disks", disks_json(r));
    return facts_json(r, o);
}

char *guest_report_json(const struct guest_report *r)
{
    cJSON *o = report_json(r);
    char *s = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    return s;
}

/* ---- text ------------------------------------------------------------------ */

static void line(char **buf, size_t *len, const char *key, const char *val)
{
    if (!*buf || !val || !*val)
        return;
    size_t add = strlen(key) + strlen(val) + 4;
    char *b = realloc(*buf, *len + add);
    if (!b) {
        free(*buf);
        *buf = NULL;
        return;
    }
    *len += (size_t)snprintf(b + *len, add, "%s: %s\n", key, val);
    *buf = b;
}

static const char *tri_word(int v)
{
    return v < 0 ? "not checked" : v ? "yes" : "no";
}

char *guest_report_text(const struct guest_report *r)
{
    const struct gfacts *f = &r->f;
    char *b = calloc(1, 1), v[640];
    size_t len = 0;
    guest_report_line(r, v, sizeof v);
    line(&b, &len, "verdict", v);
    line(&b, &len, "message", r->message);
    if (r->verdict != GUEST_WARNINGS)
        line(&b, &len, "warnings", r->warnings);
    for (size_t d = 0; d < r->ndisks; d++) {
        const struct gdiskrep *k = &r->disks[d];
        if (!k->format[0])
            snprintf(v, sizeof v, "%s not read: %s", k->name, k->note);
        else
            snprintf(v, sizeof v, "%s %s, %s table, %zu partition(s)%s%s",
                     k->name, k->format, k->table, k->nparts,
                     k->note[0] ? ": " : "", k->note);
        line(&b, &len, "disk", v);
    }
    snprintf(v, sizeof v, "%s%s%s", f->pretty[0] ? f->pretty : f->os_id,
             f->version_id[0] ? " / " : "", f->version_id);
    line(&b, &len, "os", v);
    line(&b, &len, "architecture", f->arch);
    line(&b, &len, "root", r->root);
    line(&b, &len, "boot", r->boot);
    line(&b, &len, "boot mode", r->boot_mode);
    line(&b, &len, "newest kernel", f->newest);
    snprintf(v, sizeof v, "%s%s%s%s", f->grub, f->bls ? " (BLS entries)" : "",
             f->grub_default[0] ? ", default " : "", f->grub_default);
    line(&b, &len, "grub", v);
    if (f->initramfs[0] || f->ena >= 0) {
        snprintf(v, sizeof v, "ENA %s, NVMe %s%s%s", tri_word(f->ena),
                 tri_word(f->nvme), f->initramfs[0] ? " in " : "",
                 f->initramfs);
        line(&b, &len, "drivers", v);
    }
    line(&b, &len, "drivers note", f->initramfs_note);
    line(&b, &len, "cloud-init", f->have_root ? (f->cloud_init ? "yes" : "no")
                                              : "");
    snprintf(v, sizeof v, "%llu", (unsigned long long)r->bytes);
    line(&b, &len, "bytes read", v);
    return b;
}

/* ---- amifs inspect --guest FILE ----------------------------------------- */

struct fdreader {
    int fd;
    uint64_t base;
};

static int fd_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct fdreader *f = ctx;
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t got = pread(f->fd, p, len, (off_t)(f->base + off));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? -errno : -EIO;
        p += got;
        off += (uint64_t)got;
        len -= (size_t)got;
    }
    return 0;
}

static bool disk_member(const char *name)
{
    static const char *const ext[] = {".vmdk", ".vhd", ".vhdx", ".img",
                                      ".raw"};
    size_t n = strlen(name);
    for (size_t i = 0; i < 5; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(name + n - e, ext[i]) == 0)
            return true;
    }
    return false;
}

/* An OVA's disk members (offset and size inside the tar), in tar order. */
static size_t ova_members(const char *path, struct fdreader *rd,
                          struct guest_disk *d, char names[][128], int fd)
{
    struct archive *a = archive_read_new();
    size_t n = 0;
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 64 << 10) != ARCHIVE_OK) {
        archive_read_free(a);
        return 0;
    }
    struct archive_entry *e;
    while (n < GUEST_MAX_DISKS &&
           archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *nm = archive_entry_pathname(e);
        if (nm && disk_member(nm) && archive_entry_size(e) > 0) {
            rd[n].fd = fd;
            rd[n].base = (uint64_t)archive_filter_bytes(a, 0);
            snprintf(names[n], 128, "%s", nm);
            d[n] = (struct guest_disk){fd_read, &rd[n],
                                       (uint64_t)archive_entry_size(e),
                                       names[n]};
            n++;
        }
        archive_read_data_skip(a);
    }
    archive_read_free(a);
    return n;
}

static bool is_ova(const char *path, int fd)
{
    unsigned char h[512];
    size_t n = strlen(path);
    if (n > 4 && strcasecmp(path + n - 4, ".ova") == 0)
        return true;
    return pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
           memcmp(h + 257, "ustar", 5) == 0;
}

static int print_report(struct guest_report *r, FILE *out, bool json)
{
    char *s = json ? guest_report_json(r) : guest_report_text(r);
    if (!s)
        return 2;
    fprintf(out, "%s%s", s, json ? "\n" : "");
    free(s);
    int rc = r->verdict == GUEST_REFUSED      ? 1
             : r->verdict == GUEST_NOT_CHECKED ? 3
                                                : 0;
    guest_report_free(r);
    return rc;
}

int guest_inspect_file(const char *path, FILE *out, bool json)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "amifs inspect: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    struct fdreader rd[GUEST_MAX_DISKS] = {{fd, 0}};
    struct guest_disk d[GUEST_MAX_DISKS];
    char names[GUEST_MAX_DISKS][128];
    size_t n = 0;
    struct guest_report *r;
    if (is_ova(path, fd)) {
        n = ova_members(path, rd, d, names, fd);
        r = n ? guest_check(d, n, 0)
              : guest_report_unread("no disk member in the OVA");
    } else {
        const char *base = strrchr(path, '/');
        d[0] = (struct guest_disk){fd_read, &rd[0], (uint64_t)st.st_size,
                                   base ? base + 1 : path};
        r = guest_check(d, 1, 0);
    }
    close(fd);
    if (!r) {
        fprintf(stderr, "amifs inspect: out of memory\n");
        return 2;
    }
    return print_report(r, out, json);
}
