//===- DecomposeTiles.cpp - sparse-attn-decompose-tiles ---------*- C++ -*-===//
//
// The CPU form of the tile-level ops: linalg.generic, tensor, arith and math
// on tensors. This file is the only place that knows it; the GPU lowering
// maps the same ops onto warpgroups instead.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/ElasticSoftmax.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/EntmaxSolver.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <limits>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNDECOMPOSETILESPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kLn2 = 0.6931471805599453;
using utils::IteratorType;
constexpr IteratorType kParallel = IteratorType::parallel;
constexpr IteratorType kReduction = IteratorType::reduction;

/// Scalar arithmetic inside generic bodies (f32 unless said otherwise).
class Scalar : public ScalarBuilder {
public:
  using ScalarBuilder::ScalarBuilder;

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value exp2(Value x) { return math::Exp2Op::create(b, loc, x); }
  Value log2(Value x) { return math::Log2Op::create(b, loc, x); }
  Value floor(Value x) { return math::FloorOp::create(b, loc, x); }
  Value xorI(Value x, Value y) { return arith::XOrIOp::create(b, loc, x, y); }
  Value boolean(bool value) {
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(value));
  }
  /// Any float to f32.
  Value toF32(Value x) {
    if (x.getType().isF32())
      return x;
    return arith::ExtFOp::create(b, loc, b.getF32Type(), x);
  }
  /// f32 to `type` (a float type).
  Value fromF32(Value x, Type type) {
    if (type.isF32())
      return x;
    return arith::TruncFOp::create(b, loc, type, x);
  }
  Value indexToF32(Value x) {
    Value asInt = arith::IndexCastOp::create(b, loc, b.getI64Type(), x);
    return arith::SIToFPOp::create(b, loc, b.getF32Type(), asInt);
  }
  Value loopIndex(int64_t dim) { return linalg::IndexOp::create(b, loc, dim); }
};

/// The entmax solver's special functions on the CPU: the math dialect.
class MathFunctions : public entmax::SpecialFunctions {
public:
  Value sqrt(OpBuilder &b, Location loc, Value x) override {
    return math::SqrtOp::create(b, loc, x);
  }
  Value power(OpBuilder &b, Location loc, Value x, double exponent) override {
    return math::PowFOp::create(
        b, loc, x,
        arith::ConstantOp::create(b, loc, b.getF32FloatAttr(exponent)));
  }
};

AffineMap mapOf(OpBuilder &b, unsigned numDims, ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(b.getAffineDimExpr(d));
  return AffineMap::get(numDims, 0, exprs, b.getContext());
}

/// Builds the CPU form of one tile op at its position.
class Decomposer {
public:
  Decomposer(OpBuilder &builder, Location loc) : b(builder), loc(loc) {}

  Value empty(ArrayRef<int64_t> shape, Type elementType) {
    return tensor::EmptyOp::create(b, loc, shape, elementType);
  }
  Value filled(ArrayRef<int64_t> shape, Type elementType, Value value) {
    return linalg::FillOp::create(b, loc, ValueRange{value},
                                  ValueRange{empty(shape, elementType)})
        .getResult(0);
  }
  Value filledF32(ArrayRef<int64_t> shape, float value) {
    return filled(shape, b.getF32Type(), Scalar(b, loc).f32(value));
  }

  using Body = function_ref<SmallVector<Value>(Scalar &, ValueRange)>;
  SmallVector<Value> generic(ValueRange inputs, ValueRange outputs,
                             ArrayRef<AffineMap> maps,
                             ArrayRef<IteratorType> iterators, Body body) {
    auto op = linalg::GenericOp::create(
        b, loc, TypeRange(outputs), inputs, outputs, maps, iterators,
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          Scalar s(nb, nl);
          linalg::YieldOp::create(nb, nl, body(s, args));
        });
    return SmallVector<Value>(op.getResults());
  }

  /// out[r, c] (+)= sum_k lhs[r, k] * rhs[k, c] (rhs read as [c, k] when
  /// `transposeRhs`), accumulated into `init`.
  Value matmul(Value lhs, Value rhs, Value init, bool transposeRhs) {
    AffineMap rhsMap = transposeRhs ? mapOf(b, 3, {1, 2}) : mapOf(b, 3, {2, 1});
    return generic({lhs, rhs}, {init},
                   {mapOf(b, 3, {0, 2}), rhsMap, mapOf(b, 3, {0, 1})},
                   {kParallel, kParallel, kReduction},
                   [](Scalar &s, ValueRange a) -> SmallVector<Value> {
                     return {s.add(a[2], s.mul(s.toF32(a[0]), s.toF32(a[1])))};
                   })[0];
  }

  /// Row reduction of a 2-D tile into the row vector `init`, the columns
  /// in order (the order of the P @ V contraction, so that the row sums and
  /// the accumulator see the same rounding).
  Value reduceRows(Value tile, Value init,
                   function_ref<Value(Scalar &, Value, Value)> combine) {
    return generic({tile}, {init}, {mapOf(b, 2, {0, 1}), mapOf(b, 2, {0})},
                   {kParallel, kReduction},
                   [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
                     return {combine(s, a[0], a[1])};
                   })[0];
  }
  Value reduceRows(Value tile, float init,
                   function_ref<Value(Scalar &, Value, Value)> combine) {
    int64_t rows = cast<RankedTensorType>(tile.getType()).getDimSize(0);
    return reduceRows(tile, filledF32({rows}, init), combine);
  }

  /// A 2-D elementwise map over `tile` with row vectors broadcast along the
  /// columns; the body sees (tile entry, row entries...).
  Value mapTile(Value tile, ValueRange rowVectors, Type resultElement,
                Body body) {
    auto type = cast<RankedTensorType>(tile.getType());
    SmallVector<Value> inputs = {tile};
    SmallVector<AffineMap> maps = {mapOf(b, 2, {0, 1})};
    for (Value row : rowVectors) {
      inputs.push_back(row);
      maps.push_back(mapOf(b, 2, {0}));
    }
    maps.push_back(mapOf(b, 2, {0, 1}));
    return generic(inputs, {empty(type.getShape(), resultElement)}, maps,
                   {kParallel, kParallel}, body)[0];
  }

  /// A 1-D elementwise map over row vectors producing `numResults` f32 row
  /// vectors.
  SmallVector<Value> mapRows(ValueRange rowVectors, unsigned numResults,
                             Body body) {
    int64_t rows =
        cast<RankedTensorType>(rowVectors.front().getType()).getDimSize(0);
    SmallVector<Value> outputs;
    SmallVector<AffineMap> maps(rowVectors.size() + numResults,
                                mapOf(b, 1, {0}));
    for (unsigned i = 0; i < numResults; ++i)
      outputs.push_back(empty({rows}, b.getF32Type()));
    return generic(rowVectors, outputs, maps, {kParallel}, body);
  }

  /// Whether `predicate` holds for some entry of a 1-D or 2-D tensor.
  Value any(Value tensor, ValueRange rowVectors,
            function_ref<Value(Scalar &, ValueRange)> predicate) {
    auto type = cast<RankedTensorType>(tensor.getType());
    unsigned rank = type.getRank();
    SmallVector<unsigned> all;
    for (unsigned d = 0; d < rank; ++d)
      all.push_back(d);
    SmallVector<Value> inputs = {tensor};
    SmallVector<AffineMap> maps = {mapOf(b, rank, all)};
    for (Value row : rowVectors) {
      inputs.push_back(row);
      maps.push_back(mapOf(b, rank, {0}));
    }
    maps.push_back(AffineMap::get(rank, 0, {}, b.getContext()));
    SmallVector<IteratorType> iterators(rank, kReduction);
    Value init =
        filled({}, b.getI1Type(),
               arith::ConstantOp::create(b, loc, b.getBoolAttr(false)));
    Value result =
        generic(inputs, {init}, maps, iterators,
                [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
                  return {s.orI(a.back(), predicate(s, a.drop_back()))};
                })[0];
    return tensor::ExtractOp::create(b, loc, result, ValueRange{});
  }

  /// The values replacing a tile op; failure for any other op.
  FailureOr<SmallVector<Value>> decompose(Operation *op);

private:
  Value loadTile(LoadTileOp op);
  Value gatherTile(GatherTileOp op);
  Value loadScoreChunk(LoadScoreChunkOp op);
  Value scoreTile(ScoreTileOp op);
  Value indexRowContains(IndexRowContainsOp op);
  SmallVector<Value> onlineSoftmax(Value scores, Value value, Value max,
                                   Value sum, Value acc);
  SmallVector<Value> rowMax(RowMaxOp op);
  Value elasticAccumulate(ElasticAccumulateOp op);
  Value elasticTileLive(ElasticTileLiveOp op);
  SmallVector<Value> softmaxFinalize(SoftmaxFinalizeOp op);
  Value entmaxHistogram(EntmaxHistogramOp op);
  SmallVector<Value> entmaxMoments(EntmaxMomentsOp op);
  Value entriesBetween(EntriesBetweenOp op);
  SmallVector<Value> thresholdInit(EntmaxThresholdInitOp op);
  SmallVector<Value> thresholdStep(EntmaxThresholdStepOp op);
  Value entmaxWeightsOf(EntmaxAttr config, Value scores, Value threshold);
  SmallVector<Value> entmaxAccumulate(EntmaxAccumulateOp op);
  Value entmaxWeights(EntmaxWeightsOp op);
  SmallVector<Value> entmaxFinalize(EntmaxFinalizeOp op);
  /// Rows of a finalised tile: `valid(row)` rows get `normal`, the others
  /// zero.
  Value finalizeRows(Value acc, Value sum, Value rows, Type elementType,
                     bool divide);

  OpBuilder &b;
  Location loc;
  MathFunctions functions;
};

//===----------------------------------------------------------------------===//
// Loads and scores
//===----------------------------------------------------------------------===//

/// `source` rows [start, start + size) clamped to the extent, as offset and
/// size of a slice plus the padding up to `size`.
struct ClampedRange {
  Value offset, size, padding;
};

ClampedRange clampRange(OpBuilder &b, Location loc, Value start, Value extent,
                        int64_t size) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value tile = arith::ConstantIndexOp::create(b, loc, size);
  Value offset = arith::MinSIOp::create(b, loc, start, extent);
  Value remaining = arith::SubIOp::create(b, loc, extent, offset);
  Value inside = arith::MaxSIOp::create(
      b, loc, zero, arith::MinSIOp::create(b, loc, remaining, tile));
  return {offset, inside, arith::SubIOp::create(b, loc, tile, inside)};
}

Value Decomposer::loadTile(LoadTileOp op) {
  RankedTensorType type = op.getType();
  int64_t rows = type.getDimSize(0), width = type.getDimSize(1);
  Value extent = tensor::DimOp::create(b, loc, op.getSource(), 2);
  ClampedRange range = clampRange(b, loc, op.getRow(), extent, rows);
  OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
  auto sliceType = RankedTensorType::get({ShapedType::kDynamic, width},
                                         type.getElementType());
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, sliceType, op.getSource(),
      ArrayRef<OpFoldResult>{op.getBatch(), op.getHead(), range.offset, zero},
      ArrayRef<OpFoldResult>{one, one, range.size, b.getIndexAttr(width)},
      ArrayRef<OpFoldResult>{one, one, one, one});
  Value padValue = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), 0.0));
  return tensor::PadOp::create(
      b, loc, type, slice, ArrayRef<OpFoldResult>{zero, zero},
      ArrayRef<OpFoldResult>{range.padding, zero}, padValue);
}

Value Decomposer::gatherTile(GatherTileOp op) {
  RankedTensorType type = op.getType();
  Value source = op.getSource(), list = op.getRows();
  Value start = op.getStart(), count = op.getCount();
  Value batch = op.getBatch(), head = op.getHead();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value lastSlot = arith::MaxSIOp::create(
      b, loc, arith::SubIOp::create(b, loc, count, one), zero);
  Value lastRow = arith::SubIOp::create(
      b, loc, tensor::DimOp::create(b, loc, source, 2), one);
  Value padding = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), 0.0));
  auto gather = linalg::GenericOp::create(
      b, loc, TypeRange{type}, ValueRange{},
      ValueRange{empty(type.getShape(), type.getElementType())},
      ArrayRef<AffineMap>{mapOf(b, 2, {0, 1})},
      ArrayRef<IteratorType>{kParallel, kParallel},
      [&](OpBuilder &nb, Location nl, ValueRange) {
        Value slot = arith::AddIOp::create(
            nb, nl, start, linalg::IndexOp::create(nb, nl, 0));
        Value inList =
            arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, slot, count);
        // Clamped reads: the slots past `count` give zero rows.
        Value entry = tensor::ExtractOp::create(
            nb, nl, list,
            ValueRange{arith::MinSIOp::create(nb, nl, slot, lastSlot)});
        Value position = arith::IndexCastOp::create(nb, nl, nb.getIndexType(),
                                                    entry);
        position = arith::MinSIOp::create(
            nb, nl, arith::MaxSIOp::create(nb, nl, position, zero), lastRow);
        Value element = tensor::ExtractOp::create(
            nb, nl, source,
            ValueRange{batch, head, position,
                       linalg::IndexOp::create(nb, nl, 1)});
        linalg::YieldOp::create(
            nb, nl,
            ValueRange{arith::SelectOp::create(nb, nl, inList, element,
                                               padding)});
      });
  return gather.getResult(0);
}

Value Decomposer::loadScoreChunk(LoadScoreChunkOp op) {
  RankedTensorType type = op.getType();
  int64_t rows = type.getDimSize(0), columns = type.getDimSize(1);
  Value source = op.getSource();
  ClampedRange rowRange = clampRange(
      b, loc, op.getRow(), tensor::DimOp::create(b, loc, source, 0), rows);
  ClampedRange columnRange = clampRange(
      b, loc, op.getCol(), tensor::DimOp::create(b, loc, source, 1), columns);
  OpFoldResult one = b.getIndexAttr(1);
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, source,
      ArrayRef<OpFoldResult>{rowRange.offset, columnRange.offset},
      ArrayRef<OpFoldResult>{rowRange.size, columnRange.size},
      ArrayRef<OpFoldResult>{one, one});
  float scale = op.getScale().convertToFloat();
  auto dynamicType = RankedTensorType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic}, b.getF32Type());
  Value scaled = generic(
      {slice},
      {tensor::EmptyOp::create(b, loc, dynamicType,
                               ValueRange{rowRange.size, columnRange.size})},
      {mapOf(b, 2, {0, 1}), mapOf(b, 2, {0, 1})}, {kParallel, kParallel},
      [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
        return {s.mul(s.toF32(a[0]), s.f32(scale))};
      })[0];
  Value negInf = Scalar(b, loc).f32(-kInf);
  OpFoldResult zero = b.getIndexAttr(0);
  return tensor::PadOp::create(
      b, loc, type, scaled, ArrayRef<OpFoldResult>{zero, zero},
      ArrayRef<OpFoldResult>{rowRange.padding, columnRange.padding}, negInf);
}

Value Decomposer::scoreTile(ScoreTileOp op) {
  RankedTensorType type = op.getType();
  Value products =
      matmul(op.getQuery(), op.getKey(), filledF32(type.getShape(), 0.0f),
             /*transposeRhs=*/true);
  float scale = op.getScale().convertToFloat();
  Value bias = op.getBias();
  float biasScale = op.getBiasScale() ? op.getBiasScale()->convertToFloat() : 0;
  Value rowOffset = op.getRowOffset(), colOffset = op.getColOffset();
  Value biasHead = op.getBiasHead(), biasDiagonal = op.getBiasDiagonal();
  Value biasWidth;
  if (bias)
    biasWidth = tensor::DimOp::create(b, loc, bias, 1);
  Region &visible = op.getVisible();

  return mapTile(
      products, {}, b.getF32Type(),
      [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
        OpBuilder &nb = b;
        Value score = s.mul(a[0], s.f32(scale));
        if (!bias && visible.empty())
          return {score};
        Value i = arith::AddIOp::create(nb, loc, rowOffset, s.loopIndex(0));
        Value j = arith::AddIOp::create(nb, loc, colOffset, s.loopIndex(1));
        if (bias) {
          // bias[head, i + diagonal - j] for 0 <= i + diagonal - j < W.
          Value distance = arith::SubIOp::create(
              nb, loc, arith::AddIOp::create(nb, loc, i, biasDiagonal), j);
          Value zero = s.index(0);
          Value inWindow =
              s.andI(arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::sge,
                                           distance, zero),
                     arith::CmpIOp::create(nb, loc, arith::CmpIPredicate::slt,
                                           distance, biasWidth));
          Value column = s.select(inWindow, distance, zero);
          Value entry = tensor::ExtractOp::create(nb, loc, bias,
                                                  ValueRange{biasHead, column});
          Value term = s.mul(s.toF32(entry), s.f32(biasScale));
          score = s.add(score, s.select(inWindow, term, s.f32(0.0)));
        }
        if (!visible.empty()) {
          IRMapping mapping;
          Block &region = visible.front();
          mapping.map(region.getArgument(0), i);
          mapping.map(region.getArgument(1), j);
          for (Operation &inner : region.without_terminator())
            nb.clone(inner, mapping);
          Value condition =
              mapping.lookup(cast<YieldOp>(region.getTerminator()).getValue());
          score = s.select(condition, score, s.f32(-kInf));
        }
        return {score};
      });
}

Value Decomposer::indexRowContains(IndexRowContainsOp op) {
  Value counts = op.getCounts(), indices = op.getIndices();
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  ValueRange position = {op.getBatch(), op.getHead(), op.getRow()};
  Value count = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      tensor::ExtractOp::create(b, loc, counts, position));
  Value rowLength = tensor::DimOp::create(b, loc, indices, 3);
  count = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, count, zero), rowLength);
  if (Value limit = op.getLimit())
    count = arith::MinSIOp::create(b, loc, count, limit);
  Value notFound = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
  auto loop = scf::ForOp::create(
      b, loc, zero, count, one, ValueRange{notFound},
      [&](OpBuilder &nb, Location nl, Value slot, ValueRange found) {
        Value entry = tensor::ExtractOp::create(
            nb, nl, indices,
            ValueRange{op.getBatch(), op.getHead(), op.getRow(), slot});
        Value equal = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::eq,
                                            entry, op.getBlock());
        scf::YieldOp::create(
            nb, nl, ValueRange{arith::OrIOp::create(nb, nl, found[0], equal)});
      });
  return loop.getResult(0);
}

//===----------------------------------------------------------------------===//
// Softmax and elastic softmax
//===----------------------------------------------------------------------===//

SmallVector<Value> Decomposer::onlineSoftmax(Value scores, Value value,
                                             Value max, Value sum, Value acc) {
  Value tileMax = reduceRows(
      scores, -kInf, [](Scalar &s, Value x, Value m) { return s.max(m, x); });
  // The new max and the exponent base (0 while the row has seen no key, so
  // that -inf - -inf never happens) and the rescaling of the old state.
  SmallVector<Value> rows = mapRows(
      {max, tileMax}, 3, [](Scalar &s, ValueRange a) -> SmallVector<Value> {
        Value newMax = s.max(a[0], a[1]);
        Value base = s.select(s.eq(newMax, s.f32(-kInf)), s.f32(0.0), newMax);
        return {newMax, base, s.exp2(s.sub(a[0], base))};
      });
  Value newMax = rows[0], base = rows[1], rescale = rows[2];
  Value weights = mapTile(scores, {base}, b.getF32Type(),
                          [](Scalar &s, ValueRange a) -> SmallVector<Value> {
                            return {s.exp2(s.sub(a[0], a[1]))};
                          });
  Value rescaledSum = mapRows(
      {sum, rescale}, 1, [](Scalar &s, ValueRange a) -> SmallVector<Value> {
        return {s.mul(a[0], a[1])};
      })[0];
  Value newSum =
      reduceRows(weights, rescaledSum,
                 [](Scalar &s, Value x, Value l) { return s.add(l, x); });
  if (!value)
    return {newMax, newSum};
  Value rescaled = mapTile(acc, {rescale}, b.getF32Type(),
                           [](Scalar &s, ValueRange a) -> SmallVector<Value> {
                             return {s.mul(a[0], a[1])};
                           });
  return {newMax, newSum, matmul(weights, value, rescaled, false)};
}

SmallVector<Value> Decomposer::rowMax(RowMaxOp op) {
  Value scores = op.getScores();
  return generic({scores}, {op.getMax(), op.getCount()},
                 {mapOf(b, 2, {0, 1}), mapOf(b, 2, {0}), mapOf(b, 2, {0})},
                 {kParallel, kReduction},
                 [](Scalar &s, ValueRange a) -> SmallVector<Value> {
                   Value visible = s.gt(a[0], s.f32(-kInf));
                   return {
                       s.max(a[1], a[0]),
                       s.add(a[2], s.select(visible, s.f32(1.0), s.f32(0.0)))};
                 });
}

Value Decomposer::entriesBetween(EntriesBetweenOp op) {
  Value scores = op.getScores(), lower = op.getLower(), upper = op.getUpper();
  auto scoresType = cast<RankedTensorType>(scores.getType());
  int64_t capacity =
      cast<RankedTensorType>(op.getGap().getType()).getDimSize(1) - 1;
  Scalar s(b, loc);
  Type i32 = b.getI32Type();
  // Row by row, in column order: an entry in (lower, upper] raises the
  // count in column 0 and, while there is room, is kept after the others.
  auto rows = scf::ForOp::create(
      b, loc, s.index(0), s.index(scoresType.getDimSize(0)), s.index(1),
      ValueRange{op.getGap()},
      [&](OpBuilder &rb, Location rl, Value row, ValueRange rowGap) {
        Value lo = tensor::ExtractOp::create(rb, rl, lower, row);
        Value hi = tensor::ExtractOp::create(rb, rl, upper, row);
        auto columns = scf::ForOp::create(
            rb, rl, s.index(0), s.index(scoresType.getDimSize(1)), s.index(1),
            rowGap,
            [&](OpBuilder &cb, Location cl, Value column, ValueRange gap) {
              ScalarBuilder c(cb, cl);
              Value x = tensor::ExtractOp::create(cb, cl, scores,
                                                  ValueRange{row, column});
              Value between = c.andI(c.gt(x, lo), c.le(x, hi));
              auto entry = scf::IfOp::create(
                  cb, cl, between,
                  [&](OpBuilder &tb, Location tl) {
                    Value zero = arith::ConstantIndexOp::create(tb, tl, 0);
                    Value count = tensor::ExtractOp::create(
                        tb, tl, gap[0], ValueRange{row, zero});
                    Value countIndex = arith::IndexCastOp::create(
                        tb, tl, tb.getIndexType(), count);
                    Value slot = arith::AddIOp::create(
                        tb, tl, countIndex,
                        arith::ConstantIndexOp::create(tb, tl, 1));
                    Value room = arith::CmpIOp::create(
                        tb, tl, arith::CmpIPredicate::slt, count,
                        arith::ConstantOp::create(
                            tb, tl, tb.getI32IntegerAttr(capacity)));
                    Value kept = scf::IfOp::create(
                        tb, tl, room,
                        [&](OpBuilder &kb, Location kl) {
                          Value bits = arith::BitcastOp::create(kb, kl, i32, x);
                          scf::YieldOp::create(
                              kb, kl,
                              ValueRange{tensor::InsertOp::create(
                                  kb, kl, bits, gap[0],
                                  ValueRange{row, slot})});
                        },
                        [&](OpBuilder &kb, Location kl) {
                          scf::YieldOp::create(kb, kl, gap[0]);
                        })
                        .getResult(0);
                    Value counted = arith::AddIOp::create(
                        tb, tl, count,
                        arith::ConstantOp::create(tb, tl,
                                                  tb.getI32IntegerAttr(1)));
                    scf::YieldOp::create(
                        tb, tl,
                        ValueRange{tensor::InsertOp::create(
                            tb, tl, counted, kept, ValueRange{row, zero})});
                  },
                  [&](OpBuilder &tb, Location tl) {
                    scf::YieldOp::create(tb, tl, gap[0]);
                  });
              scf::YieldOp::create(cb, cl, entry.getResults());
            });
        scf::YieldOp::create(rb, rl, columns.getResults());
      });
  return rows.getResult(0);
}

Value Decomposer::elasticAccumulate(ElasticAccumulateOp op) {
  Value tau = op.getTau(), position = op.getPosition();
  Value weights =
      mapTile(op.getScores(), {op.getMax(), op.getSum()}, b.getF32Type(),
              [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
                Value row =
                    arith::AddIOp::create(b, loc, position, s.loopIndex(0));
                return {elastic::weight(b, loc, a[0], s.exp2(s.sub(a[0], a[1])),
                                        a[2], elastic::rowShift(b, loc, tau, row))};
              });
  return matmul(weights, op.getValue(), op.getAcc(), false);
}

Value Decomposer::elasticTileLive(ElasticTileLiveOp op) {
  Value tau = op.getTau(), position = op.getPosition();
  return any(op.getTileMax(), {op.getMax(), op.getSum()},
             [&](Scalar &s, ValueRange a) {
               Value row =
                   arith::AddIOp::create(b, loc, position, s.loopIndex(0));
               return elastic::isLive(b, loc, a[0], s.exp2(s.sub(a[0], a[1])),
                                      a[2], elastic::rowShift(b, loc, tau, row));
             });
}

Value Decomposer::finalizeRows(Value acc, Value sum, Value rows,
                               Type elementType, bool divide) {
  return mapTile(
      acc, {sum}, elementType,
      [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
        Value inTile = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                             s.loopIndex(0), rows);
        Value valid = s.andI(inTile, s.gt(a[1], s.f32(0.0)));
        Value value = divide ? s.div(a[0], a[1]) : a[0];
        return {s.fromF32(s.select(valid, value, s.f32(0.0)), elementType)};
      });
}

SmallVector<Value> Decomposer::softmaxFinalize(SoftmaxFinalizeOp op) {
  Value rows = op.getRows();
  Value output = finalizeRows(op.getAcc(), op.getSum(), rows,
                              op.getOutput().getType().getElementType(),
                              /*divide=*/!op.getUnnormalized());
  Value logSumExp = mapRows(
      {op.getMax(), op.getSum()}, 1,
      [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
        Value inTile = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                             s.loopIndex(0), rows);
        Value valid = s.andI(inTile, s.gt(a[1], s.f32(0.0)));
        Value base2 = s.add(a[0], s.log2(a[1]));
        return {s.select(valid, s.mul(base2, s.f32(kLn2)), s.f32(-kInf))};
      })[0];
  return {output, logSumExp};
}

//===----------------------------------------------------------------------===//
// Entmax
//===----------------------------------------------------------------------===//

Value Decomposer::entmaxHistogram(EntmaxHistogramOp op) {
  Value histogram = op.getHistogram();
  int64_t bins = cast<RankedTensorType>(histogram.getType()).getDimSize(1);
  // Iterates (row, column, bin): each entry counts into the bin it falls in.
  return generic(
      {op.getScores(), op.getMax()}, {histogram},
      {mapOf(b, 3, {0, 1}), mapOf(b, 3, {0}), mapOf(b, 3, {0, 2})},
      {kParallel, kReduction, kParallel},
      [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
        Value z = s.sub(a[0], s.sub(a[1], s.f32(1.0)));
        Value scaled = s.floor(s.mul(z, s.f32(static_cast<double>(bins))));
        Value binOfEntry = s.min(scaled, s.f32(static_cast<double>(bins - 1)));
        Value bin = s.indexToF32(s.loopIndex(2));
        // z >= 0 is false for NaN (rows with max = -inf) and for -inf.
        Value counted = s.andI(s.ge(z, s.f32(0.0)), s.eq(binOfEntry, bin));
        return {arith::AddIOp::create(b, loc, a[2],
                                      arith::ExtUIOp::create(
                                          b, loc, b.getI32Type(), counted))};
      })[0];
}

SmallVector<Value> Decomposer::entmaxMoments(EntmaxMomentsOp op) {
  double c0 = op.getConfig().getExponent();
  int64_t rows = op.getThreshold().getType().getDimSize(0);
  // Compensated (Kahan) sums: the row-wise entmax renormalises its written
  // weights by s0, and sum - 1 is the solver's objective.
  SmallVector<Value> outputs = {op.getS0(), op.getS1(), op.getS2()};
  for (int k = 0; k < 3; ++k)
    outputs.push_back(filledF32({rows}, 0.0f));
  AffineMap row = mapOf(b, 2, {0});
  SmallVector<Value> sums =
      generic({op.getScores(), op.getThreshold()}, outputs,
              {mapOf(b, 2, {0, 1}), row, row, row, row, row, row, row},
              {kParallel, kReduction},
              [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
                Value d = s.sub(a[0], a[1]);
                SmallVector<Value> sums(3), compensations(3);
                for (int k = 0; k < 3; ++k) {
                  Value term =
                      entmax::positivePower(b, loc, functions, d, c0 - k);
                  Value corrected = s.sub(term, a[5 + k]);
                  Value total = s.add(a[2 + k], corrected);
                  compensations[k] = s.sub(s.sub(total, a[2 + k]), corrected);
                  sums[k] = total;
                }
                llvm::append_range(sums, compensations);
                return sums;
              });
  sums.resize(3);
  return sums;
}

SmallVector<Value> Decomposer::thresholdInit(EntmaxThresholdInitOp op) {
  EntmaxAttr config = op.getConfig();
  Value histogram = op.getHistogram();
  return mapRows(
      {op.getMax(), op.getCount()}, 3,
      [&](Scalar &, ValueRange a) -> SmallVector<Value> {
        entmax::Bracket bracket;
        if (!histogram) {
          bracket = entmax::initialBracket(b, loc, functions, config, a[0], a[1]);
        } else {
          auto type = cast<RankedTensorType>(histogram.getType());
          Value row = linalg::IndexOp::create(b, loc, 0);
          SmallVector<Value> counts;
          for (int64_t k = 0, bins = type.getDimSize(1); k < bins; ++k)
            counts.push_back(arith::SIToFPOp::create(
                b, loc, b.getF32Type(),
                tensor::ExtractOp::create(
                    b, loc, histogram,
                    ValueRange{row,
                               arith::ConstantIndexOp::create(b, loc, k)})));
          bracket = entmax::histogramBracket(b, loc, functions, config, a[0],
                                             counts);
        }
        return {bracket.threshold, bracket.lower, bracket.upper};
      });
}

SmallVector<Value> Decomposer::thresholdStep(EntmaxThresholdStepOp op) {
  Value gap = op.getGap();
  SmallVector<Value> next = mapRows(
      {op.getThreshold(), op.getLower(), op.getUpper(), op.getS0(),
       op.getS1(), op.getS2()},
      4, [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
        std::optional<entmax::GapRecord> record;
        if (gap) {
          Value row = linalg::IndexOp::create(b, loc, 0);
          auto column = [&](int64_t k) {
            return tensor::ExtractOp::create(b, loc, gap,
                                             ValueRange{row, s.index(k)});
          };
          record = entmax::GapRecord{column(0), {}};
          int64_t columns = cast<RankedTensorType>(gap.getType()).getDimSize(1);
          for (int64_t k = 1; k < columns; ++k)
            record->entries.push_back(
                arith::BitcastOp::create(b, loc, b.getF32Type(), column(k)));
        }
        entmax::Step step =
            entmax::thresholdStep(b, loc, functions, op.getConfig(),
                                  {a[0], a[1], a[2]}, a[3], a[4], a[5], record);
        return {step.next.threshold, step.next.lower, step.next.upper,
                s.select(step.pending, s.f32(1.0), s.f32(0.0))};
      });
  Value pending = any(next[3], {}, [](Scalar &s, ValueRange a) {
    return s.gt(a[0], s.f32(0.0));
  });
  next[3] = arith::XOrIOp::create(
      b, loc, pending, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  return next;
}

Value Decomposer::entmaxWeightsOf(EntmaxAttr config, Value scores,
                                  Value threshold) {
  double c0 = config.getExponent();
  return mapTile(scores, {threshold}, b.getF32Type(),
                 [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
                   return {entmax::positivePower(b, loc, functions,
                                                 s.sub(a[0], a[1]), c0)};
                 });
}

SmallVector<Value> Decomposer::entmaxAccumulate(EntmaxAccumulateOp op) {
  Value weights =
      entmaxWeightsOf(op.getConfig(), op.getScores(), op.getThreshold());
  Value newSum =
      reduceRows(weights, op.getSum(),
                 [](Scalar &s, Value x, Value l) { return s.add(l, x); });
  return {matmul(weights, op.getValue(), op.getAcc(), false), newSum};
}

Value Decomposer::entmaxWeights(EntmaxWeightsOp op) {
  Value weights =
      entmaxWeightsOf(op.getConfig(), op.getScores(), op.getThreshold());
  Type elementType = op.getType().getElementType();
  return mapTile(weights, {op.getSum()}, elementType,
                 [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
                   Value normalised = s.select(s.gt(a[1], s.f32(0.0)),
                                               s.div(a[0], a[1]), s.f32(0.0));
                   return {s.fromF32(normalised, elementType)};
                 });
}

SmallVector<Value> Decomposer::entmaxFinalize(EntmaxFinalizeOp op) {
  Value rows = op.getRows();
  Value output = finalizeRows(op.getAcc(), op.getSum(), rows,
                              op.getOutput().getType().getElementType(),
                              /*divide=*/true);
  Value statistic =
      mapRows({op.getThreshold(), op.getSum()}, 1,
              [&](Scalar &s, ValueRange a) -> SmallVector<Value> {
                Value inTile = arith::CmpIOp::create(
                    b, loc, arith::CmpIPredicate::slt, s.loopIndex(0), rows);
                Value valid = s.andI(inTile, s.gt(a[1], s.f32(0.0)));
                return {s.select(valid, a[0], s.f32(kInf))};
              })[0];
  return {output, statistic};
}

FailureOr<SmallVector<Value>> Decomposer::decompose(Operation *op) {
  using Result = FailureOr<SmallVector<Value>>;
  auto single = [](Value value) -> Result { return SmallVector<Value>{value}; };
  return llvm::TypeSwitch<Operation *, Result>(op)
      .Case([&](LoadTileOp o) { return single(loadTile(o)); })
      .Case([&](GatherTileOp o) { return single(gatherTile(o)); })
      .Case([&](LoadScoreChunkOp o) { return single(loadScoreChunk(o)); })
      .Case([&](ScoreTileOp o) { return single(scoreTile(o)); })
      .Case([&](IndexRowContainsOp o) { return single(indexRowContains(o)); })
      .Case([&](OnlineSoftmaxOp o) -> Result {
        return onlineSoftmax(o.getScores(), o.getValue(), o.getMax(),
                             o.getSum(), o.getAcc());
      })
      .Case([&](OnlineLogSumExpOp o) -> Result {
        return onlineSoftmax(o.getScores(), Value(), o.getMax(), o.getSum(),
                             Value());
      })
      .Case([&](RowMaxOp o) -> Result { return rowMax(o); })
      .Case([&](ElasticAccumulateOp o) { return single(elasticAccumulate(o)); })
      .Case([&](ElasticTileLiveOp o) { return single(elasticTileLive(o)); })
      .Case([&](SoftmaxFinalizeOp o) -> Result { return softmaxFinalize(o); })
      .Case([&](EntmaxHistogramOp o) { return single(entmaxHistogram(o)); })
      .Case([&](EntmaxMomentsOp o) -> Result { return entmaxMoments(o); })
      .Case([&](EntmaxThresholdInitOp o) -> Result { return thresholdInit(o); })
      .Case([&](EntmaxThresholdStepOp o) -> Result { return thresholdStep(o); })
      .Case([&](EntmaxAccumulateOp o) -> Result { return entmaxAccumulate(o); })
      .Case([&](EntmaxWeightsOp o) { return single(entmaxWeights(o)); })
      .Case([&](EntriesBetweenOp o) { return single(entriesBetween(o)); })
      .Case([&](AnyAboveOp o) {
        return single(
            any(o.getScores(), {o.getThreshold()},
                [](Scalar &s, ValueRange a) { return s.gt(a[0], a[1]); }));
      })
      .Case([&](EntmaxFinalizeOp o) -> Result { return entmaxFinalize(o); })
      .Default([](Operation *) -> Result { return failure(); });
}

struct SparseAttnDecomposeTilesPass
    : public sparse_attn::impl::SparseAttnDecomposeTilesPassBase<
          SparseAttnDecomposeTilesPass> {
  using Base::Base;

  void runOnOperation() override {
    // Tile ops nest only in score regions, which hold no tile op once the
    // masks are fused, so the order of the rewrites does not matter. A mask
    // query fusion left (a mask without a tiled form) is not a tile op: it
    // moves with its region and convert-sparse-attn-to-linalg reads it.
    SmallVector<Operation *> tileOps;
    getOperation().walk([&](Operation *op) {
      if (op->getDialect() ==
              getContext().getLoadedDialect<SparseAttnDialect>() &&
          !isa<YieldOp, MaskVisibleOp>(op))
        tileOps.push_back(op);
    });

    OpBuilder builder(&getContext());
    for (Operation *op : tileOps) {
      builder.setInsertionPoint(op);
      FailureOr<SmallVector<Value>> replacement =
          Decomposer(builder, op->getLoc()).decompose(op);
      if (failed(replacement))
        continue; // attention-level ops and mask producers are not tiles
      op->replaceAllUsesWith(*replacement);
      op->erase();
      ++numDecomposed;
    }
  }
};

} // namespace
