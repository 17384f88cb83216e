/* base.c — the bottom of ova/: what the validator (validator.c) and the
 * code on its OVA thread (archive.c, and the checks of disk.c, ovf.c,
 * manifest.c) share. Strings and verdicts; the ring's reading end, the
 * refusal and the cancel flag, all under the validator's mutex or atomic
 * (ova/internal.h, "Threads"). Calls nothing else in ova/, so no file of
 * ova/ has to call back up into validator.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ova/internal.h"

void ova_strlcpy(char *dst, const char *s, size_t dsz)
{
    size_t n = strlen(s);
    if (n >= dsz)
        n = dsz - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

bool ova_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

void verdict_set(struct ova_verdict *vd, const char *code, const char *fmt,
                 ...)
{
    va_list ap;
    ova_strlcpy(vd->code, code, sizeof vd->code);
    va_start(ap, fmt);
    vsnprintf(vd->reason, sizeof vd->reason, fmt, ap);
    va_end(ap);
}

void ova_refuse(struct ova_validator *v, const struct ova_verdict *vd)
{
    pthread_mutex_lock(&v->mu);
    if (!v->refused) {
        v->verdict = *vd;
        v->refused = true;
    }
    pthread_cond_broadcast(&v->space_cv);
    pthread_cond_broadcast(&v->data_cv);
    pthread_mutex_unlock(&v->mu);
}

/* Lock held. The block lent last is done with. */
static void give_back(struct ova_validator *v)
{
    if (!v->ring_lent)
        return;
    v->ring_head = (v->ring_head + v->ring_lent) % OVA_RING_SIZE;
    v->ring_len -= v->ring_lent;
    v->ring_off += v->ring_lent;
    v->ring_lent = 0;
    pthread_cond_broadcast(&v->space_cv);
}

void ova_ring_keep_save(struct ova_validator *v, uint64_t off,
                        const unsigned char *p, size_t n)
{
    uint64_t lo = off > v->keep_from ? off : v->keep_from;
    uint64_t hi = off + n < v->keep_to ? off + n : v->keep_to;
    if (lo < hi)
        memcpy(v->keep + (lo - v->keep_from), p + (lo - off), hi - lo);
}

/* Lock held. Drop the first n bytes of the ring (n <= ring_len, nothing
 * lent), keeping what falls into the keep window. */
static void ring_drop(struct ova_validator *v, size_t n)
{
    while (n > 0) {
        size_t k = OVA_RING_SIZE - v->ring_head;
        if (k > n)
            k = n;
        ova_ring_keep_save(v, v->ring_off, v->ring + v->ring_head, k);
        v->ring_head = (v->ring_head + k) % OVA_RING_SIZE;
        v->ring_len -= k;
        v->ring_off += k;
        n -= k;
    }
    pthread_cond_broadcast(&v->space_cv);
}

int64_t ova_ring_skip(struct ova_validator *v, int64_t request)
{
    if (request <= 0)
        return 0;
    pthread_mutex_lock(&v->mu);
    give_back(v); /* libarchive skips only once the lent block is used */
    bool stop = v->abort || v->refused;
    if (!stop) {
        uint64_t d = (uint64_t)request < v->ring_len ? (uint64_t)request
                                                     : v->ring_len;
        ring_drop(v, (size_t)d);
        if (d < (uint64_t)request) { /* the rest is still to come */
            v->drop_to = v->in_off + ((uint64_t)request - d);
            v->ring_off = v->drop_to;
        }
    }
    pthread_mutex_unlock(&v->mu);
    return stop ? 0 : request;
}

void ova_ring_keep(struct ova_validator *v, uint64_t from, uint64_t to)
{
    pthread_mutex_lock(&v->mu);
    v->keep_from = from;
    v->keep_to = to - from <= SNIFF_TAIL ? to : from + SNIFF_TAIL;
    pthread_mutex_unlock(&v->mu);
}

int ova_ring_wait_kept(struct ova_validator *v, uint64_t off,
                       unsigned char *out, uint64_t *at)
{
    pthread_mutex_lock(&v->mu);
    while (v->in_off < off && !v->eof && !v->abort && !v->refused) {
        v->idle = true; /* ova_validator_sync: waiting for bytes */
        pthread_cond_broadcast(&v->space_cv);
        pthread_cond_wait(&v->data_cv, &v->mu);
    }
    v->idle = false;
    int rc = v->abort || v->refused ? -1 : v->in_off < off ? 1 : 0;
    *at = v->in_off;
    if (rc == 0)
        memcpy(out, v->keep, SNIFF_TAIL);
    v->keep_from = v->keep_to = 0;
    pthread_mutex_unlock(&v->mu);
    return rc;
}

long ova_ring_lend(struct ova_validator *v, const unsigned char **out,
                   size_t max)
{
    pthread_mutex_lock(&v->mu);
    give_back(v);
    while (v->ring_len == 0 && !v->eof && !v->abort && !v->refused) {
        v->idle = true;
        pthread_cond_broadcast(&v->space_cv);
        pthread_cond_wait(&v->data_cv, &v->mu);
    }
    v->idle = false;
    if (v->abort || v->refused) {
        pthread_mutex_unlock(&v->mu);
        return -1;
    }
    size_t n = v->ring_len;
    if (n > OVA_RING_SIZE - v->ring_head)
        n = OVA_RING_SIZE - v->ring_head;
    if (n > max)
        n = max;
    *out = v->ring + v->ring_head;
    v->ring_lent = n;
    pthread_mutex_unlock(&v->mu);
    return (long)n;
}

bool ova_cancelled(const struct ova_validator *v)
{
    return __atomic_load_n(&v->cancel_flag, __ATOMIC_ACQUIRE);
}
