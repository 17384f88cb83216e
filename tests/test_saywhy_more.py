"""Say why, continued (issue 14): the refusals that still gave a bare errno
now leave their sentence in MOUNT/.amifs/errors; a copy is followed under its
final name whatever the writer does; tasks/ housekeeping (rm -r of an ended
task, each task's own time, by-name/ from the file name, a second drop of a
name); doctor's and diagnosis's advice, each printed fix run and checked."""
import os
import shutil
import subprocess
import time

import pytest

from shared_fixtures import make_ami, poll_until, read, write


def errors(m):
    return read(os.path.join(m.path, ".amifs", "errors"))


def last_error(m, needle):
    lines = [x for x in errors(m).splitlines() if needle in x]
    assert lines, errors(m)
    return lines[-1]


def no_upload_started(ep, mark):
    assert not ep.requests("CreateMultipartUpload", since=mark)
    assert not ep.requests("PutObject", since=mark)
    assert not ep.requests("ImportImage", since=mark)


# ---- refusals with their sentence (item 7) ---------------------------------

def test_sidecar_unknown_key_fails_its_own_close(mount):
    name = "sc-%d.ova.json" % os.getpid()
    p = os.path.join(mount.path, "imports", name)
    r = subprocess.run(["sh", "-c", "echo '{\"Bootmode\":\"uefi\"}' > " + p],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stderr  # the shell saw its write() fail
    line = last_error(mount, name)
    assert " write: Invalid argument: " in line, line
    assert 'unknown key "Bootmode" (did you mean "BootMode"?)' in line, line
    # the refused sidecar is gone: it cannot silently apply (or not)
    assert name not in os.listdir(os.path.join(mount.path, "imports"))


def test_sidecar_wrong_type_says_which_type(mount):
    name = "sc2-%d.vmdk.json" % os.getpid()
    p = os.path.join(mount.path, "imports", name)
    with pytest.raises(OSError):
        write(p, '{"Encrypted": "yes"}')
    assert '"Encrypted" has the wrong type (true or false)' in \
        last_error(mount, name)


def test_over_long_name_fails_at_create_with_the_reason(mount):
    """A name longer than S3 and AWS take is refused at create(), not cut
    (a cut name lost its .ova and waited for a rename forever)."""
    ep = mount.endpoint
    mark = ep.mark()
    imports = os.path.join(mount.path, "imports")
    for n in (1104, 256):
        stem = "L%d-" % os.getpid()
        name = stem + "x" * (n - len(stem) - 4) + ".ova"
        assert len(name.encode()) == n
        r = subprocess.run(["cp", "/etc/hostname", os.path.join(imports,
                                                                name)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "File name too long" in r.stderr, r.stderr
    assert not [x for x in os.listdir(imports) if x.startswith("L%d-"
                                                              % os.getpid())]
    line = last_error(mount, "L%d-" % os.getpid())
    assert "create: File name too long: " in line, line
    assert "the name is 256 bytes" in line and "at most 255" in line, line
    no_upload_started(ep, mark)


def test_launch_permissions_bad_account_says_why(endpoint, images,
                                                  mount_factory):
    ami, _ = make_ami(endpoint, images["vmdk"]["path"],
                      "perm-%d" % os.getpid())
    m = mount_factory("cache_ttl=0")
    f = os.path.join(m.path, "amis", ami, "launch-permissions")
    with pytest.raises(OSError):
        write(f, "12345\n")
    line = last_error(m, ami + "/launch-permissions")
    assert "write: Invalid argument: '12345' is not an account id " \
        "(12 digits) or 'all'" in line, line
