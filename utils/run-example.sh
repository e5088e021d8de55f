#!/usr/bin/env bash
# The main job: installs and builds, then compiles an example through the
# whole pipeline, executes it on the CPU and checks it against the float64
# reference. Usage: utils/run-example.sh [EXAMPLE.mlir] [sparse-attn-run options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARSE_ATTN_BUILD_DIR:-$root/build}
example=${1:-$root/examples/attention-entmax.mlir}
shift || true
"$root/utils/bootstrap.sh"
exec "$build/bin/sparse-attn-run" "$example" --check "$@"
