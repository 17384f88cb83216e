/* Unit test of core/cache.c: expiry, listed directories, forgetting, growth.
 * A fake clock drives time. */
#include <stdio.h>
#include <string.h>

#include "core/cache.h"
#include "core/listing.h"
#include "check.h"

static double fake_now(void *ctx)
{
    return *(double *)ctx;
}

static struct cache_attr file_attr(uint64_t size, const char *etag)
{
    struct cache_attr a;
    memset(&a, 0, sizeof(a));
    a.kind = CACHE_FILE;
    a.size = size;
    snprintf(a.etag, sizeof(a.etag), "%s", etag);
    return a;
}

static void test_expiry(void)
{
    double now = 100;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr a = file_attr(42, "abc"), got;

    cache_put(c, "b/k", &a);
    CHECK(cache_get(c, "b/k", &got) == 1);
    CHECK(got.kind == CACHE_FILE && got.size == 42);
    CHECK(strcmp(got.etag, "abc") == 0);
    CHECK(cache_get(c, "b/other", &got) == 0);
    now = 104.9;
    CHECK(cache_get(c, "b/k", &got) == 1);
    now = 105.1;
    CHECK(cache_get(c, "b/k", &got) == 0);
    CHECK(cache_count(c) == 0); /* dropped when met */
    cache_free(c);
}

static void test_listed(void)
{
    double now = 0;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr a = file_attr(1, ""), got;

    cache_put(c, "b/d/x", &a);
    cache_put_listed(c, "b/d");
    CHECK(cache_get(c, "b/d", &got) == 1 && got.kind == CACHE_DIR);
    CHECK(cache_get(c, "b/d/x", &got) == 1 && got.kind == CACHE_FILE);
    /* Not in the listing: known absent, no network needed. */
    CHECK(cache_get(c, "b/d/y", &got) == 1 && got.kind == CACHE_ABSENT);
    /* Only direct children are implied. */
    CHECK(cache_get(c, "b/d/sub/y", &got) == 0);
    CHECK(cache_get(c, "b/e", &got) == 0);
    /* The bucket list is the directory "". */
    cache_put_listed(c, "");
    CHECK(cache_get(c, "nosuchbucket", &got) == 1 && got.kind == CACHE_ABSENT);
    /* Our own change drops the parent's listed mark. */
    cache_forget(c, "b/d/y");
    CHECK(cache_get(c, "b/d/y", &got) == 0);
    CHECK(cache_get(c, "b/d/x", &got) == 1);
    now = 6;
    CHECK(cache_get(c, "b/d/x", &got) == 0);
    CHECK(cache_get(c, "b/d", &got) == 0);
    cache_free(c);
}

static void test_overwrite_kinds(void)
{
    double now = 0;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr a = file_attr(7, "e1"), got;

    cache_put_listed(c, "b/d");
    a.kind = CACHE_ABSENT;
    cache_put(c, "b/d", &a); /* rmdir: no longer listed either */
    CHECK(cache_get(c, "b/d", &got) == 1 && got.kind == CACHE_ABSENT);
    CHECK(cache_get(c, "b/d/x", &got) == 0);
    a = file_attr(9, "e2");
    cache_put(c, "b/f", &a);
    a = file_attr(10, "e3");
    cache_put(c, "b/f", &a);
    CHECK(cache_get(c, "b/f", &got) == 1 && got.size == 10);
    CHECK(strcmp(got.etag, "e3") == 0);
    cache_free(c);
}

static void test_many(void)
{
    double now = 0;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr a = file_attr(0, ""), got;
    char path[64];
    int misses = 0;

    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof(path), "b/p/key-%d", i);
        a.size = (uint64_t)i;
        cache_put(c, path, &a);
    }
    CHECK(cache_count(c) == 20000);
    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof(path), "b/p/key-%d", i);
        if (cache_get(c, path, &got) != 1 || got.size != (uint64_t)i)
            misses++;
    }
    CHECK(misses == 0);
    /* Expired entries are swept by later puts: memory stays bounded. */
    now = 10;
    for (int i = 0; i < 5000; i++) {
        snprintf(path, sizeof(path), "b/q/key-%d", i);
        cache_put(c, path, &a);
    }
    CHECK(cache_count(c) <= 5000);
    cache_free(c);
}

static void test_disabled(void)
{
    struct cache *c = cache_new(0, NULL);
    struct cache_attr a = file_attr(1, ""), got;

    cache_put(c, "b/k", &a);
    cache_put_listed(c, "b");
    CHECK(cache_get(c, "b/k", &got) == 0);
    CHECK(cache_get(c, "b/z", &got) == 0);
    cache_free(c);
}

struct seen {
    char names[8][16];
    struct cache_attr attr[8];
    int known[8];
    int n;
};

static int collect(void *ctx, const char *name, const struct cache_attr *a)
{
    struct seen *s = ctx;

    if (s->n >= 8)
        return -1;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->known[s->n] = a != NULL;
    if (a)
        s->attr[s->n] = *a;
    s->n++;
    return 0;
}

/* A warm listing: the kept names in order, each with the cache's
 * attributes; own changes drop the names at once; expiry ends it. */
static void test_warm_listing(void)
{
    double now = 10;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr a = file_attr(7, "e1"), d;
    struct seen s = {0};
    static const char names[] = "x\0sub\0y";

    memset(&d, 0, sizeof(d));
    d.kind = CACHE_DIR;
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 0 && s.n == 0);
    cache_put(c, "b/d/x", &a);
    cache_put(c, "b/d/sub", &d);
    cache_put_names(c, "b/d", names, sizeof(names), now);
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 1 && s.n == 3);
    CHECK(strcmp(s.names[0], "x") == 0 && s.known[0] &&
          s.attr[0].size == 7 && s.attr[0].kind == CACHE_FILE);
    CHECK(strcmp(s.names[1], "sub") == 0 && s.attr[1].kind == CACHE_DIR);
    CHECK(strcmp(s.names[2], "y") == 0 && !s.known[2]); /* no entry */
    /* An overwrite of the same kind keeps the names, new size shows. */
    a.size = 100;
    cache_put(c, "b/d/x", &a);
    s.n = 0;
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 1 &&
          s.attr[0].size == 100);
    /* A stop from fn is handed back. */
    s.n = 8;
    CHECK(cache_get_listing(c, "b/d", collect, &s) == -1);
    /* A new child, or a forgotten one, drops the names. */
    cache_put(c, "b/d/new", &a);
    s.n = 0;
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 0);
    cache_put_names(c, "b/d", names, sizeof(names), now);
    cache_forget(c, "b/d/x");
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 0);
    /* Expiry counts from the moment the listing was asked for. */
    cache_put_names(c, "b/d", names, sizeof(names), now - 4);
    now += 0.5;
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 1);
    now += 0.6;
    s.n = 0;
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 0 && s.n == 0);
    /* The bucket list is the directory "". */
    cache_put(c, "b", &d);
    cache_put_names(c, "", "b", 2, now);
    CHECK(cache_get_listing(c, "", collect, &s) == 1 && s.n == 1 &&
          s.attr[0].kind == CACHE_DIR);
    cache_free(c);
}

/* core/listing: entries in order, attributes or not, many names. */
static void test_listing_entries(void)
{
    struct listing *l = listing_new();
    struct cache_attr a = file_attr(5, "etag"), got;
    bool known;
    char name[32];

    CHECK(l && listing_count(l) == 0);
    CHECK(listing_add(l, "one", &a) == 0 && listing_add(l, "two", NULL) == 0);
    CHECK(strcmp(listing_at(l, 0, &got, &known), "one") == 0 && known &&
          got.size == 5 && got.kind == CACHE_FILE && got.etag[0] == '\0');
    CHECK(strcmp(listing_at(l, 1, &got, &known), "two") == 0 && !known);
    CHECK(listing_has(l, "two") && !listing_has(l, "three"));
    listing_unknown(l, "one");
    listing_at(l, 0, &got, &known);
    CHECK(!known);
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "k%05d", i);
        a.size = (uint64_t)i;
        CHECK(listing_add(l, name, &a) == 0);
    }
    CHECK(listing_count(l) == 10002);
    CHECK(strcmp(listing_at(l, 10001, &got, &known), "k09999") == 0 &&
          known && got.size == 9999);
    CHECK(strcmp(listing_at(l, 1, &got, &known), "two") == 0);
    listing_free(l);
    listing_free(NULL);
}

int main(void)
{
    test_expiry();
    test_listed();
    test_overwrite_kinds();
    test_many();
    test_disabled();
    test_warm_listing();
    test_listing_entries();
    return check_exit();
}
