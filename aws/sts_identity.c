/*
 * sts_identity.c — STS GetCallerIdentity: who the client's credentials
 * are (contract in sts.h). An ordinary query-protocol call on the client
 * (aws_query, client.h), kept apart from sts.c, whose AssumeRole calls the
 * credentials provider makes below the client.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/client.h"
#include "aws/ops_priv.h"
#include "aws/sts.h"
#include "aws/xml.h"

void sts_identity_release(struct sts_identity *id)
{
    free(id->account);
    free(id->arn);
    free(id->user_id);
    memset(id, 0, sizeof *id);
}

int sts_parse_caller_identity(const struct xml_node *root,
                              struct sts_identity *out, struct aws_error *err)
{
    const struct xml_node *r = xml_child(root, "GetCallerIdentityResult");
    const char *acct = xml_path(r, "Account");
    const char *arn = xml_path(r, "Arn");
    const char *uid = xml_path(r, "UserId");
    memset(out, 0, sizeof *out);
    if (!acct || !arn)
        return aws_error_set(err, AWS_ERR_PARSE,
                             "unexpected STS answer: no Account/Arn");
    out->account = strdup(acct);
    out->arn = strdup(arn);
    out->user_id = strdup(uid ? uid : "");
    if (!out->account || !out->arn || !out->user_id) {
        sts_identity_release(out);
        return aws_nomem(err);
    }
    return 0;
}

int sts_get_caller_identity(struct aws_client *c, struct sts_identity *out,
                            struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "GetCallerIdentity", STS_VERSION);
    int rc = aws_query(c, AWS_SVC_STS, NULL, &f, true, &doc, err);
    if (rc == 0)
        rc = sts_parse_caller_identity(xml_root(doc), out, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}
