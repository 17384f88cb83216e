"""Warm listings in buckets/ (doc/design/perf.md): within cache_ttl one
cached listing serves readdir and every getattr, and the mount's own
creates, renames and deletes show at once however long the ttl is."""
import datetime
import errno
import os
import re
import subprocess
import time
import urllib.parse

import pytest

from shared_fixtures import kill_dead_mount


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


# ---- own changes update the warm listing in place -----------------------

def s3_listing(endpoint, prefix):
    """The names a new listing of PREFIX shows, in its order: the common
    prefixes (directories), then the objects ("NAME%" when a directory of
    the same name shadows one), as ListObjectsV2 returns them."""
    r = endpoint.aws("s3api", "list-objects-v2", "--bucket", endpoint.bucket,
                     "--prefix", prefix, "--delimiter", "/") or {}
    dirs = [p["Prefix"][len(prefix):-1] for p in r.get("CommonPrefixes", [])]
    files = [o["Key"][len(prefix):] for o in r.get("Contents", [])
             if o["Key"] != prefix]
    return dirs + [n + "%" if n in dirs else n for n in files]


def listings_of(endpoint, prefix, mark):
    """How many listings of the directory PREFIX (ListObjectsV2 with the
    delimiter "/") the endpoint answered since MARK."""
    n = 0
    for q in endpoint.requests("ListObjectsV2", since=mark):
        qs = urllib.parse.parse_qs(q.get("query") or "")
        n += qs.get("prefix") == [prefix] and qs.get("delimiter") == ["/"]
    return n


def fill(endpoint, tmp_path, prefix, names):
    """Put one object per name under PREFIX behind the mount's back (the
    CLI); the object of name N holds len(N) bytes."""
    src = tmp_path / "fill"
    for n in names:
        p = src / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"f" * len(n))
    endpoint.aws("s3", "cp", "--recursive", "--quiet", str(src),
                 "s3://%s/%s" % (endpoint.bucket, prefix), json=False)


def test_own_changes_keep_the_listing_warm_and_in_order(mount_factory,
                                                        endpoint, tmp_path):
    m = mount_factory("cache_ttl=600")
    d = m.workdir("inplace")
    prefix = os.path.relpath(d, m.bucket_dir) + "/"
    # Names whose order differs between "NAME" and the prefix "NAME/"
    # ('-' 0x2D, '.' 0x2E, '/' 0x2F), one shadowed object ("a-b%"), and a
    # name beyond ASCII.
    fill(endpoint, tmp_path, prefix,
         ["k%03d" % i for i in range(120)] +
         ["a.txt", "a0", "\u00e9", "a/in", "a-b/in", "a.d/in"])
    (tmp_path / "a-b").write_bytes(b"shadowed")
    endpoint.aws("s3", "cp", str(tmp_path / "a-b"), "s3://%s/%sa-b" % (
        endpoint.bucket, prefix), json=False)
    want = s3_listing(endpoint, prefix)
    assert os.listdir(d) == want                 # cold: S3's order
    assert want[:3] == ["a-b", "a.d", "a"] and "a-b%" in want

    mark = endpoint.mark()
    with open(os.path.join(d, "a-c"), "w") as f:     # create
        f.write("new")
    os.mkdir(os.path.join(d, "a+"))                  # mkdir
    os.rename(os.path.join(d, "k005"), os.path.join(d, "a.zz"))  # rename
    os.unlink(os.path.join(d, "a.txt"))              # delete
    os.unlink(os.path.join(d, "a.d", "in"))          # rm -r a.d
    os.rmdir(os.path.join(d, "a.d"))
    with open(os.path.join(d, "k007"), "w") as f:    # overwrite
        f.write("y" * 77)
    warm = os.listdir(d)
    sizes = ls_l(d)
    assert listings_of(endpoint, prefix, mark) == 0  # served warm
    want = s3_listing(endpoint, prefix)
    assert warm == want
    assert sizes["a-c"] == 3 and sizes["a.zz"] == 4 and sizes["k007"] == 77
    assert "k005" not in sizes and "a.txt" not in sizes

    # A writer in flight shows (after the listing, as a new listing shows
    # it); killed, it publishes nothing and leaves no name behind.
    mark = endpoint.mark()
    w = subprocess.Popen([os.environ.get("AMIFS_PYTHON", "python3"), "-c",
                          "import sys, time\n"
                          "f = open(sys.argv[1], 'w'); f.write('x' * 99)\n"
                          "f.flush(); print('ok', flush=True); time.sleep(60)",
                          os.path.join(d, "a-d")], stdout=subprocess.PIPE,
                         text=True)
    assert w.stdout.readline() == "ok\n"
    assert os.listdir(d) == want + ["a-d"]
    w.kill()
    w.wait(10)
    w.stdout.close()
    assert os.listdir(d) == want
    # Renamed while written (GIO's replace: write a temporary, rename it
    # onto the target, close): the target takes the bytes, in place.
    with open(os.path.join(d, ".tmp-k008"), "w") as f:
        f.write("replaced")
        os.rename(os.path.join(d, ".tmp-k008"), os.path.join(d, "k008"))
    assert ls_l(d)["k008"] == 8
    warm = os.listdir(d)
    assert listings_of(endpoint, prefix, mark) == 0
    assert s3_listing(endpoint, prefix) == want == warm

    # rmdir of a prefix that shadowed an object: the object is listed
    # under its own name again ("a-b%" becomes "a-b"), as S3 now lists it.
    os.unlink(os.path.join(d, "a-b", "in"))
    os.rmdir(os.path.join(d, "a-b"))
    assert "a-b" in os.listdir(d) and "a-b%" not in os.listdir(d)
    assert os.listdir(d) == s3_listing(endpoint, prefix)

    # Killed right after an own rename, and mounted again: the new
    # listing is S3's, which holds the rename whole.
    os.rename(os.path.join(d, "k010"), os.path.join(d, "0first"))
    want = s3_listing(endpoint, prefix)
    assert os.listdir(d) == want
    assert "0first" in want and "k010" not in want
    kill_dead_mount(m)
    m2 = mount_factory("cache_ttl=600")
    assert os.listdir(os.path.join(m2.bucket_dir, prefix)) == want


def test_own_changes_do_not_make_the_listing_last_longer(mount_factory,
                                                         endpoint, tmp_path):
    m = mount_factory("cache_ttl=6")
    d = m.workdir("fresh")
    prefix = os.path.relpath(d, m.bucket_dir) + "/"
    fill(endpoint, tmp_path, prefix, ["b%02d" % i for i in range(20)])
    t0 = time.monotonic()
    first = os.listdir(d)                          # kept until t0 + 6 s
    theirs = tmp_path / "theirs"
    theirs.write_text("t")
    endpoint.aws("s3", "cp", str(theirs), "s3://%s/%stheirs" % (
        endpoint.bucket, prefix), json=False)
    time.sleep(max(0.0, t0 + 2.5 - time.monotonic()))
    mark = endpoint.mark()
    open(os.path.join(d, "mine"), "w").close()     # own: shows at once
    names = os.listdir(d)
    assert time.monotonic() - t0 < 5.5, "too slow to tell"
    assert names == first + ["mine"]               # theirs: not yet
    assert listings_of(endpoint, prefix, mark) == 0
    # The listing still ends 6 s after it was taken, not 6 s after "mine".
    time.sleep(max(0.0, t0 + 6.3 - time.monotonic()))
    names = os.listdir(d)
    assert names == s3_listing(endpoint, prefix)
    assert "theirs" in names and "mine" in names
