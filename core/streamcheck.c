/*
 * streamcheck.c — see streamcheck.h. The VMDK sparse header layout (VMware
 * "Virtual Disk Format 1.1"): magic "KDMV" at 0, flags (le32) at 8,
 * gdOffset (le64, sectors) at 56; flag bit 16 = compressed grains;
 * gdOffset all ones = "grain directory at the end" (a true stream).
 */
#include <stdio.h>
#include <string.h>

#include "core/streamcheck.h"

#define VMDK_FLAG_COMPRESSED (1u << 16)
#define VMDK_GD_AT_END 0xffffffffffffffffULL

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool all_in(const struct streamcheck *s, size_t upto)
{
    for (size_t i = 0; i < upto; i++)
        if (!s->have[i])
            return false;
    return true;
}

static int judge(struct streamcheck *s, char *why, size_t whyn)
{
    s->decided = true;
    if (memcmp(s->b, "KDMV", 4) != 0)
        return 0;
    if (!(le(s->b + 8, 4) & VMDK_FLAG_COMPRESSED) ||
        le(s->b + 56, 8) == VMDK_GD_AT_END)
        return 0;
    snprintf(why, whyn,
             "this stream-optimized VMDK is being written by a tool that "
             "keeps its grain tables at the front and rewrites them after "
             "every grain (qemu-img convert -O vmdk -o "
             "subformat=streamOptimized does); S3 objects are written front "
             "to back, so it cannot be streamed: convert to a local file "
             "first, then cp that file here");
    return 1;
}

int streamcheck_feed(struct streamcheck *s, const void *data, size_t n,
                     uint64_t off, char *why, size_t whyn)
{
    if (s->decided || off >= STREAMCHECK_HEAD)
        return 0;
    size_t k = n < STREAMCHECK_HEAD - off ? n : STREAMCHECK_HEAD - off;
    memcpy(s->b + off, data, k);
    memset(s->have + off, 1, k);
    if (all_in(s, 4) && memcmp(s->b, "KDMV", 4) != 0) {
        s->decided = true; /* not a VMDK header: nothing to watch */
        return 0;
    }
    return all_in(s, STREAMCHECK_HEAD) ? judge(s, why, whyn) : 0;
}
