/* status.c — rendering of the tasks/ID/ status files. */
#include "core/status.h"
#include "core/name.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const WORDS[] = {
    [STATUS_UPLOADING] = "uploading", [STATUS_VALIDATING] = "validating",
    [STATUS_ACTIVE] = "active",       [STATUS_COMPLETED] = "completed",
    [STATUS_FAILED] = "failed",       [STATUS_CANCELLED] = "cancelled",
    [STATUS_QUEUED] = "queued",
};

const char *status_word_name(enum status_word w)
{
    return WORDS[w];
}

bool status_word_ended(enum status_word w)
{
    return w == STATUS_COMPLETED || w == STATUS_FAILED ||
           w == STATUS_CANCELLED;
}

static bool eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

const char *status_tag(const struct ec2_tags *tags, const char *key)
{
    for (size_t i = 0; i < tags->n; i++)
        if (eq(tags->v[i].key, key))
            return tags->v[i].value ? tags->v[i].value : "";
    return NULL;
}

/* AWS prefixes asynchronous failures with "CLIENT_ERROR : " (or
 * "SERVER_ERROR : "); the status line shows the part users search for. */
static const char *strip_prefix(const char *msg)
{
    if (!msg)
        return "";
    const char *sep = strstr(msg, "_ERROR : ");
    if (sep && sep - msg <= 16)
        return sep + strlen("_ERROR : ");
    return msg;
}

/* The AWS side alone: active, completed, or ended without an image. */
static enum status_word word_of_task(const struct ec2_import_task *t,
                                     bool cancelled)
{
    if (eq(t->status, "completed"))
        return STATUS_COMPLETED;
    if (eq(t->status, "deleting") || eq(t->status, "deleted")) {
        if (cancelled ||
            (t->status_message && strcasestr(t->status_message, "cancel")))
            return STATUS_CANCELLED;
        return STATUS_FAILED;
    }
    return STATUS_ACTIVE;
}

static enum status_word word_of_upload(const struct upload_info *u)
{
    switch (u->phase) {
    case UPLOAD_WRITING:
    case UPLOAD_STAGED:
        return STATUS_UPLOADING;
    case UPLOAD_FINISHING:
        return STATUS_VALIDATING;
    case UPLOAD_STARTED:
        return STATUS_ACTIVE; /* until the task itself is known */
    case UPLOAD_FAILED:
        return STATUS_FAILED;
    case UPLOAD_CANCELLED:
        return STATUS_CANCELLED;
    case UPLOAD_QUEUED:
        return STATUS_QUEUED;
    }
    return STATUS_FAILED;
}

/* The AWS task speaks for the pair once ImportImage answered. */
static bool task_wins(const struct upload_info *u,
                      const struct ec2_import_task *t)
{
    return t && (!u || u->phase == UPLOAD_STARTED);
}

enum status_word status_word_of(const struct upload_info *u,
                                const struct ec2_import_task *t,
                                bool cancelled)
{
    if (task_wins(u, t))
        return word_of_task(t, cancelled);
    return word_of_upload(u);
}

void status_human_bytes(uint64_t n, char *out, unsigned len)
{
    static const char *const UNITS[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(out, len, "%llu B", (unsigned long long)n);
        return;
    }
    double v = (double)n / 1024.0;
    unsigned i = 0;
    while (v >= 1024.0 && i + 1 < sizeof UNITS / sizeof UNITS[0]) {
        v /= 1024.0;
        i++;
    }
    snprintf(out, len, "%.1f %s", v, UNITS[i]);
}

static int progress_of_task(const struct ec2_import_task *t)
{
    if (!t->progress)
        return 0;
    char *end;
    long p = strtol(t->progress, &end, 10);
    if (end == t->progress || p < 0)
        return 0;
    return p > 100 ? 100 : (int)p;
}

int status_progress(const struct upload_info *u,
                    const struct ec2_import_task *t, bool cancelled)
{
    enum status_word w = status_word_of(u, t, cancelled);
    if (status_word_ended(w))
        return 100;
    if (task_wins(u, t))
        return progress_of_task(t);
    return 0;
}

const char *status_failure(const struct upload_info *u,
                           const struct ec2_import_task *t, bool cancelled)
{
    enum status_word w = status_word_of(u, t, cancelled);
    if (w != STATUS_FAILED && w != STATUS_CANCELLED)
        return "";
    if (task_wins(u, t))
        return t->status_message ? strip_prefix(t->status_message)
                                 : (w == STATUS_CANCELLED ? "cancelled" : "");
    return u->detail ? u->detail : "";
}

static int line_uploading(const struct upload_info *u, struct buf *out)
{
    char got[32], sent[32];
    status_human_bytes(u->received, got, sizeof got);
    status_human_bytes(u->sent, sent, sizeof sent);
    if (u->phase == UPLOAD_STAGED && u->detail && *u->detail)
        return buf_printf(out, "uploading %s\n", u->detail); /* a set */
    if (u->phase == UPLOAD_STAGED)
        return buf_printf(out,
                          "uploading %s staged, complete; waiting for a "
                          "rename to a final name (.ova .vmdk .vhd .vhdx "
                          ".raw .img)\n",
                          got);
    return buf_printf(out, "uploading %s received, %s sent, %.1f MB/s\n", got,
                      sent, u->rate / 1e6);
}

static int line_of_upload(const struct upload_info *u, enum status_word w,
                          struct buf *out)
{
    const char *d = u->detail && *u->detail ? u->detail : NULL;
    switch (w) {
    case STATUS_UPLOADING:
        return line_uploading(u, out);
    case STATUS_VALIDATING:
        return buf_printf(out, "validating %s\n", d ? d : "finishing upload");
    case STATUS_QUEUED:
        return buf_printf(out, "queued %s\n",
                          d ? d : "(waiting for a free import slot)");
    case STATUS_ACTIVE:
        return buf_printf(out, "active pending (%s)\n",
                          u->task_id ? u->task_id : "ImportImage accepted");
    default: {
        char esc[4096]; /* details may quote a name: core/name.h */
        return buf_printf(out, "%s %s\n", status_word_name(w),
                          d ? name_esc(d, esc, sizeof esc) : "(no detail)");
    }
    }
}

static int line_of_task(const struct ec2_import_task *t, enum status_word w,
                        struct buf *out)
{
    switch (w) {
    case STATUS_COMPLETED: /* an import-snapshot task: its snapshot */
        if ((!t->image_id || !*t->image_id) && t->nsnapshots &&
            t->snapshots[0].snapshot_id)
            return buf_printf(out, "completed %s\n",
                              t->snapshots[0].snapshot_id);
        return buf_printf(out, "completed %s\n",
                          t->image_id && *t->image_id ? t->image_id
                                                      : "(no image id)");
    case STATUS_ACTIVE:
        return buf_printf(out, "active %s %d%%\n",
                          t->status_message && *t->status_message
                              ? t->status_message
                              : "pending",
                          progress_of_task(t));
    default: {
        const char *m = strip_prefix(t->status_message);
        char esc[4096]; /* AWS messages may quote the key: core/name.h */
        return buf_printf(out, "%s %s\n", status_word_name(w),
                          name_esc(*m ? m : (t->status ? t->status : ""),
                                   esc, sizeof esc));
    }
    }
}

int status_line(const struct upload_info *u, const struct ec2_import_task *t,
                bool cancelled, struct buf *out)
{
    enum status_word w = status_word_of(u, t, cancelled);
    if (task_wins(u, t))
        return line_of_task(t, w, out);
    return line_of_upload(u, w, out);
}

int status_source(const struct upload_info *u,
                  const struct ec2_import_task *t, struct buf *out)
{
    const char *bucket = u ? u->bucket : NULL, *key = u ? u->key : NULL;
    const char *name = u ? u->name : NULL;
    if (t && (!bucket || !key) && t->nsnapshots > 0) {
        bucket = t->snapshots[0].s3_bucket;
        key = t->snapshots[0].s3_key;
    }
    if (t && !name)
        name = status_tag(&t->tags, STATUS_TAG_NAME);
    int rc = 0;
    char e1[NAME_ESC_MAX], e2[NAME_ESC_MAX];
    if (bucket && key)
        rc = buf_printf(out, "s3://%s/%s\n", name_esc(bucket, e1, sizeof e1),
                        name_esc(key, e2, sizeof e2));
    else if (t && t->nsnapshots > 0 && t->snapshots[0].url)
        rc = buf_printf(out, "%s\n",
                        name_esc(t->snapshots[0].url, e1, sizeof e1));
    if (rc == 0 && name)
        rc = buf_printf(out, "%s\n", name_esc(name, e2, sizeof e2));
    return rc;
}

/* ---- status.json ------------------------------------------------------ */

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
}

static cJSON *snapshot_json(const struct ec2_snapshot_detail *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_str(o, "Description", s->description);
    add_str(o, "DeviceName", s->device_name);
    cJSON_AddNumberToObject(o, "DiskImageSize", s->disk_image_size);
    add_str(o, "Format", s->format);
    add_str(o, "Progress", s->progress);
    add_str(o, "SnapshotId", s->snapshot_id);
    add_str(o, "Status", s->status);
    add_str(o, "StatusMessage", s->status_message);
    add_str(o, "Url", s->url);
    if (s->s3_bucket || s->s3_key) {
        cJSON *ub = cJSON_AddObjectToObject(o, "UserBucket");
        if (ub) {
            add_str(ub, "S3Bucket", s->s3_bucket);
            add_str(ub, "S3Key", s->s3_key);
        }
    }
    return o;
}

static void tags_json(cJSON *o, const struct ec2_tags *tags)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "Tags");
    for (size_t i = 0; arr && i < tags->n; i++) {
        cJSON *t = cJSON_CreateObject();
        if (!t)
            return;
        add_str(t, "Key", tags->v[i].key);
        add_str(t, "Value", tags->v[i].value ? tags->v[i].value : "");
        cJSON_AddItemToArray(arr, t);
    }
}

static void task_json(cJSON *o, const struct ec2_import_task *t)
{
    add_str(o, "ImportTaskId", t->import_task_id);
    add_str(o, "Architecture", t->architecture);
    add_str(o, "Description", t->description);
    cJSON_AddBoolToObject(o, "Encrypted", t->encrypted);
    add_str(o, "Hypervisor", t->hypervisor);
    add_str(o, "ImageId", t->image_id);
    add_str(o, "KmsKeyId", t->kms_key_id);
    add_str(o, "LicenseType", t->license_type);
    add_str(o, "Platform", t->platform);
    add_str(o, "Progress", t->progress);
    cJSON *arr = cJSON_AddArrayToObject(o, "SnapshotDetails");
    for (size_t i = 0; arr && i < t->nsnapshots; i++) {
        cJSON *s = snapshot_json(&t->snapshots[i]);
        if (s)
            cJSON_AddItemToArray(arr, s);
    }
    add_str(o, "Status", t->status);
    add_str(o, "StatusMessage", t->status_message);
    tags_json(o, &t->tags);
    add_str(o, "UsageOperation", t->usage_operation);
    add_str(o, "BootMode", t->boot_mode);
}

static const char *const PHASES[] = {
    [UPLOAD_WRITING] = "writing",     [UPLOAD_STAGED] = "staged",
    [UPLOAD_FINISHING] = "finishing", [UPLOAD_STARTED] = "started",
    [UPLOAD_FAILED] = "failed",       [UPLOAD_CANCELLED] = "cancelled",
    [UPLOAD_QUEUED] = "queued",
};

static void upload_json(cJSON *o, const struct upload_info *u)
{
    cJSON *up = cJSON_AddObjectToObject(o, "Upload");
    if (!up)
        return;
    add_str(up, "Phase", PHASES[u->phase]);
    add_str(up, "Name", u->name);
    add_str(up, "Bucket", u->bucket);
    add_str(up, "Key", u->key);
    add_str(up, "Kind", u->kind);
    cJSON_AddNumberToObject(up, "BytesReceived", (double)u->received);
    cJSON_AddNumberToObject(up, "BytesSent", (double)u->sent);
    cJSON_AddNumberToObject(up, "RateBytesPerSecond", u->rate);
    add_str(up, "Detail", u->detail);
    add_str(up, "ImportTaskId", u->task_id);
}

int status_json(const struct upload_info *u, const struct ec2_import_task *t,
                bool cancelled, struct buf *out)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return -ENOMEM;
    if (t)
        task_json(o, t);
    struct buf line;
    buf_init(&line, 0);
    int rc = status_line(u, t, cancelled, &line);
    if (rc == 0 && line.len > 0)
        line.data[line.len - 1] = '\0'; /* no newline inside JSON */
    add_str(o, "AmifsStatus",
            status_word_name(status_word_of(u, t, cancelled)));
    add_str(o, "AmifsStatusLine", buf_cstr(&line));
    buf_release(&line);
    if (u)
        upload_json(o, u);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s)
        return -ENOMEM;
    rc = buf_printf(out, "%s\n", s);
    free(s);
    return rc;
}
