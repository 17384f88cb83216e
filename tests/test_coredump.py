"""Secrets never reach a core dump.

The daemon is started with `ulimit -c unlimited` (core_pattern points
into a directory of the test's own for the test's duration, then is
restored), made to sign some requests, then crashed with SIGSEGV or
SIGABRT.

- By default the daemon is not dumpable (prctl PR_SET_DUMPABLE 0): no core
  file at all.
- With -o core_dumps a core is written, and the secret key is still not in
  it: every copy of key material lives in MADV_DONTDUMP memory, and the
  transient copies are wiped.

Both the environment-variable keys (the test harness's default) and a
shared credentials file are tried: each puts the secret somewhere else in
the process before it is copied into protected memory.
"""
import os
import signal
import subprocess
import time
import uuid

import pytest

from mount_fixtures import Mount, amifs_binary, is_mounted, skip_reason

CORE_PATTERN = "/proc/sys/kernel/core_pattern"


def asan_build(path):
    with open(path, "rb") as f:
        return b"libasan" in f.read()


@pytest.fixture
def core_dir(tmp_path):
    """A directory of the test's own that receives core files: libfuse
    moves the daemon to "/" even in the foreground, so the pattern names
    the directory (core.PID); the old pattern is restored afterwards."""
    if os.geteuid() != 0:
        pytest.skip("setting core_pattern needs root")
    d = tmp_path / "cores"
    d.mkdir()
    with open(CORE_PATTERN) as f:
        old = f.read().rstrip("\n")
    with open(CORE_PATTERN, "w") as f:
        f.write("%s/core.%%p" % d)
    try:
        yield str(d)
    finally:
        with open(CORE_PATTERN, "w") as f:
            f.write(old)


class CoreMount(Mount):
    """A Mount whose daemon runs with an unlimited core size."""

    def __init__(self, endpoint, base, core_dir, opts=None, env=None):
        super().__init__(endpoint, base, opts=opts, env=env)
        self.core_dir = core_dir

    def argv(self):
        a = super().argv()
        a[a.index(amifs_binary())] = shipped_binary()
        return ["sh", "-c", 'ulimit -c unlimited && exec "$@"', "sh"] + a


def shipped_binary():
    """The plain build: what users run. The suite's mounts use the ASan
    build (AMIFS_BIN), which keeps its own core settings, so these tests
    always run the shipped daemon."""
    build = os.environ.get("AMIFS_BUILD_DIR",
                           os.path.join(os.path.dirname(
                               os.path.dirname(os.path.abspath(__file__))),
                               "build"))
    return os.path.join(build, "fs", "amifs")


def cores(d, pid):
    return [os.path.join(d, n) for n in os.listdir(d) if n == "core.%d" % pid]


def crash(m, sig):
    """Kill the daemon with SIG (it dumps core if it may) and drop the
    dead mount; (exit status, pid)."""
    proc, m.proc = m.proc, None
    proc.send_signal(sig)
    rc = proc.wait(60)
    subprocess.run(["fusermount3", "-u", "-z", m.path], capture_output=True)
    assert not is_mounted(m.path)
    return rc, proc.pid


def contains(path, needle):
    """Whether the file at PATH holds NEEDLE (read in overlapping chunks)."""
    needle = needle.encode()
    tail = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(8 << 20)
            if not chunk:
                return False
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle):]


def session(endpoint, tmp_path, core_dir, source, opts):
    """Mount, sign a few requests (list, write, read back), return the
    mount (running), its core directory and the secret key in use."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    if asan_build(shipped_binary()):
        pytest.skip("ASan keeps its own core settings (disable_coredump)")
    secret = endpoint.creds["AWS_SECRET_ACCESS_KEY"]
    env = {}
    if source == "file":
        cred = tmp_path / "credentials"
        cred.write_text("[default]\naws_access_key_id = %s\n"
                        "aws_secret_access_key = %s\n"
                        % (endpoint.creds["AWS_ACCESS_KEY_ID"], secret))
        env = {"AWS_SHARED_CREDENTIALS_FILE": str(cred)}
    m = CoreMount(endpoint, str(tmp_path), core_dir, opts=opts, env=env)
    if source == "file":
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                  "AWS_SESSION_TOKEN"):
            m.env.pop(k, None)
    m.start()
    d = os.path.join(m.bucket_dir, "core-" + uuid.uuid4().hex[:8])
    os.mkdir(d)
    with open(os.path.join(d, "f.bin"), "wb") as f:
        f.write(os.urandom(64 * 1024))
    os.listdir(d)
    with open(os.path.join(d, "f.bin"), "rb") as f:
        assert len(f.read()) == 64 * 1024
    return m, secret


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT])
def test_no_core_by_default(endpoint, tmp_path, core_dir, sig):
    m, _ = session(endpoint, tmp_path, core_dir, "env", "cache_ttl=0")
    with open("/proc/%d/status" % m.proc.pid) as f:
        assert "VmHWM" in f.read()  # root still reads a non-dumpable /proc
    rc, pid = crash(m, sig)
    assert rc == -sig, rc
    time.sleep(0.5)
    assert cores(core_dir, pid) == [], "a core was written unasked"


@pytest.mark.parametrize("source,sig", [("env", signal.SIGSEGV),
                                        ("file", signal.SIGABRT)])
def test_core_dumps_hold_no_secret(endpoint, tmp_path, core_dir, source,
                                   sig):
    m, secret = session(endpoint, tmp_path, core_dir, source,
                        "cache_ttl=0,core_dumps")
    rc, pid = crash(m, sig)
    assert rc == -sig, rc
    found = cores(core_dir, pid)
    assert found, "-o core_dumps: no core file in %s" % core_dir
    try:
        # The control: the core is a real dump of the daemon's memory.
        assert any(contains(c, endpoint.bucket) for c in found)
        for c in found:
            assert not contains(c, secret), "the secret key is in " + c
    finally:
        for c in found:
            os.unlink(c)
