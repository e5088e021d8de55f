//===- LinalgBuilders.h - builders of the reference lowering ----*- C++ -*-===//
//
// What the reference lowering (convert-sparse-attn-to-linalg) builds its
// ops with: scalar helpers, linalg.generic helpers over rows, the softmax
// and entmax normalizers, and token-level mask reads. Shared by the lowering
// of the attention-level ops (SparseAttnToLinalg.cpp) and of the prefill ops
// (PrefillToLinalg.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOLINALG_LINALGBUILDERS_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOLINALG_LINALGBUILDERS_H

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir::sparse_attn {

//===----------------------------------------------------------------------===//
// Scalar helpers
//===----------------------------------------------------------------------===//

inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

Value f32Constant(ImplicitLocOpBuilder &b, double value);
Value i32Constant(ImplicitLocOpBuilder &b, int32_t value);
Value indexConstant(ImplicitLocOpBuilder &b, int64_t value);
Value boolConstant(ImplicitLocOpBuilder &b, bool value);
/// bf16 and f16 are computed in f32.
Value toF32(ImplicitLocOpBuilder &b, Value value);
Value indexToF32(ImplicitLocOpBuilder &b, Value index);
Value indexToI32(ImplicitLocOpBuilder &b, Value index);
/// `min(max(value, 0), upper)` on indices.
Value clampIndex(ImplicitLocOpBuilder &b, Value value, Value upper);
Value select(ImplicitLocOpBuilder &b, Value condition, Value onTrue,
             Value onFalse);
/// The induction variable of loop `dim` inside a linalg.generic body.
Value loopIndex(ImplicitLocOpBuilder &b, int64_t dim);
/// The extent `dim` of `tensor` as an index value (a constant when static).
Value dimValue(ImplicitLocOpBuilder &b, Value tensor, int64_t dim);
Value castTo(ImplicitLocOpBuilder &b, Value value, Type type);
/// `clamp(lengths[batch], 0, extent)` (varlen), or `extent` without lengths.
Value validLength(ImplicitLocOpBuilder &b, Value lengths, Value batch,
                  Value extent);

//===----------------------------------------------------------------------===//
// linalg.generic helpers
//===----------------------------------------------------------------------===//

using BodyBuilder = function_ref<Value(ImplicitLocOpBuilder &, ValueRange)>;
using MultiBodyBuilder =
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, ValueRange)>;

ResultRange buildGeneric(ImplicitLocOpBuilder &b, ValueRange inputs,
                         ValueRange inits, ArrayRef<AffineMap> maps,
                         ArrayRef<utils::IteratorType> iterators,
                         MultiBodyBuilder body);
Value buildGeneric(ImplicitLocOpBuilder &b, ValueRange inputs, Value init,
                   ArrayRef<AffineMap> maps,
                   ArrayRef<utils::IteratorType> iterators, BodyBuilder body);
/// The map of a `numDims`-d loop nest onto the listed loops.
AffineMap loopsMap(MLIRContext *context, unsigned numDims,
                   ArrayRef<unsigned> loops);
SmallVector<utils::IteratorType> parallelThenReductions(unsigned numParallel,
                                                        unsigned numReduction);
Value buildFilled(ImplicitLocOpBuilder &b, ArrayRef<OpFoldResult> sizes,
                  TypedAttr value);

/// A body of a single-output parallel generic that receives only the inputs.
inline auto withoutOutput(BodyBuilder body) {
  return [body](ImplicitLocOpBuilder &b, ValueRange args) {
    return body(b, args.drop_back());
  };
}

/// linalg.generic ops over a tensor of rows: the loops are the dimensions of
/// the full tensor, rows run along the last one. Each operand is indexed by
/// its rank: a full-rank operand by the identity, a per-row operand (one rank
/// less) by the map that drops the last loop.
class RowDomain {
public:
  RowDomain(MLIRContext *context, SmallVector<OpFoldResult> sizes)
      : context(context), sizes(std::move(sizes)) {}

  /// Elementwise over the full domain; `body` receives the inputs.
  Value map(ImplicitLocOpBuilder &b, ValueRange inputs, Type elementType,
            BodyBuilder body) const {
    Value init = tensor::EmptyOp::create(b, sizes, elementType);
    SmallVector<AffineMap> maps = operandMaps(inputs);
    maps.push_back(fullMap());
    return buildGeneric(b, inputs, init, maps,
                        parallelThenReductions(getRank(), 0),
                        withoutOutput(body));
  }

  /// Reduces every row to one f32: `body` receives the inputs, then the
  /// accumulator (initially `init`), and returns the new accumulator.
  Value reduceRows(ImplicitLocOpBuilder &b, ValueRange inputs, double init,
                   BodyBuilder body) const {
    Value accumulator = filledRows(b, init);
    SmallVector<AffineMap> maps = operandMaps(inputs);
    maps.push_back(rowMap());
    return buildGeneric(b, inputs, accumulator, maps,
                        parallelThenReductions(getRank() - 1, 1), body);
  }

  /// Elementwise over the rows; every input is per-row and `body` receives
  /// the inputs.
  Value mapRows(ImplicitLocOpBuilder &b, ValueRange inputs, Type elementType,
                BodyBuilder body) const {
    Value init = tensor::EmptyOp::create(b, getRowSizes(), elementType);
    SmallVector<AffineMap> maps(inputs.size() + 1, rowIdentityMap());
    return buildGeneric(b, inputs, init, maps,
                        parallelThenReductions(getRank() - 1, 0),
                        withoutOutput(body));
  }

  /// Elementwise over the rows, writing into the per-row tensors `updated`:
  /// `body` receives the inputs, then the current values of `updated`.
  ResultRange updateRows(ImplicitLocOpBuilder &b, ValueRange inputs,
                         ValueRange updated, MultiBodyBuilder body) const {
    SmallVector<AffineMap> maps(inputs.size() + updated.size(),
                                rowIdentityMap());
    return buildGeneric(b, inputs, updated, maps,
                        parallelThenReductions(getRank() - 1, 0), body);
  }

  /// Whether `predicate` of the per-row inputs holds for any row, as a
  /// rank-0 tensor<i1>.
  Value anyRow(ImplicitLocOpBuilder &b, ValueRange inputs,
               BodyBuilder predicate) const {
    Value accumulator = buildFilled(b, {}, b.getBoolAttr(false));
    SmallVector<AffineMap> maps(inputs.size(), rowIdentityMap());
    maps.push_back(AffineMap::get(getRank() - 1, 0, context));
    return buildGeneric(
        b, inputs, accumulator, maps, parallelThenReductions(0, getRank() - 1),
        [&](ImplicitLocOpBuilder &nested, ValueRange args) -> Value {
          Value holds = predicate(nested, args.drop_back());
          return arith::OrIOp::create(nested, args.back(), holds);
        });
  }

  Value filledRows(ImplicitLocOpBuilder &b, double value) const {
    return buildFilled(b, getRowSizes(), b.getF32FloatAttr(value));
  }

private:
  unsigned getRank() const { return sizes.size(); }
  ArrayRef<OpFoldResult> getRowSizes() const {
    return ArrayRef(sizes).drop_back();
  }
  AffineMap fullMap() const {
    return AffineMap::getMultiDimIdentityMap(getRank(), context);
  }
  AffineMap rowMap() const {
    return loopsMap(context, getRank(),
                    llvm::to_vector(llvm::seq<unsigned>(0, getRank() - 1)));
  }
  AffineMap rowIdentityMap() const {
    return AffineMap::getMultiDimIdentityMap(getRank() - 1, context);
  }
  SmallVector<AffineMap> operandMaps(ValueRange inputs) const {
    return llvm::map_to_vector(inputs, [&](Value input) {
      return cast<RankedTensorType>(input.getType()).getRank() == getRank()
                 ? fullMap()
                 : rowMap();
    });
  }

  MLIRContext *context;
  SmallVector<OpFoldResult> sizes;
};

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

struct NormalizedRows {
  /// The weights, zero where not visible and on empty rows.
  Value weights;
  /// The per-row statistic when requested, else null.
  Value statistic;
};

/// Row-wise alpha-entmax of `scores` over the entries where `visible` holds
/// (all when null); the statistic is the threshold tau.
NormalizedRows buildEntmax(ImplicitLocOpBuilder &b, const RowDomain &rows,
                           Value scores, Value visible, EntmaxAttr config,
                           bool withStatistic);
/// Softmax of the f32 `scores` over the `visible` entries; with `shift`
/// (per row) the elastic softmax max(0, P + shift). The statistic is the
/// log-sum-exp.
NormalizedRows buildSoftmax(ImplicitLocOpBuilder &b, const RowDomain &rows,
                            Value scores, Value visible, Value shift,
                            bool withStatistic);

//===----------------------------------------------------------------------===//
// Token-level masks
//===----------------------------------------------------------------------===//

/// Reads loop `loop` of a [B, H, Nq, Nk] generic as an index into a batch or
/// head dimension of extent `extent`: 0 when the extent is 1 (broadcast).
Value broadcastLoopIndex(ImplicitLocOpBuilder &b, OpFoldResult extent,
                         int64_t loop);

/// Reads a token-level mask `tensor<Bm x Hm x Nq x Nk x i1>` inside the body
/// of a generic over (b, h, i, j), broadcasting a batch or head extent of 1.
class MaskReader {
public:
  MaskReader(ImplicitLocOpBuilder &b, Value mask)
      : mask(mask), batchExtent(tensor::getMixedSize(b, b.getLoc(), mask, 0)),
        headExtent(tensor::getMixedSize(b, b.getLoc(), mask, 1)) {}

  Value read(ImplicitLocOpBuilder &b, Value row, Value column) const {
    Value indices[] = {broadcastLoopIndex(b, batchExtent, 0),
                       broadcastLoopIndex(b, headExtent, 1), row, column};
    return tensor::ExtractOp::create(b, mask, indices);
  }

private:
  Value mask;
  OpFoldResult batchExtent;
  OpFoldResult headExtent;
};

/// Per-row lists of the positions whose flag is set in `flags [..., N] x
/// i1` (e.g. key blocks J of `[B, H, QB, KB]`): the counts `[...]` and the
/// ascending positions `[..., N]`, padded with zeros (all i32).
std::pair<Value, Value> buildBlockList(ImplicitLocOpBuilder &b, Value flags);

//===----------------------------------------------------------------------===//
// Prefill ops
//===----------------------------------------------------------------------===//

/// The reference lowering of the prefill estimators, head routing and
/// prefill (PrefillToLinalg.cpp); masks convert with `typeConverter`.
void populatePrefillToLinalgPatterns(const TypeConverter &typeConverter,
                                     RewritePatternSet &patterns);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOLINALG_LINALGBUILDERS_H
