"""regions/REGION/tasks and regions/REGION/amis on a real mount: an import
started in another region with the AWS CLI is listed and followed to its
end under regions/REGION/tasks/ (read-only), and a copy made with
`mkdir amis/ami-…/copy-to/REGION` is followed as an AMI under
regions/REGION/amis/ (AWS has no task for a CopyImage)."""
import errno
import json
import os
import subprocess
import uuid

import pytest

from shared_fixtures import (bucket_read_policy, make_ami, poll_until,
                             read, vmimport_trust)

OTHER_REGION_BUCKET = "amifs-other-region"   # tests/endpoint/bootstrap.py
# A role of our own that may read the other region's bucket (the
# bootstrap's vmimport role only reads the staging bucket; left unchanged).
ROLE = "vmimport-regions-test"


@pytest.fixture(scope="module")
def role(endpoint):
    trust = vmimport_trust()
    policy = bucket_read_policy(OTHER_REGION_BUCKET)
    admin = endpoint.admin_env()
    r = endpoint.aws("iam", "create-role", "--role-name", ROLE,
                     "--assume-role-policy-document", json.dumps(trust),
                     env=admin, check=False, json=False)
    assert r.returncode == 0 or "EntityAlreadyExists" in r.stderr, r.stderr
    endpoint.aws("iam", "put-role-policy", "--role-name", ROLE,
                 "--policy-name", "vmimport", "--policy-document",
                 json.dumps(policy), env=admin, json=False)
    return ROLE


@pytest.fixture
def rmount(mount_factory):
    return mount_factory("cache_ttl=0,poll_interval=0.3")


def other_region(endpoint):
    return "us-east-2" if endpoint.region == "us-west-2" else "us-west-2"


def import_in(endpoint, role, region, path, name):
    """Upload PATH to the other region's bucket and start ImportImage there
    with the AWS CLI, tagged amifs:name=NAME; the task id."""
    key = "regions-test/%s/%s" % (uuid.uuid4().hex[:8], name)
    endpoint.aws("s3", "cp", "--only-show-errors", "--region", region, path,
                 "s3://%s/%s" % (OTHER_REGION_BUCKET, key), json=False)
    out = endpoint.aws(
        "ec2", "import-image", "--region", region, "--role-name", role,
        "--disk-containers",
        "Format=vmdk,UserBucket={S3Bucket=%s,S3Key=%s}"
        % (OTHER_REGION_BUCKET, key), "--tag-specifications",
        "ResourceType=import-image-task,Tags=[{Key=amifs:name,Value=%s}]"
        % name)
    return out["ImportTaskId"], key


def test_region_tasks_follow_an_import_of_that_region(endpoint, images,
                                                      role, rmount):
    region = other_region(endpoint)
    task_id, key = import_in(endpoint, role, region, images["vmdk"]["path"],
                             "west.vmdk")
    rdir = os.path.join(rmount.path, "regions", region)
    assert sorted(os.listdir(rdir)) == ["amis", "exports", "instances", "snapshots",
                                        "tasks"]
    tasks = os.path.join(rdir, "tasks")
    poll_until(lambda: task_id in os.listdir(tasks), timeout=15)
    # another region's task is not in the mounted region's tasks/
    assert task_id not in os.listdir(os.path.join(rmount.path, "tasks"))
    tdir = os.path.join(tasks, task_id)
    assert read(os.path.join(tdir, "source")) == "s3://%s/%s\nwest.vmdk\n" % (
        OTHER_REGION_BUCKET, key)
    # the alias from the amifs:name tag
    assert "west.vmdk" in os.listdir(tasks)
    assert os.readlink(os.path.join(tasks, "west.vmdk")) == task_id

    def ended():
        line = read(os.path.join(tdir, "status"))
        assert line.endswith("\n") and line.count("\n") == 1
        assert 0 <= int(read(os.path.join(tdir, "progress"))) <= 100
        return line if line.split()[0] in ("completed", "failed",
                                           "cancelled") else None

    final = poll_until(ended, timeout=90, step=0.2)
    cli = endpoint.aws("ec2", "describe-import-image-tasks", "--region",
                       region, "--import-task-ids",
                       task_id)["ImportImageTasks"][0]
    assert cli["Status"] == "completed", cli
    assert final == "completed %s\n" % cli["ImageId"]
    assert read(os.path.join(tdir, "progress")) == "100\n"
    doc = json.loads(read(os.path.join(tdir, "status.json")))
    assert doc["ImportTaskId"] == task_id
    assert doc["ImageId"] == cli["ImageId"]
    assert doc["AmifsStatus"] == "completed"
    assert sorted(os.listdir(tdir)) == sorted(
        ["status", "status.json", "progress", "source", "ami"])
    # ami -> ../../amis/AMI: the AMI of that region
    assert os.readlink(os.path.join(tdir, "ami")) == \
        "../../amis/" + cli["ImageId"]
    assert read(os.path.join(tdir, "ami", "state")) == "available\n"
    endpoint.aws("ec2", "deregister-image", "--region", region,
                 "--image-id", cli["ImageId"], json=False)


def test_region_tasks_are_read_only(endpoint, images, role, rmount):
    region = other_region(endpoint)
    task_id, _ = import_in(endpoint, role, region, images["vmdk"]["path"],
                           "ro.vmdk")
    tasks = os.path.join(rmount.path, "regions", region, "tasks")
    poll_until(lambda: task_id in os.listdir(tasks), timeout=15)
    tdir = os.path.join(tasks, task_id)
    with pytest.raises(PermissionError):
        open(os.path.join(tdir, "status"), "w").close()
    with pytest.raises(OSError) as e:
        os.rmdir(tdir)
    assert e.value.errno == errno.EACCES
    with pytest.raises(OSError):
        os.mkdir(os.path.join(tasks, "newdir"))
    r = subprocess.run(["rm", "-rf", tdir], capture_output=True, text=True)
    assert r.returncode != 0
    t = endpoint.aws("ec2", "describe-import-image-tasks", "--region",
                     region, "--import-task-ids",
                     task_id)["ImportImageTasks"][0]
    assert t["Status"] != "deleted" or "cancel" not in \
        t.get("StatusMessage", "").lower(), t
    assert not os.path.exists(os.path.join(tasks, "import-ami-0000dead"))
    assert not os.path.exists(os.path.join(tasks, "no-such-name"))
    assert not os.path.exists(os.path.join(tdir, "nosuchfile"))
    # let the import end before the next test's listing
    poll_until(lambda: read(os.path.join(tdir, "status")).startswith(
        "completed"), timeout=90, step=0.2)
    ami = os.path.basename(os.readlink(os.path.join(tdir, "ami")))
    endpoint.aws("ec2", "deregister-image", "--region", region,
                 "--image-id", ami, json=False)


def test_region_tasks_list_import_snapshot_tasks(endpoint, images, role,
                                                 rmount):
    """An ImportSnapshot started in another region with the AWS CLI shows
    under that region's tasks/ (not the mounted region's) and is followed
    to `completed snap-…`."""
    region = other_region(endpoint)
    key = "regions-test/%s/snap.vmdk" % uuid.uuid4().hex[:8]
    endpoint.aws("s3", "cp", "--only-show-errors", "--region", region,
                 images["vmdk"]["path"],
                 "s3://%s/%s" % (OTHER_REGION_BUCKET, key), json=False)
    task_id = endpoint.aws(
        "ec2", "import-snapshot", "--region", region, "--role-name", role,
        "--disk-container", "Format=VMDK,UserBucket={S3Bucket=%s,S3Key=%s}"
        % (OTHER_REGION_BUCKET, key))["ImportTaskId"]
    assert task_id.startswith("import-snap-")
    tasks = os.path.join(rmount.path, "regions", region, "tasks")
    poll_until(lambda: task_id in os.listdir(tasks), timeout=15)
    assert task_id not in os.listdir(os.path.join(rmount.path, "tasks"))
    tdir = os.path.join(tasks, task_id)
    assert read(os.path.join(tdir, "source")) == "s3://%s/%s\n" % (
        OTHER_REGION_BUCKET, key)
    status = os.path.join(tdir, "status")
    final = poll_until(lambda: (lambda line: line if line.split()[0] in (
        "completed", "failed", "cancelled") else None)(read(status)),
        timeout=90, step=0.2)
    detail = endpoint.aws(
        "ec2", "describe-import-snapshot-tasks", "--region", region,
        "--import-task-ids", task_id)["ImportSnapshotTasks"][0][
            "SnapshotTaskDetail"]
    assert detail["Status"] == "completed", detail
    assert final == "completed %s\n" % detail["SnapshotId"]
    assert read(os.path.join(tdir, "progress")) == "100\n"
    endpoint.aws("ec2", "delete-snapshot", "--region", region,
                 "--snapshot-id", detail["SnapshotId"], json=False)

def test_mounted_region_view_matches_tasks(endpoint, images, rmount):
    key = "regions-test/%s/here.vmdk" % uuid.uuid4().hex[:8]
    endpoint.aws("s3", "cp", "--only-show-errors", images["vmdk"]["path"],
                 "s3://%s/%s" % (endpoint.bucket, key), json=False)
    task_id = endpoint.aws(
        "ec2", "import-image", "--disk-containers",
        "Format=vmdk,UserBucket={S3Bucket=%s,S3Key=%s}"
        % (endpoint.bucket, key))["ImportTaskId"]
    here = os.path.join(rmount.path, "regions", endpoint.region, "tasks")
    poll_until(lambda: task_id in os.listdir(here), timeout=15)
    top = os.path.join(rmount.path, "tasks")
    assert task_id in os.listdir(top)
    poll_until(lambda: read(os.path.join(here, task_id, "status"))
               .startswith("completed"), timeout=90, step=0.2)
    assert read(os.path.join(here, task_id, "status")) == \
        read(os.path.join(top, task_id, "status"))


def test_copy_is_followed_under_region_amis(endpoint, images, rmount):
    region = other_region(endpoint)
    ami, _ = make_ami(endpoint, images["vmdk"]["path"], "regcopy")
    before = set(os.listdir(os.path.join(rmount.path, "regions", region,
                                         "tasks")))
    copy_to = os.path.join(rmount.path, "amis", ami, "copy-to")
    os.mkdir(os.path.join(copy_to, region))
    target = os.readlink(os.path.join(copy_to, region, "ami"))
    new = os.path.basename(target)
    assert target == "../../../../regions/%s/amis/%s" % (region, new)
    amis = os.path.join(rmount.path, "regions", region, "amis")
    assert new in os.listdir(amis)
    state = os.path.join(amis, new, "state")
    assert read(state) in ("pending\n", "available\n")
    poll_until(lambda: read(state) == "available\n", timeout=60, step=0.2)
    # a copy is no import task: regions/REGION/tasks does not change
    after = set(os.listdir(os.path.join(rmount.path, "regions", region,
                                        "tasks")))
    assert after == before
    endpoint.aws("ec2", "deregister-image", "--region", region,
                 "--image-id", new, json=False)
