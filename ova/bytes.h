/* ova/bytes.h — reading fixed-width integers out of on-disk headers.
 *
 * Disk formats mix byte orders: VMDK sparse headers and grain tables, MBR
 * and GPT are little-endian; VHD footers and dynamic headers are
 * big-endian. These readers take a pointer to at least 4 (le32/be32) or
 * 8 (le64/be64) readable bytes — the caller has checked the bounds — and
 * never assume alignment. Used by the streaming validator (ova/disk.c) and
 * by the guest check (core/guest_disk.c, core/guest_part.c), which read the
 * same headers. Pure functions: no state, any thread.
 */
#ifndef AMIFS_OVA_BYTES_H
#define AMIFS_OVA_BYTES_H

#include <stdint.h>

static inline uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static inline uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

#endif
