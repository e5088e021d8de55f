//===- DecomposeVerticalSlash.cpp - sparse-attn-decompose-vertical-slash --===//
//
// MInference's executed form: a softmax key loop reading a vertical-slash
// mask token by token becomes a walk over the merged key ranges of the kept
// diagonals and a walk over the gathered kept columns outside them, both
// carrying one online-softmax state.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h"

#include "TiledForm.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::sparse_attn {
#define GEN_PASS_DEF_SPARSEATTNDECOMPOSEVERTICALSLASHPASS
#include "sparse_attn/Dialect/SparseAttn/Transforms/Passes.h.inc"
} // namespace mlir::sparse_attn

using namespace mlir;
using namespace mlir::sparse_attn;

namespace {

/// A softmax key loop whose score region reads a vertical-slash mask and
/// otherwise only the conjuncts block skipping understands.
struct VerticalSlashLoop {
  scf::ForOp loop;
  ScoreTileOp score;
  MaskVisibleOp visible;
  VerticalSlashMaskOp estimator;
  LoadTileOp keyLoad, valueLoad;
  OnlineSoftmaxOp softmax;
  RegionPredicate predicate;
};

std::optional<VerticalSlashLoop> matchLoop(scf::ForOp loop) {
  auto kind = loop->getAttrOfType<StringAttr>(kKeyPassAttr);
  if (!kind || kind.getValue() != key_pass::kSoftmax)
    return std::nullopt;
  VerticalSlashLoop match;
  match.loop = loop;
  // The body loads, scores (skip-blocks may have split the score into an
  // scf.if of an unmasked and a masked copy) and accumulates; nothing else.
  for (Operation &op : loop.getBody()->without_terminator()) {
    if (auto softmax = dyn_cast<OnlineSoftmaxOp>(op)) {
      if (match.softmax)
        return std::nullopt;
      match.softmax = softmax;
    } else if (!isa<LoadTileOp, ScoreTileOp, scf::IfOp>(op) &&
               op.getDialect()->getNamespace() != "arith") {
      return std::nullopt;
    }
  }
  SmallVector<ScoreTileOp> scores;
  loop.getBody()->walk([&](ScoreTileOp score) { scores.push_back(score); });
  for (ScoreTileOp score : scores) {
    if (!score.isMasked())
      continue;
    if (match.score)
      return std::nullopt;
    match.score = score;
  }
  if (!match.score || !match.softmax || match.score.getBias())
    return std::nullopt;
  Value scoresUsed = match.softmax.getScores();
  if (auto split = scoresUsed.getDefiningOp<scf::IfOp>()) {
    if (split->getParentOp() != loop ||
        !llvm::all_of(split->getRegions(), [](Region &region) {
          return llvm::all_of(region.front(), [](Operation &op) {
            return isa<ScoreTileOp, scf::YieldOp>(op);
          });
        }))
      return std::nullopt;
  } else if (scoresUsed != match.score.getResult()) {
    return std::nullopt;
  }
  match.predicate = analyzePredicate(match.score);
  if (match.predicate.hasUnknown || match.predicate.masks.size() != 1)
    return std::nullopt;
  match.visible = match.predicate.masks.front();
  match.estimator =
      match.visible.getMask().getDefiningOp<VerticalSlashMaskOp>();
  match.keyLoad = match.score.getKey().getDefiningOp<LoadTileOp>();
  match.valueLoad = match.softmax.getValue().getDefiningOp<LoadTileOp>();
  if (!match.estimator || !match.keyLoad || !match.valueLoad)
    return std::nullopt;
  // What the new walks read besides the key position comes from the grid
  // point.
  SmallVector<Value> invariants = {
      match.keyLoad.getSource(),   match.keyLoad.getBatch(),
      match.keyLoad.getHead(),     match.valueLoad.getSource(),
      match.valueLoad.getBatch(),  match.valueLoad.getHead(),
      match.score.getQuery(),      match.score.getRowOffset(),
      match.visible.getBatch(),    match.visible.getHead(),
      match.predicate.keyBound,    match.predicate.rowBound,
      match.predicate.causalOffset};
  if (!llvm::all_of(invariants, [&](Value value) {
        return !value || loop.isDefinedOutsideOfLoop(value);
      }))
    return std::nullopt;
  // The loop carries exactly the online-softmax state.
  auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
  ValueRange state = loop.getRegionIterArgs();
  if (state.size() != 3 ||
      !llvm::equal(yield.getOperands(), match.softmax.getResults()) ||
      match.softmax.getMax() != state[0] ||
      match.softmax.getSum() != state[1] || match.softmax.getAcc() != state[2])
    return std::nullopt;
  return match;
}

/// `clamp(lengths[batch], 0, extent)`, or `extent` without lengths.
Value validLength(OpBuilder &b, Location loc, Value lengths, Value batch,
                  Value extent) {
  if (!lengths)
    return extent;
  IndexBuilder math(b, loc);
  return math.clamp(math.read(lengths, batch), math.constant(0), extent);
}

/// Rewrites one key loop of one grid point.
class LoopRewriter {
public:
  LoopRewriter(VerticalSlashLoop match, SelectVerticalSlashOp selection)
      : m(match), selection(selection), b(match.loop), loc(match.loop.getLoc()),
        math(b, loc) {}

  void rewrite();

private:
  /// Per-grid-point values of the mask (positions are the estimator's).
  void buildGeometry();
  /// `prefix[o]` = the number of listed entries below `o` for o <= Nk, one
  /// tensor<?xi32> per list: O(1) membership and interval tests.
  Value buildPrefixCounts(Value count, Value list);
  /// The kept diagonals of the tile's live rows as key ranges, merged:
  /// (starts and ends interleaved, number of ranges).
  std::pair<Value, Value> buildRanges();
  /// The kept columns inside no range and before the tile's last position.
  std::pair<Value, Value> buildGatheredColumns();

  /// Whether `prefix` lists every entry of `[lo, hi]`.
  Value allListed(OpBuilder &nb, Value prefix, Value lo, Value hi);
  /// Whether `prefix` lists `at` (false outside `[0, Nk)`).
  Value listed(OpBuilder &nb, Value prefix, Value at);
  /// The score tile of `key` at `colOffset`: unmasked where `full`, else
  /// with the original region, the key of column `c` being `keyOf(c)` and
  /// the mask query replaced by `maskOf(i, j, c)`.
  Value
  buildScore(OpBuilder &nb, Value key, Value colOffset, Value full,
             function_ref<Value(OpBuilder &, Value)> keyOf,
             function_ref<Value(OpBuilder &, Value, Value, Value)> maskOf);
  /// The original loop's online_softmax step on `scores` and `value` from
  /// `state`.
  ValueRange buildSoftmax(OpBuilder &nb, Value scores, Value value,
                          ValueRange state);
  /// Full-tile conjuncts of the attention's own predicate for keys up to
  /// `lastKey`.
  Value attentionFull(OpBuilder &nb, Value lastKey);

  VerticalSlashLoop m;
  SelectVerticalSlashOp selection;
  OpBuilder b;
  Location loc;
  IndexBuilder math;
  int64_t rows, keys;
  Value maskBatch, maskHead, queryLength, offset, rowStart, liveEnd, lastRow,
      isLive, slashPrefix, columnPrefix;
};

void LoopRewriter::buildGeometry() {
  rows = m.score.getType().getDimSize(0);
  keys = m.score.getType().getDimSize(1);
  VerticalSlashMaskOp estimator = m.estimator;
  auto extent = [&](Value tensor, int64_t dim) {
    return tensor::DimOp::create(b, loc, tensor, dim).getResult();
  };
  maskBatch = broadcastIndex(b, loc, extent(estimator.getQuery(), 0),
                             m.visible.getBatch());
  maskHead = broadcastIndex(b, loc, extent(estimator.getQuery(), 1),
                            m.visible.getHead());
  Value nq = extent(estimator.getQuery(), 2),
        nk = extent(estimator.getKey(), 2);
  queryLength = validLength(b, loc, estimator.getQueryLengths(), maskBatch, nq);
  Value keyLength =
      validLength(b, loc, estimator.getKeyLengths(), maskBatch, nk);
  offset = math.sub(keyLength, queryLength);
  rowStart = m.score.getRowOffset();
  Value tileEnd = math.add(rowStart, math.constant(rows));
  // Rows past the attention's row bound are dead (finalised to zero): a
  // tile is full when its live rows see every key.
  liveEnd =
      m.predicate.rowBound ? math.min(tileEnd, m.predicate.rowBound) : tileEnd;
  lastRow = math.sub(math.min(tileEnd, queryLength), math.constant(1));
  isLive = math.le(rowStart, lastRow);
  slashPrefix =
      buildPrefixCounts(selection.getOffsetCount(), selection.getOffsets());
  columnPrefix =
      buildPrefixCounts(selection.getColumnCount(), selection.getColumns());
}

Value LoopRewriter::buildPrefixCounts(Value count, Value list) {
  Value nk = tensor::DimOp::create(b, loc, list, 2);
  Value size = math.add(nk, math.constant(1));
  Value zero = arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0);
  Value empty = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{size},
                                        b.getI32Type());
  Value init = tensor::InsertOp::create(b, loc, zero, empty,
                                        ValueRange{math.constant(0)});
  Value listCount = math.read(count, {maskBatch, maskHead});
  Value upper = math.select(isLive, nk, math.constant(0));
  auto loop = scf::ForOp::create(
      b, loc, math.constant(0), upper, math.constant(1),
      ValueRange{init, zero, math.constant(0)},
      [&](OpBuilder &nb, Location nl, Value position, ValueRange state) {
        IndexBuilder inner(nb, nl);
        Value next = state[2];
        Value entry = inner.read(
            list, {maskBatch, maskHead,
                   inner.min(next, inner.sub(nk, inner.constant(1)))});
        Value here =
            inner.allOf({inner.lt(next, listCount),
                         inner.cmp(arith::CmpIPredicate::eq, entry, position)});
        Value counted = arith::AddIOp::create(
            nb, nl, state[1],
            arith::ExtUIOp::create(nb, nl, nb.getI32Type(), here));
        Value written = tensor::InsertOp::create(
            nb, nl, counted, state[0],
            ValueRange{inner.add(position, inner.constant(1))});
        Value advanced = inner.add(next, arith::IndexCastUIOp::create(
                                             nb, nl, nb.getIndexType(), here));
        scf::YieldOp::create(nb, nl, ValueRange{written, counted, advanced});
      });
  return loop.getResult(0);
}

Value LoopRewriter::listed(OpBuilder &nb, Value prefix, Value at) {
  IndexBuilder inner(nb, loc);
  Value nk =
      inner.sub(tensor::DimOp::create(nb, loc, prefix, 0), inner.constant(1));
  Value inside =
      inner.allOf({inner.le(inner.constant(0), at), inner.lt(at, nk)});
  Value clamped = inner.clamp(
      at, inner.constant(0),
      inner.max(inner.sub(nk, inner.constant(1)), inner.constant(0)));
  Value below = inner.read(prefix, clamped);
  Value through = inner.read(prefix, inner.add(clamped, inner.constant(1)));
  return inner.allOf(
      {inside, inner.cmp(arith::CmpIPredicate::ne, below, through)});
}

Value LoopRewriter::allListed(OpBuilder &nb, Value prefix, Value lo, Value hi) {
  IndexBuilder inner(nb, loc);
  Value nk =
      inner.sub(tensor::DimOp::create(nb, loc, prefix, 0), inner.constant(1));
  Value first = inner.clamp(lo, inner.constant(0), nk);
  Value end = inner.clamp(inner.add(hi, inner.constant(1)), first, nk);
  Value count = inner.sub(inner.read(prefix, end), inner.read(prefix, first));
  return inner.allOf(
      {inner.le(inner.constant(0), lo), inner.le(lo, hi),
       inner.cmp(arith::CmpIPredicate::eq, count,
                 inner.sub(inner.add(hi, inner.constant(1)), lo))});
}

std::pair<Value, Value> LoopRewriter::buildRanges() {
  Value nk = tensor::DimOp::create(b, loc, selection.getOffsets(), 2);
  Value capacity = math.mul(nk, 2);
  Value list = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{capacity},
                                       b.getI32Type());
  Value count = math.read(selection.getOffsetCount(), {maskBatch, maskHead});
  Value upper = math.select(isLive, count, math.constant(0));
  Value zero = math.constant(0);
  // Descending offsets give ascending key intervals
  // [max(q0 + off - o, 0), last + off - o] of equal length: an interval
  // extends the open range when it starts at or before the range's end.
  auto walk = scf::ForOp::create(
      b, loc, zero, upper, math.constant(1), ValueRange{list, zero, zero, zero},
      [&](OpBuilder &nb, Location nl, Value step, ValueRange state) {
        IndexBuilder inner(nb, nl);
        Value slot = inner.sub(inner.sub(count, inner.constant(1)), step);
        Value diagonal =
            inner.read(selection.getOffsets(), {maskBatch, maskHead, slot});
        Value start =
            inner.max(inner.sub(inner.add(rowStart, offset), diagonal),
                      inner.constant(0));
        Value end = inner.add(inner.sub(inner.add(lastRow, offset), diagonal),
                              inner.constant(1));
        Value openStart = state[2], openEnd = state[3];
        Value nonEmpty = inner.lt(start, end);
        Value open = inner.lt(openStart, openEnd);
        Value extends = inner.allOf({open, inner.le(start, openEnd)});
        Value notExtends = inner.notI(extends);
        Value flush = inner.allOf({nonEmpty, open, notExtends});
        auto [withStart, grown] = appendTileEntryIf(
            nb, nl, flush, inner.toI32(openStart), state[0], state[1]);
        auto [withEnd, appended] = appendTileEntryIf(
            nb, nl, flush, inner.toI32(openEnd), withStart, grown);
        Value newStart =
            inner.select(inner.allOf({nonEmpty, notExtends}), start, openStart);
        Value newEnd = inner.select(
            nonEmpty, inner.select(extends, inner.max(openEnd, end), end),
            openEnd);
        scf::YieldOp::create(nb, nl,
                             ValueRange{withEnd, appended, newStart, newEnd});
      });
  ValueRange state = walk.getResults();
  Value open = math.lt(state[2], state[3]);
  auto [withStart, grown] =
      appendTileEntryIf(b, loc, open, math.toI32(state[2]), state[0], state[1]);
  auto [withEnd, appended] =
      appendTileEntryIf(b, loc, open, math.toI32(state[3]), withStart, grown);
  return {withEnd, arith::DivUIOp::create(b, loc, appended, math.constant(2))};
}

std::pair<Value, Value> LoopRewriter::buildGatheredColumns() {
  Value columns = selection.getColumns();
  Value nk = tensor::DimOp::create(b, loc, columns, 2);
  Value list = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{nk},
                                       b.getI32Type());
  Value count = math.read(selection.getColumnCount(), {maskBatch, maskHead});
  Value upper = math.select(isLive, count, math.constant(0));
  Value zero = math.constant(0);
  auto walk = scf::ForOp::create(
      b, loc, zero, upper, math.constant(1), ValueRange{list, zero},
      [&](OpBuilder &nb, Location nl, Value slot, ValueRange state) {
        IndexBuilder inner(nb, nl);
        Value column = inner.read(columns, {maskBatch, maskHead, slot});
        Value lastPosition = inner.add(lastRow, offset);
        Value reached = inner.le(column, lastPosition);
        // Inside a range iff a live row reaches it along a kept diagonal.
        Value firstDiagonal = inner.sub(inner.add(rowStart, offset), column);
        Value lastDiagonal = inner.sub(lastPosition, column);
        Value nkInner = inner.sub(tensor::DimOp::create(nb, nl, slashPrefix, 0),
                                  inner.constant(1));
        Value lo = inner.clamp(firstDiagonal, inner.constant(0), nkInner);
        Value hi = inner.clamp(inner.add(lastDiagonal, inner.constant(1)), lo,
                               nkInner);
        Value covered =
            inner.cmp(arith::CmpIPredicate::ne, inner.read(slashPrefix, hi),
                      inner.read(slashPrefix, lo));
        Value outside = inner.notI(covered);
        auto [written, grown] =
            appendTileEntryIf(nb, nl, inner.allOf({reached, outside}),
                              inner.toI32(column), state[0], state[1]);
        scf::YieldOp::create(nb, nl, ValueRange{written, grown});
      });
  return {walk.getResult(0), walk.getResult(1)};
}

Value LoopRewriter::attentionFull(OpBuilder &nb, Value lastKey) {
  IndexBuilder inner(nb, loc);
  SmallVector<Value> conditions = {inner.le(liveEnd, queryLength)};
  if (Value bound = m.predicate.keyBound)
    conditions.push_back(inner.lt(lastKey, bound));
  if (Value causal = m.predicate.causalOffset)
    conditions.push_back(inner.le(lastKey, inner.add(rowStart, causal)));
  return inner.allOf(conditions);
}

Value LoopRewriter::buildScore(
    OpBuilder &nb, Value key, Value colOffset, Value full,
    function_ref<Value(OpBuilder &, Value)> keyOf,
    function_ref<Value(OpBuilder &, Value, Value, Value)> maskOf) {
  IRMapping operands;
  operands.map(m.score.getKey(), key);
  operands.map(m.score.getColOffset(), colOffset);
  auto select = scf::IfOp::create(nb, loc, TypeRange{m.score.getType()}, full,
                                  /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(nb);
  nb.setInsertionPointToStart(select.thenBlock());
  Operation *unmasked =
      nb.cloneWithoutRegions(*m.score.getOperation(), operands);
  scf::YieldOp::create(nb, loc, unmasked->getResults());

  nb.setInsertionPointToStart(select.elseBlock());
  auto masked = cast<ScoreTileOp>(
      nb.cloneWithoutRegions(*m.score.getOperation(), operands));
  scf::YieldOp::create(nb, loc, masked->getResults());
  Block &original = m.score.getVisible().front();
  Block *region =
      nb.createBlock(&masked.getVisible(), masked.getVisible().end(),
                     original.getArgumentTypes(), {loc, loc});
  Value i = region->getArgument(0), c = region->getArgument(1);
  Value j = keyOf(nb, c);
  IRMapping mapping;
  mapping.map(original.getArgument(0), i);
  mapping.map(original.getArgument(1), j);
  for (Operation &op : original.without_terminator()) {
    if (&op == m.visible.getOperation())
      mapping.map(m.visible.getResult(), maskOf(nb, i, j, c));
    else
      nb.clone(op, mapping);
  }
  YieldOp::create(
      nb, loc,
      mapping.lookup(cast<YieldOp>(original.getTerminator()).getValue()));
  return select.getResult(0);
}

ValueRange LoopRewriter::buildSoftmax(OpBuilder &nb, Value scores, Value value,
                                      ValueRange state) {
  IRMapping mapping;
  mapping.map(m.softmax.getScores(), scores);
  mapping.map(m.valueLoad.getResult(), value);
  mapping.map(m.loop.getRegionIterArgs(), state);
  return nb.clone(*m.softmax.getOperation(), mapping)->getResults();
}

void LoopRewriter::rewrite() {
  buildGeometry();
  auto [ranges, rangeCount] = buildRanges();
  auto [gathered, gatheredCount] = buildGatheredColumns();
  Value tileKeys = math.constant(keys);
  LoadTileOp keyLoad = m.keyLoad, valueLoad = m.valueLoad;

  // The kept diagonals, range by range, in key tiles from the range start.
  auto rangeWalk = scf::ForOp::create(
      b, loc, math.constant(0), rangeCount, math.constant(1),
      m.loop.getInitArgs(),
      [&](OpBuilder &nb, Location nl, Value range, ValueRange state) {
        IndexBuilder inner(nb, nl);
        Value slot = inner.mul(range, 2);
        Value start = inner.read(ranges, slot);
        Value end = inner.read(ranges, inner.add(slot, inner.constant(1)));
        Value tiles = inner.ceilDiv(inner.sub(end, start), keys);
        auto chunks = scf::ForOp::create(
            nb, nl, inner.constant(0), tiles, inner.constant(1), state,
            [&](OpBuilder &tb, Location tl, Value tile, ValueRange carried) {
              IndexBuilder t(tb, tl);
              Value keyStart = t.add(start, t.mul(tile, keys));
              Value lastKey = t.add(keyStart, t.constant(keys - 1));
              Value key = LoadTileOp::create(
                  tb, tl, keyLoad.getType(), keyLoad.getSource(),
                  keyLoad.getBatch(), keyLoad.getHead(), keyStart);
              Value value = LoadTileOp::create(
                  tb, tl, valueLoad.getType(), valueLoad.getSource(),
                  valueLoad.getBatch(), valueLoad.getHead(), keyStart);
              Value liveLast = t.sub(liveEnd, t.constant(1));
              Value full = t.allOf(
                  {t.lt(lastKey, end), attentionFull(tb, lastKey),
                   allListed(tb, slashPrefix,
                             t.sub(t.add(rowStart, offset), lastKey),
                             t.sub(t.add(liveLast, offset), keyStart))});
              Value scores = buildScore(
                  tb, key, keyStart, full,
                  [&](OpBuilder &, Value j) { return j; },
                  [&](OpBuilder &rb, Value i, Value j, Value) {
                    IndexBuilder r(rb, tl);
                    Value position = r.add(i, offset);
                    Value kept = arith::OrIOp::create(
                        rb, tl, listed(rb, slashPrefix, r.sub(position, j)),
                        listed(rb, columnPrefix, j));
                    return r.allOf({r.lt(i, queryLength), r.le(j, position),
                                    r.lt(j, end), kept});
                  });
              scf::YieldOp::create(tb, tl,
                                   buildSoftmax(tb, scores, value, carried));
            });
        scf::YieldOp::create(nb, nl, chunks.getResults());
      });

  // The kept columns outside the ranges, gathered tile by tile.
  auto columnWalk = scf::ForOp::create(
      b, loc, math.constant(0), math.ceilDiv(gatheredCount, keys),
      math.constant(1), rangeWalk.getResults(),
      [&](OpBuilder &nb, Location nl, Value tile, ValueRange state) {
        IndexBuilder t(nb, nl);
        Value first = t.mul(tile, keys);
        Value lastSlot =
            t.sub(t.min(t.add(first, tileKeys), gatheredCount), t.constant(1));
        Value key = GatherTileOp::create(
            nb, nl, keyLoad.getType(), keyLoad.getSource(), keyLoad.getBatch(),
            keyLoad.getHead(), gathered, first, gatheredCount);
        Value value = GatherTileOp::create(
            nb, nl, valueLoad.getType(), valueLoad.getSource(),
            valueLoad.getBatch(), valueLoad.getHead(), gathered, first,
            gatheredCount);
        Value lastKey = t.read(gathered, lastSlot);
        Value full = t.allOf({t.le(t.add(first, tileKeys), gatheredCount),
                              t.le(lastKey, t.add(rowStart, offset)),
                              attentionFull(nb, lastKey)});
        Value scores = buildScore(
            nb, key, first, full,
            [&](OpBuilder &rb, Value c) {
              IndexBuilder r(rb, nl);
              return r.read(gathered, r.min(c, lastSlot));
            },
            [&](OpBuilder &rb, Value i, Value j, Value c) {
              IndexBuilder r(rb, nl);
              return r.allOf({r.lt(c, gatheredCount), r.lt(i, queryLength),
                              r.le(j, r.add(i, offset))});
            });
        scf::YieldOp::create(nb, nl, buildSoftmax(nb, scores, value, state));
      });
  // One pass over K for the instrumentation: its tiles are the output
  // pass's tiles.
  StringAttr kind = b.getStringAttr(key_pass::kSoftmax);
  rangeWalk->setAttr(kKeyPassAttr, kind);
  columnWalk->setAttr(kKeyPassAttr, kind);
  columnWalk->setAttr(kKeyPassContinuesAttr, b.getUnitAttr());
  m.loop->replaceAllUsesWith(columnWalk.getResults());
  m.loop->erase();
}

struct SparseAttnDecomposeVerticalSlashPass
    : sparse_attn::impl::SparseAttnDecomposeVerticalSlashPassBase<
          SparseAttnDecomposeVerticalSlashPass> {
  void runOnOperation() override {
    SmallVector<VerticalSlashLoop> matches;
    getOperation().walk([&](scf::ForOp loop) {
      if (std::optional<VerticalSlashLoop> match = matchLoop(loop))
        matches.push_back(*match);
    });
    DenseMap<Operation *, SelectVerticalSlashOp> selections;
    for (VerticalSlashLoop &match : matches) {
      VerticalSlashMaskOp estimator = match.estimator;
      SelectVerticalSlashOp &selection = selections[estimator];
      if (!selection) {
        OpBuilder b(estimator);
        b.setInsertionPointAfter(estimator);
        RankedTensorType queryType = estimator.getQuery().getType();
        int64_t batch = queryType.getDimSize(0),
                heads = queryType.getDimSize(1);
        int64_t keyLength = estimator.getKey().getType().getDimSize(2);
        auto countType = RankedTensorType::get({batch, heads}, b.getI32Type());
        auto listType =
            RankedTensorType::get({batch, heads, keyLength}, b.getI32Type());
        selection = SelectVerticalSlashOp::create(
            b, estimator.getLoc(), countType, listType, countType, listType,
            estimator.getConfig(), estimator.getQuery(), estimator.getKey(),
            estimator.getBudgets(), estimator.getQueryLengths(),
            estimator.getKeyLengths(), estimator.getScaleAttr());
      }
      LoopRewriter(match, selection).rewrite();
      ++numDecomposed;
    }
    for (auto &[estimator, selection] : selections)
      if (estimator->use_empty())
        estimator->erase();
  }
};

} // namespace
