//===- Fuse.cpp - sparse-attn-fuse ------------------------------*- C++ -*-===//
//
// Producers into consumers at the tiled level: the mask producers into the
// score predicates that query them, and the entmax block-mask build into
// the solver passes.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "TiledForm.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNFUSEPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

//===----------------------------------------------------------------------===//
// Mask producers into score predicates
//===----------------------------------------------------------------------===//

/// Expands `sparse_attn.mask_visible` into the arithmetic of the mask's
/// producers. Block-uniform parts (lengths, offsets, index-row membership of
/// the tile's block) are computed before the score op when the query sits
/// in a score region: tiles never straddle mask blocks.
class MaskExpander {
public:
  MaskExpander(MaskVisibleOp query) : query(query) {
    score = dyn_cast<ScoreTileOp>(query->getParentOp());
  }

  FailureOr<Value> expand() {
    OpBuilder inner(query);
    OpBuilder outer(score ? score.getOperation() : query.getOperation());
    return expand(inner, outer, query.getMask());
  }

private:
  FailureOr<Value> expand(OpBuilder &inner, OpBuilder &outer, Value mask);

  Value cmp(OpBuilder &b, arith::CmpIPredicate predicate, Value x, Value y) {
    return arith::CmpIOp::create(b, query.getLoc(), predicate, x, y);
  }
  Value andI(OpBuilder &b, Value x, Value y) {
    return arith::AndIOp::create(b, query.getLoc(), x, y);
  }
  Value orI(OpBuilder &b, Value x, Value y) {
    return arith::OrIOp::create(b, query.getLoc(), x, y);
  }
  Value index(OpBuilder &b, int64_t value) {
    return arith::ConstantIndexOp::create(b, query.getLoc(), value);
  }
  /// Whether the pair (i, j) lies in the mask's [Nq, Nk] rectangle.
  Value inBounds(OpBuilder &inner, std::pair<Value, Value> lengths) {
    Value i = query.getQuery(), j = query.getKey();
    return andI(inner, cmp(inner, arith::CmpIPredicate::slt, i, lengths.first),
                cmp(inner, arith::CmpIPredicate::slt, j, lengths.second));
  }
  Value listed(OpBuilder &b, MaskFromIndicesOp indices, Value batch, Value head,
               Value row, Value block);

  MaskVisibleOp query;
  ScoreTileOp score;
};

Value MaskExpander::listed(OpBuilder &b, MaskFromIndicesOp indices, Value batch,
                           Value head, Value row, Value block) {
  Location loc = query.getLoc();
  Value result = IndexRowContainsOp::create(b, loc, indices.getKvNumBlocks(),
                                            indices.getKvIndices(), batch, head,
                                            row, block, Value());
  if (indices.getFullKvNumBlocks())
    result =
        orI(b, result,
            IndexRowContainsOp::create(b, loc, indices.getFullKvNumBlocks(),
                                       indices.getFullKvIndices(), batch, head,
                                       row, block, Value()));
  return result;
}

FailureOr<Value> MaskExpander::expand(OpBuilder &inner, OpBuilder &outer,
                                      Value mask) {
  Location loc = query.getLoc();
  Operation *producer = mask.getDefiningOp();
  if (auto combined = dyn_cast_or_null<MaskUnionOp>(producer)) {
    FailureOr<Value> lhs = expand(inner, outer, combined.getLhs());
    FailureOr<Value> rhs = expand(inner, outer, combined.getRhs());
    if (failed(lhs) || failed(rhs))
      return failure();
    return orI(inner, *lhs, *rhs);
  }
  if (auto combined = dyn_cast_or_null<MaskIntersectOp>(producer)) {
    FailureOr<Value> lhs = expand(inner, outer, combined.getLhs());
    FailureOr<Value> rhs = expand(inner, outer, combined.getRhs());
    if (failed(lhs) || failed(rhs))
      return failure();
    return andI(inner, *lhs, *rhs);
  }
  FailureOr<std::pair<Value, Value>> lengths =
      buildMaskLengths(outer, loc, mask);
  if (failed(lengths))
    return failure();
  Value i = query.getQuery(), j = query.getKey();
  Value inside = inBounds(inner, *lengths);
  if (isa<DenseMaskOp>(producer))
    return inside;
  Value offset =
      arith::SubIOp::create(outer, loc, lengths->second, lengths->first);
  if (isa<CausalMaskOp>(producer)) {
    Value position = arith::AddIOp::create(inner, loc, i, offset);
    return andI(inner, inside,
                cmp(inner, arith::CmpIPredicate::sle, j, position));
  }
  if (auto streaming = dyn_cast<StreamingMaskOp>(producer)) {
    Value position = arith::AddIOp::create(inner, loc, i, offset);
    Value causal = cmp(inner, arith::CmpIPredicate::sle, j, position);
    Value sink = cmp(inner, arith::CmpIPredicate::slt, j,
                     index(inner, streaming.getSinkAttr().getInt()));
    Value distance = arith::SubIOp::create(inner, loc, position, j);
    Value recent = cmp(inner, arith::CmpIPredicate::slt, distance,
                       index(inner, streaming.getWindowAttr().getInt()));
    return andI(inner, andI(inner, inside, causal), orI(inner, sink, recent));
  }
  auto indices = cast<MaskFromIndicesOp>(producer);
  auto type = cast<BlockMaskType>(mask.getType());
  Value counts = indices.getKvNumBlocks();
  Value batch =
      broadcastIndex(outer, loc, tensor::DimOp::create(outer, loc, counts, 0),
                     query.getBatch());
  Value head =
      broadcastIndex(outer, loc, tensor::DimOp::create(outer, loc, counts, 1),
                     query.getHead());
  auto blockOf = [&](OpBuilder &b, Value position, int64_t size) {
    return arith::DivUIOp::create(b, loc, position, index(b, size));
  };
  auto asI32 = [&](OpBuilder &b, Value value) -> Value {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), value);
  };
  int64_t blockRows = type.getQueryBlockSize(),
          blockKeys = type.getKeyBlockSize();
  if (score && score.getType().getDimSize(0) <= blockRows &&
      score.getType().getDimSize(1) <= blockKeys) {
    // The tile lies in one block: its membership is computed once.
    Value row = blockOf(outer, score.getRowOffset(), blockRows);
    Value block = asI32(outer, blockOf(outer, score.getColOffset(), blockKeys));
    return andI(inner, inside, listed(outer, indices, batch, head, row, block));
  }
  Value row = blockOf(inner, i, blockRows);
  Value block = asI32(inner, blockOf(inner, j, blockKeys));
  return andI(inner, inside, listed(inner, indices, batch, head, row, block));
}

//===----------------------------------------------------------------------===//
// Entmax block-mask build into the solver passes
//===----------------------------------------------------------------------===//

/// The key tile and the full flag of the tile whose scores are `scores`
/// (a score op, or the scf.if choosing between its full and masked forms).
std::pair<Value, Value> tileOfScores(OpBuilder &b, Location loc, Value scores) {
  ScoreTileOp score;
  Value full;
  if (auto choice = scores.getDefiningOp<scf::IfOp>()) {
    full = choice.getCondition();
    auto yield = cast<scf::YieldOp>(choice.elseBlock()->getTerminator());
    score = yield.getOperand(0).getDefiningOp<ScoreTileOp>();
  } else {
    score = scores.getDefiningOp<ScoreTileOp>();
    if (score)
      full =
          arith::ConstantOp::create(b, loc, b.getBoolAttr(!score.isMasked()));
  }
  if (!score)
    return {};
  Value keys =
      arith::ConstantIndexOp::create(b, loc, score.getType().getDimSize(1));
  return {arith::DivUIOp::create(b, loc, score.getColOffset(), keys), full};
}

/// Moves the block-mask build of `maskPass` into every pass of the solver
/// loop that computes its threshold: the tiles are listed with the lower
/// bound entering each pass (a proven lower bound too, one step looser) and
/// the list of the last executed pass is used.
LogicalResult fuseMaskIntoSolver(scf::ForOp maskPass) {
  AnyAboveOp test;
  for (Operation &op : *maskPass.getBody())
    if (auto found = dyn_cast<AnyAboveOp>(op))
      test = found;
  if (!test)
    return failure();
  auto solver = test.getThreshold().getDefiningOp<scf::WhileOp>();
  if (!solver || !solver->hasAttr(kSolverLoopAttr) ||
      test.getThreshold() != solver.getResult(2))
    return failure();
  scf::ForOp solverPass;
  solver.getAfterBody()->walk([&](scf::ForOp loop) {
    auto kind = loop->getAttrOfType<StringAttr>(kKeyPassAttr);
    if (kind && kind.getValue() == key_pass::kEntmaxSolver)
      solverPass = loop;
  });
  if (!solverPass || solverPass.getUpperBound() != maskPass.getUpperBound())
    return failure();
  EntmaxMomentsOp moments;
  for (Operation &op : *solverPass.getBody())
    if (auto found = dyn_cast<EntmaxMomentsOp>(op))
      moments = found;
  if (!moments)
    return failure();

  // The solver loop carries the list and its count, initialised before it.
  for (Value init : maskPass.getInitArgs()) {
    Operation *def = init.getDefiningOp();
    if (!def || def->getBlock() != solver->getBlock() ||
        def->isBeforeInBlock(solver))
      continue;
    if (llvm::any_of(def->getOperands(), [&](Value operand) {
          Operation *producer = operand.getDefiningOp();
          return producer && producer->getBlock() == solver->getBlock() &&
                 !producer->isBeforeInBlock(solver);
        }))
      return failure();
    def->moveBefore(solver);
  }
  Location loc = maskPass.getLoc();
  IRRewriter rewriter(solver);
  SmallVector<Value> inits(solver.getInits());
  llvm::append_range(inits, maskPass.getInitArgs());
  SmallVector<Type> types(solver.getResultTypes());
  llvm::append_range(types, maskPass.getResultTypes());
  auto fused = scf::WhileOp::create(rewriter, loc, types, inits);
  fused->setAttrs(solver->getAttrs());
  fused.getBefore().takeBody(solver.getBefore());
  fused.getAfter().takeBody(solver.getAfter());
  Block *before = fused.getBeforeBody(), *after = fused.getAfterBody();
  SmallVector<Value> listArgs, passArgs;
  for (Type type : maskPass.getResultTypes()) {
    listArgs.push_back(before->addArgument(type, loc));
    passArgs.push_back(after->addArgument(type, loc));
  }
  auto condition = cast<scf::ConditionOp>(before->getTerminator());
  condition.getArgsMutable().append(listArgs);

  // Each solver pass rebuilds the list from position 0 with the lower bound
  // it starts from.
  Value lowerEntering = after->getArgument(2);
  rewriter.setInsertionPoint(solverPass);
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value scores = moments.getScores();
  FailureOr<LoopLikeOpInterface> extended =
      cast<LoopLikeOpInterface>(solverPass.getOperation())
          .replaceWithAdditionalYields(
              rewriter, ValueRange{passArgs[0], zero},
              /*replaceInitOperandUsesInLoop=*/false,
              [&](OpBuilder &b, Location nl,
                  ArrayRef<BlockArgument> carried) -> SmallVector<Value> {
                auto [keyTile, full] = tileOfScores(b, nl, scores);
                Value hit = AnyAboveOp::create(b, nl, scores, lowerEntering);
                Value entry = encodeTileEntry(b, nl, keyTile, full);
                auto [list, count] = appendTileEntryIf(b, nl, hit, entry,
                                                       carried[0], carried[1]);
                return {list, count};
              });
  if (failed(extended))
    return failure();
  ValueRange passResults = *extended->getLoopResults();
  auto yield = cast<scf::YieldOp>(after->getTerminator());
  yield.getResultsMutable().append(passResults.take_back(2));

  unsigned numOriginal = solver.getNumResults();
  rewriter.replaceOp(solver, fused.getResults().take_front(numOriginal));
  rewriter.replaceOp(maskPass, fused.getResults().take_back(2));
  return success();
}

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

struct SparseAttnFusePass
    : public sparse_attn::impl::SparseAttnFusePassBase<SparseAttnFusePass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<scf::ForOp> maskPasses;
    getOperation().walk([&](scf::ForOp loop) {
      auto kind = loop->getAttrOfType<StringAttr>(kKeyPassAttr);
      if (kind && kind.getValue() == key_pass::kEntmaxMask)
        maskPasses.push_back(loop);
    });
    for (scf::ForOp maskPass : maskPasses)
      if (succeeded(fuseMaskIntoSolver(maskPass)))
        ++numFusedMaskBuilds;

    // After the mask passes: a fused one takes its mask queries with it.
    SmallVector<MaskVisibleOp> queries;
    getOperation().walk([&](MaskVisibleOp query) { queries.push_back(query); });
    for (MaskVisibleOp query : queries) {
      FailureOr<Value> expanded = MaskExpander(query).expand();
      if (failed(expanded)) {
        // A mask without a tiled form (an estimator, head routing, a
        // function argument) is read from its token-level reference form.
        ++numTokenLevelQueries;
        continue;
      }
      query.getResult().replaceAllUsesWith(*expanded);
      query.erase();
      ++numExpandedQueries;
    }
  }
};

} // namespace
