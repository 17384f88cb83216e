/* test_importjob.c — the network-free parts of core/importjob.c: content
 * sniffing for temporary names, the ClientToken, sidecar JSON and
 * user.amifs.* xattrs, final names. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "core/importjob.h"
#include "ova/ova.h"
#include "check.h"

static void test_sniff(void)
{
    unsigned char h[512];
    memset(h, 0, sizeof h);
    memcpy(h + 257, "ustar", 5);
    CHECK(importjob_sniff(h, sizeof h) == OVA_KIND_OVA);
    memset(h, 0, sizeof h);
    memcpy(h, "KDMV", 4);
    CHECK(importjob_sniff(h, sizeof h) == OVA_KIND_VMDK);
    memcpy(h, "vhdxfile", 8);
    CHECK(importjob_sniff(h, sizeof h) == OVA_KIND_VHDX);
    memcpy(h, "conectix", 8);
    CHECK(importjob_sniff(h, sizeof h) == OVA_KIND_VHD);
    memset(h, 0, sizeof h);
    h[510] = 0x55;
    h[511] = 0xAA;
    CHECK(importjob_sniff(h, sizeof h) == OVA_KIND_RAW);
    /* a short head cannot be a tar */
    memset(h, 0, sizeof h);
    memcpy(h + 257, "ustar", 5);
    CHECK(importjob_sniff(h, 100) == OVA_KIND_RAW);
}

static void test_token(void)
{
    char tok[65], again[65], other[65];
    import_client_token("bkt", "p/vm.ova", "abc-3", tok);
    import_client_token("bkt", "p/vm.ova", "abc-3", again);
    import_client_token("bkt", "p/vm.ova", "abc-4", other);
    CHECK(strlen(tok) == 64);
    CHECK(streq(tok, again));
    CHECK(!streq(tok, other));
    /* It is the SHA-256 of "bucket/key#etag", hex. */
    unsigned char md[32];
    unsigned int n = 0;
    const char *in = "bkt/p/vm.ova#abc-3";
    EVP_Digest(in, strlen(in), md, &n, EVP_sha256(), NULL);
    char hex[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    CHECK(streq(tok, hex));
}

static void test_sidecar_json(void)
{
    struct import_params p;
    import_params_init(&p);
    char why[256];
    const char *j = "{\"BootMode\":\"uefi\",\"Platform\":\"Windows\","
                    "\"Encrypted\":true,\"KmsKeyId\":\"alias/k\","
                    "\"Description\":\"d\",\"RoleName\":\"r\","
                    "\"Tags\":{\"Owner\":\"ops\",\"Team\":\"x\"}}";
    CHECK(import_params_from_json(&p, j, strlen(j), why, sizeof why) == 0);
    CHECK(streq(p.boot_mode, "uefi") && streq(p.platform, "Windows"));
    CHECK(p.encrypted == 1 && streq(p.kms_key_id, "alias/k"));
    CHECK(streq(p.description, "d") && streq(p.role_name, "r"));
    CHECK(p.tags.n == 2);
    /* The list form of Tags, and a later value replacing an earlier. */
    const char *j2 = "{\"Tags\":[{\"Key\":\"Owner\",\"Value\":\"bob\"}]}";
    CHECK(import_params_from_json(&p, j2, strlen(j2), why, sizeof why) == 0);
    CHECK(p.tags.n == 2);
    CHECK(streq(import_params_getxattr(&p, "user.amifs.tag.Owner"), "bob"));
    const char *bad[] = {"[1,2]", "not json", "{\"Bogus\":1}",
                         "{\"Platform\":3}", "{\"Tags\":[{\"Key\":1}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK(import_params_from_json(&p, bad[i], strlen(bad[i]), why,
                                      sizeof why) == -EINVAL);
        CHECK(why[0] != '\0');
    }
    import_params_release(&p);
}

static void test_xattrs(void)
{
    struct import_params p;
    import_params_init(&p);
    CHECK(import_params_setxattr(&p, "user.amifs.boot_mode", "uefi", 4) ==
          0);
    CHECK(import_params_setxattr(&p, "user.amifs.tag.Owner", "alice", 5) ==
          0);
    CHECK(import_params_setxattr(&p, "user.amifs.encrypted", "true", 4) ==
          0);
    CHECK(p.encrypted == 1);
    CHECK(import_params_setxattr(&p, "user.amifs.encrypted", "maybe", 5) ==
          -EINVAL);
    CHECK(import_params_setxattr(&p, "user.amifs.nope", "x", 1) ==
          -ENOTSUP);
    CHECK(import_params_setxattr(&p, "user.other", "x", 1) == -ENOTSUP);
    CHECK(import_params_setxattr(&p, "user.amifs.tag.", "x", 1) ==
          -ENOTSUP);
    CHECK(streq(import_params_getxattr(&p, "user.amifs.boot_mode"), "uefi"));
    CHECK(streq(import_params_getxattr(&p, "user.amifs.tag.Owner"),
                "alice"));
    CHECK(streq(import_params_getxattr(&p, "user.amifs.encrypted"), "true"));
    CHECK(import_params_getxattr(&p, "user.amifs.platform") == NULL);
    import_params_release(&p);
}

static void test_final_names(void)
{
    CHECK(importjob_final_name("vm.ova") && importjob_final_name("A.VMDK"));
    CHECK(importjob_final_name("d.vhdx") && importjob_final_name("d.img"));
    CHECK(!importjob_final_name("vm.ova.part"));
    CHECK(!importjob_final_name(".vm.ova.Xa12bc"));
    CHECK(!importjob_final_name("vm.ova.json"));
}

/* doc/CONTRACT.md "Saying why, continued": the temporary names whose
 * final name is known, so tasks/FINAL follows them from the first byte. */
static void test_temp_targets(void)
{
    char out[64];
    CHECK(importjob_temp_target(".vm.ova.xubQcH", out, sizeof out) &&
          streq(out, "vm.ova"));
    CHECK(importjob_temp_target(".a.b.vmdk.Ab12Z9", out, sizeof out) &&
          streq(out, "a.b.vmdk"));
    CHECK(importjob_temp_target("vm.ova.part", out, sizeof out) &&
          streq(out, "vm.ova"));
    CHECK(!importjob_temp_target(".goutputstream-ABC123", out, sizeof out));
    CHECK(!importjob_temp_target(".vm.ova.xubQc", out, sizeof out));
    CHECK(!importjob_temp_target(".vm.ova.xub-cH", out, sizeof out));
    CHECK(!importjob_temp_target(".notes.txt.xubQcH", out, sizeof out));
    CHECK(!importjob_temp_target("vm.ova", out, sizeof out));
    CHECK(!importjob_temp_target(".part", out, sizeof out));
    CHECK(!importjob_temp_target(".vm.ova.xubQcH", out, 4)); /* no room */
}

/* A sidecar's unknown key names the key it probably meant. */
static void test_sidecar_unknown_key(void)
{
    struct import_params p;
    char why[256];
    const char *j = "{\"Bootmode\":\"uefi\"}";
    import_params_init(&p);
    CHECK(import_params_from_json(&p, j, strlen(j), why, sizeof why) ==
          -EINVAL);
    CHECK(strstr(why, "unknown key \"Bootmode\" (did you mean "
                      "\"BootMode\"?)") != NULL);
    import_params_release(&p);
    CHECK(import_params_check("{\"Bootm", 7, why, sizeof why) == 1);
    CHECK(import_params_check("{\"BootMode\":\"uefi\"}", 19, why,
                              sizeof why) == 0);
}

int main(void)
{
    test_temp_targets();
    test_sidecar_unknown_key();
    test_sniff();
    test_token();
    test_sidecar_json();
    test_xattrs();
    test_final_names();
    return check_exit();
}
