/*
 * ec2.c — EC2 VM Import and AMI calls (query protocol, 2016-11-15).
 *
 * Each call is a form builder, aws_query(), and a pure parser of the answer
 * (exposed in ec2.h for unit tests). Wire names follow doc/AWS.md "EC2 lists".
 */
#include "aws/ec2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aws/ops_priv.h"
#include "aws/xml.h"

#define EC2_VERSION "2016-11-15"

/* ---- small helpers ------------------------------------------------------ */

/* strdup of the text at `path` below n; NULL when absent. A failed
 * allocation clears *ok so parsers check once at the end. */
static char *dup_at(const struct xml_node *n, const char *path, bool *ok)
{
    const char *s = xml_path(n, path);
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

static bool bool_at(const struct xml_node *n, const char *path)
{
    const char *s = xml_path(n, path);
    return s && strcmp(s, "true") == 0;
}

static int int_at(const struct xml_node *n, const char *path)
{
    const char *s = xml_path(n, path);
    return s ? (int)strtol(s, NULL, 10) : 0;
}

/* Like botocore, the root's name is not insisted on (`name` is what EC2
 * sends); an error document (<Response><Errors>) is never a result. */
static int check_root(const struct xml_node *root, const char *name,
                      struct aws_error *err)
{
    (void)name;
    if (root && strcmp(xml_name(root), "Response") != 0 &&
        strcmp(xml_name(root), "ErrorResponse") != 0 &&
        strcmp(xml_name(root), "Error") != 0)
        return 0;
    return aws_error_set(err, AWS_ERR_PARSE, "unexpected EC2 answer: %s",
                         root ? xml_name(root) : "(none)");
}

static int next_token(const struct xml_node *root, char **next,
                      struct aws_error *err)
{
    const char *t = xml_path(root, "nextToken");
    *next = NULL;
    if (!t || !*t)
        return 0;
    return (*next = strdup(t)) ? 0 : aws_nomem(err);
}

/* The item parser parse_item_set() calls: fills *elem from one <item> and
 * returns 0, or sets err and returns -1 with *elem already released. */
typedef int (*item_parser)(const struct xml_node *n, void *elem,
                           struct aws_error *err);

/* The one shape of every Describe* page: each <item> of root/<set> appended
 * to the array *v (*n elements of `elem` bytes). On failure *v and *n hold
 * the items parsed before it, so the list's release function frees them. */
static int parse_item_set(const struct xml_node *root, const char *root_name,
                          const char *set, void **v, size_t *n, size_t elem,
                          item_parser parse, char **next,
                          struct aws_error *err)
{
    *next = NULL;
    if (check_root(root, root_name, err) < 0)
        return -1;
    const struct xml_node *it = xml_child(xml_child(root, set), "item");
    for (; it; it = xml_next(it, "item")) {
        if (aws_grow_array(v, *n, elem) < 0)
            return aws_nomem(err);
        if (parse(it, (char *)*v + *n * elem, err) < 0)
            return -1;
        (*n)++;
    }
    return next_token(root, next, err);
}

/* ---- tags --------------------------------------------------------------- */

int ec2_tags_add(struct ec2_tags *t, const char *key, const char *value)
{
    if (aws_grow_array((void **)&t->v, t->n, sizeof *t->v) < 0)
        return -1;
    struct ec2_tag *e = &t->v[t->n];
    e->key = strdup(key);
    e->value = value ? strdup(value) : NULL;
    if (!e->key || (value && !e->value)) {
        free(e->key);
        free(e->value);
        return -1;
    }
    t->n++;
    return 0;
}

const char *ec2_tags_get(const struct ec2_tags *t, const char *key)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return t->v[i].value ? t->v[i].value : "";
    return NULL;
}

void ec2_tags_release(struct ec2_tags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].value);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

static bool parse_tags(const struct xml_node *n, struct ec2_tags *t)
{
    const struct xml_node *it = xml_child(xml_child(n, "tagSet"), "item");
    for (; it; it = xml_next(it, "item")) {
        const char *k = xml_path(it, "key");
        if (k && ec2_tags_add(t, k, xml_text(xml_child(it, "value"))) < 0)
            return false;
    }
    return true;
}

/* Tag.N.Key/Value under `prefix` ("Tag" or "TagSpecification.1.Tag"). */
static void form_tags(struct aws_form *f, const char *prefix,
                      const struct ec2_tags *tags)
{
    for (size_t i = 0; tags && i < tags->n; i++) {
        aws_form_addf(f, tags->v[i].key, "%s.%zu.Key", prefix, i + 1);
        aws_form_addf(f, tags->v[i].value, "%s.%zu.Value", prefix, i + 1);
    }
}

/* Name.1, Name.2, … */
static void form_list(struct aws_form *f, const char *name,
                      const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        aws_form_addf(f, v[i], "%s.%zu", name, i + 1);
}

/* ---- import tasks ------------------------------------------------------- */

static void snapshot_detail_release(struct ec2_snapshot_detail *s)
{
    free(s->description);
    free(s->device_name);
    free(s->format);
    free(s->progress);
    free(s->snapshot_id);
    free(s->status);
    free(s->status_message);
    free(s->url);
    free(s->s3_bucket);
    free(s->s3_key);
    memset(s, 0, sizeof *s);
}

static void parse_snapshot_detail(const struct xml_node *n,
                                  struct ec2_snapshot_detail *s, bool *ok)
{
    const char *size = xml_path(n, "diskImageSize");
    memset(s, 0, sizeof *s);
    s->description = dup_at(n, "description", ok);
    s->device_name = dup_at(n, "deviceName", ok);
    s->disk_image_size = size ? strtod(size, NULL) : 0;
    s->format = dup_at(n, "format", ok);
    s->progress = dup_at(n, "progress", ok);
    s->snapshot_id = dup_at(n, "snapshotId", ok);
    s->status = dup_at(n, "status", ok);
    s->status_message = dup_at(n, "statusMessage", ok);
    s->url = dup_at(n, "url", ok);
    s->s3_bucket = dup_at(n, "userBucket/s3Bucket", ok);
    s->s3_key = dup_at(n, "userBucket/s3Key", ok);
}

static bool parse_snapshot_details(const struct xml_node *n,
                                   struct ec2_import_task *t)
{
    bool ok = true;
    const struct xml_node *it;
    it = xml_child(xml_child(n, "snapshotDetailSet"), "item");
    for (; it && ok; it = xml_next(it, "item")) {
        if (aws_grow_array((void **)&t->snapshots, t->nsnapshots,
                           sizeof *t->snapshots) < 0)
            return false;
        parse_snapshot_detail(it, &t->snapshots[t->nsnapshots++], &ok);
    }
    return ok;
}

void ec2_import_task_release(struct ec2_import_task *t)
{
    char **strs[] = {&t->import_task_id, &t->architecture, &t->description,
                     &t->hypervisor, &t->image_id, &t->kms_key_id,
                     &t->license_type, &t->platform, &t->progress,
                     &t->status, &t->status_message, &t->boot_mode,
                     &t->usage_operation};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        free(*strs[i]);
    for (size_t i = 0; i < t->nsnapshots; i++)
        snapshot_detail_release(&t->snapshots[i]);
    free(t->snapshots);
    ec2_tags_release(&t->tags);
    memset(t, 0, sizeof *t);
}

int ec2_parse_import_task(const struct xml_node *n,
                          struct ec2_import_task *t, struct aws_error *err)
{
    bool ok = true;
    memset(t, 0, sizeof *t);
    t->import_task_id = dup_at(n, "importTaskId", &ok);
    t->architecture = dup_at(n, "architecture", &ok);
    t->description = dup_at(n, "description", &ok);
    t->encrypted = bool_at(n, "encrypted");
    t->hypervisor = dup_at(n, "hypervisor", &ok);
    t->image_id = dup_at(n, "imageId", &ok);
    t->kms_key_id = dup_at(n, "kmsKeyId", &ok);
    t->license_type = dup_at(n, "licenseType", &ok);
    t->platform = dup_at(n, "platform", &ok);
    t->progress = dup_at(n, "progress", &ok);
    t->status = dup_at(n, "status", &ok);
    t->status_message = dup_at(n, "statusMessage", &ok);
    t->boot_mode = dup_at(n, "bootMode", &ok);
    t->usage_operation = dup_at(n, "usageOperation", &ok);
    if (!parse_snapshot_details(n, t) || !parse_tags(n, &t->tags))
        ok = false;
    if (ok && !t->import_task_id)
        ok = (aws_error_set(err, AWS_ERR_PARSE, "task without importTaskId"),
              false);
    else if (!ok)
        aws_nomem(err);
    if (!ok)
        ec2_import_task_release(t);
    return ok ? 0 : -1;
}

static int task_item(const struct xml_node *n, void *t, struct aws_error *err)
{
    return ec2_parse_import_task(n, t, err);
}

int ec2_parse_import_tasks(const struct xml_node *root,
                           struct ec2_import_task_list *out, char **next,
                           struct aws_error *err)
{
    return parse_item_set(root, "DescribeImportImageTasksResponse",
                          "importImageTaskSet", (void **)&out->v, &out->n,
                          sizeof *out->v, task_item, next, err);
}

void ec2_import_task_list_release(struct ec2_import_task_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        ec2_import_task_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void form_disk(struct aws_form *f, const char *pre,
                      const struct ec2_disk_container *d)
{
    aws_form_addf(f, d->format, "%s.Format", pre);
    aws_form_addf(f, d->s3_bucket, "%s.UserBucket.S3Bucket", pre);
    aws_form_addf(f, d->s3_key, "%s.UserBucket.S3Key", pre);
    aws_form_addf(f, d->url, "%s.Url", pre);
    aws_form_addf(f, d->description, "%s.Description", pre);
    aws_form_addf(f, d->device_name, "%s.DeviceName", pre);
    aws_form_addf(f, d->snapshot_id, "%s.SnapshotId", pre);
}

static void form_tag_spec(struct aws_form *f, const char *type,
                          const struct ec2_tags *tags)
{
    if (!tags || !tags->n)
        return;
    aws_form_add(f, "TagSpecification.1.ResourceType", type);
    form_tags(f, "TagSpecification.1.Tag", tags);
}

void ec2_import_image_form(struct aws_form *f,
                           const struct ec2_import_params *p)
{
    char pre[40];
    for (size_t i = 0; i < p->ndisks; i++) {
        snprintf(pre, sizeof pre, "DiskContainer.%zu", i + 1);
        form_disk(f, pre, &p->disks[i]);
    }
    aws_form_add(f, "Description", p->description);
    aws_form_add(f, "Architecture", p->architecture);
    aws_form_add(f, "Platform", p->platform);
    aws_form_add(f, "BootMode", p->boot_mode);
    aws_form_add(f, "LicenseType", p->license_type);
    aws_form_add(f, "UsageOperation", p->usage_operation);
    aws_form_add(f, "LicenseSpecifications.1.LicenseConfigurationArn",
                 p->license_config_arn);
    aws_form_add(f, "Hypervisor", p->hypervisor);
    if (p->encrypted || p->kms_key_id)
        aws_form_add(f, "Encrypted", "true");
    aws_form_add(f, "KmsKeyId", p->kms_key_id);
    aws_form_add(f, "RoleName", p->role_name);
    aws_form_add(f, "ClientToken", p->client_token);
    if (p->dry_run)
        aws_form_add(f, "DryRun", "true");
    form_tag_spec(f, "import-image-task", p->tags);
}

int ec2_import_image_dry_run(struct aws_client *c,
                             const struct ec2_import_params *p,
                             struct aws_error *err)
{
    struct ec2_import_params dry = *p;
    struct ec2_import_task t;
    int rc;

    dry.dry_run = true;
    rc = ec2_import_image(c, &dry, &t, err);
    ec2_import_task_release(&t);
    if (rc == 0)
        return 1; /* DryRun ignored: a task may have started */
    if (err->kind == AWS_ERR_SERVICE &&
        strcmp(err->code, "DryRunOperation") == 0) {
        aws_error_clear(err);
        return 0;
    }
    return -1;
}

int ec2_import_image(struct aws_client *c, const struct ec2_import_params *p,
                     struct ec2_import_task *out, struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    if (!p->ndisks)
        return aws_error_set(err, AWS_ERR_INVALID, "no disk to import");
    aws_form_init(&f, "ImportImage", EC2_VERSION);
    ec2_import_image_form(&f, p);
    /* Without a ClientToken a retry after a lost answer could start a
     * second import; with one the service deduplicates. */
    int rc = aws_query(c, AWS_SVC_EC2, NULL, &f, p->client_token != NULL,
                       &doc, err);
    if (rc == 0 && check_root(xml_root(doc), "ImportImageResponse", err) < 0)
        rc = -1;
    if (rc == 0)
        rc = ec2_parse_import_task(xml_root(doc), out, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

/* ---- paginated Describe calls ------------------------------------------- */

struct describe_args {
    const char *id_name;     /* "ImportTaskId", "ImageId", … */
    const char *const *ids;
    size_t nids;
    const char *owner;       /* Owner.1, or NULL */
    const char *filter_name; /* Filters.1.Name / Filter.1.Name, or NULL */
    const char *filter_key;  /* "Filters" or "Filter" */
    const char *filter_value;
    const char *exec_by;     /* ExecutableBy.1, or NULL */
};

typedef int (*page_parser)(const struct xml_node *root, void *out,
                           char **next, struct aws_error *err);

static void describe_form(struct aws_form *f, const struct describe_args *a,
                          const char *token)
{
    form_list(f, a->id_name, a->ids, a->nids);
    aws_form_add(f, "Owner.1", a->owner);
    aws_form_add(f, "ExecutableBy.1", a->exec_by);
    if (a->filter_name && a->filter_value) {
        aws_form_addf(f, a->filter_name, "%s.1.Name", a->filter_key);
        aws_form_addf(f, a->filter_value, "%s.1.Value.1", a->filter_key);
    }
    aws_form_add(f, "NextToken", token);
}

static int describe_all(struct aws_client *c, const char *region,
                        const char *action, const struct describe_args *a,
                        page_parser parse, void *out, struct aws_error *err)
{
    char *token = NULL, *prev = NULL;
    int rc = 0;
    do {
        struct aws_form f;
        struct xml_doc *doc = NULL;
        aws_form_init(&f, action, EC2_VERSION);
        describe_form(&f, a, token);
        free(prev);
        prev = token;
        token = NULL;
        rc = aws_query(c, AWS_SVC_EC2, region, &f, true, &doc, err);
        if (rc == 0)
            rc = parse(xml_root(doc), out, &token, err);
        xml_free(doc);
        aws_form_release(&f);
        if (rc == 0 && token && prev && strcmp(token, prev) == 0)
            rc = aws_error_set(err, AWS_ERR_PARSE, "%s: NextToken repeats",
                               action);
    } while (rc == 0 && token);
    free(prev);
    free(token);
    return rc;
}

static int tasks_page(const struct xml_node *root, void *out, char **next,
                      struct aws_error *err)
{
    return ec2_parse_import_tasks(root, out, next, err);
}

int ec2_describe_import_image_tasks(struct aws_client *c, const char *region,
                                    const char *const *ids, size_t nids,
                                    const char *state_filter,
                                    struct ec2_import_task_list *out,
                                    struct aws_error *err)
{
    /* DescribeImportImageTasks filters with Filters.N, plural. */
    struct describe_args a = {"ImportTaskId", ids, nids, NULL, "task-state",
                              "Filters", state_filter, NULL};
    memset(out, 0, sizeof *out);
    int rc = describe_all(c, region, "DescribeImportImageTasks", &a,
                          tasks_page, out, err);
    if (rc < 0)
        ec2_import_task_list_release(out);
    return rc;
}

/* A call whose answer is only <return>true</return> (or nothing useful). */
static int simple_call(struct aws_client *c, const char *region,
                       struct aws_form *f, bool idempotent,
                       struct aws_error *err)
{
    struct xml_doc *doc = NULL;
    int rc = aws_query(c, AWS_SVC_EC2, region, f, idempotent, &doc, err);
    const char *ret = rc == 0 ? xml_path(xml_root(doc), "return") : NULL;
    if (ret && strcmp(ret, "false") == 0)
        rc = aws_error_set(err, AWS_ERR_SERVICE, "EC2 answered false");
    xml_free(doc);
    aws_form_release(f);
    return rc;
}

int ec2_cancel_import_task(struct aws_client *c, const char *task_id,
                           const char *reason, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "CancelImportTask", EC2_VERSION);
    aws_form_add(&f, "ImportTaskId", task_id);
    aws_form_add(&f, "CancelReason", reason);
    return simple_call(c, NULL, &f, true, err);
}

/* ---- ImportSnapshot ----------------------------------------------------- */

void ec2_import_snapshot_task_release(struct ec2_import_snapshot_task *t)
{
    free(t->import_task_id);
    free(t->description);
    snapshot_detail_release(&t->detail);
    ec2_tags_release(&t->tags);
    memset(t, 0, sizeof *t);
}

int ec2_parse_import_snapshot_task(const struct xml_node *n,
                                   struct ec2_import_snapshot_task *t,
                                   struct aws_error *err)
{
    bool ok = true;
    memset(t, 0, sizeof *t);
    t->import_task_id = dup_at(n, "importTaskId", &ok);
    t->description = dup_at(n, "description", &ok);
    parse_snapshot_detail(xml_child(n, "snapshotTaskDetail"), &t->detail,
                          &ok);
    t->encrypted = bool_at(n, "snapshotTaskDetail/encrypted");
    if (!parse_tags(n, &t->tags))
        ok = false;
    if (ok && !t->import_task_id)
        ok = (aws_error_set(err, AWS_ERR_PARSE, "task without importTaskId"),
              false);
    else if (!ok)
        aws_nomem(err);
    if (!ok)
        ec2_import_snapshot_task_release(t);
    return ok ? 0 : -1;
}

int ec2_import_snapshot(struct aws_client *c,
                        const struct ec2_disk_container *disk,
                        const char *description, const char *role_name,
                        const char *client_token, const struct ec2_tags *tags,
                        struct ec2_import_snapshot_task *out,
                        struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "ImportSnapshot", EC2_VERSION);
    form_disk(&f, "DiskContainer", disk); /* one struct, not a list */
    aws_form_add(&f, "Description", description);
    aws_form_add(&f, "RoleName", role_name);
    aws_form_add(&f, "ClientToken", client_token);
    form_tag_spec(&f, "import-snapshot-task", tags);
    int rc = aws_query(c, AWS_SVC_EC2, NULL, &f, client_token != NULL, &doc,
                       err);
    if (rc == 0 &&
        check_root(xml_root(doc), "ImportSnapshotResponse", err) < 0)
        rc = -1;
    if (rc == 0)
        rc = ec2_parse_import_snapshot_task(xml_root(doc), out, err);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

static int snap_task_item(const struct xml_node *n, void *t,
                          struct aws_error *err)
{
    return ec2_parse_import_snapshot_task(n, t, err);
}

int ec2_parse_import_snapshot_tasks(const struct xml_node *root,
                                    struct ec2_import_snapshot_task_list *out,
                                    char **next, struct aws_error *err)
{
    return parse_item_set(root, "DescribeImportSnapshotTasksResponse",
                          "importSnapshotTaskSet", (void **)&out->v, &out->n,
                          sizeof *out->v, snap_task_item, next, err);
}

void ec2_import_snapshot_task_list_release(
    struct ec2_import_snapshot_task_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        ec2_import_snapshot_task_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int snap_tasks_page(const struct xml_node *root, void *out,
                           char **next, struct aws_error *err)
{
    return ec2_parse_import_snapshot_tasks(root, out, next, err);
}

int ec2_describe_import_snapshot_tasks(
    struct aws_client *c, const char *region, const char *const *ids,
    size_t nids, struct ec2_import_snapshot_task_list *out,
    struct aws_error *err)
{
    struct describe_args a = {"ImportTaskId", ids, nids, NULL, NULL,
                              "Filters", NULL, NULL};
    memset(out, 0, sizeof *out);
    int rc = describe_all(c, region, "DescribeImportSnapshotTasks", &a,
                          snap_tasks_page, out, err);
    if (rc < 0)
        ec2_import_snapshot_task_list_release(out);
    return rc;
}

/* ---- XML → JSON (image.json) -------------------------------------------- */

/* Serialise an element back to XML text (names and text; AWS answers carry
 * no attributes or mixed content worth keeping). */
static int xml_serialize(struct buf *out, const struct xml_node *n)
{
    const struct xml_node *ch = xml_child(n, NULL);
    if (buf_printf(out, "<%s>", xml_name(n)) < 0)
        return -1;
    if (!ch && xml_escape(out, xml_text(n)) < 0)
        return -1;
    for (; ch; ch = xml_next(ch, NULL))
        if (xml_serialize(out, ch) < 0)
            return -1;
    return buf_printf(out, "</%s>", xml_name(n));
}

static bool is_list_name(const char *name)
{
    static const char *const lists[] = {
        "blockDeviceMapping", "productCodes", "launchPermission",
        "licenseSpecifications", "regionInfo", NULL};
    size_t n = strlen(name);
    if (n > 3 && strcmp(name + n - 3, "Set") == 0)
        return true;
    for (size_t i = 0; lists[i]; i++)
        if (strcmp(name, lists[i]) == 0)
            return true;
    return false;
}

/* The CLI's key for an element: tagSet → Tags, blockDeviceMapping →
 * BlockDeviceMappings, imageId → ImageId. */
static void json_key(const char *name, bool list, char *out, size_t n)
{
    /* Where the model's member name differs from the XML element. */
    static const char *const renames[][2] = {
        {"imageState", "State"}, {"imageOwnerId", "OwnerId"},
        {"isPublic", "Public"}, {"productCode", "ProductCodeId"}};
    for (size_t i = 0; i < sizeof renames / sizeof *renames; i++)
        if (strcmp(name, renames[i][0]) == 0) {
            snprintf(out, n, "%s", renames[i][1]);
            return;
        }
    size_t len = strlen(name);
    if (list && len > 3 && strcmp(name + len - 3, "Set") == 0)
        len -= 3;
    if (len > n - 3)
        len = n - 3;
    memcpy(out, name, len);
    if (list && len && out[len - 1] != 's')
        out[len++] = 's';
    out[len] = '\0';
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
}

static cJSON *json_scalar(const char *name, const char *text)
{
    static const char *const numbers[] = {"volumeSize", "iops", "throughput",
                                          NULL};
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
        return cJSON_CreateBool(text[0] == 't');
    for (size_t i = 0; numbers[i]; i++)
        if (strcmp(name, numbers[i]) == 0 && *text)
            return cJSON_CreateNumber(strtod(text, NULL));
    return cJSON_CreateString(text);
}

static cJSON *json_of(const struct xml_node *n);

static cJSON *json_array(const struct xml_node *n)
{
    cJSON *a = cJSON_CreateArray();
    const struct xml_node *it = xml_child(n, "item");
    for (; a && it; it = xml_next(it, "item")) {
        cJSON *v = json_of(it);
        if (!v || !cJSON_AddItemToArray(a, v)) {
            cJSON_Delete(v);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *json_of(const struct xml_node *n)
{
    const struct xml_node *ch = xml_child(n, NULL);
    if (!ch)
        return json_scalar(xml_name(n), xml_text(n));
    cJSON *o = cJSON_CreateObject();
    for (; o && ch; ch = xml_next(ch, NULL)) {
        char key[128];
        bool list = is_list_name(xml_name(ch));
        cJSON *v = list ? json_array(ch) : json_of(ch);
        json_key(xml_name(ch), list, key, sizeof key);
        if (!v || !cJSON_AddItemToObject(o, key, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

char *ec2_xml_to_json(const char *xml, size_t len)
{
    struct aws_error err;
    struct xml_doc *doc = xml_parse(xml, len, &err);
    if (!doc)
        return NULL;
    cJSON *j = json_of(xml_root(doc));
    char *s = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    xml_free(doc);
    return s;
}

char *ec2_image_to_json(const struct ec2_image *img)
{
    if (!img->raw_xml)
        return NULL;
    return ec2_xml_to_json(img->raw_xml, strlen(img->raw_xml));
}

/* ---- DescribeImages ----------------------------------------------------- */

static void image_release(struct ec2_image *im)
{
    char **strs[] = {&im->image_id, &im->name, &im->description, &im->state,
                     &im->owner_id, &im->creation_date, &im->architecture,
                     &im->platform, &im->boot_mode, &im->root_device_name,
                     &im->state_reason_code, &im->state_reason,
                     &im->raw_xml, &im->deprecation_time};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        free(*strs[i]);
    for (size_t i = 0; i < im->ndevices; i++) {
        free(im->devices[i].device_name);
        free(im->devices[i].snapshot_id);
        free(im->devices[i].kms_key_id);
    }
    free(im->devices);
    ec2_tags_release(&im->tags);
    memset(im, 0, sizeof *im);
}

static bool parse_devices(const struct xml_node *n, struct ec2_image *im)
{
    bool ok = true;
    const struct xml_node *it;
    it = xml_child(xml_child(n, "blockDeviceMapping"), "item");
    for (; it && ok; it = xml_next(it, "item")) {
        if (aws_grow_array((void **)&im->devices, im->ndevices,
                           sizeof *im->devices) < 0)
            return false;
        struct ec2_block_device *d = &im->devices[im->ndevices++];
        memset(d, 0, sizeof *d);
        d->device_name = dup_at(it, "deviceName", &ok);
        d->snapshot_id = dup_at(it, "ebs/snapshotId", &ok);
        d->volume_size = int_at(it, "ebs/volumeSize");
        d->encrypted = bool_at(it, "ebs/encrypted");
        d->kms_key_id = dup_at(it, "ebs/kmsKeyId", &ok);
    }
    return ok;
}

static bool parse_image(const struct xml_node *n, struct ec2_image *im)
{
    bool ok = true;
    struct buf raw;
    memset(im, 0, sizeof *im);
    im->image_id = dup_at(n, "imageId", &ok);
    im->name = dup_at(n, "name", &ok);
    im->description = dup_at(n, "description", &ok);
    im->state = dup_at(n, "imageState", &ok);
    im->owner_id = dup_at(n, "imageOwnerId", &ok);
    im->creation_date = dup_at(n, "creationDate", &ok);
    im->architecture = dup_at(n, "architecture", &ok);
    im->platform = dup_at(n, "platform", &ok);
    im->boot_mode = dup_at(n, "bootMode", &ok);
    im->root_device_name = dup_at(n, "rootDeviceName", &ok);
    im->state_reason_code = dup_at(n, "stateReason/code", &ok);
    im->state_reason = dup_at(n, "stateReason/message", &ok);
    im->is_public = bool_at(n, "isPublic");
    im->deprecation_time = dup_at(n, "deprecationTime", &ok);
    if (!parse_devices(n, im) || !parse_tags(n, &im->tags))
        ok = false;
    buf_init(&raw, 0);
    if (xml_serialize(&raw, n) < 0 || !(im->raw_xml = buf_detach(&raw)))
        ok = false;
    buf_release(&raw);
    return ok;
}

/* A partly parsed image is released here, not counted in the list. */
static int image_item(const struct xml_node *n, void *im,
                      struct aws_error *err)
{
    if (parse_image(n, im))
        return 0;
    image_release(im);
    return aws_nomem(err);
}

int ec2_parse_images(const struct xml_node *root, struct ec2_image_list *out,
                     char **next, struct aws_error *err)
{
    return parse_item_set(root, "DescribeImagesResponse", "imagesSet",
                          (void **)&out->v, &out->n, sizeof *out->v,
                          image_item, next, err);
}

void ec2_image_list_release(struct ec2_image_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        image_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int images_page(const struct xml_node *root, void *out, char **next,
                       struct aws_error *err)
{
    return ec2_parse_images(root, out, next, err);
}

int ec2_describe_images(struct aws_client *c, const char *region,
                        const char *const *ids, size_t nids,
                        struct ec2_image_list *out, struct aws_error *err)
{
    struct describe_args a = {"ImageId", ids, nids, "self", NULL, "Filter",
                              NULL, NULL};
    memset(out, 0, sizeof *out);
    int rc = describe_all(c, region, "DescribeImages", &a, images_page, out,
                          err);
    if (rc < 0)
        ec2_image_list_release(out);
    return rc;
}

int ec2_describe_images_shared(struct aws_client *c, const char *region,
                               struct ec2_image_list *out,
                               struct aws_error *err)
{
    struct describe_args a = {"ImageId", NULL, 0, NULL, NULL, "Filter",
                              NULL, "self"};
    memset(out, 0, sizeof *out);
    int rc = describe_all(c, region, "DescribeImages", &a, images_page, out,
                          err);
    if (rc < 0)
        ec2_image_list_release(out);
    return rc;
}

/* ---- DescribeSnapshots -------------------------------------------------- */

static bool parse_snapshot(const struct xml_node *n, struct ec2_snapshot *s)
{
    bool ok = true;
    memset(s, 0, sizeof *s);
    s->snapshot_id = dup_at(n, "snapshotId", &ok);
    s->state = dup_at(n, "status", &ok);
    s->description = dup_at(n, "description", &ok);
    s->volume_size = int_at(n, "volumeSize");
    s->encrypted = bool_at(n, "encrypted");
    s->kms_key_id = dup_at(n, "kmsKeyId", &ok);
    return parse_tags(n, &s->tags) && ok;
}

static void snapshot_release(struct ec2_snapshot *s)
{
    free(s->snapshot_id);
    free(s->state);
    free(s->description);
    free(s->kms_key_id);
    ec2_tags_release(&s->tags);
    memset(s, 0, sizeof *s);
}

static int snapshot_item(const struct xml_node *n, void *sn,
                         struct aws_error *err)
{
    if (parse_snapshot(n, sn))
        return 0;
    snapshot_release(sn);
    return aws_nomem(err);
}

int ec2_parse_snapshots(const struct xml_node *root,
                        struct ec2_snapshot_list *out, char **next,
                        struct aws_error *err)
{
    return parse_item_set(root, "DescribeSnapshotsResponse", "snapshotSet",
                          (void **)&out->v, &out->n, sizeof *out->v,
                          snapshot_item, next, err);
}

void ec2_snapshot_list_release(struct ec2_snapshot_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        snapshot_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int snapshots_page(const struct xml_node *root, void *out, char **next,
                          struct aws_error *err)
{
    return ec2_parse_snapshots(root, out, next, err);
}

int ec2_describe_snapshots(struct aws_client *c, const char *region,
                           const char *const *ids, size_t nids,
                           struct ec2_snapshot_list *out,
                           struct aws_error *err)
{
    struct describe_args a = {"SnapshotId", ids, nids, "self", NULL, "Filter",
                              NULL, NULL};
    memset(out, 0, sizeof *out);
    int rc = describe_all(c, region, "DescribeSnapshots", &a, snapshots_page,
                          out, err);
    if (rc < 0)
        ec2_snapshot_list_release(out);
    return rc;
}

/* ---- tags, deregister, delete, copy ------------------------------------- */

int ec2_create_tags(struct aws_client *c, const char *region,
                    const char *const *resources, size_t nresources,
                    const struct ec2_tags *tags, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "CreateTags", EC2_VERSION);
    form_list(&f, "ResourceId", resources, nresources);
    form_tags(&f, "Tag", tags);
    return simple_call(c, region, &f, true, err);
}

int ec2_delete_tags(struct aws_client *c, const char *region,
                    const char *const *resources, size_t nresources,
                    const struct ec2_tags *tags, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "DeleteTags", EC2_VERSION);
    form_list(&f, "ResourceId", resources, nresources);
    form_tags(&f, "Tag", tags); /* a NULL value adds no Value parameter */
    return simple_call(c, region, &f, true, err);
}

int ec2_deregister_image(struct aws_client *c, const char *region,
                         const char *image_id, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "DeregisterImage", EC2_VERSION);
    aws_form_add(&f, "ImageId", image_id);
    return simple_call(c, region, &f, true, err);
}

int ec2_delete_snapshot(struct aws_client *c, const char *region,
                        const char *snapshot_id, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "DeleteSnapshot", EC2_VERSION);
    aws_form_add(&f, "SnapshotId", snapshot_id);
    return simple_call(c, region, &f, true, err);
}

/* Send form f (then released) to `region` and copy the answer's imageId
 * into out (n bytes): CopyImage, CreateImage, RegisterImage. `retry`: the
 * call is idempotent (a ClientToken) and may be resent after a lost answer. */
static int image_id_call(struct aws_client *c, const char *region,
                         const char *op, struct aws_form *f, bool retry,
                         char *out, size_t n, struct aws_error *err)
{
    struct xml_doc *doc = NULL;
    int rc = aws_query(c, AWS_SVC_EC2, region, f, retry, &doc, err);
    const char *id = rc == 0 ? xml_path(xml_root(doc), "imageId") : NULL;
    if (rc == 0 && (!id || !*id || strlen(id) >= n))
        rc = aws_error_set(err, AWS_ERR_PARSE, "%s: no usable imageId", op);
    else if (rc == 0)
        memcpy(out, id, strlen(id) + 1);
    xml_free(doc);
    aws_form_release(f);
    return rc;
}

int ec2_copy_image(struct aws_client *c, const char *src_region,
                   const char *image_id, const char *dst_region,
                   const char *name, const char *description,
                   const char *client_token, char *out, size_t n,
                   struct aws_error *err)
{
    struct ec2_copy_params p = {src_region, image_id, dst_region, name,
                                description, client_token, NULL};
    return ec2_copy_image_ex(c, &p, out, n, err);
}

int ec2_copy_image_ex(struct aws_client *c, const struct ec2_copy_params *p,
                      char *out, size_t n, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "CopyImage", EC2_VERSION);
    aws_form_add(&f, "SourceImageId", p->image_id);
    aws_form_add(&f, "SourceRegion",
                 p->src_region ? p->src_region : aws_client_region(c));
    aws_form_add(&f, "Name", p->name);
    aws_form_add(&f, "Description", p->description);
    aws_form_add(&f, "ClientToken", p->client_token);
    if (p->kms_key_id) {
        aws_form_add(&f, "Encrypted", "true");
        aws_form_add(&f, "KmsKeyId", p->kms_key_id);
    }
    /* CopyImage is a call to the destination region. */
    return image_id_call(c, p->dst_region, "CopyImage", &f,
                         p->client_token != NULL, out, n, err);
}

/* ---- launch and create-volume permissions, regions ---------------------- */

void ec2_id_list_release(struct ec2_id_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int id_add(struct ec2_id_list *l, const char *id)
{
    if (aws_grow_array((void **)&l->v, l->n, sizeof *l->v) < 0)
        return -1;
    if (!(l->v[l->n] = strdup(id)))
        return -1;
    l->n++;
    return 0;
}

int ec2_parse_launch_permissions(const struct xml_node *root,
                                 struct ec2_id_list *out,
                                 struct aws_error *err)
{
    if (check_root(root, "DescribeImageAttributeResponse", err) < 0)
        return -1;
    const struct xml_node *it;
    it = xml_child(xml_child(root, "launchPermission"), "item");
    for (; it; it = xml_next(it, "item")) {
        const char *id = xml_path(it, "userId");
        const char *group = xml_path(it, "group"); /* "all" */
        const char *org = xml_path(it, "organizationArn");
        const char *ou = xml_path(it, "organizationalUnitArn");
        const char *v = id ? id : group ? group : org ? org : ou;
        if (v && *v && id_add(out, v) < 0)
            return aws_nomem(err);
    }
    return 0;
}

int ec2_describe_launch_permissions(struct aws_client *c, const char *region,
                                    const char *image_id,
                                    struct ec2_id_list *out,
                                    struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "DescribeImageAttribute", EC2_VERSION);
    aws_form_add(&f, "ImageId", image_id);
    aws_form_add(&f, "Attribute", "launchPermission");
    int rc = aws_query(c, AWS_SVC_EC2, region, &f, true, &doc, err);
    if (rc == 0)
        rc = ec2_parse_launch_permissions(xml_root(doc), out, err);
    if (rc < 0)
        ec2_id_list_release(out);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

/* The member of a LaunchPermission that names entry `v`. */
static const char *permission_field(const char *v)
{
    if (strcmp(v, "all") == 0)
        return "Group";
    if (strncmp(v, "arn:", 4) != 0)
        return "UserId";
    return strstr(v, ":organization/") ? "OrganizationArn"
                                       : "OrganizationalUnitArn";
}

/* LaunchPermission.Add.N.UserId, .Group=all for the public group,
 * .OrganizationArn / .OrganizationalUnitArn for an AWS Organizations ARN. */
static void form_permissions(struct aws_form *f, const char *prefix,
                             const struct ec2_id_list *l)
{
    for (size_t i = 0; l && i < l->n; i++)
        aws_form_addf(f, l->v[i], "%s.%zu.%s", prefix, i + 1,
                      permission_field(l->v[i]));
}

int ec2_modify_launch_permissions(struct aws_client *c, const char *region,
                                  const char *image_id,
                                  const struct ec2_id_list *add,
                                  const struct ec2_id_list *remove,
                                  struct aws_error *err)
{
    struct aws_form f;
    if ((!add || !add->n) && (!remove || !remove->n))
        return 0;
    aws_form_init(&f, "ModifyImageAttribute", EC2_VERSION);
    aws_form_add(&f, "ImageId", image_id);
    form_permissions(&f, "LaunchPermission.Add", add);
    form_permissions(&f, "LaunchPermission.Remove", remove);
    return simple_call(c, region, &f, true, err);
}

/* The flat form (OperationType + UserId.N / UserGroup.N): accepted by AWS
 * and the only one moto implements for snapshots. */
static int snapshot_permission_op(struct aws_client *c, const char *region,
                                  const char *snapshot_id, const char *op,
                                  const struct ec2_id_list *l,
                                  struct aws_error *err)
{
    struct aws_form f;
    size_t users = 0;
    if (!l || !l->n)
        return 0;
    aws_form_init(&f, "ModifySnapshotAttribute", EC2_VERSION);
    aws_form_add(&f, "SnapshotId", snapshot_id);
    aws_form_add(&f, "Attribute", "createVolumePermission");
    aws_form_add(&f, "OperationType", op);
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], "all") == 0)
            aws_form_add(&f, "UserGroup.1", "all");
        else
            aws_form_addf(&f, l->v[i], "UserId.%zu", ++users);
    }
    return simple_call(c, region, &f, true, err);
}

int ec2_modify_snapshot_create_volume_permissions(
    struct aws_client *c, const char *region, const char *snapshot_id,
    const struct ec2_id_list *add, const struct ec2_id_list *remove,
    struct aws_error *err)
{
    if (snapshot_permission_op(c, region, snapshot_id, "add", add, err) < 0)
        return -1;
    return snapshot_permission_op(c, region, snapshot_id, "remove", remove,
                                  err);
}

int ec2_parse_regions(const struct xml_node *root, struct ec2_id_list *out,
                      struct aws_error *err)
{
    if (check_root(root, "DescribeRegionsResponse", err) < 0)
        return -1;
    const struct xml_node *it;
    it = xml_child(xml_child(root, "regionInfo"), "item");
    for (; it; it = xml_next(it, "item")) {
        const char *name = xml_path(it, "regionName");
        if (name && *name && id_add(out, name) < 0)
            return aws_nomem(err);
    }
    return 0;
}

int ec2_describe_regions(struct aws_client *c, struct ec2_id_list *out,
                         struct aws_error *err)
{
    struct aws_form f;
    struct xml_doc *doc = NULL;
    memset(out, 0, sizeof *out);
    aws_form_init(&f, "DescribeRegions", EC2_VERSION);
    int rc = aws_query(c, AWS_SVC_EC2, NULL, &f, true, &doc, err);
    if (rc == 0)
        rc = ec2_parse_regions(xml_root(doc), out, err);
    if (rc < 0)
        ec2_id_list_release(out);
    xml_free(doc);
    aws_form_release(&f);
    return rc;
}

/* ---- instances (DescribeInstances, CreateImage) ------------------------ */

static void instance_release(struct ec2_instance *in)
{
    free(in->instance_id);
    free(in->state);
    free(in->type);
    free(in->name);
    free(in->raw_xml);
    ec2_id_list_release(&in->volumes);
    ec2_tags_release(&in->tags);
    memset(in, 0, sizeof *in);
}

void ec2_instance_list_release(struct ec2_instance_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        instance_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool parse_instance(const struct xml_node *n, struct ec2_instance *in)
{
    bool ok = true;
    struct buf raw;
    const struct xml_node *it;
    memset(in, 0, sizeof *in);
    in->instance_id = dup_at(n, "instanceId", &ok);
    in->state = dup_at(n, "instanceState/name", &ok);
    in->type = dup_at(n, "instanceType", &ok);
    if (!parse_tags(n, &in->tags))
        ok = false;
    const char *name = ec2_tags_get(&in->tags, "Name");
    if (name && !(in->name = strdup(name)))
        ok = false;
    it = xml_child(xml_child(n, "blockDeviceMapping"), "item");
    for (; it && ok; it = xml_next(it, "item")) {
        const char *vol = xml_path(it, "ebs/volumeId");
        if (vol && id_add(&in->volumes, vol) < 0)
            ok = false;
    }
    buf_init(&raw, 0);
    if (xml_serialize(&raw, n) < 0 || !(in->raw_xml = buf_detach(&raw)))
        ok = false;
    buf_release(&raw);
    return ok;
}

int ec2_parse_instances(const struct xml_node *root,
                        struct ec2_instance_list *out, char **next,
                        struct aws_error *err)
{
    const struct xml_node *r, *it;
    *next = NULL;
    if (check_root(root, "DescribeInstancesResponse", err) < 0)
        return -1;
    r = xml_child(xml_child(root, "reservationSet"), "item");
    for (; r; r = xml_next(r, "item")) {
        it = xml_child(xml_child(r, "instancesSet"), "item");
        for (; it; it = xml_next(it, "item")) {
            if (aws_grow_array((void **)&out->v, out->n, sizeof *out->v) < 0)
                return aws_nomem(err);
            if (!parse_instance(it, &out->v[out->n])) {
                instance_release(&out->v[out->n]);
                return aws_nomem(err);
            }
            out->n++;
        }
    }
    const char *tok = xml_path(root, "nextToken");
    if (tok && *tok && !(*next = strdup(tok)))
        return aws_nomem(err);
    return 0;
}

static int instances_page(const struct xml_node *root, void *out,
                          char **next, struct aws_error *err)
{
    return ec2_parse_instances(root, out, next, err);
}

int ec2_describe_instances(struct aws_client *c, const char *region,
                           struct ec2_instance_list *out,
                           struct aws_error *err)
{
    struct describe_args a = {"InstanceId", NULL, 0, NULL, NULL, "Filter",
                              NULL, NULL};
    memset(out, 0, sizeof *out);
    int rc = describe_all(c, region, "DescribeInstances", &a,
                          instances_page, out, err);
    if (rc < 0)
        ec2_instance_list_release(out);
    return rc;
}

int ec2_create_image(struct aws_client *c, const char *region,
                     const char *instance_id, const char *name,
                     bool no_reboot, const struct ec2_tags *tags, char *out,
                     size_t n, struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, "CreateImage", EC2_VERSION);
    aws_form_add(&f, "InstanceId", instance_id);
    aws_form_add(&f, "Name", name);
    aws_form_add(&f, "NoReboot", no_reboot ? "true" : "false");
    if (tags && tags->n) {
        aws_form_add(&f, "TagSpecification.1.ResourceType", "image");
        form_tags(&f, "TagSpecification.1.Tag", tags);
        aws_form_add(&f, "TagSpecification.2.ResourceType", "snapshot");
        form_tags(&f, "TagSpecification.2.Tag", tags);
    }
    /* No ClientToken exists for CreateImage: not retried once sent (the
     * name is unique per region, so a retry could only fail anyway). */
    return image_id_call(c, region, "CreateImage", &f, false, out, n, err);
}

/* ---- RegisterImage ------------------------------------------------------ */

void ec2_register_image_form(struct aws_form *f,
                             const struct ec2_register_params *p)
{
    aws_form_add(f, "Name", p->name);
    aws_form_add(f, "Description", p->description);
    aws_form_add(f, "Architecture", p->architecture);
    aws_form_add(f, "BootMode", p->boot_mode);
    aws_form_add(f, "RootDeviceName", p->root_device_name);
    aws_form_add(f, "VirtualizationType", "hvm");
    aws_form_add(f, "TpmSupport", p->tpm_support);
    aws_form_add(f, "ImdsSupport", p->imds_support);
    if (p->ena_support)
        aws_form_add(f, "EnaSupport", "true");
    for (size_t i = 0; i < p->ndisks; i++) {
        const struct ec2_register_disk *d = &p->disks[i];
        aws_form_addf(f, d->device_name, "BlockDeviceMapping.%zu.DeviceName",
                      i + 1);
        aws_form_addf(f, d->snapshot_id,
                      "BlockDeviceMapping.%zu.Ebs.SnapshotId", i + 1);
        aws_form_addf(f, d->delete_on_termination ? "true" : "false",
                      "BlockDeviceMapping.%zu.Ebs.DeleteOnTermination",
                      i + 1);
    }
    form_tag_spec(f, "image", p->tags);
}

int ec2_register_image(struct aws_client *c, const char *region,
                       const struct ec2_register_params *p, char *out,
                       size_t n, struct aws_error *err)
{
    struct aws_form f;
    if (!p->name || !p->ndisks || !p->root_device_name)
        return aws_error_set(err, AWS_ERR_INVALID,
                             "RegisterImage: name, disks and root device "
                             "are required");
    aws_form_init(&f, "RegisterImage", EC2_VERSION);
    ec2_register_image_form(&f, p);
    return image_id_call(c, region, "RegisterImage", &f, false, out, n, err);
}

int ec2_image_action(struct aws_client *c, const char *region,
                     const char *action, const char *image_id,
                     const char *name, const char *value,
                     struct aws_error *err)
{
    struct aws_form f;
    aws_form_init(&f, action, EC2_VERSION);
    aws_form_add(&f, "ImageId", image_id);
    if (name)
        aws_form_add(&f, name, value);
    return simple_call(c, region, &f, true, err);
}
