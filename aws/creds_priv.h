/*
 * creds_priv.h — aws/-internal pieces of the credentials provider: the
 * sources that creds.c (chain, env, files, IMDS, AssumeRole) calls, found
 * in creds_process.c (credential_process), creds_web.c (web identity,
 * container endpoint) and creds_sso.c (IAM Identity Center). Not for use
 * outside aws/ (the fuzz and unit tests call the pure parsers).
 *
 * Arrows point one way: creds.c calls the sources; a source calls only
 * what stands below it (credentials.h for the value and its helpers,
 * config.h, sts.h's AssumeRole calls, and the struct aws_sender of
 * request.h for HTTP), never creds.c and never the HTTP client, which
 * sits above the provider and owns it. So a source is handed the
 * provider's configuration and sender, not the provider itself.
 *
 * Source functions all follow one convention: 1 = produced credentials into
 * *c, 0 = does not apply (try the next source; err untouched), -1 = hard
 * error (err filled; the chain stops there, as botocore's does). They run
 * WITHOUT the provider's mutex, one refresh at a time (the `refreshing`
 * flag makes refresh single-flight); what they are handed (`cfg`, `s`) is
 * immutable while they run. A sender whose `send` is NULL means no HTTP:
 * the sources that need it then fail ("no client for …").
 * No error message ever holds a secret: not a key, a session token, a web
 * identity token, an SSO bearer token nor a container authorization token.
 */
#ifndef AMIFS_AWS_CREDS_PRIV_H
#define AMIFS_AWS_CREDS_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws/config.h"
#include "aws/credentials.h"
#include "aws/request.h"

/* Default deadline of a credential_process run (AWS_PROCESS_TIMEOUT_S). */
#define AWS_PROCESS_TIMEOUT_S 60

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
int aws_creds_from_web_identity(const struct aws_config *cfg,
                                const struct aws_sender *s,
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
int aws_creds_from_container(const struct aws_sender *s,
                             struct aws_credentials *c, struct aws_error *err);
/* botocore's rule for a FULL_URI: https, or http to a loopback address
 * (127.0.0.0/8, ::1), localhost, 169.254.170.2, 169.254.170.23 or
 * [fd00:ec2::23]. URLs with user info, backslashes, blanks or control
 * characters are refused outright. */
bool aws_container_url_allowed(const char *url);

/* ---- IAM Identity Center (creds_sso.c) ---------------------------------- */

/* SSO profile (legacy sso_start_url form or sso_session form): cached token
 * from ~/.aws/sso/cache, then GetRoleCredentials on the portal. */
int aws_creds_from_sso(const struct aws_config *cfg,
                       const struct aws_sender *s, const char *prof,
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
