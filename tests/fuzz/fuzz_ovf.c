/*
 * fuzz_ovf.c — libFuzzer target: the OVF descriptor parser and the `.mf`
 * manifest parser of ova/ fed directly. fuzz_ova (ova/fuzz_ova.c) reaches
 * them only through a well-formed tar archive, which random mutation rarely
 * builds; here the descriptor and manifest texts are the input itself.
 *
 * Input: byte 0 bit 0 picks the parser (0 OVF, 1 manifest); bits 1-7 pick
 * the chunk size of the OVF feed (1 << (bits % 16) bytes), so element and
 * attribute boundaries fall anywhere. The rest is the text. After a
 * successful parse every lookup runs over every name the parser kept.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ova/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lookups(const struct ovf_desc *d)
{
    for (size_t i = 0; i < d->nfiles; i++) {
        (void)ovf_file_by_href(d, d->files[i].href);
        (void)ovf_file_by_id(d, d->files[i].id);
        (void)ovf_disk_by_file(d, d->files[i].id);
    }
    for (size_t i = 0; i < d->ndisks; i++)
        (void)ovf_file_by_id(d, d->disks[i].file_ref);
}

static void run_ovf(const uint8_t *p, size_t n, size_t step)
{
    struct ovf_desc *d = calloc(1, sizeof *d);
    struct ovf_parser *ps = d ? ovf_parser_new(d) : NULL;
    struct ova_verdict vd = {{0}, {0}};
    int rc = 0;

    if (!ps) {
        free(d);
        return;
    }
    for (size_t off = 0; off < n && rc == 0; off += step)
        rc = ovf_parser_feed(ps, p + off, n - off < step ? n - off : step,
                             false, &vd);
    if (rc == 0)
        rc = ovf_parser_feed(ps, "", 0, true, &vd);
    ovf_parser_free(ps);
    if (rc == 0 && ovf_desc_check(d, &vd) == 0)
        lookups(d);
    free(d);
}

static void run_manifest(const uint8_t *p, size_t n)
{
    struct manifest *m = calloc(1, sizeof *m);
    struct ova_verdict vd = {{0}, {0}};

    if (!m)
        return;
    if (manifest_parse(m, (const char *)p, n, &vd) == 0)
        for (size_t i = 0; i < m->n; i++) {
            (void)manifest_alg_name(m->e[i].alg);
            if (manifest_find(m, m->e[i].name) == NULL)
                abort(); /* a parsed entry must be found by its name */
        }
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        run_manifest(data + 1, size - 1);
    else
        run_ovf(data + 1, size - 1, (size_t)1 << ((data[0] >> 1) % 16));
    return 0;
}
