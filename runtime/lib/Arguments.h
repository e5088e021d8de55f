// Launch arguments on the host side: binding the caller's named tensors and
// scalars to a kernel's declarations, every check that needs no driver
// (dtype, rank, extents, strides, alignment, aliasing, constraints), the
// launch grid, tensor-map settings and the kernel parameter buffer. All of it
// works in fixed-size buffers: nothing here allocates unless it reports an
// error.
#ifndef SPARSE_ATTN_RUNTIME_ARGUMENTS_H
#define SPARSE_ATTN_RUNTIME_ARGUMENTS_H

#include "Driver.h"
#include "Manifest.h"

#include <array>

namespace sparse_attn::runtime {

struct BoundArguments {
  // By the kernel's tensor and scalar index.
  std::array<const sa_tensor *, kMaxTensors> tensors{};
  std::array<int64_t, kMaxScalars> integerScalars{};
  std::array<float, kMaxScalars> floatScalars{};
};

// Binds every argument by name and runs every host-side check. Errors are
// SA_ERROR_INVALID_ARGUMENT (null or malformed arguments) or
// SA_ERROR_VALIDATION, with messages that name the kernel and the argument.
Status bindArguments(const KernelSpec &kernel, const sa_tensor_arg *tensors, size_t tensorCount,
                     const sa_scalar_arg *scalars, size_t scalarCount, BoundArguments &bound);

// The grid evaluated for these arguments; a zero extent means there is no
// work and nothing is launched.
Status evaluateGrid(const KernelSpec &kernel, const BoundArguments &bound,
                    std::array<uint32_t, 3> &grid);

// The arguments of cuTensorMapEncodeTiled, innermost dimension first.
struct TensorMapEncoding {
  int dataType = 0;
  unsigned rank = 0;
  void *address = nullptr;
  std::array<unsigned long long, kMaxTensorMapRank> dims{};
  std::array<unsigned long long, kMaxTensorMapRank - 1> byteStrides{};
  std::array<unsigned, kMaxTensorMapRank> box{};
  std::array<unsigned, kMaxTensorMapRank> elementStrides{};
};

// Checks that the bound tensor can be described by the map (innermost
// stride 1, 16-byte aligned address and strides, box within the tensor's
// swizzle span) and fills `encoding`. Empty tensors get no map (see
// docs/design/kernel-bundles.md), which is reported through `empty`.
Status encodeTensorMapArguments(const KernelSpec &kernel, const TensorMapSpec &map,
                                const BoundArguments &bound, TensorMapEncoding &encoding,
                                bool &empty);

struct PackedParams {
  // Every slot takes 8 aligned bytes (4-byte values use the first 4).
  alignas(16) std::array<unsigned char, kMaxParams * 8> storage{};
  std::array<void *, kMaxParams> pointers{};
};

// Writes the kernel's parameters; `tensorMapAddresses` holds the device
// address of each of the kernel's tensor maps.
Status packParams(const KernelSpec &kernel, const BoundArguments &bound,
                  const cu::DevicePtr *tensorMapAddresses, PackedParams &packed);

// The bytes [first, last] a non-empty tensor touches; false on overflow.
bool tensorByteRange(const sa_tensor &tensor, uint64_t &first, uint64_t &last);

// "0x7f0012345600": addresses in messages.
std::string hexAddress(uint64_t value);

} // namespace sparse_attn::runtime

#endif
