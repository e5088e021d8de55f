//===- Instrument.cpp - sparse-attn-instrument ------------------*- C++ -*-===//
//
// Counters of what the compiled tiled code does (tiles visited, passes over
// the keys, solver iterations), updated by the code itself in a global that
// a runner reads after execution.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Instrumentation.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "TiledForm.h"

#include "mlir/IR/SymbolTable.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNINSTRUMENTPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::instrumentation;

namespace {


struct Counters {
  Value global;   // memref<records x slots x i64>
  Value record;   // index of the grid's record
  Value headSlot; // first of the two slots of the grid point's head
};

void increment(OpBuilder &b, Location loc, const Counters &counters, Value slot,
               Value amount = {}) {
  if (!amount)
    amount = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 1);
  memref::AtomicRMWOp::create(b, loc, arith::AtomicRMWKind::addi, amount,
                              counters.global,
                              ValueRange{counters.record, slot});
}

void increment(OpBuilder &b, Location loc, const Counters &counters,
               int64_t slot, Value amount = {}) {
  increment(b, loc, counters, arith::ConstantIndexOp::create(b, loc, slot),
            amount);
}

/// The kind code of a grid, from the normaliser steps it holds.
GridKind kindOf(scf::ForallOp grid) {
  auto kind = grid->getAttrOfType<StringAttr>(kGridAttr);
  if (kind && kind.getValue() == "entmax")
    return kRowEntmaxGrid;
  GridKind result = kSoftmaxGrid;
  grid.getBody()->walk([&](Operation *op) {
    if (isa<EntmaxAccumulateOp>(op))
      result = kEntmaxGrid;
    else if (isa<ElasticAccumulateOp>(op))
      result = kElasticGrid;
  });
  return result;
}

/// The number of dense key tiles (chunks) of a grid point: the padded key
/// length over the key tile, read off the first tile load.
Value buildDenseKeyTiles(OpBuilder &b, Location loc, scf::ForallOp grid) {
  Value source;
  int64_t tile = 0, dim = 0;
  grid.getBody()->walk([&](Operation *op) {
    if (source)
      return;
    if (auto score = dyn_cast<ScoreTileOp>(op)) {
      if (auto load = score.getKey().getDefiningOp<LoadTileOp>()) {
        source = load.getSource();
        tile = load.getType().getDimSize(0);
        dim = 2;
      }
    } else if (auto chunk = dyn_cast<LoadScoreChunkOp>(op)) {
      source = chunk.getSource();
      tile = chunk.getType().getDimSize(1);
      dim = 1;
    }
  });
  if (!source)
    return arith::ConstantIndexOp::create(b, loc, 0);
  Value length = tensor::DimOp::create(b, loc, source, dim);
  return arith::CeilDivUIOp::create(
      b, loc, length, arith::ConstantIndexOp::create(b, loc, tile));
}

struct SparseAttnInstrumentPass
    : public sparse_attn::impl::SparseAttnInstrumentPassBase<
          SparseAttnInstrumentPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (headCapacity < 1) {
      module.emitError("head-capacity must be positive, got ")
          << headCapacity.getValue();
      return signalPassFailure();
    }
    SmallVector<scf::ForallOp> grids;
    module.walk([&](scf::ForallOp grid) {
      if (grid->hasAttr(kGridAttr))
        grids.push_back(grid);
    });
    if (grids.empty())
      return;
    int64_t slots = kFirstHeadSlot + 2 * headCapacity;
    int64_t records = grids.size();
    MLIRContext *context = module.getContext();
    Type i64 = IntegerType::get(context, 64);
    auto countersType = MemRefType::get({records, slots}, i64);
    SmallVector<int64_t> layout = {kLayoutVersion, records, slots,
                                   headCapacity};
    for (scf::ForallOp grid : grids)
      layout.push_back(kindOf(grid));
    auto layoutType =
        MemRefType::get({static_cast<int64_t>(layout.size())}, i64);
    auto zeros = DenseElementsAttr::get(
        RankedTensorType::get({records, slots}, i64), ArrayRef<int64_t>{0});
    auto layoutValues = DenseElementsAttr::get(
        RankedTensorType::get({static_cast<int64_t>(layout.size())}, i64),
        ArrayRef<int64_t>(layout));
    if (failed(defineGlobal(module, kCountersName, countersType, zeros,
                            /*constant=*/false)) ||
        failed(defineGlobal(module, kLayoutName, layoutType, layoutValues,
                            /*constant=*/true)))
      return signalPassFailure();

    for (auto [index, grid] : llvm::enumerate(grids))
      instrumentGrid(grid, index, countersType);
  }

  /// Defines a public global, or gives its value to an uninitialised
  /// declaration of the same type (a test driver in the module that reads
  /// the counters declares them).
  LogicalResult defineGlobal(ModuleOp module, StringRef name, MemRefType type,
                             DenseElementsAttr value, bool constant) {
    Operation *existing = SymbolTable::lookupSymbolIn(module, name);
    if (!existing) {
      OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
      memref::GlobalOp::create(b, module.getLoc(), name,
                               b.getStringAttr("public"), type, value,
                               constant, /*alignment=*/IntegerAttr());
      return success();
    }
    auto declared = dyn_cast<memref::GlobalOp>(existing);
    if (!declared || !declared.isExternal() || declared.getType() != type)
      return existing->emitError("@")
             << name << " exists; the instrumentation defines it as an "
             << "uninitialised " << type << " declaration or creates it";
    declared.setInitialValueAttr(value);
    declared.setConstant(constant);
    return success();
  }

  void instrumentGrid(scf::ForallOp grid, int64_t record,
                      MemRefType countersType) {
    Location loc = grid.getLoc();
    OpBuilder b = OpBuilder::atBlockBegin(grid.getBody());
    Counters counters;
    counters.global =
        memref::GetGlobalOp::create(b, loc, countersType, kCountersName);
    counters.record = arith::ConstantIndexOp::create(b, loc, record);
    // Attention grids run over (batch, head, query tile); heads past the
    // capacity share the last pair of slots.
    ValueRange ivs = grid.getInductionVars();
    Value head =
        ivs.size() == 3 ? ivs[1] : arith::ConstantIndexOp::create(b, loc, 0);
    Value capped = arith::MinUIOp::create(
        b, loc, head, arith::ConstantIndexOp::create(b, loc, headCapacity - 1));
    counters.headSlot = arith::AddIOp::create(
        b, loc, arith::ConstantIndexOp::create(b, loc, kFirstHeadSlot),
        arith::MulIOp::create(b, loc, capped,
                              arith::ConstantIndexOp::create(b, loc, 2)));
    Value denseTiles = arith::IndexCastOp::create(
        b, loc, b.getI64Type(), buildDenseKeyTiles(b, loc, grid));
    increment(b, loc, counters, kGridPoints);
    increment(b, loc, counters, kKeyTilesTotal, denseTiles);
    increment(b, loc, counters,
              arith::AddIOp::create(b, loc, counters.headSlot,
                                    arith::ConstantIndexOp::create(b, loc, 1)),
              denseTiles);

    grid.getBody()->walk([&](Operation *op) {
      if (auto loop = dyn_cast<scf::ForOp>(op)) {
        if (loop->hasAttr(kKeyPassAttr) &&
            !loop->hasAttr(kKeyPassContinuesAttr)) {
          OpBuilder before(loop);
          increment(before, loc, counters, kKeyPasses);
          ++numCountedPasses;
        }
        return;
      }
      if (isa<EntmaxThresholdStepOp>(op)) {
        OpBuilder after(op->getContext());
        after.setInsertionPointAfter(op);
        increment(after, loc, counters, kSolverIterations);
        return;
      }
      if (!isa<ScoreTileOp, LoadScoreChunkOp>(op))
        return;
      auto pass = op->getParentOfType<scf::ForOp>();
      while (pass && !pass->hasAttr(kKeyPassAttr))
        pass = pass->getParentOfType<scf::ForOp>();
      if (!pass)
        return;
      OpBuilder at(op);
      increment(at, loc, counters, kTilesVisited);
      ++numCountedTileSites;
      StringRef kind = pass->getAttrOfType<StringAttr>(kKeyPassAttr).getValue();
      if (!key_pass::isOutputPass(kind))
        return;
      increment(at, loc, counters, kOutputTilesVisited);
      increment(at, loc, counters, counters.headSlot);
      auto score = dyn_cast<ScoreTileOp>(op);
      if (!score || !score.isMasked())
        increment(at, loc, counters, kOutputTilesFull);
    });
  }
};

} // namespace
