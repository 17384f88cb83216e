/*
 * internal.h — the pieces of ova/ behind ova.h. Not for use outside ova/.
 *
 *   validator.c  life cycle, feed() into the ring buffer, single-disk
 *                dispatch
 *   base.c       the bottom of ova/, calling nothing else in it: strings,
 *                verdict_set, ova_refuse (the first verdict wins), the
 *                ring's reading end (ova_ring_lend) and the cancel flag
 *   disk.c       sniffing the head/tail of a disk stream; VMDK, VHD, VHDX
 *                and RAW header checks (pure functions of the bytes)
 *   ovf.c        the OVF descriptor through expat (no DTD, no entities)
 *   manifest.c   `.mf` lines → expected digests
 *   archive.c    the OVA thread: libarchive over the ring, member rules,
 *                digests, the end-of-stream checks
 *   render.c     facts + verdict → JSON / text; ova_inspect_file()
 *
 * Verdicts travel as a `struct ova_verdict` filled by whoever found the
 * problem; the validator keeps the first one it is given.
 *
 * Threads: the writer's thread calls feed() and finish(); the OVA thread
 * (archive.c) reads the ring and runs every check of a member as its bytes
 * pass. The ring's mutex guards the ring, the verdict and the facts; the
 * two condition variables wake the OVA thread when bytes arrive and the
 * feeder when room is free or the thread went idle. Cancel wakes both and
 * makes every later wait return at once, so neither side can block rm,
 * unmount or SIGTERM.
 *
 * Cost: every check is bounded by the bytes that arrive. Members are never
 * expanded (a sparse member is refused at its header), digests run once
 * over the bytes as they pass, and the OVF descriptor and manifest are
 * parsed under fixed size limits (the constants below).
 */
#ifndef AMIFS_OVA_INTERNAL_H
#define AMIFS_OVA_INTERNAL_H

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ova/ova.h"

/* ---- verdicts ---------------------------------------------------------- */

struct ova_verdict {
    char code[32];      /* "" = no refusal */
    char reason[512];
};

/* Fill vd with code and a printf-style reason (truncated to fit). */
void verdict_set(struct ova_verdict *vd, const char *code, const char *fmt,
                 ...) __attribute__((format(printf, 3, 4)));

/* Copy s into dst (size dsz > 0) always NUL-terminating, truncating. */
void ova_strlcpy(char *dst, const char *s, size_t dsz);

/* Case-insensitive "s ends with suffix". */
bool ova_ends_with(const char *s, const char *suffix);

/* ---- disk sniffing (disk.c) -------------------------------------------- */

#define SNIFF_HEAD (64u * 1024u)
#define SNIFF_TAIL 4096u

/* The first SNIFF_HEAD and the last SNIFF_TAIL bytes of a stream. */
struct sniff {
    unsigned char head[SNIFF_HEAD];
    size_t head_len;
    unsigned char tail[SNIFF_TAIL];   /* ring; tail_pos = next write */
    size_t tail_pos;
    uint64_t total;
};

void sniff_reset(struct sniff *s);
void sniff_push(struct sniff *s, const unsigned char *p, size_t n);
/* Copy the last n bytes (n <= SNIFF_TAIL and n <= total) in order. */
void sniff_last(const struct sniff *s, unsigned char *out, size_t n);

enum disk_step { DISK_MORE, DISK_OK, DISK_BAD };

/* Judge the start of a disk of the given kind from s->head. at_end: no more
 * bytes will come. DISK_MORE when it cannot tell yet. Fills df (format,
 * subformat, capacity) and, on DISK_BAD, vd. label names the disk in
 * reasons ("the VMDK", "disk 'a.vmdk'"). */
enum disk_step disk_check_head(enum ova_kind kind, const struct sniff *s,
                               bool at_end, struct ova_disk_facts *df,
                               char *firmware, size_t fwsz,
                               struct ova_verdict *vd, const char *label);

/* Judge the end of the stream (trailers: VMDK footer/EOS, VHD footer,
 * sizes). Call after disk_check_head said DISK_OK. */
enum disk_step disk_check_end(enum ova_kind kind, const struct sniff *s,
                              struct ova_disk_facts *df,
                              struct ova_verdict *vd, const char *label);

/* The VHD footer checksum rule, exposed for tests: 1 valid, 0 not. */
int vhd_footer_valid(const unsigned char footer[512]);

/* ---- OVF descriptor (ovf.c) -------------------------------------------- */

struct ovf_file {
    char id[64];
    char href[256];
    uint64_t size;          /* ovf:size, valid when has_size */
    bool has_size;
    bool chunked;           /* ovf:chunkSize present */
};

struct ovf_disk {
    char id[64];
    char file_ref[64];      /* "" = a blank disk made at deploy time */
    uint64_t capacity;      /* bytes, 0 unknown */
    char format[160];
};

struct ovf_device {         /* CD-ROM (15, 16) or floppy (14) items */
    int type;
    char name[64];          /* rasd:ElementName */
    char host[256];         /* rasd:HostResource, "" when none */
};

#define OVF_MAX_FILES 256
#define OVF_MAX_DISKS 64
#define OVF_MAX_DEVICES 64

struct ovf_desc {
    struct ovf_file files[OVF_MAX_FILES];
    size_t nfiles;
    struct ovf_disk disks[OVF_MAX_DISKS];
    size_t ndisks;
    struct ovf_device devs[OVF_MAX_DEVICES];
    size_t ndevs;
    unsigned disk_items;    /* ResourceType 17 items */
    int os_id;              /* -1 none */
    char os_type[64];
    char os_desc[128];
    char firmware[8];       /* "efi" when the OVF says so, else "bios" */
};

struct ovf_parser;

/* A parser filling d (which it resets). NULL when out of memory. */
struct ovf_parser *ovf_parser_new(struct ovf_desc *d);
/* Feed descriptor bytes; final on the last call. 0 ok, -1 refused (vd). */
int ovf_parser_feed(struct ovf_parser *p, const void *buf, size_t n,
                    bool final, struct ova_verdict *vd);
void ovf_parser_free(struct ovf_parser *p);

/* Rules on the whole descriptor: disk count and capacity, chunked files,
 * fileRefs that resolve. 0 ok, -1 refused (vd). */
int ovf_desc_check(const struct ovf_desc *d, struct ova_verdict *vd);

/* Lookups; NULL when absent. */
const struct ovf_file *ovf_file_by_href(const struct ovf_desc *d,
                                        const char *href);
const struct ovf_file *ovf_file_by_id(const struct ovf_desc *d,
                                      const char *id);
/* The disk whose fileRef names file id, or NULL. */
const struct ovf_disk *ovf_disk_by_file(const struct ovf_desc *d,
                                        const char *file_id);

/* ---- manifest (manifest.c) --------------------------------------------- */

enum { MF_SHA1 = 1, MF_SHA256 = 2, MF_SHA512 = 4 };

struct mf_entry {
    char name[256];
    int alg;                     /* one MF_* */
    unsigned char digest[64];
    size_t dlen;
    bool matched;
    bool late;                   /* its member passed before the manifest,
                                    unhashed: checked by reading it back
                                    (ova_validator_verify_late, late.c) */
};

#define MF_MAX_ENTRIES 256
#define MF_MAX_SIZE (1u << 20)

struct manifest {
    struct mf_entry e[MF_MAX_ENTRIES];
    size_t n;
    int algs;                    /* OR of the MF_* used */
};

/* Parse `ALG(name)= hex` lines (SHA1, SHA256, SHA512; blank lines and CRLF
 * allowed). 0 ok, -1 refused (vd, code "bad-manifest"). */
int manifest_parse(struct manifest *m, const char *text, size_t len,
                   struct ova_verdict *vd);
/* The entry for name, or NULL. */
struct mf_entry *manifest_find(struct manifest *m, const char *name);
/* "SHA1", "SHA256", "SHA512". */
const char *manifest_alg_name(int alg);
/* The OpenSSL digest of one MF_* algorithm (never NULL for a valid one). */
const EVP_MD *manifest_md(int alg);

/* ---- the validator ----------------------------------------------------- */

/* The ring holds eight 1 MiB FUSE writes and the OVA thread reads up to
 * 2 MiB at once. It carries tar headers, the descriptor and manifest, the
 * heads of disks and what a manifest has hashed; the rest of a member is
 * skipped (ova_ring_skip: feed() drops it without a copy). Its size
 * absorbs the wait for the thread's turn on a busy box (with 2 MiB, every
 * write waited for it: imports/ at 0.7x buckets/ under load). Cost: 8 MiB
 * per OVA being copied, touched as it fills. doc/design/perf.md. */
#define OVA_RING_SIZE (8192u * 1024u)
#define OVA_LEND_MAX (2048u * 1024u)
#define OVA_BLOCK_SIZE (64u * 1024u)

struct ova_validator {
    enum ova_kind kind;
    struct ova_facts facts;

    /* verdict: written once under mu, then read-only */
    pthread_mutex_t mu;
    pthread_cond_t data_cv;      /* the thread waits for bytes */
    pthread_cond_t space_cv;     /* feeders wait for room / idleness */
    bool refused;
    struct ova_verdict verdict;
    bool finished;               /* finish() has run */
    int finish_rc;

    /* single disks (feeder thread only) */
    struct sniff *sniff;
    enum disk_step head_step;

    /* OVA ring (under mu) */
    unsigned char *ring;
    size_t ring_head, ring_len;
    size_t ring_lent;          /* bytes at ring_head the OVA thread reads in
                                  place (ova_ring_lend); still in ring_len */
    /* Skipping (ova_ring_skip): stream offsets. ring_off is that of the
     * byte at ring_head, in_off that of the next byte fed. Bytes before
     * drop_to are not copied into the ring but dropped as they arrive;
     * those in [keep_from, keep_to) are first saved into keep[] (a disk's
     * last SNIFF_TAIL bytes, for its trailer checks). */
    uint64_t ring_off, in_off, drop_to, keep_from, keep_to;
    unsigned char keep[SNIFF_TAIL];
    bool eof, abort, idle, exited;
    bool cancel_flag;          /* ova_validator_cancel; read lock-free */
    bool thread_started;
    pthread_t thread;
    struct ova_archive *arc;     /* thread state, archive.c */
};

/* Record a refusal (first one wins) and wake everyone. Thread-safe. */
void ova_refuse(struct ova_validator *v, const struct ova_verdict *vd);

/* The OVA thread (archive.c). lend: point *out at up to max bytes of the
 * ring, blocking until there are some; >0 bytes, 0 end of stream, -1
 * aborted. The bytes are read in place (no copy) and stay the thread's
 * until its next call, which gives them back to the writer — libarchive's
 * contract for a read callback's buffer. */
struct ova_archive *ova_archive_new(void);
void ova_archive_free(struct ova_archive *arc);
void *ova_archive_main(void *validator);
long ova_ring_lend(struct ova_validator *v, const unsigned char **out,
                   size_t max);
/* Skip the next `request` bytes of the stream (libarchive's skip
 * callback): those in the ring are dropped from it, the rest are dropped
 * by feed() as they arrive, without a copy. Returns request, or 0 when
 * aborted (then libarchive's next read fails). */
int64_t ova_ring_skip(struct ova_validator *v, int64_t request);
/* Save the stream's bytes [from, to) (at most SNIFF_TAIL) into v->keep
 * while they are skipped. Call before the skip that covers them. */
void ova_ring_keep(struct ova_validator *v, uint64_t from, uint64_t to);
/* Wait until the stream has passed offset `off` (feed() went beyond it),
 * then copy v->keep into out (SNIFF_TAIL bytes). 0, 1 when the stream
 * ended before (*at = where), -1 aborted or refused. */
int ova_ring_wait_kept(struct ova_validator *v, uint64_t off,
                       unsigned char *out, uint64_t *at);
/* feed(): bytes p[0..n) at stream offset off are being dropped; keep
 * what falls into the keep window. Lock held. */
void ova_ring_keep_save(struct ova_validator *v, uint64_t off,
                        const unsigned char *p, size_t n);
/* True once ova_validator_cancel() ran (any thread, no lock). */
bool ova_cancelled(const struct ova_validator *v);

/* The embedded descriptor of a VMDK: sectors [doff, doff+dsz) of the
 * header, clipped to the `held` bytes of it we keep. Sets *start and *len
 * (bytes, within [0, held]); false when there is none. Overflow-safe for
 * any doff/dsz a header may carry. */
bool vmdk_desc_span(uint64_t doff, uint64_t dsz, size_t held, size_t *start,
                    size_t *len);

/* End-of-stream checks, after the thread has exited. 0 ok, -1 refused. */
int ova_archive_finish(struct ova_validator *v);

/* A manifest line whose member passed before the manifest (so it was not
 * hashed): where the member's bytes lie in the stream, and what to
 * compare. `matched` points at the entry's flag. */
struct ova_late {
    const char *name;
    uint64_t offset, size;
    int alg;
    const unsigned char *digest;
    size_t dlen;
    bool *matched;
};
/* The i-th such line (archive.c), in manifest order; false past the last.
 * Only after finish() accepted (the thread has exited). */
bool ova_archive_late(struct ova_validator *v, size_t i, struct ova_late *out);

#endif
