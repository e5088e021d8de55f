//===- ElasticSoftmax.h - scalar formulas of elastic softmax ----*- C++ -*-===//
//
// The per-entry arithmetic of Lazy Attention's elastic softmax output pass
// (docs/design/tiling.md, "Normalisers"): the row shift, the weight and the
// tile skip test. Both tile lowerings build it on scalars, so that the CPU
// form (sparse-attn-decompose-tiles) and the GPU form (sparse-attn-to-gpu)
// compute the same function; each supplies `exp2(score - max)`, as the GPU
// has no libdevice to resolve math-dialect calls.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_ELASTICSOFTMAX_H
#define SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_ELASTICSOFTMAX_H

#include "mlir/IR/Builders.h"

namespace mlir::sparse_attn::elastic {

/// `tau / (row + 1)` (f32) for the absolute query row `row` (index).
Value rowShift(OpBuilder &b, Location loc, Value tau, Value row);

/// The weight `max(0, exponential / sum + shift)` of an entry with base-2
/// score `score` and `exponential = exp2(score - max)`; zero for invisible
/// entries (`score = -inf`) and rows without a visible key (`sum = 0`).
Value weight(OpBuilder &b, Location loc, Value score, Value exponential,
             Value sum, Value shift);

/// Whether the largest weight of a row in a tile, with `tileMax` the row's
/// largest score there and `exponential = exp2(tileMax - max)`, is
/// positive (`sparse_attn.elastic_tile_live` of one row).
Value isLive(OpBuilder &b, Location loc, Value tileMax, Value exponential,
             Value sum, Value shift);

} // namespace mlir::sparse_attn::elastic

#endif // SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_ELASTICSOFTMAX_H
