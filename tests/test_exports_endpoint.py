"""The local endpoint's way back out (tests/endpoint/exports.py), checked
with the AWS CLI: ExportImage writes a real disk made from the imported
bytes, store + restore carry the snapshots' bytes, and the failures answer
as AWS documents them."""
import json
import os
import subprocess
import uuid

import pytest

from endpoint_fixtures import AwsCliError
from shared_fixtures import poll_until, vmimport_trust


def _expect(fn, code, text=None):
    with pytest.raises(AwsCliError) as ei:
        fn()
    assert "(%s)" % code in ei.value.stderr, ei.value.stderr
    if text:
        assert text in ei.value.stderr, ei.value.stderr


def imported_ami(ep, path, fmt):
    """Upload PATH, import it, wait: (ami id, snapshot ids)."""
    key = "exp-src/%s.%s" % (uuid.uuid4().hex[:8], fmt)
    ep.aws("s3", "cp", "--only-show-errors", path,
           "s3://%s/%s" % (ep.bucket, key), json=False)
    tid = ep.aws("ec2", "import-image", "--disk-containers",
                 "Format=%s,UserBucket={S3Bucket=%s,S3Key=%s}"
                 % (fmt, ep.bucket, key))["ImportTaskId"]
    s, seen = ep.wait_task(tid)
    assert s["status"] == "completed", seen
    return s["image_id"], s["snapshot_ids"]


def export(ep, ami, fmt, prefix, check=True, bucket=None, role=None):
    args = ["ec2", "export-image", "--image-id", ami, "--disk-image-format",
            fmt, "--s3-export-location",
            "S3Bucket=%s,S3Prefix=%s" % (bucket or ep.bucket, prefix)]
    if role:
        args += ["--role-name", role]
    return ep.aws(*args, check=check)


def qemu_compare(a, b, fa=None, fb=None):
    argv = ["qemu-img", "compare"]
    if fa:
        argv += ["-f", fa]
    if fb:
        argv += ["-F", fb]
    return subprocess.run(argv + [a, b], capture_output=True, text=True)


@pytest.fixture(scope="module")
def vm_ami(endpoint, images):
    """(ami, snapshots, source path): one imported VMDK for this module."""
    src = images["vmdk"]["path"]
    ami, snaps = imported_ami(endpoint, src, "vmdk")
    return ami, snaps, src


# The VMDK bytes are also compared by tests/test_exports.py's round trip
# (through a mount): the conformance variants run with --full.
FORMATS = [pytest.param("VMDK", "vmdk", marks=pytest.mark.full),
           pytest.param("RAW", "raw", marks=pytest.mark.full),
           pytest.param("VHD", "vpc", marks=pytest.mark.full)]


@pytest.mark.parametrize("fmt,qfmt", FORMATS)
def test_export_writes_real_disks(endpoint, vm_ami, tmp_path, fmt, qfmt):
    ami, _, src = vm_ami
    prefix = "exp-%s/" % uuid.uuid4().hex[:6]
    if True:
        r = export(endpoint, ami, fmt, prefix)
        tid = r["ExportImageTaskId"]
        assert tid.startswith("export-ami-") and r["Status"] == "active"
        assert r["S3ExportLocation"] == {"S3Bucket": endpoint.bucket,
                                         "S3Prefix": prefix}
        key = "%s%s.%s" % (prefix, tid, fmt.lower())
        s, seen = endpoint.wait_task(tid)
        assert s["status"] == "completed", seen
        d = endpoint.aws("ec2", "describe-export-image-tasks",
                         "--export-image-task-ids", tid)
        t = d["ExportImageTasks"][0]
        assert t["Status"] == "completed" and t["ImageId"] == ami
        out = str(tmp_path / ("out." + fmt.lower()))
        endpoint.aws("s3", "cp", "--only-show-errors",
                     "s3://%s/%s" % (endpoint.bucket, key), out, json=False)
        info = json.loads(subprocess.run(
            ["qemu-img", "info", "--output=json", "-f", qfmt, out],
            check=True, capture_output=True).stdout)
        if fmt == "VMDK":
            assert info["format-specific"]["data"]["create-type"] == \
                "streamOptimized"
        c = qemu_compare(src, out, "vmdk", qfmt)
        assert c.returncode == 0, c.stdout + c.stderr


def test_export_refusals(endpoint, vm_ami):
    ami, snaps, _ = vm_ami
    # an AMI VM Import did not make
    other = endpoint.aws("ec2", "register-image", "--name",
                         "reg-%s" % uuid.uuid4().hex[:6], "--root-device-name",
                         "/dev/sda1", "--block-device-mappings",
                         "DeviceName=/dev/sda1,Ebs={SnapshotId=%s}"
                         % snaps[0])["ImageId"]
    _expect(lambda: export(endpoint, other, "VMDK", "x/"), "NotExportable",
            "only images created by VM Import can be exported")
    _expect(lambda: export(endpoint, "ami-0123456789abcdef0", "VMDK", "x/"),
            "InvalidAMIID.NotFound")
    _expect(lambda: export(endpoint, ami, "QCOW2", "x/"),
            "InvalidParameterValue")
    _expect(lambda: export(endpoint, ami, "VMDK", "x/",
                           bucket="no-such-bucket-%s" % uuid.uuid4().hex[:6]),
            "InvalidParameter", "Insufficient permissions - please verify "
            "bucket ownership and permissions")
    # a role that may read the bucket but not write the export
    role = "vmimport-ro-%s" % uuid.uuid4().hex[:6]
    b = "arn:aws:s3:::" + endpoint.bucket
    admin = endpoint.admin_env()
    endpoint.aws("iam", "create-role", "--role-name", role,
                 "--assume-role-policy-document",
                 json.dumps(vmimport_trust()), env=admin)
    endpoint.aws("iam", "put-role-policy", "--role-name", role,
                 "--policy-name", "vmimport", "--policy-document",
                 json.dumps({"Version": "2012-10-17", "Statement": [{
                     "Effect": "Allow", "Action": [
                         "s3:GetObject", "s3:ListBucket",
                         "s3:GetBucketLocation"],
                     "Resource": [b, b + "/*"]}]}), env=admin, json=False)
    _expect(lambda: export(endpoint, ami, "VMDK", "x/", role=role),
            "InvalidParameter", "The service role %s provided does not "
            "exist or does not have sufficient permissions" % role)
    listed = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                          endpoint.bucket, "--prefix", "x/")
    assert not listed.get("Contents"), "a refused export wrote an object"


def test_export_cancel_and_expiry(endpoint, vm_ami):
    ami = vm_ami[0]
    prefix = "cx-%s/" % uuid.uuid4().hex[:6]
    # long phases: still active when the cancel comes, however slow the
    # machine (40 s were not always enough under load)
    old = endpoint.set_phase_seconds(600)
    try:
        tid = export(endpoint, ami, "RAW", prefix)["ExportImageTaskId"]
        _expect(lambda: export(endpoint, ami, "VMDK", prefix),
                "IncorrectState", "already in progress")
        endpoint.aws("ec2", "cancel-export-task", "--export-task-id", tid,
                     json=False)
        t = endpoint.aws("ec2", "describe-export-image-tasks",
                         "--export-image-task-ids", tid)["ExportImageTasks"]
        assert t[0]["Status"] in ("deleting", "deleted")
        assert t[0]["StatusMessage"] == "User initiated task cancelation"
        _expect(lambda: endpoint.aws("ec2", "cancel-export-task",
                                     "--export-task-id", tid),
                "IncorrectState")
    finally:
        endpoint.set_phase_seconds(old)
    listed = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                          endpoint.bucket, "--prefix", prefix)
    assert not listed.get("Contents"), "a cancelled export wrote an object"
    # finished tasks vanish from the list, silently (AWS: after 7 days);
    # the shortened life applies to the tasks started meanwhile only
    endpoint._control("POST", "/_amifs/config", {"task_ttl_seconds": 0.5})
    try:
        short = export(endpoint, ami, "RAW", prefix)["ExportImageTaskId"]
    finally:
        endpoint._control("POST", "/_amifs/config",
                          {"task_ttl_seconds": 7 * 24 * 3600})
    s, seen = endpoint.wait_task(short)
    assert s["status"] == "completed", seen
    poll_until(lambda: not endpoint.aws(
        "ec2", "describe-export-image-tasks", "--export-image-task-ids",
        short)["ExportImageTasks"], timeout=10)
    assert endpoint.aws("ec2", "describe-export-image-tasks",
                        "--export-image-task-ids", tid)["ExportImageTasks"]


@pytest.mark.full      # tests/test_exports.py stores and restores by default
def test_store_and_restore_keep_bytes(endpoint, vm_ami, tmp_path):
    ami, _, src = vm_ami
    r = endpoint.aws("ec2", "create-store-image-task", "--image-id", ami,
                     "--bucket", endpoint.bucket)
    assert r["ObjectKey"] == ami + ".bin"

    def done():
        t = endpoint.aws("ec2", "describe-store-image-tasks", "--image-ids",
                         ami)["StoreImageTaskResults"][0]
        return t if t["StoreTaskState"] == "Completed" else None
    t = poll_until(done, timeout=30)
    assert t["ProgressPercentage"] == 100 and t["S3objectKey"] == ami + ".bin"
    restored = endpoint.aws("ec2", "create-restore-image-task", "--bucket",
                            endpoint.bucket, "--object-key", ami + ".bin",
                            "--name", "restored-%s" % ami)["ImageId"]
    img = endpoint.aws("ec2", "describe-images", "--image-ids",
                       restored)["Images"][0]
    assert img["Name"] == "restored-%s" % ami
    # the restored AMI's snapshot holds the same bytes: export it and compare
    prefix = "rs-%s/" % uuid.uuid4().hex[:6]
    tid = export(endpoint, restored, "RAW", prefix)["ExportImageTaskId"]
    s, seen = endpoint.wait_task(tid)
    assert s["status"] == "completed", seen
    out = str(tmp_path / "restored.raw")
    endpoint.aws("s3", "cp", "--only-show-errors", "s3://%s/%s%s.raw" % (
        endpoint.bucket, prefix, tid), out, json=False)
    c = qemu_compare(src, out, "vmdk", "raw")
    assert c.returncode == 0, c.stdout + c.stderr
    # not a store object
    junk = str(tmp_path / "junk.bin")
    with open(junk, "wb") as f:
        f.write(os.urandom(4096))
    endpoint.aws("s3", "cp", "--only-show-errors", junk,
                 "s3://%s/junk-%s.bin" % (endpoint.bucket, ami), json=False)
    _expect(lambda: endpoint.aws(
        "ec2", "create-restore-image-task", "--bucket", endpoint.bucket,
        "--object-key", "junk-%s.bin" % ami, "--name", "junk"),
        "InvalidParameter", "is not a stored AMI")
