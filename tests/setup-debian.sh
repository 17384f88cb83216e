#!/usr/bin/env bash
# Install what amifs needs to build, test and demo on Debian 12, then build.
# Safe to run again: installs only what is missing; builds incrementally.
#   tests/setup-debian.sh            packages + build/ (debugoptimized)
#   tests/setup-debian.sh --asan     also build-asan/ (ASan + UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential pkg-config meson ninja-build
      libfuse3-dev fuse3 libcurl4-openssl-dev libssl-dev libcjson-dev
      libarchive-dev libexpat1-dev libisal-dev
      libext2fs-dev zlib1g-dev xfsprogs
      python3 python3-pytest python3-pytest-xdist awscli
      qemu-utils fdisk e2fsprogs dosfstools mtools tar libarchive-tools rsync libglib2.0-bin attr
      curl ca-certificates openssl
      clang libclang-rt-14-dev valgrind gdb)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The local AWS endpoint needs moto (server extras). Use the first python3
# that has it; otherwise try pip (works where PyPI is reachable).
if [ -z "${AMIFS_PYTHON:-}" ]; then
    for py in python3 /usr/local/bin/python3 /usr/bin/python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import moto.server, werkzeug' 2>/dev/null; then
            AMIFS_PYTHON=$(command -v "$py"); break
        fi
    done
fi
if [ -z "${AMIFS_PYTHON:-}" ]; then
    echo "setup: moto not found; installing it with pip"
    python3 -m pip install --user 'moto[server]>=5.0' >/dev/null
    AMIFS_PYTHON=$(command -v python3)
fi
mkdir -p build
echo "$AMIFS_PYTHON" > build/.amifs-python

[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
if [ "${1:-}" = "--asan" ]; then
    [ -f build-asan/build.ninja ] || \
        meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
    ninja -C build-asan >/dev/null
fi
echo "setup: built $(pwd)/build/fs/amifs (endpoint python: $AMIFS_PYTHON)"
