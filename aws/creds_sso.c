/*
 * creds_sso.c — IAM Identity Center (SSO) profiles (contract in
 * creds_priv.h), as botocore's SSOProvider reads them:
 *
 *   legacy    [profile X] sso_start_url, sso_region, sso_account_id,
 *             sso_role_name; token cache key = the start URL
 *   session   [profile X] sso_session = S, sso_account_id, sso_role_name;
 *             [sso-session S] sso_start_url, sso_region; cache key = S
 *
 * amifs does not run the device authorization flow nor refresh the token
 * with its refresh token: `aws sso login` does that, and the message we
 * fail with says so. The cached token and the portal's answer are secrets;
 * both buffers are wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "aws/buf.h"
#include "aws/config_priv.h"
#include "aws/creds_priv.h"
#include "aws/sigv4.h"
#include "aws/iso8601.h"

#define CACHE_MAX (1 << 20)

struct sso_cfg {
    char *start_url;
    char *region;
    char *account;
    char *role;
    char *session; /* NULL: legacy form */
};

static void sso_cfg_release(struct sso_cfg *s)
{
    free(s->start_url);
    free(s->region);
    free(s->account);
    free(s->role);
    free(s->session);
    memset(s, 0, sizeof *s);
}

/* ---- pure parsers ------------------------------------------------------- */

int aws_sso_cache_file(const char *dir, const char *key, char *out, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    if (!EVP_Digest(key, strlen(key), md, &mdlen, EVP_sha1(), NULL))
        return -1;
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * mdlen] = '\0';
    int w = snprintf(out, n, "%s/%s.json", dir, hex);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* expiresAt as the CLI writes it: "2024-05-01T18:00:00Z", older versions
 * "2024-05-01T18:00:00UTC". */
static int parse_expires(const char *s, time_t *out)
{
    char tmp[64];
    size_t n = strlen(s);

    if (n > 3 && n < sizeof tmp && strcmp(s + n - 3, "UTC") == 0) {
        memcpy(tmp, s, n - 3);
        tmp[n - 3] = 'Z';
        tmp[n - 2] = '\0';
        return aws_parse_iso8601(tmp, out);
    }
    return aws_parse_iso8601(s, out);
}

int aws_sso_parse_token(const char *json, size_t len, time_t now,
                        char **token, time_t *expires, struct aws_error *err)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "accessToken");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "expiresAt");
    int rc = -1;

    *token = NULL;
    *expires = 0;
    if (!cJSON_IsString(t) || !*t->valuestring || !cJSON_IsString(e))
        aws_error_set(err, AWS_ERR_CREDENTIALS,
                      "SSO token cache: no accessToken/expiresAt");
    else if (parse_expires(e->valuestring, expires))
        aws_error_set(err, AWS_ERR_CREDENTIALS,
                      "SSO token cache: bad expiresAt");
    else if (*expires <= now)
        aws_error_set(err, AWS_ERR_CREDENTIALS, "SSO token expired");
    else if (!(*token = strdup(t->valuestring)))
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    else
        rc = 0;
    aws_json_wipe_delete(j);
    return rc;
}

static char *obj_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

int aws_sso_parse_role_credentials(const char *json, size_t len,
                                   struct aws_credentials *out,
                                   struct aws_error *err)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *rc_ = cJSON_GetObjectItemCaseSensitive(j, "roleCredentials");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(rc_, "expiration");
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(rc_)) {
        aws_error_set(err, AWS_ERR_CREDENTIALS,
                      "SSO portal: answer has no roleCredentials");
    } else if (aws_creds_set(out, obj_str(rc_, "accessKeyId"),
                             obj_str(rc_, "secretAccessKey"),
                             obj_str(rc_, "sessionToken"), "sso", err) == 0) {
        /* milliseconds since the epoch; out of range means "unknown" */
        if (cJSON_IsNumber(exp) && exp->valuedouble > 0 &&
            exp->valuedouble < 253402300800000.0)
            out->expiration = (time_t)(exp->valuedouble / 1000.0);
        rc = 0;
    }
    aws_json_wipe_delete(j);
    return rc;
}

/* ---- configuration ------------------------------------------------------ */

/* A key of the profile, overridden by its sso-session section; botocore
 * refuses a value that differs between the two. */
static int session_key(const struct aws_config *cfg, const char *prof,
                       const char *session, const char *key, char **out,
                       struct aws_error *err)
{
    char section[300];
    char *pv = aws_profile_config(cfg, prof, key), *sv;

    snprintf(section, sizeof section, "sso-session %s", session);
    sv = aws_config_get(cfg->config_file, section, key);
    if (pv && sv && strcmp(pv, sv) != 0) {
        free(pv);
        free(sv);
        return aws_error_set(err, AWS_ERR_CONFIG,
                             "profile %s: %s differs between the profile "
                             "and sso-session %s", prof, key, session);
    }
    *out = sv ? sv : pv;
    if (sv)
        free(pv);
    return 0;
}

static int sso_missing(const char *prof, const struct sso_cfg *s,
                       struct aws_error *err)
{
    return aws_error_set(
        err, AWS_ERR_CONFIG,
        "profile %s is configured to use SSO but is missing required "
        "configuration:%s%s%s%s", prof, s->start_url ? "" : " sso_start_url",
        s->region ? "" : " sso_region", s->account ? "" : " sso_account_id",
        s->role ? "" : " sso_role_name");
}

/* 0: not an SSO profile; 1: *s filled; -1: misconfigured. */
static int sso_config(const struct aws_config *cfg, const char *prof,
                      struct sso_cfg *s, struct aws_error *err)
{
    char section[300];

    memset(s, 0, sizeof *s);
    s->account = aws_profile_config(cfg, prof, "sso_account_id");
    s->role = aws_profile_config(cfg, prof, "sso_role_name");
    if (!s->account && !s->role)
        return 0;
    s->session = aws_profile_config(cfg, prof, "sso_session");
    if (!s->session) {
        s->start_url = aws_profile_config(cfg, prof, "sso_start_url");
        s->region = aws_profile_config(cfg, prof, "sso_region");
    } else {
        snprintf(section, sizeof section, "sso-session %s", s->session);
        if (!aws_config_has_section(cfg->config_file, section))
            return aws_error_set(err, AWS_ERR_CONFIG,
                                 "The specified sso-session does not exist: "
                                 "\"%s\"", s->session);
        if (session_key(cfg, prof, s->session, "sso_start_url",
                        &s->start_url, err) ||
            session_key(cfg, prof, s->session, "sso_region", &s->region, err))
            return -1;
    }
    if (!s->start_url || !s->region || !s->account || !s->role)
        return sso_missing(prof, s, err);
    return 1;
}

/* ---- token and portal --------------------------------------------------- */

static int login_hint(const char *prof, const char *why,
                      struct aws_error *err)
{
    return aws_error_set(err, AWS_ERR_CREDENTIALS,
                         "the SSO session of profile %s %s: run `aws sso "
                         "login --profile %s` and mount again",
                         prof, why, prof);
}

static int cached_token(const char *prof, const struct sso_cfg *s,
                        char **token, struct aws_error *err)
{
    const char *home = getenv("HOME");
    char dir[4096], path[4200];
    char *text = NULL;
    time_t exp;
    struct aws_error perr;
    int rc;

    snprintf(dir, sizeof dir, "%s/.aws/sso/cache", home ? home : ".");
    if (aws_sso_cache_file(dir, s->session ? s->session : s->start_url, path,
                           sizeof path))
        return login_hint(prof, "has no usable token cache path", err);
    if (aws_read_small_file(path, CACHE_MAX, &text))
        return login_hint(prof, "has no cached token", err);
    rc = aws_sso_parse_token(text, strlen(text), time(NULL), token, &exp,
                             &perr);
    aws_wipe_free(text);
    if (rc && perr.kind == AWS_ERR_NOMEM)
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    return rc ? login_hint(prof, strstr(perr.message, "expired")
                                     ? "has expired"
                                     : "has an unreadable cached token",
                           err)
              : 0;
}

/* https://portal.sso.<region>.amazonaws.com/federation/credentials?... */
static int portal_url(const struct aws_config *cfg, const struct sso_cfg *s,
                      struct buf *url)
{
    const char *ep = cfg->sso_endpoint;
    size_t n;

    if (ep) {
        n = strlen(ep);
        while (n > 0 && ep[n - 1] == '/')
            n--;
        if (buf_append(url, ep, n))
            return -1;
    } else if (buf_printf(url, "https://portal.sso.%s.amazonaws.com",
                          s->region)) {
        return -1;
    }
    return buf_appends(url, "/federation/credentials?role_name=") ||
           sigv4_uri_encode(url, s->role, strlen(s->role), false) ||
           buf_appends(url, "&account_id=") ||
           sigv4_uri_encode(url, s->account, strlen(s->account), false)
               ? -1
               : 0;
}

static int get_role_credentials(const struct aws_config *cfg,
                                const struct aws_sender *snd,
                                const char *prof, const struct sso_cfg *s,
                                const char *token, struct aws_credentials *c,
                                struct aws_error *err)
{
    struct sigv4_header h[1] = {{"x-amz-sso_bearer_token", token}};
    struct aws_request r = {0};
    struct aws_response resp;
    struct buf url;
    int rc;

    buf_init(&url, 1 << 16);
    if (portal_url(cfg, s, &url)) {
        buf_release(&url);
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    }
    r.method = "GET";
    r.url = buf_cstr(&url);
    r.headers = h;
    r.nheaders = 1;
    r.idempotent = true;
    r.timeout_ms = 30000;
    aws_response_init(&resp);
    rc = snd->send(snd->ctx, &r, &resp, err);
    if (rc == 0)
        rc = aws_sso_parse_role_credentials(
            resp.body.data ? resp.body.data : "", resp.body.len, c, err);
    else if (resp.status == 401 || resp.status == 403)
        login_hint(prof, "was refused by the SSO portal", err);
    aws_response_release(&resp);
    buf_release(&url);
    return rc;
}

int aws_creds_from_sso(const struct aws_config *cfg,
                       const struct aws_sender *snd, const char *prof,
                       struct aws_credentials *c, struct aws_error *err)
{
    struct sso_cfg s;
    char *token = NULL;
    int rc = sso_config(cfg, prof, &s, err);

    if (rc == 1) {
        if (!snd->send)
            rc = aws_error_set(err, AWS_ERR_CREDENTIALS,
                               "no client for the SSO portal");
        else if ((rc = cached_token(prof, &s, &token, err)) == 0)
            rc = get_role_credentials(cfg, snd, prof, &s, token, c, err);
        rc = rc == 0 ? 1 : -1;
    }
    aws_wipe_free(token);
    sso_cfg_release(&s);
    return rc;
}
