/* Unit tests for core/name.c: the printable form of names, the create-time
 * check, and the reversible name <-> key / tag-key encoding (the property
 * the fuzz target tests/fuzz/fuzz_name.c checks on random input). */
#include <errno.h>
#include <string.h>

#include "core/diagnosis.h"
#include "core/name.h"
#include "core/status.h"
#include "check.h"

static void test_esc(void)
{
    char b[NAME_ESC_MAX];
    CHECK(streq(name_esc("plain.vhd", b, sizeof b), "plain.vhd"));
    CHECK(streq(name_esc("e\x1b]0;pwn\ax.vhd", b, sizeof b),
                "e\\x1b]0;pwn\\x07x.vhd"), "%s", b);
    CHECK(streq(name_esc("caf\xc3\xa9 \xe2\x82\xac", b, sizeof b),
                "caf\xc3\xa9 \xe2\x82\xac"));
    CHECK(streq(name_esc("a\xff\xc3", b, sizeof b), "a\\xff\\xc3"), "%s", b);
    CHECK(streq(name_esc("csi\xc2\x9b", b, sizeof b), "csi\\xc2\\x9b"));
    CHECK(streq(name_esc("back\\slash\n", b, sizeof b),
                "back\\\\slash\\x0a"));
    CHECK(streq(name_esc_n("a\0b", 3, b, sizeof b), "a\\x00b"));
    CHECK(streq(name_esc(NULL, b, sizeof b), "(null)"));
    char small[10];
    CHECK(streq(name_esc("\x01\x02\x03\x04", small, sizeof small),
                "\\x01..."), "%s", small);
    CHECK(strlen(name_esc("abcdefghijklmnop", small, sizeof small)) < 10);
}

static void test_check(void)
{
    const char *why = NULL;
    CHECK(name_check("vm.vhd", &why) == 0);
    CHECK(name_check("\xc3\xa9t\xc3\xa9.ova", &why) == 0);
    CHECK(name_check("bad\xff.vhd", &why) == -EILSEQ && why);
    CHECK(name_check("over\xc0\xaflong", NULL) == -EILSEQ);
    CHECK(name_check("surrogate\xed\xa0\x80", NULL) == -EILSEQ);
    CHECK(name_check("e\x1b]0;pwn\ax.vhd", &why) == -EINVAL);
    CHECK(name_check("del\x7f", NULL) == -EINVAL);
    CHECK(name_check("c1\xc2\x85", NULL) == -EINVAL);
    CHECK(name_utf8_chars("\xc3\xa9\xe2\x82\xac", 5) == 2);
    CHECK(name_utf8_chars("\xff\xff", 2) == 2);
}

static void round_trip(const char *s, int flags, const char *want)
{
    char enc[4096], dec[4096];
    int f = -1;
    int n = name_encode(s, strlen(s), flags, enc, sizeof enc);
    CHECK(n > 0 && streq(enc, want), "%s -> %s (want %s)", s,
          n > 0 ? enc : "error", want);
    CHECK(name_decode(want, dec, sizeof dec, &f) == (int)strlen(s) &&
              streq(dec, s) && f == flags,
          "%s decodes to %s", want, dec);
}

static void test_map(void)
{
    round_trip("plain", 0, "plain");
    round_trip("x%zz", 0, "x%zz");
    round_trip("50% off", 0, "50% off");
    round_trip("50%", 0, "50%25");
    round_trip("a/b", 0, "a%2Fb");
    round_trip("/leading", 0, "%2Fleading");
    round_trip("/double", 0, "%2Fdouble");
    round_trip(".", 0, "%2E");
    round_trip("..", 0, "%2E%2E");
    round_trip("./x", 0, ".%2Fx");
    round_trip("...", 0, "...");
    round_trip("%2F", 0, "%252F");
    round_trip("%25", 0, "%2525");
    round_trip("%2E", 0, "%252E");
    round_trip("%2f", 0, "%2f");
    round_trip("dir", NAME_SHADOWED, "dir%");
    round_trip("50%", NAME_SHADOWED, "50%25%");
    round_trip("e\x1b", 0, "e\x1b");

    char out[64];
    int f;
    /* Names no string encodes to are refused, not guessed. */
    CHECK(name_decode("", out, sizeof out, &f) == -EINVAL);
    CHECK(name_decode("%", out, sizeof out, &f) == -EINVAL);
    CHECK(name_decode("a%2Eb", out, sizeof out, &f) == -EINVAL);
    CHECK(name_decode("%2E%2Ex", out, sizeof out, &f) == -EINVAL);
    CHECK(name_decode("a%%", out, sizeof out, &f) == -EINVAL);
    CHECK(name_encode("", 0, 0, out, sizeof out) == -EINVAL);
    CHECK(name_encode("abcdef", 6, 0, out, 4) == -ENAMETOOLONG);
    CHECK(name_decode("abcdef", out, 4, &f) == -ENAMETOOLONG);

    /* A long segment of escapes (3000 bytes that encode to 9000) decodes
     * back: the canonical check is not bounded by a fixed buffer (found by
     * fuzz_name, tests/fuzz/regressions/fuzz_name/). */
    static char slashes[3001], enc[9002], dec[3001];
    memset(slashes, '/', 3000);
    CHECK(name_encode(slashes, 3000, 0, enc, sizeof enc) == 9000);
    CHECK(name_decode(enc, dec, sizeof dec, &f) == 3000 && f == 0 &&
          streq(dec, slashes));

    /* Tags: the same encoding, no shadow form. */
    CHECK(name_tag_encode("x%zz", out, sizeof out) == 4 &&
          streq(out, "x%zz"));
    CHECK(name_tag_decode("x%zz", out, sizeof out) == 4 &&
          streq(out, "x%zz"));
    CHECK(name_tag_encode("team/owner", out, sizeof out) > 0 &&
          streq(out, "team%2Fowner"));
    CHECK(name_tag_decode("team%2Fowner", out, sizeof out) == 10 &&
          streq(out, "team/owner"));
    CHECK(name_tag_decode("x%25zz", out, sizeof out) == -EINVAL);
    CHECK(name_tag_decode("dir%", out, sizeof out) == -EINVAL);
}

/* What tasks/NAME/status, source and diagnosis print never holds the raw
 * control bytes of a name. */
static void test_status_escapes(void)
{
    const char *bad = "e\x1b]0;pwn\ax.vhd";
    struct upload_info u = {
        .phase = UPLOAD_FAILED, .name = bad, .bucket = "b",
        .key = "t/e\x1b]0;pwn\ax.vhd",
        .detail = "upload to s3://b/t/e\x1b]0;pwn\ax.vhd failed"};
    struct buf out;

    buf_init(&out, 0);
    CHECK(status_line(&u, NULL, false, &out) == 0);
    CHECK(status_source(&u, NULL, &out) == 0);
    CHECK(diagnosis_render(u.detail, &out) == 0);
    CHECK(!strchr(buf_cstr(&out), '\x1b') && !strchr(buf_cstr(&out), '\a'),
          "%s", buf_cstr(&out));
    CHECK(strstr(buf_cstr(&out), "s3://b/t/e\\x1b]0;pwn\\x07x.vhd\n"),
          "%s", buf_cstr(&out));
    CHECK(strstr(buf_cstr(&out), "\ne\\x1b]0;pwn\\x07x.vhd\n"));
    buf_release(&out);
}

int main(void)
{
    test_status_escapes();
    test_esc();
    test_check();
    test_map();
    return check_exit();
}
