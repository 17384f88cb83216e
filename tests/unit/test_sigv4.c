/*
 * test_sigv4.c — SigV4 stages against all 34 official test vectors and the
 * S3 documentation vectors (doc/AWS.md "SigV4").
 *
 * The suite is found via $AMIFS_SIGV4_SUITE, else tests/unit/sigv4-testsuite
 * (a copy, Apache-2.0, LICENSE/NOTICE kept) relative to the source root. Each case is checked stage by stage: the
 * canonical request (.creq), string to sign (.sts), Authorization (.authz).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "aws/buf.h"
#include "aws/sigv4.h"
#include "check.h"
#include "slurp.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define AMZ_DATE "20150830T123600Z"
#define MAXH 32

static int cases;

/* A parsed .req: request line, Name:value headers (folded lines joined
 * with a newline, which canonicalisation collapses), body. */
struct req {
    char *text;
    char *method, *path, *query, *body;
    size_t body_len;
    struct sigv4_header h[MAXH];
    size_t nh;
};

static char *next_line(char **p)
{
    char *s = *p, *e;

    if (!s)
        return NULL;
    e = strchr(s, '\n');
    if (e) {
        *e = '\0';
        *p = e + 1;
    } else {
        *p = NULL;
    }
    return s;
}

static int parse_request_line(struct req *r, char *line)
{
    char *sp = strchr(line, ' '), *proto = strstr(line, " HTTP/");
    char *q;

    if (!sp || !proto || proto < sp)
        return -1;
    *sp = '\0';
    *proto = '\0';
    r->method = line;
    r->path = sp + 1;
    q = strchr(r->path, '?');
    if (q) {
        *q = '\0';
        r->query = q + 1;
    }
    return 0;
}

static int parse_req(struct req *r, char *text, size_t len)
{
    char *p = text, *line;

    memset(r, 0, sizeof *r);
    r->text = text;
    if (!(line = next_line(&p)) || parse_request_line(r, line))
        return -1;
    while ((line = next_line(&p)) && *line) {
        if ((*line == ' ' || *line == '\t') && r->nh) {
            /* folded line: glue onto the previous value in place */
            line[-1] = '\n';
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon || r->nh == MAXH)
            return -1;
        *colon = '\0';
        r->h[r->nh].name = line;
        r->h[r->nh].value = colon + 1;
        r->nh++;
    }
    r->body = p ? p : "";
    r->body_len = p ? len - (size_t)(p - text) : 0;
    return 0;
}

static void strip_token_header(struct req *r)
{
    size_t j = 0;

    for (size_t i = 0; i < r->nh; i++)
        if (strcasecmp(r->h[i].name, "X-Amz-Security-Token") != 0)
            r->h[j++] = r->h[i];
    r->nh = j;
}

static char *case_file(const char *dir, const char *name, const char *ext);

/* get-vanilla-with-session-token's .req omits the token; the value to sign
 * is the one its .creq shows (doc/AWS.md "SigV4"). Returns the allocation
 * holding the value (caller frees) or NULL. */
static char *add_token_from_creq(const char *dir, const char *name,
                                 struct req *r)
{
    static const char tag[] = "\nx-amz-security-token:";
    char *creq = case_file(dir, name, "creq"), *v, *e;

    if (!creq || !(v = strstr(creq, tag)) || r->nh == MAXH) {
        free(creq);
        return NULL;
    }
    v += sizeof tag - 1;
    if ((e = strchr(v, '\n')))
        *e = '\0';
    r->h[r->nh].name = "X-Amz-Security-Token";
    r->h[r->nh].value = v;
    r->nh++;
    return creq;
}

static char *case_file(const char *dir, const char *name, const char *ext)
{
    char path[4096];

    if (snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext) >=
        (int)sizeof path)
        return NULL;
    return test_slurp(path, NULL);
}

static void check_stage(const char *name, const char *stage, const char *got,
                        const char *want)
{
    CHECK(want && strcmp(got, want) == 0,
          "%s: %s differs\n--- got ---\n%s\n--- want ---\n%s", name, stage,
          got, want ? want : "(missing file)");
}

static void sign_and_check(const char *dir, const char *name, struct req *r)
{
    struct buf creq, sh, scope, sts, authz;
    char hash[65], sig[65];
    unsigned char key[32];
    char *want;

    buf_init(&creq, 0), buf_init(&sh, 0), buf_init(&scope, 0);
    buf_init(&sts, 0), buf_init(&authz, 0);
    sigv4_sha256_hex(r->body, r->body_len, hash);
    struct sigv4_request sr = {r->method, r->path,  r->query, r->h,
                               r->nh,     hash,     false};
    CHECK(sigv4_canonical_request(&sr, &creq, &sh) == 0, "%s: creq", name);
    want = case_file(dir, name, "creq");
    check_stage(name, "canonical request", buf_cstr(&creq), want);
    free(want);
    sigv4_scope(&scope, "20150830", "us-east-1", "service");
    sigv4_string_to_sign(&sts, AMZ_DATE, buf_cstr(&scope), creq.data,
                         creq.len);
    want = case_file(dir, name, "sts");
    check_stage(name, "string to sign", buf_cstr(&sts), want);
    free(want);
    sigv4_signing_key(SECRET, "20150830", "us-east-1", "service", key);
    sigv4_signature(key, sts.data, sts.len, sig);
    OPENSSL_cleanse(key, sizeof key);
    sigv4_authorization(&authz, AKID, buf_cstr(&scope), buf_cstr(&sh), sig);
    want = case_file(dir, name, "authz");
    check_stage(name, "authorization", buf_cstr(&authz), want);
    free(want);
    buf_release(&creq), buf_release(&sh), buf_release(&scope);
    buf_release(&sts), buf_release(&authz);
}

static void run_case(const char *dir, const char *name)
{
    struct req r;
    size_t len = 0;
    char path[4096];
    char *text;

    if (snprintf(path, sizeof path, "%s/%s.req", dir, name) >=
        (int)sizeof path)
        return;
    text = test_slurp(path, &len);
    if (!text)
        return;
    cases++;
    if (parse_req(&r, text, len)) {
        CHECK(0, "%s: cannot parse .req", name);
        free(text);
        return;
    }
    /* "header-after": the token is added after signing (readme.txt). */
    if (strcmp(name, "post-sts-header-after") == 0)
        strip_token_header(&r);
    if (strcmp(name, "get-vanilla-with-session-token") == 0) {
        char *hold = add_token_from_creq(dir, name, &r);
        CHECK(hold != NULL, "%s: no token in .creq", name);
        sign_and_check(dir, name, &r);
        free(hold);
    } else {
        sign_and_check(dir, name, &r);
    }
    free(text);
}

/* A case is a directory holding <dirname>.req; others are walked into. */
static void walk(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char sub[4096];
    struct stat st;

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(sub, sizeof sub, "%s/%s/%s.req", dir, e->d_name,
                     e->d_name) >= (int)sizeof sub)
            continue;
        if (stat(sub, &st) == 0) {
            *strrchr(sub, '/') = '\0';
            run_case(sub, e->d_name);
            continue;
        }
        *strrchr(sub, '/') = '\0';
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            walk(sub);
    }
    closedir(d);
}

static const char *find_suite(void)
{
    static const char *const candidates[] = {
        "tests/unit/sigv4-testsuite", NULL};
    const char *env = getenv("AMIFS_SIGV4_SUITE");
    struct stat st;

    if (env && *env)
        return env;
    for (const char *const *c = candidates; *c; c++)
        if (stat(*c, &st) == 0 && S_ISDIR(st.st_mode))
            return *c;
    return NULL;
}

/* get-vanilla intermediate values quoted in doc/AWS.md "SigV4". */
static void test_vanilla_values(void)
{
    static const char creq[] =
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
        "\nhost;x-amz-date\n" SIGV4_EMPTY_SHA256;
    unsigned char key[32];
    char hex[65];
    static const char *const hexd = "0123456789abcdef";

    sigv4_sha256_hex(creq, strlen(creq), hex);
    CHECK(strcmp(hex, "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1"
                      "c25292927e63") == 0, "creq hash %s", hex);
    sigv4_signing_key(SECRET, "20150830", "us-east-1", "service", key);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = hexd[key[i] >> 4];
        hex[2 * i + 1] = hexd[key[i] & 15];
    }
    hex[64] = '\0';
    CHECK(strcmp(hex, "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022"
                      "aed82901be75") == 0, "signing key %s", hex);
}

/* S3 documentation vectors: S3 rules (no normalisation, no re-encoding). */
struct s3vec {
    const char *method, *path, *query;
    struct sigv4_header h[8];
    size_t nh;
    const char *payload, *signature;
};

static const struct s3vec s3vecs[] = {
    {"GET", "/test.txt", NULL,
     {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"},
      {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
      {"x-amz-date", "20130524T000000Z"}}, 4, SIGV4_EMPTY_SHA256,
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    {"PUT", "/test%24file.text", NULL,
     {{"Host", "examplebucket.s3.amazonaws.com"},
      {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e"
                               "99e42034a8b803f8b072"}}, 5,
     "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
    {"GET", "/", "lifecycle",
     {{"Host", "examplebucket.s3.amazonaws.com"},
      {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
      {"x-amz-date", "20130524T000000Z"}}, 3, SIGV4_EMPTY_SHA256,
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
    {"GET", "/", "max-keys=2&prefix=J",
     {{"Host", "examplebucket.s3.amazonaws.com"},
      {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
      {"x-amz-date", "20130524T000000Z"}}, 3, SIGV4_EMPTY_SHA256,
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
    {"PUT", "/examplebucket/chunkObject.txt", NULL,
     {{"Host", "s3.amazonaws.com"}, {"x-amz-date", "20130524T000000Z"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
      {"Content-Encoding", "aws-chunked"},
      {"x-amz-decoded-content-length", "66560"},
      {"Content-Length", "66824"}}, 7, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
     "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"},
};

static void test_s3_vectors(void)
{
    for (size_t i = 0; i < sizeof s3vecs / sizeof s3vecs[0]; i++) {
        const struct s3vec *v = &s3vecs[i];
        struct sigv4_request r = {v->method, v->path, v->query, v->h, v->nh,
                                  v->payload, true};
        struct buf creq, sh, sts;
        unsigned char key[32];
        char sig[65];

        buf_init(&creq, 0), buf_init(&sh, 0), buf_init(&sts, 0);
        CHECK(sigv4_canonical_request(&r, &creq, &sh) == 0, "s3 creq %zu", i);
        sigv4_string_to_sign(&sts, "20130524T000000Z",
                             "20130524/us-east-1/s3/aws4_request", creq.data,
                             creq.len);
        sigv4_signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                          "20130524", "us-east-1", "s3", key);
        sigv4_signature(key, sts.data, sts.len, sig);
        CHECK(strcmp(sig, v->signature) == 0,
              "S3 vector %zu (%s %s): got %s\n%s", i, v->method, v->path, sig,
              buf_cstr(&creq));
        buf_release(&creq), buf_release(&sh), buf_release(&sts);
    }
}

static void test_helpers(void)
{
    struct buf b;
    char d[17], d8[9];

    buf_init(&b, 0);
    sigv4_uri_encode(&b, "a b/c+d~é", strlen("a b/c+d~é"), true);
    CHECK(strcmp(buf_cstr(&b), "a%20b/c%2Bd~%C3%A9") == 0, "%s",
          buf_cstr(&b));
    buf_reset(&b);
    sigv4_uri_encode(&b, "a/b", 3, false);
    CHECK(strcmp(buf_cstr(&b), "a%2Fb") == 0, "%s", buf_cstr(&b));
    buf_release(&b);
    sigv4_amz_date(1440938160LL, d, d8);
    CHECK(strcmp(d, AMZ_DATE) == 0 && strcmp(d8, "20150830") == 0, "%s %s",
          d, d8);
}

/* S3 rules keep "//" and "." segments and the wire encoding as sent. */
static void test_s3_path_untouched(void)
{
    struct sigv4_header h[] = {{"host", "b.s3.amazonaws.com"}};
    struct sigv4_request r = {"GET", "/my-object//example//photo.user",
                              "b=%2F&a=x+y", h, 1, SIGV4_EMPTY_SHA256, true};
    struct buf creq, sh;

    buf_init(&creq, 0), buf_init(&sh, 0);
    sigv4_canonical_request(&r, &creq, &sh);
    CHECK(strstr(buf_cstr(&creq), "\n/my-object//example//photo.user\n"
                                  "a=x%2By&b=%2F\n") != NULL,
          "%s", buf_cstr(&creq));
    buf_release(&creq), buf_release(&sh);
}

int main(void)
{
    const char *suite = find_suite();

    test_vanilla_values();
    test_s3_vectors();
    test_helpers();
    test_s3_path_untouched();
    if (!suite) {
        fprintf(stderr, "SigV4 test suite not found\n");
        return 1;
    }
    walk(suite);
    CHECK(cases == 34, "expected 34 official cases in %s, ran %d", suite,
          cases);
    printf("sigv4: %d official cases, %d failures\n", cases, failures);
    return failures ? 1 : 0;
}
