/* test_upload.c — core/upload.h's pure part: reading a dying task's
 * exit_code (field 52 of /proc/<tid>/stat) to tell a writer killed by a
 * signal from one that exited or is alive; and core/streamcheck.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/streamcheck.h"
#include "core/upload.h"

/* A stat line with `code` as field 52 and a command that holds ") (". */
static void line(char *out, size_t n, const char *comm, long code)
{
    int k = snprintf(out, n, "4242 (%s) R", comm);
    for (int field = 4; field < 52; field++)
        k += snprintf(out + k, n - (size_t)k, " %d", field);
    snprintf(out + k, n - (size_t)k, " %ld\n", code);
}

static void parsed_lines(void)
{
    char b[1024];
    line(b, sizeof b, "cp", 0);
    CHECK(uw_stat_exit_signal(b) == 0, "alive");
    line(b, sizeof b, "cp", 9);
    CHECK(uw_stat_exit_signal(b) == 9, "SIGKILL");
    line(b, sizeof b, "cp", 2);
    CHECK(uw_stat_exit_signal(b) == 2, "SIGINT");
    line(b, sizeof b, "cp", 0x80 | 11);
    CHECK(uw_stat_exit_signal(b) == 11, "SIGSEGV with core");
    line(b, sizeof b, "cp", 3 << 8);
    CHECK(uw_stat_exit_signal(b) == 0, "exit(3) is not a signal");
    line(b, sizeof b, "a) (b) 9 9 9", 15);
    CHECK(uw_stat_exit_signal(b) == 15, "parsed after the last ')'");
    CHECK(uw_stat_exit_signal("4242 (cp) R 1 2 3") == -1, "short line");
    CHECK(uw_stat_exit_signal("garbage") == -1, "no command");
    CHECK(uw_stat_exit_signal(NULL) == -1);
}

/* The real kernel: a zombie child's stat shows what killed it. */
static int stat_of(pid_t pid)
{
    char path[64], text[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -2;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return uw_stat_exit_signal(text);
}

static void real_tasks(void)
{
    char self[64];
    snprintf(self, sizeof self, "%ld", (long)getpid());
    CHECK(stat_of(getpid()) == 0, "a live task");
    pid_t a = fork();
    if (a == 0) {
        pause();
        _exit(0);
    }
    pid_t b = fork();
    if (b == 0)
        _exit(7);
    kill(a, SIGKILL);
    usleep(200000); /* both are zombies now, not yet reaped */
    CHECK(stat_of(a) == SIGKILL, "killed child: %d", stat_of(a));
    CHECK(stat_of(b) == 0, "exit(7) child: %d", stat_of(b));
    waitpid(a, NULL, 0);
    waitpid(b, NULL, 0);
}

/* core/streamcheck.h: qemu-img's streamOptimized header (the 79 bytes it
 * writes as 4 at 0 and 75 at 4) is judged once its first 64 bytes are in,
 * in any order; a true stream (gdOffset "at end"), an uncompressed sparse
 * VMDK and anything that is not a VMDK pass. */
static void vmdk_header(unsigned char h[80], uint32_t flags, uint64_t gd)
{
    memset(h, 0, 80);
    memcpy(h, "KDMV", 4);
    h[4] = 3;
    for (int i = 0; i < 4; i++)
        h[8 + i] = (unsigned char)(flags >> (8 * i));
    for (int i = 0; i < 8; i++)
        h[56 + i] = (unsigned char)(gd >> (8 * i));
}

static void stream_checks(void)
{
    unsigned char h[80];
    char why[512] = "";
    struct streamcheck sc;

    vmdk_header(h, 0x30003, 0x1e); /* what qemu-img 7.2 writes */
    memset(&sc, 0, sizeof sc);
    CHECK(streamcheck_feed(&sc, h, 4, 0, why, sizeof why) == 0, "magic");
    CHECK(streamcheck_feed(&sc, h + 4, 75, 4, why, sizeof why) == 1,
          "qemu's header refused");
    CHECK(strstr(why, "convert to a local file first, then cp") != NULL,
          "names the alternative: %s", why);
    memset(&sc, 0, sizeof sc); /* out of order: the tail first */
    CHECK(streamcheck_feed(&sc, h + 40, 40, 40, why, sizeof why) == 0,
          "tail alone");
    CHECK(streamcheck_feed(&sc, h, 40, 0, why, sizeof why) == 1, "reordered");
    vmdk_header(h, 0x30003, UINT64_MAX); /* grain directory at the end */
    memset(&sc, 0, sizeof sc);
    CHECK(streamcheck_feed(&sc, h, 80, 0, why, sizeof why) == 0, "stream");
    vmdk_header(h, 0x3, 0x1e); /* monolithicSparse: not compressed */
    memset(&sc, 0, sizeof sc);
    CHECK(streamcheck_feed(&sc, h, 80, 0, why, sizeof why) == 0, "sparse");
    memset(&sc, 0, sizeof sc);
    CHECK(streamcheck_feed(&sc, "\0\0\0\0", 4, 0, why, sizeof why) == 0 &&
              sc.decided, "not a VMDK: decided at once");
}

int main(void)
{
    stream_checks();
    parsed_lines();
    real_tasks();
    return failures ? 1 : 0;
}
