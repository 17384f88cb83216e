/*
 * policy.c — building and judging the vmimport role's policies (policy.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/policy.h"

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool policy_glob(const char *p, const char *s, bool nocase)
{
    /* Iterative matcher with one backtrack point: linear enough for the
     * short strings of policies, and no recursion on hostile input. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        char pc = nocase ? lower(*p) : *p, sc = nocase ? lower(*s) : *s;
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p && (*p == '?' || pc == sc)) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* ---- documents ---------------------------------------------------------- */

char *policy_trust_doc(void)
{
    /* Exactly the document of AWS's VM Import guide. */
    return strdup("{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":"
                  "\"Allow\",\"Principal\":{\"Service\":\"" POLICY_SERVICE
                  "\"},\"Action\":\"sts:AssumeRole\",\"Condition\":{"
                  "\"StringEquals\":{\"sts:Externalid\":\"" POLICY_EXTERNAL_ID
                  "\"}}}]}");
}

static cJSON *statement(const char *const *actions, size_t n,
                        const char *const *resources, size_t nr)
{
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "Effect", "Allow");
    cJSON_AddItemToObject(st, "Action",
                          cJSON_CreateStringArray(actions, (int)n));
    if (nr == 1)
        cJSON_AddStringToObject(st, "Resource", resources[0]);
    else
        cJSON_AddItemToObject(st, "Resource",
                              cJSON_CreateStringArray(resources, (int)nr));
    return st;
}

/* "p", "p/" → "p/"; NULL or "" → "". */
static void prefix_dir(const char *prefix, char *out, size_t n)
{
    size_t len = prefix ? strlen(prefix) : 0;
    snprintf(out, n, "%s%s", len ? prefix : "",
             len && prefix[len - 1] != '/' ? "/" : "");
}

char *policy_role_doc(const char *partition, const char *bucket,
                      const char *prefix, const char *kms_arn)
{
    static const char *const s3[] = {"s3:GetBucketLocation", "s3:GetObject",
                                     "s3:ListBucket"};
    static const char *const ec2[] = {"ec2:ModifySnapshotAttribute",
                                      "ec2:CopySnapshot", "ec2:RegisterImage",
                                      "ec2:Describe*"};
    static const char *const kms[] = {"kms:CreateGrant", "kms:Decrypt",
                                      "kms:DescribeKey", "kms:Encrypt",
                                      "kms:GenerateDataKey*", "kms:ReEncrypt*"};
    static const char *const exp_obj[] = {"s3:PutObject"};
    static const char *const exp_bucket[] = {"s3:GetBucketAcl"};
    char b_arn[512], o_arn[1600], dir[1024];
    prefix_dir(prefix, dir, sizeof(dir));
    snprintf(b_arn, sizeof(b_arn), "arn:%s:s3:::%s", partition, bucket);
    snprintf(o_arn, sizeof(o_arn), "arn:%s:s3:::%s/%s*", partition, bucket,
             dir);
    const char *res[] = {b_arn, o_arn}, *star[] = {"*"}, *key[] = {kms_arn};

    cJSON *doc = cJSON_CreateObject(), *sts = cJSON_CreateArray();
    cJSON_AddStringToObject(doc, "Version", "2012-10-17");
    cJSON_AddItemToObject(doc, "Statement", sts);
    cJSON_AddItemToArray(sts, statement(s3, 3, res, 2));
    cJSON_AddItemToArray(sts, statement(ec2, 4, star, 1));
    /* ExportImage writes into the same place (exports/, amifs-exports/) */
    cJSON_AddItemToArray(sts, statement(exp_obj, 1, res + 1, 1));
    cJSON_AddItemToArray(sts, statement(exp_bucket, 1, res, 1));
    if (kms_arn && *kms_arn)
        cJSON_AddItemToArray(sts, statement(kms, 6, key, 1));
    char *out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return out;
}

char *policy_pretty(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    char *out = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    return out;
}

/* ---- evaluation --------------------------------------------------------- */

/* Does a string-or-list field hold a pattern matching `s`? */
static bool field_matches(const cJSON *f, const char *s, bool nocase)
{
    if (cJSON_IsString(f))
        return policy_glob(f->valuestring, s, nocase);
    const cJSON *e;
    cJSON_ArrayForEach(e, f)
        if (cJSON_IsString(e) && policy_glob(e->valuestring, s, nocase))
            return true;
    return false;
}

/* A statement's Action/NotAction (or Resource/NotResource) test. */
static bool part_matches(const cJSON *st, const char *pos, const char *neg,
                         const char *s, bool nocase)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, pos);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, neg);
    if (p)
        return field_matches(p, s, nocase);
    if (n)
        return !field_matches(n, s, nocase);
    return false;
}

static bool statement_matches(const cJSON *st, const char *effect,
                              const char *action, const char *resource)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(st, "Effect");
    if (!cJSON_IsString(e) || strcmp(e->valuestring, effect) != 0)
        return false;
    return part_matches(st, "Action", "NotAction", action, true) &&
           part_matches(st, "Resource", "NotResource", resource, false);
}

/* Any statement with `effect` matching? -1 when not a policy. */
static int any_statement(const char *json, const char *effect,
                         const char *action, const char *resource)
{
    cJSON *doc = cJSON_Parse(json);
    const cJSON *sts = cJSON_GetObjectItemCaseSensitive(doc, "Statement");
    int found = sts ? 0 : -1;
    if (cJSON_IsObject(sts))
        found = statement_matches(sts, effect, action, resource);
    else if (cJSON_IsArray(sts)) {
        const cJSON *st;
        cJSON_ArrayForEach(st, sts)
            if (statement_matches(st, effect, action, resource))
                found = 1;
    }
    cJSON_Delete(doc);
    return found;
}

bool policy_denies(const char *json, const char *action, const char *resource)
{
    return any_statement(json, "Deny", action, resource) == 1;
}

int policy_allows(const char *json, const char *action, const char *resource)
{
    int a = any_statement(json, "Allow", action, resource);
    if (a <= 0)
        return a;
    return policy_denies(json, action, resource) ? 0 : 1;
}

bool policy_docs_allow(const char *const *docs, size_t n, const char *action,
                       const char *resource)
{
    bool allowed = false;
    for (size_t i = 0; i < n; i++) {
        if (policy_denies(docs[i], action, resource))
            return false;
        if (policy_allows(docs[i], action, resource) == 1)
            allowed = true;
    }
    return allowed;
}

size_t policy_needs(const char *partition, const char *bucket,
                    const char *prefix, const char *kms_arn,
                    struct policy_need *out, size_t max)
{
    static const char *const kms[] = {"kms:CreateGrant", "kms:Decrypt",
                                      "kms:DescribeKey", "kms:Encrypt",
                                      "kms:GenerateDataKey*", "kms:ReEncrypt*"};
    static const char *const ec2[] = {"ec2:ModifySnapshotAttribute",
                                      "ec2:CopySnapshot", "ec2:RegisterImage",
                                      "ec2:DescribeImages"};
    char dir[512];
    size_t n = 0;
    prefix_dir(prefix, dir, sizeof(dir));
#define NEED(act, req, ...)                                                   \
    do {                                                                     \
        if (n < max) {                                                       \
            out[n].action = act;                                             \
            out[n].required = req;                                           \
            snprintf(out[n].resource, sizeof(out[n].resource), __VA_ARGS__); \
            n++;                                                             \
        }                                                                    \
    } while (0)
    NEED("s3:GetBucketLocation", true, "arn:%s:s3:::%s", partition, bucket);
    NEED("s3:ListBucket", true, "arn:%s:s3:::%s", partition, bucket);
    NEED("s3:GetObject", true, "arn:%s:s3:::%s/%s*", partition, bucket, dir);
    for (size_t i = 0; kms_arn && *kms_arn && i < 6; i++)
        NEED(kms[i], true, "%s", kms_arn);
    for (size_t i = 0; i < 4; i++)
        NEED(ec2[i], false, "*");
#undef NEED
    return n;
}

size_t policy_export_needs(const char *partition, const char *bucket,
                           const char *prefix, struct policy_need *out,
                           size_t max)
{
    char dir[512];
    size_t n = 0;
    prefix_dir(prefix, dir, sizeof(dir));
    if (n < max) {
        out[n].action = "s3:PutObject";
        out[n].required = true;
        snprintf(out[n].resource, sizeof(out[n].resource),
                 "arn:%s:s3:::%s/%s*", partition, bucket, dir);
        n++;
    }
    if (n < max) {
        out[n].action = "s3:GetBucketAcl";
        out[n].required = true;
        snprintf(out[n].resource, sizeof(out[n].resource), "arn:%s:s3:::%s",
                 partition, bucket);
        n++;
    }
    return n;
}

/* ---- trust -------------------------------------------------------------- */

static bool principal_is_vmie(const cJSON *st)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(st, "Principal");
    const cJSON *svc = cJSON_GetObjectItemCaseSensitive(p, "Service");
    return svc && field_matches(svc, POLICY_SERVICE, true);
}

/* The sts:ExternalId values a statement's StringEquals/StringLike demand:
 * NULL when it demands none. Condition keys are case-insensitive in IAM. */
static const cJSON *external_id_cond(const cJSON *st)
{
    static const char *const ops[] = {"StringEquals", "StringLike"};
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(st, "Condition");
    for (size_t i = 0; cond && i < 2; i++) {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(cond, ops[i]);
        const cJSON *kv;
        cJSON_ArrayForEach(kv, op)
            if (kv->string && strcasecmp(kv->string, "sts:ExternalId") == 0)
                return kv;
    }
    return NULL;
}

static enum policy_trust judge_statement(const cJSON *st, char *why, size_t n)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(st, "Effect");
    if (!cJSON_IsString(e) || strcmp(e->valuestring, "Allow") != 0 ||
        !principal_is_vmie(st) ||
        !part_matches(st, "Action", "NotAction", "sts:AssumeRole", true))
        return POLICY_TRUST_BAD;
    const cJSON *ext = external_id_cond(st);
    if (!ext)
        return POLICY_TRUST_NO_EXTERNAL_ID;
    if (field_matches(ext, POLICY_EXTERNAL_ID, false))
        return POLICY_TRUST_OK;
    snprintf(why, n, "its sts:ExternalId condition is %s; VM Import sends "
             "'" POLICY_EXTERNAL_ID "'",
             cJSON_IsString(ext) ? ext->valuestring : "not 'vmimport'");
    return POLICY_TRUST_BAD;
}

enum policy_trust policy_check_trust(const char *json, char *why, size_t n)
{
    cJSON *doc = cJSON_Parse(json);
    const cJSON *sts = cJSON_GetObjectItemCaseSensitive(doc, "Statement");
    enum policy_trust best = POLICY_TRUST_BAD;
    char reason[256] = "";
    const cJSON *st;

    if (cJSON_IsObject(sts))
        best = judge_statement(sts, reason, sizeof(reason));
    if (cJSON_IsArray(sts))
        cJSON_ArrayForEach(st, sts) {
            enum policy_trust t = judge_statement(st, reason, sizeof(reason));
            if (t < best)
                best = t;
        }
    cJSON_Delete(doc);
    if (best == POLICY_TRUST_OK)
        snprintf(why, n, "%s", "");
    else if (best == POLICY_TRUST_NO_EXTERNAL_ID)
        snprintf(why, n, "it trusts " POLICY_SERVICE " without the "
                 "sts:Externalid '" POLICY_EXTERNAL_ID "' condition");
    else if (reason[0])
        snprintf(why, n, "%s", reason);
    else
        snprintf(why, n, "no statement lets " POLICY_SERVICE
                 " call sts:AssumeRole");
    return best;
}
