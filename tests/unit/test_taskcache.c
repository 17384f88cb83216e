/* test_taskcache.c — core/status.c, core/diagnosis.c and core/taskcache.c without
 * FUSE or a network: the cache runs over scripted ops that record calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diagnosis.h"
#include "core/status.h"
#include "core/taskcache.h"
#include "check.h"

#define CHECK_STR(got, want)                                                 \
    do {                                                                     \
        const char *g_ = (got), *w_ = (want);                                \
        if (!g_ || strcmp(g_, w_) != 0) {                                    \
            fprintf(stderr, "%s:%d: got '%s', want '%s'\n", __FILE__,        \
                    __LINE__, g_ ? g_ : "(null)", w_);                       \
            failures++;                                                      \
        }                                                                    \
    } while (0)

/* ---- building tasks ----------------------------------------------------- */

static void set(char **f, const char *v)
{
    free(*f);
    *f = v ? strdup(v) : NULL;
}

static void add_tag(struct ec2_tags *t, const char *k, const char *v)
{
    t->v = realloc(t->v, (t->n + 1) * sizeof *t->v);
    t->v[t->n].key = strdup(k);
    t->v[t->n].value = strdup(v);
    t->n++;
}

static void make_task(struct ec2_import_task *t, const char *id,
                      const char *status, const char *msg,
                      const char *progress)
{
    memset(t, 0, sizeof *t);
    set(&t->import_task_id, id);
    set(&t->status, status);
    set(&t->status_message, msg);
    set(&t->progress, progress);
}

/* ---- status rendering --------------------------------------------------- */

static const char *line(const struct upload_info *u,
                        const struct ec2_import_task *t, bool cancelled,
                        struct buf *b)
{
    buf_reset(b);
    CHECK(status_line(u, t, cancelled, b) == 0);
    return buf_cstr(b);
}

static void test_status_lines(void)
{
    struct buf b;
    buf_init(&b, 0);
    struct ec2_import_task t;
    make_task(&t, "import-ami-0123456789abcdef0", "active", "converting",
              "42");
    CHECK_STR(line(NULL, &t, false, &b), "active converting 42%\n");
    CHECK(status_progress(NULL, &t, false) == 42);

    set(&t.status, "completed");
    set(&t.status_message, NULL);
    set(&t.image_id, "ami-0abc");
    CHECK_STR(line(NULL, &t, false, &b), "completed ami-0abc\n");
    CHECK(status_progress(NULL, &t, false) == 100);
    CHECK_STR(status_failure(NULL, &t, false), "");

    set(&t.status, "deleted");
    set(&t.image_id, "");
    set(&t.status_message,
        "CLIENT_ERROR : ClientError: Unknown OS / Missing OS files.");
    CHECK_STR(line(NULL, &t, false, &b),
              "failed ClientError: Unknown OS / Missing OS files.\n");
    CHECK_STR(status_failure(NULL, &t, false),
              "ClientError: Unknown OS / Missing OS files.");
    /* We cancelled it: AWS's wording does not matter. */
    CHECK(strncmp(line(NULL, &t, true, &b), "cancelled ", 10) == 0);
    set(&t.status_message, "User cancelled the task");
    CHECK(strncmp(line(NULL, &t, false, &b), "cancelled ", 10) == 0);

    /* Upload phases. */
    struct upload_info u = {.phase = UPLOAD_WRITING, .name = "vm.ova",
                            .received = 3u << 20, .sent = 1u << 20,
                            .rate = 2.5e6};
    CHECK_STR(line(&u, NULL, false, &b),
              "uploading 3.0 MiB received, 1.0 MiB sent, 2.5 MB/s\n");
    CHECK(status_progress(&u, NULL, false) == 0);
    u.phase = UPLOAD_FAILED;
    u.detail = "invalid OVA: the OVF descriptor must be the first member";
    CHECK_STR(line(&u, NULL, false, &b),
              "failed invalid OVA: the OVF descriptor must be the first "
              "member\n");
    CHECK_STR(status_failure(&u, NULL, false), u.detail);
    /* The task is ignored until ImportImage answered… */
    CHECK(strncmp(line(&u, &t, false, &b), "failed invalid OVA", 18) == 0);
    /* …and speaks once it has. */
    u.phase = UPLOAD_STARTED;
    set(&t.status, "active");
    set(&t.status_message, "validating");
    set(&t.progress, "7");
    CHECK_STR(line(&u, &t, false, &b), "active validating 7%\n");
    u.phase = UPLOAD_FINISHING;
    u.detail = "completing the upload";
    CHECK_STR(line(&u, NULL, false, &b), "validating completing the upload\n");

    char h[32];
    status_human_bytes(512, h, sizeof h);
    CHECK_STR(h, "512 B");
    status_human_bytes((uint64_t)1288490189, h, sizeof h);
    CHECK_STR(h, "1.2 GiB");
    taskcache_task_free(&t);
    buf_release(&b);
}

static void test_status_json_source(void)
{
    struct buf b;
    buf_init(&b, 0);
    struct ec2_import_task t;
    make_task(&t, "import-ami-1", "active", "converting", "30");
    t.snapshots = calloc(1, sizeof *t.snapshots);
    t.nsnapshots = 1;
    set(&t.snapshots[0].s3_bucket, "stage");
    set(&t.snapshots[0].s3_key, "p/vm.ova");
    set(&t.snapshots[0].format, "OVA");
    t.snapshots[0].disk_image_size = 705638400.0;
    add_tag(&t.tags, STATUS_TAG_NAME, "vm.ova");
    CHECK(status_json(NULL, &t, false, &b) == 0);
    const char *j = buf_cstr(&b);
    CHECK(strstr(j, "\"ImportTaskId\":\t\"import-ami-1\"") != NULL);
    CHECK(strstr(j, "\"S3Key\":\t\"p/vm.ova\"") != NULL);
    CHECK(strstr(j, "\"AmifsStatus\":\t\"active\"") != NULL);
    CHECK(strstr(j, "\"AmifsStatusLine\":\t\"active converting 30%\"") !=
          NULL);
    CHECK(strstr(j, "705638400") != NULL);
    buf_reset(&b);
    CHECK(status_source(NULL, &t, &b) == 0);
    CHECK_STR(buf_cstr(&b), "s3://stage/p/vm.ova\nvm.ova\n");
    taskcache_task_free(&t);
    buf_release(&b);
}

static void test_diagnosis(void)
{
    const struct diagnosis *d = diagnosis_find(
        "CLIENT_ERROR : ClientError: Unknown OS / Missing OS files.");
    CHECK(d != NULL && strstr(d->fix, "ImportSnapshot") != NULL);
    d = diagnosis_find("ClientError: Disk validation failed [Unsupported "
                       "VMDK File Format]");
    CHECK(d != NULL && strstr(d->fix, "streamOptimized") != NULL);
    d = diagnosis_find("InvalidParameter: The service role vmimport "
                       "provided does not exist or does not have sufficient "
                       "permissions for the service to continue");
    CHECK(d != NULL && strstr(d->fix, "doctor") != NULL);
    CHECK(diagnosis_find("something nobody has seen") == NULL);
    CHECK(diagnosis_find(NULL) == NULL);
    struct buf b;
    buf_init(&b, 0);
    CHECK(diagnosis_render("ClientError: Footers not identical", &b) == 0);
    CHECK(strstr(buf_cstr(&b), "Message: ClientError: Footers not identical")
          != NULL);
    CHECK(strstr(buf_cstr(&b), "Cause: ") && strstr(buf_cstr(&b), "Fix: "));
    buf_reset(&b);
    CHECK(diagnosis_render("", &b) == 0);
    CHECK_STR(buf_cstr(&b), "No failure recorded.\n");
    buf_release(&b);
}

/* ---- the cache over scripted ops ---------------------------------------- */

struct fake {
    struct ec2_import_task *tasks; /* what describe answers (copied) */
    size_t n;
    int describes;
    int fail_describe;   /* errno-ish: nonzero makes describe fail */
    int tag_calls;
    int fail_tags;       /* fail the next N CreateTags */
    const char *fail_code; /* their error code ("InternalError" if NULL) */
    int mark_calls;      /* CreateTags of amifs:ami-tagged on a task */
    char tagged[8][64];  /* resources of the last CreateTags */
    size_t ntagged;
    size_t ntags;
    int ended_calls;
    char ended_id[64];
    int cancels;
};

static int f_describe(void *ctx, struct ec2_import_task_list *out,
                      struct aws_error *err)
{
    struct fake *f = ctx;
    f->describes++;
    if (f->fail_describe)
        return aws_error_service(err, 503, "RequestLimitExceeded",
                                 "Request limit exceeded.", "req-1");
    out->v = calloc(f->n + 1, sizeof *out->v);
    out->n = f->n;
    for (size_t i = 0; i < f->n; i++)
        taskcache_task_dup(&out->v[i], &f->tasks[i]);
    return 0;
}

static void f_release(void *ctx, struct ec2_import_task_list *l)
{
    (void)ctx;
    for (size_t i = 0; i < l->n; i++)
        taskcache_task_free(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int f_tags(void *ctx, const char *const *res, size_t n,
                  const struct ec2_tags *tags, struct aws_error *err)
{
    struct fake *f = ctx;
    if (n == 1 && strncmp(res[0], "import-", 7) == 0) {
        /* The mark: AWS would list it with the task from now on. */
        f->mark_calls++;
        CHECK(tags->n == 1 &&
              (strcmp(tags->v[0].key, "amifs:ami-tagged") == 0 ||
               strcmp(tags->v[0].key, STATUS_TAG_HIDDEN) == 0));
        for (size_t i = 0; i < f->n; i++)
            if (strcmp(f->tasks[i].import_task_id, res[0]) == 0)
                add_tag(&f->tasks[i].tags, tags->v[0].key, tags->v[0].value);
        return 0;
    }
    f->tag_calls++;
    if (f->fail_tags > 0) {
        f->fail_tags--;
        return aws_error_service(err, 400,
                                 f->fail_code ? f->fail_code : "InternalError",
                                 "boom", "r");
    }
    f->ntagged = n < 8 ? n : 8;
    for (size_t i = 0; i < f->ntagged; i++)
        snprintf(f->tagged[i], sizeof f->tagged[i], "%s", res[i]);
    f->ntags = tags->n;
    for (size_t i = 0; i < tags->n; i++)
        if (strncmp(tags->v[i].key, "aws:", 4) == 0)
            f->ntags = 999; /* reserved keys must not be copied */
    return 0;
}

static int f_cancel(void *ctx, const char *id, struct aws_error *err)
{
    struct fake *f = ctx;
    f->cancels++;
    return 0;
}

static void f_ended(void *ctx, const struct ec2_import_task *t)
{
    struct fake *f = ctx;
    f->ended_calls++;
    snprintf(f->ended_id, sizeof f->ended_id, "%s", t->import_task_id);
}

struct seen {
    char line[256];
};

static void grab(void *arg, const struct ec2_import_task *t, bool cancelled)
{
    struct seen *s = arg;
    struct buf b;
    buf_init(&b, 0);
    status_line(NULL, t, cancelled, &b);
    snprintf(s->line, sizeof s->line, "%s", buf_cstr(&b));
    buf_release(&b);
}

static struct taskcache *new_cache(struct fake *f)
{
    struct taskcache_ops ops = {f_describe, f_release, f_tags, f_cancel,
                                f_ended, f, NULL};
    return taskcache_new(&ops, 10, 2, NULL);
}

static void test_cache_refresh_alias_tags(void)
{
    struct fake f = {0};
    f.tasks = calloc(3, sizeof *f.tasks);
    f.n = 2;
    make_task(&f.tasks[0], "import-ami-A", "active", "converting", "30");
    add_tag(&f.tasks[0].tags, STATUS_TAG_NAME, "vm.ova");
    add_tag(&f.tasks[0].tags, STATUS_TAG_TIME, "200");
    add_tag(&f.tasks[0].tags, "Name", "vm.ova");
    add_tag(&f.tasks[0].tags, "aws:reserved", "x");
    make_task(&f.tasks[1], "import-ami-OLD", "deleted",
              "CLIENT_ERROR : ClientError: Unknown OS / Missing OS files.",
              NULL);
    add_tag(&f.tasks[1].tags, STATUS_TAG_NAME, "vm.ova");
    add_tag(&f.tasks[1].tags, STATUS_TAG_TIME, "100");

    struct taskcache *tc = new_cache(&f);
    CHECK(!taskcache_wait_first(tc, 10));
    CHECK(taskcache_refresh(tc) == 0);
    CHECK(taskcache_wait_first(tc, 10));
    uint64_t g = taskcache_generation(tc);

    char id[64];
    CHECK(taskcache_alias(tc, "vm.ova", id, sizeof id) == 0);
    CHECK_STR(id, "import-ami-A"); /* the newest amifs:started wins */
    CHECK(taskcache_alias(tc, "other.ova", id, sizeof id) == -ENOENT);
    struct seen s;
    CHECK(taskcache_with(tc, "import-ami-A", grab, &s) == 0);
    CHECK_STR(s.line, "active converting 30%\n");
    CHECK(taskcache_with(tc, "nope", grab, &s) == -ENOENT);
    CHECK(!taskcache_ended(tc, "import-ami-A"));
    CHECK(taskcache_ended(tc, "import-ami-OLD"));

    struct taskcache_names nm;
    CHECK(taskcache_names(tc, &nm) == 0);
    CHECK(nm.nids == 2 && nm.naliases == 1);
    if (nm.naliases == 1) {
        CHECK_STR(nm.alias_names[0], "vm.ova");
        CHECK_STR(nm.alias_ids[0], "import-ami-A");
    }
    taskcache_names_release(&nm);
    /* An old task was never seen active here: no ended call for it. */
    CHECK(f.ended_calls == 0);
    CHECK(f.tag_calls == 0);

    /* Completion: tags copied to the AMI and snapshot (once), ended once.
     * The first CreateTags fails and is retried on the next refresh. */
    set(&f.tasks[0].status, "completed");
    set(&f.tasks[0].image_id, "ami-0abc");
    f.tasks[0].snapshots = calloc(1, sizeof *f.tasks[0].snapshots);
    f.tasks[0].nsnapshots = 1;
    set(&f.tasks[0].snapshots[0].snapshot_id, "snap-1");
    f.fail_tags = 1;
    CHECK(taskcache_refresh(tc) == 0);
    CHECK(taskcache_generation(tc) > g);
    CHECK(f.tag_calls == 1 && f.ended_calls == 1);
    CHECK_STR(f.ended_id, "import-ami-A");
    CHECK(taskcache_refresh(tc) == 0);
    CHECK(f.tag_calls == 2);
    CHECK(f.ntagged == 2);
    CHECK_STR(f.tagged[0], "ami-0abc");
    CHECK_STR(f.tagged[1], "snap-1");
    CHECK(f.ntags == 3); /* amifs:name, amifs:started, Name; not aws:… */
    CHECK(f.mark_calls == 1); /* the task remembers its AMI is tagged */
    CHECK(taskcache_refresh(tc) == 0);
    CHECK(f.tag_calls == 2 && f.ended_calls == 1 && f.mark_calls == 1);
    /* The next mount does not tag that AMI again. */
    struct taskcache *tc2 = new_cache(&f);
    CHECK(taskcache_refresh(tc2) == 0);
    CHECK(f.tag_calls == 2 && f.mark_calls == 1);
    taskcache_free(tc2);
    CHECK(taskcache_with(tc, "import-ami-A", grab, &s) == 0);
    CHECK_STR(s.line, "completed ami-0abc\n");

    /* A failing describe keeps the last list. */
    f.fail_describe = 1;
    CHECK(taskcache_refresh(tc) < 0);
    CHECK(taskcache_with(tc, "import-ami-A", grab, &s) == 0);
    f.fail_describe = 0;

    /* A task dropped by AWS (older than 7 days) leaves the cache. */
    f.n = 1;
    CHECK(taskcache_refresh(tc) == 0);
    CHECK(taskcache_with(tc, "import-ami-OLD", grab, &s) == -ENOENT);
    taskcache_free(tc);
    for (size_t i = 0; i < 2; i++)
        taskcache_task_free(&f.tasks[i]);
    free(f.tasks);
}

static void test_first_refresh_failing(void)
{
    struct fake f = {0};
    f.fail_describe = 1;
    struct taskcache *tc = new_cache(&f);
    CHECK(!taskcache_wait_first(tc, 10));
    CHECK(taskcache_refresh(tc) < 0);
    /* Readers must not wait forever for a listing that failed. */
    CHECK(taskcache_wait_first(tc, 0));
    struct taskcache_names nm;
    CHECK(taskcache_names(tc, &nm) == 0 && nm.nids == 0);
    taskcache_names_release(&nm);
    taskcache_free(tc);
}

static void test_cache_put_cancel(void)
{
    struct fake f = {0};
    struct taskcache *tc = new_cache(&f);
    CHECK(taskcache_refresh(tc) == 0); /* AWS lists nothing yet */
    struct ec2_import_task t;
    make_task(&t, "import-ami-NEW", "active", "pending", "1");
    add_tag(&t.tags, STATUS_TAG_NAME, "disk.vmdk");
    CHECK(taskcache_put(tc, &t) == 0);
    /* Still there after a listing that lags behind ImportImage. */
    CHECK(taskcache_refresh(tc) == 0);
    char id[64];
    CHECK(taskcache_alias(tc, "disk.vmdk", id, sizeof id) == 0);
    CHECK_STR(id, "import-ami-NEW");

    struct aws_error err;
    aws_error_clear(&err);
    CHECK(taskcache_cancel(tc, "import-ami-NEW", &err) == 0);
    CHECK(f.cancels == 1);
    CHECK(taskcache_cancel(tc, "import-ami-none", &err) == -ENOENT);
    /* AWS now says deleted (its message does not mention cancelling). */
    f.tasks = calloc(1, sizeof *f.tasks);
    f.n = 1;
    make_task(&f.tasks[0], "import-ami-NEW", "deleted", "User request", NULL);
    CHECK(taskcache_refresh(tc) == 0);
    struct seen s;
    CHECK(taskcache_with(tc, "import-ami-NEW", grab, &s) == 0);
    CHECK(strncmp(s.line, "cancelled ", 10) == 0);
    CHECK(f.ended_calls == 1);
    CHECK(taskcache_cancel(tc, "import-ami-NEW", &err) == -EBUSY);

    /* The poller thread refreshes on a kick and stops cleanly. */
    int before = f.describes;
    CHECK(taskcache_start(tc) == 0);
    uint64_t g = taskcache_generation(tc);
    for (int i = 0; i < 50 && f.describes == before; i++)
        taskcache_wait_change(tc, &g, 100);
    CHECK(f.describes > before);
    taskcache_kick(tc);
    taskcache_free(tc);
    taskcache_task_free(&t);
    taskcache_task_free(&f.tasks[0]);
    free(f.tasks);
}

static void test_tags_of_a_deregistered_ami(void)
{
    /* A completed task whose AMI was deregistered before it was tagged:
     * CreateTags says NotFound; retrying cannot help, so the task is
     * marked and left alone instead of failing every refresh. */
    struct fake f = {0};
    f.tasks = calloc(1, sizeof *f.tasks);
    f.n = 1;
    make_task(&f.tasks[0], "import-ami-G", "completed", "", "100");
    set(&f.tasks[0].image_id, "ami-0gone");
    add_tag(&f.tasks[0].tags, STATUS_TAG_NAME, "gone.ova");
    f.fail_tags = 5;
    f.fail_code = "InvalidAMIID.NotFound";
    struct taskcache *tc = new_cache(&f);
    CHECK(taskcache_refresh(tc) == 0);
    CHECK(f.tag_calls == 1 && f.mark_calls == 1);
    CHECK(taskcache_refresh(tc) == 0);
    CHECK(f.tag_calls == 1 && f.mark_calls == 1);
    taskcache_free(tc);
    taskcache_task_free(&f.tasks[0]);
    free(f.tasks);
}

/* rm -r of ended tasks (amifs:hidden), their start times, and the warning
 * of a second drop of a name (doc/CONTRACT.md "Saying why, continued"). */
static void test_hide_previous_started(void)
{
    struct fake f = {0};
    f.tasks = calloc(3, sizeof *f.tasks);
    f.n = 3;
    const char *ids[] = {"import-ami-A", "import-ami-B", "import-ami-C"};
    const char *amis[] = {"ami-1", "ami-2", NULL};
    const char *when[] = {"100", "200", "300"};
    for (int i = 0; i < 3; i++) {
        make_task(&f.tasks[i], ids[i], amis[i] ? "completed" : "active", "",
                  amis[i] ? "100" : "10");
        set(&f.tasks[i].image_id, amis[i]);
        add_tag(&f.tasks[i].tags, STATUS_TAG_NAME, "vm.ova");
        add_tag(&f.tasks[i].tags, STATUS_TAG_TIME, when[i]);
    }
    struct taskcache *tc = new_cache(&f);
    CHECK(taskcache_refresh(tc) == 0);
    char ami[32] = "", id[32] = "";
    CHECK(taskcache_started(tc, "import-ami-B") == 200);
    CHECK(taskcache_started(tc, "import-ami-none") == 0);
    CHECK(taskcache_previous(tc, NULL, "import-ami-B", ami, sizeof ami) == 1);
    CHECK_STR(ami, "ami-1");
    CHECK(taskcache_previous(tc, NULL, "import-ami-A", ami, sizeof ami) == 0);
    CHECK(taskcache_previous(tc, "vm.ova", NULL, ami, sizeof ami) == 1);
    struct aws_error err;
    aws_error_clear(&err);
    CHECK(taskcache_hide(tc, "import-ami-C", &err) == -EBUSY); /* active */
    CHECK(taskcache_hide(tc, "import-ami-none", &err) == -ENOENT);
    CHECK(taskcache_hide(tc, "import-ami-A", &err) == 0);
    CHECK(taskcache_hidden(tc, "import-ami-A"));
    CHECK(!taskcache_hidden(tc, "import-ami-B"));
    CHECK(taskcache_previous(tc, NULL, "import-ami-B", ami, sizeof ami) == 0);
    struct taskcache_names tn;
    CHECK(taskcache_names(tc, &tn) == 0);
    CHECK(tn.nids == 2);
    for (size_t i = 0; i < tn.nids; i++)
        CHECK(strcmp(tn.ids[i], "import-ami-A") != 0);
    taskcache_names_release(&tn);
    /* The mark is in AWS: a fresh cache (another mount) hides it too. */
    struct taskcache *tc2 = new_cache(&f);
    CHECK(taskcache_refresh(tc2) == 0);
    CHECK(taskcache_hidden(tc2, "import-ami-A"));
    taskcache_free(tc2);
    CHECK(taskcache_alias(tc, "vm.ova", id, sizeof id) == 0);
    CHECK_STR(id, "import-ami-C");
    taskcache_free(tc);
    for (int i = 0; i < 3; i++)
        taskcache_task_free(&f.tasks[i]);
    free(f.tasks);
}

/* Fixes that name amifs doctor/setup print the mount's exact command. */
static void test_diagnosis_commands(void)
{
    const char *msg = "InvalidParameter: The service role r1 provided does "
                      "not exist or does not have sufficient permissions";
    struct diagnosis_where w = {"http://127.0.0.1:9", "eu-west-1", "b/p",
                                "r1"};
    struct buf b;
    buf_init(&b, 0);
    CHECK(diagnosis_render_at(msg, &w, &b) == 0);
    CHECK(strstr(buf_cstr(&b), "`amifs setup --endpoint http://127.0.0.1:9 "
                               "--region eu-west-1 --bucket b/p --role r1 "
                               "--yes`") != NULL);
    CHECK(strstr(buf_cstr(&b), "`amifs doctor --endpoint http://127.0.0.1:9 "
                               "--region eu-west-1 --bucket b/p --role r1`")
          != NULL);
    CHECK(strchr(buf_cstr(&b), '{') == NULL);
    buf_reset(&b);
    CHECK(diagnosis_render(msg, &b) == 0);
    CHECK(strstr(buf_cstr(&b), "`amifs setup --region REGION --bucket "
                               "BUCKET --yes`") != NULL);
    buf_release(&b);
}

int main(void)
{
    test_hide_previous_started();
    test_diagnosis_commands();
    test_status_lines();
    test_status_json_source();
    test_diagnosis();
    test_cache_refresh_alias_tags();
    test_first_refresh_failing();
    test_cache_put_cancel();
    test_tags_of_a_deregistered_ami();
    return check_exit();
}
