#!/usr/bin/env bash
# Copies what the GPU machine needs into DEST (it has no LLVM/MLIR): the
# runtime library, the Python package, the built kernel bundles, the GPU
# tests and the benchmarks, plus DEST/env.sh that points the package at them.
# Pure-Python wheels of the benchmarks' peers (`pip download adasplash
# --no-deps -d WHEELS`) in the optional WHEELS directory are copied to
# DEST/wheels and unpacked into DEST/peers, which env.sh puts on PYTHONPATH
# (the GPU machine has no network to install them from).
#
#   utils/stage-gpu-run.sh BUILD_DIR DEST [WHEELS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
dest=$2
rm -rf "$dest"/lib "$dest"/python "$dest"/bundles "$dest"/test "$dest"/bench \
  "$dest"/wheels "$dest"/peers
mkdir -p "$dest"/lib "$dest"/bundles "$dest"/test "$dest"/bench "$dest"/peers
cp -L "$build"/lib/libsparse_attn_runtime.so "$dest"/lib/
cp -r "$root"/python "$dest"/python
find "$dest"/python -name __pycache__ -prune -exec rm -rf {} +
cp -r "$build"/bundles/*.bundle "$dest"/bundles/
cp -r "$root"/test/gpu "$dest"/test/gpu
# The float64 references the GPU checks share with the CPU numerics tests.
cp -r "$root"/test/lib "$dest"/test/lib
cp "$root"/bench/*.py "$dest"/bench/
if [ $# -ge 3 ]; then
  mkdir -p "$dest"/wheels
  for wheel in "$3"/*.whl; do
    cp "$wheel" "$dest"/wheels/
    python3 -m zipfile -e "$wheel" "$dest"/peers
  done
fi
cat > "$dest"/env.sh <<'ENV'
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export SPARSE_ATTN_RUNTIME_LIBRARY=$here/lib/libsparse_attn_runtime.so
export SPARSE_ATTN_BUNDLE_PATH=$here/bundles
export SPARSE_ATTN_PYTHON=$here/python
export PYTHONPATH=$here/python:$here/peers${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
ENV
