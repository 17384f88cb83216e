/*
 * creds_priv.h — aws/-internal pieces of the credentials provider shared by
 * creds.c (chain, env, files, process, IMDS, AssumeRole), creds_web.c (web
 * identity, container endpoint) and creds_sso.c (IAM Identity Center).
 * Not for use outside aws/ (the fuzz and unit tests call the pure parsers).
 *
 * Source functions all follow one convention: 1 = produced credentials into
 * *c, 0 = does not apply (try the next source; err untouched), -1 = hard
 * error (err filled; the chain stops there, as botocore's does). They run
 * WITHOUT the provider's mutex, one refresh at a time (the `refreshing`
 * flag makes refresh single-flight); they read only the immutable `cfg`,
 * `client` and `process_timeout_s`, and never call back into the provider.
 * No error message ever holds a secret: not a key, a session token, a web
 * identity token, an SSO bearer token nor a container authorization token.
 */
#ifndef AMIFS_AWS_CREDS_PRIV_H
#define AMIFS_AWS_CREDS_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws/creds.h"

struct cJSON;

/* Default deadline of a credential_process run (AWS_PROCESS_TIMEOUT_S). */
#define AWS_PROCESS_TIMEOUT_S 60

struct aws_creds_provider {
    /* Immutable after creation (set_client happens before any request). */
    struct aws_config cfg; /* a private copy: profile, files, endpoints */
    struct aws_client *client; /* NULL until set: no HTTP sources then */
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

/* OPENSSL_cleanse + free; NULL is fine. */
void aws_wipe_free(char *s);
/* Wipe every string value of a parsed JSON tree (recursively), then free
 * it. NULL is fine. */
void aws_json_wipe_delete(struct cJSON *j);

/* Fill *c with copies (in DONTDUMP memory) of malloc'd strings it takes
 * over, wipes and frees (any may be NULL). Fails
 * (AWS_ERR_CREDENTIALS, naming `source`) when the key id or secret is
 * missing or empty; an empty token becomes NULL. */
int aws_creds_set(struct aws_credentials *c, char *akid, char *secret,
                  char *token, const char *source, struct aws_error *err);

/* A JSON document with AccessKeyId, SecretAccessKey, <token_name> and an
 * optional ISO-8601 Expiration (what IMDS, credential_process and the
 * container endpoint answer). `source` names the source in *out and in
 * messages. The text and the tree are wiped. 0 or -1. */
int aws_creds_from_json(const char *json, size_t len, const char *token_name,
                        const char *source, struct aws_credentials *out,
                        struct aws_error *err);

/* A whole file into a NUL-terminated malloc'd string (at most `max`
 * bytes), trailing whitespace removed. 0, or -1 with errno set (EFBIG when
 * larger). The caller wipes it when it holds a secret. */
int aws_read_small_file(const char *path, size_t max, char **out);

/* Run `cmd` with /bin/sh -c in a process group of its own and collect its
 * stdout into out (the caller sets out's cap and wipes it). After
 * timeout_s seconds without EOF the group is killed with SIGKILL and the
 * call fails ("timed out"). Fails too when the helper exits non-zero or
 * the output exceeds out's cap. Thread-safe (posix_spawn, no fork). */
struct buf;
int aws_run_credential_process(const char *cmd, int timeout_s,
                               struct buf *out, struct aws_error *err);

/* ---- web identity and container (creds_web.c) --------------------------- */

/* AssumeRoleWithWebIdentity for profile `prof`: AWS_WEB_IDENTITY_TOKEN_FILE
 * / AWS_ROLE_ARN / AWS_ROLE_SESSION_NAME (each beats the profile's
 * web_identity_token_file / role_arn / role_session_name when `use_env`),
 * the token file read afresh on each call, an unsigned STS request. */
int aws_creds_from_web_identity(struct aws_creds_provider *p,
                                const char *prof, bool use_env,
                                struct aws_credentials *c,
                                struct aws_error *err);
/* Whether profile `prof` names a web identity token file (then role_arn is
 * for web identity, not for AssumeRole). */
bool aws_profile_has_web_identity(const struct aws_config *cfg,
                                  const char *prof);

/* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI with
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read on each call; beats) or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header. */
int aws_creds_from_container(struct aws_creds_provider *p,
                             struct aws_credentials *c, struct aws_error *err);
/* botocore's rule for a FULL_URI: https, or http to a loopback address
 * (127.0.0.0/8, ::1), localhost, 169.254.170.2, 169.254.170.23 or
 * [fd00:ec2::23]. URLs with user info, backslashes, blanks or control
 * characters are refused outright. */
bool aws_container_url_allowed(const char *url);

/* ---- IAM Identity Center (creds_sso.c) ---------------------------------- */

/* SSO profile (legacy sso_start_url form or sso_session form): cached token
 * from ~/.aws/sso/cache, then GetRoleCredentials on the portal. */
int aws_creds_from_sso(struct aws_creds_provider *p, const char *prof,
                       struct aws_credentials *c, struct aws_error *err);
/* A cached token file: accessToken (malloc'd into *token) valid after
 * `now`. -1 (err says why, never quoting the token) when the JSON is
 * unusable, a field is missing or the token expired. */
int aws_sso_parse_token(const char *json, size_t len, time_t now,
                        char **token, time_t *expires, struct aws_error *err);
/* GetRoleCredentials' answer {"roleCredentials":{accessKeyId,
 * secretAccessKey, sessionToken, expiration (ms since the epoch)}}. */
int aws_sso_parse_role_credentials(const char *json, size_t len,
                                   struct aws_credentials *out,
                                   struct aws_error *err);
/* "<dir>/<sha1 hex of key>.json" into out (n bytes); 0 or -1 when it does
 * not fit. */
int aws_sso_cache_file(const char *dir, const char *key, char *out, size_t n);

#endif
