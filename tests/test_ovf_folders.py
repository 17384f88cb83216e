"""Folders in imports/ (doc/design/ovf-folders.md, doc/CONTRACT.md "OVF
folders"): an exported OVF folder copied with `cp -r` is ONE import, each
disk streamed to its own staged object through the validator, ImportImage
called once with every disk in OVF order; loose disks with an amifs.json
listing "Disks"; what is missing said in tasks/NAME/status; bad folders
refused with nothing left; a daemon killed mid-folder leaves no import,
no staged object and no multipart upload after the remount.

The folders are made by tests/images/mkfolders.py (qemu-img disks, OVF text
shaped as vSphere's ovftool and VirtualBox write it).
"""
import json
import os
import subprocess
import sys
import time

import mount_fixtures
import pytest
from shared_fixtures import (kill_dead_mount, poll_until, read, start_mount,
                             uploads, wait_status)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "images"))
import mkfolders  # noqa: E402
import mkimages  # noqa: E402


def staged(endpoint, prefix):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", prefix + "/")
    return [o["Key"] for o in (out or {}).get("Contents") or []
            if "/amifs-queue/" not in o["Key"]]


def imports_since(endpoint, mark, prefix):
    """Accepted ImportImage calls since MARK for disks under PREFIX (other
    tests share the endpoint)."""
    tasks = {t.get("client_token"): t for t in endpoint.tasks()}
    return [r for r in endpoint.requests(op="ImportImage", since=mark)
            if r["status"] == 200 and r["client_token"] in tasks and
            all(k.startswith(prefix + "/")
                for k in tasks[r["client_token"]]["keys"])]


def task_of(endpoint, token):
    return [t for t in endpoint.tasks() if t.get("client_token") == token]


def check_one_import(endpoint, m, name, mark, disks):
    """ImportImage called exactly once, with DISKS (names) in order; the
    AMI maps one volume per disk; the staged objects go (cleanup)."""
    final = wait_status(m, name)
    assert final.startswith("completed ami-"), (final, m.log()[-3000:])
    calls = imports_since(endpoint, mark, m.prefix)
    assert len(calls) == 1, calls
    task = task_of(endpoint, calls[0]["client_token"])
    assert len(task) == 1, task
    keys = task[0]["keys"]
    assert [k.rsplit("/", 1)[1] for k in keys] == disks, keys
    assert all(k.startswith(m.prefix + "/") and
               k.split("/")[-2] == name for k in keys), keys
    ami = final.split()[1]
    img = endpoint.aws("ec2", "describe-images", "--image-ids",
                       ami)["Images"][0]
    ebs = [b for b in img["BlockDeviceMappings"] if "Ebs" in b]
    assert len(ebs) == len(disks), img["BlockDeviceMappings"]
    poll_until(lambda: staged(endpoint, m.prefix) == [], timeout=20)
    return img


def test_vsphere_folder_is_one_import(endpoint, tmp_path):
    """vm.ovf (vmw:, EFI firmware, a CD-ROM whose ISO was not exported),
    vm-disk1.vmdk (streamOptimized), vm.nvram, vm.mf (SHA256)."""
    f = mkfolders.make_vsphere(str(tmp_path / "src" / "vm"))
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        r = subprocess.run(["cp", "-r", f["dir"],
                            os.path.join(m.path, "imports") + "/"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert sorted(os.listdir(os.path.join(m.path, "imports", "vm"))) \
            == sorted(f["files"])
        img = check_one_import(endpoint, m, "vm", mark, f["disks"])
        assert img.get("BootMode") == "uefi", img
        desc = endpoint.aws("ec2", "describe-import-image-tasks")
        mine = [t for t in desc["ImportImageTasks"]
                if t.get("ImageId") == img["ImageId"]]
        assert "not imported: vm.nvram" in mine[0]["Description"], mine
        assert "vm" not in os.listdir(os.path.join(m.path, "imports"))
    finally:
        m.unmount()


def test_virtualbox_folder_waits_for_its_second_disk(endpoint, tmp_path):
    """VirtualBox's export (vbox:, two disks, SHA1 manifest in its own
    spelling), copied file by file: the status names the missing disk
    until it comes; ImportImage gets both disks in OVF order."""
    f = mkfolders.make_vbox(str(tmp_path / "src" / "web01"))
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        dst = os.path.join(m.path, "imports", "web01")
        os.mkdir(dst)
        for name in (f["ovf"], f["disks"][0]):
            subprocess.run(["cp", os.path.join(f["dir"], name), dst],
                           check=True, timeout=60)
        status = os.path.join(m.path, "tasks", "web01", "status")
        st = read(status)
        assert st == ("uploading waiting for web01-disk002.vmdk (1 of 2 "
                      "disks present)\n"), st
        time.sleep(3)  # longer than the settle time: still waiting
        assert imports_since(endpoint, mark, m.prefix) == []
        iso = os.path.join(f["dir"], "guest-additions.iso")
        with open(iso, "wb") as fh:
            fh.write(b"CD001" * 1000)
        for name in (f["disks"][1], "web01.mf", "guest-additions.iso"):
            subprocess.run(["cp", os.path.join(f["dir"], name), dst],
                           check=True, timeout=60)
        img = check_one_import(endpoint, m, "web01", mark, f["disks"])
        # both disks came before the .mf, so neither was hashed as it
        # streamed: each was read back whole from its staged object
        # (If-Match) before the one ImportImage
        t_imp = imports_since(endpoint, mark, m.prefix)[0]["t"]
        for disk in f["disks"]:
            gets = [g for g in endpoint.requests(op="GetObject", since=mark)
                    if g["path"].endswith("/web01/" + disk) and
                    g["t"] < t_imp and g.get("if_match")]
            got = sum(int(b) - int(a) + 1 for a, b in (
                g["range"][len("bytes="):].split("-") for g in gets))
            assert got == os.path.getsize(os.path.join(f["dir"], disk)), \
                (disk, gets)
        # the ISO that is present is accepted, and not imported as a disk
        desc = endpoint.aws("ec2", "describe-import-image-tasks")
        mine = [t for t in desc["ImportImageTasks"]
                if t.get("ImageId") == img["ImageId"]]
        assert mine[0]["Description"].endswith(
            "not imported: guest-additions.iso"), mine
    finally:
        m.unmount()


def test_loose_disks_need_an_amifs_json(endpoint, tmp_path):
    """No OVF: the set waits for amifs.json's "Disks", which also gives the
    order (here the second file copied is the boot disk)."""
    src = tmp_path / "src"
    src.mkdir()
    boot = str(src / "boot.vmdk")
    data = str(src / "data.vmdk")
    mkimages.make_disk(boot, "vmdk", size_mb=24)
    mkimages.make_disk(data, "vmdk", size_mb=8, os=False)
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        dst = os.path.join(m.path, "imports", "db01")
        os.mkdir(dst)
        subprocess.run(["cp", data, boot, dst], check=True, timeout=60)
        st = read(os.path.join(m.path, "tasks", "db01", "status"))
        assert st.startswith("uploading waiting for an .ovf descriptor, or "
                             "an amifs.json listing \"Disks\""), st
        assert "(2 disk files present)" in st, st
        time.sleep(3)
        assert imports_since(endpoint, mark, m.prefix) == []
        with open(os.path.join(dst, "amifs.json"), "w") as fh:
            json.dump({"Disks": ["boot.vmdk", "data.vmdk"],
                       "Tags": {"team": "db"}}, fh)
        check_one_import(endpoint, m, "db01", mark, ["boot.vmdk",
                                                     "data.vmdk"])
    finally:
        m.unmount()


BAD = [
    # (folder, how to build it into dir D, words the refusal must contain)
    ("badmf", "mf-mismatch", "does not match its SHA1 digest"),
    ("badxml", "ovf-not-xml", "(bad-xml)"),
    ("badfmt", "ovf-vdi-disk", "(bad-format)"),
    ("twoovf", "two-ovfs", "two OVF descriptors in one folder"),
]


def build_bad(kind, d, good):
    """Copy the files of GOOD (a VirtualBox folder) into the mount's
    folder D, spoiled as KIND says."""
    os.mkdir(d)
    g = good["dir"]
    files = list(good["files"])
    if kind == "mf-mismatch":
        mkfolders.write_manifest(g, "bad.mf", [good["ovf"]] + good["disks"],
                                 "sha1", vbox=True,
                                 corrupt=good["disks"][1])
        files = [f for f in files if not f.endswith(".mf")] + ["bad.mf"]
    elif kind == "ovf-not-xml":
        with open(os.path.join(g, "broken.ovf"), "w") as f:
            f.write("<Envelope><References><File ovf:href=")
        files = ["broken.ovf", good["disks"][0]]
    elif kind == "ovf-vdi-disk":
        text = read(os.path.join(g, good["ovf"])).replace(
            good["disks"][1], "web01-disk002.vdi")
        with open(os.path.join(g, "vdi.ovf"), "w") as f:
            f.write(text)
        files = [good["disks"][0], "vdi.ovf"]
    elif kind == "two-ovfs":
        subprocess.run(["cp", os.path.join(g, good["ovf"]),
                        os.path.join(g, "other.ovf")], check=True)
        files = [good["ovf"], good["disks"][0], "other.ovf"]
    for name in files:
        r = subprocess.run(["cp", os.path.join(g, name), d],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            break


def test_bad_folders_are_refused_with_nothing_left(endpoint, tmp_path):
    """Each bad folder: a clear refusal in its status and .amifs/errors,
    no ImportImage, no staged object, no multipart upload; a subfolder is
    refused at its mkdir; rm -r of a waiting folder cancels it."""
    good = mkfolders.make_vbox(str(tmp_path / "src" / "web01"),
                               manifest=None)
    m = start_mount(endpoint, str(tmp_path))
    try:
        mark = endpoint.mark()
        imp = os.path.join(m.path, "imports")
        for name, kind, _ in BAD:
            build_bad(kind, os.path.join(imp, name), good)
        # a subfolder is refused at its mkdir: cp -r reports it
        nested = tmp_path / "src" / "nest"
        (nested / "sub").mkdir(parents=True)
        (nested / "sub" / "x.vmdk").write_bytes(b"x")
        r = subprocess.run(["cp", "-r", str(nested), imp + "/"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "sub" in r.stderr, r.stderr
        errors = read(os.path.join(m.path, ".amifs", "errors"))
        assert "imports/nest/sub" in errors and "subfolder" in errors
        # rm -r of a folder still waiting for a disk cancels it
        gone = os.path.join(imp, "gone")
        os.mkdir(gone)
        for name in (good["ovf"], good["disks"][0]):
            subprocess.run(["cp", os.path.join(good["dir"], name), gone],
                           check=True, timeout=60)
        assert any("/gone/" in k for k in staged(endpoint, m.prefix))
        subprocess.run(["rm", "-r", gone], check=True, timeout=30)
        st = read(os.path.join(m.path, "tasks", "gone", "status"))
        assert st.startswith("cancelled the folder was removed"), st
        assert not any("/gone/" in k for k in staged(endpoint, m.prefix))
        # so does rm -r of its task
        gone = os.path.join(imp, "gone2")
        os.mkdir(gone)
        for name in (good["ovf"], good["disks"][0]):
            subprocess.run(["cp", os.path.join(good["dir"], name), gone],
                           check=True, timeout=60)
        subprocess.run(["rm", "-r", os.path.join(m.path, "tasks", "gone2")],
                       check=True, timeout=30)
        poll_until(lambda: not any("/gone2/" in k
                                   for k in staged(endpoint, m.prefix)),
                   timeout=10)
        assert "gone2" not in os.listdir(imp)
        for name, _, words in BAD:
            st = poll_until(lambda: read(os.path.join(
                m.path, "tasks", name, "status")).startswith("failed")
                and read(os.path.join(m.path, "tasks", name, "status")),
                timeout=20)
            assert words in st, (name, st)
            assert "nothing was imported" in st, st
            errors = read(os.path.join(m.path, ".amifs", "errors"))
            assert "imports/" + name in errors and words in errors, errors
            assert name not in os.listdir(imp)
        diag = read(os.path.join(m.path, "tasks", "badmf", "diagnosis"))
        assert "digest in the .mf manifest" in diag, diag
        diag = read(os.path.join(m.path, "tasks", "twoovf", "diagnosis"))
        assert "one folder is one VM" in diag, diag
        time.sleep(3)  # past the settle time: still nothing started
        assert imports_since(endpoint, mark, m.prefix) == []
        poll_until(lambda: staged(endpoint, m.prefix) == [], timeout=20)
        assert uploads(endpoint, m.prefix + "/") == []
    finally:
        m.unmount()


def test_killed_mid_folder_leaves_no_half_import(endpoint, tmp_path):
    """One disk staged, the second in flight, the daemon SIGKILLed: no
    ImportImage; after the remount the staged disk is deleted, the
    multipart upload aborted (upload journal), .amifs/errors says so."""
    src = tmp_path / "src"
    src.mkdir()
    boot, big = str(src / "boot.vmdk"), str(src / "big.raw")
    mkimages.make_disk(boot, "vmdk", size_mb=24)
    mkimages.make_disk(big, "raw", size_mb=24, os=False)
    m = start_mount(endpoint, str(tmp_path), "part_size=5M")
    prefix = m.prefix
    m2 = None
    try:
        mark = endpoint.mark()
        dst = os.path.join(m.path, "imports", "app01")
        os.mkdir(dst)
        with open(os.path.join(dst, "amifs.json"), "w") as fh:
            json.dump({"Disks": ["boot.vmdk", "big.raw"]}, fh)
        subprocess.run(["cp", boot, dst], check=True, timeout=60)
        assert len(staged(endpoint, prefix)) == 1
        endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                              "action": "delay", "delay_ms": 1500}])
        c = subprocess.Popen(["cp", big, dst], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        poll_until(lambda: endpoint.requests("UploadPart", since=mark),
                   timeout=20, step=0.05)
        assert c.poll() is None, "the copy ended before the kill"
        kill_dead_mount(m)
        c.communicate(timeout=30)
        endpoint.clear_faults()
        assert uploads(endpoint, prefix + "/"), "no upload was in flight"
        m2 = mount_fixtures.Mount(endpoint, str(tmp_path),
                                  opts="bucket=%s/%s,poll_interval=0.3" % (
                                      endpoint.bucket, prefix)).start()
        poll_until(lambda: staged(endpoint, prefix) == [], timeout=20)
        poll_until(lambda: uploads(endpoint, prefix + "/") == [],
                   timeout=30)
        errors = read(os.path.join(m2.path, ".amifs", "errors"))
        assert "imports/app01" in errors and "daemon stopped" in errors, \
            errors
        assert imports_since(endpoint, mark, m.prefix) == []
    finally:
        endpoint.clear_faults()
        if m.proc is not None:
            m.unmount()
        if m2 is not None:
            m2.unmount()


def test_killed_while_a_disk_is_read_back(endpoint, tmp_path):
    """A VirtualBox folder whose .mf comes after its disks: the daemon is
    SIGKILLed while a disk is being read back to check it (its GET held).
    No ImportImage; the remount deletes the staged disks and says so."""
    f = mkfolders.make_vbox(str(tmp_path / "src" / "web02"), vm="web02")
    m = start_mount(endpoint, str(tmp_path))
    prefix, m2 = m.prefix, None
    try:
        mark = endpoint.mark()
        dst = os.path.join(m.path, "imports", "web02")
        os.mkdir(dst)
        endpoint.set_faults([{"service": "s3", "op": "GetObject",
                              "action": "hold"}])
        for name in [f["ovf"]] + f["disks"] + ["web02.mf"]:
            subprocess.run(["cp", os.path.join(f["dir"], name), dst],
                           check=True, timeout=60)
        endpoint.wait_held("GetObject", 1, timeout=30)
        st = read(os.path.join(m.path, "tasks", "web02", "status"))
        assert "verifying the manifest: reading web02-disk" in st, st
        kill_dead_mount(m)
        endpoint.clear_faults()
        endpoint.release(op="GetObject", how="drop")
        assert len(staged(endpoint, prefix)) == 2
        m2 = mount_fixtures.Mount(endpoint, str(tmp_path),
                                  opts="bucket=%s/%s,poll_interval=0.3" % (
                                      endpoint.bucket, prefix)).start()
        poll_until(lambda: staged(endpoint, prefix) == [], timeout=20)
        errors = read(os.path.join(m2.path, ".amifs", "errors"))
        assert "imports/web02" in errors and "daemon stopped" in errors, \
            errors
        assert imports_since(endpoint, mark, prefix) == []
    finally:
        endpoint.clear_faults()
        endpoint.release(op="GetObject", how="drop")
        if m.proc is not None:
            m.unmount()
        if m2 is not None:
            m2.unmount()


@pytest.mark.full
def test_a_folder_waits_in_the_quota_queue_and_is_copied(endpoint,
                                                         tmp_path):
    """Quota 0 for this prefix: the folder's one ImportImage (two disks)
    is queued durably, then starts when a slot frees; amifs.json's
    CopyToRegions copies the AMI."""
    f = mkfolders.make_vbox(str(tmp_path / "src" / "web01"))
    with open(os.path.join(f["dir"], "amifs.json"), "w") as fh:
        json.dump({"CopyToRegions": ["eu-west-1"]}, fh)
    m = start_mount(endpoint, str(tmp_path))
    quota = {"import_quota": {"limit": 0, "prefix": m.prefix + "/"}}
    endpoint._control("POST", "/_amifs/config", quota)
    try:
        first = endpoint.mark()
        r = subprocess.run(["cp", "-r", f["dir"],
                            os.path.join(m.path, "imports") + "/"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        status = os.path.join(m.path, "tasks", "web01", "status")
        poll_until(lambda: read(status).startswith("queued 1 of 1"),
                   timeout=30)
        mark = endpoint.mark()
        quota["import_quota"]["limit"] = 2
        endpoint._control("POST", "/_amifs/config", quota)
        check_one_import(endpoint, m, "web01", first, f["disks"])
        assert imports_since(endpoint, mark, m.prefix), \
            "the queue never started it"
        poll_until(lambda: "available ami-" in read(os.path.join(
            m.path, "tasks", "web01", "copies")), timeout=60)
    finally:
        endpoint._control("POST", "/_amifs/config", {
            "import_quota": {"limit": None, "prefix": m.prefix + "/"}})
        m.unmount()


@pytest.mark.full
def test_killed_inside_import_image_keeps_what_the_task_reads(endpoint,
                                                              tmp_path):
    """The daemon dies while ImportImage (both disks) is in flight and EC2
    started the task: the next mount keeps the staged disks (the task
    reads them), says so, and the task completes with both disks."""
    f = mkfolders.make_vbox(str(tmp_path / "src" / "web01"), manifest=None)
    m = start_mount(endpoint, str(tmp_path))
    prefix, m2 = m.prefix, None
    try:
        endpoint.set_faults([{"service": "ec2", "op": "ImportImage",
                              "action": "hold", "when": "after"}])
        r = subprocess.run(["cp", "-r", f["dir"],
                            os.path.join(m.path, "imports") + "/"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        endpoint.wait_held("ImportImage", 1, timeout=30)
        kill_dead_mount(m)
        endpoint.clear_faults()
        m2 = mount_fixtures.Mount(endpoint, str(tmp_path),
                                  opts="bucket=%s/%s,poll_interval=0.3" % (
                                      endpoint.bucket, prefix)).start()
        errors = read(os.path.join(m2.path, ".amifs", "errors"))
        assert "imports/web01" in errors and \
            "while ImportImage was being called" in errors, errors
        mine = [t for t in endpoint.tasks() if t["keys"] and
                t["keys"][0].startswith(prefix + "/")]
        assert len(mine) == 1 and len(mine[0]["keys"]) == 2, mine
        t, _ = endpoint.wait_task(mine[0]["id"], timeout=120)
        assert t["status"] == "completed", t
    finally:
        endpoint.clear_faults()
        if m.proc is not None:
            m.unmount()
        if m2 is not None:
            m2.unmount()
