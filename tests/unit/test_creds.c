/*
 * test_creds.c — the credentials chain (creds.h, doc/AWS.md "Credentials")
 * with temp files, a credential_process script, a fake STS for role_arn
 * and web identity profiles, a fake container credentials endpoint, a fake
 * SSO portal with token caches under a temp HOME, and a fake IMDS (v2 with
 * token, v1 fallback), all on loopback.
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
#include "aws/creds_priv.h"
#include "fakehttp.h"
#include "check.h"

static char dir[] = "/tmp/amifs-test-creds-XXXXXX";
static char cfg_path[256], creds_path[256], script[256], counter[256];
static char wit_path[256], ctok_path[256], sso_dir[256];

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
        "AWS_MAX_ATTEMPTS", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ENDPOINT_URL_SSO",
        "AWS_ENDPOINT_URL_STS", "http_proxy", NULL};

    for (const char *const *v = vars; *v; v++)
        unsetenv(*v);
    setenv("AWS_CONFIG_FILE", cfg_path, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("HOME", dir, 1);
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
    char cfg[4096];

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
             "[profile procshort]\n"
             "credential_process = %s 2\n"
             "[profile prochang]\n"
             "credential_process = %s hang\n"
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
             "region = us-east-1\n"
             "[profile webid]\n"
             "web_identity_token_file = %s\n"
             "role_arn = arn:aws:iam::123456789012:role/web\n"
             "role_session_name = websess\n"
             "[profile webnoarn]\n"
             "web_identity_token_file = %s\n"
             "[profile webchain]\n"
             "role_arn = arn:aws:iam::123456789012:role/amifs\n"
             "source_profile = webid\n"
             "[profile roleecs]\n"
             "role_arn = arn:aws:iam::123456789012:role/amifs\n"
             "credential_source = EcsContainer\n"
             "[profile ssolegacy]\n"
             "sso_start_url = https://d-1234.awsapps.com/start\n"
             "sso_region = eu-west-1\n"
             "sso_account_id = 111122223333\n"
             "sso_role_name = Admin Role\n"
             "[profile ssosess]\n"
             "sso_session = my-sso\n"
             "sso_account_id = 444455556666\n"
             "sso_role_name = Migrator\n"
             "[sso-session my-sso]\n"
             "sso_start_url = https://d-9999.awsapps.com/start\n"
             "sso_region = us-east-2\n"
             "[profile ssoclash]\n"
             "sso_session = my-sso\n"
             "sso_region = eu-north-1\n"
             "sso_account_id = 1\n"
             "sso_role_name = r\n"
             "[profile ssonosess]\n"
             "sso_session = nope\n"
             "sso_account_id = 1\n"
             "sso_role_name = r\n"
             "[profile ssohalf]\n"
             "sso_account_id = 1\n"
             "sso_role_name = r\n"
             "sso_region = eu-west-1\n",
             script, script, script, script, script, script, wit_path,
             wit_path);
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
             "hang) sleep 30; exit 0;;\n"
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

/* 2 s credentials: the advisory window opens after 1 s; a hung helper
 * fails after the deadline with a clear message. */
static void test_process_windows(void)
{
    struct aws_client_options o = {0};
    struct aws_credentials c;
    struct aws_error err;
    struct aws_client *cl;
    time_t t0;

    unlink(counter);
    o.config.profile = "procshort";
    cl = aws_client_new(&o, &err);
    CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "short");
    aws_credentials_release(&c);
    CHECK(runs() == 1, "short: %d runs", runs());
    sleep(2);
    CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "short 2");
    aws_credentials_release(&c);
    CHECK(runs() == 2, "short, next window: %d runs", runs());
    aws_client_free(cl);

    setenv("AMIFS_CREDENTIAL_PROCESS_TIMEOUT", "1", 1);
    o.config.profile = "prochang";
    cl = aws_client_new(&o, &err);
    unsetenv("AMIFS_CREDENTIAL_PROCESS_TIMEOUT");
    t0 = time(NULL);
    CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == -1 &&
              err.kind == AWS_ERR_CREDENTIALS &&
              strstr(err.message, "timed out after 1 s"),
          "hang: %s", err.message);
    CHECK(time(NULL) - t0 <= 3, "hang took %lld s", (long long)(time(NULL) - t0));
    aws_client_free(cl);
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

    /* expires within 5 minutes: still refreshed once per window, not on
     * every get (the window is clamped to half the lifetime) */
    unlink(counter);
    o.config.profile = "procsoon";
    cl = aws_client_new(&o, &err);
    for (int i = 0; i < 3; i++) {
        CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "soon");
        aws_credentials_release(&c);
    }
    CHECK(runs() == 1, "refresh ahead: %d runs", runs());
    aws_client_free(cl);
    test_process_windows();

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
    struct aws_credentials a = {"AK", "SK", "TK", 5, "explicit", NULL}, b;

    CHECK(aws_credentials_copy(&b, &a) == 0 && streq(b.access_key_id, "AK") &&
              streq(b.secret_access_key, "SK") &&
              streq(b.session_token, "TK") && b.expiration == 5 &&
              b.access_key_id != a.access_key_id, "copy");
    aws_credentials_release(&b);
    CHECK(b.access_key_id == NULL && b.secret_access_key == NULL, "release");
}


/* ---- web identity ------------------------------------------------------- */

static char web_body[1024];

/* Request i's body holds "WebIdentityToken=<tok>". */
static int body_has(struct fakehttp *f, size_t i, const char *needle)
{
    const struct fake_req *q = fakehttp_req(f, i);

    return q && q->body && strstr(q->body, needle) != NULL;
}

static void web_env(struct fakehttp *f)
{
    clear_env();
    setenv("AWS_ENDPOINT_URL", fakehttp_url(f), 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", wit_path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/envrole", 1);
}

static void test_web_identity_env(struct fakehttp *f)
{
    struct aws_client_options o = {0};
    struct aws_credentials c;
    struct aws_error err;
    struct aws_client *cl;
    char auth[256] = "";

    web_env(f);
    setenv("AWS_ROLE_SESSION_NAME", "envsess", 1);
    write_file(wit_path, "eyJ.first.tok\n", 0600);
    o.retry_base_ms = 1;
    cl = aws_client_new(&o, &err);
    CHECK(cl && aws_creds_get(aws_client_creds(cl), &c, &err) == 0,
          "web identity: %s", err.message);
    CHECK(streq(c.access_key_id, "ASIAWEB") && streq(c.source, "web-identity")
              && streq(c.session_token, "webtoken") && c.expiration > 0,
          "web creds %s %s", c.access_key_id, c.source);
    aws_credentials_release(&c);
    CHECK(fakehttp_count(f) == 1, "one STS call: %zu", fakehttp_count(f));
    CHECK(body_has(f, 0, "Action=AssumeRoleWithWebIdentity") &&
              body_has(f, 0, "WebIdentityToken=eyJ.first.tok") &&
              !body_has(f, 0, "tok%0A") &&
              body_has(f, 0, "RoleSessionName=envsess") &&
              body_has(f, 0, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3A"
                             "role%2Fenvrole"),
          "web identity body %s", fakehttp_req(f, 0)->body);
    CHECK(fakehttp_header(f, 0, "Authorization", auth, sizeof auth) != 0 &&
              fakehttp_header(f, 0, "X-Amz-Date", auth, sizeof auth) != 0,
          "AssumeRoleWithWebIdentity must be unsigned");
    /* kubelet rotated the token: the refresh sends the new one */
    write_file(wit_path, "eyJ.second.tok", 0600);
    aws_creds_invalidate(aws_client_creds(cl));
    CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "refresh: %s",
          err.message);
    aws_credentials_release(&c);
    CHECK(body_has(f, 1, "WebIdentityToken=eyJ.second.tok"),
          "token file re-read on refresh");
    aws_client_free(cl);
}

static void test_web_identity_profiles(struct fakehttp *f)
{
    struct aws_credentials c;
    struct aws_error err;
    char auth[256] = "";

    /* profile keys; the env role ARN beats the profile's */
    fakehttp_reset(f);
    web_env(f);
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    CHECK(get("webid", &c, &err) == 0, "webid profile: %s", err.message);
    aws_credentials_release(&c);
    CHECK(body_has(f, 0, "role%2Fenvrole") &&
              body_has(f, 0, "RoleSessionName=websess"),
          "env AWS_ROLE_ARN beats the profile: %s", fakehttp_req(f, 0)->body);
    unsetenv("AWS_ROLE_ARN");
    fakehttp_reset(f);
    CHECK(get("webid", &c, &err) == 0 && body_has(f, 0, "role%2Fweb&"),
          "profile role_arn: %s", err.message);
    aws_credentials_release(&c);
    CHECK(get("webnoarn", &c, &err) == -1 && err.kind == AWS_ERR_CONFIG &&
              strstr(err.message, "role_arn"), "no role: %s", err.message);

    /* a source_profile that is a web identity profile, then AssumeRole
     * signed with its credentials */
    fakehttp_reset(f);
    CHECK(get("webchain", &c, &err) == 0, "webchain: %s", err.message);
    aws_credentials_release(&c);
    CHECK(fakehttp_count(f) == 2 &&
              body_has(f, 0, "Action=AssumeRoleWithWebIdentity") &&
              body_has(f, 1, "Action=AssumeRole&"), "web then role");
    fakehttp_header(f, 1, "Authorization", auth, sizeof auth);
    CHECK(strstr(auth, "Credential=ASIAWEB/") != NULL, "chained: %s", auth);

    /* env keys beat web identity */
    web_env(f);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    CHECK(get(NULL, &c, &err) == 0 && streq(c.source, "env"),
          "env keys first: %s", c.source);
    aws_credentials_release(&c);
    /* an assume-role profile beats the web identity variables */
    fakehttp_reset(f);
    CHECK(get("role", &c, &err) == 0 && body_has(f, 0, "Action=AssumeRole&"),
          "role profile before web identity: %s", err.message);
    aws_credentials_release(&c);
    /* web identity beats the shared credentials file */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    CHECK(get(NULL, &c, &err) == 0 && streq(c.source, "web-identity"),
          "web identity before the credentials file: %s", c.source);
    aws_credentials_release(&c);
}

static void test_web_identity(void)
{
    struct fake_rule rules[] = {{"POST", "/", 200, NULL, sts_body, 0, false,
                                 0, 0},
                                {0}};
    struct fakehttp *f;
    struct aws_credentials c;
    struct aws_error err;
    char exp[32];

    iso(time(NULL) + 3600, exp, sizeof exp);
    /* one answer for both actions: the parser reads either envelope */
    snprintf(web_body, sizeof web_body,
             "<AssumeRoleWithWebIdentityResponse><"
             "AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>"
             "ASIAWEB</AccessKeyId><SecretAccessKey>websecret"
             "</SecretAccessKey><SessionToken>webtoken</SessionToken>"
             "<Expiration>%s</Expiration></Credentials>"
             "</AssumeRoleWithWebIdentityResult>"
             "</AssumeRoleWithWebIdentityResponse>", exp);
    rules[0].body = web_body;
    f = fakehttp_start(rules);
    CHECK(f != NULL, "fake STS");
    if (!f)
        return;
    test_web_identity_env(f);
    test_web_identity_profiles(f);

    /* missing token file: a clear error that names the file only */
    web_env(f);
    unlink(wit_path);
    CHECK(get(NULL, &c, &err) == -1 && err.kind == AWS_ERR_CREDENTIALS &&
              strstr(err.message, wit_path), "no token file: %s",
          err.message);
    /* STS refuses: the error does not quote the token */
    write_file(wit_path, "eyJ.secret.value", 0600);
    rules[0].status = 400;
    rules[0].body = "<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                    "<Message>bad token</Message></Error></ErrorResponse>";
    CHECK(get(NULL, &c, &err) == -1 &&
              streq(err.code, "InvalidIdentityToken") &&
              !strstr(err.message, "eyJ"), "refused: %s", err.message);
    fakehttp_stop(f);
}

/* ---- container ---------------------------------------------------------- */

static void test_container_urls(void)
{
    static const char *const ok[] = {
        "http://127.0.0.1:8080/creds", "http://127.9.8.7/x",
        "http://localhost/x", "http://LOCALHOST:1/", "http://[::1]:80/x",
        "http://169.254.170.2/v2/credentials/abc", "http://169.254.170.23/v1",
        "http://[fd00:ec2::23]/v1", "https://creds.example.com/x",
        "HTTPS://example.com", NULL};
    static const char *const bad[] = {
        "http://example.com/x", "http://10.0.0.1/", "http://169.254.169.254/",
        "http://127.0.0.1.evil.com/", "http://127.0.0.1@evil.com/",
        "http://evil.com\\@127.0.0.1/", "http://[::2]/", "ftp://127.0.0.1/",
        "127.0.0.1/x", "http:///x", "http://[::1/", "http://127.0.0.1 /",
        "https://", "http://[::ffff:127.0.0.1]/", "", NULL};

    for (const char *const *u = ok; *u; u++)
        CHECK(aws_container_url_allowed(*u), "should allow %s", *u);
    for (const char *const *u = bad; *u; u++)
        CHECK(!aws_container_url_allowed(*u), "should refuse %s", *u);
}

static char container_json[1024];

static void container_env(struct fakehttp *f, const char *path)
{
    char url[300];

    clear_env();
    write_file(creds_path, "", 0600);
    snprintf(url, sizeof url, "%s%s", fakehttp_url(f), path);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
}

static void test_container_token(struct fakehttp *f)
{
    struct aws_client_options o = {0};
    struct aws_credentials c;
    struct aws_error err;
    struct aws_client *cl;
    char h[256] = "";

    /* the file beats the variable, and is re-read on every refresh */
    container_env(f, "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "from-env", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", ctok_path, 1);
    write_file(ctok_path, "file-token-1\n", 0600);
    o.retry_base_ms = 1;
    cl = aws_client_new(&o, &err);
    CHECK(cl && aws_creds_get(aws_client_creds(cl), &c, &err) == 0,
          "container file token: %s", err.message);
    aws_credentials_release(&c);
    fakehttp_header(f, 0, "Authorization", h, sizeof h);
    CHECK(streq(h, "file-token-1"), "file token sent: %s", h);
    write_file(ctok_path, "file-token-2", 0600);
    aws_creds_invalidate(aws_client_creds(cl));
    CHECK(aws_creds_get(aws_client_creds(cl), &c, &err) == 0, "again");
    aws_credentials_release(&c);
    fakehttp_header(f, 1, "Authorization", h, sizeof h);
    CHECK(streq(h, "file-token-2"), "re-read token: %s", h);
    aws_client_free(cl);

    write_file(ctok_path, "bad\ntoken", 0600);
    CHECK(get(NULL, &c, &err) == -1 && !strstr(err.message, "bad"),
          "line break refused: %s", err.message);
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    fakehttp_reset(f);
    CHECK(get(NULL, &c, &err) == 0, "env token: %s", err.message);
    aws_credentials_release(&c);
    fakehttp_header(f, 0, "Authorization", h, sizeof h);
    CHECK(streq(h, "from-env"), "env token sent: %s", h);
}

static void test_container_order(struct fakehttp *f)
{
    struct aws_credentials c;
    struct aws_error err;
    char h[256] = "";

    /* config-file keys come before the container */
    container_env(f, "/creds");
    CHECK(get("cfgonly", &c, &err) == 0 && streq(c.source, "config-file"),
          "config keys first: %s", c.source);
    aws_credentials_release(&c);
    /* credential_source = EcsContainer signs AssumeRole with them */
    fakehttp_reset(f);
    setenv("AWS_ENDPOINT_URL", fakehttp_url(f), 1);
    CHECK(get("roleecs", &c, &err) == 0 && streq(c.source, "assume-role"),
          "EcsContainer: %s", err.message);
    aws_credentials_release(&c);
    fakehttp_header(f, 1, "Authorization", h, sizeof h);
    CHECK(streq(fakehttp_req(f, 0)->method, "GET") &&
              strstr(h, "Credential=ASIACONT/"), "role signed with %s", h);
    /* refused and disallowed endpoints */
    container_env(f, "/denied");
    CHECK(get(NULL, &c, &err) == -1 && err.kind == AWS_ERR_CREDENTIALS &&
              strstr(err.message, "container"), "denied: %s", err.message);
    clear_env();
    write_file(creds_path, "", 0600);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
    CHECK(get(NULL, &c, &err) == -1 && err.kind == AWS_ERR_CONFIG &&
              strstr(err.message, "FULL_URI"), "host refused: %s",
          err.message);
}

/* RELATIVE_URI goes to http://169.254.170.2<uri>: seen through the fake
 * server acting as curl's HTTP proxy (absolute-form request target). */
static void test_container_relative(void)
{
    struct fake_rule rules[] = {
        {"GET", NULL, 200, NULL, container_json, 0, false, 0, 0}, {0}};
    struct fakehttp *f = fakehttp_start(rules);
    struct aws_credentials c;
    struct aws_error err;
    char h[64] = "";

    CHECK(f != NULL, "fake proxy");
    if (!f)
        return;
    clear_env();
    write_file(creds_path, "", 0600);
    setenv("http_proxy", fakehttp_url(f), 1);
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/id-1",
           1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "rel-token", 1);
    CHECK(get(NULL, &c, &err) == 0 && streq(c.source, "container"),
          "relative: %s", err.message);
    aws_credentials_release(&c);
    CHECK(fakehttp_count(f) >= 1 &&
              streq(fakehttp_req(f, 0)->target,
                    "http://169.254.170.2/v2/credentials/id-1"),
          "relative URL %s",
          fakehttp_count(f) ? fakehttp_req(f, 0)->target : "");
    fakehttp_header(f, 0, "Authorization", h, sizeof h);
    CHECK(streq(h, "rel-token"), "relative token %s", h);
    unsetenv("http_proxy");
    fakehttp_stop(f);
}

static void test_container(void)
{
    struct fake_rule rules[] = {
        {"GET", "/creds", 200, NULL, container_json, 0, false, 0, 0},
        {"GET", "/denied", 403, NULL, "{\"message\":\"no\"}", 0, false, 0, 0},
        {"POST", "/", 200, NULL, sts_body, 0, false, 0, 0},
        {0}};
    struct fakehttp *f = fakehttp_start(rules);
    struct aws_credentials c;
    struct aws_error err;
    char exp[32], h[64] = "";
    time_t t = time(NULL) + 1800;

    CHECK(f != NULL, "fake container endpoint");
    if (!f)
        return;
    iso(t, exp, sizeof exp);
    snprintf(container_json, sizeof container_json,
             "{\"AccessKeyId\":\"ASIACONT\",\"SecretAccessKey\":\"contsecret\""
             ",\"Token\":\"conttoken\",\"Expiration\":\"%s\","
             "\"RoleArn\":\"arn:aws:iam::1:role/task\"}", exp);
    container_env(f, "/creds");
    CHECK(get(NULL, &c, &err) == 0, "container: %s", err.message);
    CHECK(streq(c.access_key_id, "ASIACONT") &&
              streq(c.session_token, "conttoken") &&
              streq(c.source, "container") && c.expiration == t,
          "container creds %s %s", c.access_key_id, c.source);
    aws_credentials_release(&c);
    fakehttp_header(f, 0, "Accept", h, sizeof h);
    CHECK(streq(h, "application/json") &&
              fakehttp_header(f, 0, "Authorization", h, sizeof h) != 0,
          "no token: no Authorization");
    fakehttp_reset(f);
    test_container_token(f);
    fakehttp_reset(f);
    test_container_order(f);
    fakehttp_stop(f);
    test_container_relative();
    write_files();
}

/* ---- SSO ---------------------------------------------------------------- */

static void write_sso_cache(const char *key, time_t expires)
{
    char path[512], text[512], exp[32];

    iso(expires, exp, sizeof exp);
    mkdir(sso_dir, 0700); /* parents made by the caller */
    CHECK(aws_sso_cache_file(sso_dir, key, path, sizeof path) == 0, "path");
    snprintf(text, sizeof text,
             "{\"startUrl\":\"x\",\"region\":\"eu-west-1\",\"accessToken\":"
             "\"sso-bearer-%s\",\"expiresAt\":\"%s\"}",
             strstr(key, "9999") || !strchr(key, ':') ? "sess" : "legacy",
             exp);
    write_file(path, text, 0600);
}

static void rm_sso_cache(void)
{
    char path[512], d[300];

    aws_sso_cache_file(sso_dir, "https://d-1234.awsapps.com/start", path,
                       sizeof path);
    unlink(path);
    aws_sso_cache_file(sso_dir, "my-sso", path, sizeof path);
    unlink(path);
    rmdir(sso_dir);
    snprintf(d, sizeof d, "%s/.aws/sso", dir);
    rmdir(d);
    snprintf(d, sizeof d, "%s/.aws", dir);
    rmdir(d);
}

static void test_sso_parsers(void)
{
    char path[300], *tok = NULL;
    time_t exp = 0;
    struct aws_credentials c;
    struct aws_error err;
    static const char role[] =
        "{\"roleCredentials\":{\"accessKeyId\":\"ASIASSO\",\"secretAccessKey\""
        ":\"ssosecret\",\"sessionToken\":\"ssotoken\",\"expiration\":"
        "1767225600000}}";
    static const char utc[] =
        "{\"accessToken\":\"t1\",\"expiresAt\":\"2030-01-01T00:00:00UTC\"}";
    static const char old[] =
        "{\"accessToken\":\"t1\",\"expiresAt\":\"2020-01-01T00:00:00Z\"}";

    CHECK(aws_sso_cache_file("/c", "https://d-1234.awsapps.com/start", path,
                             sizeof path) == 0 &&
              streq(path, "/c/4c73126ffe99e8f14e2b25775d5fad6231197402.json"),
          "legacy cache key %s", path);
    aws_sso_cache_file("/c", "my-sso", path, sizeof path);
    CHECK(streq(path, "/c/0ad374308c5a4e22f723adf10145eafad7c4031c.json"),
          "session cache key %s", path);
    CHECK(aws_sso_cache_file("/c", "k", path, 10) == -1, "too long");
    CHECK(aws_sso_parse_token(utc, strlen(utc), 1000, &tok, &exp, &err) ==
                  0 && streq(tok, "t1") && exp == 1893456000,
          "UTC suffix: %s", err.message);
    free(tok);
    CHECK(aws_sso_parse_token(old, strlen(old), time(NULL), &tok, &exp,
                              &err) == -1 && !tok &&
              strstr(err.message, "expired") && !strstr(err.message, "t1"),
          "expired: %s", err.message);
    CHECK(aws_sso_parse_token("{\"expiresAt\":\"2030-01-01T00:00:00Z\"}", 36,
                              0, &tok, &exp, &err) == -1, "no token");
    CHECK(aws_sso_parse_token("[1", 2, 0, &tok, &exp, &err) == -1, "junk");
    CHECK(aws_sso_parse_role_credentials(role, sizeof role - 1, &c, &err) ==
                  0 && streq(c.access_key_id, "ASIASSO") &&
              streq(c.session_token, "ssotoken") &&
              c.expiration == 1767225600 && streq(c.source, "sso"),
          "role creds: %s", err.message);
    aws_credentials_release(&c);
    CHECK(aws_sso_parse_role_credentials("{\"roleCredentials\":{}}", 22, &c,
                                         &err) == -1, "empty role creds");
    CHECK(aws_sso_parse_role_credentials("{}", 2, &c, &err) == -1, "no role");
}

static void sso_env(struct fakehttp *f)
{
    char d[300];

    clear_env();
    setenv("AWS_ENDPOINT_URL_SSO", fakehttp_url(f), 1);
    snprintf(d, sizeof d, "%s/.aws", dir);
    mkdir(d, 0700);
    snprintf(d, sizeof d, "%s/.aws/sso", dir);
    mkdir(d, 0700);
}

static void test_sso_errors(struct fakehttp *f, struct fake_rule *portal)
{
    struct aws_credentials c;
    struct aws_error err;

    /* expired token: tell the user what to run; no portal call */
    fakehttp_reset(f);
    write_sso_cache("https://d-1234.awsapps.com/start", time(NULL) - 60);
    CHECK(get("ssolegacy", &c, &err) == -1 &&
              err.kind == AWS_ERR_CREDENTIALS &&
              strstr(err.message, "aws sso login --profile ssolegacy") &&
              strstr(err.message, "expired") &&
              !strstr(err.message, "sso-bearer"), "expired: %s", err.message);
    CHECK(fakehttp_count(f) == 0, "expired token sent to the portal");
    rm_sso_cache();
    sso_env(f);
    CHECK(get("ssosess", &c, &err) == -1 &&
              strstr(err.message, "aws sso login --profile ssosess"),
          "no cache: %s", err.message);
    /* the portal refuses the token */
    write_sso_cache("my-sso", time(NULL) + 3600);
    portal->status = 401;
    CHECK(get("ssosess", &c, &err) == -1 &&
              strstr(err.message, "aws sso login --profile ssosess"),
          "refused: %s", err.message);
    portal->status = 200;
    CHECK(get("ssoclash", &c, &err) == -1 && err.kind == AWS_ERR_CONFIG &&
              strstr(err.message, "sso_region"), "clash: %s", err.message);
    CHECK(get("ssonosess", &c, &err) == -1 && err.kind == AWS_ERR_CONFIG &&
              strstr(err.message, "does not exist"), "no session: %s",
          err.message);
    CHECK(get("ssohalf", &c, &err) == -1 && err.kind == AWS_ERR_CONFIG &&
              strstr(err.message, "sso_start_url"), "half: %s", err.message);
}

static void test_sso(void)
{
    static char answer[512];
    struct fake_rule rules[] = {
        {"GET", "/federation/credentials", 200, NULL, answer, 0, false, 0, 0},
        {0}};
    struct fakehttp *f = fakehttp_start(rules);
    struct aws_credentials c;
    struct aws_error err;
    char h[128] = "";
    long long ms = ((long long)time(NULL) + 3600) * 1000;

    CHECK(f != NULL, "fake portal");
    if (!f)
        return;
    snprintf(answer, sizeof answer,
             "{\"roleCredentials\":{\"accessKeyId\":\"ASIASSO\","
             "\"secretAccessKey\":\"ssosecret\",\"sessionToken\":\"ssotok\","
             "\"expiration\":%lld}}", ms);
    sso_env(f);
    write_sso_cache("https://d-1234.awsapps.com/start", time(NULL) + 3600);
    write_sso_cache("my-sso", time(NULL) + 3600);
    CHECK(get("ssolegacy", &c, &err) == 0, "legacy: %s", err.message);
    CHECK(streq(c.access_key_id, "ASIASSO") && streq(c.source, "sso") &&
              c.expiration == ms / 1000, "sso creds %s", c.access_key_id);
    aws_credentials_release(&c);
    fakehttp_header(f, 0, "x-amz-sso_bearer_token", h, sizeof h);
    CHECK(streq(h, "sso-bearer-legacy"), "bearer %s", h);
    CHECK(strstr(fakehttp_req(f, 0)->target,
                 "role_name=Admin%20Role&account_id=111122223333") != NULL,
          "query %s", fakehttp_req(f, 0)->target);
    fakehttp_reset(f);
    CHECK(get("ssosess", &c, &err) == 0, "sso-session: %s", err.message);
    aws_credentials_release(&c);
    fakehttp_header(f, 0, "x-amz-sso_bearer_token", h, sizeof h);
    CHECK(streq(h, "sso-bearer-sess") &&
              strstr(fakehttp_req(f, 0)->target, "account_id=444455556666"),
          "session bearer %s", h);
    /* SSO comes before the shared credentials file */
    write_file(creds_path, "[ssosess]\naws_access_key_id = AKIDF\n"
                           "aws_secret_access_key = s\n", 0600);
    CHECK(get("ssosess", &c, &err) == 0 && streq(c.source, "sso"),
          "sso before the credentials file: %s", c.source);
    aws_credentials_release(&c);
    write_files();
    test_sso_errors(f, &rules[0]);
    fakehttp_stop(f);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(cfg_path, sizeof cfg_path, "%s/config", dir);
    snprintf(creds_path, sizeof creds_path, "%s/credentials", dir);
    snprintf(script, sizeof script, "%s/creds.sh", dir);
    snprintf(counter, sizeof counter, "%s/runs", dir);
    snprintf(wit_path, sizeof wit_path, "%s/web-token", dir);
    snprintf(ctok_path, sizeof ctok_path, "%s/container-token", dir);
    snprintf(sso_dir, sizeof sso_dir, "%s/.aws/sso/cache", dir);
    write_script();
    write_files();
    test_copy();
    test_static_sources();
    test_process();
    test_assume_role();
    test_imds();
    test_threads();
    test_web_identity();
    test_container_urls();
    test_container();
    test_sso_parsers();
    test_sso();
    unlink(cfg_path), unlink(creds_path), unlink(script), unlink(counter);
    unlink(wit_path), unlink(ctok_path);
    rm_sso_cache();
    rmdir(dir);
    printf("creds: %d failures\n", failures);
    return failures ? 1 : 0;
}
