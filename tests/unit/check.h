/* check.h - the one assertion harness shared by the C unit tests.
 *
 * Each test_*.c is its own program (one translation unit), so this header
 * defines the per-program failure counter itself; main() reports it (most
 * through check_exit()) and returns non-zero when it is not 0 (exit 77 stays
 * "skip").
 *
 * CHECK(cond)              on failure: "FAIL file:line: cond"
 * CHECK(cond, fmt, ...)    on failure: "FAIL file:line: cond: <message>"
 *
 * A failing CHECK counts and goes on, so one run shows every broken case.
 * Messages go to stderr. streq()/STREQ()/SHOW() are the NULL-safe string
 * helpers most tests want when comparing parsed fields.
 */
#ifndef AMIFS_TESTS_UNIT_CHECK_H
#define AMIFS_TESTS_UNIT_CHECK_H

#include <stdio.h>
#include <string.h>

static int failures;

/* __VA_OPT__ (a GNU extension in gnu11) lets one macro serve both the plain
 * and the message form without a zero-length format string. */
#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s", __FILE__, __LINE__, #cond);    \
            __VA_OPT__(fputs(": ", stderr); fprintf(stderr, __VA_ARGS__);)   \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

/* True only when both strings exist and are equal: a NULL field never
 * matches an expected value. */
static inline int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}
#define STREQ(a, b) streq((a), (b))
#define SHOW(s) ((s) ? (s) : "(null)")

/* main()'s last word: say how many checks failed (if any) and give the exit
 * status meson expects, 1 on any failure, else 0. */
static inline int check_exit(void)
{
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}

#endif
