//===- sparse-attn-opt.cpp - sparse_attn optimizer driver -------*- C++ -*-===//
//
// mlir-opt with the sparse_attn dialect, its passes and pipelines, and the
// upstream dialects and passes the lowerings use.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Conversion/Passes.h"
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"
#include "sparse_attn/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::sparse_attn::registerSparseAttnConversionPasses();
  mlir::sparse_attn::registerSparseAttnTransformsPasses();
  mlir::sparse_attn::registerPipelines();
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::sparse_attn::SparseAttnDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "sparse_attn optimizer driver\n", registry));
}
