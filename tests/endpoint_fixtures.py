"""pytest plugin: the local AWS endpoint (tests/endpoint/server.py).

Runs under /usr/bin/python3 with the standard library only; the server
itself runs under the first python3 that can import moto ($AMIFS_PYTHON
wins). Fixtures:
  endpoint        session-scoped, bootstrapped (user amifs-tester, bucket
                  amifs-staging, role vmimport, a us-west-2 bucket)
  fresh_endpoint  function-scoped, an empty account; call .bootstrap(*flags)
                  for a partial setup (flags of bootstrap.py)
Both yield an Endpoint: .url .region .bucket .env .python .state_dir
.aws(*args, cli="v1"|"v2", check=True, json=True) .requests(op, since)
.mark() .set_faults(rules) .clear_faults() .faults() .admin_env()
.tasks(id) .wait_task(id) .step_task(id) .set_phase_seconds(F) .held()
.release(...) .wait_held(op).
"""
import json as jsonlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "endpoint", "server.py")
BOOTSTRAP = os.path.join(HERE, "endpoint", "bootstrap.py")
PHASE_SECONDS = 0.3
# Seconds for the server to write its port. moto takes a few CPU seconds to
# import; the xdist workers (tests/parallel_fixtures.py) start theirs all at
# once, beside the fuzz build, so on a loaded 2-core box this takes minutes.
START_TIMEOUT = 300
REGION = "us-east-1"


class AwsCliError(Exception):
    def __init__(self, proc):
        super().__init__("aws exited %d: %s" % (proc.returncode,
                                                proc.stderr.strip()[-2000:]))
        self.proc = proc
        self.returncode = proc.returncode
        self.stderr = proc.stderr


def moto_python():
    """The interpreter that runs the endpoint (can import moto)."""
    cands = [os.environ.get("AMIFS_PYTHON"), "python3",
             "/usr/local/bin/python3", "/usr/bin/python3"]
    for c in cands:
        if not c or not shutil.which(c):
            continue
        p = subprocess.run([c, "-c", "import moto.server, werkzeug, boto3;"
                            "import sys; print(sys.executable)"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.strip()
    return None


def cli_paths(python):
    """{"v1": pip aws CLI of the moto python, "v2": /usr/bin/aws}. The CLI
    beside the moto interpreter comes first: a version manager's shim on
    PATH (pyenv) costs a quarter of a second on each of the suite's
    thousands of CLI calls."""
    v1 = None
    if python:
        cand = os.path.join(os.path.dirname(python), "aws")
        if os.access(cand, os.X_OK):
            v1 = cand
    for d in ([] if v1 else os.environ.get("PATH", "").split(os.pathsep)):
        exe = os.path.join(d, "aws")
        if os.access(exe, os.X_OK) and os.path.realpath(exe) != \
                "/usr/bin/aws":
            v1 = exe
            break
    if v1 is None and python:
        cand = os.path.join(os.path.dirname(python), "aws")
        v1 = cand if os.access(cand, os.X_OK) else None
    v2 = "/usr/bin/aws" if os.access("/usr/bin/aws", os.X_OK) else None
    return {"v1": v1, "v2": v2}


class Endpoint:
    def __init__(self, python, state_dir, region=REGION):
        self.python = python
        self.state_dir = state_dir
        self.region = region
        self.proc = None
        self.url = None
        self.bucket = None
        self.creds = {}
        self.clis = cli_paths(python)
        self.env = self._base_env()

    # ------------------------------------------------------------ lifecycle --

    def start(self, phase_seconds=PHASE_SECONDS, timeout=START_TIMEOUT):
        log = open(os.path.join(self.state_dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [self.python, SERVER, "--host", "127.0.0.1", "--port", "0",
             "--state-dir", self.state_dir,
             "--phase-seconds", str(phase_seconds)],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        port_file = os.path.join(self.state_dir, "port")
        deadline = time.time() + timeout
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("endpoint did not start:\n" + self.log())
            time.sleep(0.05)
        with open(port_file) as f:
            self.url = "http://127.0.0.1:%d" % int(f.read())
        self._control("GET", "/_amifs/health")
        self.env["AWS_ENDPOINT_URL"] = self.url
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            with open(os.path.join(self.state_dir, "server.log")) as f:
                return f.read()[-5000:]
        except OSError:
            return ""

    def bootstrap(self, *flags):
        """Run bootstrap.py with FLAGS; the env then carries its user."""
        out = os.path.join(self.state_dir, "bootstrap")
        p = subprocess.run(
            [self.python, BOOTSTRAP, "--endpoint", self.url, "--out", out,
             "--region", self.region,
             "--admin", os.path.join(self.state_dir, "admin.json")]
            + list(flags), capture_output=True, text=True, env=self.env)
        if p.returncode != 0:
            raise RuntimeError("bootstrap failed: " + p.stderr[-3000:])
        with open(os.path.join(out, "credentials.json")) as f:
            self.creds = jsonlib.load(f)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            self.env[k] = self.creds[k]
        self.bucket = self.creds["AMIFS_BUCKET"]
        self.env["AMIFS_BUCKET"] = self.bucket
        return self

    # -------------------------------------------------------------- helpers --

    def _base_env(self):
        env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
                  "AWS_SECURITY_TOKEN"):
            env.pop(k, None)
        nowhere = os.path.join(self.state_dir, "no-such-aws-config")
        env.update({"AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region, "AWS_PAGER": "",
                    "AWS_CONFIG_FILE": nowhere,
                    "AWS_SHARED_CREDENTIALS_FILE": nowhere,
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "AMIFS_ENDPOINT_STATE": self.state_dir})
        return env

    def admin_env(self):
        """self.env with the server's all-powerful admin credentials."""
        with open(os.path.join(self.state_dir, "admin.json")) as f:
            admin = jsonlib.load(f)
        return dict(self.env, AWS_ACCESS_KEY_ID=admin["AccessKeyId"],
                    AWS_SECRET_ACCESS_KEY=admin["SecretAccessKey"])

    def temporary_credentials(self, role, session, seconds=3600):
        """Real temporary credentials (ASIA key, secret, session token) the
        endpoint accepts: AssumeRole of an all-powerful ROLE, made with the
        admin keys on first use (moto refuses made-up session tokens)."""
        admin = self.admin_env()
        r = self.aws("iam", "get-role", "--role-name", role, env=admin,
                     check=False, json=False)
        if r.returncode != 0:
            trust = jsonlib.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"},
                 "Action": "sts:AssumeRole"}]})
            policy = jsonlib.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
            self.aws("iam", "create-role", "--role-name", role,
                     "--assume-role-policy-document", trust, env=admin)
            self.aws("iam", "put-role-policy", "--role-name", role,
                     "--policy-name", "all", "--policy-document", policy,
                     env=admin)
        arn = self.aws("iam", "get-role", "--role-name", role,
                       env=admin)["Role"]["Arn"]
        return self.aws("sts", "assume-role", "--role-arn", arn,
                        "--role-session-name", session,
                        "--duration-seconds", str(max(seconds, 900)),
                        env=admin)["Credentials"]

    def aws(self, *args, cli="v1", check=True, json=True, env=None,
            timeout=180, input=None):
        """Run an AWS CLI against the endpoint. json=True: parsed stdout
        (None when empty); else the CompletedProcess. check=True raises
        AwsCliError on a non-zero exit."""
        exe = self.clis[cli]
        if exe is None:
            pytest.skip("AWS CLI %s not installed" % cli)
        argv = [exe, "--endpoint-url", self.url] + [str(a) for a in args]
        if json:
            argv += ["--output", "json"]
        p = subprocess.run(argv, capture_output=True, text=True,
                           env=env or self.env, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AwsCliError(p)
        if not json:
            return p
        if p.returncode != 0:
            raise AwsCliError(p)
        return jsonlib.loads(p.stdout) if p.stdout.strip() else None

    def _control(self, method, path, body=None):
        data = None if body is None else jsonlib.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as r:
            return jsonlib.loads(r.read() or b"null")

    def tasks(self, task_id=None):
        """Import tasks as the server sees them (no signature needed)."""
        q = "?id=" + urllib.request.quote(task_id) if task_id else ""
        return self._control("GET", "/_amifs/tasks" + q)

    def wait_task(self, task_id, timeout=60, poll=0.05):
        """Follow a task until it is completed or deleted. Returns (last
        summary, [(status, message)] in the order seen)."""
        return self._follow(task_id, timeout, lambda: time.sleep(poll))

    def step_task(self, task_id, timeout=60):
        """Walk a task started with long phases (set_phase_seconds) through
        them one at a time: note its state, ask the endpoint to move it one
        phase on, and where the analysis holds it, wait for that -- every
        phase is seen however loaded the machine is. Returns (last summary,
        [(status, message)] in the order seen)."""
        def advance():
            if not self._control("POST", "/_amifs/tasks/advance",
                                 {"id": task_id})["advanced"]:
                time.sleep(0.05)        # held: the analysis is running
        return self._follow(task_id, timeout, advance)

    def _follow(self, task_id, timeout, between):
        seen = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            t = self.tasks(task_id)[0]
            state = (t["status"], t["message"])
            if not seen or seen[-1] != state:
                seen.append(state)
            if t["status"] in ("completed", "deleted"):
                return t, seen
            between()
        raise AssertionError("task %s did not end: %s" % (task_id, seen))

    def set_phase_seconds(self, seconds):
        """Phase length for tasks started from now on; returns the old."""
        old = self._control("GET", "/_amifs/config")["phase_seconds"]
        self._control("POST", "/_amifs/config", {"phase_seconds": seconds})
        return old

    def requests(self, op=None, since=None):
        q = "?since=%d" % (since or 0)
        if op:
            q += "&op=" + urllib.request.quote(op)
        return self._control("GET", "/_amifs/requests" + q)

    def mark(self):
        return len(self.requests())

    def set_faults(self, rules):
        return self._control("POST", "/_amifs/faults", rules)

    def clear_faults(self):
        return self._control("DELETE", "/_amifs/faults")

    def faults(self):
        return self._control("GET", "/_amifs/faults")

    def held(self, op=None):
        """Requests kept unanswered by a "hold" rule (oldest first)."""
        return [h for h in self._control("GET", "/_amifs/held")
                if op is None or h["op"] == op]

    def release(self, hid=None, op=None, how="answer"):
        """Release held requests (all when neither HID nor OP): "answer"
        performs (if held before) and answers; "drop" closes the
        connection. Returns how many were released."""
        body = {"how": how}
        if hid is not None:
            body["id"] = hid
        if op is not None:
            body["op"] = op
        return self._control("POST", "/_amifs/held/release",
                             body)["released"]

    def wait_held(self, op=None, n=1, timeout=60, alive=None):
        """Wait until N requests (of OP) are held; returns them. ALIVE: a
        callable; the wait fails early once it returns False."""
        deadline = time.time() + timeout
        while True:
            h = self.held(op)
            if len(h) >= n:
                return h
            if alive is not None and not alive():
                raise AssertionError("gave up waiting for a held %s: the "
                                     "process it waits for ended" % op)
            if time.time() > deadline:
                raise AssertionError("no held %s after %ss (held: %s)"
                                     % (op, timeout, h))
            time.sleep(0.02)


def _make(tmp_root, name):
    python = moto_python()
    if python is None:
        pytest.skip("no python3 with moto[server] (set AMIFS_PYTHON)")
    d = tempfile.mkdtemp(prefix=name + "-", dir=tmp_root)
    return Endpoint(python, d)


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    ep = _make(str(tmp_path_factory.mktemp("endpoint")), "endpoint")
    try:
        ep.start()
        ep.bootstrap()
        yield ep
    finally:
        ep.stop()


@pytest.fixture
def fresh_endpoint(tmp_path_factory):
    ep = _make(str(tmp_path_factory.mktemp("fresh-endpoint")), "fresh")
    try:
        ep.start()
        yield ep
    finally:
        ep.stop()
