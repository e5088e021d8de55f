//===- WarpTiles.cpp - tile values as mma.sync fragments --------*- C++ -*-===//

#include "WarpTiles.h"

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
using namespace mlir::sparse_attn::warp_tiles;

// exp2 and log2 are the NVVM intrinsics of ex2.approx.ftz / lg2.approx.ftz:
// math.exp2 and math.log2 (and llvm.intr.exp2) become libdevice calls that
// resolve only where the CUDA toolkit's libdevice is found.

namespace {
constexpr double kLn2 = 0.6931471805599453;
constexpr int64_t kThreadsPerWarp = 32;
/// Columns of one mma n-tile and elements of one 16-byte chunk.
constexpr int64_t kTileColumns = 8;
constexpr int64_t kChunkElements = 8;
/// The k of one mma step.
constexpr int64_t kStepDepth = 16;
} // namespace

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

VectorType mlir::sparse_attn::warp_tiles::accumulatorType(MLIRContext *context,
                                                          int64_t columns) {
  return VectorType::get({columns / 2}, Float32Type::get(context));
}

VectorType mlir::sparse_attn::warp_tiles::rowVectorType(MLIRContext *context) {
  return VectorType::get({2}, Float32Type::get(context));
}

VectorType mlir::sparse_attn::warp_tiles::operandType(MLIRContext *context,
                                                      int64_t depth) {
  return VectorType::get({depth / 4}, IntegerType::get(context, 32));
}

VectorType mlir::sparse_attn::warp_tiles::outputTileType(Type elementType,
                                                         int64_t columns) {
  return VectorType::get({columns / 2}, elementType);
}

bool mlir::sparse_attn::warp_tiles::isTensorCoreElementType(Type elementType) {
  return elementType.isBF16() || elementType.isF16();
}

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

Value WarpTiles::index(int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value WarpTiles::exp2(Value x) {
  return LLVM::CallIntrinsicOp::create(b, loc, b.getF32Type(),
                                       b.getStringAttr("llvm.nvvm.ex2.approx.ftz.f"),
                                       ValueRange{x})
      .getResult(0);
}

Value WarpTiles::log2(Value x) {
  return LLVM::CallIntrinsicOp::create(b, loc, b.getF32Type(),
                                       b.getStringAttr("llvm.nvvm.lg2.approx.ftz.f"),
                                       ValueRange{x})
      .getResult(0);
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

Value WarpTiles::halfRow(int64_t half) {
  Value warpRow = arith::MulIOp::create(b, loc, ids.warp, index(kWarpRows));
  Value row = arith::AddIOp::create(b, loc, warpRow, ids.group);
  return arith::AddIOp::create(b, loc, row, index(8 * half));
}

Value WarpTiles::elementRow(int64_t e) { return halfRow((e % 4) / 2); }

Value WarpTiles::elementColumn(int64_t e) {
  Value pair = arith::MulIOp::create(b, loc, ids.quadLane, index(2));
  return arith::AddIOp::create(
      b, loc, pair, index(kTileColumns * (e / 4) + e % 2));
}

std::array<Value, 4> WarpTiles::loadMatrices(const SharedTile &tile, Value row,
                                             Value chunk, bool transpose) {
  // The chunk index XOR the row (mod the chunks of a 128-byte line): the
  // eight rows an ldmatrix phase reads land in eight distinct bank groups.
  int64_t chunksPerRow = tile.width / kChunkElements;
  int64_t mask = std::min<int64_t>(8, chunksPerRow) - 1;
  Value rowBits = arith::AndIOp::create(b, loc, row, index(mask));
  Value swizzled = arith::XOrIOp::create(b, loc, chunk, rowBits);
  Value column = arith::MulIOp::create(b, loc, swizzled, index(kChunkElements));
  Type elementType =
      cast<MemRefType>(tile.buffer.getType()).getElementType();
  auto resultType = VectorType::get({4, 2}, elementType);
  Value matrices = nvgpu::LdMatrixOp::create(
      b, loc, resultType, tile.buffer, ValueRange{row, column}, transpose,
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
  // bf16 operands travel as i32, f16 ones as vector<2xf16> (the NVVM op's
  // operand rules).
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
  NVVM::MMATypes ptxType =
      elementType.isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  Type f32Type = b.getF32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(
      b.getContext(), {f32Type, f32Type, f32Type, f32Type});
  Value result = NVVM::MmaOp::create(
      b, loc, resultType, asOperands(a), asOperands(bFragment), c,
      ArrayRef<int64_t>{16, 8, 16}, std::nullopt, std::nullopt,
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

Value WarpTiles::quadReduce(Value value, bool isMax) {
  Value width = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(32));
  for (int32_t offset : {1, 2}) {
    Value shift = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(offset));
    Value other = gpu::ShuffleOp::create(b, loc, value, shift, width,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    value = isMax ? Value(arith::MaximumFOp::create(b, loc, value, other))
                  : Value(arith::AddFOp::create(b, loc, value, other));
  }
  return value;
}

Value WarpTiles::reduceRow(ArrayRef<Value> elements, int64_t half, Value init,
                           bool isMax) {
  Value local;
  for (int64_t e = 0, n = elements.size(); e < n; ++e) {
    if ((e % 4) / 2 != half)
      continue;
    local = !local ? elements[e]
            : isMax ? Value(arith::MaximumFOp::create(b, loc, local, elements[e]))
                    : Value(arith::AddFOp::create(b, loc, local, elements[e]));
  }
  Value total = quadReduce(local, isMax);
  return isMax ? Value(arith::MaximumFOp::create(b, loc, init, total))
               : Value(arith::AddFOp::create(b, loc, init, total));
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

void WarpTiles::copyTileAsync(Value source, Value batch, Value head, Value row,
                              Value rowLimit, const SharedTile &tile) {
  int64_t chunksPerRow = tile.width / kChunkElements;
  int64_t mask = std::min<int64_t>(8, chunksPerRow) - 1;
  int64_t chunks = tile.rows * chunksPerRow;
  for (int64_t first = 0; first < chunks; first += numThreads) {
    OpBuilder::InsertionGuard guard(b);
    Value chunk = arith::AddIOp::create(b, loc, ids.thread, index(first));
    if (first + numThreads > chunks) {
      Value inTile = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           chunk, index(chunks));
      auto ifOp = scf::IfOp::create(b, loc, inTile, /*withElseRegion=*/false);
      b.setInsertionPointToStart(ifOp.thenBlock());
    }
    Value tileRow = arith::DivUIOp::create(b, loc, chunk, index(chunksPerRow));
    Value rowChunk = arith::RemUIOp::create(b, loc, chunk, index(chunksPerRow));
    Value sourceRow = arith::AddIOp::create(b, loc, row, tileRow);
    Value inBounds = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                           sourceRow, rowLimit);
    // Rows past the end copy nothing (zero fill) from an address inside the
    // tensor.
    Value safeRow = arith::SelectOp::create(b, loc, inBounds, sourceRow, row);
    Value copied = arith::SelectOp::create(b, loc, inBounds,
                                           index(kChunkElements), index(0));
    Value swizzled = arith::XOrIOp::create(
        b, loc, rowChunk,
        arith::AndIOp::create(b, loc, tileRow, index(mask)).getResult());
    Value destColumn =
        arith::MulIOp::create(b, loc, swizzled, index(kChunkElements));
    Value sourceColumn =
        arith::MulIOp::create(b, loc, rowChunk, index(kChunkElements));
    nvgpu::DeviceAsyncCopyOp::create(
        b, loc, tile.buffer, ValueRange{tileRow, destColumn}, source,
        ValueRange{batch, head, safeRow, sourceColumn},
        b.getIndexAttr(kChunkElements), copied, b.getUnitAttr());
  }
}

Value WarpTiles::loadOperand(const SharedTile &tile) {
  // Lanes 8m..8m+7 address matrix m: rows +8 for m odd, columns +8 for m >= 2
  // (a0: rows 0-7, a1: rows 8-15, a2/a3 the same at columns 8-15).
  Value rowInPair = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, ids.matrix, index(2)), index(8));
  Value row = arith::AddIOp::create(
      b, loc,
      arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, ids.warp, index(kWarpRows)),
          rowInPair),
      ids.matrixRow);
  Value chunkInStep = arith::DivUIOp::create(b, loc, ids.matrix, index(2));
  SmallVector<Value> registers;
  for (int64_t step = 0; step < tile.width / kStepDepth; ++step) {
    Value chunk = arith::AddIOp::create(b, loc, chunkInStep, index(2 * step));
    llvm::append_range(registers, loadMatrices(tile, row, chunk, false));
  }
  return pack(operandType(b.getContext(), tile.width), registers);
}

void WarpTiles::storeTileRows(Value tile, Value rows, Value dest, Value batch,
                              Value head, Value rowStart) {
  SmallVector<Value> elements = unpack(tile);
  auto pairType =
      VectorType::get({2}, cast<VectorType>(tile.getType()).getElementType());
  Value firstColumn = arith::MulIOp::create(b, loc, ids.quadLane, index(2));
  for (int64_t half = 0; half < 2; ++half) {
    OpBuilder::InsertionGuard guard(b);
    Value row = halfRow(half);
    Value inRows =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, row, rows);
    auto ifOp = scf::IfOp::create(b, loc, inRows, /*withElseRegion=*/false);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value globalRow = arith::AddIOp::create(b, loc, rowStart, row);
    for (int64_t tileColumn = 0, n = elements.size() / 4; tileColumn < n;
         ++tileColumn) {
      int64_t e = 4 * tileColumn + 2 * half;
      Value pair = pack(pairType, {elements[e], elements[e + 1]});
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
  for (int64_t half = 0; half < 2; ++half) {
    OpBuilder::InsertionGuard guard(b);
    Value row = halfRow(half);
    Value inRows =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, row, rows);
    Value writes = arith::AndIOp::create(b, loc, inRows, firstInQuad);
    auto ifOp = scf::IfOp::create(b, loc, writes, /*withElseRegion=*/false);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value globalRow = arith::AddIOp::create(b, loc, rowStart, row);
    memref::StoreOp::create(b, loc, elements[half], dest,
                            ValueRange{batch, head, globalRow});
  }
}

//===----------------------------------------------------------------------===//
// Tile ops
//===----------------------------------------------------------------------===//

Value WarpTiles::scoreProducts(Value query, const SharedTile &keys,
                               Type elementType) {
  SmallVector<Value> a = unpack(query);
  int64_t tileColumns = keys.rows / kTileColumns;
  Value zero = f32(0.0);
  SmallVector<Value> acc(4 * tileColumns, zero);
  // Lanes 8m..8m+7 address matrix m: keys +8 for m >= 2, depth +8 for m odd
  // (b0/b1 of n-tile 2p, then of n-tile 2p + 1).
  Value keyInPair = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, ids.matrix, index(2)), index(8));
  Value keyRow = arith::AddIOp::create(b, loc, keyInPair, ids.matrixRow);
  Value chunkInStep = arith::RemUIOp::create(b, loc, ids.matrix, index(2));
  for (int64_t step = 0; step < keys.width / kStepDepth; ++step) {
    ArrayRef<Value> aStep = ArrayRef<Value>(a).slice(4 * step, 4);
    Value chunk = arith::AddIOp::create(b, loc, chunkInStep, index(2 * step));
    for (int64_t pair = 0; pair < tileColumns / 2; ++pair) {
      Value row = arith::AddIOp::create(b, loc, keyRow, index(16 * pair));
      std::array<Value, 4> r = loadMatrices(keys, row, chunk, false);
      for (int64_t j = 0; j < 2; ++j) {
        int64_t n = 2 * pair + j;
        std::array<Value, 4> d =
            mma(aStep, {r[2 * j], r[2 * j + 1]},
                ArrayRef<Value>(acc).slice(4 * n, 4), elementType);
        std::copy(d.begin(), d.end(), acc.begin() + 4 * n);
      }
    }
  }
  return pack(accumulatorType(b.getContext(), keys.rows), acc);
}

Value WarpTiles::accumulateProducts(Value acc, ArrayRef<Value> weights,
                                    const SharedTile &values,
                                    Type elementType) {
  SmallVector<Value> out = unpack(acc);
  // Lanes 8m..8m+7 address matrix m of the transposed load: keys +8 for m
  // odd, value columns +8 for m >= 2.
  Value keyInPair = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, ids.matrix, index(2)), index(8));
  Value keyRow = arith::AddIOp::create(b, loc, keyInPair, ids.matrixRow);
  Value chunkInPair = arith::DivUIOp::create(b, loc, ids.matrix, index(2));
  for (int64_t step = 0; step < values.rows / kStepDepth; ++step) {
    // P re-packed from the score accumulators of n-tiles 2 step and
    // 2 step + 1 into the A operand (rows g, g + 8; keys 2t, 2t + 8).
    ArrayRef<Value> w = weights.slice(8 * step, 8);
    SmallVector<Value> a = {packPair(w[0], w[1], elementType),
                            packPair(w[2], w[3], elementType),
                            packPair(w[4], w[5], elementType),
                            packPair(w[6], w[7], elementType)};
    Value row = arith::AddIOp::create(b, loc, keyRow, index(16 * step));
    for (int64_t pair = 0; pair < values.width / 16; ++pair) {
      Value chunk = arith::AddIOp::create(b, loc, chunkInPair, index(2 * pair));
      std::array<Value, 4> r = loadMatrices(values, row, chunk, true);
      for (int64_t j = 0; j < 2; ++j) {
        int64_t n = 2 * pair + j;
        std::array<Value, 4> d =
            mma(a, {r[2 * j], r[2 * j + 1]},
                ArrayRef<Value>(out).slice(4 * n, 4), elementType);
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
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  for (int64_t e = 0, n = elements.size(); e < n; ++e) {
    Value i = arith::AddIOp::create(b, loc, rowOffset, elementRow(e));
    Value j = arith::AddIOp::create(b, loc, colOffset, elementColumn(e));
    Value isVisible = visible(b, loc, i, j);
    elements[e] =
        arith::SelectOp::create(b, loc, isVisible, elements[e], negInf);
  }
  return pack(cast<VectorType>(tile.getType()), elements);
}

SmallVector<Value> WarpTiles::onlineSoftmax(Value scores,
                                            const SharedTile *values,
                                            Value max, Value sum, Value acc,
                                            Type elementType) {
  SmallVector<Value> s = unpack(scores);
  SmallVector<Value> m = unpack(max), l = unpack(sum);
  Value negInf = f32(-std::numeric_limits<double>::infinity());
  std::array<Value, 2> newMax, base, rescale;
  for (int64_t half = 0; half < 2; ++half) {
    newMax[half] = reduceRow(s, half, m[half], /*isMax=*/true);
    // A row without a visible key yet keeps base 0: no -inf - -inf.
    Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                        newMax[half], negInf);
    base[half] = arith::SelectOp::create(b, loc, empty, f32(0.0), newMax[half]);
    rescale[half] =
        exp2(arith::SubFOp::create(b, loc, m[half], base[half]));
  }
  SmallVector<Value> p;
  for (int64_t e = 0, n = s.size(); e < n; ++e)
    p.push_back(exp2(arith::SubFOp::create(b, loc, s[e], base[(e % 4) / 2])));
  std::array<Value, 2> newSum;
  for (int64_t half = 0; half < 2; ++half)
    newSum[half] = reduceRow(
        p, half, arith::MulFOp::create(b, loc, l[half], rescale[half]),
        /*isMax=*/false);
  VectorType rowType = rowVectorType(b.getContext());
  SmallVector<Value> results = {pack(rowType, newMax), pack(rowType, newSum)};
  if (!values)
    return results;
  SmallVector<Value> a = unpack(acc);
  for (int64_t e = 0, n = a.size(); e < n; ++e)
    a[e] = arith::MulFOp::create(b, loc, a[e], rescale[(e % 4) / 2]);
  results.push_back(accumulateProducts(
      pack(cast<VectorType>(acc.getType()), a), p, *values, elementType));
  return results;
}

std::pair<Value, Value> WarpTiles::softmaxFinalize(Value max, Value sum,
                                                   Value acc, Value rows,
                                                   bool unnormalized,
                                                   Type elementType) {
  SmallVector<Value> m = unpack(max), l = unpack(sum), a = unpack(acc);
  Value zero = f32(0.0);
  std::array<Value, 2> factor, logSumExp;
  for (int64_t half = 0; half < 2; ++half) {
    Value inRows = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                         halfRow(half), rows);
    Value nonEmpty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                           l[half], zero);
    Value valid = arith::AndIOp::create(b, loc, inRows, nonEmpty);
    Value normal = unnormalized
                       ? f32(1.0)
                       : Value(arith::DivFOp::create(b, loc, f32(1.0), l[half]));
    factor[half] = arith::SelectOp::create(b, loc, valid, normal, zero);
    Value natural = arith::MulFOp::create(
        b, loc, f32(kLn2),
        arith::AddFOp::create(b, loc, m[half],
                              log2(l[half])));
    logSumExp[half] = arith::SelectOp::create(
        b, loc, valid, natural, f32(-std::numeric_limits<double>::infinity()));
  }
  SmallVector<Value> out;
  for (int64_t e = 0, n = a.size(); e < n; ++e) {
    Value value = arith::MulFOp::create(b, loc, a[e], factor[(e % 4) / 2]);
    if (!elementType.isF32())
      value = arith::TruncFOp::create(b, loc, elementType, value);
    out.push_back(value);
  }
  return {pack(outputTileType(elementType, 2 * a.size()), out),
          pack(rowVectorType(b.getContext()), logSumExp)};
}
