//===- TiledForm.cpp - helpers shared by the tiled-level passes -*- C++ -*-===//

#include "TiledForm.h"

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::sparse_attn;

/// Extents [B, H, Nq, Nk] of the mask type, the dynamic ones taken in order
/// from `sizes`, which covers the dynamic extents from `first` on.
static std::pair<Value, Value> lengthsFromSizes(OpBuilder &b, Location loc,
                                                BlockMaskType type,
                                                ValueRange sizes,
                                                int64_t first) {
  ArrayRef<int64_t> shape = type.getShape();
  auto next = sizes.begin();
  SmallVector<Value> extents;
  for (int64_t d = first; d < 4; ++d) {
    if (ShapedType::isDynamic(shape[d]))
      extents.push_back(*next++);
    else
      extents.push_back(arith::ConstantIndexOp::create(b, loc, shape[d]));
  }
  return {extents[2 - first], extents[3 - first]};
}

FailureOr<std::pair<Value, Value>>
sparse_attn::buildMaskLengths(OpBuilder &b, Location loc, Value mask) {
  auto type = cast<BlockMaskType>(mask.getType());
  Operation *producer = mask.getDefiningOp();
  if (!producer)
    return failure();
  if (auto dense = dyn_cast<DenseMaskOp>(producer))
    return lengthsFromSizes(b, loc, type, dense.getDynamicSizes(), 0);
  if (auto causal = dyn_cast<CausalMaskOp>(producer))
    return lengthsFromSizes(b, loc, type, causal.getDynamicSizes(), 0);
  if (auto streaming = dyn_cast<StreamingMaskOp>(producer))
    return lengthsFromSizes(b, loc, type, streaming.getDynamicSizes(), 0);
  if (auto indices = dyn_cast<MaskFromIndicesOp>(producer)) {
    // Only the sequence lengths have size operands: skip the batch and
    // head extents, which come from the index tensors.
    ArrayRef<int64_t> shape = type.getShape();
    auto next = indices.getDynamicSizes().begin();
    auto extent = [&](int64_t d) -> Value {
      if (ShapedType::isDynamic(shape[d]))
        return *next++;
      return arith::ConstantIndexOp::create(b, loc, shape[d]);
    };
    Value queries = extent(2);
    return std::make_pair(queries, extent(3));
  }
  if (auto combined = dyn_cast<MaskUnionOp>(producer))
    return buildMaskLengths(b, loc, combined.getLhs());
  if (auto combined = dyn_cast<MaskIntersectOp>(producer))
    return buildMaskLengths(b, loc, combined.getLhs());
  return failure();
}

Value sparse_attn::broadcastIndex(OpBuilder &b, Location loc, Value extent,
                                  Value index) {
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value shared =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, extent, one);
  return arith::SelectOp::create(
      b, loc, shared, arith::ConstantIndexOp::create(b, loc, 0), index);
}

Value sparse_attn::encodeTileEntry(OpBuilder &b, Location loc, Value keyTile,
                                   Value full) {
  Value tile = arith::IndexCastOp::create(b, loc, b.getI32Type(), keyTile);
  Value doubled = arith::ShLIOp::create(
      b, loc, tile, arith::ConstantIntOp::create(b, loc, b.getI32Type(), 1));
  Value bit = arith::ExtUIOp::create(b, loc, b.getI32Type(), full);
  return arith::OrIOp::create(b, loc, doubled, bit);
}

std::pair<Value, Value> sparse_attn::decodeTileEntry(OpBuilder &b, Location loc,
                                                     Value entry) {
  Type i32 = b.getI32Type();
  Value tile = arith::ShRUIOp::create(
      b, loc, entry, arith::ConstantIntOp::create(b, loc, i32, 1));
  Value bit = arith::AndIOp::create(
      b, loc, entry, arith::ConstantIntOp::create(b, loc, i32, 1));
  return {arith::IndexCastOp::create(b, loc, b.getIndexType(), tile),
          arith::TruncIOp::create(b, loc, b.getI1Type(), bit)};
}

std::pair<Value, Value>
sparse_attn::appendTileEntryIf(OpBuilder &b, Location loc, Value condition,
                               Value entry, Value list, Value count) {
  auto append = scf::IfOp::create(
      b, loc, condition,
      [&](OpBuilder &nb, Location nl) {
        Value written = tensor::InsertOp::create(nb, nl, entry, list, count);
        Value grown = arith::AddIOp::create(
            nb, nl, count, arith::ConstantIndexOp::create(nb, nl, 1));
        scf::YieldOp::create(nb, nl, ValueRange{written, grown});
      },
      [&](OpBuilder &nb, Location nl) {
        scf::YieldOp::create(nb, nl, ValueRange{list, count});
      });
  return {append.getResult(0), append.getResult(1)};
}

bool sparse_attn::isDefinedOutside(Value value, Region &region) {
  return !region.isAncestor(value.getParentRegion());
}

RegionPredicate sparse_attn::analyzePredicate(ScoreTileOp score) {
  RegionPredicate predicate;
  Region &region = score.getVisible();
  Block &body = region.front();
  Value i = body.getArgument(0), j = body.getArgument(1);
  SmallVector<Value> worklist = {score.getVisibleCondition()};
  auto setOnce = [&](Value &slot, Value value) {
    if (slot)
      predicate.hasUnknown = true;
    else
      slot = value;
  };
  while (!worklist.empty()) {
    Value leaf = worklist.pop_back_val();
    Operation *def = leaf.getDefiningOp();
    if (!def || !region.isAncestor(def->getParentRegion())) {
      predicate.hasUnknown = true;
      continue;
    }
    if (auto conjunction = dyn_cast<arith::AndIOp>(def)) {
      worklist.push_back(conjunction.getLhs());
      worklist.push_back(conjunction.getRhs());
      continue;
    }
    if (auto visible = dyn_cast<MaskVisibleOp>(def)) {
      if (visible.getQuery() == i && visible.getKey() == j &&
          isDefinedOutside(visible.getBatch(), region) &&
          isDefinedOutside(visible.getHead(), region)) {
        predicate.masks.push_back(visible);
        continue;
      }
    }
    if (auto compare = dyn_cast<arith::CmpIOp>(def)) {
      Value lhs = compare.getLhs(), rhs = compare.getRhs();
      arith::CmpIPredicate kind = compare.getPredicate();
      if (kind == arith::CmpIPredicate::slt && isDefinedOutside(rhs, region)) {
        if (lhs == j) {
          setOnce(predicate.keyBound, rhs);
          continue;
        }
        if (lhs == i) {
          setOnce(predicate.rowBound, rhs);
          continue;
        }
      }
      if (kind == arith::CmpIPredicate::sle && lhs == j) {
        if (auto sum = rhs.getDefiningOp<arith::AddIOp>()) {
          Value offset;
          if (sum.getLhs() == i)
            offset = sum.getRhs();
          else if (sum.getRhs() == i)
            offset = sum.getLhs();
          if (offset && isDefinedOutside(offset, region)) {
            setOnce(predicate.causalOffset, offset);
            continue;
          }
        }
      }
    }
    predicate.hasUnknown = true;
  }
  return predicate;
}
