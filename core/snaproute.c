/* snaproute.c — ImportSnapshot per disk, then RegisterImage (see
 * core/snaproute.h). */
#include "core/snaproute.h"
#include "core/name.h"
#include "core/params.h"
#include "core/status.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/s3.h"

#define CARVE_PART (512ULL << 20)

static const char *tagv(const char *v)
{
    return v ? v : "";
}

/* ---- plans ------------------------------------------------------------- */

static int add(char *out, size_t n, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int add(char *out, size_t n, size_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = *at < n ? vsnprintf(out + *at, n - *at, fmt, ap) : -1;
    va_end(ap);
    if (k < 0 || *at + (size_t)k >= n)
        return -E2BIG;
    *at += (size_t)k;
    return 0;
}

int snapplan_format(const struct snapplan *p, char *out, size_t n)
{
    size_t at = 0;
    int rc = add(out, n, &at, "d=");
    for (size_t i = 0; rc == 0 && i < p->ndisks; i++)
        rc = add(out, n, &at, "%s%s@%llu+%llu", i ? "," : "",
                 p->disks[i].format,
                 (unsigned long long)p->disks[i].offset,
                 (unsigned long long)p->disks[i].length);
    const struct {
        char k;
        const char *v;
    } F[] = {{'b', p->boot_mode}, {'a', p->architecture},
             {'r', p->root_device}, {'t', p->tpm}, {'i', p->imds}};
    for (size_t i = 0; rc == 0 && i < sizeof F / sizeof F[0]; i++)
        if (F[i].v[0])
            rc = add(out, n, &at, ";%c=%s", F[i].k, F[i].v);
    if (rc == 0 && p->ena)
        rc = add(out, n, &at, ";e=1");
    if (rc == 0 && at > 256)
        rc = -E2BIG;
    return rc;
}

static int parse_disk(struct snapdisk *d, const char *s, size_t len)
{
    char tmp[80], *at, *plus, *end;
    if (len >= sizeof tmp)
        return -EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    at = strchr(tmp, '@');
    plus = at ? strchr(at, '+') : NULL;
    if (!at || !plus || at == tmp || (size_t)(at - tmp) >= sizeof d->format)
        return -EINVAL;
    memcpy(d->format, tmp, (size_t)(at - tmp));
    d->format[at - tmp] = '\0';
    d->offset = strtoull(at + 1, &end, 10);
    if (end != plus)
        return -EINVAL;
    d->length = strtoull(plus + 1, &end, 10);
    return *end ? -EINVAL : 0;
}

static int parse_disks(struct snapplan *p, const char *s, size_t len)
{
    while (len > 0) {
        const char *comma = memchr(s, ',', len);
        size_t one = comma ? (size_t)(comma - s) : len;
        if (p->ndisks >= SNAPROUTE_MAX_DISKS ||
            parse_disk(&p->disks[p->ndisks++], s, one) != 0)
            return -EINVAL;
        s += one + (comma ? 1 : 0);
        len -= one + (comma ? 1 : 0);
    }
    return p->ndisks ? 0 : -EINVAL;
}

static int parse_field(struct snapplan *p, char k, const char *v, size_t len)
{
    char *dst = k == 'b' ? p->boot_mode : k == 'a' ? p->architecture
              : k == 'r' ? p->root_device : k == 't' ? p->tpm
              : k == 'i' ? p->imds : NULL;
    size_t cap = k == 'b' ? sizeof p->boot_mode : k == 'a'
                 ? sizeof p->architecture : k == 'r' ? sizeof p->root_device
                 : sizeof p->tpm;
    if (k == 'd')
        return parse_disks(p, v, len);
    if (k == 'e') {
        p->ena = len == 1 && *v == '1';
        return 0;
    }
    if (!dst || len >= cap)
        return -EINVAL;
    memcpy(dst, v, len);
    dst[len] = '\0';
    return 0;
}

int snapplan_parse(struct snapplan *p, const char *text)
{
    memset(p, 0, sizeof *p);
    const char *s = text ? text : "";
    while (*s) {
        const char *semi = strchr(s, ';');
        size_t len = semi ? (size_t)(semi - s) : strlen(s);
        if (len < 2 || s[1] != '=' || parse_field(p, s[0], s + 2, len - 2))
            return -EINVAL;
        s += len + (semi ? 1 : 0);
    }
    return p->ndisks ? 0 : -EINVAL;
}

void snaproute_ami_name(const char *key, char *out, size_t n)
{
    size_t k = 0;
    const char *pre = "amifs ";
    for (; *pre && k + 1 < n; pre++)
        out[k++] = *pre;
    size_t len = strlen(key);
    const char *s = len > 120 ? key + len - 120 : key; /* keep the tail */
    for (; *s && k + 1 < n && k < 128; s++) {
        unsigned char c = (unsigned char)*s;
        out[k++] = (isalnum(c) || strchr("()[]./-'@_ ", c)) ? (char)c : '_';
    }
    out[k] = '\0';
}

void snaproute_device(const struct snapplan *p, size_t i, char *out, size_t n)
{
    if (i == 0)
        snprintf(out, n, "%s", p->root_device[0] ? p->root_device
                                                 : "/dev/sda1");
    else
        snprintf(out, n, "/dev/sd%c", (char)('a' + i));
}

/* ---- the runner -------------------------------------------------------- */

struct route {
    struct snaproute *r;
    pthread_t th;
    bool joinable;
    char lead[128];
    struct snapplan plan;
    char *bucket, *key, *etag, *name, *description, *first;
    char *reason;                     /* snaproute_req.reason */
    struct ec2_tags tags;
    char *tasks[SNAPROUTE_MAX_DISKS]; /* import-snapshot task ids */
    char *snaps[SNAPROUTE_MAX_DISKS]; /* their snapshots */
    bool started;                     /* ImportSnapshot calls made */
    int base;                         /* progress at the start */
    struct route *next;
};

struct snaproute {
    struct snaproute_config cfg;
    char *role;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    struct route *routes;
};

struct snaproute *snaproute_new(const struct snaproute_config *cfg)
{
    struct snaproute *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cfg = *cfg;
    r->role = cfg->role ? strdup(cfg->role) : NULL;
    r->cfg.role = r->role;
    if (r->cfg.poll_seconds <= 0)
        r->cfg.poll_seconds = 10.0;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    return r;
}

static void route_free(struct route *q)
{
    free(q->bucket);
    free(q->key);
    free(q->etag);
    free(q->name);
    free(q->description);
    free(q->first);
    free(q->reason);
    ec2_tags_release(&q->tags);
    for (size_t i = 0; i < SNAPROUTE_MAX_DISKS; i++) {
        free(q->tasks[i]);
        free(q->snaps[i]);
    }
    free(q);
}

void snaproute_stop(struct snaproute *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    /* No route is added once stopping: the list is ours to walk. */
    for (struct route *x = r->routes; x; x = x->next)
        if (x->joinable) {
            pthread_join(x->th, NULL);
            x->joinable = false;
        }
}

void snaproute_free(struct snaproute *r)
{
    if (!r)
        return;
    snaproute_stop(r);
    struct route *list = r->routes;
    r->routes = NULL;
    while (list) {
        struct route *next = list->next;
        route_free(list);
        list = next;
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->role);
    free(r);
}

/* Sleep up to `s` seconds; false when the runner is stopping. */
static bool nap(struct snaproute *r, double s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)s;
    ts.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stopping)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) != 0)
            break;
    bool go = !r->stopping;
    pthread_mutex_unlock(&r->mu);
    return go;
}

static bool stopping(struct snaproute *r)
{
    pthread_mutex_lock(&r->mu);
    bool s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* ---- the route's task in tasks/ ---------------------------------------- */

static void show(struct route *q, const char *status, const char *msg,
                 int progress, const char *ami)
{
    struct ec2_import_task t;
    memset(&t, 0, sizeof t);
    char pct[16];
    snprintf(pct, sizeof pct, "%d", progress);
    t.import_task_id = q->lead;
    t.status = (char *)status;
    t.status_message = (char *)msg;
    t.progress = progress >= 0 ? pct : NULL;
    t.image_id = (char *)ami;
    t.description = q->description;
    t.boot_mode = q->plan.boot_mode[0] ? q->plan.boot_mode : NULL;
    t.architecture = q->plan.architecture[0] ? q->plan.architecture : NULL;
    struct ec2_snapshot_detail d[SNAPROUTE_MAX_DISKS];
    memset(d, 0, sizeof d);
    char dev[SNAPROUTE_MAX_DISKS][32];
    for (size_t i = 0; i < q->plan.ndisks; i++) {
        snaproute_device(&q->plan, i, dev[i], sizeof dev[i]);
        d[i].device_name = dev[i];
        d[i].snapshot_id = q->snaps[i];
        d[i].format = q->plan.disks[i].format;
        d[i].s3_bucket = q->bucket;
        d[i].s3_key = q->key;
    }
    t.snapshots = d;
    t.nsnapshots = q->plan.ndisks;
    struct ec2_tags tags = {NULL, 0};
    bool ok = true;
    for (size_t i = 0; i < q->tags.n && ok; i++)
        ok = import_tag_set(&tags, q->tags.v[i].key,
                            tagv(q->tags.v[i].value)) == 0;
    if (ok && q->first)
        ok = import_tag_set(&tags, SNAPROUTE_TAG_FIRST, tagv(q->first)) == 0;
    t.tags = tags;
    if (ok)
        taskcache_overlay(q->r->cfg.tasks, &t);
    ec2_tags_release(&tags);
}

static void show_active(struct route *q, const char *step, int progress)
{
    char msg[1024];
    if (q->first)
        snprintf(msg, sizeof msg, "snapshot-route (ImportImage: %s)",
                 q->first);
    else if (q->reason)
        snprintf(msg, sizeof msg, "snapshot-route (%s)", q->reason);
    else
        snprintf(msg, sizeof msg, "snapshot-route %s", step);
    show(q, "active", msg, progress, NULL);
}

static int route_failed(struct route *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int route_failed(struct route *q, const char *fmt, ...)
{
    char why[700], msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (q->first)
        snprintf(msg, sizeof msg, "snapshot route failed: %s (ImportImage: "
                 "%s)", why, q->first);
    else
        snprintf(msg, sizeof msg, "snapshot route failed: %s", why);
    show(q, "deleted", msg, -1, NULL);
    char e[NAME_ESC_MAX];
    aws_log(q->r->cfg.lg, AWS_LOG_ERROR, "%s: %s", q->lead,
            name_esc(msg, e, sizeof e));
    return -EIO;
}

static int aws_failed(struct route *q, const char *what,
                      const struct aws_error *err)
{
    char msg[700];
    aws_error_format(err, msg, sizeof msg);
    return route_failed(q, "%s: %s", what, msg);
}

/* ---- steps ------------------------------------------------------------- */

static void carved_key(const struct route *q, size_t i, char *out, size_t n)
{
    if (q->plan.disks[i].length == 0) {
        snprintf(out, n, "%s", q->key);
        return;
    }
    char ext[8];
    size_t k = 0;
    for (; q->plan.disks[i].format[k] && k + 1 < sizeof ext; k++)
        ext[k] = (char)tolower((unsigned char)q->plan.disks[i].format[k]);
    ext[k] = '\0';
    snprintf(out, n, "%s.disk%zu.%s", q->key, i + 1, ext);
}

/* One disk's bytes of the staged OVA into an object of its own, by S3
 * itself (UploadPartCopy byte ranges): nothing crosses the network. */
static int carve(struct route *q, size_t i, struct aws_error *err)
{
    const struct snapdisk *d = &q->plan.disks[i];
    char key[2048], uid[256];
    carved_key(q, i, key, sizeof key);
    struct s3_head h;
    struct aws_client *c = q->r->cfg.client;
    if (s3_head_object(c, q->bucket, key, &h, err) == 0 &&
        h.size == d->length)
        return 0; /* carved before (a resumed route) */
    aws_error_clear(err);
    if (s3_mpu_create(c, q->bucket, key, uid, sizeof uid, err) != 0)
        return -1;
    size_t nparts = (size_t)((d->length + CARVE_PART - 1) / CARVE_PART);
    struct s3_part *parts = calloc(nparts ? nparts : 1, sizeof *parts);
    int rc = parts ? 0 : aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    for (size_t p = 0; rc == 0 && p < nparts; p++) {
        uint64_t first = d->offset + p * CARVE_PART;
        uint64_t last = first + CARVE_PART - 1;
        if (last > d->offset + d->length - 1)
            last = d->offset + d->length - 1;
        parts[p].number = (int)p + 1;
        parts[p].size = last - first + 1;
        rc = s3_mpu_upload_part_copy(c, q->bucket, key, uid, (int)p + 1,
                                     q->bucket, q->key, first, last,
                                     parts[p].etag, err);
    }
    char etag[72];
    if (rc == 0)
        rc = s3_mpu_complete(c, q->bucket, key, uid, parts, nparts, etag,
                             err);
    if (rc != 0) {
        struct aws_error e2;
        aws_error_clear(&e2);
        s3_mpu_abort(c, q->bucket, key, uid, &e2);
    }
    free(parts);
    return rc;
}

static int snap_tags(struct route *q, size_t i, struct ec2_tags *out)
{
    char disk[48], plan[300];
    snprintf(disk, sizeof disk, "%zu/%zu", i + 1, q->plan.ndisks);
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < q->tags.n; k++)
        rc = import_tag_set(out, q->tags.v[k].key,
                            tagv(q->tags.v[k].value));
    if (rc == 0)
        rc = import_tag_set(out, SNAPROUTE_TAG_DISK, disk);
    if (rc == 0 && snapplan_format(&q->plan, plan, sizeof plan) == 0)
        rc = import_tag_set(out, SNAPROUTE_TAG_PLAN, plan);
    if (rc == 0)
        rc = import_tag_set(out, SNAPROUTE_TAG_ROUTE,
                          q->first ? "auto" : "snapshot");
    return rc;
}

static int import_one(struct route *q, size_t i, struct aws_error *err)
{
    char key[2048], token[65], desc[1200], salted[200];
    carved_key(q, i, key, sizeof key);
    snprintf(salted, sizeof salted, "%s#snapshot", q->etag ? q->etag : "");
    import_client_token(q->bucket, key, salted, token);
    snprintf(desc, sizeof desc, "amifs snapshot route: %s disk %zu/%zu",
             q->name, i + 1, q->plan.ndisks);
    struct ec2_disk_container dc = {0};
    dc.format = q->plan.disks[i].format;
    dc.s3_bucket = q->bucket;
    dc.s3_key = key;
    struct ec2_tags tags = {NULL, 0};
    if (snap_tags(q, i, &tags) != 0) {
        ec2_tags_release(&tags);
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    }
    struct ec2_import_snapshot_task t;
    int rc = ec2_import_snapshot(q->r->cfg.client, &dc, desc, q->r->cfg.role,
                                 token, &tags, &t, err);
    ec2_tags_release(&tags);
    if (rc == 0 && !t.import_task_id)
        rc = aws_error_set(err, AWS_ERR_PARSE, "ImportSnapshot: no task id");
    if (rc == 0 && !(q->tasks[i] = strdup(t.import_task_id)))
        rc = aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    ec2_import_snapshot_task_release(&t);
    return rc;
}

/* Carve (OVA members) and start every ImportSnapshot. */
static int begin(struct route *q, char *why, size_t whylen)
{
    struct aws_error err;
    for (size_t i = 0; i < q->plan.ndisks; i++) {
        aws_error_clear(&err);
        if (q->plan.disks[i].length && carve(q, i, &err) != 0) {
            char msg[600];
            aws_error_format(&err, msg, sizeof msg);
            snprintf(why, whylen, "carving disk %zu out of s3://%s/%s: %s",
                     i + 1, q->bucket, q->key, msg);
            return -(aws_error_errno(&err) ? aws_error_errno(&err) : EIO);
        }
    }
    for (size_t i = 0; i < q->plan.ndisks; i++) {
        aws_error_clear(&err);
        if (import_one(q, i, &err) != 0) {
            char msg[600];
            aws_error_format(&err, msg, sizeof msg);
            snprintf(why, whylen, "ImportSnapshot of disk %zu refused: %s",
                     i + 1, msg);
            return -(aws_error_errno(&err) ? aws_error_errno(&err) : EIO);
        }
    }
    q->started = true;
    return 0;
}

/* One look at the snapshot tasks: 1 all done, 0 still going, -1 failed
 * (the route's task says why). */
static int poll_once(struct route *q)
{
    struct ec2_import_snapshot_task_list l = {NULL, 0};
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_describe_import_snapshot_tasks(
            q->r->cfg.client, NULL, (const char *const *)q->tasks,
            q->plan.ndisks, &l, &err) != 0)
        return 0; /* transient: look again */
    int done = 0, rc = 1;
    double sum = 0;
    for (size_t i = 0; i < l.n && rc >= 0; i++) {
        const struct ec2_snapshot_detail *d = &l.v[i].detail;
        for (size_t k = 0; k < q->plan.ndisks; k++)
            if (q->tasks[k] && l.v[i].import_task_id &&
                strcmp(q->tasks[k], l.v[i].import_task_id) == 0 &&
                d->snapshot_id && !q->snaps[k] && d->status &&
                strcmp(d->status, "completed") == 0)
                q->snaps[k] = strdup(d->snapshot_id);
        if (d->status && (!strcmp(d->status, "deleting") ||
                          !strcmp(d->status, "deleted")))
            rc = route_failed(q, "ImportSnapshot %s: %s",
                              l.v[i].import_task_id,
                              d->status_message ? d->status_message
                                                : d->status) < 0 ? -1 : 0;
        sum += d->progress ? atof(d->progress) : 0;
    }
    for (size_t k = 0; k < q->plan.ndisks; k++)
        done += q->snaps[k] != NULL;
    ec2_import_snapshot_task_list_release(&l);
    if (rc < 0)
        return -1;
    if ((size_t)done == q->plan.ndisks)
        return 1;
    double avg = (sum + 100.0 * done) / (double)q->plan.ndisks;
    int span = 85 - q->base - 10;
    show_active(q, "importing snapshots", q->base + 10 +
                                              (int)(avg * span / 100.0));
    return 0;
}

/* The AMI named `name` of the account (a RegisterImage that got through
 * before an interruption). */
static int find_ami(struct route *q, const char *name, char *out, size_t n)
{
    struct ec2_image_list l = {NULL, 0};
    struct aws_error err;
    aws_error_clear(&err);
    int rc = -1;
    if (ec2_describe_images(q->r->cfg.client, NULL, NULL, 0, &l, &err) == 0)
        for (size_t i = 0; i < l.n && rc != 0; i++)
            if (l.v[i].name && strcmp(l.v[i].name, name) == 0) {
                snprintf(out, n, "%s", l.v[i].image_id);
                rc = 0;
            }
    ec2_image_list_release(&l);
    return rc;
}

static int do_register(struct route *q, char *ami, size_t n)
{
    struct ec2_register_disk disks[SNAPROUTE_MAX_DISKS];
    char dev[SNAPROUTE_MAX_DISKS][32], name[160];
    for (size_t i = 0; i < q->plan.ndisks; i++) {
        snaproute_device(&q->plan, i, dev[i], sizeof dev[i]);
        disks[i] = (struct ec2_register_disk){dev[i], q->snaps[i], true};
    }
    snaproute_ami_name(q->key, name, sizeof name);
    struct ec2_register_params p = {0};
    p.name = name;
    p.description = q->description;
    p.architecture = q->plan.architecture[0] ? q->plan.architecture
                                             : "x86_64";
    p.boot_mode = q->plan.boot_mode[0] ? q->plan.boot_mode : NULL;
    p.root_device_name = dev[0];
    p.tpm_support = q->plan.tpm[0] ? q->plan.tpm : NULL;
    p.imds_support = q->plan.imds[0] ? q->plan.imds : NULL;
    p.ena_support = q->plan.ena;
    p.disks = disks;
    p.ndisks = q->plan.ndisks;
    p.tags = &q->tags;
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_register_image(q->r->cfg.client, NULL, &p, ami, n, &err) == 0)
        return 0;
    if (strcmp(err.code, "InvalidAMIName.Duplicate") == 0 &&
        find_ami(q, name, ami, n) == 0)
        return 0; /* registered before an interruption */
    return aws_failed(q, "RegisterImage", &err);
}

/* Tags on the snapshots (the AMI got them at RegisterImage), then the mark
 * on the lead task that makes the route's outcome survive a remount. */
static void tag_all(struct route *q, const char *ami)
{
    const char *res[SNAPROUTE_MAX_DISKS + 1];
    size_t n = 0;
    for (size_t i = 0; i < q->plan.ndisks; i++)
        res[n++] = q->snaps[i];
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_create_tags(q->r->cfg.client, NULL, res, n, &q->tags, &err) != 0)
        aws_log(q->r->cfg.lg, AWS_LOG_WARN, "%s: tagging snapshots failed: "
                "%s", q->lead, err.message);
    struct ec2_tag mark = {(char *)SNAPROUTE_TAG_AMI, (char *)ami};
    struct ec2_tags tags = {&mark, 1};
    const char *lead[1] = {q->lead};
    aws_error_clear(&err);
    if (ec2_create_tags(q->r->cfg.client, NULL, lead, 1, &tags, &err) != 0)
        aws_log(q->r->cfg.lg, AWS_LOG_WARN, "%s: marking the route done "
                "failed: %s", q->lead, err.message);
}

static void clean(struct route *q)
{
    struct aws_error err;
    char key[2048];
    for (size_t i = 0; i < q->plan.ndisks; i++) {
        carved_key(q, i, key, sizeof key);
        aws_error_clear(&err);
        s3_delete_object(q->r->cfg.client, q->bucket, key, &err);
    }
    /* the source itself only when amifs staged it (status.h) */
    const char *keep = status_tag(&q->tags, STATUS_TAG_KEEP_SOURCE);
    if (keep && strcmp(keep, "true") == 0)
        return;
    aws_error_clear(&err);
    s3_delete_object(q->r->cfg.client, q->bucket, q->key, &err);
}

static void staged_etag(struct route *q)
{
    struct s3_head h;
    struct aws_error err;
    aws_error_clear(&err);
    if (!q->etag && s3_head_object(q->r->cfg.client, q->bucket, q->key, &h,
                                   &err) == 0)
        q->etag = strdup(h.etag);
}

static void *route_main(void *arg)
{
    struct route *q = arg;
    char why[1024], ami[64];
    if (!q->started) {
        show_active(q, "carving disks", q->base);
        staged_etag(q);
        if (begin(q, why, sizeof why) != 0) {
            route_failed(q, "%s", why);
            return NULL;
        }
    }
    show_active(q, "importing snapshots", q->base + 10);
    int st = 0;
    while (st == 0 && nap(q->r, q->r->cfg.poll_seconds))
        st = poll_once(q);
    if (st != 1 || stopping(q->r))
        return NULL; /* failed (shown), or stopping: AWS keeps the state */
    show_active(q, "registering the image", 85);
    if (do_register(q, ami, sizeof ami) != 0)
        return NULL;
    tag_all(q, ami);
    if (q->r->cfg.cleanup)
        clean(q);
    show(q, "completed", NULL, 100, ami);
    aws_log(q->r->cfg.lg, AWS_LOG_INFO, "%s: snapshot route registered %s",
            q->lead, ami);
    return NULL;
}

/* ---- starting routes --------------------------------------------------- */

static bool internal_tag(const char *k)
{
    return !k || strncmp(k, "aws:", 4) == 0 ||
           strcmp(k, SNAPROUTE_TAG_ROUTE) == 0 ||
           strcmp(k, SNAPROUTE_TAG_PLAN) == 0 ||
           strcmp(k, SNAPROUTE_TAG_AMI) == 0 ||
           strcmp(k, SNAPROUTE_TAG_DISK) == 0 ||
           strcmp(k, SNAPROUTE_TAG_FIRST) == 0 ||
           strcmp(k, TASKCACHE_TAG_REROUTE) == 0 ||
           strcmp(k, STATUS_TAG_TAGGED) == 0;
}

static char *dup0(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = false;
    return d;
}

static struct route *route_new(struct snaproute *r,
                               const struct snaproute_req *q)
{
    struct route *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    bool ok = true;
    x->r = r;
    x->plan = *q->plan;
    x->bucket = dup0(q->bucket, &ok);
    x->key = dup0(q->key, &ok);
    x->etag = dup0(q->etag, &ok);
    x->name = dup0(q->name ? q->name : "", &ok);
    x->description = dup0(q->description, &ok);
    x->first = dup0(q->first_failure, &ok);
    x->reason = dup0(q->reason, &ok);
    for (size_t i = 0; ok && q->tags && i < q->tags->n; i++)
        if (!internal_tag(q->tags->v[i].key))
            ok = import_tag_set(&x->tags, q->tags->v[i].key,
                                tagv(q->tags->v[i].value)) == 0;
    snprintf(x->lead, sizeof x->lead, "%s", q->lead_id ? q->lead_id : "");
    x->base = q->lead_id ? 40 : 0;
    if (!ok || !x->bucket || !x->key) {
        route_free(x);
        return NULL;
    }
    return x;
}

/* Register x and start its thread; -EALREADY when its lead runs. */
static int launch(struct snaproute *r, struct route *x)
{
    pthread_mutex_lock(&r->mu);
    int rc = r->stopping ? -ESHUTDOWN : 0;
    for (struct route *o = r->routes; o && rc == 0; o = o->next)
        if (strcmp(o->lead, x->lead) == 0)
            rc = -EALREADY;
    if (rc == 0 && pthread_create(&x->th, NULL, route_main, x) != 0)
        rc = -EAGAIN;
    if (rc == 0) {
        x->joinable = true;
        x->next = r->routes;
        r->routes = x;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc != 0)
        route_free(x);
    return rc;
}

int snaproute_start(struct snaproute *r, const struct snaproute_req *q,
                    char *lead_out, size_t lead_n, char *why, size_t whylen)
{
    struct route *x = route_new(r, q);
    if (!x) {
        snprintf(why, whylen, "out of memory");
        return -ENOMEM;
    }
    int rc = begin(x, why, whylen);
    if (rc != 0) {
        route_free(x);
        return rc;
    }
    snprintf(x->lead, sizeof x->lead, "%s", x->tasks[0]);
    snprintf(lead_out, lead_n, "%s", x->lead);
    show_active(x, "importing snapshots", 10);
    rc = launch(r, x);
    /* The task cache may have seen the first ImportSnapshot task between
     * begin() and launch() and resumed this very route (same lead): it
     * runs, which is all the caller asked for. */
    if (rc == -EALREADY)
        return 0;
    if (rc != 0)
        snprintf(why, whylen, "could not start the route (%s)",
                 strerror(-rc));
    return rc;
}

int snaproute_continue(struct snaproute *r, const struct snaproute_req *q)
{
    if (!q->lead_id)
        return -EINVAL;
    struct route *x = route_new(r, q);
    if (!x)
        return -ENOMEM;
    show_active(x, "carving disks", x->base);
    return launch(r, x);
}

int snaproute_resume(struct snaproute *r, const struct ec2_import_task *t)
{
    struct snapplan plan;
    const char *text = status_tag(&t->tags, SNAPROUTE_TAG_PLAN);
    const struct ec2_snapshot_detail *d = t->nsnapshots ? &t->snapshots[0]
                                                        : NULL;
    struct snaproute_req q = {0};
    q.bucket = d ? d->s3_bucket : NULL;
    q.key = d ? d->s3_key : NULL;
    q.name = status_tag(&t->tags, STATUS_TAG_NAME);
    q.description = t->description;
    q.tags = &t->tags;
    q.plan = &plan;
    q.lead_id = t->import_task_id;
    bool snap = strncmp(t->import_task_id, "import-snap-", 12) == 0;
    q.first_failure = snap ? NULL : status_tag(&t->tags, SNAPROUTE_TAG_FIRST);
    int rc = snapplan_parse(&plan, text);
    if (rc == 0 && (!q.bucket || !q.key))
        rc = -EINVAL;
    char staged[2048];
    if (rc == 0 && snap && plan.disks[0].length) {
        /* a forced route's first task names the carved object:
         * "<staged key>.disk1.<ext>" */
        const char *dot = strstr(q.key, ".disk1.");
        size_t len = dot ? (size_t)(dot - q.key) : 0;
        rc = dot && len < sizeof staged ? 0 : -EINVAL;
        if (rc == 0) {
            memcpy(staged, q.key, len);
            staged[len] = '\0';
            q.key = staged;
        }
    }
    if (rc == 0)
        return snaproute_continue(r, &q);
    /* No plan: say so in the task (it ends; nothing was started). */
    memset(&plan, 0, sizeof plan);
    plan.ndisks = 0;
    q.bucket = q.bucket ? q.bucket : "";
    q.key = q.key ? q.key : "";
    struct route *x = route_new(r, &q);
    if (x) {
        route_failed(x, "the task carries no usable plan (%s)",
                     text ? "unreadable amifs:snapplan" : "no amifs:snapplan");
        route_free(x);
    }
    return -EINVAL;
}
