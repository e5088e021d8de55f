//===- Instrumentation.h - counters of instrumented tiled code --*- C++ -*-===//
//
// The interface between sparse-attn-instrument, which makes the compiled
// tiled code count what it does, and the runners that read the counts
// (docs/design/tiling.md, "Instrumentation"). Header-only: a runner needs no
// library.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_INSTRUMENTATION_H
#define SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_INSTRUMENTATION_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace mlir::sparse_attn::instrumentation {

/// `memref<R x S x i64>`: one record of S slots per query-tile grid, in
/// module order, zero-initialised.
constexpr llvm::StringLiteral kCountersName = "sparse_attn_counters";
/// `memref<(4 + R) x i64>` = [version, R, S, head capacity, kind of record 0,
/// ..., kind of record R-1].
constexpr llvm::StringLiteral kLayoutName = "sparse_attn_counters_layout";
constexpr int64_t kLayoutVersion = 1;

/// The slots of a record: these fixed ones, then two per head (output tiles
/// visited, dense key tiles); heads past the capacity share the last pair.
enum Slot : int64_t {
  kGridPoints = 0,          // query tiles (row tiles) executed
  kKeyTilesTotal = 1,       // key tiles a dense computation visits
  kKeyPasses = 2,           // key-loop executions, every pass
  kTilesVisited = 3,        // score tiles computed, every pass
  kOutputTilesVisited = 4,  // score tiles of the output pass
  kOutputTilesFull = 5,     // of those, tiles without elementwise mask
  kSolverIterations = 6,    // entmax threshold-solver iterations
  kReserved = 7,
  kFirstHeadSlot = 8,
};

/// The kind of a record's grid.
enum GridKind : int64_t {
  kSoftmaxGrid = 0,
  kEntmaxGrid = 1,
  kElasticGrid = 2,
  kRowEntmaxGrid = 3,
};

} // namespace mlir::sparse_attn::instrumentation

#endif // SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_INSTRUMENTATION_H
