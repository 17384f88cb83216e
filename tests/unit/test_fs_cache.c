/* Unit test of core/cache.c: expiry, listed directories, forgetting, growth.
 * A fake clock drives time. */
#include <stdio.h>
#include <string.h>

#include "core/cache.h"
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

int main(void)
{
    test_expiry();
    test_listed();
    test_overwrite_kinds();
    test_many();
    test_disabled();
    return check_exit();
}
