/*
 * amis_kms.c — KMS checks around copy-to/ and launch-permissions
 * (contract: amis_kms.h; design: doc/design/lifecycle.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "core/name.h"
#include "fs/amis_kms.h"
#include "fs/view.h"

#define KMS_KEYS_MAX 16

int amis_kms_resolve(struct amifs *fs, struct aws_client *c,
                     const char *region, const char *key, const char *what,
                     struct kms_key *out)
{
    struct aws_error err;
    char line[512];
    aws_error_clear(&err);
    if (kms_describe_key(c, region, key, out, &err) != 0) {
        int e = aws_error_errno(&err);
        if (e != ENOENT && e != EINVAL)
            return view_aws_fail(fs, "amis", "DescribeKey", &err);
        aws_error_format(&err, line, sizeof(line));
        return amifs_refuse(fs, NULL, what, "mkdir", EINVAL,
                            "no usable KMS key '%s' in %s (%s); nothing "
                            "was copied", key, region, line);
    }
    if (!out->enabled) {
        amifs_refuse(fs, NULL, what, "mkdir", EINVAL,
                     "KMS key %s is not enabled; nothing was copied",
                     out->arn);
        kms_key_release(out);
        return -EINVAL;
    }
    return 0;
}

/* Does a snapshot's KmsKeyId (an ARN, or a bare id) name `key`? */
static bool key_matches(const char *have, const struct kms_key *key)
{
    if (!have)
        return false;
    if (strcmp(have, key->arn) == 0 || strcmp(have, key->key_id) == 0)
        return true;
    const char *tail = strstr(have, ":key/");
    return tail && strcmp(tail + 5, key->key_id) == 0;
}

/* The snapshot ids of image `id` (borrowed into ids[0..*n) from imgs). */
static int image_snapshots(struct amifs *fs, struct aws_client *c,
                           const char *region, const char *id,
                           struct ec2_image_list *imgs, const char **ids,
                           size_t max, size_t *n)
{
    struct aws_error err;
    const char *one[1] = {id};
    *n = 0;
    aws_error_clear(&err);
    if (ec2_describe_images(c, region, one, 1, imgs, &err) != 0)
        return view_aws_fail(fs, "amis", "DescribeImages", &err);
    for (size_t i = 0; imgs->n && i < imgs->v[0].ndevices && *n < max; i++)
        if (imgs->v[0].devices[i].snapshot_id)
            ids[(*n)++] = imgs->v[0].devices[i].snapshot_id;
    return 0;
}

static int describe_snaps(struct amifs *fs, struct aws_client *c,
                          const char *region, const char **ids, size_t n,
                          struct ec2_snapshot_list *out)
{
    struct aws_error err;
    aws_error_clear(&err);
    if (ec2_describe_snapshots(c, region, ids, n, out, &err) != 0)
        return view_aws_fail(fs, "amis", "DescribeSnapshots", &err);
    return 0;
}

int amis_kms_verify_copy(struct amifs *fs, struct aws_client *c,
                         const char *region, const char *image_id,
                         const struct kms_key *key, const char *what)
{
    struct ec2_image_list imgs = {0};
    struct ec2_snapshot_list snaps = {0};
    const char *ids[64];
    size_t n = 0;
    int rc = image_snapshots(fs, c, region, image_id, &imgs, ids, 64, &n);
    if (rc == 0 && n == 0)
        amifs_log(fs, AWS_LOG_INFO, "amis: %s: no snapshot listed yet; "
                  "its encryption is EC2's to apply", image_id);
    if (rc == 0 && n)
        rc = describe_snaps(fs, c, region, ids, n, &snaps);
    for (size_t i = 0; rc == 0 && i < snaps.n; i++) {
        const struct ec2_snapshot *s = &snaps.v[i];
        if (!s->encrypted || !key_matches(s->kms_key_id, key))
            rc = amifs_refuse(fs, NULL, what, "mkdir", EIO,
                              "the copy %s has snapshot %s %s%s, not "
                              "with %s", image_id, s->snapshot_id,
                              s->encrypted ? "encrypted with " : "unencrypted",
                              s->encrypted && s->kms_key_id ? s->kms_key_id
                                                            : "",
                              key->arn);
    }
    if (rc == 0 && snaps.n)
        amifs_log(fs, AWS_LOG_INFO, "amis: %s: %zu snapshot(s) encrypted "
                  "with %s", image_id, snaps.n, key->arn);
    ec2_snapshot_list_release(&snaps);
    ec2_image_list_release(&imgs);
    return rc;
}

/* ---- key policies -------------------------------------------------------- */

static bool str_or_list_has(const cJSON *v, bool (*match)(const char *,
                                                          const char *),
                            const char *want)
{
    const cJSON *e;
    if (cJSON_IsString(v))
        return match(v->valuestring, want);
    cJSON_ArrayForEach(e, v)
        if (cJSON_IsString(e) && match(e->valuestring, want))
            return true;
    return false;
}

/* A principal naming the account: "*", "ACCT", "arn:P:iam::ACCT:…". */
static bool principal_match(const char *p, const char *acct)
{
    const char *c;
    if (strcmp(p, "*") == 0 || strcmp(p, acct) == 0)
        return true;
    c = strstr(p, ":iam::");
    return c && strncmp(c + 6, acct, strlen(acct)) == 0 &&
           c[6 + strlen(acct)] == ':';
}

static bool action_match(const char *a, const char *want)
{
    return strcmp(a, "*") == 0 || strcasecmp(a, "kms:*") == 0 ||
           strcasecmp(a, want) == 0;
}

static bool statement_allows(const cJSON *st, const char *acct)
{
    const cJSON *eff = cJSON_GetObjectItemCaseSensitive(st, "Effect");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(st, "Principal");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(st, "Action");
    if (!cJSON_IsString(eff) || strcmp(eff->valuestring, "Allow") != 0)
        return false;
    if (!(cJSON_IsString(pr) && strcmp(pr->valuestring, "*") == 0) &&
        !str_or_list_has(cJSON_GetObjectItemCaseSensitive(pr, "AWS"),
                         principal_match, acct))
        return false;
    return str_or_list_has(act, action_match, "kms:Decrypt") &&
           str_or_list_has(act, action_match, "kms:CreateGrant");
}

/* Does the policy text let account `acct` decrypt and grant with the key?
 * (Allow statements only; Deny and conditions are AWS's to judge.) */
static bool policy_allows(const char *policy, const char *acct)
{
    cJSON *j = cJSON_Parse(policy);
    const cJSON *sts = cJSON_GetObjectItemCaseSensitive(j, "Statement");
    const cJSON *st;
    bool ok = false;
    if (cJSON_IsObject(sts))
        ok = statement_allows(sts, acct);
    else if (cJSON_IsArray(sts))
        cJSON_ArrayForEach(st, sts)
            ok = ok || statement_allows(st, acct);
    cJSON_Delete(j);
    return ok;
}

/* The partition of an ARN ("aws", "aws-cn", …); "aws" when not an ARN. */
static void arn_partition(const char *arn, char *out, size_t n)
{
    const char *a = strncmp(arn, "arn:", 4) == 0 ? arn + 4 : NULL;
    const char *e = a ? strchr(a, ':') : NULL;
    snprintf(out, n, "%.*s", e ? (int)(e - a) : 3, e ? a : "aws");
}

/* The statement the key policy needs for account acct, one line. */
static int statement_text(struct buf *b, const char *key_arn,
                          const char *acct)
{
    char part[32];
    arn_partition(key_arn, part, sizeof(part));
    return buf_printf(b,
        "{\"Sid\": \"AllowLaunchFrom%s\", \"Effect\": \"Allow\", "
        "\"Principal\": {\"AWS\": \"arn:%s:iam::%s:root\"}, "
        "\"Action\": [\"kms:Decrypt\", \"kms:DescribeKey\", "
        "\"kms:CreateGrant\", \"kms:ReEncrypt*\", "
        "\"kms:GenerateDataKey*\"], \"Resource\": \"*\"}",
        acct, part, acct) ? -ENOMEM : 0;
}

/* The o-ID of an organization or OU ARN (checked by fs/amis_text.c). */
static void org_id(const char *arn, char *out, size_t n)
{
    const char *o = strstr(arn, "/o-");
    size_t len = o ? strcspn(o + 1, "/") : 0;
    snprintf(out, n, "%.*s", (int)len, o ? o + 1 : "");
}

/* The statement that lets every account of the organization in `arn` use
 * the key, one line. */
static int org_statement_text(struct buf *b, const char *arn)
{
    char org[40];
    org_id(arn, org, sizeof(org));
    return buf_printf(b,
        "{\"Sid\":\"AllowLaunchFromOrg\",\"Effect\":\"Allow\","
        "\"Principal\":{\"AWS\":\"*\"},"
        "\"Action\":[\"kms:Decrypt\",\"kms:DescribeKey\","
        "\"kms:CreateGrant\",\"kms:ReEncrypt*\",\"kms:GenerateDataKey*\"],"
        "\"Resource\":\"*\",\"Condition\":{\"StringEquals\":"
        "{\"aws:PrincipalOrgID\":\"%s\"}}}", org) ? -ENOMEM : 0;
}

/* Organization and OU entries on a customer managed key: refused, always
 * (a KMS grant names one principal, never an organization; whether a key
 * policy admits every account of an organization amifs cannot prove), with
 * the statement to add to the key policy; the share is then made with the
 * AWS CLI. */
static int org_gaps(struct amifs *fs, const char *key_arn,
                    const struct ec2_id_list *add, const char *what,
                    struct buf *advice)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < add->n; i++) {
        if (strncmp(add->v[i], "arn:", 4) != 0)
            continue;
        struct buf st;
        buf_init(&st, 0);
        rc = org_statement_text(&st, add->v[i]);
        if (rc == 0 &&
            buf_printf(advice, "# refused: %s may not be shared by amifs "
                       "while KMS key %s encrypts the snapshots (a grant "
                       "cannot name an organization); the key policy "
                       "needs:\n#   %s\n", add->v[i], key_arn,
                       buf_cstr(&st)))
            rc = -ENOMEM;
        if (rc == 0)
            amifs_refuse(fs, NULL, what, "close", EACCES,
                         "%s: a KMS grant cannot name an organization or "
                         "OU; add to the policy of key %s: %s",
                         add->v[i], key_arn, buf_cstr(&st));
        buf_release(&st);
    }
    return rc;
}

/* ---- sharing ------------------------------------------------------------- */

struct share_keys {
    char *arn[KMS_KEYS_MAX];
    size_t n;
    bool aws_managed;     /* a snapshot uses aws/ebs (or no key id) */
    bool encrypted;
};

static void keys_release(struct share_keys *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->arn[i]);
    k->n = 0;
}

/* Classify one encrypted snapshot's key into k. */
static int classify_key(struct amifs *fs, struct aws_client *c,
                        const char *region, const char *kid,
                        struct share_keys *k)
{
    struct kms_key key;
    struct aws_error err;
    if (!kid) {
        k->aws_managed = true;
        return 0;
    }
    aws_error_clear(&err);
    if (kms_describe_key(c, region, kid, &key, &err) != 0)
        return view_aws_fail(fs, "amis", "DescribeKey", &err);
    bool seen = false;
    for (size_t i = 0; i < k->n; i++)
        seen = seen || strcmp(k->arn[i], key.arn) == 0;
    if (key.manager && strcmp(key.manager, "AWS") == 0)
        k->aws_managed = true;
    else if (!seen && k->n < KMS_KEYS_MAX && (k->arn[k->n] = strdup(key.arn)))
        k->n++;
    kms_key_release(&key);
    return 0;
}

static int collect_keys(struct amifs *fs, struct aws_client *c,
                        const char *region, const char *image_id,
                        struct share_keys *k)
{
    struct ec2_image_list imgs = {0};
    struct ec2_snapshot_list snaps = {0};
    const char *ids[64];
    size_t n = 0;
    int rc = image_snapshots(fs, c, region, image_id, &imgs, ids, 64, &n);
    if (rc == 0 && n)
        rc = describe_snaps(fs, c, region, ids, n, &snaps);
    for (size_t i = 0; rc == 0 && i < snaps.n; i++)
        if (snaps.v[i].encrypted) {
            k->encrypted = true;
            rc = classify_key(fs, c, region, snaps.v[i].kms_key_id, k);
        }
    ec2_snapshot_list_release(&snaps);
    ec2_image_list_release(&imgs);
    return rc;
}

static int grant_all(struct amifs *fs, struct aws_client *c,
                     const char *region, const char *key_arn,
                     const struct ec2_id_list *add)
{
    static const char *const ops[] = AMIS_KMS_GRANT_OPS;
    char part[32], grantee[96], name[64];
    struct aws_error err;
    arn_partition(key_arn, part, sizeof(part));
    for (size_t i = 0; i < add->n; i++) {
        if (strcmp(add->v[i], "all") == 0 ||
            strncmp(add->v[i], "arn:", 4) == 0)
            continue;
        snprintf(grantee, sizeof(grantee), "arn:%s:iam::%s:root", part,
                 add->v[i]);
        snprintf(name, sizeof(name), "amifs-launch-%s", add->v[i]);
        aws_error_clear(&err);
        if (kms_create_grant(c, region, key_arn, grantee, ops,
                             sizeof(ops) / sizeof(ops[0]), name, NULL,
                             &err) != 0)
            return view_aws_fail(fs, "amis", "CreateGrant", &err);
        amifs_log(fs, AWS_LOG_INFO, "amis: KMS key %s: grant for %s created",
                  key_arn, add->v[i]);
    }
    return 0;
}

/* The accounts of `add` that the policy of key_arn leaves out, as
 * statements: comment lines into advice, one refusal per account. */
static int policy_gaps(struct amifs *fs, struct aws_client *c,
                       const char *region, const char *key_arn,
                       const struct ec2_id_list *add, const char *what,
                       struct buf *advice)
{
    struct aws_error err;
    char *policy = NULL;
    int rc = 0;
    aws_error_clear(&err);
    if (kms_get_key_policy(c, region, key_arn, &policy, &err) != 0)
        return view_aws_fail(fs, "amis", "GetKeyPolicy", &err);
    for (size_t i = 0; rc == 0 && i < add->n; i++) {
        if (strcmp(add->v[i], "all") == 0 ||
            strncmp(add->v[i], "arn:", 4) == 0 ||
            policy_allows(policy, add->v[i]))
            continue;
        struct buf st;
        buf_init(&st, 0);
        rc = statement_text(&st, key_arn, add->v[i]);
        if (rc == 0 &&
            buf_printf(advice, "# refused: account %s may not use KMS key "
                       "%s; add to its key policy:\n#   %s\n", add->v[i],
                       key_arn, buf_cstr(&st)))
            rc = -ENOMEM;
        if (rc == 0)
            amifs_refuse(fs, NULL, what, "close", EACCES,
                         "account %s may not use KMS key %s that encrypts "
                         "the snapshots; add this statement to the key "
                         "policy (or mount with -o share_kms_grants to let "
                         "amifs create a grant): %s", add->v[i], key_arn,
                         buf_cstr(&st));
        buf_release(&st);
    }
    free(policy);
    return rc;
}

static int refuse_aws_managed(struct amifs *fs, const char *image_id,
                              const char *what)
{
    return amifs_refuse(fs, NULL, what, "close", EPERM,
                        "%s is encrypted with the AWS managed key aws/ebs, "
                        "which AWS cannot share with another account; copy "
                        "it under a customer managed key first (mkdir "
                        "amis/%s/copy-to/REGION@alias%%2FKEY) and share "
                        "the copy", image_id, image_id);
}

int amis_kms_share_check(struct amifs *fs, struct aws_client *c,
                         const char *region, const char *image_id,
                         const struct ec2_id_list *add, bool grants,
                         const char *what, char **advice)
{
    struct share_keys k = {0};
    struct buf adv;
    bool public = false;
    *advice = NULL;
    for (size_t i = 0; i < add->n; i++)
        public = public || strcmp(add->v[i], "all") == 0;
    if (add->n == 0)
        return 0;
    int rc = collect_keys(fs, c, region, image_id, &k);
    if (rc == 0 && k.encrypted && public)
        rc = amifs_refuse(fs, NULL, what, "close", EPERM,
                          "%s has encrypted snapshots: AWS does not let an "
                          "encrypted AMI be public ('all')", image_id);
    if (rc == 0 && k.aws_managed)
        rc = refuse_aws_managed(fs, image_id, what);
    buf_init(&adv, 0);
    for (size_t i = 0; rc == 0 && i < k.n; i++)
        rc = org_gaps(fs, k.arn[i], add, what, &adv);
    for (size_t i = 0; rc == 0 && !adv.len && i < k.n; i++)
        rc = grants ? grant_all(fs, c, region, k.arn[i], add)
                    : policy_gaps(fs, c, region, k.arn[i], add, what, &adv);
    if (rc == 0 && adv.len) {
        rc = -EACCES;
        *advice = buf_detach(&adv);
    }
    buf_release(&adv);
    keys_release(&k);
    return rc;
}

/* ---- copies -------------------------------------------------------------- */

/* Where copy-to/DIR copies to: the region and the KMS key (as written,
 * decoded; "" for a copy as the source is). */
struct copy_target {
    char region[64];
    char key[512];
};

/* A ClientToken that makes a repeated mkdir start no second copy (at most
 * 64 characters, as EC2 allows): the source, the region and, for an
 * encrypted copy, a hash of the key. */
static void copy_token(const char *id, const char *region, const char *key,
                       char *out, size_t n)
{
    unsigned long h = 5381;
    for (const char *k = key ? key : ""; *k; k++)
        h = h * 33 + (unsigned char)*k;
    if (key)
        snprintf(out, n, "amifs-copy-%.21s-%.20s-%08lx", id, region,
                 h & 0xfffffffful);
    else
        snprintf(out, n, "amifs-copy-%.31s-%.20s", id, region);
}

/* copy-to/DIR: "REGION", or "REGION@KEY" with KEY name-encoded ('/' as
 * %2F). Without "@KEY" the mount's kms_key (if any) encrypts the copy. */
static int copy_target_parse(struct amifs *fs, const char *dir,
                             struct copy_target *t)
{
    const char *at = strchr(dir, '@');
    size_t rl = at ? (size_t)(at - dir) : strlen(dir);
    memset(t, 0, sizeof(*t));
    if (rl == 0 || rl >= sizeof(t->region))
        return -EINVAL;
    memcpy(t->region, dir, rl);
    if (at && (!at[1] || name_tag_decode(at + 1, t->key, sizeof(t->key)) < 0
               || !t->key[0]))
        return -EINVAL;
    if (!at && fs->opts.kms_key && *fs->opts.kms_key)
        snprintf(t->key, sizeof(t->key), "%s", fs->opts.kms_key);
    return 0;
}

/* After a copy that failed its check: take it back (the AMI and the
 * snapshots it made), so that nothing half-done stays. */
static void copy_undo(struct amifs *fs, struct aws_client *c,
                      const char *region, const char *new_id)
{
    struct ec2_image_list l = {0};
    struct aws_error err;
    const char *ids[1] = {new_id};
    aws_error_clear(&err);
    if (ec2_describe_images(c, region, ids, 1, &l, &err) == 0 &&
        ec2_deregister_image(c, region, new_id, &err) == 0) {
        for (size_t i = 0; l.n && i < l.v[0].ndevices; i++)
            if (l.v[0].devices[i].snapshot_id)
                (void)ec2_delete_snapshot(c, region,
                                          l.v[0].devices[i].snapshot_id,
                                          &err);
        amifs_log(fs, AWS_LOG_INFO, "amis: copy %s in %s taken back",
                  new_id, region);
    }
    ec2_image_list_release(&l);
}

static int copy_send(struct amifs *fs, const struct amis_copy *c,
                     const struct copy_target *t, const struct kms_key *key,
                     char *new_id, size_t n)
{
    char desc[256], token[72];
    struct aws_error err;
    /* The description names the source; no spaces in it while the test
     * endpoint mis-verifies %20 in form bodies (doc/TESTING.md). */
    snprintf(desc, sizeof(desc), "copy-of-%s-from-%s", c->src_id,
             c->src_region);
    copy_token(c->src_id, t->region, key ? key->arn : NULL, token,
               sizeof(token));
    struct ec2_copy_params cp = {c->src_region, c->src_id, t->region,
                                 c->name, desc, token,
                                 key ? key->arn : NULL};
    aws_error_clear(&err);
    if (ec2_copy_image_ex(c->client, &cp, new_id, n, &err) != 0)
        return view_aws_fail(fs, "amis", "CopyImage", &err);
    amifs_log(fs, AWS_LOG_INFO, "amis: %s: copy to %s%s%s started: %s",
              c->src_id, t->region, key ? " encrypted with " : "",
              key ? key->arn : "", new_id);
    return 0;
}

int amis_copy_start(struct amifs *fs, const struct amis_copy *c,
                    char *new_id, size_t n, char *region, size_t rn)
{
    struct copy_target t;
    struct kms_key key = {0};
    int rc;
    if (copy_target_parse(fs, c->dir, &t) != 0)
        return amifs_refuse(fs, NULL, c->what, "mkdir", EINVAL,
                            "name it REGION or REGION@KEY (KEY a KMS key "
                            "id, ARN or alias, '/' written %%2F)");
    int known = c->region_known ? c->region_known(fs, t.region) : -ENOSYS;
    if (known == 0)
        return amifs_refuse(fs, NULL, c->what, "mkdir", EINVAL,
                            "no region '%s' in this account", t.region);
    if (t.key[0] && (rc = amis_kms_resolve(fs, c->client, t.region, t.key,
                                           c->what, &key)) != 0)
        return rc;
    rc = copy_send(fs, c, &t, t.key[0] ? &key : NULL, new_id, n);
    if (rc == 0 && t.key[0] &&
        (rc = amis_kms_verify_copy(fs, c->client, t.region, new_id, &key,
                                   c->what)) != 0)
        copy_undo(fs, c->client, t.region, new_id);
    if (rc == 0)
        snprintf(region, rn, "%s", t.region);
    kms_key_release(&key);
    return rc;
}
