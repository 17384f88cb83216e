/*
 * test_iam_parse.c — the pure halves of aws/iam.c and aws/sts.c on the
 * verified answer bodies of shared/aws/examples (embedded below): roles
 * with %-encoded policy documents, role policies, policy-name paging,
 * caller identity, AssumeRole credentials, and the AssumeRole form body.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/iam.h"
#include "aws/sts.h"
#include "aws/xml.h"
#include "check.h"
#include "xmlfix.h"

static const char get_role_xml[] =
    "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\n"
    "  <GetRoleResult>\n"
    "    <Role>\n"
    "      <Path>/</Path>\n"
    "      <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C"
    "%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3"
    "A%7B%22Service%22%3A%22vmie.amazonaws.com%22%7D%2C%22Action%22%3A%22st"
    "s%3AAssumeRole%22%2C%22Condition%22%3A%7B%22StringEquals%22%3A%7B%22st"
    "s%3AExternalid%22%3A%22vmimport%22%7D%7D%7D%5D%7D</AssumeRolePolicyDoc"
    "ument>\n"
    "      <MaxSessionDuration>3600</MaxSessionDuration>\n"
    "      <RoleId>AROAEXAMPLEROLEID0001</RoleId>\n"
    "      <RoleName>vmimport</RoleName>\n"
    "      <Arn>arn:aws:iam::123456789012:role/vmimport</Arn>\n"
    "      <CreateDate>2024-05-01T12:00:00Z</CreateDate>\n"
    "      <RoleLastUsed/>\n"
    "    </Role>\n"
    "  </GetRoleResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>df37e965-0000-4000-8000-00000000bb01</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</GetRoleResponse>\n";

static const char get_role_policy_xml[] =
    "<GetRolePolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-0"
    "8/\">\n"
    "  <GetRolePolicyResult>\n"
    "    <PolicyName>vmimport</PolicyName>\n"
    "    <RoleName>vmimport</RoleName>\n"
    "    <PolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement"
    "%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22s3%3AGet"
    "BucketLocation%22%2C%22s3%3AGetObject%22%2C%22s3%3AListBucket%22%5D%2C"
    "%22Resource%22%3A%5B%22arn%3Aaws%3As3%3A%3A%3Amy-import-bucket%22%2C%2"
    "2arn%3Aaws%3As3%3A%3A%3Amy-import-bucket%2F%2A%22%5D%7D%5D%7D</PolicyD"
    "ocument>\n"
    "  </GetRolePolicyResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>7e7cd8bc-99ef-11e1-a4c3-27EXAMPLE804</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</GetRolePolicyResponse>\n";

static const char assume_role_xml[] =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/"
    "\">\n"
    "  <AssumeRoleResult>\n"
    "    <AssumedRoleUser>\n"
    "      <Arn>arn:aws:sts::123456789012:assumed-role/amifs-role/amifs-ses"
    "sion</Arn>\n"
    "      <AssumedRoleId>AROAEXAMPLEROLEID0002:amifs-session</AssumedRoleI"
    "d>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <AccessKeyId>ASIAEXAMPLEKEYID0001</AccessKeyId>\n"
    "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</Secr"
    "etAccessKey>\n"
    "      <SessionToken>FwoGZXIvYXdzEXAMPLETOKEN</SessionToken>\n"
    "      <Expiration>2024-05-01T13:00:00Z</Expiration>\n"
    "    </Credentials>\n"
    "    <PackedPolicySize>6</PackedPolicySize>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

static const char caller_identity_xml[] =
    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-"
    "06-15/\">\n"
    "  <GetCallerIdentityResult>\n"
    "    <Arn>arn:aws:iam::123456789012:user/amifs</Arn>\n"
    "    <UserId>AIDAEXAMPLEUSERID0001</UserId>\n"
    "    <Account>123456789012</Account>\n"
    "  </GetCallerIdentityResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</GetCallerIdentityResponse>\n";

static void test_role(void)
{
    struct aws_error err;
    struct iam_role r;
    char *doc = NULL;
    struct xml_doc *d = parse_fixture(get_role_xml);
    CHECK(iam_parse_role(xml_root(d), &r, &err) == 0, "parse");
    CHECK(STREQ(r.role_name, "vmimport"), "name");
    CHECK(STREQ(r.arn, "arn:aws:iam::123456789012:role/vmimport"), "arn");
    CHECK(r.assume_role_policy &&
              strncmp(r.assume_role_policy, "{\"Version\":\"2012-10-17\"",
                      23) == 0 &&
              strstr(r.assume_role_policy,
                     "\"Service\":\"vmie.amazonaws.com\"") &&
              strstr(r.assume_role_policy, "\"sts:Externalid\":\"vmimport\""),
          "decoded trust policy: %s",
          r.assume_role_policy ? r.assume_role_policy : "(null)");
    iam_role_release(&r);
    xml_free(d);

    d = parse_fixture("<CreateRoleResponse><CreateRoleResult><Role><RoleName>x"
              "</RoleName><Arn>arn:aws:iam::1:role/x</Arn>"
              "<AssumeRolePolicyDocument>%7B%22a%22%3A%22b+c%22%7D"
              "</AssumeRolePolicyDocument></Role></CreateRoleResult>"
              "</CreateRoleResponse>");
    CHECK(iam_parse_role(xml_root(d), &r, &err) == 0, "create answer");
    CHECK(STREQ(r.assume_role_policy, "{\"a\":\"b+c\"}"),
          "'+' is not a space in policy documents: %s",
          r.assume_role_policy ? r.assume_role_policy : "(null)");
    iam_role_release(&r);
    xml_free(d);

    d = parse_fixture(get_role_policy_xml);
    CHECK(iam_parse_role_policy(xml_root(d), &doc, &err) == 0, "policy");
    CHECK(doc && strstr(doc, "\"arn:aws:s3:::my-import-bucket/*\"") &&
              strstr(doc, "\"s3:GetObject\""),
          "decoded policy: %s", doc ? doc : "(null)");
    free(doc);
    xml_free(d);

    d = parse_fixture("<ErrorResponse><Error><Code>NoSuchEntity</Code></Error>"
              "</ErrorResponse>");
    CHECK(iam_parse_role(xml_root(d), &r, &err) < 0 &&
              err.kind == AWS_ERR_PARSE,
          "error body is not a role");
    xml_free(d);
}

static void test_policy_names(void)
{
    struct aws_error err;
    char **names = NULL, *marker = NULL;
    size_t n = 0;
    struct xml_doc *d = parse_fixture(
        "<ListRolePoliciesResponse><ListRolePoliciesResult><PolicyNames>"
        "<member>vmimport</member><member>extra</member></PolicyNames>"
        "<IsTruncated>true</IsTruncated><Marker>m1</Marker>"
        "</ListRolePoliciesResult></ListRolePoliciesResponse>");
    CHECK(iam_parse_policy_names(xml_root(d), &names, &n, &marker, &err) == 0,
          "parse");
    CHECK(n == 2 && STREQ(names[0], "vmimport") && STREQ(names[1], "extra"),
          "names");
    CHECK(STREQ(marker, "m1"), "marker");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(marker);
    xml_free(d);
}

static void test_sts(void)
{
    struct aws_error err;
    struct sts_identity id;
    struct aws_credentials cr;
    struct xml_doc *d = parse_fixture(caller_identity_xml);
    CHECK(sts_parse_caller_identity(xml_root(d), &id, &err) == 0, "identity");
    CHECK(STREQ(id.account, "123456789012") &&
              STREQ(id.arn, "arn:aws:iam::123456789012:user/amifs") &&
              STREQ(id.user_id, "AIDAEXAMPLEUSERID0001"),
          "identity fields");
    sts_identity_release(&id);
    xml_free(d);

    d = parse_fixture(assume_role_xml);
    CHECK(sts_parse_assume_role(xml_root(d), &cr, &err) == 0, "assume");
    CHECK(STREQ(cr.access_key_id, "ASIAEXAMPLEKEYID0001") &&
              STREQ(cr.secret_access_key,
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY") &&
              STREQ(cr.session_token, "FwoGZXIvYXdzEXAMPLETOKEN"),
          "credentials");
    CHECK(cr.expiration == 1714568400, "expiration %lld",
          (long long)cr.expiration);
    CHECK(STREQ(cr.source, "assume-role"), "source");
    aws_credentials_release(&cr);
    xml_free(d);

    d = parse_fixture("<AssumeRoleResponse><AssumeRoleResult><Credentials>"
              "<AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleResult>"
              "</AssumeRoleResponse>");
    CHECK(sts_parse_assume_role(xml_root(d), &cr, &err) < 0 &&
              err.kind == AWS_ERR_PARSE,
          "incomplete credentials refused");
    xml_free(d);

    struct buf b;
    buf_init(&b, 0);
    CHECK(sts_assume_role_body(&b, "arn:aws:iam::123456789012:role/r",
                               "amifs s", "ext+1", 900) == 0,
          "body");
    CHECK(STREQ(buf_cstr(&b),
                "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam"
                "%3A%3A123456789012%3Arole%2Fr&RoleSessionName=amifs%20s&"
                "ExternalId=ext%2B1&DurationSeconds=900"),
          "body: %s", buf_cstr(&b));
    buf_release(&b);
}

int main(void)
{
    test_role();
    test_policy_names();
    test_sts();
    return check_exit();
}
