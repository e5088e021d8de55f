//===- DecomposeEstimators.cpp - sparse-attn-decompose-estimators ---------===//
//
// The block-selecting estimators (XAttention, FlexPrefill) as the index
// lists of their selection, which sparse-attn-skip-blocks walks.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNDECOMPOSEESTIMATORSPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// Whether the valid (and causal) pairs of an estimator's mask may be left
/// to its consumers: every use is the mask of an attention with the same
/// lengths, causal when the estimator is.
bool consumersApplyValidity(Value mask, Value queryLengths, Value keyLengths,
                            bool causal) {
  return llvm::all_of(mask.getUses(), [&](OpOperand &use) {
    auto attention = dyn_cast<AttentionOp>(use.getOwner());
    return attention && attention.getMask() == mask &&
           attention.getQueryLengths() == queryLengths &&
           attention.getKeyLengths() == keyLengths &&
           (!causal || attention.getCausal());
  });
}

/// The dynamic sequence lengths (Nq, Nk) of a mask over `query` and `key`.
SmallVector<Value> dynamicLengths(OpBuilder &b, Location loc,
                                  BlockMaskType type, Value query, Value key) {
  SmallVector<Value> sizes;
  if (ShapedType::isDynamic(type.getQueryLength()))
    sizes.push_back(tensor::DimOp::create(b, loc, query, 2));
  if (ShapedType::isDynamic(type.getKeyLength()))
    sizes.push_back(tensor::DimOp::create(b, loc, key, 2));
  return sizes;
}

/// Rewrites one estimator (`method` its configuration); returns whether it
/// did.
template <typename EstimatorOp>
bool decompose(EstimatorOp op, Attribute method, Value thresholds,
               bool causal) {
  Value mask = op.getResult();
  Value queryLengths = op.getQueryLengths(), keyLengths = op.getKeyLengths();
  bool varlen = queryLengths || keyLengths;
  if (varlen && !consumersApplyValidity(mask, queryLengths, keyLengths, causal))
    return false;

  OpBuilder b(op);
  Location loc = op.getLoc();
  auto maskType = cast<BlockMaskType>(mask.getType());
  int64_t queryBlock = maskType.getQueryBlockSize();
  int64_t keyBlock = maskType.getKeyBlockSize();
  RankedTensorType countsType = maskType.getCountsType();
  RankedTensorType indicesType = maskType.getIndicesType();
  SmallVector<Type> resultTypes = {countsType, indicesType};
  Value patterns;
  if constexpr (std::is_same_v<EstimatorOp, FlexPrefillMaskOp>)
    patterns = op.getPatterns();
  if (patterns)
    resultTypes.push_back(patterns.getType());
  auto selection = SelectBlocksOp::create(
      b, loc, resultTypes, method, op.getQuery(), op.getKey(), thresholds,
      queryLengths, keyLengths, causal ? b.getUnitAttr() : UnitAttr(),
      op.getScaleAttr(), b.getI64IntegerAttr(queryBlock),
      b.getI64IntegerAttr(keyBlock));
  SmallVector<Value> lengths =
      dynamicLengths(b, loc, maskType, op.getQuery(), op.getKey());
  Value replacement = MaskFromIndicesOp::create(
      b, loc, maskType, selection.getKvNumBlocks(), selection.getKvIndices(),
      /*full_kv_num_blocks=*/Value(), /*full_kv_indices=*/Value(), lengths);
  if (causal && !varlen) {
    auto causalType = BlockMaskType::get(
        b.getContext(),
        {1, 1, maskType.getQueryLength(), maskType.getKeyLength()}, queryBlock,
        keyBlock);
    Value causalMask = CausalMaskOp::create(b, loc, causalType, lengths);
    replacement =
        MaskIntersectOp::create(b, loc, maskType, replacement, causalMask);
  }
  mask.replaceAllUsesWith(replacement);
  if (patterns)
    patterns.replaceAllUsesWith(selection.getPatterns());
  op->erase();
  return true;
}

struct SparseAttnDecomposeEstimatorsPass
    : sparse_attn::impl::SparseAttnDecomposeEstimatorsPassBase<
          SparseAttnDecomposeEstimatorsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> estimators;
    getOperation().walk([&](Operation *op) {
      if (isa<XAttentionMaskOp, FlexPrefillMaskOp>(op))
        estimators.push_back(op);
    });
    for (Operation *op : estimators) {
      bool decomposed = false;
      if (auto xattention = dyn_cast<XAttentionMaskOp>(op))
        decomposed =
            decompose(xattention, xattention.getConfig(),
                      xattention.getThresholds(), xattention.getCausal());
      else if (auto flexprefill = dyn_cast<FlexPrefillMaskOp>(op))
        decomposed = decompose(flexprefill, flexprefill.getConfig(),
                               /*thresholds=*/Value(), /*causal=*/true);
      numDecomposed += decomposed;
    }
  }
};

} // namespace
