"""The daemon under the sanitizers and valgrind, and the shipped build.

tests/run.sh runs the whole suite with AMIFS_BIN set to the ASan+UBSan build
of amifs (tests/setup-debian.sh --asan builds it in build-asan/): every
mount test — buckets/, imports/, tasks/, amis/, regions/, faults, security,
fstab, doctor — then exercises the sanitized daemon once, and
tests/mount_fixtures.py fails a test when the daemon's stderr holds any
sanitizer or valgrind report or when it does not exit 0 after unmount.

The tests here cover the rest:
  * the sanitized run really is sanitized (else: run the mount suites under
    the ASan build here, for a plain `pytest tests`);
  * the build users install (plain, build/) passes the basic mount suites;
  * the basic mount suite with the daemon under valgrind (memcheck, leaks).
Each inner run is a separate pytest, its output shown on failure.

The default run gives the plain build test_mount.py and the core of
test_buckets.py (PLAIN_DEFAULT: list, copy across the part-size edges,
random reads, rename, overwrite, remove; the sanitized daemon runs the
whole file in the same session), and valgrind the tests of test_mount.py
that mount, look around and unmount (VALGRIND_DEFAULT). With --full (AMIFS_FULL=1) both get their whole files.
"""
import os
import shutil
import subprocess
import sys

import pytest

import mount_fixtures
import shared_fixtures

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASAN_BUILD = os.environ.get("AMIFS_ASAN_BUILD_DIR",
                            os.path.join(ROOT, "build-asan"))
PLAIN_BUILD = os.environ.get("AMIFS_BUILD_DIR", os.path.join(ROOT, "build"))
# The core of test_buckets.py for the plain build by default: list, copy
# in and out across the part-size edges, read at random, rename, overwrite,
# remove. The rest runs on the sanitized daemon in the same session.
PLAIN_DEFAULT = ("(cp_roundtrip and not 67108864) or listing_keys or "
                 "random_reads or odd_key_names or overwrite_existing or "
                 "replace_by_rename_while_open or rm_mkdir_rmdir_mv or "
                 "cat_bigger")
# Mount, look around, unmount: each leak or bad access valgrind can see in
# the mount's life, in a few valgrind starts.
VALGRIND_DEFAULT = ("root_shows_every_folder or readme_is_read_only or "
                    "statfs_reports_room or rename_across_folders or "
                    "new_names_at_the_top or bad_option_fails")
MOUNT_SUITES = ["tests/test_mount.py", "tests/test_buckets.py",
                "tests/test_imports.py", "tests/test_tasks.py",
                "tests/test_amis.py", "tests/test_regions.py",
                "tests/test_faults.py"]


def _inner(extra_env, *args):
    env = dict(os.environ)
    env["AMIFS_FUZZ_BACKGROUND"] = "0"
    env.update(extra_env)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p",
                        "no:cacheprovider", "-q", "-x", *args],
                       cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=1500)
    tail = (r.stdout + r.stderr)[-8000:]
    assert r.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail, tail


def _same(a, b):
    return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)


def _asan_amifs():
    return os.path.join(ASAN_BUILD, "fs", "amifs")


def _is_sanitized(path):
    """True when the binary links the ASan and UBSan runtimes."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    return "libasan" in r.stdout and "libubsan" in r.stdout


@pytest.mark.skipif(not os.path.exists(_asan_amifs()),
                    reason="no ASan build (run tests/setup-debian.sh --asan)")
def test_mount_suites_under_asan_ubsan():
    if _same(mount_fixtures.amifs_binary(), _asan_amifs()):
        # This session's mount tests used the sanitized daemon already.
        assert _is_sanitized(_asan_amifs()), \
            "%s is not built with ASan+UBSan" % _asan_amifs()
        return
    _inner({"AMIFS_BUILD_DIR": ASAN_BUILD, "AMIFS_BIN": ""},
           "-m", "not slow", *MOUNT_SUITES)


def test_shipped_build_passes_the_basic_mount_suites():
    plain = os.path.join(PLAIN_BUILD, "fs", "amifs")
    if not os.path.exists(plain):
        pytest.skip("no plain build in %s" % PLAIN_BUILD)
    if _same(mount_fixtures.amifs_binary(), plain):
        pytest.skip("this session's mount tests used the plain build")
    assert not _is_sanitized(plain), "%s is a sanitizer build" % plain
    if shared_fixtures.full_run():
        _inner({"AMIFS_BIN": plain}, "-m", "not slow",
               "tests/test_mount.py", "tests/test_buckets.py")
        return
    _inner({"AMIFS_BIN": plain}, "-m", "not slow", "tests/test_mount.py")
    _inner({"AMIFS_BIN": plain}, "-m", "not slow", "-k", PLAIN_DEFAULT,
           "tests/test_buckets.py")


@pytest.mark.skipif(shutil.which("valgrind") is None,
                    reason="valgrind is not installed")
def test_mount_suite_under_valgrind():
    plain = os.path.join(PLAIN_BUILD, "fs", "amifs")
    which = [] if shared_fixtures.full_run() else ["-k", VALGRIND_DEFAULT]
    _inner({"AMIFS_VALGRIND": "1", "AMIFS_BIN": plain},
           "-m", "not slow", *which, "tests/test_mount.py")
