/*
 * creds.h — configuration and credentials, resolved the way the AWS CLI does.
 *
 * Configuration (profile, region, endpoints, files) is resolved by
 * aws/config.h; this header is the credentials half.
 *
 * Credentials (struct aws_creds_provider) follow botocore's order
 * (doc/AWS.md "Credentials", doc/design/aws.md):
 *   1 env keys (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN),
 *     skipped when the profile was chosen explicitly (mount option)
 *   2 role_arn + source_profile / credential_source = Environment |
 *     Ec2InstanceMetadata | EcsContainer (STS AssumeRole)
 *   3 web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *     (+ AWS_ROLE_SESSION_NAME), or the profile's web_identity_token_file /
 *     role_arn / role_session_name; unsigned STS AssumeRoleWithWebIdentity,
 *     the token file re-read on every refresh
 *   4 IAM Identity Center: sso_account_id + sso_role_name with
 *     sso_start_url + sso_region or sso_session ([sso-session NAME]); the
 *     token cached by `aws sso login` (~/.aws/sso/cache/<sha1>.json), then
 *     the portal's GetRoleCredentials. A missing/expired token fails with a
 *     message telling the user to run `aws sso login --profile NAME`
 *   5 the shared credentials file  6 credential_process
 *   7 static keys in the config file
 *   8 container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on 169.254.170.2)
 *     or _FULL_URI (https, loopback or the ECS/EKS link-local hosts) with
 *     AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / _TOKEN as Authorization
 *   9 IMDSv2.
 * A source_profile is resolved with 2-7 (web identity from its profile
 * keys only). Temporary credentials are refreshed before they expire (5
 * minutes ahead). The provider is thread-safe. Secrets (keys, session
 * tokens, web identity / SSO / container tokens) are wiped before their
 * memory is freed and never logged nor put in error messages.
 */
#ifndef AMIFS_AWS_CREDS_H
#define AMIFS_AWS_CREDS_H

#include <stdbool.h>
#include <time.h>

#include "aws/config.h"
#include "aws/credentials.h" /* struct aws_credentials, the value */
#include "aws/err.h"

struct aws_sender; /* request.h */
struct aws_creds_provider;

struct aws_creds_provider *aws_creds_provider_new(const struct aws_config *cfg,
                                                  struct aws_error *err);
/* Lets the provider make STS, SSO portal, container and IMDS calls: it
 * keeps a copy of *s (the provider never sees the HTTP client itself, so
 * the client may own the provider without a circle; request.h). Called
 * once, before any request; without it those sources do not apply. */
void aws_creds_provider_set_sender(struct aws_creds_provider *p,
                                   const struct aws_sender *s);
void aws_creds_provider_free(struct aws_creds_provider *p);
/* A copy of current credentials (refreshed first when they expire within 5
 * minutes). The caller releases `out`. */
int aws_creds_get(struct aws_creds_provider *p, struct aws_credentials *out,
                  struct aws_error *err);
/* The instance's region from IMDS (placement/region), malloc'd. Fails when
 * IMDS is disabled or unreachable (1 s timeout). It lives with the
 * provider because it shares the provider's IMDSv2 token logic and sender;
 * the client asks it once, while it is created. */
int aws_imds_region(struct aws_creds_provider *p, char **region,
                    struct aws_error *err);
/* Forget cached credentials (e.g. after ExpiredToken); next get refreshes. */
void aws_creds_invalidate(struct aws_creds_provider *p);

#endif
