//===- LinalgBuilders.cpp - builders of the reference lowering ------------===//

#include "LinalgBuilders.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::sparse_attn;

//===----------------------------------------------------------------------===//
// Scalar helpers
//===----------------------------------------------------------------------===//

Value sparse_attn::f32Constant(ImplicitLocOpBuilder &b, double value) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(value));
}

Value sparse_attn::i32Constant(ImplicitLocOpBuilder &b, int32_t value) {
  return arith::ConstantOp::create(b, b.getI32IntegerAttr(value));
}

Value sparse_attn::indexConstant(ImplicitLocOpBuilder &b, int64_t value) {
  return arith::ConstantIndexOp::create(b, value);
}

Value sparse_attn::boolConstant(ImplicitLocOpBuilder &b, bool value) {
  return arith::ConstantOp::create(b, b.getBoolAttr(value));
}

/// bf16 and f16 are computed in f32.
Value sparse_attn::toF32(ImplicitLocOpBuilder &b, Value value) {
  if (value.getType().isF32())
    return value;
  return arith::ExtFOp::create(b, b.getF32Type(), value);
}

Value sparse_attn::indexToF32(ImplicitLocOpBuilder &b, Value index) {
  Value wide = arith::IndexCastOp::create(b, b.getI64Type(), index);
  return arith::SIToFPOp::create(b, b.getF32Type(), wide);
}

Value sparse_attn::indexToI32(ImplicitLocOpBuilder &b, Value index) {
  return arith::IndexCastOp::create(b, b.getI32Type(), index);
}

/// `min(max(value, 0), upper)` on indices.
Value sparse_attn::clampIndex(ImplicitLocOpBuilder &b, Value value,
                              Value upper) {
  Value nonNegative = arith::MaxSIOp::create(b, value, indexConstant(b, 0));
  return arith::MinSIOp::create(b, nonNegative, upper);
}

Value sparse_attn::select(ImplicitLocOpBuilder &b, Value condition,
                          Value onTrue, Value onFalse) {
  return arith::SelectOp::create(b, condition, onTrue, onFalse);
}

/// The induction variable of loop `dim` inside a linalg.generic body.
Value sparse_attn::loopIndex(ImplicitLocOpBuilder &b, int64_t dim) {
  return linalg::IndexOp::create(b, b.getI64IntegerAttr(dim));
}

/// The extent `dim` of `tensor` as an index value (a constant when static).
Value sparse_attn::dimValue(ImplicitLocOpBuilder &b, Value tensor,
                            int64_t dim) {
  return b.createOrFold<tensor::DimOp>(tensor, dim);
}

Value sparse_attn::castTo(ImplicitLocOpBuilder &b, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, type, value);
}

Value sparse_attn::validLength(ImplicitLocOpBuilder &b, Value lengths,
                               Value batch, Value extent) {
  if (!lengths)
    return extent;
  Value length = tensor::ExtractOp::create(b, lengths, batch);
  return clampIndex(b, arith::IndexCastOp::create(b, b.getIndexType(), length),
                    extent);
}

//===----------------------------------------------------------------------===//
// linalg.generic helpers
//===----------------------------------------------------------------------===//

ResultRange sparse_attn::buildGeneric(ImplicitLocOpBuilder &b,
                                      ValueRange inputs, ValueRange inits,
                                      ArrayRef<AffineMap> maps,
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

Value sparse_attn::buildGeneric(ImplicitLocOpBuilder &b, ValueRange inputs,
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
AffineMap sparse_attn::loopsMap(MLIRContext *context, unsigned numDims,
                                ArrayRef<unsigned> loops) {
  return AffineMap::getMultiDimMapWithTargets(numDims, loops, context);
}

SmallVector<utils::IteratorType>
sparse_attn::parallelThenReductions(unsigned numParallel,
                                    unsigned numReduction) {
  SmallVector<utils::IteratorType> iterators(numParallel,
                                             utils::IteratorType::parallel);
  iterators.append(numReduction, utils::IteratorType::reduction);
  return iterators;
}

Value sparse_attn::buildFilled(ImplicitLocOpBuilder &b,
                               ArrayRef<OpFoldResult> sizes, TypedAttr value) {
  Value empty = tensor::EmptyOp::create(b, sizes, value.getType());
  Value scalar = arith::ConstantOp::create(b, value);
  return linalg::FillOp::create(b, scalar, empty).getResult(0);
}

//===----------------------------------------------------------------------===//
// Normalizers
//===----------------------------------------------------------------------===//

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
NormalizedRows sparse_attn::buildEntmax(ImplicitLocOpBuilder &b,
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
NormalizedRows sparse_attn::buildSoftmax(ImplicitLocOpBuilder &b,
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
Value sparse_attn::broadcastLoopIndex(ImplicitLocOpBuilder &b,
                                      OpFoldResult extent, int64_t loop) {
  if (std::optional<int64_t> staticExtent = getConstantIntValue(extent))
    return *staticExtent == 1 ? indexConstant(b, 0) : loopIndex(b, loop);
  Value isUnit = arith::CmpIOp::create(
      b, arith::CmpIPredicate::eq, cast<Value>(extent), indexConstant(b, 1));
  Value zero = indexConstant(b, 0);
  return select(b, isUnit, zero, loopIndex(b, loop));
}

/// Per-row lists of the positions whose flag is set in `flags [..., N] x
/// i1` (e.g. key blocks J of `[B, H, QB, KB]`): the counts `[...]` and the
/// ascending positions `[..., N]`, padded with zeros (all i32). A listed
/// position's slot is its rank among the set flags before it.
std::pair<Value, Value> sparse_attn::buildBlockList(ImplicitLocOpBuilder &b,
                                                    Value flags) {
  MLIRContext *context = b.getContext();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, b.getLoc(), flags);
  TypedAttr zero = b.getI32IntegerAttr(0);
  unsigned rank = sizes.size();
  // Loops over the row dimensions, then `extra` more.
  auto rowLoops = [&](std::initializer_list<unsigned> extra) {
    SmallVector<unsigned> loops =
        llvm::to_vector(llvm::seq<unsigned>(0, rank - 1));
    loops.append(extra.begin(), extra.end());
    return loops;
  };

  Value counts = buildGeneric(
      b, flags, buildFilled(b, ArrayRef(sizes).drop_back(), zero),
      {loopsMap(context, rank, rowLoops({rank - 1})),
       loopsMap(context, rank, rowLoops({}))},
      parallelThenReductions(rank - 1, 1),
      [](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value one = arith::ExtUIOp::create(nb, nb.getI32Type(), args[0]);
        return arith::AddIOp::create(nb, args[1], one);
      });

  // Loops (rows..., J, K): the rank of J counts the set flags at K < J.
  Value ranks = buildGeneric(
      b, flags, buildFilled(b, sizes, zero),
      {loopsMap(context, rank + 1, rowLoops({rank})),
       loopsMap(context, rank + 1, rowLoops({rank - 1}))},
      parallelThenReductions(rank, 1),
      [rank](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value position = loopIndex(nb, rank - 1), other = loopIndex(nb, rank);
        Value before = arith::CmpIOp::create(nb, arith::CmpIPredicate::ult,
                                             other, position);
        Value counted = arith::AndIOp::create(nb, args[0], before);
        Value next = arith::AddIOp::create(nb, args[1], i32Constant(nb, 1));
        return select(nb, counted, next, args[1]);
      });

  // Loops (rows..., S, J): slot S holds the set J of rank S.
  Value indices = buildGeneric(
      b, {flags, ranks}, buildFilled(b, sizes, zero),
      {loopsMap(context, rank + 1, rowLoops({rank})),
       loopsMap(context, rank + 1, rowLoops({rank})),
       loopsMap(context, rank + 1, rowLoops({rank - 1}))},
      parallelThenReductions(rank, 1),
      [rank](ImplicitLocOpBuilder &nb, ValueRange args) {
        Value slot = indexToI32(nb, loopIndex(nb, rank - 1));
        Value inSlot =
            arith::CmpIOp::create(nb, arith::CmpIPredicate::eq, args[1], slot);
        Value listed = arith::AndIOp::create(nb, args[0], inSlot);
        return select(nb, listed, indexToI32(nb, loopIndex(nb, rank)),
                      args[2]);
      });
  return {counts, indices};
}
