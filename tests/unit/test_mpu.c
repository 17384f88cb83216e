/*
 * test_mpu.c — the uploader's pure part-size function, the memory budget's
 * arithmetic over 10,000 parts, its local state transitions, and real
 * uploads against a fake S3 (tests/unit/fakehttp.c): parts in memory and
 * staged in files arrive byte-exact with the budget never exceeded, and a
 * Complete whose answer was lost is settled by HEAD + the multipart ETag.
 *
 * Part sizes: for each configuration the 10,000 parts must add up to at
 * least the maximum object size, every part lies in [5 MiB, 5 GiB], the
 * first parts are the configured size, and sizes never shrink.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/mpu.h"
#include "aws/s3.h"
#include "check.h"
#include "fakehttp.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define TIB ((uint64_t)1 << 40)

static void check_config(size_t first, uint64_t max, unsigned min_same)
{
    uint64_t sum = 0;
    size_t prev = 0, expect_first = first < 5 * MIB ? 5 * MIB : first;
    unsigned same = 0;
    for (unsigned n = 1; n <= 10000; n++) {
        size_t s = mpu_part_size(n, first, max);
        CHECK(s >= 5 * MIB && s <= 5 * GIB, "part %u size %zu out of range",
              n, s);
        CHECK(s >= prev, "part %u shrinks: %zu < %zu", n, s, prev);
        if (s == expect_first)
            same++;
        prev = s;
        sum += s;
    }
    CHECK(mpu_part_size(1, first, max) == expect_first,
          "first part %zu != configured %zu", mpu_part_size(1, first, max),
          expect_first);
    CHECK(sum >= max, "first %zu max %llu: 10,000 parts reach only %llu",
          first, (unsigned long long)max, (unsigned long long)sum);
    /* Growth starts no earlier than needed: the configured size is kept for
     * a good share of the parts (memory stays small for ordinary files). */
    CHECK(same >= min_same, "only %u parts of the configured size", same);
    printf("first %4llu MiB, max %8.1f GiB: %5u parts at first size, last "
           "%llu MiB, total %.1f GiB\n",
           (unsigned long long)(first / MIB), (double)max / GIB, same,
           (unsigned long long)(prev / MIB), (double)sum / GIB);
}

static void test_part_sizes(void)
{
    const uint64_t tib_48_8 = 488 * TIB / 10; /* 48.8 TiB */
    /* 5 TiB leaves room for a long stretch at the configured size; at
     * 48.8 TiB the 10,000 parts must be almost all 5 GiB (slack ≈ 29 GiB),
     * so only the first few keep it. */
    check_config(8 * MIB, 5 * TIB, 500);
    check_config(5 * MIB, 5 * TIB, 500);
    check_config(64 * MIB, 5 * TIB, 500);
    check_config(1 * MIB, 5 * TIB, 500);     /* below the minimum: 5 MiB */
    check_config(8 * MIB, tib_48_8, 5);
    check_config(5 * MIB, tib_48_8, 5);
    check_config(16 * MIB, tib_48_8, 5);
    check_config(5 * GIB, tib_48_8, 10000);  /* already at the maximum */
    check_config(8 * MIB, 10 * GIB, 10000);  /* small cap: constant size */
    check_config(8 * MIB, 20 * TIB, 10);
    CHECK(mpu_part_size(1, 8 * MIB, 10 * GIB) == 8 * MIB &&
              mpu_part_size(10000, 8 * MIB, 10 * GIB) == 8 * MIB,
          "constant when first × 10,000 suffices");
    CHECK(mpu_part_size(0, 8 * MIB, 5 * TIB) == 8 * MIB, "part 0 as part 1");
    CHECK(mpu_part_size(1, 10 * GIB, 5 * TIB) == 5 * GIB, "capped at 5 GiB");
}

/* Local transitions: small writes stay in memory (no upload is created
 * before a part is full), and an abort before anything was sent needs no
 * network. The client is never touched, so NULL is enough here. */
static void test_local_states(void)
{
    struct aws_error err;
    struct mpu_options o = {0};
    o.part_size = 5 * MIB;
    struct mpu *m = mpu_new(NULL, "bucket", "key", &o, &err);
    CHECK(m != NULL, "mpu_new");
    if (!m)
        return;
    CHECK(mpu_state(m) == MPU_IDLE, "idle at start");
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 256; i++)
        CHECK(mpu_write(m, chunk, sizeof chunk, &err) == 0, "write %d", i);
    CHECK(mpu_bytes_written(m) == 256 * sizeof chunk, "bytes written");
    CHECK(mpu_bytes_sent(m) == 0, "nothing sent");
    CHECK(mpu_state(m) == MPU_IDLE, "still idle below one part");
    char id[64] = "x";
    mpu_upload_id(m, id, sizeof id);
    CHECK(id[0] == '\0', "no upload id before creation");
    mpu_abort(m);
    CHECK(mpu_state(m) == MPU_ABORTED, "aborted");
    CHECK(mpu_write(m, chunk, 1, &err) < 0 && err.kind == AWS_ERR_ABORTED,
          "write after abort fails with ABORTED (%d)", err.kind);
    CHECK(mpu_finish(m, NULL, &err) < 0 && err.kind == AWS_ERR_ABORTED,
          "finish after abort fails");
    struct aws_error first;
    mpu_error(m, &first);
    CHECK(first.kind == AWS_ERR_ABORTED, "first error kept");
    mpu_abort(m); /* idempotent */
    mpu_free(m);

    /* Over the configured maximum: EFBIG-style failure, nothing sent. */
    o.max_object_size = 1000;
    m = mpu_new(NULL, "bucket", "key", &o, &err);
    CHECK(m && mpu_write(m, chunk, 1000, &err) == 0, "up to the max");
    CHECK(m && mpu_write(m, chunk, 1, &err) < 0 &&
              err.kind == AWS_ERR_TOO_LARGE,
          "past the max");
    CHECK(m && mpu_state(m) == MPU_ABORTED, "aborted after too large");
    mpu_free(m);
    mpu_free(NULL);
}

/* The budget over a whole object: for each size up to 5 TiB, walk the
 * parts as the uploader makes them. A part in memory is admitted only
 * while the bytes reserved stay within the budget (the uploader's rule), so
 * the most held at once is the largest multiple of its size that fits; a
 * part staged in a file holds none. Check that bound, that every part the
 * budget admits can be held at all (else the writer would wait forever),
 * and S3's limits: ≤ 10,000 parts, each but the last in [5 MiB, 5 GiB]. */
static void check_budget(uint64_t object, size_t first, size_t budget)
{
    uint64_t sum = 0;
    size_t worst = 0, largest = 0;
    unsigned n = 0, in_mem = 0;
    while (sum < object) {
        n++;
        CHECK(n <= 10000, "%llu bytes need more than 10,000 parts",
              (unsigned long long)object);
        if (n > 10000)
            return;
        /* The uploader reserves the scheduled size, also for the last
         * part (it only learns at close that the part is the last). */
        size_t full = mpu_part_size(n, first, (uint64_t)5 << 40), s = full;
        if (object - sum < s)
            s = (size_t)(object - sum); /* the last part */
        else
            CHECK(s >= 5 * MIB && s <= 5 * GIB, "part %u: %zu", n, s);
        size_t held = 0;
        if (mpu_part_in_memory(full, budget)) {
            size_t k = budget / full; /* parts the budget admits at once */
            CHECK(k >= 4, "part %u (%zu) admits only %zu at once", n, full,
                  k);
            held = k * full;
            in_mem++;
        }
        CHECK(held <= budget, "part %u: %zu held > budget %zu", n, held,
              budget);
        worst = held > worst ? held : worst;
        largest = s > largest ? s : largest;
        sum += s;
    }
    CHECK(sum >= object, "parts sum to the size");
    printf("budget %3zu MiB, object %7.1f GiB: %5u parts (%5u in memory), "
           "largest %4zu MiB, most held %3zu MiB\n", budget / MIB,
           (double)object / GIB, n, in_mem, largest / MIB, worst / MIB);
}

static void test_budget_arithmetic(void)
{
    const uint64_t sizes[] = {1,           5 * MIB,      100 * MIB,
                              10 * GIB,    100 * GIB,    300 * GIB,
                              1 * TIB,     2 * TIB,      5 * TIB};
    const size_t budgets[] = {20 * MIB, 64 * MIB, 128 * MIB};
    for (size_t b = 0; b < sizeof budgets / sizeof *budgets; b++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            check_budget(sizes[i], 8 * MIB, budgets[b]);
    CHECK(mpu_part_in_memory(5 * MIB, 20 * MIB), "5 MiB in 20 MiB");
    CHECK(!mpu_part_in_memory(6 * MIB, 20 * MIB), "6 MiB not in 20 MiB");
}

/* ---- against a fake S3 -------------------------------------------------- */

#define PART_ETAG "0123456789abcdef0123456789abcdef"
#define CREATE_OK                                                            \
    "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"         \
    "<UploadId>UP1</UploadId></InitiateMultipartUploadResult>"
#define NO_SUCH_UPLOAD                                                       \
    "<Error><Code>NoSuchUpload</Code><Message>gone</Message></Error>"
#define COMPLETE_OK                                                          \
    "<CompleteMultipartUploadResult><ETag>&quot;x-3&quot;</ETag>"           \
    "</CompleteMultipartUploadResult>"

static unsigned char pattern(uint64_t i)
{
    return (unsigned char)(i * 7 + (i >> 12));
}

static struct aws_client *fake_client(const char *url)
{
    struct aws_client_options o = {0};
    struct aws_error err;
    o.config.endpoint = url;
    o.retry_base_ms = 1;
    o.max_attempts = 3;
    struct aws_client *c = aws_client_new(&o, &err);
    CHECK(c != NULL, "client: %s", err.message);
    return c;
}

struct job {
    struct aws_client *c;
    struct mpu_shared *sh;
    const char *key;
    size_t part;
    uint64_t size;
    int rc;
};

static void *upload_main(void *arg)
{
    struct job *j = arg;
    struct aws_error err;
    struct mpu_options o = {0};
    unsigned char buf[100000];
    o.part_size = j->part;
    o.shared = j->sh;
    struct mpu *m = mpu_new(j->c, "b", j->key, &o, &err);
    j->rc = m ? 0 : -1;
    for (uint64_t off = 0; m && j->rc == 0 && off < j->size;) {
        size_t n = j->size - off < sizeof buf ? (size_t)(j->size - off)
                                               : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        j->rc = mpu_write(m, buf, n, &err);
        off += n;
    }
    if (m && j->rc == 0)
        j->rc = mpu_finish(m, NULL, &err);
    mpu_free(m);
    return NULL;
}

/* Every PUT of a part carries exactly its slice of the pattern. */
static void check_bodies(struct fakehttp *f, size_t part, uint64_t size)
{
    unsigned puts = 0;
    for (size_t i = 0; i < fakehttp_count(f); i++) {
        const struct fake_req *r = fakehttp_req(f, i);
        const char *pn = strstr(r->target, "partNumber=");
        if (strcmp(r->method, "PUT") || !pn)
            continue;
        uint64_t first = (strtoull(pn + 11, NULL, 10) - 1) * part;
        uint64_t want = size - first < part ? size - first : part;
        bool same = r->body_len == want;
        for (size_t k = 0; same && k < r->body_len; k++)
            same = (unsigned char)r->body[k] == pattern(first + k);
        CHECK(same, "part at %llu: %zu bytes, want %llu, content differs",
              (unsigned long long)first, r->body_len,
              (unsigned long long)want);
        puts++;
    }
    CHECK(puts > 0, "parts were sent");
}

static struct fake_rule upload_rules[] = {
    {.method = "POST", .status = 200, .body = CREATE_OK, .times = 1},
    {.method = "PUT", .status = 200, .headers = "ETag: \"" PART_ETAG "\"\r\n",
     .body = ""},
    {.method = "POST", .status = 200, .body = COMPLETE_OK, .times = 1},
    {.method = "DELETE", .status = 204, .body = ""},
    {0},
};

/* Three uploads at once through one pool: memory parts (5 MiB ≤ 20/4)
 * never hold more than the budget; 6 MiB parts go through files. */
static void run_pool(size_t part, bool expect_spill)
{
    struct fakehttp *f = fakehttp_start(upload_rules);
    CHECK(f != NULL, "fake server");
    if (!f)
        return;
    struct aws_client *c = fake_client(fakehttp_url(f));
    struct mpu_shared *sh = mpu_shared_new(20 * MIB, 3, NULL);
    const uint64_t size = 2 * part + 12345;
    struct job j = {c, sh, "k", part, size, -1};
    upload_main(&j); /* one alone: its bodies are checked */
    CHECK(j.rc == 0, "upload of %llu bytes", (unsigned long long)size);
    check_bodies(f, part, size);
    struct job jobs[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        fakehttp_reset(f);
        jobs[i] = (struct job){c, sh, "k", part, size, -1};
    }
    /* The fake answers Create/Complete once per reset: run them one
     * after the other but sharing the pool's workers and budget. */
    for (int i = 0; i < 3; i++) {
        fakehttp_reset(f);
        pthread_create(&t[i], NULL, upload_main, &jobs[i]);
        pthread_join(t[i], NULL);
        CHECK(jobs[i].rc == 0, "upload %d", i);
    }
    struct mpu_shared_stats st;
    mpu_shared_stats(sh, &st);
    CHECK(st.used == 0 && st.spill_parts == 0, "all given back (%zu, %d)",
          st.used, st.spill_parts);
    CHECK(st.peak <= st.budget, "peak %zu > budget %zu", st.peak, st.budget);
    CHECK(expect_spill ? st.spill_peak > 0 && st.peak == 0
                       : st.spill_peak == 0 && st.peak >= part,
          "part %zu: memory peak %zu, files peak %d", part, st.peak,
          st.spill_peak);
    CHECK(st.threads >= 1 && st.threads <= 3, "threads %d", st.threads);
    CHECK(st.parked == 0, "an idle pool keeps no buffer (%zu)", st.parked);
    printf("pool: part %zu MiB: peak %zu MiB of %zu, files %d, threads %d\n",
           part / MIB, st.peak / MIB, st.budget / MIB, st.spill_peak,
           st.threads);
    mpu_shared_free(sh);
    aws_client_free(c);
    fakehttp_stop(f);
}

/* One worker, so a writer holds two slots: every part after the second
 * starts after one was acknowledged, and must get that part's buffer back
 * (parked, budget still held) instead of a fresh mapping. */
static void test_buffers_reused(void)
{
    struct fakehttp *f = fakehttp_start(upload_rules);
    CHECK(f != NULL, "fake server");
    if (!f)
        return;
    struct aws_client *c = fake_client(fakehttp_url(f));
    struct mpu_shared *sh = mpu_shared_new(20 * MIB, 1, NULL);
    struct job j = {c, sh, "k", 5 * MIB, 6 * 5 * MIB, -1};
    upload_main(&j);
    CHECK(j.rc == 0, "upload");
    check_bodies(f, 5 * MIB, 6 * 5 * MIB); /* reused buffers: right bytes */
    struct mpu_shared_stats st;
    mpu_shared_stats(sh, &st);
    CHECK(st.reused >= 4, "%lu of 6 parts reused a buffer", st.reused);
    CHECK(st.parked == 0 && st.used == 0, "an idle pool keeps no buffer "
          "(%zu parked, %zu used)", st.parked, st.used);
    mpu_shared_free(sh);
    aws_client_free(c);
    fakehttp_stop(f);
}

/* The automatic budget on a slow path: every part takes 300 ms to be
 * answered (a rate-limited, far connection), the writer is fast. The pool
 * starts with 4 workers and 64 MiB, four 16 MiB parts: the budget, not the
 * workers, is what the writer waits for. It must hold more parts in flight
 * (budget and workers) as long as that raises the throughput, stay within
 * its cap, and start from 64 MiB again once idle. With a fixed budget the
 * peak never passes 64 MiB. */
static void test_grow_on_slow_path(void)
{
    struct fake_rule rules[] = {
        {.method = "POST", .status = 200, .body = CREATE_OK, .times = 1},
        {.method = "PUT", .status = 200,
         .headers = "ETag: \"" PART_ETAG "\"\r\n", .body = "",
         .delay_ms = 300},
        {.method = "POST", .status = 200, .body = COMPLETE_OK, .times = 1},
        {.method = "DELETE", .status = 204, .body = ""},
        {0},
    };
    struct fakehttp *f = fakehttp_start(rules);
    CHECK(f != NULL, "fake server");
    if (!f)
        return;
    struct aws_client *c = fake_client(fakehttp_url(f));
    struct mpu_shared *sh = mpu_shared_new(0, 4, NULL);
    struct job j = {c, sh, "k", 16 * MIB, 16 * 16 * MIB, -1};
    upload_main(&j);
    CHECK(j.rc == 0, "upload through the automatic budget");
    struct mpu_shared_stats st;
    mpu_shared_stats(sh, &st);
    CHECK(st.grow_steps >= 1 && st.peak > 64 * MIB,
          "grew: %d steps, peak %zu MiB", st.grow_steps, st.peak / MIB);
    CHECK(st.peak <= st.budget_cap && st.budget_cap == 160 * MIB,
          "peak %zu within the cap %zu", st.peak, st.budget_cap);
    CHECK(st.budget == 64 * MIB && st.used == 0,
          "idle again: budget %zu, used %zu", st.budget, st.used);
    printf("grow: %d steps, %d workers, peak %zu MiB\n", st.grow_steps,
           st.threads, st.peak / MIB);
    mpu_shared_free(sh);
    aws_client_free(c);
    fakehttp_stop(f);
}

/* Complete's first answer is lost (connection dropped after the request);
 * the client's retry is answered NoSuchUpload because the first attempt
 * did land. The HEAD shows the multipart ETag of our parts → success. With
 * another ETag (someone else's object) → failure. */
static void run_lost_complete(const char *head_etag, bool expect_ok)
{
    char hdr[200];
    snprintf(hdr, sizeof hdr, "ETag: \"%s\"\r\nContent-Length: 0\r\n",
             head_etag);
    struct fake_rule rules[] = {
        {.method = "POST", .status = 200, .body = CREATE_OK, .times = 1},
        {.method = "PUT", .status = 200,
         .headers = "ETag: \"" PART_ETAG "\"\r\n", .body = ""},
        {.method = "POST", .drop = true, .times = 1},
        {.method = "POST", .status = 404, .body = NO_SUCH_UPLOAD},
        {.method = "HEAD", .status = 200, .headers = hdr, .body = ""},
        {.method = "DELETE", .status = 204, .body = ""},
        {0},
    };
    struct fakehttp *f = fakehttp_start(rules);
    CHECK(f != NULL, "fake server");
    if (!f)
        return;
    struct aws_client *c = fake_client(fakehttp_url(f));
    struct job j = {c, NULL, "k", 5 * MIB, 10 * MIB + 1, -1};
    upload_main(&j);
    CHECK((j.rc == 0) == expect_ok, "lost Complete, HEAD ETag %s: rc %d",
          head_etag, j.rc);
    aws_client_free(c);
    fakehttp_stop(f);
}

static void test_lost_complete(void)
{
    struct s3_part p[3];
    char want[72];
    for (int i = 0; i < 3; i++) {
        p[i].number = i + 1;
        memcpy(p[i].etag, PART_ETAG, sizeof PART_ETAG);
    }
    CHECK(s3_multipart_etag(p, 3, want) == 0, "multipart etag");
    run_lost_complete(want, true);
    run_lost_complete("ffffffffffffffffffffffffffffffff-3", false);
}

/* One thread writing to many files in turn, each left with a half-filled
 * part: the budget (20 MiB = four 5 MiB parts) is spent on parts nobody
 * will finish while this thread waits. The fifth file must not wait for
 * itself: after a second with nothing being sent its part is staged in a
 * file (outside the budget). Without that, this test hangs until the
 * alarm kills it. No network: nothing reaches a full part. */
static void test_interleaved_half_parts(void)
{
    struct aws_error err;
    struct mpu_shared *sh = mpu_shared_new(20 * MIB, 2, "/tmp");
    struct mpu_options o = {0};
    struct mpu *m[5] = {0};
    char chunk[4096];
    memset(chunk, 'h', sizeof chunk);
    o.part_size = 5 * MIB;
    o.shared = sh;
    alarm(30);
    for (int i = 0; i < 5; i++) {
        m[i] = mpu_new(NULL, "bucket", i ? "k" : "k0", &o, &err);
        CHECK(m[i] && mpu_write(m[i], chunk, sizeof chunk, &err) == 0,
              "file %d takes its first bytes", i);
    }
    struct mpu_shared_stats st;
    mpu_shared_stats(sh, &st);
    CHECK(st.used <= 20 * MIB, "budget kept (%zu)", st.used);
    CHECK(st.overflow_spills == 1, "one part staged (%d)", st.overflow_spills);
    CHECK(m[4] && mpu_write(m[4], chunk, sizeof chunk, &err) == 0,
          "the staged part takes more");
    alarm(0);
    for (int i = 0; i < 5; i++)
        mpu_free(m[i]);
    mpu_shared_stats(sh, &st);
    CHECK(st.used == 0 && st.spill_parts == 0, "all given back");
    mpu_shared_free(sh);
}

int main(void)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRETKEYTEST", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/amifs-config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/amifs-creds", 1);
    test_part_sizes();
    test_budget_arithmetic();
    test_local_states();
    test_interleaved_half_parts();
    run_pool(5 * MIB, false);
    run_pool(6 * MIB, true);
    test_lost_complete();
    test_buffers_reused();
    test_grow_on_slow_path();
    return check_exit();
}
