/*
 * ova.h — the streaming image validator: bytes in, a verdict and facts out.
 *
 * amifs tees every byte copied into imports/ into a validator while the same
 * bytes go to S3, so a bad image fails the copy at the write() that revealed
 * the problem instead of an hour later in VM Import. Nothing here knows about
 * AWS or FUSE; the validator is usable from any C program (see ova-inspect).
 *
 * Life cycle (one validator per file, one feeding thread at a time):
 *
 *   v = ova_validator_new(ova_kind_from_name(name));
 *   while (bytes)  if (ova_validator_feed(v, p, n) < 0) -> refused, stop;
 *   if (ova_validator_finish(v) < 0) -> refused;
 *   ova_validator_reason(v) / _code(v) / _facts(v) / _json(v) / _text(v);
 *   ova_validator_free(v);
 *
 * Memory is bounded whatever the size of the image: for an OVA an 8 MiB
 * ring (touched as it fills), under 1 MiB of state and the OVF descriptor,
 * capped at 4 MiB; for a single disk 68 KiB. For an OVA the tar
 * is read by libarchive on a validator thread fed through a bounded ring
 * buffer: feed() copies the bytes into the ring and returns at once unless
 * the ring is full (then it waits for the thread: back-pressure); the
 * middle of a member nothing needs to read (no digest asked for, a disk's
 * head already judged) is skipped: feed() drops it without a copy. So a
 * refusal found by the thread shows up on a *later* feed() (or finish());
 * ova_validator_sync() waits until the thread has looked at every byte fed
 * so far, for callers (tests) that need the verdict to be current.
 * Single disks (VMDK, VHD, VHDX, RAW) are checked inline in feed(): they keep
 * the first 64 KiB and the last 4 KiB as they pass.
 *
 * Verdicts are sticky: after the first refusal every feed()/finish() returns
 * -1 and reason/code never change. The reason is one English sentence that
 * names the offending member or field; the code is a short stable class that
 * other layers match on (core/diagnosis.c):
 *   empty, not-tar, bad-tar, truncated, ovf-not-first, multiple-ovf,
 *   ovf-too-large, bad-xml, xml-entities, bad-ovf, no-disks, missing-disk,
 *   absent-cdrom, chunked-disk, unsafe-path, bad-member, duplicate-member,
 *   size-mismatch, bad-manifest, manifest-mismatch,
 *   too-many-disks,
 *   too-large, bad-format, not-stream-optimized, bad-footer, differencing,
 *   no-partition-table, bad-size, sparse-member, cancelled, internal.
 *
 * Cost: the work done is proportional to the bytes fed. Nothing in a header
 * can make the validator produce bytes that did not arrive: sparse tar
 * members (GNU 'S' headers, pax GNU.sparse.*), whose holes libarchive would
 * expand into terabytes of zeros, are refused at their header; sizes in
 * headers, the OVF and the manifest are only compared, never looped over;
 * the OVF (4 MiB), the manifest (1 MiB) and the member table (1024) are
 * capped.
 * Reasons and codes never contain secrets (the validator never sees any).
 */
#ifndef AMIFS_OVA_OVA_H
#define AMIFS_OVA_OVA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum ova_kind {
    OVA_KIND_NONE,
    OVA_KIND_OVA,
    OVA_KIND_VMDK,
    OVA_KIND_VHD,
    OVA_KIND_VHDX,
    OVA_KIND_RAW,
};

/* VM Import limits the validator enforces. */
#define OVA_MAX_DISKS 21                          /* volumes per VM */
#define OVA_MAX_CAPACITY (8ULL << 40)             /* ImportImage: < 8 TiB */
#define OVA_MAX_OVF_SIZE (4u << 20)               /* descriptor size cap */
#define OVA_FACTS_MAX_DISKS 32                    /* disks kept in facts */

/* The kind a file name asks for, by its extension (.ova .vmdk .vhd .vhdx
 * .raw .img, case-insensitive); OVA_KIND_NONE for anything else, NULL or a
 * name that is only an extension (".ova"). */
enum ova_kind ova_kind_from_name(const char *filename);

/* The ImportImage DiskContainer Format for a kind: "OVA", "VMDK", "VHD",
 * "VHDX", "RAW"; "" for OVA_KIND_NONE. Never NULL; static storage. */
const char *ova_kind_format(enum ova_kind k);

/* What one disk looks like. Strings are NUL-terminated, possibly empty
 * (unknown), truncated to fit. */
struct ova_disk_facts {
    char name[256];        /* member name in the OVA, or "" for a single disk */
    char format[8];        /* "VMDK", "VHD", "VHDX", "RAW" */
    char subformat[32];    /* "streamOptimized", "dynamic", "fixed", "mbr", … */
    uint64_t file_size;    /* bytes of the file / member seen */
    uint64_t capacity;     /* virtual size in bytes; 0 when unknown */
    uint64_t data_offset;  /* OVA: where the member's bytes start in the tar
                              (they lie contiguous for file_size bytes), so
                              the staged OVA can be carved server-side; 0
                              for a single disk (the whole file) */
};

/* Everything learnt while validating. Valid (and stable) after finish();
 * partially filled while bytes are still coming. */
struct ova_facts {
    enum ova_kind kind;
    uint64_t bytes;                  /* bytes fed */
    unsigned members;                /* tar members seen (OVA) */
    unsigned ndisks;                 /* disks found; may exceed the array */
    struct ova_disk_facts disks[OVA_FACTS_MAX_DISKS];
    int os_id;                       /* OVF OperatingSystemSection ovf:id,
                                        -1 when absent */
    char os_type[64];                /* vmw:osType / vbox:OSType, or "" */
    char os_description[128];        /* its <Description>, or "" */
    char firmware[8];                /* "bios", "efi" or "" (unknown) */
    char manifest[8];                /* "SHA1", "SHA256", "SHA512" or "" */
    bool manifest_verified;          /* every manifest line matched */
    uint64_t manifest_read_back;     /* bytes of the members a manifest at
                                        the end lists, to be read back to
                                        verify it (ova_validator_verify_late);
                                        0 when none */
};

struct ova_validator;

/* A validator for one stream of the given kind, or NULL when out of memory.
 * OVA_KIND_NONE gives a validator that refuses at the first byte (and at
 * finish) with code "bad-format". Starts no thread until the first byte. */
struct ova_validator *ova_validator_new(enum ova_kind kind);

/* Push the next n bytes (p may be NULL when n is 0). The bytes are copied;
 * p is not used after the call. 0: nothing wrong so far. -1: refused (now or
 * earlier). May block while the ring is full. Never call after finish(). */
int ova_validator_feed(struct ova_validator *v, const void *p, size_t n);

/* Wait until every byte fed so far has been examined (OVA thread idle or
 * finished); no-op for single disks. 0 nothing wrong so far, -1 refused. */
int ova_validator_sync(struct ova_validator *v);

/* End of stream: runs the checks that need the whole file (trailers,
 * manifest, every referenced disk present). 0 accepted, -1 refused. Calling
 * it again returns the same answer. */
int ova_validator_finish(struct ova_validator *v);

/* True once the verdict is final (finish() returned) or a refusal is known. */
bool ova_validator_done(const struct ova_validator *v);

/* The refusal sentence, "" while not refused. Never NULL; owned by v. */
const char *ova_validator_reason(const struct ova_validator *v);

/* The refusal class ("ovf-not-first", …), "" while not refused. Never NULL;
 * owned by v. */
const char *ova_validator_code(const struct ova_validator *v);

/* The facts so far; never NULL; owned by v. Stable only after finish() or a
 * refusal (the OVA thread fills them while running). */
const struct ova_facts *ova_validator_facts(const struct ova_validator *v);

/* Stop validating, from any thread, at once: refuses with code "cancelled"
 * (unless already refused), wakes a feed() waiting for ring space and the
 * OVA thread waiting for bytes; the thread then exits on its own. Never
 * blocks on the validator's work. The caller keeps v alive across the call
 * (free it later as usual). NULL is fine. For rm, unmount and SIGTERM of an
 * upload whose writer may be blocked in feed(). */
void ova_validator_cancel(struct ova_validator *v);

/* A manifest at the end of an OVA. The OVF standard lets the manifest
 * come right after the descriptor (what ovftool, vSphere and VirtualBox
 * write; its lines are then checked as the members stream) or last. The
 * validator does not hash members before it knows a manifest wants them
 * (that would cost every OVA without one a digest of its disks), so the
 * lines of a manifest at the end are checked afterwards, by reading the
 * members back from wherever the bytes were stored: amifs reads the
 * staged object with ranged GETs, `amifs inspect` the local file.
 *
 * After finish() accepted, facts.manifest_read_back says how many bytes
 * that takes (0: nothing to do, facts.manifest_verified already says).
 * ova_validator_verify_late() reads them: read(ctx, off, buf, len) must
 * fill buf with len bytes of the same stream at offset off and return 0,
 * or a negative errno. progress (may be NULL) is told the bytes done and
 * the total after each read. Returns 0 when every line matched (then
 * manifest_verified is true), -1 refused (code manifest-mismatch; reason
 * and code as for any refusal), or the negative errno of a failed read
 * or -ECANCELED after ova_validator_cancel() (no verdict: the caller may
 * try again). Memory: one 8 MiB buffer while it runs. Call from one
 * thread, after finish(); never concurrently with itself. */
typedef int (*ova_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);
typedef void (*ova_progress_fn)(void *ctx, uint64_t done, uint64_t total);
int ova_validator_verify_late(struct ova_validator *v, ova_read_fn read,
                              ova_progress_fn progress, void *ctx);

/* The digest, in a manifest's algorithm (1 SHA-1, 2 SHA-256, 4 SHA-512:
 * the MF_* and OVFDIR_SHA* values), of `size` bytes at `off` read through
 * read(ctx, …) in 8 MiB pieces into one buffer. out: 64 bytes. Returns
 * the digest's length, or the negative errno of a failed read (-ENOMEM
 * when out of memory). What the check above and core/stagedread.c use. */
long ova_digest_read(ova_read_fn read, void *ctx, uint64_t off,
                     uint64_t size, int alg, unsigned char out[64]);

/* Frees v (NULL is fine), stopping its thread if the stream never ended. */
void ova_validator_free(struct ova_validator *v);

/* Import parameters the facts suggest: "uefi" / "legacy-bios" for BootMode,
 * "Windows" / "Linux" for Platform; NULL when the facts do not say. */
const char *ova_facts_boot_mode(const struct ova_facts *f);
const char *ova_facts_platform(const struct ova_facts *f);

/* Verdict and facts as a JSON object (malloc'd, caller frees with free()):
 * {"file","kind","format","verdict":"accepted"|"refused"|"pending","code",
 *  "reason","bytes","disks":[{name,format,subformat,file_size,capacity}],
 *  "os":{"id","type","description"},"firmware","boot_mode","platform",
 *  "manifest":{"algorithm","verified"}}. file may be NULL (then omitted).
 * NULL when out of memory. Call after finish() or a refusal. */
char *ova_validator_json(const struct ova_validator *v, const char *file);

/* The same as "key: value" text lines ending in '\n' (malloc'd, caller
 * frees); the first line is "verdict: accepted" or "verdict: refused (CODE)
 * REASON". NULL when out of memory. */
char *ova_validator_text(const struct ova_validator *v, const char *file);

/* Validate a local file as amifs would a copy into imports/ (kind from the
 * file name; an unknown extension is refused). Prints the verdict and facts
 * to out (JSON when json is true, else text). 0 accepted, 1 refused, -1 the
 * file could not be read (a message on out). */
int ova_inspect_file(const char *path, FILE *out, bool json);

#endif
