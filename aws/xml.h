/*
 * xml.h — AWS response bodies as a small read-only tree (expat underneath).
 *
 * xml_parse() builds a tree of elements. Names are local names (any namespace
 * prefix or URI is dropped: AWS answers with and without xmlns). Each element
 * has its text content (character data directly inside it, concatenated; ""
 * when none) and its child elements in document order. Attributes are ignored.
 *
 * Hostile input is bounded: a DOCTYPE (and so any entity declaration) is
 * refused, nesting deeper than XML_MAX_DEPTH, more than XML_MAX_NODES elements
 * or more than XML_MAX_TEXT bytes of text in total fail with AWS_ERR_PARSE.
 *
 * The document owns every node and string; they live until xml_free().
 * Lookup functions accept NULL nodes and return NULL, so chains like
 * xml_text(xml_child(xml_child(root, "a"), "b")) are safe.
 */
#ifndef AMIFS_AWS_XML_H
#define AMIFS_AWS_XML_H

#include <stddef.h>

#include "aws/buf.h"
#include "aws/err.h"

#define XML_MAX_DEPTH 64
#define XML_MAX_NODES 1000000
#define XML_MAX_TEXT ((size_t)32 << 20)

struct xml_doc;
struct xml_node;

/* NULL on failure (err filled, kind AWS_ERR_PARSE or AWS_ERR_NOMEM).
 * Leading whitespace before the XML declaration is accepted (S3 sends it on
 * 200-with-<Error> answers). */
struct xml_doc *xml_parse(const char *data, size_t len, struct aws_error *err);
void xml_free(struct xml_doc *doc);

const struct xml_node *xml_root(const struct xml_doc *doc);
const char *xml_name(const struct xml_node *n); /* NULL only for NULL n */
const char *xml_text(const struct xml_node *n); /* "" for NULL n */

/* First child element named `name` (NULL name: first child of any name). */
const struct xml_node *xml_child(const struct xml_node *n, const char *name);
/* Next sibling after `n` with the same name as `name` (NULL: any name). */
const struct xml_node *xml_next(const struct xml_node *n, const char *name);
/* Text of the element at a '/'-separated path of child names below `n`,
 * e.g. xml_path(root, "Credentials/AccessKeyId"); NULL when absent. */
const char *xml_path(const struct xml_node *n, const char *path);

/* Append `s` with &, <, >, ", ' escaped, for building request bodies. */
int xml_escape(struct buf *out, const char *s);

#endif
