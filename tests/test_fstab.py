"""mount(8), /etc/fstab and systemd go through fuse3's mount.fuse3, which
runs `amifs SOURCE MOUNTPOINT -o OPTIONS`: amifs must take the SOURCE
argument and ignore the options meant for mount(8) and systemd. These tests
mount with the real mount(8) (as root) and unmount with umount(8).

mount.fuse3 starts the program through `sh -c` without PATH, so for type
fuse.amifs the shell's default PATH must find `amifs`; the test links the
built binary as /usr/local/sbin/amifs for its duration (only if nothing is
there). The legacy form `PROGRAM#SOURCE` with type fuse needs no PATH.
"""
import os
import shutil
import subprocess
import time

import pytest

from mount_fixtures import amifs_binary, is_mounted, skip_reason

SBIN_LINK = "/usr/local/sbin/amifs"
MOUNT_OPTS_IGNORED = "_netdev,noauto,nofail,x-systemd.automount," \
    "x-systemd.requires=network-online.target,comment=amifs-test"


@pytest.fixture
def mnt(endpoint, tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mount(8) needs root")
    d = tmp_path / "mnt"
    d.mkdir()
    yield str(d)
    if is_mounted(str(d)):
        subprocess.run(["umount", "-l", str(d)])


@pytest.fixture
def amifs_on_default_path():
    """The built amifs where mount.fuse3's shell finds it."""
    if os.path.lexists(SBIN_LINK):
        if os.path.realpath(SBIN_LINK) != os.path.realpath(amifs_binary()):
            pytest.skip("%s exists and is another amifs" % SBIN_LINK)
        yield
        return
    os.symlink(os.path.realpath(amifs_binary()), SBIN_LINK)
    try:
        yield
    finally:
        os.unlink(SBIN_LINK)


def opts(endpoint):
    return "endpoint=%s,bucket=%s,retry_base_ms=100" % (endpoint.url,
                                                        endpoint.bucket)


def mounted_and_working(endpoint, mnt):
    deadline = time.time() + 20
    while not is_mounted(mnt):
        assert time.time() < deadline, "not mounted"
        time.sleep(0.1)
    names = os.listdir(mnt)
    assert {"buckets", "imports", "tasks", "amis"} <= set(names), names
    assert endpoint.bucket in os.listdir(os.path.join(mnt, "buckets"))
    with open("/proc/self/mountinfo") as f:
        line = [l for l in f if " %s " % mnt in l][0]
    assert "fuse.amifs" in line, line


def unmount(mnt):
    r = subprocess.run(["umount", mnt], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not is_mounted(mnt)


def run_mount(endpoint, argv):
    r = subprocess.run(argv, capture_output=True, text=True,
                       env=endpoint.env, timeout=60)
    assert r.returncode == 0, "%s: %s%s" % (argv, r.stdout, r.stderr)


def test_mount_type_fuse_amifs(endpoint, mnt, amifs_on_default_path):
    run_mount(endpoint, ["mount", "-t", "fuse.amifs", "amifs", mnt, "-o",
                         MOUNT_OPTS_IGNORED + "," + opts(endpoint)])
    mounted_and_working(endpoint, mnt)
    unmount(mnt)


def test_fstab_line(endpoint, mnt, amifs_on_default_path, tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text("# test fstab\namifs %s fuse.amifs %s,%s 0 0\n"
                     % (mnt, MOUNT_OPTS_IGNORED, opts(endpoint)))
    run_mount(endpoint, ["mount", "-T", str(fstab), mnt])
    mounted_and_working(endpoint, mnt)
    unmount(mnt)


def test_legacy_program_hash_source(endpoint, mnt):
    src = "%s#amifs" % os.path.realpath(amifs_binary())
    run_mount(endpoint, ["mount", "-t", "fuse", src, mnt, "-o",
                         "_netdev," + opts(endpoint)])
    mounted_and_working(endpoint, mnt)
    unmount(mnt)
