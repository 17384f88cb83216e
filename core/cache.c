/*
 * cache.c — a chained hash table of path → attributes with expiry times.
 * Expired entries are dropped when met and by a full sweep every
 * SWEEP_EVERY puts, so memory follows what was seen in the last ttl seconds.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"

#define SWEEP_EVERY 4096

struct entry {
    struct entry *next;
    uint64_t hash;
    double expires;        /* attr valid until */
    double listed_expires; /* directory listing complete until (0: never) */
    struct cache_attr attr;
    char *names;           /* listed directory: the names readdir showed */
    size_t names_len;      /* (records: a kind byte, a NUL-terminated name) */
    bool changed;          /* a name under it changed by us at changed_at */
    double changed_at;     /* (kept names listed before then are not kept) */
    char path[]; /* NUL-terminated */
};

struct cache {
    pthread_mutex_t lock;
    double ttl;
    struct cache_clock clock;
    struct entry **slots;
    size_t nslots; /* power of two */
    size_t count;
    unsigned puts; /* since the last sweep */
    cache_order_fn order; /* NULL: by name */
};

static double mono_now(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t hash_path(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct cache *cache_new(double ttl, const struct cache_clock *clock)
{
    struct cache *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->nslots = 256;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->ttl = ttl;
    c->clock.now = clock && clock->now ? clock->now : mono_now;
    c->clock.ctx = clock ? clock->ctx : NULL;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nslots; i++) {
        struct entry *e = c->slots[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e->names);
            free(e);
        }
    }
    free(c->slots);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The slot pointer that holds the entry for path (or where it would go). */
static struct entry **find(struct cache *c, const char *path, size_t len,
                           uint64_t h)
{
    struct entry **pp = &c->slots[h & (c->nslots - 1)];

    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && strncmp((*pp)->path, path, len) == 0 &&
            (*pp)->path[len] == '\0')
            return pp;
    return pp;
}

static bool stale(const struct cache *c, const struct entry *e, double now)
{
    return e->expires <= now && e->listed_expires <= now &&
           (!e->changed || e->changed_at + c->ttl <= now);
}

static void unlink_entry(struct cache *c, struct entry **pp)
{
    struct entry *e = *pp;
    *pp = e->next;
    free(e->names);
    free(e);
    c->count--;
}

static void sweep(struct cache *c, double now)
{
    for (size_t i = 0; i < c->nslots; i++) {
        struct entry **pp = &c->slots[i];
        while (*pp) {
            if (stale(c, *pp, now))
                unlink_entry(c, pp);
            else
                pp = &(*pp)->next;
        }
    }
    c->puts = 0;
}

static void grow(struct cache *c)
{
    size_t n = c->nslots * 2;
    struct entry **slots = calloc(n, sizeof(*slots));

    if (!slots)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < c->nslots; i++) {
        struct entry *e = c->slots[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
        }
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
}

static void drop_names(struct entry *e)
{
    free(e->names);
    e->names = NULL;
    e->names_len = 0;
}

/* Length of the parent's path ("" for a top-level name). */
static size_t parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}

/* A name appeared in or left `path`'s parent: its kept names are wrong. */
static void parent_changed(struct cache *c, const char *path)
{
    size_t plen = parent_len(path);
    struct entry **pp;

    if (!*path)
        return;
    pp = find(c, path, plen, hash_path(path, plen));
    if (*pp)
        drop_names(*pp);
}

/* The entry for path, created when missing; NULL when out of memory. */
static struct entry *upsert(struct cache *c, const char *path, double now)
{
    size_t len = strlen(path);
    uint64_t h = hash_path(path, len);
    struct entry **pp = find(c, path, len, h), *e;

    if (*pp)
        return *pp;
    if (++c->puts >= SWEEP_EVERY)
        sweep(c, now);
    if (c->count >= c->nslots * 2) {
        grow(c);
        pp = find(c, path, len, h);
    }
    e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    e->hash = h;
    memcpy(e->path, path, len + 1);
    e->next = *pp;
    *pp = e;
    c->count++;
    return e;
}

/* Record a in e (found or made for path), fresh for ttl. */
static void put_locked(struct cache *c, struct entry *e,
                       const struct cache_attr *a, double now)
{
    if (a->kind != CACHE_DIR) {
        e->listed_expires = 0;
        drop_names(e);
    }
    e->attr = *a;
    e->attr.etag[sizeof(e->attr.etag) - 1] = '\0';
    e->expires = now + c->ttl;
}

void cache_put(struct cache *c, const char *path, const struct cache_attr *a)
{
    double now;
    struct entry *e;

    if (c->ttl <= 0)
        return;
    pthread_mutex_lock(&c->lock);
    now = c->clock.now(c->clock.ctx);
    e = upsert(c, path, now);
    if (e && (e->expires <= now || e->attr.kind != a->kind))
        parent_changed(c, path); /* new, or became / stopped being a name */
    if (e)
        put_locked(c, e, a, now);
    pthread_mutex_unlock(&c->lock);
}

/* ---- kept names, changed in place by our own changes ------------------ */

/* A kept name is one record: a kind byte ('d' a directory, 'f' anything
 * else), then the name, NUL-terminated. */
static size_t rec_len(const char *r)
{
    return 1 + strlen(r + 1) + 1;
}

static enum cache_kind rec_kind(const char *r)
{
    return r[0] == 'd' ? CACHE_DIR : CACHE_FILE;
}

static int by_name(const char *a, enum cache_kind ka, const char *b,
                   enum cache_kind kb)
{
    (void)ka;
    (void)kb;
    return strcmp(a, b);
}

/* Offset of the record of name in e's names, or names_len. */
static size_t names_find(const struct entry *e, const char *name)
{
    size_t at = 0;

    while (at < e->names_len && strcmp(e->names + at + 1, name) != 0)
        at += rec_len(e->names + at);
    return at;
}

static void names_remove(struct entry *e, size_t at)
{
    size_t n = rec_len(e->names + at);

    memmove(e->names + at, e->names + at + n, e->names_len - at - n);
    e->names_len -= n;
}

/* Put name at its place in the order; false when out of memory. */
static bool names_insert(struct cache *c, struct entry *e, const char *name,
                         enum cache_kind kind)
{
    cache_order_fn order = c->order ? c->order : by_name;
    size_t at = 0, n = strlen(name) + 2;
    char *grown;

    while (at < e->names_len &&
           order(e->names + at + 1, rec_kind(e->names + at), name, kind) <= 0)
        at += rec_len(e->names + at);
    grown = realloc(e->names, e->names_len + n);
    if (!grown)
        return false;
    memmove(grown + at + n, grown + at, e->names_len - at);
    grown[at] = kind == CACHE_DIR ? 'd' : 'f';
    memcpy(grown + at + 1, name, n - 1);
    e->names = grown;
    e->names_len += n;
    return true;
}

/* Our own change made path `kind` (CACHE_ABSENT: gone): mark its parent
 * changed now and, while the parent's kept names are fresh, make them
 * show it. Their freshness is left as it is. */
static void names_follow(struct cache *c, const char *path,
                         enum cache_kind kind, double now)
{
    size_t plen = parent_len(path);
    const char *name = path + plen + (plen ? 1 : 0);
    struct entry *p;
    char *dir;
    size_t at;

    if (!*path || !(dir = strndup(path, plen)))
        return;
    p = upsert(c, dir, now);
    free(dir);
    if (!p)
        return;
    p->changed = true;
    p->changed_at = now;
    if (!p->names || p->listed_expires <= now) {
        drop_names(p);
        return;
    }
    at = names_find(p, name);
    if (at < p->names_len && kind != CACHE_ABSENT &&
        rec_kind(p->names + at) == kind)
        return; /* already shown as it is */
    if (at < p->names_len)
        names_remove(p, at);
    if (kind != CACHE_ABSENT && !names_insert(c, p, name, kind))
        drop_names(p); /* out of memory: list again next time */
}

void cache_change(struct cache *c, const char *path,
                  const struct cache_attr *a)
{
    double now;
    struct entry *e;

    if (c->ttl <= 0)
        return;
    pthread_mutex_lock(&c->lock);
    now = c->clock.now(c->clock.ctx);
    e = upsert(c, path, now);
    if (e)
        put_locked(c, e, a, now);
    if (e || a->kind == CACHE_ABSENT)
        names_follow(c, path, a->kind, now);
    else
        parent_changed(c, path);
    pthread_mutex_unlock(&c->lock);
}

void cache_set_order(struct cache *c, cache_order_fn order)
{
    pthread_mutex_lock(&c->lock);
    c->order = order;
    pthread_mutex_unlock(&c->lock);
}

void cache_put_listed(struct cache *c, const char *dir)
{
    double now;
    struct entry *e;

    if (c->ttl <= 0)
        return;
    pthread_mutex_lock(&c->lock);
    now = c->clock.now(c->clock.ctx);
    e = upsert(c, dir, now);
    if (e) {
        if (e->attr.kind != CACHE_DIR || e->expires <= now) {
            memset(&e->attr, 0, sizeof(e->attr));
            e->attr.kind = CACHE_DIR;
        }
        e->expires = now + c->ttl;
        e->listed_expires = now + c->ttl;
    }
    pthread_mutex_unlock(&c->lock);
}

int cache_get(struct cache *c, const char *path, struct cache_attr *a)
{
    size_t len = strlen(path), plen = parent_len(path);
    struct entry **pp, **parent;
    int hit = 0;
    double now;

    pthread_mutex_lock(&c->lock);
    now = c->clock.now(c->clock.ctx);
    pp = find(c, path, len, hash_path(path, len));
    if (*pp && (*pp)->expires > now) {
        *a = (*pp)->attr;
        hit = 1;
    } else if (len > 0) {
        parent = find(c, path, plen, hash_path(path, plen));
        if (*parent && (*parent)->listed_expires > now) {
            memset(a, 0, sizeof(*a));
            a->kind = CACHE_ABSENT;
            hit = 1;
        }
    }
    if (!hit && *pp && stale(c, *pp, now))
        unlink_entry(c, pp);
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void cache_forget(struct cache *c, const char *path)
{
    size_t len = strlen(path), plen = parent_len(path);
    struct entry **pp;

    pthread_mutex_lock(&c->lock);
    pp = find(c, path, len, hash_path(path, len));
    if (*pp)
        unlink_entry(c, pp);
    if (len > 0) {
        pp = find(c, path, plen, hash_path(path, plen));
        if (*pp) {
            (*pp)->listed_expires = 0;
            drop_names(*pp);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

double cache_now(struct cache *c)
{
    return c->clock.now(c->clock.ctx);
}

void cache_put_names(struct cache *c, const char *dir, const char *names,
                     size_t len, double listed_at)
{
    struct entry *e;
    char *copy;

    if (c->ttl <= 0 || (len && names[len - 1] != '\0'))
        return;
    copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, names, len);
    pthread_mutex_lock(&c->lock);
    e = upsert(c, dir, listed_at);
    if (e) {
        if (e->attr.kind != CACHE_DIR) {
            memset(&e->attr, 0, sizeof(e->attr));
            e->attr.kind = CACHE_DIR;
        }
        e->expires = listed_at + c->ttl;
        e->listed_expires = listed_at + c->ttl;
        drop_names(e);
        if (!e->changed || e->changed_at < listed_at) {
            e->names = copy; /* else we changed it while it was listed */
            e->names_len = len;
            copy = NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    free(copy);
}

char *cache_get_names(struct cache *c, const char *dir, size_t *len)
{
    size_t dlen = strlen(dir);
    struct entry **pp;
    char *out = NULL;

    pthread_mutex_lock(&c->lock);
    pp = find(c, dir, dlen, hash_path(dir, dlen));
    if (*pp && (*pp)->names &&
        (*pp)->listed_expires > c->clock.now(c->clock.ctx)) {
        out = malloc((*pp)->names_len ? (*pp)->names_len : 1);
        if (out) {
            memcpy(out, (*pp)->names, (*pp)->names_len);
            *len = (*pp)->names_len;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return out;
}

size_t cache_count(struct cache *c)
{
    size_t n;
    pthread_mutex_lock(&c->lock);
    n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* The fresh attributes of dir/name (dir is plen bytes of path[]), or NULL. */
static const struct cache_attr *child_attr(struct cache *c, char *path,
                                           size_t plen, const char *name,
                                           double now)
{
    size_t nlen = strlen(name), len = plen + (plen ? 1 : 0) + nlen;
    struct entry **pp;

    if (plen)
        path[plen] = '/';
    memcpy(path + len - nlen, name, nlen + 1);
    pp = find(c, path, len, hash_path(path, len));
    return *pp && (*pp)->expires > now ? &(*pp)->attr : NULL;
}

int cache_get_listing(struct cache *c, const char *dir,
                      int (*fn)(void *ctx, const char *name,
                                const struct cache_attr *attr),
                      void *ctx)
{
    size_t dlen = strlen(dir);
    char *path = malloc(dlen + 258); /* "dir/" + a name of <= 255 bytes */
    struct entry **pp;
    double now;
    int rc = 0;

    if (!path)
        return 0;
    memcpy(path, dir, dlen + 1);
    pthread_mutex_lock(&c->lock);
    now = c->clock.now(c->clock.ctx);
    pp = find(c, dir, dlen, hash_path(dir, dlen));
    if (*pp && (*pp)->names && (*pp)->listed_expires > now) {
        const struct entry *e = *pp;
        rc = 1;
        for (size_t i = 0; i < e->names_len && rc == 1;) {
            const char *name = e->names + i + 1;
            size_t nlen = strlen(name);
            int r = 0;

            if (nlen <= 255) /* always: names are at most 255 bytes */
                r = fn(ctx, name, child_attr(c, path, dlen, name, now));
            if (r < 0)
                rc = r;
            i += nlen + 2;
        }
    }
    pthread_mutex_unlock(&c->lock);
    free(path);
    return rc;
}
