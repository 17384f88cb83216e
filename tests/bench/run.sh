#!/usr/bin/env bash
# The benchmark command: amifs side by side with the AWS CLIs, s3fs and
# rclone against the same local server; prints a table of ratios and writes
# it to tests/bench/results-<date>.md. Options: tests/bench/run.sh --help
# (--server fast|moto, --big, --wan, --sections, --size-mib, ...).
# Needs root (FUSE mounts, and network namespaces for --wan).
set -euo pipefail
cd "$(dirname "$0")/../.."
export AMIFS_BUILD_DIR="${AMIFS_BUILD_DIR:-$(pwd)/build}"
tests/setup-debian.sh
# The peers measured beside amifs.
for p in s3fs rclone; do
    command -v "$p" >/dev/null 2>&1 || {
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq s3fs rclone >/dev/null
        break
    }
done
if [ -z "${AMIFS_PYTHON:-}" ] && [ -f build/.amifs-python ]; then
    AMIFS_PYTHON=$(cat build/.amifs-python); export AMIFS_PYTHON
fi
exec /usr/bin/python3 tests/bench/bench.py "$@"
