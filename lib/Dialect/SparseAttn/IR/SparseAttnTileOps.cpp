//===- SparseAttnTileOps.cpp - tile-level sparse_attn ops -------*- C++ -*-===//
//
// Verifiers of the tile-level ops (the ODS constraints already check ranks,
// static shapes and element types; these check how the shapes relate).
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

static int64_t rowsOf(Value tile) {
  return cast<RankedTensorType>(tile.getType()).getDimSize(0);
}

static int64_t columnsOf(Value tile) {
  return cast<RankedTensorType>(tile.getType()).getDimSize(1);
}

/// A per-row vector (running max, sum, threshold...) has one entry per row
/// of the tile it describes.
static LogicalResult verifyRowVector(Operation *op, Value vector,
                                     StringRef name, int64_t rows) {
  int64_t size = rowsOf(vector);
  if (size != rows)
    return op->emitOpError() << name << " must have one entry per tile row ("
                             << rows << "), got " << size;
  return success();
}

/// The P @ V operands of an accumulating step: `value [TK, Dv]` has one row
/// per score column and `acc [TQ, Dv]` one row per score row.
static LogicalResult verifyValueProduct(Operation *op, Value scores,
                                        Value value, Value acc) {
  if (rowsOf(value) != columnsOf(scores))
    return op->emitOpError("value tile must have one row per score column (")
           << columnsOf(scores) << "), got " << rowsOf(value);
  SmallVector<int64_t> expected = {rowsOf(scores), columnsOf(value)};
  ArrayRef<int64_t> actual = cast<RankedTensorType>(acc.getType()).getShape();
  if (actual != ArrayRef<int64_t>(expected))
    return op->emitOpError("accumulator must be ")
           << shapeToString(expected) << " (score rows x value columns), got "
           << shapeToString(actual);
  return success();
}

static LogicalResult verifyOutputTile(Operation *op, Value acc, Value output) {
  ArrayRef<int64_t> accShape = cast<RankedTensorType>(acc.getType()).getShape();
  ArrayRef<int64_t> outShape =
      cast<RankedTensorType>(output.getType()).getShape();
  if (accShape != outShape)
    return op->emitOpError("output tile must have the accumulator's shape ")
           << shapeToString(accShape) << ", got " << shapeToString(outShape);
  return success();
}

static LogicalResult verifyHistogram(Operation *op, Value histogram,
                                     int64_t rows) {
  ArrayRef<int64_t> shape =
      cast<RankedTensorType>(histogram.getType()).getShape();
  if (shape.size() != 2 || shape[0] != rows || shape[1] < 1)
    return op->emitOpError("histogram must be ")
           << rows << "xBINS (rows x bin counts), got " << shapeToString(shape);
  return success();
}

static LogicalResult verifyGapRecord(Operation *op, Value gap,
                                     int64_t rows) {
  ArrayRef<int64_t> shape = cast<RankedTensorType>(gap.getType()).getShape();
  if (shape.size() != 2 || shape[0] != rows || shape[1] < 2)
    return op->emitOpError("gap record must be ")
           << rows << "x(1+K) (rows x count and K >= 1 entries), got "
           << shapeToString(shape);
  return success();
}

static LogicalResult verifyPositiveScale(Operation *op, double scale,
                                         StringRef name) {
  if (!std::isfinite(scale) || scale <= 0.0)
    return op->emitOpError() << name << " must be finite and positive, got "
                             << formatFloat(scale);
  return success();
}

//===----------------------------------------------------------------------===//
// Loading tiles
//===----------------------------------------------------------------------===//

/// A tile of rows of a [B, H, N, D] source: its element type and width.
static LogicalResult verifyRowTile(Operation *op, RankedTensorType source,
                                   RankedTensorType result) {
  if (source.getElementType() != result.getElementType())
    return op->emitOpError("tile element type must be the source element "
                           "type (")
           << source.getElementType() << ")";
  int64_t headDim = source.getDimSize(3);
  if (ShapedType::isDynamic(headDim))
    return op->emitOpError("source head dimension must be static");
  if (result.getDimSize(1) != headDim)
    return op->emitOpError("tile rows must have the source head dimension (")
           << headDim << "), got " << result.getDimSize(1);
  return success();
}

LogicalResult LoadTileOp::verify() {
  return verifyRowTile(*this, getSource().getType(), getResult().getType());
}

LogicalResult GatherTileOp::verify() {
  return verifyRowTile(*this, getSource().getType(), getResult().getType());
}

LogicalResult LoadScoreChunkOp::verify() {
  return verifyPositiveScale(*this, getScale().convertToDouble(), "scale");
}

//===----------------------------------------------------------------------===//
// Scores and visibility
//===----------------------------------------------------------------------===//

Value ScoreTileOp::getVisibleCondition() {
  if (getVisible().empty())
    return {};
  return cast<YieldOp>(getVisible().front().getTerminator()).getValue();
}

LogicalResult ScoreTileOp::verify() {
  RankedTensorType query = getQuery().getType();
  RankedTensorType key = getKey().getType();
  if (query.getElementType() != key.getElementType())
    return emitOpError("query and key tiles must have the same element type");
  if (query.getDimSize(1) != key.getDimSize(1))
    return emitOpError("query and key tiles must have the same head "
                       "dimension, got ")
           << query.getDimSize(1) << " and " << key.getDimSize(1);
  SmallVector<int64_t> expected = {query.getDimSize(0), key.getDimSize(0)};
  if (getResult().getType().getShape() != ArrayRef<int64_t>(expected))
    return emitOpError("result must be a ")
           << shapeToString(expected) << " tile (query rows x key rows), got "
           << shapeToString(getResult().getType().getShape());
  if (failed(verifyPositiveScale(*this, getScale().convertToDouble(), "scale")))
    return failure();

  bool hasBias = static_cast<bool>(getBias());
  if (hasBias != static_cast<bool>(getBiasHead()) ||
      hasBias != static_cast<bool>(getBiasDiagonal()))
    return emitOpError("bias, bias head and bias diagonal come together");
  if (hasBias != getBiasScale().has_value())
    return emitOpError("bias_scale is given exactly when a bias is");
  if (std::optional<APFloat> biasScale = getBiasScale())
    if (failed(verifyPositiveScale(*this, biasScale->convertToDouble(),
                                   "bias_scale")))
      return failure();

  if (getVisible().empty())
    return success();
  Block &body = getVisible().front();
  if (body.getNumArguments() != 2 ||
      !llvm::all_of(body.getArgumentTypes(),
                    [](Type type) { return type.isIndex(); }))
    return emitOpError("visible region must take two index arguments (query "
                       "and key position)");
  if (body.empty() || !isa<YieldOp>(body.back()))
    return emitOpError("visible region must end with sparse_attn.yield");
  return success();
}

LogicalResult IndexRowContainsOp::verify() {
  ArrayRef<int64_t> counts = getCounts().getType().getShape();
  ArrayRef<int64_t> indices = getIndices().getType().getShape();
  for (auto [count, index] : llvm::zip_equal(counts, indices.drop_back()))
    if (!ShapedType::isDynamic(count) && !ShapedType::isDynamic(index) &&
        count != index)
      return emitOpError("counts ")
             << shapeToString(counts)
             << " do not match the leading extents of indices "
             << shapeToString(indices);
  return success();
}

//===----------------------------------------------------------------------===//
// Softmax and elastic softmax
//===----------------------------------------------------------------------===//

LogicalResult OnlineSoftmaxOp::verify() {
  if (failed(
          verifyRowVector(*this, getMax(), "running max", rowsOf(getScores()))))
    return failure();
  return verifyValueProduct(*this, getScores(), getValue(), getAcc());
}

LogicalResult OnlineLogSumExpOp::verify() {
  return verifyRowVector(*this, getMax(), "running max", rowsOf(getScores()));
}

LogicalResult RowMaxOp::verify() {
  return verifyRowVector(*this, getMax(), "running max", rowsOf(getScores()));
}

LogicalResult ElasticAccumulateOp::verify() {
  if (failed(verifyRowVector(*this, getMax(), "row max", rowsOf(getScores()))))
    return failure();
  return verifyValueProduct(*this, getScores(), getValue(), getAcc());
}

LogicalResult SoftmaxFinalizeOp::verify() {
  if (failed(verifyRowVector(*this, getMax(), "row max", rowsOf(getAcc()))))
    return failure();
  return verifyOutputTile(*this, getAcc(), getOutput());
}

//===----------------------------------------------------------------------===//
// Entmax
//===----------------------------------------------------------------------===//

LogicalResult EntmaxHistogramOp::verify() {
  int64_t rows = rowsOf(getScores());
  if (failed(verifyRowVector(*this, getMax(), "row max", rows)))
    return failure();
  return verifyHistogram(*this, getHistogram(), rows);
}

LogicalResult EntmaxMomentsOp::verify() {
  return verifyRowVector(*this, getThreshold(), "threshold",
                         rowsOf(getScores()));
}

LogicalResult EntmaxThresholdInitOp::verify() {
  Value histogram = getHistogram();
  if (!histogram)
    return success();
  EntmaxAttr config = getConfig();
  if (!config.isOnePointFive() && !config.isSparsemax())
    return emitOpError("the histogram start needs alpha 1.5 or 2, got ")
           << formatFloat(config.getAlphaValue());
  return verifyHistogram(*this, histogram, rowsOf(getMax()));
}

LogicalResult EntmaxAccumulateOp::verify() {
  if (failed(verifyRowVector(*this, getThreshold(), "threshold",
                             rowsOf(getScores()))))
    return failure();
  return verifyValueProduct(*this, getScores(), getValue(), getAcc());
}

LogicalResult EntmaxWeightsOp::verify() {
  if (failed(verifyRowVector(*this, getThreshold(), "threshold",
                             rowsOf(getScores()))))
    return failure();
  if (getResult().getType().getShape() != getScores().getType().getShape())
    return emitOpError("result must have the shape of the scores ")
           << shapeToString(getScores().getType().getShape()) << ", got "
           << shapeToString(getResult().getType().getShape());
  return success();
}

LogicalResult EntmaxThresholdStepOp::verify() {
  Value gap = getGap();
  if (!gap)
    return success();
  EntmaxAttr config = getConfig();
  if (!config.isOnePointFive() && !config.isSparsemax())
    return emitOpError("takes a gap record only for alpha 1.5 or 2, got ")
           << formatFloat(config.getAlphaValue());
  return verifyGapRecord(*this, gap, rowsOf(getThreshold()));
}

LogicalResult EntriesBetweenOp::verify() {
  int64_t rows = rowsOf(getScores());
  if (failed(verifyRowVector(*this, getLower(), "lower bound", rows)))
    return failure();
  return verifyGapRecord(*this, getGap(), rows);
}

LogicalResult AnyAboveOp::verify() {
  return verifyRowVector(*this, getThreshold(), "threshold",
                         rowsOf(getScores()));
}

LogicalResult EntmaxFinalizeOp::verify() {
  if (failed(verifyRowVector(*this, getThreshold(), "threshold",
                             rowsOf(getAcc()))))
    return failure();
  return verifyOutputTile(*this, getAcc(), getOutput());
}
