/*
 * fuzz_name.c — libFuzzer target: core/name.c, the printable form of names
 * and the reversible name <-> S3 key / tag key encoding.
 *
 * Input: byte 0 picks the flags (bit 0: NAME_SHADOWED); the rest, cut at
 * the first NUL, is used both as a string to encode and as a name to
 * decode. Properties checked (abort on failure):
 *  - decode(encode(s, f)) gives back s and f (every string has a name);
 *  - a name that decodes is canonical: encode(decode(n)) == n (every
 *    accepted name has exactly one string);
 *  - name_esc output has no control byte and is NUL-terminated in its
 *    buffer, whatever the input and buffer size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_esc(const char *s, size_t n, size_t buflen)
{
    char buf[NAME_ESC_MAX];
    name_esc_n(s, n, buf, buflen);
    size_t len = strnlen(buf, buflen);
    if (buflen >= 4 && len >= buflen)
        abort();
    for (size_t i = 0; buflen >= 4 && i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            abort();
}

static void check_round_trip(const char *s, size_t n, int flags)
{
    static char enc[3 * 4096 + 2], dec[4096 + 1];
    int f = -1;
    int e = name_encode(s, n, flags, enc, sizeof enc);
    if (n == 0) {
        if (e != -22 /* EINVAL */)
            abort();
        return;
    }
    if (e < 0 || (size_t)e != strlen(enc))
        abort();
    int d = name_decode(enc, dec, sizeof dec, &f);
    if (d != (int)n || memcmp(dec, s, n) != 0 || f != flags)
        abort();
}

static void check_canonical(const char *name)
{
    static char dec[4096 + 1], again[3 * 4096 + 2];
    int f;
    int d = name_decode(name, dec, sizeof dec, &f);
    if (d < 0)
        return;
    if (name_encode(dec, (size_t)d, f, again, sizeof again) < 0 ||
        strcmp(again, name) != 0)
        abort();
    char tag[4096 + 1];
    int t = name_tag_decode(name, tag, sizeof tag);
    if (t >= 0 && (f != 0 || strcmp(tag, dec) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    int flags = data[0] & NAME_SHADOWED;
    size_t n = strnlen((const char *)data + 1, size - 1);
    char *s = malloc(n + 1);
    if (!s)
        return 0;
    memcpy(s, data + 1, n);
    s[n] = '\0';
    check_esc(s, n, sizeof(char[NAME_ESC_MAX]));
    check_esc((const char *)data, size, 1 + data[0] % 64);
    check_round_trip(s, n, flags);
    check_canonical(s);
    name_check(s, NULL);
    name_utf8_chars(s, n);
    free(s);
    return 0;
}
