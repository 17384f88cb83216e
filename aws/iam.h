/*
 * iam.h — IAM role calls for the vmimport service role (query protocol,
 * API version 2010-05-08; aws/iam.c). STS lives in aws/sts.h.
 *
 * Who calls: `amifs setup` (create the role, put its policy, fix its trust
 * policy) and `amifs doctor` (read them back and compare with what
 * core/policy.c says they should be). The mount itself never calls IAM.
 *
 * IAM is global: every call is signed for us-east-1 whatever the client's
 * region (aws_query() does that when no region is given). Policy
 * documents go out as plain JSON (the form encodes them) and come back
 * URL-decoded (IAM sends them %-encoded) as JSON text, byte for byte what
 * IAM stored; comparing them semantically is the caller's business.
 *
 * Ownership: out structs and returned strings/arrays are malloc'd; the
 * caller releases them (iam_role_release(), free()). On failure outputs
 * are left empty (NULL / zero).
 *
 * Errors: 0 or -1 with err filled. IAM's codes come through as
 * AWS_ERR_SERVICE with err->code: NoSuchEntity (404) for a missing role or
 * policy, EntityAlreadyExists, MalformedPolicyDocument, LimitExceeded,
 * AccessDenied. An answer without the expected elements is AWS_ERR_PARSE.
 *
 * Threads: every function is thread-safe (the client is); none keeps state.
 * Writes (create, put, update) are idempotent and retried as such.
 */
#ifndef AMIFS_AWS_IAM_H
#define AMIFS_AWS_IAM_H

#include "aws/client.h"

struct iam_role {
    char *role_name;
    char *arn;
    char *assume_role_policy; /* JSON, decoded */
};
void iam_role_release(struct iam_role *r);

/* A missing role is AWS_ERR_SERVICE with code "NoSuchEntity" (404). */
int iam_get_role(struct aws_client *c, const char *name, struct iam_role *out,
                 struct aws_error *err);
int iam_create_role(struct aws_client *c, const char *name,
                    const char *trust_policy_json, const char *description,
                    struct iam_role *out, struct aws_error *err);
int iam_put_role_policy(struct aws_client *c, const char *role,
                        const char *policy_name, const char *policy_json,
                        struct aws_error *err);
/* Replace the role's trust policy (UpdateAssumeRolePolicy) with
 * `trust_policy_json` (plain JSON; the form encodes it). Idempotent: the
 * same document twice leaves the same role. A missing role is
 * AWS_ERR_SERVICE "NoSuchEntity"; a malformed document
 * "MalformedPolicyDocument". 0 or -1 (err filled). */
int iam_update_assume_role_policy(struct aws_client *c, const char *role,
                                  const char *trust_policy_json,
                                  struct aws_error *err);
/* *policy_json: malloc'd decoded JSON. */
int iam_get_role_policy(struct aws_client *c, const char *role,
                        const char *policy_name, char **policy_json,
                        struct aws_error *err);
/* Inline policy names of a role (ListRolePolicies), malloc'd array. */
int iam_list_role_policies(struct aws_client *c, const char *role,
                           char ***names, size_t *n, struct aws_error *err);

/* --- Pure parsers, exposed for unit tests (0 or -1 with err) ------------- */
struct xml_node;
/* The <Role> of a GetRole or CreateRole answer. */
int iam_parse_role(const struct xml_node *root, struct iam_role *out,
                   struct aws_error *err);
/* GetRolePolicy's document, decoded; *policy_json malloc'd. */
int iam_parse_role_policy(const struct xml_node *root, char **policy_json,
                          struct aws_error *err);
/* Appends ListRolePolicies names to *names (count *n); *marker malloc'd
 * when IsTruncated, else NULL. */
int iam_parse_policy_names(const struct xml_node *root, char ***names,
                           size_t *n, char **marker, struct aws_error *err);
#endif
