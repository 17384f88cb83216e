"""A copy that failed resumes (doc/design/resume.md, doc/CONTRACT.md
"Resuming a copy that failed").

A copy that dies from the network (every retry of a part failed) or from
a killed daemon keeps its multipart upload and its journal entry; the same
`cp` again continues it and sends only the parts S3 does not already hold
with the same bytes. Proved here from the endpoint's request log (which
UploadPart numbers the second copy sent), ListParts of the kept upload,
the object's full CRC32C (head-object --checksum-mode ENABLED) and a GET
compared byte for byte, and list-multipart-uploads (nothing left).
A user's Ctrl-C still aborts; different content over a kept upload ends
byte-exact; an expired entry is aborted by the janitor.
"""
import base64
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from shared_fixtures import (MiB, good_image, kill_dead_mount, make_file,
                             mount_at, poll, read, uploads)

PART = 5 * MiB
OPTS = "part_size=5M,retry_base_ms=20,cache_ttl=0,max_attempts=2"
# two parts in flight at a time: a kill finds some parts stored, some not
KILL_OPTS = OPTS + ",upload_concurrency=2"


def state_env(tmp_path):
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def journal(tmp_path):
    """The journal's entries, parsed."""
    d = tmp_path / "state" / "amifs" / "uploads"
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        with open(p) as f:
            out.append((p, json.load(f)))
    return out


def crc32c_b64(data):
    name = ctypes.util.find_library("isal") or "libisal.so.2"
    try:
        fn = ctypes.CDLL(name).crc32_iscsi
    except (OSError, AttributeError):
        pytest.skip("libisal (ISA-L) not installed")
    fn.restype = ctypes.c_uint32
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
    c = fn(data, len(data), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return base64.b64encode(c.to_bytes(4, "big")).decode()


def fail_parts_from(endpoint, prefix, first):
    """Every UploadPart numbered FIRST or more under PREFIX loses its
    connection: the network is gone for the rest of the copy."""
    endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                          "action": "drop", "part_from": first,
                          "key_prefix": prefix}])


def stored_parts(endpoint, tmp_path, key):
    """Part numbers S3 holds for the upload of KEY the journal names."""
    ids = [e["upload_id"] for _, e in journal(tmp_path) if e["key"] == key]
    assert len(ids) == 1, journal(tmp_path)
    out = endpoint.aws("s3api", "list-parts", "--bucket", endpoint.bucket,
                       "--key", key, "--upload-id", ids[0])
    return {p["PartNumber"] for p in (out or {}).get("Parts") or []}


def sent_parts(endpoint, mark, key):
    """UploadPart numbers answered 200 since MARK for KEY."""
    got = set()
    for r in endpoint.requests("UploadPart", since=mark):
        if r.get("status") == 200 and r["path"].endswith("/" + key):
            q = dict(kv.split("=", 1) for kv in r["query"].split("&"))
            got.add(int(q["partNumber"]))
    return got


def cp(src, dst, timeout=120):
    return subprocess.run(["cp", src, dst], capture_output=True, text=True,
                          timeout=timeout)


def assert_object_is(endpoint, key, src, tmp_path):
    with open(src, "rb") as f:
        data = f.read()
    h = endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                     "--key", key, "--checksum-mode", "ENABLED")
    assert h["ContentLength"] == len(data), h
    assert h.get("ChecksumCRC32C") == crc32c_b64(data), h
    got = str(tmp_path / ("get-" + uuid.uuid4().hex[:6]))
    endpoint.aws("s3api", "get-object", "--bucket", endpoint.bucket,
                 "--key", key, got)
    assert subprocess.run(["cmp", src, got]).returncode == 0


def new_source(tmp_path, tag, name, nparts):
    """A fresh key prefix "TAG-xxxxxxxx" and the file tmp_path/NAME of
    NPARTS parts (its content depends on the prefix)."""
    prefix = tag + "-" + uuid.uuid4().hex[:8]
    return prefix, make_file(str(tmp_path / name), nparts * PART, prefix)


def mount(endpoint, tmp_path, opts=OPTS):
    """A mount whose upload journal is this test's own (tmp_path/state)."""
    return mount_at(endpoint, tmp_path, opts, env=state_env(tmp_path))


def folder(m, prefix):
    """The bucket folder PREFIX, made through mount M."""
    d = os.path.join(m.bucket_dir, prefix)
    os.mkdir(d)
    return d


def cp_again_resumes(endpoint, tmp_path, src, dst, key, nparts, held):
    """cp SRC DST again succeeds and sends only the parts of 1..NPARTS that
    S3 does not hold (HELD); the object is SRC byte for byte; no upload
    under the key's folder nor journal entry is left. Returns the request
    log mark taken before the cp."""
    mark = endpoint.mark()
    r = cp(src, dst)
    assert r.returncode == 0, r.stderr
    assert sent_parts(endpoint, mark, key) == set(range(1, nparts + 1)) - held
    assert_object_is(endpoint, key, src, tmp_path)
    assert uploads(endpoint, key.rsplit("/", 1)[0] + "/") == []
    assert journal(tmp_path) == []
    return mark


def failed_copy(endpoint, m, src, dst, prefix, first):
    """cp SRC DST through M with the network failing from part FIRST on:
    the copy fails."""
    fail_parts_from(endpoint, prefix, first)
    try:
        r = cp(src, dst)
    finally:
        endpoint.clear_faults()
    assert r.returncode != 0, "cp succeeded although the network failed"
    return r


def test_network_failure_at_90pc_then_cp_again_sends_only_missing_parts(
        endpoint, tmp_path):
    prefix, src = new_source(tmp_path, "res", "big.bin", 10)
    key = prefix + "/big.bin"
    m = mount(endpoint, tmp_path)
    try:
        dst = os.path.join(folder(m, prefix), "big.bin")
        failed_copy(endpoint, m, src, dst, prefix + "/", 10)
        # Kept: the upload stays, its entry says so, and so does errors.
        held = stored_parts(endpoint, tmp_path, key)
        assert 10 not in held and len(held) >= 5, held
        ents = journal(tmp_path)
        assert len(ents) == 1 and ents[0][1]["kept"] is True, ents
        assert ents[0][1]["part_size"] == PART, ents
        errs = read(os.path.join(m.path, ".amifs", "errors"))
        assert "kept for resume: " in errs and "cp again to finish" in errs, \
            errs
        assert not os.path.exists(dst)
        # The same cp again: only the parts S3 lacks go up.
        mark = cp_again_resumes(endpoint, tmp_path, src, dst, key, 10, held)
        assert not endpoint.requests("CreateMultipartUpload", since=mark)
        assert poll(lambda: "resumed: %d parts" % len(held) in m.log(), 5), \
            m.log()[-3000:]
    finally:
        m.unmount()


@pytest.mark.full
def test_recopy_of_different_content_over_a_kept_upload_is_byte_exact(
        endpoint, tmp_path):
    prefix, old = new_source(tmp_path, "resd", "old.bin", 10)
    key = prefix + "/d.bin"
    with open(old, "rb") as f:
        data = bytearray(f.read())
    # New content: part 3 changed, shorter (8 parts and a 2 MiB ninth).
    data[2 * PART + 100:2 * PART + 200] = os.urandom(100)
    new = str(tmp_path / "new.bin")
    with open(new, "wb") as f:
        f.write(bytes(data[:8 * PART + 2 * MiB]))
    m = mount(endpoint, tmp_path)
    try:
        dst = os.path.join(folder(m, prefix), "d.bin")
        failed_copy(endpoint, m, old, dst, prefix + "/", 10)
        held = stored_parts(endpoint, tmp_path, key)
        assert 3 in held, held
        mark = endpoint.mark()
        r = cp(new, dst)
        assert r.returncode == 0, r.stderr
        sent = sent_parts(endpoint, mark, key)
        # The changed part and the new, shorter last part went up again;
        # the old parts past the new end are not in the object.
        assert sent == ({3, 9} | (set(range(1, 10)) - held)), (sent, held)
        assert_object_is(endpoint, key, new, tmp_path)
        assert uploads(endpoint, prefix + "/") == []
    finally:
        m.unmount()


def test_ctrl_c_still_aborts(endpoint, tmp_path):
    prefix, src = new_source(tmp_path, "resc", "c.bin", 8)
    m = mount(endpoint, tmp_path)
    try:
        d = folder(m, prefix)
        # cp copies from a pipe this test feeds: after three parts it
        # waits for more, so the Ctrl-C comes mid-copy whatever the load
        # (SIGINT set back to its default: a test runner may ignore it).
        mark = endpoint.mark()
        c = subprocess.Popen(
            ["cp", "/dev/stdin", os.path.join(d, "c.bin")],
            stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        with open(src, "rb") as f:
            c.stdin.write(f.read(3 * PART))
            c.stdin.flush()
        try:
            assert poll(lambda: endpoint.requests("UploadPart", since=mark),
                        20, 0.05)
            c.send_signal(signal.SIGINT)
            c.wait(30)
        finally:
            try:
                c.stdin.close()
            except BrokenPipeError:
                pass
        assert c.returncode != 0
        assert poll(lambda: not uploads(endpoint, prefix + "/"), 15), \
            uploads(endpoint, prefix + "/")
        assert poll(lambda: journal(tmp_path) == [], 5), journal(tmp_path)
        assert "kept for resume" not in read(os.path.join(m.path, ".amifs",
                                                          "errors"))
    finally:
        m.unmount()


def test_expired_kept_upload_is_aborted_by_the_janitor(endpoint, tmp_path):
    prefix, src = new_source(tmp_path, "rese", "e.bin", 2)
    key = prefix + "/e.bin"
    m = mount(endpoint, tmp_path)
    try:
        failed_copy(endpoint, m, src, os.path.join(folder(m, prefix), "e.bin"),
                    prefix + "/", 2)
    finally:
        m.unmount()
    assert stored_parts(endpoint, tmp_path, key)
    # Unexpired, a remount leaves it for a cp again ...
    m = mount(endpoint, tmp_path)
    try:
        assert poll(lambda: "kept for resume" in m.log(), 10), m.log()[-2000:]
    finally:
        m.unmount()
    assert len(uploads(endpoint, key)) == 1
    # ... created 7 days ago, past resume_days (6), the janitor aborts it.
    (path, ent), = journal(tmp_path)
    ent["created"] = int(time.time()) - 7 * 86400
    path.write_text(json.dumps(ent))
    m = mount(endpoint, tmp_path)
    try:
        assert poll(lambda: not uploads(endpoint, key), 15), m.log()[-2000:]
        assert poll(lambda: journal(tmp_path) == [], 5)
    finally:
        m.unmount()


@pytest.mark.full
def test_resume_days_0_aborts_as_before(endpoint, tmp_path):
    prefix, src = new_source(tmp_path, "res0", "z.bin", 4)
    m = mount(endpoint, tmp_path, OPTS + ",resume_days=0")
    try:
        failed_copy(endpoint, m, src, os.path.join(folder(m, prefix), "z.bin"),
                    prefix + "/", 4)
        assert poll(lambda: not uploads(endpoint, prefix + "/"), 10)
        assert journal(tmp_path) == []
    finally:
        m.unmount()


def killed_daemon_copy(endpoint, m, src, dst, prefix, parts_first):
    """cp SRC DST through M with slow parts; SIGKILL the daemon once
    PARTS_FIRST parts are stored."""
    endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                          "action": "delay", "delay_ms": 400,
                          "key_prefix": prefix}])
    mark = endpoint.mark()
    try:
        c = subprocess.Popen(["cp", src, dst], stderr=subprocess.DEVNULL)
        ok = poll(lambda: len([r for r in endpoint.requests(
            "UploadPart", since=mark) if r.get("status") == 200])
            >= parts_first, 60, 0.05)
        assert ok and c.poll() is None, "the copy ended before the kill"
        kill_dead_mount(m)
        c.wait(30)
    finally:
        endpoint.clear_faults()
        if m.proc is not None:  # the kill did not happen: leave no mount
            m.unmount()


def test_killed_daemon_then_remount_and_cp_again_resumes(endpoint, tmp_path):
    prefix, src = new_source(tmp_path, "resk", "k.bin", 6)
    key = prefix + "/k.bin"
    m = mount(endpoint, tmp_path, KILL_OPTS)
    killed_daemon_copy(endpoint, m, src,
                       os.path.join(folder(m, prefix), "k.bin"),
                       prefix + "/", 2)
    m = mount(endpoint, tmp_path, KILL_OPTS)
    try:
        assert poll(lambda: "kept for resume" in m.log(), 10), m.log()[-2000:]
        held = stored_parts(endpoint, tmp_path, key)
        assert len(held) >= 2 and 6 not in held, held
        cp_again_resumes(endpoint, tmp_path, src,
                         os.path.join(m.bucket_dir, key), key, 6, held)
    finally:
        m.unmount()


@pytest.mark.full
def test_daemon_killed_during_the_resumed_copy_resumes_again(endpoint,
                                                             tmp_path):
    prefix, src = new_source(tmp_path, "resk2", "k.bin", 12)
    key = prefix + "/k.bin"
    m = mount(endpoint, tmp_path, KILL_OPTS)
    folder(m, prefix)
    killed_daemon_copy(endpoint, m, src, os.path.join(m.bucket_dir, key),
                       prefix + "/", 3)
    first = stored_parts(endpoint, tmp_path, key)
    m = mount(endpoint, tmp_path, KILL_OPTS)
    killed_daemon_copy(endpoint, m, src, os.path.join(m.bucket_dir, key),
                       prefix + "/", 2)
    second = stored_parts(endpoint, tmp_path, key)
    assert first < second, (first, second)
    m = mount(endpoint, tmp_path, KILL_OPTS)
    try:
        cp_again_resumes(endpoint, tmp_path, src,
                         os.path.join(m.bucket_dir, key), key, 12, second)
    finally:
        m.unmount()


@pytest.mark.full
def test_imports_copy_that_failed_resumes(endpoint, tmp_path):
    prefix = "resi-" + uuid.uuid4().hex[:8]
    raw = good_image(str(tmp_path / "img"), "raw")  # 24 MiB: 5 parts
    opts = "bucket=%s/%s,%s" % (endpoint.bucket, prefix, OPTS)
    m = mount(endpoint, tmp_path, opts)
    try:
        dst = os.path.join(m.path, "imports", "r.raw")
        failed_copy(endpoint, m, raw, dst, prefix + "/", 5)
        st = read(os.path.join(m.path, "tasks", "r.raw", "status"))
        assert "kept for resume: " in st, st
        (ent,) = [e for _, e in journal(tmp_path)]
        key = ent["key"]
        held = stored_parts(endpoint, tmp_path, key)
        assert 5 not in held and held, held
        mark = endpoint.mark()
        r = cp(raw, dst)
        assert r.returncode == 0, r.stderr
        assert sent_parts(endpoint, mark, key) == set(range(1, 6)) - held
        assert len(endpoint.requests("ImportImage", since=mark)) == 1
        assert uploads(endpoint, prefix + "/") == []
    finally:
        m.unmount()
