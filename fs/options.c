/*
 * options.c — mount options, after sshfs: one fuse_opt table per module,
 * parsed into the plain struct amifs_opts. main's table holds the AWS,
 * presentation and upload options; folder modules bring their own tables
 * (folder_ops.opts), merged here so `-o` is parsed once.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fsops.h"
#include "core/importenums.h"
#include "fs/options.h"

enum {
    KEY_FOREGROUND,
    KEY_DEBUG,
    KEY_HELP,
    KEY_VERSION,
    KEY_ALLOW_OTHER,
    KEY_PART_SIZE,
    KEY_MAX_MEMORY,
    KEY_READ_MEMORY,
};

#define OPT(t, f, v)                                                           \
    {                                                                          \
        t, offsetof(struct amifs_opts, f), v                                   \
    }

static const struct fuse_opt main_opts[] = {
    OPT("profile=%s", profile, 0),
    OPT("region=%s", region, 0),
    OPT("endpoint=%s", endpoint, 0),
    OPT("ca_bundle=%s", ca_bundle, 0),
    OPT("uid=%u", uid, 0),
    OPT("uid=", uid_set, 1),
    OPT("gid=%u", gid, 0),
    OPT("gid=", gid_set, 1),
    OPT("umask=%o", umask, 0),
    OPT("umask=", umask_set, 1),
    OPT("cache_ttl=%lf", cache_ttl, 0),
    OPT("upload_concurrency=%d", upload_concurrency, 0),
    OPT("read_concurrency=%d", read_concurrency, 0),
    OPT("retry_base_ms=%d", retry_base_ms, 0),
    OPT("max_attempts=%d", max_attempts, 0),
    OPT("resume_days=%lf", resume_days, 0),
    OPT("resume_days=", resume_days_set, 1),
    OPT("lazy_checks", lazy_checks, 1),
    OPT("log=%s", log_file, 0),
    OPT("core_dumps", core_dumps, 1),
    OPT("share_kms_grants", share_kms_grants, 1),
    /* Fallback until fs/imports.c declares it (same template: deduplicated,
     * the module's entry comes first and wins). */
    OPT("bucket=%s", bucket, 0),
    FUSE_OPT_KEY("part_size=", KEY_PART_SIZE),
    FUSE_OPT_KEY("max_memory=", KEY_MAX_MEMORY),
    FUSE_OPT_KEY("read_memory=", KEY_READ_MEMORY),
    FUSE_OPT_KEY("-f", KEY_FOREGROUND),
    FUSE_OPT_KEY("-d", KEY_DEBUG),
    FUSE_OPT_KEY("debug", KEY_DEBUG),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    /* What mount(8), fstab and systemd add for themselves (mount.fuse3
     * passes them on); "x-*" and comment= are dropped in opt_proc. */
    FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
    FUSE_OPT_END,
};

static const char main_help[] =
    "amifs options:\n"
    "    -o profile=NAME        AWS profile (else AWS_PROFILE, \"default\")\n"
    "    -o region=REGION       region to mount (else AWS_REGION, profile)\n"
    "    -o endpoint=URL        one endpoint for every service (local/S3-"
    "compatible)\n"
    "    -o ca_bundle=FILE      CA certificates for TLS\n"
    "    -o uid=N,gid=N         owner shown on every file (default: you)\n"
    "    -o umask=OCTAL         permission bits to hide (default 022)\n"
    "    -o allow_other         let other users in (needs user_allow_other);\n"
    "                           without umask= the umask becomes 027\n"
    "    -o cache_ttl=SECONDS   listing/attribute cache lifetime (5)\n"
    "    -o core_dumps          let a crash write a core file (secrets are\n"
    "                           kept out of it); default: no core at all\n"
    "    -o part_size=SIZE      first multipart part size, e.g. 8M (8M)\n"
    "    -o upload_concurrency=N  parts uploaded in parallel, whole mount (10)\n"
    "    -o max_memory=SIZE     part buffers of all uploads together (default:\n"
    "                           64M, growing to 160M while more parts in\n"
    "                           flight upload faster)\n"
    "    -o read_concurrency=N  ranged GETs in flight per file read in\n"
    "                           sequence, and the mount's read workers (8)\n"
    "    -o read_memory=SIZE    read-ahead buffers of all open files (64M)\n"
    "    -o max_attempts=N      HTTP attempts per request (AWS default 3)\n"
    "    -o retry_base_ms=MS    retry backoff unit (1000; for tests)\n"
    "    -o resume_days=DAYS    a copy that failed from the network keeps its\n"
    "                           upload this long for `cp` again (6; 0: abort)\n"
    "    -o lazy_checks         mount without checking credentials and bucket\n"
    "                           with AWS first (offline mounts)\n"
    "    -o log=FILE            append the log to FILE (where there is no\n"
    "                           syslog, e.g. containers)\n"
    "    -o share_kms_grants    sharing an AMI encrypted with a customer\n"
    "                           managed key creates the KMS grants the other\n"
    "                           account needs (else: EACCES + the statement)\n";

int amifs_parse_size(const char *s, unsigned long *out)
{
    char *end;
    unsigned long long v;
    int shift = 0;

    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    case 't':
    case 'T':
        shift = 40;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end != '\0' || (shift && v > (~0ULL >> shift)))
        return -1;
    v <<= shift;
    if (v > (unsigned long long)~0UL)
        return -1;
    *out = (unsigned long)v;
    return 0;
}

/* `amifs MOUNTPOINT`, or `amifs SOURCE MOUNTPOINT` as mount.fuse3 runs us
 * (fstab, mount -t fuse.amifs): the source is accepted and ignored. The
 * mount point is handed back to libfuse after parsing. */
static int take_nonopt(struct amifs_opts *o, const char *arg)
{
    char *copy = strdup(arg);

    if (!copy)
        return -1;
    if (o->source) {
        fprintf(stderr, "amifs: too many arguments ('%s')\n", arg);
        free(copy);
        return -1;
    }
    o->source = o->mountpoint;
    o->mountpoint = copy;
    return 0;
}

static int opt_proc(void *data, const char *arg, int key,
                    struct fuse_args *outargs)
{
    struct amifs_opts *o = data;

    switch (key) {
    case KEY_FOREGROUND:
        o->foreground = 1;
        return 1;
    case KEY_DEBUG:
        o->debug = 1;
        o->foreground = 1;
        return 1;
    case KEY_HELP:
        o->show_help = 1;
        return 1;
    case KEY_VERSION:
        o->show_version = 1;
        return 0;
    case KEY_ALLOW_OTHER:
        o->allow_other = 1;
        return 1; /* libfuse's too */
    case KEY_PART_SIZE:
        if (amifs_parse_size(strchr(arg, '=') + 1, &o->part_size) < 0) {
            fprintf(stderr, "amifs: bad size in '%s'\n", arg);
            return -1;
        }
        return 0;
    case KEY_MAX_MEMORY:
        if (amifs_parse_size(strchr(arg, '=') + 1, &o->max_memory) < 0) {
            fprintf(stderr, "amifs: bad size in '%s'\n", arg);
            return -1;
        }
        return 0;
    case KEY_READ_MEMORY:
        if (amifs_parse_size(strchr(arg, '=') + 1, &o->read_memory) < 0) {
            fprintf(stderr, "amifs: bad size in '%s'\n", arg);
            return -1;
        }
        return 0;
    case FUSE_OPT_KEY_NONOPT:
        return take_nonopt(o, arg);
    case FUSE_OPT_KEY_OPT:
        if (strncmp(arg, "x-", 2) == 0 || strncmp(arg, "comment=", 8) == 0)
            return 0; /* systemd's and fstab's own */
        return 1;     /* libfuse's options */
    default:
        return 1;
    }
}

int amifs_opts_defaults(struct amifs_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->umask = 022;
    o->cache_ttl = 5.0;
    o->part_size = 8ul << 20;
    o->upload_concurrency = 10; /* the AWS CLI's max_concurrent_requests */
    o->max_memory = 0; /* automatic: 64M growing to 160M (aws/mpu.h) */
    o->read_concurrency = 8;    /* doc/design/perf.md, "Reads" */
    o->read_memory = 64ul << 20; /* read-ahead, whole mount */
    o->poll_interval = 10.0;
    o->role = strdup("vmimport");
    return o->role ? 0 : -1;
}

void amifs_opts_release(struct amifs_opts *o)
{
    char **strs[] = {&o->profile,   &o->region,       &o->endpoint,
                     &o->ca_bundle, &o->bucket,       &o->role,
                     &o->kms_key,   &o->boot_mode,    &o->license_type,
                     &o->platform,  &o->architecture, &o->mountpoint,
                     &o->source,    &o->log_file,     &o->copy_to_regions,
                     &o->route};

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

static size_t table_len(const struct fuse_opt *t)
{
    size_t n = 0;
    while (t && t[n].templ)
        n++;
    return n;
}

static bool has_templ(const struct fuse_opt *t, size_t n, const char *templ)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].templ, templ) == 0)
            return true;
    return false;
}

/* Each module's table, then main's; a template already present is skipped,
 * so two tables may both declare e.g. "bucket=%s". Caller frees. */
static struct fuse_opt *merged_table(void)
{
    size_t total = table_len(main_opts), n = 0;
    struct fuse_opt *t;

    for (size_t i = 0; i < amifs_folder_count(); i++)
        if (amifs_folder_at(i))
            total += table_len(amifs_folder_at(i)->opts);
    t = calloc(total + 1, sizeof(*t));
    if (!t)
        return NULL;
    for (size_t i = 0; i <= amifs_folder_count(); i++) {
        const struct fuse_opt *src = main_opts;
        if (i < amifs_folder_count())
            src = amifs_folder_at(i) ? amifs_folder_at(i)->opts : NULL;
        for (size_t j = 0; j < table_len(src); j++)
            if (!has_templ(t, n, src[j].templ))
                t[n++] = src[j];
    }
    return t; /* zeroed tail = FUSE_OPT_END */
}

/* ImportImage's enums: a bad value would fail every import after its
 * upload; refuse the mount instead. */
static int check_enums(const struct amifs_opts *o)
{
    const char *const v[] = {o->boot_mode, o->license_type, o->platform,
                             o->architecture, o->route};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        const struct import_enum *e = &IMPORT_ENUMS[i];
        if (!import_enum_ok(e->opt, v[i])) {
            char list[128];
            import_enum_list(e, list, sizeof list);
            fprintf(stderr, "amifs: %s must be %s, not '%s'\n", e->opt, list,
                    v[i]);
            return -1;
        }
    }
    return 0;
}

static int check_opts(const struct amifs_opts *o)
{
    if (o->part_size < (5ul << 20)) {
        fprintf(stderr, "amifs: part_size must be at least 5M (S3's "
                        "minimum part size)\n");
        return -1;
    }
    if (o->upload_concurrency < 1 || o->upload_concurrency > 64) {
        fprintf(stderr, "amifs: upload_concurrency must be 1..64\n");
        return -1;
    }
    if (o->part_size > (5ul << 30)) {
        fprintf(stderr, "amifs: part_size must be at most 5G (S3's "
                        "maximum part size)\n");
        return -1;
    }
    if (o->max_memory && o->max_memory < (20ul << 20)) {
        fprintf(stderr, "amifs: max_memory must be at least 20M (four 5M "
                        "parts)\n");
        return -1;
    }
    if (o->read_concurrency < 1 || o->read_concurrency > 64) {
        fprintf(stderr, "amifs: read_concurrency must be 1..64\n");
        return -1;
    }
    if (o->read_memory < (8ul << 20)) {
        fprintf(stderr, "amifs: read_memory must be at least 8M (one "
                        "read-ahead range)\n");
        return -1;
    }
    if (o->cache_ttl < 0) {
        fprintf(stderr, "amifs: cache_ttl must be >= 0\n");
        return -1;
    }
    if (o->umask > 0777) {
        fprintf(stderr, "amifs: umask must be at most 0777\n");
        return -1;
    }
    return check_enums(o);
}

int amifs_opts_parse(struct fuse_args *args, struct amifs_opts *o)
{
    struct fuse_opt *table = merged_table();
    int rc;

    if (!table) {
        fprintf(stderr, "amifs: out of memory\n");
        return -1;
    }
    rc = fuse_opt_parse(args, o, table, opt_proc);
    free(table);
    if (rc < 0)
        return -1;
    if (o->mountpoint && fuse_opt_add_arg(args, o->mountpoint) < 0)
        return -1;
    /* allow_other with the default umask 022 would let every local user
     * read every object: without an explicit umask= only the group may
     * (doc/amifs.1). */
    if (o->allow_other && !o->umask_set)
        o->umask = 027;
    return o->show_help || o->show_version ? 0 : check_opts(o);
}

void amifs_opts_help(FILE *out)
{
    fputs(main_help, out);
    for (size_t i = 0; i < amifs_folder_count(); i++) {
        const struct folder_ops *m = amifs_folder_at(i);
        if (m && m->opts_help)
            fputs(m->opts_help, out);
    }
}
