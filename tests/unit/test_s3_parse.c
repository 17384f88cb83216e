/*
 * test_s3_parse.c — the pure halves of aws/s3.c on the verified answer
 * bodies of shared/aws/examples (embedded here so the test stands alone):
 * listings with encoding-type=url, pagination markers, result ETags, the
 * 200-with-<Error> body, the Complete request body, the multipart ETag,
 * digests and dates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"
#include "aws/iso8601.h"
#include "aws/xml.h"
#include "check.h"
#include "xmlfix.h"

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NS " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static const char list_page1[] = XML_DECL
    "<ListBucketResult" NS "><Name>my-import-bucket</Name><Prefix>amifs/"
    "</Prefix><KeyCount>1</KeyCount><MaxKeys>1</MaxKeys><Delimiter>/"
    "</Delimiter><EncodingType>url</EncodingType><IsTruncated>true"
    "</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/"
    "wm36Hy4vbOwM=</NextContinuationToken><Contents><Key>amifs/a%20b%2Bc."
    "vmdk</Key><LastModified>2024-05-01T12:00:00.000Z</LastModified><ETag>"
    "&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>";

static const char list_prefixes[] = XML_DECL
    "<ListBucketResult" NS ">\n  <Name>my-import-bucket</Name><Prefix>amifs/"
    "</Prefix><KeyCount>3</KeyCount>\n  <MaxKeys>1000</MaxKeys><Delimiter>/"
    "</Delimiter><IsTruncated>false</IsTruncated>\n  <Contents>\n    <Key>"
    "amifs/disk.vmdk</Key><LastModified>2024-05-01T12:00:00.000Z"
    "</LastModified>\n    <ETag>&quot;3858f62230ac3c915f300c664312c11f-9"
    "&quot;</ETag><Size>705638400</Size>\n    <StorageClass>STANDARD"
    "</StorageClass>\n  </Contents>\n  <Contents>\n    <Key>amifs/a+b.txt"
    "</Key><LastModified>2024-05-01T12:01:00.000Z</LastModified>\n    <ETag>"
    "&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size>\n"
    "  </Contents>\n  <CommonPrefixes><Prefix>amifs/images/</Prefix>"
    "</CommonPrefixes>\n</ListBucketResult>";

static void test_list_objects(void)
{
    struct aws_error err;
    struct s3_listing l = {0};
    char *next = NULL;
    struct xml_doc *d = parse_fixture(list_page1);

    CHECK(s3_parse_list_objects(xml_root(d), &l, &next, &err) == 0, "page1");
    CHECK(l.nobjects == 1, "one object, got %zu", l.nobjects);
    /* encoding-type=url: %20 and + are spaces, %2B is a plus. */
    CHECK(l.nobjects && STREQ(l.objects[0].key, "amifs/a b+c.vmdk"),
          "decoded key: %s", l.nobjects ? l.objects[0].key : "-");
    CHECK(l.nobjects && l.objects[0].size == 0, "size");
    CHECK(l.nobjects && l.objects[0].mtime == 1714564800, "mtime %lld",
          l.nobjects ? (long long)l.objects[0].mtime : 0LL);
    CHECK(l.nobjects &&
              STREQ(l.objects[0].etag, "d41d8cd98f00b204e9800998ecf8427e"),
          "etag without quotes");
    CHECK(STREQ(next, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="),
          "next token");
    free(next);
    xml_free(d);

    /* Second page appends; no EncodingType means raw keys ('+' stays). */
    d = parse_fixture(list_prefixes);
    CHECK(s3_parse_list_objects(xml_root(d), &l, &next, &err) == 0, "page2");
    CHECK(next == NULL, "last page has no token");
    CHECK(l.nobjects == 3 && STREQ(l.objects[2].key, "amifs/a+b.txt"),
          "raw key kept");
    CHECK(l.objects[1].size == 705638400ULL, "big size");
    CHECK(STREQ(l.objects[1].etag, "3858f62230ac3c915f300c664312c11f-9"),
          "multipart etag");
    CHECK(l.nprefixes == 1 && STREQ(l.prefixes[0], "amifs/images/"),
          "common prefix");
    s3_listing_release(&l);
    CHECK(l.objects == NULL && l.nobjects == 0, "released");
    xml_free(d);
}

static void test_list_errors(void)
{
    struct aws_error err;
    struct s3_listing l = {0};
    char *next = NULL;
    struct xml_doc *d = parse_fixture("<ListBucketResult><IsTruncated>true"
                              "</IsTruncated></ListBucketResult>");
    CHECK(s3_parse_list_objects(xml_root(d), &l, &next, &err) < 0 &&
              err.kind == AWS_ERR_PARSE,
          "truncated without a token must fail (else: endless loop)");
    xml_free(d);
    d = parse_fixture("<Error><Code>NoSuchBucket</Code></Error>");
    CHECK(s3_parse_list_objects(xml_root(d), &l, &next, &err) < 0,
          "an <Error> is not a listing");
    xml_free(d);
    s3_listing_release(&l);
}

static void test_buckets_location(void)
{
    struct aws_error err;
    struct s3_bucket_list b = {0};
    char *next = NULL, region[32];
    struct xml_doc *d = parse_fixture(
        XML_DECL "<ListAllMyBucketsResult" NS "><Owner><ID>75aa</ID>"
        "<DisplayName>amifs</DisplayName></Owner><Buckets><Bucket><Name>"
        "my-import-bucket</Name><CreationDate>2024-01-01T00:00:00.000Z"
        "</CreationDate></Bucket><Bucket><Name>two</Name><CreationDate>"
        "2024-01-02T00:00:00.000Z</CreationDate></Bucket></Buckets>"
        "</ListAllMyBucketsResult>");
    CHECK(s3_parse_list_buckets(xml_root(d), &b, &next, &err) == 0, "buckets");
    CHECK(b.n == 2 && STREQ(b.v[0].name, "my-import-bucket") &&
              b.v[0].created == 1704067200 && STREQ(b.v[1].name, "two"),
          "bucket fields");
    CHECK(next == NULL, "no token");
    s3_bucket_list_release(&b);
    xml_free(d);

    d = parse_fixture(XML_DECL "<LocationConstraint" NS "/>");
    CHECK(s3_parse_location(xml_root(d), region, sizeof region, &err) == 0 &&
              STREQ(region, "us-east-1"),
          "empty constraint is us-east-1");
    xml_free(d);
    d = parse_fixture("<LocationConstraint>EU</LocationConstraint>");
    CHECK(s3_parse_location(xml_root(d), region, sizeof region, &err) == 0 &&
              STREQ(region, "eu-west-1"),
          "EU is eu-west-1");
    xml_free(d);
    d = parse_fixture("<LocationConstraint>eu-central-1</LocationConstraint>");
    CHECK(s3_parse_location(xml_root(d), region, sizeof region, &err) == 0 &&
              STREQ(region, "eu-central-1"),
          "plain region");
    xml_free(d);
}

static void test_uploads_parts(void)
{
    struct aws_error err;
    struct s3_upload_list u = {0};
    struct s3_part *parts = NULL;
    size_t np = 0;
    char *k = NULL, *id = NULL, *next = NULL;
    struct xml_doc *d = parse_fixture(
        XML_DECL "<ListMultipartUploadsResult" NS "><Bucket>b</Bucket>"
        "<KeyMarker></KeyMarker><NextKeyMarker>amifs/disk.vmdk"
        "</NextKeyMarker><NextUploadIdMarker>VXBs</NextUploadIdMarker>"
        "<IsTruncated>true</IsTruncated><Upload><Key>amifs/disk.vmdk</Key>"
        "<UploadId>VXBsb2FkSWQtZXhhbXBsZQ</UploadId><Initiated>"
        "2024-05-01T11:59:00.000Z</Initiated></Upload>"
        "</ListMultipartUploadsResult>");
    CHECK(s3_parse_uploads(xml_root(d), &u, &k, &id, &err) == 0, "uploads");
    CHECK(u.n == 1 && STREQ(u.v[0].key, "amifs/disk.vmdk") &&
              STREQ(u.v[0].upload_id, "VXBsb2FkSWQtZXhhbXBsZQ"),
          "upload fields");
    CHECK(STREQ(k, "amifs/disk.vmdk") && STREQ(id, "VXBs"), "markers");
    free(k);
    free(id);
    s3_upload_list_release(&u);
    xml_free(d);

    d = parse_fixture(
        XML_DECL "<ListPartsResult" NS "><Bucket>b</Bucket><Key>k</Key>"
        "<NextPartNumberMarker>2</NextPartNumberMarker><IsTruncated>false"
        "</IsTruncated><Part><PartNumber>1</PartNumber><ETag>&quot;"
        "7778aef83f66abc1fa1e8477f296d394&quot;</ETag><Size>8388608</Size>"
        "</Part><Part><PartNumber>2</PartNumber><ETag>&quot;"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&quot;</ETag><Size>611392</Size>"
        "</Part></ListPartsResult>");
    CHECK(s3_parse_parts(xml_root(d), &parts, &np, &next, &err) == 0,
          "parts");
    CHECK(np == 2 && parts[0].number == 1 && parts[0].size == 8388608 &&
              parts[1].number == 2 && parts[1].size == 611392,
          "part fields");
    CHECK(next == NULL, "not truncated: no marker even though one is sent");
    char etag[72];
    CHECK(s3_multipart_etag(parts, np, etag) == 0 &&
              STREQ(etag, "a1b3ea1948d95ff53241b5a171cd309e-2"),
          "multipart etag %s", etag);
    snprintf(parts[1].etag, sizeof parts[1].etag, "not-an-md5");
    CHECK(s3_multipart_etag(parts, np, etag) < 0, "non-MD5 part etag");
    free(parts);
    xml_free(d);
}

static void test_results(void)
{
    struct aws_error err;
    char etag[72];
    struct xml_doc *d = parse_fixture(
        XML_DECL "<CopyObjectResult" NS "><LastModified>2024-05-01T12:05:00."
        "000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328"
        "&quot;</ETag></CopyObjectResult>");
    CHECK(s3_parse_result_etag(xml_root(d), "CopyObjectResult", etag, &err) ==
                  0 &&
              STREQ(etag, "9b2cf535f27731c974343645a3985328"),
          "copy etag");
    xml_free(d);
    /* moto names the root CompleteMultipartUploadResponse; botocore and we
     * accept any root but <Error>. */
    d = parse_fixture("<CompleteMultipartUploadResponse><ETag>&quot;ab-2&quot;</ETag>"
              "</CompleteMultipartUploadResponse>");
    CHECK(s3_parse_result_etag(xml_root(d), "CompleteMultipartUploadResult",
                               etag, &err) == 0 && STREQ(etag, "ab-2"),
          "root name not insisted on");
    xml_free(d);
    d = parse_fixture("<CopyObjectResult><LastModified>x</LastModified>"
              "</CopyObjectResult>");
    CHECK(s3_parse_result_etag(xml_root(d), "CopyObjectResult", etag, &err) <
              0,
          "a result without ETag is refused");
    xml_free(d);

    /* The 200-with-<Error> answer of CompleteMultipartUpload: leading
     * whitespace, root <Error>; never taken for a result. */
    d = parse_fixture(XML_DECL "\n<Error><Code>InternalError</Code><Message>We "
              "encountered an internal error. Please try again.</Message>"
              "<RequestId>656c</RequestId></Error>");
    CHECK(s3_parse_result_etag(xml_root(d), "CompleteMultipartUploadResult",
                               etag, &err) < 0,
          "200 error body is not a result");
    xml_free(d);
    d = parse_fixture("<CompleteMultipartUploadResult" NS "><Location>http://x/k"
              "</Location><Bucket>b</Bucket><Key>k</Key><ETag>&quot;"
              "3858f62230ac3c915f300c664312c11f-9&quot;</ETag>"
              "</CompleteMultipartUploadResult>");
    CHECK(s3_parse_result_etag(xml_root(d), "CompleteMultipartUploadResult",
                               etag, &err) == 0 &&
              STREQ(etag, "3858f62230ac3c915f300c664312c11f-9"),
          "complete etag");
    xml_free(d);
}

static void test_complete_body(void)
{
    struct s3_part parts[2] = {{1, "abc", 5, ""}, {2, "d<e", 6, "4waSgw=="}};
    struct buf b;
    struct aws_error err;
    buf_init(&b, 0);
    CHECK(s3_complete_body(&b, parts, 2) == 0, "body");
    struct xml_doc *d = xml_parse(b.data, b.len, &err);
    CHECK(d != NULL, "the body is well-formed XML: %s", buf_cstr(&b));
    const struct xml_node *root = xml_root(d);
    const struct xml_node *p = xml_child(root, "Part");
    CHECK(STREQ(xml_name(root), "CompleteMultipartUpload"), "root");
    CHECK(p && STREQ(xml_path(p, "ETag"), "\"abc\"") &&
              STREQ(xml_path(p, "PartNumber"), "1"),
          "first part, ETag quoted");
    p = xml_next(p, "Part");
    CHECK(p && STREQ(xml_path(p, "ETag"), "\"d<e\"") &&
              STREQ(xml_path(p, "PartNumber"), "2"),
          "second part, escaped");
    CHECK(p && STREQ(xml_path(p, "ChecksumCRC32C"), "4waSgw==") &&
              !xml_child(xml_child(root, "Part"), "ChecksumCRC32C"),
          "a part's CRC32C only where it has one");
    CHECK(strstr(buf_cstr(&b), "xmlns=\"http://s3.amazonaws.com/doc/"
                               "2006-03-01/\"") != NULL,
          "namespace");
    xml_free(d);
    buf_release(&b);
}

static void test_decode_digest_dates(void)
{
    char *s = s3_url_decode("a%20b%2Bc+d%zz%4", 16, true);
    CHECK(STREQ(s, "a b+c d%zz%4"), "plus decode: %s", s);
    free(s);
    s = s3_url_decode("%7B%22a%22%3A1%7D+x", 19, false);
    CHECK(STREQ(s, "{\"a\":1}+x"), "percent only: %s", s);
    free(s);
    s = s3_url_decode("%E2%82%AC", 9, true);
    CHECK(STREQ(s, "\xe2\x82\xac"), "utf-8 bytes");
    free(s);

    struct s3_digests d;
    s3_digests_compute("abc", 3, &d);
    CHECK(STREQ(d.md5_hex, "900150983cd24fb0d6963f7d28e17f72"), "md5");
    CHECK(STREQ(d.md5_b64, "kAFQmDzST7DWlj99KOF/cg=="), "md5 b64");
    CHECK(STREQ(d.sha256_hex, "ba7816bf8f01cfea414140de5dae2223b00361a3961"
                              "77a9cb410ff61f20015ad"),
          "sha256");
    s3_digests_compute("", 0, &d);
    CHECK(STREQ(d.sha256_hex, SIGV4_EMPTY_SHA256), "empty sha256");
    CHECK(STREQ(d.md5_b64, "1B2M2Y8AsgTpgAmY7PhCfg=="), "empty md5");

    CHECK(aws_iso8601_or_zero("2024-05-01T12:00:00.000Z") == 1714564800,
          "iso8601");
    CHECK(aws_iso8601_or_zero("2024-05-01T12:00:00Z") == 1714564800, "no ms");
    CHECK(aws_iso8601_or_zero("garbage") == 0, "bad date");
    CHECK(s3_parse_http_date("Wed, 01 May 2024 12:00:00 GMT") == 1714564800,
          "http date");
    char e[72];
    s3_etag_strip("\"abc\"", e);
    CHECK(STREQ(e, "abc"), "strip");
    s3_etag_strip("abc", e);
    CHECK(STREQ(e, "abc"), "no quotes");
}

int main(void)
{
    test_list_objects();
    test_list_errors();
    test_buckets_location();
    test_uploads_parts();
    test_results();
    test_complete_body();
    test_decode_digest_dates();
    return check_exit();
}
