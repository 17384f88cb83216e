/*
 * test_config.c — config/credentials files and environment resolution
 * (creds.h, doc/AWS.md "Credentials"): INI sub-sections and comments, profile,
 * region, endpoint and retry precedence, IMDS settings, ISO-8601 times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/config_priv.h"
#include "aws/creds.h"
#include "aws/iso8601.h"
#include "check.h"

static char dir[] = "/tmp/amifs-test-config-XXXXXX";
static char cfg_path[256], creds_path[256];

static const char config_text[] =
    "# a comment\n"
    "; another comment\n"
    "[default]\n"
    "region = eu-west-1\n"
    "retry_mode = standard\n"
    "s3 =\n"
    "    addressing_style = path\n"
    "    max_concurrent_requests = 4\n"
    "output = json # not a comment for botocore\n"
    "\n"
    "[profile dev]\n"
    "region=ap-south-1\n"
    "max_attempts = 7\n"
    "services = local\n"
    "endpoint_url = http://profile-endpoint:1\n"
    "ca_bundle = /etc/dev-ca.pem\n"
    "\n"
    "[profile   spaced ]\n"
    "region = us-west-2\n"
    "[profile legacy]\n"
    "retry_mode = legacy\n"
    "s3 =\n"
    "  addressing_style = virtual\n"
    "[services local]\n"
    "s3 =\n"
    "  endpoint_url = http://127.0.0.1:9000\n"
    "ec2 =\n"
    "  endpoint_url = http://127.0.0.1:9001\n";

static const char creds_text[] =
    "[default]\n"
    "aws_access_key_id = AKIDDEFAULT\n"
    "aws_secret_access_key = secret/default+\n"
    "[onlycreds]\n"
    "aws_access_key_id = AKIDONLY\n";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static void clear_env(void)
{
    static const char *const vars[] = {
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CA_BUNDLE",
        "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_EC2_METADATA_DISABLED",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT", NULL};

    for (const char *const *v = vars; *v; v++)
        unsetenv(*v);
    setenv("AWS_CONFIG_FILE", cfg_path, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
}

static void test_ini(void)
{
    char *v;

    v = aws_config_get(cfg_path, "default", "region");
    CHECK(STREQ(v, "eu-west-1"), "region %s", SHOW(v));
    free(v);
    v = aws_config_get(cfg_path, "default", "s3.addressing_style");
    CHECK(STREQ(v, "path"), "sub-section %s", SHOW(v));
    free(v);
    v = aws_config_get(cfg_path, "default", "s3.max_concurrent_requests");
    CHECK(STREQ(v, "4"), "sub-section 2 %s", SHOW(v));
    free(v);
    v = aws_config_get(cfg_path, "default", "output");
    CHECK(STREQ(v, "json # not a comment for botocore"), "inline # %s",
          SHOW(v));
    free(v);
    v = aws_config_get(cfg_path, "profile dev", "region");
    CHECK(STREQ(v, "ap-south-1"), "no spaces around = %s", SHOW(v));
    free(v);
    v = aws_config_get(cfg_path, "profile spaced", "region");
    CHECK(STREQ(v, "us-west-2"), "spaced section %s", SHOW(v));
    free(v);
    v = aws_config_get(cfg_path, "services local", "ec2.endpoint_url");
    CHECK(STREQ(v, "http://127.0.0.1:9001"), "services %s", SHOW(v));
    free(v);
    CHECK(aws_config_get(cfg_path, "default", "s3") == NULL,
          "empty parent value");
    CHECK(aws_config_get(cfg_path, "default", "a comment") == NULL, "comment");
    CHECK(aws_config_get(cfg_path, "nosuch", "region") == NULL, "section");
    CHECK(aws_config_get("/nonexistent/file", "default", "region") == NULL,
          "missing file");
}

static void test_defaults(void)
{
    struct aws_config c;
    struct aws_error err;

    clear_env();
    CHECK(aws_config_load(&c, NULL, &err) == 0, "load: %s", err.message);
    CHECK(STREQ(c.profile, "default") && !c.profile_explicit, "profile");
    CHECK(STREQ(c.region, "eu-west-1"), "region %s", SHOW(c.region));
    for (int s = 0; s < AWS_SVC_COUNT; s++)
        CHECK(c.endpoint[s] == NULL, "endpoint %d %s", s, c.endpoint[s]);
    CHECK(c.path_style, "addressing_style = path");
    CHECK(c.max_attempts == 3, "attempts %d", c.max_attempts);
    CHECK(STREQ(c.imds_endpoint, "http://169.254.169.254"), "imds %s",
          c.imds_endpoint);
    CHECK(!c.imds_disabled && c.ca_bundle == NULL, "imds/ca");
    CHECK(STREQ(c.config_file, cfg_path) &&
              STREQ(c.credentials_file, creds_path), "files");
    aws_config_release(&c);
}

static void test_profile_dev(void)
{
    struct aws_config c;
    struct aws_error err;

    clear_env();
    setenv("AWS_DEFAULT_PROFILE", "spaced", 1);
    setenv("AWS_PROFILE", "dev", 1);
    CHECK(aws_config_load(&c, NULL, &err) == 0, "load: %s", err.message);
    CHECK(STREQ(c.profile, "dev") && !c.profile_explicit, "AWS_PROFILE wins");
    CHECK(STREQ(c.region, "ap-south-1"), "region %s", SHOW(c.region));
    CHECK(STREQ(c.endpoint[AWS_SVC_S3], "http://127.0.0.1:9000"),
          "services s3 %s", SHOW(c.endpoint[AWS_SVC_S3]));
    CHECK(STREQ(c.endpoint[AWS_SVC_EC2], "http://127.0.0.1:9001"),
          "services ec2 %s", SHOW(c.endpoint[AWS_SVC_EC2]));
    CHECK(STREQ(c.endpoint[AWS_SVC_IAM], "http://profile-endpoint:1"),
          "profile endpoint_url %s", SHOW(c.endpoint[AWS_SVC_IAM]));
    CHECK(c.max_attempts == 7, "attempts %d", c.max_attempts);
    CHECK(STREQ(c.ca_bundle, "/etc/dev-ca.pem"), "ca %s", SHOW(c.ca_bundle));
    CHECK(c.path_style, "custom endpoint → path-style");
    aws_config_release(&c);

    setenv("AWS_ENDPOINT_URL", "http://global:2", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:3", 1);
    setenv("AWS_REGION", "sa-east-1", 1);
    setenv("AWS_DEFAULT_REGION", "ca-central-1", 1);
    setenv("AWS_MAX_ATTEMPTS", "2", 1);
    setenv("AWS_CA_BUNDLE", "/env/ca.pem", 1);
    CHECK(aws_config_load(&c, NULL, &err) == 0, "load: %s", err.message);
    CHECK(STREQ(c.endpoint[AWS_SVC_S3], "http://s3-only:3"), "svc env %s",
          SHOW(c.endpoint[AWS_SVC_S3]));
    CHECK(STREQ(c.endpoint[AWS_SVC_EC2], "http://global:2"), "global env %s",
          SHOW(c.endpoint[AWS_SVC_EC2]));
    CHECK(STREQ(c.region, "sa-east-1"), "AWS_REGION %s", SHOW(c.region));
    CHECK(c.max_attempts == 2, "env attempts %d", c.max_attempts);
    CHECK(STREQ(c.ca_bundle, "/env/ca.pem"), "env ca");
    aws_config_release(&c);

    unsetenv("AWS_REGION");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    CHECK(aws_config_load(&c, NULL, &err) == 0, "load: %s", err.message);
    CHECK(STREQ(c.region, "ca-central-1"), "AWS_DEFAULT_REGION %s",
          SHOW(c.region));
    for (int s = 0; s < AWS_SVC_COUNT; s++)
        CHECK(c.endpoint[s] == NULL, "ignored endpoint %d", s);
    aws_config_release(&c);

    struct aws_config_overrides ov = {.profile = "spaced",
                                      .region = "me-south-1",
                                      .endpoint = "http://explicit:4",
                                      .ca_bundle = "/x.pem",
                                      .max_attempts = 9};
    CHECK(aws_config_load(&c, &ov, &err) == 0, "load: %s", err.message);
    CHECK(STREQ(c.profile, "spaced") && c.profile_explicit, "explicit");
    CHECK(STREQ(c.region, "me-south-1") && c.max_attempts == 9 &&
              STREQ(c.ca_bundle, "/x.pem"), "explicit values");
    for (int s = 0; s < AWS_SVC_COUNT; s++)
        CHECK(STREQ(c.endpoint[s], "http://explicit:4"), "explicit endpoint");
    aws_config_release(&c);
}

static void test_misc(void)
{
    struct aws_config c;
    struct aws_error err;
    struct aws_config_overrides ov = {.profile = "nosuch"};

    clear_env();
    CHECK(aws_config_load(&c, &ov, &err) == -1 &&
              err.kind == AWS_ERR_CONFIG && strstr(err.message, "nosuch"),
          "missing profile: %s", err.message);
    ov.profile = "onlycreds"; /* exists only in the credentials file */
    CHECK(aws_config_load(&c, &ov, &err) == 0, "creds-only profile");
    CHECK(c.region == NULL, "no region");
    aws_config_release(&c);

    ov.profile = "legacy";
    setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:8/", 1);
    CHECK(aws_config_load(&c, &ov, &err) == 0, "load: %s", err.message);
    CHECK(c.max_attempts == 5, "legacy attempts %d", c.max_attempts);
    CHECK(c.imds_disabled && STREQ(c.imds_endpoint, "http://127.0.0.1:8"),
          "imds %d %s", c.imds_disabled, c.imds_endpoint);
    CHECK(!c.path_style, "virtual");
    aws_config_release(&c);
    CHECK(STREQ(aws_service_name(AWS_SVC_S3), "s3") &&
              STREQ(aws_service_name(AWS_SVC_STS), "sts"), "names");
}

static void test_iso8601(void)
{
    time_t t;

    CHECK(aws_parse_iso8601("2024-05-01T18:00:00Z", &t) == 0 &&
              t == 1714586400, "Z %lld", (long long)t);
    CHECK(aws_parse_iso8601("2024-05-01T18:00:00.000Z", &t) == 0 &&
              t == 1714586400, "fraction");
    CHECK(aws_parse_iso8601("2024-05-01T20:00:00+02:00", &t) == 0 &&
              t == 1714586400, "offset %lld", (long long)t);
    CHECK(aws_parse_iso8601("yesterday", &t) == -1, "garbage");
    CHECK(aws_parse_iso8601("2024-05-01T18:00:00Q", &t) == -1, "bad zone");
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(cfg_path, sizeof cfg_path, "%s/config", dir);
    snprintf(creds_path, sizeof creds_path, "%s/credentials", dir);
    write_file(cfg_path, config_text);
    write_file(creds_path, creds_text);
    test_ini();
    test_defaults();
    test_profile_dev();
    test_misc();
    test_iso8601();
    unlink(cfg_path);
    unlink(creds_path);
    rmdir(dir);
    printf("config: %d failures\n", failures);
    return failures ? 1 : 0;
}
