#!/usr/bin/env bash
# The test command: installs what is missing, builds (plain and ASan/UBSan),
# then runs every test — C unit tests (both builds), the local endpoint's
# conformance tests, and real mounts — under pytest. Every mount test runs
# the ASan+UBSan daemon (AMIFS_BIN); tests/test_sanitized_daemon.py runs the
# plain build's mount suites and the daemon under valgrind. The fuzz targets
# run in the background meanwhile (tests/fuzz_background.py). The last line
# is pytest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup-debian.sh --asan
export AMIFS_PYTHON="${AMIFS_PYTHON:-$(cat build/.amifs-python)}"
export AMIFS_BUILD_DIR="$(pwd)/build"
export AMIFS_ASAN_BUILD_DIR="$(pwd)/build-asan"
export AMIFS_BIN="$AMIFS_ASAN_BUILD_DIR/fs/amifs"
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -ra tests "$@"
