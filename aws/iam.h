/*
 * iam.h / sts — IAM role calls for the vmimport service role, STS identity.
 * IAM is global (signed for us-east-1). Policy documents are returned
 * URL-decoded (IAM sends them %-encoded) as JSON text.
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
/* *policy_json: malloc'd decoded JSON. */
int iam_get_role_policy(struct aws_client *c, const char *role,
                        const char *policy_name, char **policy_json,
                        struct aws_error *err);
/* Inline policy names of a role (ListRolePolicies), malloc'd array. */
int iam_list_role_policies(struct aws_client *c, const char *role,
                           char ***names, size_t *n, struct aws_error *err);

struct sts_identity {
    char *account;
    char *arn;
    char *user_id;
};
void sts_identity_release(struct sts_identity *id);
int sts_get_caller_identity(struct aws_client *c, struct sts_identity *out,
                            struct aws_error *err);

/* AssumeRole with explicit source credentials (used by the credentials
 * provider; does not consult the client's own credentials). */
struct aws_credentials;
int sts_assume_role(struct aws_client *c, const struct aws_credentials *src,
                    const char *role_arn, const char *session_name,
                    const char *external_id, int duration_s,
                    struct aws_credentials *out, struct aws_error *err);

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
int sts_parse_caller_identity(const struct xml_node *root,
                              struct sts_identity *out, struct aws_error *err);
/* AssumeRole's <Credentials>; out->source = "assume-role". */
int sts_parse_assume_role(const struct xml_node *root,
                          struct aws_credentials *out, struct aws_error *err);
/* The form body AssumeRole sends (exposed to test its encoding). */
struct buf;
int sts_assume_role_body(struct buf *out, const char *role_arn,
                         const char *session_name, const char *external_id,
                         int duration_s);

#endif
