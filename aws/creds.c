/*
 * creds.c — the credentials provider (contract in creds.h).
 *
 * Web identity and the container endpoint live in creds_web.c, IAM Identity
 * Center in creds_sso.c (shared pieces: creds_priv.h).
 *
 * Refresh is single-flight: one caller at a time runs the chain, with the
 * provider's mutex released, so a slow or hung source (credential_process,
 * STS, IMDS) never blocks callers that still hold valid credentials; only
 * callers without any wait, on a condition variable, for that one refresh.
 * The sources are signed with explicit credentials (or not at all) and
 * never re-enter the provider.
 */
#include "aws/creds.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "aws/buf.h"
#include "aws/config_priv.h"
#include "aws/creds_priv.h"
#include "aws/sts.h"
#include "aws/secmem.h"

/* Refresh windows (botocore: 15 and 10 minutes; the CLI refreshes
 * process credentials 15 minutes ahead). Advisory: one caller refreshes,
 * the others go on with what is in hand. Mandatory: the same, but a
 * failed refresh is retried sooner. Expired or none: callers wait for the
 * one refresh in flight. */
#define ADVISORY_S 300
#define MANDATORY_S 60
#define ADVISORY_RETRY_S 30
#define MANDATORY_RETRY_S 5
#define MAX_ROLE_CHAIN 4

/* The provider (opaque outside this file). */
struct aws_creds_provider {
    /* Immutable after creation (set_sender happens before any request);
     * the sources (creds_priv.h) are handed &cfg and &sender. */
    struct aws_config cfg; /* a private copy: profile, files, endpoints */
    struct aws_sender sender; /* send NULL until set: no HTTP sources then */
    int process_timeout_s;     /* credential_process deadline */
    /* `lock` guards everything below; `refreshed` is broadcast when a
     * refresh ends (successfully or not). */
    pthread_mutex_t lock;
    pthread_cond_t refreshed;
    struct aws_credentials cur;
    bool have;
    bool refreshing;          /* a caller is running the chain */
    time_t fetched;           /* when `cur` was obtained (wall clock) */
    time_t retry_after;       /* after a failed refresh: not before this */
    unsigned gen;             /* refreshes finished so far */
    struct aws_error last_err; /* what the last failed refresh said */
};

static char *dup_env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? strdup(v) : NULL;
}

/* ---- sources --------------------------------------------------------------
 * Each returns 1 when it produced credentials, 0 when it does not apply
 * (try the next source), -1 on a hard error (err filled).                  */

static int from_env(struct aws_credentials *c, struct aws_error *err)
{
    char *akid = dup_env("AWS_ACCESS_KEY_ID");
    char *token;

    if (!akid)
        return 0;
    token = dup_env("AWS_SESSION_TOKEN");
    if (!token)
        token = dup_env("AWS_SECURITY_TOKEN");
    return aws_creds_set(c, akid, dup_env("AWS_SECRET_ACCESS_KEY"), token,
                         "env", err)
               ? -1
               : 1;
}

typedef char *(*profile_get_fn)(const struct aws_config *, const char *,
                                const char *);

static int from_profile_keys(const struct aws_config *cfg, const char *prof,
                             profile_get_fn get, const char *source,
                             struct aws_credentials *c, struct aws_error *err)
{
    char *akid = get(cfg, prof, "aws_access_key_id");

    if (!akid)
        return 0;
    return aws_creds_set(c, akid, get(cfg, prof, "aws_secret_access_key"),
                         get(cfg, prof, "aws_session_token"), source, err)
               ? -1
               : 1;
}

static int from_process(const struct aws_creds_provider *p, const char *cmd,
                        struct aws_credentials *c, struct aws_error *err)
{
    struct buf out;
    cJSON *j = NULL;
    const cJSON *ver;
    int rc = -1;

    buf_init(&out, 1 << 20);
    if (aws_run_credential_process(cmd, p->process_timeout_s, &out, err))
        goto done;
    j = cJSON_ParseWithLength(buf_cstr(&out), out.len);
    ver = cJSON_GetObjectItemCaseSensitive(j, "Version");
    if (!cJSON_IsObject(j) || !cJSON_IsNumber(ver) || ver->valueint != 1) {
        aws_error_set(err, AWS_ERR_CREDENTIALS,
                      "credential_process: output is not Version 1 JSON");
        goto done;
    }
    rc = aws_creds_from_object(j, "SessionToken", "process", c, err) ? -1
                                                                     : 1;
done:
    aws_json_wipe_delete(j);
    buf_release(&out);
    return rc;
}

/* ---- IMDS ------------------------------------------------------------------ */

static int imds_call(struct aws_creds_provider *p, const char *method,
                     const char *path, const char *token, struct buf *out,
                     long *status, struct aws_error *err)
{
    struct sigv4_header h[1];
    struct aws_request r = {0};
    struct aws_response resp;
    struct buf url;
    int rc;

    buf_init(&url, 4096);
    if (buf_printf(&url, "%s%s", p->cfg.imds_endpoint, path))
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    if (token)
        h[0] = (struct sigv4_header){"X-aws-ec2-metadata-token", token};
    else
        h[0] = (struct sigv4_header){"X-aws-ec2-metadata-token-ttl-seconds",
                                     "21600"};
    r.method = method;
    r.url = buf_cstr(&url);
    r.headers = h;
    r.nheaders = strcmp(method, "PUT") == 0 || token ? 1 : 0;
    r.idempotent = true;
    r.max_attempts = 1;
    r.timeout_ms = 1000;
    aws_response_init(&resp);
    rc = p->sender.send(p->sender.ctx, &r, &resp, err);
    *status = resp.status;
    if (rc == 0)
        rc = buf_append(out, resp.body.data, resp.body.len) ? -1 : 0;
    aws_response_release(&resp);
    buf_release(&url);
    return rc;
}

/* IMDSv2 token; NULL with no error means "fall back to v1". */
static int imds_token(struct aws_creds_provider *p, char **token,
                      struct aws_error *err)
{
    struct buf b;
    long st = 0;

    *token = NULL;
    buf_init(&b, 4096);
    if (imds_call(p, "PUT", "/latest/api/token", NULL, &b, &st, err)) {
        buf_release(&b);
        if (st == 400)
            return -1;
        /* 403/404/405 and timeouts: an IMDSv1-only service. */
        return 0;
    }
    *token = buf_detach(&b);
    return 0;
}

/* GET a metadata path (with the token when we have one) into *out. */
static int imds_get(struct aws_creds_provider *p, const char *path,
                    char **out, struct aws_error *err)
{
    char *token = NULL;
    struct buf b;
    long st = 0;
    int rc;

    if (imds_token(p, &token, err))
        return -1;
    buf_init(&b, 1 << 20);
    rc = imds_call(p, "GET", path, token, &b, &st, err);
    aws_wipe_free(token);
    if (rc) {
        buf_release(&b);
        return -1;
    }
    *out = buf_detach(&b);
    return *out ? 0 : aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
}

static int imds_creds_for_role(struct aws_creds_provider *p, const char *role,
                               struct aws_credentials *c,
                               struct aws_error *err)
{
    char path[512];
    char *body = NULL;
    int rc;

    snprintf(path, sizeof path,
             "/latest/meta-data/iam/security-credentials/%s", role);
    if (imds_get(p, path, &body, err))
        return -1;
    rc = aws_creds_from_json(body, strlen(body), "Token", "imds", c, err);
    aws_wipe_free(body);
    return rc;
}

static int from_imds(struct aws_creds_provider *p, struct aws_credentials *c,
                     struct aws_error *err)
{
    char *role = NULL, *nl;
    int rc;

    if (p->cfg.imds_disabled || !p->sender.send)
        return 0;
    if (imds_get(p, "/latest/meta-data/iam/security-credentials/", &role,
                 err))
        return 0; /* not on EC2 (or no role): no credentials from here */
    if ((nl = strchr(role, '\n')))
        *nl = '\0';
    rc = *role ? (imds_creds_for_role(p, role, c, err) ? -1 : 1) : 0;
    free(role);
    return rc;
}

int aws_imds_region(struct aws_creds_provider *p, char **region,
                    struct aws_error *err)
{
    if (p->cfg.imds_disabled || !p->sender.send)
        return aws_error_set(err, AWS_ERR_CONFIG, "IMDS disabled");
    return imds_get(p, "/latest/meta-data/placement/region", region, err);
}

/* ---- assume role ------------------------------------------------------------ */

static int resolve_profile(struct aws_creds_provider *p, const char *prof,
                           int depth, struct aws_credentials *c,
                           struct aws_error *err);

static int role_source(struct aws_creds_provider *p, const char *prof,
                       int depth, struct aws_credentials *src,
                       struct aws_error *err)
{
    char *sp = aws_profile_config(&p->cfg, prof, "source_profile");
    char *cs = aws_profile_config(&p->cfg, prof, "credential_source");
    int rc;

    if (sp)
        rc = resolve_profile(p, sp, depth + 1, src, err);
    else if (cs && strcmp(cs, "Environment") == 0)
        rc = from_env(src, err);
    else if (cs && strcmp(cs, "Ec2InstanceMetadata") == 0)
        rc = from_imds(p, src, err);
    else if (cs && strcmp(cs, "EcsContainer") == 0)
        rc = aws_creds_from_container(&p->sender, src, err);
    else
        rc = aws_error_set(err, AWS_ERR_CONFIG,
                           "profile %s: role_arn needs source_profile or a "
                           "supported credential_source",
                           prof);
    free(sp);
    free(cs);
    if (rc == 0)
        rc = aws_error_set(err, AWS_ERR_CREDENTIALS,
                           "profile %s: the role's source has no credentials",
                           prof);
    return rc < 0 ? -1 : 0;
}

static int assume_role(struct aws_creds_provider *p, const char *prof,
                       const char *role_arn, int depth,
                       struct aws_credentials *c, struct aws_error *err)
{
    struct aws_credentials src = {0};
    char *name = aws_profile_config(&p->cfg, prof, "role_session_name");
    char *ext = aws_profile_config(&p->cfg, prof, "external_id");
    char *dur = aws_profile_config(&p->cfg, prof, "duration_seconds");
    char session[64];
    int rc = -1;

    if (depth > MAX_ROLE_CHAIN) {
        aws_error_set(err, AWS_ERR_CONFIG, "profile %s: role chain too long",
                      prof);
    } else if (!p->sender.send) {
        aws_error_set(err, AWS_ERR_CREDENTIALS, "no client for AssumeRole");
    } else if (role_source(p, prof, depth, &src, err) == 0) {
        snprintf(session, sizeof session, "amifs-%lld",
                 (long long)time(NULL));
        rc = sts_assume_role(&p->sender, &src, role_arn, name ? name : session,
                             ext, dur ? (int)strtol(dur, NULL, 10) : 3600, c,
                             err);
        if (rc == 0)
            c->source = "assume-role";
    }
    aws_credentials_release(&src);
    free(name);
    free(ext);
    free(dur);
    return rc < 0 ? -1 : 1;
}

static bool has_static_keys(const struct aws_config *cfg, const char *prof)
{
    char *a = aws_profile_credentials(cfg, prof, "aws_access_key_id");
    bool found;

    if (!a)
        a = aws_profile_config(cfg, prof, "aws_access_key_id");
    found = a != NULL;
    aws_wipe_free(a);
    return found;
}

/* role_arn means AssumeRole unless the profile is a web identity one; in a
 * source_profile, static keys win over its own role_arn (botocore). */
static char *assume_role_arn(const struct aws_config *cfg, const char *prof,
                             int depth)
{
    if (aws_profile_has_web_identity(cfg, prof) ||
        (depth > 0 && has_static_keys(cfg, prof)))
        return NULL;
    return aws_profile_config(cfg, prof, "role_arn");
}

/* Everything a named profile can give, in botocore's order: role, web
 * identity, SSO, shared credentials file, credential_process, config-file
 * keys. The web identity environment variables count only for the profile
 * in use, not for a source_profile (depth > 0). */
static int resolve_profile(struct aws_creds_provider *p, const char *prof,
                           int depth, struct aws_credentials *c,
                           struct aws_error *err)
{
    char *v = assume_role_arn(&p->cfg, prof, depth);
    int rc;

    if (v) {
        rc = assume_role(p, prof, v, depth, c, err);
        free(v);
        return rc;
    }
    rc = aws_creds_from_web_identity(&p->cfg, &p->sender, prof, depth == 0, c,
                                     err);
    if (rc == 0)
        rc = aws_creds_from_sso(&p->cfg, &p->sender, prof, c, err);
    if (rc == 0)
        rc = from_profile_keys(&p->cfg, prof, aws_profile_credentials,
                               "shared-credentials-file", c, err);
    if (rc)
        return rc;
    v = aws_profile_config(&p->cfg, prof, "credential_process");
    if (v) {
        rc = from_process(p, v, c, err);
        free(v);
        return rc;
    }
    return from_profile_keys(&p->cfg, prof, aws_profile_config, "config-file",
                             c, err);
}

static int resolve_chain(struct aws_creds_provider *p,
                         struct aws_credentials *c, struct aws_error *err)
{
    int rc = 0;

    /* An explicitly chosen profile wins over env keys; AWS_PROFILE does
     * not (doc/AWS.md "Credentials"). */
    if (!p->cfg.profile_explicit)
        rc = from_env(c, err);
    if (rc == 0)
        rc = resolve_profile(p, p->cfg.profile, 0, c, err);
    if (rc == 0)
        rc = aws_creds_from_container(&p->sender, c, err);
    if (rc == 0)
        rc = from_imds(p, c, err);
    if (rc == 0)
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "Unable to locate credentials (profile %s)",
                             p->cfg.profile);
    return rc < 0 ? -1 : 0;
}

/* ---- provider ---------------------------------------------------------------- */

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct aws_creds_provider *aws_creds_provider_new(const struct aws_config *cfg,
                                                  struct aws_error *err)
{
    struct aws_creds_provider *p = calloc(1, sizeof *p);

    if (!p) {
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->refreshed, NULL);
    aws_secure_exclude_env();
    p->process_timeout_s = cfg->process_timeout_s > 0
                               ? cfg->process_timeout_s
                               : AWS_PROCESS_TIMEOUT_S;
    p->cfg.profile = dup_opt(cfg->profile ? cfg->profile : "default");
    p->cfg.config_file = dup_opt(cfg->config_file);
    p->cfg.credentials_file = dup_opt(cfg->credentials_file);
    p->cfg.imds_endpoint =
        dup_opt(cfg->imds_endpoint ? cfg->imds_endpoint
                                   : "http://169.254.169.254");
    p->cfg.imds_disabled = cfg->imds_disabled;
    p->cfg.profile_explicit = cfg->profile_explicit;
    p->cfg.endpoint[AWS_SVC_STS] = dup_opt(cfg->endpoint[AWS_SVC_STS]);
    p->cfg.sso_endpoint = dup_opt(cfg->sso_endpoint);
    if (!p->cfg.profile || !p->cfg.imds_endpoint ||
        (cfg->endpoint[AWS_SVC_STS] && !p->cfg.endpoint[AWS_SVC_STS]) ||
        (cfg->sso_endpoint && !p->cfg.sso_endpoint)) {
        aws_creds_provider_free(p);
        aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return p;
}

void aws_creds_provider_set_sender(struct aws_creds_provider *p,
                                   const struct aws_sender *s)
{
    pthread_mutex_lock(&p->lock);
    p->sender = *s;
    pthread_mutex_unlock(&p->lock);
}

void aws_creds_provider_free(struct aws_creds_provider *p)
{
    if (!p)
        return;
    aws_credentials_release(&p->cur);
    aws_config_release(&p->cfg);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->refreshed);
    free(p);
}

/* When the credentials in hand should be replaced (advisory) and when
 * they must be (mandatory), botocore's two windows clamped to the
 * lifetime the source gave: a helper handing out 200 s credentials is run
 * again after 100 s, not on every request. */
static time_t window_start(const struct aws_creds_provider *p, int ahead_s,
                           int frac)
{
    time_t life = p->cur.expiration - p->fetched;
    time_t ahead = ahead_s;

    if (life > 0 && ahead > life / frac)
        ahead = life / frac;
    return p->cur.expiration - ahead;
}

static bool usable(const struct aws_creds_provider *p, time_t now)
{
    return p->have && (!p->cur.expiration || now < p->cur.expiration);
}

/* Whether this caller should start a refresh (none is running). */
static bool should_refresh(const struct aws_creds_provider *p, time_t now)
{
    if (p->refreshing)
        return false;
    if (!usable(p, now))
        return true;
    if (!p->cur.expiration || now < p->retry_after)
        return false;
    return now >= window_start(p, ADVISORY_S, 2);
}

/* One line per refresh: debug when it worked, a warning when it failed
 * (never a secret: error messages do not hold any). */
static void log_refresh(const struct aws_creds_provider *p,
                        const struct aws_error *e)
{
    const struct aws_logger *lg = p->sender.logger;
    char msg[600];

    if (!lg)
        return;
    if (!e) {
        aws_log(lg, AWS_LOG_DEBUG, "credentials refreshed from %s%s",
                p->cur.source ? p->cur.source : "?",
                p->cur.expiration ? "" : " (no expiry)");
        return;
    }
    aws_error_format(e, msg, sizeof msg);
    aws_log(lg, AWS_LOG_WARN, "credentials refresh failed%s: %s",
            usable(p, time(NULL)) ? " (still using the current ones)" : "",
            msg);
}

/* Runs the chain with the lock released (readers keep going), then
 * installs the result. Called and returns with p->lock held. */
static void refresh(struct aws_creds_provider *p, time_t now)
{
    struct aws_credentials fresh;
    struct aws_error e;
    int rc;

    p->refreshing = true;
    pthread_mutex_unlock(&p->lock);
    aws_error_clear(&e);
    rc = resolve_chain(p, &fresh, &e);
    pthread_mutex_lock(&p->lock);
    if (rc == 0) {
        aws_credentials_release(&p->cur);
        p->cur = fresh;
        p->have = true;
        p->fetched = time(NULL);
        p->retry_after = 0;
        log_refresh(p, NULL);
    } else {
        p->last_err = e;
        log_refresh(p, &e);
        /* In the advisory window wait a while before the next try; in the
         * mandatory one try again soon; without credentials at once. */
        p->retry_after =
            now + (usable(p, now) && now < window_start(p, MANDATORY_S, 4)
                       ? ADVISORY_RETRY_S
                       : MANDATORY_RETRY_S);
    }
    p->refreshing = false;
    p->gen++;
    pthread_cond_broadcast(&p->refreshed);
}

int aws_creds_get(struct aws_creds_provider *p, struct aws_credentials *out,
                  struct aws_error *err)
{
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        time_t now = time(NULL);
        unsigned gen = p->gen;

        if (should_refresh(p, now))
            refresh(p, now);
        if (usable(p, time(NULL)))
            break;
        if (p->gen != gen && !p->refreshing) {
            *err = p->last_err; /* the refresh this caller ran or awaited */
            rc = -1;
            break;
        }
        while (p->refreshing && p->gen == gen)
            pthread_cond_wait(&p->refreshed, &p->lock);
        if (!usable(p, time(NULL)) && p->gen != gen) {
            *err = p->last_err;
            rc = -1;
            break;
        }
    }
    if (rc == 0 && aws_credentials_copy(out, &p->cur))
        rc = aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void aws_creds_invalidate(struct aws_creds_provider *p)
{
    pthread_mutex_lock(&p->lock);
    p->have = false;
    pthread_mutex_unlock(&p->lock);
}
