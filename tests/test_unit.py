"""The C unit tests, run through meson in both builds (plain and ASan+UBSan),
one pytest test per unit test program so the suite has one summary."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDS = {
    "plain": os.environ.get("AMIFS_BUILD_DIR", os.path.join(ROOT, "build")),
    "asan": os.environ.get("AMIFS_ASAN_BUILD_DIR",
                           os.path.join(ROOT, "build-asan")),
}


def _list(build):
    if not os.path.exists(os.path.join(build, "build.ninja")):
        return []
    out = subprocess.run(["meson", "test", "-C", build, "--list"],
                         capture_output=True, text=True, check=True).stdout
    return [l.strip() for l in out.splitlines() if l.strip()]


CASES = [(kind, name) for kind, build in BUILDS.items() for name in _list(build)]


@pytest.mark.parametrize("kind,name", CASES,
                         ids=[f"{k}:{n}" for k, n in CASES])
def test_unit(kind, name):
    build = BUILDS[kind]
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    r = subprocess.run(["meson", "test", "-C", build, "--no-rebuild",
                        "--print-errorlogs", name],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
