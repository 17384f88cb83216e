"""Security properties of a real mount.

- Secrets never leak: a debug-logging session (-d) with static keys and one
  with temporary credentials (credential_process: secret key + session
  token) go through success and error paths; the daemon's whole stderr,
  every file under tasks/ and every `cp` error message are searched for the
  secret key, the session token and SigV4 signature material.
- The same for the whole suite: tests/audit_fixtures.py collects every
  daemon's stderr, the output of amifs and of the tools run against mounts,
  the task files of every mount and every secret handed out;
  test_suite_wide_secret_audit runs last and scans the lot (and must have
  seen enough to mean something); test_audit_scanner_* prove it can fail.
- The mount is private by default: another user (nobody) cannot even list
  it; with `-o allow_other` it can look but not write.
- TLS verification cannot be turned off: no CURLOPT_SSL_VERIFYPEER/HOST 0 in
  the source, and an https endpoint with a self-signed certificate fails
  with a clear certificate error, before any HTTP request reaches it, unless
  that certificate is given with ca_bundle=.
"""
import http.server
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import uuid

import pytest

import audit_fixtures
from mount_fixtures import Mount
from shared_fixtures import (MKIMAGES, credential_process_env,
                             good_image, make_file, skip_unless_mountable)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 * 1024


class DebugMount(Mount):
    """A Mount whose daemon runs with -d (FUSE and amifs debug logging)
    whatever AMIFS_AUDIT_DEBUG says."""

    def argv(self):
        self.debug = True
        return super().argv()


def run(argv, timeout=120):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout)


def bad_ova(outdir):
    subprocess.run(["/usr/bin/python3", MKIMAGES, outdir, "--only",
                    "bad-not-tar"], check=True, capture_output=True,
                   timeout=300)
    for f in os.listdir(outdir):
        if f != "images.json":
            return os.path.join(outdir, f)
    raise AssertionError("mkimages made no bad-not-tar image")


def read_task_files(mount):
    """{path: text} of every regular file under tasks/ except `wait`."""
    out = {}
    top = os.path.join(mount.path, "tasks")
    for entry in os.listdir(top):
        d = os.path.join(top, entry)
        if not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            p = os.path.join(d, f)
            if f == "wait" or not os.path.isfile(p):
                continue
            with open(p, errors="replace") as fh:
                out[p] = fh.read()
    return out


def exercise(endpoint, m, tmp, tag):
    """Success and error paths through M; returns the texts produced
    (cp error messages and task files)."""
    texts = []
    d = os.path.join(m.bucket_dir, "sec-%s-%s" % (tag, uuid.uuid4().hex[:6]))
    os.mkdir(d)
    src = make_file(os.path.join(tmp, "s-%s.bin" % tag), 6 * MiB, tag)
    texts.append(run(["cp", src, os.path.join(d, "ok.bin")]).stderr)
    assert run(["cmp", src, os.path.join(d, "ok.bin")]).returncode == 0
    # Error paths: a bucket that does not exist, an endpoint that keeps
    # failing (retries exhausted), a refused image, a missing object.
    r = run(["cp", src, os.path.join(m.buckets, "no-such-bucket-" + tag,
                                     "x")])
    assert r.returncode != 0
    texts.append(r.stderr)
    endpoint.set_faults([{"service": "s3", "op": "*", "action": "500"}])
    try:
        r = run(["cp", src, os.path.join(d, "fail.bin")], timeout=60)
    finally:
        endpoint.clear_faults()
    assert r.returncode != 0
    texts.append(r.stderr)
    r = run(["cp", bad_ova(os.path.join(tmp, "bad-" + tag)),
             os.path.join(m.path, "imports", "bad-%s.ova" % tag)])
    assert r.returncode != 0
    texts.append(r.stderr)
    r = run(["cp", good_image(os.path.join(tmp, "good-" + tag)),
             os.path.join(m.path, "imports", "good-%s.ova" % tag)])
    assert r.returncode == 0, r.stderr
    texts.append(r.stderr)
    texts.append(run(["cat", os.path.join(d, "missing")]).stderr)
    files = read_task_files(m)
    assert any(p.endswith("/diagnosis") for p in files), sorted(files)
    assert any(p.endswith("/status.json") for p in files), sorted(files)
    texts.extend(files.values())
    return texts


def assert_no_secrets(texts, secrets):
    for t in texts:
        for s in secrets:
            assert s not in t, "a secret leaked:\n" + t[-3000:]
        # SigV4 material: the signature and the token header's value.
        assert not re.search(r"Signature=[0-9a-f]{16}", t), t[-3000:]
        assert not re.search(r"(?i)x-amz-security-token\s*[:=]\s*\S", t), \
            t[-3000:]


def secret_session(endpoint, tmp_path, env=None, drop=()):
    skip_unless_mountable()
    m = DebugMount(endpoint, str(tmp_path),
                   opts="bucket=%s/sec-%s,poll_interval=0.3,max_attempts=2,"
                   "retry_base_ms=10,cache_ttl=0"
                   % (endpoint.bucket, uuid.uuid4().hex[:6]), env=env)
    for k in drop:
        m.env.pop(k, None)
    m.start()
    try:
        texts = exercise(endpoint, m, str(tmp_path), uuid.uuid4().hex[:6])
    finally:
        m.unmount()
    log = m.log()
    assert re.search(r"^amifs \S+ debug: ", log, re.M), \
        "the daemon did not log in debug mode:\n" + log[-2000:]
    return texts + [log]


def test_static_secret_key_never_logged(endpoint, tmp_path):
    texts = secret_session(endpoint, tmp_path)
    assert_no_secrets(texts, [endpoint.creds["AWS_SECRET_ACCESS_KEY"]])


def test_temporary_credentials_never_logged(endpoint, tmp_path):
    env, drop, _, creds = credential_process_env(endpoint, str(tmp_path),
                                                 ttl=600)
    texts = secret_session(endpoint, tmp_path, env=env, drop=drop)
    token = creds["SessionToken"]
    # Any long piece of the token would be a leak too (a truncated log).
    secrets = [creds["SecretAccessKey"], token, token[:24], token[-24:]]
    assert_no_secrets(texts, secrets)


# ---- who can enter the mount ----

def as_nobody(cmd):
    return run(["su", "nobody", "-s", "/bin/sh", "-c", cmd], timeout=30)


@pytest.fixture
def open_base():
    """A directory every user can traverse (pytest's tmp dirs are 0700)."""
    if os.geteuid() != 0 or not shutil.which("su"):
        pytest.skip("needs root and su to act as another user")
    d = tempfile.mkdtemp(prefix="amifs-sec-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def quote(p):
    return "'" + p.replace("'", "'\\''") + "'"


def test_mount_is_private_by_default(endpoint, open_base):
    skip_unless_mountable()
    m = Mount(endpoint, open_base).start()
    try:
        os.chmod(open_base, 0o755)
        # Control: nobody can reach the directory holding the mount point.
        r = as_nobody("ls " + quote(open_base))
        assert r.returncode == 0, r.stderr
        assert os.path.basename(m.path) in r.stdout
        r = as_nobody("ls " + quote(m.path))
        assert r.returncode != 0, r.stdout
        assert "denied" in r.stderr.lower(), r.stderr
        r = as_nobody("ls " + quote(m.bucket_dir))
        assert r.returncode != 0
        # The owner still can.
        assert "buckets" in os.listdir(m.path)
    finally:
        m.unmount()


def allow_other_permitted():
    if os.geteuid() == 0:
        return True
    try:
        with open("/etc/fuse.conf") as f:
            return any(l.strip() == "user_allow_other" for l in f)
    except OSError:
        return False


def test_allow_other_lets_others_look_but_not_write(endpoint, open_base):
    skip_unless_mountable()
    if not allow_other_permitted():
        pytest.skip("/etc/fuse.conf does not allow allow_other")
    # umask=022 given: allow_other alone uses umask 027 (test_names.py)
    m = Mount(endpoint, open_base, opts="allow_other,umask=022").start()
    try:
        r = as_nobody("ls " + quote(m.path))
        assert r.returncode == 0, r.stderr
        assert "buckets" in r.stdout.split()
        r = as_nobody("echo x > " + quote(os.path.join(
            m.bucket_dir, "nobody-%s" % uuid.uuid4().hex[:6])))
        assert r.returncode != 0
        assert "denied" in r.stderr.lower(), r.stderr
    finally:
        m.unmount()


# ---- TLS verification ----

def test_source_never_disables_tls_verification():
    bad = re.compile(r"CURLOPT_SSL_VERIFY(PEER|HOST)\s*,\s*0|"
                     r"CURLOPT_SSL_VERIFY(PEER|HOST)\s*,\s*\(long\)\s*0|"
                     r"CURLSSLOPT_NO_REVOKE|CURLOPT_PROXY_SSL_VERIFY")
    found = []
    for sub in ("aws", "fs", "ova"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, sub)):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                p = os.path.join(dirpath, f)
                with open(p, errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        if bad.search(line):
                            found.append("%s:%d: %s" % (p, n, line.strip()))
    assert not found, "\n".join(found)
    # And verification is switched on explicitly where handles are set up
    # (aws/client_curl.c since the client was split by concern).
    with open(os.path.join(ROOT, "aws", "client_curl.c")) as f:
        src = f.read()
    assert re.search(r"CURLOPT_SSL_VERIFYPEER\s*,\s*1L", src)
    assert re.search(r"CURLOPT_SSL_VERIFYHOST\s*,\s*2L", src)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers every request with an S3-style 403 and counts requests."""

    def _answer(self):
        self.server.hits += 1
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>'
                b"AccessDenied</Code><Message>test TLS server</Message>"
                b"</Error>")
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path):
    """(url, cert path, server) of an https server on loopback with a
    freshly generated self-signed certificate."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.hits = 0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "https://127.0.0.1:%d" % srv.server_address[1], cert, srv
    srv.shutdown()
    srv.server_close()


def tls_mount(endpoint, base, url, extra=""):
    """Mount against URL; returns (Mount or None, log). A refused mount is
    fine (the error must then be in the log)."""
    skip_unless_mountable()
    m = Mount(endpoint, base)
    m.debug = False           # the certificate error must be amifs' own
    m.opts = "endpoint=%s,bucket=%s,max_attempts=1,cache_ttl=0%s" % (
        url, endpoint.bucket, extra)
    try:
        m.start()
    except AssertionError:
        m.proc = None
        return None, m.log()
    return m, m.log()


CERT_ERROR = re.compile(r"(?i)certificate|SSL|TLS")


def test_self_signed_endpoint_is_refused(endpoint, tmp_path, tls_server):
    url, cert, srv = tls_server
    m, log = tls_mount(endpoint, str(tmp_path), url)
    if m is not None:
        try:
            r = run(["ls", m.buckets], timeout=60)
            assert r.returncode != 0, "listing over untrusted TLS worked"
            log = m.log()
        finally:
            m.unmount()
    assert CERT_ERROR.search(log), log[-3000:]
    assert srv.hits == 0, "an HTTP request got through unverified TLS"

    # Control: trusting that very certificate gets requests through (the
    # server then answers 403), so the failure above was verification.
    m, log = tls_mount(endpoint, str(tmp_path), url, ",ca_bundle=" + cert)
    if m is not None:
        try:
            run(["ls", m.buckets], timeout=60)
        finally:
            m.unmount()
    assert srv.hits > 0, log[-3000:]


# ---- the suite-wide audit (tests/audit_fixtures.py) ----

def audit_summary(c):
    return ("%(daemon_logs)d daemon logs (%(daemon_lines)d lines), "
            "%(status_files)d task files (%(diagnosis_files)d diagnoses), "
            "%(processes)d amifs/cp/cat/ls... outputs, %(secrets)d secrets; "
            "recording took %(cost_s).1fs" % c)


def ran(passed, module):
    return [n for n in passed if ("%s::" % module) in n]


@pytest.mark.audit_last
def test_suite_wide_secret_audit(request):
    d = audit_fixtures.audit_dir()
    if d is None:
        pytest.skip("no audit directory: tests/audit_fixtures.py not loaded")
    c = audit_fixtures.census(d)
    mounting = audit_fixtures.mount_tests_passed(request.config)
    if c["daemon_logs"] == 0 and not mounting:
        pytest.skip("no amifs daemon ran in this session: nothing to audit")
    secrets = audit_fixtures.load_secrets(d)
    report = audit_fixtures.scan(d, secrets)
    request.config.stash[audit_fixtures.SUMMARY] = "%s: %s" % (
        d, audit_summary(c))
    assert not report, "secrets in what amifs showed (%s):\n%s" % (
        d, "\n".join(report[:200]))
    # It saw enough to mean something.
    assert secrets, "no secret recorded: the scan could not find any"
    assert c["daemon_logs"] >= len(mounting), (
        "%d tests mounted through mount_factory but only %d daemon logs"
        % (len(mounting), c["daemon_logs"]))
    if os.environ.get("AMIFS_AUDIT_DEBUG", "1") != "0":   # -d: verbose
        assert c["daemon_lines"] >= 10 * c["daemon_logs"], audit_summary(c)
    passed = audit_fixtures.passed_tests(request.config)
    tasks = ran(passed, "test_tasks.py") + ran(passed, "test_imports.py")
    if len(tasks) >= 3:
        assert c["status_files"] >= 10, audit_summary(c)
        assert c["diagnosis_files"] >= 1, audit_summary(c)
    if len(ran(passed, "test_buckets.py")) >= 5:
        assert c["processes"] >= 10, audit_summary(c)


PLANTED_KEY = "pLaNtEdSeCrEtKeY/0123456789abcdefghijklmn"
PLANTED_TOKEN = "IQoJb3JpZ2luX2VjEPLANTED" + "t0k3n" * 40 + "TOKENEND"


def plant(d):
    """A fake audit directory with planted leaks; {name: path}."""
    files = {
        "secrets-1.tsv": "static key\t%s\ntoken\t%s\nshort\tabc\n"
                         % (PLANTED_KEY, PLANTED_TOKEN),
        "daemon-1-mnt-x.log": "amifs 12:00:00.000 info: mounted\n"
                              "amifs 12:00:00.001 debug: creds %s\n"
                              "amifs 12:00:00.002 debug: cut %s\n"
                              % (PLANTED_KEY, PLANTED_KEY[:30]),
        "status-1.log": "### [t] /m/tasks/a/status\ncompleted ami-1\n"
                        "### [t] /m/tasks/a/diagnosis\nwhy: ...%s\n"
                        % PLANTED_TOKEN[-30:],
        "procs-1.log": "### [t] cp a b (exit 1) stdout\n"
                       "### [t] cp a b (exit 1) stderr\ncp: x\n"
                       "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/x, "
                       "Signature=0123456789abcdef0123\n",
        "clean.log": "nothing to see abc\n",
    }
    out = {}
    for name, text in files.items():
        (d / name).write_text(text)
        out[name] = str(d / name)
    return out


def test_audit_scanner_reports_planted_secrets(tmp_path):
    p = plant(tmp_path)
    secrets = audit_fixtures.load_secrets(str(tmp_path))
    assert set(secrets) == {PLANTED_KEY, PLANTED_TOKEN}  # "abc": too short
    report = audit_fixtures.scan(str(tmp_path), secrets)
    text = "\n".join(report)
    assert p["daemon-1-mnt-x.log"] + ":2: secret (static key)" in text
    assert p["daemon-1-mnt-x.log"] + \
        ":3: first 24 chars of secret (static key)" in text
    assert (p["status-1.log"] + ":4: last 24 chars of secret (token) "
            "under '[t] /m/tasks/a/diagnosis'") in text, text
    assert (p["procs-1.log"] + ":4: SigV4 material 'Signature=0123...' "
            "under '[t] cp a b (exit 1) stderr'") in text, text
    assert "clean.log" not in text and "secrets-1.tsv" not in text
    assert PLANTED_KEY not in text and PLANTED_TOKEN[-24:] not in text
    assert len(report) == 4, text
    assert audit_fixtures.census(str(tmp_path))["status_files"] == 2


def test_audit_records_what_tools_print_and_cli_secrets(tmp_path,
                                                        monkeypatch):
    """Through the real recording path: a `cat` that prints a secret, and
    the AWS CLI handing out temporary credentials."""
    d = tmp_path / "audit"
    d.mkdir()
    monkeypatch.setenv(audit_fixtures.AUDIT_ENV, str(d))
    leak = tmp_path / "leak.txt"
    leak.write_text("first line\nsecret=%s\n" % PLANTED_KEY)
    subprocess.run(["cat", str(leak)], capture_output=True, text=True,
                   env=dict(os.environ, AWS_SECRET_ACCESS_KEY=PLANTED_KEY))
    audit_fixtures.record_process(
        ["aws", "--endpoint-url", "http://x", "sts", "assume-role"], 0,
        '{"Credentials": {"AccessKeyId": "ASIAX", "SecretAccessKey": '
        '"%s", "SessionToken": "%s"}}' % (PLANTED_KEY[::-1], PLANTED_TOKEN),
        "")
    secrets = audit_fixtures.load_secrets(str(d))
    assert set(secrets) == {PLANTED_KEY, PLANTED_KEY[::-1], PLANTED_TOKEN}
    assert "sts assume-role" in secrets[PLANTED_TOKEN]
    report = audit_fixtures.scan(str(d), secrets)
    procs = str(d / ("procs-%d.log" % os.getpid()))
    assert len(report) == 1, report      # the key (not also its ends)
    assert report[0].startswith(procs + ":3: secret (AWS_SECRET_ACCESS_KEY"
                                " of cat) under '["), report


def test_audit_finds_secrets_in_credential_files(tmp_path, monkeypatch):
    """Keys in a credentials file, a web identity token file and the SSO
    token cache of a daemon's environment count as secrets."""
    d = tmp_path / "audit"
    d.mkdir()
    monkeypatch.setenv(audit_fixtures.AUDIT_ENV, str(d))
    home = tmp_path / "home"
    (home / ".aws" / "sso" / "cache").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAX\naws_secret_access_key = %s\n"
        "aws_session_token=%s\n" % (PLANTED_KEY, PLANTED_TOKEN))
    (home / ".aws" / "sso" / "cache" / "x.json").write_text(
        '{"accessToken": "sso-bearer-planted-0123456789"}')
    tok = tmp_path / "web-token"
    tok.write_text("eyJhbGciOi.planted.sig\n")
    audit_fixtures.record_file_secrets(
        {"HOME": str(home), "AWS_WEB_IDENTITY_TOKEN_FILE": str(tok)}, "t")
    assert set(audit_fixtures.load_secrets(str(d))) == {
        PLANTED_KEY, PLANTED_TOKEN, "sso-bearer-planted-0123456789",
        "eyJhbGciOi.planted.sig"}
