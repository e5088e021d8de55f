//===- SparseAttnPrefillOps.cpp - long-context prefill ops ------*- C++ -*-===//
//
// Method configurations (XAttention, FlexPrefill, MInference), the mask
// estimators, per-head routing and the prefill op: assembly, verifiers and
// the prefill op's expansion into an estimator and sparse_attn.attention.
//
//===----------------------------------------------------------------------===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "SparseAttnOpsCommon.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <functional>

using namespace mlir;
using namespace mlir::sparse_attn;

//===----------------------------------------------------------------------===//
// Configuration syntax: `<name = value, ...>` listing the non-defaults
//===----------------------------------------------------------------------===//

namespace {
/// One `name = value` parameter of a method configuration.
struct ConfigParameter {
  StringRef name;
  std::function<ParseResult(AsmParser &)> parseValue;
};

} // namespace

static ConfigParameter integerParameter(StringRef name, int64_t &value) {
  return {name,
          [&value](AsmParser &parser) { return parser.parseInteger(value); }};
}

static ConfigParameter floatParameter(StringRef name, double &value) {
  return {name,
          [&value](AsmParser &parser) { return parser.parseFloat(value); }};
}

/// Parses an optional `<name = value, ...>` (`<>` too): each parameter at
/// most once, in any order.
static ParseResult parseConfig(AsmParser &parser, StringRef method,
                               ArrayRef<ConfigParameter> parameters) {
  if (failed(parser.parseOptionalLess()) ||
      succeeded(parser.parseOptionalGreater()))
    return success();
  llvm::SmallVector<StringRef> seen;
  do {
    SMLoc loc = parser.getCurrentLocation();
    StringRef name;
    if (parser.parseKeyword(&name))
      return failure();
    const auto *parameter = llvm::find_if(
        parameters, [&](const ConfigParameter &p) { return p.name == name; });
    if (parameter == parameters.end())
      return parser.emitError(loc, "unknown ")
             << method << " parameter '" << name << "' (expected "
             << llvm::join(llvm::map_range(
                               parameters,
                               [](const ConfigParameter &p) { return p.name; }),
                           ", ")
             << ")";
    if (llvm::is_contained(seen, name))
      return parser.emitError(loc)
             << method << " parameter '" << name << "' given twice";
    seen.push_back(name);
    if (parser.parseEqual() || parameter->parseValue(parser))
      return failure();
  } while (succeeded(parser.parseOptionalComma()));
  return parser.parseGreater();
}

namespace {
/// The `name = value` entries of a configuration that differ from the
/// defaults, in declaration order.
class ConfigPrinter {
public:
  void add(StringRef name, int64_t value, int64_t defaultValue) {
    if (value != defaultValue)
      entries.push_back((name + " = " + Twine(value)).str());
  }
  void add(StringRef name, const APFloat &value, double defaultValue) {
    if (value.convertToDouble() != defaultValue)
      entries.push_back(
          (name + " = " + formatFloat(value.convertToDouble())).str());
  }
  void add(StringRef name, std::optional<int64_t> value) {
    if (value)
      entries.push_back((name + " = " + Twine(*value)).str());
  }
  void print(AsmPrinter &printer) const {
    if (!entries.empty())
      printer << "<" << llvm::join(entries, ", ") << ">";
  }

private:
  SmallVector<std::string> entries;
};

} // namespace

//===----------------------------------------------------------------------===//
// XAttentionAttr
//===----------------------------------------------------------------------===//

Attribute XAttentionAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  int64_t stride = kDefaultStride;
  double threshold = kDefaultThreshold;
  if (parseConfig(parser, getMnemonic(),
                  {integerParameter("stride", stride),
                   floatParameter("threshold", threshold)}))
    return {};
  return parser.getChecked<XAttentionAttr>(loc, parser.getContext(), stride,
                                           APFloat(threshold));
}

void XAttentionAttr::print(AsmPrinter &printer) const {
  ConfigPrinter config;
  config.add("stride", getStride(), kDefaultStride);
  config.add("threshold", getThreshold(), kDefaultThreshold);
  config.print(printer);
}

LogicalResult
XAttentionAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t stride, APFloat threshold) {
  if (stride < 1)
    return emitError() << "xattention stride must be positive, got " << stride;
  double value = threshold.convertToDouble();
  if (!(value > 0.0 && value <= 1.0))
    return emitError() << "xattention threshold must lie in (0, 1], got "
                       << formatFloat(value);
  return success();
}

//===----------------------------------------------------------------------===//
// FlexPrefillAttr
//===----------------------------------------------------------------------===//

Attribute FlexPrefillAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  double gamma = kDefaultGamma, tau = kDefaultTau;
  int64_t minBudget = kDefaultMinBudget;
  int64_t maxBudgetValue = 0;
  ConfigParameter maxBudget = integerParameter("max_budget", maxBudgetValue);
  bool hasMaxBudget = false;
  auto parseMaxBudget = maxBudget.parseValue;
  maxBudget.parseValue = [&](AsmParser &nested) {
    hasMaxBudget = true;
    return parseMaxBudget(nested);
  };
  if (parseConfig(parser, getMnemonic(),
                  {floatParameter("gamma", gamma), floatParameter("tau", tau),
                   integerParameter("min_budget", minBudget), maxBudget}))
    return {};
  return parser.getChecked<FlexPrefillAttr>(
      loc, parser.getContext(), APFloat(gamma), APFloat(tau), minBudget,
      hasMaxBudget ? std::optional<int64_t>(maxBudgetValue) : std::nullopt);
}

void FlexPrefillAttr::print(AsmPrinter &printer) const {
  ConfigPrinter config;
  config.add("gamma", getGamma(), kDefaultGamma);
  config.add("tau", getTau(), kDefaultTau);
  config.add("min_budget", getMinBudget(), kDefaultMinBudget);
  config.add("max_budget", getMaxBudget());
  config.print(printer);
}

LogicalResult
FlexPrefillAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        APFloat gamma, APFloat tau, int64_t minBudget,
                        std::optional<int64_t> maxBudget) {
  double gammaValue = gamma.convertToDouble();
  double tauValue = tau.convertToDouble();
  if (!(gammaValue > 0.0 && gammaValue <= 1.0))
    return emitError() << "flexprefill gamma must lie in (0, 1], got "
                       << formatFloat(gammaValue);
  if (!(tauValue >= 0.0 && std::isfinite(tauValue)))
    return emitError() << "flexprefill tau must be finite and non-negative, "
                          "got "
                       << formatFloat(tauValue);
  if (minBudget < 0)
    return emitError() << "flexprefill min_budget must be non-negative, got "
                       << minBudget;
  if (maxBudget && (*maxBudget < 1 || *maxBudget < minBudget))
    return emitError() << "flexprefill max_budget must be at least 1 and at "
                          "least min_budget ("
                       << minBudget << "), got " << *maxBudget;
  return success();
}

//===----------------------------------------------------------------------===//
// MInferenceAttr
//===----------------------------------------------------------------------===//

Attribute MInferenceAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  int64_t verticalSize = kDefaultVerticalSize, slashSize = kDefaultSlashSize;
  int64_t lastQueries = kDefaultLastQueries, sink = kDefaultSink;
  int64_t local = kDefaultLocal;
  if (parseConfig(parser, getMnemonic(),
                  {integerParameter("vertical_size", verticalSize),
                   integerParameter("slash_size", slashSize),
                   integerParameter("last_queries", lastQueries),
                   integerParameter("sink", sink),
                   integerParameter("local", local)}))
    return {};
  return parser.getChecked<MInferenceAttr>(loc, parser.getContext(),
                                           verticalSize, slashSize, lastQueries,
                                           sink, local);
}

void MInferenceAttr::print(AsmPrinter &printer) const {
  ConfigPrinter config;
  config.add("vertical_size", getVerticalSize(), kDefaultVerticalSize);
  config.add("slash_size", getSlashSize(), kDefaultSlashSize);
  config.add("last_queries", getLastQueries(), kDefaultLastQueries);
  config.add("sink", getSink(), kDefaultSink);
  config.add("local", getLocal(), kDefaultLocal);
  config.print(printer);
}

LogicalResult
MInferenceAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t verticalSize, int64_t slashSize,
                       int64_t lastQueries, int64_t sink, int64_t local) {
  for (auto [name, value] :
       {std::pair<StringRef, int64_t>{"vertical_size", verticalSize},
        {"slash_size", slashSize},
        {"sink", sink},
        {"local", local}})
    if (value < 0)
      return emitError() << "minference " << name
                         << " must be non-negative, got " << value;
  if (lastQueries < 1)
    return emitError() << "minference last_queries must be positive, got "
                       << lastQueries;
  return success();
}

//===----------------------------------------------------------------------===//
// Custom directives
//===----------------------------------------------------------------------===//

template <typename ConfigAttr>
static ParseResult parseConfigAttr(OpAsmParser &parser, ConfigAttr &config) {
  Attribute parsed = ConfigAttr::parse(parser, Type());
  if (!parsed)
    return failure();
  config = cast<ConfigAttr>(parsed);
  return success();
}

ParseResult sparse_attn::parseMethodConfig(OpAsmParser &parser,
                                           XAttentionAttr &config) {
  return parseConfigAttr(parser, config);
}
ParseResult sparse_attn::parseMethodConfig(OpAsmParser &parser,
                                           FlexPrefillAttr &config) {
  return parseConfigAttr(parser, config);
}
ParseResult sparse_attn::parseMethodConfig(OpAsmParser &parser,
                                           MInferenceAttr &config) {
  return parseConfigAttr(parser, config);
}

/// The configuration with the space before it, nothing when it has only
/// defaults (the assembly format leaves the space to the directive).
template <typename ConfigAttr>
static void printConfigAttr(OpAsmPrinter &printer, ConfigAttr config) {
  if (config != ConfigAttr::get(config.getContext()))
    printer << " ";
  config.print(printer);
}

void sparse_attn::printMethodConfig(OpAsmPrinter &printer, Operation *,
                                    XAttentionAttr config) {
  printConfigAttr(printer, config);
}
void sparse_attn::printMethodConfig(OpAsmPrinter &printer, Operation *,
                                    FlexPrefillAttr config) {
  printConfigAttr(printer, config);
}
void sparse_attn::printMethodConfig(OpAsmPrinter &printer, Operation *,
                                    MInferenceAttr config) {
  printConfigAttr(printer, config);
}

ParseResult sparse_attn::parsePrefillPattern(OpAsmParser &parser,
                                             Attribute &pattern) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  if (keyword == FullAttr::getMnemonic()) {
    pattern = FullAttr::get(parser.getContext());
    return success();
  }
  if (keyword == XAttentionAttr::getMnemonic())
    pattern = XAttentionAttr::parse(parser, Type());
  else if (keyword == FlexPrefillAttr::getMnemonic())
    pattern = FlexPrefillAttr::parse(parser, Type());
  else if (keyword == MInferenceAttr::getMnemonic())
    pattern = MInferenceAttr::parse(parser, Type());
  else
    return parser.emitError(loc, "expected a prefill pattern (xattention, "
                                 "flexprefill, minference or full), got '")
           << keyword << "'";
  return success(pattern != nullptr);
}

void sparse_attn::printPrefillPattern(OpAsmPrinter &printer, Operation *,
                                      Attribute pattern) {
  llvm::TypeSwitch<Attribute>(pattern)
      .Case([&](XAttentionAttr config) {
        printer << XAttentionAttr::getMnemonic();
        config.print(printer);
      })
      .Case([&](FlexPrefillAttr config) {
        printer << FlexPrefillAttr::getMnemonic();
        config.print(printer);
      })
      .Case([&](MInferenceAttr config) {
        printer << MInferenceAttr::getMnemonic();
        config.print(printer);
      })
      .Case([&](FullAttr) { printer << FullAttr::getMnemonic(); });
}

//===----------------------------------------------------------------------===//
// Verifier helpers
//===----------------------------------------------------------------------===//

static bool areCompatible(int64_t lhs, int64_t rhs) {
  return succeeded(verifyCompatibleShape({lhs}, {rhs}));
}

/// What every estimator (and the prefill op) requires of query and key.
static LogicalResult verifyQueryAndKey(Operation *op,
                                       RankedTensorType queryType,
                                       RankedTensorType keyType) {
  if (keyType.getElementType() != queryType.getElementType())
    return op->emitOpError("key must have the element type of the query (")
           << queryType.getElementType() << ")";
  ArrayRef<int64_t> q = queryType.getShape();
  ArrayRef<int64_t> k = keyType.getShape();
  if (ShapedType::isDynamic(q[3]) || ShapedType::isDynamic(k[3]) || q[3] < 1 ||
      k[3] < 1)
    return op->emitOpError("head dimensions must be static and positive");
  if (q[3] != k[3])
    return op->emitOpError("query head dimension (")
           << q[3] << ") does not match the key head dimension (" << k[3]
           << ")";
  if (!areCompatible(q[0], k[0]))
    return op->emitOpError("batch sizes of query and key differ (")
           << shapeToString({q[0], k[0]}) << ")";
  if (!ShapedType::isDynamic(q[1]) && !ShapedType::isDynamic(k[1]) &&
      (k[1] == 0 || q[1] % k[1] != 0))
    return op->emitOpError("query heads (")
           << q[1] << ") must be a multiple of key/value heads (" << k[1]
           << ")";
  return success();
}

static LogicalResult verifyLengthsAndScale(Operation *op, int64_t batch,
                                           ValueRange lengths,
                                           std::optional<APFloat> scale) {
  for (Value lengthsValue : lengths) {
    if (!lengthsValue)
      continue;
    int64_t size = cast<RankedTensorType>(lengthsValue.getType()).getDimSize(0);
    if (!areCompatible(size, batch))
      return op->emitOpError("sequence lengths must have one entry per batch (")
             << batch << "), got " << size;
  }
  if (scale) {
    double value = scale->convertToDouble();
    if (!std::isfinite(value) || value <= 0.0)
      return op->emitOpError("scale must be finite and positive, got ")
             << formatFloat(value);
  }
  return success();
}

/// The mask an estimator produces is exactly [B, H, Nq, Nk].
static LogicalResult verifyEstimatedMask(Operation *op,
                                         RankedTensorType queryType,
                                         RankedTensorType keyType,
                                         BlockMaskType maskType) {
  SmallVector<int64_t> expected = {
      queryType.getDimSize(0), queryType.getDimSize(1), queryType.getDimSize(2),
      keyType.getDimSize(2)};
  if (failed(verifyCompatibleShape(maskType.getShape(), expected)))
    return op->emitOpError("mask shape ")
           << shapeToString(maskType.getShape())
           << " does not match [batch, query heads, query length, key "
              "length] = "
           << shapeToString(expected);
  return success();
}

static LogicalResult verifyThresholds(Operation *op, Value thresholds,
                                      XAttentionAttr config, int64_t heads) {
  if (!thresholds)
    return success();
  int64_t size = cast<RankedTensorType>(thresholds.getType()).getDimSize(0);
  if (!areCompatible(size, heads))
    return op->emitOpError("thresholds must have one entry per query head (")
           << heads << "), got " << size;
  if (config.getThresholdValue() != XAttentionAttr::kDefaultThreshold)
    return op->emitOpError("per-head thresholds replace the configuration's "
                           "threshold: leave it at its default");
  return success();
}

static LogicalResult verifyBudgets(Operation *op, Value budgets,
                                   MInferenceAttr config, int64_t heads) {
  if (!budgets)
    return success();
  ArrayRef<int64_t> shape =
      cast<RankedTensorType>(budgets.getType()).getShape();
  if (!areCompatible(shape[0], heads) || !areCompatible(shape[1], 2))
    return op->emitOpError("budgets must have shape ")
           << shapeToString({heads, 2})
           << " (vertical and slash size per query head), got "
           << shapeToString(shape);
  if (config.getVerticalSize() != MInferenceAttr::kDefaultVerticalSize ||
      config.getSlashSize() != MInferenceAttr::kDefaultSlashSize)
    return op->emitOpError("per-head budgets replace the configuration's "
                           "vertical_size and slash_size: leave them at "
                           "their defaults");
  return success();
}

static LogicalResult verifyStrideDividesBlocks(Operation *op,
                                               XAttentionAttr config,
                                               int64_t queryBlock,
                                               int64_t keyBlock) {
  int64_t stride = config.getStride();
  if (queryBlock % stride != 0 || keyBlock % stride != 0)
    return op->emitOpError("xattention stride (")
           << stride << ") must divide the block sizes (" << queryBlock << "x"
           << keyBlock << ")";
  return success();
}

static double getEffectiveScale(std::optional<APFloat> scale,
                                RankedTensorType queryType) {
  if (scale)
    return scale->convertToDouble();
  return 1.0 / std::sqrt(static_cast<double>(queryType.getShape().back()));
}

/// The checks every estimator op shares.
template <typename EstimatorOp>
static LogicalResult verifyEstimatorOp(EstimatorOp op) {
  RankedTensorType queryType = op.getQuery().getType();
  RankedTensorType keyType = op.getKey().getType();
  if (failed(verifyQueryAndKey(op, queryType, keyType)) ||
      failed(verifyLengthsAndScale(op, queryType.getDimSize(0),
                                   {op.getQueryLengths(), op.getKeyLengths()},
                                   op.getScale())))
    return failure();
  return verifyEstimatedMask(op, queryType, keyType, op.getResult().getType());
}

//===----------------------------------------------------------------------===//
// XAttentionMaskOp
//===----------------------------------------------------------------------===//

double XAttentionMaskOp::getEffectiveScale() {
  return ::getEffectiveScale(getScale(), getQuery().getType());
}

LogicalResult XAttentionMaskOp::verify() {
  if (failed(verifyEstimatorOp(*this)))
    return failure();
  BlockMaskType maskType = getResult().getType();
  if (failed(verifyStrideDividesBlocks(*this, getConfig(),
                                       maskType.getQueryBlockSize(),
                                       maskType.getKeyBlockSize())))
    return failure();
  return verifyThresholds(*this, getThresholds(), getConfig(),
                          getQuery().getType().getDimSize(1));
}

//===----------------------------------------------------------------------===//
// FlexPrefillMaskOp
//===----------------------------------------------------------------------===//

double FlexPrefillMaskOp::getEffectiveScale() {
  return ::getEffectiveScale(getScale(), getQuery().getType());
}

LogicalResult FlexPrefillMaskOp::verify() {
  if (failed(verifyEstimatorOp(*this)))
    return failure();
  BlockMaskType maskType = getResult().getType();
  if (maskType.getQueryBlockSize() != maskType.getKeyBlockSize())
    return emitOpError("flexprefill needs square blocks, got ")
           << maskType.getQueryBlockSize() << "x" << maskType.getKeyBlockSize();
  if (Value patterns = getPatterns()) {
    ArrayRef<int64_t> shape =
        cast<RankedTensorType>(patterns.getType()).getShape();
    SmallVector<int64_t> expected = {maskType.getBatchSize(),
                                     maskType.getNumHeads()};
    if (failed(verifyCompatibleShape(shape, expected)))
      return emitOpError("patterns must have shape ")
             << shapeToString(expected) << " (batch, query heads), got "
             << shapeToString(shape);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// VerticalSlashMaskOp
//===----------------------------------------------------------------------===//

double VerticalSlashMaskOp::getEffectiveScale() {
  return ::getEffectiveScale(getScale(), getQuery().getType());
}

LogicalResult VerticalSlashMaskOp::verify() {
  if (failed(verifyEstimatorOp(*this)))
    return failure();
  return verifyBudgets(*this, getBudgets(), getConfig(),
                       getQuery().getType().getDimSize(1));
}

//===----------------------------------------------------------------------===//
// SelectVerticalSlashOp
//===----------------------------------------------------------------------===//

double SelectVerticalSlashOp::getEffectiveScale() {
  return ::getEffectiveScale(getScale(), getQuery().getType());
}

LogicalResult SelectVerticalSlashOp::verify() {
  RankedTensorType queryType = getQuery().getType();
  RankedTensorType keyType = getKey().getType();
  if (failed(verifyQueryAndKey(*this, queryType, keyType)) ||
      failed(verifyLengthsAndScale(*this, queryType.getDimSize(0),
                                   {getQueryLengths(), getKeyLengths()},
                                   getScale())) ||
      failed(verifyBudgets(*this, getBudgets(), getConfig(),
                           queryType.getDimSize(1))))
    return failure();
  SmallVector<int64_t> lists = {queryType.getDimSize(0),
                                queryType.getDimSize(1), keyType.getDimSize(2)};
  for (auto [count, list, name] :
       {std::make_tuple(getColumnCount(), getColumns(), "columns"),
        std::make_tuple(getOffsetCount(), getOffsets(), "offsets")}) {
    ArrayRef<int64_t> countShape = count.getType().getShape();
    ArrayRef<int64_t> listShape = list.getType().getShape();
    if (failed(verifyCompatibleShape(countShape, ArrayRef(lists).drop_back())) ||
        failed(verifyCompatibleShape(listShape, lists)))
      return emitOpError() << name << " and their count must have shapes "
                           << shapeToString(lists) << " and "
                           << shapeToString(ArrayRef(lists).drop_back())
                           << ", got " << shapeToString(listShape) << " and "
                           << shapeToString(countShape);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// MaskRouteHeadsOp
//===----------------------------------------------------------------------===//

LogicalResult MaskRouteHeadsOp::verify() {
  BlockMaskType resultType = getType();
  int64_t kinds = getKinds().getType().getDimSize(0);
  if (!areCompatible(kinds, resultType.getNumHeads()))
    return emitOpError("kinds must have one entry per head of the result (")
           << resultType.getNumHeads() << "), got " << kinds;
  SmallVector<Value> operands(getMasks());
  if (Value streaming = getStreaming())
    operands.push_back(streaming);
  for (Value operand : operands) {
    auto operandType = cast<BlockMaskType>(operand.getType());
    if (operandType.getQueryBlockSize() != resultType.getQueryBlockSize() ||
        operandType.getKeyBlockSize() != resultType.getKeyBlockSize())
      return emitOpError("operand masks must have the result's block sizes (")
             << resultType.getQueryBlockSize() << "x"
             << resultType.getKeyBlockSize() << "), got "
             << operandType.getQueryBlockSize() << "x"
             << operandType.getKeyBlockSize();
    ArrayRef<int64_t> m = operandType.getShape();
    ArrayRef<int64_t> r = resultType.getShape();
    auto broadcasts = [](int64_t operand, int64_t result) {
      return operand == 1 || areCompatible(operand, result);
    };
    if (!broadcasts(m[0], r[0]) || !broadcasts(m[1], r[1]) ||
        !areCompatible(m[2], r[2]) || !areCompatible(m[3], r[3]))
      return emitOpError("operand mask shape ")
             << shapeToString(m) << " does not fit the result shape "
             << shapeToString(r) << " (batch and head extents may be 1)";
  }
  return verifyDynamicSizes(*this, resultType, getDynamicSizes());
}

//===----------------------------------------------------------------------===//
// PrefillOp
//===----------------------------------------------------------------------===//

int64_t PrefillOp::getEffectiveBlockSize() {
  if (std::optional<int64_t> block = getBlock())
    return *block;
  return llvm::TypeSwitch<Attribute, int64_t>(getPattern())
      .Case([](MInferenceAttr) { return 64; })
      .Case([](FullAttr) { return 0; })
      .Default([](Attribute) { return 128; });
}

LogicalResult PrefillOp::verify() {
  RankedTensorType queryType = getQuery().getType();
  RankedTensorType keyType = getKey().getType();
  RankedTensorType valueType = getValue().getType();
  if (failed(verifyQueryAndKey(*this, queryType, keyType)))
    return failure();
  ArrayRef<int64_t> q = queryType.getShape();
  ArrayRef<int64_t> k = keyType.getShape();
  ArrayRef<int64_t> v = valueType.getShape();
  if (valueType.getElementType() != queryType.getElementType())
    return emitOpError("value must have the element type of the query (")
           << queryType.getElementType() << ")";
  if (ShapedType::isDynamic(v[3]) || v[3] < 1)
    return emitOpError("head dimensions must be static and positive");
  if (!areCompatible(v[0], q[0]) || !areCompatible(v[1], k[1]) ||
      !areCompatible(v[2], k[2]))
    return emitOpError("value (")
           << shapeToString(v) << ") must have the batch, heads and length "
           << "of the key (" << shapeToString(k) << ")";
  SmallVector<int64_t> expectedOutput = {q[0], q[1], q[2], v[3]};
  RankedTensorType outputType = getOutput().getType();
  if (outputType.getElementType() != queryType.getElementType() ||
      failed(verifyCompatibleShape(outputType.getShape(), expectedOutput)))
    return emitOpError("output type ")
           << outputType << " does not match the expected shape "
           << shapeToString(expectedOutput) << " and element type "
           << queryType.getElementType();
  if (Value statistics = getStatistics()) {
    ArrayRef<int64_t> shape =
        cast<RankedTensorType>(statistics.getType()).getShape();
    if (failed(verifyCompatibleShape(shape, {q[0], q[1], q[2]})))
      return emitOpError("statistics type ")
             << statistics.getType() << " does not match the expected shape "
             << shapeToString({q[0], q[1], q[2]});
  }
  if (failed(verifyLengthsAndScale(
          *this, q[0], {getQueryLengths(), getKeyLengths()}, getScale())))
    return failure();

  Attribute pattern = getPattern();
  bool isFull = isa<FullAttr>(pattern);
  if (getThresholds() && !isa<XAttentionAttr>(pattern))
    return emitOpError("thresholds are only meaningful with the xattention "
                       "pattern");
  if (getBudgets() && !isa<MInferenceAttr>(pattern))
    return emitOpError("budgets are only meaningful with the minference "
                       "pattern");
  if (isa<FlexPrefillAttr, MInferenceAttr>(pattern) && !getCausal())
    return emitOpError("the ")
           << (isa<FlexPrefillAttr>(pattern) ? "flexprefill" : "minference")
           << " pattern is causal: it needs `causal`";
  if (std::optional<int64_t> block = getBlock()) {
    if (isFull)
      return emitOpError("the full pattern estimates no mask: it takes no "
                         "block size");
    if (*block < 1 || !llvm::isPowerOf2_64(static_cast<uint64_t>(*block)))
      return emitOpError("block size must be a positive power of two, got ")
             << *block;
  }
  int64_t block = getEffectiveBlockSize();
  if (auto config = dyn_cast<XAttentionAttr>(pattern))
    if (failed(verifyStrideDividesBlocks(*this, config, block, block)) ||
        failed(verifyThresholds(*this, getThresholds(), config, q[1])))
      return failure();
  if (auto config = dyn_cast<MInferenceAttr>(pattern))
    if (failed(verifyBudgets(*this, getBudgets(), config, q[1])))
      return failure();

  if (Value mask = getMask()) {
    auto maskType = cast<BlockMaskType>(mask.getType());
    ArrayRef<int64_t> m = maskType.getShape();
    auto broadcasts = [](int64_t operand, int64_t extent) {
      return operand == 1 || areCompatible(operand, extent);
    };
    if (!broadcasts(m[0], q[0]) || !broadcasts(m[1], q[1]) ||
        !areCompatible(m[2], q[2]) || !areCompatible(m[3], k[2]))
      return emitOpError("mask shape ")
             << shapeToString(m) << " does not match the attention shape "
             << shapeToString({q[0], q[1], q[2], k[2]})
             << " (batch and head extents may be 1)";
    if (!isFull && (maskType.getQueryBlockSize() != block ||
                    maskType.getKeyBlockSize() != block))
      return emitOpError("mask blocks (")
             << maskType.getQueryBlockSize() << "x"
             << maskType.getKeyBlockSize()
             << ") must be the estimator's blocks (" << block << "x" << block
             << ")";
  }
  return success();
}

SmallVector<Value> PrefillOp::expand(OpBuilder &builder) {
  Location loc = getLoc();
  RankedTensorType queryType = getQuery().getType();
  Value mask = getMask();
  if (!isa<FullAttr>(getPattern())) {
    int64_t block = getEffectiveBlockSize();
    auto maskType = BlockMaskType::get(
        getContext(),
        {queryType.getDimSize(0), queryType.getDimSize(1),
         queryType.getDimSize(2), getKey().getType().getDimSize(2)},
        block, block);
    Value estimated =
        llvm::TypeSwitch<Attribute, Value>(getPattern())
            .Case([&](XAttentionAttr config) {
              return XAttentionMaskOp::create(
                  builder, loc, maskType, config, getQuery(), getKey(),
                  getThresholds(), getQueryLengths(), getKeyLengths(),
                  getCausalAttr(), getScaleAttr());
            })
            .Case([&](FlexPrefillAttr config) {
              return FlexPrefillMaskOp::create(
                         builder, loc, maskType, /*patterns=*/Type(), config,
                         getQuery(), getKey(), getQueryLengths(),
                         getKeyLengths(), getScaleAttr())
                  .getResult();
            })
            .Case([&](MInferenceAttr config) {
              return VerticalSlashMaskOp::create(
                  builder, loc, maskType, config, getQuery(), getKey(),
                  getBudgets(), getQueryLengths(), getKeyLengths(),
                  getScaleAttr());
            });
    mask =
        mask ? MaskIntersectOp::create(builder, loc, maskType, estimated, mask)
                   .getResult()
             : estimated;
  }
  auto attention = AttentionOp::create(
      builder, loc, getResultTypes(), SoftmaxAttr::get(getContext()),
      getQuery(), getKey(), getValue(), mask, getQueryLengths(),
      getKeyLengths(), /*bias=*/Value(), /*tau=*/Value(), getCausalAttr(),
      getScaleAttr());
  return SmallVector<Value>(attention.getResults());
}

//===----------------------------------------------------------------------===//
// SelectBlocksOp
//===----------------------------------------------------------------------===//

double SelectBlocksOp::getEffectiveScale() {
  return ::getEffectiveScale(getScale(), getQuery().getType());
}

LogicalResult SelectBlocksOp::verify() {
  RankedTensorType queryType = getQuery().getType();
  RankedTensorType keyType = getKey().getType();
  if (failed(verifyQueryAndKey(*this, queryType, keyType)) ||
      failed(verifyLengthsAndScale(*this, queryType.getDimSize(0),
                                   {getQueryLengths(), getKeyLengths()},
                                   getScale())))
    return failure();
  // The accessors return the raw unsigned value: read the signed one.
  int64_t queryBlock = getQueryBlockAttr().getInt();
  int64_t keyBlock = getKeyBlockAttr().getInt();
  auto isPowerOfTwo = [](int64_t size) {
    return size > 0 && llvm::isPowerOf2_64(static_cast<uint64_t>(size));
  };
  if (!isPowerOfTwo(queryBlock) || !isPowerOfTwo(keyBlock))
    return emitOpError("block sizes must be positive powers of two, got ")
           << queryBlock << "x" << keyBlock;
  auto flexprefill = dyn_cast<FlexPrefillAttr>(getMethod());
  if (flexprefill) {
    if (queryBlock != keyBlock)
      return emitOpError("flexprefill needs square blocks, got ")
             << queryBlock << "x" << keyBlock;
    if (!getCausal())
      return emitOpError("the flexprefill method is causal: it needs "
                         "`causal`");
    if (getThresholds())
      return emitOpError("thresholds are only meaningful with the "
                         "xattention method");
  } else {
    auto xattention = cast<XAttentionAttr>(getMethod());
    if (failed(verifyStrideDividesBlocks(*this, xattention, queryBlock,
                                         keyBlock)) ||
        failed(verifyThresholds(*this, getThresholds(), xattention,
                                queryType.getDimSize(1))))
      return failure();
    if (getPatterns())
      return emitOpError("patterns are only produced by the flexprefill "
                         "method");
  }

  auto blocks = [](int64_t extent, int64_t block) {
    return ShapedType::isDynamic(extent) ? ShapedType::kDynamic
                                         : llvm::divideCeil(extent, block);
  };
  SmallVector<int64_t> indices = {queryType.getDimSize(0),
                                  queryType.getDimSize(1),
                                  blocks(queryType.getDimSize(2), queryBlock),
                                  blocks(keyType.getDimSize(2), keyBlock)};
  auto checkShape = [&](Value result, ArrayRef<int64_t> expected,
                        StringRef name) -> LogicalResult {
    ArrayRef<int64_t> shape =
        cast<RankedTensorType>(result.getType()).getShape();
    if (failed(verifyCompatibleShape(shape, expected)))
      return emitOpError() << name << " must have shape "
                           << shapeToString(expected) << ", got "
                           << shapeToString(shape);
    return success();
  };
  if (failed(checkShape(getKvNumBlocks(), ArrayRef(indices).drop_back(),
                        "kv_num_blocks")) ||
      failed(checkShape(getKvIndices(), indices, "kv_indices")))
    return failure();
  if (Value patterns = getPatterns())
    return checkShape(patterns, ArrayRef(indices).take_front(2), "patterns");
  return success();
}
