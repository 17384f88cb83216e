"""The rest of the AWS CLI credential chain, end to end through a mount.

For each source — web identity, container endpoint, IAM Identity Center —
amifs is mounted with ONLY that source configured (no AWS_ACCESS_KEY_ID in
its environment, HOME and the AWS config files in a temp dir), a file is
copied into buckets/ with `cp`, and the AWS CLI fetches it back and compares.
The sources that are not the local endpoint (STS for web identity, the
container credentials endpoint, the SSO portal) are small fake HTTP servers
started here: they hand out real temporary credentials of the endpoint
(STS AssumeRole of an all-powerful role, made with the admin keys) and
record what amifs sent, so the tests prove the token / Authorization /
bearer header went out. Precedence checks read the daemon's "credentials
from SOURCE" log line and the fakes' request logs.
"""
import filecmp
import hashlib
import http.server
import json
import os
import threading
import time
import urllib.parse
import uuid

import pytest

from mount_fixtures import Mount, skip_reason

ROLE = "amifs-test-credentials"
ROLE_ARN_FMT = "arn:aws:iam::%s:role/" + ROLE


# ---- helpers ----------------------------------------------------------------


def temporary_keys(endpoint, seconds=3600):
    """Real temporary credentials the endpoint accepts (and the role the
    web identity tests assume)."""
    return endpoint.temporary_credentials(ROLE, "amifs-creds-test", seconds)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Fake:
    """A loopback HTTP server in a thread. answer(handler, body) returns
    (status, content_type, body bytes); every request is recorded as a dict
    (method, path, query, headers, body)."""

    def __init__(self, answer):
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                u = urllib.parse.urlsplit(self.path)
                fake.requests.append({
                    "method": self.command, "path": u.path,
                    "query": dict(urllib.parse.parse_qsl(u.query)),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body})
                status, ctype, out = answer(self, body)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _serve

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_factory():
    fakes = []

    def make(answer):
        f = Fake(answer)
        fakes.append(f)
        return f

    yield make
    for f in fakes:
        f.stop()


def sts_answer(keys, ttl=3600):
    """A fake STS that answers AssumeRoleWithWebIdentity with KEYS (the
    Expiration TTL seconds ahead, whatever KEYS say)."""
    def answer(handler, body):
        form = dict(urllib.parse.parse_qsl(body))
        if form.get("Action") != "AssumeRoleWithWebIdentity":
            return 400, "text/xml", b"<ErrorResponse><Error><Code>Bad</Code>" \
                b"<Message>unexpected</Message></Error></ErrorResponse>"
        xml = ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts."
               "amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentity"
               "Result><Credentials><AccessKeyId>%s</AccessKeyId>"
               "<SecretAccessKey>%s</SecretAccessKey><SessionToken>%s"
               "</SessionToken><Expiration>%s</Expiration></Credentials>"
               "</AssumeRoleWithWebIdentityResult>"
               "</AssumeRoleWithWebIdentityResponse>" % (
                   keys["AccessKeyId"], keys["SecretAccessKey"],
                   keys["SessionToken"], iso(time.time() + ttl)))
        return 200, "text/xml", xml.encode()
    return answer


def container_answer(keys, token):
    def answer(handler, body):
        if handler.headers.get("Authorization") != token:
            return 403, "application/json", b'{"message":"bad token"}'
        return 200, "application/json", json.dumps({
            "AccessKeyId": keys["AccessKeyId"],
            "SecretAccessKey": keys["SecretAccessKey"],
            "Token": keys["SessionToken"],
            "Expiration": iso(time.time() + 3600)}).encode()
    return answer


def portal_answer(keys, bearer):
    def answer(handler, body):
        if handler.headers.get("x-amz-sso_bearer_token") != bearer:
            return 401, "application/json", \
                b'{"message":"Session token not found or invalid"}'
        return 200, "application/json", json.dumps({"roleCredentials": {
            "accessKeyId": keys["AccessKeyId"],
            "secretAccessKey": keys["SecretAccessKey"],
            "sessionToken": keys["SessionToken"],
            "expiration": int((time.time() + 3600) * 1000)}}).encode()
    return answer


DROP = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def only_env(tmp_path, extra=None, config="", credentials=""):
    """The mount's environment changes: HOME and the AWS files in tmp_path
    (written from CONFIG/CREDENTIALS), plus EXTRA."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    cfg = home / ".aws" / "config"
    cred = home / ".aws" / "credentials"
    cfg.write_text(config)
    cred.write_text(credentials)
    env = {"HOME": str(home), "AWS_CONFIG_FILE": str(cfg),
           "AWS_SHARED_CREDENTIALS_FILE": str(cred)}
    env.update(extra or {})
    return env


def mount_only(endpoint, tmp_path, env, keep_env=(), endpoint_opt=True):
    """A Mount (not started) whose environment lost the endpoint's keys."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    m = Mount(endpoint, str(tmp_path), opts="cache_ttl=0", env=env)
    for k in DROP:
        if k not in keep_env:
            m.env.pop(k, None)
    if not endpoint_opt:
        # every service from AWS_ENDPOINT_URL(_<SVC>) instead of -o endpoint=;
        # STS is then a fake that answers only the web-identity call, so the
        # mount-time GetCallerIdentity check (tests/test_saywhy.py) is off
        m.opts = m.opts.replace("endpoint=%s," % endpoint.url, "")
        m.opts += ",lazy_checks"
    return m


def copy_and_check(endpoint, m, tmp_path):
    """cp a file into buckets/ through M; the CLI fetches it back."""
    prefix = "creds-" + uuid.uuid4().hex[:8]
    src = tmp_path / ("src-" + prefix)
    src.write_bytes(os.urandom(300 * 1024))
    d = os.path.join(m.bucket_dir, prefix)
    os.mkdir(d)
    r = os.system("cp '%s' '%s/f.bin'" % (src, d))
    assert r == 0, m.log()[-3000:]
    back = tmp_path / ("back-" + prefix)
    p = endpoint.aws("s3", "cp", "s3://%s/%s/f.bin" % (endpoint.bucket, prefix),
                     str(back), json=False, check=False)
    assert p.returncode == 0, p.stderr
    assert filecmp.cmp(str(src), str(back), shallow=False)


def source_of(m):
    """The source the daemon's probe logged ("credentials from X")."""
    for line in m.log().splitlines():
        if "credentials from " in line:
            return line.rsplit("credentials from ", 1)[1].strip()
    return None


def account_of(endpoint):
    return endpoint.aws("sts", "get-caller-identity")["Account"]


# ---- web identity -------------------------------------------------------------


def web_env(tmp_path, fake_url, role_arn, token="eyJhbGciOi.first.sig"):
    tok = tmp_path / "web-token"
    tok.write_text(token)
    return tok, {"AWS_WEB_IDENTITY_TOKEN_FILE": str(tok),
                 "AWS_ROLE_ARN": role_arn,
                 "AWS_ROLE_SESSION_NAME": "amifs-irsa",
                 "AWS_ENDPOINT_URL_STS": fake_url}


def test_web_identity_env_vars_and_token_rotation(endpoint, tmp_path,
                                                  fake_factory):
    keys = temporary_keys(endpoint)
    # Expiration 6 s ahead: the refresh window opens after half of that
    # (once per window, not per request), and each refresh re-reads the
    # token file.
    sts = fake_factory(sts_answer(keys, ttl=6))
    arn = ROLE_ARN_FMT % account_of(endpoint)
    tok, extra = web_env(tmp_path, sts.url, arn)
    m = mount_only(endpoint, tmp_path, only_env(tmp_path, extra),
                   endpoint_opt=False).start()
    try:
        assert source_of(m) == "web-identity"
        copy_and_check(endpoint, m, tmp_path)
        first = [r for r in sts.requests]
        assert first, "no AssumeRoleWithWebIdentity call"
        form = dict(urllib.parse.parse_qsl(first[0]["body"]))
        assert form["Action"] == "AssumeRoleWithWebIdentity"
        assert form["WebIdentityToken"] == "eyJhbGciOi.first.sig"
        assert form["RoleArn"] == arn
        assert form["RoleSessionName"] == "amifs-irsa"
        assert "authorization" not in first[0]["headers"], "must be unsigned"
        # kubelet rotates the token: the next refresh sends the new one
        tok.write_text("eyJhbGciOi.second.sig")
        n = len(sts.requests)
        time.sleep(4.5)  # into the refresh window of what is in hand
        copy_and_check(endpoint, m, tmp_path)
        later = [dict(urllib.parse.parse_qsl(r["body"]))["WebIdentityToken"]
                 for r in sts.requests[n:]]
        assert later and set(later) == {"eyJhbGciOi.second.sig"}, later
        assert "eyJhbGciOi" not in m.log(), "token in the daemon log"
    finally:
        m.unmount()


def test_web_identity_profile_keys(endpoint, tmp_path, fake_factory):
    keys = temporary_keys(endpoint)
    sts = fake_factory(sts_answer(keys))
    arn = ROLE_ARN_FMT % account_of(endpoint)
    tok = tmp_path / "tok"
    tok.write_text("eyJprofile.tok.sig")
    config = ("[profile irsa]\nregion = %s\nweb_identity_token_file = %s\n"
              "role_arn = %s\nrole_session_name = from-profile\n"
              % (endpoint.region, tok, arn))
    env = only_env(tmp_path, {"AWS_ENDPOINT_URL_STS": sts.url,
                              "AWS_PROFILE": "irsa"}, config=config)
    m = mount_only(endpoint, tmp_path, env, keep_env=("AWS_PROFILE",),
                   endpoint_opt=False).start()
    try:
        assert source_of(m) == "web-identity"
        copy_and_check(endpoint, m, tmp_path)
        form = dict(urllib.parse.parse_qsl(sts.requests[0]["body"]))
        assert form["WebIdentityToken"] == "eyJprofile.tok.sig"
        assert form["RoleSessionName"] == "from-profile"
    finally:
        m.unmount()


def test_web_identity_through_the_endpoints_sts(endpoint, tmp_path):
    arn = ROLE_ARN_FMT % account_of(endpoint)
    temporary_keys(endpoint)  # makes the role
    tok = tmp_path / "tok"
    tok.write_text("eyJmoto.tok.sig")
    env = only_env(tmp_path, {"AWS_WEB_IDENTITY_TOKEN_FILE": str(tok),
                              "AWS_ROLE_ARN": arn})
    m = mount_only(endpoint, tmp_path, env)
    m.start()
    try:
        assert source_of(m) == "web-identity"
        copy_and_check(endpoint, m, tmp_path)
    finally:
        m.unmount()


def test_env_keys_beat_web_identity_which_beats_the_credentials_file(
        endpoint, tmp_path, fake_factory):
    keys = temporary_keys(endpoint)
    sts = fake_factory(sts_answer(keys))
    arn = ROLE_ARN_FMT % account_of(endpoint)
    _, extra = web_env(tmp_path, sts.url, arn)
    bad_file = ("[default]\naws_access_key_id = AKIAFILEBAD\n"
                "aws_secret_access_key = nope\n")
    # env keys (the endpoint's) are kept: they win, STS is never called
    m = mount_only(endpoint, tmp_path,
                   only_env(tmp_path, extra, credentials=bad_file),
                   keep_env=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                   endpoint_opt=False).start()
    try:
        assert source_of(m) == "env"
        copy_and_check(endpoint, m, tmp_path)
    finally:
        m.unmount()
    # (the mount's one GetCallerIdentity, for the upload journal's origin,
    # may reach this STS: only web identity must not)
    assert [r for r in sts.requests
            if "AssumeRoleWithWebIdentity" in r["body"]] == []
    # without env keys, web identity beats the (bad) credentials file
    m = mount_only(endpoint, tmp_path,
                   only_env(tmp_path, extra, credentials=bad_file),
                   endpoint_opt=False).start()
    try:
        assert source_of(m) == "web-identity"
        copy_and_check(endpoint, m, tmp_path)
    finally:
        m.unmount()


def test_web_identity_without_token_file_fails_the_mount(endpoint,
                                                         tmp_path):
    env = only_env(tmp_path, {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "missing-token"),
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/x"})
    m = mount_only(endpoint, tmp_path, env)
    with pytest.raises(AssertionError):
        m.start()
    assert "missing-token" in m.log(), m.log()


# ---- container endpoint ---------------------------------------------------------


def test_container_full_uri_with_token_file(endpoint, tmp_path, fake_factory):
    keys = temporary_keys(endpoint)
    token = "eks-pod-identity-" + uuid.uuid4().hex
    fake = fake_factory(container_answer(keys, token))
    tok = tmp_path / "container-token"
    tok.write_text(token)
    env = only_env(tmp_path, {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.url + "/v1/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(tok),
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "loses-to-the-file"})
    m = mount_only(endpoint, tmp_path, env).start()
    try:
        assert source_of(m) == "container"
        copy_and_check(endpoint, m, tmp_path)
        assert fake.requests, "container endpoint not called"
        assert all(r["headers"].get("authorization") == token
                   for r in fake.requests), fake.requests
        assert fake.requests[0]["path"] == "/v1/credentials"
        assert token not in m.log()
    finally:
        m.unmount()


def test_container_token_env_and_refusal(endpoint, tmp_path, fake_factory):
    keys = temporary_keys(endpoint)
    fake = fake_factory(container_answer(keys, "ecs-token"))
    env = only_env(tmp_path, {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.url + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-token"})
    m = mount_only(endpoint, tmp_path, env).start()
    try:
        assert source_of(m) == "container"
        copy_and_check(endpoint, m, tmp_path)
        assert fake.requests[0]["headers"]["authorization"] == "ecs-token"
    finally:
        m.unmount()
    # a wrong token: the endpoint refuses, the mount fails and says why
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "wrong-token"
    m = mount_only(endpoint, tmp_path, env)
    with pytest.raises(AssertionError):
        m.start()
    assert "container credentials endpoint refused" in m.log(), m.log()
    assert "wrong-token" not in m.log()
    # a FULL_URI on a host botocore would not call is refused unasked
    n = len(fake.requests)
    env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://192.0.2.10/creds"
    m = mount_only(endpoint, tmp_path, env)
    with pytest.raises(AssertionError):
        m.start()
    assert "FULL_URI" in m.log(), m.log()
    assert len(fake.requests) == n


def test_config_file_keys_beat_the_container(endpoint, tmp_path,
                                             fake_factory):
    keys = temporary_keys(endpoint)
    fake = fake_factory(container_answer(keys, "t"))
    config = ("[default]\nregion = %s\naws_access_key_id = %s\n"
              "aws_secret_access_key = %s\naws_session_token = %s\n" % (
                  endpoint.region, keys["AccessKeyId"],
                  keys["SecretAccessKey"], keys["SessionToken"]))
    env = only_env(tmp_path, {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.url + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "t"}, config=config)
    m = mount_only(endpoint, tmp_path, env).start()
    try:
        assert source_of(m) == "config-file"
        copy_and_check(endpoint, m, tmp_path)
    finally:
        m.unmount()
    assert fake.requests == []


# ---- IAM Identity Center ----------------------------------------------------------


def sso_cache(home, key, token, expires):
    d = os.path.join(home, ".aws", "sso", "cache")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(key.encode()).hexdigest() + ".json")
    with open(path, "w") as f:
        json.dump({"startUrl": "https://d-1234.awsapps.com/start",
                   "region": "eu-west-1", "accessToken": token,
                   "expiresAt": iso(expires)}, f)


SSO_LEGACY = """[profile sso]
region = {region}
sso_start_url = https://d-1234.awsapps.com/start
sso_region = eu-west-1
sso_account_id = {account}
sso_role_name = AmifsMigrator
"""

SSO_SESSION = """[profile sso]
region = {region}
sso_session = corp
sso_account_id = {account}
sso_role_name = AmifsMigrator
[sso-session corp]
sso_start_url = https://d-9999.awsapps.com/start
sso_region = eu-central-1
sso_registration_scopes = sso:account:access
"""


@pytest.mark.parametrize("form,key", [
    ("legacy", "https://d-1234.awsapps.com/start"), ("session", "corp")])
def test_sso_profile(endpoint, tmp_path, fake_factory, form, key):
    keys = temporary_keys(endpoint)
    bearer = "sso-bearer-" + uuid.uuid4().hex
    portal = fake_factory(portal_answer(keys, bearer))
    account = account_of(endpoint)
    config = (SSO_LEGACY if form == "legacy" else SSO_SESSION).format(
        region=endpoint.region, account=account)
    # a credentials-file entry for the profile loses to SSO
    bad = "[sso]\naws_access_key_id = AKIAFILEBAD\naws_secret_access_key = x\n"
    env = only_env(tmp_path, {"AWS_PROFILE": "sso",
                              "AWS_ENDPOINT_URL_SSO": portal.url},
                   config=config, credentials=bad)
    sso_cache(env["HOME"], key, bearer, time.time() + 3600)
    m = mount_only(endpoint, tmp_path, env, keep_env=("AWS_PROFILE",)).start()
    try:
        assert source_of(m) == "sso"
        copy_and_check(endpoint, m, tmp_path)
        r = portal.requests[0]
        assert r["path"] == "/federation/credentials"
        assert r["query"] == {"role_name": "AmifsMigrator",
                              "account_id": account}
        assert r["headers"]["x-amz-sso_bearer_token"] == bearer
        assert bearer not in m.log()
    finally:
        m.unmount()


def test_expired_sso_token_fails_the_mount_with_the_login_command(
        endpoint, tmp_path, fake_factory):
    portal = fake_factory(portal_answer({}, "never"))
    config = SSO_SESSION.format(region=endpoint.region, account="123456789012")
    env = only_env(tmp_path, {"AWS_PROFILE": "sso",
                              "AWS_ENDPOINT_URL_SSO": portal.url},
                   config=config)
    sso_cache(env["HOME"], "corp", "expired-bearer-token", time.time() - 60)
    m = mount_only(endpoint, tmp_path, env, keep_env=("AWS_PROFILE",))
    with pytest.raises(AssertionError):
        m.start()
    log = m.log()
    assert "aws sso login --profile sso" in log, log
    assert "expired" in log
    assert "expired-bearer-token" not in log
    assert portal.requests == [], "an expired token was sent to the portal"
    # no cached token at all: the same advice
    os.remove(os.path.join(env["HOME"], ".aws", "sso", "cache",
                           hashlib.sha1(b"corp").hexdigest() + ".json"))
    m = mount_only(endpoint, tmp_path, env, keep_env=("AWS_PROFILE",))
    with pytest.raises(AssertionError):
        m.start()
    assert "aws sso login --profile sso" in m.log(), m.log()


# ---- credential_process: once per expiry window, with a deadline --------------

PROCESS_SCRIPT = """#!/bin/sh
# credential_process for the tests: counts its runs; hangs (with a child
# in its process group) while the file {hang} exists.
echo run >> "{runs}"
if [ -e "{hang}" ]; then
    sleep 1000 &
    echo $! > "{hang}.pid"
    wait
fi
exp=$(date -u -d "@$(( $(date +%s) + {ttl} ))" +%Y-%m-%dT%H:%M:%SZ)
cat <<EOF2
{{"Version": 1, "AccessKeyId": "{akid}", "SecretAccessKey": "{secret}",
 "SessionToken": "{token}", "Expiration": "$exp"}}
EOF2
"""


def process_mount(endpoint, tmp_path, ttl, extra=None, opts="cache_ttl=0"):
    """(mount, runs file, hang file): a mount whose only source is a
    credential_process handing out keys that expire TTL seconds ahead."""
    keys = temporary_keys(endpoint)
    runs, hang = tmp_path / "runs", tmp_path / "hang"
    script = tmp_path / "creds.sh"
    script.write_text(PROCESS_SCRIPT.format(
        runs=runs, hang=hang, ttl=ttl, akid=keys["AccessKeyId"],
        secret=keys["SecretAccessKey"], token=keys["SessionToken"]))
    script.chmod(0o700)
    env = only_env(tmp_path, extra,
                   config="[default]\nregion = %s\ncredential_process = %s\n"
                   % (endpoint.region, script))
    m = mount_only(endpoint, tmp_path, env)
    m.opts += "," + opts
    return m, runs, hang


def run_count(runs):
    try:
        return len(runs.read_text().splitlines())
    except OSError:
        return 0


def test_short_lived_process_credentials_run_once_per_window(endpoint,
                                                             tmp_path):
    """A helper whose Expiration is 200 s ahead (inside the 5-minute
    refresh margin) ran for almost every request: 8 times during one
    20 MiB copy. It runs at most once per expiry window now."""
    m, runs, _ = process_mount(endpoint, tmp_path, ttl=200,
                               opts="cache_ttl=0,part_size=5M")
    m.start()
    try:
        assert source_of(m) == "process"
        # The mount's probe and its client's first request: the baseline.
        os.listdir(m.bucket_dir)
        base = run_count(runs)
        prefix = "creds-" + uuid.uuid4().hex[:8]
        src = tmp_path / "big.bin"
        src.write_bytes(os.urandom(20 * 1024 * 1024))
        d = os.path.join(m.bucket_dir, prefix)
        os.mkdir(d)
        assert os.system("cp '%s' '%s/f.bin'" % (src, d)) == 0, m.log()[-2000:]
        for _ in range(5):
            os.stat(os.path.join(d, "f.bin"))
        n = run_count(runs) - base
    finally:
        m.unmount()
    assert base <= 2, "credential_process ran %d times at mount" % base
    assert n <= 1, "credential_process ran %d times during the copy" % n
    back = tmp_path / "back.bin"
    p = endpoint.aws("s3", "cp", "s3://%s/%s/f.bin" % (endpoint.bucket, prefix),
                     str(back), json=False, check=False)
    assert p.returncode == 0, p.stderr
    assert filecmp.cmp(str(src), str(back), shallow=False)


def alive(pid):
    """Whether PID is a live (not zombie) process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_hung_process_times_out_without_freezing_requests(endpoint,
                                                          tmp_path):
    """The helper hangs on its second run. The refresh fails after the
    deadline (5 s here), the helper's whole process group is killed, and
    meanwhile other requests go on with the still-valid credentials."""
    m, runs, hang = process_mount(
        endpoint, tmp_path, ttl=30,
        extra={"AMIFS_CREDENTIAL_PROCESS_TIMEOUT": "5"})
    m.start()
    try:
        # The probe's run and the mount client's first one; the
        # credentials are 30 s long: advisory window after 15 s.
        os.listdir(m.bucket_dir)
        t0 = time.time()
        base = run_count(runs)
        assert base <= 2, m.log()[-3000:]
        hang.write_text("")
        time.sleep(max(0, t0 + 16 - time.time()))
        # One stat triggers the refresh and waits for it; the others run.
        slow = threading.Thread(target=os.listdir, args=(m.bucket_dir,))
        slow.start()
        poll_until = time.time() + 3
        while run_count(runs) == base and time.time() < poll_until:
            time.sleep(0.05)
        assert run_count(runs) == base + 1, "the refresh did not start"
        quick = []
        for _ in range(6):
            s = time.time()
            try:
                os.listdir(m.bucket_dir)
            except OSError as e:
                raise AssertionError("%s\n%s" % (e, m.log()[-3000:]))
            quick.append(time.time() - s)
            time.sleep(0.2)
        assert max(quick) < 2, "requests froze behind the refresh: %r" % quick
        slow.join(30)
        assert not slow.is_alive()
        assert time.time() - t0 < 28, "test too slow to prove anything"
        assert "credential_process timed out after 5 s" in m.log(), \
            m.log()[-2000:]
        child = int((tmp_path / "hang.pid").read_text())
        deadline = time.time() + 3
        while alive(child) and time.time() < deadline:
            time.sleep(0.05)
        assert not alive(child), "the helper's process group survived"
        assert run_count(runs) == base + 1, \
            "the failed refresh was retried at once"
        hang.unlink()
        time.sleep(max(0, t0 + 31 - time.time()))  # expired: refresh now
        os.listdir(m.bucket_dir)
        assert run_count(runs) == base + 2
    finally:
        if hang.exists():
            hang.unlink()
        m.unmount()
