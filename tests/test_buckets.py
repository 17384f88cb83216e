"""buckets/: S3 through the mount, checked with the AWS CLI as the
independent client. Sizes stay modest (moto keeps objects in memory);
the big round trip is marked slow, and its 1 GiB variant runs only with
--full (128 MiB by default)."""
import errno
import os
import random
import shutil
import stat
import subprocess
import threading
import time

import pytest
from shared_fixtures import head, key_of, no_uploads_left, sha

MiB = 1 << 20


def make_file(path, size, seed=0):
    """A file of `size` pseudo-random bytes; every MiB differs."""
    block = random.Random(seed).randbytes(MiB)
    with open(path, "wb") as f:
        n = 0
        while n * MiB < size:
            chunk = n.to_bytes(8, "little") + block[8:]
            f.write(chunk[: min(MiB, size - n * MiB)])
            n += 1
    return path


def run(*argv, check=True, **kw):
    r = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if check:
        assert r.returncode == 0, "%s: %s" % (argv, r.stderr)
    return r


def check_in_s3(endpoint, mount, path, local, tmp_path):
    """S3 holds exactly the local file: size by HeadObject, bytes by
    `aws s3 cp` out of the bucket."""
    key = key_of(mount, path)
    assert head(endpoint, key)["ContentLength"] == os.path.getsize(local)
    out = str(tmp_path / "from-s3")
    endpoint.aws("s3", "cp", "s3://%s/%s" % (endpoint.bucket, key), out,
                 json=False)
    assert sha(out) == sha(local)
    os.unlink(out)


# ---- listing ----------------------------------------------------------------

def test_ls_buckets(mount, endpoint):
    names = os.listdir(mount.buckets)
    assert endpoint.bucket in names
    assert stat.S_ISDIR(os.stat(mount.bucket_dir).st_mode)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mount.buckets, "no-such-bucket-here"))


def test_mkdir_at_the_top_creates_a_bucket(mount, endpoint):
    name = "amifs-mkdir-%d" % (time.time_ns() % 10**9)
    os.mkdir(os.path.join(mount.buckets, name))
    try:
        assert name in os.listdir(mount.buckets)
        endpoint.aws("s3api", "head-bucket", "--bucket", name, json=False)
        with pytest.raises(OSError) as e:
            os.rmdir(os.path.join(mount.buckets, name))
        assert e.value.errno == errno.EPERM
    finally:
        endpoint.aws("s3api", "delete-bucket", "--bucket", name, json=False,
                     check=False)


def test_listing_keys_and_prefixes(mount, endpoint):
    d = mount.workdir("list")
    prefix = key_of(mount, d)
    for key in ("a.txt", "sub/b.txt", "sub/deeper/c.txt", "z"):
        endpoint.aws("s3api", "put-object", "--bucket", endpoint.bucket,
                     "--key", "%s/%s" % (prefix, key), "--body", "/etc/hostname")
    assert sorted(os.listdir(d)) == ["a.txt", "sub", "z"]
    assert sorted(os.listdir(os.path.join(d, "sub"))) == ["b.txt", "deeper"]
    st = os.stat(os.path.join(d, "a.txt"))
    assert st.st_size == os.path.getsize("/etc/hostname")
    assert abs(st.st_mtime - time.time()) < 600
    assert stat.S_ISDIR(os.stat(os.path.join(d, "sub", "deeper")).st_mode)


def test_etag_xattr(mount, endpoint, tmp_path):
    d = mount.workdir("etag")
    src = make_file(str(tmp_path / "src"), 12345)
    run("cp", src, d + "/f")
    etag = os.getxattr(d + "/f", "user.amifs.etag").decode()
    assert etag == head(endpoint, key_of(mount, d + "/f"))["ETag"].strip('"')
    assert "user.amifs.etag" in os.listxattr(d + "/f")


def test_ls_l_of_2500_keys_is_one_listing(mount_factory, endpoint):
    # Write through a mount whose cache knows the new directory is empty,
    # so each file costs one PutObject (no lookups): fast enough for moto.
    writer_mount = mount_factory("cache_ttl=600")
    d = writer_mount.workdir("many")
    os.listdir(d)
    names = ["k%04d" % i for i in range(2500)]

    def writer(part):
        for n in part:
            with open(os.path.join(d, n), "w") as f:
                f.write(n)

    threads = [threading.Thread(target=writer, args=(names[i::8],))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A second mount with a cold cache: `ls -l` is one paginated listing.
    m = mount_factory()
    d2 = os.path.join(m.bucket_dir, key_of(writer_mount, d))
    mark = endpoint.mark()
    r = run("ls", "-l", d2)
    lines = [l for l in r.stdout.splitlines() if l.startswith("-")]
    assert len(lines) == 2500
    assert all(l.split()[4] == "5" for l in lines)
    ops = [q.get("op") for q in endpoint.requests(since=mark)]
    assert ops.count("HeadObject") <= 1, ops[:20]  # the directory itself
    assert 3 <= ops.count("ListObjectsV2") <= 5, ops  # pages of 1,000
    listing = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                           endpoint.bucket, "--prefix", key_of(m, d2) + "/")
    keys = [o["Key"] for o in listing["Contents"]]
    assert len([k for k in keys if not k.endswith("/")]) == 2500


# ---- copies in and out -----------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1,
                                  64 * MiB])
def test_cp_roundtrip(mount, endpoint, tmp_path, size):
    d = mount.workdir("cp")
    src = make_file(str(tmp_path / "src"), size, seed=size)
    run("cp", src, d + "/file.bin")
    assert os.path.getsize(d + "/file.bin") == size
    run("cmp", src, d + "/file.bin")
    check_in_s3(endpoint, mount, d + "/file.bin", src, tmp_path)
    back = str(tmp_path / "back")
    run("cp", d + "/file.bin", back)
    assert sha(back) == sha(src)
    assert no_uploads_left(endpoint, key_of(mount, d))


@pytest.mark.slow
@pytest.mark.parametrize("mib", [
    128, pytest.param(1024, marks=pytest.mark.full, id="1GiB")],
    ids=lambda m: "%dMiB" % m)
def test_cp_big_file_both_ways_while_stat_answers(mount, endpoint, tmp_path,
                                                  mib):
    """The issue's big-file case: 1 GiB (with --full; 128 MiB by default)
    in and out byte-identical, and stat of the file being written keeps
    answering from the mount (no lock held across HTTP). Listings that must
    refresh from the server are not timed here: moto stalls every request
    for seconds while it assembles a 1 GiB object (measured 3-8 s), which
    says nothing about amifs; test_ls_and_stat_stay_fast_during_big_cp
    times them during a smaller upload. moto is slow and memory-hungry with
    big objects, so this is the only 1 GiB test."""
    d = mount.workdir("big")
    src = make_file(str(tmp_path / "src"), mib * MiB, seed=mib)
    cp = subprocess.Popen(["cp", src, d + "/big.bin"])
    worst = 0.0
    try:
        while cp.poll() is None:
            t = time.monotonic()
            if os.path.exists(d + "/big.bin"):
                os.stat(d + "/big.bin")
            worst = max(worst, time.monotonic() - t)
            time.sleep(0.2)
        assert cp.wait(timeout=900) == 0
    finally:
        if cp.poll() is None:
            cp.kill()
    # Answered locally: milliseconds. 3 s only allows for a loaded CI box;
    # a stat that waited on the upload would wait for a 1 GiB transfer.
    assert worst < 3.0, "stat took %.2fs during a %d MiB upload" % (worst,
                                                                   mib)
    check_in_s3(endpoint, mount, d + "/big.bin", src, tmp_path)
    run("cmp", src, d + "/big.bin", timeout=900)
    assert no_uploads_left(endpoint, key_of(mount, d))


def test_cat_bigger_than_read_ahead_window(mount, endpoint, tmp_path):
    d = mount.workdir("cat")
    size = 40 * MiB + 4321  # > the 32 MiB maximum window
    src = make_file(str(tmp_path / "src"), size, seed=7)
    endpoint.aws("s3", "cp", src, "s3://%s/%s/obj" % (endpoint.bucket,
                                                     key_of(mount, d)),
                 json=False)
    mark = endpoint.mark()
    r = subprocess.run("cat '%s/obj' | sha256sum" % d, shell=True,
                       capture_output=True, text=True)
    assert r.stdout.split()[0] == sha(src)
    gets = endpoint.requests(op="GetObject", since=mark)
    # a growing window cut in ranges of a quarter of it (1 MiB while it
    # is small, 8 MiB at most; doc/design/perf.md "Reads"): a score of
    # ranged GETs, not one per FUSE read, never the whole object
    assert 2 <= len(gets) <= 24, len(gets)


def test_random_reads(mount, tmp_path):
    d = mount.workdir("rand")
    src = make_file(str(tmp_path / "src"), 9 * MiB + 5, seed=3)
    run("cp", src, d + "/f")
    with open(src, "rb") as a, open(d + "/f", "rb") as b:
        for off in (8 * MiB, 17, 3 * MiB + 1, 9 * MiB, 9 * MiB + 4, 0):
            a.seek(off)
            b.seek(off)
            assert a.read(70000) == b.read(70000), off


def test_odd_key_names(mount, endpoint):
    d = mount.workdir("odd")
    names = ["with space", "plus+sign", "per%cent", "unicodé-日本",
             "q?mark&amp=1", "tilde~star*"]
    for n in names:
        with open(os.path.join(d, n), "w") as f:
            f.write(n)
    assert sorted(os.listdir(d)) == sorted(names)
    listing = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                           endpoint.bucket, "--prefix", key_of(mount, d) + "/")
    keys = sorted(o["Key"].split("/", 1)[1] for o in listing["Contents"]
                  if not o["Key"].endswith("/"))
    assert keys == sorted(names)
    for n in names:
        with open(os.path.join(d, n)) as f:
            assert f.read() == n


# ---- how real clients write ------------------------------------------------

def test_cp_p_and_mv_from_another_fs(mount, tmp_path):
    d = mount.workdir("cpp")
    src = make_file(str(tmp_path / "src"), 3 * MiB, seed=11)
    os.utime(src, (1_000_000_000, 1_000_000_000))
    run("cp", "-p", src, d + "/p")
    run("cmp", src, d + "/p")
    moved = make_file(str(tmp_path / "moved"), 6 * MiB, seed=12)
    want = sha(moved)
    run("mv", moved, d + "/moved")
    assert not os.path.exists(moved)
    assert sha(d + "/moved") == want


def test_rsync_temp_and_rename(mount, tmp_path):
    if not shutil.which("rsync"):
        pytest.skip("rsync not installed")
    d = mount.workdir("rsync")
    srcdir = tmp_path / "tree"
    srcdir.mkdir()
    make_file(str(srcdir / "one"), 7 * MiB, seed=1)
    make_file(str(srcdir / "two"), 100, seed=2)
    run("rsync", "-a", str(srcdir) + "/", d + "/")
    assert sorted(os.listdir(d)) == ["one", "two"]
    for n in ("one", "two"):
        run("cmp", str(srcdir / n), os.path.join(d, n))


def test_gio_copy(mount, tmp_path):
    if not shutil.which("gio"):
        pytest.skip("gio not installed")
    d = mount.workdir("gio")
    src = make_file(str(tmp_path / "src"), 2 * MiB + 3, seed=5)
    run("gio", "copy", src, d + "/g")
    run("cmp", src, d + "/g")


def test_replace_by_rename_while_open(mount, tmp_path):
    """GIO/Nautilus overwrite: write a temporary, fsync, rename it onto the
    target while still open, then close."""
    d = mount.workdir("grep")
    with open(d + "/target", "w") as f:
        f.write("old content")
    data = os.urandom(6 * MiB + 3)
    fd = os.open(d + "/.goutputstream-ABC123", os.O_WRONLY | os.O_CREAT |
                 os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
        os.rename(d + "/.goutputstream-ABC123", d + "/target")
        assert sorted(os.listdir(d)) == ["target"]
    finally:
        os.close(fd)
    assert sorted(os.listdir(d)) == ["target"]
    with open(d + "/target", "rb") as f:
        assert f.read() == data
    if shutil.which("gio"):
        src = make_file(str(tmp_path / "src"), 1 * MiB + 1, seed=8)
        run("gio", "copy", src, d + "/target")
        run("cmp", src, d + "/target")


def test_dd_and_shell_redirection(mount, tmp_path):
    d = mount.workdir("dd")
    src = make_file(str(tmp_path / "src"), 11 * MiB + 17, seed=9)
    run("dd", "if=" + src, "of=" + d + "/dd", "bs=1M", "status=none")
    run("cmp", src, d + "/dd")
    run("sh", "-c", "cat '%s' > '%s/redir'" % (src, d))
    run("cmp", src, d + "/redir")
    run("sh", "-c", "echo hello > '%s/echo'" % d)
    with open(d + "/echo") as f:
        assert f.read() == "hello\n"


def test_cp_sparse_raw_image(mount, tmp_path):
    d = mount.workdir("sparse")
    img = str(tmp_path / "disk.raw")
    with open(img, "wb") as f:
        f.truncate(24 * MiB)
        for off in (0, 7 * MiB + 3, 20 * MiB):
            f.seek(off)
            f.write(os.urandom(100000))
    run("cp", "--sparse=always", img, d + "/disk.raw")
    assert os.path.getsize(d + "/disk.raw") == 24 * MiB
    run("cmp", img, d + "/disk.raw")


def test_overwrite_existing_file(mount, tmp_path):
    d = mount.workdir("over")
    a = make_file(str(tmp_path / "a"), 6 * MiB, seed=1)
    b = make_file(str(tmp_path / "b"), 1000, seed=2)
    run("cp", a, d + "/f")
    run("cp", b, d + "/f")  # open(O_TRUNC) replaces the object
    run("cmp", b, d + "/f")
    assert os.path.getsize(d + "/f") == 1000


def test_writes_s3_cannot_do_fail_at_once(mount, tmp_path):
    d = mount.workdir("nope")
    with open(d + "/f", "w") as f:
        f.write("content")
    with pytest.raises(OSError) as e:
        open(d + "/f", "a")
    assert e.value.errno == errno.EPERM
    fd = os.open(d + "/f", os.O_WRONLY)  # touch does this: open succeeds
    try:
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"x", 2)
        assert e.value.errno == errno.EPERM
    finally:
        os.close(fd)
    with open(d + "/f") as f:
        assert f.read() == "content"
    run("touch", d + "/f")
    with pytest.raises(OSError) as e:
        os.link(d + "/f", d + "/hard")
    assert e.value.errno == errno.EPERM
    # backwards writes while writing fail with ESPIPE, and poison the file:
    # the close fails too and nothing is published (doc/design/upload.md)
    fd = os.open(d + "/g", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"abcdef")
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"x", 1)
        assert e.value.errno == errno.ESPIPE
    finally:
        with pytest.raises(OSError) as e:
            os.close(fd)
        assert e.value.errno == errno.ESPIPE
    assert not os.path.exists(d + "/g")


def test_metadata_calls_before_and_after_close(mount):
    d = mount.workdir("meta")
    p = d + "/m"
    with open(p, "wb") as f:
        f.write(b"1234")
        f.flush()
        os.chmod(p, 0o600)
        os.utime(p, (1, 1))
        os.chown(p, os.getuid(), os.getgid())
        assert os.stat(p).st_size == 4  # size so far while writing
    os.chmod(p, 0o644)
    os.utime(p, None)
    assert os.stat(p).st_size == 4


def test_forward_seek_and_ftruncate_write_zeros(mount):
    d = mount.workdir("zeros")
    fd = os.open(d + "/z", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"head")
        os.pwrite(fd, b"tail", 1000)
        os.ftruncate(fd, 3000)
    finally:
        os.close(fd)
    with open(d + "/z", "rb") as f:
        data = f.read()
    assert data == b"head" + bytes(996) + b"tail" + bytes(1996)


# ---- namespace changes -----------------------------------------------------

def test_rm_mkdir_rmdir_mv(mount, endpoint):
    d = mount.workdir("ns")
    prefix = key_of(mount, d)
    os.mkdir(d + "/sub")
    assert head(endpoint, prefix + "/sub/")["ContentLength"] == 0
    with open(d + "/sub/f", "w") as f:
        f.write("data")
    with pytest.raises(OSError) as e:
        os.rmdir(d + "/sub")
    assert e.value.errno == errno.ENOTEMPTY
    os.rename(d + "/sub/f", d + "/sub/g")
    assert os.listdir(d + "/sub") == ["g"]
    with open(d + "/sub/g") as f:
        assert f.read() == "data"
    keys = [o["Key"] for o in endpoint.aws(
        "s3api", "list-objects-v2", "--bucket", endpoint.bucket,
        "--prefix", prefix + "/sub/")["Contents"]]
    assert sorted(keys) == [prefix + "/sub/", prefix + "/sub/g"]
    os.unlink(d + "/sub/g")
    os.rmdir(d + "/sub")
    assert not os.path.exists(d + "/sub")
    r = endpoint.aws("s3api", "list-objects-v2", "--bucket", endpoint.bucket,
                     "--prefix", prefix + "/sub")
    assert not (r or {}).get("Contents")


def test_mv_directory_and_across_buckets_fall_back(mount, endpoint):
    d = mount.workdir("mvdir")
    os.mkdir(d + "/a")
    for n in ("x", "y"):
        with open(d + "/a/" + n, "w") as f:
            f.write(n)
    run("mv", d + "/a", d + "/b")  # EXDEV: mv copies and deletes
    assert sorted(os.listdir(d + "/b")) == ["x", "y"]
    assert not os.path.exists(d + "/a")


def test_visible_by_name_right_after_close(mount_factory):
    m = mount_factory("cache_ttl=60")
    d = m.workdir("vis")
    os.listdir(d)  # cache the (empty) listing for a minute
    with open(d + "/new", "w") as f:
        f.write("fresh")
    assert "new" in os.listdir(d) or os.path.exists(d + "/new")
    with open(d + "/new") as f:
        assert f.read() == "fresh"
    os.unlink(d + "/new")
    assert not os.path.exists(d + "/new")


# ---- failures and responsiveness ---------------------------------------------

def test_endpoint_down_mid_cp_fails_and_leaves_no_upload(mount_factory,
                                                        endpoint, tmp_path):
    # resume_days=0: the abort path (a kept upload: tests/test_resume.py)
    m = mount_factory("max_attempts=2,resume_days=0")
    d = m.workdir("down")
    src = make_file(str(tmp_path / "src"), 48 * MiB, seed=4)
    mark = endpoint.mark()
    cp = subprocess.Popen(["cp", src, d + "/f"], stderr=subprocess.PIPE,
                          text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:  # wait until parts are going up
            if endpoint.requests(op="UploadPart", since=mark):
                break
            time.sleep(0.05)
        endpoint.set_faults([{"service": "*", "op": "*", "action": "drop",
                              "rate": 1.0}])
        err = cp.communicate(timeout=300)[1]
    finally:
        endpoint.clear_faults()
    assert cp.returncode != 0, "cp succeeded while the endpoint was down"
    assert "f" in err
    deadline = time.time() + 60
    while not no_uploads_left(endpoint, key_of(m, d)):
        assert time.time() < deadline, "a multipart upload was left behind"
        time.sleep(1)
    assert "upload failed" in m.log()


def test_rm_of_a_file_being_written_aborts_it(mount, endpoint):
    d = mount.workdir("rmw")
    fd = os.open(d + "/f", os.O_WRONLY | os.O_CREAT)
    closed = False
    try:
        os.write(fd, os.urandom(12 * MiB))  # the multipart upload is started
        assert os.stat(d + "/f").st_size == 12 * MiB
        os.unlink(d + "/f")
        assert not os.path.exists(d + "/f")
        with pytest.raises(OSError) as e:
            os.write(fd, b"more")
        assert e.value.errno == errno.ECANCELED
        with pytest.raises(OSError) as e:
            closed = True
            os.close(fd)
        assert e.value.errno == errno.ECANCELED
    finally:
        if not closed:
            os.close(fd)
    assert not os.path.exists(d + "/f")
    deadline = time.time() + 30
    while not no_uploads_left(endpoint, key_of(mount, d)):
        assert time.time() < deadline, "a multipart upload was left behind"
        time.sleep(0.5)


def test_ls_and_stat_stay_fast_during_big_cp(mount, tmp_path):
    d = mount.workdir("busy")
    src = make_file(str(tmp_path / "src"), 96 * MiB, seed=6)
    cp = subprocess.Popen(["cp", src, d + "/big"])
    try:
        seen_partial = False
        worst = 0.0
        while cp.poll() is None:
            t = time.monotonic()
            os.listdir(mount.buckets)
            os.listdir(d)
            st = os.stat(d + "/big") if os.path.exists(d + "/big") else None
            worst = max(worst, time.monotonic() - t)
            if st and 0 < st.st_size < 96 * MiB:
                seen_partial = True
            time.sleep(0.1)
        assert cp.wait() == 0
    finally:
        if cp.poll() is None:
            cp.kill()
    # Not a speed target (those live in tests/bench/): a listing or stat
    # that waited on the upload would take seconds per part; 3 s leaves
    # room for a loaded 2-core CI machine running the ASan build.
    assert worst < 3.0, "ls/stat took %.2fs during an upload" % worst
    assert seen_partial, "the size so far never showed while writing"
    assert os.path.getsize(d + "/big") == 96 * MiB


# --- audit (session 2) ---------------------------------------------------
# doc/CONTRACT.md "Real clients" (shell redirection): the children of a shell that
# redirected a group into a file inherit the fd; each one's exit flushes it.
# Only the process that opened the file ends the upload.

def test_children_of_a_redirected_group_do_not_end_the_upload(mount,
                                                              endpoint):
    d = mount.workdir("group")
    r = run("bash", "-c", '{ echo a; /bin/true; sleep 0.2; echo b; } > "$1"',
            "sh", d + "/g.txt", check=False)
    assert r.returncode == 0, r.stderr
    with open(d + "/g.txt") as f:
        assert f.read() == "a\nb\n"
    r = run("bash", "-c", 'exec 3> "$1"; date >&3; /bin/echo x >&3; '
            'exec 3>&-', "sh", d + "/fd3.txt", check=False)
    assert r.returncode == 0, r.stderr
    assert head(endpoint, key_of(mount, d + "/fd3.txt"))[
        "ContentLength"] == len(open(d + "/fd3.txt").read()) > 2
    with open(d + "/fd3.txt") as f:
        assert f.read().endswith("\nx\n")


def test_shell_builtins_between_dups_of_the_fd(mount, endpoint):
    """bash saves and restores fds around a builtin's redirection, closing
    a dup of the file (a flush from the opener) between two writes: the
    small object is resumed, not cut after the first line."""
    d = mount.workdir("dups")
    r = run("bash", "-c", '{ echo a; echo w >&2; echo b; } > "$1" 2>&1',
            "sh", d + "/g.log", check=False)
    assert r.returncode == 0, r.stderr
    r = run("bash", "-c", 'exec 3> "$1"; echo x >&3; echo y >&3; '
            'exec 3>&-', "sh", d + "/fd3.log", check=False)
    assert r.returncode == 0, r.stderr
    for name, text in (("g.log", "a\nw\nb\n"), ("fd3.log", "x\ny\n")):
        with open(os.path.join(d, name)) as f:
            assert f.read() == text
        assert head(endpoint, key_of(mount, os.path.join(d, name)))[
            "ContentLength"] == len(text)
    assert no_uploads_left(endpoint, key_of(mount, d))
    # a write after close elsewhere than the end still fails at once
    fd = os.open(d + "/h", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"abc")
        os.fsync(fd)
        os.close(os.dup(fd))  # completes: the flush of the opener
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"x", 1)
        assert e.value.errno == errno.EPERM
    finally:
        os.close(fd)


# ---- memory and threads bounded per mount (aws/mpu.h: one pool) -------------

def proc_status(pid):
    """(VmHWM bytes, Threads) of a process from /proc/PID/status."""
    hwm = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return hwm, threads


FULL = bool(os.environ.get("AMIFS_FULL"))


@pytest.mark.parametrize("size", [
    12 * MiB,
    pytest.param(20 * MiB, marks=pytest.mark.skipif(
        not FULL, reason="50 x 20 MiB takes minutes on moto: AMIFS_FULL=1")),
])
def test_parallel_copies_share_one_budget(mount_factory, endpoint, tmp_path,
                                          size):
    """50 parallel `cp` into buckets/: the daemon's peak RSS and thread
    count stay bounded (one memory budget, one worker pool for the mount;
    50 x 20 MiB used to take 1.07 GiB and 321 threads), and S3 then holds
    50 byte-identical objects with no upload left behind. 5 MiB parts, so
    the quick 12 MiB case is a multipart upload too."""
    mount = mount_factory("part_size=5M")
    src = make_file(str(tmp_path / "src"), size, seed=11)
    d = mount.workdir("par")
    pid = mount.proc.pid
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(proc_status(pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample)
    t.start()
    try:
        procs = [subprocess.Popen(["cp", src, os.path.join(d, "f%02d" % i)])
                 for i in range(50)]
        rcs = [p.wait(timeout=600) for p in procs]
    finally:
        stop.set()
        t.join()
    assert rcs == [0] * 50
    hwm = max(s[0] for s in samples)
    threads = max(s[1] for s in samples)
    print("daemon VmHWM %.1f MiB, at most %d threads, %d samples"
          % (hwm / MiB, threads, len(samples)))
    # At most 64 FUSE request threads (fs/main.c max_threads) + the
    # mount's 10 upload workers + a few of our own: 82. One pool per upload
    # made 108 here, 321 for 50 x 20 MiB.
    assert threads <= 64 + 10 + 8, threads
    if "asan" not in os.path.basename(os.path.dirname(os.path.dirname(
            os.environ.get("AMIFS_BIN", "")))):
        # 64 MiB budget (max_memory) + the daemon's own ~30 MiB and FUSE's
        # buffers; per-upload pools reached 164 MiB here, 1.07 GiB for
        # 50 x 20 MiB. ASan's shadow memory is not ours.
        assert hwm <= 150 * MiB, hwm
    prefix = key_of(mount, d) + "/"
    out = tmp_path / "back"
    endpoint.aws("s3", "cp", "--recursive",
                 "s3://%s/%s" % (endpoint.bucket, prefix), str(out),
                 json=False)
    want = sha(src)
    names = sorted(os.listdir(out))
    assert names == ["f%02d" % i for i in range(50)]
    assert all(sha(str(out / n)) == want for n in names)
    assert no_uploads_left(endpoint, prefix)
