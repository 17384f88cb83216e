/*
 * client_errors.c — Error answers: parse an EC2/IAM/STS/S3 error body (or a
 * bare status) into err; check_200_error finds an <Error> inside a 200
 * (CompleteMultipartUpload, CopyObject). (contract: client.h; shared
 * pieces: client_priv.h; the aws_response helpers are in request.c)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cjson/cJSON.h>

#include "aws/client_priv.h"
#include "aws/xml.h"

/* ---- error answers ---------------------------------------------------------------- */

static const char *reason(long status)
{
    switch (status) {
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 412: return "Precondition Failed";
    case 416: return "Requested Range Not Satisfiable";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "HTTP error";
    }
}

/* EC2 <Response><Errors><Error>, IAM/STS <ErrorResponse><Error>, S3 <Error>. */
static int parse_error_xml(const struct aws_response *resp, long status,
                           const char *reqid_hdr, struct aws_error *err)
{
    struct aws_error perr;
    struct xml_doc *d = xml_parse(resp->body.data, resp->body.len, &perr);
    const struct xml_node *root = xml_root(d), *e = NULL;
    const char *rid = NULL;

    if (!d)
        return -1;
    /* Whatever the envelope (moto even answers EC2 auth failures with
     * <ErrorResponse><Errors><Error>), the error is the first <Error>. */
    if (strcmp(xml_name(root), "Error") == 0)
        e = root;
    else if (!(e = xml_child(root, "Error")))
        e = xml_child(xml_child(root, "Errors"), "Error");
    if (!(rid = xml_path(root, "RequestID")) &&
        !(rid = xml_path(root, "RequestId")))
        rid = xml_path(e, "RequestId");
    if (!e || !xml_path(e, "Code")) {
        xml_free(d);
        return -1;
    }
    aws_error_service(err, (int)status, xml_path(e, "Code"),
                      xml_path(e, "Message"),
                      rid && *rid ? rid : reqid_hdr);
    xml_free(d);
    return 0;
}

/* JSON protocols (KMS): {"__type": "NotFoundException", "message": …};
 * __type may carry a "namespace#" prefix, which botocore drops. */
static int parse_error_json(const struct aws_response *resp, long status,
                            const char *reqid_hdr, struct aws_error *err)
{
    cJSON *j = cJSON_ParseWithLength(resp->body.data, resp->body.len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (!m)
        m = cJSON_GetObjectItemCaseSensitive(j, "Message");
    if (!cJSON_IsString(t)) {
        cJSON_Delete(j);
        return -1;
    }
    const char *code = strrchr(t->valuestring, '#');
    aws_error_service(err, (int)status,
                      code ? code + 1 : t->valuestring,
                      cJSON_IsString(m) ? m->valuestring : "", reqid_hdr);
    cJSON_Delete(j);
    return 0;
}

void awsc_parse_error(const struct aws_response *resp, long status,
                        struct aws_error *err)
{
    char rid[128] = "", code[16];

    if (aws_response_header(resp, "x-amz-request-id", rid, sizeof rid))
        aws_response_header(resp, "x-amzn-RequestId", rid, sizeof rid);
    if (resp->body.len && parse_error_xml(resp, status, rid, err) == 0)
        return;
    if (resp->body.len && parse_error_json(resp, status, rid, err) == 0)
        return;
    /* HEAD answers and non-XML bodies: the status is the code (botocore). */
    snprintf(code, sizeof code, "%ld", status);
    aws_error_service(err, (int)status, code, reason(status), rid);
}

/* A 200 whose body is <Error> (or garbage) is a failed S3 operation. */
int awsc_check_200_error(const struct aws_response *resp,
                           struct aws_error *err)
{
    struct aws_error perr;
    struct xml_doc *d = xml_parse(resp->body.data, resp->body.len, &perr);
    const struct xml_node *root = xml_root(d);
    int rc = 0;

    if (!d || strcmp(xml_name(root), "Error") == 0) {
        awsc_parse_error(resp, 500, err);
        if (!d || !xml_path(root, "Code"))
            aws_error_service(err, 500, "InternalError",
                              "200 answer without a valid result", "");
        err->http_status = 500;
        rc = -1;
    }
    xml_free(d);
    return rc;
}
