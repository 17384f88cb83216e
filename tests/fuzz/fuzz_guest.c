/*
 * fuzz_guest.c — libFuzzer target: the guest check (core/guest*.c) over a
 * disk file held in memory — the disk-format layer (VMDK sparse and
 * streamOptimized grain directories/tables and zlib grains, VHD
 * footers/BAT), the MBR/EBR/GPT partition tables, the filesystem sniffing,
 * ext2/3/4 through libext2fs with our io_manager, the text files and the
 * initramfs through libarchive.
 *
 * Input: the disk file's bytes. Properties checked (abort on failure):
 *  - a report comes back (NULL only out of memory), with a verdict word;
 *  - it never reads more than its budget from the reader;
 *  - JSON and text render, the JSON parses back with cJSON.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BUDGET (4u << 20)

struct mem {
    const uint8_t *p;
    size_t n;
    uint64_t read;
};

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct mem *m = ctx;
    if (off > m->n || len > m->n - off)
        return -EIO;
    memcpy(buf, m->p + off, len);
    m->read += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mem m = {data, size, 0};
    struct guest_disk d = {mem_read, &m, size, "fuzz"};
    struct guest_report *r = guest_check(&d, 1, BUDGET);
    if (!r)
        return 0;
    if (m.read > BUDGET || guest_report_bytes(r) != m.read)
        abort();
    char line[800];
    guest_report_line(r, line, sizeof line);
    char *json = guest_report_json(r), *text = guest_report_text(r);
    if (json) {
        cJSON *o = cJSON_Parse(json);
        if (!o)
            abort();
        cJSON_Delete(o);
    }
    free(json);
    free(text);
    guest_report_free(r);
    return 0;
}
