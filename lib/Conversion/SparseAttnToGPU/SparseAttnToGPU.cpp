//===- SparseAttnToGPU.cpp - sparse-attn-to-gpu -----------------*- C++ -*-===//
//
// Tiled grids to GPU kernels: the grid point becomes a CTA, tile values
// become warp fragments (WarpTiles.h), key and value tiles stream through
// shared memory one tile ahead of their use. docs/design/gpu-lowering.md.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Conversion/Passes.h"
#include "sparse_attn/Conversion/SparseAttnToGPU/KernelAttributes.h"
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "EstimatorKernels.h"
#include "KernelInterface.h"
#include "WarpTiles.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/TypeSwitch.h"

#include <set>
#include <tuple>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNTOGPUPASS
#include "sparse_attn/Conversion/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::warp_tiles;

namespace {

constexpr StringLiteral kGridAttr = "sparse_attn.grid";
constexpr StringLiteral kKeyPassAttr = "sparse_attn.key_pass";
constexpr StringLiteral kSolverLoopAttr = "sparse_attn.solver_iterations";
constexpr StringLiteral kKernelModuleName = "sparse_attn_kernels";
/// Capacities of the per-CTA structures of block-mask schedules: the first
/// position of every key block in an index row (FlexAttention rows of up to
/// this many key blocks), and a schedule list of key tiles.
constexpr int64_t kMaxKeyBlocks = 1024;
constexpr int64_t kMaxListEntries = 4096;
/// Capacity of a record of per-tile row vectors (elastic softmax's tile
/// maxima): key tiles of one pass.
constexpr int64_t kMaxRecordedTiles = 256;

/// The operands naming one FlexAttention index row: counts, indices,
/// batch, head, row.
using IndexRowKey = std::tuple<Value, Value, Value, Value, Value>;

IndexRowKey indexRowKey(IndexRowContainsOp op) {
  return {op.getCounts(), op.getIndices(), op.getBatch(), op.getHead(),
          op.getRow()};
}

bool isScheduleList(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 1 &&
         tensor.getElementType().isInteger(32);
}

int64_t alignTo(int64_t value, int64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

bool isScalar(Type type) { return type.isIntOrIndexOrFloat(); }

/// A [TQ, ?] record of row vectors, one column per key tile (elastic
/// softmax's tile maxima).
bool isRowRecord(Type type, int64_t tileRows) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && tensor.getElementType().isF32() &&
         tensor.getDimSize(0) == tileRows && tensor.isDynamicDim(1);
}

/// The key loop (a pass over K) around `op`, if any.
scf::ForOp enclosingKeyLoop(Operation *op) {
  for (auto loop = op->getParentOfType<scf::ForOp>(); loop;
       loop = loop->getParentOfType<scf::ForOp>())
    if (loop->hasAttr(kKeyPassAttr))
      return loop;
  return {};
}

/// The [TQ, BINS] i32 counts of an entmax histogram (`entmax_histogram`).
bool isHistogram(Type type, int64_t tileRows) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && tensor.hasStaticShape() &&
         tensor.getElementType().isInteger(32) &&
         tensor.getDimSize(0) == tileRows;
}

/// Whether the record that `start` begins (an entmax histogram or gap
/// record, flowing on through the results of its in-place updates and of
/// the loops that carry it) is used only before `point`, in `point`'s
/// block: dead there, so that a later record may take its shared memory.
bool usedOnlyBefore(Value start, Operation *point) {
  Block *block = point->getBlock();
  SmallVector<Value> worklist = {start};
  DenseSet<Value> seen;
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    if (!seen.insert(value).second)
      continue;
    for (OpOperand &use : value.getUses()) {
      Operation *user = use.getOwner();
      Operation *ancestor = block->findAncestorOpInBlock(*user);
      if (!ancestor || !ancestor->isBeforeInBlock(point))
        return false;
      Operation *carrier =
          isa<scf::YieldOp>(user) ? user->getParentOp() : user;
      for (Value result : carrier->getResults())
        if (result.getType() == start.getType())
          worklist.push_back(result);
    }
  }
  return true;
}

/// A memref of global memory: a view of a kernel argument, or a slab of
/// one.
bool isGlobal(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && !memref.getMemorySpace();
}

/// Whether `value` is, through the loops that carry it and the slices
/// inserted into it, the extract_slice of `insert`'s destination at
/// `insert`'s offsets and sizes: the slab written in place.
bool isSlabOf(Value value, tensor::ParallelInsertSliceOp insert) {
  while (true) {
    if (auto loop = value.getDefiningOp<scf::ForOp>())
      value = loop.getInitArgs()[cast<OpResult>(value).getResultNumber()];
    else if (auto inserted = value.getDefiningOp<tensor::InsertSliceOp>())
      value = inserted.getDest();
    else
      break;
  }
  auto slice = value.getDefiningOp<tensor::ExtractSliceOp>();
  return slice && slice.getSource() == insert.getDest() &&
         slice.isSameAs(cast<OffsetSizeAndStrideOpInterface>(
                            insert.getOperation()),
                        [](OpFoldResult a, OpFoldResult b) {
           return isEqualConstantIntOrValue(a, b);
         });
}

/// Removes the terminator a builder may have put into a new block, so that
/// the lowered body can end with its own.
void eraseTerminator(Block *block) {
  if (!block->empty() && block->back().hasTrait<OpTrait::IsTerminator>())
    block->back().erase();
}

/// Lowers one function holding one tiled grid into one kernel.
class GridLowering {
public:
  GridLowering(func::FuncOp func, scf::ForallOp grid, bool scaleArgument,
               bool iterationsArgument, int64_t numWarps,
               int64_t minBlocksPerMultiprocessor, bool exactF32)
      : func(func), grid(grid), scaleArgument(scaleArgument),
        iterationsArgument(iterationsArgument),
        minBlocks(minBlocksPerMultiprocessor), exactF32(exactF32),
        b(func.getContext()) {
    layout.numWarps = numWarps;
  }

  LogicalResult run(gpu::GPUModuleOp module);

private:
  // Analysis before any IR is built.
  LogicalResult plan();
  FailureOr<std::string> sizeExpression(Value value);
  std::string tensorName(Value tensor);

  // Lowering of the function body into the kernel.
  LogicalResult lowerBlock(Block &block);
  LogicalResult lowerOp(Operation *op);
  LogicalResult lowerScalar(Operation *op, IRMapping &map);
  Value resolve(Value value, IRMapping &map);
  FailureOr<Type> convertType(Type type, Operation *user);
  LogicalResult lowerGrid();
  /// Builds the index-row tables that ops nested in `op` query.
  LogicalResult buildIndexRowTables(Operation *op);
  LogicalResult lowerIndexRowContains(IndexRowContainsOp op);
  LogicalResult lowerGridTerminator(scf::InParallelOp terminator);
  LogicalResult lowerFor(scf::ForOp loop);
  LogicalResult lowerKeyLoop(scf::ForOp loop);
  LogicalResult lowerIf(scf::IfOp ifOp);
  LogicalResult lowerWhile(scf::WhileOp whileOp);
  LogicalResult lowerLoadTile(LoadTileOp load);
  /// The shared-memory region of the histogram or gap record that
  /// `constant` starts.
  Value lowerHistogramConstant(arith::ConstantOp constant, MemRefType type);
  /// Fills the region of `constant`'s record with its value, by all threads
  /// between two barriers (the first ends the reads of the region's earlier
  /// record), each time the loop that carries it starts.
  void fillRecord(arith::ConstantOp constant);
  /// The entmax, row-max and any-above tile ops.
  LogicalResult lowerEntmaxOp(Operation *op);
  /// An index operand (a constant or a value of the grid), lowered.
  Value loweredIndex(OpFoldResult index);
  /// The offsets of a slice, lowered.
  SmallVector<Value> loweredOffsets(OffsetSizeAndStrideOpInterface slice);
  /// The column of a record of row vectors that a slice reads or writes
  /// (offsets [0, column], sizes [TQ, 1], unit strides), lowered.
  std::optional<Value> recordColumn(OffsetSizeAndStrideOpInterface slice);
  /// A key or value tile inside a conditional part of a key loop: copied
  /// into its slot and waited for on the spot (no prefetch).
  LogicalResult lowerConditionalLoad(LoadTileOp load);
  LogicalResult lowerScoreTile(ScoreTileOp op);
  /// `scale * query @ key^T` of a score tile, before its visibility.
  FailureOr<Value> scaledProducts(ScoreTileOp op);
  /// The scores with the `visible` region applied.
  FailureOr<Value> applyVisibility(ScoreTileOp op, Value scores);
  /// skip-blocks' `scf.if %full {score_tile} else {score_tile visible}`:
  /// one product, the mask only in the partial branch.
  FailureOr<bool> lowerScoreSelection(scf::IfOp ifOp);

  /// Issues the cp.async copies of a streamed load with the loop's
  /// induction variable taken as `inductionValue`.
  LogicalResult issueStreamLoad(LoadTileOp load, scf::ForOp loop,
                                Value inductionValue, Value slot);
  FailureOr<Value> materialize(Value value, scf::ForOp loop,
                               Value inductionValue, IRMapping &local);

  SharedTile sharedView(int64_t byteOffset, Value dynamicOffset,
                        RankedTensorType tileType);
  /// Waits for the copies in flight and publishes `tile` to the CTA: a
  /// barrier, after f32 tiles are rounded to tf32 by their copying threads
  /// (unless exactF32).
  void waitForTile(const SharedTile &tile);
  SharedTile slotView(LoadTileOp load, Value slot);
  Value sequenceExtent(Value source);
  WarpTiles tiles() { return WarpTiles(b, loc(), ids, layout, exactF32); }
  Location loc() { return func.getLoc(); }

  func::FuncOp func;
  scf::ForallOp grid;
  bool scaleArgument;
  /// Whether the kernel takes `niter` (iterationsArgument and a solver).
  bool iterationsArgument;
  int64_t minBlocks;
  /// f32 products as 3xTF32 instead of on tiles rounded to tf32.
  bool exactF32;
  OpBuilder b;

  // Plan.
  WarpLayout layout;
  int64_t tileRows = 0;
  int64_t operandBytes = 0, slotBytes = 0, maxStreamRows = 0, sharedBytes = 0;
  /// Columns of the row-wise entmax's chunks.
  int64_t chunkColumns = 0;
  /// Shared memory of the index-row tables, the schedule lists and the
  /// entmax histograms and gap records (a record whose region's earlier
  /// records are dead when it starts shares their region).
  int64_t tablesOffset = 0, listsOffset = 0, histogramsOffset = 0;
  SmallVector<IndexRowKey> indexRows;
  int64_t numLists = 0, nextList = 0;
  int64_t histogramBytes = 0, numHistogramRegions = 0;
  DenseMap<Operation *, int64_t> histogramRegionOf;
  /// Shared memory of the records of per-tile row vectors.
  int64_t recordsOffset = 0, numRecords = 0, nextRecord = 0;
  SmallVector<std::string> gridExpressions;
  SmallVector<std::string> argumentNames, resultNames;

  // Lowering state.
  IRMapping mapping;
  ThreadIds ids;
  /// `niter` as an index, with iterationsArgument.
  Value sharedBase, scaleValue, iterationsValue;
  /// Shared memory as a flat array of each element type in use.
  DenseMap<Type, Value> sharedMemories;
  /// Streamed key/value tiles: the shared-memory tile each one is in while
  /// its consumers run.
  DenseMap<Value, SharedTile> sharedTiles;
  /// Query tiles: the left operands of score tiles.
  DenseMap<Value, Operand> operands;
  /// Per index row: the table of first positions of each key block, and the
  /// row's clamped count.
  DenseMap<IndexRowKey, std::pair<Value, Value>> indexRowTables;
  /// `tensor.extract_slice` of the leading rows and columns of a tile.
  struct TileSlice {
    Value tile, rows, columns;
  };
  DenseMap<Value, TileSlice> rowSlices;
};

//===----------------------------------------------------------------------===//
// Plan
//===----------------------------------------------------------------------===//

std::string GridLowering::tensorName(Value tensor) {
  if (auto arg = dyn_cast<BlockArgument>(tensor);
      arg && arg.getOwner() == &func.getBody().front())
    return argumentNames[arg.getArgNumber()];
  return "?";
}

FailureOr<std::string> GridLowering::sizeExpression(Value value) {
  if (std::optional<int64_t> constant = getConstantIntValue(value))
    return std::to_string(*constant);
  Operation *def = value.getDefiningOp();
  if (!def)
    return failure();
  if (auto dim = dyn_cast<tensor::DimOp>(def)) {
    std::optional<int64_t> index = dim.getConstantIndex();
    auto arg = dyn_cast<BlockArgument>(dim.getSource());
    if (!index || !arg || arg.getOwner() != &func.getBody().front())
      return failure();
    return tensorName(arg) + ".size" + std::to_string(*index);
  }
  auto binary = [&](StringRef format) -> FailureOr<std::string> {
    FailureOr<std::string> lhs = sizeExpression(def->getOperand(0));
    FailureOr<std::string> rhs = sizeExpression(def->getOperand(1));
    if (failed(lhs) || failed(rhs))
      return failure();
    if (format.starts_with("("))
      return "(" + *lhs + format.drop_front().str() + *rhs + ")";
    return format.str() + "(" + *lhs + ", " + *rhs + ")";
  };
  return llvm::TypeSwitch<Operation *, FailureOr<std::string>>(def)
      .Case<arith::CeilDivUIOp, arith::CeilDivSIOp>(
          [&](auto) { return binary("ceil_div"); })
      .Case<arith::AddIOp>([&](auto) { return binary("( + "); })
      .Case<arith::SubIOp>([&](auto) { return binary("( - "); })
      .Case<arith::MulIOp>([&](auto) { return binary("( * "); })
      .Case<arith::DivUIOp, arith::DivSIOp>(
          [&](auto) { return binary("( / "); })
      .Case<arith::MinSIOp, arith::MinUIOp>([&](auto) { return binary("min"); })
      .Case<arith::MaxSIOp, arith::MaxUIOp>([&](auto) { return binary("max"); })
      .Default([](Operation *) -> FailureOr<std::string> { return failure(); });
}

LogicalResult GridLowering::plan() {
  SmallVector<std::string> names = kernelTensorNames(func);
  argumentNames.assign(names.begin(), names.begin() + func.getNumArguments());
  resultNames.assign(names.begin() + func.getNumArguments(), names.end());

  auto kind = grid->getAttrOfType<StringAttr>(kGridAttr);
  if (!kind || (kind.getValue() != "attention" && kind.getValue() != "entmax"))
    return grid.emitOpError("is not an attention or row-wise entmax grid");
  if (grid.getRank() > 3)
    return grid.emitOpError("has more than three dimensions; a kernel grid "
                            "has three");
  if (!grid.isNormalized())
    return grid.emitOpError("must be normalized (zero lower bounds, unit "
                            "steps) to become a kernel grid");
  // Innermost grid dimension first: x, y, z.
  for (OpFoldResult bound : llvm::reverse(grid.getMixedUpperBound())) {
    FailureOr<std::string> expression =
        isa<Attribute>(bound)
            ? FailureOr<std::string>(std::to_string(
                  *getConstantIntValue(bound)))
            : sizeExpression(cast<Value>(bound));
    if (failed(expression))
      return grid.emitOpError("has a bound that is not an expression of the "
                              "function's argument sizes");
    gridExpressions.push_back(*expression);
  }
  while (gridExpressions.size() < 3)
    gridExpressions.push_back("1");

  // The query tile fixes the rows of every tile value, hence the warps; the
  // streamed key/value tiles fix the shared-memory slots.
  WalkResult walk = grid.walk([&](LoadTileOp load) -> WalkResult {
    RankedTensorType type = load.getType();
    int64_t bytes = alignTo(type.getNumElements() *
                                type.getElementTypeBitWidth() / 8,
                            kSharedAlignment);
    if (type.getDimSize(1) % 16 != 0 || type.getDimSize(0) % 16 != 0) {
      load.emitOpError("loads a tile whose sizes are not multiples of 16");
      return WalkResult::interrupt();
    }
    if (enclosingKeyLoop(load)) {
      slotBytes = std::max(slotBytes, bytes);
      maxStreamRows = std::max(maxStreamRows, type.getDimSize(0));
      return WalkResult::advance();
    }
    if (tileRows && tileRows != type.getDimSize(0)) {
      load.emitOpError("loads a second query tile of another height");
      return WalkResult::interrupt();
    }
    tileRows = type.getDimSize(0);
    operandBytes = std::max(operandBytes, bytes);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  // The row-wise entmax's chunks fix the rows instead: no tensor cores, so
  // any element type; each thread loads whole 16-byte runs of a row.
  walk = grid.walk([&](LoadScoreChunkOp load) -> WalkResult {
    RankedTensorType type = load.getType();
    int64_t quadColumns =
        4 * chunkRunElements(load.getSource().getType().getElementType());
    if (type.getDimSize(1) % quadColumns != 0) {
      load.emitOpError("loads chunks of ")
          << type.getDimSize(1) << " columns; the GPU lowering takes "
          << "multiples of " << quadColumns
          << " (four 16-byte runs of the source)";
      return WalkResult::interrupt();
    }
    if ((tileRows && tileRows != type.getDimSize(0)) ||
        (chunkColumns && chunkColumns != type.getDimSize(1))) {
      load.emitOpError("loads a second chunk shape");
      return WalkResult::interrupt();
    }
    tileRows = type.getDimSize(0);
    chunkColumns = type.getDimSize(1);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  // A chunk's columns are permuted by the runs of its source's element type
  // (WarpTiles.h): weights stored in another type would need other runs.
  walk = grid.walk([&](EntmaxWeightsOp weights) -> WalkResult {
    Type stored = weights.getType().getElementType();
    auto load = weights.getScores().getDefiningOp<LoadScoreChunkOp>();
    if (!load || load.getSource().getType().getElementType() != stored) {
      weights.emitOpError("must weigh a chunk loaded from a source of its "
                          "result's element type ")
          << stored;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  if (!tileRows)
    return grid.emitOpError("loads no query tile or score chunk; nothing to "
                            "map onto warps");
  grid.walk([&](Operation *op) {
    if (auto contains = dyn_cast<IndexRowContainsOp>(op)) {
      if (!llvm::is_contained(indexRows, indexRowKey(contains)))
        indexRows.push_back(indexRowKey(contains));
    } else if (auto empty = dyn_cast<tensor::EmptyOp>(op)) {
      numLists += isScheduleList(empty.getType());
      numRecords += isRowRecord(empty.getType(), tileRows);
    }
  });
  // Entmax histograms and gap records live in shared memory (the counts of
  // every bin of every row take too many registers), each value chain
  // starting at a splat constant that one loop carries and updated in
  // place. A record takes the region of the records that are dead where its
  // loop starts (the solver's gap records take the histogram's).
  WalkResult starts = func.walk([&](arith::ConstantOp constant) {
    if (!isHistogram(constant.getType(), tileRows))
      return WalkResult::advance();
    if (!constant->hasOneUse()) {
      constant.emitOpError("starts more than one entmax histogram or gap "
                           "record; the GPU lowering updates each in place");
      return WalkResult::interrupt();
    }
    if (!isa<scf::ForOp>(*constant->user_begin())) {
      constant.emitOpError("starts an entmax histogram or gap record that no "
                           "loop carries; the GPU lowering fills each where "
                           "its loop starts");
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (starts.wasInterrupted())
    return failure();
  SmallVector<SmallVector<Value>> regionRecords;
  func.walk([&](scf::ForOp loop) {
    for (auto [init, record] :
         llvm::zip(loop.getInitArgs(), loop.getResults())) {
      auto constant = init.getDefiningOp<arith::ConstantOp>();
      if (!constant || !isHistogram(init.getType(), tileRows))
        continue;
      int64_t columns = cast<RankedTensorType>(init.getType()).getDimSize(1);
      histogramBytes = std::max<int64_t>(
          histogramBytes, alignTo(tileRows * histogramRowStride(columns) * 4,
                                  kSharedAlignment));
      // The earlier record runs once per grid point (its loop sits in the
      // grid's body), so it never starts again while the later one lives.
      auto dead = [&](Value earlier) {
        Operation *earlierLoop = earlier.getDefiningOp();
        Operation *point =
            earlierLoop->getBlock()->findAncestorOpInBlock(*loop);
        return isa<scf::ForallOp>(earlierLoop->getParentOp()) && point &&
               earlierLoop->isBeforeInBlock(point) &&
               usedOnlyBefore(earlier, point);
      };
      auto *region = llvm::find_if(regionRecords, [&](const auto &records) {
        return llvm::all_of(records, dead);
      });
      histogramRegionOf[constant] = region - regionRecords.begin();
      if (region == regionRecords.end())
        regionRecords.emplace_back();
      regionRecords[histogramRegionOf[constant]].push_back(record);
    }
  });
  numHistogramRegions = regionRecords.size();
  tablesOffset = operandBytes + 2 * slotBytes;
  listsOffset = tablesOffset + static_cast<int64_t>(indexRows.size()) *
                                   kMaxKeyBlocks * 4;
  histogramsOffset = listsOffset + numLists * kMaxListEntries * 4;
  recordsOffset = histogramsOffset + numHistogramRegions * histogramBytes;
  sharedBytes =
      alignTo(recordsOffset + numRecords * tileRows * kMaxRecordedTiles * 4,
              kSharedAlignment);
  if (layout.numWarps < 1 || layout.numWarps > 32 ||
      tileRows % (kWarpRows * layout.numWarps) != 0)
    return grid.emitOpError("has query tiles of ")
           << tileRows << " rows, which " << layout.numWarps
           << " warps cannot share in m-tiles of " << kWarpRows << " rows";
  layout.rowTiles = tileRows / (kWarpRows * layout.numWarps);
  return success();
}

//===----------------------------------------------------------------------===//
// Kernel
//===----------------------------------------------------------------------===//

LogicalResult GridLowering::run(gpu::GPUModuleOp module) {
  if (failed(plan()))
    return failure();
  MLIRContext *context = func.getContext();

  // The outputs: results of the grid returned by the function. Tensor t is
  // argument t, or result t - #arguments.
  Block &body = func.getBody().front();
  auto returnOp = cast<func::ReturnOp>(body.getTerminator());
  DenseMap<Value, unsigned> tensorIndex;
  for (auto [i, arg] : llvm::enumerate(body.getArguments()))
    tensorIndex[arg] = i;
  for (auto [i, returned] : llvm::enumerate(returnOp.getOperands())) {
    auto result = dyn_cast<OpResult>(returned);
    if (!result || result.getOwner() != grid)
      return returnOp.emitOpError("returns a value that is not a result of "
                                  "the tiled grid");
    tensorIndex[grid.getRegionIterArgs()[result.getResultNumber()]] =
        func.getNumArguments() + i;
  }
  for (Value init : grid.getOutputs())
    if (!init.getDefiningOp<tensor::EmptyOp>())
      return grid.emitOpError("writes into an initialised tensor; kernels "
                              "write every output element themselves");

  // The extents the kernel reads: those of tensor.dim ops, the sequence
  // extent of every tensor tiles are loaded from, and the slots of index
  // rows.
  std::set<std::pair<unsigned, int64_t>> usedSizes;
  func.walk([&](tensor::DimOp dim) {
    auto it = tensorIndex.find(dim.getSource());
    if (std::optional<int64_t> d = dim.getConstantIndex();
        it != tensorIndex.end() && d)
      usedSizes.insert({it->second, *d});
  });
  func.walk([&](LoadTileOp load) {
    auto it = tensorIndex.find(load.getSource());
    if (it != tensorIndex.end())
      usedSizes.insert({it->second, 2});
  });
  // Chunks are -inf past both extents of their source.
  func.walk([&](LoadScoreChunkOp load) {
    auto it = tensorIndex.find(load.getSource());
    if (it != tensorIndex.end()) {
      usedSizes.insert({it->second, 0});
      usedSizes.insert({it->second, 1});
    }
  });
  // Score tiles bound the bias diagonals by its width.
  func.walk([&](ScoreTileOp score) {
    auto it = tensorIndex.find(score.getBias());
    if (score.getBias() && it != tensorIndex.end())
      usedSizes.insert({it->second, 1});
  });
  // Index-row tables clamp counts by the slots of a row.
  func.walk([&](IndexRowContainsOp contains) {
    auto it = tensorIndex.find(contains.getIndices());
    if (it != tensorIndex.end())
      usedSizes.insert({it->second, 3});
  });

  // Arguments: per tensor (the function's, then its results as outputs) a
  // bare pointer, the extents it reads and the dynamic strides; then the
  // scale and, in kernels with a solver, `niter`.
  SmallVector<std::string> tensorNames = argumentNames;
  llvm::append_range(tensorNames, resultNames);
  // Only kernels with score tiles take `scale` (the row-wise entmax's
  // chunks are scaled by alpha - 1 alone).
  scaleArgument &= grid->walk([](ScoreTileOp) {
                         return WalkResult::interrupt();
                       }).wasInterrupted();
  // Only kernels with a solver take `niter`.
  iterationsArgument &= grid->walk([](scf::WhileOp loop) {
                              return loop->hasAttr(kSolverLoopAttr)
                                         ? WalkResult::interrupt()
                                         : WalkResult::advance();
                            }).wasInterrupted();
  SmallVector<std::pair<StringRef, Type>> scalars;
  if (scaleArgument)
    scalars.push_back({kScaleArgumentName, b.getF32Type()});
  if (iterationsArgument)
    scalars.push_back({kIterationsArgumentName, b.getI32Type()});
  FailureOr<KernelInterface> interface =
      buildKernelInterface(b, func, module, tensorNames, usedSizes, scalars);
  if (failed(interface))
    return failure();
  gpu::GPUFuncOp kernel = interface->kernel;
  int64_t numThreads = layout.numThreads();
  kernel.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(numThreads), 1, 1}));
  if (minBlocks > 1)
    kernel->setAttr("nvvm.minctasm", b.getI32IntegerAttr(minBlocks));
  SmallVector<Attribute> gridAttrs;
  for (const std::string &expression : gridExpressions)
    gridAttrs.push_back(b.getStringAttr(expression));
  kernel->setAttr(
      kKernelLaunchAttr,
      b.getDictionaryAttr(
          {b.getNamedAttr("grid", b.getArrayAttr(gridAttrs)),
           b.getNamedAttr("block", b.getI64ArrayAttr({numThreads, 1, 1})),
           b.getNamedAttr("shared_memory_bytes",
                          b.getI64IntegerAttr(sharedBytes)),
           b.getNamedAttr("max_key_blocks",
                          b.getI64IntegerAttr(indexRows.empty() ? 0
                                                                : kMaxKeyBlocks)),
           b.getNamedAttr("max_list_entries",
                          b.getI64IntegerAttr(numLists ? kMaxListEntries
                                                       : 0)),
           b.getNamedAttr("max_recorded_tiles",
                          b.getI64IntegerAttr(numRecords ? kMaxRecordedTiles
                                                         : 0))}));
  kernel->setAttr(
      kKernelTuningAttr,
      b.getDictionaryAttr(
          {b.getNamedAttr("block_q", b.getI64IntegerAttr(tileRows)),
           b.getNamedAttr("block_k", b.getI64IntegerAttr(
                                         chunkColumns ? chunkColumns
                                                      : maxStreamRows)),
           b.getNamedAttr("warps", b.getI64IntegerAttr(layout.numWarps))}));

  for (auto [value, t] : tensorIndex)
    mapping.map(value, interface->views[t]);
  if (scaleArgument)
    scaleValue = interface->scalars.front();
  if (iterationsArgument)
    iterationsValue = arith::IndexCastOp::create(
        b, loc(), b.getIndexType(), interface->scalars.back());
  ids = buildThreadIds(b, loc());
  auto bytesType = MemRefType::get(
      {0}, b.getI8Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(context, gpu::AddressSpace::Workgroup));
  sharedBase =
      memref::GetGlobalOp::create(b, loc(), bytesType, kSharedMemorySymbol);

  for (Operation &op : body) {
    if (&op == grid.getOperation()) {
      if (failed(lowerGrid()))
        return failure();
      continue;
    }
    if (&op == returnOp.getOperation())
      break;
    if (grid->isBeforeInBlock(&op))
      return op.emitOpError("follows the tiled grid; a kernel function ends "
                            "with its grid");
    if (failed(lowerOp(&op)))
      return failure();
  }
  gpu::ReturnOp::create(b, loc());
  return success();
}

LogicalResult GridLowering::lowerGrid() {
  // Grid dimensions innermost first: x is the last induction variable,
  // visited from the end (the longest causal query tiles start first).
  ValueRange ivs = grid.getInductionVars();
  gpu::Dimension dimensions[] = {gpu::Dimension::x, gpu::Dimension::y,
                                 gpu::Dimension::z};
  SmallVector<OpFoldResult> bounds = grid.getMixedUpperBound();
  for (int64_t d = 0, rank = ivs.size(); d < rank; ++d) {
    Value blockId = gpu::BlockIdOp::create(b, loc(), dimensions[d]);
    Value iv = ivs[rank - 1 - d];
    if (d == 0) {
      Value bound = getValueOrCreateConstantIndexOp(b, loc(), bounds[rank - 1]);
      if (Value lowered = mapping.lookupOrNull(bound))
        bound = lowered;
      Value last = arith::SubIOp::create(
          b, loc(), bound, arith::ConstantIndexOp::create(b, loc(), 1));
      blockId = arith::SubIOp::create(b, loc(), last, blockId);
    }
    mapping.map(iv, blockId);
  }
  for (Operation &op : grid.getBody()->without_terminator())
    if (failed(buildIndexRowTables(&op)) || failed(lowerOp(&op)))
      return failure();
  return lowerGridTerminator(grid.getTerminator());
}

LogicalResult GridLowering::buildIndexRowTables(Operation *op) {
  SmallVector<IndexRowContainsOp> uses;
  op->walk([&](IndexRowContainsOp contains) { uses.push_back(contains); });
  for (IndexRowContainsOp contains : uses) {
    IndexRowKey key = indexRowKey(contains);
    if (indexRowTables.count(key))
      continue;
    SmallVector<Value> operands;
    auto [counts, indices, batch, head, row] = key;
    for (Value operand : {counts, indices, batch, head, row}) {
      Value lowered = mapping.lookupOrNull(operand);
      if (!lowered)
        return contains.emitOpError("reads an index row chosen inside a "
                                    "loop; the GPU lowering builds one "
                                    "table per row and grid point");
      operands.push_back(lowered);
    }
    // firstPosition[J] = the first slot s < n with indices[.., s] == J
    // (kMaxKeyBlocks when none), built by all threads with shared-memory
    // atomics: then `J in the row before slot limit` is one load.
    auto i32 = b.getI32Type();
    auto tableType = MemRefType::get(
        {kMaxKeyBlocks}, i32, MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(),
                                   gpu::AddressSpace::Workgroup));
    int64_t index = llvm::find(indexRows, key) - indexRows.begin();
    auto constant = [&](int64_t v) {
      return arith::ConstantIndexOp::create(b, loc(), v);
    };
    Value table = memref::ViewOp::create(
        b, loc(), tableType, sharedBase,
        constant(tablesOffset + index * kMaxKeyBlocks * 4), ValueRange{});
    Value threads = constant(layout.numThreads());
    Value none = arith::ConstantOp::create(b, loc(),
                                           b.getI32IntegerAttr(kMaxKeyBlocks));
    scf::ForOp::create(b, loc(), ids.thread, constant(kMaxKeyBlocks), threads,
                       ValueRange{},
                       [&](OpBuilder &nb, Location nl, Value slot, ValueRange) {
                         memref::StoreOp::create(nb, nl, none, table, slot);
                         scf::YieldOp::create(nb, nl);
                       });
    gpu::BarrierOp::create(b, loc());
    Value rowPosition[] = {operands[2], operands[3], operands[4]};
    Value count = arith::IndexCastOp::create(
        b, loc(), b.getIndexType(),
        memref::LoadOp::create(b, loc(), operands[0], rowPosition));
    Value slots = memref::DimOp::create(b, loc(), operands[1], 3);
    count = arith::MinSIOp::create(
        b, loc(), arith::MaxSIOp::create(b, loc(), count, constant(0)), slots);
    scf::ForOp::create(
        b, loc(), ids.thread, count, threads, ValueRange{},
        [&](OpBuilder &nb, Location nl, Value slot, ValueRange) {
          Value block = memref::LoadOp::create(
              nb, nl, operands[1],
              ValueRange{operands[2], operands[3], operands[4], slot});
          Value zero = arith::ConstantOp::create(nb, nl, nb.getI32IntegerAttr(0));
          Value inRange = arith::AndIOp::create(
              nb, nl,
              arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sge, block,
                                    zero),
              arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, block,
                                    none));
          auto ifOp = scf::IfOp::create(nb, nl, inRange, /*withElseRegion=*/false);
          OpBuilder inner = OpBuilder::atBlockBegin(ifOp.thenBlock());
          Value position = arith::IndexCastOp::create(inner, nl, i32, slot);
          memref::AtomicRMWOp::create(
              inner, nl, arith::AtomicRMWKind::mins, position, table,
              ValueRange{arith::IndexCastOp::create(inner, nl,
                                                    inner.getIndexType(),
                                                    block)});
          scf::YieldOp::create(nb, nl);
        });
    gpu::BarrierOp::create(b, loc());
    indexRowTables[key] = {table, count};
  }
  return success();
}

LogicalResult GridLowering::lowerIndexRowContains(IndexRowContainsOp op) {
  auto it = indexRowTables.find(indexRowKey(op));
  if (it == indexRowTables.end())
    return op.emitOpError("queries an index row without a table");
  auto [table, count] = it->second;
  Value bound = count;
  if (Value limit = op.getLimit())
    bound = arith::MinSIOp::create(b, loc(), bound, mapping.lookup(limit));
  // A block outside the table's range is in no row (the kernel's
  // constraints keep every real key block inside it).
  Value block = mapping.lookup(op.getBlock());
  Value zero = arith::ConstantOp::create(b, loc(), b.getI32IntegerAttr(0));
  Value inRange = arith::AndIOp::create(
      b, loc(),
      arith::CmpIOp::create(b, loc(), arith::CmpIPredicate::sge, block, zero),
      arith::CmpIOp::create(
          b, loc(), arith::CmpIPredicate::slt, block,
          arith::ConstantOp::create(b, loc(),
                                    b.getI32IntegerAttr(kMaxKeyBlocks))));
  Value safe = arith::SelectOp::create(b, loc(), inRange, block, zero);
  Value first = arith::IndexCastOp::create(
      b, loc(), b.getIndexType(),
      memref::LoadOp::create(
          b, loc(), table,
          ValueRange{arith::IndexCastOp::create(b, loc(), b.getIndexType(),
                                                safe)}));
  Value listed =
      arith::CmpIOp::create(b, loc(), arith::CmpIPredicate::slt, first, bound);
  mapping.map(op.getResult(),
              arith::AndIOp::create(b, loc(), inRange, listed));
  return success();
}

LogicalResult GridLowering::lowerGridTerminator(scf::InParallelOp terminator) {
  for (Operation &op : terminator.getYieldingOps()) {
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(&op);
    if (!insert)
      return op.emitOpError("cannot be lowered into a kernel's output");
    Value dest = mapping.lookupOrNull(insert.getDest());
    if (Value written = mapping.lookupOrNull(insert.getSource());
        written && isGlobal(written.getType())) {
      if (!isSlabOf(insert.getSource(), insert))
        return insert.emitOpError("inserts rows written in place that are "
                                  "not the slab of the output it names");
      continue;
    }
    auto [tile, rows, columns] = rowSlices.lookup(insert.getSource());
    if (!dest || !tile)
      return insert.emitOpError("must insert rows [0, n) of a tile into an "
                                "output of the grid");
    SmallVector<Value> offsets = loweredOffsets(insert);
    bool isRowVector = cast<VectorType>(tile.getType()) ==
                       rowVectorType(b.getContext(), layout);
    if (offsets.size() == 3 && isRowVector) {
      tiles().storeRowVector(tile, rows, dest, offsets[0], offsets[1],
                             offsets[2]);
      continue;
    }
    if (offsets.size() != 4 || isRowVector ||
        getConstantIntValue(insert.getMixedOffsets()[3]) != 0)
      return insert.emitOpError("must insert whole rows of a tile into a "
                                "[B, H, N, D] output or a row vector into a "
                                "[B, H, N] one");
    tiles().storeTileRows(tile, rows, dest, offsets[0], offsets[1],
                          offsets[2]);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

LogicalResult GridLowering::lowerBlock(Block &block) {
  for (Operation &op : block.without_terminator())
    if (failed(lowerOp(&op)))
      return failure();
  return success();
}

Value GridLowering::resolve(Value value, IRMapping &map) {
  if (Value lowered = map.lookupOrNull(value))
    return lowered;
  return mapping.lookupOrNull(value);
}

LogicalResult GridLowering::lowerScalar(Operation *op, IRMapping &map) {
  SmallVector<Value> operands;
  for (Value operand : op->getOperands()) {
    Value lowered = resolve(operand, map);
    if (!lowered)
      return op->emitOpError("uses a value the GPU lowering has not mapped");
    operands.push_back(lowered);
  }
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    if (!isa<MemRefType>(operands[0].getType()))
      return op->emitOpError("must take the size of a function argument");
    map.map(dim.getResult(),
            memref::DimOp::create(b, loc(), operands[0], operands[1]));
    return success();
  }
  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    if (!isa<MemRefType>(operands[0].getType()))
      return op->emitOpError("must read an element of a function argument");
    map.map(extract.getResult(),
            memref::LoadOp::create(b, loc(), operands[0],
                                   ArrayRef<Value>(operands).drop_front()));
    return success();
  }
  bool scalarOp =
      op->getNumRegions() == 0 &&
      isa<arith::ArithDialect, math::MathDialect, index::IndexDialect>(
          op->getDialect()) &&
      llvm::all_of(op->getOperandTypes(), isScalar) &&
      llvm::all_of(op->getResultTypes(), isScalar);
  if (!scalarOp)
    return op->emitOpError("cannot be lowered by sparse-attn-to-gpu");
  Operation *clone = b.clone(*op);
  clone->setOperands(operands);
  for (auto [from, to] : llvm::zip(op->getResults(), clone->getResults()))
    map.map(from, to);
  return success();
}

FailureOr<Type> GridLowering::convertType(Type type, Operation *user) {
  if (isScalar(type))
    return type;
  if (isScheduleList(type))
    return Type(MemRefType::get(
        {kMaxListEntries}, IntegerType::get(b.getContext(), 32),
        MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(),
                                   gpu::AddressSpace::Workgroup)));
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (isRowRecord(type, tileRows))
    return Type(MemRefType::get(
        {tileRows * kMaxRecordedTiles}, tensor.getElementType(),
        MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(),
                                   gpu::AddressSpace::Workgroup)));
  if (isHistogram(type, tileRows))
    return Type(MemRefType::get(
        {tileRows * histogramRowStride(tensor.getDimSize(1))},
        tensor.getElementType(),
        MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(),
                                   gpu::AddressSpace::Workgroup)));
  if (tensor && tensor.getElementType().isF32() && tensor.hasStaticShape() &&
      tensor.getDimSize(0) == tileRows) {
    if (tensor.getRank() == 1)
      return Type(rowVectorType(b.getContext(), layout));
    if (tensor.getRank() == 2 && tensor.getDimSize(1) % 8 == 0)
      return Type(
          accumulatorType(b.getContext(), layout, tensor.getDimSize(1)));
  }
  return user->emitOpError("carries a value of type ")
         << type << " that has no register form on the GPU";
}

LogicalResult GridLowering::lowerOp(Operation *op) {
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](arith::ConstantOp constant) -> LogicalResult {
        auto splat = dyn_cast<SplatElementsAttr>(constant.getValue());
        if (isScalar(constant.getType()))
          return lowerScalar(op, mapping);
        if (!splat)
          return op->emitOpError("is a tensor constant that is not a splat");
        FailureOr<Type> type = convertType(constant.getType(), op);
        if (failed(type))
          return failure();
        if (auto histogramType = dyn_cast<MemRefType>(*type)) {
          mapping.map(constant.getResult(),
                      lowerHistogramConstant(constant, histogramType));
          return success();
        }
        auto vectorType = cast<VectorType>(*type);
        mapping.map(constant.getResult(),
                    arith::ConstantOp::create(
                        b, loc(),
                        SplatElementsAttr::get(
                            vectorType, splat.getSplatValue<Attribute>())));
        return success();
      })
      .Case([&](tensor::EmptyOp empty) -> LogicalResult {
        if (isScheduleList(empty.getType())) {
          // A schedule list (key tiles to visit): a region of shared
          // memory, written by thread 0 and read after a barrier.
          auto type = cast<MemRefType>(*convertType(empty.getType(), op));
          Value offset = arith::ConstantIndexOp::create(
              b, loc(), listsOffset + nextList++ * kMaxListEntries * 4);
          mapping.map(empty.getResult(),
                      memref::ViewOp::create(b, loc(), type, sharedBase,
                                             offset, ValueRange{}));
          return success();
        }
        if (isRowRecord(empty.getType(), tileRows)) {
          // A record of per-tile row vectors: a region of shared memory
          // (kMaxRecordedTiles columns, a manifest constraint).
          auto type = cast<MemRefType>(*convertType(empty.getType(), op));
          Value offset = arith::ConstantIndexOp::create(
              b, loc(),
              recordsOffset + nextRecord++ * type.getNumElements() * 4);
          mapping.map(empty.getResult(),
                      memref::ViewOp::create(b, loc(), type, sharedBase,
                                             offset, ValueRange{}));
          return success();
        }
        // Otherwise only as the grid's outputs, which the kernel's output
        // arguments replace.
        for (Operation *user : op->getUsers())
          if (user != grid.getOperation())
            return op->emitOpError("is used other than as a grid output");
        return success();
      })
      .Case([&](tensor::InsertOp insert) -> LogicalResult {
        Value list = mapping.lookupOrNull(insert.getDest());
        if (!list || !isa<MemRefType>(list.getType()) ||
            insert.getIndices().size() != 1)
          return insert.emitOpError("must append to a schedule list");
        Value first = arith::CmpIOp::create(
            b, loc(), arith::CmpIPredicate::eq, ids.thread,
            arith::ConstantIndexOp::create(b, loc(), 0));
        auto ifOp = scf::IfOp::create(b, loc(), first, /*withElseRegion=*/false);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          memref::StoreOp::create(b, loc(),
                                  mapping.lookup(insert.getScalar()), list,
                                  mapping.lookup(insert.getIndices()[0]));
        }
        mapping.map(insert.getResult(), list);
        return success();
      })
      .Case([&](IndexRowContainsOp contains) {
        return lowerIndexRowContains(contains);
      })
      .Case([&](LoadTileOp load) { return lowerLoadTile(load); })
      .Case([&](LoadScoreChunkOp load) {
        Value scale = arith::ConstantOp::create(b, loc(), load.getScaleAttr());
        mapping.map(load.getResult(),
                    tiles().loadChunk(mapping.lookup(load.getSource()),
                                      mapping.lookup(load.getRow()),
                                      mapping.lookup(load.getCol()), scale,
                                      load.getType().getDimSize(1)));
        return success();
      })
      .Case([&](ScoreTileOp score) { return lowerScoreTile(score); })
      .Case<OnlineSoftmaxOp, OnlineLogSumExpOp>([&](auto step) -> LogicalResult {
        const SharedTile *values = nullptr;
        Value acc;
        Type elementType;
        if constexpr (std::is_same_v<decltype(step), OnlineSoftmaxOp>) {
          auto it = sharedTiles.find(step.getValue());
          if (it == sharedTiles.end())
            return step.emitOpError("takes a value tile that is not streamed "
                                    "by its key loop");
          values = &it->second;
          acc = mapping.lookup(step.getAcc());
          elementType = step.getValue().getType().getElementType();
        }
        SmallVector<Value> results = tiles().onlineSoftmax(
            mapping.lookup(step.getScores()), values,
            mapping.lookup(step.getMax()), mapping.lookup(step.getSum()), acc,
            elementType);
        for (auto [from, to] : llvm::zip(step->getResults(), results))
          mapping.map(from, to);
        return success();
      })
      .Case([&](SoftmaxFinalizeOp finalize) -> LogicalResult {
        auto [output, logSumExp] = tiles().softmaxFinalize(
            mapping.lookup(finalize.getMax()), mapping.lookup(finalize.getSum()),
            mapping.lookup(finalize.getAcc()),
            mapping.lookup(finalize.getRows()), finalize.getUnnormalized(),
            finalize.getOutput().getType().getElementType());
        mapping.map(finalize.getOutput(), output);
        mapping.map(finalize.getLogsumexp(), logSumExp);
        return success();
      })
      .Case([&](ElasticTileLiveOp live) {
        mapping.map(live.getResult(),
                    tiles().elasticTileLive(
                        mapping.lookup(live.getTileMax()),
                        mapping.lookup(live.getMax()),
                        mapping.lookup(live.getSum()),
                        mapping.lookup(live.getTau()),
                        mapping.lookup(live.getPosition())));
        return success();
      })
      .Case([&](ElasticAccumulateOp accumulate) -> LogicalResult {
        auto values = sharedTiles.find(accumulate.getValue());
        if (values == sharedTiles.end())
          return accumulate.emitOpError("takes a value tile that is not "
                                        "streamed by its key loop");
        mapping.map(accumulate.getResult(),
                    tiles().elasticAccumulate(
                        mapping.lookup(accumulate.getScores()), values->second,
                        mapping.lookup(accumulate.getMax()),
                        mapping.lookup(accumulate.getSum()),
                        mapping.lookup(accumulate.getAcc()),
                        mapping.lookup(accumulate.getTau()),
                        mapping.lookup(accumulate.getPosition()),
                        accumulate.getValue().getType().getElementType()));
        return success();
      })
      .Case<RowMaxOp, EntmaxHistogramOp, EntmaxThresholdInitOp,
            EntmaxMomentsOp, EntriesBetweenOp, EntmaxThresholdStepOp,
            AnyAboveOp,
            EntmaxAccumulateOp, EntmaxWeightsOp, EntmaxFinalizeOp>(
          [&](Operation *entmaxOp) { return lowerEntmaxOp(entmaxOp); })
      .Case([&](tensor::InsertSliceOp insert) -> LogicalResult {
        Value slab = mapping.lookupOrNull(insert.getDest());
        if (slab && isGlobal(slab.getType())) {
          auto it = rowSlices.find(insert.getSource());
          if (it == rowSlices.end() || !it->second.columns ||
              !insert.hasUnitStride())
            return insert.emitOpError("must store the leading rows and "
                                      "columns of a chunk into a slab of an "
                                      "output");
          SmallVector<Value> offsets = loweredOffsets(insert);
          tiles().storeChunk(it->second.tile, slab,
                             it->second.rows, it->second.columns, offsets[0],
                             offsets[1]);
          mapping.map(insert.getResult(), slab);
          return success();
        }
        Value record = slab;
        std::optional<Value> column = recordColumn(insert);
        if (!record || !column)
          return insert.emitOpError("must write one column of a record of "
                                    "row vectors");
        tiles().storeRecord(mapping.lookup(insert.getSource()), record,
                            *column);
        mapping.map(insert.getResult(), record);
        return success();
      })
      .Case([&](tensor::ExtractSliceOp slice) -> LogicalResult {
        if (isRowRecord(slice.getSourceType(), tileRows)) {
          std::optional<Value> column = recordColumn(slice);
          if (!column)
            return slice.emitOpError("must read one column of a record of "
                                     "row vectors");
          mapping.map(slice.getResult(),
                      tiles().loadRecord(mapping.lookup(slice.getSource()),
                                         *column));
          return success();
        }
        Value tile = mapping.lookupOrNull(slice.getSource());
        if (tile && isGlobal(tile.getType())) {
          // A slab of an output, written in place by the ops that insert
          // into it.
          SmallVector<OpFoldResult> parts[3] = {slice.getMixedOffsets(),
                                                slice.getMixedSizes(),
                                                slice.getMixedStrides()};
          for (SmallVector<OpFoldResult> &part : parts)
            for (OpFoldResult &folded : part)
              if (auto value = dyn_cast<Value>(folded))
                folded = mapping.lookup(value);
          mapping.map(slice.getResult(),
                      memref::SubViewOp::create(b, loc(), tile, parts[0],
                                                parts[1], parts[2]));
          return success();
        }
        bool leading =
            llvm::all_of(slice.getMixedOffsets(),
                         [](OpFoldResult o) { return isZeroInteger(o); }) &&
            slice.hasUnitStride();
        if (!tile || !leading)
          return slice.emitOpError("must take the leading rows of a tile");
        auto size = [&](OpFoldResult folded) {
          Value value = getValueOrCreateConstantIndexOp(b, loc(), folded);
          if (Value lowered = mapping.lookupOrNull(value))
            return lowered;
          return value;
        };
        SmallVector<OpFoldResult> sizes = slice.getMixedSizes();
        rowSlices[slice.getResult()] = {
            tile, size(sizes[0]),
            sizes.size() == 2 ? size(sizes[1]) : Value()};
        return success();
      })
      .Case([&](scf::ForOp loop) {
        // A record in shared memory starts again with each execution of
        // the loop that carries it from its constant.
        for (Value init : loop.getInitArgs())
          if (auto constant = init.getDefiningOp<arith::ConstantOp>();
              constant && isHistogram(init.getType(), tileRows))
            fillRecord(constant);
        return loop->hasAttr(kKeyPassAttr) ? lowerKeyLoop(loop)
                                           : lowerFor(loop);
      })
      .Case([&](scf::IfOp ifOp) { return lowerIf(ifOp); })
      .Case([&](scf::WhileOp whileOp) { return lowerWhile(whileOp); })
      .Default([&](Operation *other) { return lowerScalar(other, mapping); });
}

std::optional<Value>
GridLowering::recordColumn(OffsetSizeAndStrideOpInterface slice) {
  SmallVector<OpFoldResult> offsets = slice.getMixedOffsets();
  SmallVector<OpFoldResult> sizes = slice.getMixedSizes();
  if (offsets.size() != 2 || !isZeroInteger(offsets[0]) ||
      getConstantIntValue(sizes[0]) != tileRows ||
      getConstantIntValue(sizes[1]) != 1 || !slice.hasUnitStride())
    return std::nullopt;
  return loweredIndex(offsets[1]);
}

Value GridLowering::loweredIndex(OpFoldResult index) {
  Value value = getValueOrCreateConstantIndexOp(b, loc(), index);
  if (Value lowered = mapping.lookupOrNull(value))
    return lowered;
  return value;
}

SmallVector<Value>
GridLowering::loweredOffsets(OffsetSizeAndStrideOpInterface slice) {
  return llvm::map_to_vector(slice.getMixedOffsets(), [&](OpFoldResult offset) {
    return loweredIndex(offset);
  });
}

Value GridLowering::lowerHistogramConstant(arith::ConstantOp constant,
                                           MemRefType type) {
  return memref::ViewOp::create(
      b, loc(), type, sharedBase,
      arith::ConstantIndexOp::create(
          b, loc(),
          histogramsOffset +
              histogramRegionOf.lookup(constant) * histogramBytes),
      ValueRange{});
}

void GridLowering::fillRecord(arith::ConstantOp constant) {
  auto index = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc(), v);
  };
  Value region = mapping.lookup(constant.getResult());
  Value fill = arith::ConstantOp::create(
      b, loc(),
      cast<SplatElementsAttr>(constant.getValue()).getSplatValue<IntegerAttr>());
  gpu::BarrierOp::create(b, loc());
  scf::ForOp::create(
      b, loc(), ids.thread,
      index(cast<MemRefType>(region.getType()).getNumElements()),
      index(layout.numThreads()), ValueRange{},
      [&](OpBuilder &nb, Location nl, Value slot, ValueRange) {
        memref::StoreOp::create(nb, nl, fill, region, slot);
        scf::YieldOp::create(nb, nl);
      });
  gpu::BarrierOp::create(b, loc());
}

LogicalResult GridLowering::lowerEntmaxOp(Operation *op) {
  WarpTiles warp = tiles();
  auto lookup = [&](Value value) { return mapping.lookup(value); };
  auto mapResults = [&](ValueRange results) {
    for (auto [from, to] : llvm::zip_equal(op->getResults(), results))
      mapping.map(from, to);
    return success();
  };
  auto valueTile = [&](Value value) -> const SharedTile * {
    auto it = sharedTiles.find(value);
    if (it == sharedTiles.end()) {
      op->emitOpError("takes a value tile that is not streamed by its key "
                      "loop");
      return nullptr;
    }
    return &it->second;
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](RowMaxOp rowMax) {
        auto [max, count] = warp.rowMax(lookup(rowMax.getScores()),
                                        lookup(rowMax.getMax()),
                                        lookup(rowMax.getCount()));
        return mapResults({max, count});
      })
      .Case([&](EntmaxHistogramOp histogram) -> LogicalResult {
        // Updated in place: the old value must have no other reader.
        if (!histogram.getHistogram().hasOneUse())
          return histogram.emitOpError(
              "reads a histogram that another op also reads; the GPU "
              "lowering updates histograms in place");
        Value bins = lookup(histogram.getHistogram());
        warp.entmaxHistogram(lookup(histogram.getScores()),
                             lookup(histogram.getMax()), bins,
                             histogram.getHistogram().getType().getDimSize(1));
        return mapResults({bins});
      })
      .Case([&](EntmaxThresholdInitOp init) {
        Value bins;
        int64_t numBins = 0;
        if (Value histogram = init.getHistogram()) {
          bins = lookup(histogram);
          numBins = cast<RankedTensorType>(histogram.getType()).getDimSize(1);
        }
        return mapResults(warp.entmaxThresholdInit(
            init.getConfig(), lookup(init.getMax()), lookup(init.getCount()),
            bins, numBins));
      })
      .Case([&](EntmaxMomentsOp moments) {
        return mapResults(warp.entmaxMoments(
            moments.getConfig(), lookup(moments.getScores()),
            lookup(moments.getThreshold()), lookup(moments.getS0()),
            lookup(moments.getS1()), lookup(moments.getS2())));
      })
      .Case([&](EntriesBetweenOp between) -> LogicalResult {
        if (!between.getGap().hasOneUse())
          return between.emitOpError(
              "reads a gap record that another op also reads; the GPU "
              "lowering updates gap records in place");
        Value gap = lookup(between.getGap());
        warp.entriesBetween(lookup(between.getScores()),
                            lookup(between.getLower()),
                            lookup(between.getUpper()), gap,
                            between.getGap().getType().getDimSize(1) - 1);
        return mapResults({gap});
      })
      .Case([&](EntmaxThresholdStepOp step) {
        Value gap;
        int64_t capacity = 0;
        if (Value record = step.getGap()) {
          gap = lookup(record);
          capacity = cast<RankedTensorType>(record.getType()).getDimSize(1) - 1;
        }
        return mapResults(warp.entmaxThresholdStep(
            step.getConfig(), lookup(step.getThreshold()),
            lookup(step.getLower()), lookup(step.getUpper()),
            lookup(step.getS0()), lookup(step.getS1()), lookup(step.getS2()),
            gap, capacity));
      })
      .Case([&](AnyAboveOp anyAbove) {
        return mapResults({warp.anyAbove(lookup(anyAbove.getScores()),
                                         lookup(anyAbove.getThreshold()))});
      })
      .Case([&](EntmaxAccumulateOp accumulate) -> LogicalResult {
        const SharedTile *values = valueTile(accumulate.getValue());
        if (!values)
          return failure();
        auto [acc, sum] = warp.entmaxAccumulate(
            accumulate.getConfig(), lookup(accumulate.getScores()), *values,
            lookup(accumulate.getThreshold()), lookup(accumulate.getAcc()),
            lookup(accumulate.getSum()),
            accumulate.getValue().getType().getElementType());
        return mapResults({acc, sum});
      })
      .Case([&](EntmaxWeightsOp weights) {
        return mapResults({warp.entmaxWeights(
            weights.getConfig(), lookup(weights.getScores()),
            lookup(weights.getThreshold()), lookup(weights.getSum()),
            weights.getType().getElementType())});
      })
      .Case([&](EntmaxFinalizeOp finalize) {
        auto [output, statistic] = warp.entmaxFinalize(
            lookup(finalize.getThreshold()), lookup(finalize.getSum()),
            lookup(finalize.getAcc()), lookup(finalize.getRows()),
            finalize.getOutput().getType().getElementType());
        return mapResults({output, statistic});
      })
      .Default([](Operation *other) {
        return other->emitOpError("is not an entmax tile op");
      });
}

SharedTile GridLowering::sharedView(int64_t byteOffset, Value dynamicOffset,
                                    RankedTensorType tileType) {
  // All of shared memory as elements of the tile's type (one view per type,
  // at the kernel's entry), and the tile's element offset in it.
  Type elementType = tileType.getElementType();
  int64_t elementBytes = tileType.getElementTypeBitWidth() / 8;
  Value &memory = sharedMemories[elementType];
  if (!memory) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointAfterValue(sharedBase);
    auto type = MemRefType::get(
        {sharedBytes / elementBytes}, elementType, MemRefLayoutAttrInterface(),
        gpu::AddressSpaceAttr::get(b.getContext(),
                                   gpu::AddressSpace::Workgroup));
    memory = memref::ViewOp::create(
        b, loc(), type, sharedBase,
        arith::ConstantIndexOp::create(b, loc(), 0), ValueRange{});
  }
  Value offset =
      arith::ConstantIndexOp::create(b, loc(), byteOffset / elementBytes);
  if (dynamicOffset)
    offset = arith::AddIOp::create(
        b, loc(), offset,
        arith::DivUIOp::create(
            b, loc(), dynamicOffset,
            arith::ConstantIndexOp::create(b, loc(), elementBytes)));
  return {memory, offset, tileType.getDimSize(0), tileType.getDimSize(1)};
}

void GridLowering::waitForTile(const SharedTile &tile) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc(), 0);
  if (tile.elementType().isF32() && !exactF32)
    tiles().roundToTF32(tile);
  gpu::BarrierOp::create(b, loc());
}

SharedTile GridLowering::slotView(LoadTileOp load, Value slot) {
  Value slotOffset = arith::MulIOp::create(
      b, loc(), slot, arith::ConstantIndexOp::create(b, loc(), slotBytes));
  return sharedView(operandBytes, slotOffset, load.getType());
}

Value GridLowering::sequenceExtent(Value source) {
  return memref::DimOp::create(b, loc(), mapping.lookup(source), 2);
}

LogicalResult GridLowering::lowerLoadTile(LoadTileOp load) {
  if (sharedTiles.count(load.getResult()))
    return success(); // issued by its key loop
  if (enclosingKeyLoop(load))
    return lowerConditionalLoad(load);
  for (OpOperand &use : load->getUses()) {
    auto score = dyn_cast<ScoreTileOp>(use.getOwner());
    if (!score || use.getOperandNumber() != 0)
      return load.emitOpError("loads a tile outside a key loop that is not "
                              "the query of a score tile");
  }
  // The query tile: staged through shared memory, then held in registers as
  // A fragments for the whole grid point.
  SharedTile staging = sharedView(0, Value(), load.getType());
  tiles().copyTileAsync(mapping.lookup(load.getSource()),
                        mapping.lookup(load.getBatch()),
                        mapping.lookup(load.getHead()),
                        mapping.lookup(load.getRow()),
                        sequenceExtent(load.getSource()), staging);
  NVVM::CpAsyncCommitGroupOp::create(b, loc());
  waitForTile(staging);
  Operand operand{Value(), staging};
  if (operandFitsRegisters(staging.elementType(), layout, staging.width))
    operand.registers = tiles().loadOperand(staging);
  operands[load.getResult()] = operand;
  return success();
}

LogicalResult GridLowering::lowerConditionalLoad(LoadTileOp load) {
  // The tiles of one conditional block take the slots in turn; the barrier
  // before each copy keeps it from overwriting a slot still being read.
  int64_t position = 0;
  for (Operation &op : *load->getBlock()) {
    if (&op == load.getOperation())
      break;
    position += isa<LoadTileOp>(op);
  }
  Value slot = arith::ConstantIndexOp::create(b, loc(), position % 2);
  SharedTile tile = slotView(load, slot);
  gpu::BarrierOp::create(b, loc());
  tiles().copyTileAsync(mapping.lookup(load.getSource()),
                        mapping.lookup(load.getBatch()),
                        mapping.lookup(load.getHead()),
                        mapping.lookup(load.getRow()),
                        sequenceExtent(load.getSource()), tile);
  NVVM::CpAsyncCommitGroupOp::create(b, loc());
  waitForTile(tile);
  sharedTiles[load.getResult()] = tile;
  return success();
}

FailureOr<Value> GridLowering::scaledProducts(ScoreTileOp op) {
  auto keys = sharedTiles.find(op.getKey());
  if (keys == sharedTiles.end())
    return op.emitOpError("takes a key tile that is not streamed by its key "
                          "loop");
  auto query = operands.find(op.getQuery());
  if (query == operands.end())
    return op.emitOpError("takes a query tile that is not loaded before its "
                          "key loop");
  Type elementType = op.getKey().getType().getElementType();
  WarpTiles warp = tiles();
  Value scores = warp.scoreProducts(query->second, keys->second, elementType);
  Value factor = arith::ConstantOp::create(b, loc(), op.getScaleAttr());
  if (scaleValue)
    factor = arith::MulFOp::create(b, loc(), factor, scaleValue);
  scores = warp.scaleTile(scores, factor);
  if (!op.getBias())
    return scores;
  // bias_scale * bias[head, i + diagonal - j] where 0 <= i + diagonal - j <
  // W: only entries near the diagonal load (predicated, L1-resident).
  Value bias = mapping.lookup(op.getBias());
  Value head = mapping.lookup(op.getBiasHead());
  Value diagonal = mapping.lookup(op.getBiasDiagonal());
  Value width = memref::DimOp::create(b, loc(), bias, 1);
  Value biasScale = arith::ConstantOp::create(b, loc(), op.getBiasScaleAttr());
  Type biasType = op.getBias().getType().getElementType();
  return warp.addToTile(
      scores, mapping.lookup(op.getRowOffset()),
      mapping.lookup(op.getColOffset()),
      [&](OpBuilder &nb, Location nl, Value i, Value j) -> Value {
        Value distance = arith::SubIOp::create(
            nb, nl, arith::AddIOp::create(nb, nl, i, diagonal), j);
        Value inBand = arith::AndIOp::create(
            nb, nl,
            arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sge, distance,
                                  arith::ConstantIndexOp::create(nb, nl, 0)),
            arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, distance,
                                  width));
        auto ifOp = scf::IfOp::create(nb, nl, nb.getF32Type(), inBand,
                                      /*withElseRegion=*/true);
        OpBuilder::InsertionGuard guard(nb);
        nb.setInsertionPointToStart(ifOp.thenBlock());
        Value term = memref::LoadOp::create(nb, nl, bias,
                                            ValueRange{head, distance});
        if (!biasType.isF32())
          term = arith::ExtFOp::create(nb, nl, nb.getF32Type(), term);
        scf::YieldOp::create(nb, nl,
                             arith::MulFOp::create(nb, nl, term, biasScale)
                                 .getResult());
        nb.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(
            nb, nl,
            arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(0.0))
                .getResult());
        return ifOp.getResult(0);
      });
}

FailureOr<Value> GridLowering::applyVisibility(ScoreTileOp op, Value scores) {
  if (!op.isMasked())
    return scores;
  Block &region = op.getVisible().front();
  LogicalResult status = success();
  Value masked = tiles().maskTile(
      scores, mapping.lookup(op.getRowOffset()),
      mapping.lookup(op.getColOffset()),
      [&](OpBuilder &, Location, Value i, Value j) -> Value {
        IRMapping local;
        local.map(region.getArgument(0), i);
        local.map(region.getArgument(1), j);
        for (Operation &inner : region.without_terminator())
          if (failed(lowerScalar(&inner, local))) {
            status = failure();
            return arith::ConstantOp::create(b, loc(), b.getBoolAttr(false));
          }
        return resolve(op.getVisibleCondition(), local);
      });
  if (failed(status))
    return failure();
  return masked;
}

LogicalResult GridLowering::lowerScoreTile(ScoreTileOp op) {
  FailureOr<Value> scores = scaledProducts(op);
  if (failed(scores))
    return failure();
  FailureOr<Value> visible = applyVisibility(op, *scores);
  if (failed(visible))
    return failure();
  mapping.map(op.getResult(), *visible);
  return success();
}

FailureOr<bool> GridLowering::lowerScoreSelection(scf::IfOp ifOp) {
  // Each branch: scalar ops (the mask's block tests), then the score tile
  // it yields.
  auto yieldedScoreTile = [](Region &region) -> ScoreTileOp {
    if (region.empty())
      return {};
    auto yield = cast<scf::YieldOp>(region.front().getTerminator());
    if (yield.getNumOperands() != 1)
      return {};
    auto score = yield.getOperand(0).getDefiningOp<ScoreTileOp>();
    if (!score || score->getBlock() != &region.front())
      return {};
    for (Operation &op : region.front().without_terminator())
      if (&op != score.getOperation() &&
          (op.getNumRegions() != 0 ||
           !llvm::all_of(op.getResultTypes(), isScalar)))
        return {};
    return score;
  };
  if (ifOp.getNumResults() != 1)
    return false;
  ScoreTileOp full = yieldedScoreTile(ifOp.getThenRegion());
  ScoreTileOp partial = yieldedScoreTile(ifOp.getElseRegion());
  if (!full || !partial || full.getQuery() != partial.getQuery() ||
      full.getKey() != partial.getKey() ||
      full.getRowOffset() != partial.getRowOffset() ||
      full.getColOffset() != partial.getColOffset() ||
      full.getScaleAttr() != partial.getScaleAttr() ||
      full.getBias() != partial.getBias() ||
      full.getBiasHead() != partial.getBiasHead() ||
      full.getBiasDiagonal() != partial.getBiasDiagonal() ||
      full.getBiasScaleAttr() != partial.getBiasScaleAttr())
    return false;
  FailureOr<Value> scores = scaledProducts(full);
  if (failed(scores))
    return failure();
  auto newIf = scf::IfOp::create(b, loc(), TypeRange{scores->getType()},
                                 mapping.lookup(ifOp.getCondition()),
                                 /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  for (auto [from, to, score] :
       {std::tuple{&ifOp.getThenRegion(), &newIf.getThenRegion(), full},
        std::tuple{&ifOp.getElseRegion(), &newIf.getElseRegion(), partial}}) {
    Block *block = &to->front();
    eraseTerminator(block);
    b.setInsertionPointToEnd(block);
    for (Operation &op : from->front().without_terminator())
      if (&op != score.getOperation() && failed(lowerOp(&op)))
        return failure();
    FailureOr<Value> visible = applyVisibility(score, *scores);
    if (failed(visible))
      return failure();
    scf::YieldOp::create(b, loc(), *visible);
  }
  mapping.map(ifOp.getResult(0), newIf.getResult(0));
  return true;
}

//===----------------------------------------------------------------------===//
// Control flow
//===----------------------------------------------------------------------===//

LogicalResult GridLowering::lowerFor(scf::ForOp loop) {
  SmallVector<Value> inits;
  for (Value init : loop.getInitArgs()) {
    // A slab of an output is carried as its memref (written in place).
    Value lowered = mapping.lookup(init);
    if (!isGlobal(lowered.getType()) &&
        failed(convertType(init.getType(), loop)))
      return failure();
    inits.push_back(lowered);
  }
  auto newLoop = scf::ForOp::create(
      b, loc(), mapping.lookup(loop.getLowerBound()),
      mapping.lookup(loop.getUpperBound()), mapping.lookup(loop.getStep()),
      inits);
  OpBuilder::InsertionGuard guard(b);
  eraseTerminator(newLoop.getBody());
  b.setInsertionPointToStart(newLoop.getBody());
  mapping.map(loop.getInductionVar(), newLoop.getInductionVar());
  for (auto [from, to] :
       llvm::zip(loop.getRegionIterArgs(), newLoop.getRegionIterArgs()))
    mapping.map(from, to);
  if (failed(lowerBlock(*loop.getBody())))
    return failure();
  SmallVector<Value> yielded;
  for (Value value : loop.getYieldedValues())
    yielded.push_back(mapping.lookup(value));
  scf::YieldOp::create(b, loc(), yielded);
  for (auto [from, to] : llvm::zip(loop.getResults(), newLoop.getResults()))
    mapping.map(from, to);
  return success();
}

LogicalResult GridLowering::lowerIf(scf::IfOp ifOp) {
  FailureOr<bool> selection = lowerScoreSelection(ifOp);
  if (failed(selection))
    return failure();
  if (*selection)
    return success();
  SmallVector<Type> types;
  for (Type type : ifOp.getResultTypes()) {
    FailureOr<Type> converted = convertType(type, ifOp);
    if (failed(converted))
      return failure();
    types.push_back(*converted);
  }
  auto newIf = scf::IfOp::create(b, loc(), types,
                                 mapping.lookup(ifOp.getCondition()),
                                 /*withElseRegion=*/!ifOp.getElseRegion().empty());
  auto lowerBranch = [&](Region &from, Region &to) -> LogicalResult {
    if (from.empty())
      return success();
    OpBuilder::InsertionGuard guard(b);
    Block *block = &to.front();
    eraseTerminator(block);
    b.setInsertionPointToEnd(block);
    if (failed(lowerBlock(from.front())))
      return failure();
    SmallVector<Value> yielded;
    for (Value value : from.front().getTerminator()->getOperands())
      yielded.push_back(mapping.lookup(value));
    scf::YieldOp::create(b, loc(), yielded);
    return success();
  };
  if (failed(lowerBranch(ifOp.getThenRegion(), newIf.getThenRegion())) ||
      failed(lowerBranch(ifOp.getElseRegion(), newIf.getElseRegion())))
    return failure();
  for (auto [from, to] : llvm::zip(ifOp.getResults(), newIf.getResults()))
    mapping.map(from, to);
  return success();
}

LogicalResult GridLowering::lowerWhile(scf::WhileOp whileOp) {
  SmallVector<Type> beforeTypes, afterTypes;
  for (Type type : whileOp.getInits().getTypes()) {
    FailureOr<Type> converted = convertType(type, whileOp);
    if (failed(converted))
      return failure();
    beforeTypes.push_back(*converted);
  }
  for (Type type : whileOp.getResultTypes()) {
    FailureOr<Type> converted = convertType(type, whileOp);
    if (failed(converted))
      return failure();
    afterTypes.push_back(*converted);
  }
  SmallVector<Value> inits;
  for (Value init : whileOp.getInits())
    inits.push_back(mapping.lookup(init));
  auto newWhile = scf::WhileOp::create(b, loc(), afterTypes, inits);
  OpBuilder::InsertionGuard guard(b);
  SmallVector<Location> beforeLocs(beforeTypes.size(), loc());
  SmallVector<Location> afterLocs(afterTypes.size(), loc());
  Block *before = b.createBlock(&newWhile.getBefore(), {}, beforeTypes,
                                beforeLocs);
  for (auto [from, to] :
       llvm::zip(whileOp.getBeforeArguments(), before->getArguments()))
    mapping.map(from, to);
  if (failed(lowerBlock(*whileOp.getBeforeBody())))
    return failure();
  scf::ConditionOp condition = whileOp.getConditionOp();
  SmallVector<Value> forwarded;
  for (Value value : condition.getArgs())
    forwarded.push_back(mapping.lookup(value));
  Value more = mapping.lookup(condition.getCondition());
  if (iterationsValue && whileOp->hasAttr(kSolverLoopAttr)) {
    // The solver loop's first argument counts its passes.
    Value below =
        arith::CmpIOp::create(b, loc(), arith::CmpIPredicate::slt,
                              before->getArgument(0), iterationsValue);
    more = arith::AndIOp::create(b, loc(), more, below);
  }
  scf::ConditionOp::create(b, loc(), more, forwarded);
  Block *after =
      b.createBlock(&newWhile.getAfter(), {}, afterTypes, afterLocs);
  for (auto [from, to] :
       llvm::zip(whileOp.getAfterArguments(), after->getArguments()))
    mapping.map(from, to);
  if (failed(lowerBlock(*whileOp.getAfterBody())))
    return failure();
  SmallVector<Value> yielded;
  for (Value value : whileOp.getYieldOp().getOperands())
    yielded.push_back(mapping.lookup(value));
  scf::YieldOp::create(b, loc(), yielded);
  b.setInsertionPointAfter(newWhile);
  for (auto [from, to] : llvm::zip(whileOp.getResults(), newWhile.getResults()))
    mapping.map(from, to);
  return success();
}

//===----------------------------------------------------------------------===//
// Key loops: streaming key and value tiles through shared memory
//===----------------------------------------------------------------------===//

FailureOr<Value> GridLowering::materialize(Value value, scf::ForOp loop,
                                           Value inductionValue,
                                           IRMapping &local) {
  if (Value known = local.lookupOrNull(value))
    return known;
  Value result;
  Operation *def = value.getDefiningOp();
  if (value == loop.getInductionVar()) {
    result = inductionValue;
  } else if (auto arg = dyn_cast<BlockArgument>(value)) {
    // Loop-carried values are unknown ahead of their iteration.
    if (loop->isAncestor(arg.getOwner()->getParentOp()))
      return failure();
    result = mapping.lookupOrNull(value);
  } else if (!loop->isAncestor(def)) {
    result = mapping.lookupOrNull(value);
  } else {
    if (def->getNumRegions() != 0)
      return failure();
    for (Value operand : def->getOperands())
      if (failed(materialize(operand, loop, inductionValue, local)))
        return failure();
    if (failed(lowerScalar(def, local)))
      return failure();
    return local.lookup(value);
  }
  if (!result)
    return failure();
  local.map(value, result);
  return result;
}

LogicalResult GridLowering::issueStreamLoad(LoadTileOp load, scf::ForOp loop,
                                            Value inductionValue, Value slot) {
  IRMapping local;
  SmallVector<Value> position;
  for (Value operand : {load.getBatch(), load.getHead(), load.getRow()}) {
    FailureOr<Value> value = materialize(operand, loop, inductionValue, local);
    if (failed(value))
      return load.emitOpError("has a position that is not a function of its "
                              "key loop's induction variable");
    position.push_back(*value);
  }
  tiles().copyTileAsync(mapping.lookup(load.getSource()), position[0],
                        position[1], position[2],
                        sequenceExtent(load.getSource()), slotView(load, slot));
  return success();
}

LogicalResult GridLowering::lowerKeyLoop(scf::ForOp loop) {
  Block *body = loop.getBody();
  // The streamed tiles in the order their consumers need them; each is
  // consumed by one top-level op of the body (the first that uses it).
  struct Stream {
    LoadTileOp load;
    Operation *consumer;
  };
  SmallVector<Stream> streams;
  for (Operation &op : body->without_terminator()) {
    auto load = dyn_cast<LoadTileOp>(&op);
    if (!load)
      continue;
    Operation *consumer = nullptr;
    for (Operation *user : load->getUsers()) {
      Operation *ancestor = body->findAncestorOpInBlock(*user);
      if (!consumer || ancestor->isBeforeInBlock(consumer))
        consumer = ancestor;
    }
    if (!consumer)
      continue; // dead
    streams.push_back({load, consumer});
  }
  if (streams.empty())
    return lowerFor(loop);
  llvm::sort(streams, [](const Stream &x, const Stream &y) {
    return x.consumer->isBeforeInBlock(y.consumer);
  });
  for (size_t i = 1; i < streams.size(); ++i)
    if (streams[i].consumer == streams[i - 1].consumer)
      return streams[i].consumer->emitOpError(
          "consumes two streamed tiles; the GPU lowering streams one tile "
          "per consumer");

  // Element e of the stream (tile i of iteration k is element k n + i)
  // lives in slot e % 2: it is issued right after the barrier that makes
  // element e - 1 visible, when every warp is done with element e - 2.
  int64_t numStreams = streams.size();
  Value lower = mapping.lookup(loop.getLowerBound());
  Value upper = mapping.lookup(loop.getUpperBound());
  Value step = mapping.lookup(loop.getStep());
  gpu::BarrierOp::create(b, loc());
  {
    OpBuilder::InsertionGuard guard(b);
    Value any = arith::CmpIOp::create(b, loc(), arith::CmpIPredicate::slt,
                                      lower, upper);
    auto ifOp = scf::IfOp::create(b, loc(), any, /*withElseRegion=*/false);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value firstSlot = arith::ConstantIndexOp::create(b, loc(), 0);
    if (failed(issueStreamLoad(streams[0].load, loop, lower, firstSlot)))
      return failure();
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc());

  SmallVector<Value> inits;
  for (Value init : loop.getInitArgs()) {
    if (failed(convertType(init.getType(), loop)))
      return failure();
    inits.push_back(mapping.lookup(init));
  }
  auto newLoop = scf::ForOp::create(b, loc(), lower, upper, step, inits);
  OpBuilder::InsertionGuard guard(b);
  eraseTerminator(newLoop.getBody());
  b.setInsertionPointToStart(newLoop.getBody());
  Value iv = newLoop.getInductionVar();
  mapping.map(loop.getInductionVar(), iv);
  for (auto [from, to] :
       llvm::zip(loop.getRegionIterArgs(), newLoop.getRegionIterArgs()))
    mapping.map(from, to);

  // The parity of the iteration picks the slots when a single tile streams.
  Value iteration = arith::DivUIOp::create(
      b, loc(), arith::SubIOp::create(b, loc(), iv, lower), step);
  auto slotOf = [&](int64_t i, bool next) -> Value {
    int64_t element = i + (next ? numStreams : 0);
    if (numStreams % 2 == 0)
      return arith::ConstantIndexOp::create(b, loc(), element % 2);
    Value base = arith::MulIOp::create(
        b, loc(), iteration,
        arith::ConstantIndexOp::create(b, loc(), numStreams));
    Value e = arith::AddIOp::create(
        b, loc(), base, arith::ConstantIndexOp::create(b, loc(), element));
    return arith::RemUIOp::create(b, loc(),
                                  e, arith::ConstantIndexOp::create(b, loc(), 2));
  };
  for (Stream &stream : streams)
    sharedTiles[stream.load.getResult()] = {};

  size_t nextStream = 0;
  for (Operation &op : body->without_terminator()) {
    if (nextStream < streams.size() && &op == streams[nextStream].consumer) {
      Stream &stream = streams[nextStream];
      SharedTile &tile = sharedTiles[stream.load.getResult()];
      tile = slotView(stream.load, slotOf(nextStream, false));
      waitForTile(tile);
      if (nextStream + 1 < streams.size()) {
        if (failed(issueStreamLoad(streams[nextStream + 1].load, loop, iv,
                                   slotOf(nextStream + 1, false))))
          return failure();
      } else {
        // The last tile of the iteration: the first of the next one follows.
        OpBuilder::InsertionGuard inner(b);
        Value following = arith::AddIOp::create(b, loc(), iv, step);
        Value more = arith::CmpIOp::create(b, loc(), arith::CmpIPredicate::slt,
                                           following, upper);
        Value slot = slotOf(0, true);
        auto ifOp = scf::IfOp::create(b, loc(), more, /*withElseRegion=*/false);
        b.setInsertionPointToStart(ifOp.thenBlock());
        if (failed(issueStreamLoad(streams[0].load, loop, following, slot)))
          return failure();
      }
      NVVM::CpAsyncCommitGroupOp::create(b, loc());
      ++nextStream;
    }
    if (failed(lowerOp(&op)))
      return failure();
  }
  SmallVector<Value> yielded;
  for (Value value : loop.getYieldedValues())
    yielded.push_back(mapping.lookup(value));
  scf::YieldOp::create(b, loc(), yielded);
  b.setInsertionPointAfter(newLoop);
  for (auto [from, to] : llvm::zip(loop.getResults(), newLoop.getResults()))
    mapping.map(from, to);
  return success();
}

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

struct SparseAttnToGPUPass
    : public sparse_attn::impl::SparseAttnToGPUPassBase<SparseAttnToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<std::pair<func::FuncOp, scf::ForallOp>> kernels;
    // Functions of a block selection (a prefill estimator's kernel).
    SmallVector<std::pair<func::FuncOp, SelectBlocksOp>> selections;
    for (auto func : module.getOps<func::FuncOp>()) {
      auto selects = llvm::to_vector(func.getOps<SelectBlocksOp>());
      if (!selects.empty()) {
        selections.push_back({func, selects.front()});
        continue;
      }
      SmallVector<scf::ForallOp> grids;
      func.walk([&](scf::ForallOp forall) {
        if (forall->hasAttr(kGridAttr))
          grids.push_back(forall);
      });
      if (grids.empty())
        continue;
      if (grids.size() > 1 || grids[0]->getParentOp() != func) {
        func.emitOpError("must hold exactly one tiled grid at its top level "
                         "to become a kernel");
        return signalPassFailure();
      }
      kernels.push_back({func, grids[0]});
    }
    if (kernels.empty() && selections.empty())
      return;

    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    b.getUnitAttr());
    auto gpuModule =
        gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModuleName);
    b.setInsertionPointToStart(gpuModule.getBody());
    // Dynamic shared memory as a public zero-sized declaration: it becomes
    // `.extern .shared .align 1024 .b8 sparse_attn_shared_memory[]` (a
    // private or initialised one would be a 1-byte static array).
    memref::GlobalOp::create(
        b, module.getLoc(), kSharedMemorySymbol, /*sym_visibility=*/StringAttr(),
        MemRefType::get({0}, b.getI8Type(), MemRefLayoutAttrInterface(),
                        gpu::AddressSpaceAttr::get(
                            &getContext(), gpu::AddressSpace::Workgroup)),
        /*initial_value=*/Attribute(), /*constant=*/false,
        b.getI64IntegerAttr(kSharedAlignment));

    for (auto [func, grid] : kernels) {
      GridLowering lowering(func, grid, scaleArgument, iterationsArgument,
                            warps, minBlocksPerMultiprocessor, exactF32);
      if (failed(lowering.run(gpuModule)))
        return signalPassFailure();
    }
    for (auto [func, select] : selections)
      if (failed(lowerBlockSelection(func, select, gpuModule, scaleArgument)))
        return signalPassFailure();
    for (auto [func, grid] : kernels)
      func.erase();
    for (auto [func, select] : selections)
      func.erase();
  }
};

} // namespace
