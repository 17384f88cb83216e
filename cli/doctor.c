/*
 * doctor.c — `amifs doctor`: every reason an import would fail that can be
 * seen before starting one, each with its fix (see doctor.h).
 *
 * The checks run in the order a failure would hit an import: credentials,
 * region, staging bucket, the vmimport role, the caller's right to import.
 * A failed credentials check stops there: every later call would fail the
 * same way and bury the one line that matters.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aws/config.h"
#include "aws/ec2.h"
#include "aws/s3.h"
#include "aws/xml.h"
#include "cli/doctor.h"
#include "core/policy.h"

/* ---- command line ------------------------------------------------------- */

static const char USAGE[] =
    "usage: amifs %s [--profile NAME] [--region REGION] [--endpoint URL]\n"
    "       %*s [--bucket NAME[/PREFIX]] [--role NAME] [--kms-key KEY]%s\n";

static void usage(FILE *out, bool setup)
{
    const char *cmd = setup ? "setup" : "doctor";
    fprintf(out, USAGE, cmd, (int)strlen(cmd), "",
            setup ? " [--yes]" : " [--json]");
}

static void help(bool setup)
{
    usage(stdout, setup);
    fputs(setup ? "\nPrints what an import needs that the account lacks (the "
                  "staging bucket,\nthe vmimport role, its trust and role "
                  "policies) and, with --yes, creates it.\nRunning it again "
                  "changes nothing.\n"
                : "\nChecks that an import can work: credentials, region, the "
                  "staging bucket\n(exists, same region, writable), the "
                  "vmimport role (trust policy, role\npolicy on the bucket and "
                  "KMS key) and the caller's right to import.\nEach problem "
                  "comes with the command that fixes it. Exit status: 0 "
                  "ready,\n1 not ready, 2 usage error.\n",
          stdout);
    fputs("\n  --profile NAME      AWS profile (else AWS_PROFILE, default)\n"
          "  --region REGION     region of the imports (else the profile's)\n"
          "  --endpoint URL      one endpoint URL for every service\n"
          "  --bucket NAME[/P]   staging bucket (and key prefix) of imports\n"
          "  --role NAME         VM Import service role (vmimport)\n"
          "  --kms-key KEY       KMS key (id, alias/NAME or ARN) for "
          "encrypted AMIs\n"
          "  -v, --verbose       log AWS requests' problems to stderr\n",
          stdout);
    fputs(setup ? "  --yes               apply the plan\n"
                : "  --json              print the report as JSON\n",
          stdout);
}

static int set_bucket(struct acct_opts *o, const char *arg)
{
    size_t n = strcspn(arg, "/");
    if (n == 0 || n >= sizeof(o->bucket)) {
        fprintf(stderr, "error: bad bucket '%s'\n", arg);
        return -1;
    }
    memcpy(o->bucket, arg, n);
    o->bucket[n] = '\0';
    snprintf(o->prefix, sizeof(o->prefix), "%s", arg[n] ? arg + n + 1 : "");
    return 0;
}

static const struct option long_opts[] = {
    {"profile", required_argument, NULL, 'p'},
    {"region", required_argument, NULL, 'r'},
    {"endpoint", required_argument, NULL, 'e'},
    {"bucket", required_argument, NULL, 'b'},
    {"role", required_argument, NULL, 'R'},
    {"kms-key", required_argument, NULL, 'k'},
    {"yes", no_argument, NULL, 'y'},
    {"json", no_argument, NULL, 'j'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into o: 0, 1 (help), or 2 (usage error). */
static int take_opt(int c, bool setup, struct acct_opts *o)
{
    switch (c) {
    case 'p': o->profile = optarg; return 0;
    case 'r': o->region = optarg; return 0;
    case 'e': o->endpoint = optarg; return 0;
    case 'b': return set_bucket(o, optarg) ? 2 : 0;
    case 'R': o->role = optarg; return 0;
    case 'k': o->kms_key = optarg; return 0;
    case 'v': o->verbose = true; return 0;
    case 'h': help(setup); return 1;
    case 'y': o->yes = true; return setup ? 0 : 2;
    case 'j': o->json = true; return setup ? 2 : 0;
    default: return 2;
    }
}

int acct_parse(int argc, char **argv, bool setup, struct acct_opts *o)
{
    int c, rc = 0;
    memset(o, 0, sizeof(*o));
    o->role = "vmimport";
    optind = 0; /* glibc: start over (main may have used getopt) */
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "+hv", long_opts,
                                       NULL)) != -1) {
        rc = take_opt(c, setup, o);
        if (rc == 2)
            fprintf(stderr, "error: unknown or misplaced option '%s'\n",
                    argv[optind - 1]);
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        rc = 2;
    }
    if (rc == 2)
        usage(stderr, setup);
    return rc;
}

/* ---- the client --------------------------------------------------------- */

static void log_stderr(void *ctx, enum aws_log_level lvl, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "amifs: %s: %s\n", names[lvl <= AWS_LOG_DEBUG ? lvl : 3],
            msg);
}

struct aws_client *acct_client(const struct acct_opts *o,
                               struct aws_error *err)
{
    struct aws_client_options opt;
    memset(&opt, 0, sizeof(opt));
    opt.config.profile = o->profile;
    opt.config.region = o->region;
    opt.config.endpoint = o->endpoint;
    /* Expected failures (a missing bucket) are the report's business;
     * the library's own log is for --verbose. */
    opt.logger.fn = o->verbose ? log_stderr : NULL;
    opt.logger.level = AWS_LOG_DEBUG;
    return aws_client_new(&opt, err);
}

void acct_cli(const struct acct_opts *o, char *out, size_t n)
{
    snprintf(out, n, "aws%s%s%s%s", o->profile ? " --profile " : "",
             o->profile ? o->profile : "",
             o->endpoint ? " --endpoint-url " : "",
             o->endpoint ? o->endpoint : "");
}

void acct_partition(const char *arn, char *out, size_t n)
{
    const char *p = arn && strncmp(arn, "arn:", 4) == 0 ? arn + 4 : "aws:";
    size_t len = strcspn(p, ":");
    snprintf(out, n, "%.*s", (int)(len ? len : 3), len ? p : "aws");
}

void acct_kms_arn(const char *key, const char *partition, const char *region,
                  const char *account, char *out, size_t n)
{
    if (!key || !*key)
        snprintf(out, n, "%s", "");
    else if (strncmp(key, "arn:", 4) == 0)
        snprintf(out, n, "%s", key);
    else
        snprintf(out, n, "arn:%s:kms:%s:%s:%s%s", partition, region, account,
                 strncmp(key, "alias/", 6) == 0 ? "" : "key/", key);
}

/* ---- the role's policies ------------------------------------------------ */

void role_policies_release(struct role_policies *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->names[i]);
        free(p->docs ? p->docs[i] : NULL);
    }
    free(p->names);
    free(p->docs);
    memset(p, 0, sizeof(*p));
}

int role_policies_get(struct aws_client *c, const char *role,
                      struct role_policies *out, struct aws_error *err)
{
    memset(out, 0, sizeof(*out));
    if (iam_list_role_policies(c, role, &out->names, &out->n, err) != 0)
        return -1;
    out->docs = calloc(out->n + 1, sizeof(*out->docs));
    if (!out->docs) {
        role_policies_release(out);
        return aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < out->n; i++)
        if (iam_get_role_policy(c, role, out->names[i], &out->docs[i],
                                err) != 0) {
            role_policies_release(out);
            return -1;
        }
    return 0;
}

bool role_policies_has(const struct role_policies *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return true;
    return false;
}

void role_policy_name(const struct role_policies *p, const char *bucket,
                      char *out, size_t n)
{
    if (!role_policies_has(p, "vmimport"))
        snprintf(out, n, "vmimport");
    else
        snprintf(out, n, "vmimport-%s", bucket);
}

void role_missing(const struct role_policies *p, const char *partition,
                  const struct acct_opts *o, const char *kms_arn,
                  struct buf *out, struct buf *optional)
{
    struct policy_need needs[16];
    size_t n = policy_needs(partition, o->bucket, o->prefix, kms_arn, needs,
                            16);
    for (size_t i = 0; i < n; i++) {
        if (policy_docs_allow((const char *const *)p->docs, p->n,
                              needs[i].action, needs[i].resource))
            continue;
        buf_printf(needs[i].required ? out : optional, "%s on '%s'\n",
                   needs[i].action, needs[i].resource);
    }
}

void role_missing_export(const struct role_policies *p, const char *partition,
                         const struct acct_opts *o, struct buf *out)
{
    struct policy_need needs[4];
    size_t n = policy_export_needs(partition, o->bucket, o->prefix, needs, 4);
    for (size_t i = 0; i < n; i++)
        if (!policy_docs_allow((const char *const *)p->docs, p->n,
                               needs[i].action, needs[i].resource))
            buf_printf(out, "%s on '%s'\n", needs[i].action,
                       needs[i].resource);
}

/* ---- the report --------------------------------------------------------- */

struct report {
    bool json;
    int errors;
    int warnings;
    cJSON *items;      /* --json */
    cJSON *hints;      /* hints of the last item */
};

static void report_item(struct report *r, const char *level, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

static void report_item(struct report *r, const char *level, const char *fmt,
                        ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->errors += strcmp(level, "error") == 0;
    r->warnings += strcmp(level, "warning") == 0;
    if (!r->json) {
        printf("%s: %s\n", level, msg);
        return;
    }
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "level", level);
    cJSON_AddStringToObject(it, "message", msg);
    r->hints = cJSON_AddArrayToObject(it, "hints");
    cJSON_AddItemToArray(r->items, it);
}

/* A hint for the last item; several lines become several `hint:` lines. */
static void report_hint(struct report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void report_hint(struct report *r, const char *fmt, ...)
{
    struct buf b;
    va_list ap;
    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (r->json) {
        cJSON_AddItemToArray(r->hints, cJSON_CreateString(buf_cstr(&b)));
    } else {
        const char *s = buf_cstr(&b);
        while (*s) {
            size_t len = strcspn(s, "\n");
            printf("hint: %.*s\n", (int)len, s);
            s += len + (s[len] == '\n');
        }
    }
    buf_release(&b);
}

/* ---- the checks --------------------------------------------------------- */

struct doctor {
    const struct acct_opts *o;
    struct aws_client *c;
    struct report *r;
    const char *region;
    char cli[1200];         /* "aws --endpoint-url …" for hints */
    char setup_cmd[2400];   /* "amifs setup … --yes" for hints */
    char account[32];
    char arn[512];
    char partition[16];
    char kms_arn[512];
    bool bucket_ok;
    bool region_default;    /* no region was set anywhere */
};

static void format_err(const struct aws_error *e, char *out, size_t n)
{
    aws_error_format(e, out, (unsigned)n);
}

static void setup_command(struct doctor *d)
{
    const struct acct_opts *o = d->o;
    snprintf(d->setup_cmd, sizeof(d->setup_cmd),
             "amifs setup%s%s%s%s --region %s --bucket %s%s%s%s%s%s%s --yes",
             o->profile ? " --profile " : "", o->profile ? o->profile : "",
             o->endpoint ? " --endpoint " : "",
             o->endpoint ? o->endpoint : "", d->region,
             o->bucket[0] ? o->bucket : "BUCKET", o->prefix[0] ? "/" : "",
             o->prefix, strcmp(o->role, "vmimport") ? " --role " : "",
             strcmp(o->role, "vmimport") ? o->role : "",
             o->kms_key ? " --kms-key " : "", o->kms_key ? o->kms_key : "");
}

/* Why STS GetCallerIdentity failed, and the fix that matches: AWS not
 * reached (no answer: the endpoint or the network), no credentials found,
 * or credentials AWS refused. */
static void identity_failed(struct doctor *d, const struct aws_error *err,
                            const char *line)
{
    if (err->http_status == 0 &&
        (err->kind == AWS_ERR_NETWORK || err->kind == AWS_ERR_TIMEOUT ||
         err->kind == AWS_ERR_TLS)) {
        report_item(d->r, "error", "cannot reach AWS (STS in %s): %s",
                    d->region, line);
        report_hint(d->r, "check the network%s%s%s; the credentials were "
                    "not checked", d->o->endpoint ? " and --endpoint " : "",
                    d->o->endpoint ? d->o->endpoint : "",
                    d->o->endpoint ? " (is it up?)" : " and the proxy "
                    "settings (HTTPS_PROXY)");
        return;
    }
    if (err->kind == AWS_ERR_CREDENTIALS || err->kind == AWS_ERR_CONFIG) {
        report_item(d->r, "error", "credentials are not usable (none were "
                    "found): %s", line);
        report_hint(d->r, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                          "pass --profile NAME, or run 'aws configure'");
        return;
    }
    report_item(d->r, "error", "credentials are not usable (AWS refused "
                    "them): %s", line);
    report_hint(d->r, "check the access key and secret (or the profile's); "
                "'%s sts get-caller-identity' shows the same", d->cli);
}

static int check_identity(struct doctor *d)
{
    struct sts_identity id;
    struct aws_error err;
    char line[768];
    memset(&id, 0, sizeof(id));
    aws_error_clear(&err);
    if (sts_get_caller_identity(d->c, &id, &err) != 0) {
        format_err(&err, line, sizeof(line));
        identity_failed(d, &err, line);
        return -1;
    }
    snprintf(d->account, sizeof(d->account), "%s", id.account ? id.account : "");
    snprintf(d->arn, sizeof(d->arn), "%s", id.arn ? id.arn : "");
    acct_partition(d->arn, d->partition, sizeof(d->partition));
    report_item(d->r, "ok", "credentials of '%s' (account %s)", d->arn,
                d->account);
    size_t n = strlen(d->arn);
    if (n > 5 && strcmp(d->arn + n - 5, ":root") == 0) {
        report_item(d->r, "warning", "these are the account's root user "
                    "credentials; VM Import is known to refuse them");
        report_hint(d->r, "use an IAM user or role with the VM Import "
                          "permissions instead");
    }
    sts_identity_release(&id);
    return 0;
}

static void check_region(struct doctor *d)
{
    struct ec2_id_list l = {0};
    struct aws_error err;
    char line[768];
    bool found = false;
    aws_error_clear(&err);
    if (ec2_describe_regions(d->c, &l, &err) != 0) {
        format_err(&err, line, sizeof(line));
        report_item(d->r, "warning", "cannot list the regions (%s); region "
                    "'%s' not checked", line, d->region);
        return;
    }
    for (size_t i = 0; i < l.n; i++)
        found = found || strcmp(l.v[i], d->region) == 0;
    if (!found) {
        report_item(d->r, "error", "region '%s' is not enabled for this "
                    "account", d->region);
        report_hint(d->r, "pass --region with one of the account's regions "
                          "('%s ec2 describe-regions' lists them)", d->cli);
    } else if (d->region_default) {
        report_item(d->r, "warning", "region '%s' is a default: no "
                    "--region, AWS_REGION, AWS_DEFAULT_REGION or profile "
                    "region is set", d->region);
        report_hint(d->r, "pass --region REGION (and mount with -o "
                    "region=REGION) to import into another region");
    } else {
        report_item(d->r, "ok", "region '%s'", d->region);
    }
    ec2_id_list_release(&l);
}

static void hint_create_bucket(struct doctor *d)
{
    bool east = strcmp(d->region, "us-east-1") == 0;
    report_hint(d->r, "%s s3api create-bucket --bucket %s --region %s%s%s",
                d->cli, d->o->bucket, d->region,
                east ? "" : " --create-bucket-configuration "
                            "LocationConstraint=",
                east ? "" : d->region);
    report_hint(d->r, "or let amifs do it: %s", d->setup_cmd);
}

/* Exists and lies in the import region? */
static bool check_bucket_location(struct doctor *d)
{
    char loc[64], line[768];
    struct aws_error err;
    const char *b = d->o->bucket;
    aws_error_clear(&err);
    if (s3_get_bucket_location(d->c, b, loc, sizeof(loc), &err) != 0) {
        if (err.http_status == 404) {
            report_item(d->r, "error", "bucket '%s' does not exist", b);
            hint_create_bucket(d);
            return false;
        }
        format_err(&err, line, sizeof(line));
        report_item(d->r, "error", "cannot find the region of bucket '%s': "
                    "%s", b, line);
        report_hint(d->r, "the caller needs s3:GetBucketLocation on "
                          "arn:%s:s3:::%s", d->partition, b);
        return false;
    }
    if (strcmp(loc, d->region) != 0) {
        report_item(d->r, "error", "bucket '%s' is in %s, not %s", b, loc,
                    d->region);
        report_hint(d->r, "VM Import reads only buckets of the import's "
                          "region: use a bucket in %s, or import into %s "
                          "(--region %s, mount option region=%s)",
                    d->region, loc, loc, loc);
        return false;
    }
    return true;
}

/* Put and delete a probe object where uploads will go. */
static void check_bucket_write(struct doctor *d)
{
    char key[1200], line[768];
    struct aws_error err;
    const struct acct_opts *o = d->o;
    size_t pl = strlen(o->prefix);
    snprintf(key, sizeof(key), "%s%s.amifs-doctor-probe-%ld", o->prefix,
             pl && o->prefix[pl - 1] != '/' ? "/" : "", (long)getpid());
    aws_error_clear(&err);
    if (s3_put_object(d->c, o->bucket, key, "amifs doctor\n", 13, NULL,
                      &err) != 0) {
        format_err(&err, line, sizeof(line));
        report_item(d->r, "error", "cannot write to bucket '%s': %s",
                    o->bucket, line);
        report_hint(d->r, "the caller needs s3:PutObject, "
                          "s3:AbortMultipartUpload and s3:DeleteObject on "
                          "arn:%s:s3:::%s/%s*", d->partition, o->bucket,
                    o->prefix);
        return;
    }
    if (s3_delete_object(d->c, o->bucket, key, &err) != 0) {
        format_err(&err, line, sizeof(line));
        report_item(d->r, "warning", "cannot delete the probe object "
                    "'s3://%s/%s': %s", o->bucket, key, line);
    }
    report_item(d->r, "ok", "bucket '%s' in %s, writable", o->bucket,
                d->region);
}

/* The safety net for copies that died: a lifecycle rule that aborts
 * incomplete multipart uploads (a warning when absent: imports work). */
static void check_lifecycle(struct doctor *d)
{
    struct s3_lifecycle lc;
    struct aws_error err;
    char line[768];
    aws_error_clear(&err);
    if (s3_get_lifecycle(d->c, d->o->bucket, d->o->prefix, &lc, &err) != 0) {
        format_err(&err, line, sizeof(line));
        report_item(d->r, "warning", "cannot read the lifecycle rules of "
                    "bucket '%s' (%s); not checked", d->o->bucket, line);
        return;
    }
    if (lc.abort_days > 0) {
        report_item(d->r, "ok", "bucket '%s' aborts multipart uploads left "
                    "incomplete for %d days", d->o->bucket, lc.abort_days);
        return;
    }
    report_item(d->r, "warning", "bucket '%s' has no lifecycle rule that "
                "aborts incomplete multipart uploads: the parts of a copy "
                "that died stay (and are billed) until removed",
                d->o->bucket);
    if (lc.nrules)
        report_hint(d->r, "add a rule with AbortIncompleteMultipartUpload "
                          "to the bucket's lifecycle configuration");
    else
        report_hint(d->r, "%s", d->setup_cmd);
}

static void check_bucket(struct doctor *d)
{
    if (!d->o->bucket[0]) {
        report_item(d->r, "error", "no staging bucket given");
        report_hint(d->r, "pass --bucket NAME[/PREFIX] (the mount option is "
                          "bucket=NAME[/PREFIX]); to create one: %s",
                    d->setup_cmd);
        return;
    }
    d->bucket_ok = check_bucket_location(d);
    if (d->bucket_ok)
        check_bucket_write(d);
    if (d->bucket_ok)
        check_lifecycle(d);
}

/* The fixes for a role: create it, or update its trust, or add a policy. */
static void hint_role_policy(struct doctor *d, const struct role_policies *p)
{
    char name[128];
    char *doc = policy_role_doc(d->partition, d->o->bucket[0] ? d->o->bucket
                                                             : "BUCKET",
                                d->o->prefix, d->kms_arn);
    role_policy_name(p, d->o->bucket, name, sizeof(name));
    report_hint(d->r, "%s iam put-role-policy --role-name %s --policy-name "
                      "%s --policy-document '%s'",
                d->cli, d->o->role, name, doc ? doc : "");
    free(doc);
}

static bool check_role_exists(struct doctor *d, struct iam_role *role)
{
    struct aws_error err;
    char line[768];
    aws_error_clear(&err);
    if (iam_get_role(d->c, d->o->role, role, &err) == 0)
        return true;
    if (strcmp(err.code, "NoSuchEntity") == 0) {
        struct role_policies none = {0};
        char *trust = policy_trust_doc();
        report_item(d->r, "error", "role '%s' does not exist", d->o->role);
        report_hint(d->r, "%s iam create-role --role-name %s "
                          "--assume-role-policy-document '%s'",
                    d->cli, d->o->role, trust ? trust : "");
        hint_role_policy(d, &none);
        report_hint(d->r, "or let amifs do both: %s", d->setup_cmd);
        free(trust);
        return false;
    }
    format_err(&err, line, sizeof(line));
    report_item(d->r, "warning", "cannot read role '%s' (%s); not checked",
                d->o->role, line);
    return false;
}

static void check_trust(struct doctor *d, const struct iam_role *role)
{
    char why[512];
    const char *doc = role->assume_role_policy ? role->assume_role_policy
                                               : "";
    if (policy_check_trust(doc, why, sizeof(why)) == POLICY_TRUST_OK) {
        report_item(d->r, "ok", "role '%s' trusts vmie.amazonaws.com with "
                    "sts:Externalid 'vmimport'", d->o->role);
        return;
    }
    char *trust = policy_trust_doc();
    /* Without the ExternalId condition VM Import is refused too: AWS's
     * guide makes it part of the contract, and the service checks it. */
    report_item(d->r, "error", "role '%s' cannot be used by VM Import: %s",
                d->o->role, why);
    report_hint(d->r, "%s iam update-assume-role-policy --role-name %s "
                      "--policy-document '%s'",
                d->cli, d->o->role, trust ? trust : "");
    free(trust);
}

static void report_missing(struct doctor *d, const struct role_policies *p,
                           const struct buf *missing,
                           const struct buf *optional)
{
    const char *s = buf_cstr(missing);
    for (size_t len; *s; s += len + 1) {
        len = strcspn(s, "\n");
        report_item(d->r, "error", "role '%s' does not allow %.*s",
                    d->o->role, (int)len, s);
    }
    if (missing->len) {
        hint_role_policy(d, p);
        report_hint(d->r, "(only the role's inline policies are inspected)");
    }
    for (s = buf_cstr(optional); *s;) {
        size_t len = strcspn(s, "\n");
        report_item(d->r, "warning", "role '%s' does not allow %.*s, which "
                    "AWS's VM Import guide grants", d->o->role, (int)len, s);
        s += len + 1;
    }
}

/* Export rights: a warning (imports work without them) with the fix. */
static void check_export_rights(struct doctor *d,
                                const struct role_policies *p)
{
    struct buf exp;
    buf_init(&exp, 0);
    role_missing_export(p, d->partition, d->o, &exp);
    const char *s = buf_cstr(&exp);
    for (size_t len; *s; s += len + 1) {
        len = strcspn(s, "\n");
        report_item(d->r, "warning", "role '%s' may not write exports "
                    "(mkdir amis/ami-…/export-to/vmdk): it does not allow "
                    "%.*s", d->o->role, (int)len, s);
    }
    if (exp.len) {
        hint_role_policy(d, p);
        report_hint(d->r, "or let amifs do it: %s", d->setup_cmd);
    }
    buf_release(&exp);
}

static void check_role_policy(struct doctor *d)
{
    struct role_policies p;
    struct aws_error err;
    struct buf missing, optional;
    char line[768];
    aws_error_clear(&err);
    if (role_policies_get(d->c, d->o->role, &p, &err) != 0) {
        format_err(&err, line, sizeof(line));
        report_item(d->r, "warning", "cannot read the policies of role '%s' "
                    "(%s); not checked", d->o->role, line);
        return;
    }
    buf_init(&missing, 0);
    buf_init(&optional, 0);
    role_missing(&p, d->partition, d->o, d->kms_arn, &missing, &optional);
    if (!missing.len)
        report_item(d->r, "ok", "role '%s' may read bucket '%s'%s",
                    d->o->role, d->o->bucket,
                    d->kms_arn[0] ? " and use the KMS key" : "");
    report_missing(d, &p, &missing, &optional);
    if (!missing.len)
        check_export_rights(d, &p);
    buf_release(&missing);
    buf_release(&optional);
    role_policies_release(&p);
}

static void check_role(struct doctor *d)
{
    struct iam_role role;
    memset(&role, 0, sizeof(role));
    if (!check_role_exists(d, &role))
        return;
    check_trust(d, &role);
    iam_role_release(&role);
    if (d->o->bucket[0])
        check_role_policy(d);
}

/* ImportImage with DryRun: AWS answers DryRunOperation when the caller may
 * import, UnauthorizedOperation when not, and starts nothing either way. */
static int dry_run_import(struct doctor *d, struct aws_error *err)
{
    struct ec2_disk_container disk = {
        .format = "VMDK", .s3_bucket = d->o->bucket,
        .s3_key = "amifs-doctor-dry-run.vmdk"};
    struct ec2_import_params p = {
        .disks = &disk, .ndisks = 1, .description = "amifs doctor dry run",
        .role_name = d->o->role};

    return ec2_import_image_dry_run(d->c, &p, err);
}

static void check_caller(struct doctor *d)
{
    struct aws_error err;
    char line[768];
    if (!d->o->bucket[0])
        return;
    aws_error_clear(&err);
    int rc = dry_run_import(d, &err);
    if (rc == 1) {
        report_item(d->r, "warning", "the endpoint ignored DryRun on "
                    "ImportImage; the caller's rights are not checked");
        return;
    }
    if (rc == 0) {
        report_item(d->r, "ok", "'%s' may call ec2:ImportImage", d->arn);
        return;
    }
    format_err(&err, line, sizeof(line));
    if (strcmp(err.code, "UnauthorizedOperation") != 0) {
        report_item(d->r, "warning", "cannot check the caller's right to "
                    "import: %s", line);
        return;
    }
    report_item(d->r, "error", "'%s' may not call ec2:ImportImage", d->arn);
    report_hint(d->r, "grant the caller this policy: {\"Version\":"
                "\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\","
                "\"Action\":[\"ec2:ImportImage\",\"ec2:DescribeImportImage"
                "Tasks\",\"ec2:CancelImportTask\",\"ec2:DescribeImages\","
                "\"ec2:DescribeSnapshots\",\"ec2:CreateTags\"],\"Resource\":"
                "\"*\"},{\"Effect\":\"Allow\",\"Action\":\"iam:PassRole\","
                "\"Resource\":\"arn:%s:iam::%s:role/%s\"}]}",
                d->partition, d->account, d->o->role);
}

static void check_all(struct doctor *d)
{
    if (check_identity(d) != 0)
        return;
    acct_kms_arn(d->o->kms_key, d->partition, d->region, d->account,
                 d->kms_arn, sizeof(d->kms_arn));
    check_region(d);
    check_bucket(d);
    check_role(d);
    check_caller(d);
}

static void print_summary(const struct doctor *d)
{
    if (d->r->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ready", d->r->errors == 0);
        cJSON_AddStringToObject(doc, "region", d->region);
        cJSON_AddItemReferenceToObject(doc, "checks", d->r->items);
        char *text = cJSON_Print(doc);
        printf("%s\n", text ? text : "{}");
        cJSON_free(text);
        cJSON_Delete(doc);
    } else if (d->r->errors) {
        printf("amifs: %d problem%s found: imports into %s will fail\n",
               d->r->errors, d->r->errors == 1 ? "" : "s", d->region);
    } else {
        printf("amifs: ready to import into %s\n", d->region);
    }
}

/* Whether no region is set (option, environment, profile): the client
 * then uses the instance's region or us-east-1. */
static bool region_unset(const struct acct_opts *o)
{
    struct aws_config cfg;
    struct aws_config_overrides ov = {.profile = o->profile,
                                      .region = o->region,
                                      .endpoint = o->endpoint};
    struct aws_error err;
    memset(&cfg, 0, sizeof cfg);
    aws_error_clear(&err);
    if (aws_config_load(&cfg, &ov, &err) != 0)
        return false;
    bool unset = !cfg.region || !*cfg.region;
    aws_config_release(&cfg);
    return unset;
}

int amifs_doctor_main(int argc, char **argv)
{
    struct acct_opts o;
    struct aws_error err;
    struct report r = {0};
    int rc = acct_parse(argc, argv, false, &o);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    aws_error_clear(&err);
    struct aws_client *c = acct_client(&o, &err);
    if (!c) {
        char line[768];
        format_err(&err, line, sizeof(line));
        fprintf(stderr, "error: cannot set up the AWS client: %s\n", line);
        return 1;
    }
    r.json = o.json;
    r.items = cJSON_CreateArray();
    struct doctor d = {.o = &o, .c = c, .r = &r};
    d.region = aws_client_region(c);
    d.region_default = region_unset(&o);
    acct_cli(&o, d.cli, sizeof(d.cli));
    setup_command(&d);
    check_all(&d);
    print_summary(&d);
    cJSON_Delete(r.items);
    aws_client_free(c);
    return r.errors ? 1 : 0;
}
