/*
 * cache.h — the listing/attribute cache of buckets/ (after sshfs's cache.c).
 *
 * Maps a path ("bucket/dir/key", no leading slash; "" is the bucket list) to
 * what we last learned about it: a file (size, mtime, ETag), a directory, or
 * known absence. Entries live `ttl` seconds. A directory can also be marked
 * "listed": its listing was read completely, so for `ttl` seconds a child
 * missing from the cache is known absent without asking S3 — this is what
 * makes `ls -l` of a large prefix one listing instead of a HEAD per key.
 *
 * Our own changes (uploads, deletes, renames, mkdir) update the cache at
 * once with cache_change(), so a file is visible by name after close even
 * before a listing would show it, and a warm listing of its directory
 * shows the change (below). cache_forget() is for "we no longer know"
 * (a request that failed half-way): it drops the parent's listing.
 *
 * Thread-safe: one mutex, held only for in-memory work (never across I/O).
 * A ttl of 0 disables caching (every get misses). Paths are copied.
 */
#ifndef AMIFS_CORE_CACHE_H
#define AMIFS_CORE_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum cache_kind {
    CACHE_ABSENT = 0, /* known not to exist */
    CACHE_FILE,
    CACHE_DIR,
};

struct cache_attr {
    enum cache_kind kind;
    uint64_t size;
    time_t mtime;
    char etag[72]; /* "" when unknown */
};

/* Monotonic seconds; NULL fn = CLOCK_MONOTONIC. Tests pass a fake clock. */
struct cache_clock {
    double (*now)(void *ctx);
    void *ctx;
};

struct cache;

/* NULL when out of memory. `clock` may be NULL. */
struct cache *cache_new(double ttl, const struct cache_clock *clock);
void cache_free(struct cache *c);

/* Record what `path` is, fresh for ttl seconds. Replaces an older entry
 * (keeping a directory's "listed" mark when the kind stays DIR). */
void cache_put(struct cache *c, const char *path, const struct cache_attr *a);
/* 1 and *a filled when fresh knowledge exists (an entry, or absence implied
 * by a listed parent), 0 on a miss. */
int cache_get(struct cache *c, const char *path, struct cache_attr *a);
/* Mark the directory `dir` as completely listed now (children already
 * put). Also records `dir` itself as a directory. */
void cache_put_listed(struct cache *c, const char *dir);
/* Drop what is known of `path` and the "listed" mark (and kept names) of
 * its parent: after a change whose outcome is unknown. */
void cache_forget(struct cache *c, const char *path);
/* Warm listings (doc/design/perf.md). The clock's now, for
 * cache_put_names(). */
double cache_now(struct cache *c);
/* Keep the names a complete listing of `dir` showed and mark `dir`
 * listed, both fresh until listed_at + ttl: pass the time taken *before*
 * the listing was asked for, so they never outlive the children's
 * entries put while it was read. `names` is `len` bytes (copied) of
 * records, one per name in listing order: a kind byte ('d' a directory,
 * 'f' anything else), then the name, NUL-terminated ("fa.txt\0dsub\0").
 * When cache_change() changed a child of `dir` at or after listed_at (the
 * listing may predate it), `dir` is marked listed but no names are kept.
 *
 * A child put by cache_put() that is new or changes kind (something this
 * mount did not do: learned from S3) drops the names; so does
 * cache_forget() of a child. */
void cache_put_names(struct cache *c, const char *dir, const char *names,
                     size_t len, double listed_at);
/* Our own change: record `a` for `path` like cache_put() and, while the
 * kept names of its parent are fresh, change them in place: a new name is
 * inserted where the order (cache_set_order) puts it, an absent one
 * (kind CACHE_ABSENT: unlink, rmdir, rename source) is taken out, a kind
 * change moves it. Their freshness is NOT extended: they still end at
 * listed_at + ttl, so others' changes show after the ttl. Costs O(names)
 * comparisons and one memmove, under one hold of the lock. */
void cache_change(struct cache *c, const char *path,
                  const struct cache_attr *a);
/* The order of a directory's names in a listing: < 0 when name a (of
 * kind ka) comes before b, as strcmp. Pure: called with the lock held. */
typedef int (*cache_order_fn)(const char *a, enum cache_kind ka,
                              const char *b, enum cache_kind kb);
/* Set the order cache_change() inserts names in (NULL, the default: by
 * strcmp of the names). Call once, before any kept names. */
void cache_set_order(struct cache *c, cache_order_fn order);
/* A malloc'd copy of the kept names of `dir` (*len bytes, records as
 * above) while fresh, else NULL. */
char *cache_get_names(struct cache *c, const char *dir, size_t *len);
/* A warm listing at once: while the kept names of `dir` are fresh, call
 * fn(ctx, name, attr) for each of them in order, `attr` what the cache
 * holds for dir/name (NULL when nothing fresh), all under one hold of
 * the lock (fn must not call back into the cache), and return 1; else 0
 * (then fn was not called). fn returns 0, or < 0 to stop: that value is
 * returned. */
int cache_get_listing(struct cache *c, const char *dir,
                      int (*fn)(void *ctx, const char *name,
                                const struct cache_attr *attr),
                      void *ctx);
/* Number of entries held (fresh or not yet swept), for tests. */
size_t cache_count(struct cache *c);

#endif
