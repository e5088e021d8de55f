#include "Arguments.h"

#include <algorithm>
#include <cstring>

namespace sparse_attn::runtime {

namespace {

std::string shapeText(const int64_t *values, int rank) {
  std::string text = "[";
  for (int d = 0; d < rank; ++d)
    text += (d ? ", " : "") + std::to_string(values[d]);
  return text + "]";
}

Status invalid(const std::string &message) {
  return Status::error(SA_ERROR_INVALID_ARGUMENT, message);
}
Status violation(const std::string &message) { return Status::error(SA_ERROR_VALIDATION, message); }

// A written tensor must not reach one element through two index tuples:
// with the dimensions sorted by stride, each stride must step over
// everything the smaller ones span.
bool hasInternalOverlap(const sa_tensor &tensor) {
  std::array<int, SA_MAX_RANK> order{};
  int count = 0;
  for (int d = 0; d < tensor.rank; ++d) {
    if (tensor.sizes[d] <= 1)
      continue;
    // Insertion by stride: at most SA_MAX_RANK entries.
    int position = count++;
    while (position > 0 && tensor.strides[order[position - 1]] > tensor.strides[d]) {
      order[position] = order[position - 1];
      --position;
    }
    order[position] = d;
  }
  int64_t span = 1; // elements covered by the dimensions so far
  for (int i = 0; i < count; ++i) {
    int d = order[i];
    if (tensor.strides[d] < span)
      return true;
    span = tensor.strides[d] * (tensor.sizes[d] - 1) + span;
  }
  return false;
}

Status checkTensor(const TensorSpec &spec, const sa_tensor &tensor) {
  // Messages are built only on failure: a valid launch allocates nothing.
  auto name = [&spec] { return "tensor '" + spec.name + "'"; };
  if (tensor.dtype != spec.dtype)
    return violation(name() + " has dtype " + sa_dtype_name(tensor.dtype) +
                     ", but the kernel needs " + sa_dtype_name(spec.dtype));
  if (tensor.rank != spec.rank)
    return violation(name() + " has rank " + std::to_string(tensor.rank) +
                     ", but the kernel needs rank " + std::to_string(spec.rank));
  for (int d = 0; d < spec.rank; ++d) {
    if (tensor.sizes[d] < 0)
      return violation(name() + " has a negative extent in dimension " + std::to_string(d) +
                       ": sizes " + shapeText(tensor.sizes, tensor.rank));
    if (tensor.strides[d] < 0)
      return violation(name() + " has a negative stride in dimension " + std::to_string(d) +
                       ": strides " + shapeText(tensor.strides, tensor.rank) +
                       " (kernels take non-negative strides)");
    if (spec.staticSizes[d] >= 0 && tensor.sizes[d] != spec.staticSizes[d])
      return violation(name() + " has extent " + std::to_string(tensor.sizes[d]) +
                       " in dimension " + std::to_string(d) + ", but the kernel needs " +
                       std::to_string(spec.staticSizes[d]) + " (sizes " +
                       shapeText(tensor.sizes, tensor.rank) + ")");
  }
  int64_t elements;
  if (!tensorElementCount(tensor, elements))
    return violation(name() + " has more elements than fit in 64 bits");
  if (elements == 0)
    return Status::success();
  uint64_t first = 0, last = 0;
  if (!tensorByteRange(tensor, first, last))
    return violation(name() + " spans more bytes than fit in 64 bits");
  if (tensor.data == 0)
    return violation(name() + " has a null data pointer");
  if (tensor.data % static_cast<uint64_t>(spec.alignment) != 0)
    return violation(name() + " data pointer " + hexAddress(tensor.data) + " is not aligned to " +
                     std::to_string(spec.alignment) + " bytes");
  if (spec.access != SA_ACCESS_READ && hasInternalOverlap(tensor))
    return violation(name() + " is written by the kernel, but its strides " +
                     shapeText(tensor.strides, tensor.rank) + " make elements overlap (sizes " +
                     shapeText(tensor.sizes, tensor.rank) + ")");
  return Status::success();
}

// Two tensors overlap if their byte ranges intersect (a conservative test:
// interleaved views that share no element are rejected too).
bool rangesOverlap(const sa_tensor &a, const sa_tensor &b) {
  int64_t countA = 0, countB = 0;
  tensorElementCount(a, countA);
  tensorElementCount(b, countB);
  if (countA == 0 || countB == 0)
    return false;
  uint64_t firstA = 0, lastA = 0, firstB = 0, lastB = 0;
  tensorByteRange(a, firstA, lastA);
  tensorByteRange(b, firstB, lastB);
  return firstA <= lastB && firstB <= lastA;
}

Status bindScalar(const ScalarSpec &spec, const sa_scalar_arg &argument, int index,
                  BoundArguments &bound) {
  auto name = [&spec] { return "scalar '" + spec.name + "'"; };
  if (argument.type != spec.type)
    return violation(name() + " is " + scalarTypeName(argument.type) + ", but the kernel needs " +
                     scalarTypeName(spec.type));
  switch (spec.type) {
  case SA_SCALAR_I32:
    if (argument.int_value < INT32_MIN || argument.int_value > INT32_MAX)
      return violation(name() + " = " + std::to_string(argument.int_value) +
                       " does not fit in i32");
    bound.integerScalars[index] = argument.int_value;
    return Status::success();
  case SA_SCALAR_I64:
    bound.integerScalars[index] = argument.int_value;
    return Status::success();
  case SA_SCALAR_F32:
    bound.floatScalars[index] = static_cast<float>(argument.float_value);
    return Status::success();
  case SA_SCALAR_INVALID:
    break;
  }
  return violation(name() + " has an invalid type");
}

ExpressionInputs inputsOf(const BoundArguments &bound) {
  return {bound.tensors.data(), bound.integerScalars.data()};
}

} // namespace

std::string hexAddress(uint64_t value) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

bool tensorByteRange(const sa_tensor &tensor, uint64_t &first, uint64_t &last) {
  int64_t furthest = 0; // element offset of the last element
  for (int d = 0; d < tensor.rank; ++d) {
    int64_t step;
    if (__builtin_mul_overflow(tensor.sizes[d] - 1, tensor.strides[d], &step) ||
        __builtin_add_overflow(furthest, step, &furthest))
      return false;
  }
  uint64_t bytes;
  if (__builtin_mul_overflow(static_cast<uint64_t>(furthest) + 1,
                             static_cast<uint64_t>(dtypeSize(tensor.dtype)), &bytes) ||
      __builtin_add_overflow(tensor.data, bytes - 1, &last))
    return false;
  first = tensor.data;
  return true;
}

Status bindArguments(const KernelSpec &kernel, const sa_tensor_arg *tensors, size_t tensorCount,
                     const sa_scalar_arg *scalars, size_t scalarCount, BoundArguments &bound) {
  bound.tensors.fill(nullptr);
  if (tensorCount > 0 && !tensors)
    return invalid("tensor arguments are null but their count is " + std::to_string(tensorCount));
  if (scalarCount > 0 && !scalars)
    return invalid("scalar arguments are null but their count is " + std::to_string(scalarCount));

  for (size_t i = 0; i < tensorCount; ++i) {
    const char *name = tensors[i].name;
    if (!name)
      return invalid("tensor argument " + std::to_string(i) + " has no name");
    auto spec = std::find_if(kernel.tensors.begin(), kernel.tensors.end(),
                             [&](const TensorSpec &tensor) { return tensor.name == name; });
    if (spec == kernel.tensors.end()) {
      std::string expected;
      for (const TensorSpec &tensor : kernel.tensors)
        expected += (expected.empty() ? "" : ", ") + tensor.name;
      return violation("the kernel has no tensor named '" + std::string(name) +
                       "' (its tensors: " + (expected.empty() ? "none" : expected) + ")");
    }
    size_t index = spec - kernel.tensors.begin();
    if (bound.tensors[index])
      return violation("tensor '" + spec->name + "' is given twice");
    if (Status status = checkTensor(*spec, tensors[i].tensor); !status.ok())
      return status;
    bound.tensors[index] = &tensors[i].tensor;
  }
  for (size_t i = 0; i < kernel.tensors.size(); ++i)
    if (!bound.tensors[i])
      return violation("tensor '" + kernel.tensors[i].name + "' is missing");

  std::array<bool, kMaxScalars> seen{};
  for (size_t i = 0; i < scalarCount; ++i) {
    const char *name = scalars[i].name;
    if (!name)
      return invalid("scalar argument " + std::to_string(i) + " has no name");
    auto spec = std::find_if(kernel.scalars.begin(), kernel.scalars.end(),
                             [&](const ScalarSpec &scalar) { return scalar.name == name; });
    if (spec == kernel.scalars.end()) {
      std::string expected;
      for (const ScalarSpec &scalar : kernel.scalars)
        expected += (expected.empty() ? "" : ", ") + scalar.name;
      return violation("the kernel has no scalar named '" + std::string(name) +
                       "' (its scalars: " + (expected.empty() ? "none" : expected) + ")");
    }
    int index = static_cast<int>(spec - kernel.scalars.begin());
    if (seen[index])
      return violation("scalar '" + spec->name + "' is given twice");
    seen[index] = true;
    if (Status status = bindScalar(*spec, scalars[i], index, bound); !status.ok())
      return status;
  }
  for (size_t i = 0; i < kernel.scalars.size(); ++i)
    if (!seen[i])
      return violation("scalar '" + kernel.scalars[i].name + "' is missing");

  for (size_t w = 0; w < kernel.tensors.size(); ++w) {
    if (kernel.tensors[w].access == SA_ACCESS_READ)
      continue;
    for (size_t other = 0; other < kernel.tensors.size(); ++other)
      if (other != w && rangesOverlap(*bound.tensors[w], *bound.tensors[other]))
        return violation("tensor '" + kernel.tensors[w].name +
                         "' is written by the kernel but its memory overlaps tensor '" +
                         kernel.tensors[other].name + "'");
  }

  ExpressionInputs inputs = inputsOf(bound);
  for (const ConstraintSpec &constraint : kernel.constraints) {
    int64_t holds;
    if (Status status = constraint.condition.evaluate(inputs, holds); !status.ok())
      return status;
    if (holds)
      continue;
    std::string message = "constraint `" + constraint.condition.text() + "` does not hold";
    std::string values = constraint.condition.describeVariables(inputs, kernel.scope);
    if (!values.empty())
      message += " (" + values + ")";
    if (!constraint.message.empty())
      message += ": " + constraint.message;
    return violation(message);
  }
  return Status::success();
}

Status evaluateGrid(const KernelSpec &kernel, const BoundArguments &bound,
                    std::array<uint32_t, 3> &grid) {
  // CUDA's limits: x < 2^31, y and z < 2^16.
  static const int64_t kLimits[3] = {INT32_MAX, 65535, 65535};
  static const char *kAxes[3] = {"x", "y", "z"};
  for (int d = 0; d < 3; ++d) {
    int64_t value;
    const Expression &expression = kernel.launch.grid[d];
    if (Status status = expression.evaluate(inputsOf(bound), value); !status.ok())
      return status;
    if (value < 0 || value > kLimits[d]) {
      std::string values = expression.describeVariables(inputsOf(bound), kernel.scope);
      return violation("grid " + std::string(kAxes[d]) + " = `" + expression.text() + "` = " +
                       std::to_string(value) + (values.empty() ? "" : " (" + values + ")") +
                       " is outside [0, " + std::to_string(kLimits[d]) + "]");
    }
    grid[d] = static_cast<uint32_t>(value);
  }
  return Status::success();
}

Status encodeTensorMapArguments(const KernelSpec &kernel, const TensorMapSpec &map,
                                const BoundArguments &bound, TensorMapEncoding &encoding,
                                bool &empty) {
  const TensorSpec &spec = kernel.tensors[map.tensor];
  const sa_tensor &tensor = *bound.tensors[map.tensor];
  auto name = [&spec] { return "tensor map of '" + spec.name + "'"; };
  int64_t elements;
  tensorElementCount(tensor, elements);
  empty = elements == 0;
  if (empty)
    return Status::success();

  static const int kDataTypes[] = {
      /* invalid */ -1,
      /* f16 */ cu::kTensorMapFloat16,
      /* bf16 */ cu::kTensorMapBfloat16,
      /* f32 */ cu::kTensorMapFloat32,
      /* f64 */ cu::kTensorMapFloat64,
      /* i8 */ cu::kTensorMapUint8,
      /* u8 */ cu::kTensorMapUint8,
      /* i16 */ cu::kTensorMapUint16,
      /* i32 */ cu::kTensorMapInt32,
      /* i64 */ cu::kTensorMapInt64,
      /* bool */ cu::kTensorMapUint8,
  };
  const int rank = spec.rank;
  const uint64_t elementSize = dtypeSize(spec.dtype);
  encoding.dataType = kDataTypes[spec.dtype];
  encoding.rank = static_cast<unsigned>(rank);
  encoding.address = reinterpret_cast<void *>(static_cast<uintptr_t>(tensor.data));
  const uint64_t addressAlignment = map.interleave == 2 ? 32 : 16;
  if (tensor.data % addressAlignment != 0)
    return violation(name() + ": the data pointer " + hexAddress(tensor.data) + " is not " +
                     std::to_string(addressAlignment) + "-byte aligned");
  if (tensor.strides[rank - 1] != 1)
    return violation(name() + ": the innermost dimension must have stride 1, but strides are " +
                     shapeText(tensor.strides, rank));
  for (int i = 0; i < rank; ++i) {
    int d = rank - 1 - i; // TMA lists the innermost dimension first
    encoding.dims[i] = static_cast<unsigned long long>(tensor.sizes[d]);
    encoding.box[i] = map.box[d];
    encoding.elementStrides[i] = map.elementStrides[d];
    if (i == 0)
      continue;
    uint64_t bytes = static_cast<uint64_t>(tensor.strides[d]) * elementSize;
    if (bytes % 16 != 0 || bytes >= (uint64_t(1) << 40))
      return violation(name() + ": dimension " + std::to_string(d) + " has a stride of " +
                       std::to_string(bytes) +
                       " bytes; tensor maps need multiples of 16 bytes below 2^40 (strides " +
                       shapeText(tensor.strides, rank) + ")");
    encoding.byteStrides[i - 1] = bytes;
  }
  for (int i = 0; i < rank; ++i)
    if (encoding.dims[i] > (uint64_t(1) << 32))
      return violation(name() + ": dimension " + std::to_string(rank - 1 - i) + " has extent " +
                       std::to_string(encoding.dims[i]) + "; tensor maps allow at most 2^32");
  uint64_t innerBoxBytes = uint64_t(encoding.box[0]) * elementSize;
  if (map.interleave == 0 && innerBoxBytes % 16 != 0)
    return violation(name() + ": the innermost box extent is " + std::to_string(innerBoxBytes) +
                     " bytes; it must be a multiple of 16");
  static const uint64_t kSwizzleSpan[] = {0, 32, 64, 128};
  if (map.interleave == 0 && map.swizzle != 0 && innerBoxBytes > kSwizzleSpan[map.swizzle])
    return violation(name() + ": the innermost box extent is " + std::to_string(innerBoxBytes) +
                     " bytes, more than the " + std::to_string(kSwizzleSpan[map.swizzle]) +
                     "-byte swizzle span");
  return Status::success();
}

Status packParams(const KernelSpec &kernel, const BoundArguments &bound,
                  const cu::DevicePtr *tensorMapAddresses, PackedParams &packed) {
  for (size_t i = 0; i < kernel.params.size(); ++i) {
    const ParamSlot &slot = kernel.params[i];
    unsigned char *destination = packed.storage.data() + 8 * i;
    packed.pointers[i] = destination;
    int64_t integer = 0;
    switch (slot.kind) {
    case ParamSlot::Kind::Pointer: {
      cu::DevicePtr pointer = bound.tensors[slot.tensor]->data;
      std::memcpy(destination, &pointer, sizeof pointer);
      continue;
    }
    case ParamSlot::Kind::TensorMap: {
      cu::DevicePtr pointer = tensorMapAddresses[slot.tensorMap];
      std::memcpy(destination, &pointer, sizeof pointer);
      continue;
    }
    case ParamSlot::Kind::Scalar:
      if (slot.type == SA_SCALAR_F32) {
        std::memcpy(destination, &bound.floatScalars[slot.scalar], sizeof(float));
        continue;
      }
      integer = bound.integerScalars[slot.scalar];
      break;
    case ParamSlot::Kind::Size:
      integer = bound.tensors[slot.tensor]->sizes[slot.dim];
      break;
    case ParamSlot::Kind::Stride:
      integer = bound.tensors[slot.tensor]->strides[slot.dim];
      break;
    case ParamSlot::Kind::Value:
      if (Status status = slot.value.evaluate(inputsOf(bound), integer); !status.ok())
        return status;
      break;
    }
    if (slot.type == SA_SCALAR_I32) {
      if (integer < INT32_MIN || integer > INT32_MAX)
        return violation("parameter " + std::to_string(i) + " (" + slot.description +
                         ") = " + std::to_string(integer) + " does not fit in i32");
      int32_t narrow = static_cast<int32_t>(integer);
      std::memcpy(destination, &narrow, sizeof narrow);
    } else {
      std::memcpy(destination, &integer, sizeof integer);
    }
  }
  return Status::success();
}

} // namespace sparse_attn::runtime
