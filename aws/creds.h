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
 *
 * Credentials (struct aws_creds_provider) follow botocore's order: explicit
 * keys, env keys (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN),
 * role_arn + source_profile/credential_source (STS AssumeRole), the shared
 * credentials file, credential_process, static keys in the config file,
 * IMDSv2. Temporary credentials are refreshed before they expire (5 minutes
 * ahead). The provider is thread-safe. Secrets are wiped before their memory
 * is freed and never logged.
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

struct aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    time_t expiration;   /* 0: does not expire */
    const char *source;  /* static string: "env", "shared-credentials-file",
                            "assume-role", "process", "config-file", "imds",
                            "explicit" */
};

/* Deep copy; wipe + free. */
int aws_credentials_copy(struct aws_credentials *dst,
                         const struct aws_credentials *src);
void aws_credentials_release(struct aws_credentials *c);

struct aws_client; /* client.h; the provider uses it for STS and IMDS */
struct aws_creds_provider;

struct aws_creds_provider *aws_creds_provider_new(const struct aws_config *cfg,
                                                  struct aws_error *err);
/* Lets the provider make STS AssumeRole and IMDS calls. */
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
