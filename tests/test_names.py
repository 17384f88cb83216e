"""Hostile names and values (doc/design/names.md), on a real mount checked
with the AWS CLI:

- imports/ and buckets/ refuse a name with control characters (EINVAL) or
  one that is not UTF-8 (EILSEQ) at create(), before any request: no
  object, no multipart upload, no ImportImage; the log shows the name
  escaped, never its raw bytes;
- every key is listed under exactly one name that leads back to it: a
  shadowed object as "NAME%", keys with empty, "." or ".." components as
  one flattened file ("%2Fdouble", "%2E"), "%" only escaped where it would
  be ambiguous ("x%zz" stays);
- user.amifs.* values with a NUL, over AWS's limits or with an "aws:" tag
  key are refused at setxattr()/the sidecar's close(); an oversized sidecar
  leaves no NAME.json behind;
- allow_other without umask= shows files 0640 and directories 0750.
"""
import errno
import json
import os
import shutil
import stat
import subprocess
import uuid

import pytest

import mount_fixtures
from shared_fixtures import start_mount

ESC_NAME = "e\x1b]0;pwn\x07x.vhd"


class QuietMount(mount_fixtures.Mount):
    """No -d: libfuse's own debug lines print paths raw; what is checked
    here is what amifs itself writes."""

    def argv(self):
        self.debug = False
        return super().argv()


def quiet_mount(endpoint, base, opts=""):
    reason = mount_fixtures.skip_reason()
    if reason:
        pytest.skip(reason)
    prefix = "n-" + uuid.uuid4().hex[:8]
    o = "bucket=%s/%s" % (endpoint.bucket, prefix)
    if opts:
        o += "," + opts
    m = QuietMount(endpoint, base, opts=o)
    m.prefix = prefix
    return m.start()


@pytest.fixture
def qm(endpoint, tmp_path):
    m = quiet_mount(endpoint, str(tmp_path))
    yield m
    m.unmount()


def keys_under(endpoint, prefix):
    out = endpoint.aws("s3api", "list-objects-v2", "--bucket",
                       endpoint.bucket, "--prefix", prefix) or {}
    return [o["Key"] for o in out.get("Contents", [])]


def uploads_under(endpoint, prefix):
    out = endpoint.aws("s3api", "list-multipart-uploads", "--bucket",
                       endpoint.bucket, "--prefix", prefix) or {}
    return out.get("Uploads") or []


def write_name(directory, name, data=b"data\n"):
    """Create directory/name (bytes path, so any byte reaches FUSE);
    returns 0 or the errno."""
    path = os.fsencode(directory) + b"/" + name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return 0


def ops_since(endpoint, mark):
    return [q.get("op") for q in endpoint.requests(since=mark)]


# ---- refused names ----------------------------------------------------------

def test_imports_refuses_control_and_non_utf8_names(qm, endpoint):
    d = os.path.join(qm.path, "imports")
    mark = endpoint.mark()
    assert write_name(d, ESC_NAME.encode()) == errno.EINVAL
    assert write_name(d, b"caf\xe9.vhd") == errno.EILSEQ
    ops = ops_since(endpoint, mark)
    assert "CreateMultipartUpload" not in ops and "ImportImage" not in ops, \
        ops
    assert "PutObject" not in ops, ops
    assert not uploads_under(endpoint, qm.prefix)
    assert not keys_under(endpoint, qm.prefix + "/")
    assert os.listdir(d) == []
    assert not [n for n in os.listdir(os.path.join(qm.path, "tasks"))
                if "pwn" in n]
    log = qm.log()
    assert "\x1b" not in log and "\x07" not in log
    # refusals are recorded (log and .amifs/errors) as
    # "PATH OP: errno text: reason", the path escaped
    assert "imports/e\\x1b]0;pwn\\x07x.vhd create: Invalid argument" in log, log
    assert "imports/caf\\xe9.vhd create: Invalid or incomplete" in log, log
    # rename onto such a name is refused too
    ok = os.path.join(d, "ok.part")
    os.close(os.open(ok, os.O_WRONLY | os.O_CREAT, 0o644))
    with pytest.raises(OSError) as ex:
        os.rename(ok, os.path.join(d, ESC_NAME))
    assert ex.value.errno == errno.EINVAL
    os.unlink(ok)


def test_buckets_refuses_names_it_could_not_list_back(qm, endpoint):
    prefix = "names-" + uuid.uuid4().hex[:8]
    d = os.path.join(qm.bucket_dir, prefix)
    os.mkdir(d)
    mark = endpoint.mark()
    assert write_name(d, ESC_NAME.encode()) == errno.EINVAL
    assert write_name(d, b"caf\xe9") == errno.EILSEQ
    # "50%" is the form of a shadowed object; "a%2Eb" no key's name
    assert write_name(d, b"50%") == errno.EINVAL
    assert write_name(d, b"a%2Eb") == errno.EINVAL
    with pytest.raises(OSError) as ex:
        os.mkdir(os.path.join(d, "%2Fx"))
    assert ex.value.errno == errno.EINVAL
    ops = ops_since(endpoint, mark)
    assert "CreateMultipartUpload" not in ops and "PutObject" not in ops, ops
    assert keys_under(endpoint, prefix + "/") == [prefix + "/"]
    assert not uploads_under(endpoint, prefix)
    log = qm.log()
    assert "\x1b" not in log
    assert "e\\x1b]0;pwn\\x07x.vhd: create refused" in log, log
    # what the refusals point to does work, and lands on the key it says
    assert write_name(d, b"50%25", b"fifty") == 0
    assert write_name(d, b"x%zz", b"xzz") == 0
    assert write_name(d, b"%2Fdouble", b"dbl") == 0
    assert sorted(keys_under(endpoint, prefix + "/")) == sorted(
        [prefix + "/", prefix + "/50%", prefix + "/x%zz",
         prefix + "//double"])
    assert sorted(os.listdir(d)) == ["%2Fdouble", "50%25", "x%zz"]


# ---- odd keys are listed, each under one name --------------------------------

PUT_KEYS = r"""
import json, os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for k in json.loads(sys.argv[2]):
    s3.put_object(Bucket=sys.argv[1], Key=k, Body=k.encode())
"""


def put_keys(endpoint, keys):
    """Each key with its own name as content (one process: the CLI costs
    seconds per call on a loaded box)."""
    subprocess.run([endpoint.python, "-c", PUT_KEYS, endpoint.bucket,
                    json.dumps(keys)], env=endpoint.env, check=True,
                   timeout=120)


def test_odd_keys_are_listed_under_names_that_lead_back(qm, endpoint):
    h = "odd-" + uuid.uuid4().hex[:8]
    lead = "/lead-" + uuid.uuid4().hex[:8]
    want = {
        h + "/.": "%2E",
        h + "/..": "%2E%2E",
        h + "//double": "%2Fdouble",
        h + "/./x": ".%2Fx",
        h + "/dir": "dir%",           # shadowed by the prefix h/dir/
        h + "/dir/inner": None,
        h + "/x%zz": "x%zz",
        h + "/50%": "50%25",
        h + "/%2F": "%252F",
    }
    keys = list(want) + [lead]
    try:
        put_keys(endpoint, keys)
        assert sorted(keys_under(endpoint, h)) == sorted(want)  # the CLI
        d = os.path.join(qm.bucket_dir, h)
        names = sorted(os.listdir(d))
        assert names == sorted(["dir"] + [n for n in want.values() if n]), \
            names
        assert stat.S_ISDIR(os.stat(os.path.join(d, "dir")).st_mode)
        assert os.listdir(os.path.join(d, "dir")) == ["inner"]
        for k, n in want.items():
            p = os.path.join(d, n) if n else os.path.join(d, "dir", "inner")
            assert stat.S_ISREG(os.stat(p).st_mode), n
            with open(p, "rb") as f:
                assert f.read() == k.encode(), n
        # "/lead..." is in the bucket's top level as one file
        top = "%2F" + lead[1:]
        assert top in os.listdir(qm.bucket_dir)
        with open(os.path.join(qm.bucket_dir, top), "rb") as f:
            assert f.read() == lead.encode()
        # unlink through the escaped name removes that key, and only it
        os.unlink(os.path.join(d, "dir%"))
        left = set(keys_under(endpoint, h))
        assert h + "/dir" not in left and h + "/dir/inner" in left
        assert not [n for n in os.listdir(d) if n == "dir%"]
        # a name no key is listed under is not found
        for n in ("a%2Eb", "%2E%2Ex", "inner%"):
            assert not os.path.exists(os.path.join(d, n)), n
    finally:
        endpoint.aws("s3api", "delete-objects", "--bucket", endpoint.bucket,
                     "--delete", json.dumps(
                         {"Objects": [{"Key": k} for k in keys]}))


# ---- hostile values ----------------------------------------------------------

@pytest.fixture
def imp(endpoint, tmp_path):
    m = start_mount(endpoint, str(tmp_path))
    yield m
    m.unmount()


def cp_text(text, dst):
    return subprocess.run(["cp", "/dev/stdin", dst], input=text,
                          capture_output=True, text=True, timeout=60)


def test_values_over_aws_limits_are_refused_where_given(imp, endpoint):
    d = os.path.join(imp.path, "imports")
    mark = endpoint.mark()
    dst = os.path.join(d, "lim.vhd")
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        bad = [
            ("user.amifs.boot_mode", b"uefi\0junk", errno.EINVAL),
            ("user.amifs.description", b"ok\0junk", errno.EINVAL),
            ("user.amifs.description", b"d" * 256, errno.E2BIG),
            ("user.amifs.description", b"d" * 65536, errno.E2BIG),
            ("user.amifs.tag.big", b"v" * 65000, errno.E2BIG),
            ("user.amifs.tag.v257", b"v" * 257, errno.E2BIG),
            ("user.amifs.tag." + "k" * 129, b"v", errno.E2BIG),
            ("user.amifs.tag.aws:owner", b"v", errno.EINVAL),
            ("user.amifs.tag.bin", b"\xff\xfe", errno.EINVAL),
        ]
        for name, value, want in bad:
            with pytest.raises(OSError) as ex:
                os.setxattr(dst, name, value)
            assert ex.value.errno == want, (name, len(value))
            with pytest.raises(OSError):
                os.getxattr(dst, name)
        # what AWS takes is taken: 255 characters (not bytes), 37 tags
        # (of AWS's 50, amifs keeps 13 for Name and its own amifs: tags)
        os.setxattr(dst, "user.amifs.description", "é".encode() * 255)
        os.setxattr(dst, "user.amifs.boot_mode", b"uefi")
        for i in range(37):
            os.setxattr(dst, "user.amifs.tag.t%d" % i, b"v" * 256)
        with pytest.raises(OSError) as ex:
            os.setxattr(dst, "user.amifs.tag.t37", b"v")
        assert ex.value.errno == errno.ENOSPC
        os.setxattr(dst, "user.amifs.tag.t0", b"replaced")  # not a new one
    finally:
        try:
            os.close(fd)
        except OSError as e:  # a final name that never got a byte
            assert e.errno == errno.EINVAL
    # sidecars: refused at close() with the reason in the log
    cases = [
        ({"Description": "d" * 65000}, "Description is longer than 255"),
        ({"Tags": {"k": "v" * 257}}, "a tag value is longer than 256"),
        ({"Tags": {"t%d" % i: "v" for i in range(3000)}}, "more than 37 tags"),
        ({"Tags": [{"Key": "AWS:x", "Value": "v"}]}, "aws: are AWS's"),
        ({"BootMode": "uefi\u0000junk"}, "a string contains a NUL"),
    ]
    for i, (doc, why) in enumerate(cases):
        side = os.path.join(d, "s%d.vhd.json" % i)
        text = json.dumps(doc)
        if len(text) > 64 * 1024:
            text = json.dumps({"Tags": {"t%d" % j: "v" for j in range(48)}})
        p = cp_text(text, side)
        assert p.returncode != 0 and "Invalid argument" in p.stderr, \
            (doc.keys(), p.stderr)
        assert why in imp.log(), why
        assert not os.path.exists(side)
    ops = ops_since(endpoint, mark)
    assert "ImportImage" not in ops and "CreateMultipartUpload" not in ops, \
        ops
    assert not uploads_under(endpoint, imp.prefix)


def test_oversized_sidecar_leaves_nothing(imp, endpoint):
    d = os.path.join(imp.path, "imports")
    side = os.path.join(d, "big.vhd.json")
    text = json.dumps({"Description": "x" * (70 * 1024)})
    # os-level calls: cp(1) might unlink what it created on its own
    fd = os.open(side, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with pytest.raises(OSError) as ex:
            os.write(fd, text.encode())
        assert ex.value.errno == errno.EFBIG
    finally:
        try:
            os.close(fd)
        except OSError as e:  # close() reports the refusal again
            assert e.errno == errno.EFBIG
    assert "big.vhd.json" not in os.listdir(d)
    assert not os.path.exists(side)
    assert "a sidecar is at most 65536 bytes" in imp.log()
    # an existing sidecar keeps its text when an overwrite is refused
    good = json.dumps({"Description": "kept"})
    assert cp_text(good, side).returncode == 0
    assert cp_text(text, side).returncode != 0
    with open(side) as f:
        assert json.load(f)["Description"] == "kept"


# ---- allow_other --------------------------------------------------------------

def as_nobody(cmd):
    return subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", cmd],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("opts,fmode,dmode,others_read", [
    ("allow_other", 0o640, 0o750, False),
    ("allow_other,umask=022", 0o644, 0o755, True),
])
def test_allow_other_without_umask_keeps_others_out(endpoint, opts, fmode,
                                                    dmode, others_read):
    if os.geteuid() != 0 or not shutil.which("su"):
        pytest.skip("needs root and su to act as another user")
    base = "/tmp/amifs-names-" + uuid.uuid4().hex[:8]
    os.mkdir(base)
    os.chmod(base, 0o755)
    m = quiet_mount(endpoint, base, opts)
    key = "ao-" + uuid.uuid4().hex[:8]
    try:
        os.chmod(m.path, 0o755)
        f = os.path.join(m.bucket_dir, key)
        with open(f, "w") as fh:
            fh.write("secret\n")
        assert stat.S_IMODE(os.stat(f).st_mode) == fmode
        assert stat.S_IMODE(os.stat(m.bucket_dir).st_mode) == dmode
        r = as_nobody("cat '%s'" % f)
        assert (r.returncode == 0 and r.stdout == "secret\n") == others_read, \
            r.stderr
    finally:
        m.unmount()
        endpoint.aws("s3api", "delete-object", "--bucket", endpoint.bucket,
                     "--key", key)
        shutil.rmtree(base, ignore_errors=True)
