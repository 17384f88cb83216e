/* Unit test of core/cache.c: expiry, listed directories, forgetting, growth.
 * A fake clock drives time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cache.h"
#include "core/listing.h"
#include "core/listorder.h"
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
 * attributes; a child learned from S3, or forgotten, drops the names;
 * expiry ends it. */
static void test_warm_listing(void)
{
    double now = 10;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr a = file_attr(7, "e1"), d;
    struct seen s = {0};
    static const char names[] = "fx\0dsub\0fy";

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
    /* A new child learned from S3, or a forgotten one, drops the names. */
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
    /* Names must be whole records: an unterminated last one is refused. */
    cache_put_names(c, "b/d", "fx\0fy", 5, now);
    CHECK(cache_get_listing(c, "b/d", collect, &s) == 0);
    /* The bucket list is the directory "". */
    cache_put(c, "b", &d);
    cache_put_names(c, "", "db", 3, now);
    CHECK(cache_get_listing(c, "", collect, &s) == 1 && s.n == 1 &&
          s.attr[0].kind == CACHE_DIR);
    cache_free(c);
}

/* The names of a warm listing of b/d, joined by spaces ("-" when not
 * warm). */
static const char *listed(struct cache *c, char *out, size_t n)
{
    struct seen s = {0};
    size_t at = 0;

    out[0] = '\0';
    if (cache_get_listing(c, "b/d", collect, &s) != 1)
        return "-";
    for (int i = 0; i < s.n; i++)
        at += (size_t)snprintf(out + at, n - at, "%s%s", i ? " " : "",
                               s.names[i]);
    return out;
}

/* Our own changes change the kept names in place, in listing order,
 * without making them last longer. */
static void test_own_changes_in_place(void)
{
    double now = 10;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr f = file_attr(3, "e"), d, gone;
    static const char names[] = "da\0fa-b\0fa.txt\0fz";
    char out[256];

    memset(&d, 0, sizeof(d));
    d.kind = CACHE_DIR;
    memset(&gone, 0, sizeof(gone));
    gone.kind = CACHE_ABSENT;
    cache_set_order(c, listorder_cmp);
    cache_put_names(c, "b/d", names, sizeof(names), now);
    CHECK(strcmp(listed(c, out, sizeof out), "a a-b a.txt z") == 0);
    now += 1;
    cache_change(c, "b/d/a0", &f);     /* create */
    cache_change(c, "b/d/a-a", &d);    /* mkdir: "a-a/" < "a/" */
    cache_change(c, "b/d/a.txt", &gone); /* unlink */
    CHECK(strcmp(listed(c, out, sizeof out), "a-a a a-b a0 z") == 0);
    cache_change(c, "b/d/a-b", &gone); /* rename a-b to y */
    cache_change(c, "b/d/y", &f);
    CHECK(strcmp(listed(c, out, sizeof out), "a-a a a0 y z") == 0);
    cache_change(c, "b/d/y", &f);      /* overwrite: no second name */
    cache_change(c, "b/d/nothere", &gone);
    CHECK(strcmp(listed(c, out, sizeof out), "a-a a a0 y z") == 0);
    cache_change(c, "b/d/a", &gone);   /* rmdir a, then a file a */
    cache_change(c, "b/d/a", &f);
    CHECK(strcmp(listed(c, out, sizeof out), "a-a a a0 y z") == 0);
    cache_change(c, "b/d/a0", &d);     /* and a0 becomes a directory */
    CHECK(strcmp(listed(c, out, sizeof out), "a-a a0 a y z") == 0);
    cache_change(c, "b/d/a0/in", &f);  /* below: b/d's names unchanged */
    CHECK(strcmp(listed(c, out, sizeof out), "a-a a0 a y z") == 0);
    /* Freshness is not extended: still listed_at + ttl. */
    now = 14.9;
    CHECK(strcmp(listed(c, out, sizeof out), "-") != 0);
    now = 15.1;
    CHECK(strcmp(listed(c, out, sizeof out), "-") == 0);
    /* A listing asked for before our change is not kept (it may not show
     * it); one asked for after is. */
    cache_change(c, "b/d/late", &f);
    cache_put_names(c, "b/d", names, sizeof(names), now - 0.1);
    CHECK(strcmp(listed(c, out, sizeof out), "-") == 0);
    CHECK(cache_get(c, "b/d/other", &d) == 1 && d.kind == CACHE_ABSENT);
    cache_put_names(c, "b/d", names, sizeof(names), now + 0.1);
    CHECK(strcmp(listed(c, out, sizeof out), "a a-b a.txt z") == 0);
    /* Emptied, then refilled. */
    for (const char *n = names; n < names + sizeof(names);
         n += strlen(n) + 1) {
        char path[32];
        snprintf(path, sizeof path, "b/d/%s", n + 1);
        cache_change(c, path, &gone);
    }
    CHECK(strcmp(listed(c, out, sizeof out), "") == 0);
    cache_change(c, "b/d/q", &f);
    CHECK(strcmp(listed(c, out, sizeof out), "q") == 0);
    cache_free(c);
}

/* 10,000 kept names: each change is one pass over them, in place. */
static void test_own_changes_many(void)
{
    double now = 0;
    struct cache_clock clk = {fake_now, &now};
    struct cache *c = cache_new(5, &clk);
    struct cache_attr f = file_attr(1, "e");
    char *names = malloc(10000 * 8), *got, path[32];
    size_t len = 0, n;

    cache_set_order(c, listorder_cmp);
    for (int i = 0; i < 10000; i++)
        if (i % 500 != 1)
            len += (size_t)snprintf(names + len, 8, "fk%04d", i) + 1;
    cache_put_names(c, "b/d", names, len, now);
    for (int i = 1; i < 10000; i += 500) {
        snprintf(path, sizeof path, "b/d/k%04d", i);
        cache_change(c, path, &f);
    }
    got = cache_get_names(c, "b/d", &n);
    CHECK(got && n == 10000 * 7);
    for (int i = 0; got && i < 10000; i++) {
        snprintf(path, sizeof path, "fk%04d", i);
        CHECK(strcmp(got + (size_t)i * 7, path) == 0);
    }
    free(got);
    free(names);
    cache_free(c);
}

/* core/listorder: prefixes first, each part in UTF-8 byte order. */
static void test_listorder(void)
{
    /* What fill_listing shows for the keys a/x a-b/x a.d/x %/x a a-b
     * a.txt z é "a%" (shadowed by a/) //x ./y and "50%" (a%25 file). */
    static const struct {
        const char *name;
        enum cache_kind kind;
    } want[] = {
        {"%25", CACHE_DIR}, {".%2Fy", CACHE_FILE}, {"%2Fx", CACHE_FILE},
        {"a-b", CACHE_DIR}, {"a.d", CACHE_DIR}, {"a", CACHE_DIR},
        {"50%25", CACHE_FILE}, {"a%", CACHE_FILE}, {"a-b%", CACHE_FILE},
        {"a.txt", CACHE_FILE}, {"z", CACHE_FILE}, {"\xc3\xa9", CACHE_FILE},
    };
    size_t n = sizeof(want) / sizeof(want[0]);

    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int r = listorder_cmp(want[i].name, want[i].kind, want[j].name,
                                  want[j].kind);
            CHECK(i < j ? r < 0 : i > j ? r > 0 : r == 0);
        }
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
    test_own_changes_in_place();
    test_own_changes_many();
    test_listorder();
    test_listing_entries();
    return check_exit();
}
