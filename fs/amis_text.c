/*
 * amis_text.c — checks and parsing for the writable files of amis/ (see
 * amis_text.h). Pure functions: no AWS, no FUSE, no locks.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/amis_text.h"

/* Length of the UTF-8 sequence that starts at s[0..n): 1..4, 0 when it is
 * cut by the end of s, -1 when it is not UTF-8. */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2
              : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : -1;
    if (len <= 1)
        return len;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if ((s[i] & 0xc0) != 0x80)
            return -1;
    }
    /* overlong forms, UTF-16 surrogates, and past U+10FFFF */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
        return -1;
    return len;
}

static bool control_byte(unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
}

int amis_text_check(const char *s, size_t n, bool partial, size_t *chars,
                    const char **why)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t count = 0;
    for (size_t i = 0; i < n; count++) {
        if (u[i] == '\0') {
            *why = "it holds a NUL byte (binary data, or a write past "
                   "the end of the file)";
            return -EINVAL;
        }
        if (control_byte(u[i])) {
            *why = "it holds a control character (binary data)";
            return -EINVAL;
        }
        int len = utf8_seq(u + i, n - i);
        if (len == 0 && partial)
            break;
        if (len <= 0) {
            *why = "it is not UTF-8 text (binary data)";
            return -EINVAL;
        }
        i += (size_t)len;
    }
    if (chars)
        *chars = count;
    return 0;
}

int amis_tag_key_check(const char *key, const char **why)
{
    size_t chars = 0;
    int rc = amis_text_check(key, strlen(key), false, &chars, why);
    if (rc != 0)
        return rc;
    if (chars > AMIS_TAG_KEY_MAX) {
        *why = "a tag key is at most 128 characters";
        return -ENAMETOOLONG;
    }
    if (strncmp(key, "aws:", 4) == 0) {
        *why = "AWS reserves tag keys that start with 'aws:'";
        return -EPERM;
    }
    return 0;
}

int amis_tag_value_check(const char *s, size_t n, bool partial, size_t *len,
                         const char **why)
{
    size_t chars = 0;
    size_t vlen = n > 0 && s[n - 1] == '\n' ? n - 1 : n;
    if (n > AMIS_TAG_FILE_MAX) {
        *why = "a tag value is at most 256 characters";
        return -EINVAL;
    }
    int rc = amis_text_check(s, vlen, partial, &chars, why);
    if (rc != 0)
        return rc;
    if (chars > AMIS_TAG_VALUE_MAX) {
        *why = "a tag value is at most 256 characters";
        return -EINVAL;
    }
    if (len)
        *len = vlen;
    return 0;
}

static bool perms_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',';
}

/* Bytes of s[0..n) in [a-z0-9] from the start. */
static size_t span_alnum(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') ||
                     (s[i] >= '0' && s[i] <= '9')))
        i++;
    return i;
}

static bool is_account(const char *s, size_t len)
{
    if (len != 12)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* s[0..n) starts with `lit`? Advances *at past it. */
static bool eat(const char *s, size_t n, size_t *at, const char *lit)
{
    size_t l = strlen(lit);
    if (n - *at < l || memcmp(s + *at, lit, l) != 0)
        return false;
    *at += l;
    return true;
}

/* PREFIX then [a-z0-9]{min,max} at *at; advances past it. */
static bool eat_id(const char *s, size_t n, size_t *at, const char *prefix,
                   size_t min, size_t max)
{
    if (!eat(s, n, at, prefix))
        return false;
    size_t k = span_alnum(s + *at, n - *at);
    *at += k;
    return k >= min && k <= max;
}

/* "arn:PARTITION:organizations::ACCOUNT:" then "organization/o-ID" or
 * "ou/o-ID/ou-ROOT-ID" (the forms AWS Organizations documents). */
static bool is_org_arn(const char *s, size_t n)
{
    size_t at = 0;
    if (!eat(s, n, &at, "arn:aws"))
        return false; /* partitions: aws, aws-cn, aws-us-gov, … */
    for (size_t k = 0; at < n && k < 16 && s[at] != ':'; k++, at++)
        if (s[at] != '-' && (s[at] < 'a' || s[at] > 'z'))
            return false;
    if (!eat(s, n, &at, ":organizations::") || n - at < 13 ||
        !is_account(s + at, 12))
        return false;
    at += 12;
    if (eat(s, n, &at, ":organization/"))
        return eat_id(s, n, &at, "o-", 10, 32) && at == n;
    if (!eat(s, n, &at, ":ou/") || !eat_id(s, n, &at, "o-", 10, 32) ||
        !eat_id(s, n, &at, "/ou-", 4, 32) || !eat_id(s, n, &at, "-", 8, 32))
        return false;
    return at == n;
}

static bool is_entry(const char *s, size_t len)
{
    if (len == 3 && memcmp(s, "all", 3) == 0)
        return true;
    return is_account(s, len) || is_org_arn(s, len);
}

bool amis_perms_is_org(const char *entry)
{
    return strncmp(entry, "arn:", 4) == 0;
}

static int entry_add(struct ec2_id_list *out, const char *s, size_t len)
{
    if (out->n == 0 || (out->n >= 8 && (out->n & (out->n - 1)) == 0)) {
        size_t cap = out->n ? out->n * 2 : 8; /* doubles at 8, 16, 32… */
        char **nv = realloc(out->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        out->v = nv;
    }
    if (!(out->v[out->n] = strndup(s, len)))
        return -ENOMEM;
    out->n++;
    return 0;
}

int amis_perms_scan(const char *s, size_t n, struct ec2_id_list *out,
                    size_t *count, char *bad, size_t bad_n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '#') {
            const char *nl = memchr(s + i, '\n', n - i);
            i = nl ? (size_t)(nl - s) : n;
            continue;
        }
        if (perms_sep(s[i])) {
            i++;
            continue;
        }
        size_t len = 0;
        while (i + len < n && !perms_sep(s[i + len]) && s[i + len] != '#')
            len++;
        if (!is_entry(s + i, len)) {
            snprintf(bad, bad_n, "%.*s",
                     (int)(len > AMIS_PERMS_ENTRY_MAX ? AMIS_PERMS_ENTRY_MAX
                                                      : len), s + i);
            return -EINVAL;
        }
        if (++*count > AMIS_PERMS_IDS_MAX)
            return -EFBIG;
        if (out && entry_add(out, s + i, len) != 0)
            return -ENOMEM;
        i += len;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void amis_perms_sort(struct ec2_id_list *l)
{
    size_t j = 0;
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp_str);
    for (size_t i = 0; i < l->n; i++) {
        if (j > 0 && strcmp(l->v[j - 1], l->v[i]) == 0) {
            free(l->v[i]);
            continue;
        }
        l->v[j++] = l->v[i];
    }
    l->n = j;
}

int amis_perms_diff(const struct ec2_id_list *a, const struct ec2_id_list *b,
                    bool users_only, struct ec2_id_list *out)
{
    size_t j = 0;
    out->n = 0;
    out->v = calloc(a->n + 1, sizeof(*out->v));
    if (!out->v)
        return -ENOMEM;
    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && strcmp(b->v[j], a->v[i]) < 0)
            j++;
        if (j < b->n && strcmp(b->v[j], a->v[i]) == 0)
            continue;
        if (users_only && (strcmp(a->v[i], "all") == 0 ||
                           amis_perms_is_org(a->v[i])))
            continue;
        out->v[out->n++] = a->v[i];
    }
    return 0;
}
