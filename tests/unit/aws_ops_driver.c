/*
 * aws_ops_driver.c — every aws/ operation as a subcommand, for
 * tests/test_aws_ops.py (which checks the effects with the AWS CLI).
 *
 *   aws_ops_driver COMMAND ARGS...      (list: aws_ops_driver help)
 *
 * Configured from the environment like the CLI (AWS_ENDPOINT_URL, AWS_*
 * credentials, AWS_REGION/AWS_DEFAULT_REGION). AMIFS_RETRY_BASE_MS shortens
 * the retry backoff; AMIFS_LOG=debug|info|warn|error sets the log level
 * (stderr). Output: one tab-separated line per item. Exit 0 ok, 1 AWS or
 * local error (the error line on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/ec2.h"
#include "aws/iam.h"
#include "aws/sts.h"
#include "aws/mpu.h"
#include "aws/s3.h"

struct ctx {
    struct aws_client *c;
    struct aws_error err;
    int argc;
    char **argv; /* arguments after the command */
};

typedef int (*cmd_fn)(struct ctx *x);

/* ---- helpers ------------------------------------------------------------ */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[65536];
    size_t n;
    if (!f)
        return NULL;
    buf_init(&b, (size_t)8 << 30);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n) < 0)
            break;
    fclose(f);
    *len = b.len;
    if (!b.data)
        return strdup("");
    return buf_detach(&b);
}

static int file_arg(struct ctx *x, const char *path, char **data, size_t *len)
{
    *data = slurp(path, len);
    if (*data)
        return 0;
    aws_error_set(&x->err, AWS_ERR_IO, "cannot read %s", path);
    return -1;
}

static int sink_stdout(void *ctx, const char *data, size_t n)
{
    (void)ctx;
    return fwrite(data, 1, n, stdout) == n ? 0 : -1;
}

/* "key=value" → tags (value NULL when there is no '='). */
static int tags_from_args(struct ec2_tags *t, char **argv, int argc)
{
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (eq)
            *eq = '\0';
        if (ec2_tags_add(t, argv[i], eq ? eq + 1 : NULL) < 0)
            return -1;
    }
    return 0;
}

/* "+id" → add, "-id" → remove. */
static int perms_from_args(char **argv, int argc, struct ec2_id_list *add,
                           struct ec2_id_list *rm)
{
    add->v = calloc((size_t)argc + 1, sizeof *add->v);
    rm->v = calloc((size_t)argc + 1, sizeof *rm->v);
    if (!add->v || !rm->v)
        return -1;
    for (int i = 0; i < argc; i++) {
        struct ec2_id_list *l = argv[i][0] == '-' ? rm : add;
        const char *id = argv[i][0] == '+' || argv[i][0] == '-' ? argv[i] + 1
                                                                : argv[i];
        if (!(l->v[l->n] = strdup(id)))
            return -1;
        l->n++;
    }
    return 0;
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ---- S3 ----------------------------------------------------------------- */

static int cmd_list_buckets(struct ctx *x)
{
    struct s3_bucket_list l;
    if (s3_list_buckets(x->c, &l, &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        printf("%s\t%lld\n", l.v[i].name, (long long)l.v[i].created);
    s3_bucket_list_release(&l);
    return 0;
}

static int cmd_bucket_location(struct ctx *x)
{
    char region[64];
    if (s3_get_bucket_location(x->c, x->argv[0], region, sizeof region,
                               &x->err) < 0)
        return -1;
    printf("%s\n", region);
    return 0;
}

static int cmd_create_bucket(struct ctx *x)
{
    return s3_create_bucket(x->c, x->argv[0], x->argc > 1 ? x->argv[1] : NULL,
                            &x->err);
}

static int cmd_ls(struct ctx *x)
{
    struct s3_listing l;
    const char *prefix = x->argc > 1 ? x->argv[1] : NULL;
    const char *delim = x->argc > 2 && *x->argv[2] ? x->argv[2] : NULL;
    size_t max = x->argc > 3 ? strtoul(x->argv[3], NULL, 10) : 0;
    if (s3_list_objects(x->c, x->argv[0], prefix, delim, max, &l, &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.nobjects; i++)
        printf("K\t%s\t%llu\t%s\t%lld\n", l.objects[i].key,
               (unsigned long long)l.objects[i].size, l.objects[i].etag,
               (long long)l.objects[i].mtime);
    for (size_t i = 0; i < l.nprefixes; i++)
        printf("P\t%s\n", l.prefixes[i]);
    s3_listing_release(&l);
    return 0;
}

static int cmd_head(struct ctx *x)
{
    struct s3_head h;
    if (s3_head_object(x->c, x->argv[0], x->argv[1], &h, &x->err) < 0)
        return -1;
    printf("%llu\t%s\t%lld\t%s\n", (unsigned long long)h.size, h.etag,
           (long long)h.mtime, h.content_type);
    return 0;
}

static int cmd_get(struct ctx *x)
{
    uint64_t off = x->argc > 2 ? strtoull(x->argv[2], NULL, 10) : 0;
    uint64_t len = x->argc > 3 ? strtoull(x->argv[3], NULL, 10) : 0;
    const char *match = x->argc > 4 ? x->argv[4] : NULL;
    int rc = s3_get_object(x->c, x->argv[0], x->argv[1], off, len, match,
                           sink_stdout, NULL, &x->err);
    fflush(stdout);
    return rc;
}

static int cmd_put(struct ctx *x)
{
    char etag[72], *data;
    size_t len;
    if (file_arg(x, x->argv[2], &data, &len) < 0)
        return -1;
    int rc = s3_put_object(x->c, x->argv[0], x->argv[1], data, len, etag,
                           &x->err);
    if (rc == 0)
        printf("%s\n", etag);
    free(data);
    return rc;
}

static int cmd_delete(struct ctx *x)
{
    return s3_delete_object(x->c, x->argv[0], x->argv[1], &x->err);
}

static int cmd_copy(struct ctx *x)
{
    char etag[72];
    if (s3_copy_object(x->c, x->argv[0], x->argv[1], x->argv[2], x->argv[3],
                       etag, &x->err) < 0)
        return -1;
    printf("%s\n", etag);
    return 0;
}

static int cmd_copy_any(struct ctx *x)
{
    return s3_copy_any(x->c, x->argv[0], x->argv[1],
                       strtoull(x->argv[2], NULL, 10), x->argv[3], x->argv[4],
                       &x->err);
}

static int cmd_mpu_create(struct ctx *x)
{
    char id[1024];
    if (s3_mpu_create(x->c, x->argv[0], x->argv[1], id, sizeof id,
                      &x->err) < 0)
        return -1;
    printf("%s\n", id);
    return 0;
}

static int cmd_mpu_part(struct ctx *x)
{
    char etag[72], *data;
    size_t len;
    if (file_arg(x, x->argv[4], &data, &len) < 0)
        return -1;
    int rc = s3_mpu_upload_part(x->c, x->argv[0], x->argv[1], x->argv[2],
                                (int)strtol(x->argv[3], NULL, 10), data, len,
                                etag, &x->err);
    if (rc == 0)
        printf("%s\n", etag);
    free(data);
    return rc;
}

static int cmd_mpu_part_copy(struct ctx *x)
{
    char etag[72];
    if (s3_mpu_upload_part_copy(
            x->c, x->argv[0], x->argv[1], x->argv[2],
            (int)strtol(x->argv[3], NULL, 10), x->argv[4], x->argv[5],
            strtoull(x->argv[6], NULL, 10), strtoull(x->argv[7], NULL, 10),
            etag, &x->err) < 0)
        return -1;
    printf("%s\n", etag);
    return 0;
}

/* mpu-complete B K ID N:ETAG ... */
static int cmd_mpu_complete(struct ctx *x)
{
    size_t n = (size_t)x->argc - 3;
    struct s3_part *parts = calloc(n ? n : 1, sizeof *parts);
    char etag[72];
    int rc = parts ? 0 : aws_error_set(&x->err, AWS_ERR_NOMEM, "oom");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *colon = strchr(x->argv[3 + i], ':');
        if (!colon) {
            rc = aws_error_set(&x->err, AWS_ERR_INVALID, "want N:ETAG");
            break;
        }
        parts[i].number = (int)strtol(x->argv[3 + i], NULL, 10);
        s3_etag_strip(colon + 1, parts[i].etag);
    }
    if (rc == 0)
        rc = s3_mpu_complete(x->c, x->argv[0], x->argv[1], x->argv[2], parts,
                             n, etag, &x->err);
    if (rc == 0)
        printf("%s\n", etag);
    free(parts);
    return rc;
}

static int cmd_mpu_abort(struct ctx *x)
{
    return s3_mpu_abort(x->c, x->argv[0], x->argv[1], x->argv[2], &x->err);
}

static int cmd_mpu_list(struct ctx *x)
{
    struct s3_upload_list l;
    if (s3_mpu_list(x->c, x->argv[0], x->argc > 1 ? x->argv[1] : NULL, &l,
                    &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        printf("%s\t%s\n", l.v[i].key, l.v[i].upload_id);
    s3_upload_list_release(&l);
    return 0;
}

static int cmd_mpu_parts(struct ctx *x)
{
    struct s3_part *p;
    size_t n;
    if (s3_mpu_list_parts(x->c, x->argv[0], x->argv[1], x->argv[2], &p, &n,
                          &x->err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        printf("%d\t%s\t%llu\n", p[i].number, p[i].etag,
               (unsigned long long)p[i].size);
    free(p);
    return 0;
}

/* upload B K FILE PART_MIB CONC [ABORT_AFTER]: stream through mpu in
 * 1 MiB writes; with ABORT_AFTER, abort once that many bytes went in. */
static int cmd_upload(struct ctx *x)
{
    struct mpu_options o = {0};
    static char chunk[1 << 20];
    char etag[72], id[1024];
    o.part_size = (size_t)strtoul(x->argv[3], NULL, 10) << 20;
    o.concurrency = (int)strtol(x->argv[4], NULL, 10);
    uint64_t abort_after = x->argc > 5 ? strtoull(x->argv[5], NULL, 10) : 0;
    FILE *f = fopen(x->argv[2], "rb");
    if (!f)
        return aws_error_set(&x->err, AWS_ERR_IO, "cannot open %s",
                             x->argv[2]);
    struct mpu *m = mpu_new(x->c, x->argv[0], x->argv[1], &o, &x->err);
    int rc = m ? 0 : -1;
    size_t n;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = mpu_write(m, chunk, n, &x->err);
        if (rc == 0 && abort_after && mpu_bytes_written(m) >= abort_after) {
            mpu_upload_id(m, id, sizeof id);
            mpu_abort(m);
            printf("aborted\t%s\t%d\n", id, (int)mpu_state(m));
            fclose(f);
            mpu_free(m);
            return 0;
        }
    }
    fclose(f);
    if (rc == 0)
        rc = mpu_finish(m, etag, &x->err);
    if (rc == 0)
        printf("%s\t%llu\n", etag, (unsigned long long)mpu_bytes_sent(m));
    mpu_free(m);
    return rc;
}

/* ---- EC2 ---------------------------------------------------------------- */

static void print_task(const struct ec2_import_task *t)
{
    printf("%s\t%s\t%s\t%s\t%s\n", t->import_task_id, nz(t->status),
           nz(t->status_message), nz(t->progress), nz(t->image_id));
}

/* import-image B K FORMAT [TOKEN [TAG=V...]] */
static int cmd_import_image(struct ctx *x)
{
    struct ec2_disk_container d = {.format = x->argv[2],
                                   .s3_bucket = x->argv[0],
                                   .s3_key = x->argv[1],
                                   .description = "amifs-test-disk"};
    struct ec2_tags tags = {0};
    struct ec2_import_params p = {.disks = &d, .ndisks = 1,
                                  .description = "amifs-test-import",
                                  .architecture = "x86_64",
                                  .platform = "Linux",
                                  .license_type = "BYOL",
                                  .boot_mode = "legacy-bios",
                                  .tags = &tags};
    struct ec2_import_task t;
    if (x->argc > 3 && *x->argv[3])
        p.client_token = x->argv[3];
    int rc = x->argc > 4 ? tags_from_args(&tags, x->argv + 4, x->argc - 4) : 0;
    if (rc == 0)
        rc = ec2_import_image(x->c, &p, &t, &x->err);
    if (rc == 0) {
        print_task(&t);
        ec2_import_task_release(&t);
    }
    ec2_tags_release(&tags);
    return rc;
}

static int cmd_describe_import_tasks(struct ctx *x)
{
    struct ec2_import_task_list l;
    const char *state = getenv("AMIFS_TASK_STATE");
    if (ec2_describe_import_image_tasks(x->c, NULL,
                                        (const char *const *)x->argv,
                                        (size_t)x->argc, state, &l,
                                        &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        print_task(&l.v[i]);
    ec2_import_task_list_release(&l);
    return 0;
}

static int cmd_cancel_import(struct ctx *x)
{
    return ec2_cancel_import_task(x->c, x->argv[0], "amifs-test", &x->err);
}

static int cmd_import_snapshot(struct ctx *x)
{
    struct ec2_disk_container d = {.format = x->argv[2],
                                   .s3_bucket = x->argv[0],
                                   .s3_key = x->argv[1]};
    struct ec2_import_snapshot_task t;
    if (ec2_import_snapshot(x->c, &d, "amifs-test-snapshot", NULL,
                            x->argc > 3 ? x->argv[3] : NULL, NULL, &t,
                            &x->err) < 0)
        return -1;
    printf("%s\t%s\n", t.import_task_id, nz(t.detail.status));
    ec2_import_snapshot_task_release(&t);
    return 0;
}

static int cmd_describe_snapshot_tasks(struct ctx *x)
{
    struct ec2_import_snapshot_task_list l;
    if (ec2_describe_import_snapshot_tasks(x->c, NULL,
                                           (const char *const *)x->argv,
                                           (size_t)x->argc, &l, &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        printf("%s\t%s\t%s\t%s\n", l.v[i].import_task_id,
               nz(l.v[i].detail.status), nz(l.v[i].detail.status_message),
               nz(l.v[i].detail.snapshot_id));
    ec2_import_snapshot_task_list_release(&l);
    return 0;
}

static int cmd_describe_images(struct ctx *x)
{
    struct ec2_image_list l;
    if (ec2_describe_images(x->c, NULL, (const char *const *)x->argv,
                            (size_t)x->argc, &l, &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++) {
        const struct ec2_image *im = &l.v[i];
        printf("%s\t%s\t%s\t%s\n", im->image_id, nz(im->state), nz(im->name),
               im->ndevices ? nz(im->devices[0].snapshot_id) : "");
    }
    ec2_image_list_release(&l);
    return 0;
}

static int cmd_image_json(struct ctx *x)
{
    struct ec2_image_list l;
    if (ec2_describe_images(x->c, NULL, (const char *const *)x->argv, 1, &l,
                            &x->err) < 0)
        return -1;
    char *js = l.n ? ec2_image_to_json(&l.v[0]) : NULL;
    int rc = js ? 0 : aws_error_set(&x->err, AWS_ERR_INVALID, "no image");
    if (js)
        printf("%s\n", js);
    free(js);
    ec2_image_list_release(&l);
    return rc;
}

static int cmd_describe_snapshots(struct ctx *x)
{
    struct ec2_snapshot_list l;
    if (ec2_describe_snapshots(x->c, NULL, (const char *const *)x->argv,
                               (size_t)x->argc, &l, &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        printf("%s\t%s\t%d\n", l.v[i].snapshot_id, nz(l.v[i].state),
               l.v[i].volume_size);
    ec2_snapshot_list_release(&l);
    return 0;
}

static int tag_cmd(struct ctx *x, bool create)
{
    struct ec2_tags tags = {0};
    const char *res[] = {x->argv[0]};
    int rc = tags_from_args(&tags, x->argv + 1, x->argc - 1);
    if (rc == 0)
        rc = (create ? ec2_create_tags : ec2_delete_tags)(x->c, NULL, res, 1,
                                                          &tags, &x->err);
    ec2_tags_release(&tags);
    return rc;
}

static int cmd_create_tags(struct ctx *x)
{
    return tag_cmd(x, true);
}

static int cmd_delete_tags(struct ctx *x)
{
    return tag_cmd(x, false);
}

static int cmd_deregister(struct ctx *x)
{
    return ec2_deregister_image(x->c, NULL, x->argv[0], &x->err);
}

static int cmd_delete_snapshot(struct ctx *x)
{
    return ec2_delete_snapshot(x->c, NULL, x->argv[0], &x->err);
}

/* copy-image SRC_REGION ID DST_REGION NAME [TOKEN] */
static int cmd_copy_image(struct ctx *x)
{
    char id[64];
    if (ec2_copy_image(x->c, x->argv[0], x->argv[1], x->argv[2], x->argv[3],
                       "amifs-test-copy", x->argc > 4 ? x->argv[4] : NULL, id,
                       sizeof id, &x->err) < 0)
        return -1;
    printf("%s\n", id);
    return 0;
}

static int cmd_launch_perms(struct ctx *x)
{
    struct ec2_id_list l;
    if (ec2_describe_launch_permissions(x->c, NULL, x->argv[0], &l,
                                        &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        printf("%s\n", l.v[i]);
    ec2_id_list_release(&l);
    return 0;
}

static int perm_cmd(struct ctx *x, bool image)
{
    struct ec2_id_list add = {0}, rm = {0};
    int rc = perms_from_args(x->argv + 1, x->argc - 1, &add, &rm);
    if (rc < 0)
        aws_error_set(&x->err, AWS_ERR_NOMEM, "oom");
    else if (image)
        rc = ec2_modify_launch_permissions(x->c, NULL, x->argv[0], &add, &rm,
                                           &x->err);
    else
        rc = ec2_modify_snapshot_create_volume_permissions(
            x->c, NULL, x->argv[0], &add, &rm, &x->err);
    ec2_id_list_release(&add);
    ec2_id_list_release(&rm);
    return rc;
}

static int cmd_modify_launch_perms(struct ctx *x)
{
    return perm_cmd(x, true);
}

static int cmd_snapshot_perms(struct ctx *x)
{
    return perm_cmd(x, false);
}

static int cmd_regions(struct ctx *x)
{
    struct ec2_id_list l;
    if (ec2_describe_regions(x->c, &l, &x->err) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++)
        printf("%s\n", l.v[i]);
    ec2_id_list_release(&l);
    return 0;
}

/* ---- IAM and STS -------------------------------------------------------- */

static int print_role(struct iam_role *r)
{
    printf("%s\t%s\n%s\n", r->role_name, r->arn, nz(r->assume_role_policy));
    iam_role_release(r);
    return 0;
}

static int cmd_iam_get_role(struct ctx *x)
{
    struct iam_role r;
    if (iam_get_role(x->c, x->argv[0], &r, &x->err) < 0)
        return -1;
    return print_role(&r);
}

static int cmd_iam_create_role(struct ctx *x)
{
    struct iam_role r;
    char *doc;
    size_t len;
    if (file_arg(x, x->argv[1], &doc, &len) < 0)
        return -1;
    int rc = iam_create_role(x->c, x->argv[0], doc, "amifs-test-role", &r,
                             &x->err);
    free(doc);
    return rc < 0 ? -1 : print_role(&r);
}

static int cmd_iam_put_role_policy(struct ctx *x)
{
    char *doc;
    size_t len;
    if (file_arg(x, x->argv[2], &doc, &len) < 0)
        return -1;
    int rc = iam_put_role_policy(x->c, x->argv[0], x->argv[1], doc, &x->err);
    free(doc);
    return rc;
}

static int cmd_iam_get_role_policy(struct ctx *x)
{
    char *doc;
    if (iam_get_role_policy(x->c, x->argv[0], x->argv[1], &doc, &x->err) < 0)
        return -1;
    printf("%s\n", doc);
    free(doc);
    return 0;
}

static int cmd_iam_list_role_policies(struct ctx *x)
{
    char **names;
    size_t n;
    if (iam_list_role_policies(x->c, x->argv[0], &names, &n, &x->err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        printf("%s\n", names[i]);
        free(names[i]);
    }
    free(names);
    return 0;
}

static int cmd_sts_identity(struct ctx *x)
{
    struct sts_identity id;
    if (sts_get_caller_identity(x->c, &id, &x->err) < 0)
        return -1;
    printf("%s\t%s\t%s\n", id.account, id.arn, id.user_id);
    sts_identity_release(&id);
    return 0;
}

/* sts-assume-role ARN SESSION [EXTERNAL_ID]: signs with the environment's
 * keys as the explicit source; prints the new key id (never the secret)
 * and whether a session token came back. */
static int cmd_sts_assume_role(struct ctx *x)
{
    struct aws_credentials src = {0}, out;
    struct aws_sender s = aws_client_sender(x->c);
    src.access_key_id = getenv("AWS_ACCESS_KEY_ID");
    src.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    src.session_token = getenv("AWS_SESSION_TOKEN");
    if (!src.access_key_id || !src.secret_access_key)
        return aws_error_set(&x->err, AWS_ERR_CREDENTIALS, "no env keys");
    if (sts_assume_role(&s, &src, x->argv[0], x->argv[1],
                        x->argc > 2 ? x->argv[2] : NULL, 900, &out,
                        &x->err) < 0)
        return -1;
    printf("%s\t%lld\t%s\n", out.access_key_id, (long long)out.expiration,
           out.session_token && *out.session_token ? "token" : "no-token");
    aws_credentials_release(&out);
    return 0;
}

/* ---- main --------------------------------------------------------------- */

static const struct command {
    const char *name;
    int min_args;
    cmd_fn fn;
    const char *usage;
} commands[] = {
    {"list-buckets", 0, cmd_list_buckets, ""},
    {"bucket-location", 1, cmd_bucket_location, "B"},
    {"create-bucket", 1, cmd_create_bucket, "B [REGION]"},
    {"ls", 1, cmd_ls, "B [PREFIX [DELIM [MAX]]]"},
    {"head", 2, cmd_head, "B K"},
    {"get", 2, cmd_get, "B K [OFFSET LEN [IF_MATCH]]"},
    {"put", 3, cmd_put, "B K FILE"},
    {"delete", 2, cmd_delete, "B K"},
    {"copy", 4, cmd_copy, "SB SK DB DK"},
    {"copy-any", 5, cmd_copy_any, "SB SK SIZE DB DK"},
    {"mpu-create", 2, cmd_mpu_create, "B K"},
    {"mpu-part", 5, cmd_mpu_part, "B K ID N FILE"},
    {"mpu-part-copy", 8, cmd_mpu_part_copy, "B K ID N SB SK FIRST LAST"},
    {"mpu-complete", 3, cmd_mpu_complete, "B K ID N:ETAG..."},
    {"mpu-abort", 3, cmd_mpu_abort, "B K ID"},
    {"mpu-list", 1, cmd_mpu_list, "B [PREFIX]"},
    {"mpu-parts", 3, cmd_mpu_parts, "B K ID"},
    {"upload", 5, cmd_upload, "B K FILE PART_MIB CONC [ABORT_AFTER]"},
    {"import-image", 3, cmd_import_image, "B K FORMAT [TOKEN [K=V...]]"},
    {"describe-import-tasks", 0, cmd_describe_import_tasks, "[ID...]"},
    {"cancel-import", 1, cmd_cancel_import, "ID"},
    {"import-snapshot", 3, cmd_import_snapshot, "B K FORMAT [TOKEN]"},
    {"describe-snapshot-tasks", 0, cmd_describe_snapshot_tasks, "[ID...]"},
    {"describe-images", 0, cmd_describe_images, "[ID...]"},
    {"image-json", 1, cmd_image_json, "ID"},
    {"describe-snapshots", 0, cmd_describe_snapshots, "[ID...]"},
    {"create-tags", 2, cmd_create_tags, "RES K=V..."},
    {"delete-tags", 2, cmd_delete_tags, "RES K[=V]..."},
    {"deregister", 1, cmd_deregister, "AMI"},
    {"delete-snapshot", 1, cmd_delete_snapshot, "SNAP"},
    {"copy-image", 4, cmd_copy_image, "SRC_REGION AMI DST_REGION NAME [TOK]"},
    {"launch-perms", 1, cmd_launch_perms, "AMI"},
    {"modify-launch-perms", 2, cmd_modify_launch_perms, "AMI +ID|-ID..."},
    {"snapshot-perms", 2, cmd_snapshot_perms, "SNAP +ID|-ID..."},
    {"regions", 0, cmd_regions, ""},
    {"iam-get-role", 1, cmd_iam_get_role, "NAME"},
    {"iam-create-role", 2, cmd_iam_create_role, "NAME TRUST_FILE"},
    {"iam-put-role-policy", 3, cmd_iam_put_role_policy, "ROLE NAME FILE"},
    {"iam-get-role-policy", 2, cmd_iam_get_role_policy, "ROLE NAME"},
    {"iam-list-role-policies", 1, cmd_iam_list_role_policies, "ROLE"},
    {"sts-identity", 0, cmd_sts_identity, ""},
    {"sts-assume-role", 2, cmd_sts_assume_role, "ARN SESSION [EXTID]"},
};

static int usage(void)
{
    fprintf(stderr, "usage: aws_ops_driver COMMAND ARGS...\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(stderr, "  %s %s\n", commands[i].name, commands[i].usage);
    return 2;
}

static void log_stderr(void *ctx, enum aws_log_level level, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "[%d] %s\n", (int)level, msg);
}

static enum aws_log_level log_level(void)
{
    const char *v = getenv("AMIFS_LOG");
    if (!v)
        return AWS_LOG_WARN;
    if (strcasecmp(v, "debug") == 0)
        return AWS_LOG_DEBUG;
    if (strcasecmp(v, "info") == 0)
        return AWS_LOG_INFO;
    return strcasecmp(v, "error") == 0 ? AWS_LOG_ERROR : AWS_LOG_WARN;
}

int main(int argc, char **argv)
{
    const struct command *cmd = NULL;
    struct aws_client_options o = {0};
    struct ctx x = {0};
    const char *base = getenv("AMIFS_RETRY_BASE_MS");

    for (size_t i = 0; argc > 1 && i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd || argc - 2 < cmd->min_args)
        return usage();
    o.logger = (struct aws_logger){log_stderr, NULL, log_level()};
    o.retry_base_ms = base ? strtol(base, NULL, 10) : 0;
    x.c = aws_client_new(&o, &x.err);
    x.argc = argc - 2;
    x.argv = argv + 2;
    int rc = x.c ? cmd->fn(&x) : -1;
    if (rc < 0) {
        char line[1024];
        aws_error_format(&x.err, line, sizeof line);
        fprintf(stderr, "aws_ops_driver %s: %s\n", cmd->name, line);
    }
    aws_client_free(x.c);
    return rc < 0 ? 1 : 0;
}
