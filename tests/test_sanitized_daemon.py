"""The daemon itself under the sanitizers, once per suite run.

The mount suites run here a second time against the ASan+UBSan build of
amifs (tests/setup-debian.sh --asan builds it in build-asan/), and the basic
mount suite once more with the daemon under valgrind. tests/mount_fixtures.py
fails a test when the daemon's stderr holds any sanitizer or valgrind report
or when it does not exit 0 after unmount, so a memory error, a leak or
undefined behaviour anywhere in the daemon fails this test, with the inner
pytest output shown.
"""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASAN_BUILD = os.environ.get("AMIFS_ASAN_BUILD_DIR",
                            os.path.join(ROOT, "build-asan"))


def _inner(extra_env, *args):
    env = dict(os.environ)
    env.update(extra_env)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p",
                        "no:cacheprovider", "-q", "-x", *args],
                       cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=1500)
    tail = (r.stdout + r.stderr)[-8000:]
    assert r.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail, tail


@pytest.mark.skipif(not os.path.exists(os.path.join(ASAN_BUILD, "fs",
                                                    "amifs")),
                    reason="no ASan build (run tests/setup-debian.sh --asan)")
def test_mount_suites_under_asan_ubsan():
    _inner({"AMIFS_BUILD_DIR": ASAN_BUILD, "AMIFS_BIN": ""},
           "-m", "not slow",
           "tests/test_mount.py", "tests/test_buckets.py",
           "tests/test_tasks.py")


@pytest.mark.skipif(shutil.which("valgrind") is None,
                    reason="valgrind is not installed")
def test_mount_suite_under_valgrind():
    _inner({"AMIFS_VALGRIND": "1", "AMIFS_BIN": ""},
           "-m", "not slow", "tests/test_mount.py")
