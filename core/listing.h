/*
 * listing.h — the entries of one open directory, in the order readdir
 * shows them (doc/design/perf.md, "Warm listings").
 *
 * A directory listing is taken once, when a reader starts at offset 0
 * (opendir, or rewinddir), and every later READDIR call of the same open
 * directory is answered from it by offset. So a listing of 10,000 keys is
 * one ListObjectsV2 pass (or one copy of the kept names) however many
 * kernel requests it takes to hand it over, and the offsets stay stable
 * while the mount's own changes update the cache underneath.
 *
 * Each entry has a name and, when known, what it is (kind, size, mtime):
 * with those the kernel gets the attributes with the names (READDIRPLUS)
 * and `ls -l` asks nothing per entry. An entry without attributes (an
 * upload in flight: its size still grows) is looked up by the kernel as
 * usual.
 *
 * Ownership: the listing owns copies of the names. One open directory
 * owns one listing (fs/fs.c keeps it from opendir to releasedir); libfuse
 * serialises the READDIR calls of one open directory, so a listing needs
 * no lock. Out of memory: listing_add() fails with -ENOMEM and leaves the
 * listing as it was.
 */
#ifndef AMIFS_CORE_LISTING_H
#define AMIFS_CORE_LISTING_H

#include <stdbool.h>
#include <stddef.h>

#include "core/cache.h"

struct listing;

/* An empty listing; NULL when out of memory. */
struct listing *listing_new(void);
void listing_free(struct listing *l);

/* Append NAME (copied); `a` NULL when its attributes are not known (the
 * ETag is not kept). 0 or -ENOMEM. */
int listing_add(struct listing *l, const char *name,
                const struct cache_attr *a);
/* Forget the attributes of the entries named NAME (it is being written:
 * the kernel must ask). */
void listing_unknown(struct listing *l, const char *name);
/* Is NAME listed? (linear: for the few uploads in flight) */
bool listing_has(const struct listing *l, const char *name);

size_t listing_count(const struct listing *l);
/* The name of entry i (< listing_count), valid while the listing lives;
 * *a filled and *known true when its attributes are known. */
const char *listing_at(const struct listing *l, size_t i, struct cache_attr *a,
                       bool *known);

#endif
