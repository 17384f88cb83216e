/* archive.c — the OVA thread.
 *
 * libarchive pulls bytes through a read callback; amifs pushes them from
 * write(). The two meet in the validator's ring buffer: this thread runs
 * libarchive, and its callback blocks in ova_ring_lend() until feed() has
 * put bytes in the ring (or finish() has ended the stream). Everything a
 * member reveals is judged as soon as its bytes pass, so a bad OVA is
 * refused at the member that is wrong, not at the end.
 *
 * The thread owns struct ova_archive and writes v->facts; the feeding side
 * reads them only after joining the thread (finish / free). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ova/internal.h"

#define MAX_MEMBERS 1024

enum role { R_OVF, R_MF, R_DISK, R_OTHER };
enum { D_SHA1, D_SHA256, D_SHA512, D_N };

struct member_rec {
    char name[256];
    uint64_t offset;           /* where its bytes start in the stream */
    uint64_t size;
    unsigned char dig[D_N][64];
    int algs;                  /* MF_* bits computed */
};

struct ova_archive {
    unsigned char block[OVA_BLOCK_SIZE];   /* what read_cb hands out */
    bool saw_eof, ended;
    unsigned headers;
    bool ovf_seen, mf_seen;
    struct ovf_desc ovf;
    struct ovf_parser *ovp;
    struct manifest mf;
    char *mf_text;
    size_t mf_len;
    struct member_rec members[MAX_MEMBERS];
    size_t nmembers;
    /* the member being read */
    struct member_rec *cur;
    enum role role;
    int disk_index;            /* into ovf.disks for R_DISK */
    enum disk_step disk_step;
    struct sniff sniff;
    EVP_MD_CTX *md[D_N];
};

static const int d_alg[D_N] = {MF_SHA1, MF_SHA256, MF_SHA512};

struct ova_archive *ova_archive_new(void)
{
    struct ova_archive *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    for (int i = 0; i < D_N; i++)
        if (!(st->md[i] = EVP_MD_CTX_new())) {
            ova_archive_free(st);
            return NULL;
        }
    return st;
}

void ova_archive_free(struct ova_archive *st)
{
    if (!st)
        return;
    for (int i = 0; i < D_N; i++)
        EVP_MD_CTX_free(st->md[i]);
    ovf_parser_free(st->ovp);
    free(st->mf_text);
    free(st);
}

static int refuse(struct ova_validator *v, const struct ova_verdict *vd)
{
    ova_refuse(v, vd);
    return -1;
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **buf)
{
    struct ova_validator *v = ud;
    struct ova_archive *st = v->arc;
    const unsigned char *p;
    long n = ova_ring_lend(v, &p, OVA_LEND_MAX);
    if (n < 0) {
        archive_set_error(a, ECANCELED, "validation stopped");
        return -1;
    }
    if (n == 0)
        st->saw_eof = true;
    *buf = n ? p : st->block;
    return n;
}

/* libarchive skips what is not read of a member (archive_read_data_skip)
 * through this: the bytes are dropped, never copied (ova_ring_skip). */
static la_int64_t skip_cb(struct archive *a, void *ud, la_int64_t request)
{
    (void)a;
    return ova_ring_skip(ud, request);
}

/* ---- member rules at the header ---------------------------------------- */

static bool unsafe_name(const char *n)
{
    if (n[0] == '/' || n[0] == '\0' || strchr(n, '\\'))
        return true;
    for (const char *p = n; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return true;
    }
    return false;
}

/* ovftool's chunks: NAME.000000000, NAME.000000001, … */
static bool chunk_name(const char *n)
{
    const char *dot = strrchr(n, '.');
    if (!dot || strlen(dot + 1) != 9)
        return false;
    for (const char *p = dot + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static struct member_rec *find_member(struct ova_archive *st,
                                      const char *name)
{
    for (size_t i = 0; i < st->nmembers; i++)
        if (strcmp(st->members[i].name, name) == 0)
            return &st->members[i];
    return NULL;
}

static int check_name(struct ova_validator *v, const char *name,
                      struct archive_entry *e)
{
    struct ova_verdict vd;
    struct ova_archive *st = v->arc;
    if (unsafe_name(name)) {
        verdict_set(&vd, "unsafe-path", "member '%s' has an unsafe path "
                    "(absolute, '..' or backslash)", name);
        return refuse(v, &vd);
    }
    if (strlen(name) >= sizeof st->members[0].name) {
        verdict_set(&vd, "bad-member", "a member name is longer than 255 "
                    "bytes");
        return refuse(v, &vd);
    }
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) {
        verdict_set(&vd, "bad-member", "member '%s' is not a regular file; "
                    "an OVA holds only files", name);
        return refuse(v, &vd);
    }
    if (find_member(st, name)) {
        verdict_set(&vd, "duplicate-member", "member '%s' appears twice",
                    name);
        return refuse(v, &vd);
    }
    if (archive_entry_sparse_count(e) > 0) {
        verdict_set(&vd, "sparse-member", "member '%s' is a sparse file "
                    "(GNU or pax sparse tar entry of %" PRId64 " bytes); an "
                    "OVA holds plain files, recreate it without --sparse",
                    name, archive_entry_size(e));
        return refuse(v, &vd);
    }
    if (chunk_name(name)) {
        verdict_set(&vd, "chunked-disk", "member '%s' is a chunk of a split "
                    "disk file; VM Import does not support OVAs with "
                    "chunked disk files", name);
        return refuse(v, &vd);
    }
    return 0;
}

static int check_first(struct ova_validator *v, const char *name,
                       int64_t size)
{
    struct ova_verdict vd;
    struct ova_archive *st = v->arc;
    bool is_ovf = ova_ends_with(name, ".ovf");
    if (st->headers == 1 && !is_ovf) {
        verdict_set(&vd, "ovf-not-first", "the OVF descriptor must be the "
                    "first member of the OVA (found '%s' first)", name);
        return refuse(v, &vd);
    }
    if (is_ovf && st->ovf_seen) {
        verdict_set(&vd, "multiple-ovf", "the OVA holds a second OVF "
                    "descriptor '%s'", name);
        return refuse(v, &vd);
    }
    if (is_ovf && size > (int64_t)OVA_MAX_OVF_SIZE) {
        verdict_set(&vd, "ovf-too-large", "the OVF descriptor '%s' is %"
                    PRId64 " bytes; the limit is 4 MiB", name, size);
        return refuse(v, &vd);
    }
    return 0;
}

/* Which role the member plays, once the OVF is known. */
static enum role member_role(struct ova_archive *st, const char *name)
{
    if (st->headers == 1)
        return R_OVF;
    if (ova_ends_with(name, ".mf") && !st->mf_seen)
        return R_MF;
    const struct ovf_file *f = ovf_file_by_href(&st->ovf, name);
    const struct ovf_disk *k = f ? ovf_disk_by_file(&st->ovf, f->id) : NULL;
    if (k) {
        st->disk_index = (int)(k - st->ovf.disks);
        return R_DISK;
    }
    return R_OTHER;
}

static int check_size(struct ova_validator *v, const char *name,
                      int64_t size)
{
    struct ova_verdict vd;
    const struct ovf_file *f = ovf_file_by_href(&v->arc->ovf, name);
    if (f && f->has_size && size >= 0 && (uint64_t)size != f->size) {
        verdict_set(&vd, "size-mismatch", "member '%s' is %" PRId64
                    " bytes but the OVF says %" PRIu64, name, size, f->size);
        return refuse(v, &vd);
    }
    if (v->arc->role == R_MF && size > (int64_t)MF_MAX_SIZE) {
        verdict_set(&vd, "bad-manifest", "the manifest '%s' is larger than "
                    "1 MiB", name);
        return refuse(v, &vd);
    }
    return 0;
}

/* Which digests a member gets: once the manifest is known, the ones it
 * uses; before it, only the OVF descriptor (small), in all three, since
 * the manifest may name it in any. The OVF standard (DSP0243) puts the
 * manifest right after the descriptor (what ovftool, vSphere and
 * VirtualBox write: every disk is then hashed once, in its algorithm) or
 * at the end of the archive. Members that pass before a manifest at the
 * end are not hashed while they stream (that would cost every OVA without
 * a manifest a digest of its disks): their lines are marked late and
 * checked by reading the members back (late.c), which the caller does
 * once the bytes are stored (doc/design/perf.md). */
static int begin_digests(struct ova_archive *st)
{
    int want = st->mf_seen            ? st->mf.algs
               : st->role == R_OVF    ? (MF_SHA1 | MF_SHA256 | MF_SHA512)
                                      : 0;
    st->cur->algs = 0;
    for (int i = 0; i < D_N; i++)
        if (want & d_alg[i]) {
            if (!EVP_DigestInit_ex(st->md[i], manifest_md(d_alg[i]), NULL))
                return -1;
            st->cur->algs |= d_alg[i];
        }
    return 0;
}

static int member_begin(struct ova_validator *v, struct archive_entry *e)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    const char *name = archive_entry_pathname(e);
    while (name && name[0] == '.' && name[1] == '/')
        name += 2;
    if (!name)
        name = "";
    int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
    st->headers++;
    v->facts.members++;
    if (check_name(v, name, e) < 0 || check_first(v, name, size) < 0)
        return -1;
    if (st->nmembers == MAX_MEMBERS) {
        verdict_set(&vd, "bad-member", "the OVA has more than %d members",
                    MAX_MEMBERS);
        return refuse(v, &vd);
    }
    st->cur = &st->members[st->nmembers++];
    memset(st->cur, 0, sizeof *st->cur);
    ova_strlcpy(st->cur->name, name, sizeof st->cur->name);
    st->role = member_role(st, name);
    if (check_size(v, name, size) < 0)
        return -1;
    if (begin_digests(st) < 0) {
        verdict_set(&vd, "internal", "the digest engine failed");
        return refuse(v, &vd);
    }
    if (st->role == R_OVF && !(st->ovp = ovf_parser_new(&st->ovf))) {
        verdict_set(&vd, "internal", "out of memory for the OVF parser");
        return refuse(v, &vd);
    }
    if (st->role == R_MF && !(st->mf_text = malloc(MF_MAX_SIZE))) {
        verdict_set(&vd, "internal", "out of memory for the manifest");
        return refuse(v, &vd);
    }
    st->mf_len = 0;
    st->disk_step = DISK_MORE;
    sniff_reset(&st->sniff);
    return 0;
}

/* ---- member data ------------------------------------------------------- */

static void disk_label(struct ova_archive *st, char *buf, size_t n)
{
    snprintf(buf, n, "disk '%s'", st->cur->name);
}

static int disk_data(struct ova_validator *v, const unsigned char *p,
                     size_t n, bool at_end)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd = {{0}, {0}};
    struct ova_disk_facts tmp, *df = &tmp;
    char label[300], fw[8];
    if (st->disk_index < OVA_FACTS_MAX_DISKS)
        df = &v->facts.disks[st->disk_index];
    sniff_push(&st->sniff, p, n);
    disk_label(st, label, sizeof label);
    if (st->disk_step == DISK_MORE)
        st->disk_step = disk_check_head(OVA_KIND_VMDK, &st->sniff, at_end,
                                        df, fw, sizeof fw, &vd, label);
    if (st->disk_step == DISK_OK && at_end &&
        disk_check_end(OVA_KIND_VMDK, &st->sniff, df, &vd, label) != DISK_OK)
        st->disk_step = DISK_BAD;
    if (st->disk_step == DISK_BAD)
        return refuse(v, &vd);
    if (at_end && df->capacity == 0)
        df->capacity = st->ovf.disks[st->disk_index].capacity;
    return 0;
}

static int member_data(struct ova_validator *v, const unsigned char *p,
                       size_t n)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    for (int i = 0; i < D_N; i++)
        if (st->cur->algs & d_alg[i])
            EVP_DigestUpdate(st->md[i], p, n);
    st->cur->size += n;
    switch (st->role) {
    case R_OVF:
        if (ovf_parser_feed(st->ovp, p, n, false, &vd) < 0)
            return refuse(v, &vd);
        return 0;
    case R_MF:
        if (st->mf_len + n > MF_MAX_SIZE) {
            verdict_set(&vd, "bad-manifest", "the manifest is larger than "
                        "1 MiB");
            return refuse(v, &vd);
        }
        memcpy(st->mf_text + st->mf_len, p, n);
        st->mf_len += n;
        return 0;
    case R_DISK:
        return disk_data(v, p, n, false);
    case R_OTHER:
        break;
    }
    return 0;
}

/* ---- member end -------------------------------------------------------- */

static int compare_entry(struct ova_validator *v, struct mf_entry *en,
                         struct member_rec *m)
{
    struct ova_verdict vd;
    for (int i = 0; i < D_N; i++) {
        if (d_alg[i] != en->alg)
            continue;
        if (!(m->algs & en->alg)) { /* passed unhashed: read it back */
            en->late = true;
            continue;
        }
        if (memcmp(m->dig[i], en->digest, en->dlen) != 0) {
            verdict_set(&vd, "manifest-mismatch", "the %s of member '%s' "
                        "does not match the manifest", manifest_alg_name(
                        en->alg), m->name);
            return refuse(v, &vd);
        }
        en->matched = true;
    }
    return 0;
}

static void ovf_facts(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct ova_facts *f = &v->facts;
    f->os_id = st->ovf.os_id;
    ova_strlcpy(f->os_type, st->ovf.os_type, sizeof f->os_type);
    ova_strlcpy(f->os_description, st->ovf.os_desc,
                sizeof f->os_description);
    ova_strlcpy(f->firmware, st->ovf.firmware, sizeof f->firmware);
    f->ndisks = 0;
    for (size_t i = 0; i < st->ovf.ndisks; i++) {
        const struct ovf_disk *k = &st->ovf.disks[i];
        const struct ovf_file *fl = ovf_file_by_id(&st->ovf, k->file_ref);
        if (!k->file_ref[0])
            continue;
        f->ndisks++;
        if (i >= OVA_FACTS_MAX_DISKS)
            continue;
        struct ova_disk_facts *df = &f->disks[i];
        ova_strlcpy(df->name, fl ? fl->href : "", sizeof df->name);
        ova_strlcpy(df->format, "VMDK", sizeof df->format);
        df->capacity = k->capacity;
    }
}

static int end_ovf(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    if (ovf_parser_feed(st->ovp, "", 0, true, &vd) < 0)
        return refuse(v, &vd);
    ovf_parser_free(st->ovp);
    st->ovp = NULL;
    st->ovf_seen = true;
    ovf_facts(v);
    if (ovf_desc_check(&st->ovf, &vd) < 0)
        return refuse(v, &vd);
    return 0;
}

static int end_mf(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    if (manifest_parse(&st->mf, st->mf_text, st->mf_len, &vd) < 0)
        return refuse(v, &vd);
    free(st->mf_text);
    st->mf_text = NULL;
    st->mf_seen = true;
    ova_strlcpy(v->facts.manifest, manifest_alg_name(st->mf.algs & MF_SHA512
                ? MF_SHA512 : st->mf.algs & MF_SHA256 ? MF_SHA256 : MF_SHA1),
                sizeof v->facts.manifest);
    for (size_t i = 0; i + 1 < st->nmembers; i++) {   /* those before it */
        struct mf_entry *en = manifest_find(&st->mf, st->members[i].name);
        if (en && compare_entry(v, en, &st->members[i]) < 0)
            return -1;
    }
    return 0;
}

static int member_end(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct member_rec *m = st->cur;
    for (int i = 0; i < D_N; i++)
        if (m->algs & d_alg[i])
            EVP_DigestFinal_ex(st->md[i], m->dig[i], NULL);
    if (st->role == R_OVF && end_ovf(v) < 0)
        return -1;
    if (st->role == R_MF)
        return end_mf(v);
    if (st->role == R_DISK && disk_data(v, NULL, 0, true) < 0)
        return -1;
    if (st->role == R_DISK && st->disk_index < OVA_FACTS_MAX_DISKS)
        v->facts.disks[st->disk_index].file_size = m->size;
    struct mf_entry *en = st->mf_seen ? manifest_find(&st->mf, m->name)
                                      : NULL;
    return en ? compare_entry(v, en, m) : 0;
}

/* ---- the thread -------------------------------------------------------- */

static void archive_failed(struct ova_validator *v, struct archive *a)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    /* A cancel makes the ring's reads fail: that is no damage, and the
     * cancel's own verdict (ova_validator_cancel) is the one to keep. */
    if (ova_cancelled(v))
        return;
    const char *msg = archive_error_string(a);
    if (!msg)
        msg = "unknown error";
    if (st->headers == 0 && !(st->saw_eof && v->facts.bytes < 512))
        verdict_set(&vd, "not-tar", "the file is not a tar archive, so not "
                    "an OVA (%s)", msg);
    else if (st->saw_eof && st->cur)
        verdict_set(&vd, "truncated", "the OVA ends inside member '%s' "
                    "after %" PRIu64 " of its bytes: the file is truncated",
                    st->cur->name, st->cur->size);
    else if (st->saw_eof)
        verdict_set(&vd, "truncated", "the OVA ends in the middle of a tar "
                    "header: the file is truncated");
    else
        verdict_set(&vd, "bad-tar", "the tar archive is damaged (%s)", msg);
    ova_refuse(v, &vd);
}

/* A pax 1.0 sparse map comes with the member's data, so libarchive only
 * knows it after the first read: check again there. */
static int sparse_late(struct ova_validator *v, struct archive_entry *e)
{
    struct ova_verdict vd;
    if (archive_entry_sparse_count(e) == 0)
        return 0;
    verdict_set(&vd, "sparse-member", "member '%s' is a sparse file (pax "
                "sparse tar entry); an OVA holds plain files, recreate it "
                "without --sparse", v->arc->cur ? v->arc->cur->name : "?");
    return refuse(v, &vd);
}

/* Data that does not continue where the last block ended: a hole. */
static int sparse_hole(struct ova_validator *v)
{
    struct ova_verdict vd;
    verdict_set(&vd, "sparse-member", "member '%s' has a hole (sparse tar "
                "entry); an OVA holds plain files, recreate it without "
                "--sparse", v->arc->cur->name);
    return refuse(v, &vd);
}

/* Members are skipped, not read, once nothing more is to be learnt from
 * their bytes until the last SNIFF_TAIL: no digest is being computed (no
 * manifest asked for one), and for a disk its head (the first
 * SNIFF_HEAD bytes) is held and has been judged.
 * Below this much left, reading is as cheap as skipping. */
#define SKIP_MIN (4u << 20)

static bool skippable(const struct ova_archive *st, struct archive_entry *e)
{
    if (st->cur->algs || !archive_entry_size_is_set(e) ||
        (st->role != R_DISK && st->role != R_OTHER) ||
        (st->role == R_DISK && (st->disk_step != DISK_OK ||
                                st->sniff.head_len < SNIFF_HEAD)))
        return false;
    int64_t size = archive_entry_size(e);
    return size > 0 && (uint64_t)size - st->cur->size > SKIP_MIN;
}

/* Skip the rest of the member (libarchive consumes it through skip_cb)
 * with its last SNIFF_TAIL bytes kept for the disk's trailer check, then
 * end it as if read. */
static int skip_member(struct ova_validator *v, struct archive *a,
                       struct archive_entry *e)
{
    struct ova_archive *st = v->arc;
    uint64_t size = (uint64_t)archive_entry_size(e);
    uint64_t end = st->cur->offset + size, at = 0;
    unsigned char tail[SNIFF_TAIL];
    ova_ring_keep(v, end - SNIFF_TAIL, end);
    if (archive_read_data_skip(a) != ARCHIVE_OK) {
        archive_failed(v, a);
        return -1;
    }
    int rc = ova_ring_wait_kept(v, end, tail, &at);
    if (rc != 0) {
        struct ova_verdict vd;
        verdict_set(&vd, "truncated", "the OVA ends inside member '%s' "
                    "after %" PRIu64 " of its bytes: the file is truncated",
                    st->cur->name, at - st->cur->offset);
        if (rc > 0)
            ova_refuse(v, &vd);
        return -1;
    }
    st->sniff.total = size - SNIFF_TAIL; /* sniff_push adds the tail */
    sniff_push(&st->sniff, tail, SNIFF_TAIL);
    st->cur->size = size;
    return member_end(v);
}

static int read_member(struct ova_validator *v, struct archive *a,
                       struct archive_entry *e)
{
    for (bool first = true;; first = false) {
        if (ova_cancelled(v))
            return -1;
        /* In place: the block points into libarchive's buffer, which is
         * the ring itself (read_cb), so a byte is copied once, by feed(). */
        const void *p;
        size_t n;
        la_int64_t off;
        int r = archive_read_data_block(a, &p, &n, &off);
        if (first && sparse_late(v, e) < 0)
            return -1;
        if (r == ARCHIVE_EOF)
            return member_end(v);
        if (r < ARCHIVE_WARN) {
            archive_failed(v, a);
            return -1;
        }
        if (off != (la_int64_t)v->arc->cur->size)
            return sparse_hole(v);
        if (n && member_data(v, p, n) < 0)
            return -1;
        if (skippable(v->arc, e))
            return skip_member(v, a, e);
    }
}

static void run(struct ova_validator *v, struct archive *a)
{
    struct archive_entry *e;
    for (;;) {
        v->arc->cur = NULL;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) {
            v->arc->ended = true;
            return;
        }
        if (r < ARCHIVE_WARN) {
            archive_failed(v, a);
            return;
        }
        if (member_begin(v, e) < 0)
            return;
        /* The format has consumed the header(s) (pax/GNU extensions too):
         * the filter's position is where this member's data begins. */
        v->arc->cur->offset = (uint64_t)archive_filter_bytes(a, 0);
        if (v->arc->role == R_DISK && v->arc->disk_index < OVA_FACTS_MAX_DISKS)
            v->facts.disks[v->arc->disk_index].data_offset =
                v->arc->cur->offset;
        if (read_member(v, a, e) < 0)
            return;
    }
}

void *ova_archive_main(void *arg)
{
    struct ova_validator *v = arg;
    struct archive *a = archive_read_new();
    if (a && archive_read_support_format_tar(a) == ARCHIVE_OK &&
        archive_read_set_callback_data(a, v) == ARCHIVE_OK &&
        archive_read_set_read_callback(a, read_cb) == ARCHIVE_OK &&
        archive_read_set_skip_callback(a, skip_cb) == ARCHIVE_OK &&
        archive_read_open1(a) == ARCHIVE_OK) {
        run(v, a);
    } else {
        struct ova_verdict vd;
        if (a && v->arc->saw_eof && v->facts.bytes < 512)
            verdict_set(&vd, "not-tar", "the file is too short to be a tar "
                        "archive");
        else
            verdict_set(&vd, "not-tar", "the file is not a tar archive (%s)",
                        a && archive_error_string(a) ? archive_error_string(a)
                                                     : "no libarchive");
        ova_refuse(v, &vd);
    }
    archive_read_free(a);
    pthread_mutex_lock(&v->mu);
    v->exited = true;
    pthread_cond_broadcast(&v->space_cv);
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* ---- end of stream ----------------------------------------------------- */

static bool member_present(struct ova_archive *st, const char *href)
{
    return find_member(st, href) != NULL;
}

static int check_disks_present(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    for (size_t i = 0; i < st->ovf.ndisks; i++) {
        const struct ovf_disk *k = &st->ovf.disks[i];
        const struct ovf_file *f = ovf_file_by_id(&st->ovf, k->file_ref);
        if (k->file_ref[0] && f && !member_present(st, f->href)) {
            verdict_set(&vd, "missing-disk", "the OVF references disk file "
                        "'%s' (disk '%s'), which is not in the OVA", f->href,
                        k->id);
            return refuse(v, &vd);
        }
    }
    return 0;
}

/* The file a CD-ROM/floppy HostResource names, or NULL if none. */
static const char *device_file(struct ova_archive *st,
                               const struct ovf_device *d)
{
    const char *h = d->host;
    if (strncmp(h, "ovf:/file/", 10) == 0) {
        const struct ovf_file *f = ovf_file_by_id(&st->ovf, h + 10);
        return f ? f->href : h + 10;
    }
    if (strncmp(h, "ovf:/disk/", 10) == 0) {
        for (size_t i = 0; i < st->ovf.ndisks; i++)
            if (strcmp(st->ovf.disks[i].id, h + 10) == 0) {
                const struct ovf_file *f =
                    ovf_file_by_id(&st->ovf, st->ovf.disks[i].file_ref);
                return f ? f->href : NULL;
            }
        return h + 10;
    }
    return h[0] ? h : NULL;
}

static int check_devices(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    for (size_t i = 0; i < st->ovf.ndevs; i++) {
        const struct ovf_device *d = &st->ovf.devs[i];
        const char *file = device_file(st, d);
        if (file && !member_present(st, file)) {
            verdict_set(&vd, "absent-cdrom", "the OVF's %s '%s' points at "
                        "'%s', which is not in the OVA; VM Import fails on "
                        "it (remove the drive's backing file)",
                        d->type == 14 ? "floppy drive" : "CD/DVD drive",
                        d->name, file);
            return refuse(v, &vd);
        }
    }
    return 0;
}

static int check_manifest(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    if (!st->mf_seen)
        return 0;
    uint64_t late = 0;
    for (size_t i = 0; i < st->mf.n; i++) {
        const struct mf_entry *en = &st->mf.e[i];
        if (!en->matched && !en->late) {
            verdict_set(&vd, "manifest-mismatch", "the manifest lists '%s', "
                        "which is not in the OVA", en->name);
            return refuse(v, &vd);
        }
        const struct member_rec *m = en->late ? find_member(st, en->name)
                                              : NULL;
        late += m ? m->size : 0;
    }
    v->facts.manifest_read_back = late;
    v->facts.manifest_verified = late == 0;
    return 0;
}

bool ova_archive_late(struct ova_validator *v, size_t i, struct ova_late *out)
{
    struct ova_archive *st = v->arc;
    for (size_t k = 0; st && st->mf_seen && k < st->mf.n; k++) {
        struct mf_entry *en = &st->mf.e[k];
        const struct member_rec *m = en->late ? find_member(st, en->name)
                                              : NULL;
        if (!m || i-- > 0)
            continue;
        *out = (struct ova_late){en->name, m->offset, m->size, en->alg,
                                 en->digest, en->dlen, &en->matched};
        return true;
    }
    return false;
}

int ova_archive_finish(struct ova_validator *v)
{
    struct ova_archive *st = v->arc;
    struct ova_verdict vd;
    if (!st || !st->ended || !st->ovf_seen) {
        verdict_set(&vd, st && st->headers ? "bad-tar" : "not-tar",
                    "the file holds no OVF descriptor (no tar members)");
        return refuse(v, &vd);
    }
    if (check_disks_present(v) < 0 || check_devices(v) < 0 ||
        check_manifest(v) < 0)
        return -1;
    return 0;
}
