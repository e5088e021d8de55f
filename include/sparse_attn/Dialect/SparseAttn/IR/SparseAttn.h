//===- SparseAttn.h - sparse_attn dialect -----------------------*- C++ -*-===//
//
// The sparse_attn dialect: its types, attributes, interfaces and operations.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_DIALECT_SPARSEATTN_IR_SPARSEATTN_H
#define SPARSE_ATTN_DIALECT_SPARSEATTN_IR_SPARSEATTN_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include <optional>
#include <string>

namespace mlir::sparse_attn {
/// The per-row statistic of a normalizer that the backward pass needs.
enum class RowStatistic {
  /// log(sum_j exp(s_ij)) over the visible keys; -inf for an empty row.
  LogSumExp,
  /// The entmax threshold tau_i; +inf for an empty row.
  Threshold,
};

/// The shortest decimal form of `value` that reads back to the same double,
/// always with a decimal point ("1.5", "2.0", "1.0e-07"), as the dialect
/// prints floats in attributes and diagnostics.
std::string formatFloat(double value);

/// Renders a shape the way tensor types print it: `2x?x128`.
std::string shapeToString(llvm::ArrayRef<int64_t> shape);
} // namespace mlir::sparse_attn

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnDialect.h.inc"
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnAttributes.h.inc"

#define GET_TYPEDEF_CLASSES
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnTypes.h.inc"

#define GET_OP_CLASSES
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnOps.h.inc"

#endif // SPARSE_ATTN_DIALECT_SPARSEATTN_IR_SPARSEATTN_H
