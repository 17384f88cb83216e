"""The one upload writer (core/upload.h) as writers see it, in buckets/ and
imports/: only a clean, deliberate close publishes; replacement is atomic;
a refused write poisons the file; out-of-order and size-hinted writers
work. Every result is checked with the AWS CLI against the local endpoint
(doc/design/upload.md has the rules)."""
import errno
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest

from shared_fixtures import (head, key_of, make_file, no_uploads_left,
                             objects, read, sha, start_mount)

MiB = 1 << 20
SLOW_PARTS = [{"service": "s3", "op": "UploadPart", "action": "delay",
               "delay_ms": 1500}]


@pytest.fixture
def narrow(mount_factory):
    """A mount with one upload connection: a 40 MiB cp is still writing
    (blocked on the pool) when it gets killed, not already in close()."""
    return mount_factory(opts="upload_concurrency=1")


def poll(fn, timeout=20, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        r = fn()
        if r:
            return r
        time.sleep(step)
    return fn()


def in_close(pid):
    """Whether process pid is inside close(2) (x86-64 syscall 3)."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] == "3"
    except (OSError, IndexError):
        return False


def s3_bytes(endpoint, key, tmp_path):
    out = str(tmp_path / ("s3-" + uuid.uuid4().hex[:6]))
    endpoint.aws("s3", "cp", "s3://%s/%s" % (endpoint.bucket, key), out,
                 json=False)
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


def absent(endpoint, key):
    r = endpoint.aws("s3api", "list-objects-v2", "--bucket", endpoint.bucket,
                     "--prefix", key)
    return not any(o["Key"] == key for o in (r or {}).get("Contents", []))


def put(endpoint, key, data, tmp_path):
    src = str(tmp_path / "put-src")
    with open(src, "wb") as f:
        f.write(data)
    endpoint.aws("s3", "cp", src, "s3://%s/%s" % (endpoint.bucket, key),
                 json=False)


def kill_cp_midway(endpoint, src, dst, sig):
    """cp SRC DST with slow parts; once a part went up, send cp `sig`.
    Returns cp's exit status."""
    endpoint.set_faults(SLOW_PARTS)
    mark = endpoint.mark()
    try:
        p = subprocess.Popen(["cp", src, dst], stderr=subprocess.DEVNULL,
                             preexec_fn=lambda: signal.signal(
                                 signal.SIGINT, signal.SIG_DFL))
        assert poll(lambda: endpoint.requests("UploadPart", since=mark)), \
            "the upload never started"
        p.send_signal(sig)
        return p.wait(60)
    finally:
        endpoint.clear_faults()


# ---- 1. only a clean, deliberate close publishes --------------------------

@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
@pytest.mark.parametrize("over", [False, True], ids=["new", "over"])
def test_killed_writer_publishes_nothing(narrow, endpoint, tmp_path, sig,
                                         over):
    mount = narrow
    d = mount.workdir("killed")
    key = key_of(mount, d + "/k")
    old = b"the old object\n" * 100
    if over:
        put(endpoint, key, old, tmp_path)
    src = make_file(str(tmp_path / "src"), 40 * MiB, seed=3)
    rc = kill_cp_midway(endpoint, src, d + "/k", sig)
    assert rc == -sig
    assert poll(lambda: no_uploads_left(endpoint, key), 30), \
        "a multipart upload was left behind"
    if over:
        assert s3_bytes(endpoint, key, tmp_path) == old
    else:
        assert absent(endpoint, key), head(endpoint, key)
    assert "killed by signal %d" % sig in mount.log()


def test_exit_without_close_still_publishes(mount, endpoint):
    d = mount.workdir("exit")
    code = ("import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|"
            "os.O_TRUNC); os.write(fd, b'x'*(7<<20)); os._exit(3)")
    r = subprocess.run(["/usr/bin/python3", "-c", code, d + "/e"])
    assert r.returncode == 3
    assert poll(lambda: not absent(endpoint, key_of(mount, d + "/e")))
    assert head(endpoint, key_of(mount, d + "/e"))["ContentLength"] == 7 << 20


def test_sigterm_of_the_daemon_aborts_open_uploads(mount_factory, endpoint,
                                                   tmp_path):
    m = mount_factory(opts="upload_concurrency=1")
    d = m.workdir("term")
    key = key_of(m, d + "/t")
    old = b"old bytes\n" * 10
    put(endpoint, key, old, tmp_path)
    src = make_file(str(tmp_path / "src"), 40 * MiB, seed=4)
    endpoint.set_faults(SLOW_PARTS)
    mark = endpoint.mark()
    try:
        p = subprocess.Popen(["cp", src, d + "/t"], stderr=subprocess.PIPE)
        assert poll(lambda: endpoint.requests("UploadPart", since=mark))
        m.proc.send_signal(signal.SIGTERM)
        p.wait(60)
        m.proc.wait(60)
    finally:
        endpoint.clear_faults()
        if m.proc is not None and m.proc.poll() is not None:
            m.proc = None  # it exited on SIGTERM: nothing left to unmount
            subprocess.run(["fusermount3", "-u", "-z", m.path])
    assert p.returncode != 0
    assert s3_bytes(endpoint, key, tmp_path) == old
    assert not endpoint.requests("CompleteMultipartUpload", since=mark)
    assert poll(lambda: no_uploads_left(endpoint, key), 30)


# ---- 2. replacement is atomic ---------------------------------------------

def test_killed_shell_redirect_keeps_the_old_object(mount, endpoint,
                                                    tmp_path):
    """`cat > existing`: the shell's dup flush changes nothing, so a cat
    killed before it wrote leaves the old object as it was."""
    d = mount.workdir("atomic")
    key = key_of(mount, d + "/f")
    old = b"keep me\n" * 1000
    put(endpoint, key, old, tmp_path)
    p = subprocess.Popen(["sh", "-c", 'exec cat > "$1"', "sh", d + "/f"],
                         stdin=subprocess.PIPE)
    time.sleep(1.0)  # open + dup flush done; cat waits on its stdin
    assert s3_bytes(endpoint, key, tmp_path) == old
    p.kill()
    p.wait(10)
    assert s3_bytes(endpoint, key, tmp_path) == old
    # the deliberate close of an empty O_TRUNC open replaces it at once
    subprocess.run(["sh", "-c", ': > "$1"', "sh", d + "/f"], check=True)
    assert head(endpoint, key)["ContentLength"] == 0
    subprocess.run(["sh", "-c", 'echo new > "$1"', "sh", d + "/f"],
                   check=True)
    assert s3_bytes(endpoint, key, tmp_path) == b"new\n"


# ---- 3. a refused write poisons the file ----------------------------------

def test_refused_write_poisons_the_file(mount, endpoint):
    d = mount.workdir("poison")
    fd = os.open(d + "/p", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, b"A" * 100)
    with pytest.raises(OSError) as e:
        os.pwrite(fd, b"B", 0)
    assert e.value.errno == errno.ESPIPE
    with pytest.raises(OSError) as e:
        os.write(fd, b"C" * 10)
    assert e.value.errno == errno.ESPIPE
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.ESPIPE
    assert absent(endpoint, key_of(mount, d + "/p"))
    assert no_uploads_left(endpoint, key_of(mount, d))


def test_refused_write_poisons_an_import(endpoint, images, tmp_path):
    m = start_mount(endpoint, str(tmp_path))
    with open(images["raw"]["path"], "rb") as f:
        head_bytes = f.read(64 << 10)
    try:
        dst = os.path.join(m.path, "imports", "p.raw")
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, head_bytes)
            with pytest.raises(OSError) as e:
                os.pwrite(fd, b"B", 0)
            assert e.value.errno == errno.ESPIPE
        finally:
            with pytest.raises(OSError) as e:
                os.close(fd)
        assert e.value.errno == errno.ESPIPE
        st = read(os.path.join(m.path, "tasks", "p.raw", "status"))
        assert st.startswith("failed"), st
        assert "copy to local disk first" in st, st
        assert not endpoint.requests("ImportImage")
    finally:
        m.unmount()


# ---- 4. real writers work -------------------------------------------------

def test_dd_oflag_direct(mount, endpoint, tmp_path):
    d = mount.workdir("direct")
    src = make_file(str(tmp_path / "src"), 64 * MiB, seed=5)
    r = subprocess.run(["dd", "if=" + src, "of=" + d + "/k", "bs=8M",
                        "oflag=direct", "status=none"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    out = str(tmp_path / "back")
    endpoint.aws("s3", "cp", "s3://%s/%s" % (endpoint.bucket,
                                            key_of(mount, d + "/k")), out,
                 json=False)
    assert sha(out) == sha(src)


def test_threads_writing_out_of_order(mount, endpoint, tmp_path):
    d = mount.workdir("threads")
    data = random.Random(6).randbytes(24 * MiB)
    fd = os.open(d + "/t", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    chunks = list(range(0, len(data), 256 << 10))
    random.Random(7).shuffle(chunks[:8])
    order = sorted(chunks, key=lambda o: (o // (4 * MiB), random.random()))

    def writer(offs):
        for o in offs:
            os.pwrite(fd, data[o:o + (256 << 10)], o)

    ts = [threading.Thread(target=writer, args=(order[i::4],))
          for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    os.close(fd)
    assert s3_bytes(endpoint, key_of(mount, d + "/t"), tmp_path) == data


def test_write_behind_the_window_fails_with_the_alternative(mount, endpoint):
    d = mount.workdir("window")
    fd = os.open(d + "/w", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.pwrite(fd, b"a" * MiB, 0)
        piece = b"z" * (4 * MiB)
        for k in range(9):  # 36 MiB held ahead of a 1 MiB gap: > window
            os.pwrite(fd, piece, 2 * MiB + k * len(piece))
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"b" * MiB, MiB)  # the gap, given up as a hole
        assert e.value.errno == errno.ESPIPE
    finally:
        with pytest.raises(OSError):
            os.close(fd)
    assert "copy to local disk first, then cp" in mount.log()
    assert absent(endpoint, key_of(mount, d + "/w"))
    assert no_uploads_left(endpoint, key_of(mount, d))


def test_ftruncate_before_data_is_a_size_hint(mount, endpoint, tmp_path):
    d = mount.workdir("hint")
    fd = os.open(d + "/h", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.ftruncate(fd, 10 * MiB)
        assert os.fstat(fd).st_size == 10 * MiB
        os.pwrite(fd, b"tail", 10 * MiB - 4)
        os.pwrite(fd, b"head", 0)  # not a rewrite: the hint wrote nothing
    finally:
        os.close(fd)
    got = s3_bytes(endpoint, key_of(mount, d + "/h"), tmp_path)
    assert got == b"head" + bytes(10 * MiB - 8) + b"tail"


def qemu_src(tmp_path, size=24 * MiB):
    """A raw disk with data in some places and holes in others."""
    p = str(tmp_path / "src.raw")
    rnd = random.Random(8)
    with open(p, "wb") as f:
        f.truncate(size)
        for off in (0, 3 * MiB + 512, 9 * MiB, size - MiB):
            f.seek(off)
            f.write(rnd.randbytes(MiB))
    return p


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="no qemu-img")
@pytest.mark.parametrize("cache", ["writeback", "none"])
def test_qemu_img_convert_raw_into_buckets(mount, endpoint, tmp_path, cache):
    d = mount.workdir("qemu")
    src = qemu_src(tmp_path)
    r = subprocess.run(["qemu-img", "convert", "-t", cache, "-O", "raw", src,
                        d + "/x.raw"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    back = str(tmp_path / "back.raw")
    endpoint.aws("s3", "cp", "s3://%s/%s" % (endpoint.bucket,
                                            key_of(mount, d + "/x.raw")),
                 back, json=False)
    r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw",
                        src, back], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.getsize(back) == os.path.getsize(src)


def qemu(*argv, timeout=120):
    return subprocess.run(["qemu-img"] + list(argv), capture_output=True,
                          text=True, timeout=timeout)


def errors_of(m):
    return read(os.path.join(m.path, ".amifs", "errors"))


STREAM_VMDK = ["-O", "vmdk", "-o", "subformat=streamOptimized"]


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="no qemu-img")
def test_qemu_img_stream_vmdk_is_refused_at_once(endpoint, images, tmp_path):
    """qemu-img's streamOptimized VMDK rewrites its grain tables (at the
    front) after every grain: refused at the write that completes its
    header, in buckets/ and imports/, with the two-step alternative in
    .amifs/errors; nothing left (no object, no upload, no ImportImage).
    The alternative itself (convert locally, then cp) works."""
    m = start_mount(endpoint, str(tmp_path))
    try:
        src = images["raw"]["path"]
        d = os.path.join(m.bucket_dir, m.prefix, "q")
        os.makedirs(d, exist_ok=True)
        mark = endpoint.mark()
        for dst in (d + "/x.vmdk", os.path.join(m.path, "imports", "x.vmdk")):
            r = qemu("convert", *STREAM_VMDK, src, dst)
            assert r.returncode != 0, dst
        errs = errors_of(m)
        for where in ("buckets/", "imports/x.vmdk write"):
            line = [ln for ln in errs.splitlines() if where in ln]
            assert line and "convert to a local file first, then cp" in \
                line[0], errs
        assert [k for k in objects(endpoint, m.prefix)
                if not k.endswith("/")] == []
        assert no_uploads_left(endpoint, m.prefix)
        assert not endpoint.requests("ImportImage", since=mark)
        assert not endpoint.requests("CompleteMultipartUpload", since=mark)
        assert not endpoint.requests("PutObject", since=mark)
        # the two-step alternative: the same bytes, written in order
        local = str(tmp_path / "local.vmdk")
        assert qemu("convert", *STREAM_VMDK, src, local).returncode == 0
        shutil.copyfile(local, d + "/y.vmdk")
        back = str(tmp_path / "back.vmdk")
        endpoint.aws("s3", "cp", "s3://%s/%s" % (
            endpoint.bucket, key_of(m, d + "/y.vmdk")), back, json=False)
        r = qemu("compare", "-F", "raw", back, src)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        m.unmount()


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="no qemu-img")
def test_qemu_img_convert_raw_into_imports(endpoint, images, tmp_path):
    """create -> ftruncate -> 4 KiB zeros probe -> close -> reopen -> write:
    the zeros of an O_RDWR writer before any data are a size hint (not a
    disk without a partition table); one ImportImage with the whole image.
    keep_staged: the staged object is compared below, and cleanup (the
    default) deletes it as soon as the import completes."""
    m = start_mount(endpoint, str(tmp_path), opts="keep_staged")
    try:
        src = images["raw"]["path"]
        mark = endpoint.mark()
        r = qemu("convert", "-O", "raw", src,
                 os.path.join(m.path, "imports", "q.raw"))
        assert r.returncode == 0, r.stderr
        assert len(endpoint.requests("ImportImage", since=mark)) == 1
        staged = objects(endpoint, m.prefix)
        assert len(staged) == 1, staged
        back = str(tmp_path / "staged.raw")
        endpoint.aws("s3", "cp", "s3://%s/%s" % (endpoint.bucket, staged[0]),
                     back, json=False)
        r = qemu("compare", "-f", "raw", "-F", "raw", src, back)
        assert r.returncode == 0, r.stdout + r.stderr
        assert os.path.getsize(back) == os.path.getsize(src)
    finally:
        m.unmount()


@pytest.mark.parametrize("over", [pytest.param(False, marks=pytest.mark.full),
                                  True], ids=["new", "over"])
def test_writer_killed_while_close_waits_is_aborted(mount, endpoint, tmp_path,
                                                    over):
    """cp is in close(), waiting for its last UploadPart (held by the
    endpoint), when it is SIGKILLed: the kernel sends FUSE an INTERRUPT for
    the flush; the daemon must abort instead of completing. No Complete, no
    upload left, the key holds nothing new (or its old bytes)."""
    d = mount.workdir("intr")
    src = make_file(str(tmp_path / "src"), 12 * MiB, seed=11)
    old = b"old bytes\n"
    key = key_of(mount, d + "/k")
    if over:
        put(endpoint, key, old, tmp_path)
    endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                          "part_from": 2, "action": "hold"}])
    mark = endpoint.mark()
    try:
        p = subprocess.Popen(["cp", src, d + "/k"])
        endpoint.wait_held("UploadPart", alive=lambda: p.poll() is None)
        assert poll(lambda: in_close(p.pid), 30), "cp never closed"
        p.kill()
        time.sleep(0.5)  # the INTERRUPT reaches the daemon
    finally:
        endpoint.clear_faults()
        endpoint.release()
    assert p.wait(60) == -signal.SIGKILL
    assert poll(lambda: endpoint.requests("AbortMultipartUpload",
                                          since=mark), 30)
    assert not endpoint.requests("CompleteMultipartUpload", since=mark)
    assert poll(lambda: no_uploads_left(endpoint, key), 30)
    if over:
        assert s3_bytes(endpoint, key, tmp_path) == old
    else:
        assert absent(endpoint, key)


@pytest.mark.full
def test_importer_killed_while_close_waits_is_cancelled(endpoint, images,
                                                        tmp_path):
    """The same in imports/: no Complete, no ImportImage, status cancelled."""
    m = start_mount(endpoint, str(tmp_path))
    try:
        src = str(tmp_path / "disk.raw")
        with open(images["raw"]["path"], "rb") as f:
            disk = f.read(MiB)
        with open(src, "wb") as f:
            f.write(disk + random.Random(12).randbytes(11 * MiB))
        endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                              "part_from": 2, "action": "hold"}])
        mark = endpoint.mark()
        try:
            p = subprocess.Popen(["cp", src, os.path.join(m.path, "imports",
                                                          "c.raw")])
            endpoint.wait_held("UploadPart", alive=lambda: p.poll() is None)
            assert poll(lambda: in_close(p.pid), 30), "cp never closed"
            p.kill()
            time.sleep(0.5)
        finally:
            endpoint.clear_faults()
            endpoint.release()
        assert p.wait(60) == -signal.SIGKILL
        st = poll(lambda: (lambda t: t if t.startswith("cancelled") else
                           None)(read(os.path.join(m.path, "tasks", "c.raw",
                                                   "status"))))
        assert st and "killed while its close() waited" in st, st
        assert not endpoint.requests("CompleteMultipartUpload", since=mark)
        assert not endpoint.requests("ImportImage", since=mark)
        assert poll(lambda: no_uploads_left(endpoint, m.prefix), 30)
    finally:
        m.unmount()


# ---- 5. the smaller holes -------------------------------------------------

def test_rename_of_a_big_object_copies_parts_if_match(mount_factory,
                                                      endpoint, tmp_path):
    """Rename above the single-copy limit (lowered to 5 MiB for the test,
    AMIFS_TEST_COPY_LIMIT) is a multipart copy whose every UploadPartCopy
    carries x-amz-copy-source-if-match: it works, and a source replaced
    between the HEAD and a part fails the rename cleanly (the new source
    kept, no destination, no upload left)."""
    mount = mount_factory(env={"AMIFS_TEST_COPY_LIMIT": str(5 * MiB)})
    d = mount.workdir("bigmv")
    data = random.Random(13).randbytes(6 * MiB)
    put(endpoint, key_of(mount, d + "/a"), data, tmp_path)
    mark = endpoint.mark()
    os.rename(d + "/a", d + "/b")
    assert len(endpoint.requests("UploadPartCopy", since=mark)) == 2
    assert not endpoint.requests("CopyObject", since=mark)
    assert s3_bytes(endpoint, key_of(mount, d + "/b"), tmp_path) == data
    assert absent(endpoint, key_of(mount, d + "/a"))
    # the race: the source is overwritten while part 2 is on its way. The
    # 412 maps to ESTALE, on which the kernel retries a rename once (from a
    # fresh HEAD): that retry races with a second overwrite, so both fail.
    put(endpoint, key_of(mount, d + "/c"), data, tmp_path)
    endpoint.set_faults([{"service": "s3", "op": "UploadPartCopy",
                          "part": 2, "action": "hold"}])
    mark = endpoint.mark()
    res, latest = {}, data

    def mv():
        try:
            os.rename(d + "/c", d + "/e")
            res["rc"] = 0
        except OSError as e:
            res["rc"] = e.errno
    t = threading.Thread(target=mv)
    t.start()
    try:
        for seed in (14, 15):
            endpoint.wait_held("UploadPartCopy", alive=t.is_alive)
            latest = random.Random(seed).randbytes(6 * MiB)
            put(endpoint, key_of(mount, d + "/c"), latest, tmp_path)
            endpoint.release(op="UploadPartCopy")
            poll(lambda: not t.is_alive() or endpoint.held("UploadPartCopy"),
                 30)
            if not t.is_alive():
                break
    finally:
        endpoint.clear_faults()
        endpoint.release()
    t.join(60)
    assert res.get("rc") == errno.ESTALE, res
    assert [r["status"] for r in endpoint.requests("UploadPartCopy",
                                                   since=mark)
            if r.get("part") == 2] == [412, 412]
    assert s3_bytes(endpoint, key_of(mount, d + "/c"), tmp_path) == latest
    assert absent(endpoint, key_of(mount, d + "/e"))
    assert poll(lambda: no_uploads_left(endpoint, key_of(mount, d)), 30)
    assert not [r for r in endpoint.requests("CompleteMultipartUpload",
                                             since=mark)
                if r["path"].endswith("/e")]


def test_rm_during_a_completing_close(mount, endpoint, tmp_path):
    """rm while close() is completing: the rm waits for that close (the
    path is busy), then removes the whole object; the close reports 0;
    nothing is left half-done."""
    d = mount.workdir("rmclose")
    src = make_file(str(tmp_path / "src"), 12 * MiB, seed=9)
    endpoint.set_faults([{"service": "s3", "op": "CompleteMultipartUpload",
                          "action": "delay", "delay_ms": 2000}])
    try:
        p = subprocess.Popen(["cp", src, d + "/c"])
        assert poll(lambda: in_close(p.pid), 30), "cp never closed"
        time.sleep(0.5)  # the flush is waiting on the delayed Complete
        os.unlink(d + "/c")
        assert p.wait(60) == 0
    finally:
        endpoint.clear_faults()
    assert absent(endpoint, key_of(mount, d + "/c"))
    assert no_uploads_left(endpoint, key_of(mount, d))
    assert "c" not in os.listdir(d)


def test_killed_writer_into_imports_is_cancelled(endpoint, images,
                                                 tmp_path):
    m = start_mount(endpoint, str(tmp_path), opts="upload_concurrency=1")
    try:
        src = str(tmp_path / "disk.raw")  # a raw disk the validator takes
        with open(images["raw"]["path"], "rb") as f:
            disk = f.read(MiB)
        with open(src, "wb") as f:
            f.write(disk + random.Random(10).randbytes(39 * MiB))
        mark = endpoint.mark()
        rc = kill_cp_midway(endpoint, src,
                            os.path.join(m.path, "imports", "k.raw"),
                            signal.SIGKILL)
        assert rc == -signal.SIGKILL
        st = poll(lambda: read(os.path.join(m.path, "tasks", "k.raw",
                                            "status")))
        assert st.startswith("cancelled"), st
        assert "killed by signal 9 after" in st and "bytes" in st, st
        assert not endpoint.requests("ImportImage", since=mark)
        assert not endpoint.requests("CompleteMultipartUpload", since=mark)
        assert poll(lambda: no_uploads_left(endpoint, m.prefix), 30)
    finally:
        m.unmount()
