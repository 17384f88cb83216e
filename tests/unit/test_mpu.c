/*
 * test_mpu.c — the uploader's pure part-size function and its local state
 * transitions (no network: nothing here reaches a first full part).
 *
 * Part sizes: for each configuration the 10,000 parts must add up to at
 * least the maximum object size, every part lies in [5 MiB, 5 GiB], the
 * first parts are the configured size, and sizes never shrink.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/mpu.h"
#include "check.h"

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

int main(void)
{
    test_part_sizes();
    test_local_states();
    return check_exit();
}
