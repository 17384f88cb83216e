/* xmlfix.h - parse an XML response body embedded in a unit test.
 *
 * parse_fixture() returns the parsed document (never NULL; the caller frees
 * it with xml_free()). A fixture that does not parse is a broken test, not a
 * failed check, so it prints why and exits 1 at once.
 */
#ifndef AMIFS_TESTS_UNIT_XMLFIX_H
#define AMIFS_TESTS_UNIT_XMLFIX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/err.h"
#include "aws/xml.h"

static inline struct xml_doc *parse_fixture(const char *body)
{
    struct aws_error err;
    struct xml_doc *d = xml_parse(body, strlen(body), &err);
    if (!d) {
        fprintf(stderr, "FAIL: cannot parse test body: %s\n", err.message);
        exit(1);
    }
    return d;
}

#endif
