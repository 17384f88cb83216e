/*
 * creds.h — configuration and credentials, resolved the way the AWS CLI does.
 *
 * aws_config_load() reads the environment and the shared files once:
 *   profile   explicit argument > AWS_PROFILE > AWS_DEFAULT_PROFILE > "default"
 *   files     AWS_CONFIG_FILE (~/.aws/config), AWS_SHARED_CREDENTIALS_FILE
 *             (~/.aws/credentials); [profile NAME] in config, [NAME] in
 *             credentials; indented lines form sub-sections (s3 = ...);
 *             comments only on their own line
 *   region    explicit > AWS_REGION > AWS_DEFAULT_REGION > profile region >
 *             IMDS placement/region (when the client asks for it)
 *   endpoints explicit option (one URL for every service) >
 *             AWS_ENDPOINT_URL_<SVC> > AWS_ENDPOINT_URL > [services] section >
 *             profile endpoint_url; none → the real AWS endpoints
 *   other     AWS_CA_BUNDLE / ca_bundle, AWS_MAX_ATTEMPTS / max_attempts,
 *             AWS_RETRY_MODE / retry_mode, AWS_EC2_METADATA_DISABLED,
 *             AWS_EC2_METADATA_SERVICE_ENDPOINT, s3 addressing_style
 *   SSO portal AWS_ENDPOINT_URL_SSO > AWS_ENDPOINT_URL > [services] sso >
 *             profile endpoint_url (the mount's one-URL option does not
 *             apply: the CLI's --endpoint-url does not reach it either)
 *
 * Credentials (struct aws_creds_provider) follow botocore's order
 * (aws-contract.md §6.3):
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

#include "aws/err.h"

enum aws_service {
    AWS_SVC_S3 = 0,
    AWS_SVC_EC2,
    AWS_SVC_IAM,
    AWS_SVC_STS,
    AWS_SVC_COUNT
};

/* "s3", "ec2", "iam", "sts" — also the SigV4 scope service names. */
const char *aws_service_name(enum aws_service svc);

struct aws_config {
    char *profile;                   /* never NULL after load */
    char *region;                    /* NULL until known */
    char *endpoint[AWS_SVC_COUNT];   /* NULL: the real AWS endpoint */
    char *ca_bundle;                 /* NULL: system default */
    char *config_file;               /* resolved paths */
    char *credentials_file;
    char *imds_endpoint;             /* default http://169.254.169.254 */
    bool imds_disabled;
    bool path_style;                 /* S3 path-style addressing */
    int max_attempts;                /* default 3 (standard mode) */
    bool profile_explicit;           /* profile came from the overrides:
                                        env keys are then skipped */
    char *sso_endpoint;              /* NULL: portal.sso.<sso_region>… */
    int process_timeout_s;           /* credential_process deadline:
                                        AMIFS_CREDENTIAL_PROCESS_TIMEOUT
                                        seconds, 0 = the default (60) */
};

/* Explicit settings (mount options); any field may be NULL / 0. */
struct aws_config_overrides {
    const char *profile;
    const char *region;
    const char *endpoint;   /* one URL for every service */
    const char *ca_bundle;
    int max_attempts;
};

int aws_config_load(struct aws_config *cfg,
                    const struct aws_config_overrides *ov,
                    struct aws_error *err);
void aws_config_release(struct aws_config *cfg);

/* Look up `key` in section `section` of an INI file as the CLI reads it.
 * `section` is the literal section name: "default", "profile NAME" or
 * "services NAME" in the config file, the bare profile name in the
 * credentials file. Sub-section keys are named "s3.addressing_style".
 * Returns a malloc'd string or NULL. Exposed for the doctor command and
 * tests. */
char *aws_config_get(const char *file, const char *section, const char *key);

/* The three strings of a provider-made value live in ONE block of
 * DONTDUMP memory (aws/secmem.h) that `secure` owns; release wipes and
 * unmaps it. A value assembled by hand (secure == NULL, e.g. a test's
 * borrowed getenv() strings passed to sts_assume_role) is only read. */
struct aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    time_t expiration;   /* 0: does not expire */
    const char *source;  /* static string: "env", "shared-credentials-file",
                            "assume-role", "web-identity", "sso", "process",
                            "config-file", "container", "imds",
                            "explicit" */
    void *secure;        /* the block holding the strings, or NULL */
};

/* Copy the strings (token may be NULL or "" for none) into a fresh
 * DONTDUMP block; expiration 0 and source NULL. 0, or -1 (out of memory,
 * *c zeroed). */
int aws_credentials_init(struct aws_credentials *c, const char *akid,
                         const char *secret, const char *token);
/* Deep copy (into its own block); wipe + unmap (or, for a hand-made value
 * whose `secure` is NULL, wipe + free each string). */
int aws_credentials_copy(struct aws_credentials *dst,
                         const struct aws_credentials *src);
void aws_credentials_release(struct aws_credentials *c);

struct aws_client; /* client.h; the provider uses it for STS and IMDS */
struct aws_creds_provider;

struct aws_creds_provider *aws_creds_provider_new(const struct aws_config *cfg,
                                                  struct aws_error *err);
/* Lets the provider make STS, SSO portal, container and IMDS calls. */
void aws_creds_provider_set_client(struct aws_creds_provider *p,
                                   struct aws_client *client);
void aws_creds_provider_free(struct aws_creds_provider *p);
/* A copy of current credentials (refreshed first when they expire within 5
 * minutes). The caller releases `out`. */
int aws_creds_get(struct aws_creds_provider *p, struct aws_credentials *out,
                  struct aws_error *err);
/* Forget cached credentials (e.g. after ExpiredToken); next get refreshes. */
void aws_creds_invalidate(struct aws_creds_provider *p);

#endif
