/*
 * test_xml.c — the XML tree: every example AWS body in tests/unit/aws-examples parses,
 * lookups work, and hostile input (deep nesting, entity tricks, huge text,
 * too many elements, truncation) fails cleanly with AWS_ERR_PARSE.
 *
 * Examples are read from $AMIFS_AWS_EXAMPLES, else tests/unit/aws-examples
 * (bodies the AWS CLIs were checked against).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aws/xml.h"
#include "check.h"
#include "slurp.h"

static const char *examples_dir(void)
{
    static const char *const dirs[] = {"tests/unit/aws-examples", NULL};
    const char *e = getenv("AMIFS_AWS_EXAMPLES");
    struct stat st;

    if (e && *e)
        return e;
    for (const char *const *d = dirs; *d; d++)
        if (stat(*d, &st) == 0)
            return *d;
    return NULL;
}

/* Every prefix of a document either parses or fails with a parse error. */
static void check_truncations(const char *name, const char *data, size_t len)
{
    struct aws_error err;
    int ok = 0;

    for (size_t i = 0; i < len; i++) {
        struct xml_doc *d = xml_parse(data, i, &err);
        if (d) {
            ok++;
            xml_free(d);
        } else if (err.kind != AWS_ERR_PARSE) {
            CHECK(0, "%s prefix %zu: kind %d", name, i, err.kind);
            return;
        }
    }
    /* only the complete document (maybe minus trailing space) is valid */
    CHECK(ok <= 2, "%s: %d truncated prefixes parsed", name, ok);
}

static void test_examples(void)
{
    const char *dir = examples_dir();
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    int n = 0;

    CHECK(d != NULL, "examples directory not found");
    while (d && (e = readdir(d))) {
        char path[4096];
        size_t len = 0;
        char *data;
        struct aws_error err;
        struct xml_doc *doc;

        if (!strstr(e->d_name, ".xml") ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
                (int)sizeof path)
            continue;
        data = test_slurp(path, &len);
        doc = data ? xml_parse(data, len, &err) : NULL;
        CHECK(doc != NULL, "%s: %s", e->d_name, doc ? "" : err.message);
        CHECK(doc && xml_name(xml_root(doc)) && *xml_name(xml_root(doc)),
              "%s: root", e->d_name);
        if (data && len < 4096)
            check_truncations(e->d_name, data, len);
        xml_free(doc);
        free(data);
        n++;
    }
    if (d)
        closedir(d);
    CHECK(n >= 30, "only %d examples", n);
}

static void test_lookups(void)
{
    static const char doc_text[] =
        "  \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>b</Name><Contents><Key>a&amp;b</Key><Size>1</Size></Contents>"
        "<Contents><Key>c</Key><Size>2</Size></Contents>"
        "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"
        "<x:Other xmlns:x=\"urn:x\">t<![CDATA[<raw>]]>u</x:Other>"
        "</ListBucketResult>";
    struct aws_error err;
    struct xml_doc *d = xml_parse(doc_text, sizeof doc_text - 1, &err);
    const struct xml_node *root = xml_root(d), *c;
    int n = 0;

    CHECK(d, "parse: %s", d ? "" : err.message);
    CHECK(strcmp(xml_name(root), "ListBucketResult") == 0, "root name");
    CHECK(strcmp(xml_path(root, "Name"), "b") == 0, "Name");
    CHECK(strcmp(xml_path(root, "Contents/Key"), "a&b") == 0, "entity");
    CHECK(strcmp(xml_path(root, "CommonPrefixes/Prefix"), "p/") == 0, "path");
    CHECK(strcmp(xml_path(root, "Other"), "t<raw>u") == 0, "ns + CDATA: %s",
          xml_path(root, "Other"));
    CHECK(xml_path(root, "Nope/Key") == NULL, "absent path");
    for (c = xml_child(root, "Contents"); c; c = xml_next(c, "Contents"))
        n++;
    CHECK(n == 2, "Contents count %d", n);
    c = xml_child(root, "Contents");
    CHECK(strcmp(xml_name(xml_next(c, NULL)), "Contents") == 0, "next any");
    CHECK(strcmp(xml_name(xml_child(root, NULL)), "Name") == 0, "first child");
    CHECK(xml_child(NULL, "x") == NULL && xml_next(NULL, NULL) == NULL &&
              strcmp(xml_text(NULL), "") == 0 && xml_name(NULL) == NULL &&
              xml_path(NULL, "a") == NULL && xml_root(NULL) == NULL,
          "NULL-safe");
    CHECK(strcmp(xml_text(xml_child(xml_child(root, "Nope"), "Key")), "") == 0,
          "chained NULL");
    xml_free(d);
    xml_free(NULL);
}

static void expect_fail(const char *what, const char *data, size_t len)
{
    struct aws_error err;
    struct xml_doc *d = xml_parse(data, len, &err);

    CHECK(d == NULL, "%s: parsed", what);
    CHECK(d || err.kind == AWS_ERR_PARSE, "%s: kind %d", what, err.kind);
    xml_free(d);
}

static char *nested(int depth)
{
    struct buf b;

    buf_init(&b, 0);
    for (int i = 0; i < depth; i++)
        buf_appends(&b, "<a>");
    for (int i = 0; i < depth; i++)
        buf_appends(&b, "</a>");
    return buf_detach(&b);
}

static void test_hostile(void)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "]><lolz>&lol3;</lolz>";
    static const char xxe[] =
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM "
        "\"file:///etc/passwd\">]><r>&x;</r>";
    struct aws_error err;
    struct xml_doc *d;
    char *s;
    struct buf b;

    expect_fail("billion laughs", laughs, sizeof laughs - 1);
    expect_fail("external entity", xxe, sizeof xxe - 1);
    expect_fail("undefined entity", "<a>&x;</a>", 10);
    expect_fail("empty", "", 0);
    expect_fail("NULL", NULL, 0);
    expect_fail("whitespace only", "  \n ", 4);
    expect_fail("text only", "hello", 5);
    expect_fail("two roots", "<a/><b/>", 8);
    expect_fail("mismatched", "<a></b>", 7);
    expect_fail("html", "<html><body>503<br></body></html>", 33);
    s = nested(XML_MAX_DEPTH);
    d = xml_parse(s, strlen(s), &err);
    CHECK(d != NULL, "depth %d should parse", XML_MAX_DEPTH);
    xml_free(d);
    free(s);
    s = nested(XML_MAX_DEPTH + 1);
    expect_fail("too deep", s, strlen(s));
    free(s);
    s = nested(100000);
    expect_fail("very deep", s, strlen(s));
    free(s);

    buf_init(&b, 0);
    buf_appends(&b, "<a>");
    for (size_t i = 0; i < XML_MAX_TEXT / 1024 + 1; i++) {
        char k[1024];
        memset(k, 'x', sizeof k);
        buf_append(&b, k, sizeof k);
    }
    buf_appends(&b, "</a>");
    expect_fail("huge text", b.data, b.len);
    buf_reset(&b);
    buf_appends(&b, "<a>");
    for (size_t i = 0; i < XML_MAX_NODES; i++)
        buf_appends(&b, "<b/>");
    buf_appends(&b, "</a>");
    expect_fail("too many elements", b.data, b.len);
    buf_release(&b);
}

static void test_escape(void)
{
    struct buf b;

    buf_init(&b, 0);
    CHECK(xml_escape(&b, "a<b>&\"c'd\"") == 0, "escape");
    CHECK(strcmp(buf_cstr(&b), "a&lt;b&gt;&amp;&quot;c&apos;d&quot;") == 0,
          "%s", buf_cstr(&b));
    buf_release(&b);
}

int main(void)
{
    test_examples();
    test_lookups();
    test_hostile();
    test_escape();
    printf("xml: %d failures\n", failures);
    return failures ? 1 : 0;
}
