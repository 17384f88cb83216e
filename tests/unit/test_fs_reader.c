/* Unit test of core/reader.c and core/readpool.c: data is right whatever
 * the access pattern, sequential reads grow the window and keep several
 * ranges in flight at once (on the pool's workers), random reads fetch
 * exact ranges, a seek drops the read-ahead, memory stays within the
 * pool's budget and is given back, errors are reported and retried. The
 * fetch callback is a fake object made of a byte pattern. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reader.h"
#include "core/readpool.h"
#include <time.h>
#include "check.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

struct fake {
    pthread_mutex_t lock;
    uint64_t size;
    size_t calls;
    size_t max_len;
    size_t last_len;
    uint64_t fail_at; /* fail fetches covering this offset while > 0 */
    int fail_count;
    int active, max_active; /* fetches running at once */
    long delay_us;          /* each fetch takes at least this long */
};

static unsigned char pattern(uint64_t i)
{
    return (unsigned char)((i * 7) ^ (i >> 8) ^ (i >> 17));
}

static int fake_fetch(void *ctx, uint64_t off, size_t len, char *dst,
                      const atomic_int *cancel, struct aws_error *err)
{
    struct fake *f = ctx;
    bool fail;

    pthread_mutex_lock(&f->lock);
    f->calls++;
    f->last_len = len;
    if (len > f->max_len)
        f->max_len = len;
    fail = f->fail_count > 0 && f->fail_at >= off && f->fail_at < off + len;
    if (fail)
        f->fail_count--;
    if (++f->active > f->max_active)
        f->max_active = f->active;
    pthread_mutex_unlock(&f->lock);
    if (f->delay_us) {
        struct timespec ts = {0, f->delay_us * 1000};
        nanosleep(&ts, NULL);
    }
    if (off + len > f->size)
        aws_error_set(err, AWS_ERR_INVALID, "range past the end");
    else if (fail)
        aws_error_set(err, AWS_ERR_NETWORK, "injected failure");
    else
        for (size_t i = 0; i < len; i++)
            dst[i] = (char)pattern(off + i);
    pthread_mutex_lock(&f->lock);
    f->active--;
    pthread_mutex_unlock(&f->lock);
    return off + len > f->size || fail ? -1 : 0;
}

static bool same(const char *buf, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] != pattern(off + i))
            return false;
    return true;
}

static void fake_init(struct fake *f, uint64_t size)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->size = size;
}

static void test_sequential(void)
{
    struct fake f;
    struct reader_options o = {1 * MiB, 4 * MiB, 4, NULL};
    uint64_t size = 40 * MiB + 12345;
    struct reader *r;
    struct aws_error err;
    struct reader_stats st;
    char *buf = malloc(128 * KiB);
    bool ok = true;
    uint64_t off = 0;

    fake_init(&f, size);
    f.delay_us = 2000;
    r = reader_new(size, &o, fake_fetch, &f);
    while (off < size) {
        long n = reader_read(r, buf, 128 * KiB, off, &err);
        if (n <= 0) {
            ok = false;
            break;
        }
        ok = ok && same(buf, off, (size_t)n);
        off += (uint64_t)n;
    }
    CHECK(ok);
    CHECK(off == size);
    CHECK(reader_read(r, buf, 128 * KiB, size, &err) == 0);
    reader_get_stats(r, &st);
    /* ranges of a quarter of the window: 1 MiB while it is small, then
     * 2 and 4 MiB: about 20 requests, not 320; nothing twice. */
    CHECK(st.fetches <= 24);
    CHECK(st.window == 16 * MiB);
    CHECK(st.bytes_fetched == size);
    CHECK(f.max_len <= 4 * MiB);
    /* ranges fetched side by side, never more than asked */
    CHECK(st.peak_inflight >= 3 && st.peak_inflight <= 5);
    CHECK(f.max_active >= 3);
    reader_free(r);
    free(buf);
}

/* The mount's pool: the budget bounds the buffers of every reader; a
 * reader without budget still reads (on its own thread); all of it is
 * given back at free. A seek drops the read-ahead and its budget. */
static void test_shared_budget(void)
{
    struct read_pool *p = read_pool_new(10 * MiB, 4);
    struct reader_options o = {1 * MiB, 4 * MiB, 4, p};
    struct read_pool_stats ps;
    uint64_t size = 24 * MiB;
    struct fake f1, f2;
    struct reader *a, *b;
    struct aws_error err;
    char *buf = malloc(MiB);
    bool ok = true;

    fake_init(&f1, size);
    fake_init(&f2, size);
    a = reader_new(size, &o, fake_fetch, &f1);
    b = reader_new(size, &o, fake_fetch, &f2);
    for (uint64_t off = 0; off < size; off += MiB) {
        ok = ok && reader_read(a, buf, MiB, off, &err) == (long)MiB &&
             same(buf, off, MiB);
        ok = ok && reader_read(b, buf, MiB, off, &err) == (long)MiB &&
             same(buf, off, MiB);
    }
    CHECK(ok);
    read_pool_stats(p, &ps);
    CHECK(ps.peak <= 10 * MiB && ps.peak >= 4 * MiB);
    CHECK(ps.threads <= 4);
    /* a seek far back: the stream and its buffers are gone */
    CHECK(reader_read(a, buf, 4096, 3 * MiB, &err) == 4096);
    CHECK(same(buf, 3 * MiB, 4096) && f1.last_len == 4096);
    reader_free(b);
    read_pool_stats(p, &ps);
    CHECK(ps.used == 0);
    reader_free(a);
    read_pool_free(p);
    free(buf);
}

static void test_random(void)
{
    struct fake f;
    uint64_t size = 100 * MiB;
    struct reader *r;
    struct aws_error err;
    char buf[4096];
    uint64_t offs[] = {50 * MiB, 3 * MiB, 99 * MiB, 20 * MiB + 7};
    bool ok = true;

    fake_init(&f, size);
    r = reader_new(size, NULL, fake_fetch, &f);
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        long n = reader_read(r, buf, sizeof(buf), offs[i], &err);
        ok = ok && n == (long)sizeof(buf) && same(buf, offs[i], sizeof(buf));
        /* exact ranges: nothing fetched beyond the request */
        ok = ok && f.last_len == sizeof(buf);
    }
    CHECK(ok);
    CHECK(f.calls == 4);
    reader_free(r);
}

static void test_tail_and_span(void)
{
    struct fake f;
    uint64_t size = 3 * MiB + 100;
    struct reader *r;
    struct aws_error err;
    char *buf = malloc(2 * MiB);
    long n;

    fake_init(&f, size);
    r = reader_new(size, NULL, fake_fetch, &f);
    /* A request spanning window boundaries is filled completely. */
    n = reader_read(r, buf, 2 * MiB, 0, &err);
    CHECK(n == (long)(2 * MiB) && same(buf, 0, 2 * MiB));
    n = reader_read(r, buf, 2 * MiB, 2 * MiB, &err);
    CHECK(n == (long)(MiB + 100) && same(buf, 2 * MiB, MiB + 100));
    CHECK(reader_read(r, buf, 10, size + 5, &err) == 0);
    reader_free(r);
    /* An empty object needs no fetch at all. */
    fake_init(&f, 0);
    r = reader_new(0, NULL, fake_fetch, &f);
    CHECK(reader_read(r, buf, 10, 0, &err) == 0 && f.calls == 0);
    reader_free(r);
    free(buf);
}

/* Several FUSE threads may deliver reads slightly out of order. */
static void test_out_of_order(void)
{
    struct fake f;
    uint64_t size = 16 * MiB;
    struct reader *r;
    struct aws_error err;
    char buf[128 * 1024];
    bool ok = true;

    fake_init(&f, size);
    r = reader_new(size, NULL, fake_fetch, &f);
    for (uint64_t base = 0; base < size; base += 2 * sizeof(buf)) {
        uint64_t second = base + sizeof(buf);
        ok = ok &&
             reader_read(r, buf, sizeof(buf), second, &err) ==
                 (long)sizeof(buf) &&
             same(buf, second, sizeof(buf));
        ok =
            ok &&
            reader_read(r, buf, sizeof(buf), base, &err) == (long)sizeof(buf) &&
            same(buf, base, sizeof(buf));
    }
    CHECK(ok);
    CHECK(f.calls < 20); /* still treated as a stream */
    reader_free(r);
}

static void test_errors(void)
{
    struct fake f;
    uint64_t size = 4 * MiB;
    struct reader *r;
    struct aws_error err;
    char buf[4096];

    fake_init(&f, size);
    f.fail_at = 10;
    f.fail_count = 1;
    r = reader_new(size, NULL, fake_fetch, &f);
    aws_error_clear(&err);
    CHECK(reader_read(r, buf, sizeof(buf), 0, &err) == -1);
    CHECK(err.kind == AWS_ERR_NETWORK);
    /* The failure is not sticky: the next read fetches again. */
    CHECK(reader_read(r, buf, sizeof(buf), 0, &err) == (long)sizeof(buf));
    CHECK(same(buf, 0, sizeof(buf)));
    /* A failing read-ahead surfaces when its bytes are needed. */
    f.fail_at = 3 * MiB;
    f.fail_count = 1;
    {
        uint64_t off = sizeof(buf);
        long n = 1;
        int errors = 0;
        while (off < size && errors < 3) {
            n = reader_read(r, buf, sizeof(buf), off, &err);
            if (n < 0) {
                errors++;
                continue; /* retry the same offset */
            }
            CHECK(same(buf, off, (size_t)n));
            off += (uint64_t)n;
        }
        CHECK(off == size);
        CHECK(errors == 1);
    }
    reader_free(r);
}

/* Freeing with read-ahead in flight (slow fetches) stops and waits for
 * every fetch: ASan/TSan catch a worker outliving the reader. */
static void test_free_while_ahead(void)
{
    struct fake f;
    uint64_t size = 64 * MiB;
    struct reader *r;
    struct aws_error err;
    char *buf = malloc(MiB);

    fake_init(&f, size);
    f.delay_us = 20000;
    r = reader_new(size, NULL, fake_fetch, &f);
    for (uint64_t off = 0; off < 8 * MiB; off += MiB)
        CHECK(reader_read(r, buf, MiB, off, &err) == (long)MiB);
    reader_free(r);
    CHECK(f.active == 0);
    free(buf);
}

int main(void)
{
    test_sequential();
    test_shared_budget();
    test_random();
    test_tail_and_span();
    test_out_of_order();
    test_errors();
    test_free_while_ahead();
    return check_exit();
}
