/*
 * journal.c — the upload journal (contract in core/journal.h, design in
 * doc/design/journal.md).
 */
#include "core/journal.h"
#include "core/name.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_VERSION 1
#define ENTRY_MAX (64 * 1024) /* a key is ≤ 1024 bytes, even escaped ×6 */
#define NAME_LEN 64

struct journal {
    int dfd;
    long resume_ttl; /* seconds a kept upload may be resumed (resume.md) */
    char *path; /* for messages only */
    char *endpoint, *region;
    pthread_mutex_t mu; /* guards account */
    char *account;
    time_t opened;
    const struct aws_logger *lg;
};

struct journal_entry {
    char name[NAME_LEN];
};

/* Resume (the end of this file; doc/design/resume.md): what an entry
 * records beyond the upload itself. */
struct resume_fields {
    unsigned long long part_size; /* 0: not resumable, nothing written */
    const char *label;
    long long created;
    bool kept;
    unsigned long long stored, size;
};
static bool journal_resume_json(cJSON *o, const struct resume_fields *rs);
static const char *journal_resume_parse(const cJSON *o,
                                        struct journal_record *r);

/* ---- opening the directory ----------------------------------------------- */

/* The base directory and the components to walk below it. */
static int journal_base(const char *dir, char *base, size_t n,
                        const char **below)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int k;

    if (dir) {
        k = snprintf(base, n, "%s", dir);
        *below = NULL;
    } else if (xdg && xdg[0] == '/') {
        k = snprintf(base, n, "%s", xdg);
        *below = "amifs/uploads";
    } else if (home && home[0] == '/') {
        k = snprintf(base, n, "%s", home);
        *below = ".local/state/amifs/uploads";
    } else {
        return -1;
    }
    return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* Open (mkdir 0700 when absent) name below dfd, never following a link. */
static int open_component(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                   O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
        return -1;
    return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* An explicit dir: its last component is not followed either. */
static int open_explicit(const char *path)
{
    char parent[4096];
    const char *slash = strrchr(path, '/');
    int pfd, fd;

    if (!slash)
        return open_component(AT_FDCWD, path);
    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
    pfd = open(parent[0] ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return -1;
    fd = open_component(pfd, slash + 1);
    int e = errno;
    close(pfd);
    errno = e;
    return fd;
}

/* mkdir -p of the base the environment names (0700, as XDG asks). */
static void make_base(const char *base)
{
    char p[4096];

    snprintf(p, sizeof(p), "%s", base);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        mkdir(p, 0700);
        *c = '/';
    }
    mkdir(p, 0700);
}

/* Walk `below` ("a/b/c") from base without following links. */
static int walk(const char *base, const char *below)
{
    char comp[256];
    int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT) {
        make_base(base);
        fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }

    while (fd >= 0 && below && *below) {
        const char *slash = strchr(below, '/');
        size_t len = slash ? (size_t)(slash - below) : strlen(below);
        snprintf(comp, sizeof(comp), "%.*s", (int)len, below);
        int next = open_component(fd, comp);
        int e = errno;
        close(fd);
        errno = e;
        fd = next;
        below = slash ? slash + 1 : NULL;
    }
    return fd;
}

/* NULL when fd is a directory we may trust, else why not. */
static const char *distrust(int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return "cannot stat it";
    if (!S_ISDIR(st.st_mode))
        return "not a directory";
    if (st.st_uid != geteuid())
        return "owned by another user";
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return "writable by group or others";
    return NULL;
}

static int open_dir(const char *dir, const struct aws_logger *lg, char *path,
                    size_t n)
{
    const char *below, *why;
    int fd;

    if (journal_base(dir, path, n, &below) < 0) {
        aws_log(lg, AWS_LOG_WARN, "no state directory (HOME/XDG_STATE_HOME)"
                ": this mount has no upload journal; the uploads of a killed "
                "daemon will not be aborted by the next mount");
        return -1;
    }
    fd = below ? walk(path, below) : open_explicit(path);
    if (below) {
        size_t k = strlen(path);
        snprintf(path + k, n - k, "/%s", below);
    }
    if (fd < 0)
        why = errno == ELOOP || errno == ENOTDIR
                  ? "a symbolic link or not a directory on the way"
                  : strerror(errno);
    else
        why = distrust(fd);
    if (!why)
        return fd;
    aws_log(lg, AWS_LOG_ERROR, "upload journal %s refused: %s; this mount has "
            "no upload journal (uploads of a killed daemon will not be "
            "aborted by the next mount)", path, why);
    if (fd >= 0)
        close(fd);
    return -1;
}

static char *dup_trimmed(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n > 1 && s[n - 1] == '/')
        n--; /* "http://h:1/" and "http://h:1" are one endpoint */
    return strndup(s ? s : "", n);
}

struct journal *journal_open(const char *dir, const struct journal_origin *o,
                             const struct aws_logger *lg)
{
    char path[4096];
    struct journal *jn;
    int fd = open_dir(dir, lg, path, sizeof(path));

    if (fd < 0)
        return NULL;
    jn = calloc(1, sizeof(*jn));
    if (!jn || !(jn->path = strdup(path)) ||
        !(jn->endpoint = dup_trimmed(o->endpoint)) ||
        !(jn->region = strdup(o->region ? o->region : "")) ||
        (o->account && !(jn->account = strdup(o->account)))) {
        if (jn) {
            free(jn->path);
            free(jn->endpoint);
            free(jn->region);
            free(jn);
        }
        close(fd);
        aws_log(lg, AWS_LOG_ERROR, "out of memory: no upload journal");
        return NULL;
    }
    jn->dfd = fd;
    jn->lg = lg;
    jn->opened = time(NULL);
    jn->resume_ttl = JOURNAL_RESUME_TTL_DEFAULT;
    pthread_mutex_init(&jn->mu, NULL);
    return jn;
}

void journal_close(struct journal *jn)
{
    if (!jn)
        return;
    close(jn->dfd);
    pthread_mutex_destroy(&jn->mu);
    free(jn->path);
    free(jn->endpoint);
    free(jn->region);
    free(jn->account);
    free(jn);
}

void journal_set_account(struct journal *jn, const char *account)
{
    char *copy;

    if (!jn || !(copy = strdup(account ? account : "")))
        return;
    pthread_mutex_lock(&jn->mu);
    free(jn->account);
    jn->account = copy;
    pthread_mutex_unlock(&jn->mu);
}

/* ---- writing entries ----------------------------------------------------- */

/* The entry's text. rs NULL: an upload that cannot be resumed (no part
 * size recorded). */
static char *entry_text(struct journal *jn, const char *bucket,
                        const char *key, const char *upload_id,
                        const struct resume_fields *rs)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    bool ok;
    pthread_mutex_lock(&jn->mu);
    ok = o && cJSON_AddNumberToObject(o, "amifs_upload", FORMAT_VERSION) &&
         cJSON_AddStringToObject(o, "endpoint", jn->endpoint) &&
         cJSON_AddStringToObject(o, "region", jn->region) &&
         cJSON_AddStringToObject(o, "account",
                                 jn->account ? jn->account : "") &&
         cJSON_AddStringToObject(o, "bucket", bucket) &&
         cJSON_AddStringToObject(o, "key", key) &&
         cJSON_AddStringToObject(o, "upload_id", upload_id) &&
         cJSON_AddNumberToObject(o, "pid", (double)getpid());
    pthread_mutex_unlock(&jn->mu);
    if (ok && rs && rs->part_size)
        ok = journal_resume_json(o, rs);
    if (ok)
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* "PID.XXXXXX" with six random [a-z0-9]. */
static void entry_stem(char *out, size_t n)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[6];
    char suf[7];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)(rand() ^ (int)clock());
    for (size_t i = 0; i < sizeof(r); i++)
        suf[i] = abc[r[i] % (sizeof(abc) - 1)];
    suf[6] = '\0';
    snprintf(out, n, "%ld.%s", (long)getpid(), suf);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Write text under a temporary name, then rename it to a fresh entry name
 * (never replacing anything). 0 with e->name set, or -1 (errno). */
static int journal_entry_write(struct journal *jn, const char *text,
                               struct journal_entry *e)
{
    char stem[NAME_LEN - 8], tmp[NAME_LEN];

    for (int attempt = 0; attempt < 8; attempt++) {
        entry_stem(stem, sizeof(stem));
        snprintf(tmp, sizeof(tmp), ".%s.tmp", stem);
        snprintf(e->name, sizeof(e->name), "%s.json", stem);
        int fd = openat(jn->dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
                                          O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return -1;
        int rc = write_all(fd, text, strlen(text));
        if (rc == 0)
            rc = fsync(fd);
        if (close(fd) < 0)
            rc = -1;
        if (rc == 0)
            rc = renameat2(jn->dfd, tmp, jn->dfd, e->name, RENAME_NOREPLACE);
        if (rc == 0)
            return 0;
        int err = errno;
        unlinkat(jn->dfd, tmp, 0);
        if (err != EEXIST) {
            errno = err;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

struct journal_entry *journal_add(struct journal *jn, const char *bucket,
                                  const char *key, const char *upload_id)
{
    return journal_add_resumable(jn, bucket, key, upload_id, NULL);
}

struct journal_entry *journal_add_resumable(struct journal *jn,
                                            const char *bucket,
                                            const char *key,
                                            const char *upload_id,
                                            const struct journal_resume *rs)
{
    struct journal_entry *e;
    char *text, kb[NAME_ESC_MAX];
    struct resume_fields f = {0};
    if (!jn || !upload_id || !upload_id[0])
        return NULL;
    if (rs) {
        f.part_size = rs->part_size;
        f.label = rs->label;
        f.created = (long long)time(NULL);
    }
    e = calloc(1, sizeof(*e));
    text = e ? entry_text(jn, bucket, key, upload_id, &f) : NULL;
    if (text && journal_entry_write(jn, text, e) == 0) {
        free(text);
        return e;
    }
    aws_log(jn->lg, AWS_LOG_WARN, "s3://%s/%s: could not record upload %s "
            "in the journal %s (%s): a killed daemon would leave it behind",
            bucket, name_esc(key, kb, sizeof(kb)), upload_id, jn->path, text ? strerror(errno) :
            "out of memory");
    free(text);
    free(e);
    return NULL;
}

void journal_done(struct journal *jn, struct journal_entry *e)
{
    if (!e)
        return;
    if (jn && unlinkat(jn->dfd, e->name, 0) < 0 && errno != ENOENT)
        aws_log(jn->lg, AWS_LOG_WARN, "journal %s: cannot remove %s: %s",
                jn->path, e->name, strerror(errno));
    free(e);
}

void journal_keep(struct journal *jn, struct journal_entry *e)
{
    (void)jn;
    free(e);
}

/* ---- parsing -------------------------------------------------------------- */

void journal_record_release(struct journal_record *r)
{
    free(r->endpoint);
    free(r->region);
    free(r->account);
    free(r->bucket);
    free(r->key);
    free(r->upload_id);
    free(r->label);
    memset(r, 0, sizeof(*r));
}

/* The string member `name` of o, within [min, max] bytes, without NUL. */
static char *member(const cJSON *o, const char *name, size_t min, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    const char *s = cJSON_GetStringValue(v);
    size_t n = s ? strlen(s) : 0;

    if (!s || n < min || n > max)
        return NULL;
    return strdup(s);
}

static const char *parse_object(const cJSON *o, struct journal_record *r)
{
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(o, "amifs_upload");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");

    if (!cJSON_IsObject(o))
        return "not a JSON object";
    if (!cJSON_IsNumber(ver) || ver->valuedouble != FORMAT_VERSION)
        return "not an amifs upload entry of a known version";
    if (!cJSON_IsNumber(pid) || pid->valuedouble < 1 ||
        pid->valuedouble > 4194304 ||
        pid->valuedouble != (double)(long)pid->valuedouble)
        return "no valid pid";
    r->pid = (long)pid->valuedouble;
    if (!(r->endpoint = member(o, "endpoint", 0, 2048)) ||
        !(r->region = member(o, "region", 0, 64)) ||
        !(r->account = member(o, "account", 0, 64)))
        return "no valid origin (endpoint, region, account)";
    if (!(r->bucket = member(o, "bucket", 1, 255)) ||
        !(r->key = member(o, "key", 1, 1024)) ||
        !(r->upload_id = member(o, "upload_id", 1, 1024)))
        return "no valid bucket, key or upload id";
    return journal_resume_parse(o, r);
}

int journal_parse(const char *text, size_t n, struct journal_record *r,
                  const char **why)
{
    cJSON *o;

    memset(r, 0, sizeof(*r));
    if (n > ENTRY_MAX) {
        *why = "too large";
        return -1;
    }
    if (memchr(text, '\0', n)) {
        *why = "not text (a NUL byte)";
        return -1;
    }
    o = cJSON_ParseWithLength(text, n);
    *why = o ? parse_object(o, r) : "not valid JSON";
    cJSON_Delete(o);
    if (*why) {
        journal_record_release(r);
        return -1;
    }
    return 0;
}

int journal_origin_matches(struct journal *jn, const struct journal_record *r)
{
    size_t n = strlen(r->endpoint);
    int ok;

    while (n > 1 && r->endpoint[n - 1] == '/')
        n--;
    pthread_mutex_lock(&jn->mu);
    ok = strlen(jn->endpoint) == n &&
         strncmp(jn->endpoint, r->endpoint, n) == 0 &&
         strcmp(jn->region, r->region) == 0 &&
         (!jn->account || !jn->account[0] || !r->account[0] ||
          strcmp(jn->account, r->account) == 0);
    pthread_mutex_unlock(&jn->mu);
    return ok;
}

/* ---- recovery ------------------------------------------------------------- */

/* Does pid name a running amifs? Unsure (no /proc) counts as yes, so a
 * live mount's uploads are never aborted; a reused pid is not amifs. */
static bool amifs_alive(long pid)
{
    char path[64], comm[32] = "";
    FILE *f;

    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
    f = fopen(path, "re");
    if (!f)
        return true;
    if (!fgets(comm, sizeof(comm), f))
        comm[0] = '\0';
    fclose(f);
    return strncmp(comm, "amifs", 5) == 0;
}

/* Our names: "PID.XXXXXX.json" (tmp: 1, ".PID.XXXXXX.tmp"). The pid, or
 * 0 when the name is not ours. */
static long our_name(const char *name, int *tmp)
{
    const char *p = name;
    char *end;
    long pid;

    *tmp = *p == '.';
    p += *tmp;
    if (*p < '1' || *p > '9')
        return 0;
    pid = strtol(p, &end, 10);
    if (*end != '.' || pid <= 0 || pid > 4194304)
        return 0;
    for (int i = 1; i <= 6; i++)
        if (!((end[i] >= 'a' && end[i] <= 'z') ||
              (end[i] >= '0' && end[i] <= '9')))
            return 0;
    return strcmp(end + 7, *tmp ? ".tmp" : ".json") == 0 ? pid : 0;
}

/* "PID.XXXXXX": an entry of an amifs before entries carried their origin
 * (a line format). It is not read: nothing says which endpoint it is for. */
static bool legacy_name(const char *name)
{
    char *end;
    long pid = strtol(name, &end, 10);

    if (pid <= 0 || end == name || *end != '.' || strlen(end + 1) != 6)
        return false;
    for (int i = 1; i <= 6; i++)
        if (!((end[i] >= 'a' && end[i] <= 'z') ||
              (end[i] >= 'A' && end[i] <= 'Z') ||
              (end[i] >= '0' && end[i] <= '9')))
            return false;
    return true;
}

static void skip(struct journal *jn, const char *name, const char *why)
{
    aws_log(jn->lg, AWS_LOG_WARN, "upload journal %s: skipped %s: %s (left "
            "in place)", jn->path, name, why);
}

/* Open and read entry `name` (checked: regular, ours, sane size, never
 * blocking). The text (malloc'd, *n bytes), or NULL with *why set. */
static char *read_entry(struct journal *jn, const char *name, size_t *n,
                        const char **why, struct stat *st)
{
    int fd = openat(jn->dfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW |
                                       O_NOCTTY | O_CLOEXEC);
    char *buf = NULL;
    ssize_t k = -1;

    *why = NULL;
    if (fd < 0)
        *why = errno == ELOOP ? "a symbolic link" : "cannot open it";
    else if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode))
        *why = "not a regular file";
    else if (st->st_uid != geteuid())
        *why = "owned by another user";
    else if (st->st_size <= 0 || st->st_size > ENTRY_MAX)
        *why = "empty or too large";
    else if (!(buf = malloc((size_t)st->st_size)))
        *why = "out of memory";
    else if ((k = pread(fd, buf, (size_t)st->st_size, 0)) !=
             (ssize_t)st->st_size)
        *why = "short read";
    if (fd >= 0)
        close(fd);
    if (*why) {
        free(buf);
        return NULL;
    }
    *n = (size_t)k;
    return buf;
}

/* Whether a daemon with this pid may still own the entry. */
static bool owner_alive(struct journal *jn, long pid, const struct stat *st)
{
    if (pid == (long)getpid())
        return st->st_mtime >= jn->opened; /* ours; older: a dead namesake */
    return amifs_alive(pid);
}

/* Our own leftover temporary file of a dead daemon: remove it. */
static void recover_tmp(struct journal *jn, const char *name, long pid)
{
    struct stat st;

    if (fstatat(jn->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        st.st_size > ENTRY_MAX) {
        skip(jn, name, "not a regular file of ours");
        return;
    }
    if (!owner_alive(jn, pid, &st))
        unlinkat(jn->dfd, name, 0);
}

/* One directory entry; 1 when it was handed to fn. */
static int recover_one(struct journal *jn, const char *name,
                       journal_orphan_fn fn, void *ctx)
{
    struct journal_record r;
    struct journal_entry *e;
    struct stat st;
    const char *why;
    size_t n;
    int tmp;
    long pid = our_name(name, &tmp);
    char *text;

    if (!pid) {
        skip(jn, name, legacy_name(name)
                           ? "an entry of an older amifs that does not say "
                             "which endpoint it is for (abort its upload "
                             "with `aws s3api abort-multipart-upload`)"
                           : "not an amifs journal entry name");
        return 0;
    }
    if (tmp) {
        recover_tmp(jn, name, pid);
        return 0;
    }
    if (!(text = read_entry(jn, name, &n, &why, &st))) {
        skip(jn, name, why);
        return 0;
    }
    int rc = journal_parse(text, n, &r, &why);
    free(text);
    if (rc < 0) {
        skip(jn, name, why);
        return 0;
    }
    if (owner_alive(jn, pid, &st)) {
        journal_record_release(&r);
        return 0; /* a live mount's upload */
    }
    if (!journal_origin_matches(jn, &r)) {
        aws_log(jn->lg, AWS_LOG_INFO, "upload journal %s: %s is an upload "
                "of endpoint %s, region %s, account %s; left for a mount of "
                "it", jn->path, name, r.endpoint, r.region,
                r.account[0] ? r.account : "(unknown)");
        journal_record_release(&r);
        return 0;
    }
    if ((e = calloc(1, sizeof(*e))) != NULL) {
        snprintf(e->name, sizeof(e->name), "%s", name);
        fn(ctx, &r, e);
    }
    journal_record_release(&r);
    return e ? 1 : 0;
}

int journal_recover(struct journal *jn, journal_orphan_fn fn, void *ctx)
{
    int dfd, found = 0;
    DIR *d;
    struct dirent *de;

    if (!jn)
        return 0;
    /* fdopendir takes the fd: walk a duplicate, rewound. */
    if ((dfd = openat(jn->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return 0;
    if (!(d = fdopendir(dfd))) {
        close(dfd);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        found += recover_one(jn, de->d_name, fn, ctx);
    }
    closedir(d);
    return found;
}

/* ---- resume (journal.h; doc/design/resume.md) ----------------------------- */

static bool journal_resume_json(cJSON *o, const struct resume_fields *rs)
{
    return cJSON_AddNumberToObject(o, "part_size", (double)rs->part_size) &&
           cJSON_AddStringToObject(o, "label", rs->label ? rs->label : "") &&
           cJSON_AddNumberToObject(o, "created", (double)rs->created) &&
           cJSON_AddBoolToObject(o, "kept", rs->kept) &&
           cJSON_AddNumberToObject(o, "stored", (double)rs->stored) &&
           cJSON_AddNumberToObject(o, "size", (double)rs->size);
}

/* A non-negative integral number member below 2^53, or -1 (absent: 0). */
static long long number_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
        v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(long long)v->valuedouble)
        return -1;
    return (long long)v->valuedouble;
}

static const char *journal_resume_parse(const cJSON *o,
                                        struct journal_record *r)
{
    const cJSON *kept = cJSON_GetObjectItemCaseSensitive(o, "kept");
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
    long long ps = number_member(o, "part_size");
    long long cr = number_member(o, "created");
    long long st = number_member(o, "stored");
    long long sz = number_member(o, "size");
    if (ps < 0 || cr < 0 || st < 0 || sz < 0 || (kept && !cJSON_IsBool(kept)))
        return "bad resume fields (part_size, created, kept, stored, size)";
    if (label && !(r->label = member(o, "label", 0, 4096)))
        return "bad label";
    if (!r->label && !(r->label = strdup("")))
        return "out of memory";
    r->part_size = (unsigned long long)ps;
    r->created = cr;
    r->stored = (unsigned long long)st;
    r->size = (unsigned long long)sz;
    r->kept = kept && cJSON_IsTrue(kept);
    return NULL;
}

void journal_set_resume_ttl(struct journal *jn, long seconds)
{
    if (jn)
        jn->resume_ttl = seconds < 0 ? 0 : seconds;
}

long journal_resume_ttl(struct journal *jn)
{
    return jn ? jn->resume_ttl : 0;
}

/* Resumable for `margin` more seconds. */
static bool resumable_for(struct journal *jn, const struct journal_record *r,
                          long margin)
{
    long long now = (long long)time(NULL);
    return jn && jn->resume_ttl > 0 && r->part_size > 0 && r->created > 0 &&
           r->created + jn->resume_ttl - margin > now;
}

bool journal_resumable(struct journal *jn, const struct journal_record *r)
{
    return resumable_for(jn, r, 0);
}

/* Write r again as a new entry of this daemon (kept, counts as given),
 * then drop the entry `old`. The new handle, or NULL (then `old` is left
 * as it was; with claim, also when another claimer unlinked it first). */
static struct journal_entry *rewrite(struct journal *jn,
                                     const struct journal_record *r,
                                     const char *old, bool kept,
                                     unsigned long long stored,
                                     unsigned long long size, bool claim)
{
    struct resume_fields f = {r->part_size, r->label, r->created, kept,
                              stored, size};
    struct journal_entry *e = calloc(1, sizeof(*e));
    char *text = e ? entry_text(jn, r->bucket, r->key, r->upload_id, &f)
                   : NULL;
    int rc = text ? journal_entry_write(jn, text, e) : -1;
    free(text);
    if (rc < 0) {
        free(e);
        return NULL;
    }
    if (unlinkat(jn->dfd, old, 0) < 0 && (claim || errno != ENOENT)) {
        unlinkat(jn->dfd, e->name, 0); /* someone else took it first */
        free(e);
        return NULL;
    }
    return e;
}

/* Read and parse entry `name` of ours (no logging: the janitor's walk
 * reports bad entries). 0 with r and st filled, else -1. */
static int load(struct journal *jn, const char *name,
                struct journal_record *r, struct stat *st)
{
    const char *why;
    size_t n;
    int tmp;
    char *text;
    if (!our_name(name, &tmp) || tmp ||
        !(text = read_entry(jn, name, &n, &why, st)))
        return -1;
    int rc = journal_parse(text, n, r, &why);
    free(text);
    return rc;
}

void journal_mark_kept(struct journal *jn, struct journal_entry *e,
                       unsigned long long stored, unsigned long long size)
{
    struct journal_record r;
    struct stat st;
    if (!e)
        return;
    if (jn && load(jn, e->name, &r, &st) == 0) {
        struct journal_entry *k = rewrite(jn, &r, e->name, true, stored,
                                          size, false);
        if (!k)
            aws_log(jn->lg, AWS_LOG_WARN, "journal %s: cannot mark %s kept "
                    "for resume (%s); it stays as it was", jn->path,
                    e->name, strerror(errno));
        free(k);
        journal_record_release(&r);
    }
    free(e);
}

/* Could this entry be taken over now by a copy of bucket/key? */
static bool claimable(struct journal *jn, const char *name,
                      const struct journal_record *r, const struct stat *st)
{
    int tmp;
    long margin = jn->resume_ttl >= 86400 ? 3600 : 0;
    return resumable_for(jn, r, margin) && journal_origin_matches(jn, r) &&
           (r->kept || !owner_alive(jn, our_name(name, &tmp), st));
}

/* Walk the directory; fn returns 1 to stop. */
static void each_entry(struct journal *jn,
                       int (*fn)(struct journal *jn, const char *name,
                                 struct journal_record *r,
                                 const struct stat *st, void *ctx),
                       void *ctx)
{
    int dfd = openat(jn->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    struct dirent *de;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        struct journal_record r;
        struct stat st;
        if (load(jn, de->d_name, &r, &st) < 0)
            continue;
        int stop = fn(jn, de->d_name, &r, &st, ctx);
        journal_record_release(&r);
        if (stop)
            break;
    }
    closedir(d);
}

struct claim_ctx {
    const char *bucket, *key;
    unsigned long long part_size;
    char *upload_id;
    size_t n;
    struct journal_entry *got;
};

static int claim_one(struct journal *jn, const char *name,
                     struct journal_record *r, const struct stat *st,
                     void *ctx)
{
    struct claim_ctx *c = ctx;
    if (strcmp(r->bucket, c->bucket) != 0 || strcmp(r->key, c->key) != 0 ||
        r->part_size != c->part_size || !claimable(jn, name, r, st))
        return 0;
    c->got = rewrite(jn, r, name, false, r->stored, r->size, true);
    if (c->got)
        snprintf(c->upload_id, c->n, "%s", r->upload_id);
    return c->got != NULL;
}

struct journal_entry *journal_claim(struct journal *jn, const char *bucket,
                                    const char *key,
                                    unsigned long long part_size,
                                    char *upload_id, size_t n)
{
    struct claim_ctx c = {bucket, key, part_size, upload_id, n, NULL};
    if (!jn || !part_size || jn->resume_ttl <= 0 || !n)
        return NULL;
    each_entry(jn, claim_one, &c);
    return c.got;
}

struct label_ctx {
    const char *bucket, *label;
    char *key;
    size_t n;
    bool found;
};

static int label_one(struct journal *jn, const char *name,
                     struct journal_record *r, const struct stat *st,
                     void *ctx)
{
    struct label_ctx *c = ctx;
    if (strcmp(r->bucket, c->bucket) != 0 || !r->label[0] ||
        strcmp(r->label, c->label) != 0 || !claimable(jn, name, r, st))
        return 0;
    snprintf(c->key, c->n, "%s", r->key);
    c->found = true;
    return 1;
}

int journal_find_label(struct journal *jn, const char *bucket,
                       const char *label, char *key, size_t n)
{
    struct label_ctx c = {bucket, label, key, n, false};
    if (!jn || !label || !label[0] || jn->resume_ttl <= 0 || !n)
        return -1;
    each_entry(jn, label_one, &c);
    return c.found ? 0 : -1;
}
