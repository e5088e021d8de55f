#!/usr/bin/env bash
# Installs, builds and runs every test that needs no GPU (lit: dialect,
# transformations, pipelines, CPU execution against float64 references,
# fuzzing, tools, packaging). GPU tests live in test/gpu and run on a device.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARSE_ATTN_BUILD_DIR:-$root/build}
"$root/utils/bootstrap.sh"
cmake --build "$build" --target check-sparse-attn
