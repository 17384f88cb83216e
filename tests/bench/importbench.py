"""What the import benchmarks (ovffolder_bench.py, snaproute_bench.py)
share: their command line, the local endpoint, one amifs mount, the AWS
CLI and the table they print.

Importing it puts tests/ and tests/images/ on sys.path, so a benchmark can
then import endpoint_fixtures, mkimages or mkfolders.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "images"))
import endpoint_fixtures as ef  # noqa: E402


def arguments():
    """--build DIR (default: the checkout's build/) and --phase SECONDS
    (how long each task phase of the endpoint lasts)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(TESTS),
                                                    "build"))
    ap.add_argument("--phase", type=float, default=0.5)
    return ap


def cli(ep, *args, timeout=600):
    """The AWS CLI v1 against the endpoint; its JSON answer, or None."""
    p = subprocess.run([ep.clis["v1"], "--endpoint-url", ep.url,
                        "--output", "json"] + list(args),
                       capture_output=True, text=True, env=ep.env,
                       timeout=timeout, check=True)
    return json.loads(p.stdout) if p.stdout.strip() else None


@contextlib.contextmanager
def endpoint(work, phase):
    """A bootstrapped local endpoint under work/ep, stopped on exit."""
    os.makedirs(os.path.join(work, "ep"))
    ep = ef.Endpoint(ef.moto_python(), os.path.join(work, "ep"))
    ep.start(phase_seconds=phase)
    try:
        ep.bootstrap()
        yield ep
    finally:
        ep.stop()


@contextlib.contextmanager
def mounted(ep, build, work, poll):
    """amifs mounted on work/mnt (staging bucket ep.bucket/bench, tasks
    polled every `poll` s); unmounted on exit, and how long the daemon
    took to exit after that is printed on stderr."""
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    o = "endpoint=%s,bucket=%s/bench,poll_interval=%s" % (ep.url, ep.bucket,
                                                          poll)
    d = subprocess.Popen([os.path.join(build, "fs", "amifs"), "-f", "-o", o,
                          mnt], env=ep.env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not os.path.isdir(os.path.join(mnt, "imports")):
            if time.time() > deadline:
                raise RuntimeError("amifs did not mount")
            time.sleep(0.05)
        yield mnt
    finally:
        t1 = time.monotonic()
        subprocess.run(["fusermount3", "-u", mnt])
        d.wait(120)
        print("(amifs exited %.1f s after fusermount3 -u)" %
              (time.monotonic() - t1), file=sys.stderr)


def wait_task(mnt, name, t0):
    """Block on tasks/NAME/wait: (seconds since t0, its line)."""
    with open(os.path.join(mnt, "tasks", name, "wait")) as f:
        line = f.read()
    return time.monotonic() - t0, line.strip()


def print_table(how, rows):
    """The Markdown table: one row per (name, (seconds, result line))."""
    print("| %s | first byte to completed | result |" % how)
    print("|---|---|---|")
    for name, (secs, line) in rows:
        print("| %s | %.1f s | %s |" % (name, secs, line.split()[0]))
