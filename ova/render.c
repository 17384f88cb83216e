/* render.c — facts and verdict for people (text) and programs (JSON), and
 * ova_inspect_file(), the offline twin of a copy into imports/. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ova/internal.h"

/* CIM_OperatingSystem ids (DSP1043) that are Windows; used only when the
 * OVF carries no vmw:osType / vbox:OSType string. */
static bool cim_windows(int id)
{
    return (id >= 58 && id <= 77) || id == 102 || id == 104 ||
           (id >= 110 && id <= 116);
}

static bool cim_linux(int id)
{
    return id == 36 || (id >= 79 && id <= 101 && id != 81) ||
           (id >= 105 && id <= 108);
}

const char *ova_facts_platform(const struct ova_facts *f)
{
    const char *t = f->os_type[0] ? f->os_type : f->os_description;
    if (t[0]) {
        if (strcasestr(t, "win"))
            return "Windows";
        static const char *const linuxes[] = {
            "linux", "ubuntu", "debian", "centos", "rhel", "redhat", "suse",
            "sles", "oracle", "fedora", "rocky", "alma", "amazon"};
        for (size_t i = 0; i < sizeof linuxes / sizeof linuxes[0]; i++)
            if (strcasestr(t, linuxes[i]))
                return "Linux";
    }
    if (cim_windows(f->os_id))
        return "Windows";
    if (cim_linux(f->os_id))
        return "Linux";
    return NULL;
}

static const char *verdict_word(const struct ova_validator *v)
{
    if (ova_validator_code(v)[0])
        return "refused";
    return v->finished ? "accepted" : "pending";
}

static cJSON *disk_json(const struct ova_disk_facts *d)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "format", d->format);
    cJSON_AddStringToObject(o, "subformat", d->subformat);
    cJSON_AddNumberToObject(o, "file_size", (double)d->file_size);
    cJSON_AddNumberToObject(o, "data_offset", (double)d->data_offset);
    cJSON_AddNumberToObject(o, "capacity", (double)d->capacity);
    return o;
}

static void add_str_or_null(cJSON *o, const char *k, const char *s)
{
    if (s && s[0])
        cJSON_AddStringToObject(o, k, s);
    else
        cJSON_AddNullToObject(o, k);
}

static void add_facts(cJSON *o, const struct ova_facts *f)
{
    cJSON_AddNumberToObject(o, "bytes", (double)f->bytes);
    cJSON *disks = cJSON_AddArrayToObject(o, "disks");
    unsigned n = f->ndisks < OVA_FACTS_MAX_DISKS ? f->ndisks
                                                  : OVA_FACTS_MAX_DISKS;
    for (unsigned i = 0; disks && i < n; i++)
        cJSON_AddItemToArray(disks, disk_json(&f->disks[i]));
    cJSON_AddNumberToObject(o, "ndisks", f->ndisks);
    cJSON *os = cJSON_AddObjectToObject(o, "os");
    if (os) {
        if (f->os_id >= 0)
            cJSON_AddNumberToObject(os, "id", f->os_id);
        else
            cJSON_AddNullToObject(os, "id");
        add_str_or_null(os, "type", f->os_type);
        add_str_or_null(os, "description", f->os_description);
    }
    add_str_or_null(o, "firmware", f->firmware);
    add_str_or_null(o, "boot_mode", ova_facts_boot_mode(f));
    add_str_or_null(o, "platform", ova_facts_platform(f));
    cJSON *mf = cJSON_AddObjectToObject(o, "manifest");
    if (mf) {
        add_str_or_null(mf, "algorithm", f->manifest);
        cJSON_AddBoolToObject(mf, "verified", f->manifest_verified);
        cJSON_AddNumberToObject(mf, "read_back",
                                (double)f->manifest_read_back);
    }
}

char *ova_validator_json(const struct ova_validator *v, const char *file)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const struct ova_facts *f = ova_validator_facts(v);
    if (file)
        cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "kind", ova_kind_format(f->kind));
    cJSON_AddStringToObject(o, "verdict", verdict_word(v));
    add_str_or_null(o, "code", ova_validator_code(v));
    add_str_or_null(o, "reason", ova_validator_reason(v));
    add_facts(o, f);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* Append to a growing malloc'd string; on failure frees and NULLs *s. */
static void app(char **s, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void app(char **s, size_t *len, const char *fmt, ...)
{
    if (!*s)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *t = n < 0 ? NULL : realloc(*s, *len + (size_t)n + 1);
    if (!t) {
        free(*s);
        *s = NULL;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *s = t;
    *len += (size_t)n;
}

static void disks_text(char **s, size_t *len, const struct ova_facts *f)
{
    unsigned n = f->ndisks < OVA_FACTS_MAX_DISKS ? f->ndisks
                                                  : OVA_FACTS_MAX_DISKS;
    app(s, len, "disks: %u\n", f->ndisks);
    for (unsigned i = 0; i < n; i++) {
        const struct ova_disk_facts *d = &f->disks[i];
        app(s, len, "disk %u: %s%s%s %s, %" PRIu64 " bytes, capacity %"
            PRIu64 "\n", i + 1, d->name, d->name[0] ? " " : "", d->format,
            d->subformat[0] ? d->subformat : "-", d->file_size, d->capacity);
    }
}

char *ova_validator_text(const struct ova_validator *v, const char *file)
{
    const struct ova_facts *f = ova_validator_facts(v);
    size_t len = 0;
    char *s = calloc(1, 1);
    const char *code = ova_validator_code(v);
    if (file)
        app(&s, &len, "file: %s\n", file);
    if (code[0])
        app(&s, &len, "verdict: refused (%s) %s\n", code,
            ova_validator_reason(v));
    else
        app(&s, &len, "verdict: %s\n", verdict_word(v));
    app(&s, &len, "kind: %s\nbytes: %" PRIu64 "\n", ova_kind_format(f->kind),
        f->bytes);
    disks_text(&s, &len, f);
    if (f->os_id >= 0 || f->os_type[0])
        app(&s, &len, "os: id %d, type %s%s%s\n", f->os_id,
            f->os_type[0] ? f->os_type : "-",
            f->os_description[0] ? ", " : "", f->os_description);
    const char *bm = ova_facts_boot_mode(f), *pl = ova_facts_platform(f);
    app(&s, &len, "firmware: %s\nboot_mode: %s\nplatform: %s\n",
        f->firmware[0] ? f->firmware : "unknown", bm ? bm : "unknown",
        pl ? pl : "unknown");
    if (f->manifest[0])
        app(&s, &len, "manifest: %s, %s%s\n", f->manifest,
            f->manifest_verified ? "verified" : "not verified",
            f->manifest_read_back ? " (it comes after the members it lists:"
                                    " checked by reading them back)"
                                  : "");
    return s;
}

static int inspect_stream(struct ova_validator *v, FILE *in)
{
    static const size_t chunk = 256 * 1024;
    unsigned char *buf = malloc(chunk);
    if (!buf)
        return -1;
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, chunk, in)) > 0)
        if (ova_validator_feed(v, buf, n) < 0)
            break;
    if (ferror(in))
        rc = -1;
    free(buf);
    return rc;
}

/* ova_read_fn over a local file: pread. */
static int file_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    FILE *in = ctx;
    for (size_t got = 0; got < len;) {
        ssize_t n = pread(fileno(in), (char *)buf + got, len - got,
                          (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        got += (size_t)n;
    }
    return 0;
}

/* 0 accepted, 1 refused, -1 unreadable (*what says why). */
static int inspect_verdict(struct ova_validator *v, FILE *in,
                           const char **what)
{
    if (ova_validator_finish(v) != 0)
        return 1;
    if (!ova_validator_facts(v)->manifest_read_back)
        return 0;
    int rc = ova_validator_verify_late(v, file_read, NULL, in);
    *what = "read error";
    return rc == 0 ? 0 : rc == -1 ? 1 : -1;
}

int ova_inspect_file(const char *path, FILE *out, bool json)
{
    FILE *in = fopen(path, "rb");
    if (!in) {
        fprintf(out, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    struct ova_validator *v = ova_validator_new(ova_kind_from_name(path));
    const char *what = v ? "read error" : "out of memory";
    int verdict = v && inspect_stream(v, in) == 0 ? inspect_verdict(v, in,
                                                                    &what)
                                                  : -1;
    fclose(in);
    if (verdict < 0) {
        fprintf(out, "%s: %s\n", path, what);
        ova_validator_free(v);
        return -1;
    }
    char *s = json ? ova_validator_json(v, path) : ova_validator_text(v, path);
    if (s)
        fprintf(out, "%s%s", s, json ? "\n" : "");
    free(s);
    ova_validator_free(v);
    return verdict;
}
