"""pytest configuration for amifs.

Fixtures live in plugin modules beside this file so that separate parts of the
suite can grow without editing one shared file:
  shared_fixtures.py    what several test files share (helpers, `images`)
  endpoint_fixtures.py  the local AWS endpoint (moto + our VM Import layer)
  mount_fixtures.py     mounting amifs against it
  fuzz_background.py    the libFuzzer targets, fuzzing while the rest runs
No test module imports another test module.

Default run and full run. `pytest --full` (what `tests/run.sh --full`
passes) or AMIFS_FULL=1 in the environment also runs the long variants:
tests marked `@pytest.mark.full` (skipped otherwise, with the reason), and
tests that read shared_fixtures.full_run() to pick a longer sweep.
--full sets AMIFS_FULL=1 for this process and the pytest runs it starts,
so the environment variable is the one switch tests read. The default run keeps
every behaviour covered with shorter variants; CI runs the default.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

pytest_plugins = [
    m for m in ("audit_fixtures", "endpoint_fixtures", "mount_fixtures",
               "shared_fixtures", "fuzz_background")
    if os.path.exists(os.path.join(os.path.dirname(__file__), m + ".py"))
]


def pytest_addoption(parser):
    parser.addoption(
        "--full", action="store_true", default=False,
        help="also run the long sweeps, long fuzzing and big-object tests "
             "(same as AMIFS_FULL=1)")


def pytest_configure(config):
    if config.getoption("full"):
        os.environ["AMIFS_FULL"] = "1"
    config.addinivalue_line(
        "markers", "full: long variant, run only with --full / AMIFS_FULL=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AMIFS_FULL", "") not in ("", "0"):
        return
    skip = pytest.mark.skip(reason="long variant: run with --full "
                                   "(tests/run.sh --full or AMIFS_FULL=1)")
    for item in items:
        if item.get_closest_marker("full"):
            item.add_marker(skip)
