/* fakehttp.c — see fakehttp.h. One thread accepts; one thread per
 * connection serves keep-alive requests until the peer closes. */
#include "fakehttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQS 256
#define MAX_CONNS 64

struct fakehttp {
    int lsock;
    char url[64];
    struct fake_rule *rules;
    pthread_t acceptor;
    pthread_t conns[MAX_CONNS];
    int nconns;
    pthread_mutex_t lock;
    struct fake_req reqs[MAX_REQS];
    size_t nreqs;
    volatile int stop;
};

struct conn {
    struct fakehttp *f;
    int fd;
};

static int wait_readable(struct fakehttp *f, int fd)
{
    struct pollfd p = {fd, POLLIN, 0};

    while (!f->stop) {
        int r = poll(&p, 1, 50);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
    return -1;
}

/* Read until the header block is complete; returns its length (incl. the
 * blank line) with any extra bytes left in buf. */
static long read_head(struct fakehttp *f, int fd, char *buf, size_t cap,
                      size_t *have)
{
    char *end;

    for (;;) {
        buf[*have] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")))
            return end + 4 - buf;
        if (*have + 1 >= cap || wait_readable(f, fd))
            return -1;
        ssize_t n = recv(fd, buf + *have, cap - 1 - *have, 0);
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
}

static long header_value(const char *head, const char *name, char *out,
                         size_t n)
{
    size_t nl = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2, *eol = strstr(line, "\r\n");
        if (eol && (size_t)(eol - line) > nl && line[nl] == ':' &&
            strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = (size_t)(eol - v);
            if (len >= n)
                len = n - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 0;
        }
    }
    return -1;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static char *read_body(struct fakehttp *f, int fd, char *buf, size_t extra,
                       size_t len)
{
    char *body = malloc(len + 1);
    size_t got = extra < len ? extra : len;

    if (!body)
        return NULL;
    memcpy(body, buf, got);
    while (got < len) {
        if (wait_readable(f, fd))
            break;
        ssize_t n = recv(fd, body + got, len - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    body[got] = '\0';
    if (got < len) {
        free(body);
        return NULL;
    }
    return body;
}

static struct fake_rule *match(struct fakehttp *f, const char *method,
                               const char *target)
{
    size_t plen = strcspn(target, "?");

    for (struct fake_rule *r = f->rules; r->status || r->drop; r++) {
        if (r->method && strcmp(r->method, method) != 0)
            continue;
        if (r->path && (strlen(r->path) != plen ||
                        strncmp(r->path, target, plen) != 0))
            continue;
        if (r->times > 0 && r->used >= r->times)
            continue;
        r->used++;
        return r;
    }
    return NULL;
}

static void record(struct fakehttp *f, const char *method, const char *target,
                   const char *head, size_t hlen, char *body, size_t blen)
{
    struct fake_req *q;

    if (f->nreqs == MAX_REQS) {
        free(body);
        return;
    }
    q = &f->reqs[f->nreqs++];
    snprintf(q->method, sizeof q->method, "%s", method);
    snprintf(q->target, sizeof q->target, "%s", target);
    q->headers = strndup(head, hlen);
    q->body = body;
    q->body_len = blen;
}

static int respond(int fd, const struct fake_rule *r)
{
    char head[2048];
    const char *body = r ? (r->body ? r->body : "") : "no rule";
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n",
                     r ? r->status : 599, strlen(body),
                     r && r->headers ? r->headers : "");

    if (send_all(fd, head, (size_t)n))
        return -1;
    return send_all(fd, body, strlen(body));
}

/* One request on the connection; -1 ends the connection. */
static int serve_one(struct fakehttp *f, int fd, char *buf, size_t cap,
                     size_t *have)
{
    char method[16] = "", target[1024] = "", cl[32], expect[64];
    long hlen = read_head(f, fd, buf, cap, have);
    size_t blen = 0, extra;
    char *body = NULL;
    struct fake_rule *r;
    bool drop;
    int delay = 0;

    if (hlen < 0 || sscanf(buf, "%15s %1023s", method, target) != 2)
        return -1;
    if (header_value(buf, "Content-Length", cl, sizeof cl) == 0)
        blen = strtoul(cl, NULL, 10);
    if (header_value(buf, "Expect", expect, sizeof expect) == 0 &&
        strcasecmp(expect, "100-continue") == 0 &&
        send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25))
        return -1;
    extra = *have - (size_t)hlen;
    body = read_body(f, fd, buf + hlen, extra, blen);
    if (!body)
        return -1;
    if (extra > blen)
        memmove(buf, buf + hlen + blen, extra - blen);
    *have = extra > blen ? extra - blen : 0;
    pthread_mutex_lock(&f->lock);
    record(f, method, target, buf, (size_t)hlen, body, blen);
    r = match(f, method, target);
    drop = r && r->drop;
    if (r)
        delay = r->delay_ms;
    pthread_mutex_unlock(&f->lock);
    for (; delay > 0 && !f->stop; delay -= 10)
        usleep(10000);
    if (drop)
        return -1;
    return respond(fd, r);
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    size_t cap = 1 << 16, have = 0;
    char *buf = malloc(cap);

    while (buf && serve_one(c->f, c->fd, buf, cap, &have) == 0)
        ;
    free(buf);
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_main(void *arg)
{
    struct fakehttp *f = arg;

    while (!f->stop) {
        if (wait_readable(f, f->lsock))
            break;
        int fd = accept(f->lsock, NULL, NULL), one = 1;
        if (fd < 0)
            continue;
        /* header and body go out in two sends: without this, Nagle and the
         * client's delayed ACK add 40 ms to every keep-alive request */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = malloc(sizeof *c);
        pthread_mutex_lock(&f->lock);
        if (!c || f->nconns == MAX_CONNS) {
            pthread_mutex_unlock(&f->lock);
            free(c);
            close(fd);
            continue;
        }
        c->f = f;
        c->fd = fd;
        if (pthread_create(&f->conns[f->nconns], NULL, conn_main, c) == 0)
            f->nconns++;
        else
            close(fd), free(c);
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

struct fakehttp *fakehttp_start(struct fake_rule *rules)
{
    struct fakehttp *f = calloc(1, sizeof *f);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;

    if (!f)
        return NULL;
    f->rules = rules;
    pthread_mutex_init(&f->lock, NULL);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->lsock = socket(AF_INET, SOCK_STREAM, 0);
    if (f->lsock < 0 || bind(f->lsock, (struct sockaddr *)&a, sizeof a) ||
        listen(f->lsock, 16) ||
        getsockname(f->lsock, (struct sockaddr *)&a, &alen) ||
        pthread_create(&f->acceptor, NULL, accept_main, f)) {
        if (f->lsock >= 0)
            close(f->lsock);
        free(f);
        return NULL;
    }
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u",
             (unsigned)ntohs(a.sin_port));
    return f;
}

void fakehttp_stop(struct fakehttp *f)
{
    if (!f)
        return;
    f->stop = 1;
    pthread_join(f->acceptor, NULL);
    for (int i = 0; i < f->nconns; i++)
        pthread_join(f->conns[i], NULL);
    close(f->lsock);
    fakehttp_reset(f);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

const char *fakehttp_url(const struct fakehttp *f)
{
    return f->url;
}

size_t fakehttp_count(struct fakehttp *f)
{
    size_t n;

    pthread_mutex_lock(&f->lock);
    n = f->nreqs;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const struct fake_req *fakehttp_req(struct fakehttp *f, size_t i)
{
    return i < fakehttp_count(f) ? &f->reqs[i] : NULL;
}

int fakehttp_header(struct fakehttp *f, size_t i, const char *name,
                    char *out, size_t n)
{
    const struct fake_req *q = fakehttp_req(f, i);

    return q ? (int)header_value(q->headers, name, out, n) : -1;
}

void fakehttp_reset(struct fakehttp *f)
{
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nreqs; i++) {
        free(f->reqs[i].headers);
        free(f->reqs[i].body);
    }
    f->nreqs = 0;
    for (struct fake_rule *r = f->rules; r->status || r->drop; r++)
        r->used = 0;
    pthread_mutex_unlock(&f->lock);
}
