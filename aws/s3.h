/*
 * s3.h — the S3 operations amifs uses (path-style or virtual-hosted, as the
 * client's configuration says). Keys are raw (unencoded) UTF-8; encoding is
 * done here. Every function returns 0 or -1 with `err` filled; a missing
 * object/bucket is AWS_ERR_SERVICE with http_status 404 (code "NoSuchKey",
 * "NoSuchBucket", or "404" for HEAD), which aws_error_errno() maps to ENOENT.
 *
 * Results are plain structs the caller owns and releases with the matching
 * _release function. Listings follow pagination themselves only where the
 * function says so.
 *
 * Who calls: fs/buckets.c and fs/bucket_io.c (the buckets/ view: listings,
 * HEAD for attributes, ranged GETs for reads, copy + delete for renames),
 * aws/mpu.c (the multipart uploader: create, upload part, complete,
 * abort), core/ (staging objects of imports/ and the upload journal's
 * clean-up), cli/doctor.c (bucket region and rights).
 *
 * Addressing: buckets with DNS-safe names use virtual-hosted style on AWS,
 * path style on custom endpoints or when the profile says
 * addressing_style = path; the client decides, callers pass bucket and key
 * separately and never build a URL.
 *
 * Integrity: object bodies stream (a sink for GET, a body source for PUT
 * and UploadPart) and are never held whole in memory by these calls.
 * Writes that S3 may answer with an <Error> inside a 200 (Complete, Copy,
 * UploadPartCopy) are checked and retried as failures. ETags are returned
 * without their quotes (s3_etag_strip()).
 *
 * Errors: 0 or -1 with err filled. Besides the 404s above: AccessDenied
 * (403, EACCES), PreconditionFailed (412, for conditional copies),
 * NoSuchUpload (404, an aborted or completed multipart upload),
 * EntityTooLarge / the part limits (AWS_ERR_TOO_LARGE, EFBIG), SlowDown
 * (503, retried by the client before it reaches the caller). A sink or a
 * body source that fails makes the call fail with AWS_ERR_IO (or
 * AWS_ERR_ABORTED when the caller asked to stop); nothing is retried once
 * a sink has received bytes.
 *
 * Threads: every function is thread-safe and stateless (the client is
 * shared); results belong to one caller. Timestamps (LastModified,
 * CreationDate, Initiated) are parsed with aws/iso8601.h, HTTP dates with
 * s3_parse_http_date().
 */
#ifndef AMIFS_AWS_S3_H
#define AMIFS_AWS_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "aws/client.h"

/* A bucket of the account (ListBuckets): its name and creation time. The
 * list is every bucket the caller owns, in every region; the region of one
 * is s3_get_bucket_location()'s business. */
struct s3_bucket {
    char *name;
    time_t created;
};
struct s3_bucket_list {
    struct s3_bucket *v;
    size_t n;
};
int s3_list_buckets(struct aws_client *c, struct s3_bucket_list *out,
                    struct aws_error *err);
void s3_bucket_list_release(struct s3_bucket_list *l);

/* Region of a bucket ("us-east-1" for the empty LocationConstraint, "EU" →
 * "eu-west-1"). `out` gets at most n bytes incl. NUL. */
int s3_get_bucket_location(struct aws_client *c, const char *bucket,
                           char *out, size_t n, struct aws_error *err);
int s3_create_bucket(struct aws_client *c, const char *bucket,
                     const char *region, struct aws_error *err);

/* One entry of a listing: a key under the prefix (decoded, raw UTF-8) with
 * its size, ETag (quotes stripped) and LastModified, or — in `prefixes` —
 * a common prefix ending with the delimiter, which the buckets/ view shows
 * as a directory. */
struct s3_object {
    char *key;        /* full key */
    uint64_t size;
    time_t mtime;     /* LastModified */
    char etag[72];    /* with quotes stripped */
};
struct s3_listing {
    struct s3_object *objects;
    size_t nobjects;
    char **prefixes; /* common prefixes, full (end with the delimiter) */
    size_t nprefixes;
};
/* ListObjectsV2 of everything under `prefix` (may be "" or NULL) with
 * `delimiter` (NULL for none), following NextContinuationToken until done or
 * `max_keys_total` entries (0: no limit) were collected. Uses
 * encoding-type=url and decodes keys. */
int s3_list_objects(struct aws_client *c, const char *bucket,
                    const char *prefix, const char *delimiter,
                    size_t max_keys_total, struct s3_listing *out,
                    struct aws_error *err);
void s3_listing_release(struct s3_listing *l);

/* What HEAD says of an object: size, ETag, Last-Modified, Content-Type;
 * a missing key is the 404 described at the top (no body to parse). */
struct s3_head {
    uint64_t size;
    time_t mtime;
    char etag[72];          /* quotes stripped */
    char content_type[128];
};
int s3_head_object(struct aws_client *c, const char *bucket, const char *key,
                   struct s3_head *out, struct aws_error *err);

/* The checksum S3 keeps for an object (HEAD with x-amz-checksum-mode:
 * ENABLED): algorithm as S3 names it ("CRC32C", "CRC64NVME", …; "" when
 * the object has none), the value as S3 spells it (base64, "-N" after a
 * COMPOSITE one), its type ("FULL_OBJECT", "COMPOSITE" or ""), and the
 * ETag it belongs to. `if_match` (may be NULL): 412 when the object
 * changed. */
struct s3_checksum {
    char algorithm[16];
    char value[96];
    char type[16];
    char etag[72];
};
int s3_head_checksum(struct aws_client *c, const char *bucket,
                     const char *key, const char *if_match,
                     struct s3_checksum *out, struct aws_error *err);

/* GET bytes [offset, offset+len) (len 0: to the end) into `sink`.
 * `if_match` (ETag, may be NULL) makes a changed object fail with 412. */
int s3_get_object(struct aws_client *c, const char *bucket, const char *key,
                  uint64_t offset, uint64_t len, const char *if_match,
                  aws_body_sink sink, void *sink_ctx, struct aws_error *err);
/* s3_get_object into memory: at most len bytes from offset into dst
 * (extra bytes the server sends are dropped); *got says how many came. */
int s3_get_range_into(struct aws_client *c, const char *bucket,
                      const char *key, uint64_t offset, size_t len,
                      const char *if_match, void *dst, size_t *got,
                      struct aws_error *err);

/* Single PUT of an in-memory body (≤ 5 GiB), with Content-MD5. `etag_out`
 * (may be NULL) gets the ETag, quotes stripped (72 bytes). */
int s3_put_object(struct aws_client *c, const char *bucket, const char *key,
                  const void *data, size_t len, char *etag_out,
                  struct aws_error *err);
/* Conditional PUT (S3 conditional writes): with `if_match` (an ETag,
 * quotes stripped) the object is replaced only if it still has that ETag;
 * with if_match NULL or "" it is created only if absent (If-None-Match: *).
 * The loser of a race gets 412 PreconditionFailed (ESTALE) or 409
 * ConditionalRequestConflict; a retried request whose first attempt landed
 * also gets 412, so a caller that must know reads the object back. */
int s3_put_object_if(struct aws_client *c, const char *bucket,
                     const char *key, const void *data, size_t len,
                     const char *if_match, char *etag_out,
                     struct aws_error *err);
/* DELETE only if the object still has ETag `if_match` (NULL/"": always). */
int s3_delete_object_if(struct aws_client *c, const char *bucket,
                        const char *key, const char *if_match,
                        struct aws_error *err);
/* DELETE; a missing key is success (S3 answers 204). */
int s3_delete_object(struct aws_client *c, const char *bucket,
                     const char *key, struct aws_error *err);
/* Server-side copy ≤ 5 GiB (CopyObject; a 200 with <Error> is retried). */
int s3_copy_object(struct aws_client *c, const char *src_bucket,
                   const char *src_key, const char *dst_bucket,
                   const char *dst_key, char *etag_out,
                   struct aws_error *err);
/* Copy of any size: CopyObject up to 5 GiB, multipart UploadPartCopy above
 * (parts of `part_size`, 0 = 512 MiB); aborts the upload on failure. */
int s3_copy_any(struct aws_client *c, const char *src_bucket,
                const char *src_key, uint64_t size, const char *dst_bucket,
                const char *dst_key, struct aws_error *err);
/* The same, every request carrying x-amz-copy-source-if-match: `if_match`
 * (an ETag, quotes stripped; NULL/"" for none), so a source replaced
 * meanwhile fails with 412 instead of mixing two versions (the multipart
 * copy of > 5 GiB in particular); the upload is aborted then. */
int s3_copy_any_if(struct aws_client *c, const char *src_bucket,
                   const char *src_key, uint64_t size, const char *if_match,
                   const char *dst_bucket, const char *dst_key,
                   struct aws_error *err);
/* The same with the single-CopyObject limit lowered to `single_max` (0 =
 * S3's 5 GiB); above it the copy is multipart, in parts of single_max (at
 * least 5 MiB). Only tests lower it (doc/TESTING.md,
 * AMIFS_TEST_COPY_LIMIT), so the multipart path runs on small objects. */
int s3_copy_any_limit(struct aws_client *c, const char *src_bucket,
                      const char *src_key, uint64_t size,
                      const char *if_match, uint64_t single_max,
                      const char *dst_bucket, const char *dst_key,
                      struct aws_error *err);

/* Lifecycle rules, as far as amifs cares (amifs setup/doctor): the days
 * after which an enabled rule covering `prefix` aborts incomplete
 * multipart uploads (0: no such rule), and how many rules the bucket has.
 * A bucket without a configuration is 0 rules (not an error). */
struct s3_lifecycle {
    int abort_days;
    size_t nrules;
};
int s3_get_lifecycle(struct aws_client *c, const char *bucket,
                     const char *prefix, struct s3_lifecycle *out,
                     struct aws_error *err);
/* PUT a configuration of one rule, S3_ABORT_RULE_ID: abort incomplete
 * multipart uploads under `prefix` after `days`. It REPLACES the bucket's
 * configuration: callers only do it when there is none. */
#define S3_ABORT_RULE_ID "amifs-abort-incomplete-uploads"
int s3_put_lifecycle_abort(struct aws_client *c, const char *bucket,
                           const char *prefix, int days,
                           struct aws_error *err);

/* Multipart primitives (the uploader in mpu.h drives these). */
int s3_mpu_create(struct aws_client *c, const char *bucket, const char *key,
                  char *upload_id, size_t n, struct aws_error *err);
/* The same, declaring CRC32C with ChecksumType FULL_OBJECT: every part must
 * then carry x-amz-checksum-crc32c, and Complete may carry the object's
 * CRC32C, which S3 checks against the bytes before it publishes anything
 * (design: doc/design/perf.md). */
int s3_mpu_create_crc32c(struct aws_client *c, const char *bucket,
                         const char *key, char *upload_id, size_t n,
                         struct aws_error *err);
/* Upload one part from memory with Content-MD5; etag_out 72 bytes. */
int s3_mpu_upload_part(struct aws_client *c, const char *bucket,
                       const char *key, const char *upload_id, int part_no,
                       const void *data, size_t len, char *etag_out,
                       struct aws_error *err);
int s3_mpu_upload_part_copy(struct aws_client *c, const char *bucket,
                            const char *key, const char *upload_id,
                            int part_no, const char *src_bucket,
                            const char *src_key, uint64_t first,
                            uint64_t last, char *etag_out,
                            struct aws_error *err);
/* One part of a multipart upload: its number (1..10000), ETag and size;
 * the uploader collects them in order for s3_mpu_complete(). */
struct s3_part {
    int number;
    char etag[72]; /* quotes stripped */
    uint64_t size;
    char crc32c[12]; /* base64 ChecksumCRC32C, "" when the part has none */
};
/* parts must be in ascending order. etag_out (72 bytes) gets the final ETag. */
int s3_mpu_complete(struct aws_client *c, const char *bucket,
                    const char *key, const char *upload_id,
                    const struct s3_part *parts, size_t nparts,
                    char *etag_out, struct aws_error *err);
/* The same with the object's full CRC32C (base64; NULL: none) in
 * x-amz-checksum-crc32c: S3 answers BadDigest, and publishes nothing, when
 * the parts' bytes do not make it. */
int s3_mpu_complete_crc32c(struct aws_client *c, const char *bucket,
                           const char *key, const char *upload_id,
                           const struct s3_part *parts, size_t nparts,
                           const char *full_crc32c, char *etag_out,
                           struct aws_error *err);
/* Abort; NoSuchUpload counts as success (already gone). */
int s3_mpu_abort(struct aws_client *c, const char *bucket, const char *key,
                 const char *upload_id, struct aws_error *err);

/* One unfinished multipart upload (ListMultipartUploads): key, upload id
 * and when it was started. The janitor and the upload journal use these
 * to abort what an interrupted mount left behind. */
struct s3_upload {
    char *key;
    char *upload_id;
    time_t initiated;
};
struct s3_upload_list {
    struct s3_upload *v;
    size_t n;
};
/* ListMultipartUploads under `prefix` (NULL: all), all pages. */
int s3_mpu_list(struct aws_client *c, const char *bucket, const char *prefix,
                struct s3_upload_list *out, struct aws_error *err);
void s3_upload_list_release(struct s3_upload_list *l);
/* ListParts, all pages. */
int s3_mpu_list_parts(struct aws_client *c, const char *bucket,
                      const char *key, const char *upload_id,
                      struct s3_part **parts, size_t *nparts,
                      struct aws_error *err);

/*
 * --- Pieces exposed for unit tests and the uploader (pure: no I/O) -------
 *
 * Parsers take the root of a parsed S3 answer and append to / fill the
 * caller's struct; they return 0 or -1 with err (AWS_ERR_PARSE/NOMEM).
 * `*next` outputs are malloc'd continuation markers, NULL when the listing
 * is complete (the caller frees them).
 */
struct xml_node;

/* Both digests of a body in one pass over the bytes. */
struct s3_digests {
    char md5_b64[25];     /* Content-MD5 */
    char md5_hex[33];     /* what a single-part ETag normally is */
    char sha256_hex[65];  /* x-amz-content-sha256 */
};
void s3_digests_compute(const void *data, size_t len, struct s3_digests *d);

/* UploadPart with digests computed by the caller (computed once per part,
 * not once per attempt). */
int s3_mpu_upload_part_digests(struct aws_client *c, const char *bucket,
                               const char *key, const char *upload_id,
                               int part_no, const void *data, size_t len,
                               const struct s3_digests *d, char *etag_out,
                               struct aws_error *err);

/* Percent-decoding of `n` bytes; with plus_as_space '+' becomes ' ' (S3's
 * encoding-type=url, like botocore's unquote_plus). Malformed escapes are
 * kept as they are. Returns a malloc'd string or NULL (out of memory). */
char *s3_url_decode(const char *s, size_t n, bool plus_as_space);

int s3_parse_list_buckets(const struct xml_node *root,
                          struct s3_bucket_list *out, char **next,
                          struct aws_error *err);
/* Region named by a <LocationConstraint> root ("" → us-east-1). */
int s3_parse_lifecycle(const struct xml_node *root, const char *prefix,
                       struct s3_lifecycle *out);
int s3_parse_location(const struct xml_node *root, char *out, size_t n,
                      struct aws_error *err);
/* Decodes keys and prefixes when the answer says EncodingType=url. */
int s3_parse_list_objects(const struct xml_node *root, struct s3_listing *out,
                          char **next, struct aws_error *err);
int s3_parse_uploads(const struct xml_node *root, struct s3_upload_list *out,
                     char **next_key, char **next_upload,
                     struct aws_error *err);
/* Appends to *parts (count *nparts); *next gets NextPartNumberMarker. */
int s3_parse_parts(const struct xml_node *root, struct s3_part **parts,
                   size_t *nparts, char **next, struct aws_error *err);
/* The ETag inside a result document (CompleteMultipartUploadResult,
 * CopyObjectResult, CopyPartResult), quotes stripped. Like botocore, the
 * parsers do not insist on the root's name (root_name is for messages);
 * an <Error> root always fails. */
int s3_parse_result_etag(const struct xml_node *root, const char *root_name,
                         char *etag_out, struct aws_error *err);
/* The CompleteMultipartUpload request body for these parts. */
int s3_complete_body(struct buf *out, const struct s3_part *parts,
                     size_t nparts);
/* The multipart ETag S3 computes: hex MD5 of the parts' binary MD5s, "-N".
 * -1 when a part ETag is not a plain MD5 (e.g. SSE-KMS). out: 72 bytes. */
int s3_multipart_etag(const struct s3_part *parts, size_t nparts, char *out);
/* Copy `v` into out (72 bytes) without surrounding quotes. */
void s3_etag_strip(const char *v, char *out);
/* An RFC 1123 HTTP date ("Wed, 01 May 2024 12:00:00 GMT", Last-Modified
 * of a HEAD) to time_t; 0 if bad. ISO-8601 dates go through
 * aws_iso8601_or_zero() (aws/iso8601.h), the one parser for those. */
time_t s3_parse_http_date(const char *s);

#endif
