/*
 * sts.h — STS AssumeRoleWithWebIdentity (aws/sts.c). GetCallerIdentity,
 * AssumeRole and their parsers are declared in aws/iam.h.
 *
 * sts_parse_assume_role() (iam.h) also reads an
 * <AssumeRoleWithWebIdentityResponse>: both answers carry the same
 * <Credentials>.
 */
#ifndef AMIFS_AWS_STS_H
#define AMIFS_AWS_STS_H

struct aws_client;
struct aws_credentials;
struct aws_error;
struct buf;

/* An unsigned POST of the form to `url` (the STS endpoint, e.g.
 * "https://sts.eu-west-1.amazonaws.com/"): the token is the proof. The
 * token is a secret: the body is wiped after sending and no message quotes
 * it. On success out->source is "web-identity". 0 or -1 (err filled). */
int sts_assume_role_with_web_identity(struct aws_client *c, const char *url,
                                      const char *role_arn,
                                      const char *session_name,
                                      const char *token,
                                      struct aws_credentials *out,
                                      struct aws_error *err);
/* The form body it sends (exposed to test its encoding); 0 or -1. */
int sts_web_identity_body(struct buf *out, const char *role_arn,
                          const char *session_name, const char *token);

#endif
