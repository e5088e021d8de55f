//===- SparseAttnToLinalg.cpp - sparse_attn reference lowering ------------===//
//
// Lowers every sparse_attn op to the most direct form of its definition in
// docs/design/semantics.md, on tensors: linalg.generic/linalg.fill for the
// elementwise maps and reductions, tensor.extract for gathers whose index is
// computed (grouped-query heads, broadcast mask extents, bias diagonals),
// scf for the entmax threshold search and the block scans. Block masks become
// their token-level visibility `tensor<B x H x Nq x Nk x i1>`.
//
// The result is the oracle of the tiled lowerings: every row is materialised
// in full, and nothing is approximated beyond f32 rounding.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Conversion/Passes.h"
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/TypeSwitch.h"

#include <limits>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_CONVERTSPARSEATTNTOLINALGPASS
#include "sparse_attn/Conversion/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

//===----------------------------------------------------------------------===//
// Scalar helpers
//===----------------------------------------------------------------------===//

static constexpr double kInfinity = std::numeric_limits<double>::infinity();

static Value f32Constant(ImplicitLocOpBuilder &b, double value) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(value));
}

static Value i32Constant(ImplicitLocOpBuilder &b, int32_t value) {
  return arith::ConstantOp::create(b, b.getI32IntegerAttr(value));
}

static Value indexConstant(ImplicitLocOpBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

static Value boolConstant(ImplicitLocOpBuilder &b, bool value) {
  return arith::ConstantOp::create(b, b.getBoolAttr(value));
}

/// bf16 and f16 are computed in f32.
static Value toF32(ImplicitLocOpBuilder &b, Value value) {
  if (value.getType().isF32())
    return value;
  return arith::ExtFOp::create(b, b.getF32Type(), value);
}

static Value indexToF32(ImplicitLocOpBuilder &b, Value index) {
  Value wide = arith::IndexCastOp::create(b, b.getI64Type(), index);
  return arith::SIToFPOp::create(b, b.getF32Type(), wide);
}

static Value indexToI32(ImplicitLocOpBuilder &b, Value index) {
  return arith::IndexCastOp::create(b, b.getI32Type(), index);
}

/// `min(max(value, 0), upper)` on indices.
static Value clampIndex(ImplicitLocOpBuilder &b, Value value, Value upper) {
  Value nonNegative = arith::MaxSIOp::create(b, value, indexConstant(b, 0));
  return arith::MinSIOp::create(b, nonNegative, upper);
}

static Value select(ImplicitLocOpBuilder &b, Value condition, Value onTrue,
                    Value onFalse) {
  return arith::SelectOp::create(b, condition, onTrue, onFalse);
}

/// The induction variable of loop `dim` inside a linalg.generic body.
static Value loopIndex(ImplicitLocOpBuilder &b, int64_t dim) {
  return linalg::IndexOp::create(b, b.getI64IntegerAttr(dim));
}

/// The extent `dim` of `tensor` as an index value (a constant when static).
static Value dimValue(ImplicitLocOpBuilder &b, Value tensor, int64_t dim) {
  return b.createOrFold<tensor::DimOp>(tensor, dim);
}

static Value castTo(ImplicitLocOpBuilder &b, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, type, value);
}

//===----------------------------------------------------------------------===//
// linalg.generic helpers
//===----------------------------------------------------------------------===//

using BodyBuilder = function_ref<Value(ImplicitLocOpBuilder &, ValueRange)>;
using MultiBodyBuilder =
    function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, ValueRange)>;

static ResultRange buildGeneric(ImplicitLocOpBuilder &b, ValueRange inputs,
                                ValueRange inits, ArrayRef<AffineMap> maps,
                                ArrayRef<utils::IteratorType> iterators,
                                MultiBodyBuilder body) {
  auto generic = linalg::GenericOp::create(
      b, TypeRange(inits), inputs, inits, maps, iterators,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        ImplicitLocOpBuilder nestedBuilder(loc, nested);
        linalg::YieldOp::create(nestedBuilder, body(nestedBuilder, args));
      });
  return generic.getResults();
}

static Value buildGeneric(ImplicitLocOpBuilder &b, ValueRange inputs,
                          Value init, ArrayRef<AffineMap> maps,
                          ArrayRef<utils::IteratorType> iterators,
                          BodyBuilder body) {
  return buildGeneric(
      b, inputs, init, maps, iterators,
      [&](ImplicitLocOpBuilder &nested, ValueRange args) -> SmallVector<Value> {
        return {body(nested, args)};
      })[0];
}

/// The map of a `numDims`-d loop nest onto the listed loops.
static AffineMap loopsMap(MLIRContext *context, unsigned numDims,
                          ArrayRef<unsigned> loops) {
  return AffineMap::getMultiDimMapWithTargets(numDims, loops, context);
}

static SmallVector<utils::IteratorType>
parallelThenReductions(unsigned numParallel, unsigned numReduction) {
  SmallVector<utils::IteratorType> iterators(numParallel,
                                             utils::IteratorType::parallel);
  iterators.append(numReduction, utils::IteratorType::reduction);
  return iterators;
}

static Value buildFilled(ImplicitLocOpBuilder &b, ArrayRef<OpFoldResult> sizes,
                         TypedAttr value) {
  Value empty = tensor::EmptyOp::create(b, sizes, value.getType());
  Value scalar = arith::ConstantOp::create(b, value);
  return linalg::FillOp::create(b, scalar, empty).getResult(0);
}

/// A body of a single-output parallel generic that receives only the inputs.
static auto withoutOutput(BodyBuilder body) {
  return [body](ImplicitLocOpBuilder &b, ValueRange args) {
    return body(b, args.drop_back());
  };
}

namespace {
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

} // namespace

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

namespace {
struct NormalizedRows {
  /// The weights, zero where not visible and on empty rows.
  Value weights;
  /// The per-row statistic when requested, else null.
  Value statistic;
};

} // namespace

/// [d]_+ ^ (1 / (alpha - 1)): the entmax weight of an entry `d` above the
/// threshold. alpha = 2 and 1.5 need no transcendental function.
static Value entmaxWeight(ImplicitLocOpBuilder &b, Value above,
                          EntmaxAttr config) {
  Value power;
  if (config.isSparsemax())
    power = above;
  else if (config.isOnePointFive())
    power = arith::MulFOp::create(b, above, above);
  else
    power =
        math::PowFOp::create(b, above, f32Constant(b, config.getExponent()));
  Value zero = f32Constant(b, 0.0);
  Value positive =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, above, zero);
  return select(b, positive, power, zero);
}

static Value midpoint(ImplicitLocOpBuilder &b, Value lower, Value upper) {
  // lower + (upper - lower) / 2 stays finite where lower + upper may not.
  Value width = arith::SubFOp::create(b, upper, lower);
  Value half = f32Constant(b, 0.5);
  Value halfWidth = arith::MulFOp::create(b, width, half);
  return arith::AddFOp::create(b, lower, halfWidth);
}

/// Row-wise alpha-entmax of `scores` (rows along the last dimension, any
/// float type, computed in f32) over the entries where `visible` holds (all
/// when null). The statistic is the threshold tau in units of
/// x = (alpha - 1) * score, +inf on rows without a visible entry.
///
/// The threshold is found relative to the row maximum m: with
/// x' = x - m, tau' = tau - m lies in [-1, 0] (the maximum alone weighs
/// 1 at tau' = -1; every weight is 0 at tau' = 0), which keeps the bisection
/// at full relative precision near the root whatever the magnitude of the
/// scores. Bisection halves the bracket until no row's midpoint falls
/// strictly inside its bracket, i.e. until f32 cannot shrink it further:
/// about 24 + (alpha - 1) * log2(n) steps, since |tau'| >= n^(1 - alpha).
/// The weights at the final tau are then divided by their sum: this removes
/// the residual of the bisection (the sum at an f32 tau is 1 only up to the
/// bracket width times the slope), so that every row sums to 1 to rounding.
/// The attribute's `iterations` binds the tiled lowerings only: the oracle is
/// always solved to full precision.
static NormalizedRows buildEntmax(ImplicitLocOpBuilder &b,
                                  const RowDomain &rows, Value scores,
                                  Value visible, EntmaxAttr config,
                                  bool withStatistic) {
  Type f32 = b.getF32Type();
  double scoreFactor = config.getAlphaValue() - 1.0;
  SmallVector<Value> entries = {scores};
  if (visible)
    entries.push_back(visible);
  // x = (alpha - 1) * score of the entry whose operands start `args`.
  auto entryX = [&](ImplicitLocOpBuilder &nb, ValueRange args) -> Value {
    Value score = toF32(nb, args[0]);
    return arith::MulFOp::create(nb, score, f32Constant(nb, scoreFactor));
  };
  auto ifVisible = [&](ImplicitLocOpBuilder &nb, ValueRange args, Value value,
                       Value otherwise) -> Value {
    return visible ? select(nb, args[1], value, otherwise) : value;
  };

  Value rowMax = rows.reduceRows(
      b, entries, -kInfinity, [&](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value max =
            arith::MaximumFOp::create(nb, args.back(), entryX(nb, args));
        return ifVisible(nb, args, max, args.back());
      });
  // x' = x - m; -inf where not visible, which gives weight 0 at any tau'.
  SmallVector<Value> shiftInputs(entries);
  shiftInputs.push_back(rowMax);
  Value shifted = rows.map(
      b, shiftInputs, f32, [&](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value x = arith::SubFOp::create(nb, entryX(nb, args), args.back());
        return ifVisible(nb, args, x, f32Constant(nb, -kInfinity));
      });

  // The mass sum_j [x'_j - tau']_+^(1/(alpha-1)) of every row at `tau`.
  auto rowMass = [&](ImplicitLocOpBuilder &nb, Value tau) {
    return rows.reduceRows(
        nb, {shifted, tau}, 0.0,
        [&](ImplicitLocOpBuilder &inner, ValueRange args) {
          Value above = arith::SubFOp::create(inner, args[0], args[1]);
          return arith::AddFOp::create(inner, args[2],
                                       entmaxWeight(inner, above, config));
        });
  };

  Value lower = rows.filledRows(b, -1.0);
  Value upper = rows.filledRows(b, 0.0);
  Type rowType = lower.getType();
  auto bisection = scf::WhileOp::create(
      b, TypeRange{rowType, rowType}, ValueRange{lower, upper},
      [&](OpBuilder &nested, Location loc, ValueRange bracket) {
        ImplicitLocOpBuilder nb(loc, nested);
        auto rowMidpoint = [](ImplicitLocOpBuilder &inner, ValueRange args) {
          return midpoint(inner, args[0], args[1]);
        };
        Value middle = rows.mapRows(nb, bracket, f32, rowMidpoint);
        Value mass = rowMass(nb, middle);
        Value shrinking = rows.anyRow(
            nb, {bracket[0], middle, bracket[1]},
            [](ImplicitLocOpBuilder &inner, ValueRange args) -> Value {
              Value aboveLower = arith::CmpFOp::create(
                  inner, arith::CmpFPredicate::OLT, args[0], args[1]);
              Value belowUpper = arith::CmpFOp::create(
                  inner, arith::CmpFPredicate::OLT, args[1], args[2]);
              return arith::AndIOp::create(inner, aboveLower, belowUpper);
            });
        // The mass decreases in tau: mass >= 1 puts the root above middle.
        // The bracket is updated in place, so that the loop carries the same
        // buffers from one iteration to the next.
        ResultRange next = rows.updateRows(
            nb, {middle, mass}, bracket,
            [](ImplicitLocOpBuilder &inner,
               ValueRange args) -> SmallVector<Value> {
              Value rootAbove =
                  arith::CmpFOp::create(inner, arith::CmpFPredicate::OGE,
                                        args[1], f32Constant(inner, 1.0));
              return {select(inner, rootAbove, args[0], args[2]),
                      select(inner, rootAbove, args[3], args[0])};
            });
        Value proceed = tensor::ExtractOp::create(nb, shrinking, ValueRange{});
        scf::ConditionOp::create(nb, proceed, ValueRange{next[0], next[1]});
      },
      [](OpBuilder &nested, Location loc, ValueRange bracket) {
        scf::YieldOp::create(nested, loc, bracket);
      });

  Value tau = rows.mapRows(b, bisection.getResults(), f32,
                           [](ImplicitLocOpBuilder &nb, ValueRange args) {
                             return midpoint(nb, args[0], args[1]);
                           });
  Value mass = rowMass(b, tau);
  NormalizedRows result;
  result.weights = rows.map(
      b, {shifted, tau, mass}, f32,
      [&](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value above = arith::SubFOp::create(nb, args[0], args[1]);
        Value weight = entmaxWeight(nb, above, config);
        Value zero = f32Constant(nb, 0.0);
        Value nonEmpty =
            arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT, args[2], zero);
        return select(nb, nonEmpty, arith::DivFOp::create(nb, weight, args[2]),
                      zero);
      });
  if (withStatistic) {
    result.statistic = rows.mapRows(
        b, {rowMax, tau, mass}, f32,
        [](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value nonEmpty = arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT,
                                                 args[2], f32Constant(nb, 0.0));
          Value threshold = arith::AddFOp::create(nb, args[0], args[1]);
          return select(nb, nonEmpty, threshold, f32Constant(nb, kInfinity));
        });
  }
  return result;
}

/// Softmax of the f32 `scores` over the `visible` entries; with `shift` (per
/// row) the elastic softmax max(0, P + shift). The statistic is the
/// log-sum-exp, -inf on empty rows.
static NormalizedRows buildSoftmax(ImplicitLocOpBuilder &b,
                                   const RowDomain &rows, Value scores,
                                   Value visible, Value shift,
                                   bool withStatistic) {
  Type f32 = b.getF32Type();
  Value rowMax = rows.reduceRows(b, {scores, visible}, -kInfinity,
                                 [](ImplicitLocOpBuilder &nb, ValueRange args) {
                                   Value max = arith::MaximumFOp::create(
                                       nb, args[2], args[0]);
                                   return select(nb, args[1], max, args[2]);
                                 });
  auto shiftedExp = [](ImplicitLocOpBuilder &nb, Value score, Value max) {
    return math::ExpOp::create(nb, arith::SubFOp::create(nb, score, max));
  };
  Value rowSum =
      rows.reduceRows(b, {scores, visible, rowMax}, 0.0,
                      [&](ImplicitLocOpBuilder &nb, ValueRange args) {
                        Value sum = arith::AddFOp::create(
                            nb, args[3], shiftedExp(nb, args[0], args[2]));
                        return select(nb, args[1], sum, args[3]);
                      });
  SmallVector<Value> weightInputs = {scores, visible, rowMax, rowSum};
  if (shift)
    weightInputs.push_back(shift);
  NormalizedRows result;
  result.weights = rows.map(
      b, weightInputs, f32, [&](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value zero = f32Constant(nb, 0.0);
        Value weight = arith::DivFOp::create(
            nb, shiftedExp(nb, args[0], args[2]), args[3]);
        if (shift)
          weight = arith::MaximumFOp::create(
              nb, arith::AddFOp::create(nb, weight, args[4]), zero);
        return select(nb, args[1], weight, zero);
      });
  if (withStatistic) {
    result.statistic = rows.mapRows(
        b, {rowMax, rowSum}, f32,
        [](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value nonEmpty = arith::CmpFOp::create(nb, arith::CmpFPredicate::OGT,
                                                 args[1], f32Constant(nb, 0.0));
          Value lse = arith::AddFOp::create(nb, args[0],
                                            math::LogOp::create(nb, args[1]));
          return select(nb, nonEmpty, lse, f32Constant(nb, -kInfinity));
        });
  }
  return result;
}

//===----------------------------------------------------------------------===//
// Token-level masks
//===----------------------------------------------------------------------===//

/// Reads loop `loop` of a [B, H, Nq, Nk] generic as an index into a batch or
/// head dimension of extent `extent`: 0 when the extent is 1 (broadcast).
static Value broadcastLoopIndex(ImplicitLocOpBuilder &b, OpFoldResult extent,
                                int64_t loop) {
  if (std::optional<int64_t> staticExtent = getConstantIntValue(extent))
    return *staticExtent == 1 ? indexConstant(b, 0) : loopIndex(b, loop);
  Value isUnit = arith::CmpIOp::create(
      b, arith::CmpIPredicate::eq, cast<Value>(extent), indexConstant(b, 1));
  Value zero = indexConstant(b, 0);
  return select(b, isUnit, zero, loopIndex(b, loop));
}

namespace {
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

} // namespace

/// Token-level mask of `type` in which (b, h, i, j) is visible iff
/// `isVisible(position, j)` with the bottom-right aligned position
/// i + (Nk - Nq) of query i.
static Value buildPositionalMask(
    ImplicitLocOpBuilder &b, RankedTensorType type, ValueRange dynamicSizes,
    function_ref<Value(ImplicitLocOpBuilder &, Value, Value)> isVisible) {
  Value init = tensor::EmptyOp::create(b, type, dynamicSizes);
  Value queryLength = dimValue(b, init, 2);
  Value keyLength = dimValue(b, init, 3);
  Value offset = b.createOrFold<arith::SubIOp>(keyLength, queryLength);
  MLIRContext *context = b.getContext();
  return buildGeneric(
      b, {}, init, {AffineMap::getMultiDimIdentityMap(4, context)},
      parallelThenReductions(4, 0), [&](ImplicitLocOpBuilder &nb, ValueRange) {
        Value position = arith::AddIOp::create(nb, loopIndex(nb, 2), offset);
        return isVisible(nb, position, loopIndex(nb, 3));
      });
}

/// Per-(b, h, I) lists of the key blocks J whose flag is set in
/// `flags [B, H, QB, KB] x i1`: the counts `[B, H, QB]` and the ascending
/// block indices `[B, H, QB, KB]`, padded with zeros (all i32). A listed
/// block's slot is its rank among the set flags before it.
static std::pair<Value, Value> buildBlockList(ImplicitLocOpBuilder &b,
                                              Value flags) {
  MLIRContext *context = b.getContext();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, b.getLoc(), flags);
  TypedAttr zero = b.getI32IntegerAttr(0);

  Value counts = buildGeneric(
      b, flags, buildFilled(b, ArrayRef(sizes).drop_back(), zero),
      {loopsMap(context, 4, {0, 1, 2, 3}), loopsMap(context, 4, {0, 1, 2})},
      parallelThenReductions(3, 1),
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value one = arith::ExtUIOp::create(nb, nb.getI32Type(), args[0]);
        return arith::AddIOp::create(nb, args[1], one);
      });

  // Loops (b, h, I, J, K): the rank of J counts the set flags at K < J.
  Value ranks = buildGeneric(
      b, flags, buildFilled(b, sizes, zero),
      {loopsMap(context, 5, {0, 1, 2, 4}), loopsMap(context, 5, {0, 1, 2, 3})},
      parallelThenReductions(4, 1),
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value block = loopIndex(nb, 3), other = loopIndex(nb, 4);
        Value before =
            arith::CmpIOp::create(nb, arith::CmpIPredicate::ult, other, block);
        Value counted = arith::AndIOp::create(nb, args[0], before);
        Value next = arith::AddIOp::create(nb, args[1], i32Constant(nb, 1));
        return select(nb, counted, next, args[1]);
      });

  // Loops (b, h, I, S, J): slot S holds the set J of rank S.
  Value indices = buildGeneric(
      b, {flags, ranks}, buildFilled(b, sizes, zero),
      {loopsMap(context, 5, {0, 1, 2, 4}), loopsMap(context, 5, {0, 1, 2, 4}),
       loopsMap(context, 5, {0, 1, 2, 3})},
      parallelThenReductions(4, 1),
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value slot = indexToI32(nb, loopIndex(nb, 3));
        Value inSlot =
            arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, args[1], slot);
        Value listed = arith::AndIOp::create(nb, args[0], inSlot);
        return select(nb, listed, indexToI32(nb, loopIndex(nb, 4)), args[2]);
      });
  return {counts, indices};
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

namespace {
/// Builds the reference form of one sparse_attn.attention: visibility and
/// scores over the full [B, H, Nq, Nk] matrix, the normalizer's weights, and
/// their contraction with the values.
class AttentionLowering {
public:
  AttentionLowering(ImplicitLocOpBuilder &b, AttentionOp op,
                    AttentionOp::Adaptor adaptor)
      : b(b), op(op), query(adaptor.getQuery()), key(adaptor.getKey()),
        value(adaptor.getValue()), mask(adaptor.getMask()),
        queryLengths(adaptor.getQueryLengths()),
        keyLengths(adaptor.getKeyLengths()), bias(adaptor.getBias()),
        tau(adaptor.getTau()) {
    Location loc = b.getLoc();
    scoreSizes = {tensor::getMixedSize(b, loc, query, 0),
                  tensor::getMixedSize(b, loc, query, 1),
                  tensor::getMixedSize(b, loc, query, 2),
                  tensor::getMixedSize(b, loc, key, 2)};
    queryLength = getValueOrCreateConstantIndexOp(b, loc, scoreSizes[2]);
    keyLength = getValueOrCreateConstantIndexOp(b, loc, scoreSizes[3]);
    // The group size may be dynamic: affine maps cannot divide by it, so
    // key/value heads are gathered with tensor.extract at h / g.
    Value heads = getValueOrCreateConstantIndexOp(b, loc, scoreSizes[1]);
    groupSize = b.createOrFold<arith::DivUIOp>(heads, dimValue(b, key, 1));
  }

  SmallVector<Value> lower() {
    Value visible = buildVisibility();
    Value scores = buildScores();
    RowDomain rows(b.getContext(), scoreSizes);
    bool withStatistic = op.getStatistics() != nullptr;
    NormalizedRows normalized =
        llvm::TypeSwitch<Attribute, NormalizedRows>(op.getNormalizer())
            .Case([&](EntmaxAttr entmax) {
              return buildEntmax(b, rows, scores, visible, entmax,
                                 withStatistic);
            })
            .Case([&](ElasticSoftmaxAttr) {
              return buildSoftmax(b, rows, scores, visible,
                                  buildElasticShift(rows), withStatistic);
            })
            .Default([&](Attribute) {
              return buildSoftmax(b, rows, scores, visible, Value(),
                                  withStatistic);
            });
    SmallVector<Value> results = {castTo(
        b, buildOutput(normalized.weights, visible), op.getOutput().getType())};
    if (withStatistic)
      results.push_back(
          castTo(b, normalized.statistic, op.getStatistics().getType()));
    return results;
  }

private:
  /// The valid lengths (Lq, Lk) of sequence `batch`, clamped to the padded
  /// extents. Inside a generic body.
  std::pair<Value, Value> validLengths(ImplicitLocOpBuilder &nb,
                                       Value batch) const {
    auto clamped = [&](Value lengths, Value extent) -> Value {
      if (!lengths)
        return extent;
      Value length = tensor::ExtractOp::create(nb, lengths, batch);
      return clampIndex(
          nb, arith::IndexCastOp::create(nb, nb.getIndexType(), length),
          extent);
    };
    return {clamped(queryLengths, queryLength), clamped(keyLengths, keyLength)};
  }

  /// pos_i = i + (Lk - Lq) of query `row`.
  static Value position(ImplicitLocOpBuilder &nb, Value row, Value validQueries,
                        Value validKeys) {
    return arith::AddIOp::create(
        nb, row, arith::SubIOp::create(nb, validKeys, validQueries));
  }

  /// pos_i of query `row` of sequence `batch`.
  Value position(ImplicitLocOpBuilder &nb, Value batch, Value row) const {
    auto [validQueries, validKeys] = validLengths(nb, batch);
    return position(nb, row, validQueries, validKeys);
  }

  Value kvHead(ImplicitLocOpBuilder &nb, Value head) const {
    return nb.createOrFold<arith::DivUIOp>(head, groupSize);
  }

  /// visible(b, h, i, j) as `tensor<B x H x Nq x Nk x i1>`.
  Value buildVisibility() {
    if (!queryLengths && !keyLengths && !op.getCausal() && !mask)
      return buildFilled(b, scoreSizes, b.getBoolAttr(true));
    std::optional<MaskReader> maskReader;
    if (mask)
      maskReader.emplace(b, mask);
    Value init = tensor::EmptyOp::create(b, scoreSizes, b.getI1Type());
    return buildGeneric(
        b, {}, init, {AffineMap::getMultiDimIdentityMap(4, b.getContext())},
        parallelThenReductions(4, 0),
        [&](ImplicitLocOpBuilder &nb, ValueRange) {
          Value batch;
          if (queryLengths || keyLengths)
            batch = loopIndex(nb, 0);
          Value row = loopIndex(nb, 2), column = loopIndex(nb, 3);
          auto [validQueries, validKeys] = validLengths(nb, batch);
          SmallVector<Value> conditions;
          if (queryLengths)
            conditions.push_back(arith::CmpIOp::create(
                nb, arith::CmpIPredicate::slt, row, validQueries));
          if (keyLengths)
            conditions.push_back(arith::CmpIOp::create(
                nb, arith::CmpIPredicate::slt, column, validKeys));
          if (op.getCausal())
            conditions.push_back(arith::CmpIOp::create(
                nb, arith::CmpIPredicate::sle, column,
                position(nb, row, validQueries, validKeys)));
          if (maskReader)
            conditions.push_back(maskReader->read(nb, row, column));
          Value all = conditions.front();
          for (Value condition : ArrayRef(conditions).drop_front())
            all = arith::AndIOp::create(nb, all, condition);
          return all;
        });
  }

  /// s = scale * q . k (+ bias[h, pos_i - j] for 0 <= pos_i - j < W), f32.
  Value buildScores() {
    MLIRContext *context = b.getContext();
    // Loops (b, h, i, j, d).
    Value dot = buildGeneric(
        b, query, buildFilled(b, scoreSizes, b.getF32FloatAttr(0.0)),
        {loopsMap(context, 5, {0, 1, 2, 4}),
         loopsMap(context, 5, {0, 1, 2, 3})},
        parallelThenReductions(4, 1),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value keyIndices[] = {loopIndex(nb, 0), kvHead(nb, loopIndex(nb, 1)),
                                loopIndex(nb, 3), loopIndex(nb, 4)};
          Value keyEntry = tensor::ExtractOp::create(nb, key, keyIndices);
          Value queryEntry = toF32(nb, args[0]);
          Value product =
              arith::MulFOp::create(nb, queryEntry, toF32(nb, keyEntry));
          return arith::AddFOp::create(nb, args[1], product);
        });

    double scale = op.getEffectiveScale();
    Value window, lastDistance;
    if (bias) {
      window = dimValue(b, bias, 1);
      lastDistance = b.createOrFold<arith::SubIOp>(window, indexConstant(b, 1));
    }
    RowDomain rows(context, scoreSizes);
    return rows.map(
        b, dot, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value score =
              arith::MulFOp::create(nb, args[0], f32Constant(nb, scale));
          if (!bias)
            return score;
          Value batch = loopIndex(nb, 0), row = loopIndex(nb, 2);
          Value pos = position(nb, batch, row);
          Value distance = arith::SubIOp::create(nb, pos, loopIndex(nb, 3));
          Value fromStart = arith::CmpIOp::create(
              nb, arith::CmpIPredicate::sge, distance, indexConstant(nb, 0));
          Value beforeEnd = arith::CmpIOp::create(nb, arith::CmpIPredicate::slt,
                                                  distance, window);
          Value inWindow = arith::AndIOp::create(nb, fromStart, beforeEnd);
          // Clamped so that the read stays in bounds outside the window.
          Value biasIndices[] = {loopIndex(nb, 1),
                                 clampIndex(nb, distance, lastDistance)};
          Value biasEntry =
              toF32(nb, tensor::ExtractOp::create(nb, bias, biasIndices));
          Value shifted = arith::AddFOp::create(nb, score, biasEntry);
          return select(nb, inWindow, shifted, score);
        });
  }

  /// tau[h] / (pos_i + 1) per row.
  Value buildElasticShift(const RowDomain &rows) {
    return rows.mapRows(
        b, {}, b.getF32Type(), [&](ImplicitLocOpBuilder &nb, ValueRange) {
          Value batch = loopIndex(nb, 0), row = loopIndex(nb, 2);
          Value pos = indexToF32(nb, position(nb, batch, row));
          Value seen = arith::AddFOp::create(nb, pos, f32Constant(nb, 1.0));
          Value headTau = toF32(nb, tensor::ExtractOp::create(
                                        nb, tau, ValueRange{loopIndex(nb, 1)}));
          return arith::DivFOp::create(nb, headTau, seen);
        });
  }

  /// o[b, h, i, e] = sum over visible j of w_ij * v[b, h / g, j, e], rounded
  /// to the element type.
  Value buildOutput(Value weights, Value visible) {
    MLIRContext *context = b.getContext();
    SmallVector<OpFoldResult> outputSizes(scoreSizes.begin(),
                                          std::prev(scoreSizes.end()));
    outputSizes.push_back(tensor::getMixedSize(b, b.getLoc(), value, 3));
    // Loops (b, h, i, e, j). Invisible keys are skipped rather than weighted
    // by 0, so that padding holding inf or NaN cannot leak into the output.
    Value output = buildGeneric(
        b, {weights, visible},
        buildFilled(b, outputSizes, b.getF32FloatAttr(0.0)),
        {loopsMap(context, 5, {0, 1, 2, 4}), loopsMap(context, 5, {0, 1, 2, 4}),
         loopsMap(context, 5, {0, 1, 2, 3})},
        parallelThenReductions(4, 1),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value valueIndices[] = {loopIndex(nb, 0),
                                  kvHead(nb, loopIndex(nb, 1)),
                                  loopIndex(nb, 4), loopIndex(nb, 3)};
          Value valueEntry = tensor::ExtractOp::create(nb, value, valueIndices);
          Value product =
              arith::MulFOp::create(nb, args[0], toF32(nb, valueEntry));
          Value sum = arith::AddFOp::create(nb, args[2], product);
          return select(nb, args[1], sum, args[2]);
        });
    Type elementType = op.getOutput().getType().getElementType();
    if (elementType.isF32())
      return output;
    return RowDomain(context, outputSizes)
        .map(b, output, elementType,
             [&](ImplicitLocOpBuilder &nb, ValueRange args) {
               return arith::TruncFOp::create(nb, elementType, args[0]);
             });
  }

  ImplicitLocOpBuilder &b;
  AttentionOp op;
  Value query, key, value, mask, queryLengths, keyLengths, bias, tau;
  SmallVector<OpFoldResult> scoreSizes;
  Value queryLength, keyLength, groupSize;
};

} // namespace

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

namespace {

struct AttentionOpLowering : OpConversionPattern<AttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    rewriter.replaceOp(op, AttentionLowering(b, op, adaptor).lower());
    return success();
  }
};

struct EntmaxOpLowering : OpConversionPattern<EntmaxOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(EntmaxOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value input = adaptor.getInput();
    RowDomain rows(b.getContext(), tensor::getMixedSizes(b, b.getLoc(), input));
    Value weights = buildEntmax(b, rows, input, Value(), op.getConfig(),
                                /*withStatistic=*/false)
                        .weights;
    Type elementType = op.getType().getElementType();
    if (!elementType.isF32())
      weights =
          rows.map(b, weights, elementType,
                   [&](ImplicitLocOpBuilder &nb, ValueRange args) {
                     return arith::TruncFOp::create(nb, elementType, args[0]);
                   });
    rewriter.replaceOp(op, castTo(b, weights, op.getType()));
    return success();
  }
};

struct DenseMaskOpLowering : OpConversionPattern<DenseMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DenseMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    Value init = tensor::EmptyOp::create(b, type, adaptor.getDynamicSizes());
    rewriter.replaceOp(
        op,
        linalg::FillOp::create(b, boolConstant(b, true), init).getResult(0));
    return success();
  }
};

struct CausalMaskOpLowering : OpConversionPattern<CausalMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(CausalMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    rewriter.replaceOp(
        op, buildPositionalMask(
                b, type, adaptor.getDynamicSizes(),
                [](ImplicitLocOpBuilder &nb, Value position, Value column) {
                  return arith::CmpIOp::create(nb, arith::CmpIPredicate::sle,
                                               column, position);
                }));
    return success();
  }
};

struct StreamingMaskOpLowering : OpConversionPattern<StreamingMaskOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(StreamingMaskOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type = getTypeConverter()->convertType<RankedTensorType>(op.getType());
    int64_t sink = op.getSinkAttr().getInt();
    int64_t window = op.getWindowAttr().getInt();
    rewriter.replaceOp(
        op, buildPositionalMask(
                b, type, adaptor.getDynamicSizes(),
                [&](ImplicitLocOpBuilder &nb, Value position, Value column) {
                  using arith::CmpIPredicate;
                  Value causal = arith::CmpIOp::create(nb, CmpIPredicate::sle,
                                                       column, position);
                  Value inSink = arith::CmpIOp::create(
                      nb, CmpIPredicate::slt, column, indexConstant(nb, sink));
                  Value distance = arith::SubIOp::create(nb, position, column);
                  Value inWindow =
                      arith::CmpIOp::create(nb, CmpIPredicate::slt, distance,
                                            indexConstant(nb, window));
                  Value kept = arith::OrIOp::create(nb, inSink, inWindow);
                  return arith::AndIOp::create(nb, causal, kept);
                }));
    return success();
  }
};

struct MaskFromIndicesOpLowering : OpConversionPattern<MaskFromIndicesOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaskFromIndicesOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    MLIRContext *context = b.getContext();
    BlockMaskType maskType = op.getType();
    auto type = getTypeConverter()->convertType<RankedTensorType>(maskType);
    Value indices = adaptor.getKvIndices();

    // Batch and heads are those of the index tensors; the operands give the
    // dynamic sequence lengths.
    SmallVector<OpFoldResult> sizes = {
        tensor::getMixedSize(b, b.getLoc(), indices, 0),
        tensor::getMixedSize(b, b.getLoc(), indices, 1)};
    ValueRange dynamicLengths = adaptor.getDynamicSizes();
    for (int64_t length :
         {maskType.getQueryLength(), maskType.getKeyLength()}) {
      if (ShapedType::isDynamic(length)) {
        sizes.push_back(dynamicLengths.front());
        dynamicLengths = dynamicLengths.drop_front();
      } else {
        sizes.push_back(b.getIndexAttr(length));
      }
    }

    // Loops (b, h, i, j, s) over the slots s of query block I = i / BQ.
    AffineExpr queryBlock =
        getAffineDimExpr(2, context).floorDiv(maskType.getQueryBlockSize());
    AffineExpr batch = getAffineDimExpr(0, context);
    AffineExpr head = getAffineDimExpr(1, context);
    AffineMap countsMap =
        AffineMap::get(5, 0, {batch, head, queryBlock}, context);
    AffineMap indicesMap = AffineMap::get(
        5, 0, {batch, head, queryBlock, getAffineDimExpr(4, context)}, context);
    SmallVector<Value> inputs = {adaptor.getKvNumBlocks(), indices};
    if (adaptor.getFullKvNumBlocks()) {
      inputs.push_back(adaptor.getFullKvNumBlocks());
      inputs.push_back(adaptor.getFullKvIndices());
    }
    SmallVector<AffineMap> maps;
    for (size_t pair = 0; pair < inputs.size() / 2; ++pair)
      maps.append({countsMap, indicesMap});
    maps.push_back(loopsMap(context, 5, {0, 1, 2, 3}));

    int64_t keyBlockSize = maskType.getKeyBlockSize();
    // A slot past the count is ignored, so a count above the number of slots
    // (KB) lists at most KB blocks: the clamp of the semantics is implicit.
    // Block indices outside [0, KB) never equal a key block J.
    Value mask = buildGeneric(
        b, inputs, buildFilled(b, sizes, b.getBoolAttr(false)), maps,
        parallelThenReductions(4, 1),
        [&](ImplicitLocOpBuilder &nb, ValueRange args) {
          Value column = loopIndex(nb, 3);
          Value keyBlock =
              indexToI32(nb, arith::DivUIOp::create(
                                 nb, column, indexConstant(nb, keyBlockSize)));
          Value slot = indexToI32(nb, loopIndex(nb, 4));
          Value listed = args.back();
          for (size_t pair = 0; pair + 1 < args.size(); pair += 2) {
            Value counted = arith::CmpIOp::create(nb, arith::CmpIPredicate::slt,
                                                  slot, args[pair]);
            Value matches = arith::CmpIOp::create(nb, arith::CmpIPredicate::eq,
                                                  args[pair + 1], keyBlock);
            listed = arith::OrIOp::create(
                nb, listed, arith::AndIOp::create(nb, counted, matches));
          }
          return listed;
        });
    rewriter.replaceOp(op, castTo(b, mask, type));
    return success();
  }
};

/// mask_union / mask_intersect: `Combine` (arith.ori / arith.andi) of the
/// broadcast operands.
template <typename OpTy, typename Combine>
struct MaskCombineOpLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto type =
        this->getTypeConverter()->template convertType<RankedTensorType>(
            op.getType());
    Value lhs = adaptor.getLhs(), rhs = adaptor.getRhs();
    // A broadcast extent is 1 or equal to the other: the result is the max.
    SmallVector<Value> dynamicSizes;
    for (int64_t dim = 0; dim < 4; ++dim) {
      if (!type.isDynamicDim(dim))
        continue;
      Value extent = dimValue(b, lhs, dim);
      if (dim < 2)
        extent = b.createOrFold<arith::MaxUIOp>(extent, dimValue(b, rhs, dim));
      dynamicSizes.push_back(extent);
    }
    Value init = tensor::EmptyOp::create(b, type, dynamicSizes);
    MaskReader lhsReader(b, lhs), rhsReader(b, rhs);
    Value combined = buildGeneric(
        b, {}, init, {AffineMap::getMultiDimIdentityMap(4, b.getContext())},
        parallelThenReductions(4, 0),
        [&](ImplicitLocOpBuilder &nb, ValueRange) {
          Value row = loopIndex(nb, 2), column = loopIndex(nb, 3);
          Value lhsVisible = lhsReader.read(nb, row, column);
          Value rhsVisible = rhsReader.read(nb, row, column);
          return Combine::create(nb, lhsVisible, rhsVisible);
        });
    rewriter.replaceOp(op, combined);
    return success();
  }
};

struct MaskToIndicesOpLowering : OpConversionPattern<MaskToIndicesOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MaskToIndicesOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    auto maskType = cast<BlockMaskType>(op.getMask().getType());
    Value mask = adaptor.getMask();
    Value queryLength = dimValue(b, mask, 2), keyLength = dimValue(b, mask, 3);
    Value queryBlockSize = indexConstant(b, maskType.getQueryBlockSize());
    Value keyBlockSize = indexConstant(b, maskType.getKeyBlockSize());
    auto numBlocks = [&](int64_t staticBlocks, Value length,
                         Value blockSize) -> OpFoldResult {
      if (!ShapedType::isDynamic(staticBlocks))
        return b.getIndexAttr(staticBlocks);
      return arith::CeilDivUIOp::create(b, length, blockSize).getResult();
    };
    SmallVector<OpFoldResult> blockSizes = {
        tensor::getMixedSize(b, b.getLoc(), mask, 0),
        tensor::getMixedSize(b, b.getLoc(), mask, 1),
        numBlocks(maskType.getNumQueryBlocks(), queryLength, queryBlockSize),
        numBlocks(maskType.getNumKeyBlocks(), keyLength, keyBlockSize)};

    // Per block (b, h, I, J), scan its clipped region for a visible and an
    // invisible pair: full iff all are visible, partial iff some but not all.
    Type i1 = b.getI1Type();
    Value inits[] = {tensor::EmptyOp::create(b, blockSizes, i1),
                     tensor::EmptyOp::create(b, blockSizes, i1)};
    AffineMap identity = AffineMap::getMultiDimIdentityMap(4, b.getContext());
    ResultRange classes = buildGeneric(
        b, {}, inits, {identity, identity}, parallelThenReductions(4, 0),
        [&](ImplicitLocOpBuilder &nb, ValueRange) -> SmallVector<Value> {
          Value batch = loopIndex(nb, 0), head = loopIndex(nb, 1);
          auto blockRange = [&](int64_t loop, Value blockSize,
                                Value length) -> std::pair<Value, Value> {
            Value begin =
                arith::MulIOp::create(nb, loopIndex(nb, loop), blockSize);
            Value end = arith::MinUIOp::create(
                nb, arith::AddIOp::create(nb, begin, blockSize), length);
            return {begin, end};
          };
          auto [rowBegin, rowEnd] = blockRange(2, queryBlockSize, queryLength);
          auto [columnBegin, columnEnd] =
              blockRange(3, keyBlockSize, keyLength);
          Value one = indexConstant(nb, 1);
          Value initial[] = {boolConstant(nb, false), boolConstant(nb, true)};
          auto rows = scf::ForOp::create(
              nb, rowBegin, rowEnd, one, initial,
              [&](OpBuilder &rowBuilder, Location loc, Value row,
                  ValueRange anyAndAll) {
                ImplicitLocOpBuilder rb(loc, rowBuilder);
                auto columns = scf::ForOp::create(
                    rb, columnBegin, columnEnd, one, anyAndAll,
                    [&](OpBuilder &columnBuilder, Location loc, Value column,
                        ValueRange acc) {
                      ImplicitLocOpBuilder cb(loc, columnBuilder);
                      Value indices[] = {batch, head, row, column};
                      Value visible =
                          tensor::ExtractOp::create(cb, mask, indices);
                      scf::YieldOp::create(
                          cb, ValueRange{
                                  arith::OrIOp::create(cb, acc[0], visible),
                                  arith::AndIOp::create(cb, acc[1], visible)});
                    });
                scf::YieldOp::create(rb, columns.getResults());
              });
          Value any = rows.getResult(0), all = rows.getResult(1);
          Value notAll = arith::XOrIOp::create(nb, all, boolConstant(nb, true));
          return {arith::AndIOp::create(nb, any, notAll), all};
        });

    auto [partialCounts, partialIndices] = buildBlockList(b, classes[0]);
    auto [fullCounts, fullIndices] = buildBlockList(b, classes[1]);
    Value computed[] = {partialCounts, partialIndices, fullCounts, fullIndices};
    SmallVector<Value> results;
    for (auto [value, result] : llvm::zip_equal(computed, op.getResults()))
      results.push_back(castTo(b, value, result.getType()));
    rewriter.replaceOp(op, results);
    return success();
  }
};

/// Converts the signature of a func.func and the arguments of all its blocks
/// (the upstream FunctionOpInterface pattern converts the entry block only,
/// which would leave masks carried by cf branches unconverted).
struct FuncOpSignatureConversion : OpConversionPattern<func::FuncOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(func::FuncOp func, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FunctionType type = func.getFunctionType();
    TypeConverter::SignatureConversion signature(type.getNumInputs());
    SmallVector<Type> resultTypes;
    if (failed(getTypeConverter()->convertSignatureArgs(type.getInputs(),
                                                        signature)) ||
        failed(
            getTypeConverter()->convertTypes(type.getResults(), resultTypes)))
      return failure();
    if (!func.isExternal() &&
        failed(rewriter.convertRegionTypes(&func.getBody(), *getTypeConverter(),
                                           &signature)))
      return failure();
    rewriter.modifyOpInPlace(func, [&] {
      func.setType(FunctionType::get(
          getContext(), signature.getConvertedTypes(), resultTypes));
    });
    return success();
  }
};

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

/// Block masks become their token-level visibility; other types are kept.
class BlockMaskTypeConverter : public TypeConverter {
public:
  BlockMaskTypeConverter() {
    addConversion([](Type type) { return type; });
    addConversion([](BlockMaskType type) -> Type {
      return RankedTensorType::get(type.getShape(),
                                   IntegerType::get(type.getContext(), 1));
    });
  }
};

struct ConvertSparseAttnToLinalgPass
    : sparse_attn::impl::ConvertSparseAttnToLinalgPassBase<
          ConvertSparseAttnToLinalgPass> {
  void runOnOperation() override {
    MLIRContext *context = &getContext();
    BlockMaskTypeConverter typeConverter;
    ConversionTarget target(*context);
    target.addIllegalDialect<SparseAttnDialect>();
    // Every other op is legal once no block mask flows through it.
    target.markUnknownOpDynamicallyLegal(
        [&](Operation *op) { return typeConverter.isLegal(op); });
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp func) {
      return typeConverter.isSignatureLegal(func.getFunctionType()) &&
             typeConverter.isLegal(&func.getBody());
    });

    RewritePatternSet patterns(context);
    patterns.add<AttentionOpLowering, EntmaxOpLowering, DenseMaskOpLowering,
                 CausalMaskOpLowering, StreamingMaskOpLowering,
                 MaskFromIndicesOpLowering, MaskToIndicesOpLowering,
                 MaskCombineOpLowering<MaskUnionOp, arith::OrIOp>,
                 MaskCombineOpLowering<MaskIntersectOp, arith::AndIOp>,
                 FuncOpSignatureConversion>(typeConverter, context);
    populateCallOpTypeConversionPattern(patterns, typeConverter);
    populateReturnOpTypeConversionPattern(patterns, typeConverter);
    populateBranchOpInterfaceTypeConversionPattern(patterns, typeConverter);
    scf::populateSCFStructuralTypeConversionsAndLegality(typeConverter,
                                                         patterns, target);

    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
