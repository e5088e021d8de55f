#!/usr/bin/env bash
# Installs what sparse-attn needs on a fresh Debian 12 machine (LLVM/MLIR 22
# from Debian's packages, the build tools, the Python packages of the tests)
# and builds the project into build/ (or $SPARSE_ATTN_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARSE_ATTN_BUILD_DIR:-$root/build}

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=sudo; fi
packages="llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools cmake ninja-build ccache g++ libgtest-dev"
missing=""
for package in $packages; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  echo "bootstrap: installing$missing"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -r "$root/utils/requirements.txt"

cmake -G Ninja -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
  -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
  -DPython3_EXECUTABLE="$(command -v python3)" >/dev/null
cmake --build "$build"
