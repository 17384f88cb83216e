"""The upload journal and the janitor (core/journal.h, core/janitor.h)
against a real mount.

Each test has its own XDG_STATE_HOME, so its journal is
TMP/state/amifs/uploads. The journal directory is hostile ground: a symlink,
a FIFO, a directory of another owner or writable by the group must neither
make the daemon delete, block or write anything there. Entries carry their
origin: a mount of another endpoint leaves them alone. An abort that fails
(endpoint down) keeps the entry, and the next mount aborts the upload.
Checked with `aws s3api list-multipart-uploads` and the files themselves.
"""
import os
import subprocess
import time
import uuid

import pytest

from mount_fixtures import Mount, is_mounted
from shared_fixtures import (MiB, good_image, killed_mid_copy,
                         make_file, mount_at, objects, poll,
                         skip_unless_mountable, uploads)

# resume_days=0: these tests check the abort path (a kept upload, the
# default for network failures and killed daemons: tests/test_resume.py)
OPTS = "part_size=5M,retry_base_ms=20,cache_ttl=0,resume_days=0"


def state_env(tmp_path):
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def journal_dir(tmp_path):
    return tmp_path / "state" / "amifs" / "uploads"


def entries(tmp_path):
    d = journal_dir(tmp_path)
    return sorted(p.name for p in d.iterdir()
                  if not p.name.startswith(".")) if d.is_dir() else []


def abort_all(endpoint, prefix):
    for u in uploads(endpoint, prefix):
        endpoint.aws("s3api", "abort-multipart-upload", "--bucket",
                     endpoint.bucket, "--key", u["Key"], "--upload-id",
                     u["UploadId"], json=False, check=False)


def copy_works(endpoint, m, tmp_path, prefix):
    """A two-part copy through M succeeds (the journal is exercised)."""
    src = make_file(str(tmp_path / "two.bin"), 11 * MiB, prefix)
    d = os.path.join(m.bucket_dir, prefix)
    os.makedirs(d, exist_ok=True)
    r = subprocess.run(["cp", src, os.path.join(d, "two.bin")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert objects(endpoint, prefix + "/two.bin") == [prefix + "/two.bin"]


# ---- 1. an untrusted directory ----

def test_symlinked_journal_dir_is_refused(endpoint, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    for name in ("12345.conf", "4242.db"):
        (victim / name).write_text("root's own file\n")
    journal_dir(tmp_path).parent.mkdir(parents=True)
    os.symlink(victim, journal_dir(tmp_path))
    prefix = "jsym-" + uuid.uuid4().hex[:8]
    m = mount_at(endpoint, tmp_path, OPTS, env=state_env(tmp_path))
    try:
        copy_works(endpoint, m, tmp_path, prefix)
        time.sleep(3)  # the old janitor swept within 3 s
        assert sorted(os.listdir(victim)) == ["12345.conf", "4242.db"]
        assert poll(lambda: "refused" in m.log(), 10), m.log()[-3000:]
        assert "no upload journal" in m.log()
    finally:
        m.unmount()
    assert sorted(os.listdir(victim)) == ["12345.conf", "4242.db"]


@pytest.mark.parametrize("how", ["group-writable", "foreign-owner"])
def test_untrusted_journal_dir_is_refused(endpoint, tmp_path, how):
    d = journal_dir(tmp_path)
    d.mkdir(parents=True, mode=0o700)
    (d / "12345.conf").write_text("not ours\n")
    (d / "4242.db").write_text("not ours\n")
    if how == "group-writable":
        os.chmod(d, 0o770)
        why = "writable by group or others"
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a directory to another user")
        os.chown(d, 65534, 65534)
        why = "owned by another user"
    prefix = "juntr-" + uuid.uuid4().hex[:8]
    m = mount_at(endpoint, tmp_path, OPTS, env=state_env(tmp_path))
    try:
        copy_works(endpoint, m, tmp_path, prefix)
        time.sleep(3)
        assert sorted(os.listdir(d)) == ["12345.conf", "4242.db"]
        assert poll(lambda: why in m.log(), 10), m.log()[-3000:]
    finally:
        m.unmount()


def test_fifo_entry_never_blocks_unmount(endpoint, tmp_path):
    d = journal_dir(tmp_path)
    d.mkdir(parents=True, mode=0o700)
    os.mkfifo(d / "1.x")
    os.mkfifo(d / "1.abcdef.json")  # our name pattern, not a file
    (d / "12345.conf").write_text("not ours\n")
    m = mount_at(endpoint, tmp_path, OPTS, env=state_env(tmp_path))
    try:
        time.sleep(3)  # the janitor walks the journal meanwhile
    finally:
        proc, m.proc = m.proc, None
        t0 = time.monotonic()
        subprocess.run(["fusermount3", "-u", m.path], capture_output=True)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            subprocess.run(["fusermount3", "-u", "-z", m.path])
            rc = None
    assert rc == 0, "amifs did not exit promptly after fusermount3 -u"
    assert time.monotonic() - t0 < 15
    assert not is_mounted(m.path)
    assert sorted(os.listdir(d)) == ["1.abcdef.json", "1.x", "12345.conf"]
    log = m.log()
    assert "skipped 1.abcdef.json: not a regular file" in log, log[-3000:]
    assert "skipped 1.x: not an amifs journal entry name" in log
    assert "skipped 12345.conf" in log


# ---- 2. entries are tied to their origin ----

def test_entry_of_another_endpoint_survives_until_its_own_mount(endpoint,
                                                               tmp_path):
    prefix = "jorig-" + uuid.uuid4().hex[:8]
    src = make_file(str(tmp_path / "k.bin"), 40 * MiB, prefix)
    env = state_env(tmp_path)
    m = mount_at(endpoint, tmp_path, OPTS, env=env)
    d = os.path.join(m.bucket_dir, prefix)
    os.mkdir(d)
    stale = killed_mid_copy(endpoint, m, src, os.path.join(d, "k.bin"),
                            prefix + "/", ready=lambda: entries(tmp_path))
    assert len(stale) == 1, stale
    left = entries(tmp_path)
    assert len(left) == 1, left
    # The same server under another name is another endpoint: its mount
    # must not touch the entry (it could even reach the upload here).
    other = endpoint.url.replace("127.0.0.1", "localhost")
    assert other != endpoint.url
    skip_unless_mountable()
    mb = Mount(endpoint, str(tmp_path), opts=OPTS, env=env)
    mb.opts = mb.opts.replace(endpoint.url, other)
    mb.start()
    try:
        time.sleep(4)  # the janitor walks the journal at once
        assert [u["UploadId"] for u in uploads(endpoint, prefix + "/")] == \
            [stale[0]["UploadId"]]
        assert entries(tmp_path) == left
        assert poll(lambda: "left for a mount of it" in mb.log(), 15), \
            mb.log()[-3000:]
    finally:
        mb.unmount()
    # Its own endpoint's next mount aborts it and deletes the entry.
    m2 = mount_at(endpoint, tmp_path, OPTS, env=env)
    try:
        assert poll(lambda: not uploads(endpoint, prefix + "/"), 15), \
            m2.log()[-3000:]
        assert poll(lambda: not entries(tmp_path), 5)
    finally:
        m2.unmount()
        abort_all(endpoint, prefix + "/")


# ---- 3. a failed abort keeps the entry ----

@pytest.mark.parametrize("where", ["buckets", "imports"])
def test_outage_during_abort_keeps_the_entry(endpoint, tmp_path, where):
    prefix = "jout-" + uuid.uuid4().hex[:8]
    env = state_env(tmp_path)
    opts = OPTS + ",max_attempts=2"
    if where == "imports":
        opts += ",bucket=%s/%s" % (endpoint.bucket, prefix)
        src = good_image(str(tmp_path / "img"), "raw")
    else:
        src = make_file(str(tmp_path / "k.bin"), 40 * MiB, prefix)
    m = mount_at(endpoint, tmp_path, opts, env=env)
    if where == "imports":
        dst = os.path.join(m.path, "imports", "k.raw")
    else:
        os.mkdir(os.path.join(m.bucket_dir, prefix))
        dst = os.path.join(m.bucket_dir, prefix, "k.bin")
    try:
        endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                              "action": "delay", "delay_ms": 1500}])
        mark = endpoint.mark()
        c = subprocess.Popen(["cp", src, dst], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        assert poll(lambda: len(endpoint.requests("UploadPart", since=mark))
                    >= 2 and entries(tmp_path), 30, 0.05), \
            "the upload never started"
        # The outage: every request dropped, the abort too.
        endpoint.set_faults([{"service": "*", "op": "*", "action": "drop"}])
        c.communicate(timeout=90)
        assert c.returncode != 0, "cp succeeded during the outage"
        time.sleep(2)  # the file is released meanwhile
        assert len(entries(tmp_path)) == 1, m.log()[-3000:]
        # ... and the janitor retries while mounted.
        assert poll(lambda: "could not abort multipart upload" in m.log(),
                    20), m.log()[-3000:]
        m.unmount()  # still down: the last try fails too
        assert len(entries(tmp_path)) == 1, m.log()[-3000:]
    finally:
        endpoint.clear_faults()
        if m.proc is not None:
            m.unmount()
    assert len(uploads(endpoint, prefix + "/")) == 1  # left behind for now
    m2 = mount_at(endpoint, tmp_path, opts, env=env)
    try:
        assert poll(lambda: not uploads(endpoint, prefix + "/"), 15), \
            m2.log()[-3000:]
        assert poll(lambda: not entries(tmp_path), 5)
        assert not [k for k in objects(endpoint, prefix + "/")
                    if k.endswith((".bin", ".raw"))]
    finally:
        m2.unmount()
        abort_all(endpoint, prefix + "/")
