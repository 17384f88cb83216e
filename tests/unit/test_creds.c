/*
 * test_creds.c — the credentials chain (creds.h, aws-contract.md §6.3/6.4)
 * with temp files, a credential_process script, a fake STS for role_arn
 * profiles and a fake IMDS (v2 with token, v1 fallback) on loopback.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/client.h"
#include "aws/creds.h"
#include "fakehttp.h"
#include "check.h"

static char dir[] = "/tmp/amifs-test-creds-XXXXXX";
static char cfg_path[256], creds_path[256], script[256], counter[256];

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0) {
        perror(path);
        exit(1);
    }
    fclose(f);
    chmod(path, mode);
}

static void iso(time_t t, char *out, size_t n)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void clear_env(void)
{
    static const char *const vars[] = {
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_MAX_ATTEMPTS", NULL};

    for (const char *const *v = vars; *v; v++)
        unsetenv(*v);
    setenv("AWS_CONFIG_FILE", cfg_path, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* Credentials of a client built with `profile` (NULL: env/default). */
static int get(const char *profile, struct aws_credentials *out,
               struct aws_error *err)
{
    struct aws_client_options o = {0};
    struct aws_client *c;
    int rc;

    o.config.profile = profile;
    o.retry_base_ms = 1;
    c = aws_client_new(&o, err);
    if (!c)
        return -1;
    rc = aws_creds_get(aws_client_creds(c), out, err);
    aws_client_free(c);
    return rc;
}

static void write_files(void)
{
    char cfg[2048];

    write_file(creds_path,
               "[default]\n"
               "aws_access_key_id = AKIDFILE\n"
               "aws_secret_access_key = secretfile\n"
               "[both]\n"
               "aws_access_key_id = AKIDBOTHCREDS\n"
               "aws_secret_access_key = s1\n"
               "[broken]\n"
               "aws_access_key_id = AKIDNOSECRET\n", 0600);
    snprintf(cfg, sizeof cfg,
             "[profile both]\n"
             "aws_access_key_id = AKIDBOTHCONFIG\n"
             "aws_secret_access_key = s2\n"
             "[profile cfgonly]\n"
             "aws_access_key_id = AKIDCONFIG\n"
             "aws_secret_access_key = s3\n"
             "aws_session_token = tok3\n"
             "[profile proc]\n"
             "credential_process = %s 3600\n"
             "[profile procsoon]\n"
             "credential_process = %s 120\n"
             "[profile procbad]\n"
             "credential_process = %s bad\n"
             "[profile procfail]\n"
             "credential_process = %s fail\n"
             "[profile role]\n"
             "role_arn = arn:aws:iam::123456789012:role/amifs\n"
             "source_profile = cfgonly\n"
             "external_id = xyz-ext\n"
             "role_session_name = sess1\n"
             "[profile roleenv]\n"
             "role_arn = arn:aws:iam::123456789012:role/amifs\n"
             "credential_source = Environment\n"
             "[profile imds]\n"
             "region = us-east-1\n",
             script, script, script, script);
    write_file(cfg_path, cfg, 0600);
}

static void write_script(void)
{
    char text[2048];

    /* $1: seconds until expiry, "bad" (wrong Version) or "fail" */
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "echo run >> '%s'\n"
             "case \"$1\" in\n"
             "fail) echo oops >&2; exit 3;;\n"
             "bad) echo '{\"Version\": 2, \"AccessKeyId\": \"A\", "
             "\"SecretAccessKey\": \"B\"}'; exit 0;;\n"
             "esac\n"
             "exp=$(date -u -d \"@$(( $(date +%%s) + $1 ))\" "
             "+%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
             "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
             "\"SecretAccessKey\": \"procsecret\", \"SessionToken\": "
             "\"proctoken\", \"Expiration\": \"%%s\"}\\n' \"$exp\"\n",
             counter);
    write_file(script, text, 0700);
}

static int runs(void)
{
    FILE *f = fopen(counter, "r");
    int n = 0, c;

    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_static_sources(void)
{
    struct aws_credentials c;
    struct aws_error err;

    clear_env();
    CHECK(get(NULL, &c, &err) == 0, "default: %s", err.message);
    CHECK(streq(c.access_key_id, "AKIDFILE") &&
              streq(c.source, "shared-credentials-file") && !c.session_token,
          "file: %s %s", c.access_key_id, c.source);
    aws_credentials_release(&c);

    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    setenv("AWS_PROFILE", "cfgonly", 1); /* does not beat env keys */
    CHECK(get(NULL, &c, &err) == 0, "env: %s", err.message);
    CHECK(streq(c.access_key_id, "AKIDENV") && streq(c.source, "env") &&
              streq(c.session_token, "envtoken") && c.expiration == 0,
          "env: %s %s", c.access_key_id, c.source);
    aws_credentials_release(&c);
    CHECK(get("cfgonly", &c, &err) == 0, "explicit: %s", err.message);
    CHECK(streq(c.access_key_id, "AKIDCONFIG") &&
              streq(c.source, "config-file") &&
              streq(c.session_token, "tok3"),
          "explicit profile beats env: %s %s", c.access_key_id, c.source);
    aws_credentials_release(&c);

    clear_env();
    CHECK(get("both", &c, &err) == 0, "both: %s", err.message);
    CHECK(streq(c.access_key_id, "AKIDBOTHCREDS"), "credentials file first");
    aws_credentials_release(&c);
    CHECK(get("broken", &c, &err) == -1 && err.kind == AWS_ERR_CREDENTIALS,
          "incomplete keys: kind %d", err.kind);
    CHECK(get("imds", &c, &err) == -1 && err.kind == AWS_ERR_CREDENTIALS &&
              strstr(err.message, "Unable to locate"),
          "nothing anywhere: %s", err.message);
    CHECK(aws_error_errno(&err) == 13, "EACCES");
}

static void test_process(void)
{
    struct aws_client_options o = {0};
    struct aws_credentials c;
    struct aws_error err;
    struct aws_client *cl;
    time_t now = time(NULL);

    clear_env();
    unlink(counter);
    o.config.profile = "proc";
    cl = aws_client_new(&o, &err);
    CHECK(cl != NULL, "client: %s", err.message);
    CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "proc: %s",
          err.message);
    CHECK(streq(c.access_key_id, "AKIDPROC") &&
              streq(c.secret_access_key, "procsecret") &&
              streq(c.session_token, "proctoken") &&
              streq(c.source, "process"),
          "proc values");
    CHECK(c.expiration >= now + 3590 && c.expiration <= now + 3700,
          "expiration %lld", (long long)(c.expiration - now));
    aws_credentials_release(&c);
    aws_creds_get(aws_client_creds(cl), &c, &err);
    aws_credentials_release(&c);
    CHECK(runs() == 1, "cached: %d runs", runs());
    aws_creds_invalidate(aws_client_creds(cl));
    aws_creds_get(aws_client_creds(cl), &c, &err);
    aws_credentials_release(&c);
    CHECK(runs() == 2, "invalidate: %d runs", runs());
    aws_client_free(cl);

    /* expires within 5 minutes: refreshed on every get */
    unlink(counter);
    o.config.profile = "procsoon";
    cl = aws_client_new(&o, &err);
    for (int i = 0; i < 3; i++) {
        CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "soon");
        aws_credentials_release(&c);
    }
    CHECK(runs() == 3, "refresh ahead: %d runs", runs());
    aws_client_free(cl);

    CHECK(get("procbad", &c, &err) == -1 && err.kind == AWS_ERR_CREDENTIALS &&
              strstr(err.message, "Version"), "version: %s", err.message);
    CHECK(get("procfail", &c, &err) == -1 && err.kind == AWS_ERR_CREDENTIALS,
          "exit status: %s", err.message);
}

static char sts_body[1024];

static void test_assume_role(void)
{
    struct fake_rule rules[] = {{"POST", "/", 200, NULL, sts_body, 0, false, 0, 0},
                                {0}};
    struct fakehttp *f;
    struct aws_credentials c;
    struct aws_error err;
    char exp[32], auth[512] = "";
    const struct fake_req *q;
    time_t t = time(NULL) + 3600;

    iso(t, exp, sizeof exp);
    snprintf(sts_body, sizeof sts_body,
             "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/"
             "2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>"
             "ASIAROLE</AccessKeyId><SecretAccessKey>rolesecret"
             "</SecretAccessKey><SessionToken>roletoken</SessionToken>"
             "<Expiration>%s</Expiration></Credentials></AssumeRoleResult>"
             "</AssumeRoleResponse>", exp);
    f = fakehttp_start(rules);
    CHECK(f != NULL, "fake STS");
    if (!f)
        return;
    clear_env();
    setenv("AWS_ENDPOINT_URL", fakehttp_url(f), 1);
    CHECK(get("role", &c, &err) == 0, "role: %s", err.message);
    CHECK(streq(c.access_key_id, "ASIAROLE") &&
              streq(c.session_token, "roletoken") &&
              streq(c.source, "assume-role") && c.expiration == t,
          "role creds %s %s", c.access_key_id, c.source);
    aws_credentials_release(&c);
    q = fakehttp_req(f, 0);
    CHECK(q && strstr(q->body, "Action=AssumeRole") &&
              strstr(q->body, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3A"
                              "role%2Famifs") &&
              strstr(q->body, "ExternalId=xyz-ext") &&
              strstr(q->body, "RoleSessionName=sess1"),
          "AssumeRole body %s", q ? q->body : "");
    fakehttp_header(f, 0, "Authorization", auth, sizeof auth);
    CHECK(strstr(auth, "Credential=AKIDCONFIG/") &&
              strstr(auth, "/sts/aws4_request"),
          "signed with the source profile: %s", auth);
    fakehttp_header(f, 0, "X-Amz-Security-Token", auth, sizeof auth);
    CHECK(streq(auth, "tok3"), "source token %s", auth);

    fakehttp_reset(f);
    setenv("AWS_ACCESS_KEY_ID", "AKIDSRCENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "x", 1);
    CHECK(get("roleenv", &c, &err) == 0, "roleenv: %s", err.message);
    aws_credentials_release(&c);
    fakehttp_header(f, 0, "Authorization", auth, sizeof auth);
    CHECK(strstr(auth, "Credential=AKIDSRCENV/"),
          "credential_source = Environment: %s", auth);
    fakehttp_stop(f);
}

static char imds_json[1024];

static void test_imds(void)
{
    struct fake_rule rules[] = {
        {"PUT", "/latest/api/token", 200, NULL, "TOKEN-1", 0, false, 0, 0},
        {"GET", "/latest/meta-data/iam/security-credentials/", 200, NULL,
         "amifs-role\n", 0, false, 0, 0},
        {"GET", "/latest/meta-data/iam/security-credentials/amifs-role", 200,
         NULL, imds_json, 0, false, 0, 0},
        {"GET", "/latest/meta-data/placement/region", 200, NULL,
         "eu-north-1", 0, false, 0, 0},
        {0}};
    struct fakehttp *f = fakehttp_start(rules);
    struct aws_client_options o = {0};
    struct aws_credentials c;
    struct aws_error err;
    struct aws_client *cl;
    char exp[32], tok[64] = "";
    time_t t = time(NULL) + 7200;
    size_t n;

    CHECK(f != NULL, "fake IMDS");
    if (!f)
        return;
    iso(t, exp, sizeof exp);
    snprintf(imds_json, sizeof imds_json,
             "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":"
             "\"ASIAIMDS\",\"SecretAccessKey\":\"imdssecret\",\"Token\":"
             "\"imdstoken\",\"Expiration\":\"%s\"}", exp);
    clear_env();
    unsetenv("AWS_REGION");
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fakehttp_url(f), 1);
    o.config.profile = "imds";
    cl = aws_client_new(&o, &err);
    CHECK(cl != NULL, "client: %s", err.message);
    fakehttp_reset(f);
    CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "imds: %s",
          err.message);
    CHECK(streq(c.access_key_id, "ASIAIMDS") &&
              streq(c.session_token, "imdstoken") && streq(c.source, "imds") &&
              c.expiration == t, "imds creds %s", c.access_key_id);
    aws_credentials_release(&c);
    n = fakehttp_count(f);
    CHECK(n == 4, "v2 flow: %zu requests", n);
    CHECK(streq(fakehttp_req(f, 0)->method, "PUT"), "token first");
    fakehttp_header(f, 1, "X-aws-ec2-metadata-token", tok, sizeof tok);
    CHECK(streq(tok, "TOKEN-1"), "token sent: %s", tok);
    fakehttp_header(f, 0, "X-aws-ec2-metadata-token-ttl-seconds", tok,
                    sizeof tok);
    CHECK(streq(tok, "21600"), "ttl %s", tok);
    aws_client_free(cl);

    /* IMDS region when nothing else names one */
    o.config.profile = NULL;
    write_file(creds_path, "", 0600);
    cl = aws_client_new(&o, &err);
    CHECK(cl && streq(aws_client_region(cl), "eu-north-1"), "imds region %s",
          cl ? aws_client_region(cl) : "");
    aws_client_free(cl);

    /* IMDSv1: the token PUT is refused, the GETs go without a token */
    rules[0].status = 403;
    fakehttp_reset(f);
    setenv("AWS_REGION", "us-east-1", 1);
    o.config.profile = "imds";
    cl = aws_client_new(&o, &err);
    CHECK(cl && aws_creds_get(aws_client_creds(cl), &c, &err) == 0,
          "v1: %s", err.message);
    aws_credentials_release(&c);
    for (size_t i = 0; i < fakehttp_count(f); i++)
        if (streq(fakehttp_req(f, i)->method, "GET"))
            CHECK(fakehttp_header(f, i, "X-aws-ec2-metadata-token", tok,
                                  sizeof tok) != 0, "v1 GET with token");
    aws_client_free(cl);

    /* disabled: not asked at all */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    fakehttp_reset(f);
    cl = aws_client_new(&o, &err);
    CHECK(cl && aws_creds_get(aws_client_creds(cl), &c, &err) == -1,
          "disabled should fail");
    CHECK(fakehttp_count(f) == 0, "disabled IMDS was called");
    aws_client_free(cl);
    fakehttp_stop(f);
    write_files();
}

struct par {
    struct aws_creds_provider *p;
    int ok;
};

static void *par_main(void *arg)
{
    struct par *p = arg;
    struct aws_credentials c;
    struct aws_error err;

    for (int i = 0; i < 20; i++) {
        if (aws_creds_get(p->p, &c, &err) == 0 &&
            streq(c.access_key_id, "AKIDPROC"))
            p->ok++;
        aws_credentials_release(&c);
    }
    return NULL;
}

static void test_threads(void)
{
    struct aws_client_options o = {0};
    struct aws_error err;
    struct aws_client *cl;
    pthread_t t[4];
    struct par p[4];

    clear_env();
    unlink(counter);
    o.config.profile = "proc";
    cl = aws_client_new(&o, &err);
    for (int i = 0; i < 4; i++) {
        p[i] = (struct par){aws_client_creds(cl), 0};
        pthread_create(&t[i], NULL, par_main, &p[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(p[i].ok == 20, "thread %d ok %d", i, p[i].ok);
    }
    CHECK(runs() == 1, "one refresh for all threads: %d", runs());
    aws_client_free(cl);
}

static void test_copy(void)
{
    struct aws_credentials a = {"AK", "SK", "TK", 5, "explicit"}, b;

    CHECK(aws_credentials_copy(&b, &a) == 0 && streq(b.access_key_id, "AK") &&
              streq(b.secret_access_key, "SK") &&
              streq(b.session_token, "TK") && b.expiration == 5 &&
              b.access_key_id != a.access_key_id, "copy");
    aws_credentials_release(&b);
    CHECK(b.access_key_id == NULL && b.secret_access_key == NULL, "release");
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(cfg_path, sizeof cfg_path, "%s/config", dir);
    snprintf(creds_path, sizeof creds_path, "%s/credentials", dir);
    snprintf(script, sizeof script, "%s/creds.sh", dir);
    snprintf(counter, sizeof counter, "%s/runs", dir);
    write_script();
    write_files();
    test_copy();
    test_static_sources();
    test_process();
    test_assume_role();
    test_imds();
    test_threads();
    unlink(cfg_path), unlink(creds_path), unlink(script), unlink(counter);
    rmdir(dir);
    printf("creds: %d failures\n", failures);
    return failures ? 1 : 0;
}
