/* ovf.c — the OVF descriptor through expat.
 *
 * Namespaces are processed (expat joins URI and local name with '|'), but
 * we match on local names only: exporters disagree on prefixes, and VMware,
 * VirtualBox and ovftool all use the DMTF names for what we read. DOCTYPE
 * declarations are refused outright — an OVF never needs one, and refusing
 * the DOCTYPE is what makes entity expansion (billion laughs) impossible. */
#include <expat.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ova/internal.h"

#define OVF_MAX_DEPTH 64
#define TEXT_MAX 256

enum sect { S_NONE, S_REFS, S_DISKS, S_OS, S_VHS };

struct item {
    bool open;
    int type;
    char name[64];
    char host[256];
};

struct ovf_parser {
    XML_Parser xp;
    struct ovf_desc *d;
    struct ova_verdict vd;
    bool refused;
    size_t fed;
    int depth;
    enum sect sect;
    int sect_depth;
    struct item item;
    char text[TEXT_MAX];   /* character data of the current leaf */
    size_t text_len;
    bool collecting;
};

static const char *local(const char *name)
{
    const char *bar = strrchr(name, '|');
    return bar ? bar + 1 : name;
}

static const char *attr(const char **atts, const char *lname)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (strcmp(local(atts[i]), lname) == 0)
            return atts[i + 1];
    return NULL;
}

static void refuse(struct ovf_parser *p, const char *code, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static void refuse(struct ovf_parser *p, const char *code, const char *fmt,
                   ...)
{
    va_list ap;
    if (p->refused)
        return;
    p->refused = true;
    ova_strlcpy(p->vd.code, code, sizeof p->vd.code);
    va_start(ap, fmt);
    vsnprintf(p->vd.reason, sizeof p->vd.reason, fmt, ap);
    va_end(ap);
    XML_StopParser(p->xp, XML_FALSE);
}

/* "byte * 2^20", "byte*2^30", "KiloBytes", "MegaBytes", "GigaBytes". */
static uint64_t unit_multiplier(const char *u)
{
    if (!u || !*u)
        return 1;
    const char *caret = strstr(u, "2^");
    if (caret) {
        long e = strtol(caret + 2, NULL, 10);
        return (e >= 0 && e < 63) ? (uint64_t)1 << e : 0;
    }
    if (strncasecmp(u, "kilobyte", 8) == 0) return 1ULL << 10;
    if (strncasecmp(u, "megabyte", 8) == 0) return 1ULL << 20;
    if (strncasecmp(u, "gigabyte", 8) == 0) return 1ULL << 30;
    if (strncasecmp(u, "terabyte", 8) == 0) return 1ULL << 40;
    return 1;
}

static uint64_t parse_u64(const char *s, bool *ok)
{
    char *end;
    *ok = false;
    if (!s || !*s || *s == '-')
        return 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end != '\0')
        return 0;
    *ok = true;
    return x;
}

static void on_file(struct ovf_parser *p, const char **atts)
{
    if (p->d->nfiles == OVF_MAX_FILES) {
        refuse(p, "bad-ovf", "the OVF lists more than %s files", "256");
        return;
    }
    struct ovf_file *f = &p->d->files[p->d->nfiles++];
    const char *href = attr(atts, "href"), *id = attr(atts, "id");
    ova_strlcpy(f->href, href ? href : "", sizeof f->href);
    ova_strlcpy(f->id, id ? id : "", sizeof f->id);
    f->size = parse_u64(attr(atts, "size"), &f->has_size);
    f->chunked = attr(atts, "chunkSize") != NULL;
}

static void on_disk(struct ovf_parser *p, const char **atts)
{
    if (p->d->ndisks == OVF_MAX_DISKS) {
        refuse(p, "too-many-disks", "the OVF declares more than %s disks; "
               "VM Import takes at most 21", "64");
        return;
    }
    struct ovf_disk *k = &p->d->disks[p->d->ndisks++];
    const char *id = attr(atts, "diskId"), *ref = attr(atts, "fileRef");
    const char *fmt = attr(atts, "format");
    ova_strlcpy(k->id, id ? id : "", sizeof k->id);
    ova_strlcpy(k->file_ref, ref ? ref : "", sizeof k->file_ref);
    ova_strlcpy(k->format, fmt ? fmt : "", sizeof k->format);
    bool ok;
    uint64_t cap = parse_u64(attr(atts, "capacity"), &ok);
    uint64_t mul = unit_multiplier(attr(atts, "capacityAllocationUnits"));
    if (ok && mul && cap > UINT64_MAX / mul)
        k->capacity = UINT64_MAX;
    else
        k->capacity = ok ? cap * mul : 0;
}

static void on_os(struct ovf_parser *p, const char **atts)
{
    bool ok;
    uint64_t id = parse_u64(attr(atts, "id"), &ok);
    p->d->os_id = ok && id < 100000 ? (int)id : -1;
    const char *t = attr(atts, "osType");
    if (t)
        ova_strlcpy(p->d->os_type, t, sizeof p->d->os_type);
}

static void on_config(struct ovf_parser *p, const char *ln, const char **atts)
{
    const char *key = attr(atts, "key"), *val = attr(atts, "value");
    if (strcmp(ln, "Config") == 0 && key && val &&
        strcmp(key, "firmware") == 0 && strcasecmp(val, "efi") == 0)
        ova_strlcpy(p->d->firmware, "efi", sizeof p->d->firmware);
    const char *type = attr(atts, "type");         /* VirtualBox */
    if (strcmp(ln, "Firmware") == 0 && type && strncasecmp(type, "EFI", 3)
        == 0)
        ova_strlcpy(p->d->firmware, "efi", sizeof p->d->firmware);
}

static bool is_item(const char *ln)
{
    return strcmp(ln, "Item") == 0 || strcmp(ln, "StorageItem") == 0 ||
           strcmp(ln, "EthernetPortItem") == 0;
}

static void start_section(struct ovf_parser *p, const char *ln,
                          const char **atts)
{
    enum sect s = S_NONE;
    if (strcmp(ln, "References") == 0)
        s = S_REFS;
    else if (strcmp(ln, "DiskSection") == 0)
        s = S_DISKS;
    else if (strcmp(ln, "OperatingSystemSection") == 0)
        s = S_OS;
    else if (strcmp(ln, "VirtualHardwareSection") == 0)
        s = S_VHS;
    if (s == S_NONE || p->sect != S_NONE)
        return;
    p->sect = s;
    p->sect_depth = p->depth;
    if (s == S_OS)
        on_os(p, atts);
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
    struct ovf_parser *p = ud;
    const char *ln = local(name);
    if (++p->depth > OVF_MAX_DEPTH) {
        refuse(p, "bad-xml", "the OVF descriptor nests elements deeper than "
               "%s levels", "64");
        return;
    }
    start_section(p, ln, atts);
    p->collecting = false;
    if (p->sect == S_REFS && strcmp(ln, "File") == 0)
        on_file(p, atts);
    else if (p->sect == S_DISKS && strcmp(ln, "Disk") == 0)
        on_disk(p, atts);
    else if (p->sect == S_VHS && is_item(ln)) {
        memset(&p->item, 0, sizeof p->item);
        p->item.open = true;
    } else if (p->item.open || p->sect == S_OS) {
        p->collecting = true;
        p->text_len = 0;
    }
    on_config(p, ln, atts);
}

static void leaf_text(struct ovf_parser *p, const char *ln)
{
    const char *t = p->text;
    if (p->item.open) {
        if (strcmp(ln, "ResourceType") == 0)
            p->item.type = (int)strtol(t, NULL, 10);
        else if (strcmp(ln, "HostResource") == 0)
            ova_strlcpy(p->item.host, t, sizeof p->item.host);
        else if (strcmp(ln, "ElementName") == 0)
            ova_strlcpy(p->item.name, t, sizeof p->item.name);
    } else if (p->sect == S_OS) {
        if (strcmp(ln, "Description") == 0)
            ova_strlcpy(p->d->os_desc, t, sizeof p->d->os_desc);
        else if (strcmp(ln, "OSType") == 0 && !p->d->os_type[0])
            ova_strlcpy(p->d->os_type, t, sizeof p->d->os_type);
    }
}

static void end_item(struct ovf_parser *p)
{
    p->item.open = false;
    int t = p->item.type;
    if (t == 17)
        p->d->disk_items++;
    if (t != 14 && t != 15 && t != 16)
        return;
    if (p->d->ndevs == OVF_MAX_DEVICES) {
        refuse(p, "bad-ovf", "the OVF lists more than %s CD-ROM/floppy "
               "drives", "64");
        return;
    }
    struct ovf_device *dev = &p->d->devs[p->d->ndevs++];
    dev->type = t;
    ova_strlcpy(dev->name, p->item.name, sizeof dev->name);
    ova_strlcpy(dev->host, p->item.host, sizeof dev->host);
}

static void XMLCALL on_end(void *ud, const char *name)
{
    struct ovf_parser *p = ud;
    const char *ln = local(name);
    if (p->collecting) {
        /* trim trailing blanks of the leaf's text */
        while (p->text_len && (p->text[p->text_len - 1] == ' ' ||
                               p->text[p->text_len - 1] == '\n'))
            p->text_len--;
        p->text[p->text_len] = '\0';
        leaf_text(p, ln);
        p->collecting = false;
    }
    if (p->item.open && is_item(ln))
        end_item(p);
    if (p->sect != S_NONE && p->depth == p->sect_depth)
        p->sect = S_NONE;
    p->depth--;
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
    struct ovf_parser *p = ud;
    if (!p->collecting)
        return;
    for (int i = 0; i < len && p->text_len < TEXT_MAX - 1; i++) {
        if (p->text_len == 0 && (s[i] == ' ' || s[i] == '\n' ||
                                 s[i] == '\t' || s[i] == '\r'))
            continue;
        p->text[p->text_len++] = s[i];
    }
}

static void XMLCALL on_doctype(void *ud, const char *name, const char *sys,
                               const char *pub, int has_internal_subset)
{
    struct ovf_parser *p = ud;
    refuse(p, "xml-entities", "the OVF descriptor has a DOCTYPE%s; "
           "DTDs and entity declarations are refused (entity expansion)",
           has_internal_subset ? " with an internal subset" : "");
}

static void XMLCALL on_entity(void *ud, const char *name, int is_param,
                              const char *value, int value_len,
                              const char *base, const char *sys,
                              const char *pub, const char *notation)
{
    refuse(ud, "xml-entities", "the OVF descriptor declares entity '%s'",
           name);
}

struct ovf_parser *ovf_parser_new(struct ovf_desc *d)
{
    struct ovf_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->xp = XML_ParserCreateNS("UTF-8", '|');
    if (!p->xp) {
        free(p);
        return NULL;
    }
    memset(d, 0, sizeof *d);
    d->os_id = -1;
    ova_strlcpy(d->firmware, "bios", sizeof d->firmware);
    p->d = d;
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
    XML_SetEntityDeclHandler(p->xp, on_entity);
    XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
    return p;
}

int ovf_parser_feed(struct ovf_parser *p, const void *buf, size_t n,
                    bool final, struct ova_verdict *vd)
{
    if (!p->refused && p->fed + n > OVA_MAX_OVF_SIZE)
        refuse(p, "ovf-too-large", "the OVF descriptor is larger than "
               "%s", "4 MiB");
    p->fed += n;
    if (!p->refused && n > INT32_MAX)
        refuse(p, "ovf-too-large", "%s", "the OVF chunk is too large");
    if (!p->refused &&
        XML_Parse(p->xp, buf, (int)n, final) == XML_STATUS_ERROR &&
        !p->refused) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s at line %lu",
                 XML_ErrorString(XML_GetErrorCode(p->xp)),
                 (unsigned long)XML_GetCurrentLineNumber(p->xp));
        refuse(p, "bad-xml", "the OVF descriptor is not well-formed XML "
               "(%s)", msg);
    }
    if (p->refused) {
        *vd = p->vd;
        return -1;
    }
    return 0;
}

void ovf_parser_free(struct ovf_parser *p)
{
    if (!p)
        return;
    XML_ParserFree(p->xp);
    free(p);
}

const struct ovf_file *ovf_file_by_href(const struct ovf_desc *d,
                                        const char *href)
{
    for (size_t i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i].href, href) == 0)
            return &d->files[i];
    return NULL;
}

const struct ovf_file *ovf_file_by_id(const struct ovf_desc *d,
                                      const char *id)
{
    for (size_t i = 0; i < d->nfiles; i++)
        if (strcmp(d->files[i].id, id) == 0)
            return &d->files[i];
    return NULL;
}

const struct ovf_disk *ovf_disk_by_file(const struct ovf_desc *d,
                                        const char *file_id)
{
    for (size_t i = 0; i < d->ndisks; i++)
        if (d->disks[i].file_ref[0] &&
            strcmp(d->disks[i].file_ref, file_id) == 0)
            return &d->disks[i];
    return NULL;
}

static int check_disk(const struct ovf_desc *d, const struct ovf_disk *k,
                      struct ova_verdict *vd)
{
    const struct ovf_file *f = ovf_file_by_id(d, k->file_ref);
    if (!f) {
        verdict_set(vd, "missing-disk", "the OVF disk '%s' refers to file "
                    "id '%s', which References does not list", k->id,
                    k->file_ref);
        return -1;
    }
    if (f->chunked) {
        verdict_set(vd, "chunked-disk", "the OVF splits disk file '%s' "
                    "into chunks (ovf:chunkSize); VM Import does not "
                    "support OVAs with chunked disk files", f->href);
        return -1;
    }
    if (k->capacity >= OVA_MAX_CAPACITY) {
        verdict_set(vd, "too-large", "the OVF disk '%s' has a capacity of "
                    "%" PRIu64 " bytes; ImportImage takes disks under 8 TiB",
                    k->id, k->capacity);
        return -1;
    }
    return 0;
}

int ovf_desc_check(const struct ovf_desc *d, struct ova_verdict *vd)
{
    size_t with_file = 0;
    for (size_t i = 0; i < d->ndisks; i++)
        if (d->disks[i].file_ref[0])
            with_file++;
    if (with_file == 0) {
        verdict_set(vd, "no-disks", "the OVF descriptor declares no disk "
                    "with a file (DiskSection/Disk with ovf:fileRef)");
        return -1;
    }
    if (d->ndisks > OVA_MAX_DISKS) {
        verdict_set(vd, "too-many-disks", "the OVF declares %zu disks; VM "
                    "Import takes at most %d (import the others with "
                    "ImportSnapshot)", d->ndisks, OVA_MAX_DISKS);
        return -1;
    }
    for (size_t i = 0; i < d->ndisks; i++)
        if (d->disks[i].file_ref[0] && check_disk(d, &d->disks[i], vd) < 0)
            return -1;
    return 0;
}
