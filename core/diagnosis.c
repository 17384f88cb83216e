/* diagnosis.c — the failure catalogue behind tasks/ID/diagnosis. */
#include "core/diagnosis.h"
#include "core/name.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Order matters: the first matching entry wins, so specific strings come
 * before the general ones they contain (e.g. "Disk validation failed [...]"
 * variants before plain "Disk validation failed"). Sources: doc/AWS.md
 * "VM Import facts". */
static const struct diagnosis TABLE[] = {
    /* C1: permissions, bucket, region */
    {"does not exist or does not have sufficient permissions",
     "The vmimport service role is missing, its trust policy does not allow "
     "vmie.amazonaws.com with sts:Externalid = vmimport, its policy does not "
     "cover the staging bucket (or kms:Decrypt for the key), or you lack "
     "iam:PassRole on it. The root user cannot import either.",
     "Run `{doctor}` to see which; `{setup}` creates the role and its "
     "policies (or mount with role=NAME for another role)."},
    {"403 Forbidden",
     "The vmimport role cannot read the staged object: a bucket policy, a "
     "KMS-encrypted object without a key grant, or a role policy naming "
     "another bucket.",
     "Give the role s3:GetObject on the staging bucket (and kms:Decrypt on "
     "the key); `{doctor}` checks this."},
    {"not local to the region",
     "The staging bucket is in another region than the import.",
     "Use a bucket in the mounted region (bucket=NAME option) or mount the "
     "bucket's region (region=…)."},
    {"region, it's in",
     "The staging bucket is in another region than the import.",
     "Use a bucket in the mounted region (bucket=NAME option)."},
    {"Invalid S3 source location",
     "The staged object is missing or its bucket/key is malformed.",
     "Copy the file into imports/ again; check the staging bucket exists."},
    {"disk-image-size=0 has an invalid format",
     "The format is not one of OVA, VMDK, VHD, VHDX, RAW.",
     "Convert the disk (qemu-img convert -O vmdk -o "
     "subformat=streamOptimized) and name it .vmdk/.ova/.vhd/.vhdx/.raw."},
    /* C2: disk and container format */
    {"chunked disk files",
     "The OVA holds a disk split into chunks (disk.vmdk.000000000…), which "
     "VM Import does not accept.",
     "Re-export the OVA without chunking (ovftool --noImageFiles off, or "
     "pack the whole VMDK as one tar member)."},
    {"Unsupported OVA format",
     "The OVA layout is not accepted, e.g. the OVF descriptor is not the "
     "first member, or the archive was built by a tool VM Import rejects.",
     "Repack: `tar -cf vm.ova --format=ustar vm.ovf vm-disk1.vmdk …` with "
     "the .ovf first, or import the VMDK alone."},
    {"Unsupported VMDK File Format",
     "The VMDK is monolithicSparse or flat, not stream-optimized.",
     "qemu-img convert -O vmdk -o subformat=streamOptimized in.vmdk "
     "out.vmdk, or export through OVF/OVA."},
    {"Footers not identical",
     "A differencing (child) VHD, or a damaged VHD.",
     "Merge the snapshot chain and re-export a fixed or dynamic VHD "
     "(qemu-img convert -O vpc)."},
    {"Uncompressed data has invalid length",
     "The VMDK is corrupt or truncated, often from an incomplete copy.",
     "Re-export the disk and copy it again; compare checksums."},
    {"unsupported compression algorithm",
     "The VMDK comes from a legacy export path VM Import cannot read.",
     "Export again as OVF/OVA, or convert with qemu-img to "
     "streamOptimized."},
    {"No valid partitions",
     "No partition table was recognised (a whole-disk file system or an "
     "unusual raw layout).",
     "Give the disk an MBR or GPT partition table with the root file system "
     "in a partition."},
    {"No bootable partition found",
     "No bootable partition, or the boot partition is not on the first disk.",
     "Mark the boot partition active / install the boot loader on the first "
     "disk and export again."},
    {"Disk validation failed",
     "VM Import could not validate the disk image.",
     "Check the image with `amifs inspect FILE` and re-export it."},
    /* C3: guest OS detection and conversion (Linux) */
    {"Unknown OS / Missing OS files",
     "VM Import did not recognise the operating system: an unsupported "
     "distribution or version, an encrypted root, btrfs subvolumes or an "
     "unusual LVM layout, or a disk with no OS at all.",
     "Use a distribution and version VM Import supports (AWS publishes "
     "the list); otherwise import the disk "
     "with ImportSnapshot and register the AMI yourself (RegisterImage)."},
    {"Unsupported kernel version",
     "The guest's kernel is not on VM Import's supported list.",
     "Boot the distribution's default kernel and make it the GRUB default, "
     "then export again; or ImportSnapshot + RegisterImage."},
    {"Unable to determine kernel version",
     "VM Import could not find the default kernel (newer distribution "
     "layout).",
     "Make the default kernel explicit in GRUB, or ImportSnapshot + "
     "RegisterImage."},
    {"BLSC-style GRUB",
     "BootLoaderSpec GRUB (RHEL 8+, AL2023, Fedora) without a resolvable "
     "default kernel.",
     "Set the default entry with grubby --set-default and regenerate "
     "grub.cfg (AWS re:Post: ami-resolve-import-export-blsc-error)."},
    {"UEFI booting is not supported",
     "The disk boots with UEFI and no boot mode was given.",
     "Import with BootMode uefi (xattr user.amifs.boot_mode=uefi, the "
     "sidecar NAME.json, or -o boot_mode=uefi)."},
    {"Could not read fstab",
     "Several /etc directories or a multi-boot volume.",
     "Keep one OS with one /etc on the image."},
    {"Logical volume group activation failed",
     "LVM could not be activated: a corrupt image or a root spanning disks.",
     "Keep the root volume group on one disk; check the image."},
    {"Multiple directories found",
     "Multi-boot, or several /etc directories.",
     "Keep one OS on the image."},
    {"Multiple different grub",
     "Several different GRUB configurations were found.",
     "Remove stale /boot/grub/menu.lst or grub.cfg copies."},
    {"initramfs",
     "VM Import could not read the initramfs/initrd.",
     "Regenerate the initramfs (dracut -f / update-initramfs -u)."},
    /* C4: Windows */
    {".Net framework",
     "The Windows guest lacks .NET Framework 3.5 SP1 or later.",
     "Install .NET 3.5 SP1+ in the VM and export again."},
    {"FirstBootFailure",
     "The Windows instance did not boot or reach the network: DHCP off, "
     "firewall or hardening, a missing second volume, activation.",
     "Enable DHCP, relax the firewall, include every volume, and export "
     "again."},
    /* Cancellation */
    {"cancel",
     "The import was cancelled (rmdir of the task, or CancelImportTask).",
     "Copy the file into imports/ again to start a new import."},
    /* Our own pre-flight validator (ova/ codes, "invalid …" status) */
    {"not-stream-optimized",
     "The VMDK is not stream-optimized; VM Import would fail with "
     "\"Unsupported VMDK File Format\".",
     "qemu-img convert -O vmdk -o subformat=streamOptimized in.vmdk "
     "out.vmdk"},
    {"ovf-not-first",
     "The OVF descriptor is not the first member of the OVA.",
     "Repack with the .ovf first: tar -cf vm.ova --format=ustar vm.ovf "
     "disks…"},
    {"manifest-mismatch",
     "A member's digest does not match the .mf manifest: the OVA is "
     "damaged or was edited after export.",
     "Export again, or regenerate the manifest."},
    {"absent-cdrom",
     "A CD-ROM/floppy in the OVF points at a file not in the archive.",
     "Remove the CD-ROM's backing file from the VM (or the item from the "
     "OVF) before exporting."},
    {"missing-disk",
     "The OVF references a disk that is not in the archive.",
     "Export again so every disk is inside the OVA."},
    {"too-many-disks",
     "More than 21 disks: VM Import refuses the VM.",
     "Import the extra disks with ImportSnapshot."},
    {"no-partition-table",
     "The raw disk has no MBR or GPT partition table.",
     "Partition the disk (root file system in a partition)."},
    /* Folder imports (core/importset.h, doc/design/ovf-folders.md) */
    {"does not match its",
     "A file of the folder does not match its digest in the .mf manifest: "
     "the copy is damaged or the manifest is stale.",
     "Copy the folder again from the export; if it fails again, export "
     "again (or leave the .mf out)."},
    {"two OVF descriptors",
     "The folder holds two .ovf files; one folder is one VM.",
     "Copy each VM's export into a folder of its own."},
    {"the daemon stopped while",
     "amifs stopped while the folder was being copied or started.",
     "Copy the folder again (see the message for what was kept)."},
    {"the folder is refused",
     "The folder's OVF or one of its files was refused (see the message); "
     "nothing was imported.",
     "Fix what the message names and copy the folder again."},
    {"invalid ",
     "The file failed amifs' pre-flight validation (see the message).",
     "Run `amifs inspect FILE` locally for details, fix the image, copy it "
     "again."},
    /* Upload / start problems */
    {"upload",
     "The upload to the staging bucket failed.",
     "Check the network and the bucket (`{doctor}`), then copy again."},
    /* More validator codes, found by own_refusal() by exact code; last, so
     * that an AWS message is never explained by one of these words. */
    {"chunked-disk",
     "The OVA holds a disk split into chunks (ovf:chunkSize), which VM "
     "Import does not accept.",
     "Re-export the OVA without chunking (one tar member per disk)."},
    {"bad-footer",
     "A differencing (child) VHD, or a damaged VHD; VM Import would fail "
     "with \"Footers not identical\".",
     "Merge the snapshot chain and re-export a fixed or dynamic VHD "
     "(qemu-img convert -O vpc)."},
    {"empty",
     "The file is empty: nothing was copied.",
     "Check the source file (an export that failed leaves an empty file), "
     "then copy it again."},
    {"not-tar",
     "An .ova must be a tar archive (OVF descriptor, disks, manifest); this "
     "file is not one.",
     "Check the file is an OVA (`tar tf FILE`), or give it the extension of "
     "its real format (.vmdk, .vhd, .vhdx, .raw)."},
    {"truncated",
     "The file ends early: the export or an earlier copy was cut short.",
     "Export or download the image again, then copy it again."},
    {"bad-format",
     "The content is not in the format the file name says.",
     "Name the file after its real format, or convert it (qemu-img convert "
     "-O vmdk -o subformat=streamOptimized)."},
};

/* Our own refusals read "invalid KIND: <sentence> (code)". The sentence
 * quotes names from the image and may contain any AWS wording ("… which
 * is not in the OVA"), so such a message is explained by its code alone;
 * a code without an entry of its own gets the generic "invalid " one. */
static const struct diagnosis *own_refusal(const char *message)
{
    size_t n = strlen(message);
    const char *open = n > 2 && message[n - 1] == ')'
                           ? memrchr(message, '(', n) : NULL;
    if (strncmp(message, "invalid ", 8) != 0 || !open)
        return NULL;
    size_t clen = (size_t)(message + n - 1 - (open + 1));
    const struct diagnosis *generic = NULL;
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++) {
        if (strcmp(TABLE[i].match, "invalid ") == 0)
            generic = &TABLE[i];
        else if (strlen(TABLE[i].match) == clen &&
                 strncasecmp(TABLE[i].match, open + 1, clen) == 0)
            return &TABLE[i];
    }
    return generic;
}

const struct diagnosis *diagnosis_find(const char *message)
{
    if (!message || !*message)
        return NULL;
    const struct diagnosis *own = own_refusal(message);
    if (own)
        return own;
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++)
        if (strcasestr(message, TABLE[i].match))
            return &TABLE[i];
    return NULL;
}

/* "amifs CMD --region R --bucket B …" for the mount in w (placeholders
 * for what it does not say). */
static int command(const char *cmd, const struct diagnosis_where *w,
                   struct buf *out)
{
    const char *ep = w ? w->endpoint : NULL, *role = w ? w->role : NULL;
    bool other_role = role && *role && strcmp(role, "vmimport") != 0;
    return buf_printf(out, "amifs %s%s%s --region %s --bucket %s%s%s%s", cmd,
                      ep ? " --endpoint " : "", ep ? ep : "",
                      w && w->region ? w->region : "REGION",
                      w && w->bucket && *w->bucket ? w->bucket : "BUCKET",
                      other_role ? " --role " : "", other_role ? role : "",
                      strcmp(cmd, "setup") == 0 ? " --yes" : "");
}

/* The fix text with {doctor} and {setup} made into exact commands. */
static int expand(const char *fix, const struct diagnosis_where *w,
                  struct buf *out)
{
    int rc = 0;
    while (rc == 0 && *fix) {
        const char *b = strchr(fix, '{');
        size_t lit = b ? (size_t)(b - fix) : strlen(fix);
        rc = buf_append(out, fix, lit);
        fix += lit;
        if (rc != 0 || !b)
            break;
        if (strncmp(fix, "{doctor}", 8) == 0) {
            rc = command("doctor", w, out);
            fix += 8;
        } else if (strncmp(fix, "{setup}", 7) == 0) {
            rc = command("setup", w, out);
            fix += 7;
        } else {
            rc = buf_append(out, fix, 1);
            fix++;
        }
    }
    return rc;
}

int diagnosis_render(const char *message, struct buf *out)
{
    return diagnosis_render_at(message, NULL, out);
}

int diagnosis_render_at(const char *message, const struct diagnosis_where *w,
                        struct buf *out)
{
    if (!message || !*message)
        return buf_appends(out, "No failure recorded.\n");
    const struct diagnosis *d = diagnosis_find(message);
    const char *cause = d ? d->cause
                          : "Not in amifs' catalogue of known VM Import "
                            "failures.";
    const char *fix = d ? d->fix
                        : "Read the message; doc/AWS.md \"VM Import "
                          "facts\" in amifs' sources lists the failures "
                          "amifs knows.";
    char esc[4096]; /* the message may quote a name: core/name.h */
    int rc = buf_printf(out, "Message: %s\nCause: %s\nFix: ",
                        name_esc(message, esc, sizeof esc), cause);
    if (rc == 0)
        rc = expand(fix, w, out);
    return rc == 0 ? buf_appends(out, "\n") : rc;
}
