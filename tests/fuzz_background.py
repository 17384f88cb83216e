"""pytest plugin: run the libFuzzer targets in the background of the suite.

Each fuzz target gets 15 s in the default run and a minute with --full
(AMIFS_FUZZ_SECONDS overrides; see tests/test_fuzz.py). Run one after
another in the foreground that would add minutes to the suite, while
the mount and endpoint tests leave about half of the machine's CPU idle
(they wait on the server, on import phases, on FUSE). So, when
tests/test_fuzz.py is part of the run, this plugin starts the fuzz build
and the targets at the end of collection, one target at a time under
`nice -n 19` (they take only CPU nobody else wants), and moves the
test_fuzz items to the end of the run, where they wait for the results.
The fuzzing wall time per target is the same as in the foreground; the
CPU it gets is what the rest of the suite leaves.

AMIFS_FUZZ_BACKGROUND=0 turns this off: test_fuzz.py then fuzzes in the
foreground, one target per CPU (what `pytest tests/test_fuzz.py` does
anyway, since nothing else runs then).
"""
import os
import threading

import pytest

_KEY = pytest.StashKey()


class BackgroundFuzz:
    """The fuzz run on a thread; result() waits for {target: None|why}."""

    def __init__(self, run):
        self._done = threading.Event()
        self._results = None
        self._error = None
        self._thread = threading.Thread(target=self._main, args=(run,),
                                        name="amifs-fuzz", daemon=True)
        self._thread.start()

    def _main(self, run):
        try:
            self._results = run()
        except BaseException as e:  # handed to the test that waits for it
            self._error = e
        finally:
            self._done.set()

    def result(self, timeout):
        if not self._done.wait(timeout):
            raise TimeoutError("background fuzzing still running after %d s"
                               % timeout)
        if self._error is not None:
            raise self._error
        return self._results


def _is_fuzz(item):
    return os.path.basename(str(item.fspath)) == "test_fuzz.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """test_fuzz last (tryfirst: a later plugin may still put its own
    test after these)."""
    fuzz = [i for i in items if _is_fuzz(i)]
    if fuzz and len(fuzz) < len(items):
        items[:] = [i for i in items if not _is_fuzz(i)] + fuzz


def pytest_collection_finish(session):
    if os.environ.get("AMIFS_FUZZ_BACKGROUND", "1") == "0":
        return
    fuzz = [i for i in session.items if _is_fuzz(i)]
    if not fuzz or len(fuzz) == len(session.items):
        return  # nothing to overlap with: the foreground path is faster
    module = fuzz[0].module
    if not module.fuzz_available():
        return
    session.config.stash[_KEY] = BackgroundFuzz(
        lambda: module.fuzz_all(workers=1, nice=19))


def background_fuzz(config):
    """The BackgroundFuzz started for this session, or None."""
    return config.stash.get(_KEY, None)
