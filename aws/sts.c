/*
 * sts.c — STS GetCallerIdentity and AssumeRole (query protocol,
 * 2011-06-15). AssumeRole signs with the source credentials it is given,
 * never with the client's provider: the provider itself calls it while
 * resolving credentials. AssumeRoleWithWebIdentity is not signed at all
 * (the token is the proof), so it goes to an absolute URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/client.h"
#include "aws/iso8601.h"
#include "aws/sts.h"
#include "aws/ops_priv.h"
#include "aws/xml.h"

#define STS_VERSION "2011-06-15"

void sts_identity_release(struct sts_identity *id)
{
    free(id->account);
    free(id->arn);
    free(id->user_id);
    memset(id, 0, sizeof *id);
}

int sts_parse_caller_identity(const struct xml_node *root,
                              struct sts_identity *out, struct aws_error *err)
{
    const struct xml_node *r = xml_child(root, "GetCallerIdentityResult");
    const char *acct = xml_path(r, "Account");
    const char *arn = xml_path(r, "Arn");
    const char *uid = xml_path(r, "UserId");
    memset(out, 0, sizeof *out);
    if (!acct || !arn)
        return aws_error_set(err, AWS_ERR_PARSE,
                             "unexpected STS answer: no Account/Arn");
    out->account = strdup(acct);
    out->arn = strdup(arn);
    out->user_id = strdup(uid ? uid : "");
    if (!out->account || !out->arn || !out->user_id) {
        sts_identity_release(out);
        return aws_nomem(err);
    }
    return 0;
}

int sts_get_caller_identity(struct aws_client *c, struct sts_identity *out,
                            struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "GetCallerIdentity", STS_VERSION);
    int rc = aws_query(c, AWS_SVC_STS, NULL, &f, true, &doc, err);
    if (rc == 0)
        rc = sts_parse_caller_identity(xml_root(doc), out, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

int sts_parse_assume_role(const struct xml_node *root,
                          struct aws_credentials *out, struct aws_error *err)
{
    const struct xml_node *res = xml_child(root, "AssumeRoleResult");
    const struct xml_node *cr;

    /* AssumeRoleWithWebIdentity answers the same <Credentials> */
    if (!res)
        res = xml_child(root, "AssumeRoleWithWebIdentityResult");
    cr = xml_child(res, "Credentials");
    const char *akid = xml_path(cr, "AccessKeyId");
    const char *secret = xml_path(cr, "SecretAccessKey");
    const char *token = xml_path(cr, "SessionToken");
    memset(out, 0, sizeof *out);
    if (!akid || !secret || !token || !*akid || !*secret)
        return aws_error_set(err, AWS_ERR_PARSE,
                             "unexpected STS answer: incomplete Credentials");
    if (aws_credentials_init(out, akid, secret, token))
        return aws_nomem(err);
    out->expiration = aws_iso8601_or_zero(xml_path(cr, "Expiration"));
    out->source = "assume-role";
    return 0;
}

static int form_param(struct buf *b, const char *name, const char *value)
{
    if (!value)
        return 0;
    if (buf_appendc(b, '&') < 0 || buf_appends(b, name) < 0 ||
        buf_appendc(b, '=') < 0)
        return -1;
    return sigv4_uri_encode(b, value, strlen(value), false);
}

int sts_assume_role_body(struct buf *out, const char *role_arn,
                         const char *session_name, const char *external_id,
                         int duration_s)
{
    char dur[16];
    snprintf(dur, sizeof dur, "%d", duration_s);
    if (buf_appends(out, "Action=AssumeRole&Version=" STS_VERSION) < 0 ||
        form_param(out, "RoleArn", role_arn) < 0 ||
        form_param(out, "RoleSessionName", session_name) < 0 ||
        form_param(out, "ExternalId", external_id) < 0)
        return -1;
    return duration_s > 0 ? form_param(out, "DurationSeconds", dur) : 0;
}

/* The answer holds a secret: the body buffer is wiped on release
 * (buf_release) and the parsed tree is freed right after parsing. */
static int assume_send(struct aws_client *c, const struct aws_request *r,
                       struct aws_credentials *out, struct aws_error *err)
{
    struct aws_response resp;
    struct xml_doc *doc = NULL;
    aws_response_init(&resp);
    int rc = aws_send(c, r, &resp, err);
    if (rc == 0) {
        doc = xml_parse(resp.body.data ? resp.body.data : "", resp.body.len,
                        err);
        rc = doc ? sts_parse_assume_role(xml_root(doc), out, err) : -1;
    }
    xml_free(doc);
    aws_response_release(&resp);
    return rc;
}

/* POST the form BODY (released here, which wipes it) as request R and
 * parse the credentials out of the answer. Each call just mints new
 * credentials, so a retry is harmless. */
static int assume_post(struct aws_client *c, struct aws_request *r,
                       struct buf *body, struct aws_credentials *out,
                       struct aws_error *err)
{
    static const struct sigv4_header ct[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};

    r->method = "POST";
    r->headers = ct;
    r->nheaders = 1;
    r->body = body->data;
    r->body_len = body->len;
    r->idempotent = true;
    int rc = assume_send(c, r, out, err);
    buf_release(body);
    return rc;
}

int sts_assume_role(struct aws_client *c, const struct aws_credentials *src,
                    const char *role_arn, const char *session_name,
                    const char *external_id, int duration_s,
                    struct aws_credentials *out, struct aws_error *err)
{
    struct buf body;
    struct aws_request r;

    memset(out, 0, sizeof *out);
    buf_init(&body, 0);
    if (sts_assume_role_body(&body, role_arn, session_name, external_id,
                             duration_s) < 0) {
        buf_release(&body);
        return aws_nomem(err);
    }
    memset(&r, 0, sizeof r);
    r.svc = AWS_SVC_STS;
    r.creds = src;
    return assume_post(c, &r, &body, out, err);
}

int sts_web_identity_body(struct buf *out, const char *role_arn,
                          const char *session_name, const char *token)
{
    if (buf_appends(out, "Action=AssumeRoleWithWebIdentity&Version="
                         STS_VERSION) < 0 ||
        form_param(out, "RoleArn", role_arn) < 0 ||
        form_param(out, "RoleSessionName", session_name) < 0)
        return -1;
    return form_param(out, "WebIdentityToken", token) < 0 ? -1 : 0;
}

int sts_assume_role_with_web_identity(struct aws_client *c, const char *url,
                                      const char *role_arn,
                                      const char *session_name,
                                      const char *token,
                                      struct aws_credentials *out,
                                      struct aws_error *err)
{
    struct buf body;
    struct aws_request r;

    memset(out, 0, sizeof *out);
    buf_init(&body, 0);
    if (sts_web_identity_body(&body, role_arn, session_name, token) < 0) {
        buf_release(&body); /* wipes the token */
        return aws_nomem(err);
    }
    memset(&r, 0, sizeof r);
    r.url = url; /* no creds: sent unsigned, as AWS expects */
    r.timeout_ms = 30000;
    int rc = assume_post(c, &r, &body, out, err);
    if (rc == 0)
        out->source = "web-identity";
    return rc;
}
