//===- SkipBlocks.cpp - sparse-attn-skip-blocks -----------------*- C++ -*-===//
//
// Key loops walk the block support of their visibility predicate instead of
// every key tile; full tiles drop the elementwise mask.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "TiledForm.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

#include <functional>
#include <limits>
#include <map>
#include <memory>

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNSKIPBLOCKSPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

//===----------------------------------------------------------------------===//
// The predicate of a score region, as block-level structure
//===----------------------------------------------------------------------===//


/// Block-level structure of a predicate: which key tiles can hold a visible
/// entry and which hold only visible ones.
struct BlockExpr {
  enum class Kind {
    All,
    Causal,
    Streaming,
    KeyBound,
    List,
    Union,
    Intersect,
    Unknown
  };
  Kind kind = Kind::Unknown;
  Value offset;                 // Causal, Streaming: j <= i + offset
  int64_t sink = 0, window = 0; // Streaming
  Value bound;                  // KeyBound: j < bound
  MaskFromIndicesOp list;       // List
  Value listBatch, listHead, numBlocks;
  int64_t blockRows = 0, blockKeys = 0;
  std::unique_ptr<BlockExpr> lhs, rhs;

  static std::unique_ptr<BlockExpr> leaf(Kind kind) {
    auto expr = std::make_unique<BlockExpr>();
    expr->kind = kind;
    return expr;
  }
  static std::unique_ptr<BlockExpr> combine(Kind kind,
                                            std::unique_ptr<BlockExpr> lhs,
                                            std::unique_ptr<BlockExpr> rhs) {
    auto expr = leaf(kind);
    expr->lhs = std::move(lhs);
    expr->rhs = std::move(rhs);
    return expr;
  }

  bool hasList() const {
    if (kind == Kind::List)
      return true;
    return (lhs && lhs->hasList()) || (rhs && rhs->hasList());
  }
  /// How selective a walk over this expression is (smaller walks fewer
  /// tiles): intersections walk their most selective operand.
  int selectivity() const {
    switch (kind) {
    case Kind::List:
      return 0;
    case Kind::Streaming:
      return 1;
    case Kind::Intersect:
      return std::min(lhs->selectivity(), rhs->selectivity());
    case Kind::Causal:
    case Kind::KeyBound:
      return 2;
    case Kind::Union:
      return std::max(lhs->selectivity(), rhs->selectivity());
    case Kind::All:
    case Kind::Unknown:
      return 3;
    }
    return 3;
  }
};

using BlockExprPtr = std::unique_ptr<BlockExpr>;


/// The tile geometry of one grid point's key loops.
struct TileGeometry {
  int64_t rows = 0, keys = 0;
  Value rowStart; // absolute index of the tile's first query row
  Value lastRow;  // last row that matters (rows past the row bound are dead)
  Value numTiles; // key tiles of the dense loop
};

/// Builds the block expression of a predicate at the schedule's insertion
/// point. A mask without a known producer becomes an unknown conjunct.
class ExprBuilder {
public:
  ExprBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  BlockExprPtr build(const RegionPredicate &predicate) {
    SmallVector<BlockExprPtr> conjuncts;
    if (predicate.keyBound) {
      auto bound = BlockExpr::leaf(BlockExpr::Kind::KeyBound);
      bound->bound = predicate.keyBound;
      conjuncts.push_back(std::move(bound));
    }
    if (predicate.causalOffset) {
      auto causal = BlockExpr::leaf(BlockExpr::Kind::Causal);
      causal->offset = predicate.causalOffset;
      conjuncts.push_back(std::move(causal));
    }
    for (MaskVisibleOp visible : predicate.masks)
      conjuncts.push_back(
          buildMask(visible.getMask(), visible.getBatch(), visible.getHead()));
    if (predicate.hasUnknown)
      conjuncts.push_back(BlockExpr::leaf(BlockExpr::Kind::Unknown));
    if (conjuncts.empty())
      return BlockExpr::leaf(BlockExpr::Kind::All);
    BlockExprPtr result = std::move(conjuncts.front());
    for (auto &next : llvm::drop_begin(conjuncts))
      result = BlockExpr::combine(BlockExpr::Kind::Intersect, std::move(result),
                                  std::move(next));
    return result;
  }

private:
  BlockExprPtr buildMask(Value mask, Value batch, Value head) {
    Operation *producer = mask.getDefiningOp();
    if (auto combined = dyn_cast_or_null<MaskUnionOp>(producer))
      return BlockExpr::combine(BlockExpr::Kind::Union,
                                buildMask(combined.getLhs(), batch, head),
                                buildMask(combined.getRhs(), batch, head));
    if (auto combined = dyn_cast_or_null<MaskIntersectOp>(producer))
      return BlockExpr::combine(BlockExpr::Kind::Intersect,
                                buildMask(combined.getLhs(), batch, head),
                                buildMask(combined.getRhs(), batch, head));
    if (isa_and_nonnull<DenseMaskOp>(producer))
      return BlockExpr::leaf(BlockExpr::Kind::All);
    FailureOr<std::pair<Value, Value>> lengths = buildMaskLengths(b, loc, mask);
    if (failed(lengths))
      return BlockExpr::leaf(BlockExpr::Kind::Unknown);
    IndexBuilder math(b, loc);
    Value offset = math.sub(lengths->second, lengths->first);
    if (isa<CausalMaskOp>(producer)) {
      auto causal = BlockExpr::leaf(BlockExpr::Kind::Causal);
      causal->offset = offset;
      return causal;
    }
    if (auto streaming = dyn_cast<StreamingMaskOp>(producer)) {
      auto expr = BlockExpr::leaf(BlockExpr::Kind::Streaming);
      expr->offset = offset;
      expr->sink = streaming.getSinkAttr().getInt();
      expr->window = streaming.getWindowAttr().getInt();
      return expr;
    }
    auto indices = cast<MaskFromIndicesOp>(producer);
    auto type = cast<BlockMaskType>(mask.getType());
    auto expr = BlockExpr::leaf(BlockExpr::Kind::List);
    expr->list = indices;
    Value counts = indices.getKvNumBlocks();
    expr->listBatch =
        broadcastIndex(b, loc, tensor::DimOp::create(b, loc, counts, 0), batch);
    expr->listHead =
        broadcastIndex(b, loc, tensor::DimOp::create(b, loc, counts, 1), head);
    expr->blockRows = type.getQueryBlockSize();
    expr->blockKeys = type.getKeyBlockSize();
    expr->numBlocks = math.ceilDiv(lengths->second, expr->blockKeys);
    return expr;
  }

  OpBuilder &b;
  Location loc;
};

//===----------------------------------------------------------------------===//
// Classification and walks
//===----------------------------------------------------------------------===//

struct TileClass {
  Value nonEmpty, full;
};

class BlockWalker {
public:
  BlockWalker(const TileGeometry &geometry) : geometry(geometry) {}

  /// Whether key tile `kt` can hold a visible entry, and whether all its
  /// entries in the rows that matter are visible.
  TileClass classify(OpBuilder &b, Location loc, const BlockExpr &expr,
                     Value kt) const;

  /// One past the last key tile that a causal bound with `offset` reaches.
  Value causalEnd(OpBuilder &b, Location loc, Value offset) const {
    IndexBuilder math(b, loc);
    Value last =
        math.floorDiv(math.add(geometry.lastRow, offset), geometry.keys);
    return math.max(math.constant(0), math.min(math.add(last, math.constant(1)),
                                               geometry.numTiles));
  }
  /// The first key tile a streaming window of `window` keys reaches.
  Value windowStart(OpBuilder &b, Location loc, const BlockExpr &expr) const {
    IndexBuilder math(b, loc);
    Value first = math.add(geometry.rowStart, expr.offset);
    Value start = math.sub(first, math.constant(expr.window - 1));
    return math.max(math.constant(0), math.floorDiv(start, geometry.keys));
  }
  Value sinkTiles(OpBuilder &b, Location loc, const BlockExpr &expr) const {
    IndexBuilder math(b, loc);
    return math.min(math.constant(llvm::divideCeil(expr.sink, geometry.keys)),
                    geometry.numTiles);
  }

  using Filter = std::function<Value(OpBuilder &, Location, Value)>;
  using Emit = std::function<void(OpBuilder &, Location, Value)>;

  /// Emits loops that call `emit` once for every key tile of `expr`'s
  /// support (in [0, numTiles)) that passes `filter`; `state` is threaded
  /// through every loop.
  void visit(OpBuilder &b, Location loc, const BlockExpr &expr,
             const Filter &filter, SmallVectorImpl<Value> &state,
             const std::function<SmallVector<Value>(OpBuilder &, Location,
                                                    Value, ValueRange)> &emit);

private:
  using Body = std::function<SmallVector<Value>(OpBuilder &, Location, Value,
                                                ValueRange)>;
  void forRange(OpBuilder &b, Location loc, Value lo, Value hi,
                SmallVectorImpl<Value> &state, const Body &body);
  void visitList(OpBuilder &b, Location loc, const BlockExpr &expr,
                 const Filter &filter, SmallVectorImpl<Value> &state,
                 const Body &emit);
  Value listed(OpBuilder &b, Location loc, const BlockExpr &expr,
               Value kt) const;
  Value queryBlock(OpBuilder &b, Location loc, const BlockExpr &expr) const {
    IndexBuilder math(b, loc);
    return arith::DivUIOp::create(b, loc, geometry.rowStart,
                                  math.constant(expr.blockRows));
  }

  const TileGeometry &geometry;
};

Value BlockWalker::listed(OpBuilder &b, Location loc, const BlockExpr &expr,
                          Value kt) const {
  IndexBuilder math(b, loc);
  // Tiles never straddle mask blocks: key tile kt lies in block
  // kt / (BK / TK) and the query tile in row rowStart / BQ.
  Value block = math.toI32(arith::DivUIOp::create(
      b, loc, kt, math.constant(expr.blockKeys / geometry.keys)));
  Value row = queryBlock(b, loc, expr);
  MaskFromIndicesOp indices = expr.list;
  Value result = IndexRowContainsOp::create(
      b, loc, indices.getKvNumBlocks(), indices.getKvIndices(), expr.listBatch,
      expr.listHead, row, block, Value());
  if (indices.getFullKvNumBlocks())
    result = math.orI(result, IndexRowContainsOp::create(
                                  b, loc, indices.getFullKvNumBlocks(),
                                  indices.getFullKvIndices(), expr.listBatch,
                                  expr.listHead, row, block, Value()));
  return result;
}

TileClass BlockWalker::classify(OpBuilder &b, Location loc,
                                const BlockExpr &expr, Value kt) const {
  IndexBuilder math(b, loc);
  Value first = math.mul(kt, geometry.keys);
  Value last = math.add(first, math.constant(geometry.keys - 1));
  switch (expr.kind) {
  case BlockExpr::Kind::All:
    return {math.boolean(true), math.boolean(true)};
  case BlockExpr::Kind::Unknown:
    return {math.boolean(true), math.boolean(false)};
  case BlockExpr::Kind::KeyBound:
    return {math.lt(first, expr.bound),
            math.le(math.add(first, math.constant(geometry.keys)), expr.bound)};
  case BlockExpr::Kind::Causal:
    return {math.le(first, math.add(geometry.lastRow, expr.offset)),
            math.le(last, math.add(geometry.rowStart, expr.offset))};
  case BlockExpr::Kind::Streaming: {
    // Visible iff j <= p and (j < sink or p - j < window), p = i + offset.
    Value firstPos = math.add(geometry.rowStart, expr.offset);
    Value lastPos = math.add(geometry.lastRow, expr.offset);
    Value sink = math.constant(expr.sink);
    Value window = math.constant(expr.window);
    Value reachable = math.le(first, lastPos);
    Value inSinkOrWindow = math.orI(math.lt(first, sink),
                                    math.gt(last, math.sub(firstPos, window)));
    Value allCausal = math.le(last, firstPos);
    Value allInside =
        math.orI(math.lt(last, sink),
                 math.gt(math.max(first, sink), math.sub(lastPos, window)));
    return {math.andI(reachable, inSinkOrWindow),
            math.andI(allCausal, allInside)};
  }
  case BlockExpr::Kind::List: {
    Value inList = listed(b, loc, expr, kt);
    return {inList, inList};
  }
  case BlockExpr::Kind::Union: {
    TileClass lhs = classify(b, loc, *expr.lhs, kt);
    TileClass rhs = classify(b, loc, *expr.rhs, kt);
    return {math.orI(lhs.nonEmpty, rhs.nonEmpty), math.orI(lhs.full, rhs.full)};
  }
  case BlockExpr::Kind::Intersect: {
    TileClass lhs = classify(b, loc, *expr.lhs, kt);
    TileClass rhs = classify(b, loc, *expr.rhs, kt);
    return {math.andI(lhs.nonEmpty, rhs.nonEmpty),
            math.andI(lhs.full, rhs.full)};
  }
  }
  return {math.boolean(true), math.boolean(false)};
}

void BlockWalker::forRange(OpBuilder &b, Location loc, Value lo, Value hi,
                           SmallVectorImpl<Value> &state, const Body &body) {
  IndexBuilder math(b, loc);
  auto loop = scf::ForOp::create(
      b, loc, lo, math.max(lo, hi), math.constant(1), state,
      [&](OpBuilder &nb, Location nl, Value kt, ValueRange carried) {
        scf::YieldOp::create(nb, nl, body(nb, nl, kt, carried));
      });
  state.assign(loop.getResults().begin(), loop.getResults().end());
}

/// scf.if `condition` { then(state) } else { state }.
static SmallVector<Value>
ifThen(OpBuilder &b, Location loc, Value condition, ValueRange state,
       const std::function<SmallVector<Value>(OpBuilder &, Location)> &then) {
  auto op = scf::IfOp::create(
      b, loc, condition,
      [&](OpBuilder &nb, Location nl) {
        scf::YieldOp::create(nb, nl, then(nb, nl));
      },
      [&](OpBuilder &nb, Location nl) { scf::YieldOp::create(nb, nl, state); });
  return SmallVector<Value>(op.getResults());
}

void BlockWalker::visitList(OpBuilder &b, Location loc, const BlockExpr &expr,
                            const Filter &filter, SmallVectorImpl<Value> &state,
                            const Body &emit) {
  MaskFromIndicesOp indices = expr.list;
  IndexBuilder math(b, loc);
  Value row = queryBlock(b, loc, expr);
  int64_t tilesPerBlock = expr.blockKeys / geometry.keys;
  // The full row first, then the partial row without the blocks the full
  // row lists; duplicates and entries outside [0, KB) select nothing.
  SmallVector<std::pair<Value, Value>> rows;
  if (indices.getFullKvNumBlocks())
    rows.push_back({indices.getFullKvNumBlocks(), indices.getFullKvIndices()});
  rows.push_back({indices.getKvNumBlocks(), indices.getKvIndices()});
  for (auto [index, pair] : llvm::enumerate(rows)) {
    auto [counts, entries] = pair;
    Value count = math.toIndex(tensor::ExtractOp::create(
        b, loc, counts, ValueRange{expr.listBatch, expr.listHead, row}));
    Value rowLength = tensor::DimOp::create(b, loc, entries, 3);
    count = math.min(math.max(count, math.constant(0)), rowLength);
    bool afterFullRow = rows.size() == 2 && index == 1;
    forRange(
        b, loc, math.constant(0), count, state,
        [&](OpBuilder &nb, Location nl, Value slot, ValueRange carried) {
          IndexBuilder inner(nb, nl);
          Value block = tensor::ExtractOp::create(
              nb, nl, entries,
              ValueRange{expr.listBatch, expr.listHead, row, slot});
          Value blockIndex = inner.toIndex(block);
          Value fresh = inner.notI(IndexRowContainsOp::create(
              nb, nl, counts, entries, expr.listBatch, expr.listHead, row,
              block, slot));
          Value valid =
              inner.andI(inner.andI(inner.ge(blockIndex, inner.constant(0)),
                                    inner.lt(blockIndex, expr.numBlocks)),
                         fresh);
          if (afterFullRow)
            valid = inner.andI(valid, inner.notI(IndexRowContainsOp::create(
                                          nb, nl, rows[0].first, rows[0].second,
                                          expr.listBatch, expr.listHead, row,
                                          block, Value())));
          return ifThen(
              nb, nl, valid, carried, [&](OpBuilder &tb, Location tl) {
                IndexBuilder tm(tb, tl);
                SmallVector<Value> inBlock(carried);
                Value start = tm.mul(blockIndex, tilesPerBlock);
                forRange(
                    tb, tl, start, tm.add(start, tm.constant(tilesPerBlock)),
                    inBlock,
                    [&](OpBuilder &eb, Location el, Value kt, ValueRange s) {
                      IndexBuilder em(eb, el);
                      Value take = em.lt(kt, geometry.numTiles);
                      if (filter)
                        take = em.andI(take, filter(eb, el, kt));
                      return ifThen(eb, el, take, s,
                                    [&](OpBuilder &fb, Location fl) {
                                      return emit(fb, fl, kt, s);
                                    });
                    });
                return inBlock;
              });
        });
  }
}

void BlockWalker::visit(OpBuilder &b, Location loc, const BlockExpr &expr,
                        const Filter &filter, SmallVectorImpl<Value> &state,
                        const std::function<SmallVector<Value>(
                            OpBuilder &, Location, Value, ValueRange)> &emit) {
  IndexBuilder math(b, loc);
  auto filtered = [&](OpBuilder &nb, Location nl, Value kt,
                      ValueRange carried) -> SmallVector<Value> {
    if (!filter)
      return emit(nb, nl, kt, carried);
    return ifThen(
        nb, nl, filter(nb, nl, kt), carried,
        [&](OpBuilder &tb, Location tl) { return emit(tb, tl, kt, carried); });
  };
  switch (expr.kind) {
  case BlockExpr::Kind::All:
  case BlockExpr::Kind::Unknown:
    forRange(b, loc, math.constant(0), geometry.numTiles, state, filtered);
    return;
  case BlockExpr::Kind::KeyBound:
    forRange(
        b, loc, math.constant(0),
        math.min(math.ceilDiv(expr.bound, geometry.keys), geometry.numTiles),
        state, filtered);
    return;
  case BlockExpr::Kind::Causal:
    forRange(b, loc, math.constant(0), causalEnd(b, loc, expr.offset), state,
             filtered);
    return;
  case BlockExpr::Kind::Streaming: {
    Value end = causalEnd(b, loc, expr.offset);
    Value sinkEnd = math.min(sinkTiles(b, loc, expr), end);
    forRange(b, loc, math.constant(0), sinkEnd, state, filtered);
    forRange(b, loc, math.max(sinkEnd, windowStart(b, loc, expr)), end, state,
             filtered);
    return;
  }
  case BlockExpr::Kind::List:
    visitList(b, loc, expr, filter, state, emit);
    return;
  case BlockExpr::Kind::Union: {
    // The right operand's walk skips what the left one visited.
    visit(b, loc, *expr.lhs, filter, state, emit);
    const BlockExpr &visited = *expr.lhs;
    Filter notVisited = [&](OpBuilder &nb, Location nl, Value kt) {
      IndexBuilder inner(nb, nl);
      Value fresh = inner.notI(classify(nb, nl, visited, kt).nonEmpty);
      return filter ? inner.andI(filter(nb, nl, kt), fresh) : fresh;
    };
    visit(b, loc, *expr.rhs, notVisited, state, emit);
    return;
  }
  case BlockExpr::Kind::Intersect: {
    bool walkLeft = expr.lhs->selectivity() <= expr.rhs->selectivity();
    const BlockExpr &walked = walkLeft ? *expr.lhs : *expr.rhs;
    const BlockExpr &tested = walkLeft ? *expr.rhs : *expr.lhs;
    Filter alsoTested = [&](OpBuilder &nb, Location nl, Value kt) {
      IndexBuilder inner(nb, nl);
      Value inOther = classify(nb, nl, tested, kt).nonEmpty;
      return filter ? inner.andI(filter(nb, nl, kt), inOther) : inOther;
    };
    visit(b, loc, walked, alsoTested, state, emit);
    return;
  }
  }
}

//===----------------------------------------------------------------------===//
// Schedules
//===----------------------------------------------------------------------===//

/// The key tiles one grid point visits, shared by all its passes: up to two
/// ranges computed in closed form (no index list: causal, streaming and
/// varlen structure), or a list of entries `2 * tile + full` built once by
/// walking the masks' index rows.
struct Schedule {
  BlockExprPtr expr;
  TileGeometry geometry;
  Value count;
  Value firstCount, secondStart; // ranges: tile(s) = s < firstCount ? s :
                                 // secondStart + s - firstCount
  Value list;

  /// The key tile of schedule position `position` and whether it is full.
  std::pair<Value, Value> at(OpBuilder &b, Location loc, Value position) const {
    if (list) {
      Value entry = tensor::ExtractOp::create(b, loc, list, position);
      return decodeTileEntry(b, loc, entry);
    }
    IndexBuilder math(b, loc);
    Value keyTile = position;
    if (secondStart) {
      Value inFirst = math.lt(position, firstCount);
      keyTile =
          math.select(inFirst, position,
                      math.add(secondStart, math.sub(position, firstCount)));
    }
    BlockWalker walker(geometry);
    return {keyTile, walker.classify(b, loc, *expr, keyTile).full};
  }
};

/// Flattens the conjunction of `expr` into its conjuncts.
void collectConjuncts(const BlockExpr &expr,
                      SmallVectorImpl<const BlockExpr *> &conjuncts) {
  if (expr.kind == BlockExpr::Kind::Intersect) {
    collectConjuncts(*expr.lhs, conjuncts);
    collectConjuncts(*expr.rhs, conjuncts);
    return;
  }
  conjuncts.push_back(&expr);
}

/// Closed-form ranges when every conjunct is a range (no list, no union, at
/// most one streaming mask); failure otherwise.
LogicalResult buildRangeSchedule(OpBuilder &b, Location loc,
                                 Schedule &schedule) {
  SmallVector<const BlockExpr *> conjuncts;
  collectConjuncts(*schedule.expr, conjuncts);
  const BlockExpr *streaming = nullptr;
  for (const BlockExpr *conjunct : conjuncts) {
    if (conjunct->kind == BlockExpr::Kind::List ||
        conjunct->kind == BlockExpr::Kind::Union)
      return failure();
    if (conjunct->kind == BlockExpr::Kind::Streaming) {
      if (streaming)
        return failure();
      streaming = conjunct;
    }
  }
  BlockWalker walker(schedule.geometry);
  IndexBuilder math(b, loc);
  Value end = schedule.geometry.numTiles;
  for (const BlockExpr *conjunct : conjuncts) {
    if (conjunct->kind == BlockExpr::Kind::Causal ||
        conjunct->kind == BlockExpr::Kind::Streaming)
      end = math.min(end, walker.causalEnd(b, loc, conjunct->offset));
    else if (conjunct->kind == BlockExpr::Kind::KeyBound)
      end =
          math.min(end, math.ceilDiv(conjunct->bound, schedule.geometry.keys));
  }
  Value zero = math.constant(0);
  end = math.max(end, zero);
  if (!streaming) {
    schedule.count = end;
    return success();
  }
  schedule.firstCount = math.min(walker.sinkTiles(b, loc, *streaming), end);
  schedule.secondStart =
      math.max(schedule.firstCount, walker.windowStart(b, loc, *streaming));
  schedule.count = math.add(
      schedule.firstCount, math.max(zero, math.sub(end, schedule.secondStart)));
  return success();
}

/// The list schedule: one walk over the masks' index rows per grid point.
void buildListSchedule(OpBuilder &b, Location loc, Schedule &schedule) {
  IndexBuilder math(b, loc);
  Value list = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{ShapedType::kDynamic}, b.getI32Type(),
      ValueRange{schedule.geometry.numTiles});
  SmallVector<Value> state = {list, math.constant(0)};
  BlockWalker walker(schedule.geometry);
  const BlockExpr &expr = *schedule.expr;
  walker.visit(b, loc, expr, nullptr, state,
               [&](OpBuilder &nb, Location nl, Value kt, ValueRange carried) {
                 Value full = walker.classify(nb, nl, expr, kt).full;
                 auto [newList, newCount] = appendTileEntryIf(
                     nb, nl, IndexBuilder(nb, nl).boolean(true),
                     encodeTileEntry(nb, nl, kt, full), carried[0], carried[1]);
                 return SmallVector<Value>{newList, newCount};
               });
  schedule.list = state[0];
  schedule.count = state[1];
}

//===----------------------------------------------------------------------===//
// Rewriting the key loops
//===----------------------------------------------------------------------===//

ScoreTileOp findScoreTile(scf::ForOp loop) {
  for (Operation &op : *loop.getBody())
    if (auto score = dyn_cast<ScoreTileOp>(op))
      return score;
  return {};
}

/// Replaces the score op by `scf.if %full` of a copy without the mask
/// region and the original.
void specializeScore(ScoreTileOp score, Value full) {
  if (matchPattern(full, m_One())) {
    score.getVisible().getBlocks().clear();
    return;
  }
  if (matchPattern(full, m_Zero()))
    return;
  OpBuilder b(score);
  Location loc = score.getLoc();
  auto select = scf::IfOp::create(b, loc, TypeRange{score.getType()}, full,
                                  /*withElseRegion=*/true);
  b.setInsertionPointToStart(select.thenBlock());
  Operation *unmasked = b.cloneWithoutRegions(*score);
  scf::YieldOp::create(b, loc, unmasked->getResults());
  score.getResult().replaceAllUsesWith(select.getResult(0));
  b.setInsertionPointToStart(select.elseBlock());
  auto yield = scf::YieldOp::create(b, loc, score.getResult());
  score->moveBefore(yield);
}

/// Makes `loop` walk `schedule`; returns the (key tile, full) values of its
/// body.
std::pair<Value, Value> applySchedule(scf::ForOp loop,
                                      const Schedule &schedule) {
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  loop.setUpperBound(schedule.count);
  Block *body = loop.getBody();
  Operation *firstOriginal = &body->front();
  b.setInsertionPointToStart(body);
  Value position = loop.getInductionVar();
  auto [keyTile, full] = schedule.at(b, loc, position);
  position.replaceUsesWithIf(keyTile, [&](OpOperand &use) {
    Operation *ancestor = body->findAncestorOpInBlock(*use.getOwner());
    return ancestor && (ancestor == firstOriginal ||
                        firstOriginal->isBeforeInBlock(ancestor));
  });
  if (ScoreTileOp score = findScoreTile(loop))
    specializeScore(score, full);
  return {keyTile, full};
}

/// Replaces, inside `loop` but not in `except`, the uses of `from` by `to`.
void replaceInside(scf::ForOp loop, Value from, Value to, Operation *except) {
  from.replaceUsesWithIf(to, [&](OpOperand &use) {
    return use.getOwner() != except && loop->isProperAncestor(use.getOwner());
  });
}

//===----------------------------------------------------------------------===//
// Entmax: the block mask and the output pass over it
//===----------------------------------------------------------------------===//

/// Inserts before the entmax output pass a pass over the schedule that lists
/// the tiles holding an entry above the proven lower bound of the threshold
/// (AdaSplash's block mask, a superset of the support), and makes the output
/// pass walk that list.
void restrictEntmaxOutput(scf::ForOp output, Value keyTile, Value full,
                          const Schedule &schedule) {
  EntmaxAccumulateOp accumulate;
  for (Operation &op : *output.getBody())
    if (auto found = dyn_cast<EntmaxAccumulateOp>(op))
      accumulate = found;
  if (!accumulate)
    return;
  auto solver = accumulate.getThreshold().getDefiningOp<scf::WhileOp>();
  if (!solver || !solver->hasAttr(kSolverLoopAttr))
    return;
  Value lower = solver.getResult(2);
  Value scores = accumulate.getScores();

  // The ops of the output body the scores depend on.
  SetVector<Operation *> slice;
  BackwardSliceOptions options;
  options.filter = [&](Operation *op) {
    return op->getBlock() == output.getBody();
  };
  options.inclusive = true;
  // The masked score region reads the key tile from above.
  options.omitUsesFromAbove = false;
  if (failed(getBackwardSlice(scores, &slice, options)))
    return;

  OpBuilder b(output);
  Location loc = output.getLoc();
  IndexBuilder math(b, loc);
  Value emptyList = tensor::EmptyOp::create(
      b, loc, ArrayRef<int64_t>{ShapedType::kDynamic}, b.getI32Type(),
      ValueRange{schedule.geometry.numTiles});
  auto maskPass = scf::ForOp::create(
      b, loc, math.constant(0), schedule.count, math.constant(1),
      ValueRange{emptyList, math.constant(0)},
      [&](OpBuilder &nb, Location nl, Value position, ValueRange state) {
        IRMapping mapping;
        mapping.map(output.getInductionVar(), position);
        SmallVector<Operation *> ordered(slice.begin(), slice.end());
        llvm::sort(ordered, [](Operation *x, Operation *y) {
          return x->isBeforeInBlock(y);
        });
        for (Operation *op : ordered)
          nb.clone(*op, mapping);
        Value tileScores = mapping.lookupOrDefault(scores);
        Value hit = AnyAboveOp::create(nb, nl, tileScores, lower);
        Value entry = encodeTileEntry(nb, nl, mapping.lookupOrDefault(keyTile),
                                      mapping.lookupOrDefault(full));
        auto [list, count] =
            appendTileEntryIf(nb, nl, hit, entry, state[0], state[1]);
        scf::YieldOp::create(nb, nl, ValueRange{list, count});
      });
  maskPass->setAttr(kKeyPassAttr, b.getStringAttr(key_pass::kEntmaxMask));

  output.setUpperBound(maskPass.getResult(1));
  b.setInsertionPointToStart(output.getBody());
  auto entry = tensor::ExtractOp::create(b, loc, maskPass.getResult(0),
                                         output.getInductionVar());
  auto [maskedTile, maskedFull] = decodeTileEntry(b, loc, entry);
  replaceInside(output, keyTile, maskedTile, entry);
  replaceInside(output, full, maskedFull, entry);
}

//===----------------------------------------------------------------------===//
// Elastic softmax: per-tile row maxima and the skip test
//===----------------------------------------------------------------------===//

/// Records the row maxima of every visited tile during the log-sum-exp pass
/// (TQ floats per visited tile) and skips, in the output pass, the tiles
/// where no weight survives the shift.
LogicalResult skipDeadElasticTiles(scf::ForOp logSumExp, scf::ForOp output,
                                   const Schedule &schedule) {
  OnlineLogSumExpOp lse;
  for (Operation &op : *logSumExp.getBody())
    if (auto found = dyn_cast<OnlineLogSumExpOp>(op))
      lse = found;
  ElasticAccumulateOp accumulate;
  for (Operation &op : *output.getBody())
    if (auto found = dyn_cast<ElasticAccumulateOp>(op))
      accumulate = found;
  if (!lse || !accumulate)
    return success();
  int64_t rows = schedule.geometry.rows;
  Location loc = logSumExp.getLoc();
  IRRewriter rewriter(logSumExp);
  IndexBuilder math(rewriter, loc);
  auto maximaType = RankedTensorType::get({rows, ShapedType::kDynamic},
                                          rewriter.getF32Type());
  Value maxima0 = tensor::EmptyOp::create(rewriter, loc, maximaType,
                                          ValueRange{schedule.count});
  auto rowType = RankedTensorType::get({rows}, rewriter.getF32Type());
  Value negInf = arith::ConstantOp::create(
      rewriter, loc,
      DenseElementsAttr::get(
          rowType, ArrayRef<float>{-std::numeric_limits<float>::infinity()}));
  Value zeros = arith::ConstantOp::create(
      rewriter, loc, DenseElementsAttr::get(rowType, ArrayRef<float>{0.0f}));
  Value scores = lse.getScores();
  FailureOr<LoopLikeOpInterface> extended =
      cast<LoopLikeOpInterface>(logSumExp.getOperation())
          .replaceWithAdditionalYields(
              rewriter, ValueRange{maxima0},
              /*replaceInitOperandUsesInLoop=*/false,
              [&](OpBuilder &nb, Location nl,
                  ArrayRef<BlockArgument> carried) -> SmallVector<Value> {
                Value tileMax =
                    RowMaxOp::create(nb, nl, scores, negInf, zeros).getNewMax();
                Value position =
                    cast<scf::ForOp>(nb.getInsertionBlock()->getParentOp())
                        .getInductionVar();
                OpFoldResult one = nb.getIndexAttr(1);
                return {tensor::InsertSliceOp::create(
                    nb, nl, tileMax, carried[0],
                    ArrayRef<OpFoldResult>{nb.getIndexAttr(0), position},
                    ArrayRef<OpFoldResult>{nb.getIndexAttr(rows), one},
                    ArrayRef<OpFoldResult>{one, one})};
              });
  if (failed(extended))
    return failure();
  Value maxima = extended->getLoopResults()->back();

  // Output body: scf.if %live { original body } else { carried state }.
  Block *body = output.getBody();
  OpBuilder b(output);
  b.setInsertionPointToStart(body);
  OpFoldResult one = b.getIndexAttr(1);
  Value column = tensor::ExtractSliceOp::create(
      b, loc, rowType, maxima,
      ArrayRef<OpFoldResult>{b.getIndexAttr(0), output.getInductionVar()},
      ArrayRef<OpFoldResult>{b.getIndexAttr(rows), one},
      ArrayRef<OpFoldResult>{one, one});
  Value live = ElasticTileLiveOp::create(
      b, loc, column, accumulate.getMax(), accumulate.getSum(),
      accumulate.getTau(), accumulate.getPosition());
  auto yield = cast<scf::YieldOp>(body->getTerminator());
  auto guard = scf::IfOp::create(b, loc, output.getResultTypes(), live,
                                 /*withElseRegion=*/true);
  Block *thenBlock = guard.thenBlock();
  for (Operation &op : llvm::make_early_inc_range(llvm::make_range(
           std::next(Block::iterator(guard)), Block::iterator(yield))))
    op.moveBefore(thenBlock, thenBlock->end());
  b.setInsertionPointToEnd(thenBlock);
  scf::YieldOp::create(b, loc, yield.getOperands());
  b.setInsertionPointToEnd(guard.elseBlock());
  scf::YieldOp::create(b, loc, output.getRegionIterArgs());
  yield->setOperands(guard.getResults());
  return success();
}

//===----------------------------------------------------------------------===//
// Pass
//===----------------------------------------------------------------------===//

struct SparseAttnSkipBlocksPass
    : public sparse_attn::impl::SparseAttnSkipBlocksPassBase<
          SparseAttnSkipBlocksPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<scf::ForallOp> grids;
    getOperation().walk([&](scf::ForallOp grid) {
      auto kind = grid->getAttrOfType<StringAttr>(kGridAttr);
      if (kind && kind.getValue() == "attention")
        grids.push_back(grid);
    });
    for (scf::ForallOp grid : grids)
      if (failed(rewriteGrid(grid)))
        return signalPassFailure();
  }

  LogicalResult rewriteGrid(scf::ForallOp grid) {
    SmallVector<scf::ForOp> loops;
    grid.getBody()->walk([&](scf::ForOp loop) {
      if (loop->hasAttr(kKeyPassAttr))
        loops.push_back(loop);
    });
    std::map<std::vector<const void *>, std::unique_ptr<Schedule>> schedules;
    DenseMap<Operation *, std::pair<Value, Value>> tiles;
    DenseMap<Operation *, Schedule *> scheduleOf;
    for (scf::ForOp loop : loops) {
      ScoreTileOp score = findScoreTile(loop);
      if (!score || !score.isMasked() ||
          !matchPattern(loop.getLowerBound(), m_Zero()) ||
          !matchPattern(loop.getStep(), m_One()))
        continue;
      RegionPredicate predicate = analyzePredicate(score);
      std::unique_ptr<Schedule> &schedule = schedules[predicate.signature()];
      if (!schedule)
        schedule = buildSchedule(grid, loop, score, predicate);
      tiles[loop] = applySchedule(loop, *schedule);
      scheduleOf[loop] = schedule.get();
      ++numKeyLoops;
      if (schedule->list)
        ++numListWalks;
    }

    // Normaliser-specific skipping in the output passes.
    scf::ForOp logSumExp;
    for (scf::ForOp loop : loops) {
      if (!scheduleOf.count(loop))
        continue;
      StringRef kind = loop->getAttrOfType<StringAttr>(kKeyPassAttr).getValue();
      auto [keyTile, full] = tiles[loop];
      if (kind == key_pass::kLogSumExp)
        logSumExp = loop;
      if (kind == key_pass::kEntmaxOutput) {
        restrictEntmaxOutput(loop, keyTile, full, *scheduleOf[loop]);
        ++numEntmaxMasks;
      }
      if (kind == key_pass::kElasticOutput && logSumExp &&
          scheduleOf[logSumExp] == scheduleOf[loop]) {
        if (failed(skipDeadElasticTiles(logSumExp, loop, *scheduleOf[loop])))
          return loop.emitError("could not record the elastic tile maxima");
        ++numElasticSkips;
      }
    }
    return success();
  }

  /// The schedule of a predicate, built before the grid point's first key
  /// loop.
  std::unique_ptr<Schedule> buildSchedule(scf::ForallOp grid, scf::ForOp loop,
                                          ScoreTileOp score,
                                          const RegionPredicate &predicate) {
    // Before the op of the grid body holding the first key loop.
    Operation *anchor = nullptr;
    for (Operation &op : *grid.getBody()) {
      bool holdsKeyLoop = false;
      op.walk([&](scf::ForOp inner) {
        if (inner->hasAttr(kKeyPassAttr))
          holdsKeyLoop = true;
      });
      if (holdsKeyLoop) {
        anchor = &op;
        break;
      }
    }
    OpBuilder b(anchor);
    Location loc = loop.getLoc();
    IndexBuilder math(b, loc);
    auto schedule = std::make_unique<Schedule>();
    TileGeometry &geometry = schedule->geometry;
    geometry.rows = score.getType().getDimSize(0);
    geometry.keys = score.getType().getDimSize(1);
    geometry.rowStart = score.getRowOffset();
    geometry.numTiles = loop.getUpperBound();
    Value end = math.add(geometry.rowStart, math.constant(geometry.rows));
    if (predicate.rowBound)
      end = math.min(end, predicate.rowBound);
    geometry.lastRow = math.sub(end, math.constant(1));
    schedule->expr = ExprBuilder(b, loc).build(predicate);
    if (schedule->expr->hasList() ||
        failed(buildRangeSchedule(b, loc, *schedule)))
      buildListSchedule(b, loc, *schedule);
    return schedule;
  }
};

} // namespace
