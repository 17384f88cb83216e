/* test_buf.c — struct buf: appends, the cap, printf, detach, reset. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/buf.h"
#include "check.h"

static void test_basic(void)
{
    struct buf b;

    buf_init(&b, 0);
    CHECK(b.max == BUF_DEFAULT_MAX, "default max");
    CHECK(b.data == NULL && strcmp(buf_cstr(&b), "") == 0, "empty");
    CHECK(buf_appends(&b, "abc") == 0 && buf_appendc(&b, 'd') == 0, "append");
    CHECK(buf_append(&b, "e\0f", 3) == 0 && b.len == 7, "binary len %zu",
          b.len);
    CHECK(memcmp(b.data, "abcde\0f", 8) == 0, "content + NUL");
    CHECK(buf_printf(&b, "-%d-%s", 42, "x") == 0 && b.len == 12, "printf");
    CHECK(memcmp(b.data + 7, "-42-x", 6) == 0, "printf content");
    buf_reset(&b);
    CHECK(b.len == 0 && strcmp(buf_cstr(&b), "") == 0 && b.data != NULL,
          "reset keeps allocation");
    CHECK(buf_append(&b, NULL, 0) == 0 && b.len == 0, "empty append");
    buf_release(&b);
    CHECK(b.data == NULL && b.len == 0 && b.max == BUF_DEFAULT_MAX, "release");
}

static void test_cap(void)
{
    struct buf b;
    char big[100];

    memset(big, 'x', sizeof big);
    buf_init(&b, 10);
    CHECK(buf_append(&b, big, 10) == 0, "exactly max");
    CHECK(buf_appendc(&b, 'y') == -E2BIG, "past max");
    CHECK(b.len == 10 && b.data[10] == '\0', "failed append leaves buffer");
    buf_reset(&b);
    CHECK(buf_printf(&b, "%s", "0123456789A") == -E2BIG && b.len == 0,
          "printf past max");
    CHECK(buf_append(&b, big, (size_t)-1) == -E2BIG, "huge length");
    buf_release(&b);
    CHECK(b.max == 10, "release keeps max");
}

static void test_growth_and_detach(void)
{
    struct buf b;
    char *s;

    buf_init(&b, 0);
    for (int i = 0; i < 100000; i++)
        if (buf_printf(&b, "%d,", i % 10)) {
            CHECK(0, "append %d", i);
            break;
        }
    CHECK(b.len == 200000 && b.cap > b.len, "len %zu cap %zu", b.len, b.cap);
    CHECK(b.data[0] == '0' && b.data[199998] == '9', "content");
    s = buf_detach(&b);
    CHECK(s && strlen(s) == 200000 && b.data == NULL && b.len == 0,
          "detach");
    free(s);
    s = buf_detach(&b);
    CHECK(s && *s == '\0', "detach of empty is \"\"");
    free(s);
}

int main(void)
{
    test_basic();
    test_cap();
    test_growth_and_detach();
    printf("buf: %d failures\n", failures);
    return failures ? 1 : 0;
}
