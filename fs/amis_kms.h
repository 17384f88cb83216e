/*
 * amis_kms.h — what fs/amis.c asks of KMS when it copies or shares an AMI
 * (design: doc/design/lifecycle.md).
 *
 * Encrypted copies. `mkdir amis/ami-X/copy-to/REGION@KEY` (KEY a key id,
 * key ARN, alias/NAME or alias ARN, '/' written %2F) or plain
 * `copy-to/REGION` on a mount with -o kms_key=KEY: the key is resolved in
 * the destination region before anything starts (amis_kms_resolve: an
 * unknown or disabled key refuses the mkdir, no CopyImage is sent), the
 * copy is made with Encrypted and that key's ARN, and its snapshots are
 * then checked to carry that key (amis_kms_verify_copy). A copy whose
 * snapshots carry another key is deregistered again (with its snapshots)
 * and the mkdir fails: nothing half-done stays.
 *
 * Sharing encrypted AMIs. Before launch-permissions adds accounts,
 * amis_kms_share_check looks at the AMI's snapshots:
 *   - encrypted with the AWS managed key aws/ebs (or without a key id):
 *     -EPERM, AWS cannot share those; the sentence points to the
 *     re-encrypting copy;
 *   - "all" (public) on an encrypted AMI: -EPERM, AWS does not allow it;
 *   - a customer managed key: with `share_kms_grants` (mount option, the
 *     consent) a grant per added account is created (CreateGrant, the
 *     operations launching needs); without it the key policy must already
 *     let the account use the key, else -EACCES and *advice holds the
 *     exact key-policy statement to add (one JSON object per account).
 *   - an organization or OU ARN on a customer managed key: -EACCES
 *     always, even with `share_kms_grants` (a grant names one principal,
 *     never an organization); *advice holds the key-policy statement
 *     with the condition aws:PrincipalOrgID, and no grant is made for the
 *     other accounts of that write either.
 * Nothing is shared by fs/amis.c when the check fails.
 *
 * Every refusal also goes to MOUNT/.amifs/errors (core/errlog.h) with the
 * path and sentence. Functions may be called from any thread; they keep no
 * state and hold no lock; they make HTTP calls.
 */
#ifndef AMIFS_FS_AMIS_KMS_H
#define AMIFS_FS_AMIS_KMS_H

#include <stddef.h>

#include "aws/ec2.h"
#include "aws/kms.h"
#include "fs/fs.h"

/* The operations a grant for launching a shared encrypted AMI names. */
#define AMIS_KMS_GRANT_OPS                                                     \
    {"Decrypt", "DescribeKey", "CreateGrant", "ReEncryptFrom", "ReEncryptTo",  \
     "GenerateDataKeyWithoutPlaintext"}

/* Resolve `key` in `region` to a usable customer or AWS key: 0 with *out
 * filled (release with kms_key_release), or -EINVAL (unknown, disabled;
 * refused with `what` as the path in .amifs/errors) or another -errno. */
int amis_kms_resolve(struct amifs *fs, struct aws_client *c,
                     const char *region, const char *key, const char *what,
                     struct kms_key *out);

/* After CopyImage: the snapshots of `image_id` in `region` carry key_arn?
 * 0 (yes, or no snapshot listed yet: logged), -EIO when one carries
 * another key or none (refused with `what`), or the AWS errno. */
int amis_kms_verify_copy(struct amifs *fs, struct aws_client *c,
                         const char *region, const char *image_id,
                         const struct kms_key *key, const char *what);

/* Before sharing `image_id` in `region` with the users in `add` (account
 * ids, "all" for the public): see above. `grants` is the mount's consent.
 * 0 (nothing in the way, or the grants were made), -EPERM, -EACCES (then
 * *advice is a malloc'd text of comment lines holding the statements, or
 * NULL), or the AWS errno. `what` is the path for .amifs/errors. */
int amis_kms_share_check(struct amifs *fs, struct aws_client *c,
                         const char *region, const char *image_id,
                         const struct ec2_id_list *add, bool grants,
                         const char *what, char **advice);

/* One copy-to/DIR: the source (its region and id, the name the copy
 * gets), DIR as written ("REGION" or "REGION@KEY", KEY name-encoded; no
 * "@KEY": the mount's kms_key, if any), `what` the path for
 * .amifs/errors, region_known (may be NULL) the check of REGION. */
struct amis_copy {
    struct aws_client *client;
    const char *src_region;
    const char *src_id;
    const char *name;
    const char *dir;
    const char *what;
    int (*region_known)(struct amifs *fs, const char *name);
};

/* Start the copy: DIR parsed (-EINVAL, refused), the region checked, the
 * key resolved, CopyImage sent (with a ClientToken: a repeated mkdir or a
 * retry starts no second copy), the copy's snapshots checked against the
 * key (a mismatch takes the copy back: -EIO). The new image id into
 * new_id, the destination region into region. 0 or -errno. */
int amis_copy_start(struct amifs *fs, const struct amis_copy *c,
                    char *new_id, size_t n, char *region, size_t rn);

#endif
