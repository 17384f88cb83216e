/*
 * kms.c — DescribeKey, GetKeyPolicy and CreateGrant over the JSON 1.1
 * protocol (contract: kms.h). Bodies are built and answers read with cJSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aws/kms.h"
#include "aws/ops_priv.h"

#define KMS_TARGET "TrentService."

void kms_key_release(struct kms_key *k)
{
    free(k->arn);
    free(k->key_id);
    free(k->account);
    free(k->manager);
    memset(k, 0, sizeof *k);
}

/* POST the JSON body of `action`; the parsed answer into *out. */
static int kms_call(struct aws_client *c, const char *region,
                    const char *action, cJSON *body, bool idempotent,
                    cJSON **out, struct aws_error *err)
{
    char target[96];
    snprintf(target, sizeof target, KMS_TARGET "%s", action);
    struct sigv4_header h[] = {
        {"Content-Type", "application/x-amz-json-1.1"},
        {"X-Amz-Target", target}};
    char *text = cJSON_PrintUnformatted(body);
    if (!text)
        return aws_nomem(err);
    struct aws_request r = {
        .svc = AWS_SVC_KMS, .region = region, .method = "POST",
        .headers = h, .nheaders = 2, .body = text, .body_len = strlen(text),
        .idempotent = idempotent};
    struct aws_response resp;
    aws_response_init(&resp);
    int rc = aws_send(c, &r, &resp, err);
    free(text);
    *out = NULL;
    if (rc == 0) {
        *out = cJSON_ParseWithLength(resp.body.data ? resp.body.data : "",
                                     resp.body.len);
        if (!*out)
            rc = aws_error_set(err, AWS_ERR_PARSE,
                               "unexpected KMS answer to %s: not JSON",
                               action);
    }
    aws_response_release(&resp);
    return rc;
}

static char *dup_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

int kms_describe_key(struct aws_client *c, const char *region,
                     const char *key, struct kms_key *out,
                     struct aws_error *err)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    memset(out, 0, sizeof *out);
    if (!req || !cJSON_AddStringToObject(req, "KeyId", key)) {
        cJSON_Delete(req);
        return aws_nomem(err);
    }
    int rc = kms_call(c, region, "DescribeKey", req, true, &ans, err);
    cJSON_Delete(req);
    if (rc != 0)
        return rc;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(ans, "KeyMetadata");
    char *state = dup_str(m, "KeyState");
    out->arn = dup_str(m, "Arn");
    out->key_id = dup_str(m, "KeyId");
    out->account = dup_str(m, "AWSAccountId");
    out->manager = dup_str(m, "KeyManager");
    out->enabled = state && strcmp(state, "Enabled") == 0;
    free(state);
    cJSON_Delete(ans);
    if (!out->arn || !out->key_id) {
        kms_key_release(out);
        return aws_error_set(err, AWS_ERR_PARSE,
                             "unexpected KMS answer: no KeyMetadata.Arn");
    }
    return 0;
}

int kms_get_key_policy(struct aws_client *c, const char *region,
                       const char *key, char **policy,
                       struct aws_error *err)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    *policy = NULL;
    if (!req || !cJSON_AddStringToObject(req, "KeyId", key) ||
        !cJSON_AddStringToObject(req, "PolicyName", "default")) {
        cJSON_Delete(req);
        return aws_nomem(err);
    }
    int rc = kms_call(c, region, "GetKeyPolicy", req, true, &ans, err);
    cJSON_Delete(req);
    if (rc != 0)
        return rc;
    *policy = dup_str(ans, "Policy");
    cJSON_Delete(ans);
    if (!*policy)
        return aws_error_set(err, AWS_ERR_PARSE,
                             "unexpected KMS answer: no Policy");
    return 0;
}

static cJSON *grant_body(const char *key, const char *grantee,
                         const char *const *ops, size_t nops,
                         const char *name)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(req, "Operations");
    if (!arr || !cJSON_AddStringToObject(req, "KeyId", key) ||
        !cJSON_AddStringToObject(req, "GranteePrincipal", grantee) ||
        !cJSON_AddStringToObject(req, "Name", name)) {
        cJSON_Delete(req);
        return NULL;
    }
    for (size_t i = 0; i < nops; i++) {
        cJSON *s = cJSON_CreateString(ops[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(req);
            return NULL;
        }
    }
    return req;
}

int kms_create_grant(struct aws_client *c, const char *region,
                     const char *key, const char *grantee,
                     const char *const *ops, size_t nops, const char *name,
                     char **grant_id, struct aws_error *err)
{
    cJSON *ans = NULL, *req = grant_body(key, grantee, ops, nops, name);
    if (grant_id)
        *grant_id = NULL;
    if (!req)
        return aws_nomem(err);
    int rc = kms_call(c, region, "CreateGrant", req, true, &ans, err);
    cJSON_Delete(req);
    if (rc == 0 && grant_id)
        *grant_id = dup_str(ans, "GrantId");
    cJSON_Delete(ans);
    return rc;
}
