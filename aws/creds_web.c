/*
 * creds_web.c — credentials handed out over HTTP to workloads: STS
 * AssumeRoleWithWebIdentity (EKS IRSA, CI OIDC) and the container
 * credentials endpoint (ECS/Fargate, EKS Pod Identity). Contract in
 * creds_priv.h; the names of the variables and keys follow botocore.
 *
 * Both tokens (the web identity JWT and the container authorization token)
 * are read from their files on every call, not cached: kubelet and the EKS
 * Pod Identity agent rotate those files under a running process, and the
 * provider only calls us when the credentials it holds are about to expire.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/buf.h"
#include "aws/config_priv.h"
#include "aws/creds_priv.h"
#include "aws/sts.h"

#define TOKEN_MAX (64 * 1024)
#define CONTAINER_HOST "http://169.254.170.2"

static char *env_dup(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? strdup(v) : NULL;
}

/* botocore: each web identity setting comes from its variable when set,
 * else from the profile. */
static char *web_setting(const struct aws_config *cfg, const char *prof,
                         bool use_env, const char *envname, const char *key)
{
    char *v = use_env ? env_dup(envname) : NULL;

    return v ? v : aws_profile_config(cfg, prof, key);
}

bool aws_profile_has_web_identity(const struct aws_config *cfg,
                                  const char *prof)
{
    char *v = aws_profile_config(cfg, prof, "web_identity_token_file");
    bool has = v != NULL;

    free(v);
    return has;
}

/* The token file: missing or unreadable is a hard error (the user asked
 * for this source), and the message names the file, never its content. */
static int read_token(const char *path, const char *what, char **token,
                      struct aws_error *err)
{
    if (aws_read_small_file(path, TOKEN_MAX, token) == 0 && **token)
        return 0;
    aws_wipe_free(*token);
    *token = NULL;
    return aws_error_set(err, AWS_ERR_CREDENTIALS, "%s %s: %s", what, path,
                         errno ? strerror(errno) : "empty file");
}

/* The STS endpoint AssumeRole would use: the configured one, else the
 * regional endpoint of the sender's (the client's) region. */
static int sts_url(const struct aws_config *cfg, const struct aws_sender *s,
                   struct buf *url)
{
    const char *ep = cfg->endpoint[AWS_SVC_STS];

    if (ep)
        return buf_appends(url, ep);
    return buf_printf(url, "https://sts.%s.amazonaws.com/",
                      s->region(s->ctx));
}

static int web_identity_call(const struct aws_config *cfg,
                             const struct aws_sender *s, const char *role_arn,
                             const char *session,
                             const char *token_file,
                             struct aws_credentials *c, struct aws_error *err)
{
    struct buf url;
    char *token = NULL;
    int rc;

    errno = 0;
    if (read_token(token_file, "web identity token file", &token, err))
        return -1;
    buf_init(&url, 8192);
    if (sts_url(cfg, s, &url)) {
        rc = aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    } else {
        rc = sts_assume_role_with_web_identity(s, buf_cstr(&url),
                                               role_arn, session, token, c,
                                               err);
    }
    aws_wipe_free(token);
    buf_release(&url);
    return rc;
}

int aws_creds_from_web_identity(const struct aws_config *cfg,
                                const struct aws_sender *s,
                                const char *prof, bool use_env,
                                struct aws_credentials *c,
                                struct aws_error *err)
{
    char *file = web_setting(cfg, prof, use_env,
                             "AWS_WEB_IDENTITY_TOKEN_FILE",
                             "web_identity_token_file");
    char *arn = NULL, *name = NULL;
    char session[64];
    int rc = -1;

    if (!file)
        return 0;
    arn = web_setting(cfg, prof, use_env, "AWS_ROLE_ARN", "role_arn");
    name = web_setting(cfg, prof, use_env, "AWS_ROLE_SESSION_NAME",
                       "role_session_name");
    snprintf(session, sizeof session, "amifs-session-%lld",
             (long long)time(NULL));
    if (!arn)
        aws_error_set(err, AWS_ERR_CONFIG,
                      "web identity token file configured (profile %s or "
                      "AWS_WEB_IDENTITY_TOKEN_FILE) but no role ARN: set "
                      "role_arn or AWS_ROLE_ARN", prof);
    else if (!s->send)
        aws_error_set(err, AWS_ERR_CREDENTIALS,
                      "no client for AssumeRoleWithWebIdentity");
    else
        rc = web_identity_call(cfg, s, arn, name ? name : session, file, c,
                               err);
    free(file);
    free(arn);
    free(name);
    return rc < 0 ? -1 : 1;
}

/* ---- container endpoint ------------------------------------------------- */

/* Host part of an absolute http(s) URL into out (brackets of an IPv6
 * literal removed); -1 when there is no usable authority. The caller has
 * already refused '@', '\\' and blanks, so the authority is what libcurl
 * will connect to. */
static int url_host(const char *url, char *out, size_t n)
{
    const char *h = strstr(url, "://"), *e;
    size_t len;

    if (!h)
        return -1;
    h += 3;
    if (*h == '[') {
        e = strchr(++h, ']');
        if (!e || (e[1] && !strchr(":/?#", e[1])))
            return -1;
    } else {
        e = h + strcspn(h, ":/?#");
    }
    len = (size_t)(e - h);
    if (len == 0 || len >= n)
        return -1;
    memcpy(out, h, len);
    out[len] = '\0';
    return 0;
}

static bool loopback_ip(const char *host)
{
    unsigned char a[16];

    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};

        return memcmp(a, one, sizeof one) == 0;
    }
    return false;
}

bool aws_container_url_allowed(const char *url)
{
    static const char *const hosts[] = {"169.254.170.2", "169.254.170.23",
                                        "fd00:ec2::23", "localhost"};
    char host[256];

    for (const char *s = url; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '\\' || *s == '@')
            return false;
    if (strncasecmp(url, "https://", 8) == 0)
        return url_host(url, host, sizeof host) == 0;
    if (strncasecmp(url, "http://", 7) != 0 ||
        url_host(url, host, sizeof host))
        return false;
    if (loopback_ip(host))
        return true;
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        if (strcasecmp(host, hosts[i]) == 0)
            return true;
    return false;
}

/* The Authorization value: the file (re-read each time) beats the
 * variable. NULL with no error when neither is set. */
static int container_token(char **token, struct aws_error *err)
{
    const char *file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");

    *token = NULL;
    errno = 0;
    if (file && *file) {
        if (read_token(file, "container authorization token file", token,
                       err))
            return -1;
    } else {
        *token = env_dup("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    if (*token && strpbrk(*token, "\r\n")) {
        aws_wipe_free(*token);
        *token = NULL;
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "container authorization token is not a legal "
                             "header value (holds a line break)");
    }
    return 0;
}

/* The endpoint's URL (malloc'd) or NULL with err when FULL_URI is not one
 * botocore would call. */
static char *container_url(const char *rel, const char *full,
                           struct aws_error *err)
{
    struct buf b;

    if (rel) {
        buf_init(&b, 1 << 16);
        if (buf_printf(&b, "%s%s%s", CONTAINER_HOST, *rel == '/' ? "" : "/",
                       rel)) {
            buf_release(&b);
            aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
            return NULL;
        }
        return buf_detach(&b);
    }
    if (!aws_container_url_allowed(full)) {
        aws_error_set(err, AWS_ERR_CONFIG,
                      "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or "
                      "http to a loopback address, localhost, 169.254.170.2, "
                      "169.254.170.23 or [fd00:ec2::23]");
        return NULL;
    }
    return strdup(full);
}

/* Say which source failed; a refusal is a credentials problem. */
static void container_failed(long status, struct aws_error *err)
{
    char why[sizeof err->message];

    if (err->kind == AWS_ERR_SERVICE) {
        aws_error_set(err, AWS_ERR_CREDENTIALS,
                      "container credentials endpoint refused the request "
                      "(HTTP %ld)", status);
        return;
    }
    snprintf(why, sizeof why, "%s", err->message);
    aws_error_set(err, err->kind, "container credentials endpoint: %s", why);
}

static int container_get(const struct aws_sender *s, const char *url,
                         const char *token, struct aws_credentials *c,
                         struct aws_error *err)
{
    struct sigv4_header h[2] = {{"Accept", "application/json"},
                                {"Authorization", token}};
    struct aws_request r = {0};
    struct aws_response resp;
    int rc;

    r.method = "GET";
    r.url = url;
    r.headers = h;
    r.nheaders = token ? 2 : 1;
    r.idempotent = true;
    r.max_attempts = 3; /* botocore: 3 tries, 2 s each */
    r.timeout_ms = 2000;
    aws_response_init(&resp);
    rc = s->send(s->ctx, &r, &resp, err);
    if (rc == 0)
        rc = aws_creds_from_json(resp.body.data ? resp.body.data : "",
                                 resp.body.len, "Token", "container", c, err);
    else
        container_failed(resp.status, err);
    aws_response_release(&resp);
    return rc;
}

int aws_creds_from_container(const struct aws_sender *s,
                             struct aws_credentials *c, struct aws_error *err)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    char *url, *token = NULL;
    int rc;

    rel = rel && *rel ? rel : NULL;
    if (!rel && !(full && *full))
        return 0;
    if (!s->send)
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "no client for the container endpoint");
    if (!(url = container_url(rel, full, err)))
        return -1;
    rc = container_token(&token, err);
    if (rc == 0)
        rc = container_get(s, url, token, c, err);
    aws_wipe_free(token);
    free(url);
    return rc < 0 ? -1 : 1;
}
