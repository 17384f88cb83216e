/*
 * sts.h — AWS Security Token Service: who am I (GetCallerIdentity), and the
 * three ways to get temporary credentials the provider uses (AssumeRole,
 * AssumeRoleWithWebIdentity). Query protocol, API version 2011-06-15
 * (STS_VERSION). GetCallerIdentity is in aws/sts_identity.c, on top of
 * aws_query() (client.h); the two AssumeRole calls are in aws/sts.c and
 * send through a struct aws_sender (request.h), never through the client:
 * the provider that calls them sits below the client, which owns it.
 *
 * Who calls what:
 *   - GetCallerIdentity: `amifs doctor` and the mount's account lookup
 *     (the account id goes into task files and journal entries).
 *   - AssumeRole / AssumeRoleWithWebIdentity: only the credentials provider
 *     (aws/creds.c, aws/creds_web.c), while it refreshes. They never consult
 *     the client's own credentials: AssumeRole is signed with the explicit
 *     source credentials passed in, AssumeRoleWithWebIdentity is unsigned
 *     (the token is the proof). So the provider can call them without
 *     re-entering itself.
 *
 * Ownership: every `out` struct is filled with malloc'd (or, for
 * credentials, DONTDUMP) memory the caller releases with the matching
 * *_release(); on failure `out` is left zeroed. Secrets (secret keys,
 * session tokens, web identity tokens) never appear in an error message
 * nor a log line; request bodies holding a token are wiped after sending.
 *
 * Errors: 0 or -1 with err filled: AWS_ERR_SERVICE with STS's code
 * (AccessDenied, ExpiredTokenException, InvalidIdentityToken,
 * RegionDisabledException…), network and parse kinds as for any call.
 * Expiration timestamps are parsed with aws_parse_iso8601() (offsets
 * honoured, iso8601.h).
 *
 * Threads: every function is thread-safe (the client is).
 */
#ifndef AMIFS_AWS_STS_H
#define AMIFS_AWS_STS_H

#define STS_VERSION "2011-06-15"

struct aws_client;
struct aws_credentials;
struct aws_error;
struct aws_sender;
struct buf;
struct xml_node;

/* GetCallerIdentity's answer: all three strings malloc'd. */
struct sts_identity {
    char *account; /* 12 digits */
    char *arn;     /* the caller's ARN (user, assumed-role session…) */
    char *user_id;
};
void sts_identity_release(struct sts_identity *id);
int sts_get_caller_identity(struct aws_client *c, struct sts_identity *out,
                            struct aws_error *err);

/* AssumeRole signed with `src` (never the client's own credentials), sent
 * through `s` (aws_client_sender() makes one from a client).
 * external_id may be NULL; duration_s 0 means STS's default (1 h). On
 * success out->source is "assume-role" and out->expiration is set. */
int sts_assume_role(const struct aws_sender *s,
                    const struct aws_credentials *src,
                    const char *role_arn, const char *session_name,
                    const char *external_id, int duration_s,
                    struct aws_credentials *out, struct aws_error *err);

/* An unsigned POST of the form, through `s`, to `url` (the STS endpoint, e.g.
 * "https://sts.eu-west-1.amazonaws.com/"): the token is the proof. The
 * token is a secret: the body is wiped after sending and no message quotes
 * it. On success out->source is "web-identity". 0 or -1 (err filled). */
int sts_assume_role_with_web_identity(const struct aws_sender *s,
                                      const char *url,
                                      const char *role_arn,
                                      const char *session_name,
                                      const char *token,
                                      struct aws_credentials *out,
                                      struct aws_error *err);

/* --- Pure parsers and form builders, exposed for unit and fuzz tests ---- */

int sts_parse_caller_identity(const struct xml_node *root,
                              struct sts_identity *out, struct aws_error *err);
/* The <Credentials> of an AssumeRole or AssumeRoleWithWebIdentity answer;
 * out->source = "assume-role" (the web identity caller overrides it). */
int sts_parse_assume_role(const struct xml_node *root,
                          struct aws_credentials *out, struct aws_error *err);
/* The form bodies the two calls send (to test their encoding); 0 or -1. */
int sts_assume_role_body(struct buf *out, const char *role_arn,
                         const char *session_name, const char *external_id,
                         int duration_s);
int sts_web_identity_body(struct buf *out, const char *role_arn,
                          const char *session_name, const char *token);

#endif
