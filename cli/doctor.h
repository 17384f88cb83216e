/*
 * doctor.h — `amifs doctor`: can an import work from this account, and if
 * not, what exactly to change. Also the account context and checks that
 * `amifs setup` (cli/setup.c) shares.
 *
 * amifs_doctor_main() takes the arguments after `amifs` (argv[0] is
 * "doctor"), prints a report on stdout in git's style — `ok: …`,
 * `warning: …`, `error: …`, each problem followed by `hint:` lines that give
 * the exact command (or JSON) that fixes it — and returns the exit status:
 * 0 when an import can work, 1 when not, 2 on a usage error. With --json the
 * report is one JSON document instead.
 *
 * Options (both commands): --profile P, --region R, --endpoint URL,
 * --bucket NAME[/prefix], --role NAME (vmimport), --kms-key KEY (id, alias
 * or ARN), -v/--verbose (log HTTP-level problems to stderr), -h/--help.
 * setup adds --yes; doctor adds --json.
 *
 * Secrets never reach the report: only account ids, ARNs and AWS error
 * codes/messages are printed.
 */
#ifndef AMIFS_CLI_DOCTOR_H
#define AMIFS_CLI_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/client.h"
#include "aws/iam.h"
#include "aws/sts.h"

int amifs_doctor_main(int argc, char **argv);

/* Parsed command line of doctor/setup. Strings point into argv (or are
 * static defaults), except bucket/prefix which are copied. */
struct acct_opts {
    const char *profile;
    const char *region;
    const char *endpoint;
    char bucket[64];      /* "" when not given */
    char prefix[1024];    /* "" for the whole bucket */
    const char *role;     /* never NULL: "vmimport" by default */
    const char *kms_key;  /* NULL when not given */
    bool yes;
    bool json;
    bool verbose;
};

/* Parse argv (argv[0] is the subcommand). Returns 0 to go on, 1 when help
 * was printed (exit 0), 2 after printing a usage error to stderr. */
int acct_parse(int argc, char **argv, bool setup, struct acct_opts *o);

/* The client for these options; logs to stderr (warnings only unless
 * verbose). NULL with err filled. */
struct aws_client *acct_client(const struct acct_opts *o,
                               struct aws_error *err);

/* "aws --profile P --endpoint-url E" — the CLI prefix that hints use, so a
 * printed fix runs against the same account and endpoint. */
void acct_cli(const struct acct_opts *o, char *out, size_t n);

/* "aws" from "arn:aws:iam::…" (the partition for ARNs we build). */
void acct_partition(const char *arn, char *out, size_t n);

/* The KMS key as an ARN (ids and aliases are expanded with the region and
 * account); out gets "" when key is NULL. */
void acct_kms_arn(const char *key, const char *partition, const char *region,
                  const char *account, char *out, size_t n);

/* A role's inline policy documents (ListRolePolicies + GetRolePolicy), and
 * whether one is named `name`. 0 or -1 (err filled). */
struct role_policies {
    char **names;
    char **docs;
    size_t n;
};
int role_policies_get(struct aws_client *c, const char *role,
                      struct role_policies *out, struct aws_error *err);
void role_policies_release(struct role_policies *p);
bool role_policies_has(const struct role_policies *p, const char *name);

/* The inline policy name setup uses: "vmimport" unless the role already
 * has one of that name (which setup never overwrites), then
 * "vmimport-BUCKET". */
void role_policy_name(const struct role_policies *p, const char *bucket,
                      char *out, size_t n);

/* Missing role permissions for the bucket/KMS key, as "action on resource"
 * lines into `out` (empty when nothing required is missing); `optional`
 * gets the missing ones AWS documents but imports survive without. */
void role_missing(const struct role_policies *p, const char *partition,
                  const struct acct_opts *o, const char *kms_arn,
                  struct buf *out, struct buf *optional);

/* The same for what ExportImage needs (exports/, doc/design/exports.md):
 * "action on resource" lines into `out`, empty when the role may export
 * into the bucket. Imports work without them. */
void role_missing_export(const struct role_policies *p, const char *partition,
                         const struct acct_opts *o, struct buf *out);

#endif
