/*
 * xml.c — expat into a small read-only tree (contract in xml.h).
 *
 * Every node is one allocation (struct + name) chained on the document's
 * `all` list, so freeing never recurses and a half-built tree after a parse
 * error is freed the same way as a complete one.
 */
#include "aws/xml.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

struct xml_node {
    struct xml_node *parent;
    struct xml_node *first, *last; /* children */
    struct xml_node *next;         /* next sibling */
    struct xml_node *all;          /* every node of the doc, for freeing */
    struct buf text;
    char name[];
};

struct xml_doc {
    struct xml_node *root;
    struct xml_node *all;
    /* parse state */
    XML_Parser parser;
    struct xml_node *cur;
    unsigned depth;
    size_t nodes;
    size_t text;
    enum aws_errc fail;
    const char *why;
};

/* Stop the parse with our own reason (expat then reports XML_ERROR_ABORTED). */
static void doc_fail(struct xml_doc *d, enum aws_errc kind, const char *why)
{
    if (!d->fail) {
        d->fail = kind;
        d->why = why;
    }
    XML_StopParser(d->parser, XML_FALSE);
}

/* With a namespace separator expat hands us "uri\x01local"; keep "local". */
static const char *local_name(const char *name)
{
    const char *p = strrchr(name, '\x01');

    return p ? p + 1 : name;
}

static struct xml_node *node_new(struct xml_doc *d, const char *name)
{
    size_t n = strlen(name);
    struct xml_node *x = calloc(1, sizeof *x + n + 1);

    if (!x)
        return NULL;
    memcpy(x->name, name, n + 1);
    buf_init(&x->text, XML_MAX_TEXT);
    x->all = d->all;
    d->all = x;
    return x;
}

static void XMLCALL on_start(void *ud, const XML_Char *name,
                             const XML_Char **attrs)
{
    struct xml_doc *d = ud;
    struct xml_node *x;

    (void)attrs;
    if (d->depth >= XML_MAX_DEPTH)
        return doc_fail(d, AWS_ERR_PARSE, "nesting too deep");
    if (d->nodes >= XML_MAX_NODES)
        return doc_fail(d, AWS_ERR_PARSE, "too many elements");
    x = node_new(d, local_name(name));
    if (!x)
        return doc_fail(d, AWS_ERR_NOMEM, "out of memory");
    d->nodes++;
    d->depth++;
    x->parent = d->cur;
    if (!d->cur) {
        d->root = x;
    } else if (d->cur->last) {
        d->cur->last->next = x;
        d->cur->last = x;
    } else {
        d->cur->first = d->cur->last = x;
    }
    d->cur = x;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xml_doc *d = ud;

    (void)name;
    if (d->cur)
        d->cur = d->cur->parent;
    d->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xml_doc *d = ud;

    if (!d->cur || len <= 0)
        return;
    if ((size_t)len > XML_MAX_TEXT - d->text)
        return doc_fail(d, AWS_ERR_PARSE, "too much text");
    d->text += (size_t)len;
    if (buf_append(&d->cur->text, s, (size_t)len))
        doc_fail(d, AWS_ERR_NOMEM, "out of memory");
}

/* A DOCTYPE is where entity declarations (billion laughs, external
 * entities) live; AWS never sends one, so refuse it outright. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    doc_fail(ud, AWS_ERR_PARSE, "DOCTYPE not allowed");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param,
                              const XML_Char *value, int value_len,
                              const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    doc_fail(ud, AWS_ERR_PARSE, "entity declaration not allowed");
}

static void setup_parser(struct xml_doc *d)
{
    XML_SetUserData(d->parser, d);
    XML_SetElementHandler(d->parser, on_start, on_end);
    XML_SetCharacterDataHandler(d->parser, on_text);
    XML_SetStartDoctypeDeclHandler(d->parser, on_doctype);
    XML_SetEntityDeclHandler(d->parser, on_entity);
}

static int run_parser(struct xml_doc *d, const char *data, size_t len,
                      struct aws_error *err)
{
    enum XML_Status st;

    /* S3's 200-with-<Error> bodies start with whitespace; expat insists the
     * declaration is the very first thing. */
    while (len && (*data == ' ' || *data == '\t' || *data == '\r' ||
                   *data == '\n')) {
        data++;
        len--;
    }
    if (len > (size_t)XML_MAX_TEXT * 2)
        return aws_error_set(err, AWS_ERR_PARSE, "XML document too large");
    st = XML_Parse(d->parser, data, (int)len, XML_TRUE);
    if (d->fail)
        return aws_error_set(err, d->fail, "XML rejected: %s", d->why);
    if (st != XML_STATUS_OK)
        return aws_error_set(
            err, AWS_ERR_PARSE, "XML parse error at line %lu: %s",
            (unsigned long)XML_GetCurrentLineNumber(d->parser),
            XML_ErrorString(XML_GetErrorCode(d->parser)));
    if (!d->root)
        return aws_error_set(err, AWS_ERR_PARSE, "XML has no root element");
    return 0;
}

struct xml_doc *xml_parse(const char *data, size_t len, struct aws_error *err)
{
    struct xml_doc *d = calloc(1, sizeof *d);
    int rc;

    if (!d) {
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory parsing XML");
        return NULL;
    }
    d->parser = XML_ParserCreateNS(NULL, '\x01');
    if (!d->parser) {
        free(d);
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory parsing XML");
        return NULL;
    }
    setup_parser(d);
    rc = run_parser(d, data ? data : "", data ? len : 0, err);
    XML_ParserFree(d->parser);
    d->parser = NULL;
    if (rc) {
        xml_free(d);
        return NULL;
    }
    return d;
}

void xml_free(struct xml_doc *doc)
{
    struct xml_node *x, *next;

    if (!doc)
        return;
    for (x = doc->all; x; x = next) {
        next = x->all;
        buf_release(&x->text);
        free(x);
    }
    free(doc);
}

const struct xml_node *xml_root(const struct xml_doc *doc)
{
    return doc ? doc->root : NULL;
}

const char *xml_name(const struct xml_node *n)
{
    return n ? n->name : NULL;
}

const char *xml_text(const struct xml_node *n)
{
    return n ? buf_cstr(&n->text) : "";
}

static bool name_is(const struct xml_node *x, const char *name, size_t len)
{
    return strncmp(x->name, name, len) == 0 && x->name[len] == '\0';
}

static const struct xml_node *find_from(const struct xml_node *x,
                                        const char *name, size_t len)
{
    for (; x; x = x->next)
        if (!name || name_is(x, name, len))
            return x;
    return NULL;
}

const struct xml_node *xml_child(const struct xml_node *n, const char *name)
{
    if (!n)
        return NULL;
    return find_from(n->first, name, name ? strlen(name) : 0);
}

const struct xml_node *xml_next(const struct xml_node *n, const char *name)
{
    if (!n)
        return NULL;
    return find_from(n->next, name, name ? strlen(name) : 0);
}

const char *xml_path(const struct xml_node *n, const char *path)
{
    const char *p = path, *slash;
    size_t len;

    if (!path)
        return NULL;
    while (n && *p) {
        slash = strchr(p, '/');
        len = slash ? (size_t)(slash - p) : strlen(p);
        n = find_from(n->first, p, len);
        p += len;
        if (*p == '/')
            p++;
    }
    return n ? buf_cstr(&n->text) : NULL;
}

int xml_escape(struct buf *out, const char *s)
{
    int rc = 0;

    for (; *s && !rc; s++) {
        switch (*s) {
        case '&': rc = buf_appends(out, "&amp;"); break;
        case '<': rc = buf_appends(out, "&lt;"); break;
        case '>': rc = buf_appends(out, "&gt;"); break;
        case '"': rc = buf_appends(out, "&quot;"); break;
        case '\'': rc = buf_appends(out, "&apos;"); break;
        default: rc = buf_appendc(out, *s); break;
        }
    }
    return rc;
}
