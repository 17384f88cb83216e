/* validator.c — life cycle, the ring buffer's writing end, single-disk
 * dispatch (its reading end, the refusal and the cancel flag: base.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ova/internal.h"

static const struct {
    const char *ext;
    enum ova_kind kind;
} ext_table[] = {
    {".ova", OVA_KIND_OVA}, {".vmdk", OVA_KIND_VMDK},
    {".vhd", OVA_KIND_VHD}, {".vhdx", OVA_KIND_VHDX},
    {".raw", OVA_KIND_RAW}, {".img", OVA_KIND_RAW},
};

enum ova_kind ova_kind_from_name(const char *filename)
{
    if (!filename)
        return OVA_KIND_NONE;
    const char *base = strrchr(filename, '/');
    base = base ? base + 1 : filename;
    for (size_t i = 0; i < sizeof ext_table / sizeof ext_table[0]; i++) {
        /* ".ova" alone is a hidden file, not an image with a name */
        if (strlen(base) > strlen(ext_table[i].ext) &&
            ova_ends_with(base, ext_table[i].ext))
            return ext_table[i].kind;
    }
    return OVA_KIND_NONE;
}

const char *ova_kind_format(enum ova_kind k)
{
    switch (k) {
    case OVA_KIND_OVA: return "OVA";
    case OVA_KIND_VMDK: return "VMDK";
    case OVA_KIND_VHD: return "VHD";
    case OVA_KIND_VHDX: return "VHDX";
    case OVA_KIND_RAW: return "RAW";
    case OVA_KIND_NONE: break;
    }
    return "";
}

struct ova_validator *ova_validator_new(enum ova_kind kind)
{
    struct ova_validator *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->kind = kind;
    v->facts.kind = kind;
    v->facts.os_id = -1;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->data_cv, NULL);
    pthread_cond_init(&v->space_cv, NULL);
    if (kind == OVA_KIND_OVA)
        v->ring = malloc(OVA_RING_SIZE);
    else if (kind != OVA_KIND_NONE)
        v->sniff = malloc(sizeof *v->sniff);
    if ((kind == OVA_KIND_OVA && !v->ring) ||
        (kind != OVA_KIND_OVA && kind != OVA_KIND_NONE && !v->sniff)) {
        ova_validator_free(v);
        return NULL;
    }
    if (v->sniff)
        sniff_reset(v->sniff);
    return v;
}

static bool is_refused(struct ova_validator *v)
{
    pthread_mutex_lock(&v->mu);
    bool r = v->refused;
    pthread_mutex_unlock(&v->mu);
    return r;
}

static const char *disk_label(enum ova_kind k)
{
    switch (k) {
    case OVA_KIND_VMDK: return "the VMDK";
    case OVA_KIND_VHD: return "the VHD";
    case OVA_KIND_VHDX: return "the VHDX";
    default: return "the raw disk";
    }
}

/* Single disks: keep head/tail, judge the head as soon as it can be. */
static int feed_disk(struct ova_validator *v, const void *p, size_t n)
{
    struct ova_verdict vd = {{0}, {0}};
    sniff_push(v->sniff, p, n);
    if (v->head_step != DISK_MORE)
        return 0;
    v->head_step = disk_check_head(v->kind, v->sniff, false,
                                   &v->facts.disks[0], v->facts.firmware,
                                   sizeof v->facts.firmware, &vd,
                                   disk_label(v->kind));
    if (v->head_step == DISK_BAD) {
        ova_refuse(v, &vd);
        return -1;
    }
    return 0;
}

static int start_thread(struct ova_validator *v)
{
    v->arc = ova_archive_new();
    if (!v->arc || pthread_create(&v->thread, NULL, ova_archive_main, v)) {
        struct ova_verdict vd;
        verdict_set(&vd, "internal", "the validator could not start (%s)",
                    v->arc ? "no thread" : "out of memory");
        ova_refuse(v, &vd);
        return -1;
    }
    v->thread_started = true;
    return 0;
}

/* Lock held. Bytes the OVA thread skipped (ova_ring_skip) are dropped
 * here without a copy (but for the keep window). How many of n. */
static size_t drop_skipped(struct ova_validator *v, const unsigned char *p,
                           size_t n)
{
    if (v->in_off >= v->drop_to)
        return 0;
    size_t k = v->drop_to - v->in_off < n ? (size_t)(v->drop_to - v->in_off)
                                          : n;
    ova_ring_keep_save(v, v->in_off, p, k);
    v->in_off += k;
    pthread_cond_signal(&v->data_cv); /* ova_ring_wait_kept */
    return k;
}

/* Copy into the ring; wait only while it is full. Bytes arriving after
 * the archive's end-of-archive blocks (tar padding) are dropped, and so
 * are those the thread skipped. */
static int feed_ring(struct ova_validator *v, const unsigned char *p,
                     size_t n)
{
    if (!v->thread_started && start_thread(v) < 0)
        return -1;
    pthread_mutex_lock(&v->mu);
    while (n > 0 && !v->refused && !v->exited && !v->abort) {
        size_t k = drop_skipped(v, p, n);
        p += k;
        n -= k;
        if (k > 0)
            continue;
        if (v->ring_len == OVA_RING_SIZE) {
            /* then look again: the thread may have skipped meanwhile */
            pthread_cond_wait(&v->space_cv, &v->mu);
            continue;
        }
        size_t tail = (v->ring_head + v->ring_len) % OVA_RING_SIZE;
        size_t room = OVA_RING_SIZE - v->ring_len;
        size_t chunk = OVA_RING_SIZE - tail;
        if (chunk > room)
            chunk = room;
        if (chunk > n)
            chunk = n;
        memcpy(v->ring + tail, p, chunk);
        v->ring_len += chunk;
        v->in_off += chunk;
        p += chunk;
        n -= chunk;
        pthread_cond_signal(&v->data_cv);
    }
    int rc = v->refused ? -1 : 0;
    pthread_mutex_unlock(&v->mu);
    return rc;
}

int ova_validator_feed(struct ova_validator *v, const void *p, size_t n)
{
    if (is_refused(v))
        return -1;
    if (v->finished)
        return v->finish_rc;
    if (n == 0)
        return 0;
    v->facts.bytes += n;
    if (v->kind == OVA_KIND_NONE) {
        struct ova_verdict vd;
        verdict_set(&vd, "bad-format", "the file name has no image "
                    "extension (.ova .vmdk .vhd .vhdx .raw .img)");
        ova_refuse(v, &vd);
        return -1;
    }
    if (v->kind == OVA_KIND_OVA)
        return feed_ring(v, p, n);
    return feed_disk(v, p, n);
}

int ova_validator_sync(struct ova_validator *v)
{
    pthread_mutex_lock(&v->mu);
    while (v->thread_started && !v->exited && !v->refused &&
           !(v->idle && v->ring_len == 0))
        pthread_cond_wait(&v->space_cv, &v->mu);
    int rc = v->refused ? -1 : 0;
    pthread_mutex_unlock(&v->mu);
    return rc;
}

static void stop_thread(struct ova_validator *v, bool abort)
{
    if (!v->thread_started)
        return;
    pthread_mutex_lock(&v->mu);
    v->eof = true;
    v->abort = abort;
    pthread_cond_broadcast(&v->data_cv);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->thread, NULL);
    v->thread_started = false;
}

static int finish_disk(struct ova_validator *v)
{
    struct ova_verdict vd = {{0}, {0}};
    struct ova_disk_facts *df = &v->facts.disks[0];
    const char *label = disk_label(v->kind);
    if (v->head_step == DISK_MORE)
        v->head_step = disk_check_head(v->kind, v->sniff, true, df,
                                       v->facts.firmware,
                                       sizeof v->facts.firmware, &vd, label);
    if (v->head_step == DISK_OK &&
        disk_check_end(v->kind, v->sniff, df, &vd, label) == DISK_OK) {
        v->facts.ndisks = 1;
        return 0;
    }
    if (!vd.code[0])
        verdict_set(&vd, "bad-format", "%s could not be recognised", label);
    ova_refuse(v, &vd);
    return -1;
}

static int finish_now(struct ova_validator *v)
{
    struct ova_verdict vd;
    if (v->kind == OVA_KIND_OVA)
        stop_thread(v, false);
    if (is_refused(v))
        return -1;
    if (v->facts.bytes == 0) {
        verdict_set(&vd, "empty", "the file is empty");
        ova_refuse(v, &vd);
        return -1;
    }
    if (v->kind == OVA_KIND_NONE)
        return -1;          /* refused at the first byte already */
    if (v->kind == OVA_KIND_OVA)
        return ova_archive_finish(v);
    return finish_disk(v);
}

int ova_validator_finish(struct ova_validator *v)
{
    if (!v->finished) {
        v->finish_rc = finish_now(v);
        v->finished = true;
    }
    return v->finish_rc;
}

bool ova_validator_done(const struct ova_validator *v)
{
    return v->finished || is_refused((struct ova_validator *)v);
}

const char *ova_validator_reason(const struct ova_validator *v)
{
    /* The verdict is written once, before `refused` is set under the
     * lock, and never again: the pointer stays valid and stable. */
    return is_refused((struct ova_validator *)v) ? v->verdict.reason : "";
}

const char *ova_validator_code(const struct ova_validator *v)
{
    return is_refused((struct ova_validator *)v) ? v->verdict.code : "";
}

const struct ova_facts *ova_validator_facts(const struct ova_validator *v)
{
    return &v->facts;
}

void ova_validator_cancel(struct ova_validator *v)
{
    struct ova_verdict vd;
    if (!v)
        return;
    verdict_set(&vd, "cancelled", "validation was cancelled (the upload "
                "was removed or the mount is stopping)");
    pthread_mutex_lock(&v->mu);
    v->abort = true;
    __atomic_store_n(&v->cancel_flag, true, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&v->mu);
    ova_refuse(v, &vd); /* first verdict wins; wakes both sides */
}

void ova_validator_free(struct ova_validator *v)
{
    if (!v)
        return;
    stop_thread(v, true);
    ova_archive_free(v->arc);
    free(v->ring);
    free(v->sniff);
    pthread_cond_destroy(&v->data_cv);
    pthread_cond_destroy(&v->space_cv);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

const char *ova_facts_boot_mode(const struct ova_facts *f)
{
    if (strcmp(f->firmware, "efi") == 0)
        return "uefi";
    if (strcmp(f->firmware, "bios") == 0)
        return "legacy-bios";
    return NULL;
}
