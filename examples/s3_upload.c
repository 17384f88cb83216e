/*
 * s3-upload — stream a file (or stdin, "-") to S3 through the multipart
 * uploader and print the object's ETag. Reads 1 MiB at a time, so memory is
 * the uploader's part pool, whatever the file's size.
 *
 *   s3-upload [-p PART_MIB] [-c CONCURRENCY] FILE s3://BUCKET/KEY
 *
 * Exit 0 when S3 holds the complete object; 1 on failure, in which case the
 * multipart upload has been aborted (nothing is left behind); 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/mpu.h"
#include "util.h"

#define CHUNK ((size_t)1 << 20)

static const char *prog = "s3-upload";

static int usage(void)
{
    fprintf(stderr,
            "usage: %s [-p PART_MIB] [-c CONCURRENCY] FILE s3://BUCKET/KEY\n",
            prog);
    return 2;
}

/* Feed the file to the uploader; -1 with err on failure. */
static int pump(FILE *f, struct mpu *m, char *chunk, struct aws_error *err)
{
    size_t n;
    while ((n = fread(chunk, 1, CHUNK, f)) > 0)
        if (mpu_write(m, chunk, n, err) < 0)
            return -1;
    if (ferror(f)) {
        aws_error_set(err, AWS_ERR_IO, "read error: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int upload(struct aws_client *c, const char *path, const char *bucket,
                  const char *key, const struct mpu_options *o)
{
    struct aws_error err;
    char etag[72];
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *chunk = malloc(CHUNK);
    if (!f || !chunk) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        free(chunk);
        return 1;
    }
    struct mpu *m = mpu_new(c, bucket, key, o, &err);
    int rc = m ? pump(f, m, chunk, &err) : -1;
    if (rc == 0)
        rc = mpu_finish(m, etag, &err);
    if (rc == 0)
        printf("%s\n", etag);
    else
        example_error(prog, "upload failed (aborted)", &err);
    mpu_free(m); /* aborts whatever is left of a failed upload */
    if (f != stdin)
        fclose(f);
    free(chunk);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct mpu_options o = {0};
    char *bucket, *key, *owned;
    int opt;
    while ((opt = getopt(argc, argv, "p:c:")) != -1) {
        if (opt == 'p')
            o.part_size = (size_t)strtoul(optarg, NULL, 10) << 20;
        else if (opt == 'c')
            o.concurrency = (int)strtol(optarg, NULL, 10);
        else
            return usage();
    }
    if (argc - optind != 2)
        return usage();
    if (example_s3_url(argv[optind + 1], &bucket, &key, &owned) < 0 || !*key) {
        free(owned);
        return usage();
    }
    struct aws_client *c = example_client(prog);
    int rc = c ? upload(c, argv[optind], bucket, key, &o) : 1;
    aws_client_free(c);
    free(owned);
    return rc;
}
