#!/usr/bin/env bash
# The benchmark command: every benchmark, amifs side by side with the AWS
# CLIs, s3fs and rclone against the same local servers (fasts3 for
# throughput, moto + our VM Import layer for the task sections, fasts3
# behind a shaped link in a network namespace for the WAN profile); prints
# the tables and writes them to tests/bench/results-<date>.md.
#   tests/bench/run.sh            everything (~40 min on 2 cores)
#   tests/bench/run.sh --quick    1 GiB only, one run per row
#   tests/bench/run.sh --help     sections, sizes, repeats, WAN shape
# Needs root (FUSE mounts, network namespaces, tc).
# AMIFS_BUILD_DIR picks the build to measure (default build/);
# AMIFS_SKIP_SETUP=1 skips tests/setup-debian.sh (packages + build/).
set -euo pipefail
cd "$(dirname "$0")/../.."
export AMIFS_BUILD_DIR="${AMIFS_BUILD_DIR:-$(pwd)/build}"
[ "${AMIFS_SKIP_SETUP:-0}" = 1 ] || tests/setup-debian.sh
# The peers measured beside amifs, curl for the ceiling, ip/tc for --wan.
need=()
for p in s3fs:s3fs rclone:rclone curl:curl ip:iproute2 tc:iproute2; do
    command -v "${p%%:*}" >/dev/null 2>&1 || need+=("${p#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
if [ -z "${AMIFS_PYTHON:-}" ] && [ -f build/.amifs-python ]; then
    AMIFS_PYTHON=$(cat build/.amifs-python); export AMIFS_PYTHON
fi
exec /usr/bin/python3 tests/bench/bench.py "$@"
