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
#include <string.h>

struct import_enum {
    const char *opt, *api;
    const char *values[4]; /* NULL-terminated */
};

static const struct import_enum IMPORT_ENUMS[] = {
    {"boot_mode", "BootMode", {"legacy-bios", "uefi", NULL}},
    {"license_type", "LicenseType", {"AWS", "BYOL", NULL}},
    {"platform", "Platform", {"Linux", "Windows", NULL}},
    {"architecture", "Architecture", {"x86_64", "i386", NULL}},
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

#endif
