//===- PrefillToLinalg.cpp - reference lowering of the prefill ops --------===//
//
// The naive form of the prefill estimators (docs/design/semantics.md,
// "Prefill estimators") in f32: every intermediate of the published
// algorithms is materialised in full ([B, H, groups, groups] antidiagonal
// scores, [B, H, rows, Nk] estimation rows, block masses and profiles), and
// every selection is exact: an entry's rank counts the candidates before it
// in the ranked order, the values are gathered in that order and their
// cumulative sums accumulated in it, so that a threshold always selects a
// prefix of the order. Elementwise linalg.generic ops carry the results;
// reductions whose bounds depend on the data are scf.for loops in their
// bodies. Masks become their token-level visibility.
//
//===----------------------------------------------------------------------===//

#include "LinalgBuilders.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::sparse_attn;

//===----------------------------------------------------------------------===//
// Building blocks
//===----------------------------------------------------------------------===//

using IndexedBody = function_ref<Value(ImplicitLocOpBuilder &, ValueRange)>;

/// A tensor of `sizes` whose element at the loop indices is `body`'s value.
static Value buildIndexed(ImplicitLocOpBuilder &b, ArrayRef<OpFoldResult> sizes,
                          Type elementType, IndexedBody body) {
  Value init = tensor::EmptyOp::create(b, sizes, elementType);
  unsigned rank = sizes.size();
  return buildGeneric(b, {}, init,
                      {AffineMap::getMultiDimIdentityMap(rank, b.getContext())},
                      parallelThenReductions(rank, 0),
                      [&](ImplicitLocOpBuilder &nb, ValueRange) {
                        SmallVector<Value> indices;
                        for (unsigned dim = 0; dim < rank; ++dim)
                          indices.push_back(loopIndex(nb, dim));
                        return body(nb, indices);
                      });
}

/// `init` plus `term(i)` for i in [lower, upper), summed in order (f32 or
/// integer, as `init`).
static Value buildSum(ImplicitLocOpBuilder &b, Value lower, Value upper,
                      Value init,
                      function_ref<Value(ImplicitLocOpBuilder &, Value)> term) {
  auto loop = scf::ForOp::create(
      b, lower, upper, indexConstant(b, 1), init,
      [&](OpBuilder &nested, Location loc, Value index, ValueRange carried) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value value = term(nb, index);
        Value sum =
            isa<FloatType>(value.getType())
                ? arith::AddFOp::create(nb, carried[0], value).getResult()
                : arith::AddIOp::create(nb, carried[0], value).getResult();
        scf::YieldOp::create(nb, sum);
      });
  return loop.getResult(0);
}

/// `thenValue()` where `condition` holds, else `otherwise`; `thenValue` is
/// only evaluated there (it may read out of bounds elsewhere).
static Value
buildGuarded(ImplicitLocOpBuilder &b, Value condition, Value otherwise,
             function_ref<Value(ImplicitLocOpBuilder &)> thenValue) {
  // The result type is inferred from the yields.
  auto guarded = scf::IfOp::create(
      b, condition,
      [&](OpBuilder &nested, Location loc) {
        ImplicitLocOpBuilder nb(loc, nested);
        scf::YieldOp::create(nb, thenValue(nb));
      },
      [&](OpBuilder &nested, Location loc) {
        scf::YieldOp::create(nested, loc, otherwise);
      });
  return guarded.getResult(0);
}

static Value extract(ImplicitLocOpBuilder &b, Value tensor,
                     ValueRange indices) {
  return tensor::ExtractOp::create(b, tensor, indices);
}

static Value cmpi(ImplicitLocOpBuilder &b, arith::CmpIPredicate predicate,
                  Value lhs, Value rhs) {
  return arith::CmpIOp::create(b, predicate, lhs, rhs);
}

static Value allOf(ImplicitLocOpBuilder &b, ArrayRef<Value> conditions) {
  Value all = conditions.front();
  for (Value condition : conditions.drop_front())
    all = arith::AndIOp::create(b, all, condition);
  return all;
}

static Value anyOf(ImplicitLocOpBuilder &b, ArrayRef<Value> conditions) {
  Value any = conditions.front();
  for (Value condition : conditions.drop_front())
    any = arith::OrIOp::create(b, any, condition);
  return any;
}

/// ceil(extent / divisor), folded when static.
static OpFoldResult ceilDiv(ImplicitLocOpBuilder &b, OpFoldResult extent,
                            int64_t divisor) {
  if (std::optional<int64_t> value = getConstantIntValue(extent))
    return b.getIndexAttr(llvm::divideCeil(*value, divisor));
  return arith::CeilDivUIOp::create(b, cast<Value>(extent),
                                    indexConstant(b, divisor))
      .getResult();
}

static Value ceilDiv(ImplicitLocOpBuilder &b, Value value, int64_t divisor) {
  return arith::CeilDivSIOp::create(b, value, indexConstant(b, divisor));
}

//===----------------------------------------------------------------------===//
// Exact selection
//===----------------------------------------------------------------------===//

/// For each row (last dimension) of the f32 `values`: how many entries that
/// `candidates` marks come before each entry in ranked order (descending
/// value, ties to the lower index), i32 -- a candidate's rank among the
/// candidates.
static Value buildRanks(ImplicitLocOpBuilder &b, Value values,
                        Value candidates) {
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, b.getLoc(), values);
  Value length = getValueOrCreateConstantIndexOp(b, b.getLoc(), sizes.back());
  return buildIndexed(
      b, sizes, b.getI32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value value = extract(nb, values, at);
        SmallVector<Value> other(at);
        return buildSum(
            nb, indexConstant(nb, 0), length, i32Constant(nb, 0),
            [&](ImplicitLocOpBuilder &inner, Value index) {
              other.back() = index;
              Value otherValue = extract(inner, values, other);
              Value greater = arith::CmpFOp::create(
                  inner, arith::CmpFPredicate::OGT, otherValue, value);
              Value equal = arith::CmpFOp::create(
                  inner, arith::CmpFPredicate::OEQ, otherValue, value);
              Value lower =
                  cmpi(inner, arith::CmpIPredicate::ult, index, at.back());
              Value before = arith::OrIOp::create(
                  inner, greater, arith::AndIOp::create(inner, equal, lower));
              Value counted = arith::AndIOp::create(
                  inner, extract(inner, candidates, other), before);
              return arith::ExtUIOp::create(inner, inner.getI32Type(), counted);
            });
      });
}

/// `sorted[..., r]`: the value of the candidate of rank r (0 past the last
/// candidate).
static Value buildSortedByRank(ImplicitLocOpBuilder &b, Value values,
                               Value candidates, Value ranks) {
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, b.getLoc(), values);
  Value length = getValueOrCreateConstantIndexOp(b, b.getLoc(), sizes.back());
  return buildIndexed(
      b, sizes, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value position = indexToI32(nb, at.back());
        SmallVector<Value> entry(at);
        return buildSum(
            nb, indexConstant(nb, 0), length, f32Constant(nb, 0.0),
            [&](ImplicitLocOpBuilder &inner, Value index) {
              entry.back() = index;
              Value ranked = cmpi(inner, arith::CmpIPredicate::eq,
                                  extract(inner, ranks, entry), position);
              Value here = arith::AndIOp::create(
                  inner, extract(inner, candidates, entry), ranked);
              return select(inner, here, extract(inner, values, entry),
                            f32Constant(inner, 0.0));
            });
      });
}

/// Cumulative sums of each row of `sorted`, in order, starting from the
/// per-row `start` (0 when null): `start + sorted[0] + ... + sorted[r - 1]`,
/// up to `sorted[r]` when `inclusive`.
static Value buildPrefixSums(ImplicitLocOpBuilder &b, Value sorted, Value start,
                             bool inclusive) {
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, b.getLoc(), sorted);
  return buildIndexed(
      b, sizes, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value init =
            start ? extract(nb, start, at.drop_back()) : f32Constant(nb, 0.0);
        Value upper = at.back();
        if (inclusive)
          upper = arith::AddIOp::create(nb, upper, indexConstant(nb, 1));
        SmallVector<Value> entry(at);
        return buildSum(nb, indexConstant(nb, 0), upper, init,
                        [&](ImplicitLocOpBuilder &inner, Value index) {
                          entry.back() = index;
                          return extract(inner, sorted, entry);
                        });
      });
}

/// Top-k of each row (last dimension) of `values` whose first `length[row]`
/// entries compete, with the forced set `[0, forced)`: the forced entries
/// and the first `budget[row] - min(forced, length)` others in ranked
/// order (i1).
static Value buildTopK(ImplicitLocOpBuilder &b, Value values, Value length,
                       int64_t forced, Value budget) {
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, b.getLoc(), values);
  auto forcedCount = [&](ImplicitLocOpBuilder &nb, ValueRange at) {
    return arith::MinSIOp::create(nb, indexConstant(nb, forced),
                                  extract(nb, length, at.drop_back()));
  };
  Value candidates = buildIndexed(
      b, sizes, b.getI1Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value inRow = cmpi(nb, arith::CmpIPredicate::slt, at.back(),
                           extract(nb, length, at.drop_back()));
        Value notForced = cmpi(nb, arith::CmpIPredicate::sge, at.back(),
                               indexConstant(nb, forced));
        return arith::AndIOp::create(nb, inRow, notForced);
      });
  Value ranks = buildRanks(b, values, candidates);
  return buildIndexed(
      b, sizes, b.getI1Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value count = forcedCount(nb, at);
        Value isForced = cmpi(nb, arith::CmpIPredicate::slt, at.back(), count);
        Value others = arith::SubIOp::create(
            nb, extract(nb, budget, at.drop_back()), count);
        Value rank = arith::IndexCastOp::create(nb, nb.getIndexType(),
                                                extract(nb, ranks, at));
        Value taken =
            allOf(nb, {extract(nb, candidates, at),
                       cmpi(nb, arith::CmpIPredicate::slt, rank, others)});
        return arith::OrIOp::create(nb, isForced, taken);
      });
}

//===----------------------------------------------------------------------===//
// Estimator operands
//===----------------------------------------------------------------------===//

namespace {
/// q, k, the valid lengths and the scale of an estimator, and the reads of
/// its bodies.
class EstimatorInputs {
public:
  EstimatorInputs(ImplicitLocOpBuilder &b, Value query, Value key,
                  Value queryLengths, Value keyLengths, double scale)
      : query(query), key(key), queryLengths(queryLengths),
        keyLengths(keyLengths), scale(scale) {
    Location loc = b.getLoc();
    batch = tensor::getMixedSize(b, loc, query, 0);
    heads = tensor::getMixedSize(b, loc, query, 1);
    queryLength = tensor::getMixedSize(b, loc, query, 2);
    keyLength = tensor::getMixedSize(b, loc, key, 2);
    kvHeads = tensor::getMixedSize(b, loc, key, 1);
    headDim = cast<RankedTensorType>(query.getType()).getDimSize(3);
    queryLengthValue = getValueOrCreateConstantIndexOp(b, loc, queryLength);
    keyLengthValue = getValueOrCreateConstantIndexOp(b, loc, keyLength);
    groupSize = b.createOrFold<arith::DivUIOp>(
        getValueOrCreateConstantIndexOp(b, loc, heads),
        getValueOrCreateConstantIndexOp(b, loc, kvHeads));
  }

  /// [B, H, trailing...].
  SmallVector<OpFoldResult> sizes(ArrayRef<OpFoldResult> trailing) const {
    SmallVector<OpFoldResult> result = {batch, heads};
    result.append(trailing.begin(), trailing.end());
    return result;
  }

  /// (Lq, Lk) of sequence `batchIndex`.
  std::pair<Value, Value> validLengths(ImplicitLocOpBuilder &nb,
                                       Value batchIndex) const {
    return {validLength(nb, queryLengths, batchIndex, queryLengthValue),
            validLength(nb, keyLengths, batchIndex, keyLengthValue)};
  }

  Value kvHead(ImplicitLocOpBuilder &nb, Value head) const {
    return nb.createOrFold<arith::DivUIOp>(head, groupSize);
  }

  /// q[b, h, row, :] . k[b, h / g, column, :] in f32 (indices in bounds).
  Value dot(ImplicitLocOpBuilder &nb, Value batchIndex, Value head, Value row,
            Value column) const {
    Value kv = kvHead(nb, head);
    return buildSum(
        nb, indexConstant(nb, 0), indexConstant(nb, headDim),
        f32Constant(nb, 0.0), [&](ImplicitLocOpBuilder &inner, Value d) {
          Value q =
              toF32(inner, extract(inner, query, {batchIndex, head, row, d}));
          Value k =
              toF32(inner, extract(inner, key, {batchIndex, kv, column, d}));
          return arith::MulFOp::create(inner, q, k);
        });
  }

  Value query, key, queryLengths, keyLengths;
  double scale;
  OpFoldResult batch, heads, queryLength, keyLength, kvHeads;
  Value queryLengthValue, keyLengthValue, groupSize;
  int64_t headDim;
};

/// The valid rows of query block I and the key blocks holding their
/// positions, D(I), inside a body.
struct QueryBlockRows {
  QueryBlockRows(ImplicitLocOpBuilder &nb, Value blockIndex, int64_t queryBlock,
                 int64_t keyBlock, Value validQueries, Value validKeys) {
    Value offset = arith::SubIOp::create(nb, validKeys, validQueries);
    first =
        arith::MulIOp::create(nb, blockIndex, indexConstant(nb, queryBlock));
    Value end = arith::MinSIOp::create(
        nb, arith::AddIOp::create(nb, first, indexConstant(nb, queryBlock)),
        validQueries);
    rowCount = arith::SubIOp::create(nb, end, first);
    lastPosition = arith::AddIOp::create(
        nb, arith::SubIOp::create(nb, end, indexConstant(nb, 1)), offset);
    Value firstPosition = arith::MaxSIOp::create(
        nb, arith::AddIOp::create(nb, first, offset), indexConstant(nb, 0));
    hasPosition =
        cmpi(nb, arith::CmpIPredicate::sge, lastPosition, indexConstant(nb, 0));
    Value size = indexConstant(nb, keyBlock);
    firstOwn = arith::FloorDivSIOp::create(nb, firstPosition, size);
    lastOwn = arith::FloorDivSIOp::create(nb, lastPosition, size);
  }

  /// Whether key block `keyBlockIndex` is in D(I).
  Value isOwn(ImplicitLocOpBuilder &nb, Value keyBlockIndex) const {
    return allOf(nb,
                 {hasPosition,
                  cmpi(nb, arith::CmpIPredicate::sge, keyBlockIndex, firstOwn),
                  cmpi(nb, arith::CmpIPredicate::sle, keyBlockIndex, lastOwn)});
  }

  /// The first row, the number of valid rows (may be <= 0), the position
  /// of the last valid row, whether it is >= 0, and D(I) = [firstOwn,
  /// lastOwn] when it is.
  Value first, rowCount, lastPosition, hasPosition, firstOwn, lastOwn;
};

} // namespace

/// The estimation rows of the last `rows` valid queries, [B, H, rows, Nk]:
/// row r is query i = Lq - n + r for r < n = min(rows, Lq), the softmax of
/// scale * q_i . k_j over its visible keys; the other rows are zero.
static Value buildEstimationRows(ImplicitLocOpBuilder &b,
                                 const EstimatorInputs &in, int64_t rows) {
  SmallVector<OpFoldResult> sizes =
      in.sizes({b.getIndexAttr(rows), in.keyLength});
  // Query index and validity of row `r` of sequence `batchIndex`.
  auto rowQuery = [&](ImplicitLocOpBuilder &nb, Value validQueries,
                      Value row) -> std::pair<Value, Value> {
    Value count =
        arith::MinSIOp::create(nb, validQueries, indexConstant(nb, rows));
    Value query = arith::AddIOp::create(
        nb, arith::SubIOp::create(nb, validQueries, count), row);
    return {query, cmpi(nb, arith::CmpIPredicate::slt, row, count)};
  };
  Value scores = buildIndexed(
      b, sizes, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        auto [query, isRow] = rowQuery(nb, validQueries, at[2]);
        Value inKeys = cmpi(nb, arith::CmpIPredicate::slt, at[3], validKeys);
        return buildGuarded(
            nb, arith::AndIOp::create(nb, isRow, inKeys), f32Constant(nb, 0.0),
            [&](ImplicitLocOpBuilder &inner) -> Value {
              Value dot = in.dot(inner, at[0], at[1], query, at[3]);
              return arith::MulFOp::create(inner, dot,
                                           f32Constant(inner, in.scale));
            });
      });
  Value visible = buildIndexed(
      b, sizes, b.getI1Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        auto [query, isRow] = rowQuery(nb, validQueries, at[2]);
        Value position = arith::AddIOp::create(
            nb, query, arith::SubIOp::create(nb, validKeys, validQueries));
        return allOf(
            nb, {isRow, cmpi(nb, arith::CmpIPredicate::slt, at[3], validKeys),
                 cmpi(nb, arith::CmpIPredicate::sle, at[3], position)});
      });
  RowDomain domain(b.getContext(), sizes);
  return buildSoftmax(b, domain, scores, visible, Value(),
                      /*withStatistic=*/false)
      .weights;
}

/// Column sums and diagonal sums [B, H, Nk] of the estimation rows
/// `weights` [B, H, rows, Nk]: `vertical[j] = sum_r w[r, j]`,
/// `slash[o] = sum_r w[r, pos_r - o]`; divided by the number of valid rows
/// when `mean`.
static std::pair<Value, Value> buildVerticalAndSlash(ImplicitLocOpBuilder &b,
                                                     const EstimatorInputs &in,
                                                     Value weights,
                                                     int64_t rows, bool mean) {
  SmallVector<OpFoldResult> sizes = in.sizes({in.keyLength});
  auto normalise = [&](ImplicitLocOpBuilder &nb, Value sum,
                       Value validQueries) -> Value {
    if (!mean)
      return sum;
    Value count =
        arith::MinSIOp::create(nb, validQueries, indexConstant(nb, rows));
    Value divisor =
        indexToF32(nb, arith::MaxSIOp::create(nb, count, indexConstant(nb, 1)));
    return arith::DivFOp::create(nb, sum, divisor);
  };
  Value lastKey =
      arith::SubIOp::create(b, in.keyLengthValue, indexConstant(b, 1));
  Value vertical = buildIndexed(
      b, sizes, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        Value sum = buildSum(
            nb, indexConstant(nb, 0), indexConstant(nb, rows),
            f32Constant(nb, 0.0), [&](ImplicitLocOpBuilder &inner, Value row) {
              return extract(inner, weights, {at[0], at[1], row, at[2]});
            });
        return normalise(nb, sum, validQueries);
      });
  Value slash = buildIndexed(
      b, sizes, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        Value count =
            arith::MinSIOp::create(nb, validQueries, indexConstant(nb, rows));
        // Row r's position is Lk - n + r; its key at offset o is that - o.
        Value firstColumn = arith::SubIOp::create(
            nb, arith::SubIOp::create(nb, validKeys, count), at[2]);
        Value sum = buildSum(
            nb, indexConstant(nb, 0), indexConstant(nb, rows),
            f32Constant(nb, 0.0), [&](ImplicitLocOpBuilder &inner, Value row) {
              Value column = arith::AddIOp::create(inner, firstColumn, row);
              Value inRange = cmpi(inner, arith::CmpIPredicate::sge, column,
                                   indexConstant(inner, 0));
              Value weight = extract(
                  inner, weights,
                  {at[0], at[1], row, clampIndex(inner, column, lastKey)});
              return select(inner, inRange, weight, f32Constant(inner, 0.0));
            });
        return normalise(nb, sum, validQueries);
      });
  return {vertical, slash};
}

/// The token-level mask of the block selection `selected` [B, H, QB, KB]:
/// valid pairs (causal ones when `causal`) of the selected blocks.
static Value buildBlockTokens(ImplicitLocOpBuilder &b,
                              const EstimatorInputs &in, Value selected,
                              int64_t queryBlock, int64_t keyBlock,
                              bool causal) {
  return buildIndexed(
      b, in.sizes({in.queryLength, in.keyLength}), b.getI1Type(),
      [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        SmallVector<Value> conditions = {
            cmpi(nb, arith::CmpIPredicate::slt, at[2], validQueries),
            cmpi(nb, arith::CmpIPredicate::slt, at[3], validKeys)};
        if (causal) {
          Value position = arith::AddIOp::create(
              nb, at[2], arith::SubIOp::create(nb, validKeys, validQueries));
          conditions.push_back(
              cmpi(nb, arith::CmpIPredicate::sle, at[3], position));
        }
        Value rowBlock =
            arith::DivUIOp::create(nb, at[2], indexConstant(nb, queryBlock));
        Value columnBlock =
            arith::DivUIOp::create(nb, at[3], indexConstant(nb, keyBlock));
        conditions.push_back(
            extract(nb, selected, {at[0], at[1], rowBlock, columnBlock}));
        return allOf(nb, conditions);
      });
}

/// Sums `values` [B, H', N, ...] over blocks of `block` along dimension 2
/// into [B, H', ceil(N / block), ...] (entries past the valid lengths must
/// be zero).
static Value buildBlockSums(ImplicitLocOpBuilder &b, Value values,
                            int64_t block) {
  MLIRContext *context = b.getContext();
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, b.getLoc(), values);
  unsigned rank = sizes.size();
  sizes[2] = ceilDiv(b, sizes[2], block);
  SmallVector<AffineExpr> outputExprs;
  for (unsigned dim = 0; dim < rank; ++dim)
    outputExprs.push_back(dim == 2
                              ? getAffineDimExpr(dim, context).floorDiv(block)
                              : getAffineDimExpr(dim, context));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators[2] = utils::IteratorType::reduction;
  return buildGeneric(b, values, buildFilled(b, sizes, b.getF32FloatAttr(0.0)),
                      {AffineMap::getMultiDimIdentityMap(rank, context),
                       AffineMap::get(rank, 0, outputExprs, context)},
                      iterators, [](ImplicitLocOpBuilder &nb, ValueRange args) {
                        return arith::AddFOp::create(nb, args[1], args[0]);
                      });
}

//===----------------------------------------------------------------------===//
// XAttention
//===----------------------------------------------------------------------===//

/// The antidiagonal score of strided query group `queryGroup` and key group
/// `keyGroup` of (b, h): scale / S * sum_t q[S a + S-1-t] . k[S c + t] over
/// the valid positions, inside a body.
static Value buildAntidiagonalScore(ImplicitLocOpBuilder &nb,
                                    const EstimatorInputs &in, int64_t stride,
                                    Value batchIndex, Value head,
                                    Value queryGroup, Value keyGroup) {
  auto [validQueries, validKeys] = in.validLengths(nb, batchIndex);
  Value strideValue = indexConstant(nb, stride);
  Value firstRow = arith::MulIOp::create(nb, queryGroup, strideValue);
  Value firstKey = arith::MulIOp::create(nb, keyGroup, strideValue);
  Value lastRow =
      arith::AddIOp::create(nb, firstRow, indexConstant(nb, stride - 1));
  Value sum = buildSum(
      nb, indexConstant(nb, 0), strideValue, f32Constant(nb, 0.0),
      [&](ImplicitLocOpBuilder &inner, Value t) {
        Value row = arith::SubIOp::create(inner, lastRow, t);
        Value column = arith::AddIOp::create(inner, firstKey, t);
        Value inside = allOf(
            inner, {cmpi(inner, arith::CmpIPredicate::slt, row, validQueries),
                    cmpi(inner, arith::CmpIPredicate::slt, column, validKeys)});
        return buildGuarded(inner, inside, f32Constant(inner, 0.0),
                            [&](ImplicitLocOpBuilder &guarded) {
                              return in.dot(guarded, batchIndex, head, row,
                                            column);
                            });
      });
  return arith::MulFOp::create(
      nb, sum, f32Constant(nb, in.scale / static_cast<double>(stride)));
}

/// Whether strided query group `queryGroup` sees key group `keyGroup` in
/// sequence `batchIndex`: both start at valid positions and, when causal,
/// the key group starts at or before the last position of the query group.
static Value buildGroupVisible(ImplicitLocOpBuilder &nb,
                               const EstimatorInputs &in, int64_t stride,
                               bool causal, Value batchIndex, Value queryGroup,
                               Value keyGroup) {
  auto [validQueries, validKeys] = in.validLengths(nb, batchIndex);
  Value strideValue = indexConstant(nb, stride);
  Value firstRow = arith::MulIOp::create(nb, queryGroup, strideValue);
  Value firstKey = arith::MulIOp::create(nb, keyGroup, strideValue);
  SmallVector<Value> conditions = {
      cmpi(nb, arith::CmpIPredicate::slt, firstRow, validQueries),
      cmpi(nb, arith::CmpIPredicate::slt, firstKey, validKeys)};
  if (causal) {
    Value end = arith::MinSIOp::create(
        nb, arith::AddIOp::create(nb, firstRow, strideValue), validQueries);
    Value lastPosition = arith::AddIOp::create(
        nb, arith::SubIOp::create(nb, end, indexConstant(nb, 1)),
        arith::SubIOp::create(nb, validKeys, validQueries));
    conditions.push_back(
        cmpi(nb, arith::CmpIPredicate::sle, firstKey, lastPosition));
  }
  return allOf(nb, conditions);
}

/// Sums the per-group `values` [B, H, Gq, KB] over the strided query groups
/// of each query block into [B, H, QB, KB].
static Value buildQueryBlockSums(ImplicitLocOpBuilder &b,
                                 const EstimatorInputs &in, Value values,
                                 int64_t groupsPerQueryBlock,
                                 OpFoldResult keyBlocks, int64_t queryBlock) {
  MLIRContext *context = b.getContext();
  AffineExpr batch = getAffineDimExpr(0, context),
             head = getAffineDimExpr(1, context),
             group = getAffineDimExpr(2, context),
             keyBlock = getAffineDimExpr(3, context);
  SmallVector<OpFoldResult> blockSizes =
      in.sizes({ceilDiv(b, in.queryLength, queryBlock), keyBlocks});
  return buildGeneric(
      b, values, buildFilled(b, blockSizes, b.getF32FloatAttr(0.0)),
      {AffineMap::getMultiDimIdentityMap(4, context),
       AffineMap::get(
           4, 0, {batch, head, group.floorDiv(groupsPerQueryBlock), keyBlock},
           context)},
      {utils::IteratorType::parallel, utils::IteratorType::parallel,
       utils::IteratorType::reduction, utils::IteratorType::parallel},
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        return arith::AddFOp::create(nb, args[1], args[0]);
      });
}

/// XAttention's block mass A [B, H, QB, KB] as the reference computes it:
/// the whole strided score matrix [B, H, Gq, Gk], its softmax, then block
/// sums.
static Value buildXAttentionMass(ImplicitLocOpBuilder &b,
                                 const EstimatorInputs &in, int64_t stride,
                                 bool causal, int64_t queryBlock,
                                 int64_t keyBlock) {
  Type f32 = b.getF32Type(), i1 = b.getI1Type();
  SmallVector<OpFoldResult> groupSizes = in.sizes(
      {ceilDiv(b, in.queryLength, stride), ceilDiv(b, in.keyLength, stride)});
  Value scores = buildIndexed(b, groupSizes, f32,
                              [&](ImplicitLocOpBuilder &nb, ValueRange at) {
                                return buildAntidiagonalScore(
                                    nb, in, stride, at[0], at[1], at[2], at[3]);
                              });
  Value groupVisible = buildIndexed(
      b, groupSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        return buildGroupVisible(nb, in, stride, causal, at[0], at[2], at[3]);
      });
  Value probabilities =
      buildSoftmax(b, RowDomain(b.getContext(), groupSizes), scores,
                   groupVisible, Value(), /*withStatistic=*/false)
          .weights;

  // Groups a and c fall in blocks a / (BQ / S) and c / (BK / S).
  MLIRContext *context = b.getContext();
  SmallVector<OpFoldResult> blockSizes =
      in.sizes({ceilDiv(b, in.queryLength, queryBlock),
                ceilDiv(b, in.keyLength, keyBlock)});
  AffineMap toBlocks = AffineMap::get(
      4, 0,
      {getAffineDimExpr(0, context), getAffineDimExpr(1, context),
       getAffineDimExpr(2, context).floorDiv(queryBlock / stride),
       getAffineDimExpr(3, context).floorDiv(keyBlock / stride)},
      context);
  return buildGeneric(b, probabilities,
                      buildFilled(b, blockSizes, b.getF32FloatAttr(0.0)),
                      {AffineMap::getMultiDimIdentityMap(4, context), toBlocks},
                      parallelThenReductions(2, 2),
                      [](ImplicitLocOpBuilder &nb, ValueRange args) {
                        return arith::AddFOp::create(nb, args[1], args[0]);
                      });
}

/// XAttention's block mass A [B, H, QB, KB] in one pass over the keys: a
/// loop over the key blocks J computes the strided scores of J's groups
/// only, [B, H, Gq, BK / S], updates the running max m of every strided row
/// and records the partial sum s_J = sum exp(z - m_J) with the max m_J it
/// was taken at. At the end each partial is rescaled by exp(m_J - m) and
/// normalised by the row total: the softmax and the block sums without the
/// strided score matrix, which is never stored.
static Value buildXAttentionMassOnePass(ImplicitLocOpBuilder &b,
                                        const EstimatorInputs &in,
                                        int64_t stride, bool causal,
                                        int64_t queryBlock, int64_t keyBlock) {
  MLIRContext *context = b.getContext();
  Type f32 = b.getF32Type();
  int64_t groupsPerKeyBlock = keyBlock / stride;
  OpFoldResult queryGroups = ceilDiv(b, in.queryLength, stride);
  OpFoldResult keyBlocks = ceilDiv(b, in.keyLength, keyBlock);
  SmallVector<OpFoldResult> rowSizes = in.sizes({queryGroups});
  SmallVector<OpFoldResult> partialSizes = in.sizes({queryGroups, keyBlocks});
  RowDomain tileRows(
      context, in.sizes({queryGroups, b.getIndexAttr(groupsPerKeyBlock)}));
  RowDomain partialRows(context, partialSizes);
  Value negativeInfinity = f32Constant(b, -kInfinity);

  auto maximum = [](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
    return arith::MaximumFOp::create(nb, args[0], args[1]);
  };
  auto loop = scf::ForOp::create(
      b, indexConstant(b, 0),
      getValueOrCreateConstantIndexOp(b, b.getLoc(), keyBlocks),
      indexConstant(b, 1),
      ValueRange{buildFilled(b, rowSizes, b.getF32FloatAttr(-kInfinity)),
                 buildFilled(b, partialSizes, b.getF32FloatAttr(0.0)),
                 buildFilled(b, partialSizes, b.getF32FloatAttr(-kInfinity))},
      [&](OpBuilder &nested, Location loc, Value block, ValueRange carried) {
        ImplicitLocOpBuilder nb(loc, nested);
        Value firstGroup = arith::MulIOp::create(
            nb, block, indexConstant(nb, groupsPerKeyBlock));
        // The scores of key block J, -inf where not visible.
        Value scores = tileRows.map(
            nb, {}, f32, [&](ImplicitLocOpBuilder &body, ValueRange) {
              Value keyGroup =
                  arith::AddIOp::create(body, firstGroup, loopIndex(body, 3));
              Value batchIndex = loopIndex(body, 0), head = loopIndex(body, 1),
                    queryGroup = loopIndex(body, 2);
              return buildGuarded(
                  body,
                  buildGroupVisible(body, in, stride, causal, batchIndex,
                                    queryGroup, keyGroup),
                  negativeInfinity, [&](ImplicitLocOpBuilder &guarded) {
                    return buildAntidiagonalScore(guarded, in, stride,
                                                  batchIndex, head, queryGroup,
                                                  keyGroup);
                  });
            });
        Value blockMax = tileRows.reduceRows(nb, scores, -kInfinity, maximum);
        Value runningMax =
            tileRows.mapRows(nb, {carried[0], blockMax}, f32, maximum);
        Value partialSum = tileRows.reduceRows(
            nb, {scores, runningMax}, 0.0,
            [&](ImplicitLocOpBuilder &body, ValueRange args) {
              Value visible = arith::CmpFOp::create(
                  body, arith::CmpFPredicate::OGT, args[0], negativeInfinity);
              Value term = math::ExpOp::create(
                  body, arith::SubFOp::create(body, args[0], args[1]));
              return arith::AddFOp::create(
                  body, args[2],
                  select(body, visible, term, f32Constant(body, 0.0)));
            });
        // Column J of the partial sums and of their maxes.
        auto insertColumn = [&](Value column, Value into) -> Value {
          SmallVector<OpFoldResult> offsets(4, nb.getIndexAttr(0));
          offsets[3] = block;
          SmallVector<OpFoldResult> sizes(rowSizes);
          sizes.push_back(nb.getIndexAttr(1));
          return tensor::InsertSliceOp::create(
              nb, column, into, offsets, sizes,
              SmallVector<OpFoldResult>(4, nb.getIndexAttr(1)));
        };
        scf::YieldOp::create(
            nb, ValueRange{runningMax, insertColumn(partialSum, carried[1]),
                           insertColumn(runningMax, carried[2])});
      });
  Value rowMax = loop.getResult(0);

  // s_J exp(m_J - m); rows and blocks without visible pairs hold 0.
  Value rescaled = partialRows.map(
      b, {loop.getResult(1), loop.getResult(2), rowMax}, f32,
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value positive = arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT,
                                               args[0], f32Constant(nb, 0.0));
        Value factor = math::ExpOp::create(
            nb, arith::SubFOp::create(nb, args[1], args[2]));
        return select(nb, positive, arith::MulFOp::create(nb, args[0], factor),
                      f32Constant(nb, 0.0));
      });
  Value rowTotal = partialRows.reduceRows(
      b, rescaled, 0.0, [](ImplicitLocOpBuilder &nb, ValueRange args) {
        return arith::AddFOp::create(nb, args[1], args[0]);
      });
  Value probabilities = partialRows.map(
      b, {rescaled, rowTotal}, f32,
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value positive = arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT,
                                               args[1], f32Constant(nb, 0.0));
        return select(nb, positive, arith::DivFOp::create(nb, args[0], args[1]),
                      f32Constant(nb, 0.0));
      });
  return buildQueryBlockSums(b, in, probabilities, queryBlock / stride,
                             keyBlocks, queryBlock);
}

/// XAttention's selected blocks [B, H, QB, KB] (i1, valid blocks only) from
/// the block mass: per query block row the sink and own blocks, then the
/// others in descending mass while the mass before them is below the
/// threshold share of the row total.
static Value buildXAttentionSelection(ImplicitLocOpBuilder &b,
                                      const EstimatorInputs &in, Value mass,
                                      XAttentionAttr config, Value thresholds,
                                      int64_t queryBlock, int64_t keyBlock) {
  Type i1 = b.getI1Type();
  MLIRContext *context = b.getContext();
  SmallVector<OpFoldResult> blockSizes =
      in.sizes({ceilDiv(b, in.queryLength, queryBlock),
                ceilDiv(b, in.keyLength, keyBlock)});
  // Forced blocks (sink and own positions) and the competing ones.
  auto classify = [&](bool forcedOnes) {
    return buildIndexed(
        b, blockSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
          auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
          QueryBlockRows rows(nb, at[2], queryBlock, keyBlock, validQueries,
                              validKeys);
          Value isValid = allOf(nb, {cmpi(nb, arith::CmpIPredicate::sgt,
                                          rows.rowCount, indexConstant(nb, 0)),
                                     cmpi(nb, arith::CmpIPredicate::slt, at[3],
                                          ceilDiv(nb, validKeys, keyBlock))});
          Value isForced = anyOf(nb, {cmpi(nb, arith::CmpIPredicate::eq, at[3],
                                           indexConstant(nb, 0)),
                                      rows.isOwn(nb, at[3])});
          if (!forcedOnes)
            isForced =
                arith::XOrIOp::create(nb, isForced, boolConstant(nb, true));
          return arith::AndIOp::create(nb, isValid, isForced);
        });
  };
  Value forced = classify(/*forcedOnes=*/true);
  Value candidates = classify(/*forcedOnes=*/false);
  RowDomain blockRows(context, blockSizes);
  Value total = blockRows.reduceRows(
      b, mass, 0.0, [](ImplicitLocOpBuilder &nb, ValueRange args) {
        return arith::AddFOp::create(nb, args[1], args[0]);
      });
  Value forcedMass = blockRows.reduceRows(
      b, {mass, forced}, 0.0, [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value sum = arith::AddFOp::create(nb, args[2], args[0]);
        return select(nb, args[1], sum, args[2]);
      });
  Value ranks = buildRanks(b, mass, candidates);
  Value before = buildPrefixSums(
      b, buildSortedByRank(b, mass, candidates, ranks), forcedMass,
      /*inclusive=*/false);

  return buildIndexed(
      b, blockSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value threshold = thresholds
                              ? extract(nb, thresholds, at[1])
                              : f32Constant(nb, config.getThresholdValue());
        Value required = arith::MulFOp::create(
            nb, threshold, extract(nb, total, at.drop_back()));
        Value rank = arith::IndexCastOp::create(nb, nb.getIndexType(),
                                                extract(nb, ranks, at));
        Value clamped = arith::MinSIOp::create(
            nb, rank,
            arith::SubIOp::create(nb, dimValue(nb, before, 3),
                                  indexConstant(nb, 1)));
        Value massBefore = extract(nb, before, {at[0], at[1], at[2], clamped});
        Value belowThreshold = arith::CmpFOp::create(
            nb, arith::CmpFPredicate::OLT, massBefore, required);
        Value taken = arith::AndIOp::create(nb, extract(nb, candidates, at),
                                            belowThreshold);
        return arith::OrIOp::create(nb, extract(nb, forced, at), taken);
      });
}

//===----------------------------------------------------------------------===//
// FlexPrefill
//===----------------------------------------------------------------------===//

/// FlexPrefill's selected blocks [B, H, QB, KB] (i1, valid blocks only) and
/// pattern codes [B, H] (i32).
static std::pair<Value, Value>
buildFlexPrefillSelection(ImplicitLocOpBuilder &b, const EstimatorInputs &in,
                          FlexPrefillAttr config, int64_t block) {
  MLIRContext *context = b.getContext();
  int64_t low = llvm::divideCeil(config.getMinBudget(), block);
  int64_t high = config.getMaxBudget()
                     ? llvm::divideCeil(*config.getMaxBudget(), block)
                     : std::numeric_limits<int32_t>::max();
  Type f32 = b.getF32Type(), i1 = b.getI1Type(), index = b.getIndexType();
  SmallVector<OpFoldResult> headSizes = in.sizes({});
  OpFoldResult keyBlocks = ceilDiv(b, in.keyLength, block);
  SmallVector<OpFoldResult> tokenSizes = in.sizes({in.keyLength});
  SmallVector<OpFoldResult> profileSizes = in.sizes({keyBlocks});
  SmallVector<OpFoldResult> blockSizes =
      in.sizes({ceilDiv(b, in.queryLength, block), keyBlocks});

  // Vertical and slash statistics of the last block of queries.
  Value weights = buildEstimationRows(b, in, block);
  auto [vertical, slash] =
      buildVerticalAndSlash(b, in, weights, block, /*mean=*/true);

  // Token budgets: how many ranked entries cover gamma, plus one.
  auto validKeysOf = [&](ImplicitLocOpBuilder &nb, Value batchIndex) {
    return in.validLengths(nb, batchIndex).second;
  };
  Value tokenCandidates = buildIndexed(
      b, tokenSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        return cmpi(nb, arith::CmpIPredicate::slt, at[2],
                    validKeysOf(nb, at[0]));
      });
  auto coverage = [&](Value values) {
    Value ranks = buildRanks(b, values, tokenCandidates);
    Value cumulative = buildPrefixSums(
        b, buildSortedByRank(b, values, tokenCandidates, ranks), Value(),
        /*inclusive=*/true);
    return buildIndexed(
        b, headSizes, index, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
          Value covered = buildSum(
              nb, indexConstant(nb, 0), validKeysOf(nb, at[0]),
              indexConstant(nb, 1),
              [&](ImplicitLocOpBuilder &inner, Value r) -> Value {
                Value within = arith::CmpFOp::create(
                    inner, arith::CmpFPredicate::OLE,
                    extract(inner, cumulative, {at[0], at[1], r}),
                    f32Constant(inner, config.getGammaValue()));
                return arith::IndexCastOp::create(
                    inner, inner.getIndexType(),
                    arith::ExtUIOp::create(inner, inner.getI32Type(), within));
              });
          return covered;
        });
  };
  Value verticalCount = coverage(vertical);
  Value slashCount = coverage(slash);

  // Block profiles, key block means and the pattern switch.
  Value verticalProfile = buildBlockSums(b, vertical, block);
  Value slashProfile = buildBlockSums(b, slash, block);
  SmallVector<OpFoldResult> keySizes =
      tensor::getMixedSizes(b, b.getLoc(), in.key);
  Value keySums = buildBlockSums(
      b,
      buildIndexed(b, keySizes, f32,
                   [&](ImplicitLocOpBuilder &nb, ValueRange at) {
                     Value valid = cmpi(nb, arith::CmpIPredicate::slt, at[2],
                                        validKeysOf(nb, at[0]));
                     return select(nb, valid,
                                   toF32(nb, extract(nb, in.key, at)),
                                   f32Constant(nb, 0.0));
                   }),
      block);
  // Mean of the valid keys of each block, [B, Hkv, KB, D].
  Value keyMeans = buildIndexed(
      b, tensor::getMixedSizes(b, b.getLoc(), keySums), f32,
      [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value start =
            arith::MulIOp::create(nb, at[2], indexConstant(nb, block));
        Value count = arith::MinSIOp::create(
            nb, indexConstant(nb, block),
            arith::SubIOp::create(nb, validKeysOf(nb, at[0]), start));
        Value divisor = indexToF32(
            nb, arith::MaxSIOp::create(nb, count, indexConstant(nb, 1)));
        return arith::DivFOp::create(nb, extract(nb, keySums, at), divisor);
      });
  // Mean of rows [begin, begin + count) of q[b, h], for every d.
  auto queryMean = [&](ImplicitLocOpBuilder &nb, Value batchIndex, Value head,
                       Value begin, Value count, Value d) {
    Value end = arith::AddIOp::create(nb, begin, count);
    Value sum =
        buildSum(nb, begin, end, f32Constant(nb, 0.0),
                 [&](ImplicitLocOpBuilder &inner, Value row) {
                   return toF32(inner, extract(inner, in.query,
                                               {batchIndex, head, row, d}));
                 });
    Value divisor =
        indexToF32(nb, arith::MaxSIOp::create(nb, count, indexConstant(nb, 1)));
    return arith::DivFOp::create(nb, sum, divisor);
  };
  Value lastBlockMean = buildIndexed(
      b, in.sizes({b.getIndexAttr(in.headDim)}), f32,
      [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value validQueries = in.validLengths(nb, at[0]).first;
        Value count =
            arith::MinSIOp::create(nb, validQueries, indexConstant(nb, block));
        return queryMean(nb, at[0], at[1],
                         arith::SubIOp::create(nb, validQueries, count), count,
                         at[2]);
      });
  // scale * qmean . kmean_J for the query means `means` [B, H, ..., D].
  auto pooledLogit = [&](ImplicitLocOpBuilder &nb, Value means,
                         ValueRange meanAt, Value head, Value keyBlockIndex,
                         Value batchIndex) {
    Value kv = in.kvHead(nb, head);
    SmallVector<Value> at(meanAt);
    at.push_back(Value());
    Value dot = buildSum(
        nb, indexConstant(nb, 0), indexConstant(nb, in.headDim),
        f32Constant(nb, 0.0), [&](ImplicitLocOpBuilder &inner, Value d) {
          at.back() = d;
          Value product = arith::MulFOp::create(
              inner, extract(inner, means, at),
              extract(inner, keyMeans, {batchIndex, kv, keyBlockIndex, d}));
          return product;
        });
    return arith::MulFOp::create(nb, dot, f32Constant(nb, in.scale));
  };
  Value estimateLogits = buildIndexed(
      b, profileSizes, f32, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        return pooledLogit(nb, lastBlockMean, {at[0], at[1]}, at[1], at[2],
                           at[0]);
      });
  Value profileValid = buildIndexed(
      b, profileSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        return cmpi(nb, arith::CmpIPredicate::slt, at[2],
                    ceilDiv(nb, validKeysOf(nb, at[0]), block));
      });
  RowDomain profileRows(context, profileSizes);
  Value estimate = buildSoftmax(b, profileRows, estimateLogits, profileValid,
                                Value(), /*withStatistic=*/false)
                       .weights;
  Value divergence = profileRows.reduceRows(
      b, {estimate, verticalProfile}, 0.0,
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value middle = arith::MulFOp::create(
            nb, arith::AddFOp::create(nb, args[0], args[1]),
            f32Constant(nb, 0.5));
        auto term = [&](Value p) {
          Value positive = arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT,
                                                 p, f32Constant(nb, 0.0));
          Value ratio = arith::DivFOp::create(nb, p, middle);
          Value value =
              arith::MulFOp::create(nb, p, math::LogOp::create(nb, ratio));
          return select(nb, positive, value, f32Constant(nb, 0.0));
        };
        Value both = arith::AddFOp::create(nb, term(args[0]), term(args[1]));
        return arith::AddFOp::create(
            nb, args[2], arith::MulFOp::create(nb, both, f32Constant(nb, 0.5)));
      });
  Value patterns = buildIndexed(
      b, headSizes, b.getI32Type(),
      [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        Value dense = anyOf(
            nb, {cmpi(nb, arith::CmpIPredicate::eq, validQueries,
                      indexConstant(nb, 0)),
                 cmpi(nb, arith::CmpIPredicate::sle, validKeys,
                      indexConstant(nb, std::max(2 * block, low * block)))});
        Value distance = math::SqrtOp::create(
            nb, arith::MaximumFOp::create(nb, extract(nb, divergence, at),
                                          f32Constant(nb, 0.0)));
        Value queryAware =
            arith::CmpFOp::create(nb, arith::CmpFPredicate::OLT, distance,
                                  f32Constant(nb, config.getTauValue()));
        Value sparse =
            select(nb, queryAware,
                   i32Constant(nb, FlexPrefillMaskOp::kQueryAwarePattern),
                   i32Constant(nb, FlexPrefillMaskOp::kVerticalSlashPattern));
        return select(nb, dense,
                      i32Constant(nb, FlexPrefillMaskOp::kDensePattern),
                      sparse);
      });
  auto isQueryAware = [&](ImplicitLocOpBuilder &nb, ValueRange headAt) {
    return cmpi(nb, arith::CmpIPredicate::eq, extract(nb, patterns, headAt),
                i32Constant(nb, FlexPrefillMaskOp::kQueryAwarePattern));
  };

  // Block budgets and the vertical and slash blocks.
  auto blockBudget = [&](Value counts) {
    return buildIndexed(
        b, headSizes, index, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
          Value fromCount = arith::AddIOp::create(
              nb,
              arith::DivUIOp::create(nb, extract(nb, counts, at),
                                     indexConstant(nb, block)),
              indexConstant(nb, 1));
          Value clamped = arith::MinSIOp::create(
              nb, arith::MaxSIOp::create(nb, fromCount, indexConstant(nb, low)),
              indexConstant(nb, high));
          return select(nb, isQueryAware(nb, at), indexConstant(nb, low),
                        clamped);
        });
  };
  Value profileLength = buildIndexed(
      b, headSizes, index, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        return ceilDiv(nb, validKeysOf(nb, at[0]), block);
      });
  Value verticalBlocks = buildTopK(b, verticalProfile, profileLength, 1,
                                   blockBudget(verticalCount));
  Value slashBlocks =
      buildTopK(b, slashProfile, profileLength, 1, blockBudget(slashCount));

  // Query-aware heads: global top-p of the pooled block attention.
  Value blockMeans = buildIndexed(
      b, in.sizes({blockSizes[2], b.getIndexAttr(in.headDim)}), f32,
      [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        QueryBlockRows rows(nb, at[2], block, block, validQueries, validKeys);
        return queryMean(nb, at[0], at[1], rows.first, rows.rowCount, at[3]);
      });
  Value pooledLogits = buildIndexed(
      b, blockSizes, f32, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        return pooledLogit(nb, blockMeans, {at[0], at[1], at[2]}, at[1], at[3],
                           at[0]);
      });
  // C(I): valid J <= Jd(I), the block of the last row's position.
  Value pooledCandidates = buildIndexed(
      b, blockSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        QueryBlockRows rows(nb, at[2], block, block, validQueries, validKeys);
        return allOf(
            nb, {cmpi(nb, arith::CmpIPredicate::sgt, rows.rowCount,
                      indexConstant(nb, 0)),
                 rows.hasPosition,
                 cmpi(nb, arith::CmpIPredicate::slt, at[3],
                      ceilDiv(nb, validKeys, block)),
                 cmpi(nb, arith::CmpIPredicate::sle, at[3], rows.lastOwn)});
      });
  Value pooled =
      buildSoftmax(b, RowDomain(context, blockSizes), pooledLogits,
                   pooledCandidates, Value(), /*withStatistic=*/false)
          .weights;
  Value liveRows = buildIndexed(
      b, headSizes, f32, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        Value count = buildSum(
            nb, indexConstant(nb, 0), ceilDiv(nb, validQueries, block),
            i32Constant(nb, 0), [&](ImplicitLocOpBuilder &inner, Value row) {
              QueryBlockRows rows(inner, row, block, block, validQueries,
                                  validKeys);
              return arith::ExtUIOp::create(inner, inner.getI32Type(),
                                            rows.hasPosition);
            });
        return arith::SIToFPOp::create(nb, nb.getF32Type(), count);
      });
  // The global order runs over the flattened grid, entry I * KB + J.
  // (Gathers rather than tensor.expand_shape: MLIR 22's
  // expand-strided-metadata crashes on an expanded group of two dynamic
  // extents.)
  Value keyBlockCount =
      getValueOrCreateConstantIndexOp(b, b.getLoc(), blockSizes[3]);
  OpFoldResult flatLength = getAsOpFoldResult(b.createOrFold<arith::MulIOp>(
      getValueOrCreateConstantIndexOp(b, b.getLoc(), blockSizes[2]),
      keyBlockCount));
  SmallVector<OpFoldResult> flatSizes = in.sizes({flatLength});
  auto flatten = [&](Value grid) {
    return buildIndexed(
        b, flatSizes, cast<RankedTensorType>(grid.getType()).getElementType(),
        [&](ImplicitLocOpBuilder &nb, ValueRange at) {
          Value row = arith::DivUIOp::create(nb, at[2], keyBlockCount);
          Value column = arith::RemUIOp::create(nb, at[2], keyBlockCount);
          return extract(nb, grid, {at[0], at[1], row, column});
        });
  };
  Value flatPooled = flatten(pooled);
  Value flatCandidates = flatten(pooledCandidates);
  Value flatRanks = buildRanks(b, flatPooled, flatCandidates);
  Value flatCumulative = buildPrefixSums(
      b, buildSortedByRank(b, flatPooled, flatCandidates, flatRanks), Value(),
      /*inclusive=*/true);
  // Entry (I, J) of the grid is kept when its inclusive cumulative sum in
  // the global order stays within gamma * rows.
  Value topP = buildIndexed(
      b, blockSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        Value flat = arith::AddIOp::create(
            nb, arith::MulIOp::create(nb, at[2], keyBlockCount), at[3]);
        Value rank = arith::IndexCastOp::create(
            nb, nb.getIndexType(),
            extract(nb, flatRanks, {at[0], at[1], flat}));
        Value last = arith::SubIOp::create(nb, dimValue(nb, flatCumulative, 2),
                                           indexConstant(nb, 1));
        Value cumulative =
            extract(nb, flatCumulative,
                    {at[0], at[1], arith::MinSIOp::create(nb, rank, last)});
        Value budget =
            arith::MulFOp::create(nb, f32Constant(nb, config.getGammaValue()),
                                  extract(nb, liveRows, {at[0], at[1]}));
        Value within = arith::CmpFOp::create(nb, arith::CmpFPredicate::OLE,
                                             cumulative, budget);
        return arith::AndIOp::create(nb, extract(nb, pooledCandidates, at),
                                     within);
      });

  Value selected = buildIndexed(
      b, blockSizes, i1, [&](ImplicitLocOpBuilder &nb, ValueRange at) {
        auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
        QueryBlockRows rows(nb, at[2], block, block, validQueries, validKeys);
        Value headAt[] = {at[0], at[1]};
        Value diagonal = arith::SubIOp::create(nb, rows.lastOwn, at[3]);
        Value lastProfile = arith::SubIOp::create(
            nb, dimValue(nb, slashBlocks, 2), indexConstant(nb, 1));
        Value onSlash = allOf(
            nb,
            {rows.hasPosition,
             cmpi(nb, arith::CmpIPredicate::sge, diagonal,
                  indexConstant(nb, 0)),
             extract(nb, slashBlocks,
                     {at[0], at[1], clampIndex(nb, diagonal, lastProfile)})});
        Value onVertical = extract(nb, verticalBlocks, {at[0], at[1], at[3]});
        Value pooledKept = arith::AndIOp::create(nb, isQueryAware(nb, headAt),
                                                 extract(nb, topP, at));
        Value dense =
            cmpi(nb, arith::CmpIPredicate::eq, extract(nb, patterns, headAt),
                 i32Constant(nb, FlexPrefillMaskOp::kDensePattern));
        Value kept = anyOf(nb, {dense, onVertical, onSlash,
                                rows.isOwn(nb, at[3]), pooledKept});
        Value valid = allOf(nb, {cmpi(nb, arith::CmpIPredicate::sgt,
                                      rows.rowCount, indexConstant(nb, 0)),
                                 cmpi(nb, arith::CmpIPredicate::slt, at[3],
                                      ceilDiv(nb, validKeys, block))});
        return arith::AndIOp::create(nb, valid, kept);
      });
  return {selected, patterns};
}

//===----------------------------------------------------------------------===//
// Block-selecting estimators
//===----------------------------------------------------------------------===//

namespace {

/// xattention_mask and flexprefill_mask: the selected blocks' valid (and
/// causal) pairs.
template <typename EstimatorOp>
struct BlockEstimatorLowering : OpConversionPattern<EstimatorOp> {
  using OpConversionPattern<EstimatorOp>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<EstimatorOp>::OpAdaptor;

  LogicalResult
  matchAndRewrite(EstimatorOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    EstimatorInputs in(b, adaptor.getQuery(), adaptor.getKey(),
                       adaptor.getQueryLengths(), adaptor.getKeyLengths(),
                       op.getEffectiveScale());
    BlockMaskType maskType = op.getResult().getType();
    int64_t queryBlock = maskType.getQueryBlockSize();
    int64_t keyBlock = maskType.getKeyBlockSize();
    SmallVector<Value> results;
    Value selected;
    bool causal = true;
    if constexpr (std::is_same_v<EstimatorOp, XAttentionMaskOp>) {
      causal = op.getCausal();
      XAttentionAttr config = op.getConfig();
      Value mass = buildXAttentionMass(b, in, config.getStride(), causal,
                                       queryBlock, keyBlock);
      selected = buildXAttentionSelection(
          b, in, mass, config, adaptor.getThresholds(), queryBlock, keyBlock);
    } else {
      auto [blocks, patterns] =
          buildFlexPrefillSelection(b, in, op.getConfig(), queryBlock);
      selected = blocks;
      if (Value patternsResult = op.getPatterns())
        results.push_back(castTo(b, patterns, patternsResult.getType()));
    }
    auto type =
        this->getTypeConverter()->template convertType<RankedTensorType>(
            maskType);
    results.insert(
        results.begin(),
        castTo(b,
               buildBlockTokens(b, in, selected, queryBlock, keyBlock, causal),
               type));
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// select_blocks: the selected blocks as ascending index lists.
struct SelectBlocksOpLowering : OpConversionPattern<SelectBlocksOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SelectBlocksOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    EstimatorInputs in(b, adaptor.getQuery(), adaptor.getKey(),
                       adaptor.getQueryLengths(), adaptor.getKeyLengths(),
                       op.getEffectiveScale());
    int64_t queryBlock = op.getQueryBlockAttr().getInt();
    int64_t keyBlock = op.getKeyBlockAttr().getInt();
    Value selected, patterns;
    if (auto config = dyn_cast<FlexPrefillAttr>(op.getMethod())) {
      std::tie(selected, patterns) =
          buildFlexPrefillSelection(b, in, config, queryBlock);
    } else {
      // The index lists are what the tiled attention walks: their mass is
      // taken in one pass over the keys.
      auto xattention = cast<XAttentionAttr>(op.getMethod());
      Value mass = buildXAttentionMassOnePass(
          b, in, xattention.getStride(), op.getCausal(), queryBlock, keyBlock);
      selected = buildXAttentionSelection(b, in, mass, xattention,
                                          adaptor.getThresholds(), queryBlock,
                                          keyBlock);
    }
    auto [counts, indices] = buildBlockList(b, selected);
    SmallVector<Value> results = {
        castTo(b, counts, op.getKvNumBlocks().getType()),
        castTo(b, indices, op.getKvIndices().getType())};
    if (Value patternsResult = op.getPatterns())
      results.push_back(castTo(b, patterns, patternsResult.getType()));
    rewriter.replaceOp(op, results);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// MInference vertical-slash
//===----------------------------------------------------------------------===//

/// MInference's kept columns and offsets [B, H, Nk] (i1): the top
/// vertical_size column sums and slash_size diagonal sums of the last
/// queries' estimation rows, with the sink columns and local diagonals
/// forced, per-head `budgets` replacing the sizes.
static std::pair<Value, Value>
buildVerticalSlashSelection(ImplicitLocOpBuilder &b, const EstimatorInputs &in,
                            MInferenceAttr config, Value budgets) {
  Value weights = buildEstimationRows(b, in, config.getLastQueries());
  auto [vertical, slash] = buildVerticalAndSlash(
      b, in, weights, config.getLastQueries(), /*mean=*/false);

  SmallVector<OpFoldResult> headSizes = in.sizes({});
  Value keyCount = buildIndexed(b, headSizes, b.getIndexType(),
                                [&](ImplicitLocOpBuilder &nb, ValueRange at) {
                                  return in.validLengths(nb, at[0]).second;
                                });
  // The size of column `which` of the budgets, or the configuration's.
  auto headBudget = [&](int64_t which, int64_t configured) {
    return buildIndexed(
        b, headSizes, b.getIndexType(),
        [&](ImplicitLocOpBuilder &nb, ValueRange at) -> Value {
          if (!budgets)
            return indexConstant(nb, configured);
          Value size = arith::IndexCastOp::create(
              nb, nb.getIndexType(),
              extract(nb, budgets, {at[1], indexConstant(nb, which)}));
          return arith::MaxSIOp::create(nb, size, indexConstant(nb, 0));
        });
  };
  Value columns = buildTopK(b, vertical, keyCount, config.getSink(),
                            headBudget(0, config.getVerticalSize()));
  Value offsets = buildTopK(b, slash, keyCount, config.getLocal(),
                            headBudget(1, config.getSlashSize()));
  return {columns, offsets};
}

struct VerticalSlashMaskOpLowering : OpConversionPattern<VerticalSlashMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(VerticalSlashMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    EstimatorInputs in(b, adaptor.getQuery(), adaptor.getKey(),
                       adaptor.getQueryLengths(), adaptor.getKeyLengths(),
                       op.getEffectiveScale());
    auto [columns, offsets] = buildVerticalSlashSelection(
        b, in, op.getConfig(), adaptor.getBudgets());

    Value lastKey =
        arith::SubIOp::create(b, in.keyLengthValue, indexConstant(b, 1));
    Value mask = buildIndexed(
        b, in.sizes({in.queryLength, in.keyLength}), b.getI1Type(),
        [&](ImplicitLocOpBuilder &nb, ValueRange at) {
          auto [validQueries, validKeys] = in.validLengths(nb, at[0]);
          Value position = arith::AddIOp::create(
              nb, at[2], arith::SubIOp::create(nb, validKeys, validQueries));
          Value offset = arith::SubIOp::create(nb, position, at[3]);
          Value kept = arith::OrIOp::create(
              nb, extract(nb, columns, {at[0], at[1], at[3]}),
              extract(nb, offsets,
                      {at[0], at[1], clampIndex(nb, offset, lastKey)}));
          return allOf(
              nb, {cmpi(nb, arith::CmpIPredicate::slt, at[2], validQueries),
                   cmpi(nb, arith::CmpIPredicate::slt, at[3], validKeys),
                   cmpi(nb, arith::CmpIPredicate::sle, at[3], position), kept});
        });
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    rewriter.replaceOp(op, castTo(b, mask, type));
    return success();
  }
};

/// select_vertical_slash: the kept columns and offsets as ascending lists.
struct SelectVerticalSlashOpLowering
    : OpConversionPattern<SelectVerticalSlashOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SelectVerticalSlashOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    EstimatorInputs in(b, adaptor.getQuery(), adaptor.getKey(),
                       adaptor.getQueryLengths(), adaptor.getKeyLengths(),
                       op.getEffectiveScale());
    auto [columns, offsets] = buildVerticalSlashSelection(
        b, in, op.getConfig(), adaptor.getBudgets());
    auto [columnCount, columnList] = buildBlockList(b, columns);
    auto [offsetCount, offsetList] = buildBlockList(b, offsets);
    rewriter.replaceOp(
        op, {castTo(b, columnCount, op.getColumnCount().getType()),
             castTo(b, columnList, op.getColumns().getType()),
             castTo(b, offsetCount, op.getOffsetCount().getType()),
             castTo(b, offsetList, op.getOffsets().getType())});
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Head routing and prefill
//===----------------------------------------------------------------------===//

struct MaskRouteHeadsOpLowering : OpConversionPattern<MaskRouteHeadsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaskRouteHeadsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    Value init = tensor::EmptyOp::create(b, type, adaptor.getDynamicSizes());
    std::optional<MaskReader> streaming;
    if (Value mask = adaptor.getStreaming())
      streaming.emplace(b, mask);
    SmallVector<MaskReader> masks;
    for (Value mask : adaptor.getMasks())
      masks.emplace_back(b, mask);
    Value kinds = adaptor.getKinds();
    Value routed = buildGeneric(
        b, {}, init, {AffineMap::getMultiDimIdentityMap(4, b.getContext())},
        parallelThenReductions(4, 0),
        [&](ImplicitLocOpBuilder &nb, ValueRange) {
          Value row = loopIndex(nb, 2), column = loopIndex(nb, 3);
          Value kind = extract(nb, kinds, loopIndex(nb, 1));
          auto isKind = [&](int32_t code) {
            return cmpi(nb, arith::CmpIPredicate::eq, kind,
                        i32Constant(nb, code));
          };
          Value visible = isKind(MaskRouteHeadsOp::kDenseKind);
          if (streaming)
            visible = select(nb, isKind(MaskRouteHeadsOp::kStreamingKind),
                             streaming->read(nb, row, column), visible);
          for (auto [number, mask] : llvm::enumerate(masks))
            visible = select(nb, isKind(static_cast<int32_t>(number + 1)),
                             mask.read(nb, row, column), visible);
          return visible;
        });
    rewriter.replaceOp(op, routed);
    return success();
  }
};

/// The prefill op becomes its estimator and attention, which the other
/// patterns then lower.
struct PrefillOpLowering : OpConversionPattern<PrefillOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PrefillOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, op.expand(rewriter));
    return success();
  }
};

} // namespace

void sparse_attn::populatePrefillToLinalgPatterns(
    const TypeConverter &typeConverter, RewritePatternSet &patterns) {
  patterns.add<BlockEstimatorLowering<XAttentionMaskOp>,
               BlockEstimatorLowering<FlexPrefillMaskOp>,
               SelectBlocksOpLowering, VerticalSlashMaskOpLowering,
               SelectVerticalSlashOpLowering,
               MaskRouteHeadsOpLowering, PrefillOpLowering>(
      typeConverter, patterns.getContext());
}
