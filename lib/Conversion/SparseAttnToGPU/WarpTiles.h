//===- WarpTiles.h - tile values as mma.sync fragments ----------*- C++ -*-===//
//
// The register form of the tiled level on the GPU (docs/design/
// gpu-lowering.md): a query tile of TQ rows is split over TQ / 16 warps, and
// every per-row tile value lives in the fragment layout of the tensor-core
// instruction mma.sync m16n8k16, so that the tile ops chain without leaving
// registers. With `g = lane / 4` and `t = lane % 4`, a thread holds
//
// - of an f32 tile [TQ, C] (scores, accumulators): for each 8-column n-tile
//   `n`, rows `g` and `g + 8` of its warp at columns `8n + 2t` and
//   `8n + 2t + 1`, as `vector<C/2 x f32>` (element `4n + 2h + p` is row
//   `g + 8h`, column `8n + 2t + p`);
// - of a row vector [TQ]: rows `g` and `g + 8`, as `vector<2xf32>`
//   (replicated over the four threads of a quad);
// - of a 16-bit tile used as the left operand (the query tile [TQ, D]): the
//   A fragments of every 16-wide k-step, as `vector<D/4 x i32>` (two
//   elements per i32);
// - of a 16-bit output tile [TQ, C]: as the f32 tile, `vector<C/2 x T>`.
//
// Key and value tiles are the right-hand operands: they stay in shared
// memory (`SharedTile`), rows of 16-byte chunks with the chunk index XORed
// with the row (bank-conflict-free ldmatrix), and are read with ldmatrix
// (transposed for P @ V).
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPTILES_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPTILES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <array>

namespace mlir::sparse_attn::warp_tiles {

/// Rows of a query tile that one warp owns (the M of mma.sync m16n8k16).
inline constexpr int64_t kWarpRows = 16;
/// Bytes of one cp.async copy and of one ldmatrix row.
inline constexpr int64_t kChunkBytes = 16;

/// Per-thread coordinates, computed once at the kernel's entry.
struct ThreadIds {
  Value thread;    // threadIdx.x
  Value warp;      // thread / 32
  Value group;     // lane / 4: the fragment row (and row + 8)
  Value quadLane;  // lane % 4: the fragment column pair
  Value matrix;    // lane / 8: the 8x8 matrix whose row the lane addresses
  Value matrixRow; // lane % 8: that row
};

ThreadIds buildThreadIds(OpBuilder &b, Location loc);

/// A [rows, width] tile of 16-bit elements in shared memory, swizzled.
struct SharedTile {
  Value buffer; // memref<rows x width x T, #gpu.address_space<workgroup>>
  int64_t rows = 0, width = 0;
};

/// Fragment types.
VectorType accumulatorType(MLIRContext *context, int64_t columns);
VectorType rowVectorType(MLIRContext *context);
VectorType operandType(MLIRContext *context, int64_t depth);
VectorType outputTileType(Type elementType, int64_t columns);

/// Whether a tile of `elementType` can feed the tensor cores here.
bool isTensorCoreElementType(Type elementType);

/// Builds the fragment code of one CTA of `numThreads` threads.
class WarpTiles {
public:
  WarpTiles(OpBuilder &builder, Location loc, const ThreadIds &ids,
            int64_t numThreads)
      : b(builder), loc(loc), ids(ids), numThreads(numThreads) {}

  //===--------------------------------------------------------------------===//
  // Data movement
  //===--------------------------------------------------------------------===//

  /// Issues the cp.async copies of rows [row, row + tile.rows) of
  /// `source[batch, head]` (a 4-D memref, unit innermost stride) into
  /// `tile`; rows at or past `rowLimit` are zero-filled. Every thread of the
  /// CTA takes part; the caller commits and waits.
  void copyTileAsync(Value source, Value batch, Value head, Value row,
                     Value rowLimit, const SharedTile &tile);

  /// The A-operand fragments of this warp's 16 rows of `tile`.
  Value loadOperand(const SharedTile &tile);

  /// Stores the rows `r < rows` of an output tile at
  /// `dest[batch, head, rowStart + r, :]`.
  void storeTileRows(Value tile, Value rows, Value dest, Value batch,
                     Value head, Value rowStart);
  /// Stores the rows `r < rows` of a row vector at
  /// `dest[batch, head, rowStart + r]`.
  void storeRowVector(Value rowVector, Value rows, Value dest, Value batch,
                      Value head, Value rowStart);

  //===--------------------------------------------------------------------===//
  // Tile ops
  //===--------------------------------------------------------------------===//

  /// `query @ keys^T` on tensor cores: [TQ, keys.rows] in f32.
  Value scoreProducts(Value query, const SharedTile &keys, Type elementType);

  /// Every element times `factor` (an f32 value).
  Value scaleTile(Value tile, Value factor);

  /// Entries whose `visible(i, j)` is false become -inf, with `i` the
  /// absolute row `rowOffset + r` and `j` the absolute column
  /// `colOffset + c`.
  using VisibleFn = function_ref<Value(OpBuilder &, Location, Value i,
                                       Value j)>;
  Value maskTile(Value tile, Value rowOffset, Value colOffset,
                 VisibleFn visible);

  /// One step of the streaming softmax in base-2 units
  /// (`sparse_attn.online_softmax`; without `values`,
  /// `sparse_attn.online_logsumexp`). Returns (max, sum[, acc]).
  SmallVector<Value> onlineSoftmax(Value scores, const SharedTile *values,
                                   Value max, Value sum, Value acc,
                                   Type elementType);

  /// `sparse_attn.softmax_finalize`: the output tile in `elementType` and
  /// the log-sum-exp row vector.
  std::pair<Value, Value> softmaxFinalize(Value max, Value sum, Value acc,
                                          Value rows, bool unnormalized,
                                          Type elementType);

private:
  Value index(int64_t value);
  Value f32(double value);
  Value exp2(Value x);
  Value log2(Value x);
  SmallVector<Value> unpack(Value vector);
  Value pack(VectorType type, ArrayRef<Value> elements);

  /// Row of the query tile and column of a tile holding element `e` of an
  /// accumulator fragment.
  Value elementRow(int64_t e);
  Value elementColumn(int64_t e);
  /// The row of this thread's row-vector element `half`.
  Value halfRow(int64_t half);

  /// ldmatrix.x4 of `tile` with this lane's row `row` and 16-byte chunk
  /// `chunk` (before swizzling): four i32 registers.
  std::array<Value, 4> loadMatrices(const SharedTile &tile, Value row,
                                    Value chunk, bool transpose);
  /// d = a * b + c, one m16n8k16 instruction.
  std::array<Value, 4> mma(ArrayRef<Value> a, ArrayRef<Value> bFragment,
                           ArrayRef<Value> c, Type elementType);
  /// Two f32 values as one i32 of two 16-bit `elementType` values.
  Value packPair(Value low, Value high, Type elementType);

  /// `acc + P @ values`, P given as f32 scalars in the accumulator layout of
  /// a [TQ, values.rows] tile.
  Value accumulateProducts(Value acc, ArrayRef<Value> weights,
                           const SharedTile &values, Type elementType);

  /// Combines a thread's entries of row half `half` (with `init`) and the
  /// four threads of its quad.
  Value reduceRow(ArrayRef<Value> elements, int64_t half, Value init,
                  bool isMax);
  Value quadReduce(Value value, bool isMax);

  OpBuilder &b;
  Location loc;
  const ThreadIds &ids;
  int64_t numThreads;
};

} // namespace mlir::sparse_attn::warp_tiles

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPTILES_H
