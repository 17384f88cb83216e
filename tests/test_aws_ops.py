"""aws/ operations against the local endpoint (auth on), checked with the CLI.

The C side is tests/unit/aws_ops_driver (every operation as a subcommand)
and the example programs (examples/s3-ls, s3-upload, import-poll), found in
$AMIFS_BUILD_DIR (default <repo>/build). The independent checker is the AWS
CLI (endpoint.aws): object bytes, listings, uploads left behind, tasks,
tags, images, permissions, roles.
"""
import hashlib
import json
import os
import subprocess
import time
import uuid

import pytest

from shared_fixtures import vmimport_trust

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("AMIFS_BUILD_DIR", os.path.join(ROOT, "build"))
DRIVER = os.path.join(BUILD, "tests", "unit", "aws_ops_driver")
EXAMPLES = os.path.join(BUILD, "examples")
MIB = 1 << 20


def _need(path):
    if not os.access(path, os.X_OK):
        pytest.skip("%s not built (set AMIFS_BUILD_DIR)" % path)
    return path


def _env(ep, **extra):
    env = dict(ep.env, AMIFS_RETRY_BASE_MS="20")
    env.update(extra)
    return env


def drv(ep, *args, check=True, env=None, timeout=120):
    """Run the driver; returns the CompletedProcess (stdout as bytes)."""
    p = subprocess.run([_need(DRIVER)] + [str(a) for a in args],
                       capture_output=True, env=env or _env(ep),
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("aws_ops_driver %s failed (%d): %s" % (
            args[0], p.returncode, p.stderr.decode(errors="replace")[-3000:]))
    return p


def lines(p):
    return [l.split("\t") for l in p.stdout.decode().splitlines() if l]


def example(ep, name, *args, env=None, timeout=180):
    return subprocess.run([_need(os.path.join(EXAMPLES, name))] +
                          [str(a) for a in args], capture_output=True,
                          text=True, env=env or _env(ep), timeout=timeout)


def compact(doc):
    """JSON without spaces: test_form_values_with_spaces covers those."""
    return json.dumps(doc, separators=(",", ":")).encode()


def uid():
    return uuid.uuid4().hex[:10]


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def cli_get(ep, bucket, key, tmp_path):
    out = tmp_path / ("cli-" + uid())
    ep.aws("s3api", "get-object", "--bucket", bucket, "--key", key, str(out))
    return out.read_bytes()


def uploads_for(ep, bucket, key):
    r = ep.aws("s3api", "list-multipart-uploads", "--bucket", bucket,
               "--prefix", key) or {}
    return [u for u in r.get("Uploads", []) if u["Key"] == key]


# --------------------------------------------------------------- identity --

def test_sts_identity_matches_cli(endpoint):
    [[account, arn, user_id]] = lines(drv(endpoint, "sts-identity"))
    cli = endpoint.aws("sts", "get-caller-identity")
    assert (account, arn, user_id) == (cli["Account"], cli["Arn"],
                                       cli["UserId"])


def admin_env(ep):
    return _env(ep, **{k: v for k, v in ep.admin_env().items()
                       if k.startswith("AWS_")})


def test_sts_assume_role_with_explicit_source(endpoint, tmp_path):
    env = admin_env(endpoint)
    me = endpoint.aws("sts", "get-caller-identity", env=env)["Arn"]
    name = "amifs-assume-" + uid()
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": me},
        "Action": "sts:AssumeRole"}]}
    out = lines(drv(endpoint, "iam-create-role", name,
                    write(tmp_path, "t", compact(trust)), env=env))
    [[akid, exp, token]] = lines(drv(
        endpoint, "sts-assume-role", out[0][1], "amifs-test", "ext-id-1",
        env=env))
    assert akid.startswith("ASIA") and token == "token"
    assert time.time() < int(exp) <= time.time() + 3600


def test_regions_match_cli(endpoint):
    mine = {l[0] for l in lines(drv(endpoint, "regions"))}
    cli = {r["RegionName"] for r in
           endpoint.aws("ec2", "describe-regions")["Regions"]}
    assert "us-east-1" in mine and mine == cli


def test_buckets_and_location(endpoint):
    names = [l[0] for l in lines(drv(endpoint, "list-buckets"))]
    cli = [b["Name"] for b in endpoint.aws("s3api", "list-buckets")["Buckets"]]
    assert sorted(names) == sorted(cli) and endpoint.bucket in names
    [[region]] = lines(drv(endpoint, "bucket-location", endpoint.bucket))
    assert region == endpoint.region
    other = [n for n in names if n != endpoint.bucket]
    for b in other:
        want = endpoint.aws("s3api", "get-bucket-location", "--bucket",
                            b)["LocationConstraint"] or "us-east-1"
        assert lines(drv(endpoint, "bucket-location", b)) == [[want]]


# ---------------------------------------------------------------- objects --

@pytest.mark.parametrize("size", [0, 1, 5 * MIB - 1, 5 * MIB + 1])
def test_put_get_byte_identical(endpoint, tmp_path, size):
    b, key = endpoint.bucket, "ops/put-%d-%s" % (size, uid())
    data = os.urandom(size)
    [[etag]] = lines(drv(endpoint, "put", b, key, write(tmp_path, "f", data)))
    assert etag == hashlib.md5(data).hexdigest()
    assert cli_get(endpoint, b, key, tmp_path) == data
    assert drv(endpoint, "get", b, key).stdout == data
    [[hsize, hetag, _mtime, _ctype]] = lines(drv(endpoint, "head", b, key))
    assert int(hsize) == size and hetag == etag
    if size > 10:  # ranged GET, and If-Match on the right/wrong ETag
        assert drv(endpoint, "get", b, key, 3, 5).stdout == data[3:8]
        assert drv(endpoint, "get", b, key, 7, 0, etag).stdout == data[7:]
        p = drv(endpoint, "get", b, key, 0, 4, "0" * 32, check=False)
        assert p.returncode == 1 and b"412" in p.stderr


def test_multipart_20mib_small_parts(endpoint, tmp_path):
    b, key = endpoint.bucket, "ops/mpu-%s" % uid()
    data = os.urandom(20 * MIB + 12345)
    [[etag, sent]] = lines(drv(endpoint, "upload", b, key,
                               write(tmp_path, "f", data), 5, 3))
    assert int(sent) == len(data)
    assert etag.endswith("-5")
    assert cli_get(endpoint, b, key, tmp_path) == data
    head = endpoint.aws("s3api", "head-object", "--bucket", b, "--key", key)
    assert head["ETag"].strip('"') == etag
    parts = [hashlib.md5(data[i:i + 5 * MIB]).digest()
             for i in range(0, len(data), 5 * MIB)]
    assert etag == hashlib.md5(b"".join(parts)).hexdigest() + "-5"
    assert uploads_for(endpoint, b, key) == []


def test_s3_upload_example(endpoint, tmp_path):
    b = endpoint.bucket
    big = os.urandom(11 * MIB + 7)
    key = "ops/example-%s" % uid()
    p = example(endpoint, "s3-upload", "-p", 5, "-c", 2,
                write(tmp_path, "big", big), "s3://%s/%s" % (b, key))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().endswith("-3")
    assert cli_get(endpoint, b, key, tmp_path) == big
    small = b"hello amifs\n"
    p = example(endpoint, "s3-upload", write(tmp_path, "small", small),
                "s3://%s/%s.small" % (b, key))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == hashlib.md5(small).hexdigest()  # one PUT
    assert cli_get(endpoint, b, key + ".small", tmp_path) == small


SPECIAL_KEYS = ["ops/special/a b.txt", "ops/special/a+b.txt",
                "ops/special/100%.txt", "ops/special/caf\u00e9 \u2603.txt",
                "ops/special/x=1&y=2;~!*'().txt", "ops/special/dir/+ %20"]


def test_special_keys(endpoint, tmp_path):
    b = endpoint.bucket
    prefix = "ops/special-%s/" % uid()
    keys = [k.replace("ops/special/", prefix) for k in SPECIAL_KEYS]
    for i, k in enumerate(keys):
        drv(endpoint, "put", b, k, write(tmp_path, "f%d" % i, k.encode()))
    listed = endpoint.aws("s3api", "list-objects-v2", "--bucket", b,
                          "--prefix", prefix)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(keys)
    mine = [l[1] for l in lines(drv(endpoint, "ls", b, prefix)) if l[0] == "K"]
    assert sorted(mine) == sorted(keys)
    # delimiter listing: the "dir/" prefix, keys under it hidden
    ls = lines(drv(endpoint, "ls", b, prefix, "/"))
    assert [l[1] for l in ls if l[0] == "P"] == [prefix + "dir/"]
    assert len([l for l in ls if l[0] == "K"]) == len(keys) - 1
    for k in keys:  # each readable by the CLI and by us
        assert cli_get(endpoint, b, k, tmp_path) == k.encode()
        assert drv(endpoint, "get", b, k).stdout == k.encode()
    # an object the CLI wrote is readable by us
    k2 = prefix + "cli wrote + this \u00e9"
    endpoint.aws("s3api", "put-object", "--bucket", b, "--key", k2,
                 "--body", write(tmp_path, "c", b"cli"))
    assert drv(endpoint, "get", b, k2).stdout == b"cli"


BULK_PUT = r"""
import os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
b, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
keys = ["%sk%05d" % (prefix, i) for i in range(n)]
keys += ["%ssub%d/x" % (prefix, i) for i in range(3)]
with ThreadPoolExecutor(16) as ex:
    list(ex.map(lambda k: s3.put_object(Bucket=b, Key=k, Body=b"x"), keys))
"""


def test_listing_2500_keys_paginated(endpoint):
    b, prefix = endpoint.bucket, "ops/many-%s/" % uid()
    subprocess.run([endpoint.python, "-c", BULK_PUT, b, prefix, "2500"],
                   env=endpoint.env, check=True, timeout=300)
    mark = endpoint.mark()
    ls = lines(drv(endpoint, "ls", b, prefix))
    keys = [l[1] for l in ls if l[0] == "K"]
    assert len(keys) == 2503 and len(set(keys)) == 2503
    calls = endpoint.requests(op="ListObjectsV2", since=mark)
    assert len(calls) >= 3, "2503 keys need three pages"
    cli = endpoint.aws("s3api", "list-objects-v2", "--bucket", b, "--prefix",
                       prefix)["Contents"]
    assert sorted(keys) == sorted(o["Key"] for o in cli)
    ls = lines(drv(endpoint, "ls", b, prefix, "/"))
    assert len([l for l in ls if l[0] == "K"]) == 2500
    assert sorted(l[1] for l in ls if l[0] == "P") == \
        ["%ssub%d/" % (prefix, i) for i in range(3)]
    # max_keys_total stops early
    assert len(lines(drv(endpoint, "ls", b, prefix, "", 1000))) >= 1000


def test_copy_delete(endpoint, tmp_path):
    b = endpoint.bucket
    src, dst = "ops/copy-src-%s" % uid(), "ops/copy dst %s" % uid()
    data = os.urandom(6 * MIB + 3)
    drv(endpoint, "put", b, src, write(tmp_path, "f", data))
    [[etag]] = lines(drv(endpoint, "copy", b, src, b, dst))
    assert etag == hashlib.md5(data).hexdigest()
    assert cli_get(endpoint, b, dst, tmp_path) == data
    drv(endpoint, "copy-any", b, src, len(data), b, dst + "-any")
    assert cli_get(endpoint, b, dst + "-any", tmp_path) == data
    # UploadPartCopy: two ranges into a new object
    key = "ops/partcopy-%s" % uid()
    [[upload]] = lines(drv(endpoint, "mpu-create", b, key))
    [[e1]] = lines(drv(endpoint, "mpu-part-copy", b, key, upload, 1, b, src,
                       0, 5 * MIB - 1))
    [[e2]] = lines(drv(endpoint, "mpu-part-copy", b, key, upload, 2, b, src,
                       5 * MIB, len(data) - 1))
    drv(endpoint, "mpu-complete", b, key, upload, "1:" + e1, "2:" + e2)
    assert cli_get(endpoint, b, key, tmp_path) == data
    # delete, and deleting again (missing key) is fine
    drv(endpoint, "delete", b, dst)
    drv(endpoint, "delete", b, dst)
    p = endpoint.aws("s3api", "head-object", "--bucket", b, "--key", dst,
                     check=False, json=False)
    assert p.returncode != 0
    p = drv(endpoint, "head", b, dst, check=False)
    assert p.returncode == 1 and b"404" in p.stderr


def test_multipart_primitives_and_abort(endpoint, tmp_path):
    b, key = endpoint.bucket, "ops/prim-%s" % uid()
    part = os.urandom(5 * MIB)
    [[upload]] = lines(drv(endpoint, "mpu-create", b, key))
    [[e1]] = lines(drv(endpoint, "mpu-part", b, key, upload, 1,
                       write(tmp_path, "p", part)))
    assert e1 == hashlib.md5(part).hexdigest()
    assert [key, upload] in lines(drv(endpoint, "mpu-list", b, "ops/prim-"))
    assert lines(drv(endpoint, "mpu-parts", b, key, upload)) == \
        [["1", e1, str(len(part))]]
    assert [u["UploadId"] for u in uploads_for(endpoint, b, key)] == [upload]
    drv(endpoint, "mpu-abort", b, key, upload)
    assert uploads_for(endpoint, b, key) == []
    drv(endpoint, "mpu-abort", b, key, upload)  # NoSuchUpload = success


def test_uploader_abort_leaves_nothing(endpoint, tmp_path):
    b, key = endpoint.bucket, "ops/abort-%s" % uid()
    data = os.urandom(20 * MIB)
    [[word, upload, _state]] = lines(drv(
        endpoint, "upload", b, key, write(tmp_path, "f", data), 5, 2,
        12 * MIB))
    assert word == "aborted" and upload
    assert uploads_for(endpoint, b, key) == []
    p = endpoint.aws("s3api", "head-object", "--bucket", b, "--key", key,
                     check=False, json=False)
    assert p.returncode != 0


# ------------------------------------------------------------------ faults --

def test_upload_under_faults(endpoint, tmp_path):
    b, key = endpoint.bucket, "ops/faults-%s" % uid()
    data = os.urandom(64 * MIB + 99)
    endpoint.set_faults([
        {"service": "s3", "op": "UploadPart", "action": "503", "rate": 0.1},
        {"service": "s3", "action": "drop", "rate": 0.02},
    ])
    try:
        p = example(endpoint, "s3-upload", "-p", 5, "-c", 4,
                    write(tmp_path, "f", data), "s3://%s/%s" % (b, key))
    finally:
        endpoint.clear_faults()
    assert p.returncode == 0, p.stderr
    assert cli_get(endpoint, b, key, tmp_path) == data
    assert uploads_for(endpoint, b, key) == []


def test_upload_every_part_failing(endpoint, tmp_path):
    b, key = endpoint.bucket, "ops/allfail-%s" % uid()
    endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                          "action": "500"}])
    try:
        p = example(endpoint, "s3-upload", "-p", 5, "-c", 2,
                    write(tmp_path, "f", os.urandom(12 * MIB)),
                    "s3://%s/%s" % (b, key))
    finally:
        endpoint.clear_faults()
    assert p.returncode == 1
    assert "InternalError" in p.stderr
    assert uploads_for(endpoint, b, key) == []
    p = endpoint.aws("s3api", "head-object", "--bucket", b, "--key", key,
                     check=False, json=False)
    assert p.returncode != 0


# ----------------------------------------------------------------- imports --

def staged(ep, path, name):
    key = "ops/imports/%s-%s" % (uid(), name)
    drv(ep, "put", ep.bucket, key, path)
    return key


def wait_task(ep, task, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        [[tid, status, msg, _progress, image]] = lines(
            drv(ep, "describe-import-tasks", task))
        assert tid == task
        if status != "active":
            return status, msg, image
        time.sleep(0.3)
    raise AssertionError("task %s still active" % task)


def test_import_image_to_ami(endpoint, images):
    ep, b = endpoint, endpoint.bucket
    key = staged(ep, images["vmdk"]["path"], "vm.vmdk")
    token = "tok-" + uid()
    [[task, status, _m, _p, _i]] = lines(drv(
        ep, "import-image", b, key, "VMDK", token, "Name=vm.vmdk",
        "amifs:source=/mnt/vm.vmdk"))
    assert task.startswith("import-ami-") and status == "active"
    # the same ClientToken does not start a second import
    [[again, *_]] = lines(drv(ep, "import-image", b, key, "VMDK", token,
                               "Name=vm.vmdk", "amifs:source=/mnt/vm.vmdk"))
    assert again == task
    cli = ep.aws("ec2", "describe-import-image-tasks", "--import-task-ids",
                 task)["ImportImageTasks"]
    assert len(cli) == 1
    assert {t["Key"]: t["Value"] for t in cli[0]["Tags"]} == \
        {"Name": "vm.vmdk", "amifs:source": "/mnt/vm.vmdk"}
    assert cli[0]["SnapshotDetails"][0]["UserBucket"] == \
        {"S3Bucket": b, "S3Key": key}
    status, msg, ami = wait_task(ep, task)
    assert status == "completed", msg
    assert [task, "completed"] == lines(drv(
        ep, "describe-import-tasks", task))[0][:2]
    active = lines(drv(ep, "describe-import-tasks",
                       env=_env(ep, AMIFS_TASK_STATE="completed")))
    assert task in [l[0] for l in active]
    check_ami(ep, ami)


def check_ami(ep, ami):
    cli = ep.aws("ec2", "describe-images", "--owners", "self",
                 "--image-ids", ami)["Images"]
    assert len(cli) == 1
    mine = lines(drv(ep, "describe-images", ami))
    snap = cli[0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert mine == [[ami, cli[0]["State"], cli[0]["Name"], snap]]
    assert ami in [l[0] for l in lines(drv(ep, "describe-images"))]
    js = json.loads(drv(ep, "image-json", ami).stdout)
    for k in ("ImageId", "Name", "State", "OwnerId", "Public", "Architecture",
              "RootDeviceName", "CreationDate", "BootMode", "ImageLocation"):
        assert js.get(k) == cli[0].get(k), k
    assert js["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == snap
    # tags on the AMI
    drv(ep, "create-tags", ami, "env=test", "owner=amifs team + ops")
    tags = ep.aws("ec2", "describe-tags", "--filters",
                  "Name=resource-id,Values=" + ami)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == \
        {"env": "test", "owner": "amifs team + ops"}
    drv(ep, "delete-tags", ami, "env")
    tags = ep.aws("ec2", "describe-tags", "--filters",
                  "Name=resource-id,Values=" + ami)["Tags"]
    assert [t["Key"] for t in tags] == ["owner"]
    # launch permissions
    drv(ep, "modify-launch-perms", ami, "+111122223333")
    assert lines(drv(ep, "launch-perms", ami)) == [["111122223333"]]
    attr = ep.aws("ec2", "describe-image-attribute", "--image-id", ami,
                  "--attribute", "launchPermission")["LaunchPermissions"]
    assert attr == [{"UserId": "111122223333"}]
    drv(ep, "modify-launch-perms", ami, "-111122223333")
    assert lines(drv(ep, "launch-perms", ami)) == []
    # snapshot create-volume permissions
    drv(ep, "snapshot-perms", snap, "+111122223333")
    attr = ep.aws("ec2", "describe-snapshot-attribute", "--snapshot-id", snap,
                  "--attribute", "createVolumePermission")
    assert attr["CreateVolumePermissions"] == [{"UserId": "111122223333"}]
    drv(ep, "snapshot-perms", snap, "-111122223333")
    assert [[snap, "completed"]] == [l[:2] for l in lines(
        drv(ep, "describe-snapshots", snap))]
    # copy to another region, then clean everything up
    [[copy]] = lines(drv(ep, "copy-image", ep.region, ami, "us-west-2",
                         "copied-" + uid(), "tok-" + uid()))
    west = ep.aws("ec2", "describe-images", "--region", "us-west-2",
                  "--owners", "self", "--image-ids", copy)["Images"]
    assert len(west) == 1
    drv(ep, "deregister", ami)
    p = ep.aws("ec2", "describe-images", "--image-ids", ami, check=False,
               json=False)
    assert p.returncode != 0 or ami not in p.stdout
    drv(ep, "delete-snapshot", snap)
    p = ep.aws("ec2", "describe-snapshots", "--snapshot-ids", snap,
               check=False, json=False)
    assert p.returncode != 0


def test_import_poll_example(endpoint, images):
    key = staged(endpoint, images["vmdk"]["path"], "poll.vmdk")
    p = example(endpoint, "import-poll", "s3://%s/%s" % (endpoint.bucket, key),
                "VMDK")
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0].split()[1:3] == ["active", "pending"]
    assert out[-1].startswith("completed ami-")
    key = staged(endpoint, images["vmdk-no-os"]["path"], "noos.vmdk")
    p = example(endpoint, "import-poll", "s3://%s/%s" % (endpoint.bucket, key),
                "VMDK")
    assert p.returncode == 1
    assert p.stdout.splitlines()[-1] == \
        "failed ClientError: Unknown OS / Missing OS files."


def test_import_refused_synchronously(endpoint):
    p = drv(endpoint, "import-image", endpoint.bucket, "ops/no-such-key",
            "VMDK", check=False)
    assert p.returncode == 1 and b"HTTP 400" in p.stderr


def test_cancel_import(endpoint, images):
    key = staged(endpoint, images["vmdk"]["path"], "cancel.vmdk")
    [[task, *_]] = lines(drv(endpoint, "import-image", endpoint.bucket, key,
                             "VMDK"))
    drv(endpoint, "cancel-import", task)
    cli = endpoint.aws("ec2", "describe-import-image-tasks",
                       "--import-task-ids", task)["ImportImageTasks"]
    assert cli[0]["Status"] in ("deleting", "deleted")


def test_import_snapshot(endpoint, images):
    key = staged(endpoint, images["vmdk"]["path"], "snap.vmdk")
    [[task, _]] = lines(drv(endpoint, "import-snapshot", endpoint.bucket, key,
                            "VMDK", "tok-" + uid()))
    assert task.startswith("import-snap-")
    deadline = time.time() + 60
    while True:
        [[tid, status, _msg, snap]] = lines(
            drv(endpoint, "describe-snapshot-tasks", task))
        if status != "active" or time.time() > deadline:
            break
        time.sleep(0.3)
    assert tid == task and status == "completed" and snap.startswith("snap-")
    cli = endpoint.aws("ec2", "describe-import-snapshot-tasks",
                       "--import-task-ids", task)["ImportSnapshotTasks"]
    assert cli[0]["SnapshotTaskDetail"]["SnapshotId"] == snap


def test_form_values_with_spaces(endpoint, images):
    """Descriptions and tag values with spaces (every real file name has
    them) must survive the query protocol, signatures included."""
    key = staged(endpoint, images["vmdk"]["path"], "space.vmdk")
    [[task, *_]] = lines(drv(endpoint, "import-image", endpoint.bucket, key,
                             "VMDK", "", "Name=my vm 1.vmdk",
                             "note=two words + plus & 100%"))
    cli = endpoint.aws("ec2", "describe-import-image-tasks",
                       "--import-task-ids", task)["ImportImageTasks"]
    tags = {t["Key"]: t["Value"] for t in cli[0]["Tags"]}
    assert tags == {"Name": "my vm 1.vmdk",
                    "note": "two words + plus & 100%"}
    # (CreateTags with such values: test_import_image_to_ami; moto cannot
    # tag import tasks.)


# --------------------------------------------------------------------- IAM --

def test_iam_role_round_trip(endpoint, tmp_path):
    env = admin_env(endpoint)
    name = "amifs-ops-" + uid()
    trust = vmimport_trust()
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": ["arn:aws:s3:::a+b", "arn:aws:s3:::a+b/*"]}]}
    out = lines(drv(endpoint, "iam-create-role", name,
                    write(tmp_path, "trust", compact(trust)),
                    env=env))
    assert out[0][0] == name and out[0][1].endswith(":role/" + name)
    assert json.loads(out[1][0]) == trust
    drv(endpoint, "iam-put-role-policy", name, "vmimport",
        write(tmp_path, "pol", compact(policy)), env=env)
    doc = drv(endpoint, "iam-get-role-policy", name, "vmimport", env=env)
    assert json.loads(doc.stdout) == policy
    assert lines(drv(endpoint, "iam-list-role-policies", name, env=env)) == \
        [["vmimport"]]
    cli = endpoint.aws("iam", "get-role-policy", "--role-name", name,
                       "--policy-name", "vmimport", env=env)
    assert cli["PolicyDocument"] == policy
    got = lines(drv(endpoint, "iam-get-role", name, env=env))
    assert json.loads(got[1][0]) == trust
    p = drv(endpoint, "iam-get-role", "no-such-role-" + uid(), env=env,
            check=False)
    assert p.returncode == 1 and b"NoSuchEntity" in p.stderr


def test_s3_ls_example(endpoint, tmp_path):
    b, prefix = endpoint.bucket, "ops/ls-%s/" % uid()
    for k in ("a.txt", "sub/b.txt"):
        drv(endpoint, "put", b, prefix + k, write(tmp_path, "x", b"12345"))
    p = example(endpoint, "s3-ls", "s3://%s/%s" % (b, prefix))
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0].split() == ["PRE", prefix + "sub/"]
    assert out[1].split()[2:] == ["5", prefix + "a.txt"]
    p = example(endpoint, "s3-ls", "-r", "s3://%s/%s" % (b, prefix))
    assert [l.split()[-1] for l in p.stdout.splitlines()] == \
        [prefix + "a.txt", prefix + "sub/b.txt"]
    p = example(endpoint, "s3-ls")
    assert b in p.stdout.split()
