/* errlog.c — the ring of refusal lines behind MOUNT/.amifs/errors. */
#include "core/errlog.h"
#include "core/name.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 1024

struct errlog {
    pthread_mutex_t mu;
    const struct aws_logger *lg;
    char *lines[ERRLOG_LINES]; /* ring; NULL slots unused */
    char *paths[ERRLOG_LINES]; /* the escaped path of each line */
    size_t next;               /* slot the next line goes to */
};

struct errlog *errlog_new(const struct aws_logger *lg)
{
    struct errlog *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    pthread_mutex_init(&e->mu, NULL);
    e->lg = lg;
    return e;
}

void errlog_free(struct errlog *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < ERRLOG_LINES; i++) {
        free(e->lines[i]);
        free(e->paths[i]);
    }
    pthread_mutex_destroy(&e->mu);
    free(e);
}

static void stamp(char *out, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void store(struct errlog *e, char *line, char *path)
{
    pthread_mutex_lock(&e->mu);
    free(e->lines[e->next]);
    free(e->paths[e->next]);
    e->lines[e->next] = line;
    e->paths[e->next] = path;
    e->next = (e->next + 1) % ERRLOG_LINES;
    pthread_mutex_unlock(&e->mu);
}

int errlog_refuse(struct errlog *e, const char *path, const char *op, int err,
                  const char *fmt, ...)
{
    char why[LINE_MAX_BYTES / 2], ewhy[LINE_MAX_BYTES / 2];
    char epath[LINE_MAX_BYTES / 4], when[32], line[LINE_MAX_BYTES];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    name_esc(why, ewhy, sizeof ewhy);
    name_esc(path ? path : "-", epath, sizeof epath);
    stamp(when, sizeof when);
    snprintf(line, sizeof line, "%s %s %s: %s: %s", when, epath,
             op ? op : "-", strerror(err), ewhy);
    if (e) {
        aws_log(e->lg, AWS_LOG_WARN, "refused: %s", line);
        char *l = strdup(line), *p = strdup(epath);
        if (l && p)
            store(e, l, p);
        else {
            free(l);
            free(p);
        }
    }
    return -err;
}

int errlog_render(struct errlog *e, struct buf *out)
{
    int rc = 0;

    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < ERRLOG_LINES && rc == 0; i++) {
        const char *l = e->lines[(e->next + i) % ERRLOG_LINES];
        if (l)
            rc = buf_printf(out, "%s\n", l);
    }
    pthread_mutex_unlock(&e->mu);
    return rc < 0 ? -ENOMEM : 0;
}

int errlog_last_for(struct errlog *e, const char *path, char *out, size_t n)
{
    char epath[LINE_MAX_BYTES / 4];
    int found = 0;

    name_esc(path, epath, sizeof epath);
    pthread_mutex_lock(&e->mu);
    for (size_t i = 1; i <= ERRLOG_LINES && !found; i++) {
        size_t k = (e->next + ERRLOG_LINES - i) % ERRLOG_LINES;
        if (e->paths[k] && strcmp(e->paths[k], epath) == 0) {
            const char *l = e->lines[k] + strlen(e->lines[k]);
            /* the sentence after "TIME PATH OP: " */
            const char *s = strchr(e->lines[k], ' ');
            s = s ? s + 1 + strlen(epath) + 1 : l;
            snprintf(out, n, "%s", s <= l ? s : "");
            found = 1;
        }
    }
    pthread_mutex_unlock(&e->mu);
    return found;
}
