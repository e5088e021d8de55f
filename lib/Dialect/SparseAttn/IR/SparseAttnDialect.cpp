//===- SparseAttnDialect.cpp - sparse_attn dialect --------------*- C++ -*-===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

using namespace mlir;
using namespace mlir::sparse_attn;

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnDialect.cpp.inc"

void SparseAttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnOps.cpp.inc"
      >();
  registerAttributes();
  registerTypes();
}
