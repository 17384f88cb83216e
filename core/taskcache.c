/* taskcache.c — the shared DescribeImportImageTasks poller and cache. */
#include "core/taskcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"

/* A task put by ImportImage may be missing from a listing made just before
 * or while it was created: keep it this long even if AWS does not list it. */
#define PUT_GRACE_SECONDS 60

struct entry {
    struct ec2_import_task t;
    time_t put_time;   /* when taskcache_put() inserted it, else 0 */
    bool cancelled;    /* we cancelled it */
    bool seen_active;  /* seen not ended in this mount */
    bool ended_done;   /* ops.ended called */
    bool tagged;       /* AMI + snapshots tagged */
    bool overlay;      /* t is a snapshot route's view: refreshes keep it */
    bool rerouted;     /* ops.reroute called for it in this mount */
};

struct taskcache {
    struct taskcache_ops ops;
    double interval, active_interval;
    struct aws_logger lg;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* generation bumped or stopping */
    pthread_cond_t wake;    /* poller: kicked or stopping */
    struct entry *v;
    size_t n;
    uint64_t gen;
    bool refreshed, kicked, stopping, started, fail_logged;
    pthread_t thread;
};

/* ---- deep copies ------------------------------------------------------ */

static char *sdup(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

static void snap_dup(struct ec2_snapshot_detail *d,
                     const struct ec2_snapshot_detail *s, bool *ok)
{
    d->description = sdup(s->description, ok);
    d->device_name = sdup(s->device_name, ok);
    d->disk_image_size = s->disk_image_size;
    d->format = sdup(s->format, ok);
    d->progress = sdup(s->progress, ok);
    d->snapshot_id = sdup(s->snapshot_id, ok);
    d->status = sdup(s->status, ok);
    d->status_message = sdup(s->status_message, ok);
    d->url = sdup(s->url, ok);
    d->s3_bucket = sdup(s->s3_bucket, ok);
    d->s3_key = sdup(s->s3_key, ok);
}

static void tags_dup(struct ec2_tags *d, const struct ec2_tags *s, bool *ok)
{
    d->n = 0;
    d->v = s->n ? calloc(s->n, sizeof *d->v) : NULL;
    if (s->n && !d->v) {
        *ok = false;
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        d->v[i].key = sdup(s->v[i].key, ok);
        d->v[i].value = sdup(s->v[i].value, ok);
    }
    d->n = s->n;
}

/* The deep copy owns the same fields the EC2 parser allocates, so the
 * parser's release frees it. */
void taskcache_task_free(struct ec2_import_task *t)
{
    ec2_import_task_release(t);
}

int taskcache_task_dup(struct ec2_import_task *d,
                       const struct ec2_import_task *s)
{
    bool ok = true;
    memset(d, 0, sizeof *d);
    d->import_task_id = sdup(s->import_task_id, &ok);
    d->architecture = sdup(s->architecture, &ok);
    d->description = sdup(s->description, &ok);
    d->encrypted = s->encrypted;
    d->hypervisor = sdup(s->hypervisor, &ok);
    d->image_id = sdup(s->image_id, &ok);
    d->kms_key_id = sdup(s->kms_key_id, &ok);
    d->license_type = sdup(s->license_type, &ok);
    d->platform = sdup(s->platform, &ok);
    d->progress = sdup(s->progress, &ok);
    d->status = sdup(s->status, &ok);
    d->status_message = sdup(s->status_message, &ok);
    d->boot_mode = sdup(s->boot_mode, &ok);
    d->usage_operation = sdup(s->usage_operation, &ok);
    if (s->nsnapshots) {
        d->snapshots = calloc(s->nsnapshots, sizeof *d->snapshots);
        if (d->snapshots) {
            d->nsnapshots = s->nsnapshots;
            for (size_t i = 0; i < s->nsnapshots; i++)
                snap_dup(&d->snapshots[i], &s->snapshots[i], &ok);
        } else {
            ok = false;
        }
    }
    tags_dup(&d->tags, &s->tags, &ok);
    if (!ok) {
        taskcache_task_free(d);
        return -ENOMEM;
    }
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool task_ended(const struct ec2_import_task *t)
{
    return streq(t->status, "completed") || streq(t->status, "deleting") ||
           streq(t->status, "deleted");
}

/* Ended for the user: AWS says so, or this mount cancelled it (its
 * status says "cancelled" before the next refresh sees "deleting"; a
 * second rm -r then hides it instead of cancelling again). */
static bool entry_ended(const struct entry *e)
{
    return task_ended(&e->t) || e->cancelled;
}

static struct entry *find(struct taskcache *tc, const char *id)
{
    for (size_t i = 0; i < tc->n; i++)
        if (streq(tc->v[i].t.import_task_id, id))
            return &tc->v[i];
    return NULL;
}

static void entries_free(struct entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        taskcache_task_free(&v[i].t);
    free(v);
}

static void bump(struct taskcache *tc)
{
    tc->gen++;
    pthread_cond_broadcast(&tc->changed);
}

/* ---- lifetime --------------------------------------------------------- */

struct taskcache *taskcache_new(const struct taskcache_ops *ops,
                                double interval, double active_interval,
                                const struct aws_logger *lg)
{
    struct taskcache *tc = calloc(1, sizeof *tc);
    if (!tc)
        return NULL;
    tc->ops = *ops;
    tc->interval = interval > 0 ? interval : 10.0;
    tc->active_interval = active_interval > 0 ? active_interval : 2.0;
    if (tc->active_interval > tc->interval)
        tc->active_interval = tc->interval;
    if (lg)
        tc->lg = *lg;
    pthread_mutex_init(&tc->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tc->changed, &ca);
    pthread_cond_init(&tc->wake, &ca);
    pthread_condattr_destroy(&ca);
    return tc;
}

void taskcache_free(struct taskcache *tc)
{
    if (!tc)
        return;
    pthread_mutex_lock(&tc->mu);
    tc->stopping = true;
    pthread_cond_broadcast(&tc->wake);
    pthread_cond_broadcast(&tc->changed);
    pthread_mutex_unlock(&tc->mu);
    if (tc->started)
        pthread_join(tc->thread, NULL);
    entries_free(tc->v, tc->n);
    pthread_cond_destroy(&tc->changed);
    pthread_cond_destroy(&tc->wake);
    pthread_mutex_destroy(&tc->mu);
    free(tc);
}

static void deadline_in(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    long long ns = ts->tv_nsec + (long long)(seconds * 1e9);
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

static bool any_active(const struct taskcache *tc)
{
    for (size_t i = 0; i < tc->n; i++)
        if (!task_ended(&tc->v[i].t))
            return true;
    return false;
}

static void *poller(void *arg)
{
    struct taskcache *tc = arg;
    for (;;) {
        taskcache_refresh(tc);
        pthread_mutex_lock(&tc->mu);
        struct timespec dl;
        deadline_in(&dl, any_active(tc) ? tc->active_interval : tc->interval);
        while (!tc->stopping && !tc->kicked)
            if (pthread_cond_timedwait(&tc->wake, &tc->mu, &dl) == ETIMEDOUT)
                break;
        tc->kicked = false;
        bool stop = tc->stopping;
        pthread_mutex_unlock(&tc->mu);
        if (stop)
            return NULL;
    }
}

int taskcache_start(struct taskcache *tc)
{
    int rc = pthread_create(&tc->thread, NULL, poller, tc);
    if (rc != 0)
        return -rc;
    tc->started = true;
    return 0;
}

void taskcache_kick(struct taskcache *tc)
{
    pthread_mutex_lock(&tc->mu);
    tc->kicked = true;
    pthread_cond_broadcast(&tc->wake);
    pthread_mutex_unlock(&tc->mu);
}

bool taskcache_wait_first(struct taskcache *tc, int timeout_ms)
{
    struct timespec dl;
    deadline_in(&dl, timeout_ms / 1000.0);
    pthread_mutex_lock(&tc->mu);
    while (!tc->refreshed && !tc->stopping)
        if (pthread_cond_timedwait(&tc->changed, &tc->mu, &dl) == ETIMEDOUT)
            break;
    bool ok = tc->refreshed;
    pthread_mutex_unlock(&tc->mu);
    return ok;
}

/* ---- refresh ---------------------------------------------------------- */

/* Work the poller does after a refresh, outside the lock. */
struct followup {
    struct ec2_import_task task; /* copy */
    bool tag;                    /* CreateTags on image + snapshots */
    bool ended;                  /* call ops.ended */
    bool reroute;                /* call ops.reroute */
};

static bool wants_tags(const struct entry *e)
{
    return !e->tagged && streq(e->t.status, "completed") && e->t.image_id &&
           *e->t.image_id && status_tag(&e->t.tags, STATUS_TAG_NAME) &&
           !status_tag(&e->t.tags, STATUS_TAG_TAGGED);
}

/* Merge AWS's answer into new entries, carrying our per-task flags. */
static int merge(struct taskcache *tc, const struct ec2_import_task_list *l,
                 struct entry **out, size_t *nout)
{
    time_t now = time(NULL);
    struct entry *v = calloc(l->n + tc->n + 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->v[i].import_task_id)
            continue;
        if (taskcache_task_dup(&v[n].t, &l->v[i]) != 0) {
            entries_free(v, n);
            return -ENOMEM;
        }
        struct entry *old = find(tc, l->v[i].import_task_id);
        if (old) {
            v[n].cancelled = old->cancelled;
            v[n].seen_active = old->seen_active;
            v[n].ended_done = old->ended_done;
            v[n].tagged = old->tagged;
            v[n].rerouted = old->rerouted;
        }
        if (old && old->overlay) { /* the route speaks for this task */
            taskcache_task_free(&v[n].t);
            v[n].t = old->t;
            v[n].overlay = true;
            v[n].put_time = old->put_time;
            memset(&old->t, 0, sizeof old->t); /* moved */
        } else if (taskcache_reroute_view(&v[n].t) != 0) {
            entries_free(v, n + 1);
            return -ENOMEM;
        }
        n++;
    }
    /* Recently put tasks AWS did not list yet stay, and route overlays. */
    for (size_t i = 0; i < tc->n; i++) {
        struct entry *e = &tc->v[i];
        bool listed = !e->t.import_task_id;
        for (size_t j = 0; j < n && !listed; j++)
            listed = streq(v[j].t.import_task_id, e->t.import_task_id);
        if (!listed && (e->overlay || (e->put_time &&
                                       now - e->put_time <
                                           PUT_GRACE_SECONDS))) {
            v[n] = *e;
            memset(&e->t, 0, sizeof e->t); /* moved */
            n++;
        }
    }
    *out = v;
    *nout = n;
    return 0;
}

/* Decide the follow-ups under the lock and mark them as done, so two
 * refreshes never do one twice (a failed CreateTags unmarks itself). */
static size_t plan(struct taskcache *tc, struct followup *f)
{
    size_t k = 0;
    for (size_t i = 0; i < tc->n; i++) {
        struct entry *e = &tc->v[i];
        bool ended = task_ended(&e->t);
        bool fire_end = ended && e->seen_active && !e->ended_done;
        bool tag = wants_tags(e);
        bool reroute = !e->overlay && !e->rerouted && tc->ops.reroute &&
                       status_tag(&e->t.tags, TASKCACHE_TAG_REROUTE);
        if (!ended)
            e->seen_active = true;
        if (!fire_end && !tag && !reroute)
            continue;
        if (taskcache_task_dup(&f[k].task, &e->t) != 0)
            continue; /* out of memory: try again next refresh */
        f[k].tag = tag;
        f[k].ended = fire_end;
        f[k].reroute = reroute;
        e->tagged = e->tagged || tag;
        e->ended_done = e->ended_done || fire_end;
        e->rerouted = e->rerouted || reroute;
        k++;
    }
    return k;
}

/* The AMI is gone (deregistered before we got to it): nothing to tag. */
static bool ami_gone(const struct aws_error *err)
{
    return strstr(err->code, ".NotFound") != NULL ||
           strcmp(err->code, "InvalidAMIID.Unavailable") == 0;
}

/* Record on the task that its AMI is done (STATUS_TAG_TAGGED). */
static int mark_tagged(struct taskcache *tc, const struct ec2_import_task *t)
{
    struct ec2_tag mark = {(char *)STATUS_TAG_TAGGED, t->image_id};
    struct ec2_tags tags = {&mark, 1};
    const char *res[1] = {t->import_task_id};
    struct aws_error err;
    aws_error_clear(&err);
    int rc = tc->ops.create_tags(tc->ops.ctx, res, 1, &tags, &err);
    if (rc != 0) {
        char msg[700];
        aws_error_format(&err, msg, sizeof msg);
        aws_log(&tc->lg, AWS_LOG_WARN, "marking %s as tagged failed: %s",
                t->import_task_id, msg);
    }
    return rc;
}

/* The task's tags, minus the reserved aws: ones, for the AMI/snapshots;
 * then the mark on the task. 0 when both are done (or the AMI is gone). */
static int tag_resources(struct taskcache *tc, const struct ec2_import_task *t)
{
    const char **res = calloc(t->nsnapshots + 1, sizeof *res);
    struct ec2_tags tags = {calloc(t->tags.n + 1, sizeof *tags.v), 0};
    int rc = -ENOMEM;
    if (!res || !tags.v)
        goto out;
    size_t n = 0;
    res[n++] = t->image_id;
    for (size_t i = 0; i < t->nsnapshots; i++)
        if (t->snapshots[i].snapshot_id && *t->snapshots[i].snapshot_id)
            res[n++] = t->snapshots[i].snapshot_id;
    for (size_t i = 0; i < t->tags.n; i++)
        if (t->tags.v[i].key && strncmp(t->tags.v[i].key, "aws:", 4) != 0 &&
            strcmp(t->tags.v[i].key, STATUS_TAG_HIDDEN) != 0)
            tags.v[tags.n++] = t->tags.v[i]; /* borrowed */
    struct aws_error err;
    aws_error_clear(&err);
    rc = tc->ops.create_tags(tc->ops.ctx, res, n, &tags, &err);
    if (rc != 0) {
        char msg[700];
        aws_error_format(&err, msg, sizeof msg);
        aws_log(&tc->lg, AWS_LOG_WARN, "tagging %s of %s failed: %s",
                t->image_id, t->import_task_id, msg);
        if (ami_gone(&err))
            rc = mark_tagged(tc, t); /* retrying cannot help */
    } else {
        aws_log(&tc->lg, AWS_LOG_INFO, "tagged %s and %zu snapshot(s) of %s",
                t->image_id, n - 1, t->import_task_id);
        rc = mark_tagged(tc, t);
    }
out:
    free(res);
    free(tags.v);
    return rc;
}

static void run_followups(struct taskcache *tc, struct followup *f, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (f[i].tag && tag_resources(tc, &f[i].task) != 0) {
            pthread_mutex_lock(&tc->mu);
            struct entry *e = find(tc, f[i].task.import_task_id);
            if (e)
                e->tagged = false; /* retry on the next refresh */
            pthread_mutex_unlock(&tc->mu);
        }
        if (f[i].ended && tc->ops.ended)
            tc->ops.ended(tc->ops.ctx, &f[i].task);
        if (f[i].reroute)
            tc->ops.reroute(tc->ops.ctx, &f[i].task);
        taskcache_task_free(&f[i].task);
    }
    free(f);
}

static int describe_failed(struct taskcache *tc, struct aws_error *err)
{
    pthread_mutex_lock(&tc->mu);
    bool log = !tc->fail_logged;
    tc->fail_logged = true;
    /* Tried: readers waiting for the first listing stop waiting. */
    tc->refreshed = true;
    pthread_cond_broadcast(&tc->changed);
    pthread_mutex_unlock(&tc->mu);
    if (log) {
        char msg[700];
        aws_error_format(err, msg, sizeof msg);
        aws_log(&tc->lg, AWS_LOG_WARN,
                "DescribeImportImageTasks failed (keeping the last list): %s",
                msg);
    }
    return -aws_error_errno(err);
}

int taskcache_refresh(struct taskcache *tc)
{
    struct ec2_import_task_list l = {NULL, 0};
    struct aws_error err;
    aws_error_clear(&err);
    if (tc->ops.describe(tc->ops.ctx, &l, &err) != 0)
        return describe_failed(tc, &err);
    struct entry *v;
    size_t n;
    pthread_mutex_lock(&tc->mu);
    int rc = merge(tc, &l, &v, &n);
    struct followup *f = NULL;
    size_t k = 0;
    if (rc == 0) {
        entries_free(tc->v, tc->n);
        tc->v = v;
        tc->n = n;
        tc->refreshed = true;
        tc->fail_logged = false;
        f = calloc(n + 1, sizeof *f);
        k = f ? plan(tc, f) : 0;
        bump(tc);
    }
    pthread_mutex_unlock(&tc->mu);
    tc->ops.release(tc->ops.ctx, &l);
    if (f)
        run_followups(tc, f, k);
    return rc;
}

/* ---- changes ---------------------------------------------------------- */

static int put(struct taskcache *tc, const struct ec2_import_task *t,
               bool overlay);

int taskcache_put(struct taskcache *tc, const struct ec2_import_task *t)
{
    return put(tc, t, false);
}

int taskcache_overlay(struct taskcache *tc, const struct ec2_import_task *t)
{
    return put(tc, t, true);
}

static int put(struct taskcache *tc, const struct ec2_import_task *t,
               bool overlay)
{
    if (!t->import_task_id)
        return -EINVAL;
    struct ec2_import_task copy;
    if (taskcache_task_dup(&copy, t) != 0)
        return -ENOMEM;
    pthread_mutex_lock(&tc->mu);
    struct entry *e = find(tc, t->import_task_id);
    int rc = 0;
    if (e && e->overlay && !overlay) { /* the route's view stays */
        taskcache_task_free(&copy);
        goto out;
    }
    if (e) {
        taskcache_task_free(&e->t);
    } else {
        struct entry *nv = realloc(tc->v, (tc->n + 1) * sizeof *nv);
        if (!nv) {
            rc = -ENOMEM;
            goto out;
        }
        tc->v = nv;
        e = &tc->v[tc->n++];
        memset(e, 0, sizeof *e);
    }
    e->t = copy;
    e->overlay = overlay;
    e->put_time = time(NULL);
    e->seen_active = e->seen_active || !task_ended(&copy);
    bump(tc);
out:
    pthread_mutex_unlock(&tc->mu);
    if (rc != 0)
        taskcache_task_free(&copy);
    return rc;
}

int taskcache_cancel(struct taskcache *tc, const char *task_id,
                     struct aws_error *err)
{
    pthread_mutex_lock(&tc->mu);
    struct entry *e = find(tc, task_id);
    int rc = !e ? -ENOENT : entry_ended(e) ? -EBUSY : 0;
    pthread_mutex_unlock(&tc->mu);
    if (rc != 0)
        return rc;
    if (tc->ops.cancel(tc->ops.ctx, task_id, err) != 0)
        return -aws_error_errno(err);
    pthread_mutex_lock(&tc->mu);
    e = find(tc, task_id);
    if (e)
        e->cancelled = true;
    bump(tc);
    pthread_mutex_unlock(&tc->mu);
    taskcache_kick(tc);
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

int taskcache_with(struct taskcache *tc, const char *id,
                   void (*fn)(void *arg, const struct ec2_import_task *t,
                              bool cancelled),
                   void *arg)
{
    pthread_mutex_lock(&tc->mu);
    struct entry *e = find(tc, id);
    if (e)
        fn(arg, &e->t, e->cancelled);
    pthread_mutex_unlock(&tc->mu);
    return e ? 0 : -ENOENT;
}

bool taskcache_ended(struct taskcache *tc, const char *id)
{
    pthread_mutex_lock(&tc->mu);
    struct entry *e = find(tc, id);
    bool ended = e && task_ended(&e->t);
    pthread_mutex_unlock(&tc->mu);
    return ended;
}

static long long started_at(const struct ec2_import_task *t)
{
    const char *s = status_tag(&t->tags, STATUS_TAG_TIME);
    return s ? strtoll(s, NULL, 10) : 0;
}

static bool is_hidden(const struct ec2_import_task *t)
{
    return status_tag(&t->tags, STATUS_TAG_HIDDEN) != NULL;
}

/* Index of the task the alias `name` means, or -1. Lock held. */
static long alias_index(struct taskcache *tc, const char *name)
{
    long best = -1;
    for (size_t i = 0; i < tc->n; i++) {
        if (!streq(status_tag(&tc->v[i].t.tags, STATUS_TAG_NAME), name) ||
            is_hidden(&tc->v[i].t))
            continue;
        if (best < 0 || started_at(&tc->v[i].t) >= started_at(&tc->v[best].t))
            best = (long)i;
    }
    return best;
}

int taskcache_alias(struct taskcache *tc, const char *name, char *out,
                    size_t n)
{
    pthread_mutex_lock(&tc->mu);
    long i = alias_index(tc, name);
    int rc = -ENOENT;
    if (i >= 0 && n > 0) {
        snprintf(out, n, "%s", tc->v[i].t.import_task_id);
        rc = 0;
    }
    pthread_mutex_unlock(&tc->mu);
    return rc;
}

void taskcache_names_release(struct taskcache_names *n)
{
    for (size_t i = 0; i < n->nids; i++)
        free(n->ids[i]);
    for (size_t i = 0; i < n->naliases; i++) {
        free(n->alias_names[i]);
        free(n->alias_ids[i]);
    }
    free(n->ids);
    free(n->alias_names);
    free(n->alias_ids);
    memset(n, 0, sizeof *n);
}

static bool alias_listed(const struct taskcache_names *o, const char *name)
{
    for (size_t i = 0; i < o->naliases; i++)
        if (strcmp(o->alias_names[i], name) == 0)
            return true;
    return false;
}

/* Lock held. */
static int collect(struct taskcache *tc, struct taskcache_names *o)
{
    bool ok = true;
    for (size_t i = 0; i < tc->n; i++) {
        const struct ec2_import_task *t = &tc->v[i].t;
        if (is_hidden(t))
            continue;
        o->ids[o->nids] = sdup(t->import_task_id, &ok);
        if (o->ids[o->nids])
            o->nids++;
        const char *name = status_tag(&t->tags, STATUS_TAG_NAME);
        if (!name || !*name || strchr(name, '/') || alias_listed(o, name))
            continue;
        long b = alias_index(tc, name);
        o->alias_names[o->naliases] = sdup(name, &ok);
        o->alias_ids[o->naliases] = sdup(tc->v[b].t.import_task_id, &ok);
        o->naliases++;
    }
    return ok ? 0 : -ENOMEM;
}

int taskcache_names(struct taskcache *tc, struct taskcache_names *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&tc->mu);
    size_t cap = tc->n + 1;
    o->ids = calloc(cap, sizeof *o->ids);
    o->alias_names = calloc(cap, sizeof *o->alias_names);
    o->alias_ids = calloc(cap, sizeof *o->alias_ids);
    int rc = (o->ids && o->alias_names && o->alias_ids) ? collect(tc, o)
                                                         : -ENOMEM;
    pthread_mutex_unlock(&tc->mu);
    if (rc != 0)
        taskcache_names_release(o);
    return rc;
}

uint64_t taskcache_generation(struct taskcache *tc)
{
    pthread_mutex_lock(&tc->mu);
    uint64_t g = tc->gen;
    pthread_mutex_unlock(&tc->mu);
    return g;
}

bool taskcache_wait_change(struct taskcache *tc, uint64_t *gen,
                           int timeout_ms)
{
    struct timespec dl;
    deadline_in(&dl, timeout_ms / 1000.0);
    pthread_mutex_lock(&tc->mu);
    while (tc->gen == *gen && !tc->stopping)
        if (pthread_cond_timedwait(&tc->changed, &tc->mu, &dl) == ETIMEDOUT)
            break;
    *gen = tc->gen;
    bool alive = !tc->stopping;
    pthread_mutex_unlock(&tc->mu);
    return alive;
}

/* ---- hiding ended tasks ------------------------------------------------ */

bool taskcache_hidden(struct taskcache *tc, const char *id)
{
    pthread_mutex_lock(&tc->mu);
    struct entry *e = find(tc, id);
    bool h = e && is_hidden(&e->t);
    pthread_mutex_unlock(&tc->mu);
    return h;
}

long long taskcache_started(struct taskcache *tc, const char *id)
{
    pthread_mutex_lock(&tc->mu);
    struct entry *e = find(tc, id);
    long long t = e ? started_at(&e->t) : 0;
    pthread_mutex_unlock(&tc->mu);
    return t;
}

/* Add key=value to the cached task's tags (lock held). */
static int tag_cached(struct ec2_import_task *t, const char *key,
                      const char *value)
{
    struct ec2_tag *nv = realloc(t->tags.v, (t->tags.n + 1) * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    t->tags.v = nv;
    bool ok = true;
    nv[t->tags.n].key = sdup(key, &ok);
    nv[t->tags.n].value = sdup(value, &ok);
    t->tags.n++;
    return ok ? 0 : -ENOMEM;
}

int taskcache_hide(struct taskcache *tc, const char *task_id,
                   struct aws_error *err)
{
    pthread_mutex_lock(&tc->mu);
    struct entry *e = find(tc, task_id);
    int rc = !e ? -ENOENT : !entry_ended(e) ? -EBUSY : 0;
    pthread_mutex_unlock(&tc->mu);
    if (rc != 0)
        return rc;
    char when[32];
    snprintf(when, sizeof when, "%lld", (long long)time(NULL));
    struct ec2_tag mark = {(char *)STATUS_TAG_HIDDEN, when};
    struct ec2_tags tags = {&mark, 1};
    const char *res[1] = {task_id};
    if (tc->ops.create_tags(tc->ops.ctx, res, 1, &tags, err) != 0)
        return -aws_error_errno(err);
    pthread_mutex_lock(&tc->mu);
    e = find(tc, task_id);
    if (e && !is_hidden(&e->t))
        rc = tag_cached(&e->t, STATUS_TAG_HIDDEN, when);
    bump(tc);
    pthread_mutex_unlock(&tc->mu);
    return rc;
}

/* Lock held. Whether task e is a completed import of `name` other than
 * `self` that started no later than `before` and is not hidden. */
static bool earlier_import(const struct entry *e, const char *name,
                           const char *self, long long before)
{
    const struct ec2_import_task *t = &e->t;
    return streq(status_tag(&t->tags, STATUS_TAG_NAME), name) &&
           !streq(t->import_task_id, self) && !is_hidden(t) &&
           streq(t->status, "completed") && t->image_id && *t->image_id &&
           (before <= 0 || started_at(t) <= before);
}

int taskcache_previous(struct taskcache *tc, const char *name,
                       const char *self, char *ami, size_t n)
{
    pthread_mutex_lock(&tc->mu);
    struct entry *me = self ? find(tc, self) : NULL;
    const char *nm = me ? status_tag(&me->t.tags, STATUS_TAG_NAME) : name;
    long long before = me ? started_at(&me->t) : 0;
    int found = 0;
    for (size_t i = 0; nm && i < tc->n && !found; i++)
        if (earlier_import(&tc->v[i], nm, self, before)) {
            snprintf(ami, n, "%s", tc->v[i].t.image_id);
            found = 1;
        }
    pthread_mutex_unlock(&tc->mu);
    return found;
}
