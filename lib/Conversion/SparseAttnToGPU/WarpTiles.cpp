//===- WarpTiles.cpp - tile values as mma.sync fragments --------*- C++ -*-===//

#include "WarpTiles.h"

#include "sparse_attn/Dialect/SparseAttn/Transforms/ElasticSoftmax.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/EntmaxSolver.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::warp_tiles;

// exp2 and log2 are the NVVM intrinsics of ex2.approx.ftz / lg2.approx.ftz:
// math.exp2 and math.log2 (and llvm.intr.exp2) become libdevice calls that
// resolve only where the CUDA toolkit's libdevice is found.

namespace {
constexpr double kLn2 = 0.6931471805599453;
constexpr int64_t kThreadsPerWarp = 32;
/// Columns of one mma n-tile.
constexpr int64_t kTileColumns = 8;

/// The k of one mma step: two 16-byte chunks (16 elements of a 16-bit type,
/// 8 of tf32).
int64_t stepDepth(Type elementType) { return 2 * chunkElements(elementType); }

/// A call of the f32-valued NVVM intrinsic `name`.
Value f32Intrinsic(OpBuilder &b, Location loc, StringRef name,
                   ValueRange operands) {
  return LLVM::CallIntrinsicOp::create(b, loc, b.getF32Type(),
                                       b.getStringAttr(name), operands)
      .getResult(0);
}
} // namespace

Type SharedTile::elementType() const {
  return cast<MemRefType>(memory.getType()).getElementType();
}

int64_t mlir::sparse_attn::warp_tiles::chunkElements(Type elementType) {
  return kChunkBytes * 8 / elementType.getIntOrFloatBitWidth();
}

ThreadIds mlir::sparse_attn::warp_tiles::buildThreadIds(OpBuilder &b,
                                                        Location loc) {
  auto constant = [&](int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  ThreadIds ids;
  ids.thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value lane = arith::RemUIOp::create(b, loc, ids.thread, constant(kThreadsPerWarp));
  ids.warp = arith::DivUIOp::create(b, loc, ids.thread, constant(kThreadsPerWarp));
  ids.group = arith::DivUIOp::create(b, loc, lane, constant(4));
  ids.quadLane = arith::RemUIOp::create(b, loc, lane, constant(4));
  ids.matrix = arith::DivUIOp::create(b, loc, lane, constant(8));
  ids.matrixRow = arith::RemUIOp::create(b, loc, lane, constant(8));
  return ids;
}

VectorType mlir::sparse_attn::warp_tiles::accumulatorType(
    MLIRContext *context, const WarpLayout &layout, int64_t columns) {
  return VectorType::get({layout.rowTiles * columns / 2},
                         Float32Type::get(context));
}

VectorType
mlir::sparse_attn::warp_tiles::rowVectorType(MLIRContext *context,
                                             const WarpLayout &layout) {
  return VectorType::get({2 * layout.rowTiles}, Float32Type::get(context));
}

VectorType mlir::sparse_attn::warp_tiles::operandType(Type elementType,
                                                      const WarpLayout &layout,
                                                      int64_t depth) {
  // 16 rows of `depth` elements per m-tile, over 32 lanes in 32-bit
  // registers.
  return VectorType::get(
      {layout.rowTiles * depth * elementType.getIntOrFloatBitWidth() / 64},
      IntegerType::get(elementType.getContext(), 32));
}

VectorType mlir::sparse_attn::warp_tiles::outputTileType(
    Type elementType, const WarpLayout &layout, int64_t columns) {
  return VectorType::get({layout.rowTiles * columns / 2}, elementType);
}

bool mlir::sparse_attn::warp_tiles::operandFitsRegisters(
    Type elementType, const WarpLayout &layout, int64_t depth) {
  // 32 registers: what a 16-row m-tile of a 128-wide 16-bit head takes.
  // Beyond it the accumulators of two m-tiles leave no room (FlashAttention-2
  // keeps the query in shared memory there too).
  return operandType(elementType, layout, depth).getNumElements() <= 32;
}

int64_t mlir::sparse_attn::warp_tiles::chunkRunElements(Type elementType) {
  return kChunkBytes * 8 / elementType.getIntOrFloatBitWidth();
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

Value WarpTiles::index(int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value WarpTiles::exp2(Value x) {
  return f32Intrinsic(b, loc, "llvm.nvvm.ex2.approx.ftz.f", x);
}

Value WarpTiles::log2(Value x) {
  return f32Intrinsic(b, loc, "llvm.nvvm.lg2.approx.ftz.f", x);
}

Value WarpTiles::f32(double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

SmallVector<Value> WarpTiles::unpack(Value vector) {
  auto type = cast<VectorType>(vector.getType());
  SmallVector<Value> elements;
  for (int64_t i = 0, e = type.getNumElements(); i < e; ++i)
    elements.push_back(vector::ExtractOp::create(b, loc, vector, i));
  return elements;
}

Value WarpTiles::pack(VectorType type, ArrayRef<Value> elements) {
  return vector::FromElementsOp::create(b, loc, type, elements);
}

Value WarpTiles::vectorRow(int64_t r) {
  Value warpRow =
      arith::MulIOp::create(b, loc, ids.warp, index(kWarpRows * layout.rowTiles));
  Value row = arith::AddIOp::create(b, loc, warpRow, ids.group);
  return arith::AddIOp::create(b, loc, row,
                               index(kWarpRows * (r / 2) + 8 * (r % 2)));
}

int64_t WarpTiles::rowOf(int64_t e, int64_t columns) {
  int64_t tileColumns = columns / kTileColumns;
  return 2 * (e / (4 * tileColumns)) + (e % 4) / 2;
}

Value WarpTiles::elementRow(int64_t e, int64_t columns) {
  return vectorRow(rowOf(e, columns));
}

Value WarpTiles::elementColumn(int64_t e, int64_t columns) {
  int64_t tileColumn = (e / 4) % (columns / kTileColumns);
  Value pair = arith::MulIOp::create(b, loc, ids.quadLane, index(2));
  return arith::AddIOp::create(b, loc, pair,
                               index(kTileColumns * tileColumn + e % 2));
}

Value WarpTiles::opaque(Value value) {
  Type i32 = b.getI32Type();
  Value narrow = arith::IndexCastOp::create(b, loc, i32, value);
  auto asmOp = LLVM::InlineAsmOp::create(
      b, loc, i32, ValueRange{narrow}, "mov.b32 $0, $1;", "=r,r",
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::TailCallKind::None, /*asm_dialect=*/LLVM::AsmDialectAttr(),
      /*operand_attrs=*/ArrayAttr());
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), asmOp.getResult(0));
}

Value WarpTiles::laneAddress(const SharedTile &tile, int64_t row,
                             Value laneRow, int64_t chunk, Value laneChunk,
                             Value laneElement) {
  // The swizzled chunk (chunk + laneChunk) ^ ((row + laneRow) & mask) is
  // (chunk & ~mask) + (((chunk & mask) | laneChunk) ^ (laneRow & mask)): a
  // lane term that takes one of (mask + 1) / 2 values and a constant.
  int64_t perChunk = chunkElements(tile.elementType());
  int64_t chunksPerRow = tile.width / perChunk;
  int64_t mask = std::min<int64_t>(8, chunksPerRow) - 1;
  int64_t swizzleClass = chunk & mask;
  Value &base =
      laneBases[{tile.offset, laneRow, laneChunk, laneElement, swizzleClass}];
  if (!base) {
    Value rowBits = arith::AndIOp::create(b, loc, laneRow, index(mask));
    Value laneTerm = arith::XOrIOp::create(
        b, loc,
        arith::OrIOp::create(b, loc, laneChunk, index(swizzleClass)).getResult(),
        rowBits);
    Value start = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, laneRow, index(tile.width)),
        arith::MulIOp::create(b, loc, laneTerm, index(perChunk)));
    if (laneElement)
      start = arith::AddIOp::create(b, loc, start, laneElement);
    base = opaque(arith::AddIOp::create(b, loc, tile.offset, start));
  }
  return arith::AddIOp::create(
      b, loc, base, index(row * tile.width + (chunk & ~mask) * perChunk));
}

std::array<Value, 4> WarpTiles::loadMatrices(const SharedTile &tile,
                                             int64_t row, Value laneRow,
                                             int64_t chunk, Value laneChunk,
                                             bool transpose) {
  Value element =
      laneAddress(tile, row, laneRow, chunk, laneChunk, /*laneElement=*/{});
  // Each lane receives 32 bits of every 8 x 16-byte matrix: a pair of
  // 16-bit elements, or one 32-bit element.
  Type elementType = tile.elementType();
  auto resultType = VectorType::get(
      {4, 32 / elementType.getIntOrFloatBitWidth()}, elementType);
  Value matrices = nvgpu::LdMatrixOp::create(
      b, loc, resultType, tile.memory, ValueRange{element}, transpose,
      /*numTiles=*/4);
  std::array<Value, 4> registers;
  for (int64_t i = 0; i < 4; ++i) {
    Value pair = vector::ExtractOp::create(b, loc, matrices, i);
    registers[i] =
        LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair).getResult();
  }
  return registers;
}

std::array<Value, 4> WarpTiles::mma(ArrayRef<Value> a, ArrayRef<Value> bFragment,
                                    ArrayRef<Value> c, Type elementType) {
  if (!elementType.isF32() || !exactF32)
    return mmaInstruction(a, bFragment, c, elementType);
  // 3xTF32: a b ~ a_hi b_hi + a_hi b_lo + a_lo b_hi (a_lo b_lo is below f32
  // rounding), the small terms first. An operand reused by several
  // products is split at each use: the conversions are pure, and LLVM
  // keeps one of each.
  auto [aHigh, aLow] = splitTF32(a);
  auto [bHigh, bLow] = splitTF32(bFragment);
  std::array<Value, 4> d = mmaInstruction(aLow, bHigh, c, elementType);
  d = mmaInstruction(aHigh, bLow, d, elementType);
  return mmaInstruction(aHigh, bHigh, d, elementType);
}

std::pair<SmallVector<Value>, SmallVector<Value>>
WarpTiles::splitTF32(ArrayRef<Value> registers) {
  SmallVector<Value> high, low;
  for (Value reg : registers) {
    Value x = arith::BitcastOp::create(b, loc, b.getF32Type(), reg);
    high.push_back(toTF32(x));
    Value highF32 =
        arith::BitcastOp::create(b, loc, b.getF32Type(), high.back());
    Value rest = arith::SubFOp::create(b, loc, x, highF32);
    low.push_back(toTF32(rest));
  }
  return {high, low};
}

std::array<Value, 4> WarpTiles::mmaInstruction(ArrayRef<Value> a,
                                               ArrayRef<Value> bFragment,
                                               ArrayRef<Value> c,
                                               Type elementType) {
  // bf16 and tf32 operands travel as i32, f16 ones as vector<2xf16> (the
  // NVVM op's operand rules).
  auto asOperands = [&](ArrayRef<Value> registers) {
    SmallVector<Value> operands;
    for (Value reg : registers) {
      if (elementType.isF16())
        reg = LLVM::BitcastOp::create(
            b, loc, VectorType::get({2}, elementType), reg);
      operands.push_back(reg);
    }
    return operands;
  };
  NVVM::MMATypes ptxType = elementType.isF16()   ? NVVM::MMATypes::f16
                            : elementType.isF32() ? NVVM::MMATypes::tf32
                                                  : NVVM::MMATypes::bf16;
  Type f32Type = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {f32Type, f32Type, f32Type, f32Type});
  Value result = NVVM::MmaOp::create(
      b, loc, resultType, asOperands(a), asOperands(bFragment), c,
      ArrayRef<int64_t>{16, 8, stepDepth(elementType)}, std::nullopt,
      std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  std::array<Value, 4> d;
  for (int64_t i = 0; i < 4; ++i)
    d[i] = LLVM::ExtractValueOp::create(b, loc, result, i);
  return d;
}

Value WarpTiles::packPair(Value low, Value high, Type elementType) {
  Value pair = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, b.getF32Type()), ValueRange{low, high});
  Value narrow = arith::TruncFOp::create(
      b, loc, VectorType::get({2}, elementType), pair);
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), narrow);
}

Value WarpTiles::toTF32(Value value) {
  return NVVM::ConvertFloatToTF32Op::create(b, loc, b.getI32Type(), value,
                                            NVVM::FPRoundingMode::RNA,
                                            NVVM::SaturationMode::NONE,
                                            /*relu=*/false);
}

SmallVector<Value> WarpTiles::packWeights(ArrayRef<Value> weights,
                                          Type elementType) {
  SmallVector<Value> packed;
  if (elementType.isF32()) {
    for (Value weight : weights)
      packed.push_back(exactF32 ? Value(arith::BitcastOp::create(
                                      b, loc, b.getI32Type(), weight))
                                : toTF32(weight));
    return packed;
  }
  for (int64_t e = 0, n = weights.size(); e < n; e += 2)
    packed.push_back(packPair(weights[e], weights[e + 1], elementType));
  return packed;
}

// Maxima are llvm.maxnum, one max.f32 (arith's maximumf and maxnumf leave
// arith-expand as a compare and two selects each): a NaN score still reaches
// the row's sum and output through its exp2.
Value WarpTiles::combine(Value x, Value y, RowReduction kind) {
  switch (kind) {
  case RowReduction::Sum:
    return arith::AddFOp::create(b, loc, x, y);
  case RowReduction::Max:
    return LLVM::MaxNumOp::create(b, loc, x, y);
  case RowReduction::Min:
    return LLVM::MinNumOp::create(b, loc, x, y);
  }
  llvm_unreachable("unknown row reduction");
}

Value WarpTiles::laneXor(Value value, int32_t offset) {
  Value width = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(32));
  Value shift = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(offset));
  return gpu::ShuffleOp::create(b, loc, value, shift, width,
                                gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

Value WarpTiles::quadReduce(Value value, RowReduction kind) {
  for (int32_t offset : {1, 2})
    value = combine(value, laneXor(value, offset), kind);
  return value;
}

Value WarpTiles::reduceRow(ArrayRef<Value> elements, int64_t columns,
                           int64_t r, Value init, RowReduction kind) {
  Value local;
  for (int64_t e = 0, n = elements.size(); e < n; ++e) {
    if (rowOf(e, columns) != r)
      continue;
    local = local ? combine(local, elements[e], kind) : elements[e];
  }
  return combine(init, quadReduce(local, kind), kind);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

std::pair<Value, Value> WarpTiles::copyOwner(const SharedTile &tile) {
  int64_t chunksPerRow = tile.width / chunkElements(tile.elementType());
  return {arith::DivUIOp::create(b, loc, ids.thread, index(chunksPerRow)),
          arith::RemUIOp::create(b, loc, ids.thread, index(chunksPerRow))};
}

void WarpTiles::forEachCopiedChunk(const SharedTile &tile,
                                   std::pair<Value, Value> owner,
                                   function_ref<void(Value, Value)> body) {
  // Thread t copies 16-byte chunk t % C of rows t / C + k * (threads / C):
  // consecutive threads read consecutive chunks of a row, and the rows of
  // one thread are a constant distance apart (its addresses differ by
  // immediates).
  auto [firstRow, rowChunk] = owner;
  int64_t perChunk = chunkElements(tile.elementType());
  int64_t chunksPerRow = tile.width / perChunk;
  int64_t mask = std::min<int64_t>(8, chunksPerRow) - 1;
  int64_t rowStep = layout.numThreads() / chunksPerRow;
  // With rows a multiple of 8 apart the swizzle is the thread's own for
  // all its rows: one opaque base and immediate offsets.
  Value swizzleBase;
  if (rowStep % (mask + 1) == 0) {
    Value swizzled = arith::AddIOp::create(
        b, loc, arith::AndIOp::create(b, loc, rowChunk, index(~mask)),
        arith::XOrIOp::create(
            b, loc, arith::AndIOp::create(b, loc, rowChunk, index(mask)),
            arith::AndIOp::create(b, loc, firstRow, index(mask))));
    swizzleBase = opaque(arith::AddIOp::create(
        b, loc, tile.offset,
        arith::AddIOp::create(
            b, loc, arith::MulIOp::create(b, loc, firstRow, index(tile.width)),
            arith::MulIOp::create(b, loc, swizzled, index(perChunk)))));
  }
  for (int64_t first = 0; first < tile.rows; first += rowStep) {
    OpBuilder::InsertionGuard guard(b);
    Value tileRow = arith::AddIOp::create(b, loc, firstRow, index(first));
    if (first + rowStep > tile.rows) {
      Value inTile = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           tileRow, index(tile.rows));
      auto ifOp = scf::IfOp::create(b, loc, inTile, /*withElseRegion=*/false);
      b.setInsertionPointToStart(ifOp.thenBlock());
    }
    Value destination;
    if (swizzleBase) {
      destination = arith::AddIOp::create(b, loc, swizzleBase,
                                           index(first * tile.width));
    } else {
      Value swizzled = arith::XOrIOp::create(
          b, loc, rowChunk,
          arith::AndIOp::create(b, loc, tileRow, index(mask)).getResult());
      destination = arith::AddIOp::create(
          b, loc, tile.offset,
          arith::AddIOp::create(
              b, loc, arith::MulIOp::create(b, loc, tileRow, index(tile.width)),
              arith::MulIOp::create(b, loc, swizzled, index(perChunk))));
    }
    body(tileRow, destination);
  }
}

void WarpTiles::copyTileAsync(Value source, Value batch, Value head, Value row,
                              Value rowLimit, const SharedTile &tile) {
  int64_t perChunk = chunkElements(tile.elementType());
  std::pair<Value, Value> owner = copyOwner(tile);
  Value sourceColumn =
      arith::MulIOp::create(b, loc, owner.second, index(perChunk));
  auto emitCopies = [&](bool guarded) {
    forEachCopiedChunk(tile, owner, [&](Value tileRow, Value destination) {
      Value sourceRow = arith::AddIOp::create(b, loc, row, tileRow);
      Value copied;
      if (guarded) {
        // Rows past the end copy nothing (zero fill) from an address inside
        // the tensor.
        Value inBounds = arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::slt, sourceRow, rowLimit);
        sourceRow = arith::SelectOp::create(b, loc, inBounds, sourceRow, row);
        copied = arith::SelectOp::create(b, loc, inBounds, index(perChunk),
                                         index(0));
      }
      nvgpu::DeviceAsyncCopyOp::create(
          b, loc, tile.memory, ValueRange{destination}, source,
          ValueRange{batch, head, sourceRow, sourceColumn},
          b.getIndexAttr(perChunk), copied, b.getUnitAttr());
    });
  };
  // Only a tile that reaches past the end needs the row checks.
  Value end = arith::AddIOp::create(b, loc, row, index(tile.rows));
  Value inside =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, end, rowLimit);
  auto ifOp = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  emitCopies(/*guarded=*/false);
  b.setInsertionPointToStart(ifOp.elseBlock());
  emitCopies(/*guarded=*/true);
}

Value WarpTiles::chunkOffset(const SharedTile &tile, Value row, Value chunk) {
  int64_t perChunk = chunkElements(tile.elementType());
  int64_t mask = std::min<int64_t>(8, tile.width / perChunk) - 1;
  Value swizzled = arith::AddIOp::create(
      b, loc, arith::AndIOp::create(b, loc, chunk, index(~mask)),
      arith::XOrIOp::create(b, loc,
                            arith::AndIOp::create(b, loc, chunk, index(mask)),
                            arith::AndIOp::create(b, loc, row, index(mask))));
  return arith::AddIOp::create(
      b, loc, tile.offset,
      arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, row, index(tile.width)),
          arith::MulIOp::create(b, loc, swizzled, index(perChunk))));
}

void WarpTiles::roundToTF32(const SharedTile &tile) {
  // Rows past the tensor's end were zero-filled: rounding keeps them 0.
  auto chunkType = VectorType::get({chunkElements(tile.elementType())},
                                   tile.elementType());
  forEachCopiedChunk(
      tile, copyOwner(tile), [&](Value, Value destination) {
        // Chunks are 16-byte aligned: one ld/st.shared.v4 each.
        Value chunk = vector::LoadOp::create(
            b, loc, chunkType, tile.memory, ValueRange{destination},
            /*nontemporal=*/false, llvm::Align(kChunkBytes));
        SmallVector<Value> rounded;
        for (Value element : unpack(chunk))
          rounded.push_back(arith::BitcastOp::create(b, loc, b.getF32Type(),
                                                     toTF32(element)));
        vector::StoreOp::create(b, loc, pack(chunkType, rounded), tile.memory,
                                ValueRange{destination}, /*nontemporal=*/false,
                                llvm::Align(kChunkBytes));
      });
}

std::pair<Value, Value> WarpTiles::operandLanes() {
  // Lanes 8m..8m+7 address matrix m: rows +8 for m odd, columns +8 for m >= 2
  // (a0: rows 0-7, a1: rows 8-15, a2/a3 the same at columns 8-15).
  Value rowInPair = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, ids.matrix, index(2)), index(8));
  Value warpRow = arith::MulIOp::create(b, loc, ids.warp,
                                        index(kWarpRows * layout.rowTiles));
  Value laneRow = arith::AddIOp::create(
      b, loc, arith::AddIOp::create(b, loc, warpRow, rowInPair),
      ids.matrixRow);
  return {laneRow, arith::DivUIOp::create(b, loc, ids.matrix, index(2))};
}

SmallVector<Value> WarpTiles::operandStep(const Operand &operand,
                                          ArrayRef<Value> registers,
                                          std::pair<Value, Value> lanes,
                                          int64_t rowTile, int64_t step) {
  int64_t steps =
      operand.shared.width / stepDepth(operand.shared.elementType());
  if (operand.registers)
    return SmallVector<Value>(
        registers.slice(4 * (rowTile * steps + step), 4));
  std::array<Value, 4> r =
      loadMatrices(operand.shared, kWarpRows * rowTile, lanes.first, 2 * step,
                   lanes.second, /*transpose=*/false);
  return SmallVector<Value>(r.begin(), r.end());
}

Value WarpTiles::loadOperand(const SharedTile &tile) {
  Operand shared{Value(), tile};
  std::pair<Value, Value> lanes = operandLanes();
  SmallVector<Value> registers;
  for (int64_t rowTile = 0; rowTile < layout.rowTiles; ++rowTile)
    for (int64_t step = 0; step < tile.width / stepDepth(tile.elementType());
         ++step)
      llvm::append_range(registers,
                         operandStep(shared, {}, lanes, rowTile, step));
  return pack(operandType(tile.elementType(), layout, tile.width), registers);
}

void WarpTiles::storeTileRows(Value tile, Value rows, Value dest, Value batch,
                              Value head, Value rowStart) {
  SmallVector<Value> elements = unpack(tile);
  int64_t columns = 2 * elements.size() / layout.rowTiles;
  auto pairType =
      VectorType::get({2}, cast<VectorType>(tile.getType()).getElementType());
  Value firstColumn = arith::MulIOp::create(b, loc, ids.quadLane, index(2));
  for (int64_t r = 0; r < 2 * layout.rowTiles; ++r) {
    OpBuilder::InsertionGuard guard(b);
    Value row = vectorRow(r);
    Value inRows =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, row, rows);
    auto ifOp = scf::IfOp::create(b, loc, inRows, /*withElseRegion=*/false);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value globalRow = arith::AddIOp::create(b, loc, rowStart, row);
    for (int64_t e = 0, n = elements.size(); e < n; e += 2) {
      if (rowOf(e, columns) != r)
        continue;
      Value pair = pack(pairType, {elements[e], elements[e + 1]});
      int64_t tileColumn = (e / 4) % (columns / kTileColumns);
      Value column = arith::AddIOp::create(b, loc, firstColumn,
                                           index(kTileColumns * tileColumn));
      vector::StoreOp::create(b, loc, pair, dest,
                              ValueRange{batch, head, globalRow, column});
    }
  }
}

void WarpTiles::storeRowVector(Value rowVector, Value rows, Value dest,
                               Value batch, Value head, Value rowStart) {
  SmallVector<Value> elements = unpack(rowVector);
  Value firstInQuad = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                            ids.quadLane, index(0));
  for (int64_t r = 0, n = elements.size(); r < n; ++r) {
    OpBuilder::InsertionGuard guard(b);
    Value row = vectorRow(r);
    Value inRows =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, row, rows);
    Value writes = arith::AndIOp::create(b, loc, inRows, firstInQuad);
    auto ifOp = scf::IfOp::create(b, loc, writes, /*withElseRegion=*/false);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value globalRow = arith::AddIOp::create(b, loc, rowStart, row);
    memref::StoreOp::create(b, loc, elements[r], dest,
                            ValueRange{batch, head, globalRow});
  }
}

//===----------------------------------------------------------------------===//
// Chunks of the row-wise entmax
//===----------------------------------------------------------------------===//

std::pair<Value, Value> WarpTiles::contiguousRows(Value memory) {
  auto type = cast<MemRefType>(memory.getType());
  int64_t elementBytes = type.getElementTypeBitWidth() / 8;
  auto metadata = memref::ExtractStridedMetadataOp::create(b, loc, memory);
  Value offset = metadata.getOffset();
  ValueRange sizes = metadata.getSizes(), strides = metadata.getStrides();
  Value pointer =
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memory);
  Value start = arith::AddIOp::create(
      b, loc, pointer,
      arith::MulIOp::create(b, loc, offset, index(elementBytes)));
  auto isZero = [&](Value value) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, value,
                                 index(0));
  };
  Value aligned = isZero(arith::RemUIOp::create(b, loc, start,
                                                index(kChunkBytes)));
  Value rowsAligned = isZero(arith::RemUIOp::create(
      b, loc, strides[0], index(kChunkBytes / elementBytes)));
  Value unitStride = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                           strides[1], index(1));
  Value contiguous = arith::AndIOp::create(
      b, loc, aligned, arith::AndIOp::create(b, loc, rowsAligned, unitStride));
  auto viewType = MemRefType::get(
      {ShapedType::kDynamic, ShapedType::kDynamic}, type.getElementType(),
      StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic,
                             {ShapedType::kDynamic, 1}));
  Value view = memref::ReinterpretCastOp::create(
      b, loc, viewType, memory, OpFoldResult(offset),
      ArrayRef<OpFoldResult>{sizes[0], sizes[1]},
      ArrayRef<OpFoldResult>{strides[0], b.getIndexAttr(1)});
  return {contiguous, view};
}

int64_t WarpTiles::chunkElement(int64_t r, int64_t k, int64_t i, int64_t run,
                                int64_t columns) {
  int64_t tileColumn = run / 2 * k + i / 2;
  return 4 * (r / 2 * (columns / kTileColumns) + tileColumn) + 2 * (r % 2) +
         i % 2;
}

Value WarpTiles::runColumn(int64_t k, int64_t run) {
  return arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, ids.quadLane, index(run)),
      index(4 * run * k));
}

Value WarpTiles::loadChunk(Value source, Value row, Value col, Value scale,
                           int64_t columns) {
  Type elementType = cast<MemRefType>(source.getType()).getElementType();
  int64_t run = chunkRunElements(elementType);
  Value rowLimit = memref::DimOp::create(b, loc, source, 0);
  Value colLimit = memref::DimOp::create(b, loc, source, 1);
  auto [contiguous, view] = contiguousRows(source);
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  auto runType = VectorType::get({run}, b.getF32Type());
  auto toF32 = [&](OpBuilder &nb, Value value) -> Value {
    if (elementType.isF32())
      return value;
    Type type = isa<VectorType>(value.getType())
                    ? Type(runType)
                    : Type(nb.getF32Type());
    return arith::ExtFOp::create(nb, loc, type, value);
  };
  SmallVector<Value> elements(layout.rowTiles * columns / 2);
  for (int64_t r = 0; r < 2 * layout.rowTiles; ++r) {
    Value sourceRow = arith::AddIOp::create(b, loc, row, vectorRow(r));
    Value rowInside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                            sourceRow, rowLimit);
    for (int64_t k = 0; k < columns / (4 * run); ++k) {
      Value column = arith::AddIOp::create(b, loc, col, runColumn(k, run));
      Value runEnd = arith::AddIOp::create(b, loc, column, index(run));
      Value whole = arith::AndIOp::create(
          b, loc, arith::AndIOp::create(b, loc, contiguous, rowInside),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, runEnd,
                                colLimit));
      auto ifOp = scf::IfOp::create(b, loc, runType, whole,
                                    /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        Value loaded = vector::LoadOp::create(
            b, loc, VectorType::get({run}, elementType), view,
            ValueRange{sourceRow, column}, /*nontemporal=*/false,
            llvm::Align(kChunkBytes));
        Value factor = vector::BroadcastOp::create(b, loc, runType, scale);
        scf::YieldOp::create(
            b, loc,
            arith::MulFOp::create(b, loc, toF32(b, loaded), factor)
                .getResult());
        // A partial run, or rows that are not contiguous: element by
        // element, each load at a clamped position inside the source (a
        // chunk is only loaded when both extents are positive).
        b.setInsertionPointToStart(ifOp.elseBlock());
        Value lastRow = arith::SubIOp::create(b, loc, rowLimit, index(1));
        Value lastColumn = arith::SubIOp::create(b, loc, colLimit, index(1));
        Value safeRow = arith::MinSIOp::create(b, loc, sourceRow, lastRow);
        SmallVector<Value> values;
        for (int64_t i = 0; i < run; ++i) {
          Value c = arith::AddIOp::create(b, loc, column, index(i));
          Value inside = arith::AndIOp::create(
              b, loc, rowInside,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, c,
                                    colLimit));
          Value element = memref::LoadOp::create(
              b, loc, source,
              ValueRange{safeRow,
                         arith::MinSIOp::create(b, loc, c, lastColumn)});
          Value scaled =
              arith::MulFOp::create(b, loc, toF32(b, element), scale);
          values.push_back(
              arith::SelectOp::create(b, loc, inside, scaled, negInf));
        }
        scf::YieldOp::create(b, loc, pack(runType, values));
      }
      SmallVector<Value> loaded = unpack(ifOp.getResult(0));
      for (int64_t i = 0; i < run; ++i)
        elements[chunkElement(r, k, i, run, columns)] = loaded[i];
    }
  }
  return pack(accumulatorType(b.getContext(), layout, columns), elements);
}

void WarpTiles::storeChunk(Value tile, Value dest, Value rows, Value columns,
                           Value rowStart, Value colStart) {
  SmallVector<Value> elements = unpack(tile);
  Type elementType = cast<VectorType>(tile.getType()).getElementType();
  int64_t run = chunkRunElements(elementType);
  int64_t width = 2 * elements.size() / layout.rowTiles;
  auto [contiguous, view] = contiguousRows(dest);
  auto runType = VectorType::get({run}, elementType);
  for (int64_t r = 0; r < 2 * layout.rowTiles; ++r) {
    Value tileRow = vectorRow(r);
    Value inRows = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                         tileRow, rows);
    Value destRow = arith::AddIOp::create(b, loc, rowStart, tileRow);
    for (int64_t k = 0; k < width / (4 * run); ++k) {
      Value tileColumn = runColumn(k, run);
      Value destColumn = arith::AddIOp::create(b, loc, colStart, tileColumn);
      Value whole = arith::AndIOp::create(
          b, loc, arith::AndIOp::create(b, loc, contiguous, inRows),
          arith::CmpIOp::create(
              b, loc, arith::CmpIPredicate::sle,
              arith::AddIOp::create(b, loc, tileColumn, index(run)), columns));
      SmallVector<Value> values;
      for (int64_t i = 0; i < run; ++i)
        values.push_back(elements[chunkElement(r, k, i, run, width)]);
      auto ifOp = scf::IfOp::create(b, loc, whole, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      vector::StoreOp::create(b, loc, pack(runType, values), view,
                              ValueRange{destRow, destColumn},
                              /*nontemporal=*/false, llvm::Align(kChunkBytes));
      b.setInsertionPointToStart(ifOp.elseBlock());
      for (int64_t i = 0; i < run; ++i) {
        OpBuilder::InsertionGuard inner(b);
        Value inside = arith::AndIOp::create(
            b, loc, inRows,
            arith::CmpIOp::create(
                b, loc, arith::CmpIPredicate::slt,
                arith::AddIOp::create(b, loc, tileColumn, index(i)), columns));
        auto store = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/false);
        b.setInsertionPointToStart(store.thenBlock());
        memref::StoreOp::create(
            b, loc, values[i], dest,
            ValueRange{destRow,
                       arith::AddIOp::create(b, loc, destColumn, index(i))});
      }
    }
  }
}

//===----------------------------------------------------------------------===//
// Tile ops
//===----------------------------------------------------------------------===//

Value WarpTiles::scoreProducts(const Operand &query, const SharedTile &keys,
                               Type elementType) {
  SmallVector<Value> registers;
  std::pair<Value, Value> lanes;
  if (query.registers)
    registers = unpack(query.registers);
  else
    lanes = operandLanes();
  int64_t tileColumns = keys.rows / kTileColumns;
  Value zero = f32(0.0);
  SmallVector<Value> acc(4 * layout.rowTiles * tileColumns, zero);
  // Lanes 8m..8m+7 address matrix m: keys +8 for m >= 2, depth +8 for m odd
  // (b0/b1 of n-tile 2p, then of n-tile 2p + 1).
  Value keyInPair = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, ids.matrix, index(2)), index(8));
  Value keyRow = arith::AddIOp::create(b, loc, keyInPair, ids.matrixRow);
  Value chunkInStep = arith::RemUIOp::create(b, loc, ids.matrix, index(2));
  // (The same addresses in chunks for tf32: b0 is depth t, b1 depth t + 4.)
  for (int64_t step = 0; step < keys.width / stepDepth(elementType); ++step) {
    SmallVector<SmallVector<Value>> a;
    for (int64_t rowTile = 0; rowTile < layout.rowTiles; ++rowTile)
      a.push_back(operandStep(query, registers, lanes, rowTile, step));
    for (int64_t pair = 0; pair < tileColumns / 2; ++pair) {
      std::array<Value, 4> r = loadMatrices(keys, 16 * pair, keyRow, 2 * step,
                                            chunkInStep, /*transpose=*/false);
      for (int64_t rowTile = 0; rowTile < layout.rowTiles; ++rowTile)
        for (int64_t j = 0; j < 2; ++j) {
          int64_t n = rowTile * tileColumns + 2 * pair + j;
          std::array<Value, 4> d =
              mma(a[rowTile], {r[2 * j], r[2 * j + 1]},
                  ArrayRef<Value>(acc).slice(4 * n, 4), elementType);
          std::copy(d.begin(), d.end(), acc.begin() + 4 * n);
        }
    }
  }
  return pack(accumulatorType(b.getContext(), layout, keys.rows), acc);
}

Value WarpTiles::accumulateProducts(Value acc, ArrayRef<Value> weights,
                                    const SharedTile &values,
                                    Type elementType) {
  if (elementType.isF32())
    return accumulateTF32Products(acc, weights, values);
  SmallVector<Value> out = unpack(acc);
  int64_t keyTiles = values.rows / kTileColumns;
  int64_t valueTiles = values.width / kTileColumns;
  // Lanes 8m..8m+7 address matrix m of the transposed load: keys +8 for m
  // odd, value columns +8 for m >= 2.
  Value keyInPair = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, ids.matrix, index(2)), index(8));
  Value keyRow = arith::AddIOp::create(b, loc, keyInPair, ids.matrixRow);
  Value chunkInPair = arith::DivUIOp::create(b, loc, ids.matrix, index(2));
  for (int64_t step = 0; step < values.rows / stepDepth(elementType); ++step) {
    // The A operand of P from the packed score accumulators of n-tiles
    // 2 step and 2 step + 1 (rows g, g + 8; keys 2t, 2t + 8).
    SmallVector<ArrayRef<Value>> a;
    for (int64_t rowTile = 0; rowTile < layout.rowTiles; ++rowTile)
      a.push_back(weights.slice(2 * (rowTile * keyTiles + 2 * step), 4));
    for (int64_t pair = 0; pair < values.width / 16; ++pair) {
      std::array<Value, 4> r =
          loadMatrices(values, 16 * step, keyRow, 2 * pair, chunkInPair,
                       /*transpose=*/true);
      for (int64_t rowTile = 0; rowTile < layout.rowTiles; ++rowTile)
        for (int64_t j = 0; j < 2; ++j) {
          int64_t n = rowTile * valueTiles + 2 * pair + j;
          std::array<Value, 4> d =
              mma(a[rowTile], {r[2 * j], r[2 * j + 1]},
                  ArrayRef<Value>(out).slice(4 * n, 4), elementType);
          std::copy(d.begin(), d.end(), out.begin() + 4 * n);
        }
    }
  }
  return pack(cast<VectorType>(acc.getType()), out);
}

Value WarpTiles::accumulateTF32Products(Value acc, ArrayRef<Value> weights,
                                        const SharedTile &values) {
  // A k-step is the 8 keys of one score n-tile, its k-slot t holding key
  // 2t and k-slot t + 4 key 2t + 1: P's A registers (rows g, g + 8; slots
  // t, t + 4) are then the tile's accumulators (rows g, g + 8; keys 2t,
  // 2t + 1), and the B registers of value n-tile n are V[2t][8n + g] and
  // V[2t + 1][8n + g]. Within the quad's four rows and each of the eight
  // lanes' swizzled chunks, those 32-bit loads hit 32 distinct banks.
  SmallVector<Value> out = unpack(acc);
  int64_t keyTiles = values.rows / kTileColumns;
  int64_t valueTiles = values.width / kTileColumns;
  Value evenKey = arith::MulIOp::create(b, loc, ids.quadLane, index(2));
  Value laneRows[] = {evenKey,
                      arith::AddIOp::create(b, loc, evenKey, index(1))};
  Value laneChunk = arith::DivUIOp::create(b, loc, ids.group, index(4));
  Value laneElement = arith::RemUIOp::create(b, loc, ids.group, index(4));
  for (int64_t step = 0; step < keyTiles; ++step) {
    SmallVector<SmallVector<Value>> a;
    for (int64_t rowTile = 0; rowTile < layout.rowTiles; ++rowTile) {
      ArrayRef<Value> p = weights.slice(4 * (rowTile * keyTiles + step), 4);
      a.push_back({p[0], p[2], p[1], p[3]});
    }
    for (int64_t valueTile = 0; valueTile < valueTiles; ++valueTile) {
      SmallVector<Value> bFragment;
      for (Value laneRow : laneRows) {
        Value element =
            laneAddress(values, kTileColumns * step, laneRow, 2 * valueTile,
                        laneChunk, laneElement);
        Value value = memref::LoadOp::create(b, loc, values.memory, element);
        bFragment.push_back(
            arith::BitcastOp::create(b, loc, b.getI32Type(), value));
      }
      for (int64_t rowTile = 0; rowTile < layout.rowTiles; ++rowTile) {
        int64_t n = rowTile * valueTiles + valueTile;
        std::array<Value, 4> d =
            mma(a[rowTile], bFragment, ArrayRef<Value>(out).slice(4 * n, 4),
                values.elementType());
        std::copy(d.begin(), d.end(), out.begin() + 4 * n);
      }
    }
  }
  return pack(cast<VectorType>(acc.getType()), out);
}

Value WarpTiles::scaleTile(Value tile, Value factor) {
  SmallVector<Value> elements = unpack(tile);
  for (Value &element : elements)
    element = arith::MulFOp::create(b, loc, element, factor);
  return pack(cast<VectorType>(tile.getType()), elements);
}

Value WarpTiles::maskTile(Value tile, Value rowOffset, Value colOffset,
                          VisibleFn visible) {
  SmallVector<Value> elements = unpack(tile);
  int64_t columns = 2 * elements.size() / layout.rowTiles;
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  for (int64_t e = 0, n = elements.size(); e < n; ++e) {
    Value i = arith::AddIOp::create(b, loc, rowOffset, elementRow(e, columns));
    Value j =
        arith::AddIOp::create(b, loc, colOffset, elementColumn(e, columns));
    Value isVisible = visible(b, loc, i, j);
    elements[e] =
        arith::SelectOp::create(b, loc, isVisible, elements[e], negInf);
  }
  return pack(cast<VectorType>(tile.getType()), elements);
}

Value WarpTiles::addToTile(Value tile, Value rowOffset, Value colOffset,
                           TermFn term) {
  SmallVector<Value> elements = unpack(tile);
  int64_t columns = 2 * elements.size() / layout.rowTiles;
  for (int64_t e = 0, n = elements.size(); e < n; ++e) {
    Value i = arith::AddIOp::create(b, loc, rowOffset, elementRow(e, columns));
    Value j =
        arith::AddIOp::create(b, loc, colOffset, elementColumn(e, columns));
    elements[e] = arith::AddFOp::create(b, loc, elements[e], term(b, loc, i, j));
  }
  return pack(cast<VectorType>(tile.getType()), elements);
}

SmallVector<Value> WarpTiles::onlineSoftmax(Value scores,
                                            const SharedTile *values,
                                            Value max, Value sum, Value acc,
                                            Type elementType) {
  SmallVector<Value> s = unpack(scores);
  SmallVector<Value> m = unpack(max), l = unpack(sum);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  int64_t rows = m.size();
  SmallVector<Value> newMax(rows), base(rows), rescale(rows), newSum(rows);
  for (int64_t r = 0; r < rows; ++r) {
    newMax[r] = reduceRow(s, columns, r, m[r], RowReduction::Max);
    // A row without a visible key yet keeps base 0: no -inf - -inf.
    Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                        newMax[r], negInf);
    base[r] = arith::SelectOp::create(b, loc, empty, f32(0.0), newMax[r]);
    rescale[r] = exp2(arith::SubFOp::create(b, loc, m[r], base[r]));
  }
  SmallVector<Value> p;
  for (int64_t e = 0, n = s.size(); e < n; ++e)
    p.push_back(
        exp2(arith::SubFOp::create(b, loc, s[e], base[rowOf(e, columns)])));
  for (int64_t r = 0; r < rows; ++r)
    newSum[r] = reduceRow(p, columns, r,
                          arith::MulFOp::create(b, loc, l[r], rescale[r]),
                          RowReduction::Sum);
  VectorType rowType = rowVectorType(b.getContext(), layout);
  SmallVector<Value> results = {pack(rowType, newMax), pack(rowType, newSum)};
  if (!values)
    return results;
  // P in the element type right away: half the registers of f32 while the
  // products run (tf32 for f32 values).
  SmallVector<Value> packed = packWeights(p, elementType);
  // Once the running maxima settle, the rescale factors are exactly 1: the
  // thread skips the multiplications of its accumulator (one per element,
  // as many as the scores' elementwise work together) unless one of its
  // rows' base moved.
  Value moved = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
  for (int64_t r = 0; r < rows; ++r)
    moved = arith::OrIOp::create(
        b, loc, moved,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, m[r],
                              base[r]));
  auto rescaleIf = scf::IfOp::create(b, loc, acc.getType(), moved,
                                     /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(rescaleIf.thenBlock());
    scf::YieldOp::create(b, loc,
                         scaledOutput(unpack(acc), rescale, b.getF32Type()));
    b.setInsertionPointToStart(rescaleIf.elseBlock());
    scf::YieldOp::create(b, loc, acc);
  }
  results.push_back(accumulateProducts(rescaleIf.getResult(0), packed,
                                       *values, elementType));
  return results;
}

SmallVector<Value> WarpTiles::validRows(ArrayRef<Value> sum, Value rows) {
  SmallVector<Value> valid;
  for (auto [r, l] : llvm::enumerate(sum)) {
    Value inRows = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                         vectorRow(r), rows);
    Value nonEmpty =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, l, f32(0.0));
    valid.push_back(arith::AndIOp::create(b, loc, inRows, nonEmpty));
  }
  return valid;
}

Value WarpTiles::scaledOutput(ArrayRef<Value> acc, ArrayRef<Value> factors,
                              Type elementType) {
  int64_t columns = 2 * acc.size() / layout.rowTiles;
  SmallVector<Value> out;
  for (auto [e, a] : llvm::enumerate(acc)) {
    Value value = arith::MulFOp::create(b, loc, a, factors[rowOf(e, columns)]);
    if (!elementType.isF32())
      value = arith::TruncFOp::create(b, loc, elementType, value);
    out.push_back(value);
  }
  return pack(outputTileType(elementType, layout, columns), out);
}

std::pair<Value, Value> WarpTiles::softmaxFinalize(Value max, Value sum,
                                                   Value acc, Value rows,
                                                   bool unnormalized,
                                                   Type elementType) {
  SmallVector<Value> m = unpack(max), l = unpack(sum);
  SmallVector<Value> valid = validRows(l, rows);
  Value zero = f32(0.0);
  SmallVector<Value> factor(m.size()), logSumExp(m.size());
  for (int64_t r = 0, n = m.size(); r < n; ++r) {
    Value normal = unnormalized
                       ? f32(1.0)
                       : Value(arith::DivFOp::create(b, loc, f32(1.0), l[r]));
    factor[r] = arith::SelectOp::create(b, loc, valid[r], normal, zero);
    Value natural = arith::MulFOp::create(
        b, loc, f32(kLn2), arith::AddFOp::create(b, loc, m[r], log2(l[r])));
    logSumExp[r] = arith::SelectOp::create(
        b, loc, valid[r], natural,
        f32(-std::numeric_limits<double>::infinity()));
  }
  return {scaledOutput(unpack(acc), factor, elementType),
          pack(rowVectorType(b.getContext(), layout), logSumExp)};
}

//===----------------------------------------------------------------------===//
// Entmax
//===----------------------------------------------------------------------===//

namespace {
/// The entmax solver's special functions on the GPU: NVVM intrinsics (the
/// math dialect would become libdevice calls).
class NVVMFunctions : public entmax::SpecialFunctions {
public:
  Value sqrt(OpBuilder &b, Location loc, Value x) override {
    return f32Intrinsic(b, loc, "llvm.nvvm.sqrt.rn.f", x);
  }
  Value power(OpBuilder &b, Location loc, Value x, double exponent) override {
    Value log = f32Intrinsic(b, loc, "llvm.nvvm.lg2.approx.ftz.f", x);
    Value scaled = arith::MulFOp::create(
        b, loc, log,
        arith::ConstantOp::create(b, loc, b.getF32FloatAttr(exponent)));
    return f32Intrinsic(b, loc, "llvm.nvvm.ex2.approx.ftz.f", scaled);
  }
};
} // namespace

Value WarpTiles::anyInBlock(Value predicate) {
  Value asInt = arith::ExtUIOp::create(b, loc, b.getI32Type(), predicate);
  Value any = NVVM::BarrierOp::create(
                  b, loc, b.getI32Type(), /*barrierId=*/Value(),
                  /*numberOfThreads=*/Value(),
                  NVVM::BarrierReductionAttr::get(b.getContext(),
                                                  NVVM::BarrierReduction::OR),
                  asInt)
                  .getRes();
  return arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne, any,
      arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0)));
}

//===----------------------------------------------------------------------===//
// Elastic softmax
//===----------------------------------------------------------------------===//

void WarpTiles::storeRecord(Value rowVector, Value memory, Value slot) {
  Value base = arith::MulIOp::create(b, loc, slot, index(layout.tileRows()));
  for (auto [r, value] : llvm::enumerate(unpack(rowVector)))
    memref::StoreOp::create(
        b, loc, value, memory,
        ValueRange{arith::AddIOp::create(b, loc, base, vectorRow(r))});
}

Value WarpTiles::loadRecord(Value memory, Value slot) {
  Value base = arith::MulIOp::create(b, loc, slot, index(layout.tileRows()));
  SmallVector<Value> elements;
  for (int64_t r = 0, n = 2 * layout.rowTiles; r < n; ++r)
    elements.push_back(memref::LoadOp::create(
        b, loc, memory,
        ValueRange{arith::AddIOp::create(b, loc, base, vectorRow(r))}));
  return pack(rowVectorType(b.getContext(), layout), elements);
}

Value WarpTiles::elasticTileLive(Value tileMax, Value max, Value sum,
                                 Value tau, Value position) {
  SmallVector<Value> t = unpack(tileMax), m = unpack(max), l = unpack(sum);
  Value live;
  for (int64_t r = 0, rows = t.size(); r < rows; ++r) {
    Value row = arith::AddIOp::create(b, loc, position, vectorRow(r));
    Value rowLive = elastic::isLive(
        b, loc, t[r], exp2(arith::SubFOp::create(b, loc, t[r], m[r])), l[r],
        elastic::rowShift(b, loc, tau, row));
    live = live ? arith::OrIOp::create(b, loc, live, rowLive) : rowLive;
  }
  return anyInBlock(live);
}

Value WarpTiles::elasticAccumulate(Value scores, const SharedTile &values,
                                   Value max, Value sum, Value acc, Value tau,
                                   Value position, Type elementType) {
  SmallVector<Value> s = unpack(scores), m = unpack(max), l = unpack(sum);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  SmallVector<Value> shift;
  for (int64_t r = 0, rows = m.size(); r < rows; ++r)
    shift.push_back(elastic::rowShift(
        b, loc, tau, arith::AddIOp::create(b, loc, position, vectorRow(r))));
  SmallVector<Value> w;
  for (auto [e, score] : llvm::enumerate(s)) {
    int64_t r = rowOf(e, columns);
    w.push_back(elastic::weight(
        b, loc, score, exp2(arith::SubFOp::create(b, loc, score, m[r])), l[r],
        shift[r]));
  }
  return accumulateProducts(acc, packWeights(w, elementType), values,
                            elementType);
}

std::pair<Value, Value> WarpTiles::rowMax(Value scores, Value max,
                                          Value count) {
  SmallVector<Value> s = unpack(scores);
  SmallVector<Value> m = unpack(max), n = unpack(count);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  SmallVector<Value> visible;
  for (Value score : s)
    visible.push_back(arith::SelectOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, score, negInf),
        f32(1.0), f32(0.0)));
  for (int64_t r = 0, rows = m.size(); r < rows; ++r) {
    m[r] = reduceRow(s, columns, r, m[r], RowReduction::Max);
    n[r] = reduceRow(visible, columns, r, n[r], RowReduction::Sum);
  }
  VectorType rowType = rowVectorType(b.getContext(), layout);
  return {pack(rowType, m), pack(rowType, n)};
}

void WarpTiles::entmaxHistogram(Value scores, Value max, Value bins,
                                int64_t numBins) {
  SmallVector<Value> s = unpack(scores), m = unpack(max);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  ScalarBuilder scalar(b, loc);
  Type i32 = b.getI32Type();
  auto i32Constant = [&](int64_t value) -> Value {
    return arith::ConstantIntOp::create(b, loc, i32, value);
  };
  // The bin is floor(z * BINS) for 0 <= z <= 1: the bits of
  // fma.rz(z, BINS, 2^23) minus those of 2^23 (an integer add instead of a
  // quarter-rate f32-to-int conversion), clamped to BINS - 1.
  constexpr int64_t kMagicBits = 0x4B000000;
  Value magic = f32(0x1p23), binsScale = f32(static_cast<double>(numBins));
  Value lastBin = i32Constant(kMagicBits + numBins - 1);
  SmallVector<Value> origin, binBase, discard;
  for (auto [r, maximum] : llvm::enumerate(m)) {
    origin.push_back(scalar.sub(maximum, f32(1.0)));
    Value firstBin = arith::IndexCastOp::create(
        b, loc, i32,
        arith::MulIOp::create(b, loc, vectorRow(r),
                              index(histogramRowStride(numBins))));
    binBase.push_back(
        arith::SubIOp::create(b, loc, firstBin, i32Constant(kMagicBits)));
    discard.push_back(
        arith::AddIOp::create(b, loc, firstBin, i32Constant(numBins)));
  }
  // Every entry's slot first, so that they issue back to back: its bin, or
  // its row's discard word when z < 0 (also for -inf entries and for NaN in
  // rows whose maximum is -inf), then the increments, with no branch.
  SmallVector<Value> slots;
  for (auto [e, score] : llvm::enumerate(s)) {
    int64_t r = rowOf(e, columns);
    Value z = scalar.sub(score, origin[r]);
    Value shifted =
        f32Intrinsic(b, loc, "llvm.nvvm.fma.rz.f", {z, binsScale, magic});
    Value bits = arith::MinSIOp::create(
        b, loc, arith::BitcastOp::create(b, loc, i32, shifted), lastBin);
    Value bin = arith::AddIOp::create(b, loc, bits, binBase[r]);
    slots.push_back(arith::SelectOp::create(b, loc, scalar.ge(z, f32(0.0)),
                                            bin, discard[r]));
  }
  Value one = i32Constant(1);
  for (Value slot : slots)
    memref::AtomicRMWOp::create(
        b, loc, arith::AtomicRMWKind::addi, one, bins,
        ValueRange{arith::IndexCastOp::create(b, loc, b.getIndexType(), slot)});
}

SmallVector<Value> WarpTiles::entmaxThresholdInit(EntmaxAttr config,
                                                  Value max, Value count,
                                                  Value bins,
                                                  int64_t numBins) {
  NVVMFunctions functions;
  SmallVector<Value> m = unpack(max), n = unpack(count);
  if (bins)
    gpu::BarrierOp::create(b, loc);
  SmallVector<Value> results[3];
  for (int64_t r = 0, rows = m.size(); r < rows; ++r) {
    entmax::Bracket bracket;
    if (!bins) {
      bracket = entmax::initialBracket(b, loc, functions, config, m[r], n[r]);
    } else {
      Value firstBin =
          arith::MulIOp::create(b, loc, vectorRow(r),
                                index(histogramRowStride(numBins)));
      SmallVector<Value> counts;
      for (int64_t k = 0; k < numBins; ++k)
        counts.push_back(arith::SIToFPOp::create(
            b, loc, b.getF32Type(),
            memref::LoadOp::create(
                b, loc, bins,
                ValueRange{arith::AddIOp::create(b, loc, firstBin,
                                                 index(k))})));
      bracket = entmax::histogramBracket(b, loc, functions, config, m[r],
                                         counts);
    }
    results[0].push_back(bracket.threshold);
    results[1].push_back(bracket.lower);
    results[2].push_back(bracket.upper);
  }
  VectorType rowType = rowVectorType(b.getContext(), layout);
  return {pack(rowType, results[0]), pack(rowType, results[1]),
          pack(rowType, results[2])};
}

SmallVector<Value> WarpTiles::entmaxMoments(EntmaxAttr config, Value scores,
                                            Value threshold, Value s0,
                                            Value s1, Value s2) {
  NVVMFunctions functions;
  SmallVector<Value> s = unpack(scores), tau = unpack(threshold);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  double c0 = config.getExponent();
  SmallVector<Value> terms[3];
  for (auto [e, score] : llvm::enumerate(s)) {
    Value d = arith::SubFOp::create(b, loc, score, tau[rowOf(e, columns)]);
    for (int64_t k = 0; k < 3; ++k)
      terms[k].push_back(
          entmax::positivePower(b, loc, functions, d, c0 - k));
  }
  VectorType rowType = rowVectorType(b.getContext(), layout);
  SmallVector<Value> results;
  std::array<Value, 3> inits = {s0, s1, s2};
  for (auto [k, init] : llvm::enumerate(inits)) {
    SmallVector<Value> sums = unpack(init);
    for (int64_t r = 0, rows = sums.size(); r < rows; ++r)
      sums[r] = reduceRow(terms[k], columns, r, sums[r], RowReduction::Sum);
    results.push_back(pack(rowType, sums));
  }
  return results;
}

void WarpTiles::entriesBetween(Value scores, Value lower, Value upper,
                               Value gap, int64_t capacity) {
  SmallVector<Value> s = unpack(scores), lo = unpack(lower),
                     hi = unpack(upper);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  ScalarBuilder scalar(b, loc);
  Type i32 = b.getI32Type();
  int64_t stride = histogramRowStride(capacity + 1);
  SmallVector<Value> countSlot;
  for (int64_t r = 0, rows = lo.size(); r < rows; ++r)
    countSlot.push_back(arith::MulIOp::create(b, loc, vectorRow(r),
                                              index(stride)));
  Value one = arith::ConstantIntOp::create(b, loc, i32, 1);
  Value room = arith::ConstantIntOp::create(b, loc, i32, capacity);
  SmallVector<Value> between;
  Value any;
  for (auto [e, score] : llvm::enumerate(s)) {
    int64_t r = rowOf(e, columns);
    between.push_back(
        scalar.andI(scalar.gt(score, lo[r]), scalar.le(score, hi[r])));
    any = any ? scalar.orI(any, between.back()) : between.back();
  }
  // One branch per tile and thread in the common case (no entry between
  // the bounds), one per entry otherwise.
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(
      scf::IfOp::create(b, loc, any, /*withElseRegion=*/false).thenBlock());
  for (auto [e, score] : llvm::enumerate(s)) {
    int64_t r = rowOf(e, columns);
    scf::IfOp::create(b, loc, between[e], [&](OpBuilder &tb, Location tl) {
      Value count = memref::AtomicRMWOp::create(
          tb, tl, arith::AtomicRMWKind::addi, one, gap,
          ValueRange{countSlot[r]});
      Value kept = arith::CmpIOp::create(tb, tl, arith::CmpIPredicate::slt,
                                         count, room);
      scf::IfOp::create(tb, tl, kept, [&](OpBuilder &kb, Location kl) {
        Value slot = arith::AddIOp::create(
            kb, kl, countSlot[r],
            arith::IndexCastOp::create(
                kb, kl, kb.getIndexType(),
                arith::AddIOp::create(kb, kl, count, one)));
        memref::StoreOp::create(kb, kl,
                                arith::BitcastOp::create(kb, kl, i32, score),
                                gap, ValueRange{slot});
        scf::YieldOp::create(kb, kl);
      });
      scf::YieldOp::create(tb, tl);
    });
  }
}

SmallVector<Value> WarpTiles::entmaxThresholdStep(
    EntmaxAttr config, Value threshold, Value lower, Value upper, Value s0,
    Value s1, Value s2, Value gap, int64_t capacity) {
  NVVMFunctions functions;
  SmallVector<Value> tau = unpack(threshold), lo = unpack(lower),
                     hi = unpack(upper), m0 = unpack(s0), m1 = unpack(s1),
                     m2 = unpack(s2);
  // Other lanes of the quad recorded entries of the row.
  if (gap)
    gpu::BarrierOp::create(b, loc);
  int64_t stride = histogramRowStride(capacity + 1);
  SmallVector<Value> results[3];
  Value pending;
  for (int64_t r = 0, rows = tau.size(); r < rows; ++r) {
    std::optional<entmax::GapRecord> record;
    if (gap) {
      Value first = arith::MulIOp::create(b, loc, vectorRow(r), index(stride));
      auto column = [&](int64_t k) -> Value {
        return memref::LoadOp::create(
            b, loc, gap,
            ValueRange{arith::AddIOp::create(b, loc, first, index(k))});
      };
      record = entmax::GapRecord{column(0), {}};
      for (int64_t k = 1; k <= capacity; ++k)
        record->entries.push_back(
            arith::BitcastOp::create(b, loc, b.getF32Type(), column(k)));
    }
    entmax::Step step =
        entmax::thresholdStep(b, loc, functions, config, {tau[r], lo[r], hi[r]},
                              m0[r], m1[r], m2[r], record);
    results[0].push_back(step.next.threshold);
    results[1].push_back(step.next.lower);
    results[2].push_back(step.next.upper);
    pending = pending ? arith::OrIOp::create(b, loc, pending, step.pending)
                      : step.pending;
  }
  Value converged = arith::XOrIOp::create(
      b, loc, anyInBlock(pending),
      arith::ConstantOp::create(b, loc, b.getBoolAttr(true)));
  VectorType rowType = rowVectorType(b.getContext(), layout);
  return {pack(rowType, results[0]), pack(rowType, results[1]),
          pack(rowType, results[2]), converged};
}

Value WarpTiles::anyAbove(Value scores, Value threshold) {
  SmallVector<Value> s = unpack(scores), tau = unpack(threshold);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  Value any;
  for (auto [e, score] : llvm::enumerate(s)) {
    Value above = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                        score, tau[rowOf(e, columns)]);
    any = any ? arith::OrIOp::create(b, loc, any, above) : above;
  }
  return anyInBlock(any);
}

SmallVector<Value> WarpTiles::entmaxWeightTerms(EntmaxAttr config,
                                                ArrayRef<Value> scores,
                                                Value threshold) {
  NVVMFunctions functions;
  SmallVector<Value> tau = unpack(threshold);
  int64_t columns = 2 * scores.size() / layout.rowTiles;
  SmallVector<Value> weights;
  for (auto [e, score] : llvm::enumerate(scores))
    weights.push_back(entmax::positivePower(
        b, loc, functions,
        arith::SubFOp::create(b, loc, score, tau[rowOf(e, columns)]),
        config.getExponent()));
  return weights;
}

std::pair<Value, Value>
WarpTiles::entmaxAccumulate(EntmaxAttr config, Value scores,
                            const SharedTile &values, Value threshold,
                            Value acc, Value sum, Type elementType) {
  SmallVector<Value> s = unpack(scores), l = unpack(sum);
  int64_t columns = 2 * s.size() / layout.rowTiles;
  SmallVector<Value> w = entmaxWeightTerms(config, s, threshold);
  for (int64_t r = 0, rows = l.size(); r < rows; ++r)
    l[r] = reduceRow(w, columns, r, l[r], RowReduction::Sum);
  return {accumulateProducts(acc, packWeights(w, elementType), values,
                             elementType),
          pack(rowVectorType(b.getContext(), layout), l)};
}

Value WarpTiles::entmaxWeights(EntmaxAttr config, Value scores,
                               Value threshold, Value sum, Type elementType) {
  SmallVector<Value> l = unpack(sum);
  // One reciprocal per row instead of a division per element.
  SmallVector<Value> factor;
  for (Value total : l)
    factor.push_back(arith::SelectOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, total,
                              f32(0.0)),
        arith::DivFOp::create(b, loc, f32(1.0), total), f32(0.0)));
  return scaledOutput(entmaxWeightTerms(config, unpack(scores), threshold),
                      factor, elementType);
}

std::pair<Value, Value> WarpTiles::entmaxFinalize(Value threshold, Value sum,
                                                  Value acc, Value rows,
                                                  Type elementType) {
  SmallVector<Value> tau = unpack(threshold), l = unpack(sum);
  SmallVector<Value> valid = validRows(l, rows);
  SmallVector<Value> factor, statistic;
  for (auto [r, isValid] : llvm::enumerate(valid)) {
    factor.push_back(arith::SelectOp::create(
        b, loc, isValid, arith::DivFOp::create(b, loc, f32(1.0), l[r]),
        f32(0.0)));
    statistic.push_back(arith::SelectOp::create(
        b, loc, isValid, tau[r],
        f32(std::numeric_limits<double>::infinity())));
  }
  return {scaledOutput(unpack(acc), factor, elementType),
          pack(rowVectorType(b.getContext(), layout), statistic)};
}
