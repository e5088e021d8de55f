//===- SparseAttnOps.cpp - sparse_attn operations ---------------*- C++ -*-===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "SparseAttnOpsCommon.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sparse_attn;

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

/// Two extents can describe the same runtime value.
static bool areCompatible(int64_t lhs, int64_t rhs) {
  return ShapedType::isDynamic(lhs) || ShapedType::isDynamic(rhs) ||
         lhs == rhs;
}

static bool areCompatible(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs) {
  if (lhs.size() != rhs.size())
    return false;
  for (auto [l, r] : llvm::zip_equal(lhs, rhs))
    if (!areCompatible(l, r))
      return false;
  return true;
}

std::string sparse_attn::shapeToString(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      shape, os,
      [&](int64_t extent) {
        if (ShapedType::isDynamic(extent))
          os << "?";
        else
          os << extent;
      },
      "x");
  return text;
}

/// A broadcastable extent of a mask (batch or heads) is 1 or matches.
static bool isBroadcastCompatible(int64_t maskExtent, int64_t extent) {
  return maskExtent == 1 || areCompatible(maskExtent, extent);
}

//===----------------------------------------------------------------------===//
// Custom directive: normalizer
//===----------------------------------------------------------------------===//

static ParseResult parseNormalizer(OpAsmParser &parser,
                                   NormalizerAttrInterface &normalizer) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  MLIRContext *context = parser.getContext();
  if (keyword == SoftmaxAttr::getMnemonic()) {
    normalizer = SoftmaxAttr::get(context);
    return success();
  }
  if (keyword == ElasticSoftmaxAttr::getMnemonic()) {
    normalizer = ElasticSoftmaxAttr::get(context);
    return success();
  }
  if (keyword == EntmaxAttr::getMnemonic()) {
    Attribute entmax = EntmaxAttr::parse(parser, Type());
    if (!entmax)
      return failure();
    normalizer = cast<NormalizerAttrInterface>(entmax);
    return success();
  }
  return parser.emitError(loc, "expected a normalizer (softmax, "
                               "entmax<alpha = ...> or elastic_softmax), got '")
         << keyword << "'";
}

static void printNormalizer(OpAsmPrinter &printer, Operation *,
                            NormalizerAttrInterface normalizer) {
  llvm::TypeSwitch<Attribute>(normalizer)
      .Case([&](SoftmaxAttr) { printer << SoftmaxAttr::getMnemonic(); })
      .Case([&](ElasticSoftmaxAttr) {
        printer << ElasticSoftmaxAttr::getMnemonic();
      })
      .Case([&](EntmaxAttr entmax) {
        printer << EntmaxAttr::getMnemonic();
        entmax.print(printer);
      });
}

#define GET_OP_CLASSES
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

double AttentionOp::getEffectiveScale() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToDouble();
  return 1.0 / std::sqrt(static_cast<double>(
                   getQuery().getType().getShape().back()));
}

int64_t AttentionOp::getGroupSize() {
  int64_t heads = getQuery().getType().getDimSize(1);
  int64_t kvHeads = getKey().getType().getDimSize(1);
  if (ShapedType::isDynamic(heads) || ShapedType::isDynamic(kvHeads) ||
      kvHeads == 0)
    return ShapedType::kDynamic;
  return heads / kvHeads;
}

LogicalResult AttentionOp::verify() {
  RankedTensorType queryType = getQuery().getType();
  RankedTensorType keyType = getKey().getType();
  RankedTensorType valueType = getValue().getType();
  Type elementType = queryType.getElementType();
  if (keyType.getElementType() != elementType ||
      valueType.getElementType() != elementType)
    return emitOpError("key and value must have the element type of the "
                       "query (")
           << elementType << ")";

  ArrayRef<int64_t> q = queryType.getShape();
  ArrayRef<int64_t> k = keyType.getShape();
  ArrayRef<int64_t> v = valueType.getShape();
  if (llvm::any_of(ArrayRef<int64_t>{q[3], k[3], v[3]}, [](int64_t extent) {
        return ShapedType::isDynamic(extent) || extent < 1;
      }))
    return emitOpError("head dimensions must be static and positive");
  if (q[3] != k[3])
    return emitOpError("query head dimension (")
           << q[3] << ") does not match the key head dimension (" << k[3]
           << ")";
  if (!areCompatible(q[0], k[0]) || !areCompatible(q[0], v[0]))
    return emitOpError("batch sizes of query, key and value differ (")
           << shapeToString({q[0], k[0], v[0]}) << ")";
  if (!areCompatible(k[1], v[1]) || !areCompatible(k[2], v[2]))
    return emitOpError("key (")
           << shapeToString(k) << ") and value (" << shapeToString(v)
           << ") must have the same heads and sequence length";
  if (!ShapedType::isDynamic(q[1]) && !ShapedType::isDynamic(k[1]) &&
      (k[1] == 0 || q[1] % k[1] != 0))
    return emitOpError("query heads (")
           << q[1] << ") must be a multiple of key/value heads (" << k[1]
           << ")";

  SmallVector<int64_t> expectedOutput = {q[0], q[1], q[2], v[3]};
  RankedTensorType outputType = getOutput().getType();
  if (outputType.getElementType() != elementType ||
      !areCompatible(outputType.getShape(), expectedOutput))
    return emitOpError("output type ")
           << outputType << " does not match the expected shape "
           << shapeToString(expectedOutput) << " and element type "
           << elementType;
  if (Value statistics = getStatistics()) {
    auto statisticsType = cast<RankedTensorType>(statistics.getType());
    SmallVector<int64_t> expected = {q[0], q[1], q[2]};
    if (!areCompatible(statisticsType.getShape(), expected))
      return emitOpError("statistics type ")
             << statisticsType << " does not match the expected shape "
             << shapeToString(expected);
  }

  if (Value mask = getMask()) {
    auto maskType = cast<BlockMaskType>(mask.getType());
    ArrayRef<int64_t> m = maskType.getShape();
    if (!isBroadcastCompatible(m[0], q[0]) ||
        !isBroadcastCompatible(m[1], q[1]) || !areCompatible(m[2], q[2]) ||
        !areCompatible(m[3], k[2]))
      return emitOpError("mask shape ")
             << shapeToString(m) << " does not match the attention shape "
             << shapeToString({q[0], q[1], q[2], k[2]})
             << " (batch and head extents may be 1)";
  }

  for (Value lengths : {getQueryLengths(), getKeyLengths()}) {
    if (!lengths)
      continue;
    int64_t size = cast<RankedTensorType>(lengths.getType()).getDimSize(0);
    if (!areCompatible(size, q[0]))
      return emitOpError("sequence lengths must have one entry per batch (")
             << q[0] << "), got " << size;
  }

  if (Value bias = getBias()) {
    ArrayRef<int64_t> b = cast<RankedTensorType>(bias.getType()).getShape();
    if (!areCompatible(b[0], q[1]))
      return emitOpError("bias must have one row per query head (")
             << q[1] << "), got " << b[0];
    if (b[1] == 0)
      return emitOpError("bias window must have at least one position");
  }

  bool isElastic = isa<ElasticSoftmaxAttr>(getNormalizer());
  if (Value tau = getTau()) {
    if (!isElastic)
      return emitOpError("tau is only meaningful with elastic_softmax");
    int64_t size = cast<RankedTensorType>(tau.getType()).getDimSize(0);
    if (!areCompatible(size, q[1]))
      return emitOpError("tau must have one entry per query head (")
             << q[1] << "), got " << size;
  }
  if (isElastic && !getTau())
    return emitOpError("elastic_softmax needs the tau operand");
  if (isElastic && !getCausal())
    return emitOpError("elastic_softmax is defined for causal attention only");

  if (std::optional<APFloat> scale = getScale()) {
    double value = scale->convertToDouble();
    if (!std::isfinite(value) || value <= 0.0)
      return emitOpError("scale must be finite and positive, got ")
             << formatFloat(value);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// EntmaxOp
//===----------------------------------------------------------------------===//

LogicalResult EntmaxOp::verify() {
  if (getInput().getType().getRank() < 1)
    return emitOpError("input must have rank >= 1 (rows along the last "
                       "dimension)");
  return success();
}

//===----------------------------------------------------------------------===//
// Mask producers
//===----------------------------------------------------------------------===//

LogicalResult sparse_attn::verifyDynamicSizes(Operation *op, BlockMaskType type,
                                             ValueRange dynamicSizes) {
  int64_t expected = type.getNumDynamicDims();
  if (static_cast<int64_t>(dynamicSizes.size()) != expected)
    return op->emitOpError("expected ")
           << expected << " size operand(s) for the dynamic extents of "
           << type << ", got " << dynamicSizes.size();
  return success();
}

LogicalResult DenseMaskOp::verify() {
  return verifyDynamicSizes(*this, getType(), getDynamicSizes());
}

LogicalResult CausalMaskOp::verify() {
  return verifyDynamicSizes(*this, getType(), getDynamicSizes());
}

LogicalResult StreamingMaskOp::verify() {
  // The accessors return the raw unsigned value: read the signed one.
  int64_t sink = getSinkAttr().getInt();
  int64_t window = getWindowAttr().getInt();
  if (sink < 0)
    return emitOpError("sink must be non-negative, got ") << sink;
  if (window < 1)
    return emitOpError("window must be positive, got ") << window;
  return verifyDynamicSizes(*this, getType(), getDynamicSizes());
}

LogicalResult MaskFromIndicesOp::verify() {
  BlockMaskType maskType = getType();
  auto countsType = cast<RankedTensorType>(getKvNumBlocks().getType());
  auto indicesType = cast<RankedTensorType>(getKvIndices().getType());
  if (countsType.getRank() != 3 || indicesType.getRank() != 4)
    return emitOpError("expected kv_num_blocks of rank 3 [batch, heads, "
                       "query blocks] and kv_indices of rank 4 [batch, heads, "
                       "query blocks, key blocks]");
  if (!areCompatible(countsType.getShape(),
                     indicesType.getShape().drop_back()))
    return emitOpError("kv_num_blocks ")
           << shapeToString(countsType.getShape())
           << " does not match the leading extents of kv_indices "
           << shapeToString(indicesType.getShape());
  if (Value fullCounts = getFullKvNumBlocks()) {
    if (!areCompatible(cast<RankedTensorType>(fullCounts.getType()).getShape(),
                       countsType.getShape()) ||
        !areCompatible(
            cast<RankedTensorType>(getFullKvIndices().getType()).getShape(),
            indicesType.getShape()))
      return emitOpError("full-block tensors must have the shapes of the "
                         "partial-block tensors");
  }
  SmallVector<int64_t> expected = {
      maskType.getBatchSize(), maskType.getNumHeads(),
      maskType.getNumQueryBlocks(), maskType.getNumKeyBlocks()};
  if (!areCompatible(indicesType.getShape(), expected))
    return emitOpError("kv_indices ")
           << shapeToString(indicesType.getShape()) << " does not fit the mask "
           << maskType << " (expected " << shapeToString(expected) << ")";
  int64_t dynamicLengths =
      ShapedType::isDynamic(maskType.getQueryLength()) +
      ShapedType::isDynamic(maskType.getKeyLength());
  if (static_cast<int64_t>(getDynamicSizes().size()) != dynamicLengths)
    return emitOpError("expected ")
           << dynamicLengths << " size operand(s) for the dynamic sequence "
           << "lengths of " << maskType << ", got "
           << getDynamicSizes().size();
  return success();
}

LogicalResult MaskToIndicesOp::verify() {
  auto maskType = cast<BlockMaskType>(getMask().getType());
  RankedTensorType countsType = maskType.getCountsType();
  RankedTensorType indicesType = maskType.getIndicesType();
  for (auto [index, result] : llvm::enumerate(getResults())) {
    RankedTensorType expected = index % 2 == 0 ? countsType : indicesType;
    auto actual = cast<RankedTensorType>(result.getType());
    if (actual.getRank() != expected.getRank() ||
        !areCompatible(actual.getShape(), expected.getShape()))
      return emitOpError("result #")
             << index << " must have shape " << shapeToString(expected.getShape())
             << ", got " << actual;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Mask union and intersection
//===----------------------------------------------------------------------===//

/// The batch or head extent of the combination of two masks, or failure when
/// they neither match nor broadcast.
static FailureOr<int64_t> broadcastExtent(int64_t lhs, int64_t rhs) {
  if (lhs == 1)
    return rhs;
  if (rhs == 1 || ShapedType::isDynamic(lhs))
    return ShapedType::isDynamic(lhs) ? rhs : lhs;
  if (ShapedType::isDynamic(rhs) || lhs == rhs)
    return lhs;
  return failure();
}

static LogicalResult verifyMaskCombination(Operation *op, BlockMaskType lhs,
                                           BlockMaskType rhs,
                                           BlockMaskType result) {
  if (lhs.getQueryBlockSize() != rhs.getQueryBlockSize() ||
      lhs.getKeyBlockSize() != rhs.getKeyBlockSize() ||
      result.getQueryBlockSize() != lhs.getQueryBlockSize() ||
      result.getKeyBlockSize() != lhs.getKeyBlockSize())
    return op->emitOpError("operands and result must have the same block "
                           "sizes");
  if (!areCompatible(lhs.getQueryLength(), rhs.getQueryLength()) ||
      !areCompatible(lhs.getKeyLength(), rhs.getKeyLength()))
    return op->emitOpError("operands must have the same sequence lengths, "
                           "got ")
           << shapeToString(lhs.getShape()) << " and "
           << shapeToString(rhs.getShape());
  FailureOr<int64_t> batch =
      broadcastExtent(lhs.getBatchSize(), rhs.getBatchSize());
  FailureOr<int64_t> heads =
      broadcastExtent(lhs.getNumHeads(), rhs.getNumHeads());
  if (failed(batch) || failed(heads))
    return op->emitOpError("batch and head extents must match or be 1, got ")
           << shapeToString(lhs.getShape()) << " and "
           << shapeToString(rhs.getShape());
  SmallVector<int64_t> expected = {*batch, *heads, lhs.getQueryLength(),
                                   lhs.getKeyLength()};
  if (!areCompatible(result.getShape(), expected))
    return op->emitOpError("result shape ")
           << shapeToString(result.getShape()) << " does not match "
           << shapeToString(expected);
  return success();
}

LogicalResult MaskUnionOp::verify() {
  return verifyMaskCombination(*this, getLhs().getType(), getRhs().getType(),
                               getType());
}

LogicalResult MaskIntersectOp::verify() {
  return verifyMaskCombination(*this, getLhs().getType(), getRhs().getType(),
                               getType());
}
