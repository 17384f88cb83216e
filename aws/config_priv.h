/*
 * config_priv.h — aws/-internal access to the shared config files, for
 * creds*.c and client*.c. Not for use outside aws/.
 *
 * Both files are read with the CLI's rules (see creds.h). Returned strings
 * are malloc'd (caller frees; wipe with OPENSSL_cleanse when a secret) or
 * NULL when absent.
 */
#ifndef AMIFS_AWS_CONFIG_PRIV_H
#define AMIFS_AWS_CONFIG_PRIV_H

#include <stdbool.h>

#include "aws/config.h"

/* `key` of profile `profile` in the config file: section [profile NAME],
 * or [default] / [profile default] for "default". */
char *aws_profile_config(const struct aws_config *cfg, const char *profile,
                         const char *key);
/* `key` of profile `profile` in the credentials file (section [NAME]). */
char *aws_profile_credentials(const struct aws_config *cfg,
                              const char *profile, const char *key);
/* Whether `file` has the literal section `section` (e.g. "sso-session
 * NAME"). */
bool aws_config_has_section(const char *file, const char *section);
/* Whether either file has a section for the profile. */
bool aws_profile_exists(const struct aws_config *cfg, const char *profile);

#endif
