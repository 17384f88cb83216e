/* importqueue.c — the import queue shared through S3 (importqueue.h). */
#include "core/importqueue.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/buf.h"
#include "aws/s3.h"

#define MAX_DISKS 21
/* An idle mount (empty queue, nothing of its own queued) looks at the
 * queue IDLE_FACTOR times less often, at most every IDLE_MAX seconds: it
 * only serves other mounts' entries, and they poll for themselves. */
#define IDLE_FACTOR 6.0
#define IDLE_MAX 60.0
#define MAX_ENTRY (256 * 1024)

struct watch {
    char *staged_key;
    char *entry_key;
};

struct importqueue {
    struct importqueue_config cfg;
    char owner[96];           /* this mount's claim id */
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cv;
    bool running, stop, kicked;
    pthread_t th;
    struct watch *w;
    size_t nw;
    char **order;             /* entry keys of the last listing, FIFO */
    size_t norder;
    size_t active;            /* active import tasks at the last round */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the entry's JSON ------------------------------------------------- */

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
}

static cJSON *params_json(const struct ec2_import_params *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *disks = cJSON_AddArrayToObject(o, "disks");
    for (size_t i = 0; disks && i < p->ndisks; i++) {
        cJSON *d = cJSON_CreateObject();
        add_str(d, "format", p->disks[i].format);
        add_str(d, "bucket", p->disks[i].s3_bucket);
        add_str(d, "key", p->disks[i].s3_key);
        add_str(d, "description", p->disks[i].description);
        cJSON_AddItemToArray(disks, d);
    }
    add_str(o, "description", p->description);
    add_str(o, "architecture", p->architecture);
    add_str(o, "platform", p->platform);
    add_str(o, "boot_mode", p->boot_mode);
    add_str(o, "license_type", p->license_type);
    add_str(o, "kms_key_id", p->kms_key_id);
    add_str(o, "role_name", p->role_name);
    add_str(o, "client_token", p->client_token);
    cJSON_AddBoolToObject(o, "encrypted", p->encrypted);
    cJSON *tags = cJSON_AddArrayToObject(o, "tags");
    for (size_t i = 0; tags && p->tags && i < p->tags->n; i++) {
        cJSON *t = cJSON_CreateObject();
        add_str(t, "key", p->tags->v[i].key);
        add_str(t, "value", p->tags->v[i].value ? p->tags->v[i].value : "");
        cJSON_AddItemToArray(tags, t);
    }
    return o;
}

static void set_claim(cJSON *root, const char *by, double until)
{
    cJSON_DeleteItemFromObject(root, "claim");
    if (!by)
        return;
    cJSON *c = cJSON_AddObjectToObject(root, "claim");
    add_str(c, "by", by);
    cJSON_AddNumberToObject(c, "until", until);
}

char *importqueue_encode(const struct ec2_import_params *p, const char *name,
                         const char *claim_by, double claim_until)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "version", 1);
    add_str(root, "name", name);
    cJSON_AddNumberToObject(root, "enqueued", (double)time(NULL));
    cJSON_AddItemToObject(root, "params", params_json(p));
    set_claim(root, claim_by, claim_until);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int decode_disks(const cJSON *arr, struct ec2_disk_container *disks,
                        size_t maxdisks, size_t *n)
{
    const cJSON *d;
    *n = 0;
    cJSON_ArrayForEach(d, arr) {
        if (*n == maxdisks || !jstr(d, "key") || !jstr(d, "bucket"))
            return -EINVAL;
        disks[*n] = (struct ec2_disk_container){
            .format = jstr(d, "format"), .s3_bucket = jstr(d, "bucket"),
            .s3_key = jstr(d, "key"), .description = jstr(d, "description")};
        (*n)++;
    }
    return *n ? 0 : -EINVAL;
}

int importqueue_decode(const char *json, size_t n, cJSON **root,
                       struct ec2_import_params *p,
                       struct ec2_disk_container *disks, size_t maxdisks,
                       struct ec2_tags *tags)
{
    memset(p, 0, sizeof *p);
    memset(tags, 0, sizeof *tags);
    *root = cJSON_ParseWithLength(json, n);
    const cJSON *pj = cJSON_GetObjectItemCaseSensitive(*root, "params");
    if (!cJSON_IsObject(pj) ||
        decode_disks(cJSON_GetObjectItemCaseSensitive(pj, "disks"), disks,
                     maxdisks, &p->ndisks) != 0 ||
        !jstr(pj, "client_token")) {
        cJSON_Delete(*root);
        *root = NULL;
        return -EINVAL;
    }
    p->disks = disks;
    p->description = jstr(pj, "description");
    p->architecture = jstr(pj, "architecture");
    p->platform = jstr(pj, "platform");
    p->boot_mode = jstr(pj, "boot_mode");
    p->license_type = jstr(pj, "license_type");
    p->kms_key_id = jstr(pj, "kms_key_id");
    p->role_name = jstr(pj, "role_name");
    p->client_token = jstr(pj, "client_token");
    p->encrypted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pj,
                                                                 "encrypted"));
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(pj, "tags"))
        if (jstr(t, "key") && ec2_tags_add(tags, jstr(t, "key"),
                                           jstr(t, "value")) != 0)
            return -ENOMEM; /* root kept: the caller frees both */
    p->tags = tags;
    return 0;
}

/* ---- lifetime --------------------------------------------------------- */

struct importqueue *importqueue_new(const struct importqueue_config *cfg)
{
    struct importqueue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->cfg = *cfg;
    if (q->cfg.lease <= 0)
        q->cfg.lease = IMPORTQUEUE_LEASE_DEFAULT;
    if (q->cfg.interval <= 0)
        q->cfg.interval = 10.0;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    unsigned r = (unsigned)(now_s() * 1e6) ^ (unsigned)getpid();
    snprintf(q->owner, sizeof q->owner, "%s:%ld:%08x", host, (long)getpid(),
             r);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return q;
}

static void free_order(struct importqueue *q)
{
    for (size_t i = 0; i < q->norder; i++)
        free(q->order[i]);
    free(q->order);
    q->order = NULL;
    q->norder = 0;
}

void importqueue_free(struct importqueue *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    bool running = q->running;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (running)
        pthread_join(q->th, NULL);
    for (size_t i = 0; i < q->nw; i++) {
        free(q->w[i].staged_key);
        free(q->w[i].entry_key);
    }
    free(q->w);
    free_order(q);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

void importqueue_kick(struct importqueue *q)
{
    pthread_mutex_lock(&q->mu);
    q->kicked = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* ---- watching --------------------------------------------------------- */

static long watch_index(struct importqueue *q, const char *staged_key)
{
    for (size_t i = 0; i < q->nw; i++)
        if (strcmp(q->w[i].staged_key, staged_key) == 0)
            return (long)i;
    return -1;
}

static int watch_add(struct importqueue *q, const char *staged_key,
                     const char *entry_key)
{
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    if (watch_index(q, staged_key) < 0) {
        struct watch *nw = realloc(q->w, (q->nw + 1) * sizeof *nw);
        char *a = strdup(staged_key), *b = strdup(entry_key);
        if (nw)
            q->w = nw;
        if (!nw || !a || !b) {
            free(a);
            free(b);
            rc = -ENOMEM;
        } else
            q->w[q->nw++] = (struct watch){a, b};
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void importqueue_unwatch(struct importqueue *q, const char *staged_key)
{
    pthread_mutex_lock(&q->mu);
    long i = watch_index(q, staged_key);
    if (i >= 0) {
        free(q->w[i].staged_key);
        free(q->w[i].entry_key);
        q->w[i] = q->w[--q->nw];
    }
    pthread_mutex_unlock(&q->mu);
}

int importqueue_position(struct importqueue *q, const char *staged_key,
                         struct importqueue_pos *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&q->mu);
    long i = watch_index(q, staged_key);
    if (i >= 0) {
        out->total = q->norder;
        out->active = q->active;
        for (size_t k = 0; k < q->norder; k++)
            if (strcmp(q->order[k], q->w[i].entry_key) == 0)
                out->position = k + 1;
    }
    pthread_mutex_unlock(&q->mu);
    return i >= 0 ? 0 : -ENOENT;
}

/* ---- putting an entry ------------------------------------------------- */

static char *entry_key(struct importqueue *q, const char *token)
{
    struct buf b;
    buf_init(&b, 1024);
    const char *pre = q->cfg.prefix ? q->cfg.prefix : "";
    if (buf_printf(&b, "%s%s%s/%011lld-%.32s.json", pre, *pre ? "/" : "",
                   IMPORTQUEUE_DIR, (long long)time(NULL), token) != 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

int importqueue_put(struct importqueue *q, const struct ec2_import_params *p,
                    const char *name, struct aws_error *err)
{
    if (!p->client_token || !p->ndisks)
        return aws_error_set(err, AWS_ERR_INVALID, "no ClientToken"), -EINVAL;
    char *key = entry_key(q, p->client_token);
    char *body = importqueue_encode(p, name, NULL, 0);
    int rc = key && body ? 0 : -ENOMEM;
    if (rc == 0 &&
        s3_put_object_if(q->cfg.client, q->cfg.bucket, key, body,
                         strlen(body), NULL, NULL, err) != 0) {
        /* 412: the entry exists already (our own retried PUT landed). */
        rc = aws_error_errno(err) == ESTALE ? 0 : -aws_error_errno(err);
        if (rc == 0)
            aws_error_clear(err);
    }
    if (rc == 0)
        rc = watch_add(q, p->disks[0].s3_key, key);
    if (rc == 0) {
        aws_log(q->cfg.lg, AWS_LOG_INFO, "queue: queued %s as s3://%s/%s",
                name, q->cfg.bucket, key);
        importqueue_kick(q);
    }
    free(key);
    free(body);
    return rc;
}

/* ---- one round -------------------------------------------------------- */

struct sink {
    struct buf b;
};

static int sink_cb(void *ctx, const char *data, size_t n)
{
    struct sink *s = ctx;
    if (s->b.len + n > MAX_ENTRY)
        return -1;
    return buf_append(&s->b, data, n) < 0 ? -1 : 0;
}

/* What happened to one entry. */
enum outcome { O_SKIPPED, O_STARTED, O_FULL, O_STOP };

struct entry {
    const char *key;
    char etag[72];
    cJSON *root;
    struct ec2_import_params p;
    struct ec2_disk_container disks[MAX_DISKS];
    struct ec2_tags tags;
};

static void entry_release(struct entry *e)
{
    cJSON_Delete(e->root);
    ec2_tags_release(&e->tags);
}

/* GET the entry as listed (If-Match its listed ETag). */
static int entry_load(struct importqueue *q, struct entry *e)
{
    struct sink s;
    struct aws_error err;
    aws_error_clear(&err);
    buf_init(&s.b, MAX_ENTRY);
    int rc = s3_get_object(q->cfg.client, q->cfg.bucket, e->key, 0, 0,
                           e->etag, sink_cb, &s, &err);
    if (rc == 0)
        rc = importqueue_decode(s.b.data ? s.b.data : "", s.b.len, &e->root,
                                &e->p, e->disks, MAX_DISKS, &e->tags);
    buf_release(&s.b);
    return rc;
}

/* Rewrite the entry (If-Match its ETag); the ETag moves on. */
static int entry_store(struct importqueue *q, struct entry *e)
{
    char *body = cJSON_PrintUnformatted(e->root);
    struct aws_error err;
    aws_error_clear(&err);
    char etag[72] = "";
    int rc = body ? s3_put_object_if(q->cfg.client, q->cfg.bucket, e->key,
                                     body, strlen(body), e->etag, etag, &err)
                  : -1;
    free(body);
    if (rc == 0)
        snprintf(e->etag, sizeof e->etag, "%s", etag);
    return rc;
}

static bool claimed_by_other(struct importqueue *q, const cJSON *root)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "claim");
    const cJSON *until = cJSON_GetObjectItemCaseSensitive(c, "until");
    const char *by = jstr(c, "by");
    if (!c || !by || !cJSON_IsNumber(until))
        return false;
    return strcmp(by, q->owner) != 0 && until->valuedouble > now_s();
}

static enum outcome import_refused(struct importqueue *q, struct entry *e,
                                   const struct aws_error *err)
{
    if (strcmp(err->code, "ResourceCountLimitExceeded") == 0) {
        set_claim(e->root, NULL, 0);
        entry_store(q, e); /* a lost release only waits for the lease */
        return O_FULL;
    }
    if (err->kind != AWS_ERR_SERVICE || err->http_status >= 500 ||
        aws_error_errno(err) == EAGAIN)
        return O_STOP; /* keep the claim: it expires if we cannot go on */
    char msg[700];
    aws_error_format(err, msg, sizeof msg);
    set_claim(e->root, NULL, 0);
    cJSON_DeleteItemFromObject(e->root, "error");
    cJSON_AddStringToObject(e->root, "error", msg);
    entry_store(q, e);
    aws_log(q->cfg.lg, AWS_LOG_WARN, "queue: %s refused: %s", e->key, msg);
    return O_SKIPPED;
}

/* The watcher's verdict on an entry that records an error: its owner
 * fails the job and removes the entry. */
static void entry_failed(struct importqueue *q, struct entry *e,
                         const char *why)
{
    const char *staged = e->p.disks[0].s3_key;
    pthread_mutex_lock(&q->mu);
    bool mine = watch_index(q, staged) >= 0;
    pthread_mutex_unlock(&q->mu);
    if (!mine)
        return;
    struct aws_error err;
    aws_error_clear(&err);
    s3_delete_object_if(q->cfg.client, q->cfg.bucket, e->key, e->etag, &err);
    importqueue_unwatch(q, staged);
    if (q->cfg.failed)
        q->cfg.failed(q->cfg.ctx, staged, why);
}

static void report_started(struct importqueue *q, const char *staged,
                           const struct ec2_import_task *t)
{
    pthread_mutex_lock(&q->mu);
    bool mine = watch_index(q, staged) >= 0;
    pthread_mutex_unlock(&q->mu);
    if (!mine)
        return;
    importqueue_unwatch(q, staged);
    if (q->cfg.started)
        q->cfg.started(q->cfg.ctx, staged, t);
}

static enum outcome try_entry(struct importqueue *q, struct entry *e)
{
    if (entry_load(q, e) != 0)
        return O_SKIPPED; /* changed or gone since the listing */
    const char *error = jstr(e->root, "error");
    if (error) {
        entry_failed(q, e, error);
        return O_SKIPPED;
    }
    if (claimed_by_other(q, e->root))
        return O_SKIPPED;
    set_claim(e->root, q->owner, now_s() + q->cfg.lease);
    if (entry_store(q, e) != 0)
        return O_SKIPPED; /* another mount claimed it first */
    struct ec2_import_task t;
    memset(&t, 0, sizeof t);
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_import_image(q->cfg.client, &e->p, &t, &err) != 0 ||
        !t.import_task_id) {
        ec2_import_task_release(&t);
        return import_refused(q, e, &err);
    }
    aws_log(q->cfg.lg, AWS_LOG_INFO, "queue: started %s for %s",
            t.import_task_id, e->key);
    aws_error_clear(&err);
    s3_delete_object_if(q->cfg.client, q->cfg.bucket, e->key, e->etag, &err);
    report_started(q, e->p.disks[0].s3_key, &t);
    ec2_import_task_release(&t);
    return O_STARTED;
}

/* The listing, FIFO; saved for importqueue_position. */
static int list_entries(struct importqueue *q, struct s3_listing *l)
{
    struct buf b;
    buf_init(&b, 1024);
    const char *pre = q->cfg.prefix ? q->cfg.prefix : "";
    struct aws_error err;
    aws_error_clear(&err);
    int rc = buf_printf(&b, "%s%s%s/", pre, *pre ? "/" : "", IMPORTQUEUE_DIR);
    memset(l, 0, sizeof *l);
    if (rc == 0)
        rc = s3_list_objects(q->cfg.client, q->cfg.bucket, buf_cstr(&b), NULL,
                             0, l, &err);
    buf_release(&b);
    if (rc != 0)
        return -1;
    char **order = calloc(l->nobjects + 1, sizeof *order);
    for (size_t i = 0; order && i < l->nobjects; i++)
        order[i] = strdup(l->objects[i].key);
    pthread_mutex_lock(&q->mu);
    free_order(q);
    q->order = order;
    q->norder = order ? l->nobjects : 0;
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* Count the active tasks; report watched imports any mount started. */
static void scan_tasks(struct importqueue *q, bool watching)
{
    struct ec2_import_task_list tl = {0};
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_describe_import_image_tasks(q->cfg.client, NULL, NULL, 0,
                                        watching ? NULL : "active", &tl,
                                        &err) != 0)
        return;
    size_t active = 0;
    for (size_t i = 0; i < tl.n; i++) {
        const struct ec2_import_task *t = &tl.v[i];
        if (t->status && strcmp(t->status, "active") == 0)
            active++;
        if (watching && t->nsnapshots && t->snapshots[0].s3_key)
            report_started(q, t->snapshots[0].s3_key, t);
    }
    pthread_mutex_lock(&q->mu);
    q->active = active;
    pthread_mutex_unlock(&q->mu);
    ec2_import_task_list_release(&tl);
}

/* true when the queue was empty and nothing is watched: the next round
 * may wait IDLE_FACTOR intervals. */
static bool round_once(struct importqueue *q)
{
    pthread_mutex_lock(&q->mu);
    bool watching = q->nw > 0;
    pthread_mutex_unlock(&q->mu);
    struct s3_listing l;
    if (list_entries(q, &l) != 0)
        return false;
    bool idle = !watching && l.nobjects == 0;
    if (watching || l.nobjects)
        scan_tasks(q, watching);
    for (size_t i = 0; i < l.nobjects; i++) {
        struct entry e;
        memset(&e, 0, sizeof e);
        e.key = l.objects[i].key;
        snprintf(e.etag, sizeof e.etag, "%s", l.objects[i].etag);
        enum outcome o = try_entry(q, &e);
        entry_release(&e);
        if (o == O_FULL || o == O_STOP)
            break;
    }
    s3_listing_release(&l);
    return idle;
}

static void *worker(void *arg)
{
    struct importqueue *q = arg;
    pthread_mutex_lock(&q->mu);
    while (!q->stop) {
        q->kicked = false;
        pthread_mutex_unlock(&q->mu);
        bool idle = round_once(q);
        pthread_mutex_lock(&q->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wait = q->cfg.interval;
        if (idle && wait * IDLE_FACTOR < IDLE_MAX)
            wait *= IDLE_FACTOR;
        else if (idle && wait < IDLE_MAX)
            wait = IDLE_MAX;
        double until = (double)ts.tv_sec + ts.tv_nsec / 1e9 + wait;
        ts.tv_sec = (time_t)until;
        ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
        while (!q->stop && !q->kicked &&
               pthread_cond_timedwait(&q->cv, &q->mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int importqueue_start(struct importqueue *q)
{
    pthread_mutex_lock(&q->mu);
    int rc = q->running ? 0 : pthread_create(&q->th, NULL, worker, q);
    if (rc == 0)
        q->running = true;
    pthread_mutex_unlock(&q->mu);
    return -rc;
}

/* ---- removing (rm of a queued file) ----------------------------------- */

static bool claimed(const cJSON *root)
{
    const cJSON *until = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "claim"), "until");
    return cJSON_IsNumber(until) && until->valuedouble > now_s();
}

int importqueue_remove(struct importqueue *q, const char *staged_key)
{
    pthread_mutex_lock(&q->mu);
    long i = watch_index(q, staged_key);
    char *key = i >= 0 ? strdup(q->w[i].entry_key) : NULL;
    pthread_mutex_unlock(&q->mu);
    if (!key)
        return i >= 0 ? -ENOMEM : -ENOENT;
    struct s3_head h;
    struct aws_error err;
    aws_error_clear(&err);
    struct entry e;
    memset(&e, 0, sizeof e);
    e.key = key;
    int rc = s3_head_object(q->cfg.client, q->cfg.bucket, key, &h, &err);
    if (rc == 0) {
        snprintf(e.etag, sizeof e.etag, "%s", h.etag);
        rc = entry_load(q, &e);
    }
    /* claimed (by any mount, this one included): ImportImage may be under
     * way; gone or changed: it may have started. */
    if (rc != 0 || claimed(e.root) ||
        s3_delete_object_if(q->cfg.client, q->cfg.bucket, key, e.etag,
                            &err) != 0)
        rc = -EBUSY;
    else
        importqueue_unwatch(q, staged_key);
    entry_release(&e);
    free(key);
    return rc;
}
