"""Warm listings in buckets/ (doc/design/perf.md): within cache_ttl one
cached listing serves readdir and every getattr, and the mount's own
creates, renames and deletes show at once however long the ttl is."""
import datetime
import errno
import os
import re
import subprocess
import time

import pytest


def ls_l(d):
    r = subprocess.run(["ls", "-l", d], capture_output=True, text=True,
                       check=True)
    return {ln.split()[-1]: int(ln.split()[4])
            for ln in r.stdout.splitlines() if ln.startswith("-")}


def ops_since(endpoint, mark):
    return [q.get("op") for q in endpoint.requests(since=mark)]


def test_warm_ls_asks_nothing_and_own_changes_show_at_once(mount_factory,
                                                           endpoint):
    m = mount_factory("cache_ttl=600")
    d = m.workdir("warm")
    for i in range(30):
        with open(os.path.join(d, "f%02d" % i), "w") as f:
            f.write("x" * i)
    first = ls_l(d)
    assert first == {"f%02d" % i: i for i in range(30)}
    mark = endpoint.mark()
    for _ in range(3):
        assert ls_l(d) == first
    ops = ops_since(endpoint, mark)
    assert "ListObjectsV2" not in ops and "HeadObject" not in ops, ops

    # Own changes: visible at the next ls, ttl or not.
    with open(os.path.join(d, "new"), "w") as f:
        f.write("hello")
    assert ls_l(d)["new"] == 5
    os.rename(os.path.join(d, "f01"), os.path.join(d, "moved"))
    after = ls_l(d)
    assert "f01" not in after and after["moved"] == 1
    os.unlink(os.path.join(d, "f02"))
    os.mkdir(os.path.join(d, "sub"))
    names = os.listdir(d)
    assert "f02" not in names and "sub" in names
    with open(os.path.join(d, "f03"), "w") as f:   # overwritten: new size
        f.write("y" * 100)
    assert ls_l(d)["f03"] == 100

    # At depth, each warm listing (a/b, c, the parent) follows at once.
    ab, c = os.path.join(d, "a", "b"), os.path.join(d, "c")
    os.makedirs(ab)
    os.mkdir(c)
    with open(os.path.join(ab, "x"), "w") as f:
        f.write("1234")
    assert ls_l(ab) == {"x": 4} and ls_l(c) == {}
    os.rename(os.path.join(ab, "x"), os.path.join(c, "y"))
    assert ls_l(ab) == {} and ls_l(c) == {"y": 4}
    with open(os.path.join(c, "y"), "w") as f:     # overwrite: size shows
        f.write("123456789")
    assert ls_l(c) == {"y": 9}
    os.rmdir(ab)
    assert os.listdir(os.path.join(d, "a")) == []
    os.rmdir(os.path.join(d, "sub"))
    assert "sub" not in os.listdir(d)

    # ...and once the listings are warm again, still nothing is asked.
    mark = endpoint.mark()
    assert ls_l(d) == ls_l(d) and ls_l(c) == {"y": 9}
    assert "ListObjectsV2" not in ops_since(endpoint, mark)


def test_changes_by_others_show_after_the_ttl(mount_factory, endpoint,
                                              tmp_path):
    m = mount_factory("cache_ttl=1")
    d = m.workdir("ttl")
    with open(os.path.join(d, "mine"), "w") as f:
        f.write("m")
    assert set(ls_l(d)) == {"mine"}
    src = tmp_path / "theirs"
    src.write_text("t")
    key = os.path.relpath(d, m.bucket_dir) + "/theirs"
    endpoint.aws("s3", "cp", str(src), "s3://%s/%s" % (endpoint.bucket, key),
                 json=False)
    src.write_text("seven!!")                  # and they overwrite mine
    endpoint.aws("s3", "cp", str(src), "s3://%s/%s" % (
        endpoint.bucket, key[:-len("theirs")] + "mine"), json=False)
    time.sleep(1.2)
    # The new listing brings the new size with it (the kernel's copy of
    # the attributes is replaced by the listing's).
    assert ls_l(d) == {"mine": 7, "theirs": 1}


# ---- the kernel gets the attributes with the names (READDIRPLUS) -------

def ls_lt(d):
    """{name: (kind, size, mtime seconds)} from `ls -l`."""
    r = subprocess.run(["ls", "-l", "--time-style=+%s", d],
                       capture_output=True, text=True, check=True)
    out = {}
    for ln in r.stdout.splitlines():
        f = ln.split()
        if ln[0] in "-d":
            out[f[-1]] = (ln[0], int(f[4]), int(f[5]))
    return out


def s3_state(endpoint, prefix):
    """{name: (size, mtime seconds)} of the objects right under PREFIX."""
    r = endpoint.aws("s3api", "list-objects-v2", "--bucket", endpoint.bucket,
                     "--prefix", prefix, "--delimiter", "/") or {}
    return {o["Key"][len(prefix):]: (
        o["Size"],
        int(datetime.datetime.fromisoformat(
            o["LastModified"].replace("Z", "+00:00")).timestamp()))
        for o in r.get("Contents", []) if o["Key"] != prefix}


def fuse_ops(m, since):
    """The FUSE requests the daemon logged (-d) after offset SINCE."""
    return re.findall(r"opcode: ([A-Z_]+)", m.log()[since:])


def test_ls_l_gets_the_attributes_with_the_listing(mount_factory, endpoint,
                                                   tmp_path):
    # cache_ttl=0: nothing is kept by the daemon, so each name ls -l stats
    # would cost a HEAD if the kernel had to look it up.
    m = mount_factory("cache_ttl=0")
    d = m.workdir("plus")
    prefix = os.path.relpath(d, m.bucket_dir) + "/"
    for i in range(25):
        with open(os.path.join(d, "f%02d" % i), "wb") as f:
            f.write(b"z" * (i * 37))
    os.mkdir(os.path.join(d, "sub"))
    want = s3_state(endpoint, prefix)
    assert len(want) == 25
    time.sleep(1.2)       # the kernel's own entries from the writes expire
    mark, at = endpoint.mark(), len(m.log())
    got = ls_lt(d)
    assert got.pop("sub")[0] == "d"
    assert got == {n: ("-", sz, mt) for n, (sz, mt) in want.items()}
    ops = ops_since(endpoint, mark)
    assert ops.count("HeadObject") == 0, ops
    assert ops.count("ListObjectsV2") <= 2, ops  # d itself, and its listing
    if m.debug:
        fops = fuse_ops(m, at)
        assert "READDIRPLUS" in fops, fops
        assert fops.count("LOOKUP") + fops.count("GETATTR") < 5, fops
        assert fops.count("GETXATTR") < 5, fops   # ls asks once per mount

    # No ACLs or labels: "not supported", so ls stops asking.
    f01 = os.path.join(d, "f01")
    for name in ("security.selinux", "system.posix_acl_access"):
        with pytest.raises(OSError) as ex:
            os.getxattr(f01, name)
        assert ex.value.errno == errno.ENOTSUP
    assert os.getxattr(f01, "user.amifs.etag")

    # cache_ttl=0 is no cache: another writer's change shows at once.
    src = tmp_path / "theirs"
    src.write_bytes(b"t" * 999)
    endpoint.aws("s3", "cp", src, "s3://%s/%sf03" % (endpoint.bucket, prefix),
                 json=False)
    endpoint.aws("s3", "cp", src, "s3://%s/%stheirs" % (endpoint.bucket,
                                                        prefix), json=False)
    endpoint.aws("s3", "rm", "s3://%s/%sf04" % (endpoint.bucket, prefix),
                 json=False)
    got = ls_lt(d)
    assert got["f03"][1] == 999 and got["theirs"][1] == 999
    assert "f04" not in got


def test_a_listing_larger_than_one_reply(mount_factory, endpoint, tmp_path):
    # 300 long names: many READDIRPLUS replies, each by offset from one
    # listing; a change made while reading does not upset the offsets.
    m = mount_factory("cache_ttl=600")
    d = m.workdir("big")
    prefix = os.path.relpath(d, m.bucket_dir) + "/"
    src = tmp_path / "src"
    src.mkdir()
    names = ["n%03d-%s" % (i, "L" * 180) for i in range(300)]
    for i, n in enumerate(names):
        (src / n).write_bytes(b"b" * i)
    endpoint.aws("s3", "cp", "--recursive", "--quiet", str(src),
                 "s3://%s/%s" % (endpoint.bucket, prefix), json=False)
    want = {n: ("-", sz, mt) for n, (sz, mt) in
            s3_state(endpoint, prefix).items()}
    assert sorted(want) == names
    assert ls_lt(d) == want                  # cold
    mark = endpoint.mark()
    assert ls_lt(d) == want                  # warm: the same, from the cache
    assert "ListObjectsV2" not in ops_since(endpoint, mark)
    assert all(want[n][1] == i for i, n in enumerate(names))
    seen = []
    with os.scandir(d) as it:
        for k, e in enumerate(it):
            seen.append(e.name)
            if k == 10:
                open(os.path.join(d, "during"), "w").close()
    assert sorted(n for n in seen if n != "during") == names
    assert "during" in os.listdir(d)

    # A reader that stops half-way (or is killed) leaves nothing behind:
    # the next listing is whole.
    with os.scandir(d) as it:
        next(it)
    p = subprocess.Popen(["ls", "-lR", d], stdout=subprocess.DEVNULL)
    time.sleep(0.05)
    p.kill()
    p.wait()
    assert sorted(os.listdir(d)) == sorted(names + ["during"])
