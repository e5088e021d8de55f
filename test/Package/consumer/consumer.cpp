// Parses and verifies sparse_attn IR through the installed package.
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: consumer FILE.mlir\n";
    return 2;
  }
  mlir::MLIRContext context;
  context.loadDialect<mlir::func::FuncDialect,
                      mlir::sparse_attn::SparseAttnDialect>();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(argv[1], &context);
  if (!module)
    return 1;
  int attentionOps = 0;
  module->walk([&](mlir::sparse_attn::AttentionOp op) {
    ++attentionOps;
    llvm::outs() << "attention with scale "
                 << mlir::sparse_attn::formatFloat(op.getEffectiveScale())
                 << " and group size " << op.getGroupSize() << "\n";
  });
  llvm::outs() << "verified " << attentionOps << " attention op(s)\n";
  return 0;
}
