"""Read a staged image the way VM Import does, in miniature.

analyze(path, fmt, work, check_os) looks at a file holding the S3 object:
OVA (tar with the OVF descriptor first, every referenced file present, no
chunked disks), then each disk with real tools: `qemu-img info` for format
facts (a VMDK must be streamOptimized, a VHD's footers must agree),
`qemu-img convert -O raw` + `sfdisk --json` for the partition table, and
`debugfs` for /etc/os-release in the first Linux partition's ext2/3/4
filesystem. The result is a Verdict: the AWS failure message, or the disks
(sizes, formats) and the OS found.
"""
import json
import os
import shutil
import struct
import subprocess
import tarfile

import guestrules
import xml.etree.ElementTree as ET

OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
MAX_DISKS = 21

MSG_OVA = "ClientError: Disk validation failed [Unsupported OVA format]"
MSG_CHUNKED = ("ClientError: Disk validation failed [OVF file parsing error: "
               "OVA with chunked disk files is not supported]")
MSG_VMDK = "ClientError: Disk validation failed [Unsupported VMDK File Format]"
MSG_VHDX = "ClientError: Disk validation failed [Unsupported VHDX File Format]"
MSG_FOOTER = "ClientError: Footers not identical"
MSG_NO_PART = "ClientError: No valid partitions. Not a valid volume."
MSG_NO_OS = "ClientError: Unknown OS / Missing OS files."
MSG_TOO_MANY = ("ClientError: Disk validation failed [Too many disks: VM "
                "Import supports at most 21 volumes]")

LINUX_TYPES = {"83", "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
               "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"}
ESP_TYPES = {"ef", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"}


class Reject(Exception):
    """The image fails import with this (AWS) status message."""


class Verdict:
    """ok: True when the import succeeds. message: the failure text.
    disks: [{"format": "VMDK", "size": bytes of the disk file,
    "virtual_size": bytes}]. os: dict of os-release fields (first disk).
    boot_mode: "legacy-bios" or "uefi" as the partition table suggests."""

    def __init__(self):
        self.ok = False
        self.message = None
        self.disks = []
        self.os = {}
        self.boot_mode = None


def _run(argv, timeout=600):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def analyze(path, fmt, work, check_os=True):
    """FMT is the ImportImage format (OVA/VMDK/VHD/VHDX/RAW, upper case)."""
    v = Verdict()
    try:
        disks = _ova_disks(path, work) if fmt == "OVA" else [(path, fmt)]
        for i, (disk, dfmt) in enumerate(disks):
            facts = _disk_facts(disk, dfmt)
            if i == 0 and check_os:
                v.os, v.boot_mode = _os_facts(disk, facts["qemu_format"],
                                              work)
            v.disks.append({"format": facts["format"],
                            "size": os.path.getsize(disk),
                            "virtual_size": facts["virtual_size"]})
        v.ok = True
    except Reject as e:
        v.message = str(e)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        v.message = "ClientError: Disk validation failed [%s]" % (
            type(e).__name__)
    return v


# ------------------------------------------------------------------ OVA --

def _ova_disks(path, work):
    """Extract the disks of an OVA into WORK; [(file, "VMDK")] in OVF
    order. Member names are never used as paths (../ and /abs are inert)."""
    try:
        with tarfile.open(path, mode="r:") as tf:
            members = tf.getmembers()
            if not members or not members[0].name.lower().endswith(".ovf"):
                raise Reject(MSG_OVA)
            ovf = tf.extractfile(members[0]).read()
            hrefs, referenced = _ovf_hrefs(ovf)
            by_name = {m.name: m for m in members if m.isfile()}
            if any(h not in by_name for h in referenced):
                raise Reject(MSG_OVA)   # a File the OVF names is absent
            out = []
            for i, href in enumerate(hrefs):
                if href not in by_name:
                    raise Reject(MSG_OVA)
                dest = os.path.join(work, "disk%d" % i)
                with tf.extractfile(by_name[href]) as src, \
                        open(dest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                out.append((dest, "VMDK"))
            return out
    except (tarfile.TarError, EOFError):
        raise Reject(MSG_OVA)


def _ovf_hrefs(text):
    """(hrefs of the disks' files in DiskSection order, hrefs of every File
    in References)."""
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        raise Reject(MSG_OVA)           # no DTDs in a descriptor we parse
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        raise Reject(MSG_OVA)
    q = "{%s}" % OVF_NS
    files = {}
    for f in root.iter(q + "File"):
        if f.get(q + "chunkSize"):
            raise Reject(MSG_CHUNKED)
        files[f.get(q + "id")] = f.get(q + "href")
    hrefs = []
    for d in root.iter(q + "Disk"):
        ref = d.get(q + "fileRef")
        if ref not in files:
            raise Reject(MSG_OVA)
        hrefs.append(files[ref])
    if not hrefs:
        raise Reject(MSG_OVA)
    if len(hrefs) > MAX_DISKS:
        raise Reject(MSG_TOO_MANY)
    return hrefs, list(files.values())


# ---------------------------------------------------------------- disks --

def _qemu_info(path, forced=None):
    argv = ["qemu-img", "info", "--output=json"]
    if forced:
        argv += ["-f", forced]
    p = _run(argv + [path])
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def _disk_facts(path, fmt):
    """Format checks of one disk; returns {format, qemu_format,
    virtual_size} or raises Reject."""
    forced = {"RAW": "raw", "VHD": "vpc"}.get(fmt)
    if fmt == "VHD":
        _check_vhd_footers(path)
    info = _qemu_info(path, forced)
    qfmt = info["format"] if info else None
    if fmt == "VMDK":
        create = ((info or {}).get("format-specific", {})
                  .get("data", {}).get("create-type"))
        if qfmt != "vmdk" or create != "streamOptimized":
            raise Reject(MSG_VMDK)
    elif fmt == "VHDX" and qfmt != "vhdx":
        raise Reject(MSG_VHDX)
    elif info is None:
        raise Reject("ClientError: Disk validation failed "
                     "[Unsupported %s File Format]" % fmt)
    return {"format": fmt, "qemu_format": qfmt or "raw",
            "virtual_size": int((info or {}).get("virtual-size", 0))}


def _check_vhd_footers(path):
    """A VHD ends with a 512-byte footer; dynamic and differencing disks
    also start with a copy of it (fixed ones do not, and qemu-img only
    recognises them when told -f vpc). Differencing disks (type 4), and
    copies that disagree, are what AWS reports as 'Footers not identical'."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(512)
        f.seek(max(size - 512, 0))
        tail = f.read(512)
    if tail[:8] != b"conectix":
        if head[:8] == b"conectix":
            raise Reject(MSG_FOOTER)    # trailing footer damaged/missing
        raise Reject("ClientError: Disk validation failed "
                     "[Unsupported VHD File Format]")
    disk_type = struct.unpack(">I", tail[60:64])[0]
    if disk_type == 4 or (disk_type == 3 and head != tail):
        raise Reject(MSG_FOOTER)


# ------------------------------------------------------------ partitions --

def _os_facts(path, qfmt, work):
    """(os-release dict, boot mode) of the disk, or Reject."""
    raw = os.path.join(work, "boot.raw")
    p = _run(["qemu-img", "convert", "-f", qfmt, "-O", "raw", path, raw])
    if p.returncode != 0:
        raise Reject("ClientError: Uncompressed data has invalid length")
    try:
        parts, label = _partitions(raw)
        boot = "uefi" if label == "gpt" and any(
            t in ESP_TYPES for t, _ in parts) else "legacy-bios"
        linux = [start for t, start in parts if t in LINUX_TYPES]
        if not linux:
            raise Reject(MSG_NO_OS)
        osr = _os_release(raw, linux[0])
        refused = guestrules.check(raw, linux[0], osr)
        if refused:
            raise Reject(refused)
        return osr, boot
    finally:
        os.unlink(raw)


def _partitions(raw):
    p = _run(["sfdisk", "--json", raw])
    if p.returncode != 0:
        raise Reject(MSG_NO_PART)
    table = json.loads(p.stdout).get("partitiontable", {})
    sector = int(table.get("sectorsize", 512))
    parts = [(str(q.get("type", "")).upper() if len(str(q.get("type", "")))
              > 2 else str(q.get("type", "")).lower(), int(q["start"]) * sector)
             for q in table.get("partitions", [])]
    if not parts:
        raise Reject(MSG_NO_PART)
    return parts, table.get("label")


def _os_release(raw, offset):
    for name in ("/etc/os-release", "/usr/lib/os-release"):
        p = _run(["debugfs", "-R", "cat %s" % name,
                  "%s?offset=%d" % (raw, offset)])
        text = p.stdout.decode("utf-8", "replace")
        fields = _parse_os_release(text)
        if p.returncode == 0 and fields.get("ID"):
            return fields
    raise Reject(MSG_NO_OS)


def _parse_os_release(text):
    out = {}
    for line in text.splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        k, v = line.split("=", 1)
        out[k.strip()] = v.strip().strip('"')
    return out
