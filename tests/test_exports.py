"""The way back out on a real mount (doc/design/exports.md): mkdir
amis/ami-X/export-to/FORMAT calls ExportImage, exports/ID/ shows the task
(status, progress, wait, source, diagnosis, file), rm -r cancels, and a
daemon killed mid-export leaves a task the next mount shows."""
import errno
import json
import os
import shutil
import subprocess
import tarfile
import uuid

import pytest

from shared_fixtures import (cp, kill_dead_mount, make_ami, poll_until,
                             read, wait_status)

HERE = os.path.dirname(os.path.abspath(__file__))
AMIFS = os.environ.get("AMIFS_BIN") or os.path.join(
    os.environ.get("AMIFS_BUILD_DIR", os.path.join(HERE, "..", "build")),
    "fs", "amifs")


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


def disk_of_ova(ova, out):
    """Extract the (one) disk of OVA into OUT."""
    with tarfile.open(ova) as tf:
        members = tf.getmembers()
        assert members[0].name.endswith(".ovf"), [x.name for x in members]
        disk = [x for x in members if x.name.endswith(".vmdk")]
        assert len(disk) == 1
        with tf.extractfile(disk[0]) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return tf.extractfile(members[0]).read().decode()


def test_ova_round_trip_bytes_identical(endpoint, images, mount_factory,
                                        tmp_path):
    """The proof: a generated OVA goes through imports/ to an AMI, out
    through export-to/vmdk, back through exports/ID/NAME.ova; the disk
    inside is the original's, guest byte for guest byte."""
    src = images["ova-ustar"]
    m = mount_factory("cache_ttl=0")
    name = "rt-%s.ova" % uuid.uuid4().hex[:6]
    r = cp(src["path"], os.path.join(m.path, "imports", name))
    assert r.returncode == 0, r.stderr
    final = wait_status(m, name)
    assert final.startswith("completed ami-"), final
    ami = final.split()[1]
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
    img = endpoint.aws("ec2", "describe-images", "--image-ids",
                       ami)["Images"][0]
    ova_name = img["Name"] + ".ova"
    assert sorted(os.listdir(d)) == sorted(
        ["file", "progress", "source", "status", "wait", ova_name])
    assert os.readlink(os.path.join(d, "file")) == \
        "../../buckets/%s/%s" % (endpoint.bucket, key)
    # NAME.ova: its size is exact before the first read
    ova = os.path.join(d, ova_name)
    size = os.stat(ova).st_size
    local = str(tmp_path / "back.ova")
    mark = endpoint.mark()
    subprocess.run(["cp", ova, local], check=True, timeout=120)
    assert os.path.getsize(local) == size
    gets = endpoint.requests("GetObject", since=mark)
    assert gets and all(g["status"] in (200, 206) for g in gets)
    v = subprocess.run([AMIFS, "inspect", "--json", local],
                       capture_output=True, text=True, timeout=120)
    verdict = json.loads(v.stdout)
    assert v.returncode == 0 and verdict["verdict"] == "accepted", v.stdout
    assert verdict["disks"][0]["subformat"] == "streamOptimized"
    orig = str(tmp_path / "orig.vmdk")
    back = str(tmp_path / "back.vmdk")
    disk_of_ova(src["path"], orig)
    ovf = disk_of_ova(local, back)
    assert 'vmw:osType="otherLinux64Guest"' in ovf
    assert "<Name>%s</Name>" % img["Name"] in ovf
    c = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "vmdk",
                        orig, back], capture_output=True, text=True)
    assert c.returncode == 0, c.stdout + c.stderr
    # the object itself, read through buckets/, is the same disk
    c = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "vmdk",
                        orig, os.path.join(d, "file")],
                       capture_output=True, text=True)
    assert c.returncode == 0, c.stdout + c.stderr
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
    m = mount_factory("cache_ttl=60")
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
    # an export started after exports/ was listed (and cached for 60 s) is
    # there at once
    assert os.listdir(os.path.join(m.path, "exports")) is not None
    tid = start_export(m, ami)
    assert read(os.path.join(m.path, "exports", tid, "wait")).startswith(
        "completed: s3://")


def test_export_killed_daemon_then_cancel(endpoint, vmdk, mount_factory):
    """The daemon dies right after mkdir: the next mount lists the export
    (AWS has it), rm -r cancels it, nothing is written into the bucket."""
    ami, _ = make_ami(endpoint, vmdk, "exkill-%s" % uuid.uuid4().hex[:6])
    # long phases: still active when the cancel comes, however slow the
    # machine (40 s were not always enough under load)
    old = endpoint.set_phase_seconds(600)
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
    assert endpoint.tasks(tid)[0]["status"] in ("deleting", "deleted")
    listed = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                          endpoint.bucket, "--prefix",
                          "amifs-exports/" + tid)
    assert not listed.get("Contents"), "a cancelled export left an object"


def test_store_then_restore_same_bytes(endpoint, vmdk, mount_factory,
                                       tmp_path):
    """mkdir amis/ami-X/store stores the AMI in the staging bucket; the
    object shows under buckets/ with user.amifs.ami; restored, the new
    AMI's disk is the original's (exported through export-to/raw)."""
    ami, _ = make_ami(endpoint, vmdk, "store-%s" % uuid.uuid4().hex[:6])
    m = mount_factory("cache_ttl=0")
    adir = os.path.join(m.path, "amis", ami)
    assert "store" not in os.listdir(adir)
    os.mkdir(os.path.join(adir, "store"))
    assert "store" in os.listdir(adir)
    assert sorted(os.listdir(os.path.join(adir, "store"))) == \
        ["progress", "status"]
    key = ami + ".bin"
    done = "completed: s3://%s/%s\n" % (endpoint.bucket, key)
    poll_until(lambda: read(os.path.join(adir, "store", "status")) == done,
               timeout=60, step=0.3)
    assert read(os.path.join(adir, "store", "progress")) == "100\n"
    with pytest.raises(OSError) as ei:
        os.mkdir(os.path.join(adir, "store"))
    assert ei.value.errno == errno.EEXIST
    obj = os.path.join(m.path, "buckets", endpoint.bucket, key)
    assert os.path.isfile(obj)
    assert os.getxattr(obj, "user.amifs.ami").decode() == ami
    assert "user.amifs.ami" in os.listxattr(obj)
    restored = endpoint.aws("ec2", "create-restore-image-task", "--bucket",
                            endpoint.bucket, "--object-key", key, "--name",
                            "restored-%s" % ami)["ImageId"]
    tid = start_export(m, restored, "raw")
    status = read(os.path.join(m.path, "exports", tid, "wait"))
    assert status.startswith("completed: "), status
    out = str(tmp_path / "restored.raw")
    shutil.copyfile(os.path.join(m.path, "exports", tid, "file"), out)
    c = subprocess.run(["qemu-img", "compare", "-f", "vmdk", "-F", "raw",
                        vmdk, out], capture_output=True, text=True)
    assert c.returncode == 0, c.stdout + c.stderr


# ---- amifs doctor / setup: the export rights --------------------------------

def _amifs_cli(ep, *args):
    return subprocess.run([AMIFS] + list(args), capture_output=True,
                          text=True, env=ep.env, timeout=120)


def test_doctor_and_setup_export_rights(fresh_endpoint):
    """A role that may read the bucket but not write exports: doctor warns
    (imports still work, exit 0) with the exact fix; setup --yes adds the
    rights; then doctor is clean and ExportImage's role check passes."""
    ep = fresh_endpoint.bootstrap()
    b = "arn:aws:s3:::amifs-staging"
    ep.aws("iam", "put-role-policy", "--role-name", "vmimport",
           "--policy-name", "vmimport", "--policy-document", json.dumps({
               "Version": "2012-10-17", "Statement": [{
                   "Effect": "Allow", "Action": [
                       "s3:GetObject", "s3:ListBucket",
                       "s3:GetBucketLocation"],
                   "Resource": [b, b + "/*"]}]}),
           env=ep.admin_env(), json=False)
    common = ["--endpoint", ep.url, "--region", ep.region, "--bucket",
              "amifs-staging"]
    p = _amifs_cli(ep, "doctor", *common)
    assert p.returncode == 0, p.stdout + p.stderr
    warn = [l for l in p.stdout.splitlines() if l.startswith("warning: ")]
    assert ("warning: role 'vmimport' may not write exports (mkdir "
            "amis/ami-…/export-to/vmdk): it does not allow s3:PutObject on "
            "'arn:aws:s3:::amifs-staging/*'") in warn, p.stdout
    assert ("warning: role 'vmimport' may not write exports (mkdir "
            "amis/ami-…/export-to/vmdk): it does not allow s3:GetBucketAcl "
            "on 'arn:aws:s3:::amifs-staging'") in warn, p.stdout
    hints = [l for l in p.stdout.splitlines() if l.startswith("hint: ")]
    assert any("put-role-policy" in h and "s3:PutObject" in h
               for h in hints), p.stdout
    assert any("amifs setup" in h and "--yes" in h for h in hints), p.stdout
    # setup adds them (an admin's credentials: the tester may not)
    s = subprocess.run([AMIFS, "setup", *common, "--yes"],
                       capture_output=True, text=True, env=ep.admin_env(),
                       timeout=120)
    assert s.returncode == 0, s.stdout + s.stderr
    fixed = _amifs_cli(ep, "doctor", *common)
    assert fixed.returncode == 0, fixed.stdout
    assert "may not write exports" not in fixed.stdout, fixed.stdout


# ---- a symlink into imports/: import an object where it lies ---------------

def test_symlink_import_uploads_nothing(endpoint, images, mount_factory):
    tag = uuid.uuid4().hex[:6]
    key = "library/vm-%s.ova" % tag
    endpoint.aws("s3", "cp", "--only-show-errors", images["ova-ustar"]["path"],
                 "s3://%s/%s" % (endpoint.bucket, key), json=False)
    m = mount_factory("cache_ttl=0")
    name = "ln-%s.ova" % tag
    target = "../buckets/%s/%s" % (endpoint.bucket, key)
    mark = endpoint.mark()
    os.symlink(target, os.path.join(m.path, "imports", name))
    final = wait_status(m, name)
    assert final.startswith("completed ami-"), final
    for op in ("PutObject", "UploadPart", "CreateMultipartUpload",
               "CompleteMultipartUpload", "CopyObject"):
        assert endpoint.requests(op, since=mark) == [], op
    assert [r["status"] for r in endpoint.requests("ImportImage",
                                                   since=mark)] == [200]
    tid = os.readlink(os.path.join(m.path, "tasks", name))
    t = endpoint.aws("ec2", "describe-import-image-tasks",
                     "--import-task-ids", tid)["ImportImageTasks"][0]
    assert t["SnapshotDetails"][0]["UserBucket"] == {
        "S3Bucket": endpoint.bucket, "S3Key": key}
    tags = {x["Key"]: x["Value"] for x in t["Tags"]}
    assert tags["amifs:name"] == name and tags["Name"] == name
    src = read(os.path.join(m.path, "tasks", name, "source"))
    assert key in src, src
    # the object stays where it was
    endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                 "--key", key)


def test_symlink_import_refused_as_cp_would(endpoint, images, mount_factory):
    tag = uuid.uuid4().hex[:6]
    key = "library/bad-%s.ova" % tag
    endpoint.aws("s3", "cp", "--only-show-errors",
                 images["bad-not-tar"]["path"],
                 "s3://%s/%s" % (endpoint.bucket, key), json=False)
    m = mount_factory("cache_ttl=0")
    name = "bad-%s.ova" % tag
    mark = endpoint.mark()
    with pytest.raises(OSError) as ei:
        os.symlink("../buckets/%s/%s" % (endpoint.bucket, key),
                   os.path.join(m.path, "imports", name))
    assert ei.value.errno == errno.EINVAL
    status = read(os.path.join(m.path, "tasks", name, "status"))
    assert status.startswith("failed invalid OVA: "), status
    assert "diagnosis" in os.listdir(os.path.join(m.path, "tasks", name))
    assert endpoint.requests("ImportImage", since=mark) == []
    assert endpoint.requests("PutObject", since=mark) == []
    endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                 "--key", key)       # the user's object is left alone
    # a link that does not point under buckets/ says so
    with pytest.raises(OSError) as ei:
        os.symlink("/etc/passwd", os.path.join(m.path, "imports",
                                               "x-%s.ova" % tag))
    assert ei.value.errno == errno.EINVAL
    assert "the link must point at an object under buckets/" in \
        errors_of(m)


def test_symlink_restores_stored_ami(endpoint, vmdk, mount_factory):
    """ln -s onto a stored-AMI object (mkdir amis/ami-X/store) calls
    CreateRestoreImageTask: no upload, no ImportImage; the link stays in
    imports/ and tasks/NAME says completed ami-NEW. A second restore of
    the same name is EEXIST; an object that is no stored AMI is refused
    and leaves nothing."""
    tag = uuid.uuid4().hex[:6]
    ami, _ = make_ami(endpoint, vmdk, "rst-%s" % tag)
    m = mount_factory("cache_ttl=0")
    os.mkdir(os.path.join(m.path, "amis", ami, "store"))
    key = ami + ".bin"
    done = "completed: s3://%s/%s\n" % (endpoint.bucket, key)
    poll_until(lambda: read(os.path.join(m.path, "amis", ami, "store",
                                         "status")) == done,
               timeout=60, step=0.3)
    name = "restored-%s" % tag
    target = "../buckets/%s/%s" % (endpoint.bucket, key)
    link = os.path.join(m.path, "imports", name)
    mark = endpoint.mark()
    os.symlink(target, link)
    assert os.readlink(link) == target
    final = wait_status(m, name)
    assert final.startswith("completed ami-"), final
    new = final.split()[1]
    assert new != ami
    assert os.readlink(os.path.join(m.path, "tasks", name, "ami")) == \
        "../../amis/" + new
    img = endpoint.aws("ec2", "describe-images", "--image-ids",
                       new)["Images"][0]
    assert img["Name"] == name and img["State"] == "available", img
    assert [r["status"] for r in endpoint.requests(
        "CreateRestoreImageTask", since=mark)] == [200]
    for op in ("PutObject", "UploadPart", "CreateMultipartUpload",
               "ImportImage"):
        assert endpoint.requests(op, since=mark) == [], op
    assert os.path.islink(link)                 # the record stays
    # the same name again (another mount: this one shows the link)
    m2 = mount_factory("cache_ttl=0")
    with pytest.raises(OSError) as ei:
        os.symlink(target, os.path.join(m2.path, "imports", name))
    assert ei.value.errno == errno.EEXIST
    assert "an AMI named %s exists already" % name in errors_of(m2)
    assert name not in os.listdir(os.path.join(m2.path, "imports"))
    # an ami-….bin that no CreateStoreImageTask wrote
    bad = "ami-%s0000000.bin" % tag
    endpoint.aws("s3api", "put-object", "--bucket", endpoint.bucket,
                 "--key", bad, "--body", vmdk)
    with pytest.raises(OSError) as ei:
        os.symlink("../buckets/%s/%s" % (endpoint.bucket, bad),
                   os.path.join(m2.path, "imports", "bad-" + name))
    assert ei.value.errno == errno.EINVAL
    assert "is not a stored AMI" in errors_of(m2)
    assert "bad-" + name not in os.listdir(os.path.join(m2.path, "imports"))
    names = [i["Name"] for i in endpoint.aws("ec2", "describe-images",
                                             "--owners", "self")["Images"]]
    assert names.count(name) == 1 and "bad-" + name not in names
    os.unlink(link)                 # drops the record, keeps the AMI
    assert name not in os.listdir(os.path.join(m.path, "imports"))
    endpoint.aws("ec2", "describe-images", "--image-ids", new)
