"""The crash-point sweep: an interruption at any instant of a multipart
upload leaves the old state or the complete new one, never a half.

A writer copies a file a few parts long (part_size=5M, the smallest)
into buckets/ over an existing object ("over"), into buckets/ for a new key
("new"), or into imports/ (a valid raw image, "import"). The endpoint stops
the request sequence at an exact point with a held request (see
tests/endpoint/README.md, "Held requests"):

  create    after CreateMultipartUpload: UploadPart 1 is held
  part      after part K: UploadPart K+1 and later are held
  complete  during CompleteMultipartUpload: held before S3 performs it
  answer    after Complete but before its answer: held after S3 performed
            it ("drop": the answer is lost, the connection closed)

and the test interrupts there. After Create and after part K the writer
is paused between two writes (as `cp` is while it reads its source) and
goes on once the interruption has happened; during and after Complete it
is in close(). The test interrupts by:

  writer-kill   SIGKILL of the writer        (must end OLD)
  writer-int    SIGINT of the writer         (must end OLD)
  daemon-term   SIGTERM of the daemon        (abort, never complete)
  daemon-kill   SIGKILL of the daemon        (the next mount's janitor
                                              aborts it from the journal)
  drop          every S3 request dropped from that point on (the held one
                too); the daemon is unmounted while the outage lasts (its
                aborts fail: the journal must keep the upload), then the
                outage ends and the remount's janitor must abort it
  unmount       fusermount3 -u, lazily (-z) when the file is busy

After the interruption has settled (the writer and, for daemon and unmount
cases, the daemon have ended; a request the daemon does not give up by
itself within GRACE seconds is answered, as a slow network would) and again
after a remount with the same XDG_STATE_HOME, the AWS CLI checks: the key
holds its previous bytes ("old"; absent for a new key) or the complete new
bytes ("new"), never anything else ("HALF"); no multipart upload is left;
ImportImage was not called unless the staged object is the complete image;
a writer whose close() returned 0 left the new bytes. "answer" must end
"new" (S3 completed it); the writer interruptions and the others must end
"old", except that during Complete (already sent: it cannot be called back)
either is right, and a lazy unmount lets a writer that is not interrupted
finish its copy (then its exit status must agree with S3).

The default run is a subset covering every point, interruption and target
at least once; `--full` (or AMIFS_FULL=1) runs the whole matrix. The
outcome matrix is printed at the end of the run.
"""
import hashlib
import os
import select
import signal
import subprocess
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

import mount_fixtures
from shared_fixtures import make_images

MiB = 1 << 20
PART = 5 * MiB
K = 2                       # "part": parts 1..K done, K+1.. held
NEW_SIZE = 3 * PART + PART // 2
OLD_SIZE = MiB + 12345
GRACE = 3.0                 # seconds the daemon gets to give up a request
SETTLE_TIMEOUT = 90         # the writer / daemon must end within this
JANITOR_TIMEOUT = 20        # the janitor must have aborted within this

TARGETS = ("over", "new", "import")
POINTS = ("create", "part", "complete", "answer")
INTERRUPTIONS = ("writer-kill", "writer-int", "daemon-term", "daemon-kill",
                 "drop", "unmount")

# The default run: every point, interruption and target at least once.
DEFAULT_CASES = [
    ("over", "part", "writer-kill"),
    ("new", "create", "writer-int"),
    ("import", "part", "writer-kill"),
    ("over", "complete", "writer-int"),
    ("new", "part", "daemon-term"),
    ("over", "create", "daemon-kill"),
    ("over", "part", "drop"),
    ("over", "answer", "drop"),
    ("import", "complete", "unmount"),
    ("new", "answer", "daemon-kill"),
]

RESULTS = []                # one dict per case, for the matrix

# The writer: copies SRC to DST in 1 MiB writes; with PAUSE_AT > 0 it
# prints "paused" after that many bytes and waits (outside the mount, as
# `cp` does while it reads its source) for a line on stdin, then goes on
# and closes. SIGINT keeps its default action (terminate), as for `cp`.
WRITER = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
src, dst, pause_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
done = 0
with open(src, "rb") as f:
    while True:
        n = 1 << 20
        if 0 < pause_at and done < pause_at:
            n = min(n, pause_at - done)
        data = f.read(n)
        if not data:
            break
        os.write(fd, data)
        done += len(data)
        if done == pause_at:
            print("paused", flush=True)
            sys.stdin.readline()
os.close(fd)
"""


def full_run(config):
    try:
        full = config.getoption("full")
    except ValueError:
        full = False
    return bool(full) or os.environ.get("AMIFS_FULL") == "1"


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    if full_run(metafunc.config):
        cases = [(t, p, i) for t in TARGETS for p in POINTS
                 for i in INTERRUPTIONS]
    else:
        cases = DEFAULT_CASES
    metafunc.parametrize("case", cases,
                         ids=["-".join(c) for c in cases])


def expected(point, intr):
    """The outcomes the specification allows for this case."""
    if point == "answer":
        return {"new"}
    # Once close() has sent CompleteMultipartUpload, nothing can call it
    # back: S3 may already hold the new object whatever happens to the
    # writer or the daemon (doc/CONTRACT.md "Interruptions"). Old or the
    # complete new object; never a part.
    if intr == "unmount" or point == "complete":
        return {"old", "new"}
    return {"old"}


# ---- the matrix in the terminal summary -----------------------------------

class MatrixReport:
    """Prints RESULTS as a table after the run (pytest -q shows it)."""

    def pytest_terminal_summary(self, terminalreporter):
        if not RESULTS:
            return
        tr = terminalreporter
        tr.section("crash-point matrix (tests/test_crashpoints.py)")
        head = "%-7s %-9s %-12s %-10s %-10s %-6s %-8s %s" % (
            "target", "point", "interrupt", "after", "remount", "import",
            "writer", "verdict")
        tr.write_line(head)
        for r in RESULTS:
            tr.write_line("%-7s %-9s %-12s %-10s %-10s %-6s %-8s %s" % (
                r["target"], r["point"], r["intr"], r.get("after", "?"),
                r.get("remount", "?"), r.get("imports", "?"),
                r.get("writer", "?"),
                "ok" if not r.get("violations") else
                "FAIL: " + "; ".join(r["violations"])))
        tr.write_line("seconds per phase: " + "; ".join(
            "%s-%s-%s: %s" % (r["target"], r["point"], r["intr"],
                              ", ".join(r["laps"])) for r in RESULTS))
        bad = sum(1 for r in RESULTS if r.get("violations"))
        tr.write_line("%d cases, %d with violations" % (len(RESULTS), bad))


@pytest.fixture(scope="module", autouse=True)
def matrix_report(request):
    pm = request.config.pluginmanager
    if not pm.has_plugin("amifs-crash-matrix"):
        pm.register(MatrixReport(), "amifs-crash-matrix")
    yield


# ---- fixtures -------------------------------------------------------------

@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """{"old": bytes path, "new": path, "import": path of a raw image}."""
    d = tmp_path_factory.mktemp("crash-src")
    out = {}
    for name, size in (("old", OLD_SIZE), ("new", NEW_SIZE)):
        p = str(d / name)
        with open(p, "wb") as f:
            f.write(os.urandom(size))
        out[name] = p
    imgs = make_images(str(tmp_path_factory.mktemp("crash-img")),
                       only=["raw"])
    out["import"] = imgs["raw"]["path"]
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def journal_entries(state):
    d = os.path.join(state, "amifs", "uploads")
    try:
        return sorted(n for n in os.listdir(d) if not n.startswith("."))
    except FileNotFoundError:
        return []


def wait_for(fn, timeout, step=0.05):
    """Poll FN until it returns a true value or TIMEOUT passes; returns
    its last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


class Case:
    """One run: the mount, the writer, the interruption and the checks.
    cleanup() leaves nothing running, whatever happened."""

    def __init__(self, endpoint, tmp, sources, target, point, intr):
        self.ep, self.tmp = endpoint, tmp
        self.target, self.point, self.intr = target, point, intr
        self.prefix = "crash-" + uuid.uuid4().hex[:10]
        self.state = os.path.join(tmp, "state")
        os.makedirs(self.state)
        self.src = sources["import" if target == "import" else "new"]
        self.new_sha = sha256(self.src)
        self.new_size = os.path.getsize(self.src)
        self.old_sha = None
        self.key = None if target == "import" else self.prefix + "/obj"
        self.mounts, self.writer = [], None
        self.r = {"target": target, "point": point, "intr": intr,
                  "violations": []}
        self.mark = None
        self.t0 = time.monotonic()
        self.r["laps"] = []
        self.after_state = None
        self.old_put = None

    # -- setup --

    def put_old(self, sources, pool):
        """PutObject of the previous bytes, in POOL (joined by
        start_writer): the mount starts meanwhile."""
        self.old_sha = sha256(sources["old"])
        self.old_put = pool.submit(
            self.ep.aws, "s3api", "put-object", "--bucket", self.ep.bucket,
            "--key", self.key, "--body", sources["old"])

    def mount(self):
        reason = mount_fixtures.skip_reason()
        if reason:
            pytest.skip(reason)
        # resume_days=0: the sweep checks the abort path; a kept upload
        # (network failure, killed daemon) is tests/test_resume.py's
        opts = "part_size=5M,poll_interval=0.3,resume_days=0"
        if self.target == "import":
            opts = "bucket=%s/%s,%s" % (self.ep.bucket, self.prefix, opts)
        m = mount_fixtures.Mount(self.ep, self.tmp, opts=opts,
                                 env={"XDG_STATE_HOME": self.state})
        self.mounts.append(m)
        return m.start()

    def dest(self, m):
        if self.target == "import":
            return os.path.join(m.path, "imports", "crash.raw")
        d = os.path.join(m.bucket_dir, self.prefix)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, "obj")

    def point_rules(self):
        if self.point == "create":
            return [{"service": "s3", "op": "UploadPart", "part": 1,
                     "action": "hold"}]
        if self.point == "part":
            return [{"service": "s3", "op": "UploadPart",
                     "part_from": K + 1, "action": "hold"}]
        if self.point == "complete":
            return [{"service": "s3", "op": "CompleteMultipartUpload",
                     "action": "hold"}]
        if self.intr == "drop":
            return [{"service": "s3", "op": "CompleteMultipartUpload",
                     "action": "answer-lost", "count": 1}]
        return [{"service": "s3", "op": "CompleteMultipartUpload",
                 "action": "hold", "when": "after"}]

    def pause_at(self):
        """Where the writer stops writing (0: it writes all and closes):
        after Create and after part K it is still writing, between two
        writes; during and after Complete it is in close()."""
        if self.point == "create":
            return PART + MiB
        if self.point == "part":
            return (K + 1) * PART + MiB
        return 0

    def start_writer(self, m):
        if self.old_put is not None:
            self.old_put.result()
        self.ep.set_faults(self.point_rules())
        self.mark = self.ep.mark()
        self.writer = subprocess.Popen(
            ["/usr/bin/python3", "-c", WRITER, self.src, self.dest(m),
             str(self.pause_at())], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def resume_writer(self):
        """Let a paused writer go on (it is paused until then)."""
        if self.pause_at() and self.writer_alive():
            try:
                self.writer.stdin.write("go\n")
                self.writer.stdin.flush()
            except (BrokenPipeError, OSError):
                pass

    # -- reaching the point --

    def ops(self, op, status=None):
        return [r for r in self.ep.requests(op, self.mark)
                if status is None or r["status"] == status]

    def writer_alive(self):
        return self.writer.poll() is None

    def reach_point(self, m):
        """Wait (on the request log and the held list, not on time) until
        the request sequence stands at the point."""
        if self.point == "answer" and self.intr == "drop":
            return
        op = "CompleteMultipartUpload" if self.point in ("complete",
                                                         "answer") \
            else "UploadPart"
        self.ep.wait_held(op, alive=self.writer_alive)
        if self.pause_at():
            ready = select.select([self.writer.stdout], [], [],
                                  SETTLE_TIMEOUT)[0]
            line = self.writer.stdout.readline() if ready else ""
            assert line.strip() == "paused", \
                "the writer did not reach its pause (blocked in a write?)"
        if self.point == "part":
            got = wait_for(lambda: len(self.ops("UploadPart", 200)) >= K,
                           SETTLE_TIMEOUT)
            assert got, "parts 1..%d did not complete" % K
        if self.intr == "daemon-kill":
            # The daemon writes the upload down once it knows the id; a
            # kill before that is a window no journal can cover.
            wait_for(lambda: journal_entries(self.state), 10)

    # -- the interruption --

    def interrupt(self, m):
        i = self.intr
        if i in ("writer-kill", "writer-int"):
            self.writer.send_signal(signal.SIGKILL if i == "writer-kill"
                                    else signal.SIGINT)
        elif i in ("daemon-term", "daemon-kill"):
            m.proc.send_signal(signal.SIGTERM if i == "daemon-term"
                               else signal.SIGKILL)
        elif i == "drop":
            if self.point != "answer":
                self.ep.set_faults([{"service": "s3", "op": "*",
                                     "action": "drop"}])
                self.ep.release(how="drop")
        elif i == "unmount":
            r = subprocess.run(["fusermount3", "-u", m.path],
                               capture_output=True, text=True)
            self.r["unmount"] = "-u"
            if r.returncode != 0:
                subprocess.run(["fusermount3", "-u", "-z", m.path],
                               capture_output=True)
                self.r["unmount"] = "-z"

    def ended(self, m):
        """Whether the interrupted party has ended."""
        if self.intr in ("daemon-term", "daemon-kill", "unmount"):
            return m.proc.poll() is not None
        return not self.writer_alive()

    def settle(self, m):
        """Let the interruption play out. A request the daemon keeps
        waiting for after GRACE seconds is answered (a slow network); the
        outage of "drop" lasts until the writer has ended."""
        wait_for(lambda: self.ended(m) and not self.ep.held(), GRACE)
        self.resume_writer()
        if self.intr == "drop":
            wait_for(lambda: not self.writer_alive(), SETTLE_TIMEOUT)
            self.ep.release(how="drop")
        else:
            self.ep.clear_faults()
        deadline = time.time() + SETTLE_TIMEOUT
        while time.time() < deadline:
            self.ep.release()
            daemon_done = m.proc.poll() is not None or \
                self.intr not in ("daemon-term", "daemon-kill", "unmount")
            if not self.writer_alive() and daemon_done:
                break
            time.sleep(0.05)
        if self.writer_alive():
            self.writer.kill()
            self.violation("writer hung in the mount for %ds"
                           % SETTLE_TIMEOUT)
        rc = self.writer.wait()
        err = self.writer.stderr.read().strip().splitlines()
        err = err[-1] if err else ""
        self.r["writer"] = "sig%d" % -rc if rc < 0 else "rc%d" % rc
        self.r["writer_err"] = err[-300:]
        self.writer_rc = rc

    # -- state --

    def find_key(self):
        if self.key is None:
            creates = self.ops("CreateMultipartUpload")
            if creates:
                path = urllib.parse.unquote(creates[0]["path"])
                self.key = path.split("/", 2)[2]
        return self.key

    def object_state(self):
        """"old", "new" or "HALF(...)" for the key, by sha256, and the
        multipart uploads left under the prefix: two AWS CLI calls, run
        side by side (each costs seconds on a loaded machine)."""
        key = self.find_key()
        with ThreadPoolExecutor(2) as pool:
            left = pool.submit(self.uploads_left)
            state = self.key_state(key) if key else "old"
            return state, left.result()

    def key_state(self, key):
        out = os.path.join(self.tmp, "got-%s" % uuid.uuid4().hex[:6])
        p = self.ep.aws("s3api", "get-object", "--bucket", self.ep.bucket,
                        "--key", key, out, check=False, json=False)
        if p.returncode != 0:
            if "NoSuchKey" in p.stderr or "Not Found" in p.stderr:
                return "old" if self.old_sha is None else "HALF(absent)"
            raise AssertionError("get-object: " + p.stderr[-500:])
        digest, size = sha256(out), os.path.getsize(out)
        os.unlink(out)
        if digest == self.new_sha:
            return "new"
        if self.old_sha is not None and digest == self.old_sha:
            return "old"
        return "HALF(%d of %d bytes)" % (size, self.new_size)

    def uploads_left(self):
        out = self.ep.aws("s3api", "list-multipart-uploads", "--bucket",
                          self.ep.bucket, "--prefix", self.prefix + "/")
        return [u["UploadId"] for u in (out or {}).get("Uploads") or []]

    def lap(self, name):
        now = time.monotonic()
        self.r["laps"].append("%s %.1f" % (name, now - self.t0))
        self.t0 = now

    def violation(self, text):
        self.r["violations"].append(text)

    def check(self, when):
        """The invariant; WHEN is "after" (the interruption) or
        "remount". Records the outcome and any violation."""
        state, left = self.object_state()
        self.r[when] = state + ("+upload" if left else "")
        imports = self.ops("ImportImage")
        self.r["imports"] = str(len(imports))
        if state.startswith("HALF"):
            self.violation("%s: the key holds %s" % (when, state))
        elif state not in expected(self.point, self.intr):
            self.violation("%s: %s, expected %s" % (
                when, state, "/".join(sorted(expected(self.point,
                                                      self.intr)))))
        if imports and state != "new":
            self.violation("%s: ImportImage called (%d) for an incomplete "
                           "image" % (when, len(imports)))
        if self.writer_rc == 0 and state != "new":
            self.violation("%s: the writer's close() returned 0 but S3 "
                           "holds %s" % (when, state))
        if when == "remount" and self.after_state not in (None, state):
            self.violation("the remount changed the key: %s -> %s"
                           % (self.after_state, state))
        self.after_state = state
        killed = self.intr in ("daemon-kill", "drop") and when == "after"
        if left and not killed:
            self.violation("%s: multipart upload left: %s" % (when, left))

    def uploads_ended(self):
        """Whether every CreateMultipartUpload since the mark has been
        answered by a Complete or an Abort (the request log)."""
        made = len(self.ops("CreateMultipartUpload", 200))
        done = len([r for r in self.ops("CompleteMultipartUpload")
                    if r["status"] == 200 or r.get("performed")]) + \
            len([r for r in self.ops("AbortMultipartUpload")
                 if r["status"] in (204, 404)])
        return done >= made

    def wait_janitor(self):
        """The live or remounted daemon aborts what is left: wait (bounded)
        for the journal to empty and every upload to be ended, by the
        request log; check() then asks S3 with the AWS CLI."""
        wait_for(lambda: not journal_entries(self.state) and
                 self.uploads_ended(), JANITOR_TIMEOUT, step=0.1)

    # -- teardown --

    def finish_mount(self, m, expect_clean):
        """End mount M: a live daemon is unmounted (and must exit 0 with a
        clean log); a dead one's mount point is released."""
        if m.proc is None:
            return
        if m.proc.poll() is None:
            try:
                m.unmount()
            except AssertionError as e:
                self.violation("daemon did not end cleanly: %s"
                               % str(e)[:300])
            return
        rc = m.proc.returncode
        m.proc = None
        if mount_fixtures.is_mounted(m.path):
            subprocess.run(["fusermount3", "-u", "-z", m.path],
                           capture_output=True)
        bad = [l for l in m.log().splitlines()
               if mount_fixtures.SUSPICIOUS.search(l)]
        if bad:
            self.violation("daemon log: " + bad[0][:200])
        if expect_clean and rc < 0:
            self.violation("daemon died of signal %d after %s"
                           % (-rc, self.intr))

    def cleanup(self):
        if self.writer is not None and self.writer.poll() is None:
            self.writer.kill()
        try:
            self.ep.clear_faults()
            self.ep.release(how="drop")
        except Exception:
            pass
        for m in self.mounts:
            if m.proc is not None and m.proc.poll() is None:
                m.proc.kill()
                m.proc.wait()
            if m.proc is not None and mount_fixtures.is_mounted(m.path):
                subprocess.run(["fusermount3", "-u", "-z", m.path],
                               capture_output=True)
        if self.writer is not None:
            self.writer.wait()


@pytest.fixture
def crash_case(endpoint, sources, tmp_path, case):
    c = Case(endpoint, str(tmp_path), sources, *case)
    try:
        yield c
    finally:
        c.cleanup()
        RESULTS.append(c.r)


# ---- the sweep ------------------------------------------------------------

def test_interruption_leaves_old_or_new(crash_case, sources):
    c = crash_case
    with ThreadPoolExecutor(1) as pool:
        if c.target == "over":
            c.put_old(sources, pool)
        m = c.mount()
    c.start_writer(m)
    try:
        c.reach_point(m)
    except AssertionError as e:
        c.violation("the sequence never reached the point: %s" % e)
        raise
    c.lap("reach")
    c.interrupt(m)
    c.settle(m)
    c.lap("settle")
    if c.intr == "drop":
        # The outage goes on while the daemon ends: its aborts fail, so
        # the journal must keep the upload for the next mount.
        c.finish_mount(m, expect_clean=True)
        c.ep.clear_faults()
    elif c.intr in ("writer-kill", "writer-int"):
        c.wait_janitor()          # the live daemon aborts by itself
    c.check("after")
    c.finish_mount(m, expect_clean=c.intr in ("daemon-term", "unmount"))
    c.lap("check")
    m2 = c.mount()
    c.wait_janitor()
    c.check("remount")
    c.finish_mount(m2, expect_clean=True)
    c.lap("remount")
    assert not c.r["violations"], "\n".join(
        ["%s %s %s (writer %s: %s)" % (c.target, c.point, c.intr,
                                       c.r.get("writer"),
                                       c.r.get("writer_err"))]
        + c.r["violations"])
