"""pytest plugin: mounting amifs against the local endpoint.

Fixtures:
  mount          function-scoped: amifs mounted with `-f -o endpoint=URL,
                 bucket=...` on a fresh directory; unmounted with
                 `fusermount3 -u` at teardown, which must end the daemon with
                 exit status 0 and no sanitizer/valgrind complaint on stderr.
  mount_factory  function-scoped: mount_factory(opts="cache_ttl=0", ...)
                 mounts another instance with extra -o options.
A Mount has .path (the mount point), .buckets (MOUNT/buckets),
.bucket_dir (MOUNT/buckets/<staging bucket>), .log() (the daemon's stderr so
far), .workdir(name) (a fresh prefix directory inside the staging bucket,
made through the mount) and .unmount().

Environment: AMIFS_BUILD_DIR (default <repo>/build) holds fs/amifs;
AMIFS_BIN overrides the binary; AMIFS_VALGRIND=1 runs the daemon under
valgrind; AMIFS_AUDIT_DEBUG=0 runs it without -d.

The secret audit (tests/audit_fixtures.py): every daemon runs with -d (FUSE
and amifs debug logging, still in the foreground) and its stderr is a file
of the session's audit directory; the secrets in its environment are
recorded there; just before unmounting, Mount.snapshot_status() copies the
text of tasks/*/{status,status.json,progress,diagnosis,source} of the
uploads this daemon holds and of the tasks created while it was mounted
into the audit directory (one bounded subprocess, at most a few seconds).

Mount tests skip with a reason when /dev/fuse, fusermount3 or the binary is
missing. The `slow` marker tags big-file tests (-m "not slow").
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

import audit_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOUNT_TIMEOUT = 20
UNMOUNT_TIMEOUT = 120

# Lines that mean memory errors or crashes in the daemon's stderr.
SUSPICIOUS = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"==\d+== (Invalid|Conditional|Use of uninit|Mismatched|Syscall param)|"
    r"definitely lost: [1-9]|Assertion .* failed|Segmentation fault|"
    r"ThreadSanitizer")

# Reads the task files of a mount for the audit, in a child process so that
# a hung FUSE read cannot hang the test: argv = TASKS_DIR BUDGET NAME...;
# the uploads this daemon holds (tasks/NAME directories that are not
# import-* ids) come first, then the NAMEs; prints {path: text} as JSON.
STATUS_WALK = r"""
import json, os, sys, time
top, end, names = sys.argv[1], time.monotonic() + float(sys.argv[2]), \
    sys.argv[3:]
try:
    with os.scandir(top) as it:
        local = [e.name for e in it if not e.name.startswith("import-")
                 and e.is_dir(follow_symlinks=False)]
except OSError:
    local = []
out = {}
for name in local + names:
    for f in ("status", "progress", "diagnosis", "status.json", "source"):
        if time.monotonic() > end:
            break
        p = os.path.join(top, name, f)
        try:
            with open(p, "rb") as fh:
                out[p] = fh.read(1 << 20).decode("utf-8", "replace")
        except OSError:
            pass
print(json.dumps(out))
"""
STATUS_WALK_BUDGET = 1.5     # seconds of reading, then stop
STATUS_WALK_TIMEOUT = 5      # the child is killed after this


def thread_stacks(pid):
    """Every thread's backtrace of process PID (gdb), for a daemon that
    hangs; a note when gdb is missing or fails."""
    if not shutil.which("gdb"):
        return "(gdb is not installed)"
    try:
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                            "-ex", "thread apply all bt"],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "(gdb timed out)"
    return r.stdout[-30000:] or r.stderr[-2000:]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: big files; deselect with -m 'not slow'")


def amifs_binary():
    if os.environ.get("AMIFS_BIN"):
        return os.environ["AMIFS_BIN"]
    build = os.environ.get("AMIFS_BUILD_DIR", os.path.join(ROOT, "build"))
    return os.path.join(build, "fs", "amifs")


def skip_reason():
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this machine)"
    if not shutil.which("fusermount3"):
        return "fusermount3 is not installed"
    if not os.access(amifs_binary(), os.X_OK):
        return "amifs is not built (%s)" % amifs_binary()
    return None


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 4 and \
                    fields[4].encode().decode("unicode_escape") == path:
                return True
    return False


class Mount:
    def __init__(self, endpoint, base_dir, opts=None, env=None):
        self.endpoint = endpoint
        self.path = tempfile.mkdtemp(prefix="mnt-", dir=base_dir)
        self.buckets = os.path.join(self.path, "buckets")
        self.bucket_dir = os.path.join(self.buckets, endpoint.bucket)
        self.stderr_path = audit_fixtures.daemon_log_path(
            os.path.basename(self.path)) or self.path + ".stderr"
        self.proc = None
        self.debug = os.environ.get("AMIFS_AUDIT_DEBUG", "1") != "0"
        self.audit_status = True      # snapshot_status() before unmount
        self.tasks_before = None
        self.opts = "endpoint=%s,bucket=%s,retry_base_ms=100" % (
            endpoint.url, endpoint.bucket)
        if opts:
            self.opts += "," + opts
        self.env = dict(endpoint.env)
        self.env.setdefault("ASAN_OPTIONS",
                            "detect_leaks=1:abort_on_error=0")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.env.update(env or {})

    def argv(self):
        argv = [amifs_binary(), "-f", "-o", self.opts, self.path]
        if self.debug:
            argv.insert(2, "-d")
        if os.environ.get("AMIFS_VALGRIND") == "1":
            argv = ["valgrind", "-q", "--error-exitcode=99",
                    "--leak-check=full", "--errors-for-leak-kinds=definite",
                    "--show-leak-kinds=definite"] + argv
        return argv

    def start(self):
        t0 = time.monotonic()
        audit_fixtures.record_env_secrets(self.env, "amifs daemon")
        audit_fixtures.record_file_secrets(self.env, "amifs daemon")
        for k, v in (getattr(self.endpoint, "creds", None) or {}).items():
            if "SECRET" in k or "TOKEN" in k:
                audit_fixtures.record_secret(v, "endpoint " + k)
        self.tasks_before = self._task_ids()
        audit_fixtures.record_cost("mount", t0)
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv(), env=self.env,
                                         stdout=err, stderr=err)
        deadline = time.time() + MOUNT_TIMEOUT
        while not is_mounted(self.path):
            if self.proc.poll() is not None:
                raise AssertionError("amifs exited %d before mounting:\n%s"
                                     % (self.proc.returncode, self.log()))
            if time.time() > deadline:
                self.proc.kill()
                raise AssertionError("amifs did not mount in %ds:\n%s"
                                     % (MOUNT_TIMEOUT, self.log()))
            time.sleep(0.05)
        return self

    def log(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def workdir(self, name="t"):
        """A fresh, empty prefix directory in the staging bucket."""
        d = os.path.join(self.bucket_dir, "%s-%s" % (name, uuid.uuid4().hex[:8]))
        os.mkdir(d)
        return d

    def _task_ids(self):
        """Ids of the endpoint's import tasks (its control API: the daemon
        sees no request), or None."""
        if audit_fixtures.audit_dir() is None:
            return None
        try:
            return {t["id"] for t in self.endpoint.tasks()}
        except Exception:  # not our endpoint, or stopped: walk local only
            return None

    def _used_tasks_or_imports(self):
        """Whether the daemon's log shows the test under imports/ or tasks/
        (-d logs every path; without -d, assume it did)."""
        if not self.debug:
            return True
        try:
            with open(self.stderr_path, "rb") as f:
                log = f.read()
        except OSError:
            return True
        return b" /imports" in log or b" /tasks" in log or \
            b"imports/" in log or b"tasks/" in log

    def snapshot_status(self):
        """Copy the text of the task files this daemon serves into the
        audit directory (see STATUS_WALK); never fails the test."""
        if audit_fixtures.audit_dir() is None or self.proc is None or \
                self.proc.poll() is not None or not is_mounted(self.path):
            return
        after = self._task_ids()
        new = sorted(after - self.tasks_before) \
            if after is not None and self.tasks_before is not None else []
        if not new and not self._used_tasks_or_imports():
            return      # listing tasks/ would start a poller nobody used
        try:
            r = subprocess.run(
                [sys.executable, "-I", "-S", "-c", STATUS_WALK,
                 os.path.join(self.path, "tasks"), str(STATUS_WALK_BUDGET)]
                + new, capture_output=True, text=True,
                timeout=STATUS_WALK_TIMEOUT)
            texts = json.loads(r.stdout) if r.returncode == 0 else {}
        except (subprocess.TimeoutExpired, ValueError, OSError):
            return
        audit_fixtures.record_texts("status", {
            "[%s] %s" % (audit_fixtures.current_test(), p): t
            for p, t in texts.items()})

    def unmount(self):
        """fusermount3 -u, then the daemon must exit 0 with a clean log."""
        if self.proc is None:
            return
        t0 = time.monotonic()
        audit_fixtures.record_file_secrets(self.env, "amifs daemon")
        if self.audit_status:
            self.snapshot_status()
        audit_fixtures.record_cost("unmount", t0)
        proc, self.proc = self.proc, None
        how = "fusermount3 -u"
        if proc.poll() is None:
            r = subprocess.run(["fusermount3", "-u", self.path],
                               capture_output=True, text=True)
            if r.returncode != 0:
                # Busy: something still holds a file open. A lazy unmount
                # keeps the mount alive until that is closed.
                how = "fusermount3 -u -z (-u said: %s)" % r.stderr.strip()
                subprocess.run(["fusermount3", "-u", "-z", self.path])
        stacks = ""
        try:
            rc = proc.wait(UNMOUNT_TIMEOUT)
        except subprocess.TimeoutExpired:
            stacks = thread_stacks(proc.pid)
            proc.kill()
            proc.wait()
            rc = None
        if is_mounted(self.path):  # the daemon died: drop the dead mount
            subprocess.run(["fusermount3", "-u", "-z", self.path])
        if rc is None:
            raise AssertionError(
                "amifs did not exit %d s after %s\n--- its threads ---\n%s"
                "\n--- its log (tail) ---\n%s"
                % (UNMOUNT_TIMEOUT, how, stacks, self.log()[-20000:]))
        log = self.log()
        bad = [l for l in log.splitlines() if SUSPICIOUS.search(l)]
        assert rc == 0, "amifs exited %d:\n%s" % (rc, log[-6000:])
        assert not bad, "suspicious daemon output:\n" + log[-6000:]
        try:
            os.rmdir(self.path)
        except OSError:
            pass


@pytest.fixture
def mount_factory(endpoint, tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    mounts = []

    def make(opts=None, env=None):
        m = Mount(endpoint, str(tmp_path), opts=opts, env=env)
        mounts.append(m)
        return m.start()

    yield make
    errors = []
    for m in mounts:
        try:
            m.unmount()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def mount(mount_factory):
    return mount_factory()
