/*
 * fuzz_text.c — libFuzzer target: the small text parsers that see what a
 * server sends outside the XML body: response header lookup
 * (aws_response_header over the raw header block), S3 date formats
 * (ISO-8601 and RFC 1123), ETag quote stripping, and the percent-decoding
 * of encoding-type=url listings.
 *
 * Input: byte 0 picks the header name looked up; the rest is used as every
 * parser's text. Property checked (abort on failure): percent-decoding what
 * sigv4_uri_encode produced gives back the original bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/buf.h"
#include "aws/client.h"
#include "aws/s3.h"
#include "aws/sigv4.h"
#include "aws/iso8601.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const header_names[] = {
    "ETag", "Content-Length", "x-amz-request-id", "Date", "Content-Type",
    "Last-Modified", "x-amz-id-2", "",
};

static void headers(const char *name, const uint8_t *p, size_t n)
{
    struct aws_response r;
    char out[128], tiny[2];

    aws_response_init(&r);
    if (buf_append(&r.headers, p, n) == 0) {
        aws_response_header(&r, name, out, sizeof out);
        aws_response_header(&r, name, tiny, sizeof tiny);
    }
    aws_response_release(&r);
}

static void round_trip(const char *s, size_t n)
{
    struct buf enc;
    char *dec;

    buf_init(&enc, 0);
    if (sigv4_uri_encode(&enc, s, n, false) == 0) {
        dec = s3_url_decode(buf_cstr(&enc), enc.len, false);
        if (dec && (strlen(dec) != strnlen(s, n) ||
                    memcmp(dec, s, strlen(dec)) != 0)) {
            fprintf(stderr, "fuzz_text: decode(encode(x)) != x for %s\n",
                    buf_cstr(&enc));
            abort();
        }
        free(dec);
    }
    buf_release(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t nnames = sizeof header_names / sizeof header_names[0];
    char *s, etag[72];

    if (size < 1)
        return 0;
    headers(header_names[data[0] % nnames], data + 1, size - 1);
    s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    (void)aws_iso8601_or_zero(s);
    (void)s3_parse_http_date(s);
    s3_etag_strip(s, etag);
    free(s3_url_decode(s, size - 1, true));
    free(s3_url_decode(s, size - 1, false));
    round_trip((const char *)data + 1, size - 1);
    free(s);
    return 0;
}
