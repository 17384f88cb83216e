/*
 * config.h — the AWS configuration, resolved the way the AWS CLI does.
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
 *   credential_process deadline  AMIFS_CREDENTIAL_PROCESS_TIMEOUT
 *             (seconds; default 60)
 *
 * Ownership: a loaded `struct aws_config` owns every string in it (malloc'd);
 * aws_config_release() frees them and zeroes the struct. Overrides are
 * borrowed for the duration of the call only.
 *
 * Errors: aws_config_load() fails (AWS_ERR_CONFIG) when an explicitly
 * chosen profile exists in neither file, and on out of memory; a missing
 * file is not an error (the CLI accepts that too).
 *
 * Threads: loading reads the environment and the files, and is meant to
 * run once at start-up; a loaded config is read-only and may be shared by
 * any number of threads. aws_config_get() is thread-safe (no state).
 *
 * Who uses it: aws/client.c (endpoints, region, retries, CA bundle),
 * aws/creds.c (profile, files, STS/SSO/IMDS endpoints, process timeout),
 * cli/doctor.c (to show what was resolved and why).
 */
#ifndef AMIFS_AWS_CONFIG_H
#define AMIFS_AWS_CONFIG_H

#include <stdbool.h>

#include "aws/err.h"

enum aws_service {
    AWS_SVC_S3 = 0,
    AWS_SVC_EC2,
    AWS_SVC_IAM,
    AWS_SVC_STS,
    AWS_SVC_KMS,
    AWS_SVC_COUNT
};

/* "s3", "ec2", "iam", "sts", "kms" — also the SigV4 scope service names. */
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

#endif
