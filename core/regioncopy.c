/* regioncopy.c — CopyImage of completed imports to other regions. */
#include "core/regioncopy.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One region's copy of one import. */
struct rcopy {
    char *key;          /* the import's staged key */
    char *ami;          /* source */
    char *src_region;
    char *region;       /* destination */
    struct ec2_tags tags;
    char image[64];     /* the copy, once CopyImage answered */
    char state[600];    /* copying | pending | available | failed: … */
    bool done;
};

struct regioncopy {
    struct aws_client *c;
    double interval;
    const struct aws_logger *lg;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    bool running, stop, kicked;
    pthread_t th;
    struct rcopy **v;
    size_t n;
};

void regioncopy_token(const char *ami, const char *region, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    out[0] = '\0';
    if (!x)
        return;
    EVP_DigestInit_ex(x, EVP_sha256(), NULL);
    EVP_DigestUpdate(x, "amifs-copy:", 11);
    EVP_DigestUpdate(x, ami, strlen(ami));
    EVP_DigestUpdate(x, "/", 1);
    EVP_DigestUpdate(x, region, strlen(region));
    EVP_DigestFinal_ex(x, md, &len);
    EVP_MD_CTX_free(x);
    for (unsigned i = 0; i < 32 && i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct regioncopy *regioncopy_new(struct aws_client *c, double interval,
                                  const struct aws_logger *lg)
{
    struct regioncopy *rc = calloc(1, sizeof *rc);
    if (!rc)
        return NULL;
    rc->c = c;
    rc->interval = interval > 0 ? interval : 10.0;
    rc->lg = lg;
    pthread_mutex_init(&rc->mu, NULL);
    pthread_cond_init(&rc->cv, NULL);
    return rc;
}

static void rcopy_free(struct rcopy *x)
{
    if (!x)
        return;
    free(x->key);
    free(x->ami);
    free(x->src_region);
    free(x->region);
    ec2_tags_release(&x->tags);
    free(x);
}

void regioncopy_free(struct regioncopy *rc)
{
    if (!rc)
        return;
    pthread_mutex_lock(&rc->mu);
    rc->stop = true;
    bool running = rc->running;
    pthread_cond_broadcast(&rc->cv);
    pthread_mutex_unlock(&rc->mu);
    if (running)
        pthread_join(rc->th, NULL);
    for (size_t i = 0; i < rc->n; i++)
        rcopy_free(rc->v[i]);
    free(rc->v);
    pthread_cond_destroy(&rc->cv);
    pthread_mutex_destroy(&rc->mu);
    free(rc);
}

/* ---- adding ----------------------------------------------------------- */

/* The next name of a comma-separated list into out; false at the end. */
static bool next_region(const char **p, char *out, size_t n)
{
    while (**p == ',')
        (*p)++;
    if (!**p)
        return false;
    size_t len = strcspn(*p, ",");
    snprintf(out, n, "%.*s", (int)len, *p);
    *p += len;
    return true;
}

static struct rcopy *rcopy_new(const char *key, const char *ami,
                               const char *src, const char *region,
                               const struct ec2_tags *tags)
{
    struct rcopy *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->key = strdup(key);
    x->ami = strdup(ami);
    x->src_region = strdup(src);
    x->region = strdup(region);
    snprintf(x->state, sizeof x->state, "copying");
    bool ok = x->key && x->ami && x->src_region && x->region;
    for (size_t i = 0; ok && tags && i < tags->n; i++)
        if (strncmp(tags->v[i].key, "aws:", 4) != 0 &&
            strcmp(tags->v[i].key, "amifs:copy-to") != 0 &&
            strcmp(tags->v[i].key, "amifs:ami-tagged") != 0)
            ok = ec2_tags_add(&x->tags, tags->v[i].key,
                              tags->v[i].value) == 0;
    char from[256];
    snprintf(from, sizeof from, "%s/%s", src, ami);
    ok = ok && ec2_tags_add(&x->tags, "amifs:copied-from", from) == 0;
    if (!ok) {
        rcopy_free(x);
        return NULL;
    }
    return x;
}

static bool known_locked(struct regioncopy *rc, const char *key)
{
    for (size_t i = 0; i < rc->n; i++)
        if (strcmp(rc->v[i]->key, key) == 0)
            return true;
    return false;
}

static int push_locked(struct regioncopy *rc, struct rcopy *x)
{
    struct rcopy **nv = realloc(rc->v, (rc->n + 1) * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    rc->v = nv;
    rc->v[rc->n++] = x;
    return 0;
}

int regioncopy_add(struct regioncopy *rc, const char *key, const char *ami,
                   const char *src_region, const char *regions,
                   const struct ec2_tags *tags)
{
    const char *src = src_region ? src_region : aws_client_region(rc->c);
    const char *list = regions;
    char r[64];
    int res = 0;
    pthread_mutex_lock(&rc->mu);
    if (!known_locked(rc, key))
        while (res == 0 && next_region(&list, r, sizeof r)) {
            if (strcmp(r, src) == 0)
                continue;
            struct rcopy *x = rcopy_new(key, ami, src, r, tags);
            res = x ? push_locked(rc, x) : -ENOMEM;
            if (res != 0)
                rcopy_free(x);
        }
    rc->kicked = true;
    pthread_cond_broadcast(&rc->cv);
    pthread_mutex_unlock(&rc->mu);
    return res;
}

/* ---- rendering -------------------------------------------------------- */

static const struct rcopy *find_locked(struct regioncopy *rc, const char *key,
                                       const char *region)
{
    for (size_t i = 0; i < rc->n; i++)
        if (strcmp(rc->v[i]->key, key) == 0 &&
            strcmp(rc->v[i]->region, region) == 0)
            return rc->v[i];
    return NULL;
}

int regioncopy_render(struct regioncopy *rc, const char *key,
                      const char *regions, struct buf *out)
{
    const char *list = regions;
    char r[64];
    int res = 0;
    pthread_mutex_lock(&rc->mu);
    bool started = known_locked(rc, key);
    while (res == 0 && next_region(&list, r, sizeof r)) {
        const struct rcopy *x = find_locked(rc, key, r);
        if (x && x->image[0])
            res = buf_printf(out, "%s %s %s\n", r, x->state, x->image);
        else if (x)
            res = buf_printf(out, "%s %s\n", r, x->state);
        else if (!started)
            res = buf_printf(out, "%s waiting for the import\n", r);
        /* else: the import's own region, nothing to copy */
    }
    pthread_mutex_unlock(&rc->mu);
    return res;
}

/* ---- the worker ------------------------------------------------------- */

/* What the worker works on: a copy of one entry, so that no lock is held
 * over the network. */
struct work {
    struct rcopy *x;    /* the entry (stays valid: entries are never
                           removed while the worker runs) */
    char image[64];
};

static void set_state(struct regioncopy *rc, struct rcopy *x,
                      const char *image, const char *state, bool done)
{
    pthread_mutex_lock(&rc->mu);
    if (image)
        snprintf(x->image, sizeof x->image, "%s", image);
    snprintf(x->state, sizeof x->state, "%s", state);
    x->done = done;
    pthread_mutex_unlock(&rc->mu);
}

static bool refused(const struct aws_error *err)
{
    return err->kind == AWS_ERR_SERVICE && err->http_status < 500 &&
           aws_error_errno(err) != EAGAIN;
}

static void fail_copy(struct regioncopy *rc, struct rcopy *x,
                      const char *what, const struct aws_error *err)
{
    char msg[512], st[600];
    aws_error_format(err, msg, sizeof msg);
    aws_log(rc->lg, AWS_LOG_WARN, "copy of %s to %s: %s: %s", x->ami,
            x->region, what, msg);
    if (!refused(err))
        return; /* retried at the next round */
    snprintf(st, sizeof st, "failed: %s: %s", what, msg);
    set_state(rc, x, NULL, st, true);
}

/* The source image's name (CopyImage needs one); "amifs-copy-AMI" when
 * it cannot be read. */
static void source_name(struct regioncopy *rc, struct rcopy *x, char *out,
                        size_t n)
{
    struct ec2_image_list l = {0};
    struct aws_error err;
    aws_error_clear(&err);
    const char *id = x->ami;
    snprintf(out, n, "amifs-copy-%s", x->ami);
    if (ec2_describe_images(rc->c, x->src_region, &id, 1, &l, &err) == 0 &&
        l.n && l.v[0].name && *l.v[0].name)
        snprintf(out, n, "%s", l.v[0].name);
    ec2_image_list_release(&l);
}

static void start_copy(struct regioncopy *rc, struct rcopy *x)
{
    char name[256], token[65], image[64];
    source_name(rc, x, name, sizeof name);
    regioncopy_token(x->ami, x->region, token);
    char desc[300];
    snprintf(desc, sizeof desc, "amifs copy of %s from %s", x->ami,
             x->src_region);
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_copy_image(rc->c, x->src_region, x->ami, x->region, name, desc,
                       token, image, sizeof image, &err) != 0) {
        fail_copy(rc, x, "CopyImage", &err);
        return;
    }
    const char *id = image;
    aws_error_clear(&err);
    if (ec2_create_tags(rc->c, x->region, &id, 1, &x->tags, &err) != 0) {
        set_state(rc, x, image, "pending", false);
        fail_copy(rc, x, "CreateTags", &err);
        return;
    }
    aws_log(rc->lg, AWS_LOG_INFO, "copy of %s to %s: %s", x->ami, x->region,
            image);
    set_state(rc, x, image, "pending", false);
}

static void follow_copy(struct regioncopy *rc, struct rcopy *x,
                        const char *image)
{
    struct ec2_image_list l = {0};
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_describe_images(rc->c, x->region, &image, 1, &l, &err) != 0) {
        fail_copy(rc, x, "DescribeImages", &err);
        return;
    }
    const char *st = l.n && l.v[0].state ? l.v[0].state : "pending";
    bool done = strcmp(st, "available") == 0 || strcmp(st, "failed") == 0 ||
                strcmp(st, "invalid") == 0 || strcmp(st, "error") == 0;
    set_state(rc, x, NULL, st, done);
    ec2_image_list_release(&l);
}

/* The entries still to work on (a snapshot under the lock). */
static size_t pending(struct regioncopy *rc, struct work **out)
{
    pthread_mutex_lock(&rc->mu);
    struct work *w = calloc(rc->n ? rc->n : 1, sizeof *w);
    size_t k = 0;
    for (size_t i = 0; w && i < rc->n; i++)
        if (!rc->v[i]->done) {
            w[k].x = rc->v[i];
            snprintf(w[k].image, sizeof w[k].image, "%s", rc->v[i]->image);
            k++;
        }
    pthread_mutex_unlock(&rc->mu);
    *out = w;
    return k;
}

static void round_once(struct regioncopy *rc)
{
    struct work *w;
    size_t n = pending(rc, &w);
    for (size_t i = 0; i < n; i++) {
        if (w[i].image[0])
            follow_copy(rc, w[i].x, w[i].image);
        else
            start_copy(rc, w[i].x);
    }
    free(w);
}

static void *worker(void *arg)
{
    struct regioncopy *rc = arg;
    pthread_mutex_lock(&rc->mu);
    while (!rc->stop) {
        rc->kicked = false;
        pthread_mutex_unlock(&rc->mu);
        round_once(rc);
        pthread_mutex_lock(&rc->mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = (double)ts.tv_sec + ts.tv_nsec / 1e9 + rc->interval;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        while (!rc->stop && !rc->kicked &&
               pthread_cond_timedwait(&rc->cv, &rc->mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&rc->mu);
    return NULL;
}

int regioncopy_start(struct regioncopy *rc)
{
    pthread_mutex_lock(&rc->mu);
    int e = rc->running ? 0 : pthread_create(&rc->th, NULL, worker, rc);
    if (e == 0)
        rc->running = true;
    pthread_mutex_unlock(&rc->mu);
    return -e;
}
