/*
 * name.h — names as people read them and as S3 and EC2 store them.
 *
 * Three jobs, all pure functions (no FUSE, no locks, no globals, no
 * allocation: every output goes into a buffer the caller gives), so any
 * thread may call them and the fuzz target tests/fuzz/fuzz_name.c can drive
 * them directly. doc/design/names.md is the user-facing statement of the
 * rules below.
 *
 * 1. Printing. name_esc() renders a name (file name, S3 key, tag key) for a
 *    log line, a status or diagnosis file, an error message: printable UTF-8
 *    is kept as is; control characters (C0, DEL, and the C1 range
 *    U+0080..U+009F, whose U+009B is a terminal's CSI), invalid UTF-8 and
 *    the backslash are shown as escapes ("\x1b", "\xff", "\\"), so a name can
 *    neither move a terminal's cursor nor forge a log line, and the escaped
 *    text tells different names apart. Use it at every place a name
 *    reaches a person.
 *
 * 2. Refusing. name_check() says whether a component may be created: S3
 *    keys are UTF-8, so a name that is not valid UTF-8 is refused with
 *    -EILSEQ (S3 would store U+FFFD in its place and the file would come
 *    back under another name); a name with a control character is refused
 *    with -EINVAL (it would reach logs, status files and AWS requests). The
 *    reason, for the log line, is a constant sentence in *why.
 *
 * 3. Mapping. One reversible encoding maps a string that cannot be a file
 *    name as it is (an S3 key remainder with "/" or empty components, "."
 *    and "..", an EC2 tag key with "/") to a name, and back:
 *      "/"  -> "%2F"    always
 *      "%"  -> "%25"    when followed by "2F", "25" or "2E", or last
 *      "." and ".." (the whole string) -> "%2E" and "%2E%2E"
 *    Every other byte is kept, so ordinary names ("x%zz", "50% off") are
 *    shown unchanged. Decoding turns exactly those three escapes back (hex
 *    in upper case; "%2f" is three literal characters). A name is
 *    *canonical* when encoding what it decodes to gives it back; only
 *    canonical names are accepted (create, lookup), so every string has
 *    exactly one name and every accepted name exactly one string.
 *    Buckets add one form: "NAME%" (a final lone "%", which no encoding
 *    produces) is the object NAME that a prefix NAME/ shadows — the
 *    directory keeps the plain name, the object is listed beside it.
 *
 * Errors are negative errno values; no function here logs.
 */
#ifndef AMIFS_CORE_NAME_H
#define AMIFS_CORE_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* A buffer large enough for name_esc() of any file name (255 bytes, each
 * shown as at most 4 characters) and of most keys; longer input is cut
 * and ends in "...". */
#define NAME_ESC_MAX 1100

/* Write the printable form of `s` (NUL-terminated; NULL prints "(null)")
 * into buf (len > 0); returns buf, so it can be an argument of a log
 * call. Truncated output ends in "..." and is always NUL-terminated. */
const char *name_esc(const char *s, char *buf, size_t len);
/* The same for n bytes that may hold NULs (shown as "\x00"). */
const char *name_esc_n(const char *s, size_t n, char *buf, size_t len);

/* true when s[0..n) is valid UTF-8 (shortest forms, no surrogates, at most
 * U+10FFFF). */
bool name_utf8_valid(const char *s, size_t n);
/* Number of Unicode characters in valid UTF-8 s[0..n) (AWS counts limits
 * in characters); for invalid input, the number of bytes. */
size_t name_utf8_chars(const char *s, size_t n);
/* May a new file be called `s`? 0, -EILSEQ (not UTF-8) or -EINVAL (a
 * control character); *why (if why) then points to a constant sentence. */
int name_check(const char *s, const char **why);

/* Flags of a decoded name. */
#define NAME_SHADOWED 1 /* the "NAME%" form: the object under a prefix */

/* Encode s[0..n) into out (outlen bytes, NUL-terminated); `flags` may hold
 * NAME_SHADOWED to append the shadow mark. Returns the length written, or
 * -EINVAL for an empty string, -ENAMETOOLONG when out is too small. */
int name_encode(const char *s, size_t n, int flags, char *out, size_t outlen);
/* Decode `name` into out (NUL-terminated; a decoded string never holds a
 * NUL, so it is returned as a C string) and *flags. Returns the decoded
 * length, -EINVAL when `name` is empty or not canonical (see above),
 * -ENAMETOOLONG when out is too small, -ENOMEM (a name over 3 KiB, whose
 * canonical check needs a buffer, when memory is out). */
int name_decode(const char *name, char *out, size_t outlen, int *flags);

/* Tag keys as file names (amis/NAME/tags/, regions/R/amis/NAME/tags/): the
 * same encoding without the shadow form. name_tag_encode gives the file
 * name of tag key `key`; name_tag_decode gives the key of a file name, or
 * -EINVAL for a name that no key is listed as (e.g. "x%" or "%2E%2Ex"),
 * so a file created under a name is listed under the same name. */
int name_tag_encode(const char *key, char *out, size_t outlen);
int name_tag_decode(const char *name, char *out, size_t outlen);

#endif
