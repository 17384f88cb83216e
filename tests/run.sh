#!/usr/bin/env bash
# The test command: installs what is missing, builds (plain and ASan/UBSan),
# then runs every test — C unit tests (both builds), the local endpoint's
# conformance tests, and real mounts — under pytest. Every mount test runs
# the ASan+UBSan daemon (AMIFS_BIN); tests/test_sanitized_daemon.py runs the
# plain build's mount suites and the daemon under valgrind. The fuzz targets
# run in the background meanwhile (tests/fuzz_background.py). The tests run
# on 4 pytest-xdist workers (AMIFS_WORKERS; -n0: serial). The last line is
# pytest's summary.
#
#   tests/run.sh [--full] [pytest args...]
#
# The default run (what CI runs) covers every behaviour with the shorter
# variants: 15 s of fuzzing per target, a 128 MiB round trip through
# buckets/, a subset of the mount tests under valgrind and on the plain
# build. --full (AMIFS_FULL=1) adds the long ones: 60 s per fuzz target, the
# 1 GiB round trip, every mount test under valgrind and on the plain build,
# and the tests marked `full`. See README.md ("Tests") for the times.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for a in "$@"; do
    if [ "$a" = "--full" ]; then
        export AMIFS_FULL=1
    else
        args+=("$a")
    fi
done
[ "${AMIFS_FULL:-0}" = "0" ] || args+=("--full")
tests/setup-debian.sh --asan
export AMIFS_PYTHON="${AMIFS_PYTHON:-$(cat build/.amifs-python)}"
export AMIFS_BUILD_DIR="$(pwd)/build"
export AMIFS_ASAN_BUILD_DIR="$(pwd)/build-asan"
export AMIFS_BIN="$AMIFS_ASAN_BUILD_DIR/fs/amifs"
# pytest-xdist: AMIFS_WORKERS processes (default 4 on this 2-core box:
# the suite mostly waits, see tests/parallel_fixtures.py); `-n0` among the
# arguments (the last -n wins) runs everything in this one process.
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -ra \
    -n "${AMIFS_WORKERS:-4}" --dist loadgroup tests "${args[@]}"
