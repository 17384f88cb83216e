/*
 * credentials.h — one set of AWS credentials as a value (struct
 * aws_credentials), and the few helpers every credentials source uses to
 * make one out of the secrets it has read.
 *
 * Where it stands: at the bottom of the credentials half of aws/. The
 * provider (creds.h) hands these values out, its sources (creds*.c, and
 * sts.c's AssumeRole) make them, and the HTTP client (client.h) signs with
 * them; this file includes none of those, so every arrow points down to
 * it. creds.h includes it, so users of the provider need not.
 *
 * Ownership: a value is owned by whoever holds the struct and released
 * with aws_credentials_release() exactly once (a released or zeroed value
 * may be released again). Copies are deep. `source` is always a static
 * string and is never freed.
 *
 * Secrets: key ids, secret keys and session tokens are wiped before their
 * memory is freed (OPENSSL_cleanse, then DONTDUMP memory unmapped), never
 * logged, and never put into an error message: the messages here name the
 * source ("container", "process"…) and what is wrong, nothing more.
 *
 * Threads: no state of its own; a value may be read by many threads but
 * changed (init, copy into, release) by one. Errors: 0 or -1; with an
 * `err` argument it is filled (AWS_ERR_CREDENTIALS for unusable input,
 * AWS_ERR_NOMEM), without one errno or the return value says it.
 */
#ifndef AMIFS_AWS_CREDENTIALS_H
#define AMIFS_AWS_CREDENTIALS_H

#include <stddef.h>
#include <time.h>

#include "aws/err.h"

/* The three strings of a provider-made value live in ONE block of
 * DONTDUMP memory (aws/secmem.h) that `secure` owns; release wipes and
 * unmaps it. A value assembled by hand (secure == NULL, e.g. a test's
 * borrowed getenv() strings passed to sts_assume_role) is only read. */
struct aws_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    time_t expiration;   /* 0: does not expire */
    const char *source;  /* static string: "env", "shared-credentials-file",
                            "assume-role", "web-identity", "sso", "process",
                            "config-file", "container", "imds",
                            "explicit" */
    void *secure;        /* the block holding the strings, or NULL */
};

/* Copy the strings (token may be NULL or "" for none) into a fresh
 * DONTDUMP block; expiration 0 and source NULL. 0, or -1 (out of memory,
 * *c zeroed). */
int aws_credentials_init(struct aws_credentials *c, const char *akid,
                         const char *secret, const char *token);
/* Deep copy (into its own block); wipe + unmap (or, for a hand-made value
 * whose `secure` is NULL, wipe + free each string). */
int aws_credentials_copy(struct aws_credentials *dst,
                         const struct aws_credentials *src);
void aws_credentials_release(struct aws_credentials *c);

/* ---- for aws/'s credentials sources only (creds*.c, sts.c; the fuzz and
 * unit tests call them too) ------------------------------------------------ */

struct cJSON;

/* OPENSSL_cleanse + free; NULL is fine. */
void aws_wipe_free(char *s);
/* Wipe every string value of a parsed JSON tree (recursively), then free
 * it. NULL is fine. */
void aws_json_wipe_delete(struct cJSON *j);

/* Fill *c with copies (in DONTDUMP memory) of malloc'd strings it takes
 * over, wipes and frees (any may be NULL). Fails
 * (AWS_ERR_CREDENTIALS, naming `source`) when the key id or secret is
 * missing or empty; an empty token becomes NULL. */
int aws_creds_set(struct aws_credentials *c, char *akid, char *secret,
                  char *token, const char *source, struct aws_error *err);

/* A JSON document with AccessKeyId, SecretAccessKey, <token_name> and an
 * optional ISO-8601 Expiration (what IMDS, credential_process and the
 * container endpoint answer). `source` names the source in *out and in
 * messages. The text and the tree are wiped. 0 or -1. */
int aws_creds_from_json(const char *json, size_t len, const char *token_name,
                        const char *source, struct aws_credentials *out,
                        struct aws_error *err);

/* The same from an object already parsed (credential_process checks its
 * Version first): AccessKeyId/SecretAccessKey/<token_name>/Expiration.
 * The tree is only read (the caller wipes it). 0 or -1. */
int aws_creds_from_object(const struct cJSON *o, const char *token_name,
                          const char *source, struct aws_credentials *c,
                          struct aws_error *err);

/* A whole file into a NUL-terminated malloc'd string (at most `max`
 * bytes), trailing whitespace removed. 0, or -1 with errno set (EFBIG when
 * larger). The caller wipes it when it holds a secret. */
int aws_read_small_file(const char *path, size_t max, char **out);

#endif
