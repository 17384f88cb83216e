/*
 * fuzz_creds.c — libFuzzer target: what credential sources hand to the
 * credentials provider: credential_process / IMDS / container JSON, the SSO
 * token cache and portal answer, the container FULL_URI check, and the
 * ISO-8601 parser behind every Expiration field.
 *
 *   byte 0 % 7 == 0  credential_process through aws_creds_get: the rest is
 *                    what the process prints (`cat` of a scratch file);
 *                 1  IMDS through aws_creds_get: a loopback fake IMDS
 *                    (tests/unit/fakehttp.c) answers the role listing with
 *                    the input up to its first '\n' and the role's
 *                    credentials with the rest;
 *                 2  aws_parse_iso8601() on the rest;
 *                 3  aws_creds_from_json() (container endpoint answer);
 *                 4  aws_sso_parse_token() (~/.aws/sso/cache/<sha1>.json);
 *                 5  aws_sso_parse_role_credentials() (GetRoleCredentials);
 *                 6  aws_container_url_allowed() on the rest as a URL, and
 *                    aws_sso_cache_file() with it as the key.
 * Selectors 0 and 1 fork a shell / make three HTTP requests per input
 * (hundreds of execs/s); 2-6 call the parsers directly.
 * Contract checks (abort on failure): a parser that fails leaves no
 * credentials; one that succeeds returns a non-empty key id and secret; an
 * allowed container URL starts with http:// or https://.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/client.h"
#include "aws/config_priv.h"
#include "aws/creds.h"
#include "aws/creds_priv.h"
#include "aws/iso8601.h"
#include "fakehttp.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char json_path[600], proc_cfg[600], imds_cfg[600], none_path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const vars[] = {
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS"};
    static const char imds_text[] = "[default]\nregion = us-east-1\n";
    char text[1400];

    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    fuzz_path(json_path, sizeof json_path, "process.json");
    fuzz_path(proc_cfg, sizeof proc_cfg, "config-process");
    fuzz_path(imds_cfg, sizeof imds_cfg, "config-imds");
    fuzz_path(none_path, sizeof none_path, "no-such-file");
    snprintf(text, sizeof text, "[default]\ncredential_process = cat '%s'\n",
             json_path);
    fuzz_write(proc_cfg, text, strlen(text));
    /* no keys anywhere: the chain ends at IMDS */
    fuzz_write(imds_cfg, imds_text, sizeof imds_text - 1);
    return 0;
}

static void run_process(const uint8_t *p, size_t n)
{
    struct aws_config cfg = {0};
    struct aws_creds_provider *prov;
    struct aws_credentials c;
    struct aws_error err;

    fuzz_write(json_path, p, n);
    cfg.profile = "default";
    cfg.config_file = proc_cfg;
    cfg.credentials_file = none_path;
    cfg.imds_disabled = true;
    prov = aws_creds_provider_new(&cfg, &err);
    if (!prov)
        abort();
    if (aws_creds_get(prov, &c, &err) == 0)
        aws_credentials_release(&c);
    aws_creds_provider_free(prov);
}

/* The fake IMDS and a client using it, made on the first IMDS input and
 * kept for the whole run (libFuzzer gives no place to tear down). */
struct imds_world {
    struct fake_rule rules[4];
    struct fakehttp *server;
    struct aws_client *client;
};

static struct imds_world *imds_world(void)
{
    static struct imds_world w = {
        .rules = {{"PUT", "/latest/api/token", 200, NULL, "TOKEN", 0, false,
                   0, 0},
                  {"GET", "/latest/meta-data/iam/security-credentials/", 200,
                   NULL, "", 0, false, 0, 0},
                  {"GET", NULL, 200, NULL, "", 0, false, 0, 0},
                  {0}}};
    struct aws_client_options o = {0};
    struct aws_error err;

    if (w.client)
        return &w;
    w.server = fakehttp_start(w.rules);
    if (!w.server)
        abort();
    setenv("AWS_CONFIG_FILE", imds_cfg, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", none_path, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "false", 1);
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", fakehttp_url(w.server), 1);
    w.client = aws_client_new(&o, &err);
    if (!w.client) {
        fprintf(stderr, "fuzz_creds: client: %s\n", err.message);
        abort();
    }
    return &w;
}

/* Copy n bytes into a rule body buffer. The buffers live for the whole run
 * and always end in NUL: the server thread may still be answering a
 * request the client gave up on, and must never read freed memory. */
static void set_body(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    if (n > cap - 1)
        n = cap - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

static void run_imds(const uint8_t *p, size_t n)
{
    static char role[4096], body[1 << 16];
    struct imds_world *w = imds_world();
    const uint8_t *nl = memchr(p, '\n', n);
    size_t cut = nl ? (size_t)(nl - p) + 1 : n;
    struct aws_credentials c;
    struct aws_error err;

    set_body(role, sizeof role, p, cut);
    set_body(body, sizeof body, p + cut, n - cut);
    w->rules[1].body = role;
    w->rules[2].body = body;
    aws_creds_invalidate(aws_client_creds(w->client));
    if (aws_creds_get(aws_client_creds(w->client), &c, &err) == 0)
        aws_credentials_release(&c);
    fakehttp_reset(w->server); /* drop the recorded requests */
}

static void run_iso8601(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    time_t t;

    if (!s)
        return;
    memcpy(s, p, n);
    s[n] = '\0';
    (void)aws_parse_iso8601(s, &t);
    free(s);
}

/* The parsers' promise: credentials on success, nothing on failure. */
static void check_creds(int rc, struct aws_credentials *c)
{
    if (rc == 0) {
        if (!c->access_key_id || !*c->access_key_id ||
            !c->secret_access_key || !*c->secret_access_key)
            abort();
        aws_credentials_release(c);
    } else if (c->access_key_id || c->secret_access_key ||
               c->session_token) {
        abort();
    }
}

static void run_container_json(const uint8_t *p, size_t n)
{
    struct aws_credentials c;
    struct aws_error err;

    check_creds(aws_creds_from_json((const char *)p, n, "Token", "container",
                                    &c, &err),
                &c);
}

static void run_sso_token(const uint8_t *p, size_t n)
{
    struct aws_error err;
    char *tok = NULL;
    time_t exp;
    int rc = aws_sso_parse_token((const char *)p, n, 1700000000, &tok, &exp,
                                 &err);

    if ((rc == 0) != (tok != NULL) || (rc == 0 && exp <= 1700000000))
        abort();
    free(tok);
}

static void run_sso_role(const uint8_t *p, size_t n)
{
    struct aws_credentials c;
    struct aws_error err;

    check_creds(aws_sso_parse_role_credentials((const char *)p, n, &c, &err),
                &c);
}

static void run_url(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1), path[600];

    if (!s)
        return;
    memcpy(s, p, n);
    s[n] = '\0';
    if (aws_container_url_allowed(s) && strncasecmp(s, "http://", 7) != 0 &&
        strncasecmp(s, "https://", 8) != 0)
        abort();
    (void)aws_sso_cache_file("/cache", s, path, sizeof path);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void (*const run[])(const uint8_t *, size_t) = {
        run_process, run_imds, run_iso8601, run_container_json,
        run_sso_token, run_sso_role, run_url};

    if (size < 1)
        return 0;
    run[data[0] % (sizeof run / sizeof run[0])](data + 1, size - 1);
    return 0;
}
