#!/usr/bin/env python3
"""Build small VM images (good and bad) for amifs tests, with real tools.

Standard library only; runs under /usr/bin/python3 and the pyenv python3.

CLI:
    python3 tests/images/mkimages.py OUTDIR [--only NAME ...] [--list]

writes the images into OUTDIR plus OUTDIR/images.json, a list of objects:
    name      stable image name (use it with --only)
    file      file name inside OUTDIR (its extension is what amifs sees)
    kind      ImportImage format: "OVA", "VMDK", "VHD", "VHDX", "RAW"
    good      true when the streaming validator (ova/) must accept it
    expect    for bad ones: the validator's refusal code (ova_validator_code),
              e.g. "not-tar", "ovf-not-first"; null for good ones
    endpoint  what the local VM Import endpoint should do with a good image:
              "ok", or the ClientError status message it should fail with
              (e.g. the disk has no /etc/os-release -> Unknown OS)
    firmware  "bios" or "efi" (what the disks/OVF say)
    disks     list of {name, format, subformat, capacity} (capacity in bytes,
              the virtual size); empty for images that are not disks at all
    notes     one sentence on what the image is

Library:
    make_disk(path, fmt, size_mb=24, os=True, partition="mbr", efi=False,
              subformat=None)                      -> dict (disk facts)
    make_ova(path, disks, tar="gnu-ustar", manifest=None, ovf_first=True,
             ...)                                  -> dict (ova facts)

Tools used: sfdisk, mkfs.ext4 -d, dd, qemu-img, GNU tar, bsdtar and (for EFI
system partitions) mkfs.vfat + mcopy from dosfstools/mtools; without those
the ESP is left unformatted (still typed as an ESP in the GPT).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

SECTOR = 512
PART_START = 2048                      # sectors: 1 MiB alignment, like fdisk
ESP_SECTORS = 8 * 2048                 # 8 MiB EFI system partition
GPT_TAIL = 34                          # backup GPT: 33 sectors + slack
LINUX_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
ESP_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

OS_RELEASE = """PRETTY_NAME="Ubuntu 22.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.3 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"""
KERNEL = "5.15.0-91-generic"
UNKNOWN_OS = "ClientError: Unknown OS / Missing OS files."

QEMU_FMT = {"vmdk": "vmdk", "vhd": "vpc", "vpc": "vpc", "vhdx": "vhdx",
            "raw": "raw", "qcow2": "qcow2"}
KIND_OF_FMT = {"vmdk": "VMDK", "vhd": "VHD", "vpc": "VHD", "vhdx": "VHDX",
               "raw": "RAW", "qcow2": "QCOW2"}


def run(*argv, **kw):
    """Run a tool; raise with its stderr when it fails."""
    p = subprocess.run(list(argv), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (
            " ".join(argv), p.returncode, p.stderr.decode(errors="replace")))
    return p.stdout


# Guests VM Import refuses (ImportImage; ImportSnapshot takes them):
# "kernel6" an Ubuntu 22.04 with the HWE kernel 6.5 only; "bls" a Fedora 36
# whose GRUB reads Boot Loader Specification entries.
KERNEL6 = "6.5.0-14-generic"
FEDORA = """NAME="Fedora Linux"
VERSION="36 (Cloud Edition)"
ID=fedora
VERSION_ID=36
PRETTY_NAME="Fedora Linux 36 (Cloud Edition)"
"""
FEDORA_KERNEL = "5.17.5-300.fc36.x86_64"
REFUSED = {
    "kernel6": "ClientError: Unsupported kernel version " + KERNEL6,
    "bls": ("ClientError: BLSC-style GRUB found, but unable to detect "
            "default kernel"),
}


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def _guest_tree(d, guest):
    """The files of a refused guest (see REFUSED)."""
    if guest == "kernel6":
        _write(os.path.join(d, "etc", "os-release"), OS_RELEASE)
        kernel = KERNEL6
        root = "/dev/sda1"           # a device-name fstab (no UUID/LABEL)
    else:
        _write(os.path.join(d, "etc", "os-release"), FEDORA)
        kernel = FEDORA_KERNEL
        root = "LABEL=root"
        _write(os.path.join(d, "boot", "loader", "entries",
                            "0123abcd-%s.conf" % kernel),
               "title Fedora Linux (%s) 36\nversion %s\nlinux /vmlinuz-%s\n"
               "initrd /initramfs-%s.img\noptions root=LABEL=root ro\n"
               % (kernel, kernel, kernel, kernel))
        _write(os.path.join(d, "boot", "grub2", "grub.cfg"),
               "blscfg\n")
    _write(os.path.join(d, "etc", "fstab"), "%s / ext4 defaults 0 1\n" % root)
    _write(os.path.join(d, "boot", "vmlinuz-" + kernel),
           b"\x7fdummy kernel " + kernel.encode() + b"\n")


def _rootfs_tree(d, os_files):
    os.makedirs(os.path.join(d, "etc"))
    os.makedirs(os.path.join(d, "boot", "grub"))
    if os_files in REFUSED:
        _guest_tree(d, os_files)
    elif os_files:
        with open(os.path.join(d, "etc", "os-release"), "w") as f:
            f.write(OS_RELEASE)
        with open(os.path.join(d, "etc", "hostname"), "w") as f:
            f.write("amifs-test\n")
        with open(os.path.join(d, "etc", "fstab"), "w") as f:
            f.write("LABEL=root / ext4 defaults 0 1\n")
        with open(os.path.join(d, "boot", "vmlinuz-" + KERNEL), "wb") as f:
            f.write(b"\x7fdummy kernel " + KERNEL.encode() + b"\n")
        with open(os.path.join(d, "boot", "initrd.img-" + KERNEL), "wb") as f:
            f.write(b"dummy initrd\n")
        with open(os.path.join(d, "boot", "grub", "grub.cfg"), "w") as f:
            f.write("menuentry 'Ubuntu' {\n  linux /boot/vmlinuz-%s "
                    "root=LABEL=root\n  initrd /boot/initrd.img-%s\n}\n"
                    % (KERNEL, KERNEL))
    else:
        with open(os.path.join(d, "etc", "motd"), "w") as f:
            f.write("no OS here\n")


def _mkfs_ext4(img, sectors, os_files, tmp, payload_mb=0):
    tree = tempfile.mkdtemp(dir=tmp)
    _rootfs_tree(tree, os_files)
    if payload_mb:      # incompressible, reproducible: a big disk member
        os.makedirs(os.path.join(tree, "var"), exist_ok=True)
        with open(os.path.join(tree, "var", "payload.bin"), "wb") as f:
            f.write(random.Random(payload_mb).randbytes(payload_mb << 20))
    run("mkfs.ext4", "-q", "-F", "-L", "root", "-d", tree, img,
        "%dk" % (sectors * SECTOR // 1024))


def _mkfs_esp(img, sectors, tmp):
    """A FAT ESP holding \\EFI\\BOOT\\BOOTX64.EFI; False when tools lack."""
    if not shutil.which("mkfs.vfat") or not shutil.which("mcopy"):
        return False
    run("mkfs.vfat", "-C", img, str(sectors * SECTOR // 1024))
    efi = os.path.join(tmp, "BOOTX64.EFI")
    with open(efi, "wb") as f:
        f.write(b"MZ dummy EFI loader\n")
    run("mmd", "-i", img, "::/EFI", "::/EFI/BOOT")
    run("mcopy", "-i", img, efi, "::/EFI/BOOT/BOOTX64.EFI")
    return True


def _dd_into(disk, part_img, start_sector):
    # bs=1M with a byte offset: bs=512 would cost 2 syscalls per sector
    run("dd", "if=" + part_img, "of=" + disk, "bs=1M",
        "seek=%d" % (start_sector * SECTOR), "oflag=seek_bytes",
        "conv=notrunc,sparse", "status=none")


def _partition(disk, total, partition, efi):
    """Write the table; return [(start, sectors, role)] of partitions."""
    if partition == "mbr":
        parts = [(PART_START, total - PART_START, "root")]
        script = "label: dos\nstart=%d, size=%d, type=83, bootable\n" % (
            PART_START, total - PART_START)
    else:
        end = total - GPT_TAIL
        parts, lines, s = [], ["label: gpt"], PART_START
        if efi:
            parts.append((s, ESP_SECTORS, "esp"))
            lines.append("start=%d, size=%d, type=%s, name=\"EFI\"" % (
                s, ESP_SECTORS, ESP_GUID))
            s += ESP_SECTORS
        parts.append((s, end - s, "root"))
        lines.append("start=%d, size=%d, type=%s, name=\"root\"" % (
            s, end - s, LINUX_GUID))
        script = "\n".join(lines) + "\n"
    run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", disk,
        input=script.encode())
    return parts


def _raw_disk(raw, size_mb, os_files, partition, efi, tmp, payload_mb=0):
    total = size_mb * 2048
    with open(raw, "wb") as f:
        f.truncate(total * SECTOR)
    if partition is None:                      # whole-disk fs, no table
        fs = os.path.join(tmp, "fs.img")
        _mkfs_ext4(fs, total, os_files, tmp, payload_mb)
        _dd_into(raw, fs, 0)
        return
    for start, sectors, role in _partition(raw, total, partition, efi):
        fs = os.path.join(tmp, role + ".img")
        if role == "esp":
            if not _mkfs_esp(fs, sectors, tmp):
                continue
        else:
            _mkfs_ext4(fs, sectors, os_files, tmp, payload_mb)
        _dd_into(raw, fs, start)


def qemu_info(path):
    return json.loads(run("qemu-img", "info", "--output=json", path))


def make_disk(path, fmt, size_mb=24, os=True, partition="mbr", efi=False,
              subformat=None, payload_mb=0):
    """Make one disk image at PATH.

    fmt: "vmdk" (subformat streamOptimized unless given, e.g.
    "monolithicSparse"), "vhd" (subformat dynamic|fixed), "vhdx", "raw",
    "qcow2". partition: "mbr", "gpt" or None (ext4 on the whole disk).
    efi=True implies GPT with an ESP before the root partition.
    payload_mb adds that many MiB of random bytes to the root filesystem
    (so a stream-optimized VMDK is that big too).
    Returns {name, format, subformat, capacity, firmware}.
    """
    if efi:
        partition = "gpt"
    if fmt not in QEMU_FMT:
        raise ValueError("unknown disk format %r" % fmt)
    tmp = tempfile.mkdtemp(prefix="mkimg-")
    try:
        raw = path if fmt == "raw" else _join(tmp, "disk.raw")
        _raw_disk(raw, size_mb, os, partition, efi, tmp, payload_mb)
        if fmt == "vmdk" and subformat is None:
            subformat = "streamOptimized"
        if fmt in ("vhd", "vpc") and subformat is None:
            subformat = "dynamic"
        if fmt != "raw":
            argv = ["qemu-img", "convert", "-f", "raw", "-O", QEMU_FMT[fmt]]
            if subformat:
                argv += ["-o", "subformat=" + subformat]
            if fmt in ("vhd", "vpc"):
                argv += ["-o", "force_size=on"]
            run(*(argv + [raw, path]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"name": _base(path), "format": KIND_OF_FMT[fmt],
            "subformat": subformat, "capacity": size_mb << 20,
            "firmware": "efi" if efi else "bios"}


def _join(*a):
    return os.path.join(*a)


def _base(p):
    return os.path.basename(p)


# ---------------------------------------------------------------- OVF ------

OVF_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
%(doctype)s<!--Generated by amifs tests/images/mkimages.py-->
<Envelope vmw:buildId="build-22348816" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
%(files)s  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
%(disks)s  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="%(vm)s">
    <Info>A virtual machine</Info>
    <Name>%(vm)s</Name>%(annotation)s
    <OperatingSystemSection ovf:id="%(os_id)d" vmw:osType="%(os_type)s">
      <Info>The kind of installed guest operating system</Info>
      <Description>Ubuntu Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>%(vm)s</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>2 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>2048MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>IDE Controller</rasd:Description>
        <rasd:ElementName>IDE 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
%(items)s%(config)s    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""

DISK_FORMAT_URI = {
    "streamOptimized":
        "http://www.vmware.com/interfaces/specifications/vmdk.html"
        "#streamOptimized",
    "monolithicSparse":
        "http://www.vmware.com/interfaces/specifications/vmdk.html#sparse",
}

BILLION_LAUGHS = """<!DOCTYPE Envelope [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def make_ovf(entries, vm="amifs-test-vm", os_id=94, os_type="ubuntu64Guest",
             firmware="bios", cdrom_iso=None, doctype="", annotation=None,
             chunk_size=None):
    """OVF 1.x text for ENTRIES = [{href, size, capacity, subformat}].

    cdrom_iso: a file name the CD-ROM item points at (through References);
    the caller decides whether it is in the archive. chunk_size: write
    ovf:chunkSize on every File (ovftool's chunked disks).
    """
    files, disks, items = [], [], []
    for i, e in enumerate(entries, 1):
        chunk = ' ovf:chunkSize="%d"' % chunk_size if chunk_size else ""
        files.append('    <File ovf:href="%s" ovf:id="file%d" ovf:size="%d"'
                     '%s/>\n' % (e["href"], i, e["size"], chunk))
        fmt = DISK_FORMAT_URI.get(e.get("subformat") or "streamOptimized",
                                  DISK_FORMAT_URI["streamOptimized"])
        disks.append('    <Disk ovf:capacity="%d" ovf:capacityAllocationUnits='
                     '"byte" ovf:diskId="vmdisk%d" ovf:fileRef="file%d" '
                     'ovf:format="%s"/>\n' % (e["capacity"], i, i, fmt))
        items.append(_disk_item(i, len(entries)))
    if cdrom_iso:
        n = len(entries) + 1
        files.append('    <File ovf:href="%s" ovf:id="file%d" ovf:size='
                     '"1048576"/>\n' % (cdrom_iso, n))
        items.append(_cdrom_item(n))
    config = ""
    if firmware == "efi":
        config = ('      <vmw:Config ovf:required="false" vmw:key="firmware"'
                  ' vmw:value="efi"/>\n')
    ann = ""
    if annotation:
        ann = "\n    <AnnotationSection>\n      <Info>A note</Info>\n" \
              "      <Annotation>%s</Annotation>\n    </AnnotationSection>" \
              % annotation
    return OVF_HEAD % {"doctype": doctype, "files": "".join(files),
                       "disks": "".join(disks), "vm": vm, "os_id": os_id,
                       "os_type": os_type, "items": "".join(items),
                       "config": config, "annotation": ann}


def _disk_item(i, n):
    # Disks beyond 15 go on a second SCSI controller in real exports; the
    # validator only counts them, so one parent is enough here.
    return ("      <Item>\n"
            "        <rasd:AddressOnParent>%d</rasd:AddressOnParent>\n"
            "        <rasd:ElementName>Hard disk %d</rasd:ElementName>\n"
            "        <rasd:HostResource>ovf:/disk/vmdisk%d</rasd:HostResource>\n"
            "        <rasd:InstanceID>%d</rasd:InstanceID>\n"
            "        <rasd:Parent>3</rasd:Parent>\n"
            "        <rasd:ResourceType>17</rasd:ResourceType>\n"
            "      </Item>\n" % (i - 1, i, i, 100 + i))


def _cdrom_item(n):
    return ("      <Item ovf:required=\"false\">\n"
            "        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n"
            "        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n"
            "        <rasd:ElementName>CD/DVD drive 1</rasd:ElementName>\n"
            "        <rasd:HostResource>ovf:/file/file%d</rasd:HostResource>\n"
            "        <rasd:InstanceID>%d</rasd:InstanceID>\n"
            "        <rasd:Parent>4</rasd:Parent>\n"
            "        <rasd:ResourceType>15</rasd:ResourceType>\n"
            "      </Item>\n" % (n, 200 + n))


# ---------------------------------------------------------------- OVA ------

def _digest(path, algo):
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _pack(out, stage, members, tar, rename=None):
    """Pack MEMBERS (names in STAGE, in order) into OUT with TAR.

    rename: {stage name: member name} for hostile names (bsdtar -s, -P
    keeps '../' and '/' as they are).
    """
    if os.path.exists(out):
        os.unlink(out)
    if rename:
        argv = ["bsdtar", "-c", "-P", "--format", "ustar", "-f", out]
        for a, b in rename.items():
            argv += ["-s", ",^%s$,%s," % (a, b)]
        run(*(argv + members), cwd=stage)
        return
    if tar == "bsdtar":
        run("bsdtar", "-c", "-f", out, *members, cwd=stage)
        return
    fmt = {"gnu-ustar": "ustar", "gnu-pax": "pax", "gnu-gnu": "gnu"}[tar]
    run("tar", "--format=" + fmt, "--owner=0", "--group=0",
        "--numeric-owner", "-cf", out, *members, cwd=stage)


def make_ova(path, disks, tar="gnu-ustar", manifest=None, ovf_first=True,
             manifest_last=False, manifest_corrupt=False, missing_disk=False,
             cdrom_iso=None, firmware=None, ovf_text=None, doctype="",
             rename=None, chunked=False, annotation=None, os_id=94,
             os_type="ubuntu64Guest"):
    """Pack DISKS (paths of disk files) into an OVA at PATH.

    tar: "gnu-ustar", "gnu-pax", "gnu-gnu" or "bsdtar". manifest: None,
    "sha1" or "sha256" (`SHA256(name)= hex` lines, as ovftool writes),
    placed after the OVF, or last with manifest_last. Bad-image knobs:
    ovf_first=False puts the OVF after the disks; manifest_corrupt spoils
    the last disk's digest; missing_disk references one more disk than the
    archive holds; cdrom_iso adds a CD-ROM pointing at an absent ISO;
    ovf_text replaces the descriptor; doctype is inserted before the
    Envelope; rename maps member names (hostile paths); chunked splits each
    disk into ovftool-style `NAME.000000000` pieces.
    Returns {name, disks: [facts], firmware}.
    """
    stage = tempfile.mkdtemp(prefix="mkova-")
    try:
        return _make_ova(path, stage, disks, locals())
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _make_ova(path, stage, disks, o):
    base = os.path.splitext(_base(path))[0]
    entries, facts, members = [], [], []
    for d in disks:
        name = _base(d)
        shutil.copyfile(d, _join(stage, name))
        info = qemu_info(d)
        sub = info.get("format-specific", {}).get("data", {}).get(
            "create-type")
        e = {"href": name, "size": os.path.getsize(d),
             "capacity": info["virtual-size"], "subformat": sub}
        entries.append(e)
        facts.append({"name": name, "format": "VMDK", "subformat": sub,
                      "capacity": info["virtual-size"]})
        members += _chunk(stage, name) if o["chunked"] else [name]
    if o["missing_disk"]:
        entries.append(dict(entries[0], href=base + "-disk-missing.vmdk"))
    fw = o["firmware"] or "bios"
    ovf = base + ".ovf"
    text = o["ovf_text"] or make_ovf(
        entries, vm=base, firmware=fw, cdrom_iso=o["cdrom_iso"],
        doctype=o["doctype"], annotation=o["annotation"],
        chunk_size=(entries[0]["size"] // 2 + 1) if o["chunked"] else None,
        os_id=o["os_id"], os_type=o["os_type"])
    with open(_join(stage, ovf), "w") as f:
        f.write(text)
    order = [ovf] + members if o["ovf_first"] else members + [ovf]
    if o["manifest"]:
        mf = base + ".mf"
        _write_manifest(stage, mf, [ovf] + members, o["manifest"],
                        o["manifest_corrupt"])
        pos = len(order) if o["manifest_last"] else 1
        order.insert(pos, mf)
    _pack(path, stage, order, o["tar"], o["rename"])
    return {"name": _base(path), "disks": facts, "firmware": fw}


def _chunk(stage, name):
    """Split NAME like ovftool does: NAME.000000000, NAME.000000001."""
    data = open(_join(stage, name), "rb").read()
    half = len(data) // 2 + 1
    out = []
    for i in range(0, 2):
        piece = "%s.%09d" % (name, i)
        with open(_join(stage, piece), "wb") as f:
            f.write(data[i * half:(i + 1) * half])
        out.append(piece)
    os.unlink(_join(stage, name))
    return out


def _write_manifest(stage, mf, names, algo, corrupt):
    lines = []
    for n in names:
        hexd = _digest(_join(stage, n), algo)
        if corrupt and n == names[-1]:
            hexd = ("0" if hexd[0] != "0" else "1") + hexd[1:]
        lines.append("%s(%s)= %s\n" % (algo.upper(), n, hexd))
    with open(_join(stage, mf), "w") as f:
        f.write("".join(lines))


# ------------------------------------------------------------ catalogue ----

class Catalogue:
    """Builds the named images into OUT, sharing base disks between them."""

    def __init__(self, out):
        self.out = out
        self.work = tempfile.mkdtemp(prefix="mkimages-")
        self.cache = {}
        self.entries = []

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def disk(self, fmt, name, **kw):
        """A disk in the work dir (cached by its options)."""
        key = (fmt, name, tuple(sorted(kw.items())))
        if key not in self.cache:
            d = _join(self.work, "%d" % len(self.cache))
            os.makedirs(d)
            p = _join(d, name)
            self.cache[key] = (p, make_disk(p, fmt, **kw))
        return self.cache[key]

    def add(self, name, file, kind, good, expect, disks, notes,
            endpoint=None, firmware="bios"):
        if endpoint is None:
            endpoint = "ok" if good else None
        self.entries.append({
            "name": name, "file": file, "kind": kind, "good": good,
            "expect": None if good else expect, "endpoint": endpoint,
            "firmware": firmware, "disks": disks, "notes": notes})

    def path(self, file):
        return _join(self.out, file)


def _strip(f):
    return {k: f[k] for k in ("name", "format", "subformat", "capacity")}


def _single(c, name, fmt, file, notes, **kw):
    p, f = c.disk(fmt, file, **kw)
    shutil.copyfile(p, c.path(file))
    kind = KIND_OF_FMT[fmt]
    return p, dict(_strip(f), name=file), kind


def _good_ova(c, name, file, notes, ndisks=1, disk_kw=None, **kw):
    disks = []
    for i in range(ndisks):
        p, _ = c.disk("vmdk", "%s-disk%d.vmdk" % (name, i + 1),
                      **(disk_kw or {}))
        disks.append(p)
    r = make_ova(c.path(file), disks, **kw)
    return r


def build_good(c, only):
    def want(n):
        return not only or n in only

    ovas = [
        ("ova-ustar", "vm-ustar.ova", {"tar": "gnu-ustar"},
         "one stream-optimized disk, GNU tar --format=ustar"),
        ("ova-pax", "vm-pax.ova", {"tar": "gnu-pax"},
         "one disk, GNU tar --format=pax"),
        ("ova-gnu", "vm-gnutar.ova", {"tar": "gnu-gnu"},
         "one disk, GNU tar --format=gnu"),
        ("ova-bsdtar", "vm-bsdtar.ova", {"tar": "bsdtar"},
         "one disk, packed by bsdtar (libarchive default: restricted pax)"),
        ("ova-2disks", "vm-2disks.ova", {"ndisks": 2},
         "two disks (the second is data-only)"),
        ("ova-mf-sha1", "vm-mf-sha1.ova", {"manifest": "sha1"},
         "with a SHA1 manifest after the OVF"),
        ("ova-mf-sha256", "vm-mf-sha256.ova", {"manifest": "sha256",
                                               "ndisks": 2},
         "two disks with a SHA256 manifest after the OVF (ovftool layout)"),
        ("ova-mf-last", "vm-mf-last.ova", {"manifest": "sha256",
                                           "manifest_last": True},
         "SHA256 manifest as the last member, after the disks"),
        ("ova-mf-last-sha1", "vm-mf-last-sha1.ova",
         {"manifest": "sha1", "manifest_last": True},
         "SHA1 manifest as the last member: the disk passed unhashed and is "
         "read back to check it (doc/design/perf.md)"),
    ]
    for name, file, kw, notes in ovas:
        if want(name):
            r = _good_ova(c, name, file, notes, **kw)
            c.add(name, file, "OVA", True, None, r["disks"], notes)
    if want("ova-big"):
        r = _good_ova(c, "ova-big", "vm-big.ova", "", disk_kw=BIG_DISK,
                      tar="gnu-pax")
        c.add("ova-big", "vm-big.ova", "OVA", True, None, r["disks"],
              "a disk of %d MiB of random data, no manifest, pax headers: "
              "the validator skips its middle (ova/archive.c, skip_member)"
              % BIG_DISK["payload_mb"])
    if want("ova-efi"):
        r = _good_ova(c, "ova-efi", "vm-efi.ova", "",
                      disk_kw={"efi": True}, firmware="efi")
        c.add("ova-efi", "vm-efi.ova", "OVA", True, None, r["disks"],
              "GPT disk with an EFI system partition; OVF firmware=efi",
              firmware="efi")
    singles = [
        ("vmdk", "vmdk", "vm.vmdk", {}, "stream-optimized VMDK"),
        ("vhd", "vhd", "vm.vhd", {}, "dynamic VHD (qemu-img -O vpc)"),
        ("vhd-fixed", "vhd", "vm-fixed.vhd", {"subformat": "fixed"},
         "fixed VHD (footer only, at the end)"),
        ("vhdx", "vhdx", "vm.vhdx", {}, "VHDX"),
        ("raw", "raw", "vm.raw", {}, "raw disk with an MBR"),
        ("raw-gpt", "raw", "vm-gpt.raw", {"partition": "gpt"},
         "raw disk with a GPT"),
        ("img", "raw", "vm.img", {}, "raw disk with an MBR, named .img"),
        ("raw-efi", "raw", "vm-efi.raw", {"efi": True},
         "raw GPT disk with an EFI system partition"),
    ]
    for name, fmt, file, kw, notes in singles:
        if want(name):
            _, f, kind = _single(c, name, fmt, file, notes, **kw)
            c.add(name, file, kind, True, None, [f], notes,
                  firmware="efi" if kw.get("efi") else "bios")
    if want("vmdk-no-os"):
        _, f, kind = _single(c, "vmdk-no-os", "vmdk", "vm-no-os.vmdk", "",
                             os=False)
        c.add("vmdk-no-os", "vm-no-os.vmdk", kind, True, None, [f],
              "valid VMDK whose filesystem has no /etc/os-release",
              endpoint=UNKNOWN_OS)
    refused = [
        ("vmdk-kernel6", "vmdk", "vm-kernel6.vmdk", {"os": "kernel6"},
         "Ubuntu 22.04 with only kernel 6.5 (VM Import refuses the kernel)"),
        ("vmdk-bls", "vmdk", "vm-bls.vmdk", {"os": "bls"},
         "Fedora 36 with BLS boot entries (VM Import refuses BLS GRUB)"),
        ("raw-efi-kernel6", "raw", "vm-efi-kernel6.raw",
         {"os": "kernel6", "efi": True},
         "GPT + ESP (UEFI) disk whose kernel VM Import refuses"),
    ]
    for name, fmt, file, kw, notes in refused:
        if want(name):
            _, f, kind = _single(c, name, fmt, file, notes, **kw)
            c.add(name, file, kind, True, None, [f], notes,
                  endpoint=REFUSED[kw["os"]],
                  firmware="efi" if kw.get("efi") else "bios")
    if want("ova-2disks-kernel6"):
        r = _good_ova(c, "ova-2disks-kernel6", "vm-2disks-kernel6.ova", "",
                      ndisks=2, disk_kw={"os": "kernel6"})
        c.add("ova-2disks-kernel6", "vm-2disks-kernel6.ova", "OVA", True,
              None, r["disks"], "two-disk OVA whose boot disk has a kernel "
              "VM Import refuses", endpoint=REFUSED["kernel6"])
    if want("ova-no-os"):
        r = _good_ova(c, "ova-no-os", "vm-no-os.ova", "",
                      disk_kw={"os": False})
        c.add("ova-no-os", "vm-no-os.ova", "OVA", True, None, r["disks"],
              "valid OVA whose disk has no /etc/os-release",
              endpoint=UNKNOWN_OS)


def _bad_bytes(c, name, file, kind, expect, data, notes):
    with open(c.path(file), "wb") as f:
        f.write(data)
    c.add(name, file, kind, False, expect, [], notes)


def build_bad(c, only):
    def want(n):
        return not only or n in only

    if want("bad-not-tar"):
        _bad_bytes(c, "bad-not-tar", "bad-not-tar.ova", "OVA", "not-tar",
                   b"This is a text file, not a tar archive.\n" * 40,
                   "text named .ova")
    if want("bad-empty"):
        _bad_bytes(c, "bad-empty", "bad-empty.ova", "OVA", "empty", b"",
                   "zero-byte .ova")
    if want("bad-empty-vmdk"):
        _bad_bytes(c, "bad-empty-vmdk", "bad-empty.vmdk", "VMDK", "empty",
                   b"", "zero-byte .vmdk")
    _bad_ovas(c, want)
    _bad_disks(c, want)


def _bad_ovas(c, want):
    d1, _ = c.disk("vmdk", "bad-disk1.vmdk")
    cases = [
        ("bad-ovf-not-first", "bad-ovf-not-first.ova", "ovf-not-first",
         {"ovf_first": False}, "the disk comes before the OVF"),
        ("bad-xml", "bad-xml.ova", "bad-xml",
         {"ovf_text": make_ovf([{"href": "bad-disk1.vmdk", "size": 1,
                                 "capacity": 1 << 24}])[:1500]
          + "\n<Broken attr='x'>\n"},
         "OVF descriptor is not well-formed XML"),
        ("bad-xml-entities", "bad-xml-entities.ova", "xml-entities",
         {"doctype": BILLION_LAUGHS, "annotation": "&lol9;"},
         "billion-laughs DOCTYPE in the OVF"),
        ("bad-missing-disk", "bad-missing-disk.ova", "missing-disk",
         {"missing_disk": True},
         "OVF references a second disk the archive lacks"),
        ("bad-absent-cdrom", "bad-absent-cdrom.ova", "absent-cdrom",
         {"cdrom_iso": "ubuntu-22.04.3-live-server-amd64.iso"},
         "CD-ROM item points at an ISO that is not in the archive"),
        ("bad-manifest", "bad-manifest.ova", "manifest-mismatch",
         {"manifest": "sha256", "manifest_corrupt": True},
         "manifest digest of the disk does not match"),
        ("bad-manifest-last", "bad-manifest-last.ova", "manifest-mismatch",
         {"manifest": "sha256", "manifest_corrupt": True,
          "manifest_last": True},
         "SHA256 manifest after the disks, wrong digest for the disk"),
        ("bad-path-dotdot", "bad-path-dotdot.ova", "unsafe-path",
         {"rename": {"bad-disk1.vmdk": "../evil"}},
         "a member named ../evil"),
        ("bad-path-absolute", "bad-path-absolute.ova", "unsafe-path",
         {"rename": {"bad-disk1.vmdk": "/etc/x"}},
         "a member named /etc/x"),
        ("bad-chunked", "bad-chunked.ova", "chunked-disk",
         {"chunked": True},
         "ovftool-style chunked disk (disk.vmdk.000000000, ...)"),
    ]
    for name, file, expect, kw, notes in cases:
        if want(name):
            r = make_ova(c.path(file), [d1], **kw)
            c.add(name, file, "OVA", False, expect, r["disks"], notes)
    if want("bad-truncated"):
        make_ova(c.path("bad-truncated.ova"), [d1])
        size = os.path.getsize(c.path("bad-truncated.ova"))
        with open(c.path("bad-truncated.ova"), "r+b") as f:
            f.truncate(size * 2 // 3)
        c.add("bad-truncated", "bad-truncated.ova", "OVA", False, "truncated",
              [], "a good OVA cut at two thirds (inside the disk)")
    _bad_big(c, want)
    if want("bad-too-many-disks"):
        ds = [c.disk("vmdk", "many-disk%02d.vmdk" % i, size_mb=16,
                     os=(i == 1))[0] for i in range(1, 23)]
        r = make_ova(c.path("bad-too-many-disks.ova"), ds)
        c.add("bad-too-many-disks", "bad-too-many-disks.ova", "OVA", False,
              "too-many-disks", r["disks"], "22 disks (VM Import takes 21)")
    for name, fmt, extra in (("bad-tar-sparse", "gnu", []),
                             ("bad-pax-sparse", "pax",
                              ["--sparse-version=1.0"])):
        if want(name):
            _sparse_ova(c.path(name + ".ova"), c.work, fmt, extra, d1)
            c.add(name, name + ".ova", "OVA", False, "sparse-member", [],
                  "OVF, then a %s sparse tar member of 15 TiB (a good VMDK, "
                  "then holes): libarchive would expand the holes" % fmt)
    if want("bad-ova-sparse"):
        d, _ = c.disk("vmdk", "sparse-disk1.vmdk", subformat="monolithicSparse")
        r = make_ova(c.path("bad-ova-sparse.ova"), [d])
        c.add("bad-ova-sparse", "bad-ova-sparse.ova", "OVA", False,
              "not-stream-optimized", r["disks"],
              "OVA whose VMDK is monolithicSparse")


# A disk member big enough that the validator skips its middle.
BIG_DISK = {"size_mb": 40, "payload_mb": 12}


def _bad_big(c, want):
    """The skipped middle of a big disk: an OVA cut there, and one whose
    disk's last sector (qemu-img's end-of-stream marker) is damaged."""
    if not (want("bad-big-truncated") or want("bad-big-no-eos")):
        return
    d, _ = c.disk("vmdk", "bad-big-disk1.vmdk", **BIG_DISK)
    for name, notes in (
            ("bad-big-truncated", "a big-disk OVA cut at half, inside the "
             "part of the disk the validator skips"),
            ("bad-big-no-eos", "a big-disk OVA whose disk's last sector is "
             "not the end-of-stream marker (the trailer is checked though "
             "the middle is skipped)")):
        if not want(name):
            continue
        path = c.path(name + ".ova")
        r = make_ova(path, [d])
        with tarfile.open(path) as t:
            m = [i for i in t.getmembers() if i.name.endswith(".vmdk")][0]
        with open(path, "r+b") as f:
            if name == "bad-big-truncated":
                f.truncate(m.offset_data + m.size // 2)
            else:
                f.seek(m.offset_data + m.size - SECTOR)
                f.write(b"\xff" * SECTOR)
        c.add(name, name + ".ova", "OVA", False, "truncated", r["disks"],
              notes)


SPARSE_SIZE = 15 << 40


def _sparse_ova(out, tmp, fmt, extra, head):
    """A tar (GNU tar --sparse) of an OVF and a 15 TiB sparse disk member
    whose data is a good stream-optimized VMDK (HEAD) at its start, so
    every check of the disk's header passes and only the holes remain."""
    stage = tempfile.mkdtemp(dir=tmp)
    disk = _join(stage, "big.vmdk")
    with open(disk, "wb") as f, open(head, "rb") as h:
        f.write(h.read())
        f.truncate(SPARSE_SIZE)
    with open(_join(stage, "vm.ovf"), "w") as f:
        f.write(make_ovf([{"href": "big.vmdk", "size": SPARSE_SIZE,
                           "capacity": 1 << 30}]))
    run("tar", "--format=" + fmt, "--sparse", *extra, "-cf", out, "-C",
        stage, "vm.ovf", "big.vmdk")
    shutil.rmtree(stage)


def _truncated(c, name, file, fmt, expect, notes):
    """A good disk cut at two thirds (a whole sector, inside the data)."""
    p, f = c.disk(fmt, file)
    data = open(p, "rb").read()
    cut = len(data) * 2 // 3 // SECTOR * SECTOR
    while not any(data[cut - SECTOR:cut]):   # end inside data, not padding
        cut -= SECTOR
    with open(c.path(file), "wb") as out:
        out.write(data[:cut])
    c.add(name, file, KIND_OF_FMT[fmt], False, expect,
          [dict(_strip(f), name=file)], notes)


def _bad_disks(c, want):
    if want("bad-vmdk-truncated"):
        _truncated(c, "bad-vmdk-truncated", "bad-truncated.vmdk", "vmdk",
                   "truncated", "streamOptimized VMDK (qemu-img) cut at two "
                   "thirds: no end-of-stream marker")
    if want("bad-vhd-truncated"):
        _truncated(c, "bad-vhd-truncated", "bad-truncated.vhd", "vhd",
                   "truncated", "dynamic VHD cut at two thirds: it ends "
                   "before its footer")
    if want("bad-qcow2-as-vmdk"):
        _, f, _ = _single(c, "x", "qcow2", "bad-qcow2.vmdk", "")
        c.add("bad-qcow2-as-vmdk", "bad-qcow2.vmdk", "VMDK", False,
              "bad-format", [f], "a qcow2 image named .vmdk")
    if want("bad-vmdk-sparse"):
        _, f, kind = _single(c, "x", "vmdk", "bad-sparse.vmdk", "",
                             subformat="monolithicSparse")
        c.add("bad-vmdk-sparse", "bad-sparse.vmdk", kind, False,
              "not-stream-optimized", [f],
              "monolithicSparse VMDK (qemu-img default), not streamOptimized")
    if want("bad-raw-no-table"):
        _, f, kind = _single(c, "x", "raw", "bad-no-table.raw", "",
                             partition=None)
        c.add("bad-raw-no-table", "bad-no-table.raw", kind, False,
              "no-partition-table", [f], "ext4 on the whole disk, no MBR/GPT")
    if want("bad-vhd-footer"):
        p, f = c.disk("vhd", "bad-footer.vhd")
        data = bytearray(open(p, "rb").read())
        data[-512 + 40] ^= 0xFF          # inside "current size": bad checksum
        with open(c.path("bad-footer.vhd"), "wb") as out:
            out.write(data)
        c.add("bad-vhd-footer", "bad-footer.vhd", "VHD", False, "bad-footer",
              [dict(_strip(f), name="bad-footer.vhd")],
              "dynamic VHD whose trailing footer is corrupt")
    if want("bad-vhdx-sig"):
        p, f = c.disk("vhdx", "bad-sig.vhdx")
        data = bytearray(open(p, "rb").read())
        data[0:8] = b"notvhdx!"
        with open(c.path("bad-sig.vhdx"), "wb") as out:
            out.write(data)
        c.add("bad-vhdx-sig", "bad-sig.vhdx", "VHDX", False, "bad-format",
              [dict(_strip(f), name="bad-sig.vhdx")],
              "VHDX without its vhdxfile signature")


ALL_NAMES = [
    "ova-ustar", "ova-pax", "ova-gnu", "ova-bsdtar", "ova-2disks",
    "ova-mf-sha1", "ova-mf-sha256", "ova-mf-last", "ova-mf-last-sha1",
    "ova-big", "ova-efi", "vmdk", "vhd",
    "vhd-fixed", "vhdx", "raw", "raw-gpt", "img", "raw-efi", "vmdk-no-os",
    "vmdk-kernel6", "vmdk-bls", "raw-efi-kernel6", "ova-2disks-kernel6",
    "ova-no-os", "bad-not-tar", "bad-empty", "bad-empty-vmdk",
    "bad-ovf-not-first", "bad-xml", "bad-xml-entities", "bad-missing-disk",
    "bad-absent-cdrom", "bad-manifest", "bad-manifest-last",
    "bad-big-truncated", "bad-big-no-eos",
    "bad-path-dotdot", "bad-path-absolute", "bad-chunked", "bad-truncated",
    "bad-too-many-disks", "bad-ova-sparse", "bad-qcow2-as-vmdk",
    "bad-vmdk-sparse", "bad-raw-no-table", "bad-vhd-footer", "bad-vhdx-sig",
    "bad-tar-sparse", "bad-pax-sparse", "bad-vmdk-truncated",
    "bad-vhd-truncated",
]


# Other names callers have used for catalogue images.
ALIASES = {"ova-ustar-1disk": "ova-ustar", "ova": "ova-ustar"}


def build(out, only=None):
    """Build the catalogue (or the ONLY names) into OUT; return entries."""
    os.makedirs(out, exist_ok=True)
    if only:
        only = [ALIASES.get(n, n) for n in only]
    unknown = set(only or ()) - set(ALL_NAMES)
    if unknown:
        raise ValueError("unknown image name(s): " + ", ".join(sorted(unknown)))
    c = Catalogue(out)
    try:
        build_good(c, set(only or ()))
        build_bad(c, set(only or ()))
    finally:
        c.close()
    with open(_join(out, "images.json"), "w") as f:
        json.dump(c.entries, f, indent=1)
        f.write("\n")
    return c.entries


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--only", nargs="+", metavar="NAME")
    ap.add_argument("--list", action="store_true", help="print image names")
    a = ap.parse_args(argv)
    if a.list:
        print("\n".join(ALL_NAMES))
        return 0
    if not a.outdir:
        ap.error("OUTDIR is required")
    try:
        entries = build(os.path.abspath(a.outdir), a.only)
    except (RuntimeError, ValueError) as e:
        print("mkimages: %s" % e, file=sys.stderr)
        return 1
    for e in entries:
        print("%-22s %-26s %s" % (e["name"], e["file"],
                                  "good" if e["good"] else e["expect"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
