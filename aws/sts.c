/*
 * sts.c — STS AssumeRole and AssumeRoleWithWebIdentity (query protocol,
 * 2011-06-15), the calls the credentials provider makes (contract in
 * sts.h). AssumeRole signs with the source credentials it is given, never
 * with the client's provider: the provider itself calls it while
 * resolving credentials. AssumeRoleWithWebIdentity is not signed at all
 * (the token is the proof), so it goes to an absolute URL. Both send
 * through the provider's struct aws_sender (request.h), never through the
 * client: the client sits above the provider. GetCallerIdentity, an
 * ordinary call on the client, is in sts_identity.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/credentials.h"
#include "aws/iso8601.h"
#include "aws/sts.h"
#include "aws/ops_priv.h"
#include "aws/request.h"
#include "aws/xml.h"

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
static int assume_send(const struct aws_sender *s, const struct aws_request *r,
                       struct aws_credentials *out, struct aws_error *err)
{
    struct aws_response resp;
    struct xml_doc *doc = NULL;
    aws_response_init(&resp);
    int rc = s->send(s->ctx, r, &resp, err);
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
static int assume_post(const struct aws_sender *s, struct aws_request *r,
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
    int rc = assume_send(s, r, out, err);
    buf_release(body);
    return rc;
}

int sts_assume_role(const struct aws_sender *s,
                    const struct aws_credentials *src,
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
    return assume_post(s, &r, &body, out, err);
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

int sts_assume_role_with_web_identity(const struct aws_sender *s,
                                      const char *url,
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
    int rc = assume_post(s, &r, &body, out, err);
    if (rc == 0)
        out->source = "web-identity";
    return rc;
}
