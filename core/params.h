/*
 * params.h — the parameters of one import, as the user gives them per file.
 *
 * Three sources, weakest first, are merged into one struct import_params:
 * the mount options (filled in by core/importjob.c from struct
 * import_config), the sidecar NAME.json (import_params_from_json), and the
 * user.amifs.* extended attributes set on the file before its first write
 * (import_params_setxattr). import_params_merge lays one set over another:
 * the fields the source sets win, and its tags are added or replace tags of
 * the same key. Facts the validator finds (UEFI firmware, OS type) are
 * applied later by the import job, only where nothing was given.
 *
 * Values of the enumerated parameters (BootMode, LicenseType, Platform,
 * Architecture) are checked where they are given, so a typo fails the
 * sidecar's close() or the setxattr(), not the import an hour later.
 *
 * Ownership: every string in the struct is owned by it (NULL = unset);
 * import_params_release frees them and leaves the struct initialised.
 * None of these functions keeps a pointer to its arguments.
 */
#ifndef AMIFS_CORE_PARAMS_H
#define AMIFS_CORE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/ec2.h"

/* AWS's limits, checked where a value is given (sidecar close(),
 * setxattr()), so no upload starts with a value ImportImage would refuse.
 * Lengths count Unicode characters, as AWS does. Of the 50 tags a
 * resource may carry, amifs keeps 13: Name (unless given) and the twelve
 * `amifs:` bookkeeping keys an import task or its AMI can gain over its
 * life (status.h, snaproute.h, taskcache.h: name, started, route,
 * snapplan, copy-to, keep-source, ami-tagged, hidden, reroute,
 * importimage-failure, snapshot-route, disk). So a user gives at most
 * 37, and no later step of amifs can push a resource past AWS's 50. */
#define IMPORT_DESCRIPTION_MAX 255
#define IMPORT_TAG_KEY_MAX 128
#define IMPORT_TAG_VALUE_MAX 256
#define IMPORT_TAGS_MAX 37

/* Per-file parameters (every string owned, NULL = unset). */
struct import_params {
    char *boot_mode;
    char *license_type;
    char *platform;
    char *architecture;
    char *kms_key_id;
    char *role_name;
    char *description;
    /* The snapshot route's (core/snaproute.h): Route, TpmSupport,
     * ImdsSupport, RootDeviceName, EnaSupport. */
    char *route;              /* auto image snapshot */
    char *tpm_support;
    char *imds_support;
    char *root_device_name;
    int ena_support;          /* -1 unset, 0, 1 */
    int encrypted;            /* -1 unset, 0, 1 */
    int keep_staged;          /* -1 unset, 0, 1: amifs's own, not sent to
                                 AWS (doc/design/fleet.md) */
    char *copy_regions;       /* "eu-west-1,us-west-2": regions the AMI is
                                 copied to once complete (amifs's own) */
    struct ec2_tags tags;     /* owned */
};
void import_params_init(struct import_params *p);
void import_params_release(struct import_params *p);
/* Merge a sidecar's JSON (keys as ImportImage's: BootMode, LicenseType,
 * Platform, Architecture, Encrypted, KmsKeyId, RoleName, Description, Tags —
 * plus amifs's own KeepStaged (a bool: keep the staged object after success)
 * and CopyToRegions (an array of region names) —
 * Tags either {"K":"V"} or [{"Key":…,"Value":…}]). 0, or -EINVAL with a
 * sentence in why (also for a value over the limits above, a tag key
 * starting with "aws:", a string that is not UTF-8). */
int import_params_from_json(struct import_params *p, const char *json,
                            size_t n, char *why, size_t whylen);
/* Check a sidecar text as it grows: 1 while it is not (yet) one whole JSON
 * text (the close decides then), 0 when it is and import_params_from_json
 * takes it, or that function's -EINVAL with its sentence in why. */
int import_params_check(const char *json, size_t n, char *why, size_t whylen);
/* user.amifs.boot_mode, .license_type, .platform, .architecture,
 * .encrypted, .kms_key_id, .role_name, .description, .tag.KEY, and
 * .keep_staged ("true"/"false") and .copy_to_regions ("R1,R2"), amifs's
 * own, and the snapshot route's .route, .tpm_support, .imds_support,
 * .root_device_name, .ena_support (sidecar: Route, TpmSupport,
 * ImdsSupport, RootDeviceName, EnaSupport).
 * 0, -ENOTSUP for another name, -EINVAL for a bad value (a NUL byte
 * anywhere in it, not UTF-8, a tag key starting with "aws:"), -E2BIG for
 * a description or tag over the limits above, -ENOSPC for a tag beyond
 * IMPORT_TAGS_MAX, -ENOMEM. Nothing changes on an error. */
int import_params_setxattr(struct import_params *p, const char *name,
                           const char *value, size_t n);
/* Value for getxattr ("" when set empty); NULL when unset/unknown. The
 * result points into p. */
const char *import_params_getxattr(const struct import_params *p,
                                   const char *name);

/* Whether csv is a comma-separated list of 1–16 region names (lower-case
 * letters, digits, '-'; each 2–32 characters). */
bool import_regions_ok(const char *csv);

/* Set (or replace) the tag k=v in t; both copied. 0 or -ENOMEM. */
int import_tag_set(struct ec2_tags *t, const char *k, const char *v);
/* Lay `src` over `dst`: set fields of src win; tags added or replaced.
 * 0 or -ENOMEM (dst may then be partly merged). The limits are checked
 * per source, not here. */
int import_params_merge(struct import_params *dst,
                        const struct import_params *src);

/* ClientToken of an import of the object bucket/key with that ETag (for
 * ImportImage and, salted per disk, ImportSnapshot): hex SHA-256 of
 * "bucket/key#etag", 64 chars + NUL. The same object gives the same
 * token on every mount, which is what makes a repeated call harmless. */
void import_client_token(const char *bucket, const char *key,
                         const char *etag, char out[65]);

#endif
