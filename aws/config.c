/*
 * config.c — the shared config/credentials files and the environment,
 * resolved the way the AWS CLI does (contract in creds.h).
 *
 * The INI reader follows botocore's raw_config_parse: comments only on their
 * own line (# or ;), "key = value" pairs, and a key with an empty value
 * followed by indented "k = v" lines forms a sub-section whose keys we name
 * "key.k". Files are small and read at mount time, so each lookup simply
 * re-reads the file: no cache to keep coherent.
 */
#include "aws/config.h"
#include "aws/config_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "aws/buf.h"

const char *aws_service_name(enum aws_service svc)
{
    static const char *const names[AWS_SVC_COUNT] = {"s3", "ec2", "iam",
                                                     "sts", "kms"};

    return (unsigned)svc < AWS_SVC_COUNT ? names[svc] : "unknown";
}

/* ---- INI ---------------------------------------------------------------- */

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Section header "[ name ]" → trimmed name with inner runs of blanks
 * collapsed ("profile  x" → "profile x"), or NULL. */
static char *section_name(char *line)
{
    char *end = strrchr(line, ']'), *r, *w;

    if (*line != '[' || !end)
        return NULL;
    *end = '\0';
    r = w = trim(line + 1);
    for (char *p = r; *p; p++)
        if (!(isspace((unsigned char)*p) && isspace((unsigned char)p[1])))
            *w++ = isspace((unsigned char)*p) ? ' ' : *p;
    *w = '\0';
    return r;
}

struct ini_scan {
    const char *section; /* wanted section */
    const char *key;     /* wanted key ("a" or "a.b"), NULL: section test */
    bool in_section;
    bool found_section;
    char parent[128];    /* key owning the current indented block */
    char *value;         /* result */
};

/* One "k = v" line; `indented` lines belong to the last parent key. */
static void scan_pair(struct ini_scan *s, char *line, bool indented)
{
    char *eq = strchr(line, '='), *k, *v;
    char full[300];

    if (!eq)
        return;
    *eq = '\0';
    k = trim(line);
    v = trim(eq + 1);
    if (!indented) {
        snprintf(s->parent, sizeof s->parent, "%s", k);
        if (!s->value && strcmp(k, s->key) == 0 && *v)
            s->value = strdup(v);
        return;
    }
    if (!s->parent[0])
        return;
    if (snprintf(full, sizeof full, "%s.%s", s->parent, k) >= (int)sizeof full)
        return;
    if (!s->value && strcmp(full, s->key) == 0)
        s->value = strdup(v);
}

static void scan_line(struct ini_scan *s, char *raw)
{
    bool indented = raw[0] == ' ' || raw[0] == '\t';
    char *line = trim(raw), *name;

    if (!*line || *line == '#' || *line == ';')
        return;
    if (!indented && *line == '[') {
        name = section_name(line);
        s->in_section = name && strcmp(name, s->section) == 0;
        s->found_section |= s->in_section;
        s->parent[0] = '\0';
        return;
    }
    if (s->in_section && s->key)
        scan_pair(s, line, indented);
}

static int ini_scan_file(const char *file, struct ini_scan *s)
{
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    char iobuf[8192]; /* stdio's buffer here, not in the heap: wiped below */

    if (!file || !(f = fopen(file, "r")))
        return -1;
    setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
    while (getline(&line, &cap, f) >= 0)
        scan_line(s, line);
    if (line) {
        /* The credentials file holds secrets; don't leave them in the heap. */
        OPENSSL_cleanse(line, cap);
        free(line);
    }
    fclose(f);
    OPENSSL_cleanse(iobuf, sizeof iobuf);
    return 0;
}

char *aws_config_get(const char *file, const char *section, const char *key)
{
    struct ini_scan s = {.section = section, .key = key};

    if (!section || !key)
        return NULL;
    ini_scan_file(file, &s);
    return s.value;
}

static bool ini_has_section(const char *file, const char *section)
{
    struct ini_scan s = {.section = section};

    ini_scan_file(file, &s);
    return s.found_section;
}

bool aws_config_has_section(const char *file, const char *section)
{
    return ini_has_section(file, section);
}

char *aws_profile_config(const struct aws_config *cfg, const char *profile,
                         const char *key)
{
    char section[300];
    char *v;

    snprintf(section, sizeof section, "profile %s", profile);
    v = aws_config_get(cfg->config_file, section, key);
    if (!v && strcmp(profile, "default") == 0)
        v = aws_config_get(cfg->config_file, "default", key);
    return v;
}

char *aws_profile_credentials(const struct aws_config *cfg,
                              const char *profile, const char *key)
{
    return aws_config_get(cfg->credentials_file, profile, key);
}

bool aws_profile_exists(const struct aws_config *cfg, const char *profile)
{
    char section[300];

    snprintf(section, sizeof section, "profile %s", profile);
    return ini_has_section(cfg->config_file, section) ||
           (strcmp(profile, "default") == 0 &&
            ini_has_section(cfg->config_file, "default")) ||
           ini_has_section(cfg->credentials_file, profile);
}

/* ---- aws_config_load ---------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && *v ? v : NULL;
}

static bool env_true(const char *name)
{
    const char *v = env(name);

    return v && strcasecmp(v, "true") == 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *home_path(const char *rel)
{
    const char *home = env("HOME");
    struct buf b;

    buf_init(&b, 4096);
    if (buf_printf(&b, "%s/%s", home ? home : ".", rel))
        return NULL;
    return buf_detach(&b);
}

static char *resolve_file(const char *envname, const char *rel)
{
    const char *v = env(envname);

    if (v && v[0] == '~' && v[1] == '/')
        return home_path(v + 2);
    return v ? strdup(v) : home_path(rel);
}

/* [services NAME] sub-section "<svc>.endpoint_url" named by the profile's
 * `services` key. */
static char *services_endpoint(const struct aws_config *cfg,
                               enum aws_service svc)
{
    char *name = aws_profile_config(cfg, cfg->profile, "services");
    char section[300], key[64];
    char *v = NULL;

    if (!name)
        return NULL;
    snprintf(section, sizeof section, "services %s", name);
    snprintf(key, sizeof key, "%s.endpoint_url", aws_service_name(svc));
    v = aws_config_get(cfg->config_file, section, key);
    free(name);
    return v;
}

static char *resolve_endpoint(const struct aws_config *cfg,
                              const struct aws_config_overrides *ov,
                              enum aws_service svc)
{
    static const char *const svc_env[AWS_SVC_COUNT] = {
        "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_IAM",
        "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_KMS"};
    const char *v;
    char *s;

    if (ov && ov->endpoint && *ov->endpoint)
        return strdup(ov->endpoint);
    if (env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
        return NULL;
    if ((v = env(svc_env[svc])) || (v = env("AWS_ENDPOINT_URL")))
        return strdup(v);
    if ((s = services_endpoint(cfg, svc)))
        return s;
    return aws_profile_config(cfg, cfg->profile, "endpoint_url");
}

/* The SSO portal's endpoint, as botocore resolves it for the "sso" client
 * it makes while loading credentials. The mount's one-URL option is for
 * the clients amifs makes, like the CLI's --endpoint-url, so it is not
 * consulted. */
static char *resolve_sso_endpoint(const struct aws_config *cfg)
{
    char *name, *v = NULL;
    const char *e;
    char section[300];

    if (env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
        return NULL;
    if ((e = env("AWS_ENDPOINT_URL_SSO")) || (e = env("AWS_ENDPOINT_URL")))
        return strdup(e);
    if ((name = aws_profile_config(cfg, cfg->profile, "services"))) {
        snprintf(section, sizeof section, "services %s", name);
        v = aws_config_get(cfg->config_file, section, "sso.endpoint_url");
        free(name);
    }
    return v ? v : aws_profile_config(cfg, cfg->profile, "endpoint_url");
}

static char *resolve_profile(const struct aws_config_overrides *ov,
                             bool *explicit_profile)
{
    const char *p = ov ? ov->profile : NULL;

    *explicit_profile = p && *p;
    if (!p || !*p)
        p = env("AWS_PROFILE");
    if (!p)
        p = env("AWS_DEFAULT_PROFILE");
    return strdup(p ? p : "default");
}

static char *resolve_region(const struct aws_config *cfg,
                            const struct aws_config_overrides *ov)
{
    const char *v = ov ? ov->region : NULL;

    if (v && *v)
        return strdup(v);
    if ((v = env("AWS_REGION")) || (v = env("AWS_DEFAULT_REGION")))
        return strdup(v);
    return aws_profile_config(cfg, cfg->profile, "region");
}

static int resolve_attempts(const struct aws_config *cfg,
                            const struct aws_config_overrides *ov)
{
    char *s = NULL, *mode, *end;
    const char *v = env("AWS_MAX_ATTEMPTS");
    long n = 0;
    int legacy;

    if (ov && ov->max_attempts > 0)
        return ov->max_attempts;
    if (!v)
        v = s = aws_profile_config(cfg, cfg->profile, "max_attempts");
    if (v) {
        n = strtol(v, &end, 10);
        if (*end || n < 1 || n > 100)
            n = 0;
    }
    free(s);
    if (n)
        return (int)n;
    /* Legacy mode's default is 5 attempts; standard (ours) is 3. */
    mode = dup_or_null(env("AWS_RETRY_MODE"));
    if (!mode)
        mode = aws_profile_config(cfg, cfg->profile, "retry_mode");
    legacy = mode && strcmp(mode, "legacy") == 0;
    free(mode);
    return legacy ? 5 : 3;
}

static char *resolve_imds(const struct aws_config *cfg)
{
    const char *v = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char *s = v ? strdup(v)
                : aws_profile_config(cfg, cfg->profile,
                                     "ec2_metadata_service_endpoint");
    size_t n;

    if (!s)
        return strdup("http://169.254.169.254");
    n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static void resolve_s3_style(struct aws_config *cfg)
{
    char *style = aws_profile_config(cfg, cfg->profile, "s3.addressing_style");

    /* Custom endpoints are usually an IP or localhost where bucket
     * subdomains cannot resolve: path-style unless told "virtual". */
    if (style && strcmp(style, "virtual") == 0)
        cfg->path_style = false;
    else
        cfg->path_style = (style && strcmp(style, "path") == 0) ||
                          cfg->endpoint[AWS_SVC_S3] != NULL;
    free(style);
}

static int load_fields(struct aws_config *cfg,
                       const struct aws_config_overrides *ov)
{
    const char *v;

    cfg->region = resolve_region(cfg, ov);
    for (int s = 0; s < AWS_SVC_COUNT; s++)
        cfg->endpoint[s] = resolve_endpoint(cfg, ov, (enum aws_service)s);
    cfg->sso_endpoint = resolve_sso_endpoint(cfg);
    v = ov && ov->ca_bundle && *ov->ca_bundle ? ov->ca_bundle
                                              : env("AWS_CA_BUNDLE");
    cfg->ca_bundle = v ? strdup(v)
                       : aws_profile_config(cfg, cfg->profile, "ca_bundle");
    cfg->imds_endpoint = resolve_imds(cfg);
    cfg->imds_disabled = env_true("AWS_EC2_METADATA_DISABLED");
    cfg->max_attempts = resolve_attempts(cfg, ov);
    v = env("AMIFS_CREDENTIAL_PROCESS_TIMEOUT");
    if (v) {
        long t = strtol(v, NULL, 10);
        cfg->process_timeout_s = t > 0 && t <= 86400 ? (int)t : 0;
    }
    resolve_s3_style(cfg);
    return cfg->imds_endpoint ? 0 : -1;
}

int aws_config_load(struct aws_config *cfg,
                    const struct aws_config_overrides *ov,
                    struct aws_error *err)
{
    bool explicit_profile;

    memset(cfg, 0, sizeof *cfg);
    cfg->profile = resolve_profile(ov, &explicit_profile);
    cfg->profile_explicit = explicit_profile;
    cfg->config_file = resolve_file("AWS_CONFIG_FILE", ".aws/config");
    cfg->credentials_file =
        resolve_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    if (!cfg->profile || !cfg->config_file || !cfg->credentials_file ||
        load_fields(cfg, ov)) {
        aws_config_release(cfg);
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    }
    if (strcmp(cfg->profile, "default") != 0 &&
        !aws_profile_exists(cfg, cfg->profile)) {
        aws_error_set(err, AWS_ERR_CONFIG,
                      "The config profile (%s) could not be found",
                      cfg->profile);
        aws_config_release(cfg);
        return -1;
    }
    return 0;
}

void aws_config_release(struct aws_config *cfg)
{
    free(cfg->profile);
    free(cfg->region);
    for (int s = 0; s < AWS_SVC_COUNT; s++)
        free(cfg->endpoint[s]);
    free(cfg->ca_bundle);
    free(cfg->config_file);
    free(cfg->credentials_file);
    free(cfg->imds_endpoint);
    free(cfg->sso_endpoint);
    memset(cfg, 0, sizeof *cfg);
}
