/*
 * importenums.h — the values ImportImage accepts for its enum parameters
 * (doc/AWS.md: BootMode, LicenseType, Platform,
 * Architecture), so that a bad value is refused where the user gave it —
 * the mount option, the sidecar's close, the setxattr — instead of by
 * ImportImage after the whole image was uploaded.
 *
 * Pure and header-only (fs/options.c and core/params.c both use it, and
 * each is unit-tested alone). Names are the xattr/option spelling
 * ("boot_mode") or the ImportImage/sidecar one ("BootMode").
 *
 * The values are AWS's, spelled as AWS spells them and compared exactly
 * (case matters: "uefi" is accepted, "UEFI" is refused, as ImportImage
 * refuses it). Two enums AWS has grown since are deliberately absent:
 * BootMode "uefi-preferred" and Architecture "arm64" are accepted by
 * RegisterImage but refused by ImportImage, so they belong to the snapshot
 * route, not here. Adding a value means checking that ImportImage (and the
 * local endpoint in tests/endpoint/vmimport.py) accepts it.
 *
 * Ownership: everything here is static constant data; the functions borrow
 * their arguments and keep nothing. Thread-safe.
 */
#ifndef AMIFS_CORE_IMPORTENUMS_H
#define AMIFS_CORE_IMPORTENUMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct import_enum {
    const char *opt, *api;
    const char *values[4]; /* NULL-terminated */
};

/* BootMode uefi-preferred and Architecture arm64 (and TpmSupport,
 * ImdsSupport) are RegisterImage's: they take the snapshot route
 * (core/snaproute.h) — with route=auto straight away, with route=image the
 * import is refused before the upload is used. */
static const struct import_enum IMPORT_ENUMS[] = {
    {"boot_mode", "BootMode", {"legacy-bios", "uefi", "uefi-preferred", NULL}},
    {"license_type", "LicenseType", {"AWS", "BYOL", NULL}},
    {"platform", "Platform", {"Linux", "Windows", NULL}},
    {"architecture", "Architecture", {"x86_64", "i386", "arm64", NULL}},
    {"route", "Route", {"auto", "image", "snapshot", NULL}},
    {"tpm_support", "TpmSupport", {"v2.0", NULL, NULL, NULL}},
    {"imds_support", "ImdsSupport", {"v2.0", NULL, NULL, NULL}},
};

/* The enum of parameter `name`, or NULL when it is not an enum. */
static inline const struct import_enum *import_enum_of(const char *name)
{
    for (size_t i = 0; i < sizeof IMPORT_ENUMS / sizeof IMPORT_ENUMS[0]; i++)
        if (strcmp(name, IMPORT_ENUMS[i].opt) == 0 ||
            strcmp(name, IMPORT_ENUMS[i].api) == 0)
            return &IMPORT_ENUMS[i];
    return NULL;
}

/* True when `value` is allowed for `name` (always for non-enums; an unset
 * (NULL) value is allowed too). */
static inline bool import_enum_ok(const char *name, const char *value)
{
    const struct import_enum *e = import_enum_of(name);
    if (!e || !value)
        return true;
    for (size_t i = 0; e->values[i]; i++)
        if (strcmp(value, e->values[i]) == 0)
            return true;
    return false;
}

/* "a, b or c": the values of e, for messages. */
static inline void import_enum_list(const struct import_enum *e, char *out,
                                    size_t n)
{
    size_t k = 0, cnt = 0;
    while (cnt < 4 && e->values[cnt])
        cnt++;
    out[0] = '\0';
    for (size_t i = 0; i < cnt && k < n; i++) {
        int w = snprintf(out + k, n - k, "%s%s",
                         i == 0 ? "" : i + 1 == cnt ? " or " : ", ",
                         e->values[i]);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

#endif
