//===- ReferenceEvaluator.h - float64 interpreter for --check ---*- C++ -*-===//
//
// An implementation of docs/design/semantics.md independent of every
// lowering: it interprets the entry function op by op in double precision on
// the same inputs the compiled code ran on, and is the oracle of --check.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_REFERENCEEVALUATOR_H
#define SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_REFERENCEEVALUATOR_H

#include "HostBuffer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/Error.h"

#include <vector>

namespace mlir::sparse_attn::run {

/// A dense row-major float64 tensor; scalars have rank 0.
struct ReferenceTensor {
  llvm::SmallVector<int64_t, 4> shape;
  std::vector<double> data;
};

/// The block density of one `!sparse_attn.block_mask` value: for each
/// (batch, head) of the mask's own extents, the fraction of its blocks that
/// hold at least one visible pair.
struct MaskDensity {
  Value mask;
  int64_t batch = 0;
  int64_t heads = 0;
  /// Row-major [batch][heads].
  std::vector<double> density;
};

struct ReferenceEvaluation {
  llvm::SmallVector<ReferenceTensor> results;
  /// Every mask value of the function, in program order.
  llvm::SmallVector<MaskDensity> masks;
};

/// Fails with "--check does not support op 'NAME'" for the first op of
/// `entry` that the evaluator cannot interpret.
llvm::Error checkReferenceSupport(func::FuncOp entry);

/// Interprets `entry` on `arguments` (one buffer per function argument,
/// scalars as rank-0 buffers). Fails with a message on inputs the semantics
/// do not define (inconsistent runtime extents).
llvm::Expected<ReferenceEvaluation>
evaluateReference(func::FuncOp entry, llvm::ArrayRef<HostBuffer> arguments);

} // namespace mlir::sparse_attn::run

#endif // SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_REFERENCEEVALUATOR_H
