"""The C unit tests in both builds (plain and ASan+UBSan), one pytest test
per unit test program so the suite has one summary.

The programs, their arguments, environment, working directory and timeout
come from `meson introspect --tests` (what `meson test` would run); each
test runs its program directly, as `meson test` does, without starting
meson once per program (that start-up was most of each test's time). So
they share no log file and run on any worker, beside each other. The
builds are made before (tests/run.sh); nothing is built here."""
import json
import os
import random
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
    out = subprocess.run(["meson", "introspect", "--tests", build],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


CASES = [(kind, t) for kind, build in BUILDS.items() for t in _list(build)]


@pytest.mark.parametrize("kind,test", CASES,
                         ids=[f"{k}:{t['name']}" for k, t in CASES])
def test_unit(kind, test):
    env = dict(os.environ)
    env.update(test.get("env") or {})
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    # as meson test does: fresh malloc'ed memory is not zero
    env.setdefault("MALLOC_PERTURB_", str(random.randint(1, 255)))
    assert os.access(test["cmd"][0], os.X_OK), \
        "%s is not built (run tests/run.sh, or ninja -C %s)" % (
            test["cmd"][0], BUILDS[kind])
    r = subprocess.run(test["cmd"], capture_output=True, text=True, env=env,
                       cwd=test.get("workdir") or BUILDS[kind],
                       timeout=test.get("timeout") or None)
    assert r.returncode == 0, "%s (exit %d)\n%s\n%s" % (
        " ".join(test["cmd"]), r.returncode, r.stdout[-6000:],
        r.stderr[-2000:])
