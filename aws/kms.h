/*
 * kms.h — the few AWS KMS actions the AMI lifecycle needs (JSON 1.1
 * protocol, target prefix "TrentService", which only aws/kms.c names):
 * resolving a key given as id, ARN, alias name or alias ARN to its key
 * ARN (DescribeKey), reading a key policy (GetKeyPolicy), and granting
 * another account the use of a key (CreateGrant).
 *
 * Who calls it: fs/amis.c for encrypted copies (copy-to/REGION@KEY: the
 * key is resolved before CopyImage, and the copy's snapshots are compared
 * with the key ARN) and for sharing an encrypted AMI (launch-permissions:
 * is the key AWS managed, does its policy let the other account use it,
 * grant it with the mount's consent).
 *
 * Wire rules: POST / with Content-Type application/x-amz-json-1.1 and
 * X-Amz-Target TrentService.<Action>; the body is a JSON object built with
 * cJSON, the answer parsed with cJSON. Errors arrive as JSON {"__type",
 * "message"} and land in err as AWS_ERR_SERVICE with err->code as KMS
 * spells it (NotFoundException, AccessDeniedException, DisabledException,
 * KMSInvalidStateException…); aws_error_errno() maps them.
 *
 * Retries: DescribeKey and GetKeyPolicy are idempotent. CreateGrant is
 * sent with a grant Name, and KMS answers a repeated CreateGrant of the
 * same name, grantee and operations with the same grant, so it is retried
 * after a lost answer as well.
 *
 * Ownership: strings returned through char ** are malloc'd and the
 * caller's; parameters are borrowed for the call. Every function is
 * thread-safe and keeps no state; 0 or -1 with err filled.
 */
#ifndef AMIFS_AWS_KMS_H
#define AMIFS_AWS_KMS_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/client.h"

/* A key as DescribeKey describes it. manager is "AWS" for AWS managed keys
 * (aws/ebs: such a key cannot be shared with another account) and
 * "CUSTOMER" for customer managed keys; enabled is KeyState == Enabled. */
struct kms_key {
    char *arn;        /* arn:aws:kms:REGION:ACCOUNT:key/ID */
    char *key_id;
    char *account;    /* AWSAccountId */
    char *manager;    /* "AWS" or "CUSTOMER" (NULL when not said) */
    bool enabled;
};
void kms_key_release(struct kms_key *k);

/* DescribeKey in `region` (NULL: the client's) for key, given as a key id,
 * key ARN, "alias/NAME" or alias ARN. An unknown key or alias is
 * NotFoundException (ENOENT). */
int kms_describe_key(struct aws_client *c, const char *region,
                     const char *key, struct kms_key *out,
                     struct aws_error *err);

/* GetKeyPolicy "default" of key (an id or ARN): the policy document, as
 * JSON text, into *policy. */
int kms_get_key_policy(struct aws_client *c, const char *region,
                       const char *key, char **policy,
                       struct aws_error *err);

/* CreateGrant on key (id or ARN) for grantee (an account's root ARN
 * "arn:aws:iam::ACCOUNT:root", or any principal ARN) with the operations
 * in ops[0..nops) ("Decrypt", "DescribeKey", "CreateGrant", …) under the
 * grant name `name`. The new grant's id into *grant_id (may be NULL). */
int kms_create_grant(struct aws_client *c, const char *region,
                     const char *key, const char *grantee,
                     const char *const *ops, size_t nops, const char *name,
                     char **grant_id, struct aws_error *err);

#endif
