"""Warm listings in buckets/ (doc/design/perf.md): within cache_ttl one
cached listing serves readdir and every getattr, and the mount's own
creates, renames and deletes show at once however long the ttl is."""
import os
import subprocess
import time


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

    # ...and once the listing is warm again, still nothing is asked.
    mark = endpoint.mark()
    assert ls_l(d) == ls_l(d)
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
    time.sleep(1.2)
    assert set(ls_l(d)) == {"mine", "theirs"}
