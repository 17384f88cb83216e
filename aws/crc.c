/*
 * crc.c — CRC32C through ISA-L, combine, and S3's base64 spelling
 * (contract in crc.h).
 */
#include "aws/crc.h"

#include <limits.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/evp.h>

uint32_t aws_crc32c(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t c = ~crc;

    while (n) {
        /* ISA-L takes an int length */
        int k = n > (size_t)(INT_MAX & ~4095) ? (INT_MAX & ~4095) : (int)n;
        c = crc32_iscsi((unsigned char *)p, k, c);
        p += k;
        n -= (size_t)k;
    }
    return ~c;
}

/* ---- combine (GF(2) matrices, as zlib's crc32_combine) ------------------ */

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;

    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint32_t *sq, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        sq[n] = gf2_times(mat, mat[n]);
}

uint32_t aws_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    uint32_t even[32], odd[32], row = 1;

    if (len_b == 0)
        return crc_a;
    odd[0] = 0x82f63b78u; /* reflected Castagnoli polynomial: one zero bit */
    for (int n = 1; n < 32; n++, row <<= 1)
        odd[n] = row;
    gf2_square(even, odd); /* two zero bits */
    gf2_square(odd, even); /* four */
    do {                   /* one zero byte, then doubling */
        gf2_square(even, odd);
        if (len_b & 1)
            crc_a = gf2_times(even, crc_a);
        len_b >>= 1;
        if (!len_b)
            break;
        gf2_square(odd, even);
        if (len_b & 1)
            crc_a = gf2_times(odd, crc_a);
        len_b >>= 1;
    } while (len_b);
    return crc_a ^ crc_b;
}

/* ---- S3's spelling ------------------------------------------------------ */

void aws_crc32c_b64(uint32_t crc, char out[AWS_CRC32C_B64])
{
    unsigned char be[4] = {crc >> 24, crc >> 16, crc >> 8, crc};

    EVP_EncodeBlock((unsigned char *)out, be, 4);
}

int aws_crc32c_parse_b64(const char *s, uint32_t *out)
{
    unsigned char raw[8];

    if (!s || strlen(s) != 8 || s[6] != '=' || s[7] != '=')
        return -1;
    if (EVP_DecodeBlock(raw, (const unsigned char *)s, 8) != 6)
        return -1; /* EVP_DecodeBlock counts the padding's zero bytes */
    *out = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
           (uint32_t)raw[2] << 8 | raw[3];
    return 0;
}
