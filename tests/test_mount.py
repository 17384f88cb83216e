"""The amifs daemon: command line, the root of the tree, mount options,
failing to mount with a clear message, clean unmount (the fixture asserts
exit status 0 and a clean log)."""
import errno
import os
import stat
import subprocess
import tempfile
import time

import pytest

from mount_fixtures import amifs_binary, is_mounted, skip_reason


def run_amifs(*args, env=None, timeout=30):
    if not os.access(amifs_binary(), os.X_OK):
        pytest.skip("amifs is not built (%s)" % amifs_binary())
    return subprocess.run([amifs_binary()] + list(args), capture_output=True,
                          text=True, env=env, timeout=timeout)


def test_version():
    r = run_amifs("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("amifs ")
    assert "FUSE library version" in r.stdout


def test_help_lists_options_of_every_module():
    r = run_amifs("--help")
    assert r.returncode == 0, r.stderr
    for opt in ("endpoint=", "region=", "profile=", "cache_ttl=",
                "part_size=", "upload_concurrency=", "read_concurrency=",
                "read_memory=", "umask=", "-f"):
        assert opt in r.stdout, opt


def test_usage_errors_exit_2():
    assert run_amifs("inspect").returncode == 2
    assert run_amifs("inspect", "a", "b").returncode == 2


def test_bad_option_fails(endpoint):
    with tempfile.TemporaryDirectory() as d:
        r = run_amifs("-f", "-o", "endpoint=%s,part_size=1M" % endpoint.url,
                      d, env=endpoint.env)
        assert r.returncode != 0
        assert "part_size" in r.stderr
        assert not is_mounted(d)


def test_no_credentials_fails_with_clear_message(endpoint):
    env = dict(endpoint.env)
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    with tempfile.TemporaryDirectory() as d:
        r = run_amifs("-f", "-o", "endpoint=" + endpoint.url, d, env=env,
                      timeout=60)
        assert r.returncode != 0
        assert "credentials" in r.stderr.lower()
        assert not is_mounted(d)
        # secrets never appear, and the message says what to do
        assert "AWS_ACCESS_KEY_ID" in r.stderr


def test_root_shows_every_folder_and_readme(mount):
    names = set(os.listdir(mount.path))
    assert {"README", "buckets", "imports", "tasks", "amis"} <= names
    for d in ("buckets", "imports", "tasks", "amis"):
        assert stat.S_ISDIR(os.stat(os.path.join(mount.path, d)).st_mode)
    with open(os.path.join(mount.path, "README")) as f:
        text = f.read()
    for word in ("buckets/", "imports/", "tasks/", "amis/"):
        assert word in text
    st = os.stat(os.path.join(mount.path, "README"))
    assert st.st_size == len(text.encode())


def test_readme_is_read_only(mount):
    readme = os.path.join(mount.path, "README")
    with pytest.raises(OSError) as e:
        open(readme, "w").close()
    assert e.value.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    with pytest.raises(OSError):
        os.unlink(readme)
    with pytest.raises(OSError):
        os.mkdir(os.path.join(mount.path, "newfolder"))


def test_owner_and_modes(mount_factory):
    m = mount_factory("uid=1234,gid=4321,umask=077")
    st = os.stat(m.path)
    assert (st.st_uid, st.st_gid) == (1234, 4321)
    assert stat.S_IMODE(st.st_mode) == 0o700
    st = os.stat(os.path.join(m.path, "README"))
    assert stat.S_IMODE(st.st_mode) == 0o400


def test_default_modes_are_the_mounting_users(mount):
    st = os.stat(mount.path)
    assert st.st_uid == os.getuid()
    assert stat.S_IMODE(st.st_mode) == 0o755
    assert stat.S_IMODE(os.stat(mount.buckets).st_mode) == 0o755


def test_statfs_reports_room(mount):
    sv = os.statvfs(mount.path)
    assert sv.f_bavail * sv.f_frsize > 1 << 40


def test_rename_across_folders_is_exdev(mount):
    d = mount.workdir("xdev")
    with open(os.path.join(d, "f"), "w") as f:
        f.write("x")
    with pytest.raises(OSError) as e:
        os.rename(os.path.join(d, "f"), os.path.join(mount.path, "tasks", "f"))
    assert e.value.errno == errno.EXDEV


def test_daemonizes_without_f(endpoint, tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    d = str(tmp_path / "mnt")
    os.mkdir(d)
    r = run_amifs("-o", "endpoint=%s,bucket=%s" % (endpoint.url,
                                                   endpoint.bucket),
                  d, env=endpoint.env, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        assert is_mounted(d)
        assert "buckets" in os.listdir(d)
    finally:
        subprocess.run(["fusermount3", "-u", d])
    deadline = time.time() + 10
    while is_mounted(d) and time.time() < deadline:
        time.sleep(0.1)
    assert not is_mounted(d)


# --- audit (session 2) ---------------------------------------------------
# doc/CONTRACT.md mount options: a value ImportImage would refuse fails the mount
# with a sentence naming the option, instead of every import later.

@pytest.mark.parametrize("opt,word", [
    ("boot_mode=bios", "boot_mode must be legacy-bios, uefi or "
     "uefi-preferred"),
    ("platform=Solaris", "platform must be Linux or Windows"),
    ("architecture=arm", "architecture must be x86_64, i386 or arm64"),
    ("license_type=free", "license_type must be AWS or BYOL"),
    ("part_size=6G", "part_size must be at most 5G"),
    ("cache_ttl=-1", "cache_ttl must be >= 0"),
])
def test_option_values_aws_would_refuse_fail_the_mount(endpoint, opt, word):
    if skip_reason():
        pytest.skip(skip_reason())
    with tempfile.TemporaryDirectory() as d:
        # without -f: a mount that (wrongly) succeeds returns at once
        r = run_amifs("-o", "endpoint=%s,bucket=%s,%s"
                      % (endpoint.url, endpoint.bucket, opt), d,
                      env=endpoint.env)
        if is_mounted(d):
            subprocess.run(["fusermount3", "-u", d])
        assert r.returncode != 0
        assert word in r.stderr, r.stderr


def test_new_names_at_the_top_are_refused_clearly(mount):
    """`touch MOUNT/x` / `mkdir MOUNT/x`: Permission denied, not "No such
    file or directory" (which sends users looking for a missing parent)."""
    for make in (lambda p: open(p, "w").close(), os.mkdir):
        with pytest.raises(OSError) as ex:
            make(os.path.join(mount.path, "newname"))
        assert ex.value.errno == errno.EACCES
    assert "newname" not in os.listdir(mount.path)
