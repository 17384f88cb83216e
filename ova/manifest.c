/* manifest.c — the OVA `.mf` file: one `ALG(name)= hexdigest` per line,
 * as ovftool and VirtualBox write it. A line-oriented text format of our
 * own domain, not one of the formats the team's libraries parse. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ova/internal.h"

static const struct {
    const char *name;
    int alg;
    size_t len;
} algs[] = {
    {"SHA1", MF_SHA1, 20}, {"SHA256", MF_SHA256, 32},
    {"SHA512", MF_SHA512, 64},
};

const char *manifest_alg_name(int alg)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (algs[i].alg == alg)
            return algs[i].name;
    return "?";
}

const EVP_MD *manifest_md(int alg)
{
    return alg == MF_SHA1 ? EVP_sha1() : alg == MF_SHA256 ? EVP_sha256()
                                                          : EVP_sha512();
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Parse one line [s, e) into m->e[m->n]. 0 ok, -1 malformed. */
static int parse_line(struct manifest *m, const char *s, const char *e)
{
    const char *lp = memchr(s, '(', (size_t)(e - s));
    const char *rp = NULL, *eq = NULL;
    /* ovftool writes "SHA256(name)= hex", VirtualBox "SHA256 (name) =
     * hex": a space may stand before '(' and around '=' */
    for (const char *q = e; q > s; q--) {         /* names may hold ')' */
        const char *r = q - 1;
        if (*r != ')' || q >= e)
            continue;
        const char *t = q + (*q == ' ' && q + 1 < e);
        if (*t == '=') {
            rp = r;
            eq = t;
            break;
        }
    }
    if (!lp || !rp || rp <= lp + 1 || (size_t)(rp - lp - 1) >= 256)
        return -1;
    const char *ae = lp > s && lp[-1] == ' ' ? lp - 1 : lp;
    struct mf_entry *en = &m->e[m->n];
    memset(en, 0, sizeof *en);
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if ((size_t)(ae - s) == strlen(algs[i].name) &&
            strncmp(s, algs[i].name, (size_t)(ae - s)) == 0) {
            en->alg = algs[i].alg;
            en->dlen = algs[i].len;
        }
    if (!en->alg)
        return -1;
    memcpy(en->name, lp + 1, (size_t)(rp - lp - 1));
    const char *h = eq + 1;
    while (h < e && *h == ' ')
        h++;
    if ((size_t)(e - h) != en->dlen * 2)
        return -1;
    for (size_t i = 0; i < en->dlen; i++) {
        int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        en->digest[i] = (unsigned char)(hi << 4 | lo);
    }
    m->algs |= en->alg;
    m->n++;
    return 0;
}

int manifest_parse(struct manifest *m, const char *text, size_t len,
                   struct ova_verdict *vd)
{
    m->n = 0;
    m->algs = 0;
    const char *p = text, *end = text + len;
    unsigned lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        const char *le = e;
        while (le > p && (le[-1] == '\r' || le[-1] == ' '))
            le--;
        if (le > p) {
            if (m->n == MF_MAX_ENTRIES) {
                verdict_set(vd, "bad-manifest", "the manifest has more than "
                            "%d lines", MF_MAX_ENTRIES);
                return -1;
            }
            if (parse_line(m, p, le) < 0) {
                verdict_set(vd, "bad-manifest", "manifest line %u is not "
                            "'SHA1|SHA256|SHA512(name)= hex'", lineno);
                return -1;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

struct mf_entry *manifest_find(struct manifest *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->e[i].name, name) == 0)
            return &m->e[i];
    return NULL;
}
