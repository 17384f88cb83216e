/*
 * mpu.c — the streaming multipart uploader and its shared pool (contract in
 * mpu.h).
 *
 * Two kinds of locks. The pool's `lock` guards the budget, the spill count,
 * the queue of parts (of every upload) and the worker threads; its `cond`
 * wakes workers (a part queued, stop) and writers waiting for budget (budget
 * freed, an upload cancelled). Each upload's `lock` guards its state, its
 * slots and counters; its `done` wakes whoever waits for a slot to come free
 * or for the upload's queued + in-flight count to drop. Order: an upload's
 * lock may be held while taking the pool's, never the reverse. Neither is
 * held across HTTP or file I/O.
 *
 * The writer owns the slot it is filling (`cur`) and copies into it (memory
 * or the part's file) without a lock. `cancel` is also read without the
 * upload's lock (atomics) by the budget wait and the body callback.
 */
#include "aws/mpu.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "aws/crc.h"
#include "aws/s3.h"
#include "aws/sigv4.h"

#define MIB ((uint64_t)1 << 20)
#define MPU_MIN_PART (5 * MIB)
#define MPU_MAX_PART ((uint64_t)5 << 30)
#define MPU_MAX_PARTS 10000u
#define MPU_FIRST_GROWTH ((size_t)64 << 10)
#define MPU_HUGE_FROM ((size_t)1 << 20)
#define MPU_PARKED_MAX 64

/* ---- part sizes (pure) -------------------------------------------------- */

/* Sum of 10,000 part sizes when the size doubles every `block` parts
 * (capped at 5 GiB). Decreases as `block` grows. */
static uint64_t total_for_block(uint64_t first, unsigned block)
{
    uint64_t sum = 0, s = first;
    unsigned n = 0;
    while (n < MPU_MAX_PARTS) {
        unsigned k = MPU_MAX_PARTS - n < block ? MPU_MAX_PARTS - n : block;
        if (s >= MPU_MAX_PART)
            return sum + MPU_MAX_PART * (MPU_MAX_PARTS - n);
        sum += s * k;
        n += k;
        s = s * 2 > MPU_MAX_PART ? MPU_MAX_PART : s * 2;
    }
    return sum;
}

size_t mpu_part_size(unsigned part_no, size_t first, uint64_t max_object)
{
    uint64_t f = first < MPU_MIN_PART ? MPU_MIN_PART : first;
    if (f > MPU_MAX_PART)
        f = MPU_MAX_PART;
    if (part_no < 1)
        part_no = 1;
    if (f * MPU_MAX_PARTS >= max_object)
        return (size_t)f;
    if (total_for_block(f, 1) < max_object) {
        /* Near 10,000 × 5 GiB (48.8 TiB) even doubling every part falls
         * short: keep the first size for as many parts as the slack allows,
         * then jump to 5 GiB. */
        uint64_t slack = MPU_MAX_PART * MPU_MAX_PARTS > max_object
                             ? MPU_MAX_PART * MPU_MAX_PARTS - max_object
                             : 0;
        uint64_t keep = slack / (MPU_MAX_PART - f);
        return (size_t)(part_no <= (keep ? keep : 1) ? f : MPU_MAX_PART);
    }
    /* The longest doubling period that still reaches max_object keeps parts
     * (and so the memory of the buffer pool) as small as possible. */
    unsigned lo = 1, hi = MPU_MAX_PARTS;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo + 1) / 2;
        if (total_for_block(f, mid) >= max_object)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint64_t s = f;
    for (unsigned level = (part_no - 1) / lo; level && s < MPU_MAX_PART;
         level--)
        s = s * 2 > MPU_MAX_PART ? MPU_MAX_PART : s * 2;
    return (size_t)s;
}

/* ---- state -------------------------------------------------------------- */

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_SENDING };

struct mpu;

/* One part. In memory (`data`, `reserved` bytes of the budget) or in a file
 * (`fd`, one of the pool's spill places, digests computed as bytes come). */
struct slot {
    struct mpu *m;
    struct slot *next;    /* pool queue link */
    char *data;
    size_t cap;
    size_t len;
    size_t want;          /* this part's size */
    size_t reserved;      /* budget bytes held (memory parts) */
    int fd;               /* spilled part: temp file, else -1 */
    uint32_t crc;         /* CRC32C of the bytes (spilled: as they come) */
    char crc_b64[AWS_CRC32C_B64];
    uint64_t rpos;        /* body callback's position */
    unsigned part_no;
    enum slot_state st;
    bool skipped;         /* resume: S3 already held these bytes */
};

/* Growing the parts in flight while throughput grows (an automatic budget,
 * mpu_shared_new(0, …)): measured over windows of acknowledged bytes. */
struct mpu_grow {
    bool on;              /* automatic budget */
    size_t start, cap;    /* budget bounds */
    int threads_start;
    struct timespec win;  /* window start */
    uint64_t win_bytes;   /* acknowledged in this window */
    double prev_rate;     /* bytes/s of the window before the last step */
    bool waited;          /* a writer waited for budget in this window */
    bool stopped;         /* the last step gained too little */
    bool primed;          /* the first window (the pipeline filling) is
                             over: windows are comparable from now on */
    size_t last_part;     /* size of the last part reserved */
    int steps;
};

struct mpu_shared {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t budget, used, peak;
    struct mpu_grow grow;
    int spill_max, spill_used, spill_peak;
    int overflow_spills;  /* memory parts staged because the pool was stuck */
    char *spill_dir;
    struct slot *qhead, *qtail;
    /* Full-size part buffers of acknowledged parts, kept for the next part
     * of that size (a fresh mapping costs the kernel's zeroing of every
     * page). Their bytes stay counted in `used` (parked ⊆ used); a
     * reservation that does not fit evicts them first, and the last upload
     * of the pool to be freed unmaps them all. */
    struct parked { void *p; size_t cap; } parked[MPU_PARKED_MAX];
    int nparked;
    size_t parked_bytes;
    unsigned long reused;
    int uploads;          /* uploads attached to the pool */
    bool stop;
    pthread_t *threads;
    int nthreads, max_threads, idle;
};

struct mpu {
    struct aws_client *c;
    char *bucket;
    char *key;
    struct mpu_options opt;
    struct mpu_shared *sh;
    bool own_sh;          /* private pool, freed with the upload */
    bool slots_grow;      /* usable slots follow the pool's workers + 1
                             (automatic budget), else all pool_parts */

    pthread_mutex_t lock;
    pthread_cond_t done;
    /* under lock */
    enum mpu_state state;
    struct aws_error err; /* the first error */
    char upload_id[1024];
    char etag[72];
    uint32_t crc;         /* the object's CRC32C once DONE */
    bool creating;        /* writer is creating the upload (HTTP) */
    bool cancel;          /* skip queued parts, no new work (also atomic) */
    bool writing;         /* the writer is inside mpu_write/mpu_finish and
                             owns `cur`; else an abort may release it */
    bool remote_done;     /* upload aborted (or nothing to abort) */
    struct slot *slots;
    int queued;           /* slots of this upload in the pool queue */
    int inflight;         /* slots being sent */
    struct s3_part *parts; /* index part_no - 1 */
    size_t parts_cap;
    unsigned nparts;
    uint64_t sent;
    bool keep;            /* the first error was the network's: keep */
    bool kept;            /* ... and the upload was kept, not aborted */
    struct mpu_resume_stats rs;
    /* resume: the claimed upload's parts (ListParts, ascending), set by
     * the writer before its first part is queued, read-only after */
    struct s3_part *rparts;
    size_t nrparts;
    /* writer only */
    int cur;              /* slot being filled, -1 none */
    unsigned next_part;
    uint64_t written;     /* also read by getters: atomics */
};

static bool is_cancelled(struct mpu *m)
{
    return __atomic_load_n(&m->cancel, __ATOMIC_ACQUIRE);
}

/* ---- the pool: budget, spill places, queue, workers --------------------- */

#define MPU_DEFAULT_BUDGET ((size_t)64 << 20)
/* The automatic budget starts at MPU_DEFAULT_BUDGET (and the configured
 * workers) and grows up to MPU_GROW_CAP (and MPU_GROW_THREADS workers):
 * with the daemon's ~25 MiB besides part buffers, its RSS stays under the
 * 200 MiB the uploader promises (doc/design/mpu.md). */
#define MPU_GROW_CAP ((size_t)160 << 20)
#define MPU_GROW_THREADS 24
#define MPU_GROW_WINDOW_NS 500000000L
#define MPU_GROW_GAIN 1.10
#define MPU_MIN_BUDGET ((size_t)20 << 20)
#define MPU_SPILL_PARTS 3
/* How long a writer waits for budget while nothing is being sent before it
 * stages its part in a file (wait_budget_locked). */
#define MPU_STUCK_SECONDS 1

bool mpu_part_in_memory(size_t part_size, size_t budget)
{
    return part_size <= budget / 4;
}

static double mono_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) +
           (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void grow_reset_locked(struct mpu_shared *sh)
{
    struct mpu_grow *g = &sh->grow;
    if (!g->on)
        return;
    sh->budget = g->start;
    __atomic_store_n(&sh->max_threads, g->threads_start, __ATOMIC_RELAXED);
    g->prev_rate = 0;
    g->win_bytes = 0;
    g->waited = g->stopped = g->primed = false;
    clock_gettime(CLOCK_MONOTONIC, &g->win);
}

/* One step up: a quarter more parts in flight (at least two), within the
 * cap, with the workers to send them. */
static void grow_step_locked(struct mpu_shared *sh)
{
    struct mpu_grow *g = &sh->grow;
    size_t part = g->last_part ? g->last_part : (size_t)8 << 20;
    size_t parts = sh->budget / part, more = parts / 4 < 2 ? 2 : parts / 4;
    size_t nb = sh->budget + more * part;
    sh->budget = nb > g->cap ? g->cap : nb;
    int nt = sh->max_threads + (int)more;
    __atomic_store_n(&sh->max_threads,
                     nt > MPU_GROW_THREADS ? MPU_GROW_THREADS : nt,
                     __ATOMIC_RELAXED);
    g->steps++;
    pthread_cond_broadcast(&sh->cond); /* writers waiting for budget */
}

/* A memory part was acknowledged: count it, and at the end of a window
 * decide. Grow only while writers wait for budget (the uploads, not the
 * writer, are the bottleneck) and each step raised the throughput by more
 * than MPU_GROW_GAIN; the first step that does not ends the growth until
 * the pool is idle again. The first window after idle is discarded (it
 * holds the ramp of the first parts, which any later window would beat).
 * Lock held. */
static void grow_ack_locked(struct mpu_shared *sh, size_t bytes)
{
    struct mpu_grow *g = &sh->grow;
    if (!g->on || g->stopped)
        return;
    g->win_bytes += bytes;
    double dt = mono_since(&g->win);
    if (dt * 1e9 < MPU_GROW_WINDOW_NS)
        return;
    double rate = (double)g->win_bytes / dt;
    if (!g->primed)
        g->primed = true; /* the ramp of the first parts: not a baseline */
    else if (!g->waited)
        g->prev_rate = 0; /* the writer sets the pace: nothing to learn */
    else if (g->prev_rate > 0 && rate <= g->prev_rate * MPU_GROW_GAIN)
        g->stopped = true;
    else if (sh->budget < g->cap) {
        grow_step_locked(sh);
        g->prev_rate = rate;
    }
    g->win_bytes = 0;
    g->waited = false;
    clock_gettime(CLOCK_MONOTONIC, &g->win);
}

struct mpu_shared *mpu_shared_new(size_t budget_bytes, int workers,
                                  const char *spill_dir)
{
    struct mpu_shared *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    sh->budget = budget_bytes ? budget_bytes : MPU_DEFAULT_BUDGET;
    if (sh->budget < MPU_MIN_BUDGET)
        sh->budget = MPU_MIN_BUDGET;
    sh->max_threads = workers < 1 ? 10 : workers > 64 ? 64 : workers;
    sh->grow.on = budget_bytes == 0;
    sh->grow.start = sh->budget;
    sh->grow.cap = sh->grow.on ? MPU_GROW_CAP : sh->budget;
    sh->grow.threads_start = sh->max_threads;
    sh->spill_max = MPU_SPILL_PARTS;
    if (!spill_dir || !*spill_dir)
        spill_dir = getenv("TMPDIR");
    sh->spill_dir = strdup(spill_dir && *spill_dir ? spill_dir : "/var/tmp");
    sh->threads = calloc(64, sizeof *sh->threads); /* growth included */
    if (!sh->spill_dir || !sh->threads) {
        free(sh->spill_dir);
        free(sh->threads);
        free(sh);
        return NULL;
    }
    pthread_mutex_init(&sh->lock, NULL);
    pthread_cond_init(&sh->cond, NULL);
    grow_reset_locked(sh);
    return sh;
}

static void unpark_all_locked(struct mpu_shared *sh);

void mpu_shared_free(struct mpu_shared *sh)
{
    if (!sh)
        return;
    pthread_mutex_lock(&sh->lock);
    sh->stop = true;
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
    for (int i = 0; i < sh->nthreads; i++)
        pthread_join(sh->threads[i], NULL);
    unpark_all_locked(sh); /* the workers are gone: no lock needed */
    pthread_cond_destroy(&sh->cond);
    pthread_mutex_destroy(&sh->lock);
    free(sh->threads);
    free(sh->spill_dir);
    free(sh);
}

void mpu_shared_stats(struct mpu_shared *sh, struct mpu_shared_stats *out)
{
    pthread_mutex_lock(&sh->lock);
    out->budget = sh->budget;
    out->used = sh->used;
    out->parked = sh->parked_bytes;
    out->reused = sh->reused;
    out->peak = sh->peak;
    out->spill_parts = sh->spill_used;
    out->spill_peak = sh->spill_peak;
    out->overflow_spills = sh->overflow_spills;
    out->threads = sh->nthreads;
    out->budget_cap = sh->grow.cap;
    out->grow_steps = sh->grow.steps;
    pthread_mutex_unlock(&sh->lock);
}

/* No part is queued or being sent: nothing will give budget back unless
 * some writer fills its part — possibly the very thread that waits (one
 * thread writing many files in turn, each holding a half-filled part). */
static bool pool_stuck_locked(const struct mpu_shared *sh)
{
    return !sh->qhead && sh->idle == sh->nthreads;
}

/* Unmap parked buffers until `bytes` more fit in the budget (or none is
 * left). Whether they fit. Lock held. */
static bool fits_locked(struct mpu_shared *sh, size_t bytes)
{
    while (sh->used + bytes > sh->budget && sh->nparked > 0) {
        struct parked *b = &sh->parked[--sh->nparked];
        munmap(b->p, b->cap);
        sh->used -= b->cap;
        sh->parked_bytes -= b->cap;
    }
    return sh->used + bytes <= sh->budget;
}

static void unpark_all_locked(struct mpu_shared *sh)
{
    size_t budget = sh->budget;
    sh->budget = 0; /* nothing fits: evicts every parked buffer */
    fits_locked(sh, 1);
    sh->budget = budget;
}

/* A parked buffer of exactly `cap` bytes (its budget comes with it), or
 * NULL. */
static void *take_parked_locked(struct mpu_shared *sh, size_t cap)
{
    void *p = NULL;
    for (int i = sh->nparked - 1; i >= 0 && !p; i--) {
        if (sh->parked[i].cap != cap)
            continue;
        p = sh->parked[i].p;
        sh->parked[i] = sh->parked[--sh->nparked];
        sh->parked_bytes -= cap;
        sh->reused++;
    }
    return p;
}

static bool has_parked_locked(const struct mpu_shared *sh, size_t cap)
{
    for (int i = 0; i < sh->nparked; i++)
        if (sh->parked[i].cap == cap)
            return true;
    return false;
}

/* Give a full-size buffer back to the pool, keeping its mapping (and its
 * budget) for the next part when there is room to park it. */
static void pool_park(struct mpu_shared *sh, void *p, size_t cap)
{
    pthread_mutex_lock(&sh->lock);
    grow_ack_locked(sh, cap);
    if (sh->nparked < MPU_PARKED_MAX && !sh->stop &&
        sh->used <= sh->budget) {
        sh->parked[sh->nparked].p = p;
        sh->parked[sh->nparked++].cap = cap;
        sh->parked_bytes += cap;
    } else {
        munmap(p, cap);
        sh->used -= cap;
    }
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
}

/* Wait for the budget; after MPU_STUCK_SECONDS in which nothing was sent
 * and the budget stayed spent, give up waiting: 1 (the caller stages the
 * part in a file instead, outside the budget: memory stays bounded and
 * the wait cannot be on itself). 0 when the bytes fit. Lock held. */
static int wait_budget_locked(struct mpu_shared *sh, struct mpu *m,
                              size_t bytes)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += MPU_STUCK_SECONDS;
    while (!is_cancelled(m) && !has_parked_locked(sh, bytes) &&
           !fits_locked(sh, bytes)) {
        sh->grow.waited = true;
        if (!pool_stuck_locked(sh)) {
            pthread_cond_wait(&sh->cond, &sh->lock);
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += MPU_STUCK_SECONDS;
        } else if (pthread_cond_timedwait(&sh->cond, &sh->lock, &until) ==
                       ETIMEDOUT &&
                   pool_stuck_locked(sh) && !has_parked_locked(sh, bytes) &&
                   !fits_locked(sh, bytes)) {
            sh->overflow_spills++;
            return 1;
        }
    }
    return 0;
}

/* Wait until the part fits: `bytes` of budget (memory part) or a spill
 * place. A memory part takes a parked buffer of its size when there is
 * one (*buf: mapped, its budget held) before any is unmapped to make room.
 * -1 when the upload is cancelled meanwhile; 1 when a memory part
 * must be staged in a file instead (wait_budget_locked: the pool is stuck
 * on half-filled parts), which then holds a spill place too. */
static int pool_reserve(struct mpu *m, size_t bytes, bool spill, void **buf)
{
    struct mpu_shared *sh = m->sh;
    int rc = 0;
    *buf = NULL;
    pthread_mutex_lock(&sh->lock);
    for (;;) {
        if (is_cancelled(m)) {
            rc = -1;
            break;
        }
        if (!spill && (*buf = take_parked_locked(sh, bytes)) != NULL)
            break;
        if (spill ? sh->spill_used < sh->spill_max : fits_locked(sh, bytes))
            break;
        if (!spill) {
            rc = wait_budget_locked(sh, m, bytes);
            spill = rc == 1;
            if (rc == 1 || is_cancelled(m))
                break;
            continue;
        }
        pthread_cond_wait(&sh->cond, &sh->lock);
    }
    if (rc == 0 && is_cancelled(m))
        rc = -1;
    if (*buf && rc != 0) { /* cancelled after all: park it again */
        sh->parked[sh->nparked].p = *buf;
        sh->parked[sh->nparked++].cap = bytes;
        sh->parked_bytes += bytes;
        *buf = NULL;
    }
    if (rc >= 0 && spill && ++sh->spill_used > sh->spill_peak)
        sh->spill_peak = sh->spill_used;
    if (rc == 0 && !spill && !*buf && (sh->used += bytes) > sh->peak)
        sh->peak = sh->used;
    if (rc == 0 && !spill)
        sh->grow.last_part = bytes;
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

static void pool_release(struct mpu_shared *sh, size_t bytes, bool spill)
{
    pthread_mutex_lock(&sh->lock);
    if (spill)
        sh->spill_used--;
    else
        sh->used -= bytes;
    if (!spill)
        grow_ack_locked(sh, bytes);
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
}

/* Wake writers waiting for budget so they see their upload's cancel. */
static void pool_wake(struct mpu_shared *sh)
{
    pthread_mutex_lock(&sh->lock);
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
}

static void *worker(void *arg);

/* Queue a full part; start a worker when none is idle. Upload lock held. */
static int pool_enqueue_locked(struct mpu_shared *sh, struct slot *s)
{
    int rc = 0;
    pthread_mutex_lock(&sh->lock);
    s->next = NULL;
    if (sh->qtail)
        sh->qtail->next = s;
    else
        sh->qhead = s;
    sh->qtail = s;
    if (sh->idle == 0 && sh->nthreads < sh->max_threads) {
        if (pthread_create(&sh->threads[sh->nthreads], NULL, worker, sh) == 0)
            sh->nthreads++;
    }
    if (sh->nthreads == 0)
        rc = -1; /* the part stays queued; the caller cancels, which
                    drops it */
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

/* Take an upload's queued parts out of the queue (cancel). Returns them
 * as a list; upload lock held. */
static struct slot *pool_unqueue_locked(struct mpu_shared *sh,
                                        struct mpu *m)
{
    struct slot *mine = NULL, **pp;
    pthread_mutex_lock(&sh->lock);
    sh->qtail = NULL;
    for (pp = &sh->qhead; *pp;) {
        struct slot *s = *pp;
        if (s->m == m) {
            *pp = s->next;
            s->next = mine;
            mine = s;
        } else {
            sh->qtail = s;
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return mine;
}

/* ---- slots -------------------------------------------------------------- */

/* Give back what the part holds: memory to the budget, the file and its
 * spill place. Called by whoever moves the slot to FREE. */
static void slot_release(struct mpu *m, struct slot *s)
{
    bool spill = s->fd >= 0;
    if (spill) {
        close(s->fd);
        s->fd = -1;
        pool_release(m->sh, 0, true);
    } else if (s->reserved && s->data && s->cap == s->reserved) {
        pool_park(m->sh, s->data, s->cap); /* full size: kept for reuse */
        s->data = NULL;
        s->cap = 0;
        s->reserved = 0;
    } else if (s->reserved) {
        if (s->data)
            munmap(s->data, s->cap);
        s->data = NULL;
        s->cap = 0;
        pool_release(m->sh, s->reserved, false);
        s->reserved = 0;
    }
    s->len = 0;
    s->st = SLOT_FREE;
}

/* An unlinked file in the spill directory. */
static int spill_open(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
        return fd;
    char path[4096];
    snprintf(path, sizeof path, "%s/amifs-part-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* Make the slot a file-backed part. */
static int slot_spill_open(struct mpu *m, struct slot *s,
                           struct aws_error *err)
{
    s->fd = spill_open(m->sh->spill_dir);
    s->crc = 0;
    if (s->fd < 0) {
        aws_error_set(err, AWS_ERR_IO, "cannot stage a part in %s: %s",
                      m->sh->spill_dir, strerror(errno));
        /* slot_release only gives back places of files */
        pool_release(m->sh, 0, true);
        return -1;
    }
    return 0;
}

static int spill_write(struct slot *s, const char *p, size_t k,
                       struct aws_error *err)
{
    s->crc = aws_crc32c(s->crc, p, k);
    uint64_t off = s->len;
    while (k) {
        ssize_t w = pwrite(s->fd, p, k, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return aws_error_set(err, AWS_ERR_IO,
                                 "cannot stage a part: %s", strerror(errno));
        p += w;
        k -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* The part's CRC32C in S3's spelling. Memory parts are hashed here, by
 * the worker that sends them (parts of one upload hash in parallel);
 * spilled parts were hashed as their bytes were written. */
static void slot_crc_final(struct slot *s)
{
    if (s->fd < 0)
        s->crc = aws_crc32c(0, s->data ? s->data : "", s->len);
    aws_crc32c_b64(s->crc, s->crc_b64);
}

/* ---- sending a part (body from memory or from the part's file) ---------- */

static long body_read(void *ctx, char *dst, size_t n)
{
    struct slot *s = ctx;
    if (is_cancelled(s->m))
        return -1; /* abort: stop sending at once */
    size_t left = (size_t)(s->len - s->rpos);
    if (n > left)
        n = left;
    if (n == 0)
        return 0;
    if (s->fd < 0) {
        memcpy(dst, s->data + s->rpos, n);
    } else {
        ssize_t r;
        do
            r = pread(s->fd, dst, n, (off_t)s->rpos);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            return -1;
        n = (size_t)r;
    }
    s->rpos += n;
    return (long)n;
}

static int body_rewind(void *ctx)
{
    struct slot *s = ctx;
    s->rpos = 0;
    return 0;
}

/* PUT the slot's bytes: UploadPart (`part_no` > 0) or PutObject. */
static int put_slot(struct mpu *m, struct slot *s, int part_no,
                    char *etag, struct aws_error *err)
{
    /* x-amz-sdk-checksum-algorithm is what the SDKs send beside the value;
     * S3 verifies x-amz-checksum-crc32c and stores it with the object. */
    struct sigv4_header h[2] = {{"x-amz-checksum-crc32c", s->crc_b64},
                                {"x-amz-sdk-checksum-algorithm", "CRC32C"}};
    struct aws_body_source src = {body_read, body_rewind, s, s->len};
    struct aws_request r;
    struct aws_response resp;
    struct buf q;
    char num[16], v[128];
    buf_init(&q, 0);
    snprintf(num, sizeof num, "%d", part_no);
    if (part_no > 0 &&
        (buf_appends(&q, "partNumber=") < 0 || buf_appends(&q, num) < 0 ||
         buf_appends(&q, "&uploadId=") < 0 ||
         sigv4_uri_encode(&q, m->upload_id, strlen(m->upload_id), false) < 0)) {
        buf_release(&q);
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    }
    memset(&r, 0, sizeof r);
    r.svc = AWS_SVC_S3;
    r.method = "PUT";
    r.bucket = m->bucket;
    r.key = m->key;
    r.query = part_no > 0 ? buf_cstr(&q) : NULL;
    r.headers = h;
    r.nheaders = 2;
    r.source = &src;
    r.body_checksummed = true; /* UNSIGNED-PAYLOAD where that is safe */
    r.idempotent = true;
    s->rpos = 0;
    aws_response_init(&resp);
    int rc = aws_send(m->c, &r, &resp, err);
    if (rc == 0 && aws_response_header(&resp, "ETag", v, sizeof v) == 0)
        s3_etag_strip(v, etag);
    aws_response_release(&resp);
    buf_release(&q);
    return rc;
}

/* ---- options, errors ---------------------------------------------------- */

static void opts_default(struct mpu_options *o, const struct mpu_options *in)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof *o);
    if (!o->part_size)
        o->part_size = 8 * MIB;
    if (o->part_size < MPU_MIN_PART)
        o->part_size = MPU_MIN_PART;
    if (o->part_size > MPU_MAX_PART)
        o->part_size = MPU_MAX_PART;
    if (o->concurrency < 1)
        o->concurrency = 4;
    if (o->concurrency > 64)
        o->concurrency = 64;
    if (o->pool_parts < 1)
        o->pool_parts = o->concurrency + 1;
    if (o->pool_parts < 2)
        o->pool_parts = 2; /* one to fill while one goes up */
    if (o->part_attempts < 1)
        o->part_attempts = 5;
    if (!o->max_object_size)
        o->max_object_size = (uint64_t)5 << 40;
    if (!o->memory_budget)
        o->memory_budget = (size_t)o->pool_parts * o->part_size;
}

/* A failure the network caused (every try of it failed): the multipart
 * upload may be kept for a resume (mpu_options.keep_on_network_failure). */
static bool network_failure(const struct aws_error *e)
{
    bool throttling = false;
    switch (e->kind) {
    case AWS_ERR_NETWORK:
    case AWS_ERR_TIMEOUT:
        return true;
    case AWS_ERR_SERVICE:
        return e->http_status >= 500 ||
               (aws_error_retryable(e, &throttling) && throttling);
    default:
        return false;
    }
}

/* Record the first error; the uploader is FAILED from now on. */
static void fail_locked(struct mpu *m, const struct aws_error *e)
{
    if (m->state == MPU_FAILED || m->state == MPU_ABORTED)
        return;
    m->err = *e;
    m->keep = m->opt.keep_on_network_failure && network_failure(e);
    m->state = MPU_FAILED;
    __atomic_store_n(&m->cancel, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&m->done);
}

static void fail(struct mpu *m, const struct aws_error *e)
{
    pthread_mutex_lock(&m->lock);
    fail_locked(m, e);
    pthread_mutex_unlock(&m->lock);
    pool_wake(m->sh);
}

/* -1 with the first error when the uploader can no longer take data. */
static int check_failed_locked(struct mpu *m, struct aws_error *err)
{
    if (m->state != MPU_FAILED && m->state != MPU_ABORTED && !m->cancel)
        return 0;
    if (m->err.kind == AWS_OK)
        aws_error_set(&m->err, AWS_ERR_ABORTED, "upload aborted");
    *err = m->err;
    return -1;
}

static int mpu_attach_pool(struct mpu *m)
{
    if (m->opt.shared) {
        m->sh = m->opt.shared;
    } else {
        m->sh = mpu_shared_new(m->opt.memory_budget, m->opt.concurrency, NULL);
        m->own_sh = m->sh != NULL;
    }
    if (!m->sh)
        return -1;
    pthread_mutex_lock(&m->sh->lock);
    m->sh->uploads++;
    pthread_mutex_unlock(&m->sh->lock);
    return 0;
}

struct mpu *mpu_new(struct aws_client *c, const char *bucket, const char *key,
                    const struct mpu_options *opt, struct aws_error *err)
{
    struct mpu *m = calloc(1, sizeof *m);
    if (!m) {
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    opts_default(&m->opt, opt);
    if (m->opt.shared && (!opt || opt->pool_parts < 1)) {
        m->slots_grow = m->opt.shared->grow.on;
        m->opt.pool_parts = (m->slots_grow ? MPU_GROW_THREADS
                                           : m->opt.shared->grow.threads_start) +
                            1;
    }
    m->c = c;
    m->bucket = strdup(bucket);
    m->key = strdup(key);
    m->slots = calloc((size_t)m->opt.pool_parts, sizeof *m->slots);
    for (int i = 0; m->slots && i < m->opt.pool_parts; i++) {
        m->slots[i].m = m;
        m->slots[i].fd = -1;
    }
    m->cur = -1;
    m->next_part = 1;
    m->state = MPU_IDLE;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->done, NULL);
    if (!m->bucket || !m->key || !m->slots || mpu_attach_pool(m) < 0) {
        mpu_free(m);
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return m;
}

/* ---- workers ------------------------------------------------------------ */

static bool part_error_retryable(const struct aws_error *e)
{
    bool throttling;
    switch (e->kind) {
    case AWS_ERR_NETWORK:
    case AWS_ERR_TIMEOUT:
    case AWS_ERR_INTEGRITY:
    case AWS_ERR_PARSE:
        return true;
    case AWS_ERR_SERVICE:
        return aws_error_retryable(e, &throttling) || e->http_status >= 500 ||
               strcmp(e->code, "BadDigest") == 0 ||
               strcmp(e->code, "XAmzContentSHA256Mismatch") == 0;
    default:
        return false;
    }
}

/* ---- resume: parts S3 already holds ------------------------------------- */

/* A part ETag that is the hex MD5 of its bytes (not SSE-KMS, not a copy). */
static bool plain_md5(const char *etag)
{
    size_t n = strlen(etag);
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((etag[i] >= '0' && etag[i] <= '9') ||
              (etag[i] >= 'a' && etag[i] <= 'f') ||
              (etag[i] >= 'A' && etag[i] <= 'F')))
            return false;
    return true;
}

/* Hex MD5 of the part's bytes (memory or its file); -1 on failure. */
static int slot_md5_hex(struct slot *s, char out[33])
{
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    unsigned char md[16], buf[1 << 16];
    unsigned len = 0;
    int rc = x && EVP_DigestInit_ex(x, EVP_md5(), NULL) ? 0 : -1;
    for (uint64_t off = 0; rc == 0 && off < s->len;) {
        size_t k = s->len - off < sizeof buf ? (size_t)(s->len - off)
                                             : sizeof buf;
        const void *p = s->data + off;
        if (s->fd >= 0) {
            ssize_t r = pread(s->fd, buf, k, (off_t)off);
            if (r <= 0) {
                rc = -1;
                break;
            }
            k = (size_t)r;
            p = buf;
        }
        rc = EVP_DigestUpdate(x, p, k) ? 0 : -1;
        off += k;
    }
    if (rc == 0 && !EVP_DigestFinal_ex(x, md, &len))
        rc = -1;
    EVP_MD_CTX_free(x);
    for (unsigned i = 0; rc == 0 && i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return rc;
}

static const struct s3_part *listed_part(const struct mpu *m, unsigned no)
{
    size_t lo = 0, hi = m->nrparts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((unsigned)m->rparts[mid].number == no)
            return &m->rparts[mid];
        if ((unsigned)m->rparts[mid].number < no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Does S3 already hold this part's bytes under its number (a resumed
 * upload)? Same size, and every digest S3 gives equal to ours: the CRC32C
 * when listed, the MD5 when the ETag is one; at least one of them. On yes
 * the listed ETag goes to etag (for Complete). */
static bool already_stored(struct mpu *m, struct slot *s, char *etag)
{
    const struct s3_part *p = m->nrparts ? listed_part(m, s->part_no) : NULL;
    char md5[33];
    bool checked = false;
    if (!p || p->size != s->len)
        return false;
    if (p->crc32c[0]) {
        if (strcmp(p->crc32c, s->crc_b64) != 0)
            return false;
        checked = true;
    }
    if (plain_md5(p->etag)) {
        if (slot_md5_hex(s, md5) < 0 || strcasecmp(md5, p->etag) != 0)
            return false;
        checked = true;
    }
    if (checked)
        memcpy(etag, p->etag, sizeof p->etag);
    return checked;
}

/* One part, `part_attempts` tries. The CRC is computed once: the bytes do
 * not change between tries. */
static int send_part(struct mpu *m, struct slot *s, char *etag,
                     struct aws_error *err)
{
    for (int attempt = 1;; attempt++) {
        if (put_slot(m, s, (int)s->part_no, etag, err) == 0)
            return 0;
        if (attempt >= m->opt.part_attempts || !part_error_retryable(err) ||
            is_cancelled(m))
            return -1;
        aws_log(aws_client_logger(m->c), AWS_LOG_WARN,
                "s3://%s/%s part %u: attempt %d failed (%s), retrying",
                m->bucket, m->key, s->part_no, attempt, err->code);
        struct timespec ts = {0, 100000000L * attempt};
        nanosleep(&ts, NULL);
    }
}

static void part_done_locked(struct mpu *m, struct slot *s, int rc,
                             const char *etag, const struct aws_error *e)
{
    m->inflight--;
    if (rc == 0) {
        struct s3_part *p = &m->parts[s->part_no - 1];
        p->number = (int)s->part_no;
        p->size = s->len;
        memcpy(p->etag, etag, sizeof p->etag);
        snprintf(p->crc32c, sizeof p->crc32c, "%s", s->crc_b64);
        m->sent += s->len;
        if (s->skipped) {
            m->rs.parts_skipped++;
            m->rs.bytes_skipped += s->len;
        } else {
            m->rs.parts_sent++;
        }
    } else {
        fail_locked(m, e);
    }
    slot_release(m, s);
    pthread_cond_broadcast(&m->done);
}

static void send_one(struct slot *s)
{
    struct mpu *m = s->m;
    char etag[72] = "";
    struct aws_error e;
    aws_error_clear(&e);
    int rc;
    s->skipped = false;
    if (is_cancelled(m)) {
        rc = aws_error_set(&e, AWS_ERR_ABORTED, "upload aborted");
    } else {
        slot_crc_final(s);
        s->skipped = already_stored(m, s, etag);
        rc = s->skipped ? 0 : send_part(m, s, etag, &e);
    }
    pthread_mutex_lock(&m->lock);
    part_done_locked(m, s, rc, etag, &e);
    pthread_mutex_unlock(&m->lock);
    if (rc < 0)
        pool_wake(m->sh);
}

/* A pool worker: pops parts of any upload. The popped slot moves from the
 * upload's `queued` to its `inflight` under the upload's lock, so the
 * upload (and the slot) stay alive until part_done. */
static void *worker(void *arg)
{
    struct mpu_shared *sh = arg;
    pthread_mutex_lock(&sh->lock);
    for (;;) {
        sh->idle++;
        while (!sh->qhead && !sh->stop)
            pthread_cond_wait(&sh->cond, &sh->lock);
        sh->idle--;
        if (!sh->qhead)
            break;
        struct slot *s = sh->qhead;
        sh->qhead = s->next;
        if (!sh->qhead)
            sh->qtail = NULL;
        s->next = NULL;
        pthread_mutex_unlock(&sh->lock);
        struct mpu *m = s->m;
        pthread_mutex_lock(&m->lock);
        m->queued--;
        m->inflight++;
        s->st = SLOT_SENDING;
        pthread_mutex_unlock(&m->lock);
        send_one(s);
        pthread_mutex_lock(&sh->lock);
    }
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

/* ---- writer side -------------------------------------------------------- */

/* A kept upload to continue (mpu_options.resume_claim): 1 when this
 * upload now continues it (its parts listed), 0 to create a new one (none
 * claimed, or the claimed one is gone), -1 with err (ListParts failed). */
static int resume_upload(struct mpu *m, struct aws_error *err)
{
    char id[sizeof m->upload_id];
    struct s3_part *parts = NULL;
    size_t n = 0;
    const struct aws_logger *lg = aws_client_logger(m->c);
    if (!m->opt.resume_claim ||
        m->opt.resume_claim(m->opt.resume_ctx, id, sizeof id) != 1 || !id[0])
        return 0;
    pthread_mutex_lock(&m->lock);
    m->rs.claimed = true;
    pthread_mutex_unlock(&m->lock);
    if (s3_mpu_list_parts(m->c, m->bucket, m->key, id, &parts, &n, err) < 0) {
        free(parts);
        if (strcmp(err->code, "NoSuchUpload") != 0 && err->http_status != 404)
            return -1;
        aws_log(lg, AWS_LOG_WARN, "s3://%s/%s: the kept upload %s is gone; "
                "starting over", m->bucket, m->key, id);
        aws_error_clear(err);
        return 0;
    }
    pthread_mutex_lock(&m->lock);
    memcpy(m->upload_id, id, sizeof id);
    m->rparts = parts;
    m->nrparts = n;
    m->rs.resumed = true;
    m->rs.parts_listed = (unsigned)n;
    pthread_mutex_unlock(&m->lock);
    aws_log(lg, AWS_LOG_INFO, "s3://%s/%s: resuming upload %s; S3 holds %zu "
            "parts", m->bucket, m->key, id, n);
    return 1;
}

/* Create the multipart upload (first full part). */
static int start_upload(struct mpu *m, struct aws_error *err)
{
    char id[sizeof m->upload_id];
    pthread_mutex_lock(&m->lock);
    m->creating = true;
    pthread_mutex_unlock(&m->lock);
    int rc = resume_upload(m, err);
    if (rc == 0)
        rc = s3_mpu_create_crc32c(m->c, m->bucket, m->key, id, sizeof id,
                                  err);
    else if (rc == 1)
        rc = 0;
    else
        rc = -1;
    pthread_mutex_lock(&m->lock);
    m->creating = false;
    if (rc == 0 && m->rs.resumed) {
        m->state = MPU_UPLOADING; /* the id is the claimed upload's */
    } else if (rc == 0) {
        memcpy(m->upload_id, id, sizeof id);
        m->state = MPU_UPLOADING;
    } else {
        fail_locked(m, err);
    }
    rc = check_failed_locked(m, err); /* also catches an abort meanwhile */
    pthread_cond_broadcast(&m->done);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Queue the writer's slot for upload. */
static int dispatch(struct mpu *m, struct aws_error *err)
{
    pthread_mutex_lock(&m->lock);
    bool idle = m->state == MPU_IDLE;
    pthread_mutex_unlock(&m->lock);
    if (idle && start_upload(m, err) < 0)
        return -1;
    struct slot *s = &m->slots[m->cur];
    pthread_mutex_lock(&m->lock);
    int rc = check_failed_locked(m, err);
    if (rc == 0) {
        s->st = SLOT_QUEUED;
        m->queued++;
        if (s->part_no > m->nparts)
            m->nparts = s->part_no;
        m->cur = -1;
        if (pool_enqueue_locked(m->sh, s) < 0) {
            aws_error_set(err, AWS_ERR_NOMEM, "cannot start upload threads");
            fail_locked(m, err);
            rc = -1;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int grow_parts_locked(struct mpu *m, unsigned part_no)
{
    if (part_no <= m->parts_cap)
        return 0;
    size_t cap = m->parts_cap ? m->parts_cap * 2 : 64;
    if (cap > MPU_MAX_PARTS)
        cap = MPU_MAX_PARTS;
    struct s3_part *p = realloc(m->parts, cap * sizeof *p);
    if (!p)
        return -1;
    memset(p + m->parts_cap, 0, (cap - m->parts_cap) * sizeof *p);
    m->parts = p;
    m->parts_cap = cap;
    return 0;
}

/* The slots a writer may use: the pool's workers + 1 (one filling while
 * each worker sends one), as many as the workers grow to. */
static int slot_limit(struct mpu *m)
{
    if (!m->slots_grow)
        return m->opt.pool_parts;
    int n = __atomic_load_n(&m->sh->max_threads, __ATOMIC_RELAXED) + 1;
    return n < m->opt.pool_parts ? n : m->opt.pool_parts;
}

/* Wait for a free slot of this upload. Returns its index or -1. */
static int free_slot(struct mpu *m, struct aws_error *err)
{
    struct aws_error e;
    pthread_mutex_lock(&m->lock);
    int idx = -1;
    while (check_failed_locked(m, err) == 0) {
        int lim = slot_limit(m);
        for (int i = 0; i < lim && idx < 0; i++)
            if (m->slots[i].st == SLOT_FREE)
                idx = i;
        if (idx >= 0)
            break;
        pthread_cond_wait(&m->done, &m->lock);
    }
    if (idx >= 0 && grow_parts_locked(m, m->next_part) < 0) {
        aws_error_set(&e, AWS_ERR_NOMEM, "out of memory");
        fail_locked(m, &e);
        check_failed_locked(m, err);
        idx = -1;
    }
    if (idx >= 0)
        m->slots[idx].st = SLOT_FILLING;
    pthread_mutex_unlock(&m->lock);
    return idx;
}

/* Make a free slot the writer's, for the next part: its budget (or spill
 * place) is reserved before any byte is copied. */
static int acquire(struct mpu *m, struct aws_error *err)
{
    struct aws_error e;
    if (m->next_part > MPU_MAX_PARTS) {
        aws_error_set(&e, AWS_ERR_TOO_LARGE, "more than 10000 parts");
        fail(m, &e);
    }
    int idx = free_slot(m, err);
    if (idx < 0)
        return -1;
    struct slot *s = &m->slots[idx];
    s->part_no = m->next_part++;
    s->want = mpu_part_size(s->part_no, m->opt.part_size,
                            m->opt.max_object_size);
    s->len = 0;
    m->cur = idx;
    bool spill = !mpu_part_in_memory(s->want, m->sh->grow.start);
    void *parked;
    int rc = pool_reserve(m, s->want, spill, &parked);
    if (parked) {
        s->data = parked;
        s->cap = s->reserved = s->want; /* mapped, budget held */
        return 0;
    }
    if (rc == 1)
        spill = true; /* staged in a file: the budget is stuck */
    if (rc < 0) {
        pthread_mutex_lock(&m->lock);
        s->st = SLOT_FREE;
        m->cur = -1;
        check_failed_locked(m, err);
        pthread_mutex_unlock(&m->lock);
        return -1;
    }
    if (spill)
        return slot_spill_open(m, s, err) < 0 ? (fail(m, err), -1) : 0;
    s->reserved = s->want;
    return 0;
}

/* A part that reaches 1 MiB (one FUSE write) is a big one: map its whole
 * size at once with transparent huge pages, so filling 8 MiB costs 4 page
 * faults instead of 2048 (faults were a quarter of the daemon's CPU:
 * doc/design/perf.md). The bytes so far (< 1 MiB) are copied over once. */
static void *huge_part(struct slot *s, size_t cap)
{
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return p;
    madvise(p, cap, MADV_HUGEPAGE); /* a hint: failure only costs faults */
    if (s->data) {
        memcpy(p, s->data, s->len);
        munmap(s->data, s->cap);
        s->data = NULL;
    }
    return p;
}

/* Room for `need` bytes in the writer's memory slot. The buffer grows with
 * the data (the whole part is already reserved), so a small file touches
 * little memory. */
static int reserve(struct mpu *m, struct slot *s, size_t need,
                   struct aws_error *err)
{
    if (need <= s->cap)
        return 0;
    size_t cap = s->cap * 2 > need ? s->cap * 2 : need;
    if (cap < MPU_FIRST_GROWTH)
        cap = MPU_FIRST_GROWTH;
    if (cap > s->want)
        cap = s->want;
    /* Straight from the kernel, not malloc: a freed part goes back at once
     * (glibc would keep big freed chunks in its per-thread arenas, and RSS
     * would outgrow the budget). */
    bool huge = cap >= MPU_HUGE_FROM && cap < s->want;
    if (huge)
        cap = s->want;
    void *p = huge      ? huge_part(s, cap)
              : s->data ? mremap(s->data, s->cap, cap, MREMAP_MAYMOVE)
                        : mmap(NULL, cap, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory for a part buffer");
        fail(m, err);
        return -1;
    }
    s->data = p;
    s->cap = cap;
    return 0;
}

static int writer_fail(struct mpu *m, struct aws_error *err)
{
    mpu_abort(m);
    pthread_mutex_lock(&m->lock);
    check_failed_locked(m, err);
    pthread_mutex_unlock(&m->lock);
    return -1;
}

static int too_large(struct mpu *m, uint64_t n, struct aws_error *err)
{
    struct aws_error e;
    if (m->written + n <= m->opt.max_object_size)
        return 0;
    aws_error_set(&e, AWS_ERR_TOO_LARGE,
                  "object larger than the maximum of %llu bytes",
                  (unsigned long long)m->opt.max_object_size);
    fail(m, &e);
    return writer_fail(m, err);
}

/* Copy k bytes into the writer's slot (memory or its file). */
static int fill(struct mpu *m, struct slot *s, const char *p, size_t k,
                struct aws_error *err)
{
    if (s->fd >= 0) {
        if (spill_write(s, p, k, err) < 0) {
            fail(m, err);
            return -1;
        }
    } else {
        if (reserve(m, s, s->len + k, err) < 0)
            return -1;
        memcpy(s->data + s->len, p, k);
    }
    s->len += k;
    return 0;
}

/* The writer's slot of an aborted upload gives its budget back at once: a
 * refused import stays listed (its status), and a part half filled must not
 * hold the mount's memory until the job is freed. The writer's own calls
 * are bracketed so that an abort from another thread never frees the slot
 * the writer is copying into; the writer frees it on its way out. */
static void writer_enter(struct mpu *m)
{
    pthread_mutex_lock(&m->lock);
    m->writing = true;
    pthread_mutex_unlock(&m->lock);
}

static void release_cur_locked(struct mpu *m)
{
    if (m->cur >= 0 && m->cancel) {
        slot_release(m, &m->slots[m->cur]);
        m->cur = -1;
    }
}

static int writer_leave(struct mpu *m, int rc)
{
    pthread_mutex_lock(&m->lock);
    m->writing = false;
    release_cur_locked(m);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int write_body(struct mpu *m, const void *data, size_t n,
                      struct aws_error *err)
{
    const char *p = data;
    pthread_mutex_lock(&m->lock);
    bool failed = check_failed_locked(m, err) < 0;
    bool late = m->state != MPU_IDLE && m->state != MPU_UPLOADING;
    pthread_mutex_unlock(&m->lock);
    if (failed)
        return writer_fail(m, err);
    if (late)
        return aws_error_set(err, AWS_ERR_INVALID, "write after finish");
    if (too_large(m, n, err) < 0)
        return -1;
    while (n) {
        if (m->cur >= 0 && m->slots[m->cur].len == m->slots[m->cur].want &&
            dispatch(m, err) < 0)
            return writer_fail(m, err);
        if (m->cur < 0 && acquire(m, err) < 0)
            return writer_fail(m, err);
        struct slot *s = &m->slots[m->cur];
        size_t k = s->want - s->len < n ? s->want - s->len : n;
        if (fill(m, s, p, k, err) < 0)
            return writer_fail(m, err);
        p += k;
        n -= k;
        __atomic_add_fetch(&m->written, k, __ATOMIC_RELAXED);
    }
    return 0;
}

int mpu_write(struct mpu *m, const void *data, size_t n,
              struct aws_error *err)
{
    writer_enter(m);
    return writer_leave(m, write_body(m, data, n, err));
}

/* Nothing was big enough for a multipart upload: one PutObject. */
static int finish_single(struct mpu *m, struct aws_error *err)
{
    struct slot empty = {.m = m, .fd = -1, .data = NULL};
    struct slot *s = m->cur >= 0 ? &m->slots[m->cur] : &empty;
    char etag[72] = "";
    pthread_mutex_lock(&m->lock);
    m->state = MPU_COMPLETING;
    pthread_mutex_unlock(&m->lock);
    slot_crc_final(s);
    int rc = put_slot(m, s, 0, etag, err);
    pthread_mutex_lock(&m->lock);
    if (rc == 0) {
        m->state = MPU_DONE;
        m->sent = s->len;
        m->crc = s->crc;
        memcpy(m->etag, etag, sizeof etag);
    } else {
        fail_locked(m, err);
        m->state = MPU_ABORTED; /* nothing was created, nothing to abort */
        m->remote_done = true;
    }
    if (m->cur >= 0) {
        slot_release(m, s);
        m->cur = -1;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Wait until none of this upload's parts is queued or being sent. */
static void wait_parts_locked(struct mpu *m)
{
    while (m->queued || m->inflight)
        pthread_cond_wait(&m->done, &m->lock);
}

/* The object's CRC32C, combined from its parts' (no byte is read again):
 * S3 checks it against what it assembled before publishing. */
static int full_crc(struct mpu *m, char out[AWS_CRC32C_B64],
                    struct aws_error *err)
{
    uint32_t all = 0, one;

    for (unsigned i = 0; i < m->nparts; i++) {
        if (aws_crc32c_parse_b64(m->parts[i].crc32c, &one) < 0)
            return aws_error_set(err, AWS_ERR_INTEGRITY,
                                 "part %u has no checksum", i + 1);
        all = aws_crc32c_combine(all, one, m->parts[i].size);
    }
    m->crc = all;
    aws_crc32c_b64(all, out);
    return 0;
}

/* The owner's last word before publishing (mpu_options.may_complete). */
static int caller_gone(struct mpu *m, struct aws_error *err)
{
    if (!m->opt.may_complete || !m->opt.may_complete(m->opt.may_complete_ctx))
        return 0;
    aws_error_set(err, AWS_ERR_ABORTED, "the writer was killed while its "
                  "close() waited; not completed");
    return -1;
}

static int finish_multipart(struct mpu *m, struct aws_error *err)
{
    char etag[72] = "";
    if (m->cur >= 0 && dispatch(m, err) < 0)
        return writer_fail(m, err);
    pthread_mutex_lock(&m->lock);
    if (m->state == MPU_UPLOADING)
        m->state = MPU_COMPLETING;
    while ((m->queued || m->inflight) && !m->cancel)
        pthread_cond_wait(&m->done, &m->lock);
    int rc = check_failed_locked(m, err);
    pthread_mutex_unlock(&m->lock);
    if (rc == 0 && caller_gone(m, err) < 0) {
        fail(m, err);
        rc = -1;
    }
    if (rc < 0)
        return writer_fail(m, err);
    /* A lost answer retried into NoSuchUpload is settled by s3_mpu_complete
     * with a HEAD against the multipart ETag of m->parts. */
    char full[AWS_CRC32C_B64];
    if (full_crc(m, full, err) < 0 ||
        s3_mpu_complete_crc32c(m->c, m->bucket, m->key, m->upload_id,
                               m->parts, m->nparts, full, etag, err) < 0) {
        fail(m, err);
        return writer_fail(m, err);
    }
    pthread_mutex_lock(&m->lock);
    m->state = MPU_DONE;
    memcpy(m->etag, etag, sizeof etag);
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int finish_body(struct mpu *m, char *etag_out, struct aws_error *err)
{
    pthread_mutex_lock(&m->lock);
    enum mpu_state st = m->state;
    int rc = st == MPU_DONE ? 0 : check_failed_locked(m, err);
    pthread_mutex_unlock(&m->lock);
    if (rc < 0)
        return writer_fail(m, err);
    if (st == MPU_IDLE && caller_gone(m, err) < 0) {
        fail(m, err);
        return writer_fail(m, err);
    }
    if (st == MPU_IDLE)
        rc = finish_single(m, err);
    else if (st != MPU_DONE)
        rc = finish_multipart(m, err);
    if (rc == 0 && etag_out)
        memcpy(etag_out, m->etag, sizeof m->etag);
    return rc;
}

int mpu_finish(struct mpu *m, char *etag_out, struct aws_error *err)
{
    writer_enter(m);
    return writer_leave(m, finish_body(m, etag_out, err));
}

/* ---- abort, free, getters ----------------------------------------------- */

/* Drop this upload's queued parts (they give back budget at once). */
static void drain_queue_locked(struct mpu *m)
{
    struct slot *s = pool_unqueue_locked(m->sh, m);
    while (s) {
        struct slot *next = s->next;
        s->next = NULL;
        m->queued--;
        slot_release(m, s);
        s = next;
    }
    pthread_cond_broadcast(&m->done);
}

/* AbortMultipartUpload, a few times: a failure here leaves an upload
 * behind, the one outcome the contract rules out. */
static bool remote_abort(struct mpu *m, const char *id)
{
    struct aws_error e;
    for (int attempt = 1; attempt <= 3; attempt++) {
        if (s3_mpu_abort(m->c, m->bucket, m->key, id, &e) == 0)
            return true;
        char line[256];
        aws_error_format(&e, line, sizeof line);
        aws_log(aws_client_logger(m->c), AWS_LOG_ERROR,
                "s3://%s/%s: abort of upload failed (attempt %d): %s",
                m->bucket, m->key, attempt, line);
    }
    return false;
}

void mpu_abort(struct mpu *m)
{
    char id[sizeof m->upload_id];
    struct aws_error e;
    pthread_mutex_lock(&m->lock);
    if (m->state == MPU_DONE || m->state == MPU_ABORTED ||
        (m->state == MPU_FAILED && m->remote_done && !m->inflight &&
         !m->queued && !m->creating)) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    aws_error_set(&e, AWS_ERR_ABORTED, "upload aborted");
    fail_locked(m, &e); /* keeps an earlier, real error */
    __atomic_store_n(&m->cancel, true, __ATOMIC_RELEASE);
    pool_wake(m->sh);   /* a writer waiting for budget gives up */
    drain_queue_locked(m);
    while (m->inflight || m->queued || m->creating)
        pthread_cond_wait(&m->done, &m->lock);
    if (!m->writing)
        release_cur_locked(m); /* else the writer does on its way out */
    bool mine = !m->remote_done;
    m->remote_done = true;
    memcpy(id, m->upload_id, sizeof id);
    bool keep = mine && id[0] && m->keep;
    pthread_mutex_unlock(&m->lock);
    if (keep)
        aws_log(aws_client_logger(m->c), AWS_LOG_WARN,
                "s3://%s/%s: upload %s kept for resume (the network failed)",
                m->bucket, m->key, id);
    bool gone = !(mine && id[0]) || keep || remote_abort(m, id);
    pthread_mutex_lock(&m->lock);
    /* FAILED when AbortMultipartUpload itself failed: an upload may be
     * left, and the caller may want to record it for a later attempt.
     * FAILED and kept: left on purpose, for a resume. */
    m->kept = keep;
    m->state = gone && !keep ? MPU_ABORTED : MPU_FAILED;
    pthread_cond_broadcast(&m->done);
    pthread_mutex_unlock(&m->lock);
}

/* The last upload of a pool unmaps the parked buffers: an idle mount
 * holds no part memory. */
static void pool_detach(struct mpu *m)
{
    if (!m->sh)
        return;
    if (m->own_sh) {
        mpu_shared_free(m->sh);
        return;
    }
    pthread_mutex_lock(&m->sh->lock);
    if (--m->sh->uploads == 0) {
        unpark_all_locked(m->sh);
        grow_reset_locked(m->sh); /* the next upload measures afresh */
    }
    pthread_mutex_unlock(&m->sh->lock);
}

void mpu_free(struct mpu *m)
{
    if (!m)
        return;
    if (m->slots && m->sh)
        mpu_abort(m);
    pthread_mutex_lock(&m->lock);
    if (m->sh)
        wait_parts_locked(m);
    for (int i = 0; m->slots && i < m->opt.pool_parts; i++)
        if (m->slots[i].st != SLOT_FREE || m->slots[i].data ||
            m->slots[i].fd >= 0)
            slot_release(m, &m->slots[i]);
    pthread_mutex_unlock(&m->lock);
    pool_detach(m);
    free(m->slots);
    free(m->parts);
    free(m->rparts);
    free(m->bucket);
    free(m->key);
    pthread_cond_destroy(&m->done);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

enum mpu_state mpu_state(const struct mpu *m)
{
    struct mpu *mm = (struct mpu *)m; /* the lock is not part of the value */
    pthread_mutex_lock(&mm->lock);
    enum mpu_state s = m->state;
    pthread_mutex_unlock(&mm->lock);
    return s;
}

uint64_t mpu_bytes_written(const struct mpu *m)
{
    return __atomic_load_n(&m->written, __ATOMIC_RELAXED);
}

uint64_t mpu_bytes_sent(const struct mpu *m)
{
    struct mpu *mm = (struct mpu *)m;
    pthread_mutex_lock(&mm->lock);
    uint64_t s = m->sent;
    pthread_mutex_unlock(&mm->lock);
    return s;
}

void mpu_error(const struct mpu *m, struct aws_error *out)
{
    struct mpu *mm = (struct mpu *)m;
    pthread_mutex_lock(&mm->lock);
    *out = m->err;
    pthread_mutex_unlock(&mm->lock);
}

void mpu_upload_id(const struct mpu *m, char *out, size_t n)
{
    struct mpu *mm = (struct mpu *)m;
    if (!n)
        return;
    pthread_mutex_lock(&mm->lock);
    size_t l = strlen(m->upload_id);
    if (l >= n)
        l = n - 1;
    memcpy(out, m->upload_id, l);
    out[l] = '\0';
    pthread_mutex_unlock(&mm->lock);
}

/* The object's CRC32C (what S3 verified) once DONE. */
int mpu_crc32c(const struct mpu *m, uint32_t *out)
{
    struct mpu *mm = (struct mpu *)m;
    pthread_mutex_lock(&mm->lock);
    int rc = m->state == MPU_DONE ? 0 : -1;
    *out = m->crc;
    pthread_mutex_unlock(&mm->lock);
    return rc;
}

bool mpu_kept(const struct mpu *m)
{
    struct mpu *mm = (struct mpu *)m;
    pthread_mutex_lock(&mm->lock);
    bool k = m->kept;
    pthread_mutex_unlock(&mm->lock);
    return k;
}

size_t mpu_first_part_size(const struct mpu *m)
{
    return m->opt.part_size;
}

void mpu_resume_stats(const struct mpu *m, struct mpu_resume_stats *out)
{
    struct mpu *mm = (struct mpu *)m;
    pthread_mutex_lock(&mm->lock);
    *out = m->rs;
    pthread_mutex_unlock(&mm->lock);
}
