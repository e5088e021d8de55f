#!/usr/bin/env bash
# Regenerates the dialect and pass references from ODS into docs/reference
# (test/Docs/docs-up-to-date.test fails while they are stale).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${SPARSE_ATTN_BUILD_DIR:-$root/build}
cmake --build "$build" --target mlir-doc
find "$build/docs" -name '*.md' | while read -r generated; do
  cp "$generated" "$root/docs/reference/$(basename "$generated")"
done
