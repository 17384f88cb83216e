/*
 * crc.h — CRC32C (Castagnoli), the flexible checksum amifs sends with every
 * part it uploads and the full-object checksum S3 verifies at
 * CompleteMultipartUpload (design: doc/design/perf.md).
 *
 * The bytes are hashed by ISA-L (crc32_iscsi: SSE4.2 CRC32 instruction and
 * PCLMULQDQ folding, several GB/s per core); nothing here loops over bytes.
 * Why CRC32C and not CRC64NVME: the ISA-L of Debian 12 (2.30) has no
 * Rocksoft/NVMe CRC64 (it arrived in 2.31); CRC32C is one of S3's
 * FULL_OBJECT algorithms and has the same cost.
 *
 * Values are the standard CRC32C (init and final XOR 0xffffffff), so
 * aws_crc32c(0, "123456789", 9) == 0xe3069283. aws_crc32c() continues a
 * value: crc(A‖B) == aws_crc32c(aws_crc32c(0, A), B). aws_crc32c_combine()
 * joins the CRCs of two pieces hashed separately (parts sent by different
 * threads) knowing only the second piece's length: O(log len) 32×32 bit
 * matrix products, no bytes.
 *
 * Threads: all functions are pure and thread-safe. No allocation.
 */
#ifndef AMIFS_AWS_CRC_H
#define AMIFS_AWS_CRC_H

#include <stddef.h>
#include <stdint.h>

/* Continue `crc` (0 to start) over n bytes. */
uint32_t aws_crc32c(uint32_t crc, const void *data, size_t n);

/* The CRC32C of A‖B from crc(A), crc(B) and B's length. */
uint32_t aws_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* The value as S3 spells it in x-amz-checksum-crc32c: base64 of the 4
 * big-endian bytes. out: at least AWS_CRC32C_B64 bytes. */
#define AWS_CRC32C_B64 9
void aws_crc32c_b64(uint32_t crc, char out[AWS_CRC32C_B64]);

/* Parse that spelling back; -1 when it is not one. */
int aws_crc32c_parse_b64(const char *s, uint32_t *out);

#endif
