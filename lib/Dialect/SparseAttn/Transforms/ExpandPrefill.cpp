//===- ExpandPrefill.cpp - sparse-attn-expand-prefill ---------------------===//
//
// Rewrites every sparse_attn.prefill into the mask estimator its pattern
// names and a softmax sparse_attn.attention (PrefillOp::expand).
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/IR/Builders.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNEXPANDPREFILLPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

struct SparseAttnExpandPrefillPass
    : sparse_attn::impl::SparseAttnExpandPrefillPassBase<
          SparseAttnExpandPrefillPass> {
  void runOnOperation() override {
    getOperation().walk([&](PrefillOp prefill) {
      OpBuilder builder(prefill);
      prefill->replaceAllUsesWith(prefill.expand(builder));
      prefill->erase();
      ++numExpanded;
    });
  }
};

} // namespace
