//===- WarpTiles.h - tile values as mma.sync fragments ----------*- C++ -*-===//
//
// The register form of the tiled level on the GPU (docs/design/
// gpu-lowering.md): a query tile of TQ rows is split over the warps of a
// CTA, each owning `rowTiles` consecutive 16-row m-tiles, and every per-row
// tile value lives in the fragment layout of the tensor-core instruction
// mma.sync m16n8k16, so that the tile ops chain without leaving registers.
// With `g = lane / 4` and `t = lane % 4`, a thread holds, for each of its
// m-tiles `m`,
//
// - of an f32 tile [TQ, C] (scores, accumulators): for each 8-column n-tile
//   `n`, rows `g` and `g + 8` of the m-tile at columns `8n + 2t` and
//   `8n + 2t + 1`, as `vector<rowTiles * C/2 x f32>` (element
//   `4 (m C/8 + n) + 2h + p` is row `g + 8h`, column `8n + 2t + p`);
// - of a row vector [TQ]: rows `g` and `g + 8`, as `vector<2 rowTiles x f32>`
//   (element `2m + h`, replicated over the four threads of a quad);
// - of a tile used as the left operand (the query tile [TQ, D]): the A
//   fragments of every k-step, as `vector<rowTiles * D * bits/64 x i32>`
//   (two 16-bit elements or one tf32 element per i32), or, when that would
//   take too many registers, nothing: the tile stays in shared memory and
//   each product reloads it;
// - of an output tile [TQ, C]: as the f32 tile, in its element type.
//
// Key and value tiles are the right-hand operands: they stay in shared
// memory (`SharedTile`), rows of 16-byte chunks with the chunk index XORed
// with the row (bank-conflict-free ldmatrix), and are read with ldmatrix
// (transposed for P @ V); each fragment read feeds all m-tiles of the warp.
//
// Chunks of the row-wise entmax (`load_score_chunk`, `entmax_weights`) take
// no tensor cores: they keep the rows of the f32 tile layout, so that the
// row ops apply unchanged, but permute its columns so that each thread
// holds whole 16-byte runs of the source. With `V` elements of the source
// per run, element `4 (m C/8 + n) + 2h + p` with `n = (V/2) k + a` is
// column `4V k + V t + 2a + p`: a quad reads 4V consecutive columns of a
// row with one vector load per thread.
//
// f32 tiles run on the tf32 tensor cores (mma.sync m16n8k8 .tf32, f32
// accumulators in the same layout): staged tiles are rounded to tf32 in
// shared memory (cvt.rna) by the threads that copied them, P is rounded in
// registers. ldmatrix moves 32-bit elements as pairs of b16 (the A and the
// K^T fragments); V of P @ V, which would need a 32-bit transpose, is read
// with 32-bit loads, its k-steps' keys permuted so that P's A fragments are
// its accumulator registers unchanged (accumulateProducts). With `exactF32`
// nothing is rounded ahead: each f32 product is three tf32 products of a
// hi/lo split of its operands (3xTF32), near f32 accuracy.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPTILES_H
#define SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPTILES_H

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"

#include <array>
#include <tuple>

namespace mlir::sparse_attn::warp_tiles {

/// Rows of a query tile that one warp owns (the M of mma.sync m16n8k16).
inline constexpr int64_t kWarpRows = 16;
/// Bytes of one cp.async copy and of one ldmatrix row.
inline constexpr int64_t kChunkBytes = 16;

/// Words between the rows of an entmax histogram in shared memory: the
/// bins, then a discard word that entries below the origin count into (no
/// branch around the increment), rounded up to odd so that the same bin of
/// the 8 rows a warp counts into at once falls in 8 banks (with 64 words,
/// all in one).
inline int64_t histogramRowStride(int64_t numBins) {
  return (numBins + 1) | 1;
}

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

/// A [rows, width] tile of 16- or 32-bit elements in shared memory,
/// swizzled: row `r`, 16-byte chunk `c` is at element
/// `offset + r * width + E * c'` of `memory` (E elements a chunk) with
/// `c' = c ^ (r mod 8)` (mod the chunks of a row when fewer).
struct SharedTile {
  Value memory; // memref<N x T, #gpu.address_space<workgroup>>: all of it
  Value offset; // index
  int64_t rows = 0, width = 0;
  Type elementType() const;
};

/// Elements of `elementType` in one 16-byte chunk.
int64_t chunkElements(Type elementType);

/// How the rows of a query tile are spread over a CTA.
struct WarpLayout {
  int64_t numWarps = 0;
  int64_t rowTiles = 0; // 16-row m-tiles per warp
  int64_t numThreads() const { return 32 * numWarps; }
  /// Rows of the query tile.
  int64_t tileRows() const { return 16 * rowTiles * numWarps; }
};

/// The left operand of a product: A fragments in registers, or (null
/// registers) a shared tile read at every use.
struct Operand {
  Value registers;
  SharedTile shared;
};

/// Fragment types.
VectorType accumulatorType(MLIRContext *context, const WarpLayout &layout,
                           int64_t columns);
VectorType rowVectorType(MLIRContext *context, const WarpLayout &layout);
VectorType operandType(Type elementType, const WarpLayout &layout,
                       int64_t depth);
VectorType outputTileType(Type elementType, const WarpLayout &layout,
                          int64_t columns);
/// Whether the A fragments of a [TQ, depth] operand fit the register budget
/// (else the operand stays in shared memory).
bool operandFitsRegisters(Type elementType, const WarpLayout &layout,
                          int64_t depth);

/// Elements of `elementType` in one 16-byte run of a row-wise entmax chunk;
/// a quad covers four runs, so chunk widths are multiples of four runs.
int64_t chunkRunElements(Type elementType);

/// Builds the fragment code of one CTA of `numThreads` threads.
/// How the entries of a row combine.
enum class RowReduction { Sum, Max, Min };

class WarpTiles {
public:
  WarpTiles(OpBuilder &builder, Location loc, const ThreadIds &ids,
            const WarpLayout &layout, bool exactF32)
      : b(builder), loc(loc), ids(ids), layout(layout), exactF32(exactF32) {}

  //===--------------------------------------------------------------------===//
  // Data movement
  //===--------------------------------------------------------------------===//

  /// Issues the cp.async copies of rows [row, row + tile.rows) of
  /// `source[batch, head]` (a 4-D memref, unit innermost stride) into
  /// `tile`; rows at or past `rowLimit` are zero-filled. Every thread of the
  /// CTA takes part; the caller commits and waits.
  void copyTileAsync(Value source, Value batch, Value head, Value row,
                     Value rowLimit, const SharedTile &tile);

  /// The element offset in `tile.memory` of 16-byte chunk `chunk` of row
  /// `row` of `tile`, where copyTileAsync puts it (swizzled).
  Value chunkOffset(const SharedTile &tile, Value row, Value chunk);

  /// Rounds the chunks of an f32 `tile` that this thread copied to tf32
  /// (cvt.rna), in place: after their cp.async completes, before the
  /// barrier that publishes the tile.
  void roundToTF32(const SharedTile &tile);

  /// The A-operand fragments of this warp's rows of `tile`.
  Value loadOperand(const SharedTile &tile);

  /// Stores the rows `r < rows` of an output tile at
  /// `dest[batch, head, rowStart + r, :]`.
  void storeTileRows(Value tile, Value rows, Value dest, Value batch,
                     Value head, Value rowStart);
  /// Stores the rows `r < rows` of a row vector at
  /// `dest[batch, head, rowStart + r]`.
  void storeRowVector(Value rowVector, Value rows, Value dest, Value batch,
                      Value head, Value rowStart);

  /// `sparse_attn.load_score_chunk`: rows [row, row + TQ) and columns
  /// [col, col + columns) of `source` (a 2-D memref) times `scale` (f32),
  /// -inf outside the source, as an f32 tile in the chunk layout. Runs
  /// inside contiguous, 16-byte aligned rows are vector loads; the others
  /// (partial runs, other strides) load element by element.
  Value loadChunk(Value source, Value row, Value col, Value scale,
                  int64_t columns);
  /// Stores the elements `r < rows`, `c < columns` of a chunk-layout tile at
  /// `dest[rowStart + r, colStart + c]` (a 2-D memref), whole runs as
  /// vector stores where the rows allow.
  void storeChunk(Value tile, Value dest, Value rows, Value columns,
                  Value rowStart, Value colStart);

  //===--------------------------------------------------------------------===//
  // Tile ops
  //===--------------------------------------------------------------------===//

  /// `query @ keys^T` on tensor cores: [TQ, keys.rows] in f32.
  Value scoreProducts(const Operand &query, const SharedTile &keys,
                      Type elementType);

  /// Every element times `factor` (an f32 value).
  Value scaleTile(Value tile, Value factor);

  /// Entries whose `visible(i, j)` is false become -inf, with `i` the
  /// absolute row `rowOffset + r` and `j` the absolute column
  /// `colOffset + c`.
  using VisibleFn = function_ref<Value(OpBuilder &, Location, Value i,
                                       Value j)>;
  Value maskTile(Value tile, Value rowOffset, Value colOffset,
                 VisibleFn visible);

  /// Every element plus `term(i, j)` (f32), `i` and `j` as for maskTile: a
  /// score tile's bias.
  using TermFn = function_ref<Value(OpBuilder &, Location, Value i, Value j)>;
  Value addToTile(Value tile, Value rowOffset, Value colOffset, TermFn term);

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

  /// A row vector into, or out of, slot `slot` of a record of row vectors
  /// in shared memory (`memory[slot * TQ + row]`, f32). Every thread
  /// stores its rows (the four threads of a quad the same value), so each
  /// reads back what it wrote itself.
  void storeRecord(Value rowVector, Value memory, Value slot);
  Value loadRecord(Value memory, Value slot);

  /// `sparse_attn.elastic_tile_live`, the same in every thread of the CTA.
  Value elasticTileLive(Value tileMax, Value max, Value sum, Value tau,
                        Value position);

  /// `sparse_attn.elastic_accumulate`: `acc + w @ values` with the elastic
  /// weights `w` of the final row maxima and sums.
  Value elasticAccumulate(Value scores, const SharedTile &values, Value max,
                          Value sum, Value acc, Value tau, Value position,
                          Type elementType);

  /// `sparse_attn.row_max`: the running row maxima and visible counts.
  std::pair<Value, Value> rowMax(Value scores, Value max, Value count);

  /// `sparse_attn.entmax_histogram` into `bins`, the [TQ, numBins] i32
  /// counts in shared memory (rows `histogramRowStride` words apart): each
  /// entry within 1 of its row's maximum counts itself with a native
  /// shared-memory increment, every other entry into its row's discard word.
  void entmaxHistogram(Value scores, Value max, Value bins, int64_t numBins);

  /// `sparse_attn.entmax_threshold_init`: (threshold, lower, upper), from
  /// the histogram in `bins` (after a barrier that completes it) or, with a
  /// null `bins`, from the plain bracket.
  SmallVector<Value> entmaxThresholdInit(EntmaxAttr config, Value max,
                                         Value count, Value bins,
                                         int64_t numBins);

  /// `sparse_attn.entmax_moments`: (s0, s1, s2).
  SmallVector<Value> entmaxMoments(EntmaxAttr config, Value scores,
                                   Value threshold, Value s0, Value s1,
                                   Value s2);

  /// `sparse_attn.entries_between` into `gap`, the [TQ, 1 + capacity] i32
  /// records in shared memory (rows `histogramRowStride` words apart): an
  /// entry in its row's (lower, upper] takes a slot with a shared-memory
  /// increment of the count and, if the slot is below the capacity, stores
  /// its bits there. Only such entries branch; they are rare.
  void entriesBetween(Value scores, Value lower, Value upper, Value gap,
                      int64_t capacity);

  /// `sparse_attn.entmax_threshold_step`: (threshold, lower, upper,
  /// converged), `converged` the same in every thread of the CTA; `gap` is
  /// null or the records of `entriesBetween` (read after a barrier).
  SmallVector<Value> entmaxThresholdStep(EntmaxAttr config, Value threshold,
                                         Value lower, Value upper, Value s0,
                                         Value s1, Value s2, Value gap,
                                         int64_t capacity);

  /// `sparse_attn.any_above`, the same in every thread of the CTA.
  Value anyAbove(Value scores, Value threshold);

  /// `sparse_attn.entmax_accumulate`: (acc + w @ values, sum + row sums of
  /// w) with `w = [scores - threshold]_+^(1 / (alpha - 1))`.
  std::pair<Value, Value> entmaxAccumulate(EntmaxAttr config, Value scores,
                                           const SharedTile &values,
                                           Value threshold, Value acc,
                                           Value sum, Type elementType);

  /// `sparse_attn.entmax_weights`: `[scores - threshold]_+^(1/(alpha-1)) /
  /// sum` (zero where `sum` is not positive) in `elementType`.
  Value entmaxWeights(EntmaxAttr config, Value scores, Value threshold,
                      Value sum, Type elementType);

  /// `sparse_attn.entmax_finalize`: the output tile in `elementType` and the
  /// threshold row vector.
  std::pair<Value, Value> entmaxFinalize(Value threshold, Value sum,
                                         Value acc, Value rows,
                                         Type elementType);

  /// `ex2.approx.ftz` of an f32 value.
  Value exp2(Value x);

private:
  Value index(int64_t value);
  Value f32(double value);
  Value log2(Value x);
  SmallVector<Value> unpack(Value vector);
  Value pack(VectorType type, ArrayRef<Value> elements);

  /// Row of the query tile and column of a tile holding element `e` of an
  /// accumulator fragment of `columns` columns.
  Value elementRow(int64_t e, int64_t columns);
  Value elementColumn(int64_t e, int64_t columns);
  /// The row of this thread's row-vector element `r`.
  Value vectorRow(int64_t r);
  /// The row-vector element of accumulator element `e`.
  static int64_t rowOf(int64_t e, int64_t columns);
  /// Whether the rows of a 2-D memref are contiguous and start on 16-byte
  /// boundaries (i1), and its view with a unit innermost stride, which is
  /// the memref itself where that holds: the view of vector accesses.
  std::pair<Value, Value> contiguousRows(Value memory);
  /// Element `i` of run `k` of row-vector element `r` of a chunk-layout
  /// tile of `columns` columns with `run` elements per run.
  int64_t chunkElement(int64_t r, int64_t k, int64_t i, int64_t run,
                       int64_t columns);
  /// The column of run `k` of this thread in a chunk-layout tile.
  Value runColumn(int64_t k, int64_t run);
  /// The lane row and lane chunk of this warp's A-fragment loads.
  std::pair<Value, Value> operandLanes();
  /// The four A registers of m-tile `rowTile` at k-step `step` (`lanes`
  /// from operandLanes when the operand is in shared memory).
  SmallVector<Value> operandStep(const Operand &operand,
                                 ArrayRef<Value> registers,
                                 std::pair<Value, Value> lanes,
                                 int64_t rowTile, int64_t step);

  /// The element of `tile` at row `row + laneRow`, 16-byte chunk
  /// `chunk + laneChunk` (before swizzling), element `laneElement` of the
  /// chunk (none: 0), with `row` a multiple of 8, `chunk` even and
  /// `laneChunk` 0 or 1: an opaque lane base plus an immediate.
  Value laneAddress(const SharedTile &tile, int64_t row, Value laneRow,
                    int64_t chunk, Value laneChunk, Value laneElement);
  /// ldmatrix.x4 of `tile`: this lane addresses row `row + laneRow` at
  /// 16-byte chunk `chunk + laneChunk` (laneAddress). Four i32 registers.
  std::array<Value, 4> loadMatrices(const SharedTile &tile, int64_t row,
                                    Value laneRow, int64_t chunk,
                                    Value laneChunk, bool transpose);

  /// This thread's first row and chunk of a tile's cp.async copies.
  std::pair<Value, Value> copyOwner(const SharedTile &tile);
  /// Calls `body(tileRow, destination)` for each chunk of `tile` that the
  /// thread of `owner` copies, `destination` its element offset in the
  /// tile's memory.
  void forEachCopiedChunk(const SharedTile &tile, std::pair<Value, Value> owner,
                          function_ref<void(Value, Value)> body);
  /// `value`, opaque to LLVM: addresses built on it stay in the loop that
  /// computes them (with immediate offsets) instead of being hoisted out as
  /// one register each.
  Value opaque(Value value);
  /// d = a * b + c, one m16n8k16 instruction (m16n8k8 .tf32 for f32; three
  /// of them with exactF32).
  std::array<Value, 4> mma(ArrayRef<Value> a, ArrayRef<Value> bFragment,
                           ArrayRef<Value> c, Type elementType);
  /// One mma.sync instruction of `elementType` operands.
  std::array<Value, 4> mmaInstruction(ArrayRef<Value> a,
                                      ArrayRef<Value> bFragment,
                                      ArrayRef<Value> c, Type elementType);
  /// f32 registers (as i32) split into tf32 parts, x ~ hi + lo.
  std::pair<SmallVector<Value>, SmallVector<Value>>
  splitTF32(ArrayRef<Value> registers);
  /// Two f32 values as one i32 of two 16-bit `elementType` values.
  Value packPair(Value low, Value high, Type elementType);
  /// An f32 value rounded to tf32 (cvt.rna), as i32.
  Value toTF32(Value value);
  /// The f32 elements of a tile in the accumulator layout as the A operand
  /// of a product with an `elementType` tile: pairs (packPair), or tf32
  /// elements (f32 ones with exactF32).
  SmallVector<Value> packWeights(ArrayRef<Value> weights, Type elementType);

  /// `acc + P @ values`, P given as packWeights of a tile in the
  /// accumulator layout of a [TQ, values.rows] tile.
  Value accumulateProducts(Value acc, ArrayRef<Value> weights,
                           const SharedTile &values, Type elementType);
  /// accumulateProducts of f32 values (tf32 weights).
  Value accumulateTF32Products(Value acc, ArrayRef<Value> weights,
                               const SharedTile &values);

  /// Whether `predicate` (i1) holds in some thread of the CTA; a barrier
  /// every thread must reach.
  Value anyInBlock(Value predicate);

  /// Rows `r < rows` with a positive `sum[r]`, per row-vector element.
  SmallVector<Value> validRows(ArrayRef<Value> sum, Value rows);
  /// The output tile in `elementType`: `acc` times its row's factor.
  Value scaledOutput(ArrayRef<Value> acc, ArrayRef<Value> factors,
                     Type elementType);

  /// The entmax weights `[score - threshold]_+ ^ (1 / (alpha - 1))` of a
  /// thread's unpacked scores.
  SmallVector<Value> entmaxWeightTerms(EntmaxAttr config,
                                       ArrayRef<Value> scores, Value threshold);

  /// Combines a thread's entries of row-vector element `r` of a tile of
  /// `columns` columns and the four threads of its quad, then `init`.
  Value reduceRow(ArrayRef<Value> elements, int64_t columns, int64_t r,
                  Value init, RowReduction kind);
  Value quadReduce(Value value, RowReduction kind);
  /// `value` of the lane whose id differs from this one's in `offset`.
  Value laneXor(Value value, int32_t offset);
  Value combine(Value x, Value y, RowReduction kind);

  OpBuilder &b;
  Location loc;
  const ThreadIds &ids;
  const WarpLayout &layout;
  /// f32 products as 3xTF32 (the tiles are not rounded in shared memory).
  bool exactF32;
  /// The opaque lane bases of this op's shared-memory loads, by tile
  /// offset, lane row, lane chunk, lane element and swizzle class.
  DenseMap<std::tuple<Value, Value, Value, Value, int64_t>, Value> laneBases;
};

} // namespace mlir::sparse_attn::warp_tiles

#endif // SPARSE_ATTN_LIB_CONVERSION_SPARSEATTNTOGPU_WARPTILES_H
