//===- HostBuffer.h - host buffers of arguments and results -----*- C++ -*-===//
//
// The value of one argument or result of the function sparse-attn-run
// executes: a dense row-major array of one of the element types the tool
// exchanges with compiled code, .npy files and the float64 evaluator.
//
//===----------------------------------------------------------------------===//

#ifndef SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_HOSTBUFFER_H
#define SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_HOSTBUFFER_H

#include "mlir/IR/Types.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::sparse_attn::run {

/// Element types a buffer can hold. bf16 and f16 are stored as their 16-bit
/// patterns, `index` as a 64-bit integer (the host's index width).
enum class ElementKind { BF16, F16, F32, F64, I32, I64, Index };

/// The element kind of an MLIR scalar type, or nullopt when the tool does not
/// support it.
std::optional<ElementKind> getElementKind(Type type);

/// How a function argument or result of some type is exchanged with
/// compiled code: a ranked tensor (a memref descriptor once bufferized) or a
/// scalar, of a supported element type.
struct BufferType {
  ElementKind elementKind;
  bool isTensor;
  /// The tensor's extents, ShapedType::kDynamic where unknown; empty for a
  /// scalar.
  llvm::SmallVector<int64_t, 4> shape;
};

/// What getBufferType accepts, for error messages.
inline constexpr llvm::StringLiteral kSupportedTypes =
    "a ranked tensor or a scalar of bf16, f16, f32, f64, i32, i64 or index";

/// The buffer type of `type`, or nullopt when the tool does not support it.
std::optional<BufferType> getBufferType(Type type);

/// Storage size of one element in bytes.
unsigned getByteWidth(ElementKind kind);

bool isFloatKind(ElementKind kind);

/// Rounds `value` to nearest-even in the precision of `kind` (a float kind).
/// Returns the stored bit pattern widened to 64 bits.
uint64_t encodeFloat(double value, ElementKind kind);

/// Number of elements of `shape`, or an error if an extent is negative or the
/// product overflows.
llvm::Expected<int64_t> getNumElements(llvm::ArrayRef<int64_t> shape);

/// Renders a shape as `2x8x100` (the empty string for rank 0).
std::string formatShape(llvm::ArrayRef<int64_t> shape);

class HostBuffer {
public:
  /// A zero-filled buffer; `shape` must have a valid element count.
  HostBuffer(ElementKind kind, llvm::ArrayRef<int64_t> shape);

  ElementKind getKind() const { return kind; }
  llvm::ArrayRef<int64_t> getShape() const { return shape; }
  int64_t getNumElements() const { return numElements; }
  size_t getSizeInBytes() const { return sizeInBytes; }
  void *getData() { return storage.data(); }
  const void *getData() const { return storage.data(); }

  /// The element as a double: exact for every float kind and for integers of
  /// magnitude up to 2^53.
  double getDouble(int64_t index) const;
  /// Stores `value`, rounded to nearest-even for float kinds; integer kinds
  /// take `value` truncated toward zero.
  void setDouble(int64_t index, double value);

  /// Integer kinds only.
  int64_t getInt(int64_t index) const;
  void setInt(int64_t index, int64_t value);

  /// Same shape in element type `target`: floats are rounded to nearest-even,
  /// integers must fit in the target; float and integer data do not convert
  /// into each other.
  llvm::Expected<HostBuffer> convertTo(ElementKind target) const;

private:
  ElementKind kind;
  llvm::SmallVector<int64_t, 4> shape;
  int64_t numElements;
  size_t sizeInBytes;
  // uint64_t words keep the data 8-byte aligned for every element kind.
  std::vector<uint64_t> storage;
};

} // namespace mlir::sparse_attn::run

#endif // SPARSE_ATTN_TOOLS_SPARSE_ATTN_RUN_HOSTBUFFER_H
