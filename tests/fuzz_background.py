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

With pytest-xdist (tests/run.sh runs four workers) the fuzzing runs once,
in the controller: it starts when the first worker reports its collection,
and writes the results to the run's shared directory
(tests/parallel_fixtures.py); the test_fuzz items (one xdist group, last)
wait on their worker for that file.

AMIFS_FUZZ_BACKGROUND=0 turns this off: test_fuzz.py then fuzzes in the
foreground, one target per CPU (what `pytest tests/test_fuzz.py` does
anyway, since nothing else runs then).
"""
import json
import os
import threading
import time
import traceback

import pytest

import parallel_fixtures

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


class SharedFuzz:
    """The controller's fuzz run seen from a worker: result() waits for
    the results file."""

    def __init__(self, path):
        self.path = path

    def result(self, timeout):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.path):
            if time.monotonic() > deadline:
                raise TimeoutError("background fuzzing (in the xdist "
                                   "controller) still running after %d s"
                                   % timeout)
            time.sleep(1)
        with open(self.path) as f:
            doc = json.load(f)
        if "error" in doc:
            raise RuntimeError("background fuzzing failed in the xdist "
                               "controller:\n" + doc["error"])
        return doc["results"]


def _fuzz_dir():
    d = os.path.join(parallel_fixtures.shared_dir(), "fuzz")
    os.makedirs(d, exist_ok=True)
    return d


def _publishing(run, path):
    """RUN, writing its results (or its error) to PATH when done."""
    def main():
        try:
            doc = {"results": run()}
        except BaseException:
            doc = {"error": traceback.format_exc()}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.rename(tmp, path)
        if "error" in doc:
            raise RuntimeError(doc["error"])
        return doc["results"]
    return main


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """Controller: start the fuzzing once, when the first worker has
    collected (every worker collects the same tests)."""
    config = node.config
    if _KEY in config.stash or \
            os.environ.get("AMIFS_FUZZ_BACKGROUND", "1") == "0":
        return
    fuzz = [i for i in ids if i.split("::")[0].endswith("test_fuzz.py")]
    if not fuzz or len(fuzz) == len(ids):
        return
    import test_fuzz
    if not test_fuzz.fuzz_available():
        return
    d = _fuzz_dir()
    config.stash[_KEY] = BackgroundFuzz(_publishing(
        lambda: test_fuzz.fuzz_all(workers=1, nice=19),
        os.path.join(d, "results.json")))
    with open(os.path.join(d, "started"), "w"):
        pass


def pytest_collection_finish(session):
    if os.environ.get("AMIFS_FUZZ_BACKGROUND", "1") == "0":
        return
    if parallel_fixtures.is_worker(session.config):
        return      # the controller fuzzes (above)
    fuzz = [i for i in session.items if _is_fuzz(i)]
    if not fuzz or len(fuzz) == len(session.items):
        return  # nothing to overlap with: the foreground path is faster
    module = fuzz[0].module
    if not module.fuzz_available():
        return
    session.config.stash[_KEY] = BackgroundFuzz(
        lambda: module.fuzz_all(workers=1, nice=19))


def background_fuzz(config):
    """The BackgroundFuzz started for this session (on an xdist worker: a
    SharedFuzz, when the controller started one), or None."""
    if parallel_fixtures.is_worker(config):
        d = _fuzz_dir()
        if os.path.exists(os.path.join(d, "started")):
            return SharedFuzz(os.path.join(d, "results.json"))
        return None
    return config.stash.get(_KEY, None)
