"""Conformance tests of the local AWS endpoint, checked with both AWS CLIs.

The CLIs are the independent parsers: if they accept our VM Import answers
and moto's (through our fixes), amifs' own client is tested against shapes
the official SDK accepts.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import urllib.error
import urllib.request

import pytest

from endpoint_fixtures import AwsCliError
from shared_fixtures import bucket_read_policy, vmimport_trust

HERE = os.path.dirname(os.path.abspath(__file__))

CLIS = ["v1", "v2"]
ROLE_MSG = ("The service role %s provided does not exist or does not have "
            "sufficient permissions")


def upload(ep, path, key, cli="v1"):
    ep.aws("s3", "cp", "--only-show-errors", path,
           "s3://%s/%s" % (ep.bucket, key), cli=cli, json=False)


def import_image(ep, key, fmt, cli="v1", extra=(), bucket=None, check=True):
    cont = "Format=%s,UserBucket={S3Bucket=%s,S3Key=%s}" % (
        fmt, bucket or ep.bucket, key)
    return ep.aws("ec2", "import-image", "--disk-containers", cont,
                  *extra, cli=cli, check=check)


def describe(ep, task_ids, cli="v1"):
    r = ep.aws("ec2", "describe-import-image-tasks", "--import-task-ids",
               *task_ids, cli=cli)
    return r["ImportImageTasks"]


def expect_error(fn, code, message=None):
    with pytest.raises(AwsCliError) as ei:
        fn()
    assert "(%s)" % code in ei.value.stderr, ei.value.stderr
    if message:
        assert message in ei.value.stderr, ei.value.stderr
    return ei.value


PHASES = ["pending", "validating", "validated", "converting", "updating",
          "updated", "preparing to boot", "booting", "booted",
          "preparing ami"]


# ------------------------------------------------------------ VM Import --

@pytest.mark.parametrize("cli", CLIS)
def test_import_ova_completes_with_ami(endpoint, images, cli):
    key = "it/%s/vm.ova" % cli
    upload(endpoint, images["ova-ustar"]["path"], key, cli)
    # Long phases, walked one at a time below (step_task): every phase is
    # seen, in order, whatever the load (a 0.3 s phase can pass unseen).
    old = endpoint.set_phase_seconds(600)
    try:
        r = import_image(endpoint, key, "ova", cli, extra=[
            "--description", "amifs import of vm.ova",
            "--tag-specifications", "ResourceType=import-image-task,"
            "Tags=[{Key=amifs:source,Value=vm.ova}]"])
    finally:
        endpoint.set_phase_seconds(old)
    tid = r["ImportTaskId"]
    assert tid.startswith("import-ami-") and len(tid) == len("import-ami-") + 17
    assert r["Status"] == "active" and r["StatusMessage"] == "pending"
    assert r["Tags"] == [{"Key": "amifs:source", "Value": "vm.ova"}]
    assert r["SnapshotDetails"][0]["UserBucket"]["S3Key"] == key
    summary, seen = endpoint.step_task(tid)
    assert seen == [("active", p) for p in PHASES] + [("completed", None)], \
        seen
    t = describe(endpoint, [tid], cli)[0]
    assert t["Status"] == "completed" and t["Tags"] == r["Tags"]
    ami = t["ImageId"]
    snaps = [d["SnapshotId"] for d in t["SnapshotDetails"]]
    assert t["SnapshotDetails"][0]["Format"] == "VMDK"
    assert t["SnapshotDetails"][0]["DiskImageSize"] > 0
    imgs = endpoint.aws("ec2", "describe-images", "--image-ids", ami,
                        cli=cli)["Images"]
    assert imgs[0]["State"] == "available"
    assert imgs[0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == snaps[0]
    assert not imgs[0].get("Tags"), "import tags must stay on the task"
    s = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids",
                     *snaps, cli=cli)["Snapshots"]
    assert s[0]["Description"] == \
        "Created by AWS-VMImport service for %s" % tid
    assert s[0]["VolumeSize"] == 1 and s[0]["VolumeId"] == "vol-ffffffff"
    if cli == "v1":
        # the AMI behaves like any other in moto: tags, sharing, copy,
        # deregister (the snapshots stay, as on AWS)
        endpoint.aws("ec2", "create-tags", "--resources", ami, snaps[0],
                     "--tags", "Key=Name,Value=vm", json=False)
        endpoint.aws("ec2", "modify-image-attribute", "--image-id", ami,
                     "--launch-permission", "Add=[{UserId=111122223333}]",
                     json=False)
        copy = endpoint.aws("ec2", "copy-image", "--source-image-id", ami,
                            "--source-region", endpoint.region, "--name",
                            "copy")["ImageId"]
        endpoint.aws("ec2", "deregister-image", "--image-id", ami,
                     json=False)
        left = endpoint.aws("ec2", "describe-images", "--owners", "self")
        assert {i["ImageId"] for i in left["Images"]} >= {copy}
        assert ami not in {i["ImageId"] for i in left["Images"]}


@pytest.mark.parametrize("cli", CLIS)
def test_describe_filters_pagination_cancel(endpoint, images, cli):
    key = "pg/vm.vmdk"
    if cli == "v1":
        upload(endpoint, images["vmdk"]["path"], key)
    old = endpoint.set_phase_seconds(3.0)   # slow enough to cancel
    try:
        slow = import_image(endpoint, key, "vmdk", cli)["ImportTaskId"]
    finally:
        endpoint.set_phase_seconds(old)
    fast = import_image(endpoint, key, "vmdk", cli)["ImportTaskId"]
    ids = [slow, fast]
    c = endpoint.aws("ec2", "cancel-import-task", "--import-task-id", slow,
                     "--cancel-reason", "test cancel", cli=cli)
    assert c == {"ImportTaskId": slow, "PreviousState": "active",
                 "State": "deleting"}
    page = endpoint.aws("ec2", "describe-import-image-tasks",
                        "--import-task-ids", *ids, "--max-results", "1",
                        "--no-paginate", cli=cli)
    assert len(page["ImportImageTasks"]) == 1 and page.get("NextToken")
    assert page["ImportImageTasks"][0]["Status"] in ("deleting", "deleted")
    allp = endpoint.aws("ec2", "describe-import-image-tasks",
                        "--import-task-ids", *ids, "--page-size", "1",
                        cli=cli)            # the CLI follows NextToken
    assert [t["ImportTaskId"] for t in allp["ImportImageTasks"]] == ids
    t, seen = endpoint.wait_task(slow)
    assert seen[-1] == ("deleted", "test cancel"), seen
    endpoint.wait_task(fast)
    done = endpoint.aws("ec2", "describe-import-image-tasks", "--filters",
                        "Name=task-state,Values=completed", cli=cli)
    done_ids = {x["ImportTaskId"] for x in done["ImportImageTasks"]}
    assert fast in done_ids and slow not in done_ids
    if cli == "v1":
        deleted = endpoint.aws("ec2", "describe-import-image-tasks",
                               "--filters",
                               "Name=task-state,Values=deleted,deleting")
        assert slow in {x["ImportTaskId"]
                        for x in deleted["ImportImageTasks"]}
        expect_error(lambda: describe(endpoint,
                                      ["import-ami-0123456789abcdef0"]),
                     "InvalidConversionTaskId.Malformed")
    expect_error(lambda: endpoint.aws("ec2", "cancel-import-task",
                                      "--import-task-id", fast, cli=cli),
                 "IncorrectState")


@pytest.mark.parametrize("cli", CLIS)
def test_import_snapshot(endpoint, images, cli):
    key = "snap/disk.raw"
    if cli == "v1":
        upload(endpoint, images["raw"]["path"], key)
    r = endpoint.aws("ec2", "import-snapshot", "--description", "data disk",
                     "--disk-container",
                     "Format=RAW,UserBucket={S3Bucket=%s,S3Key=%s}"
                     % (endpoint.bucket, key), cli=cli)
    tid = r["ImportTaskId"]
    assert tid.startswith("import-snap-")
    assert r["SnapshotTaskDetail"]["Status"] == "active"
    summary, seen = endpoint.wait_task(tid)
    assert summary["status"] == "completed", seen
    d = endpoint.aws("ec2", "describe-import-snapshot-tasks",
                     "--import-task-ids", tid, cli=cli)
    det = d["ImportSnapshotTasks"][0]["SnapshotTaskDetail"]
    assert det["Status"] == "completed", det
    assert det["DiskImageSize"] == os.path.getsize(images["raw"]["path"])
    assert det["SnapshotId"] == summary["snapshot_ids"][0]
    s = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids",
                     det["SnapshotId"], cli=cli)["Snapshots"][0]
    assert s["Description"].endswith(tid)
    if cli == "v2":
        expect_error(lambda: endpoint.aws(
            "ec2", "import-snapshot", "--disk-container",
            "Format=OVA,UserBucket={S3Bucket=%s,S3Key=%s}"
            % (endpoint.bucket, key), cli=cli),
            "InvalidParameter", "invalid format")


BAD = [("bad-not-tar", "ova",
        "ClientError: Disk validation failed [Unsupported OVA format]"),
       ("bad-vmdk-sparse", "vmdk", "ClientError: Disk validation failed "
        "[Unsupported VMDK File Format]"),
       ("bad-ova-sparse", "ova", "ClientError: Disk validation failed "
        "[Unsupported VMDK File Format]"),
       ("bad-raw-no-table", "raw",
        "ClientError: No valid partitions. Not a valid volume."),
       ("vmdk-no-os", "vmdk", "ClientError: Unknown OS / Missing OS files.")]


def test_bad_images_end_deleted(endpoint, images, tmp_path):
    stage = tmp_path / "bad"
    stage.mkdir()
    images.build([name for name, _, _ in BAD])      # one mkimages run
    for name, _, _ in BAD:
        path = images[name]["path"]
        os.link(path, str(stage / os.path.basename(path)))
    endpoint.aws("s3", "cp", "--only-show-errors", "--recursive", str(stage),
                 "s3://%s/bad/" % endpoint.bucket, json=False)
    started = []
    for i, (name, fmt, msg) in enumerate(BAD):
        key = "bad/" + os.path.basename(images[name]["path"])
        # the first one runs with slow phases so "deleting" is seen for sure
        old = endpoint.set_phase_seconds(1.5) if i == 0 else None
        try:
            tid = import_image(endpoint, key, fmt)["ImportTaskId"]
        finally:
            if old is not None:
                endpoint.set_phase_seconds(old)
        started.append((tid, name, msg))
        if i == 0:
            t, seen = endpoint.wait_task(tid)
            assert seen[-2:] == [("deleting", msg), ("deleted", msg)], seen
    for tid, name, msg in started:
        t, seen = endpoint.wait_task(tid)
        assert seen[-1] == ("deleted", msg), (name, seen)
        assert not t["image_id"]
    ids = [tid for tid, _, _ in started]
    for cli in CLIS:
        got = {t["ImportTaskId"]: t for t in describe(endpoint, ids, cli)}
        for tid, name, msg in started:
            assert got[tid]["Status"] == "deleted"
            assert got[tid]["StatusMessage"] == msg, name
            assert not got[tid].get("ImageId")


# ------------------------------------------------- synchronous checks ----

def _admin(ep, *args):
    return ep.aws(*args, env=ep.admin_env())


@pytest.fixture(scope="module")
def roles(endpoint):
    """Extra service roles: bad trust, no access to the bucket, and one for
    us-west-2's bucket."""
    trust = vmimport_trust()
    bad_trust = vmimport_trust(external_id=None)
    policy = bucket_read_policy
    for name, tr, bucket in (("vmimport-badtrust", bad_trust, endpoint.bucket),
                             ("vmimport-nobucket", trust, "some-other"),
                             ("vmimport-west", trust, "amifs-other-region")):
        _admin(endpoint, "iam", "create-role", "--role-name", name,
               "--assume-role-policy-document", json.dumps(tr))
        endpoint.aws("iam", "put-role-policy", "--role-name", name,
                     "--policy-name", "vmimport", "--policy-document",
                     json.dumps(policy(bucket)), env=endpoint.admin_env(),
                     json=False)
    return True


@pytest.mark.parametrize("cli", CLIS)
def test_role_and_bucket_checks(endpoint, images, roles, cli):
    key = "roles/vm.vmdk"
    if cli == "v1":
        upload(endpoint, images["vmdk"]["path"], key)
    for role in ("vmimport-badtrust", "vmimport-nobucket", "nosuchrole"):
        expect_error(lambda: import_image(endpoint, key, "vmdk", cli,
                                          extra=["--role-name", role]),
                     "InvalidParameter", ROLE_MSG % role)
    expect_error(lambda: import_image(endpoint, key, "qcow2", cli),
                 "InvalidParameter",
                 "Parameter disk-image-size=0 has an invalid format")
    if cli == "v1":
        expect_error(lambda: import_image(endpoint, "roles/missing.vmdk",
                                          "vmdk"), "InvalidParameter")
        expect_error(lambda: import_image(endpoint, key, "vmdk", extra=[
            "--kms-key-id", "alias/x"]), "InvalidParameterDependency")
        expect_error(lambda: import_image(endpoint, key, "vmdk", extra=[
            "--boot-mode", "bios"]), "InvalidParameterValue")


def test_regions(endpoint, images, roles):
    """The bucket must be in the task's region; tasks live in the region of
    the request's credential scope."""
    west = dict(endpoint.env, AWS_DEFAULT_REGION="us-west-2",
                AWS_REGION="us-west-2")
    endpoint.aws("s3", "cp", "--only-show-errors", images["vmdk"]["path"],
                 "s3://amifs-other-region/vm.vmdk", env=west, json=False)
    loc = endpoint.aws("s3api", "get-bucket-location", "--bucket",
                       "amifs-other-region", cli="v2")
    assert loc["LocationConstraint"] == "us-west-2"
    for cli in CLIS:
        expect_error(lambda: import_image(
            endpoint, "vm.vmdk", "vmdk", cli, bucket="amifs-other-region",
            extra=["--role-name", "vmimport-west"]), "InvalidParameter",
            "The given S3 bucket is not local to the region")
    r = endpoint.aws("ec2", "import-image", "--role-name", "vmimport-west",
                     "--disk-containers", "Format=VMDK,UserBucket={S3Bucket="
                     "amifs-other-region,S3Key=vm.vmdk}", env=west)
    tid = r["ImportTaskId"]
    summary, seen = endpoint.wait_task(tid)
    assert summary["status"] == "completed" and \
        summary["region"] == "us-west-2", seen
    east = endpoint.aws("ec2", "describe-import-image-tasks", cli="v2")
    assert tid not in {t["ImportTaskId"] for t in east["ImportImageTasks"]}
    west_t = endpoint.aws("ec2", "describe-import-image-tasks",
                          "--import-task-ids", tid, env=west, cli="v2")
    ami = west_t["ImportImageTasks"][0]["ImageId"]
    imgs = endpoint.aws("ec2", "describe-images", "--image-ids", ami,
                        env=west)["Images"]
    assert imgs[0]["ImageId"] == ami


@pytest.mark.parametrize("cli", CLIS)
def test_client_token_idempotency(endpoint, images, cli):
    key = "tok/vm.vmdk"
    if cli == "v1":
        upload(endpoint, images["vmdk"]["path"], key)
    tok = ["--client-token", "amifs-token-" + cli]
    a = import_image(endpoint, key, "vmdk", cli, extra=tok)
    b = import_image(endpoint, key, "vmdk", cli, extra=tok)
    assert a["ImportTaskId"] == b["ImportTaskId"]
    expect_error(lambda: import_image(endpoint, key, "vmdk", cli, extra=tok + [
        "--description", "different"]), "IdempotentParameterMismatch")
    log = endpoint.requests(op="ImportImage")
    assert sum(r["client_token"] == "amifs-token-" + cli for r in log) == 3


# ------------------------------------------------------------- auth -----

@pytest.mark.parametrize("cli", CLIS)
def test_wrong_secret_rejected(endpoint, cli):
    env = dict(endpoint.env, AWS_SECRET_ACCESS_KEY="wrong" * 8)
    expect_error(lambda: endpoint.aws("s3api", "list-objects-v2", "--bucket",
                                      endpoint.bucket, env=env, cli=cli),
                 "SignatureDoesNotMatch")
    expect_error(lambda: endpoint.aws("ec2", "describe-import-image-tasks",
                                      env=env, cli=cli), "AuthFailure")
    expect_error(lambda: endpoint.aws(
        "ec2", "import-image", "--disk-containers",
        "Format=vmdk,UserBucket={S3Bucket=b,S3Key=k}", env=env, cli=cli),
        "AuthFailure")
    expect_error(lambda: endpoint.aws("ec2", "describe-images", env=env,
                                      cli=cli), "AuthFailure")


def test_unsigned_request_is_access_denied(endpoint):
    for url in ("/%s/x" % endpoint.bucket, "/"):
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(endpoint.url + url, timeout=10)
        assert ei.value.code == 403
        assert b"<Code>AccessDenied</Code>" in ei.value.read()


def test_policy_is_enforced(endpoint, images):
    """A user without ec2:ImportImage is refused (moto's IAM evaluation
    also guards our own actions)."""
    env = endpoint.admin_env()
    endpoint.aws("iam", "create-user", "--user-name", "no-import", env=env)
    endpoint.aws("iam", "put-user-policy", "--user-name", "no-import",
                 "--policy-name", "p", "--policy-document", json.dumps({
                     "Version": "2012-10-17", "Statement": [{
                         "Effect": "Allow",
                         "Action": "ec2:DescribeImportImageTasks",
                         "Resource": "*"}]}), env=env, json=False)
    k = endpoint.aws("iam", "create-access-key", "--user-name", "no-import",
                     env=env)["AccessKey"]
    env2 = dict(endpoint.env, AWS_ACCESS_KEY_ID=k["AccessKeyId"],
                AWS_SECRET_ACCESS_KEY=k["SecretAccessKey"])
    endpoint.aws("ec2", "describe-import-image-tasks", env=env2)
    expect_error(lambda: endpoint.aws(
        "ec2", "import-image", "--disk-containers",
        "Format=vmdk,UserBucket={S3Bucket=b,S3Key=k}", env=env2),
        "AccessDenied")


# -------------------------------------------------------------- S3 -------

KEYS = ["dir/plain.bin", "dir/a b.bin", "dir/a+b.bin", "dir/100%.bin",
        "dir/ünï cødé.bin", "dir/sub/deep.bin", "top.bin"]


@pytest.mark.parametrize("cli", CLIS)
def test_s3_odd_keys_and_delimiter(endpoint, tmp_path, cli):
    """Keys with space, '+', '%', non-ASCII, and ListObjectsV2 with
    delimiter/prefix: all signed, all must pass moto's signature check."""
    src = tmp_path / "src"
    for k in KEYS:
        (src / k).parent.mkdir(parents=True, exist_ok=True)
        (src / k).write_bytes(os.urandom(1000) + k.encode())
    prefix = "keys-%s/" % cli
    url = "s3://%s/%s" % (endpoint.bucket, prefix)
    endpoint.aws("s3", "cp", "--only-show-errors", "--recursive", str(src),
                 url, cli=cli, json=False)
    r = endpoint.aws("s3api", "list-objects-v2", "--bucket", endpoint.bucket,
                     "--prefix", prefix + "dir/", "--delimiter", "/", cli=cli)
    got = sorted(c["Key"][len(prefix):] for c in r.get("Contents", []))
    assert got == sorted(k for k in KEYS if k.startswith("dir/")
                         and "/" not in k[4:])
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == \
        [prefix + "dir/sub/"]
    back = tmp_path / "back"
    endpoint.aws("s3", "cp", "--only-show-errors", "--recursive", url,
                 str(back), cli=cli, json=False)
    for k in KEYS:
        assert (back / k).read_bytes() == (src / k).read_bytes(), k
    k = prefix + "dir/a+b.bin"
    h = endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                     "--key", k, cli=cli)
    assert h["ETag"].strip('"') == hashlib.md5(
        (src / "dir/a+b.bin").read_bytes()).hexdigest()


def test_s3_integrity_checks(endpoint, tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"hello world\n" * 100)
    b = endpoint.bucket
    expect_error(lambda: endpoint.aws(
        "s3api", "put-object", "--bucket", b, "--key", "md5.bin", "--body",
        str(f), "--content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==", cli="v2"),
        "BadDigest")
    expect_error(lambda: endpoint.aws(
        "s3api", "put-object", "--bucket", b, "--key", "md5.bin", "--body",
        str(f), "--content-md5", "bm90MTZieXRlcw==", cli="v2"),
        "InvalidDigest")
    expect_error(lambda: endpoint.aws(
        "s3api", "put-object", "--bucket", b, "--key", "crc.bin", "--body",
        str(f), "--checksum-crc32", "AAAAAA==", cli="v1"), "BadDigest")
    ok = endpoint.aws("s3api", "put-object", "--bucket", b, "--key",
                      "crc.bin", "--body", str(f), "--checksum-algorithm",
                      "SHA256", cli="v1")
    assert ok["ETag"]
    up = endpoint.aws("s3api", "create-multipart-upload", "--bucket", b,
                      "--key", "mpu.bin")["UploadId"]
    endpoint.aws("s3api", "abort-multipart-upload", "--bucket", b, "--key",
                 "mpu.bin", "--upload-id", up, json=False)
    for cli in CLIS:
        expect_error(lambda: endpoint.aws(
            "s3api", "upload-part", "--bucket", b, "--key", "mpu.bin",
            "--upload-id", up, "--part-number", "1", "--body", str(f),
            cli=cli), "NoSuchUpload")
    statuses = [(r["op"], r["status"]) for r in endpoint.requests()
                if r["op"] in ("PutObject", "UploadPart")
                and r["path"].endswith(("md5.bin", "crc.bin", "mpu.bin"))]
    assert ("PutObject", 400) in statuses and ("UploadPart", 404) in statuses


# ------------------------------------------------------------ faults ----

def test_faults_fire_and_clis_retry(endpoint, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1000 * 1000))
    try:
        endpoint.set_faults([
            {"service": "s3", "op": "UploadPart", "action": "503",
             "count": 2},
            {"service": "s3", "op": "CompleteMultipartUpload",
             "action": "500", "count": 1},
            {"service": "ec2", "op": "DescribeImportImageTasks",
             "action": "throttle", "count": 1},
            {"service": "s3", "op": "PutObject", "action": "drop",
             "count": 1},
            {"service": "s3", "op": "HeadObject", "action": "delay",
             "delay_ms": 300, "count": 1}])
        m = endpoint.mark()
        for cli in CLIS:
            upload(endpoint, str(big), "faults/big-%s.bin" % cli, cli)
        small = tmp_path / "small.bin"
        small.write_bytes(b"x" * 1000)
        upload(endpoint, str(small), "faults/small.bin")
        endpoint.aws("ec2", "describe-import-image-tasks")
        t0 = time.time()
        endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                     "--key", "faults/small.bin")
        assert time.time() - t0 >= 0.3
        log = endpoint.requests(since=m)
        fired = [(r["op"], r["fault"], r["status"]) for r in log
                 if r["fault"]]
        assert fired.count(("UploadPart", "503", 503)) == 2, fired
        assert ("CompleteMultipartUpload", "500", 500) in fired
        assert ("DescribeImportImageTasks", "throttle", 503) in fired
        assert ("PutObject", "drop", None) in fired
        assert ("HeadObject", "delay", 200) in fired
        assert all(r["fired"] >= 1 for r in endpoint.faults())
    finally:
        endpoint.clear_faults()
    dst = tmp_path / "back.bin"
    endpoint.aws("s3", "cp", "--only-show-errors",
                 "s3://%s/faults/big-v2.bin" % endpoint.bucket, str(dst),
                 json=False)
    assert dst.read_bytes() == big.read_bytes()


def test_fault_rules_are_validated(endpoint):
    with pytest.raises(urllib.error.HTTPError) as ei:
        endpoint.set_faults([{"action": "explode"}])
    assert ei.value.code == 400
    assert endpoint.faults() == []


def test_request_log_classifies_s3_ops(endpoint, tmp_path):
    m = endpoint.mark()
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    b = endpoint.bucket
    upload(endpoint, str(f), "log/f.bin")
    endpoint.aws("s3api", "list-multipart-uploads", "--bucket", b)
    endpoint.aws("s3api", "copy-object", "--bucket", b, "--key", "log/g.bin",
                 "--copy-source", "%s/log/f.bin" % b)
    endpoint.aws("s3api", "delete-object", "--bucket", b, "--key",
                 "log/g.bin")
    endpoint.aws("s3api", "list-buckets")
    ops = [r["op"] for r in endpoint.requests(since=m)]
    for op in ("PutObject", "ListMultipartUploads",
               "CopyObject", "DeleteObject", "ListBuckets"):
        assert op in ops, ops
    rec = endpoint.requests(op="PutObject", since=m)[0]
    assert rec["region"] == endpoint.region and rec["status"] == 200


# ------------------------------------------------------------ big objects --

BIG_GET_MIB = 256
BIG_GET_MIN_MBPS = 20       # a loaded 2-core box streams well over 100


def _curl_s3(endpoint, key, payload_sha):
    """The curl arguments of one SigV4-signed request for s3://bucket/KEY."""
    return ["--aws-sigv4", "aws:amz:%s:s3" % endpoint.region, "--user",
            "%s:%s" % (endpoint.env["AWS_ACCESS_KEY_ID"],
                       endpoint.env["AWS_SECRET_ACCESS_KEY"]),
            "-H", "x-amz-content-sha256: " + payload_sha,
            "%s/%s/%s" % (endpoint.url, endpoint.bucket, key)]


def _curl_put(endpoint, key, path):
    """PutObject of PATH with curl (an unsigned payload: no client-side
    hashing of a big body)."""
    p = subprocess.run(["curl", "-sS", "--fail", "-T", path] +
                       _curl_s3(endpoint, key, "UNSIGNED-PAYLOAD"),
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr


def _curl_get(endpoint, key, outs, ranges=None):
    """GET s3://bucket/KEY with curl (SigV4, one connection): one request
    per file in OUTS, each with its byte range from RANGES when given.
    Returns the wall time. curl is the client so that the time is the
    endpoint's, not a Python client's."""
    argv = ["curl", "-sS", "--fail"]
    empty_sha = hashlib.sha256(b"").hexdigest()
    for i, out in enumerate(outs):
        if i:
            argv.append("--next")
        argv += ["-o", out] + _curl_s3(endpoint, key, empty_sha)
        if ranges:
            argv += ["-r", "%d-%d" % ranges[i]]
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    return took


def _sha_of(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_big_object_gets_stream(endpoint, tmp_path):
    """issue 13: `aws s3 cp` of a 1 GiB object out of the endpoint crawled
    at 1.2 MiB/s: every ranged GET made moto read the whole object, then
    slice it (quadratic in the size). A 256 MiB object read back as the
    CLI reads it (ranged GETs of 8 MiB) and in one GET must both come at
    BIG_GET_MIN_MBPS or better, byte-identical."""
    mib = 1 << 20
    size = BIG_GET_MIB * mib
    src = tmp_path / "big.bin"
    block = os.urandom(mib)
    with open(src, "wb") as f:
        for i in range(BIG_GET_MIB):
            f.write(i.to_bytes(8, "little") + block[8:])
    want = _sha_of([str(src)])
    key = "big-get/%s.bin" % uuid.uuid4().hex[:8]
    _curl_put(endpoint, key, str(src))
    assert endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                        "--key", key)["ContentLength"] == size
    src.unlink()
    chunk = 8 * mib
    ranges = [(o, o + chunk - 1) for o in range(0, size, chunk)]
    parts = [str(tmp_path / ("part%03d" % i)) for i in range(len(ranges))]
    took = _curl_get(endpoint, key, parts, ranges)
    assert _sha_of(parts) == want
    for p in parts:
        os.unlink(p)
    rate = size / took / 1e6
    assert rate >= BIG_GET_MIN_MBPS, \
        "%d ranged GETs of 8 MiB: %.1f MB/s" % (len(ranges), rate)
    whole = str(tmp_path / "whole")
    took = _curl_get(endpoint, key, [whole])
    assert _sha_of([whole]) == want
    rate = size / took / 1e6
    assert rate >= BIG_GET_MIN_MBPS, "one GET of the object: %.1f MB/s" % rate
    endpoint.aws("s3api", "delete-object", "--bucket", endpoint.bucket,
                 "--key", key)


# ------------------------------------------------- held requests ----

def endpoint_faults_module():
    sys.path.insert(0, os.path.join(HERE, "endpoint"))
    try:
        import faults
    finally:
        sys.path.pop(0)
    return faults


class _Info:
    def __init__(self, op, part=None):
        self.service, self.op, self.method = "s3", op, "PUT"
        self.path, self.query = "/b/k", ""
        self.qs = {"partNumber": [str(part)]} if part else {}


def test_rules_match_a_part_number_or_the_kth_request():
    fm = endpoint_faults_module()
    f = fm.Faults(seed=1)
    f.replace([{"op": "UploadPart", "part_from": 3, "action": "hold"},
               {"op": "CompleteMultipartUpload", "action": "answer-lost",
                "skip": 1, "count": 1},
               {"op": "UploadPart", "part": 1, "action": "500"}])
    got = [(p, (f.pick("s3", "UploadPart", p) or {}).get("action"))
           for p in (1, 2, 3, 4)]
    assert got == [(1, "500"), (2, None), (3, "hold"), (4, "hold")]
    assert f.pick("s3", "UploadPart", None) is None      # no part number
    complete = [(f.pick("s3", "CompleteMultipartUpload") or {})
                .get("action") for _ in range(3)]
    assert complete == [None, "answer-lost", None]       # the 2nd only
    for bad in ({"action": "hold", "when": "later"},
                {"action": "hold", "part": 0}, {"action": "500", "skip": -1}):
        with pytest.raises(fm.FaultError):
            f.replace([bad])


def test_a_held_request_waits_for_release_or_its_client():
    import socket
    import threading
    fm = endpoint_faults_module()
    holds = fm.Holds()
    a, b = socket.socketpair()
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "how", holds.wait(_Info("UploadPart", 7), a, "before")))
    t.start()
    deadline = time.time() + 10
    while not holds.list() and time.time() < deadline:
        time.sleep(0.01)
    [h] = holds.list()
    assert (h["op"], h["part"], h["when"]) == ("UploadPart", 7, "before")
    assert holds.release(op="CompleteMultipartUpload") == 0
    assert holds.release(hid=h["id"], how="drop") == 1
    t.join(10)
    assert out["how"] == "drop" and holds.list() == []
    # The client goes away: the hold ends by itself, "gone".
    t = threading.Thread(target=lambda: out.update(
        how2=holds.wait(_Info("CompleteMultipartUpload"), a, "after")))
    t.start()
    while not holds.list() and time.time() < deadline:
        time.sleep(0.01)
    b.close()
    t.join(10)
    assert out["how2"] == "gone" and holds.list() == []
    a.close()


def test_hold_and_answer_lost_through_the_cli(endpoint, tmp_path):
    """A held UploadPart is performed only when released; a Complete whose
    answer is lost was performed (the object exists) though the client
    failed."""
    b, key = endpoint.bucket, "held/obj-%d" % os.getpid()
    part = tmp_path / "part"
    part.write_bytes(os.urandom(1000))
    up = endpoint.aws("s3api", "create-multipart-upload", "--bucket", b,
                      "--key", key)["UploadId"]
    try:
        endpoint.set_faults([
            {"service": "s3", "op": "UploadPart", "part": 1,
             "action": "hold"},
            {"service": "s3", "op": "CompleteMultipartUpload",
             "action": "answer-lost", "count": 1}])
        m = endpoint.mark()
        exe = endpoint.clis["v1"]
        cli = subprocess.Popen(
            [exe, "--endpoint-url", endpoint.url, "s3api", "upload-part",
             "--bucket", b, "--key", key, "--upload-id", up,
             "--part-number", "1", "--body", str(part), "--output", "json"],
            env=dict(endpoint.env, AWS_MAX_ATTEMPTS="1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        [h] = endpoint.wait_held("UploadPart", alive=lambda: cli.poll()
                                 is None)
        assert h["part"] == 1 and endpoint.requests("UploadPart", m) == []
        assert endpoint.release(op="UploadPart") == 1
        out, err = cli.communicate(timeout=120)
        assert cli.returncode == 0, err
        etag = json.loads(out)["ETag"]
        [rec] = endpoint.requests("UploadPart", m)
        assert (rec["fault"], rec["status"], rec["part"]) == \
            ("hold", 200, 1)
        parts = json.dumps({"Parts": [{"ETag": etag, "PartNumber": 1}]})
        p = endpoint.aws("s3api", "complete-multipart-upload", "--bucket",
                         b, "--key", key, "--upload-id", up,
                         "--multipart-upload", parts, check=False,
                         json=False,
                         env=dict(endpoint.env, AWS_MAX_ATTEMPTS="1"))
        assert p.returncode != 0          # the answer never came
        [rec] = endpoint.requests("CompleteMultipartUpload", m)
        assert (rec["fault"], rec["status"], rec["performed"]) == \
            ("answer-lost", None, True)
    finally:
        endpoint.clear_faults()
        endpoint.release(how="drop")
    head = endpoint.aws("s3api", "head-object", "--bucket", b, "--key", key)
    assert head["ContentLength"] == 1000   # S3 did complete it
