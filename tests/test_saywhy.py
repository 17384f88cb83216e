"""Say why, where the user is looking: a broken configuration does not mount
(one sentence, a documented exit code), every refusal is readable under
MOUNT/.amifs/errors and in -o log=FILE, and `amifs wait` exits non-zero when
an import fails."""
import os
import subprocess
import tempfile

import pytest

import mount_fixtures
from mount_fixtures import amifs_binary, is_mounted, skip_reason

HERE = os.path.dirname(os.path.abspath(__file__))
MKIMAGES = os.path.join(HERE, "images", "mkimages.py")

# core/preflight.h, doc/amifs.1 "EXIT STATUS"
EXIT_MOUNTPOINT, EXIT_CREDENTIALS, EXIT_BUCKET, EXIT_ENDPOINT = 3, 4, 5, 6


def run_amifs(*args, env=None, timeout=60):
    if skip_reason():
        pytest.skip(skip_reason())
    return subprocess.run([amifs_binary()] + list(args), capture_output=True,
                          text=True, env=env, timeout=timeout)


def try_mount(endpoint, opts, env=None, mountpoint=None):
    """Mount in the background (no -f, as a user would) and unmount at once
    if it (wrongly) succeeded. Returns the CompletedProcess."""
    with tempfile.TemporaryDirectory() as d:
        mp = mountpoint or d
        r = run_amifs("-o", "endpoint=%s,%s" % (endpoint.url, opts), mp,
                      env=env or endpoint.env)
        if mountpoint is None and is_mounted(mp):
            subprocess.run(["fusermount3", "-u", mp])
        return r


def test_wrong_secret_does_not_mount(endpoint):
    env = dict(endpoint.env, AWS_SECRET_ACCESS_KEY="wrong-secret-value-xyz")
    r = try_mount(endpoint, "bucket=%s" % endpoint.bucket, env=env)
    assert r.returncode == EXIT_CREDENTIALS, r.stderr
    assert "AWS refused the credentials" in r.stderr
    assert "wrong-secret-value-xyz" not in r.stderr + r.stdout


def test_missing_bucket_does_not_mount(endpoint):
    r = try_mount(endpoint, "bucket=no-such-bucket-amifs")
    assert r.returncode == EXIT_BUCKET, r.stderr
    assert "no-such-bucket-amifs does not exist" in r.stderr
    assert "amifs setup --bucket no-such-bucket-amifs --yes" in r.stderr


def test_bucket_in_another_region_does_not_mount(endpoint):
    # tests/endpoint/bootstrap.py makes amifs-other-region in us-west-2
    r = try_mount(endpoint, "bucket=amifs-other-region")
    assert r.returncode == EXIT_BUCKET, r.stderr
    assert "is in us-west-2" in r.stderr and "region=us-west-2" in r.stderr


def test_endpoint_down_says_so(endpoint):
    env = dict(endpoint.env)
    r = run_amifs("-o", "endpoint=http://127.0.0.1:9,bucket=b,max_attempts=1",
                  tempfile.mkdtemp(), env=env)
    assert r.returncode == EXIT_ENDPOINT, r.stderr
    assert "cannot reach AWS" in r.stderr


def test_lazy_checks_mounts_without_asking(endpoint, tmp_path):
    """-o lazy_checks keeps the old behaviour: a missing bucket mounts."""
    m = mount_fixtures.Mount(endpoint, str(tmp_path),
                             opts="lazy_checks")
    m.opts = m.opts.replace("bucket=%s" % endpoint.bucket,
                            "bucket=no-such-bucket-amifs")
    m.start()
    try:
        assert "buckets" in os.listdir(m.path)
    finally:
        m.unmount()


def test_mount_point_must_be_a_directory(endpoint, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = try_mount(endpoint, "bucket=%s" % endpoint.bucket,
                  mountpoint=str(f))
    assert r.returncode == EXIT_MOUNTPOINT, r.stderr
    assert "is not a directory" in r.stderr


def test_no_second_daemon_on_a_mount(mount):
    r = try_mount(mount.endpoint, "bucket=%s" % mount.endpoint.bucket,
                  mountpoint=mount.path)
    assert r.returncode == EXIT_MOUNTPOINT, r.stderr
    assert "already an amifs mount" in r.stderr
    assert os.listdir(mount.path)          # the first one still answers


def test_refusals_are_readable_in_the_mount_and_the_log(endpoint, tmp_path):
    log = tmp_path / "amifs.log"
    m = mount_fixtures.Mount(endpoint, str(tmp_path), opts="log=%s" % log)
    m.start()
    try:
        errors = os.path.join(m.path, ".amifs", "errors")
        assert os.path.isfile(errors)
        name = "new\x1b]0;pwn\x07name"
        with pytest.raises(PermissionError):
            open(os.path.join(m.path, name), "w").close()
        with open(errors) as f:
            text = f.read()
        line = [x for x in text.splitlines() if "new" in x][-1]
        assert "create: Permission denied: the top of the mount holds" in line
        assert "\\x1b]0;pwn\\x07name" in line      # escaped, not raw
        assert "\x1b" not in text
    finally:
        m.unmount()
    assert os.stat(log).st_mode & 0o777 == 0o600
    assert "the top of the mount holds" in log.read_text()


def make_images(outdir, only):
    subprocess.run(["/usr/bin/python3", MKIMAGES, outdir, "--only"] + only,
                   check=True, capture_output=True, timeout=300)
    import json
    with open(os.path.join(outdir, "images.json")) as f:
        return {e["name"]: os.path.join(outdir, e["file"])
                for e in json.load(f)}


def test_amifs_wait_exit_code_says_the_outcome(endpoint, tmp_path):
    imgs = make_images(str(tmp_path / "img"), ["vmdk", "vmdk-no-os"])
    m = mount_fixtures.Mount(endpoint, str(tmp_path),
                             opts="poll_interval=0.5,route=image")
    m.start()
    try:
        for name, as_name, code, word in (
                ("vmdk", "ok-%d.vmdk" % os.getpid(), 0, "completed ami-"),
                ("vmdk-no-os", "bad-%d.vmdk" % os.getpid(), 1, "failed")):
            subprocess.run(["cp", imgs[name],
                            os.path.join(m.path, "imports", as_name)],
                           check=True, timeout=120)
            r = run_amifs("wait", os.path.join(m.path, "tasks", as_name),
                          timeout=120)
            assert r.returncode == code, (r.stdout, r.stderr)
            assert r.stdout.startswith(word), r.stdout
        r = run_amifs("wait", os.path.join(m.path, "tasks", "no-such"))
        assert r.returncode == 2
    finally:
        m.unmount()


@pytest.mark.parametrize("name,advice", [
    ("disk.qcow2", "convert it with `qemu-img convert -O vmdk"),
    ("vm.vdi", "export the VM from VirtualBox as an OVA"),
    ("vm.ovf", "pack it with its disks as an OVA"),
])
def test_foreign_formats_fail_at_create_with_the_fix(mount, name, advice):
    """issue 14: `cp vm.raw imports/disk.qcow2` returned 0 and the upload
    then waited for a rename forever. A format VM Import does not read is
    refused at create(), nothing is uploaded, and .amifs/errors says what
    to do instead."""
    mark = mount.endpoint.mark()
    dst = os.path.join(mount.path, "imports", name)
    r = subprocess.run(["cp", "/etc/hostname", dst], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
    assert name not in os.listdir(os.path.join(mount.path, "imports"))
    with open(os.path.join(mount.path, ".amifs", "errors")) as f:
        lines = [x for x in f.read().splitlines() if name in x]
    assert lines and advice in lines[-1], lines
    assert not mount.endpoint.requests("CreateMultipartUpload", since=mark)
    assert not mount.endpoint.requests("PutObject", since=mark)


def test_imports_without_bucket_says_why(endpoint, tmp_path):
    m = mount_fixtures.Mount(endpoint, str(tmp_path))
    m.opts = m.opts.replace("bucket=%s," % endpoint.bucket, "")
    m.start()
    try:
        with pytest.raises(OSError):
            open(os.path.join(m.path, "imports", "vm.ova"), "wb").close()
        with open(os.path.join(m.path, ".amifs", "errors")) as f:
            text = f.read()
        assert "imports/ is read-only: this mount has no staging bucket" \
            in text, text
    finally:
        m.unmount()
