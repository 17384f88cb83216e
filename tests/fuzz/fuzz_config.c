/*
 * fuzz_config.c — libFuzzer target: the shared config / credentials file
 * reader (aws_config_get, the profile lookups of config_priv.h) and
 * aws_config_load() resolving everything from such a file.
 *
 * Input: byte 0 picks what to look up; the rest is the file's contents,
 * written to a scratch file that serves as both AWS_CONFIG_FILE and
 * AWS_SHARED_CREDENTIALS_FILE. With bit 7 of byte 0 set, the section and
 * key come from the file's first line instead ("section|key"), so the
 * fuzzer can aim at names it invents. The environment is cleared of every
 * AWS_* setting the loader reads, so only the file matters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/config_priv.h"
#include "aws/creds.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct lookup {
    const char *section; /* for aws_config_get */
    const char *key;
    const char *profile; /* for the profile lookups and the loader */
};

static const struct lookup lookups[] = {
    {"default", "region", "default"},
    {"profile dev", "aws_access_key_id", "dev"},
    {"default", "s3.addressing_style", "default"},
    {"services local", "s3.endpoint_url", "dev"},
    {"dev", "aws_secret_access_key", "dev"},
    {"profile a b", "credential_process", "a b"},
    {"default", "max_attempts", "default"},
    {"profile x", "ec2_metadata_service_endpoint", "x"},
};
#define NLOOKUPS (sizeof lookups / sizeof lookups[0])

static char file_path[600];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const vars[] = {
        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_CA_BUNDLE", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED"};

    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    fuzz_path(file_path, sizeof file_path, "config");
    setenv("AWS_CONFIG_FILE", file_path, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", file_path, 1);
    return 0;
}

/* "section|key" from the first line of the contents into sec/key. */
static void names_from_text(const uint8_t *p, size_t n, char *sec,
                            char *key, size_t cap)
{
    size_t i = 0, j = 0;

    while (i < n && p[i] != '|' && p[i] != '\n' && p[i] && i + 1 < cap) {
        sec[i] = (char)p[i];
        i++;
    }
    sec[i] = '\0';
    if (i < n && p[i] == '|')
        for (i++; i < n && p[i] != '\n' && p[i] && j + 1 < cap; i++)
            key[j++] = (char)p[i];
    key[j] = '\0';
}

static void run_lookups(const char *section, const char *key,
                        const char *profile)
{
    struct aws_config cfg = {0};

    free(aws_config_get(file_path, section, key));
    cfg.config_file = file_path;
    cfg.credentials_file = file_path;
    free(aws_profile_config(&cfg, profile, key));
    free(aws_profile_credentials(&cfg, profile, key));
    (void)aws_profile_exists(&cfg, profile);
}

static void run_load(const char *profile)
{
    struct aws_config_overrides ov = {.profile = profile};
    struct aws_config cfg;
    struct aws_error err;

    if (aws_config_load(&cfg, &ov, &err) == 0)
        aws_config_release(&cfg);
    if (aws_config_load(&cfg, NULL, &err) == 0)
        aws_config_release(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char sec[256], key[256];
    const struct lookup *l;

    if (size < 1)
        return 0;
    l = &lookups[(data[0] & 0x7f) % NLOOKUPS];
    fuzz_write(file_path, data + 1, size - 1);
    if (data[0] & 0x80) {
        names_from_text(data + 1, size - 1, sec, key, sizeof sec);
        run_lookups(sec, key, sec);
        run_load(sec);
    } else {
        run_lookups(l->section, l->key, l->profile);
        run_load(l->profile);
    }
    return 0;
}
