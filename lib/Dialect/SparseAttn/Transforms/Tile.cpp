//===- Tile.cpp - sparse-attn-tile ------------------------------*- C++ -*-===//
//
// Attention and row-wise entmax into a grid of query (row) tiles with loops
// over key tiles (chunks) on the tile-level ops.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "TiledForm.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNTILEPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

constexpr double kLog2E = 1.4426950408889634;

/// Entries a solver pass records per row between its threshold and the
/// root's upper bound (`sparse_attn.entries_between`). After the histogram
/// start that gap is one bin (1/64) wide: in simulation 3 entries per
/// random 16K-key row on average and at most 13 in 400 rows, so that with
/// 16 nearly every 128-row tile is proven in its first solver pass.
constexpr int64_t kGapCapacity = 16;

/// The cap on solver iterations when the entmax attribute does not fix
/// them. With the histogram start (alpha 1.5 and 2) the bracket is 1/BINS
/// wide and the closed-form step is exact once the support is, so one or
/// two passes converge on typical rows; nearly uniform sparsemax rows shed
/// a few support candidates per pass. General alpha runs the hybrid
/// Halley/bisection step from the [max - 1, max - n^(1-alpha)] bracket.
int64_t maxSolverIterations(EntmaxAttr config) {
  return config.isOnePointFive() || config.isSparsemax() ? 12 : 30;
}

/// Alpha 1.5 and 2: the threshold on a known support has a closed form, so
/// the solver starts from a histogram and can prove its root exact.
bool hasClosedFormRoot(EntmaxAttr config) {
  return config.isOnePointFive() || config.isSparsemax();
}

/// Index arithmetic at one insertion point.
class IndexMath {
public:
  IndexMath(OpBuilder &builder, Location loc) : b(builder), loc(loc) {}

  Value constant(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value add(Value lhs, Value rhs) {
    return arith::AddIOp::create(b, loc, lhs, rhs);
  }
  Value sub(Value lhs, Value rhs) {
    return arith::SubIOp::create(b, loc, lhs, rhs);
  }
  Value mul(Value lhs, int64_t rhs) {
    return arith::MulIOp::create(b, loc, lhs, constant(rhs));
  }
  Value ceilDiv(Value lhs, int64_t rhs) {
    return arith::CeilDivUIOp::create(b, loc, lhs, constant(rhs));
  }
  Value min(Value lhs, Value rhs) {
    return arith::MinSIOp::create(b, loc, lhs, rhs);
  }
  Value max(Value lhs, Value rhs) {
    return arith::MaxSIOp::create(b, loc, lhs, rhs);
  }
  /// clamp(value, 0, bound)
  Value clampTo(Value value, Value bound) {
    return min(max(value, constant(0)), bound);
  }
  Value dim(Value tensor, int64_t index) {
    return tensor::DimOp::create(b, loc, tensor, index);
  }
  Value lessThan(Value lhs, Value rhs) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, lhs, rhs);
  }
  Value select(Value condition, Value onTrue, Value onFalse) {
    return arith::SelectOp::create(b, loc, condition, onTrue, onFalse);
  }

private:
  OpBuilder &b;
  Location loc;
};

Value splatConstant(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                    float value) {
  auto type = RankedTensorType::get(shape, b.getF32Type());
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, ArrayRef<float>{value}));
}

/// i32 zeros of `shape`: the start of a histogram or gap record.
Value zeroCounts(OpBuilder &b, Location loc, ArrayRef<int64_t> shape) {
  auto type = RankedTensorType::get(shape, b.getI32Type());
  return arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, ArrayRef<int32_t>{0}));
}

Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type,
                ValueRange dynamicSizes) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(),
                                 dynamicSizes);
}

/// Builds `scf.for %kt = 0 to %numTiles` tagged as one pass over the keys.
using KeyLoopBody = function_ref<SmallVector<Value>(
    OpBuilder &, Location, Value keyTile, ValueRange state)>;

ValueRange buildKeyLoop(OpBuilder &b, Location loc, Value numTiles,
                        ValueRange init, StringRef kind, KeyLoopBody body) {
  IndexMath math(b, loc);
  auto loop = scf::ForOp::create(
      b, loc, math.constant(0), numTiles, math.constant(1), init,
      [&](OpBuilder &nested, Location nestedLoc, Value keyTile,
          ValueRange state) {
        scf::YieldOp::create(nested, nestedLoc,
                             body(nested, nestedLoc, keyTile, state));
      });
  loop->setAttr(kKeyPassAttr, b.getStringAttr(kind));
  return loop.getResults();
}

/// The scores of one key tile in the normaliser's units.
using ScoreFn = function_ref<Value(OpBuilder &, Location, Value keyTile)>;

struct Threshold {
  Value tau, lower, upper;
};

/// The entmax threshold solver shared by attention and the row-wise op: a
/// max pass, the histogram pass (alpha 1.5 and 2), then the solver
/// iterations, one moments pass each. `scores` yields the `x` tile of a key
/// tile (chunk) of `rows` query rows.
Threshold buildThresholdSolver(OpBuilder &b, Location loc, EntmaxAttr config,
                               int64_t rows, int64_t bins, Value numTiles,
                               ScoreFn scores) {
  IndexMath math(b, loc);
  auto rowType = RankedTensorType::get({rows}, b.getF32Type());
  float negInf = -std::numeric_limits<float>::infinity();
  Value zeros = splatConstant(b, loc, {rows}, 0.0f);

  ValueRange maxAndCount = buildKeyLoop(
      b, loc, numTiles, {splatConstant(b, loc, {rows}, negInf), zeros},
      key_pass::kEntmaxMax,
      [&](OpBuilder &nb, Location nl, Value kt, ValueRange state) {
        auto step =
            RowMaxOp::create(nb, nl, scores(nb, nl, kt), state[0], state[1]);
        return SmallVector<Value>{step.getNewMax(), step.getNewCount()};
      });
  Value rowMax = maxAndCount[0], count = maxAndCount[1];

  bool closedForm = hasClosedFormRoot(config);
  Value histogram;
  if (closedForm) {
    histogram = buildKeyLoop(
        b, loc, numTiles, {zeroCounts(b, loc, {rows, bins})},
        key_pass::kEntmaxHistogram,
        [&](OpBuilder &nb, Location nl, Value kt, ValueRange state) {
          return SmallVector<Value>{EntmaxHistogramOp::create(
              nb, nl, scores(nb, nl, kt), rowMax, state[0])};
        })[0];
  }
  auto init = EntmaxThresholdInitOp::create(
      b, loc, TypeRange{rowType, rowType, rowType}, config, rowMax, count,
      histogram);

  // Without a fixed count the solver stops once no threshold of the tile
  // moves (the first pass after the support is right) or once every row's root
  // is proven (alpha 1.5, 2), with a cap.
  std::optional<int64_t> fixedIterations = config.getIterations();
  int64_t maxIterations = fixedIterations.value_or(maxSolverIterations(config));
  Type i1 = b.getI1Type();
  Value notConverged = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
  SmallVector<Value> initial = {math.constant(0)};
  llvm::append_range(initial, init.getResults());
  initial.push_back(notConverged);
  SmallVector<Type> types = {b.getIndexType(), rowType, rowType, rowType, i1};
  auto solver = scf::WhileOp::create(
      b, loc, types, initial,
      [&](OpBuilder &nb, Location nl, ValueRange state) {
        Value more =
            arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, state[0],
                                  IndexMath(nb, nl).constant(maxIterations));
        if (!fixedIterations) {
          Value pending = arith::XOrIOp::create(
              nb, nl, state[4],
              arith::ConstantOp::create(nb, nl, nb.getBoolAttr(true)));
          more = arith::AndIOp::create(nb, nl, more, pending);
        }
        scf::ConditionOp::create(nb, nl, more, state);
      },
      [&](OpBuilder &nb, Location nl, ValueRange state) {
        // The closed-form alphas also record the entries between the
        // threshold and the upper bound, which prove a root exact in the
        // pass that finds it.
        SmallVector<Value> inits = {zeros, zeros, zeros};
        if (closedForm)
          inits.push_back(zeroCounts(nb, nl, {rows, 1 + kGapCapacity}));
        ValueRange moments = buildKeyLoop(
            nb, nl, numTiles, inits, key_pass::kEntmaxSolver,
            [&](OpBuilder &ib, Location il, Value kt, ValueRange sums) {
              Value tile = scores(ib, il, kt);
              auto step = EntmaxMomentsOp::create(
                  ib, il, config, tile, state[1], sums[0], sums[1], sums[2]);
              SmallVector<Value> next(step.getResults());
              if (closedForm)
                next.push_back(EntriesBetweenOp::create(
                    ib, il, tile, state[1], state[3], sums[3]));
              return next;
            });
        auto step = EntmaxThresholdStepOp::create(
            nb, nl, config, state[1], state[2], state[3], moments[0],
            moments[1], moments[2], closedForm ? moments[3] : Value());
        SmallVector<Value> next = {arith::AddIOp::create(
            nb, nl, state[0], IndexMath(nb, nl).constant(1))};
        llvm::append_range(next, step.getResults());
        scf::YieldOp::create(nb, nl, next);
      });
  solver->setAttr(kSolverLoopAttr, b.getUnitAttr());
  return {solver.getResult(1), solver.getResult(2), solver.getResult(3)};
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// Everything a grid point of a tiled attention knows.
struct GridPoint {
  Value batch, head, kvHead;
  Value queryStart;  // absolute index of the tile's first query row
  Value queryLength; // Lq
  Value keyLength;   // Lk
  Value offset;      // Lk - Lq: position of query i is i + offset
  Value validRows;   // rows of the tile below Lq
  Value numKeyTiles; // key tiles to visit (0 when no row is valid)
  Value queryTile;
};

class AttentionTiler {
public:
  AttentionTiler(AttentionOp op, int64_t queryTile, int64_t keyTile,
                 int64_t bins)
      : op(op), tileRows(queryTile), tileKeys(keyTile), bins(bins) {}

  void tile();

private:
  GridPoint buildGridPoint(OpBuilder &b, Location loc, ValueRange ivs);
  Value buildScores(OpBuilder &b, Location loc, const GridPoint &point,
                    Value keyTile);
  void buildVisibility(OpBuilder &b, Location loc, ScoreTileOp scores,
                       const GridPoint &point);
  Value loadValues(OpBuilder &b, Location loc, const GridPoint &point,
                   Value keyTile);
  /// The output tile and the statistics tile of one grid point.
  std::pair<Value, Value> buildNormalizer(OpBuilder &b, Location loc,
                                          const GridPoint &point);

  AttentionOp op;
  int64_t tileRows, tileKeys, bins;
  /// The scale of q.k and of the bias in the normaliser's score units.
  float scoreScale = 1.0f, biasScale = 1.0f;
};

GridPoint AttentionTiler::buildGridPoint(OpBuilder &b, Location loc,
                                         ValueRange ivs) {
  IndexMath math(b, loc);
  GridPoint point;
  point.batch = ivs[0];
  point.head = ivs[1];
  Value query = op.getQuery(), key = op.getKey();
  Value group =
      arith::DivUIOp::create(b, loc, math.dim(query, 1), math.dim(key, 1));
  point.kvHead = arith::DivUIOp::create(b, loc, point.head, group);
  point.queryStart = math.mul(ivs[2], tileRows);

  auto length = [&](Value lengths, Value extent) -> Value {
    if (!lengths)
      return extent;
    Value raw = tensor::ExtractOp::create(b, loc, lengths, point.batch);
    Value asIndex = arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
    return math.clampTo(asIndex, extent);
  };
  point.queryLength = length(op.getQueryLengths(), math.dim(query, 2));
  point.keyLength = length(op.getKeyLengths(), math.dim(key, 2));
  point.offset = math.sub(point.keyLength, point.queryLength);
  point.validRows = math.clampTo(math.sub(point.queryLength, point.queryStart),
                                 math.constant(tileRows));
  Value anyRow = math.lessThan(point.queryStart, point.queryLength);
  point.numKeyTiles = math.select(
      anyRow, math.ceilDiv(point.keyLength, tileKeys), math.constant(0));

  auto queryType = op.getQuery().getType();
  auto tileType = RankedTensorType::get({tileRows, queryType.getDimSize(3)},
                                        queryType.getElementType());
  point.queryTile = LoadTileOp::create(b, loc, tileType, query, point.batch,
                                       point.head, point.queryStart);
  return point;
}

void AttentionTiler::buildVisibility(OpBuilder &b, Location loc,
                                     ScoreTileOp scores,
                                     const GridPoint &point) {
  OpBuilder::InsertionGuard guard(b);
  Block *body = b.createBlock(&scores.getVisible(), {},
                              {b.getIndexType(), b.getIndexType()}, {loc, loc});
  Value i = body->getArgument(0), j = body->getArgument(1);
  IndexMath math(b, loc);
  Value visible =
      arith::AndIOp::create(b, loc, math.lessThan(i, point.queryLength),
                            math.lessThan(j, point.keyLength));
  if (op.getCausal()) {
    Value position = math.add(i, point.offset);
    Value causal =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, j, position);
    visible = arith::AndIOp::create(b, loc, visible, causal);
  }
  if (Value mask = op.getMask()) {
    Value inMask =
        MaskVisibleOp::create(b, loc, mask, point.batch, point.head, i, j);
    visible = arith::AndIOp::create(b, loc, visible, inMask);
  }
  YieldOp::create(b, loc, visible);
}

Value AttentionTiler::buildScores(OpBuilder &b, Location loc,
                                  const GridPoint &point, Value keyTile) {
  IndexMath math(b, loc);
  auto keyType = op.getKey().getType();
  Value keyStart = math.mul(keyTile, tileKeys);
  auto tileType = RankedTensorType::get({tileKeys, keyType.getDimSize(3)},
                                        keyType.getElementType());
  Value keys = LoadTileOp::create(b, loc, tileType, op.getKey(), point.batch,
                                  point.kvHead, keyStart);
  Value bias = op.getBias();
  auto scores = ScoreTileOp::create(
      b, loc, RankedTensorType::get({tileRows, tileKeys}, b.getF32Type()),
      point.queryTile, keys, point.queryStart, keyStart, bias,
      bias ? point.head : Value(), bias ? point.offset : Value(),
      b.getF32FloatAttr(scoreScale),
      bias ? b.getF32FloatAttr(biasScale) : FloatAttr());
  buildVisibility(b, loc, scores, point);
  return scores;
}

Value AttentionTiler::loadValues(OpBuilder &b, Location loc,
                                 const GridPoint &point, Value keyTile) {
  IndexMath math(b, loc);
  auto valueType = op.getValue().getType();
  auto tileType = RankedTensorType::get({tileKeys, valueType.getDimSize(3)},
                                        valueType.getElementType());
  return LoadTileOp::create(b, loc, tileType, op.getValue(), point.batch,
                            point.kvHead, math.mul(keyTile, tileKeys));
}

std::pair<Value, Value>
AttentionTiler::buildNormalizer(OpBuilder &b, Location loc,
                                const GridPoint &point) {
  int64_t valueDim = op.getValue().getType().getDimSize(3);
  auto outputTileType = RankedTensorType::get(
      {tileRows, valueDim}, op.getOutput().getType().getElementType());
  float negInf = -std::numeric_limits<float>::infinity();
  Value zeroRows = splatConstant(b, loc, {tileRows}, 0.0f);
  Value zeroAcc = splatConstant(b, loc, {tileRows, valueDim}, 0.0f);
  Value negInfRows = splatConstant(b, loc, {tileRows}, negInf);
  auto scoreTile = [&](OpBuilder &nb, Location nl, Value kt) {
    return buildScores(nb, nl, point, kt);
  };
  ScoreFn scores = scoreTile;

  NormalizerAttrInterface normalizer = op.getNormalizer();
  if (isa<SoftmaxAttr>(normalizer)) {
    ValueRange state =
        buildKeyLoop(b, loc, point.numKeyTiles, {negInfRows, zeroRows, zeroAcc},
                     key_pass::kSoftmax,
                     [&](OpBuilder &nb, Location nl, Value kt, ValueRange s) {
                       auto step = OnlineSoftmaxOp::create(
                           nb, nl, scores(nb, nl, kt),
                           loadValues(nb, nl, point, kt), s[0], s[1], s[2]);
                       return SmallVector<Value>(step.getResults());
                     });
    auto finalize = SoftmaxFinalizeOp::create(
        b, loc, outputTileType, zeroRows.getType(), state[0], state[1],
        state[2], point.validRows, /*unnormalized=*/false);
    return {finalize.getOutput(), finalize.getLogsumexp()};
  }

  if (isa<ElasticSoftmaxAttr>(normalizer)) {
    ValueRange lse = buildKeyLoop(
        b, loc, point.numKeyTiles, {negInfRows, zeroRows}, key_pass::kLogSumExp,
        [&](OpBuilder &nb, Location nl, Value kt, ValueRange s) {
          auto step =
              OnlineLogSumExpOp::create(nb, nl, scores(nb, nl, kt), s[0], s[1]);
          return SmallVector<Value>(step.getResults());
        });
    Value tau = tensor::ExtractOp::create(b, loc, op.getTau(), point.head);
    if (!tau.getType().isF32())
      tau = arith::ExtFOp::create(b, loc, b.getF32Type(), tau);
    IndexMath math(b, loc);
    Value position = math.add(point.queryStart, point.offset);
    Value acc = buildKeyLoop(
        b, loc, point.numKeyTiles, {zeroAcc}, key_pass::kElasticOutput,
        [&](OpBuilder &nb, Location nl, Value kt, ValueRange s) {
          return SmallVector<Value>{ElasticAccumulateOp::create(
              nb, nl, scores(nb, nl, kt), loadValues(nb, nl, point, kt), lse[0],
              lse[1], s[0], tau, position)};
        })[0];
    auto finalize = SoftmaxFinalizeOp::create(
        b, loc, outputTileType, zeroRows.getType(), lse[0], lse[1], acc,
        point.validRows, /*unnormalized=*/true);
    return {finalize.getOutput(), finalize.getLogsumexp()};
  }

  auto config = cast<EntmaxAttr>(normalizer);
  Threshold threshold = buildThresholdSolver(b, loc, config, tileRows, bins,
                                             point.numKeyTiles, scores);
  ValueRange output = buildKeyLoop(
      b, loc, point.numKeyTiles, {zeroAcc, zeroRows}, key_pass::kEntmaxOutput,
      [&](OpBuilder &nb, Location nl, Value kt, ValueRange s) {
        auto step = EntmaxAccumulateOp::create(
            nb, nl, config, scores(nb, nl, kt), loadValues(nb, nl, point, kt),
            threshold.tau, s[0], s[1]);
        return SmallVector<Value>(step.getResults());
      });
  auto finalize = EntmaxFinalizeOp::create(
      b, loc, outputTileType, zeroRows.getType(), threshold.tau, output[1],
      output[0], point.validRows);
  return {finalize.getOutput(), finalize.getStatistic()};
}

void AttentionTiler::tile() {
  OpBuilder b(op);
  Location loc = op.getLoc();
  IndexMath math(b, loc);
  NormalizerAttrInterface normalizer = op.getNormalizer();
  double scale = op.getEffectiveScale();
  if (auto entmax = dyn_cast<EntmaxAttr>(normalizer)) {
    double alphaMinusOne = entmax.getAlphaValue() - 1.0;
    scoreScale = static_cast<float>(scale * alphaMinusOne);
    biasScale = static_cast<float>(alphaMinusOne);
  } else {
    scoreScale = static_cast<float>(scale * kLog2E);
    biasScale = static_cast<float>(kLog2E);
  }

  Value query = op.getQuery();
  Value batch = math.dim(query, 0), heads = math.dim(query, 1),
        queryLength = math.dim(query, 2);
  auto outputType = op.getOutput().getType();
  SmallVector<Value> outputs = {emptyLike(b, loc, outputType, [&] {
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < 3; ++d)
      if (outputType.isDynamicDim(d))
        sizes.push_back(math.dim(query, d));
    return sizes;
  }())};
  if (Value statistics = op.getStatistics()) {
    auto statisticsType = cast<RankedTensorType>(statistics.getType());
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < 3; ++d)
      if (statisticsType.isDynamicDim(d))
        sizes.push_back(math.dim(query, d));
    outputs.push_back(emptyLike(b, loc, statisticsType, sizes));
  }

  Value numQueryTiles = math.ceilDiv(queryLength, tileRows);
  auto grid = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{batch, heads, numQueryTiles}, outputs,
      std::nullopt);
  grid->setAttr(kGridAttr, b.getStringAttr("attention"));

  b.setInsertionPointToStart(grid.getBody());
  GridPoint point = buildGridPoint(b, loc, grid.getInductionVars());
  auto [outputTile, statisticsTile] = buildNormalizer(b, loc, point);

  // Rows of the tile inside the padded sequence are written back.
  Value rowsInSequence = math.min(math.sub(queryLength, point.queryStart),
                                  math.constant(tileRows));
  Value zero = math.constant(0), one = math.constant(1);
  int64_t valueDim = op.getValue().getType().getDimSize(3);
  Value outputRows = tensor::ExtractSliceOp::create(
      b, loc, outputTile, ArrayRef<OpFoldResult>{zero, zero},
      ArrayRef<OpFoldResult>{rowsInSequence, b.getIndexAttr(valueDim)},
      ArrayRef<OpFoldResult>{one, one});
  Value statisticsRows;
  if (op.getStatistics())
    statisticsRows = tensor::ExtractSliceOp::create(
        b, loc, statisticsTile, ArrayRef<OpFoldResult>{zero},
        ArrayRef<OpFoldResult>{rowsInSequence}, ArrayRef<OpFoldResult>{one});

  b.setInsertionPointToEnd(grid.getTerminator().getBody());
  ValueRange shared = grid.getRegionIterArgs();
  OpFoldResult unit = b.getIndexAttr(1);
  tensor::ParallelInsertSliceOp::create(
      b, loc, outputRows, shared[0],
      ArrayRef<OpFoldResult>{point.batch, point.head, point.queryStart, zero},
      ArrayRef<OpFoldResult>{unit, unit, rowsInSequence,
                             b.getIndexAttr(valueDim)},
      ArrayRef<OpFoldResult>{unit, unit, unit, unit});
  if (statisticsRows)
    tensor::ParallelInsertSliceOp::create(
        b, loc, statisticsRows, shared[1],
        ArrayRef<OpFoldResult>{point.batch, point.head, point.queryStart},
        ArrayRef<OpFoldResult>{unit, unit, rowsInSequence},
        ArrayRef<OpFoldResult>{unit, unit, unit});

  op->replaceAllUsesWith(grid->getResults());
  op->erase();
}

//===----------------------------------------------------------------------===//
// Row-wise entmax
//===----------------------------------------------------------------------===//

void tileRowEntmax(EntmaxOp op, int64_t tileRows, int64_t chunk, int64_t bins) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  IndexMath math(b, loc);
  EntmaxAttr config = op.getConfig();
  RankedTensorType inputType = op.getInput().getType();
  int64_t rank = inputType.getRank();
  Type elementType = inputType.getElementType();

  // Rows along the last dimension as a [R, N] matrix.
  Value input = op.getInput();
  Value matrix;
  if (rank == 1) {
    auto type =
        RankedTensorType::get({1, inputType.getDimSize(0)}, elementType);
    matrix = tensor::ExpandShapeOp::create(
        b, loc, type, input, ArrayRef<ReassociationIndices>{{0, 1}},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                               tensor::getMixedSize(b, loc, input, 0)});
  } else {
    ReassociationIndices leading;
    for (int64_t d = 0; d + 1 < rank; ++d)
      leading.push_back(d);
    matrix = tensor::CollapseShapeOp::create(
        b, loc, input, ArrayRef<ReassociationIndices>{leading, {rank - 1}});
  }
  auto matrixType = cast<RankedTensorType>(matrix.getType());
  Value numRows = math.dim(matrix, 0), rowLength = math.dim(matrix, 1);
  SmallVector<Value> dynamicSizes;
  for (int64_t d = 0; d < 2; ++d)
    if (matrixType.isDynamicDim(d))
      dynamicSizes.push_back(math.dim(matrix, d));
  Value init = emptyLike(b, loc, matrixType, dynamicSizes);

  auto grid = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{math.ceilDiv(numRows, tileRows)},
      ValueRange{init}, std::nullopt);
  grid->setAttr(kGridAttr, b.getStringAttr("entmax"));
  b.setInsertionPointToStart(grid.getBody());
  Value rowStart = math.mul(grid.getInductionVars()[0], tileRows);
  Value rows = math.min(math.sub(numRows, rowStart), math.constant(tileRows));
  Value numChunks = math.ceilDiv(rowLength, chunk);
  auto chunkType = RankedTensorType::get({tileRows, chunk}, b.getF32Type());
  float alphaMinusOne = static_cast<float>(config.getAlphaValue() - 1.0);
  auto loadChunk = [&](OpBuilder &nb, Location nl, Value kt) -> Value {
    IndexMath inner(nb, nl);
    return LoadScoreChunkOp::create(nb, nl, chunkType, matrix, rowStart,
                                    inner.mul(kt, chunk),
                                    nb.getF32FloatAttr(alphaMinusOne));
  };
  ScoreFn scores = loadChunk;
  Threshold threshold =
      buildThresholdSolver(b, loc, config, tileRows, bins, numChunks, scores);

  // The row sums at the final threshold renormalise the written weights.
  Value zeros = splatConstant(b, loc, {tileRows}, 0.0f);
  Value rowSum = buildKeyLoop(
      b, loc, numChunks, {zeros, zeros, zeros}, key_pass::kEntmaxSum,
      [&](OpBuilder &nb, Location nl, Value kt, ValueRange sums) {
        auto step =
            EntmaxMomentsOp::create(nb, nl, config, scores(nb, nl, kt),
                                    threshold.tau, sums[0], sums[1], sums[2]);
        return SmallVector<Value>(step.getResults());
      })[0];

  Value zero = math.constant(0), one = math.constant(1);
  ValueRange shared = grid.getRegionIterArgs();
  Value slab = tensor::ExtractSliceOp::create(
      b, loc, shared[0], ArrayRef<OpFoldResult>{rowStart, zero},
      ArrayRef<OpFoldResult>{rows, rowLength},
      ArrayRef<OpFoldResult>{one, one});
  auto weightsType = RankedTensorType::get({tileRows, chunk}, elementType);
  Value written = buildKeyLoop(
      b, loc, numChunks, {slab}, key_pass::kEntmaxOutput,
      [&](OpBuilder &nb, Location nl, Value kt, ValueRange state) {
        IndexMath inner(nb, nl);
        Value weights =
            EntmaxWeightsOp::create(nb, nl, weightsType, config,
                                    scores(nb, nl, kt), threshold.tau, rowSum);
        Value chunkStart = inner.mul(kt, chunk);
        Value columns =
            inner.min(inner.sub(rowLength, chunkStart), inner.constant(chunk));
        Value c0 = inner.constant(0), c1 = inner.constant(1);
        Value piece = tensor::ExtractSliceOp::create(
            nb, nl, weights, ArrayRef<OpFoldResult>{c0, c0},
            ArrayRef<OpFoldResult>{rows, columns},
            ArrayRef<OpFoldResult>{c1, c1});
        return SmallVector<Value>{tensor::InsertSliceOp::create(
            nb, nl, piece, state[0], ArrayRef<OpFoldResult>{c0, chunkStart},
            ArrayRef<OpFoldResult>{rows, columns},
            ArrayRef<OpFoldResult>{c1, c1})};
      })[0];

  b.setInsertionPointToEnd(grid.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, loc, written, shared[0],
                                        ArrayRef<OpFoldResult>{rowStart, zero},
                                        ArrayRef<OpFoldResult>{rows, rowLength},
                                        ArrayRef<OpFoldResult>{one, one});

  b.setInsertionPointAfter(grid);
  Value result = grid.getResult(0);
  if (rank == 1) {
    result = tensor::CollapseShapeOp::create(
        b, loc, inputType, result, ArrayRef<ReassociationIndices>{{0, 1}});
  } else {
    ReassociationIndices leading;
    for (int64_t d = 0; d + 1 < rank; ++d)
      leading.push_back(d);
    result = tensor::ExpandShapeOp::create(
        b, loc, inputType, result,
        ArrayRef<ReassociationIndices>{leading, {rank - 1}},
        tensor::getMixedSizes(b, loc, input));
  }
  op.replaceAllUsesWith(result);
  op.erase();
}

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

struct SparseAttnTilePass
    : public sparse_attn::impl::SparseAttnTilePassBase<SparseAttnTilePass> {
  using Base::Base;

  void runOnOperation() override {
    auto isTileSize = [](int64_t size) {
      return size > 0 && llvm::isPowerOf2_64(static_cast<uint64_t>(size));
    };
    if (!isTileSize(queryTile) || !isTileSize(keyTile)) {
      getOperation().emitError("tile sizes must be positive powers of two, "
                               "got ")
          << queryTile.getValue() << "x" << keyTile.getValue();
      return signalPassFailure();
    }
    if (histogramBins < 1) {
      getOperation().emitError("histogram-bins must be positive, got ")
          << histogramBins.getValue();
      return signalPassFailure();
    }

    SmallVector<AttentionOp> attentions;
    SmallVector<EntmaxOp> entmaxes;
    getOperation().walk([&](Operation *op) {
      if (auto attention = dyn_cast<AttentionOp>(op))
        attentions.push_back(attention);
      else if (auto entmax = dyn_cast<EntmaxOp>(op))
        entmaxes.push_back(entmax);
    });

    for (AttentionOp attention : attentions) {
      // Tiles never straddle a mask block.
      int64_t rows = queryTile, keys = keyTile;
      if (Value mask = attention.getMask()) {
        auto maskType = cast<BlockMaskType>(mask.getType());
        rows = std::min<int64_t>(rows, maskType.getQueryBlockSize());
        keys = std::min<int64_t>(keys, maskType.getKeyBlockSize());
      }
      AttentionTiler(attention, rows, keys, histogramBins).tile();
      ++numTiledAttention;
    }
    for (EntmaxOp entmax : entmaxes) {
      tileRowEntmax(entmax, queryTile, keyTile, histogramBins);
      ++numTiledEntmax;
    }
  }
};

} // namespace
