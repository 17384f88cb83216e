"""pytest plugin: the suite-wide secret audit (issue 7, "Security checks").

doc/CONTRACT.md: "Secrets never appear in logs, status files or error messages."
This plugin collects, for the whole session, what amifs and its users see,
and the secrets that were handed out, into one audit directory; the test
tests/test_security.py::test_suite_wide_secret_audit (marked `audit_last`,
moved to the end of the session here) scans the one with the other.

The audit directory is $AMIFS_AUDIT_DIR when set (test_sanitized_daemon's
inner pytest sessions inherit it, so their daemons are audited too; with
pytest-xdist the controller sets it to a directory every worker writes to,
and the audit test waits for all workers: tests/parallel_fixtures.py), else
<pytest basetemp>/audit, set up by a session-scoped autouse fixture which
then exports AMIFS_AUDIT_DIR. Files in it, all appended to by any process
(names carry the writer's pid):
  daemon-*.log      the stderr of each amifs daemon tests/mount_fixtures.py
                    starts (the Mount writes there directly; daemon_log_path)
  procs-PID.log     the stdout and stderr of every subprocess.run of amifs
                    itself and of the file tools that use a mount (cp, cat,
                    ls, mv, rm, dd, rsync, sh, mount...); one "### " header
                    per call
  status-PID.log    the text of tasks/*/{status,status.json,progress,
                    diagnosis,source} read through each mount just before
                    it is unmounted (Mount.snapshot_status); one "### "
                    header per file
  secrets-PID.tsv   ORIGIN<TAB>VALUE of every secret seen: the secret key,
                    session token and container authorization token in the
                    environment of any subprocess (so every endpoint's,
                    admin's and test's static keys); SecretAccessKey/
                    SessionToken in the JSON printed by the AWS CLI (STS
                    AssumeRole, CreateAccessKey: every temporary credential
                    a credential_process / STS / container / SSO fake hands
                    out comes from there); and, for each daemon and amifs
                    command, the keys in its AWS config and credentials
                    files, its web identity / container token files and its
                    SSO token cache (record_file_secrets)
The AWS CLI's output, the endpoint's own logs (its request log holds
X-Amz-Security-Token: that is the wire) and Python helpers are never
recorded: they are not amifs.

Recording is done by wrapping subprocess.run for the session (installed in
pytest_configure, removed in pytest_unconfigure); the wrapper returns and
raises exactly what subprocess.run does, and a failure to record never
fails a test. Nothing is recorded while no audit directory is set;
AMIFS_AUDIT=0 turns the audit off (the audit test then skips).
"""
import json
import os
import re
import subprocess
import tempfile
import time

import pytest

import parallel_fixtures

AUDIT_ENV = "AMIFS_AUDIT_DIR"
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "AWS_SECURITY_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN")
# Variables naming a file whose whole content is a secret token.
TOKEN_FILE_ENV = ("AWS_WEB_IDENTITY_TOKEN_FILE",
                  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
SECRET_FIELDS = ("SecretAccessKey", "SessionToken")
# Keys of the AWS config/credentials files and of the SSO token cache.
FILE_SECRET = re.compile(r"^\s*(aws_secret_access_key|aws_session_token|"
                         r"aws_security_token)\s*=\s*(\S+)", re.M)
FILE_TOKEN_PATH = re.compile(r"^\s*web_identity_token_file\s*=\s*(\S+)",
                             re.M)
SSO_FIELDS = ("accessToken", "refreshToken", "clientSecret")
MIN_SECRET = 12        # shorter values would match by chance
PIECE = 24             # a leak of the first/last 24 chars is a leak too
HEADER = "### "
# Programs whose output amifs' users see: amifs itself and the tools the
# tests run against mounts. Everything else (aws CLIs, python helpers,
# compilers, fuzzers) is not recorded.
USER_TOOLS = frozenset((
    "amifs", "cp", "cat", "ls", "mv", "rm", "rmdir", "mkdir", "dd",
    "install", "rsync", "gio", "head", "tail", "sh", "bash", "su", "mount",
    "umount", "fusermount3", "cmp", "stat", "touch", "ln", "getfattr",
    "setfattr", "attr", "truncate", "find", "du", "tar", "bsdtar",
    "sha256sum", "md5sum", "diff", "tee", "timeout", "xargs", "readlink"))
# SigV4 material that must never be shown either (as test_security checks).
SIGV4 = re.compile(r"Signature=[0-9a-f]{16}|"
                   r"(?i:x-amz-security-token)\s*[:=]\s*\S")


def audit_dir():
    """The session's audit directory, or None when auditing is off."""
    d = os.environ.get(AUDIT_ENV)
    return d if d and os.path.isdir(d) else None


def current_test():
    return os.environ.get("PYTEST_CURRENT_TEST", "(no test)")


def _append(name, text):
    """Append TEXT to audit file NAME; never raises."""
    d = audit_dir()
    if d is None:
        return
    try:
        with open(os.path.join(d, name), "a", errors="replace") as f:
            f.write(text)
    except OSError:
        pass


def _text(v):
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return str(v)


def record_cost(what, since):
    """Account the audit's own time (time.monotonic() - SINCE) as WHAT, so
    the audit test can report what auditing costs the suite."""
    _append("cost-%d.tsv" % os.getpid(),
            "%s\t%.4f\n" % (what, time.monotonic() - since))


# ---- secrets ----------------------------------------------------------

def record_secret(value, origin):
    """Remember VALUE (a secret key or token) as a secret of the session."""
    if isinstance(value, str) and len(value) >= MIN_SECRET and \
            "\t" not in value and "\n" not in value:
        _append("secrets-%d.tsv" % os.getpid(),
                "%s\t%s\n" % (origin.replace("\t", " "), value))


def record_env_secrets(env, origin):
    for k in SECRET_ENV:
        if env and env.get(k):
            record_secret(env[k], "%s of %s" % (k, origin))


def _read(path, limit=1 << 20):
    try:
        with open(path, errors="replace") as f:
            return f.read(limit)
    except (OSError, TypeError, ValueError):
        return ""


def record_file_secrets(env, origin):
    """The secrets a process given ENV can find in files: the AWS config
    and credentials files, web identity / container token files, the SSO
    token cache. Read when a daemon starts and again before it unmounts
    (tokens rotate)."""
    home = env.get("HOME") or ""
    paths = [env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws",
                                                        "config"),
             env.get("AWS_SHARED_CREDENTIALS_FILE") or
             os.path.join(home, ".aws", "credentials")]
    tokens = [env.get(k) for k in TOKEN_FILE_ENV if env.get(k)]
    for p in paths:
        text = _read(p)
        for m in FILE_SECRET.finditer(text):
            record_secret(m.group(2), "%s in %s for %s"
                          % (m.group(1), os.path.basename(p), origin))
        tokens += FILE_TOKEN_PATH.findall(text)
    for p in tokens:
        record_secret(_read(p).strip(), "token file %s for %s"
                      % (os.path.basename(p), origin))
    cache = os.path.join(home, ".aws", "sso", "cache")
    try:
        names = os.listdir(cache) if home else []
    except OSError:
        names = []
    for name in names:
        try:
            doc = json.loads(_read(os.path.join(cache, name)))
        except ValueError:
            continue
        for k in SSO_FIELDS:
            if isinstance(doc, dict) and isinstance(doc.get(k), str):
                record_secret(doc[k], "SSO cache %s for %s" % (k, origin))


def _walk_json(doc, origin):
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in SECRET_FIELDS and isinstance(v, str):
                record_secret(v, "%s from %s" % (k, origin))
            else:
                _walk_json(v, origin)
    elif isinstance(doc, list):
        for v in doc:
            _walk_json(v, origin)


def record_cli_secrets(argv, stdout):
    """Secrets in the JSON an AWS CLI printed (sts assume-role...)."""
    out = _text(stdout)
    if not any(f in out for f in SECRET_FIELDS):
        return
    try:
        doc = json.loads(out)
    except ValueError:
        return
    words = [str(a) for a in argv[1:]
             if not str(a).startswith(("-", "http"))]
    _walk_json(doc, "aws " + " ".join(words[:2]))


def load_secrets(d):
    """{value: origin} of every secret recorded in audit directory D."""
    out = {}
    for name in sorted(os.listdir(d)):
        if not (name.startswith("secrets-") and name.endswith(".tsv")):
            continue
        with open(os.path.join(d, name), errors="replace") as f:
            for line in f:
                origin, _, value = line.rstrip("\n").partition("\t")
                if len(value) >= MIN_SECRET:
                    out.setdefault(value, origin)
    return out


# ---- what amifs and its users see -------------------------------------

def daemon_log_path(tag):
    """A fresh file in the audit directory for a daemon's stderr, or None
    when auditing is off."""
    d = audit_dir()
    if d is None:
        return None
    fd, path = tempfile.mkstemp(prefix="daemon-%d-%s-" % (os.getpid(), tag),
                                suffix=".log", dir=d)
    os.close(fd)
    _append("daemons-%d.tsv" % os.getpid(),
            "%s\t%s\n" % (os.path.basename(path), current_test()))
    return path


def record_texts(kind, texts):
    """Append {label: text} under one "### label" header each to the
    KIND-PID.log of the audit directory."""
    parts = []
    for label, text in texts.items():
        t = _text(text)
        parts.append("%s%s\n%s%s" % (HEADER, label, t,
                                     "" if t.endswith("\n") or not t
                                     else "\n"))
    if parts:
        _append("%s-%d.log" % (kind, os.getpid()), "".join(parts))


def _program(argv):
    if isinstance(argv, (str, bytes)):
        return "sh"                       # shell=True pipelines
    try:
        return os.path.basename(str(list(argv)[0]))
    except (IndexError, TypeError):
        return ""


def record_process(argv, rc, stdout, stderr):
    prog = _program(argv)
    if prog == "aws":
        record_cli_secrets(list(argv), stdout)
        return
    if prog not in USER_TOOLS or (stdout is None and stderr is None):
        return
    cmd = argv if isinstance(argv, str) else " ".join(str(a) for a in argv)
    head = "[%s] %s (exit %s)" % (current_test(), cmd[:300], rc)
    record_texts("procs", {head + " stdout": stdout,
                           head + " stderr": stderr})


def _before_run(argv, env):
    record_env_secrets(env, _program(argv))
    if _program(argv) == "amifs" and env:
        record_file_secrets(env, "amifs")


def _safely(fn, *args):
    """Recording must never fail or change the test that ran the tool."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 -- an unrecorded call, not a failure
        pass


def _audited(real_run):
    def run(*popenargs, **kwargs):
        if audit_dir() is None:
            return real_run(*popenargs, **kwargs)
        t0 = time.monotonic()
        argv = popenargs[0] if popenargs else kwargs.get("args")
        _safely(_before_run, argv, kwargs.get("env"))
        spent = time.monotonic() - t0
        try:
            p = real_run(*popenargs, **kwargs)
        except subprocess.TimeoutExpired as e:
            _safely(record_process, argv, "timeout", e.stdout, e.stderr)
            raise
        t1 = time.monotonic() - spent
        _safely(record_process, argv, p.returncode, p.stdout, p.stderr)
        _safely(record_cost, "subprocess", t1)
        return p
    run.__wrapped__ = real_run
    return run


# ---- the scanner --------------------------------------------------------

def needles(secrets):
    """[(needle, description, secret)]: each secret and, when longer than
    PIECE, its first and last PIECE characters."""
    out = []
    for value, origin in secrets.items():
        out.append((value, "secret (%s)" % origin, value))
        if len(value) > PIECE:
            out.append((value[:PIECE], "first %d chars of secret (%s)"
                        % (PIECE, origin), value))
            out.append((value[-PIECE:], "last %d chars of secret (%s)"
                        % (PIECE, origin), value))
    return out


def _label(text, pos):
    """The "### " header above POS, if any (which call or file)."""
    h = text.rfind("\n" + HEADER, 0, pos)
    if h < 0:
        if not text.startswith(HEADER):
            return ""
        h = -1
    end = text.find("\n", h + 1)
    return " under '%s'" % text[h + 1 + len(HEADER):end][:200]


def _find_all(text, needle):
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


def _hits(path, text, needles_):
    """file:line reports; a piece inside a whole secret is not reported
    twice."""
    found, whole = [], set()
    for needle, what, value in needles_:
        if needle == value:
            for at in _find_all(text, needle):
                found.append((at, what))
                whole.update((value, i) for i in range(at, at + len(value)))
    for needle, what, value in needles_:
        if needle != value:
            found += [(at, what) for at in _find_all(text, needle)
                      if (value, at) not in whole]
    for m in SIGV4.finditer(text):
        found.append((m.start(), "SigV4 material '%s...'" % m.group(0)[:14]))
    return ["%s:%d: %s%s" % (path, text.count("\n", 0, at) + 1, what,
                             _label(text, at))
            for at, what in sorted(found)]


def scan(d, secrets):
    """file:line lines for every secret (or piece, or SigV4 signature) in
    any file of audit directory D except the secrets files themselves."""
    needles_ = needles(secrets)
    report = []
    for name in sorted(os.listdir(d)):
        if name.startswith(("secrets-", "daemons-", "cost-")):
            continue
        p = os.path.join(d, name)
        if not os.path.isfile(p):
            continue
        with open(p, errors="replace") as f:
            report += _hits(p, f.read(), needles_)
    return report


def census(d):
    """How much the audit saw: {daemon_logs, daemon_lines, status_files,
    diagnosis_files, processes, secrets}."""
    c = dict.fromkeys(("daemon_logs", "daemon_lines", "status_files",
                       "diagnosis_files", "processes"), 0)
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if name.startswith("daemon-"):
            c["daemon_logs"] += 1
            with open(p, "rb") as f:
                c["daemon_lines"] += sum(b.count(b"\n") for b in
                                         iter(lambda: f.read(1 << 20), b""))
        elif name.startswith(("status-", "procs-")):
            with open(p, errors="replace") as f:
                heads = [l for l in f if l.startswith(HEADER)]
            if name.startswith("status-"):
                c["status_files"] += len(heads)
                c["diagnosis_files"] += sum(l.rstrip().endswith("/diagnosis")
                                            for l in heads)
            else:
                c["processes"] += sum(l.rstrip().endswith(" stdout")
                                      for l in heads)
    c["secrets"] = len(load_secrets(d))
    c["cost_s"] = 0.0
    for name in os.listdir(d):
        if name.startswith("cost-"):
            with open(os.path.join(d, name)) as f:
                c["cost_s"] += sum(float(l.split("\t")[1]) for l in f
                                   if "\t" in l)
    return c


# ---- pytest hooks -------------------------------------------------------

MOUNT_TESTS = pytest.StashKey[dict]()
SUMMARY = pytest.StashKey[str]()     # set by the audit test, printed last


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "audit_last: run after every other test of the session")
    config.stash[MOUNT_TESTS] = {"mounting": set(), "passed": set()}
    real = subprocess.run
    subprocess.run = _audited(real)
    config.add_cleanup(lambda: setattr(subprocess, "run", real))


def pytest_collection_modifyitems(session, config, items):
    last = [i for i in items if i.get_closest_marker("audit_last")]
    if last:
        items[:] = [i for i in items if i not in last] + last
    config.stash[MOUNT_TESTS]["mounting"] = {
        i.nodeid for i in items
        if "mount_factory" in getattr(i, "fixturenames", ())}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.passed:
        item.config.stash[MOUNT_TESTS]["passed"].add(item.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if SUMMARY in config.stash:
        terminalreporter.write_line("amifs secret audit of " +
                                    config.stash[SUMMARY])


def mount_tests_passed(config):
    """Node ids of this run's passed tests that mounted through the
    mount_factory fixture (each started at least one daemon)."""
    st = config.stash[MOUNT_TESTS]
    return st["mounting"] & passed_tests(config)


def passed_tests(config):
    """This run's passed tests: this session's and, on an xdist worker,
    every worker's (tests/parallel_fixtures.py)."""
    return set(config.stash[MOUNT_TESTS]["passed"]) | \
        parallel_fixtures.passed_elsewhere()


@pytest.fixture(scope="session", autouse=True)
def amifs_audit_dir(tmp_path_factory):
    """The audit directory of the session (exported as AMIFS_AUDIT_DIR
    unless the environment already names one)."""
    if os.environ.get("AMIFS_AUDIT") == "0":
        yield None                            # auditing off
        return
    if os.environ.get(AUDIT_ENV):
        os.makedirs(os.environ[AUDIT_ENV], exist_ok=True)
        yield os.environ[AUDIT_ENV]
        return
    d = str(tmp_path_factory.getbasetemp() / "audit")
    os.makedirs(d, exist_ok=True)
    os.environ[AUDIT_ENV] = d
    try:
        yield d
    finally:
        os.environ.pop(AUDIT_ENV, None)
