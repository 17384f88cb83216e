"""The way back out on a real mount (doc/design/exports.md): mkdir
amis/ami-X/export-to/FORMAT calls ExportImage, exports/ID/ shows the task
(status, progress, wait, source, diagnosis, file), rm -r cancels, and a
daemon killed mid-export leaves a task the next mount shows."""
import errno
import os
import subprocess
import uuid

import pytest

from shared_fixtures import kill_dead_mount, make_ami, poll_until, read


@pytest.fixture(scope="module")
def vmdk(images):
    return images["vmdk"]["path"]


def errors_of(m):
    return read(os.path.join(m.path, ".amifs", "errors"))


def start_export(m, ami, fmt="vmdk"):
    d = os.path.join(m.path, "amis", ami, "export-to", fmt)
    os.mkdir(d)
    link = os.readlink(os.path.join(d, "task"))
    tid = os.path.basename(link)
    assert link == "../../../../exports/" + tid and \
        tid.startswith("export-ami-"), link
    return tid


def test_export_to_vmdk_end_to_end(endpoint, vmdk, mount_factory, tmp_path):
    ami, _ = make_ami(endpoint, vmdk, "export-%s" % uuid.uuid4().hex[:6])
    m = mount_factory("cache_ttl=0")
    assert "exports" in os.listdir(m.path)
    assert "export-to" in os.listdir(os.path.join(m.path, "amis", ami))
    tid = start_export(m, ami)
    d = os.path.join(m.path, "exports", tid)
    assert tid in os.listdir(os.path.join(m.path, "exports"))
    assert os.listdir(os.path.join(m.path, "amis", ami, "export-to")) == \
        ["vmdk"]
    key = "amifs-exports/%s.vmdk" % tid
    status = read(os.path.join(d, "wait"))
    assert status == "completed: s3://%s/%s\n" % (endpoint.bucket, key)
    assert read(os.path.join(d, "status")) == status
    assert read(os.path.join(d, "progress")) == "100\n"
    assert read(os.path.join(d, "source")) == (
        "image: %s\nformat: VMDK\nobject: s3://%s/%s\n"
        % (ami, endpoint.bucket, key))
    assert sorted(os.listdir(d)) == ["file", "progress", "source",
                                     "status", "wait"]
    assert os.readlink(os.path.join(d, "file")) == \
        "../../buckets/%s/%s" % (endpoint.bucket, key)
    # the exported disk, read through buckets/, is the imported one
    out = str(tmp_path / "back.vmdk")
    subprocess.run(["cp", os.path.join(d, "file"), out], check=True)
    c = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "vmdk",
                        vmdk, out], capture_output=True, text=True)
    assert c.returncode == 0, c.stdout + c.stderr
    # AWS sees the same task (the independent client)
    t = endpoint.aws("ec2", "describe-export-image-tasks",
                     "--export-image-task-ids", tid)["ExportImageTasks"][0]
    assert t["ImageId"] == ami and t["S3ExportLocation"]["S3Prefix"] == \
        "amifs-exports/"
    # an ended export is history: rm -r refuses and says why
    with pytest.raises(OSError) as ei:
        os.rmdir(d)
    assert ei.value.errno == errno.EPERM
    assert "the export has ended (completed)" in errors_of(m)


def test_export_refusals_say_why(endpoint, vmdk, mount_factory):
    ami, snaps = make_ami(endpoint, vmdk, "noexp-%s" % uuid.uuid4().hex[:6])
    other = endpoint.aws("ec2", "register-image", "--name",
                         "registered-%s" % uuid.uuid4().hex[:6],
                         "--root-device-name", "/dev/sda1",
                         "--block-device-mappings",
                         "DeviceName=/dev/sda1,Ebs={SnapshotId=%s}"
                         % snaps[0])["ImageId"]
    m = mount_factory("cache_ttl=0")
    mark = endpoint.mark()
    with pytest.raises(OSError) as ei:
        os.mkdir(os.path.join(m.path, "amis", other, "export-to", "vmdk"))
    assert ei.value.errno == errno.EOPNOTSUPP
    err = errors_of(m)
    assert "amis/%s/export-to/vmdk mkdir" % other in err, err
    assert "NotExportable" in err and \
        "AWS exports only AMIs that VM Import created" in err, err
    assert os.listdir(os.path.join(m.path, "amis", other, "export-to")) == []
    # formats AWS does not export are no directory at all
    with pytest.raises(OSError) as ei:
        os.mkdir(os.path.join(m.path, "amis", ami, "export-to", "qcow2"))
    assert ei.value.errno == errno.EPERM
    assert [r for r in endpoint.requests("ExportImage", since=mark)
            if r["status"] == 200] == []


def test_export_killed_daemon_then_cancel(endpoint, vmdk, mount_factory):
    """The daemon dies right after mkdir: the next mount lists the export
    (AWS has it), rm -r cancels it, nothing is written into the bucket."""
    ami, _ = make_ami(endpoint, vmdk, "exkill-%s" % uuid.uuid4().hex[:6])
    old = endpoint.set_phase_seconds(3.0)
    try:
        m = mount_factory("cache_ttl=0")
        tid = start_export(m, ami)
        kill_dead_mount(m)
        m2 = mount_factory("cache_ttl=0")
        d = os.path.join(m2.path, "exports", tid)
        assert tid in os.listdir(os.path.join(m2.path, "exports"))
        assert read(os.path.join(d, "status")).startswith("active: ")
        subprocess.run(["rm", "-r", d], check=True)
        status = read(os.path.join(d, "status"))
        assert status == "cancelled: User initiated task cancelation\n"
        assert "diagnosis" in os.listdir(d)
        assert read(os.path.join(d, "wait")) == status
        assert read(os.path.join(d, "progress")) == "0\n"
        assert "file" not in os.listdir(d)
    finally:
        endpoint.set_phase_seconds(old)
    poll_until(lambda: endpoint.tasks(tid)[0]["status"] == "deleted",
               timeout=30)
    listed = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                          endpoint.bucket, "--prefix",
                          "amifs-exports/" + tid)
    assert not listed.get("Contents"), "a cancelled export left an object"
