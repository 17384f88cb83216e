"""pytest configuration for amifs.

Fixtures live in plugin modules beside this file so that separate parts of the
suite can grow without editing one shared file:
  endpoint_fixtures.py  the local AWS endpoint (moto + our VM Import layer)
  mount_fixtures.py     mounting amifs against it
  fuzz_background.py    the libFuzzer targets, fuzzing while the rest runs
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

pytest_plugins = [
    m for m in ("audit_fixtures", "endpoint_fixtures", "mount_fixtures",
               "fuzz_background")
    if os.path.exists(os.path.join(os.path.dirname(__file__), m + ".py"))
]


def pytest_addoption(parser):
    # Long sweeps (e.g. the whole crash-point matrix) run only with --full
    # (or AMIFS_FULL=1); CI and the README's command do not pass it.
    try:
        parser.addoption("--full", action="store_true", default=False,
                         help="run the long sweeps too (also AMIFS_FULL=1)")
    except ValueError:
        pass    # another plugin of this suite added it already
