"""The AMI lifecycle on a real mount (doc/CONTRACT.md "AMI lifecycle"):
encrypted copies (copy-to/REGION@KEY, -o kms_key=), sharing encrypted
AMIs with KMS in mind (launch-permissions: aws/ebs refused with EPERM,
a customer managed key without consent refused with EACCES and the key-policy
statement, with -o share_kms_grants the grants made). Every result is
checked with the AWS CLI; refusals leave nothing behind.
"""
import errno
import json
import os
import subprocess
import threading
import uuid

import pytest

from shared_fixtures import make_ami, poll_until, read, write

OTHER = "111122223333"


@pytest.fixture(scope="module")
def vmdk(images):
    return images["vmdk"]["path"]


def new_key(ep, region=None):
    """A customer managed key with a fresh alias: (alias, key ARN)."""
    reg = ["--region", region] if region else []
    arn = ep.aws("kms", "create-key", *reg)["KeyMetadata"]["Arn"]
    alias = "alias/amifs-%s" % uuid.uuid4().hex[:10]
    ep.aws("kms", "create-alias", "--alias-name", alias, "--target-key-id",
           arn, *reg, json=False)
    return alias, arn


def snapshots_of(ep, ami, region=None):
    """DescribeSnapshots of AMI's snapshots, as the CLI sees them."""
    reg = ["--region", region] if region else []
    img = ep.aws("ec2", "describe-images", "--image-ids", ami,
                 *reg)["Images"][0]
    ids = [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]
           if "Ebs" in m]
    return ep.aws("ec2", "describe-snapshots", "--snapshot-ids", *ids,
                  *reg)["Snapshots"]


def image_ids(ep, region=None):
    reg = ["--region", region] if region else []
    return {i["ImageId"] for i in ep.aws(
        "ec2", "describe-images", "--owners", "self", *reg)["Images"]}


def errors(m):
    return read(os.path.join(m.path, ".amifs", "errors"))


@pytest.fixture(scope="module")
def src_ami(endpoint, vmdk):
    """One unencrypted imported AMI the copy tests copy from (a copy does
    not change its source)."""
    return make_ami(endpoint, vmdk, "lifecycle-src-%s" % uuid.uuid4().hex[:6])


@pytest.fixture
def fresh_mount(mount_factory):
    return mount_factory("cache_ttl=0")


# ---- 1. encrypted copies ----------------------------------------------------

def test_encrypted_copy_same_region(endpoint, src_ami, fresh_mount):
    ami, _ = src_ami
    alias, arn = new_key(endpoint)
    d = "%s@%s" % (endpoint.region, alias.replace("/", "%2F"))
    copy_to = os.path.join(fresh_mount.path, "amis", ami, "copy-to")
    os.mkdir(os.path.join(copy_to, d))
    assert os.listdir(copy_to) == [d]
    link = os.readlink(os.path.join(copy_to, d, "ami"))
    new = os.path.basename(link)
    assert new.startswith("ami-") and new != ami
    snaps = snapshots_of(endpoint, new)
    assert snaps and all(s["Encrypted"] and s["KmsKeyId"] == arn
                         for s in snaps), snaps
    # the source is untouched
    assert not any(s["Encrypted"] for s in snapshots_of(endpoint, ami))
    # a repeated mkdir starts no second copy
    mark = endpoint.mark()
    with pytest.raises(FileExistsError):
        os.mkdir(os.path.join(copy_to, d))
    assert endpoint.requests("CopyImage", since=mark) == []


@pytest.mark.full
def test_kms_key_mount_option_other_region(endpoint, src_ami, mount_factory):
    ami, _ = src_ami
    other = "us-west-2"
    alias, arn = new_key(endpoint, other)
    # the key lives in the destination region: amifs resolves it there
    m = mount_factory("cache_ttl=0,kms_key=%s" % alias)
    os.mkdir(os.path.join(m.path, "amis", ami, "copy-to", other))
    new = os.path.basename(os.readlink(
        os.path.join(m.path, "amis", ami, "copy-to", other, "ami")))
    snaps = snapshots_of(endpoint, new, other)
    assert snaps and all(s["Encrypted"] and s["KmsKeyId"] == arn
                         for s in snaps)
    # and it shows under regions/
    assert new in os.listdir(os.path.join(m.path, "regions", other, "amis"))


@pytest.mark.parametrize("name,why", [
    ("@alias%2Fno-such-key-here", "no usable KMS key"),
    pytest.param("@", "REGION@KEY", marks=pytest.mark.full),
])
def test_encrypted_copy_bad_key(endpoint, src_ami, fresh_mount, name, why):
    ami, _ = src_ami
    before = image_ids(endpoint)
    mark = endpoint.mark()
    d = os.path.join(fresh_mount.path, "amis", ami, "copy-to",
                     endpoint.region + name)
    with pytest.raises(OSError) as e:
        os.mkdir(d)
    assert e.value.errno == errno.EINVAL
    assert endpoint.requests("CopyImage", since=mark) == []
    assert image_ids(endpoint) == before
    assert not os.path.exists(d)
    assert why in errors(fresh_mount)


@pytest.mark.full
def test_encrypted_copy_daemon_killed(endpoint, src_ami, fresh_mount):
    """SIGKILL of the daemon while CopyImage is on the wire: either no copy
    (held before: never performed) or one complete encrypted copy."""
    ami, _ = src_ami
    alias, arn = new_key(endpoint)
    before = image_ids(endpoint)
    mark = endpoint.mark()
    endpoint.set_faults([{"service": "ec2", "op": "CopyImage",
                          "action": "hold"}])
    d = os.path.join(fresh_mount.path, "amis", ami, "copy-to",
                     "%s@%s" % (endpoint.region, alias.replace("/", "%2F")))
    t = threading.Thread(target=lambda: _try_mkdir(d), daemon=True)
    t.start()
    try:
        endpoint.wait_held("CopyImage",
                           alive=lambda: fresh_mount.proc.poll() is None)
        proc, fresh_mount.proc = fresh_mount.proc, None
        proc.kill()
        proc.wait()
        # the server notices the dead connection: the held request is gone
        poll_until(lambda: not endpoint.held("CopyImage"), timeout=30)
    finally:
        endpoint.clear_faults()
        endpoint.release()
        subprocess.run(["fusermount3", "-u", "-z", fresh_mount.path])
    t.join(10)
    new = image_ids(endpoint) - before
    assert len(new) <= 1
    for n in new:   # complete: every snapshot under the key
        assert all(s["Encrypted"] and s["KmsKeyId"] == arn
                   for s in snapshots_of(endpoint, n))
    assert new == set()   # held before and gone: never performed
    assert [r["fault"] for r in endpoint.requests("CopyImage", since=mark)
            ] == ["hold-before:gone"]


def _try_mkdir(d):
    try:
        os.mkdir(d)
    except OSError:
        pass


# ---- 2. sharing encrypted AMIs ----------------------------------------------

def cli_copy(ep, ami, *enc):
    """An encrypted copy made with the CLI (not through amifs)."""
    return ep.aws("ec2", "copy-image", "--source-image-id", ami,
                  "--source-region", ep.region, "--name",
                  "enc-%s" % uuid.uuid4().hex[:8], *enc)["ImageId"]


def launch_perms(ep, ami):
    r = ep.aws("ec2", "describe-image-attribute", "--image-id", ami,
               "--attribute", "launchPermission")
    return sorted(p.get("UserId") or p.get("Group") or
                  p.get("OrganizationArn") or p["OrganizationalUnitArn"]
                  for p in r["LaunchPermissions"])


def volume_perms(ep, ami):
    out = []
    for s in snapshots_of(ep, ami):
        r = ep.aws("ec2", "describe-snapshot-attribute", "--snapshot-id",
                   s["SnapshotId"], "--attribute", "createVolumePermission")
        out += [p["UserId"] for p in r["CreateVolumePermissions"]]
    return out


def test_share_aws_managed_key_refused(endpoint, src_ami, fresh_mount):
    ami = cli_copy(endpoint, src_ami[0], "--encrypted")
    assert all(s["Encrypted"] for s in snapshots_of(endpoint, ami))
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    with pytest.raises(OSError) as e:
        write(f, OTHER + "\n")
    assert e.value.errno == errno.EPERM
    assert launch_perms(endpoint, ami) == []
    assert volume_perms(endpoint, ami) == []
    err = errors(fresh_mount)
    assert "aws/ebs" in err and "copy-to/REGION@alias%2FKEY" in err


def test_share_cmk_needs_key_policy(endpoint, src_ami, fresh_mount):
    """Without consent: EACCES, nothing shared, and the statement shown in
    the file and .amifs/errors; once the owner adds exactly that statement
    to the key policy, the same write shares."""
    alias, arn = new_key(endpoint)
    ami = cli_copy(endpoint, src_ami[0], "--encrypted", "--kms-key-id", arn)
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    mark = endpoint.mark()
    with pytest.raises(OSError) as e:
        write(f, OTHER + "\n")
    assert e.value.errno == errno.EACCES
    assert launch_perms(endpoint, ami) == []
    assert volume_perms(endpoint, ami) == []
    assert endpoint.requests("ModifyImageAttribute", since=mark) == []
    text = read(f)
    line = [l for l in text.splitlines() if l.startswith("#   {")]
    assert len(line) == 1 and OTHER in text and arn in text, text
    statement = json.loads(line[0][4:])
    assert statement["Principal"] == {"AWS": "arn:aws:iam::%s:root" % OTHER}
    assert "kms:Decrypt" in statement["Action"]
    assert json.dumps(statement) in errors(fresh_mount) or \
        statement["Sid"] in errors(fresh_mount)
    # the key owner adds the statement: the share goes through
    pol = json.loads(endpoint.aws("kms", "get-key-policy", "--key-id", arn,
                                  "--policy-name", "default")["Policy"])
    pol["Statement"].append(statement)
    endpoint.aws("kms", "put-key-policy", "--key-id", arn, "--policy-name",
                 "default", "--policy", json.dumps(pol), json=False)
    write(f, OTHER + "\n")
    assert launch_perms(endpoint, ami) == [OTHER]
    assert volume_perms(endpoint, ami) == [OTHER]
    assert "refused" not in read(f)


ORG = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
OU = "arn:aws:organizations::123456789012:ou/o-abcdefghij/ou-ab12-cdefgh34"


def test_share_with_organization_and_ou(endpoint, src_ami, fresh_mount):
    """Organization and OU ARNs are launch-permission entries: written,
    read back, seen by the CLI; a malformed ARN is refused (EINVAL, the
    sentence in .amifs/errors) and changes nothing."""
    ami = cli_copy(endpoint, src_ami[0])
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    write(f, "%s\n%s\n%s\n" % (OTHER, ORG, OU))
    lines = [l for l in read(f).splitlines() if not l.startswith("#")]
    assert sorted(lines) == sorted([OTHER, ORG, OU])
    r = endpoint.aws("ec2", "describe-image-attribute", "--image-id", ami,
                     "--attribute", "launchPermission")["LaunchPermissions"]
    assert sorted(r, key=json.dumps) == sorted(
        [{"UserId": OTHER}, {"OrganizationArn": ORG},
         {"OrganizationalUnitArn": OU}], key=json.dumps)
    assert volume_perms(endpoint, ami) == [OTHER]
    bad = OU.replace("ou-ab12-", "ou-ab_12-")
    mark = endpoint.mark()
    with pytest.raises(OSError) as e:
        write(f, "%s\n%s\n" % (ORG, bad))
    assert e.value.errno == errno.EINVAL
    assert endpoint.requests("ModifyImageAttribute", since=mark) == []
    assert launch_perms(endpoint, ami) == sorted([OTHER, ORG, OU])
    assert bad in errors(fresh_mount)


@pytest.mark.full
def test_share_cmk_with_grants(endpoint, src_ami, mount_factory):
    m = mount_factory("cache_ttl=0,share_kms_grants")
    alias, arn = new_key(endpoint)
    ami = cli_copy(endpoint, src_ami[0], "--encrypted", "--kms-key-id",
                   alias)
    write(os.path.join(m.path, "amis", ami, "launch-permissions"),
          OTHER + "\n")
    assert launch_perms(endpoint, ami) == [OTHER]
    grants = endpoint.aws("kms", "list-grants", "--key-id", arn)["Grants"]
    mine = [g for g in grants
            if g["GranteePrincipal"] == "arn:aws:iam::%s:root" % OTHER]
    assert len(mine) == 1, grants
    assert {"Decrypt", "CreateGrant", "DescribeKey"} <= set(
        mine[0]["Operations"])
    # public sharing of an encrypted AMI: AWS refuses it, so does amifs
    with pytest.raises(OSError) as e:
        write(os.path.join(m.path, "amis", ami, "launch-permissions"),
              "all\n" + OTHER + "\n")
    assert e.value.errno == errno.EPERM
    assert launch_perms(endpoint, ami) == [OTHER]


# ---- 3. amis/shared/: two accounts ------------------------------------------

def account_b(ep):
    """(account id, env) of the endpoint's second account."""
    with open(os.path.join(ep.state_dir, "account-b.json")) as f:
        b = json.load(f)
    return b["Account"], dict(ep.env, AWS_ACCESS_KEY_ID=b["AccessKeyId"],
                              AWS_SECRET_ACCESS_KEY=b["SecretAccessKey"])


def test_shared_with_me_copy_under_own_key(endpoint, src_ami, mount_factory):
    """Account A shares an AMI encrypted with its CMK (amifs makes the
    grant); account B sees it in amis/shared/, copies it under B's own key;
    the copy's snapshots are checked with the CLI as B."""
    b_id, b_env = account_b(endpoint)
    a_alias, a_arn = new_key(endpoint)
    ami = cli_copy(endpoint, src_ami[0], "--encrypted", "--kms-key-id", a_arn)
    not_shared = cli_copy(endpoint, src_ami[0])
    ma = mount_factory("cache_ttl=0,share_kms_grants")
    write(os.path.join(ma.path, "amis", ami, "launch-permissions"),
          b_id + "\n")
    assert launch_perms(endpoint, ami) == [b_id]

    b_arn = endpoint.aws("kms", "create-key", env=b_env)["KeyMetadata"]["Arn"]
    b_alias = "alias/b-%s" % uuid.uuid4().hex[:8]
    endpoint.aws("kms", "create-alias", "--alias-name", b_alias,
                 "--target-key-id", b_arn, env=b_env, json=False)
    mb = mount_factory("cache_ttl=0,lazy_checks",
                       env={k: b_env[k] for k in ("AWS_ACCESS_KEY_ID",
                                                  "AWS_SECRET_ACCESS_KEY")})
    shared = os.path.join(mb.path, "amis", "shared")
    listed = os.listdir(shared)
    assert ami in listed and not_shared not in listed
    assert read(os.path.join(shared, ami, "owner")).strip() == \
        ami_owner(endpoint, ami)
    assert read(os.path.join(shared, ami, "state")) == "available\n"
    # read-only
    with pytest.raises(OSError) as e:
        os.rmdir(os.path.join(shared, ami))
    assert e.value.errno == errno.EROFS
    with pytest.raises(OSError) as e:
        write(os.path.join(shared, ami, "state"), "x")
    assert e.value.errno in (errno.EROFS, errno.EACCES)
    d = os.path.join(shared, ami, "copy-to",
                     "%s@%s" % (endpoint.region, b_alias.replace("/", "%2F")))
    os.mkdir(d)
    new = os.path.basename(os.readlink(os.path.join(d, "ami")))
    img = endpoint.aws("ec2", "describe-images", "--image-ids", new,
                       env=b_env)["Images"][0]
    assert img["OwnerId"] == b_id
    ids = [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]]
    snaps = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids", *ids,
                         env=b_env)["Snapshots"]
    assert snaps and all(s["Encrypted"] and s["KmsKeyId"] == b_arn and
                         s["OwnerId"] == b_id for s in snaps), snaps
    # the copy is B's own: it shows under B's amis/
    assert new in os.listdir(os.path.join(mb.path, "amis"))


def ami_owner(ep, ami):
    return ep.aws("ec2", "describe-images", "--image-ids",
                  ami)["Images"][0]["OwnerId"]


# ---- 4. instances/: images from instances ----------------------------------

def run_instance(ep, ami, name):
    r = ep.aws("ec2", "run-instances", "--image-id", ami, "--instance-type",
               "t3.micro", "--tag-specifications",
               "ResourceType=instance,Tags=[{Key=Name,Value=%s}]" % name,
               env=ep.admin_env())
    return r["Instances"][0]["InstanceId"]


def test_instance_image_pending_then_available(endpoint, src_ami,
                                               fresh_mount):
    iid = run_instance(endpoint, src_ami[0], "web-1")
    d = os.path.join(fresh_mount.path, "instances", iid)
    assert iid in os.listdir(os.path.join(fresh_mount.path, "instances"))
    cli = endpoint.aws("ec2", "describe-instances", "--instance-ids",
                       iid)["Reservations"][0]["Instances"][0]
    assert read(os.path.join(d, "state")) == cli["State"]["Name"] + "\n"
    assert read(os.path.join(d, "name")) == "web-1\n"
    assert read(os.path.join(d, "type")) == "t3.micro\n"
    assert read(os.path.join(d, "volumes")).split() == [
        m["Ebs"]["VolumeId"] for m in cli["BlockDeviceMappings"]]
    assert read(os.path.join(d, "tags", "Name")) == "web-1\n"
    assert json.loads(read(os.path.join(d, "info.json")))["InstanceId"] == iid
    # read-only
    with pytest.raises(OSError):
        write(os.path.join(d, "state"), "stopped")

    name = "img-%s" % uuid.uuid4().hex[:8]
    os.mkdir(os.path.join(d, "image", name))
    link = os.path.join(d, "image", name, "ami")
    ami = os.path.basename(os.readlink(link))
    state = os.path.join(fresh_mount.path, "amis", ami, "state")
    assert read(state) == "pending\n"
    poll_until(lambda: read(state) == "available\n", timeout=30)
    assert os.path.samefile(link, os.path.join(fresh_mount.path, "amis",
                                               ami))
    img = endpoint.aws("ec2", "describe-images", "--image-ids",
                       ami)["Images"][0]
    tags = {t["Key"]: t["Value"] for t in img["Tags"]}
    assert tags == {"Name": name, "amifs:source-instance": iid,
                    "amifs:reboot": "true"}
    for s in snapshots_of(endpoint, ami):
        st = {t["Key"]: t["Value"] for t in s.get("Tags", [])}
        assert st["amifs:source-instance"] == iid, s

    # the NoReboot variant
    name2 = "img-%s" % uuid.uuid4().hex[:8]
    os.mkdir(os.path.join(d, "image-noreboot", name2))
    ami2 = os.path.basename(os.readlink(
        os.path.join(d, "image-noreboot", name2, "ami")))
    tags2 = {t["Key"]: t["Value"] for t in endpoint.aws(
        "ec2", "describe-images", "--image-ids", ami2)["Images"][0]["Tags"]}
    assert tags2["amifs:reboot"] == "false"

    # bad input: nothing is created
    before = image_ids(endpoint)
    mark = endpoint.mark()
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(d, "image", "ab"))       # too short
    assert e.value.errno == errno.EINVAL
    assert endpoint.requests("CreateImage", since=mark) == []
    with pytest.raises(OSError) as e:                  # name in use
        os.mkdir(os.path.join(d, "image-noreboot", name))
    assert e.value.errno == errno.EEXIST
    assert image_ids(endpoint) == before
    assert "CreateImage failed" in errors(fresh_mount)


@pytest.mark.full
def test_instance_image_daemon_killed(endpoint, src_ami, fresh_mount):
    """SIGKILL of the daemon while CreateImage is held: the request is
    never performed, no image exists (old state)."""
    iid = run_instance(endpoint, src_ami[0], "web-kill")
    name = "img-%s" % uuid.uuid4().hex[:8]
    before = image_ids(endpoint)
    mark = endpoint.mark()
    endpoint.set_faults([{"service": "ec2", "op": "CreateImage",
                          "action": "hold"}])
    d = os.path.join(fresh_mount.path, "instances", iid, "image", name)
    t = threading.Thread(target=lambda: _try_mkdir(d), daemon=True)
    t.start()
    try:
        endpoint.wait_held("CreateImage",
                           alive=lambda: fresh_mount.proc.poll() is None)
        proc, fresh_mount.proc = fresh_mount.proc, None
        proc.kill()
        proc.wait()
        poll_until(lambda: not endpoint.held("CreateImage"), timeout=30)
    finally:
        endpoint.clear_faults()
        endpoint.release()
        subprocess.run(["fusermount3", "-u", "-z", fresh_mount.path])
    t.join(10)
    assert image_ids(endpoint) == before
    assert [r["fault"] for r in endpoint.requests("CreateImage", since=mark)
            ] == ["hold-before:gone"]


# ---- 5. snapshots/ ----------------------------------------------------------

def test_snapshots_register_and_orphans(endpoint, vmdk, src_ami, fresh_mount):
    ami, snaps = make_ami(endpoint, vmdk, "orphan-%s" % uuid.uuid4().hex[:6])
    snap = snaps[0]
    root = os.path.join(fresh_mount.path, "snapshots")
    d = os.path.join(root, snap)
    cli = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids",
                       snap)["Snapshots"][0]
    info = json.loads(read(os.path.join(d, "info.json")))
    assert info["SnapshotId"] == snap
    assert info["VolumeSize"] == cli["VolumeSize"]
    assert info["Description"] == cli["Description"]
    assert read(os.path.join(d, "size")) == "%d\n" % cli["VolumeSize"]
    assert read(os.path.join(d, "amis")) == ami + "\n"
    assert snap not in os.listdir(os.path.join(root, "orphans"))
    # the AMI goes (by another client): its VM Import snapshot is an orphan
    endpoint.aws("ec2", "deregister-image", "--image-id", ami, json=False)
    assert read(os.path.join(d, "amis")) == ""
    assert snap in os.listdir(os.path.join(root, "orphans"))
    dry = read(os.path.join(root, "orphans", "dry-run"))
    assert "%s %d GiB" % (snap, cli["VolumeSize"]) in dry and "total:" in dry

    # register/NAME: RegisterImage with the snapshot as root volume
    name = "reg-%s" % uuid.uuid4().hex[:8]
    os.mkdir(os.path.join(d, "register", name))
    new = os.path.basename(os.readlink(os.path.join(d, "register", name,
                                                    "ami")))
    img = endpoint.aws("ec2", "describe-images", "--image-ids",
                       new)["Images"][0]
    assert img["Name"] == name and img["Architecture"] == "x86_64"
    assert [m["Ebs"]["SnapshotId"] for m in img["BlockDeviceMappings"]] == \
        [snap]
    assert snap not in os.listdir(os.path.join(root, "orphans"))
    # bad input: nothing registered, nothing deleted
    mark = endpoint.mark()
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(d, "register", "ab"))
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:          # in use: not an orphan
        os.unlink(os.path.join(root, "orphans", src_ami[1][0]))
    assert e.value.errno == errno.ENOENT
    assert endpoint.requests("RegisterImage", since=mark) == []
    assert endpoint.requests("DeleteSnapshot", since=mark) == []

    # rm orphans/snap-… deletes it
    endpoint.aws("ec2", "deregister-image", "--image-id", new, json=False)
    os.unlink(os.path.join(root, "orphans", snap))
    r = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids", snap,
                     check=False, json=False)
    assert r.returncode != 0 and "NotFound" in r.stderr
    assert snap not in os.listdir(root)


# ---- 6. deprecation and disabling -------------------------------------------

def test_deprecation_and_disable_files(endpoint, src_ami, fresh_mount):
    ami = cli_copy(endpoint, src_ami[0])
    d = os.path.join(fresh_mount.path, "amis", ami)
    assert read(os.path.join(d, "deprecation")) == ""
    assert read(os.path.join(d, "disabled")) == "false\n"
    write(os.path.join(d, "deprecation"), "2031-01-02T03:04Z\n")

    def cli_image():
        return endpoint.aws("ec2", "describe-images", "--image-ids",
                            ami)["Images"][0]
    assert cli_image()["DeprecationTime"].startswith("2031-01-02T03:04")
    assert read(os.path.join(d, "deprecation")).startswith("2031-01-02T03:04")
    # bad input: no call, the old time stays
    mark = endpoint.mark()
    for bad in ("next tuesday\n", "2031-13-40T00:00Z"):
        with pytest.raises(OSError) as e:
            write(os.path.join(d, "deprecation"), bad)
        assert e.value.errno == errno.EINVAL
    assert endpoint.requests("EnableImageDeprecation", since=mark) == []
    with pytest.raises(OSError) as e:       # EC2 refuses a time in the past
        write(os.path.join(d, "deprecation"), "2001-01-01T00:00Z")
    assert e.value.errno == errno.EINVAL
    assert "in the past" in errors(fresh_mount)
    assert cli_image()["DeprecationTime"].startswith("2031-01-02T03:04")
    write(os.path.join(d, "deprecation"), "")      # removes it
    assert "DeprecationTime" not in cli_image()

    write(os.path.join(fresh_mount.path, "amis", ami, "launch-permissions"),
          OTHER + "\n")
    write(os.path.join(d, "disabled"), "true\n")
    assert cli_image()["State"] == "disabled"
    assert read(os.path.join(d, "disabled")) == "true\n"
    assert launch_perms(endpoint, ami) == []        # made private
    with pytest.raises(OSError) as e:
        write(os.path.join(d, "disabled"), "maybe\n")
    assert e.value.errno == errno.EINVAL
    write(os.path.join(d, "disabled"), "false\n")
    assert cli_image()["State"] == "available"
    # rm -r still removes the AMI with its snapshots
    snaps = [s["SnapshotId"] for s in snapshots_of(endpoint, ami)]
    subprocess.run(["rm", "-r", d], check=True)
    assert ami not in image_ids(endpoint)
    r = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids", *snaps,
                     check=False, json=False)
    assert r.returncode != 0
