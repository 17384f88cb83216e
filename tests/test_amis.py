"""amis/ and regions/ on a real mount: AMIs made by an ImportImage through
the AWS CLI show up as directories; tags, launch permissions, copy-to and
rm -r act on the account, and the AWS CLI (the independent client) sees it.
"""
import errno
import json
import os
import subprocess
import time

import pytest

from shared_fixtures import make_ami, read, write

OTHER = "111122223333"
OTHER2 = "444455556666"


@pytest.fixture(scope="module")
def vmdk(images):
    return images["vmdk"]["path"]


def image(ep, ami, region=None):
    args = ["ec2", "describe-images", "--owners", "self"]
    if region:
        args += ["--region", region]
    imgs = [i for i in ep.aws(*args)["Images"] if i["ImageId"] == ami]
    return imgs[0] if imgs else None


def launch_permissions(ep, ami):
    """Who may launch AMI, sorted, as the AWS CLI sees it."""
    r = ep.aws("ec2", "describe-image-attribute", "--image-id", ami,
               "--attribute", "launchPermission")
    return sorted(p.get("UserId", p.get("Group"))
                  for p in r["LaunchPermissions"])


def tags_of(ep, ami):
    r = ep.aws("ec2", "describe-tags", "--filters",
               "Name=resource-id,Values=%s" % ami)["Tags"]
    return {t["Key"]: t["Value"] for t in r}


@pytest.fixture
def fresh_mount(mount_factory):
    # no listing cache: every check sees AWS's current state
    return mount_factory("cache_ttl=0")


def test_ami_directory(endpoint, vmdk, fresh_mount):
    ami, snaps = make_ami(endpoint, vmdk, "listed")
    d = os.path.join(fresh_mount.path, "amis", ami)
    assert ami in os.listdir(os.path.join(fresh_mount.path, "amis"))
    assert sorted(os.listdir(d)) == sorted(
        ["image.json", "state", "snapshots", "launch-permissions", "tags",
         "copy-to", "deprecation", "disabled", "export-to"])
    doc = json.loads(read(os.path.join(d, "image.json")))
    cli = image(endpoint, ami)
    assert doc["ImageId"] == ami and doc["State"] == cli["State"]
    assert doc["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] == snaps[0]
    assert read(os.path.join(d, "state")) == "available\n"
    assert read(os.path.join(d, "snapshots")).split() == snaps
    assert os.stat(os.path.join(d, "state")).st_size == len("available\n")
    # by-name/NAME -> ../ami-…
    link = os.path.join(fresh_mount.path, "amis", "by-name",
                        cli["Name"].replace("%", "%25").replace("/", "%2F"))
    assert os.readlink(link) == "../" + ami
    assert os.path.samefile(link, d)
    assert not os.path.exists(os.path.join(fresh_mount.path, "amis",
                                           "ami-0000000000000dead"))


def test_tags_as_files(endpoint, vmdk, fresh_mount):
    ami, _ = make_ami(endpoint, vmdk, "tags")
    tags = os.path.join(fresh_mount.path, "amis", ami, "tags")
    write(os.path.join(tags, "Owner"), "alice\n")
    write(os.path.join(tags, "team%2Fapp"), "web")   # key with a slash
    assert tags_of(endpoint, ami) == {"Owner": "alice", "team/app": "web"}
    assert sorted(os.listdir(tags)) == ["Owner", "team%2Fapp"]
    assert read(os.path.join(tags, "Owner")) == "alice\n"
    write(os.path.join(tags, "Owner"), "bob\n")      # overwrite
    assert tags_of(endpoint, ami)["Owner"] == "bob"
    # set by another client: visible through the mount
    endpoint.aws("ec2", "create-tags", "--resources", ami, "--tags",
                 "Key=Stage,Value=prod", json=False)
    assert read(os.path.join(tags, "Stage")) == "prod\n"
    os.unlink(os.path.join(tags, "Owner"))
    assert tags_of(endpoint, ami) == {"team/app": "web", "Stage": "prod"}
    assert not os.path.exists(os.path.join(tags, "Owner"))
    with pytest.raises(OSError):                     # reserved prefix
        write(os.path.join(tags, "aws:thing"), "x")
    with pytest.raises(FileNotFoundError):
        os.unlink(os.path.join(tags, "NoSuchTag"))


def test_launch_permissions(endpoint, vmdk, fresh_mount):
    ami, snaps = make_ami(endpoint, vmdk, "share")
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    assert read(f) == ""
    write(f, OTHER + "\n")

    def shared():
        return launch_permissions(endpoint, ami)

    def snap_shared():
        r = endpoint.aws("ec2", "describe-snapshot-attribute",
                         "--snapshot-id", snaps[0], "--attribute",
                         "createVolumePermission")
        return sorted(p["UserId"] for p in r["CreateVolumePermissions"])

    assert shared() == [OTHER]
    assert snap_shared() == [OTHER]
    write(f, OTHER2 + "\n", mode="a")                # >> adds one
    assert shared() == [OTHER, OTHER2]
    assert sorted(read(f).split()) == [OTHER, OTHER2]
    write(f, "# comments and blank lines are ignored\n\n%s\n" % OTHER2)
    assert shared() == [OTHER2]
    assert snap_shared() == [OTHER2]
    with pytest.raises(OSError):                     # not an account id
        write(f, "12345\n")
    assert shared() == [OTHER2]                      # nothing half-done
    write(f, "")
    assert shared() == [] and snap_shared() == []


def test_copy_to_other_region(endpoint, vmdk, fresh_mount):
    ami, _ = make_ami(endpoint, vmdk, "copy")
    copy_to = os.path.join(fresh_mount.path, "amis", ami, "copy-to")
    os.mkdir(os.path.join(copy_to, "us-west-2"))
    assert os.listdir(copy_to) == ["us-west-2"]
    target = os.readlink(os.path.join(copy_to, "us-west-2", "ami"))
    new = os.path.basename(target)
    assert target == "../../../../regions/us-west-2/amis/" + new
    img = image(endpoint, new, region="us-west-2")
    assert img is not None and ami in img.get("Description", "")
    # followed without remounting, through regions/
    assert "us-west-2" in os.listdir(os.path.join(fresh_mount.path,
                                                  "regions"))
    copied = os.path.join(copy_to, "us-west-2", "ami")
    assert json.loads(read(os.path.join(copied, "image.json")))[
        "ImageId"] == new
    with pytest.raises(OSError):
        os.mkdir(os.path.join(copy_to, "not-a-region-9"))
    endpoint.aws("ec2", "deregister-image", "--region", "us-west-2",
                 "--image-id", new, json=False)


def test_rm_r_deregisters_and_deletes_snapshots(endpoint, vmdk,
                                                fresh_mount):
    ami, snaps = make_ami(endpoint, vmdk, "remove")
    d = os.path.join(fresh_mount.path, "amis", ami)
    write(os.path.join(d, "tags", "Name"), "doomed")
    r = subprocess.run(["rm", "-r", d], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert image(endpoint, ami) is None
    left = endpoint.aws("ec2", "describe-snapshots", "--owner-ids",
                        "self")["Snapshots"]
    assert not set(snaps) & {s["SnapshotId"] for s in left}
    assert ami not in os.listdir(os.path.join(fresh_mount.path, "amis"))
    assert "deregistered" in fresh_mount.log()


def test_rm_r_keeps_a_snapshot_another_ami_uses(endpoint, vmdk,
                                                fresh_mount):
    ami, snaps = make_ami(endpoint, vmdk, "shared-snap")
    other = endpoint.aws(
        "ec2", "register-image", "--name", "uses-%s" % snaps[0],
        "--root-device-name", "/dev/sda1", "--block-device-mappings",
        "DeviceName=/dev/sda1,Ebs={SnapshotId=%s}" % snaps[0])["ImageId"]
    uses = image(endpoint, other)["BlockDeviceMappings"]
    if not any(m.get("Ebs", {}).get("SnapshotId") == snaps[0] for m in uses):
        pytest.skip("this moto does not register images on a snapshot")
    r = subprocess.run(["rm", "-r", os.path.join(fresh_mount.path, "amis",
                                                 ami)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert image(endpoint, ami) is None
    kept = endpoint.aws("ec2", "describe-snapshots", "--snapshot-ids",
                        snaps[0])["Snapshots"]
    assert kept and kept[0]["SnapshotId"] == snaps[0]
    assert "snapshot %s kept: %s still uses it" % (snaps[0], other) in \
        fresh_mount.log()
    endpoint.aws("ec2", "deregister-image", "--image-id", other, json=False)


def test_listing_cache_and_regions_view(endpoint, vmdk, mount):
    ami, _ = make_ami(endpoint, vmdk, "cached")
    # the default mount caches DescribeImages for a few seconds at most
    deadline = time.time() + 15
    while ami not in os.listdir(os.path.join(mount.path, "amis")):
        assert time.time() < deadline, "AMI never listed"
        time.sleep(0.5)
    same = os.path.join(mount.path, "regions", endpoint.region, "amis", ami)
    assert read(os.path.join(same, "state")) == "available\n"
    assert not os.path.exists(os.path.join(mount.path, "regions",
                                           "xx-nowhere-1"))


# --- audit (session 2) ---------------------------------------------------
# doc/CONTRACT.md "Real clients" (editors that write a temp file and rename), shell
# redirection of a bad value, checked with the AWS CLI.

def test_editors_rename_a_temporary_onto_a_tag(endpoint, vmdk, fresh_mount):
    ami, _ = make_ami(endpoint, vmdk, "edit")
    tags = os.path.join(fresh_mount.path, "amis", ami, "tags")
    write(os.path.join(tags, "Env"), "prod\n")
    r = subprocess.run(["sed", "-i", "s/prod/staging/",
                        os.path.join(tags, "Env")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read(os.path.join(tags, "Env")) == "staging\n"
    assert tags_of(endpoint, ami) == {"Env": "staging"}  # no sed temp left
    os.rename(os.path.join(tags, "Env"), os.path.join(tags, "Stage"))
    assert tags_of(endpoint, ami) == {"Stage": "staging"}
    assert sorted(os.listdir(tags)) == ["Stage"]
    with pytest.raises(PermissionError):             # reserved prefix
        os.rename(os.path.join(tags, "Stage"), os.path.join(tags, "aws:x"))
    with pytest.raises(PermissionError):             # not a tag
        os.rename(os.path.join(tags, "Stage"),
                  os.path.join(fresh_mount.path, "amis", ami, "state"))
    assert tags_of(endpoint, ami) == {"Stage": "staging"}


def test_a_bad_account_id_fails_the_write_and_changes_nothing(
        endpoint, vmdk, fresh_mount):
    ami, _ = make_ami(endpoint, vmdk, "badshare")
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    write(f, OTHER + "\n")

    def shared():
        return launch_permissions(endpoint, ami)
    # tee reports the failed write; the list is unchanged
    r = subprocess.run(["tee", f], input=OTHER2 + "\nbogus\n",
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    assert shared() == [OTHER]
    # a shell's echo learns it from write() (it never sees close errors)
    r = subprocess.run(["bash", "-c", 'echo bogus >> "$1"', "sh", f],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    assert shared() == [OTHER]
    assert read(f).split() == [OTHER]


# --- hostile values (issue 12 item 5, issue 11 item 7) -------------------
# Every refused write poisons its file: later writes and the close fail
# with the same errno and nothing reaches AWS (checked with the AWS CLI).

def _fails(fn, code):
    with pytest.raises(OSError) as e:
        fn()
    assert e.value.errno == code, e.value
    return e.value


def _refused(path, flags, code, *writes):
    """Open path, expect every write (bytes, or (bytes, offset)) and the
    close to fail with errno code. The descriptor is closed either way (a
    leaked one would keep the mount busy)."""
    fd = os.open(path, flags)
    try:
        for w in writes:
            if isinstance(w, tuple):
                _fails(lambda: os.pwrite(fd, w[0], w[1]), code)
            else:
                _fails(lambda: os.write(fd, w), code)
    finally:
        try:
            os.close(fd)
            closed = 0
        except OSError as e:
            closed = e.errno
    assert closed == code


def test_nul_and_holes_in_launch_permissions_are_refused(
        endpoint, vmdk, fresh_mount):
    ami, _ = make_ami(endpoint, vmdk, "nulshare")
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    write(f, OTHER + "\n")
    # a NUL in the middle: nothing after it may be dropped silently
    _refused(f, os.O_WRONLY | os.O_TRUNC, errno.EINVAL,
             OTHER2.encode() + b"\0junk\n", OTHER2.encode() + b"\n")
    assert launch_permissions(endpoint, ami) == [OTHER]
    # a write past the end would leave a hole of NUL bytes
    _refused(f, os.O_WRONLY, errno.EINVAL, (OTHER2.encode() + b"\n", 4096))
    assert launch_permissions(endpoint, ami) == [OTHER]
    assert "NUL bytes" in fresh_mount.log()


def test_a_refused_write_from_a_shell_unshares_nothing(
        endpoint, vmdk, fresh_mount):
    ami, snaps = make_ami(endpoint, vmdk, "dupflush")
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    write(f, OTHER + "\n")
    # bash closes its first descriptor (a flush) before echo writes: that
    # flush of the truncated file must not apply an empty list
    r = subprocess.run(["bash", "-c", 'echo bogus > "$1"', "sh", f],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    assert launch_permissions(endpoint, ami) == [OTHER]
    snap = endpoint.aws("ec2", "describe-snapshot-attribute",
                        "--snapshot-id", snaps[0], "--attribute",
                        "createVolumePermission")
    assert [p["UserId"] for p in snap["CreateVolumePermissions"]] == [OTHER]
    # a good write from the same shell still works
    r = subprocess.run(["bash", "-c", 'echo %s > "$1"' % OTHER2, "sh", f],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert launch_permissions(endpoint, ami) == [OTHER2]


def test_launch_permissions_are_bounded_and_applied_in_batches(
        endpoint, vmdk, fresh_mount):
    ami, _ = make_ami(endpoint, vmdk, "manyshare")
    f = os.path.join(fresh_mount.path, "amis", ami, "launch-permissions")
    write(f, OTHER + "\n")
    # 80,000 ids: refused at once (EFBIG), nothing applied
    many = "".join("%012d\n" % (100000000000 + i) for i in range(80000))
    t0 = time.time()
    _refused(f, os.O_WRONLY | os.O_TRUNC, errno.EFBIG, many.encode())
    assert time.time() - t0 < 10
    assert launch_permissions(endpoint, ami) == [OTHER]
    # the limit itself, 1,000 ids, is applied well within a minute
    ids = ["%012d" % (200000000000 + i) for i in range(1000)]
    t0 = time.time()
    write(f, "\n".join(ids) + "\n")
    assert time.time() - t0 < 60
    assert launch_permissions(endpoint, ami) == ids
    assert "1000 added, 1 removed" in fresh_mount.log()
    write(f, OTHER + "\n")
    assert launch_permissions(endpoint, ami) == [OTHER]


def test_a_refused_tag_value_creates_no_tag(endpoint, vmdk, fresh_mount):
    ami, _ = make_ami(endpoint, vmdk, "badtag")
    tags = os.path.join(fresh_mount.path, "amis", ami, "tags")
    # over 256 characters, from a shell (whose dup flush comes first)
    r = subprocess.run(["bash", "-c", 'printf %s "$2" > "$1"', "sh",
                        os.path.join(tags, "Long"), "x" * 257],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    # binary: a NUL, or bytes that are not UTF-8
    for name, value in (("Nul", b"uefi\0junk"), ("Bin", b"\xff\xfe")):
        _refused(os.path.join(tags, name), os.O_WRONLY | os.O_CREAT,
                 errno.EINVAL, value)
    _fails(lambda: write(os.path.join(tags, "k" * 129), "v"),
           errno.ENAMETOOLONG)
    time.sleep(0.5)   # release runs after close() returned
    assert tags_of(endpoint, ami) == {}
    # the limits themselves pass: 256 characters (not bytes), 128-char key
    key = "é" * 100 + "k" * 28          # 128 characters, 228 bytes
    write(os.path.join(tags, key), "ü" * 256 + "\n")
    assert tags_of(endpoint, ami) == {key: "ü" * 256}
    # at most 50 tags on an AMI: the 51st is refused, nothing created
    endpoint.aws("ec2", "create-tags", "--resources", ami, "--tags",
                 *["Key=k%02d,Value=v" % i for i in range(49)], json=False)
    _fails(lambda: write(os.path.join(tags, "Extra"), "v"), errno.EDQUOT)
    assert len(tags_of(endpoint, ami)) == 50
    write(os.path.join(tags, "k00"), "changed")     # an existing one: fine
    assert tags_of(endpoint, ami)["k00"] == "changed"
    assert "at most 50 tags" in fresh_mount.log()
