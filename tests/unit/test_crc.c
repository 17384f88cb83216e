/* test_crc.c — CRC32C: the published check value, continuation, combine at
 * every split of a buffer (and of big zero runs), S3's base64 spelling. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/crc.h"
#include "check.h"

static void test_vectors(void)
{
    char b64[AWS_CRC32C_B64];
    uint32_t v = 0;
    unsigned char zeros[32] = {0}, ones[32];

    memset(ones, 0xff, sizeof ones);
    /* the catalogue's check value, and RFC 3720 B.4's 32-byte vectors */
    CHECK(aws_crc32c(0, "123456789", 9) == 0xe3069283u, "check value");
    CHECK(aws_crc32c(0, zeros, 32) == 0x8a9136aau, "32 zeros");
    CHECK(aws_crc32c(0, ones, 32) == 0x62a8ab43u, "32 0xff");
    CHECK(aws_crc32c(0, "", 0) == 0, "empty");
    aws_crc32c_b64(0xe3069283u, b64);
    CHECK(strcmp(b64, "4waSgw==") == 0, "b64 %s", b64);
    CHECK(aws_crc32c_parse_b64("4waSgw==", &v) == 0 && v == 0xe3069283u,
          "parse");
    CHECK(aws_crc32c_parse_b64("4waSgw=", &v) < 0, "short");
    CHECK(aws_crc32c_parse_b64("4waS!w==", &v) < 0, "not base64");
}

static void test_combine(void)
{
    size_t n = 1 << 16;
    unsigned char *p = malloc(n);
    uint32_t whole;

    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 2654435761u >> 13);
    whole = aws_crc32c(0, p, n);
    for (size_t cut = 0; cut <= n; cut += cut < 64 ? 1 : 4093) {
        uint32_t a = aws_crc32c(0, p, cut), b = aws_crc32c(0, p + cut, n - cut);
        CHECK(aws_crc32c(a, p + cut, n - cut) == whole, "continue at %zu", cut);
        CHECK(aws_crc32c_combine(a, b, n - cut) == whole, "combine at %zu",
              cut);
    }
    /* 64 MiB of zeros after the data: combine's long-length path */
    size_t z = (size_t)64 << 20;
    unsigned char *big = calloc(1, z);
    uint32_t tail = aws_crc32c(0, big, z);
    CHECK(aws_crc32c_combine(whole, tail, z) == aws_crc32c(whole, big, z),
          "64 MiB");
    free(big);
    free(p);
}

int main(void)
{
    test_vectors();
    test_combine();
    return failures ? 1 : 0;
}
