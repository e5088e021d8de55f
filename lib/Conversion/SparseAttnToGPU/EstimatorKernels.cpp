//===- EstimatorKernels.cpp - prefill estimators as GPU kernels ----------===//
//
// XAttention's block selection (`sparse_attn.select_blocks xattention`) as
// one kernel; docs/design/gpu-lowering.md ("Prefill estimators") has the
// plan and docs/design/semantics.md the exact selection.
//
//===----------------------------------------------------------------------===//

#include "EstimatorKernels.h"
#include "KernelInterface.h"
#include "WarpTiles.h"

#include "sparse_attn/Conversion/SparseAttnToGPU/KernelAttributes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::warp_tiles;

namespace {

/// Threads of an estimator CTA: one strided score of a key block each
/// (or a share of its depth when a block has fewer scores).
constexpr int64_t kThreads = 256;
constexpr int64_t kWarps = kThreads / 32;
/// Key blocks whose masses a CTA keeps and ranks (a manifest constraint).
constexpr int64_t kMaxMassBlocks = 1024;

/// Builds the XAttention selection kernel of one function.
class XAttentionKernel {
public:
  XAttentionKernel(SelectBlocksOp op, XAttentionAttr config,
                   const KernelInterface &interface, const ThreadIds &ids,
                   const WarpLayout &layout, OpBuilder &b)
      : op(op), config(config), b(b), loc(op.getLoc()), ids(ids),
        tiles(b, loc, ids, layout, /*exactF32=*/false) {
    stride = config.getStride();
    queryBlock = op.getQueryBlock();
    keyBlock = op.getKeyBlock();
    RankedTensorType queryType = op.getQuery().getType();
    headDim = queryType.getDimSize(3);
    elementType = queryType.getElementType();
    queryGroups = queryBlock / stride;
    keyGroups = keyBlock / stride;
    lanes = kThreads / (queryGroups * keyGroups);
    // The function's tensors: query, key, [thresholds], then the results.
    unsigned t = 0;
    query = interface.views[t++];
    key = interface.views[t++];
    if (op.getThresholds())
      thresholds = interface.views[t++];
    counts = interface.views[t++];
    indices = interface.views[t++];
    if (!interface.scalars.empty())
      scaleArgument = interface.scalars.front();
  }

  /// The shared memory the kernel needs, in bytes.
  int64_t sharedBytes() const { return scalarsOffset() + kSharedAlignment; }

  void build();

private:
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }
  Value cmp(arith::CmpIPredicate predicate, Value lhs, Value rhs) {
    return arith::CmpIOp::create(b, loc, predicate, lhs, rhs);
  }
  Value select(Value condition, Value lhs, Value rhs) {
    return arith::SelectOp::create(b, loc, condition, lhs, rhs);
  }
  Value negate(Value condition) {
    return arith::XOrIOp::create(
        b, loc, condition,
        arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  }
  Value add(Value lhs, Value rhs) {
    return arith::AddIOp::create(b, loc, lhs, rhs);
  }
  Value mul(Value lhs, int64_t rhs) {
    return arith::MulIOp::create(b, loc, lhs, index(rhs));
  }
  Value dim(Value view, int64_t d) {
    return memref::DimOp::create(b, loc, view, d);
  }
  /// A loop over [lower, upper) by `step` without results.
  void forEach(Value lower, Value upper, Value step,
               function_ref<void(Value)> body) {
    auto loop = scf::ForOp::create(b, loc, lower, upper, step);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    body(loop.getInductionVar());
  }
  /// Code that thread 0 alone runs.
  void inFirstThread(function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, loc, cmp(arith::CmpIPredicate::eq,
                                              ids.thread, index(0)),
                                  /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    body();
  }
  /// `value` combined over the lanes `thread ^ offset` for offset from
  /// `first` up to (not including) `end`, powers of two.
  Value butterfly(Value value, int64_t first, int64_t end,
                  function_ref<Value(Value, Value)> combine) {
    Value width = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(32));
    for (int64_t offset = first; offset < end; offset *= 2) {
      Value shift =
          arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(offset));
      value = combine(value, gpu::ShuffleOp::create(b, loc, value, shift,
                                                    width, gpu::ShuffleMode::XOR)
                                 .getShuffleResult());
    }
    return value;
  }
  Value sharedArray(int64_t byteOffset, Type type, int64_t size) {
    auto memrefType = MemRefType::get(
        {size}, type, MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(),
                                   gpu::AddressSpace::Workgroup));
    return memref::ViewOp::create(b, loc, memrefType, sharedBase,
                                  index(byteOffset), ValueRange{});
  }

  // Shared memory: the query block, one key block, the block masses, the
  // masses in ranked order, each block's rank, then per-warp partial sums
  // and the row's list length.
  int64_t tileBytes(int64_t rows) const {
    return (rows * headDim * elementType.getIntOrFloatBitWidth() / 8 +
            kSharedAlignment - 1) /
           kSharedAlignment * kSharedAlignment;
  }
  int64_t keyOffset() const { return tileBytes(queryBlock); }
  int64_t massOffset() const { return keyOffset() + tileBytes(keyBlock); }
  int64_t sortedOffset() const { return massOffset() + kMaxMassBlocks * 4; }
  int64_t rankOffset() const { return sortedOffset() + kMaxMassBlocks * 4; }
  int64_t scalarsOffset() const { return rankOffset() + kMaxMassBlocks * 4; }

  /// The base-2 antidiagonal score of this thread's (query group, key
  /// group) in key block `block` (in shared memory), summed over the
  /// thread's share of the stride, then over the lanes sharing the score;
  /// and whether the pair is visible.
  std::pair<Value, Value> score(Value block);
  /// Loads key block `block` into shared memory for every thread.
  void loadKeyBlock(Value block);
  /// Whether key block `block` is forced: the sink or an own-position block.
  Value isForced(Value block);

  SelectBlocksOp op;
  XAttentionAttr config;
  OpBuilder &b;
  Location loc;
  const ThreadIds &ids;
  WarpTiles tiles;
  int64_t stride, queryBlock, keyBlock, headDim, queryGroups, keyGroups,
      lanes;
  Type elementType;
  Value query, key, thresholds, counts, indices, scaleArgument;

  // Per CTA.
  Value sharedBase, batch, head, keyHead, queryLength, keyLength, offset,
      firstRow, keyBlocks;
  Value hasPosition, firstOwn, lastOwn;
  SharedTile queryTile, keyTile;
  // Per thread.
  Value queryGroup, keyGroup, firstStep, groupValid, groupLastPosition,
      factor;
};

void XAttentionKernel::loadKeyBlock(Value block) {
  tiles.copyTileAsync(key, batch, keyHead, mul(block, keyBlock), keyLength,
                      keyTile);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
  gpu::BarrierOp::create(b, loc);
}

std::pair<Value, Value> XAttentionKernel::score(Value block) {
  // z = sum_t q[S a + S - 1 - t] . k[S c + t] over this thread's t, in
  // 8-wide chunks of the rows (rows past the lengths were zero-filled).
  auto chunkType = VectorType::get({8}, elementType);
  auto sumType = VectorType::get({8}, b.getF32Type());
  Value zero = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(sumType, b.getF32FloatAttr(0.0)));
  int64_t steps = stride / lanes;
  auto overSteps = scf::ForOp::create(
      b, loc, firstStep, add(firstStep, index(steps)), index(1),
      ValueRange{zero},
      [&](OpBuilder &nb, Location nl, Value t, ValueRange carried) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(nb.getInsertionBlock());
        Value queryRow = arith::SubIOp::create(
            b, loc, add(mul(queryGroup, stride), index(stride - 1)), t);
        Value keyRow = add(mul(keyGroup, stride), t);
        auto overChunks = scf::ForOp::create(
            b, loc, index(0), index(headDim / 8), index(1),
            ValueRange{carried[0]},
            [&](OpBuilder &cb, Location cl, Value chunk, ValueRange sum) {
              OpBuilder::InsertionGuard inner(b);
              b.setInsertionPointToStart(cb.getInsertionBlock());
              Value q = vector::LoadOp::create(
                  b, loc, chunkType, queryTile.memory,
                  tiles.chunkOffset(queryTile, queryRow, chunk));
              Value k = vector::LoadOp::create(
                  b, loc, chunkType, keyTile.memory,
                  tiles.chunkOffset(keyTile, keyRow, chunk));
              Value product = vector::FMAOp::create(
                  b, loc, arith::ExtFOp::create(b, loc, sumType, q),
                  arith::ExtFOp::create(b, loc, sumType, k), sum[0]);
              scf::YieldOp::create(b, loc, product);
            });
        scf::YieldOp::create(b, loc, overChunks.getResult(0));
      });
  Value dot = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                          overSteps.getResult(0));
  dot = butterfly(dot, 1, lanes, [&](Value x, Value y) -> Value {
    return arith::AddFOp::create(b, loc, x, y);
  });
  Value z = arith::MulFOp::create(b, loc, dot, factor);

  // Strided visibility: both groups valid and, when causal, the key group
  // starting at or before the query group's last position.
  Value firstKey = add(mul(block, keyBlock), mul(keyGroup, stride));
  Value visible = arith::AndIOp::create(
      b, loc, groupValid,
      cmp(arith::CmpIPredicate::slt, firstKey, keyLength));
  if (op.getCausal())
    visible = arith::AndIOp::create(
        b, loc, visible,
        cmp(arith::CmpIPredicate::sle, firstKey, groupLastPosition));
  return {z, visible};
}

Value XAttentionKernel::isForced(Value block) {
  Value own = arith::AndIOp::create(
      b, loc, hasPosition,
      arith::AndIOp::create(b, loc,
                            cmp(arith::CmpIPredicate::sge, block, firstOwn),
                            cmp(arith::CmpIPredicate::sle, block, lastOwn)));
  return arith::OrIOp::create(
      b, loc, cmp(arith::CmpIPredicate::eq, block, index(0)), own);
}

void XAttentionKernel::build() {
  Type f32Type = b.getF32Type(), i32Type = b.getI32Type();
  auto bytesType = MemRefType::get(
      {0}, b.getI8Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  sharedBase =
      memref::GetGlobalOp::create(b, loc, bytesType, kSharedMemorySymbol);
  int64_t elementBytes = elementType.getIntOrFloatBitWidth() / 8;
  Value elements = memref::ViewOp::create(
      b, loc,
      MemRefType::get({sharedBytes() / elementBytes}, elementType,
                      MemRefLayoutAttrInterface(),
                      gpu::AddressSpaceAttr::get(
                          b.getContext(), gpu::AddressSpace::Workgroup)),
      sharedBase, index(0), ValueRange{});
  queryTile = {elements, index(0), queryBlock, headDim};
  keyTile = {elements, index(keyOffset() / elementBytes), keyBlock, headDim};
  Value masses = sharedArray(massOffset(), f32Type, kMaxMassBlocks);
  Value sorted = sharedArray(sortedOffset(), f32Type, kMaxMassBlocks);
  Value ranks = sharedArray(rankOffset(), i32Type, kMaxMassBlocks);
  // Per-warp partial masses, then the length of the index row.
  Value scalars = sharedArray(scalarsOffset(), f32Type, kWarps + 1);
  Value listLength = sharedArray(scalarsOffset(), i32Type, kWarps + 1);

  // The grid point: query block x (from the last: causal blocks score more
  // keys the later they are), head y, batch z.
  Value block = arith::SubIOp::create(
      b, loc,
      arith::SubIOp::create(
          b, loc, gpu::GridDimOp::create(b, loc, gpu::Dimension::x), index(1)),
      gpu::BlockIdOp::create(b, loc, gpu::Dimension::x));
  head = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  batch = gpu::BlockIdOp::create(b, loc, gpu::Dimension::z);
  Value heads = dim(query, 1);
  keyHead = arith::DivUIOp::create(
      b, loc, head, arith::DivUIOp::create(b, loc, heads, dim(key, 1)));
  queryLength = dim(query, 2);
  keyLength = dim(key, 2);
  offset = arith::SubIOp::create(b, loc, keyLength, queryLength);
  firstRow = mul(block, queryBlock);
  Value lastRow = arith::SubIOp::create(
      b, loc,
      arith::MinSIOp::create(b, loc, add(firstRow, index(queryBlock)),
                             queryLength),
      index(1));
  Value lastPosition = add(lastRow, offset);
  keyBlocks = arith::CeilDivSIOp::create(b, loc, keyLength, index(keyBlock));
  // D(I): the key blocks of the block's positions (none below 0).
  hasPosition = cmp(arith::CmpIPredicate::sge, lastPosition, index(0));
  firstOwn = arith::FloorDivSIOp::create(
      b, loc,
      arith::MaxSIOp::create(b, loc, add(firstRow, offset), index(0)),
      index(keyBlock));
  lastOwn = arith::FloorDivSIOp::create(b, loc, lastPosition, index(keyBlock));
  // Causal scoring sees no key block past the last position.
  Value scoredBlocks = keyBlocks;
  if (op.getCausal())
    scoredBlocks = arith::MinSIOp::create(
        b, loc, keyBlocks,
        arith::MaxSIOp::create(
            b, loc,
            add(arith::FloorDivSIOp::create(b, loc, lastPosition,
                                            index(keyBlock)),
                index(1)),
            index(0)));

  // This thread's score: query group a (of the block), key group c (of
  // each key block), and its share of the stride.
  Value scoreIndex = arith::DivUIOp::create(b, loc, ids.thread, index(lanes));
  queryGroup = arith::DivUIOp::create(b, loc, scoreIndex, index(keyGroups));
  keyGroup = arith::RemUIOp::create(b, loc, scoreIndex, index(keyGroups));
  Value lane = arith::RemUIOp::create(b, loc, ids.thread, index(lanes));
  firstStep = mul(lane, stride / lanes);
  Value groupRow = add(firstRow, mul(queryGroup, stride));
  groupValid = cmp(arith::CmpIPredicate::slt, groupRow, queryLength);
  groupLastPosition = add(
      arith::SubIOp::create(
          b, loc,
          arith::MinSIOp::create(b, loc, add(groupRow, index(stride)),
                                 queryLength),
          index(1)),
      offset);
  // Scores in base 2: scale / S * log2(e) (times the `scale` argument).
  factor = f32(op.getEffectiveScale() / static_cast<double>(stride) *
               M_LOG2E);
  if (scaleArgument)
    factor = arith::MulFOp::create(b, loc, factor, scaleArgument);

  // The query block and zero masses.
  tiles.copyTileAsync(query, batch, head, firstRow, queryLength, queryTile);
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  Value threads = index(kThreads);
  forEach(ids.thread, keyBlocks, threads, [&](Value j) {
    memref::StoreOp::create(b, loc, f32(0.0), masses, j);
  });
  NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);
  gpu::BarrierOp::create(b, loc);

  // Pass 1: each thread's running max and sum of its column of every key
  // block, then combined over the threads of its query group (consecutive
  // threads, within a warp).
  Value negativeInfinity = f32(-INFINITY);
  auto statistics = scf::ForOp::create(
      b, loc, index(0), scoredBlocks, index(1),
      ValueRange{negativeInfinity, f32(0.0)},
      [&](OpBuilder &nb, Location, Value j, ValueRange carried) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(nb.getInsertionBlock());
        loadKeyBlock(j);
        auto [z, visible] = score(j);
        Value max = select(visible, LLVM::MaxNumOp::create(b, loc, carried[0], z),
                           carried[0]);
        Value sum = arith::AddFOp::create(
            b, loc,
            arith::MulFOp::create(
                b, loc, carried[1],
                tiles.exp2(arith::SubFOp::create(b, loc, carried[0], max))),
            tiles.exp2(arith::SubFOp::create(b, loc, z, max)));
        sum = select(visible, sum, carried[1]);
        // The next key block overwrites this one.
        gpu::BarrierOp::create(b, loc);
        scf::YieldOp::create(b, loc, ValueRange{max, sum});
      });
  // (max, sum) pairs merge with the larger max as base; an empty side
  // (max = -inf) adds nothing.
  auto contribution = [&](Value max, Value sum, Value base) {
    Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, max,
                                        negativeInfinity);
    Value scaled = arith::MulFOp::create(
        b, loc, sum, tiles.exp2(arith::SubFOp::create(b, loc, max, base)));
    return select(empty, f32(0.0), scaled);
  };
  Value rowMax = statistics.getResult(0), rowSum = statistics.getResult(1);
  Value width = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(32));
  for (int64_t shift = lanes; shift < lanes * keyGroups; shift *= 2) {
    Value offsetValue =
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(shift));
    Value otherMax = gpu::ShuffleOp::create(b, loc, rowMax, offsetValue, width,
                                            gpu::ShuffleMode::XOR)
                         .getShuffleResult();
    Value otherSum = gpu::ShuffleOp::create(b, loc, rowSum, offsetValue, width,
                                            gpu::ShuffleMode::XOR)
                         .getShuffleResult();
    Value max = LLVM::MaxNumOp::create(b, loc, rowMax, otherMax);
    rowSum = arith::AddFOp::create(b, loc, contribution(rowMax, rowSum, max),
                                   contribution(otherMax, otherSum, max));
    rowMax = max;
  }
  // Rows without a visible key contribute no mass.
  Value hasMass = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                        rowSum, f32(0.0));
  Value inverseSum = select(
      hasMass, arith::DivFOp::create(b, loc, f32(1.0), rowSum), f32(0.0));
  Value counted = arith::AndIOp::create(
      b, loc, hasMass, cmp(arith::CmpIPredicate::eq, lane, index(0)));

  // Pass 2: the block masses A[J] = sum p[a, c] over the block's groups,
  // summed per warp, then over the warps in order (deterministic).
  Value warpLane = arith::RemUIOp::create(b, loc, ids.thread, index(32));
  forEach(index(0), scoredBlocks, index(1), [&](Value j) {
    loadKeyBlock(j);
    auto [z, visible] = score(j);
    Value p = arith::MulFOp::create(
        b, loc, tiles.exp2(arith::SubFOp::create(b, loc, z, rowMax)),
        inverseSum);
    p = select(arith::AndIOp::create(b, loc, visible, counted), p, f32(0.0));
    p = butterfly(p, 1, 32, [&](Value x, Value y) -> Value {
      return arith::AddFOp::create(b, loc, x, y);
    });
    auto first = scf::IfOp::create(
        b, loc, cmp(arith::CmpIPredicate::eq, warpLane, index(0)),
        /*withElseRegion=*/false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(first.thenBlock());
      memref::StoreOp::create(b, loc, p, scalars, ids.warp);
    }
    gpu::BarrierOp::create(b, loc);
    inFirstThread([&] {
      Value mass = f32(0.0);
      for (int64_t w = 0; w < kWarps; ++w)
        mass = arith::AddFOp::create(
            b, loc, mass, memref::LoadOp::create(b, loc, scalars, index(w)));
      memref::StoreOp::create(b, loc, mass, masses, j);
    });
  });
  gpu::BarrierOp::create(b, loc);

  // Ranks of the competing blocks (descending mass, ties to the lower
  // block), and their masses in ranked order.
  forEach(ids.thread, keyBlocks, threads, [&](Value j) {
    Value mass = memref::LoadOp::create(b, loc, masses, j);
    auto ahead = scf::ForOp::create(
        b, loc, index(0), keyBlocks, index(1), ValueRange{index(0)},
        [&](OpBuilder &nb, Location, Value other, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(nb.getInsertionBlock());
          Value otherMass = memref::LoadOp::create(b, loc, masses, other);
          Value larger = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                               otherMass, mass);
          Value tied = arith::AndIOp::create(
              b, loc,
              arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                    otherMass, mass),
              cmp(arith::CmpIPredicate::slt, other, j));
          Value before = arith::AndIOp::create(
              b, loc, arith::OrIOp::create(b, loc, larger, tied),
              negate(isForced(other)));
          scf::YieldOp::create(
              b, loc, add(carried[0], arith::IndexCastUIOp::create(
                                          b, loc, b.getIndexType(), before)));
        });
    Value rank = ahead.getResult(0);
    auto competing = scf::IfOp::create(
        b, loc, negate(isForced(j)),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(competing.thenBlock());
    memref::StoreOp::create(b, loc, mass, sorted, rank);
    memref::StoreOp::create(
        b, loc, arith::IndexCastOp::create(b, loc, i32Type, rank), ranks, j);
  });
  gpu::BarrierOp::create(b, loc);

  // Thread 0: the forced mass, then competing blocks in ranked order while
  // the selected mass is below the threshold share of the row's mass; then
  // the index row, ascending.
  Value threshold =
      thresholds ? Value(memref::LoadOp::create(b, loc, thresholds, head))
                 : f32(config.getThresholdValue());
  inFirstThread([&] {
    auto totals = scf::ForOp::create(
        b, loc, index(0), keyBlocks, index(1),
        ValueRange{f32(0.0), f32(0.0), index(0)},
        [&](OpBuilder &nb, Location, Value j, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(nb.getInsertionBlock());
          Value mass = memref::LoadOp::create(b, loc, masses, j);
          Value forced = isForced(j);
          scf::YieldOp::create(
              b, loc,
              ValueRange{arith::AddFOp::create(b, loc, carried[0], mass),
                         select(forced,
                                arith::AddFOp::create(b, loc, carried[1], mass),
                                carried[1]),
                         add(carried[2], arith::IndexCastUIOp::create(
                                             b, loc, b.getIndexType(), forced))});
        });
    Value required =
        arith::MulFOp::create(b, loc, threshold, totals.getResult(0));
    Value competitors =
        arith::SubIOp::create(b, loc, keyBlocks, totals.getResult(2));
    auto taken = scf::ForOp::create(
        b, loc, index(0), competitors, index(1),
        ValueRange{totals.getResult(1), index(0)},
        [&](OpBuilder &nb, Location, Value r, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(nb.getInsertionBlock());
          Value take = arith::AndIOp::create(
              b, loc, cmp(arith::CmpIPredicate::eq, carried[1], r),
              arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                                    carried[0], required));
          Value mass = memref::LoadOp::create(b, loc, sorted, r);
          scf::YieldOp::create(
              b, loc,
              ValueRange{select(take,
                                arith::AddFOp::create(b, loc, carried[0], mass),
                                carried[0]),
                         add(carried[1], arith::IndexCastUIOp::create(
                                             b, loc, b.getIndexType(), take))});
        });
    Value selectedRanks = taken.getResult(1);
    auto listed = scf::ForOp::create(
        b, loc, index(0), keyBlocks, index(1), ValueRange{index(0)},
        [&](OpBuilder &nb, Location, Value j, ValueRange carried) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(nb.getInsertionBlock());
          Value rank = arith::IndexCastOp::create(
              b, loc, b.getIndexType(),
              memref::LoadOp::create(b, loc, ranks, j));
          Value forced = isForced(j);
          // Forced blocks never wrote a rank: test them first.
          Value chosen = arith::OrIOp::create(
              b, loc, forced,
              cmp(arith::CmpIPredicate::slt,
                  select(forced, index(0), rank), selectedRanks));
          auto ifOp = scf::IfOp::create(b, loc, chosen, /*withElseRegion=*/false);
          {
            OpBuilder::InsertionGuard inner(b);
            b.setInsertionPointToStart(ifOp.thenBlock());
            memref::StoreOp::create(
                b, loc, arith::IndexCastOp::create(b, loc, i32Type, j), indices,
                ValueRange{batch, head, block, carried[0]});
          }
          scf::YieldOp::create(
              b, loc, add(carried[0], arith::IndexCastUIOp::create(
                                          b, loc, b.getIndexType(), chosen)));
        });
    Value length =
        arith::IndexCastOp::create(b, loc, i32Type, listed.getResult(0));
    memref::StoreOp::create(b, loc, length, counts,
                            ValueRange{batch, head, block});
    memref::StoreOp::create(b, loc, length, listLength, index(kWarps));
  });
  gpu::BarrierOp::create(b, loc);
  // Zeros after the list, as FlexAttention's rows have them.
  Value length = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      memref::LoadOp::create(b, loc, listLength, index(kWarps)));
  forEach(add(length, ids.thread), dim(indices, 3), threads, [&](Value slot) {
    memref::StoreOp::create(
        b, loc, arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)),
        indices, ValueRange{batch, head, block, slot});
  });
}

} // namespace

LogicalResult mlir::sparse_attn::lowerBlockSelection(func::FuncOp func,
                                                     SelectBlocksOp select,
                                                     gpu::GPUModuleOp module,
                                                     bool scaleArgument) {
  auto config = dyn_cast<XAttentionAttr>(select.getMethod());
  if (!config)
    return select.emitOpError("selects FlexPrefill blocks, which have no GPU "
                              "lowering yet");
  if (select.getQueryLengths() || select.getKeyLengths())
    return select.emitOpError("with query or key lengths has no GPU "
                              "lowering yet");
  Block &body = func.getBody().front();
  auto returnOp = cast<func::ReturnOp>(body.getTerminator());
  bool readsArguments = llvm::all_of(select->getOperands(), [&](Value operand) {
    auto arg = dyn_cast<BlockArgument>(operand);
    return arg && arg.getOwner() == &body;
  });
  if (&body.front() != select.getOperation() ||
      select->getNextNode() != returnOp || !readsArguments ||
      func.getNumArguments() != select->getNumOperands() ||
      !llvm::equal(returnOp.getOperands(), select->getResults()))
    return select.emitOpError("must be its function's only op, read the "
                              "function's arguments and be returned by it to "
                              "become a kernel");
  RankedTensorType queryType = select.getQuery().getType();
  Type elementType = queryType.getElementType();
  if (!(elementType.isBF16() || elementType.isF16()) ||
      elementType != select.getKey().getType().getElementType())
    return select.emitOpError("reads ")
           << elementType << " tensors; the GPU lowering takes bf16 and f16";
  int64_t stride = config.getStride();
  int64_t queryGroups = select.getQueryBlock() / stride;
  int64_t keyGroups = select.getKeyBlock() / stride;
  int64_t scores = queryGroups * keyGroups;
  if (scores > kThreads || kThreads % scores != 0 ||
      stride % (kThreads / scores) != 0 || kThreads / queryGroups > 32)
    return select.emitOpError("scores ")
           << queryGroups << " x " << keyGroups
           << " strided groups per block pair; the GPU lowering needs a "
              "power of two of at most "
           << kThreads << ", at least " << kThreads / 32
           << " query groups and a stride divisible by the threads per score";

  // Sizes the kernel reads: heads and lengths of q and k, the slots of an
  // index row.
  unsigned numArguments = func.getNumArguments();
  auto argumentNumber = [](Value value) {
    return cast<BlockArgument>(value).getArgNumber();
  };
  unsigned q = argumentNumber(select.getQuery()),
           k = argumentNumber(select.getKey());
  if (q != 0 || k != 1 ||
      (select.getThresholds() && argumentNumber(select.getThresholds()) != 2))
    return select.emitOpError("must read the function's arguments in its "
                              "operands' order (query, key, thresholds)");
  std::set<std::pair<unsigned, int64_t>> usedSizes = {
      {q, 1}, {q, 2}, {k, 1}, {k, 2}, {numArguments + 1, 3}};
  SmallVector<std::pair<StringRef, Type>> scalars;
  OpBuilder b(func.getContext());
  if (scaleArgument)
    scalars.push_back({kScaleArgumentName, b.getF32Type()});
  SmallVector<std::string> names = kernelTensorNames(func);
  FailureOr<KernelInterface> interface =
      buildKernelInterface(b, func, module, names, usedSizes, scalars);
  if (failed(interface))
    return failure();
  gpu::GPUFuncOp kernel = interface->kernel;
  kernel.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(kThreads), 1, 1}));

  ThreadIds ids = buildThreadIds(b, select.getLoc());
  WarpLayout layout;
  layout.numWarps = kWarps;
  layout.rowTiles = 1;
  XAttentionKernel builder(select, config, *interface, ids, layout, b);
  builder.build();
  gpu::ReturnOp::create(b, select.getLoc());

  std::string queryName = names[q];
  kernel->setAttr(
      kKernelLaunchAttr,
      b.getDictionaryAttr(
          {b.getNamedAttr(
               "grid",
               b.getArrayAttr(
                   {b.getStringAttr("ceil_div(" + queryName + ".size2, " +
                                    std::to_string(select.getQueryBlock()) +
                                    ")"),
                    b.getStringAttr(queryName + ".size1"),
                    b.getStringAttr(queryName + ".size0")})),
           b.getNamedAttr("block", b.getI64ArrayAttr({kThreads, 1, 1})),
           b.getNamedAttr("shared_memory_bytes",
                          b.getI64IntegerAttr(builder.sharedBytes())),
           b.getNamedAttr("max_key_blocks",
                          b.getI64IntegerAttr(kMaxMassBlocks))}));
  kernel->setAttr(kKernelTuningAttr,
                  b.getDictionaryAttr(
                      {b.getNamedAttr("warps", b.getI64IntegerAttr(kWarps))}));
  return success();
}
