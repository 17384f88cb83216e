/*
 * credentials.c — struct aws_credentials as a value, and the helpers every
 * credentials source uses to make one (contract in credentials.h). No
 * I/O but aws_read_small_file()'s one file, no locks, no globals.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "aws/buf.h"
#include "aws/credentials.h"
#include "aws/iso8601.h"
#include "aws/secmem.h"

void aws_wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void aws_credentials_release(struct aws_credentials *c)
{
    if (c->secure) {
        aws_secure_free(c->secure);
    } else {
        aws_wipe_free(c->access_key_id);
        aws_wipe_free(c->secret_access_key);
        aws_wipe_free(c->session_token);
    }
    memset(c, 0, sizeof *c);
}

int aws_credentials_init(struct aws_credentials *c, const char *akid,
                         const char *secret, const char *token)
{
    size_t la = strlen(akid), ls = strlen(secret);
    size_t lt = token && *token ? strlen(token) : 0;
    char *m = aws_secure_alloc(la + ls + lt + 3);

    memset(c, 0, sizeof *c);
    if (!m)
        return -1;
    c->secure = m;
    c->access_key_id = memcpy(m, akid, la + 1);
    c->secret_access_key = memcpy(m + la + 1, secret, ls + 1);
    if (lt)
        c->session_token = memcpy(m + la + ls + 2, token, lt + 1);
    return 0;
}

int aws_credentials_copy(struct aws_credentials *dst,
                         const struct aws_credentials *src)
{
    if (aws_credentials_init(dst,
                             src->access_key_id ? src->access_key_id : "",
                             src->secret_access_key ? src->secret_access_key
                                                    : "",
                             src->session_token))
        return -1;
    dst->expiration = src->expiration;
    dst->source = src->source;
    return 0;
}

int aws_creds_set(struct aws_credentials *c, char *akid, char *secret,
                  char *token, const char *source, struct aws_error *err)
{
    int rc = 0;

    memset(c, 0, sizeof *c);
    if (!akid || !*akid || !secret || !*secret)
        rc = aws_error_set(err, AWS_ERR_CREDENTIALS,
                           "incomplete credentials from %s", source);
    else if (aws_credentials_init(c, akid, secret, token))
        rc = aws_error_set(err, AWS_ERR_NOMEM, "out of memory");
    else
        c->source = source;
    aws_wipe_free(akid);
    aws_wipe_free(secret);
    aws_wipe_free(token);
    return rc;
}

/* ---- from JSON and files ------------------------------------------------ */

static char *json_str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) && v->valuestring ? strdup(v->valuestring)
                                               : NULL;
}

static void json_wipe(cJSON *j)
{
    /* cJSON copies the secrets; wipe them before they go back to malloc */
    for (cJSON *it = j; it; it = it->next) {
        if (cJSON_IsString(it) && it->valuestring)
            OPENSSL_cleanse(it->valuestring, strlen(it->valuestring));
        if (it->child)
            json_wipe(it->child);
    }
}

void aws_json_wipe_delete(cJSON *j)
{
    if (!j)
        return;
    json_wipe(j);
    cJSON_Delete(j);
}

int aws_creds_from_object(const cJSON *o, const char *token_name,
                          const char *source, struct aws_credentials *c,
                          struct aws_error *err)
{
    char *exp = json_str(o, "Expiration");
    time_t t = 0;

    if (exp && aws_parse_iso8601(exp, &t)) {
        free(exp);
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "%s: bad Expiration", source);
    }
    free(exp);
    if (aws_creds_set(c, json_str(o, "AccessKeyId"),
                      json_str(o, "SecretAccessKey"), json_str(o, token_name),
                      source, err))
        return -1;
    c->expiration = t;
    return 0;
}

int aws_creds_from_json(const char *json, size_t len, const char *token_name,
                        const char *source, struct aws_credentials *out,
                        struct aws_error *err)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    int rc;

    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j)) {
        aws_json_wipe_delete(j);
        return aws_error_set(err, AWS_ERR_CREDENTIALS,
                             "%s: credentials are not a JSON object", source);
    }
    rc = aws_creds_from_object(j, token_name, source, out, err);
    aws_json_wipe_delete(j);
    return rc;
}

int aws_read_small_file(const char *path, size_t max, char **out)
{
    FILE *f = fopen(path, "r");
    struct buf b;
    char chunk[4096];
    size_t n;
    int rc = 0;

    *out = NULL;
    if (!f)
        return -1;
    setvbuf(f, NULL, _IONBF, 0); /* no stdio copy of a token to wipe */
    buf_init(&b, max);
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buf_append(&b, chunk, n);
    OPENSSL_cleanse(chunk, sizeof chunk);
    if (rc == 0 && ferror(f))
        rc = -1, errno = EIO;
    else if (rc)
        errno = EFBIG;
    fclose(f);
    while (rc == 0 && b.len > 0 && strchr(" \t\r\n", b.data[b.len - 1]))
        b.data[--b.len] = '\0';
    if (rc == 0 && !(*out = buf_detach(&b)))
        *out = strdup(""); /* an empty file */
    buf_release(&b);
    return rc == 0 && *out ? 0 : -1;
}
