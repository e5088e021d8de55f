//===- TiledForm.h - markers of the tiled level -----------------*- C++ -*-===//
//
// The discardable attributes through which the passes of the tiled level
// (tile, skip-blocks, fuse, instrument) recognise what `sparse-attn-tile`
// built: the query-tile grid and the passes over the keys.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_TRANSFORMS_TILEDFORM_H
#define SPARSE_ATTN_LIB_TRANSFORMS_TILEDFORM_H

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/StringRef.h"

#include <utility>
#include <vector>

namespace mlir::sparse_attn {

/// On the `scf.forall` of a tiled op: the op it came from ("attention" or
/// "entmax").
inline constexpr llvm::StringLiteral kGridAttr = "sparse_attn.grid";

/// On every loop over key tiles (one pass over K): what the pass computes.
inline constexpr llvm::StringLiteral kKeyPassAttr = "sparse_attn.key_pass";

/// On a key loop that continues the pass of the key loop before it (the
/// gathered columns after the ranges of a vertical-slash mask): together
/// they read K once.
inline constexpr llvm::StringLiteral kKeyPassContinuesAttr =
    "sparse_attn.key_pass_continues";

/// On the `scf.for` over the entmax solver iterations.
inline constexpr llvm::StringLiteral kSolverLoopAttr =
    "sparse_attn.solver_iterations";

/// Values of kKeyPassAttr.
namespace key_pass {
inline constexpr llvm::StringLiteral kSoftmax = "softmax";
inline constexpr llvm::StringLiteral kLogSumExp = "logsumexp";
inline constexpr llvm::StringLiteral kElasticOutput = "elastic_output";
inline constexpr llvm::StringLiteral kEntmaxMax = "entmax_max";
inline constexpr llvm::StringLiteral kEntmaxHistogram = "entmax_histogram";
inline constexpr llvm::StringLiteral kEntmaxSolver = "entmax_solver";
inline constexpr llvm::StringLiteral kEntmaxMask = "entmax_mask";
inline constexpr llvm::StringLiteral kEntmaxOutput = "entmax_output";
inline constexpr llvm::StringLiteral kEntmaxSum = "entmax_sum";

/// Whether a pass of this kind produces the op's output (the pass whose
/// visited blocks the instrumentation reports per head).
inline bool isOutputPass(llvm::StringRef kind) {
  return kind == kSoftmax || kind == kElasticOutput || kind == kEntmaxOutput;
}
} // namespace key_pass

/// Index arithmetic at one insertion point.
class IndexBuilder {
public:
  IndexBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}
  Value constant(int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, int64_t y) {
    return arith::MulIOp::create(b, loc, x, constant(y));
  }
  Value floorDiv(Value x, int64_t y) {
    return arith::FloorDivSIOp::create(b, loc, x, constant(y));
  }
  Value ceilDiv(Value x, int64_t y) {
    return arith::CeilDivSIOp::create(b, loc, x, constant(y));
  }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value le(Value x, Value y) { return cmp(arith::CmpIPredicate::sle, x, y); }
  Value gt(Value x, Value y) { return cmp(arith::CmpIPredicate::sgt, x, y); }
  Value ge(Value x, Value y) { return cmp(arith::CmpIPredicate::sge, x, y); }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value notI(Value x) {
    return arith::XOrIOp::create(
        b, loc, x, arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  }
  Value boolean(bool v) {
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(v));
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value toIndex(Value x) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), x);
  }
  Value toI32(Value x) {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), x);
  }
  Value clamp(Value x, Value lo, Value hi) { return min(max(x, lo), hi); }
  /// The conjunction of `conditions` (at least one).
  Value allOf(ArrayRef<Value> conditions) {
    Value result = conditions.front();
    for (Value condition : conditions.drop_front())
      result = andI(result, condition);
    return result;
  }
  /// An integer element of `tensor` as an index.
  Value read(Value tensor, ValueRange indices) {
    return toIndex(tensor::ExtractOp::create(b, loc, tensor, indices));
  }

private:
  OpBuilder &b;
  Location loc;
};

/// The sequence lengths (Nq, Nk) of a block mask, from its type or its
/// producer's size operands; failure when no sparse_attn op produces it.
FailureOr<std::pair<Value, Value>> buildMaskLengths(OpBuilder &b, Location loc,
                                                    Value mask);

/// The index into a broadcastable mask extent: 0 when `extent` is 1.
Value broadcastIndex(OpBuilder &b, Location loc, Value extent, Value index);

/// Key-tile lists (block schedules and the entmax block mask) hold one i32
/// per visited tile: `2 * tile + full`, `full` when the tile needs no
/// elementwise masking.
Value encodeTileEntry(OpBuilder &b, Location loc, Value keyTile, Value full);
std::pair<Value, Value> decodeTileEntry(OpBuilder &b, Location loc,
                                        Value entry);

/// Writes `entry` at `list[count]` and increments `count` when `condition`
/// holds; returns the new (list, count).
std::pair<Value, Value> appendTileEntryIf(OpBuilder &b, Location loc,
                                          Value condition, Value entry,
                                          Value list, Value count);

/// The conjuncts of a score region's predicate that block skipping
/// understands: `j < keyBound`, `i < rowBound`, `j <= i + causalOffset` and
/// `mask_visible` of masks. Anything else is an unknown conjunct (never
/// skips a tile, never lets one be full).
struct RegionPredicate {
  Value keyBound, rowBound, causalOffset;
  SmallVector<MaskVisibleOp> masks;
  bool hasUnknown = false;

  /// Identifies predicates that share a block schedule.
  std::vector<const void *> signature() const {
    std::vector<const void *> key = {
        keyBound.getAsOpaquePointer(), rowBound.getAsOpaquePointer(),
        causalOffset.getAsOpaquePointer(),
        reinterpret_cast<const void *>(hasUnknown)};
    for (MaskVisibleOp mask : masks) {
      key.push_back(mask.getMask().getAsOpaquePointer());
      key.push_back(mask.getBatch().getAsOpaquePointer());
      key.push_back(mask.getHead().getAsOpaquePointer());
    }
    return key;
  }
};

/// Whether `value` is defined outside `region`.
bool isDefinedOutside(Value value, Region &region);

/// The conjuncts of the `visible` region of a masked `score`.
RegionPredicate analyzePredicate(ScoreTileOp score);

} // namespace mlir::sparse_attn

#endif // SPARSE_ATTN_LIB_TRANSFORMS_TILEDFORM_H
