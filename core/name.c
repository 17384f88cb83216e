/* name.c — printing, checking and mapping names (see core/name.h). */
#include "core/name.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n) and its code point, or 0
 * when s does not start with one. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t MIN[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len;
    uint32_t c;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, c = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, c = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, c = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < MIN[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static bool is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

bool name_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;

    for (size_t i = 0, l; i < n; i += l)
        if ((l = utf8_seq(u + i, n - i, &cp)) == 0)
            return false;
    return true;
}

size_t name_utf8_chars(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t chars = 0;
    uint32_t cp;

    if (!name_utf8_valid(s, n))
        return n;
    for (size_t i = 0; i < n; i += utf8_seq(u + i, n - i, &cp))
        chars++;
    return chars;
}

int name_check(const char *s, const char **why)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    uint32_t cp;

    for (size_t i = 0, l; i < n; i += l) {
        l = utf8_seq(u + i, n - i, &cp);
        if (l == 0) {
            if (why)
                *why = "the name is not valid UTF-8 (S3 keys and AWS "
                       "names are UTF-8)";
            return -EILSEQ;
        }
        if (is_control(cp)) {
            if (why)
                *why = "the name contains a control character";
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- printing ----------------------------------------------------------- */

struct out {
    char *p;
    size_t len, at;
    bool cut;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->cut)
        return;
    if (o->at + n + 4 > o->len) { /* keep room for "...\0" */
        o->cut = true;
        return;
    }
    memcpy(o->p + o->at, s, n);
    o->at += n;
}

static void put_hex(struct out *o, unsigned char c)
{
    static const char HEX[] = "0123456789abcdef";
    char e[4] = {'\\', 'x', HEX[c >> 4], HEX[c & 15]};
    put(o, e, 4);
}

const char *name_esc_n(const char *s, size_t n, char *buf, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    struct out o = {buf, len, 0, false};
    uint32_t cp;

    if (len < 4) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    for (size_t i = 0, l; i < n && !o.cut; i += l) {
        l = utf8_seq(u + i, n - i, &cp);
        if (l == 0) {
            put_hex(&o, u[i]);
            l = 1;
        } else if (cp == '\\') {
            put(&o, "\\\\", 2);
        } else if (is_control(cp)) {
            for (size_t k = 0; k < l; k++)
                put_hex(&o, u[i + k]);
        } else {
            put(&o, s + i, l);
        }
    }
    if (o.cut) { /* every put left room for this */
        memcpy(buf + o.at, "...", 3);
        o.at += 3;
    }
    buf[o.at] = '\0';
    return buf;
}

const char *name_esc(const char *s, char *buf, size_t len)
{
    if (!s)
        s = "(null)";
    return name_esc_n(s, strlen(s), buf, len);
}

/* ---- mapping ------------------------------------------------------------ */

/* Is s[i] the start of one of the three escapes? */
static bool escape_at(const char *s, size_t n, size_t i)
{
    return i + 2 < n && s[i] == '%' && s[i + 1] == '2' &&
           (s[i + 2] == 'F' || s[i + 2] == '5' || s[i + 2] == 'E');
}

static int emit(char *out, size_t outlen, size_t *at, const char *s, size_t n)
{
    if (*at + n + 1 > outlen)
        return -ENAMETOOLONG;
    memcpy(out + *at, s, n);
    *at += n;
    return 0;
}

static bool is_dots(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

int name_encode(const char *s, size_t n, int flags, char *out, size_t outlen)
{
    size_t at = 0;
    int rc = 0;

    if (n == 0 || outlen == 0)
        return n == 0 ? -EINVAL : -ENAMETOOLONG;
    if (is_dots(s, n))
        rc = emit(out, outlen, &at, "%2E%2E", 3 * n);
    for (size_t i = 0; rc == 0 && !is_dots(s, n) && i < n; i++) {
        if (s[i] == '/')
            rc = emit(out, outlen, &at, "%2F", 3);
        else if (s[i] == '%' && (i + 1 == n || escape_at(s, n, i)))
            rc = emit(out, outlen, &at, "%25", 3);
        else
            rc = emit(out, outlen, &at, s + i, 1);
    }
    if (rc == 0 && (flags & NAME_SHADOWED))
        rc = emit(out, outlen, &at, "%", 1);
    if (rc < 0)
        return rc;
    out[at] = '\0';
    return (int)at;
}

/* Decode without the canonical check. */
static int decode_raw(const char *name, size_t n, char *out, size_t outlen,
                      int *flags)
{
    size_t at = 0;
    int rc = 0;

    *flags = 0;
    if (n > 0 && name[n - 1] == '%') { /* no escape ends in "%" */
        *flags = NAME_SHADOWED;
        n--;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (escape_at(name, n, i)) {
            char c = name[i + 2] == 'F' ? '/' : name[i + 2] == '5' ? '%' : '.';
            rc = emit(out, outlen, &at, &c, 1);
            i += 2;
        } else {
            rc = emit(out, outlen, &at, name + i, 1);
        }
    }
    if (rc < 0)
        return rc;
    out[at] = '\0';
    return (int)at;
}

int name_decode(const char *name, char *out, size_t outlen, int *flags)
{
    size_t n = strlen(name);
    char small[NAME_ESC_MAX * 3];
    int len;

    if (n == 0 || outlen == 0)
        return n == 0 ? -EINVAL : -ENAMETOOLONG;
    len = decode_raw(name, n, out, outlen, flags);
    if (len < 0)
        return len;
    if (len == 0)
        return -EINVAL;
    /* canonical: encoding it again gives `name` (n bytes) back. Names
     * of a file system are short; a key segment may not be. */
    char *again = n < sizeof small ? small : malloc(n + 1);
    if (!again)
        return -ENOMEM;
    if (name_encode(out, (size_t)len, *flags, again, n + 1) < 0 ||
        strcmp(again, name) != 0)
        len = -EINVAL;
    if (again != small)
        free(again);
    return len;
}

int name_tag_encode(const char *key, char *out, size_t outlen)
{
    return name_encode(key, strlen(key), 0, out, outlen);
}

int name_tag_decode(const char *name, char *out, size_t outlen)
{
    int flags;
    int rc = name_decode(name, out, outlen, &flags);

    return rc >= 0 && flags ? -EINVAL : rc;
}
