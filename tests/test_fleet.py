"""A fleet (doc/design/fleet.md, doc/CONTRACT.md "Fleet"): more imports
than the account's concurrent-task quota, queued in the staging bucket and
shared by several mounts; the staged object deleted once the AMI exists.

Each test sets a quota scoped to its own staging prefix (the endpoint's
tests/endpoint/quota.py), so the tests beside it are not slowed down.
"""
import errno
import json
import os
import re
import subprocess
import time
import uuid

import pytest

import mount_fixtures
from shared_fixtures import (cp, kill_dead_mount, poll_until, read,
                             skip_unless_mountable, wait_status)

QUEUED = re.compile(r"^queued \d+ of \d+ \(\d+ import tasks? active\)\n$")


def fleet_mount(endpoint, base, prefix, opts=""):
    """A mount staging into bucket/PREFIX (several mounts may share it)."""
    skip_unless_mountable()
    o = "bucket=%s/%s,poll_interval=0.3,queue_lease=3" % (endpoint.bucket,
                                                          prefix)
    if opts:
        o += "," + opts
    m = mount_fixtures.Mount(endpoint, base, opts=o)
    m.prefix = prefix
    return m.start()


def set_quota(endpoint, prefix, limit):
    endpoint._control("POST", "/_amifs/config", {
        "import_quota": {"limit": limit, "prefix": prefix + "/"}})


@pytest.fixture
def prefix(endpoint):
    p = "fleet-" + uuid.uuid4().hex[:8]
    yield p
    endpoint._control("POST", "/_amifs/config", {
        "import_quota": {"limit": None, "prefix": p + "/"}})


def tasks_under(endpoint, prefix):
    return [t for t in endpoint.tasks()
            if t["kind"] == "image" and t["keys"] and
            t["keys"][0].startswith(prefix + "/")]


def max_overlap(tasks):
    """Most tasks active at one moment (from their start/end times)."""
    ev = []
    for t in tasks:
        ev.append((t["started"], 1))
        ev.append((t["ended"] if t["ended"] else time.time() + 1e6, -1))
    cur = best = 0
    for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
        cur += d
        best = max(best, cur)
    return best


def queue_entries(endpoint, prefix):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", prefix + "/amifs-queue/")
    return [o["Key"] for o in (out or {}).get("Contents") or []]


def staged_objects(endpoint, prefix):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", prefix + "/")
    return [o["Key"] for o in (out or {}).get("Contents") or []
            if "/amifs-queue/" not in o["Key"]]


def staged_key(m, name):
    url = read(os.path.join(m.path, "tasks", name, "source")).splitlines()[0]
    return url.split("/", 3)[3]


def object_exists(endpoint, key):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", key)
    return any(o["Key"] == key for o in (out or {}).get("Contents") or [])


def accepted_imports(endpoint, mark, tokens):
    return [r for r in endpoint.requests(op="ImportImage", since=mark)
            if r["status"] == 200 and r["client_token"] in tokens]


def drop_many(endpoint, images, mounts, n, keep=()):
    """Copy N images, round robin over MOUNTS; every cp must succeed; the
    drops numbered in KEEP get a sidecar {"KeepStaged": true}.
    Returns [(mount, name)] and the drops whose status said queued."""
    src = images["vmdk"]["path"]
    drops, saw_queued = [], []
    for i in range(n):
        m = mounts[i % len(mounts)]
        name = "vm%02d.vmdk" % i
        if i in keep:
            with open(os.path.join(m.path, "imports", name + ".json"),
                      "w") as f:
                json.dump({"KeepStaged": True}, f)
        r = cp(src, os.path.join(m.path, "imports", name))
        assert r.returncode == 0, "cp %s: %s\n%s" % (name, r.stderr,
                                                     m.log()[-3000:])
        st = read(os.path.join(m.path, "tasks", name, "status"))
        if st.startswith("queued"):
            saw_queued.append((m, name))
        drops.append((m, name))
    return drops, saw_queued


def check_fleet(endpoint, prefix, drops, quota, mark):
    for m, name in drops:
        final = wait_status(m, name)
        assert final.startswith("completed ami-"), (name, final)
    tasks = tasks_under(endpoint, prefix)
    assert len(tasks) == len(drops), tasks
    assert len({t["keys"][0] for t in tasks}) == len(drops)
    assert all(t["status"] == "completed" and t["image_id"] for t in tasks)
    assert max_overlap(tasks) <= quota, tasks
    tokens = {t["client_token"] for t in tasks}
    assert len(accepted_imports(endpoint, mark, tokens)) == len(drops)
    poll_until(lambda: queue_entries(endpoint, prefix) == [], timeout=10)
    amis = endpoint.aws("ec2", "describe-images", "--image-ids",
                        *[t["image_id"] for t in tasks])["Images"]
    assert len(amis) == len(drops)
    return tasks


def run_fleet(endpoint, images, tmp_path, prefix, nmounts, ndrops, quota):
    set_quota(endpoint, prefix, quota)
    mounts = [fleet_mount(endpoint, str(tmp_path), prefix)
              for _ in range(nmounts)]
    try:
        mark = endpoint.mark()
        drops, queued = drop_many(endpoint, images, mounts, ndrops,
                                  keep=(1,))
        assert queued, "no import was queued although the quota was full"
        m, name = queued[-1]
        poll_until(lambda: QUEUED.match(
            read(os.path.join(m.path, "tasks", name, "status")))
            or read(os.path.join(m.path, "tasks", name,
                                 "status")).startswith(("active",
                                                        "completed")),
            timeout=20)
        check_fleet(endpoint, prefix, drops, quota, mark)
        # cleanup is the default: the staged objects go once AMIs exist,
        # but for the one whose sidecar says KeepStaged
        kept = staged_key(*drops[1])
        poll_until(lambda: staged_objects(endpoint, prefix) == [kept],
                   timeout=15)
    finally:
        for m in mounts:
            m.unmount()


def test_two_mounts_share_a_quota_of_two(endpoint, images, tmp_path,
                                         prefix):
    """Default variant: 2 mounts, 4 drops, quota 2 (two waves; the kill
    test below runs a quota of 1)."""
    run_fleet(endpoint, images, tmp_path, prefix, 2, 4, 2)


@pytest.mark.full
def test_two_mounts_take_eight_drops_under_a_quota_of_two(
        endpoint, images, tmp_path, prefix):
    run_fleet(endpoint, images, tmp_path, prefix, 2, 8, 2)


@pytest.mark.full
def test_status_says_queued_with_position(endpoint, images, tmp_path,
                                          prefix):
    """Quota 0: nothing can start; the copies still succeed, are queued
    durably (one S3 object each) and say where they stand."""
    set_quota(endpoint, prefix, 0)
    m = fleet_mount(endpoint, str(tmp_path), prefix)
    try:
        drops, queued = drop_many(endpoint, images, [m], 3)
        assert len(queued) == 3
        assert len(queue_entries(endpoint, prefix)) == 3
        st = poll_until(lambda: QUEUED.match(read(os.path.join(
            m.path, "tasks", "vm02.vmdk", "status"))), timeout=30)
        assert st.group(0).startswith("queued 3 of 3 ("), st.group(0)
        assert "vm02.vmdk" in os.listdir(os.path.join(m.path, "imports"))
        set_quota(endpoint, prefix, 3)
        for _, name in drops:
            assert wait_status(m, name).startswith("completed ami-")
    finally:
        m.unmount()


def test_a_mount_killed_holding_a_claim_loses_nothing(endpoint, images,
                                                      tmp_path, prefix):
    """Mount A queues two imports, claims the first and calls ImportImage;
    EC2 starts the task but A is killed before the answer. After the
    lease, mount B claims the entry and calls ImportImage with the same
    ClientToken: the same task (not a second one), then the second entry.
    Nothing lost, nothing done twice."""
    set_quota(endpoint, prefix, 0)
    a = fleet_mount(endpoint, str(tmp_path), prefix)
    b = None
    try:
        drop_many(endpoint, images, [a], 3)
        # rm of a queued file takes it out of the queue, with its object
        gone = staged_key(a, "vm02.vmdk")
        os.unlink(os.path.join(a.path, "imports", "vm02.vmdk"))
        assert read(os.path.join(a.path, "tasks", "vm02.vmdk",
                                 "status")).startswith("cancelled ")
        assert len(queue_entries(endpoint, prefix)) == 2
        assert not object_exists(endpoint, gone)
        endpoint.set_faults([{"service": "ec2", "op": "ImportImage",
                              "action": "hold", "when": "after"}])
        set_quota(endpoint, prefix, 1)
        endpoint.wait_held("ImportImage", 1, timeout=20)
        kill_dead_mount(a)
        a = None
        endpoint.clear_faults()
        first = tasks_under(endpoint, prefix)
        assert len(first) == 1, first
        mark = endpoint.mark()
        b = fleet_mount(endpoint, str(tmp_path), prefix)
        poll_until(lambda: len([t for t in tasks_under(endpoint, prefix)
                                if t["status"] == "completed"]) == 2,
                   timeout=60)
        tasks = tasks_under(endpoint, prefix)
        assert len(tasks) == 2, tasks
        assert len({t["keys"][0] for t in tasks}) == 2
        assert max_overlap(tasks) <= 1
        # B called ImportImage again for A's claim: AWS's answer was the
        # task A had started (its ClientToken), not a new one.
        again = accepted_imports(endpoint, mark, {first[0]["client_token"]})
        assert len(again) == 1, again
        poll_until(lambda: queue_entries(endpoint, prefix) == [], timeout=10)
    finally:
        endpoint.clear_faults()
        if a is not None:
            a.unmount()
        if b is not None:
            b.unmount()


COND_PUT = r"""
import json, os, sys, boto3
from concurrent.futures import ThreadPoolExecutor
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
b, key = sys.argv[1], sys.argv[2]

def put(n, **kw):
    try:
        return s3.put_object(Bucket=b, Key=key, Body=str(n), **kw)["ETag"]
    except ClientError as e:
        return e.response["Error"]["Code"]

with ThreadPoolExecutor(8) as ex:
    race = list(ex.map(lambda n: put(n, IfNoneMatch="*"), range(8)))
etag = [r for r in race if r.startswith('"')]
out = {"race": race,
       "stale": put(9, IfMatch='"0123"'),
       "match": put(10, IfMatch=etag[0]) if etag else None,
       "body": s3.get_object(Bucket=b, Key=key)["Body"].read().decode()}
s3.delete_object(Bucket=b, Key=key)
print(json.dumps(out))
"""


def test_conditional_writes_as_s3(endpoint, prefix):
    """The endpoint answers conditional PUTs as S3 does: of 8 racing
    If-None-Match: * PUTs exactly one wins, the others get 412
    PreconditionFailed; a stale If-Match is 412, the current one works."""
    p = subprocess.run([endpoint.python, "-c", COND_PUT, endpoint.bucket,
                        prefix + "/cond"], env=endpoint.env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    wins = [r for r in out["race"] if r.startswith('"')]
    assert len(wins) == 1, out
    assert sorted(set(out["race"]) - set(wins)) == ["PreconditionFailed"]
    assert out["stale"] == "PreconditionFailed"
    assert out["match"].startswith('"') and out["body"] == "10", out


@pytest.mark.full
def test_staged_object_kept_by_option_and_by_failure(endpoint, images,
                                                    tmp_path, prefix):
    """-o keep_staged keeps the staged object of a completed import, and a
    failed import keeps its object (to diagnose it) on a default mount.
    (The default deletion and the sidecar's KeepStaged are checked by the
    fleet test above.)"""
    m = fleet_mount(endpoint, str(tmp_path), prefix)
    k = fleet_mount(endpoint, str(tmp_path), prefix + "-keep",
                    opts="keep_staged")
    try:
        assert cp(images["vmdk-no-os"]["path"],
                  os.path.join(m.path, "imports", "noos.vmdk")).returncode == 0
        assert cp(images["vmdk"]["path"],
                  os.path.join(k.path, "imports", "opt.vmdk")).returncode == 0
        keys = [staged_key(m, "noos.vmdk"), staged_key(k, "opt.vmdk")]
        assert wait_status(m, "noos.vmdk").startswith("failed ")
        assert wait_status(k, "opt.vmdk").startswith("completed ami-")
        time.sleep(1.5)      # five task polls: a deletion would be done
        for key in keys:
            assert object_exists(endpoint, key), key
    finally:
        m.unmount()
        k.unmount()


# ---- CopyToRegions ------------------------------------------------------

COPY_REGIONS = ["eu-west-1", "us-west-2"]


def copies_of(m, name):
    try:
        return read(os.path.join(m.path, "tasks", name, "copies"))
    except OSError:
        return ""


def copies_done(m, name):
    lines = copies_of(m, name).splitlines()
    ok = [l.split() for l in lines if l.split()[1:2] == ["available"]]
    return {l[0]: l[2] for l in ok} if len(ok) == len(COPY_REGIONS) \
        else None


def copies_in(endpoint, region, ami):
    """Images in REGION that amifs copied from AMI."""
    out = endpoint.aws("ec2", "describe-images", "--region", region,
                       "--owners", "self", "--filters",
                       "Name=tag:amifs:copied-from,Values=us-east-1/" + ami)
    return out["Images"]


def test_copy_to_regions_from_a_sidecar(endpoint, images, tmp_path, prefix):
    """A sidecar's CopyToRegions copies the completed AMI to each region,
    tags each copy, says so in tasks/NAME/copies, and the copies show in
    regions/R/amis/. A mount killed in the middle of its CopyImage loses
    nothing and makes nothing twice: another mount that saw the task end
    makes the same copies (CopyImage's ClientToken)."""
    a = fleet_mount(endpoint, str(tmp_path), prefix)
    b = fleet_mount(endpoint, str(tmp_path), prefix + "-b")
    try:
        imports = os.path.join(a.path, "imports")
        with open(os.path.join(imports, "cr.vmdk.json"), "w") as f:
            json.dump({"CopyToRegions": COPY_REGIONS,
                       "Tags": {"Team": "fleet"}}, f)
        assert cp(images["vmdk"]["path"],
                  os.path.join(imports, "cr.vmdk")).returncode == 0
        assert copies_of(a, "cr.vmdk") == "".join(
            "%s waiting for the import\n" % r for r in COPY_REGIONS)
        tid = os.readlink(os.path.join(a.path, "tasks", "cr.vmdk"))
        os.listdir(os.path.join(b.path, "tasks"))   # b follows the task
        endpoint.set_faults([{"service": "ec2", "op": "CopyImage",
                              "action": "hold", "when": "after",
                              "count": 1}])
        endpoint.wait_held("CopyImage", 1, timeout=90)
        kill_dead_mount(a)
        a = None
        endpoint.clear_faults()
        endpoint.release()
        done = poll_until(lambda: copies_done(b, tid), timeout=60)
        ami = os.path.basename(os.readlink(os.path.join(b.path, "tasks",
                                                        tid, "ami")))
        for region in COPY_REGIONS:
            imgs = copies_in(endpoint, region, ami)
            assert [i["ImageId"] for i in imgs] == [done[region]], imgs
            tags = {t["Key"]: t["Value"] for t in imgs[0]["Tags"]}
            assert tags["Name"] == "cr.vmdk" and tags["Team"] == "fleet"
            assert poll_until(lambda: done[region] in os.listdir(
                os.path.join(b.path, "regions", region, "amis")),
                timeout=20)
    finally:
        endpoint.clear_faults()
        if a is not None:
            a.unmount()
        b.unmount()


def test_copy_to_regions_refused_where_given(endpoint, tmp_path, prefix):
    """A bad region list fails the sidecar's close, not the copy later."""
    m = fleet_mount(endpoint, str(tmp_path), prefix)
    try:
        p = subprocess.run(
            ["cp", "/dev/stdin", os.path.join(m.path, "imports",
                                              "x.vmdk.json")],
            input='{"CopyToRegions": ["EU West"]}', capture_output=True,
            text=True)
        assert p.returncode != 0 and "Invalid argument" in p.stderr, \
            p.stderr
        assert "CopyToRegions must be a list" in m.log()
        dst = os.path.join(m.path, "imports", "xa.vmdk")
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            with pytest.raises(OSError) as ex:
                os.setxattr(dst, "user.amifs.copy_to_regions", b"eu west")
            assert ex.value.errno == errno.EINVAL
            os.setxattr(dst, "user.amifs.copy_to_regions",
                        b"eu-west-1,us-west-2")
            assert os.getxattr(dst, "user.amifs.copy_to_regions") == \
                b"eu-west-1,us-west-2"
        finally:
            try:
                os.close(fd)    # no byte written: EINVAL, as for any drop
            except OSError:
                pass
    finally:
        m.unmount()
