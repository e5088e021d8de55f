//===- HostBuffer.cpp - dense host buffers of arguments and results -------===//

#include "HostBuffer.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MathExtras.h"

#include <cstring>
#include <limits>

using namespace mlir;
using namespace mlir::sparse_attn;
using namespace mlir::sparse_attn::run;

std::optional<ElementKind> run::getElementKind(Type type) {
  if (type.isBF16())
    return ElementKind::BF16;
  if (type.isF16())
    return ElementKind::F16;
  if (type.isF32())
    return ElementKind::F32;
  if (type.isF64())
    return ElementKind::F64;
  if (type.isIndex())
    return ElementKind::Index;
  // Signless and signed integers share the two's-complement storage.
  if (type.isInteger(32))
    return ElementKind::I32;
  if (type.isInteger(64))
    return ElementKind::I64;
  return std::nullopt;
}

std::optional<BufferType> run::getBufferType(Type type) {
  if (auto tensorType = dyn_cast<RankedTensorType>(type)) {
    std::optional<ElementKind> kind =
        getElementKind(tensorType.getElementType());
    if (!kind)
      return std::nullopt;
    return BufferType{*kind, /*isTensor=*/true,
                      llvm::SmallVector<int64_t, 4>(tensorType.getShape())};
  }
  if (std::optional<ElementKind> kind = getElementKind(type))
    return BufferType{*kind, /*isTensor=*/false, {}};
  return std::nullopt;
}

unsigned run::getByteWidth(ElementKind kind) {
  switch (kind) {
  case ElementKind::BF16:
  case ElementKind::F16:
    return 2;
  case ElementKind::F32:
  case ElementKind::I32:
    return 4;
  case ElementKind::F64:
  case ElementKind::I64:
  case ElementKind::Index:
    return 8;
  }
  llvm_unreachable("unknown element kind");
}

bool run::isFloatKind(ElementKind kind) {
  switch (kind) {
  case ElementKind::BF16:
  case ElementKind::F16:
  case ElementKind::F32:
  case ElementKind::F64:
    return true;
  case ElementKind::I32:
  case ElementKind::I64:
  case ElementKind::Index:
    return false;
  }
  llvm_unreachable("unknown element kind");
}

static const llvm::fltSemantics &getHalfSemantics(ElementKind kind) {
  return kind == ElementKind::BF16 ? llvm::APFloat::BFloat()
                                   : llvm::APFloat::IEEEhalf();
}

uint64_t run::encodeFloat(double value, ElementKind kind) {
  switch (kind) {
  case ElementKind::F64:
    return llvm::bit_cast<uint64_t>(value);
  case ElementKind::F32:
    // The conversion rounds to nearest-even in the default FP environment.
    return llvm::bit_cast<uint32_t>(static_cast<float>(value));
  case ElementKind::BF16:
  case ElementKind::F16: {
    // One rounding step straight from double (going through float could
    // round twice).
    llvm::APFloat number(value);
    bool losesInfo = false;
    number.convert(getHalfSemantics(kind), llvm::APFloat::rmNearestTiesToEven,
                   &losesInfo);
    return number.bitcastToAPInt().getZExtValue();
  }
  default:
    llvm_unreachable("not a float kind");
  }
}

static double decodeFloat(uint64_t bits, ElementKind kind) {
  switch (kind) {
  case ElementKind::F64:
    return llvm::bit_cast<double>(bits);
  case ElementKind::F32:
    return llvm::bit_cast<float>(static_cast<uint32_t>(bits));
  case ElementKind::BF16:
  case ElementKind::F16:
    return llvm::APFloat(getHalfSemantics(kind), llvm::APInt(16, bits))
        .convertToDouble();
  default:
    llvm_unreachable("not a float kind");
  }
}

llvm::Expected<int64_t> run::getNumElements(ArrayRef<int64_t> shape) {
  // Bounded so that the size in bytes of any element kind fits in int64_t.
  constexpr int64_t kMaxElements = std::numeric_limits<int64_t>::max() / 8;
  int64_t count = 1;
  for (int64_t extent : shape) {
    if (extent < 0 || (extent != 0 && count > kMaxElements / extent))
      return llvm::createStringError("invalid shape " + formatShape(shape));
    count *= extent;
  }
  return count;
}

std::string run::formatShape(ArrayRef<int64_t> shape) {
  return llvm::join(
      llvm::map_range(shape,
                      [](int64_t extent) { return std::to_string(extent); }),
      "x");
}

HostBuffer::HostBuffer(ElementKind kind, ArrayRef<int64_t> shape)
    : kind(kind), shape(shape) {
  llvm::Expected<int64_t> count = run::getNumElements(shape);
  assert(count && "HostBuffer needs a valid shape");
  numElements = *count;
  sizeInBytes = static_cast<size_t>(numElements) * getByteWidth(kind);
  storage.assign(llvm::divideCeil(sizeInBytes, sizeof(uint64_t)), 0);
}

/// Reads the raw element pattern at `index`, zero-extended.
static uint64_t loadBits(const void *data, int64_t index, unsigned width) {
  const auto *bytes = static_cast<const uint8_t *>(data) + index * width;
  switch (width) {
  case 2: {
    uint16_t bits;
    std::memcpy(&bits, bytes, 2);
    return bits;
  }
  case 4: {
    uint32_t bits;
    std::memcpy(&bits, bytes, 4);
    return bits;
  }
  default: {
    uint64_t bits;
    std::memcpy(&bits, bytes, 8);
    return bits;
  }
  }
}

static void storeBits(void *data, int64_t index, unsigned width,
                      uint64_t bits) {
  auto *bytes = static_cast<uint8_t *>(data) + index * width;
  // Little-endian host: the low bytes of `bits` are the element.
  std::memcpy(bytes, &bits, width);
}

double HostBuffer::getDouble(int64_t index) const {
  if (isFloatKind(kind))
    return decodeFloat(loadBits(getData(), index, getByteWidth(kind)), kind);
  return static_cast<double>(getInt(index));
}

void HostBuffer::setDouble(int64_t index, double value) {
  if (isFloatKind(kind))
    storeBits(getData(), index, getByteWidth(kind), encodeFloat(value, kind));
  else
    setInt(index, static_cast<int64_t>(value));
}

int64_t HostBuffer::getInt(int64_t index) const {
  assert(!isFloatKind(kind) && "integer element expected");
  uint64_t bits = loadBits(getData(), index, getByteWidth(kind));
  if (kind == ElementKind::I32)
    return static_cast<int32_t>(static_cast<uint32_t>(bits));
  return static_cast<int64_t>(bits);
}

void HostBuffer::setInt(int64_t index, int64_t value) {
  assert(!isFloatKind(kind) && "integer element expected");
  storeBits(getData(), index, getByteWidth(kind), static_cast<uint64_t>(value));
}

llvm::Expected<HostBuffer> HostBuffer::convertTo(ElementKind target) const {
  if (isFloatKind(kind) != isFloatKind(target))
    return llvm::createStringError(isFloatKind(target)
                                       ? "expected float data, got integers"
                                       : "expected integer data, got floats");
  HostBuffer result(target, shape);
  if (isFloatKind(target)) {
    for (int64_t i = 0; i < numElements; ++i)
      result.setDouble(i, getDouble(i));
    return result;
  }
  for (int64_t i = 0; i < numElements; ++i) {
    int64_t value = getInt(i);
    if (target == ElementKind::I32 &&
        (value < std::numeric_limits<int32_t>::min() ||
         value > std::numeric_limits<int32_t>::max()))
      return llvm::createStringError("value " + std::to_string(value) +
                                     " does not fit in i32");
    result.setInt(i, value);
  }
  return result;
}
