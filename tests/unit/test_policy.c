/* Unit tests for core/policy.c: IAM wildcard matching, policy evaluation,
 * the trust-policy judgement doctor makes, and the documents setup writes
 * (which must pass doctor's own checks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/policy.h"
#include "check.h"

static void test_glob(void)
{
    CHECK(policy_glob("*", "anything", false));
    CHECK(policy_glob("s3:Get*", "s3:GetObject", false));
    CHECK(!policy_glob("s3:Get*", "s3:PutObject", false));
    CHECK(policy_glob("S3:getobject", "s3:GetObject", true));
    CHECK(!policy_glob("S3:getobject", "s3:GetObject", false));
    CHECK(policy_glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/p/*", false));
    CHECK(!policy_glob("arn:aws:s3:::b/p/a*", "arn:aws:s3:::b/p/*", false));
    CHECK(policy_glob("a?c", "abc", false));
    CHECK(!policy_glob("a?c", "ac", false));
    CHECK(policy_glob("*b*b*", "abababab", false));
    CHECK(!policy_glob("*b*c", "abababab", false));
    CHECK(policy_glob("", "", false));
    CHECK(!policy_glob("", "x", false));
}

static const char ROLE_POLICY[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":["
    "{\"Effect\":\"Allow\",\"Action\":[\"s3:GetBucketLocation\","
    "\"s3:GetObject\",\"s3:ListBucket\"],\"Resource\":["
    "\"arn:aws:s3:::imports\",\"arn:aws:s3:::imports/*\"]},"
    "{\"Effect\":\"Deny\",\"Action\":\"s3:GetObject\","
    "\"Resource\":\"arn:aws:s3:::imports/secret/*\"}]}";

static void test_allows(void)
{
    CHECK(policy_allows(ROLE_POLICY, "s3:GetObject",
                        "arn:aws:s3:::imports/vm.ova") == 1);
    CHECK(policy_allows(ROLE_POLICY, "S3:GETOBJECT",
                        "arn:aws:s3:::imports/*") == 1);
    CHECK(policy_allows(ROLE_POLICY, "s3:GetObject",
                        "arn:aws:s3:::imports/secret/x") == 0);
    CHECK(policy_allows(ROLE_POLICY, "s3:GetObject",
                        "arn:aws:s3:::other/x") == 0);
    CHECK(policy_allows(ROLE_POLICY, "s3:PutObject",
                        "arn:aws:s3:::imports/x") == 0);
    CHECK(policy_allows("not json", "s3:GetObject", "x") == -1);
    CHECK(policy_allows("{\"Statement\":{\"Effect\":\"Allow\","
                        "\"NotAction\":\"iam:*\",\"Resource\":\"*\"}}",
                        "s3:GetObject", "arn:aws:s3:::b") == 1);
    CHECK(policy_allows("{\"Statement\":{\"Effect\":\"Allow\","
                        "\"NotAction\":\"iam:*\",\"Resource\":\"*\"}}",
                        "iam:PassRole", "arn:aws:iam::1:role/x") == 0);

    const char *docs[] = {"{\"Statement\":[]}", ROLE_POLICY};
    CHECK(policy_docs_allow(docs, 2, "s3:ListBucket",
                            "arn:aws:s3:::imports"));
    CHECK(!policy_docs_allow(docs, 2, "s3:GetObject",
                             "arn:aws:s3:::imports/secret/a"));
    CHECK(!policy_docs_allow(docs, 1, "s3:ListBucket",
                             "arn:aws:s3:::imports"));
}

static void test_trust(void)
{
    char why[256];
    char *good = policy_trust_doc();
    CHECK(good && policy_check_trust(good, why, sizeof(why)) ==
                      POLICY_TRUST_OK);
    CHECK(why[0] == '\0');
    free(good);

    /* AWS sends the key as sts:Externalid; IAM compares keys without case */
    CHECK(policy_check_trust(
              "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{"
              "\"Service\":[\"ec2.amazonaws.com\",\"vmie.amazonaws.com\"]},"
              "\"Action\":[\"sts:AssumeRole\"],\"Condition\":{"
              "\"StringEquals\":{\"sts:ExternalId\":[\"vmimport\"]}}}]}",
              why, sizeof(why)) == POLICY_TRUST_OK);

    CHECK(policy_check_trust(
              "{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{"
              "\"Service\":\"vmie.amazonaws.com\"},\"Action\":"
              "\"sts:AssumeRole\"}}",
              why, sizeof(why)) == POLICY_TRUST_NO_EXTERNAL_ID);
    CHECK(strstr(why, "sts:Externalid") != NULL);

    CHECK(policy_check_trust(
              "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{"
              "\"Service\":\"ec2.amazonaws.com\"},\"Action\":"
              "\"sts:AssumeRole\"}]}",
              why, sizeof(why)) == POLICY_TRUST_BAD);
    CHECK(strstr(why, "vmie.amazonaws.com") != NULL);

    CHECK(policy_check_trust(
              "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{"
              "\"Service\":\"vmie.amazonaws.com\"},\"Action\":"
              "\"sts:AssumeRole\",\"Condition\":{\"StringEquals\":{"
              "\"sts:Externalid\":\"other\"}}}]}",
              why, sizeof(why)) == POLICY_TRUST_BAD);
    CHECK(strstr(why, "other") != NULL);

    CHECK(policy_check_trust("garbage", why, sizeof(why)) ==
          POLICY_TRUST_BAD);
}

/* What setup writes must satisfy what doctor asks, and nothing more. */
static void test_role_doc_meets_needs(void)
{
    const char *kms = "arn:aws:kms:us-east-1:123456789012:key/abcd";
    struct policy_need needs[32];
    char *doc = policy_role_doc("aws", "imports", "vms/", kms);
    size_t n = policy_needs("aws", "imports", "vms", kms, needs, 32);
    CHECK(doc != NULL);
    CHECK(n == 3 + 6 + 4);
    for (size_t i = 0; doc && i < n; i++) {
        if (policy_allows(doc, needs[i].action, needs[i].resource) != 1) {
            fprintf(stderr, "not allowed: %s on %s\n", needs[i].action,
                    needs[i].resource);
            failures++;
        }
    }
    CHECK(policy_allows(doc, "s3:GetObject",
                        "arn:aws:s3:::imports/other/x") == 0);
    CHECK(policy_allows(doc, "s3:GetObject",
                        "arn:aws:s3:::imports/vms/x.ova") == 1);
    free(doc);

    doc = policy_role_doc("aws", "imports", NULL, NULL);
    n = policy_needs("aws", "imports", "", NULL, needs, 32);
    CHECK(n == 3 + 4);
    CHECK(doc && strstr(doc, "kms:") == NULL);
    CHECK(policy_allows(doc, "s3:GetObject", "arn:aws:s3:::imports/*") == 1);
    char *pretty = policy_pretty(doc);
    CHECK(pretty && strchr(pretty, '\n'));
    free(pretty);
    free(doc);
    CHECK(policy_pretty("{") == NULL);
}

int main(void)
{
    test_glob();
    test_allows();
    test_trust();
    test_role_doc_meets_needs();
    return check_exit();
}
