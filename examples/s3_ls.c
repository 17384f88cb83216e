/*
 * s3-ls — list buckets, or the keys and prefixes under s3://BUCKET/PREFIX
 * (with '/' as delimiter, like `aws s3 ls`; -r: everything, no delimiter).
 *
 *   s3-ls                      buckets
 *   s3-ls [-r] s3://B[/PREFIX]  "PRE p/" lines, then "DATE SIZE KEY" lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/s3.h"
#include "util.h"

static const char *prog = "s3-ls";

static void print_time(time_t t)
{
    struct tm tm;
    char s[32];
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S", &tm);
    fputs(s, stdout);
}

static int list_buckets(struct aws_client *c)
{
    struct s3_bucket_list l;
    struct aws_error err;
    if (s3_list_buckets(c, &l, &err) < 0) {
        example_error(prog, "ListBuckets", &err);
        return 1;
    }
    for (size_t i = 0; i < l.n; i++) {
        print_time(l.v[i].created);
        printf(" %s\n", l.v[i].name);
    }
    s3_bucket_list_release(&l);
    return 0;
}

static int list_keys(struct aws_client *c, const char *url, bool recursive)
{
    char *bucket, *prefix, *owned;
    struct s3_listing l;
    struct aws_error err;
    if (example_s3_url(url, &bucket, &prefix, &owned) < 0) {
        fprintf(stderr, "%s: not an s3://BUCKET[/PREFIX] URL: %s\n", prog,
                url);
        return 2;
    }
    int rc = s3_list_objects(c, bucket, prefix, recursive ? NULL : "/", 0,
                             &l, &err);
    if (rc < 0) {
        example_error(prog, "ListObjectsV2", &err);
        free(owned);
        return 1;
    }
    for (size_t i = 0; i < l.nprefixes; i++)
        printf("%30s PRE %s\n", "", l.prefixes[i]);
    for (size_t i = 0; i < l.nobjects; i++) {
        print_time(l.objects[i].mtime);
        printf(" %10llu %s\n", (unsigned long long)l.objects[i].size,
               l.objects[i].key);
    }
    s3_listing_release(&l);
    free(owned);
    return 0;
}

int main(int argc, char **argv)
{
    bool recursive = argc > 1 && strcmp(argv[1], "-r") == 0;
    int first = recursive ? 2 : 1;
    if (argc > first + 1 || (argc > 1 && argv[1][0] == '-' && !recursive)) {
        fprintf(stderr, "usage: %s [-r] [s3://BUCKET[/PREFIX]]\n", prog);
        return 2;
    }
    struct aws_client *c = example_client(prog);
    if (!c)
        return 1;
    int rc = argc > first ? list_keys(c, argv[first], recursive)
                          : list_buckets(c);
    aws_client_free(c);
    return rc;
}
