/* Unit test of core/reader.c: data is right whatever the access pattern,
 * sequential reads grow the window and fetch ahead, random reads fetch
 * exact ranges, memory stays within two windows, errors are reported and
 * retried. The fetch callback is a fake object made of a byte pattern. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reader.h"
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
    pthread_mutex_unlock(&f->lock);
    if (off + len > f->size)
        return aws_error_set(err, AWS_ERR_INVALID, "range past the end");
    if (fail)
        return aws_error_set(err, AWS_ERR_NETWORK, "injected failure");
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)pattern(off + i);
    return 0;
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
    struct reader_options o = {1 * MiB, 8 * MiB};
    uint64_t size = 40 * MiB + 12345;
    struct reader *r;
    struct aws_error err;
    struct reader_stats st;
    char *buf = malloc(128 * KiB);
    bool ok = true;
    uint64_t off = 0;

    fake_init(&f, size);
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
    /* 1+2+4+8+8+8+8+... MiB: about 8 requests, not 320. */
    CHECK(st.fetches <= 10);
    CHECK(st.window == 8 * MiB);
    CHECK(st.bytes_fetched <= size + 8 * MiB);
    CHECK(f.max_len <= 8 * MiB);
    reader_free(r);
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

/* Freeing with a read-ahead in flight waits for it. */
static void test_free_while_ahead(void)
{
    struct fake f;
    uint64_t size = 64 * MiB;
    struct reader *r;
    struct aws_error err;
    char *buf = malloc(MiB);

    fake_init(&f, size);
    r = reader_new(size, NULL, fake_fetch, &f);
    CHECK(reader_read(r, buf, MiB, 0, &err) == (long)MiB);
    reader_free(r); /* ASan/valgrind catch a helper outliving it */
    free(buf);
}

int main(void)
{
    test_sequential();
    test_random();
    test_tail_and_span();
    test_out_of_order();
    test_errors();
    test_free_while_ahead();
    return check_exit();
}
