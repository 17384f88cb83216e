"""libFuzzer smoke runs over every parser of outside input (tests/fuzz/).

Builds the fuzz targets in build-fuzz (clang, ASan+UBSan, -Dfuzz=true;
ninja rebuilds only what is stale), then runs each target for
AMIFS_FUZZ_SECONDS (default 15 s, 60 s with --full; 0 = only replay)
over its seed corpus in tests/fuzz/corpus/<target>/, at most one target
per CPU at a time. When
the whole suite runs, tests/fuzz_background.py starts this at the end of
collection, one target at a time under `nice -n 19`, so the fuzzing overlaps
the rest of the suite and the tests here only collect the results. New
inputs and crash artifacts go to a temp dir, never into the repository.
Every file in tests/fuzz/regressions/<target>/ is replayed once per run.

A target fails on any crash, leak, timeout, out-of-memory or sanitizer
report; the message gives the reproducer's path and the command to replay
it. Skipped (with the reason) when clang is not installed.
"""
import concurrent.futures
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import shared_fixtures
import fuzz_background

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_DIR = os.path.join(ROOT, "tests", "fuzz")
BUILD = os.environ.get("AMIFS_FUZZ_BUILD_DIR", os.path.join(ROOT, "build-fuzz"))
# Fuzzing seconds per target: 15 in the default run, 60 with --full
# (shared_fixtures.full_run()); AMIFS_FUZZ_SECONDS overrides both.
SECONDS = int(os.environ.get("AMIFS_FUZZ_SECONDS",
                             "60" if shared_fixtures.full_run() else "15"))
TARGETS = ["fuzz_xml", "fuzz_config", "fuzz_creds", "fuzz_sigv4", "fuzz_text",
           "fuzz_ovf", "fuzz_ova", "fuzz_name", "fuzz_journal", "fuzz_guest"]
# What a sanitizer or libFuzzer prints when something went wrong, even if
# the exit status were to say otherwise.
BAD_MARKERS = ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
               "runtime error:", "ERROR: libFuzzer", "==ERROR:",
               "SUMMARY: UndefinedBehaviorSanitizer"]
ARTIFACT_PREFIXES = ("crash-", "leak-", "timeout-", "oom-")



def fuzz_available():
    return shutil.which("clang") is not None


pytestmark = pytest.mark.skipif(not fuzz_available(),
                                reason="clang is not installed: no libFuzzer")


def _exe(target):
    return os.path.join(BUILD, "tests", "fuzz", target)


def _run(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(
            e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(
            e.stderr, bytes) else (e.stderr or "")
        return subprocess.CompletedProcess(
            cmd, -1, out, err + "\n==ERROR: hung past %s s\n" % kw["timeout"])


def _options():
    path = os.path.join(BUILD, "meson-info", "intro-buildoptions.json")
    with open(path) as f:
        return {o["name"]: o["value"] for o in json.load(f)}


def _configure():
    """Set build-fuzz up (once) with the options the targets need."""
    want = {"fuzz": True, "b_sanitize": "address,undefined",
            "b_lundef": False}
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        env = dict(os.environ, CC="clang")
        r = _run(["meson", "setup", BUILD, ROOT] +
                 ["-D%s=%s" % (k, str(v).lower() if isinstance(v, bool) else v)
                  for k, v in want.items()], env=env)
        assert r.returncode == 0, "meson setup failed:\n" + r.stdout + r.stderr
    opts = _options()
    wrong = {k: v for k, v in want.items() if opts.get(k) != v}
    if wrong:
        r = _run(["meson", "configure", BUILD] +
                 ["-D%s=%s" % (k, str(v).lower() if isinstance(v, bool) else v)
                  for k, v in wrong.items()])
        assert r.returncode == 0, "meson configure failed:\n" + r.stderr


def _env(work):
    env = dict(os.environ)
    env["TMPDIR"] = work  # the targets' scratch files go with the run
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:symbolize=1"
    # UBSan only prints and goes on unless told to stop: make it a crash.
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env


def _verdict(target, r, art_dir, what):
    """None when clean, else a message naming the reproducer."""
    out = (r.stdout or "") + (r.stderr or "")
    arts = sorted(f for f in os.listdir(art_dir)
                  if f.startswith(ARTIFACT_PREFIXES))
    marker = next((m for m in BAD_MARKERS if m in out), None)
    if r.returncode == 0 and not arts and not marker:
        return None
    msg = ["%s: %s failed (exit %d%s)" % (target, what, r.returncode,
                                          ", " + marker if marker else "")]
    for a in arts:
        p = os.path.join(art_dir, a)
        msg.append("reproducer: %s\n  replay: %s %s\n  keep it: cp %s %s/"
                   % (p, _exe(target), p, p,
                      os.path.join(FUZZ_DIR, "regressions", target)))
    msg.append("--- output (tail) ---\n" + out[-8000:])
    return "\n".join(msg)


def _fuzz(target, nice=0):
    """Fuzz one target, then replay its regressions. Returns None or why it
    failed. The work dir is kept when something failed (it holds the
    reproducer) and removed otherwise."""
    work = tempfile.mkdtemp(prefix="amifs-%s-" % target)
    new_corpus = os.path.join(work, "corpus")
    os.mkdir(new_corpus)
    seeds = os.path.join(FUZZ_DIR, "corpus", target)
    art = work + "/"
    common = ["-timeout=10", "-rss_limit_mb=2048", "-artifact_prefix=" + art,
              "-print_final_stats=1"]
    # libFuzzer writes new inputs into the FIRST corpus dir: the temp one.
    if SECONDS > 0:
        cmd = [_exe(target), "-max_total_time=%d" % SECONDS] + common + \
              [new_corpus, seeds]
        what = "fuzzing %d s" % SECONDS
    else:
        cmd = [_exe(target), "-runs=0"] + common + [new_corpus, seeds]
        what = "seed replay"
    r = _run(_niced(cmd, nice), cwd=work, env=_env(work),
             timeout=SECONDS + 120)
    bad = _verdict(target, r, work, what)
    reg_dir = os.path.join(FUZZ_DIR, "regressions", target)
    regs = sorted(os.path.join(reg_dir, f) for f in os.listdir(reg_dir)) \
        if os.path.isdir(reg_dir) else []
    regs = [p for p in regs if os.path.isfile(p) and
            not os.path.basename(p).startswith(".")]
    for reg in regs if not bad else []:
        # A file as argument is run once, no fuzzing.
        r = _run(_niced([_exe(target)] + common + [reg], nice), cwd=work,
                 env=_env(work), timeout=120)
        bad = _verdict(target, r, work, "regression replay")
        if bad:
            bad = bad.replace("\n", "\nreproducer: %s\n  replay: %s %s\n"
                              % (reg, _exe(target), reg), 1)
    if not bad:
        shutil.rmtree(work, ignore_errors=True)
    return bad


def _niced(cmd, nice):
    return ["nice", "-n", str(nice)] + cmd if nice else cmd


def fuzz_all(workers=None, nice=0):
    """Build the targets, fuzz each one; {target: None or why it failed}."""
    _configure()
    r = _run(_niced(["ninja", "-C", BUILD] +
                    ["tests/fuzz/" + t for t in TARGETS], nice))
    assert r.returncode == 0, "fuzz build failed:\n" + r.stdout[-8000:] + \
        r.stderr[-2000:]
    if workers is None:
        workers = max(1, min(len(TARGETS), os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futs = {t: pool.submit(_fuzz, t, nice) for t in TARGETS}
        return {t: f.result() for t, f in futs.items()}


@pytest.fixture(scope="module")
def fuzz_results(request):
    bg = fuzz_background.background_fuzz(request.config)
    if bg is None:
        return fuzz_all()
    # The build plus every target, one at a time, with room to spare.
    return bg.result(timeout=900 + len(TARGETS) * (SECONDS + 240))


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(fuzz_results, target):
    assert os.path.isdir(os.path.join(FUZZ_DIR, "corpus", target)), \
        "no seed corpus for " + target
    bad = fuzz_results[target]
    assert bad is None, bad
