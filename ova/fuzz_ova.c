/* fuzz_ova.c — libFuzzer target for the validator (meson -Dfuzz=true, CC=clang).
 *
 * The first input byte picks the kind (OVA, VMDK, VHD, VHDX, RAW) and the
 * chunking; the rest is the stream. Every feed/finish path runs, including
 * the OVA thread, expat on the OVF, the manifest parser and the read-back
 * of a manifest at the end. A seed corpus:
 * python3 tests/images/mkimages.py DIR, then prefix each file with its kind
 * byte (0 OVA, 1 VMDK, 2 VHD, 3 VHDX, 4 RAW) — see ova/README.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ova/ova.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct stream {
    const uint8_t *p;
    size_t n;
};

/* The read-back of a manifest at the end: the same stream (offsets come
 * from the archive's headers, so they must stay within it). */
static int stream_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    const struct stream *s = ctx;
    if (off > s->n || len > s->n - off)
        abort(); /* the validator asked for bytes the stream never had */
    memcpy(buf, s->p + off, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum ova_kind kinds[] = {OVA_KIND_OVA, OVA_KIND_VMDK,
                                          OVA_KIND_VHD, OVA_KIND_VHDX,
                                          OVA_KIND_RAW};
    if (size < 1)
        return 0;
    enum ova_kind k = kinds[(data[0] & 0x0f) % 5];
    size_t step = (size_t)1 << (data[0] >> 4);     /* 1 .. 32 KiB */
    struct ova_validator *v = ova_validator_new(k);
    if (!v)
        return 0;
    for (size_t off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        if (ova_validator_feed(v, data + off, n) < 0)
            break;
    }
    struct stream st = {data + 1, size - 1};
    if (ova_validator_finish(v) == 0 &&
        ova_validator_facts(v)->manifest_read_back)
        ova_validator_verify_late(v, stream_read, NULL, &st);
    free(ova_validator_json(v, "fuzz"));
    free(ova_validator_text(v, NULL));
    ova_validator_free(v);
    return 0;
}
