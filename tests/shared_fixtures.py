"""pytest plugin and helper module: what several test files share.

No test module imports another test module; what two of them need lives
here (or in endpoint_fixtures.py / mount_fixtures.py, which own the
endpoint and the mount). Import helpers with
`from shared_fixtures import ...`. (Not `fixtures.py`: pytest has a
built-in plugin of that name, so such a plugin would never load.)

Fixture:
  images   session-scoped ImageSet: the VM images of tests/images/mkimages.py,
           built on first use and shared by every test file (and by every
           xdist worker of the run). images[NAME] is
           mkimages' entry for NAME (name, file, kind, good, expect, endpoint,
           firmware, disks, notes) plus "path"; images.build(NAMES) builds
           several missing ones in one mkimages run; images.all() is the
           whole catalogue.

Helpers:
  full_run()                    True for `run.sh --full` / AMIFS_FULL=1
  read(path), write(path, text)
  poll_until(fn, timeout, step) the first true value of fn(), or fail
  make_file(path, size, seed)   incompressible pseudo-random bytes
  cp(src, dst, *flags)          `cp` with a timeout; the CompletedProcess
  start_mount(endpoint, dir, opts)  a started Mount under a fresh prefix
  skip_unless_mountable()
  wait_status(mount, name), import_tasks(endpoint), uploads_left(endpoint, p)
  make_ami(endpoint, vmdk_path, name)  (ami id, snapshot ids) via the CLI
  vmimport_trust(external_id=...)  the documented vmimport trust policy
  bucket_read_policy(bucket)       s3:GetObject/ListBucket/GetBucketLocation
  credential_process_env(endpoint, dir, ttl)  a credential_process profile
"""
import fcntl
import hashlib
import json
import os
import signal
import stat
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

import mount_fixtures
import parallel_fixtures

HERE = os.path.dirname(os.path.abspath(__file__))
MKIMAGES = os.path.join(HERE, "images", "mkimages.py")
WAIT_TIMEOUT = 60
MiB = 1 << 20


def full_run():
    """True when the long variants run: `tests/run.sh --full`, pytest
    --full (tests/conftest.py sets AMIFS_FULL=1 for it) or AMIFS_FULL=1."""
    return os.environ.get("AMIFS_FULL", "") not in ("", "0")


# ---- images -----------------------------------------------------------------

def make_images(outdir, only=None):
    """Build the test images into OUTDIR; returns {name: entry} with
    entry["path"]."""
    argv = ["/usr/bin/python3", MKIMAGES, outdir]
    if only:
        argv += ["--only"] + list(only)
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    with open(os.path.join(outdir, "images.json")) as f:
        entries = json.load(f)
    for e in entries:
        e["path"] = os.path.join(outdir, e["file"])
    return {e["name"]: e for e in entries}


def all_image_names():
    p = subprocess.run(["/usr/bin/python3", MKIMAGES, "--list"],
                       check=True, capture_output=True, text=True)
    return p.stdout.split()


class ImageSet:
    """The images of one run, each built once, on first use. ROOT is shared
    by every pytest process of the run (the xdist workers: see
    tests/parallel_fixtures.py): ROOT/index.json says which images are
    built where, and a build holds an flock on ROOT/.lock, so a second
    process waits for it and then reads the index instead of building
    again. Each mkimages run writes into its own directory under ROOT (runs
    never overwrite each other's images.json)."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._entries = {}
        self._lock = threading.Lock()

    def _index(self):
        try:
            with open(os.path.join(self.root, "index.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save_index(self, index):
        tmp = os.path.join(self.root, "index.json.%d" % os.getpid())
        with open(tmp, "w") as f:
            json.dump(index, f)
        os.rename(tmp, os.path.join(self.root, "index.json"))

    def build(self, names):
        """Build the NAMES nobody built yet, in one mkimages run."""
        with self._lock:
            missing = [n for n in dict.fromkeys(names)
                       if n not in self._entries]
            if not missing:
                return
            with open(os.path.join(self.root, ".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                index = self._index()
                need = [n for n in missing if n not in index]
                if need:
                    out = tempfile.mkdtemp(prefix="run-", dir=self.root)
                    index.update(make_images(out, only=need))
                    self._save_index(index)
            self._entries.update({n: index[n] for n in missing})

    def __getitem__(self, name):
        self.build([name])
        return self._entries[name]

    def all(self):
        """{name: entry} of the whole catalogue."""
        names = all_image_names()
        self.build(names)
        return {n: self._entries[n] for n in names}


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    return ImageSet(os.path.join(
        parallel_fixtures.shared_dir(tmp_path_factory), "images"))


# ---- small helpers ----------------------------------------------------------

def read(path):
    with open(path) as f:
        return f.read()


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


def poll_until(fn, timeout=WAIT_TIMEOUT, step=0.1):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("condition not met in %ss" % timeout)
        time.sleep(step)


def make_file(path, size, seed):
    """SIZE pseudo-random bytes (not compressible, not repeating by part)."""
    import random
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, MiB)
            f.write(rng.randbytes(n))
            left -= n
    return path


def cp(src, dst, *flags):
    return subprocess.run(["cp"] + list(flags) + [src, dst],
                          capture_output=True, text=True, timeout=120)


# ---- mounts and imports -----------------------------------------------------

def skip_unless_mountable():
    reason = mount_fixtures.skip_reason()
    if reason:
        pytest.skip(reason)


def start_mount(endpoint, base_dir, opts=""):
    """A Mount (tests/mount_fixtures.py) staging under a fresh prefix and
    polling tasks fast. The caller unmounts (which checks a clean exit)."""
    skip_unless_mountable()
    prefix = "t-" + uuid.uuid4().hex[:8]
    o = "bucket=%s/%s,poll_interval=0.3" % (endpoint.bucket, prefix)
    if opts:
        o += "," + opts
    m = mount_fixtures.Mount(endpoint, base_dir, opts=o)
    m.prefix = prefix
    return m.start()


def wait_status(mount, name, timeout=WAIT_TIMEOUT):
    """Read tasks/NAME/wait in a subprocess (bounded): the final line."""
    p = subprocess.run(["cat", os.path.join(mount.path, "tasks", name,
                                            "wait")],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p.stdout


def import_tasks(endpoint):
    out = endpoint.aws("ec2", "describe-import-image-tasks")
    return {t["ImportTaskId"]: t for t in out["ImportImageTasks"]}


def uploads_left(endpoint, prefix):
    out = endpoint.aws("s3api", "list-multipart-uploads", "--bucket",
                       endpoint.bucket, "--prefix", prefix + "/")
    return (out or {}).get("Uploads") or []


def make_ami(ep, vmdk, name):
    """Import VMDK with the AWS CLI; (ami id, snapshot ids)."""
    key = "amis-test/%s.vmdk" % name
    ep.aws("s3", "cp", "--only-show-errors", vmdk,
           "s3://%s/%s" % (ep.bucket, key), json=False)
    tid = ep.aws("ec2", "import-image", "--disk-containers",
                 "Format=vmdk,UserBucket={S3Bucket=%s,S3Key=%s}"
                 % (ep.bucket, key))["ImportTaskId"]
    deadline = time.time() + 60
    while time.time() < deadline:
        t = ep.aws("ec2", "describe-import-image-tasks", "--import-task-ids",
                   tid)["ImportImageTasks"][0]
        if t["Status"] in ("completed", "deleted"):
            break
        time.sleep(0.2)
    assert t["Status"] == "completed", t
    return t["ImageId"], [d["SnapshotId"] for d in t["SnapshotDetails"]]


# ---- IAM documents ----------------------------------------------------------

def vmimport_trust(external_id="vmimport"):
    """The trust policy VM Import documents for its service role:
    vmie.amazonaws.com may sts:AssumeRole with sts:Externalid EXTERNAL_ID
    (None: no condition at all)."""
    st = {"Effect": "Allow", "Principal": {"Service": "vmie.amazonaws.com"},
          "Action": "sts:AssumeRole"}
    if external_id is not None:
        st["Condition"] = {"StringEquals": {"sts:Externalid": external_id}}
    return {"Version": "2012-10-17", "Statement": [st]}


def bucket_read_policy(bucket, actions=("s3:GetObject", "s3:ListBucket",
                                        "s3:GetBucketLocation")):
    """A role policy letting VM Import read BUCKET."""
    b = "arn:aws:s3:::" + bucket
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": list(actions),
        "Resource": [b, b + "/*"]}]}


# ---- credentials ------------------------------------------------------------

CRED_SCRIPT = """#!/bin/sh
# credential_process for the test: short-lived keys; logs each call.
echo call >> "{log}"
exp=$(date -u -d "@$(( $(date +%s) + {ttl} ))" +%Y-%m-%dT%H:%M:%SZ)
cat <<EOF
{{"Version": 1, "AccessKeyId": "{akid}", "SecretAccessKey": "{secret}",
 "SessionToken": "{token}", "Expiration": "$exp"}}
EOF
"""
TEMP_ROLE = "amifs-test-temporary"


def temporary_credentials(endpoint):
    """Real temporary credentials (ASIA key, secret, session token)."""
    return endpoint.temporary_credentials(TEMP_ROLE, "amifs-test")


def credential_process_env(endpoint, d, ttl=2):
    """(env, drop, log, creds): a config file whose default profile runs a
    credential_process handing out temporary credentials with an
    Expiration TTL seconds ahead; the script appends a line to LOG on every
    call. DROP: the variables to remove so that only the profile is used."""
    log = os.path.join(d, "calls.log")
    script = os.path.join(d, "creds.sh")
    creds = temporary_credentials(endpoint)
    with open(script, "w") as f:
        f.write(CRED_SCRIPT.format(
            log=log, ttl=ttl, akid=creds["AccessKeyId"],
            secret=creds["SecretAccessKey"], token=creds["SessionToken"]))
    os.chmod(script, stat.S_IRWXU)
    config = os.path.join(d, "config")
    with open(config, "w") as f:
        f.write("[default]\nregion = %s\ncredential_process = %s\n"
                % (endpoint.region, script))
    env = {"AWS_CONFIG_FILE": config}
    drop = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_PROFILE")
    return env, drop, log, creds


def good_image(outdir, name="ova-ustar"):
    """The path of good image NAME built by tests/images/mkimages.py
    (ova-ustar: 140 KiB OVA; raw: 24 MiB disk with an MBR)."""
    subprocess.run(["/usr/bin/python3", MKIMAGES, outdir, "--only", name],
                   check=True, capture_output=True, timeout=300)
    with open(os.path.join(outdir, "images.json")) as f:
        return os.path.join(outdir, json.load(f)[0]["file"])


def killed_at_held_get(endpoint, m, src, dst, while_held=None):
    """`cp SRC DST` through M with every GetObject held (the reads a copy
    into imports/ makes of its staged object: the guest check, a late
    manifest's read-back); once one is held, call while_held() (if
    given), SIGKILL the daemon and check that cp failed. The held
    requests are dropped and the faults cleared whatever happens."""
    endpoint.set_faults([{"service": "s3", "op": "GetObject",
                          "action": "hold"}])
    c = subprocess.Popen(["cp", src, dst], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        endpoint.wait_held("GetObject", 1, timeout=60,
                           alive=lambda: c.poll() is None)
        if while_held:
            while_held()
        kill_dead_mount(m)
        c.wait(timeout=60)
        assert c.returncode != 0, "cp succeeded although amifs was killed"
    finally:
        endpoint.clear_faults()
        endpoint.release(op="GetObject", how="drop")
        if c.poll() is None:
            c.send_signal(signal.SIGKILL)


def killed_mid_copy(endpoint, m, src, dst, prefix, ready=None):
    """Start `cp SRC DST` through M with slow parts (1.5 s each), SIGKILL
    the daemon once a part went up (and ready(), if given, is true);
    returns the multipart uploads then under PREFIX."""
    endpoint.set_faults([{"service": "s3", "op": "UploadPart",
                          "action": "delay", "delay_ms": 1500}])
    mark = endpoint.mark()
    try:
        c = subprocess.Popen(["cp", src, dst], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        assert poll(lambda: endpoint.requests("UploadPart", since=mark) and
                    (ready is None or ready()), 20, 0.05), \
            "the upload never started"
        assert c.poll() is None, "the copy ended before the kill"
        kill_dead_mount(m)
        c.communicate(timeout=30)
        assert c.returncode != 0, "cp succeeded although amifs was killed"
    finally:
        endpoint.clear_faults()
        if m.proc is not None:
            m.unmount()
    return uploads(endpoint, prefix)


def kill_dead_mount(m):
    """SIGKILL the daemon of M and drop its dead mount point."""
    proc, m.proc = m.proc, None
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    subprocess.run(["fusermount3", "-u", "-z", m.path], capture_output=True)
    assert not mount_fixtures.is_mounted(m.path)
    return m.log()


def mount_at(endpoint, base, opts, env=None, drop_env=()):
    """A started Mount whose environment may lose DROP_ENV variables; the
    caller unmounts it (which checks a clean daemon exit)."""
    skip_unless_mountable()
    m = mount_fixtures.Mount(endpoint, str(base), opts=opts, env=env)
    for k in drop_env:
        m.env.pop(k, None)
    return m.start()


def poll(fn, timeout, step=0.25):
    """fn() until truthy or TIMEOUT seconds; returns the last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def objects(endpoint, prefix):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", prefix)
    return [o["Key"] for o in (out or {}).get("Contents") or []]


def uploads(endpoint, prefix):
    out = endpoint.aws("s3api", "list-multipart-uploads", "--bucket",
                       endpoint.bucket, "--prefix", prefix)
    return (out or {}).get("Uploads") or []


def no_uploads_left(endpoint, prefix):
    r = endpoint.aws("s3api", "list-multipart-uploads", "--bucket",
                     endpoint.bucket, "--prefix", prefix)
    return not (r or {}).get("Uploads")


def head(endpoint, key):
    return endpoint.aws("s3api", "head-object", "--bucket", endpoint.bucket,
                        "--key", key)


def key_of(mount, path):
    return os.path.relpath(path, mount.bucket_dir)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)
