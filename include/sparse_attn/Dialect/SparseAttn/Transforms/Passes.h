//===- Passes.h - sparse_attn transformation passes -------------*- C++ -*-===//

#ifndef SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_PASSES_H
#define SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::sparse_attn {

#define GEN_PASS_DECL
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_DIALECT_SPARSEATTN_TRANSFORMS_PASSES_H
