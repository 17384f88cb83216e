/* importjob.c — one dropped file: upload + validation tee + ImportImage. */
#include "core/importjob.h"
#include "core/name.h"
#include "core/importenums.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/ec2_export.h"
#include "aws/s3.h"
#include "core/importguest.h"
#include "core/stagedread.h"
#include "core/importqueue.h"
#include "core/snaproute.h"
#include "core/upload.h"
#include "ova/ova.h"

#define SNIFF_LEN 512

struct importjob {
    const struct import_config *cfg;
    pthread_mutex_t mu;      /* guards every field below but the writer's */
    int refs;
    int writers;             /* open handles that may write (imports.c) */
    char *name;
    char *key;
    enum upload_phase phase;
    char *detail;
    char *task_id;
    uint64_t received;
    time_t start, mtime;
    int result;              /* close's result once closed */
    bool closed, import_called;
    struct import_params params;
    /* Writer side (one writer thread at a time; not read by others). */
    struct upload_writer *w; /* set under mu (others read it) */
    struct ova_validator *val;
    enum ova_kind vkind;
    unsigned char head[SNIFF_LEN];
    size_t headlen;
    char etag[72];
    /* importjob_adopt: the user's object, never uploaded nor deleted by
     * us; `link` is the symlink's text as the user wrote it */
    char *src_bucket;
    char *link;
    /* importjob_restore: the AMI CreateRestoreImageTask made, its state as
     * the last DescribeImages said (NULL: pending) and when that was */
    char *restored, *restore_state, *restore_reason;
    time_t restore_polled;
    /* The guest check before ImportImage (core/importguest.h); NULL until
     * it ran. Immutable once set (under mu). */
    struct guest_report *guest;

    /* A folder import (core/importset.h): a member stages only (its close
     * never calls ImportImage) and taps its in-order bytes; the set's lead
     * job carries the ImportImage of every disk (key = the first disk's,
     * more_keys the others') and the OVF's facts. */
    bool member;
    void (*tap)(void *ctx, const void *p, size_t n);
    void *tap_ctx;
    char **more_keys;
    size_t nmore;
    struct ova_facts *set_facts;
    char *set_note;
};

/* The bucket of the job's object: the user's for an adopted one. */
static const char *obj_bucket(const struct importjob *j)
{
    return j->src_bucket ? j->src_bucket : j->cfg->bucket;
}

/* ---- small helpers ---------------------------------------------------- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void replace(char **f, const char *v)
{
    char *d = xstrdup(v);
    free(*f);
    *f = d;
}

bool importjob_final_name(const char *name)
{
    return ova_kind_from_name(name) != OVA_KIND_NONE;
}

static bool stem_target(const char *stem, size_t len, char *out, size_t n)
{
    if (len == 0 || len >= n)
        return false;
    memcpy(out, stem, len);
    out[len] = '\0';
    return importjob_final_name(out);
}

bool importjob_temp_target(const char *tmp, char *out, size_t n)
{
    size_t len = strlen(tmp);
    const char *dot = strrchr(tmp, '.');
    if (len > 5 && strcmp(tmp + len - 5, ".part") == 0)
        return stem_target(tmp, len - 5, out, n);
    if (tmp[0] != '.' || !dot || dot == tmp || strlen(dot + 1) != 6)
        return false;
    for (const char *c = dot + 1; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9')))
            return false;
    return stem_target(tmp + 1, (size_t)(dot - tmp - 1), out, n);
}

int importjob_sniff(const unsigned char *h, size_t n)
{
    if (n >= 262 && memcmp(h + 257, "ustar", 5) == 0)
        return OVA_KIND_OVA;
    if (n >= 4 && memcmp(h, "KDMV", 4) == 0)
        return OVA_KIND_VMDK;
    if (n >= 8 && memcmp(h, "vhdxfile", 8) == 0)
        return OVA_KIND_VHDX;
    if (n >= 8 && memcmp(h, "conectix", 8) == 0)
        return OVA_KIND_VHD;
    return OVA_KIND_RAW;
}

/* ---- lifetime --------------------------------------------------------- */

/* "prefix/20261123T105949-3fa2/NAME": a fresh key per job, so re-importing
 * a name never overwrites the object an earlier task points at. */
static char *make_key(const struct import_config *cfg, const char *name)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    unsigned char rnd[3] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(rnd, 1, sizeof rnd, f) != sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        fclose(f);
    }
    struct buf b;
    buf_init(&b, 4096);
    const char *pre = cfg->prefix ? cfg->prefix : "";
    int rc = buf_printf(&b, "%s%s%s-%02x%02x%02x/%s", pre, *pre ? "/" : "",
                        stamp, rnd[0], rnd[1], rnd[2], name);
    if (rc != 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

struct importjob *importjob_new(const struct import_config *cfg,
                                const char *name)
{
    struct importjob *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->cfg = cfg;
    j->refs = 1;
    j->name = strdup(name);
    j->key = make_key(cfg, name);
    j->start = j->mtime = time(NULL);
    import_params_init(&j->params);
    pthread_mutex_init(&j->mu, NULL);
    if (!j->name || !j->key) {
        importjob_unref(j);
        return NULL;
    }
    return j;
}

void importjob_ref(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void importjob_unref(struct importjob *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last)
        return;
    uw_free(j->w); /* aborts an unfinished upload; settles its journal */
    ova_validator_free(j->val);
    import_params_release(&j->params);
    free(j->name);
    free(j->key);
    free(j->src_bucket);
    free(j->link);
    free(j->restored);
    free(j->restore_state);
    free(j->restore_reason);
    guest_report_free(j->guest);
    free(j->detail);
    free(j->task_id);
    for (size_t i = 0; i < j->nmore; i++)
        free(j->more_keys[i]);
    free(j->more_keys);
    free(j->set_facts);
    free(j->set_note);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* ---- state changes ---------------------------------------------------- */

static void set_phase(struct importjob *j, enum upload_phase ph,
                      const char *detail)
{
    pthread_mutex_lock(&j->mu);
    if (j->phase != UPLOAD_CANCELLED) { /* rm wins over later steps */
        j->phase = ph;
        replace(&j->detail, detail);
    }
    j->mtime = time(NULL);
    pthread_mutex_unlock(&j->mu);
}

/* Fail the job with `fmt…` as its status detail; aborts the upload. Returns
 * -err so callers can `return fail(...)`. */
static int fail(struct importjob *j, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct importjob *j, int err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->w)
        uw_fail(j->w, err); /* poison: aborted, nothing published */
    pthread_mutex_lock(&j->mu);
    if (j->phase != UPLOAD_CANCELLED) {
        j->phase = UPLOAD_FAILED;
        replace(&j->detail, msg);
    }
    j->closed = true;
    j->result = -err;
    j->mtime = time(NULL);
    pthread_mutex_unlock(&j->mu);
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    char e1[NAME_ESC_MAX], e2[4096];
    aws_log(j->cfg->lg, AWS_LOG_ERROR, "imports/%s: %s",
            name_esc(nm, e1, sizeof e1), name_esc(msg, e2, sizeof e2));
    return -err;
}

static int refused(struct importjob *j)
{
    return fail(j, EINVAL, "invalid %s: %s (%s)", ova_kind_format(j->vkind),
                ova_validator_reason(j->val), ova_validator_code(j->val));
}

/* The staged object can never be imported and no task will point at it:
 * leave nothing behind (a user's own object, j->src_bucket, is left). */
static int drop_refused(struct importjob *j)
{
    if (j->src_bucket)
        return refused(j);
    struct aws_error err;
    aws_error_clear(&err);
    if (s3_delete_object(j->cfg->client, j->cfg->bucket, j->key, &err) != 0)
        aws_log(j->cfg->lg, AWS_LOG_WARN,
                "imports: could not delete refused s3://%s/%s",
                j->cfg->bucket,
                name_esc(j->key, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX));
    return refused(j);
}

static int upload_failed(struct importjob *j, const struct aws_error *err)
{
    char msg[700];
    aws_error_format(err, msg, sizeof msg);
    int e = aws_error_errno(err);
    return fail(j, e ? e : EIO, "%s s3://%s/%s failed: %s",
                j->src_bucket ? "reading" : "upload to", obj_bucket(j),
                j->key, msg);
}

/* The writer refused or failed with rc: the job takes that outcome (a
 * refusal by the validator is recorded already; rm wins). */
static int writer_failed(struct importjob *j, int rc)
{
    char why[1024];
    pthread_mutex_lock(&j->mu);
    enum upload_phase ph = j->phase;
    int res = j->result;
    pthread_mutex_unlock(&j->mu);
    if (ph == UPLOAD_CANCELLED)
        return -ECANCELED;
    if (ph == UPLOAD_FAILED)
        return res ? res : rc;
    uw_error_text(j->w, why, sizeof why);
    return fail(j, -rc, "%s", why[0] ? why : strerror(-rc));
}

int importjob_refuse(struct importjob *j, int err, const char *why)
{
    return fail(j, err, "%s", why);
}

/* ---- writing ---------------------------------------------------------- */

static int start_validator(struct importjob *j)
{
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    enum ova_kind k = ova_kind_from_name(nm);
    if (k == OVA_KIND_NONE)
        k = (enum ova_kind)importjob_sniff(j->head, j->headlen);
    struct ova_validator *v = ova_validator_new(k);
    if (!v)
        return fail(j, ENOMEM, "out of memory");
    pthread_mutex_lock(&j->mu); /* importjob_info reads vkind */
    j->vkind = k;
    j->val = v;
    pthread_mutex_unlock(&j->mu);
    if (ova_validator_feed(j->val, j->head, j->headlen) != 0)
        return refused(j);
    return 0;
}

/* The validator's share of the bytes: held back until the kind is known. */
static int tee(struct importjob *j, const unsigned char *p, size_t n)
{
    if (j->tap)
        j->tap(j->tap_ctx, p, n);
    if (!j->val) {
        size_t take = SNIFF_LEN - j->headlen;
        if (take > n)
            take = n;
        memcpy(j->head + j->headlen, p, take);
        j->headlen += take;
        p += take;
        n -= take;
        if (j->headlen < SNIFF_LEN)
            return 0;
        if (start_validator(j) != 0)
            return -EINVAL;
    }
    if (n && ova_validator_feed(j->val, p, n) != 0)
        return refused(j);
    return 0;
}

static int tee_cb(void *ctx, const void *p, size_t n)
{
    return tee(ctx, p, n);
}

/* All bytes are in: the validator's verdict. */
static int tee_end(void *ctx)
{
    struct importjob *j = ctx;
    set_phase(j, UPLOAD_FINISHING, "checking the last bytes");
    if (!j->val && start_validator(j) != 0)
        return j->result ? j->result : -EINVAL;
    if (ova_validator_finish(j->val) != 0)
        return refused(j);
    set_phase(j, UPLOAD_FINISHING, "completing the upload");
    return 0;
}

/* doc/design/resume.md: an earlier copy of this name failed from the
 * network and kept its staging upload; this copy continues it, so it
 * stages under that key (the writer claims the upload at its first full
 * part and sends only the parts S3 lacks). Only a key of this mount's
 * prefix is taken. */
static void resume_key(struct importjob *j, const char *label)
{
    const struct uw_journal_ops *o = j->cfg->journal;
    const char *pre = j->cfg->prefix ? j->cfg->prefix : "";
    size_t pl = strlen(pre);
    char key[1100];
    if (!o || !o->find_label ||
        o->find_label(o->ctx, j->cfg->bucket, label, key, sizeof key) < 0 ||
        (pl && (strncmp(key, pre, pl) != 0 || key[pl] != '/')))
        return;
    char *k = strdup(key);
    if (!k)
        return;
    pthread_mutex_lock(&j->mu);
    free(j->key);
    j->key = k;
    pthread_mutex_unlock(&j->mu);
    aws_log(j->cfg->lg, AWS_LOG_INFO, "%s: an earlier copy kept its upload; "
            "staging under its key to resume it", label);
}

/* The job's upload writer, created at the first byte (no traffic yet). */
static int ensure_writer(struct importjob *j)
{
    if (j->w)
        return 0;
    struct uw_config c = {0};
    char label[1100];
    c.client = j->cfg->client;
    c.lg = j->cfg->lg;
    c.part_size = j->cfg->part_size;
    c.concurrency = j->cfg->concurrency;
    c.journal = j->cfg->journal;
    c.shared = j->cfg->uploads;
    c.tee = tee_cb;
    c.tee_end = tee_end;
    c.tee_ctx = j;
    c.may_complete = j->cfg->may_complete;
    c.may_complete_ctx = j->cfg->may_complete_ctx;
    c.no_resume = j->member; /* a folder's disk: doc/design/resume.md */
    importjob_name(j, label + 8, sizeof label - 8);
    memcpy(label, "imports/", 8);
    if (!j->src_bucket && !j->member)
        resume_key(j, label);
    struct upload_writer *w = uw_new(&c, j->cfg->bucket, j->key, label);
    if (!w)
        return fail(j, ENOMEM, "out of memory");
    pthread_mutex_lock(&j->mu); /* importjob_info/cancel read it */
    j->w = w;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* Whether writes are still accepted; else the errno to fail with. */
static int writable(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    int rc = 0;
    if (j->phase == UPLOAD_CANCELLED)
        rc = -ECANCELED;
    else if (j->phase == UPLOAD_FAILED)
        rc = j->result ? j->result : -EIO;
    else if (j->phase != UPLOAD_WRITING)
        rc = -EBUSY;
    pthread_mutex_unlock(&j->mu);
    return rc == 0 ? ensure_writer(j) : rc;
}

ssize_t importjob_write(struct importjob *j, const void *buf, size_t n,
                        off_t off)
{
    int rc = writable(j);
    if (rc != 0)
        return rc;
    if (off < 0)
        return -EINVAL;
    ssize_t got = uw_write(j->w, buf, n, (uint64_t)off);
    if (got < 0)
        return writer_failed(j, (int)got);
    pthread_mutex_lock(&j->mu);
    j->received = uw_size(j->w);
    j->mtime = time(NULL);
    pthread_mutex_unlock(&j->mu);
    return got;
}

int importjob_truncate(struct importjob *j, off_t size)
{
    if (size >= 0 && (uint64_t)size == importjob_size(j))
        return 0;
    int rc = writable(j);
    if (rc != 0)
        return rc;
    if (size < 0)
        return -EINVAL;
    rc = uw_truncate(j->w, (uint64_t)size);
    if (rc < 0)
        return writer_failed(j, rc == -EPERM ? -EINVAL : rc);
    pthread_mutex_lock(&j->mu);
    j->received = uw_size(j->w);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* ---- parameters on the job -------------------------------------------- */

int importjob_set_sidecar(struct importjob *j, const char *json, size_t n)
{
    struct import_params side;
    import_params_init(&side);
    char why[256];
    int rc = import_params_from_json(&side, json, n, why, sizeof why);
    if (rc != 0) {
        aws_log(j->cfg->lg, AWS_LOG_WARN, "imports/ sidecar: %s", why);
        import_params_release(&side);
        return rc;
    }
    pthread_mutex_lock(&j->mu);
    if (j->import_called) {
        rc = -EBUSY;
    } else {
        /* The sidecar is weaker than xattrs already set: merge it under. */
        rc = import_params_merge(&side, &j->params);
        if (rc == 0) {
            import_params_release(&j->params);
            j->params = side;
            import_params_init(&side);
        }
    }
    pthread_mutex_unlock(&j->mu);
    import_params_release(&side);
    return rc;
}

int importjob_setxattr(struct importjob *j, const char *name,
                       const char *value, size_t n)
{
    pthread_mutex_lock(&j->mu);
    int rc = j->import_called
                 ? -EBUSY
                 : import_params_setxattr(&j->params, name, value, n);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int importjob_getxattr(struct importjob *j, const char *name, char *out,
                       size_t n)
{
    pthread_mutex_lock(&j->mu);
    const char *v = import_params_getxattr(&j->params, name);
    size_t len = v ? strlen(v) : 0;
    int rc = !v ? -ENODATA : n == 0 ? (int)len : n < len ? -ERANGE : (int)len;
    if (v && n >= len)
        memcpy(out, v, len);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ---- the import ------------------------------------------------------- */

/* Re-validate the staged object as `kind` (the final name asks for another
 * kind than the content suggested): stream it back from S3. */
struct refeed {
    struct ova_validator *v;
};

static int refeed_sink(void *ctx, const char *data, size_t n)
{
    struct refeed *r = ctx;
    return ova_validator_feed(r->v, data, n) == 0 ? 0 : -1;
}

static int revalidate(struct importjob *j, enum ova_kind kind)
{
    set_phase(j, UPLOAD_FINISHING, "re-reading the staged object to "
                                   "validate it under its final name");
    struct ova_validator *v = ova_validator_new(kind);
    if (!v)
        return fail(j, ENOMEM, "out of memory");
    struct refeed r = {v};
    struct aws_error err;
    aws_error_clear(&err);
    int rc = s3_get_object(j->cfg->client, obj_bucket(j), j->key, 0, 0,
                           j->etag[0] ? j->etag : NULL, refeed_sink, &r,
                           &err);
    pthread_mutex_lock(&j->mu);
    struct ova_validator *old = j->val;
    j->val = v;
    j->vkind = kind;
    pthread_mutex_unlock(&j->mu);
    ova_validator_free(old);
    if (rc != 0 && !*ova_validator_code(v))
        return upload_failed(j, &err);
    if (ova_validator_finish(v) != 0)
        return drop_refused(j);
    return 0;
}

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static void utf8_cut(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    s[max] = '\0';
}

/* Resolve parameters: options < sidecar/xattrs (j->params) < facts for
 * what is still unset. The result is owned by the caller. */
static int resolve(struct importjob *j, struct import_params *p)
{
    const struct import_config *c = j->cfg;
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    import_params_init(p);
    bool ok = true;
    p->boot_mode = xstrdup(c->boot_mode);
    p->license_type = xstrdup(c->license_type);
    p->platform = xstrdup(c->platform);
    p->architecture = xstrdup(c->architecture);
    p->kms_key_id = xstrdup(c->kms_key);
    p->role_name = xstrdup(c->role);
    pthread_mutex_lock(&j->mu);
    int rc = import_params_merge(p, &j->params);
    j->import_called = true;
    pthread_mutex_unlock(&j->mu);
    const struct ova_facts *f = j->val ? ova_validator_facts(j->val)
                                       : j->set_facts;
    if (!f)
        f = &(const struct ova_facts){.os_id = -1};
    if (!p->boot_mode && ova_facts_boot_mode(f))
        ok = (p->boot_mode = strdup(ova_facts_boot_mode(f))) != NULL;
    if (!p->platform && ova_facts_platform(f))
        ok = ok && (p->platform = strdup(ova_facts_platform(f))) != NULL;
    if (!p->description) {
        struct buf b;
        buf_init(&b, 0);
        ok = ok && buf_printf(&b, "amifs import of %s%s%s", nm,
                              j->set_note ? "; " : "",
                              j->set_note ? j->set_note : "") == 0;
        p->description = buf_detach(&b);
        if (p->description) /* AWS takes 255; cut on a UTF-8 boundary */
            utf8_cut(p->description, IMPORT_DESCRIPTION_MAX);
    }
    char when[32];
    snprintf(when, sizeof when, "%lld", (long long)time(NULL));
    if (!status_tag(&p->tags, "Name"))
        ok = ok && import_tag_set(&p->tags, "Name", nm) == 0;
    ok = ok && import_tag_set(&p->tags, STATUS_TAG_NAME, nm) == 0;
    ok = ok && import_tag_set(&p->tags, STATUS_TAG_TIME, when) == 0;
    if (j->src_bucket || j->params.keep_staged > 0)
        ok = ok &&
             import_tag_set(&p->tags, STATUS_TAG_KEEP_SOURCE, "true") == 0;
    const char *copy = p->copy_regions ? p->copy_regions : c->copy_regions;
    if (copy && *copy) /* any mount that sees the task end makes the copies */
        ok = ok && import_tag_set(&p->tags, STATUS_TAG_COPY_TO, copy) == 0;
    return rc != 0 ? rc : ok ? 0 : -ENOMEM;
}

/* ImportImage's request for the job; borrows from p, disks and token. */
static void build_request(const struct import_params *p,
                          const struct ec2_disk_container *disks, size_t n,
                          const char *token, struct ec2_import_params *ip)
{
    memset(ip, 0, sizeof *ip);
    ip->disks = disks;
    ip->ndisks = n;
    ip->description = p->description;
    ip->architecture = p->architecture;
    ip->platform = p->platform;
    ip->boot_mode = p->boot_mode;
    ip->license_type = p->license_type;
    ip->kms_key_id = p->kms_key_id;
    ip->encrypted = p->encrypted > 0 || (p->kms_key_id && *p->kms_key_id);
    ip->role_name = p->role_name;
    ip->client_token = token;
    ip->tags = &p->tags;
}

/* The quota is full: hand the request to the shared queue. 0 once it is
 * durably queued (the phase is then QUEUED), else -errno. */
static int enqueue(struct importjob *j, const struct ec2_import_params *ip)
{
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    struct aws_error err;
    aws_error_clear(&err);
    int rc = importqueue_put(j->cfg->queue, ip, nm, &err);
    if (rc != 0) {
        char msg[700];
        aws_error_format(&err, msg, sizeof msg);
        return fail(j, -rc, "the import quota is full and the queue entry "
                    "could not be stored: %s", msg);
    }
    pthread_mutex_lock(&j->mu);
    if (j->phase != UPLOAD_CANCELLED)
        j->phase = UPLOAD_QUEUED;
    replace(&j->detail, NULL);
    j->result = 0;
    pthread_mutex_unlock(&j->mu);
    char enm[NAME_ESC_MAX];
    aws_log(j->cfg->lg, AWS_LOG_INFO, "imports/%s: import quota full; queued",
            name_esc(nm, enm, sizeof enm));
    return 0;
}

/* 0 with out filled (started), 1 (queued), or -errno (failed). */
static int send_import(struct importjob *j, const struct ec2_import_params *ip,
                       struct ec2_import_task *out)
{
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_import_image(j->cfg->client, ip, out, &err) == 0 &&
        out->import_task_id)
        return 0;
    if (j->cfg->queue &&
        strcmp(err.code, "ResourceCountLimitExceeded") == 0) {
        int rc = enqueue(j, ip);
        return rc == 0 ? 1 : rc;
    }
    char msg[700];
    aws_error_format(&err, msg, sizeof msg);
    int e = aws_error_errno(&err);
    return fail(j, e ? e : EIO, "ImportImage refused: %s", msg);
}

static int call_import(struct importjob *j, const struct import_params *p,
                       struct ec2_import_task *out)
{
    struct ec2_disk_container disk;
    char token[65];
    struct ec2_import_params ip;
    memset(&disk, 0, sizeof disk);
    disk.format = ova_kind_format(j->vkind);
    disk.s3_bucket = obj_bucket(j);
    disk.s3_key = j->key;
    import_client_token(obj_bucket(j), j->key, j->etag, token);
    build_request(p, &disk, 1, token, &ip);
    return send_import(j, &ip, out);
}

/* Put our tags on the cached copy when the answer lacks them, so the
 * alias works before the first refresh. */
static void cache_task(struct importjob *j, struct ec2_import_task *t,
                       const struct import_params *p)
{
    if (!j->cfg->tasks)
        return;
    if (!status_tag(&t->tags, STATUS_TAG_NAME))
        for (size_t i = 0; i < p->tags.n; i++)
            import_tag_set(&t->tags, p->tags.v[i].key, p->tags.v[i].value);
    if (!t->status)
        t->status = strdup("active");
    taskcache_put(j->cfg->tasks, t);
    taskcache_kick(j->cfg->tasks);
}

/* ---- the snapshot route ------------------------------------------------ */

static void copy_field(char *dst, size_t n, const char *v)
{
    snprintf(dst, n, "%s", v ? v : "");
}

/* The route's plan: the disks (an OVA's members by their place in the
 * staged tar, else the whole object) and what RegisterImage gets. */
static void make_plan(struct importjob *j, const struct import_params *p,
                      struct snapplan *plan)
{
    memset(plan, 0, sizeof *plan);
    const struct ova_facts *f = ova_validator_facts(j->val);
    if (j->vkind == OVA_KIND_OVA) {
        for (unsigned i = 0; i < f->ndisks && i < OVA_FACTS_MAX_DISKS &&
                             plan->ndisks < SNAPROUTE_MAX_DISKS; i++) {
            struct snapdisk *d = &plan->disks[plan->ndisks++];
            copy_field(d->format, sizeof d->format,
                       f->disks[i].format[0] ? f->disks[i].format : "VMDK");
            d->offset = f->disks[i].data_offset;
            d->length = f->disks[i].file_size;
        }
    } else {
        copy_field(plan->disks[0].format, sizeof plan->disks[0].format,
                   ova_kind_format(j->vkind));
        plan->ndisks = 1;
    }
    copy_field(plan->boot_mode, sizeof plan->boot_mode, p->boot_mode);
    copy_field(plan->architecture, sizeof plan->architecture,
               p->architecture);
    copy_field(plan->root_device, sizeof plan->root_device,
               p->root_device_name);
    copy_field(plan->tpm, sizeof plan->tpm, p->tpm_support);
    copy_field(plan->imds, sizeof plan->imds, p->imds_support);
    plan->ena = p->ena_support > 0;
}

/* A parameter only RegisterImage takes, or NULL. */
static const char *register_only(const struct import_params *p)
{
    if (p->boot_mode && strcmp(p->boot_mode, "uefi-preferred") == 0)
        return "BootMode uefi-preferred";
    if (p->architecture && strcmp(p->architecture, "arm64") == 0)
        return "Architecture arm64";
    if (p->tpm_support)
        return "TpmSupport";
    if (p->imds_support)
        return "ImdsSupport";
    if (p->ena_support >= 0)
        return "EnaSupport";
    if (p->root_device_name)
        return "RootDeviceName";
    return NULL;
}

static const char *route_of(struct importjob *j, const struct import_params *p)
{
    const char *r = p->route ? p->route : j->cfg->route ? j->cfg->route
                                                        : "auto";
    if (!j->cfg->routes && strcmp(r, "auto") == 0)
        return "image";
    return r;
}

static int start_snapshot_route(struct importjob *j,
                                const struct import_params *p,
                                const char *reason)
{
    struct snapplan plan;
    make_plan(j, p, &plan);
    char nm[1024], lead[128], why[1200];
    importjob_name(j, nm, sizeof nm);
    set_phase(j, UPLOAD_FINISHING, plan.ndisks > 1 || plan.disks[0].length
                                       ? "carving the disks; starting "
                                         "ImportSnapshot"
                                       : "starting ImportSnapshot");
    struct snaproute_req q = {0};
    q.bucket = obj_bucket(j);
    q.key = j->key;
    q.etag = j->etag;
    q.name = nm;
    q.description = p->description;
    q.tags = &p->tags;
    q.plan = &plan;
    q.reason = reason;
    int rc = snaproute_start(j->cfg->routes, &q, lead, sizeof lead, why,
                             sizeof why);
    if (rc != 0)
        return fail(j, -rc, "snapshot route: %s", why);
    pthread_mutex_lock(&j->mu);
    replace(&j->task_id, lead);
    j->phase = UPLOAD_STARTED;
    replace(&j->detail, NULL);
    j->result = 0;
    pthread_mutex_unlock(&j->mu);
    char enm[NAME_ESC_MAX];
    aws_log(j->cfg->lg, AWS_LOG_INFO, "imports/%s: snapshot route started "
            "%s (%zu disk(s))", name_esc(nm, enm, sizeof enm), lead,
            plan.ndisks);
    return 0;
}

/* route=auto: what a later fallback needs rides on the ImportImage task. */
static int tag_for_auto(struct importjob *j, struct import_params *p)
{
    struct snapplan plan;
    char text[300];
    make_plan(j, p, &plan);
    int rc = import_tag_set(&p->tags, SNAPROUTE_TAG_ROUTE, "auto");
    if (rc == 0 && snapplan_format(&plan, text, sizeof text) == 0)
        rc = import_tag_set(&p->tags, SNAPROUTE_TAG_PLAN, text);
    return rc;
}

/* ---- a manifest at the end of the OVA (core/stagedread.h) ------------- */

static void readback_progress(void *ctx, uint64_t done, uint64_t total)
{
    char d[160];
    snprintf(d, sizeof d, "verifying the manifest at the end of the OVA: "
             "%llu of %llu MiB read back", (unsigned long long)(done >> 20),
             (unsigned long long)(total >> 20));
    set_phase(ctx, UPLOAD_FINISHING, d);
}

/* The members a manifest at the end lists passed unhashed (ova.h): read
 * them back from the staged object before anything is imported. */
static int verify_late_manifest(struct importjob *j)
{
    const struct ova_facts *f = j->val ? ova_validator_facts(j->val) : NULL;
    if (!f || !f->manifest_read_back || f->manifest_verified)
        return 0;
    char why[600] = "", nm[1024], enm[NAME_ESC_MAX];
    importjob_name(j, nm, sizeof nm);
    aws_log(j->cfg->lg, AWS_LOG_INFO, "imports/%s: the manifest comes after "
            "the members it lists; reading %llu bytes back to verify it",
            name_esc(nm, enm, sizeof enm),
            (unsigned long long)f->manifest_read_back);
    readback_progress(j, 0, f->manifest_read_back);
    struct staged_src src = {j->cfg->client, obj_bucket(j), j->key, j->etag,
                             0, why, sizeof why};
    int rc = staged_verify_manifest(&src, j->val, readback_progress, j);
    if (rc == -1)
        return drop_refused(j);
    if (rc < 0) {
        /* nothing is imported unverified; the copy can simply be redone */
        if (!j->src_bucket)
            importjob_delete_staged(j);
        return fail(j, -rc, "the manifest at the end of the OVA could not "
                    "be verified: %s; nothing was imported, copy the OVA "
                    "again", why[0] ? why : strerror(-rc));
    }
    set_phase(j, UPLOAD_FINISHING, "starting ImportImage");
    return 0;
}

/* ---- the guest check (core/importguest.h) ------------------------------ */

/* Look inside the staged disks. True when VM Import is known to refuse
 * the guest (why: "guest check: <its message>"). Never fails the import:
 * a check that cannot read says so in its report. */
static bool check_guest(struct importjob *j, const struct import_params *p,
                        char *why, size_t n)
{
    struct snapplan plan;
    struct importguest_disk d[GUEST_MAX_DISKS];
    char names[GUEST_MAX_DISKS][32];
    make_plan(j, p, &plan);
    size_t nd = plan.ndisks < GUEST_MAX_DISKS ? plan.ndisks : GUEST_MAX_DISKS;
    pthread_mutex_lock(&j->mu);
    uint64_t size = j->received;
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < nd; i++) {
        snprintf(names[i], sizeof names[i], "disk%zu", i + 1);
        d[i].offset = plan.disks[i].offset;
        d[i].length = plan.disks[i].length ? plan.disks[i].length : size;
        d[i].name = names[i];
    }
    set_phase(j, UPLOAD_FINISHING, "checking the guest");
    struct guest_report *g = importguest_check(j->cfg->client, obj_bucket(j),
                                               j->key, j->etag, d, nd);
    if (!g)
        return false;
    char line[700], enm[NAME_ESC_MAX], nm[1024];
    const char *ga = guest_report_arch(g);
    importjob_name(j, nm, sizeof nm);
    if (p->architecture && ga[0] && strcmp(p->architecture, ga) != 0) {
        snprintf(line, sizeof line, "architecture=%s given, but the guest's "
                 "binaries are %s; using %s", p->architecture, ga,
                 p->architecture);
        guest_report_warn(g, "architecture-mismatch", line);
        aws_log(j->cfg->lg, AWS_LOG_WARN, "imports/%s: %s",
                name_esc(nm, enm, sizeof enm), line);
    }
    guest_report_line(g, line, sizeof line);
    aws_log(j->cfg->lg, AWS_LOG_INFO, "imports/%s: guest check: %s (%llu "
            "bytes read)", name_esc(nm, enm, sizeof enm), line,
            (unsigned long long)guest_report_bytes(g));
    bool refused = guest_report_verdict(g) == GUEST_REFUSED;
    snprintf(why, n, "guest check: %s", guest_report_reason(g));
    pthread_mutex_lock(&j->mu);
    guest_report_free(j->guest);
    j->guest = g;
    pthread_mutex_unlock(&j->mu);
    set_phase(j, UPLOAD_FINISHING, "starting ImportImage");
    return refused;
}

/* The snapshot route registers with the architecture the guest check
 * found (arm64) when the user named none; the user's value always wins. */
static int guest_arch_default(struct importjob *j, struct import_params *p)
{
    if (p->architecture)
        return 0;
    pthread_mutex_lock(&j->mu);
    bool arm = j->guest && !strcmp(guest_report_arch(j->guest), "arm64");
    pthread_mutex_unlock(&j->mu);
    if (arm && !(p->architecture = strdup("arm64")))
        return -ENOMEM;
    return 0;
}

char *importjob_guest(struct importjob *j, bool json)
{
    pthread_mutex_lock(&j->mu);
    char *s = !j->guest ? NULL
              : json    ? guest_report_json(j->guest)
                        : guest_report_text(j->guest);
    pthread_mutex_unlock(&j->mu);
    return s;
}

int importjob_guest_line(struct importjob *j, char *out, size_t n)
{
    pthread_mutex_lock(&j->mu);
    int rc = j->guest ? 0 : -ENOENT;
    if (j->guest)
        guest_report_line(j->guest, out, n);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* ImportImage answered task t: the job is STARTED. */
static void started(struct importjob *j, struct ec2_import_task *t,
                    const struct import_params *p)
{
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    pthread_mutex_lock(&j->mu);
    replace(&j->task_id, t->import_task_id);
    j->phase = UPLOAD_STARTED;
    replace(&j->detail, NULL);
    j->result = 0;
    pthread_mutex_unlock(&j->mu);
    char enm[NAME_ESC_MAX];
    aws_log(j->cfg->lg, AWS_LOG_INFO, "imports/%s: ImportImage started %s",
            name_esc(nm, enm, sizeof enm), t->import_task_id);
    cache_task(j, t, p);
}

static int start_import(struct importjob *j)
{
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    enum ova_kind want = ova_kind_from_name(nm);
    if (want != j->vkind && revalidate(j, want) != 0)
        return j->result;
    if (verify_late_manifest(j) != 0)
        return j->result;
    set_phase(j, UPLOAD_FINISHING, "starting ImportImage");
    struct import_params p;
    if (resolve(j, &p) != 0) {
        import_params_release(&p);
        return fail(j, ENOMEM, "out of memory");
    }
    const char *route = route_of(j, &p);
    const char *only = register_only(&p);
    if (strcmp(route, "snapshot") == 0 || (only && !strcmp(route, "auto"))) {
        int rc = start_snapshot_route(j, &p, NULL);
        import_params_release(&p);
        return rc;
    }
    if (only) {
        import_params_release(&p);
        return fail(j, EINVAL, "ImportImage cannot take %s (route=image); "
                    "use route=snapshot or route=auto", only);
    }
    char why[600];
    if (!j->cfg->no_guest_check && check_guest(j, &p, why, sizeof why) &&
        strcmp(route, "auto") == 0) {
        int rc = guest_arch_default(j, &p) != 0
                     ? fail(j, ENOMEM, "out of memory")
                     : start_snapshot_route(j, &p, why);
        import_params_release(&p);
        return rc;
    }
    if (strcmp(route, "auto") == 0 && tag_for_auto(j, &p) != 0) {
        import_params_release(&p);
        return fail(j, ENOMEM, "out of memory");
    }
    struct ec2_import_task t;
    memset(&t, 0, sizeof t);
    int rc = call_import(j, &p, &t);
    if (rc != 0) {
        ec2_import_task_release(&t);
        import_params_release(&p);
        return rc > 0 ? 0 : rc;
    }
    started(j, &t, &p);
    ec2_import_task_release(&t);
    import_params_release(&p);
    return 0;
}

/* Validator verdict (the writer's tee_end) + Complete. */
/* The upload was not completed because the writer was killed while its
 * close() waited (core/upload.h uw_config.may_complete): the job is
 * cancelled, as for a writer killed before its close. */
static int cancelled_in_close(struct importjob *j)
{
    char detail[512];
    pthread_mutex_lock(&j->mu);
    snprintf(detail, sizeof detail, "the writer was killed while its close() "
             "waited, after %llu bytes; upload aborted, no import",
             (unsigned long long)uw_received(j->w));
    if (j->phase != UPLOAD_CANCELLED) {
        j->phase = UPLOAD_CANCELLED;
        replace(&j->detail, detail);
    }
    j->closed = true;
    j->result = -ECANCELED;
    j->mtime = time(NULL);
    pthread_mutex_unlock(&j->mu);
    aws_log(j->cfg->lg, AWS_LOG_WARN, "imports/%s: %s", j->name, detail);
    return -ECANCELED;
}

static int finish_upload(struct importjob *j)
{
    int rc = ensure_writer(j);
    if (rc == 0)
        rc = uw_complete(j->w, j->etag);
    /* not completed because the closing writer was killed meanwhile
     * (uw_config.may_complete): cancelled, like a writer killed earlier */
    if (rc == -ECANCELED)
        return cancelled_in_close(j);
    if (rc != 0)
        return writer_failed(j, rc);
    pthread_mutex_lock(&j->mu);
    j->received = uw_size(j->w); /* padded to the size hint */
    pthread_mutex_unlock(&j->mu);
    return 0;
}

int importjob_close(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    bool done = j->closed || j->phase != UPLOAD_WRITING;
    int res = j->phase == UPLOAD_CANCELLED ? -ECANCELED : j->result;
    j->closed = true;
    pthread_mutex_unlock(&j->mu);
    if (done)
        return res;
    int rc = finish_upload(j);
    if (rc != 0)
        return rc;
    char nm[1024];
    importjob_name(j, nm, sizeof nm);
    if (!importjob_final_name(nm) || j->member) {
        set_phase(j, UPLOAD_STAGED, NULL);
        return 0;
    }
    return start_import(j);
}

int importjob_rename(struct importjob *j, const char *newname)
{
    pthread_mutex_lock(&j->mu);
    enum upload_phase ph = j->phase;
    int rc = j->import_called ? -EBUSY : 0;
    if (rc == 0)
        replace(&j->name, newname);
    rc = rc == 0 && !j->name ? -ENOMEM : rc;
    pthread_mutex_unlock(&j->mu);
    if (rc != 0 || ph != UPLOAD_STAGED || !importjob_final_name(newname))
        return rc;
    return start_import(j);
}

int importjob_abort(struct importjob *j, const char *why)
{
    char detail[512];
    pthread_mutex_lock(&j->mu);
    bool busy = j->import_called || j->phase == UPLOAD_FINISHING;
    bool now = !busy && j->phase == UPLOAD_WRITING;
    struct upload_writer *w = j->w;
    uint64_t got = w ? uw_received(w) : 0;
    if (now) {
        snprintf(detail, sizeof detail, "%s after %llu bytes; upload "
                 "aborted, no import", why, (unsigned long long)got);
        j->phase = UPLOAD_CANCELLED;
        j->closed = true;
        j->result = -ECANCELED;
        replace(&j->detail, detail);
        j->mtime = time(NULL);
        ova_validator_cancel(j->val); /* wakes a writer blocked in feed() */
    }
    pthread_mutex_unlock(&j->mu);
    if (busy)
        return -EBUSY;
    if (now && w)
        uw_abort(w, ECANCELED, why);
    if (now)
        aws_log(j->cfg->lg, AWS_LOG_WARN, "imports/%s: %s", j->name, detail);
    return 0;
}

/* rm of a queued file: out of the shared queue, then the staged object. */
static int cancel_queued(struct importjob *j)
{
    int rc = j->cfg->queue ? importqueue_remove(j->cfg->queue, j->key)
                           : -EBUSY;
    if (rc != 0)
        return -EBUSY;
    pthread_mutex_lock(&j->mu);
    bool still = j->phase == UPLOAD_QUEUED;
    if (still) {
        j->phase = UPLOAD_CANCELLED;
        replace(&j->detail, "removed from imports/ while queued; the import "
                            "will not start");
        j->mtime = time(NULL);
    }
    pthread_mutex_unlock(&j->mu);
    if (!still)
        return -EBUSY;
    importjob_delete_staged(j);
    return 0;
}

int importjob_cancel(struct importjob *j)
{
    if (importjob_phase(j) == UPLOAD_QUEUED)
        return cancel_queued(j);
    pthread_mutex_lock(&j->mu);
    enum upload_phase ph = j->phase;
    bool busy = j->import_called || ph == UPLOAD_FINISHING;
    if (!busy && (ph == UPLOAD_WRITING || ph == UPLOAD_STAGED)) {
        j->phase = UPLOAD_CANCELLED;
        replace(&j->detail, "removed from imports/ before the import "
                            "started; upload aborted");
    }
    if (!busy && ph == UPLOAD_WRITING)
        ova_validator_cancel(j->val); /* wakes a writer blocked in feed() */
    struct upload_writer *w = j->w;
    pthread_mutex_unlock(&j->mu);
    if (busy)
        return -EBUSY;
    if (ph == UPLOAD_WRITING && w)
        uw_abort(w, ECANCELED, "removed from imports/");
    if (ph == UPLOAD_STAGED) {
        struct aws_error err;
        aws_error_clear(&err);
        s3_delete_object(j->cfg->client, j->cfg->bucket, j->key, &err);
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

ssize_t importjob_read(struct importjob *j, char *buf, size_t n, off_t off)
{
    pthread_mutex_lock(&j->mu);
    bool complete = j->phase == UPLOAD_STAGED || j->phase == UPLOAD_QUEUED ||
                    j->phase == UPLOAD_STARTED ||
                    (j->phase == UPLOAD_FINISHING && j->import_called);
    uint64_t size = j->received;
    pthread_mutex_unlock(&j->mu);
    if (!complete)
        return -EBUSY;
    if (off < 0 || (uint64_t)off >= size || n == 0)
        return 0;
    if (n > size - (uint64_t)off)
        n = (size_t)(size - (uint64_t)off);
    size_t got = 0;
    struct aws_error err;
    aws_error_clear(&err);
    if (s3_get_range_into(j->cfg->client, obj_bucket(j), j->key,
                          (uint64_t)off, n, j->etag[0] ? j->etag : NULL, buf,
                          &got, &err) != 0)
        return -aws_error_errno(&err);
    return (ssize_t)got;
}

/* ---- snapshots -------------------------------------------------------- */

/* "3 of 7 (20 import tasks active)" as of the queue's last round. */
static void queued_detail(struct importjob *j, struct importjob_info *o)
{
    struct importqueue_pos pos;
    if (!j->cfg->queue ||
        importqueue_position(j->cfg->queue, j->key, &pos) != 0 ||
        !pos.position)
        return;
    struct buf b;
    buf_init(&b, 0);
    if (buf_printf(&b, "%zu of %zu (%zu import task%s active)", pos.position,
                   pos.total, pos.active, pos.active == 1 ? "" : "s") == 0) {
        free(o->hold[2]);
        o->hold[2] = buf_detach(&b);
        o->u.detail = o->hold[2];
    } else
        buf_release(&b);
}

void importjob_info(struct importjob *j, struct importjob_info *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&j->mu);
    o->hold[0] = xstrdup(j->name);
    o->hold[1] = xstrdup(j->key);
    o->hold[2] = xstrdup(j->detail);
    o->hold[3] = xstrdup(j->task_id);
    o->u.phase = j->phase;
    o->u.received = j->received;
    time_t el = time(NULL) - j->start;
    o->u.rate = (double)j->received / (double)(el > 0 ? el : 1);
    o->mtime = j->mtime;
    enum ova_kind k = j->val ? j->vkind : ova_kind_from_name(j->name);
    struct upload_writer *w = j->w;
    pthread_mutex_unlock(&j->mu);
    o->u.name = o->hold[0] ? o->hold[0] : "";
    o->u.key = o->hold[1];
    o->u.detail = o->hold[2];
    o->u.task_id = o->hold[3];
    o->u.bucket = obj_bucket(j);
    o->u.kind = k != OVA_KIND_NONE ? ova_kind_format(k) : NULL;
    if (o->u.phase == UPLOAD_QUEUED)
        queued_detail(j, o);
    /* uw_sent is thread-safe; the writer lives as long as j. */
    o->u.sent = w ? uw_sent(w) : 0;
}

void importjob_info_release(struct importjob_info *i)
{
    for (size_t k = 0; k < sizeof i->hold / sizeof i->hold[0]; k++)
        free(i->hold[k]);
    memset(i, 0, sizeof *i);
}

enum upload_phase importjob_phase(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    enum upload_phase p = j->phase;
    pthread_mutex_unlock(&j->mu);
    return p;
}

int importjob_writers(struct importjob *j, int delta)
{
    pthread_mutex_lock(&j->mu);
    j->writers += delta;
    if (j->writers < 0)
        j->writers = 0;
    int n = j->writers;
    pthread_mutex_unlock(&j->mu);
    return n;
}

bool importjob_wrote(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    struct upload_writer *w = j->w;
    pthread_mutex_unlock(&j->mu);
    return w && uw_wrote(w);
}

uint64_t importjob_size(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    uint64_t s = j->received;
    pthread_mutex_unlock(&j->mu);
    return s;
}

time_t importjob_started(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    time_t t = j->start;
    pthread_mutex_unlock(&j->mu);
    return t;
}

int importjob_task_id(struct importjob *j, char *out, size_t n)
{
    pthread_mutex_lock(&j->mu);
    int rc = j->task_id ? 0 : -ENOENT;
    if (j->task_id)
        snprintf(out, n, "%s", j->task_id);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

const char *importjob_key(const struct importjob *j)
{
    return j->key;
}

const char *importjob_bucket(const struct importjob *j)
{
    return obj_bucket(j);
}

/* Make a fresh job the record of the user's object bucket/key (link: the
 * symlink's text): 0, -EBUSY when something was written, -ENOMEM. */
static int claim_object(struct importjob *j, const char *bucket,
                        const char *key, const char *link)
{
    char *b = strdup(bucket), *k = strdup(key), *l = strdup(link);
    pthread_mutex_lock(&j->mu);
    bool fresh = j->phase == UPLOAD_WRITING && !j->w && !j->closed;
    if (fresh && b && k && l) {
        free(j->key);
        j->key = k;
        j->src_bucket = b;
        j->link = l;
        j->closed = true;
        j->vkind = OVA_KIND_NONE; /* start_import validates it first */
        b = k = l = NULL;
    }
    pthread_mutex_unlock(&j->mu);
    bool nomem = b || k || l;
    free(b);
    free(k);
    free(l);
    if (!fresh)
        return -EBUSY;
    return nomem ? -ENOMEM : 0;
}

int importjob_adopt(struct importjob *j, const char *bucket, const char *key,
                    const char *link)
{
    struct s3_head h;
    struct aws_error err;
    aws_error_clear(&err);
    int rc = claim_object(j, bucket, key, link);
    if (rc == -EBUSY)
        return rc;
    if (rc != 0)
        return fail(j, ENOMEM, "out of memory");
    set_phase(j, UPLOAD_FINISHING, "reading the object where it lies");
    if (s3_head_object(j->cfg->client, bucket, key, &h, &err) != 0)
        return upload_failed(j, &err);
    pthread_mutex_lock(&j->mu);
    snprintf(j->etag, sizeof j->etag, "%s", h.etag);
    j->received = h.size;
    pthread_mutex_unlock(&j->mu);
    return start_import(j);
}

int importjob_restore(struct importjob *j, const char *bucket,
                      const char *key, const char *link)
{
    struct aws_error err;
    aws_error_clear(&err);
    char name[1024], ami[64] = "", msg[700];
    int rc = claim_object(j, bucket, key, link);
    if (rc == -EBUSY)
        return rc;
    if (rc != 0)
        return fail(j, ENOMEM, "out of memory");
    importjob_name(j, name, sizeof name);
    set_phase(j, UPLOAD_FINISHING, "CreateRestoreImageTask");
    if (ec2_create_restore_image_task(j->cfg->client, NULL, bucket, key, name,
                                      ami, sizeof ami, &err) != 0) {
        aws_error_format(&err, msg, sizeof msg);
        int e = aws_error_errno(&err);
        return fail(j, e ? e : EIO, "restoring s3://%s/%s failed: %s",
                    bucket, key, msg);
    }
    pthread_mutex_lock(&j->mu);
    replace(&j->restored, ami);
    j->phase = UPLOAD_STARTED;
    replace(&j->detail, NULL);
    j->result = 0;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* Ask DescribeImages about the restored AMI (at most once a second). */
static void poll_restored(struct importjob *j, const char *ami)
{
    struct ec2_image_list l = {0};
    struct aws_error err;
    aws_error_clear(&err);
    const char *ids[1] = {ami};
    int rc = ec2_describe_images(j->cfg->client, NULL, ids, 1, &l, &err);
    pthread_mutex_lock(&j->mu);
    j->restore_polled = time(NULL);
    if (rc == 0 && l.n == 1 && l.v[0].state) {
        replace(&j->restore_state, l.v[0].state);
        replace(&j->restore_reason, l.v[0].state_reason);
    } else if (rc == 0 || aws_error_errno(&err) == ENOENT) {
        replace(&j->restore_state, "failed");
        replace(&j->restore_reason, "the restored AMI is gone");
    }
    pthread_mutex_unlock(&j->mu);
    ec2_image_list_release(&l);
}

bool importjob_is_restore(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    bool r = j->restored != NULL;
    pthread_mutex_unlock(&j->mu);
    return r;
}

int importjob_restore_task(struct importjob *j, struct ec2_import_task *out)
{
    char ami[64] = "", state[32] = "", why[512] = "";
    pthread_mutex_lock(&j->mu);
    bool poll = j->restored && time(NULL) != j->restore_polled &&
                (!j->restore_state || strcmp(j->restore_state, "pending") == 0);
    if (j->restored)
        snprintf(ami, sizeof ami, "%s", j->restored);
    pthread_mutex_unlock(&j->mu);
    if (!ami[0])
        return -ENOENT;
    if (poll)
        poll_restored(j, ami);
    pthread_mutex_lock(&j->mu);
    snprintf(state, sizeof state, "%s",
             j->restore_state ? j->restore_state : "pending");
    snprintf(why, sizeof why, "%s",
             j->restore_reason ? j->restore_reason : state);
    pthread_mutex_unlock(&j->mu);
    memset(out, 0, sizeof *out);
    bool done = strcmp(state, "available") == 0;
    bool bad = !done && strcmp(state, "pending") != 0;
    char line[600];
    snprintf(line, sizeof line, "restoring %s", ami);
    out->image_id = strdup(ami);
    out->status = strdup(done ? "completed" : bad ? "deleted" : "active");
    out->status_message = strdup(bad ? why : done ? "" : line);
    if (!out->image_id || !out->status || !out->status_message) {
        ec2_import_task_release(out);
        return -ENOMEM;
    }
    return 0;
}

int importjob_link(struct importjob *j, char *out, size_t n)
{
    pthread_mutex_lock(&j->mu);
    int rc = j->link ? 0 : -EINVAL;
    if (j->link && n)
        snprintf(out, n, "%s", j->link);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void importjob_name(struct importjob *j, char *out, size_t n)
{
    pthread_mutex_lock(&j->mu);
    snprintf(out, n, "%s", j->name);
    pthread_mutex_unlock(&j->mu);
}

/* ---- the shared queue's verdicts ------------------------------------- */

static void known(void *arg, const struct ec2_import_task *t, bool cancelled)
{
    (void)arg, (void)t, (void)cancelled;
}

int importjob_dequeued(struct importjob *j, const struct ec2_import_task *t)
{
    pthread_mutex_lock(&j->mu);
    bool queued = j->phase == UPLOAD_QUEUED;
    if (queued) {
        replace(&j->task_id, t->import_task_id);
        j->phase = UPLOAD_STARTED;
        replace(&j->detail, NULL);
        j->mtime = time(NULL);
    }
    pthread_mutex_unlock(&j->mu);
    if (!queued)
        return -EINVAL;
    char nm[1024], enm[NAME_ESC_MAX];
    importjob_name(j, nm, sizeof nm);
    aws_log(j->cfg->lg, AWS_LOG_INFO, "imports/%s: queued import started %s",
            name_esc(nm, enm, sizeof enm), t->import_task_id);
    if (j->cfg->tasks) {
        /* a newer state the cache holds wins over the queue's snapshot */
        if (taskcache_with(j->cfg->tasks, t->import_task_id, known, NULL) != 0)
            taskcache_put(j->cfg->tasks, t);
        taskcache_kick(j->cfg->tasks);
    }
    return 0;
}

int importjob_queue_failed(struct importjob *j, const char *why)
{
    if (importjob_phase(j) != UPLOAD_QUEUED)
        return -EINVAL;
    fail(j, EIO, "ImportImage refused: %s", why);
    return 0;
}

int importjob_keep_staged(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    /* an adopted object (a symlink into imports/) is the user's: kept */
    int k = j->src_bucket ? 1 : j->params.keep_staged;
    pthread_mutex_unlock(&j->mu);
    return k;
}

char *importjob_copy_regions(struct importjob *j)
{
    pthread_mutex_lock(&j->mu);
    const char *r = j->params.copy_regions ? j->params.copy_regions
                                           : j->cfg->copy_regions;
    char *out = r && *r ? strdup(r) : NULL;
    pthread_mutex_unlock(&j->mu);
    return out;
}

/* ---- folder imports (core/importset.h) ---------------------------------- */

struct importjob *importjob_new_at(const struct import_config *cfg,
                                   const char *name, const char *key)
{
    struct importjob *j = importjob_new(cfg, name);
    if (!j)
        return NULL;
    char *k = strdup(key);
    if (!k) {
        importjob_unref(j);
        return NULL;
    }
    free(j->key);
    j->key = k;
    return j;
}

void importjob_member(struct importjob *j,
                      void (*tap)(void *ctx, const void *p, size_t n),
                      void *ctx)
{
    j->member = true;
    j->tap = tap;
    j->tap_ctx = ctx;
}

const char *importjob_etag(const struct importjob *j)
{
    return j->etag;
}

void importjob_waiting(struct importjob *j, enum upload_phase ph,
                       const char *detail)
{
    set_phase(j, ph, detail);
}

int importjob_set_failed(struct importjob *j, int err, const char *why)
{
    pthread_mutex_lock(&j->mu);
    j->import_called = true; /* nothing more may start it */
    pthread_mutex_unlock(&j->mu);
    return fail(j, err, "%s", why);
}

/* Record the set's disks on the lead: key = the first disk's object (the
 * queue and the task find the job by it), more_keys the others'. */
static int take_keys(struct importjob *j, const struct importjob_disk *d,
                     size_t n)
{
    char **more = n > 1 ? calloc(n - 1, sizeof *more) : NULL;
    char *first = strdup(d[0].key);
    bool ok = first && (n < 2 || more);
    for (size_t i = 1; ok && i < n; i++)
        ok = (more[i - 1] = strdup(d[i].key)) != NULL;
    if (!ok) {
        for (size_t i = 1; more && i < n; i++)
            free(more[i - 1]);
        free(more);
        free(first);
        return -ENOMEM;
    }
    pthread_mutex_lock(&j->mu);
    free(j->key);
    j->key = first;
    j->more_keys = more;
    j->nmore = n - 1;
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* One ClientToken for the whole set: every disk's bucket/key#ETag. */
static void set_token(struct importjob *j, const struct importjob_disk *d,
                      size_t n, char token[65])
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s#%s,", d[i].key, d[i].etag);
    import_client_token(j->cfg->bucket, buf_cstr(&b), "", token);
    buf_release(&b);
}

static int send_set(struct importjob *j, struct import_params *p,
                    const struct importjob_disk *d, size_t n)
{
    struct ec2_disk_container dc[OVA_MAX_DISKS];
    memset(dc, 0, sizeof dc);
    for (size_t i = 0; i < n; i++) {
        dc[i].format = d[i].format;
        dc[i].s3_bucket = j->cfg->bucket;
        dc[i].s3_key = d[i].key;
    }
    char token[65];
    set_token(j, d, n, token);
    struct ec2_import_params ip;
    build_request(p, dc, n, token, &ip);
    struct ec2_import_task t;
    memset(&t, 0, sizeof t);
    int rc = send_import(j, &ip, &t);
    if (rc == 0)
        started(j, &t, p);
    ec2_import_task_release(&t);
    return rc > 0 ? 0 : rc;
}

int importjob_start_set(struct importjob *j, const struct importjob_disk *d,
                        size_t n, const struct ova_facts *facts,
                        const char *note)
{
    if (n == 0 || n > OVA_MAX_DISKS)
        return importjob_set_failed(j, EINVAL, "no disk to import");
    struct ova_facts *f = malloc(sizeof *f);
    if (!f || take_keys(j, d, n) != 0) {
        free(f);
        return importjob_set_failed(j, ENOMEM, "out of memory");
    }
    *f = *facts;
    pthread_mutex_lock(&j->mu);
    j->set_facts = f;
    replace(&j->set_note, note);
    pthread_mutex_unlock(&j->mu);
    set_phase(j, UPLOAD_FINISHING, "starting ImportImage");
    struct import_params p;
    if (resolve(j, &p) != 0) {
        import_params_release(&p);
        return fail(j, ENOMEM, "out of memory");
    }
    if (importjob_phase(j) == UPLOAD_CANCELLED) { /* rm -r won the race */
        import_params_release(&p);
        return -ECANCELED;
    }
    const char *only = register_only(&p);
    int rc = only ? fail(j, EINVAL, "a folder import goes by ImportImage, "
                         "which cannot take %s", only)
                  : send_set(j, &p, d, n);
    import_params_release(&p);
    return rc;
}

void importjob_delete_staged(struct importjob *j)
{
    struct aws_error err;
    for (size_t i = 0; i <= j->nmore; i++) {
        const char *k = i == 0 ? j->key : j->more_keys[i - 1];
        aws_error_clear(&err);
        if (s3_delete_object(j->cfg->client, j->cfg->bucket, k, &err) == 0)
            aws_log(j->cfg->lg, AWS_LOG_INFO, "cleanup: deleted s3://%s/%s",
                    j->cfg->bucket,
                    name_esc(k, (char[NAME_ESC_MAX]){0}, NAME_ESC_MAX));
    }
}
