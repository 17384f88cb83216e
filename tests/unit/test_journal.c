/* Unit test of core/journal.c: the entry parser, the trust rules of the
 * directory (symlink, owner, mode), writing and ending entries, and the
 * recovery walk (origin matching, FIFOs and strangers skipped and kept). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/journal.h"
#include "check.h"

struct logbuf {
    char text[16384];
    size_t n;
};

static void log_fn(void *ctx, enum aws_log_level level, const char *msg)
{
    struct logbuf *b = ctx;
    int k = snprintf(b->text + b->n, sizeof(b->text) - b->n, "%s\n", msg);
    (void)level;
    if (k > 0 && b->n + (size_t)k < sizeof(b->text))
        b->n += (size_t)k;
}

static struct logbuf lb;
static const struct aws_logger lg = {log_fn, &lb, AWS_LOG_DEBUG};
static const struct journal_origin here = {"http://127.0.0.1:5000/",
                                           "us-east-1", "123456789012"};

static int parse(const char *s, struct journal_record *r, const char **why)
{
    return journal_parse(s, strlen(s), r, why);
}

#define GOOD                                                                 \
    "{\"amifs_upload\":1,\"endpoint\":\"http://127.0.0.1:5000\","           \
    "\"region\":\"us-east-1\",\"account\":\"123456789012\","                 \
    "\"bucket\":\"b\",\"key\":\"d/k\\n.bin\",\"upload_id\":\"U1\","          \
    "\"pid\":%ld}"

static void test_parse(void)
{
    struct journal_record r;
    const char *why = NULL;
    char good[512], big[70000];

    snprintf(good, sizeof(good), GOOD, 4242L);
    CHECK(parse(good, &r, &why) == 0, "%s", SHOW(why));
    CHECK(STREQ(r.key, "d/k\n.bin") && STREQ(r.bucket, "b"));
    CHECK(STREQ(r.upload_id, "U1") && r.pid == 4242);
    CHECK(STREQ(r.endpoint, "http://127.0.0.1:5000"));
    journal_record_release(&r);

    const char *bad[] = {
        "", "[]", "null", "{", "{\"amifs_upload\":2}",
        "amifs-upload 1\nb\nU\nk", /* the old line format */
        "{\"amifs_upload\":1,\"endpoint\":\"e\",\"region\":\"r\","
        "\"account\":\"\",\"bucket\":\"b\",\"key\":\"k\",\"upload_id\":\"u\"}",
        "{\"amifs_upload\":1,\"endpoint\":\"e\",\"region\":\"r\","
        "\"account\":\"\",\"bucket\":\"b\",\"key\":\"\",\"upload_id\":\"u\","
        "\"pid\":5}",
        "{\"amifs_upload\":1,\"endpoint\":7,\"region\":\"r\","
        "\"account\":\"\",\"bucket\":\"b\",\"key\":\"k\",\"upload_id\":\"u\","
        "\"pid\":5}",
        "{\"amifs_upload\":1,\"endpoint\":\"e\",\"region\":\"r\","
        "\"account\":\"\",\"bucket\":\"b\",\"key\":\"k\",\"upload_id\":\"u\","
        "\"pid\":-5}",
        "{\"amifs_upload\":1,\"endpoint\":\"e\",\"region\":\"r\","
        "\"account\":\"\",\"bucket\":\"b\",\"key\":\"k\",\"upload_id\":\"u\","
        "\"pid\":1.5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        CHECK(parse(bad[i], &r, &why) == -1, "accepted #%zu", i);
        CHECK(why != NULL && r.key == NULL);
    }
    /* A NUL inside, and an entry too large to be ours. */
    CHECK(journal_parse(good, strlen(good) + 1, &r, &why) == -1);
    memset(big, ' ', sizeof(big));
    memcpy(big, good, strlen(good));
    CHECK(journal_parse(big, sizeof(big), &r, &why) == -1);
    /* A 1025-byte key. */
    char longkey[1400];
    memset(longkey, 'k', 1025);
    longkey[1025] = '\0';
    char doc[1600];
    snprintf(doc, sizeof(doc), "{\"amifs_upload\":1,\"endpoint\":\"e\","
             "\"region\":\"r\",\"account\":\"\",\"bucket\":\"b\",\"key\":"
             "\"%s\",\"upload_id\":\"u\",\"pid\":5}", longkey);
    CHECK(parse(doc, &r, &why) == -1);
}

static void make_dir(const char *p, mode_t m)
{
    mkdir(p, m);
    chmod(p, m);
}

static void test_trust(const char *tmp)
{
    char dir[512], target[512], decoy[600];

    /* A symlink in place of the directory: refused, nothing written. */
    snprintf(target, sizeof(target), "%s/target", tmp);
    snprintf(dir, sizeof(dir), "%s/link", tmp);
    make_dir(target, 0700);
    snprintf(decoy, sizeof(decoy), "%s/12345.conf", target);
    FILE *f = fopen(decoy, "w");
    fclose(f);
    CHECK(symlink(target, dir) == 0);
    lb.n = 0;
    CHECK(journal_open(dir, &here, &lg) == NULL);
    CHECK(strstr(lb.text, "refused") && strstr(lb.text, "no upload journal"),
          "%s", lb.text);
    CHECK(access(decoy, F_OK) == 0);

    /* Group-writable: refused. */
    snprintf(dir, sizeof(dir), "%s/gw", tmp);
    make_dir(dir, 0770);
    lb.n = 0;
    CHECK(journal_open(dir, &here, &lg) == NULL);
    CHECK(strstr(lb.text, "writable by group") != NULL, "%s", lb.text);

    /* Another owner (only root can make one). */
    if (geteuid() == 0) {
        snprintf(dir, sizeof(dir), "%s/foreign", tmp);
        make_dir(dir, 0700);
        CHECK(chown(dir, 65534, 65534) == 0);
        lb.n = 0;
        CHECK(journal_open(dir, &here, &lg) == NULL);
        CHECK(strstr(lb.text, "owned by another user") != NULL, "%s",
              lb.text);
    }
    /* Absent: created 0700. */
    snprintf(dir, sizeof(dir), "%s/fresh", tmp);
    struct journal *jn = journal_open(dir, &here, &lg);
    struct stat st;
    CHECK(jn && stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    journal_close(jn);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int exists(const char *dir, const char *name)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

struct seen {
    int n;
    char ids[8][32];
};

static void on_orphan(void *ctx, const struct journal_record *r,
                      struct journal_entry *e)
{
    struct seen *s = ctx;
    if (s->n < 8)
        snprintf(s->ids[s->n++], 32, "%s", r->upload_id);
    if (strcmp(r->upload_id, "KEEP") == 0)
        journal_keep(NULL, e);
    else
        journal_done(NULL, e); /* NULL journal: handle freed, file stays */
}

static void test_entries(const char *tmp)
{
    char dir[512], text[1024], path[600];
    struct journal *jn;
    struct journal_entry *e;
    struct seen s = {0};

    snprintf(dir, sizeof(dir), "%s/j", tmp);
    jn = journal_open(dir, &here, &lg);
    CHECK(jn != NULL);
    if (!jn)
        return;
    CHECK(journal_add(jn, "b", "k", "") == NULL);
    e = journal_add(jn, "b", "d/k.bin", "UPLOAD-1");
    CHECK(e != NULL);
    /* One file, "PID.xxxxxx.json", whose text parses with our origin. */
    snprintf(path, sizeof(path), "ls '%s' | grep -Eqx '%ld\\.[a-z0-9]{6}"
             "\\.json'", dir, (long)getpid());
    CHECK(system(path) == 0);
    journal_done(jn, e);
    snprintf(path, sizeof(path), "test -z \"$(ls -A '%s')\"", dir);
    CHECK(system(path) == 0, "journal_done left a file");
    e = journal_add(jn, "b", "k2", "UPLOAD-2");
    journal_keep(jn, e);
    snprintf(path, sizeof(path), "test -n \"$(ls -A '%s')\"", dir);
    CHECK(system(path) == 0, "journal_keep removed the file");

    /* Orphans of a dead daemon (pid 4194303 never runs amifs here). */
    long dead = 4194303;
    snprintf(text, sizeof(text), GOOD, dead);
    write_file(dir, "4194303.aaaaaa.json", text); /* ours: U1 */
    char *foreign = strdup(text);
    char *p = strstr(foreign, "127.0.0.1:5000");
    memcpy(p, "localhost:5000", 14); /* same length: another endpoint */
    char *q = strstr(foreign, "U1");
    q[1] = '9';
    write_file(dir, "4194303.bbbbbb.json", foreign);
    free(foreign);
    write_file(dir, "12345.conf", "x");
    write_file(dir, "4242.db", "x");
    write_file(dir, "4194303.cccccc.json", "{not json");
    snprintf(path, sizeof(path), "%s/1.xxxxxx.json", dir);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(path, sizeof(path), "%s/1.x", dir);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(path, sizeof(path), "%s/4194303.dddddd.json", dir);
    CHECK(symlink("/etc/passwd", path) == 0);
    lb.n = 0;
    time_t t0 = time(NULL);
    CHECK(journal_recover(jn, on_orphan, &s) == 1);
    CHECK(time(NULL) - t0 < 3, "the walk blocked");
    CHECK(s.n == 1 && STREQ(s.ids[0], "U1"), "%d %s", s.n, s.ids[0]);
    /* Everything else is left in place, each skip logged with its reason. */
    CHECK(exists(dir, "4194303.bbbbbb.json") && exists(dir, "12345.conf") &&
          exists(dir, "4242.db") && exists(dir, "1.xxxxxx.json") &&
          exists(dir, "1.x") && exists(dir, "4194303.cccccc.json") &&
          exists(dir, "4194303.dddddd.json"));
    CHECK(strstr(lb.text, "12345.conf: not an amifs journal entry name"),
          "%s", lb.text);
    CHECK(strstr(lb.text, "1.xxxxxx.json: not a regular file"), "%s",
          lb.text);
    CHECK(strstr(lb.text, "4194303.dddddd.json: a symbolic link"), "%s",
          lb.text);
    CHECK(strstr(lb.text, "4194303.cccccc.json: not valid JSON"), "%s",
          lb.text);
    CHECK(strstr(lb.text, "endpoint http://localhost:5000"), "%s", lb.text);
    journal_close(jn);

    /* The other endpoint's mount takes only its own entry. */
    struct journal_origin there = {"http://localhost:5000", "us-east-1", ""};
    jn = journal_open(dir, &there, &lg);
    memset(&s, 0, sizeof(s));
    CHECK(journal_recover(jn, on_orphan, &s) == 1);
    CHECK(s.n == 1 && STREQ(s.ids[0], "U9"));
    journal_close(jn);
    /* Another account on the same endpoint: not ours. */
    struct journal_origin other = {"http://127.0.0.1:5000", "us-east-1",
                                   "999999999999"};
    jn = journal_open(dir, &other, &lg);
    memset(&s, 0, sizeof(s));
    CHECK(journal_recover(jn, on_orphan, &s) == 0);
    journal_close(jn);
}

/* Resume (doc/design/resume.md): the fields round-trip, a live upload is
 * not claimable until kept, a claim is exclusive, an expired entry is not
 * resumable, imports/ labels are found. */
static int count_entries(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "exit $(ls '%s' | grep -c 'json$')", dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_resume(const char *tmp)
{
    char dir[512], id[64] = "", key[128] = "";
    struct journal_resume rs = {5u << 20, "imports/web.ova"};
    struct journal_record r;
    const char *why;

    snprintf(dir, sizeof(dir), "%s/r", tmp);
    struct journal *jn = journal_open(dir, &here, &lg);
    CHECK(jn != NULL);
    if (!jn)
        return;
    struct journal_entry *e =
        journal_add_resumable(jn, "b", "p/x/web.ova", "UP-R", &rs);
    CHECK(e != NULL);
    /* ours and live, not kept: a copy in flight is never claimed */
    CHECK(journal_claim(jn, "b", "p/x/web.ova", 5u << 20, id, sizeof id) ==
          NULL);
    CHECK(journal_find_label(jn, "b", "imports/web.ova", key, sizeof key) <
          0);
    journal_mark_kept(jn, e, 3u << 20, 10u << 20);
    CHECK(count_entries(dir) == 1);
    CHECK(journal_find_label(jn, "b", "imports/web.ova", key, sizeof key) ==
          0 && STREQ(key, "p/x/web.ova"), "%s", key);
    /* another part size or key: not the same copy */
    CHECK(journal_claim(jn, "b", "p/x/web.ova", 8u << 20, id, sizeof id) ==
          NULL);
    CHECK(journal_claim(jn, "b", "p/x/other", 5u << 20, id, sizeof id) ==
          NULL);
    e = journal_claim(jn, "b", "p/x/web.ova", 5u << 20, id, sizeof id);
    CHECK(e != NULL && STREQ(id, "UP-R"), "%s", id);
    CHECK(count_entries(dir) == 1);
    /* claimed (live, not kept): a second claim finds nothing */
    CHECK(journal_claim(jn, "b", "p/x/web.ova", 5u << 20, id, sizeof id) ==
          NULL);
    journal_done(jn, e);
    CHECK(count_entries(dir) == 0);

    /* the fields, and expiry */
    char text[600];
    snprintf(text, sizeof(text), "{\"amifs_upload\":1,\"endpoint\":\"e\","
             "\"region\":\"r\",\"account\":\"\",\"bucket\":\"b\","
             "\"key\":\"k\",\"upload_id\":\"U\",\"pid\":7,"
             "\"part_size\":5242880,\"label\":\"buckets/b/k\","
             "\"created\":%lld,\"kept\":true,\"stored\":1,\"size\":2}",
             (long long)time(NULL) - 7 * 86400);
    CHECK(journal_parse(text, strlen(text), &r, &why) == 0, "%s", SHOW(why));
    CHECK(r.part_size == 5242880 && r.kept && r.stored == 1 &&
          r.size == 2 && STREQ(r.label, "buckets/b/k"));
    CHECK(!journal_resumable(jn, &r), "7 days old is past 6");
    r.created = (long long)time(NULL);
    CHECK(journal_resumable(jn, &r));
    journal_set_resume_ttl(jn, 0);
    CHECK(!journal_resumable(jn, &r), "resume_days=0 keeps nothing");
    r.part_size = 0;
    journal_set_resume_ttl(jn, 3600);
    CHECK(!journal_resumable(jn, &r), "no part size: not resumable");
    journal_record_release(&r);
    const char *bad[] = {"\"part_size\":-1", "\"kept\":1",
                         "\"created\":1.5", "\"label\":3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "{\"amifs_upload\":1,\"endpoint\":"
                 "\"e\",\"region\":\"r\",\"account\":\"\",\"bucket\":"
                 "\"b\",\"key\":\"k\",\"upload_id\":\"U\",\"pid\":7,%s}",
                 bad[i]);
        CHECK(journal_parse(text, strlen(text), &r, &why) < 0, "%s", bad[i]);
    }
    journal_close(jn);
}

int main(void)
{
    char tmp[] = "/tmp/test_journal.XXXXXX";
    char cmd[600];

    if (!mkdtemp(tmp))
        return 1;
    umask(022);
    test_parse();
    test_trust(tmp);
    test_entries(tmp);
    test_resume(tmp);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp);
    return check_exit();
}
