#!/usr/bin/env bash
# The test command: installs what is missing, builds (plain and ASan/UBSan),
# then runs every test — C unit tests (both builds), the local endpoint's
# conformance tests, and real mounts — under pytest. The last line is
# pytest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup-debian.sh --asan
export AMIFS_PYTHON="${AMIFS_PYTHON:-$(cat build/.amifs-python)}"
export AMIFS_BUILD_DIR="$(pwd)/build"
export AMIFS_ASAN_BUILD_DIR="$(pwd)/build-asan"
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -ra tests "$@"
