"""The guest check (doc/CONTRACT.md "The guest check",
doc/design/guest-check.md): `amifs inspect --guest` offline on images built
with real tools (mkfs.ext4 -d, mkfs.xfs, sfdisk, qemu-img, bsdtar, gzip,
zstd), and imports/ reading the staged object with ranged GETs before
ImportImage: a guest VM Import is known to refuse goes straight to the
snapshot route (no ImportImage in the endpoint's request log); a check
that cannot read never blocks the import."""
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import pytest

from shared_fixtures import (full_run, killed_at_held_get, poll_until,
                             read, start_mount, uploads_left, wait_status)

HERE = os.path.dirname(os.path.abspath(__file__))
AMIFS = os.environ.get("AMIFS_BIN", "amifs")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mkimages = _load("mkimages", os.path.join(HERE, "images", "mkimages.py"))


def inspect(path, json_out=True):
    argv = [AMIFS, "inspect", "--guest"] + (["--json"] if json_out else [])
    p = subprocess.run(argv + [path], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, (json.loads(p.stdout) if json_out else p.stdout)


# ---- images of our own guests ---------------------------------------------

def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def _cpio(tree, out, compress=None):
    """A newc cpio of TREE (bsdtar), optionally compressed."""
    names = []
    for d, _, files in os.walk(tree):
        for f in files:
            names.append(os.path.relpath(os.path.join(d, f), tree))
    raw = subprocess.run(["bsdtar", "--format", "newc", "-cf", "-", "-C",
                          tree] + sorted(names), check=True,
                         capture_output=True).stdout
    if compress:
        raw = subprocess.run([compress, "-c"], input=raw, check=True,
                             capture_output=True).stdout
    with open(out, "wb") as f:
        f.write(raw)


def _initramfs(work, path, modules, compress, early=True):
    """An initramfs like dracut/initramfs-tools write: an uncompressed early
    cpio (microcode), zero padding, then the compressed main cpio."""
    kv = "5.4.0-150-generic"
    main = tempfile.mkdtemp(dir=work)
    _write(os.path.join(main, "init"), "#!/bin/sh\n")
    for m in modules:
        _write(os.path.join(main, "usr/lib/modules", kv, "kernel/drivers",
                            m), b"\x7fELF module\n")
    _cpio(main, path + ".main", compress)
    with open(path, "wb") as out:
        if early:
            e = tempfile.mkdtemp(dir=work)
            _write(os.path.join(e, "kernel/x86/microcode/GenuineIntel.bin"),
                   b"ucode" * 100)
            _cpio(e, path + ".early")
            with open(path + ".early", "rb") as f:
                data = f.read()
            out.write(data + b"\0" * (-len(data) % 512))
        with open(path + ".main", "rb") as f:
            out.write(f.read())


UBUNTU2004 = ('NAME="Ubuntu"\nVERSION_ID="20.04"\nID=ubuntu\n'
              'PRETTY_NAME="Ubuntu 20.04.6 LTS"\n')
KV = "5.4.0-150-generic"


def _root_tree(work, kind):
    d = tempfile.mkdtemp(dir=work)
    # /etc/os-release as on Debian/Ubuntu: a symlink to /usr/lib/os-release
    _write(os.path.join(d, "usr/lib/os-release"), UBUNTU2004)
    os.makedirs(os.path.join(d, "etc"), exist_ok=True)
    os.symlink("../usr/lib/os-release", os.path.join(d, "etc/os-release"))
    os.makedirs(os.path.join(d, "lib/modules", KV), exist_ok=True)
    if kind == "warn":
        _write(os.path.join(d, "etc/fstab"), "/dev/xvda1 / ext4 defaults 0 1\n")
        _write(os.path.join(d, "etc/netplan/50-static.yaml"),
               "network:\n  ethernets:\n    eth0:\n      addresses: "
               "[10.0.0.5/24]\n      nameservers:\n        addresses: "
               "[10.0.0.1]\n")
    else:
        _write(os.path.join(d, "etc/fstab"), "LABEL=root / ext4 defaults 0 1\n")
        _write(os.path.join(d, "etc/netplan/50-cloud-init.yaml"),
               "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n"
               "      nameservers:\n        addresses: [10.0.0.1]\n")
        _write(os.path.join(d, "etc/cloud/cloud.cfg"), "users: [default]\n")
        _write(os.path.join(d, "lib/modules", KV, "modules.builtin"),
               "kernel/drivers/nvme/host/nvme.ko\n")
    if kind in ("ok", "arm64"):
        # /sbin/init -> ../lib/systemd/systemd, as on systemd distributions
        _write(os.path.join(d, "lib/systemd/systemd"),
               _elf(183 if kind == "arm64" else 62))
        os.makedirs(os.path.join(d, "sbin"), exist_ok=True)
        os.symlink("../lib/systemd/systemd", os.path.join(d, "sbin/init"))
    if kind in ("warn", "ok", "arm64"):
        _write(os.path.join(d, "boot/vmlinuz-" + KV), b"\x7fkernel\n")
        _write(os.path.join(d, "boot/grub/grub.cfg"),
               "menuentry 'Ubuntu' {\n linux /boot/vmlinuz-%s\n}\n" % KV)
        mods = (["nvme/host/nvme.ko"] if kind == "warn"
                else ["net/ethernet/amazon/ena/ena.ko.zst"])
        _initramfs(work, os.path.join(d, "boot/initrd.img-" + KV), mods,
                   "gzip" if kind == "warn" else "zstd")
    return d


def _elf(machine):
    """A 64-byte ELF64 little-endian header with e_machine MACHINE (62
    x86_64, 183 aarch64): what the check reads of /sbin/init."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0, 64, 0, 0,
                               64, 56, 0, 64, 0, 0)


def _disk(out, parts, fmt="raw"):
    """PARTS: [(kind, tree or None, size_mb)]; kind ext4|xfs. MBR table."""
    work = tempfile.mkdtemp(prefix="guest-")
    try:
        total = 2048 + sum(p[2] * 2048 for p in parts) + 2048
        raw = os.path.join(work, "disk.raw")
        with open(raw, "wb") as f:
            f.truncate(total * 512)
        script, start, layout = "label: dos\n", 2048, []
        for kind, tree, mb in parts:
            script += "start=%d, size=%d, type=83\n" % (start, mb * 2048)
            layout.append((start, kind, tree, mb))
            start += mb * 2048
        mkimages.run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", raw,
                     input=script.encode())
        for i, (start, kind, tree, mb) in enumerate(layout):
            img = os.path.join(work, "p%d.img" % i)
            if kind == "xfs":
                with open(img, "wb") as f:
                    f.truncate(mb << 20)
                mkimages.run("mkfs.xfs", "-q", "-f", img)
            else:
                mkimages.run("mkfs.ext4", "-q", "-F", "-d", tree, img,
                             "%dk" % (mb * 1024))
            mkimages._dd_into(raw, img, start)
        if fmt == "raw":
            shutil.copy(raw, out)
        else:
            mkimages.run("qemu-img", "convert", "-f", "raw", "-O", "vmdk",
                         "-o", "subformat=" + fmt, raw, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    d = tmp_path_factory.mktemp("guests")
    work = str(tmp_path_factory.mktemp("trees"))
    out = {}
    out["warn"] = _disk(str(d / "warn.vmdk"),
                        [("ext4", _root_tree(work, "warn"), 24)],
                        "streamOptimized")
    out["ok"] = _disk(str(d / "ok.vmdk"),
                      [("ext4", _root_tree(work, "ok"), 24)],
                      "monolithicSparse")
    out["arm64"] = _disk(str(d / "arm64.vmdk"),
                         [("ext4", _root_tree(work, "arm64"), 24)],
                         "streamOptimized")
    boot = tempfile.mkdtemp(dir=work)        # a separate /boot
    _write(os.path.join(boot, "vmlinuz-6.2.0-39-generic"), b"\x7fk\n")
    _write(os.path.join(boot, "grub/grub.cfg"), "menuentry 'Ubuntu' {\n}\n")
    out["sepboot"] = _disk(str(d / "sepboot.raw"),
                           [("ext4", boot, 8),
                            ("ext4", _root_tree(work, "bare"), 16)])
    if shutil.which("mkfs.xfs"):
        out["xfs"] = _disk(str(d / "xfs.raw"),
                           [("ext4", boot, 8), ("xfs", None, 300)])
    return out


# ---- offline: amifs inspect --guest ---------------------------------------

REFUSED_IMAGES = ("vmdk-kernel6", "vmdk-bls", "raw-efi-kernel6",
                  "ova-2disks-kernel6")


def test_inspect_guest_refused_images(images):
    """The images VM Import refuses: refused with VM Import's message (the
    one the local endpoint fails them with), reading a few hundred KiB."""
    for name in REFUSED_IMAGES:
        e = images[name]
        rc, r = inspect(e["path"])
        assert rc == 1, (name, r)
        assert r["verdict"] == "refused", (name, r)
        assert r["message"] == e["endpoint"], (name, r)
        assert r["reason"] == e["endpoint"][len("ClientError: "):]
        assert r["os"]["id"] in ("ubuntu", "fedora")
        assert r["bytes_read"] < (4 << 20), (name, r["bytes_read"])
    rc, r = inspect(images["raw-efi-kernel6"]["path"])
    assert r["boot_mode"] == "uefi"
    parts = r["disks"][0]["partitions"]
    assert parts[0]["esp"] and parts[0]["filesystem"] == "vfat"
    assert parts[1]["role"] == "root" and parts[1]["filesystem"] == "ext4"
    assert r["disks"][0]["partition_table"] == "gpt"
    rc, r = inspect(images["vmdk-bls"]["path"])
    assert r["grub"]["bls"] and r["grub"]["bls_entries"] == 1
    rc, r = inspect(images["vmdk-kernel6"]["path"])
    assert r["newest_kernel"] == mkimages.KERNEL6
    assert r["fstab_device_names"] == ["/dev/sda1"]
    assert [w["code"] for w in r["warnings"]] == ["fstab-device-names"]
    assert r["disks"][0]["format"] == "VMDK streamOptimized"
    rc, r = inspect(images["ova-2disks-kernel6"]["path"])
    assert len(r["disks"]) == 2


def test_guest_rules_agree_with_the_endpoint(images, tmp_path):
    """core/guest_rules.c and tests/endpoint/guestrules.py (through the
    endpoint's diskcheck, which reads the disk with qemu-img and debugfs)
    give the same answer on the test images (the refused ones and two good
    ones by default; every image with a partition table with --full)."""
    sys.path.insert(0, os.path.join(HERE, "endpoint"))
    try:
        diskcheck = _load("diskcheck", os.path.join(HERE, "endpoint",
                                                    "diskcheck.py"))
    finally:
        sys.path.pop(0)
    more = ("vhd", "raw-gpt", "raw-efi", "vhd-fixed") if full_run() else ()
    for name in REFUSED_IMAGES + ("vmdk", "vmdk-no-os") + more:
        e = images[name]
        v = diskcheck.analyze(e["path"], e["kind"], str(tmp_path))
        rc, r = inspect(e["path"])
        if v.ok:
            assert r["verdict"] in ("ok", "warnings"), (name, r)
        else:
            assert r["verdict"] == "refused", (name, r, v.message)
            assert r["message"] == v.message, (name, r, v.message)


def test_inspect_guest_warnings_and_drivers(guests):
    """Warnings: no ENA in a gzip initramfs (after an early microcode
    cpio), fstab naming /dev/xvda1, a static netplan address; a good guest
    (zstd initramfs with ena.ko.zst, NVMe built in, DHCP, cloud-init) is
    ok. os-release is found through the /etc/os-release symlink."""
    rc, r = inspect(guests["warn"])
    assert rc == 0 and r["verdict"] == "warnings", r
    assert [w["code"] for w in r["warnings"]] == [
        "no-ena", "fstab-device-names", "static-network"], r["warnings"]
    assert r["initramfs"] == {"path": "/boot/initrd.img-" + KV, "ena": False,
                              "nvme": True, "note": None}, r["initramfs"]
    assert r["os"]["version_id"] == "20.04"
    assert r["static_network"]["file"] == "/etc/netplan/50-static.yaml"
    rc, r = inspect(guests["ok"])
    assert rc == 0 and r["verdict"] == "ok", r
    assert r["initramfs"]["ena"] is True and r["initramfs"]["nvme"] is True
    assert r["cloud_init"] is True and not r["static_network"]["found"]
    assert r["disks"][0]["format"] == "VMDK monolithicSparse"
    assert r["architecture"] == "x86_64", r   # /sbin/init -> systemd ELF
    rc, text = inspect(guests["warn"], json_out=False)
    assert text.startswith("verdict: warnings: no ENA driver in the "
                           "initramfs, fstab names /dev/xvda1, static "
                           "network configuration in "
                           "/etc/netplan/50-static.yaml\n"), text


ARM64_REASON = ("arm64 guest: Value (arm64) for parameter Architecture is "
                "invalid. Valid values are: i386, x86_64")


def test_inspect_guest_arm64_is_refused(guests):
    """An arm64 guest (its /sbin/init, through a symlink, is an aarch64
    ELF): refused with ImportImage's answer to Architecture=arm64; a guest
    without any of the binaries has no architecture (null)."""
    rc, r = inspect(guests["arm64"])
    assert rc == 1 and r["verdict"] == "refused", r
    assert r["architecture"] == "arm64", r
    assert r["reason"] == ARM64_REASON, r
    assert "Architecture is invalid" in r["message"]
    rc, text = inspect(guests["arm64"], json_out=False)
    assert text.startswith("verdict: refused: " + ARM64_REASON + "\n"), text
    assert "\narchitecture: arm64\n" in text, text
    rc, r = inspect(guests["warn"])
    assert r["architecture"] is None, r


def test_inspect_guest_separate_boot_and_unreadable_root(guests):
    """Kernels on a separate /boot partition count; a root filesystem no
    library here reads (XFS) is "not checked", never guessed."""
    rc, r = inspect(guests["sepboot"])
    assert rc == 1 and r["verdict"] == "refused", r
    assert r["reason"] == "Unsupported kernel version 6.2.0-39-generic"
    assert r["boot"] == "disk 1 partition 1" and \
        r["root"] == "disk 1 partition 2"
    if "xfs" not in guests:
        pytest.skip("mkfs.xfs (xfsprogs) is not installed")
    rc, r = inspect(guests["xfs"])
    assert rc == 3 and r["verdict"] == "not-checked", r
    assert "xfs, which amifs cannot read" in r["reason"], r
    assert r["disks"][0]["partitions"][1]["filesystem"] == "xfs"
    assert r["newest_kernel"] == "6.2.0-39-generic"  # /boot was read


# ---- imports/: before ImportImage ------------------------------------------

def cp_in(m, path, as_name):
    r = subprocess.run(["cp", path, os.path.join(m.path, "imports",
                                                 as_name)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + m.log()[-3000:]


def ec2_ops(endpoint, mark):
    return [r["op"] for r in endpoint.requests(since=mark)
            if r.get("service") == "ec2"]


def test_refused_guest_goes_straight_to_the_snapshot_route(
        endpoint, images, tmp_path):
    """route=auto and a kernel VM Import refuses: no ImportImage at all;
    the snapshot route runs at once and says why; tasks/NAME/guest has the
    verdict; the ranged GETs read a few hundred KiB, not the disk."""
    e = images["vmdk-kernel6"]
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        cp_in(m, e["path"], "g6.vmdk")
        tdir = os.path.join(m.path, "tasks", "g6.vmdk")
        assert os.readlink(tdir).startswith("import-snap-")
        status = read(os.path.join(tdir, "status"))
        assert status.startswith("active snapshot-route (guest check: "
                                 "Unsupported kernel version %s)"
                                 % mkimages.KERNEL6) or \
            status.startswith("completed ami-"), status
        final = wait_status(m, "g6.vmdk")
        assert final.startswith("completed ami-"), final + m.log()[-3000:]
        ops = ec2_ops(endpoint, mark)
        assert "ImportImage" not in ops and "ImportSnapshot" in ops, ops
        gets = [r for r in endpoint.requests(op="GetObject", since=mark)]
        assert 0 < sum(r.get("bytes") or 0 for r in gets) < (2 << 20) or \
            len(gets) <= 8, gets
        guest = read(os.path.join(tdir, "guest"))
        assert guest.startswith("verdict: refused: Unsupported kernel "
                                "version %s\n" % mkimages.KERNEL6), guest
        assert "warnings: fstab names /dev/sda1\n" in guest
        gj = json.loads(read(os.path.join(tdir, "guest.json")))
        assert gj["verdict"] == "refused"
        diag = read(os.path.join(tdir, "diagnosis"))
        assert "Guest check: refused: Unsupported kernel version" in diag
        assert "without calling ImportImage" in diag
    finally:
        m.unmount()


def test_arm64_guest_registers_as_arm64(endpoint, guests, tmp_path):
    """route=auto and an arm64 guest dropped without architecture=: no
    ImportImage; the snapshot route registers the AMI as arm64. A user's
    architecture that contradicts the guest wins, with a warning."""
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        cp_in(m, guests["arm64"], "a64.vmdk")
        with open(os.path.join(m.path, "imports", "a64x.vmdk.json"),
                  "w") as f:
            json.dump({"Architecture": "x86_64"}, f)
        cp_in(m, guests["arm64"], "a64x.vmdk")
        amis = {}
        for name in ("a64.vmdk", "a64x.vmdk"):
            tdir = os.path.join(m.path, "tasks", name)
            assert os.readlink(tdir).startswith("import-snap-")
            final = wait_status(m, name)
            assert final.startswith("completed ami-"), final + m.log()[-3000:]
            amis[name] = final.split()[1]
        assert "ImportImage" not in ec2_ops(endpoint, mark)
        for name, arch in (("a64.vmdk", "arm64"), ("a64x.vmdk", "x86_64")):
            img = endpoint.aws("ec2", "describe-images", "--image-ids",
                               amis[name])["Images"][0]
            assert img["Architecture"] == arch, (name, img)
        guest = read(os.path.join(m.path, "tasks", "a64.vmdk", "guest"))
        assert guest.startswith("verdict: refused: " + ARM64_REASON), guest
        assert "architecture-mismatch" not in guest
        gj = json.loads(read(os.path.join(m.path, "tasks", "a64x.vmdk",
                                          "guest.json")))
        assert {"code": "architecture-mismatch",
                "text": "architecture=x86_64 given, but the guest's binaries "
                        "are arm64; using x86_64"} in gj["warnings"], gj
    finally:
        m.unmount()


def test_warnings_reach_status_and_diagnosis(endpoint, guests, tmp_path):
    """A guest VM Import takes, with warnings: ImportImage runs; status has
    a short second line and diagnosis the verdict."""
    m = start_mount(endpoint, str(tmp_path), opts="route=image")
    try:
        mark = endpoint.mark()
        cp_in(m, guests["warn"], "w.vmdk")
        tdir = os.path.join(m.path, "tasks", "w.vmdk")
        assert os.readlink(tdir).startswith("import-ami-")
        status = read(os.path.join(tdir, "status"))
        assert ("\nguest check: no ENA driver in the initramfs, fstab names "
                "/dev/xvda1, static network configuration in "
                "/etc/netplan/50-static.yaml\n") in status, status
        diag = read(os.path.join(tdir, "diagnosis"))
        assert diag.startswith("Guest check: warnings: no ENA driver"), diag
        assert "ImportImage" in ec2_ops(endpoint, mark)
    finally:
        m.unmount()


def test_unreadable_guest_never_blocks_the_import(endpoint, images,
                                                  tmp_path):
    """Every ranged GET fails: "not checked: reading … failed", and the
    import goes on by the normal route (ImportImage)."""
    e = images["vmdk"]
    m = start_mount(endpoint, str(tmp_path))
    try:
        endpoint.set_faults([{"service": "s3", "op": "GetObject",
                              "action": "drop"}])
        mark = endpoint.mark()
        try:
            cp_in(m, e["path"], "nc.vmdk")
        finally:
            endpoint.clear_faults()
        tdir = os.path.join(m.path, "tasks", "nc.vmdk")
        assert os.readlink(tdir).startswith("import-ami-")
        guest = read(os.path.join(tdir, "guest"))
        assert guest.startswith("verdict: not checked: reading s3://%s/"
                                % endpoint.bucket), guest
        assert "ImportImage" in ec2_ops(endpoint, mark)
        assert wait_status(m, "nc.vmdk").startswith("completed ami-")
    finally:
        m.unmount()


def test_killed_during_the_guest_check(endpoint, images, tmp_path):
    """SIGKILL while the check's ranged GET is held: no ImportImage, no
    ImportSnapshot, no multipart upload left; after a remount the same copy
    imports (by the snapshot route: the kernel is refused) once."""
    e = images["vmdk-kernel6"]
    m = start_mount(endpoint, str(tmp_path))
    mark = endpoint.mark()
    killed_at_held_get(endpoint, m, e["path"],
                       os.path.join(m.path, "imports", "gk.vmdk"))
    ops = ec2_ops(endpoint, mark)
    assert "ImportImage" not in ops and "ImportSnapshot" not in ops, ops
    assert uploads_left(endpoint, m.prefix) == []
    m2 = start_mount(endpoint, str(tmp_path))
    try:
        cp_in(m2, e["path"], "gk.vmdk")
        final = wait_status(m2, "gk.vmdk")
        assert final.startswith("completed ami-"), final + m2.log()[-3000:]
        assert "ImportImage" not in ec2_ops(endpoint, mark)
        poll_until(lambda: read(os.path.join(m2.path, "tasks", "gk.vmdk",
                                             "guest")), timeout=5)
    finally:
        m2.unmount()
