/* test_ova.c — the streaming validator on real images and on crafted bytes.
 *
 * The images come from tests/images/mkimages.py (run here into a temporary
 * directory with python3, or taken from $AMIFS_TEST_IMAGES when that holds
 * an images.json). Each image is fed in random-sized chunks (1 byte to
 * 1 MiB) and must get the verdict and code images.json expects; refusals
 * that the bytes reveal early must come before the end of the stream.
 * Exit 0 pass, 1 fail, 77 skip (no python3 or image tools). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ova/internal.h"
#include "ova/ova.h"
#include "check.h"

/* xorshift: reproducible chunk sizes without global state */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* log-uniform 1 .. 1 MiB, so tiny and huge chunks both occur */
static size_t chunk_size(uint64_t *s)
{
    unsigned bits = (unsigned)(rnd(s) % 21);
    size_t n = 1 + (size_t)(rnd(s) % ((size_t)1 << bits));
    return n > (1u << 20) ? (1u << 20) : n;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return NULL;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    *len = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    return buf;
}

/* The bytes of catalogue image FILE in DIR (NULL when unreadable). */
static unsigned char *image_bytes(const char *dir, const char *file,
                                  size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return slurp(path, len);
}

/* ---- crafted-input tests ----------------------------------------------- */

static void test_kind(void)
{
    CHECK(ova_kind_from_name("vm.ova") == OVA_KIND_OVA, "ova");
    CHECK(ova_kind_from_name("a/b/VM.OVA") == OVA_KIND_OVA, "OVA upper");
    CHECK(ova_kind_from_name("x.vmdk") == OVA_KIND_VMDK, "vmdk");
    CHECK(ova_kind_from_name("x.vhd") == OVA_KIND_VHD, "vhd");
    CHECK(ova_kind_from_name("x.VhDx") == OVA_KIND_VHDX, "vhdx");
    CHECK(ova_kind_from_name("x.raw") == OVA_KIND_RAW, "raw");
    CHECK(ova_kind_from_name("x.img") == OVA_KIND_RAW, "img");
    CHECK(ova_kind_from_name("x.ova.part") == OVA_KIND_NONE, "part");
    CHECK(ova_kind_from_name(".ova") == OVA_KIND_NONE, "hidden");
    CHECK(ova_kind_from_name("dir/.vmdk") == OVA_KIND_NONE, "hidden dir");
    CHECK(ova_kind_from_name(NULL) == OVA_KIND_NONE, "NULL");
    CHECK(ova_kind_from_name(".x.ova.Ab12Cd") == OVA_KIND_NONE, "rsync tmp");
    CHECK(strcmp(ova_kind_format(OVA_KIND_VHDX), "VHDX") == 0, "format");
    CHECK(strcmp(ova_kind_format(OVA_KIND_NONE), "") == 0, "format none");
}

static void test_vhd_footer(void)
{
    unsigned char f[512] = "conectix";
    f[63] = 2;
    uint32_t sum = 0;
    for (int i = 0; i < 512; i++)
        if (i < 64 || i >= 68)
            sum += f[i];
    sum = ~sum;
    f[64] = (unsigned char)(sum >> 24);
    f[65] = (unsigned char)(sum >> 16);
    f[66] = (unsigned char)(sum >> 8);
    f[67] = (unsigned char)sum;
    CHECK(vhd_footer_valid(f) == 1, "valid footer");
    f[40] ^= 1;
    CHECK(vhd_footer_valid(f) == 0, "corrupt footer accepted");
}

static void test_manifest(void)
{
    static struct manifest m;
    struct ova_verdict vd = {{0}, {0}};
    const char *ok = "SHA1(a.ovf)= 0123456789abcdef0123456789ABCDEF01234567\r\n"
                     "\nSHA256(dir (1).vmdk)= "
                     "00112233445566778899aabbccddeeff"
                     "00112233445566778899aabbccddeeff\n";
    CHECK(manifest_parse(&m, ok, strlen(ok), &vd) == 0, "parse: %s",
          vd.reason);
    CHECK(m.n == 2, "entries %zu", m.n);
    CHECK(m.algs == (MF_SHA1 | MF_SHA256), "algs");
    CHECK(manifest_find(&m, "dir (1).vmdk") != NULL, "name with parens");
    CHECK(m.e[0].digest[19] == 0x67, "digest bytes");
    const char *bad[] = {"MD5(a)= 00", "SHA1(a)= 0123", "SHA1 a = 00",
                         "SHA1(a)= 0123456789abcdef0123456789abcdef0123456g"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vd.code[0] = '\0';
        CHECK(manifest_parse(&m, bad[i], strlen(bad[i]), &vd) < 0 &&
              strcmp(vd.code, "bad-manifest") == 0, "accepted '%s'", bad[i]);
    }
}

static const char ovf_ok[] =
    "<?xml version=\"1.0\"?>\n"
    "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" "
    "xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" "
    "xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
    "CIM_ResourceAllocationSettingData\" "
    "xmlns:vmw=\"http://www.vmware.com/schema/ovf\">"
    "<References><File ovf:href=\"d.vmdk\" ovf:id=\"f1\" ovf:size=\"10\"/>"
    "</References><DiskSection><Info>x</Info><Disk ovf:capacity=\"2\" "
    "ovf:capacityAllocationUnits=\"byte * 2^30\" ovf:diskId=\"d1\" "
    "ovf:fileRef=\"f1\"/></DiskSection><VirtualSystem ovf:id=\"vm\">"
    "<OperatingSystemSection ovf:id=\"1\" vmw:osType=\"windows2019srv_64Guest"
    "\"><Info>os</Info><Description>Windows</Description>"
    "</OperatingSystemSection><VirtualHardwareSection><Item>"
    "<rasd:HostResource>ovf:/disk/d1</rasd:HostResource>"
    "<rasd:ResourceType>17</rasd:ResourceType></Item><Item>"
    "<rasd:ElementName>cd</rasd:ElementName><rasd:ResourceType>15"
    "</rasd:ResourceType></Item><vmw:Config ovf:required=\"false\" "
    "vmw:key=\"firmware\" vmw:value=\"efi\"/></VirtualHardwareSection>"
    "</VirtualSystem></Envelope>";

static int parse_ovf(struct ovf_desc *d, const char *text, size_t step,
                     struct ova_verdict *vd)
{
    struct ovf_parser *p = ovf_parser_new(d);
    size_t len = strlen(text);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len; i += step)
        rc = ovf_parser_feed(p, text + i, len - i < step ? len - i : step,
                             false, vd);
    if (rc == 0)
        rc = ovf_parser_feed(p, "", 0, true, vd);
    ovf_parser_free(p);
    return rc;
}

static void test_ovf(void)
{
    static struct ovf_desc d;
    struct ova_verdict vd = {{0}, {0}};
    CHECK(parse_ovf(&d, ovf_ok, 1, &vd) == 0, "ovf: %s", vd.reason);
    CHECK(d.nfiles == 1 && d.ndisks == 1, "counts %zu %zu", d.nfiles,
          d.ndisks);
    CHECK(d.disks[0].capacity == 2ULL << 30, "capacity %llu",
          (unsigned long long)d.disks[0].capacity);
    CHECK(strcmp(d.firmware, "efi") == 0, "firmware %s", d.firmware);
    CHECK(strcmp(d.os_type, "windows2019srv_64Guest") == 0, "os %s",
          d.os_type);
    CHECK(strcmp(d.os_desc, "Windows") == 0, "desc '%s'", d.os_desc);
    CHECK(d.disk_items == 1 && d.ndevs == 1 && d.devs[0].host[0] == 0,
          "items %u devs %zu", d.disk_items, d.ndevs);
    CHECK(ovf_desc_check(&d, &vd) == 0, "check: %s", vd.reason);

    const char *doctype = "<?xml version=\"1.0\"?><!DOCTYPE Envelope ["
                          "<!ENTITY a \"aaaa\">]><Envelope>&a;</Envelope>";
    CHECK(parse_ovf(&d, doctype, 7, &vd) < 0 &&
          strcmp(vd.code, "xml-entities") == 0, "doctype: %s", vd.code);
    const char *ext = "<?xml version=\"1.0\"?><!DOCTYPE Envelope SYSTEM "
                      "\"file:///etc/passwd\"><Envelope/>";
    CHECK(parse_ovf(&d, ext, 3, &vd) < 0 &&
          strcmp(vd.code, "xml-entities") == 0, "external: %s", vd.code);
    CHECK(parse_ovf(&d, "<Envelope><a></b></Envelope>", 4, &vd) < 0 &&
          strcmp(vd.code, "bad-xml") == 0, "mismatched tags: %s", vd.code);

    /* 8 TiB is one byte too many for ImportImage */
    char big[sizeof ovf_ok + 16];
    const char *at = strstr(ovf_ok, "ovf:capacity=\"2\"");
    snprintf(big, sizeof big, "%.*sovf:capacity=\"8192\"%s",
             (int)(at - ovf_ok), ovf_ok, at + strlen("ovf:capacity=\"2\""));
    CHECK(parse_ovf(&d, big, 100, &vd) == 0, "big parse %s", vd.reason);
    CHECK(ovf_desc_check(&d, &vd) < 0 && strcmp(vd.code, "too-large") == 0,
          "8 TiB disk: %s", vd.code);
}

/* Bytes that are not an image of the kind named. */
static void test_crafted_streams(void)
{
    static unsigned char zeros[4096];
    struct ova_validator *v = ova_validator_new(OVA_KIND_RAW);
    CHECK(ova_validator_feed(v, zeros, sizeof zeros) < 0, "zeros raw");
    CHECK(strcmp(ova_validator_code(v), "no-partition-table") == 0, "%s",
          ova_validator_code(v));
    CHECK(ova_validator_feed(v, zeros, 1) < 0, "sticky refusal");
    CHECK(ova_validator_finish(v) < 0, "finish after refusal");
    ova_validator_free(v);

    v = ova_validator_new(OVA_KIND_NONE);
    CHECK(ova_validator_feed(v, zeros, 1) < 0 &&
          strcmp(ova_validator_code(v), "bad-format") == 0, "kind none");
    ova_validator_free(v);

    /* an OVA abandoned mid-stream (rm of an upload) frees cleanly */
    v = ova_validator_new(OVA_KIND_OVA);
    CHECK(ova_validator_feed(v, zeros, 100) == 0, "partial feed");
    ova_validator_free(v);

    /* all-zero tar: no members */
    v = ova_validator_new(OVA_KIND_OVA);
    ova_validator_feed(v, zeros, sizeof zeros);
    CHECK(ova_validator_finish(v) < 0, "zero tar accepted");
    ova_validator_free(v);

    v = ova_validator_new(OVA_KIND_VMDK);
    CHECK(ova_validator_feed(v, "KDM", 3) == 0, "short vmdk is not bad yet");
    CHECK(ova_validator_finish(v) < 0 &&
          strcmp(ova_validator_code(v), "truncated") == 0, "%s",
          ova_validator_code(v));
    char *j = ova_validator_json(v, "x.vmdk");
    CHECK(j && strstr(j, "\"refused\""), "json verdict");
    free(j);
    ova_validator_free(v);
}

static void put_le(unsigned char *p, uint64_t x, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(x >> (8 * i));
}

/* A VMware-style stream VMDK (grain directory at the end) must end with
 * footer marker, footer and end-of-stream marker. */
static void test_vmdk_trailer(void)
{
    static unsigned char img[8192];
    memcpy(img, "KDMV", 4);
    put_le(img + 4, 3, 4);
    put_le(img + 8, 3 | 1u << 16 | 1u << 17, 4);
    put_le(img + 12, 2048, 8);                 /* 1 MiB */
    put_le(img + 20, 128, 8);
    put_le(img + 56, UINT64_MAX, 8);           /* GD at end */
    put_le(img + 64, 1, 8);
    put_le(img + 77, 1, 2);                    /* deflate */
    memcpy(img + sizeof img - 1024, img, 512); /* footer, then EOS zeros */
    for (int cut = 0; cut < 2; cut++) {
        struct ova_validator *v = ova_validator_new(OVA_KIND_VMDK);
        size_t len = sizeof img - (cut ? 512 : 0);
        CHECK(ova_validator_feed(v, img, len) == 0, "feed");
        int rc = ova_validator_finish(v);
        if (cut)
            CHECK(rc < 0 && strcmp(ova_validator_code(v), "truncated") == 0,
                  "cut trailer: '%s'", ova_validator_code(v));
        else
            CHECK(rc == 0, "trailer refused: %s", ova_validator_reason(v));
        CHECK(ova_validator_facts(v)->disks[0].capacity == 1 << 20, "cap");
        ova_validator_free(v);
    }
}

/* The embedded descriptor's span: (doff + dsz) * 512 must not wrap. A
 * header with dsz near 2^55 used to wrap the end below the start and hand
 * vmdk_create_type a length of ~2^64. */
static void test_vmdk_desc_span(void)
{
    size_t a, n;
    CHECK(vmdk_desc_span(1, 20, SNIFF_HEAD, &a, &n) && a == 512 &&
              n == 20 * 512, "plain span %zu+%zu", a, n);
    CHECK(vmdk_desc_span(1, 1000, SNIFF_HEAD, &a, &n) &&
              a + n == SNIFF_HEAD, "clipped to what is kept");
    const uint64_t wrap[] = {(1ULL << 55) - 1, (1ULL << 55) - 99,
                             UINT64_MAX, UINT64_MAX / 512, 1ULL << 63};
    for (size_t i = 0; i < sizeof wrap / sizeof *wrap; i++) {
        bool ok = vmdk_desc_span(100, wrap[i], SNIFF_HEAD, &a, &n);
        CHECK(ok && a == 100 * 512 && a + n == SNIFF_HEAD,
              "dsz %llu: span %zu+%zu", (unsigned long long)wrap[i], a, n);
    }
    CHECK(!vmdk_desc_span(200, 5, 512, &a, &n), "nothing held yet");
    CHECK(!vmdk_desc_span(SNIFF_HEAD / 512, 1, SNIFF_HEAD, &a, &n),
          "beyond the head");
    /* And through the validator: a VMDK header with a wrapping dsz. */
    static unsigned char img[SNIFF_HEAD];
    memset(img, 'A', sizeof img);
    memcpy(img, "KDMV", 4);
    put_le(img + 8, 3 | 1u << 16 | 1u << 17, 4);
    put_le(img + 12, 2048, 8);
    put_le(img + 28, 100, 8);
    put_le(img + 36, (1ULL << 55) - 99, 8); /* old end: 2^64 + 512 */
    put_le(img + 77, 1, 2);
    struct ova_validator *v = ova_validator_new(OVA_KIND_VMDK);
    CHECK(ova_validator_feed(v, img, sizeof img) == 0, "feed");
    ova_validator_free(v);
}

/* Cancel from another thread wakes a feed() of a big OVA at once, with
 * code "cancelled"; later calls fail and free does not wait. */
struct cancel_arg {
    struct ova_validator *v;
};

static void *cancel_main(void *p)
{
    struct cancel_arg *c = p;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    ova_validator_cancel(c->v);
    return NULL;
}

/* A ustar header for a regular file. */
static void tar_header(unsigned char *h, const char *name, size_t size)
{
    memset(h, 0, 512);
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "0000644", 7);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    memcpy(h + 136, "00000000000", 11);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

static void test_cancel(void)
{
    const size_t big = 2u << 20;
    unsigned char *buf = calloc(1, big);
    CHECK(buf != NULL, "buffer");
    if (!buf)
        return;
    /* a.ovf (a good descriptor), a.mf listing x.bin (so x.bin is hashed,
     * not skipped: the thread has work to do), then x.bin, as large as
     * ustar allows */
    char mf[160] = "SHA512(x.bin)= ";
    size_t ml = strlen(mf);
    memset(mf + ml, '0', 128);
    mf[ml + 128] = '\n';
    size_t olen = strlen(ovf_ok), opad = (olen + 511) / 512 * 512;
    size_t at = 0;
    tar_header(buf, "a.ovf", olen);
    memcpy(buf + 512, ovf_ok, olen);
    at = 512 + opad;
    tar_header(buf + at, "a.mf", strlen(mf));
    memcpy(buf + at + 512, mf, strlen(mf));
    at += 1024;
    tar_header(buf + at, "x.bin", (8ull << 30) - 1);
    struct ova_validator *v = ova_validator_new(OVA_KIND_OVA);
    struct cancel_arg c = {v};
    pthread_t t;
    pthread_create(&t, NULL, cancel_main, &c);
    int rc = 0;
    size_t off = 0;
    /* the headers, then x.bin's zeros again and again (up to 8 GiB): the
     * validator reads them faster than any hashing would, so only the
     * cancel stops it */
    for (; rc == 0 && off < (8ull << 30) - big; off += 1 << 20)
        rc = ova_validator_feed(v, off ? buf + big - (1u << 20) : buf,
                                1 << 20);
    pthread_join(t, NULL);
    CHECK(rc < 0 && strcmp(ova_validator_code(v), "cancelled") == 0,
          "cancel: rc %d code '%s' (%s) after %zu MiB", rc,
          ova_validator_code(v), ova_validator_reason(v), off >> 20);
    CHECK(ova_validator_feed(v, buf, 1) < 0, "feed after cancel");
    CHECK(ova_validator_finish(v) < 0, "finish after cancel");
    ova_validator_free(v);
    ova_validator_cancel(NULL);
    free(buf);
}

/* ---- the image catalogue ----------------------------------------------- */

struct image {
    const char *name, *file, *expect;
    bool good;
};

/* Feed the whole image in random chunks. Returns the offset at which feed
 * (followed by sync) first refused, or len when it never did. */
static size_t feed_all(struct ova_validator *v, const unsigned char *buf,
                       size_t len, uint64_t seed, bool sync)
{
    size_t off = 0;
    while (off < len) {
        size_t n = chunk_size(&seed);
        if (sync && n > len / 8 + 1)     /* several chunks, to see when */
            n = len / 8 + 1;
        if (n > len - off)
            n = len - off;
        int rc = ova_validator_feed(v, buf + off, n);
        off += n;
        if (rc == 0 && sync)
            rc = ova_validator_sync(v);
        if (rc < 0)
            return off;
    }
    return len;
}

/* Refusals the bytes reveal before the end of the stream. */
static bool known_early(const char *code)
{
    static const char *const early[] = {
        "not-tar", "ovf-not-first", "bad-xml", "xml-entities",
        "unsafe-path", "chunked-disk", "too-many-disks",
        "not-stream-optimized", "bad-format", "no-partition-table",
        "sparse-member"};
    for (size_t i = 0; i < sizeof early / sizeof early[0]; i++)
        if (strcmp(code, early[i]) == 0)
            return true;
    return false;
}

/* The stored copy a manifest at the end is checked against. */
struct stored {
    const unsigned char *buf;
    size_t len;
    unsigned reads;
};

static int stored_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct stored *s = ctx;
    if (off > s->len || len > s->len - off)
        return -EIO;
    memcpy(buf, s->buf + off, len);
    s->reads++;
    return 0;
}

/* finish(), then the read-back of a manifest at the end when one asks. */
static int finish_all(struct ova_validator *v, const unsigned char *buf,
                      size_t len)
{
    int rc = ova_validator_finish(v);
    const struct ova_facts *f = ova_validator_facts(v);
    if (rc != 0 || !f->manifest_read_back)
        return rc;
    CHECK(!f->manifest_verified, "verified before the read-back");
    struct stored st = {buf, len, 0};
    rc = ova_validator_verify_late(v, stored_read, NULL, &st);
    CHECK(st.reads > 0, "nothing read back");
    return rc == 0 ? 0 : -1;
}

static void run_image(const char *dir, const struct image *im, uint64_t seed)
{
    size_t len = 0;
    unsigned char *buf = image_bytes(dir, im->file, &len);
    CHECK(buf != NULL, "%s: cannot read %s/%s", im->name, dir, im->file);
    if (!buf)
        return;
    for (int sync = 0; sync < 2; sync++) {
        struct ova_validator *v =
            ova_validator_new(ova_kind_from_name(im->file));
        size_t at = feed_all(v, buf, len, seed + (uint64_t)sync, sync);
        int rc = finish_all(v, buf, len);
        const char *code = ova_validator_code(v);
        if (im->good)
            CHECK(rc == 0, "%s (seed %llu): refused: %s: %s", im->name,
                  (unsigned long long)seed, code, ova_validator_reason(v));
        else
            CHECK(rc < 0 && strcmp(code, im->expect) == 0,
                  "%s (seed %llu): got '%s' (%s), want '%s'", im->name,
                  (unsigned long long)seed, code, ova_validator_reason(v),
                  im->expect);
        if (im->good && ova_validator_facts(v)->manifest[0])
            CHECK(ova_validator_facts(v)->manifest_verified,
                  "%s: manifest not verified", im->name);
        if (!im->good && sync && known_early(im->expect))
            CHECK(at < len, "%s: refused only at the end (%zu bytes)",
                  im->name, len);
        if (!im->good)
            CHECK(ova_validator_reason(v)[0] != '\0', "%s: no reason",
                  im->name);
        char *j = ova_validator_json(v, im->file);
        CHECK(j != NULL, "json");
        free(j);
        ova_validator_free(v);
    }
    free(buf);
}

/* ovf-not-first must be known from the first member's header alone. */
static void test_early_ovf_not_first(const char *dir)
{
    size_t len = 0;
    unsigned char *buf = image_bytes(dir, "bad-ovf-not-first.ova", &len);
    if (!buf)
        return;
    struct ova_validator *v = ova_validator_new(OVA_KIND_OVA);
    CHECK(ova_validator_feed(v, buf, 512) == 0, "first header");
    CHECK(ova_validator_sync(v) < 0 &&
          strcmp(ova_validator_code(v), "ovf-not-first") == 0,
          "not refused after the first header: '%s'", ova_validator_code(v));
    CHECK(strstr(ova_validator_reason(v), "found '") != NULL, "reason %s",
          ova_validator_reason(v));
    ova_validator_free(v);
    free(buf);
}

static int failing_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    (void)ctx, (void)off, (void)buf, (void)len;
    return -EIO;
}

/* A disk member of 12 MiB without a manifest: its middle is skipped
 * (dropped by feed() without a copy) and the verdict is the same as when
 * every byte passes; fed in 64 KiB pieces with a sync after each, so the
 * skip meets bytes both in the ring and still to come. */
static void test_big_member_skipped(const char *dir)
{
    size_t len = 0;
    unsigned char *buf = image_bytes(dir, "vm-big.ova", &len);
    CHECK(buf != NULL, "no vm-big.ova");
    if (!buf)
        return;
    for (int sync = 0; sync < 2; sync++) {
        struct ova_validator *v = ova_validator_new(OVA_KIND_OVA);
        for (size_t off = 0; off < len; off += 65536) {
            size_t n = len - off < 65536 ? len - off : 65536;
            CHECK(ova_validator_feed(v, buf + off, n) == 0, "feed");
            if (sync)
                ova_validator_sync(v);
        }
        CHECK(ova_validator_finish(v) == 0, "refused: %s",
              ova_validator_reason(v));
        CHECK(v->drop_to > len / 2, "the disk was not skipped (drop_to "
              "%llu of %zu)", (unsigned long long)v->drop_to, len);
        const struct ova_facts *f = ova_validator_facts(v);
        CHECK(f->ndisks == 1 && f->disks[0].file_size > len / 2 &&
              strcmp(f->disks[0].subformat, "streamOptimized") == 0,
              "facts: %u disks, %llu bytes", f->ndisks,
              (unsigned long long)f->disks[0].file_size);
        ova_validator_free(v);
    }
    /* The writer dies in the middle of the skipped part: the cancel (rm,
     * unmount, SIGTERM) wakes the thread waiting for the disk's end, and
     * free() joins it at once. */
    struct ova_validator *v = ova_validator_new(OVA_KIND_OVA);
    CHECK(ova_validator_feed(v, buf, len / 2) == 0, "first half");
    ova_validator_sync(v);
    CHECK(v->drop_to > len / 2, "not skipping at half");
    ova_validator_cancel(v);
    CHECK(ova_validator_feed(v, buf + len / 2, 4096) < 0 &&
          strcmp(ova_validator_code(v), "cancelled") == 0,
          "after cancel: '%s'", ova_validator_code(v));
    ova_validator_free(v);
    free(buf);
}

/* A manifest at the end: a failed read-back is no verdict (the caller may
 * try again), and a later one that succeeds verifies it. */
static void test_late_read_error(const char *dir)
{
    size_t len = 0;
    unsigned char *buf = image_bytes(dir, "vm-mf-last-sha1.ova", &len);
    CHECK(buf != NULL, "no vm-mf-last-sha1.ova");
    if (!buf)
        return;
    struct ova_validator *v = ova_validator_new(OVA_KIND_OVA);
    CHECK(ova_validator_feed(v, buf, len) == 0, "feed");
    CHECK(ova_validator_finish(v) == 0, "finish: %s",
          ova_validator_reason(v));
    const struct ova_facts *f = ova_validator_facts(v);
    CHECK(f->manifest_read_back > len / 2 && !f->manifest_verified,
          "read_back %llu of %zu", (unsigned long long)f->manifest_read_back,
          len);
    CHECK(ova_validator_verify_late(v, failing_read, NULL, NULL) == -EIO,
          "failed read");
    CHECK(ova_validator_code(v)[0] == '\0' && !f->manifest_verified,
          "a failed read gave a verdict: %s", ova_validator_code(v));
    struct stored st = {buf, len, 0};
    CHECK(ova_validator_verify_late(v, stored_read, NULL, &st) == 0 &&
          f->manifest_verified, "retry: %s", ova_validator_reason(v));
    /* one flipped byte inside the disk: refused, manifest-mismatch */
    struct ova_validator *w = ova_validator_new(OVA_KIND_OVA);
    CHECK(ova_validator_feed(w, buf, len) == 0 &&
          ova_validator_finish(w) == 0, "second feed");
    buf[len - f->manifest_read_back / 2 - 4096] ^= 1;
    CHECK(ova_validator_verify_late(w, stored_read, NULL, &st) == -1 &&
          strcmp(ova_validator_code(w), "manifest-mismatch") == 0,
          "flipped byte: '%s'", ova_validator_code(w));
    ova_validator_free(w);
    ova_validator_free(v);
    free(buf);
}

static char *make_images(char *tmpl)
{
    const char *pre = getenv("AMIFS_TEST_IMAGES");
    char probe[4096];
    if (pre) {
        snprintf(probe, sizeof probe, "%s/images.json", pre);
        if (access(probe, R_OK) == 0)
            return strdup(pre);
    }
    if (!mkdtemp(tmpl))
        return NULL;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "python3 tests/images/mkimages.py '%s' "
             ">/dev/null", tmpl);
    if (system(cmd) != 0)
        return NULL;
    return strdup(tmpl);
}

static int load_images(const char *dir, cJSON **root)
{
    char path[4096];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/images.json", dir);
    unsigned char *text = slurp(path, &len);
    if (!text)
        return -1;
    text[len] = '\0';
    *root = cJSON_Parse((char *)text);
    free(text);
    return *root && cJSON_IsArray(*root) ? 0 : -1;
}

static void test_catalogue(const char *dir, cJSON *root)
{
    int n = 0, bad = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, root) {
        struct image im = {
            cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")),
            cJSON_GetStringValue(cJSON_GetObjectItem(e, "file")),
            cJSON_GetStringValue(cJSON_GetObjectItem(e, "expect")),
            cJSON_IsTrue(cJSON_GetObjectItem(e, "good"))};
        CHECK(im.name && im.file && (im.good || im.expect), "bad entry");
        if (!im.name || !im.file || (!im.good && !im.expect))
            continue;
        for (uint64_t seed = 1; seed <= 3; seed++)
            run_image(dir, &im, seed * 0x9e3779b97f4a7c15ULL + (uint64_t)n);
        n++;
        bad += !im.good;
    }
    CHECK(n >= 30 && bad >= 15, "catalogue too small: %d images", n);
    printf("catalogue: %d images (%d bad) x 3 seeds x 2 modes\n", n, bad);
}

int main(void)
{
    test_kind();
    test_vhd_footer();
    test_manifest();
    test_ovf();
    test_crafted_streams();
    test_vmdk_trailer();
    test_vmdk_desc_span();
    test_cancel();

    char tmpl[] = "/tmp/amifs-ova-test-XXXXXX";
    char *dir = make_images(tmpl);
    if (!dir) {
        printf("SKIP image tests: mkimages.py failed (python3, sfdisk, "
               "mkfs.ext4, qemu-img, tar, bsdtar needed)\n");
        return failures ? 1 : 77;
    }
    cJSON *root = NULL;
    CHECK(load_images(dir, &root) == 0, "images.json unreadable in %s", dir);
    if (root) {
        test_catalogue(dir, root);
        test_early_ovf_not_first(dir);
        test_late_read_error(dir);
        test_big_member_skipped(dir);
    }
    cJSON_Delete(root);
    if (dir == tmpl || strcmp(dir, tmpl) == 0) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
        if (system(cmd) != 0)
            printf("could not remove %s\n", tmpl);
    }
    free(dir);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
