/*
 * iam.c — IAM role calls for the vmimport service role (query protocol,
 * 2010-05-08). IAM is global: aws_query() signs it for us-east-1 when no
 * region is given. Policy documents come back %-encoded; they are decoded
 * here with plain percent-decoding (as botocore's unquote: '+' stays '+').
 */
#include "aws/iam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "aws/ops_priv.h"
#include "aws/xml.h"

#define IAM_VERSION "2010-05-08"

static int bad_answer(struct aws_error *err, const char *what)
{
    return aws_error_set(err, AWS_ERR_PARSE, "unexpected IAM answer: %s",
                         what);
}

/* The <XResult> element of an <XResponse>, whatever X is. */
static const struct xml_node *result_of(const struct xml_node *root,
                                        const char *result)
{
    return root ? xml_child(root, result) : NULL;
}

static char *decode_doc(const char *s)
{
    return s3_url_decode(s, strlen(s), false);
}

void iam_role_release(struct iam_role *r)
{
    free(r->role_name);
    free(r->arn);
    free(r->assume_role_policy);
    memset(r, 0, sizeof *r);
}

int iam_parse_role(const struct xml_node *root, struct iam_role *out,
                   struct aws_error *err)
{
    const struct xml_node *role = xml_child(result_of(root, "GetRoleResult"),
                                            "Role");
    if (!role)
        role = xml_child(result_of(root, "CreateRoleResult"), "Role");
    memset(out, 0, sizeof *out);
    if (!role)
        return bad_answer(err, "no Role");
    const char *name = xml_path(role, "RoleName");
    const char *arn = xml_path(role, "Arn");
    const char *doc = xml_path(role, "AssumeRolePolicyDocument");
    if (!name || !arn)
        return bad_answer(err, "Role without RoleName/Arn");
    out->role_name = strdup(name);
    out->arn = strdup(arn);
    out->assume_role_policy = doc ? decode_doc(doc) : NULL;
    if (!out->role_name || !out->arn || (doc && !out->assume_role_policy)) {
        iam_role_release(out);
        return aws_nomem(err);
    }
    return 0;
}

static int role_call(struct aws_client *c, struct aws_form *f,
                     bool idempotent, struct iam_role *out,
                     struct aws_error *err)
{
    struct xml_doc *doc = NULL;
    int rc = aws_query(c, AWS_SVC_IAM, NULL, f, idempotent, &doc, err);
    if (rc == 0)
        rc = iam_parse_role(xml_root(doc), out, err);
    xml_free(doc);
    aws_form_release(f);
    return rc;
}

int iam_get_role(struct aws_client *c, const char *name, struct iam_role *out,
                 struct aws_error *err)
{
    struct aws_form f;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "GetRole", IAM_VERSION);
    aws_form_add(&f, "RoleName", name);
    return role_call(c, &f, true, out, err);
}

int iam_create_role(struct aws_client *c, const char *name,
                    const char *trust_policy_json, const char *description,
                    struct iam_role *out, struct aws_error *err)
{
    struct aws_form f;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "CreateRole", IAM_VERSION);
    aws_form_add(&f, "RoleName", name);
    aws_form_add(&f, "AssumeRolePolicyDocument", trust_policy_json);
    aws_form_add(&f, "Description", description);
    /* Not retried after it may have landed: a second try would answer
     * EntityAlreadyExists for the role the first one made. */
    return role_call(c, &f, false, out, err);
}

int iam_put_role_policy(struct aws_client *c, const char *role,
                        const char *policy_name, const char *policy_json,
                        struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    aws_form_init(&f, "PutRolePolicy", IAM_VERSION);
    aws_form_add(&f, "RoleName", role);
    aws_form_add(&f, "PolicyName", policy_name);
    aws_form_add(&f, "PolicyDocument", policy_json);
    int rc = aws_query(c, AWS_SVC_IAM, NULL, &f, true, &doc, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

int iam_update_assume_role_policy(struct aws_client *c, const char *role,
                                  const char *trust_policy_json,
                                  struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    aws_form_init(&f, "UpdateAssumeRolePolicy", IAM_VERSION);
    aws_form_add(&f, "RoleName", role);
    aws_form_add(&f, "PolicyDocument", trust_policy_json);
    int rc = aws_query(c, AWS_SVC_IAM, NULL, &f, true, &doc, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

int iam_parse_role_policy(const struct xml_node *root, char **policy_json,
                          struct aws_error *err)
{
    const char *doc = xml_path(result_of(root, "GetRolePolicyResult"),
                               "PolicyDocument");
    *policy_json = NULL;
    if (!doc)
        return bad_answer(err, "no PolicyDocument");
    return (*policy_json = decode_doc(doc)) ? 0 : aws_nomem(err);
}

int iam_get_role_policy(struct aws_client *c, const char *role,
                        const char *policy_name, char **policy_json,
                        struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    *policy_json = NULL;
    aws_form_init(&f, "GetRolePolicy", IAM_VERSION);
    aws_form_add(&f, "RoleName", role);
    aws_form_add(&f, "PolicyName", policy_name);
    int rc = aws_query(c, AWS_SVC_IAM, NULL, &f, true, &doc, err);
    if (rc == 0)
        rc = iam_parse_role_policy(xml_root(doc), policy_json, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

static int name_add(char ***names, size_t *n, const char *s)
{
    char **v = realloc(*names, (*n + 1) * sizeof *v);
    if (!v)
        return -1;
    *names = v;
    if (!(v[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

int iam_parse_policy_names(const struct xml_node *root, char ***names,
                           size_t *n, char **marker, struct aws_error *err)
{
    const struct xml_node *res = result_of(root, "ListRolePoliciesResult");
    *marker = NULL;
    if (!res)
        return bad_answer(err, "no ListRolePoliciesResult");
    const struct xml_node *m = xml_child(xml_child(res, "PolicyNames"),
                                         "member");
    for (; m; m = xml_next(m, "member"))
        if (name_add(names, n, xml_text(m)) < 0)
            return aws_nomem(err);
    const char *trunc = xml_path(res, "IsTruncated");
    const char *mk = xml_path(res, "Marker");
    if (!trunc || strcmp(trunc, "true") != 0)
        return 0;
    if (!mk || !*mk)
        return bad_answer(err, "truncated without Marker");
    return (*marker = strdup(mk)) ? 0 : aws_nomem(err);
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int iam_list_role_policies(struct aws_client *c, const char *role,
                           char ***names, size_t *n, struct aws_error *err)
{
    char *marker = NULL;
    int rc;
    *names = NULL;
    *n = 0;
    do {
        struct aws_form f;
        struct xml_doc *doc = NULL;
        aws_form_init(&f, "ListRolePolicies", IAM_VERSION);
        aws_form_add(&f, "RoleName", role);
        aws_form_add(&f, "Marker", marker);
        free(marker);
        marker = NULL;
        rc = aws_query(c, AWS_SVC_IAM, NULL, &f, true, &doc, err);
        if (rc == 0)
            rc = iam_parse_policy_names(xml_root(doc), names, n, &marker, err);
        xml_free(doc);
        aws_form_release(&f);
    } while (rc == 0 && marker);
    free(marker);
    if (rc < 0) {
        names_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}
