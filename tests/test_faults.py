"""Faults, crashes and credential refresh against a real mount.

The local endpoint injects errors (tests/endpoint/faults.py) while real
clients (`cp`) write through amifs; the AWS CLI is the independent checker:
objects are fetched back with `aws s3 cp` and compared byte for byte,
multipart uploads are listed with `aws s3api list-multipart-uploads`, import
tasks are counted on the endpoint's control API. Every test is bounded in
time (the whole file runs well under three minutes).
"""
import filecmp
import os
import subprocess
import time
import uuid

from shared_fixtures import (MiB, credential_process_env, good_image,
                             killed_mid_copy, make_file, mount_at, objects,
                             poll, uploads)


# 10% 503 SlowDown, 5% 500, 2% dropped connections, on every S3 and EC2 call;
# the first rules make sure the calls that matter most fail at least once
# (random rates alone leave a few runs in a hundred without any fault).
FLAKY = [{"service": "s3", "op": "UploadPart", "action": "503", "count": 1},
         {"service": "s3", "op": "CompleteMultipartUpload", "action": "500",
          "count": 1},
         {"service": "ec2", "op": "ImportImage", "action": "drop",
          "count": 1},
{"service": "*", "op": "*", "action": "503", "rate": 0.10},
         {"service": "*", "op": "*", "action": "500", "rate": 0.05},
         {"service": "*", "op": "*", "action": "drop", "rate": 0.02}]
# Options of a mount that must ride out FLAKY: small parts (more calls, more
# faults), fast retries, enough attempts that 17% failures cannot exhaust them.
FLAKY_OPTS = "part_size=5M,retry_base_ms=20,max_attempts=10,cache_ttl=0"


# ---- helpers ----

def s3_fetch(endpoint, key, dest):
    """`aws s3 cp s3://bucket/key dest`; the CompletedProcess."""
    return endpoint.aws("s3", "cp", "s3://%s/%s" % (endpoint.bucket, key),
                        dest, json=False, check=False)


def cp(src, dst, timeout=120):
    return subprocess.run(["cp", src, dst], capture_output=True, text=True,
                          timeout=timeout)


# ---- 1. flaky endpoint ----

def test_uploads_survive_a_flaky_endpoint(endpoint, tmp_path):
    prefix = "flaky-" + uuid.uuid4().hex[:8]
    src = make_file(str(tmp_path / "big.bin"), 24 * MiB + 12345, prefix)
    ova = good_image(str(tmp_path / "img"))
    name = "flaky-%s.ova" % prefix
    m = mount_at(endpoint, tmp_path, "bucket=%s/%s,poll_interval=0.3,%s"
                 % (endpoint.bucket, prefix, FLAKY_OPTS))
    tasks_before = {t["id"] for t in endpoint.tasks()}
    mark = endpoint.mark()
    try:
        os.mkdir(os.path.join(m.bucket_dir, prefix + "-obj"))
        endpoint.set_faults(FLAKY)
        r1 = cp(src, os.path.join(m.bucket_dir, prefix + "-obj", "big.bin"))
        r2 = cp(ova, os.path.join(m.path, "imports", name))
        fired = endpoint.faults()
    finally:
        endpoint.clear_faults()
        m.unmount()
    assert r1.returncode == 0, r1.stderr
    assert r2.returncode == 0, r2.stderr
    # The faults really happened during the copies.
    assert [r["fired"] for r in fired[:3]] == [1, 1, 1], fired

    # The object, byte for byte.
    out = str(tmp_path / "back.bin")
    got = s3_fetch(endpoint, "%s-obj/big.bin" % prefix, out)
    assert got.returncode == 0, got.stderr
    assert filecmp.cmp(src, out, shallow=False)
    # The staged OVA, byte for byte.
    staged = [k for k in objects(endpoint, prefix + "/")
              if k.endswith("/" + name)]
    assert len(staged) == 1, staged
    out2 = str(tmp_path / "back.ova")
    assert s3_fetch(endpoint, staged[0], out2).returncode == 0
    assert filecmp.cmp(ova, out2, shallow=False)

    # The import started exactly once: one new task on the endpoint, and
    # every ImportImage that moto answered 200 carried the same token.
    new = [t for t in endpoint.tasks() if t["id"] not in tasks_before]
    assert len(new) == 1, new
    ok = [r for r in endpoint.requests(op="ImportImage", since=mark)
          if r["status"] == 200]
    assert len(ok) >= 1
    # No multipart upload left anywhere we wrote.
    assert uploads(endpoint, prefix) == []


# ---- 2. endpoint down ----

def test_endpoint_down_fails_cp_and_leaves_nothing(endpoint, tmp_path):
    prefix = "down-" + uuid.uuid4().hex[:8]
    src = make_file(str(tmp_path / "mid.bin"), 12 * MiB, prefix)
    # resume_days=0: the abort path (a kept upload: tests/test_resume.py)
    m = mount_at(endpoint, tmp_path, "part_size=5M,retry_base_ms=10,"
                 "max_attempts=2,cache_ttl=0,resume_days=0")
    try:
        d = os.path.join(m.bucket_dir, prefix)
        os.mkdir(d)
        # Let the upload start, then take the endpoint away from under it.
        endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                              "action": "delay", "delay_ms": 1500}])
        mark = endpoint.mark()
        p = subprocess.Popen(["cp", src, os.path.join(d, "f.bin")],
                             stderr=subprocess.PIPE, text=True)
        assert poll(lambda: endpoint.requests("CreateMultipartUpload",
                                              since=mark), 20, 0.05), \
            "the upload never started"
        endpoint.set_faults([{"service": "*", "op": "*", "action": "drop",
                              "rate": 1.0}])
        try:
            _, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode != 0, "cp succeeded with the endpoint down"
        assert err.strip(), "cp failed without a message"
        # A fresh copy with the endpoint already down fails too.
        r = cp(src, os.path.join(d, "g.bin"), timeout=60)
        assert r.returncode != 0
        endpoint.clear_faults()
        # The janitor retries the abort every 2 s: within ~15 s, nothing.
        left = poll(lambda: not uploads(endpoint, prefix + "/"), 15)
        assert left, uploads(endpoint, prefix + "/")
        assert not [k for k in objects(endpoint, prefix + "/")
                    if k.endswith(".bin")]
    finally:
        endpoint.clear_faults()
        m.unmount()


# ---- 3. SIGKILL mid-upload ----


def test_sigkill_in_buckets_then_next_mount_aborts_the_upload(endpoint,
                                                              tmp_path):
    prefix = "kill-" + uuid.uuid4().hex[:8]
    src = make_file(str(tmp_path / "k.bin"), 40 * MiB, prefix)
    # A private state directory: the journal of this test's daemons only.
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    opts = "part_size=5M,retry_base_ms=20,cache_ttl=0,resume_days=0"
    m = mount_at(endpoint, tmp_path, opts, env=env)
    d = os.path.join(m.bucket_dir, prefix)
    os.mkdir(d)
    journal = tmp_path / "state" / "amifs" / "uploads"
    stale = killed_mid_copy(endpoint, m, src, os.path.join(d, "k.bin"),
                            prefix + "/",
                            ready=lambda: list(journal.glob("*")))
    assert [u["Key"] for u in stale] == [prefix + "/k.bin"], stale
    # Someone else's upload in the same bucket (not amifs'): left alone.
    other = endpoint.aws("s3api", "create-multipart-upload", "--bucket",
                         endpoint.bucket, "--key", prefix + "/other.bin")
    m2 = mount_at(endpoint, tmp_path, opts, env=env)
    try:
        # No partial object, through the mount nor in S3.
        assert not os.path.exists(os.path.join(m2.bucket_dir, prefix,
                                               "k.bin"))
        assert objects(endpoint, prefix + "/k") == []
        # The dead daemon's upload is aborted by the next mount.
        left = poll(lambda: [u["UploadId"] for u in uploads(endpoint, prefix)]
                    == [other["UploadId"]], 15)
        assert left, "stale multipart upload not aborted: %s\n%s" % (
            uploads(endpoint, prefix), m2.log()[-3000:])
        assert list(journal.glob("*")) == []
    finally:
        m2.unmount()
        endpoint.aws("s3api", "abort-multipart-upload", "--bucket",
                     endpoint.bucket, "--key", prefix + "/other.bin",
                     "--upload-id", other["UploadId"], json=False,
                     check=False)


def test_sigkill_in_imports_then_next_mount_aborts_the_upload(endpoint,
                                                              tmp_path):
    prefix = "killi-" + uuid.uuid4().hex[:8]
    raw = good_image(str(tmp_path / "img"), "raw")
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    opts = ("bucket=%s/%s,part_size=5M,retry_base_ms=20,cache_ttl=0,"
            "resume_days=0") % (endpoint.bucket, prefix)
    m = mount_at(endpoint, tmp_path, opts, env=env)
    stale = killed_mid_copy(endpoint, m, raw,
                            os.path.join(m.path, "imports", "k.raw"),
                            prefix + "/")
    assert len(stale) == 1, stale
    m2 = mount_at(endpoint, tmp_path, opts, env=env)
    try:
        assert objects(endpoint, prefix + "/") == []
        assert poll(lambda: not uploads(endpoint, prefix + "/"), 10), \
            "stale staging upload not aborted: %s" % stale
    finally:
        m2.unmount()
        for u in uploads(endpoint, prefix + "/"):
            endpoint.aws("s3api", "abort-multipart-upload", "--bucket",
                         endpoint.bucket, "--key", u["Key"], "--upload-id",
                         u["UploadId"], json=False, check=False)


# ---- 4. temporary credentials expiring mid-upload ----


def calls(log):
    try:
        with open(log) as f:
            return len(f.readlines())
    except OSError:
        return 0


def test_expiring_credentials_are_refreshed_mid_upload(endpoint, tmp_path):
    prefix = "creds-" + uuid.uuid4().hex[:8]
    src = make_file(str(tmp_path / "c.bin"), 24 * MiB, prefix)
    env, drop, log, _ = credential_process_env(endpoint, str(tmp_path))
    m = mount_at(endpoint, tmp_path,
                 "part_size=5M,upload_concurrency=1,cache_ttl=0", env=env,
                 drop_env=drop)
    try:
        d = os.path.join(m.bucket_dir, prefix)
        os.mkdir(d)
        before = calls(log)
        # Slow parts so that the copy outlives several credential lifetimes.
        endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                              "action": "delay", "delay_ms": 700}])
        t0 = time.time()
        r = cp(src, os.path.join(d, "c.bin"))
        took = time.time() - t0
        endpoint.clear_faults()
        during = calls(log) - before
    finally:
        endpoint.clear_faults()
        m.unmount()
    assert r.returncode == 0, r.stderr
    assert took > 2, "the copy was too quick to outlive the credentials"
    assert during >= 2, "credential_process ran %d times in %.1fs" % (
        during, took)
    out = str(tmp_path / "back.bin")
    assert s3_fetch(endpoint, prefix + "/c.bin", out).returncode == 0
    assert filecmp.cmp(src, out, shallow=False)
    assert uploads(endpoint, prefix) == []
