/* guest_facts.c — what a guest's files say: os-release, kernels, GRUB and
 * BLS entries, fstab, static network configuration, cloud-init. Files are
 * read through libext2fs (core/guest_ext.c); each is a small text file
 * with a line format of its own (KEY=VALUE, fstab fields), read line by
 * line. See core/guest_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest_int.h"

#define SMALL (64u << 10)

/* Next line of *p (NUL-terminated in place); NULL at the end. */
static char *next_line(char **p)
{
    char *s = *p;
    if (!s || !*s)
        return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* KEY=VALUE with optional quotes: the value into out, or false. */
static bool kv(char *line, const char *key, char *out, size_t n)
{
    line = trim(line);
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0 || line[k] != '=')
        return false;
    char *v = line + k + 1;
    size_t len = strlen(v);
    if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
        v[len - 1] = '\0';
        v++;
    }
    snprintf(out, n, "%s", v);
    return true;
}

/* One os-release line into f (the keys the check uses). */
static void os_line(const char *line, struct gfacts *f)
{
    char dup[512];
    struct {
        const char *key;
        char *out;
        size_t n;
    } keys[] = {{"ID", f->os_id, sizeof f->os_id},
                {"VERSION_ID", f->version_id, sizeof f->version_id},
                {"PRETTY_NAME", f->pretty, sizeof f->pretty}};
    for (size_t k = 0; k < 3; k++) {
        snprintf(dup, sizeof dup, "%s", line);
        if (kv(dup, keys[k].key, keys[k].out, keys[k].n))
            return;
    }
}

static void os_release(struct gext *e, struct gfacts *f)
{
    static const char *const where[] = {"/etc/os-release",
                                        "/usr/lib/os-release"};
    for (size_t i = 0; i < 2 && !f->os_id[0]; i++) {
        char *text = gext_slurp(e, where[i], SMALL, NULL), *p = text, *l;
        while ((l = next_line(&p)))
            os_line(l, f);
        free(text);
    }
    f->have_root = f->os_id[0] != '\0';
}

static void add_kernel(const char *name, void *arg)
{
    struct gfacts *f = arg;
    if (strncmp(name, "vmlinuz-", 8) != 0 || !name[8] ||
        strstr(name, "rescue") || f->nkernels >= GUEST_MAX_KERNELS)
        return;
    for (size_t i = 0; i < f->nkernels; i++)
        if (strcmp(f->kernels[i], name + 8) == 0)
            return;
    snprintf(f->kernels[f->nkernels++], 64, "%s", name + 8);
}

static void add_module_dir(const char *name, void *arg)
{
    struct gfacts *f = arg;
    if (f->nmodules < GUEST_MAX_KERNELS)
        snprintf(f->modules[f->nmodules++], 64, "%s", name);
}

static void count_bls(const char *name, void *arg)
{
    struct gfacts *f = arg;
    size_t n = strlen(name);
    if (n > 5 && strcmp(name + n - 5, ".conf") == 0)
        f->nbls++;
}

/* The title of the first "menuentry '…'" of a grub.cfg. */
static void first_menuentry(char *cfg, char *out, size_t n)
{
    char *p = cfg, *l;
    while ((l = next_line(&p))) {
        l = trim(l);
        if (strncmp(l, "menuentry ", 10) != 0)
            continue;
        char *q = l + 10;
        char quote = *q;
        if (quote != '\'' && quote != '"')
            return;
        char *end = strchr(q + 1, quote);
        if (end)
            *end = '\0';
        snprintf(out, n, "%s", q + 1);
        return;
    }
}

static void grub_env_default(struct gext *e, const char *pre,
                             struct gfacts *f)
{
    char path[96], *text, *p, *l;
    snprintf(path, sizeof path, "%s/%s/grubenv", pre,
             strcmp(f->grub, "grub2") == 0 && f->nbls ? "grub2" : "grub");
    if (!(text = gext_slurp(e, path, SMALL, NULL))) {
        snprintf(path, sizeof path, "%s/grub2/grubenv", pre);
        text = gext_slurp(e, path, SMALL, NULL);
    }
    p = text;
    while ((l = next_line(&p)))
        if (kv(l, "saved_entry", f->grub_default, sizeof f->grub_default))
            break;
    free(text);
}

void gfacts_boot(struct gext *e, bool separate, struct gfacts *f)
{
    const char *pre = separate ? "" : "/boot";
    char path[96];
    snprintf(path, sizeof path, "%s/", pre);
    gext_list(e, path, add_kernel, f);
    snprintf(path, sizeof path, "%s/loader/entries", pre);
    gext_list(e, path, count_bls, f);
    f->bls = f->bls || f->nbls > 0;
    static const char *const cfgs[] = {"grub2/grub.cfg", "grub/grub.cfg",
                                       "grub/menu.lst"};
    for (size_t i = 0; i < 3 && !f->grub[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", pre, cfgs[i]);
        char *cfg = gext_slurp(e, path, 1u << 20, NULL);
        if (!cfg)
            continue;
        snprintf(f->grub, sizeof f->grub, "%s", i == 2 ? "grub" : "grub2");
        if (!f->grub_default[0])
            first_menuentry(cfg, f->grub_default, sizeof f->grub_default);
        free(cfg);
        grub_env_default(e, pre, f);
    }
    f->have_boot = f->have_boot || f->nkernels > 0 || f->grub[0];
}

/* GRUB_DEFAULT in /etc/default/grub, unless "saved" (grubenv says). */
static void grub_default(struct gext *e, struct gfacts *f)
{
    char *text = gext_slurp(e, "/etc/default/grub", SMALL, NULL), *p = text;
    char *l, v[128] = "";
    while ((l = next_line(&p)))
        if (kv(l, "GRUB_DEFAULT", v, sizeof v))
            break;
    free(text);
    if (v[0] && strcmp(v, "saved") != 0)
        snprintf(f->grub_default, sizeof f->grub_default, "%s", v);
}

static bool device_name(const char *spec)
{
    static const char *const pre[] = {"/dev/sd", "/dev/xvd", "/dev/hd",
                                      "/dev/vd"};
    for (size_t i = 0; i < 4; i++)
        if (strncmp(spec, pre[i], strlen(pre[i])) == 0)
            return true;
    return false;
}

static void fstab(struct gext *e, struct gfacts *f)
{
    char *text = gext_slurp(e, "/etc/fstab", SMALL, NULL), *p = text, *l;
    while ((l = next_line(&p))) {
        l = trim(l);
        if (*l == '#' || !*l)
            continue;
        size_t w = strcspn(l, " \t");
        l[w] = '\0';
        if (device_name(l) && f->nfstab_dev < GUEST_MAX_FSTAB)
            snprintf(f->fstab_dev[f->nfstab_dev++], 64, "%s", l);
    }
    free(text);
}

struct netscan {
    struct gext *e;
    struct gfacts *f;
    const char *dir;
    int kind; /* 0 interfaces.d, 1 ifcfg, 2 netplan, 3 NetworkManager */
};

/* Whether one configuration file's text sets a static address. */
static bool static_text(char *text, int kind)
{
    char *p = text, *l;
    int ns = -1; /* netplan: indentation of an open "nameservers:" */
    bool boot_static = false, ipaddr = false;
    while ((l = next_line(&p))) {
        int indent = (int)strspn(l, " \t");
        char *t = trim(l), v[64];
        if (*t == '#')
            continue;
        if (kind == 0 && strncmp(t, "iface ", 6) == 0 && strstr(t, " static"))
            return true;
        if (kind == 1 && kv(t, "BOOTPROTO", v, sizeof v))
            boot_static = !strcmp(v, "static") || !strcmp(v, "none");
        if (kind == 1 && strncmp(t, "IPADDR", 6) == 0)
            ipaddr = true;
        if (kind == 3 && strcmp(t, "method=manual") == 0)
            return true;
        if (kind == 2 && ns >= 0 && indent <= ns)
            ns = -1;
        if (kind == 2 && strncmp(t, "nameservers:", 12) == 0)
            ns = indent;
        else if (kind == 2 && ns < 0 && strncmp(t, "addresses:", 10) == 0)
            return true;
    }
    return boot_static && ipaddr;
}

static void net_file(const char *name, void *arg)
{
    struct netscan *s = arg;
    char path[512];
    if (s->f->static_net || (s->kind == 1 && (strncmp(name, "ifcfg-", 6) ||
                                              !strcmp(name, "ifcfg-lo"))))
        return;
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    char *text = gext_slurp(s->e, path, SMALL, NULL);
    if (text && static_text(text, s->kind)) {
        s->f->static_net = true;
        size_t n = sizeof s->f->static_net_file;
        if (snprintf(s->f->static_net_file, n, "%s", path) >= (int)n)
            s->f->static_net_file[n - 1] = '\0';
    }
    free(text);
}

static void network(struct gext *e, struct gfacts *f)
{
    struct netscan s = {e, f, "/etc/network", 0};
    char *text = gext_slurp(e, "/etc/network/interfaces", SMALL, NULL);
    if (text && static_text(text, 0)) {
        f->static_net = true;
        snprintf(f->static_net_file, sizeof f->static_net_file,
                 "/etc/network/interfaces");
    }
    free(text);
    static const char *const dirs[] = {
        "/etc/network/interfaces.d", "/etc/sysconfig/network-scripts",
        "/etc/netplan", "/etc/NetworkManager/system-connections"};
    for (int k = 0; k < 4 && !f->static_net; k++) {
        s.dir = dirs[k];
        s.kind = k;
        gext_list(e, s.dir, net_file, &s);
    }
}

void gfacts_root(struct gext *e, struct gfacts *f)
{
    os_release(e, f);
    if (!f->have_root)
        return;
    gfacts_boot(e, false, f);
    gfacts_arch(e, f);
    gext_list(e, "/lib/modules", add_module_dir, f);
    grub_default(e, f);
    fstab(e, f);
    network(e, f);
    f->cloud_init = gext_exists(e, "/etc/cloud/cloud.cfg") ||
                    gext_exists(e, "/usr/bin/cloud-init");
}
