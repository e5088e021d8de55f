//===- EstimatorKernels.h - prefill estimators as GPU kernels ---*- C++ -*-===//
//
// The block selection of a long-context prefill method as its own kernel,
// writing FlexAttention index rows that the block-sparse attention kernels
// then walk (docs/design/gpu-lowering.md, "Prefill estimators").
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_ESTIMATORKERNELS_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_ESTIMATORKERNELS_H

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::sparse_attn {

/// Lowers `func`, whose body is `select` returning its index tensors, into
/// one kernel of `module`: a CTA per (query block, head, batch) scores the
/// block's strided rows against every key block it may see, then ranks the
/// block masses and writes its index row. With `scaleArgument` the scores
/// are also scaled by an f32 kernel argument `scale`.
LogicalResult lowerBlockSelection(func::FuncOp func, SelectBlocksOp select,
                                  gpu::GPUModuleOp module, bool scaleArgument);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_ESTIMATORKERNELS_H
