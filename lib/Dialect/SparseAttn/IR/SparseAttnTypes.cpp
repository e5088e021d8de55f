//===- SparseAttnTypes.cpp - sparse_attn types ------------------*- C++ -*-===//

#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttn.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::sparse_attn;

#define GET_TYPEDEF_CLASSES
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnTypes.cpp.inc"

void SparseAttnDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "sparse_attn/Dialect/SparseAttn/IR/SparseAttnTypes.cpp.inc"
      >();
}

LogicalResult
BlockMaskType::verify(function_ref<InFlightDiagnostic()> emitError,
                      ArrayRef<int64_t> shape, int64_t queryBlockSize,
                      int64_t keyBlockSize) {
  if (shape.size() != 4)
    return emitError() << "block mask needs 4 extents (batch, heads, query "
                          "length, key length), got "
                       << shape.size();
  if (llvm::any_of(shape, [](int64_t extent) {
        return !ShapedType::isDynamic(extent) && extent < 1;
      }))
    return emitError() << "block mask extents must be positive or dynamic";
  auto isPowerOfTwo = [](int64_t size) {
    return size > 0 && llvm::isPowerOf2_64(static_cast<uint64_t>(size));
  };
  if (!isPowerOfTwo(queryBlockSize) || !isPowerOfTwo(keyBlockSize))
    return emitError() << "block sizes must be positive powers of two, got "
                       << queryBlockSize << "x" << keyBlockSize;
  return success();
}

Type BlockMaskType::parse(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> shape;
  SmallVector<int64_t> blockSizes;
  if (parser.parseLess() ||
      parser.parseDimensionList(shape, /*allowDynamic=*/true,
                                /*withTrailingX=*/false) ||
      parser.parseComma() || parser.parseKeyword("block") ||
      parser.parseEqual())
    return {};
  SMLoc blockLoc = parser.getCurrentLocation();
  if (parser.parseDimensionList(blockSizes, /*allowDynamic=*/false,
                                /*withTrailingX=*/false) ||
      parser.parseGreater())
    return {};
  if (blockSizes.size() != 2) {
    parser.emitError(blockLoc, "expected two block sizes (query x key)");
    return {};
  }
  return parser.getChecked<BlockMaskType>(loc, parser.getContext(), shape,
                                          blockSizes[0], blockSizes[1]);
}

void BlockMaskType::print(AsmPrinter &printer) const {
  printer << "<";
  printer.printDimensionList(getShape());
  printer << ", block = " << getQueryBlockSize() << "x" << getKeyBlockSize()
          << ">";
}

static int64_t ceilDivOrDynamic(int64_t extent, int64_t blockSize) {
  if (ShapedType::isDynamic(extent))
    return ShapedType::kDynamic;
  return llvm::divideCeil(extent, blockSize);
}

int64_t BlockMaskType::getNumQueryBlocks() const {
  return ceilDivOrDynamic(getQueryLength(), getQueryBlockSize());
}

int64_t BlockMaskType::getNumKeyBlocks() const {
  return ceilDivOrDynamic(getKeyLength(), getKeyBlockSize());
}

int64_t BlockMaskType::getNumDynamicDims() const {
  return llvm::count_if(getShape(), ShapedType::isDynamic);
}

RankedTensorType BlockMaskType::getCountsType() const {
  return RankedTensorType::get(
      {getBatchSize(), getNumHeads(), getNumQueryBlocks()},
      IntegerType::get(getContext(), 32));
}

RankedTensorType BlockMaskType::getIndicesType() const {
  return RankedTensorType::get({getBatchSize(), getNumHeads(),
                                getNumQueryBlocks(), getNumKeyBlocks()},
                               IntegerType::get(getContext(), 32));
}
