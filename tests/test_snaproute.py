"""The snapshot route (doc/CONTRACT.md "The snapshot route"): route=auto
continues a refused ImportImage with ImportSnapshot per disk and one
RegisterImage, from what is already staged; route=snapshot goes that way
at once. The refusals are the local endpoint's guest rules reading the
disks mkimages builds (tests/endpoint/guestrules.py); results are checked
with the AWS CLI."""
import json
import os
import subprocess

import pytest

from shared_fixtures import (kill_dead_mount, poll_until, read, start_mount,
                             wait_status)


def cp_in(m, path, as_name, sidecar=None):
    if sidecar is not None:
        with open(os.path.join(m.path, "imports", as_name + ".json"),
                  "w") as f:
            json.dump(sidecar, f)
    r = subprocess.run(["cp", path, os.path.join(m.path, "imports",
                                                 as_name)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + m.log()[-3000:]


def image_of(endpoint, ami):
    out = endpoint.aws("ec2", "describe-images", "--image-ids", ami)
    return out["Images"][0]


def tags_of(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def snapshots_of(endpoint, ids):
    out = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids", *ids)
    return {s["SnapshotId"]: s for s in out["Snapshots"]}


def ops_since(endpoint, mark, service="s3"):
    return [r["op"] for r in endpoint.requests(since=mark)
            if r.get("service") == service]


def check_ami_shape(endpoint, ami, ndisks, name, boot_mode=None,
                    tag=("team", "blue")):
    img = image_of(endpoint, ami)
    bdm = img["BlockDeviceMappings"]
    assert [b["DeviceName"] for b in bdm] == \
        ["/dev/sda1", "/dev/sdb", "/dev/sdc"][:ndisks]
    assert img["RootDeviceName"] == "/dev/sda1"
    if boot_mode:
        assert img.get("BootMode") == boot_mode, img
    t = tags_of(img)
    assert t.get("Name") == name and t.get("amifs:name") == name, t
    assert t.get(tag[0]) == tag[1], t
    snaps = snapshots_of(endpoint, [b["Ebs"]["SnapshotId"] for b in bdm])
    for s in snaps.values():
        st = tags_of(s)
        assert st.get("Name") == name and st.get(tag[0]) == tag[1], st
    return img


def test_auto_continues_a_refused_kernel_by_the_snapshot_route(
        endpoint, images, tmp_path):
    """ImportImage refuses kernel 6.5; the same task goes on by the
    snapshot route and ends completed, without a second upload. (No guest
    check: with it, amifs would not call ImportImage at all —
    tests/test_guest.py.)"""
    e = images["vmdk-kernel6"]
    m = start_mount(endpoint, str(tmp_path),
                    opts="no_guest_check")
    try:
        cp_in(m, e["path"], "k6.vmdk", {"Tags": {"team": "blue"}})
        tdir = os.path.join(m.path, "tasks", "k6.vmdk")
        task_id = os.readlink(tdir)
        assert task_id.startswith("import-ami-")
        mark = endpoint.mark()
        seen = set()

        def rerouted():
            line = read(os.path.join(tdir, "status"))
            seen.add(line)
            return line.startswith(("active snapshot-route", "completed",
                                    "failed"))
        poll_until(rerouted, timeout=60, step=0.05)
        final = wait_status(m, "k6.vmdk")
        assert final.startswith("completed ami-"), (final, seen,
                                                    m.log()[-3000:])
        assert any(s.startswith("active snapshot-route (ImportImage: "
                                "ClientError: Unsupported kernel version "
                                "6.5.0-14-generic) ") for s in seen), seen
        assert os.readlink(tdir) == task_id  # the same task, all along
        ami = final.split()[1]
        check_ami_shape(endpoint, ami, 1, "k6.vmdk")
        # no byte went up twice: the route only reads what is staged
        s3 = ops_since(endpoint, mark)
        assert "UploadPart" not in s3 and "PutObject" not in s3, s3
        diag = read(os.path.join(tdir, "diagnosis"))
        assert "Unsupported kernel version" in diag  # the first failure
        assert os.readlink(os.path.join(tdir, "ami")).endswith(ami)
        # amifs wait still works (exit 0, the final line)
        r = subprocess.run([os.environ.get("AMIFS_BIN", "amifs"), "wait",
                            tdir], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and r.stdout.startswith("completed " + ami)
    finally:
        m.unmount()
    # a remount tells the same story (the route marked the task)
    m2 = start_mount(endpoint, str(tmp_path),
                     opts="no_guest_check")
    try:
        line = read(os.path.join(m2.path, "tasks", task_id, "wait"))
        assert line == "completed %s\n" % ami, line
    finally:
        m2.unmount()


def test_two_disk_ova_is_carved_server_side(endpoint, images, tmp_path):
    """route=snapshot: each OVA disk member is copied out of the staged OVA
    with UploadPartCopy byte ranges, imported, and mapped in OVF order."""
    e = images["ova-2disks-kernel6"]
    # keep_staged: the carved objects are compared below (cleanup is the
    # default and deletes them once the AMI exists)
    m = start_mount(endpoint, str(tmp_path),
                    opts="route=snapshot,keep_staged")
    try:
        mark = endpoint.mark()
        cp_in(m, e["path"], "two.ova", {"Tags": {"team": "blue"}})
        final = wait_status(m, "two.ova")
        assert final.startswith("completed ami-"), final + m.log()[-3000:]
        lead = os.readlink(os.path.join(m.path, "tasks", "two.ova"))
        assert lead.startswith("import-snap-")
        img = check_ami_shape(endpoint, final.split()[1], 2, "two.ova")
        writes = [(r["op"], r["path"]) for r in endpoint.requests(since=mark)
                  if r.get("op") in ("UploadPart", "PutObject",
                                     "UploadPartCopy")]
        assert sorted(op for op, p in writes if ".disk" in p) == \
            ["UploadPartCopy"] * 2, writes
        # the OVA's bytes went up once, to its own key, and never again
        assert all(p.endswith("/two.ova") for op, p in writes
                   if ".disk" not in p), writes
        assert "ImportImage" not in ops_since(endpoint, mark, "ec2")
        # OVF order: disk1 is the root; sizes follow the disks' capacities
        assert all(b["Ebs"]["VolumeSize"] >= 1
                   for b in img["BlockDeviceMappings"])
        # each carved object holds exactly the member's bytes
        objs = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                            endpoint.bucket, "--prefix", m.prefix + "/")
        carved = sorted((o["Key"], o["Size"]) for o in objs["Contents"]
                        if ".disk" in o["Key"])
        assert [k.rsplit(".", 2)[-2:] for k, _ in carved] == \
            [["disk1", "vmdk"], ["disk2", "vmdk"]]
        # each holds exactly its tar member's bytes (the same VMDK files)
        import tarfile
        with tarfile.open(e["path"]) as tf:
            sizes = [mb.size for mb in tf.getmembers()
                     if mb.name.endswith(".vmdk")]
        assert [sz for _, sz in carved] == sizes
    finally:
        m.unmount()


@pytest.mark.full
@pytest.mark.parametrize("name,cause", [
    ("vmdk-bls", "BLSC-style GRUB"),
    ("raw-efi-kernel6", "Unsupported kernel version"),
])
def test_refused_guests_end_completed_by_auto(endpoint, images, tmp_path,
                                              name, cause):
    e = images[name]
    m = start_mount(endpoint, str(tmp_path))
    try:
        cp_in(m, e["path"], e["file"], {"Tags": {"team": "blue"}})
        final = wait_status(m, e["file"])
        assert final.startswith("completed ami-"), final
        diag = read(os.path.join(m.path, "tasks", e["file"], "diagnosis"))
        assert cause in diag
        check_ami_shape(endpoint, final.split()[1], 1, e["file"],
                        boot_mode="uefi" if e["firmware"] == "efi" else None)
    finally:
        m.unmount()


@pytest.mark.full
def test_forced_route_gives_the_same_ami_shape(endpoint, images, tmp_path):
    e = images["raw-efi-kernel6"]
    shapes = []
    for route in ("auto", "snapshot"):
        (tmp_path / route).mkdir()
        m = start_mount(endpoint, str(tmp_path / route), opts="route=" +
                        route)
        try:
            cp_in(m, e["path"], "shape.raw", {"Tags": {"team": "blue"}})
            final = wait_status(m, "shape.raw")
            assert final.startswith("completed ami-"), final
            img = check_ami_shape(endpoint, final.split()[1], 1,
                                  "shape.raw")
            shapes.append((img.get("BootMode"), img["Architecture"],
                           img["RootDeviceName"],
                           [b["DeviceName"] for b in
                            img["BlockDeviceMappings"]]))
        finally:
            m.unmount()
    assert shapes[0] == shapes[1] and shapes[0][0] == "uefi", shapes


@pytest.mark.full
def test_register_only_parameters_go_by_the_snapshot_route(
        endpoint, images, tmp_path):
    """uefi-preferred, arm64, ENA, TPM and IMDSv2 are RegisterImage's:
    with auto the import goes by the snapshot route at once, and
    route=image refuses them at close (nothing imported)."""
    e = images["vmdk"]
    m = start_mount(endpoint, str(tmp_path))
    try:
        side = {"BootMode": "uefi-preferred", "Architecture": "arm64",
                "EnaSupport": True, "TpmSupport": "v2.0",
                "ImdsSupport": "v2.0", "Tags": {"team": "blue"}}
        cp_in(m, e["path"], "arm.vmdk", side)
        final = wait_status(m, "arm.vmdk")
        assert final.startswith("completed ami-"), final + m.log()[-2000:]
        img = check_ami_shape(endpoint, final.split()[1], 1, "arm.vmdk",
                              boot_mode="uefi-preferred")
        assert img["Architecture"] == "arm64"
        attr = endpoint.aws("ec2", "describe-image-attribute", "--image-id",
                            img["ImageId"], "--attribute", "bootMode")
        assert attr["BootMode"]["Value"] == "uefi-preferred"
        mark = endpoint.mark()
        side["Route"] = "image"
        with open(os.path.join(m.path, "imports", "no.vmdk.json"), "w") as f:
            json.dump(side, f)
        r = subprocess.run(["cp", e["path"], os.path.join(m.path, "imports",
                                                          "no.vmdk")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0
        line = read(os.path.join(m.path, "tasks", "no.vmdk", "status"))
        assert "ImportImage cannot take BootMode uefi-preferred" in line
        assert "ImportImage" not in ops_since(endpoint, mark, "ec2")
    finally:
        m.unmount()


def test_route_values_are_checked_where_given(endpoint, images, tmp_path):
    """user.amifs.route picks the route per file; a bad value fails the
    setxattr, and the mount option is checked at mount time."""
    m = start_mount(endpoint, str(tmp_path))
    try:
        dst = os.path.join(m.path, "imports", "x.vmdk")
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            with pytest.raises(OSError):
                os.setxattr(dst, "user.amifs.route", b"sideways")
            os.setxattr(dst, "user.amifs.route", b"snapshot")
            assert os.getxattr(dst, "user.amifs.route") == b"snapshot"
            with open(images["vmdk"]["path"], "rb") as f:
                os.write(fd, f.read())
        finally:
            os.close(fd)
        lead = os.readlink(os.path.join(m.path, "tasks", "x.vmdk"))
        assert lead.startswith("import-snap-")
        assert wait_status(m, "x.vmdk").startswith("completed ami-")
    finally:
        m.unmount()
    bad = subprocess.run([os.environ.get("AMIFS_BIN", "amifs"), "-f", "-o",
                          "route=sideways,bucket=b", str(tmp_path / "mnt")],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0
    assert "route must be auto, image or snapshot" in bad.stderr, bad.stderr


@pytest.mark.full
def test_killed_mid_route_resumes_after_a_remount(endpoint, images,
                                                  tmp_path):
    """SIGKILL while the snapshot route waits for its snapshots: no AMI is
    half-registered, and the next mount finishes the route itself."""
    e = images["vmdk-kernel6"]
    old = endpoint.set_phase_seconds(1.5)
    try:
        m = start_mount(endpoint, str(tmp_path),
                        opts="no_guest_check")
        cp_in(m, e["path"], "kill.vmdk", {"Tags": {"team": "blue"}})
        task_id = os.readlink(os.path.join(m.path, "tasks", "kill.vmdk"))
        poll_until(lambda: endpoint.requests(op="ImportSnapshot"),
                   timeout=90, step=0.1)
        kill_dead_mount(m)
        images_now = endpoint.aws("ec2", "describe-images", "--owners",
                                  "self")["Images"]
        assert not [i for i in images_now
                    if tags_of(i).get("amifs:name") == "kill.vmdk"]
    finally:
        endpoint.set_phase_seconds(old)
    m2 = start_mount(endpoint, str(tmp_path),
                     opts="no_guest_check")
    try:
        line = read(os.path.join(m2.path, "tasks", task_id, "wait"))
        assert line.startswith("completed ami-"), line + m2.log()[-3000:]
        mine = [i for i in endpoint.aws("ec2", "describe-images", "--owners",
                                        "self")["Images"]
                if tags_of(i).get("amifs:name") == "kill.vmdk"]
        assert len(mine) == 1  # resumed, not registered twice
    finally:
        m2.unmount()


@pytest.mark.full
def test_snapshot_tasks_started_elsewhere_are_listed(endpoint, images,
                                                     tmp_path):
    """tasks/ lists import-snap-… tasks too (DescribeImportSnapshotTasks):
    status, progress, wait, source, and diagnosis for a failed one."""
    m = start_mount(endpoint, str(tmp_path))
    try:
        ids = {}
        for name, img in (("good", "vmdk"), ("bad", "ova-ustar")):
            key = m.prefix + "/cli/%s.vmdk" % name
            endpoint.aws("s3", "cp", images[img]["path"],
                         "s3://%s/%s" % (endpoint.bucket, key), json=False)
            out = endpoint.aws(
                "ec2", "import-snapshot", "--disk-container",
                "Format=VMDK,UserBucket={S3Bucket=%s,S3Key=%s}"
                % (endpoint.bucket, key))
            ids[name] = (out["ImportTaskId"], key)
        tasks = os.path.join(m.path, "tasks")
        good, key = ids["good"]
        assert good.startswith("import-snap-")
        poll_until(lambda: good in os.listdir(tasks), timeout=15)
        assert read(os.path.join(tasks, good, "source")) == \
            "s3://%s/%s\n" % (endpoint.bucket, key)
        final = read(os.path.join(tasks, good, "wait"))
        assert final.startswith("completed snap-"), final
        assert read(os.path.join(tasks, good, "progress")) == "100\n"
        bad = ids["bad"][0]
        final = read(os.path.join(tasks, bad, "wait"))
        assert final.startswith("failed ClientError: Disk validation "
                                "failed [Unsupported VMDK File Format]"), final
        assert "Cause: " in read(os.path.join(tasks, bad, "diagnosis"))
    finally:
        m.unmount()


@pytest.mark.full
def test_killed_forced_route_resumes_after_a_remount(endpoint, images,
                                                     tmp_path):
    """route=snapshot killed while its snapshots convert: no AMI yet; the
    next mount finds the first snapshot task (by its tags) and finishes."""
    e = images["ova-2disks-kernel6"]
    old = endpoint.set_phase_seconds(1.5)
    try:
        m = start_mount(endpoint, str(tmp_path), opts="route=snapshot")
        cp_in(m, e["path"], "fk.ova", {"Tags": {"team": "blue"}})
        lead = os.readlink(os.path.join(m.path, "tasks", "fk.ova"))
        kill_dead_mount(m)
        mine = [i for i in endpoint.aws("ec2", "describe-images", "--owners",
                                        "self")["Images"]
                if tags_of(i).get("amifs:name") == "fk.ova"]
        assert mine == []
    finally:
        endpoint.set_phase_seconds(old)
    m2 = start_mount(endpoint, str(tmp_path), opts="route=snapshot")
    try:
        line = read(os.path.join(m2.path, "tasks", lead, "wait"))
        assert line.startswith("completed ami-"), line + m2.log()[-3000:]
        assert os.readlink(os.path.join(m2.path, "tasks", "fk.ova")) == lead
        check_ami_shape(endpoint, line.split()[1], 2, "fk.ova")
        mine = [i for i in endpoint.aws("ec2", "describe-images", "--owners",
                                        "self")["Images"]
                if tags_of(i).get("amifs:name") == "fk.ova"]
        assert len(mine) == 1
    finally:
        m2.unmount()
