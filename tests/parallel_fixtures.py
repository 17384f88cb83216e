"""pytest plugin: running the suite on several workers (pytest-xdist).

tests/run.sh runs pytest with `-n 4 --dist loadgroup`: four worker
processes on the 2-core box, because most of the suite's time is waiting
(VM Import phases, injected fault delays, mounts and unmounts, the AWS
CLI's start-up), not CPU. `pytest -n0` (or no -n at all) runs everything in
one process, as before, for debugging; every hook here is then a no-op or
does what the single process did.

Each worker is a pytest session of its own: its own endpoint (session
fixture, dynamic port), its own basetemp (mount points, tmp_path), and,
set here, its own XDG_STATE_HOME (the upload journal). What must exist once
per run lives in the SHARED directory, created by the controller before the
workers start and handed to them (and to every process they start) as
$AMIFS_SHARED_TMP; in a serial run it is <basetemp>/shared:
  images/         the images of tests/images/mkimages.py, built once under
                  a file lock (shared_fixtures.ImageSet)
  audit/          the secret audit directory ($AMIFS_AUDIT_DIR) all workers
                  append to (tests/audit_fixtures.py)
  finished.txt    node ids whose teardown the controller has seen
  passed.txt      node ids that passed (the audit test counts them)
  failed.txt      node ids with a failed report (-x / --maxfail)
  timeline.tsv    one line a finished test: worker, end (seconds since
                  the run began), seconds (setup + call + teardown), node
                  id; with --durations the controller prints each worker's
                  chain from it (pytest_terminal_summary)
  fuzz/           the background fuzzing's marker and results
                  (tests/fuzz_background.py: it runs in the controller)

What runs where:
  - Tests that share a costly module fixture, that change machine-wide
    state (test_coredump sets kernel.core_pattern) or whose report is one
    table (test_crashpoints) get an `xdist_group`, so one worker runs each
    group in order (GROUP_FILES, GROUP_FIXTURES). Others go to whichever
    worker is free, the slowest first (SLOW); the C unit tests too (each
    `meson test` writes a log of its own).
  - The test marked `audit_last` waits, on its worker, until the controller
    has seen every other test finish, then audits what all workers saw.
  - A worker's output is not shown; the terminal summaries of the suite's
    own plugins (the crash-point matrix, the audit line) are recorded in
    the worker and printed by the controller (pytest_terminal_summary).
"""
import inspect
import os
import time

import pytest

SHARED_ENV = "AMIFS_SHARED_TMP"
HERE = os.path.dirname(os.path.abspath(__file__))
# The audit test waits for the rest of the run; it gives up when no test
# finished for this long (a hung worker) or when -x/--maxfail stopped it.
IDLE_GIVE_UP = 1800

# One worker runs each of these files, in order.
GROUP_FILES = {
    "test_coredump.py": "coredump",     # kernel.core_pattern is global
    "test_crashpoints.py": "crashpoints",   # one matrix, its sources
    "test_fuzz.py": "fuzz",             # they only wait for the results
    "test_sanitized_daemon.py": "sanitized",   # --full: inner runs, valgrind
}
# Tests using one of these module-scoped fixtures run on one worker (each
# worker would otherwise set the fixture up again: the imports, a mount).
# A test may also carry its own xdist_group mark: test_imports.py's good
# images are two groups, imports-good-a and -b (a mount each).
GROUP_FIXTURES = {
    "bad_mount": "imports-bad",
}
# Seconds per test (or per group): only the order matters. Measured with
# --durations on the parallel default run of 2026-12-07 10:00 (4 workers,
# a box at load 30-40 from other jobs, so 3-4x the idle times; the worker
# chains then: imports-good, one group of 17 imports, ~2,500 s, the
# crash-point matrix ~720 s, the unit tests of both builds ~1,180 s on one
# worker). The slowest are sent first so that no worker starts a long test
# when the others are about done. Tests not listed keep their order after
# these.
SLOW = {
    "group:sanitized": 1500,            # --full only
    "group:crashpoints": 720,
    "group:imports-good-a": 650,
    "group:imports-good-b": 650,
    "test_endpoint.py::test_role_and_bucket_checks": 420,
    "test_buckets.py::test_parallel_copies_share_one_budget": 420,
    "test_buckets.py::test_cp_roundtrip[67108864]": 400,
    "test_amis.py::test_rm_r_deregisters_and_deletes_snapshots": 395,
    "test_endpoint.py::test_wrong_secret_rejected": 355,
    "test_faults.py::test_expiring_credentials_are_refreshed_mid_upload": 265,
    "test_amis.py::test_a_refused_tag_value_creates_no_tag": 260,
    "test_credentials.py::test_web_identity_env_vars_and_token_rotation": 240,
    "test_amis.py::test_tags_as_files": 210,
    "test_credentials.py::test_container_token_env_and_refusal": 200,
    "test_amis.py::test_a_refused_write_from_a_shell_unshares_nothing": 200,
    "test_buckets.py::test_cp_big_file_both_ways_while_stat_answers": 195,
    "test_amis.py::test_launch_permissions": 155,
    "test_amis.py::test_ami_directory": 125,
    "test_aws_ops.py::test_import_image_to_ami": 100,
    # not reached by that run (cut short); the run before's figures
    "test_amis.py::test_nul_and_holes_in_launch_permissions_are_refused": 120,
    "test_doctor.py::test_fresh_account_then_setup": 110,
    "test_buckets.py::test_listing_keys_and_prefixes": 71,
    "test_endpoint.py::test_import_ova_completes_with_ami": 60,
    "test_buckets.py::test_cp_roundtrip": 50,
}


# ---- roles ----------------------------------------------------------------

def is_worker(config):
    """True in an xdist worker process."""
    return hasattr(config, "workerinput")


def worker_id(config):
    return config.workerinput["workerid"] if is_worker(config) else None


def is_controller(config):
    """True in the process that hands tests to xdist workers."""
    return config.pluginmanager.has_plugin("dsession")


def shared_dir(tmp_path_factory=None):
    """The run's shared directory (see the module doc); made on first use
    under TMP_PATH_FACTORY's basetemp when nobody made it yet."""
    d = os.environ.get(SHARED_ENV)
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    if tmp_path_factory is None:
        return None
    d = str(tmp_path_factory.getbasetemp() / "shared")
    os.makedirs(d, exist_ok=True)
    os.environ[SHARED_ENV] = d
    return d


def _append(name, line):
    d = shared_dir()
    if d:
        with open(os.path.join(d, name), "a") as f:
            f.write(line + "\n")


def _lines(name):
    d = shared_dir()
    try:
        with open(os.path.join(d, name)) as f:
            return {l.rstrip("\n") for l in f}
    except (OSError, TypeError):
        return set()


def passed_elsewhere():
    """Node ids that passed on any worker (empty in a serial run)."""
    return _lines("passed.txt")


# ---- controller -------------------------------------------------------------

def pytest_sessionstart(session):
    """Controller: make the shared directory and the audit directory before
    the workers start (DSession starts them in its trylast sessionstart),
    so they inherit both through the environment."""
    config = session.config
    if not is_controller(config):
        return
    d = shared_dir(config._tmp_path_factory)
    if os.environ.get("AMIFS_AUDIT") != "0" and \
            not os.environ.get("AMIFS_AUDIT_DIR"):
        audit = os.path.join(d, "audit")
        os.makedirs(audit, exist_ok=True)
        os.environ["AMIFS_AUDIT_DIR"] = audit
    config.stash[_SUMMARIES] = {}
    _T0[0] = time.time()


def pytest_runtest_logreport(report):
    """Controller: note finished and passed tests for the audit test, and
    each test's worker, end and length for the timeline."""
    if not hasattr(report, "node"):      # only reports from workers
        return
    if report.when == "call" and report.passed:
        _append("passed.txt", report.nodeid)
    if report.failed:
        _append("failed.txt", report.nodeid)
    spent = _SPENT.setdefault(report.nodeid, [0.0])
    spent[0] += report.duration or 0.0
    if report.when not in ("setup", "call"):   # teardown, or a crash
        _append("finished.txt", report.nodeid)
        gw = getattr(getattr(report.node, "gateway", None), "id", "?")
        _append("timeline.tsv", "%s\t%.1f\t%.1f\t%s" % (
            gw, time.time() - _T0[0], _SPENT.pop(report.nodeid)[0],
            report.nodeid))


# The controller's clock for the timeline: the run's start, and each
# running test's seconds so far (its setup/call reports came already).
_T0 = [time.time()]
_SPENT = {}


_SUMMARIES = pytest.StashKey[dict]()


def pytest_testnodedown(node, error):
    """Controller: keep the terminal summaries a worker recorded."""
    out = getattr(node, "workeroutput", None) or {}
    if out.get("amifs_terminal"):
        node.config.stash.setdefault(_SUMMARIES, {})[
            node.gateway.id] = out["amifs_terminal"]


def pytest_terminal_summary(terminalreporter, config):
    if not is_controller(config):
        return
    for _, ops in sorted(config.stash.get(_SUMMARIES, {}).items()):
        for op in ops:
            getattr(terminalreporter, op[0])(*op[1:])
    if config.getoption("durations", None) is not None:
        for line in timeline_summary(_lines_in_order("timeline.tsv")):
            terminalreporter.write_line(line)


def _lines_in_order(name):
    d = shared_dir()
    try:
        with open(os.path.join(d, name)) as f:
            return [l.rstrip("\n") for l in f]
    except (OSError, TypeError):
        return []


def timeline_summary(lines, top=4):
    """Each worker's chain from timeline.tsv lines: its tests, the seconds
    they took, when its last one ended, and its longest items (a group
    counts as one item: its tests' seconds added up). The longest chain
    is the run's critical path; SLOW above is tuned from these."""
    per = {}
    for line in lines:
        try:
            gw, end, secs, nodeid = line.split("\t", 3)
            end, secs = float(end), float(secs)
        except ValueError:
            continue
        w = per.setdefault(gw, {"n": 0, "busy": 0.0, "end": 0.0,
                                "items": {}})
        w["n"] += 1
        w["busy"] += secs
        w["end"] = max(w["end"], end)
        key = "group " + nodeid.rsplit("@", 1)[1] if "@" in nodeid else \
            nodeid.split("/")[-1]
        w["items"][key] = w["items"].get(key, 0.0) + secs
    out = []
    if per:
        out.append("worker chains (tests/parallel_fixtures.py; seconds):")
    for gw, w in sorted(per.items(), key=lambda kv: -kv[1]["end"]):
        longest = sorted(w["items"].items(), key=lambda kv: -kv[1])[:top]
        out.append("  %s: %d tests, %.0f busy, last ended at %.0f; %s" % (
            gw, w["n"], w["busy"], w["end"],
            ", ".join("%s %.0f" % kv for kv in longest)))
    return out


# ---- workers ----------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def amifs_worker_state(request, tmp_path_factory):
    """Worker: an upload journal of its own (XDG_STATE_HOME), so a mount
    never sees the journal entries of another worker's daemons."""
    if not is_worker(request.config):
        yield None
        return
    old = os.environ.get("XDG_STATE_HOME")
    d = str(tmp_path_factory.mktemp("xdg-state"))
    os.environ["XDG_STATE_HOME"] = d
    try:
        yield d
    finally:
        if old is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = old


def pytest_runtest_setup(item):
    """Worker: the audit_last test starts once every other test of the run,
    on any worker, has finished."""
    if not is_worker(item.config) or \
            not item.get_closest_marker("audit_last"):
        return
    others = {i.nodeid for i in item.session.items
              if not i.get_closest_marker("audit_last")}
    maxfail = item.config.getoption("maxfail", 0) or 0
    seen, since = -1, time.monotonic()
    while True:
        done = _lines("finished.txt")
        if others <= done or (maxfail and
                              len(_lines("failed.txt")) >= maxfail):
            return
        if len(done) != seen:
            seen, since = len(done), time.monotonic()
        elif time.monotonic() - since > IDLE_GIVE_UP:
            return
        time.sleep(0.5)


class _Recorder:
    """Stands in for the terminal reporter: records what is written, for
    the controller to replay."""

    def __init__(self):
        self.ops = []

    def section(self, title, sep="=", **kw):
        self.ops.append(("section", str(title), sep))

    def write_sep(self, sep, title=None, **kw):
        self.ops.append(("write_sep", sep, title))

    def write_line(self, line, **kw):
        self.ops.append(("write_line", str(line)))

    def line(self, msg="", **kw):
        self.ops.append(("write_line", str(msg)))

    def write(self, content, **kw):
        self.ops.append(("write", str(content)))


def _suite_plugin(fn):
    """True for a hook function of this test suite (not this module's,
    not pytest's or xdist's)."""
    try:
        path = os.path.abspath(inspect.getsourcefile(fn) or "")
    except TypeError:
        return False
    return os.path.dirname(path) == HERE and \
        path != os.path.abspath(__file__)


def pytest_sessionfinish(session, exitstatus):
    """Worker: run the suite's own pytest_terminal_summary hooks into a
    recorder; xdist sends config.workeroutput to the controller after
    this hook."""
    config = session.config
    if not is_worker(config):
        return
    rec = _Recorder()
    args = {"terminalreporter": rec, "exitstatus": exitstatus,
            "config": config}
    for impl in config.pluginmanager.hook.pytest_terminal_summary \
            .get_hookimpls():
        if not _suite_plugin(impl.function):
            continue
        try:
            impl.function(**{a: args[a] for a in impl.argnames})
        except Exception as e:  # noqa: BLE001 -- shown, not fatal
            rec.write_line("(summary of %s on %s failed: %r)"
                           % (impl.plugin_name, worker_id(config), e))
    config.workeroutput["amifs_terminal"] = rec.ops


# ---- grouping and order -------------------------------------------------------

def _group_of(item):
    g = GROUP_FILES.get(os.path.basename(str(item.fspath)))
    if g:
        return g
    for f in getattr(item, "fixturenames", ()):
        if f in GROUP_FIXTURES:
            return GROUP_FIXTURES[f]
    return None


def _seconds(item, group):
    if group and "group:" + group in SLOW:
        return SLOW["group:" + group]
    name = "%s::%s" % (os.path.basename(str(item.fspath)), item.name)
    if name in SLOW:
        return SLOW[name]
    base = "%s::%s" % (os.path.basename(str(item.fspath)),
                       getattr(item, "originalname", item.name))
    return SLOW.get(base, 0)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Group the tests that must share a worker (xdist_group: before xdist
    turns the marks into node id suffixes), then put the slowest first
    (stable: every worker computes the same order). Markers and order are
    the same in a serial run."""
    weight = {}
    for item in items:
        g = None
        mark = item.get_closest_marker("xdist_group")
        if mark is None:
            g = _group_of(item)
            if g:
                item.add_marker(pytest.mark.xdist_group(g))
        else:
            g = mark.args[0] if mark.args else mark.kwargs.get("name")
        weight[item] = _seconds(item, g)
    items.sort(key=lambda i: -weight[i])
