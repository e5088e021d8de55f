//===- SparseAttnAttributes.cpp - sparse_attn attributes --------*- C++ -*-===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdlib>

using namespace mlir;
using namespace mlir::sparse_attn;

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnAttributes.cpp.inc"

void SparseAttnDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnAttributes.cpp.inc"
      >();
}

RowStatistic SoftmaxAttr::getRowStatistic() const {
  return RowStatistic::LogSumExp;
}
RowStatistic ElasticSoftmaxAttr::getRowStatistic() const {
  return RowStatistic::LogSumExp;
}
RowStatistic EntmaxAttr::getRowStatistic() const {
  return RowStatistic::Threshold;
}

LogicalResult
EntmaxAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                   APFloat alphaValue,
                   std::optional<int64_t> iterations) {
  double alpha = alphaValue.convertToDouble();
  if (!std::isfinite(alpha) || alpha <= 1.0)
    return emitError() << "entmax alpha must be a finite number greater than "
                          "1 (alpha = 1 is softmax), got "
                       << formatFloat(alpha);
  if (iterations && *iterations < 1)
    return emitError() << "entmax solver iterations must be positive, got "
                       << *iterations;
  return success();
}

std::string sparse_attn::formatFloat(double value) {
  std::string text;
  for (int precision = 1; precision <= 17; ++precision) {
    text = llvm::formatv("{0}", llvm::format("%.*g", precision, value)).str();
    if (std::strtod(text.c_str(), nullptr) == value)
      break;
  }
  // The MLIR lexer reads a float literal only with a decimal point.
  if (text.find_first_of(".ni") == std::string::npos) {
    size_t exponent = text.find_first_of("eE");
    text.insert(exponent == std::string::npos ? text.size() : exponent, ".0");
  }
  return text;
}

Attribute EntmaxAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  double alpha = 0;
  std::optional<int64_t> iterations;
  if (parser.parseLess() || parser.parseKeyword("alpha") ||
      parser.parseEqual() || parser.parseFloat(alpha))
    return {};
  if (succeeded(parser.parseOptionalComma())) {
    int64_t value = 0;
    if (parser.parseKeyword("iterations") || parser.parseEqual() ||
        parser.parseInteger(value))
      return {};
    iterations = value;
  }
  if (parser.parseGreater())
    return {};
  return parser.getChecked<EntmaxAttr>(loc, parser.getContext(),
                                       APFloat(alpha), iterations);
}

void EntmaxAttr::print(AsmPrinter &printer) const {
  printer << "<alpha = " << formatFloat(getAlphaValue());
  if (std::optional<int64_t> iterations = getIterations())
    printer << ", iterations = " << *iterations;
  printer << ">";
}
