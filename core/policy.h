/*
 * policy.h — IAM policy documents for the VM Import service role: the ones
 * `amifs setup` writes, and the judgement `amifs doctor` makes of the ones
 * it finds. Pure functions over JSON text (cJSON); no network, no globals.
 *
 * Evaluation is the part of IAM's logic that matters here: a request is
 * allowed when some Allow statement matches its action and resource and no
 * Deny statement does. Action, NotAction, Resource, NotResource may each be
 * a string or a list; `*` and `?` are wildcards; actions compare without
 * case, resources with case. Conditions on permission statements are not
 * evaluated (a conditional Allow counts as an Allow).
 *
 * Wildcards in what we ask about: asking whether "arn:aws:s3:::b/" + "*"
 * is covered matches the policy's patterns against that literal text, so a
 * pattern covers it only if it covers every key ("b/" + "*", "b*", "*"),
 * which is the question we mean.
 *
 * Returned strings are malloc'd (caller frees); NULL only when out of
 * memory.
 */
#ifndef AMIFS_CORE_POLICY_H
#define AMIFS_CORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* The external id VM Import passes when it assumes the role. */
#define POLICY_EXTERNAL_ID "vmimport"
#define POLICY_SERVICE "vmie.amazonaws.com"

/* IAM's wildcard match: `*` any run, `?` one character. */
bool policy_glob(const char *pattern, const char *s, bool nocase);

/* The trust policy VM Import needs (compact JSON). */
char *policy_trust_doc(void);

/* The role policy: read access to bucket[/prefix] (prefix NULL or "" for the
 * whole bucket), the EC2 actions VM Import performs, and with kms_arn the
 * KMS actions on that key. partition: "aws" (or "aws-cn", …). */
char *policy_role_doc(const char *partition, const char *bucket,
                      const char *prefix, const char *kms_arn);

/* Pretty-print JSON text (for plans and hints); NULL if not JSON. */
char *policy_pretty(const char *json);

enum policy_trust {
    POLICY_TRUST_OK,          /* vmie trusted with ExternalId vmimport */
    POLICY_TRUST_NO_EXTERNAL_ID, /* trusted, without the ExternalId check */
    POLICY_TRUST_BAD,         /* VM Import cannot assume the role */
};
/* Judge a trust policy; `why` (n bytes) gets a lowercase sentence saying
 * what is wrong (or "" when OK). */
enum policy_trust policy_check_trust(const char *json, char *why, size_t n);

/* 1 allowed, 0 not, -1 when the document is not a policy. */
int policy_allows(const char *json, const char *action, const char *resource);
/* Whether any Deny in the document matches. */
bool policy_denies(const char *json, const char *action, const char *resource);

/* One thing the role must be allowed to do. `required` false: AWS's
 * documentation asks for it but imports have been seen to work without. */
struct policy_need {
    const char *action;
    char resource[1600];
    bool required;
};
/* Fill at most `max` needs for the bucket[/prefix] and optional KMS key;
 * returns how many. */
size_t policy_needs(const char *partition, const char *bucket,
                    const char *prefix, const char *kms_arn,
                    struct policy_need *out, size_t max);

/* What ExportImage needs of the role (doc/design/exports.md): s3:PutObject
 * on the objects below bucket[/prefix] and s3:GetBucketAcl on the bucket
 * (AWS's VM Import/Export guide). Fills at most `max`; returns how many. */
size_t policy_export_needs(const char *partition, const char *bucket,
                           const char *prefix, struct policy_need *out,
                           size_t max);

/* Over several documents (a role's inline policies): allowed by one and
 * denied by none. */
bool policy_docs_allow(const char *const *docs, size_t n, const char *action,
                       const char *resource);

#endif
