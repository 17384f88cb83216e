/* params.c — per-file import parameters: the sidecar's JSON, user.amifs.*
 * xattrs, and merging them over each other (see core/params.h). */
#include "core/params.h"
#include "core/importenums.h"
#include "core/name.h"
#include "core/status.h"

#include <openssl/evp.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void replace(char **f, const char *v)
{
    char *d = xstrdup(v);
    free(*f);
    *f = d;
}

/* ---- limits (see params.h) --------------------------------------------- */

/* A string value for AWS: no NUL (everything after it would be dropped),
 * UTF-8, at most max characters (0: no limit). 0, -EINVAL or -E2BIG with a
 * sentence in why. */
static int value_check(const char *what, const char *v, size_t n, size_t max,
                       char *why, size_t whylen)
{
    if (memchr(v, '\0', n)) {
        snprintf(why, whylen, "%s contains a NUL byte", what);
        return -EINVAL;
    }
    if (!name_utf8_valid(v, n)) {
        snprintf(why, whylen, "%s is not UTF-8", what);
        return -EINVAL;
    }
    if (max && name_utf8_chars(v, n) > max) {
        snprintf(why, whylen, "%s is longer than %zu characters", what, max);
        return -E2BIG;
    }
    return 0;
}

/* A tag AWS accepts: key 1..128 characters not starting with "aws:",
 * value at most 256 characters. */
static int tag_check(const char *k, size_t kn, const char *v, size_t vn,
                     char *why, size_t whylen)
{
    int rc = value_check("a tag key", k, kn, IMPORT_TAG_KEY_MAX, why, whylen);
    if (rc == 0 && (kn == 0 || (kn >= 4 && strncasecmp(k, "aws:", 4) == 0))) {
        snprintf(why, whylen, kn ? "tag keys starting with aws: are AWS's"
                                 : "a tag key is empty");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = value_check("a tag value", v, vn, IMPORT_TAG_VALUE_MAX, why,
                         whylen);
    return rc;
}

static bool tag_known(const struct ec2_tags *t, const char *k)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, k) == 0)
            return true;
    return false;
}

/* ---- parameters ------------------------------------------------------- */

void import_params_init(struct import_params *p)
{
    memset(p, 0, sizeof *p);
    p->encrypted = -1;
    p->keep_staged = -1;
    p->ena_support = -1;
}

void import_params_release(struct import_params *p)
{
    char **s[] = {&p->boot_mode,  &p->license_type, &p->platform,
                  &p->architecture, &p->kms_key_id, &p->role_name,
                  &p->description, &p->copy_regions, &p->route,
                  &p->tpm_support, &p->imds_support, &p->root_device_name};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        free(*s[i]);
    ec2_tags_release(&p->tags);
    import_params_init(p);
}

/* Set (or replace) a tag; key/value copied. */
int import_tag_set(struct ec2_tags *t, const char *k, const char *v)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, k) == 0) {
            char *d = strdup(v);
            if (!d)
                return -ENOMEM;
            free(t->v[i].value);
            t->v[i].value = d;
            return 0;
        }
    struct ec2_tag *nv = realloc(t->v, (t->n + 1) * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    t->v = nv;
    nv[t->n].key = strdup(k);
    nv[t->n].value = strdup(v);
    if (!nv[t->n].key || !nv[t->n].value) {
        free(nv[t->n].key);
        free(nv[t->n].value);
        return -ENOMEM;
    }
    t->n++;
    return 0;
}

static char **param_field(struct import_params *p, const char *name)
{
    static const struct {
        const char *json, *xattr;
        size_t off;
    } F[] = {
        {"BootMode", "boot_mode", offsetof(struct import_params, boot_mode)},
        {"LicenseType", "license_type",
         offsetof(struct import_params, license_type)},
        {"Platform", "platform", offsetof(struct import_params, platform)},
        {"Architecture", "architecture",
         offsetof(struct import_params, architecture)},
        {"KmsKeyId", "kms_key_id", offsetof(struct import_params, kms_key_id)},
        {"RoleName", "role_name", offsetof(struct import_params, role_name)},
        {"Description", "description",
         offsetof(struct import_params, description)},
        {"Route", "route", offsetof(struct import_params, route)},
        {"TpmSupport", "tpm_support",
         offsetof(struct import_params, tpm_support)},
        {"ImdsSupport", "imds_support",
         offsetof(struct import_params, imds_support)},
        {"RootDeviceName", "root_device_name",
         offsetof(struct import_params, root_device_name)},
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++)
        if (strcmp(name, F[i].json) == 0 || strcmp(name, F[i].xattr) == 0)
            return (char **)((char *)p + F[i].off);
    return NULL;
}

bool import_regions_ok(const char *csv)
{
    size_t len = 0, n = 1;
    for (const char *c = csv; c && *c; c++) {
        if (*c == ',') {
            if (len < 2)
                return false;
            len = 0;
            n++;
            continue;
        }
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-') || ++len > 32)
            return false;
    }
    return csv && len >= 2 && n <= 16;
}

/* The sidecar's "CopyToRegions": ["eu-west-1", …] as "eu-west-1,…". */
static int json_regions(struct import_params *p, const cJSON *arr, char *why,
                        size_t whylen)
{
    struct buf b;
    buf_init(&b, 0);
    const cJSON *it;
    int rc = 0;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it) ||
            buf_printf(&b, "%s%s", b.len ? "," : "", it->valuestring) != 0)
            rc = -EINVAL;
    }
    if (rc == 0 && !import_regions_ok(buf_cstr(&b)))
        rc = -EINVAL;
    if (rc != 0) {
        snprintf(why, whylen, "CopyToRegions must be a list of 1 to 16 "
                              "region names such as [\"eu-west-1\"]");
        buf_release(&b);
        return rc;
    }
    free(p->copy_regions);
    p->copy_regions = buf_detach(&b);
    return p->copy_regions ? 0 : -ENOMEM;
}

static int parse_bool(const char *s, size_t n)
{
    if ((n == 4 && strncasecmp(s, "true", 4) == 0) || (n == 1 && *s == '1'))
        return 1;
    if ((n == 5 && strncasecmp(s, "false", 5) == 0) || (n == 1 && *s == '0'))
        return 0;
    return -1;
}

int import_params_setxattr(struct import_params *p, const char *name,
                           const char *value, size_t n)
{
    if (strncmp(name, "user.amifs.", 11) != 0)
        return -ENOTSUP;
    const char *k = name + 11;
    char why[128];
    bool tag = strncmp(k, "tag.", 4) == 0 && k[4];
    int rc = value_check("the value", value ? value : "", value ? n : 0,
                         strcmp(k, "description") == 0 ? IMPORT_DESCRIPTION_MAX
                                                       : 0,
                         why, sizeof why);
    if (rc == 0 && tag)
        rc = tag_check(k + 4, strlen(k + 4), value ? value : "",
                       value ? n : 0, why, sizeof why);
    if (rc == 0 && tag && !tag_known(&p->tags, k + 4) &&
        p->tags.n >= IMPORT_TAGS_MAX)
        rc = -ENOSPC;
    if (rc != 0)
        return rc;
    char *v = strndup(value ? value : "", n);
    if (!v)
        return -ENOMEM;
    char **f = param_field(p, k);
    if (f && !import_enum_ok(k, v)) {
        free(v); /* refused now, not by ImportImage after the upload */
        return -EINVAL;
    }
    if (f) {
        free(*f);
        *f = v;
        return 0;
    }
    if (strcmp(k, "copy_to_regions") == 0) {
        if (!import_regions_ok(v)) {
            free(v);
            return -EINVAL;
        }
        free(p->copy_regions);
        p->copy_regions = v;
        return 0;
    }
    int *flag = strcmp(k, "encrypted") == 0     ? &p->encrypted
                : strcmp(k, "keep_staged") == 0 ? &p->keep_staged
                : strcmp(k, "ena_support") == 0 ? &p->ena_support
                                                : NULL;
    if (flag) {
        int b = parse_bool(v, strlen(v));
        rc = b < 0 ? -EINVAL : 0;
        if (b >= 0)
            *flag = b;
    } else if (strncmp(k, "tag.", 4) == 0 && k[4]) {
        rc = import_tag_set(&p->tags, k + 4, v);
    } else {
        rc = -ENOTSUP;
    }
    free(v);
    return rc;
}

const char *import_params_getxattr(const struct import_params *p,
                                   const char *name)
{
    if (strncmp(name, "user.amifs.", 11) != 0)
        return NULL;
    const char *k = name + 11;
    char **f = param_field((struct import_params *)p, k);
    if (f)
        return *f;
    if (strcmp(k, "encrypted") == 0)
        return p->encrypted < 0 ? NULL : p->encrypted ? "true" : "false";
    if (strcmp(k, "keep_staged") == 0)
        return p->keep_staged < 0 ? NULL : p->keep_staged ? "true" : "false";
    if (strcmp(k, "copy_to_regions") == 0)
        return p->copy_regions;
    if (strcmp(k, "ena_support") == 0)
        return p->ena_support < 0 ? NULL : p->ena_support ? "true" : "false";
    if (strncmp(k, "tag.", 4) == 0)
        return status_tag(&p->tags, k + 4);
    return NULL;
}

static int json_tags(struct import_params *p, const cJSON *t, char *why,
                     size_t whylen)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, t)
    {
        const char *k = NULL, *v = NULL;
        if (cJSON_IsString(it)) {
            k = it->string;
            v = it->valuestring;
        } else if (cJSON_IsObject(it)) {
            k = cJSON_GetStringValue(cJSON_GetObjectItem(it, "Key"));
            v = cJSON_GetStringValue(cJSON_GetObjectItem(it, "Value"));
        }
        if (!k || !v)
            return -EINVAL;
        int rc = tag_check(k, strlen(k), v, strlen(v), why, whylen);
        if (rc != 0)
            return rc;
        if (import_tag_set(&p->tags, k, v) != 0)
            return -ENOMEM;
        if (p->tags.n > IMPORT_TAGS_MAX) {
            snprintf(why, whylen, "more than %d tags (AWS allows 50 and "
                     "amifs keeps 13 for its own)", IMPORT_TAGS_MAX);
            return -EINVAL;
        }
    }
    return 0;
}

/* The sentence for a member json_member does not take: a known key with a
 * value of the wrong type, or an unknown key, with the known key it
 * differs from only in letter case ("Bootmode": did you mean "BootMode"?). */
static void json_unknown(const cJSON *it, char *why, size_t whylen)
{
    static const char *const KEYS[] = {
        "BootMode", "LicenseType", "Platform", "Architecture", "KmsKeyId",
        "RoleName", "Description", "Encrypted", "Tags"};
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++) {
        if (strcmp(it->string, KEYS[i]) == 0) {
            snprintf(why, whylen, "\"%s\" has the wrong type (%s)", KEYS[i],
                     i == 7 ? "true or false"
                     : i == 8 ? "an object of tags" : "a string");
            return;
        }
        if (strcasecmp(it->string, KEYS[i]) == 0) {
            snprintf(why, whylen, "unknown key \"%.80s\" (did you mean "
                     "\"%s\"?)", it->string, KEYS[i]);
            return;
        }
    }
    snprintf(why, whylen, "unknown key \"%.80s\" (the keys are BootMode, "
             "LicenseType, Platform, Architecture, KmsKeyId, RoleName, "
             "Description, Encrypted, Tags)", it->string);
}

static int json_member(struct import_params *p, const cJSON *it, char *why,
                       size_t whylen)
{
    char **f = param_field(p, it->string);
    if (f && cJSON_IsString(it) &&
        !import_enum_ok(it->string, it->valuestring)) {
        const struct import_enum *e = import_enum_of(it->string);
        char list[128];
        import_enum_list(e, list, sizeof list);
        snprintf(why, whylen, "%s must be %s, not \"%.80s\"", e->api, list,
                 it->valuestring);
        return -EINVAL;
    }
    if (f && cJSON_IsString(it)) {
        const char *v = it->valuestring;
        if (value_check(it->string, v, strlen(v),
                        strcmp(it->string, "Description") == 0
                            ? IMPORT_DESCRIPTION_MAX
                            : 0,
                        why, whylen) != 0)
            return -EINVAL;
        replace(f, it->valuestring);
        return *f ? 0 : -ENOMEM;
    }
    if (strcmp(it->string, "Encrypted") == 0 && cJSON_IsBool(it)) {
        p->encrypted = cJSON_IsTrue(it) ? 1 : 0;
        return 0;
    }
    if (strcmp(it->string, "CopyToRegions") == 0 && cJSON_IsArray(it))
        return json_regions(p, it, why, whylen);
    if (strcmp(it->string, "KeepStaged") == 0 && cJSON_IsBool(it)) {
        p->keep_staged = cJSON_IsTrue(it) ? 1 : 0;
        return 0;
    }
    if (strcmp(it->string, "EnaSupport") == 0 && cJSON_IsBool(it)) {
        p->ena_support = cJSON_IsTrue(it) ? 1 : 0;
        return 0;
    }
    if (strcmp(it->string, "Tags") == 0 &&
        (cJSON_IsObject(it) || cJSON_IsArray(it))) {
        why[0] = '\0';
        int rc = json_tags(p, it, why, whylen);
        if (rc == 0 || rc == -ENOMEM)
            return rc;
        if (!why[0])
            snprintf(why, whylen, "Tags must be {\"Key\": \"Value\"} or "
                                  "[{\"Key\": …, \"Value\": …}]");
        return -EINVAL;
    }
    json_unknown(it, why, whylen);
    return -EINVAL;
}

/* Does a JSON string hold the escape \u0000? cJSON would end the string
 * there, dropping the rest; a backslash escaped itself ("\\u0000") does
 * not count. */
static bool json_has_nul_escape(const char *json, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++) {
        if (json[i] != '\\')
            continue;
        if (json[i + 1] == 'u' && strncmp(json + i + 2, "0000", 4) == 0)
            return true;
        i++; /* skip the escaped character */
    }
    return false;
}

int import_params_from_json(struct import_params *p, const char *json,
                            size_t n, char *why, size_t whylen)
{
    if (json_has_nul_escape(json, n)) {
        snprintf(why, whylen, "a string contains a NUL (\\u0000)");
        return -EINVAL;
    }
    cJSON *root = cJSON_ParseWithLength(json, n);
    if (!root || !cJSON_IsObject(root)) {
        snprintf(why, whylen, "not a JSON object");
        cJSON_Delete(root);
        return -EINVAL;
    }
    int rc = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        rc = json_member(p, it, why, whylen);
        if (rc != 0)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

/* Merge `src` over `dst` (set fields of src win; tags added/replaced). */
int import_params_merge(struct import_params *dst,
                        const struct import_params *src)
{
    static const char *const NAMES[] = {
        "boot_mode",  "license_type", "platform",    "architecture",
        "kms_key_id", "role_name",    "description", "route",
        "tpm_support", "imds_support", "root_device_name"};
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        char *v = *param_field((struct import_params *)src, NAMES[i]);
        if (v) {
            char **f = param_field(dst, NAMES[i]);
            replace(f, v);
            if (!*f)
                return -ENOMEM;
        }
    }
    if (src->encrypted >= 0)
        dst->encrypted = src->encrypted;
    if (src->keep_staged >= 0)
        dst->keep_staged = src->keep_staged;
    if (src->copy_regions) {
        replace(&dst->copy_regions, src->copy_regions);
        if (!dst->copy_regions)
            return -ENOMEM;
    }
    if (src->ena_support >= 0)
        dst->ena_support = src->ena_support;
    for (size_t i = 0; i < src->tags.n; i++)
        if (import_tag_set(&dst->tags, src->tags.v[i].key, src->tags.v[i].value))
            return -ENOMEM;
    return 0;
}

int import_params_check(const char *json, size_t n, char *why, size_t whylen)
{
    cJSON *root = cJSON_ParseWithLength(json, n);
    bool whole = root != NULL;
    cJSON_Delete(root);
    if (!whole)
        return 1;
    struct import_params p;
    import_params_init(&p);
    int rc = import_params_from_json(&p, json, n, why, whylen);
    import_params_release(&p);
    return rc;
}

/* ---- the ImportImage/ImportSnapshot client token ---------------------- */

void import_client_token(const char *bucket, const char *key,
                         const char *etag, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    out[0] = '\0';
    if (!c)
        return;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, bucket, strlen(bucket));
    EVP_DigestUpdate(c, "/", 1);
    EVP_DigestUpdate(c, key, strlen(key));
    EVP_DigestUpdate(c, "#", 1);
    EVP_DigestUpdate(c, etag, strlen(etag));
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < 32 && i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
