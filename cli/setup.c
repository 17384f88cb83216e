/*
 * setup.c — `amifs setup`: plan, print, and with --yes apply the bucket and
 * role an import needs (see setup.h). The plan is computed with the same
 * judgements doctor makes (core/policy.c), so after a successful
 * `setup --yes`, doctor finds nothing missing and a second setup plans
 * nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "aws/xml.h"
#include "cli/doctor.h"
#include "core/policy.h"
#include "cli/setup.h"

/* Days after which the staging bucket's lifecycle rule aborts an
 * incomplete multipart upload: long enough for a resumed copy of a huge
 * image, short enough that a crashed one is not billed for long. */
#define ABORT_DAYS 7

struct plan {
    bool create_bucket;
    bool add_lifecycle;      /* the AbortIncompleteMultipartUpload rule */
    bool create_role;
    bool update_trust;
    char *policy_doc;        /* put when non-NULL */
    char policy_name[128];
};

struct setup {
    const struct acct_opts *o;
    struct aws_client *c;
    const char *region;
    char account[32];
    char partition[16];
    char kms_arn[512];
    struct plan plan;
};

static void print_err(const char *what, const struct aws_error *err)
{
    char line[768];
    aws_error_format(err, line, sizeof(line));
    printf("error: %s: %s\n", what, line);
}

static int identify(struct setup *s)
{
    struct sts_identity id;
    struct aws_error err;
    memset(&id, 0, sizeof(id));
    aws_error_clear(&err);
    if (sts_get_caller_identity(s->c, &id, &err) != 0) {
        print_err("credentials are not usable", &err);
        printf("hint: run 'amifs doctor' for the details\n");
        return -1;
    }
    snprintf(s->account, sizeof(s->account), "%s",
             id.account ? id.account : "");
    acct_partition(id.arn, s->partition, sizeof(s->partition));
    acct_kms_arn(s->o->kms_key, s->partition, s->region, s->account,
                 s->kms_arn, sizeof(s->kms_arn));
    sts_identity_release(&id);
    return 0;
}

/* -1 when the bucket exists elsewhere or cannot be looked at. */
static int plan_bucket(struct setup *s)
{
    char loc[64];
    struct aws_error err;
    const char *b = s->o->bucket;
    aws_error_clear(&err);
    if (s3_get_bucket_location(s->c, b, loc, sizeof(loc), &err) == 0) {
        if (strcmp(loc, s->region) == 0)
            return 0;
        printf("error: bucket '%s' is in %s, not %s\n", b, loc, s->region);
        printf("hint: choose another bucket name, or --region %s\n", loc);
        return -1;
    }
    if (err.http_status != 404) {
        print_err("cannot look at the bucket", &err);
        return -1;
    }
    s->plan.create_bucket = true;
    return 0;
}

/* The AbortIncompleteMultipartUpload rule (doc/design/fleet.md): added
 * when the bucket has no lifecycle configuration; a bucket with rules of
 * its own is not rewritten (the PUT would replace them), only told. */
static int plan_lifecycle(struct setup *s)
{
    struct s3_lifecycle lc;
    struct aws_error err;
    aws_error_clear(&err);
    if (s->plan.create_bucket) {
        s->plan.add_lifecycle = true;
        return 0;
    }
    if (s3_get_lifecycle(s->c, s->o->bucket, s->o->prefix, &lc, &err) != 0) {
        print_err("cannot read the bucket's lifecycle rules", &err);
        return -1;
    }
    if (lc.abort_days == 0 && lc.nrules == 0)
        s->plan.add_lifecycle = true;
    else if (lc.abort_days == 0)
        printf("note: bucket '%s' has lifecycle rules, none of which aborts "
               "incomplete multipart uploads; amifs does not replace them. "
               "Add a rule with AbortIncompleteMultipartUpload "
               "(DaysAfterInitiation %d) for the prefix '%s'\n",
               s->o->bucket, ABORT_DAYS, s->o->prefix);
    return 0;
}

/* The role policy to put, if the role's inline policies fall short. */
static int plan_policy(struct setup *s, bool role_exists)
{
    struct role_policies p = {0};
    struct aws_error err;
    struct buf missing, optional;
    aws_error_clear(&err);
    if (role_exists && role_policies_get(s->c, s->o->role, &p, &err) != 0) {
        print_err("cannot read the role's policies", &err);
        return -1;
    }
    buf_init(&missing, 0);
    buf_init(&optional, 0);
    role_missing(&p, s->partition, s->o, s->kms_arn, &missing, &optional);
    role_missing_export(&p, s->partition, s->o, &missing); /* exports/ */
    if (missing.len) {
        role_policy_name(&p, s->o->bucket, s->plan.policy_name,
                         sizeof(s->plan.policy_name));
        s->plan.policy_doc = policy_role_doc(s->partition, s->o->bucket,
                                             s->o->prefix, s->kms_arn);
    }
    buf_release(&missing);
    buf_release(&optional);
    role_policies_release(&p);
    return missing.len && !s->plan.policy_doc ? -1 : 0;
}

static int plan_role(struct setup *s)
{
    struct iam_role role;
    struct aws_error err;
    char why[512];
    memset(&role, 0, sizeof(role));
    aws_error_clear(&err);
    if (iam_get_role(s->c, s->o->role, &role, &err) != 0) {
        if (strcmp(err.code, "NoSuchEntity") != 0) {
            print_err("cannot look at the role", &err);
            return -1;
        }
        s->plan.create_role = true;
        return plan_policy(s, false);
    }
    s->plan.update_trust =
        policy_check_trust(role.assume_role_policy ? role.assume_role_policy
                                                   : "",
                           why, sizeof(why)) != POLICY_TRUST_OK;
    iam_role_release(&role);
    return plan_policy(s, true);
}

static void print_json(const char *json)
{
    char *pretty = policy_pretty(json);
    const char *s = pretty ? pretty : json;
    while (*s) {
        size_t len = strcspn(s, "\n");
        printf("    %.*s\n", (int)len, s);
        s += len + (s[len] == '\n');
    }
    free(pretty);
}

static bool plan_empty(const struct plan *p)
{
    return !p->create_bucket && !p->create_role && !p->update_trust &&
           !p->policy_doc && !p->add_lifecycle;
}

static void print_plan(const struct setup *s)
{
    const struct plan *p = &s->plan;
    char *trust = policy_trust_doc();
    printf("plan for account %s in %s:\n", s->account, s->region);
    if (p->create_bucket)
        printf("  create bucket '%s' in %s\n", s->o->bucket, s->region);
    if (p->add_lifecycle)
        printf("  add lifecycle rule '" S3_ABORT_RULE_ID "' to bucket '%s': "
               "abort multipart uploads under '%s' left incomplete for %d "
               "days\n", s->o->bucket, s->o->prefix, ABORT_DAYS);
    if (p->create_role || p->update_trust) {
        printf("  %s role '%s' trusted by " POLICY_SERVICE
               " (sts:Externalid '" POLICY_EXTERNAL_ID "'):\n",
               p->create_role ? "create" : "replace the trust policy of",
               s->o->role);
        print_json(trust ? trust : "");
    }
    if (p->policy_doc) {
        printf("  put role policy '%s' on role '%s':\n", p->policy_name,
               s->o->role);
        print_json(p->policy_doc);
    }
    free(trust);
}

static int apply_role(struct setup *s, struct aws_error *err)
{
    const struct plan *p = &s->plan;
    char *trust = policy_trust_doc();
    int rc = trust ? 0 : aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    if (rc == 0 && p->create_role) {
        struct iam_role role;
        memset(&role, 0, sizeof(role));
        rc = iam_create_role(s->c, s->o->role, trust, NULL, &role, err);
        iam_role_release(&role);
        if (rc == 0)
            printf("created role '%s'\n", s->o->role);
    } else if (rc == 0 && p->update_trust) {
        rc = iam_update_assume_role_policy(s->c, s->o->role, trust, err);
        if (rc == 0)
            printf("replaced the trust policy of role '%s'\n", s->o->role);
    }
    free(trust);
    return rc;
}

static int apply_plan(struct setup *s)
{
    const struct plan *p = &s->plan;
    struct aws_error err;
    aws_error_clear(&err);
    if (p->create_bucket) {
        if (s3_create_bucket(s->c, s->o->bucket, s->region, &err) != 0) {
            print_err("cannot create the bucket", &err);
            return 1;
        }
        printf("created bucket '%s' in %s\n", s->o->bucket, s->region);
    }
    if (p->add_lifecycle) {
        if (s3_put_lifecycle_abort(s->c, s->o->bucket, s->o->prefix,
                                   ABORT_DAYS, &err) != 0) {
            print_err("cannot add the lifecycle rule", &err);
            return 1;
        }
        printf("added lifecycle rule '" S3_ABORT_RULE_ID "' to bucket "
               "'%s'\n", s->o->bucket);
    }
    if (apply_role(s, &err) != 0) {
        print_err("cannot set up the role", &err);
        return 1;
    }
    if (p->policy_doc) {
        if (iam_put_role_policy(s->c, s->o->role, p->policy_name,
                                p->policy_doc, &err) != 0) {
            print_err("cannot put the role policy", &err);
            return 1;
        }
        printf("put role policy '%s' on role '%s'\n", p->policy_name,
               s->o->role);
    }
    printf("done (IAM changes can take a few seconds to reach VM Import)\n");
    return 0;
}

static int run(struct setup *s)
{
    if (identify(s) != 0 || plan_bucket(s) != 0 || plan_lifecycle(s) != 0 ||
        plan_role(s) != 0)
        return 1;
    if (plan_empty(&s->plan)) {
        printf("nothing to do: bucket '%s' and role '%s' are ready for "
               "imports into %s\n", s->o->bucket, s->o->role, s->region);
        return 0;
    }
    print_plan(s);
    if (!s->o->yes) {
        printf("run again with --yes to apply this plan\n");
        return 0;
    }
    return apply_plan(s);
}

int amifs_setup_main(int argc, char **argv)
{
    struct acct_opts o;
    struct aws_error err;
    int rc = acct_parse(argc, argv, true, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (!o.bucket[0]) {
        fprintf(stderr, "error: --bucket NAME[/PREFIX] is required\n");
        return 2;
    }
    aws_error_clear(&err);
    struct aws_client *c = acct_client(&o, &err);
    if (!c) {
        print_err("cannot set up the AWS client", &err);
        return 1;
    }
    struct setup s = {.o = &o, .c = c, .region = aws_client_region(c)};
    rc = run(&s);
    free(s.plan.policy_doc);
    aws_client_free(c);
    return rc;
}
