/*
 * listing.c — an array of entries whose names live in one growing buffer
 * (two allocations for the whole directory, not one per name).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/listing.h"

struct entry {
    size_t name; /* offset in names */
    uint64_t size;
    time_t mtime;
    enum cache_kind kind;
    bool known;
};

struct listing {
    struct entry *v;
    size_t n, cap;
    char *names;
    size_t used, room;
};

struct listing *listing_new(void)
{
    return calloc(1, sizeof(struct listing));
}

void listing_free(struct listing *l)
{
    if (!l)
        return;
    free(l->v);
    free(l->names);
    free(l);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 64;
    void *q;

    while (n < need)
        n *= 2;
    if (n == *cap)
        return 0;
    q = realloc(*p, n * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

int listing_add(struct listing *l, const char *name, const struct cache_attr *a)
{
    size_t len = strlen(name) + 1;
    struct entry *e;

    if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) < 0 ||
        grow((void **)&l->names, &l->room, l->used + len, 1) < 0)
        return -ENOMEM;
    memcpy(l->names + l->used, name, len);
    e = &l->v[l->n++];
    memset(e, 0, sizeof(*e));
    e->name = l->used;
    l->used += len;
    if (a) {
        e->known = true;
        e->kind = a->kind;
        e->size = a->size;
        e->mtime = a->mtime;
    }
    return 0;
}

void listing_unknown(struct listing *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names + l->v[i].name, name) == 0)
            l->v[i].known = false;
}

bool listing_has(const struct listing *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names + l->v[i].name, name) == 0)
            return true;
    return false;
}

size_t listing_count(const struct listing *l)
{
    return l->n;
}

const char *listing_at(const struct listing *l, size_t i, struct cache_attr *a,
                       bool *known)
{
    const struct entry *e = &l->v[i];

    *known = e->known;
    memset(a, 0, sizeof(*a));
    a->kind = e->kind;
    a->size = e->size;
    a->mtime = e->mtime;
    return l->names + e->name;
}
